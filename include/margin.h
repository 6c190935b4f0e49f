/**
 * @file margin.h
 * @brief libmargin: exact isolated-margin accounting for leveraged futures and perpetuals.
 *
 * libmargin keeps the books of leveraged linear (USDT-margined) futures and perpetual
 * positions the way a crypto exchange's risk engine does in isolated margin mode: margin
 * allocation, PnL, fees, funding, tiered maintenance margin, margin ratio, margin calls,
 * liquidation and bankruptcy prices, and liquidation triggers driven by the mark price.
 *
 * @par Numbers
 * There is no floating point anywhere in this API. Every amount is an `int64_t` holding a
 * decimal fixed-point value: the integer counts units of 10^-scale.
 * - Money (balances, margins, PnL, fees, funding, notionals): scale #MARGIN_MONEY_SCALE (8),
 *   so `100000000` is 1 USDT.
 * - Rates, ratios and leverage (maintenance rates, fee rates, funding rates, margin ratio,
 *   ROE, leverage): scale #MARGIN_RATE_SCALE (8), so `2000000000` is 20x and `400000` is 0.4 %.
 * - Prices and quantities: the scale of their market (#MARGIN_MKT_PRICE_SCALE and
 *   #MARGIN_MKT_QTY_SCALE, both 8 unless set), so that cheap coins can use finer prices.
 *
 * margin_dec_parse() and margin_dec_format() convert between such integers and decimal
 * strings, so no caller ever needs binary floating point. Intermediate products are
 * computed exactly in 128-bit arithmetic; a result that does not fit in 64 bits is
 * reported as #MARGIN_EOVERFLOW, never wrapped.
 *
 * @par Rounding
 * Where a result must be rounded, it is rounded against the position holder, so that rounding
 * never creates money: amounts the holder owes (margins, fees, funding paid, maintenance
 * margin) round up; amounts credited (PnL, funding received, released margin) round down
 * (toward minus infinity); a long's liquidation and bankruptcy prices round up and a short's
 * round down; the margin ratio rounds up. Each function states its rule.
 *
 * @par Status codes and errors
 * Every fallible function returns `int`: #MARGIN_OK (0) on success or a negative
 * `MARGIN_E*` code. Out-parameters come last and are written only on success. A failed call
 * leaves the engine exactly as it was. The engine keeps a message describing its last error,
 * readable with margin_errmsg(). Margin calls and liquidations are outcomes (events), not
 * errors.
 *
 * @par Ownership and ids
 * The engine (#margin_engine) is the only handle. Markets, accounts and positions inside it
 * are named by `uint64_t` ids that start at 1 and are never reused (0 is never a valid id),
 * so a caller can never hold a dangling pointer to a position the engine has liquidated.
 * Strings passed in are copied; strings returned are owned by the library.
 *
 * @par Threads
 * There is no global mutable state and no initialisation function. One engine must be used
 * by one thread at a time (it may move between threads); distinct engines are fully
 * independent and may be used concurrently. Functions that take no engine
 * (margin_strerror(), margin_dec_parse(), margin_version_string(), ...) are thread-safe.
 *
 * @par ABI
 * Only opaque handles, fixed-width integers, `size_t` and `const char *` cross the ABI.
 * Published signatures never change; status codes and option keys are never renumbered.
 * See `docs/design.md`.
 */
#ifndef MARGIN_H
#define MARGIN_H

#include <stddef.h>
#include <stdint.h>

#include "margin_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @cond MARGIN_INTERNAL */
#if defined(MARGIN_BUILDING) && defined(__GNUC__)
#define MARGIN_API __attribute__((visibility("default")))
#else
#define MARGIN_API
#endif
/** @endcond */

/**
 * @defgroup version Version
 * Compile-time version macros live in margin_version.h; these report the library actually
 * loaded at run time.
 * @{
 */

/**
 * @brief The version of the loaded library as a number.
 * @return `major * 10000 + minor * 100 + patch`, equal to #MARGIN_VERSION_NUMBER of the
 *         header the library was built with.
 * @since 0.1.0
 */
MARGIN_API int32_t margin_version_number(void);

/**
 * @brief The version of the loaded library as a string, such as `"0.1.0"`.
 * @return A static NUL-terminated string owned by the library; equal to
 *         #MARGIN_VERSION_STRING of the header the library was built with.
 * @since 0.1.0
 */
MARGIN_API const char *margin_version_string(void);

/** @} */

/**
 * @defgroup errors Status codes
 * Values are fixed forever; new codes are appended below the last one.
 * @{
 */

#define MARGIN_OK 0           /**< Success. */
#define MARGIN_EINVAL (-1)    /**< An argument is invalid (NULL, zero, negative, unknown constant). */
#define MARGIN_ENOMEM (-2)    /**< Memory could not be allocated. */
#define MARGIN_EOVERFLOW (-3) /**< A result or intermediate does not fit in 64 bits. */
#define MARGIN_EPARSE (-4)    /**< A string is not a plain decimal number. */
#define MARGIN_ERANGE (-5)    /**< A value is out of range, or has more decimals than the scale holds. */
#define MARGIN_ENOTFOUND (-6) /**< No market, account or position has that id. */
#define MARGIN_ECLOSED (-7)   /**< The position is closed or liquidated. */
#define MARGIN_EFUNDS (-8)    /**< The account's free balance does not cover the amount. */
#define MARGIN_ELEVERAGE (-9) /**< The leverage is outside the market's (or the tier's) limit. */
#define MARGIN_EGRID (-10)    /**< A price or quantity is not on the market's tick or step grid. */
#define MARGIN_ESTATE (-11)   /**< Not allowed in the current state (e.g. changing a market with open positions). */
#define MARGIN_EMARGIN (-12)  /**< The margin would fall below what the position requires. */
#define MARGIN_EBUFFER (-13)  /**< The output buffer is too small. */
#define MARGIN_EEXIST (-14)   /**< Something with that name already exists. */
#define MARGIN_ENOTSUP (-15)  /**< Not supported (yet) by this version. */
/** The event queue is at its cap (#MARGIN_ENG_EVENT_CAP): the call would produce events
 *  that could not be queued, so it changed nothing. Drain the queue with
 *  margin_event_next() and call again. @since 0.2.0 */
#define MARGIN_EFULL (-16)
/** A snapshot does not start with the snapshot magic (it is not a libmargin snapshot).
 *  @since 0.2.0 */
#define MARGIN_EMAGIC (-17)
/** A snapshot's format version is not one this library reads. @since 0.2.0 */
#define MARGIN_EVERSION (-18)
/** A snapshot's checksum does not match its bytes (it was damaged). @since 0.2.0 */
#define MARGIN_ECHECKSUM (-19)
/** A snapshot is shorter than its header says (it was cut). @since 0.2.0 */
#define MARGIN_ETRUNCATED (-20)
/** A snapshot field is out of range or inconsistent with the others (the message names
 *  it). @since 0.2.0 */
#define MARGIN_ECORRUPT (-21)
/** A file could not be opened, written, synced, renamed or read (the message says which
 *  step and the system's reason). @since 0.2.0 */
#define MARGIN_EIO (-22)
/** The operation would mix settlement assets in one engine: every market of an engine
 *  settles in one asset, so its markets are all linear or all inverse
 *  (#MARGIN_MKT_CONTRACT) and share #MARGIN_MKT_SETTLE_ASSET (the message names the
 *  market that differs). @since 0.2.0 */
#define MARGIN_EASSET (-23)

/**
 * @brief Static text describing a status code.
 * @param[in] code Any value; unknown codes get a generic text.
 * @return A static NUL-terminated English string, never NULL. Thread-safe.
 * @since 0.1.0
 */
MARGIN_API const char *margin_strerror(int code);

/** @} */

/**
 * @defgroup decimal Exact decimals
 * Conversion between decimal strings and the library's fixed-point integers.
 * A value `v` at scale `s` means `v * 10^-s`. Scales range from 0 to #MARGIN_MAX_SCALE.
 * All functions here are thread-safe.
 * @{
 */

#define MARGIN_MONEY_SCALE 8 /**< Decimal places of every money amount. */
#define MARGIN_RATE_SCALE 8  /**< Decimal places of rates, ratios and leverage. */
#define MARGIN_MAX_SCALE 18  /**< Largest scale accepted anywhere. */

#define MARGIN_ROUND_FLOOR 0     /**< Round toward minus infinity. */
#define MARGIN_ROUND_CEIL 1      /**< Round toward plus infinity. */
#define MARGIN_ROUND_TRUNC 2     /**< Round toward zero. */
#define MARGIN_ROUND_AWAY 3      /**< Round away from zero. */
#define MARGIN_ROUND_HALF_EVEN 4 /**< Round to nearest, ties to even. */
#define MARGIN_ROUND_EXACT 5     /**< Do not round: fail with #MARGIN_ERANGE if digits would be lost. */

/**
 * @brief The scale of money amounts, #MARGIN_MONEY_SCALE, as a function for bindings.
 * @return 8.
 * @since 0.1.0
 */
MARGIN_API int32_t margin_money_scale(void);

/**
 * @brief The scale of rates, ratios and leverage, #MARGIN_RATE_SCALE, as a function.
 * @return 8.
 * @since 0.1.0
 */
MARGIN_API int32_t margin_rate_scale(void);

/**
 * @brief Parse a plain decimal string into a fixed-point integer at @p scale.
 *
 * Accepted: an optional `-` or `+`, at least one digit, and optionally `.` followed by at
 * least one digit (`"12"`, `"-0.5"`, `"20000.10"`). Not accepted: empty strings, spaces,
 * exponents (`"1e5"`), `"NaN"`, `"inf"`, a lone sign or point, several points, more than
 * 40 characters. Fractional digits beyond @p scale must be zeros (nothing is rounded).
 *
 * @param[in]  s     NUL-terminated string; not kept.
 * @param[in]  scale Number of decimal places of the result, 0 to #MARGIN_MAX_SCALE.
 * @param[out] out   The value times 10^scale; written only on success.
 * @retval #MARGIN_OK        Parsed exactly.
 * @retval #MARGIN_EINVAL    @p s or @p out is NULL, or @p scale is out of range.
 * @retval #MARGIN_EPARSE    @p s is not a plain decimal number (or is too long).
 * @retval #MARGIN_ERANGE    @p s has non-zero digits beyond @p scale decimal places.
 * @retval #MARGIN_EOVERFLOW The value times 10^scale does not fit in `int64_t`.
 * @since 0.1.0
 */
MARGIN_API int margin_dec_parse(const char *s, int32_t scale, int64_t *out);

/**
 * @brief Format a fixed-point integer as the shortest exact decimal string.
 *
 * The result has no exponent and no trailing fractional zeros (`"20000"`, `"0.004"`,
 * `"-1.5"`). 42 bytes always suffice.
 *
 * @param[in]  v     The value, in units of 10^-scale.
 * @param[in]  scale Decimal places of @p v, 0 to #MARGIN_MAX_SCALE.
 * @param[out] buf   Destination for the NUL-terminated text.
 * @param[in]  size  Size of @p buf in bytes.
 * @retval #MARGIN_OK     Written.
 * @retval #MARGIN_EINVAL @p buf is NULL or @p scale is out of range.
 * @retval #MARGIN_EBUFFER @p size is too small (nothing useful is written).
 * @since 0.1.0
 */
MARGIN_API int margin_dec_format(int64_t v, int32_t scale, char *buf, size_t size);

/**
 * @brief Change the scale of a value, rounding as asked.
 * @param[in]  v        The value at @p from decimal places.
 * @param[in]  from     Scale of @p v, 0 to #MARGIN_MAX_SCALE.
 * @param[in]  to       Scale of the result, 0 to #MARGIN_MAX_SCALE.
 * @param[in]  rounding One of the `MARGIN_ROUND_*` constants.
 * @param[out] out      The rescaled value; written only on success.
 * @retval #MARGIN_OK        Done.
 * @retval #MARGIN_EINVAL    @p out is NULL, a scale is out of range or @p rounding unknown.
 * @retval #MARGIN_ERANGE    @p rounding is #MARGIN_ROUND_EXACT and digits would be lost.
 * @retval #MARGIN_EOVERFLOW The result does not fit in `int64_t`.
 * @since 0.1.0
 */
MARGIN_API int margin_dec_rescale(int64_t v, int32_t from, int32_t to, int32_t rounding,
                                  int64_t *out);

/**
 * @brief Exact product `a * b`, computed in 128 bits and rounded once to the result scale.
 * @param[in]  a        First factor at scale @p as.
 * @param[in]  as       Scale of @p a.
 * @param[in]  b        Second factor at scale @p bs.
 * @param[in]  bs       Scale of @p b.
 * @param[in]  rs       Scale of the result.
 * @param[in]  rounding One of the `MARGIN_ROUND_*` constants.
 * @param[out] out      The product at scale @p rs; written only on success.
 * @retval #MARGIN_OK        Done.
 * @retval #MARGIN_EINVAL    @p out is NULL, a scale is out of range or @p rounding unknown.
 * @retval #MARGIN_ERANGE    @p rounding is #MARGIN_ROUND_EXACT and digits would be lost.
 * @retval #MARGIN_EOVERFLOW The result does not fit in `int64_t`.
 * @since 0.1.0
 */
MARGIN_API int margin_dec_mul(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs,
                              int32_t rounding, int64_t *out);

/**
 * @brief Exact quotient `a / b`, computed in 128 bits and rounded once to the result scale.
 * @param[in]  a        Dividend at scale @p as.
 * @param[in]  as       Scale of @p a.
 * @param[in]  b        Divisor at scale @p bs; must not be zero.
 * @param[in]  bs       Scale of @p b.
 * @param[in]  rs       Scale of the result.
 * @param[in]  rounding One of the `MARGIN_ROUND_*` constants.
 * @param[out] out      The quotient at scale @p rs; written only on success.
 * @retval #MARGIN_OK        Done.
 * @retval #MARGIN_EINVAL    @p out is NULL, @p b is zero, a scale is out of range or
 *                           @p rounding unknown.
 * @retval #MARGIN_ERANGE    @p rounding is #MARGIN_ROUND_EXACT and digits would be lost.
 * @retval #MARGIN_EOVERFLOW The result does not fit in `int64_t`.
 * @since 0.1.0
 */
MARGIN_API int margin_dec_div(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs,
                              int32_t rounding, int64_t *out);

/** @} */

/**
 * @defgroup engine Engine
 * The owning handle, its options, its error message and its insurance-fund ledger.
 * @{
 */

/** @brief The engine: owns every market, account, position and event. Opaque. */
typedef struct margin_engine margin_engine;

/** @name Engine option and query keys (margin_engine_set(), margin_engine_get())
 * @{ */
