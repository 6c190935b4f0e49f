/* Insurance pools and auto-deleveraging (issue 14).
 *
 * Pools. Every market uses one pool: its own (pool_of == its index) or another market's,
 * whose pool it shares. A pool's balance, floor and ADL switch live on the market that
 * owns it; e->insurance is the sum of the pools (MARGIN_ENG_INSURANCE_FUND), kept with
 * them by margin__pool_add, the one place the fund changes.
 *
 * Auto-deleveraging. When an isolated position's liquidation in full leaves a deficit that
 * would take its pool below the floor (MARGIN_ADL_ON), the trigger evaluation (trigger.c)
 * asks margin__adl_plan to cover that part: the open positions of the other side of the
 * market are scored (MARGIN_POS_ADL_SCORE), put in a max-heap (O(n)), and taken from the
 * top (O(log n) each) until the credits cover the need: each closes, in full or for the
 * last one in part, at the bankrupt position's bankruptcy price without a fee, and pays
 * the pool its PnL at the mark less its PnL at that price. The plan is decided with the
 * batch, staged on the accounts with it (so a failure changes nothing) and applied after
 * the bankrupt position's liquidation (margin__adl_apply). */
#include <string.h>

#include "engine.h"

#define ONE MARGIN__ONE

/* ------------------------------------------------------------------ pools */

void margin__pool_add(margin_engine *e, uint32_t mi, int64_t amount)
{
    e->markets[e->markets[mi].pool_of].pool += amount;
    e->insurance += amount;
}

static int add_ok(int64_t a, int64_t b)
{
    int64_t t;
    return !__builtin_add_overflow(a, b, &t);
}

int margin_insurance_deposit(margin_engine *e, uint64_t market, int64_t amount)
{
    margin__market *m = NULL, *owner;
    margin__event *ev;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (amount <= 0)
        return margin__fail(e, MARGIN_EINVAL, "an insurance deposit must be > 0");
    owner = &e->markets[m->pool_of];
    if (!add_ok(owner->pool, amount) || !add_ok(e->insurance, amount) ||
        !add_ok(e->insurance_deposits, amount))
        return margin__fail(e, MARGIN_EOVERFLOW, "the insurance pool of %s would overflow",
                            m->symbol);
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    margin__pool_add(e, (uint32_t)(m - e->markets), amount);
    e->insurance_deposits += amount;
    ev = margin__ev_begin(e, MARGIN_EV_INSURANCE_DEPOSIT);
    ev->f[MARGIN_EVF_MARKET] = (int64_t)market;
    ev->f[MARGIN_EVF_AMOUNT] = amount;
    ev->f[MARGIN_EVF_INSURANCE_DELTA] = amount;
    margin__ev_commit(e, ev);
    return MARGIN_OK;
}

/* MARGIN_MKT_INSURANCE_POOL to MARGIN_MKT_ADL_RANKING (market.c hands them over) */
int margin__pool_set(margin_engine *e, margin__market *m, int32_t key, int64_t value)
{
    uint32_t mi = (uint32_t)(m - e->markets), k;
    margin__market *owner = &e->markets[m->pool_of];
    switch (key) {
    case MARGIN_MKT_INSURANCE_POOL: {
        uint32_t to;
        if (value < 1 || (uint64_t)value > e->nmarkets)
            return margin__fail(e, MARGIN_ENOTFOUND, "no market has the id %lld",
                                (long long)value);
        to = (uint32_t)(value - 1);
        if (to == m->pool_of)
            return MARGIN_OK;
        if (to != mi && e->markets[to].pool_of != to)
            return margin__fail(e, MARGIN_ESTATE,
                                "market %s shares the pool of %s: join that pool instead",
                                e->markets[to].symbol, e->markets[e->markets[to].pool_of].symbol);
        for (k = 0; k < e->nmarkets; k++)
            if (k != mi && e->markets[k].pool_of == mi)
                return margin__fail(e, MARGIN_ESTATE,
                                    "market %s shares the pool of %s: move it first",
                                    e->markets[k].symbol, m->symbol);
        if (m->pool_of == mi && m->pool != 0)
            return margin__fail(e, MARGIN_ESTATE,
                                "the pool of %s is not empty: a market joins another pool only "
                                "with an empty pool of its own",
                                m->symbol);
        if (to == mi && m->pool != 0)
            return margin__fail(e, MARGIN_ESTATE,
                                "the pool of %s is not empty", m->symbol);
        m->pool_of = to;
        if (to != mi) { /* the pool's settings are its owner's */
            m->adl = MARGIN_ADL_OFF;
            m->pool_floor = 0;
        }
        return MARGIN_OK;
    }
    case MARGIN_MKT_ADL:
        if (value != MARGIN_ADL_OFF && value != MARGIN_ADL_ON)
            return margin__fail(e, MARGIN_EINVAL, "unknown auto-deleveraging option %lld",
                                (long long)value);
        owner->adl = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_MKT_INSURANCE_FLOOR:
        if (value < 0)
            return margin__fail(e, MARGIN_EINVAL, "an insurance pool's floor must be >= 0");
        owner->pool_floor = value;
        return MARGIN_OK;
    case MARGIN_MKT_ADL_RANKING:
        if (value != MARGIN_ADL_RANK_BINANCE && value != MARGIN_ADL_RANK_BITMEX)
            return margin__fail(e, MARGIN_EINVAL, "unknown ADL ranking option %lld", (long long)value);
        m->adl_rank = (int32_t)value;
        return MARGIN_OK;
    default: /* MARGIN_MKT_INSURANCE */
        return margin__fail(e, MARGIN_EINVAL,
                            "market key %d is read-only: margin_insurance_deposit() adds to "
                            "the pool",
                            (int)key);
    }
}

