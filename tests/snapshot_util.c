#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "snapshot_util.h"

/* ------------------------------------------------------------------ snapshots */

uint8_t *su_save(const margin_engine *e, size_t *len)
{
    size_t n = 0, n2 = 0;
    uint8_t *buf;
    int rc = margin_snapshot_save(e, NULL, 0, &n);
    if (rc != MARGIN_OK || n == 0)
        ck_abort_msg("snapshot size query: %d (%s) %zu bytes", rc, margin_errmsg(e), n);
    buf = malloc(n);
    if (buf == NULL)
        ck_abort_msg("out of memory for a %zu-byte snapshot", n);
    rc = margin_snapshot_save(e, buf, n, &n2);
    if (rc != MARGIN_OK || n2 != n)
        ck_abort_msg("snapshot save: %d (%s), %zu bytes where the size query said %zu", rc,
                     margin_errmsg(e), n2, n);
    *len = n;
    return buf;
}

margin_engine *su_load(const void *buf, size_t len)
{
    margin_engine *t = NULL;
    int rc;
    if (margin_engine_new(&t) != MARGIN_OK)
        ck_abort_msg("margin_engine_new failed");
    rc = margin_snapshot_load(t, buf, len);
    if (rc != MARGIN_OK)
        ck_abort_msg("snapshot load: %d (%s)", rc, margin_errmsg(t));
    return t;
}

long su_bytes_diff(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb, i;
    for (i = 0; i < n; i++)
        if (a[i] != b[i])
            return (long)i;
    return na == nb ? -1 : (long)n;
}

uint64_t su_hash(const margin_engine *e)
{
    uint64_t h = 0;
    int rc = margin_state_hash(e, &h);
    if (rc != MARGIN_OK)
        ck_abort_msg("margin_state_hash: %d (%s)", rc, margin_errmsg(e));
    return h;
}

void su_require_same(const margin_engine *a, const margin_engine *b, const char *what)
{
    size_t na, nb;
    uint8_t *sa = su_save(a, &na), *sb = su_save(b, &nb);
    long d = su_bytes_diff(sa, na, sb, nb);
    uint64_t ha = su_hash(a), hb = su_hash(b);
    if (d >= 0) {
        int va = (size_t)d < na ? sa[d] : -1, vb = (size_t)d < nb ? sb[d] : -1;
        free(sa);
        free(sb);
        ck_abort_msg("%s: snapshots differ at byte %ld of %zu/%zu (%d vs %d)", what, d, na, nb,
                     va, vb);
    }
    free(sa);
    free(sb);
    if (ha != hb)
        ck_abort_msg("%s: identical snapshots, different state hashes %016" PRIx64
                     " and %016" PRIx64,
                     what, ha, hb);
}

margin_engine *su_clone(const margin_engine *e, const char *what)
{
    size_t n;
    uint8_t *buf = su_save(e, &n);
    margin_engine *t = su_load(buf, n);
    free(buf);
    su_require_same(e, t, what);
    return t;
}

/* ------------------------------------------------------------------ events */

size_t su_drain(margin_engine *e, su_event *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        int32_t t = -1;
        int rc = margin_event_next(e, &t);
        if (rc != MARGIN_OK)
            ck_abort_msg("margin_event_next: %d (%s)", rc, margin_errmsg(e));
        if (t == MARGIN_EV_NONE)
            return n;
        if (n >= max)
            ck_abort_msg("more than %zu events queued", max);
        rc = margin_event_fields(e, out[n].f, SU_NF);
        if (rc != MARGIN_OK || out[n].f[MARGIN_EVF_TYPE] != t)
            ck_abort_msg("margin_event_fields: %d (%s)", rc, margin_errmsg(e));
        out[n].f[0] = 0;
        n++;
    }
}

#define SU_MAXEV 4096

