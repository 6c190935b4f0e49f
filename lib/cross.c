/* Cross margin: an account's cross book (its cross positions, backed by its free balance,
 * the cross wallet), its figures, its trigger bands, and what a mark or a funding round
 * does to it. The formulas of a book's legs are in formula.c.
 *
 * Detection without a scan. A cross book's state can change (liquidation, a margin-call
 * level firing or re-arming) only when h = level*balance - MM crosses zero for one of at
 * most three levels: 1 (liquidation), the lowest level not fired, and the highest
 * level - band among the fired ones (re-arm). Each h's distance from zero, less what
 * rounding can take, is split between the markets of the book in proportion to a damped
 * value of their legs (damp()); each market turns its share into a price band around its mark (the legs'
 * PnL and maintenance slopes are bounded, margin__cross_band) and the band's edges become
 * the trigger keys of the account's positions in that market, in the same heaps as the
 * isolated keys. While every mark stays inside its band, no h can cross zero; a mark
 * outside re-evaluates the account exactly and re-splits. The full-scan path evaluates
 * every cross account holding the market instead; both produce the same events. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define ONE MARGIN__ONE

typedef struct {
    margin__i128 upnl, mm, im, bal;
    int nlegs;
} book;

/* ------------------------------------------------------------------ modes */

int margin__is_cross(const margin__account *a, uint32_t mi)
{
    uint32_t lo = 0, hi;
    if (mi < 64)
        return (int)((a->cross_lo >> mi) & 1u);
    hi = a->ncross_hi;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a->cross_hi[mid] == mi)
            return 1;
        if (a->cross_hi[mid] < mi)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int set_cross(margin_engine *e, margin__account *a, uint32_t mi, int cross)
{
    uint32_t i, j;
    if (mi < 64) {
        if (cross)
            a->cross_lo |= (uint64_t)1 << mi;
        else
            a->cross_lo &= ~((uint64_t)1 << mi);
        return MARGIN_OK;
    }
    if (margin__is_cross(a, mi) == cross)
        return MARGIN_OK;
    for (i = 0; i < a->ncross_hi && a->cross_hi[i] < mi; i++)
        ;
    if (!cross) {
        memmove(&a->cross_hi[i], &a->cross_hi[i + 1],
                (a->ncross_hi - i - 1) * sizeof a->cross_hi[0]);
        a->ncross_hi--;
        return MARGIN_OK;
    }
    if (a->ncross_hi == a->capcross_hi) {
        uint32_t cap = a->capcross_hi ? a->capcross_hi * 2 : 4;
        uint32_t *n = margin__realloc(e, a->cross_hi, (size_t)cap * sizeof *n);
        if (n == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        a->cross_hi = n;
        a->capcross_hi = cap;
    }
    for (j = a->ncross_hi; j > i; j--)
        a->cross_hi[j] = a->cross_hi[j - 1];
    a->cross_hi[i] = mi;
    a->ncross_hi++;
    return MARGIN_OK;
}

int margin_account_set_mode(margin_engine *e, uint64_t account, uint64_t market, int32_t mode)
{
    margin__account *a = NULL;
    margin__market *m = NULL;
    uint32_t pi;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK ||
        (rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (mode != MARGIN_MODE_ISOLATED && mode != MARGIN_MODE_CROSS)
        return margin__fail(e, MARGIN_EINVAL,
                            "unknown mode %d: use MARGIN_MODE_ISOLATED or MARGIN_MODE_CROSS",
                            (int)mode);
    if (margin__is_cross(a, (uint32_t)(market - 1)) == (mode == MARGIN_MODE_CROSS))
        return MARGIN_OK;
    for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext)
        if (MARGIN__POS(e, pi).market == market - 1)
            return margin__fail(e, MARGIN_ESTATE,
                                "account %llu has open position %u in market %s: close it "
                                "before switching the margin mode",
                                (unsigned long long)account, pi + 1, m->symbol);
    return set_cross(e, a, (uint32_t)(market - 1), mode == MARGIN_MODE_CROSS);
}

int margin_account_mode(const margin_engine *e, uint64_t account, uint64_t market,
                        int32_t *out_mode)
{
    margin__account *a = NULL;
    margin__market *m = NULL;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_mode == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out_mode is NULL");
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK ||
        (rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    *out_mode = margin__is_cross(a, (uint32_t)(market - 1)) ? MARGIN_MODE_CROSS
                                                            : MARGIN_MODE_ISOLATED;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ figures */

/* The price a cross position is valued at: market mi at mark (mi == MARGIN__NONE: none),
 * every other market at its last mark, the entry when it has none. */
static int64_t leg_price(const margin_engine *e, const margin__position *p, uint32_t mi,
                         int64_t mark)
{
    const margin__market *m = &e->markets[p->market];
    if (p->market == mi)
        return mark;
    return m->mark ? m->mark : p->entry;
}

static margin__leg leg_of(const margin__position *p)
{
    margin__leg l;
    l.qty = p->qty;
    l.entry = p->entry;
    l.side = p->side;
    return l;
}

/* One position's PnL (rounded down) and maintenance margin (rounded up) at price. */
static int leg_figs(const margin_engine *e, const margin__position *p, int64_t price,
                    int64_t *pnl, int64_t *mm)
{
    const margin__market *m = &e->markets[p->market];
    margin__leg l = leg_of(p);
    int rc = margin__pnl(m, p->side, p->qty, p->entry, price, pnl);
    if (rc != MARGIN_OK)
        return rc;
    return margin__cross_mm(m, &l, price, mm);
}

/* The figures of account ai's cross book with market mi at mark, on wallet wb; `alt`, when
 * not NULL, stands in for position alt_pi (a candidate state; qty 0: gone), or is an extra
 * position when alt_pi is MARGIN__NONE. */
static int book_at(const margin_engine *e, uint32_t ai, uint32_t mi, int64_t mark,
                   margin__i128 wb, const margin__position *alt, uint32_t alt_pi, book *b)
{
    const margin__account *a = &e->accounts[ai];
    uint32_t pi = a->head;
    int rc, extra = alt != NULL && alt_pi == MARGIN__NONE;
    memset(b, 0, sizeof *b);
    for (;;) {
        const margin__position *p;
        int64_t pnl, mm, im;
        if (pi != MARGIN__NONE) {
            p = pi == alt_pi && alt != NULL ? alt : &MARGIN__POS(e, pi);
            pi = MARGIN__POS(e, pi).anext;
        } else if (extra) {
            p = alt;
            extra = 0;
        } else {
            break;
        }
        if (!p->cross || p->qty == 0)
            continue;
        if ((rc = leg_figs(e, p, leg_price(e, p, mi, mark), &pnl, &mm)) != MARGIN_OK ||
            (rc = margin__initial_margin(&e->markets[p->market], p->qty, p->entry, p->leverage,
                                         &im)) != MARGIN_OK)
            return rc;
        b->upnl += pnl; /* each term < 2^63, and there are fewer than 2^32 of them */
        b->mm += mm;
        b->im += im;
        b->nlegs++;
    }
    b->bal = wb + b->upnl;
    return MARGIN_OK;
}

/* h = level*balance - 1*MM at scale 16 (fits: |balance|, MM < 2^96, level < 2^27) */
static margin__i128 hval(const book *b, int64_t level)
{
    return b->bal * level - b->mm * ONE;
}

/* MM / balance, rate scale, rounded up; INT64_MAX when the balance is <= 0 or it does
 * not fit; 0 with no cross position. */
static int64_t ratio_of(const book *b)
{
    margin__i128 r;
    if (b->nlegs == 0)
        return 0;
    if (b->bal <= 0 || margin__div128(b->mm * ONE, b->bal, MARGIN_ROUND_CEIL, &r) != MARGIN_OK ||
        r > INT64_MAX)
        return INT64_MAX;
    return (int64_t)r;
}

/* What can still leave the wallet: see MARGIN_ACCT_AVAILABLE (before the max with 0). */
static margin__i128 raw_available(const book *b, margin__i128 wb)
{
    margin__i128 x, y;
    if (b->nlegs == 0)
        return wb;
    x = wb + (b->upnl < 0 ? b->upnl : 0) - b->im;
    y = b->bal - b->mm - 1;
    return x < y ? x : y;
}

static int cross_available(const margin_engine *e, uint32_t ai, margin__i128 *out)
{
    book b;
    int rc = book_at(e, ai, MARGIN__NONE, 0, e->accounts[ai].free, NULL, MARGIN__NONE, &b);
    if (rc != MARGIN_OK)
        return rc;
    *out = raw_available(&b, e->accounts[ai].free);
    return MARGIN_OK;
}

int margin__cross_allows(const margin_engine *e, uint32_t ai, margin__i128 take)
{
    margin__i128 av;
    char b1[48], b2[48];
    int rc;
    if (take <= 0 || e->accounts[ai].ncross == 0)
        return MARGIN_OK;
    if ((rc = cross_available(e, ai, &av)) != MARGIN_OK)
        return margin__fail(e, rc, "the cross book's figures overflow");
    if (take <= av)
        return MARGIN_OK;
    return margin__fail(e, MARGIN_EFUNDS,
                        "%s exceeds the available balance %s: the cross positions keep their "
                        "initial margin, and the cross book must stay above its maintenance "
                        "margin",
                        margin__fmt(b1, sizeof b1, take > INT64_MAX ? INT64_MAX : (int64_t)take,
                                    MARGIN_MONEY_SCALE),
                        margin__fmt(b2, sizeof b2,
                                    av < 0 ? 0 : (av > INT64_MAX ? INT64_MAX : (int64_t)av),
                                    MARGIN_MONEY_SCALE));
}

int margin__cross_account_get(const margin_engine *e, uint32_t ai, int32_t key, int64_t *out)
{
    const margin__account *a = &e->accounts[ai];
    book b;
    margin__i128 v;
    int rc;
    if (key == MARGIN_ACCT_CROSS_WALLET) {
        *out = a->free;
        return MARGIN_OK;
    }
    if (key == MARGIN_ACCT_CROSS_POSITIONS) {
        *out = a->ncross;
        return MARGIN_OK;
    }
    if ((rc = book_at(e, ai, MARGIN__NONE, 0, a->free, NULL, MARGIN__NONE, &b)) != MARGIN_OK)
        return margin__fail(e, rc, "the cross book's figures overflow");
    switch (key) {
    case MARGIN_ACCT_CROSS_UNREALIZED_PNL:
        v = b.upnl;
        break;
    case MARGIN_ACCT_CROSS_MARGIN_BALANCE:
        v = b.bal;
        break;
    case MARGIN_ACCT_CROSS_MAINT_MARGIN:
        v = b.mm;
        break;
    case MARGIN_ACCT_CROSS_INITIAL_MARGIN:
        v = b.im;
        break;
    case MARGIN_ACCT_MARGIN_RATIO:
        v = ratio_of(&b);
        break;
    default: /* MARGIN_ACCT_AVAILABLE */
        v = raw_available(&b, a->free);
        if (v < 0)
            v = 0;
        break;
    }
    if (margin__narrow(v, out) != MARGIN_OK)
        return margin__fail(e, MARGIN_EOVERFLOW, "the account figure does not fit in 64 bits");
    return MARGIN_OK;
}

/* The legs of account ai in market mi and the money outside them: k = wallet + the other
 * markets' uPnL, mmo = their maintenance margin (market omi valued at omark, the others at
 * their last marks). */
static int market_legs(const margin_engine *e, uint32_t ai, uint32_t mi, margin__i128 wb,
                       uint32_t omi, int64_t omark, margin__leg *legs, int *n, margin__i128 *k,
                       margin__i128 *mmo)
{
    uint32_t pi;
    int rc;
    *n = 0;
    *k = wb;
    *mmo = 0;
    for (pi = e->accounts[ai].head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
        const margin__position *p = &MARGIN__POS(e, pi);
        int64_t pnl, mm;
        if (!p->cross)
            continue;
        if (p->market == mi) {
            if (*n == MARGIN__MAX_LEGS)
                return MARGIN_EOVERFLOW; /* refused at open: cannot happen */
            legs[(*n)++] = leg_of(p);
            continue;
        }
        if ((rc = leg_figs(e, p, leg_price(e, p, omi, omark), &pnl, &mm)) != MARGIN_OK)
            return rc;
        *k += pnl;
        *mmo += mm;
    }
    return MARGIN_OK;
}

/* Cross liquidation (level 1), bankruptcy (no MM) or margin-call price of position p's
 * market for its account, market omi at omark (MARGIN__NONE: every market at its last
 * mark): searched from the market's mark (the entry without one), down when the market's
 * legs are net long, up otherwise. */
static int cross_price_at(const margin_engine *e, const margin__position *p, uint32_t omi,
                          int64_t omark, int64_t level, int with_mm, int64_t *out)
{
    const margin__market *m = &e->markets[p->market];
    margin__leg legs[MARGIN__MAX_LEGS];
    margin__i128 k, mmo, net = 0;
    int n, i, rc;
    if ((rc = market_legs(e, p->account, p->market, e->accounts[p->account].free, omi, omark,
                          legs, &n, &k, &mmo)) != MARGIN_OK)
        return rc;
    for (i = 0; i < n; i++)
        net += legs[i].side * (margin__i128)legs[i].qty;
    if ((rc = margin__cross_solve(m, legs, n, k, mmo, level, with_mm,
                                  m->mark ? m->mark : p->entry, net > 0 ? -1 : 1, out)) !=
            MARGIN_OK ||
        with_mm != 2)
        return rc;
    /* with_mm 2: out[0] the liquidation price, out[1] the bankruptcy price, from the same
     * legs */
    return margin__cross_solve(m, legs, n, k, mmo, level, 0, m->mark ? m->mark : p->entry,
                               net > 0 ? -1 : 1, &out[1]);
}

static int cross_price(const margin_engine *e, const margin__position *p, int64_t level,
                       int with_mm, int64_t *out)
{
    return cross_price_at(e, p, MARGIN__NONE, 0, level, with_mm, out);
}

int64_t margin__cross_liq(const margin_engine *e, const margin__position *p)
{
    int64_t v = 0;
    if (cross_price(e, p, ONE, 1, &v) != MARGIN_OK)
        return 0;
    return v;
}

int margin__cross_at(const margin_engine *e, const margin__position *p, int32_t key,
                     int64_t mark, int64_t *out)
{
    const margin__market *m = &e->markets[p->market];
    margin__leg l = leg_of(p);
    book b;
    int rc;
    switch (key) {
    case MARGIN_AT_MAINT_MARGIN:
        return margin__cross_mm(m, &l, mark, out);
    case MARGIN_AT_MARGIN_BALANCE:
    case MARGIN_AT_MARGIN_RATIO:
        if ((rc = book_at(e, p->account, p->market, mark, e->accounts[p->account].free, NULL,
                          MARGIN__NONE, &b)) != MARGIN_OK)
            return rc;
        if (key == MARGIN_AT_MARGIN_RATIO) {
            *out = ratio_of(&b);
            return MARGIN_OK;
        }
        return margin__narrow(b.bal, out);
    case MARGIN_AT_LIQ_PRICE:
        return cross_price(e, p, ONE, 1, out);
    case MARGIN_AT_BANKRUPTCY_PRICE:
        return cross_price(e, p, ONE, 0, out);
    case MARGIN_AT_MARGIN_CALL_PRICE:
        *out = 0;
        return e->nlevels == 0 ? MARGIN_OK : cross_price(e, p, e->levels[0], 1, out);
    case MARGIN_AT_REMOVABLE_MARGIN:
        *out = 0;
        return MARGIN_OK;
    default:
        return MARGIN_ENOTSUP; /* the position's own figure: the caller computes it */
    }
}

/* ------------------------------------------------------------------ bands */

/* The conditions of a book whose state is settled (no level due to fire or re-arm, not
 * liquidatable): *nc of them, or -1 when the book must be re-evaluated at any mark. */
static int book_conds(const margin_engine *e, const book *b, uint8_t fired, margin__cond *c)
{
    int nc = 0;
    uint32_t i;
    int64_t rearm = 0;
    /* what rounding can take from h: under one unit of PnL (times the level) and two of
     * MM (the entry basis rounds two terms) per leg */
    margin__i128 errk = b->nlegs;
    margin__i128 h = hval(b, ONE), budget;
    if (h <= 0)
        return -1;
    budget = h - errk * (ONE + 2 * ONE) - 1;
    if (budget < 0)
        return -1;
    c[nc].level = ONE;
    c[nc].rise = 0;
    c[nc++].budget = budget;
    for (i = 0; i < e->nlevels; i++) {
        if (fired & (1u << i))
            continue;
        h = hval(b, e->levels[i]);
        budget = h - errk * (e->levels[i] + 2 * ONE) - 1;
        if (h <= 0 || budget < 0)
            return -1;
        c[nc].level = e->levels[i];
        c[nc].rise = 0;
        c[nc++].budget = budget;
        break; /* the lowest level not fired comes first */
    }
    for (i = 0; i < e->nlevels; i++) {
        int64_t mu = e->band == 0 ? e->levels[i] : e->levels[i] - e->band;
        if ((fired & (1u << i)) && mu > rearm)
            rearm = mu;
    }
    if (rearm > 0) {
        h = hval(b, rearm);
        budget = -h - errk * (rearm + 2 * ONE);
        if (h > 0 || budget < 0)
            return -1;
        c[nc].level = rearm;
        c[nc].rise = 1;
        c[nc++].budget = budget;
    }
    return nc;
}

/* Stop-loss and take-profit keys of a position merged into band keys. */
static void merge_stops(const margin_engine *e, const margin__position *p, int64_t *d,
                        int64_t *u)
{
    margin__merge_stops(p->side, margin__stop_of(e, p), margin__take_of(e, p), d, u);
}

/* The markets of a book, each with its weight in the split of the budgets: the value of
 * its legs at its mark (the entry without one), money, then damped (damp()). */
#define REKEY_MARKETS 32
typedef struct {
    uint32_t mi;
    margin__i128 w;
} mkshare;

/* The weight of a market whose legs are worth x > 0: about x^(DAMP_NUM/DAMP_DEN), never 0,
 * and never less for a larger x. Budget shares in proportion to the values themselves
 * give every market the same relative move, so a small leg beside a large one re-splits
 * its book on moves that can hardly change it; a power below 1 widens the small legs'
 * bands at little cost to the large ones (on the benchmarks, 7/8 cuts the evaluations of
 * a liquidating update by a quarter and those of the candles' replay by a tenth). Any
 * positive weights keep the bands safe (their shares sum to at most the budget), so this
 * is only an integer approximation: 2^(p*log2 x) with log2 and 2^ linear between powers
 * of two (a few per cent off), exact and the same on every platform. */
#define DAMP_NUM 7
#define DAMP_DEN 8
static margin__i128 damp(margin__i128 x)
{
    uint64_t hi = (uint64_t)((margin__u128)x >> 64), f, l, y;
    int b; /* the top bit of x */
    if (x <= 0)
        return 1;
    b = hi != 0 ? 127 - __builtin_clzll(hi) : 63 - __builtin_clzll((uint64_t)x);
    /* log2 x at scale 2^16: b, and the 16 bits after the top one as the fraction */
    f = b >= 16 ? (uint64_t)(x >> (b - 16)) & 0xFFFF : ((uint64_t)x << (16 - b)) & 0xFFFF;
    l = ((uint64_t)b << 16) | f;
    y = l * DAMP_NUM / DAMP_DEN;
    /* 2^(y / 2^16) = 2^int * (1 + frac), at most 2^(127 * 7/8 + 1): fits */
    return ((((margin__i128)1 << 16) + (margin__i128)(y & 0xFFFF)) << (y >> 16) >> 16) + 1;
}

/* Recompute the trigger keys of every cross position of account ai, given its book's
 * figures when the caller has them (known) or from its current state. Each market takes
 * a share of every budget in proportion to its legs' damped value (damp(); an equal
 * share when the book spans more than REKEY_MARKETS markets). Never fails: when a figure does not fit, the keys fire at any mark. */
static void rekey_with(margin_engine *e, uint32_t ai, const book *known)
{
    const margin__account *a = &e->accounts[ai];
    margin__cond c[3], share[3];
    mkshare mk[REKEY_MARKETS];
    margin__i128 wsum = 0;
    book b;
    int nc = -1, nmk = 0, equal = 0, i, k;
    uint32_t pi, qi;
    if (a->ncross == 0)
        return;
    if (known != NULL)
        b = *known;
    if (known != NULL || book_at(e, ai, MARGIN__NONE, 0, a->free, NULL, MARGIN__NONE, &b) ==
                             MARGIN_OK)
        nc = book_conds(e, &b, a->mc_fired, c);
    for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
        const margin__position *p = &MARGIN__POS(e, pi);
        const margin__market *m = &e->markets[p->market];
        margin__i128 v;
        if (!p->cross)
            continue;
        for (k = 0; k < nmk && mk[k].mi != p->market; k++)
            ;
        if (k == nmk) {
            if (nmk == REKEY_MARKETS) {
                equal = 1;
                continue;
            }
            mk[nmk].mi = p->market;
            mk[nmk++].w = 0;
        }
        if (m->contract == MARGIN_CONTRACT_INVERSE) {
            int64_t iv; /* the value N/P in the coin */
            if (margin__notional(m, p->qty, m->mark ? m->mark : p->entry, MARGIN_ROUND_CEIL,
                                 &iv) != MARGIN_OK)
                equal = 1;
            else
                mk[k].w += iv;
        } else if (margin__rescale128((margin__i128)p->qty * (m->mark ? m->mark : p->entry),
                                      m->ns, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL,
                                      &v) != MARGIN_OK)
            equal = 1;
        else
            mk[k].w += v; /* each < 2^119 (Q*P < 2^126), at most 16 legs per market */
    }
    for (k = 0; k < nmk && !equal; k++) {
        mk[k].w = damp(mk[k].w);
        if (__builtin_add_overflow(wsum, mk[k].w, &wsum))
            equal = 1;
    }
    if (wsum <= 0)
        equal = 1;
    if (equal) { /* the markets, counted without a limit */
        nmk = 0;
        for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
            int seen = 0;
            if (!MARGIN__POS(e, pi).cross)
                continue;
            for (qi = a->head; qi != pi && !seen; qi = MARGIN__POS(e, qi).anext)
                seen = MARGIN__POS(e, qi).cross &&
                       MARGIN__POS(e, qi).market == MARGIN__POS(e, pi).market;
            nmk += !seen;
        }
    }
    /* each market once: its band from its legs, then every leg's keys */
    for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
        const margin__position *p = &MARGIN__POS(e, pi);
        margin__market *m = &e->markets[p->market];
        int64_t d = INT64_MAX, u = INT64_MAX; /* fire at any mark */
        int seen = 0;
        if (!p->cross)
            continue;
        for (qi = a->head; qi != pi && !seen; qi = MARGIN__POS(e, qi).anext)
            seen = MARGIN__POS(e, qi).cross && MARGIN__POS(e, qi).market == p->market;
        if (seen)
            continue; /* done with its market */
        if (nc >= 0 && m->mark != 0) {
            margin__leg legs[MARGIN__MAX_LEGS];
            int n = 0;
            for (k = 0; !equal && mk[k].mi != p->market; k++)
                ;
            for (i = 0; i < nc; i++) {
                share[i] = c[i];
                if (equal) {
                    share[i].budget = c[i].budget / nmk;
                } else {
                    /* budget * w / wsum, without overflow: wsum < 2^127 */
                    margin__i128 q = c[i].budget / wsum, r = c[i].budget % wsum, t;
                    if (__builtin_mul_overflow(q, mk[k].w, &q) ||
                        __builtin_mul_overflow(r, mk[k].w, &t))
                        share[i].budget = c[i].budget / (nmk > 0 ? nmk : 1);
                    else
                        share[i].budget = q + t / wsum;
                }
            }
            for (qi = pi; qi != MARGIN__NONE; qi = MARGIN__POS(e, qi).anext)
                if (MARGIN__POS(e, qi).cross && MARGIN__POS(e, qi).market == p->market &&
                    n < MARGIN__MAX_LEGS)
                    legs[n++] = leg_of(&MARGIN__POS(e, qi));
            margin__cross_band(m, legs, n, m->mark, share, nc, &d, &u);
        }
        for (qi = pi; qi != MARGIN__NONE; qi = MARGIN__POS(e, qi).anext) {
            margin__position *q = &MARGIN__POS(e, qi);
            int64_t dq = d, uq = u;
            if (!q->cross || q->market != p->market)
                continue;
            merge_stops(e, q, &dq, &uq);
            margin__index_set(e, m, qi, dq, uq);
        }
    }
}

