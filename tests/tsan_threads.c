/* Threads: four threads, each driving its own engine through the same kind of script
 * (markets with tiers and a maximum price, margin-call levels, accounts isolated and cross,
 * opens, trades, closes, margin changes, stops, marks that liquidate, funding, events
 * through the queue and a callback, snapshots saved and loaded in memory and through
 * files, the state hash, an engine on the caller's allocator), while every thread also
 * calls the engine-less functions (margin_dec_parse/format/rescale/mul/div,
 * margin_strerror, margin_version_number/string, margin_money_scale/rate_scale) over and
 * over. Each script's results (its final snapshot, state hash, digests of every event seen
 * by the callback and through the queue) must be identical to a single-threaded run of the
 * same script: the header promises that distinct engines are independent and that the
 * engine-less functions are thread-safe.
 *
 * Run by tests/tsan.sh in every build; in a --enable-tsan build (.ci/run: build-tsan/) it
 * runs under ThreadSanitizer, which fails it on any data race. Plain C and pthreads.
 *
 * Output: one line per round, then "tsan_threads: ... identical" (exit 0) or the first
 * difference (exit 1). Usage: tsan_threads [steps per script, default 1000]. With
 * TSAN_THREADS_SELFTEST=1 in the environment the threads also race on a counter of this
 * file on purpose, to see ThreadSanitizer (and tests/tsan.sh) fail. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "margin.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#define NTHREADS 4
#define ONE 100000000LL
#define NFIELDS (MARGIN_EVF_MODE + 1)

/* ------------------------------------------------------------------ one job */
typedef struct {
    int seed, slot; /* the script; the file name's slot */
    int steps;
    const char *dir;
    pthread_barrier_t *start; /* NULL: single-threaded */
    /* results */
    uint8_t *snap;
    size_t len;
    uint64_t hash, cb_digest, q_digest;
    long cb_events, q_events, engineless;
    int64_t opened, liquidations; /* of the final engine */
    long live; /* blocks of the caller's allocator still held (must end at 0) */
    char why[256];
} job;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t fold(uint64_t h, const int64_t *f, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (uint64_t)f[i];
        h *= 0x100000001B3ULL;
        h ^= h >> 29;
    }
    return h;
}

#define FAIL(j, ...)                                                                        \
    do {                                                                                    \
        if ((j)->why[0] == '\0')                                                            \
            snprintf((j)->why, sizeof (j)->why, __VA_ARGS__);                               \
    } while (0)

/* the caller's allocator: counts the job's live blocks (each job its own counter) */
static void *mem_alloc(void *user, size_t size)
{
    void *p = malloc(size);
    if (p != NULL)
        ((job *)user)->live++;
    return p;
}

static void *mem_grow(void *user, void *ptr, size_t size)
{
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        ((job *)user)->live++;
    return p;
}

static void mem_release(void *user, void *ptr)
{
    if (ptr != NULL)
        ((job *)user)->live--;
    free(ptr);
}

static void on_event(void *user, const margin_engine *e, int32_t type)
{
    job *j = user;
    int64_t f[NFIELDS];
    if (margin_event_fields(e, f, NFIELDS) != MARGIN_OK || f[MARGIN_EVF_TYPE] != type)
        FAIL(j, "seed %d: the callback could not read its event", j->seed);
    j->cb_digest = fold(j->cb_digest, f, NFIELDS);
    j->cb_events++;
}

static void drain(job *j, margin_engine *e, int keep_one)
{
    int32_t t = 0;
    int64_t f[NFIELDS];
    for (;;) {
        if (margin_event_next(e, &t) != MARGIN_OK) {
            FAIL(j, "seed %d: margin_event_next failed", j->seed);
            return;
        }
        if (t == MARGIN_EV_NONE)
            return;
        if (margin_event_fields(e, f, NFIELDS) != MARGIN_OK)
            FAIL(j, "seed %d: margin_event_fields failed", j->seed);
        j->q_digest = fold(j->q_digest, f, NFIELDS);
        j->q_events++;
        if (keep_one)
            return; /* the rest stay queued, through the next snapshot */
    }
}

static long selftest_counter; /* written by every thread without a lock: the self-test */
static int selftest;

