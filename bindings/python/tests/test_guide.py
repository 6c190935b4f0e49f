"""docs/guide.md runs as written: every example prints what the guide shows, and every
calculation written in its text holds and gives a figure of its section's output.

The guide's examples are fenced blocks: a ```sh block (run by `sh -e` with the build
tree's `margin` first in PATH) or a ```python block (run here, through the binding), each
followed by a ```text block with what it prints. In a text block, a line `...` stands for
any number of lines left out; every other line must be a line of the output, in order,
and consecutive lines must be consecutive there. All the blocks run in order in one
scratch directory (a later block may read a file an earlier one wrote).

A calculation is an inline code span of plain arithmetic, such as `2,000 / 20 = 100`
(`x` multiplies, commas group thousands). Every side of it must be equal, exactly; a side
ending in `...` is the exact value's decimal expansion cut short; the result (the last
side, when not cut short) must be a figure of the section's text blocks, so that the
hand calculation and the tool agree. "rounded up to N" or "rounded down to N" after a
cut-short result must be that value rounded so.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from fractions import Fraction
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402

GUIDE = os.path.join(support.top_srcdir(), "docs", "guide.md")

# The sections the guide must have, in order (issue 16); each has at least one example
# and one calculation.
SECTIONS = [
    "Leverage and margin",
    "PnL",
    "The margin ratio",
    "The margin call",
    "The liquidation price, before the bankruptcy price",
    "What happens on a gap",
    "Adding margin",
    "Funding and fees",
    "Isolated versus cross",
    "Partial liquidation",
    "Insurance fund and ADL",
    "Inverse contracts",
    "Snapshots",
]
NO_EXAMPLE: set = set()


def margin_tool() -> Optional[str]:
    """The build tree's `margin` ($top_builddir/tools/margin, as tests/cli_test.py finds
    it; by hand, build/tools/margin under the source tree), or None."""
    builddir = os.environ.get("top_builddir") or os.path.join(support.top_srcdir(), "build")
    path = os.path.join(builddir, "tools", "margin")
    return path if os.access(path, os.X_OK) else None


# ------------------------------------------------------------------ reading the guide
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)


def sections(text: str) -> List[Tuple[str, str]]:
    """(title without its number, body) of each `## ` section."""
    out = []
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        out.append((re.sub(r"^\d+\.\s*", "", title.strip()), body))
    return out


def examples(body: str) -> List[Tuple[str, str, str]]:
    """(language, code, shown output) of each example of a section body."""
    blocks = [(m.group(1), m.group(2)) for m in FENCE.finditer(body)]
    out = []
    i = 0
    while i < len(blocks):
        lang, code = blocks[i]
        if lang not in ("sh", "python"):
            raise AssertionError(f"a ```{lang} block that is not an example's output")
        if i + 1 >= len(blocks) or blocks[i + 1][0] != "text":
            raise AssertionError(f"a ```{lang} block without the ```text block of its output")
        out.append((lang, code, blocks[i + 1][1]))
        i += 2
    return out


# ------------------------------------------------------------------ comparing outputs
def match_shown(shown: str, actual: str) -> Optional[str]:
    """None when *actual* is *shown* with its `...` lines standing for lines left out;
    else what differs."""
    want = [ln.rstrip() for ln in shown.splitlines()]
    got = [ln.rstrip() for ln in actual.splitlines()]
    segments: List[List[str]] = [[]]
    for ln in want:
        if ln == "...":
            segments.append([])
        else:
            segments[-1].append(ln)
    free_start = bool(want) and want[0] == "..."
    free_end = bool(want) and want[-1] == "..."
    segments = [s for s in segments if s]
    pos = 0
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if k == 0 and not free_start:
            starts = [0]
        elif last and not free_end:
            starts = [len(got) - len(seg)]
        else:
            starts = list(range(pos, len(got) - len(seg) + 1))
        found = None
        for s in starts:
            if s >= pos and got[s:s + len(seg)] == seg:
                found = s
                break
        if found is None:
            return "not printed (at that place):\n  " + "\n  ".join(seg)
        pos = found + len(seg)
    if not segments and got and not free_start:
        return "the guide shows no output"
    if not free_end and pos != len(got) and segments:
        return "printed after the last line shown: " + got[pos]
    return None


# ------------------------------------------------------------------ calculations
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?")
ARITH = re.compile(r"[0-9.,()x*/+\- =]+")
SPAN = re.compile(r"`([^`]+)`")
ROUNDED = re.compile(r"\s*,?\s*rounded (up|down)\b[^`]{0,80}?\bto\b[^`\d]{0,20}?(-?\d[\d,]*\.\d+)")


def ungroup(s: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)


def evaluate(expr: str) -> Fraction:
    """The exact value of a calculation's side."""
    py = ungroup(expr).replace("x", "*")
    py = re.sub(r"\d+(?:\.\d+)?", lambda m: "F('%s')" % m.group(0), py)
    value = eval(py, {"__builtins__": {}, "F": Fraction})  # noqa: S307 - digits and operators only
    return Fraction(value)


