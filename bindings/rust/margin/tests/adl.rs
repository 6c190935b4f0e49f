//! Insurance pools and auto-deleveraging (issue 14) through the safe wrapper: BitMEX's
//! published example and a pool deposit. Every expected value is a hand calculation
//! written beside it.
//!
//! The setting (scales 8/8, no trading fee, one tier at mmr 0.5 %, no margin-call levels):
//! the mark at 600; a short of 20 at 600 with margin 1,000 has the bankruptcy price
//! 600 + 1,000/20 = 650. When the mark gaps to 700 it is liquidated at 700: the pool
//! receives 1,000 + 20*(600 - 700) = -1,000, a deficit of 1,000. A long deleveraged at 650
//! instead of 700 gives up 50 per unit into the pool.

mod common;
use common::d;
use margin::{
    AccountId, AdlRanking, Decimal, Engine, ErrorKind, Event, EventKind, FillPrice, MarketId,
    MarketOption, OpenOptions, PositionId, Side, Status, Tier,
};

fn drain(e: &mut Engine) -> Vec<Event> {
    e.events().collect()
}

/// BitMEX's example: six longs entered at 500, leverage 10, 5, 4, 2, 1.25, 1 (bankruptcy
/// prices 500*(1 - 1/L) = 450, 400, 375, 250, 100, 0), sizes 10, 20, 30, 10, 10, 20.
const LONGS: [(&str, &str); 6] =
    [("10", "10"), ("5", "20"), ("4", "30"), ("2", "10"), ("1.25", "10"), ("1", "20")];

/// The market with ADL on and BitMEX's ranking, the six longs (account 1) and the short
/// (account 2), the mark at 600, the queue drained.
fn setup() -> (Engine, MarketId, AccountId, Vec<PositionId>, PositionId) {
    let mut e = Engine::new().unwrap();
    e.set_margin_call_levels(Vec::<&str>::new()).unwrap();
    let m = e
        .market_with(
            "BTCUSDT",
            &[
                MarketOption::TakerFee(Decimal::ZERO),
                MarketOption::Adl(true),
                MarketOption::AdlRanking(AdlRanking::Bitmex),
            ],
        )
        .unwrap();
    e.add_tier(m, &Tier::new("0", "0.005").unwrap()).unwrap();
    let al = e.account_new().unwrap();
    e.deposit(al, "1000000").unwrap();
    let as_ = e.account_new().unwrap();
    e.deposit(as_, "100000").unwrap();
    e.mark_update(m, "600").unwrap();
    let longs: Vec<PositionId> = LONGS
        .iter()
        .map(|(lev, q)| e.open(al, m, Side::Long, *q, "500", *lev).unwrap())
        .collect();
    let opts = OpenOptions { margin: Some(d("1000")), ..OpenOptions::default() };
    let s = e.open_with(as_, m, Side::Short, "20", "600", opts).unwrap();
    assert_eq!(e.bankruptcy_price(s).unwrap(), Some(d("650")));
    drain(&mut e);
    (e, m, al, longs, s)
}

#[test]
fn options_default_and_round_trip() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let n = e.market_new("ETHUSDT").unwrap();
    let i = e.market(m).unwrap();
    // Defaults (margin.h): its own pool, empty, ADL off, floor 0, Binance's ranking.
    assert_eq!(i.insurance_pool, m);
    assert_eq!(i.insurance, Decimal::ZERO);
    assert!(!i.adl);
    assert_eq!(i.insurance_floor, Decimal::ZERO);
    assert_eq!(i.adl_ranking, AdlRanking::Binance);
    e.set_market_option(m, MarketOption::Adl(true)).unwrap();
    e.set_market_option(m, MarketOption::InsuranceFloor(d("250"))).unwrap();
    e.set_market_option(m, MarketOption::AdlRanking(AdlRanking::Bitmex)).unwrap();
    e.set_market_option(n, MarketOption::InsurancePool(m)).unwrap();
    let j = e.market(n).unwrap();
    // ETHUSDT shares BTCUSDT's pool: the pool's options read through it.
    assert_eq!((j.insurance_pool, j.adl, j.insurance_floor), (m, true, d("250")));
    assert_eq!(e.market(m).unwrap().adl_ranking, AdlRanking::Bitmex);
    let err = e
        .set_market_option(m, MarketOption::AdlRanking(AdlRanking::Other(7)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    // BTCUSDT's pool is shared: it cannot join another one.
    let err = e.set_market_option(m, MarketOption::InsurancePool(n)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
}

#[test]
fn pool_deposit() {
    // 400 into BTCUSDT's pool, then 100 through ETHUSDT, which shares it: the pool and the
    // fund are 500, and so are the deposits.
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let n = e.market_new("ETHUSDT").unwrap();
    e.set_market_option(n, MarketOption::InsurancePool(m)).unwrap();
    e.insurance_deposit(m, "400").unwrap();
    e.insurance_deposit(n, "100").unwrap();
    let ev = drain(&mut e);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].kind, EventKind::InsuranceDeposit);
    assert_eq!((ev[0].account, ev[0].position, ev[0].market), (None, None, Some(m)));
    assert_eq!((ev[0].amount, ev[0].insurance_delta), (d("400"), d("400")));
    assert_eq!((ev[1].market, ev[1].amount), (Some(n), d("100")));
    assert_eq!(e.market(m).unwrap().insurance, d("500"));
    assert_eq!(e.market(n).unwrap().insurance, d("500"));
    assert_eq!(e.insurance_fund().unwrap(), d("500"));
    assert_eq!(e.insurance_deposits().unwrap(), d("500"));
    assert_eq!(e.insurance_deposit(m, "0").unwrap_err().kind(), ErrorKind::Invalid);
}

