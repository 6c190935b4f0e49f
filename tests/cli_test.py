#!/usr/bin/env python3
"""Tests of the `margin` command-line tool (tools/margin): `margin calc` (issue 3) and
`margin replay` (issue 4), their cross-margin options (issue 11) and their liquidation
options and candles (issue 13).

Standard library only. Every expected number is a published vector from
../shared/spec/margin-math.md or is computed here by hand from the spec's formulas with
Decimal (the derivations are written out next to each case); nothing is pasted from a run
of the tool. Run through `make check` (tests/cli.sh), or by hand:
    top_builddir=/path/to/build top_srcdir=/path/to/src python3 tests/cli_test.py -v
"""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, getcontext

getcontext().prec = 60

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
MARGIN = os.path.join(BUILDDIR, "tools", "margin")
SHARED_CSV = os.path.join(SRCDIR, "..", "shared", "data", "btcusdt-1m-2023-03-01_21.csv")

Q8 = Decimal("0.00000001")
D = Decimal


def run(*args):
    """Run `margin ARGS...`; return (exit status, stdout, stderr)."""
    p = subprocess.run([MARGIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


# JSON keys written as numbers (ids, counts, sequence numbers) and as plain text; every
# other value is a decimal, which the tool writes as a JSON string (issue 10, item 9).
INT_KEYS = {"seq", "position", "marks", "open_positions", "liquidated", "positions_closed",
            "path_point", "counterparty", "deleveraged"}
TEXT_KEYS = {"side", "time", "type", "mode", "run", "fill", "liquidation_policy", "contract",
             "settlement"}


def loads(text):
    """Parse one JSON object of the tool, checking the types: a decimal must be a JSON
    string (exact; a JSON number would become a float in most readers), an id, count or
    sequence number a JSON integer. Decimals come back as exact Decimals."""
    def no_float(tok):
        raise AssertionError("JSON number %s: decimals must be JSON strings" % tok)
    obj = json.loads(text, parse_float=no_float)
    out = {}
    for k, v in obj.items():
        if k in INT_KEYS:
            if type(v) is not int:
                raise AssertionError("%s: %r is not a JSON integer" % (k, v))
            out[k] = v
        elif k in TEXT_KEYS or v is None:
            out[k] = v
        elif isinstance(v, str):
            out[k] = Decimal(v)
        else:
            raise AssertionError("%s: %r is not a JSON string (decimals are strings)" % (k, v))
    return out


def up(x):
    return x.quantize(Q8, rounding=ROUND_CEILING)


def down(x):
    return x.quantize(Q8, rounding=ROUND_FLOOR)


def liq_price_mark(side, m, q, e, mmr, cum=D(0), f=D(0)):
    """Spec, policy mark: LP = (M + cum - s*Q*E) / (Q*(mmr + f) - s*Q), rounded against
    the holder (long up, short down); None for a long whose LP would be <= 0."""
    s = 1 if side == "long" else -1
    lp = (m + cum - s * q * e) / (q * (mmr + f) - s * q)
    if side == "long":
        return None if lp <= 0 else up(lp)
    return down(lp)


def initial_margin(q, e, lev):
    """IM = Q*E/L, rounded up (the holder owes it)."""
    return up(q * e / lev)


NUMBER_RE = re.compile(r'[-+]?\d[\d.]*(?:[eE][-+]?\d+)?')


class CalcVectors(unittest.TestCase):
    """The spec's public vectors through `margin calc --json`."""

    def calc(self, *args):
        rc, out, err = run("calc", *args, "--json")
        self.assertEqual(rc, 0, "margin calc %s failed: %s" % (" ".join(map(str, args)), err))
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertEqual(len(lines), 1, out)
        # Plain decimal notation: no exponent anywhere in the numbers.
        self.assertNotRegex(out, r'\d[eE][-+]?\d', out)
        return loads(out)

    KEYS = {"side", "entry_price", "quantity", "notional", "leverage", "margin",
            "initial_margin", "maintenance_rate", "maintenance_amount", "maintenance_margin",
            "liquidation_price", "bankruptcy_price", "mark_price", "unrealized_pnl",
            "margin_balance", "margin_ratio", "roe"}

    def test_seed_example(self):
        # 100 USDT at 20x = a 2,000 USDT position: 0.1 BTC at 20000. mmr 0.004, cum 0.
        #   BP = E - M/Q = 20000 - 100/0.1 = 19000 (a 5 % drop erases the margin).
        #   LP = (100 + 0 - 0.1*20000) / (0.1*0.004 - 0.1) = -1900 / -0.0996
        #      = 19076.3052208835... -> long rounds up: 19076.30522089.
        #   At mark 20000: MM = 2000*0.004 = 8, balance 100, ratio 8/100 = 0.08, ROE 0.
        for qty_args in (("--qty", "0.1"), ("--notional", "2000")):
            with self.subTest(qty_args=qty_args):
                r = self.calc("--side", "long", "--entry", "20000", *qty_args,
                              "--leverage", "20")
                self.assertEqual(set(r), self.KEYS)
                self.assertEqual(r["side"], "long")
                self.assertEqual(r["entry_price"], D("20000"))
                self.assertEqual(r["quantity"], D("0.1"))
                self.assertEqual(r["notional"], D("2000"))
                self.assertEqual(r["leverage"], D("20"))
                self.assertEqual(r["margin"], D("100"))
                self.assertEqual(r["initial_margin"], D("100"))
                self.assertEqual(r["maintenance_rate"], D("0.004"))
                self.assertEqual(r["maintenance_amount"], D("0"))
                self.assertEqual(r["maintenance_margin"], D("8"))
                self.assertEqual(r["bankruptcy_price"], D("19000"))
                self.assertEqual(r["liquidation_price"], D("19076.30522089"))
                self.assertEqual(r["liquidation_price"],
                                 liq_price_mark("long", D(100), D("0.1"), D(20000), D("0.004")))
                self.assertEqual(r["mark_price"], D("20000"))
                self.assertEqual(r["unrealized_pnl"], D("0"))
                self.assertEqual(r["margin_balance"], D("100"))
                self.assertEqual(r["margin_ratio"], D("0.08"))
                self.assertEqual(r["roe"], D("0"))

    def test_seed_at_other_marks(self):
        # At 19500: uPnL = 0.1*(19500-20000) = -50, balance 50, MM = 1950*0.004 = 7.8,
        # ratio 7.8/50 = 0.156, ROE = -50/100 = -0.5.
        r = self.calc("--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "20",
                      "--mark", "19500")
        self.assertEqual(r["mark_price"], D("19500"))
        self.assertEqual(r["unrealized_pnl"], D("-50"))
        self.assertEqual(r["margin_balance"], D("50"))
        self.assertEqual(r["maintenance_margin"], D("7.8"))
        self.assertEqual(r["margin_ratio"], D("0.156"))
        self.assertEqual(r["roe"], D("-0.5"))
        # The liquidation and bankruptcy prices do not depend on the mark.
        self.assertEqual(r["liquidation_price"], D("19076.30522089"))
        self.assertEqual(r["bankruptcy_price"], D("19000"))
        # At the bankruptcy price 19000 the balance is exactly 0: no finite ratio (null).
        r = self.calc("--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "20",
                      "--mark", "19000")
        self.assertEqual(r["margin_balance"], D("0"))
        self.assertIsNone(r["margin_ratio"])
        self.assertEqual(r["maintenance_margin"], D("7.6"))  # 1900 * 0.004
        self.assertEqual(r["roe"], D("-1"))

    def test_binance_faq(self):
        # Long, wallet (M) 500, notional 1000 at 50000 (Q = 0.02), mmr 0.004: LP 25100.40.
        #   Exactly: (500 - 1000) / (0.02*0.004 - 0.02) = 25100.4016064257... -> up.
        r = self.calc("--side", "long", "--entry", "50000", "--notional", "1000",
                      "--margin", "500")
        self.assertEqual(r["quantity"], D("0.02"))
        self.assertEqual(r["leverage"], D("2"))  # only --margin: 1000 / 500
        self.assertEqual(r["liquidation_price"].quantize(D("0.01"), ROUND_HALF_EVEN),
                         D("25100.40"))
        self.assertEqual(r["liquidation_price"], D("25100.40160643"))

    # freqtrade test_get_liquidation_price: M = Q*E/L, mmr 0.01.
    FREQTRADE = [
        # venue, side, L, E, Q, LP
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

    def test_freqtrade_rows(self):
        # Binance rows: cum = 0.01, f = 0. Gate/OKX rows: cum = 0, f = 0.0006.
        for venue, side, lev, e, q, want in self.FREQTRADE:
            with self.subTest(venue=venue, side=side, lev=lev, entry=e, qty=q):
                extra = (["--mm-amount", "0.01"] if venue == "binance"
                         else ["--fee-to-close", "0.0006"])
                r = self.calc("--side", side, "--entry", e, "--qty", q, "--leverage", lev,
                              "--mmr", "0.01", *extra)
                lp = r["liquidation_price"]
                self.assertLessEqual(abs(lp - D(want)), D("1e-8"),
                                     "%s %s: got %s want %s" % (venue, side, lp, want))
                # And exactly what the formula gives with M = Q*E/L rounded up.
                m = initial_margin(D(q), D(e), D(lev))
                self.assertEqual(r["margin"], m)
                cum = D("0.01") if venue == "binance" else D(0)
                f = D(0) if venue == "binance" else D("0.0006")
                self.assertEqual(lp, liq_price_mark(side, m, D(q), D(e), D("0.01"), cum, f))

    def test_binance_calculator_isolated(self):
        # Isolated rows of freqtrade test_liquidation_price_binance (2 decimals).
        rows = [("3683.979", "1456.84", "0.10", "135365", "1114.78"),
                ("109.488", "32481.98", "0.025", "16300", "18778.73")]
        for q, e, mmr, cum, want in rows:
            with self.subTest(qty=q, entry=e):
                r = self.calc("--side", "long", "--entry", e, "--qty", q,
                              "--margin", "1535443.01", "--mmr", mmr, "--mm-amount", cum)
                self.assertEqual(r["margin"], D("1535443.01"))
                lp = r["liquidation_price"]
                self.assertEqual(lp.quantize(D("0.01"), ROUND_HALF_EVEN), D(want))
                self.assertEqual(lp, liq_price_mark("long", D("1535443.01"), D(q), D(e),
                                                    D(mmr), D(cum)))

    def test_notional_rounds_quantity_down(self):
        # --notional 1000 at 3: Q = 333.333333333... -> 333.33333333 (down); value Q*E.
        r = self.calc("--side", "short", "--entry", "3", "--notional", "1000",
                      "--leverage", "10")
        self.assertEqual(r["quantity"], D("333.33333333"))
        self.assertEqual(r["notional"], D("999.99999999"))
        # margin = Q*E/L = 99.999999999 -> rounded up 100.
        self.assertEqual(r["margin"], D("100"))

    def test_add_margin(self):
        # Adding X = 10 to the seed long moves LP down by X/(Q*(1 - mmr)) = 10/0.0996:
        # new LP = (110 - 2000)/(0.0004 - 0.1) = 18975.9036144578... -> 18975.90361446.
        r = self.calc("--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "20",
                      "--add-margin", "10")
        self.assertEqual(r["margin"], D("110"))
        self.assertEqual(r["initial_margin"], D("100"))
        self.assertEqual(r["liquidation_price"], D("18975.90361446"))
        moved = D("19076.3052208835341365461847389558232931726907630522") - r["liquidation_price"]
        self.assertLess(abs(moved - D(10) / D("0.0996")), D("2e-8"))

    def test_entry_basis(self):
        # Policy entry: MM_e = Q*E*mmr - cum = 2000*0.004 = 8,
        # LP = E - s*(M - MM_e)/Q = 20000 - (100 - 8)/0.1 = 19080.
        r = self.calc("--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "20",
                      "--mm-basis", "entry")
        self.assertEqual(r["liquidation_price"], D("19080"))
        self.assertEqual(r["bankruptcy_price"], D("19000"))

    def test_short_with_margin_only(self):
        # Short 1 at 10 with margin 2: leverage 10/2 = 5, BP = 10 + 2/1 = 12,
        # LP = (2 + 10)/(0.004 + 1) = 11.9521912350597... -> short rounds down 11.95219123.
        r = self.calc("--side", "short", "--entry", "10", "--qty", "1", "--margin", "2")
        self.assertEqual(r["leverage"], D("5"))
        self.assertEqual(r["bankruptcy_price"], D("12"))
        self.assertEqual(r["liquidation_price"], D("11.95219123"))

    def test_prices_and_sizes_beyond_the_default_range(self):
        # A calculator's market is sized to the prices it is given (the library's default
        # maximum price is 10,000,000). Long 1 at 20,000,000, 10x: M = 2,000,000,
        # LP = (M - Q*E)/(Q*(mmr - 1)) = -18,000,000/-0.996 = 18,072,289.156626506...,
        # a long rounds up: 18072289.15662651.
        r = self.calc("--side", "long", "--entry", "20000000", "--qty", "1", "--leverage", "10")
        self.assertEqual(r["liquidation_price"], D("18072289.15662651"))
        # Short 100,000,000 at 100, 10x (worth 10^10): M = 10^9,
        # LP = (M + Q*E)/(Q*(1 + mmr)) = 1.1e10/(1.004e8) = 109.561752988..., down 109.56175298.
        r = self.calc("--side", "short", "--entry", "100", "--qty", "100000000",
                      "--leverage", "10")
        self.assertEqual(r["liquidation_price"], D("109.56175298"))

    def test_long_that_cannot_be_liquidated(self):
        # Margin 20 on a position worth 10: leverage 1 with extra margin;
        # LP = (20 - 10)/(0.004 - 1) < 0: none (null). BP = 10 - 20 < 0: 0.
        r = self.calc("--side", "long", "--entry", "10", "--qty", "1", "--margin", "20")
        self.assertEqual(r["leverage"], D("1"))
        self.assertEqual(r["margin"], D("20"))
        self.assertIsNone(r["liquidation_price"])
        self.assertEqual(r["bankruptcy_price"], D("0"))

    def test_tiers_file(self):
        # The spec's BTC/USDT tiers; two amounts omitted (derived by the recurrence:
        # cum_2 = 50000*(0.005-0.004) + 0 = 50, cum_4 = 1000000*(0.025-0.01) + 1300 = 16300).
        # Long Q=3 at 20000, 10x: M = 6000, entry notional 60000 -> tier [50000, 250000):
        #   mmr 0.005, cum 50, MM at entry = 60000*0.005 - 50 = 250.
        #   LP with that tier = (6000 + 50 - 60000)/(3*0.005 - 3) = 53950/2.985
        #      = 18073.7018425460636... -> up 18073.70184255; LP*Q = 54221.1 is in the
        #   same tier, so the search is consistent.
        text = ("# BTC/USDT maintenance tiers (freqtrade conftest)\n"
                "floor_notional,mmr,maintenance_amount\n"
                "0,0.004,0\n"
                "50000,0.005\n"
                "250000,0.01,1300   # given\n"
                "\n"
                "1000000,0.025\n")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tiers.csv")
            with open(path, "w") as f:
                f.write(text)
            r = self.calc("--side", "long", "--entry", "20000", "--qty", "3",
                          "--leverage", "10", "--tiers", path)
            self.assertEqual(r["maintenance_rate"], D("0.005"))
            self.assertEqual(r["maintenance_amount"], D("50"))
            self.assertEqual(r["maintenance_margin"], D("250"))
            self.assertEqual(r["liquidation_price"], D("18073.70184255"))
            # At a mark where Q*P = 3*400000 = 1,200,000: tier 4, cum derived 16300,
            # MM = 1200000*0.025 - 16300 = 13700.
            r = self.calc("--side", "long", "--entry", "20000", "--qty", "3",
                          "--leverage", "10", "--tiers", path, "--mark", "400000")
            self.assertEqual(r["maintenance_rate"], D("0.025"))
            self.assertEqual(r["maintenance_amount"], D("16300"))
            self.assertEqual(r["maintenance_margin"], D("13700"))

    def test_tiny_values_are_plain_decimals(self):
        rc, out, err = run("calc", "--side", "long", "--entry", "1", "--qty", "0.00000001",
                           "--leverage", "1", "--json")
        self.assertEqual(rc, 0, err)
        self.assertIn('"quantity": "0.00000001"', out)
        for tok in NUMBER_RE.findall(out):
            self.assertNotRegex(tok, "[eE]")

    def test_readable_table(self):
        rc, out, err = run("calc", "--side", "long", "--entry", "20000", "--notional", "2000",
                           "--leverage", "20")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"liquidation price\s+19076\.30522089")
        self.assertRegex(out, r"bankruptcy price\s+19000")
        self.assertRegex(out, r"margin\s+100\b")


class CalcIssue10(unittest.TestCase):
    def test_decimals_are_json_strings(self):
        # With the standard parser and no options, a decimal comes back as the exact text.
        rc, out, err = run("calc", "--side", "long", "--entry", "20000", "--notional", "2000",
                           "--leverage", "20", "--json")
        self.assertEqual(rc, 0, err)
        r = json.loads(out)
        self.assertEqual(r["liquidation_price"], "19076.30522089")
        self.assertEqual(r["quantity"], "0.1")
        self.assertEqual(r["margin"], "100")
        for k, v in r.items():
            self.assertTrue(v is None or isinstance(v, str), (k, v))

    def test_help_documents_json_strings(self):
        for args in (("help",), ("help", "calc"), ("help", "replay")):
            rc, out, err = run(*args)
            self.assertEqual(rc, 0, err)
            self.assertIn("JSON string", out, args)

    def test_1x_long_bankruptcy_price_in_words(self):
        # A 1x long: M = Q*E, BP = E - M/Q = 0: it goes bankrupt only at a price of 0, so
        # never. The value stays 0 (JSON "0"), the words say "never".
        args = ("calc", "--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "1")
        rc, out, err = run(*args)
        self.assertEqual(rc, 0, err)
        line = next(l for l in out.splitlines() if "bankruptcy price" in l)
        self.assertRegex(line, r"bankruptcy price\s+0\s")
        self.assertIn("never", line)
        self.assertNotIn("margin is gone", line)
        rc, out, err = run(*args, "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["bankruptcy_price"], "0")
        # A 20x long keeps its price and its explanation.
        rc, out, err = run("calc", "--side", "long", "--entry", "20000", "--qty", "0.1",
                           "--leverage", "20")
        line = next(l for l in out.splitlines() if "bankruptcy price" in l)
        self.assertRegex(line, r"bankruptcy price\s+19000\s")
        self.assertNotIn("never", line)


class CalcErrors(unittest.TestCase):
    """Bad arguments: exit 2, one line on stderr naming the argument, nothing on stdout."""

    BASE = ["--side", "long", "--entry", "20000", "--qty", "0.1", "--leverage", "20"]

    def with_(self, **changes):
        """BASE with options replaced (value None removes the option)."""
        args = list(self.BASE)
        for name, value in changes.items():
            opt = "--" + name.replace("_", "-")
            if opt in args:
                i = args.index(opt)
                del args[i:i + 2]
            if value is not None:
                args += [opt, value]
        return args

    def expect_usage(self, args, name):
        rc, out, err = run("calc", *args)
        self.assertEqual(rc, 2, "args %s: rc %d, stderr %r" % (args, rc, err))
        self.assertEqual(out, "", "args %s wrote to stdout" % (args,))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "args %s: stderr %r" % (args, err))
        self.assertIn(name, lines[0])

    def test_bad_arguments(self):
        cases = [
            (self.with_(side=None), "--side"),
            (self.with_(side="sideways"), "--side"),
            (self.with_(entry=None), "--entry"),
            (self.with_(entry="abc"), "--entry"),
            (self.with_(entry="0"), "--entry"),
            (self.with_(entry="-20000"), "--entry"),
            (self.with_(entry="20000.123456789"), "--entry"),  # 9 decimals
            (self.with_(entry="2e4"), "--entry"),
            (self.with_(qty=None), "--qty"),
            (self.with_(qty="1e-1"), "--qty"),
            (self.with_(qty="0"), "--qty"),
            (self.with_(notional="2000"), "--notional"),  # with --qty
            (self.with_(qty=None, notional="0.00000001"), "--notional"),  # rounds to 0
            (self.with_(leverage=None), "--leverage"),
            (self.with_(leverage="0.5"), "--leverage"),
            (self.with_(leverage="5000"), "--leverage"),
            (self.with_(leverage="x"), "--leverage"),
            (self.with_(margin="50"), "--margin"),  # below Q*E/L = 100
            # 300x: margin 2000/300 = 6.67 < MM 2000*0.004 = 8, liquidated at once; only
            # --leverage was given, so it is the argument to name
            (self.with_(leverage="300"), "--leverage"),
            (self.with_(margin="-1"), "--margin"),
            (self.with_(add_margin="0"), "--add-margin"),
            (self.with_(mmr="1.5"), "--mmr"),
            (self.with_(mmr="0"), "--mmr"),
            (self.with_(mm_amount="abc"), "--mm-amount"),
            (self.with_(fee_to_close="NaN"), "--fee-to-close"),
            (self.with_(mm_basis="liquidation"), "--mm-basis"),
            (self.with_(mark="0"), "--mark"),
            (self.with_(mark="inf"), "--mark"),
            (self.with_(tiers="/nonexistent/tiers.csv"), "--tiers"),
            (self.BASE + ["--frobnicate"], "--frobnicate"),
            (self.BASE + ["extra"], "extra"),
            (self.BASE + ["--mark"], "--mark"),  # missing value
        ]
        for args, name in cases:
            with self.subTest(args=args):
                self.expect_usage(args, name)

    def test_bad_tiers_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.csv")
            with open(bad, "w") as f:
                f.write("floor_notional,mmr\n0,0.004\n50000,zero\n")
            self.expect_usage(self.with_(tiers=bad), "--tiers")
            rc, _, err = run("calc", *self.with_(tiers=bad))
            self.assertIn("line 3", err)
            good = os.path.join(tmp, "good.csv")
            with open(good, "w") as f:
                f.write("0,0.004\n")
            self.expect_usage(self.with_(tiers=good) + ["--mmr", "0.01"], "--tiers")

    def test_overflow_is_a_computation_error(self):
        # Q*E = 9e10 * 9e10 does not fit in 64 bits at 8 decimals: exit 1, a message.
        rc, out, err = run("calc", "--side", "long", "--entry", "90000000000",
                           "--qty", "90000000000", "--leverage", "1", "--json")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertNotEqual(err.strip(), "")

    def test_help_and_version(self):
        rc, out, _ = run("calc", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--fee-to-close", out)
        rc, out, _ = run("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^margin \d+\.\d+\.\d+")
        rc, out, err = run("frobnicate")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("frobnicate", err)
        rc, out, err = run()
        self.assertEqual((rc, out), (2, ""))


REPLAY_KEYS = {
    "open": {"side", "entry_price", "quantity", "margin", "liquidation_price"},
    "margin_call": {"margin_ratio", "liquidation_price"},
    "liquidation": {"liquidation_price", "bankruptcy_price", "realized_pnl",
                    "insurance_fund_delta"},
    "stop_loss": {"exit_price", "realized_pnl"},
    "take_profit": {"exit_price", "realized_pnl"},
    "funding": {"payment", "margin", "liquidation_price"},
    "cross_liquidation": {"margin_ratio", "positions_closed", "deficit", "realized_pnl",
                          "insurance_fund_delta", "wallet_balance"},
}
# Every event says the mode of its position (or of the cross account); the summary gives
# the account's free balance (issue 11).
COMMON_KEYS = {"seq", "time", "type", "position", "mark", "mode"}
SUMMARY_KEYS = {"type", "marks", "open_positions", "liquidated", "realized_pnl", "free_balance",
                "insurance_fund"}


class ReplayBase(unittest.TestCase):
    def replay_json(self, *args):
        rc, out, err = run("replay", *args, "--json")
        self.assertEqual(rc, 0, "margin replay %s: %s" % (" ".join(args), err))
        self.assertNotRegex(out, r'\d[eE][-+]?\d')
        objs = [loads(line) for line in out.splitlines()]
        self.assertTrue(objs)
        # Shape: every event has exactly its keys; the last line is the summary.
        for i, o in enumerate(objs[:-1]):
            self.assertIn(o["type"], REPLAY_KEYS)
            self.assertEqual(set(o), COMMON_KEYS | REPLAY_KEYS[o["type"]], o)
            self.assertEqual(o["seq"], i + 1)
            self.assertIsInstance(o["time"], str)
            self.assertIn(o["mode"], ("isolated", "cross"))
        self.assertEqual(objs[-1]["type"], "summary")
        self.assertEqual(set(objs[-1]), SUMMARY_KEYS)
        return objs[:-1], objs[-1]

    def write(self, tmp, name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class ReplayDemo(ReplayBase):
    def test_demo_runs_with_no_arguments(self):
        rc, out, err = run("replay")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        lines = out.splitlines()
        # The event log shows position 1 liquidated ...
        self.assertTrue(any(re.search(r"#1\s+LIQUIDATED", l) for l in lines), out)
        self.assertFalse(any(re.search(r"#2\s+LIQUIDATED", l) for l in lines), out)
        # ... and the summary says position 2 is still open and the free balance untouched.
        self.assertTrue(any(re.search(r"#1\s+long\s+liquidated", l) for l in lines), out)
        self.assertTrue(any(re.search(r"#2\s+short\s+still open", l) for l in lines), out)
        self.assertRegex(out, r"free balance: 1000 after opening, 1000 now")

    def test_demo_json(self):
        events, summary = self.replay_json()
        opens = {o["position"]: o for o in events if o["type"] == "open"}
        self.assertEqual(set(opens), {1, 2})
        long_ = opens[1]
        # The seed: 0.1 BTC at 20000, 100 USDT of margin (20x), LP as in the calc test.
        self.assertEqual(long_["side"], "long")
        self.assertEqual(long_["entry_price"], D("20000"))
        self.assertEqual(long_["quantity"], D("0.1"))
        self.assertEqual(long_["margin"], D("100"))
        self.assertEqual(long_["liquidation_price"], D("19076.30522089"))
        self.assertEqual(opens[2]["side"], "short")
        liqs = [o for o in events if o["type"] == "liquidation"]
        self.assertEqual([o["position"] for o in liqs], [1])
        liq = liqs[0]
        # Liquidated at a mark at or below its liquidation price; it loses exactly its
        # margin; BP = E - M/Q = 19000; the fund gets Q*(mark - BP).
        self.assertLessEqual(liq["mark"], liq["liquidation_price"])
        self.assertEqual(liq["liquidation_price"], D("19076.30522089"))
        self.assertEqual(liq["bankruptcy_price"], D("19000"))
        self.assertEqual(liq["realized_pnl"], D("-100"))
        self.assertEqual(liq["insurance_fund_delta"], D("0.1") * (liq["mark"] - D(19000)))
        # The path falls more than 5 % below the first mark (20000).
        self.assertLess(liq["mark"], D("20000"))
        # A margin call (level 0.8) on position 1 came first, in the warning band:
        # the level price is 0.8*(100 - 2000)/(0.1*(0.004 - 0.8)) = 19095.4773869...
        calls = [o for o in events if o["type"] == "margin_call"]
        self.assertTrue(calls)
        self.assertEqual(calls[0]["position"], 1)
        self.assertLess(calls[0]["seq"], liq["seq"])
        self.assertGreaterEqual(calls[0]["margin_ratio"], D("0.8"))
        self.assertLess(calls[0]["margin_ratio"], D("1"))
        self.assertEqual(summary["liquidated"], 1)
        self.assertEqual(summary["open_positions"], 1)
        self.assertEqual(summary["realized_pnl"], D("-100"))
        self.assertEqual(summary["insurance_fund"], liq["insurance_fund_delta"])
        # Every position is isolated; the 1000 free stays free (issue 11 keys).
        self.assertEqual({o["mode"] for o in events}, {"isolated"})
        self.assertEqual(summary["free_balance"], D("1000"))


class ReplayFiles(ReplayBase):
    def test_ohlc_file_hand_computed(self):
        # Long notional=1000 at the first mark 100, 10x: Q = 10, M = 100, mmr 0.004.
        #   LP = (100 - 1000)/(10*0.004 - 10) = 900/9.96 = 90.3614457831... -> 90.36144579
        #   BP = 100 - 100/10 = 90.
        #   Margin call at 0.8: P = 0.8*(100 - 1000)/(10*(0.004 - 0.8)) = 90.4522613065...
        # Short notional=500, 5x: Q = 5, M = 100, LP = (100 + 500)/(0.02 + 5) = 119.52...
        # Marks: row t1 (close >= open) 100, 99, 101, 100.5
        #        row t2 (close < open)  100.5, 100.6, 95, 96
        #        row t3 (close < open)  96, 96, 90.4, 92  -> margin call at 90.4:
        #             MM = 10*90.4*0.004 = 3.616, balance = 100 + 10*(90.4 - 100) = 4,
        #             ratio 3.616/4 = 0.904
        #        row t4 (close < open)  92, 92.5, 88, 89  -> liquidation at 88, a gap past
        #             BP: realized -100, insurance 10*(88 - 90) = -20
        #        row t5 (close >= open) 89, 88.5, 91, 90.5
        text = ("time,open,high,low,close,volume\n"
                "t1,100,101,99,100.5,1\n"
                "t2,100.5,100.6,95,96,1\n"
                "t3,96,96,90.4,92,1\n"
                "t4,92,92.5,88,89,1\n"
                "t5,89,91,88.5,90.5,1\n")
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", text)
            events, summary = self.replay_json(
                "--prices", path, "--position", "side=long,notional=1000,leverage=10",
                "--position", "side=short,notional=500,leverage=5")
        got = [(o["type"], o["position"], o["time"], o["mark"]) for o in events]
        self.assertEqual(got, [
            ("open", 1, "t1", D("100")),
            ("open", 2, "t1", D("100")),
            ("margin_call", 1, "t3", D("90.4")),
            ("liquidation", 1, "t4", D("88")),
        ])
        self.assertEqual(events[0]["quantity"], D("10"))
        self.assertEqual(events[0]["margin"], D("100"))
        self.assertEqual(events[0]["liquidation_price"], D("90.36144579"))
        self.assertEqual(events[1]["quantity"], D("5"))
        self.assertEqual(events[1]["liquidation_price"],
                         liq_price_mark("short", D(100), D(5), D(100), D("0.004")))
        self.assertEqual(events[2]["margin_ratio"], D("0.904"))
        liq = events[3]
        self.assertEqual(liq["bankruptcy_price"], D("90"))
        self.assertEqual(liq["realized_pnl"], D("-100"))
        self.assertEqual(liq["insurance_fund_delta"], D("-20"))
        self.assertEqual(summary["marks"], 20)
        self.assertEqual(summary["liquidated"], 1)
        self.assertEqual(summary["open_positions"], 1)
        self.assertEqual(summary["realized_pnl"], D("-100"))
        self.assertEqual(summary["insurance_fund"], D("-20"))

    def test_ohlc_order_low_first_or_high_first(self):
        # Long 1 at 100, 10x, stop 98, take 101.5. A candle 100/102/97 hits both:
        # close >= open: marks open, LOW, high -> the stop fires first at 97 (PnL -3);
        # close < open: marks open, HIGH, low -> the take-profit fires first at 102 (+2).
        spec = "side=long,qty=1,leverage=10,stop=98,take=101.5"
        for close, typ, exit_, pnl in (("101", "stop_loss", "97", "-3"),
                                       ("99", "take_profit", "102", "2")):
            with self.subTest(close=close), tempfile.TemporaryDirectory() as tmp:
                path = self.write(tmp, "p.csv", "open_time,open,high,low,close\n"
                                  "2023-01-01 00:00,100,102,97,%s\n" % close)
                events, summary = self.replay_json("--prices", path, "--position", spec)
                exits = [o for o in events if o["type"] != "open"]
                self.assertEqual(len(exits), 1, events)
                self.assertEqual(exits[0]["type"], typ)
                self.assertEqual(exits[0]["time"], "2023-01-01 00:00")
                self.assertEqual(exits[0]["exit_price"], D(exit_))
                self.assertEqual(exits[0]["mark"], D(exit_))
                self.assertEqual(exits[0]["realized_pnl"], D(pnl))
                self.assertEqual(summary["open_positions"], 0)
                self.assertEqual(summary["liquidated"], 0)
                self.assertEqual(summary["realized_pnl"], D(pnl))

    def test_price_column_funding(self):
        # One mark per row from the `price` column. Long and short of Q = 10 at 100, 10x
        # (M = 100 each). Funding 0.01 every 2 rows at mark 100: payment Q*P*F = 10.
        #   long:  -10 at row 2 (margin 90), -10 at row 4 (margin 80);
        #          LP at M = 90: (90 - 1000)/(0.04 - 10) = 91.3654618473... -> 91.36546185
        #   short: +10 (110), +10 (120); LP at 110: (110 + 1000)/(0.04 + 10) = 110.55776...
        text = "when,price\nr1,100\nr2,100\nr3,100\nr4,100\nr5,100\n"
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", text)
            events, summary = self.replay_json(
                "--prices", path, "--position", "side=long,qty=10,leverage=10",
                "--position", "side=short,qty=10,leverage=10",
                "--funding", "0.01", "--funding-every", "2")
        fund = [(o["position"], o["time"], o["payment"], o["margin"])
                for o in events if o["type"] == "funding"]
        self.assertEqual(fund, [(1, "r2", D(-10), D(90)), (2, "r2", D(10), D(110)),
                                (1, "r4", D(-10), D(80)), (2, "r4", D(10), D(120))])
        first = [o for o in events if o["type"] == "funding"][:2]
        self.assertEqual(first[0]["liquidation_price"], D("91.36546185"))
        self.assertEqual(first[1]["liquidation_price"],
                         liq_price_mark("short", D(110), D(10), D(100), D("0.004")))
        self.assertEqual(summary["marks"], 5)
        self.assertEqual(summary["open_positions"], 2)

    def test_funding_alone_liquidates(self):
        # Long Q = 10 at 100, 10x (M = 100), rate 0.048 every row at mark 100: pays 48 a row.
        # Row 1: M = 52, LP = (52 - 1000)/(-9.96) = 95.18 < 100: nothing more.
        # Row 2: M = 4 = MM (10*100*0.004): LP = 996/9.96 = 100 >= mark: liquidated at once,
        #   no margin call; realized -4; BP = 100 - 4/10 = 99.6; fund 10*(100 - 99.6) = 4.
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "t,mark\na,100\nb,100\nc,100\n")
            events, summary = self.replay_json(
                "--prices", path, "--position", "side=long,qty=10,leverage=10",
                "--funding", "0.048", "--funding-every", "1")
        got = [(o["type"], o["time"]) for o in events]
        self.assertEqual(got, [("open", "a"), ("funding", "a"), ("funding", "b"),
                               ("liquidation", "b")])
        self.assertEqual(events[1]["margin"], D(52))
        self.assertEqual(events[2]["payment"], D(-48))
        self.assertEqual(events[2]["margin"], D(4))
        liq = events[3]
        self.assertEqual(liq["realized_pnl"], D(-4))
        self.assertEqual(liq["bankruptcy_price"], D("99.6"))
        self.assertEqual(liq["insurance_fund_delta"], D(4))
        self.assertEqual(summary["liquidated"], 1)

    def test_position_options(self):
        # mmr=0.01, entry given, margin given: long 1 at 100 with margin 10 (10x):
        # LP = (10 - 100)/(0.01 - 1) = 90.9090909... -> 90.90909091. Marks stay at 95.
        # Margin-call levels 0.5 and 0.9 at mark 95: MM = 0.95, balance 10 - 5 = 5,
        # ratio 0.19: none. Fee 0.001: the open charges 0.1, the free balance pays it.
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "t,close\na,95\nb,95\n")
            events, summary = self.replay_json(
                "--prices", path,
                "--position", "side=long,qty=1,entry=100,margin=10,mmr=0.01",
                "--margin-call", "0.5", "--margin-call", "0.9", "--fee", "0.001")
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["entry_price"], D("100"))
        self.assertEqual(events[0]["mark"], D("95"))
        self.assertEqual(events[0]["margin"], D("10"))
        self.assertEqual(events[0]["liquidation_price"], D("90.90909091"))
        self.assertEqual(summary["marks"], 2)

    def test_readable_file_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "t,mark\nx1,100\nx2,89\n")
            rc, out, err = run("replay", "--prices", path, "--position",
                               "side=long,qty=10,leverage=10")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"x2\s+#1\s+LIQUIDATED\s+89")
        self.assertRegex(out, r"#1 long\s+liquidated at x2")

    def test_malformed_line_names_its_number(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "time,open,high,low,close\n"
                              "a,1,2,1,2\nb,2,3,1,2\nc,2,x,1,2\n")
            rc, out, err = run("replay", "--prices", path)
            self.assertEqual(rc, 2, err)
            self.assertEqual(out, "")
            self.assertIn("line 4", err)
            path = self.write(tmp, "q.csv", "time,mark\na,1\nb\n")
            rc, out, err = run("replay", "--prices", path)
            self.assertEqual((rc, out), (2, ""))
            self.assertIn("line 3", err)
            path = self.write(tmp, "r.csv", "time,volume\na,1\n")
            rc, out, err = run("replay", "--prices", path)
            self.assertEqual((rc, out), (2, ""))
            self.assertIn("line 1", err)
            # an impossible candle (high below the open) is malformed too
            path = self.write(tmp, "s.csv", "time,open,high,low,close\na,1,2,1,2\nb,100,99,98,99\n")
            rc, out, err = run("replay", "--prices", path)
            self.assertEqual((rc, out), (2, ""))
            self.assertIn("line 3", err)

    def test_bad_arguments(self):
        cases = [
            (["--position", "side=up,qty=1,leverage=10"], "--position"),
            (["--position", "qty=1,leverage=10"], "--position"),
            (["--position", "side=long,leverage=10"], "--position"),
            (["--position", "side=long,qty=1"], "--position"),
            (["--position", "side=long,qty=1,leverage=10,color=red"], "--position"),
            (["--position", "side=long,qty=1,leverage=10,stop=1e3"], "--position"),
            (["--funding", "0.01"], "--funding"),
            (["--funding-every", "8"], "--funding-every"),
            (["--funding", "0.01", "--funding-every", "0"], "--funding-every"),
            (["--funding", "2", "--funding-every", "1"], "--funding"),
            (["--margin-call", "1.5"], "--margin-call"),
            (["--mmr", "abc"], "--mmr"),
            (["--fee", "-0.1"], "--fee"),
            (["--prices", "/nonexistent/prices.csv"], "--prices"),
            (["--tiers", "/nonexistent/tiers.csv"], "--tiers"),
            (["--bogus"], "--bogus"),
        ]
        for args, name in cases:
            with self.subTest(args=args):
                rc, out, err = run("replay", *args)
                self.assertEqual(rc, 2, "args %s: rc %d, %r" % (args, rc, err))
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(name, err)


