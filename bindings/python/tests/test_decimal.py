"""Exact Decimal <-> fixed-point conversion."""

from __future__ import annotations

import decimal
import os
import sys
import unittest
from decimal import Decimal as D

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402


class ToFixed(unittest.TestCase):
    def test_values(self) -> None:
        cases = [
            # value, scale, units (value * 10**scale by hand)
            ("1", 8, 100000000),
            ("20", 8, 2000000000),  # 20x leverage
            ("0.004", 8, 400000),  # 0.4 %
            ("-0.5", 8, -50000000),
            ("+12", 0, 12),
            ("20000.10", 2, 2000010),
            ("0.00000001", 8, 1),
            ("92233720368.54775807", 8, 2**63 - 1),
            ("-92233720368.54775808", 8, -(2**63)),
        ]
        for text, scale, units in cases:
            with self.subTest(value=text, scale=scale):
                self.assertEqual(margin.to_fixed(text, scale), units)
                self.assertEqual(margin.to_fixed(D(text), scale), units)

    def test_ints_and_exponents(self) -> None:
        self.assertEqual(margin.to_fixed(3, 8), 300000000)
        self.assertEqual(margin.to_fixed(-3, 0), -3)
        self.assertEqual(margin.to_fixed(D("1E+3"), 2), 100000)
        self.assertEqual(margin.to_fixed(D("1.50000000000000000000"), 1), 15)  # zeros are fine
        self.assertEqual(margin.to_fixed(D("-0"), 8), 0)
        self.assertEqual(margin.to_fixed(D("0E-30"), 8), 0)

    def test_no_rounding(self) -> None:
        for value in (D("0.123456789"), "0.123456789", D("1E-9"), D("1E-1000")):
            with self.subTest(value=value):
                with self.assertRaises(margin.RangeError):
                    margin.to_fixed(value, 8)
        with self.assertRaises(margin.Overflow):
            margin.to_fixed(D("92233720368.54775808"), 8)
        with self.assertRaises(margin.Overflow):
            margin.to_fixed(D("1E+1000000"), 8)
        with self.assertRaises(margin.Overflow):
            margin.to_fixed(2**63, 0)

    def test_independent_of_context(self) -> None:
        with decimal.localcontext() as ctx:
            ctx.prec = 3
            ctx.traps[decimal.Inexact] = True
            self.assertEqual(margin.to_fixed(D("12345.678"), 8), 1234567800000)
            self.assertEqual(str(margin.from_fixed(1234567800000, 8)), "12345.678")


class FromFixed(unittest.TestCase):
    def test_values(self) -> None:
        cases = [
            (100000000, 8, "1"),
            (10000000000, 8, "100"),
            (2000000000, 8, "20"),
            (400000, 8, "0.004"),
            (-150000000, 8, "-1.5"),
            (0, 8, "0"),
            (1, 8, "0.00000001"),
            (2**63 - 1, 8, "92233720368.54775807"),
            (-(2**63), 8, "-92233720368.54775808"),
            (2000010, 2, "20000.1"),
            (12, 0, "12"),
        ]
        for units, scale, text in cases:
            with self.subTest(units=units):
                got = margin.from_fixed(units, scale)
                self.assertIsInstance(got, D)
                self.assertEqual(format(got, "f"), text)
                self.assertEqual(got, D(text))
                # Same text as the library's own formatter.
                self.assertEqual(margin.format_fixed(units, scale), text)
                self.assertEqual(margin.to_fixed(got, scale), units)


if __name__ == "__main__":
    unittest.main()
