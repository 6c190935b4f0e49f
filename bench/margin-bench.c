/* margin-bench: what libmargin's operations cost, at 1,000 to 1,000,000 open positions.
 *
 *   bench/margin-bench [--positions N] [--json] [--quick] [--seed S] [--only NAMES]
 *                      [--data FILE] [--inverse]
 *
 * --inverse runs the isolated measurements on an inverse (coin-margined) BTCUSD-like
 * market instead (issue 15): contracts of 1 USD, the same positions in USD (a position of
 * 0.001 k BTC becomes 60 k contracts, its value N/P in BTC), the same tiers with their
 * floors in BTC at 60,000 (floor / 60,000), entries drawn with the inverse formulas so
 * that the same band stays quiet. The cross measurements run on four inverse markets of
 * one coin (XMARKETS_INV: a perpetual and three dated futures at about 60,000, BTC's
 * tiers, wallets in BTC). Compare its figures with a linear run (docs/performance.md
 * does, alternating runs). The ADL measurement is skipped (its bench is linear); the
 * partial policies run on the inverse market (the slices' threshold is then in BTC).
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
 *   liquidation_min_reduce, liquidation_tier_down, liquidation_slices (issue 13)
 *                           the same with the market's MARGIN_MKT_LIQ_POLICY set to that
 *                           policy, divided by the liquidations in full and in part (the
 *                           detail says how many of each); the positions a step left open
 *                           stay in the book for the next samples
 *   open_position           margin_position_open() of a fresh position, plus draining its event
 *   close_position          margin_position_close() of a random open position, plus its event
 *                           (a batch's ids are read from the bench's table of ids before the
 *                           timing, and the new ones stored after it: the caller's lookup is
 *                           not the library's)
 *   liquidation_price       margin_position_at(MARGIN_AT_LIQ_PRICE), positions in id order
 *   funding                 margin_funding_apply() (rate +-0.000001, nobody liquidated) plus
 *                           draining its N events, divided by N
 *   bytes_per_position      growth of the resident set (/proc/self/statm) while the N
 *                           positions were opened, divided by N (accounts exist before)
 *   mark_update_naive_scan  the baseline (issue 17): the same marks through a scan a user
 *                           would write by hand without the library, every position a
 *                           struct of four doubles (side, size, entry, margin), its tier
 *                           found by a walk up the table, Binance's maintenance margin and
 *                           the isolated equity compared; linear runs only
 *   speedup_vs_naive_scan   mark_update_naive_scan / mark_update_no_trigger, same run
 *
 * Snapshots (issue 12), of the same engine just after it is built and checked (N open
 * positions, N/4 accounts, nothing closed, no event queued), before anything else runs:
 *   snapshot_save           margin_snapshot_save() into a buffer of the right size (allocated
 *                           and touched before), ms per save
 *   snapshot_save_throughput  the snapshot's bytes / snapshot_save, MB/s (10^6 bytes)
 *   snapshot_load           margin_snapshot_load() into a fresh engine (margin_engine_new()
 *                           before and margin_engine_free() after, not timed), ms per load;
 *                           the first loaded engine must save the same bytes and have the same
 *                           state hash (checked once, not timed)
 *   snapshot_load_throughput  the snapshot's bytes / snapshot_load, MB/s
 *   snapshot_bytes_per_position  the snapshot's bytes / MARGIN_ENG_OPEN_POSITIONS
 *   state_hash              margin_state_hash(), ms per hash
 *
 * Cross margin (issue 11), in a second engine: four markets (BTCUSDT, ETHUSDT, SOLUSDT,
 * BNBUSDT-like: Binance's ticks and steps, brackets like theirs, marks 60,000, 3,000, 150
 * and 600) and N accounts, each cross in a random pair of them with one position in each
 * (either side, notional 128 to 524,287 USDT log-uniform, 5x to 50x within the tier's
 * limit, entry within 0.5 % of the mark); one account in four also holds an isolated
 * position (2x to 10x) in a third market. Each account deposits 1 million USDT, opens, and
 * withdraws everything available above a cushion of 5 % to 100 % of its cross initial
 * margin.
 *   cross_mark_update_no_trigger  BTCUSDT's mark 1 or 2 ticks either side of 60,000: no
 *                           account leaves its band (checked: MARGIN_ENG_CROSS_EVALUATIONS
 *                           and the event sequence do not move)
 *   cross_mark_update_full_scan   the same marks with MARGIN_ENG_FULL_SCAN = 1 (every cross
 *                           account holding BTCUSDT evaluated: checked), per update
 *   cross_liquidation       one update to a tick past the cross liquidation price of the
 *                           1 %-th most exposed account on one side of one market (policy
 *                           ALL), plus draining its events, divided by the positions
 *                           liquidated
 *   cross_band_resplits     the real BTC/USDT one-minute candles of ../shared/data (--data)
 *                           replayed as BTCUSDT's marks (open, low/high, high/low, close) over
 *                           N/10 accounts cross in BTCUSDT and ETHUSDT (fixed mark):
 *                           MARGIN_ENG_CROSS_EVALUATIONS per update, and per account per day;
 *                           cross_replay_liquidations counts the accounts liquidated (each
 *                           reopens before the next mark). Skipped, saying so, without the
 *                           file.
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
#define P0_USD 60000LL      /* the mark in USD: an inverse tier floor is floor / P0_USD BTC */
#define INV_CONTRACTS 60LL  /* contracts of 1 USD per 0.001 BTC at 60,000 */

static int inverse; /* --inverse */
static int huge;    /* --huge-pages: this process was started with glibc's huge-page tunable */

/* A maintenance tier: floor in USDT, mmr in ppm, max leverage. */
typedef struct {
    int64_t floor, mmr_ppm, max_lev;
} tier_def;