void margin__cross_rekey(margin_engine *e, uint32_t ai)
{
    rekey_with(e, ai, NULL);
}

/* ------------------------------------------------------------------ evaluation */

/* A close decided for a cross position (evaluation, or a candidate list). */
typedef struct {
    uint32_t pi;
    int32_t type; /* MARGIN_EV_LIQUIDATION, _STOP_LOSS, _TAKE_PROFIT */
    int64_t price, pnl, mm, fee, liq, bp;
    int64_t qty;        /* the quantity closed: the leg's, or less (a partial liquidation) */
    int32_t fill;       /* MARGIN_FILL_* of a triggered close */
    int64_t rpnl, rmm;  /* a partially liquidated leg: what stays open, its PnL and MM */
} xclose;

/* What a mark or a funding round does to one cross account. */
typedef struct {
    uint32_t ai;
    uint32_t first, n; /* its closes: e->xcl[first .. first + n) */
    uint32_t nlegs;    /* its cross legs: the closes, then the legs left open (for the
                        * prefetches of margin__cross_apply) */
    int liq;           /* the book was liquidated: once, or twice (see liq_ratio) */
    uint8_t mask, newly;
    int64_t ratio;        /* after the closes (margin calls) */
    int64_t liq_ratio[2]; /* that triggered the liquidation (and a second one, after
                           * stop fees left the rest liquidatable) */
    int64_t deficit, mark;
    uint32_t market;
    int active; /* something happens (else only the bands are re-split) */
    size_t adl_first, adl_n; /* a deficit's deleveraging: e->adlx[first ..] (insurance.c) */
    int64_t adl_covered;
    book b;     /* the book decided on (its figures after the batch when n == 0) */
} xout;