class ReplayIssue10(ReplayBase):
    PRICES = "time,mark\n1,20000\n2,19500\n3,19000\n"

    def test_position_liquidatable_at_the_first_mark_is_refused(self):
        # Long 0.1 at 30000, 20x: M = 0.1*30000/20 = 150,
        # LP = (150 - 0.1*30000)/(0.1*0.004 - 0.1) = -2850/-0.0996 = 28614.4578313253...,
        # rounded up 28614.45783133 >= the first mark 20000: liquidatable at once.
        # Short 0.1 at 10000, 20x: M = 50, LP = (50 + 1000)/(0.0004 + 0.1) = 10458.1673306...,
        # rounded down 10458.16733067 <= 20000: liquidatable at once too.
        cases = [("side=long,qty=0.1,leverage=20,entry=30000", "28614.45783133", "30000"),
                 ("side=short,qty=0.1,leverage=20,entry=10000", "10458.16733067", "10000")]
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", self.PRICES)
            for spec, lp, entry in cases:
                ok = "side=long,qty=0.1,leverage=20"  # opens at the first mark: fine
                for json_ in ((), ("--json",)):
                    rc, out, err = run("replay", "--prices", path, "--position", ok,
                                       "--position", spec, *json_)
                    self.assertEqual(rc, 2, (spec, out, err))
                    self.assertEqual(out, "", spec)
                    lines = err.splitlines()
                    self.assertEqual(len(lines), 1, err)
                    self.assertIn(spec, lines[0])
                    self.assertIn("position 2", lines[0])
                    self.assertIn("liquidated at once", lines[0])
                    self.assertRegex(lines[0], r"first mark 20000\b")
                    self.assertRegex(lines[0], r"liquidation price %s\b" % re.escape(lp))
                    self.assertRegex(lines[0], r"entry %s\b" % entry)

    def test_entry_away_from_the_first_mark_still_opens(self):
        # Long 0.1 at 19000, 20x: M = 95, LP = (95 - 1900)/(-0.0996) = 18122.48995983...,
        # below the first mark 20000: it opens, and is not liquidated at 19500 or 19000
        # (both above 18122.49).
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", self.PRICES)
            events, summary = self.replay_json(
                "--prices", path, "--position", "side=long,qty=0.1,leverage=20,entry=19000")
            self.assertEqual(events[0]["type"], "open")
            self.assertEqual(events[0]["liquidation_price"], D("18122.48995984"))
            self.assertEqual(summary["liquidated"], 0)
            self.assertEqual(summary["open_positions"], 1)

    def test_json_types(self):
        rc, out, err = run("replay", "--json")
        self.assertEqual(rc, 0, err)
        objs = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(objs[0]["seq"], 1)
        self.assertEqual(objs[0]["position"], 1)
        self.assertEqual(objs[0]["mark"], "20000")
        self.assertEqual(objs[0]["liquidation_price"], "19076.30522089")
        self.assertIsInstance(objs[-1]["marks"], int)
        self.assertIsInstance(objs[-1]["insurance_fund"], str)


