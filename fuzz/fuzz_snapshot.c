/* libFuzzer harness for the snapshot loader (margin_snapshot_load, docs/snapshot.md).
 *
 * The first byte chooses how the other bytes become a snapshot:
 *   mode 0  the bytes as they are (the magic, the version, the length, the checksum...);
 *   mode 1  the bytes with the header's total length and the trailing CRC-32C rewritten to
 *           match, so that libFuzzer's own changes to the committed valid snapshots
 *           (fuzz/corpus-snapshot) get past the checksum to the field checks;
 *   mode 2  a valid snapshot of a small engine built from a script (markets with their
 *           scales, tiers, maximum prices and marks; accounts, isolated and cross
 *           positions, closes, liquidations, funding, stops, margin-call levels, queued
 *           events and a current event; sometimes a retired block of 1024 positions), then
 *           up to 8 mutations chosen by the input: a field (found by the format's own
 *           layout, fuzz/snapshot_walk.h) set to an edge value, to its neighbour, to
 *           another field's value or to input bytes; a section count or length moved; a
 *           bit flipped; bytes set, inserted (with the section's length kept right or
 *           not), deleted or cut; then the length and CRC-32C recomputed or not;
 *   mode 3  as mode 2, always recomputing the length and the CRC-32C.
 *
 * It traps (the fuzzer reports a crash) when:
 *  - a refused load returns a status other than the snapshot statuses (EMAGIC, EVERSION,
 *    ETRUNCATED, ECHECKSUM, ECORRUPT) or ENOMEM, or margin_errcode() disagrees, or the
 *    message is empty;
 *  - a refused load leaves the engine other than empty, exactly as it was: it must hold
 *    as many allocations as before (the engine's own allocator counts them), save the same
 *    bytes as a new engine, and then load a valid snapshot and work;
 *  - an accepted load does not save the very bytes it loaded, or a second engine loading
 *    those bytes differs (bytes, state hash), or loading into a non-empty engine is not
 *    refused with ESTATE (changing nothing);
 *  - the loaded engine, driven a little (mark updates and funding in every market, queries,
 *    deposits, withdrawals, closes, events drained), breaks an account's ledger identity
 *    (free + isolated = deposits - withdrawals + realized - fees + funding), or produces a
 *    state whose own snapshot does not load;
 *  - a single allocation asks for more than 4 MiB + 4096 bytes per snapshot byte (a count
 *    read from the snapshot trusted before the bytes behind it were checked);
 *  - an allocation is leaked (the engine's allocator counts them) or ASan / UBSan reports
 *    anything.
 *
 * Build as fuzz/README.md says (make fuzz); add -DFUZZ_DEBUG to print what happens. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "margin.h"
#include "snapshot_walk.h"

#ifdef FUZZ_DEBUG
#define DBG(...) fprintf(stderr, __VA_ARGS__)
#else
#define DBG(...) ((void)0)
#endif
/* a failed check names itself (fuzz/run.sh shows the line), then traps */
#define check(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);             \
            __builtin_trap();                                                               \
        }                                                                                   \
    } while (0)

#define ONE 100000000LL

__extension__ typedef __int128 i128;
#define MAX_SNAPSHOT (1u << 20)
#define MAX_FIELDS 200000

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    while (bytes-- > 0) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

/* ------------------------------------------------------------------ memory */
/* Every engine of this harness allocates through these: live blocks are counted, and a
 * single request out of proportion to the snapshot being loaded traps. */
static struct {
    long live;
    size_t limit; /* 0: none */
} M;

/* 0 when the request is out of proportion (with -DFUZZ_LENIENT the allocation then fails,
 * to look past a known finding of that kind) */
static int size_ok(size_t size)
{
    if (M.limit != 0 && size > M.limit) {
        fprintf(stderr,
                "fuzz_snapshot: one allocation of %zu bytes while loading a snapshot that "
                "allows at most %zu\n",
                size, M.limit);
#ifndef FUZZ_LENIENT
        __builtin_trap();
#endif
        return 0;
    }
    return 1;
}

static void *mem_alloc(void *user, size_t size)
{
    void *p;
    (void)user;
    if (!size_ok(size))
        return NULL;
    p = malloc(size);
    if (p != NULL)
        M.live++;
    return p;
}

static void *mem_grow(void *user, void *ptr, size_t size)
{
    void *p;
    (void)user;
    if (!size_ok(size))
        return NULL;
    p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        M.live++;
    return p;
}

