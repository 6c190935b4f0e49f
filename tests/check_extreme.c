/* Suite "extreme": randomized operations at the edges of the representation (issue 9,
 * "Make the class impossible").
 *
 * Each loop iteration takes one pair of scales (price scale ps, quantity scale qs): the
 * iterations walk every pair from 0/0 to 18/18 (361 of them), then a few more pick pairs at
 * random. A run sets up the same market on two engines, engine 0 with MARGIN_ENG_FULL_SCAN
 * = 1 (the reference path) and engine 1 with the trigger indexes: random tick and step,
 * tiers whose maintenance amounts are derived or given (exactly floor * rate rounded up,
 * below it, or above it: taken as given, the maintenance margin is then 0 below cum / mmr,
 * which the non-negativity checks exercise), some invalid tiers (refused, changing
 * nothing), the mark or the entry basis, a fee to close, maker and taker fees, margin-call
 * levels, and accounts holding from a few units to nearly INT64_MAX. Then a few hundred
 * operations through the public API, each applied to both engines: deposits and
 * withdrawals (exactly the free balance, one unit more, up to INT64_MAX), opens and trades
 * (increase, reduce, close, flip) at prices and sizes from 1 unit to the largest the
 * market or int64 holds, closes, margin added and removed (exactly
 * MARGIN_AT_REMOVABLE_MARGIN and one unit more), leverage changes, stop-loss / take-profit
 * (at the maximum price and beyond it), funding with rates up to +-0.99999999 at extreme
 * marks, mark updates at 1, at the maximum price, beyond it, at INT64_MAX and one unit
 * either side of trigger prices, margin-call level changes, market and tier changes, and
 * read-only queries at extreme marks.
 *
 * After every operation:
 *  - both engines returned the same status and produced the same events, field by field,
 *    with consecutive sequence numbers, no negative margin or free balance in any event;
 *  - a failed call changed nothing: a snapshot of every getter (engine keys and margin-call
 *    levels, every market key and tier, every account key, every position key) is
 *    identical before and after, on each engine (so funding, mark updates and everything
 *    else are atomic); and both engines' snapshots are identical to each other;
 *  - for every open position: margin >= 0; MARGIN_AT_MAINT_MARGIN >= 0 at the current mark,
 *    at 1 and at the maximum price; 0 <= removable margin <= margin; closed positions hold
 *    neither quantity nor margin;
 *  - for every account: free balance >= 0, isolated margin >= 0 and equal to the sum of
 *    its open positions' margins; money is conserved (assert_conserved);
 *  - after a successful mark update or funding: no open position of the market is left at
 *    or past its liquidation price (long: mark > LP when LP > 0; short: mark < LP), nor
 *    past a stop-loss or take-profit;
 *  - after a successful margin removal: the margin left still covers the maintenance margin
 *    at the current mark (removable = min(M - M', ...) by the header);
 *  - queries: MARGIN_AT_MAINT_RATE / MAINT_AMOUNT and margin_market_tier_for() report the
 *    tier whose floor range holds the exact notional (compared without rounding);
 *  - statuses the header promises: mark <= 0, |funding rate| >= 1, amounts <= 0 are
 *    MARGIN_EINVAL; a withdrawal beyond the free balance MARGIN_EFUNDS; a deposit that
 *    cannot fit in the free balance fails; removing exactly the removable margin succeeds
 *    (or overflows a ledger), one unit more fails; and, with market bounds
 *    (MARGIN_MKT_MAX_PRICE), a mark, fill or stop price above the maximum is refused
 *    (MARGIN_ERANGE for marks and stops), a mark update inside the bounds fails at most for
 *    a ledger total, every open position's value, PnL, margin balance and maintenance
 *    margin compute at 1, at the mark and at the maximum, and scale pairs with ps + qs > 28
 *    are refused.
 * The sanitizer build (configure --enable-sanitizers) turns any undefined behaviour on the
 * way into a failure.
 *
 * Environment: MARGIN_EXTREME_SEED=n changes the base seed; MARGIN_EXTREME_PAIR=ps/qs runs
 * only that pair's iteration(s); MARGIN_EXTREME_TRACE=1 prints every operation. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "snapshot_util.h"
#include "suites.h"

__extension__ typedef __int128 i128;

#define E8 100000000LL
#define NACC 3
#define NF (MARGIN_EVF_LEVERAGE + 1)
#define MAXPOS 1024
#define MAXEV 512
#define NPAIRS (19 * 19)
#define EXTRA_RUNS 8
#define OPS_PER_RUN 220

#ifdef MARGIN_MKT_MAX_PRICE
#define MKT_KEY_LAST MARGIN_MKT_MAX_PRICE
#else
#define MKT_KEY_LAST MARGIN_MKT_OPEN_POSITIONS
#endif

/* ------------------------------------------------------------------ PRNG (splitmix64) */
static uint64_t rng_state;
static uint64_t rnext(void)
{
    return splitmix64(&rng_state);
}
/* inclusive; the span is computed unsigned so [0, INT64_MAX] and [INT64_MIN, ...] work */
static int64_t rrange(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    return (int64_t)((uint64_t)lo + (span ? rnext() % span : rnext()));
}
static int chance(int pct)
{
    return (int)(rnext() % 100) < pct;
}

/* v clamped to [lo, hi] */
static int64_t clamp(i128 v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : (int64_t)v;
}

static int64_t p10(int k) /* 10^k, k 0..18 */
{
    int64_t v = 1;
    while (k-- > 0)
        v *= 10;
    return v;
}

static int ndigits(int64_t v) /* v >= 1 */
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* log-uniform in [lo, hi] (lo >= 1): every magnitude equally likely, so 1-unit values and
 * values near INT64_MAX both come up. */
static int64_t logu(int64_t lo, int64_t hi)
{
    int d;
    int64_t a, b;
    if (lo < 1)
        lo = 1;
    if (hi < lo)
        return lo;
    d = (int)rrange(ndigits(lo), ndigits(hi));
    a = d == 1 ? 1 : p10(d - 1);
    b = d >= 19 ? INT64_MAX : p10(d) - 1;
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return rrange(a, b);
}

static i128 fdiv(i128 a, i128 b) /* floor, b > 0 */
{
    i128 q = a / b;
    if (a % b != 0 && a < 0)
        q--;
    return q;
}

/* ------------------------------------------------------------------ state */
typedef struct {
    int64_t f[NF];
} rev_t;

/* (status, value) pairs of every getter; see snap() */
#define SNAP_MAX (2 * (16 + 16 + 16 + 4 * 40 + NACC * 12 + MAXPOS * 16))
typedef struct {
    size_t n;
    int64_t v[SNAP_MAX];
} snap_t;

static struct {
    margin_engine *e[3]; /* e[2]: the twin of e[1] (save / load / continue), when one runs */
    su_twin tw;
    uint64_t mkt, acct[NACC];
    int ps, qs;
    int64_t tick, step, maxp, max_lev;
    uint64_t npos;
    uint64_t seed;
    int iter, step_no;
    char desc[256]; /* the operation being checked, for failure messages */
    int64_t last_seq;
    rev_t ev[2][MAXEV];
    snap_t before[2], after[2];
    int trace;
    int ev_count[16], failed, ok;
} X;

#define CTX "seed %" PRIu64 " iter %d pair %d/%d step %d [%s]: "
#define CTXA X.seed, X.iter, X.ps, X.qs, X.step_no, X.desc

static int64_t gacct(int w, uint64_t a, int32_t key)
{
    int64_t v = 0;
    REQ_OK(X.e[w], margin_account_get(X.e[w], a, key, &v));
    return v;
}
static int64_t gpos(int w, uint64_t id, int32_t key)
{
    int64_t v = 0;
    REQ_OK(X.e[w], margin_position_get(X.e[w], id, key, &v));
    return v;
}
static int64_t geng(int w, int32_t key)
{
    int64_t v = 0;
    REQ_OK(X.e[w], margin_engine_get(X.e[w], key, &v));
    return v;
}
static int64_t gmkt(int w, int32_t key)
{
    int64_t v = 0;
    REQ_OK(X.e[w], margin_market_get(X.e[w], X.mkt, key, &v));
    return v;
}

