"""The engine and the objects that name things inside it.

:class:`Engine` owns the C handle (``margin_engine *``).  :class:`Market`,
:class:`Account` and :class:`Position` are thin: an engine plus an integer id, so they
never dangle; every property reads the engine's current state.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _capi
from ._num import DecimalLike, from_fixed, ratio_from_fixed, to_fixed, to_i32, to_u64
from .enums import (
    AdlRanking,
    Contract,
    CrossLiquidationPolicy,
    CrossLiquidationPolicyLike,
    LiqFeeBasis,
    LiquidationFill,
    LiquidationPolicy,
    MMBasis,
    Mode,
    ModeLike,
    Side,
    SideLike,
    Status,
    StopFill,
    parse_adl_ranking,
    parse_contract,
    parse_cross_liquidation,
    parse_liq_fee_basis,
    parse_liquidation_fill,
    parse_liquidation_policy,
    parse_mode,
    parse_side,
    parse_stop_fill,
)
from .errors import FileError, InvalidArgument, MarginError, StateError, make_error
from .events import FIELD_COUNT, Event, build_event

__all__ = ["Engine", "Market", "Account", "Position", "Tier", "EventCallback"]

_lib = _capi.lib
_MONEY = _capi.MARGIN_MONEY_SCALE
_RATE = _capi.MARGIN_RATE_SCALE

#: A function receiving every event as it is produced.
EventCallback = Callable[[Event], None]

MarketLike = Union["Market", int]


def _market_id(market: MarketLike) -> int:
    if isinstance(market, Market):
        return market.id
    return to_u64(market, "market")


StatusFilter = Union[Status, str, int, None]

#: A file path as the snapshot functions accept it.
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: Snapshot bytes as :meth:`Engine.load` accepts them.
BytesLike = Union[bytes, bytearray, memoryview]


def _path_bytes(path: PathLike) -> bytes:
    """The path as the C library takes it (``os.fsencode``); NUL bytes refused."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path: expected str, bytes or os.PathLike, got {type(path).__name__}")
    raw = os.fsencode(path)
    if not raw or b"\0" in raw:
        raise InvalidArgument(_capi.MARGIN_EINVAL, f"path {path!r} is empty or contains NUL")
    return raw


def _status_filter(status: StatusFilter) -> int:
    """A listing's status filter: None (every status), a Status, its name or its value."""
    if status is None:
        return _capi.MARGIN_STATUS_ANY
    if isinstance(status, Status):
        return int(status)
    if isinstance(status, str):
        try:
            return int(Status[status.upper()])
        except KeyError:
            raise InvalidArgument(
                _capi.MARGIN_EINVAL,
                f"status {status!r} is not 'open', 'closed', 'liquidated', 'deleveraged' or "
                "None") from None
    if isinstance(status, int) and not isinstance(status, bool):
        return to_i32(status, "status")
    raise TypeError(f"status must be a Status, a name, an int or None, not {type(status).__name__}")


def _flags(maker: bool, cross: bool = False) -> int:
    return (_capi.MARGIN_FLAG_MAKER if maker else 0) | (_capi.MARGIN_FLAG_CROSS if cross else 0)


@dataclass(frozen=True)
class Tier:
    """One maintenance tier of a market.

    Attributes:
        floor: Lowest notional of the tier (money).
        mmr: Maintenance margin rate.
        max_leverage: Largest leverage allowed in the tier.
        maint_amount: Maintenance amount (``cum``), money.
    """

    floor: Decimal
    mmr: Decimal
    max_leverage: Decimal
    maint_amount: Decimal