/* Binance's BTCUSDT tiers (the spec's table). */
static const tier_def TIERS[] = {
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

typedef int (*getter)(const margin_engine *e, uint64_t id, int32_t key, int64_t *out);

/* A figure of a position or an account (fn and its name). */
static int64_t get_fig(margin_engine *e, getter fn, const char *name, uint64_t id, int32_t key)
{
    int64_t v = 0;
    int rc = fn(e, id, key, &v);
    if (rc != MARGIN_OK)
        die(name, e, rc);
    return v;
}

static int64_t pos_get(margin_engine *e, uint64_t id, int32_t key)
{
    return get_fig(e, margin_position_get, "margin_position_get", id, key);
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
    uint8_t *snap; /* a snapshot of e (snapshot_save writes it again) */
    uint64_t partial; /* partial liquidations of the last timed liquidating update */
    size_t snaplen;
} bench;

/* The tier of t[0 .. n) whose range holds a notional in USDT. */
static size_t tier_in(const tier_def *t, size_t n, int64_t notional_usdt)
{
    size_t k = 0;
    while (k + 1 < n && notional_usdt >= t[k + 1].floor)
        k++;
    return k;
}

static size_t tier_of(int64_t notional_usdt)
{
    return tier_in(TIERS, NTIERS, notional_usdt);
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
    /* notional at the highest entry, USDT; inverse: the value at the lowest entry, in USD
     * at 60,000 (+1: the tier floors in BTC are rounded down) */
    int64_t n_hi = inverse ? steps * INV_CONTRACTS * P0 / ENTRY_LO + 1 : steps * (ENTRY_HI) / 10000;
    int64_t n_cap = steps * (P0 * 12 / 10) / 10000;
    int64_t mmr = TIERS[tier_of(n_cap)].mmr_ppm;
    int64_t lo = ENTRY_LO, hi = ENTRY_HI;
    if (lev > TIERS[tier_of(n_hi)].max_lev)
        lev = TIERS[tier_of(n_hi)].max_lev;
    s->side = (rng_next(r) & 1) ? MARGIN_LONG : MARGIN_SHORT;
    if (inverse) {
        /* inverse, M = N/(E*L): the level-λ price is E*L*(r + λ)/(λ*(L + 1)) for a long
         * and E*L*(λ - r)/(λ*(L - 1)) for a short (docs/formulas.md, section 15), each
         * kept out of P0 -+ SAFE; a short at 1x has none */
        if (s->side == MARGIN_LONG) {
            int64_t emax = (P0 - SAFE) * LEVEL_PPM * (lev + 1) / (lev * (LEVEL_PPM + mmr));
            if (emax < hi)
                hi = emax;
        } else if (lev > 1) {
            int64_t den = lev * (LEVEL_PPM - mmr);
            int64_t emin = ((P0 + SAFE) * LEVEL_PPM * (lev - 1) + den - 1) / den;
            if (emin > lo)
                lo = emin;
        }
    } else if (s->side == MARGIN_LONG) {
        int64_t emax = (P0 - SAFE) * (LEVEL_PPM - mmr) * lev / (LEVEL_PPM * (lev - 1));
        if (emax < hi)
            hi = emax;
    } else {
        int64_t den = LEVEL_PPM * (lev + 1);
        int64_t emin = ((P0 + SAFE) * (LEVEL_PPM + mmr) * lev + den - 1) / den;
        if (emin > lo)
            lo = emin;
    }
    s->qty = inverse ? steps * INV_CONTRACTS * ONE : steps * STEP;
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

/* A market with a tick, a step and tiers (scales 8), at a first mark. */
static uint64_t new_market(margin_engine *e, const char *symbol, int64_t tick, int64_t step,
                           const tier_def *tiers, size_t ntiers, int64_t mark)
{
    uint64_t id = 0;
    size_t k;
    int rc;
    if ((rc = margin_market_new(e, symbol, &id)) != MARGIN_OK ||
        (rc = margin_market_set(e, id, MARGIN_MKT_TICK, tick)) != MARGIN_OK ||
        (rc = margin_market_set(e, id, MARGIN_MKT_STEP, inverse ? ONE : step)) != MARGIN_OK)
        die("creating the market", e, rc);
    if (inverse && ((rc = margin_market_set(e, id, MARGIN_MKT_CONTRACT,
                                            MARGIN_CONTRACT_INVERSE)) != MARGIN_OK ||
                    (rc = margin_market_set(e, id, MARGIN_MKT_CONTRACT_SIZE, ONE)) != MARGIN_OK))
        die("making the market inverse", e, rc);
    for (k = 0; k < ntiers; k++)
        if ((rc = margin_market_add_tier(e, id,
                                         inverse ? tiers[k].floor * ONE / P0_USD
                                                 : tiers[k].floor * ONE,
                                         tiers[k].mmr_ppm * 100, tiers[k].max_lev * ONE,
                                         MARGIN_DERIVE)) != MARGIN_OK)
            die("margin_market_add_tier", e, rc);
    if ((rc = margin_mark_update(e, id, mark)) != MARGIN_OK)
        die("margin_mark_update", e, rc);
    return id;
}

static void setup_engine(bench *b, size_t n)
{
    uint64_t i, id;
    int rc;
    if ((rc = margin_engine_new(&b->e)) != MARGIN_OK)
        die("margin_engine_new", NULL, rc);
    b->market = new_market(b->e, "BTCUSDT", TICK, STEP, TIERS, NTIERS, P0 * TICK);
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

static void op_save(bench *b, uint64_t i)
{
    size_t len = 0;
    int rc = margin_snapshot_save(b->e, b->snap, b->snaplen, &len);
    (void)i;
    if (rc != MARGIN_OK || len != b->snaplen)
        die("margin_snapshot_save", b->e, rc);
}

static void op_hash(bench *b, uint64_t i)
{
    uint64_t h = 0;
    int rc = margin_state_hash(b->e, &h);
    (void)i;
    if (rc != MARGIN_OK)
        die("margin_state_hash", b->e, rc);
    b->sink += (int64_t)(h & 0x7fffffff);
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
    R_SNAP_SAVE, /* snapshots (issue 12) */
    R_SNAP_SAVE_MBS,
    R_SNAP_LOAD,
    R_SNAP_LOAD_MBS,
    R_SNAP_BYTES,
    R_STATE_HASH,
    R_LIQ_MIN_REDUCE, /* liquidation policies (issue 13) */
    R_LIQ_TIER_DOWN,
    R_LIQ_SLICES,
    R_ADL, /* auto-deleveraging (issue 14) */
    R_NAIVE_SCAN, /* the hand-written baseline (issue 17) */
    R_NAIVE_SPEEDUP,
    R_X_NO_TRIGGER, /* the cross-margin measurements: from here to R_COUNT */
    R_X_FULL_SCAN,
    R_X_SPEEDUP,
    R_X_LIQUIDATION,
    R_X_RESPLITS,
    R_X_RESPLITS_DAY,
    R_X_REPLAY_LIQ,
    R_COUNT
};
#define R_X_FIRST R_X_NO_TRIGGER

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
    {"snapshot_save", "ms", "margin_snapshot_save into a buffer"},
    {"snapshot_save_throughput", "MB/s", "snapshot bytes / snapshot_save"},
    {"snapshot_load", "ms", "margin_snapshot_load into a fresh engine"},
    {"snapshot_load_throughput", "MB/s", "snapshot bytes / snapshot_load"},
    {"snapshot_bytes_per_position", "bytes", "snapshot bytes / open positions"},
    {"state_hash", "ms", "margin_state_hash"},
    {"liquidation_min_reduce", "ns/position", "as liquidation, policy min-reduce"},
    {"liquidation_tier_down", "ns/position", "as liquidation, policy tier-down"},
    {"liquidation_slices", "ns/position", "as liquidation, policy slices"},
    {"adl_liquidation", "ms", "a bankrupt short deleveraging the top longs of N - 1"},
    {"mark_update_naive_scan", "ns/update", "a hand-written scan of double positions"},
    {"speedup_vs_naive_scan", "x", "naive_scan / no_trigger"},
    {"cross_mark_update_no_trigger", "ns/update", "BTC mark +-1-2 ticks, no band left"},
    {"cross_mark_update_full_scan", "ns/update", "MARGIN_ENG_FULL_SCAN=1, same marks"},
    {"cross_speedup_vs_full_scan", "x", "cross full_scan / no_trigger"},
    {"cross_liquidation", "ns/position", "per liquidated position, policy ALL, drained"},
    {"cross_band_resplits", "evals/update", "BTC candles replayed: evaluations per mark"},
    {"cross_band_resplits_per_account_day", "evals/day", "the same, per account per day"},
    {"cross_replay_liquidations", "accounts", "cross accounts liquidated in the replay"},
};

typedef struct {
    double v[R_COUNT];
    char detail[R_COUNT][192];
    uint64_t accounts[R_COUNT]; /* cross rows: the number of cross accounts (JSON member) */
} report;

static unsigned only = ~0u; /* measurements selected with --only (bit per R_*) */

static int want(int which)
{
    return (only >> which) & 1u;
}

static int want_any(int from, int to)
{
    int i;
    for (i = from; i < to; i++)
        if (want(i))
            return 1;
    return 0;
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
    uint64_t *batch; /* the batch's ids, gathered before and stored after the timing */
    if (k > 1000)
        k = 1000;
    specs = xmalloc(k * sizeof *specs);
    slots = xmalloc(k * sizeof *slots);
    batch = xmalloc(k * sizeof *batch);
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
            batch[i] = b->ids[slots[i]]; /* (the caller's own lookup is not timed) */
        }
        t0 = now_ns();
        for (i = 0; i < k; i++) {
            if ((rc = margin_position_close(b->e, batch[i], P0 * TICK, 0)) != MARGIN_OK)
                die("margin_position_close", b->e, rc);
            drain(b->e);
        }
        t1 = now_ns();
        for (i = 0; i < k; i++) {
            batch[i] = open_spec(b, &specs[i]);
            drain(b->e);
        }
        t2 = now_ns();
        for (i = 0; i < k; i++)
            b->ids[slots[i]] = batch[i];
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
    free(batch);
}

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* The timed part of a liquidation sample, apart so that a profiler can single it out
 * (valgrind --tool=callgrind --toggle-collect=liquidating_update): the update and the
 * draining of the events it produced. Returns the number of events. */
static NOINLINE uint64_t liquidating_update(bench *b, int64_t mark, uint64_t *npartial)
{
    uint64_t n = 0;
    int32_t type;
    int rc = margin_mark_update(b->e, b->market, mark);
    if (rc != MARGIN_OK)
        die("margin_mark_update", b->e, rc);
    *npartial = 0;
    for (;;) { /* drain, counting the partial liquidations */
        if ((rc = margin_event_next(b->e, &type)) != MARGIN_OK)
            die("margin_event_next", b->e, rc);
        if (type == MARGIN_EV_NONE)
            return n;
        *npartial += type == MARGIN_EV_PARTIAL_LIQUIDATION;
        n++;
    }
}

/* One timed liquidating update at mark (liquidating_update): its time in ns; *nliq receives
 * the positions it liquidated (at least one: checked), *nev the events it produced. */
static uint64_t time_liquidation(bench *b, int64_t mark, uint64_t *nliq, uint64_t *nev)
{
    int64_t l0 = eng_get(b->e, MARGIN_ENG_LIQUIDATIONS), seq0 = eng_get(b->e, MARGIN_ENG_LAST_SEQ);
    uint64_t t0 = now_ns(), t1, npartial;
    *nev = liquidating_update(b, mark, &npartial);
    t1 = now_ns();
    b->partial = npartial;
    *nliq = (uint64_t)(eng_get(b->e, MARGIN_ENG_LIQUIDATIONS) - l0) + npartial;
    if (*nliq == 0 || *nev != (uint64_t)(eng_get(b->e, MARGIN_ENG_LAST_SEQ) - seq0)) {
        fprintf(stderr, "margin-bench: the liquidating update liquidated nobody\n");
        exit(1);
    }
    return t1 - t0;
}

/* Liquidation: an update to the mark at which the k-th most exposed long (or short) is
 * liquidated, k = 1 % of N; then the mark goes back to P0 and fresh positions replace the
 * liquidated ones (not timed). Sides alternate between samples. */
static void measure_liquidation(bench *b, report *rep, int which, int32_t policy)
{
    size_t k = b->n / 100 ? b->n / 100 : 1, i, m;
    unsigned reps = b->quick ? 1 : 11, r, nr = 0;
    double v[16];
    uint64_t liqs = 0, calls = 0, parts = 0, budget_start = now_ns();
    int64_t *vals = xmalloc(b->n * sizeof *vals);
    int rc0 = margin_market_set(b->e, b->market, MARGIN_MKT_LIQ_POLICY, policy);
    if (rc0 != MARGIN_OK)
        die("margin_market_set", b->e, rc0);
    for (r = 0; r < reps + (b->quick ? 0 : 1); r++) { /* sample 0 warms up (unless quick) */
        int32_t side = (r & 1) ? MARGIN_SHORT : MARGIN_LONG;
        int64_t mark;
        uint64_t t, nev, nliq;
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
        t = time_liquidation(b, mark, &nliq, &nev);
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
        v[nr++] = (double)t / (double)nliq;
        liqs += nliq;
        parts += b->partial;
        calls += nev - nliq;
        if (nr >= 3 && now_ns() - budget_start > 10000000000ull)
            break;
    }
    free(vals);
    if ((rc0 = margin_market_set(b->e, b->market, MARGIN_MKT_LIQ_POLICY,
                                 MARGIN_LIQ_POLICY_FULL)) != MARGIN_OK)
        die("margin_market_set", b->e, rc0);
    rep->v[which] = median(v, nr);
    if (which == R_LIQUIDATION)
        snprintf(rep->detail[which], sizeof rep->detail[which],
                 "median of %u updates; %.0f liquidations + %.0f margin calls each", nr,
                 (double)liqs / nr, (double)calls / nr);
    else
        snprintf(rep->detail[which], sizeof rep->detail[which],
                 "median of %u updates; %.0f liquidations (%.0f in part) + %.0f margin calls "
                 "each; %.2fx the full policy",
                 nr, (double)liqs / nr, (double)parts / nr, (double)calls / nr,
                 rep->v[R_LIQUIDATION] > 0 ? rep->v[which] / rep->v[R_LIQUIDATION] : 0.0);
}

static margin_engine *new_engine(void);

/* Auto-deleveraging (issue 14): its own engine of n positions in one market (the bench's
 * tiers, margin-call levels off, ADL on, an empty pool): n - 1 longs entered between 50,000
 * and 59,000 (2x to 50x, the bench's sizes) and a short of 10 BTC at 60,000 with margin
 * 15,000 (40x; bankruptcy price 61,500). The timed update moves the mark from 60,000 to
 * 61,600 and drains its events: the short is liquidated with a deficit of 10 * 100 =
 * 1,000, which the top-ranked longs cover at 100 per BTC (their PnL at 61,600 less at
 * 61,500), the last in part: about ten of them at the bench's sizes. The longs are all in profit and far from their triggers, so the update does
 * nothing else: its cost is the liquidation, the ranking of the n - 1 longs (O(n) to
 * score and heapify) and the deleveragings. The mark then goes back (not timed) and a
 * fresh short is opened for the next sample. */
static void measure_adl(size_t n, int quick, uint64_t seed, report *rep)
{
    margin_engine *e = new_engine();
    uint64_t m, acct, id, r = seed ^ 0xAD1u, adl_events = 0;
    unsigned reps = quick ? 1 : 7, k, nr = 0;
    double v[8];
    size_t i;
    int rc;
    m = new_market(e, "BTCUSDT", TICK, STEP, TIERS, sizeof TIERS / sizeof TIERS[0],
                   P0 * TICK);
    if ((rc = margin_engine_set_margin_call_levels(e, NULL, 0)) != MARGIN_OK ||
        (rc = margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0)) != MARGIN_OK ||
        (rc = margin_market_set(e, m, MARGIN_MKT_ADL, MARGIN_ADL_ON)) != MARGIN_OK ||
        (rc = margin_account_new(e, &acct)) != MARGIN_OK ||
        (rc = margin_account_deposit(e, acct, INT64_MAX / 4)) != MARGIN_OK)
        die("setting up the ADL engine", e, rc);
    for (i = 0; i + 1 < n; i++) {
        unsigned e2 = (unsigned)rng_below(&r, 12);
        int64_t steps = ((int64_t)1 << e2) + (int64_t)rng_below(&r, (uint64_t)1 << e2);
        int64_t entry = 500000 + (int64_t)rng_below(&r, 90001); /* ticks */
        int64_t lev = 2 + (int64_t)rng_below(&r, 49);
        int64_t cap = TIERS[tier_of(steps * P0 / 10000)].max_lev; /* (at the mark) */
        if (lev > cap)
            lev = cap;
        if ((rc = margin_position_open(e, acct, m, MARGIN_LONG, steps * STEP, entry * TICK,
                                       lev * ONE, 0, 0, &id)) != MARGIN_OK)
            die("margin_position_open", e, rc);
    }
    if ((rc = margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 1)) != MARGIN_OK)
        die("margin_engine_set", e, rc);
    for (k = 0; k < reps + (quick ? 0 : 1); k++) {
        uint64_t t0, t1, nev;
        if ((rc = margin_position_open(e, acct, m, MARGIN_SHORT, 10000 * STEP, P0 * TICK, 0,
                                       15000 * ONE, 0, &id)) != MARGIN_OK)
            die("margin_position_open", e, rc);
        drain(e);
        t0 = now_ns();
        if ((rc = margin_mark_update(e, m, (P0 + 16000) * TICK)) != MARGIN_OK)
            die("margin_mark_update", e, rc);
        nev = drain(e);
        t1 = now_ns();
        if (pos_get(e, id, MARGIN_POS_STATUS) != MARGIN_STATUS_LIQUIDATED || nev < 2) {
            fprintf(stderr, "margin-bench: the ADL update did not deleverage\n");
            exit(1);
        }
        if ((rc = margin_mark_update(e, m, P0 * TICK)) != MARGIN_OK)
            die("margin_mark_update", e, rc);
        drain(e);
        if (k == 0 && !quick)
            continue;
        v[nr++] = (double)(t1 - t0) / 1e6;
        adl_events += nev - 1;
    }
    rep->v[R_ADL] = median(v, nr);
    snprintf(rep->detail[R_ADL], sizeof rep->detail[R_ADL],
             "median of %u updates against %zu open positions; %.1f positions deleveraged "
             "each",
             nr, n, (double)adl_events / nr);
    margin_engine_free(e);
}

