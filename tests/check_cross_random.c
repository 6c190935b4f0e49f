/* Suite "cross_random": a seeded randomized test of cross margin (issue 11).
 *
 * Two engines, engine 0 with MARGIN_ENG_FULL_SCAN = 1 (every cross account holding the
 * market is evaluated on every mark) and engine 1 with the trigger indexes, are driven by
 * the same random operations on four markets of different scales and policies (BTCUSDT
 * price scale 2 / qty scale 3 with four tiers; ETHUSDT 2/3 with a fee to close; SOLUSDT 4/2
 * with the maintenance at the entry value and a fee to close; DOGEUSDT 5/0 with two tiers)
 * and six accounts: one always isolated, one cross in every market, the others cross in
 * some markets and isolated in others, switching modes now and then (refused while a
 * position is open there). Operations: deposits and withdrawals (often exactly the
 * available balance, or one unit more), cross and isolated opens (sometimes with the
 * wrong flag, or a margin argument on a cross open), hedge legs, trades (increase,
 * reduce, close, flip), closes, margin added and removed, leverage changes, stops and
 * take-profits, margin-call levels and re-arm bands, both liquidation policies, funding,
 * marks that random-walk, gap, and land exactly on (or one unit or one tick either side
 * of) a position's MARGIN_AT_LIQ_PRICE, MARGIN_AT_MARGIN_CALL_PRICE, stop or take-profit,
 * or one of its trigger keys in the indexed engine (an edge of its account's price band),
 * and "edge" funding rounds whose rate the model picks so that an account's cross balance
 * lands exactly where liquidation, a margin-call level or its re-arm threshold flips, or
 * one unit either side (after a deposit that makes the amounts meet).
 *
 * After every operation:
 *  - both engines returned the same status and the same new id, and produced the same
 *    events, every field 1..23 (margin_event_get), with consecutive sequence numbers;
 *  - every account figure (keys 1..17), engine figure and touched position is the same on
 *    both (every position every 64 steps);
 *  - an independent model of each account, rebuilt from the events alone (positions' side,
 *    quantity, entry and leverage; the wallet from MARGIN_EVF_FREE_BALANCE) and the marks
 *    sent, gives the account's cross figures exactly: unrealized PnL (each leg rounded
 *    down), maintenance (each leg at its tier, rounded up; mark or entry basis, fee to
 *    close), initial margin, balance, ratio, available, cross position count; and the
 *    isolated margin equals the sum of the margins rebuilt from the events;
 *  - money: per account free + isolated == deposits - withdrawals + realized - fees +
 *    funding; every ledger total equals its sum over the events; globally
 *    sum(free + isolated) + insurance fund == deposits - withdrawals - fees + funding +
 *    sum(REALIZED_PNL) + sum(INSURANCE_DELTA); each event moves the free balance by exactly
 *    REALIZED_PNL - FEE (+ deposit, - withdrawal, + funding, - isolated margin change);
 *    each fill's REALIZED_PNL + INSURANCE_DELTA is floor(s*q*(fill - E));
 *  - nothing that must not be negative is: isolated margins; the free balance of an
 *    account without cross positions (so after any liquidation that closed its book);
 *  - after a mark update or funding of a market, no account that held a cross position
 *    there (or whose isolated stop or take-profit there moved its wallet) is left with
 *    MARGIN_ACCT_CROSS_MARGIN_BALANCE <= MARGIN_ACCT_CROSS_MAINT_MARGIN unless it has no
 *    cross position left; no isolated position of that market is left past its
 *    liquidation price, and no position (cross or isolated) past a stop or take-profit;
 *  - cross liquidations follow the semantics: an account is liquidated only when the model
 *    says balance <= MM (the MARGIN_RATIO it reports is the model's); its legs close at
 *    their markets' marks (no fee, AMOUNT 0, MARGIN 0), in id order and all of them with
 *    MARGIN_CROSS_LIQ_ALL, largest loss first (ties: lowest id) while the model still says
 *    balance <= MM with MARGIN_CROSS_LIQ_WORST_FIRST; each run of legs is followed by one
 *    MARGIN_EV_CROSS_LIQUIDATION with QTY = legs closed and a deficit only when no cross
 *    position is left (FREE_BALANCE 0 then); isolated positions are never touched by it;
 *  - a stop or take-profit charges the taker fee, less only what cannot be paid: an
 *    isolated close never more than the free balance (as the events before it left it)
 *    plus what it returns, a cross one never below a book balance of zero;
 *  - funds rules, predicted from the model before the call: a withdrawal fails with
 *    MARGIN_EFUNDS exactly when it exceeds the available balance; an isolated open, margin
 *    addition or leverage decrease costing more than the available balance fails, and
 *    MARGIN_EFUNDS only then; a cross open or leverage decrease whose raw available balance
 *    afterwards (position at the mark, fee paid) would be negative fails, and MARGIN_EFUNDS
 *    only then; margin added to or removed from a cross position: MARGIN_ESTATE;
 *  - account margin calls (position 0) follow a model: at each evaluation of an account
 *    (mark or funding of a market where it holds a cross position), each level L, lowest
 *    first, fires once when MM >= L*balance and re-arms when MM < (L - band)*balance
 *    (an isolated stop or take-profit of an account with cross positions evaluates it too).
 *    (Where the semantics leave the state of the fired levels open - right after the
 *    account's book was emptied or partly liquidated, or one of its cross positions was
 *    stopped in the same update - the model learns it from the next evaluation.)
 *
 * The inverse runs (test_cross_random_inverse) do all of this on four inverse markets
 * (INV_MK) of the same scales of sizes and policies, the model on values N/P.
 *
 * Environment: MARGIN_CROSS_SEED=n changes the base seed, MARGIN_CROSS_OPS=n the number of
 * operations per run (default 8000), MARGIN_CROSS_STATS=1 prints what each run exercised,
 * MARGIN_CROSS_TRACE=1 every operation (with its status) and its events.
 * A failure message starts with the seed and the step. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h" /* the indexed engine's trigger keys: marks aimed at band edges */
#include "helpers.h"
#include "snapshot_util.h"
#include "suites.h"

__extension__ typedef __int128 i128;

#define NF (MARGIN_EVF_MODE + 1)
#define NACC 6
#define NMKT 4
#define MAXPOS 8192
#define MAXEV 1024
#define MAXOPEN 240
#define E8 100000000LL

typedef struct {
    int64_t f[NF];
} rev_t;

/* ------------------------------------------------------------------ PRNG and arithmetic */

static uint64_t rng;
static uint64_t rnd(void)
{
    return splitmix64(&rng);
}
static int64_t between(int64_t lo, int64_t hi) /* inclusive, hi >= lo */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}
static int pct(int p)
{
    return (int)(rnd() % 100) < p;
}

static i128 fdiv(i128 a, i128 b) /* floor, b > 0 */
{
    i128 q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}
static i128 cdiv(i128 a, i128 b) /* ceiling, b > 0 */
{
    return -fdiv(-a, b);
}
static i128 pow10i(int k)
{
    i128 v = 1;
    while (k-- > 0)
        v *= 10;
    return v;
}
static int64_t clamp64(i128 v)
{
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (int64_t)v;
}

/* ------------------------------------------------------------------ markets */

typedef struct {
    int64_t floor, mmr, max_lev, cum; /* money, rate, rate, money */
} tier_t;

typedef struct {
    const char *sym;
    int ps, qs;                           /* price and quantity scales */
    int64_t start, tick, step, qmax;      /* price and quantity units */
    int64_t taker, maker, close_fee, max_lev; /* rate scale */
    int32_t basis;
    int ntiers;
    tier_t tiers[4];
    int64_t csize; /* inverse: the contract size (USD, scale 8); 0: linear */
} mkt_cfg;

/* Maintenance amounts written out (the recurrence cum_k = floor_k*(mmr_k - mmr_k-1) +
 * cum_k-1): BTC 0, 50000*0.001 = 50, 50 + 250000*0.005 = 1300, 1300 + 1000000*0.015 =
 * 16300 (the spec's table); DOGE 0, 50000*0.05 = 2500. DOGE's rates are above its initial
 * margin rates (5 % at 50x, 10 % at 25x), so there the available balance is bound by the
 * maintenance margin. */
static const mkt_cfg LIN_MK[NMKT] = {
    {"BTCUSDT", 2, 3, 2000000, 10, 1, 500, 40000, 20000, 0, 125 * E8, MARGIN_MM_BASIS_MARK, 4,
     {{0, 400000, 125 * E8, 0},
      {50000 * E8, 500000, 100 * E8, 50 * E8},
      {250000 * E8, 1000000, 50 * E8, 1300 * E8},
      {1000000 * E8, 2500000, 20 * E8, 16300 * E8}},
     0},
    {"ETHUSDT", 2, 3, 150000, 1, 1, 5000, 50000, 20000, 60000, 100 * E8, MARGIN_MM_BASIS_MARK, 1,
     {{0, 500000, 0, 0}}, 0},
    {"SOLUSDT", 4, 2, 200000, 100, 1, 50000, 40000, 20000, 50000, 50 * E8, MARGIN_MM_BASIS_ENTRY,
     1, {{0, 1000000, 0, 0}}, 0},
    {"DOGEUSDT", 5, 0, 10000, 1, 1, 100000, 40000, 20000, 0, 50 * E8, MARGIN_MM_BASIS_MARK, 2,
     {{0, 5000000, 50 * E8, 0}, {50000 * E8, 10000000, 25 * E8, 2500 * E8}}, 0},
};

/* The inverse run: the same policies on inverse markets (one engine, one settlement
 * asset), each coin priced at 0.1 to 2 USD so that the money amounts (in the coin) are of
 * the linear run's sizes: BTCUSD contracts of 10 USD, whole, price scale 4, the four
 * tiers (floors and amounts in the coin); ETHUSD contracts of 100 USD in tenths, price
 * scale 3, a fee to close; SOLUSD contracts of 10 USD in hundredths, price scale 5, the
 * maintenance at the entry value and a fee to close; DOGEUSD contracts of 1 USD, price
 * scale 6, two tiers. Values N/P, PnL s*N*(1/E - 1/P), and the rest on the values. */