int margin__cross_note(margin_engine *e, size_t *n, uint32_t ai)
{
    int rc = margin__grow(e, (void **)&e->xacc, &e->xacc_cap, *n + 1, sizeof *e->xacc);
    if (rc != MARGIN_OK)
        return rc;
    e->xacc[(*n)++] = ai;
    return MARGIN_OK;
}


/* Sum of the PnL and MM of what is open: the legs cl[from .. to) and what partial
 * liquidations left of the closes before them. */
static void open_sums(const xclose *cl, size_t from, size_t to, margin__i128 *pnl,
                      margin__i128 *mm)
{
    size_t i;
    *pnl = *mm = 0;
    for (i = 0; i < from; i++) {
        *pnl += cl[i].rpnl;
        *mm += cl[i].rmm;
    }
    for (i = from; i < to; i++) {
        *pnl += cl[i].pnl;
        *mm += cl[i].mm;
    }
}

static void swap_cl(xclose *cl, size_t i, size_t j)
{
    xclose t = cl[i];
    cl[i] = cl[j];
    cl[j] = t;
}

/* Selling q of the leg cl[c] at the mark, the book's other legs cl[c+1 .. L) and the
 * remainders before c staying open, wallet wb: the part's PnL (x->pnl), its clearance fee
 * (x->fee: never more than the margin balance left), what stays of the leg (x->rpnl,
 * x->rmm, x->qty = q) and the book's health after it, h = balance - MM. */
