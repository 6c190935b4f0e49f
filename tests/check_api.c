/* Suite "api": the library side of issue 10 (a new user's first hour): listing positions,
 * reading an event in one call, the margin-call re-arm band, and error messages that
 * quote amounts as decimals. */
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* Three positions of account a in BTC, one of account b in ETH; then one of a's closes and
 * one is liquidated. Listing by account, market and status, in id order. */
START_TEST(test_listing)
{
    margin_engine *e;
    uint64_t btc, eth, a, b, p1, p2, p3, p4, ids[8];
    size_t n = 99;
    make_engine(&e, &btc, &a, D("100000"));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("100000")));
    ck_assert_ok(e, margin_position_open(e, a, btc, MARGIN_LONG, D("1"), D("20000"), D("10"), 0,
                                         0, &p1));
    ck_assert_ok(e, margin_position_open(e, b, eth, MARGIN_SHORT, D("1"), D("1500"), D("5"), 0,
                                         0, &p2));
    ck_assert_ok(e, margin_position_open(e, a, btc, MARGIN_SHORT, D("1"), D("20000"), D("50"), 0,
                                         0, &p3));
    ck_assert_ok(e, margin_position_open(e, a, btc, MARGIN_LONG, D("2"), D("20000"), D("2"), 0,
                                         0, &p4));

    ck_assert_ok(e, margin_account_positions(e, a, MARGIN_STATUS_OPEN, ids, 8, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(ids[0], p1);
    ck_assert_uint_eq(ids[1], p3);
    ck_assert_uint_eq(ids[2], p4);
    /* counting, and a buffer one short: EBUFFER with the count, nothing copied */
    ck_assert_ok(e, margin_account_positions(e, a, MARGIN_STATUS_OPEN, NULL, 0, &n));
    ck_assert_uint_eq(n, 3);
    ids[2] = ids[3] = 777;
    ck_assert_rc(e, margin_account_positions(e, a, MARGIN_STATUS_OPEN, ids, 2, &n),
                 MARGIN_EBUFFER);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(ids[2], 777); /* never past cap */
    ck_assert_rc(e, margin_positions(e, MARGIN_STATUS_OPEN, ids, 3, &n), MARGIN_EBUFFER);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(ids[3], 777);
    ck_assert_ok(e, margin_market_positions(e, eth, MARGIN_STATUS_ANY, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ids[0], p2);
    ck_assert_ok(e, margin_positions(e, MARGIN_STATUS_OPEN, ids, 8, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(ids[0], p1);
    ck_assert_uint_eq(ids[1], p2);
    ck_assert_uint_eq(ids[2], p3);
    ck_assert_uint_eq(ids[3], p4);

    /* close p1; the 50x short p3 is liquidated at 20,500 (its liquidation price is
     * (M + Q*E)/(Q*(1 + mmr)) = 20,400/1.004 = 20,318.72...) */
    ck_assert_ok(e, margin_position_close(e, p1, D("20000"), 0));
    ck_assert_ok(e, margin_mark_update(e, btc, D("20500")));
    ck_assert_int_eq(pos_get(e, p3, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_ok(e, margin_account_positions(e, a, MARGIN_STATUS_OPEN, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ids[0], p4);
    ck_assert_ok(e, margin_account_positions(e, a, MARGIN_STATUS_CLOSED, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ids[0], p1);
    ck_assert_ok(e, margin_market_positions(e, btc, MARGIN_STATUS_LIQUIDATED, ids, 8, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ids[0], p3);
    ck_assert_ok(e, margin_positions(e, MARGIN_STATUS_ANY, ids, 8, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_ok(e, margin_positions(e, MARGIN_STATUS_OPEN, ids, 8, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ids[0], p2);
    ck_assert_uint_eq(ids[1], p4);

    /* bad input */
    ck_assert_rc(e, margin_account_positions(e, 0, MARGIN_STATUS_OPEN, ids, 8, &n),
                 MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_account_positions(e, 9, MARGIN_STATUS_OPEN, ids, 8, &n),
                 MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_positions(e, 9, MARGIN_STATUS_OPEN, ids, 8, &n),
                 MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_positions(e, MARGIN_STATUS_DELEVERAGED + 1, ids, 8, &n), MARGIN_EINVAL);
    ck_assert_ok(e, margin_positions(e, MARGIN_STATUS_DELEVERAGED, ids, 8, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_rc(e, margin_positions(e, MARGIN_STATUS_OPEN, NULL, 8, &n), MARGIN_EINVAL);
    ck_assert_rc(e, margin_positions(e, MARGIN_STATUS_ANY, ids, 8, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_positions(NULL, MARGIN_STATUS_OPEN, ids, 8, &n), MARGIN_EINVAL);
    margin_engine_free(e);
}
END_TEST

/* One call reads every field, with the same values as the field-by-field reads, and an
 * array of any size works. */
START_TEST(test_event_fields)
{
    margin_engine *e;
    uint64_t m, a, p;
    int64_t f[40], g, small[3];
    int32_t type;
    int k;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_rc(e, margin_event_fields(e, f, 40), MARGIN_ESTATE);
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"), D("20"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_event_next(e, &type)); /* the deposit */
    ck_assert_ok(e, margin_event_next(e, &type));
    ck_assert_int_eq(type, MARGIN_EV_OPEN);
    for (k = 0; k < 40; k++)
        f[k] = -7;
    ck_assert_ok(e, margin_event_fields(e, f, 40));
    ck_assert_int_eq(f[0], MARGIN_EVF_ADL_COVERED); /* fields 1..27 */
    for (k = 1; k <= MARGIN_EVF_ADL_COVERED; k++) {
        ck_assert_ok(e, margin_event_get(e, k, &g));
        ck_assert_int_eq(f[k], g);
    }
    for (k = MARGIN_EVF_ADL_COVERED + 1; k < 40; k++)
        ck_assert_int_eq(f[k], 0);
    /* margin 2,000/20 = 100, fee 2,000*0.0004 = 0.8 */
    ck_assert_int_eq(f[MARGIN_EVF_MARGIN], D("100"));
    ck_assert_int_eq(f[MARGIN_EVF_FEE], D("0.8"));
    ck_assert_int_eq(f[MARGIN_EVF_POSITION], (int64_t)p);
    small[2] = 55;
    ck_assert_ok(e, margin_event_fields(e, small, 2));
    ck_assert_int_eq(small[0], MARGIN_EVF_ADL_COVERED);
    ck_assert_int_eq(small[1], 2); /* MARGIN_EVF_SEQ */
    ck_assert_int_eq(small[2], 55);
    ck_assert_ok(e, margin_event_fields(e, NULL, 0));
    ck_assert_rc(e, margin_event_fields(e, NULL, 1), MARGIN_EINVAL);
    ck_assert_int_eq(margin_event_fields(NULL, f, 40), MARGIN_EINVAL);
    margin_engine_free(e);
}
END_TEST

/* Messages quote amounts as decimals a person reads, never raw fixed-point units. */
START_TEST(test_messages_are_decimal)
{
    margin_engine *e;
    uint64_t m, a, p;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_rc(e, margin_account_withdraw(e, a, D("1000.5")), MARGIN_EFUNDS);
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "1000.5"));
    ck_assert_ptr_null(strstr(margin_errmsg(e), "100050000000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"), D("20"), 0,
                                         0, &p));
    /* removable at the entry: min(M - MM, M + 0 - IM) = min(100 - 8, 0) = 0 */
    ck_assert_rc(e, margin_position_remove_margin(e, p, D("1")), MARGIN_EMARGIN);
    ck_assert_str_eq(margin_errmsg(e), "at most 0 of margin is removable, not 1");
    ck_assert_rc(e, margin_mark_update(e, m, D("20000000")), MARGIN_ERANGE);
    ck_assert_str_eq(margin_errmsg(e),
                     "mark 20000000 is above the market's maximum price 10000000");
    margin_engine_free(e);
}
END_TEST


static int margin_calls(margin_engine *e)
{
    int32_t type;
    int n = 0;
    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE)
        n += type == MARGIN_EV_MARGIN_CALL;
    return n;
}

/* The re-arm band. Long 1 at 100, 10x (M = 10), one level 0.8, band 0.3: a level L is
 * crossed at P = L*(M - Q*E) / (Q*(mmr - L)) (long, mark basis, one tier):
 *   L = 0.8: -72/-0.796 = 90.45226130653..., rounded up 90.45226131 (fires at <=);
 *   L = 0.5: -45/-0.496 = 90.72580645161..., rounded up 90.72580646 (re-arms above it);
 *   L = 1 (liquidation): -90/-0.996 = 90.36144578..., 90.36144579.
 * Without a band the level re-arms above 90.45226131, so a mark wiggling between 90.45 and
 * 90.6 calls again and again; with it, only after the mark has passed 90.72580646. */
START_TEST(test_rearm_band)
{
    static const char *const marks[] = {"90.45226131", "90.6", "90.45", "90.72580646",
                                        "90.72580647", "90.45226131"};
    static const int calls_band[] = {1, 0, 0, 0, 0, 1};
    static const int calls_none[] = {1, 0, 1, 0, 0, 1};
    int full, band;
    for (full = 0; full <= 1; full++)
        for (band = 0; band <= 1; band++) {
            margin_engine *e;
            uint64_t m, a, p;
            int64_t v;
            size_t i;
            make_engine(&e, &m, &a, D("1000"));
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full));
            if (band)
                ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.3")));
            ck_assert_ok(e, margin_engine_get(e, MARGIN_ENG_REARM_BAND, &v));
            ck_assert_int_eq(v, band ? D("0.3") : 0);
            ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("100"), D("10"),
                                                 0, 0, &p));
            ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("90.45226131"));
            ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("90.36144579"));
            (void)margin_calls(e);
            for (i = 0; i < sizeof marks / sizeof marks[0]; i++) {
                ck_assert_ok(e, margin_mark_update(e, m, D(marks[i])));
                ck_assert_msg(margin_calls(e) == (band ? calls_band[i] : calls_none[i]),
                              "full scan %d, band %d, mark %s", full, band, marks[i]);
            }
            ck_assert_rc(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("1")), MARGIN_EINVAL);
            ck_assert_rc(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, -1), MARGIN_EINVAL);
            margin_engine_free(e);
        }
}
END_TEST

/* A band at or above the level: a fired level never re-arms (until the levels are set). */
START_TEST(test_rearm_band_never)
{
    int full;
    for (full = 0; full <= 1; full++) {
        margin_engine *e;
        uint64_t m, a, p;
        make_engine(&e, &m, &a, D("1000"));
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full));
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.8")));
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("100"), D("10"),
                                             0, 0, &p));
        /* short: L*(M + Q*E)/(Q*(mmr + L)) = 0.8*110/0.804 = 109.45273631..., down */
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("109.45273631"));
        (void)margin_calls(e);
        ck_assert_ok(e, margin_mark_update(e, m, D("109.45273631")));
        ck_assert_int_eq(margin_calls(e), 1);
        ck_assert_ok(e, margin_mark_update(e, m, D("1")));
        ck_assert_ok(e, margin_mark_update(e, m, D("109.5")));
        ck_assert_int_eq(margin_calls(e), 0);
        /* setting the levels re-arms everything */
        {
            int64_t l = D("0.8");
            ck_assert_ok(e, margin_engine_set_margin_call_levels(e, &l, 1));
        }
        ck_assert_ok(e, margin_mark_update(e, m, D("109.5"))); /* liquidation: 110/1.004 */
        ck_assert_int_eq(margin_calls(e), 1);
        margin_engine_free(e);
    }
}
END_TEST

Suite *suite_api(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("issue10");
    tcase_add_test(tc, test_listing);
    tcase_add_test(tc, test_event_fields);
    tcase_add_test(tc, test_messages_are_decimal);
    tcase_add_test(tc, test_rearm_band);
    tcase_add_test(tc, test_rearm_band_never);
    suite_add_tcase(s, tc);
    return s;
}
