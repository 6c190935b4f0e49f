//! Raw FFI declarations of libmargin, one for one with `include/margin.h`.
//!
//! Every function of the header is declared here with its exact fixed-width types
//! (`int` is [`c_int`], `int32_t` is `i32`, `int64_t` is `i64`, `uint32_t` is `u32`,
//! `uint64_t` is `u64`, `size_t` is `usize`, `const char *` is `*const c_char`), and every
//! `#define MARGIN_*` constant with its value. The test `tests/header.rs` parses the header
//! and fails when a function or constant is missing here or a type differs.
//!
//! Everything here is `unsafe` and follows the C contract: see the header's documentation
//! for units, rounding, ownership and thread rules. Use the `margin` crate for a safe API.
//!
//! Linking: `build.rs` finds the library through `MARGIN_LIB_DIR` or the `pkg-config`
//! program (`PKG_CONFIG_PATH=<builddir>` uses the uninstalled build tree).

#![allow(non_camel_case_types)]

pub use std::os::raw::{c_char, c_int, c_void};

/// The engine: owns every market, account, position and event. Opaque; only ever used
/// behind a pointer.
#[repr(C)]
pub struct margin_engine {
    _private: [u8; 0],
    // Neither Send, Sync nor Unpin: the C side decides what may move where.
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// Callback called synchronously for every event as it is produced
/// (`typedef void (*margin_event_fn)(void *user, const margin_engine *e, int32_t type)`).
/// `None` is the C `NULL`.
pub type margin_event_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, e: *const margin_engine, type_: i32)>;

/// Allocates `size` bytes, like `malloc` (`typedef void *(*margin_malloc_fn)(void *user,
/// size_t size)`); returns NULL when it cannot. Memory must be aligned for any C type.
pub type margin_malloc_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, size: usize) -> *mut c_void>;

/// Resizes `ptr` (NULL: allocates) to `size > 0` bytes, like `realloc`
/// (`typedef void *(*margin_realloc_fn)(void *user, void *ptr, size_t size)`); returns NULL
/// when it cannot, leaving `ptr` intact.
pub type margin_realloc_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void>;

/// Frees `ptr` (NULL: nothing), like `free`
/// (`typedef void (*margin_free_fn)(void *user, void *ptr)`).
pub type margin_free_fn = Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void)>;

// ---------------------------------------------------------------------------- constants

