//! The public test vectors of /work/shared/spec/margin-math.md, through the safe wrapper.
//! Each expected value is the spec's, or a hand calculation written out beside it.

mod common;
use common::{d, dist, setup};
use margin::{Decimal, Engine, EventKind, MarketOption, OpenOptions, Rounding, Side, Tier};

/// Seed example: long 0.1 at 20000, 100 USDT at 20x, mmr 0.4 %.
#[test]
fn seed_example_figures() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(info.margin, d("100")); // Q*E/L = 2000/20
    assert_eq!(info.leverage, d("20"));
    assert_eq!(info.entry_price, d("20000"));
    assert_eq!(info.qty, d("0.1"));
    // BP = E - M/Q = 20000 - 1000 = 19000 (5 % below entry).
    assert_eq!(e.bankruptcy_price(p).unwrap(), Some(d("19000")));
    // LP = (M + cum - s*Q*E) / (Q*mmr - s*Q) = (100 - 2000) / (0.0004 - 0.1)
    //    = 19000000/996 = 19076.305220883534..., a long rounds up: 19076.30522089.
    assert_eq!(e.liquidation_price(p).unwrap(), Some(d("19076.30522089")));
    assert_eq!(info.liq_price, Some(d("19076.30522089")));
    // The default 0.8 margin-call level is crossed where MM = 0.8 * balance:
    // P = 0.8*(M - Q*E) / (Q*(mmr - 0.8)) = -1520 / -0.0796 = 3800000/199
    //   = 19095.477386934..., a long rounds up: 19095.47738694.
    assert_eq!(e.margin_call_price(p).unwrap(), Some(d("19095.47738694")));
    let f = e.figures_at_last_mark(p).unwrap(); // no mark yet: the entry price
    assert_eq!(f.margin_call_price, Some(d("19095.47738694")));
    assert_eq!(f.mark, d("20000"));
    assert_eq!(f.notional, d("2000"));
    assert_eq!(f.initial_margin, d("100"));
    assert_eq!(f.unrealized_pnl, d("0"));
    assert_eq!(f.maint_margin, d("8")); // 2000 * 0.004
    assert_eq!(f.maint_rate, d("0.004"));
    assert_eq!(f.maint_amount, d("0"));
    assert_eq!(f.margin_ratio, Some(d("0.08"))); // 8 / 100
                                                 // Removable: max(0, min(M - MM, M + uPnL - Q*P/L)) = min(92, 0) = 0.
    assert_eq!(f.removable_margin, d("0"));
    // Opening fee 0.0004 * 2000 = 0.8 from the free balance: 1000 - 100 - 0.8.
    let acct = e.account(a).unwrap();
    assert_eq!(acct.free_balance, d("899.2"));
    assert_eq!(acct.isolated_margin, d("100"));
    assert_eq!(acct.fees, d("0.8"));
    assert_eq!(acct.equity, Some(d("999.2")));
    assert_eq!(acct.open_positions, 1);
}

/// Binance FAQ: long, margin 500, Q = 0.02 at 50000 (notional 1000), mmr 0.004, cum 0.
#[test]
fn binance_faq_liquidation_price() {
    let (mut e, btc, a) = setup("1000");
    let opts = OpenOptions {
        margin: Some(d("500")),
        ..Default::default()
    };
    let p = e
        .open_with(a, btc, Side::Long, "0.02", "50000", opts)
        .unwrap();
    // LP = (500 - 1000) / (0.02*0.004 - 0.02) = 500/0.01992 = 25100.4016064257..., up.
    let lp = e.liquidation_price(p).unwrap().unwrap();
    assert_eq!(lp, d("25100.40160643"));
    assert_eq!(lp.rescale(2, Rounding::HalfEven).unwrap(), d("25100.40")); // the FAQ's figure
    assert_eq!(e.position(p).unwrap().leverage, d("2")); // Q*E/M = 1000/500
}