/* ------------------------------------------------------------------ snapshots */
static void put(snap_t *s, int rc, int64_t v)
{
    REQ(s->n + 2 <= SNAP_MAX, CTX "snapshot too large", CTXA);
    s->v[s->n++] = rc;
    s->v[s->n++] = rc == MARGIN_OK ? v : 0;
}

/* Every getter of engine w. Slot 2*(MARGIN_ENG_FULL_SCAN - 1) holds the one value that
 * differs between the two engines by construction. */
static void snap(int w, snap_t *s)
{
    const margin_engine *e = X.e[w];
    int64_t v = 0, lv[8], t[4];
    size_t nl = 0;
    int64_t ntiers = 0;
    int rc;
    s->n = 0;
    for (int32_t k = MARGIN_ENG_TIME; k <= MARGIN_ENG_LIQUIDATIONS; k++) {
        rc = margin_engine_get(e, k, &v);
        put(s, rc, v);
    }
    memset(lv, 0, sizeof lv);
    rc = margin_engine_margin_call_levels(e, lv, 8, &nl);
    put(s, rc, (int64_t)nl);
    for (size_t i = 0; i < 8; i++)
        put(s, MARGIN_OK, lv[i]);
    for (int32_t k = MARGIN_MKT_PRICE_SCALE; k <= MKT_KEY_LAST; k++) {
        rc = margin_market_get(e, X.mkt, k, &v);
        put(s, rc, v);
        if (k == MARGIN_MKT_TIER_COUNT && rc == MARGIN_OK)
            ntiers = v;
    }
    REQ(ntiers >= 1 && ntiers <= 40, CTX "tier count %lld", CTXA, (long long)ntiers);
    for (uint32_t i = 0; i < (uint32_t)ntiers; i++) {
        rc = margin_market_tier(e, X.mkt, i, &t[0], &t[1], &t[2], &t[3]);
        for (int j = 0; j < 4; j++)
            put(s, rc, t[j]);
    }
    for (int a = 0; a < NACC; a++)
        for (int32_t k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_OPEN_POSITIONS; k++) {
            rc = margin_account_get(e, X.acct[a], k, &v);
            put(s, rc, v);
        }
    for (uint64_t id = 1; id <= X.npos; id++)
        for (int32_t k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_LIQ_PRICE; k++) {
            rc = margin_position_get(e, id, k, &v);
            put(s, rc, v);
        }
}

/* Index of the first difference, or -1. */
static long snap_diff(const snap_t *a, const snap_t *b, int skip_full_scan)
{
    size_t n = a->n < b->n ? a->n : b->n;
    size_t fs = 2 * (MARGIN_ENG_FULL_SCAN - 1) + 1;
    for (size_t i = 0; i < n; i++)
        if (a->v[i] != b->v[i] && !(skip_full_scan && i == fs))
            return (long)i;
    return a->n == b->n ? -1 : (long)n;
}

/* ------------------------------------------------------------------ events */
static size_t drain(int w)
{
    size_t n = 0;
    for (;;) {
        int32_t t = -1;
        REQ_OK(X.e[w], margin_event_next(X.e[w], &t));
        if (t == MARGIN_EV_NONE)
            break;
        REQ(n < MAXEV, CTX "too many events", CTXA);
        for (int32_t k = 1; k < NF; k++)
            REQ_OK(X.e[w], margin_event_get(X.e[w], k, &X.ev[w][n].f[k]));
        X.ev[w][n].f[0] = 0;
        n++;
    }
    return n;
}

static size_t compare_events(void)
{
    size_t n0 = drain(0), n1 = drain(1);
    REQ(n0 == n1, CTX "%zu events (full scan) vs %zu (indexed)", CTXA, n0, n1);
    for (size_t i = 0; i < n0; i++) {
        const int64_t *f = X.ev[0][i].f;
        for (int k = 1; k < NF; k++)
            REQ(f[k] == X.ev[1][i].f[k],
                CTX "event %zu (type %lld) field %d: full scan %lld, indexed %lld", CTXA, i,
                (long long)f[MARGIN_EVF_TYPE], k, (long long)f[k],
                (long long)X.ev[1][i].f[k]);
        REQ(f[MARGIN_EVF_SEQ] == X.last_seq + 1, CTX "event sequence %lld after %lld", CTXA,
            (long long)f[MARGIN_EVF_SEQ], (long long)X.last_seq);
        X.last_seq = f[MARGIN_EVF_SEQ];
        REQ(f[MARGIN_EVF_MARGIN] >= 0 && f[MARGIN_EVF_FREE_BALANCE] >= 0,
            CTX "event %zu (type %lld): margin %lld, free balance %lld", CTXA, i,
            (long long)f[MARGIN_EVF_TYPE], (long long)f[MARGIN_EVF_MARGIN],
            (long long)f[MARGIN_EVF_FREE_BALANCE]);
        X.ev_count[f[MARGIN_EVF_TYPE] & 15]++;
    }
    return n0;
}

/* ------------------------------------------------------------------ invariants */
static void check_state(int w)
{
    margin_engine *e = X.e[w];
    i128 iso_sum[NACC] = {0};
    int64_t nopen = 0;
    for (uint64_t id = 1; id <= X.npos; id++) {
        int64_t st = gpos(w, id, MARGIN_POS_STATUS), m = gpos(w, id, MARGIN_POS_MARGIN);
        int64_t q = gpos(w, id, MARGIN_POS_QTY), acct = gpos(w, id, MARGIN_POS_ACCOUNT);
        int64_t marks[3] = {0, 1, X.maxp};
        int64_t mm = 0, rm = 0;
        int rc;
        if (st != MARGIN_STATUS_OPEN) {
            REQ(m == 0 && q == 0, CTX "engine %d: closed position %" PRIu64 " holds qty %lld "
                                      "margin %lld", CTXA, w, id, (long long)q, (long long)m);
            continue;
        }
        nopen++;
        REQ(q > 0, CTX "engine %d: open position %" PRIu64 " has qty %lld", CTXA, w, id,
            (long long)q);
        REQ(m >= 0, CTX "engine %d: position %" PRIu64 " has a negative margin %lld", CTXA, w,
            id, (long long)m);
        REQ(acct >= 1 && acct <= NACC, CTX "position %" PRIu64 " account %lld", CTXA, id,
            (long long)acct);
        iso_sum[acct - 1] += m;
        /* a maintenance margin is never negative, at whatever mark it can be computed */
        for (int i = 0; i < 3; i++) {
            rc = margin_position_at(e, id, MARGIN_AT_MAINT_MARGIN, marks[i], &mm);
#ifdef MARGIN_MKT_MAX_PRICE
            /* every position fits at every mark from 1 to the maximum price: its value, PnL,
             * margin balance and maintenance margin can always be computed */
            REQ(rc == MARGIN_OK, CTX "engine %d: MAINT_MARGIN of %" PRIu64 " at %lld: status %d",
                CTXA, w, id, (long long)marks[i], rc);
            for (int32_t k = MARGIN_AT_NOTIONAL; k <= MARGIN_AT_MARGIN_BALANCE; k++) {
                int64_t v = 0;
                int r2 = margin_position_at(e, id, k, marks[i], &v);
                REQ(r2 == MARGIN_OK, CTX "engine %d: key %d of %" PRIu64 " at %lld: status %d "
                                         "(%s)", CTXA, w, (int)k, id, (long long)marks[i], r2,
                    margin_errmsg(e));
            }
#else
            REQ(rc == MARGIN_OK || rc == MARGIN_EOVERFLOW,
                CTX "engine %d: MAINT_MARGIN of %" PRIu64 " at %lld: status %d", CTXA, w, id,
                (long long)marks[i], rc);
#endif
            REQ(rc != MARGIN_OK || mm >= 0,
                CTX "engine %d: position %" PRIu64 " has maintenance margin %lld at mark %lld "
                    "(0: the market's)", CTXA, w, id, (long long)mm, (long long)marks[i]);
        }
        rc = margin_position_at(e, id, MARGIN_AT_REMOVABLE_MARGIN, 0, &rm);
        REQ(rc == MARGIN_OK || rc == MARGIN_EOVERFLOW,
            CTX "engine %d: REMOVABLE_MARGIN of %" PRIu64 ": status %d", CTXA, w, id, rc);
        REQ(rc != MARGIN_OK || (rm >= 0 && rm <= m),
            CTX "engine %d: position %" PRIu64 " removable margin %lld, margin %lld", CTXA, w,
            id, (long long)rm, (long long)m);
    }
    for (int a = 0; a < NACC; a++) {
        int64_t free_ = gacct(w, X.acct[a], MARGIN_ACCT_FREE_BALANCE);
        int64_t iso = gacct(w, X.acct[a], MARGIN_ACCT_ISOLATED_MARGIN);
        REQ(free_ >= 0 && iso >= 0, CTX "engine %d: account %d free %lld isolated %lld", CTXA,
            w, a + 1, (long long)free_, (long long)iso);
        REQ(iso == iso_sum[a],
            CTX "engine %d: account %d isolated %lld != sum of its open margins %lld", CTXA, w,
            a + 1, (long long)iso, (long long)iso_sum[a]);
        {
            /* assert_conserved's identity, without Check's cost per passing assertion
             * (a message per check in fork mode); assert_conserved itself runs every 32
             * steps and at the end of each run */
            i128 lhs = (i128)free_ + iso;
            i128 rhs = (i128)gacct(w, X.acct[a], MARGIN_ACCT_DEPOSITS) -
                       gacct(w, X.acct[a], MARGIN_ACCT_WITHDRAWALS) +
                       gacct(w, X.acct[a], MARGIN_ACCT_REALIZED_PNL) -
                       gacct(w, X.acct[a], MARGIN_ACCT_FEES) +
                       gacct(w, X.acct[a], MARGIN_ACCT_FUNDING);
            REQ(lhs == rhs, CTX "engine %d: money not conserved on account %d", CTXA, w, a + 1);
            if (X.step_no % 32 == 0 || X.step_no == OPS_PER_RUN)
                assert_conserved(e, X.acct[a]);
        }
    }
    REQ(geng(w, MARGIN_ENG_OPEN_POSITIONS) == nopen &&
            gmkt(w, MARGIN_MKT_OPEN_POSITIONS) == nopen,
        CTX "engine %d: open position counts disagree with %lld", CTXA, w, (long long)nopen);
}

