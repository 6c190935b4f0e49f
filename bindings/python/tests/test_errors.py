"""Every error path reaches Python as its own exception class, carrying the code and the
engine's message; bad input never crashes the process."""

from __future__ import annotations

import ctypes
import os
import sys
import unittest
from decimal import Decimal
from typing import Any, Callable, Type

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi, errors  # noqa: E402

D = Decimal


class ErrorClasses(unittest.TestCase):
    def test_table(self) -> None:
        expected = {
            -1: (margin.InvalidArgument, ValueError),
            -2: (margin.OutOfMemory, MemoryError),
            -3: (margin.Overflow, OverflowError),
            -4: (margin.ParseError, ValueError),
            -5: (margin.RangeError, ValueError),
            -6: (margin.NotFound, LookupError),
            -7: (margin.PositionClosed, margin.MarginError),
            -8: (margin.InsufficientFunds, margin.MarginError),
            -9: (margin.LeverageError, ValueError),
            -10: (margin.GridError, ValueError),
            -11: (margin.StateError, margin.MarginError),
            -12: (margin.InsufficientMargin, margin.MarginError),
            -13: (margin.BufferTooSmall, margin.MarginError),
            -14: (margin.AlreadyExists, margin.MarginError),
            -15: (margin.NotSupported, NotImplementedError),
            -16: (margin.EventQueueFull, margin.MarginError),
            -17: (margin.SnapshotMagicError, margin.SnapshotError),
            -18: (margin.SnapshotVersionError, margin.SnapshotError),
            -19: (margin.SnapshotChecksumError, margin.SnapshotError),
            -20: (margin.SnapshotTruncatedError, margin.SnapshotError),
            -21: (margin.SnapshotCorruptError, margin.SnapshotError),
            -22: (margin.FileError, OSError),
        }
        # A damaged snapshot is bad input: the snapshot errors are ValueErrors.
        self.assertTrue(issubclass(margin.SnapshotError, ValueError))
        self.assertTrue(issubclass(margin.SnapshotError, margin.MarginError))
        self.assertFalse(issubclass(margin.FileError, margin.SnapshotError))
        for code, (cls, builtin) in expected.items():
            with self.subTest(code=code):
                self.assertIs(margin.error_class(code), cls)
                exc = errors.make_error(code)
                self.assertIsInstance(exc, cls)
                self.assertIsInstance(exc, builtin)
                self.assertIsInstance(exc, margin.MarginError)
                self.assertEqual(exc.code, code)
                # With no engine message, the library's static text.
                self.assertEqual(exc.message, margin.strerror(code))
                self.assertTrue(exc.message)

    def test_unknown_code(self) -> None:
        self.assertIs(margin.error_class(-99), margin.MarginError)
        exc = errors.make_error(-99)
        self.assertIs(type(exc), margin.MarginError)
        self.assertEqual(exc.code, -99)
        self.assertTrue(str(exc))

    def test_buffer_too_small(self) -> None:
        # margin_dec_format needs more than 2 bytes for "12345".
        buf = ctypes.create_string_buffer(2)
        rc = _capi.lib.margin_dec_format(12345, 0, buf, 2)
        self.assertEqual(rc, _capi.MARGIN_EBUFFER)
        with self.assertRaises(margin.BufferTooSmall):
            errors.check(rc)
        self.assertEqual(margin.format_fixed(12345, 0), "12345")


