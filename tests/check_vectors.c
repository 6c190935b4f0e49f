/* Suite "vectors": every public test vector of ../shared/spec/margin-math.md, reproduced
 * through the C API (seed example, Binance FAQ, every freqtrade liquidation-price row, the
 * isolated Binance calculator rows, tier lookups, funding).
 *
 * Expected values are the spec's. Where the spec gives a value with more (or fewer) digits
 * than the library's 8 decimal places, the test states the tolerance and checks the
 * rounding direction against the exact rational value of the spec's formula, computed here
 * in 128-bit integers from the position's actual figures. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

__extension__ typedef __int128 i128;

#define E8 ((i128)100000000)

static i128 floor_div(i128 a, i128 b) /* b > 0 */
{
    i128 q = a / b;
    if ((a % b != 0) && (a < 0))
        q -= 1;
    return q;
}

static i128 ceil_div(i128 a, i128 b) /* b > 0 */
{
    return -floor_div(-a, b);
}

/* The exact liquidation price of the spec's `mark` formula
 *   LP = (M + cum - s*Q*E) / (Q*(mmr + f) - s*Q)
 * for money, rates, prices and quantities all at scale 8, rounded against the holder
 * (long up, short down), in price units. With every value v written as v_u/1e8:
 *   num = (M_u + cum_u)*1e8 - s*Q_u*E_u,  den = Q_u*(mmr_u + f_u) - s*Q_u*1e8,
 *   LP_u = num*1e8/den. */
static int64_t lp_mark_exact(int s, int64_t M, int64_t Q, int64_t E, int64_t mmr, int64_t cum,
                             int64_t f)
{
    i128 num = ((i128)M + cum) * E8 - (i128)s * Q * E;
    i128 den = (i128)Q * (mmr + f) - (i128)s * Q * E8;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    return (int64_t)(s > 0 ? ceil_div(num * E8, den) : floor_div(num * E8, den));
}

/* |lp*1e8 - spec at scale 16| <= 1e8, i.e. within 1e-8 of the spec's value. */
static void assert_near_spec(int64_t lp, const char *spec, const char *what)
{
    int64_t want16 = DS(spec, 16);
    i128 diff = (i128)lp * E8 - want16;
    ck_assert_msg(diff <= E8 && diff >= -E8, "%s: LP %lld (1e-8 units) not within 1e-8 of %s",
                  what, (long long)lp, spec);
}

/* Round a positive price at scale 8 to 2 decimals, half up, as the spec's 2-decimal values
 * are written. */
static int64_t cents(int64_t v8)
{
    return (v8 + 500000) / 1000000;
}

/* ------------------------------------------------------------------ seed */

/* long 0.1 @ 20000 at 20x, mmr 0.4 %, policy mark:
 *   margin = 0.1*20000/20 = 100, position value 2000, fee 0.0004*2000 = 0.8;
 *   BP = 20000 - 100/0.1 = 19000 (a 5 % drop erases the margin);
 *   LP = (100 - 2000)/(0.1*0.004 - 0.1) = 1900/0.0996 = 19076.305220883..., up:
 *   19076.30522089. */