/* After a successful mark update or funding at mark P: nothing left past a trigger. */
static void check_cleared(int64_t P)
{
    for (int w = 0; w < 2; w++)
        for (uint64_t id = 1; id <= X.npos; id++) {
            int64_t lp, sl, tp;
            if (gpos(w, id, MARGIN_POS_STATUS) != MARGIN_STATUS_OPEN)
                continue;
            lp = gpos(w, id, MARGIN_POS_LIQ_PRICE);
            sl = gpos(w, id, MARGIN_POS_STOP_LOSS);
            tp = gpos(w, id, MARGIN_POS_TAKE_PROFIT);
            if (gpos(w, id, MARGIN_POS_SIDE) == MARGIN_LONG) {
                REQ(lp == 0 || P > lp, CTX "engine %d: long %" PRIu64 " left open at mark %lld "
                                           "<= LP %lld", CTXA, w, id, (long long)P,
                    (long long)lp);
                REQ((sl == 0 || P > sl) && (tp == 0 || P < tp),
                    CTX "engine %d: long %" PRIu64 " at mark %lld, stop %lld take %lld not fired",
                    CTXA, w, id, (long long)P, (long long)sl, (long long)tp);
            } else {
                REQ(P < lp, CTX "engine %d: short %" PRIu64 " left open at mark %lld >= LP %lld",
                    CTXA, w, id, (long long)P, (long long)lp);
                REQ((sl == 0 || P < sl) && (tp == 0 || P > tp),
                    CTX "engine %d: short %" PRIu64 " at mark %lld, stop %lld take %lld not "
                        "fired", CTXA, w, id, (long long)P, (long long)sl, (long long)tp);
            }
        }
}

/* ------------------------------------------------------------------ random values */
static int64_t on_tick(int64_t p)
{
    if (p < X.tick)
        return X.tick;
    return p / X.tick * X.tick;
}

static int64_t cur_mark(void)
{
    int64_t m = gmkt(0, MARGIN_MKT_MARK);
    return m > 0 ? m : X.tick;
}

/* What mark 0 means to margin_position_at(): the market's mark, or the entry if none. */
static int64_t cur_mark_or_entry(uint64_t id)
{
    int64_t m = gmkt(0, MARGIN_MKT_MARK);
    return m > 0 ? m : gpos(0, id, MARGIN_POS_ENTRY_PRICE);
}

