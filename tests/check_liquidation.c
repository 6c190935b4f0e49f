/* Suite "liquidation" (issue 13): fill prices, the clearance fee and partial liquidation,
 * each case computed by hand in its comments (scales 8/8 unless said; the market's taker
 * fee is 0 where fees would only clutter the arithmetic).
 *
 * Every case also checks the money identities: each account's ledgers balance
 * (assert_conserved), and what the holder lost plus the market's PnL is what the insurance
 * fund received. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* The last event of the queue of type `type` (drains the queue), its fields in f; with f
 * NULL, only drains. */
static int last_event(margin_engine *e, int32_t type, int64_t f[MARGIN_EVF_ADL_COVERED + 1])
{
    int32_t t;
    int found = 0;
    while (margin_event_next(e, &t) == MARGIN_OK && t != MARGIN_EV_NONE)
        if (t == type && f != NULL) {
            ck_assert_ok(e, margin_event_fields(e, f, MARGIN_EVF_ADL_COVERED + 1));
            found = 1;
        }
    return found;
}

/* An engine with BTCUSDT (step 0.0001, taker fee 0, one tier at `mmr`, no margin-call
 * levels) and an account with 1,000,000. */
static margin_engine *engine(const char *mmr, uint64_t *m, uint64_t *a)
{
    margin_engine *e;
    make_engine(&e, m, a, D("1000000"));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_STEP, D("0.0001")));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_TAKER_FEE, 0));
    if (mmr != NULL)
        ck_assert_ok(e, margin_market_add_tier(e, *m, 0, D(mmr), 0, 0));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    return e;
}

/* The issue's min-reduce check: long 10 BTC at 50,000, margin 25,000 (20x), mmr 0.5 %,
 * cum 0, mark 47,700. Equity Eq = 25,000 + 10 * (47,700 - 50,000) = 2,000; maintenance
 * 10 * 47,700 * 0.005 = 2,385 (liquidatable: 2,000 <= 2,385).
 *   fee 0:     q >= (2,385 - 2,000) / (47,700 * 0.005) = 385 / 238.5 = 1.61425..  -> 1.6143
 *   fee 0.001: q >= 385 / (47,700 * 0.004) = 385 / 190.8 = 2.01781..           -> 2.0179
 *   fee 0.01 >= mmr: no partial sale helps: in full. */
/* (one step less leaves the remainder liquidatable: fee 0, 1.6142: maintenance
 * 8.3858 * 238.5 = 2,000.0133 > equity 2,000; 1.6143: 8.3857 * 238.5 = 1,999.98945; fee
 * 0.001, 2.0178: equity 2,000 - 96.24906 = 1,903.75094 < 7.9822 * 238.5 = 1,903.7547;
 * 2.0179: 1,903.74617 > 7.9821 * 238.5 = 1,903.73085) */
static void min_reduce_case(const char *fee, const char *want_q)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1], q = D(want_q), pnl, fe, ins0;
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D(fee)));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("10"), D("50000"), D("20"), 0,
                                         0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("25000"));
    ins0 = eng_get(e, MARGIN_ENG_INSURANCE_FUND);
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], q);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("47700"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    /* PnL of the part: q * (47,700 - 50,000) = -2,300 q; fee: q * 47,700 * rate, up */
    pnl = -q * 2300; /* q BTC at scale 8 times 2,300: money at scale 8, exact */
    fe = (int64_t)(((__int128)q * D("47700") / D("1") * D(fee) + D("1") - 1) / D("1"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], pnl);
    ck_assert_int_eq(f[MARGIN_EVF_FEE], fe);
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], fe);
    ck_assert_int_eq(f[MARGIN_EVF_AMOUNT], pnl - fe); /* the margin keeps the rest */
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("10") - q);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("25000") + pnl - fe);
    /* the remainder is safe at this mark: its liquidation price is below it */
    ck_assert(pos_get(e, p, MARGIN_POS_LIQ_PRICE) < D("47700"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND) - ins0, fe);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1000000") - D("25000"));
    assert_conserved(e, a);
    /* the same mark again changes nothing: the remainder is healthy */
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("10") - q);
    margin_engine_free(e);
}

START_TEST(test_min_reduce_worked)
{
    min_reduce_case("0", "1.6143");
    min_reduce_case("0.001", "2.0179");
}
END_TEST

START_TEST(test_min_reduce_fee_at_mmr_goes_full)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D("0.01")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("10"), D("50000"), D("20"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    /* in full at the mark: equity 2,000; the fee 10 * 47,700 * 0.01 = 4,770 is capped at
     * what is left, 2,000; the holder loses the 25,000 margin, the fund receives 2,000 */
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("2000"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], D("2000"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], D("2000") - D("25000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("975000"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* The issue's tier-down check. Tiers: T1 from 0 at 0.5 % (cum 0), T2 from 1,000,000 at 1 %
 * (cum 5,000), T3 from 2,000,000 at 1.5 % (cum 15,000). A long of 50 BTC opened at 51,000
 * (notional 2,550,000) with margin M; at the mark 50,000 (notional 2,500,000, tier T3) its
 * equity is M - 50,000 and its maintenance 2,500,000 * 0.015 - 15,000 = 22,500.
 *  - M = 70,000: equity 20,000. T2's cap is 2,000,000 (40 BTC): maintenance there
 *    2,000,000 * 0.015 - 15,000 = 15,000 (= 2,000,000 * 0.01 - 5,000) <= 20,000: sell
 *    10 BTC (500,000 of notional); margin after 70,000 - 10 * 1,000 = 60,000.
 *  - M = 64,000: equity 14,000 < 15,000; T1's cap 1,000,000 (20 BTC): maintenance
 *    1,000,000 * 0.01 - 5,000 = 5,000 <= 14,000: sell 30 BTC (1,500,000); margin after
 *    64,000 - 30 * 1,000 = 34,000. */
static void tier_down_case(const char *margin, const char *want_q, const char *want_margin)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine(NULL, &m, &a);
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000000"), D("0.01"), 0, D("5000")));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("2000000"), D("0.015"), 0, D("15000")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_TIER_DOWN));
    ck_assert_ok(e, margin_mark_update(e, m, D("51000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("50"), D("51000"), 0,
                                         D(margin), 0, &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D(want_q));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("50") - D(want_q));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D(want_margin));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D(want_q) / 100000000 * D("1000"));
    ck_assert(pos_get(e, p, MARGIN_POS_LIQ_PRICE) < D("50000"));
    assert_conserved(e, a);
    margin_engine_free(e);
}

START_TEST(test_tier_down_worked)
{
    tier_down_case("70000", "10", "60000");
    tier_down_case("64000", "30", "34000");
}
END_TEST

/* From the lowest tier there is no lower cap: in full. */
START_TEST(test_tier_down_lowest_tier_full)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_TIER_DOWN));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("10"), D("50000"), D("20"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    margin_engine_free(e);
}
END_TEST

/* Slices: long 10 BTC at 50,000, margin 25,000, mmr 0.5 %: at 47,700 the notional 477,000
 * is above 100,000 and the equity 2,000 above 2/3 of 2,385: one slice of 20 %, 2 BTC:
 * PnL -4,600, margin 20,400, 8 BTC left, whose liquidation price is
 * (8 * 50,000 - 20,400) / (8 * 0.995) = 47,688.44.. < 47,700. 1 s later the mark 47,600 is
 * past it: within the 30 s cooldown, in full. */
START_TEST(test_slices)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_SLICES));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("10"), D("50000"), D("20"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1000000));
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("2"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("20400"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE) / 1000000, D("47688.44") / 1000000);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1001000));
    ck_assert_ok(e, margin_mark_update(e, m, D("47600")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Below the threshold, or below the backstop, in full. 1 BTC at 50,000 (notional at
 * 47,700: 47,700 < 100,000). Backstop: 10 BTC, margin 25,000, mark 47,500: equity
 * 25,000 - 25,000 = 0 < 2/3 * 2,375. */
START_TEST(test_slices_threshold_and_backstop)
{
    uint64_t m, a, p, q;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_SLICES));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("10"), D("50000"), D("20"), 0,
                                         0, &q));
    ck_assert_ok(e, margin_mark_update(e, m, D("47500")));
    ck_assert(!last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    margin_engine_free(e);
}
END_TEST

/* Fills of a full liquidation. Long 1 BTC at 50,000, 10x: margin 5,000; mmr 0.5 %:
 * liquidation price (50,000 - 5,000) / 0.995 = 45,226.13065326.. up: 45,226.13065327;
 * bankruptcy price 45,000. The mark gaps to 44,000. */
static margin_engine *gap_case(int32_t fill, const char *fee, uint64_t *a, uint64_t *p,
                               int64_t f[MARGIN_EVF_ADL_COVERED + 1])
{
    uint64_t m;
    margin_engine *e = engine("0.005", &m, a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FILL, fill));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D(fee)));
    ck_assert_ok(e, margin_position_open(e, *a, m, MARGIN_LONG, D("1"), D("50000"), D("10"), 0, 0,
                                         p));
    ck_assert_int_eq(pos_get(e, *p, MARGIN_POS_LIQ_PRICE), D("45226.13065327"));
    ck_assert_ok(e, margin_mark_update(e, m, D("44000")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(pos_get(e, *p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    assert_conserved(e, *a);
    return e;
}

START_TEST(test_fill_mark)
{
    uint64_t a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    /* at the mark: the holder loses 5,000; the fund takes 5,000 - 6,000 = -1,000 */
    margin_engine *e = gap_case(MARGIN_LIQ_FILL_MARK, "0", &a, &p, f);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("44000"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D("5000"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], -D("1000"));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), -D("1000"));
    margin_engine_free(e);
}
END_TEST

START_TEST(test_fill_liquidation_price)
{
    uint64_t a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    /* at 45,226.13065327: the part's balance 5,000 - 4,773.86934673 = 226.13065327; fee
     * 0.001 * 45,226.13065327 = 45.22613065327 up: 45.22613066; the holder keeps
     * 226.13065327 - 45.22613066 = 180.90452261, so its realized PnL is
     * 226.13065327 - 5,000 = -4,773.86934673; the fund receives the fee */
    margin_engine *e = gap_case(MARGIN_LIQ_FILL_LIQ_PRICE, "0.001", &a, &p, f);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("45226.13065327"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_LIQ_PRICE);
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("45.22613066"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D("4773.86934673"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], D("45.22613066"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE),
                     D("1000000") - D("5000") + D("180.90452261"));
    margin_engine_free(e);
}
END_TEST

START_TEST(test_fill_bankruptcy_takeover)
{
    uint64_t a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    /* taken over at 45,000: the holder loses exactly 5,000 (nothing is left at the
     * bankruptcy price, so the clearance fee is 0); the fund books 44,000 - 45,000 = -1,000 */
    margin_engine *e = gap_case(MARGIN_LIQ_FILL_BANKRUPTCY, "0.0125", &a, &p, f);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("45000"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_BANKRUPTCY);
    ck_assert_int_eq(f[MARGIN_EVF_FEE], 0);
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D("5000"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], -D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("995000"));
    margin_engine_free(e);
}
END_TEST

/* The clearance fee at the mark, between the liquidation and bankruptcy prices: at 45,100
 * the balance is 5,000 - 4,900 = 100; the fee 0.0125 * 45,100 = 563.75 is capped at 100.
 * The holder loses its 5,000 (realized -4,900, fee 100); the fund receives 100. With the
 * fee on the mark basis and a fill at the liquidation price the basis is the mark too. */
