/* Suite "market": market creation, symbols, options and their defaults and validation,
 * price/quantity scales and the tick/step grid, and maintenance tiers (the recurrence,
 * lookups at and around edges, per-tier leverage limits, continuity of the maintenance
 * margin at tier edges).
 *
 * Every expected number comes from include/margin.h (documented defaults),
 * ../shared/spec/margin-math.md (tier tables and lookups), or a hand calculation written in
 * the comment beside it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* ------------------------------------------------------------------ tier tables */

struct tier_row {
    int64_t floor_usdt; /* floor notional, whole USDT */
    const char *mmr;    /* maintenance rate, decimal */
    int64_t cum_usdt;   /* maintenance amount from the spec, whole USDT */
    int64_t max_lev;    /* maximum leverage, whole x */
};

/* BTC/USDT as in the spec ("Tier tables ... used by freqtrade's tests"): floor, mmr, cum.
 * The spec gives no per-tier leverage; the maximum leverages here are those of freqtrade's
 * conftest table for BTC/USDT (Binance's brackets: 125, 100, 50, 20, 10, 5, 4, 3, 2, 1).
 * Recurrence check by hand, cum_k = floor_k*(mmr_k - mmr_(k-1)) + cum_(k-1):
 *   50000*(0.005-0.004)+0 = 50;        250000*(0.01-0.005)+50 = 1300;
 *   1000000*(0.025-0.01)+1300 = 16300; 7500000*(0.05-0.025)+16300 = 203800;
 *   40000000*(0.1-0.05)+203800 = 2203800; 100000000*(0.125-0.1)+2203800 = 4703800;
 *   200000000*(0.15-0.125)+4703800 = 9703800; 400000000*(0.25-0.15)+9703800 = 49703800;
 *   600000000*(0.5-0.25)+49703800 = 199703800. */
static const struct tier_row btc_tiers[] = {
    {0, "0.004", 0, 125},
    {50000, "0.005", 50, 100},
    {250000, "0.01", 1300, 50},
    {1000000, "0.025", 16300, 20},
    {7500000, "0.05", 203800, 10},
    {40000000, "0.1", 2203800, 5},
    {100000000, "0.125", 4703800, 4},
    {200000000, "0.15", 9703800, 3},
    {400000000, "0.25", 49703800, 2},
    {600000000, "0.5", 199703800, 1},
};
#define N_BTC ((int)(sizeof btc_tiers / sizeof btc_tiers[0]))

/* ADA and ZEC: the spec gives only lookups (ADA 500 -> (0.025, 0), ADA 20,000,000 ->
 * (0.5, 1527500); ZEC 500 -> (0.01, 0), ZEC 20,000,000 -> (0.5, 654500)). These tables are
 * freqtrade's conftest ADA/BUSD and ZEC/USDT brackets (floors and rates); we pass only
 * floor and rate and let the engine derive cum, and the recurrence reproduces the spec's
 * lookups, which is what justifies the tables:
 *   ADA: 100000*(0.05-0.025) = 2500; 500000*(0.1-0.05)+2500 = 27500;
 *        1000000*(0.15-0.1)+27500 = 77500; 2000000*(0.25-0.15)+77500 = 277500;
 *        5000000*(0.5-0.25)+277500 = 1527500  (the spec's ADA 20,000,000 lookup).
 *   ZEC: 50000*(0.025-0.01) = 750; 150000*(0.05-0.025)+750 = 4500;
 *        250000*(0.1-0.05)+4500 = 17000; 500000*(0.125-0.1)+17000 = 29500;
 *        1000000*(0.25-0.125)+29500 = 154500; 2000000*(0.5-0.25)+154500 = 654500. */
static const struct tier_row ada_tiers[] = {
    {0, "0.025", 0, 20},           {100000, "0.05", 2500, 10},
    {500000, "0.1", 27500, 5},     {1000000, "0.15", 77500, 3},
    {2000000, "0.25", 277500, 2},  {5000000, "0.5", 1527500, 1},
};
static const struct tier_row zec_tiers[] = {
    {0, "0.01", 0, 50},           {50000, "0.025", 750, 20},    {150000, "0.05", 4500, 10},
    {250000, "0.1", 17000, 5},    {500000, "0.125", 29500, 4},  {1000000, "0.25", 154500, 2},
    {2000000, "0.5", 654500, 1},
};

#define USDT(n) ((int64_t)(n) * 100000000LL) /* whole USDT -> money units */
#define X(n) ((int64_t)(n) * 100000000LL)    /* whole leverage -> rate units */

/* Add a table to a market, every cum derived by the engine (MARGIN_DERIVE). */
static void add_table(margin_engine *e, uint64_t m, const struct tier_row *t, int n)
{
    int i;
    for (i = 0; i < n; i++)
        ck_assert_ok(e, margin_market_add_tier(e, m, USDT(t[i].floor_usdt), D(t[i].mmr),
                                               X(t[i].max_lev), MARGIN_DERIVE));
}

static void expect_tier_for(const margin_engine *e, uint64_t m, int64_t notional,
                            int64_t want_mmr, int64_t want_cum)
{
    int64_t mmr = -7, cum = -7;
    ck_assert_ok(e, margin_market_tier_for(e, m, notional, &mmr, &cum));
    ck_assert_msg(mmr == want_mmr && cum == want_cum,
                  "tier_for(%lld) = (%lld, %lld), want (%lld, %lld)", (long long)notional,
                  (long long)mmr, (long long)cum, (long long)want_mmr, (long long)want_cum);
}

/* ------------------------------------------------------------------ state snapshot */

/* Every observable figure of one market (all MARGIN_MKT_* keys and every tier), the
 * engine's figures, and one account: compared before and after a rejected call. */
