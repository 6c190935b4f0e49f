//! Every error path returns a typed error (never a panic or a crash), carries a message,
//! and leaves the engine as it was.

mod common;
use common::{d, setup};
use margin::{
    AccountId, Engine, ErrorKind, Fill, MarketId, MarketOption, OpenOptions, PositionId, Side, Tier,
};

/// Asserts that `r` failed with `kind` and a non-empty message; for errors reported by
/// the engine, the message is the engine's own `margin_errmsg` at that moment.
#[track_caller]
fn expect<T: std::fmt::Debug>(r: margin::Result<T>, kind: ErrorKind) -> margin::Error {
    let err = r.expect_err("the call must fail");
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.code(), kind.code());
    assert!(!err.message().is_empty(), "{kind:?} without a message");
    assert!(err.to_string().contains(err.message()));
    err
}

#[test]
fn invalid_arguments() {
    let (mut e, btc, a) = setup("1000");
    let before = e.account(a).unwrap();
    let err = expect(e.deposit(a, "0"), ErrorKind::Invalid);
    assert_eq!(
        e.last_error().unwrap(),
        err,
        "the engine's code and message"
    );
    expect(e.deposit(a, "-5"), ErrorKind::Invalid);
    expect(e.withdraw(a, "0"), ErrorKind::Invalid);
    // Neither leverage nor margin.
    expect(
        e.open_with(a, btc, Side::Long, "0.1", "20000", OpenOptions::default()),
        ErrorKind::Invalid,
    );
    expect(
        e.open(a, btc, Side::Long, "0", "20000", "20"),
        ErrorKind::Invalid,
    );
    expect(
        e.open(a, btc, Side::Long, "0.1", "-1", "20"),
        ErrorKind::Invalid,
    );
    expect(e.mark_update(btc, "0"), ErrorKind::Invalid);
    expect(e.mark_update(btc, "-19000"), ErrorKind::Invalid);
    expect(e.funding(btc, "1", "20000"), ErrorKind::Invalid); // |rate| must be < 1
    expect(e.funding(btc, "-1.5", "20000"), ErrorKind::Invalid);
    expect(e.set_margin_call_levels(["1"]), ErrorKind::Invalid);
    expect(e.set_margin_call_levels(["0"]), ErrorKind::Invalid);
    expect(
        e.set_margin_call_levels([
            "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9",
        ]),
        ErrorKind::Invalid,
    );
    expect(
        e.set_market_option(btc, MarketOption::PriceScale(19)),
        ErrorKind::Invalid,
    );
    expect(
        e.set_market_option(btc, MarketOption::TakerFee(d("1.5"))),
        ErrorKind::Invalid,
    );
    expect(e.market_new(""), ErrorKind::Invalid);
    expect(e.market_new("NUL\0INSIDE"), ErrorKind::Invalid); // found by the binding
    expect(
        e.market_new("WAY_TOO_LONG_A_SYMBOL_FOR_THIS_LIBRARY"),
        ErrorKind::Invalid,
    );
    expect(
        e.add_tier(btc, &Tier::new("0", "1").unwrap()),
        ErrorKind::Invalid,
    ); // mmr < 1
    expect(e.figures(PositionId::from_raw(1), "1"), ErrorKind::NotFound);
    // Nothing changed.
    assert_eq!(e.account(a).unwrap(), before);
    assert_eq!(e.open_positions().unwrap(), 0);
}

#[test]
fn unknown_ids() {
    let (mut e, btc, a) = setup("1000");
    let ghost_a = AccountId::from_raw(99);
    let ghost_m = MarketId::from_raw(42);
    let ghost_p = PositionId::from_raw(7);
    expect(e.deposit(ghost_a, "1"), ErrorKind::NotFound);
    expect(e.account(ghost_a), ErrorKind::NotFound);
    expect(e.mark_update(ghost_m, "1"), ErrorKind::NotFound);
    expect(e.market(ghost_m), ErrorKind::NotFound);
    expect(
        e.open(a, ghost_m, Side::Long, "1", "1", "1"),
        ErrorKind::NotFound,
    );
    expect(
        e.open(ghost_a, btc, Side::Long, "1", "1", "1"),
        ErrorKind::NotFound,
    );
    let err = expect(e.position(ghost_p), ErrorKind::NotFound);
    // Queries report the engine's own message too.
    assert_eq!(Some(err.clone()), e.last_error());
    assert!(err.message().contains('7'), "{}", err.message());
    expect(e.close(ghost_p, "1", Fill::Taker), ErrorKind::NotFound);
    expect(e.add_margin(ghost_p, "1"), ErrorKind::NotFound);
    expect(e.liquidation_price(ghost_p), ErrorKind::NotFound);
    expect(e.market_find("NOPE"), ErrorKind::NotFound);
    expect(e.tier(btc, 5), ErrorKind::Invalid); // index out of range
                                                // Ids of another engine mean nothing here.
    let mut other = Engine::new().unwrap();
    let _ = other.account_new().unwrap();
    let far = other.account_new().unwrap(); // id 2: this engine has only account 1
    expect(e.deposit(far, "1"), ErrorKind::NotFound);
    assert_eq!(e.market_find("BTCUSDT").unwrap(), btc);
}