/** Current time stamped on every event (any unit the caller likes, e.g. ms since the
 *  epoch). Settable; default 0. */
#define MARGIN_ENG_TIME 1
/** 1: mark updates scan every position instead of using the trigger indexes (the reference
 *  path, for tests and benchmarks). 0 (default): indexes. Settable. */
#define MARGIN_ENG_FULL_SCAN 2
/** 1 (default): events are queued for margin_event_next(). 0: not queued (a callback still
 *  sees them). Settable. */
#define MARGIN_ENG_EVENT_QUEUE 3
/** Insurance-fund ledger balance, money. Read-only. */
#define MARGIN_ENG_INSURANCE_FUND 4
/** Number of open positions in the engine. Read-only. */
#define MARGIN_ENG_OPEN_POSITIONS 5
/** Number of events waiting in the queue. Read-only. */
#define MARGIN_ENG_EVENTS_PENDING 6
/** Sequence number of the last event produced (0 if none). Read-only. */
#define MARGIN_ENG_LAST_SEQ 7
/** Number of positions liquidated so far. Read-only. */
#define MARGIN_ENG_LIQUIDATIONS 8
/** Margin-call re-arm band B, #MARGIN_RATE_SCALE, 0 <= B < 1; default 0. A fired level L
 *  re-arms only once the margin ratio falls below `L - B`: at the price of the level
 *  `L - B` (the level-price formula of margin_engine_set_margin_call_levels() with `L - B`
 *  in place of `L`; a long re-arms when the mark is above it, a short below it). When
 *  `L - B <= 0` a fired level never re-arms (until the levels are set again). With B = 0 a
 *  level re-arms as soon as the mark is back past its own price. Changing B keeps the
 *  fired levels fired and moves their re-arm prices; it fails with #MARGIN_EOVERFLOW (and
 *  changes nothing) if an open position's re-arm price does not fit.
 *  A band stops the chatter of a mark wiggling around a level.
 *  @since 0.2.0 */
#define MARGIN_ENG_REARM_BAND 9
/** How a cross account is liquidated when its cross margin balance is at or below its cross
 *  maintenance margin: #MARGIN_CROSS_LIQ_ALL (default) or #MARGIN_CROSS_LIQ_WORST_FIRST.
 *  Settable at any time; it applies from the next evaluation.
 *  @since 0.2.0 */
#define MARGIN_ENG_CROSS_LIQUIDATION 10
/** #MARGIN_ENG_CROSS_LIQUIDATION: every cross position of the account closes at its market's
 *  mark at once (Binance). @since 0.2.0 */
#define MARGIN_CROSS_LIQ_ALL 0
/** #MARGIN_ENG_CROSS_LIQUIDATION: close the cross position with the largest unrealized loss
 *  (ties: the lowest id), re-evaluate the account, and repeat until it is healthy or has no
 *  cross position left. @since 0.2.0 */
#define MARGIN_CROSS_LIQ_WORST_FIRST 1
/** Number of cross-account evaluations so far (read-only): a mark update evaluates a cross
 *  account when the mark leaves the account's price band in that market (its band is then
 *  re-split), or when an isolated stop or take-profit of the same account moved its free
 *  balance; a funding round evaluates every cross account holding the market. With
 *  #MARGIN_ENG_FULL_SCAN every cross account holding the market is evaluated on every mark.
 *  What a risk dashboard watches to see how often bands are re-split.
 *  @since 0.2.0 */
#define MARGIN_ENG_CROSS_EVALUATIONS 11
/** Cap on the number of queued events (#MARGIN_ENG_EVENT_QUEUE on), 0 (default): none.
 *  Settable at any time (a cap below the number already queued only stops new ones). A call
 *  that would queue events past the cap fails with #MARGIN_EFULL and changes nothing: no
 *  event is ever dropped. A mark update or funding round reserves all its events first, so
 *  it is refused whole. @since 0.2.0 */
#define MARGIN_ENG_EVENT_CAP 12
/** How many of the most recently closed (or liquidated) positions stay readable, default
 *  1048576; settable, >= 0. Older closed positions are retired, a block of ids at a time
 *  once every position of the block is closed: their memory is freed and their ids answer
 *  #MARGIN_ENOTFOUND with a message saying the record was retired. Ids are never reused,
 *  and memory stays bounded by the open positions and this window, however many positions
 *  were ever opened. @since 0.2.0 */
#define MARGIN_ENG_RETAIN_CLOSED 13
/** Money the caller has put into the insurance pools with margin_insurance_deposit(), in
 *  all (money; read-only). The pools hold this plus what liquidations, clearance fees and
 *  auto-deleveraging moved into them: #MARGIN_ENG_INSURANCE_FUND is the sum of the pools.
 *  @since 0.2.0 */
#define MARGIN_ENG_INSURANCE_DEPOSITS 14
/** @} */

/**
 * @brief Create an engine with no markets, accounts or positions.
 *
 * Its memory comes from the C library's malloc(), realloc() and free(). A book of millions
 * of positions writes hundreds of megabytes once, as they open or a snapshot loads; on
 * Linux with glibc 2.35 or later, starting the process with
 * `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` puts malloc's memory on transparent huge pages,
 * which saves most of the page faults (docs/performance.md measures it). The library
 * itself never advises memory.
 * @param[out] out Receives the new engine, to be freed with margin_engine_free().
 * @retval #MARGIN_OK     Created.
 * @retval #MARGIN_EINVAL @p out is NULL.
 * @retval #MARGIN_ENOMEM Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_engine_new(margin_engine **out);

/** @brief Allocate @p size bytes (like malloc); NULL when it cannot. @since 0.2.0 */
typedef void *(*margin_malloc_fn)(void *user, size_t size);
/** @brief Resize @p ptr (NULL: allocate) to @p size > 0 bytes (like realloc); NULL when it
 *  cannot, leaving @p ptr intact. @since 0.2.0 */
typedef void *(*margin_realloc_fn)(void *user, void *ptr, size_t size);
/** @brief Free @p ptr (NULL: nothing). @since 0.2.0 */
typedef void (*margin_free_fn)(void *user, void *ptr);

/**
 * @brief Create an engine that takes every byte of its memory from the caller's functions.
 *
 * As margin_engine_new(), but the engine handle itself and everything it ever allocates
 * (markets, accounts, positions, indexes, events, work space, snapshots being loaded) come
 * from @p alloc / @p grow and go back through @p release, each called with @p user. The
 * functions must stay valid until margin_engine_free() returns; they are called only from
 * the thread calling into this engine. A function that returns NULL makes the call that
 * needed the memory fail with #MARGIN_ENOMEM and change nothing.
 *
 * @param[out] out     Receives the new engine.
 * @param[in]  alloc   malloc-like function, not NULL.
 * @param[in]  grow    realloc-like function, not NULL.
 * @param[in]  release free-like function, not NULL.
 * @param[in]  user    Passed to each function as is (may be NULL).
 * @retval #MARGIN_OK     Created.
 * @retval #MARGIN_EINVAL @p out or a function is NULL.
 * @retval #MARGIN_ENOMEM @p alloc returned NULL for the handle.
 * @since 0.2.0
 */
MARGIN_API int margin_engine_new_with_allocator(margin_engine **out, margin_malloc_fn alloc,
                                                margin_realloc_fn grow,
                                                margin_free_fn release, void *user);

/**
 * @brief Free an engine and everything it owns. Accepts NULL.
 *
 * Called from inside the event callback, it is refused: it does nothing and records
 * #MARGIN_ESTATE on the engine (the call delivering the event still uses it). Free the
 * engine after that call returns.
 * @param[in] e The engine, or NULL. Every id of this engine becomes meaningless.
 * @since 0.1.0
 */
MARGIN_API void margin_engine_free(margin_engine *e);

/**
 * @brief The message describing the engine's last failed call.
 * @param[in] e The engine, or NULL.
 * @return A NUL-terminated string owned by the engine, valid until its next call; `""` if
 *         no call has failed yet; a fixed text if @p e is NULL.
 * @since 0.1.0
 */
MARGIN_API const char *margin_errmsg(const margin_engine *e);

/**
 * @brief The status code of the engine's last failed call.
 * @param[in] e The engine, or NULL.
 * @return The last negative status code returned by a call on @p e, #MARGIN_OK if none,
 *         #MARGIN_EINVAL if @p e is NULL.
 * @since 0.1.0
 */
MARGIN_API int margin_errcode(const margin_engine *e);

/**
 * @brief Set an engine option.
 * @param[in,out] e     The engine.
 * @param[in]     key   #MARGIN_ENG_TIME, #MARGIN_ENG_FULL_SCAN or #MARGIN_ENG_EVENT_QUEUE.
 * @param[in]     value The new value (0 or 1 for the switches).
 * @retval #MARGIN_OK     Set.
 * @retval #MARGIN_EINVAL @p e is NULL, @p key is unknown or read-only, or @p value is out of
 *                        range for the key.
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_engine_set(margin_engine *e, int32_t key, int64_t value);

/**
 * @brief Read an engine option or figure.
 * @param[in]  e   The engine.
 * @param[in]  key Any `MARGIN_ENG_*` key.
 * @param[out] out The value (money at #MARGIN_MONEY_SCALE for the insurance fund).
 * @retval #MARGIN_OK     Read.
 * @retval #MARGIN_EINVAL @p e or @p out is NULL, or @p key is unknown.
 * @since 0.1.0
 */
MARGIN_API int margin_engine_get(const margin_engine *e, int32_t key, int64_t *out);

/**
 * @brief Set the margin-call levels: a margin-call event fires when a position's margin
 *        ratio rises to a level (precisely: when the mark crosses the level's price, below),
 *        and is re-armed once the mark moves back.
 *
 * The default is one level, 0.8 (80 %). Levels apply to every position; changing them
 * re-arms every level of every open position.
 *
 * A level L is crossed at the level's price: the price at which the maintenance margin
 * equals L times the margin balance, i.e. the liquidation-price formula with L in place of
 * 1 (policy `mark`: `(L*(M - s*Q*E) + cum) / (Q*(mmr + f - L*s))`, tier at that price;
 * policy `entry`: `E - s*(M - MM_e/L)/Q`), rounded like the liquidation price (long up,
 * short down). A long's level fires when the mark is <= that price and is re-armed when
 * the mark is above it (above the price of `L - B` with a re-arm band B, see
 * #MARGIN_ENG_REARM_BAND); a short's the other way round. When one update crosses several
 * levels, one event per level is produced, lowest level first.
 *
 * @param[in,out] e      The engine.
 * @param[in]     levels Ratios at #MARGIN_RATE_SCALE, each above 0 and below 1
 *                       (1 is liquidation); copied. May be NULL when @p n is 0.
 * @param[in]     n      Number of levels, 0 (no margin calls) to 8.
 * @retval #MARGIN_OK     Set.
 * @retval #MARGIN_EINVAL @p e is NULL, @p levels is NULL with @p n > 0, @p n > 8, or a
 *                        level is not strictly between 0 and 1.
 * @retval #MARGIN_ENOMEM Out of memory (re-indexing positions).
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_engine_set_margin_call_levels(margin_engine *e, const int64_t *levels,
                                                    size_t n);

/**
 * @brief Read the margin-call levels in force, lowest first.
 * @param[in]  e      The engine.
 * @param[out] levels Receives the levels at #MARGIN_RATE_SCALE; may be NULL when @p cap is
 *                    0. 8 entries always suffice.
 * @param[in]  cap    Number of entries @p levels can hold.
 * @param[out] out_n  Receives the number of levels (0: no margin calls).
 * @retval #MARGIN_OK     Read.
 * @retval #MARGIN_EINVAL @p e or @p out_n is NULL, or @p levels is NULL with @p cap > 0.
 * @retval #MARGIN_EBUFFER @p cap is smaller than the number of levels (nothing written).
 * @since 0.1.0
 */
MARGIN_API int margin_engine_margin_call_levels(const margin_engine *e, int64_t *levels,
                                                size_t cap, size_t *out_n);

/** @} */

/**
 * @defgroup market Markets
 * A linear (USDT-margined) contract: symbol, price and quantity scales, tick and step,
 * leverage limit, maintenance tiers, fees and the venue policies.
 * @{
 */

/** @name Market option keys (margin_market_set(), margin_market_get())
 * @{ */
/** Decimal places of prices in this market, 0 to 18; default 8. Settable only while the
 *  market has no tiers added and no positions. The price scale plus the quantity scale must
 *  be at most 28 (#MARGIN_EINVAL otherwise): a position's figures are computed exactly at
 *  `w + 8` decimal places in 128 bits, `w` = max(sum, 8), so a position's value and margin
 *  must stay below about 1.7 x 10^(30 - w) money: 1.7e14 at scales 8 + 8, 1.7e10 at a sum
 *  of 20, 1.7e4 at 26, 170 at 28. Larger figures are refused with #MARGIN_EOVERFLOW when a
 *  position is opened or changed. */
#define MARGIN_MKT_PRICE_SCALE 1
/** Decimal places of quantities in this market, 0 to 18; default 8. Same restrictions. */
#define MARGIN_MKT_QTY_SCALE 2
/** Price tick, in price units (> 0); entry and trade prices must be multiples of it.
 *  Default 1 (the smallest price unit). */
#define MARGIN_MKT_TICK 3
/** Quantity step, in quantity units (> 0); quantities must be multiples of it. Default 1. */
#define MARGIN_MKT_STEP 4
/** Maximum leverage at #MARGIN_RATE_SCALE, at least 1x; default 125x. */
#define MARGIN_MKT_MAX_LEVERAGE 5
/** Maker fee rate at #MARGIN_RATE_SCALE, 0 to 1; default 0.0002. */
#define MARGIN_MKT_MAKER_FEE 6
/** Taker fee rate at #MARGIN_RATE_SCALE, 0 to 1; default 0.0004 (also charged by
 *  stop-loss and take-profit closes). */
#define MARGIN_MKT_TAKER_FEE 7
/** Maintenance-margin basis: #MARGIN_MM_BASIS_MARK (default) or #MARGIN_MM_BASIS_ENTRY.
 *  Settable only with no open positions. */
#define MARGIN_MKT_MM_BASIS 8
/** Fee rate to close counted in the maintenance margin (the spec's `f`), at
 *  #MARGIN_RATE_SCALE, >= 0 and such that every tier's rate plus it stays below 1 (else
 *  #MARGIN_EINVAL); default 0. Settable only with no open positions. */
