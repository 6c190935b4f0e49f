/* Mark prices drive the engine: trigger indexes, evaluation, liquidation, funding.
 *
 * Every open position has at most two trigger keys in its market:
 *  - down: the highest price at or below which something happens (max-heap `down`);
 *  - up:   the lowest price at or above which something happens (min-heap `up`).
 * For a long, down = max(liquidation price, stop-loss, armed margin-call level prices) and
 * up = min(take-profit, re-arm prices of fired levels); for a short the roles swap. A mark
 * update visits only the positions whose keys it crosses: O(1) when nothing triggers, and
 * O(log n) per triggered position. The full-scan path evaluates every position from
 * scratch with the same rules, so the two can be compared. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define KEY_NONE_DOWN INT64_MIN
#define KEY_NONE_UP INT64_MAX

/* ------------------------------------------------------------------ heaps */

/* 4-ary heaps: half the depth of a binary heap, so a removal moves half as many nodes,
 * and the four children of a node are one 64-byte line (types.h). A position reaches its
 * node through a handle (types.h): a move writes the node's new slot into the handle's
 * entry, which is dense, rather than into the moved position's record. */
#define ARITY 4

static int before(const margin__heap *h, int64_t a, int64_t b)
{
    return h->max ? a > b : a < b;
}

static void heap_put(margin__heap *h, uint32_t i, margin__hnode nd)
{
    *margin__hnode_at(h, i) = nd;
    *margin__hslot(h, nd.id) = i;
}

static void sift_up(margin__heap *h, uint32_t i)
{
    margin__hnode nd = *margin__hnode_at(h, i);
    while (i > 0) {
        uint32_t parent = (i - 1) / ARITY;
        margin__hnode pn = *margin__hnode_at(h, parent);
        if (!before(h, nd.key, pn.key))
            break;
        heap_put(h, i, pn);
        i = parent;
    }
    heap_put(h, i, nd);
}

static void sift_down(margin__heap *h, uint32_t i)
{
    margin__hnode nd = *margin__hnode_at(h, i);
    for (;;) {
        uint32_t first = ARITY * i + 1, c, k, end;
        const margin__hnode *ch, *best;
        if (first >= h->n)
            break;
        end = first + ARITY < h->n ? first + ARITY : h->n;
        ch = margin__hnode_at(h, first); /* the children are in one page */
        for (best = ch, c = first, k = first + 1; k < end; k++)
            if (before(h, ch[k - first].key, best->key)) {
                best = &ch[k - first];
                c = k;
            }
        if (!before(h, best->key, nd.key))
            break;
        heap_put(h, i, *best);
        i = c;
    }
    heap_put(h, i, nd);
}

/* Room for n nodes (and handles). Pages come in groups, one allocation each: the handle
 * entries of the group's pages, then, 64-byte aligned, their nodes. A group is as many
 * pages as the heap has (1, 1, 2, 4, 8, then 16 at a time), so that few allocations serve a
 * large heap: room reserved and not yet used is never touched, but the allocator writes a
 * header at the start of every allocation (at a million positions, one page of 4 KiB for
 * every 20 KiB reserved had made 4 bytes a position resident). A failure (MARGIN_ENOMEM)
 * keeps the groups added before it: room, nothing observable. */
#define HGROUP_MAX 16u

static uint32_t group_pages(uint32_t npages)
{
    return npages == 0 ? 1 : npages < HGROUP_MAX ? npages : HGROUP_MAX;
}

int margin__heap_reserve(const margin_engine *e, margin__heap *h, uint32_t n)
{
    while (n > h->cap) {
        uint32_t g = group_pages(h->npages), k;
        char *blk;
        uintptr_t at;
        if (h->npages + g > h->cappages) {
            uint32_t cp = h->cappages ? h->cappages * 2 : 4;
            margin__hnode **np;
            uint32_t **ns;
            if (h->cappages > UINT32_MAX / MARGIN__HPAGE / 2)
                return MARGIN_ENOMEM; /* 2^32 nodes: beyond any slot */
            if ((np = margin__realloc(e, h->pages, (size_t)cp * sizeof *np)) == NULL)
                return MARGIN_ENOMEM;
            h->pages = np;
            if ((ns = margin__realloc(e, h->slots, (size_t)cp * sizeof *ns)) == NULL)
                return MARGIN_ENOMEM;
            h->slots = ns;
            h->cappages = cp;
        }
        blk = margin__malloc(e, g * (MARGIN__HPAGE * sizeof(uint32_t) +
                                     MARGIN__HPAGE * sizeof(margin__hnode)) + 63);
        if (blk == NULL)
            return MARGIN_ENOMEM;
        at = ((uintptr_t)(blk + g * MARGIN__HPAGE * sizeof(uint32_t)) + 63) & ~(uintptr_t)63;
        for (k = 0; k < g; k++) {
            h->slots[h->npages + k] = (uint32_t *)(void *)blk + k * MARGIN__HPAGE;
            h->pages[h->npages + k] = (margin__hnode *)at + k * MARGIN__HPAGE;
        }
        h->npages += g;
        h->cap = h->npages * MARGIN__HPAGE - MARGIN__HOFF;
    }
    return MARGIN_OK;
}

void margin__heap_free(const margin_engine *e, margin__heap *h)
{
    uint32_t k;
    for (k = 0; k < h->npages; k += group_pages(k)) /* the first page of each group */
        margin__dealloc(e, h->slots[k]);
    margin__dealloc(e, h->pages);
    margin__dealloc(e, h->slots);
    h->pages = NULL;
    h->slots = NULL;
    h->n = h->cap = h->npages = h->cappages = h->used = h->free1 = 0;
}

/* A handle for a new node: a freed one if any, else the next unused (n < cap nodes are in
 * use, so then used < cap). */
static uint32_t handle_new(margin__heap *h)
{
    uint32_t id;
    if (h->free1 != 0) {
        id = h->free1 - 1;
        h->free1 = *margin__hslot(h, id);
        return id;
    }
    return h->used++;
}