class Engine:
    """A margin engine (isolated and cross): owns every market, account, position and
    event.

    Use it as a context manager, or call :meth:`close` when done (the handle is also
    freed when the object is garbage-collected).  One engine must be used by one thread
    at a time.

    Args:
        time: Initial engine time stamped on events (``MARGIN_ENG_TIME``).
        callback: Function called with every :class:`~margin.events.Event` as it is
            produced (see :meth:`set_callback`).
        margin_call_levels: Margin-call levels (default: the engine's, 0.8).
        event_queue: Whether events are queued for :meth:`events` (default True).
        full_scan: Whether mark updates scan every position (default False).
        cross_liquidation: How a cross account is liquidated (default
            :attr:`CrossLiquidationPolicy.ALL <margin.CrossLiquidationPolicy.ALL>`; see
            :attr:`cross_liquidation`).
        event_cap: Cap on the number of queued events (default ``None``: none; see
            :attr:`event_cap`).

    An engine can also be made from a snapshot: :meth:`load` and :meth:`load_file`.

    Example:
        >>> with Engine() as eng:                                   # doctest: +SKIP
        ...     btc = eng.new_market("BTCUSDT")
    """

    def __init__(
        self,
        *,
        time: Optional[int] = None,
        callback: Optional[EventCallback] = None,
        margin_call_levels: Optional[Sequence[DecimalLike]] = None,
        event_queue: Optional[bool] = None,
        full_scan: Optional[bool] = None,
        cross_liquidation: Optional[CrossLiquidationPolicyLike] = None,
        event_cap: Optional[int] = None,
    ) -> None:
        self._handle: Optional[ctypes.c_void_p] = None
        self._callback: Optional[EventCallback] = None
        self._c_callback: Any = None
        self._callback_error: Optional[BaseException] = None
        self._in_callback = False
        handle = ctypes.c_void_p()
        rc = _lib.margin_engine_new(ctypes.byref(handle))
        if rc < 0:
            raise make_error(rc)
        if not handle.value:  # pragma: no cover - the C contract forbids it
            raise MarginError(_capi.MARGIN_ENOMEM, "margin_engine_new returned NULL")
        self._handle = handle
        try:
            if time is not None:
                self.time = time
            if event_queue is not None:
                self.event_queue = event_queue
            if full_scan is not None:
                self.full_scan = full_scan
            if cross_liquidation is not None:
                self.cross_liquidation = cross_liquidation  # type: ignore[assignment]
            if event_cap is not None:
                self.event_cap = event_cap
            if margin_call_levels is not None:
                self.set_margin_call_levels(margin_call_levels)
            if callback is not None:
                self.set_callback(callback)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Free the engine and everything it owns.  Safe to call more than once; every
        later call on the engine (or its markets, accounts, positions) raises
        :class:`~margin.StateError`."""
        handle, self._handle = self._handle, None
        if handle is not None and _lib is not None:
            _lib.margin_engine_free(handle)
        self._c_callback = None
        self._callback = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._handle is None

    def __enter__(self) -> "Engine":
        self._h()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"open_positions={self.open_positions}"
        return f"<margin.Engine {state}>"

    # ------------------------------------------------------------------ plumbing
    def _h(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise StateError(_capi.MARGIN_ESTATE, "the engine is closed")
        return self._handle

    def _fail(self, rc: int) -> MarginError:
        return make_error(rc, self.errmsg())

    def _query(self, fname: str, *args: Any) -> None:
        """Call a read-only function (allowed inside a callback)."""
        rc = getattr(_lib, fname)(self._h(), *args)
        if rc < 0:
            raise self._fail(rc)

    def _call(self, fname: str, *args: Any) -> None:
        """Call a function that may change the engine, then surface callback errors."""
        h = self._h()
        if self._in_callback:
            raise StateError(
                _capi.MARGIN_ESTATE, f"{fname} cannot be called from inside an event callback"
            )
        self._callback_error = None
        rc = getattr(_lib, fname)(h, *args)
        err, self._callback_error = self._callback_error, None
        if rc < 0:
            raise self._fail(rc) from err
        if err is not None:
            raise err

    def _get64(self, fname: str, *args: Any) -> int:
        out = ctypes.c_int64()
        self._query(fname, *args, ctypes.byref(out))
        return out.value

    @property
    def handle(self) -> int:
        """The address of the C handle (``margin_engine *``), for other FFI code."""
        return int(self._h().value or 0)

    def errmsg(self) -> str:
        """The engine's message for its last failed call (``margin_errmsg()``)."""
        h = self._handle
        text = _lib.margin_errmsg(h)
        return text.decode("utf-8", "replace") if text else ""

    @property
    def errcode(self) -> int:
        """The status code of the engine's last failed call (``margin_errcode()``)."""
        return int(_lib.margin_errcode(self._h()))

    # ------------------------------------------------------------------ options
    def get(self, key: int) -> int:
        """Raw ``margin_engine_get()``: the integer value of a ``MARGIN_ENG_*`` key."""
        return self._get64("margin_engine_get", to_i32(key, "key"))

    def set(self, key: int, value: int) -> None:
        """Raw ``margin_engine_set()`` with an integer value."""
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float) or not isinstance(value, int):
            raise TypeError(f"value: expected int, got {type(value).__name__}")
        if not _capi.INT64_MIN <= value <= _capi.INT64_MAX:
            raise InvalidArgument(_capi.MARGIN_EINVAL, f"value: {value} does not fit in int64_t")
        self._call("margin_engine_set", to_i32(key, "key"), value)

    @property
    def time(self) -> int:
        """Current time stamped on every event (any unit; e.g. ms since the epoch)."""
        return self.get(_capi.MARGIN_ENG_TIME)

    @time.setter
    def time(self, value: int) -> None:
        self.set(_capi.MARGIN_ENG_TIME, value)

    @property
    def full_scan(self) -> bool:
        """Whether mark updates scan every position (the reference path)."""
        return bool(self.get(_capi.MARGIN_ENG_FULL_SCAN))

    @full_scan.setter
    def full_scan(self, value: bool) -> None:
        self.set(_capi.MARGIN_ENG_FULL_SCAN, 1 if value else 0)

    @property
    def event_queue(self) -> bool:
        """Whether events are queued for :meth:`events` (a callback sees them anyway)."""
        return bool(self.get(_capi.MARGIN_ENG_EVENT_QUEUE))

    @event_queue.setter
    def event_queue(self, value: bool) -> None:
        self.set(_capi.MARGIN_ENG_EVENT_QUEUE, 1 if value else 0)

    @property
    def cross_liquidation(self) -> CrossLiquidationPolicy:
        """How a cross account whose cross margin balance falls to its maintenance margin
        is liquidated (``MARGIN_ENG_CROSS_LIQUIDATION``): ``CrossLiquidationPolicy.ALL``
        (the default: every cross position at once) or
        ``CrossLiquidationPolicy.WORST_FIRST`` (the largest unrealized loss first, until
        the account is healthy).  Settable with a :class:`~margin.CrossLiquidationPolicy`,
        ``"all"``, ``"worst_first"`` or the C value; it applies from the next
        evaluation."""
        return CrossLiquidationPolicy(self.get(_capi.MARGIN_ENG_CROSS_LIQUIDATION))

    @cross_liquidation.setter
    def cross_liquidation(self, value: CrossLiquidationPolicyLike) -> None:
        self.set(_capi.MARGIN_ENG_CROSS_LIQUIDATION, parse_cross_liquidation(value))

    @property
    def event_cap(self) -> Optional[int]:
        """Cap on the number of queued events (``MARGIN_ENG_EVENT_CAP``), or ``None`` for
        no cap (the default; setting ``None`` or 0 removes it).  A call that would queue
        events past the cap raises :class:`~margin.EventQueueFull` and changes nothing: no
        event is ever dropped.  A mark update or funding round is refused whole.  Drain
        the queue with :meth:`events` and call again.  A cap below the number already
        queued only stops new events."""
        cap = self.get(_capi.MARGIN_ENG_EVENT_CAP)
        return None if cap == 0 else cap

    @event_cap.setter
    def event_cap(self, value: Optional[int]) -> None:
        self.set(_capi.MARGIN_ENG_EVENT_CAP, 0 if value is None else value)

    @property
    def retain_closed(self) -> int:
        """How many of the most recently closed (or liquidated) positions stay readable
        (``MARGIN_ENG_RETAIN_CLOSED``, default 1048576, settable, >= 0).  Older closed
        positions are retired a block of ids at a time: their memory is freed and their
        ids raise :class:`~margin.NotFound`; ids are never reused."""
        return self.get(_capi.MARGIN_ENG_RETAIN_CLOSED)

    @retain_closed.setter
    def retain_closed(self, value: int) -> None:
        self.set(_capi.MARGIN_ENG_RETAIN_CLOSED, value)

    @property
    def cross_evaluations(self) -> int:
        """Number of cross-account evaluations so far (``MARGIN_ENG_CROSS_EVALUATIONS``): a
        mark update evaluates a cross account when the mark leaves the account's price
        band in that market, a funding round every cross account holding the market."""
        return self.get(_capi.MARGIN_ENG_CROSS_EVALUATIONS)

    @property
    def insurance_fund(self) -> Decimal:
        """The insurance-fund ledger balance (money)."""
        return from_fixed(self.get(_capi.MARGIN_ENG_INSURANCE_FUND), _MONEY)

    @property
    def insurance_deposits(self) -> Decimal:
        """Money put into the insurance pools with :meth:`insurance_deposit` so far
        (``MARGIN_ENG_INSURANCE_DEPOSITS``); :attr:`insurance_fund` is the sum of the pools."""
        return from_fixed(self.get(_capi.MARGIN_ENG_INSURANCE_DEPOSITS), _MONEY)

    def insurance_deposit(self, market: MarketLike, amount: DecimalLike) -> None:
        """Put money (> 0, from outside the accounts) into the insurance pool *market* uses
        (``margin_insurance_deposit()``); an :class:`~margin.events.InsuranceDeposit`
        event."""
        self._call("margin_insurance_deposit", _market_id(market),
                   to_fixed(amount, _MONEY, "amount"))

    def adl_quantiles(self, market: MarketLike) -> None:
        """Compute the ADL quantile (0 to 4, 4 deleveraged first) of every open position of
        *market* at once (``margin_market_adl_quantiles()``); each position keeps it in
        :attr:`Position.adl_quantile` until the next call."""
        self._call("margin_market_adl_quantiles", _market_id(market))

    @property
    def open_positions(self) -> int:
        """Number of open positions in the engine."""
        return self.get(_capi.MARGIN_ENG_OPEN_POSITIONS)

    @property
    def events_pending(self) -> int:
        """Number of events waiting in the queue."""
        return self.get(_capi.MARGIN_ENG_EVENTS_PENDING)

    @property
    def last_seq(self) -> int:
        """Sequence number of the last event produced (0 if none)."""
        return self.get(_capi.MARGIN_ENG_LAST_SEQ)

    @property
    def liquidations(self) -> int:
        """Number of positions liquidated so far."""
        return self.get(_capi.MARGIN_ENG_LIQUIDATIONS)

    def set_margin_call_levels(self, levels: Iterable[DecimalLike]) -> None:
        """Set the margin-call levels (ratios strictly between 0 and 1, at most 8; an
        empty list disables margin calls).  Re-arms every level of every open position."""
        values = list(levels)
        fixed = [to_fixed(v, _RATE, "margin-call level") for v in values]
        arr = (ctypes.c_int64 * max(1, len(fixed)))(*fixed)
        ptr = ctypes.cast(arr, ctypes.POINTER(ctypes.c_int64)) if fixed else None
        self._call("margin_engine_set_margin_call_levels", ptr, len(fixed))

    @property
    def margin_call_levels(self) -> Tuple[Decimal, ...]:
        """The margin-call levels in force, lowest first (default ``(0.8,)``), read from the
        engine (``margin_engine_margin_call_levels()``)."""
        arr = (ctypes.c_int64 * 8)()
        n = ctypes.c_size_t()
        self._query("margin_engine_margin_call_levels",
                    ctypes.cast(arr, ctypes.POINTER(ctypes.c_int64)), 8, ctypes.byref(n))
        return tuple(from_fixed(arr[i], _RATE) for i in range(n.value))

    @margin_call_levels.setter
    def margin_call_levels(self, levels: Iterable[DecimalLike]) -> None:
        self.set_margin_call_levels(levels)

    # ------------------------------------------------------------------ snapshots
    def save(self) -> bytes:
        """The whole engine as snapshot bytes (``margin_snapshot_save()``; the format is
        ``docs/snapshot.md``): markets, accounts, positions open and closed, options,
        sequence numbers and the queued events.  Not in it: the callback.

        The same state always gives the same bytes, and :meth:`load` gives an engine
        that produces the same events and the same next snapshot on the same calls.
        """
        n = ctypes.c_size_t()
        self._query("margin_snapshot_save", None, 0, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value)
        self._query("margin_snapshot_save", buf, n.value, ctypes.byref(n))
        return buf.raw[: n.value]

    def save_file(self, path: PathLike) -> None:
        """Save the engine to the file *path*, atomically (``margin_snapshot_write()``):
        a temporary file beside it is written, synced and renamed over *path*, so *path*
        holds either its previous content or the whole new snapshot.

        Raises:
            FileError: a step failed (an :class:`OSError`; the message names the step
                and the reason); *path* is untouched and no temporary file is left.
        """
        raw = _path_bytes(path)
        try:
            self._query("margin_snapshot_write", raw)
        except FileError as exc:
            exc.filename = os.fspath(path)
            raise

    @classmethod
    def load(cls, data: BytesLike, *, callback: Optional[EventCallback] = None) -> "Engine":
        """A new engine from snapshot bytes (``margin_snapshot_load()``), with every
        option, figure and queued event of the engine that saved them, and *callback*
        (which a snapshot does not hold).

        Raises:
            SnapshotError: the bytes are not a snapshot this library reads; the subclass
                says why (:class:`~margin.SnapshotMagicError`,
                :class:`~margin.SnapshotVersionError`,
                :class:`~margin.SnapshotTruncatedError`,
                :class:`~margin.SnapshotChecksumError`,
                :class:`~margin.SnapshotCorruptError`).  No engine is returned, and none
                is left half-built.
        """
        if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        raw = bytes(data)
        eng = cls(callback=callback)
        try:
            eng._call("margin_snapshot_load", raw, len(raw))
        except BaseException:
            eng.close()
            raise
        return eng

    @classmethod
    def load_file(cls, path: PathLike, *, callback: Optional[EventCallback] = None) -> "Engine":
        """A new engine from the snapshot file *path* (``margin_snapshot_read()``), as
        :meth:`load`.

        Raises:
            FileError: the file cannot be opened or read (an :class:`OSError`).
            SnapshotError: its content is not a snapshot this library reads.
        """
        raw = _path_bytes(path)
        eng = cls(callback=callback)
        try:
            eng._call("margin_snapshot_read", raw)
        except FileError as exc:
            eng.close()
            exc.filename = os.fspath(path)
            raise
        except BaseException:
            eng.close()
            raise
        return eng

    @property
    def state_hash(self) -> int:
        """A 64-bit hash of the engine's state (``margin_state_hash()``): equal for two
        engines that would save the same snapshot, different otherwise but for a 2**-64
        chance.  Computed on each read, in time proportional to the state, without
        building the snapshot; for comparing replicas, not for security."""
        out = ctypes.c_uint64()
        self._query("margin_state_hash", ctypes.byref(out))
        return out.value

    # ------------------------------------------------------------------ events
    def set_callback(self, callback: Optional[EventCallback]) -> None:
        """Install (or with ``None`` remove) a function called with every event as it is
        produced, before it is queued for :meth:`events`.

        The callback must not change the engine: calling a changing method from inside it
        raises :class:`~margin.StateError`.  An exception raised by the callback is
        re-raised by the engine call that produced the event, after that call completed.
        """
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable or None")
        if callback is None:
            self._call("margin_engine_set_callback", _capi.EVENT_FN(), None)
            self._callback = None
            self._c_callback = None
            return
        c_fn = _capi.EVENT_FN(self._on_event)
        self._call("margin_engine_set_callback", c_fn, None)
        self._callback = callback
        self._c_callback = c_fn  # keep the trampoline alive while installed

    def _on_event(self, _user: Any, _engine: Any, _type: int) -> None:
        try:
            event = self._read_event()
            callback = self._callback
            if callback is not None:
                self._in_callback = True
                try:
                    callback(event)
                finally:
                    self._in_callback = False
        except BaseException as exc:  # surfaced by _call after the C call returns
            if self._callback_error is None:
                self._callback_error = exc

    def _scales(self, market: int) -> Tuple[int, int]:
        if market == 0:
            return (8, 8)
        try:
            return (
                self._get64("margin_market_get", market, _capi.MARGIN_MKT_PRICE_SCALE),
                self._get64("margin_market_get", market, _capi.MARGIN_MKT_QTY_SCALE),
            )
        except MarginError:
            return (8, 8)

    def _list_ids(self, fname: str, *args: Any) -> List[int]:
        """Ids from a listing function (the MARGIN_EBUFFER contract: count, then copy;
        again if positions appeared in between, which a callback cannot cause)."""
        n = ctypes.c_size_t()
        while True:
            self._query_buffer(fname, *args, None, 0, ctypes.byref(n))
            cap = n.value
            arr = (ctypes.c_uint64 * max(cap, 1))()
            rc = getattr(_lib, fname)(self._h(), *args, arr, cap, ctypes.byref(n))
            if rc == _capi.MARGIN_EBUFFER:
                continue
            if rc < 0:
                raise self._fail(rc)
            return [arr[i] for i in range(n.value)]

    def _query_buffer(self, fname: str, *args: Any) -> None:
        rc = getattr(_lib, fname)(self._h(), *args)
        if rc < 0 and rc != _capi.MARGIN_EBUFFER:
            raise self._fail(rc)

    def positions(self, status: StatusFilter = Status.OPEN) -> List["Position"]:
        """Every position of the engine with *status* (``"open"`` by default, ``"closed"``,
        ``"liquidated"``, a :class:`~margin.Status`, or ``None`` for all), in id order
        (``margin_positions()``).  After a restart this finds every open position."""
        ids = self._list_ids("margin_positions", _status_filter(status))
        return [Position(self, i) for i in ids]

    def _read_event(self) -> Event:
        if "margin_event_fields" in _lib.missing:  # a library older than 0.2.0
            # It knows fields 1 .. MARGIN_EVF_LEVERAGE; the later ones (the mode) read 0.
            known = _capi.MARGIN_EVF_LEVERAGE
            raw = tuple(
                self._get64("margin_event_get", k) if k <= known else 0
                for k in range(1, FIELD_COUNT + 1)
            )
        else:
            # One call: out[0] is the number of fields the library knows, out[f] field f.
            # A field past out[0] (MARGIN_EVF_MODE from a library that reports 22) is 0.
            arr = (ctypes.c_int64 * (FIELD_COUNT + 1))()
            self._query("margin_event_fields", arr, FIELD_COUNT + 1)
            known = arr[0]
            raw = tuple(arr[k] if k <= known else 0 for k in range(1, FIELD_COUNT + 1))
        return build_event(raw, self._scales)

    def next_event(self) -> Optional[Event]:
        """Take the oldest queued event, or return ``None`` if the queue is empty."""
        kind = ctypes.c_int32()
        self._call("margin_event_next", ctypes.byref(kind))
        if kind.value == _capi.MARGIN_EV_NONE:
            return None
        return self._read_event()

    def events(self) -> Iterator[Event]:
        """Iterate over the queued events, oldest first, removing them from the queue."""
        while True:
            event = self.next_event()
            if event is None:
                return
            yield event

    # ------------------------------------------------------------------ objects
    def new_market(
        self,
        symbol: str,
        *,
        price_scale: Optional[int] = None,
        qty_scale: Optional[int] = None,
        tick: Optional[DecimalLike] = None,
        step: Optional[DecimalLike] = None,
        max_leverage: Optional[DecimalLike] = None,
        maker_fee: Optional[DecimalLike] = None,
        taker_fee: Optional[DecimalLike] = None,
        mm_basis: Optional[Union[MMBasis, int]] = None,
        close_fee: Optional[DecimalLike] = None,
        tiers: Optional[Iterable[Sequence[Optional[DecimalLike]]]] = None,
        liq_fee: Optional[DecimalLike] = None,
        liq_fee_basis: Optional[Union[LiqFeeBasis, int, str]] = None,
        liq_fill: Optional[Union[LiquidationFill, int, str]] = None,
        stop_fill: Optional[Union[StopFill, int, str]] = None,
        liq_policy: Optional[Union[LiquidationPolicy, int, str]] = None,
        contract: Optional[Union[Contract, int, str]] = None,
        contract_size: Optional[DecimalLike] = None,
        settle_asset: Optional[int] = None,
        min_price: Optional[DecimalLike] = None,
    ) -> "Market":
        """Create a market (``margin_market_new()``) and set the options given.

        Scales are set first, so ``tick`` and ``step`` are read at the new scales; then the
        contract (``contract``, ``contract_size``, ``settle_asset``, then ``min_price``,
        whose default the contract type sets), before the other options.  The liquidation
        options (``liq_fee`` .. ``liq_policy``) are the properties of the same names of
        :class:`Market`; the ``slices`` policy's parameters are set there.  ``tiers`` is a
        list of ``(floor, mmr[, max_leverage[, maint_amount]])`` passed to
        :meth:`Market.add_tier` in order (replacing the default tier).

        An inverse (coin-margined) market: ``contract="inverse"`` with ``contract_size``
        quote units per contract (default 1): quantities are contracts, money is in the
        coin (:class:`~margin.Contract`).  Every market of an engine has the engine's first
        market's contract type and settlement asset: a different one raises
        :class:`~margin.AssetError`.
        """
        if not isinstance(symbol, str):
            raise TypeError(f"symbol: expected str, got {type(symbol).__name__}")
        raw = _symbol_bytes(symbol)
        out = ctypes.c_uint64()
        self._call("margin_market_new", raw, ctypes.byref(out))
        m = Market(self, out.value)
        if price_scale is not None:
            m.price_scale = price_scale
        if qty_scale is not None:
            m.qty_scale = qty_scale
        if tick is not None:
            m.tick = tick
        if step is not None:
            m.step = step
        if contract is not None:
            m.contract = contract  # type: ignore[assignment]
        if contract_size is not None:
            m.contract_size = contract_size
        if settle_asset is not None:
            m.settle_asset = settle_asset
        if min_price is not None:
            m.min_price = min_price
        if max_leverage is not None:
            m.max_leverage = max_leverage
        if maker_fee is not None:
            m.maker_fee = maker_fee
        if taker_fee is not None:
            m.taker_fee = taker_fee
        if mm_basis is not None:
            m.mm_basis = mm_basis  # type: ignore[assignment]
        if close_fee is not None:
            m.close_fee = close_fee
        if tiers is not None:
            for t in tiers:
                m.add_tier(*t)
        if liq_fee is not None:
            m.liq_fee = liq_fee
        if liq_fee_basis is not None:
            m.liq_fee_basis = liq_fee_basis  # type: ignore[assignment]
        if liq_fill is not None:
            m.liq_fill = liq_fill  # type: ignore[assignment]
        if stop_fill is not None:
            m.stop_fill = stop_fill  # type: ignore[assignment]
        if liq_policy is not None:
            m.liq_policy = liq_policy  # type: ignore[assignment]
        return m

    def market(self, key: Union[str, int]) -> "Market":
        """The market with that symbol (``margin_market_find()``) or id.

        Raises:
            NotFound: no such market.
        """
        if isinstance(key, str):
            out = ctypes.c_uint64()
            self._query("margin_market_find", _symbol_bytes(key), ctypes.byref(out))
            return Market(self, out.value)
        m = Market(self, to_u64(key, "market"))
        m.get(_capi.MARGIN_MKT_PRICE_SCALE)  # raises NotFound for an unknown id
        return m

    def new_account(self, deposit: Optional[DecimalLike] = None) -> "Account":
        """Create an account (``margin_account_new()``), optionally depositing into it."""
        out = ctypes.c_uint64()
        self._call("margin_account_new", ctypes.byref(out))
        a = Account(self, out.value)
        if deposit is not None:
            a.deposit(deposit)
        return a

    def account(self, account_id: int) -> "Account":
        """The account with that id.

        Raises:
            NotFound: no such account.
        """
        a = Account(self, to_u64(account_id, "account"))
        a.get(_capi.MARGIN_ACCT_FREE_BALANCE)
        return a

    def position(self, position_id: int) -> "Position":
        """The position with that id (open or not).

        Raises:
            NotFound: no such position.
        """
        p = Position(self, to_u64(position_id, "position"))
        p.get(_capi.MARGIN_POS_ACCOUNT)
        return p

    # ------------------------------------------------------------------ marks
    def mark_update(self, market: MarketLike, mark: DecimalLike) -> None:
        """Apply a new mark price to a market (see :meth:`Market.mark_update`)."""
        m = market if isinstance(market, Market) else Market(self, _market_id(market))
        m.mark_update(mark)

    def mark_candle(
        self,
        market: MarketLike,
        open: DecimalLike,
        high: DecimalLike,
        low: DecimalLike,
        close: DecimalLike,
        path: Union[str, int] = "updown",
    ) -> None:
        """Apply one candle to a market (see :meth:`Market.mark_candle`)."""
        m = market if isinstance(market, Market) else Market(self, _market_id(market))
        m.mark_candle(open, high, low, close, path)

    def funding(self, market: MarketLike, rate: DecimalLike, mark: DecimalLike) -> None:
        """Settle one funding interval (see :meth:`Market.funding`)."""
        m = market if isinstance(market, Market) else Market(self, _market_id(market))
        m.funding(rate, mark)


