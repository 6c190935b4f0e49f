/* margin-bench: what libmargin's operations cost, at 1,000 to 1,000,000 open positions.
 *
 *   bench/margin-bench [--positions N] [--json] [--quick] [--seed S]
 *
 * One engine, one BTCUSDT-like market (tick 0.1, step 0.001, Binance's ten BTCUSDT
 * maintenance tiers), N isolated positions (longs and shorts, leverage 2x to 100x, sizes
 * 0.001 to 4.095 BTC, entries 54,000 to 66,000) drawn by a fixed pseudo-random generator,
 * and the market's mark at 60,000. Every position is drawn so that no trigger of it
 * (liquidation, or the default 80 % margin-call level) lies within 40 USDT of 60,000;
 * after building, a full scan at 59,970 and at 60,030 checks that no mark of the band
 * [59,970, 60,030] triggers anything.
 *
 * Measurements (median over repeated samples, after warm-up; each sample times a batch of
 * operations with clock_gettime(CLOCK_MONOTONIC) and divides):
 *   mark_update_no_trigger  margin_mark_update() with marks inside the band (trigger indexes)
 *   mark_update_full_scan   the same marks with MARGIN_ENG_FULL_SCAN = 1 (every position visited)
 *   liquidation             one update that liquidates about 1 % of the positions, plus
 *                           draining every event it produced, divided by the liquidations
 *   open_position           margin_position_open() of a fresh position, plus draining its event
 *   close_position          margin_position_close() of a random open position, plus its event
 *   liquidation_price       margin_position_at(MARGIN_AT_LIQ_PRICE), positions in id order
 *   funding                 margin_funding_apply() (rate +-0.000001, nobody liquidated) plus
 *                           draining its N events, divided by N
 *   bytes_per_position      growth of the resident set (/proc/self/statm) while the N
 *                           positions were opened, divided by N (accounts exist before)
 * Each N runs in a child process of its own, so that one size's memory does not flatter the
 * next one's. Timings are measured, not money: they are the only floating point here. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "margin.h"

#ifndef MARGIN_BENCH_CFLAGS
#define MARGIN_BENCH_CFLAGS "(not recorded)"
#endif

/* ------------------------------------------------------------------ market constants */

#define ONE 100000000LL     /* 1 at scale 8: USDT, rates, leverage */
#define TICK 10000000LL     /* price tick 0.1 at price scale 8 */
#define STEP 100000LL       /* quantity step 0.001 at quantity scale 8 */
#define P0 600000LL         /* the mark, in ticks: 60,000 USDT */
#define BAND 300LL          /* no-trigger marks within P0 +- 30 USDT (ticks) */
#define SAFE 400LL          /* no trigger within P0 +- 40 USDT (ticks) */
#define ENTRY_LO 540000LL   /* entries 54,000 ... */
#define ENTRY_HI 660000LL   /* ... 66,000 USDT (ticks) */
#define LEVEL_PPM 800000LL  /* the engine's default margin-call level, 0.8 */
#define DEPOSIT (10000000LL * ONE) /* per account: 10 million USDT */

/* Binance's BTCUSDT tiers (the spec's table): floor in USDT, mmr in ppm, max leverage. */
static const struct {
    int64_t floor, mmr_ppm, max_lev;
} TIERS[] = {
    {0, 4000, 125},         {50000, 5000, 100},       {250000, 10000, 50},
    {1000000, 25000, 20},   {7500000, 50000, 10},     {40000000, 100000, 5},
    {100000000, 125000, 4}, {200000000, 150000, 3},   {400000000, 250000, 2},
    {600000000, 500000, 1},
};
#define NTIERS (sizeof TIERS / sizeof TIERS[0])

/* ------------------------------------------------------------------ utilities */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return n ? rng_next(s) % n : 0;
}