START_TEST(test_clearance_fee_capped)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D("0.0125")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("10"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("45100")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("100"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D("4900"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("995000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("100"));
    assert_conserved(e, a);
    margin_engine_free(e);
    /* at the liquidation price 45,226.13065327 the balance is 226.13065327; the fee on
     * the mark basis, 0.001 * 45,100 = 45.1, is what the fund receives */
    e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D("0.001")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE_BASIS, MARGIN_LIQ_FEE_BASIS_MARK));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FILL, MARGIN_LIQ_FILL_LIQ_PRICE));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("10"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("45100")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("45.1"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], D("45.1"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE),
                     D("995000") + D("226.13065327") - D("45.1"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Stop fills. Long 1 BTC at 50,000, 10x (liquidation 45,226.13065327), taker 0.0004.
 *  - stop 48,000, the mark from 50,000 to 47,000: at the trigger, -2,000, fee 19.2; at the
 *    mark, -3,000, fee 18.8;
 *  - stop 46,000, the mark from 50,000 to 44,000 (past the liquidation price too): at the
 *    trigger the path meets the stop first: closed at 46,000 (-4,000, fee 18.4); at the
 *    mark the liquidation wins (0.1.0's rule);
 *  - a take-profit 55,000 and no mark before: the first mark 56,000 is a gap: at the mark. */
static int64_t stop_case(int32_t rule, const char *stop, const char *take, const char *first,
                         const char *mark, int32_t want_type, int64_t f[MARGIN_EVF_ADL_COVERED + 1])
{
    uint64_t m, a, p;
    int64_t free;
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.0004")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, rule));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("10"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_set_stops(e, p, stop ? D(stop) : 0, take ? D(take) : 0));
    if (first != NULL)
        ck_assert_ok(e, margin_mark_update(e, m, D(first)));
    ck_assert_ok(e, margin_mark_update(e, m, D(mark)));
    ck_assert(last_event(e, want_type, f));
    assert_conserved(e, a);
    free = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    margin_engine_free(e);
    return free;
}

START_TEST(test_stop_fills)
{
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    /* opening fee 50,000 * 0.0004 = 20: free 1,000,000 - 5,000 - 20 = 994,980 */
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_TRIGGER, "48000", NULL, "50000", "47000",
                               MARGIN_EV_STOP_LOSS, f),
                     D("994980") + D("3000") - D("19.2"));
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("48000"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_TRIGGER);
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_MARK, "48000", NULL, "50000", "47000",
                               MARGIN_EV_STOP_LOSS, f),
                     D("994980") + D("2000") - D("18.8"));
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("47000"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_TRIGGER, "46000", NULL, "50000", "44000",
                               MARGIN_EV_STOP_LOSS, f),
                     D("994980") + D("1000") - D("18.4"));
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("46000"));
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_MARK, "46000", NULL, "50000", "44000",
                               MARGIN_EV_LIQUIDATION, f),
                     D("994980"));
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_TRIGGER, NULL, "55000", NULL, "56000",
                               MARGIN_EV_TAKE_PROFIT, f),
                     D("994980") + D("5000") + D("6000") - D("22.4"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    ck_assert_int_eq(stop_case(MARGIN_STOP_FILL_TRIGGER, NULL, "55000", "50000", "56000",
                               MARGIN_EV_TAKE_PROFIT, f),
                     D("994980") + D("5000") + D("5000") - D("22"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_TRIGGER);
}
END_TEST

/* A short is the mirror: short 1 BTC at 50,000, 10x, mmr 0.5 %: liquidation price
 * (50,000 + 5,000) / 1.005 = 54,726.36815920.. down: 54,726.36815920; min-reduce of 10 BTC
 * short at 50,000 (margin 25,000) at 52,300: equity 25,000 - 23,000 = 2,000, maintenance
 * 10 * 52,300 * 0.005 = 2,615: q >= 615 / 261.5 = 2.35181.. -> 2.3519. */
START_TEST(test_short_mirror)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("10"), D("50000"), D("20"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_mark_update(e, m, D("52300")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("2.3519"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("25000") - D("2.3519") * 2300 / 1);
    ck_assert(pos_get(e, p, MARGIN_POS_LIQ_PRICE) > D("52300"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* The options survive a snapshot, and format 2 carries them. */
START_TEST(test_options_round_trip)
{
    uint64_t m, a, m2, a2;
    int64_t v;
    size_t n = 0;
    void *buf;
    margin_engine *e = engine("0.005", &m, &a), *t = NULL;
    const int32_t keys[9] = {MARGIN_MKT_LIQ_FEE,         MARGIN_MKT_LIQ_FEE_BASIS,
                             MARGIN_MKT_LIQ_FILL,        MARGIN_MKT_STOP_FILL,
                             MARGIN_MKT_LIQ_POLICY,      MARGIN_MKT_SLICE_THRESHOLD,
                             MARGIN_MKT_SLICE_FRACTION,  MARGIN_MKT_SLICE_COOLDOWN,
                             MARGIN_MKT_SLICE_BACKSTOP};
    const int64_t vals[9] = {D("0.0125"), MARGIN_LIQ_FEE_BASIS_MARK, MARGIN_LIQ_FILL_BANKRUPTCY,
                             MARGIN_STOP_FILL_TRIGGER, MARGIN_LIQ_POLICY_SLICES, D("5000"),
                             D("0.25"), 60000, D("0.5")};
    const int64_t defaults[9] = {0, MARGIN_LIQ_FEE_BASIS_FILL, MARGIN_LIQ_FILL_MARK,
                                 MARGIN_STOP_FILL_MARK, MARGIN_LIQ_POLICY_FULL, D("100000"),
                                 D("0.2"), 30000, D("0.66666667")};
    for (int k = 0; k < 9; k++) {
        ck_assert_ok(e, margin_market_get(e, m, keys[k], &v));
        ck_assert_int_eq(v, defaults[k]);
        ck_assert_ok(e, margin_market_set(e, m, keys[k], vals[k]));
    }
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("1"))); /* 100 %: legal */
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n));
    buf = malloc(n);
    ck_assert_ok(e, margin_snapshot_save(e, buf, n, &n));
    ck_assert_int_eq(margin_engine_new(&t), MARGIN_OK);
    ck_assert_ok(t, margin_snapshot_load(t, buf, n));
    m2 = m;
    a2 = a;
    for (int k = 0; k < 9; k++) {
        ck_assert_ok(t, margin_market_get(t, m2, keys[k], &v));
        ck_assert_int_eq(v, vals[k]);
    }
    ck_assert_int_eq(acct_get(t, a2, MARGIN_ACCT_FREE_BALANCE), D("1000000"));
    free(buf);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ candles */

/* The issue's backtest: a 20x long with a 2 % stop. Long 1 BTC at 50,000, 20x: margin
 * 2,500 (liquidation price (50,000 - 2,500) / 0.995 = 47,738.69..); stop 49,000. A bar
 * that closes down, open 50,100, high 50,200, low 48,000, close 49,500, walks open, high,
 * low, close: the stop fires at the low (point 3), and fills at 49,000 when stops fill at
 * their trigger: -1,000, -40 % of the margin; at the mark, 48,000: -2,000, -80 %. */
START_TEST(test_candle_stop_inside_the_bar)
{
    for (int rule = 0; rule < 2; rule++) {
        uint64_t m, a, p;
        int64_t f[MARGIN_EVF_ADL_COVERED + 1];
        margin_engine *e = engine("0.005", &m, &a);
        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, rule));
        ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0,
                                             0, &p));
        ck_assert_ok(e, margin_position_set_stops(e, p, D("49000"), 0));
        ck_assert_ok(e, margin_mark_candle(e, m, D("50100"), D("50200"), D("48000"), D("49500"),
                                           MARGIN_PATH_UPDOWN));
        ck_assert(last_event(e, MARGIN_EV_STOP_LOSS, f));
        ck_assert_int_eq(f[MARGIN_EVF_PATH_POINT], 3);
        ck_assert_int_eq(f[MARGIN_EVF_PRICE], rule ? D("49000") : D("48000"));
        ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], rule ? -D("1000") : -D("2000"));
        ck_assert_int_eq(f[MARGIN_EVF_FILL], rule ? MARGIN_FILL_TRIGGER : MARGIN_FILL_MARK);
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
        {
            int64_t mk;
            ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MARK, &mk));
            ck_assert_int_eq(mk, D("49500")); /* the close */
        }
        assert_conserved(e, a);
        margin_engine_free(e);
    }
}
END_TEST

/* A gap at the open: the last mark 50,000, the bar opens at 48,500, below the 49,000 stop:
 * the stop fires at the open (point 1) and fills there even with trigger fills. */
START_TEST(test_candle_gap_at_open)
{
    uint64_t m, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER));
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_set_stops(e, p, D("49000"), 0));
    ck_assert_ok(e, margin_mark_candle(e, m, D("48500"), D("48600"), D("48100"), D("48200"),
                                       MARGIN_PATH_UPDOWN));
    ck_assert(last_event(e, MARGIN_EV_STOP_LOSS, f));
    ck_assert_int_eq(f[MARGIN_EVF_PATH_POINT], 1);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("48500"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    margin_engine_free(e);
}
END_TEST

/* Which of stop-loss and take-profit first: long at 50,000, stop 49,000, take 51,000. A bar
 * closing up (open 50,000, low 48,900, high 51,100, close 51,000) meets the low first: the
 * stop (point 2); one closing down (open 50,000, high 51,100, low 48,900, close 49,500)
 * meets the high first: the take-profit (point 2), at 51,000 with trigger fills. */
START_TEST(test_candle_order)
{
    for (int up = 0; up < 2; up++) {
        uint64_t m, a, p;
        int64_t f[MARGIN_EVF_ADL_COVERED + 1];
        margin_engine *e = engine("0.005", &m, &a);
        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER));
        ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0,
                                             0, &p));
        ck_assert_ok(e, margin_position_set_stops(e, p, D("49000"), D("51000")));
        ck_assert_ok(e, margin_mark_candle(e, m, D("50000"), D("51100"), D("48900"),
                                           up ? D("51000") : D("49500"), MARGIN_PATH_UPDOWN));
        ck_assert(last_event(e, up ? MARGIN_EV_STOP_LOSS : MARGIN_EV_TAKE_PROFIT, f));
        ck_assert_int_eq(f[MARGIN_EVF_PATH_POINT], 2);
        ck_assert_int_eq(f[MARGIN_EVF_PRICE], up ? D("49000") : D("51000"));
        margin_engine_free(e);
    }
}
END_TEST

/* Bad candles are refused and change nothing; the whole candle is refused when its events
 * would pass the queue's cap, even though the first point's alone would fit. */
START_TEST(test_candle_refusals)
{
    uint64_t m, a, p, q;
    uint64_t h0, h1;
    margin_engine *e = engine("0.005", &m, &a);
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("50000"), D("20"), 0, 0,
                                         &q));
    ck_assert_ok(e, margin_position_set_stops(e, p, D("49900"), 0));
    ck_assert_ok(e, margin_position_set_stops(e, q, D("50500"), 0));
    while (last_event(e, -1, NULL))
        ;
    ck_assert_ok(e, margin_state_hash(e, &h0));
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("49000"), D("48000"), D("48500"),
                                       MARGIN_PATH_UPDOWN), MARGIN_EINVAL); /* high < open */
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("51000"), D("50100"), D("50500"),
                                       MARGIN_PATH_UPDOWN), MARGIN_EINVAL); /* low > open */
    ck_assert_rc(e, margin_mark_candle(e, m, 0, D("51000"), D("48000"), D("50500"),
                                       MARGIN_PATH_UPDOWN), MARGIN_EINVAL);
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("51000"), D("48000"), D("50500"), 7),
                 MARGIN_EINVAL);
    ck_assert_rc(e, margin_mark_candle(e, m + 9, D("50000"), D("51000"), D("48000"), D("50500"),
                                       MARGIN_PATH_UPDOWN), MARGIN_ENOTFOUND);
    ck_assert_int_eq(margin_mark_candle(NULL, m, 1, 1, 1, 1, 0), MARGIN_EINVAL);
    ck_assert_ok(e, margin_state_hash(e, &h1));
    ck_assert(h0 == h1);
    /* up bar: open 50,000, low 49,800 (the long's stop: one event), high 50,600 (the
     * short's: a second one), close 50,550. A cap of one event: the first point would fit,
     * the candle does not. */
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1));
    ck_assert_ok(e, margin_state_hash(e, &h0)); /* (the cap is state too) */
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("50600"), D("49800"), D("50550"),
                                       MARGIN_PATH_UPDOWN), MARGIN_EFULL);
    ck_assert_ok(e, margin_state_hash(e, &h1));
    ck_assert(h0 == h1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 2));
    ck_assert_ok(e, margin_mark_candle(e, m, D("50000"), D("50600"), D("49800"), D("50550"),
                                       MARGIN_PATH_UPDOWN));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ the adverse path */

/* Every event of a candle as the callback saw it: its type, position, path point, price,
 * realized PnL and insurance delta, and the market's mark at that moment. */
typedef struct {
    uint64_t market;
    int n;
    int32_t type[16];
    int64_t pos[16], point[16], price[16], realized[16], insurance[16], mark[16];
} adv_seen;

static void adv_cb(void *user, const margin_engine *e, int32_t type)
{
    adv_seen *s = user;
    if (s->n >= 16 || type == MARGIN_EV_OPEN || type == MARGIN_EV_DEPOSIT)
        return;
    s->type[s->n] = type;
    margin_event_get(e, MARGIN_EVF_POSITION, &s->pos[s->n]);
    margin_event_get(e, MARGIN_EVF_PATH_POINT, &s->point[s->n]);
    margin_event_get(e, MARGIN_EVF_PRICE, &s->price[s->n]);
    margin_event_get(e, MARGIN_EVF_REALIZED_PNL, &s->realized[s->n]);
    margin_event_get(e, MARGIN_EVF_INSURANCE_DELTA, &s->insurance[s->n]);
    margin_market_get(e, s->market, MARGIN_MKT_MARK, &s->mark[s->n]);
    s->n++;
}