static void detail_of(report *rep, int which, const result *r)
{
    snprintf(rep->detail[which], sizeof rep->detail[which], "median of %u samples x %" PRIu64,
             r->reps, r->iters);
}

static margin_engine *new_engine(void)
{
    margin_engine *e = NULL;
    int rc = margin_engine_new(&e);
    if (rc != MARGIN_OK)
        die("margin_engine_new", NULL, rc);
    return e;
}

static uint64_t state_hash(margin_engine *e)
{
    uint64_t h = 0;
    int rc = margin_state_hash(e, &h);
    if (rc != MARGIN_OK)
        die("margin_state_hash", e, rc);
    return h;
}

#define MAX_LOAD_BATCH 64

/* Snapshots of the engine as it is: one save (not timed) sizes and fills b->snap; then the
 * save, the load and the state hash are timed (plan p: samples of at least p->min_sample_ns,
 * min_reps to max_reps of them within about p->budget_ns). A load is timed alone: the fresh
 * engines are made before the batch and freed after it. The first engine loaded (the
 * warm-up) must save the same bytes and have the same hash as b->e: checked, not timed. */
static void measure_snapshots(bench *b, report *rep, const plan *p)
{
    margin_engine *ld[MAX_LOAD_BATCH];
    double v[1024];
    size_t len = 0, len2 = 0, k, j, open;
    uint8_t *buf2;
    uint64_t t, start, h1;
    unsigned nr = 0;
    result r;
    int rc;

    if ((rc = margin_snapshot_save(b->e, NULL, 0, &len)) != MARGIN_OK)
        die("margin_snapshot_save", b->e, rc);
    b->snaplen = len;
    b->snap = xmalloc(len);
    memset(b->snap, 0, len); /* resident before any timing */
    op_save(b, 0);
    open = (size_t)eng_get(b->e, MARGIN_ENG_OPEN_POSITIONS);
    rep->v[R_SNAP_BYTES] = (double)len / (double)(open ? open : 1);
    snprintf(rep->detail[R_SNAP_BYTES], sizeof rep->detail[R_SNAP_BYTES],
             "%zu bytes / %zu open positions (as built)", len, open);

    if (want(R_SNAP_SAVE) || want(R_SNAP_SAVE_MBS)) {
        r = measure(b, op_save, p);
        rep->v[R_SNAP_SAVE] = r.ns / 1e6;
        rep->v[R_SNAP_SAVE_MBS] = (double)len * 1e3 / r.ns;
        detail_of(rep, R_SNAP_SAVE, &r);
        snprintf(rep->detail[R_SNAP_SAVE_MBS], sizeof rep->detail[R_SNAP_SAVE_MBS],
                 "%.1f MB per save; same run", (double)len / 1e6);
    }

    if (want(R_SNAP_LOAD) || want(R_SNAP_LOAD_MBS)) {
        /* the first load: warm-up, calibration and the check */
        ld[0] = new_engine();
        t = now_ns();
        if ((rc = margin_snapshot_load(ld[0], b->snap, len)) != MARGIN_OK)
            die("margin_snapshot_load", ld[0], rc);
        t = now_ns() - t;
        buf2 = xmalloc(len);
        if ((rc = margin_snapshot_save(ld[0], buf2, len, &len2)) != MARGIN_OK)
            die("margin_snapshot_save (of the loaded engine)", ld[0], rc);
        h1 = state_hash(b->e);
        if (len2 != len || memcmp(buf2, b->snap, len) != 0 || state_hash(ld[0]) != h1) {
            fprintf(stderr, "margin-bench: the loaded engine saves other bytes (%zu, not %zu) "
                            "or hashes differently\n", len2, len);
            exit(1);
        }
        free(buf2);
        margin_engine_free(ld[0]);
        k = t >= p->min_sample_ns ? 1 : (size_t)(p->min_sample_ns / (t ? t : 1)) + 1;
        if (k > MAX_LOAD_BATCH)
            k = MAX_LOAD_BATCH;
        start = now_ns();
        while (nr < p->max_reps && nr < 1024) {
            for (j = 0; j < k; j++)
                ld[j] = new_engine();
            t = now_ns();
            for (j = 0; j < k; j++)
                if ((rc = margin_snapshot_load(ld[j], b->snap, len)) != MARGIN_OK)
                    die("margin_snapshot_load", ld[j], rc);
            t = now_ns() - t;
            for (j = 0; j < k; j++)
                margin_engine_free(ld[j]);
            v[nr++] = (double)t / (double)k;
            if (nr >= p->min_reps && now_ns() - start >= p->budget_ns)
                break;
        }
        r.reps = nr;
        r.iters = k;
        r.ns = median(v, nr);
        rep->v[R_SNAP_LOAD] = r.ns / 1e6;
        rep->v[R_SNAP_LOAD_MBS] = (double)len * 1e3 / r.ns;
        detail_of(rep, R_SNAP_LOAD, &r);
        snprintf(rep->detail[R_SNAP_LOAD] + strlen(rep->detail[R_SNAP_LOAD]),
                 sizeof rep->detail[R_SNAP_LOAD] - strlen(rep->detail[R_SNAP_LOAD]),
                 "; reloaded bytes and hash identical");
        snprintf(rep->detail[R_SNAP_LOAD_MBS], sizeof rep->detail[R_SNAP_LOAD_MBS],
                 "%.1f MB per load; same run", (double)len / 1e6);
    }

    if (want(R_STATE_HASH)) {
        r = measure(b, op_hash, p);
        rep->v[R_STATE_HASH] = r.ns / 1e6;
        detail_of(rep, R_STATE_HASH, &r);
    }
}