#[test]
fn closed_positions() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    e.close(p, "20000", Fill::Taker).unwrap();
    expect(e.close(p, "20000", Fill::Taker), ErrorKind::Closed);
    expect(
        e.trade(p, Side::Long, "0.1", "20000", Fill::Taker),
        ErrorKind::Closed,
    );
    expect(e.add_margin(p, "1"), ErrorKind::Closed);
    expect(e.remove_margin(p, "1"), ErrorKind::Closed);
    expect(e.set_leverage(p, "10"), ErrorKind::Closed);
    expect(e.set_stops(p, d("1"), margin::Stop::None), ErrorKind::Closed);
    expect(e.figures(p, "20000"), ErrorKind::Closed);
    expect(e.liquidation_price(p), ErrorKind::Closed);
    // Stored figures stay readable.
    assert_eq!(e.position(p).unwrap().status, margin::Status::Closed);
}

#[test]
fn insufficient_funds_leverage_margin_grid_state_exists_notsup() {
    let (mut e, btc, a) = setup("100");
    let before = e.account(a).unwrap();
    expect(e.withdraw(a, "100.00000001"), ErrorKind::Funds);
    // 100 of margin + 0.8 of fee > 100.
    expect(
        e.open(a, btc, Side::Long, "0.1", "20000", "20"),
        ErrorKind::Funds,
    );
    expect(
        e.open(a, btc, Side::Long, "0.001", "20000", "126"),
        ErrorKind::Leverage,
    );
    expect(
        e.open(a, btc, Side::Long, "0.001", "20000", "0.5"),
        ErrorKind::Leverage,
    );
    // Margin below Q*E/L = 2 (0.001*20000/10).
    let opts = OpenOptions {
        leverage: Some(d("10")),
        margin: Some(d("1.99999999")),
        ..Default::default()
    };
    expect(
        e.open_with(a, btc, Side::Long, "0.001", "20000", opts),
        ErrorKind::Margin,
    );
    let cross = OpenOptions {
        leverage: Some(d("10")),
        cross: true,
        ..Default::default()
    };
    // The cross flag in a market where the account is isolated: a state error (the flag
    // must agree with the account's mode in the market).
    expect(
        e.open_with(a, btc, Side::Long, "0.001", "20000", cross),
        ErrorKind::State,
    );
    expect(e.market_new("BTCUSDT"), ErrorKind::Exists);
    assert_eq!(e.account(a).unwrap(), before, "failed calls change nothing");

    // Grid: tick 0.5 and step 0.001.
    e.set_market_option(btc, MarketOption::Tick(d("0.5")))
        .unwrap();
    e.set_market_option(btc, MarketOption::Step(d("0.001")))
        .unwrap();
    expect(
        e.open(a, btc, Side::Long, "0.001", "20000.25", "10"),
        ErrorKind::Grid,
    );
    expect(
        e.open(a, btc, Side::Long, "0.0015", "20000", "10"),
        ErrorKind::Grid,
    );
    let p = e
        .open(a, btc, Side::Long, "0.001", "20000.5", "10")
        .unwrap();
    expect(e.close(p, "20000.1", Fill::Taker), ErrorKind::Grid);
    // State: tiers and scales cannot change under an open position.
    expect(
        e.add_tier(btc, &Tier::new("0", "0.01").unwrap()),
        ErrorKind::State,
    );
    expect(
        e.set_market_option(btc, MarketOption::PriceScale(2)),
        ErrorKind::State,
    );
    // Leverage above the market's maximum.
    expect(e.set_leverage(p, "200"), ErrorKind::Leverage);
    // More than the removable margin.
    expect(e.remove_margin(p, "1000"), ErrorKind::Margin);
}

