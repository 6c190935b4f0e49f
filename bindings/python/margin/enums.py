"""Enumerations mirroring the header's integer constants."""

from __future__ import annotations

import enum
from typing import Union

from . import _capi

__all__ = [
    "Side",
    "Status",
    "MMBasis",
    "Mode",
    "CrossLiquidationPolicy",
    "EventType",
    "SideLike",
    "ModeLike",
    "CrossLiquidationPolicyLike",
    "parse_side",
    "parse_mode",
    "parse_cross_liquidation",
]


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


class Mode(enum.IntEnum):
    """Margin mode of an account in a market, and of a position (``MARGIN_MODE_*``).

    ``ISOLATED`` (the default): each position has its own margin, and only that margin is
    at risk.  ``CROSS``: the account's free balance (the cross wallet) backs every cross
    position of the account, in every market where the account is in cross mode.
    """

    ISOLATED = _capi.MARGIN_MODE_ISOLATED
    CROSS = _capi.MARGIN_MODE_CROSS


class CrossLiquidationPolicy(enum.IntEnum):
    """How the engine liquidates a cross account (``MARGIN_CROSS_LIQ_*``, the engine option
    ``MARGIN_ENG_CROSS_LIQUIDATION``).

    ``ALL`` (the default): every cross position of the account closes at its market's mark
    at once.  ``WORST_FIRST``: the position with the largest unrealized loss closes first,
    then the account is evaluated again, until it is healthy or has no cross position.
    """

    ALL = _capi.MARGIN_CROSS_LIQ_ALL
    WORST_FIRST = _capi.MARGIN_CROSS_LIQ_WORST_FIRST


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
    CROSS_LIQUIDATION = _capi.MARGIN_EV_CROSS_LIQUIDATION


#: A side as the binding accepts it: a :class:`Side`, ``1``/``-1``, or one of the strings
#: ``"long"``, ``"buy"``, ``"short"``, ``"sell"`` (any case).
SideLike = Union[Side, int, str]

#: A margin mode as the binding accepts it: a :class:`Mode`, its value, or ``"isolated"`` /
#: ``"cross"`` (any case).
ModeLike = Union[Mode, int, str]

#: A cross liquidation policy: a :class:`CrossLiquidationPolicy`, its value, or
#: ``"all"`` / ``"worst_first"`` (any case).
CrossLiquidationPolicyLike = Union[CrossLiquidationPolicy, int, str]

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


def _parse_named(value: Union[enum.IntEnum, int, str], cls: type, what: str) -> int:
    """The C value of *value*: a member of *cls*, its name (any case) or an integer.

    Integers are passed through (when they fit in ``int32_t``) so that the engine itself
    refuses an unknown one with :class:`margin.InvalidArgument`; an unknown name raises
    :class:`margin.InvalidArgument` here.
    """
    from ._num import to_i32
    from .errors import InvalidArgument

    if isinstance(value, str):
        try:
            return int(cls[value.upper()])
        except KeyError:
            names = ", ".join(repr(m.name.lower()) for m in cls)
            raise InvalidArgument(
                _capi.MARGIN_EINVAL, f"{what}: {value!r} is not one of {names}"
            ) from None
    return to_i32(value, what)


def parse_mode(mode: ModeLike) -> int:
    """The C value (``MARGIN_MODE_*``) of a :data:`ModeLike`."""
    return _parse_named(mode, Mode, "mode")


def parse_cross_liquidation(policy: CrossLiquidationPolicyLike) -> int:
    """The C value (``MARGIN_CROSS_LIQ_*``) of a :data:`CrossLiquidationPolicyLike`."""
    return _parse_named(policy, CrossLiquidationPolicy, "cross liquidation policy")