static void mem_release(void *user, void *ptr)
{
    (void)user;
    if (ptr != NULL)
        M.live--;
    free(ptr);
}

static margin_engine *new_engine(void)
{
    margin_engine *e = NULL;
    check(margin_engine_new_with_allocator(&e, mem_alloc, mem_grow, mem_release, NULL) ==
          MARGIN_OK);
    return e;
}

/* The snapshot of e in a new buffer (malloc: not counted). */
static uint8_t *save(const margin_engine *e, size_t *n)
{
    size_t len = 0, got = 0;
    uint8_t *b;
    check(margin_snapshot_save(e, NULL, 0, &len) == MARGIN_OK);
    check(len >= 36 && len <= 64 * (size_t)MAX_SNAPSHOT);
    b = malloc(len);
    check(b != NULL);
    check(margin_snapshot_save(e, b, len, &got) == MARGIN_OK && got == len);
    *n = len;
    return b;
}

static void drain(margin_engine *e, int all)
{
    int32_t t = 0;
    int64_t f[MARGIN_EVF_PATH_POINT + 1];
    int i;
    for (i = 0; i < 100000; i++) {
        check(margin_event_next(e, &t) == MARGIN_OK);
        if (t == MARGIN_EV_NONE)
            return;
        check(margin_event_fields(e, f, MARGIN_EVF_PATH_POINT + 1) == MARGIN_OK);
        check(f[MARGIN_EVF_TYPE] == t);
        if (!all && i >= 2)
            return; /* leave the rest queued, and this one current */
    }
}

/* ------------------------------------------------------------------ the scripted engine */
/* Markets: price scale, quantity scale, tick, step, a mark. */
static const struct {
    const char *symbol;
    int ps, qs;
    int64_t tick, step, mark;
} MKTS[4] = {
    {"BTCUSDT", 1, 3, 1, 1, 200000},             /* 20000.0, 0.001 BTC */
    {"ETHUSDT", 2, 4, 1, 10, 150000},            /* 1500.00, 0.0010 ETH */
    {"PEPEUSDT", 10, 0, 1, 1000, 12345},         /* 0.0000012345 */
    {"EDGE", 18, 10, 1000, 1, 1000000000000000}, /* scales 18/10 */
};

static void build_markets(margin_engine *e, input *in, int nm)
{
    int i;
    for (i = 0; i < nm; i++) {
        uint64_t b = take(in, 1), id = 0;
        int k = (int)(b % 4);
        char sym[16];
        snprintf(sym, sizeof sym, "%s%d", MKTS[k].symbol, i);
        if (margin_market_new(e, sym, &id) != MARGIN_OK)
            continue;
        (void)margin_market_set(e, id, MARGIN_MKT_PRICE_SCALE, MKTS[k].ps);
        (void)margin_market_set(e, id, MARGIN_MKT_QTY_SCALE, MKTS[k].qs);
        (void)margin_market_set(e, id, MARGIN_MKT_TICK, MKTS[k].tick);
        (void)margin_market_set(e, id, MARGIN_MKT_STEP, MKTS[k].step);
        (void)margin_market_set(e, id, MARGIN_MKT_TAKER_FEE, (int64_t)(b >> 2 & 3) * 20000);
        (void)margin_market_set(e, id, MARGIN_MKT_MAKER_FEE, 10000);
        (void)margin_market_set(e, id, MARGIN_MKT_MM_BASIS, (int64_t)(b >> 4 & 1));
        if (b & 0x20)
            (void)margin_market_set(e, id, MARGIN_MKT_CLOSE_FEE, 50000);
        if (b & 0x40) { /* tiers given: two or three */
            (void)margin_market_add_tier(e, id, 0, 400000, 125 * ONE, MARGIN_DERIVE);
            (void)margin_market_add_tier(e, id, 50000 * ONE, 500000, 100 * ONE, MARGIN_DERIVE);
            if (b & 1)
                (void)margin_market_add_tier(e, id, 250000 * ONE, 1000000, 50 * ONE,
                                             MARGIN_DERIVE);
        }
        if (b & 0x80)
            (void)margin_market_set(e, id, MARGIN_MKT_MAX_PRICE, MKTS[k].mark * 100);
        (void)margin_mark_update(e, id, MKTS[k].mark);
    }
}

/* A small engine from the script's bytes: whatever the calls return, the result is a
 * state the engine itself made. */
