//! Inverse (coin-margined) contracts (issue 15) through the safe wrapper: the three
//! published checks of tests/check_inverse.c, funding in the coin, the partial liquidation
//! policies and BitMEX's ADL ranking (the worked cases of tests/check_inverse.c), and the
//! refusals (one settlement asset per engine: `ErrorKind::Asset`; cross mode on an inverse
//! market: `ErrorKind::NotSupported`). Every expected value is worked by hand beside it, as
//! an exact fraction rounded once (`frac`).
//!
//! Notation: N = contracts x contract size (USD), s = +1 long, -1 short, E entry, P price,
//! M margin, L leverage. Value N/P; PnL s*N*(1/E - 1/P), rounded down; initial margin
//! N/(E*L), rounded up; bankruptcy price N/(N/E + s*M); liquidation price
//! N*(mmr + s)/(M + cum + s*N/E) (mark basis) or s*N/(M + s*N/E - N*mmr/E) (entry basis),
//! long rounded up, short down. Money is in the coin (BTC).

mod common;
use common::d;
use margin::{
    AccountId, AdlRanking, Contract, Decimal, Engine, ErrorKind, EventKind, Fill,
    LiquidationPolicy, MarketId, MarketOption, MmBasis, Mode, OpenOptions, Side, Status, Tier,
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

/// A decimal's units at scale 8 (the hand calculations' integers).
fn units(x: Decimal) -> i128 {
    i128::from(x.to_scale(8).unwrap())
}

/// Partial liquidation, whole contracts (step 1; tests/check_inverse.c): a long of 100,000
/// contracts of 1 USD at 10,000, 10x (M = 1 BTC), filled at the mark, no clearance fee.
/// Min-reduce, one tier of 1 %: LP = 100,000 x 1.01 / (1 + 10) = 9,181.81818182 (up); the
/// mark gaps to 9,100. Selling q there realizes q x (1/10,000 - 1/9,100) = -9q/910,000
/// (down), leaving M' = 1 + that and R = 100,000 - q contracts whose LP is
/// R x 1.01 / (M' + R/10,000) = R x 101 x 10^10 / (M'u x 10^4 + R x 10^8) (M'u: M' in units
/// of 10^-8; up), still liquidatable while it is >= 9,100: q = 90,000 leaves M' =
/// 0.10989010 and 9,100.00008109, q = 90,001 leaves 0.10988021 and 9,099.99106941. So
/// 90,001 are sold (realized -0.89011979) and 9,999 stay with 0.10988021.
#[test]
fn min_reduce() {
    let rest = |q: i128| {
        let pnl = frac(9 * q, 910_000, true).try_neg().unwrap();
        let m = d("1").try_add(pnl).unwrap();
        let r = 100_000 - q;
        (pnl, m, frac(r * 101 * 10_000_000_000, units(m) * 10_000 + r * 100_000_000, true))
    };
    assert_eq!(rest(90_000), (d("-0.8901099"), d("0.1098901"), d("9100.00008109")));
    assert_eq!(rest(90_001), (d("-0.89011979"), d("0.10988021"), d("9099.99106941")));
    let (mut e, m, a) = inverse(
        "1",
        &[
            MarketOption::Step(d("1")),
            MarketOption::LiqPolicy(LiquidationPolicy::MinReduce),
        ],
        "10000",
        "10",
    );
    e.add_tier(m, &Tier::new("0", "0.01").unwrap()).unwrap();
    assert_eq!(e.market(m).unwrap().liq_policy, LiquidationPolicy::MinReduce);
    let p = e.open(a, m, Side::Long, "100000", "10000", "10").unwrap();
    assert_eq!(e.position(p).unwrap().liq_price, Some(frac(101_000, 11, true)));
    assert_eq!(e.position(p).unwrap().liq_price, Some(d("9181.81818182")));
    e.events().for_each(drop);
    e.mark_update(m, "9100").unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(info.status, Status::Open);
    assert_eq!(
        (info.qty, info.margin, info.realized_pnl, info.liq_price),
        (d("9999"), d("0.10988021"), d("-0.89011979"), Some(d("9099.99106941")))
    );
    let parts: Vec<_> = e
        .events()
        .filter(|ev| ev.kind == EventKind::PartialLiquidation)
        .map(|ev| (ev.qty, ev.position_qty, ev.price, ev.realized_pnl, ev.margin, ev.fee))
        .collect();
    assert_eq!(
        parts,
        vec![(
            d("90001"),
            d("9999"),
            d("9100"),
            d("-0.89011979"),
            d("0.10988021"),
            Decimal::ZERO
        )]
    );
}

/// Tier-down (tests/check_inverse.c), the long of `min_reduce`, tiers 1 % from 0 and 5 %
/// from 5 BTC (derived amount 5 x 0.04 = 0.2): LP = 100,000 x 1.05 / (1 + 0.2 + 10) = 9,375
/// exactly (the value there, 10.67 BTC, in the second tier). At 9,375 the position keeps
/// the largest remainder worth at most 5 BTC there, floor(5 x 9,375) = 46,875 contracts;
/// the 53,125 sold realize 53,125 x (1/10,000 - 1/9,375) = -53,125 x 625 / 93,750,000 =
/// -0.354166.. (down: -0.35416667), M' = 0.64583333; the remainder's liquidation price,
/// still in the second tier, is 46,875 x 1.05 / (0.64583333 + 0.2 + 4.6875) =
/// 4,921,875 x 10^6 / 553,333,333 = 8,894.95482464 (up).
#[test]
fn tier_down() {
    let realized = frac(53_125 * 625, 93_750_000, true).try_neg().unwrap();
    assert_eq!(realized, d("-0.35416667"));
    let lp = frac(4_921_875 * 1_000_000, 553_333_333, true);
    assert_eq!(lp, d("8894.95482464"));
    let (mut e, m, a) = inverse(
        "1",
        &[
            MarketOption::Step(d("1")),
            MarketOption::LiqPolicy(LiquidationPolicy::TierDown),
        ],
        "10000",
        "10",
    );
    e.add_tier(m, &Tier::new("0", "0.01").unwrap()).unwrap();
    e.add_tier(m, &Tier::new("5", "0.05").unwrap()).unwrap();
    assert_eq!(e.tier(m, 1).unwrap().maint_amount, Some(d("0.2")));
    let p = e.open(a, m, Side::Long, "100000", "10000", "10").unwrap();
    assert_eq!(e.position(p).unwrap().liq_price, Some(d("9375")));
    e.events().for_each(drop);
    e.mark_update(m, "9375").unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(info.status, Status::Open);
    assert_eq!(
        (info.qty, info.margin, info.realized_pnl, info.liq_price),
        (d("46875"), d("0.64583333"), realized, Some(lp))
    );
    let parts: Vec<_> = e
        .events()
        .filter(|ev| ev.kind == EventKind::PartialLiquidation)
        .map(|ev| (ev.qty, ev.price, ev.liq_price))
        .collect();
    assert_eq!(parts, vec![(d("53125"), d("9375"), Some(lp))]);
}

/// BitMEX's ADL ranking on an inverse market (tests/check_inverse.c), where values are
/// -s*N/P: PnL% = s(P - E)/P and the effective leverage BP / s(P - BP). 10,000 contracts of
/// 1 USD at 10,000, 10x (M = 0.1 BTC), the mark at 11,000.
/// The long: BP = N/(N/E + M) = 10,000/1.1 (up: 9,090.90909091), P - BP = 1,909.09090909;
/// PnL% = 1,000/11,000 (down: 0.09090909); score = floor(9,090,909 x 909,090,909,091 /
/// 190,909,090,909) units = 0.43290042.
/// The short: BP = N/(N/E - M) = 10,000/0.9 (down: 11,111.11111111), BP - P =
/// 111.11111111; PnL% = -1,000/11,000 (down: -0.09090910), a loss, so PnL% / leverage =
/// floor(-9,090,910 x 11,111,111,111 / 1,111,111,111,111) units = -0.00090910.
/// Then, with ADL on and an empty pool, a gap to 12,000 bankrupts the short: its balance
/// there is 0.1 + 10,000 x (1/12,000 - 1/10,000) (PnL down: -0.16666667) = -0.06666667.
/// The long, the only position of the other side, closes its 10,000 at the short's
/// bankruptcy price and pays its PnL at the mark less its PnL there, each rounded down:
/// 10,000 x 2,000/120,000,000 = 0.16666666 less 10,000 x (1/10,000 - 1/11,111.11111111) =
/// 0.09999999, 0.06666667: the deficit.
#[test]
fn bitmex_ranking() {
    let bp_l = frac(100_000, 11, true);
    let bp_s = frac(100_000, 9, false);
    assert_eq!((bp_l, bp_s), (d("9090.90909091"), d("11111.11111111")));
    let pct_l = units(frac(1_000, 11_000, false));
    let pct_s = -units(frac(1_000, 11_000, true));
    let p = 11_000 * 100_000_000;
    let score_l = pct_l * units(bp_l) / (p - units(bp_l));
    let score_s = (pct_s * (units(bp_s) - p)).div_euclid(units(bp_s));
    assert_eq!((score_l, score_s), (43_290_042, -90_910));
    let (mut e, m, a) = inverse(
        "1",
        &[MarketOption::AdlRanking(AdlRanking::Bitmex)],
        "10000",
        "10",
    );
    e.add_tier(m, &Tier::new("0", "0.005").unwrap()).unwrap();
    let l = e.open(a, m, Side::Long, "10000", "10000", "10").unwrap();
    let s = e.open(a, m, Side::Short, "10000", "10000", "10").unwrap();
    assert_eq!(e.bankruptcy_price(l).unwrap(), Some(bp_l));
    assert_eq!(e.bankruptcy_price(s).unwrap(), Some(bp_s));
    e.mark_update(m, "11000").unwrap();
    let score = |e: &Engine, x| units(e.position(x).unwrap().adl_score);
    assert_eq!((score(&e, l), score(&e, s)), (score_l, score_s));
    e.adl_quantiles(m).unwrap();
    assert_eq!(
        (e.position(l).unwrap().adl_quantile, e.position(s).unwrap().adl_quantile),
        (4, 0)
    );

    e.set_market_option(m, MarketOption::Adl(true)).unwrap();
    e.events().for_each(drop);
    e.mark_update(m, "12000").unwrap();
    assert_eq!(e.position(s).unwrap().status, Status::Liquidated);
    assert_eq!(e.position(l).unwrap().status, Status::Deleveraged);
    let at_fill = frac(10_000 * 100_000_000, units(bp_s), true); // N/BP, up: PnL down
    let at_fill = d("1").try_sub(at_fill).unwrap();
    let at_mark = frac(10_000 * 2_000, 120_000_000, false);
    assert_eq!((at_fill, at_mark), (d("0.09999999"), d("0.16666666")));
    let adl: Vec<_> = e
        .events()
        .filter(|ev| ev.kind == EventKind::Adl)
        .map(|ev| {
            (ev.position, ev.counterparty, ev.qty, ev.price, ev.realized_pnl, ev.insurance_delta)
        })
        .collect();
    assert_eq!(
        adl,
        vec![(
            Some(l),
            Some(s),
            d("10000"),
            bp_s,
            at_fill,
            at_mark.try_sub(at_fill).unwrap()
        )]
    );
    assert_eq!(at_mark.try_sub(at_fill).unwrap(), d("0.06666667"));
    assert_eq!(e.market(m).unwrap().insurance, Decimal::ZERO);
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

/// Cross mode on an inverse market: with one cross leg the wallet W stands for the margin.
/// W = 1, a long of 100,000 contracts of 1 USD at 10,000 (10x), mmr 0.5 %: the isolated
/// price 100,500/11 = 9,136.3636.. (up), bankruptcy 100,000/11 (up: 9,090.90909091). A gap
/// to 9,000 liquidates the book: its PnL floor(100,000 x (1/10,000 - 1/9,000)) =
/// -1.11111112 takes the wallet to 0 and the pool pays the deficit 0.11111112.
#[test]
fn cross_mode() {
    let (mut e, m, a) = inverse("1", &[], "10000", "1");
    e.add_tier(m, &Tier::new("0", "0.005").unwrap()).unwrap();
    e.set_account_mode(a, m, Mode::Cross).unwrap();
    assert_eq!(e.account_mode(a, m).unwrap(), Mode::Cross);
    let opts = OpenOptions {
        leverage: Some(d("10")),
        cross: true,
        ..OpenOptions::default()
    };
    let p = e
        .open_with(a, m, Side::Long, "100000", "10000", opts)
        .unwrap();
    assert_eq!(e.liquidation_price(p).unwrap(), Some(d("9136.36363637")));
    assert_eq!(e.bankruptcy_price(p).unwrap(), Some(d("9090.90909091")));
    let fund = e.insurance_fund().unwrap();
    e.mark_update(m, "9000").unwrap();
    assert_eq!(e.position(p).unwrap().status, Status::Liquidated);
    assert_eq!(e.account(a).unwrap().free_balance, Decimal::ZERO);
    assert_eq!(e.insurance_fund().unwrap() - fund, d("-0.11111112"));
}

/// The partial liquidation policies and BitMEX's ranking are accepted on an inverse market
/// (`min_reduce`, `tier_down`, `bitmex_ranking`); prices below the minimum are refused; the
/// contract is fixed once the market has had positions.
#[test]
fn refusals() {
    let (mut e, m, a) = inverse("1", &[], "10000", "10");
    let kind = |r: margin::Result<()>| r.unwrap_err().kind();
    e.set_market_option(m, MarketOption::LiqPolicy(LiquidationPolicy::Slices))
        .unwrap();
    e.set_market_option(m, MarketOption::AdlRanking(AdlRanking::Bitmex))
        .unwrap();
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
