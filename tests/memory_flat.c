/* Bounded memory (issue 12): open and close 10,000,000 positions with the closed-position
 * window at 1,000 (MARGIN_ENG_RETAIN_CLOSED) and check that the resident memory stays
 * flat, that retired ids answer MARGIN_ENOTFOUND saying so, that the window's ids stay
 * readable, and that ids are never reused.
 *
 * What may grow: the table of position blocks, 28 bytes per 1,024 ids ever opened (about
 * 270 KB for 10 million ids: docs/design.md section 10). The test allows 4 MB of growth
 * between the 1,000,000th and the last position, and says how much it saw.
 *
 * Run natively by `make check`. Under AddressSanitizer, freed memory is held in a
 * quarantine on purpose, so resident memory is not a measure there: the test skips (77).
 * MARGIN_MEMORY_FLAT_N sets the number of positions (default 10,000,000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "margin.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "memory_flat: " __VA_ARGS__);                                   \
            fputc('\n', stderr);                                                            \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

int main(void)
{
    margin_engine *e = NULL;
    uint64_t m, a, id = 0, last = 0;
    long n = 10000000, i, rss_1m = -1, rss_end;
    int64_t v;
    const char *env = getenv("MARGIN_MEMORY_FLAT_N");
#ifdef UNDER_ASAN
    puts("memory_flat: SKIP: AddressSanitizer keeps freed memory in a quarantine");
    return 77;
#endif
    if (rss_kb() < 0) {
        puts("memory_flat: SKIP: no /proc/self/status to read the resident memory from");
        return 77;
    }
    if (env != NULL && atol(env) >= 2000000)
        n = atol(env);
    CHECK(margin_engine_new(&e) == MARGIN_OK, "engine");
    CHECK(margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0) == MARGIN_OK, "queue off");
    CHECK(margin_engine_set(e, MARGIN_ENG_RETAIN_CLOSED, 1000) == MARGIN_OK, "window");
    CHECK(margin_market_new(e, "BTCUSDT", &m) == MARGIN_OK, "market");
    CHECK(margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, 0) == MARGIN_OK, "fee");
    CHECK(margin_account_new(e, &a) == MARGIN_OK, "account");
    CHECK(margin_account_deposit(e, a, 100000000000LL) == MARGIN_OK, "deposit"); /* 1000 */
    for (i = 0; i < n; i++) {
        /* 0.1 BTC at 20000, 20x: margin 100 back to the free balance on the close */
        CHECK(margin_position_open(e, a, m, MARGIN_LONG, 10000000LL, 2000000000000LL,
                                   2000000000LL, 0, 0, &id) == MARGIN_OK,
              "open %ld: %s", i, margin_errmsg(e));
        CHECK(id == last + 1, "ids must rise by one and never be reused (%llu after %llu)",
              (unsigned long long)id, (unsigned long long)last);
        last = id;
        CHECK(margin_position_close(e, id, 2000000000000LL, 0) == MARGIN_OK, "close %ld: %s",
              i, margin_errmsg(e));
        if (i + 1 == 1000000)
            rss_1m = rss_kb();
    }
    rss_end = rss_kb();
    printf("memory_flat: %ld positions opened and closed; resident memory %ld kB after "
           "1,000,000 and %ld kB at the end (%+ld kB)\n",
           n, rss_1m, rss_end, rss_end - rss_1m);
    CHECK(rss_end - rss_1m < 4096, "resident memory grew by %ld kB", rss_end - rss_1m);
    /* the window: the last 1000 closed positions are readable, the first ones retired */
    CHECK(margin_position_get(e, last, MARGIN_POS_STATUS, &v) == MARGIN_OK &&
              v == MARGIN_STATUS_CLOSED,
          "the last position must be readable and closed");
    CHECK(margin_position_get(e, last - 999, MARGIN_POS_REALIZED_PNL, &v) == MARGIN_OK && v == 0,
          "the 1000th most recent close must be readable");
    CHECK(margin_position_get(e, 1, MARGIN_POS_STATUS, &v) == MARGIN_ENOTFOUND,
          "position 1 must be retired");
    CHECK(strstr(margin_errmsg(e), "retired") != NULL, "the message must say retired: %s",
          margin_errmsg(e));
    CHECK(margin_account_get(e, a, MARGIN_ACCT_FREE_BALANCE, &v) == MARGIN_OK &&
              v == 100000000000LL,
          "the free balance must be back to 1000 (no fee, closed at the entry)");
    CHECK(margin_engine_get(e, MARGIN_ENG_OPEN_POSITIONS, &v) == MARGIN_OK && v == 0,
          "no open position");
    margin_engine_free(e);
    return 0;
}