/// Success.
pub const MARGIN_OK: i32 = 0;
/// An argument is invalid (NULL, zero, negative, unknown constant).
pub const MARGIN_EINVAL: i32 = -1;
/// Memory could not be allocated.
pub const MARGIN_ENOMEM: i32 = -2;
/// A result or intermediate does not fit in 64 bits.
pub const MARGIN_EOVERFLOW: i32 = -3;
/// A string is not a plain decimal number.
pub const MARGIN_EPARSE: i32 = -4;
/// A value is out of range, or has more decimals than the scale holds.
pub const MARGIN_ERANGE: i32 = -5;
/// No market, account or position has that id.
pub const MARGIN_ENOTFOUND: i32 = -6;
/// The position is closed or liquidated.
pub const MARGIN_ECLOSED: i32 = -7;
/// The account's free balance does not cover the amount.
pub const MARGIN_EFUNDS: i32 = -8;
/// The leverage is outside the market's (or the tier's) limit.
pub const MARGIN_ELEVERAGE: i32 = -9;
/// A price or quantity is not on the market's tick or step grid.
pub const MARGIN_EGRID: i32 = -10;
/// Not allowed in the current state (e.g. changing a market with open positions).
pub const MARGIN_ESTATE: i32 = -11;
/// The margin would fall below what the position requires.
pub const MARGIN_EMARGIN: i32 = -12;
/// The output buffer is too small.
pub const MARGIN_EBUFFER: i32 = -13;
/// Something with that name already exists.
pub const MARGIN_EEXIST: i32 = -14;
/// Not supported (yet) by this version.
pub const MARGIN_ENOTSUP: i32 = -15;
/// The event queue is at its cap ([`MARGIN_ENG_EVENT_CAP`]): the call would produce events that could not be queued, so it changed nothing. Drain the queue and call again.
pub const MARGIN_EFULL: i32 = -16;
/// A snapshot does not start with the snapshot magic (it is not a libmargin snapshot).
pub const MARGIN_EMAGIC: i32 = -17;
/// A snapshot's format version is not one this library reads.
pub const MARGIN_EVERSION: i32 = -18;
/// A snapshot's checksum does not match its bytes (it was damaged).
pub const MARGIN_ECHECKSUM: i32 = -19;
/// A snapshot is shorter than its header says (it was cut).
pub const MARGIN_ETRUNCATED: i32 = -20;
/// A snapshot field is out of range or inconsistent with the others (the message names it).
pub const MARGIN_ECORRUPT: i32 = -21;
/// A file could not be opened, written, synced, renamed or read (the message says which step and the system's reason).
pub const MARGIN_EIO: i32 = -22;
/// The operation would mix settlement assets in one engine: every market of an engine settles in one asset, so its markets are all linear or all inverse ([`MARGIN_MKT_CONTRACT`]) and share [`MARGIN_MKT_SETTLE_ASSET`] (the message names the market that differs).
pub const MARGIN_EASSET: i32 = -23;
/// Decimal places of every money amount.
pub const MARGIN_MONEY_SCALE: i32 = 8;
/// Decimal places of rates, ratios and leverage.
pub const MARGIN_RATE_SCALE: i32 = 8;
/// Largest scale accepted anywhere.
pub const MARGIN_MAX_SCALE: i32 = 18;
/// Round toward minus infinity.
pub const MARGIN_ROUND_FLOOR: i32 = 0;
/// Round toward plus infinity.
pub const MARGIN_ROUND_CEIL: i32 = 1;
/// Round toward zero.
pub const MARGIN_ROUND_TRUNC: i32 = 2;
/// Round away from zero.
pub const MARGIN_ROUND_AWAY: i32 = 3;
/// Round to nearest, ties to even.
pub const MARGIN_ROUND_HALF_EVEN: i32 = 4;
/// Do not round: fail with [`MARGIN_ERANGE`] if digits would be lost.
pub const MARGIN_ROUND_EXACT: i32 = 5;
/// Current time stamped on every event (any unit the caller likes, e.g. ms since the epoch). Settable; default 0.
pub const MARGIN_ENG_TIME: i32 = 1;
/// 1: mark updates scan every position instead of using the trigger indexes (the reference path, for tests and benchmarks). 0 (default): indexes. Settable.
pub const MARGIN_ENG_FULL_SCAN: i32 = 2;
/// 1 (default): events are queued for margin_event_next(). 0: not queued (a callback still sees them). Settable.
pub const MARGIN_ENG_EVENT_QUEUE: i32 = 3;
/// Insurance-fund ledger balance, money. Read-only.
pub const MARGIN_ENG_INSURANCE_FUND: i32 = 4;
/// Number of open positions in the engine. Read-only.
pub const MARGIN_ENG_OPEN_POSITIONS: i32 = 5;
/// Number of events waiting in the queue. Read-only.
pub const MARGIN_ENG_EVENTS_PENDING: i32 = 6;
/// Sequence number of the last event produced (0 if none). Read-only.
pub const MARGIN_ENG_LAST_SEQ: i32 = 7;
/// Number of positions liquidated so far. Read-only.
pub const MARGIN_ENG_LIQUIDATIONS: i32 = 8;
/// Margin-call re-arm band, a rate at `MARGIN_RATE_SCALE` (default 0).
pub const MARGIN_ENG_REARM_BAND: i32 = 9;
/// How a cross account is liquidated when its cross margin balance is at or below its cross maintenance margin: [`MARGIN_CROSS_LIQ_ALL`] (default) or [`MARGIN_CROSS_LIQ_WORST_FIRST`]. Settable at any time; it applies from the next evaluation.
pub const MARGIN_ENG_CROSS_LIQUIDATION: i32 = 10;
/// [`MARGIN_ENG_CROSS_LIQUIDATION`]: every cross position of the account closes at its market's mark at once (Binance).
pub const MARGIN_CROSS_LIQ_ALL: i32 = 0;
/// [`MARGIN_ENG_CROSS_LIQUIDATION`]: close the cross position with the largest unrealized loss (ties: the lowest id), re-evaluate the account, and repeat until it is healthy or has no cross position left.
pub const MARGIN_CROSS_LIQ_WORST_FIRST: i32 = 1;
/// Number of cross-account evaluations so far (read-only): a mark update evaluates a cross account when the mark leaves the account's price band in that market (or an isolated stop or take-profit of the same account moved its free balance); a funding round evaluates every cross account holding the market.
pub const MARGIN_ENG_CROSS_EVALUATIONS: i32 = 11;
/// Cap on the number of queued events, 0 (default): none. A call that would queue events past it fails with [`MARGIN_EFULL`] and changes nothing. Settable at any time.
pub const MARGIN_ENG_EVENT_CAP: i32 = 12;
/// How many of the most recently closed (or liquidated) positions stay readable, default 1048576; settable, >= 0. Older closed positions are retired a block of ids at a time (their ids answer [`MARGIN_ENOTFOUND`]); ids are never reused.
pub const MARGIN_ENG_RETAIN_CLOSED: i32 = 13;
/// Money the caller has put into the insurance pools with [`margin_insurance_deposit`], in total (read-only); [`MARGIN_ENG_INSURANCE_FUND`] is the sum of the pools.
pub const MARGIN_ENG_INSURANCE_DEPOSITS: i32 = 14;
/// Decimal places of prices in this market, 0 to 18; default 8. Settable only while the market has no tiers added and no positions.
pub const MARGIN_MKT_PRICE_SCALE: i32 = 1;
/// Decimal places of quantities in this market, 0 to 18; default 8. Same restriction.
pub const MARGIN_MKT_QTY_SCALE: i32 = 2;
/// Price tick, in price units (> 0); entry and trade prices must be multiples of it. Default 1 (the smallest price unit).
pub const MARGIN_MKT_TICK: i32 = 3;
/// Quantity step, in quantity units (> 0); quantities must be multiples of it. Default 1.
pub const MARGIN_MKT_STEP: i32 = 4;
/// Maximum leverage at [`MARGIN_RATE_SCALE`], at least 1x; default 125x.
pub const MARGIN_MKT_MAX_LEVERAGE: i32 = 5;
/// Maker fee rate at [`MARGIN_RATE_SCALE`], 0 to 1; default 0.0002.
pub const MARGIN_MKT_MAKER_FEE: i32 = 6;
/// Taker fee rate at [`MARGIN_RATE_SCALE`], 0 to 1; default 0.0004 (also charged by stop-loss and take-profit closes).
pub const MARGIN_MKT_TAKER_FEE: i32 = 7;
/// Maintenance-margin basis: [`MARGIN_MM_BASIS_MARK`] (default) or [`MARGIN_MM_BASIS_ENTRY`]. Settable only with no open positions.
pub const MARGIN_MKT_MM_BASIS: i32 = 8;
/// Fee rate to close counted in the maintenance margin (the spec's `f`), at [`MARGIN_RATE_SCALE`], 0 to 1; default 0. Settable only with no open positions.
pub const MARGIN_MKT_CLOSE_FEE: i32 = 9;
/// Last mark price, in price units; 0 until the first mark update. Read-only.
pub const MARGIN_MKT_MARK: i32 = 10;
/// Number of maintenance tiers. Read-only.
pub const MARGIN_MKT_TIER_COUNT: i32 = 11;
/// Number of open positions in the market. Read-only.
pub const MARGIN_MKT_OPEN_POSITIONS: i32 = 12;
/// The largest price the market accepts (price units); see the C header.
pub const MARGIN_MKT_MAX_PRICE: i32 = 13;
/// Clearance (liquidation) fee rate at [`MARGIN_RATE_SCALE`], 0 to 1; default 0. Charged on the liquidated quantity times the price [`MARGIN_MKT_LIQ_FEE_BASIS`] names, credited to the insurance fund, never more than what the holder has left at the fill. Settable at any time.
pub const MARGIN_MKT_LIQ_FEE: i32 = 14;
/// The price that multiplies the liquidated quantity in the clearance fee: [`MARGIN_LIQ_FEE_BASIS_FILL`] (default) or [`MARGIN_LIQ_FEE_BASIS_MARK`].
pub const MARGIN_MKT_LIQ_FEE_BASIS: i32 = 15;
/// The price a liquidation settles at: [`MARGIN_LIQ_FILL_MARK`] (default), [`MARGIN_LIQ_FILL_LIQ_PRICE`] or [`MARGIN_LIQ_FILL_BANKRUPTCY`].
pub const MARGIN_MKT_LIQ_FILL: i32 = 16;
/// The price stop-losses and take-profits fill at: [`MARGIN_STOP_FILL_MARK`] (default) or [`MARGIN_STOP_FILL_TRIGGER`].
pub const MARGIN_MKT_STOP_FILL: i32 = 17;
/// How much of a liquidatable isolated position is liquidated: [`MARGIN_LIQ_POLICY_FULL`] (default), [`MARGIN_LIQ_POLICY_MIN_REDUCE`], [`MARGIN_LIQ_POLICY_TIER_DOWN`] or [`MARGIN_LIQ_POLICY_SLICES`].
pub const MARGIN_MKT_LIQ_POLICY: i32 = 18;
/// [`MARGIN_LIQ_POLICY_SLICES`]: the notional (money, at the mark) above which a liquidation takes one slice; default 100000.
pub const MARGIN_MKT_SLICE_THRESHOLD: i32 = 19;
/// [`MARGIN_LIQ_POLICY_SLICES`]: the fraction of the position one slice takes, at [`MARGIN_RATE_SCALE`], above 0 and below 1; default 0.2.
pub const MARGIN_MKT_SLICE_FRACTION: i32 = 20;
/// [`MARGIN_LIQ_POLICY_SLICES`]: for this long after a partial liquidation ([`MARGIN_ENG_TIME`] units, default 30000), a liquidation of a position of the same account closes it in full.
pub const MARGIN_MKT_SLICE_COOLDOWN: i32 = 21;
/// [`MARGIN_LIQ_POLICY_SLICES`]: below this fraction of the maintenance margin (at [`MARGIN_RATE_SCALE`], default 0.66666667) the position is liquidated in full.
pub const MARGIN_MKT_SLICE_BACKSTOP: i32 = 22;
/// The market whose insurance pool this market uses: its own id (default) or another market's, whose pool it then shares (only while the pool it leaves is not shared and, its own, empty; the pool joined must be that market's own: else [`MARGIN_ESTATE`]).
pub const MARGIN_MKT_INSURANCE_POOL: i32 = 23;
/// Balance of the market's insurance pool, money (read-only: [`margin_insurance_deposit`] seeds it).
pub const MARGIN_MKT_INSURANCE: i32 = 24;
/// Auto-deleveraging of the market's pool: [`MARGIN_ADL_OFF`] (default) or [`MARGIN_ADL_ON`]; an option of the pool.
pub const MARGIN_MKT_ADL: i32 = 25;
/// The pool's floor, money, >= 0 (default 0): with [`MARGIN_ADL_ON`], the part of a deficit that would take the pool below it is covered by auto-deleveraging.
pub const MARGIN_MKT_INSURANCE_FLOOR: i32 = 26;
/// How the market ranks positions for auto-deleveraging: [`MARGIN_ADL_RANK_BINANCE`] (default) or [`MARGIN_ADL_RANK_BITMEX`].
pub const MARGIN_MKT_ADL_RANKING: i32 = 27;
/// The contract type: [`MARGIN_CONTRACT_LINEAR`] (default) or [`MARGIN_CONTRACT_INVERSE`]. Every market of an engine has the same type (a new market takes the first market's; a change fails with [`MARGIN_EASSET`] while the engine has another market). Settable only before the market has had positions. Cross mode works on inverse markets as on linear ones, in the coin.
pub const MARGIN_MKT_CONTRACT: i32 = 28;
/// Quote units (USD) per contract of an inverse market, at [`MARGIN_MONEY_SCALE`], > 0; default 1. Settable only before the market has had positions. Ignored by linear markets.
pub const MARGIN_MKT_CONTRACT_SIZE: i32 = 29;
/// The market's settlement asset, a code of the caller's choosing (>= 0; default 0): every market of an engine has the same (else [`MARGIN_EASSET`]). Settable only before the market has had positions.
pub const MARGIN_MKT_SETTLE_ASSET: i32 = 30;
/// The lowest mark the market accepts, price units, > 0 and below [`MARGIN_MKT_MAX_PRICE`]: marks, candles and fills below it fail with [`MARGIN_ERANGE`]. Default: 1 price unit (linear), 0.01 quote units (inverse, or 1 price unit at price scales below 2).
pub const MARGIN_MKT_MIN_PRICE: i32 = 31;
/// [`MARGIN_MKT_CONTRACT`]: a linear (USDT-margined) contract, the default.
pub const MARGIN_CONTRACT_LINEAR: i32 = 0;
/// [`MARGIN_MKT_CONTRACT`]: an inverse (coin-margined) contract: quantities in contracts of [`MARGIN_MKT_CONTRACT_SIZE`] quote units (N = contracts x contract size), money in the coin: value N/P, PnL `s*N*(1/E - 1/P)`, initial margin `N/(E*L)`; a short whose margin covers N/E has no bankruptcy or liquidation price (`i64::MAX`).
pub const MARGIN_CONTRACT_INVERSE: i32 = 1;
/// [`MARGIN_MKT_ADL`]: the pool takes every deficit and may go below zero.
pub const MARGIN_ADL_OFF: i32 = 0;
/// [`MARGIN_MKT_ADL`]: the part of a bankrupt isolated position's deficit that would take the pool below its floor is covered by closing positions of the other side at its bankruptcy price, highest [`MARGIN_POS_ADL_SCORE`] first ([`MARGIN_EV_ADL`]).
pub const MARGIN_ADL_ON: i32 = 1;
/// [`MARGIN_MKT_ADL_RANKING`]: Binance's ranking, `max(0, uPnL) / max(1, W) * MM / (W + uPnL)`.
pub const MARGIN_ADL_RANK_BINANCE: i32 = 0;
/// [`MARGIN_MKT_ADL_RANKING`]: BitMEX's ranking, `PnL% * effective leverage` when `PnL% > 0`, else `PnL% / effective leverage`.
pub const MARGIN_ADL_RANK_BITMEX: i32 = 1;
/// Clearance fee on the liquidation's fill price ([`MARGIN_MKT_LIQ_FEE_BASIS`]).
pub const MARGIN_LIQ_FEE_BASIS_FILL: i32 = 0;
/// Clearance fee on the mark that triggered the liquidation.
pub const MARGIN_LIQ_FEE_BASIS_MARK: i32 = 1;
/// A liquidation settles at the mark ([`MARGIN_MKT_LIQ_FILL`]; the default, the behaviour of 0.1.0).
pub const MARGIN_LIQ_FILL_MARK: i32 = 0;
/// A liquidation fills at the position's liquidation price.
pub const MARGIN_LIQ_FILL_LIQ_PRICE: i32 = 1;
/// The insurance fund takes the position over at its bankruptcy price: the holder loses exactly the margin of what is liquidated.
pub const MARGIN_LIQ_FILL_BANKRUPTCY: i32 = 2;
/// Stop-losses and take-profits fill at the mark that reached them ([`MARGIN_MKT_STOP_FILL`]; the default).
pub const MARGIN_STOP_FILL_MARK: i32 = 0;
/// Stop-losses and take-profits fill at their trigger price when the mark reaches it without a gap (a mark update is a continuous move from the last mark), at the mark otherwise.
pub const MARGIN_STOP_FILL_TRIGGER: i32 = 1;
/// margin_mark_candle() path: open, low, high, close for a bar that closes up (close >= open), else open, high, low, close.
pub const MARGIN_PATH_UPDOWN: i32 = 0;
/// margin_mark_candle() path: per position, the adverse extreme first: an isolated long walks open, low, high, close, an isolated short open, high, low, close; cross books walk the up-down order, which alone moves the market's mark.
pub const MARGIN_PATH_ADVERSE: i32 = 1;
/// Liquidate the whole position ([`MARGIN_MKT_LIQ_POLICY`]; the default).
pub const MARGIN_LIQ_POLICY_FULL: i32 = 0;
/// Binance's first step: sell the smallest quantity, rounded up to the step, that leaves the margin balance above the maintenance margin after the loss and the clearance fee.
pub const MARGIN_LIQ_POLICY_MIN_REDUCE: i32 = 1;
/// Bybit's and BitMEX's step-down: reduce the position to the cap of the highest lower tier whose maintenance margin the equity after the clearance fee covers.
pub const MARGIN_LIQ_POLICY_TIER_DOWN: i32 = 2;
/// Hyperliquid's slices: above [`MARGIN_MKT_SLICE_THRESHOLD`], [`MARGIN_MKT_SLICE_FRACTION`] of the position per trigger, with a cooldown and a backstop.
pub const MARGIN_LIQ_POLICY_SLICES: i32 = 3;
/// Maintenance margin evaluated at the liquidation price (Binance, OKX, dYdX, Hyperliquid).
pub const MARGIN_MM_BASIS_MARK: i32 = 0;
/// Maintenance margin fixed at the entry value (Bybit classic, BitMEX).
pub const MARGIN_MM_BASIS_ENTRY: i32 = 1;
/// Pass as the maintenance amount to margin_market_add_tier() to derive it by the recurrence `cum_k = floor_k * (mmr_k - mmr_(k-1)) + cum_(k-1)`.
pub const MARGIN_DERIVE: i64 = i64::MIN;
/// Free balance (withdrawable), money.
pub const MARGIN_ACCT_FREE_BALANCE: i32 = 1;
/// Sum of the isolated margins of open positions, money.
pub const MARGIN_ACCT_ISOLATED_MARGIN: i32 = 2;
/// Free balance + isolated margins + unrealized PnL at each market's last mark (entry if none), money, rounded down.
pub const MARGIN_ACCT_EQUITY: i32 = 3;
/// Total deposited, money.
pub const MARGIN_ACCT_DEPOSITS: i32 = 4;
/// Total withdrawn, money.
pub const MARGIN_ACCT_WITHDRAWALS: i32 = 5;
/// Realized PnL of all positions (liquidation losses included), money.
pub const MARGIN_ACCT_REALIZED_PNL: i32 = 6;
/// Fees paid, money.
pub const MARGIN_ACCT_FEES: i32 = 7;
/// Net funding received (negative: paid), money.
pub const MARGIN_ACCT_FUNDING: i32 = 8;
/// Number of open positions.
pub const MARGIN_ACCT_OPEN_POSITIONS: i32 = 9;
/// Cross wallet balance WB: the free balance, which backs every cross position, money. It can be below zero while other cross positions' unrealized profit covers a loss; a liquidation brings it back to at least 0.
pub const MARGIN_ACCT_CROSS_WALLET: i32 = 10;
/// Cross unrealized PnL: sum over the cross positions at their markets' last marks (entry when a market has none), each rounded down, money.
pub const MARGIN_ACCT_CROSS_UNREALIZED_PNL: i32 = 11;
/// Cross margin balance: cross wallet + cross unrealized PnL, money.
pub const MARGIN_ACCT_CROSS_MARGIN_BALANCE: i32 = 12;
/// Cross maintenance margin: sum over the cross positions at their markets' last marks, each on its own notional at its own tier, each rounded up, money.
pub const MARGIN_ACCT_CROSS_MAINT_MARGIN: i32 = 13;
/// Cross initial margin: sum of `Q*E/L` over the cross positions, each rounded up, money.
pub const MARGIN_ACCT_CROSS_INITIAL_MARGIN: i32 = 14;
/// Account margin ratio: cross maintenance margin / cross margin balance, [`MARGIN_RATE_SCALE`], rounded up; INT64_MAX when the balance is <= 0; 0 with no cross position. Liquidation at 1.
pub const MARGIN_ACCT_MARGIN_RATIO: i32 = 15;
/// Available balance: what can be withdrawn, moved into an isolated position or used by a new cross position, money, >= 0 (see the C header for the formula).
pub const MARGIN_ACCT_AVAILABLE: i32 = 16;
/// Number of open cross positions.
pub const MARGIN_ACCT_CROSS_POSITIONS: i32 = 17;
/// Side: long (s = +1).
pub const MARGIN_LONG: i32 = 1;
/// Side: short (s = -1).
pub const MARGIN_SHORT: i32 = -1;
/// Flag for opening and trading: charge the maker fee instead of the taker fee.
pub const MARGIN_FLAG_MAKER: u32 = 1;
/// Flag for opening: the position is a cross position. It must agree with the account's mode in the market (margin_account_set_mode()), else [`MARGIN_ESTATE`].
pub const MARGIN_FLAG_CROSS: u32 = 2;
/// Margin mode of an account in a market: isolated, the default.
pub const MARGIN_MODE_ISOLATED: i32 = 0;
/// Margin mode: cross. The account's free balance (the cross wallet) backs all its cross positions.
pub const MARGIN_MODE_CROSS: i32 = 1;
/// Position status ([`MARGIN_POS_STATUS`]): open.
pub const MARGIN_STATUS_OPEN: i32 = 0;
/// Position status: closed by the holder, a stop-loss or a take-profit.
pub const MARGIN_STATUS_CLOSED: i32 = 1;
/// Position status: liquidated (irreversible).
pub const MARGIN_STATUS_LIQUIDATED: i32 = 2;
/// Position status: closed by auto-deleveraging against a bankrupt position ([`MARGIN_EV_ADL`]).
pub const MARGIN_STATUS_DELEVERAGED: i32 = 3;
/// Status filter of the listing functions: every status.
pub const MARGIN_STATUS_ANY: i32 = -1;
/// Owning account's id.
pub const MARGIN_POS_ACCOUNT: i32 = 1;
/// Market's id.
pub const MARGIN_POS_MARKET: i32 = 2;
/// [`MARGIN_LONG`] or [`MARGIN_SHORT`].
pub const MARGIN_POS_SIDE: i32 = 3;
/// Size, quantity units (0 once closed).
pub const MARGIN_POS_QTY: i32 = 4;
/// Average entry price, price units, rounded against the holder (long up, short down) when averaging.
pub const MARGIN_POS_ENTRY_PRICE: i32 = 5;
/// Isolated margin M, money (0 once closed).
pub const MARGIN_POS_MARGIN: i32 = 6;
/// Leverage, [`MARGIN_RATE_SCALE`].
pub const MARGIN_POS_LEVERAGE: i32 = 7;
/// A `MARGIN_STATUS_*` value.
pub const MARGIN_POS_STATUS: i32 = 8;
/// Realized PnL so far, money.
pub const MARGIN_POS_REALIZED_PNL: i32 = 9;
/// Fees paid so far, money.
pub const MARGIN_POS_FEES: i32 = 10;
/// Net funding so far (negative: paid), money.
pub const MARGIN_POS_FUNDING: i32 = 11;
/// Stop-loss trigger price, price units, 0 if none.
pub const MARGIN_POS_STOP_LOSS: i32 = 12;
/// Take-profit trigger price, price units, 0 if none.
pub const MARGIN_POS_TAKE_PROFIT: i32 = 13;
/// Liquidation price in force (the trigger), price units, 0 if none.
pub const MARGIN_POS_LIQ_PRICE: i32 = 14;
/// [`MARGIN_MODE_ISOLATED`] or [`MARGIN_MODE_CROSS`].
pub const MARGIN_POS_MODE: i32 = 15;
/// The raw auto-deleveraging score at the market's last mark, by [`MARGIN_MKT_ADL_RANKING`], at [`MARGIN_RATE_SCALE`], rounded down; 0 once closed.
pub const MARGIN_POS_ADL_SCORE: i32 = 16;
/// The ADL quantile, 0 to 4 (4: deleveraged first), as the last [`margin_market_adl_quantiles`] set it.
pub const MARGIN_POS_ADL_QUANTILE: i32 = 17;
/// Position value Q*P, money, rounded up.
pub const MARGIN_AT_NOTIONAL: i32 = 101;
/// s*Q*(P-E), money, rounded down.
pub const MARGIN_AT_UNREALIZED_PNL: i32 = 102;
/// M + unrealized PnL, money, rounded down.
pub const MARGIN_AT_MARGIN_BALANCE: i32 = 103;
/// Maintenance margin (tier at Q*P, or at entry for the entry basis, plus the fee to close), money, rounded up.
pub const MARGIN_AT_MAINT_MARGIN: i32 = 104;
/// Maintenance rate of that tier, [`MARGIN_RATE_SCALE`].
pub const MARGIN_AT_MAINT_RATE: i32 = 105;
/// Maintenance amount of that tier, money.
pub const MARGIN_AT_MAINT_AMOUNT: i32 = 106;
/// Maintenance margin / margin balance, [`MARGIN_RATE_SCALE`], rounded up; INT64_MAX when the balance is <= 0.
pub const MARGIN_AT_MARGIN_RATIO: i32 = 107;
/// Liquidation price, price units, long rounded up, short down; 0 when none (a long that cannot be liquidated). Independent of P.
pub const MARGIN_AT_LIQ_PRICE: i32 = 108;
/// E - s*M/Q, price units, long rounded up, short down; 0 for a long when <= 0. Independent of P.
pub const MARGIN_AT_BANKRUPTCY_PRICE: i32 = 109;
/// Q*E/L, money, rounded up. Independent of P.
pub const MARGIN_AT_INITIAL_MARGIN: i32 = 110;
/// Unrealized PnL / initial margin, [`MARGIN_RATE_SCALE`], rounded down.
pub const MARGIN_AT_ROE: i32 = 111;
/// max(0, min(M - MM, M + uPnL - Q*P/L)), money, rounded down.
pub const MARGIN_AT_REMOVABLE_MARGIN: i32 = 112;
pub const MARGIN_AT_MARGIN_CALL_PRICE: i32 = 113;
/// No event (the queue is empty).
pub const MARGIN_EV_NONE: i32 = 0;
/// Deposit to an account.
pub const MARGIN_EV_DEPOSIT: i32 = 1;
/// Withdrawal from an account.
pub const MARGIN_EV_WITHDRAW: i32 = 2;
/// Position opened (or reopened by a flip).
pub const MARGIN_EV_OPEN: i32 = 3;
/// Position increased.
pub const MARGIN_EV_INCREASE: i32 = 4;
/// Position reduced.
pub const MARGIN_EV_REDUCE: i32 = 5;
/// Position closed by the holder.
pub const MARGIN_EV_CLOSE: i32 = 6;
/// Margin added.
pub const MARGIN_EV_MARGIN_ADD: i32 = 7;
/// Margin removed.
pub const MARGIN_EV_MARGIN_REMOVE: i32 = 8;
/// Leverage changed.
pub const MARGIN_EV_LEVERAGE: i32 = 9;
/// Funding paid or received.
pub const MARGIN_EV_FUNDING: i32 = 10;
/// Margin ratio reached a margin-call level.
pub const MARGIN_EV_MARGIN_CALL: i32 = 11;
/// Position liquidated.
pub const MARGIN_EV_LIQUIDATION: i32 = 12;
/// Position closed by its stop-loss.
pub const MARGIN_EV_STOP_LOSS: i32 = 13;
/// Position closed by its take-profit.
pub const MARGIN_EV_TAKE_PROFIT: i32 = 14;
/// A cross account was liquidated (position 0; follows the liquidation events of the positions it closed).
pub const MARGIN_EV_CROSS_LIQUIDATION: i32 = 15;
/// Part of an isolated position was liquidated ([`MARGIN_MKT_LIQ_POLICY`]); the position stays open, smaller.
pub const MARGIN_EV_PARTIAL_LIQUIDATION: i32 = 16;
/// Money was put into a market's insurance pool ([`margin_insurance_deposit`]; account and position 0).
pub const MARGIN_EV_INSURANCE_DEPOSIT: i32 = 17;
/// A position was auto-deleveraged against a bankrupt position ([`MARGIN_EVF_COUNTERPARTY`]); it follows that position's liquidation.
pub const MARGIN_EV_ADL: i32 = 18;
/// [`MARGIN_EVF_FILL`]: the mark.
pub const MARGIN_FILL_MARK: i32 = 1;
/// [`MARGIN_EVF_FILL`]: the stop-loss or take-profit price.
pub const MARGIN_FILL_TRIGGER: i32 = 2;
/// [`MARGIN_EVF_FILL`]: the position's liquidation price.
pub const MARGIN_FILL_LIQ_PRICE: i32 = 3;
/// [`MARGIN_EVF_FILL`]: the position's bankruptcy price (the insurance fund took it over).
pub const MARGIN_FILL_BANKRUPTCY: i32 = 4;
/// Sequence number, from 1, increasing by 1.
pub const MARGIN_EVF_SEQ: i32 = 1;
/// [`MARGIN_ENG_TIME`] when the event happened.
pub const MARGIN_EVF_TIME: i32 = 2;
/// A `MARGIN_EV_*` type.
pub const MARGIN_EVF_TYPE: i32 = 3;
/// Account id.
pub const MARGIN_EVF_ACCOUNT: i32 = 4;
/// Market id (0 for deposits and withdrawals).
pub const MARGIN_EVF_MARKET: i32 = 5;
/// Position id (0 for deposits and withdrawals).
pub const MARGIN_EVF_POSITION: i32 = 6;
/// Side of the position after the event.
pub const MARGIN_EVF_SIDE: i32 = 7;
/// Fill price (trades, stops, take-profits), the mark (margin calls, liquidations, funding).
pub const MARGIN_EVF_PRICE: i32 = 8;
/// Quantity traded or closed.
pub const MARGIN_EVF_QTY: i32 = 9;
/// Position size after the event.
pub const MARGIN_EVF_POSITION_QTY: i32 = 10;
/// Entry price after the event.
pub const MARGIN_EVF_ENTRY_PRICE: i32 = 11;
/// Position margin after the event.
pub const MARGIN_EVF_MARGIN: i32 = 12;
/// Money moved: deposit or withdrawal amount, margin added or removed (signed: into the position > 0), funding (received > 0), change of margin on open/increase/reduce/leverage.
pub const MARGIN_EVF_AMOUNT: i32 = 13;
/// Realized PnL of this event (minus the margin for a liquidation).
pub const MARGIN_EVF_REALIZED_PNL: i32 = 14;
/// Fee charged by this event.
pub const MARGIN_EVF_FEE: i32 = 15;
/// Liquidation price after the event (before, for a liquidation), 0 if none.
pub const MARGIN_EVF_LIQ_PRICE: i32 = 16;
/// Bankruptcy price (liquidations).
pub const MARGIN_EVF_BANKRUPTCY_PRICE: i32 = 17;
/// Change of the insurance fund.
pub const MARGIN_EVF_INSURANCE_DELTA: i32 = 18;
/// Margin ratio at the mark (margin calls).
pub const MARGIN_EVF_MARGIN_RATIO: i32 = 19;
/// Margin-call level crossed.
pub const MARGIN_EVF_LEVEL: i32 = 20;
/// Account free balance after the event.
pub const MARGIN_EVF_FREE_BALANCE: i32 = 21;
/// Position leverage after the event.
pub const MARGIN_EVF_LEVERAGE: i32 = 22;
/// [`MARGIN_MODE_ISOLATED`] or [`MARGIN_MODE_CROSS`]: the position's mode, or the book an account event concerns.
pub const MARGIN_EVF_MODE: i32 = 23;
/// Which price a triggered close or liquidation filled at: [`MARGIN_FILL_MARK`], [`MARGIN_FILL_TRIGGER`], [`MARGIN_FILL_LIQ_PRICE`] or [`MARGIN_FILL_BANKRUPTCY`]; 0 for every other event.
pub const MARGIN_EVF_FILL: i32 = 24;
/// The point of a candle's path (margin_mark_candle()) at which the event happened: 1 the open, 2 the first extreme, 3 the second, 4 the close; 0 for events of every other call.
pub const MARGIN_EVF_PATH_POINT: i32 = 25;
/// [`MARGIN_EV_ADL`]: the id of the bankrupt position it was deleveraged against.
pub const MARGIN_EVF_COUNTERPARTY: i32 = 26;
/// [`MARGIN_EV_LIQUIDATION`] of a bankrupt position with [`MARGIN_ADL_ON`]: the part of its deficit that auto-deleveraging covered.
pub const MARGIN_EVF_ADL_COVERED: i32 = 27;
/// Snapshot format version written by this library (it also reads formats 1 to 3).
pub const MARGIN_SNAPSHOT_VERSION: i32 = 4;