int64_t margin__pool_get(const margin_engine *e, const margin__market *m, int32_t key)
{
    const margin__market *owner = &e->markets[m->pool_of];
    switch (key) {
    case MARGIN_MKT_INSURANCE_POOL:
        return (int64_t)m->pool_of + 1;
    case MARGIN_MKT_INSURANCE:
        return owner->pool;
    case MARGIN_MKT_ADL:
        return owner->adl;
    case MARGIN_MKT_INSURANCE_FLOOR:
        return owner->pool_floor;
    default: /* MARGIN_MKT_ADL_RANKING */
        return m->adl_rank;
    }
}

/* ------------------------------------------------------------------ scores */

/* floor(floor(a * ONE / b) * c / d): a score as two ratios, each rounded down (b, d > 0,
 * each division by a 64-bit divisor: one hardware division where the quotient fits);
 * saturating at +-INT64_MAX */
static int64_t two_ratios(int64_t a, int64_t b, int64_t c, int64_t d)
{
    margin__i128 t, u;
    if (margin__div128((margin__i128)a * ONE, b, MARGIN_ROUND_FLOOR, &t) != MARGIN_OK)
        return 0;
    if (__builtin_mul_overflow(t, (margin__i128)c, &u))
        return (t > 0) == (c > 0) ? INT64_MAX : -INT64_MAX;
    if (margin__div128(u, d, MARGIN_ROUND_FLOOR, &t) != MARGIN_OK)
        return 0;
    if (t > INT64_MAX)
        return INT64_MAX;
    if (t < -INT64_MAX)
        return -INT64_MAX;
    return (int64_t)t;
}

