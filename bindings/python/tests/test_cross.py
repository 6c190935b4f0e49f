"""Cross margin (issue 11) through the binding: the account's mode per market, cross
positions, the account figures, the liquidation policy, the events' mode and the cross
liquidation event.  Every expected amount is a hand calculation written beside it."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any, Callable, List, Tuple, Type

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import F, ceil_at  # noqa: E402

import margin  # noqa: E402
from margin import _capi  # noqa: E402
from margin import events as ev  # noqa: E402
from margin.enums import parse_mode  # noqa: E402

D = Decimal
CROSS = margin.Mode.CROSS
ISOLATED = margin.Mode.ISOLATED


def cents(x: Decimal) -> Decimal:
    """A price rounded to 2 decimals, as the spec's vectors are printed."""
    return x.quantize(D("0.01"), rounding=ROUND_HALF_EVEN)


class BinanceVectors(unittest.TestCase):
    """../shared/spec/margin-math.md, "Binance calculator example" (freqtrade's
    test_liquidation_price_binance), cross rows: one account, cross in ETH and BTC,
    WB = 1535443.01; the liquidation prices are read from the positions themselves."""

    WB = "1535443.01"
    # ETH: long 3683.979 @ 1456.84, one bracket mmr 0.10 cum 135365; mark 1335.18.
    QE, EE, PE = "3683.979", "1456.84", "1335.18"
    # BTC: long 109.488 @ 32481.98, the bracket (1000000, 0.025, 16300); mark 31967.27.
    QB, EB, PB = "109.488", "32481.98", "31967.27"

    def setUp(self) -> None:
        self.eng = margin.Engine()
        # Price scale 8 (finer than the vectors' 2 decimals), quantity scale 3, no fees
        # (so WB stays exactly 1535443.01 after the opens).
        common: Any = dict(price_scale=8, qty_scale=3, maker_fee=0, taker_fee=0)
        self.eth = self.eng.new_market("ETHUSDT", tiers=[("0", "0.1", "10", "135365")], **common)
        # freqtrade's BTC/USDT table, first five brackets (the position sits in the fourth
        # at every price involved, so the tier loop must find it).
        self.btc = self.eng.new_market(
            "BTCUSDT",
            tiers=[
                ("0", "0.004", None, "0"),
                ("50000", "0.005", None, "50"),
                ("250000", "0.01", None, "1300"),
                ("1000000", "0.025", None, "16300"),
                ("7500000", "0.05", None, "203800"),
            ],
            **common,
        )
        self.a = self.eng.new_account(deposit=self.WB)
        self.a.set_mode(self.eth, CROSS)
        self.a.set_mode(self.btc, "cross")
        # Opened before any mark (at marks = entries), 5x ETH and 20x BTC.
        self.pe = self.a.open_position(self.eth, "long", self.QE, self.EE, leverage=5, cross=True)
        self.pb = self.a.open_position(self.btc, "long", self.QB, self.EB, leverage=20, cross=True)

    def tearDown(self) -> None:
        self.eng.close()

    def test_opened_cross(self) -> None:
        for p in (self.pe, self.pb):
            self.assertEqual(p.mode, CROSS)
            self.assertEqual(p.margin, D(0))  # nothing moves out of the wallet
        self.assertEqual((self.a.mode(self.eth), self.a.mode(self.btc)), (CROSS, CROSS))
        self.assertEqual(self.a.cross_positions, 2)
        self.assertEqual(self.a.free_balance, D(self.WB))
        self.assertEqual(self.a.cross_wallet, D(self.WB))
        # IM = 3683.979*1456.84/5 + 109.488*32481.98/20
        #    = 1073393.593272 + 177819.351312 = 1251212.944584 (both exact at 8 decimals).
        self.assertEqual(self.a.cross_initial_margin, D("1251212.944584"))
        # At the entries: uPnL 0, available = WB - IM = 284230.065416.
        self.assertEqual(self.a.cross_unrealized_pnl, D(0))
        self.assertEqual(self.a.available, D("284230.065416"))

    def test_liquidation_prices(self) -> None:
        self.btc.mark_update(self.PB)
        self.eth.mark_update(self.PE)
        self.assertEqual(self.eng.liquidations, 0)
        wb = F(self.WB)
        qe, ee, pe = F(self.QE), F(self.EE), F(self.PE)
        qb, eb, pb = F(self.QB), F(self.EB), F(self.PB)
        # The other market's figures at its mark (exact at 8 decimals, so no rounding):
        upnl_b = qb * (pb - eb)  # 109.488 * -514.71 = -56354.56848
        mm_b = qb * pb * F("0.025") - 16300  # 3500032.45776*0.025 - 16300 = 71200.811444
        upnl_e = qe * (pe - ee)  # 3683.979 * -121.66 = -448192.88514
        mm_e = qe * pe * F("0.1") - 135365  # 4918775.08122*0.1 - 135365 = 356512.508122
        self.assertEqual(upnl_b, F("-56354.56848"))
        self.assertEqual(mm_e, F("356512.508122"))
        # LP = (WB - TMM_o + UPNL_o + cum - Q*E) / (Q*mmr - Q), a long rounded up:
        lp_e = (wb - mm_b + upnl_b + 135365 - qe * ee) / (qe * F("0.1") - qe)
        lp_b = (wb - mm_e + upnl_e + 16300 - qb * eb) / (qb * F("0.025") - qb)
        self.assertEqual(ceil_at(lp_e), D("1153.25646424"))  # 1153.2564642391...
        self.assertEqual(ceil_at(lp_b), D("26316.89326452"))  # 26316.8932645188...
        for p, lp, vector in ((self.pe, lp_e, "1153.26"), (self.pb, lp_b, "26316.89")):
            with self.subTest(market=p.market.symbol):
                self.assertEqual(p.liquidation_price(), ceil_at(lp))
                self.assertEqual(p.liq_price, ceil_at(lp))  # the trigger in force
                self.assertEqual(cents(p.liquidation_price()), D(vector))
        # The account figures at those marks.
        self.assertEqual(self.a.cross_wallet, D(self.WB))
        upnl = upnl_b + upnl_e  # -504547.45362
        mm = mm_b + mm_e  # 427713.319566
        balance = wb + upnl  # 1030895.55638
        self.assertEqual(self.a.cross_unrealized_pnl, D("-504547.45362"))
        self.assertEqual(self.a.cross_maint_margin, D("427713.319566"))
        self.assertEqual(self.a.cross_margin_balance, D("1030895.55638"))
        self.assertEqual(Fraction(self.a.cross_margin_balance), balance)
        self.assertEqual(Fraction(self.a.cross_maint_margin), mm)
        # ratio = ceil(MM / balance) at 8 decimals = 0.41489492 (0.4148949104...).
        self.assertEqual(self.a.margin_ratio, ceil_at(mm / balance))
        self.assertEqual(self.a.margin_ratio, D("0.41489492"))
        # available = max(0, min(WB + uPnL - IM, balance - MM - 1 unit))
        #           = max(0, min(-220317.388204, 603182.23681399)) = 0.
        self.assertEqual(self.a.available, D(0))