// ---------------------------------------------------------------------------- functions

extern "C" {
    // ---- version
    pub fn margin_version_number() -> i32;
    pub fn margin_version_string() -> *const c_char;

    // ---- status codes
    pub fn margin_strerror(code: c_int) -> *const c_char;

    // ---- exact decimals
    pub fn margin_money_scale() -> i32;
    pub fn margin_rate_scale() -> i32;
    pub fn margin_dec_parse(s: *const c_char, scale: i32, out: *mut i64) -> c_int;
    pub fn margin_dec_format(v: i64, scale: i32, buf: *mut c_char, size: usize) -> c_int;
    pub fn margin_dec_rescale(v: i64, from: i32, to: i32, rounding: i32, out: *mut i64) -> c_int;
    pub fn margin_dec_mul(
        a: i64,
        as_: i32,
        b: i64,
        bs: i32,
        rs: i32,
        rounding: i32,
        out: *mut i64,
    ) -> c_int;
    pub fn margin_dec_div(
        a: i64,
        as_: i32,
        b: i64,
        bs: i32,
        rs: i32,
        rounding: i32,
        out: *mut i64,
    ) -> c_int;

    // ---- engine
    pub fn margin_engine_new(out: *mut *mut margin_engine) -> c_int;
    pub fn margin_engine_new_with_allocator(
        out: *mut *mut margin_engine,
        alloc: margin_malloc_fn,
        grow: margin_realloc_fn,
        release: margin_free_fn,
        user: *mut c_void,
    ) -> c_int;
    pub fn margin_engine_free(e: *mut margin_engine);
    pub fn margin_errmsg(e: *const margin_engine) -> *const c_char;
    pub fn margin_errcode(e: *const margin_engine) -> c_int;
    pub fn margin_engine_set(e: *mut margin_engine, key: i32, value: i64) -> c_int;
    pub fn margin_engine_get(e: *const margin_engine, key: i32, out: *mut i64) -> c_int;
    pub fn margin_engine_set_margin_call_levels(
        e: *mut margin_engine,
        levels: *const i64,
        n: usize,
    ) -> c_int;
    pub fn margin_engine_margin_call_levels(
        e: *const margin_engine,
        levels: *mut i64,
        cap: usize,
        out_n: *mut usize,
    ) -> c_int;

    // ---- markets
    pub fn margin_market_new(
        e: *mut margin_engine,
        symbol: *const c_char,
        out_id: *mut u64,
    ) -> c_int;
    pub fn margin_market_find(
        e: *const margin_engine,
        symbol: *const c_char,
        out_id: *mut u64,
    ) -> c_int;
    pub fn margin_market_symbol(
        e: *const margin_engine,
        market: u64,
        buf: *mut c_char,
        size: usize,
    ) -> c_int;
    pub fn margin_market_set(e: *mut margin_engine, market: u64, key: i32, value: i64) -> c_int;
    pub fn margin_market_get(
        e: *const margin_engine,
        market: u64,
        key: i32,
        out: *mut i64,
    ) -> c_int;
    pub fn margin_market_add_tier(
        e: *mut margin_engine,
        market: u64,
        floor: i64,
        mmr: i64,
        max_leverage: i64,
        maint_amount: i64,
    ) -> c_int;
    pub fn margin_market_tier(
        e: *const margin_engine,
        market: u64,
        index: u32,
        out_floor: *mut i64,
        out_mmr: *mut i64,
        out_max_leverage: *mut i64,
        out_maint_amount: *mut i64,
    ) -> c_int;
    pub fn margin_market_tier_for(
        e: *const margin_engine,
        market: u64,
        notional: i64,
        out_mmr: *mut i64,
        out_maint_amount: *mut i64,
    ) -> c_int;
    pub fn margin_insurance_deposit(e: *mut margin_engine, market: u64, amount: i64) -> c_int;
    pub fn margin_market_adl_quantiles(e: *mut margin_engine, market: u64) -> c_int;

    // ---- accounts
    pub fn margin_account_new(e: *mut margin_engine, out_id: *mut u64) -> c_int;
    pub fn margin_account_deposit(e: *mut margin_engine, account: u64, amount: i64) -> c_int;
    pub fn margin_account_withdraw(e: *mut margin_engine, account: u64, amount: i64) -> c_int;
    pub fn margin_account_get(
        e: *const margin_engine,
        account: u64,
        key: i32,
        out: *mut i64,
    ) -> c_int;
    pub fn margin_account_set_mode(
        e: *mut margin_engine,
        account: u64,
        market: u64,
        mode: i32,
    ) -> c_int;
    pub fn margin_account_mode(
        e: *const margin_engine,
        account: u64,
        market: u64,
        out_mode: *mut i32,
    ) -> c_int;

    // ---- positions
    pub fn margin_position_open(
        e: *mut margin_engine,
        account: u64,
        market: u64,
        side: i32,
        qty: i64,
        price: i64,
        leverage: i64,
        margin: i64,
        flags: u32,
        out_id: *mut u64,
    ) -> c_int;
    pub fn margin_position_trade(
        e: *mut margin_engine,
        position: u64,
        side: i32,
        qty: i64,
        price: i64,
        flags: u32,
    ) -> c_int;
    pub fn margin_position_close(
        e: *mut margin_engine,
        position: u64,
        price: i64,
        flags: u32,
    ) -> c_int;
    pub fn margin_position_add_margin(e: *mut margin_engine, position: u64, amount: i64) -> c_int;
    pub fn margin_position_remove_margin(
        e: *mut margin_engine,
        position: u64,
        amount: i64,
    ) -> c_int;
    pub fn margin_position_set_leverage(
        e: *mut margin_engine,
        position: u64,
        leverage: i64,
    ) -> c_int;
    pub fn margin_position_set_stops(
        e: *mut margin_engine,
        position: u64,
        stop_loss: i64,
        take_profit: i64,
    ) -> c_int;
    pub fn margin_position_get(
        e: *const margin_engine,
        position: u64,
        key: i32,
        out: *mut i64,
    ) -> c_int;
    pub fn margin_position_at(
        e: *const margin_engine,
        position: u64,
        key: i32,
        mark: i64,
        out: *mut i64,
    ) -> c_int;

    // ---- mark prices and funding
    pub fn margin_mark_update(e: *mut margin_engine, market: u64, mark: i64) -> c_int;
    pub fn margin_mark_candle(
        e: *mut margin_engine,
        market: u64,
        open: i64,
        high: i64,
        low: i64,
        close: i64,
        path: i32,
    ) -> c_int;
    pub fn margin_funding_apply(e: *mut margin_engine, market: u64, rate: i64, mark: i64) -> c_int;

    // ---- events
    pub fn margin_engine_set_callback(
        e: *mut margin_engine,
        fn_: margin_event_fn,
        user: *mut c_void,
    ) -> c_int;
    pub fn margin_event_next(e: *mut margin_engine, out_type: *mut i32) -> c_int;
    pub fn margin_event_get(e: *const margin_engine, field: i32, out: *mut i64) -> c_int;
    pub fn margin_event_fields(e: *const margin_engine, out: *mut i64, n: usize) -> c_int;
    pub fn margin_account_positions(
        e: *const margin_engine,
        account: u64,
        status: i32,
        ids: *mut u64,
        cap: usize,
        out_n: *mut usize,
    ) -> c_int;
    pub fn margin_market_positions(
        e: *const margin_engine,
        market: u64,
        status: i32,
        ids: *mut u64,
        cap: usize,
        out_n: *mut usize,
    ) -> c_int;
    pub fn margin_positions(
        e: *const margin_engine,
        status: i32,
        ids: *mut u64,
        cap: usize,
        out_n: *mut usize,
    ) -> c_int;

    // ---- snapshots and the state hash
    pub fn margin_snapshot_save(
        e: *const margin_engine,
        buf: *mut c_void,
        cap: usize,
        out_len: *mut usize,
    ) -> c_int;
    pub fn margin_snapshot_load(e: *mut margin_engine, buf: *const c_void, len: usize) -> c_int;
    pub fn margin_snapshot_write(e: *const margin_engine, path: *const c_char) -> c_int;
    pub fn margin_snapshot_read(e: *mut margin_engine, path: *const c_char) -> c_int;
    pub fn margin_state_hash(e: *const margin_engine, out: *mut u64) -> c_int;
}
