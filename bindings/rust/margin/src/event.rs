//! Events: what the engine did, read from its queue or delivered to a callback.

use crate::decimal::{Decimal, MONEY_SCALE, RATE_SCALE};
use crate::error::{Error, ErrorKind, Result};
use crate::types::{ratio_or_infinite, AccountId, FillPrice, MarketId, Mode, PositionId, Side};
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
    /// A cross account was liquidated: follows the [`EventKind::Liquidation`] events of
    /// the positions it closed. `position` is `None`, `market` the market whose mark or
    /// funding triggered it, `amount` the deficit the insurance fund covered (>= 0),
    /// `realized_pnl` `+deficit`, `insurance_delta` `-deficit`, `free_balance` the cross
    /// wallet after, `margin_ratio` the account ratio that triggered it,
    /// `positions_closed` the number of positions closed.
    CrossLiquidation,
    /// Part of an isolated position was liquidated (the market's
    /// [`LiquidationPolicy`](crate::LiquidationPolicy)); the position stays open, smaller.
    /// `qty` is the quantity liquidated, `price` its fill price (`fill` names it), `fee`
    /// the clearance fee, `realized_pnl` the PnL realized on the part, `amount` the change
    /// of the position's margin, `liq_price` the liquidation price after it,
    /// `insurance_delta` the change of the insurance fund.
    PartialLiquidation,
    /// Money was put into a market's insurance pool
    /// ([`Engine::insurance_deposit`](crate::Engine::insurance_deposit)): `account` and
    /// `position` are `None`, `market` the market named, `amount` and `insurance_delta`
    /// the amount.
    InsuranceDeposit,
    /// The position was auto-deleveraged against the bankrupt position `counterparty`,
    /// whose [`EventKind::Liquidation`] it follows: `qty` closed (all of it: the position
    /// is [`Status::Deleveraged`](crate::Status::Deleveraged); less: it stays open,
    /// `position_qty` left, its margin reduced pro rata) at `price`, the bankrupt
    /// position's bankruptcy price (`fill` [`FillPrice::Bankruptcy`]), no fee;
    /// `realized_pnl` the PnL at that price, `amount` minus the margin released,
    /// `insurance_delta` what it paid into the pool (its PnL at the mark less its PnL at
    /// the fill).
    Adl,
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
            sys::MARGIN_EV_CROSS_LIQUIDATION => EventKind::CrossLiquidation,
            sys::MARGIN_EV_PARTIAL_LIQUIDATION => EventKind::PartialLiquidation,
            sys::MARGIN_EV_INSURANCE_DEPOSIT => EventKind::InsuranceDeposit,
            sys::MARGIN_EV_ADL => EventKind::Adl,
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
    /// Quantity traded or closed (0 for [`EventKind::CrossLiquidation`]: see
    /// `positions_closed`).
    pub qty: Decimal,
    /// Position size after the event.
    pub position_qty: Decimal,
    /// Entry price after the event.
    pub entry_price: Decimal,
    /// Position margin after the event (0 for a cross position).
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
    /// Margin ratio at the mark (margin calls; the account ratio for a cross account's
    /// margin call or liquidation); `None` if infinite.
    pub margin_ratio: Option<Decimal>,
    /// Margin-call level crossed.
    pub level: Decimal,
    /// Account free balance after the event.
    pub free_balance: Decimal,
    /// Position leverage after the event.
    pub leverage: Decimal,
    /// The position's mode, or for an account event (a deposit, a withdrawal, an account
    /// margin call, a cross liquidation) the book it concerns (`MARGIN_EVF_MODE`;
    /// [`Mode::Isolated`] from a library without the field).
    pub mode: Mode,
    /// Number of positions a [`EventKind::CrossLiquidation`] closed (0 for other kinds).
    pub positions_closed: u64,
    /// Which price `price` is, for a stop-loss, a take-profit, a liquidation or a partial
    /// liquidation (`MARGIN_EVF_FILL`); `None` for every other event (and from a library
    /// without the field).
    pub fill: Option<FillPrice>,
    /// The point of a candle's path ([`Engine::mark_candle`](crate::Engine::mark_candle))
    /// at which the event happened: 1 the open, 2 and 3 the extremes in path order, 4 the
    /// close; 0 for events of every other call (`MARGIN_EVF_PATH_POINT`).
    pub path_point: u8,
    /// [`EventKind::Adl`]: the bankrupt position it was deleveraged against
    /// (`MARGIN_EVF_COUNTERPARTY`); `None` for every other event.
    pub counterparty: Option<PositionId>,
    /// [`EventKind::Liquidation`] of a bankrupt position with auto-deleveraging on: the
    /// part of its deficit that auto-deleveraging covered (`MARGIN_EVF_ADL_COVERED`, the
    /// sum of the `insurance_delta` of the [`EventKind::Adl`] events that follow); the
    /// pool paid `-insurance_delta - adl_covered`. 0 otherwise.
    pub adl_covered: Decimal,
}