static margin_engine *build(input *in)
{
    margin_engine *e = new_engine();
    uint64_t h = take(in, 1), ids[64];
    int nm = 1 + (int)(h % 3), na = 1 + (int)(h / 3 % 3), i, nops;
    uint64_t npos = 0;
    int64_t levels[3] = {ONE / 2, ONE * 7 / 10, ONE * 9 / 10};
    if (h & 0x10)
        (void)margin_engine_set_margin_call_levels(e, levels, 1 + (size_t)(h >> 5) % 3);
    if (h & 0x80)
        (void)margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_WORST_FIRST);
    (void)margin_engine_set(e, MARGIN_ENG_TIME, (int64_t)take(in, 2));
    build_markets(e, in, nm);
    for (i = 0; i < na; i++) {
        uint64_t a = 0, b = take(in, 1);
        int m;
        if (margin_account_new(e, &a) != MARGIN_OK)
            continue;
        (void)margin_account_deposit(e, a, (int64_t)(1 + b % 100) * 1000 * ONE);
        for (m = 0; m < nm; m++)
            if ((b >> (5 + m)) & 1)
                (void)margin_account_set_mode(e, a, (uint64_t)m + 1, MARGIN_MODE_CROSS);
    }
    nops = (int)(take(in, 1) % 32);
    for (i = 0; i < nops && in->n > 0; i++) {
        uint64_t op = take(in, 1), x = take(in, 1), y = take(in, 1);
        uint64_t mkt = 1 + x % (uint64_t)nm, acct = 1 + y % (uint64_t)na, id = 0;
        uint64_t pos = npos ? ids[x % npos] : 1;
        int64_t mark = 0, step = 1, tick = 1, ps = 0;
        int32_t mode = MARGIN_MODE_ISOLATED;
        (void)margin_market_get(e, mkt, MARGIN_MKT_MARK, &mark);
        (void)margin_market_get(e, mkt, MARGIN_MKT_STEP, &step);
        (void)margin_market_get(e, mkt, MARGIN_MKT_TICK, &tick);
        (void)margin_market_get(e, mkt, MARGIN_MKT_PRICE_SCALE, &ps);
        (void)margin_account_mode(e, acct, mkt, &mode);
        if (mark <= 0)
            mark = tick;
        switch (op % 12) {
        case 0:
        case 1:
        case 2: /* open */
            if (margin_position_open(e, acct, mkt, (y & 0x80) ? MARGIN_SHORT : MARGIN_LONG,
                                     step * (int64_t)(1 + x % 50) * (ps >= 10 ? 100000 : 1),
                                     mark, (int64_t)(1 + op / 12 % 20) * 5 * ONE, 0,
                                     mode == MARGIN_MODE_CROSS ? MARGIN_FLAG_CROSS : 0u,
                                     &id) == MARGIN_OK &&
                npos < 64)
                ids[npos++] = id;
            break;
        case 3:
        case 4: /* a mark move of up to +-12.7 % (liquidations, margin calls, stops) */
            (void)margin_mark_update(e, mkt,
                                     (mark + mark * ((int64_t)(y % 255) - 127) / 1000) / tick *
                                             tick +
                                         tick);
            break;
        case 5:
            (void)margin_funding_apply(e, mkt, ((int64_t)(y % 201) - 100) * 10000, mark);
            break;
        case 6:
            (void)margin_position_close(e, pos, mark, 0);
            break;
        case 7:
            (void)margin_position_trade(e, pos, (y & 1) ? MARGIN_SHORT : MARGIN_LONG,
                                        step * (int64_t)(1 + y % 20), mark, 0);
            break;
        case 8:
            (void)margin_position_set_stops(e, pos, (y & 1) ? mark - mark / 20 : 0,
                                            (y & 2) ? mark + mark / 20 : 0);
            break;
        case 9:
            (void)margin_position_add_margin(e, pos, (int64_t)(1 + y) * ONE);
            (void)margin_position_remove_margin(e, pos, (int64_t)(1 + x) * ONE / 4);
            break;
        case 10:
            (void)margin_account_withdraw(e, acct, (int64_t)(1 + y) * ONE);
            (void)margin_engine_set(e, MARGIN_ENG_TIME, (int64_t)(op * 1000 + y));
            break;
        default:
            drain(e, (y & 1) != 0);
            break;
        }
    }
    if ((h & 0x0F) == 0x0F) { /* rarely: a whole block of 1024 closed positions retires */
        uint64_t mkt = 1, acct = 1, id = 0;
        int64_t mark = 0, step = 1;
        (void)margin_market_get(e, mkt, MARGIN_MKT_MARK, &mark);
        (void)margin_market_get(e, mkt, MARGIN_MKT_STEP, &step);
        (void)margin_engine_set(e, MARGIN_ENG_RETAIN_CLOSED, 2);
        (void)margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0);
        for (i = 0; i < 1100; i++)
            if (margin_position_open(e, acct, mkt, MARGIN_LONG, step, mark, 10 * ONE, 0, 0,
                                     &id) == MARGIN_OK)
                (void)margin_position_close(e, id, mark, 0);
        (void)margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 1);
        (void)margin_account_deposit(e, acct, ONE);
    }
    drain(e, 0); /* a current event, and maybe more queued */
    return e;
}

