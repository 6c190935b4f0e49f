"""Events as small, typed, immutable objects.

:meth:`margin.Engine.events` yields one object per queued event, and a callback installed
with :meth:`margin.Engine.set_callback` receives the same objects.  Each ``MARGIN_EV_*``
type has its class; all derive from :class:`Event`.  Money, rates, prices and quantities
are :class:`~decimal.Decimal` (prices and quantities at the market's scales), ids and
sequence numbers are :class:`int`.  A price that the C API reports as 0 for "none" (the
liquidation price of a long that cannot be liquidated, for instance) is ``None``.

Every event has ``mode`` (:class:`~margin.Mode`, ``MARGIN_EVF_MODE``): ``CROSS`` for an
event about a cross position or about the cross book of an account (a deposit, a
withdrawal, an account margin call, a :class:`CrossLiquidation`), ``ISOLATED`` otherwise.

Every event has ``path_point`` (``MARGIN_EVF_PATH_POINT``): the point of a candle's path
(:meth:`margin.Market.mark_candle`) at which it happened, 1 the open, 2 and 3 the extremes
in path order, 4 the close; 0 for events of every other call.  Triggered closes and liquidations
(:class:`StopLoss`, :class:`TakeProfit`, :class:`Liquidation`,
:class:`PartialLiquidation`) have ``fill`` (:class:`~margin.FillPrice`,
``MARGIN_EVF_FILL``): which price ``price`` is.

Every object also keeps ``raw``: the 27 integer fields exactly as ``margin_event_fields()``
returned them, indexed by ``MARGIN_EVF_* - 1`` (a field the loaded library does not know
reads 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, ClassVar, Dict, Optional, Tuple, Type

from . import _capi
from ._num import from_fixed, ratio_from_fixed
from .enums import EventType, FillPrice, Mode, Side

__all__ = [
    "Event",
    "AccountEvent",
    "Deposit",
    "Withdraw",
    "PositionEvent",
    "TradeEvent",
    "Open",
    "Increase",
    "Reduce",
    "Close",
    "MarginChange",
    "MarginAdd",
    "MarginRemove",
    "LeverageChange",
    "Funding",
    "MarginCall",
    "Liquidation",
    "StopLoss",
    "TakeProfit",
    "CrossLiquidation",
    "PartialLiquidation",
    "InsuranceDeposit",
    "Adl",
    "EVENT_CLASSES",
    "UnknownEvent",
]

#: Number of MARGIN_EVF_* fields read for every event (1 to ``MARGIN_EVF_ADL_COVERED``).
FIELD_COUNT = 27


@dataclass(frozen=True)
class Event:
    """Fields common to every event.

    Attributes:
        seq: Sequence number, from 1, increasing by 1 (``MARGIN_EVF_SEQ``).
        time: The engine time when it happened (``MARGIN_EVF_TIME``).
        account: Account id.
        mode: :class:`~margin.Mode` of the position, or of the book an account event
            concerns (``MARGIN_EVF_MODE``; ``ISOLATED`` from a library without the field).
        path_point: The point of a candle's path at which the event happened
            (``MARGIN_EVF_PATH_POINT``: 1 the open, 2 and 3 the extremes in path order, 4
            the close); 0 for events of every other call.
    """

    TYPE: ClassVar[EventType] = EventType.NONE

    seq: int
    time: int
    account: int
    raw: Tuple[int, ...] = field(default=(), repr=False, compare=False)
    mode: Mode = Mode.ISOLATED
    path_point: int = 0

    @property
    def type(self) -> EventType:
        """The event's :class:`~margin.EventType`."""
        return self.TYPE

    @property
    def type_name(self) -> str:
        """The type in lower case, e.g. ``"margin_call"``."""
        return self.TYPE.name.lower()


@dataclass(frozen=True)
class UnknownEvent(Event):
    """An event type this binding does not know (from a newer library)."""

    code: int = 0

    @property
    def type_name(self) -> str:
        return f"unknown_{self.code}"