#define SNAP_MAX_TIERS 40
struct mkt_snap {
    int64_t mkt[12];
    int64_t tiers[SNAP_MAX_TIERS][4];
    int64_t eng[8];
    int64_t acct[9];
};

static void mkt_snap_take(const margin_engine *e, uint64_t m, uint64_t a, struct mkt_snap *s)
{
    int32_t k;
    uint32_t i;
    memset(s, 0, sizeof *s);
    for (k = 1; k <= 12; k++)
        ck_assert_ok(e, margin_market_get(e, m, k, &s->mkt[k - 1]));
    ck_assert_msg(s->mkt[MARGIN_MKT_TIER_COUNT - 1] <= SNAP_MAX_TIERS, "too many tiers");
    for (i = 0; i < (uint32_t)s->mkt[MARGIN_MKT_TIER_COUNT - 1]; i++)
        ck_assert_ok(e, margin_market_tier(e, m, i, &s->tiers[i][0], &s->tiers[i][1],
                                           &s->tiers[i][2], &s->tiers[i][3]));
    for (k = 1; k <= 8; k++)
        ck_assert_ok(e, margin_engine_get(e, k, &s->eng[k - 1]));
    if (a != 0)
        for (k = 1; k <= 9; k++)
            ck_assert_ok(e, margin_account_get(e, a, k, &s->acct[k - 1]));
}

static void mkt_snap_same(const struct mkt_snap *a, const struct mkt_snap *b, const char *what)
{
    int i, j;
    for (i = 0; i < 12; i++)
        ck_assert_msg(a->mkt[i] == b->mkt[i], "%s changed market key %d: %lld -> %lld", what,
                      i + 1, (long long)a->mkt[i], (long long)b->mkt[i]);
    for (i = 0; i < SNAP_MAX_TIERS; i++)
        for (j = 0; j < 4; j++)
            ck_assert_msg(a->tiers[i][j] == b->tiers[i][j],
                          "%s changed tier %d field %d: %lld -> %lld", what, i, j,
                          (long long)a->tiers[i][j], (long long)b->tiers[i][j]);
    for (i = 0; i < 8; i++)
        ck_assert_msg(a->eng[i] == b->eng[i], "%s changed engine key %d: %lld -> %lld", what,
                      i + 1, (long long)a->eng[i], (long long)b->eng[i]);
    for (i = 0; i < 9; i++)
        ck_assert_msg(a->acct[i] == b->acct[i], "%s changed account key %d: %lld -> %lld",
                      what, i + 1, (long long)a->acct[i], (long long)b->acct[i]);
}

