//! Small value types: ids, sides, fills, statuses, options and figures.

use std::fmt;

use crate::decimal::Decimal;
use crate::error::{Error, ErrorKind, Result};
use crate::IntoDecimal;
use margin_sys as sys;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            /// The id from its raw value (as printed, logged or stored). An id that does
            /// not exist in an engine gives [`ErrorKind::NotFound`] there, never
            /// undefined behaviour.
            pub const fn from_raw(raw: u64) -> $name {
                $name(raw)
            }

            /// The raw `uint64_t` id (from 1; 0 is never valid).
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($what, " {}"), self.0)
            }
        }
    };
}

id_type!(
    /// The id of a market in one [`Engine`](crate::Engine).
    MarketId,
    "market"
);
id_type!(
    /// The id of an account in one [`Engine`](crate::Engine).
    AccountId,
    "account"
);
id_type!(
    /// The id of a position in one [`Engine`](crate::Engine). Ids are never reused, so
    /// the id of a liquidated position stays valid and answers
    /// [`ErrorKind::Closed`] to anything that needs an open position.
    PositionId,
    "position"
);

/// Side of a position or a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Long (buy); `s = +1`.
    Long,
    /// Short (sell); `s = -1`.
    Short,
}

impl Side {
    /// The C constant (`MARGIN_LONG` or `MARGIN_SHORT`).
    pub const fn raw(self) -> i32 {
        match self {
            Side::Long => sys::MARGIN_LONG,
            Side::Short => sys::MARGIN_SHORT,
        }
    }

    /// The side of a C constant, or `None` (0 or an unknown value).
    pub fn from_raw(v: i64) -> Option<Side> {
        match v {
            v if v == sys::MARGIN_LONG as i64 => Some(Side::Long),
            v if v == sys::MARGIN_SHORT as i64 => Some(Side::Short),
            _ => None,
        }
    }

    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        }
    }
}

/// Which fee a fill pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fill {
    /// The taker fee (the default).
    #[default]
    Taker,
    /// The maker fee (`MARGIN_FLAG_MAKER`).
    Maker,
}

impl Fill {
    pub(crate) fn flags(self) -> u32 {
        match self {
            Fill::Taker => 0,
            Fill::Maker => sys::MARGIN_FLAG_MAKER,
        }
    }
}

/// `raw()` and `from_raw()` of an enum that mirrors C constants and has an `Other(i64)`
/// variant for a value this binding does not know (or one to pass to the library as is).
macro_rules! c_values {
    ($ty:ident, $c_names:literal, { $($variant:ident => $c:expr),+ $(,)? }) => {
        impl $ty {
            #[doc = concat!("The `", $c_names, "` value.")]
            pub fn raw(self) -> i64 {
                match self {
                    $($ty::$variant => $c as i64,)+
                    $ty::Other(v) => v,
                }
            }

            #[doc = concat!("The variant of a `", $c_names, "` value (`Other` for one this")]
            /// binding does not know).
            pub fn from_raw(v: i64) -> $ty {
                $(
                    if v == $c as i64 {
                        return $ty::$variant;
                    }
                )+
                $ty::Other(v)
            }
        }
    };
}

/// Status of a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Open.
    Open,
    /// Closed by the holder, a stop-loss or a take-profit.
    Closed,
    /// Liquidated (irreversible).
    Liquidated,
    /// Closed by auto-deleveraging against a bankrupt position
    /// ([`EventKind::Adl`](crate::EventKind::Adl)).
    Deleveraged,
    /// A status this binding does not know (from a newer library).
    Other(i64),
}

c_values!(Status, "MARGIN_STATUS_*", {
    Open => sys::MARGIN_STATUS_OPEN,
    Closed => sys::MARGIN_STATUS_CLOSED,
    Liquidated => sys::MARGIN_STATUS_LIQUIDATED,
    Deleveraged => sys::MARGIN_STATUS_DELEVERAGED,
});

/// How a market ranks positions for auto-deleveraging (`MARGIN_ADL_RANK_*`,
/// [`MarketOption::AdlRanking`]); the score is [`PositionInfo::adl_score`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AdlRanking {
    /// Binance's: `max(0, uPnL) / max(1, W) * MM / (W + uPnL)`, `W` the position's margin
    /// (isolated) or its account's cross wallet; the default.
    #[default]
    Binance,
    /// BitMEX's: `PnL% * effective leverage` when `PnL% > 0`, else `PnL% / effective
    /// leverage`.
    Bitmex,
    /// A ranking this binding does not know, passed as is.
    Other(i64),
}