typedef struct {
    const margin_engine *e;
    const xclose *cl;
    size_t c, L;
    margin__i128 wb;
} part_ctx;

static int part_figs(const part_ctx *x, int64_t q, xclose *out, margin__i128 *h)
{
    const xclose *leg = &x->cl[x->c];
    const margin__position *p = &MARGIN__POS(x->e, leg->pi);
    const margin__market *m = &x->e->markets[p->market];
    margin__i128 opnl, omm, bal;
    int64_t fee;
    int rc;
    open_sums(x->cl, x->c + 1, x->L, &opnl, &omm); /* (before out, which may be the leg) */
    *out = *leg;
    out->qty = q;
    out->rpnl = out->rmm = 0;
    if ((rc = margin__pnl(m, p->side, q, p->entry, out->price, &out->pnl)) != MARGIN_OK ||
        (rc = margin__liq_fee(m, q, out->price, out->price, &fee)) != MARGIN_OK)
        return rc;
    if (q < p->qty) {
        margin__position r = *p;
        r.qty = p->qty - q;
        if ((rc = leg_figs(x->e, &r, out->price, &out->rpnl, &out->rmm)) != MARGIN_OK)
            return rc;
    }
    bal = x->wb + out->pnl + out->rpnl + opnl;
    if (fee > bal)
        fee = bal > 0 ? (int64_t)bal : 0; /* never takes the margin balance below zero */
    out->fee = fee;
    *h = bal - fee - out->rmm - omm;
    return MARGIN_OK;
}

static int part_ok(const void *ctx, int64_t q)
{
    xclose t;
    margin__i128 h;
    return part_figs(ctx, q, &t, &h) == MARGIN_OK && h > 0;
}

/* Liquidate the open legs cl[*c .. L) in the engine's cross policy's order, wallet *wb:
 * each leg by its market's policy (MARGIN_MKT_LIQ_POLICY), at the mark, with its clearance
 * fee (MARGIN_MKT_LIQ_FEE, never taking the margin balance below zero). A partial step
 * ends the liquidation: the policies size it to restore the book (min-reduce, tier-down),
 * or to be one slice per trigger (slices). */