static uint64_t open_pos(void) /* a random open position, 0 if none */
{
    uint64_t ids[MAXPOS];
    size_t n = 0;
    for (uint64_t id = 1; id <= X.npos; id++)
        if (gpos(0, id, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN)
            ids[n++] = id;
    return n ? ids[rnext() % n] : 0;
}

/* Mostly open positions, sometimes closed ones and ids that do not exist. */
static uint64_t pick_pos(void)
{
    uint64_t id = chance(85) ? open_pos() : 0;
    if (id)
        return id;
    if (X.npos > 0 && chance(80))
        return (uint64_t)rrange(1, (int64_t)X.npos);
    return X.npos + 1 + (uint64_t)rrange(0, 2);
}

/* A price at the edges of the market: 1, a tick, the maximum (on and off the grid), one
 * unit beyond, INT64_MAX. */
static int64_t edge_price(void)
{
    switch (rnext() % 7) {
    case 0:
        return 1;
    case 1:
        return X.tick;
    case 2:
        return on_tick(X.maxp);
    case 3:
        return X.maxp;
    case 4:
        return X.maxp < INT64_MAX ? X.maxp + 1 : INT64_MAX;
    case 5:
        return INT64_MAX;
    default:
        return INT64_MAX - X.tick;
    }
}

/* A price near the mark (within +-50 %, mostly much closer), log-uniform, or at an edge. */
static int64_t any_price(int grid)
{
    int64_t p;
    int r = (int)rrange(0, 99);
    if (r < 65) {
        int64_t c = cur_mark(), span = c / p10((int)rrange(1, 6)) + 1;
        p = clamp((i128)c + rrange(-span, span), 1, INT64_MAX);
    } else if (r < 88) {
        p = logu(1, X.maxp);
    } else {
        p = edge_price();
        if (chance(70))
            return p; /* edges are taken as they are, on the grid or not */
    }
    return grid ? on_tick(p) : p;
}

/* A quantity whose notional at price (or, half the time, at the maximum price, which the
 * market's bounds cap) is a random amount between 1e-8 and 1e10 USDT, or an extreme
 * quantity. Q = N * 10^(ps + qs - 8) / P, saturated, on the step grid. */
static int64_t any_qty(int64_t price)
{
    i128 q;
    int k = X.ps + X.qs - 8;
    if (chance(50))
        price = X.maxp;
    if (chance(15)) {
        switch (rnext() % 4) {
        case 0:
            return X.step;
        case 1:
            return 1;
        case 2:
            return INT64_MAX / X.step * X.step;
        default:
            return logu(1, INT64_MAX) / X.step * X.step;
        }
    }
    q = logu(1, 1000000000000000000LL);
    for (; k > 0; k--)
        q = q > ((i128)1 << 120) ? q : q * 10;
    for (; k < 0; k++)
        q /= 10;
    q /= price > 0 ? price : 1;
    if (q > INT64_MAX)
        q = INT64_MAX;
    q = q / X.step * X.step;
    return q < X.step ? X.step : (int64_t)q;
}

static int64_t any_lev(void)
{
    int r = (int)rrange(0, 99);
    if (r < 10)
        return E8;
    if (r < 20)
        return X.max_lev;
    if (r < 25)
        return X.max_lev < INT64_MAX ? X.max_lev + 1 : INT64_MAX;
    if (r < 28)
        return chance(50) ? 0 : -E8;
    if (r < 32)
        return logu(1, INT64_MAX);
    return rrange(E8, X.max_lev < 200 * E8 ? X.max_lev : 200 * E8);
}

/* A money amount: small, log-uniform up to INT64_MAX, or INT64_MAX itself. */
static int64_t any_money(void)
{
    int r = (int)rrange(0, 99);
    if (r < 5)
        return INT64_MAX;
    if (r < 8)
        return chance(50) ? 0 : -1;
    return logu(1, INT64_MAX);
}

/* A mark: aimed at (or one unit off) a trigger price of an open position, at an edge, a
 * random walk from the last mark, or log-uniform. */
static int64_t any_mark(void)
{
    int r = (int)rrange(0, 99);
    if (r < 30) {
        uint64_t id = open_pos();
        if (id) {
            int64_t t = 0;
            int kind = (int)rrange(0, 4);
            if (kind == 0)
                t = gpos(0, id, MARGIN_POS_LIQ_PRICE);
            else if (kind == 1)
                (void)margin_position_at(X.e[0], id, MARGIN_AT_MARGIN_CALL_PRICE, 0, &t);
            else if (kind == 2)
                (void)margin_position_at(X.e[0], id, MARGIN_AT_BANKRUPTCY_PRICE, 0, &t);
            else
                t = gpos(0, id, kind == 3 ? MARGIN_POS_STOP_LOSS : MARGIN_POS_TAKE_PROFIT);
            if (t > 0)
                return clamp((i128)t + rrange(-1, 1), 1, INT64_MAX);
        }
    }
    if (r < 45)
        return edge_price();
    if (r < 47)
        return chance(50) ? 0 : -1;
    if (r < 57)
        return logu(1, X.maxp);
    return any_price(0);
}

/* ------------------------------------------------------------------ setup */
typedef struct {
    int64_t floor, mmr, lev, amount;
} tier_t;

/* Every tier added to both engines; the status must agree. */
static int add_tier_both(const tier_t *t)
{
    int rc0, rc1;
    snap(0, &X.before[0]);
    snap(1, &X.before[1]);
    rc0 = margin_market_add_tier(X.e[0], X.mkt, t->floor, t->mmr, t->lev, t->amount);
    rc1 = margin_market_add_tier(X.e[1], X.mkt, t->floor, t->mmr, t->lev, t->amount);
    REQ(rc0 == rc1, CTX "add_tier: %d vs %d", CTXA, rc0, rc1);
    if (rc0 != MARGIN_OK)
        for (int w = 0; w < 2; w++) {
            long d;
            snap(w, &X.after[w]);
            d = snap_diff(&X.before[w], &X.after[w], 0);
            REQ(d < 0, CTX "refused add_tier (%d) changed snapshot slot %ld on engine %d", CTXA,
                rc0, d, w);
        }
    return rc0;
}

/* ceil(floor * mmr / 1e8): the largest maintenance amount that keeps the tier's
 * maintenance margin >= 0 at its floor. */
static int64_t max_amount(int64_t floor, int64_t mmr)
{
    i128 v = -fdiv(-(i128)floor * mmr, E8);
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void setup_tiers(int64_t close_fee)
{
    int n = (int)rrange(1, 4);
    int64_t floor = 0, mmr = 0, lev = X.max_lev;
    if (chance(20))
        return; /* the market's default tier */
    snprintf(X.desc, sizeof X.desc, "tiers");
    for (int i = 0; i < n; i++) {
        tier_t t;
        int rc;
        if (i > 0) {
            int64_t f = logu(1, 1000000000000000000LL);
            if (f <= floor)
                f = floor + logu(1, INT64_MAX - floor);
            if (f <= floor)
                break; /* no room above the previous floor */
            floor = f;
        }
        {
            int64_t room = E8 - 1 - close_fee; /* mmr + f < 1 */
            int64_t lo = mmr > 0 ? mmr : 1;
            if (lo > room)
                break;
            mmr = chance(10) ? room : rrange(lo, lo + (room - lo) / 8);
        }
        if (chance(30) && lev > E8)
            lev = rrange(E8, lev);
        t.floor = floor;
        t.mmr = mmr;
        t.lev = chance(20) ? 0 : lev;
        /* and the usual refusals */
        if (chance(10)) {
            tier_t bad = t;
            bad.amount = chance(50) ? -1 : 0;
            bad.mmr = bad.amount == -1 ? bad.mmr : E8 - close_fee; /* mmr + f = 1 */
            snprintf(X.desc, sizeof X.desc, "add_tier invalid mmr %lld amount %lld",
                     (long long)bad.mmr, (long long)bad.amount);
            rc = add_tier_both(&bad);
            REQ(rc == MARGIN_EINVAL, CTX "invalid tier: status %d", CTXA, rc);
        }
        {
            int r = (int)rrange(0, 99);
            int64_t cap = max_amount(floor, mmr);
            if (r < 45)
                t.amount = MARGIN_DERIVE;
            else if (r < 60)
                t.amount = cap; /* exactly floor * rate, rounded up */
            else if (r < 80)
                t.amount = rrange(0, cap);
            else /* above: taken as given, the maintenance margin is 0 below cum / mmr */
                t.amount = clamp((i128)cap + (chance(50) ? 1 : logu(1, INT64_MAX)), 0,
                                 INT64_MAX);
        }
        snprintf(X.desc, sizeof X.desc, "add_tier floor %lld mmr %lld lev %lld amount %lld",
                 (long long)t.floor, (long long)t.mmr, (long long)t.lev, (long long)t.amount);
        rc = add_tier_both(&t);
        /* any amount >= 0 is taken (header); only a derived one can overflow */
        REQ(rc == MARGIN_OK || (rc == MARGIN_EOVERFLOW && t.amount == MARGIN_DERIVE),
            CTX "valid tier refused: %d (%s)", CTXA, rc, margin_errmsg(X.e[0]));
        if (rc != MARGIN_OK)
            break;
    }
}

/* Set the scales on both engines, in a random order; returns 0 when the pair is refused. */
static int setup_scales(int ps, int qs)
{
    int32_t keys[2] = {MARGIN_MKT_PRICE_SCALE, MARGIN_MKT_QTY_SCALE};
    int64_t vals[2] = {ps, qs};
    int first = chance(50) ? 0 : 1, refused = 0;
    for (int j = 0; j < 2; j++) {
        int k = j ^ first, rc0, rc1;
        snprintf(X.desc, sizeof X.desc, "set scale key %d to %lld (pair %d/%d)", (int)keys[k],
                 (long long)vals[k], ps, qs);
        snap(0, &X.before[0]);
        snap(1, &X.before[1]);
        rc0 = margin_market_set(X.e[0], X.mkt, keys[k], vals[k]);
        rc1 = margin_market_set(X.e[1], X.mkt, keys[k], vals[k]);
        REQ(rc0 == rc1, CTX "%d vs %d", CTXA, rc0, rc1);
#ifdef MARGIN_MKT_MAX_PRICE
        /* the second setting completes the pair: more than 28 decimals in all is refused */
        if (j == 1 && ps + qs > 28)
            REQ(rc0 == MARGIN_EINVAL, CTX "pair %d/%d: status %d, want MARGIN_EINVAL", CTXA,
                ps, qs, rc0);
        else
#endif
            REQ(rc0 == MARGIN_OK, CTX "status %d (%s)", CTXA, rc0, margin_errmsg(X.e[0]));
        if (rc0 != MARGIN_OK) {
            refused = 1;
            for (int w = 0; w < 2; w++) {
                snap(w, &X.after[w]);
                REQ(snap_diff(&X.before[w], &X.after[w], 0) < 0,
                    CTX "refused scale changed the market", CTXA);
            }
        }
    }
    return !refused;
}

static void setup(int ps, int qs)
{
    int64_t close_fee, lv[3];
    size_t nl;
    for (int w = 0; w < 2; w++) {
        ck_assert_int_eq(margin_engine_new(&X.e[w]), MARGIN_OK);
        REQ_OK(X.e[w], margin_engine_set(X.e[w], MARGIN_ENG_FULL_SCAN, w == 0));
        REQ_OK(X.e[w], margin_market_new(X.e[w], "EDGEUSDT", &X.mkt));
        for (int a = 0; a < NACC; a++)
            REQ_OK(X.e[w], margin_account_new(X.e[w], &X.acct[a]));
    }
    X.npos = 0;
    (void)setup_scales(ps, qs);
    /* whatever pair the market ended up with (the default 8 stays when one is refused) */
    X.ps = (int)gmkt(0, MARGIN_MKT_PRICE_SCALE);
    X.qs = (int)gmkt(0, MARGIN_MKT_QTY_SCALE);
#ifdef MARGIN_MKT_MAX_PRICE
    X.maxp = gmkt(0, MARGIN_MKT_MAX_PRICE);
    REQ(X.maxp >= 1, CTX "maximum price %lld", CTXA, (long long)X.maxp);
#else
    X.maxp = INT64_MAX;
#endif
    /* grid: one unit, a power of ten, or an odd number of units */
    {
        int r = (int)rrange(0, 99);
        X.tick = r < 40 ? 1 : r < 75 ? p10((int)rrange(0, X.ps)) : rrange(1, 999);
        r = (int)rrange(0, 99);
        X.step = r < 40 ? 1 : r < 75 ? p10((int)rrange(0, X.qs)) : rrange(1, 999);
        if (X.tick > X.maxp)
            X.tick = 1;
    }
    {
        static const int64_t LEV[] = {1, 2, 20, 125, 1000, 100000};
        X.max_lev = chance(30) ? 125 * E8 : LEV[rnext() % 6] * E8;
    }
    close_fee = chance(40) ? 0 : chance(50) ? 50000 : rrange(1, 20000000);
    snprintf(X.desc, sizeof X.desc, "market tick %lld step %lld max lev %lld close fee %lld",
             (long long)X.tick, (long long)X.step, (long long)X.max_lev, (long long)close_fee);
    {
        int64_t basis = chance(50) ? MARGIN_MM_BASIS_ENTRY : MARGIN_MM_BASIS_MARK;
        int64_t taker = chance(80) ? rrange(0, 100000) : rrange(0, E8);
        int64_t maker = chance(80) ? rrange(0, 50000) : rrange(0, E8);
        for (int w = 0; w < 2; w++) {
            margin_engine *e = X.e[w];
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_TICK, X.tick));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_STEP, X.step));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_MAX_LEVERAGE, X.max_lev));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_MM_BASIS, basis));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_CLOSE_FEE, close_fee));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_TAKER_FEE, taker));
            REQ_OK(e, margin_market_set(e, X.mkt, MARGIN_MKT_MAKER_FEE, maker));
        }
    }
    setup_tiers(close_fee);
    nl = (size_t)rrange(0, 3);
    for (size_t i = 0; i < nl; i++)
        lv[i] = rrange(1, E8 - 1);
    snprintf(X.desc, sizeof X.desc, "accounts and levels");
    for (int w = 0; w < 2; w++) {
        int rc = margin_engine_set_margin_call_levels(X.e[w], lv, nl);
        REQ(rc == MARGIN_OK || rc == MARGIN_EINVAL, CTX "levels: %d", CTXA, rc);
        /* from a few units to nearly INT64_MAX */
        REQ_OK(X.e[w], margin_account_deposit(X.e[w], X.acct[0], INT64_MAX - 1000));
        REQ_OK(X.e[w], margin_account_deposit(X.e[w], X.acct[1], 1000000 * E8));
    }
    {
        int64_t small = logu(1, 1000000 * E8);
        for (int w = 0; w < 2; w++)
            REQ_OK(X.e[w], margin_account_deposit(X.e[w], X.acct[2], small));
    }
    compare_events();
}

