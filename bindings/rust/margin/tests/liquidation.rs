//! Liquidation as venues run it (issue 13) through the safe wrapper: the partial
//! liquidation policies, the clearance fee and the fill prices. Every expected value is a
//! hand calculation written beside it (the worked checks among them).

mod common;
use common::d;
use margin::{
    AccountId, CandlePath, Decimal, Engine, ErrorKind, Event, EventKind, FillPrice, LiqFeeBasis,
    LiquidationFill, LiquidationPolicy, MarketId, MarketOption, OpenOptions, PositionId,
    Side, Status, StopFill, Tier,
};

fn drain(e: &mut Engine) -> Vec<Event> {
    e.events().collect()
}

/// The first worked check: long 10 BTC at 50,000 with margin 25,000 (20x), one
/// tier at mmr 0.5 % (cum 0), step 0.0001, no trading fee; `extra` market options.
/// At the mark 47,700: equity 25,000 + 10*(47,700 - 50,000) = 2,000 < MM
/// 10*47,700*0.005 = 2,385: liquidatable. Bankruptcy price: 25,000 + 10*(BP - 50,000) = 0
/// -> 47,500; liquidation price: 25,000 + 10*(P - 50,000) = 0.05*P -> 475,000/9.95.
fn ten_btc(price_scale: u32, extra: &[MarketOption]) -> (Engine, MarketId, AccountId, PositionId) {
    let mut e = Engine::new().unwrap();
    let mut opts = vec![
        MarketOption::PriceScale(price_scale),
        MarketOption::MakerFee(Decimal::ZERO),
        MarketOption::TakerFee(Decimal::ZERO),
        MarketOption::Step(d("0.0001")),
    ];
    opts.extend_from_slice(extra);
    let m = e.market_with("BTCUSDT", &opts).unwrap();
    e.add_tier(m, &Tier::new("0", "0.005").unwrap().with_maint_amount("0").unwrap())
        .unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "100000").unwrap();
    let p = e.open(a, m, Side::Long, "10", "50000", "20").unwrap();
    assert_eq!(e.position(p).unwrap().margin, d("25000")); // 500,000 / 20
    drain(&mut e);
    (e, m, a, p)
}

fn one(e: &mut Engine) -> Event {
    let mut v = drain(e);
    assert_eq!(v.len(), 1, "{v:?}");
    v.pop().unwrap()
}

