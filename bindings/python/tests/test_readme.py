"""The README's seed example runs exactly as written."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402

README = os.path.join(support.PACKAGE_ROOT, "README.md")


def python_blocks(text: str) -> list:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def run_block(code: str) -> list:
    """Run a README block; return the lines it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, README, "exec"), {"__name__": "readme"})
    return out.getvalue().splitlines()


class ReadmeSeedExample(unittest.TestCase):
    def setUp(self) -> None:
        with open(README, encoding="utf-8") as f:
            self.blocks = python_blocks(f.read())
        # The seed example, the cross-margin example, the snapshot example, then the
        # inverse-contract example.
        self.assertEqual(len(self.blocks), 4, "the README has four python blocks")

    def test_seed_example_runs(self) -> None:
        code = self.blocks[0]
        # It is the seed example: 100 USDT at 20x on 0.1 BTC at 20000.
        self.assertIn('leverage=20', code)
        self.assertIn('qty="0.1", price="20000"', code)
        lines = run_block(code)
        # What the block prints: the event types, then the code and message of the
        # refused close of the liquidated position.
        self.assertEqual(lines[0], "['deposit', 'open', 'margin_call', 'liquidation']")
        self.assertTrue(lines[1].startswith("-7 "), lines[1])
        self.assertGreater(len(lines[1]), 3)

    def test_cross_example_runs(self) -> None:
        code = self.blocks[1]
        self.assertIn("cross=True", code)
        lines = run_block(code)
        self.assertEqual(lines, ["['liquidation', 'liquidation', 'cross_liquidation']"])

    def test_snapshot_example_runs(self) -> None:
        code = self.blocks[2]
        self.assertIn("margin.Engine.load(data)", code)
        self.assertIn("save_file", code)
        lines = run_block(code)
        self.assertEqual(lines, ["['LIQUIDATED']", "SnapshotTruncatedError"])

    def test_inverse_example_runs(self) -> None:
        code = self.blocks[3]
        self.assertIn('contract="inverse"', code)
        lines = run_block(code)
        self.assertEqual(lines, ["-23", "9136.36363637"])


if __name__ == "__main__":
    unittest.main()
