"""Issue 12, item 5: snapshots (bytes and files), the state hash and a restart that keeps
no ids.  A loaded engine saves the same bytes and, continued with the same calls, produces
the same events and state hashes as the engine that saved it; a damaged snapshot raises
its own SnapshotError and leaves nothing half-built."""

from __future__ import annotations

import os
import pathlib
import struct
import sys
import tempfile
import unittest
from decimal import Decimal
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi  # noqa: E402

D = Decimal


def build(eng: margin.Engine) -> None:
    """A state with something of everything a snapshot holds: two markets (scales, tiers,
    the entry basis, a fee to close), isolated and cross accounts, stops, funding, a
    liquidation, a closed position, a fired margin-call level, non-default options and
    events left in the queue."""
    eng.time = 1_700_000_000_000
    eng.set_margin_call_levels(["0.5", "0.8"])
    eng.set(_capi.MARGIN_ENG_REARM_BAND, 5_000_000)  # 0.05
    eng.cross_liquidation = "worst_first"
    eng.event_cap = 1000
    btc = eng.new_market("BTCUSDT", price_scale=2, qty_scale=3, tick="0.1",
                         tiers=[("0", "0.004"), ("50000", "0.005"), ("250000", "0.01")])
    eth = eng.new_market("ETHUSDT", price_scale=2, qty_scale=2, mm_basis=margin.MMBasis.ENTRY,
                         close_fee="0.0005", maker_fee="0.0001")
    alice = eng.new_account(deposit="10000")
    bob = eng.new_account(deposit="5000")
    bob.set_mode(btc, "cross")
    bob.set_mode(eth, "cross")
    carol = eng.new_account(deposit="1000")
    p1 = alice.open_position(btc, "long", "0.5", "20000", leverage=10)
    p1.set_stops(stop_loss="18500", take_profit="23000")
    alice.open_position(eth, "short", "3", "1500", margin="500", maker=True)
    bob.open_position(btc, "short", "0.2", "20000", leverage=20, cross=True)
    bob.open_position(eth, "long", "2", "1500", leverage=10, cross=True)
    carol.open_position(btc, "long", "0.1", "20000", leverage=50)
    carol.open_position(btc, "long", "0.1", "20000", leverage=20)
    alice.open_position(btc, "short", "0.1", "20100", leverage=5).close("20050")
    list(eng.events())  # these are read; the ones below stay queued
    btc.mark_update("20100")
    btc.funding("0.0001", "20100")
    eth.mark_update("1510")
    eng.time += 60_000
    btc.mark_update("19650")  # carol's 50x long is liquidated
    p1.add_margin("100")
    alice.withdraw("50")
    btc.mark_update("19140")  # carol's 20x long passes the 0.5 level


#: Further calls, by id and symbol (the same calls on any engine holding the state).
STEPS: List[Callable[[margin.Engine], None]] = [
    lambda e: setattr(e, "time", e.time + 1000),
    lambda e: e.market("BTCUSDT").mark_update("18400"),  # a stop-loss and a liquidation
    lambda e: e.market("ETHUSDT").mark_update("1700"),
    lambda e: e.market("ETHUSDT").funding("-0.0002", "1700"),
    lambda e: e.position(4).trade("sell", "1", "1700"),
    lambda e: e.account(3).deposit("10"),
    lambda e: e.new_account(deposit="1") and None,
    lambda e: e.market("BTCUSDT").mark_update("21000"),
]


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def sections(data: bytes) -> Dict[bytes, Tuple[int, int, int]]:
    """tag -> (payload offset, item count, payload length), from docs/snapshot.md."""
    out = {}
    off = 32
    for _ in range(struct.unpack_from("<I", data, 12)[0]):
        tag, count, length = struct.unpack_from("<4sIQ", data, off)
        out[tag] = (off + 16, count, length)
        off += 16 + length
    return out


def resealed(data: bytearray) -> bytes:
    """*data* with its CRC-32C trailer recomputed (a well-formed snapshot of bad fields)."""
    struct.pack_into("<I", data, len(data) - 4, crc32c(bytes(data[:-4])))
    return bytes(data)


