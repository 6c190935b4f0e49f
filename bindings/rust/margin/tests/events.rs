//! Lifecycle through events: margin calls, liquidations (with and without a gap), stops,
//! trades, margin and leverage changes, isolation, callbacks. Expected figures are hand
//! calculations written beside each assertion.

mod common;
use common::{d, setup};
use margin::{Decimal, Engine, Event, EventKind, Fill, Side, Status};
use std::sync::{Arc, Mutex};

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn seed_liquidation_and_its_events() {
    let (mut e, btc, a) = setup("1000");
    e.set_time(1_700_000_000_000).unwrap();
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();

    let evs: Vec<Event> = e.events().collect();
    assert_eq!(kinds(&evs), [EventKind::Deposit, EventKind::Open]);
    let (dep, open) = (&evs[0], &evs[1]);
    assert_eq!(dep.seq, 1);
    assert_eq!(dep.account, Some(a));
    assert_eq!(dep.market, None);
    assert_eq!(dep.amount, d("1000"));
    assert_eq!(dep.free_balance, d("1000"));
    assert_eq!(open.seq, 2);
    assert_eq!(open.time, 1_700_000_000_000);
    assert_eq!(
        (open.account, open.market, open.position),
        (Some(a), Some(btc), Some(p))
    );
    assert_eq!(open.side, Some(Side::Long));
    assert_eq!(
        (open.price, open.qty, open.position_qty),
        (d("20000"), d("0.1"), d("0.1"))
    );
    assert_eq!(open.entry_price, d("20000"));
    assert_eq!(open.margin, d("100"));
    assert_eq!(open.amount, d("100")); // change of margin
    assert_eq!(open.fee, d("0.8")); // 0.0004 * 2000
    assert_eq!(open.free_balance, d("899.2"));
    assert_eq!(open.leverage, d("20"));
    assert_eq!(open.liq_price, Some(d("19076.30522089")));
    assert_eq!(e.events_pending().unwrap(), 0);

    // The 80 % level's price: (0.8*(M - Q*E)) / (Q*(mmr - 0.8)) = -1520 / -0.0796
    // = 19095.4773869..., a long rounds up: 19095.47738694. At 19096 the ratio is
    // 0.1*19096*0.004 / (100 + 0.1*(19096-20000)) = 7.6384/9.6 = 0.7957: no call.
    e.mark_update(btc, "19096").unwrap();
    assert!(e.events().next().is_none());
    // At 19095: 7.638/9.5 = 0.804: a call.
    e.mark_update(btc, "19095").unwrap();
    let evs: Vec<Event> = e.events().collect();
    assert_eq!(kinds(&evs), [EventKind::MarginCall]);
    let call = &evs[0];
    assert_eq!(call.seq, 3);
    assert_eq!(call.position, Some(p));
    assert_eq!(call.price, d("19095"));
    assert_eq!(call.level, d("0.8"));
    assert_eq!(call.margin_ratio, Some(d("0.80400000"))); // 7.638/9.5 = 0.804 exactly
                                                          // Still below the level: no second call; 19090: 7.636/9 = 0.84844444..., still armed off.
    e.mark_update(btc, "19090").unwrap();
    assert!(
        e.events().next().is_none(),
        "a level fires once until re-armed"
    );
    // Back above the level's price re-arms it; crossing again calls again.
    e.mark_update(btc, "19500").unwrap();
    e.mark_update(btc, "19090").unwrap();
    let again: Vec<Event> = e.events().collect();
    assert_eq!(kinds(&again), [EventKind::MarginCall]);
    assert_eq!(again[0].margin_ratio, Some(d("0.84844445"))); // 7.636/9 rounded up

    // 19050 <= LP 19076.30522089: liquidation at the mark. The holder's realized PnL is
    // exactly -M = -100; the insurance fund gets Q*(mark - E) + M = -95 + 100 = 5.
    e.mark_update(btc, "19050").unwrap();
    let evs: Vec<Event> = e.events().collect();
    assert_eq!(kinds(&evs), [EventKind::Liquidation]);
    let liq = &evs[0];
    assert_eq!(liq.position, Some(p));
    assert_eq!(liq.price, d("19050"));
    assert_eq!(liq.qty, d("0.1"));
    assert_eq!(liq.position_qty, d("0"));
    assert_eq!(liq.realized_pnl, d("-100"));
    assert_eq!(liq.liq_price, Some(d("19076.30522089")));
    assert_eq!(liq.bankruptcy_price, d("19000"));
    assert_eq!(liq.insurance_delta, d("5"));
    assert_eq!(liq.free_balance, d("899.2"));
    assert_eq!(liq.seq, e.last_seq().unwrap());

    let info = e.position(p).unwrap();
    assert_eq!(info.status, Status::Liquidated);
    assert_eq!(info.qty, d("0"));
    assert_eq!(info.margin, d("0"));
    assert_eq!(info.realized_pnl, d("-100"));
    assert_eq!(e.insurance_fund().unwrap(), d("5"));
    assert_eq!(
        (e.liquidations().unwrap(), e.open_positions().unwrap()),
        (1, 0)
    );
    let acct = e.account(a).unwrap();
    assert_eq!(acct.free_balance, d("899.2"));
    assert_eq!(acct.isolated_margin, d("0"));
    assert_eq!(acct.equity, Some(d("899.2")));
    assert_eq!(acct.realized_pnl, d("-100"));
    // Conservation: deposits + realized PnL - fees + funding = free balance (no positions).
    let sum = d("1000")
        .checked_add(acct.realized_pnl)
        .unwrap()
        .checked_sub(acct.fees)
        .unwrap();
    assert_eq!(sum, acct.free_balance);

    // Irreversible: a recovery produces nothing, and the position refuses everything.
    e.mark_update(btc, "25000").unwrap();
    assert!(e.events().next().is_none());
    assert_eq!(e.position(p).unwrap().status, Status::Liquidated);
    assert_eq!(
        e.close(p, "25000", Fill::Taker).unwrap_err().kind(),
        margin::ErrorKind::Closed
    );
}

