/* The generator of tests/data/snapshot-v3.bin: the snapshot of format version 3 that every
 * later version must load (suite snapshot, test_compat_v3 in tests/check_snapshot.c).
 *
 * It must be built against a library that writes format 3, the last of which is commit
 * 38fa0b2; it refuses any other (the header's MARGIN_SNAPSHOT_VERSION, and the version
 * the file gets). Only the public API of that commit, no Check. How the file was made,
 * from the top of the source tree:
 *
 *   git worktree add /tmp/v3src 38fa0b2
 *   (cd /tmp/v3src && ./autogen.sh && mkdir -p build && cd build &&
 *    ../configure -q CFLAGS='-O1 -g' && make -j1 lib/libmargin.la)
 *   cc -std=c11 -I/tmp/v3src/include -I/tmp/v3src/build/include \
 *      tests/data/make-snapshot-v3.c /tmp/v3src/build/lib/.libs/libmargin.a \
 *      -o /tmp/make-snapshot-v3
 *   /tmp/make-snapshot-v3 tests/data/snapshot-v3.bin
 *
 * The scenario is that of tests/data/snapshot-v2.bin (tests/data/make-snapshot-v2.c: the
 * calls of build_compat_scenario() in tests/check_snapshot.c, whose comment works out
 * every figure by hand, and format 2's options on ETHUSDT), the same calls in the same
 * order, with what format 3 added set where it changes none of those figures:
 *  - on ETHUSDT (market 2, its own pool, where nothing is liquidated): ADL on, a pool
 *    floor of 100 and BitMEX's ranking (they act only when the market's pool takes a
 *    deficit);
 *  - after the mark of 18100, margin_market_adl_quantiles() on BTCUSDT (no event): the
 *    longs are P1 alone, at a loss (uPnL 1 * (18100 - 20000) = -1900, Binance's score 0:
 *    quantile 0, not stored); the shorts P2 alone, in profit (uPnL 0.5 * (20000 - 18100)
 *    = 950, W + uPnL = 500 + 950 > 0, MM = 0.5 * 18100 * 0.004 = 36.2 > 0: a score above
 *    0, rank 0 of 1: quantile 4 - floor(5 * 0 / 1) = 4), stored with flag bit 7.
 * BTCUSDT keeps ADL off, so P3's liquidation (a deficit of 170) stays with the pool: the
 * fund -170 is BTCUSDT's pool, ETHUSDT's 0. No insurance deposit (it would add an event).
 * Ten events are taken at the end, as for versions 1 and 2. */
#include <stdio.h>
#include <stdlib.h>

#include "margin.h"

#if MARGIN_SNAPSHOT_VERSION != 3
#error "build against a library that writes snapshot format 3 (commit 38fa0b2)"
#endif