c_values!(AdlRanking, "MARGIN_ADL_RANK_*", {
    Binance => sys::MARGIN_ADL_RANK_BINANCE,
    Bitmex => sys::MARGIN_ADL_RANK_BITMEX,
});

/// The contract type of a market (`MARGIN_CONTRACT_*`, [`MarketOption::Contract`]).
///
/// Every market of an engine has the same type: a new market takes the type of the
/// engine's first market, and a different one is refused with
/// [`ErrorKind::Asset`](crate::ErrorKind::Asset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Contract {
    /// Linear (USDT-margined), the default: quantities in the base asset, money in the
    /// quote.
    #[default]
    Linear,
    /// Inverse (coin-margined, as BitMEX's XBTUSD or Binance COIN-M): quantities in
    /// contracts of [`MarketOption::ContractSize`] quote units (`N` = contracts x contract
    /// size), money in the coin: the value `N/P`, the PnL `s*N*(1/E - 1/P)`, the initial
    /// margin `N/(E*L)`, fees and funding on `N/P`. Every liquidation policy and both ADL
    /// rankings apply; cross mode is not supported on it yet
    /// ([`ErrorKind::NotSupported`](crate::ErrorKind::NotSupported)).
    Inverse,
    /// A type this binding does not know, passed as is.
    Other(i64),
}

c_values!(Contract, "MARGIN_CONTRACT_*", {
    Linear => sys::MARGIN_CONTRACT_LINEAR,
    Inverse => sys::MARGIN_CONTRACT_INVERSE,
});

/// Where a market evaluates the maintenance margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MmBasis {
    /// At the liquidation price (Binance, OKX, dYdX, Hyperliquid); the default.
    #[default]
    Mark,
    /// Fixed at the entry value (Bybit classic, BitMEX).
    Entry,
    /// A basis this binding does not know (from a newer library).
    Other(i64),
}

c_values!(MmBasis, "MARGIN_MM_BASIS_*", {
    Mark => sys::MARGIN_MM_BASIS_MARK,
    Entry => sys::MARGIN_MM_BASIS_ENTRY,
});

/// Margin mode of an account in a market ([`Engine::set_account_mode`]), and of a
/// position ([`PositionInfo::mode`]) or an event ([`Event::mode`](crate::Event::mode)).
///
/// [`Engine::set_account_mode`]: crate::Engine::set_account_mode
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Isolated (the default): each position has its own margin, and only that margin is
    /// at risk.
    #[default]
    Isolated,
    /// Cross: the account's free balance (the cross wallet) backs every cross position of
    /// the account, in every market where the account is in cross mode.
    Cross,
    /// A mode this binding does not know (from a newer library), or one to pass as is
    /// (the engine refuses an unknown mode with [`ErrorKind::Invalid`]).
    Other(i64),
}

c_values!(Mode, "MARGIN_MODE_*", {
    Isolated => sys::MARGIN_MODE_ISOLATED,
    Cross => sys::MARGIN_MODE_CROSS,
});

/// How the engine liquidates a cross account whose cross margin balance is at or below
/// its cross maintenance margin ([`Engine::set_cross_liquidation`]).
///
/// [`Engine::set_cross_liquidation`]: crate::Engine::set_cross_liquidation
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CrossLiquidationPolicy {
    /// Every cross position of the account closes at its market's mark at once
    /// (Binance); the default.
    #[default]
    All,
    /// The cross position with the largest unrealized loss closes first (ties: the lowest
    /// id), then the account is evaluated again, until it is healthy or has no cross
    /// position left.
    WorstFirst,
    /// A policy this binding does not know, passed as is.
    Other(i64),
}

c_values!(CrossLiquidationPolicy, "MARGIN_CROSS_LIQ_*", {
    All => sys::MARGIN_CROSS_LIQ_ALL,
    WorstFirst => sys::MARGIN_CROSS_LIQ_WORST_FIRST,
});