#[test]
fn overflow() {
    let mut e = Engine::new().unwrap();
    let a = e.account_new().unwrap();
    // The largest money amount is 92233720368.54775807 (i64::MAX at scale 8).
    e.deposit(a, "92233720368").unwrap();
    expect(e.deposit(a, "1"), ErrorKind::Overflow);
    assert_eq!(e.account(a).unwrap().free_balance, d("92233720368"));
    // Found by the binding: no i64 holds it at scale 8.
    expect(e.deposit(a, "92233720369"), ErrorKind::Overflow);
}

#[test]
fn values_the_binding_rejects_before_the_call() {
    let (mut e, btc, a) = setup("1000");
    for bad in ["1e3", "abc", "", " 1", "1.", "NaN", "inf", "0x10"] {
        let err = expect(e.deposit(a, bad), ErrorKind::Parse);
        assert!(err.message().starts_with("deposit:"), "{}", err.message());
    }
    // More decimals than the scale: never rounded.
    expect(e.deposit(a, "0.000000001"), ErrorKind::Range);
    e.set_market_option(btc, MarketOption::PriceScale(2))
        .unwrap();
    expect(
        e.open(a, btc, Side::Long, "0.1", "20000.001", "20"),
        ErrorKind::Range,
    );
    expect(e.mark_update(btc, "19000.005"), ErrorKind::Range);
    expect(
        e.set_market_option(btc, MarketOption::Tick(d("0.001"))),
        ErrorKind::Range,
    );
    assert_eq!(e.account(a).unwrap().free_balance, d("1000"));
    assert_eq!(
        e.last_seq().unwrap(),
        1,
        "only the setup deposit produced an event"
    );
}

#[test]
fn errors_display_kind_and_message() {
    let (mut e, _btc, a) = setup("1");
    let err = e.withdraw(a, "2").unwrap_err();
    let text = err.to_string();
    assert!(text.contains(err.message()));
    assert!(text.contains(ErrorKind::Funds.description()), "{text}");
    assert_eq!(ErrorKind::from_code(-8), ErrorKind::Funds);
    assert_eq!(ErrorKind::from_code(-999), ErrorKind::Other(-999));
    assert!(!ErrorKind::Other(-999).description().is_empty());
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(!boxed.to_string().is_empty());
}

/// A profitable close or reduce that would push the free balance past the largest money
/// amount (i64::MAX units = 92233720368.54775807) must fail with Overflow and change
/// nothing (margin.h: "EOVERFLOW An amount does not fit"; "A failed call leaves the engine
/// exactly as it was").
#[test]
fn close_that_would_overflow_the_free_balance() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "92233720368").unwrap();
    let p = e.open(a, m, Side::Long, "0.1", "20000", "20").unwrap();
    // Free: 92233720368 - 100 (margin) - 0.8 (fee) = 92233720267.2.
    let before = e.account(a).unwrap();
    assert_eq!(before.free_balance, d("92233720267.2"));
    let pos_before = e.position(p).unwrap();
    // Close at 22000: 92233720267.2 + 100 (margin) + 200 (PnL) - 0.88 (fee)
    // = 92233720566.32 > 92233720368.54775807.
    expect(e.close(p, "22000", Fill::Taker), ErrorKind::Overflow);
    assert_eq!(
        e.account(a).unwrap(),
        before,
        "a failed close changed the account"
    );
    assert_eq!(
        e.position(p).unwrap(),
        pos_before,
        "a failed close changed the position"
    );
    // Reduce by 0.05 at 22000: + 50 (margin) + 100 (PnL) - 0.44 = 92233720416.76, too big.
    expect(
        e.trade(p, Side::Short, "0.05", "22000", Fill::Taker),
        ErrorKind::Overflow,
    );
    assert_eq!(
        e.account(a).unwrap(),
        before,
        "a failed reduce changed the account"
    );
    // Once there is room, the same close works: 92233719267.2 + 300 - 0.88.
    e.withdraw(a, "1000").unwrap();
    e.close(p, "22000", Fill::Taker).unwrap();
    let after = e.account(a).unwrap();
    assert_eq!(after.free_balance, d("92233719566.32"));
    assert_eq!(after.fees, d("1.68"));
    assert_eq!(after.realized_pnl, d("200"));
}