@unittest.skipUnless(os.path.isfile(SHARED_CSV), "needs ../shared/data (not present)")
class ReplayRealData(ReplayBase):
    def test_20x_long_on_march_2023(self):
        # A 20x long of notional 2000 opened at the first mark (the first candle's open).
        # Independently of the engine: Q = floor8(2000/E), M = ceil8(Q*E/20), LP from the
        # spec's formula (mmr 0.004), the margin-call level price from the header's rule
        # (0.8*(M - Q*E))/(Q*(0.004 - 0.8)) rounded up; then walk the marks in the CSV.
        marks = []  # (time, mark) in the order the contract defines
        with open(SHARED_CSV, newline="") as f:
            for row in csv.DictReader(f):
                o, h, lo, c = (D(row[k]) for k in ("open", "high", "low", "close"))
                seq = [o, lo, h, c] if c >= o else [o, h, lo, c]
                marks.extend((row["open_time"], m) for m in seq)
        e = marks[0][1]
        q = (D(2000) / e).quantize(Q8, rounding=ROUND_FLOOR)
        m = up(q * e / 20)
        lp = liq_price_mark("long", m, q, e, D("0.004"))
        call = up(D("0.8") * (m - q * e) / (q * (D("0.004") - D("0.8"))))
        first_liq = next(i for i, (_, p) in enumerate(marks) if p <= lp)
        first_call = next(i for i, (_, p) in enumerate(marks) if p <= call)

        events, summary = self.replay_json(
            "--prices", SHARED_CSV, "--position", "side=long,notional=2000,leverage=20")
        self.assertEqual(events[0]["type"], "open")
        self.assertEqual(events[0]["entry_price"], e)
        self.assertEqual(events[0]["quantity"], q)
        self.assertEqual(events[0]["margin"], m)
        self.assertEqual(events[0]["liquidation_price"], lp)
        liqs = [o for o in events if o["type"] == "liquidation"]
        self.assertEqual(len(liqs), 1)
        liq = liqs[0]
        self.assertEqual((liq["time"], liq["mark"]), marks[first_liq])
        self.assertEqual(liq["realized_pnl"], -m)
        bp = up(e - m / q)
        self.assertEqual(liq["bankruptcy_price"], bp)
        self.assertEqual(liq["insurance_fund_delta"], down(q * (liq["mark"] - e) + m))
        calls = [o for o in events if o["type"] == "margin_call"]
        if first_call == first_liq:
            # The fall crossed the warning band within one mark step: no warning at all.
            self.assertEqual(calls, [])
        else:
            self.assertEqual((calls[0]["time"], calls[0]["mark"]), marks[first_call])
        self.assertEqual(summary["marks"], len(marks))
        self.assertEqual(summary["liquidated"], 1)
        self.assertEqual(summary["open_positions"], 0)


# ---------------------------------------------------------------- cross margin (issue 11)

def assert_usage(tc, args, name):
    """`margin ARGS...` is refused as a bad argument: exit 2, nothing on stdout, one line
    on stderr that names `name`."""
    rc, out, err = run(*args)
    tc.assertEqual((rc, out), (2, ""), "args %s: rc %d, %r" % (args, rc, err))
    tc.assertEqual(len(err.splitlines()), 1, err)
    tc.assertIn(name, err)


def up2(x):
    return x.quantize(D("0.01"), rounding=ROUND_CEILING)


def cross_liq_price(wb, legs, others):
    """Binance's cross liquidation price of the legs of one market (the spec, issue 11):
        LP = (WB - TMM_o + UPNL_o + cum_L + cum_S - Q_L*E_L + Q_S*E_S)
             / (Q_L*mmr_L + Q_S*mmr_S - Q_L + Q_S)
    legs: (side, Q, E, mmr, cum) in the market solved for; others: (side, Q, E, mark, mmr,
    cum) in other markets, each at its mark (MM rounded up, uPnL down, to 8 decimals).
    Net long rounds up, net short down, to 8 decimals."""
    tmm = sum(up(q * p * mmr - cum) for _, q, e, p, mmr, cum in others)
    upnl = sum(down((1 if s == "long" else -1) * q * (p - e)) for s, q, e, p, _, _ in others)
    num, den, net = wb - tmm + upnl, D(0), D(0)
    for side, q, e, mmr, cum in legs:
        s = 1 if side == "long" else -1
        num += cum - s * q * e
        den += q * mmr - s * q
        net += s * q
    lp = num / den
    return up(lp) if net > 0 else down(lp)