/* One position (1 BTC at 50,000, 20x: margin 2,500, mmr 0.5 %, taker fee 0, stops at their
 * trigger price) with a stop and a take-profit, one candle on the given path; the events
 * in *s. Returns the account's free balance after. */
static int64_t adv_case(int32_t side, const char *stop, const char *take, const char *o,
                        const char *h, const char *l, const char *c, int32_t path, adv_seen *s)
{
    uint64_t m, a, p;
    int64_t free, mk;
    margin_engine *e = engine("0.005", &m, &a);
    memset(s, 0, sizeof *s);
    s->market = m;
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER));
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert_ok(e, margin_position_open(e, a, m, side, D("1"), D("50000"), D("20"), 0, 0, &p));
    ck_assert_ok(e, margin_position_set_stops(e, p, stop ? D(stop) : 0, D(take)));
    ck_assert_ok(e, margin_engine_set_callback(e, adv_cb, s));
    ck_assert_ok(e, margin_mark_candle(e, m, D(o), D(h), D(l), D(c), path));
    ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
    ck_assert_int_ne(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MARK, &mk));
    ck_assert_int_eq(mk, D(c)); /* the close, on either path */
    assert_conserved(e, a);
    free = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    margin_engine_free(e);
    return free;
}

/* Stop-loss against take-profit. A long with stop 49,000 and take-profit 51,000 on a bar
 * that closes down (open 50,000, high 51,100, low 48,900, close 49,500):
 *   up-down (open, high, low, close): the high comes first: the take-profit at point 2,
 *     filled at 51,000 (a continuous move from 50,000): realized 1 * (51,000 - 50,000)
 *     = +1,000, free 1,000,000 - 2,500 (margin) + 2,500 + 1,000 = 1,001,000;
 *   adverse (the long walks open, low, high, close): the low first: the stop at point 2,
 *     filled at 49,000: realized -1,000, free 999,000.
 * The short mirrored on a bar that closes up (open 50,000, low 48,900, high 51,100, close
 * 50,500), stop 51,000, take-profit 49,000: up-down meets the low first (take-profit at
 * 49,000, +1,000), adverse the high (stop at 51,000, -1,000), both at point 2. */
START_TEST(test_adverse_stop_before_take)
{
    adv_seen s;
    /* the long, bar closing down */
    ck_assert_int_eq(adv_case(MARGIN_LONG, "49000", "51000", "50000", "51100", "48900", "49500",
                              MARGIN_PATH_UPDOWN, &s),
                     D("1001000"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("51000"));
    ck_assert_int_eq(s.realized[0], D("1000"));
    ck_assert_int_eq(adv_case(MARGIN_LONG, "49000", "51000", "50000", "51100", "48900", "49500",
                              MARGIN_PATH_ADVERSE, &s),
                     D("999000"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("49000"));
    ck_assert_int_eq(s.realized[0], -D("1000"));
    /* the short, bar closing up */
    ck_assert_int_eq(adv_case(MARGIN_SHORT, "51000", "49000", "50000", "51100", "48900", "50500",
                              MARGIN_PATH_UPDOWN, &s),
                     D("1001000"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("49000"));
    ck_assert_int_eq(s.realized[0], D("1000"));
    ck_assert_int_eq(adv_case(MARGIN_SHORT, "51000", "49000", "50000", "51100", "48900", "50500",
                              MARGIN_PATH_ADVERSE, &s),
                     D("999000"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("51000"));
    ck_assert_int_eq(s.realized[0], -D("1000"));
    /* a bar whose direction already puts the adverse extreme first: both paths agree (the
     * long on a bar closing up meets the low at point 2 either way) */
    ck_assert_int_eq(adv_case(MARGIN_LONG, "49000", "51000", "50000", "51100", "48900", "50500",
                              MARGIN_PATH_ADVERSE, &s),
                     D("999000"));
    ck_assert_int_eq(s.type[0], MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(s.point[0], 2);
}
END_TEST

/* Liquidation against take-profit. Long 1 BTC at 50,000, 20x: margin 2,500, liquidation
 * price (50,000 - 2,500) / (1 - 0.005) = 47,738.69..; take-profit 51,000; a bar closing
 * down: open 50,000, high 51,100, low 47,000, close 48,000.
 *   up-down: the high first: take-profit at 51,000 (point 2), +1,000;
 *   adverse: the low first: liquidated at point 2 at the mark 47,000 (fill at the mark,
 *     the default): the holder loses the margin, realized -2,500; the insurance fund
 *     books the margin balance at the mark, 2,500 + 1 * (47,000 - 50,000) = -500; free
 *     1,000,000 - 2,500 = 997,500.
 * Short mirrored: liquidation price (50,000 + 2,500) / 1.005 = 52,238.80..; take-profit
 * 49,000; a bar closing up: open 50,000, low 48,900, high 53,000, close 52,000: up-down
 * takes profit at the low (+1,000), adverse liquidates at the high 53,000: realized -2,500,
 * fund 2,500 - 3,000 = -500. */
START_TEST(test_adverse_liquidation_before_take)
{
    adv_seen s;
    ck_assert_int_eq(adv_case(MARGIN_LONG, NULL, "51000", "50000", "51100", "47000", "48000",
                              MARGIN_PATH_UPDOWN, &s),
                     D("1001000"));
    ck_assert_int_eq(s.type[0], MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(adv_case(MARGIN_LONG, NULL, "51000", "50000", "51100", "47000", "48000",
                              MARGIN_PATH_ADVERSE, &s),
                     D("997500"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("47000"));
    ck_assert_int_eq(s.realized[0], -D("2500"));
    ck_assert_int_eq(s.insurance[0], -D("500"));
    ck_assert_int_eq(adv_case(MARGIN_SHORT, NULL, "49000", "50000", "53000", "48900", "52000",
                              MARGIN_PATH_UPDOWN, &s),
                     D("1001000"));
    ck_assert_int_eq(s.type[0], MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("49000"));
    ck_assert_int_eq(adv_case(MARGIN_SHORT, NULL, "49000", "50000", "53000", "48900", "52000",
                              MARGIN_PATH_ADVERSE, &s),
                     D("997500"));
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.type[0], MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.price[0], D("53000"));
    ck_assert_int_eq(s.realized[0], -D("2500"));
    ck_assert_int_eq(s.insurance[0], -D("500"));
}
END_TEST

/* Both sides in one candle. One account holds a long (stop 49,000, take 51,000) and a
 * short (stop 51,000, take 49,000), both 1 BTC at 50,000, 20x; a bar closing down (open
 * 50,000, high 51,100, low 48,900, close 49,500). The short walks the bar's up-down order
 * (its adverse extreme, the high, comes first in it), the long the mirrored one:
 *   point 2: the short at the high: stopped at 51,000 (-1,000), the market's mark now
 *            51,100; then the long at the low: stopped at 49,000 (-1,000), a continuous
 *            move from the open; the market's mark stays 51,100 (the long's walk does not
 *            move it);
 *   the free balance: 1,000,000 - 2 * 2,500 + 2 * (2,500 - 1,000) = 998,000.
 * Up-down would have closed both at the high: the short's stop and the long's
 * take-profit, +1,000 - 1,000: 1,000,000. */
START_TEST(test_adverse_both_sides)
{
    for (int adverse = 0; adverse < 2; adverse++) {
        uint64_t m, a, pl, ps;
        adv_seen s;
        margin_engine *e = engine("0.005", &m, &a);
        memset(&s, 0, sizeof s);
        s.market = m;
        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER));
        ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0,
                                             0, &pl));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("50000"), D("20"),
                                             0, 0, &ps));
        ck_assert_ok(e, margin_position_set_stops(e, pl, D("49000"), D("51000")));
        ck_assert_ok(e, margin_position_set_stops(e, ps, D("51000"), D("49000")));
        ck_assert_ok(e, margin_engine_set_callback(e, adv_cb, &s));
        ck_assert_ok(e, margin_mark_candle(e, m, D("50000"), D("51100"), D("48900"), D("49500"),
                                           adverse ? MARGIN_PATH_ADVERSE : MARGIN_PATH_UPDOWN));
        ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
        ck_assert_int_eq(s.n, 2);
        if (adverse) {
            ck_assert_int_eq(s.type[0], MARGIN_EV_STOP_LOSS);
            ck_assert_int_eq(s.pos[0], (int64_t)ps);
            ck_assert_int_eq(s.price[0], D("51000"));
            ck_assert_int_eq(s.point[0], 2);
            ck_assert_int_eq(s.mark[0], D("51100"));
            ck_assert_int_eq(s.type[1], MARGIN_EV_STOP_LOSS);
            ck_assert_int_eq(s.pos[1], (int64_t)pl);
            ck_assert_int_eq(s.price[1], D("49000"));
            ck_assert_int_eq(s.point[1], 2);
            ck_assert_int_eq(s.realized[1], -D("1000"));
            ck_assert_int_eq(s.mark[1], D("51100"));
            ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("998000"));
        } else {
            ck_assert_int_eq(s.type[0], MARGIN_EV_TAKE_PROFIT);
            ck_assert_int_eq(s.pos[0], (int64_t)pl);
            ck_assert_int_eq(s.type[1], MARGIN_EV_STOP_LOSS);
            ck_assert_int_eq(s.pos[1], (int64_t)ps);
            ck_assert_int_eq(s.point[0], 2);
            ck_assert_int_eq(s.point[1], 2);
            ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1000000"));
        }
        assert_conserved(e, a);
        margin_engine_free(e);
    }
}
END_TEST

/* A cross book walks the bar's up-down order on the adverse path. Account A holds a cross
 * long, account B an isolated long, both 1 BTC at 50,000 with stop 49,000 and take-profit
 * 51,000 (B at 20x; A's wallet of 1,000,000 keeps its liquidation price far away). A bar
 * closing down (open 50,000, high 51,100, low 48,900, close 49,500), adverse, stops at the
 * mark (the default): the cross long meets the high first: take-profit at point 2, at
 * 51,100 (+1,100); the isolated long meets the low first: stop at point 2, at 48,900
 * (-1,100). */
START_TEST(test_adverse_cross_walks_updown)
{
    uint64_t m, a, b, pa, pb;
    int seen = 0;
    adv_seen s;
    margin_engine *e = engine("0.005", &m, &a);
    memset(&s, 0, sizeof s);
    s.market = m;
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("1000000")));
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0,
                                         MARGIN_FLAG_CROSS, &pa));
    ck_assert_ok(e, margin_position_open(e, b, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0, 0,
                                         &pb));
    ck_assert_ok(e, margin_position_set_stops(e, pa, D("49000"), D("51000")));
    ck_assert_ok(e, margin_position_set_stops(e, pb, D("49000"), D("51000")));
    ck_assert_ok(e, margin_engine_set_callback(e, adv_cb, &s));
    ck_assert_ok(e, margin_mark_candle(e, m, D("50000"), D("51100"), D("48900"), D("49500"),
                                       MARGIN_PATH_ADVERSE));
    ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_REALIZED_PNL), D("1100"));
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_REALIZED_PNL), -D("1100"));
    for (int i = 0; i < s.n; i++) {
        if (s.pos[i] == (int64_t)pa) {
            seen |= 1;
            ck_assert_int_eq(s.type[i], MARGIN_EV_TAKE_PROFIT);
            ck_assert_int_eq(s.price[i], D("51100"));
            ck_assert_int_eq(s.point[i], 2);
        } else if (s.pos[i] == (int64_t)pb) {
            seen |= 2;
            ck_assert_int_eq(s.type[i], MARGIN_EV_STOP_LOSS);
            ck_assert_int_eq(s.price[i], D("48900"));
            ck_assert_int_eq(s.point[i], 2);
        }
    }
    ck_assert_int_eq(seen, 3);
    assert_conserved(e, a);
    assert_conserved(e, b);
    margin_engine_free(e);
}
END_TEST

/* The adverse candle is atomic too. The refusal test's book: a long with stop 49,900 and
 * a short with stop 50,500; a bar closing up (open 50,000, low 49,800, high 50,600, close
 * 50,550). Adverse: both stop at point 2 (the long at the low, the short at the high),
 * two events; with a cap of one the candle is refused (MARGIN_EFULL) and nothing changes,
 * the state hash the same; with a cap of two both close, each at point 2. */
