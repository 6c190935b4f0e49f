//! Issue 10: `Decimal` arithmetic and ordering, `set_stops` with plain values and a clear
//! none, listing positions, and events read in one `margin_event_fields` call.

use margin::{Decimal, Engine, ErrorKind, EventKind, Fill, Side, Status, Stop};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn decimal_operators_are_exact() {
    // Different scales line up exactly: 0.1 + 0.02 = 0.12, 1 - 0.00000001 = 0.99999999.
    assert_eq!(d("0.1") + d("0.02"), d("0.12"));
    assert_eq!(d("1") - d("0.00000001"), d("0.99999999"));
    assert_eq!(-d("19076.30522089"), d("-19076.30522089"));
    assert_eq!(-(-d("5")), d("5"));
    let mut x = d("100");
    x += d("0.5");
    x -= d("200");
    assert_eq!(x, d("-99.5"));
    assert_eq!(vec![d("1.1"), d("2.2"), d("-0.3")].into_iter().sum::<Decimal>(), d("3"));
    assert_eq!([d("0.25"), d("0.75")].iter().sum::<Decimal>(), Decimal::from(1));
    assert!(x.is_negative() && !x.is_zero() && (x - x).is_zero() && d("0.1").is_positive());
    assert_eq!(d("-2.5").abs(), d("2.5"));
}

#[test]
fn decimal_checked_variants_return_errors_on_overflow() {
    let max = Decimal::new(i64::MAX, 0).unwrap();
    let min = Decimal::new(i64::MIN, 0).unwrap();
    assert_eq!(max.try_add(Decimal::from(1)).unwrap_err().kind(), ErrorKind::Overflow);
    assert_eq!(min.try_sub(Decimal::from(1)).unwrap_err().kind(), ErrorKind::Overflow);
    assert_eq!(min.try_neg().unwrap_err().kind(), ErrorKind::Overflow);
    // 92233720368.54775807 + 0.00000001 needs a 20-digit mantissa at scale 8: overflow;
    // at a coarser scale it still fits.
    let big = Decimal::new(i64::MAX, 8).unwrap();
    assert_eq!(big.try_add(d("0.00000001")).unwrap_err().kind(), ErrorKind::Overflow);
    assert_eq!(big.try_sub(d("0.00000007")).unwrap(), d("92233720368.547758"));
    assert_eq!(max.try_sub(max).unwrap(), Decimal::from(0));
    assert_eq!(d("1.5").try_add(d("-2")).unwrap(), d("-0.5"));
}

#[test]
#[should_panic(expected = "overflow")]
fn decimal_add_panics_on_overflow_like_integers() {
    let _ = Decimal::new(i64::MAX, 0).unwrap() + Decimal::from(1);
}

#[test]
fn decimal_ordering_across_scales() {
    let mut v = vec![d("0.3"), d("-1"), d("0.25"), d("0.30"), d("100")];
    v.sort();
    assert_eq!(v, vec![d("-1"), d("0.25"), d("0.3"), d("0.3"), d("100")]);
    assert!(d("0.1") > d("0.09999999"));
    assert_eq!(d("2").max(d("1.99")), d("2"));
    assert_eq!(d("2").min(d("1.99")), d("1.99"));
}

fn engine_with_long() -> (Engine, margin::MarketId, margin::AccountId, margin::PositionId) {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "10000").unwrap();
    let p = e.open(a, m, Side::Long, "0.1", "20000", "20").unwrap();
    (e, m, a, p)
}

#[test]
fn set_stops_takes_plain_values_and_a_clear_none() {
    let (mut e, _m, _a, p) = engine_with_long();
    e.set_stops(p, "19500", 21000).unwrap();
    let i = e.position(p).unwrap();
    assert_eq!((i.stop_loss, i.take_profit), (Some(d("19500")), Some(d("21000"))));
    e.set_stops(p, d("19600"), Stop::None).unwrap();
    let i = e.position(p).unwrap();
    assert_eq!((i.stop_loss, i.take_profit), (Some(d("19600")), None));
    e.set_stops(p, Stop::None, Stop::At(d("22000"))).unwrap();
    let i = e.position(p).unwrap();
    assert_eq!((i.stop_loss, i.take_profit), (None, Some(d("22000"))));
    e.set_stops(p, Some(d("19000")), None::<Decimal>).unwrap();
    assert_eq!(e.position(p).unwrap().stop_loss, Some(d("19000")));
    e.clear_stops(p).unwrap();
    let i = e.position(p).unwrap();
    assert_eq!((i.stop_loss, i.take_profit), (None, None));
    // A bad price is still an error of its own kind.
    assert_eq!(e.set_stops(p, "abc", Stop::None).unwrap_err().kind(), ErrorKind::Parse);
}