static const mkt_cfg INV_MK[NMKT] = {
    {"BTCUSD", 4, 0, 20000, 1, 1, 2000, 40000, 20000, 0, 125 * E8, MARGIN_MM_BASIS_MARK, 4,
     {{0, 400000, 125 * E8, 0},
      {50000 * E8, 500000, 100 * E8, 50 * E8},
      {250000 * E8, 1000000, 50 * E8, 1300 * E8},
      {1000000 * E8, 2500000, 20 * E8, 16300 * E8}},
     10 * E8},
    {"ETHUSD", 3, 1, 1500, 1, 1, 1000, 50000, 20000, 60000, 100 * E8, MARGIN_MM_BASIS_MARK, 1,
     {{0, 500000, 0, 0}}, 100 * E8},
    {"SOLUSD", 5, 2, 20000, 10, 1, 5000, 40000, 20000, 50000, 50 * E8, MARGIN_MM_BASIS_ENTRY,
     1, {{0, 1000000, 0, 0}}, 10 * E8},
    {"DOGEUSD", 6, 0, 100000, 1, 1, 1000, 40000, 20000, 0, 50 * E8, MARGIN_MM_BASIS_MARK, 2,
     {{0, 5000000, 50 * E8, 0}, {50000 * E8, 10000000, 25 * E8, 2500 * E8}}, E8},
};

static const mkt_cfg *MK = LIN_MK;

/* ------------------------------------------------------------------ state */

typedef struct {
    int known, open, cross;
    int ai, mi;
    int32_t side;
    int64_t qty, entry, margin, lev;
    int stops_known;
    int64_t stop, take;
} spos_t;

typedef struct {
    int64_t free;          /* the last MARGIN_EVF_FREE_BALANCE seen */
    int32_t mode[NMKT];    /* as set by successful margin_account_set_mode() */
    unsigned fired;        /* account margin-call levels fired (bit i: S.levels[i]) */
    unsigned known;        /* levels whose fired state the model knows */
    int liq_run;           /* legs closed in the cross liquidation under way */
    int64_t run_ratio;     /* the model's ratio when it started */
    int64_t last_leg;      /* the last leg it closed */
    int uncertain;         /* this step: the margin-call state became unknown */
    int had_cross;         /* this step: held a cross position in the updated market */
} sacct_t;

typedef struct {
    int64_t dep, wd, fee, fund, pnl, ins;
} sums_t;

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
    OP_MODE,
    OP_LEVELS,
    OP_BAND,
    OP_POLICY,
    OP_EDGE,
};
static const char *const OPN[] = {"mark",    "open",    "trade",    "close", "add",
                                  "remove",  "stops",   "leverage", "funding", "deposit",
                                  "withdraw", "mode",   "levels",   "band",  "policy", "edge"};

typedef struct {
    int type, mi, ai;
    uint64_t pos;
    int32_t side, mode;
    int64_t qty, price, lev, margin, amount, rate, stop, take;
    uint32_t flags;
    int64_t levels[8];
    size_t nlevels;
} op_t;

static struct {
    margin_engine *e[3]; /* e[2]: the twin of e[1] (save / load / continue), when one runs */
    su_twin tw;
    uint64_t mkt[NMKT], acct[NACC];
    int64_t mark[NMKT];
    spos_t pos[MAXPOS];
    uint64_t npos, open[MAXPOS];
    size_t nopen;
    sacct_t a[NACC];
    sums_t sums;
    int64_t levels[8], band, policy, last_seq;
    size_t nlevels;
    int run_acct; /* account whose cross liquidation is under way, -1 if none */
    op_t pending; /* the funding round of an edge operation, after its deposit */
    int has_pending, follow_ai;
    int64_t follow_x; /* an edge to this level next (account follow_ai), 0 if none */
    rev_t ev[2][MAXEV];
    uint64_t seed;
    int step, trace;
    const char *opname;
    /* what the run exercised */
    int n_ev[16], n_failed, n_cross_liq, n_partial, n_deficit, n_acct_calls, n_efunds, n_edge;
    size_t max_open;
} S;

#define CTX "seed %" PRIu64 " step %d (%s): "
#define CTXA S.seed, S.step, S.opname

static int64_t gacct(int w, int ai, int32_t key)
{
    int64_t v = 0;
    REQ_OK(S.e[w], margin_account_get(S.e[w], S.acct[ai], key, &v));
    return v;
}
static int64_t geng(int w, int32_t key)
{
    int64_t v = 0;
    REQ_OK(S.e[w], margin_engine_get(S.e[w], key, &v));
    return v;
}
static int64_t gpos(int w, uint64_t id, int32_t key)
{
    int64_t v = 0;
    REQ_OK(S.e[w], margin_position_get(S.e[w], id, key, &v));
    return v;
}

static int acct_index(int64_t id)
{
    for (int i = 0; i < NACC; i++)
        if ((int64_t)S.acct[i] == id)
            return i;
    ck_abort_msg(CTX "unknown account %lld", CTXA, (long long)id);
    return 0;
}

static int mkt_index(int64_t id)
{
    for (int i = 0; i < NMKT; i++)
        if ((int64_t)S.mkt[i] == id)
            return i;
    ck_abort_msg(CTX "unknown market %lld", CTXA, (long long)id);
    return 0;
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

/* ------------------------------------------------------------------ the account model */

typedef struct {
    i128 upnl, mm, im;
    int n;
} fig_t;

static i128 p10(int mi)
{
    return pow10i(MK[mi].ps + MK[mi].qs);
}

/* The value of q at price px in money units as num/den: linear Q*P (q*px*10^8 /
 * 10^(ps+qs)), inverse N/P (q*C*10^ps / (10^qs*px), C the contract size at scale 8). */
static void val_nd(int mi, i128 q, int64_t px, i128 *num, i128 *den)
{
    const mkt_cfg *c = &MK[mi];
    if (c->csize == 0) {
        *num = q * px * E8;
        *den = p10(mi);
    } else {
        *num = q * c->csize * pow10i(c->ps);
        *den = pow10i(c->qs) * px;
    }
}

/* rate * value (rate scale 8), rounded up (ceil) or down */
static i128 val_rate(int mi, i128 q, int64_t px, i128 rate, int ceil)
{
    i128 n, d;
    val_nd(mi, q, px, &n, &d);
    return ceil ? cdiv(n * rate, d * E8) : fdiv(n * rate, d * E8);
}

/* s*Q*(P - E) (linear) or s*N*(1/E - 1/P) (inverse), money, rounded down */
static i128 pnl_of(int mi, int32_t side, i128 q, int64_t e, int64_t px)
{
    const mkt_cfg *c = &MK[mi];
    if (c->csize == 0)
        return fdiv((i128)side * q * ((i128)px - e) * E8, p10(mi));
    return fdiv((i128)side * q * c->csize * pow10i(c->ps) * ((i128)px - e),
                pow10i(c->qs) * e * px);
}

/* The tier whose range holds the value of q at px. */
static const tier_t *tier_of(int mi, i128 q, int64_t px)
{
    const mkt_cfg *c = &MK[mi];
    i128 n, d;
    int k = 0;
    val_nd(mi, q, px, &n, &d);
    while (k + 1 < c->ntiers && n >= (i128)c->tiers[k + 1].floor * d)
        k++;
    return &c->tiers[k];
}

/* Money amounts (units of 1e-8) of one cross leg at mark px, with V(P) its value at P
 * (Q*P linear, N/P inverse):
 *   uPnL = floor(s*Q*(P - E)) or floor(s*N*(1/E - 1/P)), MM = ceil(max(0, V(P)*(mmr + f) -
 *   cum)) (mark basis) or ceil(max(0, V(E)*mmr - cum) + f*V(P)) (entry basis; inverse:
 *   max(0, ceil(V(E)*mmr) - cum) + ceil(f*V(P)), each term rounded up), IM = ceil(V(E)/L). */
static void add_leg(fig_t *f, int mi, int32_t side, int64_t q, int64_t e, int64_t lev,
                    int64_t px)
{
    const mkt_cfg *c = &MK[mi];
    i128 mm, n, d;
    f->upnl += pnl_of(mi, side, q, e, px);
    if (c->basis == MARGIN_MM_BASIS_MARK) {
        const tier_t *t = tier_of(mi, q, px);
        val_nd(mi, q, px, &n, &d);
        mm = cdiv(n * (t->mmr + c->close_fee) - (i128)t->cum * E8 * d, E8 * d);
    } else if (c->csize == 0) {
        const tier_t *t = tier_of(mi, q, e);
        i128 dd = p10(mi), qp = (i128)q * px, qe = (i128)q * e;
        i128 base = qe * t->mmr - (i128)t->cum * dd;
        mm = cdiv((base > 0 ? base : 0) + qp * c->close_fee, dd);
    } else {
        const tier_t *t = tier_of(mi, q, e);
        i128 base = val_rate(mi, q, e, t->mmr, 1) - t->cum;
        mm = (base > 0 ? base : 0) + val_rate(mi, q, px, c->close_fee, 1);
    }
    f->mm += mm > 0 ? mm : 0;
    val_nd(mi, q, e, &n, &d);
    f->im += cdiv(n * E8, d * lev);
    f->n++;
}

/* Account ai's cross legs, but position `skip` (0: none). */
static void model_but(int ai, uint64_t skip, fig_t *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < S.nopen; i++) {
        const spos_t *p = &S.pos[S.open[i]];
        if (p->cross && p->ai == ai && S.open[i] != skip)
            add_leg(f, p->mi, p->side, p->qty, p->entry, p->lev, S.mark[p->mi]);
    }
}

static void model(int ai, fig_t *f)
{
    model_but(ai, 0, f);
}

static int64_t m_ratio(const fig_t *f, i128 wb)
{
    i128 bal = wb + f->upnl;
    if (f->n == 0)
        return 0;
    if (bal <= 0)
        return INT64_MAX;
    return clamp64(cdiv(f->mm * E8, bal));
}

/* min(WB + min(0, uPnL) - IM, balance - MM - 1 unit), before max(0, ...) */
static i128 m_raw_avail(const fig_t *f, i128 wb)
{
    i128 a = wb + (f->upnl < 0 ? f->upnl : 0) - f->im, b = wb + f->upnl - f->mm - 1;
    return a < b ? a : b;
}