static int liquidate(const margin_engine *e, xclose *cl, size_t *c, size_t L,
                     margin__i128 *wb)
{
    margin__i128 pnl, mm, h;
    int rc;
    while (*c < L) {
        size_t j = *c, i;
        const margin__position *p;
        const margin__market *m;
        part_ctx x;
        int64_t q = 0;
        if (e->cross_policy == MARGIN_CROSS_LIQ_WORST_FIRST) {
            open_sums(cl, *c, L, &pnl, &mm);
            if (*wb + pnl > mm)
                break; /* healthy again (never on entry: the book is liquidatable) */
            for (i = *c + 1; i < L; i++)
                if (cl[i].pnl < cl[j].pnl || (cl[i].pnl == cl[j].pnl && cl[i].pi < cl[j].pi))
                    j = i;
        }
        swap_cl(cl, *c, j);
        p = &MARGIN__POS(e, cl[*c].pi);
        m = &e->markets[p->market];
        if (m->liq_policy == MARGIN_LIQ_POLICY_FULL && m->liq_fee == 0) {
            /* in full without a fee (the defaults): the leg's figures as decided */
            cl[*c].type = MARGIN_EV_LIQUIDATION;
            *wb += cl[*c].pnl;
            (*c)++;
            continue;
        }
        x.e = e;
        x.cl = cl;
        x.c = *c;
        x.L = L;
        x.wb = *wb;
        if (m->liq_policy == MARGIN_LIQ_POLICY_MIN_REDUCE)
            q = margin__liq_min_search(m, p, part_ok, &x);
        else if (m->liq_policy == MARGIN_LIQ_POLICY_TIER_DOWN)
            q = margin__liq_tier_down(m, p, cl[*c].price, part_ok, &x);
        else if (m->liq_policy == MARGIN_LIQ_POLICY_SLICES) {
            open_sums(cl, *c, L, &pnl, &mm);
            q = margin__liq_slice(e, m, p, cl[*c].price, *wb + pnl, mm);
        }
        if ((rc = part_figs(&x, q > 0 ? q : p->qty, &cl[*c], &h)) != MARGIN_OK)
            return rc;
        cl[*c].type = MARGIN_EV_LIQUIDATION;
        *wb += cl[*c].pnl - cl[*c].fee;
        (*c)++;
        if (q > 0)
            break;
    }
    /* (all at once: the legs left are still in id order, the order the closes keep) */
    return MARGIN_OK;
}

/* How many legs stay open after the closes cl[0 .. c) of L legs: those not closed, and
 * those partially liquidated. */
static int legs_left(const margin_engine *e, const xclose *cl, size_t c, size_t L)
{
    size_t i;
    int n = (int)(L - c);
    for (i = 0; i < c; i++)
        n += cl[i].qty < MARGIN__POS(e, cl[i].pi).qty;
    return n;
}

/* Decide what market mi at mark does to cross account ai, whose wallet is wb (the free
 * balance plus what the batch has staged on it); appends its closes to e->xcl at *ncl.
 * No side effects on the books. */
static int decide(margin_engine *e, uint32_t ai, uint32_t mi, int64_t mark, margin__i128 wb,
                  size_t *ncl, xout *o)
{
    const margin__account *a = &e->accounts[ai];
    xclose *cl;
    size_t base = *ncl, L = 0, c = 0, i;
    margin__i128 pnl, mm;
    book b;
    uint32_t pi, lv;
    int rc;

    memset(o, 0, sizeof *o);
    o->ai = ai;
    o->mark = mark;
    o->market = mi;
    o->mask = a->mc_fired;
    if ((rc = margin__grow(e, &e->xcl, &e->xcl_cap, base + a->ncross, sizeof(xclose))) != MARGIN_OK)
        return rc;
    cl = (xclose *)e->xcl + base;
    for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
        const margin__position *p = &MARGIN__POS(e, pi);
        if (!p->cross)
            continue;
        cl[L].pi = pi;
        cl[L].type = 0;
        cl[L].fee = 0;
        cl[L].qty = p->qty;
        cl[L].fill = MARGIN_FILL_MARK;
        cl[L].rpnl = cl[L].rmm = 0;
        cl[L].price = leg_price(e, p, mi, mark);
        if ((rc = leg_figs(e, p, cl[L].price, &cl[L].pnl, &cl[L].mm)) != MARGIN_OK)
            return rc;
        L++;
    }
    if (L == 0)
        return MARGIN_OK;
    open_sums(cl, 0, L, &pnl, &mm);
    b.bal = wb + pnl;
    b.mm = mm;
    b.nlegs = (int)L;
    if (b.bal <= b.mm) {
        o->liq = 1;
        o->liq_ratio[0] = ratio_of(&b);
        if ((rc = liquidate(e, cl, &c, L, &wb)) != MARGIN_OK)
            return rc;
    }
    if (c < L) {
        /* stops and take-profits of the legs left in market mi, in id order; a fee never
         * takes the cross margin balance below zero */
        size_t c0 = c;
        margin__i128 bal;
        open_sums(cl, c, L, &pnl, &mm);
        bal = wb + pnl;
        for (i = c; i < L; i++) {
            const margin__position *p = &MARGIN__POS(e, cl[i].pi);
            int32_t type = 0;
            int64_t fee, stop, take;
            if (p->market != mi)
                continue;
            stop = margin__stop_of(e, p);
            take = margin__take_of(e, p);
            if (stop > 0 && (p->side > 0 ? mark <= stop : mark >= stop))
                type = MARGIN_EV_STOP_LOSS;
            else if (take > 0 && (p->side > 0 ? mark >= take : mark <= take))
                type = MARGIN_EV_TAKE_PROFIT;
            if (type == 0)
                continue;
            cl[i].fill = MARGIN_FILL_MARK;
            {
                /* MARGIN_STOP_FILL_TRIGGER: a continuous move from the market's last mark
                 * fills at the trigger (as for an isolated position, trigger.c) */
                const margin__market *mm_ = &e->markets[mi];
                int64_t trig = type == MARGIN_EV_STOP_LOSS ? stop : take, np;
                int64_t last = mm_->mark;
                if (mm_->stop_fill == MARGIN_STOP_FILL_TRIGGER && last > 0 && !e->jump &&
                    (((type == MARGIN_EV_STOP_LOSS) == (p->side > 0)) ? last > trig
                                                                      : last < trig)) {
                    if ((rc = margin__pnl(mm_, p->side, p->qty, p->entry, trig, &np)) !=
                        MARGIN_OK)
                        return rc;
                    bal += (margin__i128)np - cl[i].pnl;
                    cl[i].pnl = np;
                    cl[i].price = trig;
                    cl[i].fill = MARGIN_FILL_TRIGGER;
                }
            }
            if ((rc = margin__fee_of(&e->markets[mi], p->qty, cl[i].price, e->markets[mi].taker,
                                     &fee)) != MARGIN_OK)
                return rc;
            if (fee > bal)
                fee = bal > 0 ? (int64_t)bal : 0;
            bal -= fee;
            cl[i].type = type;
            cl[i].fee = fee;
            wb += cl[i].pnl - fee;
            /* keep the closes first, in id order */
            {
                xclose t = cl[i];
                memmove(&cl[c + 1], &cl[c], (i - c) * sizeof *cl);
                cl[c++] = t;
            }
        }
        if (c > c0 && c < L) {
            /* the fees may have left the rest at or below its maintenance margin */
            open_sums(cl, c, L, &pnl, &mm);
            b.bal = wb + pnl;
            b.mm = mm;
            b.nlegs = legs_left(e, cl, c, L);
            if (b.bal <= b.mm) {
                o->liq_ratio[o->liq] = ratio_of(&b);
                o->liq++;
                if ((rc = liquidate(e, cl, &c, L, &wb)) != MARGIN_OK)
                    return rc;
            }
        }
    }
    if (legs_left(e, cl, c, L) == 0) {
        o->mask = 0; /* no book left: nothing to call */
        if (wb < 0) {
            if (wb < INT64_MIN)
                return MARGIN_EOVERFLOW;
            o->deficit = (int64_t)-wb;
        }
    } else {
        open_sums(cl, c, L, &pnl, &mm);
        b.bal = wb + pnl;
        b.mm = mm;
        b.nlegs = legs_left(e, cl, c, L);
        for (lv = 0; lv < e->nlevels; lv++) {
            uint8_t bit = (uint8_t)(1u << lv);
            int64_t mu = e->band == 0 ? e->levels[lv] : e->levels[lv] - e->band;
            if (!(o->mask & bit)) {
                if (hval(&b, e->levels[lv]) <= 0) {
                    o->mask |= bit;
                    o->newly |= bit;
                }
            } else if (mu > 0 && hval(&b, mu) > 0) {
                o->mask &= (uint8_t)~bit;
            }
        }
        if (o->newly)
            o->ratio = ratio_of(&b);
    }
    o->b = b; /* the book as it stands after the closes (or as it was, without any) */
    /* the prices the events report, before anything changes */
    for (i = 0; i < c; i++) {
        const margin__position *p = &MARGIN__POS(e, cl[i].pi);
        cl[i].liq = cl[i].bp = 0;
        if (cl[i].type == MARGIN_EV_LIQUIDATION) {
            /* at the marks of the moment (market mi at its new mark): both prices */
            int64_t lb[2] = {0, 0};
            if (cross_price_at(e, p, mi, mark, ONE, 2, lb) != MARGIN_OK)
                lb[0] = lb[1] = 0;
            cl[i].liq = lb[0];
            cl[i].bp = lb[1];
        }
    }
    o->first = (uint32_t)base;
    o->n = (uint32_t)c;
    o->nlegs = (uint32_t)L;
    *ncl = base + L;
    return MARGIN_OK;
}

