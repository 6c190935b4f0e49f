"""docs/formulas.md: the figures of the *Example* paragraphs of sections 1 to 9 (the
isolated formulas), recomputed by the library through the binding.

Each check names a figure as docs/formulas.md writes it (`19,076.30522089`): the test
fails when the section no longer shows it, or when the library computes another value.
"""

from __future__ import annotations

import os
import re
import sys
import unittest
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402

import margin  # noqa: E402

FORMULAS = os.path.join(support.top_srcdir(), "docs", "formulas.md")


def read_sections() -> dict:
    """Section number -> its text, whitespace made single spaces."""
    with open(FORMULAS, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        m = re.match(r"(\d+)\.", part)
        if m:
            out[int(m.group(1))] = " ".join(part.split())
    return out


class Formulas(unittest.TestCase):
    sections: dict = {}

    @classmethod
    def setUpClass(cls) -> None:
        cls.sections = read_sections()

    def shows(self, section: int, figure: str, value: object) -> None:
        """Section *section* writes *figure*, and the library's *value* is its last number."""
        self.assertIn(figure, self.sections[section],
                      f"formulas.md section {section} no longer shows {figure}")
        written = re.findall(r"-?\d[\d,]*(?:\.\d+)?", figure)[-1].replace(",", "")
        self.assertEqual(Decimal(value), Decimal(written),  # type: ignore[arg-type]
                         f"section {section}: the library gives {value}, the text {figure}")

    def seed(self, eng: margin.Engine, side: str = "long", **market: object) -> margin.Position:
        """The seed position: 0.1 at 20,000, 20x, one tier of 0.4 %, taker fee 0.0004."""
        btc = eng.new_market("BTCUSDT", taker_fee="0.0004", **market)  # type: ignore[arg-type]
        acct = eng.new_account(deposit="1000")
        return acct.open_position(btc, side, qty="0.1", price="20000", leverage=20)

    def test_1_notional_margin_fee(self) -> None:
        with margin.Engine() as eng:
            pos = self.seed(eng)
            self.shows(1, "N = 0.1*20,000 = 2,000", 2000)
            self.shows(1, "2,000", pos.notional())
            self.shows(1, "IM = 2,000/20 = 100", 100)
            self.shows(1, "100", pos.initial_margin())
            self.shows(1, "100", pos.margin)
            self.shows(1, "0.8", pos.fees)
            self.shows(1, "899.2", pos.account.free_balance)

    def test_2_pnl_and_entry(self) -> None:
        with margin.Engine() as eng:
            pos = self.seed(eng)
            self.shows(2, "-91", pos.unrealized_pnl("19090"))
            self.shows(2, "B = 100 - 91 = 9", pos.margin_balance("19090"))
            self.shows(2, "-91 %", pos.roe("19090") * 100)
            pos.buy("0.2", "19000")
            self.shows(2, "19,333.33333334", pos.entry_price)

    def test_3_tiers(self) -> None:
        with margin.Engine() as eng:
            btc = eng.new_market("BTCUSDT", tiers=[("0", "0.004"), ("50000", "0.005"),
                                                   ("250000", "0.01"), ("1000000", "0.025")])
            cums = [t.maint_amount for t in btc.tiers]
            self.shows(3, "cum_1 = 50,000*0.001 = 50", cums[1])
            self.shows(3, "1,300", cums[2])
            self.shows(3, "16,300", cums[3])
            acct = eng.new_account(deposit="100000")
            pos = acct.open_position(btc, "long", qty="15", price="20000", leverage=20)
            self.assertEqual(pos.notional(), Decimal("300000"))
            self.shows(3, "300,000*0.01 - 1,300 = 1,700", pos.maint_margin())

    def test_4_maintenance_and_ratio(self) -> None:
        with margin.Engine() as eng:
            pos = self.seed(eng)
            self.shows(4, "7.636", pos.maint_margin("19090"))
            self.shows(4, "0.84844445", pos.margin_ratio("19090"))
        with margin.Engine() as eng:
            pos = self.seed(eng, mm_basis=margin.MMBasis.ENTRY, close_fee="0.0005")
            self.shows(4, "8 + 0.95 = 8.95", pos.maint_margin())

    def test_5_liquidation_price(self) -> None:
        with margin.Engine() as eng:
            self.shows(5, "19,076.30522089", self.seed(eng).liquidation_price())
        with margin.Engine() as eng:
            self.shows(5, "20,916.33466135", self.seed(eng, "short").liquidation_price())
        with margin.Engine() as eng:
            pos = self.seed(eng, mm_basis=margin.MMBasis.ENTRY)
            self.shows(5, "(100 - 8)/0.1 = 19,080", pos.liquidation_price())
        with margin.Engine() as eng:
            pos = self.seed(eng, mm_basis=margin.MMBasis.ENTRY, close_fee="0.0005")
            self.shows(5, "19,089.5", pos.liquidation_price())
        with margin.Engine() as eng:  # the tier loop
            m = eng.new_market("M", tiers=[("0", "0.01", None, "0"),
                                           ("10000", "0.02", None, "100")])
            acct = eng.new_account(deposit="10000")
            pos = acct.open_position(m, "long", qty="1", price="10000", leverage=10)
            self.shows(5, "9,090.90909091", pos.liquidation_price())

    def test_6_bankruptcy_price(self) -> None:
        with margin.Engine() as eng:
            self.shows(6, "20,000 - 100/0.1 = 19,000", self.seed(eng).bankruptcy_price())

    def test_7_margin_call_prices(self) -> None:
        with margin.Engine() as eng:
            self.shows(7, "19,095.47738694", self.seed(eng).margin_call_price())
        with margin.Engine(margin_call_levels=["0.7"]) as eng:
            self.shows(7, "19,109.19540230", self.seed(eng).margin_call_price())

    def test_8_removable_margin(self) -> None:
        with margin.Engine() as eng:
            pos = self.seed(eng)
            self.shows(8, "MM = 0.1*20,500*0.004 = 8.2", pos.maint_margin("20500"))
            self.shows(8, "removable `47.5`", pos.removable_margin("20500"))
            self.shows(8, "47.5", pos.removable_margin("20500"))

    def test_9_funding(self) -> None:
        with margin.Engine() as eng:
            pos = self.seed(eng)
            pos.market.funding("0.0001", "20000")
            self.shows(9, "0.1*20,000*0.0001 = 0.2", -pos.funding)
            self.shows(9, "99.8", pos.margin)
            self.shows(9, "19,078.31325302", pos.liquidation_price())
        with margin.Engine() as eng:  # freqtrade's vector
            m = eng.new_market("M")
            acct = eng.new_account(deposit="100")
            pos = acct.open_position(m, "short", qty="10", price="2", leverage=1)
            m.funding("0.0001", "2")
            self.shows(9, "10*2*0.0001 = 0.002", pos.funding)


if __name__ == "__main__":
    unittest.main()