/* Run a call that must fail with `want`, set a message, and leave the state unchanged. */
#define MKT_BAD(e, m, a, call, want)                                                         \
    do {                                                                                     \
        struct mkt_snap s0_, s1_;                                                            \
        mkt_snap_take((e), (m), (a), &s0_);                                                  \
        ck_assert_rc((e), (call), (want));                                                   \
        ck_assert_msg(margin_errmsg(e) != NULL && margin_errmsg(e)[0] != '\0',               \
                      "%s: empty error message", #call);                                     \
        ck_assert_int_eq(margin_errcode(e), (want));                                         \
        mkt_snap_take((e), (m), (a), &s1_);                                                  \
        mkt_snap_same(&s0_, &s1_, #call);                                                    \
    } while (0)

/* ------------------------------------------------------------------ core */

START_TEST(test_create_and_find)
{
    margin_engine *e = NULL;
    uint64_t btc = 0, eth = 0, found = 0;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &btc));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    /* Ids start at 1 and are distinct. */
    ck_assert_uint_ge(btc, 1);
    ck_assert_uint_ge(eth, 1);
    ck_assert_uint_ne(btc, eth);
    ck_assert_ok(e, margin_market_find(e, "BTCUSDT", &found));
    ck_assert_uint_eq(found, btc);
    ck_assert_ok(e, margin_market_find(e, "ETHUSDT", &found));
    ck_assert_uint_eq(found, eth);
    /* Unknown symbol: ENOTFOUND, out-param untouched. */
    found = 4242;
    ck_assert_rc(e, margin_market_find(e, "SOLUSDT", &found), MARGIN_ENOTFOUND);
    ck_assert_uint_eq(found, 4242);
    ck_assert_str_ne(margin_errmsg(e), "");
    ck_assert_rc(e, margin_market_find(e, "BTCUSD", &found), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_find(e, "BTCUSDTX", &found), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_find(e, "", &found), MARGIN_ENOTFOUND);
    ck_assert_uint_eq(found, 4242);
    /* NULL pointers. */
    ck_assert_rc(e, margin_market_find(e, NULL, &found), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_find(e, "BTCUSDT", NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_find(NULL, "BTCUSDT", &found), MARGIN_EINVAL);
    margin_engine_free(e);
}
END_TEST

START_TEST(test_many_markets)
{
    margin_engine *e = NULL;
    uint64_t ids[50];
    char sym[16];
    int i, j;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    for (i = 0; i < 50; i++) {
        snprintf(sym, sizeof sym, "C%dUSDT", i);
        ck_assert_ok(e, margin_market_new(e, sym, &ids[i]));
        ck_assert_uint_ge(ids[i], 1);
        for (j = 0; j < i; j++)
            ck_assert_uint_ne(ids[i], ids[j]);
    }
    for (i = 49; i >= 0; i--) {
        uint64_t f = 0;
        snprintf(sym, sizeof sym, "C%dUSDT", i);
        ck_assert_ok(e, margin_market_find(e, sym, &f));
        ck_assert_uint_eq(f, ids[i]);
    }
    margin_engine_free(e);
}
END_TEST

START_TEST(test_symbol_rules)
{
    margin_engine *e = NULL;
    uint64_t id = 4242, f = 0;
    char buf[40];
    const char *s31 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234";  /* 31 characters */
    const char *s32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"; /* 32 characters */
    ck_assert_int_eq((int)strlen(s31), 31);
    ck_assert_int_eq((int)strlen(s32), 32);
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);

    /* Bad symbols: empty, too long, not printable ASCII. Nothing is created. */
    ck_assert_rc(e, margin_market_new(e, "", &id), MARGIN_EINVAL);
    ck_assert_str_ne(margin_errmsg(e), "");
    ck_assert_rc(e, margin_market_new(e, s32, &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, "BTC\tUSDT", &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, "BTC\nUSDT", &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, "BTC\x7fUSDT", &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, "BTC\xc3\xa9USDT", &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, NULL, &id), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_new(e, "BTCUSDT", NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_new(NULL, "BTCUSDT", &id), MARGIN_EINVAL);
    ck_assert_uint_eq(id, 4242);
    ck_assert_rc(e, margin_market_find(e, "BTCUSDT", &f), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_find(e, s32, &f), MARGIN_ENOTFOUND);

    /* 31 characters is the longest accepted; 1 character the shortest. */
    ck_assert_ok(e, margin_market_new(e, s31, &id));
    ck_assert_ok(e, margin_market_find(e, s31, &f));
    ck_assert_uint_eq(f, id);
    ck_assert_ok(e, margin_market_new(e, "X", &id));
    ck_assert_ok(e, margin_market_new(e, "1000SHIB/USDT:USDT", &id));

    /* The symbol is copied: changing the caller's buffer changes nothing. */
    strcpy(buf, "ETHUSDT");
    ck_assert_ok(e, margin_market_new(e, buf, &id));
    buf[0] = 'Z';
    ck_assert_ok(e, margin_market_find(e, "ETHUSDT", &f));
    ck_assert_uint_eq(f, id);
    ck_assert_rc(e, margin_market_find(e, buf, &f), MARGIN_ENOTFOUND);

    /* Unique: a second "ETHUSDT" is refused and the first keeps its id. */
    {
        uint64_t again = 4242;
        ck_assert_rc(e, margin_market_new(e, "ETHUSDT", &again), MARGIN_EEXIST);
        ck_assert_str_ne(margin_errmsg(e), "");
        ck_assert_uint_eq(again, 4242);
        ck_assert_ok(e, margin_market_find(e, "ETHUSDT", &f));
        ck_assert_uint_eq(f, id);
    }
    margin_engine_free(e);
}
END_TEST

START_TEST(test_defaults)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t v = 0, fl = -1, mmr = -1, lev = -1, cum = -1;
    make_engine(&e, &m, &a, 0);
    /* include/margin.h: scales 8, tick 1, step 1, 125x, maker 0.0002, taker 0.0004, basis
     * mark, close fee 0, no mark yet, one tier, no positions. */
#define MKT(key, want)                                                                   \
    do {                                                                                 \
        ck_assert_ok(e, margin_market_get(e, m, (key), &v));                             \
        ck_assert_msg(v == (want), #key " = %lld, want %lld", (long long)v, (long long)(want)); \
    } while (0)
    MKT(MARGIN_MKT_PRICE_SCALE, 8);
    MKT(MARGIN_MKT_QTY_SCALE, 8);
    MKT(MARGIN_MKT_TICK, 1);
    MKT(MARGIN_MKT_STEP, 1);
    MKT(MARGIN_MKT_MAX_LEVERAGE, D("125"));
    MKT(MARGIN_MKT_MAKER_FEE, D("0.0002"));
    MKT(MARGIN_MKT_TAKER_FEE, D("0.0004"));
    MKT(MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_MARK);
    MKT(MARGIN_MKT_CLOSE_FEE, 0);
    MKT(MARGIN_MKT_MARK, 0);
    MKT(MARGIN_MKT_TIER_COUNT, 1);
    MKT(MARGIN_MKT_OPEN_POSITIONS, 0);
    /* The default tier: floor 0, rate 0.004, amount 0, the market's maximum leverage. The
     * header says "the market's maximum leverage"; it also lets 0 mean exactly that in
     * margin_market_add_tier(), so either 125x or 0 is accepted here. */
    ck_assert_ok(e, margin_market_tier(e, m, 0, &fl, &mmr, &lev, &cum));
    ck_assert_int_eq(fl, 0);
    ck_assert_int_eq(mmr, D("0.004"));
    ck_assert_int_eq(cum, 0);
    ck_assert_msg(lev == D("125") || lev == 0, "default tier max leverage %lld", (long long)lev);
    /* The default tier applies at any notional. */
    expect_tier_for(e, m, 0, D("0.004"), 0);
    expect_tier_for(e, m, D("1000000000"), D("0.004"), 0);
    /* Engine defaults. */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
#undef MKT
    margin_engine_free(e);
}
END_TEST

START_TEST(test_set_get_roundtrip)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t v = 0;
    struct {
        int32_t key;
        int64_t value;
    } sets[] = {
        {MARGIN_MKT_PRICE_SCALE, 2},
        {MARGIN_MKT_QTY_SCALE, 3},
        {MARGIN_MKT_TICK, 5},
        {MARGIN_MKT_STEP, 10},
        {MARGIN_MKT_MAX_LEVERAGE, D("50")},
        {MARGIN_MKT_MAKER_FEE, D("0.0001")},
        {MARGIN_MKT_TAKER_FEE, D("0.0005")},
        {MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY},
        {MARGIN_MKT_CLOSE_FEE, D("0.0006")},
        /* range ends, all valid */
        {MARGIN_MKT_PRICE_SCALE, 0},
        {MARGIN_MKT_PRICE_SCALE, 18},
        {MARGIN_MKT_QTY_SCALE, 0},
        /* with the price scale at 18, the quantity scale can reach 10: the sum is at most
         * 28 (issue 9; the refusal of 18 + 11 is in suite "regress") */
        {MARGIN_MKT_QTY_SCALE, 10},
        {MARGIN_MKT_MAX_LEVERAGE, D("1")},
        {MARGIN_MKT_MAKER_FEE, 0},
        {MARGIN_MKT_MAKER_FEE, D("1")},
        {MARGIN_MKT_TAKER_FEE, 0},
        {MARGIN_MKT_TAKER_FEE, D("1")},
        {MARGIN_MKT_CLOSE_FEE, 0},
        /* The header says 0 to 1; the engine also requires mmr + f < 1 (the long
         * liquidation-price denominator Q*(mmr + f) - Q must stay negative), so with the
         * default rate 0.004 the largest accepted fee is 0.99599999. */
        {MARGIN_MKT_CLOSE_FEE, D("0.99599999")},
        {MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_MARK},
        {MARGIN_MKT_TICK, 1},
        {MARGIN_MKT_STEP, 1},
        {MARGIN_MKT_MAX_LEVERAGE, D("1000")},
    };
    size_t i;
    make_engine(&e, &m, &a, 0);
    for (i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        ck_assert_ok(e, margin_market_set(e, m, sets[i].key, sets[i].value));
        ck_assert_ok(e, margin_market_get(e, m, sets[i].key, &v));
        ck_assert_msg(v == sets[i].value, "key %d: set %lld, read %lld", (int)sets[i].key,
                      (long long)sets[i].value, (long long)v);
    }
    margin_engine_free(e);
}
END_TEST

