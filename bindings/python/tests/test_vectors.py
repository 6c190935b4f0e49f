"""The public test vectors of the spec (/work/shared/spec/margin-math.md), through the
binding.  Each expected value is the spec's figure, or the spec's formula evaluated
exactly (fractions) and rounded by the header's rule, written out beside the assertion."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import F, ceil_at, floor_at  # noqa: E402

import margin  # noqa: E402

D = Decimal


class SeedExample(unittest.TestCase):
    """Long 0.1 at 20000, 20x, M = 100, mmr 0.004, cum 0, f = 0."""

    def setUp(self) -> None:
        self.eng = margin.Engine()
        self.btc = self.eng.new_market("BTCUSDT")
        self.acct = self.eng.new_account(deposit="1000")
        self.pos = self.acct.open_position(self.btc, "long", "0.1", "20000", leverage=20)

    def tearDown(self) -> None:
        self.eng.close()

    def test_margin_and_prices(self) -> None:
        p = self.pos
        self.assertEqual(p.side, margin.Side.LONG)
        self.assertEqual(p.qty, D("0.1"))
        self.assertEqual(p.entry_price, D("20000"))
        self.assertEqual(p.leverage, D("20"))
        self.assertEqual(p.margin, D("100"))  # Q*E/L = 2000/20
        self.assertEqual(p.initial_margin(), D("100"))
        self.assertEqual(p.notional(), D("2000"))  # no mark yet: at the entry price
        # BP = E - M/Q = 20000 - 1000
        self.assertEqual(p.bankruptcy_price(), D("19000"))
        # LP = (M + cum - Q*E) / (Q*mmr - Q) = -1900 / -0.0996, long rounded up
        lp = ceil_at(F("1900") / F("0.0996"))
        self.assertEqual(lp, D("19076.30522089"))
        self.assertEqual(p.liquidation_price(), lp)
        self.assertEqual(p.liq_price, lp)  # the trigger in force
        # The 0.8 margin-call level's price: MM = 0.8 * balance,
        # P = 0.8*(M - Q*E) / (Q*(mmr - 0.8)) = -1520 / -0.0796, long rounded up.
        mc = ceil_at(F("1520") / F("0.0796"))
        self.assertEqual(mc, D("19095.47738694"))
        self.assertEqual(p.margin_call_price(), mc)

    def test_figures_at_marks(self) -> None:
        p = self.pos
        # uPnL = Q*(P-E): at 19000, 0.1 * -1000 = -100; the balance is then 0.
        self.assertEqual(p.unrealized_pnl("19000"), D("-100"))
        self.assertEqual(p.margin_balance("19000"), D("0"))
        self.assertEqual(p.margin_ratio("19000"), D("Infinity"))  # balance <= 0
        # At 19090: MM = 0.1*19090*0.004 = 7.636, B = 100 - 91 = 9, ratio 7.636/9 rounded up.
        self.assertEqual(p.maint_margin("19090"), D("7.636"))
        self.assertEqual(p.margin_balance("19090"), D("9"))
        self.assertEqual(p.margin_ratio("19090"), ceil_at(F("7.636") / 9))
        self.assertEqual(p.maint_rate("19090"), D("0.004"))
        self.assertEqual(p.maint_amount("19090"), D("0"))
        # ROE at 21000: uPnL 100 / initial margin 100 = 1.
        self.assertEqual(p.roe("21000"), D("1"))
        # Removable at 20000: min(M - MM, M + 0 - Q*P/L) = min(100 - 8, 100 - 100) = 0.
        self.assertEqual(p.removable_margin("20000"), D("0"))
        # Removable at 21000: min(100 - 8.4, 100 + 100 - 105) = 91.6.
        self.assertEqual(p.removable_margin("21000"), D("91.6"))

    def test_account_after_open(self) -> None:
        a = self.acct
        # 1000 - 100 margin - 0.8 taker fee (0.0004 * 2000).
        self.assertEqual(a.free_balance, D("899.2"))
        self.assertEqual(a.isolated_margin, D("100"))
        self.assertEqual(a.fees, D("0.8"))
        self.assertEqual(a.deposits, D("1000"))
        self.assertEqual(a.open_positions, 1)
        # Equity = free + margins + uPnL at entry = 899.2 + 100 + 0.
        self.assertEqual(a.equity, D("999.2"))


class BinanceFaq(unittest.TestCase):
    def test_long_liquidation_price(self) -> None:
        # Long, M = 500, notional 1000 (Q = 0.02, E = 50000), mmr 0.004, cum 0: LP 25100.40.
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            p = a.open_position(m, "long", "0.02", "50000", margin="500")
            self.assertEqual(p.leverage, D("2"))  # derived: Q*E/M = 1000/500
            # LP = (500 - 1000) / (0.02*0.004 - 0.02) = 25100.4016064257..., rounded up
            lp = p.liquidation_price()
            self.assertEqual(lp, ceil_at(F("500") / F("0.01992")))
            assert lp is not None
            self.assertEqual(lp.quantize(D("0.01"), rounding=ROUND_HALF_EVEN), D("25100.40"))


class FreqtradeLiquidationPrices(unittest.TestCase):
    """freqtrade test_get_liquidation_price: M = Q*E/L, mmr 0.01.
    Binance rows: cum 0.01, f 0.  Gate/OKX rows: cum 0, f 0.0006."""

    ROWS = [
        # venue, side, L, E, Q, LP (spec)
        ("binance", "short", 5, "10", "1.0", "11.89108910891089"),
        ("binance", "short", 3, "10", "1.0", "13.211221122079207"),
        ("binance", "short", 5, "8", "1.0", "9.514851485148514"),
        ("binance", "short", 5, "10", "0.6", "11.897689768976898"),
        ("binance", "long", 5, "10", "1.0", "8.070707070707071"),
        ("binance", "long", 5, "8", "1.0", "6.454545454545454"),
        ("binance", "long", 3, "10", "1.0", "6.723905723905723"),
        ("binance", "long", 5, "10", "0.6", "8.063973063973064"),
        ("gate", "short", 5, "10", "1.0", "11.87413417771621"),
        ("gate", "short", 3, "10", "1.0", "13.193482419684678"),
        ("gate", "short", 5, "8", "1.0", "9.499307342172967"),
        ("gate", "long", 5, "10", "1.0", "8.085708510208207"),
        ("gate", "long", 3, "10", "1.0", "6.738090425173506"),
    ]

    def test_rows(self) -> None:
        for venue, side, lev, e, q, spec in self.ROWS:
            with self.subTest(venue=venue, side=side, L=lev, E=e, Q=q), margin.Engine() as eng:
                cum, f = ("0.01", "0") if venue == "binance" else ("0", "0.0006")
                m = eng.new_market("X", close_fee=f, tiers=[("0", "0.01", None, cum)])
                a = eng.new_account(deposit="1000")
                p = a.open_position(m, side, q, e, leverage=lev)
                s = 1 if side == "long" else -1
                E, Q = F(e), F(q)
                # M = Q*E/L rounded up to money scale (the spec's L=3 rows use 10/3 exactly).
                M = Fraction(ceil_at(Q * E / lev))
                self.assertEqual(p.margin, D(M.numerator) / D(M.denominator))
                # LP = (M + cum - s*Q*E) / (Q*(mmr + f) - s*Q), long up, short down.
                exact = (M + F(cum) - s * Q * E) / (Q * (F("0.01") + F(f)) - s * Q)
                want = ceil_at(exact) if s == 1 else floor_at(exact)
                got = p.liquidation_price()
                self.assertEqual(got, want)
                assert got is not None
                # And the spec's figure (floating point in freqtrade) to within 1e-7.
                self.assertLess(abs(got - D(spec)), D("1e-7"), f"{got} vs spec {spec}")


class BinanceCalculator(unittest.TestCase):
    """freqtrade test_liquidation_price_binance, isolated rows (2 decimals)."""

    def check(self, q: str, e: str, mmr: str, cum: str, spec: str) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("X", tiers=[("0", mmr, None, cum)])
            a = eng.new_account(deposit="2000000")
            wallet = F("1535443.01")
            p = a.open_position(m, "long", q, e, margin="1535443.01")
            Q, E = F(q), F(e)
            # LP = (M + cum - Q*E) / (Q*mmr - Q), rounded up.
            exact = (wallet + F(cum) - Q * E) / (Q * F(mmr) - Q)
            lp = p.liquidation_price()
            self.assertEqual(lp, ceil_at(exact))
            assert lp is not None
            self.assertEqual(lp.quantize(D("0.01"), rounding=ROUND_HALF_EVEN), D(spec))

    def test_eth(self) -> None:
        self.check("3683.979", "1456.84", "0.10", "135365", "1114.78")

    def test_btc(self) -> None:
        self.check("109.488", "32481.98", "0.025", "16300", "18778.73")


BTC_TIERS = [
    # floor, mmr, cum (spec), max leverage (freqtrade's conftest)
    ("0", "0.004", "0", "125"),
    ("50000", "0.005", "50", "100"),
    ("250000", "0.01", "1300", "50"),
    ("1000000", "0.025", "16300", "20"),
    ("7500000", "0.05", "203800", "10"),
    ("40000000", "0.1", "2203800", "5"),
    ("100000000", "0.125", "4703800", "4"),
    ("200000000", "0.15", "9703800", "3"),
    ("400000000", "0.25", "49703800", "2"),
    ("600000000", "0.5", "199703800", "1"),
]


class Tiers(unittest.TestCase):
    def setUp(self) -> None:
        self.eng = margin.Engine()
        self.m = self.eng.new_market("BTCUSDT")
        for floor, mmr, _cum, lev in BTC_TIERS:
            self.m.add_tier(floor, mmr, lev)  # maintenance amount derived (MARGIN_DERIVE)

    def tearDown(self) -> None:
        self.eng.close()

    def test_derived_amounts_are_the_spec_cums(self) -> None:
        # cum_k = floor_k * (mmr_k - mmr_(k-1)) + cum_(k-1), e.g. 50000*0.001 + 0 = 50,
        # 250000*0.005 + 50 = 1300, 1000000*0.015 + 1300 = 16300.
        self.assertEqual(self.m.tier_count, len(BTC_TIERS))
        for i, (floor, mmr, cum, lev) in enumerate(BTC_TIERS):
            with self.subTest(tier=i):
                self.assertEqual(self.m.tier(i), margin.Tier(D(floor), D(mmr), D(lev), D(cum)))
        self.assertEqual([t.maint_amount for t in self.m.tiers], [D(t[2]) for t in BTC_TIERS])

    def test_lookups(self) -> None:
        cases = [
            ("0", "0.004", "0"),
            ("49999.99999999", "0.004", "0"),
            ("50000", "0.005", "50"),
            ("249999.99", "0.005", "50"),
            ("250000", "0.01", "1300"),
            ("1000000", "0.025", "16300"),
            ("650000000", "0.5", "199703800"),
        ]
        for notional, mmr, cum in cases:
            with self.subTest(notional=notional):
                self.assertEqual(self.m.tier_for(notional), (D(mmr), D(cum)))

    def test_position_in_second_tier(self) -> None:
        a = self.eng.new_account(deposit="10000")
        # Notional 3*20000 = 60000 is in tier 1 (max 100x): 125x is refused.
        with self.assertRaises(margin.LeverageError):
            a.open_position(self.m, "long", "3", "20000", leverage=125)
        p = a.open_position(self.m, "long", "3", "20000", leverage=100)
        self.assertEqual(p.margin, D("600"))  # 60000 / 100
        # MM at 20000 = 60000*0.005 - 50 = 250.
        self.assertEqual(p.maint_margin("20000"), D("250"))
        self.assertEqual(p.maint_rate("20000"), D("0.005"))
        self.assertEqual(p.maint_amount("20000"), D("50"))
        # LP with tier 1: (600 + 50 - 60000) / (3*0.005 - 3) = 19882.7470686767...;
        # LP*Q = 59648.24 lies in tier 1's range [50000, 250000), so it is consistent.
        self.assertEqual(p.liquidation_price(), ceil_at(F("59350") / F("2.985")))
        # MM is continuous at a tier edge: at notional 50000, tier 0 gives 50000*0.004 - 0
        # and tier 1 gives 50000*0.005 - 50, both 200.
        mmr0, cum0 = self.m.tier_for("49999.99999999")
        mmr1, cum1 = self.m.tier_for("50000")
        self.assertEqual(D("50000") * mmr0 - cum0, D("200"))
        self.assertEqual(D("50000") * mmr1 - cum1, D("200"))


class FundingVectors(unittest.TestCase):
    """freqtrade test_calculate_funding_fees: a short of size 10 receives rate*Q*mark."""

    def test_short_receives_long_pays(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("X")
            a = eng.new_account(deposit="1000")
            b = eng.new_account(deposit="1000")
            short = a.open_position(m, "short", "10", "2", leverage=1)
            long_ = b.open_position(m, "long", "10", "2", leverage=1)
            self.assertEqual(short.margin, D("20"))
            list(eng.events())
            received = []
            for rate, mark, want in [("0.0001", "2.0", "0.002"), ("0.0002", "2.0", "0.004"),
                                     ("0.0002", "2.5", "0.005")]:
                m.funding(rate, mark)
                evs = [ev for ev in eng.events() if isinstance(ev, margin.events.Funding)]
                by_pos = {ev.position: ev for ev in evs}
                self.assertEqual(set(by_pos), {short.id, long_.id})
                self.assertEqual(by_pos[short.id].amount, D(want))
                self.assertEqual(by_pos[long_.id].amount, -D(want))
                self.assertEqual(by_pos[short.id].price, D(mark))
                received.append(D(want))
            total = sum(received)  # 0.002 + 0.004 + 0.005 = 0.011
            self.assertEqual(total, D("0.011"))
            self.assertEqual(short.funding, total)
            self.assertEqual(long_.funding, -total)
            self.assertEqual(short.margin, D("20") + total)  # funding goes into M
            self.assertEqual(long_.margin, D("20") - total)
            self.assertEqual(a.funding, total)
            self.assertEqual(m.mark, D("2.5"))


if __name__ == "__main__":
    unittest.main()
