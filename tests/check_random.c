/* Suite "random": a seeded randomized cross-check of the trigger indexes (issue 4).
 *
 * Two engines are fed the same operations: engine 0 with MARGIN_ENG_FULL_SCAN = 1 (the
 * reference path that evaluates every position on every mark), engine 1 with the indexes.
 * Thousands of operations: opens (random side, leverage, quantity, margin, maker/taker),
 * trades (increase, reduce, close, flip), closes, margin added and removed, leverage
 * changes, stop-loss / take-profit (some already crossed when set), funding (small and
 * large rates), deposits and withdrawals, margin-call level changes, and mark updates that
 * random-walk with gaps, some landing exactly on a trigger price or one unit off it.
 *
 * After every operation:
 *  - both engines returned the same status and produced the same events, field by field;
 *  - the touched positions, every account and the engine figures are identical (all
 *    positions every 64 steps and at the end);
 *  - per account (both engines): free + isolated == deposits - withdrawals + realized PnL
 *    - fees + funding (assert_conserved);
 *  - globally (both engines), with every event sum taken over the event stream:
 *        sum_a deposits     == sum of DEPOSIT amounts
 *        sum_a withdrawals  == sum of WITHDRAW amounts
 *        sum_a fees         == sum of event fees
 *        sum_a funding      == sum of FUNDING amounts
 *        sum_a realized PnL == sum of event realized PnL
 *        insurance fund     == sum of event insurance deltas
 *    hence   sum_a (free_a + isolated_a) + insurance fund
 *          == deposits - withdrawals - fees + funding + sum over fills X,
 *    where X = realized PnL + insurance delta of a closing event (reduce, close, stop,
 *    take-profit, liquidation, the close half of a flip). Each X is checked on its own:
 *    X == floor(s*q*(fill - E)), the whole market PnL of the fill rounded down (the holder
 *    keeps at most the margin; the insurance fund takes or gives the rest, and rounding
 *    creates no money). For a liquidation also: realized PnL == -margin,
 *    long mark <= liquidation price (short >=), bankruptcy price = E - s*M/Q rounded
 *    against the holder;
 *  - sum_a isolated == sum of the margins of open positions as rebuilt from the events;
 *  - after a mark update or funding: no open position of that market is left past a
 *    trigger (long: mark > liquidation price and stop, mark < take-profit; short mirrored),
 *    on both engines; positions in ETHUSDT (one tier, close fee 0.0006, policy mark) also
 *    have their liquidation price recomputed from the spec's formula in 128-bit integers:
 *    LP = (M - s*Q*E) / (Q*(mmr + f) - s*Q), long rounded up (0 when <= 0), short down;
 *  - ETHUSDT margin calls follow an independent model (check_eth_margin_calls): each level
 *    fires once when the mark reaches its price (header formula), re-arms above the price
 *    of level - band (MARGIN_ENG_REARM_BAND, changed now and then; never when that is
 *    <= 0) (long; short mirrored), lowest level first, none for a position closed by the
 *    same update.
 * Events within one update come in position-id order (funding first, then triggers).
 * Marks are often aimed exactly at (or one unit off) a liquidation, stop, take-profit or
 * margin-call level price, or wiggle by one or two units, so the index boundaries (fire at
 * the price, re-arm one unit past it) are exercised; a deliberately off-by-one re-arm key
 * in a copy of lib/trigger.c was caught this way while writing the test.
 *
 * Inverse run (issue 15): three more iterations run the same operation mix on an engine
 * whose markets are all inverse (MKI: BTCUSD with 100 USD contracts and tiers on the coin
 * value, ETHUSD with 10 USD contracts and ETHUSDT's tier, fee and policy, SOLUSD with 1 USD
 * contracts in tenths and the entry basis), money in the coin, every amount of money the
 * linear run uses divided by INV_MONEY_DIV. Nothing the engine refuses on inverse markets
 * (cross mode, partial policies) is generated in either run. The identities above hold as
 * they are, in coin; the linear formulas are replaced by the inverse ones, written here
 * from docs/formulas.md section 15 in exact integers (see "inverse formulas" below), with
 * N = contracts x contract size:
 *  - X == floor(s*N*(1/E - 1/fill)); for a liquidation the bankruptcy price
 *    N/(N/E + s*M) (long up, short down; a short with M >= N/E has none: INT64_MAX);
 *    a stop's or take-profit's fee taker*N/P rounded up;
 *  - ETHUSD's liquidation and margin-call level prices N*(mmr + f + s*l)/(l*M + cum +
 *    s*l*N/E), long rounded up, short down (a short with l*(M - N/E) + cum >= 0 never
 *    gets there: INT64_MAX), in the margin-call model as for ETHUSDT;
 *  - the liquidation price of every position of every market (after each of its events,
 *    after each mark of its market, and at its liquidation) from inv_lp_model: ETHUSD's
 *    formula, SOLUSD's entry-basis s*N/(M + s*N/E - (N/E)*mmr), and BTCUSD's tier walk
 *    modelled from its definition;
 *  - each open, increase, reduction, close, leverage change and funding payment
 *    (check_inv_event): fees r*N/P up, initial margin N/(E*L) up, the leverage from a
 *    margin (N/E)/M up, the harmonic entry after an increase, funding -s*(N/P)*rate down.
 * MARGIN_RANDOM_SEED=n picks another base seed; MARGIN_RANDOM_STATS=1 prints event counts. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "snapshot_util.h"
#include "suites.h"
#include "wide.h"

__extension__ typedef __int128 i128;

#define NF (MARGIN_EVF_LEVERAGE + 1)
#define NACC 3
#define NMKT 3
#define MAXPOS 16384
#define MAXEV 1024
#define E8 100000000LL

typedef struct {
    int64_t f[NF];
} rev_t;

/* ------------------------------------------------------------------ PRNG (splitmix64) */
static uint64_t rng_state;
static uint64_t rnext(void)
{
    return splitmix64(&rng_state);
}
static int64_t rrange(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnext() % (uint64_t)(hi - lo + 1));
}
static int chance(int pct)
{
    return (int)(rnext() % 100) < pct;
}

/* ------------------------------------------------------------------ markets */
typedef struct {
    const char *sym;
    int64_t start, tick, step, qmax; /* price and quantity units (scale 8) */
    int64_t taker, close_fee;        /* rate scale 8 */
    int32_t basis;
    int tiers;
    int64_t csize; /* inverse markets: quote units (USD) per contract, scale 8 */
} mkt_cfg;

static const mkt_cfg MK[NMKT] = {
    /* BTC: freqtrade's tier table (spec), default fees and grid */
    {"BTCUSDT", 20000 * E8, 1, 1, 3 * E8, 40000, 0, MARGIN_MM_BASIS_MARK, 1, 0},
    /* ETH: tick 0.01, step 0.001, taker 0.0005, close fee 0.0006 in the maintenance margin */
    {"ETHUSDT", 1500 * E8, 1000000, 100000, 40 * E8, 50000, 60000, MARGIN_MM_BASIS_MARK, 0, 0},
    /* SOL: tick 0.0001, step 0.01, maintenance fixed at the entry value */
    {"SOLUSDT", 20 * E8, 10000, 1000000, 3000 * E8, 40000, 0, MARGIN_MM_BASIS_ENTRY, 0, 0},
};

/* The inverse run's markets (all inverse: one settlement asset, money in the coin), laid
 * out like the linear ones so that the same operation mix fits them: the largest usual
 * opening is worth about 3 coin at the start price (the linear ones: 60,000 USDT), and
 * every amount of money the run uses is the linear one divided by INV_MONEY_DIV.
 *  BTCUSD: 100 USD contracts, whole contracts, tick 0.5, tiers on the coin value;
 *  ETHUSD: 10 USD contracts, whole contracts, ETHUSDT's single tier (mmr 0.004, cum 0),
 *          close fee 0.0006 and policy mark: its prices are checked exactly, as ETHUSDT's;
 *  SOLUSD: 1 USD contracts, tenths of a contract, maintenance fixed at the entry value. */
#define INV_MONEY_DIV 20000
#define INV_MAKER 20000 /* the inverse markets' maker fee, 0.0002 (the taker's is in MKI) */
static const mkt_cfg MKI[NMKT] = {
    {"BTCUSD", 20000 * E8, 50000000, E8, 600 * E8, 50000, 0, MARGIN_MM_BASIS_MARK, 1, 100 * E8},
    {"ETHUSD", 1500 * E8, 1000000, E8, 450 * E8, 50000, 60000, MARGIN_MM_BASIS_MARK, 0, 10 * E8},
    {"SOLUSD", 20 * E8, 10000, 10000000, 60 * E8, 40000, 0, MARGIN_MM_BASIS_ENTRY, 0, E8},
};

/* BTC tiers (floor, mmr, max leverage); maintenance amounts derived by the recurrence. */
static const int64_t BTC_TIERS[][3] = {
    {0, 400000, 125 * E8},          {50000 * E8, 500000, 100 * E8},
    {250000 * E8, 1000000, 50 * E8}, {1000000 * E8, 2500000, 20 * E8},
    {7500000 * E8, 5000000, 10 * E8},
};
/* BTCUSD's: the same rates and leverages, floors in coin (the linear floors over 20,000:
 * 2.5, 12.5, 50 and 375 BTC) */
static const int64_t BTC_TIERS_INV[][3] = {
    {0, 400000, 125 * E8},        {250000000, 500000, 100 * E8},
    {1250000000, 1000000, 50 * E8}, {50 * E8, 2500000, 20 * E8},
    {375 * E8, 5000000, 10 * E8},
};

/* ------------------------------------------------------------------ shadow (from events) */
typedef struct {
    int known, open;
    int32_t side;
    uint64_t acct, mkt;
    int64_t qty, entry, margin;
    int64_t lev; /* inverse run: the leverage of the last event */
    int stops_known;
    int64_t stop, take;
    unsigned fired; /* ETH only: margin-call levels fired (bit i: S.levels[i]) */
} shadow_pos;