static int64_t m_avail(int ai)
{
    fig_t f;
    i128 r;
    model(ai, &f);
    if (f.n == 0)
        return S.a[ai].free;
    r = m_raw_avail(&f, S.a[ai].free);
    return r > 0 ? clamp64(r) : 0;
}

static int m_liquidatable(const fig_t *f, int64_t wb)
{
    return f->n > 0 && (i128)wb + f->upnl <= f->mm;
}

/* ------------------------------------------------------------------ setup */

static void setup_engine(int w)
{
    margin_engine *e;
    ck_assert_int_eq(margin_engine_new(&S.e[w]), MARGIN_OK);
    e = S.e[w];
    REQ_OK(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, w == 0));
    for (int i = 0; i < NMKT; i++) {
        const mkt_cfg *c = &MK[i];
        uint64_t id = 0;
        REQ_OK(e, margin_market_new(e, c->sym, &id));
        S.mkt[i] = id;
        if (c->csize != 0) {
            REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
            REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CONTRACT_SIZE, c->csize));
        }
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_PRICE_SCALE, c->ps));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_QTY_SCALE, c->qs));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_TICK, c->tick));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_STEP, c->step));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_MAX_LEVERAGE, c->max_lev));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_TAKER_FEE, c->taker));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_MAKER_FEE, c->maker));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_CLOSE_FEE, c->close_fee));
        REQ_OK(e, margin_market_set(e, id, MARGIN_MKT_MM_BASIS, c->basis));
        for (int k = 0; k < c->ntiers; k++)
            REQ_OK(e, margin_market_add_tier(e, id, c->tiers[k].floor, c->tiers[k].mmr,
                                             c->tiers[k].max_lev, c->tiers[k].cum));
        REQ_OK(e, margin_mark_update(e, id, c->start));
    }
    for (int i = 0; i < NACC; i++) {
        uint64_t id = 0;
        REQ_OK(e, margin_account_new(e, &id));
        S.acct[i] = id;
    }
}

/* ------------------------------------------------------------------ operations */

static int64_t cur_price(int mi)
{
    return S.mark[mi];
}

static int64_t near_price(int mi) /* a fill near the mark, on the grid */
{
    int64_t p = cur_price(mi), t = MK[mi].tick, span = p / 400;
    p += between(-span, span);
    p = p / t * t;
    return p < t ? t : p;
}

static int64_t rand_qty(int mi)
{
    int64_t st = MK[mi].step, qmax = MK[mi].qmax;
    if (pct(40))
        qmax /= 8;
    else if (pct(5))
        qmax *= 8; /* upper tiers */
    if (qmax < st)
        qmax = st;
    return between(1, qmax / st) * st;
}

static int64_t rand_lev(void)
{
    static const int64_t L[] = {1, 2, 3, 5, 10, 20, 25, 50, 75, 100};
    if (pct(20))
        return between(E8, 60 * E8);
    return L[rnd() % 10] * E8;
}

static uint64_t pick_pos(void)
{
    if (S.nopen > 0 && pct(92))
        return S.open[rnd() % S.nopen];
    if (S.npos > 0 && pct(90))
        return (uint64_t)between(1, (int64_t)S.npos);
    return S.npos + 1 + (uint64_t)between(0, 3);
}

/* A trigger key of position id in the indexed engine (for a cross position, an edge of its
 * account's price band in that market), 0 when it has none. */
static int64_t band_edge(uint64_t id)
{
    const margin_engine *e = S.e[1];
    const margin__position *p = &MARGIN__POS(e, id - 1);
    const margin__market *m = &e->markets[p->market];
    int64_t k = 0;
    if (pct(50) && p->down_slot != MARGIN__NONE)
        k = margin__hkey(&m->down, p->down_slot);
    else if (p->up_slot != MARGIN__NONE)
        k = margin__hkey(&m->up, p->up_slot);
    return k == INT64_MAX || k == INT64_MIN ? 0 : k;
}

/* A price of position id to aim a mark at (0: none). */
static int64_t target_of(uint64_t id)
{
    int64_t v = 0;
    switch (rnd() % 6) {
    case 4:
    case 5:
        v = band_edge(id);
        break;
    case 0:
    case 1:
        (void)margin_position_at(S.e[0], id, MARGIN_AT_LIQ_PRICE, 0, &v);
        break;
    case 2:
        (void)margin_position_at(S.e[0], id, MARGIN_AT_MARGIN_CALL_PRICE, 0, &v);
        break;
    default:
        v = pct(50) ? S.pos[id].stop : S.pos[id].take;
    }
    return v;
}

/* A mark: mostly a random walk, sometimes a gap, often exactly a position's liquidation,
 * margin-call, stop or take-profit price or one unit or one tick either side, sometimes a
 * wiggle of a unit or two. */
static int64_t next_mark(int mi)
{
    int64_t p = cur_price(mi), lo = MK[mi].start / 3, hi = MK[mi].start * 3, t = MK[mi].tick;
    int r = (int)between(0, 99);
    if (r < 12 && S.nopen > 0) {
        for (int tries = 0; tries < 10; tries++) {
            uint64_t id = S.open[rnd() % S.nopen];
            int64_t v;
            if (S.pos[id].mi != mi)
                continue;
            v = target_of(id);
            if (v <= 2 * t || v > 100 * MK[mi].start)
                continue;
            switch (rnd() % 5) {
            case 0:
                return v - 1;
            case 1:
                return v + 1;
            case 2:
                return v - t;
            case 3:
                return v + t;
            default:
                return v;
            }
        }
    }
    if (r >= 12 && r < 24 && p > 2) {
        int64_t d = between(1, 2);
        return pct(50) ? p + d : p - d;
    }
    if (r >= 24 && r < 27)
        p += p / 1000 * between(-150, 150); /* a gap up to 15 % */
    else
        p += p / 10000 * between(-30, 30); /* 0.3 % */
    if (p < lo)
        p = lo + between(0, lo / 10);
    if (p > hi)
        p = hi - between(0, hi / 10);
    return p;
}

/* What account ai's cross legs in market mi lose (money units) in a funding round at rate:
 * each leg pays s*Q*P*rate rounded up, or receives it rounded down. */
static i128 funding_loss(int ai, int mi, int64_t rate)
{
    i128 loss = 0;
    for (size_t i = 0; i < S.nopen; i++) {
        const spos_t *p = &S.pos[S.open[i]];
        i128 x = (i128)p->side * rate;
        if (!p->cross || p->ai != ai || p->mi != mi)
            continue;
        loss += x > 0 ? val_rate(mi, p->qty, S.mark[mi], x, 1)
                      : -val_rate(mi, p->qty, S.mark[mi], -x, 0);
    }
    return loss;
}

/* An edge operation: a funding round at the current mark (the marks, so every MM, stay as
 * they are) that leaves account ai's cross balance exactly where a condition flips, or
 * `off` units away: the largest balance at which MM*1 >= x*balance holds, for x = 1
 * (liquidation), a margin-call level (fires) or a level less the band (a fired level stays
 * fired). A deposit first makes the amounts meet; the model (the funding rule) picks the
 * rate, 0 when the balance has to rise. */
static int edge_to(op_t *op, int ai, int64_t x, int64_t off)
{
    int mi = -1, k;
    int64_t net = 0, rate = 0;
    i128 bal, target, loss = 0, dep;
    fig_t f;
    model(ai, &f);
    bal = (i128)S.a[ai].free + f.upnl;
    if (f.n == 0 || bal <= 0 || x <= 0)
        return 0;
    target = fdiv(f.mm * E8, x) + off; /* off 0: the condition holds, exactly when x divides */
    for (size_t i = 0, start = (size_t)rnd(); i < S.nopen && mi < 0; i++) {
        const spos_t *p = &S.pos[S.open[(start + i) % S.nopen]];
        if (p->cross && p->ai == ai)
            mi = p->mi;
    }
    if (mi < 0)
        return 0;
    for (size_t i = 0; i < S.nopen; i++) {
        const spos_t *p = &S.pos[S.open[i]];
        if (p->cross && p->ai == ai && p->mi == mi)
            net += p->side * p->qty;
    }
    if (target < bal) { /* the balance has to fall by the funding: bal + dep - loss = target */
        if (net == 0)
            return 0;
        {
            i128 vn, vd; /* the net legs' value vn/vd: rate ~ (bal - target) * 10^8 / value */
            val_nd(mi, net > 0 ? net : -net, S.mark[mi], &vn, &vd);
            rate = (int64_t)((bal - target) * vd * E8 / vn) - 2;
        }
        if (rate >= E8)
            return 0;
        for (rate = rate < 1 ? 1 : rate, k = 0; rate < E8 && k < 50; rate++, k++) {
            loss = funding_loss(ai, mi, net > 0 ? rate : -rate);
            if (loss >= bal - target)
                break;
        }
        if (rate >= E8 || loss < bal - target)
            return 0;
        rate = net > 0 ? rate : -rate;
    }
    dep = target - bal + loss;
    if (dep < 0 || dep > 1000000 * E8)
        return 0;
    memset(&S.pending, 0, sizeof S.pending);
    S.pending.type = OP_FUNDING;
    S.pending.mi = mi;
    S.pending.rate = rate;
    S.pending.price = S.mark[mi];
    if (dep == 0) {
        *op = S.pending;
    } else {
        op->type = OP_DEPOSIT;
        op->ai = ai;
        op->amount = (int64_t)dep;
        S.has_pending = 1;
    }
    S.n_edge++;
    return 1;
}

/* A random edge: liquidation, a level, or the re-arm threshold of a fired level; after a
 * re-arm edge that leaves the level fired, the next operation takes the balance to the
 * level itself (a level re-armed by mistake would fire again). */
static int gen_edge(op_t *op)
{
    int ai = (int)between(0, NACC - 1), k = (int)between(0, 9);
    int64_t x = E8, off = between(-1, 1);
    if (k >= 4 && S.nlevels > 0) {
        size_t i = rnd() % S.nlevels;
        x = S.levels[i];
        if (k >= 7) {
            if (!(S.a[ai].fired & S.a[ai].known & (1u << i)))
                return 0;
            if (!edge_to(op, ai, x - S.band, off))
                return 0;
            if (off == 0) {
                S.follow_ai = ai;
                S.follow_x = x;
            }
            return 1;
        }
    }
    return edge_to(op, ai, x, off);
}