def _symbol_bytes(symbol: str) -> bytes:
    try:
        raw = symbol.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidArgument(_capi.MARGIN_EINVAL, f"symbol {symbol!r} is not ASCII") from None
    if b"\0" in raw:
        raise InvalidArgument(_capi.MARGIN_EINVAL, f"symbol {symbol!r} contains NUL")
    return raw


class _Thing:
    """An engine plus an id; equal when both are."""

    __slots__ = ("engine", "id")
    _kind = "thing"

    def __init__(self, engine: Engine, ident: int) -> None:
        self.engine: Engine = engine
        self.id: int = ident

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.engine is self.engine and other.id == self.id  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, id(self.engine), self.id))

    def __repr__(self) -> str:
        return f"<margin.{type(self).__name__} id={self.id}>"


class Market(_Thing):
    """A contract inside an :class:`Engine`: linear (USDT-margined, the default) or inverse
    (coin-margined: :attr:`contract`, :attr:`contract_size`).

    Prices are converted at :attr:`price_scale`, quantities at :attr:`qty_scale` (both read
    from the engine, 8 by default), money and rates at 8.  On an inverse market quantities
    are contracts and every money amount (margin, PnL, fees, funding, the value ``N/P``) is
    in the coin.
    """

    __slots__ = ()

    @property
    def symbol(self) -> str:
        """The market's symbol (``margin_market_symbol()``)."""
        buf = ctypes.create_string_buffer(32)
        self.engine._query("margin_market_symbol", self.id, buf, ctypes.sizeof(buf))
        return buf.value.decode("ascii")

    def __repr__(self) -> str:
        return f"<margin.Market id={self.id} symbol={self.symbol!r}>"

    # raw access
    def get(self, key: int) -> int:
        """Raw ``margin_market_get()``."""
        return self.engine._get64("margin_market_get", self.id, to_i32(key, "key"))

    def set(self, key: int, value: int) -> None:
        """Raw ``margin_market_set()`` with an integer value in the key's units."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"value: expected int, got {type(value).__name__}")
        if not _capi.INT64_MIN <= value <= _capi.INT64_MAX:
            raise InvalidArgument(_capi.MARGIN_EINVAL, f"value: {value} does not fit in int64_t")
        self.engine._call("margin_market_set", self.id, to_i32(key, "key"), value)

    # conversions
    def to_price(self, value: DecimalLike) -> int:
        """A price in this market's price units (exact; see :func:`margin.to_fixed`)."""
        return to_fixed(value, self.price_scale, "price")

    def to_qty(self, value: DecimalLike) -> int:
        """A quantity in this market's quantity units."""
        return to_fixed(value, self.qty_scale, "qty")

    def _rate_prop(key: int, name: str, doc: str) -> property:  # type: ignore[misc]
        def fget(self: "Market") -> Decimal:
            return from_fixed(self.get(key), _RATE)

        def fset(self: "Market", value: DecimalLike) -> None:
            self.set(key, to_fixed(value, _RATE, name))

        return property(fget, fset, doc=doc)

    @property
    def price_scale(self) -> int:
        """Decimal places of prices (settable while the market has no tiers added and no
        positions)."""
        return self.get(_capi.MARGIN_MKT_PRICE_SCALE)

    @price_scale.setter
    def price_scale(self, value: int) -> None:
        self.set(_capi.MARGIN_MKT_PRICE_SCALE, value)

    @property
    def qty_scale(self) -> int:
        """Decimal places of quantities (same restriction as :attr:`price_scale`)."""
        return self.get(_capi.MARGIN_MKT_QTY_SCALE)

    @qty_scale.setter
    def qty_scale(self, value: int) -> None:
        self.set(_capi.MARGIN_MKT_QTY_SCALE, value)

    @property
    def tick(self) -> Decimal:
        """Price tick: entry and trade prices must be multiples of it."""
        return from_fixed(self.get(_capi.MARGIN_MKT_TICK), self.price_scale)

    @tick.setter
    def tick(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_TICK, to_fixed(value, self.price_scale, "tick"))

    @property
    def max_price(self) -> Decimal:
        """The largest mark, fill, stop or take-profit price the market accepts (default
        ten million); every position must fit at every mark up to it."""
        return from_fixed(self.get(_capi.MARGIN_MKT_MAX_PRICE), self.price_scale)

    @max_price.setter
    def max_price(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_MAX_PRICE, to_fixed(value, self.price_scale, "max_price"))

    @property
    def step(self) -> Decimal:
        """Quantity step: quantities must be multiples of it."""
        return from_fixed(self.get(_capi.MARGIN_MKT_STEP), self.qty_scale)

    @step.setter
    def step(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_STEP, to_fixed(value, self.qty_scale, "step"))

    max_leverage = _rate_prop(
        _capi.MARGIN_MKT_MAX_LEVERAGE, "max_leverage", "Maximum leverage (e.g. 125)."
    )
    maker_fee = _rate_prop(_capi.MARGIN_MKT_MAKER_FEE, "maker_fee", "Maker fee rate (e.g. 0.0002).")
    taker_fee = _rate_prop(_capi.MARGIN_MKT_TAKER_FEE, "taker_fee", "Taker fee rate (e.g. 0.0004).")
    close_fee = _rate_prop(
        _capi.MARGIN_MKT_CLOSE_FEE,
        "close_fee",
        "Fee rate to close counted in the maintenance margin (the spec's f).",
    )
    liq_fee = _rate_prop(
        _capi.MARGIN_MKT_LIQ_FEE,
        "liq_fee",
        "Clearance (liquidation) fee rate (e.g. 0.0125), charged on the liquidated notional "
        "and credited to the insurance fund; default 0.",
    )
    slice_fraction = _rate_prop(
        _capi.MARGIN_MKT_SLICE_FRACTION,
        "slice_fraction",
        "``slices`` policy: the fraction of the position one slice takes (default 0.2).",
    )
    slice_backstop = _rate_prop(
        _capi.MARGIN_MKT_SLICE_BACKSTOP,
        "slice_backstop",
        "``slices`` policy: below this fraction of the maintenance margin the position is "
        "liquidated in full (default 0.66666667).",
    )
    del _rate_prop

    def _enum_prop(key: int, cls: Any, parse: Callable[[Any], int], doc: str) -> property:  # type: ignore[misc]
        def fget(self: "Market") -> Any:
            v = self.get(key)
            return cls(v) if v in tuple(cls) else v

        def fset(self: "Market", value: Any) -> None:
            self.set(key, parse(value))

        return property(fget, fset, doc=doc)

    liq_fee_basis = _enum_prop(
        _capi.MARGIN_MKT_LIQ_FEE_BASIS, LiqFeeBasis, parse_liq_fee_basis,
        "The price multiplying the liquidated quantity in the clearance fee "
        "(:class:`~margin.LiqFeeBasis`; ``'fill'`` by default, or ``'mark'``).")
    liq_fill = _enum_prop(
        _capi.MARGIN_MKT_LIQ_FILL, LiquidationFill, parse_liquidation_fill,
        "The price a liquidation settles at (:class:`~margin.LiquidationFill`; ``'mark'`` by "
        "default, ``'liq_price'`` or ``'bankruptcy'``).")
    stop_fill = _enum_prop(
        _capi.MARGIN_MKT_STOP_FILL, StopFill, parse_stop_fill,
        "The price stop-losses and take-profits fill at (:class:`~margin.StopFill`; "
        "``'mark'`` by default, or ``'trigger'``).")
    liq_policy = _enum_prop(
        _capi.MARGIN_MKT_LIQ_POLICY, LiquidationPolicy, parse_liquidation_policy,
        "How much of a liquidatable isolated position is liquidated "
        "(:class:`~margin.LiquidationPolicy`; ``'full'`` by default, ``'min_reduce'``, "
        "``'tier_down'`` or ``'slices'``).")
    adl_ranking = _enum_prop(
        _capi.MARGIN_MKT_ADL_RANKING, AdlRanking, parse_adl_ranking,
        "How the market ranks positions for auto-deleveraging "
        "(:class:`~margin.AdlRanking`; ``'binance'`` by default, or ``'bitmex'``).")
    contract = _enum_prop(
        _capi.MARGIN_MKT_CONTRACT, Contract, parse_contract,
        "The contract type (:class:`~margin.Contract`; ``'linear'`` by default, or "
        "``'inverse'``): settable only before the market has had positions, and only to the "
        "type of the engine's other markets (else :class:`~margin.AssetError`).")
    del _enum_prop

    # inverse (coin-margined) contracts
    @property
    def is_inverse(self) -> bool:
        """``True`` for an inverse (coin-margined) market."""
        return self.get(_capi.MARGIN_MKT_CONTRACT) == _capi.MARGIN_CONTRACT_INVERSE

    @property
    def contract_size(self) -> Decimal:
        """Quote units (USD) per contract of an inverse market (``MARGIN_MKT_CONTRACT_SIZE``,
        default 1; BitMEX's XBTUSD: 1, Binance COIN-M's BTCUSD: 100).  Settable only before
        the market has had positions; ignored by linear markets."""
        return from_fixed(self.get(_capi.MARGIN_MKT_CONTRACT_SIZE), _MONEY)

    @contract_size.setter
    def contract_size(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_CONTRACT_SIZE, to_fixed(value, _MONEY, "contract_size"))

    @property
    def settle_asset(self) -> int:
        """The settlement asset, a code of the caller's choosing (>= 0, default 0;
        ``MARGIN_MKT_SETTLE_ASSET``): every market of an engine has the same
        (:class:`~margin.AssetError` otherwise).  Settable only before the market has had
        positions."""
        return self.get(_capi.MARGIN_MKT_SETTLE_ASSET)

    @settle_asset.setter
    def settle_asset(self, value: int) -> None:
        self.set(_capi.MARGIN_MKT_SETTLE_ASSET, value)

    @property
    def min_price(self) -> Decimal:
        """The lowest mark, candle or fill price the market accepts (``MARGIN_MKT_MIN_PRICE``;
        below it :class:`~margin.RangeError`): 1 price unit on a linear market, 0.01 on an
        inverse one, whose value ``N/P`` grows without bound as the price falls."""
        return from_fixed(self.get(_capi.MARGIN_MKT_MIN_PRICE), self.price_scale)

    @min_price.setter
    def min_price(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_MIN_PRICE, to_fixed(value, self.price_scale, "min_price"))

    # insurance pool and auto-deleveraging
    @property
    def insurance_pool(self) -> "Market":
        """The market whose insurance pool this one uses (``MARGIN_MKT_INSURANCE_POOL``):
        itself by default.  Set another market (or its id) to share that market's pool, or
        this market to return to its own; the engine refuses (:class:`~margin.StateError`)
        when the pool left is shared or not empty, or the pool joined is not its market's
        own."""
        return Market(self.engine, self.get(_capi.MARGIN_MKT_INSURANCE_POOL))

    @insurance_pool.setter
    def insurance_pool(self, market: MarketLike) -> None:
        self.set(_capi.MARGIN_MKT_INSURANCE_POOL, _market_id(market))

    @property
    def insurance(self) -> Decimal:
        """Balance of the market's insurance pool (``MARGIN_MKT_INSURANCE``, read-only:
        :meth:`insurance_deposit` seeds it)."""
        return from_fixed(self.get(_capi.MARGIN_MKT_INSURANCE), _MONEY)

    @property
    def adl(self) -> bool:
        """Auto-deleveraging of the market's pool (``MARGIN_MKT_ADL``, an option of the
        pool; ``False`` by default): when a liquidation's deficit would take the pool below
        :attr:`insurance_floor`, positions of the other side are closed at the bankrupt
        position's bankruptcy price, highest :attr:`Position.adl_score` first."""
        return self.get(_capi.MARGIN_MKT_ADL) == _capi.MARGIN_ADL_ON

    @adl.setter
    def adl(self, value: bool) -> None:
        self.set(_capi.MARGIN_MKT_ADL, _capi.MARGIN_ADL_ON if value else _capi.MARGIN_ADL_OFF)

    @property
    def insurance_floor(self) -> Decimal:
        """The pool's floor (money, >= 0, default 0; ``MARGIN_MKT_INSURANCE_FLOOR``): with
        :attr:`adl`, the part of a deficit that would take the pool below it is
        deleveraged."""
        return from_fixed(self.get(_capi.MARGIN_MKT_INSURANCE_FLOOR), _MONEY)

    @insurance_floor.setter
    def insurance_floor(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_INSURANCE_FLOOR, to_fixed(value, _MONEY, "insurance_floor"))

    def insurance_deposit(self, amount: DecimalLike) -> None:
        """Put money into this market's pool (see :meth:`Engine.insurance_deposit`)."""
        self.engine.insurance_deposit(self, amount)

    def adl_quantiles(self) -> None:
        """Compute the ADL quantiles of the market's positions (see
        :meth:`Engine.adl_quantiles`)."""
        self.engine.adl_quantiles(self)

    @property
    def slice_threshold(self) -> Decimal:
        """``slices`` policy: the notional (money, at the mark) above which a liquidation
        takes one slice (default 100000)."""
        return from_fixed(self.get(_capi.MARGIN_MKT_SLICE_THRESHOLD), _MONEY)

    @slice_threshold.setter
    def slice_threshold(self, value: DecimalLike) -> None:
        self.set(_capi.MARGIN_MKT_SLICE_THRESHOLD, to_fixed(value, _MONEY, "slice_threshold"))

    @property
    def slice_cooldown(self) -> int:
        """``slices`` policy: for this long after a partial liquidation (engine time units,
        default 30000), a liquidation of the same account's position closes it in full."""
        return self.get(_capi.MARGIN_MKT_SLICE_COOLDOWN)

    @slice_cooldown.setter
    def slice_cooldown(self, value: int) -> None:
        self.set(_capi.MARGIN_MKT_SLICE_COOLDOWN, value)

    @property
    def mm_basis(self) -> MMBasis:
        """Maintenance-margin basis (:class:`~margin.MMBasis`)."""
        return MMBasis(self.get(_capi.MARGIN_MKT_MM_BASIS))

    @mm_basis.setter
    def mm_basis(self, value: Union[MMBasis, int, str]) -> None:
        if isinstance(value, str):
            try:
                value = MMBasis[value.upper()]
            except KeyError:
                raise InvalidArgument(_capi.MARGIN_EINVAL, f"mm_basis: {value!r} is not 'mark' or 'entry'") from None
        self.set(_capi.MARGIN_MKT_MM_BASIS, int(value))

    @property
    def mark(self) -> Optional[Decimal]:
        """Last mark price, or ``None`` before the first mark update."""
        v = self.get(_capi.MARGIN_MKT_MARK)
        return None if v == 0 else from_fixed(v, self.price_scale)

    @property
    def tier_count(self) -> int:
        """Number of maintenance tiers."""
        return self.get(_capi.MARGIN_MKT_TIER_COUNT)

    @property
    def open_positions(self) -> int:
        """Number of open positions in the market."""
        return self.get(_capi.MARGIN_MKT_OPEN_POSITIONS)

    # tiers
    def add_tier(
        self,
        floor: DecimalLike,
        mmr: DecimalLike,
        max_leverage: Optional[DecimalLike] = None,
        maint_amount: Optional[DecimalLike] = None,
    ) -> None:
        """Add a maintenance tier (``margin_market_add_tier()``).  The first call replaces
        the default tier.  ``max_leverage=None`` means the market's maximum;
        ``maint_amount=None`` derives it by the recurrence (``MARGIN_DERIVE``)."""
        lev = 0 if max_leverage is None else to_fixed(max_leverage, _RATE, "max_leverage")
        amt = (
            _capi.MARGIN_DERIVE
            if maint_amount is None
            else to_fixed(maint_amount, _MONEY, "maint_amount")
        )
        self.engine._call(
            "margin_market_add_tier",
            self.id,
            to_fixed(floor, _MONEY, "floor"),
            to_fixed(mmr, _RATE, "mmr"),
            lev,
            amt,
        )

    def tier(self, index: int) -> Tier:
        """Tier *index* (0-based)."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError("index: expected int")
        if not 0 <= index <= _capi.UINT32_MAX:
            raise InvalidArgument(_capi.MARGIN_EINVAL, f"index: {index} is out of range")
        outs = [ctypes.c_int64() for _ in range(4)]
        self.engine._query(
            "margin_market_tier", self.id, index, *(ctypes.byref(o) for o in outs)
        )
        return Tier(
            floor=from_fixed(outs[0].value, _MONEY),
            mmr=from_fixed(outs[1].value, _RATE),
            max_leverage=from_fixed(outs[2].value, _RATE),
            maint_amount=from_fixed(outs[3].value, _MONEY),
        )

    @property
    def tiers(self) -> List[Tier]:
        """All maintenance tiers, in order."""
        return [self.tier(i) for i in range(self.tier_count)]

    def tier_for(self, notional: DecimalLike) -> Tuple[Decimal, Decimal]:
        """``(mmr, maint_amount)`` of the tier whose range holds *notional* (money)."""
        mmr = ctypes.c_int64()
        amt = ctypes.c_int64()
        self.engine._query(
            "margin_market_tier_for",
            self.id,
            to_fixed(notional, _MONEY, "notional"),
            ctypes.byref(mmr),
            ctypes.byref(amt),
        )
        return from_fixed(mmr.value, _RATE), from_fixed(amt.value, _MONEY)

    def positions(self, status: StatusFilter = Status.OPEN) -> List["Position"]:
        """The market's positions with *status* (open by default; ``None`` for all), in id
        order (``margin_market_positions()``)."""
        ids = self.engine._list_ids("margin_market_positions", self.id, _status_filter(status))
        return [Position(self.engine, i) for i in ids]

    # marks
    def mark_update(self, mark: DecimalLike) -> None:
        """Apply a new mark price and act on every trigger it crosses (liquidations,
        stop-losses, take-profits, margin calls), producing events."""
        self.engine._call("margin_mark_update", self.id, self.to_price(mark))

    def mark_candle(
        self,
        open: DecimalLike,
        high: DecimalLike,
        low: DecimalLike,
        close: DecimalLike,
        path: Union[str, int] = "updown",
    ) -> None:
        """Apply one candle (``margin_mark_candle()``): the mark walks the path's four
        points, open, then low and high in the order a bar that closes up takes them
        (open, low, high, close), else open, high, low, close (``path="updown"``,
        ``MARGIN_PATH_UPDOWN``).  With ``path="adverse"`` (``MARGIN_PATH_ADVERSE``) each
        isolated position meets its adverse extreme first, whatever the bar's direction:
        a long walks open, low, high, close, a short open, high, low, close (its
        ``path_point`` 2 is the adverse extreme, 3 the favourable one); cross positions
        walk the up-down order, which alone moves the market's mark.  Every trigger fires
        at the first point that reaches it, and each event's ``path_point`` says which.
        The open is a jump from the last mark; from there the price moves continuously
        (stops fill at their price with :attr:`stop_fill` ``'trigger'``).  Atomic: on an
        error nothing changed; afterwards the mark is *close*."""
        if isinstance(path, str):
            paths = {"updown": _capi.MARGIN_PATH_UPDOWN, "adverse": _capi.MARGIN_PATH_ADVERSE}
            if path.lower() not in paths:
                raise InvalidArgument(
                    _capi.MARGIN_EINVAL, f"path: {path!r} is not 'updown' or 'adverse'")
            code = paths[path.lower()]
        else:
            code = to_i32(path, "path")
        self.engine._call(
            "margin_mark_candle", self.id, self.to_price(open), self.to_price(high),
            self.to_price(low), self.to_price(close), code)

    def funding(self, rate: DecimalLike, mark: DecimalLike) -> None:
        """Settle one funding interval at *rate* (a long pays when rate > 0) and *mark*,
        then evaluate triggers at *mark*."""
        self.engine._call(
            "margin_funding_apply", self.id, to_fixed(rate, _RATE, "rate"), self.to_price(mark)
        )


class Account(_Thing):
    """A wallet.  Its free balance pays the margins of its isolated positions and is the
    cross wallet that backs all its cross positions (:meth:`set_mode`)."""

    __slots__ = ()

    def get(self, key: int) -> int:
        """Raw ``margin_account_get()``."""
        return self.engine._get64("margin_account_get", self.id, to_i32(key, "key"))

    def _money(self, key: int) -> Decimal:
        return from_fixed(self.get(key), _MONEY)

    @property
    def free_balance(self) -> Decimal:
        """Free balance (the cross wallet; what can be withdrawn is :attr:`available`)."""
        return self._money(_capi.MARGIN_ACCT_FREE_BALANCE)

    @property
    def isolated_margin(self) -> Decimal:
        """Sum of the isolated margins of open positions."""
        return self._money(_capi.MARGIN_ACCT_ISOLATED_MARGIN)

    @property
    def equity(self) -> Decimal:
        """Free balance + isolated margins + unrealized PnL at each market's last mark."""
        return self._money(_capi.MARGIN_ACCT_EQUITY)

    @property
    def deposits(self) -> Decimal:
        """Total deposited."""
        return self._money(_capi.MARGIN_ACCT_DEPOSITS)

    @property
    def withdrawals(self) -> Decimal:
        """Total withdrawn."""
        return self._money(_capi.MARGIN_ACCT_WITHDRAWALS)

    @property
    def realized_pnl(self) -> Decimal:
        """Realized PnL of all positions (liquidation losses included)."""
        return self._money(_capi.MARGIN_ACCT_REALIZED_PNL)

    @property
    def fees(self) -> Decimal:
        """Fees paid."""
        return self._money(_capi.MARGIN_ACCT_FEES)

    @property
    def funding(self) -> Decimal:
        """Net funding received (negative: paid)."""
        return self._money(_capi.MARGIN_ACCT_FUNDING)

    @property
    def open_positions(self) -> int:
        """Number of open positions."""
        return self.get(_capi.MARGIN_ACCT_OPEN_POSITIONS)

    # cross margin
    def set_mode(self, market: MarketLike, mode: ModeLike) -> None:
        """Set the account's margin mode in *market* (``margin_account_set_mode()``):
        :attr:`Mode.ISOLATED <margin.Mode.ISOLATED>` (the default) or
        :attr:`Mode.CROSS <margin.Mode.CROSS>` (also ``"isolated"``, ``"cross"``).

        Raises:
            InvalidArgument: an unknown mode.
            NotFound: no such market.
            StateError: the account has an open position in *market*.
        """
        self.engine._call(
            "margin_account_set_mode", self.id, _market_id(market), parse_mode(mode)
        )

    def mode(self, market: MarketLike) -> Mode:
        """The account's margin mode in *market* (``margin_account_mode()``)."""
        out = ctypes.c_int32()
        self.engine._query("margin_account_mode", self.id, _market_id(market), ctypes.byref(out))
        return Mode(out.value)

    @property
    def cross_wallet(self) -> Decimal:
        """Cross wallet balance WB: the free balance, which backs every cross position (it
        can be below 0 while other cross positions' unrealized profit covers a loss)."""
        return self._money(_capi.MARGIN_ACCT_CROSS_WALLET)

    @property
    def cross_unrealized_pnl(self) -> Decimal:
        """Unrealized PnL of the cross positions at their markets' last marks (entry when a
        market has none), each rounded down."""
        return self._money(_capi.MARGIN_ACCT_CROSS_UNREALIZED_PNL)

    @property
    def cross_margin_balance(self) -> Decimal:
        """Cross margin balance: :attr:`cross_wallet` + :attr:`cross_unrealized_pnl`."""
        return self._money(_capi.MARGIN_ACCT_CROSS_MARGIN_BALANCE)

    @property
    def cross_maint_margin(self) -> Decimal:
        """Maintenance margin of the cross positions, each on its own notional and tier,
        each rounded up.  The account is liquidated when :attr:`cross_margin_balance`
        is at or below it."""
        return self._money(_capi.MARGIN_ACCT_CROSS_MAINT_MARGIN)

    @property
    def cross_initial_margin(self) -> Decimal:
        """Initial margin ``Q*E/L`` of the cross positions, each rounded up."""
        return self._money(_capi.MARGIN_ACCT_CROSS_INITIAL_MARGIN)

    @property
    def margin_ratio(self) -> Decimal:
        """Account margin ratio :attr:`cross_maint_margin` / :attr:`cross_margin_balance`,
        rounded up (1 = liquidation); 0 with no cross position; ``Decimal('Infinity')``
        when the cross margin balance is <= 0."""
        return ratio_from_fixed(self.get(_capi.MARGIN_ACCT_MARGIN_RATIO))

    @property
    def available(self) -> Decimal:
        """What can be withdrawn, moved into an isolated position or used by a new cross
        position: the free balance with no cross position, else
        ``max(0, min(WB + min(0, uPnL) - IM, WB + uPnL - MM - 1 unit))``."""
        return self._money(_capi.MARGIN_ACCT_AVAILABLE)

    @property
    def cross_positions(self) -> int:
        """Number of open cross positions."""
        return self.get(_capi.MARGIN_ACCT_CROSS_POSITIONS)

    def positions(self, status: StatusFilter = Status.OPEN) -> List["Position"]:
        """The account's positions with *status* (open by default; ``None`` for all), in id
        order (``margin_account_positions()``)."""
        ids = self.engine._list_ids("margin_account_positions", self.id, _status_filter(status))
        return [Position(self.engine, i) for i in ids]

    def deposit(self, amount: DecimalLike) -> None:
        """Credit the free balance (amount > 0)."""
        self.engine._call("margin_account_deposit", self.id, to_fixed(amount, _MONEY, "amount"))

    def withdraw(self, amount: DecimalLike) -> None:
        """Debit the free balance (0 < amount <= :attr:`available`)."""
        self.engine._call("margin_account_withdraw", self.id, to_fixed(amount, _MONEY, "amount"))

    def open_position(
        self,
        market: MarketLike,
        side: SideLike,
        qty: DecimalLike,
        price: DecimalLike,
        *,
        leverage: Optional[DecimalLike] = None,
        margin: Optional[DecimalLike] = None,
        maker: bool = False,
        cross: bool = False,
    ) -> "Position":
        """Open an isolated or a cross position (``margin_position_open()``).

        Args:
            market: The :class:`Market` (or its id).
            side: ``"long"``/``"short"`` (or :class:`~margin.Side`, 1/-1).
            qty: Size, on the market's step grid.
            price: Entry price, on the tick grid.
            leverage: Leverage such as ``20``; with no ``margin`` the margin is
                ``qty*price/leverage`` rounded up.  Required for a cross position.
            margin: Isolated margin; with no ``leverage`` the leverage is derived from it.
                Not for a cross position.
            maker: Charge the maker fee instead of the taker fee.
            cross: Open a cross position (``MARGIN_FLAG_CROSS``).  It must agree with the
                account's mode in the market (:meth:`set_mode`): ``cross=True`` in an
                isolated market, or ``cross=False`` in a cross market, raises
                :class:`~margin.StateError`, so the other mode is never taken by mistake.
                A cross position moves no margin out of the wallet (its ``margin`` is 0);
                the account's :attr:`available` balance after it, fee paid, must stay
                >= 0, else :class:`~margin.InsufficientFunds`.
        """
        m = market if isinstance(market, Market) else Market(self.engine, _market_id(market))
        if m.engine is not self.engine:
            raise InvalidArgument(_capi.MARGIN_EINVAL, "the market belongs to another engine")
        lev = 0 if leverage is None else to_fixed(leverage, _RATE, "leverage")
        mar = 0 if margin is None else to_fixed(margin, _MONEY, "margin")
        out = ctypes.c_uint64()
        self.engine._call(
            "margin_position_open",
            self.id,
            m.id,
            parse_side(side),
            m.to_qty(qty),
            m.to_price(price),
            lev,
            mar,
            _flags(maker, cross),
            ctypes.byref(out),
        )
        return Position(self.engine, out.value)