class Contrast(unittest.TestCase):
    """The contrast story of semantics.md: the same two longs and the same marks, once
    isolated and once cross.  BTCUSDT, price scale 2, quantity scale 3, one tier mmr 0.004
    cum 0, no fees.  A: 0.1 @ 20000 at 20x (IM 100); B: 0.1 @ 20000 at 5x (IM 400).
    600 deposited: 100 left free after the margins in both runs."""

    MARKS = ("20000", "19500", "19050", "18500", "18000", "17500", "16800", "17500")

    def run_story(self, mode: margin.Mode) -> Tuple[margin.Engine, margin.Account,
                                                    margin.Position, margin.Position,
                                                    List[Tuple[str, List[ev.Event], Any]]]:
        """The story in a new engine: (engine, account, A, B, [(mark, its events, the
        account's cross figures after it)])."""
        # No margin-call levels: the events are the liquidations alone.
        eng = margin.Engine(time=1, margin_call_levels=[])
        self.addCleanup(eng.close)
        btc = eng.new_market("BTCUSDT", price_scale=2, qty_scale=3, maker_fee=0, taker_fee=0,
                             close_fee=0, tiers=[("0", "0.004")])
        acct = eng.new_account(deposit="600")
        cross = mode is CROSS
        if cross:
            acct.set_mode(btc, CROSS)
        a = acct.open_position(btc, "long", "0.1", "20000", leverage=20, cross=cross)
        b = acct.open_position(btc, "long", "0.1", "20000", leverage=5, cross=cross)
        opened = list(eng.events())
        self.assertEqual([e.type_name for e in opened], ["deposit", "open", "open"])
        self.assertEqual([e.mode for e in opened[1:]], [mode, mode])
        self.assertEqual(acct.available, D("100"))  # 600 - 100 - 400 (IMs) in both runs
        self.check_identity(eng, acct, [])
        log: List[Tuple[str, List[ev.Event], Any]] = []
        for mark in self.MARKS:
            btc.mark_update(mark)
            evs = list(eng.events())
            figures = dict(
                wallet=acct.cross_wallet,
                upnl=acct.cross_unrealized_pnl,
                balance=acct.cross_margin_balance,
                mm=acct.cross_maint_margin,
                im=acct.cross_initial_margin,
                ratio=acct.margin_ratio,
                available=acct.available,
                positions=acct.cross_positions,
                lps=[p.liq_price if p.is_open else None for p in (a, b)],
            )
            log.append((mark, evs, figures))
            self.check_identity(eng, acct, [e for _, es, _ in log for e in es])
        return eng, acct, a, b, log

    def check_identity(self, eng: margin.Engine, acct: margin.Account,
                       events: List[ev.Event]) -> None:
        # Per account: free + isolated == deposits - withdrawals + realized - fees + funding.
        self.assertEqual(acct.free_balance + acct.isolated_margin,
                         acct.deposits - acct.withdrawals + acct.realized_pnl - acct.fees
                         + acct.funding)
        # Global (one account, no fees, no funding): free + isolated + fund == deposits +
        # the realized PnL and insurance deltas of the events since the opens.
        moved = sum(getattr(e, "realized_pnl", D(0)) + getattr(e, "insurance_delta", D(0))
                    for e in events)
        self.assertEqual(acct.free_balance + acct.isolated_margin + eng.insurance_fund,
                         D("600") + moved)

    def test_isolated(self) -> None:
        eng, acct, a, b, log = self.run_story(ISOLATED)
        self.assertEqual((a.mode, b.mode), (ISOLATED, ISOLATED))
        self.assertEqual(b.margin, D("400"))
        # B's LP = (20000 - 400/0.1)/(1 - 0.004) = 16064.257..., a long rounds up.
        self.assertEqual(b.liquidation_price(), D("16064.26"))
        for mark, evs, fig in log:
            self.assertEqual(fig["positions"], 0)  # no cross position: no cross figures
            self.assertEqual(fig["ratio"], D(0))
            self.assertEqual(fig["available"], D("100"))  # the free balance
            if mark != "19050":
                self.assertEqual(evs, [], f"no event at {mark}")
        (liq,) = log[2][1]  # 19050
        assert isinstance(liq, ev.Liquidation)
        self.assertEqual((liq.position, liq.mode), (a.id, ISOLATED))
        # A's LP = (20000 - 100/0.1)/(1 - 0.004) = 19076.305..., up.
        self.assertEqual(liq.liq_price, D("19076.31"))
        self.assertEqual(liq.price, D("19050"))
        # A loses exactly its margin; M + PnL = 100 + 0.1*(19050 - 20000) = 5 to the fund.
        self.assertEqual(liq.realized_pnl, D("-100"))
        self.assertEqual(liq.bankruptcy_price, D("19000"))  # 20000 - 100/0.1
        self.assertEqual(liq.insurance_delta, D("5"))
        self.assertEqual(liq.free_balance, D("100"))  # the free balance is not touched
        self.assertEqual(a.status, margin.Status.LIQUIDATED)
        # B survives the path: at 16800 its balance is 400 - 320 = 80 > MM 6.72.
        self.assertEqual(b.status, margin.Status.OPEN)
        self.assertEqual(b.margin_balance("16800"), D("80"))
        self.assertEqual(b.maint_margin("16800"), D("6.72"))
        self.assertEqual(eng.insurance_fund, D("5"))
        self.assertEqual(eng.liquidations, 1)
        self.assertEqual(eng.cross_evaluations, 0)  # no cross account to evaluate
        self.assertEqual(acct.free_balance, D("100"))  # intact
        self.assertEqual(acct.realized_pnl, D("-100"))
        # At the last mark 17500: equity = 100 + 400 + 0.1*(17500 - 20000) = 250.
        self.assertEqual(acct.equity, D("250"))

    def test_cross(self) -> None:
        eng, acct, a, b, log = self.run_story(CROSS)
        self.assertEqual((a.mode, b.mode), (CROSS, CROSS))
        self.assertEqual((a.margin, b.margin), (D(0), D(0)))  # no margin of their own
        for mark, evs, _ in log:
            if mark != "16800":
                self.assertEqual(evs, [], f"no event at {mark}")
        # One liquidation price for both legs: 600 + 0.2*(P - 20000) = 0.2*P*0.004
        # -> P = 3400/0.1992 = 17068.273..., a long rounds up.
        lp = D("17068.28")
        self.assertEqual(ceil_at(F("3400") / F("0.1992"), 2), lp)
        by_mark = {mark: fig for mark, _, fig in log[:6]}  # 20000 .. 17500, before 16800
        # At 19050: balance 600 + 0.2*(19050 - 20000) = 410 > MM 0.2*19050*0.004 = 15.24:
        # the shared balance absorbs A's loss, nothing is liquidated.
        self.assertEqual(by_mark["19050"], dict(
            wallet=D("600"), upnl=D("-190"), balance=D("410"), mm=D("15.24"), im=D("500"),
            ratio=D("0.03717074"),  # 15.24/410 = 0.037170731..., up
            available=D(0),  # max(0, min(600 - 190 - 500, 410 - 15.24 - 0.00000001))
            positions=2, lps=[lp, lp]))
        # At 17500: balance 600 - 500 = 100 > MM 0.2*17500*0.004 = 14; ratio 0.14.
        fig = by_mark["17500"]
        self.assertEqual((fig["balance"], fig["mm"], fig["ratio"]), (D("100"), D("14"), D("0.14")))
        # At 20000: available = min(600 - 500, 600 - 16 - 0.00000001) = 100.
        self.assertEqual(by_mark["20000"]["available"], D("100"))

        # At 16800 (a gap past 17068.28): balance 600 - 640 = -40 <= MM 13.44: both are
        # liquidated together at 16800, each with PnL 0.1*(16800 - 20000) = -320.
        mark, evs, after = log[6]
        self.assertEqual(mark, "16800")
        liq_a, liq_b, cross_liq = evs
        for e, p, wb_after in ((liq_a, a, D("280")), (liq_b, b, D("-40"))):
            assert isinstance(e, ev.Liquidation)
            self.assertEqual((e.position, e.market, e.mode), (p.id, p.market.id, CROSS))
            self.assertEqual(e.price, D("16800"))
            self.assertEqual(e.qty, D("0.1"))
            self.assertEqual(e.position_qty, D(0))
            self.assertEqual(e.realized_pnl, D("-320"))
            self.assertEqual((e.amount, e.margin, e.fee), (D(0), D(0), D(0)))
            self.assertEqual(e.free_balance, wb_after)  # WB after this close
            self.assertEqual(e.liq_price, lp)  # the cross liquidation price before
        self.assertEqual(liq_b.seq, liq_a.seq + 1)
        assert isinstance(cross_liq, ev.CrossLiquidation)
        self.assertEqual(cross_liq.type, margin.EventType.CROSS_LIQUIDATION)
        self.assertEqual(cross_liq.type_name, "cross_liquidation")
        self.assertEqual(cross_liq.seq, liq_b.seq + 1)
        self.assertEqual((cross_liq.account, cross_liq.market), (acct.id, a.market.id))
        self.assertEqual(cross_liq.raw[_capi.MARGIN_EVF_POSITION - 1], 0)
        self.assertEqual(cross_liq.mode, CROSS)
        # WB 600 - 640 = -40 and no cross position left: the fund covers the deficit 40.
        self.assertEqual(cross_liq.amount, D("40"))
        self.assertEqual(cross_liq.realized_pnl, D("40"))
        self.assertEqual(cross_liq.insurance_delta, D("-40"))
        self.assertEqual(cross_liq.free_balance, D(0))
        self.assertEqual(cross_liq.margin_ratio, D("Infinity"))  # balance -40 <= 0
        self.assertEqual(cross_liq.positions_closed, 2)
        # Realized PnL of the events adds up to the account's: -320 - 320 + 40 = -600.
        self.assertEqual(sum(e.realized_pnl for e in evs), D("-600"))
        self.assertEqual(acct.realized_pnl, D("-600"))
        self.assertEqual(after, dict(wallet=D(0), upnl=D(0), balance=D(0), mm=D(0), im=D(0),
                                     ratio=D(0), available=D(0), positions=0,
                                     lps=[None, None]))
        self.assertEqual((a.status, b.status), (margin.Status.LIQUIDATED,) * 2)
        self.assertEqual(eng.liquidations, 2)
        self.assertGreaterEqual(eng.cross_evaluations, 1)  # at least the liquidating one
        self.assertEqual(eng.insurance_fund, D("-40"))
        self.assertEqual(acct.free_balance, D(0))
        self.assertEqual(acct.mode(a.market), CROSS)  # the mode stays