#define MARGIN_MKT_CLOSE_FEE 9
/** Last mark price, in price units; 0 until the first mark update. Read-only. */
#define MARGIN_MKT_MARK 10
/** Number of maintenance tiers. Read-only. */
#define MARGIN_MKT_TIER_COUNT 11
/** Number of open positions in the market. Read-only. */
#define MARGIN_MKT_OPEN_POSITIONS 12
/** The largest price the market accepts, in price units: marks (margin_mark_update(),
 *  margin_funding_apply()), fill prices, stop-loss and take-profit prices above it are
 *  refused with #MARGIN_ERANGE. Every position is checked against it when it is opened or
 *  changed: its value, PnL, margin balance, maintenance margin and every fee and funding
 *  payment must fit at every mark from 1 to this price, or the operation fails with
 *  #MARGIN_EOVERFLOW and changes nothing. So a mark update never fails for arithmetic
 *  reasons inside one position (only a ledger total passing 92233720368.54775807 money
 *  can). Default 10^(price scale + 7), ten million in price units (INT64_MAX - 1 for price
 *  scales above 11), following the price scale until it is set. Settable at any time to a
 *  value > 0 and below INT64_MAX, at or above the last mark, such that every open position
 *  of the market still fits and no stop or take-profit lies above it (else
 *  #MARGIN_ESTATE, #MARGIN_ERANGE or #MARGIN_EOVERFLOW, and nothing changes).
 *  @since 0.2.0 */
#define MARGIN_MKT_MAX_PRICE 13
/** Clearance (liquidation) fee rate at #MARGIN_RATE_SCALE, 0 to 1; default 0 (Binance
 *  publishes it per symbol as `liquidationFee`, e.g. 0.0125 for BTCUSDT). Charged on the
 *  liquidated quantity times the price #MARGIN_MKT_LIQ_FEE_BASIS names, credited to the
 *  insurance fund, and never more than what the holder has left at the fill: an isolated
 *  holder still loses at most the position's margin, a cross holder at most the cross
 *  wallet. The liquidation price does not count it unless #MARGIN_MKT_CLOSE_FEE says so
 *  (set the two alike to have the liquidation price include it, as Binance's formula does
 *  with its fee to close). Settable at any time. @since 0.2.0 */
#define MARGIN_MKT_LIQ_FEE 14
/** The price that multiplies the liquidated quantity in the clearance fee:
 *  #MARGIN_LIQ_FEE_BASIS_FILL (default: the liquidation's fill price) or
 *  #MARGIN_LIQ_FEE_BASIS_MARK. @since 0.2.0 */
#define MARGIN_MKT_LIQ_FEE_BASIS 15
/** The price an isolated position's liquidation settles at: #MARGIN_LIQ_FILL_MARK
 *  (default), #MARGIN_LIQ_FILL_LIQ_PRICE or #MARGIN_LIQ_FILL_BANKRUPTCY (see each). A cross
 *  position always settles at the mark: its liquidation and bankruptcy prices depend on
 *  the rest of its book, and what a liquidated cross book owes past its wallet is the
 *  insurance fund's deficit (#MARGIN_EV_CROSS_LIQUIDATION). @since 0.2.0 */
#define MARGIN_MKT_LIQ_FILL 16
/** The price stop-losses and take-profits fill at: #MARGIN_STOP_FILL_MARK (default) or
 *  #MARGIN_STOP_FILL_TRIGGER. @since 0.2.0 */
#define MARGIN_MKT_STOP_FILL 17
/** How much of a liquidatable position is liquidated: #MARGIN_LIQ_POLICY_FULL (default),
 *  #MARGIN_LIQ_POLICY_MIN_REDUCE, #MARGIN_LIQ_POLICY_TIER_DOWN or #MARGIN_LIQ_POLICY_SLICES.
 *
 *  Cross books: when a cross book is liquidatable, its positions are taken in the order
 *  of #MARGIN_ENG_CROSS_LIQUIDATION (all in id order, or worst first while the book stays
 *  liquidatable), each by the policy of its own market, with the book's figures in place
 *  of the position's: min-reduce sells the smallest multiple of the step after which the
 *  book's margin balance (after the clearance fee) is above its maintenance margin (found
 *  by bisection on the book's exact figures; in full when selling all but one step does
 *  not restore it); tier-down reduces to the highest lower tier cap that restores the
 *  book; slices compare the book's margin balance with the backstop times the book's
 *  maintenance margin, and the cooldown is the account's. A partial step ends the
 *  liquidation of the book (min-reduce and tier-down sized it to restore the book; a
 *  slice is one per trigger); its PnL and clearance fee go to the cross wallet, and the
 *  position stays open, re-keyed with its book. Each leg fills at its market's mark.
 *  @since 0.2.0 */
#define MARGIN_MKT_LIQ_POLICY 18
/** #MARGIN_LIQ_POLICY_SLICES: the notional (money, at the mark) above which a liquidation
 *  takes one slice; default 100000. @since 0.2.0 */
#define MARGIN_MKT_SLICE_THRESHOLD 19
/** #MARGIN_LIQ_POLICY_SLICES: the fraction of the position one slice takes, at
 *  #MARGIN_RATE_SCALE, above 0 and below 1; default 0.2. @since 0.2.0 */
#define MARGIN_MKT_SLICE_FRACTION 20
/** #MARGIN_LIQ_POLICY_SLICES: for this long after a partial liquidation (in
 *  #MARGIN_ENG_TIME units, >= 0; default 30000, i.e. 30 s in milliseconds), a liquidation
 *  of a position of the same account closes it in full. @since 0.2.0 */
#define MARGIN_MKT_SLICE_COOLDOWN 21
/** #MARGIN_LIQ_POLICY_SLICES: the backstop: when the margin balance falls below this
 *  fraction of the maintenance margin (at #MARGIN_RATE_SCALE, 0 to 1; default 0.66666667),
 *  the position is liquidated in full. @since 0.2.0 */
#define MARGIN_MKT_SLICE_BACKSTOP 22
/** The market whose insurance pool this market uses: its own id (the default, one pool per
 *  market) or another market's id, whose pool it then shares (as Bybit groups symbols).
 *  Liquidation surpluses and deficits, clearance fees and auto-deleveraging of a position
 *  go to the pool of its market; a cross book's deficit to the pool of the market whose
 *  mark or funding liquidated it. A market joins another's pool, or returns to its own
 *  (its own id), only while the pool it leaves is not shared by another market and, for
 *  its own pool, holds 0; the pool it joins must be that market's own (no chains): else
 *  #MARGIN_ESTATE and nothing changes. @since 0.2.0 */
#define MARGIN_MKT_INSURANCE_POOL 23
/** Balance of the market's insurance pool, money (read-only: margin_insurance_deposit()
 *  seeds and tops it up). It may be below zero when #MARGIN_MKT_ADL is off, or when
 *  deleveraging could not cover a deficit (see #MARGIN_ADL_ON). @since 0.2.0 */
#define MARGIN_MKT_INSURANCE 24
/** Auto-deleveraging of the market's pool: #MARGIN_ADL_OFF (default) or #MARGIN_ADL_ON.
 *  An option of the pool: set or read through any market that uses it. Settable at any
 *  time. @since 0.2.0 */
#define MARGIN_MKT_ADL 25
/** The pool's floor, money, >= 0 (default 0): with #MARGIN_ADL_ON, the part of a
 *  liquidation's deficit that would take the pool below its floor is covered by
 *  auto-deleveraging. An option of the pool, like #MARGIN_MKT_ADL. @since 0.2.0 */
#define MARGIN_MKT_INSURANCE_FLOOR 26
/** How the market ranks positions for auto-deleveraging (#MARGIN_POS_ADL_SCORE):
 *  #MARGIN_ADL_RANK_BINANCE (default) or #MARGIN_ADL_RANK_BITMEX. @since 0.2.0 */
#define MARGIN_MKT_ADL_RANKING 27
/** The contract type: #MARGIN_CONTRACT_LINEAR (default: quantities in the base asset,
 *  money in the quote) or #MARGIN_CONTRACT_INVERSE (coin-margined: quantities in
 *  contracts of #MARGIN_MKT_CONTRACT_SIZE quote units, money in the coin). Every market
 *  of an engine has the same type: a new market takes the type of the engine's first
 *  market, and changing it fails with #MARGIN_EASSET while the engine has another market.
 *  Settable only before the market has had positions (#MARGIN_ESTATE). Cross mode works on
 *  inverse markets as on linear ones, in the coin. @since 0.2.0 */
#define MARGIN_MKT_CONTRACT 28
/** Quote units (USD) per contract of an inverse market, at #MARGIN_MONEY_SCALE, > 0;
 *  default 1 (BitMEX's XBTUSD: 1; Binance COIN-M BTCUSD: 100). Settable only before the
 *  market has had positions. Ignored by linear markets. @since 0.2.0 */
#define MARGIN_MKT_CONTRACT_SIZE 29
/** The market's settlement asset, a code of the caller's choosing (>= 0; default 0):
 *  money amounts in two assets are never added, so every market of an engine has the same
 *  code (a new market takes the first market's; a different one fails with
 *  #MARGIN_EASSET while the engine has another market). Give inverse markets the code of
 *  their coin: an engine holding BTC-settled markets refuses an ETH-settled one. Settable
 *  only before the market has had positions. @since 0.2.0 */
#define MARGIN_MKT_SETTLE_ASSET 30
/** The lowest mark the market accepts, price units, > 0 and below #MARGIN_MKT_MAX_PRICE:
 *  marks, candles and fills below it fail with #MARGIN_ERANGE, and a position must keep
 *  its figures in range down to it. Default: 1 price unit for a linear market, 0.01 quote
 *  units (or 1 price unit at price scales below 2) for an inverse one, whose value N/P
 *  grows without bound as the price falls. Settable when every open position stays in
 *  range (else the status of the first that would not, nothing changed). @since 0.2.0 */
#define MARGIN_MKT_MIN_PRICE 31
/** @} */

/** #MARGIN_MKT_CONTRACT: a linear (USDT-margined) contract, the default. @since 0.2.0 */
#define MARGIN_CONTRACT_LINEAR 0
/** #MARGIN_MKT_CONTRACT: an inverse (coin-margined) contract. Its formulas (N = contracts x
 *  contract size, s = +1 long, -1 short; docs/formulas.md): value N/P; PnL
 *  s*N*(1/E - 1/P), rounded down; initial margin N/(E*L) and fees r*N/P, rounded up;
 *  maintenance (N/P)*mmr - cum with tiers on the value N/P (mark basis), or (N/E)*mmr - cum
 *  (entry basis); funding s*(N/P)*rate; the entry after an increase is the harmonic mean
 *  (N1 + N2) / (N1/E1 + N2/E2) (long rounded up, short down); bankruptcy price
 *  N / (N/E + s*M); liquidation price N*(mmr + s) / (M + cum + s*N/E) (mark basis) or
 *  s*N / (M + s*N/E - MM) (entry basis), long rounded up, short down. A short whose margin
 *  covers N/E can lose no more than it: it has no bankruptcy or liquidation price, which
 *  reads as INT64_MAX. @since 0.2.0 */
#define MARGIN_CONTRACT_INVERSE 1

/** #MARGIN_MKT_ADL: the pool takes every deficit and may go below zero (the behaviour of
 *  0.1.0). @since 0.2.0 */
#define MARGIN_ADL_OFF 0
/** #MARGIN_MKT_ADL: when an isolated position's liquidation in full (at a mark update, a
 *  candle's point or a funding round, on the state the payments leave) leaves a deficit
 *  that would take its pool below the floor, that part of the deficit is covered by closing positions of the other side of the
 *  same market, isolated and cross, at the bankrupt position's bankruptcy price, without a
 *  fee, highest #MARGIN_POS_ADL_SCORE first (ties: the lower id), the last one in part
 *  (to the quantity step). Each pays the difference between its PnL at the mark and at the
 *  bankruptcy price into the pool (#MARGIN_EV_ADL), so the pool ends at its floor or above
 *  it. A cross book's deficit is covered the same way after the isolated outcomes: by the
 *  other side of its largest position liquidated in the market, at the book's bankruptcy
 *  price for that position (its other positions at their marks). Not deleveraged:
 *  positions that the same call closes or changes otherwise (triggered, or of a cross book
 *  it changes), and isolated positions that closing at the bankruptcy price would take
 *  past their own margin. The pool still takes what the other side cannot cover, and the
 *  deficit of a stop past the bankruptcy price (a partial step leaves margin: it has
 *  none). A cross
 *  book whose position was deleveraged is re-keyed; if that leaves it liquidatable, its
 *  next evaluation (the next mark of any of its markets) liquidates it. @since 0.2.0 */
#define MARGIN_ADL_ON 1
/** #MARGIN_MKT_ADL_RANKING: Binance's ranking (Binance USDⓈ-M, "Auto-Deleveraging"):
 *  `max(0, uPnL) / max(1, W) * MM / (W + uPnL)`, 0 when `W + uPnL <= 0`; uPnL and MM the
 *  position's at the mark, W its margin (isolated) or its account's cross wallet (cross),
 *  `1` one unit of money. @since 0.2.0 */
#define MARGIN_ADL_RANK_BINANCE 0
/** #MARGIN_MKT_ADL_RANKING: BitMEX's ranking (BitMEX, "Auto-Deleveraging"): with values
 *  signed (negative for shorts), `PnL% = (mark value - entry value) / |entry value|` and
 *  `effective leverage = |mark value| / (mark value - bankrupt value)`, the score is
 *  `PnL% * effective leverage` when `PnL% > 0`, else `PnL% / effective leverage`; 0 when
 *  the mark is at or past the bankruptcy price. @since 0.2.0 */
#define MARGIN_ADL_RANK_BITMEX 1

/** Clearance fee on the liquidation's fill price (#MARGIN_MKT_LIQ_FEE_BASIS). */
#define MARGIN_LIQ_FEE_BASIS_FILL 0
/** Clearance fee on the mark that triggered the liquidation. */
#define MARGIN_LIQ_FEE_BASIS_MARK 1

/** A liquidation settles at the mark (#MARGIN_MKT_LIQ_FILL): the holder loses the whole
 *  margin of what is liquidated; what is left of it at the mark, after the clearance fee,
 *  goes to the insurance fund, and a deficit past the bankruptcy price is taken from it.
 *  The default, and the behaviour of 0.1.0. */
#define MARGIN_LIQ_FILL_MARK 0
/** A liquidation fills at the position's liquidation price (the price at which the
 *  trigger was set, whatever the mark jumped to): the holder keeps what its margin is
 *  worth there, less the clearance fee; the fund receives the fee. The optimistic
 *  assumption of many backtesters, made explicit. */
#define MARGIN_LIQ_FILL_LIQ_PRICE 1
/** The insurance fund takes the position over at its bankruptcy price (Binance's and
 *  Bybit's last step): the holder loses exactly the margin of what is liquidated; the fund
 *  books the difference between the mark and the bankruptcy price (a surplus above it, a
 *  deficit past it). */
#define MARGIN_LIQ_FILL_BANKRUPTCY 2