typedef struct {
    int64_t dep, wd, fee, fund, pnl, ins;
} sums_t;

static struct {
    int inv;           /* the inverse run: markets MKI, money in the coin */
    const mkt_cfg *mk; /* MK or MKI */
    int64_t money_div; /* 1, or INV_MONEY_DIV: the run's amounts of money are the linear ones / it */
    margin_engine *e[3]; /* e[2]: the twin of e[1] (save / load / continue), when one runs */
    su_twin tw;
    uint64_t mkt[NMKT], acct[NACC];
    int64_t mark[NMKT]; /* last mark sent (0: none) */
    shadow_pos pos[MAXPOS];
    uint64_t npos;           /* highest position id seen */
    uint64_t open[MAXPOS];   /* open position ids */
    size_t nopen;
    sums_t sums;
    int64_t levels[8];
    size_t nlevels;
    int64_t band; /* margin-call re-arm band */
    rev_t ev[2][MAXEV];
    uint64_t seed;
    int step;
    const char *opname;
    int ev_count[16], failed_ops, eth_calls;
    long lp_checked, lp_unchecked, inv_checks; /* inverse run: LP models compared, not */
    size_t max_open;
} S;

#define CTX "seed %" PRIu64 " step %d (%s): "
#define CTXA S.seed, S.step, S.opname

static int64_t racct(const margin_engine *e, uint64_t acct, int32_t key)
{
    int64_t v = 0;
    REQ_OK(e, margin_account_get(e, acct, key, &v));
    return v;
}

static int64_t reng(const margin_engine *e, int32_t key)
{
    int64_t v = 0;
    REQ_OK(e, margin_engine_get(e, key, &v));
    return v;
}

/* The per-account identity of helpers.c's assert_conserved, without Check's per-call cost:
 * free + isolated == deposits - withdrawals + realized PnL - fees + funding. */
static void rconserved(const margin_engine *e, uint64_t acct)
{
    int64_t free_ = racct(e, acct, MARGIN_ACCT_FREE_BALANCE);
    int64_t iso = racct(e, acct, MARGIN_ACCT_ISOLATED_MARGIN);
    int64_t dep = racct(e, acct, MARGIN_ACCT_DEPOSITS);
    int64_t wd = racct(e, acct, MARGIN_ACCT_WITHDRAWALS);
    int64_t pnl = racct(e, acct, MARGIN_ACCT_REALIZED_PNL);
    int64_t fees = racct(e, acct, MARGIN_ACCT_FEES);
    int64_t fund = racct(e, acct, MARGIN_ACCT_FUNDING);
    REQ(free_ + iso == dep - wd + pnl - fees + fund,
        CTX "money not conserved on account %" PRIu64 ": free %lld + isolated %lld != deposits "
            "%lld - withdrawals %lld + pnl %lld - fees %lld + funding %lld",
        CTXA, acct, (long long)free_, (long long)iso, (long long)dep, (long long)wd,
        (long long)pnl, (long long)fees, (long long)fund);
}

static int64_t get_pos(int w, uint64_t id, int32_t key)
{
    int64_t v = 0;
    int rc = margin_position_get(S.e[w], id, key, &v);
    REQ(rc == MARGIN_OK, CTX "position_get(%" PRIu64 ", %d) engine %d: %s", CTXA, id,
                  key, w, margin_strerror(rc));
    return v;
}

static int mkt_index(uint64_t id)
{
    for (int i = 0; i < NMKT; i++)
        if (S.mkt[i] == id)
            return i;
    ck_abort_msg(CTX "unknown market %" PRIu64, CTXA, id);
    return 0;
}

static void open_add(uint64_t id)
{
    S.open[S.nopen++] = id;
}
static void open_del(uint64_t id)
{
    for (size_t i = 0; i < S.nopen; i++)
        if (S.open[i] == id) {
            S.open[i] = S.open[--S.nopen];
            return;
        }
    ck_abort_msg(CTX "position %" PRIu64 " not in the open list", CTXA, id);
}

/* floor(a / b) for b > 0 */
static i128 fdiv(i128 a, i128 b)
{
    i128 q = a / b;
    if ((a % b != 0) && (a < 0))
        q--;
    return q;
}
static i128 cdiv(i128 a, i128 b)
{
    return -fdiv(-a, b);
}

/* ------------------------------------------------------------------ inverse formulas
 * Written here from docs/formulas.md section 15, not from lib/inverse.c. N = contracts x
 * contract size (USD), s = +1 long, -1 short, E entry, M margin, money in the coin. In
 * integer units (everything at scale 8): q = Q*1e8, c = C*1e8, n = q*c = N*1e16, prices
 * e = E*1e8, money m = M*1e8. Then a value N/P is n/P money units, and
 *   PnL   s*N*(1/E - 1/P)              = s*n*(P - e)/(e*P)                  down
 *   fee   r*N/P (r = r_u/1e8)          = n*r_u/(P*1e8)                      up
 *   BP    N/(N/E + s*M)                = n*e/(n + s*m*e)                    long up, short down
 *   level N*(r + s*l)/(l*M + cum + s*l*N/E), r = mmr + f, l = l_u/1e8 (1 for the LP):
 *         n*(r_u + s*l_u)*e / (l_u*m*e + cum_u*e*1e8 + s*l_u*n)            long up, short down
 * (for the level: N = n/1e16, l*M = l_u*m/1e16, cum = cum_u/1e8, l*N/E = l_u*n/(1e16*e);
 * multiplying through by 1e16*e leaves the price in units of 1e-8 after the factor 1e8).
 * n reaches 2^126 and the level's numerator about 2^190: exact 384-bit intermediates
 * (lib/wide.h, tested on its own against an independent model in check_wide.c). */
static i128 inv_n(const shadow_pos *p, int64_t q)
{
    return (i128)q * S.mk[mkt_index(p->mkt)].csize;
}

static void wset(margin__wide *w, i128 a, i128 b, i128 c) /* w = a*b*c */
{
    margin__wide_set(w, a);
    REQ(margin__wide_mul(w, b) == MARGIN_OK && margin__wide_mul(w, c) == MARGIN_OK,
        CTX "a product beyond 384 bits", CTXA);
}

static void wadd(margin__wide *w, const margin__wide *x)
{
    REQ(margin__wide_add(w, x) == MARGIN_OK, CTX "a sum beyond 384 bits", CTXA);
}

static int64_t to64(i128 v, const char *what)
{
    REQ(v >= INT64_MIN && v <= INT64_MAX, CTX "%s beyond 64 bits", CTXA, what);
    return (int64_t)v;
}

/* round(a*b / (c*d)) for a result that must fit in 64 bits */
static int64_t muldiv(i128 a, i128 b, i128 c, i128 d, int rounding, const char *what)
{
    i128 r = 0;
    REQ(margin__muldiv2(a, b, c, d, rounding, &r) == MARGIN_OK, CTX "%s: no quotient", CTXA,
        what);
    return to64(r, what);
}

/* A price num/den (the level and bankruptcy formulas): long rounded up, short down; a
 * quotient past every price is INT64_MAX when positive; one at or below 0 is 0. */
static int64_t inv_price(const margin__wide *num, const margin__wide *den, int32_t side)
{
    i128 r = 0;
    int rc, sn = margin__wide_sign(num), sd = margin__wide_sign(den);
    if (sd == 0)
        return INT64_MAX;
    rc = margin__wide_div(num, den, side == MARGIN_LONG ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR,
                          &r);
    if (rc == MARGIN_EOVERFLOW || (rc == MARGIN_OK && r > INT64_MAX))
        return sn * sd > 0 ? INT64_MAX : 0;
    REQ(rc == MARGIN_OK, CTX "price division failed (%d)", CTXA, rc);
    return r > 0 ? (int64_t)r : 0;
}

/* The price of level l_u (scale 8; 1e8 for the liquidation price) of shadow position p
 * in a mark-basis tier of rate r_u = mmr + f and maintenance amount cum_u. A short whose
 * denominator is not negative (l*(M - N/E) + cum >= 0) never gets there: INT64_MAX. */
static int64_t inv_level(const shadow_pos *p, int64_t l, int64_t r_u, int64_t cum_u)
{
    margin__wide num, den, t;
    i128 n = inv_n(p, p->qty);
    wset(&num, n, (i128)r_u + (i128)p->side * l, p->entry);
    wset(&den, (i128)l * p->margin, p->entry, 1);
    wset(&t, (i128)cum_u * E8, p->entry, 1);
    wadd(&den, &t);
    wset(&t, n, (i128)p->side * l, 1);
    wadd(&den, &t);
    if (p->side == MARGIN_SHORT && margin__wide_sign(&den) >= 0)
        return INT64_MAX;
    return inv_price(&num, &den, p->side);
}

/* Bankruptcy price n*e/(n + s*m*e); a short whose margin covers N/E (n - m*e <= 0) has
 * none: INT64_MAX */
static int64_t inv_bankruptcy(const shadow_pos *p)
{
    margin__wide num, den, t;
    i128 n = inv_n(p, p->qty);
    wset(&num, n, p->entry, 1);
    wset(&den, (i128)p->side * p->margin, p->entry, 1);
    wset(&t, n, 1, 1);
    wadd(&den, &t);
    if (p->side == MARGIN_SHORT && margin__wide_sign(&den) <= 0)
        return INT64_MAX;
    return inv_price(&num, &den, p->side);
}

/* The whole PnL of closing q at fill, s*n*(fill - e)/(e*fill), money rounded down */
static int64_t inv_pnl(const shadow_pos *p, int64_t q, int64_t fill)
{
    return muldiv(p->side * inv_n(p, q), (i128)fill - p->entry, p->entry, fill,
                  MARGIN_ROUND_FLOOR, "inverse PnL");
}

/* Market PnL of closing q of the shadow position at fill, money rounded down:
 * s*q*(fill - E) has scale 16; divide by 1e8 toward minus infinity. */