#[test]
fn options_default_and_round_trip() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let i = e.market(m).unwrap();
    // Every default keeps 0.1.0's behaviour (margin.h).
    assert_eq!(i.liq_fee, Decimal::ZERO);
    assert_eq!(i.liq_fee_basis, LiqFeeBasis::Fill);
    assert_eq!(i.liq_fill, LiquidationFill::Mark);
    assert_eq!(i.stop_fill, StopFill::Mark);
    assert_eq!(i.liq_policy, LiquidationPolicy::Full);
    assert_eq!(i.slice_threshold, d("100000"));
    assert_eq!(i.slice_fraction, d("0.2"));
    assert_eq!(i.slice_cooldown, 30000);
    assert_eq!(i.slice_backstop, d("0.66666667"));
    for o in [
        MarketOption::LiqFee(d("0.0125")),
        MarketOption::LiqFeeBasis(LiqFeeBasis::Mark),
        MarketOption::LiqFill(LiquidationFill::Bankruptcy),
        MarketOption::StopFill(StopFill::Trigger),
        MarketOption::LiqPolicy(LiquidationPolicy::Slices),
        MarketOption::SliceThreshold(d("250000")),
        MarketOption::SliceFraction(d("0.25")),
        MarketOption::SliceCooldown(5000),
        MarketOption::SliceBackstop(d("0.5")),
    ] {
        e.set_market_option(m, o).unwrap();
    }
    let i = e.market(m).unwrap();
    assert_eq!(i.liq_fee, d("0.0125"));
    assert_eq!(i.liq_fee_basis, LiqFeeBasis::Mark);
    assert_eq!(i.liq_fill, LiquidationFill::Bankruptcy);
    assert_eq!(i.stop_fill, StopFill::Trigger);
    assert_eq!(i.liq_policy, LiquidationPolicy::Slices);
    assert_eq!(i.slice_threshold, d("250000"));
    assert_eq!(i.slice_fraction, d("0.25"));
    assert_eq!(i.slice_cooldown, 5000);
    assert_eq!(i.slice_backstop, d("0.5"));
    let err = e
        .set_market_option(m, MarketOption::LiqPolicy(LiquidationPolicy::Other(9)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(LiquidationPolicy::from_raw(2), LiquidationPolicy::TierDown);
    assert_eq!(FillPrice::from_raw(4), FillPrice::Bankruptcy);
    assert_eq!(EventKind::from_raw(16), Some(EventKind::PartialLiquidation));
}

#[test]
fn min_reduce_without_fee() {
    let (mut e, m, a, p) = ten_btc(8, &[MarketOption::LiqPolicy(LiquidationPolicy::MinReduce)]);
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::PartialLiquidation);
    // q = (Q*P*mmr - cum - Eq) / (P*(mmr - f)) = (2,385 - 0 - 2,000) / 238.5 = 1.61425...,
    // up to the step: 1.6143 (1.6142 leaves MM 8.3858*238.5 = 2,000.0133 > Eq 2,000).
    assert_eq!(ev.qty, d("1.6143"));
    assert_eq!(ev.price, d("47700"));
    assert_eq!(ev.fill, Some(FillPrice::Mark));
    assert_eq!(ev.fee, Decimal::ZERO);
    // PnL of the part 1.6143*(-2,300) = -3,712.89, taken from the margin.
    assert_eq!(ev.realized_pnl, d("-3712.89"));
    assert_eq!(ev.amount, d("-3712.89"));
    assert_eq!(ev.margin, d("21287.11"));
    assert_eq!(ev.position_qty, d("8.3857"));
    assert_eq!(ev.insurance_delta, Decimal::ZERO);
    // Remainder's liquidation price: 21,287.11 + 8.3857*(P - 50,000) = 8.3857*0.005*P
    // -> P = 397,997.89 / 8.3437715 = 47,699.998735583..., up at scale 8.
    assert_eq!(ev.liq_price, Some(d("47699.99873559")));
    let pi = e.position(p).unwrap();
    assert_eq!((pi.status, pi.qty, pi.margin), (Status::Open, d("8.3857"), d("21287.11")));
    let ai = e.account(a).unwrap();
    assert_eq!(ai.free_balance, d("75000")); // 100,000 - 25,000: untouched
    assert_eq!(ai.realized_pnl, d("-3712.89"));
}

#[test]
fn min_reduce_with_fee() {
    let (mut e, m, a, _) = ten_btc(
        8,
        &[
            MarketOption::LiqPolicy(LiquidationPolicy::MinReduce),
            MarketOption::LiqFee(d("0.001")),
        ],
    );
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::PartialLiquidation);
    // q = 385 / (47,700*(0.005 - 0.001)) = 385 / 190.8 = 2.01781..., up: 2.0179.
    assert_eq!(ev.qty, d("2.0179"));
    // Fee 2.0179*47,700*0.001 = 96.25383, to the insurance fund.
    assert_eq!(ev.fee, d("96.25383"));
    assert_eq!(ev.insurance_delta, d("96.25383"));
    assert_eq!(ev.realized_pnl, d("-4641.17")); // 2.0179*(-2,300)
    // Margin 25,000 - 4,641.17 - 96.25383 = 20,262.57617; remainder 7.9821 BTC with
    // equity 20,262.57617 - 7.9821*2,300 = 1,903.74617 > MM 7.9821*238.5 = 1,903.73085.
    assert_eq!(ev.margin, d("20262.57617"));
    assert_eq!(ev.position_qty, d("7.9821"));
    assert_eq!(e.insurance_fund().unwrap(), d("96.25383"));
    assert_eq!(e.account(a).unwrap().fees, d("96.25383"));
}