/// How much of a liquidatable isolated position is liquidated (`MARGIN_LIQ_POLICY_*`,
/// [`MarketOption::LiqPolicy`]). A partial step is an
/// [`EventKind::PartialLiquidation`](crate::EventKind::PartialLiquidation) event; cross
/// positions close in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LiquidationPolicy {
    /// The whole position (the default, and 0.1.0's behaviour).
    #[default]
    Full,
    /// Binance's first step: the smallest quantity, rounded up to the step, that leaves the
    /// margin balance above the maintenance margin after the loss and the clearance fee,
    /// `q = (Q*P*mmr - cum - Eq) / (P*(mmr - f_liq))`; in full when no partial sale helps.
    MinReduce,
    /// Bybit's and BitMEX's step-down: down to the cap of the highest lower tier whose
    /// maintenance margin the equity after the clearance fee covers; in full from the
    /// lowest tier.
    TierDown,
    /// Hyperliquid's slices: above [`MarketOption::SliceThreshold`],
    /// [`MarketOption::SliceFraction`] of the position per trigger, with a cooldown
    /// ([`MarketOption::SliceCooldown`]) and a backstop ([`MarketOption::SliceBackstop`]).
    Slices,
    /// A policy this binding does not know, passed as is.
    Other(i64),
}

c_values!(LiquidationPolicy, "MARGIN_LIQ_POLICY_*", {
    Full => sys::MARGIN_LIQ_POLICY_FULL,
    MinReduce => sys::MARGIN_LIQ_POLICY_MIN_REDUCE,
    TierDown => sys::MARGIN_LIQ_POLICY_TIER_DOWN,
    Slices => sys::MARGIN_LIQ_POLICY_SLICES,
});

/// The price a liquidation settles at (`MARGIN_LIQ_FILL_*`, [`MarketOption::LiqFill`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LiquidationFill {
    /// The mark (the default): the holder loses the whole margin of what is liquidated.
    #[default]
    Mark,
    /// The position's liquidation price: the holder keeps what its margin is worth there,
    /// less the clearance fee.
    LiqPrice,
    /// The insurance fund takes the position over at its bankruptcy price: the holder
    /// loses exactly the margin; the fund books the difference from the mark.
    Bankruptcy,
    /// A value this binding does not know, passed as is.
    Other(i64),
}

c_values!(LiquidationFill, "MARGIN_LIQ_FILL_*", {
    Mark => sys::MARGIN_LIQ_FILL_MARK,
    LiqPrice => sys::MARGIN_LIQ_FILL_LIQ_PRICE,
    Bankruptcy => sys::MARGIN_LIQ_FILL_BANKRUPTCY,
});

/// The price stop-losses and take-profits fill at (`MARGIN_STOP_FILL_*`,
/// [`MarketOption::StopFill`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StopFill {
    /// The mark that reached them (the default).
    #[default]
    Mark,
    /// Their trigger price when the mark reaches it without a gap (a mark update is a
    /// continuous move from the last mark); the mark when the last mark was already past
    /// it.
    Trigger,
    /// A value this binding does not know, passed as is.
    Other(i64),
}

c_values!(StopFill, "MARGIN_STOP_FILL_*", {
    Mark => sys::MARGIN_STOP_FILL_MARK,
    Trigger => sys::MARGIN_STOP_FILL_TRIGGER,
});

/// The price multiplying the liquidated quantity in the clearance fee
/// (`MARGIN_LIQ_FEE_BASIS_*`, [`MarketOption::LiqFeeBasis`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LiqFeeBasis {
    /// The liquidation's fill price (the default).
    #[default]
    Fill,
    /// The mark that triggered the liquidation.
    Mark,
    /// A value this binding does not know, passed as is.
    Other(i64),
}

c_values!(LiqFeeBasis, "MARGIN_LIQ_FEE_BASIS_*", {
    Fill => sys::MARGIN_LIQ_FEE_BASIS_FILL,
    Mark => sys::MARGIN_LIQ_FEE_BASIS_MARK,
});

/// Which price a triggered close or a liquidation filled at
/// ([`Event::fill`](crate::Event::fill), `MARGIN_EVF_FILL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FillPrice {
    /// The mark.
    Mark,
    /// The stop-loss or take-profit price.
    Trigger,
    /// The position's liquidation price.
    LiqPrice,
    /// The position's bankruptcy price (the insurance fund took it over).
    Bankruptcy,
    /// A value this binding does not know (from a newer library).
    Other(i64),
}

c_values!(FillPrice, "MARGIN_FILL_*", {
    Mark => sys::MARGIN_FILL_MARK,
    Trigger => sys::MARGIN_FILL_TRIGGER,
    LiqPrice => sys::MARGIN_FILL_LIQ_PRICE,
    Bankruptcy => sys::MARGIN_FILL_BANKRUPTCY,
});

