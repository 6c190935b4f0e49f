/* One Check suite per area, each in its own file; tests/check_margin.c runs them all. */
#ifndef MARGIN_TESTS_SUITES_H
#define MARGIN_TESTS_SUITES_H

#include <check.h>

Suite *suite_version(void);  /* tests/check_version.c */
Suite *suite_errors(void);   /* tests/check_errors.c */
Suite *suite_dec(void);      /* tests/check_dec.c */
Suite *suite_market(void);   /* tests/check_market.c */
Suite *suite_position(void); /* tests/check_position.c */
Suite *suite_vectors(void);  /* tests/check_vectors.c */
Suite *suite_triggers(void); /* tests/check_triggers.c */
Suite *suite_random(void);   /* tests/check_random.c */
Suite *suite_regress(void);  /* tests/check_regress.c: issue 9 regressions */
Suite *suite_boundaries(void); /* tests/check_boundaries.c: exact boundaries, mutation killers */
Suite *suite_api(void);      /* tests/check_api.c: issue 10 library items */
Suite *suite_extreme(void);  /* tests/check_extreme.c: randomized extremes and atomicity */
Suite *suite_cross(void);    /* tests/check_cross.c: cross margin, cases worked by hand */
Suite *suite_cross_random(void); /* tests/check_cross_random.c: cross margin, randomized */
Suite *suite_snapshot(void);  /* tests/check_snapshot.c: snapshots, the state hash, files */
Suite *suite_alloc(void);     /* tests/check_alloc.c: allocation failures, the event cap */
Suite *suite_liquidation(void); /* tests/check_liquidation.c: fills, clearance fee, partial */
Suite *suite_adl(void);         /* tests/check_adl.c: insurance pools, auto-deleveraging */
Suite *suite_wide(void);        /* tests/check_wide.c: 384-bit intermediates */
Suite *suite_inverse(void);     /* tests/check_inverse.c: inverse (coin-margined) contracts */

#endif