static void gen_op(op_t *op)
{
    int r = (int)between(0, 99);
    memset(op, 0, sizeof *op);
    if (S.has_pending) {
        *op = S.pending;
        S.has_pending = 0;
        return;
    }
    if (S.follow_x > 0) {
        int64_t x = S.follow_x;
        S.follow_x = 0;
        if (edge_to(op, S.follow_ai, x, 0))
            return;
    }
    if (r < 5 && gen_edge(op))
        return;
    op->mi = (int)between(0, NMKT - 1);
    op->ai = (int)between(0, NACC - 1);
    op->type = r < 34   ? OP_MARK
               : r < 56 ? (S.nopen < MAXOPEN ? OP_OPEN : OP_CLOSE)
               : r < 62 ? OP_TRADE
               : r < 65 ? OP_CLOSE
               : r < 68 ? OP_ADD
               : r < 70 ? OP_REMOVE
               : r < 76 ? OP_STOPS
               : r < 78 ? OP_LEVERAGE
               : r < 83 ? OP_FUNDING
               : r < 88 ? OP_DEPOSIT
               : r < 93 ? OP_WITHDRAW
               : r < 96 ? OP_MODE
               : r < 98 ? OP_LEVELS
                        : OP_POLICY;
    if (op->type >= OP_TRADE && op->type <= OP_LEVERAGE) {
        op->pos = pick_pos();
        if (op->pos >= 1 && op->pos <= S.npos)
            op->mi = S.pos[op->pos].mi;
    }
    switch (op->type) {
    case OP_MARK:
        op->price = next_mark(op->mi);
        break;
    case OP_OPEN: {
        int cross = S.a[op->ai].mode[op->mi] == MARGIN_MODE_CROSS;
        if (pct(4))
            cross = !cross; /* the wrong flag: MARGIN_ESTATE */
        op->side = pct(50) ? MARGIN_LONG : MARGIN_SHORT;
        op->qty = rand_qty(op->mi);
        op->price = near_price(op->mi);
        op->lev = rand_lev();
        op->flags = (cross ? MARGIN_FLAG_CROSS : 0) | (pct(20) ? MARGIN_FLAG_MAKER : 0);
        if (cross ? pct(4) : pct(15)) {
            i128 vn, vd, notional;
            val_nd(op->mi, op->qty, op->price, &vn, &vd);
            notional = vn / vd;
            op->margin = (int64_t)(notional * between(1, 100) / 100) + 1;
            if (!cross && pct(50))
                op->lev = 0;
        }
        break;
    }
    case OP_TRADE:
        op->side = pct(50) ? MARGIN_LONG : MARGIN_SHORT;
        op->qty = rand_qty(op->mi);
        if (op->pos <= S.npos && S.pos[op->pos].open && pct(65)) {
            int64_t q = S.pos[op->pos].qty, st = MK[op->mi].step;
            int k = (int)between(0, 9);
            op->side = -S.pos[op->pos].side;
            if (k < 5)
                op->qty = q > st ? between(1, q / st - 1) * st : st;
            else if (k < 7)
                op->qty = q;
            else
                op->qty = q + rand_qty(op->mi);
        }
        op->price = near_price(op->mi);
        op->flags = pct(20) ? MARGIN_FLAG_MAKER : 0;
        break;
    case OP_CLOSE:
        op->pos = pick_pos();
        if (op->pos >= 1 && op->pos <= S.npos)
            op->mi = S.pos[op->pos].mi;
        op->price = near_price(op->mi);
        break;
    case OP_ADD:
    case OP_WITHDRAW: {
        int ai = op->type == OP_ADD && op->pos >= 1 && op->pos <= S.npos ? S.pos[op->pos].ai
                                                                         : op->ai;
        int64_t av = m_avail(ai);
        int k = (int)between(0, 9);
        op->amount = k < 3 ? av : k < 5 ? av + 1 : between(1, 20000 * E8);
        if (op->amount <= 0)
            op->amount = between(1, 100 * E8);
        break;
    }
    case OP_REMOVE: {
        int64_t rm = 0;
        if (op->pos <= S.npos && S.pos[op->pos].open)
            (void)margin_position_at(S.e[0], op->pos, MARGIN_AT_REMOVABLE_MARGIN, 0, &rm);
        op->amount = rm > 0 && pct(30) ? rm : between(1, rm > 0 ? rm + rm / 4 + 1 : 100 * E8);
        break;
    }
    case OP_STOPS: {
        int64_t p = cur_price(op->mi);
        int32_t s = op->pos <= S.npos && S.pos[op->pos].known ? S.pos[op->pos].side : 1;
        int64_t ds = p / 1000 * between(2, 80), dt = p / 1000 * between(2, 80);
        if (pct(10))
            ds = -ds; /* already crossed: fires at the next mark */
        op->stop = pct(75) ? p - s * ds : 0;
        op->take = pct(60) ? p + s * dt : 0;
        op->stop = op->stop < 0 ? 0 : op->stop;
        op->take = op->take < 0 ? 0 : op->take;
        break;
    }
    case OP_LEVERAGE:
        op->lev = rand_lev();
        break;
    case OP_FUNDING:
        op->rate = pct(5) ? between(500000, 5000000) : between(0, 50000);
        op->rate = pct(50) ? -op->rate : op->rate;
        op->price = pct(50) ? cur_price(op->mi) : next_mark(op->mi);
        break;
    case OP_DEPOSIT:
        op->amount = between(1, 15000 * E8);
        break;
    case OP_MODE:
        op->mode = pct(3) ? 2 : (int32_t)between(0, 1);
        break;
    case OP_LEVELS:
        if (pct(40)) {
            op->type = OP_BAND;
            op->rate = pct(25) ? 0 : pct(50) ? between(1, 10) * 5000000 : between(1, 50000000);
            break;
        }
        op->nlevels = (size_t)between(0, 3);
        for (size_t i = 0; i < op->nlevels; i++) {
            int dup;
            do {
                /* multiples of 0.05 make exact edges frequent (gen_edge) */
                op->levels[i] = pct(60) ? between(3, 19) * 5000000 /* 0.15 to 0.95 */
                                        : between(30000000, 99000000);
                dup = 0;
                for (size_t j = 0; j < i; j++)
                    dup |= op->levels[j] == op->levels[i];
            } while (dup);
        }
        break;
    case OP_POLICY:
        op->rate = pct(5) ? 2 : (int64_t)between(0, 1);
        break;
    }
}

static int apply(int w, const op_t *op, uint64_t *new_id)
{
    margin_engine *e = S.e[w];
    uint64_t m = S.mkt[op->mi], a = S.acct[op->ai];
    switch (op->type) {
    case OP_MARK:
        return margin_mark_update(e, m, op->price);
    case OP_OPEN:
        return margin_position_open(e, a, m, op->side, op->qty, op->price, op->lev, op->margin,
                                    op->flags, new_id);
    case OP_TRADE:
        return margin_position_trade(e, op->pos, op->side, op->qty, op->price, op->flags);
    case OP_CLOSE:
        return margin_position_close(e, op->pos, op->price, 0);
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
        return margin_account_deposit(e, a, op->amount);
    case OP_WITHDRAW:
        return margin_account_withdraw(e, a, op->amount);
    case OP_MODE:
        return margin_account_set_mode(e, a, m, op->mode);
    case OP_LEVELS:
        return margin_engine_set_margin_call_levels(e, op->levels, op->nlevels);
    case OP_BAND:
        return margin_engine_set(e, MARGIN_ENG_REARM_BAND, op->rate);
    case OP_POLICY:
        return margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, op->rate);
    }
    return MARGIN_EINVAL;
}

/* ------------------------------------------------------------------ funds rules */

/* What the model says about the funds an operation needs, before it runs:
 * need > avail means the call must fail, and MARGIN_EFUNDS means need > avail. For a cross
 * open, need = 0 and avail = the raw available balance after it. */
typedef struct {
    int applies;
    i128 need, avail;
} funds_t;

static void predict_funds(const op_t *op, funds_t *fu)
{
    memset(fu, 0, sizeof *fu);
    if (op->type == OP_WITHDRAW) {
        fu->applies = 1;
        fu->need = op->amount;
        fu->avail = m_avail(op->ai);
    } else if (op->type == OP_OPEN && op->qty > 0 && op->price > 0) {
        int cross_mode = S.a[op->ai].mode[op->mi] == MARGIN_MODE_CROSS;
        int64_t rate = (op->flags & MARGIN_FLAG_MAKER) ? MK[op->mi].maker : MK[op->mi].taker;
        i128 vn, vd, fee = val_rate(op->mi, op->qty, op->price, rate, 1);
        val_nd(op->mi, op->qty, op->price, &vn, &vd);
        if ((op->flags & MARGIN_FLAG_CROSS) && cross_mode && op->margin == 0 && op->lev > 0) {
            fig_t f;
            model(op->ai, &f);
            add_leg(&f, op->mi, op->side, op->qty, op->price, op->lev, S.mark[op->mi]);
            /* raw available after the open >= 0, i.e. need 1 <= raw + 1 */
            fu->applies = 1;
            fu->need = 1;
            fu->avail = m_raw_avail(&f, (i128)S.a[op->ai].free - fee) + 1;
        } else if (!(op->flags & MARGIN_FLAG_CROSS) && !cross_mode && op->lev >= 0) {
            i128 im = op->lev > 0 ? cdiv(vn * E8, vd * op->lev) : 0;
            fu->applies = 1;
            fu->need = (op->margin > 0 ? op->margin : im) + fee;
            fu->avail = m_avail(op->ai);
        }
    } else if (op->type == OP_LEVERAGE && op->lev > 0 && op->pos >= 1 && op->pos <= S.npos &&
               S.pos[op->pos].open && S.pos[op->pos].cross) {
        /* a cross leg's lower leverage reserves more: the raw available after >= 0 */
        const spos_t *p = &S.pos[op->pos];
        i128 vn, vd;
        fig_t f;
        val_nd(p->mi, p->qty, p->entry, &vn, &vd);
        if (cdiv(vn * E8, vd * op->lev) > cdiv(vn * E8, vd * p->lev)) {
            model_but(p->ai, op->pos, &f);
            add_leg(&f, p->mi, p->side, p->qty, p->entry, op->lev, S.mark[p->mi]);
            fu->applies = 1;
            fu->need = 1;
            fu->avail = m_raw_avail(&f, S.a[p->ai].free) + 1;
        }
    } else if ((op->type == OP_ADD || op->type == OP_LEVERAGE) && op->pos >= 1 &&
               op->pos <= S.npos && S.pos[op->pos].open && !S.pos[op->pos].cross) {
        const spos_t *p = &S.pos[op->pos];
        fu->applies = 1;
        fu->avail = m_avail(p->ai);
        if (op->type == OP_ADD) {
            fu->need = op->amount;
        } else {
            i128 vn, vd;
            val_nd(p->mi, p->qty, p->entry, &vn, &vd);
            fu->need = op->lev > 0 ? cdiv(vn * E8, vd * op->lev) - cdiv(vn * E8, vd * p->lev)
                                   : 0;
            fu->applies = fu->need > 0;
        }
    }
}

