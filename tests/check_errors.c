/* Suite "errors": status codes, margin_strerror(), and the engine's error state
 * (margin_errmsg(), margin_errcode()), plus engine creation and destruction. */
#include <limits.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* Every status code the header defines, in order. */
static const int all_codes[] = {
    MARGIN_OK,        MARGIN_EINVAL,   MARGIN_ENOMEM,   MARGIN_EOVERFLOW, MARGIN_EPARSE,
    MARGIN_ERANGE,    MARGIN_ENOTFOUND, MARGIN_ECLOSED, MARGIN_EFUNDS,    MARGIN_ELEVERAGE,
    MARGIN_EGRID,     MARGIN_ESTATE,   MARGIN_EMARGIN,  MARGIN_EBUFFER,   MARGIN_EEXIST,
    MARGIN_ENOTSUP,   MARGIN_EFULL,    MARGIN_EMAGIC,   MARGIN_EVERSION,  MARGIN_ECHECKSUM,
    MARGIN_ETRUNCATED, MARGIN_ECORRUPT, MARGIN_EIO,   MARGIN_EASSET,
};
#define N_CODES ((int)(sizeof all_codes / sizeof all_codes[0]))

/* Values that are not status codes. */
static const int unknown_codes[] = {1, 2, 100, -24, -25, -100, -1000, INT_MAX, INT_MIN};
#define N_UNKNOWN ((int)(sizeof unknown_codes / sizeof unknown_codes[0]))

/* ------------------------------------------------------------------ core */

START_TEST(test_code_values_fixed)
{
    /* The values are part of the ABI and fixed forever (margin.h). */
    ck_assert_int_eq(MARGIN_OK, 0);
    ck_assert_int_eq(MARGIN_EINVAL, -1);
    ck_assert_int_eq(MARGIN_ENOMEM, -2);
    ck_assert_int_eq(MARGIN_EOVERFLOW, -3);
    ck_assert_int_eq(MARGIN_EPARSE, -4);
    ck_assert_int_eq(MARGIN_ERANGE, -5);
    ck_assert_int_eq(MARGIN_ENOTFOUND, -6);
    ck_assert_int_eq(MARGIN_ECLOSED, -7);
    ck_assert_int_eq(MARGIN_EFUNDS, -8);
    ck_assert_int_eq(MARGIN_ELEVERAGE, -9);
    ck_assert_int_eq(MARGIN_EGRID, -10);
    ck_assert_int_eq(MARGIN_ESTATE, -11);
    ck_assert_int_eq(MARGIN_EMARGIN, -12);
    ck_assert_int_eq(MARGIN_EBUFFER, -13);
    ck_assert_int_eq(MARGIN_EEXIST, -14);
    ck_assert_int_eq(MARGIN_ENOTSUP, -15);
    ck_assert_int_eq(MARGIN_EFULL, -16);
    ck_assert_int_eq(MARGIN_EMAGIC, -17);
    ck_assert_int_eq(MARGIN_EVERSION, -18);
    ck_assert_int_eq(MARGIN_ECHECKSUM, -19);
    ck_assert_int_eq(MARGIN_ETRUNCATED, -20);
    ck_assert_int_eq(MARGIN_ECORRUPT, -21);
    ck_assert_int_eq(MARGIN_EIO, -22);
    ck_assert_int_eq(MARGIN_EASSET, -23);
}
END_TEST

START_TEST(test_strerror_every_code)
{
    /* Every known code has its own non-empty static text. */
    int i, j;
    for (i = 0; i < N_CODES; i++) {
        const char *t = margin_strerror(all_codes[i]);
        ck_assert_msg(t != NULL, "margin_strerror(%d) is NULL", all_codes[i]);
        ck_assert_msg(t[0] != '\0', "margin_strerror(%d) is empty", all_codes[i]);
        ck_assert_ptr_eq(t, margin_strerror(all_codes[i])); /* static, stable */
        for (j = 0; j < i; j++)
            ck_assert_msg(strcmp(t, margin_strerror(all_codes[j])) != 0,
                          "codes %d and %d share the text '%s'", all_codes[i], all_codes[j], t);
    }
}
END_TEST

START_TEST(test_strerror_unknown)
{
    /* Unknown codes get one generic text, never NULL, never a known code's text. */
    const char *generic = margin_strerror(unknown_codes[0]);
    int i, j;
    ck_assert_ptr_nonnull(generic);
    ck_assert_int_gt((int)strlen(generic), 0);
    for (i = 0; i < N_UNKNOWN; i++) {
        const char *t = margin_strerror(unknown_codes[i]);
        ck_assert_msg(t != NULL, "margin_strerror(%d) is NULL", unknown_codes[i]);
        ck_assert_str_eq(t, generic);
    }
    for (j = 0; j < N_CODES; j++)
        ck_assert_str_ne(generic, margin_strerror(all_codes[j]));
}
END_TEST

START_TEST(test_engine_new_free)
{
    margin_engine *e = NULL;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ptr_nonnull(e);
    /* A fresh engine has no error yet. */
    ck_assert_int_eq(margin_errcode(e), MARGIN_OK);
    ck_assert_ptr_nonnull(margin_errmsg(e));
    ck_assert_str_eq(margin_errmsg(e), "");
    margin_engine_free(e);
}
END_TEST

START_TEST(test_engines_independent)
{
    /* An error on one engine does not show on another. */
    margin_engine *a = NULL, *b = NULL;
    ck_assert_int_eq(margin_engine_new(&a), MARGIN_OK);
    ck_assert_int_eq(margin_engine_new(&b), MARGIN_OK);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(margin_engine_set(a, 9999, 0), MARGIN_EINVAL);
    ck_assert_int_eq(margin_errcode(a), MARGIN_EINVAL);
    ck_assert_int_eq(margin_errcode(b), MARGIN_OK);
    ck_assert_str_eq(margin_errmsg(b), "");
    margin_engine_free(a);
    margin_engine_free(b);
}
END_TEST

