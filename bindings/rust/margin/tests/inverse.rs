//! Inverse (coin-margined) contracts (issue 15) through the safe wrapper: the three
//! published checks of tests/check_inverse.c, funding in the coin, and the refusals (one
//! settlement asset per engine: `ErrorKind::Asset`; cross mode and the partial policies on
//! an inverse market: `ErrorKind::NotSupported`). Every expected value is worked by hand
//! beside it, as an exact fraction rounded once (`frac`).
//!
//! Notation: N = contracts x contract size (USD), s = +1 long, -1 short, E entry, P price,
//! M margin, L leverage. Value N/P; PnL s*N*(1/E - 1/P), rounded down; initial margin
//! N/(E*L), rounded up; bankruptcy price N/(N/E + s*M); liquidation price
//! N*(mmr + s)/(M + cum + s*N/E) (mark basis) or s*N/(M + s*N/E - N*mmr/E) (entry basis),
//! long rounded up, short down. Money is in the coin (BTC).

mod common;
use common::d;
use margin::{
    AccountId, Contract, Decimal, Engine, ErrorKind, EventKind, Fill, LiquidationPolicy,
    MarketId, MarketOption, MmBasis, Mode, OpenOptions, Side, Status, Tier,
};

/// `num / den` (both > 0) at scale 8, rounded up or down: the hand calculations' one
/// rounding.
fn frac(num: i128, den: i128, up: bool) -> Decimal {
    let n = num * 100_000_000;
    let mut q = n / den;
    if up && n % den != 0 {
        q += 1;
    }
    Decimal::new(i64::try_from(q).unwrap(), 8).unwrap()
}

/// An engine with one inverse market BTCUSD (contracts of `csize` USD, no fees, the extra
/// `options`), no margin-call levels, the mark at `mark`, and one account holding
/// `deposit`.
fn inverse(
    csize: &str,
    options: &[MarketOption],
    mark: &str,
    deposit: &str,
) -> (Engine, MarketId, AccountId) {
    let mut e = Engine::new().unwrap();
    e.set_margin_call_levels(Vec::<&str>::new()).unwrap();
    let mut opts = vec![
        MarketOption::Contract(Contract::Inverse),
        MarketOption::ContractSize(d(csize)),
        MarketOption::TakerFee(Decimal::ZERO),
        MarketOption::MakerFee(Decimal::ZERO),
    ];
    opts.extend_from_slice(options);
    let m = e.market_with("BTCUSD", &opts).unwrap();
    e.mark_update(m, mark).unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, deposit).unwrap();
    (e, m, a)
}

fn with_margin(margin: &str) -> OpenOptions {
    OpenOptions {
        margin: Some(d(margin)),
        ..OpenOptions::default()
    }
}