class RoundTrip(unittest.TestCase):
    def setUp(self) -> None:
        self.a = margin.Engine()
        build(self.a)
        self.data = self.a.save()

    def tearDown(self) -> None:
        self.a.close()

    def test_crc32c_of_the_tests_is_the_formats(self) -> None:
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(struct.unpack_from("<I", self.data, len(self.data) - 4)[0],
                         crc32c(self.data[:-4]))

    def test_header(self) -> None:
        d = self.data
        self.assertEqual(d[:8], b"LMARGIN\x1a")
        self.assertEqual(struct.unpack_from("<IIQ", d, 8),
                         (margin.SNAPSHOT_VERSION, 5, len(d)))
        self.assertEqual(list(sections(d)), [b"ENGN", b"MRKT", b"ACCT", b"POSN", b"EVNT"])
        self.assertEqual(sections(d)[b"EVNT"][1], self.a.events_pending)

    def test_save_load_save_gives_the_same_bytes(self) -> None:
        with margin.Engine.load(self.data) as b:
            self.assertEqual(b.save(), self.data)
            self.assertEqual(b.state_hash, self.a.state_hash)
        # bytearray and memoryview too
        with margin.Engine.load(bytearray(self.data)) as b:
            self.assertEqual(b.save(), self.data)
        with margin.Engine.load(memoryview(self.data)) as b:
            self.assertEqual(b.save(), self.data)

    def test_the_same_calls_give_the_same_events_and_hashes(self) -> None:
        b = margin.Engine.load(self.data)
        self.addCleanup(b.close)
        # The queued events came along, in order.
        self.assertEqual(b.events_pending, self.a.events_pending)
        hashes = set()
        seen: List[str] = []
        for i, step in enumerate(STEPS):
            with self.subTest(step=i):
                step(self.a)
                step(b)
                ea, eb = list(self.a.events()), list(b.events())
                self.assertEqual(ea, eb)
                self.assertEqual([e.raw for e in ea], [e.raw for e in eb])
                self.assertEqual(self.a.state_hash, b.state_hash)
                hashes.add(self.a.state_hash)
                seen += [e.type_name for e in ea]
        self.assertEqual(len(hashes), len(STEPS), "every step changed the state")
        self.assertEqual(self.a.save(), b.save())
        # The queued events first, then what the steps did: triggers of every kind.
        self.assertEqual(seen[:8], ["funding"] * 4 + ["liquidation", "margin_add", "withdraw",
                                                      "margin_call"])
        for kind in ("stop_loss", "liquidation", "funding", "reduce", "deposit"):
            self.assertIn(kind, seen[8:])

    def test_figures_options_and_listing_survive(self) -> None:
        a = self.a
        with margin.Engine.load(self.data) as b:
            self.assertEqual(b.time, a.time)
            self.assertEqual(b.margin_call_levels, (D("0.5"), D("0.8")))
            self.assertEqual(b.cross_liquidation, margin.CrossLiquidationPolicy.WORST_FIRST)
            self.assertEqual(b.event_cap, 1000)
            self.assertEqual(b.get(_capi.MARGIN_ENG_REARM_BAND), 5_000_000)
            for key in ("insurance_fund", "open_positions", "last_seq", "liquidations",
                        "events_pending", "cross_evaluations"):
                self.assertEqual(getattr(b, key), getattr(a, key), key)
            btc = b.market("BTCUSDT")
            self.assertEqual((btc.price_scale, btc.qty_scale, btc.tick), (2, 3, D("0.1")))
            self.assertEqual(btc.tiers, a.market("BTCUSDT").tiers)
            self.assertEqual(btc.mark, D("19140"))
            self.assertEqual(b.market("ETHUSDT").mm_basis, margin.MMBasis.ENTRY)
            self.assertEqual(b.account(2).mode(btc), margin.Mode.CROSS)
            # A restart that kept no ids finds every position through the listings.
            for status in (None, "open", "closed", "liquidated"):
                self.assertEqual([p.id for p in b.positions(status)],
                                 [p.id for p in a.positions(status)], status)
            self.assertEqual([p.id for p in b.account(3).positions(None)], [5, 6])
            self.assertEqual([p.id for p in btc.positions("open")], [1, 3, 6])
            for pa in a.positions(None):
                pb = b.position(pa.id)
                for key in ("side", "qty", "entry_price", "margin", "leverage", "status",
                            "mode", "realized_pnl", "fees", "funding", "stop_loss",
                            "take_profit", "liq_price"):
                    self.assertEqual(getattr(pb, key), getattr(pa, key), (pa.id, key))
            for i in (1, 2, 3):
                for key in ("free_balance", "equity", "available", "margin_ratio"):
                    self.assertEqual(getattr(b.account(i), key), getattr(a.account(i), key))

    def test_the_callback_is_the_loading_engines(self) -> None:
        seen: List[margin.Event] = []
        with margin.Engine.load(self.data, callback=seen.append) as b:
            self.assertEqual(seen, [])  # loading produces no event
            b.account(1).deposit("1")
            self.assertEqual([e.type_name for e in seen], ["deposit"])
            self.assertEqual(seen[0].seq, self.a.last_seq + 1)

    def test_hash(self) -> None:
        a = self.a
        h = a.state_hash
        self.assertIsInstance(h, int)
        self.assertTrue(0 <= h < 2**64)
        self.assertEqual(a.state_hash, h)  # reading it changes nothing
        with margin.Engine() as c, margin.Engine() as d:
            self.assertEqual(c.state_hash, d.state_hash)
            build(c)
            self.assertEqual(c.state_hash, h)  # the same calls, another engine
            c.time = c.time + 1
            self.assertNotEqual(c.state_hash, h)
            self.assertNotEqual(d.state_hash, h)
        a.account(1).deposit("0.00000001")
        self.assertNotEqual(a.state_hash, h)
        # Reading the queue changes the state too (the queued events are in it).
        h = a.state_hash
        a.next_event()
        self.assertNotEqual(a.state_hash, h)

    def test_an_empty_engine(self) -> None:
        with margin.Engine() as e:
            data = e.save()
            with margin.Engine.load(data) as f:
                self.assertEqual(f.save(), data)
                self.assertEqual(f.positions(None), [])

    def test_a_closed_engine(self) -> None:
        e = margin.Engine()
        e.close()
        for call in (e.save, lambda: e.state_hash, lambda: e.save_file("x")):
            with self.assertRaises(margin.StateError):
                call()