#[test]
fn min_reduce_fee_at_mmr_closes_in_full() {
    let (mut e, m, a, p) = ten_btc(
        8,
        &[
            MarketOption::LiqPolicy(LiquidationPolicy::MinReduce),
            MarketOption::LiqFee(d("0.01")),
        ],
    );
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    // f_liq 0.01 >= mmr 0.005: no partial sale helps; in full at the mark.
    assert_eq!(ev.kind, EventKind::Liquidation);
    assert_eq!((ev.qty, ev.price), (d("10"), d("47700")));
    assert_eq!(ev.fill, Some(FillPrice::Mark));
    // Fee 10*47,700*0.01 = 4,770, capped at the 2,000 left at the fill; the holder loses
    // the margin: realized 2,000 - 25,000.
    assert_eq!(ev.fee, d("2000"));
    assert_eq!(ev.realized_pnl, d("-23000"));
    assert_eq!(ev.amount, d("-25000"));
    assert_eq!(ev.insurance_delta, d("2000"));
    assert_eq!(e.position(p).unwrap().status, Status::Liquidated);
    assert_eq!(e.account(a).unwrap().free_balance, d("75000"));
}

#[test]
fn clearance_fee_in_full_at_the_mark() {
    let (mut e, m, a, _) = ten_btc(8, &[MarketOption::LiqFee(d("0.004"))]);
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::Liquidation);
    // Fee 10*47,700*0.004 = 1,908 < 2,000 left: charged in full; realized
    // 0 kept + 1,908 - 25,000 = -23,092; the fund gets all 2,000 left at the mark.
    assert_eq!(ev.fee, d("1908"));
    assert_eq!(ev.realized_pnl, d("-23092"));
    assert_eq!(ev.insurance_delta, d("2000"));
    assert_eq!(e.insurance_fund().unwrap(), d("2000"));
    let ai = e.account(a).unwrap();
    assert_eq!((ai.fees, ai.free_balance), (d("1908"), d("75000")));
}

#[test]
fn fill_at_the_bankruptcy_price() {
    let (mut e, m, a, _) = ten_btc(
        8,
        &[
            MarketOption::LiqFill(LiquidationFill::Bankruptcy),
            MarketOption::LiqFee(d("0.0125")),
        ],
    );
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::Liquidation);
    // BP 47,500: the holder has nothing left there, so no fee, and loses exactly the
    // margin; the fund takes over 10 BTC at 47,500 worth 47,700: +2,000.
    assert_eq!(ev.bankruptcy_price, d("47500"));
    assert_eq!(ev.price, d("47500"));
    assert_eq!(ev.fill, Some(FillPrice::Bankruptcy));
    assert_eq!(ev.fee, Decimal::ZERO);
    assert_eq!(ev.realized_pnl, d("-25000"));
    assert_eq!(ev.amount, d("-25000"));
    assert_eq!(ev.insurance_delta, d("2000"));
    let ai = e.account(a).unwrap();
    assert_eq!((ai.free_balance, ai.realized_pnl), (d("75000"), d("-25000")));
}

#[test]
fn fill_at_the_liquidation_price() {
    // Price scale 2: 475,000/9.95 = 47,738.6934..., a long's rounded up: 47,738.70.
    let (mut e, m, a, p) = ten_btc(
        2,
        &[
            MarketOption::LiqFill(LiquidationFill::LiqPrice),
            MarketOption::LiqFee(d("0.001")),
        ],
    );
    assert_eq!(e.position(p).unwrap().liq_price, Some(d("47738.70")));
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::Liquidation);
    assert_eq!(ev.price, d("47738.70"));
    assert_eq!(ev.fill, Some(FillPrice::LiqPrice));
    // Left at the fill: 25,000 + 10*(47,738.70 - 50,000) = 2,387; fee 10*47,738.70*0.001
    // = 477.387; the holder keeps 2,387 - 477.387 = 1,909.613.
    assert_eq!(ev.fee, d("477.387"));
    assert_eq!(ev.realized_pnl, d("-22613")); // 1,909.613 + 477.387 - 25,000
    assert_eq!(ev.insurance_delta, d("477.387"));
    assert_eq!(e.account(a).unwrap().free_balance, d("76909.613")); // 75,000 + 1,909.613
}