/// The path a candle's mark walks ([`Engine::mark_candle`](crate::Engine::mark_candle)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CandlePath {
    /// Open, low, high, close for a bar that closes up (close >= open), else open, high,
    /// low, close (`MARGIN_PATH_UPDOWN`; the order `margin replay` has always used).
    #[default]
    UpDown,
    /// Per position, the adverse extreme first: an isolated long walks open, low, high,
    /// close and an isolated short open, high, low, close, whatever the bar's direction
    /// (its `path_point` 2 is the adverse extreme, 3 the favourable one); cross positions
    /// walk the up-down order, which alone moves the market's mark
    /// (`MARGIN_PATH_ADVERSE`).
    Adverse,
    /// A path this binding does not know, passed as is.
    Other(i64),
}

c_values!(CandlePath, "MARGIN_PATH_*", {
    UpDown => sys::MARGIN_PATH_UPDOWN,
    Adverse => sys::MARGIN_PATH_ADVERSE,
});

/// A settable market option (`margin_market_set`), with its value in natural units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarketOption {
    /// Decimal places of prices, 0 to 18 (only before tiers and positions).
    PriceScale(u32),
    /// Decimal places of quantities, 0 to 18 (only before tiers and positions).
    QtyScale(u32),
    /// Price tick, a price (e.g. `0.1`).
    Tick(Decimal),
    /// Quantity step, a quantity (e.g. `0.001`).
    Step(Decimal),
    /// Maximum leverage (e.g. `125`).
    MaxLeverage(Decimal),
    /// Maker fee rate (e.g. `0.0002`).
    MakerFee(Decimal),
    /// Taker fee rate (e.g. `0.0004`).
    TakerFee(Decimal),
    /// Maintenance-margin basis (only with no open positions).
    MmBasis(MmBasis),
    /// Fee rate to close counted in the maintenance margin, the spec's `f`.
    CloseFee(Decimal),
    /// The largest mark, fill, stop or take-profit price the market accepts, a price.
    MaxPrice(Decimal),
    /// Clearance (liquidation) fee rate (e.g. `0.0125`), charged on the liquidated
    /// notional and credited to the insurance fund; default 0.
    LiqFee(Decimal),
    /// The price multiplying the liquidated quantity in the clearance fee.
    LiqFeeBasis(LiqFeeBasis),
    /// The price a liquidation settles at.
    LiqFill(LiquidationFill),
    /// The price stop-losses and take-profits fill at.
    StopFill(StopFill),
    /// How much of a liquidatable isolated position is liquidated.
    LiqPolicy(LiquidationPolicy),
    /// [`LiquidationPolicy::Slices`]: the notional (money, at the mark) above which a
    /// liquidation takes one slice; default 100000.
    SliceThreshold(Decimal),
    /// [`LiquidationPolicy::Slices`]: the fraction one slice takes, above 0 and below 1;
    /// default 0.2.
    SliceFraction(Decimal),
    /// [`LiquidationPolicy::Slices`]: for this long (engine time units, default 30000)
    /// after a partial liquidation, a liquidation of the same account's position closes
    /// it in full.
    SliceCooldown(i64),
    /// [`LiquidationPolicy::Slices`]: below this fraction of the maintenance margin the
    /// position is liquidated in full; default 0.66666667.
    SliceBackstop(Decimal),
    /// The market whose insurance pool this one uses: itself (the default) or another
    /// market, whose pool it then shares; refused ([`ErrorKind::State`]) when the pool
    /// left is shared or not empty, or the pool joined is not its market's own.
    ///
    /// [`ErrorKind::State`]: crate::ErrorKind::State
    InsurancePool(MarketId),
    /// Auto-deleveraging of the market's pool (an option of the pool; off by default).
    Adl(bool),
    /// The pool's floor, money, >= 0 (default 0): with auto-deleveraging on, the part of
    /// a deficit that would take the pool below it is deleveraged.
    InsuranceFloor(Decimal),
    /// How the market ranks positions for auto-deleveraging.
    AdlRanking(AdlRanking),
    /// The contract type (only before the market has had positions; the engine's other
    /// markets' type, else [`ErrorKind::Asset`](crate::ErrorKind::Asset)). Set it before
    /// [`MarketOption::MinPrice`], whose default it changes.
    Contract(Contract),
    /// Quote units (USD) per contract of an inverse market, e.g. `1` (BitMEX's XBTUSD) or
    /// `100` (Binance COIN-M's BTCUSD); default 1; only before the market has had
    /// positions.
    ContractSize(Decimal),
    /// The settlement asset, a code of the caller's choosing (>= 0, default 0): every
    /// market of an engine has the same (else [`ErrorKind::Asset`](crate::ErrorKind::Asset)).
    SettleAsset(i64),
    /// The lowest mark, candle or fill price the market accepts, a price (default: 1 price
    /// unit linear, 0.01 inverse).
    MinPrice(Decimal),
}

