/* Suite "boundaries": placeholder, filled in by the commits that follow. */
#include "helpers.h"
#include "suites.h"

START_TEST(test_boundaries_placeholder)
{
    ck_assert_int_eq(margin_money_scale(), 8);
}
END_TEST

Suite *suite_boundaries(void)
{
    Suite *s = suite_create("boundaries");
    TCase *tc = tcase_create("boundaries");
    tcase_add_test(tc, test_boundaries_placeholder);
    suite_add_tcase(s, tc);
    return s;
}