/* ---------------------------------------------------------------- limits */

START_TEST(test_null_engine)
{
    const char *m = margin_errmsg(NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_msg(m[0] != '\0', "margin_errmsg(NULL) should be a fixed, non-empty text");
    ck_assert_int_eq(margin_errcode(NULL), MARGIN_EINVAL);
    margin_engine_free(NULL); /* must be a no-op */
    ck_assert_int_eq(margin_engine_new(NULL), MARGIN_EINVAL);
}
END_TEST

/* ---------------------------------------------------------------- errors */

static margin_engine *eng;

static void setup_engine(void)
{
    ck_assert_int_eq(margin_engine_new(&eng), MARGIN_OK);
}

static void teardown_engine(void)
{
    margin_engine_free(eng);
    eng = NULL;
}

START_TEST(test_bad_key_sets_error)
{
    int64_t v = 12345;
    ck_assert_rc(eng, margin_engine_set(eng, 9999, 0), MARGIN_EINVAL);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EINVAL);
    ck_assert_ptr_nonnull(margin_errmsg(eng));
    ck_assert_msg(margin_errmsg(eng)[0] != '\0', "no message after a failed call");

    /* A failed getter does not write its out-parameter. */
    ck_assert_rc(eng, margin_engine_get(eng, 9999, &v), MARGIN_EINVAL);
    ck_assert_int_eq(v, 12345);
}
END_TEST

START_TEST(test_read_only_key)
{
    /* The insurance fund is read-only: setting it fails and leaves it unchanged (0). */
    ck_assert_rc(eng, margin_engine_set(eng, MARGIN_ENG_INSURANCE_FUND, 100), MARGIN_EINVAL);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EINVAL);
    ck_assert_int_eq(eng_get(eng, MARGIN_ENG_INSURANCE_FUND), 0);
}
END_TEST

START_TEST(test_not_found_sets_error)
{
    int64_t v = 777;
    ck_assert_rc(eng, margin_account_deposit(eng, 42, 100000000), MARGIN_ENOTFOUND);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_ENOTFOUND);
    ck_assert_msg(margin_errmsg(eng)[0] != '\0', "no message after a failed call");
    ck_assert_rc(eng, margin_account_get(eng, 0, MARGIN_ACCT_FREE_BALANCE, &v),
                 MARGIN_ENOTFOUND);
    ck_assert_int_eq(v, 777);
}
END_TEST

START_TEST(test_funds_sets_error)
{
    uint64_t acct = 0;
    ck_assert_ok(eng, margin_account_new(eng, &acct));
    ck_assert_ok(eng, margin_account_deposit(eng, acct, D("10")));
    ck_assert_rc(eng, margin_account_withdraw(eng, acct, D("10.00000001")), MARGIN_EFUNDS);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EFUNDS);
    /* The failed withdrawal changed nothing. */
    ck_assert_int_eq(acct_get(eng, acct, MARGIN_ACCT_FREE_BALANCE), D("10"));
    ck_assert_int_eq(acct_get(eng, acct, MARGIN_ACCT_WITHDRAWALS), 0);
}
END_TEST

START_TEST(test_duplicate_symbol)
{
    uint64_t a = 0, b = 999;
    ck_assert_ok(eng, margin_market_new(eng, "BTCUSDT", &a));
    ck_assert_rc(eng, margin_market_new(eng, "BTCUSDT", &b), MARGIN_EEXIST);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EEXIST);
    ck_assert(b == 999); /* out-param untouched */
    ck_assert_rc(eng, margin_market_new(eng, "", &b), MARGIN_EINVAL);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EINVAL);
}
END_TEST

START_TEST(test_error_persists_after_success)
{
    /* margin_errcode() reports the last *failed* call: a later success keeps it. */
    uint64_t acct = 0;
    ck_assert_rc(eng, margin_engine_set(eng, 9999, 0), MARGIN_EINVAL);
    ck_assert_ok(eng, margin_account_new(eng, &acct));
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EINVAL);
    /* and a new failure replaces it */
    ck_assert_rc(eng, margin_account_withdraw(eng, acct, 1), MARGIN_EFUNDS);
    ck_assert_int_eq(margin_errcode(eng), MARGIN_EFUNDS);
}
END_TEST

START_TEST(test_null_arguments)
{
    ck_assert_int_eq(margin_engine_set(NULL, MARGIN_ENG_TIME, 1), MARGIN_EINVAL);
    ck_assert_int_eq(margin_engine_get(eng, MARGIN_ENG_TIME, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_account_new(eng, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_account_new(NULL, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_new(eng, NULL, NULL), MARGIN_EINVAL);
}
END_TEST

Suite *suite_errors(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_code_values_fixed);
    tcase_add_test(tc, test_strerror_every_code);
    tcase_add_test(tc, test_strerror_unknown);
    tcase_add_test(tc, test_engine_new_free);
    tcase_add_test(tc, test_engines_independent);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_null_engine);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup_engine, teardown_engine);
    tcase_add_test(tc, test_bad_key_sets_error);
    tcase_add_test(tc, test_read_only_key);
    tcase_add_test(tc, test_not_found_sets_error);
    tcase_add_test(tc, test_funds_sets_error);
    tcase_add_test(tc, test_duplicate_symbol);
    tcase_add_test(tc, test_error_persists_after_success);
    tcase_add_test(tc, test_null_arguments);
    suite_add_tcase(s, tc);
    return s;
}