/// A market's options and figures (`margin_market_get` for every key).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MarketInfo {
    /// Decimal places of prices.
    pub price_scale: u32,
    /// Decimal places of quantities.
    pub qty_scale: u32,
    /// Price tick.
    pub tick: Decimal,
    /// Quantity step.
    pub step: Decimal,
    /// Maximum leverage.
    pub max_leverage: Decimal,
    /// Maker fee rate.
    pub maker_fee: Decimal,
    /// Taker fee rate.
    pub taker_fee: Decimal,
    /// Maintenance-margin basis.
    pub mm_basis: MmBasis,
    /// Fee rate to close counted in the maintenance margin.
    pub close_fee: Decimal,
    /// Last mark price; `None` before the first mark update.
    pub mark: Option<Decimal>,
    /// Number of maintenance tiers.
    pub tier_count: u32,
    /// Number of open positions in the market.
    pub open_positions: u64,
    /// The largest price the market accepts.
    pub max_price: Decimal,
    /// Clearance (liquidation) fee rate.
    pub liq_fee: Decimal,
    /// The price multiplying the liquidated quantity in the clearance fee.
    pub liq_fee_basis: LiqFeeBasis,
    /// The price a liquidation settles at.
    pub liq_fill: LiquidationFill,
    /// The price stop-losses and take-profits fill at.
    pub stop_fill: StopFill,
    /// How much of a liquidatable isolated position is liquidated.
    pub liq_policy: LiquidationPolicy,
    /// [`LiquidationPolicy::Slices`]: the notional above which a liquidation takes a slice.
    pub slice_threshold: Decimal,
    /// [`LiquidationPolicy::Slices`]: the fraction one slice takes.
    pub slice_fraction: Decimal,
    /// [`LiquidationPolicy::Slices`]: the cooldown, engine time units.
    pub slice_cooldown: i64,
    /// [`LiquidationPolicy::Slices`]: the backstop, a fraction of the maintenance margin.
    pub slice_backstop: Decimal,
    /// The market whose insurance pool this one uses (itself by default).
    pub insurance_pool: MarketId,
    /// Balance of the market's insurance pool, money.
    pub insurance: Decimal,
    /// Auto-deleveraging of the market's pool.
    pub adl: bool,
    /// The pool's floor, money.
    pub insurance_floor: Decimal,
    /// How the market ranks positions for auto-deleveraging.
    pub adl_ranking: AdlRanking,
    /// The contract type: linear or inverse (coin-margined).
    pub contract: Contract,
    /// Quote units per contract (inverse markets; 1 by default).
    pub contract_size: Decimal,
    /// The settlement asset code.
    pub settle_asset: i64,
    /// The lowest price the market accepts.
    pub min_price: Decimal,
}

/// A maintenance-margin tier: notional from `floor` up to the next tier's floor.
///
/// ```
/// # use margin::Tier;
/// // Binance BTCUSDT's second bracket; the maintenance amount 50 is derived by the
/// // recurrence floor * (mmr - previous mmr) + previous amount when not given.
/// let t = Tier::new("50000", "0.005").unwrap();
/// assert_eq!(t.maint_amount, None);
/// let t = t.with_maint_amount("50").unwrap().with_max_leverage("100").unwrap();
/// assert_eq!(t.maint_amount, Some("50".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Lowest notional of the tier, money.
    pub floor: Decimal,
    /// Maintenance margin rate.
    pub mmr: Decimal,
    /// Largest leverage in this tier; `None` for the market's maximum.
    pub max_leverage: Option<Decimal>,
    /// Maintenance amount (`cum`), money; `None` (when adding) derives it.
    pub maint_amount: Option<Decimal>,
}

impl Tier {
    /// A tier with a derived maintenance amount and the market's maximum leverage.
    pub fn new(floor: impl IntoDecimal, mmr: impl IntoDecimal) -> Result<Tier> {
        Ok(Tier {
            floor: floor.into_decimal()?,
            mmr: mmr.into_decimal()?,
            max_leverage: None,
            maint_amount: None,
        })
    }