int64_t margin__adl_score(const margin_engine *e, const margin__position *p, int64_t mark)
{
    const margin__market *m = &e->markets[p->market];
    int64_t upnl, mm = 0, bp = 0, w, s_move, gap;
    if (m->adl_rank == MARGIN_ADL_RANK_BITMEX) {
        /* PnL% = s*(P - E)/E; effective leverage = P / (s*(P - BP)); the prices are < 2^63
         * and s*(P - E), s*(P - BP) fit: both are in (-2^63, 2^63) */
        if (p->cross) {
            if (margin__cross_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, mark, &bp) != MARGIN_OK)
                return 0;
        } else if (margin__bankruptcy(m, p, &bp) != MARGIN_OK) {
            return 0;
        }
        gap = p->side > 0 ? mark - bp : bp - mark;
        if (gap <= 0)
            return 0; /* at or past the bankruptcy price */
        s_move = p->side > 0 ? mark - p->entry : p->entry - mark;
        if (m->contract == MARGIN_CONTRACT_INVERSE) {
            /* values -s*N/P: PnL% = s(P - E)/P, effective leverage BP / s(P - BP) */
            if (s_move > 0)
                return two_ratios(s_move, mark, bp, gap);
            return two_ratios(s_move, mark, gap, bp);
        }
        if (s_move > 0) /* PnL% * leverage = (s(P - E)/E) * P / s(P - BP) */
            return two_ratios(s_move, p->entry, mark, gap);
        /* PnL% / leverage = (s(P - E)/E) * s(P - BP) / P */
        return two_ratios(s_move, p->entry, gap, mark);
    }
    /* Binance: max(0, uPnL) / max(1, W) * MM / (W + uPnL) */
    if (margin__pnl(m, p->side, p->qty, p->entry, mark, &upnl) != MARGIN_OK || upnl <= 0)
        return 0;
    w = p->cross ? e->accounts[p->account].free : p->margin;
    if (w > INT64_MAX - upnl || w + upnl <= 0)
        return 0;
    if (p->cross) {
        margin__leg l;
        l.qty = p->qty;
        l.entry = p->entry;
        l.side = p->side;
        if (margin__cross_mm(m, &l, mark, &mm) != MARGIN_OK)
            return 0;
    } else if (margin__mm_at(m, p, mark, &mm, NULL, NULL) != MARGIN_OK) {
        return 0;
    }
    return two_ratios(upnl, w > ONE ? w : ONE, mm, w + upnl);
}

/* ------------------------------------------------------------------ quantiles */

typedef struct {
    int64_t score;
    uint32_t pi;
    int32_t side;
} ranked;

/* a before b: higher score, then the lower id */
static int ahead(const ranked *a, const ranked *b)
{
    return a->score > b->score || (a->score == b->score && a->pi < b->pi);
}

/* a before b in a heap: ahead for the max-heap of the quantiles, behind (the worst on top)
 * for the min-heap of a ranking's best k */
static int first(const ranked *a, const ranked *b, int min)
{
    return min ? ahead(b, a) : ahead(a, b);
}

static void sift_down(ranked *h, size_t i, size_t n, int min)
{
    ranked v = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && first(&h[c + 1], &h[c], min))
            c++;
        if (!first(&h[c], &v, min))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static void sift(ranked *h, size_t i, size_t n)
{
    sift_down(h, i, n, 0);
}

static void heapify(ranked *h, size_t n)
{
    size_t i;
    for (i = n / 2; i-- > 0;)
        sift(h, i, n);
}

/* the top of heap h[0..*n) out, into *out */
static void pop(ranked *h, size_t *n, ranked *out)
{
    *out = h[0];
    h[0] = h[--*n];
    if (*n > 0)
        sift(h, 0, *n);
}

int margin_market_adl_quantiles(margin_engine *e, uint64_t market)
{
    margin__market *m = NULL;
    ranked *h;
    size_t n[2] = {0, 0}, k;
    uint32_t pi;
    int64_t mark;
    int rc, s;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if ((rc = margin__grow(e, &e->adl, &e->adl_cap, m->open_count + 1, sizeof(ranked))) !=
        MARGIN_OK)
        return rc;
    h = e->adl;
    /* longs from the front, shorts from the back */
    for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext) {
        const margin__position *p = &MARGIN__POS(e, pi);
        mark = m->mark ? m->mark : p->entry;
        k = p->side > 0 ? n[0]++ : m->open_count - 1 - n[1]++;
        h[k].score = margin__adl_score(e, p, mark);
        h[k].pi = pi;
        h[k].side = p->side;
    }
    for (s = 0; s < 2; s++) {
        ranked *part = s == 0 ? h : h + n[0];
        size_t cnt = n[s], r, left = cnt;
        heapify(part, cnt);
        for (r = 0; r < cnt; r++) {
            ranked top;
            pop(part, &left, &top);
            MARGIN__POS(e, top.pi).adl_q =
                top.score <= 0 ? 0 : (uint8_t)(4 - (5 * (uint64_t)r) / cnt);
        }
    }
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ deleveraging */

/* Close q of position p at price bp against the bankrupt position: its money (*x), or 0
 * when it cannot take part (an isolated position would lose more than its margin's share,
 * or it pays nothing into the pool). */
