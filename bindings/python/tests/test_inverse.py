"""Inverse (coin-margined) contracts (issue 15) through the binding: the three published
checks of tests/check_inverse.c, funding in the coin, the partial liquidation policies and
BitMEX's ADL ranking (the worked cases of tests/check_inverse.c), and the refusals (one
settlement asset per engine: :class:`margin.AssetError`; cross mode on an inverse market:
:class:`margin.NotSupported`).  Every expected figure is worked by hand beside it.

Notation: N = contracts x contract size (USD), s = +1 long, -1 short, E entry, P price, M
margin, L leverage.  Value N/P; PnL s*N*(1/E - 1/P), rounded down; initial margin N/(E*L),
rounded up; bankruptcy price N/(N/E + s*M); liquidation price N*(mmr + s)/(M + cum + s*N/E)
(mark basis) or s*N/(M + s*N/E - N*mmr/E) (entry basis), long rounded up, short down.
Money is in the coin (BTC)."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal
from fractions import Fraction
from typing import Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import F, ceil_at, floor_at  # noqa: E402

import margin  # noqa: E402
from margin import _capi  # noqa: E402
from margin import events as ev  # noqa: E402

D = Decimal


def inverse_market(eng: margin.Engine, csize: str = "1", **kw: object) -> margin.Market:
    """BTCUSD, inverse, contracts of *csize* USD, no fees; no margin-call levels."""
    eng.margin_call_levels = []
    return eng.new_market("BTCUSD", contract="inverse", contract_size=csize, taker_fee=0,
                          maker_fee=0, **kw)  # type: ignore[arg-type]


class Constants(unittest.TestCase):
    def test_values(self) -> None:
        self.assertEqual((_capi.MARGIN_MKT_CONTRACT, _capi.MARGIN_MKT_CONTRACT_SIZE,
                          _capi.MARGIN_MKT_SETTLE_ASSET, _capi.MARGIN_MKT_MIN_PRICE),
                         (28, 29, 30, 31))
        self.assertEqual((margin.Contract.LINEAR, margin.Contract.INVERSE), (0, 1))
        self.assertEqual(margin.AssetError.CODE, -23)
        self.assertIs(margin.error_class(-23), margin.AssetError)
        self.assertTrue(issubclass(margin.AssetError, margin.MarginError))
        self.assertNotEqual(margin.strerror(-23), margin.strerror(-999))

    def test_market_properties(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSD", contract="inverse", contract_size="100",
                               settle_asset=1)
            self.assertIs(m.contract, margin.Contract.INVERSE)
            self.assertTrue(m.is_inverse)
            self.assertEqual((m.contract_size, m.settle_asset), (D(100), 1))
            self.assertEqual(m.min_price, D("0.01"))  # the inverse default
            m.min_price = "0.5"
            self.assertEqual(m.min_price, D("0.5"))
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            self.assertIs(m.contract, margin.Contract.LINEAR)
            self.assertFalse(m.is_inverse)
            self.assertEqual((m.contract_size, m.settle_asset), (D(1), 0))
            self.assertEqual(m.min_price, D("0.00000001"))  # 1 price unit
            with self.assertRaises(margin.InvalidArgument):
                m.contract = "quanto"


class PublishedChecks(unittest.TestCase):
    def test_bitmex_guide(self) -> None:
        # BitMEX: 100,000 contracts of 1 USD bought at 10,000 and sold at 10,500 earn
        # 100,000 x (1/10,000 - 1/10,500) = 0.476190476.. XBT, 0.47619047 rounded down.
        # At 10x the margin is N/(E*L) = 100,000/100,000 = 1 XBT, the value at entry N/E =
        # 10 XBT, at 10,500 100,000/10,500 = 9.5238095.. (up: 9.52380953).
        pnl = floor_at(F("100000") * (1 / F("10000") - 1 / F("10500")))
        self.assertEqual(pnl, D("0.47619047"))
        with margin.Engine() as eng:
            m = inverse_market(eng)
            m.mark_update("10000")
            acct = eng.new_account(deposit="100")
            p = acct.open_position(m, "long", "100000", "10000", leverage=10)
            self.assertEqual((p.qty, p.margin, p.initial_margin()), (D(100000), D(1), D(1)))
            self.assertEqual(p.notional("10000"), D(10))
            self.assertEqual(p.notional("10500"), ceil_at(F("100000") / F("10500")))
            self.assertEqual(p.unrealized_pnl("10500"), pnl)
            p.close("10500")
            self.assertEqual(p.realized_pnl, pnl)
            self.assertEqual(acct.free_balance, 100 + pnl)

    def test_bybit_entry_basis(self) -> None:
        # Bybit, classic inverse: mmr 0.5 % at entry, 10x, entry 2,000, 1,000 contracts of
        # 1 USD: M = 1,000/20,000 = 0.05 BTC; LP = E*L/(L + 1 - L*mmr) = 20,000/10.95 =
        # 1,826.484018.. (long: up) and E*L/(L - 1 + L*mmr) = 20,000/9.05 = 2,209.944751..
        # (short: down); BP = E*L/(L + 1) = 1,818.18.. (up), E*L/(L - 1) = 2,222.22.. (down);
        # the maintenance margin (N/E)*mmr = 0.5 x 0.005 = 0.0025 at any mark.
        with margin.Engine() as eng:
            m = inverse_market(eng, mm_basis="entry", tiers=[(0, "0.005", None, 0)])
            m.mark_update("2000")
            acct = eng.new_account(deposit="10")
            lg = acct.open_position(m, "long", "1000", "2000", leverage=10)
            sh = acct.open_position(m, "short", "1000", "2000", leverage=10)
            self.assertEqual(lg.margin, D("0.05"))
            self.assertEqual(lg.liquidation_price(), D("1826.48401827"))
            self.assertEqual(lg.liquidation_price(), ceil_at(F("20000") / F("10.95")))
            self.assertEqual(sh.liquidation_price(), D("2209.94475138"))
            self.assertEqual(sh.liquidation_price(), floor_at(F("20000") / F("9.05")))
            self.assertEqual(lg.liq_price, D("1826.48401827"))
            self.assertEqual(lg.bankruptcy_price(), ceil_at(F("20000") / 11))
            self.assertEqual(sh.bankruptcy_price(), floor_at(F("20000") / 9))
            self.assertEqual(lg.maint_margin("1900"), D("0.0025"))

    def test_binance_coin_m(self) -> None:
        # Binance COIN-M: 100,000 contracts of 100 USD (N = 10,000,000) long at 45,000 with
        # an isolated margin of 101 BTC; tiers 0.4 % from 0, 12.5 % with maintenance amount
        # 11.81 from 250 BTC: LP = N*(mmr + 1)/(M + cum + N/E) = 11,250,000 / (101 + 11.81
        # + 222.22..) = 33,578.8597448.. (up: 33,578.85974484); the value there, 297.8 BTC,
        # is in the 12.5 % tier. Leverage (N/E)/M = 222.22../101, up: 2.20022003.
        lp = ceil_at(F("11250000") / (F("101") + F("11.81") + F("10000000") / F("45000")))
        self.assertEqual(lp, D("33578.85974484"))
        with margin.Engine() as eng:
            m = inverse_market(eng, "100", tiers=[(0, "0.004", None, 0),
                                                  (250, "0.125", None, "11.81")])
            self.assertEqual(m.contract_size, D(100))
            m.mark_update("45000")
            acct = eng.new_account(deposit="200")
            p = acct.open_position(m, "long", "100000", "45000", margin="101")
            self.assertEqual(p.leverage, D("2.20022003"))
            self.assertEqual(p.liquidation_price(), lp)
            self.assertEqual((p.maint_rate(lp), p.maint_amount(lp)), (D("0.125"), D("11.81")))
            # at 45,000 the first tier: 222.22.. x 0.004, up
            self.assertEqual(p.maint_rate("45000"), D("0.004"))
            self.assertEqual(p.maint_margin("45000"),
                             ceil_at(F("10000000") / F("45000") * F("0.004")))


class CoinFlows(unittest.TestCase):
    def test_funding_in_coin(self) -> None:
        # A long and a short of 100,000 contracts of 1 USD at 10,000, 10x (M = 1 each),
        # rate 0.0001 at the mark 10,000: the value is 10 BTC, so the long pays and the
        # short receives 10 x 0.0001 = 0.001 BTC: margins 0.999 and 1.001.
        with margin.Engine() as eng:
            m = inverse_market(eng, tiers=[(0, "0.005")])
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            lg = acct.open_position(m, "long", "100000", "10000", leverage=10)
            sh = acct.open_position(m, "short", "100000", "10000", leverage=10)
            list(eng.events())
            m.funding("0.0001", "10000")
            self.assertEqual((lg.margin, sh.margin), (D("0.999"), D("1.001")))
            self.assertEqual((lg.funding, sh.funding), (D("-0.001"), D("0.001")))
            paid = {e.position: e.amount for e in eng.events() if isinstance(e, ev.Funding)}
            self.assertEqual(paid, {lg.id: D("-0.001"), sh.id: D("0.001")})
            self.assertEqual(acct.funding, D(0))

    def test_liquidation_at_the_mark(self) -> None:
        # mmr 0.5 %, the long of the BitMEX guide: LP = 100,500/11 = 9,136.3636.. (up:
        # 9,136.36363637). A mark one unit above leaves it open; at the LP it is liquidated,
        # filled at the mark: the holder loses its margin of 1, and the pool receives
        # 1 + 100,000 x (1/10,000 - 1/9,136.36363637) (PnL down: -0.94527364) = 0.05472636.
        lp = ceil_at(F("100500") / 11)
        with margin.Engine() as eng:
            m = inverse_market(eng, tiers=[(0, "0.005")])
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            p = acct.open_position(m, "long", "100000", "10000", leverage=10)
            self.assertEqual(p.liq_price, lp)
            m.mark_update(lp + D("0.00000001"))
            self.assertTrue(p.is_open)
            list(eng.events())
            m.mark_update(lp)
            self.assertIs(p.status, margin.Status.LIQUIDATED)
            self.assertEqual(p.realized_pnl, D(-1))
            liq = [e for e in eng.events() if isinstance(e, ev.Liquidation)]
            self.assertEqual(len(liq), 1)
            self.assertEqual((liq[0].price, liq[0].insurance_delta), (lp, D("0.05472636")))
            self.assertEqual(m.insurance, D("0.05472636"))

    def test_short_that_cannot_go_bankrupt(self) -> None:
        # A 1x short (M = N/E = 10 BTC) can lose no more than its margin: no bankruptcy or
        # liquidation price (the library's INT64_MAX reads as None). At 2x (M = 5):
        # BP = N/(N/E - M) = 100,000/5 = 20,000; LP = N*(1 - mmr)/(N/E - M) = 19,900.
        with margin.Engine() as eng:
            m = inverse_market(eng, tiers=[(0, "0.005")])
            m.mark_update("10000")
            acct = eng.new_account(deposit="100")
            p1 = acct.open_position(m, "short", "100000", "10000", leverage=1)
            p2 = acct.open_position(m, "short", "100000", "10000", leverage=2)
            self.assertEqual(p1.margin, D(10))
            self.assertIsNone(p1.liquidation_price())
            self.assertIsNone(p1.bankruptcy_price())
            self.assertIsNone(p1.liq_price)
            self.assertEqual(p1.at(_capi.MARGIN_AT_LIQ_PRICE), _capi.INT64_MAX)
            self.assertEqual((p2.bankruptcy_price(), p2.liquidation_price()),
                             (D(20000), D(19900)))
            opens = [e for e in eng.events() if isinstance(e, ev.Open)]
            self.assertEqual([e.liq_price for e in opens], [None, D(19900)])


class PartialLiquidation(unittest.TestCase):
    """tests/check_inverse.c: a long of 100,000 contracts of 1 USD at 10,000, 10x (M = 1
    BTC), whole contracts (step 1), filled at the mark, no clearance fee."""

    def test_min_reduce(self) -> None:
        # One tier of 1 %: LP = 100,000 x 1.01 / (1 + 10) = 9,181.81818182 (up); the mark
        # gaps to 9,100. Selling q there leaves M' = 1 + q x (1/10,000 - 1/9,100) (PnL
        # down) and R = 100,000 - q contracts whose LP is R x 1.01 / (M' + R/10,000) (up),
        # still liquidatable while that LP is >= 9,100: q = 90,000 leaves 9,100.00008109,
        # q = 90,001 9,099.99106941. So 90,001 are sold (realized -0.89011979) and 9,999
        # stay with 0.10988021.
        def rest(q: int) -> Tuple[Decimal, Decimal]:
            pnl = floor_at(q * (1 / F("10000") - 1 / F("9100")))
            r = 100000 - q
            return pnl, ceil_at(r * F("1.01") / (1 + F(str(pnl)) + Fraction(r, 10000)))
        self.assertEqual(rest(90000), (D("-0.89010990"), D("9100.00008109")))
        self.assertEqual(rest(90001), (D("-0.89011979"), D("9099.99106941")))
        with margin.Engine() as eng:
            m = inverse_market(eng, step="1", tiers=[(0, "0.01")], liq_policy="min_reduce")
            self.assertIs(m.liq_policy, margin.LiquidationPolicy.MIN_REDUCE)
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            p = acct.open_position(m, "long", "100000", "10000", leverage=10)
            self.assertEqual(p.liq_price, ceil_at(F("101000") / 11))
            self.assertEqual(p.liq_price, D("9181.81818182"))
            list(eng.events())
            m.mark_update("9100")
            self.assertTrue(p.is_open)
            self.assertEqual((p.qty, p.margin, p.realized_pnl),
                             (D(9999), D("0.10988021"), D("-0.89011979")))
            self.assertEqual(p.liq_price, D("9099.99106941"))
            part = [e for e in eng.events() if isinstance(e, ev.PartialLiquidation)]
            self.assertEqual(len(part), 1)
            self.assertEqual((part[0].qty, part[0].position_qty, part[0].price,
                              part[0].realized_pnl, part[0].margin, part[0].liq_price),
                             (D(90001), D(9999), D(9100), D("-0.89011979"),
                              D("0.10988021"), D("9099.99106941")))
            self.assertEqual((part[0].fee, part[0].insurance_delta), (D(0), D(0)))
            self.assertEqual(acct.free_balance, 9)  # the margin 1 is still the position's

    def test_tier_down(self) -> None:
        # Tiers 1 % from 0 and 5 % from 5 BTC (derived amount 5 x 0.04 = 0.2): LP =
        # 100,000 x 1.05 / (1 + 0.2 + 10) = 9,375 exactly (the value there, 10.67 BTC, in
        # the second tier). At 9,375 the position keeps the largest remainder worth at most
        # 5 BTC there, floor(5 x 9,375) = 46,875 contracts; the 53,125 sold realize
        # 53,125 x (1/10,000 - 1/9,375) = -0.35416666.. (down: -0.35416667), M' =
        # 0.64583333; the remainder's liquidation price, still in the second tier, is
        # 46,875 x 1.05 / (0.64583333 + 0.2 + 4.6875) = 8,894.95482464 (up).
        realized = floor_at(53125 * (1 / F("10000") - 1 / F("9375")))
        self.assertEqual(realized, D("-0.35416667"))
        lp = ceil_at(46875 * F("1.05") / (1 + F(str(realized)) + F("0.2") + F("4.6875")))
        self.assertEqual(lp, D("8894.95482464"))
        with margin.Engine() as eng:
            m = inverse_market(eng, step="1", tiers=[(0, "0.01"), (5, "0.05")],
                               liq_policy="tier_down")
            self.assertEqual(m.tier(1).maint_amount, D("0.2"))
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            p = acct.open_position(m, "long", "100000", "10000", leverage=10)
            self.assertEqual(p.liq_price, D(9375))
            list(eng.events())
            m.mark_update("9375")
            self.assertIs(p.status, margin.Status.OPEN)
            self.assertEqual((p.qty, p.margin, p.realized_pnl, p.liq_price),
                             (D(46875), D("0.64583333"), realized, lp))
            part = [e for e in eng.events() if isinstance(e, ev.PartialLiquidation)]
            self.assertEqual([(e.qty, e.price, e.liq_price) for e in part],
                             [(D(53125), D(9375), lp)])


class AdlRanking(unittest.TestCase):
    def test_bitmex_ranking(self) -> None:
        # tests/check_inverse.c: BitMEX's values on an inverse market are -s*N/P, so PnL% =
        # s(P - E)/P and the effective leverage BP / s(P - BP). 10,000 contracts of 1 USD
        # at 10,000, 10x (M = 0.1 BTC), the mark at 11,000.
        # The long: BP = N/(N/E + M) = 10,000/1.1 (up: 9,090.90909091); PnL% =
        # 1,000/11,000 (down: 0.09090909); score = PnL% x BP/(P - BP) (down) = 0.43290042.
        # The short: BP = N/(N/E - M) = 10,000/0.9 (down: 11,111.11111111); PnL% =
        # -1,000/11,000 (down: -0.09090910), a loss, so PnL% / leverage = PnL% x (BP - P)/BP
        # (down) = -0.00090910.
        bp_l, bp_s = ceil_at(F("10000") / F("1.1")), floor_at(F("10000") / F("0.9"))
        self.assertEqual((bp_l, bp_s), (D("9090.90909091"), D("11111.11111111")))
        pct_l, pct_s = floor_at(Fraction(1000, 11000)), floor_at(Fraction(-1000, 11000))
        score_l = floor_at(F(str(pct_l)) * F(str(bp_l)) / (11000 - F(str(bp_l))))
        score_s = floor_at(F(str(pct_s)) * (F(str(bp_s)) - 11000) / F(str(bp_s)))
        self.assertEqual((score_l, score_s), (D("0.43290042"), D("-0.00090910")))
        with margin.Engine() as eng:
            m = inverse_market(eng, tiers=[(0, "0.005")])
            m.adl_ranking = "bitmex"
            self.assertIs(m.adl_ranking, margin.AdlRanking.BITMEX)
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            lg = acct.open_position(m, "long", "10000", "10000", leverage=10)
            sh = acct.open_position(m, "short", "10000", "10000", leverage=10)
            self.assertEqual((lg.bankruptcy_price(), sh.bankruptcy_price()), (bp_l, bp_s))
            m.mark_update("11000")
            self.assertEqual((lg.adl_score, sh.adl_score), (score_l, score_s))
            m.adl_quantiles()
            self.assertEqual((lg.adl_quantile, sh.adl_quantile), (4, 0))
            # With ADL on and an empty pool, a gap to 12,000 bankrupts the short: its
            # balance there is 0.1 + 10,000 x (1/12,000 - 1/10,000) (PnL down: -0.16666667)
            # = -0.06666667. The long, the only one of the other side, closes its 10,000 at
            # the short's bankruptcy price and gives up its PnL at the mark less its PnL
            # there, each rounded down: 0.16666666 - 0.09999999 = 0.06666667, the deficit.
            m.adl = True
            list(eng.events())
            m.mark_update("12000")
            self.assertIs(sh.status, margin.Status.LIQUIDATED)
            self.assertIs(lg.status, margin.Status.DELEVERAGED)
            at_fill = floor_at(10000 * (1 / F("10000") - 1 / F(str(bp_s))))
            at_mark = floor_at(10000 * (1 / F("10000") - 1 / F("12000")))
            self.assertEqual((at_fill, at_mark - at_fill), (D("0.09999999"), D("0.06666667")))
            adl = [e for e in eng.events() if isinstance(e, ev.Adl)]
            self.assertEqual([(e.position, e.counterparty, e.qty, e.price, e.realized_pnl,
                               e.insurance_delta) for e in adl],
                             [(lg.id, sh.id, D(10000), bp_s, at_fill, at_mark - at_fill)])
            self.assertEqual(m.insurance, D(0))


class Refusals(unittest.TestCase):
    def test_one_asset_per_engine(self) -> None:
        # A second market takes the first one's contract type and asset; changing either
        # while another market exists raises AssetError and changes nothing.
        with margin.Engine() as eng:
            m = inverse_market(eng, settle_asset=1)
            q = eng.new_market("BTCUSD_Q")
            self.assertIs(q.contract, margin.Contract.INVERSE)
            self.assertEqual(q.settle_asset, 1)
            with self.assertRaises(margin.AssetError) as cm:
                q.contract = "linear"
            self.assertEqual(cm.exception.code, _capi.MARGIN_EASSET)
            # (the message names the market that differs: the first one)
            self.assertIn("market BTCUSD is inverse", cm.exception.message)
            self.assertIn("one asset", cm.exception.message)
            with self.assertRaises(margin.AssetError):
                q.settle_asset = 2
            with self.assertRaises(margin.AssetError):  # also through new_market()
                eng.new_market("ETHUSD", settle_asset=2)
            self.assertEqual((q.contract, q.settle_asset), (margin.Contract.INVERSE, 1))
            self.assertTrue(m.is_inverse)
        with margin.Engine() as eng:
            eng.new_market("BTCUSDT")
            with self.assertRaises(margin.AssetError) as cm:
                eng.new_market("BTCUSD", contract="inverse")
            self.assertIsInstance(cm.exception, ValueError)
            self.assertIs(eng.market("BTCUSD").contract, margin.Contract.LINEAR)

    def test_cross_mode_on_inverse_markets(self) -> None:
        # With one cross leg the wallet W stands for the margin: W = 1, a long of 100,000
        # contracts of 1 USD at 10,000 (10x), mmr 0.5 %: the isolated price 100,500/11 (up).
        # A gap to 9,000 costs the book 100,000 x (1/10,000 - 1/9,000) = -1.11111111.. and
        # liquidates it: the wallet ends at 0, the pool takes the deficit 0.11111112 (the
        # PnL rounded down). The other policies work on inverse markets too.
        with margin.Engine() as eng:
            m = inverse_market(eng, tiers=[(0, "0.005", None, 0)])
            m.mark_update("10000")
            acct = eng.new_account(deposit="1")
            acct.set_mode(m, "cross")
            self.assertIs(acct.mode(m), margin.Mode.CROSS)
            p = acct.open_position(m, "long", "100000", "10000", leverage=10, cross=True)
            self.assertEqual(p.liquidation_price(), ceil_at(F("100500") / 11))
            self.assertEqual(p.bankruptcy_price(), ceil_at(F("100000") / 11))
            fund = eng.insurance_fund
            m.mark_update("9000")
            self.assertFalse(p.is_open)
            self.assertEqual(acct.free_balance, 0)
            pnl = floor_at(F("100000") * (1 / F("10000") - 1 / F("9000")))
            self.assertEqual(pnl, Decimal("-1.11111112"))
            self.assertEqual(eng.insurance_fund - fund, 1 + pnl)
            m.liq_policy = "slices"
            m.adl_ranking = "bitmex"
            q = eng.new_market("BTCUSD_Q", liq_policy="tier_down")
            self.assertIs(q.liq_policy, margin.LiquidationPolicy.TIER_DOWN)

    def test_prices_below_the_minimum(self) -> None:
        with margin.Engine() as eng:
            m = inverse_market(eng)
            acct = eng.new_account(deposit="10")
            with self.assertRaises(margin.RangeError):
                m.mark_update("0.00999999")
            with self.assertRaises(margin.RangeError):
                acct.open_position(m, "long", "1", "0.00999999", leverage=1)

    def test_contract_fixed_once_the_market_had_positions(self) -> None:
        with margin.Engine() as eng:
            m = inverse_market(eng)
            m.mark_update("10000")
            acct = eng.new_account(deposit="10")
            acct.open_position(m, "long", "100", "10000", leverage=2)
            with self.assertRaises(margin.StateError):
                m.contract_size = "100"


if __name__ == "__main__":
    unittest.main()