size_t su_drain_same(margin_engine *a, margin_engine *b, const char *what)
{
    su_event *ea = malloc(SU_MAXEV * sizeof *ea), *eb = malloc(SU_MAXEV * sizeof *eb);
    size_t na, nb, i;
    int k;
    if (ea == NULL || eb == NULL)
        ck_abort_msg("out of memory");
    na = su_drain(a, ea, SU_MAXEV);
    nb = su_drain(b, eb, SU_MAXEV);
    if (na != nb) {
        free(ea);
        free(eb);
        ck_abort_msg("%s: %zu events vs %zu", what, na, nb);
    }
    for (i = 0; i < na; i++)
        for (k = 1; k < SU_NF; k++)
            if (ea[i].f[k] != eb[i].f[k]) {
                long long x = ea[i].f[k], y = eb[i].f[k], t = ea[i].f[MARGIN_EVF_TYPE];
                free(ea);
                free(eb);
                ck_abort_msg("%s: event %zu (type %lld) field %d: %lld vs %lld", what, i, t, k,
                             x, y);
            }
    free(ea);
    free(eb);
    return na;
}

/* ------------------------------------------------------------------ twins */

int su_twin_maybe_start(su_twin *t, const margin_engine *src, unsigned one_in, int window,
                        const char *ctx)
{
    if (t->e != NULL || splitmix64(&t->rng) % one_in != 0)
        return 0;
    t->e = su_clone(src, ctx);
    t->left = window;
    t->started++;
    return 1;
}

int su_twin_step(su_twin *t, const margin_engine *src, int64_t time, unsigned one_in,
                 int window, const char *ctx)
{
    int rc;
    if (t->e == NULL) {
        su_twin_maybe_start(t, src, one_in, window, ctx);
        return 0;
    }
    if ((rc = margin_engine_set(t->e, MARGIN_ENG_TIME, time)) != MARGIN_OK)
        ck_abort_msg("%stwin: setting the time: %d", ctx, rc);
    return 1;
}

void su_twin_result(int rc2, uint64_t id2, int rc1, uint64_t id1, const char *ctx)
{
    if (rc2 != rc1 || id2 != id1)
        ck_abort_msg("%stwin: status %d, id %" PRIu64 "; the original %d, %" PRIu64, ctx, rc2,
                     id2, rc1, id1);
}

void su_twin_call(su_twin *t, const margin_engine *src, int64_t time, unsigned one_in,
                  int window, su_call_fn call, const void *op, int rc1, uint64_t id1,
                  const char *ctx)
{
    uint64_t id2 = 0;
    int rc2;
    if (!su_twin_step(t, src, time, one_in, window, ctx))
        return;
    rc2 = call(t->e, op, &id2);
    su_twin_result(rc2, id2, rc1, id1, ctx);
}

const char *su_ctx(uint64_t seed, int step, const char *op)
{
    static char ctx[128];
    snprintf(ctx, sizeof ctx, "seed %" PRIu64 " step %d (%s): ", seed, step, op);
    return ctx;
}

void su_twin_events(su_twin *t, const int64_t *ev, size_t stride, size_t n, int nf,
                    const char *ctx)
{
    static su_event got[SU_MAXEV];
    size_t m, i;
    int f;
    if (t->e == NULL)
        return;
    m = su_drain(t->e, got, SU_MAXEV);
    if (m != n)
        ck_abort_msg("%stwin: %zu events, the original %zu", ctx, m, n);
    for (i = 0; i < n; i++)
        for (f = 1; f < nf && f < SU_NF; f++)
            if (got[i].f[f] != ev[i * stride + (size_t)f])
                ck_abort_msg("%stwin: event %zu (type %lld) field %d: %lld, the original %lld",
                             ctx, i, (long long)got[i].f[MARGIN_EVF_TYPE], f,
                             (long long)got[i].f[f], (long long)ev[i * stride + (size_t)f]);
}

void su_twin_end_step(su_twin *t, margin_engine **orig, const char *ctx)
{
    if (t->e == NULL)
        return;
    if (--t->left > 0) {
        /* every fourth step (a hash costs a pass over the state) */
        if (t->left % 4 == 0 && su_hash(t->e) != su_hash(*orig))
            su_require_same(*orig, t->e, ctx); /* says where the bytes differ */
        return;
    }
    su_require_same(*orig, t->e, ctx);
    margin_engine_free(*orig);
    *orig = t->e;
    t->e = NULL;
}

/* ------------------------------------------------------------------ every getter */

