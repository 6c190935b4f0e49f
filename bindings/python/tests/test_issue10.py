"""Issue 10: figures independent of the mark take no mark; listing positions as ordinary
iterables; events read with one margin_event_fields() call."""

from __future__ import annotations

import inspect
import os
import sys
import unittest
from decimal import Decimal as D
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi  # noqa: E402
from margin.engine import Position  # noqa: E402


class NoMarkArgument(unittest.TestCase):
    # MARGIN_AT_LIQ_PRICE, _BANKRUPTCY_PRICE, _INITIAL_MARGIN and _MARGIN_CALL_PRICE are
    # "independent of P" in include/margin.h: their methods take no mark.
    METHODS = ("liquidation_price", "bankruptcy_price", "initial_margin", "margin_call_price")

    def test_signatures(self) -> None:
        for name in self.METHODS:
            params = list(inspect.signature(getattr(Position, name)).parameters)
            self.assertEqual(params, ["self"], name)

    def test_a_mark_is_refused_and_the_values_hold(self) -> None:
        with margin.Engine() as eng:
            btc = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            p = a.open_position(btc, "long", qty="0.1", price="20000", leverage=20)
            for name in self.METHODS:
                with self.assertRaises(TypeError, msg=name):
                    getattr(p, name)("19500")
            # M = 0.1*20000/20 = 100; BP = 20000 - 100/0.1 = 19000;
            # LP = (100 - 2000)/(0.0004 - 0.1) = 19076.305220883..., up;
            # margin call at 0.8: (0.8*(100 - 2000))/(0.1*(0.004 - 0.8)) = 19095.4773869...
            self.assertEqual(p.initial_margin(), D("100"))
            self.assertEqual(p.bankruptcy_price(), D("19000"))
            self.assertEqual(p.liquidation_price(), D("19076.30522089"))
            self.assertEqual(p.margin_call_price(), D("19095.47738694"))
            # Figures that depend on the mark still take one: uPnL at 19500 = -50.
            self.assertEqual(p.unrealized_pnl("19500"), D("-50"))


class Listing(unittest.TestCase):
    def setUp(self) -> None:
        self.eng = margin.Engine()
        self.btc = self.eng.new_market("BTCUSDT")
        self.eth = self.eng.new_market("ETHUSDT")
        self.a = self.eng.new_account(deposit="10000")
        self.b = self.eng.new_account(deposit="10000")
        o = lambda acct, m, side: acct.open_position(m, side, qty="0.1", price="2000", leverage=10)
        self.p1 = o(self.a, self.btc, "long")   # stays open
        self.p2 = o(self.b, self.btc, "short")  # closed below
        self.p3 = o(self.a, self.eth, "long")   # liquidated below
        self.p4 = o(self.b, self.eth, "long")   # stays open
        self.p2.close("2000")
        # p3 alone on a market would do; p4 shares ETH, so give p4 room first:
        # both longs at 2000, 10x: LP = (20 - 200)/(0.0004 - 0.1) = 1807.2289..., so
        # add 100 to p4 (LP (120 - 200)/(-0.0996) = 803.21...) and mark 1800 liquidates p3 only.
        self.p4.add_margin("100")
        self.eth.mark_update("1800")

    def tearDown(self) -> None:
        self.eng.close()

    def test_statuses(self) -> None:
        self.assertEqual(self.p3.status, margin.Status.LIQUIDATED)
        self.assertEqual(self.eng.positions(), [self.p1, self.p4])  # open by default
        self.assertEqual(self.eng.positions("open"), [self.p1, self.p4])
        self.assertEqual(self.eng.positions(margin.Status.CLOSED), [self.p2])
        self.assertEqual(self.eng.positions("liquidated"), [self.p3])
        self.assertEqual(self.eng.positions(None), [self.p1, self.p2, self.p3, self.p4])

    def test_account_and_market(self) -> None:
        self.assertEqual(self.a.positions(), [self.p1])
        self.assertEqual(self.a.positions(None), [self.p1, self.p3])
        self.assertEqual(self.b.positions(None), [self.p2, self.p4])
        self.assertEqual(self.b.positions("closed"), [self.p2])
        self.assertEqual(self.btc.positions(None), [self.p1, self.p2])
        self.assertEqual(self.eth.positions(), [self.p4])
        self.assertEqual(self.eth.positions("liquidated"), [self.p3])
        # Ordinary iterables of Position objects that work as usual.
        self.assertEqual([p.side for p in self.eth.positions(None)],
                         [margin.Side.LONG, margin.Side.LONG])
        self.assertEqual(sum(p.margin for p in self.eng.positions()), D("20") + D("120"))

    def test_empty_and_bad_filters(self) -> None:
        c = self.eng.new_account()
        self.assertEqual(c.positions(None), [])
        with self.assertRaises(margin.InvalidArgument):
            self.eng.positions("sideways")
        with self.assertRaises(margin.InvalidArgument):  # the library refuses status 7
            self.eng.positions(7)
        with self.assertRaises(margin.NotFound):
            margin.engine.Account(self.eng, 999).positions()

    def test_many_positions(self) -> None:
        # More than any small first buffer: 300 positions, ids in order.
        eng = margin.Engine()
        m = eng.new_market("XUSDT")
        a = eng.new_account(deposit="1000000")
        ids = [a.open_position(m, "long", qty="1", price="10", leverage=1).id for _ in range(300)]
        self.assertEqual([p.id for p in a.positions()], ids)
        self.assertEqual(len(eng.positions(None)), 300)
        eng.close()


class EventFields(unittest.TestCase):
    def test_events_are_read_in_one_call(self) -> None:
        with margin.Engine(time=7) as eng:
            m = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            a.open_position(m, "long", qty="0.1", price="20000", leverage=20)
            calls = []
            real_fields = _capi.lib.margin_event_fields

            def fields(*args):
                calls.append(args[2])
                return real_fields(*args)

            def no_get(*_args):
                raise AssertionError("margin_event_get called: events must be read in one call")

            with mock.patch.object(_capi.lib, "margin_event_fields", fields), \
                    mock.patch.object(_capi.lib, "margin_event_get", no_get):
                events = list(eng.events())
            self.assertEqual([e.type_name for e in events], ["deposit", "open"])
            self.assertEqual(calls, [28, 28])  # out[0] plus the 27 fields
            dep, op = events
            self.assertEqual((dep.seq, dep.time, dep.account), (1, 7, a.id))
            self.assertEqual(dep.amount, D("1000"))
            self.assertEqual(len(op.raw), 27)
            self.assertEqual(op.raw[_capi.MARGIN_EVF_TYPE - 1], _capi.MARGIN_EV_OPEN)
            self.assertEqual(op.margin, D("100"))
            self.assertEqual(op.liq_price, D("19076.30522089"))
            self.assertEqual(op.free_balance, D("899.2"))  # 1000 - 100 - 0.04 % of 2000


if __name__ == "__main__":
    unittest.main()