class CalcCross(unittest.TestCase):
    """`margin calc --cross`: the cross liquidation price given the account's other cross
    positions, and the account's figures."""

    # The spec's "Binance calculator example" (../shared/spec/margin-math.md, as quoted in
    # the issue): one account, WB = 1535443.01, cross in both markets.
    #   ETH: long 3683.979 @ 1456.84, one bracket mmr 0.10 cum 135365, mark 1335.18
    #   BTC: long 109.488 @ 32481.98, mmr 0.025 cum 16300, mark 31967.27
    # Binance shows the cross liquidation price of ETH as 1153.26, of BTC as 26316.89.
    WB = D("1535443.01")
    ETH = ("long", D("3683.979"), D("1456.84"), D("1335.18"), D("0.10"), D("135365"))
    BTC = ("long", D("109.488"), D("32481.98"), D("31967.27"), D("0.025"), D("16300"))

    def calc(self, *args):
        rc, out, err = run("calc", "--cross", *args, "--json")
        self.assertEqual(rc, 0, "margin calc --cross %s: %s" % (" ".join(map(str, args)), err))
        self.assertEqual(err, "")
        self.assertEqual(len(out.splitlines()), 1, out)
        return loads(out)

    @staticmethod
    def other(side, q, e, mark, mmr, cum, symbol, leverage):
        return "side=%s,entry=%s,qty=%s,mark=%s,mmr=%s,mm-amount=%s,symbol=%s,leverage=%s" % (
            side, e, q, mark, mmr, cum, symbol, leverage)

    def vector(self, main, main_sym, main_lev, other, other_sym, other_lev):
        side, q, e, mark, mmr, cum = main
        return self.calc("--wallet", self.WB, "--symbol", main_sym, "--side", side,
                         "--entry", e, "--qty", q, "--mark", mark, "--mmr", mmr,
                         "--mm-amount", cum, "--leverage", main_lev,
                         "--other", self.other(*other, other_sym, other_lev))

    def test_binance_vectors(self):
        # Leverage only sizes the initial margins, which the wallet must cover at the
        # opens: 5x ETH (1073393.59) + 20x BTC (177819.35) < WB.
        cases = [(self.ETH, "ETHUSDT", 5, self.BTC, "BTCUSDT", 20, D("1153.26")),
                 (self.BTC, "BTCUSDT", 20, self.ETH, "ETHUSDT", 5, D("26316.89"))]
        for main, msym, mlev, oth, osym, olev, binance in cases:
            with self.subTest(symbol=msym):
                r = self.vector(main, msym, mlev, oth, osym, olev)
                self.assertEqual(set(r), CalcVectors.KEYS | {
                    "account_margin_balance", "account_maintenance_margin",
                    "account_margin_ratio"})
                side, q, e, mark, mmr, cum = main
                want = cross_liq_price(self.WB, [(side, q, e, mmr, cum)], [oth])
                self.assertEqual(r["liquidation_price"], want)
                self.assertEqual(r["liquidation_price"].quantize(D("0.01"), ROUND_HALF_EVEN),
                                 binance)
                # A cross position has no margin of its own; its share of maintenance is
                # Q*P*mmr - cum at its mark.
                self.assertEqual(r["margin"], D(0))
                self.assertEqual(r["maintenance_margin"], up(q * mark * mmr - cum))
                self.assertEqual(r["unrealized_pnl"], down(q * (mark - e)))
                self.assertEqual(r["initial_margin"], up(q * e / mlev))
                # The account: WB + both uPnL, both MM, ratio MM / balance rounded up.
                bal = self.WB + sum(down(l[1] * (l[3] - l[2])) for l in (main, oth))
                mm = sum(up(l[1] * l[3] * l[4] - l[5]) for l in (main, oth))
                self.assertEqual(r["account_margin_balance"], bal)  # 1030895.55638
                self.assertEqual(r["account_maintenance_margin"], mm)  # 427713.319566
                self.assertEqual(r["account_margin_ratio"], up(mm / bal))
                self.assertEqual(r["margin_balance"], bal)
                self.assertEqual(r["margin_ratio"], up(mm / bal))

    def test_binance_vector_with_a_tiers_file(self):
        # The ETH bracket as a tiers file (one tier, amount given), the same price.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "eth.csv")
            with open(path, "w") as f:
                f.write("floor_notional,mmr,maintenance_amount\n0,0.10,135365\n")
            side, q, e, mark, _, _ = self.ETH
            r = self.calc("--wallet", self.WB, "--symbol", "ETHUSDT", "--side", side,
                          "--entry", e, "--qty", q, "--mark", mark, "--tiers", path,
                          "--leverage", "5",
                          "--other", self.other(*self.BTC, "BTCUSDT", 20))
        self.assertEqual(r["liquidation_price"].quantize(D("0.01"), ROUND_HALF_EVEN),
                         D("1153.26"))

    def test_hedge_leg(self):
        # Market MAIN (mmr 0.01): long 1 @ 100 (the position) and a hedge leg short 0.4 @
        # 110 in the same market, which moves with the price solved for; market ETH: short
        # 2 @ 50 at mark 55, mmr 0.02. Wallet 40. Binance's formula with both legs:
        #   TMM_o = 2*55*0.02 = 2.2, UPNL_o = -2*(55 - 50) = -10
        #   LP = (40 - 2.2 - 10 + 0 + 0 - 1*100 + 0.4*110) / (1*0.01 + 0.4*0.01 - 1 + 0.4)
        #      = -28.2 / -0.586 = 48.12286689419795... -> net long, up: 48.1228669
        # At --mark 60: balance = 40 + (60 - 100) + 0.4*(110 - 60) - 10 = 10,
        # MM = 0.6 + 0.24 + 2.2 = 3.04, ratio 0.304.
        self.assertEqual(up(D("-28.2") / D("-0.586")), D("48.1228669"))
        self.assertEqual(cross_liq_price(
            D(40), [("long", D(1), D(100), D("0.01"), D(0)),
                    ("short", D("0.4"), D(110), D("0.01"), D(0))],
            [("short", D(2), D(50), D(55), D("0.02"), D(0))]), D("48.1228669"))
        base = ["--wallet", "40", "--side", "long", "--entry", "100", "--qty", "1",
                "--mmr", "0.01", "--mark", "60",
                "--other", "side=short,entry=50,qty=2,mark=55,mmr=0.02,symbol=ETH"]
        for hedge in ("side=short,entry=110,qty=0.4,symbol=MAIN",
                      "side=short,entry=110,qty=0.4,symbol=MAIN,mark=60,mmr=0.01"):
            with self.subTest(hedge=hedge):
                r = self.calc(*base, "--other", hedge)
                self.assertEqual(r["liquidation_price"], D("48.1228669"))
                self.assertEqual(r["account_margin_balance"], D(10))
                self.assertEqual(r["account_maintenance_margin"], D("3.04"))
                self.assertEqual(r["account_margin_ratio"], D("0.304"))
                self.assertEqual(r["maintenance_margin"], D("0.6"))  # the position's own
        # Without the hedge leg: LP = (40 - 2.2 - 10 - 100)/(0.01 - 1) = 72.9292929... up.
        r = self.calc(*[a if a != "60" else "80" for a in base])  # --mark 80: above it
        self.assertEqual(r["liquidation_price"], up(D("-72.2") / D("-0.99")))

    def test_short_and_readable_table(self):
        # Short 1 @ 100, wallet 50, mmr 0.01, alone: LP = (50 + 100)/(0.01 + 1)
        # = 148.5148514851... -> short, down: 148.51485148.
        r = self.calc("--wallet", "50", "--side", "short", "--entry", "100", "--qty", "1",
                      "--mmr", "0.01")
        self.assertEqual(r["liquidation_price"], D("148.51485148"))
        rc, out, err = run("calc", "--cross", "--wallet", "1535443.01", "--symbol", "ETHUSDT",
                           "--side", "long", "--entry", "1456.84", "--qty", "3683.979",
                           "--mark", "1335.18", "--mmr", "0.10", "--mm-amount", "135365",
                           "--leverage", "5", "--other",
                           self.other(*self.BTC, "BTCUSDT", 20))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^Cross long: 3683\.979 at 1456\.84 in ETHUSDT")
        self.assertRegex(out, r"liquidation price\s+1153\.25646424\s")
        self.assertRegex(out, r"cross margin balance\s+1030895\.55638\s")
        self.assertRegex(out, r"#2 long 109\.488 at 32481\.98 in BTCUSDT, mark 31967\.27")

    def test_help(self):
        rc, out, _ = run("help", "calc")
        self.assertEqual(rc, 0)
        self.assertIn("margin calc --cross", out)
        for opt in ("--wallet", "--other", "--symbol", "account_margin_ratio"):
            self.assertIn(opt, out)

    def test_bad_arguments(self):
        base = ["calc", "--cross", "--wallet", "40", "--side", "long", "--entry", "100",
                "--qty", "1"]
        other = "side=short,entry=50,qty=2,mark=55,mmr=0.02"
        cases = [
            (base[:2] + base[4:], "--wallet"),  # --cross without --wallet
            (base[:1] + base[2:] + ["--leverage", "10"], "--wallet"),  # --wallet alone
            (base + ["--other", "side=short,entry=50,mark=55,mmr=0.02"], "qty="),
            (base + ["--other", "side=short,qty=2,mark=55,mmr=0.02"], "entry="),
            (base + ["--other", "entry=50,qty=2,mark=55,mmr=0.02"], "side="),
            (base + ["--other", "side=short,entry=50,qty=2,mmr=0.02"], "mark="),
            (base + ["--other", "side=short,entry=50,qty=2,mark=55"], "mmr="),
            (base + ["--other", other + ",color=red"], "color"),
            (base + ["--other", "side=short,entry=50,qty"], "key=value"),
            (base + ["--other", other.replace("short", "up")], "side"),
            (base + ["--other", other + ",symbol=MAIN"], "mark=55"),  # hedge: not --mark
            (base + ["--other", "side=short,entry=1,qty=1,mmr=0.5,symbol=MAIN"], "mmr"),
            (base + ["--other", other + ",symbol=X", "--other",
                     other.replace("mark=55", "mark=56") + ",symbol=X"], "mark 55"),
            (base + ["--margin", "5"], "--margin"),
            (base + ["--add-margin", "5"], "--add-margin"),
            (base[:1] + base[4:] + ["--leverage", "1", "--other", other], "--other"),
            # long 1 @ 100 at --mark 50: the account (40 - 50 <= 0.2) is liquidated
            (base + ["--mark", "50"], "liquidated"),
            # 1x: initial margin 100 > wallet 40
            (base + ["--leverage", "1"], "--wallet"),
        ]
        for args, name in cases:
            with self.subTest(args=args):
                assert_usage(self, args, name)


