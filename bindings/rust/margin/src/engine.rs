//! [`Engine`]: the owning handle and every operation of the C API.

use std::any::Any;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use crate::decimal::{Decimal, IntoDecimal, MONEY_SCALE, RATE_SCALE};
use crate::error::{strerror, Error, ErrorKind, Result};
use crate::event::{read_current, Event, EventKind, Events};
use crate::types::*;
use margin_sys as sys;

mod allocator;
mod snapshot;

pub use allocator::Allocator;

type Callback = Box<dyn FnMut(&Event) + Send + 'static>;

/// What the C side's `user` pointer points to while a callback is installed.
struct CallbackState {
    f: Callback,
    /// A panic of the callback, caught at the FFI boundary and resumed once the engine
    /// call that produced the event has returned.
    panic: Option<Box<dyn Any + Send + 'static>>,
}

// A safe `extern "C" fn` (coerced to the C type's `unsafe extern "C" fn`): its one unsafe
// operation sits in an explicit block, which rustc 1.63 would call an unused `unsafe`
// inside an `unsafe fn` (issue 10).
extern "C" fn trampoline(user: *mut sys::c_void, e: *const sys::margin_engine, ty: i32) {
    // SAFETY: `user` is the CallbackState installed with this trampoline; it lives until
    // the callback is replaced or the engine freed, and the engine calls back only from
    // inside a call made through `&mut Engine`, so nothing else touches it now.
    let st = unsafe { &mut *(user as *mut CallbackState) };
    if st.panic.is_some() {
        return;
    }
    let kind = match EventKind::from_raw(ty) {
        Some(k) => k,
        None => return,
    };
    let event = match read_current(e, kind) {
        Ok(ev) => ev,
        Err(_) => return,
    };
    let f = &mut st.f;
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&event))) {
        st.panic = Some(p);
    }
}

/// The engine: owns every market, account, position and event, and frees them on drop.
///
/// Amounts go in as anything [`IntoDecimal`] (a [`Decimal`], an integer or a decimal
/// string) and come out as [`Decimal`]; the binding converts them exactly to the C API's
/// fixed-point integers (money, rates and leverage at scale 8, prices and quantities at
/// the market's scales) and fails with [`ErrorKind::Range`] rather than round a value
/// that has more decimals than its scale holds.
///
/// `Engine` is [`Send`] but not [`Sync`]: one engine is used by one thread at a time and
/// may move between threads, as the C library requires.
///
/// ```
/// fn assert_send<T: Send>() {}
/// assert_send::<margin::Engine>();
/// ```
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<margin::Engine>(); // error: Engine is not Sync
/// ```
///
/// # Example: the seed scenario
/// 100 USDT at 20x on a 0.1 BTC long at 20000 (a 2,000 USDT position); the mark falls to
/// a margin call, then through the liquidation price.
/// ```
/// use margin::{Decimal, Engine, EventKind, Side};
///
/// # fn main() -> Result<(), margin::Error> {
/// let mut engine = Engine::new()?;
/// let btc = engine.market_new("BTCUSDT")?; // one tier: mmr 0.4 %, up to 125x
/// let alice = engine.account_new()?;
/// engine.deposit(alice, "1000")?;
///
/// let pos = engine.open(alice, btc, Side::Long, "0.1", "20000", "20")?;
/// assert_eq!(engine.position(pos)?.margin, Decimal::from(100)); // 2000 / 20
/// // BP = E - M/Q = 20000 - 100/0.1: a 5 % drop erases the margin.
/// assert_eq!(engine.bankruptcy_price(pos)?, Some(Decimal::from(19000)));
/// // LP = (M - Q*E) / (Q*mmr - Q) = -1900 / -0.0996 = 19076.305220883..., rounded up.
/// assert_eq!(engine.liquidation_price(pos)?, Some("19076.30522089".parse()?));
///
/// // At 19090: MM = 0.1*19090*0.004 = 7.636, balance = 100 - 91 = 9, ratio 84.8 % >= 80 %.
/// engine.mark_update(btc, "19090")?;
/// let call = engine.events().find(|e| e.kind == EventKind::MarginCall).unwrap();
/// assert_eq!(call.level, "0.8".parse()?);
///
/// // At 19050 (<= LP): liquidated; the holder loses exactly M, the insurance fund gets
/// // Q*(mark - E) + M = -95 + 100 = 5.
/// engine.mark_update(btc, "19050")?;
/// let liq = engine.events().find(|e| e.kind == EventKind::Liquidation).unwrap();
/// assert_eq!(liq.realized_pnl, Decimal::from(-100));
/// assert_eq!(liq.insurance_delta, Decimal::from(5));
/// // 1000 - 100 margin - 0.8 opening fee (0.04 % of 2000): untouched by the liquidation.
/// assert_eq!(engine.account(alice)?.free_balance, "899.2".parse()?);
/// # Ok(())
/// # }
/// ```
pub struct Engine {
    raw: NonNull<sys::margin_engine>,
    callback: *mut CallbackState,
    /// The caller's allocator ([`Engine::with_allocator`]), dropped after the engine
    /// (fields drop after `Drop::drop` has freed it).
    _allocator: Option<Box<dyn Send>>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the C library allows an engine to move between threads (it has no thread
// affinity and no global state); what it forbids, concurrent use, is prevented by the
// missing `Sync` (PhantomData<Cell<()>>) and by `&mut self` on every mutating call. The
// callback state is `Send` (the closure must be).
unsafe impl Send for Engine {}

fn conv(value: impl IntoDecimal, scale: u32, what: &str) -> Result<i64> {
    value
        .into_decimal()
        .and_then(|d| d.to_scale(scale))
        .map_err(|e| Error::new(e.kind(), format!("{what}: {}", e.message())))
}

fn dec(v: i64, scale: u32) -> Result<Decimal> {
    Decimal::new(v, scale)
}

/// A price that reads 0 when there is none (a long that cannot reach it) or `i64::MAX`
/// (an inverse short whose margin covers its value N/E): `None` for both.
fn nonzero(v: i64, scale: u32) -> Result<Option<Decimal>> {
    if v == 0 || v == i64::MAX {
        Ok(None)
    } else {
        Decimal::new(v, scale).map(Some)
    }
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            ErrorKind::Invalid,
            format!("{what} {s:?} contains a NUL byte"),
        )
    })
}

