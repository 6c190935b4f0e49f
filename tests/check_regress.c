/* Suite "regress": placeholder, filled in by the commits that follow. */
#include "helpers.h"
#include "suites.h"

START_TEST(test_regress_placeholder)
{
    ck_assert_int_eq(margin_money_scale(), 8);
}
END_TEST

Suite *suite_regress(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("regress");
    tcase_add_test(tc, test_regress_placeholder);
    suite_add_tcase(s, tc);
    return s;
}