class ReplayCross(ReplayBase):
    """`margin replay` with cross positions, --wallet, and `--demo contrast` (issue 11)."""

    def test_cross_beside_isolated(self):
        # One account: a cross long 0.1 @ 20000 at 20x (market P1) and an isolated short 0.1
        # @ 20000 at 10x (P2, margin 200), --wallet 200: what is available once both are
        # open. Cross: IM = 100 stays in the wallet, MM at 20000 = 8, so
        #   available = min(WB - 100, WB - 8 - 0.00000001) = 200  ->  WB = 300.
        # Cross LP (P2 is not a cross market): 300 + 0.1*(P - 20000) = 0.1*P*0.004
        #   -> P = 1700/0.0996 = 17068.2730923694... -> up 17068.27309237.
        # Marks 20000, 19000, 18000, 17000: liquidated at 17000 (the first at or below),
        # PnL 0.1*(17000 - 20000) = -300: WB 0, no deficit. The isolated short keeps its
        # 200 of margin (a cross liquidation never touches it); free balance 0.
        lp = up(D(1700) / D("0.0996"))
        self.assertEqual(lp, D("17068.27309237"))
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "t,mark\na,20000\nb,19000\nc,18000\nd,17000\n")
            args = ("--prices", path, "--wallet", "200",
                    "--position", "side=long,qty=0.1,leverage=20,mode=cross",
                    "--position", "side=short,qty=0.1,leverage=10")
            events, summary = self.replay_json(*args)
            rc, out, err = run("replay", *args)
        got = [(o["type"], o["position"], o["mode"], o["time"]) for o in events]
        self.assertEqual(got, [("open", 1, "cross", "a"), ("open", 2, "isolated", "a"),
                               ("liquidation", 1, "cross", "d"),
                               ("cross_liquidation", 0, "cross", "d")])
        self.assertEqual(events[0]["margin"], D(0))
        self.assertEqual(events[0]["liquidation_price"], lp)
        self.assertEqual(events[1]["margin"], D(200))
        self.assertEqual(events[2]["liquidation_price"], lp)
        self.assertEqual(events[2]["realized_pnl"], D(-300))
        xl = events[3]
        self.assertEqual(xl["mark"], D(17000))
        self.assertIsNone(xl["margin_ratio"])  # balance 300 - 300 = 0
        self.assertEqual(xl["positions_closed"], 1)
        self.assertEqual((xl["deficit"], xl["insurance_fund_delta"], xl["wallet_balance"]),
                         (D(0), D(0), D(0)))
        self.assertEqual(summary["liquidated"], 1)
        self.assertEqual(summary["open_positions"], 1)
        self.assertEqual(summary["free_balance"], D(0))
        self.assertEqual(summary["realized_pnl"], D(-300))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"a\s+#1\s+open\s+20000\s+long 0\.1 at 20000, 20x, cross")
        self.assertRegex(out, r"d\s+acct\s+ACCOUNT LIQ\s+17000")
        self.assertRegex(out, r"#2 short\s+still open: margin 200 \(as opened\)")
        self.assertRegex(out, r"free balance: 200 after opening, 0 now\n")
        self.assertRegex(out, r"cross wallet: 300 after opening, 0 now")

    def test_wallet_of_isolated_positions(self):
        # --wallet 250 with one isolated long (margin 100): 250 stays free.
        with tempfile.TemporaryDirectory() as tmp:
            path = self.write(tmp, "p.csv", "t,mark\na,100\nb,95\n")
            events, summary = self.replay_json(
                "--prices", path, "--wallet", "250",
                "--position", "side=long,qty=10,leverage=10")
            rc, out, err = run("replay", "--prices", path, "--wallet", "250",
                               "--position", "side=long,qty=10,leverage=10")
        self.assertEqual(summary["free_balance"], D(250))
        self.assertEqual(rc, 0, err)
        self.assertIn("free balance: 250 after opening, 250 now", out)

    # The contrast story of the issue (BTCUSDT, price scale 2, one tier mmr 0.004, no
    # fees): two longs of 0.1 @ 20000, A at 20x (IM 2000/20 = 100), B at 5x (IM 400), 100
    # left free in both runs. Marks 20000 19500 19050 18500 18000 17500 16800 17500.
    MARKS = [D(m) for m in ("20000", "19500", "19050", "18500", "18000", "17500", "16800",
                            "17500")]
    TIMES = ["10:00", "10:05", "10:10", "10:15", "10:20", "10:25", "10:30", "10:35"]

    def contrast_json(self):
        rc, out, err = run("replay", "--demo", "contrast", "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        runs = {"isolated": [], "cross": []}
        for line in out.splitlines():
            o = loads(line)
            runs[o.pop("run")].append(o)
        for objs in runs.values():
            for i, o in enumerate(objs[:-1]):
                self.assertEqual(set(o), COMMON_KEYS | REPLAY_KEYS[o["type"]], o)
                self.assertEqual(o["seq"], i + 1)
            self.assertEqual(set(objs[-1]), SUMMARY_KEYS)
        return runs

    def test_contrast_isolated_run(self):
        # A: M = 100, LP = (20000 - 100/0.1)/(1 - 0.004) = 19076.3052... -> up 19076.31;
        #    BP = 20000 - 100/0.1 = 19000. First mark <= 19076.31: 19050 (19500 is above).
        #    A loses exactly its margin (-100); the fund gets M + PnL = 100 + 0.1*(19050 -
        #    20000) = 5.
        # B: M = 400, LP = (20000 - 4000)/0.996 = 16064.2570... -> up 16064.26, below every
        #    mark (lowest 16800): B survives; at 16800 its balance is 400 - 320 = 80 > MM
        #    0.1*16800*0.004 = 6.72. The 100 free stays 100.
        a_lp = up2((D(20000) - D(100) / D("0.1")) / (1 - D("0.004")))
        b_lp = up2((D(20000) - D(400) / D("0.1")) / (1 - D("0.004")))
        self.assertEqual((a_lp, b_lp), (D("19076.31"), D("16064.26")))
        liq_at = next(m for m in self.MARKS if m <= a_lp)
        self.assertEqual(liq_at, D(19050))
        self.assertTrue(all(m > b_lp for m in self.MARKS))
        events, summary = (lambda o: (o[:-1], o[-1]))(self.contrast_json()["isolated"])
        self.assertEqual([(o["type"], o["position"], o["mode"]) for o in events],
                         [("open", 1, "isolated"), ("open", 2, "isolated"),
                          ("liquidation", 1, "isolated")])
        self.assertEqual([o["margin"] for o in events[:2]], [D(100), D(400)])
        self.assertEqual([o["liquidation_price"] for o in events[:2]], [a_lp, b_lp])
        liq = events[2]
        self.assertEqual((liq["time"], liq["mark"]), ("10:10", liq_at))
        self.assertEqual(liq["realized_pnl"], D(-100))
        self.assertEqual(liq["bankruptcy_price"], D(19000))
        self.assertEqual(liq["insurance_fund_delta"], D(100) + D("0.1") * (liq_at - 20000))
        self.assertEqual(liq["insurance_fund_delta"], D(5))
        self.assertEqual((summary["marks"], summary["liquidated"], summary["open_positions"]),
                         (8, 1, 1))
        self.assertEqual(summary["free_balance"], D(100))
        self.assertEqual(summary["insurance_fund"], D(5))

    def test_contrast_cross_run(self):
        # WB = 600 backs both (available 600 - IM 500 = 100 before any mark moves).
        # Liquidation when 600 + 0.2*(P - 20000) <= 0.2*P*0.004, i.e. P <= 3400/0.1992
        # = 17068.2730... -> long, up: 17068.28 for both legs.
        # 19050: balance 600 - 190 = 410 > MM 0.2*19050*0.004 = 15.24 (A's loss absorbed).
        # 17500: balance 100 > MM 14. 16800 gaps past 17068.28: balance 600 - 640 = -40 <=
        # MM 13.44: both close at 16800, each PnL 0.1*(16800 - 20000) = -320; WB = -40, the
        # fund covers the deficit 40 (fund -40), WB 0. Free 0; realized -640 + 40 = -600.
        lp = up2(D(3400) / D("0.1992"))
        self.assertEqual(lp, D("17068.28"))
        self.assertEqual(D(600) + D("0.2") * (19050 - 20000), D(410))
        self.assertEqual(D("0.2") * 19050 * D("0.004"), D("15.24"))
        liq_at = next(m for m in self.MARKS if m <= lp)
        self.assertEqual(liq_at, D(16800))
        pnl = D("0.1") * (liq_at - 20000)
        self.assertEqual(pnl, D(-320))
        self.assertEqual(D(600) + 2 * pnl, D(-40))
        events, summary = (lambda o: (o[:-1], o[-1]))(self.contrast_json()["cross"])
        self.assertEqual([(o["type"], o["position"], o["mode"]) for o in events],
                         [("open", 1, "cross"), ("open", 2, "cross"),
                          ("liquidation", 1, "cross"), ("liquidation", 2, "cross"),
                          ("cross_liquidation", 0, "cross")])
        self.assertEqual([o["liquidation_price"] for o in events[:2]], [lp, lp])
        self.assertEqual([o["margin"] for o in events[:2]], [D(0), D(0)])
        for liq in events[2:4]:
            self.assertEqual((liq["time"], liq["mark"]), ("10:30", liq_at))
            self.assertEqual(liq["liquidation_price"], lp)
            self.assertEqual(liq["realized_pnl"], pnl)
        xl = events[4]
        self.assertEqual((xl["time"], xl["mark"]), ("10:30", liq_at))
        self.assertIsNone(xl["margin_ratio"])  # balance -40 <= 0
        self.assertEqual(xl["positions_closed"], 2)
        self.assertEqual(xl["deficit"], D(40))
        self.assertEqual(xl["insurance_fund_delta"], D(-40))
        self.assertEqual(xl["wallet_balance"], D(0))
        self.assertEqual((summary["marks"], summary["liquidated"], summary["open_positions"]),
                         (8, 2, 0))
        self.assertEqual(summary["free_balance"], D(0))
        self.assertEqual(summary["insurance_fund"], D(-40))
        self.assertEqual(summary["realized_pnl"], 2 * pnl + 40)
        self.assertEqual(sum(o.get("realized_pnl", 0) for o in events),
                         summary["realized_pnl"])

    def test_contrast_text(self):
        rc, out, err = run("replay", "--demo", "contrast")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        rows = {}
        for line in out.splitlines():
            f = re.split(r"\s{2,}", line.strip())
            if f and re.fullmatch(r"\d+", f[0]) and len(f) == 4:
                rows.setdefault(f[0], []).append(f[1:])
        # Margin balance vs maintenance at each mark (hand figures as in the tests above):
        # isolated A at 19050: 100 - 95 = 5 <= 0.1*19050*0.004 = 7.62; B at 16800: 80 >
        # 6.72; the cross account at 16800: -40 <= 13.44.
        self.assertEqual(rows["20000"], [["100 > 8", "400 > 8", "600 > 16"]])
        self.assertEqual(rows["19050"], [["5 <= 7.62 LIQUIDATED", "305 > 7.62",
                                          "410 > 15.24"]])
        self.assertEqual(rows["16800"], [["-", "80 > 6.72", "-40 <= 13.44 LIQUIDATED"]])
        self.assertEqual(rows["17500"][1], ["-", "150 > 7", "-"])
        self.assertRegex(out, r"end\s+free 100, insurance fund \+5\s+free 0, insurance fund -40")
        for text in ("liquidation price 19076.31", "liquidation price was 17068.28",
                     "isolated, had 16064.26", "gapped from 17500 to 16800",
                     "covered the 40", "one wallet of 600", "100 of it"):
            self.assertIn(text, " ".join(out.split()))

    def test_bad_arguments(self):
        cases = [
            (["--position", "side=long,qty=1,leverage=10,mode=crossed"], "mode"),
            (["--position", "side=long,qty=1,margin=100,mode=cross"], "mode=cross"),
            (["--position", "side=long,qty=1,leverage=10,market=X",
              "--position", "side=long,qty=1,leverage=10,market=X,mode=cross"], "market=X"),
            (["--wallet", "-1"], "--wallet"),
            (["--wallet", "ten"], "--wallet"),
            (["--demo", "fall"], "--demo"),
            (["--demo", "contrast", "--wallet", "5"], "--demo contrast"),
            (["--demo", "contrast", "--position", "side=long,qty=1,leverage=10"],
             "--demo contrast"),
        ]
        for args, name in cases:
            with self.subTest(args=args):
                assert_usage(self, ["replay"] + args, name)


class ReplayAdl(ReplayBase):
    """`margin replay --insurance` and `--demo adl` (issue 14): insurance pools and
    auto-deleveraging. The worked case (scales 8/8, no fees, --mmr 0.005): a short of 20
    at 600 with margin 1,000 has the bankruptcy price 600 + 1,000/20 = 650 and the
    liquidation price 650/1.005 = 646.76616915 (a short's rounds down). When the mark gaps
    from 600 to 700 it is liquidated at 700: the pool receives its margin balance there,
    1,000 + 20*(600 - 700) = -1,000, a deficit of 1,000. A long deleveraged at 650 instead
    of 700 gives up 700 - 650 = 50 per unit into the pool."""

    ADL_KEYS = {"counterparty", "quantity", "remaining_qty", "price", "realized_pnl",
                "margin", "insurance_fund_delta"}
    KEYS = dict(REPLAY_KEYS, adl=ADL_KEYS, insurance_deposit={"amount"})
    SUMMARY = SUMMARY_KEYS | {"insurance_pool", "deleveraged"}
    # BitMEX's published example: six longs at 500, leverage 10, 5, 4, 2, 1.25, 1 and sizes
    # 10, 20, 30, 10, 10, 20. BitMEX's score at the mark P is PnL% * effective leverage =
    # (P - 500)/500 * P/(P - BP), BP = 500*(1 - 1/L) = 450, 400, 375, 250, 100, 0: at 700,
    # 280/(700 - BP) = 1.12, 0.93333333, 0.86153846, 0.62222222, 0.46666666, 0.4: the order
    # of the list, 10x first.
    LONGS = [("10", "10"), ("5", "20"), ("4", "30"), ("2", "10"), ("1.25", "10"), ("1", "20")]
    SHORT = "side=short,qty=20,margin=1000,market=M"

    def adl_json(self, *args):
        rc, out, err = run("replay", *args, "--json")
        self.assertEqual(rc, 0, "margin replay %s: %s" % (" ".join(args), err))
        self.assertEqual(err, "")
        objs = [loads(line) for line in out.splitlines()]
        for i, o in enumerate(objs[:-1]):
            keys = COMMON_KEYS | self.KEYS[o["type"]]
            if o["type"] == "liquidation" and "adl_covered" in o:
                keys = keys | {"adl_covered"}
            self.assertEqual(set(o), keys, o)
            self.assertEqual(o["seq"], i + 1)
        self.assertEqual(set(objs[-1]), self.SUMMARY)
        return objs[:-1], objs[-1]

    def example(self, tmp, *extra, marks=("600", "700")):
        path = self.write(tmp, "p.csv", "t,mark\n" + "".join(
            "%s,%s\n" % (chr(ord("a") + i), m) for i, m in enumerate(marks)))
        args = ["--prices", path, "--mmr", "0.005"]
        for lev, qty in self.LONGS:
            args += ["--position", "side=long,qty=%s,entry=500,leverage=%s,market=M" % (qty, lev)]
        return args + ["--position", self.SHORT] + list(extra)

    def test_bitmex_example_empty_pool(self):
        # --insurance 0: ADL on, an empty pool (no insurance_deposit event). The short is
        # position 7. Need 1,000 = 20 units at 50: #1 (10 units) closes in full: PnL at 650
        # 10*(650 - 500) = 1,500, credit 10*50 = 500, its margin 10*500/10 = 500 released;
        # then 10 of #2's 20: PnL 1,500, credit 500, margin 20*500/5 = 2,000 less half = 1,000.
        # The pool: 0 - 1,000 + 500 + 500 = 0. Realized: -1,000 (the short's margin) + 3,000.
        # Free balance: 1,000 (--wallet) + #1's margin 500 and PnL 1,500 + #2's margin
        # released 1,000 and PnL 1,500 = 5,500.
        with tempfile.TemporaryDirectory() as tmp:
            args = self.example(tmp, "--insurance", "0", "--adl-ranking", "bitmex")
            events, summary = self.adl_json(*args)
            rc, out, err = run("replay", *args)
        after = [o for o in events if o["type"] != "open"]
        self.assertEqual([(o["type"], o["position"], o["time"]) for o in after],
                         [("liquidation", 7, "b"), ("adl", 1, "b"), ("adl", 2, "b")])
        liq, a1, a2 = after
        self.assertEqual((liq["mark"], liq["bankruptcy_price"], liq["realized_pnl"]),
                         (D(700), D(650), D(-1000)))
        self.assertEqual(liq["liquidation_price"], down(D(650) / D("1.005")))
        self.assertEqual(liq["liquidation_price"], D("646.76616915"))
        self.assertEqual((liq["insurance_fund_delta"], liq["adl_covered"]), (D(-1000), D(1000)))
        self.assertEqual((a1["counterparty"], a1["quantity"], a1["remaining_qty"], a1["price"],
                          a1["realized_pnl"], a1["margin"], a1["insurance_fund_delta"],
                          a1["mark"]),
                         (7, D(10), D(0), D(650), D(1500), D(0), D(500), D(700)))
        self.assertEqual((a2["counterparty"], a2["quantity"], a2["remaining_qty"], a2["price"],
                          a2["realized_pnl"], a2["margin"], a2["insurance_fund_delta"]),
                         (7, D(10), D(10), D(650), D(1500), D(1000), D(500)))
        self.assertEqual((summary["insurance_pool"], summary["insurance_fund"],
                          summary["deleveraged"], summary["liquidated"],
                          summary["open_positions"]), (D(0), D(0), 1, 1, 5))
        self.assertEqual(summary["realized_pnl"], D(2000))
        self.assertEqual(summary["free_balance"], D(5500))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"b\s+#1\s+DELEVERAGED\s+700\s+auto-deleveraged against #7: 10 "
                         r"closed at 650 \(its bankruptcy price\), PnL \+1500, 500 paid into "
                         r"the insurance pool; closed in full")
        self.assertIn("10 left with margin 1000", out)
        self.assertIn("ADL covers 1000 of the deficit", out)
        self.assertRegex(out, r"#1 long\s+deleveraged at b \(mark 700\): closed at 650 "
                         r"against #7, PnL \+1500")
        self.assertIn("; 10 deleveraged at 650 against #7", out)
        self.assertIn("insurance pool: seeded 0, now 0; 1 position deleveraged in full", out)

    def test_pool_pays_what_it_holds(self):
        # --insurance 1000 exactly covers the deficit: the pool ends at 0, its floor, and
        # nobody is deleveraged (no adl_covered). The deposit is event 1, before the opens.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.adl_json(*self.example(tmp, "--insurance", "1000"))
        self.assertEqual((events[0]["type"], events[0]["position"], events[0]["amount"]),
                         ("insurance_deposit", 0, D(1000)))
        self.assertEqual([o["type"] for o in events[1:]], ["open"] * 7 + ["liquidation"])
        self.assertEqual(events[-1]["insurance_fund_delta"], D(-1000))
        self.assertNotIn("adl_covered", events[-1])
        self.assertEqual((summary["insurance_pool"], summary["deleveraged"]), (D(0), 0))

    def test_pool_in_part_binance(self):
        # --insurance 250, Binance's ranking (the default). Binance's score of a long at 500
        # at 700 with margin W = 500*Q/L: uPnL 200*Q, MM 700*Q*0.005 = 3.5*Q:
        # 200*Q/W * 3.5*Q/(W + 200*Q) = 0.4*L * 3.5/(500/L + 200), growing with L: the same
        # order as BitMEX's. The pool pays 250; ADL covers 750 = 15 units at 50: #1 in full
        # (10, credit 500), then 5 of #2 (credit 250, PnL 5*150 = 750, margin 2,000 - 500).
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.adl_json(*self.example(tmp, "--insurance", "250"))
        liq = next(o for o in events if o["type"] == "liquidation")
        self.assertEqual((liq["insurance_fund_delta"], liq["adl_covered"]), (D(-1000), D(750)))
        adl = [(o["position"], o["quantity"], o["realized_pnl"], o["margin"],
                o["insurance_fund_delta"]) for o in events if o["type"] == "adl"]
        self.assertEqual(adl, [(1, D(10), D(1500), D(0), D(500)),
                               (2, D(5), D(750), D(1500), D(250))])
        self.assertEqual(summary["insurance_pool"], D(0))

    def test_without_insurance_the_fund_goes_negative(self):
        # No --insurance: ADL is off, the fund takes the whole deficit (-1,000) and the
        # summary has no pool keys.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.replay_json(*self.example(tmp))
        self.assertEqual([o["type"] for o in events], ["open"] * 7 + ["liquidation"])
        self.assertEqual(summary["insurance_fund"], D(-1000))

    # --demo adl: the worked case with the short as #1, the six longs as #2 to #7, a pool of
    # 400 and BitMEX's ranking; marks 600 615 630 645 700 690 at 09:00 to 09:25. 645 is
    # below the liquidation price 646.77, so the short survives until the gap to 700 (at
    # 09:20). Deficit 1,000: the pool pays 400 (to its floor 0); ADL covers 600 = 12 units
    # at 50: #2 (10x) in full (PnL 1,500, credit 500), then 2 of #3 (5x): PnL 2*150 = 300,
    # credit 100, margin 2,000 - 2,000*2/20 = 1,800. Realized -1,000 + 1,800 = 800; free
    # 1,000 + (500 + 1,500) + (200 + 300) = 3,500.
    def test_demo_adl_json(self):
        events, summary = self.adl_json("--demo", "adl")
        self.assertEqual([(o["type"], o["position"]) for o in events],
                         [("insurance_deposit", 0)] + [("open", i) for i in range(1, 8)] +
                         [("liquidation", 1), ("adl", 2), ("adl", 3)])
        self.assertEqual(events[0]["amount"], D(400))
        liq, a2, a3 = events[8:]
        self.assertEqual((liq["time"], liq["mark"], liq["insurance_fund_delta"],
                          liq["adl_covered"]), ("09:20", D(700), D(-1000), D(600)))
        self.assertEqual((a2["quantity"], a2["remaining_qty"], a2["realized_pnl"],
                          a2["insurance_fund_delta"], a2["counterparty"]),
                         (D(10), D(0), D(1500), D(500), 1))
        self.assertEqual((a3["quantity"], a3["remaining_qty"], a3["realized_pnl"],
                          a3["insurance_fund_delta"], a3["margin"], a3["price"]),
                         (D(2), D(18), D(300), D(100), D(1800), D(650)))
        self.assertEqual((summary["insurance_pool"], summary["insurance_fund"],
                          summary["deleveraged"], summary["realized_pnl"],
                          summary["free_balance"], summary["marks"]),
                         (D(0), D(0), 1, D(800), D(3500), 6))

    def test_demo_adl_text(self):
        # The scores at 600: 120/(600 - BP) = 0.8, 0.6, 0.53333333, 0.34285714, 0.24, 0.2;
        # quantiles 4 - floor(5*r/6) for r = 0..5: 4, 4, 3, 2, 1, 0; the short scores 0.
        rc, out, err = run("replay", "--demo", "adl")
        self.assertEqual((rc, err), (0, ""))
        text = " ".join(out.split())
        for i, (score, q) in enumerate([("0.8", 4), ("0.6", 4), ("0.53333333", 3),
                                        ("0.34285714", 2), ("0.24", 1), ("0.2", 0)]):
            self.assertRegex(text, r"#%d long \S+ at 500, \S+x: score %s, quantile %d"
                             % (i + 2, re.escape(score), q))
        for needle in ("#1 short 20 at 600, 12x: score 0, quantile 0",
                       "bankruptcy price is 650", "liquidation price 646.76616915",
                       "gapped from 645 to 700", "left a deficit of 1000",
                       "The insurance pool held 400: it paid 400",
                       "auto-deleveraging covered the other 600",
                       "#2 (10x): 10 of 10 closed, PnL +1500, 500 paid into the pool",
                       "#3 (5x): 2 of 20 closed, PnL +300, 100 paid into the pool; the rest "
                       "stays open", "The pool ends at 0; the 4 other longs were not touched",
                       "insurance pool: seeded 400, now 0"):
            self.assertIn(needle, text)

    def test_help(self):
        rc, out, _ = run("replay", "--help")
        self.assertEqual(rc, 0)
        for word in ("--insurance AMOUNT", "--adl-ranking", "--demo contrast|adl",
                     "insurance_deposit", "adl_covered", "counterparty"):
            self.assertIn(word, out)

    def test_bad_arguments(self):
        cases = [
            (["--insurance", "-1"], "--insurance"),
            (["--insurance", "ten"], "--insurance"),
            (["--insurance", "5", "--adl-ranking", "bybit"], "--adl-ranking"),
            (["--adl-ranking", "bitmex"], "--adl-ranking"),
            (["--demo", "adl", "--insurance", "5"], "--demo adl"),
            (["--demo", "adl", "--mmr", "0.01"], "--demo adl"),
        ]
        for args, name in cases:
            with self.subTest(args=args):
                assert_usage(self, ["replay"] + args, name)


