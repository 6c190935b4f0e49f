"""Liquidations, stops, margin calls, trades and margin changes, seen through their events.
Expected values are hand calculations (in the comments) or invariants."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal
from typing import List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import F, ceil_at, floor_at  # noqa: E402

import margin  # noqa: E402
from margin import events as ev  # noqa: E402

D = Decimal


class ShortLiquidationWithGap(unittest.TestCase):
    """Short 1 at 100, 10x: M = 10, mmr 0.004.
    LP = (M + cum - s*Q*E) / (Q*mmr - s*Q) = 110 / 1.004 = 109.5617529880..., rounded down.
    BP = E - s*M/Q = 110."""

    def setUp(self) -> None:
        self.eng = margin.Engine(time=42)
        self.m = self.eng.new_market("ETHUSDT")
        self.a = self.eng.new_account(deposit="1000")
        self.p = self.a.open_position(self.m, "short", "1", "100", leverage=10)
        list(self.eng.events())
        self.lp = floor_at(F("110") / F("1.004"))

    def tearDown(self) -> None:
        self.eng.close()

    def test_prices(self) -> None:
        self.assertEqual(self.lp, D("109.56175298"))
        self.assertEqual(self.p.liquidation_price(), self.lp)
        self.assertEqual(self.p.bankruptcy_price(), D("110"))

    def test_boundary_then_gap(self) -> None:
        free = self.a.free_balance
        self.assertEqual(free, D("989.96"))  # 1000 - 10 - 0.04 fee
        # One price unit below LP: not liquidated, but far past the 80 % margin call.
        self.m.mark_update(self.lp - D("0.00000001"))
        evs = list(self.eng.events())
        self.assertEqual([e.type_name for e in evs], ["margin_call"])
        call = evs[0]
        assert isinstance(call, ev.MarginCall)
        self.assertTrue(D("0.8") <= call.margin_ratio < D("1"), call.margin_ratio)
        self.assertEqual(call.level, D("0.8"))
        self.assertEqual(call.price, self.lp - D("0.00000001"))
        self.assertEqual(call.position, self.p.id)
        self.assertTrue(self.p.is_open)
        # The mark gaps to 120, past the bankruptcy price 110: liquidated.
        self.eng.time = 43
        self.m.mark_update("120")
        evs = list(self.eng.events())
        self.assertEqual(len(evs), 1)
        liq = evs[0]
        assert isinstance(liq, ev.Liquidation)
        self.assertEqual(liq.type, margin.EventType.LIQUIDATION)
        self.assertEqual(liq.time, 43)
        self.assertEqual((liq.account, liq.market, liq.position), (self.a.id, self.m.id, self.p.id))
        self.assertEqual(liq.price, D("120"))
        self.assertEqual(liq.qty, D("1"))
        self.assertEqual(liq.realized_pnl, D("-10"))  # exactly minus the margin
        self.assertEqual(liq.bankruptcy_price, D("110"))
        self.assertEqual(liq.liq_price, self.lp)  # the price before the liquidation
        # Insurance: s*Q*(mark - E) + M = -1*(120 - 100) + 10 = -10 (a shortfall).
        self.assertEqual(liq.insurance_delta, D("-10"))
        self.assertEqual(self.eng.insurance_fund, D("-10"))
        self.assertEqual(self.eng.liquidations, 1)
        self.assertEqual(self.eng.open_positions, 0)
        self.assertEqual(self.p.status, margin.Status.LIQUIDATED)
        self.assertEqual(self.p.qty, D("0"))
        self.assertEqual(self.p.margin, D("0"))
        self.assertEqual(self.a.free_balance, free)  # untouched
        self.assertEqual(self.a.realized_pnl, D("-10"))
        self.assertEqual(self.eng.last_seq, liq.seq)
        # Irreversible: a recovery does nothing, and the position refuses every change.
        self.m.mark_update("100")
        self.assertEqual(list(self.eng.events()), [])
        self.assertEqual(self.p.status, margin.Status.LIQUIDATED)
        with self.assertRaises(margin.PositionClosed):
            self.p.close("100")
        with self.assertRaises(margin.PositionClosed):
            self.p.unrealized_pnl("100")

    def test_exactly_at_lp_liquidates(self) -> None:
        self.m.mark_update(self.lp)  # short: liquidated when mark >= LP
        kinds = [e.type_name for e in self.eng.events()]
        self.assertEqual(kinds[-1], "liquidation")
        # Insurance: -1*(109.56175298 - 100) + 10 = 0.43824702.
        self.assertEqual(self.eng.insurance_fund, D("0.43824702"))


class MarginCallLevels(unittest.TestCase):
    """Seed position (long 0.1 at 20000, M 100): ratio(P) = 0.0004P / (0.1P - 1900)."""

    def test_levels_fire_and_rearm(self) -> None:
        with margin.Engine(margin_call_levels=["0.5", "0.8"]) as eng:
            self.assertEqual(eng.margin_call_levels, (D("0.5"), D("0.8")))
            # read back sorted and without duplicates, as the engine keeps them
            eng.set_margin_call_levels(["0.9", "0.5", "0.9"])
            self.assertEqual(eng.margin_call_levels, (D("0.5"), D("0.9")))
            eng.set_margin_call_levels(["0.5", "0.8"])
            m = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            p = a.open_position(m, "long", "0.1", "20000", leverage=20)
            list(eng.events())

            def calls() -> List[ev.MarginCall]:
                out = [e for e in eng.events() if isinstance(e, ev.MarginCall)]
                return out

            # 19120: MM 7.648, B = 100 - 88 = 12, ratio 0.637333...: level 0.5 only.
            m.mark_update("19120")
            c = calls()
            self.assertEqual([x.level for x in c], [D("0.5")])
            self.assertEqual(c[0].margin_ratio, ceil_at(F("7.648") / 12))
            # 19090: ratio 0.848444...: level 0.8 now.
            m.mark_update("19090")
            self.assertEqual([x.level for x in calls()], [D("0.8")])
            # Staying above: nothing new.
            m.mark_update("19091")
            self.assertEqual(calls(), [])
            # 19200: MM 7.68, B 20, ratio 0.384: below both, re-armed.
            m.mark_update("19200")
            self.assertEqual(calls(), [])
            m.mark_update("19120")
            self.assertEqual([x.level for x in calls()], [D("0.5")])
            self.assertTrue(p.is_open)

    def test_no_levels_no_calls(self) -> None:
        with margin.Engine() as eng:
            eng.set_margin_call_levels([])
            self.assertEqual(eng.margin_call_levels, ())
            m = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            a.open_position(m, "long", "0.1", "20000", leverage=20)
            m.mark_update("19090")
            self.assertNotIn("margin_call", [e.type_name for e in eng.events()])


class StopsAndTrades(unittest.TestCase):
    def setUp(self) -> None:
        self.eng = margin.Engine()
        self.m = self.eng.new_market("X")
        self.a = self.eng.new_account(deposit="1000")

    def tearDown(self) -> None:
        self.eng.close()

    def test_stop_loss(self) -> None:
        p = self.a.open_position(self.m, "long", "1", "100", leverage=10)
        p.set_stops(stop_loss="95", take_profit="110")
        self.assertEqual((p.stop_loss, p.take_profit), (D("95"), D("110")))
        free = self.a.free_balance  # 1000 - 10 - 0.04
        self.assertEqual(free, D("989.96"))
        list(self.eng.events())
        self.m.mark_update("96")
        self.assertEqual(list(self.eng.events()), [])
        self.m.mark_update("95")
        (sl,) = list(self.eng.events())
        assert isinstance(sl, ev.StopLoss)
        self.assertEqual(sl.price, D("95"))
        self.assertEqual(sl.qty, D("1"))
        self.assertEqual(sl.realized_pnl, D("-5"))  # 1 * (95 - 100)
        self.assertEqual(sl.fee, D("0.038"))  # taker 0.0004 * 95
        # Free: 989.96 + (10 - 5) margin back - 0.038 fee.
        self.assertEqual(self.a.free_balance, D("994.922"))
        self.assertEqual(sl.free_balance, D("994.922"))
        self.assertEqual(p.status, margin.Status.CLOSED)

    def test_take_profit(self) -> None:
        p = self.a.open_position(self.m, "short", "1", "100", leverage=10)
        p.set_stops(take_profit="90")
        self.assertIsNone(p.stop_loss)
        list(self.eng.events())
        self.m.mark_update("90")
        (tp,) = list(self.eng.events())
        assert isinstance(tp, ev.TakeProfit)
        self.assertEqual(tp.realized_pnl, D("10"))  # -1 * (90 - 100)
        self.assertEqual(tp.fee, D("0.036"))  # 0.0004 * 90
        self.assertFalse(p.is_open)

    def test_increase_reduce_close(self) -> None:
        p = self.a.open_position(self.m, "long", "1", "100", leverage=10)
        (deposit, opened) = list(self.eng.events())
        assert isinstance(deposit, ev.Deposit) and isinstance(opened, ev.Open)
        self.assertEqual(deposit.amount, D("1000"))
        self.assertEqual(opened.side, margin.Side.LONG)
        self.assertEqual((opened.price, opened.qty, opened.margin), (D("100"), D("1"), D("10")))
        self.assertEqual(opened.fee, D("0.04"))
        self.assertEqual(opened.leverage, D("10"))
        # Buy 1 more at 110: entry (100 + 110) / 2 = 105, margin + 110/10 = 21.
        p.buy("1", "110")
        (inc,) = list(self.eng.events())
        assert isinstance(inc, ev.Increase)
        self.assertEqual((inc.position_qty, inc.entry_price, inc.margin), (D("2"), D("105"), D("21")))
        self.assertEqual(inc.fee, D("0.044"))  # 0.0004 * 110
        # Sell 1 at 120: realized 1 * (120 - 105) = 15, margin released 21 * 1/2 = 10.5.
        p.sell("1", "120")
        (red,) = list(self.eng.events())
        assert isinstance(red, ev.Reduce)
        self.assertEqual(red.realized_pnl, D("15"))
        self.assertEqual(red.margin, D("10.5"))
        self.assertEqual(p.qty, D("1"))
        # Close at 100: realized 1 * (100 - 105) = -5.
        p.close("100")
        (cl,) = list(self.eng.events())
        assert isinstance(cl, ev.Close)
        self.assertEqual(cl.realized_pnl, D("-5"))
        self.assertEqual(p.realized_pnl, D("10"))  # 15 - 5
        # Money conservation: deposit = free balance + fees - realized PnL.
        self.assertEqual(self.a.free_balance + self.a.fees - self.a.realized_pnl, D("1000"))

    def test_flip_keeps_the_id(self) -> None:
        p = self.a.open_position(self.m, "long", "1", "100", leverage=10)
        p.trade("sell", "3", "100")
        self.assertEqual(p.side, margin.Side.SHORT)
        self.assertEqual(p.qty, D("2"))
        self.assertEqual(p.entry_price, D("100"))
        self.assertEqual(p.leverage, D("10"))
        self.assertTrue(p.is_open)
        kinds = [e.type_name for e in self.eng.events()]
        self.assertEqual(kinds[-1], "open")

    def test_margin_add_remove_and_leverage(self) -> None:
        p = self.a.open_position(self.m, "long", "0.1", "20000", leverage=20)
        list(self.eng.events())
        p.add_margin("50")
        (add,) = list(self.eng.events())
        assert isinstance(add, ev.MarginAdd)
        self.assertEqual((add.amount, add.margin), (D("50"), D("150")))
        # LP = (150 - 2000) / (0.0004 - 0.1), rounded up.
        self.assertEqual(p.liquidation_price(), ceil_at(F("1850") / F("0.0996")))
        self.assertEqual(add.liq_price, p.liquidation_price())
        # Removable (no mark: entry): min(150 - 8, 150 + 0 - 100) = 50.
        self.assertEqual(p.removable_margin(), D("50"))
        with self.assertRaises(margin.InsufficientMargin):
            p.remove_margin("50.00000001")
        p.remove_margin("50")
        (rem,) = list(self.eng.events())
        assert isinstance(rem, ev.MarginRemove)
        self.assertEqual((rem.amount, rem.margin), (D("-50"), D("100")))
        # 20x -> 10x: M = 100 - 2000/20 + 2000/10 = 200, 100 more from the free balance.
        free = self.a.free_balance
        p.set_leverage(10)
        (lev,) = list(self.eng.events())
        assert isinstance(lev, ev.LeverageChange)
        self.assertEqual((lev.leverage, lev.margin, lev.amount), (D("10"), D("200"), D("100")))
        self.assertEqual(self.a.free_balance, free - D("100"))


class Callbacks(unittest.TestCase):
    def test_callback_sees_what_the_queue_holds(self) -> None:
        seen: List[ev.Event] = []
        with margin.Engine(callback=seen.append) as eng:
            m = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            a.open_position(m, "long", "0.1", "20000", leverage=20)
            m.mark_update("19076")
            queued = list(eng.events())
            self.assertEqual(seen, queued)
            self.assertEqual([e.seq for e in queued], list(range(1, len(queued) + 1)))
            self.assertEqual(queued[-1].type_name, "liquidation")

    def test_callback_without_queue(self) -> None:
        seen: List[ev.Event] = []
        with margin.Engine(callback=seen.append, event_queue=False) as eng:
            self.assertFalse(eng.event_queue)
            eng.new_account(deposit="5")
            self.assertEqual(eng.events_pending, 0)
            self.assertEqual(list(eng.events()), [])
            self.assertEqual(len(seen), 1)
            self.assertIsInstance(seen[0], ev.Deposit)
            self.assertEqual(seen[0].amount, D("5"))

    def test_callback_exception_is_reraised(self) -> None:
        def boom(event: ev.Event) -> None:
            raise KeyError("from the callback")

        with margin.Engine(callback=boom) as eng:
            a = eng.new_account()
            with self.assertRaises(KeyError):
                a.deposit("5")
            self.assertEqual(a.free_balance, D("5"))  # the call itself completed
            eng.set_callback(None)
            a.deposit("1")
            self.assertEqual(a.free_balance, D("6"))

    def test_callback_may_not_change_the_engine(self) -> None:
        with margin.Engine() as eng:
            a = eng.new_account()
            eng.set_callback(lambda e: a.deposit("1"))
            with self.assertRaises(margin.StateError):
                a.deposit("5")
            self.assertEqual(a.free_balance, D("5"))  # one deposit, not two

    def test_events_are_frozen(self) -> None:
        with margin.Engine() as eng:
            eng.new_account(deposit="5")
            (e,) = list(eng.events())
            with self.assertRaises(AttributeError):
                e.seq = 99  # type: ignore[misc]
            self.assertEqual(e.type_name, "deposit")
            self.assertEqual(len(e.raw), 27)
            self.assertEqual(e.mode, margin.Mode.ISOLATED)
            self.assertEqual(e.raw[margin._capi.MARGIN_EVF_AMOUNT - 1], 500000000)


if __name__ == "__main__":
    unittest.main()