/* tags: kind * 10^12 + id * 10^4 + key */
enum { T_ENG = 1, T_LEVELS, T_EVENT, T_MKT, T_TIER, T_TIER_FOR, T_MKT_LIST, T_ACCT, T_MODE,
       T_ACCT_LIST, T_POS, T_POS_AT, T_LIST };

static void obs_put(su_obs *o, int kind, uint64_t id, int64_t key, int rc, int64_t v)
{
    if (o->n + 2 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        int64_t *nv = realloc(o->v, cap * sizeof *nv), *nt;
        if (nv == NULL)
            ck_abort_msg("out of memory");
        o->v = nv;
        nt = realloc(o->tag, cap * sizeof *nt);
        if (nt == NULL)
            ck_abort_msg("out of memory");
        o->tag = nt;
        o->cap = cap;
    }
    o->tag[o->n] = o->tag[o->n + 1] = (int64_t)kind * 1000000000000LL + (int64_t)id * 10000 + key;
    o->v[o->n++] = rc;
    o->v[o->n++] = rc == MARGIN_OK ? v : 0;
}

static const int32_t STATUSES[] = {MARGIN_STATUS_OPEN, MARGIN_STATUS_CLOSED,
                                   MARGIN_STATUS_LIQUIDATED, MARGIN_STATUS_ANY};

/* A listing: its status, its count, and its ids. */
static void obs_list(su_obs *o, int kind, uint64_t id, int si, int rc, const uint64_t *ids,
                     size_t n)
{
    size_t i;
    obs_put(o, kind, id, si, rc, (int64_t)n);
    if (rc == MARGIN_OK)
        for (i = 0; i < n; i++)
            obs_put(o, kind, id, si, MARGIN_OK, (int64_t)ids[i]);
}