/* Every invalid option value is EINVAL and changes nothing; unknown markets ENOTFOUND. */
START_TEST(test_option_validation)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t v = 4242;
    struct {
        int32_t key;
        int64_t value;
    } bad[] = {
        {MARGIN_MKT_PRICE_SCALE, -1},
        {MARGIN_MKT_PRICE_SCALE, 19},
        {MARGIN_MKT_QTY_SCALE, -1},
        {MARGIN_MKT_QTY_SCALE, 19},
        {MARGIN_MKT_TICK, 0},
        {MARGIN_MKT_TICK, -1},
        {MARGIN_MKT_STEP, 0},
        {MARGIN_MKT_STEP, -5},
        {MARGIN_MKT_MAX_LEVERAGE, D("0.99999999")}, /* below 1x */
        {MARGIN_MKT_MAX_LEVERAGE, 0},
        {MARGIN_MKT_MAX_LEVERAGE, -D("20")},
        {MARGIN_MKT_MAKER_FEE, -1},
        {MARGIN_MKT_MAKER_FEE, D("1.00000001")},
        {MARGIN_MKT_TAKER_FEE, -1},
        {MARGIN_MKT_TAKER_FEE, D("1.00000001")},
        {MARGIN_MKT_MM_BASIS, 2},
        {MARGIN_MKT_MM_BASIS, -1},
        {MARGIN_MKT_CLOSE_FEE, -1},
        {MARGIN_MKT_CLOSE_FEE, D("1.00000001")},
        {MARGIN_MKT_LIQ_FEE, -1},
        {MARGIN_MKT_LIQ_FEE, D("1.00000001")},
        {MARGIN_MKT_LIQ_FEE_BASIS, 2},
        {MARGIN_MKT_LIQ_FEE_BASIS, -1},
        {MARGIN_MKT_LIQ_FILL, 3},
        {MARGIN_MKT_LIQ_FILL, -1},
        {MARGIN_MKT_STOP_FILL, 2},
        {MARGIN_MKT_STOP_FILL, -1},
        {MARGIN_MKT_LIQ_POLICY, 4},
        {MARGIN_MKT_LIQ_POLICY, -1},
        {MARGIN_MKT_SLICE_THRESHOLD, -1},
        {MARGIN_MKT_SLICE_FRACTION, 0},
        {MARGIN_MKT_SLICE_FRACTION, D("1")},
        {MARGIN_MKT_SLICE_COOLDOWN, -1},
        {MARGIN_MKT_SLICE_BACKSTOP, -1},
        {MARGIN_MKT_SLICE_BACKSTOP, D("1.00000001")},
        /* read-only keys */
        {MARGIN_MKT_MARK, D("20000")},
        {MARGIN_MKT_TIER_COUNT, 3},
        {MARGIN_MKT_OPEN_POSITIONS, 0},
        /* unknown keys */
        {0, 1},
        {MARGIN_MKT_MIN_PRICE + 1, 1},
        {-1, 1},
        {100, 1},
        {INT32_MAX, 1},
    };
    size_t i;
    make_engine(&e, &m, &a, D("1000"));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        MKT_BAD(e, m, a, margin_market_set(e, m, bad[i].key, bad[i].value), MARGIN_EINVAL);
    /* Unknown market ids, with a valid key and value. */
    MKT_BAD(e, m, a, margin_market_set(e, 0, MARGIN_MKT_TICK, 1), MARGIN_ENOTFOUND);
    MKT_BAD(e, m, a, margin_market_set(e, m + 1000, MARGIN_MKT_TICK, 1), MARGIN_ENOTFOUND);
    MKT_BAD(e, m, a, margin_market_get(e, 0, MARGIN_MKT_TICK, &v), MARGIN_ENOTFOUND);
    MKT_BAD(e, m, a, margin_market_get(e, m + 1000, MARGIN_MKT_TICK, &v), MARGIN_ENOTFOUND);
    /* Bad get arguments. */
    MKT_BAD(e, m, a, margin_market_get(e, m, 0, &v), MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_get(e, m, MARGIN_MKT_MIN_PRICE + 1, &v), MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_get(e, m, MARGIN_MKT_TICK, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(v, 4242);
    ck_assert_int_eq(margin_market_set(NULL, m, MARGIN_MKT_TICK, 1), MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_get(NULL, m, MARGIN_MKT_TICK, &v), MARGIN_EINVAL);
    ck_assert_int_eq(v, 4242);
    margin_engine_free(e);
}
END_TEST

/* Options that cannot change with open positions (ESTATE), the leverage cap (ELEVERAGE),
 * and that they become settable again once the position is closed. */
START_TEST(test_option_state)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    int64_t v = 0;
    make_engine(&e, &m, &a, D("10000"));
    /* long 0.1 @ 20000 at 20x: margin 2000/20 = 100, fee 0.8. */
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"), D("20"),
                                         0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_OPEN_POSITIONS, &v));
    ck_assert_int_eq(v, 1);

    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY),
            MARGIN_ESTATE);
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0006")), MARGIN_ESTATE);
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2), MARGIN_ESTATE);
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 3), MARGIN_ESTATE);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, D("0.01"), 0, MARGIN_DERIVE),
            MARGIN_ESTATE);
    /* A maximum below the open position's 20x: ELEVERAGE. */
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_MAX_LEVERAGE, D("19.99999999")),
            MARGIN_ELEVERAGE);
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_MAX_LEVERAGE, D("10")),
            MARGIN_ELEVERAGE);
    /* Exactly 20x is allowed; fees may change with positions open. */
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAX_LEVERAGE, D("20")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.0005")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAKER_FEE, D("0.0001")));
    assert_conserved(e, a);

    /* Closed: the market has no open position, so the restricted options change again. */
    ck_assert_ok(e, margin_position_close(e, p, D("20000"), 0));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_OPEN_POSITIONS, &v));
    ck_assert_int_eq(v, 0);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0006")));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAX_LEVERAGE, D("5")));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Scales can change only until tiers are added. */
