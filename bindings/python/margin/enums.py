"""Enumerations mirroring the header's integer constants."""

from __future__ import annotations

import enum
from typing import Union

from . import _capi

__all__ = ["Side", "Status", "MMBasis", "EventType", "SideLike", "parse_side"]


class Side(enum.IntEnum):
    """Side of a position or a trade (``MARGIN_LONG`` / ``MARGIN_SHORT``)."""

    LONG = _capi.MARGIN_LONG
    SHORT = _capi.MARGIN_SHORT

    @property
    def sign(self) -> int:
        """``+1`` for long, ``-1`` for short (the spec's ``s``)."""
        return int(self)


class Status(enum.IntEnum):
    """Status of a position (``MARGIN_STATUS_*``)."""

    OPEN = _capi.MARGIN_STATUS_OPEN
    CLOSED = _capi.MARGIN_STATUS_CLOSED
    LIQUIDATED = _capi.MARGIN_STATUS_LIQUIDATED


class MMBasis(enum.IntEnum):
    """Maintenance-margin basis of a market (``MARGIN_MM_BASIS_*``)."""

    MARK = _capi.MARGIN_MM_BASIS_MARK
    ENTRY = _capi.MARGIN_MM_BASIS_ENTRY


class EventType(enum.IntEnum):
    """Event types (``MARGIN_EV_*``)."""

    NONE = _capi.MARGIN_EV_NONE
    DEPOSIT = _capi.MARGIN_EV_DEPOSIT
    WITHDRAW = _capi.MARGIN_EV_WITHDRAW
    OPEN = _capi.MARGIN_EV_OPEN
    INCREASE = _capi.MARGIN_EV_INCREASE
    REDUCE = _capi.MARGIN_EV_REDUCE
    CLOSE = _capi.MARGIN_EV_CLOSE
    MARGIN_ADD = _capi.MARGIN_EV_MARGIN_ADD
    MARGIN_REMOVE = _capi.MARGIN_EV_MARGIN_REMOVE
    LEVERAGE = _capi.MARGIN_EV_LEVERAGE
    FUNDING = _capi.MARGIN_EV_FUNDING
    MARGIN_CALL = _capi.MARGIN_EV_MARGIN_CALL
    LIQUIDATION = _capi.MARGIN_EV_LIQUIDATION
    STOP_LOSS = _capi.MARGIN_EV_STOP_LOSS
    TAKE_PROFIT = _capi.MARGIN_EV_TAKE_PROFIT


#: A side as the binding accepts it: a :class:`Side`, ``1``/``-1``, or one of the strings
#: ``"long"``, ``"buy"``, ``"short"``, ``"sell"`` (any case).
SideLike = Union[Side, int, str]

_SIDE_NAMES = {"long": Side.LONG, "buy": Side.LONG, "short": Side.SHORT, "sell": Side.SHORT}


def parse_side(side: SideLike) -> int:
    """The C side value of *side*.

    Integers other than 1 and -1 are passed through (when they fit in ``int32_t``) so that
    the engine reports them as :class:`margin.InvalidArgument`; unknown strings raise
    :class:`margin.InvalidArgument` here.
    """
    from ._num import to_i32
    from .errors import InvalidArgument

    if isinstance(side, str):
        try:
            return int(_SIDE_NAMES[side.lower()])
        except KeyError:
            raise InvalidArgument(
                _capi.MARGIN_EINVAL, f"side: {side!r} is not 'long', 'short', 'buy' or 'sell'"
            ) from None
    return to_i32(side, "side")