#define E8 100000000LL
#define CALL(x)                                                                            \
    do {                                                                                   \
        int rc_ = (x);                                                                     \
        if (rc_ != MARGIN_OK) {                                                            \
            fprintf(stderr, "make-snapshot-v3: %s: %d (%s)\n", #x, rc_, margin_errmsg(e)); \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    static const int64_t lv[2] = {50000000, 80000000};
    margin_engine *e = NULL;
    uint64_t id;
    int32_t t;
    FILE *f;
    unsigned char head[12];
    if (argc != 2) {
        fprintf(stderr, "usage: make-snapshot-v3 FILE\n");
        return 2;
    }
    if (margin_engine_new(&e) != MARGIN_OK)
        return 1;
    CALL(margin_engine_set_margin_call_levels(e, lv, 2));
    CALL(margin_engine_set(e, MARGIN_ENG_REARM_BAND, 10000000));
    CALL(margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_WORST_FIRST));
    CALL(margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1000));
    CALL(margin_engine_set(e, MARGIN_ENG_TIME, 1000));
    CALL(margin_market_new(e, "BTCUSDT", &id));
    CALL(margin_market_set(e, 1, MARGIN_MKT_MAX_PRICE, 100000 * E8));
    CALL(margin_market_new(e, "ETHUSDT", &id));
    CALL(margin_market_set(e, 2, MARGIN_MKT_PRICE_SCALE, 2));
    CALL(margin_market_set(e, 2, MARGIN_MKT_QTY_SCALE, 3));
    CALL(margin_market_add_tier(e, 2, 0, 500000, 0, MARGIN_DERIVE));
    for (int a = 0; a < 4; a++)
        CALL(margin_account_new(e, &id));
    CALL(margin_account_deposit(e, 1, 10000 * E8));
    CALL(margin_account_deposit(e, 2, 5000 * E8));
    CALL(margin_account_deposit(e, 3, 1000 * E8));
    CALL(margin_account_deposit(e, 4, 200 * E8));
    CALL(margin_account_set_mode(e, 4, 2, MARGIN_MODE_CROSS));
    CALL(margin_position_open(e, 1, 1, MARGIN_LONG, E8, 20000 * E8, 10 * E8, 0, 0, &id));
    CALL(margin_position_set_stops(e, 1, 17000 * E8, 25000 * E8));
    CALL(margin_position_open(e, 2, 1, MARGIN_SHORT, E8 / 2, 20000 * E8, 20 * E8, 0, 0, &id));
    CALL(margin_position_open(e, 3, 1, MARGIN_LONG, E8 / 10, 20000 * E8, 100 * E8, 0, 0, &id));
    /* ETHUSDT: prices at 2 decimals, quantities at 3 */
    CALL(margin_position_open(e, 4, 2, MARGIN_LONG, 1000, 150000, 20 * E8, 0, MARGIN_FLAG_CROSS,
                              &id));
    CALL(margin_position_open(e, 4, 2, MARGIN_SHORT, 500, 150000, 20 * E8, 0, MARGIN_FLAG_CROSS,
                              &id));
    CALL(margin_position_open(e, 2, 1, MARGIN_LONG, E8 / 5, 20000 * E8, 5 * E8, 0, 0, &id));
    CALL(margin_position_close(e, 6, 20500 * E8, 0));
    /* format 2's options, on ETHUSDT */
    CALL(margin_market_set(e, 2, MARGIN_MKT_LIQ_FEE, 200000));
    CALL(margin_market_set(e, 2, MARGIN_MKT_LIQ_FEE_BASIS, MARGIN_LIQ_FEE_BASIS_MARK));
    CALL(margin_market_set(e, 2, MARGIN_MKT_LIQ_FILL, MARGIN_LIQ_FILL_BANKRUPTCY));
    CALL(margin_market_set(e, 2, MARGIN_MKT_STOP_FILL, MARGIN_STOP_FILL_TRIGGER));
    CALL(margin_market_set(e, 2, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_SLICES));
    CALL(margin_market_set(e, 2, MARGIN_MKT_SLICE_THRESHOLD, 50000 * E8));
    CALL(margin_market_set(e, 2, MARGIN_MKT_SLICE_FRACTION, 25000000));
    CALL(margin_market_set(e, 2, MARGIN_MKT_SLICE_COOLDOWN, 30));
    CALL(margin_market_set(e, 2, MARGIN_MKT_SLICE_BACKSTOP, 50000000));
    /* format 3's options, on ETHUSDT */
    CALL(margin_market_set(e, 2, MARGIN_MKT_ADL, MARGIN_ADL_ON));
    CALL(margin_market_set(e, 2, MARGIN_MKT_INSURANCE_FLOOR, 100 * E8));
    CALL(margin_market_set(e, 2, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX));
    CALL(margin_engine_set(e, MARGIN_ENG_TIME, 2000));
    CALL(margin_mark_update(e, 1, 18100 * E8));
    /* format 3's quantiles, on BTCUSDT: P2 4, P1 0 */
    CALL(margin_market_adl_quantiles(e, 1));
    for (int k = 0; k < 10; k++)
        CALL(margin_event_next(e, &t));
    CALL(margin_snapshot_write(e, argv[1]));
    margin_engine_free(e);
    /* the file says version 3 */
    f = fopen(argv[1], "rb");
    if (f == NULL || fread(head, 1, sizeof head, f) != sizeof head) {
        fprintf(stderr, "make-snapshot-v3: cannot read %s back\n", argv[1]);
        return 1;
    }
    fclose(f);
    if (head[8] != 3 || head[9] != 0 || head[10] != 0 || head[11] != 0) {
        fprintf(stderr, "make-snapshot-v3: %s is not format version 3\n", argv[1]);
        return 1;
    }
    return 0;
}