/* The snapshot's size after the other measurements (funding paid, positions closed and
 * reopened, liquidated and replaced), appended to snapshot_bytes_per_position's detail. */
static void snapshot_size_at_end(bench *b, report *rep)
{
    size_t len = 0, open, i, used;
    uint64_t last = 0;
    char *d = rep->detail[R_SNAP_BYTES];
    int rc;
    if ((rc = margin_snapshot_save(b->e, NULL, 0, &len)) != MARGIN_OK)
        die("margin_snapshot_save", b->e, rc);
    open = (size_t)eng_get(b->e, MARGIN_ENG_OPEN_POSITIONS);
    for (i = 0; i < b->n; i++)
        last = b->ids[i] > last ? b->ids[i] : last;
    used = strlen(d);
    snprintf(d + used, sizeof rep->detail[R_SNAP_BYTES] - used,
             "; after the run: %zu bytes, %zu open of %" PRIu64 " ids, %.1f per open position",
             len, open, last, (double)len / (double)(open ? open : 1));
}

/* Decimals of a value: 1, or 3 for the small counts of the cross rows (evaluations) and
 * for milliseconds. */
static int decimals(int which, double v)
{
    return (which >= R_X_FIRST && v < 10) || strcmp(RNAMES[which].unit, "ms") == 0 ? 3 : 1;
}

/* The rows from .. to - 1 that were measured: JSON lines, or the table under its title. */
static void print_rows(size_t n, const report *rep, int json, int from, int to)
{
    int i, w;
    if (json) {
        for (i = from; i < to; i++) {
            if (!want(i))
                continue;
            printf("{\"name\":\"%s\",\"positions\":%zu,\"value\":%.*f,\"unit\":\"%s\"",
                   RNAMES[i].name, n, decimals(i, rep->v[i]), rep->v[i], RNAMES[i].unit);
            if (rep->accounts[i] != 0)
                printf(",\"accounts\":%" PRIu64, rep->accounts[i]);
            printf("}\n");
        }
        return;
    }
    w = from < R_X_FIRST ? 27 : 35;
    printf("  %-*s %12s  %-12s %s\n", w, "measurement", "value", "unit", "how");
    for (i = from; i < to; i++)
        if (want(i))
            printf("  %-*s %12.*f  %-12s %s; %s\n", w, RNAMES[i].name,
                   decimals(i, rep->v[i]), rep->v[i], RNAMES[i].unit, RNAMES[i].what,
                   rep->detail[i]);
    fflush(stdout);
}

static void print_report(size_t n, const report *rep, int json, uint64_t nlong,
                         uint64_t naccounts, double build_s)
{
    if (!json)
        printf("\nN = %zu positions (%" PRIu64 " long, %" PRIu64 " short; %" PRIu64
               " accounts), built in %.3f s\n",
               n, nlong, (uint64_t)n - nlong, naccounts, build_s);
    print_rows(n, rep, json, 0, R_X_FIRST);
}

/* The baseline (issue 17): what a user would write by hand without the library, one
 * struct of doubles per position and a scan of all of them on every mark: the tier of the
 * notional at the mark by a walk up the table, Binance's maintenance margin
 * (notional * rate - the tier's cumulative amount), the isolated equity (margin + PnL),
 * and a count of the positions at or past their maintenance. */
typedef struct {
    double side, qty, entry, margin;
} naive_pos;

typedef struct {
    naive_pos *p;
    size_t n;
    double floor[NTIERS], rate[NTIERS], cum[NTIERS];
    size_t liquidatable; /* found by the last scan */
} naive_book;

static naive_book *naive_build(bench *b)
{
    naive_book *nb = xmalloc(sizeof *nb);
    size_t i;
    nb->p = xmalloc(b->n * sizeof *nb->p);
    nb->n = b->n;
    for (i = 0; i < NTIERS; i++) {
        nb->floor[i] = (double)TIERS[i].floor;
        nb->rate[i] = (double)TIERS[i].mmr_ppm / 1e6;
        nb->cum[i] = i == 0 ? 0 : nb->cum[i - 1] + nb->floor[i] * (nb->rate[i] - nb->rate[i - 1]);
    }
    for (i = 0; i < b->n; i++) {
        naive_pos *q = &nb->p[i];
        q->side = pos_get(b->e, b->ids[i], MARGIN_POS_SIDE) == MARGIN_LONG ? 1.0 : -1.0;
        q->qty = (double)pos_get(b->e, b->ids[i], MARGIN_POS_QTY) / 1e8;
        q->entry = (double)pos_get(b->e, b->ids[i], MARGIN_POS_ENTRY_PRICE) / 1e8;
        q->margin = (double)pos_get(b->e, b->ids[i], MARGIN_POS_MARGIN) / 1e8;
    }
    nb->liquidatable = 0;
    return nb;
}

static size_t naive_scan(const naive_book *nb, double mark)
{
    size_t i, k, n = 0;
    for (i = 0; i < nb->n; i++) {
        const naive_pos *q = &nb->p[i];
        double notional = q->qty * mark;
        for (k = 0; k + 1 < NTIERS && notional >= nb->floor[k + 1]; k++)
            ;
        n += q->margin + q->side * q->qty * (mark - q->entry) <=
             notional * nb->rate[k] - nb->cum[k];
    }
    return n;
}

static naive_book *naive_of_bench; /* the book op_naive scans */

static void op_naive(bench *b, uint64_t i)
{
    naive_of_bench->liquidatable += naive_scan(naive_of_bench, (double)b->marks[i & 63] / 1e8);
}

/* How samples are taken: fast operations (samples of at least 2 ms, up to 31 or 0.5 s) and
 * full scans (samples of at least 1 ms, at least 3, up to 15 or about 1.5 s). */
static void plans(int quick, plan *fast, plan *scan)
{
    fast->min_sample_ns = quick ? 20000 : 2000000;
    fast->min_reps = 3;
    fast->max_reps = quick ? 3 : 31;
    fast->budget_ns = quick ? 0 : 500000000;
    scan->min_sample_ns = quick ? 20000 : 1000000;
    scan->min_reps = 3;
    scan->max_reps = quick ? 3 : 15;
    scan->budget_ns = quick ? 0 : 1500000000;
}