class Position(_Thing):
    """A position, isolated or cross (:attr:`mode`).  Figures "at a mark" take an optional
    ``mark``: ``None`` means the market's last mark (the entry price if the market has
    none).  For a cross position the figures that depend on the margin are the account's
    (``margin_position_at()``): :meth:`margin_balance` is the cross margin balance,
    :meth:`margin_ratio` the account ratio, :meth:`liquidation_price` the cross
    liquidation price at the other markets' last marks."""

    __slots__ = ()

    def get(self, key: int) -> int:
        """Raw ``margin_position_get()``."""
        return self.engine._get64("margin_position_get", self.id, to_i32(key, "key"))

    def at(self, key: int, mark: Optional[DecimalLike] = None) -> int:
        """Raw ``margin_position_at()`` (the mark converted at the market's price scale)."""
        m = 0 if mark is None else self.market.to_price(mark)
        return self.engine._get64("margin_position_at", self.id, to_i32(key, "key"), m)

    # identity
    @property
    def account(self) -> Account:
        """The owning account."""
        return Account(self.engine, self.get(_capi.MARGIN_POS_ACCOUNT))

    @property
    def market(self) -> Market:
        """The market."""
        return Market(self.engine, self.get(_capi.MARGIN_POS_MARKET))

    def _scales(self) -> Tuple[int, int]:
        m = self.market
        return m.price_scale, m.qty_scale

    def _price(self, v: int) -> Decimal:
        return from_fixed(v, self._scales()[0])

    def _opt_price(self, v: int) -> Optional[Decimal]:
        # 0: none (a long that cannot reach it); INT64_MAX: none (an inverse short whose
        # margin covers its value N/E)
        return None if v in (0, _capi.INT64_MAX) else self._price(v)

    # stored figures
    @property
    def side(self) -> Side:
        """:class:`~margin.Side` of the position."""
        return Side(self.get(_capi.MARGIN_POS_SIDE))

    @property
    def qty(self) -> Decimal:
        """Size (0 once closed); contracts on an inverse market."""
        return from_fixed(self.get(_capi.MARGIN_POS_QTY), self._scales()[1])

    @property
    def entry_price(self) -> Decimal:
        """Average entry price."""
        return self._price(self.get(_capi.MARGIN_POS_ENTRY_PRICE))

    @property
    def margin(self) -> Decimal:
        """Isolated margin (0 once closed, and always 0 for a cross position)."""
        return from_fixed(self.get(_capi.MARGIN_POS_MARGIN), _MONEY)

    @property
    def mode(self) -> Mode:
        """:class:`~margin.Mode`: isolated or cross (``MARGIN_POS_MODE``)."""
        return Mode(self.get(_capi.MARGIN_POS_MODE))

    @property
    def leverage(self) -> Decimal:
        """Leverage."""
        return from_fixed(self.get(_capi.MARGIN_POS_LEVERAGE), _RATE)

    @property
    def status(self) -> Status:
        """:class:`~margin.Status`: open, closed, liquidated or deleveraged."""
        return Status(self.get(_capi.MARGIN_POS_STATUS))

    @property
    def is_open(self) -> bool:
        """True while the position is open."""
        return self.status == Status.OPEN

    @property
    def realized_pnl(self) -> Decimal:
        """Realized PnL so far."""
        return from_fixed(self.get(_capi.MARGIN_POS_REALIZED_PNL), _MONEY)

    @property
    def fees(self) -> Decimal:
        """Fees paid so far."""
        return from_fixed(self.get(_capi.MARGIN_POS_FEES), _MONEY)

    @property
    def funding(self) -> Decimal:
        """Net funding so far (negative: paid)."""
        return from_fixed(self.get(_capi.MARGIN_POS_FUNDING), _MONEY)

    @property
    def stop_loss(self) -> Optional[Decimal]:
        """Stop-loss trigger price, or ``None``."""
        return self._opt_price(self.get(_capi.MARGIN_POS_STOP_LOSS))

    @property
    def take_profit(self) -> Optional[Decimal]:
        """Take-profit trigger price, or ``None``."""
        return self._opt_price(self.get(_capi.MARGIN_POS_TAKE_PROFIT))

    @property
    def liq_price(self) -> Optional[Decimal]:
        """Liquidation price in force (the trigger), or ``None``."""
        return self._opt_price(self.get(_capi.MARGIN_POS_LIQ_PRICE))

    @property
    def adl_score(self) -> Decimal:
        """The raw auto-deleveraging score at the market's last mark, by the market's
        :attr:`Market.adl_ranking`, rounded down to the rate scale (``MARGIN_POS_ADL_SCORE``;
        higher is deleveraged first; 0 once closed)."""
        return from_fixed(self.get(_capi.MARGIN_POS_ADL_SCORE), _RATE)

    @property
    def adl_quantile(self) -> int:
        """The ADL quantile, 0 to 4 (4: the first deleveraged; the venues' five lights), as
        the market's last :meth:`Market.adl_quantiles` set it (``MARGIN_POS_ADL_QUANTILE``;
        0 before any, and once closed)."""
        return self.get(_capi.MARGIN_POS_ADL_QUANTILE)

    # figures at a mark
    def _at_money(self, key: int, mark: Optional[DecimalLike]) -> Decimal:
        return from_fixed(self.at(key, mark), _MONEY)

    def notional(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Position value ``Q*P`` (inverse: ``N/P`` in the coin), rounded up."""
        return self._at_money(_capi.MARGIN_AT_NOTIONAL, mark)

    def unrealized_pnl(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """``s*Q*(P-E)`` (inverse: ``s*N*(1/E - 1/P)`` in the coin), rounded down."""
        return self._at_money(_capi.MARGIN_AT_UNREALIZED_PNL, mark)

    def margin_balance(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """``M + uPnL``, rounded down."""
        return self._at_money(_capi.MARGIN_AT_MARGIN_BALANCE, mark)

    def maint_margin(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Maintenance margin, rounded up."""
        return self._at_money(_capi.MARGIN_AT_MAINT_MARGIN, mark)

    def maint_rate(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Maintenance rate of the tier in force."""
        return from_fixed(self.at(_capi.MARGIN_AT_MAINT_RATE, mark), _RATE)

    def maint_amount(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Maintenance amount of the tier in force."""
        return self._at_money(_capi.MARGIN_AT_MAINT_AMOUNT, mark)

    def margin_ratio(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Maintenance margin / margin balance, rounded up; ``Decimal('Infinity')`` when
        the balance is <= 0."""
        return ratio_from_fixed(self.at(_capi.MARGIN_AT_MARGIN_RATIO, mark))

    # Figures that do not depend on the mark take no mark.
    def liquidation_price(self) -> Optional[Decimal]:
        """Liquidation price (long rounded up, short down), or ``None`` for a long that
        cannot be liquidated (or an inverse short whose margin covers its value ``N/E``).
        Independent of the mark."""
        return self._opt_price(self.at(_capi.MARGIN_AT_LIQ_PRICE))

    def bankruptcy_price(self) -> Optional[Decimal]:
        """``E - s*M/Q`` (inverse: ``N/(N/E + s*M)``; long rounded up, short down), or
        ``None`` for a long when <= 0 (or an inverse short whose margin covers its value
        ``N/E``: it cannot go bankrupt).  Independent of the mark."""
        return self._opt_price(self.at(_capi.MARGIN_AT_BANKRUPTCY_PRICE))

    def initial_margin(self) -> Decimal:
        """``Q*E/L`` (inverse: ``N/(E*L)``), rounded up.  Independent of the mark."""
        return self._at_money(_capi.MARGIN_AT_INITIAL_MARGIN, None)

    def roe(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """Unrealized PnL / initial margin (a rate), rounded down."""
        return from_fixed(self.at(_capi.MARGIN_AT_ROE, mark), _RATE)

    def removable_margin(self, mark: Optional[DecimalLike] = None) -> Decimal:
        """``max(0, min(M - MM, M + uPnL - Q*P/L))``, rounded down."""
        return self._at_money(_capi.MARGIN_AT_REMOVABLE_MARGIN, mark)

    def margin_call_price(self) -> Optional[Decimal]:
        """The price at which the lowest margin-call level is crossed (long rounded up,
        short down), or ``None`` when no levels are set or a long cannot reach it.
        Independent of the mark."""
        return self._opt_price(self.at(_capi.MARGIN_AT_MARGIN_CALL_PRICE))

    # actions
    def trade(self, side: SideLike, qty: DecimalLike, price: DecimalLike, *, maker: bool = False) -> None:
        """Buy (``"long"``/``"buy"``) or sell (``"short"``/``"sell"``) *qty* at *price*:
        increase, reduce, close or flip the position."""
        m = self.market
        self.engine._call(
            "margin_position_trade",
            self.id,
            parse_side(side),
            m.to_qty(qty),
            m.to_price(price),
            _flags(maker),
        )

    def buy(self, qty: DecimalLike, price: DecimalLike, *, maker: bool = False) -> None:
        """``trade("buy", qty, price)``."""
        self.trade(Side.LONG, qty, price, maker=maker)

    def sell(self, qty: DecimalLike, price: DecimalLike, *, maker: bool = False) -> None:
        """``trade("sell", qty, price)``."""
        self.trade(Side.SHORT, qty, price, maker=maker)

    def close(self, price: DecimalLike, *, maker: bool = False) -> None:
        """Close the whole position at *price*."""
        self.engine._call(
            "margin_position_close", self.id, self.market.to_price(price), _flags(maker)
        )

    def add_margin(self, amount: DecimalLike) -> None:
        """Move *amount* from the free balance into the position's margin."""
        self.engine._call(
            "margin_position_add_margin", self.id, to_fixed(amount, _MONEY, "amount")
        )

    def remove_margin(self, amount: DecimalLike) -> None:
        """Move *amount* (at most :meth:`removable_margin`) back to the free balance."""
        self.engine._call(
            "margin_position_remove_margin", self.id, to_fixed(amount, _MONEY, "amount")
        )

    def set_leverage(self, leverage: DecimalLike) -> None:
        """Change the leverage and re-margin the position."""
        self.engine._call(
            "margin_position_set_leverage", self.id, to_fixed(leverage, _RATE, "leverage")
        )

    def set_stops(
        self,
        stop_loss: Optional[DecimalLike] = None,
        take_profit: Optional[DecimalLike] = None,
    ) -> None:
        """Set both trigger prices; ``None`` clears one."""
        m = self.market
        sl = 0 if stop_loss is None else m.to_price(stop_loss)
        tp = 0 if take_profit is None else m.to_price(take_profit)
        self.engine._call("margin_position_set_stops", self.id, sl, tp)
