/* The engine handle, its errors and options, markets and accounts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int margin__fail(const margin_engine *ce, int code, const char *fmt, ...)
{
    /* The error slot is the one mutable part of an engine that const queries may write:
     * engines are always allocated by margin_engine_new(), never defined const. */
    margin_engine *e = (margin_engine *)(uintptr_t)ce;
    va_list ap;
    if (e == NULL)
        return code;
    e->err = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int margin__busy(const margin_engine *e)
{
    if (e->in_callback == 0)
        return MARGIN_OK;
    return margin__fail(e, MARGIN_ESTATE,
                        "the engine is delivering an event to its callback: a callback may "
                        "read the event and the engine, and change it only after the call "
                        "that produced the event returns");
}

char *margin__fmt(char *buf, size_t size, int64_t v, int32_t scale)
{
    if (margin_dec_format(v, scale, buf, size) != MARGIN_OK)
        buf[0] = '\0'; /* buffers are sized for any int64 at any scale */
    return buf;
}

int margin_engine_new(margin_engine **out)
{
    margin_engine *e;
    if (out == NULL)
        return MARGIN_EINVAL;
    e = calloc(1, sizeof *e);
    if (e == NULL)
        return MARGIN_ENOMEM;
    e->queue_on = 1;
    e->nlevels = 1;
    e->levels[0] = 80000000; /* 0.8 */
    *out = e;
    return MARGIN_OK;
}

void margin_engine_free(margin_engine *e)
{
    uint32_t i;
    if (e == NULL)
        return;
    if (e->in_callback) {
        /* refused: the call delivering the event still uses the engine */
        (void)margin__busy(e);
        return;
    }
    for (i = 0; i < e->nmarkets; i++) {
        free(e->markets[i].down.a);
        free(e->markets[i].up.a);
    }
    free(e->markets);
    free(e->accounts);
    free(e->pos);
    free(e->q);
    free(e->cand);
    free(e->out);
    free(e);
}

const char *margin_errmsg(const margin_engine *e)
{
    if (e == NULL)
        return "no engine (NULL handle)";
    return e->msg;
}

int margin_errcode(const margin_engine *e)
{
    if (e == NULL)
        return MARGIN_EINVAL;
    return e->err;
}

int margin_engine_set(margin_engine *e, int32_t key, int64_t value)
{
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    switch (key) {
    case MARGIN_ENG_TIME:
        e->time = value;
        return MARGIN_OK;
    case MARGIN_ENG_FULL_SCAN:
    case MARGIN_ENG_EVENT_QUEUE:
        if (value != 0 && value != 1)
            return margin__fail(e, MARGIN_EINVAL, "engine option %d takes 0 or 1, not %lld",
                                (int)key, (long long)value);
        if (key == MARGIN_ENG_FULL_SCAN)
            e->full_scan = (int)value;
        else
            e->queue_on = (int)value;
        return MARGIN_OK;
    case MARGIN_ENG_REARM_BAND: {
        int64_t old = e->band, d, u;
        uint32_t pi;
        int rc;
        if (value < 0 || value >= MARGIN__ONE)
            return margin__fail(e, MARGIN_EINVAL, "the re-arm band must be 0 to below 1");
        /* every open position's keys must be computable with it: check, then reindex */
        e->band = value;
        for (pi = 0; pi < e->npos; pi++) {
            const margin__position *p = &e->pos[pi];
            if (p->status != MARGIN_STATUS_OPEN)
                continue;
            rc = margin__position_keys(e, &e->markets[p->market], p, p->mc_fired, &d, &u);
            if (rc != MARGIN_OK) {
                e->band = old;
                return margin__fail(e, rc, "the re-arm price of position %u overflows",
                                    pi + 1);
            }
        }
        for (pi = 0; pi < e->npos; pi++)
            if (e->pos[pi].status == MARGIN_STATUS_OPEN)
                (void)margin__reindex(e, pi); /* validated above; cannot fail */
        return MARGIN_OK;
    }
    case MARGIN_ENG_INSURANCE_FUND:
    case MARGIN_ENG_OPEN_POSITIONS:
    case MARGIN_ENG_EVENTS_PENDING:
    case MARGIN_ENG_LAST_SEQ:
    case MARGIN_ENG_LIQUIDATIONS:
        return margin__fail(e, MARGIN_EINVAL, "engine key %d is read-only", (int)key);
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown engine option %d", (int)key);
    }
}