/* ------------------------------------------------------------------ engine-less */
static const char *strerror_ref[32];

static void engineless(job *j, uint64_t *rng, int rounds)
{
    static const struct {
        const char *s;
        int32_t scale;
        int64_t v;
        const char *canon;
    } dec[] = {
        {"12345.678", 3, 12345678, "12345.678"},   {"-0.00000001", 8, -1, "-0.00000001"},
        {"20000", 1, 200000, "20000"},             {"0.1", 18, 100000000000000000, "0.1"},
        {"92233720368.54775807", 8, INT64_MAX, "92233720368.54775807"},
        {"1.50", 2, 150, "1.5"},
    };
    int r;
    for (r = 0; r < rounds; r++) {
        uint64_t x = splitmix(rng);
        size_t k = x % (sizeof dec / sizeof dec[0]);
        int64_t v = 0;
        char buf[48];
        int code = -(int)(x >> 8 & 31);
        j->engineless++;
        if (margin_dec_parse(dec[k].s, dec[k].scale, &v) != MARGIN_OK || v != dec[k].v)
            FAIL(j, "margin_dec_parse(\"%s\") gave %lld", dec[k].s, (long long)v);
        if (margin_dec_format(dec[k].v, dec[k].scale, buf, sizeof buf) != MARGIN_OK ||
            strcmp(buf, dec[k].canon) != 0)
            FAIL(j, "margin_dec_format(%lld) gave \"%s\"", (long long)dec[k].v, buf);
        if (margin_dec_parse("1e5", 2, &v) != MARGIN_EPARSE)
            FAIL(j, "margin_dec_parse(\"1e5\") was not a parse error");
        if (margin_dec_rescale(12345, 3, 1, MARGIN_ROUND_HALF_EVEN, &v) != MARGIN_OK ||
            v != 123)
            FAIL(j, "margin_dec_rescale gave %lld", (long long)v);
        if (margin_dec_rescale(12355, 3, 1, MARGIN_ROUND_EXACT, &v) != MARGIN_ERANGE)
            FAIL(j, "margin_dec_rescale EXACT did not refuse");
        /* 20000.5 * 0.001 = 20.0005 -> 20.001 up */
        if (margin_dec_mul(200005, 1, 1, 3, 3, MARGIN_ROUND_CEIL, &v) != MARGIN_OK || v != 20001)
            FAIL(j, "margin_dec_mul gave %lld", (long long)v);
        /* 1 / 3 at 8 decimals, floor and ceiling */
        if (margin_dec_div(1, 0, 3, 0, 8, MARGIN_ROUND_FLOOR, &v) != MARGIN_OK ||
            v != 33333333)
            FAIL(j, "margin_dec_div floor gave %lld", (long long)v);
        if (margin_dec_div(1, 0, 3, 0, 8, MARGIN_ROUND_CEIL, &v) != MARGIN_OK || v != 33333334)
            FAIL(j, "margin_dec_div ceil gave %lld", (long long)v);
        if (margin_dec_div(1, 0, 0, 0, 8, MARGIN_ROUND_FLOOR, &v) == MARGIN_OK)
            FAIL(j, "margin_dec_div by zero succeeded");
        if (strcmp(margin_strerror(code), strerror_ref[-code]) != 0)
            FAIL(j, "margin_strerror(%d) changed", code);
        if (margin_version_number() != MARGIN_VERSION_NUMBER ||
            strcmp(margin_version_string(), MARGIN_VERSION_STRING) != 0)
            FAIL(j, "margin_version_* disagree with margin_version.h");
        if (margin_money_scale() != MARGIN_MONEY_SCALE || margin_rate_scale() != MARGIN_RATE_SCALE)
            FAIL(j, "margin_money_scale/rate_scale changed");
    }
}

/* ------------------------------------------------------------------ snapshots */
static uint8_t *save(job *j, const margin_engine *e, size_t *n)
{
    size_t len = 0, got = 0;
    uint8_t *b;
    if (margin_snapshot_save(e, NULL, 0, &len) != MARGIN_OK || (b = malloc(len)) == NULL) {
        FAIL(j, "seed %d: snapshot size", j->seed);
        *n = 0;
        return NULL;
    }
    if (margin_snapshot_save(e, b, len, &got) != MARGIN_OK || got != len)
        FAIL(j, "seed %d: margin_snapshot_save: %s", j->seed, margin_errmsg(e));
    *n = len;
    return b;
}

