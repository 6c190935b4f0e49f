/* One candle as a path of marks (issue 13): margin_mark_candle().
 *
 * Each point of the path is a mark update (trigger.c), so a trigger fires at the first
 * point that reaches it. A mark update is atomic on its own; a candle is four of them, and
 * a failure at the third (out of memory, the event cap, a ledger total) must not leave the
 * first two applied. So the path is played twice:
 *
 *  1. on a scratch engine holding a copy of everything the candle can touch: the
 *     positions of the market whose trigger keys lie between the low and the high (no
 *     other position can trigger at any point of the path: keys are exact), their
 *     accounts, and every cross position of those accounts (a cross book is evaluated as
 *     a whole, and a stop closed into an account's wallet re-evaluates its cross book). The
 *     copies keep their order (positions and accounts are renumbered increasingly), their
 *     state and, for cross positions, their stored keys, so the scratch decides exactly
 *     what the engine will. Any failure there is returned, the engine untouched;
 *  2. on the engine, after reserving what the scratch needed (work buffers, the events
 *     of the whole path): nothing can fail any more, and each point is applied with its
 *     events (and the callback) as a mark update would.
 *
 * The cost is the copy of what the candle triggers, and the path played twice.
 *
 * The adverse path (MARGIN_PATH_ADVERSE) applies each point after the open in two
 * evaluations, one per group of positions (walk()); both runs walk alike. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* sort and de-duplicate a[0..*n) */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}
static void uniq(uint32_t *a, size_t *n)
{
    size_t i, j = 0;
    if (*n == 0)
        return; /* (a may be NULL) */
    qsort(a, *n, sizeof *a, cmp_u32);
    for (i = 0; i < *n; i++)
        if (j == 0 || a[i] != a[j - 1])
            a[j++] = a[i];
    *n = j;
}

/* index of v in sorted a[0..n) (present) */
static uint32_t find(const uint32_t *a, size_t n, uint32_t v)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

typedef struct {
    uint32_t *pos, *acc; /* real indexes of the copied positions and accounts, sorted */
    size_t npos, nacc, cap_pos, cap_acc;
} subset;

static int push(const margin_engine *e, uint32_t **a, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint32_t *na = margin__realloc(e, *a, nc * sizeof *na);
        if (na == NULL)
            return MARGIN_ENOMEM;
        *a = na;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return MARGIN_OK;
}

/* What the candle can touch: positions crossed anywhere in [low, high] (with `whole`:
 * every open position of the market, which a deleveraging may close), their accounts, and
 * those accounts' cross positions. Uses e->cand as work space. */
static int gather(margin_engine *e, margin__market *m, int64_t low, int64_t high, int whole,
                  subset *s)
{
    size_t n = 0, i, na;
    uint32_t pi;
    int rc;
    if (whole) {
        for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext) {
            if ((rc = margin__grow(e, (void **)&e->cand, &e->cand_cap, n + 1,
                                   sizeof *e->cand)) != MARGIN_OK)
                return rc;
            e->cand[n++] = pi;
        }
    } else if ((rc = margin__collect(e, &m->down, low, &n)) != MARGIN_OK ||
               (rc = margin__collect(e, &m->up, high, &n)) != MARGIN_OK) {
        return rc;
    }
    for (i = 0; i < n; i++)
        if ((rc = push(e, &s->pos, &s->npos, &s->cap_pos, e->cand[i])) != MARGIN_OK ||
            (rc = push(e, &s->acc, &s->nacc, &s->cap_acc,
                       MARGIN__POS(e, e->cand[i]).account)) != MARGIN_OK)
            return rc;
    uniq(s->acc, &s->nacc);
    na = s->nacc;
    for (i = 0; i < na; i++) {
        const margin__account *a = &e->accounts[s->acc[i]];
        if (a->ncross == 0)
            continue;
        for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext)
            if (MARGIN__POS(e, pi).cross &&
                (rc = push(e, &s->pos, &s->npos, &s->cap_pos, pi)) != MARGIN_OK)
                return rc;
    }
    uniq(s->pos, &s->npos);
    return MARGIN_OK;
}

/* The scratch engine t: e's settings and markets (heaps and lists empty), copies of the
 * subset's accounts and positions, renumbered in order, linked and indexed. */
