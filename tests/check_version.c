/* Suite "version": the compile-time macros of margin_version.h agree with the library
 * loaded at run time, and with each other. */
#include <stdio.h>
#include <string.h>

#include "margin.h"
#include "suites.h"

/* ------------------------------------------------------------------ core */

START_TEST(test_number_matches_macro)
{
    ck_assert_int_eq(margin_version_number(), MARGIN_VERSION_NUMBER);
}
END_TEST

START_TEST(test_string_matches_macro)
{
    const char *s = margin_version_string();
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, MARGIN_VERSION_STRING);
}
END_TEST

START_TEST(test_number_formula)
{
    /* The number is major*10000 + minor*100 + patch, by definition of the header. */
    ck_assert_int_eq(MARGIN_VERSION_NUMBER,
                     MARGIN_VERSION_MAJOR * 10000 + MARGIN_VERSION_MINOR * 100 +
                         MARGIN_VERSION_PATCH);
    ck_assert_int_eq(margin_version_number(),
                     MARGIN_VERSION_MAJOR * 10000 + MARGIN_VERSION_MINOR * 100 +
                         MARGIN_VERSION_PATCH);
}
END_TEST

START_TEST(test_string_is_major_minor_patch)
{
    /* The string is exactly "major.minor.patch" built from the three macros. */
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", MARGIN_VERSION_MAJOR, MARGIN_VERSION_MINOR,
             MARGIN_VERSION_PATCH);
    ck_assert_str_eq(margin_version_string(), want);
}
END_TEST

START_TEST(test_string_is_static)
{
    /* Two calls return the same static string. */
    ck_assert_ptr_eq(margin_version_string(), margin_version_string());
}
END_TEST

/* ---------------------------------------------------------------- limits */

START_TEST(test_component_ranges)
{
    /* Minor and patch must stay below 100 or the number would be ambiguous. */
    ck_assert_int_ge(MARGIN_VERSION_MAJOR, 0);
    ck_assert_int_ge(MARGIN_VERSION_MINOR, 0);
    ck_assert_int_lt(MARGIN_VERSION_MINOR, 100);
    ck_assert_int_ge(MARGIN_VERSION_PATCH, 0);
    ck_assert_int_lt(MARGIN_VERSION_PATCH, 100);
    ck_assert_int_gt(margin_version_number(), 0);
}
END_TEST

START_TEST(test_scale_functions)
{
    /* The constants-as-functions agree with the macros (and with the documented 8). */
    ck_assert_int_eq(margin_money_scale(), MARGIN_MONEY_SCALE);
    ck_assert_int_eq(margin_rate_scale(), MARGIN_RATE_SCALE);
    ck_assert_int_eq(margin_money_scale(), 8);
    ck_assert_int_eq(margin_rate_scale(), 8);
}
END_TEST

Suite *suite_version(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_number_matches_macro);
    tcase_add_test(tc, test_string_matches_macro);
    tcase_add_test(tc, test_number_formula);
    tcase_add_test(tc, test_string_is_major_minor_patch);
    tcase_add_test(tc, test_string_is_static);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_component_ranges);
    tcase_add_test(tc, test_scale_functions);
    suite_add_tcase(s, tc);
    return s;
}
