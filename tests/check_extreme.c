/* Suite "extreme": placeholder, filled in by the commits that follow. */
#include "helpers.h"
#include "suites.h"

START_TEST(test_extreme_placeholder)
{
    ck_assert_int_eq(margin_money_scale(), 8);
}
END_TEST

Suite *suite_extreme(void)
{
    Suite *s = suite_create("extreme");
    TCase *tc = tcase_create("extreme");
    tcase_add_test(tc, test_extreme_placeholder);
    suite_add_tcase(s, tc);
    return s;
}