START_TEST(test_adverse_refused_whole)
{
    uint64_t m, a, p, q, h0, h1;
    adv_seen s;
    margin_engine *e = engine("0.005", &m, &a);
    memset(&s, 0, sizeof s);
    s.market = m;
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("50000"), D("20"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("50000"), D("20"), 0, 0,
                                         &q));
    ck_assert_ok(e, margin_position_set_stops(e, p, D("49900"), 0));
    ck_assert_ok(e, margin_position_set_stops(e, q, D("50500"), 0));
    while (last_event(e, -1, NULL))
        ;
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1));
    ck_assert_ok(e, margin_state_hash(e, &h0));
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("50600"), D("49800"), D("50550"),
                                       MARGIN_PATH_ADVERSE), MARGIN_EFULL);
    ck_assert_rc(e, margin_mark_candle(e, m, D("50000"), D("50600"), D("49800"), D("50550"), 2),
                 MARGIN_EINVAL); /* no third path */
    ck_assert_ok(e, margin_state_hash(e, &h1));
    ck_assert(h0 == h1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 2));
    ck_assert_ok(e, margin_engine_set_callback(e, adv_cb, &s));
    ck_assert_ok(e, margin_mark_candle(e, m, D("50000"), D("50600"), D("49800"), D("50550"),
                                       MARGIN_PATH_ADVERSE));
    ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.point[0], 2);
    ck_assert_int_eq(s.point[1], 2);
    ck_assert_int_eq(s.pos[0], (int64_t)p); /* the long first: it walks the bar's order */
    ck_assert_int_eq(s.price[0], D("49800")); /* stops at the mark (the default) */
    ck_assert_int_eq(s.price[1], D("50600"));
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ randomized */

/* ------------------------------------------------------------------ cross books */

/* A cross book of one leg behaves like the isolated worked checks: an account holding
 * only `wallet`, cross in BTCUSDT, long 10 BTC at 50,000 (20x: initial margin 25,000).
 * With wallet 25,000 its cross margin balance at 47,700 is 25,000 - 23,000 = 2,000 and its
 * maintenance 2,385, the figures of the isolated case: the same quantities come out.
 * The part's PnL and fee leave the wallet (a cross position has no margin of its own):
 * wallet after = 25,000 - 2,300 q - fee; the book is healthy again at the mark. */
static uint64_t cross_long(margin_engine *e, uint64_t m, const char *wallet, const char *qty,
                           const char *px, const char *lev, uint64_t *pos)
{
    uint64_t a;
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D(wallet)));
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D(qty), D(px), D(lev), 0,
                                         MARGIN_FLAG_CROSS, pos));
    return a;
}

static void cross_min_reduce_case(int full_scan, const char *fee, const char *want_q)
{
    uint64_t m, a0, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1], q = D(want_q), pnl, fe, ins0;
    margin_engine *e = engine("0.005", &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D(fee)));
    a = cross_long(e, m, "25000", "10", "50000", "20", &p);
    ins0 = eng_get(e, MARGIN_ENG_INSURANCE_FUND);
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_POSITION], (int64_t)p);
    ck_assert_int_eq(f[MARGIN_EVF_QTY], q);
    ck_assert_int_eq(f[MARGIN_EVF_POSITION_QTY], D("10") - q);
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D("47700"));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], MARGIN_FILL_MARK);
    ck_assert_int_eq(f[MARGIN_EVF_MODE], MARGIN_MODE_CROSS);
    pnl = -q * 2300;
    fe = (int64_t)(((__int128)q * D("47700") / D("1") * D(fee) + D("1") - 1) / D("1"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], pnl);
    ck_assert_int_eq(f[MARGIN_EVF_FEE], fe);
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], fe);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("10") - q);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("25000") + pnl - fe);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND) - ins0, fe);
    ck_assert(acct_get(e, a, MARGIN_ACCT_CROSS_MARGIN_BALANCE) >
              acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN));
    assert_conserved(e, a);
    /* the same mark again changes nothing: the book is healthy */
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(!last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("10") - q);
    margin_engine_free(e);
}

START_TEST(test_cross_min_reduce_worked)
{
    cross_min_reduce_case(_i, "0", "1.6143");
    cross_min_reduce_case(_i, "0.001", "2.0179");
}
END_TEST

/* A fee rate at the maintenance rate: no sale helps, the leg goes in full at the mark; the
 * fee 10 * 47,700 * 0.01 = 4,770 is capped at the margin balance left, 2,000: the wallet
 * ends at 0 (the holder loses the whole wallet, no more), the fund receives 2,000, no
 * deficit. */
START_TEST(test_cross_fee_capped_full)
{
    uint64_t m, a0, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1], ins0;
    margin_engine *e = engine("0.005", &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, _i));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D("0.01")));
    a = cross_long(e, m, "25000", "10", "50000", "20", &p);
    ins0 = eng_get(e, MARGIN_ENG_INSURANCE_FUND);
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D("23000"));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("2000"));
    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], D("2000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND) - ins0, D("2000"));
    assert_conserved(e, a);
    margin_engine_free(e);
    /* a smaller fee, 0.1 % (47.7 per BTC), in full (the default policy): 477 from the 2,000
     * left; the wallet keeps 1,523 */
    e = engine("0.005", &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, _i));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_FEE, D("0.001")));
    a = cross_long(e, m, "25000", "10", "50000", "20", &p);
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("477"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1523"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* The tier-down check on a cross book (the tiers of test_tier_down_worked): long 50 BTC at
 * 51,000, 50x (initial margin 51,000), the wallet W, the mark 50,000: balance W - 50,000,
 * maintenance 22,500 (tier T3).
 *  - W = 70,000: balance 20,000 covers T2's cap (40 BTC, maintenance 15,000): sell 10 BTC
 *    (PnL -10,000): wallet 60,000, 40 BTC left, balance 20,000 > 15,000.
 *  - W = 64,000: balance 14,000 < 15,000; T1's cap 20 BTC (maintenance 5,000): sell 30
 *    BTC (PnL -30,000): wallet 34,000. */
static void cross_tier_down_case(int full_scan, const char *wallet, const char *want_q,
                                 const char *want_wallet)
{
    uint64_t m, a0, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine(NULL, &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000000"), D("0.01"), 0, D("5000")));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("2000000"), D("0.015"), 0, D("15000")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_TIER_DOWN));
    ck_assert_ok(e, margin_mark_update(e, m, D("51000")));
    a = cross_long(e, m, wallet, "50", "51000", "50", &p);
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D(want_q));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], -D(want_q) / 100000000 * D("1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("50") - D(want_q));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D(want_wallet));
    ck_assert(acct_get(e, a, MARGIN_ACCT_CROSS_MARGIN_BALANCE) >
              acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN));
    assert_conserved(e, a);
    margin_engine_free(e);
}

START_TEST(test_cross_tier_down_worked)
{
    cross_tier_down_case(_i, "70000", "10", "60000");
    cross_tier_down_case(_i, "64000", "30", "34000");
}
END_TEST

/* Slices on a cross book (test_slices' numbers): one slice of 2 BTC at 47,700 (PnL -4,600:
 * wallet 20,400; balance 20,400 - 8 * 2,300 = 2,000 > maintenance 8 * 238.5 = 1,908);
 * 1 s later at 47,600 the balance 20,400 - 8 * 2,400 = 1,200 <= 1,904: within the
 * cooldown, in full; the wallet keeps 1,200. */
START_TEST(test_cross_slices)
{
    uint64_t m, a0, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, _i));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_SLICES));
    a = cross_long(e, m, "25000", "10", "50000", "20", &p);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1000000));
    ck_assert_ok(e, margin_mark_update(e, m, D("47700")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("20400"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MARGIN_BALANCE), D("2000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), D("1908"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1001000));
    ck_assert_ok(e, margin_mark_update(e, m, D("47600")));
    ck_assert(last_event(e, MARGIN_EV_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("8"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1200"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Stops of a cross position fill by the market's MARGIN_MKT_STOP_FILL like isolated ones:
 * a cross long of 1 at 50,000 (wallet 100,000, 10x) with a take-profit at 51,000, taker
 * fee 0.0004; the mark 50,500 then 51,100 (a continuous move): with the trigger fill it
 * closes at 51,000 (PnL 1,000, fee 51,000*0.0004 = 20.4), with the mark fill at 51,100
 * (PnL 1,100, fee 20.44). */
static void cross_take_case(int full_scan, int32_t rule, const char *px, const char *pnl,
                            const char *fee, int32_t fill)
{
    uint64_t m, a0, a, p;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &m, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.0004")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STOP_FILL, rule));
    ck_assert_ok(e, margin_mark_update(e, m, D("50000")));
    a = cross_long(e, m, "100000", "1", "50000", "10", &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, D("51000")));
    ck_assert_ok(e, margin_mark_update(e, m, D("50500")));
    ck_assert_ok(e, margin_mark_update(e, m, D("51100")));
    ck_assert(last_event(e, MARGIN_EV_TAKE_PROFIT, f));
    ck_assert_int_eq(f[MARGIN_EVF_PRICE], D(px));
    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], D(pnl));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D(fee));
    ck_assert_int_eq(f[MARGIN_EVF_FILL], fill);
    /* wallet: 100,000 - the open fee 20 + PnL - fee */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE),
                     D("100000") - D("20") + D(pnl) - D(fee));
    assert_conserved(e, a);
    margin_engine_free(e);
}

START_TEST(test_cross_stop_fills)
{
    cross_take_case(_i, MARGIN_STOP_FILL_TRIGGER, "51000", "1000", "20.4", MARGIN_FILL_TRIGGER);
    cross_take_case(_i, MARGIN_STOP_FILL_MARK, "51100", "1100", "20.44", MARGIN_FILL_MARK);
}
END_TEST

/* Worst first with a partial policy: a cross account with BTC long 10 at 50,000 (market
 * min-reduce, mmr 0.5 %) and ETH long 100 at 3,000 (default policy: in full, mmr 0.5 %),
 * wallet 40,000. ETH at 2,990 (PnL -1,000, MM 1,495), then BTC to 47,700 (PnL -23,000, MM
 * 2,385): balance 40,000 - 24,000 = 16,000 > 3,880: healthy. BTC to 46,300: PnL -37,000,
 * balance 2,000, MM 2,315 + 1,495 = 3,810: liquidatable. Worst first picks BTC (-37,000);
 * min-reduce sells the smallest q with 2,000 > (10 - q) * 231.5 + 1,495 (fee 0):
 * q > (3,810 - 2,000) / 231.5 = 7.8185.. -> 7.8186 BTC (7.8185 leaves 2.1815 * 231.5 =
 * 505.01725 + 1,495 = 2,000.01725 >= 2,000); ETH stays whole. */