#[test]
fn bitmex_example() {
    let (mut e, m, al, p, s) = setup();
    // BitMEX's score at 600: (100/500) * 600/(600 - BP) = 120/(600 - BP): 0.8, 0.6,
    // 0.53333333 (120/225, down), 0.34285714 (120/350, down), 0.24, 0.2; the short, PnL 0,
    // scores 0.
    let scores: Vec<Decimal> = p.iter().map(|&x| e.position(x).unwrap().adl_score).collect();
    let want: Vec<Decimal> =
        ["0.8", "0.6", "0.53333333", "0.34285714", "0.24", "0.2"].iter().map(|s| d(s)).collect();
    assert_eq!(scores, want);
    assert_eq!(e.position(s).unwrap().adl_score, Decimal::ZERO);
    // Quantiles: rank r of 6 reads 4 - floor(5r/6): 4, 4, 3, 2, 1, 0; the short 0.
    e.adl_quantiles(m).unwrap();
    let q: Vec<u8> = p.iter().map(|&x| e.position(x).unwrap().adl_quantile).collect();
    assert_eq!(q, [4, 4, 3, 2, 1, 0]);
    assert_eq!(e.position(s).unwrap().adl_quantile, 0);

    // The gap to 700, the pool empty: need 1,000 = 20 units at 50. The first long closes
    // in full (10 at 650: PnL 10*150 = 1,500, credit 500, margin 10*500/10 = 500
    // released), then 10 of the second (PnL 1,500, credit 500, margin 20*500/5 = 2,000,
    // half released: 1,000 left).
    e.mark_update(m, "700").unwrap();
    let ev = drain(&mut e);
    let kinds: Vec<EventKind> = ev.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [EventKind::Liquidation, EventKind::Adl, EventKind::Adl]);
    let (liq, a1, a2) = (&ev[0], &ev[1], &ev[2]);
    assert_eq!((liq.position, liq.price, liq.bankruptcy_price), (Some(s), d("700"), d("650")));
    assert_eq!((liq.insurance_delta, liq.adl_covered), (d("-1000"), d("1000")));
    assert_eq!(liq.counterparty, None);
    assert_eq!((a1.position, a1.counterparty), (Some(p[0]), Some(s)));
    assert_eq!((a1.qty, a1.position_qty, a1.price), (d("10"), Decimal::ZERO, d("650")));
    assert_eq!(a1.fill, Some(FillPrice::Bankruptcy));
    assert_eq!((a1.fee, a1.realized_pnl), (Decimal::ZERO, d("1500")));
    assert_eq!((a1.insurance_delta, a1.amount), (d("500"), d("-500")));
    assert_eq!((a2.position, a2.counterparty), (Some(p[1]), Some(s)));
    assert_eq!((a2.qty, a2.position_qty, a2.margin), (d("10"), d("10"), d("1000")));
    assert_eq!((a2.realized_pnl, a2.insurance_delta, a2.amount), (d("1500"), d("500"), d("-1000")));
    assert_eq!(a2.adl_covered, Decimal::ZERO);

    let first = e.position(p[0]).unwrap();
    assert_eq!((first.status, first.qty, first.adl_score), (Status::Deleveraged, Decimal::ZERO, Decimal::ZERO));
    let second = e.position(p[1]).unwrap();
    assert_eq!((second.status, second.qty, second.margin), (Status::Open, d("10"), d("1000")));
    for (i, (_, q)) in LONGS.iter().enumerate().skip(2) {
        assert_eq!(e.position(p[i]).unwrap().qty, d(q));
    }
    // The third long's score at 700: 280/(700 - 375) = 0.86153846 (down).
    assert_eq!(e.position(p[2]).unwrap().adl_score, d("0.86153846"));
    assert_eq!(e.position(s).unwrap().status, Status::Liquidated);
    assert_eq!(e.market(m).unwrap().insurance, Decimal::ZERO);
    assert_eq!(e.insurance_fund().unwrap(), Decimal::ZERO);
    assert_eq!(e.account(al).unwrap().realized_pnl, d("3000"));
}