START_TEST(test_scale_after_tiers)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    make_engine(&e, &m, &a, 0);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 4));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, MARGIN_DERIVE));
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2), MARGIN_ESTATE);
    MKT_BAD(e, m, a, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 2), MARGIN_ESTATE);
    margin_engine_free(e);
}
END_TEST

/* A market with price scale 2 and quantity scale 3: prices and quantities are in those
 * units, money stays at scale 8.
 * long 0.100 @ 20000.00 at 20x: notional 2000, margin 2000/20 = 100, fee 0.0004*2000 = 0.8.
 * Liquidation price (mark basis, mmr 0.004): (100 - 2000)/(0.1*0.004 - 0.1)
 *   = 1900/0.0996 = 19076.305220883..., rounded up to 2 places: 19076.31.
 * Bankruptcy price 20000 - 100/0.1 = 19000.00. */
START_TEST(test_scales)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 3));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, DS("0.1", 3), DS("20000", 2),
                                         D("20"), 0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), 100);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), 2000000);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.8"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("899.2"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, 0), D("2000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), DS("19076.31", 2));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0), DS("19000", 2));
    /* At mark 19500.00: uPnL 0.1*(19500-20000) = -50, balance 50, MM 1950*0.004 = 7.8. */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, DS("19500", 2)), D("-50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, DS("19500", 2)), D("50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, DS("19500", 2)), D("7.8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ grid */

/* Tick 0.5 and step 0.001 (at the default scale 8: 50000000 and 100000 units). */
START_TEST(test_grid)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0, q = 4242;
    int64_t v = 0;
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TICK, D("0.5")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STEP, D("0.001")));

    /* Off-grid entry price and quantity. */
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000.25"), D("20"), 0, 0,
                                 &q),
            MARGIN_EGRID);
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000.00000001"), D("20"),
                                 0, 0, &q),
            MARGIN_EGRID);
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_SHORT, D("0.1005"), D("20000"), D("20"), 0, 0,
                                 &q),
            MARGIN_EGRID);
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_SHORT, D("0.00000001"), D("20000"), D("20"), 0,
                                 0, &q),
            MARGIN_EGRID);
    ck_assert_uint_eq(q, 4242);

    /* On the grid: 0.101 @ 20000.5. */
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.101"), D("20000.5"),
                                         D("20"), 0, 0, &p));
    /* Trades and closes are checked too. */
    MKT_BAD(e, m, a, margin_position_trade(e, p, MARGIN_LONG, D("0.0011"), D("20000"), 0),
            MARGIN_EGRID);
    MKT_BAD(e, m, a, margin_position_trade(e, p, MARGIN_SHORT, D("0.001"), D("20000.1"), 0),
            MARGIN_EGRID);
    MKT_BAD(e, m, a, margin_position_close(e, p, D("20001.75"), 0), MARGIN_EGRID);
    /* Marks need not be on the grid (margin_mark_update, margin_position_at). */
    ck_assert_ok(e, margin_position_at(e, p, MARGIN_AT_UNREALIZED_PNL, D("20000.12345678"), &v));
    /* uPnL 0.101*(20000.12345678 - 20000.5) = 0.101*(-0.37654322) = -0.0380308652...,
     * rounded down: -0.03803087. */
    ck_assert_int_eq(v, D("-0.03803087"));
    ck_assert_ok(e, margin_mark_update(e, m, D("20000.12345678")));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MARK, &v));
    ck_assert_int_eq(v, D("20000.12345678"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_position_close(e, p, D("20001.5"), 0));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ tiers */

START_TEST(test_btc_tiers_derived)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t v = 0;
    int i;
    make_engine(&e, &m, &a, 0);
    add_table(e, m, btc_tiers, N_BTC);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_TIER_COUNT, &v));
    ck_assert_int_eq(v, N_BTC); /* the first add replaced the default tier */
    for (i = 0; i < N_BTC; i++) {
        int64_t fl = -1, mmr = -1, lev = -1, cum = -1;
        ck_assert_ok(e, margin_market_tier(e, m, (uint32_t)i, &fl, &mmr, &lev, &cum));
        ck_assert_int_eq(fl, USDT(btc_tiers[i].floor_usdt));
        ck_assert_int_eq(mmr, D(btc_tiers[i].mmr));
        ck_assert_int_eq(lev, X(btc_tiers[i].max_lev));
        ck_assert_msg(cum == USDT(btc_tiers[i].cum_usdt), "tier %d cum %lld, spec %lld", i,
                      (long long)cum, (long long)USDT(btc_tiers[i].cum_usdt));
    }
    margin_engine_free(e);
}
END_TEST

