"""Issue 12: the event-queue cap (``Engine.event_cap``, ``MARGIN_ENG_EVENT_CAP``).  A call
that would queue events past the cap raises EventQueueFull and changes nothing (no event
is dropped, a mark update or a funding round is refused whole); after the queue is
drained the same call works."""

from __future__ import annotations

import os
import sys
import unittest
from decimal import Decimal
from typing import Any, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi  # noqa: E402

D = Decimal


def snapshot_of(eng: margin.Engine) -> Tuple[Any, ...]:
    """What a refused call must leave as it was."""
    return (eng.state_hash, eng.save(), eng.last_seq, eng.events_pending, eng.insurance_fund,
            eng.liquidations, eng.open_positions)


class EventCap(unittest.TestCase):
    def test_option(self) -> None:
        with margin.Engine() as eng:
            self.assertIsNone(eng.event_cap)  # the default: no cap
            eng.event_cap = 5
            self.assertEqual(eng.event_cap, 5)
            self.assertEqual(eng.get(_capi.MARGIN_ENG_EVENT_CAP), 5)
            eng.event_cap = None
            self.assertIsNone(eng.event_cap)
            eng.event_cap = 7
            eng.event_cap = 0  # 0 is "none" too
            self.assertIsNone(eng.event_cap)
            with self.assertRaises(margin.InvalidArgument):
                eng.event_cap = -1
            self.assertIsNone(eng.event_cap)
            with self.assertRaises(TypeError):
                eng.event_cap = 1.5  # type: ignore[assignment]
        with margin.Engine(event_cap=3) as eng:
            self.assertEqual(eng.event_cap, 3)
        with margin.Engine(event_cap=0) as eng:
            self.assertIsNone(eng.event_cap)

    def test_a_refused_call_changes_nothing_and_works_after_draining(self) -> None:
        seen: List[margin.Event] = []
        with margin.Engine(event_cap=2, callback=seen.append) as eng:
            a = eng.new_account(deposit="10")
            a.deposit("5")
            self.assertEqual(eng.events_pending, 2)
            before = snapshot_of(eng)
            with self.assertRaises(margin.EventQueueFull) as cm:
                a.deposit("1")
            exc = cm.exception
            self.assertEqual(exc.code, _capi.MARGIN_EFULL)
            self.assertIn("cap of 2", exc.message)
            self.assertEqual(eng.errcode, _capi.MARGIN_EFULL)
            self.assertEqual(snapshot_of(eng), before)
            self.assertEqual(a.free_balance, D("15"))
            self.assertEqual(len(seen), 2, "the callback saw nothing of the refused call")
            # Reading one event makes room for one.
            self.assertIsInstance(eng.next_event(), margin.events.Deposit)
            a.deposit("1")
            self.assertEqual(a.free_balance, D("16"))
            self.assertEqual([e.amount for e in eng.events()], [D("5"), D("1")])
            self.assertEqual(len(seen), 3)

    def test_a_mark_update_is_refused_whole(self) -> None:
        with margin.Engine(event_cap=4, margin_call_levels=[]) as eng:
            btc = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="1000")
            p1 = a.open_position(btc, "long", "0.1", "20000", leverage=20)
            p2 = a.open_position(btc, "long", "0.1", "20000", leverage=20)
            self.assertEqual(eng.events_pending, 3)  # room for one: two liquidations won't fit
            before = snapshot_of(eng)
            with self.assertRaises(margin.EventQueueFull):
                btc.mark_update("19000")
            self.assertEqual(snapshot_of(eng), before)
            self.assertEqual((p1.status, p2.status), (margin.Status.OPEN, margin.Status.OPEN))
            self.assertEqual(btc.mark, None)
            # A funding round too: one event per position.
            with self.assertRaises(margin.EventQueueFull):
                btc.funding("0.0001", "20000")
            self.assertEqual(snapshot_of(eng), before)
            self.assertEqual(p1.funding, D("0"))
            eng.next_event()
            btc.mark_update("19000")
            self.assertEqual([e.type_name for e in eng.events()],
                             ["open", "open", "liquidation", "liquidation"])
            self.assertEqual(eng.liquidations, 2)
            self.assertEqual(eng.positions(), [])

    def test_a_cap_below_the_queue_only_stops_new_events(self) -> None:
        with margin.Engine() as eng:
            a = eng.new_account()
            for _ in range(3):
                a.deposit("1")
            eng.event_cap = 1
            self.assertEqual(eng.events_pending, 3)
            with self.assertRaises(margin.EventQueueFull):
                a.deposit("1")
            self.assertEqual(len(list(eng.events())), 3)  # nothing was dropped
            a.deposit("1")
            with self.assertRaises(margin.EventQueueFull):
                a.deposit("1")
            self.assertEqual(a.free_balance, D("4"))

    def test_no_queue_no_cap(self) -> None:
        seen: List[margin.Event] = []
        with margin.Engine(event_cap=1, event_queue=False, callback=seen.append) as eng:
            a = eng.new_account()
            for _ in range(3):
                a.deposit("1")
            self.assertEqual(eng.events_pending, 0)
            self.assertEqual(len(seen), 3)

    def test_the_cap_is_in_the_snapshot(self) -> None:
        with margin.Engine(event_cap=1) as eng:
            eng.new_account(deposit="1")
            with margin.Engine.load(eng.save()) as b:
                self.assertEqual(b.event_cap, 1)
                with self.assertRaises(margin.EventQueueFull):
                    b.account(1).deposit("1")
                b.next_event()
                b.account(1).deposit("1")


if __name__ == "__main__":
    unittest.main()