class RetiredPositions(unittest.TestCase):
    """``Engine.retain_closed``: a block of 1024 ids whose positions all closed before the
    window is retired; a snapshot keeps it retired."""

    def test_retired_ids_stay_retired_after_a_load(self) -> None:
        with margin.Engine(event_queue=False) as eng:
            self.assertEqual(eng.retain_closed, 1 << 20)
            eng.retain_closed = 0
            self.assertEqual(eng.retain_closed, 0)
            btc = eng.new_market("BTCUSDT")
            a = eng.new_account(deposit="100000")
            for i in range(1030):
                p = a.open_position(btc, "long", "0.001", "20000", leverage=10)
                if i < 1025:
                    p.close("20000")
            data = eng.save()
            with margin.Engine.load(data) as b:
                self.assertEqual(b.save(), data)
                for e in (eng, b):
                    with self.assertRaises(margin.NotFound) as cm:
                        e.position(1)
                    self.assertIn("retired", cm.exception.message)
                    self.assertEqual([p.id for p in e.positions()], list(range(1026, 1031)))
                    self.assertEqual(e.position(1025).status, margin.Status.CLOSED)
                self.assertEqual(b.retain_closed, 0)
            with self.assertRaises(margin.InvalidArgument):
                eng.retain_closed = -1