/* Given amounts are kept as given; DERIVE after a given amount continues from it. */
START_TEST(test_tiers_given_amounts)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t fl, mmr, lev, cum;
    make_engine(&e, &m, &a, 0);
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, D("0.01")));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.02"), D("50"), D("7")));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("5000"), D("0.05"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_tier(e, m, 0, &fl, &mmr, &lev, &cum));
    ck_assert_int_eq(cum, D("0.01"));
    ck_assert_ok(e, margin_market_tier(e, m, 1, &fl, &mmr, &lev, &cum));
    ck_assert_int_eq(fl, D("1000"));
    ck_assert_int_eq(lev, D("50"));
    ck_assert_int_eq(cum, D("7"));
    /* 5000*(0.05-0.02) + 7 = 157 */
    ck_assert_ok(e, margin_market_tier(e, m, 2, &fl, &mmr, &lev, &cum));
    ck_assert_int_eq(cum, D("157"));
    /* tier max leverage 0 means "the market's maximum" */
    ck_assert_msg(lev == 0 || lev == D("125"), "tier 2 max leverage %lld", (long long)lev);
    expect_tier_for(e, m, D("999.99999999"), D("0.01"), D("0.01"));
    expect_tier_for(e, m, D("1000"), D("0.02"), D("7"));
    expect_tier_for(e, m, D("4999.99999999"), D("0.02"), D("7"));
    expect_tier_for(e, m, D("5000"), D("0.05"), D("157"));
    margin_engine_free(e);
}
END_TEST

/* margin_market_tier_for at, just below and just above every edge of the BTC table. */
START_TEST(test_btc_lookups)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int i;
    make_engine(&e, &m, &a, 0);
    add_table(e, m, btc_tiers, N_BTC);
    expect_tier_for(e, m, 0, D("0.004"), 0);
    expect_tier_for(e, m, 1, D("0.004"), 0);
    for (i = 1; i < N_BTC; i++) {
        int64_t fl = USDT(btc_tiers[i].floor_usdt);
        /* [floor, next floor): the edge belongs to the upper tier. */
        expect_tier_for(e, m, fl - 1, D(btc_tiers[i - 1].mmr), USDT(btc_tiers[i - 1].cum_usdt));
        expect_tier_for(e, m, fl, D(btc_tiers[i].mmr), USDT(btc_tiers[i].cum_usdt));
        expect_tier_for(e, m, fl + 1, D(btc_tiers[i].mmr), USDT(btc_tiers[i].cum_usdt));
    }
    /* The last tier has no cap. */
    expect_tier_for(e, m, USDT(1000000000), D("0.5"), USDT(199703800));
    expect_tier_for(e, m, INT64_MAX, D("0.5"), USDT(199703800));
    /* A few inside points: 20,000 (tier 0), 100,000 (tier 1), 2,000,000 (tier 3). */
    expect_tier_for(e, m, USDT(20000), D("0.004"), 0);
    expect_tier_for(e, m, USDT(100000), D("0.005"), USDT(50));
    expect_tier_for(e, m, USDT(2000000), D("0.025"), USDT(16300));
    margin_engine_free(e);
}
END_TEST

/* The spec's ADA and ZEC lookups. */
START_TEST(test_ada_zec_lookups)
{
    margin_engine *e = NULL;
    uint64_t ada = 0, zec = 0, a = 0;
    make_engine(&e, &ada, &a, 0);
    ck_assert_ok(e, margin_market_new(e, "ZECUSDT", &zec));
    add_table(e, ada, ada_tiers, (int)(sizeof ada_tiers / sizeof ada_tiers[0]));
    add_table(e, zec, zec_tiers, (int)(sizeof zec_tiers / sizeof zec_tiers[0]));
    expect_tier_for(e, ada, USDT(500), D("0.025"), 0);
    expect_tier_for(e, ada, USDT(20000000), D("0.5"), USDT(1527500));
    expect_tier_for(e, zec, USDT(500), D("0.01"), 0);
    expect_tier_for(e, zec, USDT(20000000), D("0.5"), USDT(654500));
    /* Each table's derived cum equals the freqtrade figure (see the table comments). */
    {
        int i;
        int64_t fl, mmr, lev, cum;
        for (i = 0; i < (int)(sizeof ada_tiers / sizeof ada_tiers[0]); i++) {
            ck_assert_ok(e, margin_market_tier(e, ada, (uint32_t)i, &fl, &mmr, &lev, &cum));
            ck_assert_int_eq(cum, USDT(ada_tiers[i].cum_usdt));
        }
        for (i = 0; i < (int)(sizeof zec_tiers / sizeof zec_tiers[0]); i++) {
            ck_assert_ok(e, margin_market_tier(e, zec, (uint32_t)i, &fl, &mmr, &lev, &cum));
            ck_assert_int_eq(cum, USDT(zec_tiers[i].cum_usdt));
        }
    }
    margin_engine_free(e);
}
END_TEST

/* Maintenance margin is continuous at every edge of the BTC table.
 * A long of 1 BTC (opened at 1000, 10x, margin 100) is queried at marks equal to each
 * floor and one price unit (0.00000001) below it, so the notional Q*P is the floor or the
 * floor minus 0.00000001.
 *   MM(floor_k)            = floor_k*mmr_k - cum_k = floor_k*mmr_(k-1) - cum_(k-1)
 *                           (the recurrence), exact.
 *   MM(floor_k - 1e-8)     = MM(floor_k) - 1e-8*mmr_(k-1), which is less than one money
 *                           unit below an exact amount, so rounded up it is MM(floor_k).
 * In whole numbers: floor_usdt * mmr_units is the product in money units. */
