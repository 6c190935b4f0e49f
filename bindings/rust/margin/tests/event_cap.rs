//! Issue 12: the event-queue cap (`Engine::set_event_cap`, `MARGIN_ENG_EVENT_CAP`). A call
//! that would queue events past the cap fails with `ErrorKind::Full` and changes nothing
//! (no event is dropped; a mark update or a funding round is refused whole); after the
//! queue is drained the same call works.

mod common;
use common::{d, setup};
use margin::{Engine, ErrorKind, Event, EventKind, Status};
use std::sync::{Arc, Mutex};

/// What a refused call must leave as it was.
fn state(e: &Engine) -> (u64, Vec<u8>, u64, u64) {
    (
        e.state_hash(),
        e.save(),
        e.last_seq().unwrap(),
        e.events_pending().unwrap(),
    )
}

#[track_caller]
fn full<T: std::fmt::Debug>(r: margin::Result<T>, cap: u64) {
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Full, "{err}");
    assert_eq!(err.code(), -16);
    assert!(err.message().contains(&format!("cap of {cap}")), "{err}");
}

#[test]
fn the_option() {
    let mut e = Engine::new().unwrap();
    assert_eq!(e.event_cap().unwrap(), None, "no cap by default");
    e.set_event_cap(Some(5)).unwrap();
    assert_eq!(e.event_cap().unwrap(), Some(5));
    e.set_event_cap(Some(0)).unwrap(); // 0 is "none" too
    assert_eq!(e.event_cap().unwrap(), None);
    e.set_event_cap(Some(7)).unwrap();
    e.set_event_cap(None).unwrap();
    assert_eq!(e.event_cap().unwrap(), None);
    let err = e.set_event_cap(Some(u64::MAX)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(e.event_cap().unwrap(), None);
    assert_eq!(e.retain_closed().unwrap(), 1 << 20);
    e.set_retain_closed(10).unwrap();
    assert_eq!(e.retain_closed().unwrap(), 10);
    assert_eq!(
        e.set_retain_closed(u64::MAX).unwrap_err().kind(),
        ErrorKind::Invalid
    );
}

#[test]
fn a_refused_call_changes_nothing_and_works_after_draining() {
    let seen = Arc::new(Mutex::new(0usize));
    let s = Arc::clone(&seen);
    let (mut e, _, a) = setup("10");
    e.set_callback(move |_| *s.lock().unwrap() += 1).unwrap();
    e.set_event_cap(Some(2)).unwrap();
    e.deposit(a, "5").unwrap();
    assert_eq!(e.events_pending().unwrap(), 2);
    let before = state(&e);
    full(e.deposit(a, "1"), 2);
    assert_eq!(e.last_error().unwrap().kind(), ErrorKind::Full);
    assert_eq!(state(&e), before);
    assert_eq!(e.account(a).unwrap().free_balance, d("15"));
    assert_eq!(
        *seen.lock().unwrap(),
        1,
        "the callback saw nothing of the refused call"
    );
    // Taking one event makes room for one.
    assert_eq!(e.next_event().unwrap().unwrap().kind, EventKind::Deposit);
    e.deposit(a, "1").unwrap();
    assert_eq!(e.account(a).unwrap().free_balance, d("16"));
    let amounts: Vec<_> = e.events().map(|ev| ev.amount).collect();
    assert_eq!(amounts, [d("5"), d("1")]);
}

#[test]
fn a_mark_update_and_a_funding_round_are_refused_whole() {
    let (mut e, btc, a) = setup("1000");
    e.set_margin_call_levels(Vec::<&str>::new()).unwrap();
    let p1 = e
        .open(a, btc, margin::Side::Long, "0.1", "20000", "20")
        .unwrap();
    let p2 = e
        .open(a, btc, margin::Side::Long, "0.1", "20000", "20")
        .unwrap();
    e.set_event_cap(Some(4)).unwrap();
    assert_eq!(e.events_pending().unwrap(), 3); // room for one; two liquidations won't fit
    let before = state(&e);
    full(e.mark_update(btc, "19000"), 4);
    assert_eq!(state(&e), before);
    assert_eq!(e.position(p1).unwrap().status, Status::Open);
    assert_eq!(e.position(p2).unwrap().status, Status::Open);
    assert_eq!(e.market(btc).unwrap().mark, None);
    let err = e.funding(btc, "0.0001", "20000").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Full, "{err}");
    assert_eq!(state(&e), before);
    assert_eq!(e.position(p1).unwrap().funding, d("0"));
    e.next_event().unwrap();
    e.mark_update(btc, "19000").unwrap();
    let kinds: Vec<EventKind> = e.events().map(|ev: Event| ev.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Open,
            EventKind::Open,
            EventKind::Liquidation,
            EventKind::Liquidation
        ]
    );
    assert_eq!(e.positions(Some(Status::Open)).unwrap(), vec![]);
}

#[test]
fn a_cap_below_the_queue_only_stops_new_events() {
    let (mut e, _, a) = setup("1");
    e.deposit(a, "1").unwrap();
    e.deposit(a, "1").unwrap();
    e.set_event_cap(Some(1)).unwrap();
    full(e.deposit(a, "1"), 1);
    assert_eq!(e.events().count(), 3, "nothing was dropped");
    e.deposit(a, "1").unwrap();
    full(e.deposit(a, "1"), 1);
    assert_eq!(e.account(a).unwrap().free_balance, d("4"));
}

#[test]
fn no_queue_no_cap() {
    let (mut e, _, a) = setup("1");
    e.set_event_queue(false).unwrap();
    e.set_event_cap(Some(1)).unwrap();
    for _ in 0..3 {
        e.deposit(a, "1").unwrap();
    }
    assert_eq!(
        e.events_pending().unwrap(),
        1,
        "the first deposit's, queued before"
    );
}

#[test]
fn the_cap_is_in_the_snapshot() {
    let (mut e, _, a) = setup("1");
    e.set_event_cap(Some(1)).unwrap();
    let mut b = Engine::load(&e.save()).unwrap();
    assert_eq!(b.event_cap().unwrap(), Some(1));
    full(b.deposit(a, "1"), 1);
    b.next_event().unwrap();
    b.deposit(a, "1").unwrap();
    full(e.deposit(a, "1"), 1);
}