#[test]
fn gap_liquidation_charges_the_insurance_fund() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    // Straight to 18000, past the bankruptcy price 19000: the fund takes
    // Q*(18000 - 20000) + 100 = -100; the holder still loses only its 100.
    e.mark_update(btc, "18000").unwrap();
    let liq = e
        .events()
        .find(|x| x.kind == EventKind::Liquidation)
        .unwrap();
    assert_eq!(liq.position, Some(p));
    assert_eq!(liq.insurance_delta, d("-100"));
    assert_eq!(liq.realized_pnl, d("-100"));
    assert_eq!(e.insurance_fund().unwrap(), d("-100"));
    assert_eq!(e.account(a).unwrap().free_balance, d("899.2"));
}

#[test]
fn liquidation_is_isolated_to_its_position() {
    let (mut e, btc, alice) = setup("1000");
    let bob = e.account_new().unwrap();
    e.deposit(bob, "1000").unwrap();
    let pa = e
        .open(alice, btc, Side::Long, "0.1", "20000", "20")
        .unwrap();
    // Bob: short 0.1 at 20000 at 10x: M = 200, fee 0.8, free 799.2.
    let pb = e.open(bob, btc, Side::Short, "0.1", "20000", "10").unwrap();
    // Alice's second, safe position: long 0.01 at 20000 at 2x (M = 100, fee 0.08).
    let pa2 = e
        .open(alice, btc, Side::Long, "0.01", "20000", "2")
        .unwrap();
    e.mark_update(btc, "19050").unwrap();
    let liqs: Vec<Event> = e
        .events()
        .filter(|x| x.kind == EventKind::Liquidation)
        .collect();
    assert_eq!(liqs.len(), 1);
    assert_eq!(liqs[0].position, Some(pa));
    assert_eq!(e.position(pb).unwrap().status, Status::Open);
    assert_eq!(e.position(pa2).unwrap().status, Status::Open);
    assert_eq!(e.position(pa2).unwrap().margin, d("100"));
    // Bob at 19050: uPnL = -0.1*(19050 - 20000) = +95.
    assert_eq!(e.figures(pb, "19050").unwrap().unrealized_pnl, d("95"));
    assert_eq!(e.account(bob).unwrap().free_balance, d("799.2"));
    // Alice: 1000 - 100.8 - 100.08 = 799.12, untouched by the liquidation.
    assert_eq!(e.account(alice).unwrap().free_balance, d("799.12"));
}