START_TEST(test_mm_continuous_at_edges)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    int i;
    make_engine(&e, &m, &a, D("1000"));
    add_table(e, m, btc_tiers, N_BTC);
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("1000"), D("10"), 0,
                                         0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    for (i = 1; i < N_BTC; i++) {
        int64_t fl = USDT(btc_tiers[i].floor_usdt);
        int64_t at_lo = btc_tiers[i].floor_usdt * D(btc_tiers[i - 1].mmr) -
                        USDT(btc_tiers[i - 1].cum_usdt);
        int64_t at_hi = btc_tiers[i].floor_usdt * D(btc_tiers[i].mmr) -
                        USDT(btc_tiers[i].cum_usdt);
        int64_t mm_at, mm_below;
        ck_assert_msg(at_lo == at_hi, "table not continuous at tier %d", i);
        mm_at = pos_at(e, p, MARGIN_AT_MAINT_MARGIN, fl);
        mm_below = pos_at(e, p, MARGIN_AT_MAINT_MARGIN, fl - 1);
        ck_assert_msg(mm_at == at_hi, "MM at edge %d = %lld, want %lld", i, (long long)mm_at,
                      (long long)at_hi);
        ck_assert_msg(mm_below == at_hi, "MM below edge %d = %lld, want %lld", i,
                      (long long)mm_below, (long long)at_hi);
        ck_assert_int_le(mm_at - mm_below, 1);
        ck_assert_int_ge(mm_at - mm_below, -1);
        /* The rate and amount reported are those of the tier holding the notional. */
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, fl), D(btc_tiers[i].mmr));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, fl - 1), D(btc_tiers[i - 1].mmr));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, fl), USDT(btc_tiers[i].cum_usdt));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, fl - 1),
                         USDT(btc_tiers[i - 1].cum_usdt));
    }
    /* Example: at mark 50000 the MM is 50000*0.005 - 50 = 200 = 50000*0.004. */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("50000")), D("200"));
    /* at 600,000,000: 600000000*0.5 - 199703800 = 100,296,200 */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("600000000")), D("100296200"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Opening is limited by the leverage of the tier holding the entry notional. */
START_TEST(test_tier_max_leverage)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    make_engine(&e, &m, &a, D("1000000"));
    add_table(e, m, btc_tiers, N_BTC);
    /* 100 @ 20000: notional 2,000,000 -> tier [1M, 7.5M), max 20x. */
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_LONG, D("100"), D("20000"), D("21"), 0, 0, &p),
            MARGIN_ELEVERAGE);
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_SHORT, D("100"), D("20000"), D("20.00000001"),
                                 0, 0, &p),
            MARGIN_ELEVERAGE);
    /* margin only: 2,000,000 / 90,000 = 22.2x > 20x */
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_SHORT, D("100"), D("20000"), 0, D("90000"), 0,
                                 &p),
            MARGIN_ELEVERAGE);
    /* 20x: margin 100,000, fee 0.0004*2,000,000 = 800. */
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("100"), D("20000"), D("20"),
                                         0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("899200"));
    /* 1 @ 50000: notional exactly 50,000 is in tier [50000, 250000), max 100x. */
    MKT_BAD(e, m, a,
            margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("101"), 0, 0, &p),
            MARGIN_ELEVERAGE);
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("100"), 0,
                                         0, &p));
    /* 1 @ 49999.99999999: tier 0, max 125x. */
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("49999.99999999"),
                                         D("125"), 0, 0, &p));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* margin_market_add_tier validation; the tier list is unchanged after each failure. */