#[test]
fn slices_cooldown() {
    let (mut e, m, _, p) = ten_btc(8, &[MarketOption::LiqPolicy(LiquidationPolicy::Slices)]);
    e.set_time(1000).unwrap();
    e.mark_update(m, "47700").unwrap();
    let ev = one(&mut e);
    // Notional 477,000 > the threshold 100,000; equity 2,000 >= the backstop
    // 0.66666667*2,385 = 1,590.00...: one slice of 20 %, 2 BTC at the mark.
    assert_eq!(ev.kind, EventKind::PartialLiquidation);
    assert_eq!(ev.qty, d("2"));
    assert_eq!(ev.realized_pnl, d("-4600")); // 2*(47,700 - 50,000)
    assert_eq!((ev.margin, ev.position_qty), (d("20400"), d("8")));
    // 8 BTC: equity 20,400 - 8*2,300 = 2,000 > MM 8*238.5 = 1,908: healthy. 10 s later
    // (within the 30 s cooldown), at 47,600: equity 20,400 - 8*2,400 = 1,200 < MM
    // 8*47,600*0.005 = 1,904: liquidated, in full because of the cooldown.
    e.set_time(11000).unwrap();
    e.mark_update(m, "47600").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::Liquidation);
    assert_eq!((ev.qty, ev.amount), (d("8"), d("-20400")));
    assert_eq!(e.position(p).unwrap().status, Status::Liquidated);
}

#[test]
fn slices_backstop_closes_in_full() {
    let (mut e, m, _, _) = ten_btc(8, &[MarketOption::LiqPolicy(LiquidationPolicy::Slices)]);
    e.mark_update(m, "47600").unwrap();
    let ev = one(&mut e);
    // Equity 25,000 - 10*2,400 = 1,000 < 0.66666667 * MM (10*47,600*0.005 = 2,380) =
    // 1,586.67: below the backstop, in full.
    assert_eq!((ev.kind, ev.qty), (EventKind::Liquidation, d("10")));
}

/// The second worked check: tiers T1 floor 0 at 0.5 % (cum 0), T2 floor 1,000,000
/// at 1 % (cum 5,000), T3 floor 2,000,000 at 1.5 % (cum 15,000); long 50 BTC entered at
/// 51,000 with margin `m0`; mark 50,000 (notional 2,500,000, T3: MM 37,500 - 15,000 =
/// 22,500); equity there m0 + 50*(50,000 - 51,000) = m0 - 50,000.
fn tier_down(m0: &str) -> Event {
    let mut e = Engine::new().unwrap();
    let m = e
        .market_with(
            "BTCUSDT",
            &[
                MarketOption::MakerFee(Decimal::ZERO),
                MarketOption::TakerFee(Decimal::ZERO),
                MarketOption::LiqPolicy(LiquidationPolicy::TierDown),
            ],
        )
        .unwrap();
    for (floor, mmr, cum) in [("0", "0.005", "0"), ("1000000", "0.01", "5000"), ("2000000", "0.015", "15000")] {
        e.add_tier(m, &Tier::new(floor, mmr).unwrap().with_maint_amount(cum).unwrap())
            .unwrap();
    }
    let a = e.account_new().unwrap();
    e.deposit(a, "200000").unwrap();
    let o = OpenOptions {
        margin: Some(d(m0)),
        ..OpenOptions::default()
    };
    let p = e.open_with(a, m, Side::Long, "50", "51000", o).unwrap();
    assert_eq!(e.position(p).unwrap().margin, d(m0));
    drain(&mut e);
    e.mark_update(m, "50000").unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::PartialLiquidation);
    assert_eq!((ev.price, ev.fee), (d("50000"), Decimal::ZERO));
    ev
}

