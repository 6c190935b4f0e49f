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
    "LiquidationPolicy",
    "LiquidationFill",
    "StopFill",
    "LiqFeeBasis",
    "FillPrice",
    "Contract",
    "EventType",
    "SideLike",
    "ModeLike",
    "CrossLiquidationPolicyLike",
    "parse_side",
    "parse_mode",
    "parse_cross_liquidation",
    "parse_liquidation_policy",
    "parse_liquidation_fill",
    "parse_stop_fill",
    "parse_liq_fee_basis",
    "parse_contract",
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
    #: Closed by auto-deleveraging against a bankrupt position (:class:`~margin.events.Adl`).
    DELEVERAGED = _capi.MARGIN_STATUS_DELEVERAGED


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


class LiquidationPolicy(enum.IntEnum):
    """How much of a liquidatable isolated position is liquidated (``MARGIN_LIQ_POLICY_*``,
    the market option ``MARGIN_MKT_LIQ_POLICY``).

    ``FULL`` (the default): the whole position.  ``MIN_REDUCE`` (Binance's first step): the
    smallest quantity, rounded up to the step, that leaves the margin balance above the
    maintenance margin after the loss and the clearance fee.  ``TIER_DOWN`` (Bybit,
    BitMEX): down to the cap of the highest lower tier whose maintenance margin the equity
    covers.  ``SLICES`` (Hyperliquid): a fraction per trigger above a notional threshold,
    with a cooldown and a backstop.  A partial step is a
    :class:`~margin.events.PartialLiquidation` event.
    """

    FULL = _capi.MARGIN_LIQ_POLICY_FULL
    MIN_REDUCE = _capi.MARGIN_LIQ_POLICY_MIN_REDUCE
    TIER_DOWN = _capi.MARGIN_LIQ_POLICY_TIER_DOWN
    SLICES = _capi.MARGIN_LIQ_POLICY_SLICES


class AdlRanking(enum.IntEnum):
    """How a market ranks positions for auto-deleveraging (``MARGIN_ADL_RANK_*``, the
    market option ``MARGIN_MKT_ADL_RANKING``; the score is :attr:`margin.Position.adl_score`).

    ``BINANCE`` (the default): ``max(0, uPnL) / max(1, W) * MM / (W + uPnL)``, ``W`` the
    position's margin (isolated) or its account's cross wallet.  ``BITMEX``: ``PnL% *
    effective leverage`` when ``PnL% > 0``, else ``PnL% / effective leverage``.  See
    ``include/margin.h`` for the exact definitions and their sources.
    """

    BINANCE = _capi.MARGIN_ADL_RANK_BINANCE
    BITMEX = _capi.MARGIN_ADL_RANK_BITMEX


class LiquidationFill(enum.IntEnum):
    """The price a liquidation settles at (``MARGIN_LIQ_FILL_*``, the market option
    ``MARGIN_MKT_LIQ_FILL``).

    ``MARK`` (the default): the mark.  ``LIQ_PRICE``: the position's liquidation price.
    ``BANKRUPTCY``: the insurance fund takes the position over at its bankruptcy price (the
    holder loses exactly the margin).
    """

    MARK = _capi.MARGIN_LIQ_FILL_MARK
    LIQ_PRICE = _capi.MARGIN_LIQ_FILL_LIQ_PRICE
    BANKRUPTCY = _capi.MARGIN_LIQ_FILL_BANKRUPTCY


class StopFill(enum.IntEnum):
    """The price stop-losses and take-profits fill at (``MARGIN_STOP_FILL_*``, the market
    option ``MARGIN_MKT_STOP_FILL``).

    ``MARK`` (the default): the mark that reached them.  ``TRIGGER``: their trigger price
    when the mark reaches it without a gap (inside a candle's path), the mark otherwise.
    """

    MARK = _capi.MARGIN_STOP_FILL_MARK
    TRIGGER = _capi.MARGIN_STOP_FILL_TRIGGER


class LiqFeeBasis(enum.IntEnum):
    """The price multiplying the liquidated quantity in the clearance fee
    (``MARGIN_LIQ_FEE_BASIS_*``, the market option ``MARGIN_MKT_LIQ_FEE_BASIS``):
    ``FILL`` (the default, the liquidation's fill price) or ``MARK``."""

    FILL = _capi.MARGIN_LIQ_FEE_BASIS_FILL
    MARK = _capi.MARGIN_LIQ_FEE_BASIS_MARK