#[test]
fn stop_loss_and_take_profit_close_at_the_mark() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    e.set_stops(p, d("19500"), d("21000")).unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(
        (info.stop_loss, info.take_profit),
        (Some(d("19500")), Some(d("21000")))
    );
    e.events().for_each(drop);
    e.mark_update(btc, "19600").unwrap();
    assert!(e.events().next().is_none());
    e.mark_update(btc, "19500").unwrap();
    let sl = e
        .events()
        .find(|x| x.kind == EventKind::StopLoss)
        .expect("stop-loss");
    // PnL 0.1*(19500 - 20000) = -50; taker fee 0.0004*1950 = 0.78;
    // free balance 899.2 + (100 - 50) - 0.78 = 948.42.
    assert_eq!(sl.price, d("19500"));
    assert_eq!(sl.realized_pnl, d("-50"));
    assert_eq!(sl.fee, d("0.78"));
    assert_eq!(e.account(a).unwrap().free_balance, d("948.42"));
    assert_eq!(e.position(p).unwrap().status, Status::Closed);

    // A short's take-profit: short 0.1 at 20000 at 10x (M 200, fee 0.8), TP 19000.
    let s = e.open(a, btc, Side::Short, "0.1", "20000", "10").unwrap();
    e.set_stops(s, margin::Stop::None, d("19000")).unwrap();
    e.mark_update(btc, "19000").unwrap();
    let tp = e
        .events()
        .find(|x| x.kind == EventKind::TakeProfit)
        .expect("take-profit");
    // PnL -0.1*(19000 - 20000) = 100; fee 0.0004*1900 = 0.76;
    // free 948.42 - 200.8 + 300 - 0.76 = 1046.86.
    assert_eq!(tp.realized_pnl, d("100"));
    assert_eq!(tp.fee, d("0.76"));
    assert_eq!(e.account(a).unwrap().free_balance, d("1046.86"));
}

#[test]
fn trades_margin_and_leverage_changes() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    // Increase: buy 0.1 at 21000. Entry (2000 + 2100)/0.2 = 20500; margin 100 + 105.
    e.trade(p, Side::Long, "0.1", "21000", Fill::Taker).unwrap();
    let info = e.position(p).unwrap();
    assert_eq!(
        (info.qty, info.entry_price, info.margin),
        (d("0.2"), d("20500"), d("205"))
    );
    // Reduce: sell 0.1 at 22000: PnL 0.1*(22000 - 20500) = 150, margin released
    // 205*0.1/0.2 = 102.5, maker fee 0.0002*2200 = 0.44.
    e.trade(p, Side::Short, "0.1", "22000", Fill::Maker)
        .unwrap();
    let evs: Vec<Event> = e.events().collect();
    assert_eq!(kinds(&evs[2..]), [EventKind::Increase, EventKind::Reduce]);
    let red = &evs[3];
    assert_eq!(red.realized_pnl, d("150"));
    assert_eq!(red.fee, d("0.44"));
    assert_eq!(red.margin, d("102.5"));
    assert_eq!(red.position_qty, d("0.1"));
    let info = e.position(p).unwrap();
    assert_eq!(
        (info.qty, info.margin, info.realized_pnl),
        (d("0.1"), d("102.5"), d("150"))
    );

    // Add 50: margin 152.5. Remove: at the last mark (none: entry 20500), removable is
    // min(M - MM, M + 0 - Q*P/L) = min(152.5 - 8.2, 152.5 - 102.5) = 50.
    e.add_margin(p, "50").unwrap();
    assert_eq!(e.position(p).unwrap().margin, d("152.5"));
    assert_eq!(e.figures_at_last_mark(p).unwrap().removable_margin, d("50"));
    assert_eq!(
        e.remove_margin(p, "50.00000001").unwrap_err().kind(),
        margin::ErrorKind::Margin
    );
    e.remove_margin(p, "50").unwrap();
    assert_eq!(e.position(p).unwrap().margin, d("102.5"));
    // Leverage 20 -> 10: M = 102.5 - 0.1*20500/20 + 0.1*20500/10 = 102.5 - 102.5 + 205.
    e.set_leverage(p, "10").unwrap();
    let info = e.position(p).unwrap();
    assert_eq!((info.leverage, info.margin), (d("10"), d("205")));
    let evs: Vec<Event> = e.events().collect();
    assert_eq!(
        kinds(&evs),
        [
            EventKind::MarginAdd,
            EventKind::MarginRemove,
            EventKind::Leverage
        ]
    );
    assert_eq!(evs[0].amount, d("50"));
    assert_eq!(evs[1].amount, d("-50"));
    assert_eq!(evs[2].amount, d("102.5"));
    // Close at 20000: PnL 0.1*(20000 - 20500) = -50, fee 0.8.
    e.close(p, "20000", Fill::Taker).unwrap();
    let close = e.events().find(|x| x.kind == EventKind::Close).unwrap();
    assert_eq!((close.realized_pnl, close.fee), (d("-50"), d("0.8")));
    // Conservation: 1000 + 150 - 50 - fees (0.8 + 0.84 + 0.44 + 0.8) = 1097.12.
    let acct = e.account(a).unwrap();
    assert_eq!(acct.fees, d("2.88")); // open 0.8, increase 0.0004*2100 = 0.84, 0.44, 0.8
    assert_eq!(acct.free_balance, d("1097.12"));
    assert_eq!(acct.equity, Some(d("1097.12")));
}