#[test]
fn tier_down_equity_20000_sells_500000() {
    // m0 70,000: equity 20,000 < 22,500. Down to T2's cap 2,000,000 = 40 BTC: sell 10
    // (500,000); margin 70,000 - 10,000 = 60,000; equity 60,000 - 40,000 = 20,000 > MM
    // 2,000,000*0.015 - 15,000 = 15,000.
    let ev = tier_down("70000");
    assert_eq!(ev.qty, d("10"));
    assert_eq!(ev.realized_pnl, d("-10000"));
    assert_eq!(ev.margin, d("60000"));
    assert_eq!(ev.position_qty, d("40"));
    // In T2: 60,000 + 40*(P - 51,000) = 0.4*P - 5,000 -> P = 1,975,000/39.6
    // = 49,873.7373..., up at scale 8.
    assert_eq!(ev.liq_price, Some(d("49873.73737374")));
}

#[test]
fn tier_down_equity_14000_sells_1500000() {
    // m0 64,000: equity 14,000. To 40 BTC: equity 54,000 - 40,000 = 14,000 < 15,000, still
    // liquidatable. To T1's cap 1,000,000 = 20 BTC: sell 30 (1,500,000); margin 34,000;
    // equity 34,000 - 20,000 = 14,000 > MM 1,000,000*0.01 - 5,000 = 5,000.
    let ev = tier_down("64000");
    assert_eq!(ev.qty, d("30"));
    assert_eq!(ev.realized_pnl, d("-30000"));
    assert_eq!(ev.margin, d("34000"));
    assert_eq!(ev.position_qty, d("20"));
    // In T1: 34,000 + 20*(P - 51,000) = 0.1*P -> P = 986,000/19.9 = 49,547.7386934...
    assert_eq!(ev.liq_price, Some(d("49547.73869347")));
}

/// The stop example: a 20x long with a 2 % stop. Long 1 BTC at 50,000, 20x:
/// margin 2,500; stop-loss 49,000; no trading fee; mmr 0.5 % (liquidation price
/// 47,500/0.995 = 47,738.69..., below every price of the bar). Bar: open 50,000, high
/// 50,100, low 48,000, close 48,500 (closes down: path open, high, low, close).
fn stop_bar(fill: StopFill) -> Event {
    let mut e = Engine::new().unwrap();
    let m = e
        .market_with(
            "BTCUSDT",
            &[
                MarketOption::MakerFee(Decimal::ZERO),
                MarketOption::TakerFee(Decimal::ZERO),
                MarketOption::StopFill(fill),
            ],
        )
        .unwrap();
    e.add_tier(m, &Tier::new("0", "0.005").unwrap().with_maint_amount("0").unwrap())
        .unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "10000").unwrap();
    let p = e.open(a, m, Side::Long, "1", "50000", "20").unwrap();
    assert_eq!(e.position(p).unwrap().margin, d("2500")); // 50,000 / 20
    e.set_stops(p, d("49000"), None::<Decimal>).unwrap();
    e.mark_update(m, "50000").unwrap();
    drain(&mut e);
    e.mark_candle(m, "50000", "50100", "48000", "48500", CandlePath::UpDown)
        .unwrap();
    let ev = one(&mut e);
    assert_eq!(ev.kind, EventKind::StopLoss);
    // Points: 1 open 50,000, 2 high 50,100, 3 low 48,000: the stop is first reached on the
    // way to the low.
    assert_eq!(ev.path_point, 3);
    assert_eq!(e.market(m).unwrap().mark, Some(d("48500"))); // the close
    ev
}

#[test]
fn candle_stop_fills_at_its_price() {
    let ev = stop_bar(StopFill::Trigger);
    assert_eq!((ev.price, ev.fill), (d("49000"), Some(FillPrice::Trigger)));
    assert_eq!(ev.realized_pnl, d("-1000")); // 1*(49,000 - 50,000): -40 % of 2,500
}