static int64_t market_pnl(const shadow_pos *p, int64_t q, int64_t fill)
{
    if (S.inv)
        return inv_pnl(p, q, fill);
    return (int64_t)fdiv((i128)p->side * q * ((i128)fill - p->entry), E8);
}

/* ETHUSDT (one tier: mmr 0.004, cum 0; close fee f 0.0006; policy mark): the price of
 * margin-call level l (l = 1 gives the liquidation price), from the header's formula
 *   (l*(M - s*Q*E) + cum) / (Q*(mmr + f - l*s)).
 * Real values are units / 1e8, so with l_u = l*1e8:
 *   price_units = l_u * (M*1e8 - s*Q*E) / (Q*(mmr_u + f_u - l_u*s)).
 * Long: rounded up, and 0 (none) when <= 0. Short: rounded down.
 * ETHUSD (inverse, the same tier, fee and policy): inv_level with r = 0.0046, cum 0. */
static int64_t eth_level(const shadow_pos *p, int64_t l)
{
    i128 num, den;
    if (S.inv)
        return inv_level(p, l, 400000 + 60000, 0);
    num = (i128)l * ((i128)p->margin * E8 - (i128)p->side * p->qty * p->entry);
    den = (i128)p->qty * (400000 + 60000 - (i128)l * p->side);
    if (den < 0) {
        num = -num;
        den = -den;
    }
    if (p->side == MARGIN_LONG) {
        i128 v = cdiv(num, den);
        return v <= 0 ? 0 : (int64_t)v;
    }
    return (int64_t)fdiv(num, den);
}

static int64_t eth_lp(const shadow_pos *p)
{
    return eth_level(p, E8);
}

/* ------------------------------------------------------------------ engine setup */
static void setup_engine(int w, int full_scan)
{
    margin_engine *e;
    ck_assert_int_eq(margin_engine_new(&S.e[w]), MARGIN_OK);
    e = S.e[w];
    REQ_OK(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    REQ((reng(e, MARGIN_ENG_FULL_SCAN)) == (full_scan), CTX "reng(e, MARGIN_ENG_FULL_SCAN) != full_scan", CTXA);
    for (int i = 0; i < NMKT; i++) {
        uint64_t id;
        REQ_OK(e, margin_market_new(e, S.mk[i].sym, &id));
        S.mkt[i] = id;
        if (S.inv) {
            /* the first market is made inverse while alone; the others take its type */
            int64_t c = -1;
            if (i == 0)
                REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
            REQ_OK(e, margin_market_get(e, id, MARGIN_MKT_CONTRACT, &c));
            REQ(c == MARGIN_CONTRACT_INVERSE, CTX "market %d is not inverse", CTXA, i);
            REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CONTRACT_SIZE, S.mk[i].csize));
        }
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_TICK, S.mk[i].tick));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_STEP, S.mk[i].step));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_TAKER_FEE, S.mk[i].taker));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_MM_BASIS, S.mk[i].basis));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CLOSE_FEE, S.mk[i].close_fee));
        if (S.inv)
            REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_MAKER_FEE, INV_MAKER));
        if (S.mk[i].tiers) {
            const int64_t(*tiers)[3] = S.inv ? BTC_TIERS_INV : BTC_TIERS;
            for (size_t t = 0; t < sizeof BTC_TIERS / sizeof BTC_TIERS[0]; t++)
                REQ_OK(e, margin_market_add_tier(e, id, tiers[t][0], tiers[t][1], tiers[t][2],
                                                 MARGIN_DERIVE));
        }
    }
    for (int i = 0; i < NACC; i++) {
        uint64_t id;
        REQ_OK(e, margin_account_new(e, &id));
        S.acct[i] = id;
    }
}

/* ------------------------------------------------------------------ operations */
enum {
    OP_MARK,
    OP_OPEN,
    OP_TRADE,
    OP_CLOSE,
    OP_ADD,
    OP_REMOVE,
    OP_STOPS,
    OP_LEVERAGE,
    OP_FUNDING,
    OP_DEPOSIT,
    OP_WITHDRAW,
    OP_LEVELS,
    OP_BAND,
};
static const char *const OPNAMES[] = {"mark",  "open",     "trade",   "close",
                                      "add",   "remove",   "stops",   "leverage",
                                      "funding", "deposit", "withdraw", "levels",
                                      "band"};

typedef struct {
    int type;
    int mi;
    uint64_t acct, pos;
    int32_t side;
    int64_t qty, price, lev, margin, amount, rate, stop, take;
    uint32_t flags;
    int64_t levels[8];
    size_t nlevels;
} op_t;

static int64_t cur_price(int mi)
{
    return S.mark[mi] ? S.mark[mi] : S.mk[mi].start;
}

/* A fill price near the mark, on the tick grid, > 0. */
static int64_t near_price(int mi)
{
    int64_t p = cur_price(mi), t = S.mk[mi].tick;
    int64_t span = p / 500; /* 0.2 % */
    p += rrange(-span, span);
    p = p / t * t;
    return p < t ? t : p;
}

static int64_t rand_qty(int mi)
{
    int64_t st = S.mk[mi].step, qmax = S.mk[mi].qmax;
    if (chance(5))
        qmax *= 6; /* big notionals reach the BTC tiers above 50,000 and 250,000 */
    return rrange(1, qmax / st) * st;
}

static int64_t rand_lev(void)
{
    static const int64_t LOW[] = {1, 2, 3, 5, 10}, MID[] = {15, 20, 25, 50},
                         HIGH[] = {75, 100, 125};
    int r = (int)rrange(0, 99);
    if (r < 15)
        return rrange(E8, 125 * E8); /* fractional leverage */
    if (r < 65)
        return LOW[rnext() % 5] * E8;
    if (r < 90)
        return MID[rnext() % 4] * E8;
    return HIGH[rnext() % 3] * E8;
}

/* Pick a position id: mostly open ones, sometimes any id ever created (closed ones give
 * MARGIN_ECLOSED), rarely an id that does not exist. */
static uint64_t pick_pos(void)
{
    if (S.nopen > 0 && chance(90))
        return S.open[rnext() % S.nopen];
    if (S.npos > 0 && chance(90))
        return (uint64_t)rrange(1, (int64_t)S.npos);
    return S.npos + 1 + (uint64_t)rrange(0, 3);
}

/* The inverse run's: ETHUSD exact (eth_level); BTCUSD the same formula with tier 0 (mmr
 * 0.004, cum 0, f 0), exact while N/P stays in that tier; SOLUSD (policy entry, f 0, MM
 * fixed at (N/E)*mmr): l*(M + s*N/E - s*N/P) = MM gives P = s*l*N/(l*M + s*l*N/E - MM),
 * in units s*l_u*n*e / (l_u*m*e + s*l_u*n - n*mmr_u). */
static int64_t inv_level_px(int mi, const shadow_pos *p, int64_t l)
{
    margin__wide num, den, t;
    i128 n;
    if (mi == 1)
        return eth_level(p, l);
    if (mi == 0)
        return inv_level(p, l, 400000, 0);
    n = inv_n(p, p->qty);
    wset(&num, n, (i128)p->side * l, p->entry);
    wset(&den, (i128)l * p->margin, p->entry, 1);
    wset(&t, n, (i128)p->side * l - 400000, 1);
    wadd(&den, &t);
    if (p->side == MARGIN_SHORT && margin__wide_sign(&den) >= 0)
        return INT64_MAX;
    return inv_price(&num, &den, p->side);
}

/* The inverse run's liquidation price of p, from the formulas, in every market:
 *  ETHUSD: eth_lp (one tier);
 *  SOLUSD: entry basis, MM = (N/E)*mmr fixed (f 0, cum 0): s*N/(M + s*N/E - MM), i.e.
 *          s*n*e / (m*e + s*n - n*mmr_u/1e8) scaled by 1e8, long up, short down; a
 *          denominator of the wrong sign (short >= 0) gives none (INT64_MAX);
 *  BTCUSD: the tier walk, modelled from its definition: the price lies where the balance
 *          meets the maintenance margin of the tier holding N/P there. With the derived
 *          amounts (cum_k = cum_(k-1) + floor_k*(mmr_k - mmr_(k-1))) the maintenance margin
 *          is the largest of the tier lines (N/P)*mmr_k - cum_k, and balance minus
 *          maintenance is monotonic in N/P, so exactly one tier's own price lies in that
 *          tier (floor_k <= floor(N/P) < floor_(k+1)). Returns 0 (no check) when rounding
 *          at a floor leaves none or more than one. */
static int inv_lp_model(int mi, const shadow_pos *p, int64_t *out)
{
    if (mi == 1) {
        *out = eth_lp(p);
        return 1;
    }
    if (mi == 2) {
        margin__wide num, den, t;
        i128 n = inv_n(p, p->qty);
        wset(&num, n, (i128)p->side * E8, p->entry);
        wset(&den, (i128)E8 * p->margin, p->entry, 1);
        wset(&t, n, (i128)p->side * E8 - 400000, 1);
        wadd(&den, &t);
        if (p->side == MARGIN_SHORT ? margin__wide_sign(&den) >= 0 : margin__wide_sign(&den) <= 0) {
            *out = INT64_MAX;
            return 1;
        }
        *out = inv_price(&num, &den, p->side);
        return 1;
    }
    {
        const size_t nt = sizeof BTC_TIERS_INV / sizeof BTC_TIERS_INV[0];
        int64_t cum = 0, found = 0;
        int nfound = 0;
        i128 n = inv_n(p, p->qty);
        for (size_t k = 0; k < nt; k++) {
            int64_t P;
            i128 v;
            if (k > 0)
                cum += to64((i128)BTC_TIERS_INV[k][0] *
                                (BTC_TIERS_INV[k][1] - BTC_TIERS_INV[k - 1][1]) / E8,
                            "cum");
            P = inv_level(p, E8, BTC_TIERS_INV[k][1], cum);
            if (P <= 0 || P == INT64_MAX)
                continue;
            v = n / P; /* floor(N/P) in money units */
            if (v >= BTC_TIERS_INV[k][0] && (k + 1 == nt || v < BTC_TIERS_INV[k + 1][0])) {
                found = P;
                nfound++;
            }
        }
        if (nfound == 1) {
            *out = found;
            return 1;
        }
        if (nfound == 0 && p->side == MARGIN_SHORT &&
            inv_level(p, E8, BTC_TIERS_INV[0][1], 0) == INT64_MAX) {
            *out = INT64_MAX; /* a short that no tier's price reaches: none */
            return 1;
        }
        S.lp_unchecked++;
        return 0;
    }
}