class Contract(enum.IntEnum):
    """The contract type of a market (``MARGIN_CONTRACT_*``, the market option
    ``MARGIN_MKT_CONTRACT``).

    ``LINEAR`` (the default, USDT-margined): quantities in the base asset, money in the
    quote.  ``INVERSE`` (coin-margined, as BitMEX's XBTUSD or Binance COIN-M): quantities in
    contracts of :attr:`Market.contract_size <margin.Market.contract_size>` quote units
    (``N`` = contracts x contract size), money in the coin: the value ``N/P``, PnL
    ``s*N*(1/E - 1/P)``, margin ``N/(E*L)``, fees and funding on ``N/P``.  Every market of
    an engine has the same type (:class:`~margin.AssetError` otherwise).  Every
    liquidation policy and both ADL rankings apply on an inverse market; cross mode is not
    supported there yet (:class:`~margin.NotSupported`).
    """

    LINEAR = _capi.MARGIN_CONTRACT_LINEAR
    INVERSE = _capi.MARGIN_CONTRACT_INVERSE


class FillPrice(enum.IntEnum):
    """Which price a triggered close or a liquidation filled at (``MARGIN_FILL_*``, the
    event field ``MARGIN_EVF_FILL``)."""

    MARK = _capi.MARGIN_FILL_MARK
    TRIGGER = _capi.MARGIN_FILL_TRIGGER
    LIQ_PRICE = _capi.MARGIN_FILL_LIQ_PRICE
    BANKRUPTCY = _capi.MARGIN_FILL_BANKRUPTCY


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
    PARTIAL_LIQUIDATION = _capi.MARGIN_EV_PARTIAL_LIQUIDATION
    INSURANCE_DEPOSIT = _capi.MARGIN_EV_INSURANCE_DEPOSIT
    ADL = _capi.MARGIN_EV_ADL


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


def parse_liquidation_policy(policy: Union[LiquidationPolicy, int, str]) -> int:
    """The C value (``MARGIN_LIQ_POLICY_*``) of a policy: a :class:`LiquidationPolicy`,
    its value, or ``"full"``, ``"min_reduce"``, ``"tier_down"``, ``"slices"`` (any case;
    ``-`` for ``_``)."""
    if isinstance(policy, str):
        policy = policy.replace("-", "_")
    return _parse_named(policy, LiquidationPolicy, "liquidation policy")


def parse_liquidation_fill(fill: Union[LiquidationFill, int, str]) -> int:
    """The C value (``MARGIN_LIQ_FILL_*``) of ``"mark"``, ``"liq_price"``, ``"bankruptcy"``
    (any case; ``-`` for ``_``), a :class:`LiquidationFill` or its value."""
    if isinstance(fill, str):
        fill = fill.replace("-", "_")
    return _parse_named(fill, LiquidationFill, "liquidation fill")


def parse_stop_fill(fill: Union[StopFill, int, str]) -> int:
    """The C value (``MARGIN_STOP_FILL_*``) of ``"mark"`` or ``"trigger"`` (any case), a
    :class:`StopFill` or its value."""
    return _parse_named(fill, StopFill, "stop fill")


def parse_adl_ranking(ranking: Union[AdlRanking, int, str]) -> int:
    """The C value (``MARGIN_ADL_RANK_*``) of ``"binance"`` or ``"bitmex"`` (any case), an
    :class:`AdlRanking` or its value."""
    return _parse_named(ranking, AdlRanking, "ADL ranking")


def parse_contract(contract: Union[Contract, int, str]) -> int:
    """The C value (``MARGIN_CONTRACT_*``) of ``"linear"`` or ``"inverse"`` (any case), a
    :class:`Contract` or its value."""
    return _parse_named(contract, Contract, "contract")


def parse_liq_fee_basis(basis: Union[LiqFeeBasis, int, str]) -> int:
    """The C value (``MARGIN_LIQ_FEE_BASIS_*``) of ``"fill"`` or ``"mark"`` (any case), a
    :class:`LiqFeeBasis` or its value."""
    return _parse_named(basis, LiqFeeBasis, "liquidation fee basis")