class BadInput(unittest.TestCase):
    """Each refusal raises its exception and changes nothing."""

    def setUp(self) -> None:
        self.eng = margin.Engine(margin_call_levels=[])
        self.m = self.eng.new_market("BTCUSDT", price_scale=2, qty_scale=3, maker_fee=0,
                                     taker_fee=0, tiers=[("0", "0.004")])
        self.a = self.eng.new_account(deposit="600")
        list(self.eng.events())

    def tearDown(self) -> None:
        self.eng.close()

    def state(self) -> Tuple[Any, ...]:
        a = self.a
        return (a.free_balance, a.mode(self.m), a.cross_positions, a.open_positions,
                a.available, a.cross_margin_balance, a.withdrawals, self.eng.last_seq,
                self.eng.insurance_fund, [p.id for p in self.eng.positions(None)])

    def refused(self, cls: Type[margin.MarginError], fn: Callable[[], Any],
                engine_message: bool = True) -> None:
        before = self.state()
        with self.assertRaises(cls) as cm:
            fn()
        if engine_message:
            self.assertEqual(cm.exception.code, cls.CODE)
            self.assertEqual(cm.exception.message, self.eng.errmsg())
        self.assertEqual(self.state(), before, "a refused call changed something")

    def test_unknown_mode(self) -> None:
        self.refused(margin.InvalidArgument, lambda: self.a.set_mode(self.m, 2))
        self.refused(margin.InvalidArgument, lambda: self.a.set_mode(self.m, -1))
        # Refused by the binding before the library sees it:
        self.refused(margin.InvalidArgument, lambda: self.a.set_mode(self.m, "hedge"),
                     engine_message=False)
        with self.assertRaises(TypeError):
            self.a.set_mode(self.m, 1.0)  # type: ignore[arg-type]
        self.assertEqual(parse_mode("CROSS"), _capi.MARGIN_MODE_CROSS)
        self.refused(margin.NotFound, lambda: self.a.set_mode(99, CROSS))
        self.refused(margin.NotFound, lambda: self.a.mode(99))
        self.refused(margin.NotFound, lambda: margin.Account(self.eng, 99).mode(self.m))

    def test_switching_with_an_open_position(self) -> None:
        p = self.a.open_position(self.m, "long", "0.1", "20000", leverage=20)
        self.refused(margin.StateError, lambda: self.a.set_mode(self.m, CROSS))
        self.a.set_mode(self.m, ISOLATED)  # the mode in force: a no-op
        p.close("20000")
        self.a.set_mode(self.m, CROSS)  # allowed once no position is open
        q = self.a.open_position(self.m, "short", "0.1", "20000", leverage=20, cross=True)
        self.refused(margin.StateError, lambda: self.a.set_mode(self.m, ISOLATED))
        self.assertEqual(q.mode, CROSS)

    def test_flag_must_match_the_mode(self) -> None:
        # cross=True in an isolated market, cross=False in a cross market.
        self.refused(margin.StateError, lambda: self.a.open_position(
            self.m, "long", "0.1", "20000", leverage=20, cross=True))
        self.a.set_mode(self.m, CROSS)
        self.refused(margin.StateError, lambda: self.a.open_position(
            self.m, "long", "0.1", "20000", leverage=20))
        # A cross open takes a leverage and no margin.
        self.refused(margin.InvalidArgument, lambda: self.a.open_position(
            self.m, "long", "0.1", "20000", leverage=20, margin="100", cross=True))

    def test_cross_open_without_funds(self) -> None:
        self.a.set_mode(self.m, CROSS)
        # 0.1 @ 20000 at 1x needs IM 2000 > 600: available would be 600 - 2000 < 0.
        self.refused(margin.InsufficientFunds, lambda: self.a.open_position(
            self.m, "long", "0.1", "20000", leverage=1, cross=True))
        # IM 600 exactly, fees 0: available after it is 0, which is allowed...
        p = self.a.open_position(self.m, "long", "0.03", "20000", leverage=1, cross=True)
        self.assertEqual(self.a.available, D(0))
        # ...and then nothing more fits: IM 0.001*20000/125 = 0.16 > 0.
        self.refused(margin.InsufficientFunds, lambda: self.a.open_position(
            self.m, "long", "0.001", "20000", leverage=125, cross=True))
        self.refused(margin.InsufficientFunds, lambda: p.buy("0.001", "20000"))
        self.assertEqual(p.qty, D("0.03"))

    def test_withdrawal_that_would_liquidate(self) -> None:
        self.a.set_mode(self.m, CROSS)
        self.a.open_position(self.m, "long", "0.1", "20000", leverage=20, cross=True)
        self.a.open_position(self.m, "long", "0.1", "20000", leverage=5, cross=True)
        self.m.mark_update("17500")
        list(self.eng.events())
        # Balance 600 - 500 = 100, MM 14: taking 90 would leave 10 <= 14, a liquidation.
        # available = max(0, min(600 - 500 - 500, 100 - 14 - 1 unit)) = 0.
        self.assertEqual(self.a.available, D(0))
        self.refused(margin.InsufficientFunds, lambda: self.a.withdraw("90"))
        self.refused(margin.InsufficientFunds, lambda: self.a.withdraw("0.00000001"))
        # An isolated open elsewhere draws on the same available balance.
        eth = self.eng.new_market("ETHUSDT")
        self.refused(margin.InsufficientFunds, lambda: self.a.open_position(
            eth, "long", "1", "10", leverage=10))
        self.assertEqual(self.a.cross_wallet, D("600"))
        self.assertEqual(self.eng.liquidations, 0)

    def test_withdrawal_up_to_available(self) -> None:
        self.a.set_mode(self.m, CROSS)
        self.a.open_position(self.m, "long", "0.1", "20000", leverage=20, cross=True)
        # available = 600 - IM 100 = 500 (no mark: uPnL 0).
        self.assertEqual(self.a.available, D("500"))
        self.refused(margin.InsufficientFunds, lambda: self.a.withdraw("500.00000001"))
        self.a.withdraw("500")
        self.assertEqual((self.a.free_balance, self.a.available), (D("100"), D(0)))

    def test_unknown_policy(self) -> None:
        before = self.eng.cross_liquidation
        with self.assertRaises(margin.InvalidArgument):
            self.eng.cross_liquidation = 7  # type: ignore[assignment]
        with self.assertRaises(margin.InvalidArgument):
            self.eng.cross_liquidation = "sideways"  # type: ignore[assignment]
        self.assertEqual(self.eng.cross_liquidation, before)


