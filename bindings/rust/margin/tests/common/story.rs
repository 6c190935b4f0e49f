//! A state with something of everything a snapshot holds, and further calls to run on
//! any engine holding it (the snapshot and allocator tests).

use super::d;
use margin::{
    sys, AccountId, CrossLiquidationPolicy, Engine, Fill, MarketId, MarketOption, MmBasis, Mode,
    OpenOptions, PositionId, Side, Tier,
};

/// The ids `build` made (the same in every engine built or loaded from it).
pub struct Ids {
    pub btc: MarketId,
    pub eth: MarketId,
    pub alice: AccountId,
    pub bob: AccountId,
    pub carol: AccountId,
    /// Positions 1 to 7.
    pub p: Vec<PositionId>,
}

/// Two markets (scales, tiers, the entry basis, a fee to close), isolated and cross
/// accounts, stops, funding, a liquidation, a closed position, a fired margin-call level,
/// options other than the defaults, and events left in the queue.
pub fn build(e: &mut Engine) -> Ids {
    e.set_time(1_700_000_000_000).unwrap();
    e.set_margin_call_levels(["0.5", "0.8"]).unwrap();
    // SAFETY: live engine (no safe setter for the re-arm band).
    let rc =
        unsafe { sys::margin_engine_set(e.as_mut_ptr(), sys::MARGIN_ENG_REARM_BAND, 5_000_000) };
    assert_eq!(rc, 0);
    e.set_cross_liquidation(CrossLiquidationPolicy::WorstFirst)
        .unwrap();
    e.set_event_cap(Some(1000)).unwrap();
    let btc = e
        .market_with(
            "BTCUSDT",
            &[
                MarketOption::PriceScale(2),
                MarketOption::QtyScale(3),
                MarketOption::Tick(d("0.1")),
            ],
        )
        .unwrap();
    for (floor, mmr) in [("0", "0.004"), ("50000", "0.005"), ("250000", "0.01")] {
        e.add_tier(btc, &Tier::new(floor, mmr).unwrap()).unwrap();
    }
    let eth = e
        .market_with(
            "ETHUSDT",
            &[
                MarketOption::PriceScale(2),
                MarketOption::QtyScale(2),
                MarketOption::MmBasis(MmBasis::Entry),
                MarketOption::CloseFee(d("0.0005")),
                MarketOption::MakerFee(d("0.0001")),
            ],
        )
        .unwrap();
    let alice = e.account_new().unwrap();
    e.deposit(alice, "10000").unwrap();
    let bob = e.account_new().unwrap();
    e.deposit(bob, "5000").unwrap();
    e.set_account_mode(bob, btc, Mode::Cross).unwrap();
    e.set_account_mode(bob, eth, Mode::Cross).unwrap();
    let carol = e.account_new().unwrap();
    e.deposit(carol, "1000").unwrap();
    let p1 = e
        .open(alice, btc, Side::Long, "0.5", "20000", "10")
        .unwrap();
    e.set_stops(p1, "18500", "23000").unwrap();
    let maker = OpenOptions {
        margin: Some(d("500")),
        fill: Fill::Maker,
        ..OpenOptions::default()
    };
    let p2 = e
        .open_with(alice, eth, Side::Short, "3", "1500", maker)
        .unwrap();
    let cross = |l: &str| OpenOptions::cross_at(l).unwrap();
    let p3 = e
        .open_with(bob, btc, Side::Short, "0.2", "20000", cross("20"))
        .unwrap();
    let p4 = e
        .open_with(bob, eth, Side::Long, "2", "1500", cross("10"))
        .unwrap();
    let p5 = e
        .open(carol, btc, Side::Long, "0.1", "20000", "50")
        .unwrap();
    let p6 = e
        .open(carol, btc, Side::Long, "0.1", "20000", "20")
        .unwrap();
    let p7 = e
        .open(alice, btc, Side::Short, "0.1", "20100", "5")
        .unwrap();
    e.close(p7, "20050", Fill::Taker).unwrap();
    e.events().for_each(drop); // these are read; the ones below stay queued
    e.mark_update(btc, "20100").unwrap();
    e.funding(btc, "0.0001", "20100").unwrap();
    e.mark_update(eth, "1510").unwrap();
    let t = e.time().unwrap();
    e.set_time(t + 60_000).unwrap();
    e.mark_update(btc, "19650").unwrap(); // carol's 50x long is liquidated
    e.add_margin(p1, "100").unwrap();
    e.withdraw(alice, "50").unwrap();
    e.mark_update(btc, "19140").unwrap(); // carol's 20x long passes the 0.5 level
    Ids {
        btc,
        eth,
        alice,
        bob,
        carol,
        p: vec![p1, p2, p3, p4, p5, p6, p7],
    }
}

/// One further call.
pub type Step = fn(&mut Engine, &Ids) -> margin::Result<()>;

/// Further calls (a stop-loss, liquidations, funding, a trade, new accounts).
pub const STEPS: &[Step] = &[
    |e, _| {
        let t = e.time()?;
        e.set_time(t + 1000)
    },
    |e, x| e.mark_update(x.btc, "18400"),
    |e, x| e.mark_update(x.eth, "1700"),
    |e, x| e.funding(x.eth, "-0.0002", "1700"),
    |e, x| e.trade(x.p[3], Side::Short, "1", "1700", Fill::Taker),
    |e, x| e.deposit(x.carol, "10"),
    |e, _| {
        let a = e.account_new()?;
        e.deposit(a, "1")
    },
    |e, x| e.mark_update(x.btc, "21000"),
];

/// CRC-32C (Castagnoli, reflected 0x82F63B78), as docs/snapshot.md specifies.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82F6_3B78 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// `data` with its CRC-32C trailer recomputed: a well-formed snapshot of bad fields.
pub fn resealed(mut data: Vec<u8>) -> Vec<u8> {
    let n = data.len() - 4;
    let crc = crc32c(&data[..n]);
    data[n..].copy_from_slice(&crc.to_le_bytes());
    data
}

/// tag -> (payload offset, item count, payload length), in order.
pub fn sections(data: &[u8]) -> Vec<([u8; 4], usize, u32, usize)> {
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap());
    let mut out = Vec::new();
    let mut off = 32;
    for _ in 0..u32_at(12) {
        let tag: [u8; 4] = data[off..off + 4].try_into().unwrap();
        let len = u64_at(off + 8) as usize;
        out.push((tag, off + 16, u32_at(off + 4), len));
        off += 16 + len;
    }
    out
}