/* Stage an outcome's ledger changes (the totals are checked with what the batch staged
 * before); count its events. */
static int stage(margin_engine *e, const xout *o, size_t *nev, margin__i128 *fund)
{
    const xclose *cl = (const xclose *)e->xcl + o->first;
    margin__delta d;
    uint32_t i;
    memset(&d, 0, sizeof d);
    for (i = 0; i < o->n; i++) {
        const margin__position *p = &MARGIN__POS(e, cl[i].pi);
        int64_t t;
        if (__builtin_add_overflow(p->realized, cl[i].pnl, &t) ||
            __builtin_add_overflow(p->fees, cl[i].fee, &t) ||
            __builtin_add_overflow(d.free, cl[i].pnl, &d.free) ||
            __builtin_sub_overflow(d.free, cl[i].fee, &d.free) ||
            __builtin_add_overflow(d.realized, cl[i].pnl, &d.realized) ||
            __builtin_add_overflow(d.fees, cl[i].fee, &d.fees))
            return MARGIN_EOVERFLOW;
        if (cl[i].type == MARGIN_EV_LIQUIDATION) { /* the clearance fee goes to the fund */
            d.insurance += cl[i].fee; /* each fee <= the margin balance: the sum fits */
            *fund += cl[i].fee;
        }
    }
    if (__builtin_add_overflow(d.free, o->deficit, &d.free) ||
        __builtin_add_overflow(d.realized, o->deficit, &d.realized))
        return MARGIN_EOVERFLOW;
    d.insurance -= o->deficit;
    *fund -= o->deficit;
    if (*fund < INT64_MIN)
        return MARGIN_EOVERFLOW;
    *nev += o->n + (uint32_t)o->liq;
    for (i = 0; i < e->nlevels; i++)
        *nev += (o->newly >> i) & 1u;
    return margin__ledger_stage(e, o->ai, &d);
}

/* Close cross position pi on its books (index, lists, ledgers), or liquidate part of it,
 * and produce its event. */
static void close_leg(margin_engine *e, const xclose *c)
{
    margin__position *p = &MARGIN__POS(e, c->pi);
    margin__delta d;
    margin__event *ev;
    int64_t qty = p->qty;
    int liq = c->type == MARGIN_EV_LIQUIDATION;
    memset(&d, 0, sizeof d);
    d.free = c->pnl - c->fee;
    d.realized = c->pnl;
    d.fees = c->fee;
    d.insurance = liq ? c->fee : 0;
    margin__ledger_apply(e, p->account, p->market, &d);
    p->realized += c->pnl;
    p->fees += c->fee;
    if (liq && c->qty < qty) { /* a partial step: the leg stays open, re-keyed with its book */
        margin__market *m = &e->markets[p->market];
        p->qty -= c->qty;
        if (m->liq_policy == MARGIN_LIQ_POLICY_SLICES)
            e->accounts[p->account].last_slice = e->time;
        ev = margin__ev_position(e, MARGIN_EV_PARTIAL_LIQUIDATION, c->pi);
        qty = c->qty;
    } else {
        margin__index_remove(e, &e->markets[p->market], c->pi);
        margin__unlink(e, c->pi);
        p->status = liq ? MARGIN_STATUS_LIQUIDATED : MARGIN_STATUS_CLOSED;
        if (liq)
            e->liquidations++;
        p->qty = 0;
        p->liq = 0;
        ev = margin__ev_position(e, c->type, c->pi);
    }
    ev->f[MARGIN_EVF_PRICE] = c->price;
    ev->f[MARGIN_EVF_QTY] = qty;
    ev->f[MARGIN_EVF_FEE] = c->fee;
    ev->f[MARGIN_EVF_REALIZED_PNL] = c->pnl;
    if (p->status != MARGIN_STATUS_OPEN) { /* (a partial step: the remainder's price) */
        ev->f[MARGIN_EVF_LIQ_PRICE] = c->liq;
        ev->f[MARGIN_EVF_BANKRUPTCY_PRICE] = c->bp;
    }
    if (liq)
        ev->f[MARGIN_EVF_INSURANCE_DELTA] = c->fee;
    ev->f[MARGIN_EVF_FILL] = liq ? MARGIN_FILL_MARK : c->fill;
    margin__ev_commit(e, ev);
}

static margin__event *account_event(margin_engine *e, int32_t type, const xout *o)
{
    margin__event *ev = margin__ev_begin(e, type);
    ev->f[MARGIN_EVF_ACCOUNT] = (int64_t)o->ai + 1;
    ev->f[MARGIN_EVF_MARKET] = (int64_t)o->market + 1;
    ev->f[MARGIN_EVF_PRICE] = o->mark;
    ev->f[MARGIN_EVF_FREE_BALANCE] = e->accounts[o->ai].free;
    ev->f[MARGIN_EVF_MODE] = MARGIN_MODE_CROSS;
    return ev;
}