/** Stop-losses and take-profits fill at the mark that reached them (#MARGIN_MKT_STOP_FILL;
 *  the default, and the behaviour of 0.1.0). */
#define MARGIN_STOP_FILL_MARK 0
/** Stop-losses and take-profits fill at their trigger price when the mark reaches it
 *  without a gap: a mark update, and each point of a candle after its open
 *  (margin_mark_candle()), is taken as a continuous move from the market's last mark, so a
 *  trigger between the last mark and the new one fills at the trigger price; at the mark
 *  when the last mark was already past it (or there was none), and at a candle's open,
 *  which is a jump. On a continuous move, a stop-loss the path reaches before the
 *  liquidation price (at or above it for a long, at or below for a short) closes the
 *  position at the stop even when the new mark is also past the liquidation price.
 *  Cross positions fill the same way; their book, judged as a whole at the new mark, is
 *  liquidated first when it is at or below its maintenance margin there. */
#define MARGIN_STOP_FILL_TRIGGER 1

/** Liquidate the whole position (#MARGIN_MKT_LIQ_POLICY; the default, and the behaviour of 0.1.0). */
#define MARGIN_LIQ_POLICY_FULL 0
/** Binance's first step: sell the smallest quantity, rounded up to the step, that leaves
 *  the margin balance above the maintenance margin after the realized loss and the
 *  clearance fee, `q = (Q*P*mmr - cum - Eq) / (P*(mmr - f_liq))`, the tier re-evaluated
 *  for what remains; in full when no partial sale helps (`f_liq >= mmr`, or the remainder
 *  would still be liquidatable). The margin the sale releases stays in the position. */
#define MARGIN_LIQ_POLICY_MIN_REDUCE 1
/** Bybit's and BitMEX's step-down: reduce the position to the cap (the next tier's floor)
 *  of the highest lower tier whose maintenance margin the equity after the clearance fee
 *  covers; in full from the lowest tier. The released margin stays in the position. */
#define MARGIN_LIQ_POLICY_TIER_DOWN 2
/** Hyperliquid's slices: a position whose notional at the mark is above
 *  #MARGIN_MKT_SLICE_THRESHOLD loses #MARGIN_MKT_SLICE_FRACTION of its quantity (rounded up
 *  to the step) per trigger; in full below the threshold, below the backstop
 *  (#MARGIN_MKT_SLICE_BACKSTOP), or within #MARGIN_MKT_SLICE_COOLDOWN of the account's last
 *  partial liquidation. The released margin stays in the position. */
#define MARGIN_LIQ_POLICY_SLICES 3

/** Maintenance margin evaluated at the liquidation price (Binance, OKX, dYdX, Hyperliquid). */
#define MARGIN_MM_BASIS_MARK 0
/** Maintenance margin fixed at the entry value (Bybit classic, BitMEX). */
#define MARGIN_MM_BASIS_ENTRY 1

/** Pass as the maintenance amount to margin_market_add_tier() to derive it by the
 *  recurrence `cum_k = floor_k * (mmr_k - mmr_(k-1)) + cum_(k-1)`. */
#define MARGIN_DERIVE INT64_MIN

/**
 * @brief Create a market with default options and one maintenance tier (floor 0, rate
 *        0.004, amount 0, the market's maximum leverage).
 * @param[in,out] e      The engine.
 * @param[in]     symbol Symbol such as `"BTCUSDT"`: 1 to 31 printable ASCII characters,
 *                       copied; unique in the engine.
 * @param[out]    out_id The market's id.
 * @retval #MARGIN_OK     Created.
 * @retval #MARGIN_EINVAL @p e, @p symbol or @p out_id is NULL, or the symbol is empty, too
 *                        long or not printable.
 * @retval #MARGIN_EEXIST A market with that symbol exists.
 * @retval #MARGIN_ENOMEM Out of memory.
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_market_new(margin_engine *e, const char *symbol, uint64_t *out_id);

/**
 * @brief Find a market by symbol.
 * @param[in]  e      The engine.
 * @param[in]  symbol The symbol, NUL-terminated.
 * @param[out] out_id The market's id.
 * @retval #MARGIN_OK       Found.
 * @retval #MARGIN_EINVAL   A pointer is NULL.
 * @retval #MARGIN_ENOTFOUND No market has that symbol.
 * @since 0.1.0
 */
MARGIN_API int margin_market_find(const margin_engine *e, const char *symbol, uint64_t *out_id);

/**
 * @brief The symbol of a market.
 * @param[in]  e      The engine.
 * @param[in]  market The market's id.
 * @param[out] buf    Receives the NUL-terminated symbol; 32 bytes always suffice.
 * @param[in]  size   Size of @p buf in bytes.
 * @retval #MARGIN_OK       Written.
 * @retval #MARGIN_EINVAL   @p e or @p buf is NULL.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_EBUFFER  @p size is too small (nothing written).
 * @since 0.1.0
 */
MARGIN_API int margin_market_symbol(const margin_engine *e, uint64_t market, char *buf,
                                    size_t size);

/**
 * @brief Set a market option (`MARGIN_MKT_*`).
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @param[in]     key    A settable `MARGIN_MKT_*` key.
 * @param[in]     value  The value, in the unit the key documents.
 * @retval #MARGIN_OK       Set.
 * @retval #MARGIN_EINVAL   @p e is NULL, @p key is unknown or read-only, or @p value is out
 *                          of range for the key.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ESTATE   The key cannot change now (open positions, or tiers added, or a
 *                          maximum price below the last mark), or called from inside the
 *                          event callback (nothing changes).
 * @retval #MARGIN_ELEVERAGE A new maximum leverage is below an open position's leverage.
 * @retval #MARGIN_ERANGE   A new #MARGIN_MKT_MAX_PRICE is below an open position's stop or
 *                          take-profit.
 * @retval #MARGIN_EOVERFLOW A new #MARGIN_MKT_MAX_PRICE is too large for an open position.
 * @since 0.1.0
 */
MARGIN_API int margin_market_set(margin_engine *e, uint64_t market, int32_t key, int64_t value);

/**
 * @brief Read a market option or figure (`MARGIN_MKT_*`).
 * @param[in]  e      The engine.
 * @param[in]  market The market's id.
 * @param[in]  key    Any `MARGIN_MKT_*` key.
 * @param[out] out    The value.
 * @retval #MARGIN_OK       Read.
 * @retval #MARGIN_EINVAL   A pointer is NULL or @p key is unknown.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @since 0.1.0
 */
MARGIN_API int margin_market_get(const margin_engine *e, uint64_t market, int32_t key,
                                 int64_t *out);

/**
 * @brief Replace or extend the maintenance tiers.
 *
 * The first call on a market replaces its default tier; later calls append. Tiers must be
 * added in increasing order of floor, the first floor being 0. A tier's maintenance amount
 * (`cum`) is derived by the recurrence when #MARGIN_DERIVE is passed, or taken as given. A
 * given amount above `floor * mmr` (a tier table cut down to one bracket, as the venues'
 * calculators do) makes `Q*P*mmr - cum` negative for notionals below `cum / mmr`: there the
 * maintenance margin is 0 and the liquidation price is the bankruptcy price.
 * Allowed only while the market has no open positions.
 *
 * @param[in,out] e            The engine.
 * @param[in]     market       The market's id.
 * @param[in]     floor        Lowest notional of the tier, money, >= 0.
 * @param[in]     mmr          Maintenance margin rate, #MARGIN_RATE_SCALE, > 0 and < 1, not
 *                             below the previous tier's.
 * @param[in]     max_leverage Largest leverage allowed in this tier, #MARGIN_RATE_SCALE,
 *                             >= 1x; 0 means the market's maximum.
 * @param[in]     maint_amount Maintenance amount, money, or #MARGIN_DERIVE.
 * @retval #MARGIN_OK       Added.
 * @retval #MARGIN_EINVAL   @p e is NULL or a value is out of range or out of order.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ESTATE   The market has open positions, or already has 32 tiers, or
 *                          called from inside the event callback (nothing changes).
 * @retval #MARGIN_EOVERFLOW The derived amount does not fit.
 * @since 0.1.0
 */
MARGIN_API int margin_market_add_tier(margin_engine *e, uint64_t market, int64_t floor,
                                      int64_t mmr, int64_t max_leverage, int64_t maint_amount);

/**
 * @brief Read tier @p index (0-based) of a market.
 * @param[in]  e                The engine.
 * @param[in]  market           The market's id.
 * @param[in]  index            0 to #MARGIN_MKT_TIER_COUNT - 1.
 * @param[out] out_floor        Floor notional, money.
 * @param[out] out_mmr          Maintenance rate, #MARGIN_RATE_SCALE.
 * @param[out] out_max_leverage Maximum leverage, #MARGIN_RATE_SCALE.
 * @param[out] out_maint_amount Maintenance amount, money.
 * @retval #MARGIN_OK       Read.
 * @retval #MARGIN_EINVAL   A pointer is NULL or @p index is out of range.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @since 0.1.0
 */
MARGIN_API int margin_market_tier(const margin_engine *e, uint64_t market, uint32_t index,
                                  int64_t *out_floor, int64_t *out_mmr,
                                  int64_t *out_max_leverage, int64_t *out_maint_amount);

/**
 * @brief The maintenance rate and amount of the tier whose range `[floor, next floor)` holds
 *        @p notional.
 * @param[in]  e                The engine.
 * @param[in]  market           The market's id.
 * @param[in]  notional         Notional, money, >= 0.
 * @param[out] out_mmr          Maintenance rate, #MARGIN_RATE_SCALE.
 * @param[out] out_maint_amount Maintenance amount, money.
 * @retval #MARGIN_OK       Found.
 * @retval #MARGIN_EINVAL   A pointer is NULL or @p notional is negative.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @since 0.1.0
 */
MARGIN_API int margin_market_tier_for(const margin_engine *e, uint64_t market, int64_t notional,
                                      int64_t *out_mmr, int64_t *out_maint_amount);

/**
 * @brief Put money into the insurance pool of a market (seed or top up).
 *
 * The pool is the one the market uses (#MARGIN_MKT_INSURANCE_POOL). The money comes from
 * outside the accounts (the venue's own), and is counted in #MARGIN_ENG_INSURANCE_DEPOSITS.
 * Produces a #MARGIN_EV_INSURANCE_DEPOSIT event.
 *
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @param[in]     amount Money, > 0.
 * @retval #MARGIN_OK        Added.
 * @retval #MARGIN_EINVAL    @p e is NULL or @p amount <= 0.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_EOVERFLOW The pool, the fund or the deposits total would not fit.
 * @retval #MARGIN_EFULL     The event queue is at its cap (#MARGIN_ENG_EVENT_CAP).
 * @retval #MARGIN_ENOMEM    Out of memory for the event.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * On any error nothing changes. Not thread-safe on one engine.
 * @since 0.2.0
 */
MARGIN_API int margin_insurance_deposit(margin_engine *e, uint64_t market, int64_t amount);

/**
 * @brief Compute the ADL quantile of every open position of a market at once.
 *
 * Each side is ranked on its own by #MARGIN_POS_ADL_SCORE at the market's last mark
 * (highest first, ties by the lower id); a position at rank `r` (0 the first) of `n` gets
 * the quantile `4 - floor(5 * r / n)`, so the top fifth reads 4 and the bottom fifth 0,
 * except that a position whose score is <= 0 reads 0. Stored on each position
 * (#MARGIN_POS_ADL_QUANTILE) until the next call: the venues refresh these every few
 * seconds, not on every mark. O(n log n) for n open positions of the market.
 *
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @retval #MARGIN_OK        Computed.
 * @retval #MARGIN_EINVAL    @p e is NULL.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ENOMEM    Out of memory; nothing changed.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * Not thread-safe on one engine.
 * @since 0.2.0
 */
MARGIN_API int margin_market_adl_quantiles(margin_engine *e, uint64_t market);

/** @} */

/**
 * @defgroup account Accounts
 * A wallet holding a free balance from which positions draw their isolated margin.
 * @{
 */

/** @name Account query keys (margin_account_get())
 * @{ */
#define MARGIN_ACCT_FREE_BALANCE 1    /**< Free balance (withdrawable), money. */
#define MARGIN_ACCT_ISOLATED_MARGIN 2 /**< Sum of the isolated margins of open positions, money. */
#define MARGIN_ACCT_EQUITY 3          /**< Free balance + isolated margins + unrealized PnL at each market's last mark (entry if none), money, rounded down. */
#define MARGIN_ACCT_DEPOSITS 4        /**< Total deposited, money. */
#define MARGIN_ACCT_WITHDRAWALS 5     /**< Total withdrawn, money. */
#define MARGIN_ACCT_REALIZED_PNL 6    /**< Realized PnL of all positions (liquidation losses included), money. */
#define MARGIN_ACCT_FEES 7            /**< Fees paid, money. */
#define MARGIN_ACCT_FUNDING 8         /**< Net funding received (negative: paid), money. */
#define MARGIN_ACCT_OPEN_POSITIONS 9  /**< Number of open positions. */
/** Cross wallet balance WB: the free balance, which backs every cross position (their
 *  margins are part of it, not taken out of it), money. It can be below zero while the
 *  unrealized profit of other cross positions covers a realized loss or funding; a
 *  liquidation brings it back to at least 0. @since 0.2.0 */
#define MARGIN_ACCT_CROSS_WALLET 10
/** Cross unrealized PnL: sum over the cross positions at their markets' last marks (entry
 *  when a market has none), each rounded down, money. @since 0.2.0 */
#define MARGIN_ACCT_CROSS_UNREALIZED_PNL 11
/** Cross margin balance: cross wallet + cross unrealized PnL, money. @since 0.2.0 */
#define MARGIN_ACCT_CROSS_MARGIN_BALANCE 12
/** Cross maintenance margin: sum over the cross positions at their markets' last marks,
 *  each on its own notional at its own tier (hedge legs are charged gross), each rounded
 *  up, money. Mark basis: `max(0, Q*P*(mmr + f) - cum)`; entry basis
 *  `max(0, Q*E*mmr - cum) + f*Q*P`, with f the market's fee to close. @since 0.2.0 */
#define MARGIN_ACCT_CROSS_MAINT_MARGIN 13
/** Cross initial margin: sum of `Q*E/L` over the cross positions, each rounded up, money.
 *  @since 0.2.0 */
#define MARGIN_ACCT_CROSS_INITIAL_MARGIN 14
/** Account margin ratio: cross maintenance margin / cross margin balance,
 *  #MARGIN_RATE_SCALE, rounded up; INT64_MAX when the balance is <= 0 (or the ratio does
 *  not fit); 0 with no cross position. The account is liquidated when it reaches 1.
 *  @since 0.2.0 */
