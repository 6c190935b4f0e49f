"""Exceptions: one class per libmargin status code.

Every class derives from :class:`MarginError`, which carries the C status ``code`` and the
``message`` the engine recorded (``margin_errmsg()``), or the static text of
``margin_strerror()`` when there is no engine message.  Where a built-in exception means
the same thing, the class also derives from it, so ``except ValueError`` catches a
:class:`ParseError` and ``except LookupError`` a :class:`NotFound`.
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
