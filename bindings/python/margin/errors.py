"""Exceptions: one class per libmargin status code.

Every class derives from :class:`MarginError`, which carries the C status ``code`` and the
``message`` the engine recorded (``margin_errmsg()``), or the static text of
``margin_strerror()`` when there is no engine message.  Where a built-in exception means
the same thing, the class also derives from it, so ``except ValueError`` catches a
:class:`ParseError` and ``except LookupError`` a :class:`NotFound`.

The five ways a snapshot can be refused share the base :class:`SnapshotError` (a
``ValueError``: the bytes are bad, as with :class:`json.JSONDecodeError`); a file that
cannot be written or read is a :class:`FileError`, which is an :class:`OSError`.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from . import _capi

__all__ = [
    "MarginError",
    "InvalidArgument",
    "OutOfMemory",
    "Overflow",
    "ParseError",
    "RangeError",
    "NotFound",
    "PositionClosed",
    "InsufficientFunds",
    "LeverageError",
    "GridError",
    "StateError",
    "InsufficientMargin",
    "BufferTooSmall",
    "AlreadyExists",
    "NotSupported",
    "EventQueueFull",
    "SnapshotError",
    "SnapshotMagicError",
    "SnapshotVersionError",
    "SnapshotChecksumError",
    "SnapshotTruncatedError",
    "SnapshotCorruptError",
    "FileError",
    "AssetError",
    "ERROR_CLASSES",
    "error_class",
    "strerror",
]


def strerror(code: int) -> str:
    """Static text of a status code (``margin_strerror()``)."""
    text = _capi.lib.margin_strerror(int(code))
    return text.decode("utf-8", "replace") if text else ""


class MarginError(Exception):
    """Base class of every libmargin error.

    Attributes:
        code: The negative ``MARGIN_E*`` status code.
        message: The engine's message for the failed call (``margin_errmsg()``), or the
            static text of the code when the engine gave none.
    """

    #: The status code of the class (overridden by each subclass).
    CODE: int = 0

    def __init__(self, code: Optional[int] = None, message: Optional[str] = None) -> None:
        self.code: int = self.CODE if code is None else int(code)
        self.message: str = message if message else strerror(self.code)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class InvalidArgument(MarginError, ValueError):
    """``MARGIN_EINVAL``: an argument is invalid (zero, negative, unknown constant...)."""

    CODE = _capi.MARGIN_EINVAL


class OutOfMemory(MarginError, MemoryError):
    """``MARGIN_ENOMEM``: memory could not be allocated."""

    CODE = _capi.MARGIN_ENOMEM


class Overflow(MarginError, OverflowError):
    """``MARGIN_EOVERFLOW``: a value or result does not fit in 64 bits."""

    CODE = _capi.MARGIN_EOVERFLOW


class ParseError(MarginError, ValueError):
    """``MARGIN_EPARSE``: a string is not a plain decimal number."""

    CODE = _capi.MARGIN_EPARSE


class RangeError(MarginError, ValueError):
    """``MARGIN_ERANGE``: out of range, or more decimals than the scale holds."""

    CODE = _capi.MARGIN_ERANGE


class NotFound(MarginError, LookupError):
    """``MARGIN_ENOTFOUND``: no market, account or position has that id (or symbol)."""

    CODE = _capi.MARGIN_ENOTFOUND


class PositionClosed(MarginError):
    """``MARGIN_ECLOSED``: the position is closed or liquidated."""

    CODE = _capi.MARGIN_ECLOSED


class InsufficientFunds(MarginError):
    """``MARGIN_EFUNDS``: the account's free balance does not cover the amount."""

    CODE = _capi.MARGIN_EFUNDS


class LeverageError(MarginError, ValueError):
    """``MARGIN_ELEVERAGE``: the leverage is outside the market's or the tier's limit."""

    CODE = _capi.MARGIN_ELEVERAGE


class GridError(MarginError, ValueError):
    """``MARGIN_EGRID``: a price or quantity is off the market's tick or step grid."""

    CODE = _capi.MARGIN_EGRID


class StateError(MarginError):
    """``MARGIN_ESTATE``: not allowed in the current state (also: the engine is closed)."""

    CODE = _capi.MARGIN_ESTATE