class Files(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="margin-snapshot-")
        self.addCleanup(self.dir.cleanup)
        self.eng = margin.Engine()
        self.addCleanup(self.eng.close)
        build(self.eng)

    def path(self, name: str) -> str:
        return os.path.join(self.dir.name, name)

    def test_round_trip(self) -> None:
        p = self.path("engine.snap")
        self.eng.save_file(p)
        with open(p, "rb") as f:
            self.assertEqual(f.read(), self.eng.save())
        self.assertEqual(os.listdir(self.dir.name), ["engine.snap"])  # no temporary left
        with margin.Engine.load_file(p) as b:
            self.assertEqual(b.state_hash, self.eng.state_hash)
            for step in STEPS:
                step(b)
                step(self.eng)
            self.assertEqual(list(b.events()), list(self.eng.events()))
            # Saving over an existing file replaces it whole.
            b.save_file(p)
            with open(p, "rb") as f:
                self.assertEqual(f.read(), self.eng.save())
        self.assertEqual(os.listdir(self.dir.name), ["engine.snap"])

    def test_path_types(self) -> None:
        data = self.eng.save()
        for p in (pathlib.Path(self.path("a.snap")), os.fsencode(self.path("b.snap")),
                  self.path("c.snap")):
            with self.subTest(path=p):
                self.eng.save_file(p)
                with margin.Engine.load_file(p) as b:
                    self.assertEqual(b.save(), data)
        old = os.getcwd()
        os.chdir(self.dir.name)
        try:
            self.eng.save_file("relative.snap")  # its directory is "."
            with margin.Engine.load_file("relative.snap") as b:
                self.assertEqual(b.save(), data)
        finally:
            os.chdir(old)

    def test_io_errors(self) -> None:
        missing = self.path("no-such-file")
        with self.assertRaises(margin.FileError) as cm:
            margin.Engine.load_file(missing)
        exc = cm.exception
        self.assertIsInstance(exc, OSError)
        self.assertEqual(exc.code, _capi.MARGIN_EIO)
        self.assertEqual(exc.filename, missing)
        self.assertIn("open", exc.message)
        self.assertIn(missing, exc.message)

        in_missing_dir = self.path(os.path.join("no-such-dir", "x.snap"))
        with self.assertRaises(margin.FileError) as cm:
            self.eng.save_file(in_missing_dir)
        self.assertEqual(cm.exception.filename, in_missing_dir)
        self.assertFalse(os.path.exists(os.path.dirname(in_missing_dir)))

        # A directory in the way: the rename fails, the directory and its content stay,
        # and the temporary file is removed.
        d = self.path("a-dir")
        os.mkdir(d)
        with open(os.path.join(d, "keep"), "wb") as f:
            f.write(b"keep")
        with self.assertRaises(margin.FileError) as cm:
            self.eng.save_file(d)
        self.assertIn("rename", cm.exception.message)
        self.assertEqual(sorted(os.listdir(self.dir.name)), ["a-dir"])
        self.assertEqual(os.listdir(d), ["keep"])
        # Reading a directory fails on the read.
        with self.assertRaises(margin.FileError):
            margin.Engine.load_file(d)
        # The engine that failed to write is as it was.
        self.assertEqual(margin.Engine.load(self.eng.save()).state_hash, self.eng.state_hash)

    def test_bad_file_content(self) -> None:
        p = self.path("garbage")
        with open(p, "wb") as f:
            f.write(b"not a snapshot at all, just text\n")
        with self.assertRaises(margin.SnapshotMagicError):
            margin.Engine.load_file(p)
        open(p, "wb").close()  # empty
        with self.assertRaises(margin.SnapshotMagicError):
            margin.Engine.load_file(p)
        with open(p, "wb") as f:
            f.write(self.eng.save()[:-1])
        with self.assertRaises(margin.SnapshotTruncatedError):
            margin.Engine.load_file(p)

    def test_bad_paths(self) -> None:
        for p in ("", b"", "a\0b"):
            with self.subTest(path=p):
                with self.assertRaises(margin.InvalidArgument):
                    self.eng.save_file(p)
                with self.assertRaises(margin.InvalidArgument):
                    margin.Engine.load_file(p)
        for p in (None, 3, ["x"]):
            with self.subTest(path=p):
                with self.assertRaises(TypeError):
                    self.eng.save_file(p)  # type: ignore[arg-type]
                with self.assertRaises(TypeError):
                    margin.Engine.load_file(p)  # type: ignore[arg-type]


