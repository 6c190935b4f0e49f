//! Seeded random call sequences through the wrapper, valid and invalid arguments mixed:
//! every call returns Ok or a typed error (never a panic, never a crash), and every
//! account's books balance after every step:
//!   free balance + isolated margin = deposits - withdrawals + realized PnL - fees + funding.

mod common;
use common::d;
use margin::{AccountId, Decimal, Engine, ErrorKind, Fill, MarketId, PositionId, Side};

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const PRICES: &[&str] = &[
    "20000",
    "19500",
    "19076",
    "19000",
    "18000",
    "20500",
    "21000",
    "22000",
    "0",
    "-1",
    "1e3",
    "20000.000000001",
    "abc",
];
const QTYS: &[&str] = &[
    "0.1",
    "0.05",
    "0.01",
    "0.2",
    "1",
    "0",
    "-0.1",
    "0.000000001",
    "x",
];
// (Amounts near the i64 limit are tested on their own in errors.rs.)
const AMOUNTS: &[&str] = &[
    "10",
    "100",
    "0.5",
    "1000",
    "50000",
    "0",
    "-5",
    "1.123456789",
    "",
];
const LEVERAGES: &[&str] = &["1", "5", "20", "125", "126", "0.5", "0"];

fn books_balance(e: &Engine, a: AccountId) {
    let x = e.account(a).unwrap();
    // In 128 bits at the money scale: sums near the i64 limit must not overflow here.
    let w = |v: Decimal| v.to_scale(8).unwrap() as i128;
    let lhs = w(x.free_balance) + w(x.isolated_margin);
    let rhs = w(x.deposits) - w(x.withdrawals) + w(x.realized_pnl) - w(x.fees) + w(x.funding);
    assert_eq!(lhs, rhs, "books of {a} (units of 1e-8): {x:?}");
    assert!(
        !x.free_balance.is_negative(),
        "{a}: negative free balance {x:?}"
    );
}

fn run(seed: u64, steps: usize) {
    let mut r = Rng(seed);
    let mut e = Engine::new().unwrap();
    let m = e.market_new("BTCUSDT").unwrap();
    let accounts: Vec<AccountId> = (0..3).map(|_| e.account_new().unwrap()).collect();
    let mut positions: Vec<PositionId> = Vec::new();
    let mut kinds_seen = std::collections::BTreeSet::new();
    let mut log: Vec<String> = Vec::new();
    for step in 0..steps {
        let a = accounts[r.below(3) as usize];
        let ghost = r.below(10) == 0;
        let p = if positions.is_empty() || ghost {
            PositionId::from_raw(r.below(50))
        } else {
            positions[r.below(positions.len() as u64) as usize]
        };
        let market = if ghost { MarketId::from_raw(9) } else { m };
        let side = if r.below(2) == 0 {
            Side::Long
        } else {
            Side::Short
        };
        let fill = if r.below(2) == 0 {
            Fill::Taker
        } else {
            Fill::Maker
        };
        let op = r.below(12);
        let (s1, s2, s3) = match op {
            0..=2 => (r.pick(AMOUNTS), "", ""),
            3 | 4 => (r.pick(QTYS), r.pick(PRICES), r.pick(LEVERAGES)),
            5 => (r.pick(QTYS), r.pick(PRICES), ""),
            6 => (r.pick(PRICES), "", ""),
            7 | 8 => (r.pick(AMOUNTS), "", ""),
            9 => (r.pick(LEVERAGES), "", ""),
            10 => (
                r.pick(&["0.0001", "-0.0003", "0.01", "1", "0"]),
                r.pick(PRICES),
                "",
            ),
            _ => (r.pick(PRICES), "", ""),
        };
        let res: margin::Result<()> = match op {
            0 | 1 => e.deposit(a, s1),
            2 => e.withdraw(a, s1),
            3 | 4 => e
                .open(a, market, side, s1, s2, s3)
                .map(|id| positions.push(id)),
            5 => e.trade(p, side, s1, s2, fill),
            6 => e.close(p, s1, fill),
            7 => e.add_margin(p, s1),
            8 => e.remove_margin(p, s1),
            9 => e.set_leverage(p, s1),
            10 => e.funding(market, s1, s2),
            _ => e.mark_update(market, s1),
        };
        let names = [
            "deposit",
            "deposit",
            "withdraw",
            "open",
            "open",
            "trade",
            "close",
            "add_margin",
            "remove_margin",
            "set_leverage",
            "funding",
            "mark_update",
        ];
        log.push(format!(
            "step {step}: {}({}, {market}, {p}, {side:?}, {fill:?}, {s1:?}, {s2:?}, {s3:?}) -> {:?}",
            names[op as usize],
            a,
            res.as_ref().map_err(|e| e.kind())
        ));
        if std::env::var_os("MARGIN_RANDOM_TRACE").is_some() {
            eprintln!("{}", log.last().unwrap());
        }
        if let Err(err) = res {
            assert!(
                !matches!(err.kind(), ErrorKind::Other(_)),
                "step {step}: untyped {err}"
            );
            assert!(
                !err.message().is_empty(),
                "step {step}: {:?} without a message",
                err.kind()
            );
            kinds_seen.insert(format!("{:?}", err.kind()));
        }
        // Figures of any position: Ok or typed error.
        if let Err(err) = e.figures(p, "19500") {
            assert!(!matches!(err.kind(), ErrorKind::Other(_)));
        }
        let _ = e.events().count();
        for &acct in &accounts {
            books_balance(&e, acct);
        }
    }
    // The run exercised the error paths, not only the happy ones.
    for k in ["Invalid", "Parse", "NotFound", "Range"] {
        assert!(
            kinds_seen.contains(k),
            "seed {seed}: never saw {k} (saw {kinds_seen:?})"
        );
    }
    // ... and the happy ones: positions opened, some liquidated.
    assert!(
        positions.len() >= 20,
        "seed {seed}: only {} positions opened",
        positions.len()
    );
    eprintln!(
        "seed {seed}: {} positions, {} liquidations, errors {kinds_seen:?}",
        positions.len(),
        e.liquidations().unwrap()
    );
    let total_open: u64 = accounts
        .iter()
        .map(|&a| e.account(a).unwrap().open_positions)
        .sum();
    assert_eq!(total_open, e.open_positions().unwrap());
    let _ = Decimal::ZERO;
    let _ = d("0");
}

#[test]
fn random_sequences_keep_the_books() {
    for seed in [1u64, 2, 3, 0x5eed, 0xdead_beef] {
        run(seed, 1500);
    }
}