/* ------------------------------------------------------------------ mutations */
static sw_field fields[MAX_FIELDS];

/* the section whose payload holds offset off, found through the section heads; -1 if
 * none (or the heads no longer chain) */
static long section_head_of(const uint8_t *b, size_t n, size_t off)
{
    size_t at = 32;
    int s;
    for (s = 0; s < 5 && at + 16 <= n; s++) {
        uint64_t plen = sw_get(b + at + 8, 8);
        if (plen > n - at - 16)
            return -1;
        if (off >= at + 16 && off <= at + 16 + plen)
            return (long)at;
        at += 16 + (size_t)plen;
    }
    return -1;
}

static uint64_t edge_value(int size, uint64_t cur, uint64_t sel, input *in)
{
    uint64_t top = size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * size)) - 1;
    uint64_t smax = top >> 1;
    switch (sel % 12) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return top; /* -1 */
    case 3:
        return smax; /* INT_MAX of the size */
    case 4:
        return smax + 1; /* INT_MIN */
    case 5:
        return cur + 1;
    case 6:
        return cur - 1;
    case 7:
        return cur * 2;
    case 8:
        return cur / 2;
    case 9:
        return (uint64_t)ONE; /* 1 at the rate scale, and 1e8 */
    case 10:
        return cur + (uint64_t)(int64_t)(int8_t)take(in, 1);
    default:
        return take(in, size > 8 ? 8 : size);
    }
}

/* Apply the input's mutations to b (n bytes, room for MAX_SNAPSHOT); returns the new
 * length. fields[0..nf) are the base snapshot's fields (their offsets go stale after an
 * insertion or deletion, which is fine). */