class CalcLiquidation(unittest.TestCase):
    """`margin calc --liquidation` (issue 13): what a liquidation at --mark does, read from
    the engine's events. The worked checks of the issue, by hand."""

    LIQ_KEYS = {"liquidation_policy", "liquidated_qty", "liquidation_fee", "fill_price",
                "fill", "remaining_qty", "remaining_margin", "insurance_fund_delta"}

    def calc(self, *args):
        rc, out, err = run("calc", *args, "--json")
        self.assertEqual(rc, 0, "margin calc %s failed: %s" % (" ".join(map(str, args)), err))
        self.assertEqual(err, "")
        r = loads(out)
        self.assertEqual(set(r), CalcVectors.KEYS | self.LIQ_KEYS)
        return r

    # Long 10 BTC at 50,000 with margin 25,000 (20x), mmr 0.5 %, cum 0, mark 47,700:
    # equity 25,000 + 10*(47,700 - 50,000) = 2,000 < MM 10*47,700*0.005 = 2,385.
    TEN = ("--side", "long", "--entry", "50000", "--qty", "10", "--leverage", "20",
           "--mmr", "0.005", "--mark", "47700")

    def test_min_reduce_without_fee(self):
        # q = (Q*P*mmr - cum - Eq) / (P*(mmr - f)) = (2,385 - 2,000) / 238.5 = 1.61425...,
        # up to the step 0.0001: 1.6143. Its PnL 1.6143*(-2,300) = -3,712.89 leaves the
        # margin 25,000 - 3,712.89 = 21,287.11 on 10 - 1.6143 = 8.3857.
        r = self.calc(*self.TEN, "--liquidation", "min-reduce", "--step", "0.0001")
        self.assertEqual(r["liquidation_policy"], "min-reduce")
        self.assertEqual(r["margin_balance"], D("2000"))
        self.assertEqual(r["maintenance_margin"], D("2385"))
        self.assertEqual(r["liquidated_qty"], D("1.6143"))
        self.assertEqual(r["liquidation_fee"], D("0"))
        self.assertEqual(r["fill_price"], D("47700"))
        self.assertEqual(r["fill"], "mark")
        self.assertEqual(r["remaining_qty"], D("8.3857"))
        self.assertEqual(r["remaining_margin"], D("21287.11"))
        self.assertEqual(r["insurance_fund_delta"], D("0"))

    def test_min_reduce_with_fee(self):
        # q = 385 / (47,700*(0.005 - 0.001)) = 385 / 190.8 = 2.01781..., up: 2.0179.
        # Fee 2.0179*47,700*0.001 = 96.25383 (to the fund); margin 25,000 - 2.0179*2,300
        # - 96.25383 = 25,000 - 4,641.17 - 96.25383 = 20,262.57617.
        r = self.calc(*self.TEN, "--liquidation", "min-reduce", "--liq-fee", "0.001",
                      "--step", "0.0001")
        self.assertEqual(r["liquidated_qty"], D("2.0179"))
        self.assertEqual(r["liquidation_fee"], D("96.25383"))
        self.assertEqual(r["remaining_qty"], D("7.9821"))
        self.assertEqual(r["remaining_margin"], D("20262.57617"))
        self.assertEqual(r["insurance_fund_delta"], D("96.25383"))

    def test_min_reduce_fee_at_mmr_closes_in_full(self):
        # f 0.01 >= mmr 0.005: no partial sale helps; in full at the mark. Fee
        # 10*47,700*0.01 = 4,770, capped at the 2,000 the holder has left; the fund gets
        # the 2,000.
        r = self.calc(*self.TEN, "--liquidation", "min-reduce", "--liq-fee", "0.01",
                      "--step", "0.0001")
        self.assertEqual(r["liquidated_qty"], D("10"))
        self.assertEqual(r["liquidation_fee"], D("2000"))
        self.assertEqual(r["fill_price"], D("47700"))
        self.assertEqual((r["remaining_qty"], r["remaining_margin"]), (D(0), D(0)))
        self.assertEqual(r["insurance_fund_delta"], D("2000"))

    def test_bankruptcy_fill(self):
        # BP: 25,000 + 10*(BP - 50,000) = 0 -> 47,500. The holder loses exactly the margin,
        # has nothing left for the fee; the fund takes over 10 BTC worth 47,700: +2,000.
        r = self.calc(*self.TEN, "--liquidation", "full", "--liq-fill", "bankruptcy",
                      "--liq-fee", "0.0125")
        self.assertEqual(r["liquidated_qty"], D("10"))
        self.assertEqual(r["fill_price"], D("47500"))
        self.assertEqual(r["fill"], "bankruptcy")
        self.assertEqual(r["liquidation_fee"], D("0"))
        self.assertEqual(r["insurance_fund_delta"], D("2000"))

    def test_liq_price_fill(self):
        # LP = (500,000 - 25,000) / (10*0.995) = 47,738.6934673366..., up at 8 decimals:
        # 47,738.69346734. Left there: 25,000 + 10*(47,738.69346734 - 50,000)
        # = 2,386.9346734; fee 10*47,738.69346734*0.0001 = 47.738693467340 -> up to 8
        # decimals 47.73869347; the fund gets the fee.
        lp = up(D(475000) / D("9.95"))
        self.assertEqual(lp, D("47738.69346734"))
        r = self.calc(*self.TEN, "--liquidation", "full", "--liq-fill", "liq-price",
                      "--liq-fee", "0.0001")
        self.assertEqual(r["fill_price"], lp)
        self.assertEqual(r["fill"], "liquidation_price")
        self.assertEqual(r["liquidation_fee"], up(10 * lp * D("0.0001")))
        self.assertEqual(r["insurance_fund_delta"], D("47.73869347"))

    def test_not_liquidatable(self):
        # At 48,000: equity 25,000 - 20,000 = 5,000 > MM 48,000*10*0.005 = 2,400.
        r = self.calc("--side", "long", "--entry", "50000", "--qty", "10", "--leverage", "20",
                      "--mmr", "0.005", "--mark", "48000", "--liquidation", "full")
        self.assertEqual(r["liquidated_qty"], D("0"))
        self.assertIsNone(r["fill_price"])
        self.assertIsNone(r["fill"])
        self.assertEqual((r["remaining_qty"], r["remaining_margin"]), (D(10), D(25000)))
        self.assertEqual(r["insurance_fund_delta"], D("0"))

    def tier_down(self, margin):
        # T1 floor 0 at 0.5 % (cum 0), T2 floor 1,000,000 at 1 % (cum 5,000), T3 floor
        # 2,000,000 at 1.5 % (cum 15,000). Long 50 at 51,000 with margin M: at 50,000 the
        # notional is 2,500,000 (T3: MM 37,500 - 15,000 = 22,500) and the equity M - 50,000.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tiers.csv")
            with open(path, "w") as f:
                f.write("floor,mmr,amount\n0,0.005,0\n1000000,0.01,5000\n2000000,0.015,15000\n")
            return self.calc("--side", "long", "--entry", "51000", "--qty", "50",
                             "--margin", margin, "--tiers", path, "--mark", "50000",
                             "--liquidation", "tier-down")

    def test_tier_down_equity_20000(self):
        # Equity 20,000 < 22,500. To T2's cap 2,000,000 = 40 BTC: sell 10 (500,000);
        # margin 70,000 - 10*1,000 = 60,000, equity 20,000 > MM 2,000,000*0.015 - 15,000.
        r = self.tier_down("70000")
        self.assertEqual((r["margin_balance"], r["maintenance_margin"]),
                         (D("20000"), D("22500")))
        self.assertEqual(r["liquidated_qty"], D("10"))
        self.assertEqual(r["liquidated_qty"] * r["fill_price"], D("500000"))
        self.assertEqual((r["remaining_qty"], r["remaining_margin"]), (D(40), D(60000)))

    def test_tier_down_equity_14000(self):
        # Equity 14,000: 40 BTC would keep 14,000 < 15,000. To T1's cap 1,000,000 = 20 BTC:
        # sell 30 (1,500,000); margin 64,000 - 30,000 = 34,000; equity 14,000 > MM
        # 1,000,000*0.01 - 5,000 = 5,000.
        r = self.tier_down("64000")
        self.assertEqual(r["margin_balance"], D("14000"))
        self.assertEqual(r["liquidated_qty"], D("30"))
        self.assertEqual(r["liquidated_qty"] * r["fill_price"], D("1500000"))
        self.assertEqual((r["remaining_qty"], r["remaining_margin"]), (D(20), D(34000)))

    def test_readable_table(self):
        rc, out, err = run("calc", *self.TEN, "--liquidation", "min-reduce", "--step", "0.0001")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Liquidation at mark 47700 (policy min-reduce, clearance fee 0 %)", out)
        self.assertRegex(out, r"liquidated quantity\s+1\.6143\s+\(in part")
        self.assertRegex(out, r"remaining margin\s+21287\.11")

    def test_help(self):
        rc, out, _ = run("calc", "--help")
        self.assertEqual(rc, 0)
        for word in ("--liquidation POLICY", "min-reduce", "tier-down", "slices", "--liq-fee",
                     "--liq-fill", "--step", "liquidated_qty", "insurance_fund_delta"):
            self.assertIn(word, out)

    def test_bad_arguments(self):
        base = ("--side", "long", "--entry", "50000", "--qty", "10", "--leverage", "20")
        for args, needle in [
            (("--liquidation", "sometimes"), "--liquidation: 'sometimes'"),
            (("--liq-fee", "0.001"), "--liq-fee: only with --liquidation"),
            (("--step", "0.001"), "--step: only with --liquidation"),
            (("--liquidation", "full", "--liq-fee", "1.5"), "--liq-fee: '1.5'"),
            (("--liquidation", "full", "--liq-fill", "best"), "--liq-fill: 'best'"),
            (("--liquidation", "full", "--step", "0.3"), "--qty: '10' is not a multiple"),
        ]:
            with self.subTest(args=args):
                rc, out, err = run("calc", *base, *args)
                self.assertEqual((rc, out), (2, ""))
                self.assertIn(needle, err)
        rc, out, err = run("calc", "--cross", "--wallet", "1000", *base, "--liquidation", "full")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--liquidation: not with --cross", err)


class ReplayLiquidation(ReplayBase):
    """`margin replay` with the liquidation options and candles (issue 13)."""

    EXT = {"liquidation": {"fill_price", "fill", "fee"},
           "stop_loss": {"fill_price", "fill"}, "take_profit": {"fill_price", "fill"}}
    PARTIAL = {"quantity", "remaining_qty", "fill_price", "fill", "fee", "realized_pnl",
               "margin", "liquidation_price", "insurance_fund_delta"}

    def run_json(self, tmp, csv_text, *args):
        prices = self.write(tmp, "p.csv", csv_text)
        rc, out, err = run("replay", "--prices", prices, *args, "--json")
        self.assertEqual(rc, 0, err)
        objs = [loads(line) for line in out.splitlines()]
        for o in objs[:-1]:
            keys = (COMMON_KEYS | self.PARTIAL if o["type"] == "partial_liquidation"
                    else COMMON_KEYS | REPLAY_KEYS[o["type"]] | self.EXT.get(o["type"], set()))
            if "--path" in args:
                keys = keys | {"path_point"}
            self.assertEqual(set(o), keys, o)
        self.assertEqual(objs[-1]["type"], "summary")
        return objs[:-1], objs[-1]

    def test_tier_down(self):
        # The issue's tiers; long 50 opened at the first mark 51,000 with margin 70,000; at
        # 50,000 its equity is 70,000 - 50,000 = 20,000 < MM 22,500 (T3): tier-down sells 10
        # to T2's cap, keeping margin 60,000; liquidation price after, in T2:
        # 60,000 + 40*(P - 51,000) = 0.4*P - 5,000 -> P = 1,975,000/39.6 = 49,873.7373...
        with tempfile.TemporaryDirectory() as tmp:
            tiers = self.write(tmp, "t.csv",
                               "0,0.005,0\n1000000,0.01,5000\n2000000,0.015,15000\n")
            events, summary = self.run_json(tmp, "time,price\na,51000\nb,50000\n",
                                            "--tiers", tiers,
                                            "--position", "side=long,qty=50,margin=70000",
                                            "--liquidation", "tier-down")
        self.assertEqual([e["type"] for e in events], ["open", "partial_liquidation"])
        p = events[1]
        self.assertEqual((p["mark"], p["fill_price"], p["fill"]), (D(50000), D(50000), "mark"))
        self.assertEqual((p["quantity"], p["remaining_qty"]), (D(10), D(40)))
        self.assertEqual((p["realized_pnl"], p["margin"], p["fee"]), (D(-10000), D(60000), D(0)))
        self.assertEqual(p["liquidation_price"], up(D(1975000) / D("39.6")))
        self.assertEqual((summary["open_positions"], summary["liquidated"]), (1, 0))

    def test_bankruptcy_fill(self):
        # Long 10 at 50,000, 20x (margin 25,000), mmr 0.5 %; mark 47,700 < LP 47,738.69...:
        # the fund takes it over at BP 47,500; the holder loses exactly 25,000 and has
        # nothing left for the 1.25 % fee; the fund books 10*(47,700 - 47,500) = 2,000.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(tmp, "time,price\na,50000\nb,47700\n",
                                            "--mmr", "0.005",
                                            "--position", "side=long,qty=10,leverage=20",
                                            "--liq-fill", "bankruptcy", "--liq-fee", "0.0125")
        liq = events[-1]
        self.assertEqual(liq["type"], "liquidation")
        self.assertEqual((liq["mark"], liq["fill_price"], liq["fill"]),
                         (D(47700), D(47500), "bankruptcy"))
        self.assertEqual((liq["realized_pnl"], liq["fee"]), (D(-25000), D(0)))
        self.assertEqual(liq["insurance_fund_delta"], D(2000))
        self.assertEqual(summary["insurance_fund"], D(2000))

    BAR = "time,open,high,low,close\na,50000,50000,50000,50000\nb,50000,50100,48000,48500\n"
    STOP = ("--mmr", "0.005", "--position", "side=long,qty=1,leverage=20,stop=49000")

    def test_candle_stop_at_its_price(self):
        # The issue's 2 % stop on a 20x long: 1 BTC at 50,000, margin 2,500, stop 49,000.
        # Bar b closes down: path open 50,000, high 50,100, low 48,000, close 48,500; the
        # stop is reached on the way to the low (point 3) and fills at 49,000: PnL -1,000,
        # -40 % of the margin (not -80 % at the low's 48,000).
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(tmp, self.BAR, *self.STOP, "--fill", "trigger",
                                            "--path", "updown")
        stop = events[-1]
        self.assertEqual(stop["type"], "stop_loss")
        self.assertEqual(stop["path_point"], 3)
        self.assertEqual((stop["mark"], stop["exit_price"], stop["fill"]),
                         (D(48000), D(49000), "trigger"))
        self.assertEqual(stop["realized_pnl"], D(-1000))
        self.assertEqual(summary["marks"], 8)  # two bars of four points

    def test_stop_at_the_mark(self):
        # The default fill: at the mark that reached it, 48,000: PnL -2,000 (-80 %).
        with tempfile.TemporaryDirectory() as tmp:
            events, _ = self.run_json(tmp, self.BAR, *self.STOP, "--fill", "mark",
                                      "--path", "updown")
        self.assertEqual((events[-1]["exit_price"], events[-1]["fill"]), (D(48000), "mark"))
        self.assertEqual(events[-1]["realized_pnl"], D(-2000))

    def test_stop_at_its_price_between_mark_updates(self):
        # Without --path the row is four mark updates; the move from the high 50,100 to
        # the low 48,000 is continuous, so the stop still fills at 49,000.
        with tempfile.TemporaryDirectory() as tmp:
            events, _ = self.run_json(tmp, self.BAR, *self.STOP, "--fill", "trigger")
        self.assertEqual((events[-1]["exit_price"], events[-1]["fill"]), (D(49000), "trigger"))

    def test_candle_adverse_path(self):
        # A long (stop 49,000, take-profit 51,000) and a short (stop 51,000, take-profit
        # 49,000), each 1 at 50,000, 20x, in markets of their own; bar b closes down: open
        # 50,000, high 51,100, low 48,900, close 49,500. Stops fill at their price.
        #   updown (open, high, low, close) for both: the long takes profit at the high
        #     (51,000, +1,000), the short is stopped at the high (51,000, -1,000);
        #   adverse: the long walks open, low, high, close: stopped at the low (point 2,
        #     mark 48,900, filled at 49,000, -1,000); the short walks open, high: stopped at
        #     point 2 (mark 51,100, filled at 51,000, -1,000).
        bar = "time,open,high,low,close\na,50000,50000,50000,50000\nb,50000,51100,48900,49500\n"
        pos = ("--mmr", "0.005",
               "--position", "side=long,qty=1,leverage=20,stop=49000,take=51000",
               "--position", "side=short,qty=1,leverage=20,stop=51000,take=49000",
               "--fill", "trigger")
        want = {"updown": {1: ("take_profit", 2, D(51100), D(51000), D(1000)),
                           2: ("stop_loss", 2, D(51100), D(51000), D(-1000))},
                "adverse": {1: ("stop_loss", 2, D(48900), D(49000), D(-1000)),
                            2: ("stop_loss", 2, D(51100), D(51000), D(-1000))}}
        for path in ("updown", "adverse"):
            with self.subTest(path=path), tempfile.TemporaryDirectory() as tmp:
                events, summary = self.run_json(tmp, bar, *pos, "--path", path)
                closes = {e["position"]: (e["type"], e["path_point"], e["mark"],
                                          e["exit_price"], e["realized_pnl"])
                          for e in events if e["type"] in ("stop_loss", "take_profit")}
                self.assertEqual(closes, want[path])
                self.assertEqual(summary["marks"], 8)

    def test_help_and_bad_arguments(self):
        rc, out, _ = run("replay", "--help")
        self.assertEqual(rc, 0)
        for word in ("--liquidation POLICY", "--liq-fee", "--liq-fill", "--fill mark|trigger",
                     "--path updown", "--path adverse", "partial_liquidation", "path_point"):
            self.assertIn(word, out)
        for args, needle in [
            (("--liquidation", "never"), "--liquidation: 'never'"),
            (("--fill", "best"), "--fill: 'best'"),
            (("--path", "sideways"), "--path: 'sideways'"),
            (("--liq-fee", "2"), "--liq-fee: '2'"),
            (("--demo", "contrast", "--liquidation", "full"), "--demo contrast"),
        ]:
            with self.subTest(args=args):
                rc, out, err = run("replay", *args)
                self.assertEqual((rc, out), (2, ""))
                self.assertIn(needle, err)