static void check_funds(const funds_t *fu, int rc)
{
    if (!fu->applies)
        return;
    if (fu->need > fu->avail)
        REQ(rc != MARGIN_OK, CTX "needs %lld, only %lld available, yet succeeded", CTXA,
            (long long)fu->need, (long long)fu->avail);
    if (rc == MARGIN_EFUNDS) {
        REQ(fu->need > fu->avail, CTX "MARGIN_EFUNDS although %lld of %lld needed is available",
            CTXA, (long long)fu->avail, (long long)fu->need);
        S.n_efunds++;
    }
}

/* ------------------------------------------------------------------ events */

static size_t drain(int w)
{
    size_t n = 0;
    for (;;) {
        int32_t t = -1;
        REQ_OK(S.e[w], margin_event_next(S.e[w], &t));
        if (t == MARGIN_EV_NONE)
            break;
        REQ(n < MAXEV, CTX "too many events", CTXA);
        S.ev[w][n].f[0] = 0;
        for (int32_t k = 1; k < NF; k++)
            REQ_OK(S.e[w], margin_event_get(S.e[w], k, &S.ev[w][n].f[k]));
        n++;
    }
    return n;
}

static int64_t leg_upnl(const spos_t *p)
{
    fig_t f;
    memset(&f, 0, sizeof f);
    add_leg(&f, p->mi, p->side, p->qty, p->entry, p->lev, S.mark[p->mi]);
    return (int64_t)f.upnl;
}

/* A cross leg closed by an account liquidation, checked against the model before it. */
static void check_cross_leg(const rev_t *v, uint64_t id, int ai)
{
    sacct_t *sa = &S.a[ai];
    fig_t f;
    model(ai, &f);
    REQ(S.run_acct == -1 || S.run_acct == ai,
        CTX "liquidation of account %d's leg inside account %d's", CTXA, ai, S.run_acct);
    /* liquidatable when the run starts; with worst first, again before every further leg */
    REQ((sa->liq_run > 0 && S.policy == MARGIN_CROSS_LIQ_ALL) || m_liquidatable(&f, sa->free),
        CTX "account %d: leg %" PRIu64 " liquidated while the model's balance %lld > MM %lld",
        CTXA, ai, id, (long long)(sa->free + f.upnl), (long long)f.mm);
    if (sa->liq_run == 0)
        sa->run_ratio = m_ratio(&f, sa->free);
    S.run_acct = ai;
    REQ(v->f[MARGIN_EVF_PRICE] == S.mark[S.pos[id].mi], CTX "leg closed at %lld, mark %lld",
        CTXA, (long long)v->f[MARGIN_EVF_PRICE], (long long)S.mark[S.pos[id].mi]);
    REQ(v->f[MARGIN_EVF_FEE] == 0 && v->f[MARGIN_EVF_AMOUNT] == 0 &&
            v->f[MARGIN_EVF_INSURANCE_DELTA] == 0,
        CTX "cross leg with a fee, amount or insurance delta", CTXA);
    if (S.policy == MARGIN_CROSS_LIQ_ALL) {
        REQ((int64_t)id > sa->last_leg || sa->liq_run == 0, CTX "policy ALL out of id order",
            CTXA);
    } else {
        int64_t mine = leg_upnl(&S.pos[id]);
        for (size_t i = 0; i < S.nopen; i++) {
            const spos_t *q = &S.pos[S.open[i]];
            int64_t u;
            if (!q->cross || q->ai != ai || S.open[i] == id)
                continue;
            u = leg_upnl(q);
            REQ(u > mine || (u == mine && S.open[i] > id),
                CTX "worst first closed %" PRIu64 " (uPnL %lld) before %" PRIu64 " (uPnL %lld)",
                CTXA, id, (long long)mine, S.open[i], (long long)u);
        }
    }
    sa->last_leg = (int64_t)id;
    sa->liq_run++;
}

static void check_cross_end(const rev_t *v, int ai, const op_t *op)
{
    sacct_t *sa = &S.a[ai];
    fig_t f;
    int64_t deficit = v->f[MARGIN_EVF_AMOUNT];
    REQ(S.run_acct == ai && sa->liq_run > 0, CTX "cross liquidation without legs", CTXA);
    REQ(v->f[MARGIN_EVF_POSITION] == 0 && v->f[MARGIN_EVF_MODE] == MARGIN_MODE_CROSS &&
            v->f[MARGIN_EVF_QTY] == sa->liq_run && v->f[MARGIN_EVF_FEE] == 0 &&
            v->f[MARGIN_EVF_REALIZED_PNL] == deficit &&
            v->f[MARGIN_EVF_INSURANCE_DELTA] == -deficit && deficit >= 0 &&
            v->f[MARGIN_EVF_MARKET] == (int64_t)S.mkt[op->mi],
        CTX "cross liquidation event fields (qty %lld, legs %d, deficit %lld)", CTXA,
        (long long)v->f[MARGIN_EVF_QTY], sa->liq_run, (long long)deficit);
    REQ(v->f[MARGIN_EVF_MARGIN_RATIO] == sa->run_ratio,
        CTX "cross liquidation ratio %lld, model %lld", CTXA,
        (long long)v->f[MARGIN_EVF_MARGIN_RATIO], (long long)sa->run_ratio);
    model(ai, &f);
    if (f.n == 0) {
        REQ(deficit == (sa->free < 0 ? -sa->free : 0),
            CTX "deficit %lld with a wallet of %lld", CTXA, (long long)deficit,
            (long long)sa->free);
    } else {
        REQ(S.policy == MARGIN_CROSS_LIQ_WORST_FIRST,
            CTX "policy ALL left %d cross positions", CTXA, f.n);
        REQ(deficit == 0, CTX "a deficit while cross positions remain", CTXA);
        REQ(!m_liquidatable(&f, sa->free), CTX "worst first stopped while still liquidatable",
            CTXA);
        S.n_partial++;
    }
    S.n_cross_liq++;
    S.n_deficit += deficit > 0;
    sa->liq_run = 0;
    sa->uncertain = 1;
    S.run_acct = -1;
}

/* Check one fill (reduce, close, stop, take-profit, liquidation) against the position.
 * A stop's fee is the taker fee, less what cannot be paid: an isolated close never takes
 * more than the free balance plus what it returns; a cross one never takes the book's
 * balance below zero (*capped: the caller checks that balance is then 0). */
static void check_fill(const rev_t *v, const spos_t *p, int64_t free_before, int *capped)
{
    int64_t t = v->f[MARGIN_EVF_TYPE], px = v->f[MARGIN_EVF_PRICE], q = v->f[MARGIN_EVF_QTY];
    int64_t want = (int64_t)pnl_of(p->mi, p->side, q, p->entry, px);
    REQ(v->f[MARGIN_EVF_REALIZED_PNL] + v->f[MARGIN_EVF_INSURANCE_DELTA] == want,
        CTX "fill type %lld of %lld: realized %lld + insurance %lld != floor(s*q*(fill-E)) %lld",
        CTXA, (long long)t, (long long)v->f[MARGIN_EVF_POSITION],
        (long long)v->f[MARGIN_EVF_REALIZED_PNL], (long long)v->f[MARGIN_EVF_INSURANCE_DELTA],
        (long long)want);
    if (t == MARGIN_EV_REDUCE)
        return;
    REQ(q == p->qty, CTX "closed %lld of %lld", CTXA, (long long)q, (long long)p->qty);
    if (t == MARGIN_EV_STOP_LOSS || t == MARGIN_EV_TAKE_PROFIT) {
        int64_t fee = (int64_t)val_rate(p->mi, q, px, MK[p->mi].taker, 1),
                got = v->f[MARGIN_EVF_FEE];
        if (!p->cross) {
            i128 can = (i128)free_before + p->margin + v->f[MARGIN_EVF_REALIZED_PNL];
            fee = can < fee ? (can > 0 ? (int64_t)can : 0) : fee;
        }
        REQ(got == fee || (p->cross && got >= 0 && got < fee),
            CTX "stop fee %lld, want %lld", CTXA, (long long)got, (long long)fee);
        *capped = got != fee;
        if (p->stops_known) {
            int64_t trig = t == MARGIN_EV_STOP_LOSS ? p->stop : p->take;
            int below = (t == MARGIN_EV_STOP_LOSS) == (p->side == MARGIN_LONG);
            REQ(trig != 0 && (below ? px <= trig : px >= trig),
                CTX "stop/take at %lld, trigger %lld", CTXA, (long long)px, (long long)trig);
        }
    } else if (t == MARGIN_EV_LIQUIDATION && !p->cross) {
        int64_t lp = v->f[MARGIN_EVF_LIQ_PRICE];
        REQ(v->f[MARGIN_EVF_REALIZED_PNL] == -p->margin && v->f[MARGIN_EVF_FEE] == 0,
            CTX "isolated liquidation PnL %lld, margin %lld", CTXA,
            (long long)v->f[MARGIN_EVF_REALIZED_PNL], (long long)p->margin);
        REQ(p->side == MARGIN_LONG ? px <= lp : px >= lp,
            CTX "isolated liquidation at %lld, LP %lld", CTXA, (long long)px, (long long)lp);
    }
}

