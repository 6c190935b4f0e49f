//! `Engine::with_allocator` (`margin_engine_new_with_allocator`): every byte of the engine
//! comes from the caller's functions and goes back through them; a refused allocation
//! fails the call with `NoMemory` and changes nothing; a snapshot loads through them.

mod common;
use common::story::{build, STEPS};
use margin::{Allocator, Engine, ErrorKind};
use std::alloc::{alloc, dealloc, realloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// The allocator's figures, shared with the test.
#[derive(Default)]
struct Stats {
    used: AtomicUsize,
    limit: AtomicUsize,
    calls: AtomicUsize,
    dropped: AtomicBool,
    panic_next: AtomicBool,
}

/// Bytes in use, refused past `limit`; each block has a 16-byte head with its size.
struct Budget(Arc<Stats>);
const HEAD: usize = 16;

fn layout(n: usize) -> Layout {
    Layout::from_size_align(n + HEAD, 16).unwrap()
}

unsafe impl Allocator for Budget {
    fn alloc(&self, size: usize) -> *mut u8 {
        // SAFETY: null is a valid block for realloc.
        unsafe { self.realloc(ptr::null_mut(), size) }
    }

    unsafe fn realloc(&self, p: *mut u8, size: usize) -> *mut u8 {
        let s = &self.0;
        s.calls.fetch_add(1, Relaxed);
        if s.panic_next.swap(false, Relaxed) {
            panic!("an allocator that panics");
        }
        let old = if p.is_null() {
            0
        } else {
            *(p.sub(HEAD) as *const usize)
        };
        if s.used.load(Relaxed) - old + size > s.limit.load(Relaxed) {
            return ptr::null_mut();
        }
        let base = if p.is_null() {
            alloc(layout(size))
        } else {
            realloc(p.sub(HEAD), layout(old), size + HEAD)
        };
        if base.is_null() {
            return ptr::null_mut();
        }
        *(base as *mut usize) = size;
        s.used.fetch_add(size, Relaxed);
        s.used.fetch_sub(old, Relaxed);
        base.add(HEAD)
    }

    unsafe fn free(&self, p: *mut u8) {
        if !p.is_null() {
            let size = *(p.sub(HEAD) as *const usize);
            dealloc(p.sub(HEAD), layout(size));
            self.0.used.fetch_sub(size, Relaxed);
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.0.dropped.store(true, Relaxed);
    }
}

fn budget(limit: usize) -> (Budget, Arc<Stats>) {
    let s = Arc::new(Stats::default());
    s.limit.store(limit, Relaxed);
    (Budget(Arc::clone(&s)), s)
}

#[test]
fn the_same_engine_and_every_byte_back() {
    let (b, stats) = budget(usize::MAX / 2);
    let mut e = Engine::with_allocator(b).unwrap();
    let ids = build(&mut e);
    for step in STEPS {
        step(&mut e, &ids).unwrap();
    }
    let mut plain = Engine::new().unwrap();
    let ids2 = build(&mut plain);
    for step in STEPS {
        step(&mut plain, &ids2).unwrap();
    }
    assert_eq!(
        e.save(),
        plain.save(),
        "the allocator changes nothing observable"
    );
    assert!(stats.used.load(Relaxed) > 0);
    assert!(stats.calls.load(Relaxed) > 10);
    assert!(!stats.dropped.load(Relaxed));
    drop(e);
    assert_eq!(stats.used.load(Relaxed), 0, "every byte went back");
    assert!(
        stats.dropped.load(Relaxed),
        "the engine drops its allocator"
    );
}

/// Every step of the story, from the state before it, with little room left: either it
/// works (the reference's state after it) or it fails with NoMemory and the state is
/// the one before it, byte for byte; with room again the same call works.
#[test]
fn a_refused_allocation_changes_nothing() {
    let mut r = Engine::new().unwrap();
    let ids = build(&mut r);
    let mut states = vec![r.save()];
    for step in STEPS {
        step(&mut r, &ids).unwrap();
        states.push(r.save());
    }
    let mut refusals = 0;
    for (i, step) in STEPS.iter().enumerate() {
        for room in [0usize, 64, 256, 1024, 4096, 16384] {
            let (b, stats) = budget(usize::MAX / 2);
            let mut e = Engine::with_allocator(b).unwrap();
            e.restore(&states[i]).unwrap();
            stats.limit.store(stats.used.load(Relaxed) + room, Relaxed);
            if let Err(err) = step(&mut e, &ids) {
                assert_eq!(
                    err.kind(),
                    ErrorKind::NoMemory,
                    "step {i}, room {room}: {err}"
                );
                assert_eq!(
                    e.save(),
                    states[i],
                    "step {i}, room {room}: a change was left"
                );
                refusals += 1;
                stats.limit.store(usize::MAX / 2, Relaxed);
                step(&mut e, &ids).unwrap();
            }
            assert_eq!(e.save(), states[i + 1], "step {i}, room {room}");
            drop(e);
            assert_eq!(stats.used.load(Relaxed), 0);
        }
    }
    assert!(refusals > 0, "no step needed memory");
}

#[test]
fn a_snapshot_loads_through_the_allocator() {
    let mut plain = Engine::new().unwrap();
    build(&mut plain);
    let bytes = plain.save();

    let (b, stats) = budget(usize::MAX / 2);
    let mut e = Engine::with_allocator(b).unwrap();
    let empty = stats.used.load(Relaxed);
    e.restore(&bytes).unwrap();
    assert!(
        stats.used.load(Relaxed) > empty,
        "the loaded state is in the allocator's memory"
    );
    assert_eq!(e.save(), bytes);

    // Too little memory to load: NoMemory, and the engine is still empty.
    let (b, stats) = budget(usize::MAX / 2);
    let mut e = Engine::with_allocator(b).unwrap();
    let fresh = e.state_hash();
    stats.limit.store(stats.used.load(Relaxed) + 1000, Relaxed);
    let err = e.restore(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMemory, "{err}");
    assert_eq!(e.state_hash(), fresh);
    assert!(e.positions(None).unwrap().is_empty());
    stats.limit.store(usize::MAX / 2, Relaxed);
    e.restore(&bytes).unwrap();
    assert_eq!(e.save(), bytes);
}

#[test]
fn the_handle_refused() {
    let (b, stats) = budget(0);
    let err = Engine::with_allocator(b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMemory);
    assert!(
        stats.dropped.load(Relaxed),
        "the allocator is dropped with the failure"
    );
    assert_eq!(stats.used.load(Relaxed), 0);
}

#[test]
fn a_panicking_allocator_is_a_refusal() {
    let (b, stats) = budget(usize::MAX / 2);
    let mut e = Engine::with_allocator(b).unwrap();
    let before = e.save();
    stats.panic_next.store(true, Relaxed);
    let err = e.market_new("BTCUSDT").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMemory);
    assert_eq!(e.save(), before);
    e.market_new("BTCUSDT").unwrap();
    drop(e);
    assert_eq!(stats.used.load(Relaxed), 0);
}