@dataclass(frozen=True)
class AccountEvent(Event):
    """A deposit or a withdrawal.

    Attributes:
        amount: Money moved.
        free_balance: The account's free balance after the event.
    """

    amount: Decimal = Decimal(0)
    free_balance: Decimal = Decimal(0)


@dataclass(frozen=True)
class Deposit(AccountEvent):
    """``MARGIN_EV_DEPOSIT``."""

    TYPE: ClassVar[EventType] = EventType.DEPOSIT


@dataclass(frozen=True)
class Withdraw(AccountEvent):
    """``MARGIN_EV_WITHDRAW``."""

    TYPE: ClassVar[EventType] = EventType.WITHDRAW


@dataclass(frozen=True)
class PositionEvent(Event):
    """Fields common to every event about a position.

    Attributes:
        market: Market id.
        position: Position id.
        side: Side after the event (``None`` if the engine reports 0).
        position_qty: Size after the event.
        entry_price: Entry price after the event.
        margin: Isolated margin after the event (0 for a cross position).
        leverage: Leverage after the event.
        liq_price: Liquidation price after the event (before it, for a liquidation);
            ``None`` if there is none.
        free_balance: The account's free balance after the event.
    """

    market: int = 0
    position: int = 0
    side: Optional[Side] = None
    position_qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)
    leverage: Decimal = Decimal(0)
    liq_price: Optional[Decimal] = None
    free_balance: Decimal = Decimal(0)


@dataclass(frozen=True)
class TradeEvent(PositionEvent):
    """A fill: open, increase, reduce, close, stop-loss or take-profit (and the base of
    :class:`Liquidation`).

    Attributes:
        price: Fill price (the mark, for a liquidation).
        qty: Quantity traded or closed.
        amount: Change of margin (signed: into the position > 0).
        realized_pnl: PnL realized by this event.
        fee: Fee charged by this event.
        fill: For a triggered close or a liquidation, which price ``price`` is
            (:class:`~margin.FillPrice`, ``MARGIN_EVF_FILL``); ``None`` for a trade of the
            holder's (and from a library without the field).
    """

    price: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fill: Optional[FillPrice] = None


@dataclass(frozen=True)
class Open(TradeEvent):
    """``MARGIN_EV_OPEN``: position opened (or reopened on the other side by a flip)."""

    TYPE: ClassVar[EventType] = EventType.OPEN


@dataclass(frozen=True)
class Increase(TradeEvent):
    """``MARGIN_EV_INCREASE``."""

    TYPE: ClassVar[EventType] = EventType.INCREASE


@dataclass(frozen=True)
class Reduce(TradeEvent):
    """``MARGIN_EV_REDUCE``."""

    TYPE: ClassVar[EventType] = EventType.REDUCE


@dataclass(frozen=True)
class Close(TradeEvent):
    """``MARGIN_EV_CLOSE``: closed by the holder."""

    TYPE: ClassVar[EventType] = EventType.CLOSE


@dataclass(frozen=True)
class StopLoss(TradeEvent):
    """``MARGIN_EV_STOP_LOSS``: closed by its stop-loss."""

    TYPE: ClassVar[EventType] = EventType.STOP_LOSS


@dataclass(frozen=True)
class TakeProfit(TradeEvent):
    """``MARGIN_EV_TAKE_PROFIT``: closed by its take-profit."""

    TYPE: ClassVar[EventType] = EventType.TAKE_PROFIT


@dataclass(frozen=True)
class Liquidation(TradeEvent):
    """``MARGIN_EV_LIQUIDATION``: liquidated at ``price``: the mark by default, or the
    price the market's ``liq_fill`` option names (``fill`` says which).  ``fee`` is the
    clearance fee (the market's ``liq_fee``), credited to the insurance fund.

    A cross position (``mode`` ``CROSS``) is liquidated with the rest of its account's
    cross book: ``realized_pnl`` is its PnL at the mark, ``free_balance`` the cross wallet
    after it, ``liq_price`` the cross liquidation price before it, and ``margin``,
    ``amount`` and ``fee`` are 0; a :class:`CrossLiquidation` follows the last one.

    Attributes:
        bankruptcy_price: The bankruptcy price (``None`` if reported as 0).
        insurance_delta: Change of the insurance fund (negative when the mark gapped past
            the bankruptcy price): the whole deficit, before auto-deleveraging.
        adl_covered: The part of the deficit that auto-deleveraging covered
            (``MARGIN_EVF_ADL_COVERED``; the sum of the ``insurance_delta`` of the
            :class:`Adl` events that follow); the pool paid ``-insurance_delta -
            adl_covered``.
    """

    TYPE: ClassVar[EventType] = EventType.LIQUIDATION

    bankruptcy_price: Optional[Decimal] = None
    insurance_delta: Decimal = Decimal(0)
    adl_covered: Decimal = Decimal(0)