static int build(margin_engine *e, margin_engine *t, const subset *s)
{
    uint32_t i, mi;
    int rc;
    t->time = e->time;
    t->insurance = e->insurance;
    t->last_seq = e->last_seq;
    t->liquidations = e->liquidations;
    t->cross_evals = e->cross_evals;
    t->queue_on = 1; /* counted, then dropped */
    memcpy(t->levels, e->levels, sizeof t->levels);
    t->nlevels = e->nlevels;
    t->band = e->band;
    t->cross_policy = e->cross_policy;
    t->closes = e->closes;
    t->retain = INT64_MAX / 2; /* nothing retires on the scratch */
    t->markets = margin__malloc(t, (size_t)e->nmarkets * sizeof *t->markets);
    t->accounts = margin__malloc(t, (s->nacc + 1) * sizeof *t->accounts);
    if (t->markets == NULL || t->accounts == NULL)
        return MARGIN_ENOMEM;
    for (mi = 0; mi < e->nmarkets; mi++) {
        margin__market *m = &t->markets[mi];
        *m = e->markets[mi];
        memset(&m->down, 0, sizeof m->down);
        memset(&m->up, 0, sizeof m->up);
        m->down.max = 1;
        m->head = m->tail = MARGIN__NONE;
        m->open_count = 0;
    }
    t->nmarkets = t->capmarkets = e->nmarkets;
    for (i = 0; i < s->nacc; i++) {
        margin__account *a = &t->accounts[i];
        *a = e->accounts[s->acc[i]];
        a->head = a->tail = MARGIN__NONE;
        a->open_count = a->ncross = 0;
        a->cross_hi = NULL;
        a->capcross_hi = 0;
        t->naccounts = i + 1;
        if (a->ncross_hi > 0) {
            a->cross_hi = margin__malloc(t, a->ncross_hi * sizeof *a->cross_hi);
            if (a->cross_hi == NULL)
                return MARGIN_ENOMEM;
            memcpy(a->cross_hi, e->accounts[s->acc[i]].cross_hi,
                   a->ncross_hi * sizeof *a->cross_hi);
            a->capcross_hi = a->ncross_hi;
        }
    }
    t->capaccounts = (uint32_t)s->nacc + 1;
    for (i = 0; i < s->npos; i++) {
        const margin__position *src = &MARGIN__POS(e, s->pos[i]);
        margin__position *p;
        int64_t d, u;
        if ((rc = margin__chunk_reserve(t)) != MARGIN_OK ||
            (rc = margin__index_reserve(t, &t->markets[src->market])) != MARGIN_OK)
            return MARGIN_ENOMEM; /* (room in its market's heaps for the copy) */
        t->npos++;
        p = &MARGIN__POS(t, i);
        *p = *src;
        p->stops = MARGIN__NONE;
        if (src->stops != MARGIN__NONE) {
            if ((rc = margin__stops_reserve(t)) != MARGIN_OK)
                return MARGIN_ENOMEM;
            margin__stops_put(t, p, margin__stop_of(e, src), margin__take_of(e, src));
        }
        p->account = find(s->acc, s->nacc, src->account);
        p->down_slot = p->up_slot = MARGIN__NONE;
        margin__link(t, i);
        margin__index_get(e, &e->markets[src->market], s->pos[i], &d, &u);
        margin__index_set(t, &t->markets[p->market], i, d, u); /* the keys in force */
    }
    /* (the market's open counts differ from the engine's: they decide nothing) */
    return MARGIN_OK;
}

/* the path's points */
static void points(int64_t o, int64_t h, int64_t l, int64_t c, int64_t pt[4])
{
    pt[0] = o;
    pt[1] = c >= o ? l : h;
    pt[2] = c >= o ? h : l;
    pt[3] = c;
}

/* Walk the path on engine x (market mi); stops at the first failure.
 *
 * MARGIN_PATH_UPDOWN: every position at each point of pt in turn.
 * MARGIN_PATH_ADVERSE: point 1, everyone at the open (a jump). Then each point k = 2, 3, 4
 * in two evaluations: the first group (the isolated positions whose adverse extreme the
 * up-down order visits first, and every cross book) at pt[k], moving the market's mark;
 * then the second group (the isolated positions of the other side, `g2`) at the mirrored
 * order's point q[k] (open, other extreme, first extreme, close), from q[k - 1] (the
 * continuity test's last mark), the market's mark untouched. So each isolated position
 * meets its adverse extreme at point 2 and its favourable one at point 3. The scratch run
 * and the engine run walk alike: the same decisions, the same events. */