static margin_engine *new_engine(job *j, int own_allocator)
{
    margin_engine *e = NULL;
    int rc = own_allocator ? margin_engine_new_with_allocator(&e, mem_alloc, mem_grow,
                                                              mem_release, j)
                           : margin_engine_new(&e);
    if (rc != MARGIN_OK || e == NULL) {
        FAIL(j, "seed %d: margin_engine_new failed", j->seed);
        return NULL;
    }
    if (margin_engine_set_callback(e, on_event, j) != MARGIN_OK)
        FAIL(j, "seed %d: margin_engine_set_callback failed", j->seed);
    return e;
}

/* Save e, load it into a new engine (through a file when path is set), check that the new
 * one saves the same bytes with the same state hash, and return it (e is freed). */
static margin_engine *reload(job *j, margin_engine *e, const char *path, int own_allocator)
{
    size_t n = 0, n2 = 0;
    uint8_t *a = save(j, e, &n), *b;
    uint64_t h1 = 0, h2 = 0;
    margin_engine *t = new_engine(j, own_allocator);
    int rc;
    if (a == NULL || t == NULL) {
        free(a);
        margin_engine_free(t);
        return e;
    }
    (void)margin_state_hash(e, &h1);
    if (path != NULL) {
        if (margin_snapshot_write(e, path) != MARGIN_OK)
            FAIL(j, "seed %d: margin_snapshot_write: %s", j->seed, margin_errmsg(e));
        rc = margin_snapshot_read(t, path);
        (void)unlink(path);
    } else {
        rc = margin_snapshot_load(t, a, n);
    }
    if (rc != MARGIN_OK) {
        FAIL(j, "seed %d: loading the snapshot: %s", j->seed, margin_errmsg(t));
        free(a);
        margin_engine_free(t);
        return e;
    }
    b = save(j, t, &n2);
    (void)margin_state_hash(t, &h2);
    if (b == NULL || n2 != n || memcmp(a, b, n) != 0 || h1 != h2)
        FAIL(j, "seed %d: the loaded engine saves other bytes or hashes differently", j->seed);
    free(a);
    free(b);
    margin_engine_free(e);
    return t;
}