int margin_engine_get(const margin_engine *e, int32_t key, int64_t *out)
{
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    switch (key) {
    case MARGIN_ENG_TIME:
        v = e->time;
        break;
    case MARGIN_ENG_FULL_SCAN:
        v = e->full_scan;
        break;
    case MARGIN_ENG_EVENT_QUEUE:
        v = e->queue_on;
        break;
    case MARGIN_ENG_INSURANCE_FUND:
        v = e->insurance;
        break;
    case MARGIN_ENG_OPEN_POSITIONS:
        v = (int64_t)e->open_positions;
        break;
    case MARGIN_ENG_EVENTS_PENDING:
        v = (int64_t)e->qlen;
        break;
    case MARGIN_ENG_LAST_SEQ:
        v = e->last_seq;
        break;
    case MARGIN_ENG_LIQUIDATIONS:
        v = e->liquidations;
        break;
    case MARGIN_ENG_REARM_BAND:
        v = e->band;
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown engine key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

int margin_engine_set_margin_call_levels(margin_engine *e, const int64_t *levels, size_t n)
{
    size_t i;
    uint32_t pi;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (n > MARGIN__MAX_LEVELS)
        return margin__fail(e, MARGIN_EINVAL, "at most %d margin-call levels, not %zu",
                            MARGIN__MAX_LEVELS, n);
    if (n > 0 && levels == NULL)
        return margin__fail(e, MARGIN_EINVAL, "levels is NULL");
    for (i = 0; i < n; i++)
        if (levels[i] <= 0 || levels[i] >= MARGIN__ONE)
            return margin__fail(e, MARGIN_EINVAL,
                                "margin-call level %zu must be strictly between 0 and 1", i);
    {
        int64_t tmp[MARGIN__MAX_LEVELS], save[MARGIN__MAX_LEVELS];
        uint32_t m = 0, savedn = e->nlevels;
        size_t j;
        /* insertion sort of a copy, ascending, dropping duplicates */
        for (i = 0; i < n; i++) {
            int64_t v = levels[i];
            int dup = 0;
            for (j = 0; j < m; j++)
                dup |= tmp[j] == v;
            if (dup)
                continue;
            for (j = m; j > 0 && tmp[j - 1] > v; j--)
                tmp[j] = tmp[j - 1];
            tmp[j] = v;
            m++;
        }
        /* install, then check every open position's keys can be computed; undo if not */
        memcpy(save, e->levels, sizeof save);
        memcpy(e->levels, tmp, m * sizeof tmp[0]);
        e->nlevels = m;
        for (pi = 0; pi < e->npos; pi++) {
            margin__position *p = &e->pos[pi];
            int64_t d, u;
            if (p->status != MARGIN_STATUS_OPEN)
                continue;
            rc = margin__position_keys(e, &e->markets[p->market], p, 0, &d, &u);
            if (rc != MARGIN_OK) {
                memcpy(e->levels, save, sizeof save);
                e->nlevels = savedn;
                return margin__fail(e, rc, "margin-call level price of position %u overflows",
                                    pi + 1);
            }
        }
    }
    for (pi = 0; pi < e->npos; pi++) {
        margin__position *p = &e->pos[pi];
        if (p->status != MARGIN_STATUS_OPEN)
            continue;
        p->mc_fired = 0;
        (void)margin__reindex(e, pi); /* validated above; cannot fail */
    }
    return MARGIN_OK;
}

int margin_engine_margin_call_levels(const margin_engine *e, int64_t *levels, size_t cap,
                                     size_t *out_n)
{
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_n == NULL || (levels == NULL && cap > 0))
        return margin__fail(e, MARGIN_EINVAL, "out_n is NULL, or levels is NULL with cap > 0");
    if (cap < e->nlevels)
        return margin__fail(e, MARGIN_EBUFFER, "%u margin-call levels do not fit in %zu",
                            (unsigned)e->nlevels, cap);
    if (e->nlevels > 0)
        memcpy(levels, e->levels, e->nlevels * sizeof e->levels[0]);
    *out_n = e->nlevels;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ lookups */

int margin__get_market(const margin_engine *e, uint64_t id, margin__market **out)
{
    if (id == 0 || id > e->nmarkets)
        return margin__fail(e, MARGIN_ENOTFOUND, "no market with id %llu",
                            (unsigned long long)id);
    *out = &e->markets[id - 1];
    return MARGIN_OK;
}

int margin__get_account(const margin_engine *e, uint64_t id, margin__account **out)
{
    if (id == 0 || id > e->naccounts)
        return margin__fail(e, MARGIN_ENOTFOUND, "no account with id %llu",
                            (unsigned long long)id);
    *out = &e->accounts[id - 1];
    return MARGIN_OK;
}

int margin__get_position(const margin_engine *e, uint64_t id, margin__position **out)
{
    if (id == 0 || id > e->npos)
        return margin__fail(e, MARGIN_ENOTFOUND, "no position with id %llu",
                            (unsigned long long)id);
    *out = &e->pos[id - 1];
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ markets */

static void market_default_tier(margin__market *m)
{
    m->ntiers = 1;
    m->tiers_custom = 0;
    m->tiers[0].floor = 0;
    m->tiers[0].mmr = 400000; /* 0.004 */
    m->tiers[0].max_lev = 0;  /* the market's maximum */
    m->tiers[0].cum = 0;
    m->tiers[0].floor_w = 0;
}

/* The default maximum price: ten million in price units (10^(price scale + 7)), or the
 * largest price below INT64_MAX when that does not fit (price scales above 11). */
static int64_t default_max_price(int32_t price_scale)
{
    return price_scale + 7 <= 18 ? margin__pow10_64(price_scale + 7) : INT64_MAX - 1;
}

static void market_scales(margin__market *m)
{
    m->ns = m->price_scale + m->qty_scale;
    m->w = m->ns > MARGIN_MONEY_SCALE ? m->ns : MARGIN_MONEY_SCALE;
    if (!m->max_price_set)
        m->max_price = default_max_price(m->price_scale);
    margin__tier_scale(m);
}

int margin_market_new(margin_engine *e, const char *symbol, uint64_t *out_id)
{
    size_t len;
    uint32_t i;
    margin__market *m = NULL;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (symbol == NULL || out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "symbol and out_id must not be NULL");
    for (len = 0; len < sizeof m->symbol && symbol[len] != '\0'; len++)
        if (symbol[len] <= ' ' || symbol[len] > '~')
            return margin__fail(e, MARGIN_EINVAL, "symbol has a character that is not printable ASCII");
    if (len == 0 || len >= sizeof m->symbol)
        return margin__fail(e, MARGIN_EINVAL, "symbol must be 1 to 31 characters long");
    for (i = 0; i < e->nmarkets; i++)
        if (strcmp(e->markets[i].symbol, symbol) == 0)
            return margin__fail(e, MARGIN_EEXIST, "market %s exists already", symbol);
    if (e->nmarkets == e->capmarkets) {
        uint32_t cap = e->capmarkets ? e->capmarkets * 2 : 4;
        margin__market *nm = realloc(e->markets, cap * sizeof *nm);
        if (nm == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->markets = nm;
        e->capmarkets = cap;
    }
    m = &e->markets[e->nmarkets];
    memset(m, 0, sizeof *m);
    memcpy(m->symbol, symbol, len + 1);
    m->price_scale = 8;
    m->qty_scale = 8;
    market_default_tier(m);
    market_scales(m);
    m->tick = 1;
    m->step = 1;
    m->max_lev = 125 * MARGIN__ONE;
    m->maker = 20000; /* 0.0002 */
    m->taker = 40000; /* 0.0004 */
    m->mm_basis = MARGIN_MM_BASIS_MARK;
    m->head = m->tail = MARGIN__NONE;
    m->down.max = 1;
    m->up.max = 0;
    e->nmarkets++;
    *out_id = e->nmarkets;
    return MARGIN_OK;
}

int margin_market_find(const margin_engine *e, const char *symbol, uint64_t *out_id)
{
    uint32_t i;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (symbol == NULL || out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "symbol and out_id must not be NULL");
    for (i = 0; i < e->nmarkets; i++)
        if (strcmp(e->markets[i].symbol, symbol) == 0) {
            *out_id = i + 1;
            return MARGIN_OK;
        }
    return margin__fail(e, MARGIN_ENOTFOUND, "no market with symbol %.40s", symbol);
}

int margin_market_symbol(const margin_engine *e, uint64_t market, char *buf, size_t size)
{
    margin__market *m = NULL;
    size_t len;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (buf == NULL)
        return margin__fail(e, MARGIN_EINVAL, "buf is NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    len = strlen(m->symbol);
    if (len >= size)
        return margin__fail(e, MARGIN_EBUFFER, "the symbol needs %zu bytes", len + 1);
    memcpy(buf, m->symbol, len + 1);
    return MARGIN_OK;
}

static int rate_ok(int64_t v)
{
    return v >= 0 && v <= MARGIN__ONE;
}

int margin_market_set(margin_engine *e, uint64_t market, int32_t key, int64_t value)
{
    margin__market *m = NULL;
    int rc;
    uint32_t pi;
    char b1[48], b2[48];
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_MKT_PRICE_SCALE:
    case MARGIN_MKT_QTY_SCALE:
        if (value < 0 || value > MARGIN_MAX_SCALE)
            return margin__fail(e, MARGIN_EINVAL, "scale must be 0 to 18, not %lld",
                                (long long)value);
        if (value + (key == MARGIN_MKT_PRICE_SCALE ? m->qty_scale : m->price_scale) >
            MARGIN__MAX_SCALE_SUM)
            return margin__fail(e, MARGIN_EINVAL,
                                "price scale + quantity scale must be at most %d (%s %lld with "
                                "the other scale %d): larger sums leave no room for a "
                                "position's figures in 128 bits",
                                MARGIN__MAX_SCALE_SUM,
                                key == MARGIN_MKT_PRICE_SCALE ? "price scale" : "quantity scale",
                                (long long)value,
                                (int)(key == MARGIN_MKT_PRICE_SCALE ? m->qty_scale
                                                                    : m->price_scale));
        if (m->open_count > 0 || m->tiers_custom)
            return margin__fail(e, MARGIN_ESTATE,
                                "scales can change only before tiers and positions");
        for (pi = 0; pi < e->npos; pi++)
            if (e->pos[pi].market == market - 1)
                return margin__fail(e, MARGIN_ESTATE,
                                    "scales cannot change once the market has had positions");
        if (key == MARGIN_MKT_PRICE_SCALE)
            m->price_scale = (int32_t)value;
        else
            m->qty_scale = (int32_t)value;
        market_scales(m);
        m->mark = 0;
        return MARGIN_OK;
    case MARGIN_MKT_TICK:
    case MARGIN_MKT_STEP:
        if (value <= 0)
            return margin__fail(e, MARGIN_EINVAL, "tick and step must be > 0");
        if (key == MARGIN_MKT_TICK)
            m->tick = value;
        else
            m->step = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAX_LEVERAGE:
        if (value < MARGIN__ONE)
            return margin__fail(e, MARGIN_EINVAL, "maximum leverage must be at least 1x");
        for (pi = m->head; pi != MARGIN__NONE; pi = e->pos[pi].mnext)
            if (e->pos[pi].leverage > value)
                return margin__fail(e, MARGIN_ELEVERAGE,
                                    "position %u has a higher leverage", pi + 1);
        m->max_lev = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAKER_FEE:
    case MARGIN_MKT_TAKER_FEE:
        if (!rate_ok(value))
            return margin__fail(e, MARGIN_EINVAL, "fee rate must be 0 to 1");
        if (key == MARGIN_MKT_MAKER_FEE)
            m->maker = value;
        else
            m->taker = value;
        return MARGIN_OK;
    case MARGIN_MKT_MM_BASIS:
    case MARGIN_MKT_CLOSE_FEE:
        if (key == MARGIN_MKT_MM_BASIS && value != MARGIN_MM_BASIS_MARK &&
            value != MARGIN_MM_BASIS_ENTRY)
            return margin__fail(e, MARGIN_EINVAL, "unknown maintenance basis %lld",
                                (long long)value);
        if (key == MARGIN_MKT_CLOSE_FEE) {
            uint32_t k;
            if (!rate_ok(value))
                return margin__fail(e, MARGIN_EINVAL, "fee-to-close rate must be 0 to 1");
            for (k = 0; k < m->ntiers; k++)
                if (m->tiers[k].mmr + value >= MARGIN__ONE)
                    return margin__fail(e, MARGIN_EINVAL,
                                        "maintenance rate plus fee to close must be below 1");
        }
        if (m->open_count > 0)
            return margin__fail(e, MARGIN_ESTATE, "the market has open positions");
        if (key == MARGIN_MKT_MM_BASIS)
            m->mm_basis = (int32_t)value;
        else
            m->close_fee = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAX_PRICE:
        if (value <= 0 || value == INT64_MAX)
            return margin__fail(e, MARGIN_EINVAL,
                                "maximum price must be > 0 and below INT64_MAX price units");
        if (m->mark > value)
            return margin__fail(e, MARGIN_ESTATE, "the market's mark %s is above %s",
                                margin__fmt(b1, sizeof b1, m->mark, m->price_scale),
                                margin__fmt(b2, sizeof b2, value, m->price_scale));
        {
            /* every open position must stay valid in the new range: check, then set */
            int64_t old = m->max_price;
            m->max_price = value;
            for (pi = m->head; pi != MARGIN__NONE; pi = e->pos[pi].mnext) {
                const margin__position *p = &e->pos[pi];
                rc = p->stop > value || p->take > value ? MARGIN_ERANGE : MARGIN_OK;
                if (rc != MARGIN_OK)
                    (void)margin__fail(e, rc, "position %u has a stop or take-profit above %s",
                                       pi + 1, margin__fmt(b1, sizeof b1, value, m->price_scale));
                else
                    rc = margin__position_envelope(e, m, p);
                if (rc != MARGIN_OK) {
                    m->max_price = old;
                    return rc;
                }
            }
        }
        m->max_price_set = 1;
        return MARGIN_OK;
    case MARGIN_MKT_MARK:
    case MARGIN_MKT_TIER_COUNT:
    case MARGIN_MKT_OPEN_POSITIONS:
        return margin__fail(e, MARGIN_EINVAL, "market key %d is read-only", (int)key);
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown market option %d", (int)key);
    }
}

int margin_market_get(const margin_engine *e, uint64_t market, int32_t key, int64_t *out)
{
    margin__market *m = NULL;
    int rc;
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_MKT_PRICE_SCALE:
        v = m->price_scale;
        break;
    case MARGIN_MKT_QTY_SCALE:
        v = m->qty_scale;
        break;
    case MARGIN_MKT_TICK:
        v = m->tick;
        break;
    case MARGIN_MKT_STEP:
        v = m->step;
        break;
    case MARGIN_MKT_MAX_LEVERAGE:
        v = m->max_lev;
        break;
    case MARGIN_MKT_MAKER_FEE:
        v = m->maker;
        break;
    case MARGIN_MKT_TAKER_FEE:
        v = m->taker;
        break;
    case MARGIN_MKT_MM_BASIS:
        v = m->mm_basis;
        break;
    case MARGIN_MKT_CLOSE_FEE:
        v = m->close_fee;
        break;
    case MARGIN_MKT_MARK:
        v = m->mark;
        break;
    case MARGIN_MKT_TIER_COUNT:
        v = m->ntiers;
        break;
    case MARGIN_MKT_OPEN_POSITIONS:
        v = m->open_count;
        break;
    case MARGIN_MKT_MAX_PRICE:
        v = m->max_price;
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown market key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

int margin_market_add_tier(margin_engine *e, uint64_t market, int64_t floor, int64_t mmr,
                           int64_t max_leverage, int64_t maint_amount)
{
    margin__market *m = NULL;
    margin__tier t;
    uint32_t n;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (m->open_count > 0)
        return margin__fail(e, MARGIN_ESTATE, "tiers cannot change while positions are open");
    n = m->tiers_custom ? m->ntiers : 0;
    if (n == MARGIN__MAX_TIERS)
        return margin__fail(e, MARGIN_ESTATE, "a market has at most %d tiers", MARGIN__MAX_TIERS);
    if (floor < 0 || (n == 0 && floor != 0) || (n > 0 && floor <= m->tiers[n - 1].floor))
        return margin__fail(e, MARGIN_EINVAL,
                            "tier floors must start at 0 and increase strictly");
    if (mmr <= 0 || mmr >= MARGIN__ONE || mmr + m->close_fee >= MARGIN__ONE)
        return margin__fail(e, MARGIN_EINVAL,
                            "maintenance rate must be > 0 and, with the fee to close, < 1");
    if (n > 0 && mmr < m->tiers[n - 1].mmr)
        return margin__fail(e, MARGIN_EINVAL, "maintenance rates must not decrease");
    if (max_leverage != 0 && max_leverage < MARGIN__ONE)
        return margin__fail(e, MARGIN_EINVAL, "tier maximum leverage must be 0 or >= 1x");
    t.floor = floor;
    t.mmr = mmr;
    t.max_lev = max_leverage;
    if (maint_amount == MARGIN_DERIVE) {
        if (n == 0) {
            t.cum = 0;
        } else {
            /* cum_k = floor_k * (mmr_k - mmr_(k-1)) + cum_(k-1), exact at scale 16 */
            margin__i128 c = (margin__i128)floor * (mmr - m->tiers[n - 1].mmr);
            int64_t c64;
            if (c % MARGIN__ONE != 0)
                c = c / MARGIN__ONE + 1; /* round up: the holder owes it */
            else
                c /= MARGIN__ONE;
            c += m->tiers[n - 1].cum;
            if (margin__narrow(c, &c64) != MARGIN_OK)
                return margin__fail(e, MARGIN_EOVERFLOW, "derived maintenance amount overflows");
            t.cum = c64;
        }
    } else {
        if (maint_amount < 0)
            return margin__fail(e, MARGIN_EINVAL, "maintenance amount must be >= 0");
        t.cum = maint_amount;
    }
    m->tiers[n] = t;
    m->ntiers = n + 1;
    m->tiers_custom = 1;
    margin__tier_scale(m);
    return MARGIN_OK;
}

int margin_market_tier(const margin_engine *e, uint64_t market, uint32_t index,
                       int64_t *out_floor, int64_t *out_mmr, int64_t *out_max_leverage,
                       int64_t *out_maint_amount)
{
    margin__market *m = NULL;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_floor == NULL || out_mmr == NULL || out_max_leverage == NULL ||
        out_maint_amount == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out-parameters must not be NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (index >= m->ntiers)
        return margin__fail(e, MARGIN_EINVAL, "tier index %u out of range (%u tiers)",
                            (unsigned)index, (unsigned)m->ntiers);
    *out_floor = m->tiers[index].floor;
    *out_mmr = m->tiers[index].mmr;
    *out_max_leverage = m->tiers[index].max_lev ? m->tiers[index].max_lev : m->max_lev;
    *out_maint_amount = m->tiers[index].cum;
    return MARGIN_OK;
}

int margin_market_tier_for(const margin_engine *e, uint64_t market, int64_t notional,
                           int64_t *out_mmr, int64_t *out_maint_amount)
{
    margin__market *m = NULL;
    int rc, k;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_mmr == NULL || out_maint_amount == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out-parameters must not be NULL");
    if (notional < 0)
        return margin__fail(e, MARGIN_EINVAL, "notional must be >= 0");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    for (k = (int)m->ntiers - 1; k > 0 && notional < m->tiers[k].floor; k--)
        ; /* both in money: no scaling */
    *out_mmr = m->tiers[k].mmr;
    *out_maint_amount = m->tiers[k].cum;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ accounts */

int margin_account_new(margin_engine *e, uint64_t *out_id)
{
    margin__account *a = NULL;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out_id is NULL");
    if (e->naccounts == UINT32_MAX - 1)
        return margin__fail(e, MARGIN_ENOMEM, "too many accounts");
    if (e->naccounts == e->capaccounts) {
        uint32_t cap = e->capaccounts ? e->capaccounts * 2 : 16;
        margin__account *na = realloc(e->accounts, (size_t)cap * sizeof *na);
        if (na == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->accounts = na;
        e->capaccounts = cap;
    }
    a = &e->accounts[e->naccounts];
    memset(a, 0, sizeof *a);
    a->head = a->tail = MARGIN__NONE;
    e->naccounts++;
    *out_id = e->naccounts;
    return MARGIN_OK;
}

static int account_move(margin_engine *e, uint64_t account, int64_t amount, int withdraw)
{
    margin__account *a = NULL;
    margin__event *ev;
    int64_t nf, nt;
    int rc;
    char b1[48], b2[48];
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK)
        return rc;
    if (amount <= 0)
        return margin__fail(e, MARGIN_EINVAL, "amount must be > 0");
    /* Every ledger is a 64-bit amount of money: at most 92233720368.54775807. The
     * cumulative ones (deposits, withdrawals) can reach it before the balance does. */
    if (withdraw) {
        if (amount > a->free)
            return margin__fail(e, MARGIN_EFUNDS, "withdrawal of %s exceeds the free balance %s",
                                margin__fmt(b1, sizeof b1, amount, MARGIN_MONEY_SCALE),
                                margin__fmt(b2, sizeof b2, a->free, MARGIN_MONEY_SCALE));
        nf = a->free - amount;
        if (__builtin_add_overflow(a->withdrawals, amount, &nt))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the account's cumulative withdrawals ledger (%s) would pass "
                                "92233720368.54775807, the limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->withdrawals, MARGIN_MONEY_SCALE));
    } else {
        if (__builtin_add_overflow(a->free, amount, &nf))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the free balance (%s) would pass 92233720368.54775807, the "
                                "limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->free, MARGIN_MONEY_SCALE));
        if (__builtin_add_overflow(a->deposits, amount, &nt))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the account's cumulative deposits ledger (%s) would pass "
                                "92233720368.54775807, the limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->deposits, MARGIN_MONEY_SCALE));
    }
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    a->free = nf;
    if (withdraw)
        a->withdrawals = nt;
    else
        a->deposits = nt;
    ev = margin__ev_begin(e, withdraw ? MARGIN_EV_WITHDRAW : MARGIN_EV_DEPOSIT);
    ev->f[MARGIN_EVF_ACCOUNT] = (int64_t)account;
    ev->f[MARGIN_EVF_AMOUNT] = amount;
    ev->f[MARGIN_EVF_FREE_BALANCE] = nf;
    margin__ev_commit(e, ev);
    return MARGIN_OK;
}

int margin_account_deposit(margin_engine *e, uint64_t account, int64_t amount)
{
    return account_move(e, account, amount, 0);
}

int margin_account_withdraw(margin_engine *e, uint64_t account, int64_t amount)
{
    return account_move(e, account, amount, 1);
}

int margin_account_get(const margin_engine *e, uint64_t account, int32_t key, int64_t *out)
{
    margin__account *a = NULL;
    int rc;
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_ACCT_FREE_BALANCE:
        v = a->free;
        break;
    case MARGIN_ACCT_ISOLATED_MARGIN:
        v = a->isolated;
        break;
    case MARGIN_ACCT_EQUITY: {
        margin__i128 sum = (margin__i128)a->free + a->isolated;
        uint32_t pi;
        for (pi = a->head; pi != MARGIN__NONE; pi = e->pos[pi].anext) {
            const margin__position *p = &e->pos[pi];
            const margin__market *m = &e->markets[p->market];
            int64_t pnl;
            rc = margin__pnl(m, p->side, p->qty, p->entry, m->mark ? m->mark : p->entry, &pnl);
            if (rc != MARGIN_OK)
                return margin__fail(e, rc, "unrealized PnL of position %u overflows", pi + 1);
            sum += pnl;
        }
        if (margin__narrow(sum, &v) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "equity overflows");
        break;
    }
    case MARGIN_ACCT_DEPOSITS:
        v = a->deposits;
        break;
    case MARGIN_ACCT_WITHDRAWALS:
        v = a->withdrawals;
        break;
    case MARGIN_ACCT_REALIZED_PNL:
        v = a->realized;
        break;
    case MARGIN_ACCT_FEES:
        v = a->fees;
        break;
    case MARGIN_ACCT_FUNDING:
        v = a->funding;
        break;
    case MARGIN_ACCT_OPEN_POSITIONS:
        v = a->open_count;
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown account key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ position lists */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void margin__link(margin_engine *e, uint32_t pi)
{
    margin__position *p = &e->pos[pi];
    margin__market *m = &e->markets[p->market];
    margin__account *a = &e->accounts[p->account];
    /* market list, kept in id order (positions are created in id order) */
    p->mnext = MARGIN__NONE;
    p->mprev = m->tail;
    if (m->tail != MARGIN__NONE)
        e->pos[m->tail].mnext = pi;
    else
        m->head = pi;
    m->tail = pi;
    p->anext = MARGIN__NONE;
    p->aprev = a->tail;
    if (a->tail != MARGIN__NONE)
        e->pos[a->tail].anext = pi;
    else
        a->head = pi;
    a->tail = pi;
    m->open_count++;
    a->open_count++;
    e->open_positions++;
}

void margin__unlink(margin_engine *e, uint32_t pi)
{
    margin__position *p = &e->pos[pi];
    margin__market *m = &e->markets[p->market];
    margin__account *a = &e->accounts[p->account];
    if (p->mprev != MARGIN__NONE)
        e->pos[p->mprev].mnext = p->mnext;
    else
        m->head = p->mnext;
    if (p->mnext != MARGIN__NONE)
        e->pos[p->mnext].mprev = p->mprev;
    else
        m->tail = p->mprev;
    if (p->aprev != MARGIN__NONE)
        e->pos[p->aprev].anext = p->anext;
    else
        a->head = p->anext;
    if (p->anext != MARGIN__NONE)
        e->pos[p->anext].aprev = p->aprev;
    else
        a->tail = p->aprev;
    p->mprev = p->mnext = p->aprev = p->anext = MARGIN__NONE;
    m->open_count--;
    a->open_count--;
    e->open_positions--;
}

/* ------------------------------------------------------------------ listing */

/* The ids of the positions of one account (account != 0) or one market (market != 0), or
 * of every position, with a status (or any), in id order. Open positions are walked on
 * their lists (O(result)); other statuses scan every position (O(positions ever opened)). */
static int list_positions(const margin_engine *e, uint64_t account, uint64_t market,
                          int32_t status, uint64_t *ids, size_t cap, size_t *out_n)
{
    size_t n = 0;
    uint32_t pi;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_n == NULL || (ids == NULL && cap > 0))
        return margin__fail(e, MARGIN_EINVAL, "out_n is NULL, or ids is NULL with cap > 0");
    if (status != MARGIN_STATUS_ANY && status != MARGIN_STATUS_OPEN &&
        status != MARGIN_STATUS_CLOSED && status != MARGIN_STATUS_LIQUIDATED)
        return margin__fail(e, MARGIN_EINVAL, "unknown status filter %d", (int)status);
    if (account != 0) {
        margin__account *a;
        int rc = margin__get_account(e, account, &a);
        if (rc != MARGIN_OK)
            return rc;
    }
    if (market != 0) {
        margin__market *m;
        int rc = margin__get_market(e, market, &m);
        if (rc != MARGIN_OK)
            return rc;
    }
    if (status == MARGIN_STATUS_OPEN && (account != 0 || market != 0)) {
        /* the open lists are kept in id order */
        int by_acct = account != 0;
        pi = by_acct ? e->accounts[account - 1].head : e->markets[market - 1].head;
        for (; pi != MARGIN__NONE; pi = by_acct ? e->pos[pi].anext : e->pos[pi].mnext) {
            if (n < cap)
                ids[n] = (uint64_t)pi + 1;
            n++;
        }
    } else {
        for (pi = 0; pi < e->npos; pi++) {
            const margin__position *p = &e->pos[pi];
            if ((status != MARGIN_STATUS_ANY && p->status != status) ||
                (account != 0 && p->account != account - 1) ||
                (market != 0 && p->market != market - 1))
                continue;
            if (n < cap)
                ids[n] = (uint64_t)pi + 1;
            n++;
        }
    }
    *out_n = n;
    if (n > cap && ids != NULL) /* ids NULL: only counting */
        return margin__fail(e, MARGIN_EBUFFER, "%zu positions do not fit in %zu", n, cap);
    return MARGIN_OK;
}

int margin_account_positions(const margin_engine *e, uint64_t account, int32_t status,
                             uint64_t *ids, size_t cap, size_t *out_n)
{
    if (e != NULL && account == 0)
        return margin__fail(e, MARGIN_ENOTFOUND, "no account with id 0");
    return list_positions(e, account, 0, status, ids, cap, out_n);
}

int margin_market_positions(const margin_engine *e, uint64_t market, int32_t status,
                            uint64_t *ids, size_t cap, size_t *out_n)
{
    if (e != NULL && market == 0)
        return margin__fail(e, MARGIN_ENOTFOUND, "no market with id 0");
    return list_positions(e, 0, market, status, ids, cap, out_n);
}

int margin_positions(const margin_engine *e, int32_t status, uint64_t *ids, size_t cap,
                     size_t *out_n)
{
    if (e != NULL && status == MARGIN_STATUS_OPEN) {
        /* every open position, in id order, without scanning closed ones: merge the
         * markets' lists (each in id order) */
        size_t n = 0;
        uint32_t mi;
        if (out_n == NULL || (ids == NULL && cap > 0))
            return margin__fail(e, MARGIN_EINVAL, "out_n is NULL, or ids is NULL with cap > 0");
        n = (size_t)e->open_positions;
        *out_n = n;
        if (ids == NULL)
            return MARGIN_OK; /* only counting */
        if (n > cap)
            return margin__fail(e, MARGIN_EBUFFER, "%zu positions do not fit in %zu", n, cap);
        n = 0;
        for (mi = 0; mi < e->nmarkets; mi++) {
            uint32_t pi;
            for (pi = e->markets[mi].head; pi != MARGIN__NONE; pi = e->pos[pi].mnext)
                ids[n++] = (uint64_t)pi + 1;
        }
        if (e->nmarkets > 1)
            qsort(ids, n, sizeof *ids, cmp_u64);
        return MARGIN_OK;
    }
    return list_positions(e, 0, 0, status, ids, cap, out_n);
}
