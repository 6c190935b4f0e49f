//! Issue 12, item 5: snapshots (bytes and files), the state hash and a restart that keeps
//! no ids. A loaded engine saves the same bytes and, continued with the same calls,
//! produces the same events and state hashes as the engine that saved it; a damaged
//! snapshot fails with its own error kind and leaves nothing half-built.

mod common;
use common::d;
use common::story::{build, crc32c, resealed, sections, Ids, STEPS};
use margin::{sys, CrossLiquidationPolicy, Engine, ErrorKind, Event, EventKind, Mode, Status};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn built() -> (Engine, Ids, Vec<u8>) {
    let mut e = Engine::new().unwrap();
    let ids = build(&mut e);
    let bytes = e.save();
    (e, ids, bytes)
}

fn rearm_band(e: &Engine) -> i64 {
    let mut v = 0i64;
    // SAFETY: live engine, valid out-pointer.
    let rc = unsafe { sys::margin_engine_get(e.as_ptr(), sys::MARGIN_ENG_REARM_BAND, &mut v) };
    assert_eq!(rc, 0);
    v
}

#[test]
fn the_tests_crc32c_is_the_formats() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    let (_, _, bytes) = built();
    let n = bytes.len() - 4;
    assert_eq!(crc32c(&bytes[..n]).to_le_bytes(), bytes[n..]);
}

#[test]
fn header_and_sections() {
    let (e, _, b) = built();
    assert_eq!(&b[..8], b"LMARGIN\x1a");
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(u32_at(8) as i32, sys::MARGIN_SNAPSHOT_VERSION);
    assert_eq!(
        u64::from_le_bytes(b[16..24].try_into().unwrap()),
        b.len() as u64
    );
    let secs = sections(&b);
    let tags: Vec<&[u8; 4]> = secs.iter().map(|s| &s.0).collect();
    assert_eq!(tags, [b"ENGN", b"MRKT", b"ACCT", b"POSN", b"EVNT"]);
    assert_eq!(u64::from(secs[4].2), e.events_pending().unwrap());
}

#[test]
fn save_load_save_gives_the_same_bytes() {
    let (e, _, bytes) = built();
    let b = Engine::load(&bytes).unwrap();
    assert_eq!(b.save(), bytes);
    assert_eq!(b.state_hash(), e.state_hash());
    // An empty engine too.
    let empty = Engine::new().unwrap().save();
    assert_eq!(Engine::load(&empty).unwrap().save(), empty);
}

#[test]
fn the_same_calls_give_the_same_events_and_hashes() {
    let (mut a, ids, bytes) = built();
    let mut b = Engine::load(&bytes).unwrap();
    assert_eq!(b.events_pending().unwrap(), a.events_pending().unwrap());
    let mut hashes = HashSet::new();
    let mut kinds = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        step(&mut a, &ids).unwrap_or_else(|err| panic!("step {i}: {err}"));
        step(&mut b, &ids).unwrap_or_else(|err| panic!("step {i} (loaded): {err}"));
        let ea: Vec<Event> = a.events().collect();
        let eb: Vec<Event> = b.events().collect();
        assert_eq!(ea, eb, "step {i}");
        assert_eq!(a.state_hash(), b.state_hash(), "step {i}");
        hashes.insert(a.state_hash());
        kinds.extend(ea.iter().map(|e| e.kind));
    }
    assert_eq!(hashes.len(), STEPS.len(), "every step changed the state");
    assert_eq!(a.save(), b.save());
    // The queued events came first, then triggers of every kind.
    assert_eq!(kinds[..4], [EventKind::Funding; 4]);
    assert_eq!(
        kinds[4..8],
        [
            EventKind::Liquidation,
            EventKind::MarginAdd,
            EventKind::Withdraw,
            EventKind::MarginCall
        ]
    );
    for k in [
        EventKind::StopLoss,
        EventKind::Liquidation,
        EventKind::Funding,
        EventKind::Reduce,
        EventKind::Deposit,
    ] {
        assert!(kinds[8..].contains(&k), "{k:?} in {kinds:?}");
    }
}