class InsufficientMargin(MarginError):
    """``MARGIN_EMARGIN``: the margin would fall below what the position requires."""

    CODE = _capi.MARGIN_EMARGIN


class BufferTooSmall(MarginError):
    """``MARGIN_EBUFFER``: an output buffer is too small."""

    CODE = _capi.MARGIN_EBUFFER


class AlreadyExists(MarginError):
    """``MARGIN_EEXIST``: something with that name (a market symbol) already exists."""

    CODE = _capi.MARGIN_EEXIST


class NotSupported(MarginError, NotImplementedError):
    """``MARGIN_ENOTSUP``: not supported (yet) by this version of the library."""

    CODE = _capi.MARGIN_ENOTSUP


class EventQueueFull(MarginError):
    """``MARGIN_EFULL``: the event queue is at its cap (:attr:`Engine.event_cap
    <margin.Engine.event_cap>`) and the call would have queued more events, so it changed
    nothing.  Drain the queue (:meth:`Engine.events <margin.Engine.events>`) and call
    again."""

    CODE = _capi.MARGIN_EFULL


class SnapshotError(MarginError, ValueError):
    """Base of the errors of a snapshot that cannot be loaded (its subclasses say why).
    The engine it was loaded into stays empty: nothing is half-built."""


class SnapshotMagicError(SnapshotError):
    """``MARGIN_EMAGIC``: the bytes do not start with the snapshot magic (not a libmargin
    snapshot at all)."""

    CODE = _capi.MARGIN_EMAGIC


class SnapshotVersionError(SnapshotError):
    """``MARGIN_EVERSION``: a snapshot format version this library does not read."""

    CODE = _capi.MARGIN_EVERSION


class SnapshotChecksumError(SnapshotError):
    """``MARGIN_ECHECKSUM``: the CRC-32C does not match the bytes (they were damaged)."""

    CODE = _capi.MARGIN_ECHECKSUM


class SnapshotTruncatedError(SnapshotError):
    """``MARGIN_ETRUNCATED``: the snapshot is shorter than its header says (it was cut)."""

    CODE = _capi.MARGIN_ETRUNCATED


class SnapshotCorruptError(SnapshotError):
    """``MARGIN_ECORRUPT``: a field is out of range or inconsistent with the others (the
    message names it)."""

    CODE = _capi.MARGIN_ECORRUPT


class FileError(MarginError, OSError):
    """``MARGIN_EIO``: a snapshot file could not be opened, written, synced, renamed or
    read; the message names the step and the system's reason.  An :class:`OSError`, whose
    ``filename`` is the path given (``errno`` is not known: the message has the reason)."""

    CODE = _capi.MARGIN_EIO


class AssetError(MarginError, ValueError):
    """``MARGIN_EASSET``: the operation would mix settlement assets in one engine.  Every
    market of an engine settles in one asset: its markets are all linear or all inverse
    (:attr:`Market.contract <margin.Market.contract>`) and share
    :attr:`Market.settle_asset <margin.Market.settle_asset>`; the message names the market
    that differs.  Use an engine per settlement asset."""

    CODE = _capi.MARGIN_EASSET


#: Status code -> exception class.
ERROR_CLASSES: Dict[int, Type[MarginError]] = {
    cls.CODE: cls
    for cls in (
        InvalidArgument,
        OutOfMemory,
        Overflow,
        ParseError,
        RangeError,
        NotFound,
        PositionClosed,
        InsufficientFunds,
        LeverageError,
        GridError,
        StateError,
        InsufficientMargin,
        BufferTooSmall,
        AlreadyExists,
        NotSupported,
        EventQueueFull,
        SnapshotMagicError,
        SnapshotVersionError,
        SnapshotChecksumError,
        SnapshotTruncatedError,
        SnapshotCorruptError,
        FileError,
        AssetError,
    )
}


def error_class(code: int) -> Type[MarginError]:
    """The exception class of a status code (:class:`MarginError` for an unknown one)."""
    return ERROR_CLASSES.get(int(code), MarginError)


def make_error(code: int, message: Optional[str] = None) -> MarginError:
    """An exception instance for a negative status code."""
    return error_class(code)(code, message)


def check(code: int, message: Optional[str] = None) -> None:
    """Raise the exception of *code* if it is negative (for handle-free functions)."""
    if code < 0:
        raise make_error(code, message)