#define MARGIN_ACCT_MARGIN_RATIO 15
/** Available balance: what can be withdrawn, or moved into an isolated position (margin and
 *  fee), or used by a new cross position (its initial margin and fee), money, >= 0. With
 *  no cross position it is the free balance; otherwise
 *  `max(0, min(WB + min(0, uPnL) - IM, WB + uPnL - MM - 1 unit))` (cross figures): the
 *  cross initial margins stay reserved, unrealized profit is not withdrawable, and the
 *  cross book stays above its maintenance margin. @since 0.2.0 */
#define MARGIN_ACCT_AVAILABLE 16
/** Number of open cross positions. @since 0.2.0 */
#define MARGIN_ACCT_CROSS_POSITIONS 17
/** @} */

/**
 * @brief Create an account with a zero balance.
 * @param[in,out] e      The engine.
 * @param[out]    out_id The account's id.
 * @retval #MARGIN_OK     Created.
 * @retval #MARGIN_EINVAL A pointer is NULL.
 * @retval #MARGIN_ENOMEM Out of memory.
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_account_new(margin_engine *e, uint64_t *out_id);

/**
 * @brief Credit the free balance.
 * @param[in,out] e       The engine.
 * @param[in]     account The account's id.
 * @param[in]     amount  Money, > 0.
 * @retval #MARGIN_OK        Deposited (a #MARGIN_EV_DEPOSIT event is produced).
 * @retval #MARGIN_EINVAL    @p e is NULL or @p amount <= 0.
 * @retval #MARGIN_ENOTFOUND No account has that id.
 * @retval #MARGIN_EOVERFLOW The balance would overflow.
 * @retval #MARGIN_ENOMEM    Out of memory (event queue).
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_account_deposit(margin_engine *e, uint64_t account, int64_t amount);

/**
 * @brief Debit the free balance (isolated margins cannot be withdrawn).
 * @param[in,out] e       The engine.
 * @param[in]     account The account's id.
 * @param[in]     amount  Money, > 0, at most the free balance.
 * @retval #MARGIN_OK       Withdrawn (a #MARGIN_EV_WITHDRAW event is produced).
 * @retval #MARGIN_EINVAL   @p e is NULL or @p amount <= 0.
 * @retval #MARGIN_ENOTFOUND No account has that id.
 * @retval #MARGIN_EFUNDS   @p amount exceeds the free balance, or (with cross positions)
 *                         the available balance #MARGIN_ACCT_AVAILABLE.
 * @retval #MARGIN_ENOMEM   Out of memory (event queue).
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_account_withdraw(margin_engine *e, uint64_t account, int64_t amount);

/**
 * @brief Read an account figure (`MARGIN_ACCT_*`).
 * @param[in]  e       The engine.
 * @param[in]  account The account's id.
 * @param[in]  key     A `MARGIN_ACCT_*` key.
 * @param[out] out     The value.
 * @retval #MARGIN_OK        Read.
 * @retval #MARGIN_EINVAL    A pointer is NULL or @p key is unknown.
 * @retval #MARGIN_ENOTFOUND No account has that id.
 * @retval #MARGIN_EOVERFLOW The figure does not fit in 64 bits (the equity, or a cross sum:
 *                           unrealized PnL, margin balance, maintenance or initial margin,
 *                           available balance).
 * @since 0.1.0
 */
MARGIN_API int margin_account_get(const margin_engine *e, uint64_t account, int32_t key,
                                  int64_t *out);

/**
 * @brief Set an account's margin mode in a market (#MARGIN_MODE_ISOLATED, the default, or
 *        #MARGIN_MODE_CROSS).
 *
 * Cross mode (Binance USD-M semantics): the account's free balance is the cross wallet WB
 * and backs every cross position. The account is liquidated when its cross margin balance
 * (WB + cross unrealized PnL) is at or below its cross maintenance margin, by the policy of
 * #MARGIN_ENG_CROSS_LIQUIDATION; it loses at most its cross wallet (a deficit goes to the
 * insurance fund and the wallet is left at 0). Isolated positions and their margins are
 * never touched by a cross liquidation, and an isolated loss never reaches the cross
 * wallet. Taking money out of the free balance (a withdrawal, an isolated open, margin
 * added to an isolated position, a lower isolated leverage) is limited to
 * #MARGIN_ACCT_AVAILABLE. Margin calls are per account (margin_engine_set_margin_call_levels()
 * levels on #MARGIN_ACCT_MARGIN_RATIO, position 0). A mark update visits a cross account
 * only when the mark leaves a price band that cannot change the account's state
 * (docs/design.md).
 *
 * @param[in,out] e       The engine.
 * @param[in]     account The account's id.
 * @param[in]     market  The market's id.
 * @param[in]     mode    #MARGIN_MODE_ISOLATED or #MARGIN_MODE_CROSS.
 * @retval #MARGIN_OK        Set (setting the mode already in force is a no-op).
 * @retval #MARGIN_EINVAL    @p e is NULL or @p mode is unknown.
 * @retval #MARGIN_ENOTFOUND No account or market has that id.
 * @retval #MARGIN_ESTATE    The account has an open position in the market (close it
 *                           first), or called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.2.0
 */
MARGIN_API int margin_account_set_mode(margin_engine *e, uint64_t account, uint64_t market,
                                       int32_t mode);

/**
 * @brief Read an account's margin mode in a market.
 * @param[in]  e        The engine.
 * @param[in]  account  The account's id.
 * @param[in]  market   The market's id.
 * @param[out] out_mode #MARGIN_MODE_ISOLATED or #MARGIN_MODE_CROSS.
 * @retval #MARGIN_OK        Read.
 * @retval #MARGIN_EINVAL    A pointer is NULL.
 * @retval #MARGIN_ENOTFOUND No account or market has that id.
 * @since 0.2.0
 */
MARGIN_API int margin_account_mode(const margin_engine *e, uint64_t account, uint64_t market,
                                   int32_t *out_mode);

/** @} */

/**
 * @defgroup position Positions
 * Isolated positions: open, trade, close, margin and leverage changes, stops, queries.
 * @{
 */

#define MARGIN_LONG 1   /**< Side: long (s = +1). */
#define MARGIN_SHORT (-1) /**< Side: short (s = -1). */

/** Flag for opening and trading: charge the maker fee instead of the taker fee. */
#define MARGIN_FLAG_MAKER 1u
/** Flag for opening: the position is a cross position. It must agree with the account's
 *  mode in the market (margin_account_set_mode()): given in an isolated market, or missing
 *  in a cross market, the open fails with #MARGIN_ESTATE, so a caller never gets the other
 *  mode by mistake. */
#define MARGIN_FLAG_CROSS 2u

/** Margin mode of an account in a market (margin_account_set_mode()): isolated, the
 *  default. Each position has its own margin, and only that margin is at risk.
 *  @since 0.2.0 */
#define MARGIN_MODE_ISOLATED 0
/** Margin mode: cross. The account's free balance (the cross wallet) backs all its cross
 *  positions, in every market where the account is in cross mode. @since 0.2.0 */
#define MARGIN_MODE_CROSS 1

/** Position status (#MARGIN_POS_STATUS): open. */
#define MARGIN_STATUS_OPEN 0
/** Position status: closed by the holder, a stop-loss or a take-profit. */
#define MARGIN_STATUS_CLOSED 1
/** Position status: liquidated (irreversible). */
#define MARGIN_STATUS_LIQUIDATED 2
/** Position status: closed by auto-deleveraging against a bankrupt position
 *  (#MARGIN_EV_ADL). @since 0.2.0 */
#define MARGIN_STATUS_DELEVERAGED 3
/** Status filter of the listing functions (margin_positions()): every status.
 *  @since 0.2.0 */
#define MARGIN_STATUS_ANY (-1)

/** @name Position keys: stored figures (margin_position_get())
 * @{ */
#define MARGIN_POS_ACCOUNT 1      /**< Owning account's id. */
#define MARGIN_POS_MARKET 2       /**< Market's id. */
#define MARGIN_POS_SIDE 3         /**< #MARGIN_LONG or #MARGIN_SHORT. */
#define MARGIN_POS_QTY 4          /**< Size, quantity units (0 once closed). */
#define MARGIN_POS_ENTRY_PRICE 5  /**< Average entry price, price units, rounded against the holder (long up, short down) when averaging. */
#define MARGIN_POS_MARGIN 6       /**< Isolated margin M, money (0 once closed). */
#define MARGIN_POS_LEVERAGE 7     /**< Leverage, #MARGIN_RATE_SCALE. */
#define MARGIN_POS_STATUS 8       /**< A `MARGIN_STATUS_*` value. */
#define MARGIN_POS_REALIZED_PNL 9 /**< Realized PnL so far, money. */
#define MARGIN_POS_FEES 10        /**< Fees paid so far, money. */
#define MARGIN_POS_FUNDING 11     /**< Net funding so far (negative: paid), money. */
#define MARGIN_POS_STOP_LOSS 12   /**< Stop-loss trigger price, price units, 0 if none. */
#define MARGIN_POS_TAKE_PROFIT 13 /**< Take-profit trigger price, price units, 0 if none. */
#define MARGIN_POS_LIQ_PRICE 14   /**< Liquidation price in force (the trigger), price units, 0 if none. For a cross position, the cross liquidation price at the other markets' last marks (as #MARGIN_AT_LIQ_PRICE). */
#define MARGIN_POS_MODE 15        /**< #MARGIN_MODE_ISOLATED or #MARGIN_MODE_CROSS. @since 0.2.0 */
/** The position's raw auto-deleveraging score at its market's last mark (the entry before
 *  any), by the market's #MARGIN_MKT_ADL_RANKING, at #MARGIN_RATE_SCALE: the product of two
 *  ratios (see the ranking), the first rounded down to the rate scale, then the product
 *  rounded down; a magnitude past INT64_MAX saturates. Higher scores are deleveraged first; 0 for a
 *  position that is not open. @since 0.2.0 */
#define MARGIN_POS_ADL_SCORE 16
/** The position's ADL quantile, 0 to 4 (4: the first to be deleveraged; the venues' five
 *  lights), as the last margin_market_adl_quantiles() of its market set it (0 before any,
 *  and once closed). @since 0.2.0 */
#define MARGIN_POS_ADL_QUANTILE 17
/** @} */

/** @name Position keys: figures at a mark price (margin_position_at())
 * For a cross position the figures that depend on the margin are the account's, with this
 * position's market at P and every other market at its last mark (entry when it has none):
 * #MARGIN_AT_MARGIN_BALANCE is the cross margin balance, #MARGIN_AT_MARGIN_RATIO the
 * account margin ratio, #MARGIN_AT_MAINT_MARGIN this position's own share (mark basis as
 * for isolated; entry basis `max(0, Q*E*mmr - cum) + f*Q*P`), #MARGIN_AT_REMOVABLE_MARGIN 0.
 * #MARGIN_AT_LIQ_PRICE is the cross liquidation price (Binance: `WB - TMM_o + UPNL_o` in
 * place of the margin, with the account's cross legs in this market, long and short,
 * solved together through their tiers, so hedge legs share one price); it is searched
 * below the mark when the legs are net long, above otherwise, and moves whenever another
 * market's mark, the wallet or the account's other positions change.
 * #MARGIN_AT_BANKRUPTCY_PRICE is the price where the cross margin balance reaches 0 and
 * #MARGIN_AT_MARGIN_CALL_PRICE where the account ratio reaches the lowest level, the same
 * way. These three are independent of P.
 * On an inverse market (#MARGIN_CONTRACT_INVERSE) every amount is in the coin and the
 * linear forms below read with the value N/P for Q*P and N/E for Q*E (N = contracts x
 * contract size): the PnL is `s*N*(1/E - 1/P)`, the initial margin `N/(E*L)`, the
 * bankruptcy price `N/(N/E + s*M)`, the liquidation price `N*(mmr + f + s)/(M + cum + s*N/E)`
 * (mark basis) or `s*N/(M + s*N/E - MM)` (entry basis), with the same rounding
 * (#MARGIN_CONTRACT_INVERSE; docs/formulas.md, section 15).
 * @{ */
#define MARGIN_AT_NOTIONAL 101         /**< Position value Q*P, money, rounded up. */
#define MARGIN_AT_UNREALIZED_PNL 102   /**< s*Q*(P-E), money, rounded down. */
#define MARGIN_AT_MARGIN_BALANCE 103   /**< M + unrealized PnL, money, rounded down. */
#define MARGIN_AT_MAINT_MARGIN 104     /**< Maintenance margin (tier at Q*P, or at entry for the entry basis, plus the fee to close), money, rounded up, never negative: mark basis `max(0, Q*P*(mmr + f) - cum)`; entry basis `max(0, Q*E*mmr - cum + f*max(0, Q*BP))` (no fee to close at a bankruptcy price at or below zero). A tier whose maintenance amount was given above `floor * mmr` has a zero maintenance margin below `cum / mmr`, and there the liquidation price is the bankruptcy price. */
#define MARGIN_AT_MAINT_RATE 105       /**< Maintenance rate of that tier, #MARGIN_RATE_SCALE. */
#define MARGIN_AT_MAINT_AMOUNT 106     /**< Maintenance amount of that tier, money. */
#define MARGIN_AT_MARGIN_RATIO 107     /**< Maintenance margin / margin balance, #MARGIN_RATE_SCALE, rounded up; INT64_MAX when the balance is <= 0. */
#define MARGIN_AT_LIQ_PRICE 108        /**< Liquidation price, price units, long rounded up, short down; 0 when none (a long that cannot be liquidated). Independent of P. */
#define MARGIN_AT_BANKRUPTCY_PRICE 109 /**< E - s*M/Q, price units, long rounded up, short down; 0 for a long when <= 0 (a short's always fits: a position whose bankruptcy price would not is refused). Independent of P. */
#define MARGIN_AT_INITIAL_MARGIN 110   /**< Q*E/L, money, rounded up. Independent of P. */
#define MARGIN_AT_ROE 111              /**< Unrealized PnL / initial margin, #MARGIN_RATE_SCALE, rounded down. */
#define MARGIN_AT_REMOVABLE_MARGIN 112 /**< max(0, min(M - M', M + uPnL - Q*P/L)), money, rounded down, never more than M minus one unit (an open position keeps a margin; this binds only where the maintenance margin is 0). M' is the smallest margin that covers its own maintenance margin: MM, except at the entry basis with a fee to close, where MM itself shrinks as the margin grows (`M' = (Q*E*mmr - cum + f*Q*E) / (1 + s*f)`, rounded up). */
#define MARGIN_AT_MARGIN_CALL_PRICE 113 /**< Price at which the lowest margin-call level is crossed (see margin_engine_set_margin_call_levels()), price units, long rounded up, short down; 0 when no levels are set or a long cannot reach it. Independent of P. @since 0.1.0 */
/** @} */