START_TEST(test_cross_worst_first_partial)
{
    uint64_t btc, eth, a0, a, p, q;
    int64_t f[MARGIN_EVF_ADL_COVERED + 1];
    margin_engine *e = engine("0.005", &btc, &a0);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, _i));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_WORST_FIRST));
    ck_assert_ok(e, margin_market_set(e, btc, MARGIN_MKT_LIQ_POLICY,
                                      MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    ck_assert_ok(e, margin_market_set(e, eth, MARGIN_MKT_STEP, D("0.0001")));
    ck_assert_ok(e, margin_market_set(e, eth, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_add_tier(e, eth, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_mark_update(e, btc, D("50000")));
    ck_assert_ok(e, margin_mark_update(e, eth, D("3000")));
    a = cross_long(e, btc, "40000", "10", "50000", "20", &p);
    ck_assert_ok(e, margin_account_set_mode(e, a, eth, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, a, eth, MARGIN_LONG, D("100"), D("3000"), D("20"), 0,
                                         MARGIN_FLAG_CROSS, &q));
    ck_assert_ok(e, margin_mark_update(e, eth, D("2990")));
    ck_assert_ok(e, margin_mark_update(e, btc, D("47700")));
    ck_assert(!last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_ok(e, margin_mark_update(e, btc, D("46300")));
    ck_assert(last_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, f));
    ck_assert_int_eq(f[MARGIN_EVF_POSITION], (int64_t)p);
    ck_assert_int_eq(f[MARGIN_EVF_QTY], D("7.8186"));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_QTY), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("10") - D("7.8186"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE),
                     D("40000") - D("7.8186") * 3700);
    ck_assert(acct_get(e, a, MARGIN_ACCT_CROSS_MARGIN_BALANCE) >
              acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Two engines, one with the full scan (the reference) and one with the indexes, fed the
 * same random operations on three markets whose liquidation options are drawn at random
 * (every policy, fill, fee basis and stop fill, random clearance fees up to 2 %): opens
 * of random size, side and leverage, with stops and take-profits now and then, mark
 * updates that walk with gaps and often land on (or one unit off) a position's
 * liquidation price, funding, and the clock moving (the slices' cooldown). After every
 * operation: the same status and the same events field by field; every position's
 * figures alike; each account's ledgers balance; the fund equals the sum of the events'
 * insurance deltas; and for every liquidation, in full or in part:
 *   realized PnL + insurance delta - fee == floor(s*q*(P - E)),
 * the market's PnL on the part at the price the money settles at (the fill, or the mark
 * for a takeover at the bankruptcy price): money is neither made nor lost; the holder
 * never loses more than the margin of what is liquidated; a partial step leaves the
 * position open, smaller, not past its new liquidation price under min-reduce and
 * tier-down. */
/* (Check only on failure: a passing ck_assert costs a message to the runner) */
#define RQ(cond, ...)                                                                      \
    do {                                                                                   \
        if (!(cond))                                                                       \
            ck_abort_msg(__VA_ARGS__);                                                     \
    } while (0)
#define RQ_OK(e, call)                                                                     \
    do {                                                                                   \
        int rq_ = (call);                                                                  \
        RQ(rq_ == MARGIN_OK, "%s: %d (%s)", #call, rq_, margin_errmsg(e));                \
    } while (0)
#define RN_ACC 3
#define RN_MKT 3
#define RN_MAXPOS 4096
#define RN_CROSS (RN_ACC - 1) /* the account in cross mode */

typedef struct {
    margin_engine *e[3]; /* full scan, indexes, and (twin runs) candles as four updates */
    int nw, twin;
    uint64_t mkt[RN_MKT], acct[RN_ACC];
    int64_t mark[RN_MKT];
    int64_t pt[4]; /* the last candle's path (the marks of its events' points) */
    uint64_t pt_mkt; /* and its market's index */
    uint64_t rng;
    int64_t ins_sum[2];
    int64_t count[32], fills[8]; /* events by type; liquidations by MARGIN_FILL_* */
    int64_t entry[RN_MAXPOS], qty[RN_MAXPOS], margin[RN_MAXPOS];
    int side[RN_MAXPOS];
    uint64_t npos;
    int32_t cross_policy;
    int64_t cross_liq[2]; /* cross legs liquidated in full, in part */
    int64_t adl_events;   /* deleveragings */
    int sliced; /* the cross book had a slice and has not been healthy since: it may stay
                 * liquidatable until its next evaluation */
} rn_t;

/* a position's, an account's, the engine's figure (Check only on failure) */
static int64_t rn_pos(const margin_engine *e, uint64_t id, int32_t key)
{
    int64_t v = 0;
    RQ_OK(e, margin_position_get(e, id, key, &v));
    return v;
}
static int64_t rn_acct(const margin_engine *e, uint64_t id, int32_t key)
{
    int64_t v = 0;
    RQ_OK(e, margin_account_get(e, id, key, &v));
    return v;
}

static int64_t rn_range(rn_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(splitmix64(&r->rng) % (uint64_t)(hi - lo + 1));
}

/* Market i of the randomized runs ("MKT0".. "MKT2"): step 0.001, tick 0.1, three tiers
 * (0.5 %, 1 % from 50,000, 2.5 % from 250,000), the liquidation options given, slices above
 * 20,000 of notional with the cooldown given. */
static void rn_market(margin_engine *e, int i, uint64_t *mkt, int32_t policy, int32_t fill,
                      int32_t basis, int32_t stop, int64_t fee, int64_t cooldown)
{
    char sym[8] = "MKT0";
    sym[3] = (char)('0' + i);
    ck_assert_ok(e, margin_market_new(e, sym, mkt));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_STEP, D("0.001")));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_TICK, D("0.1")));
    ck_assert_ok(e, margin_market_add_tier(e, *mkt, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, *mkt, D("50000"), D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, *mkt, D("250000"), D("0.025"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_LIQ_POLICY, policy));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_LIQ_FILL, fill));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_LIQ_FEE_BASIS, basis));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_STOP_FILL, stop));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_LIQ_FEE, fee));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_SLICE_THRESHOLD, D("20000")));
    ck_assert_ok(e, margin_market_set(e, *mkt, MARGIN_MKT_SLICE_COOLDOWN, cooldown));
}

static void rn_setup(rn_t *r, uint64_t seed, int twin)
{
    memset(r, 0, sizeof *r);
    r->rng = seed;
    r->twin = twin;
    r->nw = twin ? 3 : 2;
    for (int w = 0; w < r->nw; w++) {
        margin_engine *e;
        ck_assert_int_eq(margin_engine_new(&r->e[w]), MARGIN_OK);
        e = r->e[w];
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, w == 0));
    }
    for (int i = 0; i < RN_MKT; i++) {
        int32_t policy = i == 0 ? (int32_t)rn_range(r, 0, 3) : i; /* 1, 2 on the others */
        int32_t fill = (int32_t)rn_range(r, 0, 2), basis = (int32_t)rn_range(r, 0, 1);
        /* (twin runs: stops at the mark, where a candle's open and a mark update agree) */
        int32_t stop = twin ? MARGIN_STOP_FILL_MARK : (int32_t)rn_range(r, 0, 1);
        /* up to 2 %; below the lowest rate, 0.5 %, in the min-reduce market, where a fee
         * at or above it makes every liquidation full */
        int64_t fee = rn_range(r, 0, 4) == 0 ? 0 : rn_range(r, 0, i == 1 ? 400000 : 2000000);
        /* ADL on two markets in three; pools of 0 to 500 with floors of 0 to 100 */
        int32_t adl = rn_range(r, 0, 2) != 0, rank = (int32_t)rn_range(r, 0, 1);
        int64_t seedp = D("1") * rn_range(r, 0, 500), floor = D("1") * rn_range(r, 0, 100);
        for (int w = 0; w < r->nw; w++) {
            margin_engine *e = r->e[w];
            rn_market(e, i, &r->mkt[i], policy, fill, basis, stop, fee, 5);
            /* issue 14: small pools, so that deleveraging happens often */
            ck_assert_ok(e, margin_market_set(e, r->mkt[i], MARGIN_MKT_ADL, adl));
            ck_assert_ok(e, margin_market_set(e, r->mkt[i], MARGIN_MKT_ADL_RANKING, rank));
            ck_assert_ok(e, margin_market_set(e, r->mkt[i], MARGIN_MKT_INSURANCE_FLOOR, floor));
            if (seedp > 0)
                ck_assert_ok(e, margin_insurance_deposit(e, r->mkt[i], seedp));
        }
        r->mark[i] = D("1000");
    }
    r->cross_policy = (int32_t)rn_range(r, 0, 1);
    for (int k = 0; k < RN_ACC; k++)
        for (int w = 0; w < r->nw; w++) {
            ck_assert_ok(r->e[w], margin_account_new(r->e[w], &r->acct[k]));
            /* the last account: cross in every market, a smaller wallet */
            ck_assert_ok(r->e[w], margin_account_deposit(r->e[w], r->acct[k],
                                                         k == RN_CROSS ? D("2000000")
                                                                       : D("100000000")));
            if (k == RN_CROSS)
                for (int i = 0; i < RN_MKT; i++)
                    ck_assert_ok(r->e[w], margin_account_set_mode(r->e[w], r->acct[k], r->mkt[i],
                                                                  MARGIN_MODE_CROSS));
            ck_assert_ok(r->e[w], margin_engine_set(r->e[w], MARGIN_ENG_CROSS_LIQUIDATION,
                                                    r->cross_policy));
        }
    for (int i = 0; i < RN_MKT; i++)
        for (int w = 0; w < r->nw; w++)
            ck_assert_ok(r->e[w], margin_mark_update(r->e[w], r->mkt[i], r->mark[i]));
}

/* floor(s*q*(P - E)) in money (scales 1/3: price at 0.1 units... all at scale 8 here) */
static int64_t rn_market_pnl(int side, int64_t q, int64_t price, int64_t entry)
{
    __int128 v = (__int128)side * q * (price - entry), d = (__int128)100000000;
    __int128 f = v / d;
    if (v % d != 0 && v < 0)
        f -= 1;
    return (int64_t)f;
}