    /// The same tier with this maintenance amount instead of the derived one.
    pub fn with_maint_amount(self, amount: impl IntoDecimal) -> Result<Tier> {
        Ok(Tier {
            maint_amount: Some(amount.into_decimal()?),
            ..self
        })
    }

    /// The same tier with this maximum leverage.
    pub fn with_max_leverage(self, leverage: impl IntoDecimal) -> Result<Tier> {
        Ok(Tier {
            max_leverage: Some(leverage.into_decimal()?),
            ..self
        })
    }
}

/// How to size a new position ([`Engine::open_with`](crate::Engine::open_with)).
///
/// At least one of `leverage` and `margin` must be given: with only a leverage the margin
/// is `Q*E/L` rounded up; with only a margin the leverage is `Q*E/M` rounded up; with both
/// the margin must be at least `Q*E/L`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Leverage (e.g. `20`).
    pub leverage: Option<Decimal>,
    /// Isolated margin, money (not for a cross position).
    pub margin: Option<Decimal>,
    /// Taker (default) or maker fee.
    pub fill: Fill,
    /// A cross position (`MARGIN_FLAG_CROSS`). It must agree with the account's mode in
    /// the market ([`Engine::set_account_mode`](crate::Engine::set_account_mode)): `true`
    /// in an isolated market, or `false` in a cross market, fails with
    /// [`ErrorKind::State`]. A cross position needs a leverage and no margin; it moves
    /// nothing out of the wallet but the fee, and the account's available balance after
    /// it must stay >= 0, else [`ErrorKind::Funds`].
    pub cross: bool,
}

impl OpenOptions {
    /// A cross position at `leverage`, taker fee (`cross: true`; see the field).
    ///
    /// ```
    /// use margin::{Decimal, OpenOptions};
    /// let o = OpenOptions::cross_at("20").unwrap();
    /// assert!(o.cross);
    /// assert_eq!((o.leverage, o.margin), (Some(Decimal::from(20)), None));
    /// ```
    pub fn cross_at(leverage: impl IntoDecimal) -> Result<OpenOptions> {
        Ok(OpenOptions {
            leverage: Some(leverage.into_decimal()?),
            cross: true,
            ..OpenOptions::default()
        })
    }
}

/// An account's figures (`margin_account_get` for every key), money at scale 8.
///
/// The cross figures cover the account's cross positions only, each market at its last
/// mark (the entry price when it has none); with no cross position they are 0 (and
/// `available` is the free balance).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountInfo {
    /// Free balance; it is also the cross wallet (what can be withdrawn is `available`).
    pub free_balance: Decimal,
    /// Sum of the isolated margins of open positions.
    pub isolated_margin: Decimal,
    /// Free balance + isolated margins + unrealized PnL at each market's last mark
    /// (entry if none), rounded down; `None` if it does not fit in 64 bits (the engine
    /// answers [`ErrorKind::Overflow`] for it).
    pub equity: Option<Decimal>,
    /// Total deposited.
    pub deposits: Decimal,
    /// Total withdrawn.
    pub withdrawals: Decimal,
    /// Realized PnL of all positions (liquidation losses included).
    pub realized_pnl: Decimal,
    /// Fees paid.
    pub fees: Decimal,
    /// Net funding received (negative: paid).
    pub funding: Decimal,
    /// Number of open positions.
    pub open_positions: u64,
    /// Cross wallet balance WB (the free balance, which backs every cross position); it
    /// can be below 0 while other cross positions' unrealized profit covers a loss.
    pub cross_wallet: Decimal,
    /// Unrealized PnL of the cross positions, each rounded down. Like `equity` and the
    /// three sums below, `None` if it does not fit in 64 bits (the engine answers
    /// [`ErrorKind::Overflow`] for it).
    pub cross_unrealized_pnl: Option<Decimal>,
    /// Cross margin balance: `cross_wallet + cross_unrealized_pnl`.
    pub cross_margin_balance: Option<Decimal>,
    /// Maintenance margin of the cross positions, each on its own notional and tier,
    /// each rounded up. The account is liquidated when `cross_margin_balance` is at or
    /// below it.
    pub cross_maint_margin: Option<Decimal>,
    /// Initial margin `Q*E/L` of the cross positions, each rounded up.
    pub cross_initial_margin: Option<Decimal>,
    /// Account margin ratio `cross_maint_margin / cross_margin_balance`, rounded up
    /// (liquidation at 1); 0 with no cross position; `None` when the cross margin
    /// balance is <= 0 (infinite).
    pub margin_ratio: Option<Decimal>,
    /// What can be withdrawn, moved into an isolated position or used by a new cross
    /// position: the free balance with no cross position, else
    /// `max(0, min(WB + min(0, uPnL) - IM, WB + uPnL - MM - 1 unit))`.
    pub available: Decimal,
    /// Number of open cross positions.
    pub cross_positions: u64,
}