/* Where margin-call level l of position p lies, to aim marks at it. ETH is exact (see
 * eth_level); BTC uses the same formula with tier 0 (mmr 0.004, cum 0, f 0), exact while
 * Q*price stays in that tier; SOL (policy entry, f 0) uses E - s*(M - MM_e/l)/Q with
 * MM_e = Q*E*mmr, i.e. in units E - s*(M*1e8/Q - E*mmr_u/l_u), roughly rounded. */
static int64_t level_px(int mi, const shadow_pos *p, int64_t l)
{
    if (S.inv)
        return inv_level_px(mi, p, l);
    if (mi == 1)
        return eth_level(p, l);
    if (mi == 0) {
        i128 num = (i128)l * ((i128)p->margin * E8 - (i128)p->side * p->qty * p->entry);
        i128 den = (i128)p->qty * (400000 - (i128)l * p->side);
        if (den < 0) {
            num = -num;
            den = -den;
        }
        return p->side == MARGIN_LONG ? (int64_t)cdiv(num, den) : (int64_t)fdiv(num, den);
    }
    return (int64_t)((i128)p->entry - (i128)p->side * ((i128)p->margin * E8 / p->qty -
                                                       (i128)p->entry * 400000 / l));
}

/* A mark for market mi: mostly a random walk with occasional gaps; often aimed exactly at
 * (or one unit off) an open position's liquidation price, stop, take-profit or margin-call
 * level price; sometimes a wiggle of one or two units around the last mark, so that
 * sequences like level, level + 1 (re-arm), level (fire again) occur. */
static int64_t next_mark(int mi)
{
    int64_t p = cur_price(mi), lo = S.mk[mi].start / 3, hi = S.mk[mi].start * 3;
    int r = (int)rrange(0, 99);
    if (r < 14 && S.nopen > 0) {
        for (int tries = 0; tries < 8; tries++) {
            uint64_t id = S.open[rnext() % S.nopen];
            int64_t t;
            int kind = (int)rrange(0, 5);
            if (S.pos[id].mkt != S.mkt[mi])
                continue;
            if (kind <= 2 && S.nlevels > 0)
                t = level_px(mi, &S.pos[id], S.levels[rnext() % S.nlevels]);
            else
                t = get_pos(0, id,
                            kind == 3 ? MARGIN_POS_LIQ_PRICE
                                      : (kind == 4 ? MARGIN_POS_STOP_LOSS : MARGIN_POS_TAKE_PROFIT));
            if (t > 2 && t < INT64_MAX) /* (an inverse short may have none: INT64_MAX) */
                return t + rrange(-1, 1);
        }
    }
    if (r >= 14 && r < 30 && S.mark[mi] > 2) {
        int64_t d = rrange(1, 2);
        return chance(50) ? p + d : p - d;
    }
    if (r >= 30 && r < 33)
        p += p / 1000000 * rrange(-120000, 120000); /* gap up to 12 % */
    else
        p += p / 1000000 * rrange(-2500, 2500); /* 0.25 % */
    if (p < lo)
        p = lo + rrange(0, lo / 10);
    if (p > hi)
        p = hi - rrange(0, hi / 10);
    return p;
}

static void gen_op(op_t *op)
{
    int r = (int)rrange(0, 99);
    memset(op, 0, sizeof *op);
    op->mi = (int)rrange(0, NMKT - 1);
    op->acct = S.acct[rrange(0, NACC - 1)];
    if (r < 38)
        op->type = OP_MARK;
    else if (r < 56)
        op->type = S.nopen < 300 ? OP_OPEN : OP_CLOSE;
    else if (r < 64)
        op->type = OP_TRADE;
    else if (r < 67)
        op->type = OP_CLOSE;
    else if (r < 72)
        op->type = OP_ADD;
    else if (r < 77)
        op->type = OP_REMOVE;
    else if (r < 84)
        op->type = OP_STOPS;
    else if (r < 87)
        op->type = OP_LEVERAGE;
    else if (r < 92)
        op->type = OP_FUNDING;
    else if (r < 95)
        op->type = OP_DEPOSIT;
    else if (r < 98)
        op->type = OP_WITHDRAW;
    else
        op->type = OP_LEVELS;

    if (op->type != OP_MARK && op->type != OP_OPEN && op->type != OP_FUNDING &&
        op->type != OP_DEPOSIT && op->type != OP_WITHDRAW && op->type != OP_LEVELS) {
        op->pos = pick_pos();
        if (op->pos >= 1 && op->pos <= S.npos)
            op->mi = mkt_index(S.pos[op->pos].mkt);
    }

    switch (op->type) {
    case OP_MARK:
        op->price = next_mark(op->mi);
        break;
    case OP_OPEN:
        op->side = chance(50) ? MARGIN_LONG : MARGIN_SHORT;
        op->qty = rand_qty(op->mi);
        op->price = near_price(op->mi);
        op->lev = rand_lev();
        if (chance(15)) {
            /* margin only (leverage derived) or both (extra margin) */
            i128 notional = S.inv ? (i128)op->qty * S.mk[op->mi].csize / op->price /* N/P */
                                  : (i128)op->qty * op->price / E8;
            op->margin = (int64_t)(notional * rrange(1, 100) / 100) + 1;
            if (chance(50))
                op->lev = 0;
        }
        op->flags = chance(20) ? MARGIN_FLAG_MAKER : 0;
        break;
    case OP_TRADE:
        op->side = chance(50) ? MARGIN_LONG : MARGIN_SHORT;
        if (op->pos <= S.npos && S.pos[op->pos].open && chance(60)) {
            int64_t q = S.pos[op->pos].qty, st = S.mk[op->mi].step;
            int k = (int)rrange(0, 9);
            /* opposite side: reduce, exact close or flip */
            op->side = -S.pos[op->pos].side;
            if (k < 6)
                op->qty = q > st ? rrange(1, q / st - (q % st == 0)) * st : st;
            else if (k < 8)
                op->qty = q;
            else
                op->qty = q + rrange(1, S.mk[op->mi].qmax / st) * st;
        } else {
            op->qty = rand_qty(op->mi);
        }
        op->price = near_price(op->mi);
        op->flags = chance(20) ? MARGIN_FLAG_MAKER : 0;
        break;
    case OP_CLOSE:
        op->pos = pick_pos();
        if (op->pos <= S.npos && op->pos >= 1)
            op->mi = mkt_index(S.pos[op->pos].mkt);
        op->price = near_price(op->mi);
        op->flags = chance(20) ? MARGIN_FLAG_MAKER : 0;
        break;
    case OP_ADD:
        op->amount = rrange(1, 2000 * E8 / S.money_div);
        break;
    case OP_REMOVE:
        if (op->pos <= S.npos && S.pos[op->pos].open) {
            int64_t rm = 0;
            (void)margin_position_at(S.e[0], op->pos, MARGIN_AT_REMOVABLE_MARGIN, 0, &rm);
            op->amount = rm > 0 ? rrange(1, rm + rm / 5 + 1) : rrange(1, 100 * E8 / S.money_div);
            if (rm > 0 && chance(10))
                op->amount = rm; /* exactly the removable margin */
        } else {
            op->amount = rrange(1, 100 * E8 / S.money_div);
        }
        break;
    case OP_STOPS: {
        int64_t p = cur_price(op->mi);
        int32_t s = (op->pos <= S.npos && S.pos[op->pos].known) ? S.pos[op->pos].side : 1;
        int64_t ds = p / 1000000 * rrange(2000, 80000), dt = p / 1000000 * rrange(2000, 80000);
        if (chance(10))
            ds = -ds; /* already crossed: fires at the next mark update */
        op->stop = chance(75) ? p - s * ds : 0;
        op->take = chance(60) ? p + s * dt : 0;
        if (op->stop < 0)
            op->stop = 0;
        if (op->take < 0)
            op->take = 0;
        break;
    }
    case OP_LEVERAGE:
        op->lev = rand_lev();
        break;
    case OP_FUNDING:
        op->rate = chance(4) ? rrange(500000, 5000000) : rrange(0, 50000); /* 0.5-5 % or < 0.05 % */
        if (chance(50))
            op->rate = -op->rate;
        op->price = chance(50) ? cur_price(op->mi) : next_mark(op->mi);
        break;
    case OP_DEPOSIT:
        op->amount = rrange(1, 20000 * E8 / S.money_div);
        break;
    case OP_WITHDRAW:
        op->amount = rrange(1, 60000 * E8 / S.money_div);
        break;
    case OP_LEVELS:
        if (chance(40)) {
            /* a margin-call re-arm band instead (issue 10): none, or up to 0.5, so that
             * some levels (0.3 and up) re-arm at L - B <= 0, i.e. never */
            op->type = OP_BAND;
            op->rate = chance(25) ? 0 : rrange(1, 50000000);
            break;
        }
        op->nlevels = (size_t)rrange(0, 3);
        for (size_t i = 0; i < op->nlevels; i++) {
            int dup;
            do {
                op->levels[i] = rrange(30000000, 99000000); /* 0.3 to 0.99, distinct */
                dup = 0;
                for (size_t j = 0; j < i; j++)
                    dup |= op->levels[j] == op->levels[i];
            } while (dup);
        }
        break;
    }
}