static void apply(margin_engine *e, const xout *o)
{
    const xclose *cl = (const xclose *)e->xcl + o->first;
    margin__account *a = &e->accounts[o->ai];
    margin__event *ev;
    uint32_t i, run = 0;
    int k = 0;
    for (i = 0; i < o->n; i++) {
        int last;
        close_leg(e, &cl[i]);
        if (cl[i].type != MARGIN_EV_LIQUIDATION)
            continue;
        run++;
        if (i + 1 < o->n && cl[i + 1].type == MARGIN_EV_LIQUIDATION)
            continue;
        /* a liquidation ends: the account's event, with the deficit after the last close */
        last = i + 1 == o->n;
        if (last && o->deficit > 0) {
            margin__delta d;
            memset(&d, 0, sizeof d);
            d.free = d.realized = o->deficit;
            d.insurance = -o->deficit;
            margin__ledger_apply(e, o->ai, o->market, &d);
        }
        ev = account_event(e, MARGIN_EV_CROSS_LIQUIDATION, o);
        ev->f[MARGIN_EVF_ADL_COVERED] = last ? o->adl_covered : 0;
        ev->f[MARGIN_EVF_AMOUNT] = last ? o->deficit : 0;
        ev->f[MARGIN_EVF_REALIZED_PNL] = last ? o->deficit : 0;
        ev->f[MARGIN_EVF_INSURANCE_DELTA] = last ? -o->deficit : 0;
        ev->f[MARGIN_EVF_MARGIN_RATIO] = o->liq_ratio[k < 2 ? k : 1];
        ev->f[MARGIN_EVF_QTY] = run;
        margin__ev_commit(e, ev);
        run = 0;
        k++;
    }
    /* (a deficit needs an empty book, and only a liquidation can leave the wallet below
     * zero there: stop fees never take the balance below zero); its deleveraging follows */
    margin__adl_apply(e, o->adl_first, o->adl_n);
    a->mc_fired = o->mask;
    for (i = 0; i < e->nlevels; i++) {
        if (!(o->newly & (1u << i)))
            continue;
        ev = account_event(e, MARGIN_EV_MARGIN_CALL, o);
        ev->f[MARGIN_EVF_MARGIN_RATIO] = o->ratio;
        ev->f[MARGIN_EVF_LEVEL] = e->levels[i];
        margin__ev_commit(e, ev);
    }
}

/* ------------------------------------------------------------------ batches */

/* The decisions load, for each account, its record, then its positions one after the
 * other along its list: stage 0 the account, stage k its k-th position, read from the
 * (k-1)-th that stage k-1 loaded an account earlier. */
#define DECIDE_AHEAD 6

static void prefetch_book(const margin_engine *e, uint32_t ai, int stage)
{
    uint32_t pi;
    int k;
    MARGIN__KEEP_PREFETCH();
    if (stage == 0) {
        margin__prefetch_account(e, ai);
        return;
    }
    pi = e->accounts[ai].head;
    for (k = 1; k < stage && pi != MARGIN__NONE; k++)
        pi = MARGIN__POS(e, pi).anext;
    if (pi != MARGIN__NONE)
        margin__prefetch_record(e, pi);
}

int margin__cross_decide(margin_engine *e, size_t *pnacc, uint32_t mi, int64_t mark,
                         size_t *nout, size_t *nev, margin__i128 *fund)
{
    size_t i, j = 0, ncl = 0, nacc = *pnacc;
    int rc;
    *nout = 0;
    if (nacc == 0)
        return MARGIN_OK;
    margin__sort_u32(e->xacc, nacc);
    for (i = 0; i < nacc; i++)
        if (j == 0 || e->xacc[i] != e->xacc[j - 1])
            e->xacc[j++] = e->xacc[i];
    *pnacc = nacc = j;
    if ((rc = margin__grow(e, &e->xout, &e->xout_cap, nacc, sizeof(xout))) != MARGIN_OK)
        return rc;
    for (i = 0; i < nacc; i++) {
        uint32_t ai = e->xacc[i];
        xout *o = (xout *)e->xout + i;
        margin__i128 wb = margin__staged_free(&e->accounts[ai]);
        int k;
        /* the accounts ahead: their memory loads while this one works */
        for (k = DECIDE_AHEAD; k >= 1; k--)
            if (i + (size_t)k < nacc)
                prefetch_book(e, e->xacc[i + (size_t)k], DECIDE_AHEAD - k);
        if ((rc = decide(e, ai, mi, mark, wb, &ncl, o)) != MARGIN_OK)
            return margin__fail(e, rc, "evaluating the cross book of account %u overflows",
                                ai + 1);
        o->active = o->n > 0 || o->mask != e->accounts[ai].mc_fired || o->liq;
        if (o->active && stage(e, o, nev, fund) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the ledgers of account %u or the insurance fund would overflow",
                                ai + 1);
    }
    *nout = nacc;
    return MARGIN_OK;
}

void margin__cross_unstage(margin_engine *e, size_t nacc)
{
    size_t i;
    for (i = 0; i < nacc; i++)
        margin__ledger_unstage(e, e->xacc[i]);
}

/* How far ahead margin__cross_apply starts loading the memory of the accounts it will
 * apply and re-key (in accounts): their records and their legs' records, then the
 * handles of the legs' heap nodes (which need the legs' records), then the nodes and
 * their ancestors (a band that narrows moves its key up towards the root), then the
 * handles of those ancestors (the nodes a sift moves). Each stage reads what the
 * previous one loaded AHEAD_STEP accounts earlier. At a million positions, each of these
 * is otherwise a trip to memory that nothing else overlaps. */
enum { AHEAD_IDS = 1, AHEAD_NODES, AHEAD_HANDLES, AHEAD_RECORDS };
#define AHEAD_STEP 2 /* accounts between two stages */
/* the levels of a heap nearer its root than this are used by every sift: not prefetched */
#define HOT_NODES 341

/* `up`: the ancestors too (a key whose band narrows rises towards the root) */
static void prefetch_heap(const margin__heap *h, uint32_t hd, int what, int up)
{
    uint32_t s;
    MARGIN__KEEP_PREFETCH();
    if (hd == MARGIN__NONE)
        return;
    if (what == AHEAD_HANDLES) {
        __builtin_prefetch(margin__hslot(h, hd), 1);
        return;
    }
    if (!up) {
        if (what == AHEAD_NODES && *margin__hslot(h, hd) < h->n)
            __builtin_prefetch(margin__hnode_at(h, *margin__hslot(h, hd)), 1);
        return;
    }
    for (s = *margin__hslot(h, hd); s < h->n; s = (s - 1) / 4) {
        if (what == AHEAD_NODES)
            __builtin_prefetch(margin__hnode_at(h, s), 1);
        else
            __builtin_prefetch(margin__hslot(h, margin__hnode_at(h, s)->id), 1);
        if (s < HOT_NODES)
            break;
    }
}

static void prefetch_legs(const margin_engine *e, const xout *o, int what)
{
    const xclose *cl = (const xclose *)e->xcl + o->first;
    uint32_t i;
    MARGIN__KEEP_PREFETCH();
    if (what == AHEAD_RECORDS)
        margin__prefetch_account(e, o->ai);
    for (i = 0; i < o->nlegs; i++) {
        const margin__position *p = &MARGIN__POS(e, cl[i].pi);
        const margin__market *m;
        int other;
        if (what == AHEAD_RECORDS) {
            margin__prefetch_record(e, cl[i].pi);
            continue;
        }
        /* In the market that moved, the crossed keys are near the roots, which every
         * sift of this batch visits. In the others, a band that narrows moves the key
         * that bounds it (a long's down key, a short's up key) up its heap. */
        m = &e->markets[p->market];
        other = p->market != o->market;
        prefetch_heap(&m->down, p->down_slot, what, other && p->side > 0);
        prefetch_heap(&m->up, p->up_slot, what, other && p->side < 0);
    }
}

