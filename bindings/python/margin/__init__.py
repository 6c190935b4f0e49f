"""libmargin for Python: exact isolated- and cross-margin accounting of leveraged futures.

A thin, typed :mod:`ctypes` binding of the libmargin C library.  Money, rates, prices and
quantities go in as :class:`~decimal.Decimal`, :class:`int` or :class:`str` and come out as
:class:`~decimal.Decimal`; floats are refused.  Every C status code has its exception class
(:class:`MarginError` and subclasses).

Example:
    >>> import margin
    >>> with margin.Engine() as eng:                            # doctest: +SKIP
    ...     btc = eng.new_market("BTCUSDT")
    ...     acct = eng.new_account(deposit="1000")
    ...     pos = acct.open_position(btc, "long", "0.1", "20000", leverage=20)
    ...     pos.margin
    Decimal('100')
"""

from __future__ import annotations

import ctypes
from decimal import Decimal

from . import _capi, events
from ._capi import LIBRARY_PATH, MISSING
from ._num import DecimalLike, from_fixed, to_fixed
from .engine import Account, Engine, EventCallback, Market, Position, Tier
from .enums import (
    AdlRanking,
    Contract,
    CrossLiquidationPolicy,
    EventType,
    FillPrice,
    LiqFeeBasis,
    LiquidationFill,
    LiquidationPolicy,
    MMBasis,
    Mode,
    Side,
    Status,
    StopFill,
)
from .errors import (
    AlreadyExists,
    AssetError,
    BufferTooSmall,
    EventQueueFull,
    FileError,
    GridError,
    InsufficientFunds,
    InsufficientMargin,
    InvalidArgument,
    LeverageError,
    MarginError,
    NotFound,
    NotSupported,
    OutOfMemory,
    Overflow,
    ParseError,
    PositionClosed,
    RangeError,
    SnapshotChecksumError,
    SnapshotCorruptError,
    SnapshotError,
    SnapshotMagicError,
    SnapshotTruncatedError,
    SnapshotVersionError,
    StateError,
    error_class,
    strerror,
)
from .events import Event

__version__ = "0.1.0"

__all__ = [
    "Engine",
    "Market",
    "Account",
    "Position",
    "Tier",
    "Event",
    "EventCallback",
    "events",
    "EventType",
    "Side",
    "Status",
    "MMBasis",
    "Mode",
    "CrossLiquidationPolicy",
    "LiquidationPolicy",
    "AdlRanking",
    "LiquidationFill",
    "StopFill",
    "LiqFeeBasis",
    "FillPrice",
    "Contract",
    "DecimalLike",
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
    "error_class",
    "strerror",
    "to_fixed",
    "from_fixed",
    "format_fixed",
    "library_version",
    "library_version_number",
    "LIBRARY_PATH",
    "MISSING",
    "MONEY_SCALE",
    "RATE_SCALE",
    "SNAPSHOT_VERSION",
]

#: Decimal places of money amounts (``margin_money_scale()``).
MONEY_SCALE: int = _capi.MARGIN_MONEY_SCALE
#: Decimal places of rates, ratios and leverage (``margin_rate_scale()``).
RATE_SCALE: int = _capi.MARGIN_RATE_SCALE
#: The snapshot format version this library writes (``MARGIN_SNAPSHOT_VERSION``).
SNAPSHOT_VERSION: int = _capi.MARGIN_SNAPSHOT_VERSION


def library_version() -> str:
    """The version string of the loaded C library (``margin_version_string()``)."""
    return _capi.lib.margin_version_string().decode("ascii")


def library_version_number() -> int:
    """The loaded library's ``major * 10000 + minor * 100 + patch``."""
    return int(_capi.lib.margin_version_number())


def format_fixed(value: int, scale: int) -> str:
    """The library's shortest exact decimal text of ``value * 10**-scale``
    (``margin_dec_format()``), e.g. ``format_fixed(400000, 8) == "0.004"``."""
    from ._num import to_i32
    from .errors import check

    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("value: expected int")
    if not _capi.INT64_MIN <= value <= _capi.INT64_MAX:
        raise Overflow(_capi.MARGIN_EOVERFLOW, f"value: {value} does not fit in int64_t")
    buf = ctypes.create_string_buffer(64)
    check(_capi.lib.margin_dec_format(value, to_i32(scale, "scale"), buf, len(buf)))
    return buf.value.decode("ascii")


def _self_check() -> None:
    """Refuse a library whose scales differ from the ones this binding was written for."""
    if "margin_money_scale" in MISSING:
        return
    if _capi.lib.margin_money_scale() != MONEY_SCALE or _capi.lib.margin_rate_scale() != RATE_SCALE:
        raise ImportError(f"libmargin at {LIBRARY_PATH} uses unexpected money or rate scales")


_self_check()
del Decimal