START_TEST(test_tier_validation)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t v = 0;
    int i;
    make_engine(&e, &m, &a, 0);
    /* First floor must be 0 (the default tier stays). */
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, D("1"), D("0.004"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, -1, D("0.004"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    /* Rates: > 0 and < 1. */
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, 0, 0, MARGIN_DERIVE), MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, -1, 0, MARGIN_DERIVE), MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, D("1"), 0, MARGIN_DERIVE), MARGIN_EINVAL);
    /* Leverage: >= 1x or 0. */
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, D("0.004"), D("0.5"), MARGIN_DERIVE),
            MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, D("0.004"), -D("10"), MARGIN_DERIVE),
            MARGIN_EINVAL);
    /* Unknown market, NULL engine. */
    MKT_BAD(e, m, a, margin_market_add_tier(e, 0, 0, D("0.004"), 0, MARGIN_DERIVE),
            MARGIN_ENOTFOUND);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m + 99, 0, D("0.004"), 0, MARGIN_DERIVE),
            MARGIN_ENOTFOUND);
    ck_assert_int_eq(margin_market_add_tier(NULL, m, 0, D("0.004"), 0, MARGIN_DERIVE),
                     MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_get(e, m, MARGIN_MKT_TIER_COUNT, &v), MARGIN_OK);
    ck_assert_int_eq(v, 1);

    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.02"), 0, MARGIN_DERIVE));
    /* Floors strictly increasing; rates not decreasing. */
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, D("1000"), D("0.03"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, D("999"), D("0.03"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, 0, D("0.03"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, D("2000"), D("0.01999999"), 0, MARGIN_DERIVE),
            MARGIN_EINVAL);
    /* Derived amount overflow: previous cum near INT64_MAX, then 2000*(0.03-0.02) = 20
     * more. */
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1500"), D("0.02"), 0, INT64_MAX - 1));
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, D("2000"), D("0.03"), 0, MARGIN_DERIVE),
            MARGIN_EOVERFLOW);
    margin_engine_free(e);

    /* At most 32 tiers. */
    make_engine(&e, &m, &a, 0);
    for (i = 0; i < 32; i++)
        ck_assert_ok(e, margin_market_add_tier(e, m, USDT(1000 * i), D("0.001") * (i + 1), 0,
                                               MARGIN_DERIVE));
    ck_assert_int_eq(margin_market_get(e, m, MARGIN_MKT_TIER_COUNT, &v), MARGIN_OK);
    ck_assert_int_eq(v, 32);
    MKT_BAD(e, m, a, margin_market_add_tier(e, m, USDT(1000000), D("0.5"), 0, MARGIN_DERIVE),
            MARGIN_ESTATE);
    /* Reading tiers: index out of range, NULL outs. */
    {
        int64_t fl = 7, mmr = 7, lev = 7, cum = 7;
        MKT_BAD(e, m, a, margin_market_tier(e, m, 32, &fl, &mmr, &lev, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m, UINT32_MAX, &fl, &mmr, &lev, &cum),
                MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m, 0, NULL, &mmr, &lev, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m, 0, &fl, NULL, &lev, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m, 0, &fl, &mmr, NULL, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m, 0, &fl, &mmr, &lev, NULL), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier(e, m + 9, 0, &fl, &mmr, &lev, &cum),
                MARGIN_ENOTFOUND);
        ck_assert_int_eq(fl, 7);
        ck_assert_int_eq(mmr, 7);
        /* tier_for: negative notional, NULL outs, unknown market */
        MKT_BAD(e, m, a, margin_market_tier_for(e, m, -1, &mmr, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier_for(e, m, 0, NULL, &cum), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier_for(e, m, 0, &mmr, NULL), MARGIN_EINVAL);
        MKT_BAD(e, m, a, margin_market_tier_for(e, 0, 0, &mmr, &cum), MARGIN_ENOTFOUND);
        ck_assert_int_eq(mmr, 7);
        ck_assert_int_eq(cum, 7);
    }
    margin_engine_free(e);
}
END_TEST

/* Reading back a market's symbol and the engine's margin-call levels. */
START_TEST(test_symbol_and_levels_getters)
{
    margin_engine *e;
    uint64_t btc, eth;
    char buf[32], small[4];
    int64_t lv[8] = {0}, set[3];
    size_t n = 99;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &btc));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    ck_assert_ok(e, margin_market_symbol(e, btc, buf, sizeof buf));
    ck_assert_str_eq(buf, "BTCUSDT");
    ck_assert_ok(e, margin_market_symbol(e, eth, buf, sizeof buf));
    ck_assert_str_eq(buf, "ETHUSDT");
    /* "ETHUSDT" needs 8 bytes with its NUL */
    memcpy(small, "xyz", 4);
    ck_assert_rc(e, margin_market_symbol(e, eth, small, sizeof small), MARGIN_EBUFFER);
    ck_assert_str_eq(small, "xyz");
    ck_assert_rc(e, margin_market_symbol(e, 3, buf, sizeof buf), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_symbol(e, btc, NULL, 8), MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_symbol(NULL, btc, buf, sizeof buf), MARGIN_EINVAL);

    /* the default: one level, 0.8 */
    ck_assert_ok(e, margin_engine_margin_call_levels(e, lv, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(lv[0], D("0.8"));
    /* set {0.9, 0.8, 0.9}: read back sorted, without the duplicate */
    set[0] = D("0.9");
    set[1] = D("0.8");
    set[2] = D("0.9");
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, set, 3));
    ck_assert_ok(e, margin_engine_margin_call_levels(e, lv, 8, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(lv[0], D("0.8"));
    ck_assert_int_eq(lv[1], D("0.9"));
    n = 99;
    lv[0] = 7;
    ck_assert_rc(e, margin_engine_margin_call_levels(e, lv, 1, &n), MARGIN_EBUFFER);
    ck_assert_uint_eq(n, 99);
    ck_assert_int_eq(lv[0], 7);
    ck_assert_rc(e, margin_engine_margin_call_levels(e, NULL, 2, &n), MARGIN_EINVAL);
    ck_assert_rc(e, margin_engine_margin_call_levels(e, lv, 8, NULL), MARGIN_EINVAL);
    /* none: n = 0, and a NULL array with cap 0 is fine */
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_engine_margin_call_levels(e, NULL, 0, &n));
    ck_assert_uint_eq(n, 0);
    margin_engine_free(e);
}
END_TEST

Suite *suite_market(void)
{
    Suite *s = suite_create("market");
    TCase *core = tcase_create("core");
    TCase *grid = tcase_create("grid");
    TCase *tiers = tcase_create("tiers");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, test_create_and_find);
    tcase_add_test(core, test_symbol_and_levels_getters);
    tcase_add_test(core, test_many_markets);
    tcase_add_test(core, test_defaults);
    tcase_add_test(core, test_set_get_roundtrip);
    tcase_add_test(core, test_scales);
    suite_add_tcase(s, core);

    tcase_add_test(grid, test_grid);
    suite_add_tcase(s, grid);

    tcase_add_test(tiers, test_btc_tiers_derived);
    tcase_add_test(tiers, test_tiers_given_amounts);
    tcase_add_test(tiers, test_btc_lookups);
    tcase_add_test(tiers, test_ada_zec_lookups);
    tcase_add_test(tiers, test_mm_continuous_at_edges);
    tcase_add_test(tiers, test_tier_max_leverage);
    suite_add_tcase(s, tiers);

    tcase_add_test(errors, test_symbol_rules);
    tcase_add_test(errors, test_option_validation);
    tcase_add_test(errors, test_option_state);
    tcase_add_test(errors, test_scale_after_tiers);
    tcase_add_test(errors, test_tier_validation);
    suite_add_tcase(s, errors);
    return s;
}