/* Apply op to engine w; returns the status; *new_id receives an opened id. */
static int apply(int w, const op_t *op, uint64_t *new_id)
{
    margin_engine *e = S.e[w];
    uint64_t m = S.mkt[op->mi];
    switch (op->type) {
    case OP_MARK:
        return margin_mark_update(e, m, op->price);
    case OP_OPEN:
        return margin_position_open(e, op->acct, m, op->side, op->qty, op->price, op->lev,
                                    op->margin, op->flags, new_id);
    case OP_TRADE:
        return margin_position_trade(e, op->pos, op->side, op->qty, op->price, op->flags);
    case OP_CLOSE:
        return margin_position_close(e, op->pos, op->price, op->flags);
    case OP_ADD:
        return margin_position_add_margin(e, op->pos, op->amount);
    case OP_REMOVE:
        return margin_position_remove_margin(e, op->pos, op->amount);
    case OP_STOPS:
        return margin_position_set_stops(e, op->pos, op->stop, op->take);
    case OP_LEVERAGE:
        return margin_position_set_leverage(e, op->pos, op->lev);
    case OP_FUNDING:
        return margin_funding_apply(e, m, op->rate, op->price);
    case OP_DEPOSIT:
        return margin_account_deposit(e, op->acct, op->amount);
    case OP_WITHDRAW:
        return margin_account_withdraw(e, op->acct, op->amount);
    case OP_LEVELS:
        return margin_engine_set_margin_call_levels(e, op->levels, op->nlevels);
    case OP_BAND:
        return margin_engine_set(e, MARGIN_ENG_REARM_BAND, op->rate);
    }
    return MARGIN_EINVAL;
}

/* ------------------------------------------------------------------ comparisons */
static size_t drain_w(int w)
{
    size_t n = 0;
    for (;;) {
        int32_t t = -1;
        REQ_OK(S.e[w], margin_event_next(S.e[w], &t));
        if (t == MARGIN_EV_NONE)
            break;
        REQ(n < MAXEV, CTX "too many events", CTXA);
        for (int32_t k = 1; k < NF; k++)
            REQ_OK(S.e[w], margin_event_get(S.e[w], k, &S.ev[w][n].f[k]));
        S.ev[w][n].f[0] = 0;
        n++;
    }
    return n;
}

static void compare_position(uint64_t id)
{
    for (int32_t k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_LIQ_PRICE; k++) {
        int64_t a = 0, b = 0;
        int ra = margin_position_get(S.e[0], id, k, &a);
        int rb = margin_position_get(S.e[1], id, k, &b);
        REQ(ra == rb && a == b,
                      CTX "position %" PRIu64 " key %d: full scan %lld (rc %d), indexed %lld (rc %d)",
                      CTXA, id, k, (long long)a, ra, (long long)b, rb);
    }
}

static void compare_all(int all_positions)
{
    for (int i = 0; i < NACC; i++)
        for (int32_t k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_OPEN_POSITIONS; k++) {
            int64_t a = racct(S.e[0], S.acct[i], k), b = racct(S.e[1], S.acct[i], k);
            REQ(a == b, CTX "account %" PRIu64 " key %d: %lld vs %lld", CTXA, S.acct[i],
                          k, (long long)a, (long long)b);
        }
    for (int32_t k = MARGIN_ENG_INSURANCE_FUND; k <= MARGIN_ENG_LIQUIDATIONS; k++) {
        int64_t a = reng(S.e[0], k), b = reng(S.e[1], k);
        REQ(a == b, CTX "engine key %d: %lld vs %lld", CTXA, k, (long long)a,
                      (long long)b);
    }
    for (int i = 0; i < NMKT; i++) {
        int32_t keys[2] = {MARGIN_MKT_MARK, MARGIN_MKT_OPEN_POSITIONS};
        for (int j = 0; j < 2; j++) {
            int64_t a = -1, b = -2;
            REQ_OK(S.e[0], margin_market_get(S.e[0], S.mkt[i], keys[j], &a));
            REQ_OK(S.e[1], margin_market_get(S.e[1], S.mkt[i], keys[j], &b));
            REQ(a == b, CTX "market %d key %d: %lld vs %lld", CTXA, i, keys[j],
                          (long long)a, (long long)b);
        }
    }
    if (all_positions)
        for (uint64_t id = 1; id <= S.npos; id++)
            compare_position(id);
}

/* Money identities for engine w (see the file comment). */
static void check_money(int w)
{
    margin_engine *e = S.e[w];
    int64_t dep = 0, wd = 0, fee = 0, fund = 0, pnl = 0, free_iso = 0, iso = 0, iso_shadow = 0;
    int64_t ins = reng(e, MARGIN_ENG_INSURANCE_FUND);
    for (int i = 0; i < NACC; i++) {
        rconserved(e, S.acct[i]);
        dep += racct(e, S.acct[i], MARGIN_ACCT_DEPOSITS);
        wd += racct(e, S.acct[i], MARGIN_ACCT_WITHDRAWALS);
        fee += racct(e, S.acct[i], MARGIN_ACCT_FEES);
        fund += racct(e, S.acct[i], MARGIN_ACCT_FUNDING);
        pnl += racct(e, S.acct[i], MARGIN_ACCT_REALIZED_PNL);
        iso += racct(e, S.acct[i], MARGIN_ACCT_ISOLATED_MARGIN);
        free_iso += racct(e, S.acct[i], MARGIN_ACCT_FREE_BALANCE) +
                    racct(e, S.acct[i], MARGIN_ACCT_ISOLATED_MARGIN);
    }
    for (size_t i = 0; i < S.nopen; i++)
        iso_shadow += S.pos[S.open[i]].margin;
    REQ(dep == S.sums.dep, CTX "deposits %lld != events %lld", CTXA, (long long)dep,
                  (long long)S.sums.dep);
    REQ(wd == S.sums.wd, CTX "withdrawals %lld != events %lld", CTXA, (long long)wd,
                  (long long)S.sums.wd);
    REQ(fee == S.sums.fee, CTX "fees %lld != events %lld", CTXA, (long long)fee,
                  (long long)S.sums.fee);
    REQ(fund == S.sums.fund, CTX "funding %lld != events %lld", CTXA, (long long)fund,
                  (long long)S.sums.fund);
    REQ(pnl == S.sums.pnl, CTX "realized %lld != events %lld", CTXA, (long long)pnl,
                  (long long)S.sums.pnl);
    REQ(ins == S.sums.ins, CTX "insurance fund %lld != events %lld", CTXA,
                  (long long)ins, (long long)S.sums.ins);
    REQ(iso == iso_shadow, CTX "isolated %lld != margins rebuilt from events %lld", CTXA,
                  (long long)iso, (long long)iso_shadow);
    REQ(free_iso + ins == S.sums.dep - S.sums.wd - S.sums.fee + S.sums.fund +
                                        (S.sums.pnl + S.sums.ins),
                  CTX "global money identity broken (engine %d)", CTXA, w);
    REQ((reng(e, MARGIN_ENG_OPEN_POSITIONS)) == ((int64_t)S.nopen), CTX "reng(e, MARGIN_ENG_OPEN_POSITIONS) != (int64_t)S.nopen", CTXA);
}

/* The inverse run: a liquidation price the engine reports for p against inv_lp_model. */
static void check_inv_lp(int mi, const shadow_pos *p, int64_t lp, const char *when)
{
    int64_t want = 0;
    if (!inv_lp_model(mi, p, &want))
        return;
    S.lp_checked++;
    REQ(lp == want,
        CTX "%s position (market %d, side %d, qty %lld, entry %lld, margin %lld): LP %lld, "
            "formula %lld (%s)",
        CTXA, S.mk[mi].sym, mi, (int)p->side, (long long)p->qty, (long long)p->entry,
        (long long)p->margin, (long long)lp, (long long)want, when);
}