/* The isolated measurements at N positions. */
static int run_isolated(size_t n, int json, int quick, uint64_t seed)
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

    plans(quick, &p_fast, &p_scan);

    /* snapshots of the engine as built (before anything else changes it) */
    if (want_any(R_SNAP_SAVE, R_STATE_HASH + 1))
        measure_snapshots(&b, &rep, &p_scan);

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
    if ((want(R_NAIVE_SCAN) || want(R_NAIVE_SPEEDUP)) && inverse && !json)
        printf("(--inverse: mark_update_naive_scan is skipped: its scan is of linear "
               "positions)\n");
    if ((want(R_NAIVE_SCAN) || want(R_NAIVE_SPEEDUP)) && !inverse) {
        naive_book *nb = naive_build(&b);
        naive_of_bench = nb;
        r = measure(&b, op_naive, &p_scan);
        rep.v[R_NAIVE_SCAN] = r.ns;
        detail_of(&rep, R_NAIVE_SCAN, &r);
        snprintf(rep.detail[R_NAIVE_SCAN] + strlen(rep.detail[R_NAIVE_SCAN]),
                 sizeof rep.detail[R_NAIVE_SCAN] - strlen(rep.detail[R_NAIVE_SCAN]),
                 "; %zu bytes per position; it found %zu liquidatable (the engine: 0)",
                 sizeof(naive_pos), nb->liquidatable);
        rep.v[R_NAIVE_SPEEDUP] =
            rep.v[R_NO_TRIGGER] > 0 ? rep.v[R_NAIVE_SCAN] / rep.v[R_NO_TRIGGER] : 0;
        snprintf(rep.detail[R_NAIVE_SPEEDUP], sizeof rep.detail[R_NAIVE_SPEEDUP], "same run");
        free(nb->p);
        free(nb);
        naive_of_bench = NULL;
    }
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
    if (want(R_LIQUIDATION) || want_any(R_LIQ_MIN_REDUCE, R_LIQ_SLICES + 1))
        measure_liquidation(&b, &rep, R_LIQUIDATION, MARGIN_LIQ_POLICY_FULL);
    if (want(R_LIQ_MIN_REDUCE))
        measure_liquidation(&b, &rep, R_LIQ_MIN_REDUCE, MARGIN_LIQ_POLICY_MIN_REDUCE);
    if (want(R_LIQ_TIER_DOWN))
        measure_liquidation(&b, &rep, R_LIQ_TIER_DOWN, MARGIN_LIQ_POLICY_TIER_DOWN);
    if (want(R_LIQ_SLICES))
        measure_liquidation(&b, &rep, R_LIQ_SLICES, MARGIN_LIQ_POLICY_SLICES);
    if (want(R_SNAP_BYTES) && want_any(0, R_SNAP_SAVE))
        snapshot_size_at_end(&b, &rep);

    if (want(R_ADL) && inverse && !json)
        printf("(--inverse: adl_liquidation is skipped: its bench is a linear market)\n");
    if (want(R_ADL) && !inverse) { /* its own engine: the bench's first */
        margin_engine_free(b.e);
        b.e = NULL;
        measure_adl(n, quick, seed, &rep);
    }

    print_report(n, &rep, json, nlong, b.naccounts, build_s);
    margin_engine_free(b.e);
    free(b.ids);
    free(b.order);
    free(b.snap);
    return 0;
}

/* ------------------------------------------------------------------ cross margin */

/* The cross book: four markets modelled on Binance's USD-M contracts (their ticks and
 * steps; bracket tables approximating theirs, BTC's being the spec's), each at a starting
 * mark. */
static const tier_def ETH_TIERS[] = {
    {0, 5000, 100},          {10000, 6500, 75},        {100000, 10000, 50},
    {500000, 20000, 25},     {1000000, 50000, 10},     {2000000, 100000, 5},
    {5000000, 125000, 4},    {10000000, 150000, 3},    {20000000, 250000, 2},
    {50000000, 500000, 1},
};
static const tier_def SOL_TIERS[] = {
    {0, 10000, 50},          {5000, 20000, 25},        {25000, 25000, 20},
    {100000, 50000, 10},     {250000, 100000, 5},      {1000000, 125000, 4},
    {3000000, 150000, 3},    {5000000, 250000, 2},     {10000000, 500000, 1},
};
static const tier_def BNB_TIERS[] = {
    {0, 5000, 75},           {10000, 10000, 50},       {50000, 20000, 25},
    {250000, 50000, 10},     {1000000, 100000, 5},     {2000000, 125000, 4},
    {5000000, 150000, 3},    {10000000, 250000, 2},    {20000000, 500000, 1},
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *symbol;
    int64_t mark, tick, step; /* starting mark and tick in price units, step in quantity units */
    const tier_def *tiers;
    size_t ntiers;
} xmarket_def;

static const xmarket_def XMARKETS[] = {
    {"BTCUSDT", 60000 * ONE, TICK, STEP, TIERS, NTIERS},
    {"ETHUSDT", 3000 * ONE, ONE / 100, STEP, ETH_TIERS, NELEM(ETH_TIERS)},
    {"SOLUSDT", 150 * ONE, ONE / 100, ONE, SOL_TIERS, NELEM(SOL_TIERS)},
    {"BNBUSDT", 600 * ONE, ONE / 100, ONE / 100, BNB_TIERS, NELEM(BNB_TIERS)},
};
#define NXMARKETS NELEM(XMARKETS)
/* --inverse: four inverse markets of one coin (BTC), as a perpetual and three dated
 * futures: contracts of 1 USD, BTC's tiers with their floors in BTC (floor / 60,000),
 * marks around 60,000. Their values, margins and wallets are in BTC. */
static const xmarket_def XMARKETS_INV[] = {
    {"BTCUSD", 60000 * ONE, TICK, ONE, TIERS, NTIERS},
    {"BTCUSD_Q1", 60300 * ONE, TICK, ONE, TIERS, NTIERS},
    {"BTCUSD_Q2", 60600 * ONE, TICK, ONE, TIERS, NTIERS},
    {"BTCUSD_Q3", 59700 * ONE, TICK, ONE, TIERS, NTIERS},
};
static const xmarket_def *XM = XMARKETS; /* XMARKETS_INV with --inverse */
#define XDEPOSIT (1000000LL * ONE) /* deposited before (re)opening: 1 million USDT */
/* (inverse: its worth in BTC at 60,000) */
#define XDEPOSIT_NOW (inverse ? XDEPOSIT / P0_USD : XDEPOSIT)
#define XGUARD 3                    /* no tier edge of a size within 3 ticks of the mark */

typedef struct {
    uint64_t id;  /* the market's id */
    int64_t mark; /* where positions are drawn around (the starting mark, or the replay's) */
    const xmarket_def *def;
} xmarket;

typedef struct {      /* account id = index + 1 */
    uint64_t pos[2];  /* its cross positions, one in each of its two cross markets */
    uint64_t iso;     /* its isolated position (in a third market), 0 if none */
    uint8_t mk[2], iso_mk;
    int8_t side[2];
} xacct;

typedef struct {
    margin_engine *e;
    xmarket mk[NXMARKETS];
    size_t nmk;
    xacct *acct;
    size_t nacct;
    uint64_t niso; /* accounts with an isolated position */
    uint64_t seed;
} xbook;

static int64_t acct_get(margin_engine *e, uint64_t id, int32_t key)
{
    return get_fig(e, margin_account_get, "margin_account_get", id, key);
}

/* 1 when a tier edge of market m lies within XGUARD ticks of its mark for a size qty: an
 * account's band ends at the edge of the tier the mark is in, so a quiet mark must not
 * cross one. */
static int near_tier_edge(const xmarket *m, int64_t qty)
{
    size_t k;
    for (k = 1; k < m->def->ntiers; k++) {
        int64_t p; /* the price at which qty's notional (inverse: value) is the tier's floor */
        int rc = inverse ? margin_dec_div(qty, 8, m->def->tiers[k].floor * ONE / P0_USD, 8, 8,
                                          MARGIN_ROUND_FLOOR, &p)
                         : margin_dec_div(m->def->tiers[k].floor * ONE, 8, qty, 8, 8,
                                          MARGIN_ROUND_FLOOR, &p);
        if (rc != MARGIN_OK)
            continue; /* beyond any price */
        if (p >= m->mark - XGUARD * m->def->tick - 1 && p <= m->mark + XGUARD * m->def->tick + 1)
            return 1;
    }
    return 0;
}

/* A position in market m: either side with equal odds; notional at the mark log-uniform
 * from 128 to 524,287 USDT (at least one step); leverage lev_lo to lev_hi (uniform), capped
 * by the tier of the entry notional; entry within 0.5 % of the mark, on the tick grid. */
