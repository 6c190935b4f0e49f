#include <stdio.h>

#include "dec.h"
#include "helpers.h"

int64_t DS(const char *s, int32_t scale)
{
    int64_t v = 0;
    int rc = margin_dec_parse(s, scale, &v);
    ck_assert_msg(rc == MARGIN_OK, "bad decimal literal '%s' at scale %d: %s", s, (int)scale,
                  margin_strerror(rc));
    return v;
}

int64_t D(const char *s)
{
    return DS(s, 8);
}

int64_t acct_get(const margin_engine *e, uint64_t acct, int32_t key)
{
    int64_t v = 0;
    ck_assert_ok(e, margin_account_get(e, acct, key, &v));
    return v;
}

int64_t pos_get(const margin_engine *e, uint64_t pos, int32_t key)
{
    int64_t v = 0;
    ck_assert_ok(e, margin_position_get(e, pos, key, &v));
    return v;
}

int64_t pos_at(const margin_engine *e, uint64_t pos, int32_t key, int64_t mark)
{
    int64_t v = 0;
    ck_assert_ok(e, margin_position_at(e, pos, key, mark, &v));
    return v;
}

int64_t eng_get(const margin_engine *e, int32_t key)
{
    int64_t v = 0;
    ck_assert_ok(e, margin_engine_get(e, key, &v));
    return v;
}

void assert_conserved(const margin_engine *e, uint64_t acct)
{
    int64_t free_ = acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE);
    int64_t iso = acct_get(e, acct, MARGIN_ACCT_ISOLATED_MARGIN);
    int64_t dep = acct_get(e, acct, MARGIN_ACCT_DEPOSITS);
    int64_t wd = acct_get(e, acct, MARGIN_ACCT_WITHDRAWALS);
    int64_t pnl = acct_get(e, acct, MARGIN_ACCT_REALIZED_PNL);
    int64_t fees = acct_get(e, acct, MARGIN_ACCT_FEES);
    int64_t fund = acct_get(e, acct, MARGIN_ACCT_FUNDING);
    /* in 128 bits: each ledger fits in 64, their sums need not */
    ck_assert_msg((margin__i128)free_ + iso == (margin__i128)dep - wd + pnl - fees + fund,
                  "money not conserved on account %llu: free %lld + isolated %lld != deposits "
                  "%lld - withdrawals %lld + pnl %lld - fees %lld + funding %lld",
                  (unsigned long long)acct, (long long)free_, (long long)iso, (long long)dep,
                  (long long)wd, (long long)pnl, (long long)fees, (long long)fund);
    assert_pools(e);
}

void assert_pools(const margin_engine *e)
{
    /* the insurance pools (each market's own, or one it shares) sum to the fund */
    margin__i128 sum = 0;
    uint64_t mk;
    int64_t v = 0, pool = 0;
    for (mk = 1; margin_market_get(e, mk, MARGIN_MKT_INSURANCE_POOL, &pool) == MARGIN_OK; mk++)
        if ((uint64_t)pool == mk) {
            ck_assert_ok(e, margin_market_get(e, mk, MARGIN_MKT_INSURANCE, &v));
            sum += v;
        }
    ck_assert_msg(sum == eng_get(e, MARGIN_ENG_INSURANCE_FUND),
                  "the insurance pools sum to %lld, the fund is %lld", (long long)sum,
                  (long long)eng_get(e, MARGIN_ENG_INSURANCE_FUND));
}

void make_engine(margin_engine **e, uint64_t *mkt, uint64_t *acct, int64_t deposit)
{
    ck_assert_int_eq(margin_engine_new(e), MARGIN_OK);
    ck_assert_ok(*e, margin_market_new(*e, "BTCUSDT", mkt));
    ck_assert_ok(*e, margin_account_new(*e, acct));
    if (deposit > 0)
        ck_assert_ok(*e, margin_account_deposit(*e, *acct, deposit));
}

uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
