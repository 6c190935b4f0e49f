//! Helpers shared by the integration tests.
#![allow(dead_code)]

use margin::{AccountId, Decimal, Engine, MarketId};

/// A decimal from a literal (panics on a typo in the test itself).
pub fn d(s: &str) -> Decimal {
    s.parse()
        .unwrap_or_else(|e| panic!("bad literal {s:?}: {e}"))
}

/// |a - b| as a Decimal.
pub fn dist(a: Decimal, b: Decimal) -> Decimal {
    a.checked_sub(b)
        .and_then(|x| x.checked_abs())
        .expect("difference fits")
}

/// An engine with one default market ("BTCUSDT": scales 8, mmr 0.4 %, taker 0.04 %,
/// up to 125x) and one account holding `balance`.
pub fn setup(balance: &str) -> (Engine, MarketId, AccountId) {
    let mut e = Engine::new().expect("engine");
    let m = e.market_new("BTCUSDT").expect("market");
    let a = e.account_new().expect("account");
    e.deposit(a, balance).expect("deposit");
    (e, m, a)
}

pub mod story;
