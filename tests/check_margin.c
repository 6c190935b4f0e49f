/* The unit-test runner: every suite, one SRunner. CK_FORK, CK_VERBOSITY and CK_RUN_SUITE /
 * CK_RUN_CASE work from the environment. */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    SRunner *sr = srunner_create(suite_version());
    int failed;

    srunner_add_suite(sr, suite_errors());
    srunner_add_suite(sr, suite_dec());
    srunner_add_suite(sr, suite_wide());
    srunner_add_suite(sr, suite_market());
    srunner_add_suite(sr, suite_position());
    srunner_add_suite(sr, suite_vectors());
    srunner_add_suite(sr, suite_triggers());
    srunner_add_suite(sr, suite_random());
    srunner_add_suite(sr, suite_regress());
    srunner_add_suite(sr, suite_api());
    srunner_add_suite(sr, suite_boundaries());
    srunner_add_suite(sr, suite_extreme());
    srunner_add_suite(sr, suite_cross());
    srunner_add_suite(sr, suite_cross_random());
    srunner_add_suite(sr, suite_snapshot());
    srunner_add_suite(sr, suite_alloc());
    srunner_add_suite(sr, suite_liquidation());
    srunner_add_suite(sr, suite_adl());
    srunner_add_suite(sr, suite_inverse());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
