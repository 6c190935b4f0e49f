"""Liquidation as venues run it (issue 13) through the binding: the partial-liquidation
policies, the clearance fee and the fill prices.  Every expected figure is a hand
calculation written beside it (the issue's worked checks among them)."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal
from fractions import Fraction
from typing import List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401
from support import ceil_at  # noqa: E402

import margin  # noqa: E402
from margin import events as ev  # noqa: E402

D = Decimal


def drain(eng: margin.Engine) -> List[margin.Event]:
    return list(eng.events())


class Options(unittest.TestCase):
    def test_defaults_and_round_trip(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            # Every default keeps 0.1.0's behaviour (margin.h).
            self.assertEqual(m.liq_fee, D(0))
            self.assertIs(m.liq_fee_basis, margin.LiqFeeBasis.FILL)
            self.assertIs(m.liq_fill, margin.LiquidationFill.MARK)
            self.assertIs(m.stop_fill, margin.StopFill.MARK)
            self.assertIs(m.liq_policy, margin.LiquidationPolicy.FULL)
            self.assertEqual(m.slice_threshold, D(100000))
            self.assertEqual(m.slice_fraction, D("0.2"))
            self.assertEqual(m.slice_cooldown, 30000)
            self.assertEqual(m.slice_backstop, D("0.66666667"))
            m.liq_fee = "0.0125"
            m.liq_fee_basis = "mark"
            m.liq_fill = "bankruptcy"
            m.stop_fill = margin.StopFill.TRIGGER
            m.liq_policy = "min-reduce"
            m.slice_threshold = "250000"
            m.slice_fraction = "0.25"
            m.slice_cooldown = 5000
            m.slice_backstop = "0.5"
            self.assertEqual(m.liq_fee, D("0.0125"))
            self.assertIs(m.liq_fee_basis, margin.LiqFeeBasis.MARK)
            self.assertIs(m.liq_fill, margin.LiquidationFill.BANKRUPTCY)
            self.assertIs(m.stop_fill, margin.StopFill.TRIGGER)
            self.assertIs(m.liq_policy, margin.LiquidationPolicy.MIN_REDUCE)
            self.assertEqual(m.slice_threshold, D(250000))
            self.assertEqual(m.slice_fraction, D("0.25"))
            self.assertEqual(m.slice_cooldown, 5000)
            self.assertEqual(m.slice_backstop, D("0.5"))
            m2 = eng.new_market("ETHUSDT", liq_policy="tier_down", liq_fill="liq-price",
                                liq_fee="0.001", stop_fill="trigger", liq_fee_basis="fill")
            self.assertIs(m2.liq_policy, margin.LiquidationPolicy.TIER_DOWN)
            self.assertIs(m2.liq_fill, margin.LiquidationFill.LIQ_PRICE)
            self.assertEqual(m2.liq_fee, D("0.001"))
            with self.assertRaises(margin.InvalidArgument):
                m.liq_policy = "sometimes"
            with self.assertRaises(margin.InvalidArgument):
                m.liq_policy = 9  # the engine refuses an unknown value

    def test_enum_values(self) -> None:
        P = margin.LiquidationPolicy
        self.assertEqual([int(P.FULL), int(P.MIN_REDUCE), int(P.TIER_DOWN), int(P.SLICES)],
                         [0, 1, 2, 3])
        F_ = margin.FillPrice
        self.assertEqual([int(F_.MARK), int(F_.TRIGGER), int(F_.LIQ_PRICE), int(F_.BANKRUPTCY)],
                         [1, 2, 3, 4])
        self.assertEqual(int(margin.EventType.PARTIAL_LIQUIDATION), 16)
        self.assertIs(ev.EVENT_CLASSES[16], ev.PartialLiquidation)


class TenBtc(unittest.TestCase):
    """The issue's first worked check: long 10 BTC at 50,000 with margin 25,000 (20x),
    one tier at mmr 0.5 % (cum 0), step 0.0001, no trading fee, mark 47,700.

    At 47,700: equity Eq = 25,000 + 10*(47,700 - 50,000) = 2,000;
    MM = 10*47,700*0.005 = 2,385 > 2,000: liquidatable.
    (Liquidation price: 25,000 + 10*(P - 50,000) = 0.05*P -> P = 475,000/9.95 = 47,738.69...)
    """

    def build(self, *, price_scale: int = 8, **opts: object) -> None:
        self.eng = margin.Engine()
        self.addCleanup(self.eng.close)
        m = self.eng.new_market("BTCUSDT", price_scale=price_scale, maker_fee=0, taker_fee=0,
                                step="0.0001", tiers=[("0", "0.005", None, "0")])
        for k, v in opts.items():
            setattr(m, k, v)
        self.m = m
        self.a = self.eng.new_account(deposit="100000")
        self.p = self.a.open_position(m, "long", "10", "50000", leverage=20)
        self.assertEqual(self.p.margin, D(25000))  # 500,000 / 20
        drain(self.eng)

    def test_min_reduce_without_fee(self) -> None:
        self.build(liq_policy="min_reduce")
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.PartialLiquidation)
        # q = (Q*P*mmr - cum - Eq) / (P*(mmr - f)) = (2,385 - 0 - 2,000) / (47,700*0.005)
        #   = 385 / 238.5 = 1.61425..., up to the step 0.0001: 1.6143.
        # (1.6142 leaves 8.3858*238.5 = 2,000.0133 of MM > Eq 2,000: not enough.)
        self.assertEqual(e.qty, D("1.6143"))
        self.assertEqual(e.price, D(47700))
        self.assertIs(e.fill, margin.FillPrice.MARK)
        self.assertEqual(e.fee, D(0))
        # PnL of the part: 1.6143*(47,700 - 50,000) = -3,712.89; it leaves the margin.
        self.assertEqual(e.realized_pnl, D("-3712.89"))
        self.assertEqual(e.amount, D("-3712.89"))
        self.assertEqual(e.margin, D("21287.11"))  # 25,000 - 3,712.89
        self.assertEqual(e.position_qty, D("8.3857"))  # 10 - 1.6143
        self.assertEqual(e.insurance_delta, D(0))
        # What remains: Eq = 21,287.11 - 8.3857*2,300 = 2,000 > MM 8.3857*238.5 = 1,999.98945.
        # Its liquidation price: 21,287.11 + 8.3857*(P - 50,000) = 8.3857*0.005*P
        # -> P = (419,285 - 21,287.11) / (8.3857*0.995) = 397,997.89 / 8.3437715, just
        # below the mark, rounded up at the price scale 8.
        self.assertEqual(e.liq_price, ceil_at(Fraction("397997.89") / Fraction("8.3437715")))
        self.assertLess(e.liq_price, D(47700))
        self.assertTrue(self.p.is_open)
        self.assertEqual(self.p.qty, D("8.3857"))
        self.assertEqual(self.p.margin, D("21287.11"))
        self.assertEqual(self.a.free_balance, D(75000))  # 100,000 - 25,000: untouched
        self.assertEqual(self.a.realized_pnl, D("-3712.89"))

    def test_min_reduce_with_fee(self) -> None:
        self.build(liq_policy="min_reduce", liq_fee="0.001")
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.PartialLiquidation)
        # q = 385 / (47,700*(0.005 - 0.001)) = 385 / 190.8 = 2.01781..., up: 2.0179.
        self.assertEqual(e.qty, D("2.0179"))
        # Clearance fee on the fill price: 2.0179*47,700*0.001 = 96.25383, to the fund.
        self.assertEqual(e.fee, D("96.25383"))
        self.assertEqual(e.insurance_delta, D("96.25383"))
        self.assertEqual(e.realized_pnl, D("-4641.17"))  # 2.0179*(-2,300)
        # Margin: 25,000 - 4,641.17 - 96.25383 = 20,262.57617.
        self.assertEqual(e.margin, D("20262.57617"))
        self.assertEqual(e.amount, D("-4737.42383"))
        self.assertEqual(e.position_qty, D("7.9821"))
        # Remainder: Eq = 20,262.57617 - 7.9821*2,300 = 1,903.74617 > MM 7.9821*238.5
        # = 1,903.73085: healthy.
        self.assertEqual(self.eng.insurance_fund, D("96.25383"))
        self.assertEqual(self.a.fees, D("96.25383"))

    def test_min_reduce_fee_at_mmr_closes_in_full(self) -> None:
        self.build(liq_policy="min_reduce", liq_fee="0.01")
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        # f_liq 0.01 >= mmr 0.005: no partial sale helps; closed in full at the mark.
        self.assertIsInstance(e, ev.Liquidation)
        self.assertEqual(e.qty, D(10))
        self.assertEqual(e.price, D(47700))
        self.assertIs(e.fill, margin.FillPrice.MARK)
        # Fee 10*47,700*0.01 = 4,770, capped at what the holder has left at the fill:
        # Eq = 2,000.  The holder loses the margin 25,000: realized 2,000 - 25,000.
        self.assertEqual(e.fee, D(2000))
        self.assertEqual(e.realized_pnl, D(-23000))
        self.assertEqual(e.amount, D(-25000))
        self.assertEqual(e.insurance_delta, D(2000))  # what was left at the mark
        self.assertFalse(self.p.is_open)
        self.assertIs(self.p.status, margin.Status.LIQUIDATED)
        self.assertEqual(self.a.free_balance, D(75000))

    def test_full_with_clearance_fee_at_the_mark(self) -> None:
        self.build(liq_fee="0.004")
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.Liquidation)
        # Fee 10*47,700*0.004 = 1,908 < 2,000 left: charged in full; the holder still
        # loses exactly the margin: realized = 0 kept + 1,908 - 25,000 = -23,092.
        self.assertEqual(e.fee, D(1908))
        self.assertEqual(e.realized_pnl, D(-23092))
        # The fund receives all that was left at the mark: the fee and the 92 above it.
        self.assertEqual(e.insurance_delta, D(2000))
        self.assertEqual(self.eng.insurance_fund, D(2000))
        self.assertEqual(self.a.fees, D(1908))
        self.assertEqual(self.a.free_balance, D(75000))

    def test_fill_at_the_bankruptcy_price(self) -> None:
        self.build(liq_fill="bankruptcy", liq_fee="0.0125")
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.Liquidation)
        # Bankruptcy price: 25,000 + 10*(BP - 50,000) = 0 -> BP = 47,500.
        self.assertEqual(e.bankruptcy_price, D(47500))
        self.assertEqual(e.price, D(47500))
        self.assertIs(e.fill, margin.FillPrice.BANKRUPTCY)
        # At BP the holder has nothing left: no clearance fee, and it loses exactly the
        # margin.
        self.assertEqual(e.fee, D(0))
        self.assertEqual(e.realized_pnl, D(-25000))
        self.assertEqual(e.amount, D(-25000))
        # The fund takes the position over at 47,500 worth 47,700: 10*200 = 2,000.
        self.assertEqual(e.insurance_delta, D(2000))
        self.assertEqual(self.a.free_balance, D(75000))
        self.assertEqual(self.a.realized_pnl, D(-25000))

    def test_fill_at_the_liquidation_price(self) -> None:
        # Price scale 2: the liquidation price 475,000/9.95 = 47,738.6934... up: 47,738.70.
        self.build(price_scale=2, liq_fill="liq_price", liq_fee="0.001")
        self.assertEqual(self.p.liq_price, D("47738.70"))
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.Liquidation)
        self.assertEqual(e.price, D("47738.70"))
        self.assertIs(e.fill, margin.FillPrice.LIQ_PRICE)
        # Left at the fill: 25,000 + 10*(47,738.70 - 50,000) = 2,387.
        # Fee: 10*47,738.70*0.001 = 477.387; the holder keeps 2,387 - 477.387 = 1,909.613.
        self.assertEqual(e.fee, D("477.387"))
        self.assertEqual(e.realized_pnl, D(-22613))  # 1,909.613 + 477.387 - 25,000
        self.assertEqual(e.insurance_delta, D("477.387"))
        self.assertEqual(self.a.free_balance, D("76909.613"))  # 75,000 + 1,909.613

    def test_slices_cooldown_and_backstop(self) -> None:
        self.build(liq_policy="slices")
        self.eng.time = 1000
        self.m.mark_update("47700")
        (e,) = drain(self.eng)
        # Notional 477,000 > the threshold 100,000; equity 2,000 >= the backstop
        # 0.66666667*2,385 = 1,590.00...: one slice of 20 %, 2 BTC at the mark.
        self.assertIsInstance(e, ev.PartialLiquidation)
        self.assertEqual(e.qty, D(2))
        self.assertEqual(e.realized_pnl, D(-4600))  # 2*(47,700 - 50,000)
        self.assertEqual(e.margin, D(20400))  # 25,000 - 4,600
        self.assertEqual(e.position_qty, D(8))
        # 8 BTC: equity 20,400 - 8*2,300 = 2,000 > MM 8*238.5 = 1,908: healthy.
        # 10 s later (within the 30 s cooldown), at 47,600: equity 20,400 - 8*2,400 = 1,200
        # < MM 8*47,600*0.005 = 1,904: liquidated, in full because of the cooldown.
        self.eng.time = 11000
        self.m.mark_update("47600")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.Liquidation)
        self.assertEqual(e.qty, D(8))
        self.assertEqual(e.amount, D(-20400))

    def test_slices_backstop_closes_in_full(self) -> None:
        self.build(liq_policy="slices")
        self.m.mark_update("47600")
        (e,) = drain(self.eng)
        # Equity 25,000 - 10*2,400 = 1,000 < 0.66666667 * MM (10*47,600*0.005 = 2,380)
        # = 1,586.67: below the backstop, in full.
        self.assertIsInstance(e, ev.Liquidation)
        self.assertEqual(e.qty, D(10))


class TierDown(unittest.TestCase):
    """The issue's second worked check: tiers T1 floor 0 at 0.5 % (cum 0), T2 floor
    1,000,000 at 1 % (cum 5,000), T3 floor 2,000,000 at 1.5 % (cum 15,000); long 50 BTC,
    mark 50,000 (notional 2,500,000, T3: MM = 37,500 - 15,000 = 22,500).

    The position is entered at 51,000 with margin M, so that at 50,000 the equity is
    M + 50*(50,000 - 51,000) = M - 50,000."""

    def run_case(self, margin_: str) -> ev.PartialLiquidation:
        self.eng = margin.Engine()
        self.addCleanup(self.eng.close)
        m = self.eng.new_market(
            "BTCUSDT", maker_fee=0, taker_fee=0, liq_policy="tier_down",
            tiers=[("0", "0.005", None, "0"), ("1000000", "0.01", None, "5000"),
                   ("2000000", "0.015", None, "15000")])
        a = self.eng.new_account(deposit="200000")
        self.p = a.open_position(m, "long", "50", "51000", margin=margin_)
        self.assertEqual(self.p.margin, D(margin_))
        drain(self.eng)
        m.mark_update("50000")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.PartialLiquidation)
        self.assertEqual(e.price, D(50000))
        self.assertEqual(e.fee, D(0))
        return e  # type: ignore[return-value]

    def test_equity_20000_sells_500000(self) -> None:
        # M = 70,000: equity 20,000 < 22,500.  Down to T2's cap 2,000,000 = 40 BTC: sell 10
        # (500,000 of notional).  PnL -10,000 leaves margin 60,000; the 40 BTC have equity
        # 60,000 - 40,000 = 20,000 > MM 2,000,000*0.015 - 15,000 = 15,000.
        e = self.run_case("70000")
        self.assertEqual(e.qty, D(10))
        self.assertEqual(e.qty * e.price, D(500000))
        self.assertEqual(e.realized_pnl, D(-10000))
        self.assertEqual(e.margin, D(60000))
        self.assertEqual(e.position_qty, D(40))
        # Liquidation price after, in T2: 60,000 + 40*(P - 51,000) = 0.4*P - 5,000
        # -> P = 1,975,000 / 39.6 = 49,873.7373..., up at scale 8.
        self.assertEqual(e.liq_price, ceil_at(Fraction(1975000) / Fraction("39.6")))

    def test_equity_14000_sells_1500000(self) -> None:
        # M = 64,000: equity 14,000.  To 40 BTC: margin 54,000, equity 14,000 < 15,000:
        # still liquidatable.  To T1's cap 1,000,000 = 20 BTC: sell 30 (1,500,000);
        # margin 64,000 - 30,000 = 34,000, equity 34,000 - 20,000 = 14,000 > MM
        # 1,000,000*0.01 - 5,000 = 5,000.
        e = self.run_case("64000")
        self.assertEqual(e.qty, D(30))
        self.assertEqual(e.qty * e.price, D(1500000))
        self.assertEqual(e.realized_pnl, D(-30000))
        self.assertEqual(e.margin, D(34000))
        self.assertEqual(e.position_qty, D(20))
        # In T1: 34,000 + 20*(P - 51,000) = 0.1*P -> P = 986,000 / 19.9 = 49,547.738...
        self.assertEqual(e.liq_price, ceil_at(Fraction(986000) / Fraction("19.9")))


class Candle(unittest.TestCase):
    """The issue's stop example: a 20x long with a 2 % stop.  Long 1 BTC at 50,000, 20x:
    margin 2,500; stop-loss 49,000; no trading fee; mmr 0.5 % (liquidation price
    47,500/0.995 = 47,738.69..., below every price of the bar).  Bar: open 50,000, high
    50,100, low 48,000, close 48,500 (closes down: path open, high, low, close)."""

    def run_bar(self, stop_fill: str) -> ev.StopLoss:
        self.eng = margin.Engine()
        self.addCleanup(self.eng.close)
        m = self.eng.new_market("BTCUSDT", maker_fee=0, taker_fee=0, stop_fill=stop_fill,
                                tiers=[("0", "0.005", None, "0")])
        a = self.eng.new_account(deposit="10000")
        p = a.open_position(m, "long", "1", "50000", leverage=20)
        self.assertEqual(p.margin, D(2500))  # 50,000 / 20
        p.set_stops(stop_loss="49000")
        m.mark_update("50000")
        drain(self.eng)
        self.eng.mark_candle(m, "50000", "50100", "48000", "48500")
        (e,) = drain(self.eng)
        self.assertIsInstance(e, ev.StopLoss)
        # Points: 1 open 50,000, 2 high 50,100, 3 low 48,000: the stop is first reached
        # on the way to the low.
        self.assertEqual(e.path_point, 3)
        self.assertEqual(m.mark, D(48500))  # the close
        return e  # type: ignore[return-value]

    def test_stop_fills_at_its_price(self) -> None:
        e = self.run_bar("trigger")
        self.assertEqual(e.price, D(49000))
        self.assertIs(e.fill, margin.FillPrice.TRIGGER)
        self.assertEqual(e.realized_pnl, D(-1000))  # 1*(49,000 - 50,000): -40 % of 2,500

    def test_stop_fills_at_the_mark(self) -> None:
        e = self.run_bar("mark")
        self.assertEqual(e.price, D(48000))
        self.assertIs(e.fill, margin.FillPrice.MARK)
        self.assertEqual(e.realized_pnl, D(-2000))  # 1*(48,000 - 50,000): -80 % of 2,500

    def test_refusals(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            with self.assertRaises(margin.InvalidArgument):
                m.mark_candle("100", "90", "80", "95")  # high below the open
            with self.assertRaises(margin.InvalidArgument):
                m.mark_candle("100", "110", "90", "95", path="sideways")
            with self.assertRaises(margin.InvalidArgument):
                m.mark_candle("100", "110", "90", "95", path=2)
            self.assertIsNone(m.mark)  # nothing changed


class AdverseCandle(unittest.TestCase):
    """The adverse path (``MARGIN_PATH_ADVERSE``).  A long with stop-loss 49,000 and
    take-profit 51,000 and a short with stop-loss 51,000 and take-profit 49,000, each 1 BTC
    at 50,000, 20x (margin 2,500), in one account; no trading fee, mmr 0.5 %, stops fill at
    their price.  Bar: open 50,000, high 51,100, low 48,900, close 49,500 (closes down).

    - up-down (open, high, low, close) for both: at the high (point 2) the short is
      stopped at 51,000 (-1,000) and the long takes profit at 51,000 (+1,000);
    - adverse: the short walks the bar's order (its adverse extreme, the high, comes first
      in it) and is stopped at point 2 (-1,000); the long walks open, low, high, close and is
      stopped at the low, point 2, at 49,000 (-1,000)."""

    def run_bar(self, path) -> dict:
        eng = margin.Engine()
        self.addCleanup(eng.close)
        m = eng.new_market("BTCUSDT", maker_fee=0, taker_fee=0, stop_fill="trigger",
                           tiers=[("0", "0.005", None, "0")])
        a = eng.new_account(deposit="10000")
        m.mark_update("50000")
        lng = a.open_position(m, "long", "1", "50000", leverage=20)
        sht = a.open_position(m, "short", "1", "50000", leverage=20)
        lng.set_stops(stop_loss="49000", take_profit="51000")
        sht.set_stops(stop_loss="51000", take_profit="49000")
        drain(eng)
        eng.mark_candle(m, "50000", "51100", "48900", "49500", path=path)
        self.assertEqual(m.mark, D(49500))  # the close, on either path
        out = {}
        for e in drain(eng):
            side = "long" if e.position == lng.id else "short"
            out[side] = (type(e).__name__, e.path_point, e.price, e.realized_pnl)
        # 10,000 - 2 * 2,500 + each position's margin and PnL back
        free = D(5000) + sum(D(2500) + v[3] for v in out.values())
        self.assertEqual(a.free_balance, free)
        return out

    def test_updown(self) -> None:
        self.assertEqual(self.run_bar("updown"),
                         {"short": ("StopLoss", 2, D(51000), D(-1000)),
                          "long": ("TakeProfit", 2, D(51000), D(1000))})

    def test_adverse(self) -> None:
        want = {"short": ("StopLoss", 2, D(51000), D(-1000)),
                "long": ("StopLoss", 2, D(49000), D(-1000))}
        self.assertEqual(self.run_bar("adverse"), want)
        self.assertEqual(self.run_bar("ADVERSE"), want)
        self.assertEqual(self.run_bar(margin._capi.MARGIN_PATH_ADVERSE), want)


if __name__ == "__main__":
    unittest.main()