/// A position's stored figures (`margin_position_get` for every key).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PositionInfo {
    /// The position's id.
    pub id: PositionId,
    /// Owning account.
    pub account: AccountId,
    /// Market.
    pub market: MarketId,
    /// Side (the last side of a closed position).
    pub side: Side,
    /// Size (0 once closed).
    pub qty: Decimal,
    /// Average entry price.
    pub entry_price: Decimal,
    /// Isolated margin (0 once closed, and always 0 for a cross position).
    pub margin: Decimal,
    /// Leverage.
    pub leverage: Decimal,
    /// Isolated or cross.
    pub mode: Mode,
    /// Open, closed, liquidated or deleveraged.
    pub status: Status,
    /// Realized PnL so far.
    pub realized_pnl: Decimal,
    /// Fees paid so far.
    pub fees: Decimal,
    /// Net funding so far (negative: paid).
    pub funding: Decimal,
    /// Stop-loss trigger price, if set.
    pub stop_loss: Option<Decimal>,
    /// Take-profit trigger price, if set.
    pub take_profit: Option<Decimal>,
    /// Liquidation price in force (the trigger), if any.
    pub liq_price: Option<Decimal>,
    /// The raw auto-deleveraging score at the market's last mark, by the market's
    /// [`AdlRanking`], rounded down to the rate scale (higher is deleveraged first; 0
    /// once closed).
    pub adl_score: Decimal,
    /// The ADL quantile, 0 to 4 (4: deleveraged first; the venues' five lights), as the
    /// market's last [`Engine::adl_quantiles`](crate::Engine::adl_quantiles) set it (0
    /// before any, and once closed).
    pub adl_quantile: u8,
}

/// Figures of an open position at one mark price (`margin_position_at` for every key),
/// each rounded against the holder as the C documentation states.
///
/// For a cross position the figures that depend on the margin are the account's, with
/// this position's market at the mark and every other market at its last mark:
/// `margin_balance` is the cross margin balance, `margin_ratio` the account ratio,
/// `liquidation_price` the cross liquidation price, `removable_margin` 0.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Figures {
    /// The mark price used.
    pub mark: Decimal,
    /// Position value `Q*P`, rounded up.
    pub notional: Decimal,
    /// `s*Q*(P-E)`, rounded down.
    pub unrealized_pnl: Decimal,
    /// `M + uPnL`, rounded down.
    pub margin_balance: Decimal,
    /// Maintenance margin, rounded up.
    pub maint_margin: Decimal,
    /// Maintenance rate of the tier in force.
    pub maint_rate: Decimal,
    /// Maintenance amount of the tier in force.
    pub maint_amount: Decimal,
    /// Maintenance margin / margin balance, rounded up; `None` when the balance is <= 0
    /// (infinite ratio).
    pub margin_ratio: Option<Decimal>,
    /// Liquidation price (independent of the mark); `None` when there is none (a long
    /// that cannot be liquidated).
    pub liquidation_price: Option<Decimal>,
    /// Bankruptcy price `E - s*M/Q`; `None` for a long when it is <= 0.
    pub bankruptcy_price: Option<Decimal>,
    /// Initial margin `Q*E/L`, rounded up.
    pub initial_margin: Decimal,
    /// Unrealized PnL / initial margin, rounded down.
    pub roe: Decimal,
    /// Margin that could be removed now, rounded down.
    pub removable_margin: Decimal,
    /// Price at which the lowest margin-call level is crossed; `None` when no levels are
    /// set or a long cannot reach it.
    pub margin_call_price: Option<Decimal>,
}