static void die(const char *what, margin_engine *e, int rc)
{
    fprintf(stderr, "margin-bench: %s failed: %s (%s)\n", what, margin_strerror(rc),
            e ? margin_errmsg(e) : "");
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "margin-bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int64_t eng_get(margin_engine *e, int32_t key)
{
    int64_t v = 0;
    int rc = margin_engine_get(e, key, &v);
    if (rc != MARGIN_OK)
        die("margin_engine_get", e, rc);
    return v;
}

static int64_t pos_get(margin_engine *e, uint64_t id, int32_t key)
{
    int64_t v = 0;
    int rc = margin_position_get(e, id, key, &v);
    if (rc != MARGIN_OK)
        die("margin_position_get", e, rc);
    return v;
}

/* Take every queued event; returns how many there were. */
static uint64_t drain(margin_engine *e)
{
    uint64_t n = 0;
    int32_t type;
    for (;;) {
        int rc = margin_event_next(e, &type);
        if (rc != MARGIN_OK)
            die("margin_event_next", e, rc);
        if (type == MARGIN_EV_NONE)
            return n;
        n++;
    }
}

/* Resident set size in bytes, 0 if /proc is not there. */
static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_i64_asc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i64_desc(const void *a, const void *b)
{
    return cmp_i64_asc(b, a);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------ the machine */

static void cpu_model(char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, size, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || colon == NULL)
            continue;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

static void load_average(char *buf, size_t size)
{
    double a = 0, b = 0, c = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, size, "unknown");
    if (f == NULL)
        return;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

static const char *compiler(void)
{
#if defined(__clang__)
    return "clang " __VERSION__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown compiler";
#endif
}

static int optimized(void)
{
#ifdef __OPTIMIZE__
    return 1;
#else
    return 0;
#endif
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* ------------------------------------------------------------------ the book */

typedef struct {
    int32_t side;
    int64_t qty, price, lev;
    uint64_t account;
} spec;

typedef struct {
    margin_engine *e;
    uint64_t market;
    uint64_t naccounts;
    uint64_t seed;
    size_t n;        /* positions kept open */
    uint64_t *ids;   /* the open positions, n of them */
    uint64_t *order; /* scratch: a list of ids to visit */
    size_t norder;
    int64_t marks[64]; /* no-trigger marks, price units */
    int64_t rate;      /* funding rate of the next funding op */
    volatile int64_t sink;
    int quick;
} bench;

static size_t tier_of(int64_t notional_usdt)
{
    size_t k = 0;
    while (k + 1 < NTIERS && notional_usdt >= TIERS[k + 1].floor)
        k++;
    return k;
}

/* Draw a position that nothing triggers at any mark within P0 +- SAFE ticks.
 *
 * For a long of leverage L (initial margin E/L per coin) the margin-call level 0.8 is reached
 * when mmr*P = 0.8*(E/L + P - E), i.e. at P = 0.8*E*(1 - 1/L)/(0.8 - mmr); the liquidation
 * price (ratio 1) is lower still. Keeping that price at or below P0 - SAFE bounds the entry:
 * E <= (P0 - SAFE)*(0.8 - mmr)*L/(0.8*(L - 1)). For a short, symmetrically,
 * E >= (P0 + SAFE)*(0.8 + mmr)*L/(0.8*(L + 1)). Both bounds ignore the tier's maintenance
 * amount (which only lowers the maintenance margin) and take the rate of the tier holding
 * the notional at 72,000, above any price involved: both errors are on the safe side. */
static void draw(bench *b, spec *s)
{
    uint64_t *r = &b->seed;
    unsigned e2 = (unsigned)rng_below(r, 12);
    int64_t steps = ((int64_t)1 << e2) + (int64_t)rng_below(r, (uint64_t)1 << e2);
    int64_t lev = 2 + (int64_t)rng_below(r, 99); /* 2x .. 100x */
    int64_t n_hi = steps * (ENTRY_HI) / 10000;   /* notional at the highest entry, USDT */
    int64_t n_cap = steps * (P0 * 12 / 10) / 10000;
    int64_t mmr = TIERS[tier_of(n_cap)].mmr_ppm;
    int64_t lo = ENTRY_LO, hi = ENTRY_HI;
    if (lev > TIERS[tier_of(n_hi)].max_lev)
        lev = TIERS[tier_of(n_hi)].max_lev;
    s->side = (rng_next(r) & 1) ? MARGIN_LONG : MARGIN_SHORT;
    if (s->side == MARGIN_LONG) {
        int64_t emax = (P0 - SAFE) * (LEVEL_PPM - mmr) * lev / (LEVEL_PPM * (lev - 1));
        if (emax < hi)
            hi = emax;
    } else {
        int64_t den = LEVEL_PPM * (lev + 1);
        int64_t emin = ((P0 + SAFE) * (LEVEL_PPM + mmr) * lev + den - 1) / den;
        if (emin > lo)
            lo = emin;
    }
    s->qty = steps * STEP;
    s->price = (lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1))) * TICK;
    s->lev = lev * ONE;
    s->account = 1 + rng_below(r, b->naccounts);
}

static uint64_t open_spec(bench *b, const spec *s)
{
    uint64_t id = 0;
    int rc = margin_position_open(b->e, s->account, b->market, s->side, s->qty, s->price, s->lev,
                                  0, 0, &id);
    if (rc != MARGIN_OK)
        die("margin_position_open", b->e, rc);
    return id;
}

static void setup_engine(bench *b, size_t n)
{
    uint64_t i, id;
    size_t k;
    int rc;
    if ((rc = margin_engine_new(&b->e)) != MARGIN_OK)
        die("margin_engine_new", NULL, rc);
    if ((rc = margin_market_new(b->e, "BTCUSDT", &b->market)) != MARGIN_OK ||
        (rc = margin_market_set(b->e, b->market, MARGIN_MKT_TICK, TICK)) != MARGIN_OK ||
        (rc = margin_market_set(b->e, b->market, MARGIN_MKT_STEP, STEP)) != MARGIN_OK)
        die("creating the market", b->e, rc);
    for (k = 0; k < NTIERS; k++)
        if ((rc = margin_market_add_tier(b->e, b->market, TIERS[k].floor * ONE,
                                         TIERS[k].mmr_ppm * 100, TIERS[k].max_lev * ONE,
                                         MARGIN_DERIVE)) != MARGIN_OK)
            die("margin_market_add_tier", b->e, rc);
    if ((rc = margin_mark_update(b->e, b->market, P0 * TICK)) != MARGIN_OK)
        die("margin_mark_update", b->e, rc);
    b->naccounts = n / 4 ? n / 4 : 1;
    for (i = 0; i < b->naccounts; i++) {
        if ((rc = margin_account_new(b->e, &id)) != MARGIN_OK)
            die("margin_account_new", b->e, rc);
        if ((rc = margin_account_deposit(b->e, id, DEPOSIT)) != MARGIN_OK)
            die("margin_account_deposit", b->e, rc);
    }
    drain(b->e);
    for (i = 0; i < 64; i++) /* within the band, not on the grid, alternating around P0 */
        b->marks[i] = P0 * TICK + (int64_t)((i & 1) ? 1 : -1) *
                                      (((int64_t)i * 37 % BAND) * TICK + (int64_t)i * 12345);
}

/* ------------------------------------------------------------------ measuring */

typedef void (*op_fn)(bench *b, uint64_t i);

typedef struct {
    uint64_t min_sample_ns; /* a sample runs at least this long */
    unsigned min_reps, max_reps;
    uint64_t budget_ns; /* stop taking samples after this, once min_reps are taken */
} plan;

typedef struct {
    double ns;       /* median per operation */
    unsigned reps;   /* samples */
    uint64_t iters;  /* operations per sample */
} result;

static uint64_t op_counter;

static uint64_t run_batch(bench *b, op_fn fn, uint64_t iters)
{
    uint64_t t0 = now_ns(), i;
    for (i = 0; i < iters; i++)
        fn(b, op_counter++);
    return now_ns() - t0;
}

/* Calibrate the batch size (those runs warm up), one more warm-up batch, then samples. */
static result measure(bench *b, op_fn fn, const plan *p)
{
    double v[1024];
    result r;
    uint64_t iters = 1, t, start;
    unsigned n = 0;
    for (;;) {
        t = run_batch(b, fn, iters);
        if (t >= p->min_sample_ns || iters >= (1u << 24))
            break;
        iters *= t * 4 < p->min_sample_ns ? 4 : 2;
    }
    if (!b->quick)
        (void)run_batch(b, fn, iters);
    start = now_ns();
    while (n < p->max_reps && n < 1024) {
        t = run_batch(b, fn, iters);
        v[n++] = (double)t / (double)iters;
        if (n >= p->min_reps && now_ns() - start >= p->budget_ns)
            break;
    }
    r.ns = median(v, n);
    r.reps = n;
    r.iters = iters;
    return r;
}

static void op_mark(bench *b, uint64_t i)
{
    int rc = margin_mark_update(b->e, b->market, b->marks[i & 63]);
    if (rc != MARGIN_OK)
        die("margin_mark_update", b->e, rc);
}

static void op_liq_price(bench *b, uint64_t i)
{
    int64_t v = 0;
    int rc = margin_position_at(b->e, b->order[i % b->norder], MARGIN_AT_LIQ_PRICE, 0, &v);
    if (rc != MARGIN_OK)
        die("margin_position_at", b->e, rc);
    b->sink += v;
}

static void op_funding(bench *b, uint64_t i)
{
    int rc = margin_funding_apply(b->e, b->market, (i & 1) ? b->rate : -b->rate, b->marks[i & 63]);
    if (rc != MARGIN_OK)
        die("margin_funding_apply", b->e, rc);
    if (drain(b->e) != b->n) {
        fprintf(stderr, "margin-bench: funding produced other events than one per position\n");
        exit(1);
    }
}

/* ------------------------------------------------------------------ one size */

enum {
    R_NO_TRIGGER,
    R_FULL_SCAN,
    R_LIQUIDATION,
    R_OPEN,
    R_CLOSE,
    R_LIQ_PRICE,
    R_FUNDING,
    R_BYTES,
    R_SPEEDUP,
    R_LIQ_PRICE_RANDOM,
    R_COUNT
};

static const struct {
    const char *name, *unit, *what;
} RNAMES[R_COUNT] = {
    {"mark_update_no_trigger", "ns/update", "indexes, marks inside the band"},
    {"mark_update_full_scan", "ns/update", "MARGIN_ENG_FULL_SCAN=1, same marks"},
    {"liquidation", "ns/position", "per liquidated position, events drained"},
    {"open_position", "ns", "open + drain its event"},
    {"close_position", "ns", "close a random position + drain its event"},
    {"liquidation_price", "ns", "margin_position_at(LIQ_PRICE), id order"},
    {"funding", "ns/position", "margin_funding_apply + drain, per position"},
    {"bytes_per_position", "bytes", "resident set growth / N"},
    {"speedup_vs_full_scan", "x", "full_scan / no_trigger"},
    {"liquidation_price_random", "ns", "margin_position_at(LIQ_PRICE), random order"},
};

typedef struct {
    double v[R_COUNT];
    char detail[R_COUNT][96];
} report;

static unsigned only = ~0u; /* measurements selected with --only (bit per R_*) */

static int want(int which)
{
    return (only >> which) & 1u;
}

static void shuffle(bench *b, uint64_t *a, size_t n)
{
    size_t i;
    for (i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&b->seed, i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Open and close: each batch closes k random open positions, then opens k fresh ones. */
static void measure_open_close(bench *b, report *rep)
{
    size_t k = b->n / 10 ? b->n / 10 : 1, i, j;
    unsigned reps = b->quick ? 2 : 31, r, nr = 0;
    double vo[32], vc[32];
    spec *specs;
    size_t *slots;
    if (k > 1000)
        k = 1000;
    specs = xmalloc(k * sizeof *specs);
    slots = xmalloc(k * sizeof *slots);
    for (r = 0; r < reps + 1; r++) { /* batch 0 warms up */
        uint64_t t0, t1, t2;
        int rc;
        for (i = 0; i < k; i++) {
            int dup;
            do { /* k distinct slots of the open list */
                slots[i] = (size_t)rng_below(&b->seed, b->n);
                dup = 0;
                for (j = 0; j < i; j++)
                    dup |= slots[j] == slots[i];
            } while (dup);
            draw(b, &specs[i]);
        }
        t0 = now_ns();
        for (i = 0; i < k; i++) {
            if ((rc = margin_position_close(b->e, b->ids[slots[i]], P0 * TICK, 0)) != MARGIN_OK)
                die("margin_position_close", b->e, rc);
            drain(b->e);
        }
        t1 = now_ns();
        for (i = 0; i < k; i++) {
            b->ids[slots[i]] = open_spec(b, &specs[i]);
            drain(b->e);
        }
        t2 = now_ns();
        if (r == 0)
            continue;
        vc[nr] = (double)(t1 - t0) / (double)k;
        vo[nr] = (double)(t2 - t1) / (double)k;
        nr++;
    }
    rep->v[R_OPEN] = median(vo, nr);
    rep->v[R_CLOSE] = median(vc, nr);
    snprintf(rep->detail[R_OPEN], sizeof rep->detail[R_OPEN], "median of %u batches x %zu",
             nr, k);
    snprintf(rep->detail[R_CLOSE], sizeof rep->detail[R_CLOSE], "median of %u batches x %zu",
             nr, k);
    free(specs);
    free(slots);
}

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* The timed part of a liquidation sample, apart so that a profiler can single it out
 * (valgrind --tool=callgrind --toggle-collect=liquidating_update): the update and the
 * draining of the events it produced. Returns the number of events. */
static NOINLINE uint64_t liquidating_update(bench *b, int64_t mark)
{
    int rc = margin_mark_update(b->e, b->market, mark);
    if (rc != MARGIN_OK)
        die("margin_mark_update", b->e, rc);
    return drain(b->e);
}

/* Liquidation: an update to the mark at which the k-th most exposed long (or short) is
 * liquidated, k = 1 % of N; then the mark goes back to P0 and fresh positions replace the
 * liquidated ones (not timed). Sides alternate between samples. */
static void measure_liquidation(bench *b, report *rep)
{
    size_t k = b->n / 100 ? b->n / 100 : 1, i, m;
    unsigned reps = b->quick ? 1 : 11, r, nr = 0;
    double v[16];
    uint64_t liqs = 0, calls = 0, budget_start = now_ns();
    int64_t *vals = xmalloc(b->n * sizeof *vals);
    for (r = 0; r < reps + (b->quick ? 0 : 1); r++) { /* sample 0 warms up (unless quick) */
        int32_t side = (r & 1) ? MARGIN_SHORT : MARGIN_LONG;
        int64_t mark, l0, seq0;
        uint64_t t0, t1, nev, nliq;
        int rc;
        for (m = 0, i = 0; i < b->n; i++)
            if (pos_get(b->e, b->ids[i], MARGIN_POS_SIDE) == side)
                vals[m++] = pos_get(b->e, b->ids[i], MARGIN_POS_LIQ_PRICE);
        if (m == 0) { /* every position is on the other side */
            side = -side;
            for (m = 0, i = 0; i < b->n; i++)
                vals[m++] = pos_get(b->e, b->ids[i], MARGIN_POS_LIQ_PRICE);
        }
        qsort(vals, m, sizeof *vals, side == MARGIN_LONG ? cmp_i64_desc : cmp_i64_asc);
        mark = vals[(k < m ? k : m) - 1];
        l0 = eng_get(b->e, MARGIN_ENG_LIQUIDATIONS);
        seq0 = eng_get(b->e, MARGIN_ENG_LAST_SEQ);
        t0 = now_ns();
        nev = liquidating_update(b, mark);
        t1 = now_ns();
        nliq = (uint64_t)(eng_get(b->e, MARGIN_ENG_LIQUIDATIONS) - l0);
        if (nliq == 0 || nev != (uint64_t)(eng_get(b->e, MARGIN_ENG_LAST_SEQ) - seq0)) {
            fprintf(stderr, "margin-bench: the liquidating update liquidated nobody\n");
            exit(1);
        }
        /* restore: mark back in the band, fresh positions for the liquidated ones */
        if ((rc = margin_mark_update(b->e, b->market, P0 * TICK)) != MARGIN_OK)
            die("margin_mark_update", b->e, rc);
        drain(b->e);
        for (i = 0; i < b->n; i++)
            if (pos_get(b->e, b->ids[i], MARGIN_POS_STATUS) != MARGIN_STATUS_OPEN) {
                spec s;
                draw(b, &s);
                b->ids[i] = open_spec(b, &s);
            }
        drain(b->e);
        if (r == 0 && !b->quick)
            continue;
        v[nr++] = (double)(t1 - t0) / (double)nliq;
        liqs += nliq;
        calls += nev - nliq;
        if (nr >= 3 && now_ns() - budget_start > 10000000000ull)
            break;
    }
    free(vals);
    rep->v[R_LIQUIDATION] = median(v, nr);
    snprintf(rep->detail[R_LIQUIDATION], sizeof rep->detail[R_LIQUIDATION],
             "median of %u updates; %.0f liquidations + %.0f margin calls each", nr,
             (double)liqs / nr, (double)calls / nr);
}

static void detail_of(report *rep, int which, const result *r)
{
    snprintf(rep->detail[which], sizeof rep->detail[which], "median of %u samples x %" PRIu64,
             r->reps, r->iters);
}

static void print_report(size_t n, const report *rep, int json, uint64_t nlong,
                         uint64_t naccounts, double build_s)
{
    int i;
    if (json) {
        for (i = 0; i < R_COUNT; i++) {
            if (!want(i))
                continue;
            printf("{\"name\":\"%s\",\"positions\":%zu,\"value\":%.1f,\"unit\":\"%s\"}\n",
                   RNAMES[i].name, n, rep->v[i], RNAMES[i].unit);
        }
        return;
    }
    printf("\nN = %zu positions (%" PRIu64 " long, %" PRIu64 " short; %" PRIu64
           " accounts), built in %.3f s\n",
           n, nlong, (uint64_t)n - nlong, naccounts, build_s);
    printf("  %-26s %12s  %-12s %s\n", "measurement", "value", "unit", "how");
    for (i = 0; i < R_COUNT; i++)
        if (want(i))
                printf("  %-26s %12.1f  %-12s %s; %s\n", RNAMES[i].name, rep->v[i],
                   RNAMES[i].unit, RNAMES[i].what, rep->detail[i]);
    fflush(stdout);
}

static int run_one(size_t n, int json, int quick, uint64_t seed)
{
    bench b;
    report rep;
    uint64_t rss0, rss1, t0, i, nlong = 0;
    int64_t seq0;
    double build_s;
    plan p_fast, p_scan, p_fund;
    result r;
    int rc;

    memset(&b, 0, sizeof b);
    memset(&rep, 0, sizeof rep);
    b.seed = seed;
    b.quick = quick;
    b.n = n;
    b.rate = 100; /* 0.000001 */
    b.ids = xmalloc(n * sizeof *b.ids);
    b.order = xmalloc(n * sizeof *b.order);
    memset(b.ids, 0, n * sizeof *b.ids); /* resident before the baseline */
    memset(b.order, 0, n * sizeof *b.order);
    setup_engine(&b, n);

    /* build: open N positions, draining each event as a consumer would */
    rss0 = rss_bytes();
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        spec s;
        draw(&b, &s);
        b.ids[i] = open_spec(&b, &s);
        nlong += s.side == MARGIN_LONG;
        drain(b.e);
    }
    build_s = (double)(now_ns() - t0) / 1e9;
    rss1 = rss_bytes();
    rep.v[R_BYTES] = (double)(rss1 > rss0 ? rss1 - rss0 : 0) / (double)n;
    snprintf(rep.detail[R_BYTES], sizeof rep.detail[R_BYTES], "RSS %.1f -> %.1f MiB",
             (double)rss0 / 1048576.0, (double)rss1 / 1048576.0);
    if ((uint64_t)eng_get(b.e, MARGIN_ENG_OPEN_POSITIONS) != n) {
        fprintf(stderr, "margin-bench: %zu positions expected open\n", n);
        return 1;
    }

    /* the band is quiet: a full scan at both of its edges produces no event */
    seq0 = eng_get(b.e, MARGIN_ENG_LAST_SEQ);
    if ((rc = margin_engine_set(b.e, MARGIN_ENG_FULL_SCAN, 1)) != MARGIN_OK)
        die("margin_engine_set", b.e, rc);
    if ((rc = margin_mark_update(b.e, b.market, (P0 - BAND) * TICK)) != MARGIN_OK ||
        (rc = margin_mark_update(b.e, b.market, (P0 + BAND) * TICK)) != MARGIN_OK)
        die("margin_mark_update", b.e, rc);
    if ((rc = margin_engine_set(b.e, MARGIN_ENG_FULL_SCAN, 0)) != MARGIN_OK)
        die("margin_engine_set", b.e, rc);
    if (eng_get(b.e, MARGIN_ENG_LAST_SEQ) != seq0) {
        fprintf(stderr, "margin-bench: a mark inside the band triggered something\n");
        return 1;
    }

    p_fast.min_sample_ns = quick ? 20000 : 2000000;
    p_fast.min_reps = 3;
    p_fast.max_reps = quick ? 3 : 31;
    p_fast.budget_ns = quick ? 0 : 500000000;

    /* mark updates through the indexes */
    if (want(R_NO_TRIGGER) || want(R_SPEEDUP)) {
        r = measure(&b, op_mark, &p_fast);
        rep.v[R_NO_TRIGGER] = r.ns;
        detail_of(&rep, R_NO_TRIGGER, &r);
    }

    /* liquidation prices, in id order then in random order */
    for (i = 0; i < n; i++)
        b.order[i] = b.ids[i];
    b.norder = n;
    if (want(R_LIQ_PRICE)) {
        r = measure(&b, op_liq_price, &p_fast);
        rep.v[R_LIQ_PRICE] = r.ns;
        detail_of(&rep, R_LIQ_PRICE, &r);
    }
    if (want(R_LIQ_PRICE_RANDOM)) {
        shuffle(&b, b.order, n);
        r = measure(&b, op_liq_price, &p_fast);
        rep.v[R_LIQ_PRICE_RANDOM] = r.ns;
        detail_of(&rep, R_LIQ_PRICE_RANDOM, &r);
    }

    /* the full scan: as many samples as about 1.5 s allows, at least 3 */
    p_scan.min_sample_ns = quick ? 20000 : 1000000;
    p_scan.min_reps = 3;
    p_scan.max_reps = quick ? 3 : 15;
    p_scan.budget_ns = quick ? 0 : 1500000000;
    if (want(R_FULL_SCAN) || want(R_SPEEDUP)) {
        if ((rc = margin_engine_set(b.e, MARGIN_ENG_FULL_SCAN, 1)) != MARGIN_OK)
            die("margin_engine_set", b.e, rc);
        r = measure(&b, op_mark, &p_scan);
        if ((rc = margin_engine_set(b.e, MARGIN_ENG_FULL_SCAN, 0)) != MARGIN_OK)
            die("margin_engine_set", b.e, rc);
        rep.v[R_FULL_SCAN] = r.ns;
        detail_of(&rep, R_FULL_SCAN, &r);
    }
    rep.v[R_SPEEDUP] = rep.v[R_NO_TRIGGER] > 0 ? rep.v[R_FULL_SCAN] / rep.v[R_NO_TRIGGER] : 0;
    snprintf(rep.detail[R_SPEEDUP], sizeof rep.detail[R_SPEEDUP], "same run");
    if (eng_get(b.e, MARGIN_ENG_LAST_SEQ) != seq0) {
        fprintf(stderr, "margin-bench: a no-trigger mark update produced an event\n");
        return 1;
    }

    /* funding: rate +-0.000001 alternately at marks inside the band */
    p_fund = p_scan;
    p_fund.budget_ns = quick ? 0 : 1000000000;
    p_fund.max_reps = quick ? 3 : 9;
    if (want(R_FUNDING)) {
        r = measure(&b, op_funding, &p_fund);
        rep.v[R_FUNDING] = r.ns / (double)n;
        detail_of(&rep, R_FUNDING, &r);
    }
    if (eng_get(b.e, MARGIN_ENG_LIQUIDATIONS) != 0) {
        fprintf(stderr, "margin-bench: funding liquidated a position\n");
        return 1;
    }

    if (want(R_OPEN) || want(R_CLOSE))
        measure_open_close(&b, &rep);
    if (want(R_LIQUIDATION))
        measure_liquidation(&b, &rep);

    print_report(n, &rep, json, nlong, b.naccounts, build_s);
    margin_engine_free(b.e);
    free(b.ids);
    free(b.order);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f, "usage: margin-bench [--positions N] [--json] [--quick] [--seed S] "
               "[--only NAME,...]\n"
               "  --positions N  only N open positions (default: 1000, 10000, 100000, 1000000)\n"
               "  --json         one JSON object per line: name, positions, value, unit\n"
               "  --quick        minimal samples and warm-up (a smoke test, not a measurement)\n"
               "  --seed S       seed of the position generator (default 1)\n"
               "  --only NAMES   only these measurements (comma-separated names), e.g. for "
               "profiling\n");
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* --only a,b,c: set the selection mask; -1 on an unknown name. */
static int parse_only(const char *list)
{
    unsigned mask = 0;
    while (list != NULL && *list) {
        size_t len = strcspn(list, ","), i;
        for (i = 0; i < R_COUNT; i++)
            if (strlen(RNAMES[i].name) == len && strncmp(RNAMES[i].name, list, len) == 0)
                break;
        if (i == R_COUNT)
            return -1;
        mask |= 1u << i;
        list += len;
        if (*list == ',')
            list++;
    }
    if (mask == 0)
        return -1;
    only = mask;
    return 0;
}

static void print_machine(int json, int quick)
{
    char cpu[256], load[64];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_model(cpu, sizeof cpu);
    load_average(load, sizeof load);
    if (json) {
        printf("{\"name\":\"machine\",\"positions\":0,\"value\":%ld,\"unit\":\"cores\",\"cpu\":",
               cores);
        json_string(cpu);
        printf(",\"compiler\":");
        json_string(compiler());
        printf(",\"cflags\":");
        json_string(MARGIN_BENCH_CFLAGS);
        printf(",\"optimized\":%d,\"library\":", optimized());
        json_string(margin_version_string());
        printf(",\"loadavg\":");
        json_string(load);
        printf(",\"quick\":%d}\n", quick);
    } else {
        printf("libmargin %s benchmark%s\n", margin_version_string(),
               quick ? " (--quick: minimal samples, not a measurement)" : "");
        printf("machine:  %s, %ld cores online, load average %s\n", cpu, cores, load);
        printf("build:    %s, CFLAGS \"%s\", __OPTIMIZE__ %s\n", compiler(),
               MARGIN_BENCH_CFLAGS, optimized() ? "defined" : "not defined");
        printf("market:   BTCUSDT-like, tick 0.1, step 0.001, %zu tiers; mark 60000; "
               "no-trigger marks within 60000 +- 30\n",
               NTIERS);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const size_t defaults[] = {1000, 10000, 100000, 1000000};
    size_t sizes[4], nsizes = 0, i;
    int json = 0, quick = 0, a;
    uint64_t seed = 1, v;

    for (a = 1; a < argc; a++) {
        const char *arg = argv[a], *val = NULL;
        if (strcmp(arg, "--json") == 0) {
            json = 1;
        } else if (strcmp(arg, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--only") == 0 || strncmp(arg, "--only=", 7) == 0) {
            val = arg[6] == '=' ? arg + 7 : (a + 1 < argc ? argv[++a] : NULL);
            if (parse_only(val) != 0) {
                fprintf(stderr, "margin-bench: --only needs measurement names, such as "
                                "liquidation,close_position\n");
                usage(stderr);
                return 2;
            }
        } else if (strcmp(arg, "--positions") == 0 || strcmp(arg, "--seed") == 0 ||
                   strncmp(arg, "--positions=", 12) == 0 || strncmp(arg, "--seed=", 7) == 0) {
            int is_pos = strncmp(arg, "--positions", 11) == 0;
            const char *eq = strchr(arg, '=');
            val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
            if (parse_count(val, &v) != 0 || (is_pos && (v < 1 || v > 100000000))) {
                fprintf(stderr, "margin-bench: %s needs %s\n", is_pos ? "--positions" : "--seed",
                        is_pos ? "a count from 1 to 100000000" : "a non-negative integer");
                usage(stderr);
                return 2;
            }
            if (is_pos)
                sizes[0] = (size_t)v, nsizes = 1;
            else
                seed = v;
        } else {
            fprintf(stderr, "margin-bench: unknown argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if (nsizes == 0) {
        for (i = 0; i < 4; i++)
            sizes[i] = defaults[i];
        nsizes = 4;
    }

    print_machine(json, quick);
    for (i = 0; i < nsizes; i++) {
        pid_t pid;
        int status;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) { /* no fork: run here */
            if (run_one(sizes[i], json, quick, seed) != 0)
                return 1;
            continue;
        }
        if (pid == 0) {
            int rc = run_one(sizes[i], json, quick, seed);
            fflush(stdout);
            _exit(rc);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "margin-bench: the run with %zu positions failed\n", sizes[i]);
            return 1;
        }
    }
    return 0;
}
