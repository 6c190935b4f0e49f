#include <check.h>
#include <stdlib.h>
#include "margin.h"
START_TEST(t_v) { ck_assert_int_eq(margin_version_number(), MARGIN_VERSION_NUMBER); } END_TEST
int main(void) { Suite *s = suite_create("margin"); TCase *tc = tcase_create("core"); tcase_add_test(tc, t_v); suite_add_tcase(s, tc); SRunner *sr = srunner_create(s); srunner_run_all(sr, CK_ENV); int nf = srunner_ntests_failed(sr); srunner_free(sr); return nf ? EXIT_FAILURE : EXIT_SUCCESS; }