/* ------------------------------------------------------------------ the script */
static void *run(void *arg)
{
    job *j = arg;
    uint64_t rng = 0x5EED0000ULL + (uint64_t)j->seed, mkt[2] = {0, 0}, acct[4] = {0, 0, 0, 0},
             pos[256];
    int npos = 0, step, i, own = j->seed % 2;
    int64_t mark[2] = {200000, 150000}, tick[2] = {1, 1}, step_qty[2] = {1, 10};
    int64_t levels[2] = {ONE / 2, ONE * 8 / 10};
    char path[512];
    margin_engine *e;

    if (j->start != NULL)
        (void)pthread_barrier_wait(j->start);
    if (selftest && j->start != NULL)
        for (i = 0; i < 1000; i++)
            selftest_counter++;
    engineless(j, &rng, 200); /* every thread at once */
    snprintf(path, sizeof path, "%s/engine-%d.snap", j->dir, j->slot);
    e = new_engine(j, own);
    if (e == NULL)
        return NULL;
    (void)margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, j->seed % 2);
    (void)margin_engine_set(e, MARGIN_ENG_REARM_BAND, ONE / 20);
    if (margin_engine_set_margin_call_levels(e, levels, 2) != MARGIN_OK)
        FAIL(j, "seed %d: levels: %s", j->seed, margin_errmsg(e));
    if (margin_market_new(e, "BTCUSDT", &mkt[0]) != MARGIN_OK ||
        margin_market_set(e, mkt[0], MARGIN_MKT_PRICE_SCALE, 1) != MARGIN_OK ||
        margin_market_set(e, mkt[0], MARGIN_MKT_QTY_SCALE, 3) != MARGIN_OK ||
        margin_market_set(e, mkt[0], MARGIN_MKT_TAKER_FEE, 40000) != MARGIN_OK ||
        margin_market_set(e, mkt[0], MARGIN_MKT_MAX_PRICE, 100000000) != MARGIN_OK ||
        margin_market_new(e, "ETHUSDT", &mkt[1]) != MARGIN_OK ||
        margin_market_set(e, mkt[1], MARGIN_MKT_PRICE_SCALE, 2) != MARGIN_OK ||
        margin_market_set(e, mkt[1], MARGIN_MKT_QTY_SCALE, 4) != MARGIN_OK ||
        margin_market_set(e, mkt[1], MARGIN_MKT_STEP, 10) != MARGIN_OK ||
        margin_market_set(e, mkt[1], MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY) != MARGIN_OK ||
        margin_market_add_tier(e, mkt[1], 0, 500000, 100 * ONE, MARGIN_DERIVE) != MARGIN_OK ||
        margin_market_add_tier(e, mkt[1], 100000 * ONE, 1000000, 50 * ONE, MARGIN_DERIVE) !=
            MARGIN_OK)
        FAIL(j, "seed %d: markets: %s", j->seed, margin_errmsg(e));
    for (i = 0; i < 4; i++) {
        if (margin_account_new(e, &acct[i]) != MARGIN_OK ||
            margin_account_deposit(e, acct[i], (int64_t)(10000 + 5000 * i) * ONE) != MARGIN_OK)
            FAIL(j, "seed %d: accounts: %s", j->seed, margin_errmsg(e));
    }
    /* account 3 cross in BTC, account 4 cross in both */
    if (margin_account_set_mode(e, acct[2], mkt[0], MARGIN_MODE_CROSS) != MARGIN_OK ||
        margin_account_set_mode(e, acct[3], mkt[0], MARGIN_MODE_CROSS) != MARGIN_OK ||
        margin_account_set_mode(e, acct[3], mkt[1], MARGIN_MODE_CROSS) != MARGIN_OK)
        FAIL(j, "seed %d: modes: %s", j->seed, margin_errmsg(e));
    for (i = 0; i < 2; i++)
        (void)margin_mark_update(e, mkt[i], mark[i]);

    for (step = 0; step < j->steps && j->why[0] == '\0'; step++) {
        uint64_t x = splitmix(&rng);
        int m = (int)(x >> 8 & 1), a = (int)(x >> 9 & 3);
        uint64_t p = npos ? pos[(x >> 16) % (uint64_t)npos] : 0, id = 0;
        int32_t mode = MARGIN_MODE_ISOLATED;
        (void)margin_engine_set(e, MARGIN_ENG_TIME, 1700000000000LL + step * 1000LL);
        (void)margin_account_mode(e, acct[a], mkt[m], &mode);
        switch (x % 16) {
        case 0:
        case 1:
        case 2:
        case 3: /* open, 2x to 50x */
            if (margin_position_open(e, acct[a], mkt[m], (x >> 20 & 1) ? MARGIN_SHORT : MARGIN_LONG,
                                     step_qty[m] * (int64_t)(1 + (x >> 24) % 200),
                                     mark[m], (int64_t)(2 + (x >> 32) % 49) * ONE, 0,
                                     mode == MARGIN_MODE_CROSS ? MARGIN_FLAG_CROSS : 0u,
                                     &id) == MARGIN_OK &&
                npos < 256)
                pos[npos++] = id;
            break;
        case 4:
        case 5:
        case 6:
        case 7: { /* a mark move of up to +-3 % */
            int64_t d = mark[m] * ((int64_t)((x >> 40) % 601) - 300) / 10000;
            if (mark[m] + d > tick[m])
                mark[m] = (mark[m] + d) / tick[m] * tick[m];
            (void)margin_mark_update(e, mkt[m], mark[m]);
            break;
        }
        case 8:
            (void)margin_funding_apply(e, mkt[m], ((int64_t)((x >> 40) % 201) - 100) * 1000,
                                       mark[m]);
            break;
        case 9:
            (void)margin_position_trade(e, p, (x >> 20 & 1) ? MARGIN_SHORT : MARGIN_LONG,
                                        step_qty[m] * (int64_t)(1 + (x >> 24) % 50), mark[m],
                                        (uint32_t)(x >> 21 & 1));
            break;
        case 10:
            (void)margin_position_close(e, p, mark[m], 0);
            break;
        case 11:
            (void)margin_position_add_margin(e, p, (int64_t)(1 + (x >> 24) % 100) * ONE);
            (void)margin_position_remove_margin(e, p, (int64_t)(1 + (x >> 32) % 50) * ONE);
            break;
        case 12:
            (void)margin_position_set_stops(e, p, (x >> 20 & 1) ? mark[m] - mark[m] / 25 : 0,
                                            (x >> 21 & 1) ? mark[m] + mark[m] / 25 : 0);
            (void)margin_position_set_leverage(e, p, (int64_t)(2 + (x >> 24) % 20) * ONE);
            break;
        case 13:
            (void)margin_account_withdraw(e, acct[a], (int64_t)(1 + (x >> 24) % 100) * ONE);
            (void)margin_account_deposit(e, acct[a], (int64_t)(1 + (x >> 32) % 300) * ONE);
            break;
        case 14:
            drain(j, e, (x >> 20 & 1) != 0);
            break;
        default: { /* queries and the state hash */
            int64_t v = 0;
            uint64_t h = 0;
            int32_t k;
            for (k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_CROSS_POSITIONS; k++)
                (void)margin_account_get(e, acct[a], k, &v);
            for (k = MARGIN_AT_NOTIONAL; k <= MARGIN_AT_MARGIN_CALL_PRICE; k++)
                (void)margin_position_at(e, p, k, 0, &v);
            if (margin_state_hash(e, &h) != MARGIN_OK)
                FAIL(j, "seed %d: margin_state_hash failed", j->seed);
            break;
        }
        }
        if (step % 50 == 49) /* save, load and continue; every other time through a file */
            e = reload(j, e, step % 100 == 99 ? path : NULL, own);
        if (step % 200 == 199) /* a new stretch of marks around the first ones */
            mark[0] = 200000, mark[1] = 150000;
        if (step % 8 == 0)
            engineless(j, &rng, 4);
    }
    drain(j, e, 0);
    for (i = 0; i < 4; i++) { /* the books balance */
        int64_t v[9];
        int32_t k;
        for (k = 1; k <= 8; k++)
            if (margin_account_get(e, acct[i], k, &v[k]) != MARGIN_OK)
                v[k] = 0;
        if (v[MARGIN_ACCT_FREE_BALANCE] + v[MARGIN_ACCT_ISOLATED_MARGIN] !=
            v[MARGIN_ACCT_DEPOSITS] - v[MARGIN_ACCT_WITHDRAWALS] + v[MARGIN_ACCT_REALIZED_PNL] -
                v[MARGIN_ACCT_FEES] + v[MARGIN_ACCT_FUNDING])
            FAIL(j, "seed %d: account %d's books do not balance", j->seed, i + 1);
    }
    (void)margin_engine_get(e, MARGIN_ENG_LIQUIDATIONS, &j->liquidations);
    j->opened = npos;
    j->snap = save(j, e, &j->len);
    (void)margin_state_hash(e, &j->hash);
    margin_engine_free(e);
    if (own && j->live != 0)
        FAIL(j, "seed %d: %ld blocks of the caller's allocator not freed", j->seed, j->live);
    return NULL;
}