impl Engine {
    /// Creates an engine with no markets, accounts or positions.
    pub fn new() -> Result<Engine> {
        let mut p: *mut sys::margin_engine = ptr::null_mut();
        // SAFETY: valid out-pointer.
        let rc = unsafe { sys::margin_engine_new(&mut p) };
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::from_code(rc),
                "margin_engine_new failed",
            ));
        }
        let raw = NonNull::new(p)
            .ok_or_else(|| Error::new(ErrorKind::NoMemory, "margin_engine_new returned NULL"))?;
        Ok(Engine::from_raw(raw, None))
    }

    /// Takes ownership of a new handle (and of the allocator it was made with).
    fn from_raw(raw: NonNull<sys::margin_engine>, allocator: Option<Box<dyn Send>>) -> Engine {
        Engine {
            raw,
            callback: ptr::null_mut(),
            _allocator: allocator,
            _not_sync: PhantomData,
        }
    }

    /// The raw handle, for calling `margin_sys` directly. It stays owned by `self`.
    pub fn as_ptr(&self) -> *const sys::margin_engine {
        self.raw.as_ptr()
    }

    /// The raw handle, mutable, for calling `margin_sys` directly. Do not free it.
    pub fn as_mut_ptr(&mut self) -> *mut sys::margin_engine {
        self.raw.as_ptr()
    }

    fn p(&self) -> *const sys::margin_engine {
        self.raw.as_ptr()
    }

    fn pm(&mut self) -> *mut sys::margin_engine {
        self.raw.as_ptr()
    }

    /// The engine's message for its last failure (`margin_errmsg`).
    fn errmsg(&self) -> String {
        // SAFETY: live engine; the string is valid until the next call, copied at once.
        let p = unsafe { sys::margin_errmsg(self.p()) };
        if p.is_null() {
            return String::new();
        }
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The code and message of the engine's last failed call (`margin_errcode` and
    /// `margin_errmsg`), or `None` if no call has failed.
    pub fn last_error(&self) -> Option<Error> {
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_errcode(self.p()) };
        if rc == 0 {
            None
        } else {
            Some(Error::new(ErrorKind::from_code(rc), self.errmsg()))
        }
    }

    /// After a call that changes the engine: resume a callback panic, then turn the
    /// status into a Result carrying the engine's message.
    fn check(&mut self, rc: sys::c_int) -> Result<()> {
        if !self.callback.is_null() {
            // SAFETY: the state is ours and the C call has returned.
            if let Some(p) = unsafe { (*self.callback).panic.take() } {
                resume_unwind(p);
            }
        }
        if rc == 0 {
            Ok(())
        } else {
            let msg = self.errmsg();
            Err(Error::new(ErrorKind::from_code(rc), msg))
        }
    }

    /// After a query (a `const` engine call): the library records those failures too, so
    /// the message is the engine's; should it not have recorded this one, the message is
    /// `what` and the status text.
    fn check_query(&self, rc: sys::c_int, what: impl FnOnce() -> String) -> Result<()> {
        if rc == 0 {
            return Ok(());
        }
        // SAFETY: live engine.
        let recorded = unsafe { sys::margin_errcode(self.p()) } == rc;
        let msg = if recorded {
            self.errmsg()
        } else {
            String::new()
        };
        let msg = if msg.is_empty() {
            format!("{}: {}", what(), strerror(rc))
        } else {
            msg
        };
        Err(Error::new(ErrorKind::from_code(rc), msg))
    }

    // ------------------------------------------------------------------ engine options

    fn engine_get(&self, key: i32) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_engine_get(self.p(), key, &mut v) };
        self.check_query(rc, || format!("engine key {key}"))?;
        Ok(v)
    }

    fn engine_set(&mut self, key: i32, value: i64) -> Result<()> {
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_engine_set(self.pm(), key, value) };
        self.check(rc)
    }

    /// Sets the time stamped on every later event (any unit, e.g. ms since the epoch).
    pub fn set_time(&mut self, time: i64) -> Result<()> {
        self.engine_set(sys::MARGIN_ENG_TIME, time)
    }

    /// The time stamped on events.
    pub fn time(&self) -> Result<i64> {
        self.engine_get(sys::MARGIN_ENG_TIME)
    }

    /// `true`: mark updates scan every position (the reference path); `false` (default):
    /// trigger indexes.
    pub fn set_full_scan(&mut self, on: bool) -> Result<()> {
        self.engine_set(sys::MARGIN_ENG_FULL_SCAN, on as i64)
    }

    /// `true` (default): events are queued for [`Engine::events`]; `false`: not queued (a
    /// callback still sees them).
    pub fn set_event_queue(&mut self, on: bool) -> Result<()> {
        self.engine_set(sys::MARGIN_ENG_EVENT_QUEUE, on as i64)
    }

    /// Caps the number of queued events (`MARGIN_ENG_EVENT_CAP`; `None` or `Some(0)`: no
    /// cap, the default). A call that would queue events past the cap fails with
    /// [`ErrorKind::Full`] and changes nothing: no event is ever dropped, and a mark
    /// update or funding round is refused whole. Drain the queue ([`Engine::events`])
    /// and call again. A cap below the number already queued only stops new events.
    ///
    /// ```
    /// use margin::{Engine, ErrorKind};
    /// let mut engine = Engine::new().unwrap();
    /// engine.set_event_cap(Some(1)).unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "10").unwrap();
    /// let err = engine.deposit(a, "5").unwrap_err(); // a second event would not fit
    /// assert_eq!(err.kind(), ErrorKind::Full);
    /// // Nothing changed:
    /// assert_eq!(engine.account(a).unwrap().free_balance, margin::Decimal::from(10));
    /// assert_eq!(engine.events().count(), 1);
    /// engine.deposit(a, "5").unwrap(); // room again
    /// ```
    pub fn set_event_cap(&mut self, cap: Option<u64>) -> Result<()> {
        let v = match cap {
            None => 0,
            Some(c) => i64::try_from(c).map_err(|_| {
                Error::new(
                    ErrorKind::Invalid,
                    format!("event cap {c} does not fit in i64"),
                )
            })?,
        };
        self.engine_set(sys::MARGIN_ENG_EVENT_CAP, v)
    }

    /// The cap on queued events ([`Engine::set_event_cap`]); `None`: no cap.
    pub fn event_cap(&self) -> Result<Option<u64>> {
        match self.engine_get(sys::MARGIN_ENG_EVENT_CAP)? {
            0 => Ok(None),
            v => count(v, "event cap").map(Some),
        }
    }

    /// Sets how many of the most recently closed (or liquidated) positions stay readable
    /// (`MARGIN_ENG_RETAIN_CLOSED`, default 1048576). Older closed positions are retired
    /// a block of ids at a time: their memory is freed and their ids answer
    /// [`ErrorKind::NotFound`]; ids are never reused.
    pub fn set_retain_closed(&mut self, n: u64) -> Result<()> {
        let v = i64::try_from(n).map_err(|_| {
            Error::new(
                ErrorKind::Invalid,
                format!("retain_closed {n} does not fit in i64"),
            )
        })?;
        self.engine_set(sys::MARGIN_ENG_RETAIN_CLOSED, v)
    }

    /// How many closed positions stay readable ([`Engine::set_retain_closed`]).
    pub fn retain_closed(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_RETAIN_CLOSED)?,
            "retain_closed",
        )
    }

    /// Sets how a cross account is liquidated when its cross margin balance falls to its
    /// cross maintenance margin (`MARGIN_ENG_CROSS_LIQUIDATION`); it applies from the
    /// next evaluation.
    ///
    /// ```
    /// use margin::{CrossLiquidationPolicy, Engine, ErrorKind};
    /// let mut engine = Engine::new().unwrap();
    /// assert_eq!(engine.cross_liquidation().unwrap(), CrossLiquidationPolicy::All);
    /// engine.set_cross_liquidation(CrossLiquidationPolicy::WorstFirst).unwrap();
    /// assert_eq!(engine.cross_liquidation().unwrap(), CrossLiquidationPolicy::WorstFirst);
    /// let err = engine.set_cross_liquidation(CrossLiquidationPolicy::Other(7)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Invalid);
    /// ```
    pub fn set_cross_liquidation(&mut self, policy: CrossLiquidationPolicy) -> Result<()> {
        self.engine_set(sys::MARGIN_ENG_CROSS_LIQUIDATION, policy.raw())
    }

    /// How a cross account is liquidated ([`Engine::set_cross_liquidation`]).
    pub fn cross_liquidation(&self) -> Result<CrossLiquidationPolicy> {
        self.engine_get(sys::MARGIN_ENG_CROSS_LIQUIDATION)
            .map(CrossLiquidationPolicy::from_raw)
    }

    /// Number of cross-account evaluations so far (`MARGIN_ENG_CROSS_EVALUATIONS`): a mark
    /// update evaluates a cross account when the mark leaves the account's price band in
    /// that market, a funding round every cross account holding the market.
    pub fn cross_evaluations(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_CROSS_EVALUATIONS)?,
            "cross evaluations",
        )
    }

    /// The insurance-fund ledger balance, money: the sum of the pools.
    pub fn insurance_fund(&self) -> Result<Decimal> {
        dec(
            self.engine_get(sys::MARGIN_ENG_INSURANCE_FUND)?,
            MONEY_SCALE,
        )
    }

    /// Money put into the insurance pools with [`Engine::insurance_deposit`] so far
    /// (`MARGIN_ENG_INSURANCE_DEPOSITS`).
    pub fn insurance_deposits(&self) -> Result<Decimal> {
        dec(
            self.engine_get(sys::MARGIN_ENG_INSURANCE_DEPOSITS)?,
            MONEY_SCALE,
        )
    }

    /// Puts money (> 0, from outside the accounts) into the insurance pool market `m`
    /// uses (`margin_insurance_deposit`); an [`EventKind::InsuranceDeposit`] event.
    ///
    /// [`EventKind::InsuranceDeposit`]: crate::EventKind::InsuranceDeposit
    pub fn insurance_deposit(&mut self, m: MarketId, amount: impl IntoDecimal) -> Result<()> {
        let v = conv(amount, MONEY_SCALE, "insurance deposit")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_insurance_deposit(self.pm(), m.get(), v) };
        self.check(rc)
    }

    /// Computes the ADL quantile (0 to 4) of every open position of market `m` at once
    /// (`margin_market_adl_quantiles`); each keeps it in [`PositionInfo::adl_quantile`]
    /// until the next call.
    pub fn adl_quantiles(&mut self, m: MarketId) -> Result<()> {
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_market_adl_quantiles(self.pm(), m.get()) };
        self.check(rc)
    }

    /// Number of open positions in the engine.
    pub fn open_positions(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_OPEN_POSITIONS)?,
            "open positions",
        )
    }

    /// Number of events waiting in the queue.
    pub fn events_pending(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_EVENTS_PENDING)?,
            "pending events",
        )
    }

    /// Sequence number of the last event produced (0 if none).
    pub fn last_seq(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_LAST_SEQ)?,
            "last sequence number",
        )
    }

    /// Number of positions liquidated so far.
    pub fn liquidations(&self) -> Result<u64> {
        count(
            self.engine_get(sys::MARGIN_ENG_LIQUIDATIONS)?,
            "liquidations",
        )
    }

    /// Sets the margin-call levels (ratios strictly between 0 and 1, at most 8; none
    /// disables margin calls). The default is one level, 0.8.
    ///
    /// ```
    /// # let mut engine = margin::Engine::new().unwrap();
    /// engine.set_margin_call_levels(["0.5", "0.8", "0.9"]).unwrap();
    /// assert!(engine.set_margin_call_levels(["1.5"]).is_err());
    /// ```
    pub fn set_margin_call_levels<I, D>(&mut self, levels: I) -> Result<()>
    where
        I: IntoIterator<Item = D>,
        D: IntoDecimal,
    {
        let v = levels
            .into_iter()
            .map(|l| conv(l, RATE_SCALE, "margin-call level"))
            .collect::<Result<Vec<i64>>>()?;
        let ptr = if v.is_empty() {
            ptr::null()
        } else {
            v.as_ptr()
        };
        // SAFETY: live engine; ptr/len describe v (or NULL with 0), copied by the callee.
        let rc = unsafe { sys::margin_engine_set_margin_call_levels(self.pm(), ptr, v.len()) };
        self.check(rc)
    }

    /// The margin-call levels in force, lowest first (by default one level, 0.8).
    ///
    /// ```
    /// use margin::{Decimal, Engine};
    /// let mut engine = Engine::new().unwrap();
    /// assert_eq!(engine.margin_call_levels().unwrap(), vec!["0.8".parse::<Decimal>().unwrap()]);
    /// engine.set_margin_call_levels(["0.9", "0.8"]).unwrap();
    /// assert_eq!(engine.margin_call_levels().unwrap().len(), 2);
    /// ```
    pub fn margin_call_levels(&self) -> Result<Vec<Decimal>> {
        let mut buf = [0i64; 8];
        let mut n = 0usize;
        // SAFETY: live engine; buf holds 8 entries, which always suffice; valid out-pointer.
        let rc = unsafe {
            sys::margin_engine_margin_call_levels(self.p(), buf.as_mut_ptr(), buf.len(), &mut n)
        };
        self.check_query(rc, || "margin-call levels".to_string())?;
        buf[..n].iter().map(|&v| dec(v, RATE_SCALE)).collect()
    }

    // ------------------------------------------------------------------ markets

    /// Creates a market with default options (price and quantity scale 8, tick and step 1
    /// unit, 125x, maker 0.02 %, taker 0.04 %) and one tier (floor 0, mmr 0.4 %).
    pub fn market_new(&mut self, symbol: &str) -> Result<MarketId> {
        let s = cstring(symbol, "symbol")?;
        let mut id = 0u64;
        // SAFETY: live engine, NUL-terminated string (copied), valid out-pointer.
        let rc = unsafe { sys::margin_market_new(self.pm(), s.as_ptr(), &mut id) };
        self.check(rc)?;
        Ok(MarketId::from_raw(id))
    }

    /// Creates a market and applies `options` in order.
    ///
    /// ```
    /// use margin::{Engine, MarketOption};
    /// let mut engine = Engine::new().unwrap();
    /// let eth = engine
    ///     .market_with("ETHUSDT", &[
    ///         MarketOption::PriceScale(2),
    ///         MarketOption::QtyScale(3),
    ///         MarketOption::Tick("0.01".parse().unwrap()),
    ///         MarketOption::MaxLeverage("100".parse().unwrap()),
    ///     ])
    ///     .unwrap();
    /// let info = engine.market(eth).unwrap();
    /// assert_eq!((info.price_scale, info.qty_scale), (2, 3));
    /// assert_eq!(info.max_leverage, "100".parse().unwrap());
    /// ```
    pub fn market_with(&mut self, symbol: &str, options: &[MarketOption]) -> Result<MarketId> {
        let m = self.market_new(symbol)?;
        for o in options {
            self.set_market_option(m, *o)?;
        }
        Ok(m)
    }

    /// Finds a market by symbol.
    pub fn market_find(&self, symbol: &str) -> Result<MarketId> {
        let s = cstring(symbol, "symbol")?;
        let mut id = 0u64;
        // SAFETY: live engine, NUL-terminated string, valid out-pointer.
        let rc = unsafe { sys::margin_market_find(self.p(), s.as_ptr(), &mut id) };
        self.check_query(rc, || format!("market {symbol:?}"))?;
        Ok(MarketId::from_raw(id))
    }

    fn market_get(&self, m: MarketId, key: i32) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_market_get(self.p(), m.get(), key, &mut v) };
        self.check_query(rc, || format!("{m}"))?;
        Ok(v)
    }

    /// The price and quantity scales of a market.
    fn scales(&self, m: MarketId) -> Result<(u32, u32)> {
        let ps = self.market_get(m, sys::MARGIN_MKT_PRICE_SCALE)?;
        let qs = self.market_get(m, sys::MARGIN_MKT_QTY_SCALE)?;
        Ok((ps as u32, qs as u32))
    }

    /// Sets one market option.
    pub fn set_market_option(&mut self, m: MarketId, option: MarketOption) -> Result<()> {
        let (key, value) = match option {
            MarketOption::PriceScale(s) => (sys::MARGIN_MKT_PRICE_SCALE, s as i64),
            MarketOption::QtyScale(s) => (sys::MARGIN_MKT_QTY_SCALE, s as i64),
            MarketOption::Tick(d) => (sys::MARGIN_MKT_TICK, conv(d, self.scales(m)?.0, "tick")?),
            MarketOption::Step(d) => (sys::MARGIN_MKT_STEP, conv(d, self.scales(m)?.1, "step")?),
            MarketOption::MaxLeverage(d) => (
                sys::MARGIN_MKT_MAX_LEVERAGE,
                conv(d, RATE_SCALE, "max leverage")?,
            ),
            MarketOption::MakerFee(d) => {
                (sys::MARGIN_MKT_MAKER_FEE, conv(d, RATE_SCALE, "maker fee")?)
            }
            MarketOption::TakerFee(d) => {
                (sys::MARGIN_MKT_TAKER_FEE, conv(d, RATE_SCALE, "taker fee")?)
            }
            MarketOption::MmBasis(b) => (sys::MARGIN_MKT_MM_BASIS, b.raw()),
            MarketOption::CloseFee(d) => {
                (sys::MARGIN_MKT_CLOSE_FEE, conv(d, RATE_SCALE, "close fee")?)
            }
            MarketOption::MaxPrice(d) => (
                sys::MARGIN_MKT_MAX_PRICE,
                conv(d, self.scales(m)?.0, "max price")?,
            ),
            MarketOption::LiqFee(d) => (sys::MARGIN_MKT_LIQ_FEE, conv(d, RATE_SCALE, "liquidation fee")?),
            MarketOption::LiqFeeBasis(b) => (sys::MARGIN_MKT_LIQ_FEE_BASIS, b.raw()),
            MarketOption::LiqFill(f) => (sys::MARGIN_MKT_LIQ_FILL, f.raw()),
            MarketOption::StopFill(f) => (sys::MARGIN_MKT_STOP_FILL, f.raw()),
            MarketOption::LiqPolicy(p) => (sys::MARGIN_MKT_LIQ_POLICY, p.raw()),
            MarketOption::SliceThreshold(d) => (
                sys::MARGIN_MKT_SLICE_THRESHOLD,
                conv(d, MONEY_SCALE, "slice threshold")?,
            ),
            MarketOption::SliceFraction(d) => (
                sys::MARGIN_MKT_SLICE_FRACTION,
                conv(d, RATE_SCALE, "slice fraction")?,
            ),
            MarketOption::SliceCooldown(t) => (sys::MARGIN_MKT_SLICE_COOLDOWN, t),
            MarketOption::SliceBackstop(d) => (
                sys::MARGIN_MKT_SLICE_BACKSTOP,
                conv(d, RATE_SCALE, "slice backstop")?,
            ),
            MarketOption::InsurancePool(p) => (sys::MARGIN_MKT_INSURANCE_POOL, p.get() as i64),
            MarketOption::Adl(on) => {
                let v = if on { sys::MARGIN_ADL_ON } else { sys::MARGIN_ADL_OFF };
                (sys::MARGIN_MKT_ADL, i64::from(v))
            }
            MarketOption::InsuranceFloor(d) => (
                sys::MARGIN_MKT_INSURANCE_FLOOR,
                conv(d, MONEY_SCALE, "insurance floor")?,
            ),
            MarketOption::AdlRanking(r) => (sys::MARGIN_MKT_ADL_RANKING, r.raw()),
            MarketOption::Contract(c) => (sys::MARGIN_MKT_CONTRACT, c.raw()),
            MarketOption::ContractSize(d) => (
                sys::MARGIN_MKT_CONTRACT_SIZE,
                conv(d, MONEY_SCALE, "contract size")?,
            ),
            MarketOption::SettleAsset(a) => (sys::MARGIN_MKT_SETTLE_ASSET, a),
            MarketOption::MinPrice(d) => (
                sys::MARGIN_MKT_MIN_PRICE,
                conv(d, self.scales(m)?.0, "min price")?,
            ),
        };
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_market_set(self.pm(), m.get(), key, value) };
        self.check(rc)
    }

    /// The symbol of a market.
    pub fn market_symbol(&self, m: MarketId) -> Result<String> {
        let mut buf = [0 as std::os::raw::c_char; 32];
        // SAFETY: live engine; buf holds 32 bytes, which always suffice for a symbol.
        let rc = unsafe { sys::margin_market_symbol(self.p(), m.get(), buf.as_mut_ptr(), buf.len()) };
        self.check_query(rc, || format!("{m}"))?;
        // SAFETY: on success the callee wrote a NUL-terminated string into buf.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        Ok(s.to_string_lossy().into_owned())
    }

    /// Every option and figure of a market.
    pub fn market(&self, m: MarketId) -> Result<MarketInfo> {
        let (ps, qs) = self.scales(m)?;
        let g = |k| self.market_get(m, k);
        Ok(MarketInfo {
            price_scale: ps,
            qty_scale: qs,
            tick: dec(g(sys::MARGIN_MKT_TICK)?, ps)?,
            step: dec(g(sys::MARGIN_MKT_STEP)?, qs)?,
            max_leverage: dec(g(sys::MARGIN_MKT_MAX_LEVERAGE)?, RATE_SCALE)?,
            maker_fee: dec(g(sys::MARGIN_MKT_MAKER_FEE)?, RATE_SCALE)?,
            taker_fee: dec(g(sys::MARGIN_MKT_TAKER_FEE)?, RATE_SCALE)?,
            mm_basis: MmBasis::from_raw(g(sys::MARGIN_MKT_MM_BASIS)?),
            close_fee: dec(g(sys::MARGIN_MKT_CLOSE_FEE)?, RATE_SCALE)?,
            mark: nonzero(g(sys::MARGIN_MKT_MARK)?, ps)?,
            tier_count: count(g(sys::MARGIN_MKT_TIER_COUNT)?, "tier count")? as u32,
            open_positions: count(g(sys::MARGIN_MKT_OPEN_POSITIONS)?, "open positions")?,
            max_price: dec(g(sys::MARGIN_MKT_MAX_PRICE)?, ps)?,
            liq_fee: dec(g(sys::MARGIN_MKT_LIQ_FEE)?, RATE_SCALE)?,
            liq_fee_basis: LiqFeeBasis::from_raw(g(sys::MARGIN_MKT_LIQ_FEE_BASIS)?),
            liq_fill: LiquidationFill::from_raw(g(sys::MARGIN_MKT_LIQ_FILL)?),
            stop_fill: StopFill::from_raw(g(sys::MARGIN_MKT_STOP_FILL)?),
            liq_policy: LiquidationPolicy::from_raw(g(sys::MARGIN_MKT_LIQ_POLICY)?),
            slice_threshold: dec(g(sys::MARGIN_MKT_SLICE_THRESHOLD)?, MONEY_SCALE)?,
            slice_fraction: dec(g(sys::MARGIN_MKT_SLICE_FRACTION)?, RATE_SCALE)?,
            slice_cooldown: g(sys::MARGIN_MKT_SLICE_COOLDOWN)?,
            slice_backstop: dec(g(sys::MARGIN_MKT_SLICE_BACKSTOP)?, RATE_SCALE)?,
            insurance_pool: MarketId::from_raw(g(sys::MARGIN_MKT_INSURANCE_POOL)? as u64),
            insurance: dec(g(sys::MARGIN_MKT_INSURANCE)?, MONEY_SCALE)?,
            adl: g(sys::MARGIN_MKT_ADL)? == sys::MARGIN_ADL_ON as i64,
            insurance_floor: dec(g(sys::MARGIN_MKT_INSURANCE_FLOOR)?, MONEY_SCALE)?,
            adl_ranking: AdlRanking::from_raw(g(sys::MARGIN_MKT_ADL_RANKING)?),
            contract: Contract::from_raw(g(sys::MARGIN_MKT_CONTRACT)?),
            contract_size: dec(g(sys::MARGIN_MKT_CONTRACT_SIZE)?, MONEY_SCALE)?,
            settle_asset: g(sys::MARGIN_MKT_SETTLE_ASSET)?,
            min_price: dec(g(sys::MARGIN_MKT_MIN_PRICE)?, ps)?,
        })
    }

    /// Adds a maintenance tier. The first call replaces the market's default tier; later
    /// calls append, in increasing order of floor (the first floor is 0).
    ///
    /// ```
    /// use margin::{Engine, Tier};
    /// let mut engine = Engine::new().unwrap();
    /// let btc = engine.market_new("BTCUSDT").unwrap();
    /// engine.add_tier(btc, &Tier::new("0", "0.004").unwrap()).unwrap();
    /// engine.add_tier(btc, &Tier::new("50000", "0.005").unwrap()).unwrap();
    /// engine.add_tier(btc, &Tier::new("250000", "0.01").unwrap()).unwrap();
    /// // Derived amounts: 50000*(0.005-0.004) = 50; 250000*(0.01-0.005) + 50 = 1300.
    /// let t = engine.tiers(btc).unwrap();
    /// assert_eq!(t[1].maint_amount, Some("50".parse().unwrap()));
    /// assert_eq!(t[2].maint_amount, Some("1300".parse().unwrap()));
    /// ```
    pub fn add_tier(&mut self, m: MarketId, tier: &Tier) -> Result<()> {
        let floor = conv(tier.floor, MONEY_SCALE, "tier floor")?;
        let mmr = conv(tier.mmr, RATE_SCALE, "tier mmr")?;
        let lev = match tier.max_leverage {
            Some(l) => conv(l, RATE_SCALE, "tier max leverage")?,
            None => 0,
        };
        let amount = match tier.maint_amount {
            Some(a) => conv(a, MONEY_SCALE, "tier maintenance amount")?,
            None => sys::MARGIN_DERIVE,
        };
        // SAFETY: live engine.
        let rc =
            unsafe { sys::margin_market_add_tier(self.pm(), m.get(), floor, mmr, lev, amount) };
        self.check(rc)
    }

    /// Tier `index` (from 0) of a market.
    pub fn tier(&self, m: MarketId, index: u32) -> Result<Tier> {
        let (mut f, mut r, mut l, mut a) = (0i64, 0i64, 0i64, 0i64);
        // SAFETY: live engine, valid out-pointers.
        let rc = unsafe {
            sys::margin_market_tier(self.p(), m.get(), index, &mut f, &mut r, &mut l, &mut a)
        };
        self.check_query(rc, || format!("tier {index} of {m}"))?;
        Ok(Tier {
            floor: dec(f, MONEY_SCALE)?,
            mmr: dec(r, RATE_SCALE)?,
            max_leverage: nonzero(l, RATE_SCALE)?,
            maint_amount: Some(dec(a, MONEY_SCALE)?),
        })
    }

    /// Every tier of a market, in order.
    pub fn tiers(&self, m: MarketId) -> Result<Vec<Tier>> {
        let n = count(
            self.market_get(m, sys::MARGIN_MKT_TIER_COUNT)?,
            "tier count",
        )?;
        (0..n as u32).map(|i| self.tier(m, i)).collect()
    }

    /// The maintenance rate and amount of the tier holding `notional` (money).
    pub fn tier_for(&self, m: MarketId, notional: impl IntoDecimal) -> Result<(Decimal, Decimal)> {
        let n = conv(notional, MONEY_SCALE, "notional")?;
        let (mut r, mut a) = (0i64, 0i64);
        // SAFETY: live engine, valid out-pointers.
        let rc = unsafe { sys::margin_market_tier_for(self.p(), m.get(), n, &mut r, &mut a) };
        self.check_query(rc, || format!("tier for notional {n} of {m}"))?;
        Ok((dec(r, RATE_SCALE)?, dec(a, MONEY_SCALE)?))
    }

    // ------------------------------------------------------------------ accounts

    /// Creates an account with a zero balance.
    pub fn account_new(&mut self) -> Result<AccountId> {
        let mut id = 0u64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_account_new(self.pm(), &mut id) };
        self.check(rc)?;
        Ok(AccountId::from_raw(id))
    }

    /// Credits the free balance (money, > 0).
    pub fn deposit(&mut self, a: AccountId, amount: impl IntoDecimal) -> Result<()> {
        let v = conv(amount, MONEY_SCALE, "deposit")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_account_deposit(self.pm(), a.get(), v) };
        self.check(rc)
    }

    /// Debits the free balance (money, > 0, at most the available balance
    /// [`AccountInfo::available`]).
    pub fn withdraw(&mut self, a: AccountId, amount: impl IntoDecimal) -> Result<()> {
        let v = conv(amount, MONEY_SCALE, "withdrawal")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_account_withdraw(self.pm(), a.get(), v) };
        self.check(rc)
    }

    fn account_get(&self, a: AccountId, key: i32) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_account_get(self.p(), a.get(), key, &mut v) };
        self.check_query(rc, || format!("{a}"))?;
        Ok(v)
    }

    /// Sets an account's margin mode in a market (`margin_account_set_mode`):
    /// [`Mode::Isolated`] (the default) or [`Mode::Cross`]. Setting the mode in force is a
    /// no-op. Fails with [`ErrorKind::State`] while the account has an open position in
    /// the market, [`ErrorKind::Invalid`] for an unknown mode.
    ///
    /// ```
    /// use margin::{Decimal, Engine, ErrorKind, Mode, OpenOptions, Side};
    /// let mut engine = Engine::new().unwrap();
    /// let btc = engine.market_new("BTCUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "1000").unwrap();
    /// assert_eq!(engine.account_mode(a, btc).unwrap(), Mode::Isolated);
    /// engine.set_account_mode(a, btc, Mode::Cross).unwrap();
    /// let cross = OpenOptions::cross_at("20").unwrap();
    /// let p = engine.open_with(a, btc, Side::Long, "0.1", "20000", cross).unwrap();
    /// let info = engine.position(p).unwrap();
    /// assert_eq!((info.mode, info.margin), (Mode::Cross, Decimal::ZERO));
    /// // IM 100 reserved and the 0.8 fee paid: 1000 - 0.8 - 100 is available.
    /// assert_eq!(engine.account(a).unwrap().available, "899.2".parse().unwrap());
    /// let err = engine.set_account_mode(a, btc, Mode::Isolated).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::State); // a position is open
    /// ```
    pub fn set_account_mode(&mut self, a: AccountId, m: MarketId, mode: Mode) -> Result<()> {
        let v = i32::try_from(mode.raw())
            .map_err(|_| Error::new(ErrorKind::Invalid, format!("mode {}", mode.raw())))?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_account_set_mode(self.pm(), a.get(), m.get(), v) };
        self.check(rc)
    }

    /// An account's margin mode in a market (`margin_account_mode`).
    pub fn account_mode(&self, a: AccountId, m: MarketId) -> Result<Mode> {
        let mut v = 0i32;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_account_mode(self.p(), a.get(), m.get(), &mut v) };
        self.check_query(rc, || format!("mode of {a} in {m}"))?;
        Ok(Mode::from_raw(v as i64))
    }

    /// Every figure of an account, the cross figures included.
    pub fn account(&self, a: AccountId) -> Result<AccountInfo> {
        let m = |k| self.account_get(a, k).and_then(|v| dec(v, MONEY_SCALE));
        // A sum over positions that does not fit in 64 bits (the engine answers
        // ErrorKind::Overflow for that key alone) is None.
        let sum = |k| match m(k) {
            Ok(v) => Ok(Some(v)),
            Err(err) if err.kind() == ErrorKind::Overflow => Ok(None),
            Err(err) => Err(err),
        };
        let ratio = self.account_get(a, sys::MARGIN_ACCT_MARGIN_RATIO)?;
        Ok(AccountInfo {
            free_balance: m(sys::MARGIN_ACCT_FREE_BALANCE)?,
            isolated_margin: m(sys::MARGIN_ACCT_ISOLATED_MARGIN)?,
            equity: sum(sys::MARGIN_ACCT_EQUITY)?,
            deposits: m(sys::MARGIN_ACCT_DEPOSITS)?,
            withdrawals: m(sys::MARGIN_ACCT_WITHDRAWALS)?,
            realized_pnl: m(sys::MARGIN_ACCT_REALIZED_PNL)?,
            fees: m(sys::MARGIN_ACCT_FEES)?,
            funding: m(sys::MARGIN_ACCT_FUNDING)?,
            open_positions: count(
                self.account_get(a, sys::MARGIN_ACCT_OPEN_POSITIONS)?,
                "open positions",
            )?,
            cross_wallet: m(sys::MARGIN_ACCT_CROSS_WALLET)?,
            cross_unrealized_pnl: sum(sys::MARGIN_ACCT_CROSS_UNREALIZED_PNL)?,
            cross_margin_balance: sum(sys::MARGIN_ACCT_CROSS_MARGIN_BALANCE)?,
            cross_maint_margin: sum(sys::MARGIN_ACCT_CROSS_MAINT_MARGIN)?,
            cross_initial_margin: sum(sys::MARGIN_ACCT_CROSS_INITIAL_MARGIN)?,
            margin_ratio: ratio_or_infinite(ratio)?,
            available: m(sys::MARGIN_ACCT_AVAILABLE)?,
            cross_positions: count(
                self.account_get(a, sys::MARGIN_ACCT_CROSS_POSITIONS)?,
                "cross positions",
            )?,
        })
    }

    // ------------------------------------------------------------------ positions

    /// Opens an isolated position at `leverage` (margin `Q*E/L`, rounded up), paying the
    /// taker fee. See [`Engine::open_with`] for a given margin or the maker fee.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        account: AccountId,
        market: MarketId,
        side: Side,
        qty: impl IntoDecimal,
        price: impl IntoDecimal,
        leverage: impl IntoDecimal,
    ) -> Result<PositionId> {
        let options = OpenOptions {
            leverage: Some(leverage.into_decimal()?),
            ..OpenOptions::default()
        };
        self.open_with(account, market, side, qty, price, options)
    }

    /// Opens a position sized by `options` (leverage, margin or both; a cross position,
    /// [`OpenOptions::cross_at`], takes a leverage only).
    ///
    /// ```
    /// use margin::{Decimal, Engine, OpenOptions, Side};
    /// let mut engine = Engine::new().unwrap();
    /// let btc = engine.market_new("BTCUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "1000").unwrap();
    /// // Binance FAQ: 500 USDT of margin on 0.02 BTC at 50000 (leverage 1000/500 = 2x).
    /// let opts = OpenOptions { margin: Some(Decimal::from(500)), ..Default::default() };
    /// let p = engine.open_with(a, btc, Side::Long, "0.02", "50000", opts).unwrap();
    /// assert_eq!(engine.position(p).unwrap().leverage, Decimal::from(2));
    /// ```
    pub fn open_with(
        &mut self,
        account: AccountId,
        market: MarketId,
        side: Side,
        qty: impl IntoDecimal,
        price: impl IntoDecimal,
        options: OpenOptions,
    ) -> Result<PositionId> {
        let (ps, qs) = self.scales(market)?;
        let q = conv(qty, qs, "quantity")?;
        let p = conv(price, ps, "price")?;
        let l = match options.leverage {
            Some(l) => conv(l, RATE_SCALE, "leverage")?,
            None => 0,
        };
        let m = match options.margin {
            Some(m) => conv(m, MONEY_SCALE, "margin")?,
            None => 0,
        };
        let mut flags = options.fill.flags();
        if options.cross {
            flags |= sys::MARGIN_FLAG_CROSS;
        }
        let mut id = 0u64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe {
            sys::margin_position_open(
                self.pm(),
                account.get(),
                market.get(),
                side.raw(),
                q,
                p,
                l,
                m,
                flags,
                &mut id,
            )
        };
        self.check(rc)?;
        Ok(PositionId::from_raw(id))
    }

    fn position_get(&self, p: PositionId, key: i32) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_position_get(self.p(), p.get(), key, &mut v) };
        self.check_query(rc, || format!("{p}"))?;
        Ok(v)
    }

    /// The market of a position and its price and quantity scales.
    fn position_scales(&self, p: PositionId) -> Result<(u32, u32)> {
        let m = MarketId::from_raw(self.position_get(p, sys::MARGIN_POS_MARKET)? as u64);
        self.scales(m)
    }

    /// Trades on an open position: same side increases, opposite side reduces, closes
    /// (the whole size) or flips (more than the size).
    pub fn trade(
        &mut self,
        p: PositionId,
        side: Side,
        qty: impl IntoDecimal,
        price: impl IntoDecimal,
        fill: Fill,
    ) -> Result<()> {
        let (ps, qs) = self.position_scales(p)?;
        let q = conv(qty, qs, "quantity")?;
        let pr = conv(price, ps, "price")?;
        // SAFETY: live engine.
        let rc = unsafe {
            sys::margin_position_trade(self.pm(), p.get(), side.raw(), q, pr, fill.flags())
        };
        self.check(rc)
    }

    /// Closes a position in full at `price`.
    pub fn close(&mut self, p: PositionId, price: impl IntoDecimal, fill: Fill) -> Result<()> {
        let (ps, _) = self.position_scales(p)?;
        let pr = conv(price, ps, "price")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_position_close(self.pm(), p.get(), pr, fill.flags()) };
        self.check(rc)
    }

    /// Moves `amount` (money) from the free balance into the position's margin.
    pub fn add_margin(&mut self, p: PositionId, amount: impl IntoDecimal) -> Result<()> {
        let v = conv(amount, MONEY_SCALE, "margin to add")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_position_add_margin(self.pm(), p.get(), v) };
        self.check(rc)
    }

    /// Moves `amount` (money) from the position's margin back to the free balance, at
    /// most the removable margin.
    pub fn remove_margin(&mut self, p: PositionId, amount: impl IntoDecimal) -> Result<()> {
        let v = conv(amount, MONEY_SCALE, "margin to remove")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_position_remove_margin(self.pm(), p.get(), v) };
        self.check(rc)
    }

    /// Changes the leverage of an open position and re-margins it.
    pub fn set_leverage(&mut self, p: PositionId, leverage: impl IntoDecimal) -> Result<()> {
        let v = conv(leverage, RATE_SCALE, "leverage")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_position_set_leverage(self.pm(), p.get(), v) };
        self.check(rc)
    }

    /// Sets the stop-loss and take-profit trigger prices: each a price (a [`Decimal`], a
    /// string or an integer) or [`Stop::None`] to clear it (`Option<Decimal>` works too).
    ///
    /// ```
    /// use margin::{Decimal, Engine, Side, Stop};
    /// let mut engine = Engine::new().unwrap();
    /// let m = engine.market_new("BTCUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "1000").unwrap();
    /// let p = engine.open(a, m, Side::Long, "0.1", "20000", "20").unwrap();
    /// engine.set_stops(p, "19500", "21000").unwrap();
    /// assert_eq!(engine.position(p).unwrap().stop_loss, Some(Decimal::from(19500)));
    /// engine.set_stops(p, Stop::None, 22000).unwrap(); // clear the stop-loss
    /// let info = engine.position(p).unwrap();
    /// assert_eq!((info.stop_loss, info.take_profit), (None, Some(Decimal::from(22000))));
    /// engine.clear_stops(p).unwrap();
    /// assert_eq!(engine.position(p).unwrap().take_profit, None);
    /// ```
    pub fn set_stops(
        &mut self,
        p: PositionId,
        stop_loss: impl IntoStop,
        take_profit: impl IntoStop,
    ) -> Result<()> {
        let (ps, _) = self.position_scales(p)?;
        let sl = match stop_loss.into_stop()? {
            Stop::At(d) => conv(d, ps, "stop-loss")?,
            Stop::None => 0,
        };
        let tp = match take_profit.into_stop()? {
            Stop::At(d) => conv(d, ps, "take-profit")?,
            Stop::None => 0,
        };
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_position_set_stops(self.pm(), p.get(), sl, tp) };
        self.check(rc)
    }

    /// Clears both trigger prices (`set_stops(p, Stop::None, Stop::None)`).
    pub fn clear_stops(&mut self, p: PositionId) -> Result<()> {
        self.set_stops(p, Stop::None, Stop::None)
    }

    /// Every stored figure of a position, open or not.
    pub fn position(&self, p: PositionId) -> Result<PositionInfo> {
        let g = |k| self.position_get(p, k);
        let market = MarketId::from_raw(g(sys::MARGIN_POS_MARKET)? as u64);
        let (ps, qs) = self.scales(market)?;
        let side_raw = g(sys::MARGIN_POS_SIDE)?;
        let side = Side::from_raw(side_raw).ok_or_else(|| {
            Error::new(
                ErrorKind::Invalid,
                format!("{p}: the engine reports side {side_raw}"),
            )
        })?;
        Ok(PositionInfo {
            id: p,
            account: AccountId::from_raw(g(sys::MARGIN_POS_ACCOUNT)? as u64),
            market,
            side,
            qty: dec(g(sys::MARGIN_POS_QTY)?, qs)?,
            entry_price: dec(g(sys::MARGIN_POS_ENTRY_PRICE)?, ps)?,
            margin: dec(g(sys::MARGIN_POS_MARGIN)?, MONEY_SCALE)?,
            leverage: dec(g(sys::MARGIN_POS_LEVERAGE)?, RATE_SCALE)?,
            mode: Mode::from_raw(g(sys::MARGIN_POS_MODE)?),
            status: Status::from_raw(g(sys::MARGIN_POS_STATUS)?),
            realized_pnl: dec(g(sys::MARGIN_POS_REALIZED_PNL)?, MONEY_SCALE)?,
            fees: dec(g(sys::MARGIN_POS_FEES)?, MONEY_SCALE)?,
            funding: dec(g(sys::MARGIN_POS_FUNDING)?, MONEY_SCALE)?,
            stop_loss: nonzero(g(sys::MARGIN_POS_STOP_LOSS)?, ps)?,
            take_profit: nonzero(g(sys::MARGIN_POS_TAKE_PROFIT)?, ps)?,
            liq_price: nonzero(g(sys::MARGIN_POS_LIQ_PRICE)?, ps)?,
            adl_score: dec(g(sys::MARGIN_POS_ADL_SCORE)?, RATE_SCALE)?,
            adl_quantile: u8::try_from(g(sys::MARGIN_POS_ADL_QUANTILE)?).unwrap_or(0),
        })
    }

    fn at_raw(&self, p: PositionId, key: i32, mark: i64) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_position_at(self.p(), p.get(), key, mark, &mut v) };
        self.check_query(rc, || format!("{p}"))?;
        Ok(v)
    }

    /// One figure of an open position at `mark` (`None`: the market's last mark, or the
    /// entry price if it has none). The mark need not be on the tick grid but must fit
    /// the market's price scale exactly. A figure of [`Figure::LiquidationPrice`] or
    /// [`Figure::BankruptcyPrice`] reads 0 when there is none, and a
    /// [`Figure::MarginRatio`] of `i64::MAX` units means infinite; the typed methods
    /// ([`Engine::figures`], [`Engine::liquidation_price`]) map those to `None`.
    pub fn figure(&self, p: PositionId, figure: Figure, mark: Option<Decimal>) -> Result<Decimal> {
        let (ps, _) = self.position_scales(p)?;
        let mark = match mark {
            Some(m) => conv(m, ps, "mark")?,
            None => 0,
        };
        let (key, unit) = figure.key_unit();
        let v = self.at_raw(p, key, mark)?;
        dec(v, self.unit_scale(unit, ps))
    }

    fn unit_scale(&self, unit: Unit, ps: u32) -> u32 {
        match unit {
            Unit::Money => MONEY_SCALE,
            Unit::Rate => RATE_SCALE,
            Unit::Price => ps,
        }
    }

    fn figures_raw(&self, p: PositionId, mark: i64, ps: u32) -> Result<Figures> {
        let money = |k| self.at_raw(p, k, mark).and_then(|v| dec(v, MONEY_SCALE));
        let rate = |k| self.at_raw(p, k, mark).and_then(|v| dec(v, RATE_SCALE));
        let ratio = self.at_raw(p, sys::MARGIN_AT_MARGIN_RATIO, mark)?;
        let mark_value = if mark == 0 {
            // The mark the engine used: the market's, else the entry price.
            let market = MarketId::from_raw(self.position_get(p, sys::MARGIN_POS_MARKET)? as u64);
            match self.market_get(market, sys::MARGIN_MKT_MARK)? {
                0 => self.position_get(p, sys::MARGIN_POS_ENTRY_PRICE)?,
                m => m,
            }
        } else {
            mark
        };
        Ok(Figures {
            mark: dec(mark_value, ps)?,
            notional: money(sys::MARGIN_AT_NOTIONAL)?,
            unrealized_pnl: money(sys::MARGIN_AT_UNREALIZED_PNL)?,
            margin_balance: money(sys::MARGIN_AT_MARGIN_BALANCE)?,
            maint_margin: money(sys::MARGIN_AT_MAINT_MARGIN)?,
            maint_rate: rate(sys::MARGIN_AT_MAINT_RATE)?,
            maint_amount: money(sys::MARGIN_AT_MAINT_AMOUNT)?,
            margin_ratio: ratio_or_infinite(ratio)?,
            liquidation_price: nonzero(self.at_raw(p, sys::MARGIN_AT_LIQ_PRICE, mark)?, ps)?,
            bankruptcy_price: nonzero(self.at_raw(p, sys::MARGIN_AT_BANKRUPTCY_PRICE, mark)?, ps)?,
            initial_margin: money(sys::MARGIN_AT_INITIAL_MARGIN)?,
            roe: rate(sys::MARGIN_AT_ROE)?,
            removable_margin: money(sys::MARGIN_AT_REMOVABLE_MARGIN)?,
            margin_call_price: nonzero(self.at_raw(p, sys::MARGIN_AT_MARGIN_CALL_PRICE, mark)?, ps)?,
        })
    }

    /// Every figure of an open position at mark price `mark`.
    ///
    /// ```
    /// use margin::{Decimal, Engine, Side};
    /// let mut engine = Engine::new().unwrap();
    /// let btc = engine.market_new("BTCUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "1000").unwrap();
    /// let p = engine.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    /// let f = engine.figures(p, "19500").unwrap();
    /// assert_eq!(f.notional, Decimal::from(1950));          // 0.1 * 19500
    /// assert_eq!(f.unrealized_pnl, Decimal::from(-50));     // 0.1 * (19500 - 20000)
    /// assert_eq!(f.margin_balance, Decimal::from(50));      // 100 - 50
    /// assert_eq!(f.maint_margin, "7.8".parse().unwrap());   // 1950 * 0.004
    /// assert_eq!(f.margin_ratio, Some("0.156".parse().unwrap())); // 7.8 / 50
    /// assert_eq!(f.roe, "-0.5".parse().unwrap());           // -50 / 100
    /// ```
    pub fn figures(&self, p: PositionId, mark: impl IntoDecimal) -> Result<Figures> {
        let (ps, _) = self.position_scales(p)?;
        let m = conv(mark, ps, "mark")?;
        if m <= 0 {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("mark {} is not positive", dec(m, ps)?),
            ));
        }
        self.figures_raw(p, m, ps)
    }

    /// Every figure of an open position at the market's last mark (the entry price if the
    /// market has none).
    pub fn figures_at_last_mark(&self, p: PositionId) -> Result<Figures> {
        let (ps, _) = self.position_scales(p)?;
        self.figures_raw(p, 0, ps)
    }

    /// The liquidation price of an open position (`None`: a long that cannot be
    /// liquidated), long rounded up, short rounded down.
    pub fn liquidation_price(&self, p: PositionId) -> Result<Option<Decimal>> {
        let (ps, _) = self.position_scales(p)?;
        nonzero(self.at_raw(p, sys::MARGIN_AT_LIQ_PRICE, 0)?, ps)
    }

    /// The price at which the lowest margin-call level is crossed (`None` when no levels
    /// are set or a long cannot reach it).
    pub fn margin_call_price(&self, p: PositionId) -> Result<Option<Decimal>> {
        let (ps, _) = self.position_scales(p)?;
        nonzero(self.at_raw(p, sys::MARGIN_AT_MARGIN_CALL_PRICE, 0)?, ps)
    }

    /// The bankruptcy price `E - s*M/Q` of an open position (`None` for a long when it
    /// is <= 0).
    pub fn bankruptcy_price(&self, p: PositionId) -> Result<Option<Decimal>> {
        let (ps, _) = self.position_scales(p)?;
        nonzero(self.at_raw(p, sys::MARGIN_AT_BANKRUPTCY_PRICE, 0)?, ps)
    }

    /// The margin ratio at `mark` (`None`: infinite, the balance is <= 0).
    pub fn margin_ratio(&self, p: PositionId, mark: impl IntoDecimal) -> Result<Option<Decimal>> {
        let v = self.figure(p, Figure::MarginRatio, Some(mark.into_decimal()?))?;
        Ok(if v.mantissa() == i64::MAX {
            None
        } else {
            Some(v)
        })
    }

    // ------------------------------------------------------------------ listing

    /// Runs a listing function with the `MARGIN_EBUFFER` contract: count, then copy.
    fn list(
        &self,
        what: &str,
        f: impl Fn(*mut u64, usize, *mut usize) -> sys::c_int,
    ) -> Result<Vec<PositionId>> {
        loop {
            let mut n = 0usize;
            let rc = f(ptr::null_mut(), 0, &mut n);
            if rc != 0 && rc != sys::MARGIN_EBUFFER {
                self.check_query(rc, || what.to_string())?;
            }
            let mut ids = vec![0u64; n];
            let rc = f(ids.as_mut_ptr(), ids.len(), &mut n);
            if rc == sys::MARGIN_EBUFFER {
                continue; // more than counted: count again (a callback cannot cause this)
            }
            self.check_query(rc, || what.to_string())?;
            ids.truncate(n);
            return Ok(ids.into_iter().map(PositionId::from_raw).collect());
        }
    }

    fn status_filter(status: Option<Status>) -> Result<i32> {
        let v = status.map_or(sys::MARGIN_STATUS_ANY as i64, Status::raw);
        i32::try_from(v).map_err(|_| Error::new(ErrorKind::Invalid, format!("status {v}")))
    }

    /// The ids of every position with status `status` (`None`: any status), in id order
    /// (`margin_positions`). After a restart, `positions(Some(Status::Open))` finds every
    /// open position.
    ///
    /// ```
    /// use margin::{Engine, Side, Status};
    /// let mut engine = Engine::new().unwrap();
    /// let m = engine.market_new("BTCUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "10000").unwrap();
    /// let p1 = engine.open(a, m, Side::Long, "0.1", "20000", "20").unwrap();
    /// let p2 = engine.open(a, m, Side::Short, "0.1", "20000", "20").unwrap();
    /// engine.close(p1, "20000", margin::Fill::Taker).unwrap();
    /// assert_eq!(engine.positions(Some(Status::Open)).unwrap(), vec![p2]);
    /// assert_eq!(engine.positions(None).unwrap(), vec![p1, p2]);
    /// ```
    pub fn positions(&self, status: Option<Status>) -> Result<Vec<PositionId>> {
        let st = Self::status_filter(status)?;
        // SAFETY: live engine; ids/cap/out_n describe a valid buffer (or NULL and 0).
        self.list("listing positions", |ids, cap, n| unsafe {
            sys::margin_positions(self.p(), st, ids, cap, n)
        })
    }

    /// The ids of an account's positions with status `status` (`None`: any), in id order
    /// (`margin_account_positions`).
    pub fn account_positions(&self, a: AccountId, status: Option<Status>) -> Result<Vec<PositionId>> {
        let st = Self::status_filter(status)?;
        // SAFETY: as in positions().
        self.list(&format!("{a}"), |ids, cap, n| unsafe {
            sys::margin_account_positions(self.p(), a.get(), st, ids, cap, n)
        })
    }

    /// The ids of a market's positions with status `status` (`None`: any), in id order
    /// (`margin_market_positions`).
    pub fn market_positions(&self, m: MarketId, status: Option<Status>) -> Result<Vec<PositionId>> {
        let st = Self::status_filter(status)?;
        // SAFETY: as in positions().
        self.list(&format!("{m}"), |ids, cap, n| unsafe {
            sys::margin_market_positions(self.p(), m.get(), st, ids, cap, n)
        })
    }

    // ------------------------------------------------------------------ marks, funding

    /// Applies a new mark price to a market and acts on every trigger it crosses
    /// (liquidations, stop-losses, take-profits, margin calls): see the events.
    pub fn mark_update(&mut self, m: MarketId, mark: impl IntoDecimal) -> Result<()> {
        let (ps, _) = self.scales(m)?;
        let v = conv(mark, ps, "mark")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_mark_update(self.pm(), m.get(), v) };
        self.check(rc)
    }

    /// Applies one candle (open, high, low, close) to a market (`margin_mark_candle`):
    /// the mark walks the path's four points and every trigger fires at the first point
    /// that reaches it ([`Event::path_point`] says which). The open is a jump from the
    /// last mark; from there the price moves continuously, so with
    /// [`StopFill::Trigger`] a stop crossed between two points fills at its own price.
    /// Atomic: on an error nothing changed; afterwards the mark is `close`.
    pub fn mark_candle(
        &mut self,
        m: MarketId,
        open: impl IntoDecimal,
        high: impl IntoDecimal,
        low: impl IntoDecimal,
        close: impl IntoDecimal,
        path: CandlePath,
    ) -> Result<()> {
        let (ps, _) = self.scales(m)?;
        let o = conv(open, ps, "open")?;
        let h = conv(high, ps, "high")?;
        let l = conv(low, ps, "low")?;
        let c = conv(close, ps, "close")?;
        let code = i32::try_from(path.raw())
            .map_err(|_| Error::new(ErrorKind::Invalid, format!("candle path {} does not fit", path.raw())))?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_mark_candle(self.pm(), m.get(), o, h, l, c, code) };
        self.check(rc)
    }

    /// Settles one funding interval at `rate` (a long pays when it is positive) and
    /// evaluates triggers at `mark`.
    ///
    /// ```
    /// use margin::{Decimal, Engine, EventKind, Side};
    /// let mut engine = Engine::new().unwrap();
    /// let m = engine.market_new("XUSDT").unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "100").unwrap();
    /// let p = engine.open(a, m, Side::Short, "10", "2", "1").unwrap();
    /// // freqtrade: a short of 10 at rate 0.0001 and mark 2.0 receives 10*2*0.0001 = 0.002.
    /// engine.funding(m, "0.0001", "2").unwrap();
    /// let ev = engine.events().find(|e| e.kind == EventKind::Funding).unwrap();
    /// assert_eq!(ev.amount, "0.002".parse().unwrap());
    /// assert_eq!(engine.position(p).unwrap().funding, "0.002".parse().unwrap());
    /// ```
    pub fn funding(
        &mut self,
        m: MarketId,
        rate: impl IntoDecimal,
        mark: impl IntoDecimal,
    ) -> Result<()> {
        let (ps, _) = self.scales(m)?;
        let r = conv(rate, RATE_SCALE, "funding rate")?;
        let v = conv(mark, ps, "mark")?;
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_funding_apply(self.pm(), m.get(), r, v) };
        self.check(rc)
    }

    // ------------------------------------------------------------------ events

    /// Takes the oldest queued event, or `None` when the queue is empty.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        let mut ty = 0i32;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_event_next(self.pm(), &mut ty) };
        self.check(rc)?;
        match EventKind::from_raw(ty) {
            None => Ok(None),
            Some(kind) => read_current(self.p(), kind).map(Some),
        }
    }

    /// One raw field (`MARGIN_EVF_*`, such as a field newer than this binding) of the
    /// current event, the one the last [`Engine::next_event`] returned
    /// (`margin_event_get`). Typed events are read in one `margin_event_fields` call.
    pub fn current_event_field(&self, field: i32) -> Result<i64> {
        let mut v = 0i64;
        // SAFETY: live engine, valid out-pointer.
        let rc = unsafe { sys::margin_event_get(self.p(), field, &mut v) };
        self.check_query(rc, || format!("event field {field}"))?;
        Ok(v)
    }

    /// An iterator that takes the queued events, oldest first, until the queue is empty.
    pub fn events(&mut self) -> Events<'_> {
        Events { engine: self }
    }

    /// Installs `f`, called synchronously with every event as the engine produces it
    /// (whether or not events are also queued). A panic in `f` is caught at the C
    /// boundary and resumed when the engine call that produced the event returns (later
    /// events of that call are then not delivered to `f`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use margin::{Engine, EventKind};
    /// let mut engine = Engine::new().unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = Arc::clone(&seen);
    /// engine.set_callback(move |e| s.lock().unwrap().push(e.kind)).unwrap();
    /// let a = engine.account_new().unwrap();
    /// engine.deposit(a, "10").unwrap();
    /// assert_eq!(*seen.lock().unwrap(), vec![EventKind::Deposit]);
    /// ```
    pub fn set_callback<F>(&mut self, f: F) -> Result<()>
    where
        F: FnMut(&Event) + Send + 'static,
    {
        let state = Box::into_raw(Box::new(CallbackState {
            f: Box::new(f),
            panic: None,
        }));
        // SAFETY: live engine; `state` stays valid until replaced or the engine is freed.
        let rc = unsafe {
            sys::margin_engine_set_callback(self.pm(), Some(trampoline), state as *mut sys::c_void)
        };
        if rc != 0 {
            // SAFETY: not installed; we still own it.
            drop(unsafe { Box::from_raw(state) });
            return self.check(rc);
        }
        let old = std::mem::replace(&mut self.callback, state);
        if !old.is_null() {
            // SAFETY: the engine no longer refers to the old state.
            drop(unsafe { Box::from_raw(old) });
        }
        Ok(())
    }

    /// Removes the callback.
    pub fn clear_callback(&mut self) -> Result<()> {
        // SAFETY: live engine.
        let rc = unsafe { sys::margin_engine_set_callback(self.pm(), None, ptr::null_mut()) };
        self.check(rc)?;
        let old = std::mem::replace(&mut self.callback, ptr::null_mut());
        if !old.is_null() {
            // SAFETY: the engine no longer refers to it.
            drop(unsafe { Box::from_raw(old) });
        }
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: we own the engine; nothing uses it after this.
        unsafe { sys::margin_engine_free(self.raw.as_ptr()) };
        if !self.callback.is_null() {
            // SAFETY: the engine that referred to it is gone.
            drop(unsafe { Box::from_raw(self.callback) });
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}