#[test]
fn figures_options_and_listing_survive() {
    let (a, x, bytes) = built();
    let b = Engine::load(&bytes).unwrap();
    assert_eq!(b.time().unwrap(), a.time().unwrap());
    assert_eq!(b.margin_call_levels().unwrap(), vec![d("0.5"), d("0.8")]);
    assert_eq!(
        b.cross_liquidation().unwrap(),
        CrossLiquidationPolicy::WorstFirst
    );
    assert_eq!(b.event_cap().unwrap(), Some(1000));
    assert_eq!(rearm_band(&b), 5_000_000);
    assert_eq!(b.insurance_fund().unwrap(), a.insurance_fund().unwrap());
    assert_eq!(b.open_positions().unwrap(), 5);
    assert_eq!(b.last_seq().unwrap(), a.last_seq().unwrap());
    assert_eq!(b.liquidations().unwrap(), 1);
    assert_eq!(
        b.cross_evaluations().unwrap(),
        a.cross_evaluations().unwrap()
    );
    for m in [x.btc, x.eth] {
        assert_eq!(b.market(m).unwrap(), a.market(m).unwrap());
        assert_eq!(b.tiers(m).unwrap(), a.tiers(m).unwrap());
        assert_eq!(b.market_symbol(m).unwrap(), a.market_symbol(m).unwrap());
    }
    assert_eq!(b.market_find("ETHUSDT").unwrap(), x.eth);
    assert_eq!(b.market(x.btc).unwrap().mark, Some(d("19140")));
    for acct in [x.alice, x.bob, x.carol] {
        assert_eq!(b.account(acct).unwrap(), a.account(acct).unwrap());
    }
    assert_eq!(b.account_mode(x.bob, x.eth).unwrap(), Mode::Cross);
    // A restart that kept no ids finds every position through the listings.
    let p = &x.p;
    assert_eq!(
        b.positions(Some(Status::Open)).unwrap(),
        vec![p[0], p[1], p[2], p[3], p[5]]
    );
    assert_eq!(b.positions(Some(Status::Closed)).unwrap(), vec![p[6]]);
    assert_eq!(b.positions(Some(Status::Liquidated)).unwrap(), vec![p[4]]);
    assert_eq!(b.positions(None).unwrap(), p.clone());
    assert_eq!(
        b.account_positions(x.carol, None).unwrap(),
        vec![p[4], p[5]]
    );
    assert_eq!(
        b.market_positions(x.btc, Some(Status::Open)).unwrap(),
        vec![p[0], p[2], p[5]]
    );
    for &id in p {
        assert_eq!(b.position(id).unwrap(), a.position(id).unwrap(), "{id}");
    }
    for &id in &a.positions(Some(Status::Open)).unwrap() {
        assert_eq!(
            b.figures_at_last_mark(id).unwrap(),
            a.figures_at_last_mark(id).unwrap()
        );
    }
}

