/* The engine handle: creation, errors and messages, options, margin-call levels, lookups.
 * Markets are in market.c, accounts in account.c. */
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

/* The C library's memory functions, in the caller-allocator shape. */
static void *std_alloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}

static void *std_grow(void *user, void *p, size_t n)
{
    (void)user;
    return realloc(p, n);
}

static void std_release(void *user, void *p)
{
    (void)user;
    free(p);
}

void *margin__malloc(const margin_engine *e, size_t n)
{
    return e->mem_alloc(e->mem_user, n);
}

void *margin__realloc(const margin_engine *e, void *p, size_t n)
{
    return e->mem_grow(e->mem_user, p, n);
}

void margin__dealloc(const margin_engine *e, void *p)
{
    if (p != NULL)
        e->mem_release(e->mem_user, p);
}

int margin_engine_new_with_allocator(margin_engine **out, margin_malloc_fn alloc,
                                     margin_realloc_fn grow, margin_free_fn release, void *user)
{
    margin_engine *e;
    if (out == NULL || alloc == NULL || grow == NULL || release == NULL)
        return MARGIN_EINVAL;
    e = alloc(user, sizeof *e);
    if (e == NULL)
        return MARGIN_ENOMEM;
    memset(e, 0, sizeof *e);
    e->mem_alloc = alloc;
    e->mem_grow = grow;
    e->mem_release = release;
    e->mem_user = user;
    e->queue_on = 1;
    e->retain = MARGIN__RETAIN_DEFAULT;
    e->nlevels = 1;
    e->levels[0] = 80000000; /* 0.8 */
    *out = e;
    return MARGIN_OK;
}

int margin_engine_new(margin_engine **out)
{
    return margin_engine_new_with_allocator(out, std_alloc, std_grow, std_release, NULL);
}

void margin__engine_clear(margin_engine *e)
{
    uint32_t i;
    for (i = 0; i < e->nmarkets; i++) {
        margin__heap_free(e, &e->markets[i].down);
        margin__heap_free(e, &e->markets[i].up);
    }
    margin__dealloc(e, e->markets);
    for (i = 0; i < e->naccounts; i++)
        margin__dealloc(e, e->accounts[i].cross_hi);
    margin__dealloc(e, e->accounts);
    for (i = 0; i < e->nchunks; i++)
        margin__dealloc(e, e->chunks[i]);
    margin__dealloc(e, e->chunks);
    margin__dealloc(e, e->chunkinfo);
    margin__dealloc(e, e->retire);
    margin__dealloc(e, e->stops);
    margin__dealloc(e, e->q);
    margin__dealloc(e, e->cand);
    margin__dealloc(e, e->out);
    margin__dealloc(e, e->xacc);
    margin__dealloc(e, e->xout);
    margin__dealloc(e, e->xcl);
    margin__dealloc(e, e->adl);
    margin__dealloc(e, e->adlx);
}