static size_t mutate(uint8_t *b, size_t n, size_t nf, input *in)
{
    int count = (int)(take(in, 1) % 9), i;
    for (i = 0; i < count && in->n > 0; i++) {
        uint64_t kind = take(in, 1), sel = take(in, 2);
        size_t off = n ? (size_t)(sel % n) : 0;
        const sw_field *f = nf ? &fields[sel % nf] : NULL;
        switch (kind % 10) {
        case 0:
        case 1:
        case 2: /* a field to an edge value */
            if (f != NULL && f->size <= 8 && f->off + f->size <= n)
                sw_put(b + f->off, edge_value(f->size, sw_get(b + f->off, f->size), kind / 10, in),
                       f->size);
            break;
        case 3: { /* a field to another field's value */
            const sw_field *g = nf ? &fields[take(in, 2) % nf] : NULL;
            if (f != NULL && g != NULL && f->size <= 8 && g->size <= 8 &&
                f->off + f->size <= n && g->off + g->size <= n)
                sw_put(b + f->off, sw_get(b + g->off, g->size), f->size);
            break;
        }
        case 4: { /* a section's count or length moved a little */
            size_t k, heads = 0;
            for (k = 0; k < nf; k++)
                heads += fields[k].sec == SW_HEAD;
            if (heads > 0) {
                size_t pick = sel % heads;
                for (k = 0; k < nf; k++)
                    if (fields[k].sec == SW_HEAD && pick-- == 0)
                        break;
                if (fields[k].off + fields[k].size <= n)
                    sw_put(b + fields[k].off,
                           sw_get(b + fields[k].off, fields[k].size) +
                               (uint64_t)(int64_t)(int8_t)take(in, 1),
                           fields[k].size);
            }
            break;
        }
        case 5: /* a bit */
            if (n)
                b[off] ^= (uint8_t)(1u << (kind / 10 % 8));
            break;
        case 6: /* a byte */
            if (n)
                b[off] = (uint8_t)take(in, 1);
            break;
        case 7: { /* insert k bytes (zeros or input), keeping the section's length right or not */
            size_t k = 1 + (size_t)(kind / 10 % 24);
            long head = section_head_of(b, n, off);
            if (n + k > MAX_SNAPSHOT)
                break;
            memmove(b + off + k, b + off, n - off);
            if (kind & 0x80)
                memset(b + off, 0, k);
            else
                while (k > 0 && in->n > 0)
                    b[off + --k] = (uint8_t)take(in, 1);
            k = 1 + (size_t)(kind / 10 % 24);
            n += k;
            if ((kind & 0x40) && head >= 0)
                sw_put(b + head + 8, sw_get(b + head + 8, 8) + k, 8);
            break;
        }
        case 8: { /* delete k bytes, keeping the section's length right or not */
            size_t k = 1 + (size_t)(kind / 10 % 24);
            long head = section_head_of(b, n, off);
            if (off + k > n)
                k = n - off;
            memmove(b + off, b + off + k, n - off - k);
            n -= k;
            if ((kind & 0x40) && head >= 0 && (size_t)head + 16 <= n)
                sw_put(b + head + 8, sw_get(b + head + 8, 8) - k, 8);
            break;
        }
        default: /* cut */
            n = off;
            break;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ after the load */
/* Drive an engine a little; its ledgers must still balance, and its own snapshot load. */
static void exercise(margin_engine *e)
{
    uint64_t *ids, mkt, acct, id;
    size_t np = 0, i, n = 0;
    int k;
    int64_t v = 0;
    uint8_t *b;
    margin_engine *t;
    for (mkt = 1; mkt <= 40; mkt++) {
        int64_t mark = 0, tick = 1, maxp = 0, w = 0;
        if (margin_market_get(e, mkt, MARGIN_MKT_MARK, &mark) != MARGIN_OK)
            break;
        (void)margin_market_get(e, mkt, MARGIN_MKT_TICK, &tick);
        (void)margin_market_get(e, mkt, MARGIN_MKT_MAX_PRICE, &maxp);
        for (k = MARGIN_MKT_PRICE_SCALE; k <= MARGIN_MKT_MAX_PRICE; k++)
            (void)margin_market_get(e, mkt, k, &w);
        (void)margin_market_tier_for(e, mkt, 1000 * ONE, &v, &w);
        if (mark <= 0)
            mark = tick;
        (void)margin_mark_update(e, mkt, mark);
        (void)margin_mark_update(e, mkt, mark > tick ? mark - tick : mark + tick);
        (void)margin_mark_update(e, mkt, mark / 2 > tick ? mark / 2 / tick * tick : tick);
        (void)margin_funding_apply(e, mkt, 100000, mark);
        (void)margin_mark_update(e, mkt, maxp > 0 ? maxp / tick * tick : mark);
        (void)margin_funding_apply(e, mkt, -99999999, mark);
        (void)margin_mark_update(e, mkt, mark);
    }
    check(margin_positions(e, MARGIN_STATUS_ANY, NULL, 0, &np) == MARGIN_OK);
    ids = malloc((np + 1) * sizeof *ids);
    check(ids != NULL);
    check(margin_positions(e, MARGIN_STATUS_ANY, ids, np, &n) == MARGIN_OK && n == np);
    for (i = 0; i < np && i < 64; i++) {
        int64_t mkt_of = 0, mark = 0;
        for (k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_MODE; k++)
            (void)margin_position_get(e, ids[i], k, &v);
        for (k = MARGIN_AT_NOTIONAL; k <= MARGIN_AT_MARGIN_CALL_PRICE; k++)
            (void)margin_position_at(e, ids[i], k, 0, &v);
        (void)margin_position_get(e, ids[i], MARGIN_POS_MARKET, &mkt_of);
        (void)margin_market_get(e, (uint64_t)mkt_of, MARGIN_MKT_MARK, &mark);
        if (i % 2 == 0)
            (void)margin_position_close(e, ids[i], mark, 0);
        else
            (void)margin_position_set_leverage(e, ids[i], 2 * ONE);
    }
    free(ids);
    for (acct = 1; acct <= 40; acct++) {
        int64_t a[MARGIN_ACCT_CROSS_POSITIONS + 1];
        memset(a, 0, sizeof a);
        if (margin_account_get(e, acct, MARGIN_ACCT_FREE_BALANCE, &a[1]) != MARGIN_OK)
            break;
        (void)margin_account_deposit(e, acct, 1);
        (void)margin_account_withdraw(e, acct, 1);
        for (k = 1; k <= MARGIN_ACCT_CROSS_POSITIONS; k++)
            if (margin_account_get(e, acct, k, &a[k]) != MARGIN_OK)
                a[k] = 0;
        check((i128)a[MARGIN_ACCT_FREE_BALANCE] + a[MARGIN_ACCT_ISOLATED_MARGIN] ==
              (i128)a[MARGIN_ACCT_DEPOSITS] - a[MARGIN_ACCT_WITHDRAWALS] +
                  a[MARGIN_ACCT_REALIZED_PNL] - a[MARGIN_ACCT_FEES] + a[MARGIN_ACCT_FUNDING]);
    }
    for (k = MARGIN_ENG_TIME; k <= MARGIN_ENG_RETAIN_CLOSED; k++)
        (void)margin_engine_get(e, k, &v);
    (void)margin_positions(e, MARGIN_STATUS_OPEN, NULL, 0, &np);
    drain(e, 1);
    (void)margin_account_new(e, &id);
    /* what the engine made of it, it loads back */
    b = save(e, &n);
    t = new_engine();
    k = margin_snapshot_load(t, b, n);
    DBG("exercised engine's snapshot (%zu bytes) loads: %d %s\n", n, k,
        k ? margin_errmsg(t) : "");
    check(k == MARGIN_OK);
    margin_engine_free(t);
    free(b);
}

/* As margin_engine_new() makes it, seen through the API: no market, no account (every
 * position has one), no event ever produced or queued. */
static int is_empty(const margin_engine *e)
{
    int64_t v = 0, seq = 0, pending = 0;
    return margin_market_get(e, 1, MARGIN_MKT_TICK, &v) == MARGIN_ENOTFOUND &&
           margin_account_get(e, 1, MARGIN_ACCT_DEPOSITS, &v) == MARGIN_ENOTFOUND &&
           margin_engine_get(e, MARGIN_ENG_LAST_SEQ, &seq) == MARGIN_OK && seq == 0 &&
           margin_engine_get(e, MARGIN_ENG_EVENTS_PENDING, &pending) == MARGIN_OK &&
           pending == 0;
}

/* ------------------------------------------------------------------ the harness */
static uint8_t *empty_snap, *base_default;
static size_t empty_len, base_default_len;

static void once(void)
{
    static const uint8_t script[] = {0x2d, 0x01, 0x00, 0x41, 0x93, 0xe5, 0x17, 20,
                                     0, 5, 9, 1, 7, 0x83, 3, 3, 200, 2, 1, 17,
                                     8, 0, 3, 5, 2, 50, 4, 1, 2, 11, 0, 0};
    margin_engine *e;
    input in;
    if (empty_snap != NULL)
        return;
    e = new_engine();
    empty_snap = save(e, &empty_len);
    margin_engine_free(e);
    in.p = script;
    in.n = sizeof script;
    e = build(&in);
    base_default = save(e, &base_default_len);
    margin_engine_free(e);
    check(M.live == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_SNAPSHOT];
    input in;
    int mode, rc;
    size_t n = 0, base_len = 0, nf = 0;
    uint8_t *base = NULL, *out;
    long live_before;
    margin_engine *e;

    once();
    if (size < 1)
        return 0;
    mode = data[0] % 4;
    in.p = data + 1;
    in.n = size - 1;
    if (mode <= 1) {
        n = in.n < MAX_SNAPSHOT ? in.n : MAX_SNAPSHOT;
        memcpy(buf, in.p, n);
        if (mode == 1)
            sw_seal(buf, n, 1, 1);
    } else {
        /* the script: its length, then its bytes; the rest are the mutations */
        size_t len = (size_t)take(&in, 1) % 64;
        input script;
        script.p = in.p;
        script.n = len < in.n ? len : in.n;
        in.p += script.n;
        in.n -= script.n;
        e = build(&script);
        base = save(e, &base_len);
        margin_engine_free(e);
        check(M.live == 0);
        check(base_len <= MAX_SNAPSHOT);
        nf = sw_walk(base, base_len, fields, MAX_FIELDS);
        check(nf > 0); /* the engine writes what docs/snapshot.md says */
        memcpy(buf, base, base_len);
        n = mutate(buf, base_len, nf, &in);
        if (mode == 3 || (take(&in, 1) & 1))
            sw_seal(buf, n, 1, 1);
    }
    if (base == NULL) {
        base = malloc(base_default_len);
        check(base != NULL);
        memcpy(base, base_default, base_default_len);
        base_len = base_default_len;
    }

#ifdef FUZZ_DEBUG
    if (getenv("FUZZ_DUMP") != NULL) { /* the snapshot as loaded, to FUZZ_DUMP */
        FILE *f = fopen(getenv("FUZZ_DUMP"), "wb");
        if (f != NULL) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
    }
#endif
    e = new_engine();
    live_before = M.live;
    M.limit = ((size_t)4 << 20) + 4096 * n;
    rc = margin_snapshot_load(e, buf, n);
    M.limit = 0;
    DBG("mode %d: %zu bytes: load -> %d %s\n", mode, n, rc, rc ? margin_errmsg(e) : "");
    /* the engine's own snapshot, unchanged, always loads */
    check(rc == MARGIN_OK || mode <= 1 || n != base_len || memcmp(buf, base, n) != 0);
    if (rc != MARGIN_OK) {
        size_t len = 0;
        check(rc == MARGIN_EMAGIC || rc == MARGIN_EVERSION || rc == MARGIN_ETRUNCATED ||
              rc == MARGIN_ECHECKSUM || rc == MARGIN_ECORRUPT || rc == MARGIN_ENOMEM);
        check(margin_errcode(e) == rc);
        check(margin_errmsg(e)[0] != '\0');
        /* empty, as it was, and usable */
        check(M.live == live_before);
        out = save(e, &len);
        check(len == empty_len && memcmp(out, empty_snap, len) == 0);
        free(out);
        rc = margin_snapshot_load(e, base, base_len);
        DBG("then the valid snapshot: %d %s\n", rc, rc ? margin_errmsg(e) : "");
        check(rc == MARGIN_OK);
        exercise(e);
    } else {
        size_t len = 0, len2 = 0;
        uint64_t h1 = 0, h2 = 0;
        uint8_t *again;
        margin_engine *e2 = new_engine();
        long live_e2 = M.live;
        /* the very bytes it loaded (with -DFUZZ_LENIENT: only the bytes of the second
         * save below, to look past a known finding of that kind) */
        out = save(e, &len);
        if (len != n || memcmp(out, buf, n) != 0) {
            size_t i = 0, k, nfo = sw_walk(out, len, fields, MAX_FIELDS);
            while (i < len && i < n && out[i] == buf[i])
                i++;
            DBG("accepted %zu bytes, saves %zu bytes: first difference at offset %zu\n", n,
                len, i);
            for (k = 0; k < nfo; k++)
                if (fields[k].off <= i && i < fields[k].off + fields[k].size) {
                    DBG("the field at %u: section %d role %d, %d bytes: loaded %llx, saved "
                        "%llx\n",
                        fields[k].off, fields[k].sec, fields[k].role, fields[k].size,
                        (unsigned long long)sw_get(buf + fields[k].off, fields[k].size),
                        (unsigned long long)sw_get(out + fields[k].off, fields[k].size));
                    break;
                }
        }
#ifndef FUZZ_LENIENT
        /* (an older format version loads, and saves in this version's format) */
        if (sw_get(buf + 8, 4) == MARGIN_SNAPSHOT_VERSION)
            check(len == n && memcmp(out, buf, n) == 0);
#endif
        /* a second engine loads them the same */
        check(margin_snapshot_load(e2, out, len) == MARGIN_OK);
        again = save(e2, &len2);
        check(len2 == len && memcmp(again, out, len) == 0);
        check(margin_state_hash(e, &h1) == MARGIN_OK);
        check(margin_state_hash(e2, &h2) == MARGIN_OK && h1 == h2);
        free(again);
        /* not into a non-empty engine, and that changes nothing */
        if (!is_empty(e2)) {
            live_e2 = M.live;
            check(margin_snapshot_load(e2, base, base_len) == MARGIN_ESTATE);
            check(M.live == live_e2);
            again = save(e2, &len2);
            check(len2 == len && memcmp(again, out, len) == 0);
            free(again);
        }
        margin_engine_free(e2);
        free(out);
        exercise(e);
    }
    margin_engine_free(e);
    check(M.live == 0);
    free(base);
    return 0;
}