static void xdraw(xbook *x, const xmarket *m, int64_t lev_lo, int64_t lev_hi, spec *s)
{
    const xmarket_def *d = m->def;
    uint64_t *r = &x->seed;
    int64_t ticks = m->mark / d->tick, w = ticks / 200, usdt = 0, cap;
    int rc;
    do {
        unsigned e2 = 7 + (unsigned)rng_below(r, 12);
        int64_t notional = ((int64_t)1 << e2) + (int64_t)rng_below(r, (uint64_t)1 << e2);
        int64_t steps = notional * (ONE * ONE / d->step) / m->mark; /* USDT -> steps */
        if (inverse)
            steps = notional; /* contracts of 1 USD */
        s->qty = (steps > 0 ? steps : 1) * d->step;
    } while (near_tier_edge(m, s->qty));
    s->side = (rng_next(r) & 1) ? MARGIN_LONG : MARGIN_SHORT;
    s->price = (ticks - w + (int64_t)rng_below(r, (uint64_t)(2 * w + 1))) * d->tick;
    if (inverse) { /* the tier of the value N/E, its floors at 60,000 USD per BTC */
        int64_t v;
        if ((rc = margin_dec_div(s->qty, 8, s->price, 8, 8, MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
            die("margin_dec_div", NULL, rc);
        usdt = v / ONE * P0_USD + (v % ONE) * P0_USD / ONE + 1;
    } else if ((rc = margin_dec_mul(s->qty, 8, s->price, 8, 0, MARGIN_ROUND_CEIL, &usdt)) !=
               MARGIN_OK) {
        die("margin_dec_mul", NULL, rc);
    }
    cap = d->tiers[tier_in(d->tiers, d->ntiers, usdt)].max_lev;
    s->lev = lev_lo + (int64_t)rng_below(r, (uint64_t)(lev_hi - lev_lo + 1));
    if (s->lev > cap)
        s->lev = cap;
    s->lev *= ONE;
}

static uint64_t xopen(xbook *x, uint64_t account, const xmarket *m, const spec *s,
                      uint32_t flags)
{
    uint64_t id = 0;
    int rc = margin_position_open(x->e, account, m->id, s->side, s->qty, s->price, s->lev, 0,
                                  flags, &id);
    if (rc != MARGIN_OK)
        die("margin_position_open", x->e, rc);
    return id;
}

/* (Re)open account i's two cross positions (cross: 5x to 50x) and its isolated one (iso:
 * 2x to 10x, so that the moves of cross_liquidation rarely reach it): 1 million USDT is
 * deposited first, then everything available above a cushion of 5 % to 100 % of the cross
 * initial margin is withdrawn again. Nothing triggers at the marks, and a move of a few per
 * cent liquidates the most leveraged accounts. */
static void xfill(xbook *x, size_t i, int cross, int iso)
{
    xacct *a = &x->acct[i];
    uint64_t id = (uint64_t)i + 1;
    int64_t avail, keep;
    spec s;
    int k, rc;
    if ((rc = margin_account_deposit(x->e, id, XDEPOSIT_NOW)) != MARGIN_OK)
        die("margin_account_deposit", x->e, rc);
    for (k = 0; cross && k < 2; k++) {
        xdraw(x, &x->mk[a->mk[k]], 5, 50, &s);
        a->pos[k] = xopen(x, id, &x->mk[a->mk[k]], &s, MARGIN_FLAG_CROSS);
        a->side[k] = (int8_t)s.side;
    }
    if (iso) {
        xdraw(x, &x->mk[a->iso_mk], 2, 10, &s);
        a->iso = xopen(x, id, &x->mk[a->iso_mk], &s, 0);
    }
    avail = acct_get(x->e, id, MARGIN_ACCT_AVAILABLE);
    keep = acct_get(x->e, id, MARGIN_ACCT_CROSS_INITIAL_MARGIN) / 1000 *
           (50 + (int64_t)rng_below(&x->seed, 951));
    if (avail > keep && (rc = margin_account_withdraw(x->e, id, avail - keep)) != MARGIN_OK)
        die("margin_account_withdraw", x->e, rc);
    drain(x->e);
}

/* The first nmk markets of XMARKETS (at marks[k], or their starting marks when marks is
 * NULL) and nacct accounts, each cross in two of them (a random pair) with one position in
 * each; with iso_one_in > 0 (and more than two markets), one account in iso_one_in also
 * holds an isolated position in a third market. */
static void xbuild(xbook *x, size_t nmk, const int64_t *marks, size_t nacct, unsigned iso_one_in,
                   uint64_t seed)
{
    size_t i, k;
    int rc;
    memset(x, 0, sizeof *x);
    x->seed = seed;
    x->nmk = nmk;
    x->nacct = nacct;
    x->acct = xmalloc(nacct * sizeof *x->acct);
    memset(x->acct, 0, nacct * sizeof *x->acct);
    if ((rc = margin_engine_new(&x->e)) != MARGIN_OK)
        die("margin_engine_new", NULL, rc);
    for (k = 0; k < nmk; k++) {
        const xmarket_def *d = &XM[k];
        x->mk[k].def = d;
        x->mk[k].mark = marks != NULL ? marks[k] : d->mark;
        x->mk[k].id =
            new_market(x->e, d->symbol, d->tick, d->step, d->tiers, d->ntiers, x->mk[k].mark);
    }
    for (i = 0; i < nacct; i++) {
        xacct *a = &x->acct[i];
        uint64_t id = 0;
        int iso;
        if ((rc = margin_account_new(x->e, &id)) != MARGIN_OK)
            die("margin_account_new", x->e, rc);
        if (id != (uint64_t)i + 1) {
            fprintf(stderr, "margin-bench: account ids are not 1, 2, 3, ...\n");
            exit(1);
        }
        a->mk[0] = (uint8_t)rng_below(&x->seed, nmk);
        a->mk[1] = (uint8_t)rng_below(&x->seed, nmk - 1);
        a->mk[1] += a->mk[1] >= a->mk[0];
        for (k = 0; k < 2; k++)
            if ((rc = margin_account_set_mode(x->e, id, x->mk[a->mk[k]].id, MARGIN_MODE_CROSS)) !=
                MARGIN_OK)
                die("margin_account_set_mode", x->e, rc);
        iso = nmk > 2 && iso_one_in > 0 && rng_below(&x->seed, iso_one_in) == 0;
        if (iso) { /* the c-th market outside the pair */
            uint64_t c = rng_below(&x->seed, nmk - 2);
            for (k = 0; k < nmk; k++)
                if (k != a->mk[0] && k != a->mk[1] && c-- == 0)
                    a->iso_mk = (uint8_t)k;
            x->niso++;
        }
        xfill(x, i, 1, iso);
    }
}

static void xfree(xbook *x)
{
    margin_engine_free(x->e);
    free(x->acct);
    x->e = NULL;
    x->acct = NULL;
}

static int is_open(margin_engine *e, uint64_t pos)
{
    return pos_get(e, pos, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN;
}

/* Reopen what a move liquidated (the marks are back where the positions are drawn): adds
 * the accounts whose cross book was liquidated to *nacc, the isolated positions to *niso. */
static void xrestore(xbook *x, uint64_t *nacc, uint64_t *niso)
{
    size_t i;
    for (i = 0; i < x->nacct; i++) {
        const xacct *a = &x->acct[i];
        int c0 = !is_open(x->e, a->pos[0]), c1 = !is_open(x->e, a->pos[1]);
        int iso = a->iso != 0 && !is_open(x->e, a->iso);
        if (c0 != c1) { /* policy ALL closes both */
            fprintf(stderr, "margin-bench: account %zu lost one cross position of two\n", i + 1);
            exit(1);
        }
        if (c0 || iso)
            xfill(x, i, c0, iso);
        *nacc += (uint64_t)c0;
        *niso += (uint64_t)iso;
    }
}

/* Liquidation: an update of one market one tick past the cross liquidation price of the
 * 1 %-th most exposed account holding it on one side (longs: the k-th highest price); every
 * account at or past it is liquidated (policy ALL: both its cross positions), together with
 * the isolated positions the move reaches, and the margin calls fire. Timed: the update and
 * the draining of its events, divided by the positions liquidated. Then, not timed, the
 * mark goes back and the liquidated positions are reopened. Markets rotate and sides
 * alternate between samples. */
static void measure_xliquidation(xbook *x, bench *b, report *rep)
{
    unsigned reps = b->quick ? 1 : 11, r, nr = 0;
    double v[16];
    uint64_t xacc = 0, xpos = 0, iso = 0, calls = 0, evals = 0, budget_start = now_ns();
    int64_t *vals = xmalloc(x->nacct * sizeof *vals);
    for (r = 0; r < reps + (b->quick ? 0 : 1); r++) { /* sample 0 warms up (unless quick) */
        size_t mi = 0, m = 0, i, k, c;
        int32_t side = MARGIN_LONG;
        int64_t mark, ev0;
        uint64_t t, nev, nliq, nacc = 0, niso = 0;
        int rc;
        for (c = 0; c < 2 * x->nmk && m == 0; c++) { /* a market and side with holders */
            mi = ((r >> 1) + c / 2) % x->nmk;
            side = ((r + c) & 1) ? MARGIN_SHORT : MARGIN_LONG;
            for (i = 0; i < x->nacct; i++)
                for (k = 0; k < 2; k++)
                    if (x->acct[i].mk[k] == mi && x->acct[i].side[k] == side) {
                        int64_t lp = pos_get(x->e, x->acct[i].pos[k], MARGIN_POS_LIQ_PRICE);
                        if (lp > 0)
                            vals[m++] = lp;
                    }
        }
        if (m == 0) {
            fprintf(stderr, "margin-bench: no cross position can be liquidated\n");
            exit(1);
        }
        qsort(vals, m, sizeof *vals, side == MARGIN_LONG ? cmp_i64_desc : cmp_i64_asc);
        /* one tick past it: the cross liquidation price is a figure for people, the exact
         * evaluation of the book can differ from it by its rounding */
        mark = vals[(m / 100 ? m / 100 : 1) - 1] - side * x->mk[mi].def->tick;
        b->market = x->mk[mi].id;
        ev0 = eng_get(x->e, MARGIN_ENG_CROSS_EVALUATIONS);
        t = time_liquidation(b, mark, &nliq, &nev);
        ev0 = eng_get(x->e, MARGIN_ENG_CROSS_EVALUATIONS) - ev0;
        if ((rc = margin_mark_update(x->e, b->market, x->mk[mi].mark)) != MARGIN_OK)
            die("margin_mark_update", x->e, rc);
        drain(x->e);
        xrestore(x, &nacc, &niso);
        if (r == 0 && !b->quick)
            continue;
        v[nr++] = (double)t / (double)nliq;
        xacc += nacc;
        xpos += nliq - niso;
        iso += niso;
        calls += nev - nliq - nacc; /* one event per position, one per cross account */
        evals += (uint64_t)ev0;
        if (nr >= 3 && now_ns() - budget_start > 30000000000ull)
            break;
    }
    free(vals);
    rep->v[R_X_LIQUIDATION] = median(v, nr);
    snprintf(rep->detail[R_X_LIQUIDATION], sizeof rep->detail[R_X_LIQUIDATION],
             "median of %u updates; each: %.0f cross accounts (%.0f positions) + %.0f isolated "
             "liquidated, %.0f margin calls, %.0f accounts evaluated",
             nr, (double)xacc / nr, (double)xpos / nr, (double)iso / nr, (double)calls / nr,
             (double)evals / nr);
}

/* ------------------------------------------------------------------ the real candles */

#define CANDLES "btcusdt-1m-2023-03-01_21.csv"
#ifdef MARGIN_BENCH_SRCDIR
#define DEFAULT_DATA MARGIN_BENCH_SRCDIR "/../shared/data/" CANDLES
#else
#define DEFAULT_DATA "../shared/data/" CANDLES
#endif
static const char *data_path = DEFAULT_DATA; /* --data */

/* Read one-minute candles (open_time,open,high,low,close,volume) as marks, four a row:
 * open, then low and high (high and low when the candle closed below its open), close.
 * -1 when the file cannot be opened; a malformed file ends the program. */
static int load_candles(const char *path, int64_t **out, size_t *nmarks, size_t *nrows)
{
    char line[512];
    size_t cap = 0, n = 0, rows = 0;
    long lineno = 0;
    int64_t *v = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        char *field[6];
        int64_t o = 0, h = 0, l = 0, c = 0;
        int k, bad = 0;
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, "open_time,open,high,low,close", 29) != 0)
                break;
            continue;
        }
        field[0] = line;
        for (k = 1; k < 6 && !bad; k++) {
            char *comma = strchr(field[k - 1], ',');
            bad = comma == NULL;
            if (!bad) {
                *comma = '\0';
                field[k] = comma + 1;
            }
        }
        if (bad || margin_dec_parse(field[1], 8, &o) != MARGIN_OK ||
            margin_dec_parse(field[2], 8, &h) != MARGIN_OK ||
            margin_dec_parse(field[3], 8, &l) != MARGIN_OK ||
            margin_dec_parse(field[4], 8, &c) != MARGIN_OK || l <= 0 || h < o || h < c ||
            l > o || l > c) {
            fprintf(stderr, "margin-bench: %s: line %ld is not a candle\n", path, lineno);
            exit(1);
        }
        if (n + 4 > cap) {
            int64_t *nv;
            cap = cap ? cap * 2 : 4096;
            if ((nv = realloc(v, cap * sizeof *v)) == NULL) {
                fprintf(stderr, "margin-bench: out of memory reading %s\n", path);
                exit(1);
            }
            v = nv;
        }
        v[n++] = o;
        v[n++] = c >= o ? l : h;
        v[n++] = c >= o ? h : l;
        v[n++] = c;
        rows++;
    }
    fclose(f);
    if (rows == 0) {
        fprintf(stderr, "margin-bench: %s: no open_time,open,high,low,close,volume candles\n",
                path);
        exit(1);
    }
    *out = v;
    *nmarks = n;
    *nrows = rows;
    return 0;
}