class Api(unittest.TestCase):
    def test_enums(self) -> None:
        self.assertEqual((int(ISOLATED), int(CROSS)), (0, 1))
        P = margin.CrossLiquidationPolicy
        self.assertEqual((int(P.ALL), int(P.WORST_FIRST)), (0, 1))
        self.assertEqual(int(margin.EventType.CROSS_LIQUIDATION), 15)
        self.assertIs(ev.EVENT_CLASSES[15], ev.CrossLiquidation)
        self.assertEqual(ev.FIELD_COUNT, _capi.MARGIN_EVF_ADL_COVERED)

    def test_mode_round_trip(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("BTCUSDT")
            n = eng.new_market("ETHUSDT")
            a = eng.new_account()
            self.assertEqual(a.mode(m), ISOLATED)  # the default
            a.set_mode(m, "CROSS")
            self.assertEqual((a.mode(m), a.mode(n)), (CROSS, ISOLATED))  # per market
            self.assertEqual(a.mode(m.id), CROSS)
            a.set_mode(m.id, margin.Mode.ISOLATED)
            self.assertEqual(a.mode(m), ISOLATED)

    def test_policy_option(self) -> None:
        P = margin.CrossLiquidationPolicy
        with margin.Engine() as eng:
            self.assertIs(eng.cross_liquidation, P.ALL)  # the default
            eng.cross_liquidation = "worst_first"  # type: ignore[assignment]
            self.assertIs(eng.cross_liquidation, P.WORST_FIRST)
            self.assertEqual(eng.get(_capi.MARGIN_ENG_CROSS_LIQUIDATION), 1)
            eng.cross_liquidation = P.ALL
            self.assertIs(eng.cross_liquidation, P.ALL)
        with margin.Engine(cross_liquidation=P.WORST_FIRST) as eng:
            self.assertIs(eng.cross_liquidation, P.WORST_FIRST)

    def test_event_modes(self) -> None:
        # Isolated and cross positions of one account side by side: each event carries
        # its position's mode; the funding of the cross one is paid from the wallet.
        with margin.Engine(margin_call_levels=[]) as eng:
            btc = eng.new_market("BTCUSDT", maker_fee=0, taker_fee=0)
            eth = eng.new_market("ETHUSDT", maker_fee=0, taker_fee=0)
            a = eng.new_account(deposit="1000")
            a.set_mode(eth, CROSS)
            iso = a.open_position(btc, "long", "0.1", "20000", leverage=20)  # margin 100
            crs = a.open_position(eth, "short", "1", "2000", leverage=10, cross=True)
            self.assertEqual((iso.mode, crs.mode), (ISOLATED, CROSS))
            # The cross short receives 1*2000*0.0001 = 0.2 into the wallet.
            eth.funding("0.0001", "2000")
            crs.close("1990")  # PnL -1*(1990 - 2000) = +10 into the wallet
            evs = list(eng.events())
            got = [(e.type_name, e.mode) for e in evs]
            self.assertEqual(got[1:], [("open", ISOLATED), ("open", CROSS),
                                       ("funding", CROSS), ("close", CROSS)])
            self.assertEqual(evs[3].amount, D("0.2"))
            self.assertEqual(evs[4].realized_pnl, D("10"))
            # 1000 - 100 (isolated margin) + 0.2 + 10; the isolated margin is apart.
            self.assertEqual(a.free_balance, D("910.2"))
            self.assertEqual(a.cross_wallet, D("910.2"))
            self.assertEqual(a.isolated_margin, D("100"))
            self.assertEqual(a.cross_positions, 0)
            self.assertEqual(a.available, D("910.2"))  # no cross position left

    def test_sum_that_does_not_fit(self) -> None:
        # Two cross longs of 6000 @ 1 marked at 10,000,000: each uPnL (about 6e10) fits,
        # their sum does not: that figure raises Overflow, the others read.
        with margin.Engine(margin_call_levels=[]) as eng:
            a = eng.new_account(deposit="100000")
            for symbol in ("AUSDT", "BUSDT"):
                m = eng.new_market(symbol, price_scale=2, qty_scale=3, maker_fee=0,
                                   taker_fee=0)
                a.set_mode(m, CROSS)
                a.open_position(m, "long", "6000", "1", leverage=1, cross=True)
                m.mark_update("10000000")
            with self.assertRaises(margin.Overflow):
                a.cross_unrealized_pnl
            with self.assertRaises(margin.Overflow):
                a.cross_margin_balance
            # MM = 2 * 6000*10000000*0.004; available = WB - IM = 100000 - 12000.
            self.assertEqual(a.cross_maint_margin, D("480000000"))
            self.assertEqual(a.available, D("88000"))
            self.assertEqual(a.margin_ratio, D("0.004"))

    def test_account_margin_call(self) -> None:
        # A cross margin call is the account's: position 0, the account ratio.
        with margin.Engine(margin_call_levels=["0.1"]) as eng:
            btc = eng.new_market("BTCUSDT", price_scale=2, qty_scale=3, maker_fee=0,
                                 taker_fee=0)
            a = eng.new_account(deposit="600")
            a.set_mode(btc, CROSS)
            a.open_position(btc, "long", "0.1", "20000", leverage=20, cross=True)
            a.open_position(btc, "long", "0.1", "20000", leverage=5, cross=True)
            list(eng.events())
            btc.mark_update("18000")  # MM 14.4 / balance 200 = 0.072 < 0.1: no call
            self.assertEqual(list(eng.events()), [])
            btc.mark_update("17500")  # MM 14 / balance 100 = 0.14 >= 0.1: a call
            (call,) = list(eng.events())
            assert isinstance(call, ev.MarginCall)
            self.assertEqual((call.position, call.market, call.mode), (0, btc.id, CROSS))
            self.assertEqual((call.margin_ratio, call.level), (D("0.14"), D("0.1")))
            self.assertEqual(call.price, D("17500"))
            self.assertIsNone(call.side)

    def test_worst_first(self) -> None:
        # Two cross longs in two markets.  WORST_FIRST closes the larger loss first and
        # stops as soon as the account is healthy again.
        with margin.Engine(margin_call_levels=[], cross_liquidation="worst_first") as eng:
            kw: Any = dict(price_scale=2, qty_scale=3, maker_fee=0, taker_fee=0,
                           tiers=[("0", "0.01")])
            btc = eng.new_market("BTCUSDT", **kw)
            eth = eng.new_market("ETHUSDT", **kw)
            a = eng.new_account(deposit="360")
            a.set_mode(btc, CROSS)
            a.set_mode(eth, CROSS)
            pb = a.open_position(btc, "long", "0.1", "20000", leverage=10, cross=True)  # IM 200
            pe = a.open_position(eth, "long", "1", "100", leverage=10, cross=True)  # IM 10
            # ETH at 50: uPnL -50; balance 310 > MM 0.1*20000*0.01 + 1*50*0.01 = 20.5.
            eth.mark_update("50")
            list(eng.events())
            # BTC's cross LP, ETH at 50: (360 - 0.5 - 50 - 0.1*20000)/(0.1*0.01 - 0.1)
            # = -1690.5/-0.099 = 17075.757..., up.
            self.assertEqual(pb.liq_price, D("17075.76"))
            # BTC at 17000: uPnL -300, balance 360 - 300 - 50 = 10 <= MM 17 + 0.5.
            btc.mark_update("17000")
            evs = list(eng.events())
            self.assertEqual([e.type_name for e in evs], ["liquidation", "cross_liquidation"])
            liq, cross_liq = evs
            # The worst loss (BTC, -300) closes: WB 360 - 300 = 60; ETH alone: balance
            # 60 - 50 = 10 > MM 0.5: healthy, it stays open.
            self.assertEqual((liq.position, liq.realized_pnl), (pb.id, D("-300")))
            self.assertEqual(liq.free_balance, D("60"))
            self.assertEqual(liq.liq_price, D("17075.76"))
            assert isinstance(cross_liq, ev.CrossLiquidation)
            self.assertEqual(cross_liq.positions_closed, 1)
            self.assertEqual(cross_liq.margin_ratio, D("1.75"))  # 17.5 / 10
            self.assertEqual((cross_liq.amount, cross_liq.free_balance), (D(0), D("60")))
            self.assertTrue(pe.is_open)
            self.assertEqual((a.cross_positions, a.cross_wallet), (1, D("60")))
            self.assertEqual(a.cross_margin_balance, D("10"))
            self.assertEqual(eng.insurance_fund, D(0))


if __name__ == "__main__":
    unittest.main()
