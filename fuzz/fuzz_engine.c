/* libFuzzer harness: random operation sequences on two engines, one using the trigger
 * indexes and one the full scan. It traps (so the fuzzer reports a crash) when the two
 * disagree on a status code or an event, or when an account's books stop balancing:
 *   free + isolated == deposits - withdrawals + realized - fees + funding.
 * Sanitizers catch memory errors and integer overflow (UBSan) on the way.
 *
 * Build and run (see fuzz/README.md):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Ilib \
 *         fuzz/fuzz_engine.c lib/(all .c files) -o fuzz_engine
 *   ./fuzz_engine -max_total_time=300
 * Add -DFUZZ_DEBUG to print each operation and the first difference (to replay a crash).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "margin.h"

#ifdef FUZZ_DEBUG
#include <stdio.h>
#define DBG(...) fprintf(stderr, __VA_ARGS__)
#else
#define DBG(...) ((void)0)
#endif

#define ONE 100000000LL
#define NACCT 3

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    while (bytes-- > 0) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static void conserved(const margin_engine *e, uint64_t a)
{
    int64_t v[9];
    int32_t k;
    for (k = 1; k <= 8; k++)
        if (k != MARGIN_ACCT_EQUITY)
            check(margin_account_get(e, a, k, &v[k]) == MARGIN_OK);
    check(v[MARGIN_ACCT_FREE_BALANCE] >= 0);
    check(v[MARGIN_ACCT_ISOLATED_MARGIN] >= 0);
    check((__int128)v[MARGIN_ACCT_FREE_BALANCE] + v[MARGIN_ACCT_ISOLATED_MARGIN] ==
          (__int128)v[MARGIN_ACCT_DEPOSITS] - v[MARGIN_ACCT_WITHDRAWALS] +
              v[MARGIN_ACCT_REALIZED_PNL] - v[MARGIN_ACCT_FEES] + v[MARGIN_ACCT_FUNDING]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    margin_engine *e[2];
    uint64_t mkt[2], acct[2][NACCT];
    int64_t mark, pone, qone;
    int32_t pscale, qscale;
    input in;
    int k, i;

    in.p = data;
    in.n = size;
    /* coarse scales make rounding to whole units matter: price scale 8 or 2, qty 8 or 3 */
    {
        uint64_t sc = take(&in, 1);
        pscale = (sc & 1) ? 2 : 8;
        qscale = (sc & 2) ? 3 : 8;
        pone = pscale == 2 ? 100 : ONE;
        qone = qscale == 3 ? 1000 : ONE;
    }
    mark = 20000 * pone;
    for (k = 0; k < 2; k++) {
        check(margin_engine_new(&e[k]) == MARGIN_OK);
        check(margin_engine_set(e[k], MARGIN_ENG_FULL_SCAN, k) == MARGIN_OK);
        check(margin_market_new(e[k], "BTCUSDT", &mkt[k]) == MARGIN_OK);
        check(margin_market_set(e[k], mkt[k], MARGIN_MKT_PRICE_SCALE, pscale) == MARGIN_OK);
        check(margin_market_set(e[k], mkt[k], MARGIN_MKT_QTY_SCALE, qscale) == MARGIN_OK);
    }
    /* market setup from the first bytes: basis, fee to close, tiers, levels */
    {
        int basis = (int)(take(&in, 1) & 1);
        int64_t close_fee = (int64_t)(take(&in, 1) % 10) * 10000; /* 0 .. 0.0009 */
        int tiers = (int)(take(&in, 1) % 4);
        int64_t levels[3];
        size_t nlev = (size_t)(take(&in, 1) % 4);
        for (i = 0; i < (int)nlev; i++)
            levels[i] = (int64_t)(1 + take(&in, 1) % 99) * ONE / 100;
        for (k = 0; k < 2; k++) {
            int rc = margin_market_set(e[k], mkt[k], MARGIN_MKT_MM_BASIS, basis);
            check(rc == MARGIN_OK);
            check(margin_market_set(e[k], mkt[k], MARGIN_MKT_CLOSE_FEE, close_fee) == MARGIN_OK);
            if (tiers > 0) {
                check(margin_market_add_tier(e[k], mkt[k], 0, 400000, 0, MARGIN_DERIVE) == MARGIN_OK);
                if (tiers > 1)
                    check(margin_market_add_tier(e[k], mkt[k], 50000 * ONE, 500000, 0,
                                                 MARGIN_DERIVE) == MARGIN_OK);
                if (tiers > 2)
                    check(margin_market_add_tier(e[k], mkt[k], 250000 * ONE, 1000000, 0,
                                                 MARGIN_DERIVE) == MARGIN_OK);
            }
            rc = margin_engine_set_margin_call_levels(e[k], levels, nlev);
            check(rc == MARGIN_OK || rc == MARGIN_EINVAL);
            for (i = 0; i < NACCT; i++) {
                check(margin_account_new(e[k], &acct[k][i]) == MARGIN_OK);
                check(margin_account_deposit(e[k], acct[k][i], 100000 * ONE) == MARGIN_OK);
            }
        }
    }

    while (in.n > 0) {
        int op = (int)(take(&in, 1) % 12);
        uint64_t a = take(&in, 1), b = take(&in, 3), c = take(&in, 3);
        int rc[2];
        uint64_t pos = 1 + a % 16;
        int side = (a & 0x80) ? MARGIN_SHORT : MARGIN_LONG;
        int64_t px = (int64_t)(1 + b % 60000) * pone / 2;  /* 0.5 .. 30000 */
        int64_t qty = (int64_t)(1 + c % 100000) * (qone / 1000); /* 0.001 .. 100 */
        if (op == 2 || op == 3) {
            /* moves of the mark: small steps, big gaps, or exactly a trigger price */
            int64_t d = ((int64_t)(b % 2001) - 1000) * pone / ((c & 1) ? 10 : 1);
            mark += d;
            if (mark <= 0)
                mark = 1 + (int64_t)(c % 3); /* the smallest prices too */
        }
        for (k = 0; k < 2; k++) {
            uint64_t id, ac = acct[k][a % NACCT];
            int64_t v;
            switch (op) {
            case 0:
            case 1:
                rc[k] = margin_position_open(e[k], ac, mkt[k], side, qty, px,
                                             (int64_t)(1 + c % 125) * ONE,
                                             (b & 1) ? (int64_t)(c % 5000) * ONE : 0,
                                             (uint32_t)(b >> 20) & 3u, &id);
                break;
            case 2:
            case 3:
                rc[k] = margin_mark_update(e[k], mkt[k], mark);
                break;
            case 4:
                rc[k] = margin_position_trade(e[k], pos, side, qty, px, (uint32_t)(b & 1));
                break;
            case 5:
                rc[k] = margin_position_close(e[k], pos, px, 0);
                break;
            case 6:
                rc[k] = margin_position_add_margin(e[k], pos, (int64_t)(c % 1000) * ONE / 7);
                break;
            case 7:
                rc[k] = margin_position_remove_margin(e[k], pos, (int64_t)(c % 1000) * ONE / 7);
                break;
            case 8:
                rc[k] = margin_position_set_leverage(e[k], pos, (int64_t)(1 + c % 125) * ONE);
                break;
            case 9:
                rc[k] = margin_position_set_stops(e[k], pos, (b & 1) ? px : 0, (c & 1) ? px : 0);
                break;
            case 10:
                rc[k] = margin_funding_apply(e[k], mkt[k], ((int64_t)(b % 2001) - 1000) * 1000,
                                             mark);
                break;
            default:
                rc[k] = margin_position_at(e[k], pos, (int32_t)(101 + b % 13), (int64_t)c, &v);
                break;
            }
        }
        DBG("op %d a %llu b %llu c %llu pos %llu side %d px %lld qty %lld mark %lld -> %d %d\n",
            op, (unsigned long long)a, (unsigned long long)b, (unsigned long long)c,
            (unsigned long long)pos, side, (long long)px, (long long)qty, (long long)mark, rc[0],
            rc[1]);
        check(rc[0] == rc[1]);
        for (;;) {
            int32_t t0, t1;
            int32_t f;
            check(margin_event_next(e[0], &t0) == MARGIN_OK);
            check(margin_event_next(e[1], &t1) == MARGIN_OK);
            check(t0 == t1);
            if (t0 == MARGIN_EV_NONE)
                break;
#ifdef FUZZ_DEBUG
            {
                int64_t p0 = 0, p1 = 0, pr = 0;
                margin_event_get(e[0], MARGIN_EVF_POSITION, &p0);
                margin_event_get(e[1], MARGIN_EVF_POSITION, &p1);
                margin_event_get(e[0], MARGIN_EVF_PRICE, &pr);
                DBG("  event %d: position %lld / %lld at %lld\n", t0, (long long)p0, (long long)p1,
                    (long long)pr);
            }
#endif
            for (f = 1; f <= 22; f++) {
                int64_t x0, x1;
                check(margin_event_get(e[0], f, &x0) == MARGIN_OK);
                check(margin_event_get(e[1], f, &x1) == MARGIN_OK);
                if (x0 != x1)
                    DBG("event type %d field %d: indexed %lld, full scan %lld\n", t0, f,
                        (long long)x0, (long long)x1);
                check(x0 == x1);
            }
        }
        for (i = 0; i < NACCT; i++) {
            conserved(e[0], acct[0][i]);
            conserved(e[1], acct[1][i]);
        }
    }
    margin_engine_free(e[0]);
    margin_engine_free(e[1]);
    return 0;
}