static void heap_remove(margin__heap *h, uint32_t id)
{
    uint32_t *hs = margin__hslot(h, id);
    uint32_t slot = *hs;
    *hs = h->free1; /* onto the free list */
    h->free1 = id + 1;
    h->n--;
    if (slot == h->n)
        return;
    {
        margin__hnode last = *margin__hnode_at(h, h->n);
        heap_put(h, slot, last);
        sift_up(h, slot);
        if (*margin__hslot(h, last.id) == slot)
            sift_down(h, slot);
    }
}

/* Insert, update or remove position pi's node in one heap (*hd: the position's handle in
 * it); `none` means no key. */
static void heap_set(margin__heap *h, uint32_t pi, uint32_t *hd, int64_t key, int64_t none)
{
    if (key == none) {
        if (*hd != MARGIN__NONE) {
            heap_remove(h, *hd);
            *hd = MARGIN__NONE;
        }
        return;
    }
    if (*hd == MARGIN__NONE) {
        margin__hnode nd;
        nd.key = key;
        nd.id = handle_new(h);
        nd.pos = pi;
        *hd = nd.id;
        heap_put(h, h->n++, nd);
        sift_up(h, h->n - 1);
        return;
    }
    {
        uint32_t i = *margin__hslot(h, *hd);
        margin__hnode *nd = margin__hnode_at(h, i);
        int64_t old = nd->key;
        if (old == key)
            return; /* (re-keying often leaves a key where it was) */
        nd->key = key;
        if (before(h, key, old))
            sift_up(h, i);
        else
            sift_down(h, i);
    }
}

/* Room for one more position in both heaps of a market (call before opening one). */
int margin__index_reserve(const margin_engine *e, margin__market *m)
{
    uint32_t need = m->open_count + 1;
    int rc = margin__heap_reserve(e, &m->down, need);
    if (rc != MARGIN_OK)
        return rc;
    return margin__heap_reserve(e, &m->up, need);
}

void margin__index_set(margin_engine *e, margin__market *m, uint32_t pi, int64_t down, int64_t up)
{
    margin__position *p = &MARGIN__POS(e, pi);
    heap_set(&m->down, pi, &p->down_slot, down, KEY_NONE_DOWN);
    heap_set(&m->up, pi, &p->up_slot, up, KEY_NONE_UP);
}

void margin__index_get(const margin_engine *e, const margin__market *m, uint32_t pi,
                       int64_t *down, int64_t *up)
{
    const margin__position *p = &MARGIN__POS(e, pi);
    *down = p->down_slot != MARGIN__NONE ? margin__hkey(&m->down, p->down_slot) : KEY_NONE_DOWN;
    *up = p->up_slot != MARGIN__NONE ? margin__hkey(&m->up, p->up_slot) : KEY_NONE_UP;
}

void margin__index_remove(margin_engine *e, margin__market *m, uint32_t pi)
{
    margin__index_set(e, m, pi, KEY_NONE_DOWN, KEY_NONE_UP);
}

/* ------------------------------------------------------------------ keys */

/* The prices of every level (kp: 0 for none, for a long) and, for the fired ones, where
 * they re-arm (kr): the price of level - band; with no band the level's own price; when
 * level - band <= 0 a price the mark never passes (long INT64_MAX, short 0), so the level
 * stays fired. With liq not NULL, also the liquidation price (level 1). The levels' prices
 * come from one margin__thresholds() call, which computes what they share once. */
static int level_prices(const margin_engine *e, const margin__market *m,
                        const margin__position *p, uint8_t fired, int64_t *liq, int64_t *kp,
                        int64_t *kr)
{
    int64_t lv[1 + MARGIN__MAX_LEVELS], pr[1 + MARGIN__MAX_LEVELS];
    uint32_t i, o = liq != NULL;
    int rc;
    lv[0] = MARGIN__ONE;
    memcpy(lv + o, e->levels, e->nlevels * sizeof lv[0]);
    if ((rc = margin__thresholds(m, p->side, p->qty, p->entry, p->margin, lv, o + e->nlevels,
                                 pr)) != MARGIN_OK)
        return rc;
    if (liq != NULL)
        *liq = pr[0];
    for (i = 0; i < e->nlevels; i++) {
        kp[i] = kr[i] = pr[o + i];
        if (e->band == 0 || !(fired & (1u << i)))
            continue;
        if (e->levels[i] <= e->band)
            kr[i] = p->side > 0 ? INT64_MAX : 0;
        else if ((rc = margin__threshold(m, p->side, p->qty, p->entry, p->margin,
                                         e->levels[i] - e->band, &kr[i])) != MARGIN_OK)
            return rc;
    }
    return MARGIN_OK;
}

static int level_hit(const margin__position *p, int64_t k, int64_t mark)
{
    if (p->side > 0)
        return k > 0 && mark <= k;
    return mark >= k;
}

/* The keys of a position from its liquidation price, stop-loss and take-profit (0: none),
 * its level prices kp[0..nlevels-1] and the re-arm prices kr of the fired levels (see the
 * file comment). */
static void keys_from(const margin__position *p, int64_t stop, int64_t take, uint8_t fired,
                      const int64_t *kp, const int64_t *kr, uint32_t nlevels, int64_t *down,
                      int64_t *up)
{
    int64_t d = KEY_NONE_DOWN, u = KEY_NONE_UP, k;
    uint32_t i;
    /* "fires when mark <= x" keys: long liq/stop/armed levels, short take/re-arms */
    if (p->side > 0) {
        if (p->liq > 0 && p->liq > d)
            d = p->liq;
    } else if (p->liq < u) {
        u = p->liq; /* a short always has one (0 if it rounds down to nothing) */
    }
    margin__merge_stops(p->side, stop, take, &d, &u);
    for (i = 0; i < nlevels; i++) {
        k = (fired & (1u << i)) ? kr[i] : kp[i];
        if (p->side > 0) {
            if (k <= 0) {
                /* no level price: never fires, and a fired level re-arms at any mark */
                if (fired & (1u << i))
                    u = 1;
                continue;
            }
            if (!(fired & (1u << i))) {
                if (k > d)
                    d = k; /* fires at mark <= k */
            } else if (k < INT64_MAX && k + 1 < u) {
                u = k + 1; /* re-arms at mark > k */
            }
        } else {
            if (!(fired & (1u << i))) {
                if (k < u)
                    u = k; /* fires at mark >= k */
            } else if (k > 1 && k - 1 > d) {
                d = k - 1; /* re-arms at mark < k */
            }
        }
    }
    *down = d;
    *up = u;
}