#[test]
fn constants_and_market_info() {
    use margin::sys;
    assert_eq!(
        (sys::MARGIN_MKT_CONTRACT, sys::MARGIN_MKT_CONTRACT_SIZE),
        (28, 29)
    );
    assert_eq!(
        (sys::MARGIN_MKT_SETTLE_ASSET, sys::MARGIN_MKT_MIN_PRICE),
        (30, 31)
    );
    assert_eq!(
        (sys::MARGIN_CONTRACT_LINEAR, sys::MARGIN_CONTRACT_INVERSE),
        (0, 1)
    );
    assert_eq!(ErrorKind::from_code(-23), ErrorKind::Asset);
    assert_eq!(ErrorKind::Asset.code(), sys::MARGIN_EASSET);
    assert!(!ErrorKind::Asset.is_snapshot());
    assert_ne!(
        ErrorKind::Asset.description(),
        ErrorKind::Other(-999).description()
    );
    assert_eq!(Contract::default(), Contract::Linear);
    assert_eq!((Contract::Linear.raw(), Contract::Inverse.raw()), (0, 1));
    assert_eq!(Contract::from_raw(7), Contract::Other(7));

    let (mut e, m, _) = inverse("100", &[MarketOption::SettleAsset(1)], "45000", "1");
    let info = e.market(m).unwrap();
    assert_eq!(info.contract, Contract::Inverse);
    assert_eq!((info.contract_size, info.settle_asset), (d("100"), 1));
    assert_eq!(info.min_price, d("0.01")); // the inverse default
    e.set_market_option(m, MarketOption::MinPrice(d("0.5"))).unwrap();
    assert_eq!(e.market(m).unwrap().min_price, d("0.5"));

    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let info = e.market(m).unwrap();
    assert_eq!(info.contract, Contract::Linear);
    assert_eq!((info.contract_size, info.settle_asset), (d("1"), 0));
    assert_eq!(info.min_price, d("0.00000001")); // 1 price unit
    let err = e
        .set_market_option(m, MarketOption::Contract(Contract::Other(7)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

/// BitMEX's guide: 100,000 contracts of 1 USD bought at 10,000 and sold at 10,500 earn
/// 100,000 x (1/10,000 - 1/10,500) = 100,000 x 500 / 105,000,000 = 0.476190476.. XBT,
/// 0.47619047 rounded down. At 10x the margin is N/(E*L) = 1 XBT, the value at entry
/// N/E = 10 XBT, at 10,500 100,000/10,500 = 9.5238095.. (up: 9.52380953).
#[test]
fn bitmex_guide() {
    let pnl = frac(100_000 * 500, 10_000 * 10_500, false);
    assert_eq!(pnl, d("0.47619047"));
    let (mut e, m, a) = inverse("1", &[], "10000", "100");
    let p = e.open(a, m, Side::Long, "100000", "10000", "10").unwrap();
    let info = e.position(p).unwrap();
    assert_eq!((info.qty, info.margin), (d("100000"), d("1")));
    let f = e.figures(p, "10500").unwrap();
    assert_eq!(f.unrealized_pnl, pnl);
    assert_eq!(f.notional, frac(100_000, 10_500, true));
    assert_eq!(f.initial_margin, d("1"));
    assert_eq!(e.figures(p, "10000").unwrap().notional, d("10"));
    e.close(p, "10500", Fill::Taker).unwrap();
    assert_eq!(e.position(p).unwrap().realized_pnl, pnl);
    assert_eq!(
        e.account(a).unwrap().free_balance,
        d("100").try_add(pnl).unwrap()
    );
}

/// Bybit, classic inverse: mmr 0.5 % at entry, 10x, entry 2,000, 1,000 contracts of 1 USD:
/// M = 1,000/20,000 = 0.05 BTC; LP = E*L/(L + 1 - L*mmr) = 20,000/10.95 = 1,826.484018..
/// (long: up) and E*L/(L - 1 + L*mmr) = 20,000/9.05 = 2,209.944751.. (short: down); BP =
/// 20,000/11 (up) and 20,000/9 (down); maintenance (N/E)*mmr = 0.0025 at any mark.
#[test]
fn bybit_entry_basis() {
    let (mut e, m, a) = inverse("1", &[MarketOption::MmBasis(MmBasis::Entry)], "2000", "10");
    e.add_tier(m, &Tier::new("0", "0.005").unwrap().with_maint_amount("0").unwrap())
        .unwrap();
    let l = e.open(a, m, Side::Long, "1000", "2000", "10").unwrap();
    let s = e.open(a, m, Side::Short, "1000", "2000", "10").unwrap();
    assert_eq!(e.position(l).unwrap().margin, d("0.05"));
    assert_eq!(e.liquidation_price(l).unwrap(), Some(d("1826.48401827")));
    assert_eq!(e.liquidation_price(l).unwrap(), Some(frac(2_000_000, 1095, true)));
    assert_eq!(e.liquidation_price(s).unwrap(), Some(d("2209.94475138")));
    assert_eq!(e.liquidation_price(s).unwrap(), Some(frac(2_000_000, 905, false)));
    assert_eq!(e.position(l).unwrap().liq_price, Some(d("1826.48401827")));
    assert_eq!(e.bankruptcy_price(l).unwrap(), Some(frac(20_000, 11, true)));
    assert_eq!(e.bankruptcy_price(s).unwrap(), Some(frac(20_000, 9, false)));
    assert_eq!(e.figures(l, "1900").unwrap().maint_margin, d("0.0025"));
}

/// Binance COIN-M: 100,000 contracts of 100 USD (N = 10,000,000) long at 45,000 with an
/// isolated margin of 101 BTC; tiers 0.4 % from 0 and 12.5 % (maintenance amount 11.81)
/// from 250 BTC: LP = N*(mmr + 1)/(M + cum + N/E) = 11,250,000 / (101 + 11.81 +
/// 222.22..) = 11,250,000 x 45,000 / (112.81 x 45,000 + 10,000,000) = 33,578.8597448..
/// (up: 33,578.85974484); the value there, 297.8 BTC, is in the 12.5 % tier. Leverage
/// (N/E)/M = 10,000,000 / (45,000 x 101), up: 2.20022003.
#[test]
fn binance_coin_m() {
    let lp = frac(11_250_000 * 45_000 * 100, 11_281 * 45_000 + 1_000_000_000, true);
    assert_eq!(lp, d("33578.85974484"));
    let (mut e, m, a) = inverse("100", &[], "45000", "200");
    e.add_tier(m, &Tier::new("0", "0.004").unwrap().with_maint_amount("0").unwrap())
        .unwrap();
    e.add_tier(m, &Tier::new("250", "0.125").unwrap().with_maint_amount("11.81").unwrap())
        .unwrap();
    let p = e
        .open_with(a, m, Side::Long, "100000", "45000", with_margin("101"))
        .unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(info.leverage, frac(10_000_000, 45_000 * 101, true));
    assert_eq!(info.leverage, d("2.20022003"));
    assert_eq!(e.liquidation_price(p).unwrap(), Some(lp));
    let at_lp = e.figures(p, lp).unwrap();
    assert_eq!((at_lp.maint_rate, at_lp.maint_amount), (d("0.125"), d("11.81")));
    // at 45,000 the first tier: 222.22.. x 0.004 = 10,000,000 x 4 / 45,000,000, up
    let at_entry = e.figures(p, "45000").unwrap();
    assert_eq!(at_entry.maint_rate, d("0.004"));
    assert_eq!(at_entry.maint_margin, frac(40_000_000, 45_000_000, true));
}

/// A long and a short of 100,000 contracts of 1 USD at 10,000, 10x (M = 1 each), rate
/// 0.0001 at the mark 10,000: the value is 10 BTC, so the long pays and the short receives
/// 10 x 0.0001 = 0.001 BTC: margins 0.999 and 1.001.
#[test]
fn funding_in_coin() {
    let (mut e, m, a) = inverse("1", &[], "10000", "10");
    let l = e.open(a, m, Side::Long, "100000", "10000", "10").unwrap();
    let s = e.open(a, m, Side::Short, "100000", "10000", "10").unwrap();
    e.events().for_each(drop);
    e.funding(m, "0.0001", "10000").unwrap();
    assert_eq!(
        (e.position(l).unwrap().margin, e.position(s).unwrap().margin),
        (d("0.999"), d("1.001"))
    );
    assert_eq!(e.position(l).unwrap().funding, d("-0.001"));
    let paid: Vec<(Option<margin::PositionId>, Decimal)> = e
        .events()
        .filter(|ev| ev.kind == EventKind::Funding)
        .map(|ev| (ev.position, ev.amount))
        .collect();
    assert_eq!(paid, vec![(Some(l), d("-0.001")), (Some(s), d("0.001"))]);
}

/// mmr 0.5 %, the long of the BitMEX guide: LP = 100,500/11 = 9,136.3636.. (up:
/// 9,136.36363637). A mark one unit above leaves it open; at the LP it is liquidated,
/// filled at the mark: the holder loses its margin of 1 and the pool receives
/// 1 + 100,000 x (1/10,000 - 1/9,136.36363637) (PnL down: -0.94527364) = 0.05472636.
#[test]
fn liquidation_at_the_mark() {
    let lp = frac(100_500, 11, true);
    assert_eq!(lp, d("9136.36363637"));
    let (mut e, m, a) = inverse("1", &[], "10000", "10");
    e.add_tier(m, &Tier::new("0", "0.005").unwrap()).unwrap();
    let p = e.open(a, m, Side::Long, "100000", "10000", "10").unwrap();
    assert_eq!(e.position(p).unwrap().liq_price, Some(lp));
    e.mark_update(m, lp.try_add(d("0.00000001")).unwrap()).unwrap();
    assert_eq!(e.position(p).unwrap().status, Status::Open);
    e.events().for_each(drop);
    e.mark_update(m, lp).unwrap();
    let info = e.position(p).unwrap();
    assert_eq!((info.status, info.realized_pnl), (Status::Liquidated, d("-1")));
    let liq: Vec<_> = e
        .events()
        .filter(|ev| ev.kind == EventKind::Liquidation)
        .collect();
    assert_eq!(liq.len(), 1);
    assert_eq!((liq[0].price, liq[0].insurance_delta), (lp, d("0.05472636")));
    assert_eq!(e.market(m).unwrap().insurance, d("0.05472636"));
}

/// A 1x short (M = N/E = 10 BTC) can lose no more than its margin: no bankruptcy or
/// liquidation price (the library's `i64::MAX` reads as `None`). At 2x (M = 5):
/// BP = N/(N/E - M) = 100,000/5 = 20,000; LP = N*(1 - mmr)/(N/E - M) = 19,900.
#[test]
fn short_that_cannot_go_bankrupt() {
    let (mut e, m, a) = inverse("1", &[], "10000", "100");
    e.add_tier(m, &Tier::new("0", "0.005").unwrap()).unwrap();
    let p1 = e.open(a, m, Side::Short, "100000", "10000", "1").unwrap();
    let p2 = e.open(a, m, Side::Short, "100000", "10000", "2").unwrap();
    assert_eq!(e.position(p1).unwrap().margin, d("10"));
    assert_eq!(e.liquidation_price(p1).unwrap(), None);
    assert_eq!(e.bankruptcy_price(p1).unwrap(), None);
    assert_eq!(e.position(p1).unwrap().liq_price, None);
    let f = e.figures(p1, "10000").unwrap();
    assert_eq!((f.liquidation_price, f.bankruptcy_price), (None, None));
    assert_eq!(e.bankruptcy_price(p2).unwrap(), Some(d("20000")));
    assert_eq!(e.liquidation_price(p2).unwrap(), Some(d("19900")));
    let opens: Vec<Option<Decimal>> = e
        .events()
        .filter(|ev| ev.kind == EventKind::Open)
        .map(|ev| ev.liq_price)
        .collect();
    assert_eq!(opens, vec![None, Some(d("19900"))]);
}

/// One settlement asset per engine: a second market takes the first one's contract type
/// and asset; changing either while another market exists fails with `ErrorKind::Asset`
/// and changes nothing.
#[test]
fn one_asset_per_engine() {
    let (mut e, m, _) = inverse("1", &[MarketOption::SettleAsset(1)], "10000", "10");
    let q = e.market_new("BTCUSD_Q").unwrap();
    let info = e.market(q).unwrap();
    assert_eq!((info.contract, info.settle_asset), (Contract::Inverse, 1));
    let err = e
        .set_market_option(q, MarketOption::Contract(Contract::Linear))
        .unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Asset, -23));
    assert!(err.message().contains("one asset"), "{}", err.message());
    let err = e
        .set_market_option(q, MarketOption::SettleAsset(2))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Asset);
    let info = e.market(q).unwrap();
    assert_eq!((info.contract, info.settle_asset), (Contract::Inverse, 1));
    assert_eq!(e.market(m).unwrap().contract, Contract::Inverse);

    // a linear engine refuses an inverse market beside its first
    let mut e = Engine::new().unwrap();
    e.market_new("BTCUSDT").unwrap();
    let err = e
        .market_with("BTCUSD", &[MarketOption::Contract(Contract::Inverse)])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Asset);
    let b = e.market_find("BTCUSD").unwrap();
    assert_eq!(e.market(b).unwrap().contract, Contract::Linear);
}

/// Cross mode, the partial liquidation policies and BitMEX's ranking are not supported on
/// an inverse market yet; prices below the minimum are refused; the contract is fixed once
/// the market has had positions.
#[test]
fn refusals() {
    let (mut e, m, a) = inverse("1", &[], "10000", "10");
    let kind = |r: margin::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(e.set_account_mode(a, m, Mode::Cross)), ErrorKind::NotSupported);
    assert_eq!(
        kind(e.set_market_option(m, MarketOption::LiqPolicy(LiquidationPolicy::MinReduce))),
        ErrorKind::NotSupported
    );
    assert_eq!(
        kind(e.set_market_option(m, MarketOption::AdlRanking(margin::AdlRanking::Bitmex))),
        ErrorKind::NotSupported
    );
    assert_eq!(kind(e.mark_update(m, "0.00999999")), ErrorKind::Range);
    let err = e
        .open(a, m, Side::Long, "1", "0.00999999", "1")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Range);
    e.open(a, m, Side::Long, "100", "10000", "2").unwrap();
    assert_eq!(
        kind(e.set_market_option(m, MarketOption::ContractSize(d("100")))),
        ErrorKind::State
    );
}