/* After a mark update / funding on market mi at mark P: nothing left past a trigger. */
static void check_triggers_cleared(int mi, int64_t P)
{
    for (size_t i = 0; i < S.nopen; i++) {
        uint64_t id = S.open[i];
        const shadow_pos *p = &S.pos[id];
        if (p->mkt != S.mkt[mi])
            continue;
        for (int w = 0; w < 2; w++) {
            int64_t lp = get_pos(w, id, MARGIN_POS_LIQ_PRICE);
            int64_t sl = get_pos(w, id, MARGIN_POS_STOP_LOSS);
            int64_t tp = get_pos(w, id, MARGIN_POS_TAKE_PROFIT);
            REQ(get_pos(w, id, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN,
                          CTX "position %" PRIu64 " not open", CTXA, id);
            REQ(get_pos(w, id, MARGIN_POS_QTY) == p->qty &&
                              get_pos(w, id, MARGIN_POS_MARGIN) == p->margin &&
                              get_pos(w, id, MARGIN_POS_ENTRY_PRICE) == p->entry &&
                              get_pos(w, id, MARGIN_POS_SIDE) == p->side,
                          CTX "position %" PRIu64 " differs from its event history", CTXA, id);
            if (p->side == MARGIN_LONG) {
                REQ(lp == 0 || P > lp,
                              CTX "long %" PRIu64 " left open at mark %lld <= LP %lld (engine %d)",
                              CTXA, id, (long long)P, (long long)lp, w);
                REQ(sl == 0 || P > sl, CTX "long %" PRIu64 " stop %lld not fired at %lld",
                              CTXA, id, (long long)sl, (long long)P);
                REQ(tp == 0 || P < tp, CTX "long %" PRIu64 " take %lld not fired at %lld",
                              CTXA, id, (long long)tp, (long long)P);
            } else {
                REQ(lp > 0 && P < lp,
                              CTX "short %" PRIu64 " left open at mark %lld >= LP %lld (engine %d)",
                              CTXA, id, (long long)P, (long long)lp, w);
                REQ(sl == 0 || P < sl, CTX "short %" PRIu64 " stop %lld not fired at %lld",
                              CTXA, id, (long long)sl, (long long)P);
                REQ(tp == 0 || P > tp, CTX "short %" PRIu64 " take %lld not fired at %lld",
                              CTXA, id, (long long)tp, (long long)P);
            }
            if (S.inv)
                check_inv_lp(mi, p, lp, "after the mark");
            else if (mi == 1)
                REQ(lp == eth_lp(p),
                              CTX "ETH position %" PRIu64 " LP %lld, formula gives %lld", CTXA, id,
                              (long long)lp, (long long)eth_lp(p));
        }
    }
}

/* ETHUSDT margin calls, modelled independently: after a mark update (or funding) at P,
 * for every ETH position still open, in id order, and every level l in increasing order:
 * with k = eth_level(p, l) (current margin, after any funding), the level is hit when
 * (long) P <= k, (short) P >= k; a hit level that was not fired fires (one event), a level
 * not hit re-arms. Positions closed by this update get no margin call (precedence). The
 * margin-call events of this step for ETH positions must be exactly that list. */
static void check_eth_margin_calls(size_t n, int64_t P)
{
    uint64_t want_pos[64], got_pos[64];
    int64_t want_lvl[64], got_lvl[64];
    size_t nw = 0, ng = 0, order[8];
    for (size_t i = 0; i < S.nlevels; i++) { /* levels in increasing order */
        size_t j = i;
        while (j > 0 && S.levels[order[j - 1]] > S.levels[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (uint64_t id = 1; id <= S.npos; id++) {
        shadow_pos *p = &S.pos[id];
        if (!p->open || p->mkt != S.mkt[1])
            continue;
        for (size_t oi = 0; oi < S.nlevels; oi++) {
            size_t i = order[oi];
            int64_t k = eth_level(p, S.levels[i]);
            int hit = p->side == MARGIN_LONG ? (k > 0 && P <= k) : P >= k;
            if (!(p->fired & (1u << i))) {
                if (hit) {
                    REQ(nw < 64, CTX "too many margin calls", CTXA);
                    want_pos[nw] = id;
                    want_lvl[nw++] = S.levels[i];
                    p->fired |= 1u << i;
                }
            } else {
                /* a fired level re-arms once the ratio is below L - band: past the price
                 * of level L - band (never when L - band <= 0) */
                int held = 1;
                if (S.levels[i] > S.band) {
                    int64_t kr = eth_level(p, S.levels[i] - S.band);
                    held = p->side == MARGIN_LONG ? (kr > 0 && P <= kr) : P >= kr;
                }
                if (!held)
                    p->fired &= ~(1u << i);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const rev_t *v = &S.ev[0][i];
        if (v->f[MARGIN_EVF_TYPE] != MARGIN_EV_MARGIN_CALL ||
            (uint64_t)v->f[MARGIN_EVF_MARKET] != S.mkt[1])
            continue;
        REQ(ng < 64, CTX "too many margin calls", CTXA);
        got_pos[ng] = (uint64_t)v->f[MARGIN_EVF_POSITION];
        got_lvl[ng++] = v->f[MARGIN_EVF_LEVEL];
    }
    REQ(ng == nw, CTX "ETH margin calls: %zu events, the model expects %zu (first expected: "
                      "position %" PRIu64 " level %lld; first got: position %" PRIu64 " level %lld)",
        CTXA, ng, nw, nw ? want_pos[0] : 0, nw ? (long long)want_lvl[0] : 0LL,
        ng ? got_pos[0] : 0, ng ? (long long)got_lvl[0] : 0LL);
    S.eth_calls += (int)nw;
    for (size_t i = 0; i < nw; i++)
        REQ(got_pos[i] == want_pos[i] && got_lvl[i] == want_lvl[i],
            CTX "ETH margin call %zu: got position %" PRIu64 " level %lld, model position %" PRIu64
                " level %lld",
            CTXA, i, got_pos[i], (long long)got_lvl[i], want_pos[i], (long long)want_lvl[i]);
}

/* Check one closing event against the shadow position before it. */
static void check_fill(const rev_t *v, const shadow_pos *p, int64_t taker)
{
    int64_t t = v->f[MARGIN_EVF_TYPE], price = v->f[MARGIN_EVF_PRICE], q = v->f[MARGIN_EVF_QTY];
    int64_t x = v->f[MARGIN_EVF_REALIZED_PNL] + v->f[MARGIN_EVF_INSURANCE_DELTA];
    REQ(p->known && p->open, CTX "closing event for unknown position", CTXA);
    REQ(x == market_pnl(p, q, price),
                  CTX "event type %lld pos %lld: realized %lld + insurance %lld != "
                      "%s %lld (s %d q %lld fill %lld E %lld)",
                  CTXA, (long long)t, (long long)v->f[MARGIN_EVF_POSITION],
                  (long long)v->f[MARGIN_EVF_REALIZED_PNL],
                  (long long)v->f[MARGIN_EVF_INSURANCE_DELTA],
                  S.inv ? "floor(s*N*(1/E - 1/fill))" : "floor(s*q*(fill-E))",
                  (long long)market_pnl(p, q, price),
                  (int)p->side, (long long)q, (long long)price, (long long)p->entry);
    if (t == MARGIN_EV_REDUCE)
        return;
    REQ(q == p->qty, CTX "closed qty %lld != position qty %lld", CTXA, (long long)q,
                  (long long)p->qty);
    if (t == MARGIN_EV_LIQUIDATION) {
        int64_t lp = v->f[MARGIN_EVF_LIQ_PRICE];
        i128 mq = (i128)p->margin * E8; /* M/Q in price units = M*1e8/Q */
        int64_t bp = p->side == MARGIN_LONG ? (int64_t)((i128)p->entry - fdiv(mq, p->qty))
                                            : (int64_t)((i128)p->entry + fdiv(mq, p->qty));
        if (p->side == MARGIN_LONG && bp < 0)
            bp = 0;
        if (S.inv) {
            /* N/(N/E + s*M); and the liquidation price from its formula */
            bp = inv_bankruptcy(p);
            check_inv_lp(mkt_index(p->mkt), p, lp, "liquidated");
        }
        REQ(v->f[MARGIN_EVF_REALIZED_PNL] == -p->margin,
                      CTX "liquidation PnL %lld != -margin %lld", CTXA,
                      (long long)v->f[MARGIN_EVF_REALIZED_PNL], (long long)p->margin);
        REQ(p->side == MARGIN_LONG ? price <= lp : price >= lp,
                      CTX "liquidated at %lld on the wrong side of LP %lld", CTXA, (long long)price,
                      (long long)lp);
        REQ(v->f[MARGIN_EVF_BANKRUPTCY_PRICE] == bp,
                      CTX "bankruptcy price %lld, formula %lld", CTXA,
                      (long long)v->f[MARGIN_EVF_BANKRUPTCY_PRICE], (long long)bp);
        REQ((v->f[MARGIN_EVF_FEE]) == (0), CTX "v->f[MARGIN_EVF_FEE] != 0", CTXA);
    } else if (t == MARGIN_EV_STOP_LOSS || t == MARGIN_EV_TAKE_PROFIT) {
        /* closes at the triggering mark with the taker fee taker*q*price (scale 8+8+8),
         * rounded up to money (scale 8) */
        int64_t fee = (int64_t)cdiv((i128)q * price * taker, (i128)E8 * E8);
        if (S.inv) /* taker*N/P: n*taker/(P*1e8), rounded up */
            fee = muldiv(inv_n(p, q), taker, price, E8, MARGIN_ROUND_CEIL, "inverse fee");
        REQ(v->f[MARGIN_EVF_FEE] == fee, CTX "stop/take fee %lld, expected %lld", CTXA,
                      (long long)v->f[MARGIN_EVF_FEE], (long long)fee);
        if (p->stops_known) {
            int64_t trig = t == MARGIN_EV_STOP_LOSS ? p->stop : p->take;
            int below = (t == MARGIN_EV_STOP_LOSS) == (p->side == MARGIN_LONG);
            REQ(trig != 0 && (below ? price <= trig : price >= trig),
                          CTX "stop/take fired at %lld with trigger %lld", CTXA, (long long)price,
                          (long long)trig);
        }
    }
}

/* The inverse run: the figures of one position event from the formulas, with p the shadow
 * before the event and op the operation that made it (N: the event's contracts x size,
 * P: its price, L: the position's leverage):
 *  fees of opens, increases and reductions r*N/P rounded up (r: the maker fee for a maker
 *    fill, else the taker's); of a close at most that (a close's fee is cut to what the
 *    free balance leaves);
 *  the leverage given, or from the margin alone (N/E)/M rounded up; the margin of an
 *    opening given, or N/(E*L) rounded up (a flip's reopened side: at the old leverage);
 *  an increase adds N/(P*L) rounded up at the same leverage and moves the entry to the
 *    harmonic mean (Q1 + Q2)*E1*E2 / (Q1*E2 + Q2*E1), long rounded up, short down;
 *  a leverage change moves the margin by N/(E*L_new) - N/(E*L_old), each rounded up;
 *  funding to the holder -s*(N/P)*rate rounded down (P the funding mark), never more than
 *    the margin out of it. */
static void check_inv_event(const rev_t *v, const shadow_pos *p, const op_t *op)
{
    int64_t t = v->f[MARGIN_EVF_TYPE], P = v->f[MARGIN_EVF_PRICE], q = v->f[MARGIN_EVF_QTY];
    int64_t amount = v->f[MARGIN_EVF_AMOUNT], lev = v->f[MARGIN_EVF_LEVERAGE];
    int mi = mkt_index((uint64_t)v->f[MARGIN_EVF_MARKET]);
    int64_t rate = (op->flags & MARGIN_FLAG_MAKER) ? INV_MAKER : S.mk[mi].taker;
    i128 n = (i128)q * S.mk[mi].csize;
    int trade = op->type == OP_OPEN || op->type == OP_TRADE || op->type == OP_CLOSE;
    S.inv_checks++;
    if (trade && (t == MARGIN_EV_OPEN || t == MARGIN_EV_INCREASE || t == MARGIN_EV_REDUCE ||
                  t == MARGIN_EV_CLOSE)) {
        int64_t fee = muldiv(n, rate, P, E8, MARGIN_ROUND_CEIL, "fee");
        REQ(t == MARGIN_EV_CLOSE ? v->f[MARGIN_EVF_FEE] <= fee : v->f[MARGIN_EVF_FEE] == fee,
            CTX "event type %lld: fee %lld, r*N/P rounded up %lld", CTXA, (long long)t,
            (long long)v->f[MARGIN_EVF_FEE], (long long)fee);
    }
    if (t == MARGIN_EV_OPEN) {
        int64_t want_lev, im;
        if (op->type == OP_OPEN)
            want_lev = op->lev ? op->lev
                               : muldiv(n, E8, P, op->margin, MARGIN_ROUND_CEIL, "leverage");
        else
            want_lev = p->lev; /* a flip reopens at the leverage it had */
        REQ(lev == want_lev, CTX "open: leverage %lld, expected %lld", CTXA, (long long)lev,
            (long long)want_lev);
        im = muldiv(n, E8, P, lev, MARGIN_ROUND_CEIL, "initial margin");
        if (op->type == OP_OPEN && op->margin > 0)
            im = op->margin;
        REQ(amount == im, CTX "open: margin %lld, expected %lld", CTXA, (long long)amount,
            (long long)im);
    } else if (t == MARGIN_EV_INCREASE) {
        margin__wide num, den, x;
        i128 e2 = 0;
        int64_t add = muldiv(n, E8, P, p->lev, MARGIN_ROUND_CEIL, "added margin");
        REQ(lev == p->lev && amount == add,
            CTX "increase: leverage %lld (was %lld), margin added %lld, N/(P*L) up %lld", CTXA,
            (long long)lev, (long long)p->lev, (long long)amount, (long long)add);
        wset(&num, (i128)p->qty + q, p->entry, P);
        wset(&den, p->qty, P, 1);
        wset(&x, q, p->entry, 1);
        wadd(&den, &x);
        REQ(margin__wide_div(&num, &den,
                             p->side == MARGIN_LONG ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR,
                             &e2) == MARGIN_OK,
            CTX "harmonic entry: no quotient", CTXA);
        REQ(v->f[MARGIN_EVF_ENTRY_PRICE] == e2,
            CTX "increase of %lld at %lld on %lld at %lld (side %d): entry %lld, harmonic %lld",
            CTXA, (long long)q, (long long)P, (long long)p->qty, (long long)p->entry,
            (int)p->side, (long long)v->f[MARGIN_EVF_ENTRY_PRICE], (long long)(int64_t)e2);
    } else if (t == MARGIN_EV_LEVERAGE) {
        i128 nq = inv_n(p, p->qty);
        int64_t d = muldiv(nq, E8, p->entry, op->lev, MARGIN_ROUND_CEIL, "new initial margin") -
                    muldiv(nq, E8, p->entry, p->lev, MARGIN_ROUND_CEIL, "old initial margin");
        REQ(op->type == OP_LEVERAGE && lev == op->lev && amount == d,
            CTX "leverage %lld -> %lld (event %lld): margin moved %lld, expected %lld", CTXA,
            (long long)p->lev, (long long)op->lev, (long long)lev, (long long)amount,
            (long long)d);
    } else if (t == MARGIN_EV_FUNDING) {
        int64_t flow = muldiv(-(i128)p->side * inv_n(p, p->qty), op->rate, op->price, E8,
                              MARGIN_ROUND_FLOOR, "funding");
        if (flow < -p->margin)
            flow = -p->margin;
        REQ(P == op->price && amount == flow,
            CTX "funding at %lld, rate %lld, side %d, qty %lld, margin %lld: %lld, expected %lld",
            CTXA, (long long)op->price, (long long)op->rate, (int)p->side, (long long)p->qty,
            (long long)p->margin, (long long)amount, (long long)flow);
    }
}

/* Feed the events of one step through the shadow and its checks. */
static void process_events(size_t n, const op_t *op)
{
    uint64_t last_trigger_pos = 0;
    int in_triggers = 0;
    for (size_t i = 0; i < n; i++) {
        const rev_t *v = &S.ev[0][i];
        int64_t t = v->f[MARGIN_EVF_TYPE];
        uint64_t id = (uint64_t)v->f[MARGIN_EVF_POSITION];
        shadow_pos *p = id < MAXPOS ? &S.pos[id] : NULL;
        REQ(v->f[MARGIN_EVF_TIME] == S.step, CTX "event time %lld", CTXA,
                      (long long)v->f[MARGIN_EVF_TIME]);
        if (i > 0)
            REQ(v->f[MARGIN_EVF_SEQ] == S.ev[0][i - 1].f[MARGIN_EVF_SEQ] + 1,
                          CTX "sequence gap", CTXA);
        S.sums.fee += v->f[MARGIN_EVF_FEE];
        S.sums.pnl += v->f[MARGIN_EVF_REALIZED_PNL];
        S.sums.ins += v->f[MARGIN_EVF_INSURANCE_DELTA];
        if (t == MARGIN_EV_DEPOSIT) {
            S.sums.dep += v->f[MARGIN_EVF_AMOUNT];
            continue;
        }
        if (t == MARGIN_EV_WITHDRAW) {
            S.sums.wd += v->f[MARGIN_EVF_AMOUNT];
            continue;
        }
        REQ(p != NULL && id >= 1, CTX "event without a position", CTXA);
        if (S.inv)
            check_inv_event(v, p, op);
        /* within a mark update or funding: triggers in position-id order */
        if (t == MARGIN_EV_MARGIN_CALL || t == MARGIN_EV_LIQUIDATION || t == MARGIN_EV_STOP_LOSS ||
            t == MARGIN_EV_TAKE_PROFIT) {
            REQ(op->type == OP_MARK || op->type == OP_FUNDING,
                          CTX "trigger event type %lld outside a mark update", CTXA, (long long)t);
            REQ(!in_triggers || id >= last_trigger_pos,
                          CTX "trigger events out of position order (%" PRIu64 " after %" PRIu64 ")",
                          CTXA, id, last_trigger_pos);
            in_triggers = 1;
            last_trigger_pos = id;
            REQ(v->f[MARGIN_EVF_PRICE] == op->price, CTX "trigger at %lld, mark %lld",
                          CTXA, (long long)v->f[MARGIN_EVF_PRICE], (long long)op->price);
        } else if (t == MARGIN_EV_FUNDING) {

            REQ(!in_triggers, CTX "funding event after a trigger event", CTXA);
            REQ(i == 0 || S.ev[0][i - 1].f[MARGIN_EVF_POSITION] < (int64_t)id,
                          CTX "funding events out of position order", CTXA);
        }
        switch (t) {
        case MARGIN_EV_OPEN:
            if (p->known && p->open) { /* a flip reopens the same id after its CLOSE */
                ck_abort_msg(CTX "OPEN for a position still open", CTXA);
            }
            if (!p->known) {
                REQ((id) == (S.npos + 1), CTX "id != S.npos + 1", CTXA);
                S.npos = id;
                p->stops_known = 1;
                p->stop = p->take = 0;
            } else {
                p->stops_known = 0; /* a flip: whether stops survive is not specified */
            }
            p->known = 1;
            p->open = 1;
            p->fired = 0;
            p->acct = (uint64_t)v->f[MARGIN_EVF_ACCOUNT];
            p->mkt = (uint64_t)v->f[MARGIN_EVF_MARKET];
            p->side = (int32_t)v->f[MARGIN_EVF_SIDE];
            p->margin = 0;
            open_add(id);
            break;
        case MARGIN_EV_INCREASE:
        case MARGIN_EV_MARGIN_ADD:
        case MARGIN_EV_MARGIN_REMOVE:
        case MARGIN_EV_LEVERAGE:
        case MARGIN_EV_FUNDING:
        case MARGIN_EV_MARGIN_CALL:
            REQ(p->known && p->open, CTX "event type %lld for a closed position", CTXA,
                          (long long)t);
            break;
        case MARGIN_EV_REDUCE:
            check_fill(v, p, 0);
            break;
        case MARGIN_EV_CLOSE:
        case MARGIN_EV_LIQUIDATION:
        case MARGIN_EV_STOP_LOSS:
        case MARGIN_EV_TAKE_PROFIT:
            check_fill(v, p, S.mk[mkt_index(p->mkt)].taker);
            p->open = 0;
            open_del(id);
            break;
        default:
            ck_abort_msg(CTX "unknown event type %lld", CTXA, (long long)t);
        }
        if (t == MARGIN_EV_FUNDING)
            S.sums.fund += v->f[MARGIN_EVF_AMOUNT];
        if (t == MARGIN_EV_MARGIN_CALL) {
            int found = 0;
            for (size_t k = 0; k < S.nlevels; k++)
                found |= S.levels[k] == v->f[MARGIN_EVF_LEVEL];
            REQ(found, CTX "margin call at an unset level %lld", CTXA,
                          (long long)v->f[MARGIN_EVF_LEVEL]);
        }
        /* margin: the signed AMOUNT of every margin-moving event; 0 once closed */
        if (p->open) {
            if (t != MARGIN_EV_MARGIN_CALL)
                p->margin += v->f[MARGIN_EVF_AMOUNT];
            REQ(p->margin == v->f[MARGIN_EVF_MARGIN],
                          CTX "event type %lld: margin rebuilt %lld, event %lld", CTXA,
                          (long long)t, (long long)p->margin, (long long)v->f[MARGIN_EVF_MARGIN]);
            p->qty = v->f[MARGIN_EVF_POSITION_QTY];
            p->entry = v->f[MARGIN_EVF_ENTRY_PRICE];
            p->lev = v->f[MARGIN_EVF_LEVERAGE];
            if (S.inv) /* the liquidation price after every event */
                check_inv_lp(mkt_index(p->mkt), p, v->f[MARGIN_EVF_LIQ_PRICE], "after the event");
            REQ((p->side) == (v->f[MARGIN_EVF_SIDE]), CTX "p->side != v->f[MARGIN_EVF_SIDE]", CTXA);
        } else {
            p->margin = 0;
            REQ((v->f[MARGIN_EVF_MARGIN]) == (0), CTX "v->f[MARGIN_EVF_MARGIN] != 0", CTXA);
            REQ((v->f[MARGIN_EVF_POSITION_QTY]) == (0), CTX "v->f[MARGIN_EVF_POSITION_QTY] != 0", CTXA);
        }
    }
}

static int events_equal(size_t n0, size_t n1)
{
    if (n0 != n1)
        return 0;
    for (size_t i = 0; i < n0; i++)
        if (memcmp(S.ev[0][i].f, S.ev[1][i].f, sizeof S.ev[0][i].f) != 0)
            return 0;
    return 1;
}

/* On a mismatch between the engines, print the operation and both event lists. */
static void dump_step(const op_t *op, size_t n0, size_t n1)
{
    fprintf(stderr,
            "seed %" PRIu64 " step %d: op %s market %d pos %" PRIu64 " side %d qty %lld price "
            "%lld lev %lld margin %lld amount %lld rate %lld stop %lld take %lld\n",
            S.seed, S.step, OPNAMES[op->type], op->mi, op->pos, (int)op->side,
            (long long)op->qty, (long long)op->price, (long long)op->lev, (long long)op->margin,
            (long long)op->amount, (long long)op->rate, (long long)op->stop, (long long)op->take);
    for (int w = 0; w < 2; w++) {
        size_t n = w ? n1 : n0;
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, "  %s event %zu:", w ? "indexed  " : "full scan", i);
            for (int k = 1; k < NF; k++)
                fprintf(stderr, " %lld", (long long)S.ev[w][i].f[k]);
            fprintf(stderr, "\n");
        }
    }
}

/* ------------------------------------------------------------------ save / load / continue
 * (issue 12). About one step in 500, right after an operation and before its events are
 * taken, the indexed engine is saved and loaded into a fresh engine, its twin (its queue
 * holds that step's events). For the next 12 steps the twin gets the same operations: the
 * same status and new id, the same events field by field, the same state hash (every
 * fourth step) and identical snapshot bytes at the end; then the twin replaces the indexed
 * engine for the rest of the run, so the suite's later checks run on a restored engine. */
#define TWIN_ONE_IN 500
#define TWIN_STEPS 12

#define twin_ctx() su_ctx(S.seed, S.step, S.opname)

static int twin_call(margin_engine *twin, const void *op, uint64_t *id)
{
    S.e[2] = twin;
    return apply(2, op, id);
}

static void run(uint64_t seed, int nops, int inv)
{
    memset(&S, 0, sizeof S);
    S.inv = inv;
    S.mk = inv ? MKI : MK;
    S.money_div = inv ? INV_MONEY_DIV : 1;
    S.seed = seed;
    rng_state = seed;
    S.tw.rng = seed ^ 0x7A1A5EEDULL;
    S.opname = "setup";
    setup_engine(0, 1);
    setup_engine(1, 0);
    S.levels[0] = 80000000;
    S.levels[1] = 90000000;
    S.nlevels = 2;
    for (int w = 0; w < 2; w++) {
        REQ_OK(S.e[w], margin_engine_set_margin_call_levels(S.e[w], S.levels, 2));
        for (int i = 0; i < NACC; i++)
            REQ_OK(S.e[w], margin_account_deposit(S.e[w], S.acct[i], 2000000 * E8 / S.money_div));
    }
    S.step = 0;
    {
        op_t dummy;
        size_t n0, n1;
        memset(&dummy, 0, sizeof dummy);
        dummy.type = OP_DEPOSIT;
        n0 = drain_w(0);
        n1 = drain_w(1);
        REQ((n0) == (n1), CTX "n0 != n1", CTXA);
        process_events(n0, &dummy);
    }

    for (S.step = 1; S.step <= nops; S.step++) {
        op_t op;
        uint64_t id0 = 0, id1 = 0;
        int rc0, rc1;
        size_t n0, n1;
        gen_op(&op);
        S.opname = OPNAMES[op.type];
        for (int w = 0; w < 2; w++)
            REQ_OK(S.e[w], margin_engine_set(S.e[w], MARGIN_ENG_TIME, S.step));
        rc0 = apply(0, &op, &id0);
        rc1 = apply(1, &op, &id1);
        su_twin_call(&S.tw, S.e[1], S.step, TWIN_ONE_IN, TWIN_STEPS, twin_call, &op, rc1, id1,
                     twin_ctx());
        REQ(rc0 == rc1, CTX "status %d (%s) vs %d (%s)", CTXA, rc0, margin_errmsg(S.e[0]),
                      rc1, margin_errmsg(S.e[1]));
        REQ(id0 == id1, CTX "new ids %" PRIu64 " vs %" PRIu64, CTXA, id0, id1);
        if (rc0 == MARGIN_OK) {
            if (op.type == OP_MARK || op.type == OP_FUNDING)
                S.mark[op.mi] = op.price;
            if (op.type == OP_BAND)
                S.band = op.rate; /* fired levels stay fired; their re-arm prices move */
            if (op.type == OP_LEVELS) {
                memcpy(S.levels, op.levels, sizeof op.levels);
                S.nlevels = op.nlevels;
                for (uint64_t id = 1; id <= S.npos; id++)
                    S.pos[id].fired = 0; /* new levels re-arm everything */
            }
        }
        n0 = drain_w(0);
        n1 = drain_w(1);
        su_twin_events(&S.tw, S.ev[1][0].f, NF, n1, NF, twin_ctx());
        if (!events_equal(n0, n1))
            dump_step(&op, n0, n1);
        REQ(n0 == n1, CTX "%zu events (full scan) vs %zu (indexed)", CTXA, n0, n1);
        for (size_t i = 0; i < n0; i++)
            for (int k = 1; k < NF; k++)
                REQ(S.ev[0][i].f[k] == S.ev[1][i].f[k],
                              CTX "event %zu (type %lld) field %d: full scan %lld, indexed %lld",
                              CTXA, i, (long long)S.ev[0][i].f[MARGIN_EVF_TYPE], k,
                              (long long)S.ev[0][i].f[k], (long long)S.ev[1][i].f[k]);
        if (rc0 != MARGIN_OK)
            REQ(n0 == 0, CTX "failed call (%d) produced events", CTXA, rc0);
        process_events(n0, &op);
        for (size_t i = 0; i < n0; i++)
            S.ev_count[S.ev[0][i].f[MARGIN_EVF_TYPE] & 15]++;
        S.failed_ops += rc0 != MARGIN_OK;
        if (S.nopen > S.max_open)
            S.max_open = S.nopen;
        /* stops are state without events: record them in the shadow */
        if (rc0 == MARGIN_OK && op.type == OP_STOPS) {
            S.pos[op.pos].stop = op.stop;
            S.pos[op.pos].take = op.take;
            S.pos[op.pos].stops_known = 1;
        }
        if (rc0 == MARGIN_OK && (op.type == OP_MARK || op.type == OP_FUNDING)) {
            check_triggers_cleared(op.mi, op.price);
            if (op.mi == 1)
                check_eth_margin_calls(n0, op.price);
        }
        for (int w = 0; w < 2; w++)
            check_money(w);
        for (size_t i = 0; i < n0; i++)
            if (S.ev[0][i].f[MARGIN_EVF_POSITION] > 0)
                compare_position((uint64_t)S.ev[0][i].f[MARGIN_EVF_POSITION]);
        if (op.pos >= 1 && op.pos <= S.npos)
            compare_position(op.pos);
        compare_all(S.step % 64 == 0 || S.step == nops);
        if (S.tw.e != NULL)
            su_twin_end_step(&S.tw, &S.e[1], twin_ctx());
    }
    if (getenv("MARGIN_RANDOM_STATS")) {
        fprintf(stderr, "seed %" PRIu64 "%s: %d ops, events by type:", seed,
                inv ? " (inverse)" : "", nops);
        for (int t = 1; t <= MARGIN_EV_TAKE_PROFIT; t++)
            fprintf(stderr, " %d:%d", t, S.ev_count[t]);
        fprintf(stderr, "; failed ops %d; open at end %zu, at most %zu; ETH margin calls %d",
                S.failed_ops, S.nopen, S.max_open, S.eth_calls);
        if (inv)
            fprintf(stderr, "; liquidation prices checked %ld, not %ld; events checked %ld",
                    S.lp_checked, S.lp_unchecked, S.inv_checks);
        fprintf(stderr, "\n");
    }
    /* the run must have exercised the triggers, or it proves little */
    REQ(reng(S.e[0], MARGIN_ENG_LIQUIDATIONS) > 10, "seed %" PRIu64 ": only %lld liquidations",
                  seed, (long long)reng(S.e[0], MARGIN_ENG_LIQUIDATIONS));
    REQ(S.tw.started > 0, "seed %" PRIu64 ": no engine was restored", seed);
    margin_engine_free(S.tw.e);
    margin_engine_free(S.e[0]);
    margin_engine_free(S.e[1]);
}

static uint64_t base_seed(void)
{
    const char *s = getenv("MARGIN_RANDOM_SEED");
    return s ? strtoull(s, NULL, 0) : 0x5eed2023ULL;
}

START_TEST(test_random_full_scan_vs_index)
{
    run(base_seed() + (uint64_t)_i * 7919, 8000, 0);
}
END_TEST

/* The same operation mix on an engine whose markets are all inverse (MKI). */
START_TEST(test_random_inverse)
{
    run(base_seed() + 0x1BE5ULL + (uint64_t)_i * 7919, 8000, 1);
}
END_TEST

Suite *suite_random(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("cross_check");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_random_full_scan_vs_index, 0, 3);
    tcase_add_loop_test(tc, test_random_inverse, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