void margin_engine_free(margin_engine *e)
{
    if (e == NULL)
        return;
    if (e->in_callback) {
        /* refused: the call delivering the event still uses the engine */
        (void)margin__busy(e);
        return;
    }
    margin__engine_clear(e);
    margin__dealloc(e, e);
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
        for (pi = margin__next_live(e, 0); pi < e->npos; pi = margin__next_live(e, pi + 1)) {
            const margin__position *p = &MARGIN__POS(e, pi);
            if (p->status != MARGIN_STATUS_OPEN || p->cross)
                continue; /* a cross book's keys never fail (cross.c) */
            rc = margin__position_keys(e, &e->markets[p->market], p, p->mc_fired,
                                       margin__stop_of(e, p), margin__take_of(e, p), &d, &u);
            if (rc != MARGIN_OK) {
                e->band = old;
                return margin__fail(e, rc, "the re-arm price of position %u overflows",
                                    pi + 1);
            }
        }
        for (pi = margin__next_live(e, 0); pi < e->npos; pi = margin__next_live(e, pi + 1))
            if (MARGIN__POS(e, pi).status == MARGIN_STATUS_OPEN)
                (void)margin__reindex(e, pi); /* validated above; cannot fail */
        return MARGIN_OK;
    }
    case MARGIN_ENG_RETAIN_CLOSED:
        if (value < 0)
            return margin__fail(e, MARGIN_EINVAL, "the closed positions kept must be >= 0");
        e->retain = value;
        margin__retire(e);
        return MARGIN_OK;
    case MARGIN_ENG_EVENT_CAP:
        if (value < 0)
            return margin__fail(e, MARGIN_EINVAL, "the event cap must be >= 0 (0: none)");
        e->qmax = (size_t)value;
        return MARGIN_OK;
    case MARGIN_ENG_CROSS_LIQUIDATION:
        if (value != MARGIN_CROSS_LIQ_ALL && value != MARGIN_CROSS_LIQ_WORST_FIRST)
            return margin__fail(e, MARGIN_EINVAL,
                                "unknown cross liquidation policy %lld: use "
                                "MARGIN_CROSS_LIQ_ALL or MARGIN_CROSS_LIQ_WORST_FIRST",
                                (long long)value);
        e->cross_policy = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_ENG_INSURANCE_FUND:
    case MARGIN_ENG_INSURANCE_DEPOSITS:
    case MARGIN_ENG_OPEN_POSITIONS:
    case MARGIN_ENG_EVENTS_PENDING:
    case MARGIN_ENG_LAST_SEQ:
    case MARGIN_ENG_LIQUIDATIONS:
    case MARGIN_ENG_CROSS_EVALUATIONS:
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
    case MARGIN_ENG_INSURANCE_DEPOSITS:
        v = e->insurance_deposits;
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
    case MARGIN_ENG_CROSS_LIQUIDATION:
        v = e->cross_policy;
        break;
    case MARGIN_ENG_CROSS_EVALUATIONS:
        v = e->cross_evals;
        break;
    case MARGIN_ENG_EVENT_CAP:
        v = (int64_t)e->qmax;
        break;
    case MARGIN_ENG_RETAIN_CLOSED:
        v = e->retain;
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
        for (pi = margin__next_live(e, 0); pi < e->npos; pi = margin__next_live(e, pi + 1)) {
            margin__position *p = &MARGIN__POS(e, pi);
            int64_t d, u;
            if (p->status != MARGIN_STATUS_OPEN || p->cross)
                continue; /* a cross book's keys never fail (cross.c) */
            rc = margin__position_keys(e, &e->markets[p->market], p, 0, margin__stop_of(e, p),
                                       margin__take_of(e, p), &d, &u);
            if (rc != MARGIN_OK) {
                memcpy(e->levels, save, sizeof save);
                e->nlevels = savedn;
                return margin__fail(e, rc, "margin-call level price of position %u overflows",
                                    pi + 1);
            }
        }
    }
    for (pi = 0; pi < e->naccounts; pi++)
        e->accounts[pi].mc_fired = 0;
    for (pi = margin__next_live(e, 0); pi < e->npos; pi = margin__next_live(e, pi + 1)) {
        margin__position *p = &MARGIN__POS(e, pi);
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
    if (e->chunks[(id - 1) >> MARGIN__CHUNK_BITS] == NULL)
        return margin__fail(e, MARGIN_ENOTFOUND,
                            "position %llu was retired: it closed before the most recent "
                            "closes the engine keeps (%lld positions, MARGIN_ENG_RETAIN_CLOSED)",
                            (unsigned long long)id, (long long)e->retain);
    *out = &MARGIN__POS(e, id - 1);
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ position chunks */

int margin__chunk_reserve(margin_engine *e)
{
    uint32_t c = e->npos >> MARGIN__CHUNK_BITS;
    if (e->npos >= UINT32_MAX - MARGIN__CHUNK)
        return margin__fail(e, MARGIN_ENOMEM, "too many positions");
    if (c == e->capchunks) {
        /* grow the chunk table, its bookkeeping and the retirement ring together */
        uint32_t cap = e->capchunks ? e->capchunks * 2 : 16, i;
        margin__position **nc = margin__malloc(e, (size_t)cap * sizeof *nc);
        margin__chunkinfo *ni = margin__malloc(e, (size_t)cap * sizeof *ni);
        uint32_t *nr = margin__malloc(e, (size_t)cap * sizeof *nr);
        if (nc == NULL || ni == NULL || nr == NULL) {
            margin__dealloc(e, nc);
            margin__dealloc(e, ni);
            margin__dealloc(e, nr);
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        }
        memset(nc, 0, (size_t)cap * sizeof *nc);
        memset(ni, 0, (size_t)cap * sizeof *ni);
        for (i = 0; i < e->nchunks; i++) {
            nc[i] = e->chunks[i];
            ni[i] = e->chunkinfo[i];
        }
        for (i = 0; i < e->rlen; i++)
            nr[i] = e->retire[(e->rhead + i) % e->capchunks];
        margin__dealloc(e, e->chunks);
        margin__dealloc(e, e->chunkinfo);
        margin__dealloc(e, e->retire);
        e->chunks = nc;
        e->chunkinfo = ni;
        e->retire = nr;
        e->rhead = 0;
        e->capchunks = cap;
    }
    if (c >= e->nchunks) {
        margin__position *chunk = margin__malloc(e, MARGIN__CHUNK * sizeof *chunk);
        if (chunk == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->chunks[c] = chunk;
        e->nchunks = c + 1;
    }
    return MARGIN_OK;
}

void margin__chunk_closed(margin_engine *e, uint32_t pi)
{
    uint32_t c = pi >> MARGIN__CHUNK_BITS;
    margin__chunkinfo *ci = &e->chunkinfo[c];
    e->closes++;
    ci->closed++;
    ci->last_close = e->closes;
    if (ci->closed == MARGIN__CHUNK) /* ring room: one slot per chunk */
        e->retire[(e->rhead + e->rlen++) % e->capchunks] = c;
}

void margin__retire(margin_engine *e)
{
    while (e->rlen > 0) {
        uint32_t c = e->retire[e->rhead];
        if (e->chunkinfo[c].last_close > e->closes - e->retain)
            break;
        {
            margin__position *chunk = e->chunks[c];
            uint32_t i;
            for (i = 0; i < MARGIN__CHUNK; i++) /* (every position of the chunk is closed) */
                margin__stops_drop(e, &chunk[i]);
        }
        margin__dealloc(e, e->chunks[c]);
        e->chunks[c] = NULL;
        e->rhead = (e->rhead + 1) % e->capchunks;
        e->rlen--;
    }
}

uint32_t margin__next_live(const margin_engine *e, uint32_t pi)
{
    while (pi < e->npos && e->chunks[pi >> MARGIN__CHUNK_BITS] == NULL)
        pi = (pi | (MARGIN__CHUNK - 1)) + 1;
    return pi;
}