/// freqtrade `test_get_liquidation_price`, isolated, M = Q*E/L, mmr 0.01.
/// Binance rows: cum 0.01, f 0; Gate rows: cum 0, f 0.0006 (close fee counted in the MM).
/// The spec's values are Python floats; the engine's are exact and rounded at the 8th
/// decimal against the holder (and M = Q*E/L itself is rounded up at L = 3), so each must
/// be within one unit of the 8th decimal (1e-8) of the spec's.
#[test]
fn freqtrade_liquidation_prices() {
    let rows: &[(&str, Side, &str, &str, &str, &str)] = &[
        (
            "binance",
            Side::Short,
            "5",
            "10",
            "1.0",
            "11.89108910891089",
        ),
        (
            "binance",
            Side::Short,
            "3",
            "10",
            "1.0",
            "13.211221122079207",
        ),
        ("binance", Side::Short, "5", "8", "1.0", "9.514851485148514"),
        (
            "binance",
            Side::Short,
            "5",
            "10",
            "0.6",
            "11.897689768976898",
        ),
        ("binance", Side::Long, "5", "10", "1.0", "8.070707070707071"),
        ("binance", Side::Long, "5", "8", "1.0", "6.454545454545454"),
        ("binance", Side::Long, "3", "10", "1.0", "6.723905723905723"),
        ("binance", Side::Long, "5", "10", "0.6", "8.063973063973064"),
        ("gate", Side::Short, "5", "10", "1.0", "11.87413417771621"),
        ("gate", Side::Short, "3", "10", "1.0", "13.193482419684678"),
        ("gate", Side::Short, "5", "8", "1.0", "9.499307342172967"),
        ("gate", Side::Long, "5", "10", "1.0", "8.085708510208207"),
        ("gate", Side::Long, "3", "10", "1.0", "6.738090425173506"),
    ];
    let one_unit = d("0.00000001");
    for (i, &(venue, side, lev, entry, qty, want)) in rows.iter().enumerate() {
        let mut e = Engine::new().unwrap();
        let m = e.market_new(&format!("ROW{i}")).unwrap();
        let tier = if venue == "binance" {
            Tier::new("0", "0.01")
                .unwrap()
                .with_maint_amount("0.01")
                .unwrap()
        } else {
            e.set_market_option(m, MarketOption::CloseFee(d("0.0006")))
                .unwrap();
            Tier::new("0", "0.01")
                .unwrap()
                .with_maint_amount("0")
                .unwrap()
        };
        e.add_tier(m, &tier).unwrap();
        let a = e.account_new().unwrap();
        e.deposit(a, "100").unwrap();
        let p = e.open(a, m, side, qty, entry, lev).unwrap();
        let lp = e
            .liquidation_price(p)
            .unwrap()
            .expect("has a liquidation price");
        let gap = dist(lp, d(want));
        assert!(
            gap < one_unit,
            "row {i} ({venue} {side:?} L={lev} E={entry} Q={qty}): got {lp}, spec {want}"
        );
    }
}

/// Two rows checked exactly by hand (the rounding direction included).
#[test]
fn freqtrade_rows_exact() {
    // Binance short, L 5, E 10, Q 1: M = 2, LP = (2 + 0.01 + 10)/(0.01 + 1) = 12.01/1.01
    // = 11.891089108910891089..., a short rounds down: 11.89108910.
    // Binance long, same: LP = (2 + 0.01 - 10)/(0.01 - 1) = 7.99/0.99 = 8.0707070707...,
    // a long rounds up: 8.07070708.
    for (side, want) in [(Side::Short, "11.8910891"), (Side::Long, "8.07070708")] {
        let mut e = Engine::new().unwrap();
        let m = e.market_new("X").unwrap();
        e.add_tier(
            m,
            &Tier::new("0", "0.01")
                .unwrap()
                .with_maint_amount("0.01")
                .unwrap(),
        )
        .unwrap();
        let a = e.account_new().unwrap();
        e.deposit(a, "100").unwrap();
        let p = e.open(a, m, side, "1", "10", "5").unwrap();
        assert_eq!(e.liquidation_price(p).unwrap(), Some(d(want)), "{side:?}");
    }
}

/// Binance calculator via freqtrade `test_liquidation_price_binance`, isolated rows, to
/// 2 decimals: margin = wallet 1535443.01, the tier's (mmr, cum) as given.
#[test]
fn binance_calculator_isolated_rows() {
    // ETH: (1535443.01 + 135365 - 3683.979*1456.84) / (3683.979*0.1 - 3683.979)
    //      = 1114.78496..., spec 1114.78.
    // BTC: (1535443.01 + 16300 - 109.488*32481.98) / (109.488*0.025 - 109.488)
    //      = 18778.72593..., spec 18778.73.
    let rows = [
        (
            "ETHUSDT", "3683.979", "1456.84", "0.10", "135365", "1114.78",
        ),
        (
            "BTCUSDT", "109.488", "32481.98", "0.025", "16300", "18778.73",
        ),
    ];
    for (sym, q, entry, mmr, cum, want) in rows {
        let mut e = Engine::new().unwrap();
        let m = e.market_new(sym).unwrap();
        e.add_tier(
            m,
            &Tier::new("0", mmr).unwrap().with_maint_amount(cum).unwrap(),
        )
        .unwrap();
        let a = e.account_new().unwrap();
        e.deposit(a, "10000000").unwrap();
        let opts = OpenOptions {
            margin: Some(d("1535443.01")),
            ..Default::default()
        };
        let p = e.open_with(a, m, Side::Long, q, entry, opts).unwrap();
        let lp = e.liquidation_price(p).unwrap().unwrap();
        assert_eq!(
            lp.rescale(2, Rounding::HalfEven).unwrap(),
            d(want),
            "{sym}: {lp}"
        );
    }
}