/// Number of `MARGIN_EVF_*` fields this binding knows (1 to `MARGIN_EVF_ADL_COVERED`).
pub(crate) const FIELD_COUNT: usize = sys::MARGIN_EVF_ADL_COVERED as usize;

/// Every field of the current event in one `margin_event_fields` call: `out[f]` is field
/// `f`. `out[0]` is the number of fields the library knows; a field past it (such as
/// `MARGIN_EVF_MODE` from a library that knows 22) is set to 0 here.
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
    let known = usize::try_from(out[0]).unwrap_or(0).min(FIELD_COUNT);
    for v in out.iter_mut().skip(known + 1) {
        *v = 0;
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
    // A cross liquidation reports the number of positions closed in the quantity field.
    let (qty, positions_closed) = if kind == EventKind::CrossLiquidation {
        let n = get(e, sys::MARGIN_EVF_QTY)?;
        (Decimal::new(0, qs)?, crate::types::count(n, "positions closed")?)
    } else {
        (dec(sys::MARGIN_EVF_QTY, qs)?, 0)
    };
    Ok(Event {
        seq: get(e, sys::MARGIN_EVF_SEQ)? as u64,
        time: get(e, sys::MARGIN_EVF_TIME)?,
        kind,
        account: id(get(e, sys::MARGIN_EVF_ACCOUNT)?).map(AccountId::from_raw),
        market: market.map(MarketId::from_raw),
        position: id(get(e, sys::MARGIN_EVF_POSITION)?).map(PositionId::from_raw),
        side: Side::from_raw(get(e, sys::MARGIN_EVF_SIDE)?),
        price: dec(sys::MARGIN_EVF_PRICE, ps)?,
        qty,
        position_qty: dec(sys::MARGIN_EVF_POSITION_QTY, qs)?,
        entry_price: dec(sys::MARGIN_EVF_ENTRY_PRICE, ps)?,
        margin: money(sys::MARGIN_EVF_MARGIN)?,
        amount: money(sys::MARGIN_EVF_AMOUNT)?,
        realized_pnl: money(sys::MARGIN_EVF_REALIZED_PNL)?,
        fee: money(sys::MARGIN_EVF_FEE)?,
        // 0 and i64::MAX (an inverse short that cannot be liquidated): none
        liq_price: if liq == 0 || liq == i64::MAX {
            None
        } else {
            Some(Decimal::new(liq, ps)?)
        },
        bankruptcy_price: dec(sys::MARGIN_EVF_BANKRUPTCY_PRICE, ps)?,
        insurance_delta: money(sys::MARGIN_EVF_INSURANCE_DELTA)?,
        margin_ratio: ratio_or_infinite(ratio)?,
        level: rate(sys::MARGIN_EVF_LEVEL)?,
        free_balance: money(sys::MARGIN_EVF_FREE_BALANCE)?,
        leverage: rate(sys::MARGIN_EVF_LEVERAGE)?,
        mode: Mode::from_raw(get(e, sys::MARGIN_EVF_MODE)?),
        positions_closed,
        fill: match get(e, sys::MARGIN_EVF_FILL)? {
            0 => None,
            v => Some(FillPrice::from_raw(v)),
        },
        path_point: u8::try_from(get(e, sys::MARGIN_EVF_PATH_POINT)?).unwrap_or(0),
        counterparty: id(get(e, sys::MARGIN_EVF_COUNTERPARTY)?).map(PositionId::from_raw),
        adl_covered: money(sys::MARGIN_EVF_ADL_COVERED)?,
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