START_TEST(test_seed)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"), D("20"),
                                         0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), D("20"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, D("20000")), D("2000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("19000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("19076.30522089"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0),
                     lp_mark_exact(1, D("100"), D("0.1"), D("20000"), D("0.004"), 0, 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("19076.30522089"));
    /* 5 % drop: uPnL 0.1*(19000-20000) = -100, balance 0, ratio reported as INT64_MAX. */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, D("19000")), D("-100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, D("19000")), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, D("19000")), INT64_MAX);
    /* Wallet: 1000 - 100 - 0.8. */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("899.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("0.8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ Binance FAQ */

/* M = 500 given as the margin (leverage derived: 0.02*50000/500 = 2x), Q = 0.02,
 * E = 50000, mmr 0.004, cum 0, f 0:
 *   LP = (500 - 1000)/(0.02*0.004 - 0.02) = 500/0.01992 = 25100.4016064257...,
 *   rounded up: 25100.40160643; to 2 places 25100.40 (the FAQ's figure). */
START_TEST(test_binance_faq)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0;
    int64_t lp;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.02"), D("50000"), 0,
                                         D("500"), 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("500"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), D("2"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, 0), D("1000"));
    lp = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
    ck_assert_int_eq(lp, D("25100.40160643"));
    ck_assert_int_eq(lp, lp_mark_exact(1, D("500"), D("0.02"), D("50000"), D("0.004"), 0, 0));
    ck_assert_int_eq(cents(lp), DS("25100.40", 2));
    /* Fee 0.0004*1000 = 0.4: free 1000 - 500 - 0.4. */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("499.6"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ freqtrade */

struct ft_row {
    int gate; /* 0: Binance (cum 0.01, f 0); 1: Gate (cum 0, f 0.0006) */
    int side;
    int lev;
    const char *entry;
    const char *qty;
    const char *lp;
};

static const struct ft_row ft_rows[] = {
    {0, MARGIN_SHORT, 5, "10", "1.0", "11.89108910891089"},
    {0, MARGIN_SHORT, 3, "10", "1.0", "13.211221122079207"},
    {0, MARGIN_SHORT, 5, "8", "1.0", "9.514851485148514"},
    {0, MARGIN_SHORT, 5, "10", "0.6", "11.897689768976898"},
    {0, MARGIN_LONG, 5, "10", "1.0", "8.070707070707071"},
    {0, MARGIN_LONG, 5, "8", "1.0", "6.454545454545454"},
    {0, MARGIN_LONG, 3, "10", "1.0", "6.723905723905723"},
    {0, MARGIN_LONG, 5, "10", "0.6", "8.063973063973064"},
    {1, MARGIN_SHORT, 5, "10", "1.0", "11.87413417771621"},
    {1, MARGIN_SHORT, 3, "10", "1.0", "13.193482419684678"},
    {1, MARGIN_SHORT, 5, "8", "1.0", "9.499307342172967"},
    {1, MARGIN_LONG, 5, "10", "1.0", "8.085708510208207"},
    {1, MARGIN_LONG, 3, "10", "1.0", "6.738090425173506"},
};

/* Each row: M = Q*E/L (the library rounds it up: 10/3 -> 3.33333334), mmr 0.01.
 * The library's LP is the spec formula at the position's actual margin, rounded against
 * the holder; it is checked (1) to be exactly that rounding of the exact rational value
 * (so long LP >= exact, short LP <= exact, less than one unit apart), and (2) within 1e-8
 * of freqtrade's figure.
 * Note the exact value is taken at the actual M: with M rounded up, a long's exact LP is
 * slightly lower (and a short's higher) than with Q*E/L, by at most 1e-8/(Q*0.99); e.g.
 * Binance long 3x: (10 - 3.33333334 - 0.01)/0.99 = 6.7239057171..., up: 6.72390572, which
 * is 0.39e-8 below freqtrade's 6.723905723905723 (within the 1e-8 tolerance).
 * Worked examples, Binance short 5x E 10 Q 1: (2 + 0.01 + 10)/(0.01 + 1) = 12.01/1.01
 *   = 11.891089108910891..., down: 11.89108910.
 * Gate long 5x E 10 Q 1: (2 - 10)/(0.0106 - 1) = 8/0.9894 = 8.0857085102..., up:
 *   8.08570852. */
START_TEST(test_freqtrade_rows)
{
    size_t i;
    for (i = 0; i < sizeof ft_rows / sizeof ft_rows[0]; i++) {
        const struct ft_row *r = &ft_rows[i];
        margin_engine *e = NULL;
        uint64_t m = 0, a = 0, p = 0;
        int64_t Q = D(r->qty), E = D(r->entry), M, lp, want;
        int64_t cum = r->gate ? 0 : D("0.01");
        int64_t f = r->gate ? D("0.0006") : 0;
        char what[96];
        snprintf(what, sizeof what, "row %d (%s %s %dx E %s Q %s)", (int)i,
                 r->gate ? "gate" : "binance", r->side > 0 ? "long" : "short", r->lev, r->entry,
                 r->qty);
        make_engine(&e, &m, &a, D("100"));
        if (r->gate) {
            ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, MARGIN_DERIVE));
            ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0006")));
        } else {
            ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, D("0.01")));
        }
        ck_assert_ok(e, margin_position_open(e, a, m, r->side, Q, E, (int64_t)r->lev * 100000000,
                                             0, 0, &p));
        M = pos_get(e, p, MARGIN_POS_MARGIN);
        /* M = Q*E/L rounded up: M*L >= Q*E > (M - 1 unit)*L, in units of 1e-16. */
        ck_assert_msg((i128)M * r->lev * E8 >= (i128)Q * E &&
                          (i128)(M - 1) * r->lev * E8 < (i128)Q * E,
                      "%s: margin %lld is not Q*E/L rounded up", what, (long long)M);
        lp = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
        want = lp_mark_exact(r->side, M, Q, E, D("0.01"), cum, f);
        ck_assert_msg(lp == want, "%s: LP %lld, exact formula rounded against the holder %lld",
                      what, (long long)lp, (long long)want);
        assert_near_spec(lp, r->lp, what);
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), lp);
        assert_conserved(e, a);
        margin_engine_free(e);
    }
}
END_TEST