/* ------------------------------------------------------------------ operations */
enum {
    OP_MARK,
    OP_OPEN,
    OP_TRADE,
    OP_CLOSE,
    OP_ADD,
    OP_REMOVE,
    OP_LEVERAGE,
    OP_STOPS,
    OP_FUNDING,
    OP_DEPOSIT,
    OP_WITHDRAW,
    OP_LEVELS,
    OP_QUERY,
    OP_TIER_FOR,
    OP_MARKET,
    OP_ADD_TIER,
};
static const char *const OPNAMES[] = {
    "mark",     "open",     "trade",  "close", "add_margin", "remove_margin",
    "leverage", "stops",    "funding", "deposit", "withdraw", "levels",
    "query",    "tier_for", "market_set", "add_tier",
};

/* What the header promises for an operation, decided from the state before it:
 * a status code (<= 0), or one of these. */
enum { WANT_ANY = 1, WANT_FAIL, WANT_OK_OR_OVERFLOW };

typedef struct {
    int type, want;
    uint64_t acct, pos;
    int32_t side, key;
    int64_t qty, price, lev, margin, amount, rate, stop, take;
    uint32_t flags;
    int64_t levels[9];
    size_t nlevels;
    tier_t tier;
} op_t;

static int64_t rate_pick(void)
{
    int r = (int)rrange(0, 99);
    int64_t v;
    if (r < 30)
        v = E8 - 1; /* +-0.99999999 */
    else if (r < 36)
        v = chance(50) ? E8 : INT64_MAX; /* |rate| >= 1: refused */
    else if (r < 40)
        v = 0;
    else if (r < 75)
        v = rrange(0, 1000000);
    else
        v = rrange(0, E8 - 1);
    return chance(50) ? v : -v;
}