class CalcInverse(unittest.TestCase):
    """`margin calc --inverse` (issue 15): isolated inverse (coin-margined) contracts. The
    three published checks of tests/check_inverse.c through the tool, every money figure in
    the coin. N = contracts x contract size (USD); value N/P; PnL s*N*(1/E - 1/P), rounded
    down; liquidation price N*(mmr + s)/(M + cum + s*N/E) (mark basis) or
    s*N/(M + s*N/E - N*mmr/E) (entry basis), long rounded up, short down."""

    INV_KEYS = CalcVectors.KEYS | {"contract", "contract_size", "settlement"}

    def calc(self, *args):
        rc, out, err = run("calc", "--inverse", *args, "--json")
        self.assertEqual(rc, 0, "margin calc --inverse %s failed: %s" % (" ".join(args), err))
        self.assertEqual(err, "")
        self.assertEqual(len(out.splitlines()), 1, out)
        return loads(out)

    def assert_inverse(self, r, keys=None, size=D(1)):
        self.assertEqual(set(r), keys or self.INV_KEYS)
        self.assertEqual((r["contract"], r["settlement"]), ("inverse", "coin"))
        self.assertEqual(r["contract_size"], size)

    def test_bitmex_guide(self):
        # BitMEX: 100,000 contracts of 1 USD bought at 10,000, 10x: margin N/(E*L) =
        # 100,000/100,000 = 1 XBT, value at entry N/E = 10 XBT. At 10,500 the PnL is
        # 100,000 x (1/10,000 - 1/10,500) = 0.476190476.. XBT, rounded down 0.47619047.
        pnl = down(D(100000) * (1 / D(10000) - 1 / D(10500)))
        self.assertEqual(pnl, D("0.47619047"))
        for size in (("--contracts", "100000"), ("--notional", "10")):  # K = 10*10,000/1
            with self.subTest(size=size):
                r = self.calc("--side", "long", "--entry", "10000", *size, "--leverage", "10",
                              "--mark", "10500")
                self.assert_inverse(r)
                self.assertEqual(r["quantity"], D(100000))
                self.assertEqual((r["notional"], r["margin"], r["initial_margin"]),
                                 (D(10), D(1), D(1)))
                self.assertEqual(r["unrealized_pnl"], pnl)
                self.assertEqual(r["margin_balance"], 1 + pnl)
                # bankruptcy N/(N/E + M) = 100,000/11 = 9,090.9090.. (long: up)
                self.assertEqual(r["bankruptcy_price"], up(D(100000) / 11))
                # mark basis, mmr 0.4 %: N*1.004/(M + N/E) = 100,400/11 (up)
                self.assertEqual(r["liquidation_price"], up(D(100400) / 11))

    def test_bybit_entry_basis(self):
        # Bybit, classic inverse: 1,000 contracts of 1 USD at 2,000, 10x, mmr 0.5 %,
        # maintenance at entry. M = 1,000/20,000 = 0.05; LP = E*L/(L + 1 - L*mmr) =
        # 20,000/10.95 = 1,826.484018.. (long: up), E*L/(L - 1 + L*mmr) = 20,000/9.05 =
        # 2,209.944751.. (short: down); maintenance (N/E)*mmr = 0.5 x 0.005 = 0.0025 at any
        # mark.
        want = {"long": (D("1826.48401827"), up(D(20000) / D("10.95")), up(D(20000) / 11)),
                "short": (D("2209.94475138"), down(D(20000) / D("9.05")), down(D(20000) / 9))}
        for side, (published, lp, bp) in want.items():
            with self.subTest(side=side):
                r = self.calc("--mm-basis", "entry", "--mmr", "0.005", "--side", side,
                              "--entry", "2000", "--contracts", "1000", "--leverage", "10",
                              "--mark", "1900")
                self.assert_inverse(r)
                self.assertEqual(r["liquidation_price"], published)
                self.assertEqual(r["liquidation_price"], lp)
                self.assertEqual(r["bankruptcy_price"], bp)
                self.assertEqual((r["margin"], r["notional"]), (D("0.05"), D("0.5")))
                self.assertEqual(r["maintenance_margin"], D("0.0025"))

    def test_binance_coin_m(self):
        # Binance COIN-M: 100,000 contracts of 100 USD (N = 10,000,000) long at 45,000 with
        # an isolated margin of 101 BTC; tiers 0.4 % from 0 and 12.5 % (maintenance amount
        # 11.81) from 250 BTC: LP = N*(mmr + 1)/(M + cum + N/E) = 11,250,000 / (101 + 11.81
        # + 222.22..) = 33,578.8597448.. (up: 33,578.85974484); the value there,
        # 10,000,000/33,578.86 = 297.8 BTC, is in the 12.5 % tier. Leverage (N/E)/M, up.
        lp = up(D(11250000) / (D(101) + D("11.81") + D(10000000) / D(45000)))
        self.assertEqual(lp, D("33578.85974484"))
        with tempfile.TemporaryDirectory() as tmp:
            tiers = os.path.join(tmp, "coinm.csv")
            with open(tiers, "w") as f:
                f.write("floor_notional,mmr,maintenance_amount\n0,0.004,0\n250,0.125,11.81\n")
            base = ("--contract-size", "100", "--tiers", tiers, "--side", "long",
                    "--entry", "45000", "--contracts", "100000", "--margin", "101")
            r = self.calc(*base)
            self.assert_inverse(r, size=D(100))
            self.assertEqual(r["liquidation_price"], lp)
            self.assertEqual(r["leverage"], up(D(10000000) / D(45000) / 101))
            self.assertEqual(r["leverage"], D("2.20022003"))
            self.assertEqual(r["notional"], up(D(10000000) / D(45000)))
            # at 45,000 the first tier: MM = 222.22.. x 0.004 (up)
            self.assertEqual((r["maintenance_rate"], r["maintenance_margin"]),
                             (D("0.004"), up(D(10000000) / D(45000) * D("0.004"))))
            r = self.calc(*base, "--mark", str(lp))
            self.assertEqual((r["maintenance_rate"], r["maintenance_amount"]),
                             (D("0.125"), D("11.81")))

    def test_short_that_cannot_go_bankrupt(self):
        # A 1x short (M = N/E = 10 BTC) loses at most N/E as the price rises: no
        # bankruptcy or liquidation price (null). At 2x (M = 5): BP = N/(N/E - M) =
        # 100,000/5 = 20,000; LP = N*(1 - mmr)/(N/E - M) = 99,500/5 = 19,900 (mmr 0.5 %).
        r = self.calc("--mmr", "0.005", "--side", "short", "--entry", "10000",
                      "--contracts", "100000", "--leverage", "1")
        self.assertEqual((r["margin"], r["liquidation_price"], r["bankruptcy_price"]),
                         (D(10), None, None))
        r = self.calc("--mmr", "0.005", "--side", "short", "--entry", "10000",
                      "--contracts", "100000", "--leverage", "2")
        self.assertEqual((r["margin"], r["liquidation_price"], r["bankruptcy_price"]),
                         (D(5), D(19900), D(20000)))

    def test_liquidation_full(self):
        # The long of test_bitmex_guide with mmr 0.5 %: LP = 100,500/11 = 9,136.3636..
        # (up: 9,136.36363637). At a mark at the LP, filled at the mark, the holder loses
        # its margin of 1; its PnL there is 100,000 x (1/10,000 - 1/9,136.36363637),
        # rounded down -0.94527364, so the pool receives 1 - 0.94527364 = 0.05472636
        # (tests/check_inverse.c). Filled at the liquidation price (--liq-fill liq-price)
        # the holder keeps that rest and the pool gets nothing. At the mark 9,000 the pool
        # takes the deficit: 1 + 100,000 x (1/10,000 - 1/9,000) = -0.11111111.. (the PnL
        # rounded down: -1.11111112, so -0.11111112).
        lp = up(D(100500) / 11)
        base = ("--mmr", "0.005", "--side", "long", "--entry", "10000", "--contracts",
                "100000", "--leverage", "10", "--liquidation", "full")
        keys = self.INV_KEYS | CalcLiquidation.LIQ_KEYS
        pnl = down(D(100000) * (1 / D(10000) - 1 / lp))
        r = self.calc(*base, "--mark", str(lp))
        self.assert_inverse(r, keys)
        self.assertEqual(r["liquidation_price"], lp)
        self.assertEqual((r["liquidated_qty"], r["fill_price"], r["fill"]),
                         (D(100000), lp, "mark"))
        self.assertEqual(r["insurance_fund_delta"], 1 + pnl)
        self.assertEqual(r["insurance_fund_delta"], D("0.05472636"))
        r = self.calc(*base, "--mark", str(lp), "--liq-fill", "liq-price")
        self.assertEqual((r["fill_price"], r["fill"], r["insurance_fund_delta"]),
                         (lp, "liquidation_price", D(0)))
        r = self.calc(*base, "--mark", str(lp + Q8))  # one unit above: not liquidatable
        self.assertEqual((r["liquidated_qty"], r["fill"], r["remaining_qty"]),
                         (D(0), None, D(100000)))
        r = self.calc(*base, "--mark", "9000")
        self.assertEqual((r["fill_price"], r["fill"], r["remaining_qty"]),
                         (D(9000), "mark", D(0)))
        self.assertEqual(r["insurance_fund_delta"],
                         1 + down(D(100000) * (1 / D(10000) - 1 / D(9000))))

    def test_readable_table(self):
        rc, out, err = run("calc", "--inverse", "--contract-size", "100", "--side", "long",
                           "--entry", "45000", "--contracts", "100000", "--margin", "101")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("inverse: 100000 contracts of 100 at 45000", out)
        self.assertIn("in the coin", out)
        rc, out, _ = run("calc", "--inverse", "--side", "short", "--entry", "10000",
                         "--contracts", "100000", "--leverage", "1")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"liquidation price +none")
        self.assertRegex(out, r"bankruptcy price +none")

    def test_partial_policies(self):
        # tests/check_inverse.c, whole contracts (--step 1): a long of 100,000 contracts of
        # 1 USD at 10,000, 10x (M = 1 BTC), filled at the mark, no clearance fee.
        # Min-reduce, one tier of 1 %: LP = 100,000 x 1.01 / (1 + 10) = 9,181.81818182
        # (up); the mark gaps to 9,100. Selling q there leaves the margin
        # M' = 1 + q x (1/10,000 - 1/9,100) (the PnL rounded down) and a remainder
        # R = 100,000 - q whose LP is R x 1.01 / (M' + R/10,000) (up): q = 90,000 leaves it
        # liquidatable (LP 9,100.00008109 >= 9,100), q = 90,001 does not (9,099.99106941):
        # 90,001 are sold, 9,999 stay with 0.10988021 (realized -0.89011979).
        def rest(q):
            m = 1 + down(q * (1 / D(10000) - 1 / D(9100)))
            r = 100000 - q
            return m, up(r * D("1.01") / (m + r / D(10000)))
        self.assertEqual(rest(D(90000)), (D("0.10989010"), D("9100.00008109")))
        self.assertEqual(rest(D(90001)), (D("0.10988021"), D("9099.99106941")))
        keys = self.INV_KEYS | CalcLiquidation.LIQ_KEYS
        base = ("--side", "long", "--entry", "10000", "--contracts", "100000", "--leverage",
                "10", "--step", "1")
        r = self.calc(*base, "--mmr", "0.01", "--mark", "9100", "--liquidation", "min-reduce")
        self.assert_inverse(r, keys)
        self.assertEqual(r["liquidation_price"], up(D(101000) / 11))
        self.assertEqual(r["liquidation_price"], D("9181.81818182"))
        self.assertEqual((r["liquidation_policy"], r["liquidated_qty"], r["remaining_qty"]),
                         ("min-reduce", D(90001), D(9999)))
        self.assertEqual((r["fill_price"], r["fill"], r["liquidation_fee"]),
                         (D(9100), "mark", D(0)))
        self.assertEqual(r["remaining_margin"], D("0.10988021"))
        self.assertEqual(r["insurance_fund_delta"], D(0))
        # Tier-down, tiers 1 % from 0 and 5 % from 5 BTC (derived amount 5 x 0.04 = 0.2):
        # LP = 100,000 x 1.05 / (1 + 0.2 + 10) = 9,375 exactly, in the second tier (the
        # value there is 10.67 BTC). At 9,375 the position keeps the largest remainder worth
        # at most 5 BTC there, floor(5 x 9,375) = 46,875 contracts; the 53,125 sold realize
        # 53,125 x (1/10,000 - 1/9,375) = -0.35416666.. (down: -0.35416667), M' = 0.64583333.
        self.assertEqual(1 + down(53125 * (1 / D(10000) - 1 / D(9375))), D("0.64583333"))
        with tempfile.TemporaryDirectory() as tmp:
            tiers = os.path.join(tmp, "t.csv")
            with open(tiers, "w") as f:
                f.write("floor_notional,mmr\n0,0.01\n5,0.05\n")
            r = self.calc(*base, "--tiers", tiers, "--mark", "9375", "--liquidation",
                          "tier-down")
        self.assert_inverse(r, keys)
        self.assertEqual(r["liquidation_price"], D(9375))
        self.assertEqual((r["maintenance_rate"], r["maintenance_amount"]),
                         (D("0.05"), D("0.2")))
        self.assertEqual((r["liquidation_policy"], r["liquidated_qty"], r["remaining_qty"]),
                         ("tier-down", D(53125), D(46875)))
        self.assertEqual((r["fill_price"], r["fill"]), (D(9375), "mark"))
        self.assertEqual(r["remaining_margin"], D("0.64583333"))
        # Slices: the threshold (100,000) is a coin amount. At 9,181, just below the LP,
        # the margin balance 1 + 100,000 x (1/10,000 - 1/9,181) (PnL down) = 0.10794031 is
        # above 2/3 of the maintenance 0.01 x 100,000/9,181 (no backstop), but the position
        # is worth 100,000/9,181 = 10.89 BTC, below the threshold: liquidated in full, the
        # pool taking that balance.
        balance = 1 + down(100000 * (1 / D(10000) - 1 / D(9181)))
        self.assertEqual(balance, D("0.10794031"))
        r = self.calc(*base, "--mmr", "0.01", "--mark", "9181", "--liquidation", "slices")
        self.assertGreater(balance, r["maintenance_margin"] * 2 / 3)
        self.assertEqual((r["liquidated_qty"], r["remaining_qty"], r["remaining_margin"]),
                         (D(100000), D(0), D(0)))
        self.assertEqual(r["insurance_fund_delta"], balance)
        # The readable table says the position stays open.
        rc, out, err = run("calc", "--inverse", *base, "--mmr", "0.01", "--mark", "9100",
                           "--liquidation", "min-reduce")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"liquidated quantity +90001 +\(in part")
        self.assertRegex(out, r"remaining margin +0\.10988021")

    def test_cross(self):
        # Cross on inverse markets: with one leg the wallet W is the margin, so the price is
        # the isolated one: W = 1, long 100,000 contracts of 1 USD at 10,000, mmr 0.5 %:
        # 100,500/11 (up), bankruptcy 100,000/11 (up), the account's MM 10 x 0.005 = 0.05.
        # With a short of 50,000 at 10,500 in a market of its own (mark 10,500: PnL 0, MM
        # up(50,000/10,500 x 0.005) = 0.02380953) and W = 2: the long's price solves
        # 2 + 10 - 100,000/P - 0.02380953 = 500/P, P = 100,500/11.97619047 (up).
        base = ["--side", "long", "--entry", "10000", "--contracts", "100000", "--leverage",
                "10", "--mmr", "0.005", "--cross"]
        r = self.calc(*base, "--wallet", "1")
        self.assertEqual((r["contract"], r["settlement"]), ("inverse", "coin"))
        self.assertEqual(r["liquidation_price"], up(D(100500) / 11))
        self.assertEqual(r["bankruptcy_price"], up(D(100000) / 11))
        self.assertEqual(r["account_maintenance_margin"], D("0.05"))
        mmo = up(D(50000) / D(10500) * D("0.005"))
        self.assertEqual(mmo, D("0.02380953"))
        r = self.calc(*base, "--wallet", "2", "--other",
                      "side=short,entry=10500,qty=50000,mark=10500,mmr=0.005")
        self.assertEqual(r["liquidation_price"], up(D(100500) / (12 - mmo)))
        self.assertEqual(r["liquidation_price"], D("8391.65010375"))
        self.assertEqual(r["account_maintenance_margin"], D("0.05") + mmo)

    def test_refusals(self):
        # --qty with --inverse and the contract options without it are refused as bad
        # arguments (exit 2).
        base = ["--inverse", "--side", "long", "--entry", "10000", "--contracts", "100000",
                "--leverage", "10"]
        cases = [
            (["--inverse", "--side", "long", "--entry", "10000", "--qty", "1", "--leverage",
              "10"], ["--qty: not with --inverse"]),
            (["--inverse", "--side", "long", "--entry", "10000", "--leverage", "10"],
             ["--contracts: one of --contracts and --notional is required"]),
            (["--side", "long", "--entry", "10000", "--contracts", "1", "--leverage", "10"],
             ["--contracts: only with --inverse"]),
            (["--side", "long", "--entry", "10000", "--qty", "1", "--leverage", "10",
              "--contract-size", "100"], ["--contract-size: only with --inverse"]),
            (base + ["--contract-size", "0"], ["--contract-size"]),
            (base[:4] + ["0.001"] + base[5:],
             ["--entry: '0.001' is below an inverse market's minimum price 0.01"]),
            (base + ["--mark", "0.009"], ["--mark: '0.009'"]),
        ]
        for args, needles in cases:
            with self.subTest(args=args):
                rc, out, err = run("calc", *args)
                self.assertEqual((rc, out), (2, ""), err)
                self.assertEqual(len(err.splitlines()), 1, err)
                for needle in needles:
                    self.assertIn(needle, err)

    def test_help(self):
        rc, out, _ = run("help", "calc")
        self.assertEqual(rc, 0)
        for word in ("--inverse", "--contract-size C", "--contracts K", "\"settlement\": \"coin\"",
                     "in the coin", "--liquidation takes every policy"):
            self.assertIn(word, out)
        self.assertNotIn("policies are not supported", out)