#[test]
fn adding_margin_moves_the_liquidation_price_away() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    e.add_margin(p, "50").unwrap();
    // LP = (150 - 2000)/(0.0004 - 0.1) = 4625000/249 = 18574.297188755..., up.
    assert_eq!(e.liquidation_price(p).unwrap(), Some(d("18574.29718876")));
}

#[test]
fn callback_sees_what_the_queue_sees() {
    let (mut e, btc, a) = setup("1000");
    let seen: Arc<Mutex<Vec<(u64, EventKind, Decimal)>>> = Arc::default();
    let s = Arc::clone(&seen);
    e.set_callback(move |ev| s.lock().unwrap().push((ev.seq, ev.kind, ev.realized_pnl)))
        .unwrap();
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    e.mark_update(btc, "19050").unwrap();
    let queued: Vec<(u64, EventKind, Decimal)> = e
        .events()
        .skip(1)
        .map(|ev| (ev.seq, ev.kind, ev.realized_pnl))
        .collect();
    assert_eq!(*seen.lock().unwrap(), queued);
    assert_eq!(queued.last().map(|x| x.1), Some(EventKind::Liquidation));
    assert_eq!(queued.last().map(|x| x.2), Some(d("-100")));
    let _ = p;
    // Without the queue the callback still sees events.
    e.set_event_queue(false).unwrap();
    e.deposit(a, "1").unwrap();
    assert_eq!(e.events_pending().unwrap(), 0);
    assert_eq!(seen.lock().unwrap().last().unwrap().1, EventKind::Deposit);
    e.clear_callback().unwrap();
    e.deposit(a, "1").unwrap();
    assert_eq!(seen.lock().unwrap().len(), queued.len() + 1);
}

#[test]
fn a_panicking_callback_unwinds_after_the_call_and_leaves_the_engine_usable() {
    let (mut e, _btc, a) = setup("1000");
    e.set_callback(|ev| {
        if ev.kind == EventKind::Withdraw {
            panic!("boom from the callback")
        }
    })
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.withdraw(a, "10")));
    let payload = r.expect_err("the panic reaches the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom from the callback")
    );
    // The withdrawal itself completed (the engine was consistent when the panic resumed).
    assert_eq!(e.account(a).unwrap().free_balance, d("990"));
    e.deposit(a, "5").unwrap();
    assert_eq!(e.account(a).unwrap().free_balance, d("995"));
}

#[test]
fn engine_moves_to_another_thread() {
    let (mut e, btc, a) = setup("1000");
    let p = e.open(a, btc, Side::Long, "0.1", "20000", "20").unwrap();
    let handle = std::thread::spawn(move || {
        e.mark_update(btc, "19050").unwrap();
        let n = e
            .events()
            .filter(|x| x.kind == EventKind::Liquidation)
            .count();
        (n, e)
    });
    let (n, e) = handle.join().unwrap();
    assert_eq!(n, 1);
    assert_eq!(e.position(p).unwrap().status, Status::Liquidated);
}

#[test]
fn many_engines_are_independent() {
    let mut engines: Vec<Engine> = (0..4).map(|_| Engine::new().unwrap()).collect();
    for (i, e) in engines.iter_mut().enumerate() {
        let a = e.account_new().unwrap();
        e.deposit(a, (i as i64 + 1) * 10).unwrap();
    }
    for (i, e) in engines.iter().enumerate() {
        let a = margin::AccountId::from_raw(1);
        assert_eq!(
            e.account(a).unwrap().free_balance,
            Decimal::from((i as i64 + 1) * 10)
        );
    }
}
