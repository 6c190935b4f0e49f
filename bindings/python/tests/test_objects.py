"""Engine options, market options and defaults (as documented in margin.h), object
identity, and the maintenance-margin basis policy."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi  # noqa: E402

D = Decimal


class EngineOptions(unittest.TestCase):
    def test_defaults_and_setters(self) -> None:
        with margin.Engine() as eng:
            self.assertEqual(eng.time, 0)
            self.assertFalse(eng.full_scan)
            self.assertTrue(eng.event_queue)
            self.assertEqual(eng.insurance_fund, D(0))
            self.assertEqual((eng.open_positions, eng.events_pending, eng.last_seq, eng.liquidations),
                             (0, 0, 0, 0))
            self.assertEqual(eng.margin_call_levels, (D("0.8"),))
            eng.time = 1_700_000_000_123
            eng.full_scan = True
            self.assertEqual(eng.time, 1_700_000_000_123)
            self.assertTrue(eng.full_scan)
            self.assertNotEqual(eng.handle, 0)
            self.assertEqual(eng.errmsg(), "")  # nothing failed yet
            self.assertEqual(eng.errcode, 0)
            with self.assertRaises(margin.InvalidArgument):
                eng.set(_capi.MARGIN_ENG_INSURANCE_FUND, 5)  # read-only
            self.assertEqual(eng.errcode, _capi.MARGIN_EINVAL)
            self.assertTrue(eng.errmsg())

    def test_event_counters(self) -> None:
        with margin.Engine(time=7) as eng:
            a = eng.new_account(deposit="10")
            a.withdraw("4")
            self.assertEqual(eng.events_pending, 2)
            self.assertEqual(eng.last_seq, 2)
            first = eng.next_event()
            assert isinstance(first, margin.events.Deposit)
            self.assertEqual((first.seq, first.time, first.account), (1, 7, a.id))
            self.assertEqual((first.amount, first.free_balance), (D("10"), D("10")))
            self.assertEqual(eng.events_pending, 1)
            (second,) = list(eng.events())
            assert isinstance(second, margin.events.Withdraw)
            self.assertEqual((second.amount, second.free_balance), (D("4"), D("6")))
            self.assertIsNone(eng.next_event())
            self.assertEqual(a.withdrawals, D("4"))


class MarketOptions(unittest.TestCase):
    def test_defaults(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            self.assertEqual(m.symbol, "BTCUSDT")
            # read back from the engine, whichever object asks
            self.assertEqual(eng.market(m.id).symbol, "BTCUSDT")
            self.assertEqual(eng.new_market("ETHUSDT").symbol, "ETHUSDT")
            self.assertEqual((m.price_scale, m.qty_scale), (8, 8))
            self.assertEqual(m.tick, D("0.00000001"))  # 1 price unit
            self.assertEqual(m.step, D("0.00000001"))
            self.assertEqual(m.max_leverage, D("125"))
            self.assertEqual(m.maker_fee, D("0.0002"))
            self.assertEqual(m.taker_fee, D("0.0004"))
            self.assertEqual(m.mm_basis, margin.MMBasis.MARK)
            self.assertEqual(m.close_fee, D("0"))
            self.assertIsNone(m.mark)
            self.assertEqual(m.tier_count, 1)
            self.assertEqual(m.tiers, [margin.Tier(D("0"), D("0.004"), D("125"), D("0"))])
            self.assertEqual(m.open_positions, 0)

    def test_setters_and_lookup(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("ETHUSDT", price_scale=2, qty_scale=3, tick="0.05", step="0.01",
                               max_leverage=50, maker_fee="0", taker_fee="0.0005",
                               mm_basis="entry", close_fee="0.0005")
            self.assertEqual((m.price_scale, m.qty_scale), (2, 3))
            self.assertEqual(m.get(_capi.MARGIN_MKT_TICK), 5)
            self.assertEqual(m.tick, D("0.05"))
            self.assertEqual(m.get(_capi.MARGIN_MKT_STEP), 10)
            self.assertEqual(m.max_leverage, D("50"))
            self.assertEqual((m.maker_fee, m.taker_fee, m.close_fee), (D("0"), D("0.0005"), D("0.0005")))
            self.assertEqual(m.mm_basis, margin.MMBasis.ENTRY)
            found = eng.market("ETHUSDT")
            self.assertEqual(found, m)
            self.assertEqual(hash(found), hash(m))
            self.assertEqual(eng.market(m.id), m)
            self.assertIn("ETHUSDT", repr(m))
            with self.assertRaises(margin.RangeError):
                m.tick = "0.001"  # three decimals at price scale 2
            m.mark_update("1234.56")  # a mark need not be on the tick grid
            self.assertEqual(m.mark, D("1234.56"))

    def test_objects_of_two_engines_differ(self) -> None:
        with margin.Engine() as e1, margin.Engine() as e2:
            a1, a2 = e1.new_account(), e2.new_account()
            self.assertEqual(a1.id, a2.id)
            self.assertNotEqual(a1, a2)
            m2 = e2.new_market("X")
            with self.assertRaises(margin.InvalidArgument):
                a1.open_position(m2, "long", "1", "1", leverage=1)


class EntryBasis(unittest.TestCase):
    def test_seed_under_entry_basis(self) -> None:
        # Policy entry: MM_e = Q*E*mmr - cum + Q*BP*f = 2000*0.004 = 8 (f = 0),
        # LP = E - s*(M - MM_e)/Q = 20000 - (100 - 8)/0.1 = 19080.
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT", mm_basis=margin.MMBasis.ENTRY)
            a = eng.new_account(deposit="1000")
            p = a.open_position(m, "long", "0.1", "20000", leverage=20)
            self.assertEqual(p.liquidation_price(), D("19080"))
            # Maintenance fixed at the entry value whatever the mark.
            self.assertEqual(p.maint_margin("19500"), D("8"))
            # Adding X moves LP by X/Q (policy entry): 10 / 0.1 = 100.
            p.add_margin("10")
            self.assertEqual(p.liquidation_price(), D("18980"))


if __name__ == "__main__":
    unittest.main()