void margin__cross_apply(margin_engine *e, size_t nacc, size_t nout)
{
    const xout *xo = (const xout *)e->xout;
    size_t i;
    e->cross_evals += (int64_t)nacc;
    /* Each account: its outcome, then its bands (an account that closed nothing has the
     * book it was decided on). An outcome changes only its own account's book, so an
     * account's bands do not depend on the outcomes applied after it. */
    for (i = 0; i < nacc; i++) {
        if (i < nout) {
            int k;
            for (k = AHEAD_RECORDS; k >= AHEAD_IDS; k--)
                if (i + (size_t)k * AHEAD_STEP < nout)
                    prefetch_legs(e, &xo[i + (size_t)k * AHEAD_STEP], k);
            if (xo[i].active)
                apply(e, &xo[i]);
        }
        /* (a deleveraging since the decision moved the book: from its state) */
        rekey_with(e, e->xacc[i],
                   i < nout && xo[i].n == 0 && !(e->nadlx > 0 && margin__adl_touches(e, e->xacc[i]))
                       ? &xo[i].b
                       : NULL);
    }
}

/* ------------------------------------------------------------------ operations */

int margin__cross_check(const margin_engine *e, uint32_t ai, const margin__position *alt,
                        uint32_t alt_pi, margin__i128 dfree)
{
    margin__i128 wb = (margin__i128)e->accounts[ai].free + dfree, av;
    book b;
    char buf[48];
    int rc = book_at(e, ai, MARGIN__NONE, 0, wb, alt, alt_pi, &b);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "the cross book's figures overflow");
    av = raw_available(&b, wb);
    if (av >= 0)
        return MARGIN_OK;
    av = -av;
    return margin__fail(e, MARGIN_EFUNDS,
                        "the cross wallet would be short by %s: after it the cross positions "
                        "must keep their initial margin and the cross book stay above its "
                        "maintenance margin",
                        margin__fmt(buf, sizeof buf, av > INT64_MAX ? INT64_MAX : (int64_t)av,
                                    MARGIN_MONEY_SCALE));
}

int margin__cross_fill(const margin_engine *e, uint32_t pi, int64_t qty, int64_t price,
                       int64_t fee_rate, int reopen, margin__close *out)
{
    const margin__position *p = &MARGIN__POS(e, pi);
    const margin__market *m = &e->markets[p->market];
    const margin__account *a = &e->accounts[p->account];
    margin__position alt = *p;
    margin__delta d;
    margin__i128 wb;
    int64_t pnl, fee, deficit = 0;
    book b;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = margin__pnl(m, p->side, qty, p->entry, price, &pnl)) != MARGIN_OK ||
        (rc = margin__fee_of(m, qty, price, fee_rate, &fee)) != MARGIN_OK)
        return rc;
    alt.qty = p->qty - qty;
    if ((rc = book_at(e, p->account, MARGIN__NONE, 0, (margin__i128)a->free + pnl, &alt, pi,
                      &b)) != MARGIN_OK)
        return rc;
    if (fee > b.bal)
        fee = b.bal > 0 ? (int64_t)b.bal : 0; /* a fee never takes the balance below zero */
    wb = (margin__i128)a->free + pnl - fee;
    if (alt.qty == 0 && !reopen && a->ncross == 1 && wb < 0) {
        if (wb < INT64_MIN)
            return MARGIN_EOVERFLOW;
        deficit = (int64_t)-wb; /* the last cross position: the fund covers the wallet */
    }
    if (__builtin_add_overflow(pnl, deficit, &out->realized))
        return MARGIN_EOVERFLOW;
    out->ret = out->realized;
    out->fee = fee;
    out->insurance = -deficit;
    memset(&d, 0, sizeof d);
    if (__builtin_sub_overflow(out->ret, fee, &d.free))
        return MARGIN_EOVERFLOW;
    d.realized = out->realized;
    d.fees = fee;
    d.insurance = out->insurance;
    return margin__ledger_check(e, p, 1, &d);
}

int margin__cross_legs_in(const margin_engine *e, uint32_t ai, uint32_t mi)
{
    uint32_t pi;
    int n = 0;
    for (pi = e->accounts[ai].head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext)
        n += MARGIN__POS(e, pi).cross && MARGIN__POS(e, pi).market == mi;
    return n;
}

int margin__cross_adl(margin_engine *e, uint32_t mi, int64_t mark, size_t nacc, size_t nout,
                      margin__i128 *rb, margin__adl_skip skip, const void *ctx, size_t *nev)
{
    const margin__market *m = &e->markets[mi], *owner = &e->markets[m->pool_of];
    size_t i, n = nacc < nout ? nacc : nout;
    int rc;
    for (i = 0; i < n; i++) {
        xout *o = (xout *)e->xout + i;
        const xclose *cl = (const xclose *)e->xcl + o->first;
        uint32_t k, best = UINT32_MAX;
        margin__i128 want;
        int64_t need, covered;
        if (!o->active)
            continue;
        for (k = 0; k < o->n; k++) /* the clearance fees this pool receives */
            if (cl[k].type == MARGIN_EV_LIQUIDATION &&
                e->markets[MARGIN__POS(e, cl[k].pi).market].pool_of == m->pool_of)
                *rb += cl[k].fee;
        if (o->deficit <= 0)
            continue;
        if (*rb - o->deficit >= owner->pool_floor) {
            *rb -= o->deficit;
            continue;
        }
        /* the bankrupt leg: the largest liquidated in full in this market with a bankruptcy
         * price (the book's, the other legs at their marks); the other side of it covers */
        for (k = 0; k < o->n; k++) {
            const margin__position *p = &MARGIN__POS(e, cl[k].pi);
            if (cl[k].type == MARGIN_EV_LIQUIDATION && p->market == mi && cl[k].qty == p->qty &&
                cl[k].bp > 0 && (best == UINT32_MAX || cl[k].qty > cl[best].qty))
                best = k;
        }
        if (best == UINT32_MAX) {
            *rb -= o->deficit;
            continue;
        }
        if (e->adl_probe) { /* a candle's partial scratch: it runs again, whole */
            e->adl_wanted = 1;
            return MARGIN_OK;
        }
        want = owner->pool_floor - (*rb - o->deficit);
        need = want < o->deficit ? (int64_t)want : o->deficit;
        o->adl_first = e->nadlx;
        if ((rc = margin__adl_plan_at(e, m, cl[best].pi, MARGIN__POS(e, cl[best].pi).side,
                                      cl[best].qty, cl[best].bp, mark, need, skip, ctx,
                                      &covered)) != MARGIN_OK)
            return rc;
        o->adl_n = e->nadlx - o->adl_first;
        o->adl_covered = covered;
        *rb += covered - o->deficit;
        *nev += o->adl_n;
    }
    return MARGIN_OK;
}

int margin__cross_active(const margin_engine *e, size_t nacc, size_t nout, uint32_t ai)
{
    size_t lo = 0, hi = nacc < nout ? nacc : nout;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->xacc[mid] == ai)
            return ((const xout *)e->xout)[mid].active;
        if (e->xacc[mid] < ai)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Room in the cross work space for nacc noted accounts, nout outcomes and ncl closes
 * (margin__reserve_work). */
int margin__cross_reserve(margin_engine *e, size_t nacc, size_t nout, size_t ncl)
{
    int rc;
    if ((rc = margin__grow(e, (void **)&e->xacc, &e->xacc_cap, nacc, sizeof *e->xacc)) !=
            MARGIN_OK ||
        (rc = margin__grow(e, &e->xout, &e->xout_cap, nout, sizeof(xout))) != MARGIN_OK)
        return rc;
    return margin__grow(e, &e->xcl, &e->xcl_cap, ncl, sizeof(xclose));
}