@dataclass(frozen=True)
class Adl(TradeEvent):
    """``MARGIN_EV_ADL``: the position was auto-deleveraged against a bankrupt position of
    the other side, whose :class:`Liquidation` it follows.

    Attributes:
        counterparty: The bankrupt position's id (``MARGIN_EVF_COUNTERPARTY``).
        qty: The quantity closed: all of it (the position is ``Status.DELEVERAGED``) or
            less (it stays open, ``position_qty`` left, its margin reduced pro rata).
        price: The bankrupt position's bankruptcy price, the fill (``fill``
            ``BANKRUPTCY``); no fee.
        realized_pnl: The PnL at that price.
        amount: Minus the margin released (isolated).
        insurance_delta: What it paid into the pool: its PnL at the mark less its PnL at
            the fill.
    """

    TYPE: ClassVar[EventType] = EventType.ADL

    counterparty: int = 0
    insurance_delta: Decimal = Decimal(0)


@dataclass(frozen=True)
class PartialLiquidation(TradeEvent):
    """``MARGIN_EV_PARTIAL_LIQUIDATION``: part of an isolated position was liquidated
    (the market's ``liq_policy``); the position stays open, smaller.

    Attributes:
        qty: The quantity liquidated (``position_qty`` is what remains).
        price: Its fill price (``fill`` names it).
        fee: The clearance fee, credited to the insurance fund.
        realized_pnl: The PnL realized on the part liquidated.
        amount: The change of the position's margin (<= 0; ``margin`` is what remains).
        liq_price: The liquidation price after it.
        insurance_delta: Change of the insurance fund.
    """

    TYPE: ClassVar[EventType] = EventType.PARTIAL_LIQUIDATION

    insurance_delta: Decimal = Decimal(0)


@dataclass(frozen=True)
class MarginChange(PositionEvent):
    """Base of margin and leverage changes.

    Attributes:
        amount: Margin moved (signed: into the position > 0).
    """

    amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class MarginAdd(MarginChange):
    """``MARGIN_EV_MARGIN_ADD``."""

    TYPE: ClassVar[EventType] = EventType.MARGIN_ADD


@dataclass(frozen=True)
class MarginRemove(MarginChange):
    """``MARGIN_EV_MARGIN_REMOVE``."""

    TYPE: ClassVar[EventType] = EventType.MARGIN_REMOVE


@dataclass(frozen=True)
class LeverageChange(MarginChange):
    """``MARGIN_EV_LEVERAGE``: leverage changed; ``amount`` is the change of margin."""

    TYPE: ClassVar[EventType] = EventType.LEVERAGE


@dataclass(frozen=True)
class Funding(PositionEvent):
    """``MARGIN_EV_FUNDING``.

    Attributes:
        price: The mark the funding was computed at.
        amount: Funding received (> 0) or paid (< 0).
    """

    TYPE: ClassVar[EventType] = EventType.FUNDING

    price: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class MarginCall(PositionEvent):
    """``MARGIN_EV_MARGIN_CALL``: the margin ratio reached a margin-call level.

    For a cross account (``mode`` ``CROSS``) the call is the account's: ``position`` is 0,
    ``market`` the market whose mark moved, ``margin_ratio`` the account margin ratio.

    Attributes:
        price: The mark.
        margin_ratio: Margin ratio at the mark (rate, 1 = liquidation;
            ``Decimal('Infinity')`` when the margin balance is <= 0).
        level: The level crossed.
    """

    TYPE: ClassVar[EventType] = EventType.MARGIN_CALL

    price: Decimal = Decimal(0)
    margin_ratio: Decimal = Decimal(0)
    level: Decimal = Decimal(0)