/**
 * @brief Open an isolated or a cross position.
 *
 * Isolated (the account's mode in the market, without #MARGIN_FLAG_CROSS): the margin `M` is
 * @p margin when given, else the initial margin `Q*E/L` rounded up. When
 * both are given, @p margin must be at least `Q*E/L` (the excess is extra margin). When only
 * @p margin is given, the leverage is `Q*E/M` rounded up. `M` moves from the free balance
 * into the position and the opening fee (`rate * Q*E`, rounded up; taker rate unless
 * #MARGIN_FLAG_MAKER) is charged to the free balance. The leverage must not exceed the
 * market's maximum nor that of the tier holding the entry notional. When the account holds
 * cross positions, margin plus fee must not exceed #MARGIN_ACCT_AVAILABLE.
 *
 * Cross (#MARGIN_FLAG_CROSS, in a market where the account is in #MARGIN_MODE_CROSS): @p
 * leverage is required and @p margin must be 0; nothing moves out of the wallet (the
 * position's #MARGIN_POS_MARGIN is 0): its initial margin `Q*E/L` is reserved in the
 * available balance, which after the open (fee paid, the new position at the market's mark)
 * must still be >= 0, else #MARGIN_EFUNDS. An account may hold several cross positions in
 * one market, long and short (hedge legs), each charged maintenance on its own notional.
 *
 * @param[in,out] e        The engine.
 * @param[in]     account  The account's id.
 * @param[in]     market   The market's id.
 * @param[in]     side     #MARGIN_LONG or #MARGIN_SHORT.
 * @param[in]     qty      Size, quantity units, > 0, on the step grid.
 * @param[in]     price    Entry (fill) price, price units, > 0, on the tick grid.
 * @param[in]     leverage Leverage at #MARGIN_RATE_SCALE (>= 1x), or 0 to derive it from
 *                         @p margin.
 * @param[in]     margin   Isolated margin, money, or 0 to derive it from @p leverage.
 * @param[in]     flags    0, #MARGIN_FLAG_MAKER, #MARGIN_FLAG_CROSS or both.
 * @param[out]    out_id   The new position's id.
 * @retval #MARGIN_OK        Opened (a #MARGIN_EV_OPEN event is produced).
 * @retval #MARGIN_EINVAL    A pointer is NULL, @p side or @p flags is unknown, a value is
 *                           <= 0, or both @p leverage and @p margin are 0.
 * @retval #MARGIN_ENOTFOUND No account or market has that id.
 * @retval #MARGIN_EGRID     @p price or @p qty is off the grid.
 * @retval #MARGIN_ELEVERAGE The leverage is below 1x or above the limit.
 * @retval #MARGIN_EMARGIN   @p margin is below `Q*E/L`, or the position would be
 *                           liquidatable at once at the market's mark.
 * @retval #MARGIN_EFUNDS    The free balance (or the available balance, see above) does
 *                           not cover margin plus fee.
 * @retval #MARGIN_ESTATE    #MARGIN_FLAG_CROSS disagrees with the account's mode in the
 *                           market, or called from inside the event callback.
 * @retval #MARGIN_ERANGE    @p price is above the market's #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_EOVERFLOW An amount does not fit, or the position's figures would not fit
 *                           at some mark up to #MARGIN_MKT_MAX_PRICE (the message names it).
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_open(margin_engine *e, uint64_t account, uint64_t market,
                                    int32_t side, int64_t qty, int64_t price, int64_t leverage,
                                    int64_t margin, uint32_t flags, uint64_t *out_id);

/**
 * @brief Trade on an open position: buy or sell @p qty at @p price.
 *
 * - Same side: increase. The entry becomes the quantity-weighted average (rounded against
 *   the holder); margin `q*price/L` (rounded up) moves from the free balance; fee charged.
 * - Opposite side, `q < Q`: reduce. Realized PnL `s*q*(price-E)` (rounded down) and margin
 *   `M*q/Q` (rounded down) are released to the free balance; fee charged. A loss larger than
 *   the released margin is taken from the remaining margin; a loss larger than the whole
 *   margin is charged to the insurance fund, leaving a margin of 0 that the next mark
 *   update liquidates.
 * - Opposite side, `q == Q`: close (as margin_position_close()).
 * - Opposite side, `q > Q`: flip. The position closes and reopens on the other side with
 *   `q - Q` at @p price and the same leverage, keeping its id (its realized PnL, fees and
 *   funding totals carry over). The closing and reopening fees are each rounded up.
 *
 * A close never takes more than the position's margin from the holder: a loss beyond it is
 * charged to the insurance fund. Fees are charged to the free balance.
 *
 * A cross position has no margin of its own: PnL is realized into the cross wallet (which
 * may go below zero while other cross positions' unrealized profit backs it; when the
 * account's last cross position closes, a wallet below zero is brought back to 0 by the
 * insurance fund), fees come from the wallet, and an increase or a flip needs the
 * available balance to stay >= 0 after it (#MARGIN_EFUNDS). A reduction or close at a
 * fill price that leaves the cross book at or below its maintenance margin is allowed:
 * the next mark update of any of the account's cross markets liquidates it.
 *
 * @param[in,out] e        The engine.
 * @param[in]     position The position's id.
 * @param[in]     side     #MARGIN_LONG (buy) or #MARGIN_SHORT (sell).
 * @param[in]     qty      Quantity traded, > 0, on the step grid.
 * @param[in]     price    Fill price, > 0, on the tick grid.
 * @param[in]     flags    0 or #MARGIN_FLAG_MAKER.
 * @retval #MARGIN_OK        Traded (an increase, reduce, close or open event is produced).
 * @retval #MARGIN_EINVAL    @p e is NULL, @p side or @p flags is unknown, or a value <= 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   The position is closed or liquidated.
 * @retval #MARGIN_EGRID     Off the grid.
 * @retval #MARGIN_EFUNDS    The free balance does not cover the margin or fee.
 * @retval #MARGIN_ELEVERAGE The new notional's tier does not allow the position's leverage.
 * @retval #MARGIN_ERANGE    @p price is above the market's #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_EOVERFLOW An amount does not fit, or the new position's figures would not
 *                           fit at some mark up to #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_trade(margin_engine *e, uint64_t position, int32_t side,
                                     int64_t qty, int64_t price, uint32_t flags);

/**
 * @brief Close a position in full at @p price.
 *
 * Realized PnL `s*Q*(price-E)` is rounded down; the margin plus that PnL (at least 0) goes
 * back to the free balance, and the closing fee (rounded up) is charged to the free balance
 * together with what the close returns. A close never fails for its fee: the part of the
 * fee that the free balance plus the returned amount cannot pay is waived. A loss beyond
 * the margin is charged to the insurance fund, so the holder never loses more than it.
 *
 * @param[in,out] e        The engine.
 * @param[in]     position The position's id.
 * @param[in]     price    Fill price, > 0, on the tick grid.
 * @param[in]     flags    0 or #MARGIN_FLAG_MAKER.
 * @retval #MARGIN_OK        Closed (a #MARGIN_EV_CLOSE event is produced).
 * @retval #MARGIN_EINVAL    @p e is NULL, @p flags unknown or @p price <= 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   Already closed or liquidated.
 * @retval #MARGIN_EGRID     Off the grid.
 * @retval #MARGIN_ERANGE    @p price is above the market's #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_EOVERFLOW An amount does not fit.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_close(margin_engine *e, uint64_t position, int64_t price,
                                     uint32_t flags);

/**
 * @brief Move @p amount from the free balance into the position's margin. The
 *        liquidation price moves away from the mark.
 * @param[in,out] e        The engine.
 * @param[in]     position The position's id.
 * @param[in]     amount   Money, > 0.
 * @retval #MARGIN_OK        Added (#MARGIN_EV_MARGIN_ADD).
 * @retval #MARGIN_EINVAL    @p e is NULL or @p amount <= 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   Closed or liquidated.
 * @retval #MARGIN_EFUNDS    The free balance is short, or (when the account holds cross
 *                           positions) the available balance #MARGIN_ACCT_AVAILABLE.
 * @retval #MARGIN_EOVERFLOW An amount does not fit, or the position's figures (liquidation
 *                           and bankruptcy prices among them) would not fit with that margin.
 * @retval #MARGIN_ESTATE    A cross position (it has no margin of its own), or called from
 *                           inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_add_margin(margin_engine *e, uint64_t position, int64_t amount);

/**
 * @brief Move @p amount from the position's margin back to the free balance, at most
 *        #MARGIN_AT_REMOVABLE_MARGIN at the market's last mark (entry if none).
 * @param[in,out] e        The engine.
 * @param[in]     position The position's id.
 * @param[in]     amount   Money, > 0.
 * @retval #MARGIN_OK        Removed (#MARGIN_EV_MARGIN_REMOVE).
 * @retval #MARGIN_EINVAL    @p e is NULL or @p amount <= 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   Closed or liquidated.
 * @retval #MARGIN_EMARGIN   @p amount exceeds the removable margin (the message says how much
 *                           is removable, in money).
 * @retval #MARGIN_EOVERFLOW An amount does not fit.
 * @retval #MARGIN_ESTATE    A cross position (it has no margin of its own), or called from
 *                           inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_remove_margin(margin_engine *e, uint64_t position,
                                             int64_t amount);

/**
 * @brief Change the leverage of an open position and re-margin it.
 *
 * The margin becomes `M - Q*E/L_old + Q*E/L_new` (each initial margin rounded up): the
 * difference comes from or returns to the free balance. Lowering the margin fails if the
 * new margin is not positive or if the new margin balance (new margin plus unrealized PnL
 * at the market's last mark, or at entry if none) would not exceed the maintenance margin.
 * A cross position has no margin to move: only the initial margin it reserves changes, and
 * a lower leverage needs the available balance to stay >= 0 (#MARGIN_EFUNDS).
 *
 * @param[in,out] e        The engine.
 * @param[in]     position The position's id.
 * @param[in]     leverage New leverage, #MARGIN_RATE_SCALE, >= 1x, within the limits.
 * @retval #MARGIN_OK        Changed (#MARGIN_EV_LEVERAGE).
 * @retval #MARGIN_EINVAL    @p e is NULL or @p leverage <= 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   Closed or liquidated.
 * @retval #MARGIN_ELEVERAGE Out of the market's or tier's range.
 * @retval #MARGIN_EFUNDS    The free balance (or, with cross positions, the available
 *                           balance) cannot cover the extra margin.
 * @retval #MARGIN_EMARGIN   The margin left would not cover the maintenance margin.
 * @retval #MARGIN_EOVERFLOW An amount does not fit.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_set_leverage(margin_engine *e, uint64_t position,
                                            int64_t leverage);

/**
 * @brief Set or clear the stop-loss and take-profit trigger prices.
 *
 * A long's stop-loss fires when the mark is <= @p stop_loss and its take-profit when the
 * mark is >= @p take_profit; a short's the other way round. They close the position at the
 * triggering mark with the taker fee. Liquidation takes precedence.
 *
 * @param[in,out] e           The engine.
 * @param[in]     position    The position's id.
 * @param[in]     stop_loss   Price units, > 0, or 0 for none.
 * @param[in]     take_profit Price units, > 0, or 0 for none.
 * @retval #MARGIN_OK        Set.
 * @retval #MARGIN_EINVAL    @p e is NULL or a price is negative.
 * @retval #MARGIN_ERANGE    A price is above the market's #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   Closed or liquidated.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @since 0.1.0
 */
MARGIN_API int margin_position_set_stops(margin_engine *e, uint64_t position,
                                         int64_t stop_loss, int64_t take_profit);

/**
 * @brief List the ids of an account's positions with a status, in id order.
 *
 * The usual buffer contract: @p out_n always receives the number of matching positions;
 * when it exceeds @p cap, #MARGIN_EBUFFER is returned and the first @p cap elements of
 * @p ids are unspecified. Passing NULL and 0 only counts (#MARGIN_OK). Open positions are listed in time proportional to their number; the other
 * filters scan every position the engine has held.
 *
 * @param[in]  e       The engine.
 * @param[in]  account The account's id.
 * @param[in]  status  A `MARGIN_STATUS_*` value, or #MARGIN_STATUS_ANY.
 * @param[out] ids     Receives the ids (may be NULL when @p cap is 0).
 * @param[in]  cap     Number of elements of @p ids.
 * @param[out] out_n   Receives the number of matching positions.
 * @retval #MARGIN_OK       Listed.
 * @retval #MARGIN_EINVAL   @p e or @p out_n is NULL, @p ids is NULL with @p cap > 0, or
 *                          @p status is unknown.
 * @retval #MARGIN_ENOTFOUND No account has that id.
 * @retval #MARGIN_EBUFFER  More than @p cap positions match (@p out_n says how many).
 * @since 0.2.0
 */
MARGIN_API int margin_account_positions(const margin_engine *e, uint64_t account,
                                        int32_t status, uint64_t *ids, size_t cap,
                                        size_t *out_n);

/**
 * @brief List the ids of a market's positions with a status, in id order (the contract of
 *        margin_account_positions()).
 * @param[in]  e      The engine.
 * @param[in]  market The market's id.
 * @param[in]  status A `MARGIN_STATUS_*` value, or #MARGIN_STATUS_ANY.
 * @param[out] ids    Receives the ids (may be NULL when @p cap is 0).
 * @param[in]  cap    Number of elements of @p ids.
 * @param[out] out_n  Receives the number of matching positions.
 * @retval #MARGIN_OK       Listed.
 * @retval #MARGIN_EINVAL   @p e or @p out_n is NULL, @p ids is NULL with @p cap > 0, or
 *                          @p status is unknown.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_EBUFFER  More than @p cap positions match (@p out_n says how many).
 * @since 0.2.0
 */
MARGIN_API int margin_market_positions(const margin_engine *e, uint64_t market, int32_t status,
                                       uint64_t *ids, size_t cap, size_t *out_n);

/**
 * @brief List the ids of every position of the engine with a status, in id order (the
 *        contract of margin_account_positions()). After a restart of a program that keeps
 *        no ids, `margin_positions(e, MARGIN_STATUS_OPEN, ...)` finds every open position.
 * @param[in]  e      The engine.
 * @param[in]  status A `MARGIN_STATUS_*` value, or #MARGIN_STATUS_ANY.
 * @param[out] ids    Receives the ids (may be NULL when @p cap is 0).
 * @param[in]  cap    Number of elements of @p ids.
 * @param[out] out_n  Receives the number of matching positions.
 * @retval #MARGIN_OK      Listed.
 * @retval #MARGIN_EINVAL  @p e or @p out_n is NULL, @p ids is NULL with @p cap > 0, or
 *                         @p status is unknown.
 * @retval #MARGIN_EBUFFER More than @p cap positions match (@p out_n says how many).
 * @since 0.2.0
 */