int margin__position_keys(const margin_engine *e, const margin__market *m,
                          const margin__position *p, uint8_t fired, int64_t stop, int64_t take,
                          int64_t *down, int64_t *up)
{
    int64_t kp[MARGIN__MAX_LEVELS], kr[MARGIN__MAX_LEVELS];
    int rc = level_prices(e, m, p, fired, NULL, kp, kr);
    if (rc != MARGIN_OK)
        return rc;
    keys_from(p, stop, take, fired, kp, kr, e->nlevels, down, up);
    return MARGIN_OK;
}

/* Recompute a position's liquidation price and keys, and update the index. The heaps have
 * room for every open position, so this cannot fail for lack of memory. */
int margin__reindex(margin_engine *e, uint32_t pi)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    int64_t d, u, liq, kp[MARGIN__MAX_LEVELS], kr[MARGIN__MAX_LEVELS];
    int rc;
    if (p->cross) {
        margin__cross_rekey(e, p->account);
        return MARGIN_OK;
    }
    if ((rc = level_prices(e, m, p, p->mc_fired, &liq, kp, kr)) != MARGIN_OK)
        return rc;
    p->liq = liq;
    keys_from(p, margin__stop_of(e, p), margin__take_of(e, p), p->mc_fired, kp, kr, e->nlevels,
              &d, &u);
    margin__index_set(e, m, pi, d, u);
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ evaluation */

enum { OUT_NONE, OUT_LIQ, OUT_STOP, OUT_TAKE, OUT_LEVELS };

typedef struct margin__outcome {
    uint32_t pi;
    uint8_t kind;
    uint8_t mask;  /* new fired mask */
    uint8_t newly; /* levels that fire now */
    margin__close close; /* a stop or take-profit close */
    margin__liq liq;     /* a liquidation (liquidation.c), in full or in part */
    int64_t price;       /* a stop's or take-profit's fill price, and its MARGIN_FILL_* */
    int32_t fill;
    int64_t ratio, down, up;
    size_t adl_first, adl_n; /* a bankrupt liquidation's deleveraging: e->adlx[first ..] */
} margin__outcome;

/* Funding is one atomic batch like a mark update: every payment and every trigger it
 * causes at the mark is decided, and every account's totals checked, before anything is
 * applied. */
typedef struct {
    margin__outcome o; /* what the mark does afterwards (o.kind OUT_NONE: nothing) */
    int64_t flow, margin, liq, down, up;
} funding_out;

/* e->out holds outcomes or funding decisions: its capacity counts the larger of the two */
#define OUT_SIZE sizeof(funding_out)

int margin__grow(margin_engine *e, void **buf, size_t *cap, size_t need, size_t size)
{
    size_t ncap;
    void *nb;
    if (need <= *cap)
        return MARGIN_OK;
    ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    nb = margin__realloc(e, *buf, ncap * size);
    if (nb == NULL)
        return margin__fail(e, MARGIN_ENOMEM, "out of memory evaluating triggers");
    *buf = nb;
    *cap = ncap;
    return MARGIN_OK;
}

/* Make e's evaluation work space as large as t's (a scratch engine that played the same
 * marks: margin_mark_candle()), or room for `all` candidates (a full scan), so that the
 * same evaluation on e cannot fail for memory. */
int margin__reserve_work(margin_engine *e, const margin_engine *t, size_t all)
{
    size_t n = t->out_cap > all ? t->out_cap : all;
    int rc;
    if ((rc = margin__grow(e, &e->out, &e->out_cap, n, OUT_SIZE)) != MARGIN_OK ||
        (rc = margin__adl_reserve(e, t)) != MARGIN_OK)
        return rc;
    return margin__cross_reserve(e, t->xacc_cap > all ? t->xacc_cap : all,
                                 t->xout_cap > all ? t->xout_cap : all,
                                 t->xcl_cap > (all ? e->open_positions : 0)
                                     ? t->xcl_cap
                                     : (size_t)(all ? e->open_positions : 0));
}

/* Decide what a mark does to position pi in state p (its current state, or the state a
 * funding round gives it), given its level and re-arm prices (kp, kr; NULL: computed
 * here); no side effects. */