@dataclass(frozen=True)
class CrossLiquidation(Event):
    """``MARGIN_EV_CROSS_LIQUIDATION``: a cross account was liquidated.  It follows the
    :class:`Liquidation` events of the positions it closed.

    Attributes:
        market: The market whose mark update or funding triggered it.
        price: ``MARGIN_EVF_PRICE`` as reported (the triggering mark, or 0).
        amount: The deficit the insurance fund covered (>= 0).
        realized_pnl: ``+deficit``, so that the ``realized_pnl`` of all events adds up to
            the account's realized PnL.
        insurance_delta: Change of the insurance fund (``-deficit``).
        free_balance: The cross wallet after the liquidation.
        margin_ratio: The account margin ratio that triggered it
            (``Decimal('Infinity')`` when the cross margin balance was <= 0).
        positions_closed: Number of positions the liquidation closed.
    """

    TYPE: ClassVar[EventType] = EventType.CROSS_LIQUIDATION

    market: int = 0
    price: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    insurance_delta: Decimal = Decimal(0)
    free_balance: Decimal = Decimal(0)
    margin_ratio: Decimal = Decimal(0)
    positions_closed: int = 0


@dataclass(frozen=True)
class InsuranceDeposit(Event):
    """``MARGIN_EV_INSURANCE_DEPOSIT``: money was put into a market's insurance pool
    (:meth:`margin.Engine.insurance_deposit`); ``account`` is 0.

    Attributes:
        market: The market named in the call (its pool, or the pool it shares).
        amount: The amount.
        insurance_delta: The change of the insurance fund (the amount).
    """

    TYPE: ClassVar[EventType] = EventType.INSURANCE_DEPOSIT

    market: int = 0
    amount: Decimal = Decimal(0)
    insurance_delta: Decimal = Decimal(0)


#: ``MARGIN_EV_*`` value -> class.
EVENT_CLASSES: Dict[int, Type[Event]] = {
    cls.TYPE: cls
    for cls in (
        Deposit,
        Withdraw,
        Open,
        Increase,
        Reduce,
        Close,
        MarginAdd,
        MarginRemove,
        LeverageChange,
        Funding,
        MarginCall,
        Liquidation,
        StopLoss,
        TakeProfit,
        CrossLiquidation,
        PartialLiquidation,
        InsuranceDeposit,
        Adl,
    )
}

_MONEY = _capi.MARGIN_MONEY_SCALE
_RATE = _capi.MARGIN_RATE_SCALE