static int adl_close(const margin_engine *e, const margin__position *p, int64_t q, int64_t bp,
                     int64_t mark, margin__adlx *x)
{
    const margin__market *m = &e->markets[p->market];
    int64_t at_mark;
    margin__i128 r;
    if (margin__pnl(m, p->side, q, p->entry, bp, &x->pnl) != MARGIN_OK ||
        margin__pnl(m, p->side, q, p->entry, mark, &at_mark) != MARGIN_OK ||
        __builtin_sub_overflow(at_mark, x->pnl, &x->credit) || x->credit <= 0)
        return 0;
    x->qty = q;
    x->price = bp;
    x->released = 0;
    if (!p->cross) {
        if (q == p->qty)
            x->released = p->margin;
        else if (margin__div128((margin__i128)p->margin * q, p->qty, MARGIN_ROUND_FLOOR, &r) !=
                 MARGIN_OK)
            return 0;
        else
            x->released = (int64_t)r;
        if ((margin__i128)x->released + x->pnl < 0)
            return 0; /* past its own margin */
    }
    return 1;
}

static margin__delta adl_delta(const margin__adlx *x)
{
    margin__delta d;
    memset(&d, 0, sizeof d);
    d.free = x->released + x->pnl;
    d.isolated = -x->released;
    d.realized = x->pnl;
    d.insurance = x->credit;
    return d;
}

typedef struct {
    const margin_engine *e;
    const margin__position *p;
    int64_t bp, mark, need;
} part_ctx;

static int covers(const void *ctx, int64_t q)
{
    const part_ctx *c = ctx;
    margin__adlx x;
    return adl_close(c->e, c->p, q, c->bp, c->mark, &x) && x.credit >= c->need;
}

/* a behind b: the reverse of ahead (the root of a min-heap of the best K is the worst) */
static int behind(const ranked *a, const ranked *b)
{
    return ahead(b, a);
}

static void min_up(ranked *h, size_t i)
{
    ranked v = h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!behind(&v, &h[up]))
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = v;
}

static void min_down(ranked *h, size_t i, size_t n)
{
    sift_down(h, i, n, 1);
}

static int planned(const margin_engine *e, uint32_t pi)
{
    const margin__adlx *x = e->adlx;
    size_t i;
    for (i = 0; i < e->nadlx; i++)
        if (x[i].pi == pi)
            return 1;
    return 0;
}

/* Bounds for the ranking's filter, in integer operations only (no division, no floating
 * point): x > 0 is kept as its leading LEAD bits m and a shift k, x in [m*2^k, (m + 1)*2^k)
 * (m + 1 when k > 0: an upper bound, at most 2^LEAD; m: a lower one). With LEAD = 20,
 * three lower bounds multiply to less than 2^60, and each factor is off by less than 2^-19
 * of itself. */
#define LEAD 20

static inline uint64_t lead64(uint64_t x, int up, int *k)
{
    int b = 64 - __builtin_clzll(x);
    *k = b > LEAD ? b - LEAD : 0;
    return (x >> *k) + (uint64_t)(up && *k > 0);
}

static inline uint64_t lead(margin__u128 x, int up, int *k)
{
    uint64_t hi = (uint64_t)(x >> 64);
    if (hi == 0)
        return lead64((uint64_t)x, up, k);
    *k = 128 - __builtin_clzll(hi) - LEAD;
    return (uint64_t)(x >> *k) + (uint64_t)up;
}

/* a * 2^ea < b * 2^eb for a, b below 2^64, b >= 1 */
static inline int scaled_less(uint64_t a, int ea, uint64_t b, int eb)
{
    int d = ea - eb;
    if (d >= 0) /* a * 2^d < b, a and b integers: a <= (b - 1) / 2^d */
        return d < 64 && a <= ((b - 1) >> d);
    d = -d; /* a < b * 2^d: floor(a / 2^d) < b */
    return d >= 64 || (a >> d) < b;
}

/* What the filter needs of the market at the ranking's mark P, computed once per ranking:
 * a native notional (quantity times price) is money * s when ns >= 8, and money / t
 * otherwise (s, t powers of ten, one of them 1); P*t; per tier, the least quantity in it
 * at P (a ceiling; UINT64_MAX when none fits), its rate with the fee to close, and
 * (cum - 1) * s * 10^8 (saturated below the exact value); and, for the bar t_min last seen,
 * t_min * s rounded down. ok = 0: no filtering (s above 2^64, from scale 28 on). */