MARGIN_API int margin_positions(const margin_engine *e, int32_t status, uint64_t *ids,
                                size_t cap, size_t *out_n);

/**
 * @brief Read a stored figure of a position (`MARGIN_POS_*`), open or not.
 * @param[in]  e        The engine.
 * @param[in]  position The position's id.
 * @param[in]  key      A `MARGIN_POS_*` key.
 * @param[out] out      The value.
 * @retval #MARGIN_OK       Read.
 * @retval #MARGIN_EINVAL   A pointer is NULL or @p key is unknown.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @since 0.1.0
 */
MARGIN_API int margin_position_get(const margin_engine *e, uint64_t position, int32_t key,
                                   int64_t *out);

/**
 * @brief Compute a figure of an open position at mark price @p mark (`MARGIN_AT_*`).
 * @param[in]  e        The engine.
 * @param[in]  position The position's id.
 * @param[in]  key      A `MARGIN_AT_*` key.
 * @param[in]  mark     Mark price, price units, > 0, or 0 for the market's last mark (the
 *                      entry price if the market has none). Need not be on the tick grid.
 * @param[out] out      The value, rounded as the key documents.
 * @retval #MARGIN_OK        Computed.
 * @retval #MARGIN_EINVAL    A pointer is NULL, @p key is unknown or @p mark < 0.
 * @retval #MARGIN_ENOTFOUND No position has that id.
 * @retval #MARGIN_ECLOSED   The position is closed or liquidated.
 * @retval #MARGIN_EOVERFLOW The value does not fit.
 * @since 0.1.0
 */
MARGIN_API int margin_position_at(const margin_engine *e, uint64_t position, int32_t key,
                                  int64_t mark, int64_t *out);

/** @} */

/**
 * @defgroup marks Mark prices and funding
 * What moves positions after they are opened.
 * @{
 */

/**
 * @brief Apply a new mark price to a market and act on every trigger it crosses.
 *
 * For each affected position, in order of position id: liquidation (long when
 * `mark <= liquidation price`, short when `mark >= it`), else stop-loss or take-profit,
 * else margin call. A liquidated position is closed in full and irreversibly; the holder's
 * realized PnL is exactly minus its margin; the insurance fund receives
 * `s*Q*(mark - E) + M` (which is `s*Q*(mark - bankruptcy price)`), negative when the mark
 * gapped past the bankruptcy price; the PnL part is rounded down, so rounding never creates
 * money in the fund. Other positions and free balances are untouched.
 * A margin-call level counts as crossed at its price (see
 * margin_engine_set_margin_call_levels()), so the ratio an event reports may sit a few
 * units of 10^-8 below the level. A stop that is already crossed when it is set fires at
 * the next mark update.
 * Only positions whose triggers are crossed are visited (indexes), unless
 * #MARGIN_ENG_FULL_SCAN is set.
 *
 * Every open position was checked against the market's price range when its state was
 * set, so no position's arithmetic can make the update fail; only an account ledger or the
 * insurance fund passing 92233720368.54775807 money can (#MARGIN_EOVERFLOW).
 *
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @param[in]     mark   Mark price, price units, > 0 and at most the market's
 *                       #MARGIN_MKT_MAX_PRICE (need not be on the tick grid).
 * @retval #MARGIN_OK       Applied; events describe what happened.
 * @retval #MARGIN_EINVAL   @p e is NULL or @p mark <= 0.
 * @retval #MARGIN_ERANGE   @p mark is above #MARGIN_MKT_MAX_PRICE; nothing changed.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ESTATE   Called from inside the event callback; nothing changed.
 * @retval #MARGIN_ENOMEM   Out of memory; the mark is not applied and nothing changed.
 * @retval #MARGIN_EOVERFLOW A ledger total does not fit; nothing changed.
 * @since 0.1.0
 */
MARGIN_API int margin_mark_update(margin_engine *e, uint64_t market, int64_t mark);

/** margin_mark_candle() path: the open, then the low and the high in the order a bar that
 *  closes up (close >= open) takes them (open, low, high, close), else open, high, low,
 *  close; the order `margin replay` has always used. @since 0.2.0 */
#define MARGIN_PATH_UPDOWN 0
/** margin_mark_candle() path: per position, the adverse extreme first, the worst case a
 *  risk manager wants. An isolated long walks open, low, high, close and an isolated short
 *  open, high, low, close, whatever the bar's direction. A cross book (one holder whose
 *  legs share one mark and one wallet) has no single adverse side: it walks the
 *  #MARGIN_PATH_UPDOWN order, and only that order moves the market's mark. Point 2 is an
 *  isolated position's adverse extreme, point 3 its favourable one
 *  (#MARGIN_EVF_PATH_POINT). @since 0.2.0 */
#define MARGIN_PATH_ADVERSE 1

/**
 * @brief Apply one candle (open, high, low, close) to a market: its marks as a path.
 *
 * The mark walks the path's four points (#MARGIN_PATH_UPDOWN); at each point the market's
 * triggers act exactly as margin_mark_update() would at that mark, so every trigger fires
 * at the first point of the path that reaches it, and each event carries the point in
 * #MARGIN_EVF_PATH_POINT (1 the open, 2 and 3 the extremes in path order, 4 the close).
 *
 * With #MARGIN_PATH_ADVERSE each isolated position walks its own order, its adverse
 * extreme first (a long the low, a short the high). Point 1 is the open for every
 * position. Each later point is applied in two groups: first the positions that walk the
 * bar's up-down order (the isolated side whose adverse extreme that order visits first,
 * longs on a bar closing up and shorts on one closing down, and every cross book, which
 * always walks the up-down order), at that order's point, which moves the market's mark;
 * then the isolated positions of the other side at the mirrored order's point (open, the
 * other extreme, the first extreme, close), taken as a continuous move from their own
 * previous point, the market's mark left where the first group put it. A cross book whose
 * wallet a stop or take-profit of the second group changes is evaluated at the market's
 * mark. So points 2 and 3 are, for an isolated position, its adverse and its favourable
 * extreme; the events of point k come first for the first group, then for the second.
 * The open is a jump from the market's last mark (a gap: stops and take-profits it
 * crosses fill at the open); from the open on, the price moves continuously, so with
 * #MARGIN_STOP_FILL_TRIGGER a stop or take-profit the path crosses between two points
 * fills at its own price (see #MARGIN_STOP_FILL_TRIGGER), and a liquidation settles by
 * #MARGIN_MKT_LIQ_FILL at the point's mark. A backtester makes one call per candle
 * instead of four.
 *
 * Atomic: the whole path is first played on a scratch copy of what it can touch (the
 * positions whose triggers lie between the low and the high, their accounts and those
 * accounts' cross books), and the engine changes only once that has succeeded, so a
 * failure at any point changes nothing. The cost is proportional to what the candle
 * triggers, as for margin_mark_update(), plus the copy of those positions and accounts.
 *
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @param[in]     open   Prices, price units, each > 0 and at most the market's
 * @param[in]     high   #MARGIN_MKT_MAX_PRICE (need not be on the tick grid), with
 * @param[in]     low    `low <= open, close <= high`.
 * @param[in]     close
 * @param[in]     path   #MARGIN_PATH_UPDOWN or #MARGIN_PATH_ADVERSE: the order in which
 *                        the positions meet the high and the low.
 * @retval #MARGIN_OK        Applied; the market's mark is @p close.
 * @retval #MARGIN_EINVAL    @p e is NULL, a price is <= 0, the prices are not a candle
 *                           (low above open or close, high below them), or @p path is
 *                           unknown.
 * @retval #MARGIN_ERANGE    A price is above #MARGIN_MKT_MAX_PRICE.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ESTATE    Called from inside the event callback.
 * @retval #MARGIN_ENOMEM    Out of memory.
 * @retval #MARGIN_EFULL     The events of the whole candle would pass the event queue's
 *                           cap (#MARGIN_ENG_EVENT_CAP).
 * @retval #MARGIN_EOVERFLOW A ledger total does not fit at some point of the path.
 * On any error nothing changed.
 * @since 0.2.0
 */
MARGIN_API int margin_mark_candle(margin_engine *e, uint64_t market, int64_t open, int64_t high,
                                  int64_t low, int64_t close, int32_t path);

/**
 * @brief Settle one funding interval on a market, then evaluate triggers at @p mark.
 *
 * Each open position pays `s*Q*mark*rate` from its isolated margin (a long pays and a
 * short receives when @p rate > 0): payments are rounded up, receipts down, and a payment
 * is capped at the position's margin (isolated: it never pays more than that). Funding
 * moves the liquidation price, and a position whose margin is exhausted is liquidated by
 * the evaluation that follows. The mark becomes the market's mark.
 *
 * Atomic: every payment, and everything the mark then triggers, is decided and checked for
 * the whole market before anything is applied; on any failure nothing changes (no payment,
 * no event, no sequence number). A funding receipt can make a position's margin grow past
 * what its market's scales hold (see #MARGIN_MKT_PRICE_SCALE): then the round fails with
 * #MARGIN_EOVERFLOW, naming the position.
 *
 * @param[in,out] e      The engine.
 * @param[in]     market The market's id.
 * @param[in]     rate   Funding rate, #MARGIN_RATE_SCALE, any sign, |rate| < 1.
 * @param[in]     mark   Mark price, price units, > 0.
 * @retval #MARGIN_OK        Settled (#MARGIN_EV_FUNDING per position, then trigger events).
 * @retval #MARGIN_EINVAL    @p e is NULL, @p mark <= 0 or |@p rate| >= 1.
 * @retval #MARGIN_ERANGE    @p mark is above #MARGIN_MKT_MAX_PRICE; nothing changed.
 * @retval #MARGIN_ENOTFOUND No market has that id.
 * @retval #MARGIN_ESTATE    Called from inside the event callback; nothing changed.
 * @retval #MARGIN_EOVERFLOW An amount does not fit; nothing changed.
 * @retval #MARGIN_ENOMEM    Out of memory; nothing changed.
 * @since 0.1.0
 */
MARGIN_API int margin_funding_apply(margin_engine *e, uint64_t market, int64_t rate,
                                    int64_t mark);

/** @} */

/**
 * @defgroup events Events
 * Every state change produces an event with a sequence number. Events are queued and read
 * one at a time with margin_event_next() and margin_event_get(), and may also be pushed to
 * a callback.
 * @{
 */

/** @name Event types
 * @{ */
#define MARGIN_EV_NONE 0           /**< No event (the queue is empty). */
#define MARGIN_EV_DEPOSIT 1        /**< Deposit to an account. */
#define MARGIN_EV_WITHDRAW 2       /**< Withdrawal from an account. */
#define MARGIN_EV_OPEN 3           /**< Position opened (or reopened by a flip). */
#define MARGIN_EV_INCREASE 4       /**< Position increased. */
#define MARGIN_EV_REDUCE 5         /**< Position reduced. */
#define MARGIN_EV_CLOSE 6          /**< Position closed by the holder. */
#define MARGIN_EV_MARGIN_ADD 7     /**< Margin added. */
#define MARGIN_EV_MARGIN_REMOVE 8  /**< Margin removed. */
#define MARGIN_EV_LEVERAGE 9       /**< Leverage changed. */
#define MARGIN_EV_FUNDING 10       /**< Funding paid or received. */
#define MARGIN_EV_MARGIN_CALL 11   /**< Margin ratio reached a margin-call level. */
#define MARGIN_EV_LIQUIDATION 12   /**< Position liquidated. */
#define MARGIN_EV_STOP_LOSS 13     /**< Position closed by its stop-loss. */
#define MARGIN_EV_TAKE_PROFIT 14   /**< Position closed by its take-profit. */
/** A cross account was liquidated (position 0, market: the market whose mark or funding
 *  triggered it). Follows the #MARGIN_EV_LIQUIDATION (and #MARGIN_EV_PARTIAL_LIQUIDATION)
 *  events of the positions it liquidated, each with its clearance fee in #MARGIN_EVF_FEE
 *  and #MARGIN_EVF_INSURANCE_DELTA. #MARGIN_EVF_FREE_BALANCE: the cross wallet after;
 *  #MARGIN_EVF_AMOUNT: the deficit the insurance fund covered (>= 0);
 *  #MARGIN_EVF_INSURANCE_DELTA: minus that deficit; #MARGIN_EVF_MARGIN_RATIO: the account
 *  margin ratio that triggered it; #MARGIN_EVF_QTY: the number of positions liquidated,
 *  in full or in part; #MARGIN_EVF_ADL_COVERED: the part of the deficit that
 *  auto-deleveraging covered (#MARGIN_ADL_ON), whose #MARGIN_EV_ADL events follow.
 *  @since 0.2.0 */
#define MARGIN_EV_CROSS_LIQUIDATION 15
/** Part of a position was liquidated (#MARGIN_MKT_LIQ_POLICY); the position stays open,
 *  smaller. #MARGIN_EVF_QTY: the quantity liquidated; #MARGIN_EVF_PRICE: its fill price
 *  (#MARGIN_EVF_FILL names it); #MARGIN_EVF_FEE: the clearance fee (also in
 *  #MARGIN_EVF_INSURANCE_DELTA); #MARGIN_EVF_REALIZED_PNL: the PnL realized on the part;
 *  #MARGIN_EVF_AMOUNT: the change of the position's margin (isolated; 0 for a cross
 *  position, whose part's PnL and fee go to the cross wallet); #MARGIN_EVF_LIQ_PRICE: the
 *  liquidation price after it. @since 0.2.0 */
#define MARGIN_EV_PARTIAL_LIQUIDATION 16
/** Money was put into a market's insurance pool (margin_insurance_deposit()): account and
 *  position 0; #MARGIN_EVF_AMOUNT and #MARGIN_EVF_INSURANCE_DELTA: the amount.
 *  @since 0.2.0 */
#define MARGIN_EV_INSURANCE_DEPOSIT 17
/** A position was auto-deleveraged (#MARGIN_ADL_ON) against a bankrupt position, which
 *  #MARGIN_EVF_COUNTERPARTY names; it follows that position's #MARGIN_EV_LIQUIDATION.
 *  #MARGIN_EVF_QTY: the quantity closed (all of it: the position is
 *  #MARGIN_STATUS_DELEVERAGED; less: it stays open, smaller, its margin reduced pro rata);
 *  #MARGIN_EVF_PRICE: the bankrupt position's bankruptcy price, the fill
 *  (#MARGIN_EVF_FILL #MARGIN_FILL_BANKRUPTCY); no fee; #MARGIN_EVF_REALIZED_PNL: the PnL at
 *  that price; #MARGIN_EVF_AMOUNT: minus the margin released (isolated);
 *  #MARGIN_EVF_INSURANCE_DELTA: what it paid into the pool, its PnL at the mark less its
 *  PnL at the fill. @since 0.2.0 */