/* Feed one step's events through the shadow and its checks. */
static void process_events(size_t n, const op_t *op)
{
    for (size_t i = 0; i < n; i++) {
        const rev_t *v = &S.ev[0][i];
        int64_t t = v->f[MARGIN_EVF_TYPE], amt = v->f[MARGIN_EVF_AMOUNT];
        int64_t delta = v->f[MARGIN_EVF_REALIZED_PNL] - v->f[MARGIN_EVF_FEE];
        uint64_t id = (uint64_t)v->f[MARGIN_EVF_POSITION];
        int ai = acct_index(v->f[MARGIN_EVF_ACCOUNT]);
        sacct_t *sa = &S.a[ai];
        spos_t *p = id >= 1 && id < MAXPOS ? &S.pos[id] : NULL;
        int64_t margin_before = p != NULL ? p->margin : 0;
        int capped = 0;
        REQ(v->f[MARGIN_EVF_TIME] == S.step, CTX "event time %lld", CTXA,
            (long long)v->f[MARGIN_EVF_TIME]);
        REQ(v->f[MARGIN_EVF_SEQ] == S.last_seq + 1, CTX "sequence %lld after %lld", CTXA,
            (long long)v->f[MARGIN_EVF_SEQ], (long long)S.last_seq);
        S.last_seq = v->f[MARGIN_EVF_SEQ];
        REQ(v->f[MARGIN_EVF_MODE] == 0 || v->f[MARGIN_EVF_MODE] == 1, CTX "mode %lld", CTXA,
            (long long)v->f[MARGIN_EVF_MODE]);
        REQ(S.run_acct == -1 || t == MARGIN_EV_LIQUIDATION || t == MARGIN_EV_CROSS_LIQUIDATION,
            CTX "event type %lld inside a cross liquidation", CTXA, (long long)t);
        S.sums.fee += v->f[MARGIN_EVF_FEE];
        S.sums.pnl += v->f[MARGIN_EVF_REALIZED_PNL];
        S.sums.ins += v->f[MARGIN_EVF_INSURANCE_DELTA];
        S.n_ev[t & 15]++;

        if (t == MARGIN_EV_DEPOSIT || t == MARGIN_EV_WITHDRAW) {
            REQ(id == 0, CTX "account event with a position", CTXA);
            if (t == MARGIN_EV_DEPOSIT)
                S.sums.dep += amt;
            else
                S.sums.wd += amt;
            delta += t == MARGIN_EV_DEPOSIT ? amt : -amt;
        } else if (t == MARGIN_EV_CROSS_LIQUIDATION) {
            check_cross_end(v, ai, op);
        } else if (t == MARGIN_EV_MARGIN_CALL && id == 0) {
            REQ(v->f[MARGIN_EVF_MODE] == MARGIN_MODE_CROSS &&
                    v->f[MARGIN_EVF_MARKET] == (int64_t)S.mkt[op->mi] &&
                    (op->type == OP_MARK || op->type == OP_FUNDING),
                CTX "account margin call fields", CTXA);
            S.n_acct_calls++;
        } else {
            REQ(p != NULL && (id <= S.npos || t == MARGIN_EV_OPEN), CTX "event type %lld for "
                "position %" PRIu64, CTXA, (long long)t, id);
            if (t == MARGIN_EV_OPEN) {
                if (!p->known) {
                    REQ(id == S.npos + 1, CTX "new id %" PRIu64 " after %" PRIu64, CTXA, id,
                        S.npos);
                    S.npos = id;
                    p->stops_known = 1;
                    p->stop = p->take = 0;
                    p->cross = (int)v->f[MARGIN_EVF_MODE];
                    p->ai = ai;
                    p->mi = mkt_index(v->f[MARGIN_EVF_MARKET]);
                    REQ(p->cross == (sa->mode[p->mi] == MARGIN_MODE_CROSS),
                        CTX "opened with mode %d in a market of mode %d", CTXA, p->cross,
                        (int)sa->mode[p->mi]);
                } else {
                    REQ(!p->open, CTX "OPEN of an open position", CTXA);
                    p->stops_known = 0; /* a flip: whether stops survive is not specified */
                }
                p->known = p->open = 1;
                p->margin = 0;
                S.open[S.nopen++] = id;
            }
            REQ(p->known && p->open, CTX "event type %lld for closed position %" PRIu64, CTXA,
                (long long)t, id);
            REQ(v->f[MARGIN_EVF_MODE] == p->cross, CTX "position %" PRIu64 " mode %lld", CTXA,
                id, (long long)v->f[MARGIN_EVF_MODE]);
            if (p->cross) {
                REQ(v->f[MARGIN_EVF_MARGIN] == 0 && (t == MARGIN_EV_FUNDING || amt == 0),
                    CTX "cross position event type %lld with margin %lld amount %lld", CTXA,
                    (long long)t, (long long)v->f[MARGIN_EVF_MARGIN], (long long)amt);
            }
            switch (t) {
            case MARGIN_EV_LIQUIDATION:
                if (p->cross)
                    check_cross_leg(v, id, ai);
                else
                    REQ(v->f[MARGIN_EVF_PRICE] == op->price, CTX "isolated liquidation price",
                        CTXA);
                check_fill(v, p, sa->free, &capped);
                break;
            case MARGIN_EV_REDUCE:
            case MARGIN_EV_CLOSE:
            case MARGIN_EV_STOP_LOSS:
            case MARGIN_EV_TAKE_PROFIT:
                check_fill(v, p, sa->free, &capped);
                if (p->cross && (t == MARGIN_EV_STOP_LOSS || t == MARGIN_EV_TAKE_PROFIT))
                    sa->uncertain = 1; /* evaluated before or after the stop? */
                if (!p->cross && (t == MARGIN_EV_STOP_LOSS || t == MARGIN_EV_TAKE_PROFIT)) {
                    /* it moves the wallet: the account's cross book is evaluated in the same
                     * update (docs/design.md, "Detection without a scan") */
                    fig_t f;
                    model(ai, &f);
                    sa->had_cross |= f.n > 0;
                }
                break;
            case MARGIN_EV_FUNDING:
                S.sums.fund += amt;
                delta += amt;
                break;
            case MARGIN_EV_MARGIN_CALL:
                REQ(!p->cross, CTX "margin call on a cross position", CTXA);
                break;
            default:
                break;
            }
            if (!p->cross && t != MARGIN_EV_MARGIN_CALL)
                p->margin += amt;
            if (t == MARGIN_EV_CLOSE || t == MARGIN_EV_LIQUIDATION || t == MARGIN_EV_STOP_LOSS ||
                t == MARGIN_EV_TAKE_PROFIT) {
                REQ(p->margin == 0, CTX "close of %" PRIu64 ": AMOUNT %lld, margin %lld", CTXA,
                    id, (long long)amt, (long long)margin_before);
                p->open = 0;
                p->margin = 0;
                open_del(id);
                REQ(v->f[MARGIN_EVF_POSITION_QTY] == 0 && v->f[MARGIN_EVF_MARGIN] == 0,
                    CTX "closed position with quantity or margin", CTXA);
            } else {
                REQ(p->margin == v->f[MARGIN_EVF_MARGIN] && p->margin >= 0,
                    CTX "margin rebuilt %lld, event %lld", CTXA, (long long)p->margin,
                    (long long)v->f[MARGIN_EVF_MARGIN]);
                p->qty = v->f[MARGIN_EVF_POSITION_QTY];
                p->entry = v->f[MARGIN_EVF_ENTRY_PRICE];
                p->side = (int32_t)v->f[MARGIN_EVF_SIDE];
                p->lev = v->f[MARGIN_EVF_LEVERAGE];
            }
            delta -= p->cross ? 0 : p->margin - margin_before;
        }
        REQ(v->f[MARGIN_EVF_FREE_BALANCE] == sa->free + delta,
            CTX "event type %lld: free balance %lld, expected %lld + %lld", CTXA, (long long)t,
            (long long)v->f[MARGIN_EVF_FREE_BALANCE], (long long)sa->free, (long long)delta);
        sa->free = v->f[MARGIN_EVF_FREE_BALANCE];
        if (capped) {
            fig_t f;
            model(ai, &f);
            REQ(sa->free + f.upnl == 0, CTX "a cross stop's fee was cut, yet the balance is %lld",
                CTXA, (long long)(sa->free + f.upnl));
        }
    }
    REQ(S.run_acct == -1, CTX "cross liquidation without its closing event", CTXA);
}

/* Account margin calls of one evaluation (see the file comment), against this step's
 * events. A level whose state the model does not know is learnt: hit means fired (now or
 * before), below the re-arm threshold means armed; in between it stays unknown. */
static void check_account_calls(size_t n, int ai)
{
    sacct_t *sa = &S.a[ai];
    fig_t f;
    int64_t got[8];
    unsigned want = 0, maybe = 0, seen = 0;
    size_t ng = 0;
    i128 bal;
    int64_t ratio;
    model(ai, &f);
    bal = (i128)sa->free + f.upnl;
    ratio = m_ratio(&f, sa->free);
    for (size_t i = 0; i < n; i++) {
        const rev_t *v = &S.ev[0][i];
        if (v->f[MARGIN_EVF_TYPE] != MARGIN_EV_MARGIN_CALL || v->f[MARGIN_EVF_POSITION] != 0 ||
            v->f[MARGIN_EVF_ACCOUNT] != (int64_t)S.acct[ai])
            continue;
        REQ(ng < 8, CTX "too many account margin calls", CTXA);
        REQ(sa->uncertain || v->f[MARGIN_EVF_MARGIN_RATIO] == ratio,
            CTX "account %d margin call ratio %lld, model %lld", CTXA, ai,
            (long long)v->f[MARGIN_EVF_MARGIN_RATIO], (long long)ratio);
        REQ(ng == 0 || v->f[MARGIN_EVF_LEVEL] > got[ng - 1], CTX "margin calls not lowest level "
            "first", CTXA);
        got[ng++] = v->f[MARGIN_EVF_LEVEL];
    }
    if (!sa->had_cross || f.n == 0) {
        REQ(ng == 0, CTX "account %d: margin call without an evaluation", CTXA, ai);
        return;
    }
    if (sa->uncertain)
        sa->known = 0;
    for (size_t i = 0; i < S.nlevels; i++) {
        int64_t l = S.levels[i];
        unsigned bit = 1u << i;
        int hit = f.mm * E8 >= (i128)l * bal;
        int rearm = l > S.band && f.mm * E8 < (i128)(l - S.band) * bal;
        if (!(sa->known & bit)) {
            if (hit) {
                sa->fired |= bit;
                sa->known |= bit;
                maybe |= bit;
            } else if (rearm) {
                sa->fired &= ~bit;
                sa->known |= bit;
            }
        } else if (!(sa->fired & bit)) {
            if (hit) {
                want |= bit;
                sa->fired |= bit;
            }
        } else if (rearm) {
            sa->fired &= ~bit;
        }
    }
    for (size_t k = 0; k < ng; k++) {
        size_t i = 0;
        while (i < S.nlevels && S.levels[i] != got[k])
            i++;
        REQ(i < S.nlevels && ((want | maybe) & (1u << i)),
            CTX "account %d: margin call at level %lld, which the model does not fire (ratio "
                "%lld)", CTXA, ai, (long long)got[k], (long long)ratio);
        seen |= 1u << i;
    }
    REQ((want & ~seen) == 0, CTX "account %d: a margin call is missing (levels %#x fire, %#x "
        "seen, ratio %lld)", CTXA, ai, want, seen, (long long)ratio);
}