static void gen_op(op_t *op)
{
    int r = (int)rrange(0, 999);
    uint64_t a = (uint64_t)rrange(0, NACC - 1);
    int64_t free_;
    memset(op, 0, sizeof *op);
    op->want = WANT_ANY;
    op->acct = X.acct[a];
    free_ = gacct(0, op->acct, MARGIN_ACCT_FREE_BALANCE);
    op->type = r < 180 ? OP_MARK
             : r < 330 ? OP_OPEN
             : r < 430 ? OP_TRADE
             : r < 480 ? OP_CLOSE
             : r < 530 ? OP_ADD
             : r < 610 ? OP_REMOVE
             : r < 650 ? OP_LEVERAGE
             : r < 710 ? OP_STOPS
             : r < 800 ? OP_FUNDING
             : r < 840 ? OP_DEPOSIT
             : r < 880 ? OP_WITHDRAW
             : r < 895 ? OP_LEVELS
             : r < 945 ? OP_QUERY
             : r < 965 ? OP_TIER_FOR
             : r < 985 ? OP_MARKET
                       : OP_ADD_TIER;
    switch (op->type) {
    case OP_TRADE:
    case OP_CLOSE:
    case OP_ADD:
    case OP_REMOVE:
    case OP_LEVERAGE:
    case OP_STOPS:
    case OP_QUERY:
        /* with nothing open, mostly open something instead */
        if (open_pos() == 0 && chance(75)) {
            op->type = OP_OPEN;
            break;
        }
        op->pos = pick_pos();
        break;
    }
    {
        int is_open = op->pos >= 1 && op->pos <= X.npos &&
                      gpos(0, op->pos, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN;
        int64_t pfree = is_open ? gacct(0, (uint64_t)gpos(0, op->pos, MARGIN_POS_ACCOUNT),
                                        MARGIN_ACCT_FREE_BALANCE)
                                : 0;
        switch (op->type) {
        case OP_MARK:
            op->price = any_mark();
            if (op->price <= 0)
                op->want = MARGIN_EINVAL;
#ifdef MARGIN_MKT_MAX_PRICE
            /* bounds: outside is bad input; inside, a mark update fails only when an
             * account's ledger total would pass INT64_MAX (no position's figures can
             * overflow: check_state) */
            else
                op->want = op->price > X.maxp ? MARGIN_ERANGE : WANT_OK_OR_OVERFLOW;
#endif
            break;
        case OP_FUNDING:
            op->rate = rate_pick();
            op->price = chance(50) ? cur_mark() : any_mark();
            if (op->price <= 0 || op->rate >= E8 || op->rate <= -E8)
                op->want = MARGIN_EINVAL;
#ifdef MARGIN_MKT_MAX_PRICE
            if (op->price > X.maxp) /* which refusal wins over a bad rate is not specified */
                op->want = op->want == MARGIN_EINVAL ? WANT_FAIL : MARGIN_ERANGE;
#endif
            break;
        case OP_OPEN:
            if (chance(1))
                op->acct = X.acct[NACC - 1] + 1; /* no such account */
            op->side = chance(1) ? 0 : chance(50) ? MARGIN_LONG : MARGIN_SHORT;
            op->price = any_price(chance(95));
            op->qty = any_qty(op->price);
            op->lev = any_lev();
            r = (int)rrange(0, 99);
            op->margin = r < 70 ? 0 : r < 85 ? logu(1, free_) : any_money();
            if (op->lev <= 0 && op->margin <= 0 && chance(80))
                op->margin = logu(1, free_ > 0 ? free_ : 1);
            op->flags = chance(15) ? MARGIN_FLAG_MAKER : chance(1) ? MARGIN_FLAG_CROSS : 0;
            if (op->price > X.maxp)
                op->want = WANT_FAIL;
            break;
        case OP_TRADE:
            op->side = chance(50) ? MARGIN_LONG : MARGIN_SHORT;
            op->price = any_price(chance(95));
            op->qty = any_qty(op->price);
            if (is_open && chance(70)) {
                int64_t q = gpos(0, op->pos, MARGIN_POS_QTY);
                int k = (int)rrange(0, 9);
                op->side = -(int32_t)gpos(0, op->pos, MARGIN_POS_SIDE);
                if (k < 4) /* reduce */
                    op->qty = q > X.step ? rrange(1, (q - 1) / X.step) * X.step : q;
                else if (k < 6) /* exactly close */
                    op->qty = q;
                else if (k < 8) /* flip */
                    op->qty = clamp((i128)q + (i128)X.step * rrange(1, 3), 1, INT64_MAX);
                else /* increase */
                    op->side = -op->side;
            }
            op->flags = chance(20) ? MARGIN_FLAG_MAKER : 0;
            if (op->price > X.maxp)
                op->want = WANT_FAIL;
            break;
        case OP_CLOSE:
            op->price = any_price(chance(95));
            op->flags = chance(20) ? MARGIN_FLAG_MAKER : 0;
            if (op->price > X.maxp)
                op->want = WANT_FAIL;
            break;
        case OP_ADD:
            r = (int)rrange(0, 99);
            op->amount = r < 15 ? pfree : r < 55 ? logu(1, pfree > 0 ? pfree : 1) : any_money();
            if (op->amount <= 0)
                op->want = MARGIN_EINVAL;
            else if (is_open && op->amount > pfree)
                op->want = WANT_FAIL;
            break;
        case OP_REMOVE: {
            int64_t rm = 0;
            int rc = is_open ? margin_position_at(X.e[0], op->pos, MARGIN_AT_REMOVABLE_MARGIN,
                                                  0, &rm)
                             : MARGIN_ECLOSED;
            r = (int)rrange(0, 99);
            if (rc == MARGIN_OK && r < 35) {
                op->amount = rm; /* exactly the removable margin: allowed */
                if (rm > 0)
                    op->want = WANT_OK_OR_OVERFLOW;
            } else if (rc == MARGIN_OK && r < 70 && rm < INT64_MAX) {
                op->amount = rm + 1; /* one unit more: refused */
                op->want = WANT_FAIL;
            } else {
                op->amount = any_money();
                if (rc == MARGIN_OK && op->amount > rm)
                    op->want = WANT_FAIL;
            }
            if (op->amount <= 0)
                op->want = MARGIN_EINVAL;
            break;
        }
        case OP_LEVERAGE:
            op->lev = any_lev();
            if (op->lev <= 0)
                op->want = WANT_FAIL;
            break;
        case OP_STOPS: {
            int64_t v[2];
            for (int i = 0; i < 2; i++) {
                r = (int)rrange(0, 99);
                v[i] = r < 35 ? 0 : r < 65 ? any_price(0) : r < 97 ? edge_price() : -1;
            }
            op->stop = v[0];
            op->take = v[1];
            if (op->stop < 0 || op->take < 0)
                op->want = WANT_FAIL;
#ifdef MARGIN_MKT_MAX_PRICE
            else if (is_open && (op->stop > X.maxp || op->take > X.maxp))
                op->want = MARGIN_ERANGE;
#endif
            break;
        }
        case OP_DEPOSIT:
            r = (int)rrange(0, 99);
            op->amount = r < 25 ? INT64_MAX - free_ /* fills the balance exactly */
                       : r < 45 ? (free_ > 0 ? INT64_MAX - free_ + 1 : INT64_MAX)
                                : any_money();
            if (op->amount <= 0)
                op->want = MARGIN_EINVAL;
            else if (op->amount > INT64_MAX - free_)
                op->want = WANT_FAIL; /* the free balance cannot hold it */
            break;
        case OP_WITHDRAW:
            r = (int)rrange(0, 99);
            op->amount = r < 25 ? free_ : r < 45 ? free_ + (free_ < INT64_MAX)
                       : r < 75 ? logu(1, free_ > 0 ? free_ : 1) : any_money();
            if (op->amount <= 0)
                op->want = MARGIN_EINVAL;
            else if (op->amount > free_)
                op->want = MARGIN_EFUNDS;
            else if (op->amount == free_)
                op->want = WANT_OK_OR_OVERFLOW;
            break;
        case OP_LEVELS:
            op->nlevels = chance(5) ? 9 : (size_t)rrange(0, 3);
            for (size_t i = 0; i < op->nlevels; i++)
                op->levels[i] = chance(3) ? (chance(50) ? 0 : E8) : rrange(1, E8 - 1);
            for (size_t i = 0; i < op->nlevels; i++)
                if (op->levels[i] <= 0 || op->levels[i] >= E8)
                    op->want = MARGIN_EINVAL;
            if (op->nlevels > 8)
                op->want = MARGIN_EINVAL;
            break;
        case OP_QUERY:
            op->key = (int32_t)rrange(MARGIN_AT_NOTIONAL - 1, MARGIN_AT_MARGIN_CALL_PRICE + 1);
            r = (int)rrange(0, 99);
            op->price = r < 30 ? 0 : r < 60 ? edge_price() : r < 97 ? any_mark() : -1;
            if (op->price < 0)
                op->price = -1;
            break;
        case OP_TIER_FOR:
            r = (int)rrange(0, 99);
            if (r < 50) {
                int64_t n = gmkt(0, MARGIN_MKT_TIER_COUNT), t[4];
                REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)rrange(0, n - 1),
                                                  &t[0], &t[1], &t[2], &t[3]));
                op->amount = clamp((i128)t[0] + rrange(-1, 1), 0, INT64_MAX);
            } else {
                op->amount = r < 60 ? INT64_MAX : r < 62 ? -1 : logu(1, INT64_MAX);
            }
            break;
        case OP_MARKET: {
            static const int32_t KEYS[] = {MARGIN_MKT_MAX_LEVERAGE, MARGIN_MKT_TAKER_FEE,
                                           MARGIN_MKT_MAKER_FEE,    MARGIN_MKT_CLOSE_FEE,
                                           MARGIN_MKT_MM_BASIS,     MARGIN_MKT_TICK,
                                           MARGIN_MKT_STEP,         MARGIN_MKT_PRICE_SCALE};
            op->key = KEYS[rnext() % 8];
            switch (op->key) {
            case MARGIN_MKT_MAX_LEVERAGE:
                op->amount = chance(50) ? logu(E8, 1000 * E8) : E8;
                break;
            case MARGIN_MKT_TAKER_FEE:
            case MARGIN_MKT_MAKER_FEE:
                op->amount = chance(90) ? rrange(0, E8) : E8 + 1;
                break;
            case MARGIN_MKT_CLOSE_FEE:
                op->amount = rrange(0, E8);
                break;
            case MARGIN_MKT_MM_BASIS:
                op->amount = rrange(0, 2);
                break;
            case MARGIN_MKT_TICK:
            case MARGIN_MKT_STEP:
                op->amount = chance(90) ? p10((int)rrange(0, 3)) : 0;
                break;
            default:
                op->amount = rrange(0, 18);
                /* the scales are fixed once the market has had a position */
                if (X.npos > 0)
                    op->want = WANT_FAIL;
                break;
            }
            break;
        }
        case OP_ADD_TIER: {
            int64_t n = gmkt(0, MARGIN_MKT_TIER_COUNT), t[4];
            REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)(n - 1), &t[0], &t[1],
                                              &t[2], &t[3]));
            op->tier.floor = t[0] < INT64_MAX ? t[0] + logu(1, INT64_MAX - t[0]) : t[0];
            op->tier.mmr = t[1] + rrange(0, 1000);
            op->tier.lev = 0;
            r = (int)rrange(0, 99);
            op->tier.amount = r < 50 ? MARGIN_DERIVE
                            : r < 75 ? max_amount(op->tier.floor, op->tier.mmr)
                                     : clamp((i128)max_amount(op->tier.floor, op->tier.mmr) + 1,
                                             0, INT64_MAX);
            if (gmkt(0, MARGIN_MKT_OPEN_POSITIONS) > 0)
                op->want = WANT_FAIL; /* tiers cannot change under open positions */
            break;
        }
        }
    }
    /* an operation on a closed or unknown position fails, whatever else is wrong with it
     * (which error wins is not specified) */
    if (op->pos != 0 && !(op->pos <= X.npos && gpos(0, op->pos, MARGIN_POS_STATUS) ==
                                                   MARGIN_STATUS_OPEN))
        op->want = WANT_FAIL;
    if (op->type == OP_ADD_TIER)
        snprintf(X.desc, sizeof X.desc, "add_tier floor %lld mmr %lld lev %lld amount %lld",
                 (long long)op->tier.floor, (long long)op->tier.mmr, (long long)op->tier.lev,
                 (long long)op->tier.amount);
    else
        snprintf(X.desc, sizeof X.desc,
                 "%s acct %" PRIu64 " pos %" PRIu64 " side %d qty %lld price %lld lev %lld margin "
                 "%lld amount %lld rate %lld stop %lld take %lld flags %u key %d",
                 OPNAMES[op->type], op->acct, op->pos, (int)op->side, (long long)op->qty,
                 (long long)op->price, (long long)op->lev, (long long)op->margin,
                 (long long)op->amount, (long long)op->rate, (long long)op->stop,
                 (long long)op->take, op->flags, (int)op->key);
}