static int decide_at(const margin_engine *e, const margin__market *m, uint32_t pi,
                     const margin__position *p, int64_t mark, const int64_t *kp_in,
                     const int64_t *kr_in, margin__outcome *o)
{
    int64_t kp[MARGIN__MAX_LEVELS], kr[MARGIN__MAX_LEVELS];
    const int64_t *pk = kp_in, *rk = kr_in; /* the prices in use */
    int long_ = p->side > 0, rc;
    uint32_t i;
    int64_t stop = margin__stop_of(e, p), take = margin__take_of(e, p);
    int liq_hit = long_ ? (p->liq > 0 && mark <= p->liq) : mark >= p->liq;
    int stop_hit = stop > 0 && (long_ ? mark <= stop : mark >= stop);
    int take_hit = take > 0 && (long_ ? mark >= take : mark <= take);
    /* MARGIN_STOP_FILL_TRIGGER: a move from the last mark (m->mark, still the previous one
     * while the update is decided; on the adverse path's mirrored walk, that walk's previous
     * point) is continuous; the trigger between the two fills at its price, unless the last
     * mark was already past it (a gap) */
    int64_t last = e->path_only ? e->path_last : m->mark, trig = stop_hit ? stop : take;
    int at_trigger = m->stop_fill == MARGIN_STOP_FILL_TRIGGER && last > 0 && !e->jump &&
                     (stop_hit || take_hit) &&
                     (stop_hit == long_ ? last > trig : last < trig);
    memset(o, 0, sizeof *o);
    o->pi = pi;
    o->mask = p->mc_fired;
    /* On a jump both fire at once and the liquidation wins (it is decided on the mark).
     * On a continuous move filled at the trigger price, the one the path reaches first
     * wins: a stop at or before the liquidation price closes the position at the stop. */
    if (liq_hit && !(stop_hit && at_trigger && (long_ ? stop >= p->liq : stop <= p->liq))) {
        margin__delta d;
        o->kind = OUT_LIQ;
        if ((rc = margin__liq_decide(e, m, p, mark, &o->liq)) != MARGIN_OK)
            return rc;
        d = margin__liq_delta(&o->liq);
        return margin__ledger_check(e, p, 1, &d);
    }
    if (stop_hit || take_hit) {
        o->kind = stop_hit ? OUT_STOP : OUT_TAKE;
        o->price = at_trigger ? trig : mark;
        o->fill = at_trigger ? MARGIN_FILL_TRIGGER : MARGIN_FILL_MARK;
        return margin__close_compute(e, p, o->price, m->taker, 0, &o->close);
    }
    if (pk == NULL) {
        if ((rc = level_prices(e, m, p, p->mc_fired, NULL, kp, kr)) != MARGIN_OK)
            return rc;
        pk = kp;
        rk = kr;
    }
    for (i = 0; i < e->nlevels; i++) {
        uint8_t bit = (uint8_t)(1u << i);
        if (!(o->mask & bit)) {
            if (level_hit(p, pk[i], mark)) { /* fires */
                o->mask |= bit;
                o->newly |= bit;
            }
        } else if (!level_hit(p, rk[i], mark)) {
            o->mask &= (uint8_t)~bit; /* re-arms: past the price of level - band */
        }
    }
    if (o->mask == p->mc_fired)
        return MARGIN_OK; /* nothing happens */
    o->kind = OUT_LEVELS;
    if (o->newly && (rc = margin__ratio_at(m, p, mark, &o->ratio)) != MARGIN_OK)
        return rc;
    /* the new mask's keys: newly fired levels re-arm at level - band */
    if (e->band != 0 && o->newly) {
        if ((rc = level_prices(e, m, p, o->mask, NULL, kp, kr)) != MARGIN_OK)
            return rc;
        pk = kp;
        rk = kr;
    }
    keys_from(p, stop, take, o->mask, pk, rk, e->nlevels, &o->down, &o->up);
    return MARGIN_OK;
}

static int decide(const margin_engine *e, const margin__market *m, uint32_t pi,
                  const margin__position *p, int64_t mark, margin__outcome *o)
{
    return decide_at(e, m, pi, p, mark, NULL, NULL, o);
}

/* Count the events a decided outcome will produce (*nev) and, for a close, stage its
 * ledger changes on its account and add its insurance change to *fund (the fund takes them
 * all, so the sum must fit too): MARGIN_EOVERFLOW when a total would not fit. Used by a
 * mark update and a funding round alike. */