/* The two hand-worked rows above, as plain numbers. */
START_TEST(test_freqtrade_worked)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0, g = 0, q = 0;
    make_engine(&e, &m, &a, D("100"));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.01"), 0, D("0.01")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("10"), D("5"), 0, 0,
                                         &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("11.8910891"));
    ck_assert_ok(e, margin_market_new(e, "GATE", &g));
    ck_assert_ok(e, margin_market_add_tier(e, g, 0, D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_set(e, g, MARGIN_MKT_CLOSE_FEE, D("0.0006")));
    ck_assert_ok(e, margin_position_open(e, a, g, MARGIN_LONG, D("1"), D("10"), D("5"), 0, 0,
                                         &q));
    ck_assert_int_eq(pos_at(e, q, MARGIN_AT_LIQ_PRICE, 0), D("8.08570852"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ Binance calculator */

/* Isolated rows: wallet 1535443.01 given as the margin (leverage 0: derived), one tier.
 * ETH: Q*E = 3683.979*1456.84 = 5366967.96636;
 *   LP = (1535443.01 + 135365 - 5366967.96636)/(3683.979*0.10 - 3683.979)
 *      = 3696159.95636/3315.5811 = 1114.784963745..., up 1114.78496375, 2 places 1114.78.
 * BTC: Q*E = 109.488*32481.98 = 3556387.02624;
 *   LP = (1535443.01 + 16300 - 3556387.02624)/(109.488*0.025 - 109.488)
 *      = 2004644.01624/106.7508 = 18778.72593217..., up 18778.72593218, 2 places 18778.73. */
START_TEST(test_binance_calculator)
{
    struct {
        const char *sym, *qty, *entry, *mmr, *cum, *lp2;
    } rows[] = {
        {"ETHUSDT", "3683.979", "1456.84", "0.10", "135365", "1114.78"},
        {"BTCUSDT", "109.488", "32481.98", "0.025", "16300", "18778.73"},
    };
    size_t i;
    for (i = 0; i < 2; i++) {
        margin_engine *e = NULL;
        uint64_t m = 0, a = 0, p = 0;
        int64_t lp, lev, Q = D(rows[i].qty), E = D(rows[i].entry), M = D("1535443.01");
        ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
        ck_assert_ok(e, margin_market_new(e, rows[i].sym, &m));
        ck_assert_ok(e, margin_account_new(e, &a));
        ck_assert_ok(e, margin_account_deposit(e, a, D("2000000")));
        ck_assert_ok(e, margin_market_add_tier(e, m, 0, D(rows[i].mmr), 0, D(rows[i].cum)));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, Q, E, 0, M, 0, &p));
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), M);
        /* Derived leverage Q*E/M rounded up: lev*M >= Q*E > (lev - 1 unit)*M. */
        lev = pos_get(e, p, MARGIN_POS_LEVERAGE);
        ck_assert((i128)lev * M >= (i128)Q * E);
        ck_assert((i128)(lev - 1) * M < (i128)Q * E);
        lp = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
        ck_assert_int_eq(lp, lp_mark_exact(1, M, Q, E, D(rows[i].mmr), D(rows[i].cum), 0));
        ck_assert_msg(cents(lp) == DS(rows[i].lp2, 2), "%s: LP %lld, want %s to 2 places",
                      rows[i].sym, (long long)lp, rows[i].lp2);
        assert_conserved(e, a);
        margin_engine_free(e);
    }
}
END_TEST