class Damaged(unittest.TestCase):
    """Each kind of damage raises its class; the engine the C library loads into stays
    empty (its hash is a new engine's, and it can still load a good snapshot)."""

    @classmethod
    def setUpClass(cls) -> None:
        with margin.Engine() as e:
            build(e)
            cls.good = e.save()

    def assert_refused(self, data: bytes, cls: type, what: str = "") -> margin.MarginError:
        with self.assertRaises(cls) as cm:
            margin.Engine.load(data)
        exc = cm.exception
        self.assertIsInstance(exc, margin.SnapshotError)
        self.assertIsInstance(exc, ValueError)
        self.assertEqual(exc.code, cls.CODE)  # type: ignore[attr-defined]
        self.assertTrue(exc.message)
        self.assertIn(what, exc.message)
        # Straight through the C function, into an engine we keep.
        with margin.Engine() as eng:
            fresh = eng.state_hash
            rc = _capi.lib.margin_snapshot_load(eng.handle, data, len(data))
            self.assertEqual(rc, cls.CODE)  # type: ignore[attr-defined]
            self.assertEqual(eng.errcode, rc)
            self.assertEqual(eng.errmsg(), exc.message)
            self.assertEqual(eng.state_hash, fresh)
            self.assertEqual((eng.positions(None), eng.events_pending, eng.last_seq), ([], 0, 0))
            with self.assertRaises(margin.NotFound):
                eng.market("BTCUSDT")
            self.assertEqual(_capi.lib.margin_snapshot_load(eng.handle, self.good, len(self.good)), 0)
            self.assertEqual(eng.save(), self.good)
        return exc

    def test_magic(self) -> None:
        for data in (b"", b"LMARGIN", b"X" + self.good[1:], b"\0" * 64):
            with self.subTest(data=data[:8]):
                self.assert_refused(data, margin.SnapshotMagicError, "magic")

    def test_version(self) -> None:
        d = bytearray(self.good)
        struct.pack_into("<I", d, 8, margin.SNAPSHOT_VERSION + 1)
        self.assert_refused(bytes(d), margin.SnapshotVersionError,
                            f"version {margin.SNAPSHOT_VERSION + 1}")
        self.assert_refused(resealed(d), margin.SnapshotVersionError)

    def test_truncated(self) -> None:
        for n in (len(self.good) - 1, len(self.good) // 2, 40, 20):
            with self.subTest(length=n):
                self.assert_refused(self.good[:n], margin.SnapshotTruncatedError)

    def test_checksum(self) -> None:
        for off in (32, len(self.good) // 2, len(self.good) - 5, len(self.good) - 1):
            with self.subTest(offset=off):
                d = bytearray(self.good)
                d[off] ^= 0x40
                self.assert_refused(bytes(d), margin.SnapshotChecksumError, "checksum")

    def test_corrupt_fields(self) -> None:
        secs = sections(self.good)
        # The first market's price scale (after its symbol length and "BTCUSDT").
        d = bytearray(self.good)
        d[secs[b"MRKT"][0] + 1 + 7] = 19
        self.assert_refused(resealed(d), margin.SnapshotCorruptError, "MRKT")
        # The first account's free balance, one unit more: its ledgers no longer balance.
        d = bytearray(self.good)
        off = secs[b"ACCT"][0]
        struct.pack_into("<q", d, off, struct.unpack_from("<q", d, off)[0] + 1)
        self.assert_refused(resealed(d), margin.SnapshotCorruptError)
        # A section tag out of place.
        d = bytearray(self.good)
        d[secs[b"POSN"][0] - 16] = ord("X")
        self.assert_refused(resealed(d), margin.SnapshotCorruptError, "tag")
        # Bytes after the trailer.
        self.assert_refused(self.good + b"\0", margin.SnapshotCorruptError, "length")

    def test_wrong_types(self) -> None:
        for data in ("LMARGIN", None, 5, [1, 2]):
            with self.subTest(data=data):
                with self.assertRaises(TypeError):
                    margin.Engine.load(data)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