void su_observe(const margin_engine *e, su_obs *o)
{
    int64_t v = 0, lv[8], f[SU_NF + 2];
    size_t nl = 0, npos = 0, n, i;
    uint64_t nmkt = 0, nacct = 0, id, *ids, maxid = 0;
    int32_t k;
    int rc, si;
    o->n = 0;
#define SU_ENG_LAST MARGIN_ENG_INSURANCE_DEPOSITS
    for (k = MARGIN_ENG_TIME; k <= SU_ENG_LAST; k++) {
        rc = margin_engine_get(e, k, &v);
        obs_put(o, T_ENG, 0, k, rc, v);
    }
    memset(lv, 0, sizeof lv);
    rc = margin_engine_margin_call_levels(e, lv, 8, &nl);
    obs_put(o, T_LEVELS, 0, 0, rc, (int64_t)nl);
    for (i = 0; i < 8; i++)
        obs_put(o, T_LEVELS, 0, (int64_t)i + 1, MARGIN_OK, lv[i]);
    memset(f, 0, sizeof f);
    rc = margin_event_fields(e, f, SU_NF + 2); /* two more than this version knows: 0 */
    for (i = 0; i < SU_NF + 2; i++)
        obs_put(o, T_EVENT, 0, (int64_t)i, rc, f[i]);
    while (margin_market_get(e, nmkt + 1, MARGIN_MKT_MARK, &v) == MARGIN_OK)
        nmkt++;
    while (margin_account_get(e, nacct + 1, MARGIN_ACCT_DEPOSITS, &v) == MARGIN_OK)
        nacct++;
    rc = margin_positions(e, MARGIN_STATUS_ANY, NULL, 0, &npos);
    if (rc != MARGIN_OK)
        ck_abort_msg("margin_positions: %d (%s)", rc, margin_errmsg(e));
    obs_put(o, T_ENG, 0, 100, MARGIN_OK, (int64_t)nmkt);
    obs_put(o, T_ENG, 0, 101, MARGIN_OK, (int64_t)nacct);
    ids = malloc((npos + 1) * sizeof *ids);
    if (ids == NULL)
        ck_abort_msg("out of memory");
    for (si = 0; si < 4; si++) {
        rc = margin_positions(e, STATUSES[si], ids, npos + 1, &n);
        obs_list(o, T_LIST, 0, si, rc, ids, n);
    }
    if (rc == MARGIN_OK && n > 0)
        maxid = ids[n - 1]; /* the last id of every status: retired ids below it answer
                             * MARGIN_ENOTFOUND, and so does the next id */
    for (id = 1; id <= nmkt; id++) {
        char sym[32];
        int64_t ntiers = 0, t[4];
        uint64_t found = 0;
        memset(sym, 0, sizeof sym);
        rc = margin_market_symbol(e, id, sym, sizeof sym);
        for (i = 0; i < sizeof sym; i += 8) {
            int64_t w = 0;
            memcpy(&w, sym + i, 8);
            obs_put(o, T_MKT, id, 100 + (int64_t)i, rc, w);
        }
        rc = margin_market_find(e, sym, &found);
        obs_put(o, T_MKT, id, 99, rc, (int64_t)found);
        for (k = MARGIN_MKT_PRICE_SCALE; k <= MARGIN_MKT_MIN_PRICE; k++) {
            rc = margin_market_get(e, id, k, &v);
            obs_put(o, T_MKT, id, k, rc, v);
            if (k == MARGIN_MKT_TIER_COUNT && rc == MARGIN_OK)
                ntiers = v;
        }
        for (i = 0; i < (size_t)ntiers; i++) {
            rc = margin_market_tier(e, id, (uint32_t)i, &t[0], &t[1], &t[2], &t[3]);
            for (k = 0; k < 4; k++)
                obs_put(o, T_TIER, id, (int64_t)i * 4 + k, rc, t[k]);
            /* the tier of its own floor and of one unit below it */
            if (rc == MARGIN_OK) {
                int64_t mmr = 0, amt = 0;
                rc = margin_market_tier_for(e, id, t[0], &mmr, &amt);
                obs_put(o, T_TIER_FOR, id, (int64_t)i * 4, rc, mmr);
                obs_put(o, T_TIER_FOR, id, (int64_t)i * 4 + 1, rc, amt);
                rc = margin_market_tier_for(e, id, t[0] > 0 ? t[0] - 1 : 0, &mmr, &amt);
                obs_put(o, T_TIER_FOR, id, (int64_t)i * 4 + 2, rc, mmr);
                obs_put(o, T_TIER_FOR, id, (int64_t)i * 4 + 3, rc, amt);
            }
        }
        for (si = 0; si < 4; si++) {
            rc = margin_market_positions(e, id, STATUSES[si], ids, npos + 1, &n);
            obs_list(o, T_MKT_LIST, id, si, rc, ids, n);
        }
    }
    for (id = 1; id <= nacct; id++) {
        uint64_t m;
        for (k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_CROSS_POSITIONS; k++) {
            rc = margin_account_get(e, id, k, &v);
            obs_put(o, T_ACCT, id, k, rc, v);
        }
        for (m = 1; m <= nmkt; m++) {
            int32_t mode = -1;
            rc = margin_account_mode(e, id, m, &mode);
            obs_put(o, T_MODE, id, (int64_t)m, rc, mode);
        }
        for (si = 0; si < 4; si++) {
            rc = margin_account_positions(e, id, STATUSES[si], ids, npos + 1, &n);
            obs_list(o, T_ACCT_LIST, id, si, rc, ids, n);
        }
    }
    free(ids);
    for (id = 1; id <= maxid + 1; id++) {
        for (k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_ADL_QUANTILE; k++) {
            rc = margin_position_get(e, id, k, &v);
            obs_put(o, T_POS, id, k, rc, v);
        }
        for (k = MARGIN_AT_NOTIONAL; k <= MARGIN_AT_MARGIN_CALL_PRICE; k++) {
            rc = margin_position_at(e, id, k, 0, &v);
            obs_put(o, T_POS_AT, id, k, rc, v);
        }
    }
}

void su_obs_free(su_obs *o)
{
    free(o->v);
    free(o->tag);
    memset(o, 0, sizeof *o);
}

void su_require_same_state(const margin_engine *a, const margin_engine *b, const char *what)
{
    su_obs x = {0}, y = {0};
    su_observe(a, &x);
    su_observe(b, &y);
    su_obs_require_same(&x, &y, what);
    su_require_same(a, b, what);
    su_obs_free(&x);
    su_obs_free(&y);
}