def build_event(raw: Tuple[int, ...], scales: Callable[[int], Tuple[int, int]]) -> Event:
    """Build the typed event from the raw field values.

    Args:
        raw: ``margin_event_get()`` values of ``MARGIN_EVF_SEQ`` .. ``MARGIN_EVF_ADL_COVERED``
            (a shorter tuple, from an older library, lacks the last fields: they read 0).
        scales: Returns ``(price_scale, qty_scale)`` of a market id.
    """

    def f(key: int) -> int:
        return raw[key - 1] if key <= len(raw) else 0

    code = f(_capi.MARGIN_EVF_TYPE)
    mode_raw = f(_capi.MARGIN_EVF_MODE)
    common = dict(
        seq=f(_capi.MARGIN_EVF_SEQ),
        time=f(_capi.MARGIN_EVF_TIME),
        account=f(_capi.MARGIN_EVF_ACCOUNT),
        raw=raw,
        path_point=f(_capi.MARGIN_EVF_PATH_POINT),
    )
    cls = EVENT_CLASSES.get(code)
    if cls is None:
        return UnknownEvent(code=code, **common)  # type: ignore[arg-type]
    # A mode this binding does not know (from a newer library) is left in raw only.
    if mode_raw in tuple(Mode):
        common["mode"] = Mode(mode_raw)

    def money(key: int) -> Decimal:
        return from_fixed(f(key), _MONEY)

    def rate(key: int) -> Decimal:
        return from_fixed(f(key), _RATE)

    if issubclass(cls, AccountEvent):
        return cls(
            amount=money(_capi.MARGIN_EVF_AMOUNT),
            free_balance=money(_capi.MARGIN_EVF_FREE_BALANCE),
            **common,  # type: ignore[arg-type]
        )

    market = f(_capi.MARGIN_EVF_MARKET)
    pscale, qscale = scales(market)

    def price(key: int) -> Decimal:
        return from_fixed(f(key), pscale)

    if cls is InsuranceDeposit:
        return cls(
            market=market,
            amount=money(_capi.MARGIN_EVF_AMOUNT),
            insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA),
            **common,  # type: ignore[arg-type]
        )

    if cls is CrossLiquidation:
        return cls(
            market=market,
            price=price(_capi.MARGIN_EVF_PRICE),
            amount=money(_capi.MARGIN_EVF_AMOUNT),
            realized_pnl=money(_capi.MARGIN_EVF_REALIZED_PNL),
            insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA),
            free_balance=money(_capi.MARGIN_EVF_FREE_BALANCE),
            margin_ratio=ratio_from_fixed(f(_capi.MARGIN_EVF_MARGIN_RATIO)),
            positions_closed=f(_capi.MARGIN_EVF_QTY),
            **common,  # type: ignore[arg-type]
        )

    def opt_price(key: int) -> Optional[Decimal]:
        v = f(key)
        # 0 and INT64_MAX (an inverse short that cannot be liquidated): none
        return None if v in (0, _capi.INT64_MAX) else from_fixed(v, pscale)

    side_raw = f(_capi.MARGIN_EVF_SIDE)
    kw: Dict[str, object] = dict(
        market=market,
        position=f(_capi.MARGIN_EVF_POSITION),
        side=Side(side_raw) if side_raw in (1, -1) else None,
        position_qty=from_fixed(f(_capi.MARGIN_EVF_POSITION_QTY), qscale),
        entry_price=price(_capi.MARGIN_EVF_ENTRY_PRICE),
        margin=money(_capi.MARGIN_EVF_MARGIN),
        leverage=rate(_capi.MARGIN_EVF_LEVERAGE),
        liq_price=opt_price(_capi.MARGIN_EVF_LIQ_PRICE),
        free_balance=money(_capi.MARGIN_EVF_FREE_BALANCE),
    )
    if issubclass(cls, TradeEvent):
        kw.update(
            price=price(_capi.MARGIN_EVF_PRICE),
            qty=from_fixed(f(_capi.MARGIN_EVF_QTY), qscale),
            amount=money(_capi.MARGIN_EVF_AMOUNT),
            realized_pnl=money(_capi.MARGIN_EVF_REALIZED_PNL),
            fee=money(_capi.MARGIN_EVF_FEE),
        )
        fill_raw = f(_capi.MARGIN_EVF_FILL)
        if fill_raw in tuple(FillPrice):
            kw.update(fill=FillPrice(fill_raw))
        if cls is PartialLiquidation:
            kw.update(insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA))
        if cls is Liquidation:
            kw.update(
                bankruptcy_price=opt_price(_capi.MARGIN_EVF_BANKRUPTCY_PRICE),
                insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA),
                adl_covered=money(_capi.MARGIN_EVF_ADL_COVERED),
            )
        if cls is Adl:
            kw.update(
                counterparty=f(_capi.MARGIN_EVF_COUNTERPARTY),
                insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA),
            )
    elif issubclass(cls, MarginChange):
        kw.update(amount=money(_capi.MARGIN_EVF_AMOUNT))
    elif cls is Funding:
        kw.update(price=price(_capi.MARGIN_EVF_PRICE), amount=money(_capi.MARGIN_EVF_AMOUNT))
    elif cls is MarginCall:
        kw.update(
            price=price(_capi.MARGIN_EVF_PRICE),
            margin_ratio=ratio_from_fixed(f(_capi.MARGIN_EVF_MARGIN_RATIO)),
            level=rate(_capi.MARGIN_EVF_LEVEL),
        )
    return cls(**common, **kw)  # type: ignore[arg-type]