/* Drain both queues, compare them, check each liquidation's money. */
static void rn_events(rn_t *r, int step)
{
    int32_t t0, t1;
    int64_t a[MARGIN_EVF_ADL_COVERED + 1], b[MARGIN_EVF_ADL_COVERED + 1];
    for (;;) {
        int r0 = margin_event_next(r->e[0], &t0), r1 = margin_event_next(r->e[1], &t1);
        if (r->twin) {
            int32_t t2;
            int64_t c[MARGIN_EVF_ADL_COVERED + 1];
            int r2 = margin_event_next(r->e[2], &t2);
            RQ(r2 == r1 && t2 == t1, "step %d: the twin's event type %d, %d", step, t2, t1);
            if (r2 == MARGIN_OK && t2 != MARGIN_EV_NONE) {
                int64_t d[MARGIN_EVF_ADL_COVERED + 1];
                RQ_OK(r->e[2], margin_event_fields(r->e[2], c, MARGIN_EVF_ADL_COVERED + 1));
                RQ_OK(r->e[1], margin_event_get(r->e[1], MARGIN_EVF_SEQ, &d[0]));
                for (int f = 1; f <= MARGIN_EVF_ADL_COVERED; f++) {
                    if (f == MARGIN_EVF_PATH_POINT)
                        continue; /* (the twin's updates have none) */
                    RQ_OK(r->e[1], margin_event_get(r->e[1], f, &d[f]));
                    RQ(c[f] == d[f], "step %d: the twin's event field %d: %lld, %lld", step,
                       f, (long long)c[f], (long long)d[f]);
                }
            }
        }
        RQ(r0 == r1, "step %d: statuses %d and %d", step, r0, r1);
        RQ(t0 == t1, "step %d: event types %d and %d", step, t0, t1);
        if (r0 != MARGIN_OK || t0 == MARGIN_EV_NONE)
            break;
        RQ_OK(r->e[0], margin_event_fields(r->e[0], a, MARGIN_EVF_ADL_COVERED + 1));
        RQ_OK(r->e[1], margin_event_fields(r->e[1], b, MARGIN_EVF_ADL_COVERED + 1));
        if (getenv("RN_DEBUG") && step >= atoi(getenv("RN_DEBUG")))
            fprintf(stderr, "step %d ev %d acct %lld mkt %lld pos %lld qty %lld price %lld pt %lld pqty %lld\n",
                    step, t0, (long long)a[MARGIN_EVF_ACCOUNT], (long long)a[MARGIN_EVF_MARKET],
                    (long long)a[MARGIN_EVF_POSITION], (long long)a[MARGIN_EVF_QTY],
                    (long long)a[MARGIN_EVF_PRICE], (long long)a[MARGIN_EVF_PATH_POINT],
                    (long long)a[MARGIN_EVF_POSITION_QTY]);
        r->count[t0 < 32 ? t0 : 0]++;
        if (t0 == MARGIN_EV_LIQUIDATION || t0 == MARGIN_EV_PARTIAL_LIQUIDATION)
            r->fills[a[MARGIN_EVF_FILL] & 7]++;
        for (int f = 1; f <= MARGIN_EVF_ADL_COVERED; f++)
            RQ(a[f] == b[f], "step %d: event field %d: %lld and %lld", step, f,
                          (long long)a[f], (long long)b[f]);
        r->ins_sum[0] += a[MARGIN_EVF_INSURANCE_DELTA];
        if (t0 == MARGIN_EV_OPEN && (uint64_t)a[MARGIN_EVF_POSITION] < RN_MAXPOS) {
            uint64_t id = (uint64_t)a[MARGIN_EVF_POSITION];
            r->entry[id] = a[MARGIN_EVF_ENTRY_PRICE];
            r->side[id] = (int)a[MARGIN_EVF_SIDE];
        }
        if (t0 == MARGIN_EV_ADL) {
            /* deleveraged at the bankruptcy price: its PnL there plus what it paid the pool
             * is its PnL at the mark; no fee; of the other side of its counterparty */
            uint64_t id = (uint64_t)a[MARGIN_EVF_POSITION], cp = (uint64_t)a[MARGIN_EVF_COUNTERPARTY];
            uint64_t mi = (uint64_t)a[MARGIN_EVF_MARKET] - 1;
            int64_t mk = a[MARGIN_EVF_PATH_POINT] && mi == r->pt_mkt
                             ? r->pt[a[MARGIN_EVF_PATH_POINT] - 1]
                             : r->mark[mi];
            RQ(id < RN_MAXPOS && cp < RN_MAXPOS && r->side[id] == -r->side[cp],
               "step %d: position %llu (side %d, event side %lld) deleveraged against %llu "
               "(side %d)", step, (unsigned long long)id, r->side[id],
               (long long)a[MARGIN_EVF_SIDE], (unsigned long long)cp, r->side[cp]);
            RQ(a[MARGIN_EVF_FEE] == 0 && a[MARGIN_EVF_INSURANCE_DELTA] > 0 &&
                   a[MARGIN_EVF_FILL] == MARGIN_FILL_BANKRUPTCY,
               "step %d: an ADL event's fee, credit or fill", step);
            RQ(a[MARGIN_EVF_REALIZED_PNL] + a[MARGIN_EVF_INSURANCE_DELTA] ==
                   rn_market_pnl(r->side[id], a[MARGIN_EVF_QTY], mk, r->entry[id]),
               "step %d: position %llu deleveraged: PnL %lld + credit %lld != PnL at the mark %lld",
               step, (unsigned long long)id, (long long)a[MARGIN_EVF_REALIZED_PNL],
               (long long)a[MARGIN_EVF_INSURANCE_DELTA],
               (long long)rn_market_pnl(r->side[id], a[MARGIN_EVF_QTY], mk, r->entry[id]));
            r->adl_events++;
        }
        if (t0 == MARGIN_EV_LIQUIDATION || t0 == MARGIN_EV_PARTIAL_LIQUIDATION) {
            uint64_t id = (uint64_t)a[MARGIN_EVF_POSITION];
            uint64_t mi = (uint64_t)a[MARGIN_EVF_MARKET] - 1;
            /* the mark of the moment: a candle's point, or the update's mark */
            int64_t mk = a[MARGIN_EVF_PATH_POINT] && mi == r->pt_mkt
                             ? r->pt[a[MARGIN_EVF_PATH_POINT] - 1]
                             : r->mark[mi];
            int64_t settle = a[MARGIN_EVF_FILL] == MARGIN_FILL_BANKRUPTCY ? mk : a[MARGIN_EVF_PRICE];
            int64_t x = a[MARGIN_EVF_REALIZED_PNL] + a[MARGIN_EVF_INSURANCE_DELTA] -
                        a[MARGIN_EVF_FEE];
            RQ(id < RN_MAXPOS && r->entry[id] > 0, "step %d: unknown position", step);
            RQ(x == rn_market_pnl(r->side[id], a[MARGIN_EVF_QTY], settle, r->entry[id]),
                          "step %d: position %llu: realized %lld + insurance %lld - fee %lld "
                          "!= market PnL %lld", step, (unsigned long long)id,
                          (long long)a[MARGIN_EVF_REALIZED_PNL],
                          (long long)a[MARGIN_EVF_INSURANCE_DELTA], (long long)a[MARGIN_EVF_FEE],
                          (long long)rn_market_pnl(r->side[id], a[MARGIN_EVF_QTY], settle,
                                                   r->entry[id]));
            RQ(a[MARGIN_EVF_FEE] >= 0, "step %d: negative fee", step);
            if (a[MARGIN_EVF_MODE] == MARGIN_MODE_CROSS) {
                /* a cross leg: at the mark; the wallet and the book are checked after the
                 * operation (rn_cross_book) */
                int64_t pol = 0;
                RQ(a[MARGIN_EVF_FILL] == MARGIN_FILL_MARK && a[MARGIN_EVF_PRICE] == mk,
                   "step %d: a cross leg not filled at the mark: type %d fill %lld price %lld "
                   "mark %lld point %lld market %llu", step, t0, (long long)a[MARGIN_EVF_FILL],
                   (long long)a[MARGIN_EVF_PRICE], (long long)mk,
                   (long long)a[MARGIN_EVF_PATH_POINT], (unsigned long long)mi);
                RQ(a[MARGIN_EVF_INSURANCE_DELTA] == a[MARGIN_EVF_FEE],
                   "step %d: a cross leg's clearance fee is not the fund's", step);
                RQ_OK(r->e[0], margin_market_get(r->e[0], mi + 1, MARGIN_MKT_LIQ_POLICY, &pol));
                if (t0 == MARGIN_EV_PARTIAL_LIQUIDATION && pol == MARGIN_LIQ_POLICY_SLICES)
                    r->sliced = 1;
                r->cross_liq[t0 == MARGIN_EV_PARTIAL_LIQUIDATION]++;
                RQ(t0 == MARGIN_EV_LIQUIDATION || a[MARGIN_EVF_POSITION_QTY] > 0,
                   "step %d: a partial step left nothing", step);
            } else if (t0 == MARGIN_EV_LIQUIDATION) {
                /* the holder loses at most the margin: realized - fee >= -margin */
                RQ(a[MARGIN_EVF_REALIZED_PNL] - a[MARGIN_EVF_FEE] >= a[MARGIN_EVF_AMOUNT],
                   "step %d: the holder lost more than the margin", step);
            } else {
                RQ(a[MARGIN_EVF_POSITION_QTY] > 0 && a[MARGIN_EVF_MARGIN] >= 0,
                   "step %d: a partial step left nothing", step);
                RQ(a[MARGIN_EVF_AMOUNT] == a[MARGIN_EVF_REALIZED_PNL] - a[MARGIN_EVF_FEE],
                   "step %d: partial margin change", step);
                {
                    /* min-reduce and tier-down leave the remainder safe at the mark */
                    int64_t pol = 0, lp = a[MARGIN_EVF_LIQ_PRICE];
                    RQ_OK(r->e[0], margin_market_get(r->e[0], mi + 1, MARGIN_MKT_LIQ_POLICY, &pol));
                    if (pol != MARGIN_LIQ_POLICY_SLICES)
                        RQ(r->side[id] == MARGIN_LONG ? mk > lp : mk < lp,
                           "step %d: position %llu left past its liquidation price %lld at %lld",
                           step, (unsigned long long)id, (long long)lp, (long long)mk);
                }
            }
        }
    }
}