#[test]
fn candle_stop_fills_at_the_mark() {
    let ev = stop_bar(StopFill::Mark);
    assert_eq!((ev.price, ev.fill), (d("48000"), Some(FillPrice::Mark)));
    assert_eq!(ev.realized_pnl, d("-2000")); // 1*(48,000 - 50,000): -80 % of 2,500
}

#[test]
fn candle_refusals_change_nothing() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    // High below the open: not a candle.
    let err = e.mark_candle(m, "100", "90", "80", "95", CandlePath::UpDown).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = e.mark_candle(m, "100", "110", "90", "95", CandlePath::Other(7)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(e.market(m).unwrap().mark, None);
}

/// The adverse path: a long (stop-loss 49,000, take-profit 51,000) and a short (stop-loss
/// 51,000, take-profit 49,000), each 1 BTC at 50,000, 20x (margin 2,500), in one account
/// with 10,000; no trading fee, mmr 0.5 %, stops fill at their price. Bar: open 50,000,
/// high 51,100, low 48,900, close 49,500 (closes down).
/// - up-down (open, high, low, close) for both: at the high (point 2) the short is stopped
///   at 51,000 (-1,000) and the long takes profit at 51,000 (+1,000): free 10,000;
/// - adverse: the short is stopped at the high (point 2, its adverse extreme, first in the
///   bar's order), the long walks open, low, high, close and is stopped at the low (point
///   2) at 49,000 (-1,000): free 10,000 - 2,000 = 8,000.
fn both_sides_bar(path: CandlePath) -> (Vec<(EventKind, u8, Decimal, Decimal)>, Decimal) {
    let mut e = Engine::new().unwrap();
    let m = e
        .market_with(
            "BTCUSDT",
            &[
                MarketOption::MakerFee(Decimal::ZERO),
                MarketOption::TakerFee(Decimal::ZERO),
                MarketOption::StopFill(StopFill::Trigger),
            ],
        )
        .unwrap();
    e.add_tier(m, &Tier::new("0", "0.005").unwrap().with_maint_amount("0").unwrap())
        .unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "10000").unwrap();
    e.mark_update(m, "50000").unwrap();
    let long = e.open(a, m, Side::Long, "1", "50000", "20").unwrap();
    let short = e.open(a, m, Side::Short, "1", "50000", "20").unwrap();
    e.set_stops(long, d("49000"), Some(d("51000"))).unwrap();
    e.set_stops(short, d("51000"), Some(d("49000"))).unwrap();
    drain(&mut e);
    e.mark_candle(m, "50000", "51100", "48900", "49500", path).unwrap();
    assert_eq!(e.market(m).unwrap().mark, Some(d("49500"))); // the close
    let mut out: Vec<_> = drain(&mut e)
        .into_iter()
        .map(|ev| {
            assert!(ev.position == Some(long) || ev.position == Some(short));
            (ev.position != Some(long), (ev.kind, ev.path_point, ev.price, ev.realized_pnl))
        })
        .collect();
    out.sort_by_key(|x| x.0); // the long first, then the short
    (out.into_iter().map(|x| x.1).collect(), e.account(a).unwrap().free_balance)
}

#[test]
fn candle_adverse_path() {
    let (updown, free) = both_sides_bar(CandlePath::UpDown);
    assert_eq!(
        updown,
        vec![
            (EventKind::TakeProfit, 2, d("51000"), d("1000")),
            (EventKind::StopLoss, 2, d("51000"), d("-1000")),
        ]
    );
    assert_eq!(free, d("10000"));
    let (adverse, free) = both_sides_bar(CandlePath::Adverse);
    assert_eq!(
        adverse,
        vec![
            (EventKind::StopLoss, 2, d("49000"), d("-1000")),
            (EventKind::StopLoss, 2, d("51000"), d("-1000")),
        ]
    );
    assert_eq!(free, d("8000"));
    // the constant as passed through
    let (other, _) = both_sides_bar(CandlePath::Other(1));
    assert_eq!(other, adverse);
}