typedef struct {
    margin__u128 s, t, mt;
    uint64_t qtier[MARGIN__MAX_TIERS];
    uint64_t rate[MARGIN__MAX_TIERS];
    margin__i128 less[MARGIN__MAX_TIERS];
    int ok;
    int64_t bar;
    uint64_t bar_m;
    int bar_k;
} scales;

/* ceil(x / y) for y > 0; UINT64_MAX (above any quantity) when above INT64_MAX */
static uint64_t ceil_q(margin__u128 x, margin__u128 y)
{
    margin__u128 q = x / y + (x % y != 0);
    return q > (margin__u128)INT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static void scales_of(const margin__market *m, int64_t mark, scales *sc)
{
    uint32_t k;
    margin__u128 f;
    sc->s = m->ns >= MARGIN_MONEY_SCALE ? (margin__u128)margin__pow10_128(m->ns - MARGIN_MONEY_SCALE)
                                        : 1;
    sc->t = m->ns >= MARGIN_MONEY_SCALE ? 1
                                        : (margin__u128)margin__pow10_128(MARGIN_MONEY_SCALE - m->ns);
    sc->bar = 0;
    sc->ok = mark > 0 && (sc->s >> 64) == 0;
    if (!sc->ok)
        return;
    sc->mt = (margin__u128)mark * sc->t; /* below 2^63 * 2^27 */
    for (k = 0; k < m->ntiers; k++) {
        margin__i128 sone = (margin__i128)(sc->s * ONE); /* below 2^64 * 2^27 */
        sc->qtier[k] = __builtin_mul_overflow((margin__u128)m->tiers[k].floor, sc->s, &f)
                           ? UINT64_MAX
                           : ceil_q(f, sc->mt);
        sc->rate[k] = (uint64_t)(m->tiers[k].mmr + m->close_fee); /* below 10^8 */
        if (__builtin_mul_overflow((margin__i128)m->tiers[k].cum - 1, sone, &sc->less[k]))
            sc->less[k] = (margin__i128)1 << 126; /* (cum >= 2^36: the exact value is above) */
    }
}

/* Can isolated position p not reach score t_min (> 0) at mark P, Binance's ranking? A
 * filter: it says "cannot" only when an upper bound of the exact score is below t_min, and
 * then the exact score (which can only be lower) is not computed; no outcome depends on it.
 * In native units (times t below scale 8): mq = t*Q*s(P - E) > 0, nq = t*Q*P. The uPnL is
 * U <= mq/s and U >= mq/s - 1; the maintenance margin, at the notional's tier (rate r with
 * the fee to close, amount cum), MM = ceil(nq*r/(s*10^8)) - cum < mm/(s*10^8) with
 * mm = nq*r - (cum - 1)*s*10^8 (MM <= 0, and so the score, when mm <= 0); and the score is
 * at most U*MM*10^8 / (W'*(W + U)) (both of its floors only lower it), W' = max(1, W), so
 * below
 *   mq * mm / (s * W' * (s*(W - 1) + mq)).
 * It cannot reach t_min when mq * mm <= t_min * s * W' * (s*(W - 1) + mq), compared on the
 * leading bits of each factor (lead), rounded up on the left and down on the right; the
 * tier is found on the quantity (scales_of). 0 (score it) where a figure does not fit
 * (nq from 2^100 on). Mark basis only. */
static inline int cannot_reach(const margin__market *m, const margin__position *p, int64_t mark,
                               int64_t t_min, scales *sc)
{
    margin__u128 mq, nq, den;
    margin__i128 mm;
    uint64_t lhs, rhs;
    uint32_t k;
    int k1, k2, k3, k4;
    if (p->side > 0 ? mark <= p->entry : mark >= p->entry)
        return 1; /* a loss or nothing: its score is 0 */
    if (!sc->ok || p->margin < 1)
        return 0;
    for (k = 0; k + 1 < m->ntiers && (uint64_t)p->qty >= sc->qtier[k + 1]; k++)
        ;
    /* Q*s(P - E) and Q*P: two values below 2^63; s*(W - 1) below 2^127, plus mq below
     * 2^126; t > 1 (below scale 8 only, when s = 1) is checked */
    mq = (margin__u128)(p->side > 0 ? mark - p->entry : p->entry - mark) * (uint64_t)p->qty;
    den = (margin__u128)(uint64_t)(p->margin - 1) * (uint64_t)sc->s;
    if (sc->t == 1) {
        nq = (margin__u128)mark * (uint64_t)p->qty;
    } else if (__builtin_mul_overflow(mq, sc->t, &mq) ||
               __builtin_mul_overflow(sc->mt, (margin__u128)p->qty, &nq)) {
        return 0;
    }
    den += mq;
    if (nq >> 100)
        return 0;
    mm = (margin__i128)(nq * sc->rate[k]) - sc->less[k]; /* nq * r below 2^127 */
    if (mm <= 0)
        return 1;
    if (t_min != sc->bar) { /* t_min * s rounded down, once per bar */
        int a, b;
        uint64_t ts = lead((margin__u128)t_min, 0, &a) * lead(sc->s, 0, &b);
        sc->bar_m = lead64(ts, 0, &k3);
        sc->bar_k = a + b + k3;
        sc->bar = t_min;
    }
    /* left, rounded up: at most 2^40; right, rounded down: below 2^60 */
    lhs = lead(mq, 1, &k1) * lead((margin__u128)mm, 1, &k2);
    rhs = sc->bar_m * lead64((uint64_t)(p->margin > ONE ? p->margin : ONE), 0, &k3) *
          lead(den, 0, &k4);
    return !scaled_less(rhs, sc->bar_k + k3 + k4, lhs, k1 + k2);
}

int margin__adl_filtered(const margin_engine *e, const margin__position *p, int64_t mark,
                         int64_t bar)
{
    const margin__market *m = &e->markets[p->market];
    scales sc;
    scales_of(m, mark, &sc);
    return cannot_reach(m, p, mark, bar, &sc);
}

/* Rank the open positions of side `side` in market m that may be deleveraged and are not
 * planned yet: the best `k` of them, best first, in e->adl[0 .. e->adl_n) (e->adl_more:
 * there were others). One pass: a min-heap of the best k so far, whose worst sets the bar
 * a position must pass; on the indexes (not the reference full scan) an isolated position
 * under Binance's ranking that cannot pass the bar (cannot_reach) is not scored. Walks the
 * market's list, or the position records in id order when the market holds most of them
 * (sequential memory instead of a chase). */
static int rank_side(margin_engine *e, const margin__market *m, int side, int64_t mark,
                     margin__adl_skip skip, const void *ctx, size_t k)
{
    uint32_t mi = (uint32_t)(m - e->markets), pi, c, j, end;
    margin__position view;
    int64_t w;
    int prune = !e->full_scan && m->adl_rank == MARGIN_ADL_RANK_BINANCE &&
                m->mm_basis == MARGIN_MM_BASIS_MARK && m->contract == MARGIN_CONTRACT_LINEAR,
        more = 0;
    scales sc; /* (cannot_reach) */
    int records = (uint64_t)m->open_count * 2 >= e->open_positions;
    ranked *h;
    size_t n = 0, i;
    int rc = margin__grow(e, &e->adl, &e->adl_cap, k + 1, sizeof(ranked));
    if (rc != MARGIN_OK)
        return rc;
    h = e->adl;
    scales_of(m, mark, &sc);
    c = 0;
    j = 0;
    pi = m->head;
    for (;;) {
        const margin__position *p;
        ranked r;
        if (records) { /* the records in id order, live blocks only */
            if (c >= e->nchunks || (uint64_t)c * MARGIN__CHUNK >= e->npos)
                break;
            end = e->npos - c * MARGIN__CHUNK < MARGIN__CHUNK ? e->npos - c * MARGIN__CHUNK
                                                               : MARGIN__CHUNK;
            if (e->chunks[c] == NULL || j >= end) {
                c++;
                j = 0;
                continue;
            }
            r.pi = c * MARGIN__CHUNK + j;
            p = &e->chunks[c][j++];
            if (p->status != MARGIN_STATUS_OPEN || p->market != mi)
                continue;
        } else {
            if (pi == MARGIN__NONE)
                break;
            r.pi = pi;
            p = &MARGIN__POS(e, pi);
            pi = p->mnext;
        }
        if (p->side != side)
            continue;
        /* the filter first where the batch leaves margins as they are (a mark update);
         * after the position as the batch leaves it otherwise (a funding round) */
        if (!e->adl_view && n == k && prune && !p->cross && h[0].score > 0 &&
            cannot_reach(m, p, mark, h[0].score, &sc)) {
            more = 1;
            continue;
        }
        if (skip(ctx, r.pi, &w) || (e->nadlx > 0 && planned(e, r.pi)))
            continue;
        if (w != p->margin) {
            view = *p;
            view.margin = w;
            p = &view;
        }
        if (e->adl_view && n == k && prune && !p->cross && h[0].score > 0 &&
            cannot_reach(m, p, mark, h[0].score, &sc)) {
            more = 1;
            continue;
        }
        r.score = margin__adl_score(e, p, mark);
        r.side = p->side;
        if (n < k) {
            h[n++] = r;
            min_up(h, n - 1);
        } else {
            more = 1;
            if (ahead(&r, &h[0])) {
                h[0] = r;
                min_down(h, 0, n);
            }
        }
    }
    /* best first: take the worst off the min-heap into the back */
    for (i = n; i > 1; i--) {
        ranked t = h[0];
        h[0] = h[i - 1];
        h[i - 1] = t;
        min_down(h, 0, i - 1);
    }
    e->adl_n = n;
    e->adl_side = side;
    e->adl_more = more;
    return MARGIN_OK;
}

/* the first ranking keeps this many; a bankrupt position that needs more ranks again */
#define ADL_TOP 64

int margin__adl_plan(margin_engine *e, const margin__market *m, uint32_t bankrupt,
                     int64_t mark, int64_t need, margin__adl_skip skip, const void *ctx,
                     int64_t *covered)
{
    margin__position bv = MARGIN__POS(e, bankrupt);
    int64_t bp = 0;
    *covered = 0;
    (void)skip(ctx, bankrupt, &bv.margin); /* its margin in the batch (after funding) */
    if (margin__bankruptcy(m, &bv, &bp) != MARGIN_OK || bp <= 0)
        return MARGIN_OK; /* no price to deleverage at: the pool takes it */
    return margin__adl_plan_at(e, m, bankrupt, bv.side, bv.qty, bp, mark, need, skip, ctx,
                               covered);
}

int margin__adl_plan_at(margin_engine *e, const margin__market *m, uint32_t bankrupt,
                        int side, int64_t qty, int64_t bp, int64_t mark, int64_t need,
                        margin__adl_skip skip, const void *ctx, int64_t *covered)
{
    ranked *h;
    size_t i = 0, k = ADL_TOP;
    int64_t left_qty = qty;
    int rc;
    *covered = 0;
    if (bp <= 0)
        return MARGIN_OK;
    /* the other side, ranked once per batch (the scores are those of the batch's mark and
     * state); later bankrupt positions of the same side take from what is left */
    if (e->adl_side != -side && (rc = rank_side(e, m, -side, mark, skip, ctx, k)) != MARGIN_OK)
        return rc;
    while (*covered < need && left_qty > 0) {
        const margin__position *p;
        margin__adlx x;
        int64_t q, w;
        margin__delta d;
        margin__position view;
        uint32_t pi;
        h = e->adl;
        if (i >= e->adl_n) {
            if (!e->adl_more)
                break; /* the other side is exhausted: the pool takes the rest */
            k = e->adl_n * 4 > k ? e->adl_n * 4 : k * 4; /* more of them (the planned out) */
            if ((rc = rank_side(e, m, -side, mark, skip, ctx, k)) != MARGIN_OK)
                return rc;
            i = 0;
            continue;
        }
        pi = h[i++].pi;
        if (pi == MARGIN__NONE)
            continue; /* deleveraged by an earlier bankrupt position */
        p = &MARGIN__POS(e, pi);
        (void)skip(ctx, pi, &w); /* (ranked, so not skipped: its margin in the batch) */
        if (w != p->margin) {
            view = *p;
            view.margin = w;
            p = &view;
        }
        q = p->qty < left_qty ? p->qty : left_qty;
        if (!adl_close(e, p, q, bp, mark, &x))
            continue; /* passed over at this price (it stays for the next one) */
        if (x.credit > need - *covered) {
            /* the last one in part: the least quantity (to the step) that covers the rest */
            part_ctx c;
            int64_t qp;
            c.e = e;
            c.p = p;
            c.bp = bp;
            c.mark = mark;
            c.need = need - *covered;
            qp = margin__liq_min_search(m, p, covers, &c);
            if (qp > 0 && qp < q && !adl_close(e, p, qp, bp, mark, &x))
                continue; /* (cannot happen: covers() held for qp) */
        }
        x.pi = pi;
        x.bankrupt = bankrupt;
        d = adl_delta(&x);
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK ||
            margin__ledger_stage(e, p->account, &d) != MARGIN_OK) {
            margin__ledger_unstage(e, p->account);
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the ledgers of account %u would overflow deleveraging "
                                "position %u",
                                p->account + 1, pi + 1);
        }
        if ((rc = margin__grow(e, &e->adlx, &e->adlx_cap, e->nadlx + 1, sizeof x)) !=
            MARGIN_OK) {
            margin__ledger_unstage(e, p->account);
            return rc;
        }
        ((margin__adlx *)e->adlx)[e->nadlx++] = x;
        h[i - 1].pi = MARGIN__NONE; /* taken */
        *covered += x.credit; /* < need + one position's credit: fits */
        left_qty -= x.qty;
    }
    return MARGIN_OK;
}