/* Apply op to engine w. Read-only queries return their result in out[0..1]. */
static int apply(int w, const op_t *op, uint64_t *new_id, int64_t out[2])
{
    margin_engine *e = X.e[w];
    switch (op->type) {
    case OP_MARK:
        return margin_mark_update(e, X.mkt, op->price);
    case OP_OPEN:
        return margin_position_open(e, op->acct, X.mkt, op->side, op->qty, op->price, op->lev,
                                    op->margin, op->flags, new_id);
    case OP_TRADE:
        return margin_position_trade(e, op->pos, op->side, op->qty, op->price, op->flags);
    case OP_CLOSE:
        return margin_position_close(e, op->pos, op->price, op->flags);
    case OP_ADD:
        return margin_position_add_margin(e, op->pos, op->amount);
    case OP_REMOVE:
        return margin_position_remove_margin(e, op->pos, op->amount);
    case OP_LEVERAGE:
        return margin_position_set_leverage(e, op->pos, op->lev);
    case OP_STOPS:
        return margin_position_set_stops(e, op->pos, op->stop, op->take);
    case OP_FUNDING:
        return margin_funding_apply(e, X.mkt, op->rate, op->price);
    case OP_DEPOSIT:
        return margin_account_deposit(e, op->acct, op->amount);
    case OP_WITHDRAW:
        return margin_account_withdraw(e, op->acct, op->amount);
    case OP_LEVELS:
        return margin_engine_set_margin_call_levels(e, op->levels, op->nlevels);
    case OP_QUERY:
        return margin_position_at(e, op->pos, op->key, op->price, &out[0]);
    case OP_TIER_FOR:
        return margin_market_tier_for(e, X.mkt, op->amount, &out[0], &out[1]);
    case OP_MARKET:
        return margin_market_set(e, X.mkt, op->key, op->amount);
    case OP_ADD_TIER:
        return margin_market_add_tier(e, X.mkt, op->tier.floor, op->tier.mmr, op->tier.lev,
                                      op->tier.amount);
    }
    return MARGIN_EINVAL;
}

/* ------------------------------------------------------------------ tier oracles */
static i128 p10_128(int k)
{
    i128 v = 1;
    while (k-- > 0)
        v *= 10;
    return v;
}

/* Index of the tier whose [floor, next floor) holds the money notional n. */
static int64_t tier_index_money(int64_t n)
{
    int64_t count = gmkt(0, MARGIN_MKT_TIER_COUNT), t[4];
    for (int64_t k = count - 1; k > 0; k--) {
        REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)k, &t[0], &t[1], &t[2],
                                          &t[3]));
        if (n >= t[0])
            return k;
    }
    return 0;
}

/* Index of the tier holding the exact notional q*p (scale ps + qs), compared with each
 * floor (scale 8) without rounding either: floor <= q*p / 10^(ns-8) for ns >= 8, else
 * ceil(floor / 10^(8-ns)) <= q*p. */
static int64_t tier_index_qp(int64_t q, int64_t p)
{
    int64_t count = gmkt(0, MARGIN_MKT_TIER_COUNT), t[4];
    int ns = X.ps + X.qs;
    i128 qp = (i128)q * p;
    for (int64_t k = count - 1; k > 0; k--) {
        int in;
        REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)k, &t[0], &t[1], &t[2],
                                          &t[3]));
        if (ns >= 8)
            in = t[0] <= qp / p10_128(ns - 8);
        else
            in = -fdiv(-(i128)t[0], p10_128(8 - ns)) <= qp;
        if (in)
            return k;
    }
    return 0;
}

/* The tier a read-only query reports must be the one the notional falls in. */
static void check_query(const op_t *op, int rc, const int64_t out[2])
{
    int64_t t[4];
    if (rc != MARGIN_OK)
        return;
    if (op->type == OP_TIER_FOR) {
        int64_t k = tier_index_money(op->amount);
        REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)k, &t[0], &t[1], &t[2],
                                          &t[3]));
        REQ(out[0] == t[1] && out[1] == t[3],
            CTX "tier_for(%lld): rate %lld amount %lld, tier %lld has rate %lld amount %lld",
            CTXA, (long long)op->amount, (long long)out[0], (long long)out[1], (long long)k,
            (long long)t[1], (long long)t[3]);
    } else if (op->key == MARGIN_AT_MAINT_RATE || op->key == MARGIN_AT_MAINT_AMOUNT) {
        int64_t q = gpos(0, op->pos, MARGIN_POS_QTY), p, k;
        if (gmkt(0, MARGIN_MKT_MM_BASIS) == MARGIN_MM_BASIS_ENTRY)
            p = gpos(0, op->pos, MARGIN_POS_ENTRY_PRICE);
        else
            p = op->price ? op->price : cur_mark_or_entry(op->pos);
        k = tier_index_qp(q, p);
        REQ_OK(X.e[0], margin_market_tier(X.e[0], X.mkt, (uint32_t)k, &t[0], &t[1], &t[2],
                                          &t[3]));
        REQ(out[0] == (op->key == MARGIN_AT_MAINT_RATE ? t[1] : t[3]),
            CTX "key %d at %lld: %lld, but q*p = %lld*%lld is in tier %lld (rate %lld amount "
                "%lld)", CTXA, (int)op->key, (long long)p, (long long)out[0], (long long)q,
            (long long)p, (long long)k, (long long)t[1], (long long)t[3]);
    }
}

/* ------------------------------------------------------------------ the run */
/* msg: engine 0's message right after the call (the snapshot's getters may replace it) */
static void check_want(const op_t *op, int rc, const char *msg)
{
    if (op->want == WANT_ANY)
        return;
    if (op->want == WANT_FAIL)
        REQ(rc != MARGIN_OK, CTX "succeeded, but must fail", CTXA);
    else if (op->want == WANT_OK_OR_OVERFLOW)
        REQ(rc == MARGIN_OK || rc == MARGIN_EOVERFLOW, CTX "status %d (%s), want success", CTXA,
            rc, msg);
    else
        REQ(rc == op->want, CTX "status %d (%s), want %d", CTXA, rc, msg, op->want);
}

