"""Random (seeded) sequences of calls, valid and invalid, through the binding: every call
either succeeds or raises a typed error (MarginError or TypeError), the process never
crashes, and the books balance after every step.

Invariant (per account), from the accounting rules of margin.h: money only enters an
account by deposits, funding received and realized PnL, and only leaves by withdrawals,
fees, funding paid and realized losses, so
    deposits - withdrawals + realized_pnl - fees + funding == free_balance + isolated_margin.
And, per engine: open positions counted by the engine == open positions of the accounts.
"""

from __future__ import annotations

import os
import random
import sys
import unittest
from decimal import Decimal
from typing import Any, Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402

D = Decimal

EXTREMES = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 2**64, -(2**64)]


def rnd_amount(r: random.Random) -> Any:
    k = r.random()
    if k < 0.05:
        return r.choice(EXTREMES)
    if k < 0.08:
        return r.choice(["", "abc", "1e5", "-0", "0.000000001", "1" * 45, "NaN", 1.5, None])
    if k < 0.12:
        return str(-r.randint(1, 1000))
    units = r.randint(1, 10**r.randint(1, 12))
    return str(D(units).scaleb(-r.randint(0, 8)))


def rnd_price(r: random.Random, base: int = 20000) -> Any:
    k = r.random()
    if k < 0.05:
        return r.choice(EXTREMES + ["0", "-5", 20000.0, "20000.000000001"])
    return str(base + r.randint(-3000, 3000)) + r.choice(["", ".5", ".25", ".01"])


def rnd_qty(r: random.Random) -> Any:
    k = r.random()
    if k < 0.05:
        return r.choice(EXTREMES + ["0", "-1", 0.5])
    return r.choice(["0.001", "0.01", "0.1", "0.5", "1", "2", "3"])


class RandomSequences(unittest.TestCase):
    def run_one(self, seed: int, steps: int) -> None:
        r = random.Random(seed)
        with margin.Engine(full_scan=bool(seed % 2)) as eng:
            markets = [eng.new_market("BTCUSDT"), eng.new_market("ETHUSDT", tick="0.01")]
            accounts = [eng.new_account(deposit="100000") for _ in range(3)]
            positions: List[margin.Position] = []
            ok = failed = 0
            for step in range(steps):
                eng.time = step
                op = r.randrange(12)
                m = r.choice(markets)
                a = r.choice(accounts)
                p = r.choice(positions) if positions else None
                fn: Callable[[], Any]
                if op == 0:
                    fn = lambda: a.deposit(rnd_amount(r))
                elif op == 1:
                    fn = lambda: a.withdraw(rnd_amount(r))
                elif op in (2, 3):
                    lev = r.choice([None, 1, 2, 5, 10, 20, 50, 125, 126, "0.5", 0, -3])
                    mar = r.choice([None, None, None, "100", "1", "0", rnd_amount(r)])

                    def fn() -> None:
                        pos = a.open_position(m, r.choice(["long", "short", 0, 3]), rnd_qty(r),
                                              rnd_price(r), leverage=lev, margin=mar)
                        positions.append(pos)
                elif op == 4 and p is not None:
                    fn = lambda: p.trade(r.choice(["buy", "sell"]), rnd_qty(r), rnd_price(r))
                elif op == 5 and p is not None:
                    fn = lambda: p.close(rnd_price(r))
                elif op == 6 and p is not None:
                    fn = lambda: p.add_margin(rnd_amount(r))
                elif op == 7 and p is not None:
                    fn = lambda: p.remove_margin(rnd_amount(r))
                elif op == 8 and p is not None:
                    fn = lambda: p.set_leverage(r.choice([1, 3, 10, 20, 125, 1000, 0, "2.5"]))
                elif op == 9 and p is not None:
                    fn = lambda: p.set_stops(r.choice([None, rnd_price(r)]), r.choice([None, rnd_price(r)]))
                elif op == 10:
                    fn = lambda: m.mark_update(rnd_price(r))
                elif op == 11:
                    rate = r.choice(["0.0001", "-0.0001", "0.01", "-0.05", "1", "0", 0.001])
                    fn = lambda: m.funding(rate, rnd_price(r))
                else:
                    fn = lambda: m.mark_update(rnd_price(r))
                try:
                    fn()
                    ok += 1
                except (margin.MarginError, TypeError):
                    failed += 1
                # Draining the queue must always work and yield typed events.
                for e in eng.events():
                    self.assertIsInstance(e, margin.Event)
                    self.assertNotIsInstance(e, margin.events.UnknownEvent)
                self.check_books(eng, accounts, f"seed {seed} step {step}")
            self.assertGreater(ok, steps // 10)
            self.assertGreater(failed, 0)

    def check_books(self, eng: margin.Engine, accounts: List[margin.Account], where: str) -> None:
        total_open = 0
        for a in accounts:
            lhs = a.deposits - a.withdrawals + a.realized_pnl - a.fees + a.funding
            rhs = a.free_balance + a.isolated_margin
            self.assertEqual(lhs, rhs, f"{where}: account {a.id} books do not balance")
            self.assertGreaterEqual(a.free_balance, 0, where)
            total_open += a.open_positions
        self.assertEqual(eng.open_positions, total_open, where)

    def test_seeds(self) -> None:
        for seed in range(8):
            with self.subTest(seed=seed):
                self.run_one(seed, 500)


if __name__ == "__main__":
    unittest.main()
