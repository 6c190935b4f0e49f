"""Insurance pools and auto-deleveraging (issue 14) through the binding: BitMEX's published
example and a pool deposit.  Every expected figure is a hand calculation written beside it.

The setting of every case (scales 8/8, taker fee 0, one tier at mmr 0.5 %, no margin-call
levels): the mark at 600; a short of 20 at 600 with margin 1,000 has the bankruptcy price
600 + 1,000/20 = 650 and the liquidation price 650/1.005 = 646.7661...  When the mark gaps
to 700 it is liquidated at 700: the pool receives 1,000 + 20*(600 - 700) = -1,000, a
deficit of 1,000.  A long deleveraged at 650 instead of 700 gives up 50 per unit."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal
from typing import List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import events as ev  # noqa: E402

D = Decimal

# BitMEX's example: six longs entered at 500, leverage 10, 5, 4, 2, 1.25, 1 (bankruptcy
# prices 500*(1 - 1/L) = 450, 400, 375, 250, 100, 0), sizes 10, 20, 30, 10, 10, 20.
LONGS = [("10", "10"), ("5", "20"), ("4", "30"), ("2", "10"), ("1.25", "10"), ("1", "20")]


def setup(eng: margin.Engine, ranking: str = "bitmex") -> Tuple[margin.Market, margin.Account,
                                                                 margin.Account]:
    eng.margin_call_levels = []
    m = eng.new_market("BTCUSDT", taker_fee=0, tiers=[(0, "0.005")])
    m.adl = True
    m.adl_ranking = ranking
    longs = eng.new_account(deposit="1000000")
    shorts = eng.new_account(deposit="100000")
    m.mark_update("600")
    return m, longs, shorts


def drain(eng: margin.Engine) -> List[margin.Event]:
    return list(eng.events())


class Options(unittest.TestCase):
    def test_defaults_and_round_trip(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            n = eng.new_market("ETHUSDT")
            # Defaults (margin.h): a pool of its own, empty, ADL off, floor 0, Binance.
            self.assertEqual(m.insurance_pool, m)
            self.assertEqual(m.insurance, D(0))
            self.assertFalse(m.adl)
            self.assertEqual(m.insurance_floor, D(0))
            self.assertIs(m.adl_ranking, margin.AdlRanking.BINANCE)
            m.adl = True
            m.insurance_floor = "250"
            m.adl_ranking = "BitMEX"
            self.assertTrue(m.adl)
            self.assertEqual(m.insurance_floor, D(250))
            self.assertIs(m.adl_ranking, margin.AdlRanking.BITMEX)
            # ETHUSDT joins BTCUSDT's pool: the pool's options read through it.
            n.insurance_pool = m
            self.assertEqual(n.insurance_pool, m)
            self.assertTrue(n.adl)
            self.assertEqual(n.insurance_floor, D(250))
            with self.assertRaises(margin.InvalidArgument):
                m.adl_ranking = "bybit"
            with self.assertRaises(margin.InvalidArgument):
                m.insurance_floor = "-1"
            # BTCUSDT's pool is shared: it cannot join another one.
            with self.assertRaises(margin.StateError):
                m.insurance_pool = n

    def test_enums(self) -> None:
        self.assertEqual(int(margin.Status.DELEVERAGED), 3)
        self.assertEqual((int(margin.EventType.INSURANCE_DEPOSIT), int(margin.EventType.ADL)),
                         (17, 18))
        self.assertIs(ev.EVENT_CLASSES[18], ev.Adl)
        self.assertIs(ev.EVENT_CLASSES[17], ev.InsuranceDeposit)
        self.assertEqual((int(margin.AdlRanking.BINANCE), int(margin.AdlRanking.BITMEX)), (0, 1))


class Deposit(unittest.TestCase):
    def test_pool_deposit(self) -> None:
        # 400 into BTCUSDT's pool, then 100 through ETHUSDT, which shares it: the pool (read
        # through either market) and the fund are 500, the deposits total 500.
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            n = eng.new_market("ETHUSDT")
            n.insurance_pool = m
            eng.insurance_deposit(m, "400")
            n.insurance_deposit("100")
            (d1, d2) = drain(eng)
            self.assertIsInstance(d1, ev.InsuranceDeposit)
            self.assertEqual((d1.account, d1.market, d1.amount, d1.insurance_delta),
                             (0, m.id, D(400), D(400)))
            self.assertEqual((d2.market, d2.amount), (n.id, D(100)))
            self.assertEqual(d2.type_name, "insurance_deposit")
            self.assertEqual((m.insurance, n.insurance), (D(500), D(500)))
            self.assertEqual(eng.insurance_fund, D(500))
            self.assertEqual(eng.insurance_deposits, D(500))
            with self.assertRaises(margin.InvalidArgument):
                eng.insurance_deposit(m, "0")
            with self.assertRaises(margin.NotFound):
                eng.insurance_deposit(99, "1")

    def test_pool_pays_before_adl(self) -> None:
        # A pool of 400 pays 400 of the deficit of 1,000; ADL covers 600 = 12 units at 50:
        # the top long (10x, 10 units, credit 500) in full, then 2 of the second (credit
        # 100).  The pool ends at 400 - 1,000 + 500 + 100 = 0.
        with margin.Engine() as eng:
            m, al, as_ = setup(eng)
            ps = [al.open_position(m, "long", q, "500", leverage=lev) for lev, q in LONGS]
            s = as_.open_position(m, "short", "20", "600", margin="1000")
            m.insurance_deposit("400")
            drain(eng)
            m.mark_update("700")
            liq, a1, a2 = drain(eng)
            self.assertEqual((liq.position, liq.insurance_delta, liq.adl_covered),
                             (s.id, D(-1000), D(600)))
            self.assertEqual((a1.position, a1.qty, a1.insurance_delta), (ps[0].id, D(10), D(500)))
            self.assertEqual((a2.position, a2.qty, a2.insurance_delta, a2.realized_pnl),
                             (ps[1].id, D(2), D(100), D(300)))
            self.assertEqual(m.insurance, D(0))
            self.assertEqual(eng.insurance_fund, D(0))


class BitmexExample(unittest.TestCase):
    def test_bitmex_example(self) -> None:
        with margin.Engine() as eng:
            m, al, as_ = setup(eng)
            ps = [al.open_position(m, "long", q, "500", leverage=lev) for lev, q in LONGS]
            s = as_.open_position(m, "short", "20", "600", margin="1000")
            self.assertEqual(s.bankruptcy_price(), D(650))
            # BitMEX's score at 600: PnL% * effective leverage = (100/500) * 600/(600 - BP)
            # = 120/(600 - BP): 0.8, 0.6, 0.53333333 (120/225, down), 0.34285714 (120/350),
            # 0.24, 0.2; the short (PnL 0) scores 0.
            want = [D("0.8"), D("0.6"), D("0.53333333"), D("0.34285714"), D("0.24"), D("0.2")]
            self.assertEqual([p.adl_score for p in ps], want)
            self.assertEqual(s.adl_score, D(0))
            # Quantiles: rank r of 6 reads 4 - floor(5*r/6): 4, 4, 3, 2, 1, 0; 0 for a
            # score <= 0 (the short), and 0 for everyone before the first call.
            self.assertEqual([p.adl_quantile for p in ps], [0] * 6)
            m.adl_quantiles()
            self.assertEqual([p.adl_quantile for p in ps], [4, 4, 3, 2, 1, 0])
            self.assertEqual(s.adl_quantile, 0)
            drain(eng)

            # The gap to 700 with an empty pool: need 1,000 = 20 units at 50.  The first
            # long closes in full (10 units at 650: PnL 10*150 = 1,500, credit 500, its
            # margin 10*500/10 = 500 released); then 10 of the second (PnL 1,500, credit
            # 500, margin 20*500/5 = 2,000, half of it released: 1,000 left).
            m.mark_update("700")
            events = drain(eng)
            self.assertEqual([e.type_name for e in events], ["liquidation", "adl", "adl"])
            liq, a1, a2 = events
            assert isinstance(liq, ev.Liquidation)
            assert isinstance(a1, ev.Adl) and isinstance(a2, ev.Adl)
            self.assertEqual((liq.position, liq.price, liq.bankruptcy_price), (s.id, D(700), D(650)))
            self.assertEqual((liq.insurance_delta, liq.adl_covered), (D(-1000), D(1000)))
            self.assertEqual((a1.position, a1.counterparty, a1.qty, a1.price, a1.fill),
                             (ps[0].id, s.id, D(10), D(650), margin.FillPrice.BANKRUPTCY))
            self.assertEqual((a1.fee, a1.realized_pnl, a1.insurance_delta, a1.amount),
                             (D(0), D(1500), D(500), D(-500)))
            self.assertEqual(a1.position_qty, D(0))
            self.assertEqual((a2.position, a2.counterparty, a2.qty, a2.position_qty),
                             (ps[1].id, s.id, D(10), D(10)))
            self.assertEqual((a2.realized_pnl, a2.insurance_delta, a2.amount, a2.margin),
                             (D(1500), D(500), D(-1000), D(1000)))
            self.assertIs(ps[0].status, margin.Status.DELEVERAGED)
            self.assertIs(ps[1].status, margin.Status.OPEN)
            self.assertEqual((ps[1].qty, ps[1].margin), (D(10), D(1000)))
            self.assertEqual([p.qty for p in ps[2:]], [D(q) for _, q in LONGS[2:]])
            # The third long's score at 700: 280/(700 - 375) = 0.86153846 (down).
            self.assertEqual(ps[2].adl_score, D("0.86153846"))
            self.assertEqual(ps[0].adl_score, D(0))
            self.assertIs(s.status, margin.Status.LIQUIDATED)
            self.assertEqual(m.insurance, D(0))
            self.assertEqual(eng.insurance_fund, D(0))
            self.assertEqual(al.realized_pnl, D(3000))
            # (the listing functions refuse the filter MARGIN_STATUS_DELEVERAGED in this
            # library: a bug reported to lib/; list them all and filter here)
            self.assertEqual([p.id for p in al.positions(None)
                              if p.status is margin.Status.DELEVERAGED], [ps[0].id])


if __name__ == "__main__":
    unittest.main()