/* ------------------------------------------------------------------ save / load / continue
 * (issue 12). About one step in 100, right after an operation and before its events are
 * taken, the indexed engine is saved and loaded into a fresh engine, its twin (the
 * market's scales, tiers, bounds and options at this iteration's extremes come from the
 * snapshot). For the next 16 steps the twin gets the same operations: the same status, id
 * and results, the same events field by field, the same state hash (every fourth step) and
 * identical snapshot bytes at the end; then the twin replaces the indexed engine for the
 * rest of the run. */
#define TWIN_ONE_IN 100
#define TWIN_STEPS 16

static const char *twin_ctx(void)
{
    static char ctx[320];
    snprintf(ctx, sizeof ctx, CTX, CTXA);
    return ctx;
}

static void twin_apply(const op_t *op, int rc1, uint64_t id1, const int64_t out1[2])
{
    uint64_t id2 = 0;
    int64_t out2[2] = {0, 0};
    int rc2;
    if (!su_twin_step(&X.tw, X.e[1], X.step_no, TWIN_ONE_IN, TWIN_STEPS, twin_ctx()))
        return;
    X.e[2] = X.tw.e;
    rc2 = apply(2, op, &id2, out2);
    REQ(rc2 == rc1 && id2 == id1 && out2[0] == out1[0] && out2[1] == out1[1],
        CTX "twin: status %d, id %" PRIu64 ", results %lld/%lld; indexed %d, %" PRIu64
            ", %lld/%lld",
        CTXA, rc2, id2, (long long)out2[0], (long long)out2[1], rc1, id1, (long long)out1[0],
        (long long)out1[1]);
}

static void step(void)
{
    op_t op;
    uint64_t id[2] = {0, 0};
    int64_t out[2][2] = {{0, 0}, {0, 0}};
    int rc[2];
    long d;
    char msg[256];
    for (int w = 0; w < 2; w++)
        REQ_OK(X.e[w], margin_engine_set(X.e[w], MARGIN_ENG_TIME, X.step_no));
    gen_op(&op);
    for (int w = 0; w < 2; w++)
        snap(w, &X.before[w]);
    d = snap_diff(&X.before[0], &X.before[1], 1);
    REQ(d < 0, CTX "engines differ before the step at snapshot slot %ld: %lld vs %lld", CTXA, d,
        (long long)X.before[0].v[d], (long long)X.before[1].v[d]);
    for (int w = 0; w < 2; w++)
        rc[w] = apply(w, &op, &id[w], out[w]);
    twin_apply(&op, rc[1], id[1], out[1]);
    snprintf(msg, sizeof msg, "%s", rc[0] ? margin_errmsg(X.e[0]) : "");
    if (X.trace)
        fprintf(stderr, "iter %d step %d: %s -> %d %s\n", X.iter, X.step_no, X.desc, rc[0],
                rc[0] ? margin_errmsg(X.e[0]) : "");
    REQ(rc[0] == rc[1], CTX "status %d (%s) full scan vs %d (%s) indexed", CTXA, rc[0],
        margin_errmsg(X.e[0]), rc[1], margin_errmsg(X.e[1]));
    REQ(id[0] == id[1] && out[0][0] == out[1][0] && out[0][1] == out[1][1],
        CTX "results differ: id %" PRIu64 "/%" PRIu64 ", %lld/%lld, %lld/%lld", CTXA, id[0],
        id[1], (long long)out[0][0], (long long)out[1][0], (long long)out[0][1],
        (long long)out[1][1]);
    if (rc[0] != MARGIN_OK) {
        X.failed++;
        /* a failed call changes nothing, events included */
        for (int w = 0; w < 2; w++) {
            snap(w, &X.after[w]);
            d = snap_diff(&X.before[w], &X.after[w], 0);
            REQ(d < 0, CTX "failed call (status %d: %s) changed engine %d at snapshot slot %ld: "
                           "%lld -> %lld", CTXA, rc[0], margin_errmsg(X.e[w]), w, d,
                (long long)X.before[w].v[d], (long long)X.after[w].v[d]);
        }
    } else {
        X.ok++;
    }
    check_want(&op, rc[0], msg);
    if (rc[0] == MARGIN_OK && op.type == OP_OPEN) {
        REQ(id[0] == X.npos + 1, CTX "new id %" PRIu64 " after %" PRIu64, CTXA, id[0], X.npos);
        REQ(X.npos + 1 < MAXPOS, CTX "too many positions", CTXA);
        X.npos = id[0];
    }
    if (rc[0] == MARGIN_OK && op.type == OP_MARKET) {
        if (op.key == MARGIN_MKT_TICK)
            X.tick = op.amount;
        if (op.key == MARGIN_MKT_STEP)
            X.step = op.amount;
        if (op.key == MARGIN_MKT_MAX_LEVERAGE)
            X.max_lev = op.amount;
        if (op.key == MARGIN_MKT_PRICE_SCALE) {
            X.ps = (int)op.amount;
#ifdef MARGIN_MKT_MAX_PRICE
            X.maxp = gmkt(0, MARGIN_MKT_MAX_PRICE);
#endif
        }
    }
    su_twin_events(&X.tw, X.ev[1][0].f, NF, compare_events(), NF, twin_ctx());
    check_query(&op, rc[0], out[0]);
    check_state(0);
    check_state(1);
    if (rc[0] == MARGIN_OK && (op.type == OP_MARK || op.type == OP_FUNDING))
        check_cleared(op.price);
    if (rc[0] == MARGIN_OK && op.type == OP_REMOVE) {
        /* removable <= M - M', M' the smallest margin covering its own maintenance margin
         * (header): what is left still covers the maintenance margin, at either basis */
        int64_t mm = 0, m = gpos(0, op.pos, MARGIN_POS_MARGIN);
        int r = margin_position_at(X.e[0], op.pos, MARGIN_AT_MAINT_MARGIN, 0, &mm);
        REQ(r != MARGIN_OK || m >= mm,
            CTX "after removing %lld the margin %lld is below the maintenance margin %lld",
            CTXA, (long long)op.amount, (long long)m, (long long)mm);
    }
    if (X.tw.e != NULL)
        su_twin_end_step(&X.tw, &X.e[1], twin_ctx());
}

static uint64_t base_seed(void)
{
    const char *s = getenv("MARGIN_EXTREME_SEED");
    return s ? strtoull(s, NULL, 0) : 0xed9e2024ULL;
}

static void run(int iter)
{
    const char *only = getenv("MARGIN_EXTREME_PAIR");
    int ps, qs;
    memset(&X, 0, sizeof X);
    X.trace = getenv("MARGIN_EXTREME_TRACE") != NULL;
    X.iter = iter;
    X.seed = base_seed() + (uint64_t)iter * 7919;
    rng_state = X.seed;
    X.tw.rng = X.seed ^ 0x7A1A5EEDULL;
    if (iter < NPAIRS) {
        ps = iter / 19;
        qs = iter % 19;
    } else {
        ps = (int)rrange(0, 18);
        qs = (int)rrange(0, 18);
    }
    if (only) {
        int ops = -1, oqs = -1;
        if (sscanf(only, "%d/%d", &ops, &oqs) == 2 && (ops != ps || oqs != qs))
            return;
    }
    X.ps = ps;
    X.qs = qs;
    setup(ps, qs);
    for (X.step_no = 1; X.step_no <= OPS_PER_RUN; X.step_no++)
        step();
    if (X.trace)
        fprintf(stderr, "iter %d pair %d/%d: %d ok, %d failed, %lld liquidations\n", iter, X.ps,
                X.qs, X.ok, X.failed, (long long)geng(0, MARGIN_ENG_LIQUIDATIONS));
    margin_engine_free(X.tw.e);
    X.tw.e = NULL;
    margin_engine_free(X.e[0]);
    margin_engine_free(X.e[1]);
    X.e[0] = X.e[1] = NULL;
}

START_TEST(test_extreme_pairs)
{
    run(_i);
}
END_TEST

Suite *suite_extreme(void)
{
    Suite *s = suite_create("extreme");
    TCase *tc = tcase_create("pairs");
    /* each iteration is a few hundred operations; generous for valgrind */
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_extreme_pairs, 0, NPAIRS + EXTRA_RUNS);
    suite_add_tcase(s, tc);
    return s;
}