class ReplayInverse(ReplayBase):
    """`margin replay --inverse` (issue 15): every market inverse, sizes in contracts, every
    money field in the coin."""

    def run_json(self, tmp, csv_text, *args):
        prices = self.write(tmp, "p.csv", csv_text)
        rc, out, err = run("replay", "--prices", prices, "--inverse", *args, "--json")
        self.assertEqual(rc, 0, err)
        self.assertNotRegex(out, r'\d[eE][-+]?\d')
        objs = [loads(line) for line in out.splitlines()]
        keys = dict(REPLAY_KEYS, partial_liquidation=ReplayLiquidation.PARTIAL,
                    adl=ReplayAdl.ADL_KEYS)
        for i, o in enumerate(objs[:-1]):
            extra = {"contract", "contract_size"} if o["type"] == "open" else {"contract"}
            if "--liquidation" in args:
                extra |= ReplayLiquidation.EXT.get(o["type"], set())
            if o["type"] == "liquidation" and "adl_covered" in o:
                extra |= {"adl_covered"}
            self.assertEqual(set(o), COMMON_KEYS | keys[o["type"]] | extra, o)
            self.assertEqual((o["seq"], o["contract"]), (i + 1, "inverse"))
        summary = objs[-1]
        adl = {"insurance_pool", "deleveraged"} if "--insurance" in args else set()
        self.assertEqual(set(summary),
                         SUMMARY_KEYS | {"contract", "contract_size", "settlement"} | adl)
        self.assertEqual((summary["contract"], summary["settlement"]), ("inverse", "coin"))
        return objs[:-1], summary

    def test_cross(self):
        # A cross long of 100,000 contracts of 1 USD at 10,000, 10x (initial margin 1),
        # --wallet 1 (available after the open), mmr 0.5 %: the cross wallet is 1 + 1 = 2,
        # the liquidation price 100,500/(2 + 10) = 8,375 and the bankruptcy price
        # 100,000/12 = 8,333.33333333.. (up). 9,000 leaves it open; 8,300 liquidates it:
        # PnL floor(100,000 x (1/10,000 - 1/8,300)) = floor(-2.04819277..) = -2.04819278,
        # the wallet of 2 is gone and the pool takes the deficit 0.04819278.
        with tempfile.TemporaryDirectory() as tmp:
            evs, summary = self.run_json(
                tmp, "time,price\na,10000\nb,9000\nc,8300\n", "--mmr", "0.005", "--wallet",
                "1", "--position", "side=long,contracts=100000,leverage=10,mode=cross")
        self.assertEqual([o["type"] for o in evs], ["open", "liquidation", "cross_liquidation"])
        self.assertEqual((evs[0]["mode"], evs[0]["liquidation_price"]), ("cross", D(8375)))
        liq = evs[1]
        self.assertEqual((liq["time"], liq["mode"], liq["bankruptcy_price"]),
                         ("c", "cross", up(D(100000) / 12)))
        pnl = down(D(100000) * (1 / D(10000) - 1 / D(8300)))
        self.assertEqual((liq["realized_pnl"], pnl), (D("-2.04819278"), D("-2.04819278")))
        self.assertEqual((evs[2]["deficit"], evs[2]["wallet_balance"]), (-2 - pnl, D(0)))
        self.assertEqual((summary["realized_pnl"], summary["free_balance"],
                          summary["insurance_fund"]), (D(-2), D(0), 2 + pnl))

    def test_bitmex_guide_take_profit(self):
        # BitMEX's long closed at 10,500 (a take-profit, filled at the mark that reaches
        # it): PnL 100,000 x (1/10,000 - 1/10,500) = 0.47619047 XBT; no fees; the free
        # balance is the default 1000 (coin) plus the margin 1 given back and the PnL.
        pnl = down(D(100000) * (1 / D(10000) - 1 / D(10500)))
        self.assertEqual(pnl, D("0.47619047"))
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\nb,10250\nc,10500\n",
                "--position", "side=long,contracts=100000,leverage=10,take=10500")
        self.assertEqual([e["type"] for e in events], ["open", "take_profit"])
        op, tp = events
        self.assertEqual((op["quantity"], op["contract_size"], op["margin"]),
                         (D(100000), D(1), D(1)))
        self.assertEqual((tp["exit_price"], tp["realized_pnl"]), (D(10500), pnl))
        self.assertEqual((summary["realized_pnl"], summary["free_balance"]),
                         (pnl, 1000 + 1 + pnl))
        self.assertEqual(summary["contract_size"], D(1))

    def test_funding_in_coin(self):
        # A long and a short of 100,000 contracts of 1 USD at 10,000, 10x (M = 1 each),
        # funding 0.0001 at the mark 10,000: the value is 10 BTC, so the long pays and the
        # short receives 10 x 0.0001 = 0.001 BTC: margins 0.999 and 1.001.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\n",
                "--position", "side=long,contracts=100000,leverage=10",
                "--position", "side=short,contracts=100000,leverage=10",
                "--funding", "0.0001", "--funding-every", "1")
        funding = {e["position"]: (e["payment"], e["margin"])
                   for e in events if e["type"] == "funding"}
        self.assertEqual(funding, {1: (D("-0.001"), D("0.999")), 2: (D("0.001"), D("1.001"))})
        self.assertEqual(summary["open_positions"], 2)

    def test_contract_size_and_notional(self):
        # Binance COIN-M's contract of 100 USD: notional=10 (BTC) at 10,000 is
        # K = 10 x 10,000 / 100 = 1,000 contracts, N = 100,000 USD, M = N/(E*L) = 1.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\n", "--contract-size", "100",
                "--position", "side=long,notional=10,leverage=10")
        op = events[0]
        self.assertEqual((op["quantity"], op["contract_size"], op["margin"]),
                         (D(1000), D(100), D(1)))
        self.assertEqual(summary["contract_size"], D(100))

    def test_liquidation_by_mark(self):
        # tests/check_inverse.c: mmr 0.5 %, the long's LP = 100,500/11 (up:
        # 9,136.36363637): a mark one unit above leaves it open, the LP liquidates it,
        # filled at the mark: the holder loses its margin of 1 and the pool receives
        # 1 + 100,000 x (1/10,000 - 1/9,136.36363637) (PnL down) = 0.05472636.
        lp = up(D(100500) / 11)
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\nb,%s\nc,%s\n" % (lp + Q8, lp),
                "--mmr", "0.005", "--position", "side=long,contracts=100000,leverage=10")
        # (the default margin-call level, 80 %, is crossed on the way)
        self.assertEqual([e["type"] for e in events], ["open", "margin_call", "liquidation"])
        self.assertEqual(events[0]["liquidation_price"], lp)
        self.assertEqual(events[1]["time"], "b")
        liq = events[2]
        self.assertEqual((liq["time"], liq["mark"], liq["realized_pnl"]), ("c", lp, D(-1)))
        self.assertEqual(liq["insurance_fund_delta"], D("0.05472636"))
        self.assertEqual(summary["insurance_fund"], D("0.05472636"))

    def test_short_without_liquidation_price(self):
        # A 1x short (M = N/E = 10 BTC) can lose no more than its margin: no liquidation
        # price (null; the library's INT64_MAX), and the chart draws none.
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\nb,20000\n",
                "--position", "side=short,contracts=100000,leverage=1",
                "--svg", os.path.join(tmp, "c.svg"))
            with open(os.path.join(tmp, "c.svg")) as f:
                svg = f.read()
        self.assertEqual([e["type"] for e in events], ["open"])
        self.assertEqual((events[0]["margin"], events[0]["liquidation_price"]), (D(10), None))
        self.assertEqual(summary["open_positions"], 1)
        self.assertIn('data-pmax="', svg)
        self.assertNotIn("92233720368", svg)

    def test_readable_log(self):
        with tempfile.TemporaryDirectory() as tmp:
            prices = self.write(tmp, "p.csv", "time,price\na,10000\n")
            rc, out, err = run("replay", "--prices", prices, "--inverse",
                               "--position", "side=long,contracts=100000,leverage=10")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Inverse (coin-margined)", out)
        self.assertIn("long 100000 contracts at 10000, 10x, margin 1", out)

    def test_tier_down(self):
        # tests/check_inverse.c: a long of 100,000 contracts of 1 USD at 10,000, 10x
        # (M = 1 BTC), tiers 1 % from 0 and 5 % from 5 BTC (derived amount 5 x 0.04 = 0.2):
        # LP = 100,000 x 1.05 / (1 + 0.2 + 10) = 9,375 exactly. At the mark 9,375 tier-down
        # keeps the largest remainder worth at most 5 BTC there, floor(5 x 9,375) = 46,875
        # contracts (a whole number, so the replay's quantity step of 10^-8 contract does
        # not change it); the 53,125 sold realize 53,125 x (1/10,000 - 1/9,375) =
        # -0.35416666.. (down: -0.35416667), M' = 0.64583333; the remainder, still in the
        # second tier (worth 5.27 BTC at its new LP), has the liquidation price
        # 46,875 x 1.05 / (0.64583333 + 0.2 + 4.6875) = 8,894.95482464 (up).
        realized = down(53125 * (1 / D(10000) - 1 / D(9375)))
        lp = up(46875 * D("1.05") / (1 + realized + D("0.2") + D("4.6875")))
        self.assertEqual((realized, lp), (D("-0.35416667"), D("8894.95482464")))
        with tempfile.TemporaryDirectory() as tmp:
            tiers = self.write(tmp, "t.csv", "floor_notional,mmr\n0,0.01\n5,0.05\n")
            events, summary = self.run_json(
                tmp, "time,price\na,10000\nb,9375\n", "--tiers", tiers,
                "--position", "side=long,contracts=100000,leverage=10",
                "--liquidation", "tier-down")
        self.assertEqual([e["type"] for e in events], ["open", "partial_liquidation"])
        self.assertEqual(events[0]["liquidation_price"], D(9375))
        p = events[1]
        self.assertEqual((p["mark"], p["fill_price"], p["fill"], p["fee"]),
                         (D(9375), D(9375), "mark", D(0)))
        self.assertEqual((p["quantity"], p["remaining_qty"]), (D(53125), D(46875)))
        self.assertEqual((p["realized_pnl"], p["margin"]), (realized, D("0.64583333")))
        self.assertEqual((p["liquidation_price"], p["insurance_fund_delta"]), (lp, D(0)))
        self.assertEqual((summary["open_positions"], summary["liquidated"],
                          summary["realized_pnl"]), (1, 0, realized))

    def test_min_reduce(self):
        # The min-reduce case of tests/check_inverse.c (one tier of 1 %, the long of
        # test_tier_down, the mark gapping to 9,100), on the replay's quantity step of
        # 10^-8 contract instead of whole contracts. Selling q at 9,100 leaves the margin
        # M' = 1 + q x (1/10,000 - 1/9,100) (PnL down) and R = 100,000 - q contracts whose
        # LP is R x 1.01 / (M' + R/10,000) (up); the remainder is liquidatable while that LP
        # is >= 9,100. Whole contracts: q = 90,000 leaves 9,100.00008109, q = 90,001
        # 9,099.99106941, so the least q lies between them; the replay sells that least
        # q, to the step: its remainder's LP is below 9,100, one step less is not.
        def rest(q):
            m = 1 + down(q * (1 / D(10000) - 1 / D(9100)))
            r = 100000 - q
            return m, up(r * D("1.01") / (m + r / D(10000)))
        self.assertEqual(rest(D(90000))[1], D("9100.00008109"))
        self.assertEqual(rest(D(90001))[1], D("9099.99106941"))
        with tempfile.TemporaryDirectory() as tmp:
            events, summary = self.run_json(
                tmp, "time,price\na,10000\nb,9100\n", "--mmr", "0.01",
                "--position", "side=long,contracts=100000,leverage=10",
                "--liquidation", "min-reduce")
        self.assertEqual([e["type"] for e in events], ["open", "partial_liquidation"])
        self.assertEqual(events[0]["liquidation_price"], up(D(101000) / 11))
        p = events[1]
        q = p["quantity"]
        self.assertTrue(D(90000) < q < D(90001), q)
        margin, lp = rest(q)
        self.assertLess(lp, D(9100))
        self.assertGreaterEqual(rest(q - Q8)[1], D(9100))
        self.assertEqual((p["remaining_qty"], p["margin"], p["liquidation_price"]),
                         (100000 - q, margin, lp))
        self.assertEqual((p["realized_pnl"], p["fill_price"], p["fee"]),
                         (margin - 1, D(9100), D(0)))
        self.assertEqual(summary["realized_pnl"], margin - 1)

    def test_adl_rankings(self):
        # Both ADL rankings on one inverse market (--insurance 0: an empty pool, ADL on).
        # #1 is a short of 10,000 contracts of 1 USD at 10,000, 10x (M = 0.1): bankruptcy
        # price N/(N/E - M) = 10,000/0.9 = 11,111.11111111 (down; tests/check_inverse.c).
        # #2, the long of test_bitmex_ranking there (10,000 at 10,000, 10x), and #3, a long
        # of 10,000 at 6,000, 20x (M = 10,000/120,000 = 0.08333334, up). The mark gaps from
        # 10,000 to 12,000: #1 is liquidated there, its balance 0.1 + 10,000 x (1/12,000 -
        # 1/10,000) (PnL down: -0.16666667) = -0.06666667 a deficit the pool cannot take.
        # The scores at 12,000 (mmr 0.4 %), approximately:
        #   BitMEX, PnL% = (P - E)/P times the effective leverage BP/(P - BP):
        #     #2: BP = 10,000/1.1 = 9,090.91, 0.16667 x 9,090.91/2,909.09 = 0.52;
        #     #3: BP = 10,000/(1.66666667 + 0.08333334) = 5,714.29,
        #         0.5 x 5,714.29/6,285.71 = 0.45: #2 first.
        #   Binance, uPnL/M x MM/(M + uPnL), MM = 0.004 x 10,000/12,000 = 0.00333333:
        #     #2: 0.16667/0.1 x 0.00333/0.26667 = 0.021;
        #     #3: 0.83333/0.08333 x 0.00333/0.91667 = 0.036: #3 first.
        # The first in line covers the whole deficit with the short's 10,000 contracts:
        # closed at 11,111.11111111 it gives up 10,000 x (1/11,111.11111111 - 1/12,000),
        # each PnL rounded down: 0.16666666 - 0.09999999 = 0.06666667 for #2,
        # 0.83333333 - 0.76666666 = 0.06666667 for #3.
        bp = down(D(10000) / D("0.9"))
        self.assertEqual(bp, D("11111.11111111"))
        entries = {2: D(10000), 3: D(6000)}
        for rank, who in (("bitmex", 2), ("binance", 3)):
            with self.subTest(rank=rank), tempfile.TemporaryDirectory() as tmp:
                events, summary = self.run_json(
                    tmp, "time,price\na,10000\nb,12000\n", "--insurance", "0",
                    "--adl-ranking", rank,
                    "--position", "side=short,contracts=10000,leverage=10,market=XBTUSD",
                    "--position", "side=long,contracts=10000,leverage=10,market=XBTUSD",
                    "--position",
                    "side=long,contracts=10000,entry=6000,leverage=20,market=XBTUSD")
                after = [e for e in events if e["type"] != "open"]
                self.assertEqual([(e["type"], e["position"]) for e in after],
                                 [("liquidation", 1), ("adl", who)])
                liq, adl = after
                self.assertEqual((liq["bankruptcy_price"], liq["realized_pnl"]),
                                 (bp, D("-0.1")))
                self.assertEqual((liq["insurance_fund_delta"], liq["adl_covered"]),
                                 (D("-0.06666667"), D("0.06666667")))
                at_fill = down(10000 * (1 / entries[who] - 1 / bp))
                at_mark = down(10000 * (1 / entries[who] - 1 / D(12000)))
                self.assertEqual((adl["counterparty"], adl["quantity"], adl["remaining_qty"],
                                  adl["price"], adl["realized_pnl"], adl["margin"]),
                                 (1, D(10000), D(0), bp, at_fill, D(0)))
                self.assertEqual(adl["insurance_fund_delta"], at_mark - at_fill)
                self.assertEqual(adl["insurance_fund_delta"], D("0.06666667"))
                self.assertEqual((summary["insurance_pool"], summary["deleveraged"]),
                                 (D(0), 1))

    def test_refusals(self):
        with tempfile.TemporaryDirectory() as tmp:
            prices = self.write(tmp, "p.csv", "time,price\na,10000\n")
            pos = ("--position", "side=long,contracts=100000,leverage=10")
            cases = [
                (("--inverse", "--position", "side=long,qty=1,leverage=10"),
                 ["qty=: not with --inverse"]),
                (("--position", "side=long,contracts=1,leverage=10"),
                 ["contracts=: only with --inverse"]),
                (("--contract-size", "100") + pos[:1] + ("side=long,qty=1,leverage=10",),
                 ["--contract-size: only with --inverse"]),
                (("--inverse",), ["--inverse: needs --position"]),
            ]
            for args, needles in cases:
                with self.subTest(args=args):
                    rc, out, err = run("replay", "--prices", prices, *args)
                    self.assertEqual((rc, out), (2, ""), err)
                    self.assertEqual(len(err.splitlines()), 1, err)
                    for needle in needles:
                        self.assertIn(needle, err)
        rc, out, err = run("replay", "--demo", "adl", "--inverse")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--demo adl", err)

    def test_help(self):
        rc, out, _ = run("help", "replay")
        self.assertEqual(rc, 0)
        for word in ("--inverse", "--contract-size C", "contracts=K", "\"contract\": \"inverse\"",
                     "Every --liquidation policy and both --adl-ranking",
                     "and mode=cross (the cross wallet in the"):
            self.assertIn(word, out)


if __name__ == "__main__":
    if not os.access(MARGIN, os.X_OK):
        print("margin tool not found at %s" % MARGIN, file=sys.stderr)
        sys.exit(99)
    unittest.main()