/// One figure of [`Figures`], for [`Engine::figure`](crate::Engine::figure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Figure {
    /// `MARGIN_AT_NOTIONAL`, money.
    Notional,
    /// `MARGIN_AT_UNREALIZED_PNL`, money.
    UnrealizedPnl,
    /// `MARGIN_AT_MARGIN_BALANCE`, money.
    MarginBalance,
    /// `MARGIN_AT_MAINT_MARGIN`, money.
    MaintMargin,
    /// `MARGIN_AT_MAINT_RATE`, rate.
    MaintRate,
    /// `MARGIN_AT_MAINT_AMOUNT`, money.
    MaintAmount,
    /// `MARGIN_AT_MARGIN_RATIO`, rate (`i64::MAX` mantissa: infinite).
    MarginRatio,
    /// `MARGIN_AT_LIQ_PRICE`, price (0: none).
    LiquidationPrice,
    /// `MARGIN_AT_BANKRUPTCY_PRICE`, price (0: none).
    BankruptcyPrice,
    /// `MARGIN_AT_INITIAL_MARGIN`, money.
    InitialMargin,
    /// `MARGIN_AT_ROE`, rate.
    Roe,
    /// `MARGIN_AT_REMOVABLE_MARGIN`, money.
    RemovableMargin,
    /// `MARGIN_AT_MARGIN_CALL_PRICE`, price (0: none).
    MarginCallPrice,
}

/// The unit of a value, which fixes its scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Money,
    Rate,
    Price,
}

impl Figure {
    pub(crate) fn key_unit(self) -> (i32, Unit) {
        match self {
            Figure::Notional => (sys::MARGIN_AT_NOTIONAL, Unit::Money),
            Figure::UnrealizedPnl => (sys::MARGIN_AT_UNREALIZED_PNL, Unit::Money),
            Figure::MarginBalance => (sys::MARGIN_AT_MARGIN_BALANCE, Unit::Money),
            Figure::MaintMargin => (sys::MARGIN_AT_MAINT_MARGIN, Unit::Money),
            Figure::MaintRate => (sys::MARGIN_AT_MAINT_RATE, Unit::Rate),
            Figure::MaintAmount => (sys::MARGIN_AT_MAINT_AMOUNT, Unit::Money),
            Figure::MarginRatio => (sys::MARGIN_AT_MARGIN_RATIO, Unit::Rate),
            Figure::LiquidationPrice => (sys::MARGIN_AT_LIQ_PRICE, Unit::Price),
            Figure::BankruptcyPrice => (sys::MARGIN_AT_BANKRUPTCY_PRICE, Unit::Price),
            Figure::InitialMargin => (sys::MARGIN_AT_INITIAL_MARGIN, Unit::Money),
            Figure::Roe => (sys::MARGIN_AT_ROE, Unit::Rate),
            Figure::RemovableMargin => (sys::MARGIN_AT_REMOVABLE_MARGIN, Unit::Money),
            Figure::MarginCallPrice => (sys::MARGIN_AT_MARGIN_CALL_PRICE, Unit::Price),
        }
    }
}

/// A margin ratio at the rate scale, or `None` for the C API's `INT64_MAX` (infinite: the
/// margin balance is <= 0).
pub(crate) fn ratio_or_infinite(v: i64) -> Result<Option<Decimal>> {
    if v == i64::MAX {
        Ok(None)
    } else {
        Decimal::new(v, crate::decimal::RATE_SCALE).map(Some)
    }
}

pub(crate) fn count(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::new(ErrorKind::Range, format!("{what} is negative: {v}")))
}

/// A stop-loss or take-profit trigger for [`Engine::set_stops`](crate::Engine::set_stops):
/// a price, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// No trigger (clears it).
    None,
    /// Trigger at this price.
    At(Decimal),
}

/// What [`Engine::set_stops`](crate::Engine::set_stops) accepts for each trigger: a plain
/// price (anything [`IntoDecimal`]), [`Stop::None`], a [`Stop`], or an `Option` of a price.
pub trait IntoStop {
    /// The trigger, or the error of converting the price.
    fn into_stop(self) -> Result<Stop>;
}

impl<T: IntoDecimal> IntoStop for T {
    fn into_stop(self) -> Result<Stop> {
        self.into_decimal().map(Stop::At)
    }
}

impl IntoStop for Stop {
    fn into_stop(self) -> Result<Stop> {
        Ok(self)
    }
}

impl<T: IntoDecimal> IntoStop for Option<T> {
    fn into_stop(self) -> Result<Stop> {
        match self {
            Some(v) => v.into_decimal().map(Stop::At),
            None => Ok(Stop::None),
        }
    }
}
