//! Events: what the engine did, read from its queue or delivered to a callback.

use crate::decimal::{Decimal, MONEY_SCALE, RATE_SCALE};
use crate::error::{Error, ErrorKind, Result};
use crate::types::{AccountId, MarketId, PositionId, Side};
use margin_sys as sys;

/// The type of an [`Event`] (`MARGIN_EV_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// Deposit to an account.
    Deposit,
    /// Withdrawal from an account.
    Withdraw,
    /// Position opened (or reopened by a flip).
    Open,
    /// Position increased.
    Increase,
    /// Position reduced.
    Reduce,
    /// Position closed by the holder.
    Close,
    /// Margin added.
    MarginAdd,
    /// Margin removed.
    MarginRemove,
    /// Leverage changed.
    Leverage,
    /// Funding paid or received.
    Funding,
    /// The margin ratio reached a margin-call level.
    MarginCall,
    /// Position liquidated.
    Liquidation,
    /// Position closed by its stop-loss.
    StopLoss,
    /// Position closed by its take-profit.
    TakeProfit,
    /// A type this binding does not know (from a newer library).
    Other(i32),
}

impl EventKind {
    /// The kind of a `MARGIN_EV_*` value (`None` for `MARGIN_EV_NONE`).
    pub fn from_raw(v: i32) -> Option<EventKind> {
        Some(match v {
            sys::MARGIN_EV_NONE => return None,
            sys::MARGIN_EV_DEPOSIT => EventKind::Deposit,
            sys::MARGIN_EV_WITHDRAW => EventKind::Withdraw,
            sys::MARGIN_EV_OPEN => EventKind::Open,
            sys::MARGIN_EV_INCREASE => EventKind::Increase,
            sys::MARGIN_EV_REDUCE => EventKind::Reduce,
            sys::MARGIN_EV_CLOSE => EventKind::Close,
            sys::MARGIN_EV_MARGIN_ADD => EventKind::MarginAdd,
            sys::MARGIN_EV_MARGIN_REMOVE => EventKind::MarginRemove,
            sys::MARGIN_EV_LEVERAGE => EventKind::Leverage,
            sys::MARGIN_EV_FUNDING => EventKind::Funding,
            sys::MARGIN_EV_MARGIN_CALL => EventKind::MarginCall,
            sys::MARGIN_EV_LIQUIDATION => EventKind::Liquidation,
            sys::MARGIN_EV_STOP_LOSS => EventKind::StopLoss,
            sys::MARGIN_EV_TAKE_PROFIT => EventKind::TakeProfit,
            other => EventKind::Other(other),
        })
    }
}

/// One event, with every field decoded to its type and unit. A field that does not
/// apply to the event's kind is zero (or `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// Sequence number, from 1, increasing by 1.
    pub seq: u64,
    /// The engine time when it happened ([`Engine::set_time`](crate::Engine::set_time)).
    pub time: i64,
    /// What happened.
    pub kind: EventKind,
    /// The account.
    pub account: Option<AccountId>,
    /// The market (`None` for deposits and withdrawals).
    pub market: Option<MarketId>,
    /// The position (`None` for deposits and withdrawals).
    pub position: Option<PositionId>,
    /// Side of the position after the event.
    pub side: Option<Side>,
    /// Fill price (trades, stops, take-profits) or the mark (margin calls,
    /// liquidations, funding).
    pub price: Decimal,
    /// Quantity traded or closed.
    pub qty: Decimal,
    /// Position size after the event.
    pub position_qty: Decimal,
    /// Entry price after the event.
    pub entry_price: Decimal,
    /// Position margin after the event.
    pub margin: Decimal,
    /// Money moved: deposit or withdrawal amount, margin added (> 0) or removed (< 0),
    /// funding (received > 0), change of margin on open/increase/reduce/leverage.
    pub amount: Decimal,
    /// Realized PnL of this event (minus the margin for a liquidation).
    pub realized_pnl: Decimal,
    /// Fee charged by this event.
    pub fee: Decimal,
    /// Liquidation price after the event (before it, for a liquidation), if any.
    pub liq_price: Option<Decimal>,
    /// Bankruptcy price (liquidations).
    pub bankruptcy_price: Decimal,
    /// Change of the insurance fund.
    pub insurance_delta: Decimal,
    /// Margin ratio at the mark (margin calls); `None` if infinite.
    pub margin_ratio: Option<Decimal>,
    /// Margin-call level crossed.
    pub level: Decimal,
    /// Account free balance after the event.
    pub free_balance: Decimal,
    /// Position leverage after the event.
    pub leverage: Decimal,
}

/// Number of `MARGIN_EVF_*` fields this binding knows (1 to `MARGIN_EVF_LEVERAGE`).
pub(crate) const FIELD_COUNT: usize = sys::MARGIN_EVF_LEVERAGE as usize;

