//! Cross margin (issue 11) through the safe wrapper: the Binance cross vectors, the
//! contrast story of isolated against cross, the account figures, the events' mode and
//! the cross liquidation event, and the refusals. Expected values are the spec's, or a
//! hand calculation written beside them.

mod common;
use common::d;
use margin::{
    AccountId, CrossLiquidationPolicy, Decimal, Engine, ErrorKind, Event, EventKind,
    MarketId, MarketOption, Mode, OpenOptions, PositionId, Rounding, Side, Status, Tier,
};

/// A market with the given scales, no fees, and one tier (floor 0).
fn market(e: &mut Engine, symbol: &str, ps: u32, qs: u32, tier: Tier) -> MarketId {
    let m = e
        .market_with(
            symbol,
            &[
                MarketOption::PriceScale(ps),
                MarketOption::QtyScale(qs),
                MarketOption::MakerFee(Decimal::ZERO),
                MarketOption::TakerFee(Decimal::ZERO),
            ],
        )
        .unwrap();
    e.add_tier(m, &tier).unwrap();
    m
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

/// ../shared/spec/margin-math.md, "Binance calculator example", cross rows: one account
/// cross in ETH and BTC, WB = 1535443.01; the liquidation prices are read from the
/// positions themselves.
#[test]
fn binance_cross_vectors() {
    let mut e = Engine::new().unwrap();
    let eth_tier = Tier::new("0", "0.1").unwrap();
    let eth_tier = eth_tier.with_maint_amount("135365").unwrap();
    let eth = market(&mut e, "ETHUSDT", 8, 3, eth_tier.with_max_leverage("10").unwrap());
    let btc_tier = Tier::new("0", "0.025").unwrap();
    let btc = market(&mut e, "BTCUSDT", 8, 3, btc_tier.with_maint_amount("16300").unwrap());
    let a = e.account_new().unwrap();
    e.deposit(a, "1535443.01").unwrap();
    e.set_account_mode(a, eth, Mode::Cross).unwrap();
    e.set_account_mode(a, btc, Mode::Cross).unwrap();
    // Opened before any mark: 5x ETH, 20x BTC.
    let x = |lev: &str| OpenOptions::cross_at(lev).unwrap();
    let pe = e.open_with(a, eth, Side::Long, "3683.979", "1456.84", x("5")).unwrap();
    let pb = e.open_with(a, btc, Side::Long, "109.488", "32481.98", x("20")).unwrap();
    let acct = e.account(a).unwrap();
    // IM = 3683.979*1456.84/5 + 109.488*32481.98/20 = 1073393.593272 + 177819.351312.
    assert_eq!(acct.cross_initial_margin, Some(d("1251212.944584")));
    assert_eq!(acct.available, d("284230.065416")); // WB - IM, no fees, uPnL 0
    assert_eq!(acct.cross_positions, 2);

    e.mark_update(btc, "31967.27").unwrap();
    e.mark_update(eth, "1335.18").unwrap();
    assert_eq!(e.liquidations().unwrap(), 0);
    // BTC: uPnL 109.488*(31967.27 - 32481.98) = -56354.56848,
    //      MM 109.488*31967.27*0.025 - 16300 = 71200.811444.
    // ETH: uPnL 3683.979*(1335.18 - 1456.84) = -448192.88514,
    //      MM 3683.979*1335.18*0.1 - 135365 = 356512.508122.
    // LP_ETH = (WB - 71200.811444 - 56354.56848 + 135365 - 3683.979*1456.84)
    //          / (3683.979*0.1 - 3683.979) = 1153.2564642391..., up;
    // LP_BTC = (WB - 356512.508122 - 448192.88514 + 16300 - 109.488*32481.98)
    //          / (109.488*0.025 - 109.488) = 26316.8932645188..., up.
    for (p, exact, vector) in [
        (pe, "1153.25646424", "1153.26"),
        (pb, "26316.89326452", "26316.89"),
    ] {
        let lp = e.liquidation_price(p).unwrap().expect("a cross LP");
        assert_eq!(lp, d(exact));
        assert_eq!(e.position(p).unwrap().liq_price, Some(d(exact)));
        assert_eq!(lp.rescale(2, Rounding::HalfEven).unwrap(), d(vector));
    }
    let acct = e.account(a).unwrap();
    assert_eq!(acct.cross_wallet, d("1535443.01"));
    assert_eq!(acct.cross_unrealized_pnl, Some(d("-504547.45362")));
    assert_eq!(acct.cross_margin_balance, Some(d("1030895.55638")));
    assert_eq!(acct.cross_maint_margin, Some(d("427713.319566")));
    // 427713.319566 / 1030895.55638 = 0.41489491046..., up.
    assert_eq!(acct.margin_ratio, Some(d("0.41489492")));
    // max(0, min(WB + uPnL - IM, balance - MM - 1 unit)) = max(0, -220317.388204) = 0.
    assert_eq!(acct.available, Decimal::ZERO);
}

/// The contrast story's opening: BTCUSDT (price scale 2, quantity scale 3, mmr 0.004,
/// no fees), 600 deposited, A 0.1 @ 20000 at 20x and B 0.1 @ 20000 at 5x, in `mode`.
fn contrast(mode: Mode) -> (Engine, MarketId, AccountId, PositionId, PositionId) {
    let mut e = Engine::new().unwrap();
    e.set_margin_call_levels(Vec::<&str>::new()).unwrap();
    let btc = market(&mut e, "BTCUSDT", 2, 3, Tier::new("0", "0.004").unwrap());
    let a = e.account_new().unwrap();
    e.deposit(a, "600").unwrap();
    e.set_account_mode(a, btc, mode).unwrap();
    let opts = |lev: &str| OpenOptions {
        leverage: Some(d(lev)),
        cross: mode == Mode::Cross,
        ..OpenOptions::default()
    };
    let pa = e.open_with(a, btc, Side::Long, "0.1", "20000", opts("20")).unwrap();
    let pb = e.open_with(a, btc, Side::Long, "0.1", "20000", opts("5")).unwrap();
    let opened: Vec<Event> = e.events().collect();
    assert_eq!(opened[1].mode, mode);
    assert_eq!(e.account(a).unwrap().available, d("100")); // 600 - 100 - 400
    (e, btc, a, pa, pb)
}

#[test]
fn contrast_isolated_then_cross() {
    let marks = ["20000", "19500", "19050", "18500", "18000", "17500", "16800", "17500"];

    // Isolated: A is liquidated at 19050 (LP 19076.31) and loses exactly its 100;
    // M + PnL = 100 - 95 = 5 to the fund. B (LP 16064.26) survives; 100 stays free.
    let (mut e, btc, a, pa, pb) = contrast(Mode::Isolated);
    assert_eq!(e.liquidation_price(pb).unwrap(), Some(d("16064.26")));
    let mut liqs = Vec::new();
    for m in marks {
        e.mark_update(btc, m).unwrap();
        liqs.extend(e.events().map(|ev| (m, ev)));
    }
    assert_eq!(liqs.len(), 1);
    let (at, liq) = &liqs[0];
    assert_eq!((*at, liq.kind, liq.position), ("19050", EventKind::Liquidation, Some(pa)));
    assert_eq!(liq.mode, Mode::Isolated);
    assert_eq!(liq.liq_price, Some(d("19076.31")));
    assert_eq!((liq.realized_pnl, liq.insurance_delta), (d("-100"), d("5")));
    assert_eq!(e.position(pb).unwrap().status, Status::Open);
    assert_eq!(e.insurance_fund().unwrap(), d("5"));
    assert_eq!(e.account(a).unwrap().free_balance, d("100"));
    assert_eq!(e.cross_evaluations().unwrap(), 0);

    // Cross: one LP for both legs, 3400/0.1992 = 17068.273..., up. Nothing at 19050
    // (balance 410 > MM 15.24); at 16800 the balance is -40 <= MM 13.44: both close at
    // 16800 (-320 each), the fund covers the deficit 40.
    let (mut e, btc, a, pa, pb) = contrast(Mode::Cross);
    assert_eq!(e.position(pa).unwrap().margin, Decimal::ZERO);
    assert_eq!(e.position(pb).unwrap().mode, Mode::Cross);
    for m in &marks[..6] {
        e.mark_update(btc, *m).unwrap();
        assert!(e.events().next().is_none(), "no event at {m}");
        if *m == "19050" {
            let acct = e.account(a).unwrap();
            assert_eq!(acct.cross_margin_balance, Some(d("410")));
            assert_eq!(acct.cross_maint_margin, Some(d("15.24")));
            assert_eq!(e.liquidation_price(pa).unwrap(), Some(d("17068.28")));
        }
    }
    e.mark_update(btc, "16800").unwrap();
    let evs: Vec<Event> = e.events().collect();
    assert_eq!(
        kinds(&evs),
        [EventKind::Liquidation, EventKind::Liquidation, EventKind::CrossLiquidation]
    );
    assert_eq!((evs[0].position, evs[1].position), (Some(pa), Some(pb)));
    for (ev, wb) in evs[..2].iter().zip(["280", "-40"]) {
        assert_eq!(ev.mode, Mode::Cross);
        assert_eq!(ev.price, d("16800"));
        assert_eq!(ev.realized_pnl, d("-320"));
        assert_eq!((ev.margin, ev.fee), (Decimal::ZERO, Decimal::ZERO));
        assert_eq!(ev.free_balance, d(wb));
        assert_eq!(ev.liq_price, Some(d("17068.28")));
    }
    let x = &evs[2];
    assert_eq!((x.position, x.market, x.mode), (None, Some(btc), Mode::Cross));
    assert_eq!((x.amount, x.realized_pnl, x.insurance_delta), (d("40"), d("40"), d("-40")));
    assert_eq!(x.free_balance, Decimal::ZERO);
    assert_eq!(x.margin_ratio, None); // balance -40 <= 0: infinite
    assert_eq!((x.positions_closed, x.qty), (2, Decimal::ZERO));
    e.mark_update(btc, "17500").unwrap();
    assert!(e.events().next().is_none());
    let acct = e.account(a).unwrap();
    assert_eq!((acct.free_balance, acct.realized_pnl), (Decimal::ZERO, d("-600")));
    assert_eq!((acct.cross_positions, acct.margin_ratio), (0, Some(Decimal::ZERO)));
    assert_eq!(e.insurance_fund().unwrap(), d("-40"));
    assert_eq!(e.liquidations().unwrap(), 2);
    assert!(e.cross_evaluations().unwrap() >= 1);
}

#[test]
fn refusals_change_nothing() {
    let (mut e, btc, a, _pa, _pb) = contrast(Mode::Cross);
    e.mark_update(btc, "17500").unwrap();
    let _ = e.events().count();
    let before = e.account(a).unwrap();
    let expect = |r: margin::Result<()>, kind: ErrorKind| {
        assert_eq!(r.expect_err("must fail").kind(), kind);
    };
    // Unknown mode; switching with open positions.
    expect(e.set_account_mode(a, btc, Mode::Other(2)), ErrorKind::Invalid);
    expect(e.set_account_mode(a, btc, Mode::Isolated), ErrorKind::State);
    assert_eq!(e.account_mode(a, btc).unwrap(), Mode::Cross);
    expect(e.set_account_mode(a, MarketId::from_raw(99), Mode::Cross), ErrorKind::NotFound);
    // Balance 100, MM 14: withdrawing 90 would leave 10 <= 14. available =
    // max(0, min(600 - 500 - 500, 100 - 14 - 1 unit)) = 0: any withdrawal is refused.
    assert_eq!(before.available, Decimal::ZERO);
    expect(e.withdraw(a, "90"), ErrorKind::Funds);
    expect(e.withdraw(a, "0.00000001"), ErrorKind::Funds);
    // A cross open without funds (available 0), and the flag against the mode.
    let cross = OpenOptions::cross_at("10").unwrap();
    let r = e.open_with(a, btc, Side::Long, "0.001", "17500", cross);
    expect(r.map(drop), ErrorKind::Funds);
    expect(e.open(a, btc, Side::Long, "0.001", "17500", "10").map(drop), ErrorKind::State);
    let opts = OpenOptions {
        leverage: Some(d("10")),
        margin: Some(d("2")),
        cross: true,
        ..OpenOptions::default()
    };
    let r = e.open_with(a, btc, Side::Long, "0.001", "17500", opts);
    expect(r.map(drop), ErrorKind::Invalid); // a cross open takes no margin
    expect(e.set_cross_liquidation(CrossLiquidationPolicy::Other(5)), ErrorKind::Invalid);
    assert_eq!(e.cross_liquidation().unwrap(), CrossLiquidationPolicy::All);
    assert_eq!(e.account(a).unwrap(), before, "a refused call changed the account");
    assert!(e.events().next().is_none(), "a refused call produced an event");
    assert_eq!(e.open_positions().unwrap(), 2);
}

/// Two cross longs of 6000 @ 1 marked at 10,000,000: each uPnL (about 6e10) fits, their
/// sum does not. The account still reads, with `None` for the sums that do not fit.
#[test]
fn cross_sums_that_do_not_fit_are_none() {
    let mut e = Engine::new().unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "100000").unwrap();
    let mut ms = Vec::new();
    for symbol in ["AUSDT", "BUSDT"] {
        let m = market(&mut e, symbol, 2, 3, Tier::new("0", "0.004").unwrap());
        e.set_account_mode(a, m, Mode::Cross).unwrap();
        let opts = OpenOptions::cross_at("1").unwrap();
        e.open_with(a, m, Side::Long, "6000", "1", opts).unwrap();
        ms.push(m);
    }
    for m in ms {
        e.mark_update(m, "10000000").unwrap();
    }
    let acct = e.account(a).unwrap();
    assert_eq!(acct.cross_wallet, d("100000"));
    assert_eq!((acct.cross_unrealized_pnl, acct.cross_margin_balance), (None, None));
    assert_eq!(acct.equity, None);
    // MM = 2 * 6000*10000000*0.004 = 480000000; IM = 2 * 6000*1/1 = 12000.
    assert_eq!(acct.cross_maint_margin, Some(d("480000000")));
    assert_eq!(acct.cross_initial_margin, Some(d("12000")));
    // available = min(WB + min(0, uPnL) - IM, balance - MM - 1 unit) = 100000 - 12000.
    assert_eq!(acct.available, d("88000"));
}