/* Band re-splits on a real path: n/10 accounts (at least 1), each cross in BTCUSDT and
 * ETHUSDT with one position in each, drawn around the first candle's open and ETHUSDT's
 * fixed mark; then every mark of the candles is applied to BTCUSDT. Counted: the cross
 * evaluations each update caused (MARGIN_ENG_CROSS_EVALUATIONS) and the liquidations. A
 * liquidated account reopens two positions before the next mark (not counted), so that n/10
 * accounts hold cross positions throughout. Returns 0, or -1 (why says why) to skip. */
static int measure_replay(size_t n, uint64_t seed, report *rep, char *why, size_t whysize)
{
    xbook x;
    int64_t *marks = NULL, m0[2], l0, ev, evals = 0;
    size_t nm = 0, rows = 0, na = n / 10 ? n / 10 : 1, i, nre;
    uint64_t t_upd = 0, xliq = 0, calls = 0, *reopen;
    double days;
    int rc;
    if (load_candles(data_path, &marks, &nm, &rows) != 0) {
        snprintf(why, whysize, "cannot read %s (%s)", data_path, strerror(errno));
        return -1;
    }
    m0[0] = marks[0];
    m0[1] = XM[1].mark;
    xbuild(&x, 2, m0, na, 0, seed);
    reopen = xmalloc(na * sizeof *reopen);
    l0 = eng_get(x.e, MARGIN_ENG_LIQUIDATIONS);
    for (i = 0; i < nm; i++) {
        uint64_t t0;
        int32_t type;
        ev = eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS);
        t0 = now_ns();
        if ((rc = margin_mark_update(x.e, x.mk[0].id, marks[i])) != MARGIN_OK)
            die("margin_mark_update", x.e, rc);
        t_upd += now_ns() - t0;
        evals += eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS) - ev;
        x.mk[0].mark = marks[i];
        for (nre = 0;;) {
            int64_t acct = 0;
            if ((rc = margin_event_next(x.e, &type)) != MARGIN_OK)
                die("margin_event_next", x.e, rc);
            if (type == MARGIN_EV_NONE)
                break;
            calls += type == MARGIN_EV_MARGIN_CALL;
            if (type != MARGIN_EV_CROSS_LIQUIDATION)
                continue;
            if ((rc = margin_event_get(x.e, MARGIN_EVF_ACCOUNT, &acct)) != MARGIN_OK)
                die("margin_event_get", x.e, rc);
            reopen[nre++] = (uint64_t)acct;
        }
        xliq += nre;
        for (; nre > 0; nre--)
            xfill(&x, (size_t)(reopen[nre - 1] - 1), 1, 0);
    }
    l0 = eng_get(x.e, MARGIN_ENG_LIQUIDATIONS) - l0;
    free(reopen);
    days = (double)rows / 1440.0;
    rep->v[R_X_RESPLITS] = (double)evals / (double)nm;
    rep->v[R_X_RESPLITS_DAY] = (double)evals / (double)na / days;
    rep->v[R_X_REPLAY_LIQ] = (double)xliq;
    rep->accounts[R_X_RESPLITS] = rep->accounts[R_X_RESPLITS_DAY] = na;
    rep->accounts[R_X_REPLAY_LIQ] = na;
    snprintf(rep->detail[R_X_RESPLITS], sizeof rep->detail[R_X_RESPLITS],
             "%zu accounts (BTC + ETH at a fixed mark), %zu marks (o, l/h, h/l, c of %zu "
             "candles); a full scan: %zu per mark; %.0f ns per update",
             na, nm, rows, na, (double)t_upd / (double)nm);
    snprintf(rep->detail[R_X_RESPLITS_DAY], sizeof rep->detail[R_X_RESPLITS_DAY],
             "%" PRId64 " evaluations / %zu accounts / %.2f days", evals, na, days);
    snprintf(rep->detail[R_X_REPLAY_LIQ], sizeof rep->detail[R_X_REPLAY_LIQ],
             "%" PRId64 " positions; %" PRIu64 " margin calls; each liquidated account reopens "
             "before the next mark",
             l0, calls);
    free(marks);
    xfree(&x);
    return 0;
}

/* ------------------------------------------------------------------ cross: one size */

static void set_full_scan(margin_engine *e, int on)
{
    int rc = margin_engine_set(e, MARGIN_ENG_FULL_SCAN, on);
    if (rc != MARGIN_OK)
        die("margin_engine_set", e, rc);
}