static void rn_compare(rn_t *r, int step)
{
    static const int32_t keys[] = {MARGIN_POS_QTY, MARGIN_POS_MARGIN, MARGIN_POS_STATUS,
                                   MARGIN_POS_REALIZED_PNL, MARGIN_POS_FEES, MARGIN_POS_LIQ_PRICE};
    for (uint64_t id = 1; id <= r->npos; id++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            RQ(rn_pos(r->e[0], id, keys[k]) == rn_pos(r->e[1], id, keys[k]) &&
                   (!r->twin || rn_pos(r->e[2], id, keys[k]) == rn_pos(r->e[1], id, keys[k])),
                          "step %d: position %llu key %d differs", step,
                          (unsigned long long)id, keys[k]);
    for (int w = 0; w < r->nw; w++) {
        int64_t ins = 0;
        for (int k = 0; k < RN_ACC; k++) {
            const margin_engine *e = r->e[w];
            uint64_t ac = r->acct[k];
            RQ(rn_acct(e, ac, MARGIN_ACCT_FREE_BALANCE) + rn_acct(e, ac, MARGIN_ACCT_ISOLATED_MARGIN) ==
                   rn_acct(e, ac, MARGIN_ACCT_DEPOSITS) - rn_acct(e, ac, MARGIN_ACCT_WITHDRAWALS) +
                       rn_acct(e, ac, MARGIN_ACCT_REALIZED_PNL) - rn_acct(e, ac, MARGIN_ACCT_FEES) +
                       rn_acct(e, ac, MARGIN_ACCT_FUNDING),
               "step %d: account %d's ledgers do not balance", step, k);
        }
        RQ_OK(r->e[w], margin_engine_get(r->e[w], MARGIN_ENG_INSURANCE_FUND, &ins));
        RQ(ins == r->ins_sum[0],
           "step %d: the fund differs from its events' sum", step);
        {
            /* the pools (each market's own here) sum to the fund */
            int64_t sum = 0, v = 0;
            for (int i = 0; i < RN_MKT; i++) {
                RQ_OK(r->e[w], margin_market_get(r->e[w], r->mkt[i], MARGIN_MKT_INSURANCE, &v));
                sum += v;
            }
            RQ(sum == ins, "step %d: the pools sum to %lld, the fund is %lld", step,
               (long long)sum, (long long)ins);
        }
    }
}

/* The cross account after an operation: its wallet never below zero once it has no cross
 * position (a liquidation's deficit is the fund's; with positions open, realized losses
 * may take it below zero while their profits back it), and its book above its maintenance margin (a liquidatable book
 * is liquidated at once: in full, worst first until healthy, or by min-reduce and
 * tier-down steps sized to restore it), unless a slice left it for its next trigger. */
static void rn_cross_book(rn_t *r, int step)
{
    for (int w = 0; w < r->nw; w++) {
        const margin_engine *e = r->e[w];
        uint64_t ac = r->acct[RN_CROSS];
        if (rn_acct(e, ac, MARGIN_ACCT_CROSS_POSITIONS) == 0) {
            RQ(rn_acct(e, ac, MARGIN_ACCT_FREE_BALANCE) >= 0,
               "step %d: engine %d: an empty cross book left the wallet at %lld", step, w,
               (long long)rn_acct(e, ac, MARGIN_ACCT_FREE_BALANCE));
            r->sliced = 0;
            continue;
        }
        if (rn_acct(e, ac, MARGIN_ACCT_CROSS_MARGIN_BALANCE) >
            rn_acct(e, ac, MARGIN_ACCT_CROSS_MAINT_MARGIN)) {
            r->sliced = 0; /* healthy again */
            continue;
        }
        RQ(r->sliced,
           "step %d: engine %d: the cross book was left liquidatable (balance %lld, "
           "maintenance %lld)", step, w,
           (long long)rn_acct(e, ac, MARGIN_ACCT_CROSS_MARGIN_BALANCE),
           (long long)rn_acct(e, ac, MARGIN_ACCT_CROSS_MAINT_MARGIN));
    }
}

static void rn_run(uint64_t seed, int nops, int twin)
{
    static rn_t R;
    rn_t *r = &R;
    rn_setup(r, seed, twin);
    for (int step = 0; step < nops; step++) {
        int mi = (int)rn_range(r, 0, RN_MKT - 1), rc[3] = {0, 0, 0};
        int64_t op = rn_range(r, 0, 99);
        uint64_t id[3] = {0, 0, 0};
        if (op < 35 && r->npos + 1 < RN_MAXPOS) {
            int32_t side = rn_range(r, 0, 1) ? MARGIN_LONG : MARGIN_SHORT;
            int64_t qty = rn_range(r, 1, 400) * D("0.5"), lev = rn_range(r, 2, 50) * D("1");
            int k = (int)rn_range(r, 0, RN_ACC - 1);
            uint64_t a = r->acct[k];
            for (int w = 0; w < r->nw; w++)
                rc[w] = margin_position_open(r->e[w], a, r->mkt[mi], side, qty, r->mark[mi], lev,
                                             0, k == RN_CROSS ? MARGIN_FLAG_CROSS : 0, &id[w]);
            RQ(rc[0] == rc[1], "step %d: statuses %d and %d", step, rc[0], rc[1]);
            if (rc[0] == MARGIN_OK) {
                RQ(id[0] == id[1], "step %d: ids differ", step);
                r->npos = id[0];
                if (rn_range(r, 0, 3) == 0) {
                    int64_t d = r->mark[mi] / 50 * rn_range(r, 1, 5) / 10 * 10;
                    int64_t st = side == MARGIN_LONG ? r->mark[mi] - d : r->mark[mi] + d;
                    int64_t tp = side == MARGIN_LONG ? r->mark[mi] + d : r->mark[mi] - d;
                    for (int w = 0; w < r->nw; w++)
                        rc[w] = margin_position_set_stops(r->e[w], id[0], st, tp > 0 ? tp : 0);
                    RQ(rc[0] == rc[1], "step %d: statuses %d and %d", step, rc[0], rc[1]);
                }
            }
        } else if (op < 50) { /* a candle around the mark, sometimes gapping */
            int64_t o = r->mark[mi] + r->mark[mi] / 1000 * rn_range(r, -8, 8) / D("0.1") * D("0.1");
            int64_t c = o + o / 1000 * rn_range(r, -30, 30) / D("0.1") * D("0.1");
            int64_t hi = (o > c ? o : c) + D("0.1") * rn_range(r, 0, 3000);
            int64_t lo = (o < c ? o : c) - D("0.1") * rn_range(r, 0, 3000);
            if (lo < D("100"))
                lo = D("100");
            if (o < lo || c < lo)
                continue;
            for (int w = 0; w < 2; w++)
                rc[w] = margin_mark_candle(r->e[w], r->mkt[mi], o, hi, lo, c, MARGIN_PATH_UPDOWN);
            RQ(rc[0] == rc[1], "step %d: candle statuses %d and %d", step, rc[0], rc[1]);
            r->pt_mkt = (uint64_t)mi;
            r->pt[0] = o;
            r->pt[1] = c >= o ? lo : hi;
            r->pt[2] = c >= o ? hi : lo;
            r->pt[3] = c;
            if (r->twin)
                for (int k = 0; k < 4; k++)
                    RQ_OK(r->e[2], margin_mark_update(r->e[2], r->mkt[mi], r->pt[k]));
            if (rc[0] == MARGIN_OK)
                r->mark[mi] = c;
        } else if (op < 90) {
            int64_t m = r->mark[mi];
            if (op < 60 && r->npos > 0) { /* aim at a position's liquidation price */
                uint64_t pid = (uint64_t)rn_range(r, 1, (int64_t)r->npos);
                int64_t lp = rn_pos(r->e[0], pid, MARGIN_POS_LIQ_PRICE);
                if (rn_pos(r->e[0], pid, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN && lp > 0 &&
                    (uint64_t)rn_pos(r->e[0], pid, MARGIN_POS_MARKET) == r->mkt[mi])
                    m = lp / D("0.1") * D("0.1") + D("0.1") * rn_range(r, -1, 1);
            } else {
                m += m / 1000 * rn_range(r, -30, 30) / D("0.1") * D("0.1");
            }
            if (m < D("100"))
                m = D("100");
            if (m > D("100000"))
                m = D("100000");
            for (int w = 0; w < r->nw; w++)
                rc[w] = margin_mark_update(r->e[w], r->mkt[mi], m);
            RQ(rc[0] == rc[1], "step %d: statuses %d and %d", step, rc[0], rc[1]);
            if (rc[0] == MARGIN_OK)
                r->mark[mi] = m;
        } else if (op < 95) {
            int64_t rate = rn_range(r, -300000, 300000);
            for (int w = 0; w < r->nw; w++)
                rc[w] = margin_funding_apply(r->e[w], r->mkt[mi], rate, r->mark[mi]);
            RQ(rc[0] == rc[1], "step %d: statuses %d and %d", step, rc[0], rc[1]);
        } else {
            for (int w = 0; w < r->nw; w++)
                RQ_OK(r->e[w], margin_engine_set(r->e[w], MARGIN_ENG_TIME, step));
        }
        rn_events(r, step);
        rn_compare(r, step);
        rn_cross_book(r, step);
    }
    /* the run did what it is for: liquidations in full and in part */
    if (getenv("MARGIN_RANDOM_STATS") != NULL)
        fprintf(stderr, "seed %llu: %lld liquidations, %lld partial, fills %lld/%lld/%lld, "
                "cross legs %lld/%lld, adl %lld\n",
                (unsigned long long)seed, (long long)r->count[MARGIN_EV_LIQUIDATION],
                (long long)r->count[MARGIN_EV_PARTIAL_LIQUIDATION],
                (long long)r->fills[MARGIN_FILL_MARK], (long long)r->fills[MARGIN_FILL_LIQ_PRICE],
                (long long)r->fills[MARGIN_FILL_BANKRUPTCY], (long long)r->cross_liq[0],
                (long long)r->cross_liq[1], (long long)r->adl_events);
    ck_assert(r->count[MARGIN_EV_LIQUIDATION] > 0 && r->count[MARGIN_EV_PARTIAL_LIQUIDATION] > 0);
    for (int w = 0; w < r->nw; w++)
        margin_engine_free(r->e[w]);
}

START_TEST(test_random_policies)
{
    uint64_t seed = 0x13 + (uint64_t)_i * 7919;
    const char *env = getenv("MARGIN_RANDOM_SEED");
    if (env != NULL)
        seed += strtoull(env, NULL, 10);
    rn_run(seed, 1500, 0);
}
END_TEST

/* With stops filled at the mark, a candle is the four mark updates of its path: the same
 * events (but their path point) and the same state, on a third engine. */
START_TEST(test_random_candles_are_four_marks)
{
    uint64_t seed = 0x4c + (uint64_t)_i * 104729;
    const char *env = getenv("MARGIN_RANDOM_SEED");
    if (env != NULL)
        seed += strtoull(env, NULL, 10);
    rn_run(seed, 1500, 1);
}
END_TEST

/* ------------------------------------------------------------------ the adverse path, randomized */

/* An independent model of the adverse path. Engines 0 and 1 (indexes, and the full scan)
 * hold random isolated longs and shorts on three markets with random liquidation options
 * (every policy, fill, fee basis and stop fill, clearance fees) and receive adverse
 * candles; twin engine 2 holds only the longs and twin 3 only the shorts (the same
 * accounts, opened in the same order), and receive plain mark updates: the longs' twin
 * open, low, high, close, the shorts' twin open, high, low, close, whatever the bar's
 * direction. The open of a candle is a jump (stops fill at the mark, as
 * MARGIN_STOP_FILL_MARK does); the twins take it with their market's stop fill set to the
 * mark for that one update. Isolated positions share nothing but their account's free
 * balance, which decides nothing here, and the slices' cooldown, which is per account: the
 * odd seeds give the longs accounts 1 and 2 and the shorts accounts 3 and 4 (a cooldown of
 * 5 and a moving clock), the even ones mix them (no cooldown). After every operation:
 *  - per position: status, quantity, realized PnL, fees, margin, liquidation price as its
 *    twin has them (and engines 0 and 1 alike);
 *  - per account: the change of the free balance is the sum of the twins' changes; the
 *    insurance fund is the twins' sum;
 *  - a candle's events: per position, in order, those of its twin's four updates, the
 *    path point being the update's rank (2: the position's adverse extreme), every field
 *    alike but the sequence and the free balance. */
#define AV_ACC 4
#define AV_MAXPOS 2048
#define AV_MAXEV 4096

typedef struct {
    int64_t pos, point, f[MARGIN_EVF_ADL_COVERED + 1];
    int32_t type;
    int rank;
} av_ev;

typedef struct {
    margin_engine *e[4];
    uint64_t mkt[RN_MKT], acct[AV_ACC];
    int64_t mark[RN_MKT], stop_rule[RN_MKT];
    uint64_t rng;
    int mixed;
    uint64_t npos;
    int side[AV_MAXPOS];
    uint64_t twin_id[AV_MAXPOS]; /* the id in its twin */
    uint64_t main_id[2][AV_MAXPOS]; /* a twin's id -> the main id */
    av_ev ev[2][AV_MAXEV];
    int nev[2];
    int64_t liqs;
} av_t;

#define AV_D0 D("100000000")

static int64_t av_range(av_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(splitmix64(&r->rng) % (uint64_t)(hi - lo + 1));
}

static void av_drain(av_t *r, int w, int keep, int rank, int step);

static void av_setup(av_t *r, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->rng = seed;
    r->mixed = (seed & 1) == 0;
    for (int w = 0; w < 4; w++) {
        ck_assert_int_eq(margin_engine_new(&r->e[w]), MARGIN_OK);
        ck_assert_ok(r->e[w], margin_engine_set(r->e[w], MARGIN_ENG_FULL_SCAN, w == 1));
    }
    for (int i = 0; i < RN_MKT; i++) {
        int32_t policy = i == 0 ? (int32_t)av_range(r, 0, 3) : i; /* 1, 2 on the others */
        int32_t fill = (int32_t)av_range(r, 0, 2), basis = (int32_t)av_range(r, 0, 1);
        int32_t stop = (int32_t)av_range(r, 0, 1);
        int64_t fee = av_range(r, 0, 4) == 0 ? 0 : av_range(r, 0, i == 1 ? 400000 : 2000000);
        r->stop_rule[i] = stop;
        for (int w = 0; w < 4; w++) {
            rn_market(r->e[w], i, &r->mkt[i], policy, fill, basis, stop, fee, r->mixed ? 0 : 5);
        }
        r->mark[i] = D("1000");
    }
    for (int k = 0; k < AV_ACC; k++)
        for (int w = 0; w < 4; w++) {
            ck_assert_ok(r->e[w], margin_account_new(r->e[w], &r->acct[k]));
            ck_assert_ok(r->e[w], margin_account_deposit(r->e[w], r->acct[k], AV_D0));
        }
    for (int i = 0; i < RN_MKT; i++)
        for (int w = 0; w < 4; w++)
            ck_assert_ok(r->e[w], margin_mark_update(r->e[w], r->mkt[i], r->mark[i]));
    for (int w = 0; w < 4; w++)
        if (w != 1)
            av_drain(r, w, 0, 0, -1);
}

/* Drain engine w's queue. Engines 0 and 1: their events alike, in order; with `keep`,
 * engine 0's position events are kept (list 0). Twins (w 2, 3): kept in list 1 with the
 * main position id and `rank` as their path point. */
static void av_drain(av_t *r, int w, int keep, int rank, int step)
{
    int32_t t, t1;
    for (;;) {
        int rc = margin_event_next(r->e[w], &t);
        av_ev *x;
        RQ(rc == MARGIN_OK, "step %d: event_next %d", step, rc);
        if (w == 0) {
            RQ(margin_event_next(r->e[1], &t1) == MARGIN_OK && t1 == t,
               "step %d: the full scan's event type %d, the indexes' %d", step, t1, t);
        }
        if (t == MARGIN_EV_NONE)
            break;
        if (!keep)
            continue;
        RQ(r->nev[w > 0] < AV_MAXEV, "step %d: too many events", step);
        x = &r->ev[w > 0][r->nev[w > 0]++];
        x->type = t;
        RQ_OK(r->e[w], margin_event_fields(r->e[w], x->f, MARGIN_EVF_ADL_COVERED + 1));
        if (w == 0) {
            int64_t g[MARGIN_EVF_ADL_COVERED + 1];
            RQ_OK(r->e[1], margin_event_fields(r->e[1], g, MARGIN_EVF_ADL_COVERED + 1));
            for (int f = 1; f <= MARGIN_EVF_PATH_POINT; f++)
                RQ(g[f] == x->f[f], "step %d: event field %d: full scan %lld, indexes %lld",
                   step, f, (long long)g[f], (long long)x->f[f]);
            x->pos = x->f[MARGIN_EVF_POSITION];
            x->point = x->f[MARGIN_EVF_PATH_POINT];
        } else {
            uint64_t tid = (uint64_t)x->f[MARGIN_EVF_POSITION];
            RQ(tid > 0 && tid < AV_MAXPOS, "step %d: twin event without a position", step);
            x->pos = (int64_t)r->main_id[w - 2][tid];
            x->point = rank;
            RQ(x->f[MARGIN_EVF_PATH_POINT] == 0, "step %d: a mark update's path point", step);
        }
        x->rank = r->nev[w > 0];
    }
}

/* by position, then path point, then order of production */
static int av_cmp(const void *a, const void *b)
{
    const av_ev *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    if (x->point != y->point)
        return x->point < y->point ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static void av_compare_events(av_t *r, int step)
{
    RQ(r->nev[0] == r->nev[1], "step %d: %d events, the twins %d", step, r->nev[0], r->nev[1]);
    qsort(r->ev[0], (size_t)r->nev[0], sizeof r->ev[0][0], av_cmp);
    qsort(r->ev[1], (size_t)r->nev[1], sizeof r->ev[1][0], av_cmp);
    for (int i = 0; i < r->nev[0]; i++) {
        const av_ev *x = &r->ev[0][i], *y = &r->ev[1][i];
        RQ(x->pos == y->pos && x->type == y->type && x->point == y->point,
           "step %d: event %d: position %lld type %d point %lld; the twin's position %lld type "
           "%d point %lld",
           step, i, (long long)x->pos, x->type, (long long)x->point, (long long)y->pos, y->type,
           (long long)y->point);
        for (int f = MARGIN_EVF_ACCOUNT; f < MARGIN_EVF_PATH_POINT; f++)
            RQ(f == MARGIN_EVF_POSITION || f == MARGIN_EVF_FREE_BALANCE || x->f[f] == y->f[f],
               "step %d: position %lld, event type %d at point %lld: field %d %lld, the twin's "
               "%lld",
               step, (long long)x->pos, x->type, (long long)x->point, f, (long long)x->f[f],
               (long long)y->f[f]);
        if (x->type == MARGIN_EV_LIQUIDATION || x->type == MARGIN_EV_PARTIAL_LIQUIDATION)
            r->liqs++;
    }
    r->nev[0] = r->nev[1] = 0;
}

static void av_compare(av_t *r, int step)
{
    static const int32_t keys[] = {MARGIN_POS_STATUS, MARGIN_POS_QTY, MARGIN_POS_REALIZED_PNL,
                                   MARGIN_POS_FEES, MARGIN_POS_MARGIN, MARGIN_POS_LIQ_PRICE};
    int64_t ins[4];
    for (uint64_t id = 1; id <= r->npos; id++) {
        margin_engine *t = r->e[r->side[id] == MARGIN_LONG ? 2 : 3];
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            int64_t v = rn_pos(r->e[0], id, keys[k]);
            RQ(v == rn_pos(r->e[1], id, keys[k]), "step %d: position %llu key %d: full scan",
               step, (unsigned long long)id, keys[k]);
            RQ(v == rn_pos(t, r->twin_id[id], keys[k]),
               "step %d: position %llu key %d: %lld, the twin's %lld", step,
               (unsigned long long)id, keys[k], (long long)v,
               (long long)rn_pos(t, r->twin_id[id], keys[k]));
        }
    }
    for (int k = 0; k < AV_ACC; k++) {
        int64_t f0 = rn_acct(r->e[0], r->acct[k], MARGIN_ACCT_FREE_BALANCE);
        int64_t fl = rn_acct(r->e[2], r->acct[k], MARGIN_ACCT_FREE_BALANCE);
        int64_t fs = rn_acct(r->e[3], r->acct[k], MARGIN_ACCT_FREE_BALANCE);
        RQ(f0 == rn_acct(r->e[1], r->acct[k], MARGIN_ACCT_FREE_BALANCE),
           "step %d: account %d: full scan", step, k);
        RQ(f0 - AV_D0 == (fl - AV_D0) + (fs - AV_D0),
           "step %d: account %d: free balance change %lld, the twins' %lld + %lld", step, k,
           (long long)(f0 - AV_D0), (long long)(fl - AV_D0), (long long)(fs - AV_D0));
    }
    for (int w = 0; w < 4; w++)
        RQ_OK(r->e[w], margin_engine_get(r->e[w], MARGIN_ENG_INSURANCE_FUND, &ins[w]));
    RQ(ins[0] == ins[1] && ins[0] == ins[2] + ins[3],
       "step %d: insurance fund %lld, the twins' %lld + %lld", step, (long long)ins[0],
       (long long)ins[2], (long long)ins[3]);
}

static void av_run(uint64_t seed, int nops)
{
    static av_t R;
    av_t *r = &R;
    int candles = 0;
    av_setup(r, seed);
    for (int step = 0; step < nops; step++) {
        int mi = (int)av_range(r, 0, RN_MKT - 1), rc[4] = {0, 0, 0, 0};
        int64_t op = av_range(r, 0, 99);
        if (op < 35 && r->npos + 1 < AV_MAXPOS) {
            int32_t side = av_range(r, 0, 1) ? MARGIN_LONG : MARGIN_SHORT;
            int tw = side == MARGIN_LONG ? 2 : 3;
            int64_t qty = av_range(r, 1, 400) * D("0.5"), lev = av_range(r, 2, 50) * D("1");
            int k = r->mixed ? (int)av_range(r, 0, AV_ACC - 1)
                             : (side == MARGIN_LONG ? 0 : 2) + (int)av_range(r, 0, 1);
            uint64_t id[4] = {0, 0, 0, 0};
            for (int w = 0; w < 4; w++)
                if (w < 2 || w == tw)
                    rc[w] = margin_position_open(r->e[w], r->acct[k], r->mkt[mi], side, qty,
                                                 r->mark[mi], lev, 0, 0, &id[w]);
            RQ(rc[0] == rc[1] && rc[0] == rc[tw], "step %d: open statuses %d %d %d", step, rc[0],
               rc[1], rc[tw]);
            if (rc[0] == MARGIN_OK) {
                RQ(id[0] == id[1] && id[0] == r->npos + 1 && id[tw] < AV_MAXPOS,
                   "step %d: ids", step);
                r->npos = id[0];
                r->side[id[0]] = side;
                r->twin_id[id[0]] = id[tw];
                r->main_id[tw - 2][id[tw]] = id[0];
                if (av_range(r, 0, 2) == 0) {
                    int64_t d = r->mark[mi] / 50 * av_range(r, 1, 5) / 10 * 10;
                    int64_t d2 = r->mark[mi] / 50 * av_range(r, 1, 5) / 10 * 10;
                    int64_t st = side == MARGIN_LONG ? r->mark[mi] - d : r->mark[mi] + d;
                    int64_t tp = side == MARGIN_LONG ? r->mark[mi] + d2 : r->mark[mi] - d2;
                    for (int w = 0; w < 4; w++)
                        if (w < 2 || w == tw)
                            rc[w] = margin_position_set_stops(r->e[w], w < 2 ? id[0] : id[tw],
                                                              st, tp > 0 ? tp : 0);
                    RQ(rc[0] == rc[1] && rc[0] == rc[tw], "step %d: stops statuses", step);
                }
            }
            for (int w = 0; w < 4; w++)
                if (w != 1)
                    av_drain(r, w, 0, 0, step);
        } else if (op < 70) { /* an adverse candle around the mark, sometimes gapping */
            int64_t o = r->mark[mi] + r->mark[mi] / 1000 * av_range(r, -8, 8) / D("0.1") * D("0.1");
            int64_t c = o + o / 1000 * av_range(r, -30, 30) / D("0.1") * D("0.1");
            int64_t hi = (o > c ? o : c) + D("0.1") * av_range(r, 0, 3000);
            int64_t lo = (o < c ? o : c) - D("0.1") * av_range(r, 0, 3000);
            int64_t walk[2][4];
            if (lo < D("100"))
                lo = D("100");
            if (o < lo || c < lo)
                continue;
            for (int w = 0; w < 2; w++)
                rc[w] = margin_mark_candle(r->e[w], r->mkt[mi], o, hi, lo, c, MARGIN_PATH_ADVERSE);
            RQ(rc[0] == MARGIN_OK && rc[1] == MARGIN_OK, "step %d: candle statuses %d, %d (%s)",
               step, rc[0], rc[1], margin_errmsg(r->e[0]));
            av_drain(r, 0, 1, 0, step);
            /* the model: longs open, low, high, close; shorts open, high, low, close */
            walk[0][0] = walk[1][0] = o;
            walk[0][1] = walk[1][2] = lo;
            walk[0][2] = walk[1][1] = hi;
            walk[0][3] = walk[1][3] = c;
            for (int tw = 2; tw < 4; tw++) {
                margin_engine *t = r->e[tw];
                for (int k = 0; k < 4; k++) {
                    if (k == 0) /* the open is a jump: stops fill at the mark */
                        RQ_OK(t, margin_market_set(t, r->mkt[mi], MARGIN_MKT_STOP_FILL,
                                                   MARGIN_STOP_FILL_MARK));
                    RQ_OK(t, margin_mark_update(t, r->mkt[mi], walk[tw - 2][k]));
                    if (k == 0)
                        RQ_OK(t, margin_market_set(t, r->mkt[mi], MARGIN_MKT_STOP_FILL,
                                                   r->stop_rule[mi]));
                    av_drain(r, tw, 1, k + 1, step);
                }
            }
            av_compare_events(r, step);
            r->mark[mi] = c;
            candles++;
        } else if (op < 90) {
            int64_t m = r->mark[mi];
            if (op < 80 && r->npos > 0) { /* aim at a position's liquidation price */
                uint64_t pid = (uint64_t)av_range(r, 1, (int64_t)r->npos);
                int64_t lp = rn_pos(r->e[0], pid, MARGIN_POS_LIQ_PRICE);
                if (rn_pos(r->e[0], pid, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN && lp > 0 &&
                    (uint64_t)rn_pos(r->e[0], pid, MARGIN_POS_MARKET) == r->mkt[mi])
                    m = lp / D("0.1") * D("0.1") + D("0.1") * av_range(r, -1, 1);
            } else {
                m += m / 1000 * av_range(r, -30, 30) / D("0.1") * D("0.1");
            }
            if (m < D("100"))
                m = D("100");
            if (m > D("100000"))
                m = D("100000");
            for (int w = 0; w < 4; w++)
                rc[w] = margin_mark_update(r->e[w], r->mkt[mi], m);
            RQ(rc[0] == MARGIN_OK && rc[1] == MARGIN_OK && rc[2] == MARGIN_OK &&
                   rc[3] == MARGIN_OK, "step %d: mark update statuses", step);
            r->mark[mi] = m;
            for (int w = 0; w < 4; w++)
                if (w != 1)
                    av_drain(r, w, 0, 0, step);
        } else if (op < 95) {
            int64_t rate = av_range(r, -300000, 300000);
            for (int w = 0; w < 4; w++)
                rc[w] = margin_funding_apply(r->e[w], r->mkt[mi], rate, r->mark[mi]);
            RQ(rc[0] == MARGIN_OK && rc[1] == MARGIN_OK && rc[2] == MARGIN_OK &&
                   rc[3] == MARGIN_OK, "step %d: funding statuses", step);
            for (int w = 0; w < 4; w++)
                if (w != 1)
                    av_drain(r, w, 0, 0, step);
        } else {
            for (int w = 0; w < 4; w++)
                RQ_OK(r->e[w], margin_engine_set(r->e[w], MARGIN_ENG_TIME, step));
        }
        av_compare(r, step);
    }
    if (getenv("MARGIN_RANDOM_STATS") != NULL)
        fprintf(stderr, "adverse seed %llu: %d candles, %llu positions, %lld liquidations in "
                "candles\n", (unsigned long long)seed, candles, (unsigned long long)r->npos,
                (long long)r->liqs);
    ck_assert(candles > 0 && r->liqs > 0);
    for (int w = 0; w < 4; w++)
        margin_engine_free(r->e[w]);
}

START_TEST(test_random_adverse_twins)
{
    uint64_t seed = 0xad + (uint64_t)_i * 65537;
    const char *env = getenv("MARGIN_RANDOM_SEED");
    if (env != NULL)
        seed += strtoull(env, NULL, 10);
    av_run(seed, 1500);
}
END_TEST

Suite *suite_liquidation(void)
{
    Suite *s = suite_create("liquidation");
    TCase *tc = tcase_create("policies");
    tcase_add_test(tc, test_min_reduce_worked);
    tcase_add_test(tc, test_min_reduce_fee_at_mmr_goes_full);
    tcase_add_test(tc, test_tier_down_worked);
    tcase_add_test(tc, test_tier_down_lowest_tier_full);
    tcase_add_test(tc, test_slices);
    tcase_add_test(tc, test_slices_threshold_and_backstop);
    tcase_add_test(tc, test_short_mirror);
    suite_add_tcase(s, tc);
    tc = tcase_create("fills");
    tcase_add_test(tc, test_fill_mark);
    tcase_add_test(tc, test_fill_liquidation_price);
    tcase_add_test(tc, test_fill_bankruptcy_takeover);
    tcase_add_test(tc, test_clearance_fee_capped);
    tcase_add_test(tc, test_stop_fills);
    tcase_add_test(tc, test_options_round_trip);
    suite_add_tcase(s, tc);
    tc = tcase_create("candles");
    tcase_add_test(tc, test_candle_stop_inside_the_bar);
    tcase_add_test(tc, test_candle_gap_at_open);
    tcase_add_test(tc, test_candle_order);
    tcase_add_test(tc, test_candle_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("cross");
    tcase_add_loop_test(tc, test_cross_min_reduce_worked, 0, 2);
    tcase_add_loop_test(tc, test_cross_fee_capped_full, 0, 2);
    tcase_add_loop_test(tc, test_cross_tier_down_worked, 0, 2);
    tcase_add_loop_test(tc, test_cross_slices, 0, 2);
    tcase_add_loop_test(tc, test_cross_worst_first_partial, 0, 2);
    tcase_add_loop_test(tc, test_cross_stop_fills, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("adverse");
    tcase_add_test(tc, test_adverse_stop_before_take);
    tcase_add_test(tc, test_adverse_liquidation_before_take);
    tcase_add_test(tc, test_adverse_both_sides);
    tcase_add_test(tc, test_adverse_cross_walks_updown);
    tcase_add_test(tc, test_adverse_refused_whole);
    suite_add_tcase(s, tc);
    tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_random_policies, 0, 12);
    tcase_add_loop_test(tc, test_random_candles_are_four_marks, 0, 6);
    tcase_add_loop_test(tc, test_random_adverse_twins, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}