#define MARGIN_EV_ADL 18
/** @} */

/** #MARGIN_EVF_FILL: the mark. @since 0.2.0 */
#define MARGIN_FILL_MARK 1
/** #MARGIN_EVF_FILL: the stop-loss or take-profit price. @since 0.2.0 */
#define MARGIN_FILL_TRIGGER 2
/** #MARGIN_EVF_FILL: the position's liquidation price. @since 0.2.0 */
#define MARGIN_FILL_LIQ_PRICE 3
/** #MARGIN_EVF_FILL: the position's bankruptcy price (the insurance fund took it over).
 *  @since 0.2.0 */
#define MARGIN_FILL_BANKRUPTCY 4

/** @name Event fields (margin_event_get()); a field that does not apply reads 0
 * @{ */
#define MARGIN_EVF_SEQ 1              /**< Sequence number, from 1, increasing by 1. */
#define MARGIN_EVF_TIME 2             /**< #MARGIN_ENG_TIME when the event happened. */
#define MARGIN_EVF_TYPE 3             /**< A `MARGIN_EV_*` type. */
#define MARGIN_EVF_ACCOUNT 4          /**< Account id. */
#define MARGIN_EVF_MARKET 5           /**< Market id (0 for deposits and withdrawals). */
#define MARGIN_EVF_POSITION 6         /**< Position id (0 for deposits and withdrawals). */
#define MARGIN_EVF_SIDE 7             /**< Side of the position after the event. */
#define MARGIN_EVF_PRICE 8            /**< Fill price (trades, stops, take-profits), the mark (margin calls, liquidations, funding). */
#define MARGIN_EVF_QTY 9              /**< Quantity traded or closed. */
#define MARGIN_EVF_POSITION_QTY 10    /**< Position size after the event. */
#define MARGIN_EVF_ENTRY_PRICE 11     /**< Entry price after the event. */
#define MARGIN_EVF_MARGIN 12          /**< Position margin after the event. */
#define MARGIN_EVF_AMOUNT 13          /**< Money moved: deposit or withdrawal amount, margin added or removed (signed: into the position > 0), funding (received > 0), change of margin on open/increase/reduce/leverage, minus the margin on close/stop/take-profit/liquidation. */
#define MARGIN_EVF_REALIZED_PNL 14    /**< Realized PnL of this event (minus the margin for a liquidation). */
#define MARGIN_EVF_FEE 15             /**< Fee charged by this event. */
#define MARGIN_EVF_LIQ_PRICE 16       /**< Liquidation price after the event (before, for a liquidation), 0 if none. For a cross position: the cross liquidation price of its book after the event (before, for a liquidation), at the other markets' marks of that moment; it moves with every mark, the wallet and the account's other positions. */
#define MARGIN_EVF_BANKRUPTCY_PRICE 17 /**< Bankruptcy price (liquidations). */
#define MARGIN_EVF_INSURANCE_DELTA 18 /**< Change of the insurance fund. */
#define MARGIN_EVF_MARGIN_RATIO 19    /**< Margin ratio at the mark (margin calls). */
#define MARGIN_EVF_LEVEL 20           /**< Margin-call level crossed. */
#define MARGIN_EVF_FREE_BALANCE 21    /**< Account free balance after the event. */
#define MARGIN_EVF_LEVERAGE 22        /**< Position leverage after the event. */
#define MARGIN_EVF_MODE 23            /**< #MARGIN_MODE_ISOLATED or #MARGIN_MODE_CROSS: the position's mode; for account events (deposits, withdrawals, account margin calls, cross liquidations) #MARGIN_MODE_CROSS when they concern the cross book. @since 0.2.0 */
/** Which price a triggered close or liquidation filled at (#MARGIN_EVF_PRICE):
 *  #MARGIN_FILL_MARK, #MARGIN_FILL_TRIGGER, #MARGIN_FILL_LIQ_PRICE or
 *  #MARGIN_FILL_BANKRUPTCY; 0 for every other event. @since 0.2.0 */
#define MARGIN_EVF_FILL 24
/** The point of a candle's path (margin_mark_candle()) at which the event happened: 1 the
 *  open, 2 the first extreme, 3 the second, 4 the close; on #MARGIN_PATH_ADVERSE, for an
 *  isolated position, 2 its adverse extreme (a long's low, a short's high) and 3 its
 *  favourable one (#MARGIN_EVF_PRICE and the candle say which price), for a cross book the
 *  up-down order's points; 0 for events of every other call. @since 0.2.0 */
#define MARGIN_EVF_PATH_POINT 25
/** #MARGIN_EV_ADL: the id of the bankrupt position it was deleveraged against.
 *  @since 0.2.0 */
#define MARGIN_EVF_COUNTERPARTY 26
/** #MARGIN_EV_LIQUIDATION of a bankrupt position (or #MARGIN_EV_CROSS_LIQUIDATION of a
 *  bankrupt cross book) with #MARGIN_ADL_ON: the part of its deficit that auto-deleveraging
 *  covered (the sum of the #MARGIN_EVF_INSURANCE_DELTA of the #MARGIN_EV_ADL events that
 *  follow it); the pool paid #MARGIN_EVF_INSURANCE_DELTA (negative) less that.
 *  @since 0.2.0 */
#define MARGIN_EVF_ADL_COVERED 27
/** @} */

/**
 * @brief Callback called synchronously for every event as it is produced.
 *
 * While it runs, margin_event_get() reads the event being delivered and every query works.
 * The call that produced the event is still under way, so every function that changes the
 * engine (margin_event_next() included) returns #MARGIN_ESTATE and changes nothing, and
 * margin_engine_free() is refused (see there). Act on the event after that call returns.
 *
 * @param user The pointer given to margin_engine_set_callback().
 * @param e    The engine producing the event.
 * @param type The event's `MARGIN_EV_*` type.
 */
typedef void (*margin_event_fn)(void *user, const margin_engine *e, int32_t type);

/**
 * @brief Install (or with NULL remove) the event callback.
 * @param[in,out] e    The engine.
 * @param[in]     fn   The callback, or NULL.
 * @param[in]     user Passed to @p fn unchanged; not owned.
 * @retval #MARGIN_OK     Installed.
 * @retval #MARGIN_EINVAL @p e is NULL.
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_engine_set_callback(margin_engine *e, margin_event_fn fn, void *user);

/**
 * @brief Take the oldest queued event and make it the current event.
 * @param[in,out] e        The engine.
 * @param[out]    out_type The event's type, or #MARGIN_EV_NONE if the queue is empty (then
 *                         there is no current event).
 * @retval #MARGIN_OK     Done (also when the queue is empty).
 * @retval #MARGIN_EINVAL A pointer is NULL.
 * @retval #MARGIN_ESTATE    Called from inside the event callback (nothing changes).
 * @since 0.1.0
 */
MARGIN_API int margin_event_next(margin_engine *e, int32_t *out_type);

/**
 * @brief Read a field (`MARGIN_EVF_*`) of the current event.
 * @param[in]  e     The engine.
 * @param[in]  field A `MARGIN_EVF_*` field.
 * @param[out] out   The value (0 for a field that does not apply to the event's type).
 * @retval #MARGIN_OK     Read.
 * @retval #MARGIN_EINVAL A pointer is NULL or @p field is unknown.
 * @retval #MARGIN_ESTATE There is no current event.
 * @since 0.1.0
 */
MARGIN_API int margin_event_get(const margin_engine *e, int32_t field, int64_t *out);

/**
 * @brief Copy every field of the current event (or of the event being delivered to the
 *        callback) into @p out in one call.
 *
 * `out[0]` receives the number of fields this library knows (27 in this version: fields
 * 1 to 27; 0.1.0 knew 22), and `out[f]` the value of field `f` (a `MARGIN_EVF_*` constant) for
 * `1 <= f < n`. @p n may be smaller than the number of fields (only the first are copied)
 * or larger (fields this library does not know are 0), so a program built against an
 * older or newer header works with this library. An array of
 * `MARGIN_EVF_ADL_COVERED + 1` elements holds every field of this version.
 *
 * @param[in]  e   The engine.
 * @param[out] out Receives the fields; not written when @p n is 0.
 * @param[in]  n   Number of elements of @p out.
 * @retval #MARGIN_OK     Copied.
 * @retval #MARGIN_EINVAL @p e is NULL, or @p out is NULL with @p n > 0.
 * @retval #MARGIN_ESTATE There is no current event (call margin_event_next() first).
 * @since 0.2.0
 */
MARGIN_API int margin_event_fields(const margin_engine *e, int64_t *out, size_t n);

/** @} */

/**
 * @defgroup snapshot Snapshots and the state hash
 * The whole engine as bytes (docs/snapshot.md): markets with their tiers and options,
 * accounts and every ledger, margin modes, positions open and closed with their triggers
 * and fired margin-call levels, the margin-call levels, the insurance fund, sequence
 * numbers, time, options and the queued events. An engine loaded from a snapshot produces
 * the same events and the same next snapshot, byte for byte, as the one that saved it, on
 * the same further calls. What a snapshot does not hold: the event callback and the
 * memory functions, which belong to the engine that loads it.
 *
 * The format is little-endian with fixed field sizes: a header (magic, format version,
 * section count, total length), tagged sections, and a CRC-32C of everything before it.
 * The same calls always give the same bytes (no address, clock or random seed is written).
 * @{
 */

/** Snapshot format version written by this library (it reads every version up to this one).
 *  @since 0.2.0 */
#define MARGIN_SNAPSHOT_VERSION 4

/**
 * @brief Save the engine into the caller's buffer.
 *
 * Call it with @p buf NULL and @p cap 0 to learn the size; then with a buffer of at least
 * that size. The size is exact for the engine's state at that moment.
 *
 * @param[in]  e       The engine.
 * @param[out] buf     Receives the snapshot (may be NULL when @p cap is 0).
 * @param[in]  cap     Size of @p buf in bytes.
 * @param[out] out_len Receives the snapshot's size in bytes (also when the buffer is too
 *                     small).
 * @retval #MARGIN_OK      Saved (or, with @p buf NULL, the size given).
 * @retval #MARGIN_EINVAL  @p e or @p out_len is NULL, or @p buf is NULL with @p cap > 0.
 * @retval #MARGIN_EBUFFER @p cap is smaller than the snapshot (nothing is written).
 * @retval #MARGIN_ESTATE  Called from inside the event callback (the call delivering the
 *                         event is half applied: its state is not one to keep).
 * @since 0.2.0
 */
MARGIN_API int margin_snapshot_save(const margin_engine *e, void *buf, size_t cap,
                                    size_t *out_len);

/**
 * @brief Load a snapshot into an engine that is still empty.
 *
 * @p e must be as margin_engine_new() or margin_engine_new_with_allocator() made it (no
 * market, account, position or event yet); its callback and memory functions stay, every
 * other option comes from the snapshot. The snapshot is checked whole before anything is
 * built; on any failure @p e is left empty, as it was, with a message naming the field.
 *
 * @param[in,out] e   An empty engine.
 * @param[in]     buf The snapshot bytes (not kept after the call).
 * @param[in]     len Their number.
 * @retval #MARGIN_OK         Loaded.
 * @retval #MARGIN_EINVAL     @p e is NULL, or @p buf is NULL with @p len > 0.
 * @retval #MARGIN_ESTATE     @p e is not empty, or called from inside the event callback.
 * @retval #MARGIN_EMAGIC     Not a libmargin snapshot.
 * @retval #MARGIN_EVERSION   A format version this library does not read.
 * @retval #MARGIN_ETRUNCATED Shorter than its header says, or cut inside a section.
 * @retval #MARGIN_ECHECKSUM  The CRC-32C does not match.
 * @retval #MARGIN_ECORRUPT   A field is out of range or inconsistent (a position in a
 *                            market that does not exist, a ledger that does not balance, a
 *                            tier table out of order...): the message names it.
 * @retval #MARGIN_ENOMEM     Out of memory.
 * @since 0.2.0
 */
MARGIN_API int margin_snapshot_load(margin_engine *e, const void *buf, size_t len);

/**
 * @brief Save the engine to a file, atomically.
 *
 * Opens the directory, writes a temporary file in it (`PATH.tmp.XXXXXX`), fsyncs and
 * closes it, renames it over @p path and fsyncs the directory, so that @p path always
 * holds either the previous snapshot or the new one, whole, even if the process or the
 * machine stops at any moment. When any step up to the rename fails, the temporary file
 * is removed and @p path is untouched. When only the directory's final fsync fails, the
 * new snapshot is already in place, whole, but may not survive a power loss: the status
 * is #MARGIN_EIO and the message says so.
 *
 * @param[in] e    The engine.
 * @param[in] path The file's path.
 * @retval #MARGIN_OK     Written.
 * @retval #MARGIN_EINVAL @p e or @p path is NULL.
 * @retval #MARGIN_EIO    A step failed: the message names it (directory open, open, write,
 *                        fsync, close, rename, directory fsync) with the system's reason.
 * @retval #MARGIN_ENOMEM Out of memory.
 * @retval #MARGIN_ESTATE Called from inside the event callback.
 * @since 0.2.0
 */
MARGIN_API int margin_snapshot_write(const margin_engine *e, const char *path);

/**
 * @brief Load a snapshot file into an empty engine (as margin_snapshot_load()).
 * @param[in,out] e    An empty engine.
 * @param[in]     path The file's path.
 * @retval #MARGIN_OK     Loaded.
 * @retval #MARGIN_EINVAL @p e is NULL, or @p path is NULL or empty.
 * @retval #MARGIN_EIO    The file could not be opened or read (the message says why).
 * @return Or any status of margin_snapshot_load().
 * @since 0.2.0
 */
MARGIN_API int margin_snapshot_read(margin_engine *e, const char *path);

/**
 * @brief A 64-bit hash of the engine's logical state.
 *
 * Equal for two engines that would write the same snapshot (it hashes the fields a
 * snapshot holds, read from the engine's records without building the snapshot: one pass
 * at memory speed, O(state); docs/snapshot.md), and different otherwise but for a 2^-64
 * chance. Meant for comparing replicas after a batch, of the same library version: the
 * values may change between versions. Not a cryptographic hash. Thread rule: as for every
 * function taking an engine, one thread at a time per engine.
 *
 * @param[in]  e   The engine.
 * @param[out] out The hash.
 * @retval #MARGIN_OK     Computed.
 * @retval #MARGIN_EINVAL @p e or @p out is NULL.
 * @retval #MARGIN_ESTATE Called from inside the event callback.
 * @since 0.2.0
 */
MARGIN_API int margin_state_hash(const margin_engine *e, uint64_t *out);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* MARGIN_H */