/// The BTC/USDT tier table of freqtrade's tests: every cum follows the recurrence.
#[test]
fn btc_tier_table_derives_the_maintenance_amounts() {
    let table = [
        ("0", "0.004", "0"),
        ("50000", "0.005", "50"),
        ("250000", "0.01", "1300"),
        ("1000000", "0.025", "16300"),
        ("7500000", "0.05", "203800"),
        ("40000000", "0.1", "2203800"),
        ("100000000", "0.125", "4703800"),
        ("200000000", "0.15", "9703800"),
        ("400000000", "0.25", "49703800"),
        ("600000000", "0.5", "199703800"),
    ];
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    for (floor, mmr, _) in table {
        e.add_tier(m, &Tier::new(floor, mmr).unwrap()).unwrap();
    }
    let tiers = e.tiers(m).unwrap();
    assert_eq!(tiers.len(), table.len());
    assert_eq!(e.market(m).unwrap().tier_count, table.len() as u32);
    for (t, (floor, mmr, cum)) in tiers.iter().zip(table) {
        assert_eq!(
            (t.floor, t.mmr, t.maint_amount),
            (d(floor), d(mmr), Some(d(cum)))
        );
    }
    // Lookups: [floor, next floor).
    assert_eq!(
        e.tier_for(m, "49999.99999999").unwrap(),
        (d("0.004"), d("0"))
    );
    assert_eq!(e.tier_for(m, "50000").unwrap(), (d("0.005"), d("50")));
    assert_eq!(
        e.tier_for(m, "999999.99999999").unwrap(),
        (d("0.01"), d("1300"))
    );
    assert_eq!(e.tier_for(m, "1000000").unwrap(), (d("0.025"), d("16300")));
    assert_eq!(
        e.tier_for(m, "700000000").unwrap(),
        (d("0.5"), d("199703800"))
    );
}

/// freqtrade `test_calculate_funding_fees`: a short of size 10 receives
/// 10*2.0*0.0001 = 0.002, 10*2.0*0.0002 = 0.004, 10*2.5*0.0002 = 0.005.
#[test]
fn funding_vectors() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("XUSDT").unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "100").unwrap();
    // 1x short of 10 at 2: M = 20; LP = (20 + 20)/(10*0.004 + 10) = 3.98..., so a mark of
    // 2.5 does not liquidate it.
    let p = e.open(a, m, Side::Short, "10", "2", "1").unwrap();
    let b = e.account_new().unwrap();
    e.deposit(b, "100").unwrap();
    let long = e.open(b, m, Side::Long, "10", "2", "1").unwrap();
    e.events().for_each(drop);
    let mut total = Decimal::ZERO;
    for (rate, mark, received) in [
        ("0.0001", "2.0", "0.002"),
        ("0.0002", "2.0", "0.004"),
        ("0.0002", "2.5", "0.005"),
    ] {
        e.funding(m, rate, mark).unwrap();
        let ev: Vec<_> = e
            .events()
            .filter(|x| x.kind == EventKind::Funding)
            .collect();
        assert_eq!(ev.len(), 2, "one funding event per open position");
        let short_ev = ev.iter().find(|x| x.position == Some(p)).unwrap();
        let long_ev = ev.iter().find(|x| x.position == Some(long)).unwrap();
        assert_eq!(
            short_ev.amount,
            d(received),
            "short receives at {rate} {mark}"
        );
        assert_eq!(
            long_ev.amount,
            d(received).checked_neg().unwrap(),
            "long pays at {rate} {mark}"
        );
        assert_eq!(short_ev.price, d(mark));
        total = total.checked_add(d(received)).unwrap();
    }
    // 0.002 + 0.004 + 0.005 = 0.011 in and out of the isolated margins.
    let sp = e.position(p).unwrap();
    assert_eq!(total, d("0.011"));
    assert_eq!(sp.funding, d("0.011"));
    assert_eq!(sp.margin, d("20.011"));
    assert_eq!(e.account(a).unwrap().funding, d("0.011"));
    let lp = e.position(long).unwrap();
    assert_eq!(lp.funding, d("-0.011"));
    assert_eq!(lp.margin, d("19.989"));
    assert_eq!(e.account(b).unwrap().funding, d("-0.011"));
    // The free balances are untouched by funding (isolated): 100 - 20 - 0.0004*20.
    assert_eq!(e.account(a).unwrap().free_balance, d("79.992"));
}