class EngineErrors(unittest.TestCase):
    def setUp(self) -> None:
        self.eng = margin.Engine()
        self.m = self.eng.new_market("BTCUSDT")
        self.a = self.eng.new_account(deposit="1000")

    def tearDown(self) -> None:
        self.eng.close()

    def raises(self, cls: Type[margin.MarginError], fn: Callable[[], Any]) -> margin.MarginError:
        """fn() raises exactly cls, with the engine's code and message."""
        with self.assertRaises(cls) as cm:
            fn()
        exc = cm.exception
        self.assertIs(type(exc), cls)
        self.assertEqual(exc.code, cls.CODE)
        self.assertTrue(exc.message)
        return exc

    def engine_raises(self, cls: Type[margin.MarginError], fn: Callable[[], Any]) -> None:
        """As raises(), and the error came from the C engine: its errcode and errmsg."""
        exc = self.raises(cls, fn)
        self.assertEqual(self.eng.errcode, cls.CODE)
        self.assertEqual(exc.message, self.eng.errmsg())

    def open(self, **kw: Any) -> margin.Position:
        args = dict(leverage=20)
        args.update(kw)
        return self.a.open_position(self.m, "long", "0.1", "20000", **args)

    def test_invalid_argument(self) -> None:
        self.engine_raises(margin.InvalidArgument, lambda: self.a.deposit("0"))
        self.engine_raises(margin.InvalidArgument, lambda: self.a.deposit("-5"))
        self.engine_raises(margin.InvalidArgument, lambda: self.a.withdraw(0))
        self.engine_raises(
            margin.InvalidArgument,
            lambda: self.a.open_position(self.m, 2, "0.1", "20000", leverage=20),
        )
        self.engine_raises(margin.InvalidArgument, lambda: self.m.mark_update("0"))
        self.engine_raises(margin.InvalidArgument, lambda: self.eng.new_market(""))
        self.engine_raises(margin.InvalidArgument, lambda: self.eng.set_margin_call_levels(["1"]))
        self.engine_raises(
            margin.InvalidArgument, lambda: self.eng.set_margin_call_levels(["0.1"] * 9)
        )
        self.engine_raises(margin.InvalidArgument, lambda: self.m.funding("1", "20000"))
        # Caught in Python before reaching C (still InvalidArgument):
        self.raises(
            margin.InvalidArgument,
            lambda: self.a.open_position(self.m, "up", "0.1", "20000", leverage=20),
        )
        self.raises(margin.InvalidArgument, lambda: self.eng.position(-1))
        self.raises(margin.InvalidArgument, lambda: self.eng.position(2**64))
        self.raises(margin.InvalidArgument, lambda: self.eng.new_market("BTC\u20acUSDT"))

    def test_overflow(self) -> None:
        # int64 money tops out at 92233720368.54775807.
        b = self.eng.new_account(deposit="92233720368")
        self.engine_raises(margin.Overflow, lambda: b.deposit("1"))
        self.assertEqual(b.free_balance, D("92233720368"))
        # Not representable at all: refused by the conversion.
        self.raises(margin.Overflow, lambda: self.a.deposit("92233720369"))
        self.raises(margin.Overflow, lambda: self.a.deposit(10**12))
        self.raises(margin.Overflow, lambda: self.a.deposit(D("1e30")))

    def test_parse_error(self) -> None:
        for bad in ["", "1e5", "NaN", "inf", "-", ".", "1.2.3", " 1", "1 ", "0x10", "1" * 41]:
            with self.subTest(value=bad):
                self.raises(margin.ParseError, lambda: self.a.deposit(bad))
        self.raises(margin.ParseError, lambda: self.a.deposit(D("NaN")))
        self.raises(margin.ParseError, lambda: self.a.deposit(D("Infinity")))
        self.raises(margin.ParseError, lambda: self.a.deposit("\u0661"))  # Arabic-Indic 1

    def test_range_error(self) -> None:
        # Nine decimals do not fit money's eight: refused, never rounded.
        self.raises(margin.RangeError, lambda: self.a.deposit("0.000000001"))
        self.raises(margin.RangeError, lambda: self.a.deposit(D("1.000000001")))
        self.raises(margin.RangeError, lambda: self.open(leverage="20.000000001"))
        self.assertEqual(self.a.free_balance, D("1000"))
        with margin.Engine() as eng:
            m = eng.new_market("X", price_scale=2, qty_scale=3)
            a = eng.new_account(deposit="1000")
            self.raises(margin.RangeError, lambda: a.open_position(m, "long", "1", "100.001", leverage=10))
            self.raises(margin.RangeError, lambda: a.open_position(m, "long", "0.0001", "100", leverage=10))
            p = a.open_position(m, "long", "1.5", "100.25", leverage=10)
            self.assertEqual(p.entry_price, D("100.25"))
            self.assertEqual(p.get(_capi.MARGIN_POS_ENTRY_PRICE), 10025)
            self.assertEqual(p.get(_capi.MARGIN_POS_QTY), 1500)
            self.assertEqual(p.qty, D("1.5"))
            self.assertEqual(p.notional(), D("150.375"))  # 1.5 * 100.25

    def test_price_above_market_range(self) -> None:
        # The default maximum price is ten million; marks and fills above it are refused.
        m = self.m
        self.assertEqual(m.max_price, D("10000000"))
        self.engine_raises(margin.RangeError, lambda: m.mark_update("10000000.00000001"))
        self.engine_raises(
            margin.RangeError, lambda: self.a.open_position(m, "long", "0.1", "10000001", leverage=20)
        )
        m.mark_update("10000000")
        self.assertEqual(m.mark, D("10000000"))
        m.max_price = "20000000"
        self.assertEqual(m.max_price, D("20000000"))

    def test_not_found(self) -> None:
        self.engine_raises(margin.NotFound, lambda: self.eng.market("NOPE"))
        self.engine_raises(margin.NotFound, lambda: self.eng.market(99))
        self.engine_raises(margin.NotFound, lambda: self.eng.account(99))
        self.engine_raises(margin.NotFound, lambda: self.eng.position(1))
        self.engine_raises(margin.NotFound, lambda: self.eng.position(0))
        self.engine_raises(margin.NotFound, lambda: margin.Account(self.eng, 7).deposit("1"))
        self.engine_raises(margin.NotFound, lambda: self.eng.mark_update(99, "1"))
        self.engine_raises(margin.NotFound, lambda: self.a.open_position(99, "long", "1", "1", leverage=1))

    def test_position_closed(self) -> None:
        p = self.open()
        p.close("20000")
        for fn in (
            lambda: p.close("20000"),
            lambda: p.add_margin("1"),
            lambda: p.remove_margin("1"),
            lambda: p.set_leverage(10),
            lambda: p.set_stops(stop_loss="19000"),
            lambda: p.trade("buy", "0.1", "20000"),
            lambda: p.liquidation_price(),
        ):
            self.engine_raises(margin.PositionClosed, fn)
        self.assertEqual(p.status, margin.Status.CLOSED)

    def test_insufficient_funds(self) -> None:
        self.engine_raises(margin.InsufficientFunds, lambda: self.a.withdraw("1000.00000001"))
        # 2000 margin + 0.8 fee > 1000.
        self.engine_raises(margin.InsufficientFunds, lambda: self.open(leverage=1))
        p = self.open()
        self.engine_raises(margin.InsufficientFunds, lambda: p.add_margin("900"))
        self.a.withdraw(self.a.free_balance)
        self.assertEqual(self.a.free_balance, D("0"))

    def test_leverage(self) -> None:
        self.engine_raises(margin.LeverageError, lambda: self.open(leverage=126))  # max 125
        self.engine_raises(margin.LeverageError, lambda: self.open(leverage="0.5"))
        p = self.open()
        self.engine_raises(margin.LeverageError, lambda: p.set_leverage(200))

    def test_grid(self) -> None:
        with margin.Engine() as eng:
            m = eng.new_market("X", tick="0.1", step="0.001")
            self.assertEqual((m.tick, m.step), (D("0.1"), D("0.001")))
            a = eng.new_account(deposit="1000")
            self.engine_err(eng, margin.GridError, lambda: a.open_position(m, "long", "0.1", "20000.05", leverage=20))
            self.engine_err(eng, margin.GridError, lambda: a.open_position(m, "long", "0.0005", "20000", leverage=20))
            p = a.open_position(m, "long", "0.01", "20000.1", leverage=20)
            self.engine_err(eng, margin.GridError, lambda: p.close("20000.15"))

    def engine_err(self, eng: margin.Engine, cls: Type[margin.MarginError], fn: Callable[[], Any]) -> None:
        with self.assertRaises(cls) as cm:
            fn()
        self.assertEqual(cm.exception.code, cls.CODE)
        self.assertEqual(cm.exception.message, eng.errmsg())

    def test_state(self) -> None:
        self.open()
        self.engine_raises(margin.StateError, lambda: setattr(self.m, "price_scale", 2))
        self.engine_raises(margin.StateError, lambda: self.m.add_tier("0", "0.01"))

    def test_insufficient_margin(self) -> None:
        # margin below Q*E/L = 100
        self.engine_raises(margin.InsufficientMargin, lambda: self.open(margin="99.99999999"))
        p = self.open()
        self.engine_raises(margin.InsufficientMargin, lambda: p.remove_margin("0.00000001"))

    def test_already_exists(self) -> None:
        self.engine_raises(margin.AlreadyExists, lambda: self.eng.new_market("BTCUSDT"))

    def test_not_supported(self) -> None:
        # The engine supports every flag now (cross included: a cross open in an isolated
        # market is a StateError, see test_cross); NotSupported remains the answer of a
        # function the loaded library does not export.
        stub = _capi._missing_stub("margin_account_set_mode", "old-libmargin.so")
        with self.assertRaises(margin.NotSupported) as cm:
            stub(None, 1, 1, 1)
        self.assertEqual(cm.exception.code, _capi.MARGIN_ENOTSUP)
        self.assertIn("margin_account_set_mode", cm.exception.message)
        self.engine_raises(margin.StateError, lambda: self.open(cross=True))

    def test_floats_are_refused_everywhere(self) -> None:
        p = self.open()
        calls = [
            lambda: self.a.deposit(1.0),
            lambda: self.a.withdraw(1.5),
            lambda: self.a.open_position(self.m, "long", 0.1, "20000", leverage=20),
            lambda: self.a.open_position(self.m, "long", "0.1", 20000.0, leverage=20),
            lambda: self.a.open_position(self.m, "long", "0.1", "20000", leverage=20.0),
            lambda: self.a.open_position(self.m, "long", "0.1", "20000", margin=100.0),
            lambda: p.add_margin(1.0),
            lambda: p.remove_margin(1.0),
            lambda: p.set_leverage(10.0),
            lambda: p.set_stops(stop_loss=19000.0),
            lambda: p.trade("buy", 0.1, "20000"),
            lambda: p.close(20000.0),
            lambda: p.unrealized_pnl(19000.0),
            lambda: self.m.mark_update(19000.0),
            lambda: self.m.funding(0.0001, "20000"),
            lambda: self.m.add_tier(0.0, "0.01"),
            lambda: self.m.tier_for(100.0),
            lambda: setattr(self.m, "taker_fee", 0.0004),
            lambda: self.eng.set_margin_call_levels([0.8]),
            lambda: self.eng.set(margin._capi.MARGIN_ENG_TIME, 1.0),
            lambda: self.eng.position(1.0),
            lambda: margin.to_fixed(1.0, 8),
        ]
        before = (self.a.free_balance, p.margin, self.eng.last_seq)
        for i, fn in enumerate(calls):
            with self.subTest(call=i):
                with self.assertRaises(TypeError) as cm:
                    fn()
                self.assertNotIsInstance(cm.exception, margin.MarginError)
        self.assertEqual((self.a.free_balance, p.margin, self.eng.last_seq), before)

    def test_other_wrong_types(self) -> None:
        for bad in (True, None, [1], b"1", 1j):
            with self.subTest(value=bad):
                with self.assertRaises(TypeError):
                    self.a.deposit(bad)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            self.eng.position("1")  # type: ignore[arg-type]

    def test_failed_call_changes_nothing(self) -> None:
        p = self.open()
        seq = self.eng.last_seq
        state = (self.a.free_balance, p.margin, p.qty, self.eng.open_positions)
        for fn in (lambda: p.add_margin("5000"), lambda: p.set_leverage(500),
                   lambda: self.a.withdraw("5000")):
            with self.assertRaises(margin.MarginError):
                fn()
        self.assertEqual((self.a.free_balance, p.margin, p.qty, self.eng.open_positions), state)
        self.assertEqual(self.eng.last_seq, seq)


class ClosedEngine(unittest.TestCase):
    def test_use_after_close(self) -> None:
        eng = margin.Engine()
        a = eng.new_account(deposit="1")
        m = eng.new_market("X")
        eng.close()
        eng.close()  # twice is fine
        self.assertTrue(eng.closed)
        for fn in (lambda: a.deposit("1"), lambda: a.free_balance, lambda: m.mark_update("1"),
                   lambda: eng.new_account(), lambda: list(eng.events()), lambda: eng.time):
            with self.assertRaises(margin.StateError):
                fn()

    def test_context_manager_closes(self) -> None:
        with margin.Engine() as eng:
            self.assertFalse(eng.closed)
        self.assertTrue(eng.closed)
        with self.assertRaises(margin.StateError):
            with eng:
                pass

    def test_many_engines_are_freed(self) -> None:
        # Creating and dropping engines (with callbacks: reference cycles) must not crash.
        for _ in range(200):
            e = margin.Engine(callback=lambda ev: None)
            e.new_account(deposit="1")
        del e


if __name__ == "__main__":
    unittest.main()