/* The cross measurements at N cross accounts (and N/10 for the replay). */
static int run_cross(size_t n, int json, int quick, uint64_t seed)
{
    int book = want(R_X_NO_TRIGGER) || want(R_X_FULL_SCAN) || want(R_X_SPEEDUP) ||
               want(R_X_LIQUIDATION);
    int replay = want(R_X_RESPLITS) || want(R_X_RESPLITS_DAY) || want(R_X_REPLAY_LIQ);
    int skipped = 0, i;
    char why[512];
    report rep;
    bench b;
    xbook x;
    double build_s = 0;
    uint64_t holders = 0, t0;
    plan p_fast, p_scan;
    result r;

    memset(&rep, 0, sizeof rep);
    memset(&b, 0, sizeof b);
    memset(&x, 0, sizeof x);
    for (i = R_X_FIRST; i < R_COUNT; i++)
        rep.accounts[i] = n;
    plans(quick, &p_fast, &p_scan);
    if (book) {
        int64_t seq0, ev0;
        size_t k;
        t0 = now_ns();
        xbuild(&x, NXMARKETS, NULL, n, 4, seed);
        build_s = (double)(now_ns() - t0) / 1e9;
        for (k = 0; k < x.nacct; k++)
            holders += x.acct[k].mk[0] == 0 || x.acct[k].mk[1] == 0;
        b.e = x.e;
        b.market = x.mk[0].id;
        b.quick = quick;
        for (i = 0; i < 64; i++) /* BTCUSDT's mark -1, +1, -2, +2, ... ticks */
            b.marks[i] = x.mk[0].mark + (int64_t)((i & 1) ? 1 : -1) * (1 + (i % 3 == 0)) * TICK;
        seq0 = eng_get(x.e, MARGIN_ENG_LAST_SEQ);
        ev0 = eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS);
        if (want(R_X_NO_TRIGGER) || want(R_X_SPEEDUP)) {
            r = measure(&b, op_mark, &p_fast);
            rep.v[R_X_NO_TRIGGER] = r.ns;
            detail_of(&rep, R_X_NO_TRIGGER, &r);
            if (eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS) != ev0 ||
                eng_get(x.e, MARGIN_ENG_LAST_SEQ) != seq0) {
                fprintf(stderr, "margin-bench: a quiet cross mark update evaluated %" PRId64
                                " accounts and produced %" PRId64 " events\n",
                        eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS) - ev0,
                        eng_get(x.e, MARGIN_ENG_LAST_SEQ) - seq0);
                return 1;
            }
            snprintf(rep.detail[R_X_NO_TRIGGER] + strlen(rep.detail[R_X_NO_TRIGGER]),
                     sizeof rep.detail[R_X_NO_TRIGGER] - strlen(rep.detail[R_X_NO_TRIGGER]),
                     "; 0 evaluations, 0 events");
        }
        if (want(R_X_FULL_SCAN) || want(R_X_SPEEDUP)) {
            uint64_t c0 = op_counter;
            ev0 = eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS);
            set_full_scan(x.e, 1);
            r = measure(&b, op_mark, &p_scan);
            set_full_scan(x.e, 0);
            rep.v[R_X_FULL_SCAN] = r.ns;
            ev0 = eng_get(x.e, MARGIN_ENG_CROSS_EVALUATIONS) - ev0;
            if ((uint64_t)ev0 != (op_counter - c0) * holders ||
                eng_get(x.e, MARGIN_ENG_LAST_SEQ) != seq0) {
                fprintf(stderr, "margin-bench: the full scan evaluated %" PRId64 " accounts in %"
                                PRIu64 " updates (%" PRIu64 " hold BTCUSDT) or produced events\n",
                        ev0, op_counter - c0, holders);
                return 1;
            }
            snprintf(rep.detail[R_X_FULL_SCAN], sizeof rep.detail[R_X_FULL_SCAN],
                     "median of %u samples x %" PRIu64 "; %" PRIu64 " accounts evaluated each",
                     r.reps, r.iters, holders);
        }
        rep.v[R_X_SPEEDUP] =
            rep.v[R_X_NO_TRIGGER] > 0 ? rep.v[R_X_FULL_SCAN] / rep.v[R_X_NO_TRIGGER] : 0;
        snprintf(rep.detail[R_X_SPEEDUP], sizeof rep.detail[R_X_SPEEDUP], "same run");
        if (want(R_X_LIQUIDATION))
            measure_xliquidation(&x, &b, &rep);
    }
    if (replay && measure_replay(n, seed, &rep, why, sizeof why) != 0)
        skipped = 1;

    if (!json && book) {
        char mk[4][48];
        size_t k;
        for (k = 0; k < NXMARKETS; k++)
            if (margin_dec_format(XM[k].mark, 8, mk[k], sizeof mk[k]) != MARGIN_OK)
                snprintf(mk[k], sizeof mk[k], "?");
        printf("\nN = %zu cross accounts (%zu cross positions in %s %s, %s %s, %s %s, %s %s; "
               "%" PRIu64 " isolated; %" PRIu64 " accounts hold %s), built in %.3f s\n",
               n, 2 * n, XM[0].symbol, mk[0], XM[1].symbol, mk[1], XM[2].symbol, mk[2],
               XM[3].symbol, mk[3], x.niso, holders, XM[0].symbol, build_s);
    } else if (!json)
        printf("\nN = %zu: cross margin\n", n);
    print_rows(n, &rep, json, R_X_FIRST, skipped ? R_X_RESPLITS : R_COUNT);
    if (skipped && json) {
        printf("{\"name\":\"skipped\",\"positions\":%zu,\"value\":0,\"unit\":\"none\",\"what\":"
               "\"cross_band_resplits\",\"reason\":",
               n);
        json_string(why);
        printf("}\n");
    } else if (skipped) {
        printf("  cross_band_resplits and the other replay rows: skipped: %s\n", why);
    }
    fflush(stdout);
    if (book)
        xfree(&x);
    return 0;
}

static int run_one(size_t n, int json, int quick, uint64_t seed)
{
    if (want_any(0, R_X_FIRST) && run_isolated(n, json, quick, seed) != 0)
        return 1;
    if (want_any(R_X_FIRST, R_COUNT))
        return run_cross(n, json, quick, seed);
    return 0;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f, "usage: margin-bench [--positions N] [--json] [--quick] [--seed S] "
               "[--only NAME,...] [--data FILE] [--inverse] [--huge-pages]\n"
               "  --positions N  only N open positions (default: 1000, 10000, 100000, 1000000);\n"
               "                 the cross measurements use N cross accounts (N/10 in the "
               "replay)\n"
               "  --json         one JSON object per line: name, positions, value, unit\n"
               "  --quick        minimal samples and warm-up (a smoke test, not a measurement)\n"
               "  --seed S       seed of the position generator (default 1)\n"
               "  --only NAMES   only these measurements (comma-separated names), e.g. for "
               "profiling\n"
               "  --inverse      the measurements on inverse (coin-margined) markets\n"
               "  --huge-pages   run with glibc's malloc on transparent huge pages (restarts\n"
               "                 itself with GLIBC_TUNABLES=glibc.malloc.hugetlb=1; Linux,\n"
               "                 glibc 2.35 or later, THP enabled or madvise)\n"
               "  --data FILE    the BTC/USDT one-minute candles replayed by "
               "cross_band_resplits\n"
               "                 (default %s; skipped when missing)\n",
            DEFAULT_DATA);
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

/* The kernel's transparent huge page mode ("always", "madvise", "never"; "unknown" off
 * Linux): the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled. */
static void thp_mode(char *buf, size_t size)
{
    char line[128], *l, *r;
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    snprintf(buf, size, "unknown");
    if (f == NULL)
        return;
    if (fgets(line, sizeof line, f) != NULL && (l = strchr(line, '[')) != NULL &&
        (r = strchr(l, ']')) != NULL) {
        *r = '\0';
        snprintf(buf, size, "%s", l + 1);
    }
    fclose(f);
}

/* --huge-pages: glibc reads its tunables once, at start, so the process starts again with
 * glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES (malloc then advises its heap and its
 * mapped blocks MADV_HUGEPAGE). MARGIN_BENCH_HUGE marks the restarted process. */
static void restart_on_huge_pages(char **argv)
{
    const char *old = getenv("GLIBC_TUNABLES");
    char *val;
    size_t n;
    if (getenv("MARGIN_BENCH_HUGE") != NULL) {
        huge = 1;
        return;
    }
    n = (old != NULL ? strlen(old) + 1 : 0) + sizeof "glibc.malloc.hugetlb=1";
    val = xmalloc(n);
    snprintf(val, n, "%s%sglibc.malloc.hugetlb=1", old != NULL ? old : "",
             old != NULL && *old != '\0' ? ":" : "");
    if (setenv("GLIBC_TUNABLES", val, 1) != 0 || setenv("MARGIN_BENCH_HUGE", "1", 1) != 0) {
        fprintf(stderr, "margin-bench: --huge-pages: cannot set the environment: %s\n",
                strerror(errno));
        exit(2);
    }
    free(val);
    fflush(stdout);
    execv("/proc/self/exe", argv);
    execvp(argv[0], argv);
    fprintf(stderr, "margin-bench: --huge-pages: cannot restart itself: %s\n", strerror(errno));
    exit(2);
}

static void print_machine(int json, int quick)
{
    char thp[32];
    char cpu[256], load[64];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_model(cpu, sizeof cpu);
    load_average(load, sizeof load);
    thp_mode(thp, sizeof thp);
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
        printf(",\"quick\":%d,\"inverse\":%d,\"thp\":", quick, inverse);
        json_string(thp);
        printf(",\"huge_pages\":%d}\n", huge);
    } else {
        printf("libmargin %s benchmark%s\n", margin_version_string(),
               quick ? " (--quick: minimal samples, not a measurement)" : "");
        printf("machine:  %s, %ld cores online, load average %s\n", cpu, cores, load);
        printf("build:    %s, CFLAGS \"%s\", __OPTIMIZE__ %s\n", compiler(),
               MARGIN_BENCH_CFLAGS, optimized() ? "defined" : "not defined");
        printf("memory:   transparent huge pages \"%s\"; %s\n", thp,
               huge ? "malloc on huge pages (--huge-pages: glibc.malloc.hugetlb=1)"
                    : "malloc's default (4 KiB pages unless THP is \"always\")");
        if (inverse)
            printf("market:   inverse BTCUSD-like (--inverse), contracts of 1 USD, tick 0.1, "
                   "step 1 contract, %zu tiers on the BTC value; mark 60000; no-trigger marks "
                   "within 60000 +- 30\n",
                   NTIERS);
        else
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
        } else if (strcmp(arg, "--huge-pages") == 0) {
            huge = 1;
        } else if (strcmp(arg, "--inverse") == 0) {
            inverse = 1;
            XM = XMARKETS_INV;
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
        } else if (strcmp(arg, "--data") == 0 || strncmp(arg, "--data=", 7) == 0) {
            FILE *f;
            val = arg[6] == '=' ? arg + 7 : (a + 1 < argc ? argv[++a] : NULL);
            if (val == NULL || *val == '\0' || (f = fopen(val, "r")) == NULL) {
                fprintf(stderr, "margin-bench: --data needs a readable candle file\n");
                usage(stderr);
                return 2;
            }
            fclose(f);
            data_path = val;
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

    if (huge)
        restart_on_huge_pages(argv);
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