void su_obs_require_same(const su_obs *a, const su_obs *b, const char *what)
{
    static const char *const kinds[] = {"?",       "engine key",    "level",   "event field",
                                        "market",  "tier",          "tier_for", "market list",
                                        "account", "account mode",  "account list",
                                        "position", "position_at",  "engine list"};
    size_t n = a->n < b->n ? a->n : b->n, i;
    for (i = 0; i < n; i++)
        if (a->v[i] != b->v[i] || a->tag[i] != b->tag[i]) {
            int64_t t = a->tag[i];
            int kind = (int)(t / 1000000000000LL);
            ck_abort_msg("%s: getters differ: %s, id %lld, key %lld: %s %lld vs %lld", what,
                         kind >= 1 && kind <= T_LIST ? kinds[kind] : "?",
                         (long long)(t % 1000000000000LL / 10000), (long long)(t % 10000),
                         i % 2 == 0 ? "status" : "value", (long long)a->v[i],
                         (long long)b->v[i]);
        }
    if (a->n != b->n)
        ck_abort_msg("%s: %zu getters vs %zu", what, a->n, b->n);
}

/* ------------------------------------------------------------------ counting allocator */

/* Count an allocation; 1 when it is to fail. */
static int su_refuse(su_alloc *a)
{
    a->count++;
    if (a->fail_at != 0 && (a->count == a->fail_at || (a->persistent && a->count > a->fail_at))) {
        a->failures++;
        return 1;
    }
    return 0;
}

void *su_malloc(void *user, size_t n)
{
    su_alloc *a = user;
    void *p;
    if (su_refuse(a))
        return NULL;
    p = malloc(n);
    if (p != NULL)
        a->live++;
    return p;
}

void *su_realloc(void *user, void *p, size_t n)
{
    su_alloc *a = user;
    void *q;
    if (su_refuse(a))
        return NULL;
    q = realloc(p, n);
    if (q != NULL && p == NULL)
        a->live++;
    return q;
}

void su_free(void *user, void *p)
{
    su_alloc *a = user;
    if (p != NULL) {
        a->live--;
        free(p);
    }
}

/* ------------------------------------------------------------------ the scenario */

/* Units: BTCUSDT (market 1) prices and quantities at scale 8; ETHUSDT (2) prices at
 * scale 2, quantities at 3; SOLUSDT (3) prices at 4, quantities at 2; money and rates at 8. */
#define BP(s) DS(s, 8)
#define BQ(s) DS(s, 8)
#define EP(s) DS(s, 2)
#define EQ(s) DS(s, 3)
#define SP(s) DS(s, 4)
#define SQ(s) DS(s, 2)

enum { BTC = 1, ETH, SOL };