static int walk(margin_engine *x, uint32_t mi, const int64_t pt[4], int32_t path, int32_t g2)
{
    int k, rc = MARGIN_OK;
    int64_t q[4];
    q[0] = pt[0];
    q[1] = pt[2];
    q[2] = pt[1];
    q[3] = pt[3];
    for (k = 0; k < 4 && rc == MARGIN_OK; k++) {
        x->path_point = k + 1;
        x->jump = k == 0;
        if (path != MARGIN_PATH_ADVERSE || k == 0) {
            rc = margin__evaluate_market(x, &x->markets[mi], pt[k]);
            continue;
        }
        x->path_skip = g2;
        rc = margin__evaluate_market(x, &x->markets[mi], pt[k]);
        x->path_skip = 0;
        if (rc != MARGIN_OK)
            break;
        x->path_only = g2;
        x->path_last = q[k - 1];
        rc = margin__evaluate_market(x, &x->markets[mi], q[k]);
        x->path_only = 0;
        x->path_last = 0;
    }
    x->path_point = 0;
    x->jump = 0;
    x->path_skip = 0;
    x->path_only = 0;
    x->path_last = 0;
    return rc;
}

int margin_mark_candle(margin_engine *e, uint64_t market, int64_t open, int64_t high,
                       int64_t low, int64_t close, int32_t path)
{
    margin__market *m = NULL;
    margin_engine *t;
    subset s;
    int64_t pt[4];
    int32_t g2;
    int whole;
    uint32_t mi;
    size_t nev, need;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (path != MARGIN_PATH_UPDOWN && path != MARGIN_PATH_ADVERSE)
        return margin__fail(e, MARGIN_EINVAL, "unknown candle path option %d", (int)path);
    if ((rc = margin__check_mark(e, m, open)) != MARGIN_OK ||
        (rc = margin__check_mark(e, m, high)) != MARGIN_OK ||
        (rc = margin__check_mark(e, m, low)) != MARGIN_OK ||
        (rc = margin__check_mark(e, m, close)) != MARGIN_OK)
        return rc;
    if (low > open || low > close || high < open || high < close) {
        char b[4][48];
        return margin__fail(e, MARGIN_EINVAL,
                            "not a candle: open %s, high %s, low %s, close %s (low must be at "
                            "most open and close, high at least both)",
                            margin__fmt(b[0], sizeof b[0], open, m->price_scale),
                            margin__fmt(b[1], sizeof b[1], high, m->price_scale),
                            margin__fmt(b[2], sizeof b[2], low, m->price_scale),
                            margin__fmt(b[3], sizeof b[3], close, m->price_scale));
    }
    mi = (uint32_t)(m - e->markets);
    points(open, high, low, close, pt);
    /* the adverse path's second group: the isolated side whose adverse extreme the up-down
     * order visits second (shorts on a bar closing up, longs on one closing down) */
    g2 = close >= open ? MARGIN_SHORT : MARGIN_LONG;

    /* 1. the scratch run: on what the path triggers; again on the whole market when a
     * bankrupt liquidation needs a deleveraging (which may close any position of it) */
    for (whole = 0;; whole = 1) {
        memset(&s, 0, sizeof s);
        t = margin__malloc(e, sizeof *t);
        if (t == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory applying a candle");
        memset(t, 0, sizeof *t);
        t->mem_alloc = e->mem_alloc;
        t->mem_grow = e->mem_grow;
        t->mem_release = e->mem_release;
        t->mem_user = e->mem_user;
        t->adl_probe = !whole;
        rc = gather(e, m, low, high, whole, &s);
        if (rc == MARGIN_OK)
            rc = build(e, t, &s);
        if (rc != MARGIN_OK)
            (void)margin__fail(e, rc, "out of memory applying a candle");
        else if ((rc = walk(t, mi, pt, path, g2)) != MARGIN_OK)
            (void)margin__fail(e, rc, "%s", t->msg); /* the scratch's reason, e unchanged */
        if (rc != MARGIN_OK || !t->adl_wanted || whole)
            break;
        margin__dealloc(e, s.pos);
        margin__dealloc(e, s.acc);
        margin__engine_clear(t);
        margin__dealloc(e, t);
    }
    nev = (size_t)(t->last_seq - e->last_seq);
    /* 2. reserve what the engine will need, so that nothing can fail on it: the work
     * buffers the scratch grew (the engine's full scan visits every open position of the
     * market), and the events of the whole path */
    need = e->full_scan ? (size_t)m->open_count + 1 : 0;
    if (rc == MARGIN_OK)
        rc = margin__grow(e, (void **)&e->cand, &e->cand_cap,
                          need > t->cand_cap ? need : t->cand_cap, sizeof *e->cand);
    if (rc == MARGIN_OK)
        rc = margin__reserve_work(e, t, need);
    if (rc == MARGIN_OK)
        rc = margin__ev_reserve(e, nev); /* MARGIN_EFULL past the cap, with its message */
    margin__dealloc(e, s.pos);
    margin__dealloc(e, s.acc);
    margin__engine_clear(t);
    margin__dealloc(e, t);
    if (rc != MARGIN_OK)
        return rc;
    /* 3. the engine: cannot fail now */
    rc = walk(e, mi, pt, path, g2);
    return rc;
}