void margin__adl_unstage(margin_engine *e)
{
    const margin__adlx *x = e->adlx;
    size_t i;
    for (i = 0; i < e->nadlx; i++)
        margin__ledger_unstage(e, MARGIN__POS(e, x[i].pi).account);
}

void margin__adl_apply(margin_engine *e, size_t first, size_t count)
{
    size_t i;
    for (i = first; i < first + count; i++) {
        const margin__adlx *x = (const margin__adlx *)e->adlx + i;
        margin__position *p = &MARGIN__POS(e, x->pi);
        margin__market *m = &e->markets[p->market];
        margin__delta d = adl_delta(x);
        margin__event *ev;
        int full = x->qty == p->qty;
        margin__ledger_apply(e, p->account, p->market, &d);
        p->realized += x->pnl;
        p->margin -= x->released;
        if (full) {
            margin__index_remove(e, m, x->pi);
            margin__unlink(e, x->pi);
            p->status = MARGIN_STATUS_DELEVERAGED;
            p->qty = 0;
            p->liq = 0;
            p->mc_fired = 0; /* (and margin__unlink drops its quantile) */
        } else {
            p->qty -= x->qty;
            if (!p->cross)
                (void)margin__reindex(e, x->pi); /* smaller, same market: fits */
        }
        if (e->accounts[p->account].ncross > 0)
            margin__cross_rekey(e, p->account); /* its wallet or its book moved */
        ev = margin__ev_position(e, MARGIN_EV_ADL, x->pi);
        ev->f[MARGIN_EVF_PRICE] = x->price;
        ev->f[MARGIN_EVF_QTY] = x->qty;
        ev->f[MARGIN_EVF_AMOUNT] = -x->released;
        ev->f[MARGIN_EVF_REALIZED_PNL] = x->pnl;
        ev->f[MARGIN_EVF_INSURANCE_DELTA] = x->credit;
        ev->f[MARGIN_EVF_FILL] = MARGIN_FILL_BANKRUPTCY;
        ev->f[MARGIN_EVF_COUNTERPARTY] = (int64_t)x->bankrupt + 1;
        margin__ev_commit(e, ev);
    }
}

int margin__adl_touches(const margin_engine *e, uint32_t ai)
{
    const margin__adlx *x = e->adlx;
    size_t i;
    for (i = 0; i < e->nadlx; i++)
        if (MARGIN__POS(e, x[i].pi).account == ai)
            return 1;
    return 0;
}

int margin__adl_reserve(margin_engine *e, const margin_engine *t)
{
    int rc = margin__grow(e, &e->adl, &e->adl_cap, t->adl_cap, sizeof(ranked));
    /* (the engine may rank more than the scratch did: its full scan, or the records it
     * passes over; a ranking grows e->adl, which a candle's engine run must not need:
     * room for every open position of the market) */
    if (rc != MARGIN_OK)
        return rc;
    return margin__grow(e, &e->adlx, &e->adlx_cap, t->adlx_cap, sizeof(margin__adlx));
}