/// Every field of the current event in one `margin_event_fields` call: `out[f]` is field
/// `f` (`out[0]`, the number of fields the library knows, is not needed: fields it does
/// not know read 0).
fn fields(e: *const sys::margin_engine) -> Result<[i64; FIELD_COUNT + 1]> {
    let mut out = [0i64; FIELD_COUNT + 1];
    // SAFETY: e is a live engine (callers guarantee it); out holds out.len() elements.
    let rc = unsafe { sys::margin_event_fields(e, out.as_mut_ptr(), out.len()) };
    if rc != 0 {
        return Err(Error::new(
            ErrorKind::from_code(rc),
            format!("reading the event's fields: {}", crate::error::strerror(rc)),
        ));
    }
    Ok(out)
}

fn id(v: i64) -> Option<u64> {
    if v > 0 {
        Some(v as u64)
    } else {
        None
    }
}

/// Reads the current event of engine `e` (after `margin_event_next`, or inside a
/// callback). Only calls functions that take a `const` engine.
pub(crate) fn read_current(e: *const sys::margin_engine, kind: EventKind) -> Result<Event> {
    let raw = fields(e)?;
    let get = |_e: *const sys::margin_engine, field: i32| -> Result<i64> { Ok(raw[field as usize]) };
    let market = id(get(e, sys::MARGIN_EVF_MARKET)?);
    let (ps, qs) = match market {
        Some(m) => {
            let mut ps = 0i64;
            let mut qs = 0i64;
            // SAFETY: live engine, valid out-pointers; const functions.
            let r1 = unsafe { sys::margin_market_get(e, m, sys::MARGIN_MKT_PRICE_SCALE, &mut ps) };
            let r2 = unsafe { sys::margin_market_get(e, m, sys::MARGIN_MKT_QTY_SCALE, &mut qs) };
            if r1 != 0 || r2 != 0 {
                let rc = if r1 != 0 { r1 } else { r2 };
                return Err(Error::new(
                    ErrorKind::from_code(rc),
                    format!("reading the scales of market {m} of an event"),
                ));
            }
            (ps as u32, qs as u32)
        }
        None => (MONEY_SCALE, MONEY_SCALE),
    };
    let dec = |field: i32, scale: u32| -> Result<Decimal> { Decimal::new(get(e, field)?, scale) };
    let money = |field: i32| dec(field, MONEY_SCALE);
    let rate = |field: i32| dec(field, RATE_SCALE);
    let liq = get(e, sys::MARGIN_EVF_LIQ_PRICE)?;
    let ratio = get(e, sys::MARGIN_EVF_MARGIN_RATIO)?;
    Ok(Event {
        seq: get(e, sys::MARGIN_EVF_SEQ)? as u64,
        time: get(e, sys::MARGIN_EVF_TIME)?,
        kind,
        account: id(get(e, sys::MARGIN_EVF_ACCOUNT)?).map(AccountId::from_raw),
        market: market.map(MarketId::from_raw),
        position: id(get(e, sys::MARGIN_EVF_POSITION)?).map(PositionId::from_raw),
        side: Side::from_raw(get(e, sys::MARGIN_EVF_SIDE)?),
        price: dec(sys::MARGIN_EVF_PRICE, ps)?,
        qty: dec(sys::MARGIN_EVF_QTY, qs)?,
        position_qty: dec(sys::MARGIN_EVF_POSITION_QTY, qs)?,
        entry_price: dec(sys::MARGIN_EVF_ENTRY_PRICE, ps)?,
        margin: money(sys::MARGIN_EVF_MARGIN)?,
        amount: money(sys::MARGIN_EVF_AMOUNT)?,
        realized_pnl: money(sys::MARGIN_EVF_REALIZED_PNL)?,
        fee: money(sys::MARGIN_EVF_FEE)?,
        liq_price: if liq == 0 {
            None
        } else {
            Some(Decimal::new(liq, ps)?)
        },
        bankruptcy_price: dec(sys::MARGIN_EVF_BANKRUPTCY_PRICE, ps)?,
        insurance_delta: money(sys::MARGIN_EVF_INSURANCE_DELTA)?,
        margin_ratio: if ratio == i64::MAX {
            None
        } else {
            Some(Decimal::new(ratio, RATE_SCALE)?)
        },
        level: rate(sys::MARGIN_EVF_LEVEL)?,
        free_balance: money(sys::MARGIN_EVF_FREE_BALANCE)?,
        leverage: rate(sys::MARGIN_EVF_LEVERAGE)?,
    })
}

/// Iterator over the queued events of an engine, oldest first; see
/// [`Engine::events`](crate::Engine::events). Each `next()` takes one event off the queue.
/// It ends when the queue is empty (or, which the C contract rules out, if an event
/// cannot be read: [`Engine::next_event`](crate::Engine::next_event) reports that error).
pub struct Events<'a> {
    pub(crate) engine: &'a mut crate::Engine,
}

impl Iterator for Events<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.engine.next_event().ok().flatten()
    }
}