/* What each step does and why (figures rounded here; the engine's are exact):
 *  0-21  markets, tiers, options, engine levels {0.5, 0.8, 0.9}, band 0.05, cap 10000
 *  22-36 accounts 1-5, deposits, a withdrawal, cross modes (3: SOL; 4: SOL and ETH; 5: SOL)
 *  37-47 P1 A1 long 1 BTC @20000 10x (stops 15000/30000); P2 A1 short 0.5 @20000 50x;
 *        P3 A2 long 0.1 @20000 100x (LP ~19879.5); P4 A2 long 2 ETH @1500 20x maker;
 *        P5 A2 short 1 ETH @1500 with margin 200 at 10x; P6 A3 cross long 1000 SOL @20 10x;
 *        P7/P8 A4 cross hedge legs long/short 100 SOL @20 10x; P9 A4 cross long 1 ETH
 *        @1500 10x; P10 A3 isolated long 0.01 BTC @20000 5x
 *  48-53 P1 increased and reduced, margin added and removed; P2 flipped to long 0.5 at
 *        19900 and its leverage changed to 20x
 *  54-61 BTC funding; mark 19950: P3's level 0.5 fires; A4 withdraws 1400; P2's stop
 *        19500; mark 19850: P3 liquidated; mark 19400: P2 stopped out; P11 A1 long 0.2 BTC
 *        @19400 50x; mark 19150: P11's level 0.5 fires (still fired at the end)
 *  62-63 SOL funding (hedge legs: net 0); mark SOL 17.2: A3 cross-liquidated (policy all),
 *        its isolated P10 untouched
 *  64-67 P12 A5 cross long 100 SOL @17.2; mark ETH 970: P4 liquidated, A4's level 0.5
 *        (account margin call); worst-first policy; mark ETH 900: A4 liquidated worst
 *        first (ETH leg, then the SOL legs), with a deficit for the insurance fund
 *  68-83 mark SOL 14.45: A5's level 0.5 fires (still fired at the end); P5 closed;
 *        new stops on P1; P13 A2 short 1 ETH @900 with stops; A4 deposits again and goes
 *        back to isolated in ETH; the time goes on; more marks and funding that change
 *        nothing but the marks.
 *  84-87 BTC's liquidation options (min-reduce, a clearance fee, stops at the trigger) and
 *        an up-down candle: P11 partly liquidated at its low (point 3)
 *  88    an adverse candle on BTC, a bar closing down (open 19070, high 19170, low 19052,
 *        close 19055): the longs walk their adverse extreme first (open, low, high,
 *        close): P11's level 0.9 fires at the low (point 2), the high re-arms its levels
 *        (band 0.05), the close fires 0.5, 0.8 and 0.9 again (point 4).
 *  89-96 insurance deposits into BTC's pool (5000) and ETH's (300); ETH's pool with ADL on
 *        and a floor of 100; SOL ranked by BitMEX's score; mark ETH 950 (P14 A4 long 0.2
 *        @905 in profit, P13 A2 short 1 @900 at a loss); the ADL quantiles of ETH (P14,
 *        alone among the longs with a score > 0: 4; P13: 0) and SOL (P12 at a loss: 0).
 *  97-99 ETH's pool, -612.35 since A4's deficit at step 67, topped up to 300; P15 A1 short
 *        10 ETH @950 with margin 199 (bankruptcy price 969.9); mark ETH 990: P15 liquidated
 *        with a deficit of 199 - 400 = -201; the pool (floor 100) may pay 200,
 *        deleveraging covers the last 1: P14 gives up 0.05 of its 0.2 (credit
 *        0.05 * (990 - 969.9) = 1.005; 0.049 would give 0.9849); the pool ends at
 *        300 - 201 + 1.005 = 100.005. */