/* ------------------------------------------------------------------ state checks */

static void compare_position(uint64_t id)
{
    for (int32_t k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_MODE; k++) {
        int64_t a = 0, b = 0;
        int ra = margin_position_get(S.e[0], id, k, &a);
        int rb = margin_position_get(S.e[1], id, k, &b);
        REQ(ra == rb && a == b, CTX "position %" PRIu64 " key %d: full scan %lld (%d), indexed "
            "%lld (%d)", CTXA, id, k, (long long)a, ra, (long long)b, rb);
    }
}

/* Both engines alike, the model right, money conserved. */
static void check_state(int all_positions)
{
    int64_t ledger[2][5] = {{0}}, held[2] = {0, 0};
    for (int32_t k = MARGIN_ENG_INSURANCE_FUND; k <= MARGIN_ENG_CROSS_LIQUIDATION; k++)
        REQ(geng(0, k) == geng(1, k), CTX "engine key %d differs", CTXA, k);
    for (int ai = 0; ai < NACC; ai++) {
        fig_t f;
        int64_t iso = 0, nopen = 0, wb = S.a[ai].free;
        model(ai, &f);
        for (size_t i = 0; i < S.nopen; i++) {
            const spos_t *p = &S.pos[S.open[i]];
            if (p->ai == ai) {
                iso += p->margin;
                nopen++;
            }
        }
        for (int32_t k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_CROSS_POSITIONS; k++)
            REQ(gacct(0, ai, k) == gacct(1, ai, k), CTX "account %d key %d: %lld vs %lld", CTXA,
                ai, k, (long long)gacct(0, ai, k), (long long)gacct(1, ai, k));
        {
            const int32_t keys[] = {
                MARGIN_ACCT_FREE_BALANCE,         MARGIN_ACCT_CROSS_WALLET,
                MARGIN_ACCT_CROSS_UNREALIZED_PNL, MARGIN_ACCT_CROSS_MARGIN_BALANCE,
                MARGIN_ACCT_CROSS_MAINT_MARGIN,   MARGIN_ACCT_CROSS_INITIAL_MARGIN,
                MARGIN_ACCT_MARGIN_RATIO,         MARGIN_ACCT_AVAILABLE,
                MARGIN_ACCT_CROSS_POSITIONS,      MARGIN_ACCT_ISOLATED_MARGIN,
                MARGIN_ACCT_OPEN_POSITIONS};
            const int64_t want[] = {wb,
                                    wb,
                                    clamp64(f.upnl),
                                    clamp64(wb + f.upnl),
                                    clamp64(f.mm),
                                    clamp64(f.im),
                                    m_ratio(&f, wb),
                                    m_avail(ai),
                                    f.n,
                                    iso,
                                    nopen};
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                int64_t got = gacct(0, ai, keys[k]);
                REQ(got == want[k], CTX "account %d key %d: engine %lld, model %lld", CTXA, ai,
                    keys[k], (long long)got, (long long)want[k]);
            }
        }
        REQ(f.n > 0 || wb >= 0, CTX "account %d: free balance %lld without cross positions", CTXA,
            ai, (long long)wb);
        for (int w = 0; w < 2; w++) {
            /* deposits, withdrawals, fees, funding, realized PnL (the order of ledger[w]) */
            static const int32_t LK[5] = {MARGIN_ACCT_DEPOSITS, MARGIN_ACCT_WITHDRAWALS,
                                          MARGIN_ACCT_FEES, MARGIN_ACCT_FUNDING,
                                          MARGIN_ACCT_REALIZED_PNL};
            int64_t l[5];
            for (int k = 0; k < 5; k++) {
                l[k] = gacct(w, ai, LK[k]);
                ledger[w][k] += l[k];
            }
            REQ((i128)wb + iso == (i128)l[0] - l[1] - l[2] + l[3] + l[4],
                CTX "account %d not conserved: free %lld + isolated %lld != deposits %lld - "
                    "withdrawals %lld - fees %lld + funding %lld + realized %lld",
                CTXA, ai, (long long)wb, (long long)iso, (long long)l[0], (long long)l[1],
                (long long)l[2], (long long)l[3], (long long)l[4]);
            held[w] += wb + iso;
        }
    }
    for (int w = 0; w < 2; w++) {
        int64_t ins = geng(w, MARGIN_ENG_INSURANCE_FUND);
        REQ(ledger[w][0] == S.sums.dep && ledger[w][1] == S.sums.wd && ledger[w][2] == S.sums.fee &&
                ledger[w][3] == S.sums.fund && ledger[w][4] == S.sums.pnl && ins == S.sums.ins,
            CTX "engine %d: a ledger total differs from its sum over the events", CTXA, w);
        REQ(held[w] + ins == S.sums.dep - S.sums.wd - S.sums.fee + S.sums.fund +
                                 (S.sums.pnl + S.sums.ins),
            CTX "engine %d: global money identity broken", CTXA, w);
        REQ(geng(w, MARGIN_ENG_OPEN_POSITIONS) == (int64_t)S.nopen,
            CTX "engine %d: %lld open positions, shadow %zu", CTXA, w,
            (long long)geng(w, MARGIN_ENG_OPEN_POSITIONS), S.nopen);
    }
    if (all_positions)
        for (uint64_t id = 1; id <= S.npos; id++)
            compare_position(id);
}

/* After a mark update or funding of market mi at mark P. */
static void check_after_mark(int mi, int64_t P)
{
    for (int ai = 0; ai < NACC; ai++) {
        for (int w = 0; w < 2 && S.a[ai].had_cross; w++) {
            int64_t bal = gacct(w, ai, MARGIN_ACCT_CROSS_MARGIN_BALANCE);
            int64_t mm = gacct(w, ai, MARGIN_ACCT_CROSS_MAINT_MARGIN);
            REQ(gacct(w, ai, MARGIN_ACCT_CROSS_POSITIONS) == 0 || bal > mm,
                CTX "engine %d: account %d left with balance %lld <= MM %lld", CTXA, w, ai,
                (long long)bal, (long long)mm);
        }
    }
    for (size_t i = 0; i < S.nopen; i++) {
        uint64_t id = S.open[i];
        const spos_t *p = &S.pos[id];
        int32_t s = p->side;
        if (p->mi != mi)
            continue;
        for (int w = 0; w < 2; w++) {
            int64_t lp = gpos(w, id, MARGIN_POS_LIQ_PRICE), sl = gpos(w, id, MARGIN_POS_STOP_LOSS);
            int64_t tp = gpos(w, id, MARGIN_POS_TAKE_PROFIT);
            REQ(sl == 0 || (s == MARGIN_LONG ? P > sl : P < sl),
                CTX "position %" PRIu64 " left past its stop %lld at %lld", CTXA, id,
                (long long)sl, (long long)P);
            REQ(tp == 0 || (s == MARGIN_LONG ? P < tp : P > tp),
                CTX "position %" PRIu64 " left past its take-profit %lld at %lld", CTXA, id,
                (long long)tp, (long long)P);
            if (!p->cross)
                REQ(s == MARGIN_LONG ? lp == 0 || P > lp : P < lp,
                    CTX "isolated %" PRIu64 " left at %lld past LP %lld", CTXA, id, (long long)P,
                    (long long)lp);
        }
    }
}

/* ------------------------------------------------------------------ a run */

static void dump_step(const op_t *op, int rc, size_t n0, size_t n1)
{
    fprintf(stderr,
            "seed %" PRIu64 " step %d: %s market %d account %d pos %" PRIu64 " side %d qty %lld "
            "price %lld lev %lld margin %lld amount %lld rate %lld flags %u mode %d: %d\n",
            S.seed, S.step, OPN[op->type], op->mi, op->ai, op->pos, (int)op->side,
            (long long)op->qty, (long long)op->price, (long long)op->lev, (long long)op->margin,
            (long long)op->amount, (long long)op->rate, op->flags, (int)op->mode, rc);
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < (w ? n1 : n0); i++) {
            fprintf(stderr, "  %s:", w ? "indexed  " : "full scan");
            for (int k = 1; k < NF; k++)
                fprintf(stderr, " %lld", (long long)S.ev[w][i].f[k]);
            fprintf(stderr, "\n");
        }
}

/* ------------------------------------------------------------------ save / load / continue
 * (issue 12), as in check_random.c: the indexed engine's twin, loaded from its snapshot
 * (the cross positions' band keys come from it), continued alongside for 12 steps and then
 * in its place (the marks aimed at band edges then read the restored engine's keys). */
#define TWIN_ONE_IN 500
#define TWIN_STEPS 12

#define twin_ctx() su_ctx(S.seed, S.step, S.opname)

static int twin_call(margin_engine *twin, const void *op, uint64_t *id)
{
    S.e[2] = twin;
    return apply(2, op, id);
}