/* Hand-rounded 8-decimal values of the two rows (see the comment above). */
START_TEST(test_binance_calculator_8dp)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p = 0, b = 0, q = 0;
    make_engine(&e, &m, &a, D("4000000"));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.025"), 0, D("16300")));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &b));
    ck_assert_ok(e, margin_market_add_tier(e, b, 0, D("0.10"), 0, D("135365")));
    ck_assert_ok(e, margin_position_open(e, a, b, MARGIN_LONG, D("3683.979"), D("1456.84"), 0,
                                         D("1535443.01"), 0, &p));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("109.488"), D("32481.98"), 0,
                                         D("1535443.01"), 0, &q));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("1114.78496375"));
    ck_assert_int_eq(pos_at(e, q, MARGIN_AT_LIQ_PRICE, 0), D("18778.72593218"));
    /* Fees: 0.0004*5366967.96636 = 2146.787186544 -> up 2146.78718655;
     *       0.0004*3556387.02624 = 1422.554810496 -> up 1422.5548105. */
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("2146.78718655"));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_FEES), D("1422.5548105"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ tier lookups */

/* The spec's lookups: ADA 500 -> (0.025, 0); ADA 20,000,000 -> (0.5, 1527500);
 * ZEC 500 -> (0.01, 0); ZEC 20,000,000 -> (0.5, 654500). The spec gives only the results;
 * the tables are freqtrade's conftest ADA/BUSD and ZEC/USDT brackets, entered as floor and
 * rate with every amount derived (see tests/check_market.c for the recurrence by hand).
 * And the BTC/USDT table: every derived cum equals the spec's. */
START_TEST(test_tier_lookups)
{
    static const char *const ada[][2] = {{"0", "0.025"},       {"100000", "0.05"},
                                         {"500000", "0.1"},    {"1000000", "0.15"},
                                         {"2000000", "0.25"},  {"5000000", "0.5"}};
    static const char *const zec[][2] = {{"0", "0.01"},        {"50000", "0.025"},
                                         {"150000", "0.05"},   {"250000", "0.1"},
                                         {"500000", "0.125"},  {"1000000", "0.25"},
                                         {"2000000", "0.5"}};
    static const char *const btc[][3] = {
        {"0", "0.004", "0"},
        {"50000", "0.005", "50"},
        {"250000", "0.01", "1300"},
        {"1000000", "0.025", "16300"},
        {"7500000", "0.05", "203800"},
        {"40000000", "0.1", "2203800"},
        {"100000000", "0.125", "4703800"},
        {"200000000", "0.15", "9703800"},
        {"400000000", "0.25", "49703800"},
        {"600000000", "0.5", "199703800"},
    };
    margin_engine *e = NULL;
    uint64_t ma = 0, mz = 0, mb = 0, a = 0;
    int64_t mmr, cum, fl, lev;
    size_t i;
    make_engine(&e, &mb, &a, 0);
    ck_assert_ok(e, margin_market_new(e, "ADABUSD", &ma));
    ck_assert_ok(e, margin_market_new(e, "ZECUSDT", &mz));
    for (i = 0; i < sizeof ada / sizeof ada[0]; i++)
        ck_assert_ok(e, margin_market_add_tier(e, ma, D(ada[i][0]), D(ada[i][1]), 0,
                                               MARGIN_DERIVE));
    for (i = 0; i < sizeof zec / sizeof zec[0]; i++)
        ck_assert_ok(e, margin_market_add_tier(e, mz, D(zec[i][0]), D(zec[i][1]), 0,
                                               MARGIN_DERIVE));
    for (i = 0; i < sizeof btc / sizeof btc[0]; i++)
        ck_assert_ok(e, margin_market_add_tier(e, mb, D(btc[i][0]), D(btc[i][1]), 0,
                                               MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_tier_for(e, ma, D("500"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.025"));
    ck_assert_int_eq(cum, 0);
    ck_assert_ok(e, margin_market_tier_for(e, ma, D("20000000"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.5"));
    ck_assert_int_eq(cum, D("1527500"));
    ck_assert_ok(e, margin_market_tier_for(e, mz, D("500"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.01"));
    ck_assert_int_eq(cum, 0);
    ck_assert_ok(e, margin_market_tier_for(e, mz, D("20000000"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.5"));
    ck_assert_int_eq(cum, D("654500"));
    for (i = 0; i < sizeof btc / sizeof btc[0]; i++) {
        ck_assert_ok(e, margin_market_tier(e, mb, (uint32_t)i, &fl, &mmr, &lev, &cum));
        ck_assert_int_eq(fl, D(btc[i][0]));
        ck_assert_int_eq(mmr, D(btc[i][1]));
        ck_assert_msg(cum == D(btc[i][2]), "BTC tier %d cum %lld, spec %s", (int)i,
                      (long long)cum, btc[i][2]);
        ck_assert_ok(e, margin_market_tier_for(e, mb, D(btc[i][0]), &mmr, &cum));
        ck_assert_int_eq(mmr, D(btc[i][1]));
        ck_assert_int_eq(cum, D(btc[i][2]));
    }
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ funding */

/* Find the last funding event in the queue for position p; returns its amount. */
static int64_t funding_event_amount(margin_engine *e, uint64_t p)
{
    int32_t type = -1;
    int64_t v = 0, amount = 0;
    int found = 0;
    for (;;) {
        ck_assert_ok(e, margin_event_next(e, &type));
        if (type == MARGIN_EV_NONE)
            break;
        if (type == MARGIN_EV_FUNDING) {
            ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_POSITION, &v));
            if ((uint64_t)v == p) {
                ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_AMOUNT, &amount));
                found = 1;
            }
        }
    }
    ck_assert_msg(found, "no funding event for position %llu", (unsigned long long)p);
    return amount;
}

/* freqtrade test_calculate_funding_fees: a short of size 10 receives s*Q*P*F with s = -1
 * paying, i.e. receives 10*P*F: 10*2.0*0.0001 = 0.002; 10*2.0*0.0002 = 0.004;
 * 10*2.5*0.0002 = 0.005. A long of the same size pays the same amounts.
 * Positions: 10 @ 2.0 at 1x (margin 20, fee 0.0004*20 = 0.008). */
START_TEST(test_funding)
{
    struct {
        const char *rate, *mark, *amount;
    } rows[] = {{"0.0001", "2.0", "0.002"}, {"0.0002", "2.0", "0.004"}, {"0.0002", "2.5", "0.005"}};
    size_t i;
    for (i = 0; i < 3; i++) {
        margin_engine *e = NULL;
        uint64_t m = 0, a = 0, b = 0, s = 0, l = 0;
        int64_t amt = D(rows[i].amount);
        make_engine(&e, &m, &a, D("100"));
        ck_assert_ok(e, margin_account_new(e, &b));
        ck_assert_ok(e, margin_account_deposit(e, b, D("100")));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("10"), D("2"), D("1"), 0,
                                             0, &s));
        ck_assert_ok(e, margin_position_open(e, b, m, MARGIN_LONG, D("10"), D("2"), D("1"), 0,
                                             0, &l));
        ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("20"));
        ck_assert_ok(e, margin_funding_apply(e, m, D(rows[i].rate), D(rows[i].mark)));
        /* the short receives */
        ck_assert_int_eq(pos_get(e, s, MARGIN_POS_FUNDING), amt);
        ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("20") + amt);
        ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), amt);
        ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("20") + amt);
        /* free balance untouched by isolated funding: 100 - 20 - 0.008 */
        ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("79.992"));
        /* the long pays */
        ck_assert_int_eq(pos_get(e, l, MARGIN_POS_FUNDING), -amt);
        ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("20") - amt);
        ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FUNDING), -amt);
        if (i == 0) {
            /* the 1x long had no LP; after paying 0.002 (M 19.998):
             * LP = (19.998 - 20)/(10*0.004 - 10) = 0.002/9.96 = 0.000200803..., up
             * 0.00020081 */
            ck_assert_int_eq(pos_at(e, l, MARGIN_AT_LIQ_PRICE, 0), D("0.00020081"));
            ck_assert_int_eq(pos_get(e, l, MARGIN_POS_LIQ_PRICE), D("0.00020081"));
        }
        ck_assert_int_eq(pos_get(e, s, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
        ck_assert_int_eq(pos_get(e, l, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
        assert_conserved(e, a);
        assert_conserved(e, b);
        /* The event carries the amount, received > 0. */
        ck_assert_int_eq(funding_event_amount(e, s), amt);
        margin_engine_free(e);
    }
}
END_TEST

/* The three intervals in a row on one short: 0.002 + 0.004 + 0.005 = 0.011. */
START_TEST(test_funding_cumulative)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, s = 0;
    make_engine(&e, &m, &a, D("100"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("10"), D("2"), D("1"), 0, 0,
                                         &s));
    /* LP before: (20 + 20)/(10*0.004 + 10) = 40/10.04 = 3.98406374501..., down 3.98406374 */
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("3.98406374"));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("2.0")));
    assert_conserved(e, a);
    /* funding moves LP: (20.002 + 20)/10.04 = 3.98426294820..., down 3.98426294 */
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("3.98426294"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_LIQ_PRICE), D("3.98426294"));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0002"), D("2.0")));
    assert_conserved(e, a);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0002"), D("2.5")));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_FUNDING), D("0.011"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("20.011"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("0.011"));
    margin_engine_free(e);
}
END_TEST