static int stage_outcome(margin_engine *e, const margin__outcome *o, size_t *nev,
                         margin__i128 *fund)
{
    uint32_t b;
    if (o->kind == OUT_NONE)
        return MARGIN_OK;
    if (o->kind == OUT_LEVELS) {
        for (b = 0; b < e->nlevels; b++)
            *nev += (o->newly >> b) & 1u;
        return MARGIN_OK;
    }
    (*nev)++;
    if (o->kind == OUT_LIQ) {
        margin__delta d = margin__liq_delta(&o->liq);
        *fund += o->liq.c.insurance; /* |fund| < 2^63 * (positions + 1) */
        if (margin__ledger_stage(e, MARGIN__POS(e, o->pi).account, &d) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
    } else {
        *fund += o->close.insurance;
        if (margin__close_stage(e, o->pi, &o->close) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
    }
    if (*fund > INT64_MAX || *fund < INT64_MIN)
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

/* Breadth-first walk of the part of a heap whose keys the mark crosses. */
int margin__collect(margin_engine *e, const margin__heap *h, int64_t mark, size_t *n)
{
    size_t start = *n, i;
    int rc;
    if (h->n == 0 || (h->max ? margin__hnode_at(h, 0)->key < mark
                             : margin__hnode_at(h, 0)->key > mark))
        return MARGIN_OK;
    if ((rc = margin__grow(e, (void **)&e->cand, &e->cand_cap, *n + 1, sizeof *e->cand)) !=
        MARGIN_OK)
        return rc;
    e->cand[(*n)++] = 0; /* slots first; converted to positions below */
    for (i = start; i < *n; i++) {
        uint32_t s = e->cand[i], c;
        for (c = ARITY * s + 1; c <= ARITY * s + ARITY && c < h->n; c++) {
            int64_t k = margin__hnode_at(h, c)->key;
            if (h->max ? k < mark : k > mark)
                continue;
            if ((rc = margin__grow(e, (void **)&e->cand, &e->cand_cap, *n + 1, sizeof *e->cand)) !=
                MARGIN_OK)
                return rc;
            e->cand[(*n)++] = c;
        }
    }
    for (i = start; i < *n; i++)
        e->cand[i] = margin__hnode_at(h, e->cand[i])->pos;
    return MARGIN_OK;
}

/* Sort n indexes in increasing order (candidates, accounts to evaluate): the C library's
 * qsort calls a comparison function per step and was 3 % of a cross liquidation. A
 * quicksort (median of three, the smaller side first, insertion sort below 16) that
 * falls back to a heapsort past 2*log2(n) levels, so never worse than O(n log n). */
static void sift_u32(uint32_t *a, size_t i, size_t n)
{
    uint32_t v = a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[c] <= v)
            break;
        a[i] = a[c];
        i = c;
    }
    a[i] = v;
}

static void swap_u32(uint32_t *a, size_t i, size_t j)
{
    uint32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static void sort_u32(uint32_t *a, size_t n, int depth)
{
    while (n > 16) {
        size_t i, j, mid = n / 2;
        uint32_t p;
        if (depth-- == 0) { /* heapsort */
            for (i = n / 2; i-- > 0;)
                sift_u32(a, i, n);
            for (i = n - 1; i > 0; i--) {
                swap_u32(a, 0, i);
                sift_u32(a, 0, i);
            }
            return;
        }
        /* median of the first, middle and last as the pivot */
        if (a[mid] < a[0])
            swap_u32(a, mid, 0);
        if (a[n - 1] < a[0])
            swap_u32(a, n - 1, 0);
        if (a[n - 1] < a[mid])
            swap_u32(a, n - 1, mid);
        p = a[mid];
        i = 0;
        j = n - 1;
        for (;;) { /* Hoare partition: a[0..j] <= p <= a[j+1..n) */
            while (a[i] < p)
                i++;
            while (a[j] > p)
                j--;
            if (i >= j)
                break;
            swap_u32(a, i, j);
            i++;
            j--;
        }
        if (j + 1 < n - j - 1) {
            sort_u32(a, j + 1, depth);
            a += j + 1;
            n -= j + 1;
        } else {
            sort_u32(a + j + 1, n - j - 1, depth);
            n = j + 1;
        }
    }
    {
        size_t i, k;
        for (i = 1; i < n; i++) {
            uint32_t v = a[i];
            for (k = i; k > 0 && a[k - 1] > v; k--)
                a[k] = a[k - 1];
            a[k] = v;
        }
    }
}

void margin__sort_u32(uint32_t *a, size_t n)
{
    int depth = 0;
    size_t m;
    for (m = n; m > 1; m >>= 1)
        depth += 2;
    sort_u32(a, n, depth);
}

static void apply(margin_engine *e, margin__market *m, const margin__outcome *o, int64_t mark)
{
    margin__position *p = &MARGIN__POS(e, o->pi);
    uint32_t i;
    switch (o->kind) {
    case OUT_LIQ:
        if (o->liq.partial)
            margin__partial_apply(e, o->pi, &o->liq);
        else
            margin__close_apply_fill(e, o->pi, o->liq.price, &o->liq.c, MARGIN_EV_LIQUIDATION,
                                     o->liq.fill);
        margin__adl_apply(e, o->adl_first, o->adl_n);
        return;
    case OUT_STOP:
        margin__close_apply_fill(e, o->pi, o->price, &o->close, MARGIN_EV_STOP_LOSS, o->fill);
        return;
    case OUT_TAKE:
        margin__close_apply_fill(e, o->pi, o->price, &o->close, MARGIN_EV_TAKE_PROFIT, o->fill);
        return;
    case OUT_LEVELS:
        p->mc_fired = o->mask;
        margin__index_set(e, m, o->pi, o->down, o->up);
        for (i = 0; i < e->nlevels; i++) {
            margin__event *ev;
            if (!(o->newly & (1u << i)))
                continue;
            ev = margin__ev_position(e, MARGIN_EV_MARGIN_CALL, o->pi);
            ev->f[MARGIN_EVF_PRICE] = mark;
            ev->f[MARGIN_EVF_MARGIN_RATIO] = o->ratio;
            ev->f[MARGIN_EVF_LEVEL] = e->levels[i];
            margin__ev_commit(e, ev);
        }
        return;
    default:
        return;
    }
}

/* Undo the staging of the first n outcomes (a failed update changes nothing). */
static void unstage_outcomes(margin_engine *e, const margin__outcome *outs, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        margin__ledger_unstage(e, MARGIN__POS(e, outs[i].pi).account);
}

/* Auto-deleveraging (insurance.c) in a batch: what cannot take part. The batch's
 * decisions, in position order: a mark update's outcomes (those that do something), or a
 * funding round's decisions (every position of the market, with its margin after the
 * payment). */
typedef struct {
    const margin_engine *e;
    char *base; /* the decisions: an outcome every `stride` bytes */
    size_t stride, n, nx, nxout;
    int funding; /* decisions are funding_out: every position, with its new margin */
} skip_ctx;

static const margin__outcome *decision(const skip_ctx *c, size_t i)
{
    return (const margin__outcome *)(const void *)(c->base + i * c->stride);
}

/* a position with an outcome in this batch, or of an account whose cross book this batch
 * changes; *margin: its margin as the batch leaves it */
static int skip_pos(const void *ctx, uint32_t pi, int64_t *margin)
{
    const skip_ctx *c = ctx;
    size_t lo = 0, hi = c->n;
    *margin = MARGIN__POS(c->e, pi).margin;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const margin__outcome *o = decision(c, mid);
        if (o->pi == pi) {
            if (c->funding && !MARGIN__POS(c->e, pi).cross)
                *margin = ((const funding_out *)(const void *)o)->margin;
            if (!c->funding || o->kind != OUT_NONE)
                return 1;
            break;
        }
        if (o->pi < pi)
            lo = mid + 1;
        else
            hi = mid;
    }
    return margin__cross_active(c->e, c->nx, c->nxout, MARGIN__POS(c->e, pi).account);
}

/* Walk the isolated decisions (base: n of them, `stride` bytes apart; `funding`: a funding
 * round's, see skip_ctx) in order with the pool's balance as they leave it; a liquidation
 * in full whose deficit would take the pool below its floor has that part covered by
 * deleveraging (MARGIN_ADL_ON). Counts the events in *nev. */
static int plan_adl(margin_engine *e, const margin__market *m, int64_t mark, char *base,
                    size_t stride, size_t n, size_t nx, size_t nxout, int funding, size_t *nev)
{
    const margin__market *owner = &e->markets[m->pool_of];
    margin__i128 rb = owner->pool;
    skip_ctx sk, *c = &sk;
    size_t i;
    int rc;
    e->nadlx = 0;
    e->adl_side = 0; /* no ranking yet in this batch */
    e->adl_view = funding;
    if (owner->adl != MARGIN_ADL_ON)
        return MARGIN_OK;
    sk.e = e;
    sk.base = base;
    sk.stride = stride;
    sk.n = n;
    sk.nx = nx;
    sk.nxout = nxout;
    sk.funding = funding;
    for (i = 0; i < c->n; i++) {
        margin__outcome *o = (margin__outcome *)(void *)(c->base + i * c->stride);
        int64_t delta = 0, covered;
        if (o->kind == OUT_LIQ)
            delta = o->liq.c.insurance;
        else if (o->kind == OUT_STOP || o->kind == OUT_TAKE)
            delta = o->close.insurance;
        if (o->kind == OUT_LIQ && !o->liq.partial && delta < 0 && rb + delta < owner->pool_floor) {
            margin__i128 want = owner->pool_floor - (rb + delta);
            int64_t need = want < -(margin__i128)delta ? (int64_t)want : -delta;
            if (e->adl_probe) { /* a candle's partial scratch: it runs again, whole */
                e->adl_wanted = 1;
                return MARGIN_OK;
            }
            o->adl_first = e->nadlx;
            if ((rc = margin__adl_plan(e, m, o->pi, mark, need, skip_pos, c, &covered)) !=
                MARGIN_OK)
                return rc;
            o->adl_n = e->nadlx - o->adl_first;
            o->liq.c.adl = covered;
            rb += covered;
            *nev += o->adl_n;
        }
        rb += delta;
    }
    /* then the cross books' deficits, applied after the isolated outcomes */
    return nx > 0 ? margin__cross_adl(e, (uint32_t)(m - e->markets), mark, nx, nxout, &rb,
                                      skip_pos, c, nev)
                  : MARGIN_OK;
}

/* Loading ahead in a batch over positions in no order (the candidates of a mark update,
 * then their outcomes): a record EVAL_AHEAD steps ahead, an account half as far (its
 * record loaded by then). */
#define EVAL_AHEAD 8

/* An isolated outcome that moves money into or out of the free balance of an account with
 * cross positions: that account's cross book is evaluated in the same batch. */
static int note_touched(margin_engine *e, const margin__outcome *o, size_t *nx)
{
    const margin__position *p = &MARGIN__POS(e, o->pi);
    if ((o->kind == OUT_STOP || o->kind == OUT_TAKE) && e->accounts[p->account].ncross > 0)
        return margin__cross_note(e, nx, p->account);
    return MARGIN_OK;
}

/* Evaluate every position of market m whose triggers `mark` crosses; atomic: either the
 * mark is applied with all its consequences, or nothing changes. */
int margin__evaluate_market(margin_engine *e, margin__market *m, int64_t mark)
{
    size_t n = 0, i, nout = 0, nev = 0, nx = 0, nxout = 0;
    margin__outcome *outs;
    margin__i128 fund = e->insurance;
    uint32_t mi = (uint32_t)(m - e->markets);
    int rc;

    if (e->full_scan) {
        uint32_t pi;
        for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext) {
            if ((rc = margin__grow(e, (void **)&e->cand, &e->cand_cap, n + 1,
                                   sizeof *e->cand)) != MARGIN_OK)
                return rc;
            e->cand[n++] = pi;
        }
    } else {
        if ((rc = margin__collect(e, &m->down, mark, &n)) != MARGIN_OK ||
            (rc = margin__collect(e, &m->up, mark, &n)) != MARGIN_OK)
            return rc;
        if (n > 1) {
            size_t j = 0;
            margin__sort_u32(e->cand, n);
            for (i = 0; i < n; i++)
                if (j == 0 || e->cand[i] != e->cand[j - 1])
                    e->cand[j++] = e->cand[i];
            n = j;
        }
    }
    if (e->path_skip != 0 || e->path_only != 0) { /* a group of the adverse path */
        size_t j = 0;
        for (i = 0; i < n; i++) {
            const margin__position *p = &MARGIN__POS(e, e->cand[i]);
            if (e->path_only != 0 ? !p->cross && p->side == e->path_only
                                  : p->cross || p->side != e->path_skip)
                e->cand[j++] = e->cand[i];
        }
        n = j;
    }
    if (n == 0) { /* nothing crossed (the common case): only the mark moves */
        if (!e->path_only)
            m->mark = mark;
        return MARGIN_OK;
    }
    if ((rc = margin__grow(e, &e->out, &e->out_cap, n, OUT_SIZE)) != MARGIN_OK)
        return rc;
    outs = e->out;
    /* Decide every outcome. Several positions of one account may close in this update, so
     * each close's ledger changes are staged on its account (just loaded by the decision)
     * and the totals checked; applying an outcome unstages its account. The candidates
     * are in no order: each step starts loading the record of the candidate EVAL_AHEAD
     * further and the account of the one half as far (its record loaded by then). */
    for (i = 0; i < n; i++) {
        const margin__position *p = &MARGIN__POS(e, e->cand[i]);
        if (i + EVAL_AHEAD < n)
            margin__prefetch_record(e, e->cand[i + EVAL_AHEAD]);
        if (i + EVAL_AHEAD / 2 < n)
            margin__prefetch_account(e, MARGIN__POS(e, e->cand[i + EVAL_AHEAD / 2]).account);
        if (p->cross) { /* its account's book is evaluated below */
            if ((rc = margin__cross_note(e, &nx, p->account)) != MARGIN_OK) {
                unstage_outcomes(e, outs, nout);
                return rc;
            }
            continue;
        }
        if ((rc = decide(e, m, e->cand[i], p, mark, &outs[nout])) != MARGIN_OK) {
            unstage_outcomes(e, outs, nout);
            return margin__fail(e, rc, "evaluating position %u overflows", e->cand[i] + 1);
        }
        if (outs[nout].kind == OUT_NONE)
            continue;
        if (stage_outcome(e, &outs[nout], &nev, &fund) != MARGIN_OK ||
            (rc = note_touched(e, &outs[nout], &nx)) != MARGIN_OK) {
            unstage_outcomes(e, outs, nout + 1);
            return rc == MARGIN_OK ? margin__fail(e, MARGIN_EOVERFLOW,
                                                  "an account's ledgers or the insurance fund "
                                                  "would overflow")
                                   : rc;
        }
        nout++;
    }
    /* then the cross books: on the free balances the isolated outcomes leave (on the
     * adverse path's mirrored walk, a book noted by a close is valued at its own current
     * mark, the market's, which that walk does not move); then the deleveraging that
     * bankrupt liquidations need */
    rc = margin__cross_decide(e, &nx, mi, e->path_only ? m->mark : mark, &nxout, &nev, &fund);
    if (rc == MARGIN_OK)
        rc = plan_adl(e, m, mark, (char *)outs, sizeof *outs, nout, nx, nxout, 0, &nev);
    if (rc == MARGIN_OK)
        rc = margin__ev_reserve(e, nev);
    if (rc != MARGIN_OK) {
        unstage_outcomes(e, outs, nout);
        margin__cross_unstage(e, nx);
        margin__adl_unstage(e);
        e->nadlx = 0;
        return rc;
    }
    margin__cross_unstage(e, nx);
    margin__adl_unstage(e);
    if (!e->path_only)
        m->mark = mark;
    for (i = 0; i < nout; i++) { /* (loading ahead as the decisions did) */
        if (i + EVAL_AHEAD < nout)
            margin__prefetch_record(e, outs[i + EVAL_AHEAD].pi);
        if (i + EVAL_AHEAD / 2 < nout && outs[i + EVAL_AHEAD / 2].kind != OUT_LEVELS)
            margin__prefetch_close(e, &MARGIN__POS(e, outs[i + EVAL_AHEAD / 2].pi));
        margin__ledger_unstage(e, MARGIN__POS(e, outs[i].pi).account);
        apply(e, m, &outs[i], mark);
    }
    margin__cross_apply(e, nx, nxout);
    margin__retire(e);
    return MARGIN_OK;
}