static void step_once(void)
{
    op_t op;
    funds_t fu;
    uint64_t id0 = 0, id1 = 0;
    int rc0, rc1;
    size_t n0, n1;
    gen_op(&op);
    S.opname = OPN[op.type];
    predict_funds(&op, &fu);
    for (int ai = 0; ai < NACC; ai++) {
        S.a[ai].uncertain = 0;
        S.a[ai].had_cross = 0;
        S.a[ai].liq_run = 0;
    }
    if (op.type == OP_MARK || op.type == OP_FUNDING)
        for (size_t i = 0; i < S.nopen; i++)
            if (S.pos[S.open[i]].cross && S.pos[S.open[i]].mi == op.mi)
                S.a[S.pos[S.open[i]].ai].had_cross = 1;
    for (int w = 0; w < 2; w++)
        REQ_OK(S.e[w], margin_engine_set(S.e[w], MARGIN_ENG_TIME, S.step));
    rc0 = apply(0, &op, &id0);
    rc1 = apply(1, &op, &id1);
    su_twin_call(&S.tw, S.e[1], S.step, TWIN_ONE_IN, TWIN_STEPS, twin_call, &op, rc1, id1,
                 twin_ctx());
    REQ(rc0 == rc1, CTX "status %d (%s) vs %d (%s)", CTXA, rc0, margin_errmsg(S.e[0]), rc1,
        margin_errmsg(S.e[1]));
    REQ(id0 == id1, CTX "new ids %" PRIu64 " vs %" PRIu64, CTXA, id0, id1);
    check_funds(&fu, rc0);
    if ((op.type == OP_ADD || op.type == OP_REMOVE) && op.pos >= 1 && op.pos <= S.npos &&
        S.pos[op.pos].open && S.pos[op.pos].cross)
        REQ(rc0 == MARGIN_ESTATE, CTX "margin moved on a cross position: %d", CTXA, rc0);
    n0 = drain(0);
    n1 = drain(1);
    su_twin_events(&S.tw, S.ev[1][0].f, NF, n1, NF, twin_ctx());
    if (n0 != n1 || memcmp(S.ev[0], S.ev[1], n0 * sizeof S.ev[0][0]) != 0 || S.trace)
        dump_step(&op, rc0, n0, n1);
    REQ(n0 == n1, CTX "%zu events (full scan) vs %zu (indexed)", CTXA, n0, n1);
    for (size_t i = 0; i < n0; i++)
        for (int k = 1; k < NF; k++)
            REQ(S.ev[0][i].f[k] == S.ev[1][i].f[k],
                CTX "event %zu (type %lld) field %d: full scan %lld, indexed %lld", CTXA, i,
                (long long)S.ev[0][i].f[MARGIN_EVF_TYPE], k, (long long)S.ev[0][i].f[k],
                (long long)S.ev[1][i].f[k]);
    REQ(rc0 == MARGIN_OK || n0 == 0, CTX "a failed call (%d) produced events", CTXA, rc0);
    S.n_failed += rc0 != MARGIN_OK;
    if (S.nopen > S.max_open)
        S.max_open = S.nopen;
    if (rc0 == MARGIN_OK) {
        switch (op.type) {
        case OP_MARK:
        case OP_FUNDING:
            S.mark[op.mi] = op.price;
            break;
        case OP_MODE:
            S.a[op.ai].mode[op.mi] = op.mode;
            break;
        case OP_LEVELS:
            memcpy(S.levels, op.levels, sizeof op.levels);
            S.nlevels = op.nlevels;
            for (int ai = 0; ai < NACC; ai++) {
                S.a[ai].fired = 0; /* new levels re-arm everything */
                S.a[ai].known = ~0u;
            }
            break;
        case OP_BAND:
            S.band = op.rate;
            break;
        case OP_POLICY:
            S.policy = op.rate;
            break;
        case OP_STOPS:
            S.pos[op.pos].stop = op.stop;
            S.pos[op.pos].take = op.take;
            S.pos[op.pos].stops_known = 1;
            break;
        default:
            break;
        }
    }
    process_events(n0, &op);
    if (rc0 == MARGIN_OK && (op.type == OP_MARK || op.type == OP_FUNDING)) {
        check_after_mark(op.mi, op.price);
        for (int ai = 0; ai < NACC; ai++)
            check_account_calls(n0, ai);
    } else {
        for (size_t i = 0; i < n0; i++)
            REQ(S.ev[0][i].f[MARGIN_EVF_TYPE] != MARGIN_EV_MARGIN_CALL,
                CTX "margin call outside a mark update", CTXA);
    }
    for (int ai = 0; ai < NACC; ai++) {
        fig_t f;
        model(ai, &f);
        if (f.n == 0) /* an empty book: whether fired levels persist is not specified */
            S.a[ai].known = 0;
    }
    check_state(S.step % 64 == 0);
    for (size_t i = 0; i < n0; i++)
        if (S.ev[0][i].f[MARGIN_EVF_POSITION] > 0)
            compare_position((uint64_t)S.ev[0][i].f[MARGIN_EVF_POSITION]);
    if (op.pos >= 1 && op.pos <= S.npos)
        compare_position(op.pos);
    if (S.tw.e != NULL)
        su_twin_end_step(&S.tw, &S.e[1], twin_ctx());
}

static void run(uint64_t seed, int nops, int inverse)
{
    memset(&S, 0, sizeof S);
    MK = inverse ? INV_MK : LIN_MK;
    S.seed = seed;
    rng = seed;
    S.tw.rng = seed ^ 0x7A1A5EEDULL;
    S.opname = "setup";
    S.run_acct = -1;
    S.trace = getenv("MARGIN_CROSS_TRACE") != NULL;
    setup_engine(0);
    setup_engine(1);
    for (int i = 0; i < NMKT; i++)
        S.mark[i] = MK[i].start;
    S.levels[0] = 50000000; /* 0.5 divides every MM: exact edges */
    S.levels[1] = 85000000;
    S.nlevels = 2;
    for (int ai = 0; ai < NACC; ai++) {
        S.a[ai].known = ~0u;
        for (int mi = 0; mi < NMKT; mi++) /* 0 isolated, 1 cross, the others mixed */
            S.a[ai].mode[mi] = ai == 0 ? MARGIN_MODE_ISOLATED
                               : ai == 1 ? MARGIN_MODE_CROSS
                                         : (int32_t)(rnd() % 2);
    }
    for (int w = 0; w < 2; w++) {
        REQ_OK(S.e[w], margin_engine_set_margin_call_levels(S.e[w], S.levels, 2));
        for (int ai = 0; ai < NACC; ai++) {
            REQ_OK(S.e[w], margin_account_deposit(S.e[w], S.acct[ai], 30000 * E8));
            for (int mi = 0; mi < NMKT; mi++)
                REQ_OK(S.e[w], margin_account_set_mode(S.e[w], S.acct[ai], S.mkt[mi],
                                                       S.a[ai].mode[mi]));
        }
    }
    {
        op_t none;
        size_t n0 = drain(0), n1 = drain(1);
        memset(&none, 0, sizeof none);
        REQ(n0 == n1, CTX "setup events differ", CTXA);
        process_events(n0, &none);
    }
    for (S.step = 1; S.step <= nops; S.step++)
        step_once();
    if (getenv("MARGIN_CROSS_STATS")) {
        fprintf(stderr, "cross_random seed %" PRIu64 ": %d ops, %d failed (%d EFUNDS); events:",
                seed, nops, S.n_failed, S.n_efunds);
        for (int t = 1; t <= MARGIN_EV_CROSS_LIQUIDATION; t++)
            fprintf(stderr, " %d:%d", t, S.n_ev[t]);
        fprintf(stderr, "; cross liquidations %d (partial %d, with deficit %d), account calls "
                "%d, edge rounds %d, open at most %zu; cross evaluations %lld indexed, %lld "
                "scanning\n",
                S.n_cross_liq, S.n_partial, S.n_deficit, S.n_acct_calls, S.n_edge, S.max_open,
                (long long)geng(1, MARGIN_ENG_CROSS_EVALUATIONS),
                (long long)geng(0, MARGIN_ENG_CROSS_EVALUATIONS));
    }
    /* the run must have exercised what it checks */
    if (nops >= 4000) {
        REQ(S.n_cross_liq >= 5 && S.n_ev[MARGIN_EV_LIQUIDATION] >= 10 && S.n_acct_calls >= 5 &&
                S.n_efunds >= 5,
            "seed %" PRIu64 ": too little exercised: %d cross liquidations, %d liquidations, %d "
            "account margin calls, %d MARGIN_EFUNDS",
            seed, S.n_cross_liq, S.n_ev[MARGIN_EV_LIQUIDATION], S.n_acct_calls, S.n_efunds);
    }
    if (nops >= 4000)
        REQ(S.tw.started > 0, "seed %" PRIu64 ": no engine was restored", seed);
    /* and the indexes did their job: the bands spared most evaluations (about four in
     * five on these runs; a band that degenerated to "any mark" would spare none) */
    if (nops >= 4000)
        REQ(geng(1, MARGIN_ENG_CROSS_EVALUATIONS) * 2 < geng(0, MARGIN_ENG_CROSS_EVALUATIONS),
            "seed %" PRIu64 ": the indexed engine evaluated %lld cross accounts, the scanning "
            "one %lld",
            seed, (long long)geng(1, MARGIN_ENG_CROSS_EVALUATIONS),
            (long long)geng(0, MARGIN_ENG_CROSS_EVALUATIONS));
    margin_engine_free(S.tw.e);
    S.tw.e = NULL;
    margin_engine_free(S.e[0]);
    margin_engine_free(S.e[1]);
    S.e[0] = S.e[1] = NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : dflt;
}

START_TEST(test_cross_random)
{
    run(env_u64("MARGIN_CROSS_SEED", 0xC2055ULL) + (uint64_t)_i * 104729,
        (int)env_u64("MARGIN_CROSS_OPS", 8000), 0);
}
END_TEST

/* The same on four inverse markets (INV_MK): the bands and prices of inverse.c */
START_TEST(test_cross_random_inverse)
{
    run(env_u64("MARGIN_CROSS_SEED", 0xC2055ULL) + (uint64_t)_i * 104729 + 0x1A5E,
        (int)env_u64("MARGIN_CROSS_OPS", 8000), 1);
}
END_TEST

Suite *suite_cross_random(void)
{
    Suite *s = suite_create("cross_random");
    TCase *tc = tcase_create("index_vs_full_scan");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_cross_random, 0, 3);
    tcase_add_loop_test(tc, test_cross_random_inverse, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
