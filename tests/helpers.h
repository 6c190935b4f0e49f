/* Shared helpers for the Check suites. */
#ifndef MARGIN_TESTS_HELPERS_H
#define MARGIN_TESTS_HELPERS_H

#include <check.h>
#include <stdint.h>

#include "margin.h"

/* Parse a decimal string at scale 8 (money, rates, and the default price/qty scale);
 * fails the test on a bad string. Example: D("20000.5"), D("0.004"). */
int64_t D(const char *s);

/* Parse at an explicit scale. */
int64_t DS(const char *s, int32_t scale);

/* Assert a status code, printing the engine's message on failure. */
#define ck_assert_rc(e, call, want)                                                         \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        ck_assert_msg(rc_ == (want), "%s returned %d (%s), want %d; errmsg: %s", #call, rc_, \
                      margin_strerror(rc_), (int)(want), margin_errmsg(e));                 \
    } while (0)
#define ck_assert_ok(e, call) ck_assert_rc(e, call, MARGIN_OK)

/* For the randomized suites' hot paths: call into Check only on failure (a passing
 * ck_assert costs a message to the runner in fork mode, seconds over millions of checks).
 * REQ_OK's message starts with the suite's CTX format and CTXA arguments (a seed, a step),
 * which the including file defines before using it. */
#define REQ(cond, ...)                                                                      \
    do {                                                                                    \
        if (!(cond))                                                                        \
            ck_abort_msg(__VA_ARGS__);                                                      \
    } while (0)
#define REQ_OK(e, call)                                                                     \
    do {                                                                                    \
        int rq_ = (call);                                                                   \
        if (rq_ != MARGIN_OK)                                                               \
            ck_abort_msg(CTX "%s returned %d (%s): %s", CTXA, #call, rq_,                   \
                         margin_strerror(rq_), margin_errmsg(e));                           \
    } while (0)

/* splitmix64: the next number of the sequence whose state is *state (seeded runs). */
uint64_t splitmix64(uint64_t *state);

/* Read one account / position / engine figure, failing the test on error. */
int64_t acct_get(const margin_engine *e, uint64_t acct, int32_t key);
int64_t pos_get(const margin_engine *e, uint64_t pos, int32_t key);
int64_t pos_at(const margin_engine *e, uint64_t pos, int32_t key, int64_t mark);
int64_t eng_get(const margin_engine *e, int32_t key);

/* Money conservation for one account:
 *   free balance + isolated margins
 *     == deposits - withdrawals + realized PnL - fees + funding
 * Fails the test (with the numbers) if it does not hold. */
void assert_conserved(const margin_engine *e, uint64_t acct);
/* The insurance pools sum to the engine's fund (called by assert_conserved). */
void assert_pools(const margin_engine *e);

/* A fresh engine with market "BTCUSDT" (defaults: scales 8, mmr 0.004, taker 0.0004,
 * maker 0.0002, max leverage 125x) and one account holding `deposit` (money units). */
void make_engine(margin_engine **e, uint64_t *mkt, uint64_t *acct, int64_t deposit);

#endif