#[test]
fn listing_positions() {
    let (mut e, btc, a, p1) = engine_with_long();
    let eth = e.market_new("ETHUSDT").unwrap();
    let b = e.account_new().unwrap();
    e.deposit(b, "10000").unwrap();
    let p2 = e.open(b, btc, Side::Short, "0.1", "20000", "20").unwrap();
    let p3 = e.open(a, eth, Side::Long, "1", "2000", "10").unwrap();
    let p4 = e.open(b, eth, Side::Long, "1", "2000", "2").unwrap();
    e.close(p2, "20000", Fill::Taker).unwrap();
    // p3: M = 200, LP = (200 - 2000)/(0.004 - 1) = 1807.22891566; p4: M = 1000,
    // LP = (1000 - 2000)/(-0.996) = 1004.01606426. A mark of 1800 liquidates p3 only.
    e.mark_update(eth, "1800").unwrap();
    assert_eq!(e.position(p3).unwrap().status, Status::Liquidated);

    assert_eq!(e.positions(Some(Status::Open)).unwrap(), vec![p1, p4]);
    assert_eq!(e.positions(Some(Status::Closed)).unwrap(), vec![p2]);
    assert_eq!(e.positions(Some(Status::Liquidated)).unwrap(), vec![p3]);
    assert_eq!(e.positions(None).unwrap(), vec![p1, p2, p3, p4]);
    assert_eq!(e.account_positions(a, None).unwrap(), vec![p1, p3]);
    assert_eq!(e.account_positions(b, Some(Status::Open)).unwrap(), vec![p4]);
    assert_eq!(e.market_positions(btc, None).unwrap(), vec![p1, p2]);
    assert_eq!(e.market_positions(eth, Some(Status::Open)).unwrap(), vec![p4]);
    let c = e.account_new().unwrap();
    assert!(e.account_positions(c, None).unwrap().is_empty());
    // Ordinary Vecs: iterate, sum the margins of the open positions (100 + 1000).
    let total: Decimal = e
        .positions(Some(Status::Open))
        .unwrap()
        .into_iter()
        .map(|p| e.position(p).unwrap().margin)
        .sum();
    assert_eq!(total, Decimal::from(1100));
    // Unknown ids and statuses are errors.
    let ghost = margin::AccountId::from_raw(999);
    assert_eq!(e.account_positions(ghost, None).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(e.positions(Some(Status::Other(7))).unwrap_err().kind(), ErrorKind::Invalid);
}

#[test]
fn listing_many_positions() {
    let mut e = Engine::new().unwrap();
    let m = e.market_new("XUSDT").unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "1000000").unwrap();
    let ids: Vec<_> = (0..300).map(|_| e.open(a, m, Side::Long, "1", "10", "1").unwrap()).collect();
    assert_eq!(e.account_positions(a, Some(Status::Open)).unwrap(), ids);
    assert_eq!(e.positions(None).unwrap().len(), 300);
}

#[test]
fn events_read_in_one_call_match_the_hand_calculation() {
    let (mut e, m, a, p) = engine_with_long();
    let evs: Vec<_> = e.events().collect();
    assert_eq!(evs.len(), 2);
    assert_eq!((evs[0].kind, evs[0].seq, evs[0].account), (EventKind::Deposit, 1, Some(a)));
    assert_eq!(evs[0].amount, Decimal::from(10000));
    let open = &evs[1];
    assert_eq!((open.kind, open.seq, open.position), (EventKind::Open, 2, Some(p)));
    assert_eq!(open.margin, Decimal::from(100));
    assert_eq!(open.liq_price, Some(d("19076.30522089")));
    assert_eq!(open.free_balance, d("9899.2")); // 10000 - 100 - 0.8 fee
    assert_eq!(open.leverage, Decimal::from(20));
    // A mark above the margin-call price (19095.48) produces no event.
    e.mark_update(m, "19500").unwrap();
    assert!(e.next_event().unwrap().is_none());
}

#[test]
fn raw_field_of_the_current_event() {
    let (mut e, _m, _a, _p) = engine_with_long();
    let dep = e.next_event().unwrap().unwrap();
    assert_eq!(dep.kind, EventKind::Deposit);
    assert_eq!(e.current_event_field(margin::sys::MARGIN_EVF_AMOUNT).unwrap(), 10000 * 100_000_000);
    let open = e.next_event().unwrap().unwrap();
    assert_eq!(open.kind, EventKind::Open);
    assert_eq!(e.current_event_field(margin::sys::MARGIN_EVF_MARGIN).unwrap(), 100 * 100_000_000);
    assert_eq!(e.current_event_field(999).unwrap_err().kind(), ErrorKind::Invalid);
}