def figures(text: str) -> set:
    return {Fraction(t) for t in NUMBER.findall(text)}


def calculations(body: str) -> List[Tuple[str, int, str]]:
    """(span, end offset) of each calculation of a section's prose (code blocks left
    out), with its whitespace made single spaces."""
    prose = FENCE.sub("", body)
    out = []
    for m in SPAN.finditer(prose):
        span = " ".join(m.group(1).split())
        if " = " in span and ARITH.fullmatch(span):
            out.append((span, m.end(), prose))
    return out


def check_calculation(span: str, after: str, shown: set) -> Optional[str]:
    """None when the calculation holds; else what is wrong."""
    sides = span.split(" = ")
    exact = None
    for side in sides:
        if side.endswith("..."):
            if exact is None:
                return f"{span}: a cut-short value with nothing before it"
            prefix = ungroup(side[:-3])
            dec = len(prefix.partition(".")[2])
            if Fraction(math.trunc(exact * 10**dec), 10**dec) != Fraction(prefix):
                return f"{span}: {float(exact)!r} does not begin {prefix}"
            continue
        value = evaluate(side)
        if exact is None:
            exact = value
        elif value != exact:
            return f"{span}: {side} is {value}, not {exact}"
    last = sides[-1]
    if not last.endswith("..."):
        if exact not in shown:
            return f"{span}: {last} is not a figure of the section's output"
        return None
    m = ROUNDED.match(" ".join(after[:300].split()))
    if m:
        target = Fraction(ungroup(m.group(2)))
        dec = len(m.group(2).partition(".")[2])
        scaled = exact * 10**dec
        rounded = Fraction(math.ceil(scaled) if m.group(1) == "up" else math.floor(scaled), 10**dec)
        if rounded != target:
            return f"{span}: rounded {m.group(1)} is {rounded}, not {m.group(2)}"
        if target not in shown:
            return f"{span}: {m.group(2)} is not a figure of the section's output"
    return None