/* A mark must be > 0 (MARGIN_EINVAL) and at most the market's maximum price (MARGIN_ERANGE):
 * inside that range every position's figures are known to fit. */
int margin__check_mark(const margin_engine *e, const margin__market *m, int64_t mark)
{
    char b1[48], b2[48];
    if (mark <= 0)
        return margin__fail(e, MARGIN_EINVAL, "mark price must be > 0");
    if (mark > m->max_price)
        return margin__fail(e, MARGIN_ERANGE, "mark %s is above the market's maximum price %s",
                            margin__fmt(b1, sizeof b1, mark, m->price_scale),
                            margin__fmt(b2, sizeof b2, m->max_price, m->price_scale));
    if (mark < m->min_price)
        return margin__fail(e, MARGIN_ERANGE, "mark %s is below the market's minimum price %s",
                            margin__fmt(b1, sizeof b1, mark, m->price_scale),
                            margin__fmt(b2, sizeof b2, m->min_price, m->price_scale));
    return MARGIN_OK;
}

int margin_mark_update(margin_engine *e, uint64_t market, int64_t mark)
{
    margin__market *m = NULL;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if ((rc = margin__check_mark(e, m, mark)) != MARGIN_OK)
        return rc;
    return margin__evaluate_market(e, m, mark);
}