/* ------------------------------------------------------------------ main */
static int same(const job *a, const job *b)
{
    return a->len == b->len && a->snap != NULL && b->snap != NULL &&
           memcmp(a->snap, b->snap, a->len) == 0 && a->hash == b->hash &&
           a->cb_digest == b->cb_digest && a->q_digest == b->q_digest &&
           a->cb_events == b->cb_events && a->q_events == b->q_events;
}

int main(int argc, char **argv)
{
    job ref[NTHREADS + 1], th[NTHREADS];
    pthread_t tid[NTHREADS];
    pthread_barrier_t start;
    char dir[] = "/tmp/margin-tsan.XXXXXX";
    const char *tmp = getenv("TMPDIR");
    char dirbuf[512];
    int steps = argc > 1 ? atoi(argv[1]) : 1000, round, i, failed = 0;
    long calls = 0, events = 0;
    if (steps <= 0)
        steps = 1000;
    for (i = 0; i < 32; i++)
        strerror_ref[i] = margin_strerror(-i);
    selftest = getenv("TSAN_THREADS_SELFTEST") != NULL;
    if (tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 400) {
        snprintf(dirbuf, sizeof dirbuf, "%s/margin-tsan.XXXXXX", tmp);
    } else {
        snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    }
    if (mkdtemp(dirbuf) == NULL) {
        perror("tsan_threads: mkdtemp");
        return 1;
    }
    printf("tsan_threads: ThreadSanitizer %s; %d threads, %d steps per script\n",
           UNDER_TSAN ? "on" : "off (not a --enable-tsan build)", NTHREADS, steps);
    /* the single-threaded runs: scripts 1 to 4 */
    for (i = 0; i < NTHREADS; i++) {
        memset(&ref[i + 1], 0, sizeof ref[i + 1]);
        ref[i + 1].seed = i + 1;
        ref[i + 1].slot = i;
        ref[i + 1].steps = steps;
        ref[i + 1].dir = dirbuf;
        (void)run(&ref[i + 1]);
        if (ref[i + 1].why[0] != '\0') {
            printf("FAIL: single-threaded: %s\n", ref[i + 1].why);
            failed = 1;
        }
    }
    /* round 1: the four scripts at once; round 2: script 2 on every thread at once */
    for (round = 1; round <= 2 && !failed; round++) {
        if (pthread_barrier_init(&start, NULL, NTHREADS) != 0) {
            printf("FAIL: pthread_barrier_init\n");
            return 1;
        }
        for (i = 0; i < NTHREADS; i++) {
            memset(&th[i], 0, sizeof th[i]);
            th[i].seed = round == 1 ? i + 1 : 2;
            th[i].slot = NTHREADS + i;
            th[i].steps = steps;
            th[i].dir = dirbuf;
            th[i].start = &start;
            if (pthread_create(&tid[i], NULL, run, &th[i]) != 0) {
                printf("FAIL: pthread_create\n");
                return 1;
            }
        }
        for (i = 0; i < NTHREADS; i++)
            (void)pthread_join(tid[i], NULL);
        (void)pthread_barrier_destroy(&start);
        for (i = 0; i < NTHREADS; i++) {
            const job *r = &ref[th[i].seed];
            calls += th[i].engineless;
            events += th[i].cb_events;
            if (th[i].why[0] != '\0') {
                printf("FAIL: round %d, thread %d: %s\n", round, i, th[i].why);
                failed = 1;
            } else if (!same(&th[i], r)) {
                printf("FAIL: round %d, thread %d (script %d): results differ from the "
                       "single-threaded run (snapshot %zu/%zu bytes, hash %016llx/%016llx, "
                       "events %ld/%ld)\n",
                       round, i, th[i].seed, th[i].len, r->len, (unsigned long long)th[i].hash,
                       (unsigned long long)r->hash, th[i].cb_events, r->cb_events);
                failed = 1;
            }
            free(th[i].snap);
        }
        if (!failed)
            printf("round %d: %d threads (scripts %s): snapshots, state hashes and events "
                   "identical to the single-threaded runs\n",
                   round, NTHREADS, round == 1 ? "1 2 3 4" : "2 2 2 2");
    }
    for (i = 1; i <= NTHREADS; i++) {
        if (!failed)
            printf("script %d: %lld positions opened, %lld liquidated, %ld events (callback), "
                   "%ld drained from the queue, final snapshot %zu bytes\n",
                   i, (long long)ref[i].opened, (long long)ref[i].liquidations,
                   ref[i].cb_events, ref[i].q_events, ref[i].len);
        free(ref[i].snap);
    }
    (void)rmdir(dirbuf);
    if (failed) {
        printf("tsan_threads: FAILED\n");
        return 1;
    }
    printf("tsan_threads: %d threads x 2 rounds: %ld events, %ld engine-less calls, results "
           "identical to the single-threaded run\n",
           NTHREADS, events, calls);
    return 0;
}