#[test]
fn restore_keeps_the_callback_and_wants_an_empty_engine() {
    let (_, x, bytes) = built();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let mut e = Engine::new().unwrap();
    e.set_callback(move |ev| s.lock().unwrap().push(ev.kind))
        .unwrap();
    e.restore(&bytes).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "loading produces no event");
    e.deposit(x.alice, "1").unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![EventKind::Deposit]);
    // Not into an engine with something in it: refused, nothing changed.
    let h = e.state_hash();
    let err = e.restore(&bytes).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    assert!(err.message().contains("empty"), "{err}");
    assert_eq!(e.state_hash(), h);
    let mut f = Engine::new().unwrap();
    f.account_new().unwrap();
    assert_eq!(f.restore(&bytes).unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn the_hash() {
    let (mut a, x, _) = built();
    let h = a.state_hash();
    assert_eq!(a.state_hash(), h, "reading it changes nothing");
    let mut c = Engine::new().unwrap();
    let fresh = c.state_hash();
    assert_eq!(Engine::new().unwrap().state_hash(), fresh);
    build(&mut c);
    assert_eq!(c.state_hash(), h, "the same calls on another engine");
    c.set_time(c.time().unwrap() + 1).unwrap();
    assert_ne!(c.state_hash(), h);
    assert_ne!(fresh, h);
    a.deposit(x.alice, "0.00000001").unwrap();
    assert_ne!(a.state_hash(), h);
    // Taking an event off the queue changes the state too.
    let h = a.state_hash();
    a.next_event().unwrap();
    assert_ne!(a.state_hash(), h);
}

// ---------------------------------------------------------------------------- files

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("margin-rs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn file_round_trip() {
    let dir = TempDir::new("round-trip");
    let (mut a, ids, bytes) = built();
    let path = dir.0.join("engine.snap");
    a.save_file(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(dir.names(), ["engine.snap"], "no temporary file left");
    let mut b = Engine::load_file(&path).unwrap();
    assert_eq!(b.state_hash(), a.state_hash());
    for step in STEPS {
        step(&mut a, &ids).unwrap();
        step(&mut b, &ids).unwrap();
    }
    assert_eq!(
        a.events().collect::<Vec<_>>(),
        b.events().collect::<Vec<_>>()
    );
    // Saving over an existing file replaces it whole; &str, String and PathBuf paths.
    b.save_file(path.to_str().unwrap()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), a.save());
    let mut c = Engine::new().unwrap();
    c.restore_file(path.display().to_string()).unwrap();
    assert_eq!(c.save(), a.save());
    assert_eq!(dir.names(), ["engine.snap"]);
}

#[test]
fn file_errors() {
    let dir = TempDir::new("errors");
    let (e, _, bytes) = built();
    let missing = dir.0.join("no-such-file");
    let err = Engine::load_file(&missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(!err.kind().is_snapshot());
    assert!(err.message().contains("open"), "{err}");
    assert!(err.message().contains(missing.to_str().unwrap()), "{err}");

    let in_missing_dir = dir.0.join("no-such-dir").join("x.snap");
    assert_eq!(
        e.save_file(&in_missing_dir).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert!(!in_missing_dir.parent().unwrap().exists());

    // A directory in the way: the rename fails, the directory and its content stay and
    // the temporary file is removed.
    let d = dir.0.join("a-dir");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("keep"), b"keep").unwrap();
    let err = e.save_file(&d).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("rename"), "{err}");
    assert_eq!(dir.names(), ["a-dir"]);
    assert_eq!(std::fs::read(d.join("keep")).unwrap(), b"keep");
    // Reading a directory fails on the read.
    assert_eq!(Engine::load_file(&d).unwrap_err().kind(), ErrorKind::Io);
    // The engine is as it was.
    assert_eq!(e.save(), bytes);

    for bad in [Path::new(""), Path::new("a\0b")] {
        assert_eq!(e.save_file(bad).unwrap_err().kind(), ErrorKind::Invalid);
        assert_eq!(
            Engine::load_file(bad).unwrap_err().kind(),
            ErrorKind::Invalid
        );
    }

    let garbage = dir.0.join("garbage");
    std::fs::write(&garbage, b"not a snapshot at all, just text\n").unwrap();
    assert_eq!(
        Engine::load_file(&garbage).unwrap_err().kind(),
        ErrorKind::Magic
    );
    std::fs::write(&garbage, b"").unwrap();
    assert_eq!(
        Engine::load_file(&garbage).unwrap_err().kind(),
        ErrorKind::Magic
    );
    std::fs::write(&garbage, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(
        Engine::load_file(&garbage).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

// ---------------------------------------------------------------------------- damage

/// `data` is refused with `kind` (and a message containing `what`), by `Engine::load`
/// and by `restore` into an engine we keep: that engine is still empty afterwards (its
/// hash is a new engine's) and still loads a good snapshot.
#[track_caller]
fn refused(data: &[u8], kind: ErrorKind, what: &str, good: &[u8]) {
    let err = Engine::load(data).unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert!(kind.is_snapshot());
    assert!(err.message().contains(what), "{err} lacks {what:?}");
    let mut e = Engine::new().unwrap();
    let fresh = e.state_hash();
    let again = e.restore(data).unwrap_err();
    assert_eq!(again, err);
    assert_eq!(e.last_error(), Some(err));
    assert_eq!(e.state_hash(), fresh);
    assert!(e.positions(None).unwrap().is_empty());
    assert_eq!((e.events_pending().unwrap(), e.last_seq().unwrap()), (0, 0));
    assert_eq!(
        e.market_find("BTCUSDT").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    e.restore(good).unwrap();
    assert_eq!(e.save(), good);
}

#[test]
fn damaged_magic() {
    let (_, _, good) = built();
    let mut x = good.clone();
    x[0] = b'X';
    for data in [&b""[..], b"LMARGIN", &[0u8; 64], &x] {
        refused(data, ErrorKind::Magic, "magic", &good);
    }
}

#[test]
fn damaged_version() {
    let (_, _, good) = built();
    let mut v = good.clone();
    // Format 4 is this library's and formats 1 to 3 still load: 5 is the first unknown one.
    assert_eq!(sys::MARGIN_SNAPSHOT_VERSION, 4);
    v[8..12].copy_from_slice(&5u32.to_le_bytes());
    refused(&v, ErrorKind::Version, "version 5", &good);
    refused(&resealed(v), ErrorKind::Version, "version 5", &good);
}

#[test]
fn damaged_truncated() {
    let (_, _, good) = built();
    for n in [good.len() - 1, good.len() / 2, 40, 20] {
        refused(&good[..n], ErrorKind::Truncated, "", &good);
    }
}

#[test]
fn damaged_checksum() {
    let (_, _, good) = built();
    for off in [32, good.len() / 2, good.len() - 5, good.len() - 1] {
        let mut d = good.clone();
        d[off] ^= 0x40;
        refused(&d, ErrorKind::Checksum, "checksum", &good);
    }
}

#[test]
fn damaged_fields() {
    let (_, _, good) = built();
    let secs = sections(&good);
    // The first market's price scale (after its symbol length and "BTCUSDT").
    let mut d = good.clone();
    d[secs[1].1 + 1 + 7] = 19;
    refused(&resealed(d), ErrorKind::Corrupt, "MRKT", &good);
    // The first account's free balance one unit more: its ledgers no longer balance.
    let mut d = good.clone();
    let o = secs[2].1;
    let v = i64::from_le_bytes(d[o..o + 8].try_into().unwrap()) + 1;
    d[o..o + 8].copy_from_slice(&v.to_le_bytes());
    refused(&resealed(d), ErrorKind::Corrupt, "", &good);
    // A section tag out of place.
    let mut d = good.clone();
    d[secs[3].1 - 16] = b'X';
    refused(&resealed(d), ErrorKind::Corrupt, "tag", &good);
    // Bytes after the trailer.
    let mut d = good.clone();
    d.push(0);
    refused(&d, ErrorKind::Corrupt, "length", &good);
}

/// `set_retain_closed`: a block of 1024 ids whose positions all closed before the
/// window is retired; a snapshot keeps it retired.
#[test]
fn retired_ids_stay_retired_after_a_load() {
    let mut e = Engine::new().unwrap();
    e.set_event_queue(false).unwrap();
    e.set_retain_closed(0).unwrap();
    let btc = e.market_new("BTCUSDT").unwrap();
    let a = e.account_new().unwrap();
    e.deposit(a, "100000").unwrap();
    let mut ids = Vec::new();
    for i in 0..1030 {
        let p = e
            .open(a, btc, margin::Side::Long, "0.001", "20000", "10")
            .unwrap();
        if i < 1025 {
            e.close(p, "20000", margin::Fill::Taker).unwrap();
        }
        ids.push(p);
    }
    let bytes = e.save();
    let b = Engine::load(&bytes).unwrap();
    assert_eq!(b.save(), bytes);
    assert_eq!(b.retain_closed().unwrap(), 0);
    for x in [&e, &b] {
        let err = x.position(ids[0]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.message().contains("retired"), "{err}");
        assert_eq!(
            x.positions(Some(Status::Open)).unwrap(),
            ids[1025..].to_vec()
        );
        assert_eq!(x.position(ids[1024]).unwrap().status, Status::Closed);
    }
}
