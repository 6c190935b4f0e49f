"""Events as small, typed, immutable objects.

:meth:`margin.Engine.events` yields one object per queued event, and a callback installed
with :meth:`margin.Engine.set_callback` receives the same objects.  Each ``MARGIN_EV_*``
type has its class; all derive from :class:`Event`.  Money, rates, prices and quantities
are :class:`~decimal.Decimal` (prices and quantities at the market's scales), ids and
sequence numbers are :class:`int`.  A price that the C API reports as 0 for "none" (the
liquidation price of a long that cannot be liquidated, for instance) is ``None``.

Every object also keeps ``raw``: the 22 integer fields exactly as ``margin_event_get()``
returned them, indexed by ``MARGIN_EVF_* - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, ClassVar, Dict, Optional, Tuple, Type

from . import _capi
from ._num import from_fixed
from .enums import EventType, Side

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
    "EVENT_CLASSES",
    "UnknownEvent",
]

#: Number of MARGIN_EVF_* fields read for every event.
FIELD_COUNT = 22


@dataclass(frozen=True)
class Event:
    """Fields common to every event.

    Attributes:
        seq: Sequence number, from 1, increasing by 1 (``MARGIN_EVF_SEQ``).
        time: The engine time when it happened (``MARGIN_EVF_TIME``).
        account: Account id.
    """

    TYPE: ClassVar[EventType] = EventType.NONE

    seq: int
    time: int
    account: int
    raw: Tuple[int, ...] = field(default=(), repr=False, compare=False)

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
        margin: Isolated margin after the event.
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
    """

    price: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)


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
    """``MARGIN_EV_LIQUIDATION``: liquidated at the mark ``price``.

    Attributes:
        bankruptcy_price: The bankruptcy price (``None`` if reported as 0).
        insurance_delta: Change of the insurance fund (negative when the mark gapped past
            the bankruptcy price).
    """

    TYPE: ClassVar[EventType] = EventType.LIQUIDATION

    bankruptcy_price: Optional[Decimal] = None
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

    Attributes:
        price: The mark.
        margin_ratio: Margin ratio at the mark (rate, 1 = liquidation).
        level: The level crossed.
    """

    TYPE: ClassVar[EventType] = EventType.MARGIN_CALL

    price: Decimal = Decimal(0)
    margin_ratio: Decimal = Decimal(0)
    level: Decimal = Decimal(0)


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
    )
}

_MONEY = _capi.MARGIN_MONEY_SCALE
_RATE = _capi.MARGIN_RATE_SCALE


def build_event(raw: Tuple[int, ...], scales: Callable[[int], Tuple[int, int]]) -> Event:
    """Build the typed event from the raw field values.

    Args:
        raw: ``margin_event_get()`` values of ``MARGIN_EVF_SEQ`` .. ``MARGIN_EVF_LEVERAGE``.
        scales: Returns ``(price_scale, qty_scale)`` of a market id.
    """

    def f(key: int) -> int:
        return raw[key - 1]

    code = f(_capi.MARGIN_EVF_TYPE)
    common = dict(
        seq=f(_capi.MARGIN_EVF_SEQ),
        time=f(_capi.MARGIN_EVF_TIME),
        account=f(_capi.MARGIN_EVF_ACCOUNT),
        raw=raw,
    )
    cls = EVENT_CLASSES.get(code)
    if cls is None:
        return UnknownEvent(code=code, **common)  # type: ignore[arg-type]

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

    def opt_price(key: int) -> Optional[Decimal]:
        v = f(key)
        return None if v == 0 else from_fixed(v, pscale)

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
        if cls is Liquidation:
            kw.update(
                bankruptcy_price=opt_price(_capi.MARGIN_EVF_BANKRUPTCY_PRICE),
                insurance_delta=money(_capi.MARGIN_EVF_INSURANCE_DELTA),
            )
    elif issubclass(cls, MarginChange):
        kw.update(amount=money(_capi.MARGIN_EVF_AMOUNT))
    elif cls is Funding:
        kw.update(price=price(_capi.MARGIN_EVF_PRICE), amount=money(_capi.MARGIN_EVF_AMOUNT))
    elif cls is MarginCall:
        kw.update(
            price=price(_capi.MARGIN_EVF_PRICE),
            margin_ratio=rate(_capi.MARGIN_EVF_MARGIN_RATIO),
            level=rate(_capi.MARGIN_EVF_LEVEL),
        )
    return cls(**common, **kw)  # type: ignore[arg-type]