int su_step(margin_engine *e, int i)
{
    static const int64_t levels[3] = {50000000, 80000000, 90000000};
    uint64_t id = 0;
    switch (i) {
    case 0: return margin_market_new(e, "BTCUSDT", &id);
    case 1: return margin_market_new(e, "ETHUSDT", &id);
    case 2: return margin_market_new(e, "SOLUSDT", &id);
    case 3: return margin_market_add_tier(e, BTC, 0, D("0.004"), D("125"), MARGIN_DERIVE);
    case 4: return margin_market_add_tier(e, BTC, D("50000"), D("0.005"), D("100"), MARGIN_DERIVE);
    case 5: return margin_market_add_tier(e, BTC, D("250000"), D("0.01"), D("50"), D("1400"));
    case 6: return margin_market_set(e, BTC, MARGIN_MKT_MAX_PRICE, BP("200000"));
    case 7: return margin_market_set(e, ETH, MARGIN_MKT_PRICE_SCALE, 2);
    case 8: return margin_market_set(e, ETH, MARGIN_MKT_QTY_SCALE, 3);
    case 9: return margin_market_set(e, ETH, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY);
    case 10: return margin_market_set(e, ETH, MARGIN_MKT_CLOSE_FEE, D("0.0006"));
    case 11: return margin_market_set(e, ETH, MARGIN_MKT_TAKER_FEE, D("0.0005"));
    case 12: return margin_market_set(e, ETH, MARGIN_MKT_MAKER_FEE, D("0.0001"));
    case 13: return margin_market_set(e, ETH, MARGIN_MKT_MAX_LEVERAGE, D("100"));
    case 14: return margin_market_set(e, SOL, MARGIN_MKT_PRICE_SCALE, 4);
    case 15: return margin_market_set(e, SOL, MARGIN_MKT_QTY_SCALE, 2);
    case 16: return margin_market_set(e, SOL, MARGIN_MKT_TICK, SP("0.01"));
    case 17: return margin_market_add_tier(e, SOL, 0, D("0.01"), 0, MARGIN_DERIVE);
    case 18: return margin_market_add_tier(e, SOL, D("10000"), D("0.02"), D("25"), MARGIN_DERIVE);
    case 19: return margin_engine_set_margin_call_levels(e, levels, 3);
    case 20: return margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.05"));
    case 21: return margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 10000);
    case 22: case 23: case 24: case 25: case 26: return margin_account_new(e, &id);
    case 27: return margin_account_deposit(e, 1, D("100000"));
    case 28: return margin_account_deposit(e, 2, D("50000"));
    case 29: return margin_account_withdraw(e, 2, D("1000"));
    case 30: return margin_account_deposit(e, 3, D("3000"));
    case 31: return margin_account_deposit(e, 4, D("2000"));
    case 32: return margin_account_deposit(e, 5, D("300"));
    case 33: return margin_account_set_mode(e, 3, SOL, MARGIN_MODE_CROSS);
    case 34: return margin_account_set_mode(e, 4, SOL, MARGIN_MODE_CROSS);
    case 35: return margin_account_set_mode(e, 4, ETH, MARGIN_MODE_CROSS);
    case 36: return margin_account_set_mode(e, 5, SOL, MARGIN_MODE_CROSS);
    case 37: return margin_position_open(e, 1, BTC, MARGIN_LONG, BQ("1"), BP("20000"), D("10"), 0, 0, &id);
    case 38: return margin_position_set_stops(e, 1, BP("15000"), BP("30000"));
    case 39: return margin_position_open(e, 1, BTC, MARGIN_SHORT, BQ("0.5"), BP("20000"), D("50"), 0, 0, &id);
    case 40: return margin_position_open(e, 2, BTC, MARGIN_LONG, BQ("0.1"), BP("20000"), D("100"), 0, 0, &id);
    case 41: return margin_position_open(e, 2, ETH, MARGIN_LONG, EQ("2"), EP("1500"), D("20"), 0, MARGIN_FLAG_MAKER, &id);
    case 42: return margin_position_open(e, 2, ETH, MARGIN_SHORT, EQ("1"), EP("1500"), D("10"), D("200"), 0, &id);
    case 43: return margin_position_open(e, 3, SOL, MARGIN_LONG, SQ("1000"), SP("20"), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 44: return margin_position_open(e, 4, SOL, MARGIN_LONG, SQ("100"), SP("20"), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 45: return margin_position_open(e, 4, SOL, MARGIN_SHORT, SQ("100"), SP("20"), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 46: return margin_position_open(e, 4, ETH, MARGIN_LONG, EQ("1"), EP("1500"), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 47: return margin_position_open(e, 3, BTC, MARGIN_LONG, BQ("0.01"), BP("20000"), D("5"), 0, 0, &id);
    case 48: return margin_position_trade(e, 1, MARGIN_LONG, BQ("0.5"), BP("20100"), 0);
    case 49: return margin_position_trade(e, 1, MARGIN_SHORT, BQ("0.3"), BP("20200"), MARGIN_FLAG_MAKER);
    case 50: return margin_position_add_margin(e, 1, D("100"));
    case 51: return margin_position_remove_margin(e, 1, D("50"));
    case 52: return margin_position_trade(e, 2, MARGIN_LONG, BQ("1"), BP("19900"), 0);
    case 53: return margin_position_set_leverage(e, 2, D("20"));
    case 54: return margin_funding_apply(e, BTC, D("0.0001"), BP("20000"));
    case 55: return margin_mark_update(e, BTC, BP("19950"));
    case 56: return margin_account_withdraw(e, 4, D("1400"));
    case 57: return margin_position_set_stops(e, 2, BP("19500"), 0);
    case 58: return margin_mark_update(e, BTC, BP("19850"));
    case 59: return margin_mark_update(e, BTC, BP("19400"));
    case 60: return margin_position_open(e, 1, BTC, MARGIN_LONG, BQ("0.2"), BP("19400"), D("50"), 0, 0, &id);
    case 61: return margin_mark_update(e, BTC, BP("19150"));
    case 62: return margin_funding_apply(e, SOL, D("-0.0005"), SP("20"));
    case 63: return margin_mark_update(e, SOL, SP("17.2"));
    case 64: return margin_position_open(e, 5, SOL, MARGIN_LONG, SQ("100"), SP("17.2"), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 65: return margin_mark_update(e, ETH, EP("970"));
    case 66: return margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_WORST_FIRST);
    case 67: return margin_mark_update(e, ETH, EP("900"));
    case 68: return margin_mark_update(e, SOL, SP("14.45"));
    case 69: return margin_position_close(e, 5, EP("950"), 0);
    case 70: return margin_position_set_stops(e, 1, BP("15500"), BP("29000"));
    case 71: return margin_position_open(e, 2, ETH, MARGIN_SHORT, EQ("1"), EP("900"), D("5"), 0, 0, &id);
    case 72: return margin_position_set_stops(e, 13, EP("1100"), EP("700"));
    case 73: return margin_account_deposit(e, 4, D("100"));
    case 74: return margin_account_set_mode(e, 4, ETH, MARGIN_MODE_ISOLATED);
    case 75: return margin_mark_update(e, BTC, BP("19160"));
    case 76: return margin_funding_apply(e, ETH, D("0.0002"), EP("905"));
    case 77: return margin_mark_update(e, SOL, SP("14.46"));
    case 78: return margin_position_trade(e, 12, MARGIN_SHORT, SQ("10"), SP("14.46"), 0);
    case 79: return margin_position_open(e, 4, ETH, MARGIN_LONG, EQ("0.2"), EP("905"), D("3"), 0, 0, &id);
    case 80: return margin_position_add_margin(e, 14, D("10"));
    case 81: return margin_account_withdraw(e, 1, D("5000"));
    case 82: return margin_position_set_leverage(e, 13, D("4"));
    case 83: return margin_mark_update(e, BTC, BP("19155"));
    /* issue 13: the liquidation options, and a candle through them */
    case 84: return margin_market_set(e, BTC, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE);
    case 85: return margin_market_set(e, BTC, MARGIN_MKT_LIQ_FEE, D("0.001"));
    case 86: return margin_market_set(e, BTC, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER);
    case 87: return margin_mark_candle(e, BTC, BP("19160"), BP("19165"), BP("19050"), BP("19060"), MARGIN_PATH_UPDOWN);
    case 88: return margin_mark_candle(e, BTC, BP("19070"), BP("19170"), BP("19052"), BP("19055"), MARGIN_PATH_ADVERSE);
    /* issue 14: insurance pools, ADL options and quantiles (snapshot format 3) */
    case 89: return margin_insurance_deposit(e, BTC, D("5000"));
    case 90: return margin_insurance_deposit(e, ETH, D("300"));
    case 91: return margin_market_set(e, ETH, MARGIN_MKT_ADL, MARGIN_ADL_ON);
    case 92: return margin_market_set(e, ETH, MARGIN_MKT_INSURANCE_FLOOR, D("100"));
    case 93: return margin_market_set(e, SOL, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX);
    case 94: return margin_mark_update(e, ETH, EP("950"));
    case 95: return margin_market_adl_quantiles(e, ETH);
    case 96: return margin_market_adl_quantiles(e, SOL);
    case 97: return margin_insurance_deposit(e, ETH, D("912.35"));
    case 98: return margin_position_open(e, 1, ETH, MARGIN_SHORT, EQ("10"), EP("950"), 0, D("199"), 0, &id);
    case 99: return margin_mark_update(e, ETH, EP("990"));
    default: return MARGIN_EINVAL;
    }
}

void su_run_scenario(margin_engine *e)
{
    int i, rc;
    for (i = 0; i < SU_STEPS; i++) {
        rc = margin_engine_set(e, MARGIN_ENG_TIME, 1000 + i);
        if (rc == MARGIN_OK)
            rc = su_step(e, i);
        if (rc != MARGIN_OK)
            ck_abort_msg("scenario step %d: %d (%s)", i, rc, margin_errmsg(e));
    }
}