# ------------------------------------------------------------------ the tests
class Guide(unittest.TestCase):
    text = ""
    parts: List[Tuple[str, str]] = []

    @classmethod
    def setUpClass(cls) -> None:
        with open(GUIDE, encoding="utf-8") as f:
            cls.text = f.read()
        cls.parts = sections(cls.text)

    def test_sections(self) -> None:
        self.assertEqual([t for t, _ in self.parts], SECTIONS)
        for title, body in self.parts:
            with self.subTest(section=title):
                n = len(examples(body))
                if title in NO_EXAMPLE:
                    self.assertEqual(n, 0)
                else:
                    self.assertGreaterEqual(n, 1, "a section without a worked example")
                    self.assertGreaterEqual(len(calculations(body)), 1,
                                            "a section without a calculation")
        inverse = dict(self.parts)["Inverse contracts"]
        self.assertIn("--inverse", inverse)
        self.assertIn("Cross mode works on inverse markets too", inverse)

    def test_examples_print_what_the_guide_shows(self) -> None:
        tool = margin_tool()
        if tool is None:
            self.skipTest("no built margin tool (set top_builddir)")
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(tool) + os.pathsep + env.get("PATH", "")
        env["LC_ALL"] = "C"
        tmp = tempfile.mkdtemp(prefix="margin-guide-")
        cwd = os.getcwd()
        ran = 0
        try:
            for title, body in self.parts:
                for i, (lang, code, shown) in enumerate(examples(body)):
                    with self.subTest(section=title, example=i + 1):
                        if lang == "sh":
                            p = subprocess.run(["sh", "-e", "-c", code], cwd=tmp, env=env,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               universal_newlines=True, timeout=120)
                            self.assertEqual(p.returncode, 0, p.stderr)
                            actual = p.stdout
                        else:
                            out = io.StringIO()
                            os.chdir(tmp)
                            try:
                                with contextlib.redirect_stdout(out):
                                    exec(compile(code, f"{GUIDE}: {title}", "exec"),
                                         {"__name__": "guide"})
                            finally:
                                os.chdir(cwd)
                            actual = out.getvalue()
                        diff = match_shown(shown, actual)
                        self.assertIsNone(diff, f"{diff}\n--- what it printed:\n{actual}")
                        ran += 1
        finally:
            os.chdir(cwd)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertGreaterEqual(ran, len(SECTIONS) - len(NO_EXAMPLE))

    def test_calculations_hold(self) -> None:
        checked = 0
        for title, body in self.parts:
            shown = set()
            for _, _, out in examples(body):
                shown |= figures(out)
            for span, end, prose in calculations(body):
                with self.subTest(section=title, calculation=span):
                    self.assertIsNone(check_calculation(span, prose[end:], shown))
                checked += 1
        self.assertGreaterEqual(checked, 30)


class Checker(unittest.TestCase):
    """The checker itself fails on what it must catch."""

    def test_match_shown(self) -> None:
        out = "a 1\nb 2\nc 3\nd 4\n"
        self.assertIsNone(match_shown("a 1\nb 2\nc 3\nd 4\n", out))
        self.assertIsNone(match_shown("...\nb 2\nc 3\n...\n", out))
        self.assertIsNone(match_shown("a 1\n...\nd 4\n", out))
        self.assertIsNotNone(match_shown("a 1\nb 2\n", out))          # lines after
        self.assertIsNotNone(match_shown("...\nb 2\nc 4\n...\n", out))  # a figure differs
        self.assertIsNotNone(match_shown("...\nb 2\nd 4\n...\n", out))  # not consecutive
        self.assertIsNotNone(match_shown("...\nc 3\n...\nb 2\n...\n", out))  # order
        self.assertIsNotNone(match_shown("b 2\n...\n", out))          # not the first line

    def test_check_calculation(self) -> None:
        shown = figures("margin 100, liquidation price 19076.30522089")
        self.assertIsNone(check_calculation("2,000 / 20 = 100", "", shown))
        self.assertIsNotNone(check_calculation("2,000 / 20 = 101", "", shown))
        self.assertIsNotNone(check_calculation("2,000 / 10 = 200", "", shown))  # not shown
        calc = "(100 - 2,000) / (0.1 x 0.004 - 0.1) = 19,076.305220883..."
        self.assertIsNone(check_calculation(calc, ", rounded up to 19,076.30522089", shown))
        self.assertIsNotNone(check_calculation(calc, ", rounded down to 19,076.30522088",
                                               shown))
        self.assertIsNotNone(check_calculation(
            "(100 - 2,000) / (0.1 x 0.004 - 0.1) = 19,076.305220884...", "", shown))


if __name__ == "__main__":
    unittest.main()