/* Rounding: payments up, receipts down. 0.001 @ 2.5 (1x, margin 0.0025), rate 0.00000333:
 * 0.001*2.5*0.00000333 = 0.000000008325: the long pays 0.00000001, the short receives 0. */
START_TEST(test_funding_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, s = 0, l = 0;
    make_engine(&e, &m, &a, D("100"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("0.001"), D("2.5"), D("1"), 0,
                                         0, &s));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.001"), D("2.5"), D("1"), 0,
                                         0, &l));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.00000333"), D("2.5")));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_FUNDING), -1);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_FUNDING), 0);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("0.0025") - 1);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("0.0025"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), -1);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

Suite *suite_vectors(void)
{
    Suite *s = suite_create("vectors");
    TCase *liq = tcase_create("liquidation");
    TCase *tiers = tcase_create("tiers");
    TCase *funding = tcase_create("funding");

    tcase_add_test(liq, test_seed);
    tcase_add_test(liq, test_binance_faq);
    tcase_add_test(liq, test_freqtrade_rows);
    tcase_add_test(liq, test_freqtrade_worked);
    tcase_add_test(liq, test_binance_calculator);
    tcase_add_test(liq, test_binance_calculator_8dp);
    suite_add_tcase(s, liq);

    tcase_add_test(tiers, test_tier_lookups);
    suite_add_tcase(s, tiers);

    tcase_add_test(funding, test_funding);
    tcase_add_test(funding, test_funding_cumulative);
    tcase_add_test(funding, test_funding_rounding);
    suite_add_tcase(s, funding);
    return s;
}