/* ------------------------------------------------------------------ funding */


/* A funding round that cannot be applied: undo the staging, report, change nothing. */
static int funding_fail(margin_engine *e, const margin__market *m, int rc, uint32_t pi)
{
    uint32_t q;
    for (q = m->head; q != MARGIN__NONE; q = MARGIN__POS(e, q).mnext)
        margin__ledger_unstage(e, MARGIN__POS(e, q).account);
    if (rc != MARGIN_EOVERFLOW)
        return rc; /* out of memory, a full queue...: the callee said so */
    return margin__fail(e, rc, "funding of position %u (or its account's totals) overflows",
                        pi + 1);
}

/* Funding walks a market's positions in id order and reads or writes each one's account
 * twice (stage; unstage and apply): accounts come in no order, and a record (104 bytes)
 * spans two or three cache lines. Each pass starts loading the account of
 * the position FUND_AHEAD places further down the list, and the record of the position
 * twice as far (by id); *la is the first of them (advanced here, NONE past the end). */
#define FUND_AHEAD 8
static uint32_t fund_ahead_start(const margin_engine *e, const margin__market *m)
{
    uint32_t la = m->head;
    int k;
    for (k = 0; k < FUND_AHEAD && la != MARGIN__NONE; k++)
        la = MARGIN__POS(e, la).mnext;
    return la;
}

static void fund_ahead(const margin_engine *e, uint32_t *la)
{
    if (*la != MARGIN__NONE) {
        const margin__position *q = &MARGIN__POS(e, *la);
        uint32_t far = *la + FUND_AHEAD; /* the list is in id order: most often, the record
                                          * the lookahead reads FUND_AHEAD steps later */
        if (far < e->npos && e->chunks[far >> MARGIN__CHUNK_BITS] != NULL)
            margin__prefetch_record(e, far);
        margin__prefetch_account(e, q->account);
        *la = q->mnext;
    }
}

