//! Safe Rust bindings of libmargin: exact isolated- and cross-margin accounting of
//! leveraged futures and perpetual positions, as a crypto exchange's risk engine keeps it.
//!
//! - [`Engine`] owns everything (markets, accounts, positions, events) and frees it on
//!   drop. It is `Send` but not `Sync`: one thread at a time.
//! - Markets, accounts and positions are named by typed ids ([`MarketId`], [`AccountId`],
//!   [`PositionId`]) that stay valid after a position is closed or liquidated.
//! - Every amount is an exact [`Decimal`] (an `i64` mantissa and a scale); no `f64`
//!   anywhere. Inputs take anything [`IntoDecimal`]: a `Decimal`, an integer or a decimal
//!   string.
//! - Every fallible call returns [`Result`]`<T, `[`Error`]`>`, where the error carries a
//!   typed [`ErrorKind`] (one per C status code) and the engine's message.
//! - What the engine did (fills, funding, margin calls, liquidations) comes out as typed
//!   [`Event`]s, from [`Engine::events`] or a callback.
//! - A market is linear (USDT-margined, the default) or inverse (coin-margined:
//!   [`Contract`], [`MarketOption::ContractSize`]), with quantities in contracts and money
//!   in the coin; the markets of one engine settle in one asset ([`ErrorKind::Asset`]).
//! - Each account is isolated or cross per market ([`Engine::set_account_mode`],
//!   [`Mode`]); a cross account's figures are in [`AccountInfo`], and how it is
//!   liquidated is an engine option ([`Engine::set_cross_liquidation`]).
//! - The whole engine saves to bytes or a file and loads back ([`Engine::save`],
//!   [`Engine::load`], [`Engine::save_file`], [`Engine::load_file`]); [`Engine::state_hash`]
//!   compares replicas. An engine can take its memory from an [`Allocator`] of yours.
//!
//! ```
//! use margin::{Decimal, Engine, EventKind, Side};
//!
//! # fn main() -> Result<(), margin::Error> {
//! let mut engine = Engine::new()?;
//! let btc = engine.market_new("BTCUSDT")?;
//! let alice = engine.account_new()?;
//! engine.deposit(alice, "1000")?;
//! let pos = engine.open(alice, btc, Side::Long, "0.1", "20000", "20")?; // 100 USDT at 20x
//! engine.mark_update(btc, "19000")?; // the bankruptcy price: below the liquidation price
//! assert!(engine.events().any(|e| e.kind == EventKind::Liquidation));
//! assert_eq!(engine.position(pos)?.status, margin::Status::Liquidated);
//! assert_eq!(engine.account(alice)?.realized_pnl, Decimal::from(-100));
//! # Ok(())
//! # }
//! ```
//!
//! The raw declarations are in the `margin_sys` crate, re-exported as [`sys`].

#![warn(missing_docs)]

mod decimal;
mod engine;
mod error;
mod event;
mod types;

pub use margin_sys as sys;

pub use decimal::{Decimal, IntoDecimal, Rounding, MAX_SCALE, MONEY_SCALE, RATE_SCALE};
pub use engine::{Allocator, Engine};
pub use error::{strerror, Error, ErrorKind, Result};
pub use event::{Event, EventKind, Events};
pub use types::{
    AccountId, AccountInfo, AdlRanking, CandlePath, Contract, CrossLiquidationPolicy, Figure, Figures, Fill, FillPrice, IntoStop,
    LiqFeeBasis, LiquidationFill, LiquidationPolicy, MarketId, MarketInfo, MarketOption, MmBasis,
    Mode, OpenOptions, PositionId, PositionInfo, Side, Status, Stop, StopFill, Tier,
};

use std::ffi::CStr;

/// The version of the loaded library, such as `"0.1.0"` (`margin_version_string`).
///
/// ```
/// let v = margin::version();
/// assert_eq!(v.split('.').count(), 3);
/// ```
pub fn version() -> &'static str {
    // SAFETY: a static NUL-terminated string owned by the library; thread-safe.
    let p = unsafe { sys::margin_version_string() };
    if p.is_null() {
        return "";
    }
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
}

/// The version of the loaded library as `major * 10000 + minor * 100 + patch`.
pub fn version_number() -> i32 {
    // SAFETY: no arguments, thread-safe.
    unsafe { sys::margin_version_number() }
}

/// The README's examples, compiled and run as doc tests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