int margin_funding_apply(margin_engine *e, uint64_t market, int64_t rate, int64_t mark)
{
    margin__market *m = NULL;
    funding_out *fo;
    uint32_t pi, la;
    size_t n = 0, i, nev = 0, nx = 0, nxout = 0;
    margin__i128 fund;
    int64_t kp[MARGIN__MAX_LEVELS], kr[MARGIN__MAX_LEVELS];
    int rc;

    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if ((rc = margin__check_mark(e, m, mark)) != MARGIN_OK)
        return rc;
    if (rate <= -MARGIN__ONE || rate >= MARGIN__ONE)
        return margin__fail(e, MARGIN_EINVAL, "funding rate must be strictly between -1 and 1");
    if ((rc = margin__grow(e, &e->out, &e->out_cap, m->open_count ? m->open_count : 1,
                   OUT_SIZE)) != MARGIN_OK)
        return rc;
    fo = e->out;
    fund = e->insurance;
    /* pass 1: every payment, the state it leaves, and what the mark then does; nothing
     * changes (each account's ledger changes are staged to check their totals) */
    la = fund_ahead_start(e, m);
    for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext, n++) {
        margin__position t = MARGIN__POS(e, pi);
        margin__delta d;
        fund_ahead(e, &la);
        /* flow to the holder = -s*Q*mark*rate, rounded down (payments up, receipts down) */
        if ((rc = margin__funding_flow(m, t.side, t.qty, mark, rate, &fo[n].flow)) != MARGIN_OK)
            return funding_fail(e, m, MARGIN_EOVERFLOW, pi);
        fo[n].o.kind = OUT_NONE;
        fo[n].o.pi = pi; /* (every decision names its position: plan_adl looks them up) */
        fo[n].o.adl_n = 0;
        if (t.cross) {
            /* paid from (or to) the cross wallet; the book is evaluated below */
            memset(&d, 0, sizeof d);
            d.free = d.funding = fo[n].flow;
            if (margin__ledger_check(e, &MARGIN__POS(e, pi), 1, &d) != MARGIN_OK ||
                margin__ledger_stage(e, t.account, &d) != MARGIN_OK)
                return funding_fail(e, m, MARGIN_EOVERFLOW, pi);
            if ((rc = margin__cross_note(e, &nx, t.account)) != MARGIN_OK)
                return funding_fail(e, m, rc, pi);
            continue;
        }
        if (fo[n].flow < -t.margin)
            fo[n].flow = -t.margin; /* a position never pays more than its margin */
        if (__builtin_add_overflow(t.margin, fo[n].flow, &t.margin))
            return funding_fail(e, m, MARGIN_EOVERFLOW, pi);
        if ((rc = margin__position_envelope(e, m, &t)) != MARGIN_OK ||
            (rc = level_prices(e, m, &t, t.mc_fired, &t.liq, kp, kr)) != MARGIN_OK)
            return funding_fail(e, m, rc, pi);
        keys_from(&t, margin__stop_of(e, &t), margin__take_of(e, &t), t.mc_fired, kp, kr,
                  e->nlevels, &fo[n].down, &fo[n].up);
        fo[n].margin = t.margin;
        fo[n].liq = t.liq;
        memset(&d, 0, sizeof d);
        d.isolated = d.funding = fo[n].flow;
        if (margin__ledger_check(e, &MARGIN__POS(e, pi), 1, &d) != MARGIN_OK ||
            margin__ledger_stage(e, t.account, &d) != MARGIN_OK)
            return funding_fail(e, m, MARGIN_EOVERFLOW, pi);
        /* then the mark, on the state funding leaves: funding alone can liquidate. Only a
         * position whose new keys the mark crosses has anything happen (the full scan, the
         * reference, decides every one) */
        if ((e->full_scan || fo[n].down >= mark || fo[n].up <= mark) &&
            (rc = decide_at(e, m, pi, &t, mark, kp, kr, &fo[n].o)) != MARGIN_OK)
            return funding_fail(e, m, rc, pi);
        if (stage_outcome(e, &fo[n].o, &nev, &fund) != MARGIN_OK)
            return funding_fail(e, m, MARGIN_EOVERFLOW, pi);
        if (fo[n].o.kind != OUT_NONE && (rc = note_touched(e, &fo[n].o, &nx)) != MARGIN_OK)
            return funding_fail(e, m, rc, pi);
    }
    /* then the cross books, on the wallets the payments and the isolated outcomes leave:
     * funding can liquidate them in the same call */
    rc = margin__cross_decide(e, &nx, (uint32_t)(m - e->markets), mark, &nxout, &nev, &fund);
    if (rc == MARGIN_OK) /* then the deleveraging that bankrupt liquidations need */
        rc = plan_adl(e, m, mark, (char *)fo, sizeof *fo, n, nx, nxout, 1, &nev);
    if (rc == MARGIN_OK)
        rc = margin__ev_reserve(e, n + nev);
    if (rc != MARGIN_OK) {
        margin__cross_unstage(e, nx);
        margin__adl_unstage(e);
        e->nadlx = 0;
        return funding_fail(e, m, rc, m->head);
    }
    margin__cross_unstage(e, nx);
    margin__adl_unstage(e);
    /* pass 2: apply the payments, each with its event, in position-id order; each
     * position's account is unstaged as its payment is applied (nothing here reads a
     * staged total, and pass 3 runs once every account of the market is unstaged) */
    m->mark = mark;
    la = fund_ahead_start(e, m);
    for (pi = m->head, i = 0; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext, i++) {
        margin__position *p = &MARGIN__POS(e, pi);
        margin__delta d;
        margin__event *ev;
        fund_ahead(e, &la);
        margin__ledger_unstage(e, p->account);
        memset(&d, 0, sizeof d);
        if (p->cross)
            d.free = d.funding = fo[i].flow;
        else
            d.isolated = d.funding = fo[i].flow;
        margin__ledger_apply(e, p->account, p->market, &d);
        p->funding += fo[i].flow;
        if (!p->cross) {
            p->margin = fo[i].margin;
            p->liq = fo[i].liq;
            margin__index_set(e, m, pi, fo[i].down, fo[i].up);
        }
        ev = margin__ev_position(e, MARGIN_EV_FUNDING, pi);
        ev->f[MARGIN_EVF_PRICE] = mark;
        ev->f[MARGIN_EVF_AMOUNT] = fo[i].flow;
        margin__ev_commit(e, ev);
    }
    /* pass 3: the triggers, in position-id order (a close unlinks its position, so walk
     * the decisions by index, not the list) */
    for (i = 0; i < n; i++)
        if (fo[i].o.kind != OUT_NONE)
            apply(e, m, &fo[i].o, mark);
    margin__cross_apply(e, nx, nxout);
    margin__retire(e);
    return MARGIN_OK;
}
