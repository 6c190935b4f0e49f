/* Suite "regress": one test per finding of issue 9 (an adversarial test of the books), each
 * of which failed before its fix. Expected numbers are worked out by hand in the comments
 * (exact rationals; "ceil"/"floor" at the scale named). */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* The figures a failed call must leave alone. */
typedef struct {
    int64_t seq, pending, ins, free_, iso, dep, real, fees, fund;
    int64_t margin, pfund, liq, status;
} snap;

static snap take(const margin_engine *e, uint64_t a, uint64_t p)
{
    snap s;
    s.seq = eng_get(e, MARGIN_ENG_LAST_SEQ);
    s.pending = eng_get(e, MARGIN_ENG_EVENTS_PENDING);
    s.ins = eng_get(e, MARGIN_ENG_INSURANCE_FUND);
    s.free_ = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    s.iso = acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN);
    s.dep = acct_get(e, a, MARGIN_ACCT_DEPOSITS);
    s.real = acct_get(e, a, MARGIN_ACCT_REALIZED_PNL);
    s.fees = acct_get(e, a, MARGIN_ACCT_FEES);
    s.fund = acct_get(e, a, MARGIN_ACCT_FUNDING);
    s.margin = pos_get(e, p, MARGIN_POS_MARGIN);
    s.pfund = pos_get(e, p, MARGIN_POS_FUNDING);
    s.liq = pos_get(e, p, MARGIN_POS_LIQ_PRICE);
    s.status = pos_get(e, p, MARGIN_POS_STATUS);
    return s;
}

static void same(const snap *x, const snap *y)
{
    ck_assert_int_eq(x->seq, y->seq);
    ck_assert_int_eq(x->pending, y->pending);
    ck_assert_int_eq(x->ins, y->ins);
    ck_assert_int_eq(x->free_, y->free_);
    ck_assert_int_eq(x->iso, y->iso);
    ck_assert_int_eq(x->dep, y->dep);
    ck_assert_int_eq(x->real, y->real);
    ck_assert_int_eq(x->fees, y->fees);
    ck_assert_int_eq(x->fund, y->fund);
    ck_assert_int_eq(x->margin, y->margin);
    ck_assert_int_eq(x->pfund, y->pfund);
    ck_assert_int_eq(x->liq, y->liq);
    ck_assert_int_eq(x->status, y->status);
}

/* 1. Funding is atomic. The repro (short 2 at 500, 3x; funding 0.001 at mark
 * INT64_MAX) is now refused as out of range before anything is computed. The failure it
 * exposed, funding applied and then the trigger evaluation failing, is reproduced inside the
 * range: the account holds INT64_MAX money minus one position; funding at 200 lets the
 * position's take-profit at 200 close, and returning its 199.9 would overflow the free
 * balance. Long 1 at 100, 1x: margin 100, fee 0.04; free = INT64_MAX - 100.04.
 * Funding 0.0001 at 200: the long pays 1*200*0.0001 = 0.02 (margin 99.98); the take-profit
 * then returns 99.98 + PnL 100 - fee 0.08 = 199.9 > 100.04 of headroom: MARGIN_EOVERFLOW,
 * and the funding must not stay applied. */
START_TEST(test_funding_atomic)
{
    margin_engine *e;
    uint64_t m, a, p, q;
    snap before, after;
    make_engine(&e, &m, &a, INT64_MAX);
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("100"), D("1"), 0, 0,
                                         &p));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), INT64_MAX - D("100.04"));
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, D("200")));
    before = take(e, a, p);
    ck_assert_rc(e, margin_funding_apply(e, m, D("0.0001"), D("200")), MARGIN_EOVERFLOW);
    after = take(e, a, p);
    same(&before, &after);
    ck_assert_int_eq(after.margin, D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    /* the same round without the take-profit goes through: margin 99.98 */
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, 0));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("200")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("99.98"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FUNDING), -D("0.02"));
    assert_conserved(e, a);
    margin_engine_free(e);

    /* the repro: short 2 at 500, 3x: margin ceil(1000/3) = 333.33333334 */
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("2"), D("500"), D("3"), 0, 0,
                                         &q));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_MARGIN), D("333.33333334"));
    before = take(e, a, q);
    ck_assert_rc(e, margin_funding_apply(e, m, D("0.001"), INT64_MAX), MARGIN_ERANGE);
    ck_assert_rc(e, margin_mark_update(e, m, INT64_MAX), MARGIN_ERANGE);
    after = take(e, a, q);
    same(&before, &after);
    margin_engine_free(e);
}
END_TEST

/* 2. The maintenance margin is never negative and the removable margin never exceeds the
 * margin. Entry basis, fee to close 0.0005, default tier 0.4 %: long 1 at 100, 20x: margin
 * 5, fee 0.04. Add 20,000: M = 20,005, so Q*BP = 100 - 20,005 < 0: no fee to close is owed
 * at a bankruptcy price below zero, and MM_e = 1*100*0.004 = 0.4 (it was
 * 0.4 + 0.0005*(100 - 20,005) = -9.5525, and 20,014.5525 was "removable").
 * The margin left must cover its own maintenance margin, which grows as the margin shrinks
 * (the fee to close at BP = E - M'/Q): M' >= 0.4 + 0.0005*(100 - M'), so
 * M' >= 0.45/1.0005 = 0.44977511244..., 0.44977512 rounded up. At mark 200: removable
 * = min(M - M', M + uPnL - Q*P/L) = min(20,004.55022488, 20,005 + 100 - 10)
 * = 20,004.55022488. Closing at the entry price then returns 0.44977512 - fee 0.04 and the
 * insurance fund is untouched. */
START_TEST(test_remove_margin_capped)
{
    margin_engine *e;
    uint64_t m, a, p;
    int64_t free0;
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0005")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("100"), D("20"), 0, 0,
                                         &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("5"));
    ck_assert_ok(e, margin_position_add_margin(e, p, D("20000")));
    ck_assert_ok(e, margin_mark_update(e, m, D("200")));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, 0), D("0.4"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), D("20004.55022488"));
    ck_assert_rc(e, margin_position_remove_margin(e, p, D("20004.55022489")), MARGIN_EMARGIN);
    ck_assert_ptr_nonnull(
        strstr(margin_errmsg(e), "at most 20004.55022488 of margin is removable"));
    ck_assert_ok(e, margin_position_remove_margin(e, p, D("20004.55022488")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("0.44977512"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("0.44977512"));
    /* MM_e = 0.4 + 0.0005*(100 - 0.44977512) = 0.44977511244, rounded up 0.44977512 */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, 0), D("0.44977512"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), 0);
    free0 = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    ck_assert_ok(e, margin_position_close(e, p, D("100"), 0));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), free0 + D("0.40977512"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* 2b. A maintenance amount given above floor*rate: tiers {0: 0.4 %}, {1,000: 1 %, amount
 * 50} (floor*rate = 10). Long 1.5 at 1,000 (notional 1,500), 10x: M = 150,
 * BP = 1,000 - 150/1.5 = 900. The tier-1 formula Q*P*0.01 - 50 is negative for notionals
 * below 5,000, so the maintenance margin is 0 there (not 1,500*0.01 - 50 = -35), and the
 * liquidation price is where the balance reaches 0: the bankruptcy price 900 (the linear
 * formula would give (150 - 1,500 + 50)/(1.5*(0.01 - 1)) = 875.42..., past bankruptcy). */
START_TEST(test_given_amount_clamped)
{
    margin_engine *e;
    uint64_t m, a, p;
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.01"), 0, D("50")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1.5"), D("1000"), D("10"), 0,
                                         0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("150"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("1000")), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("900"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("900"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, D("1000")), 0);
    ck_assert_ok(e, margin_mark_update(e, m, D("900.00000001")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_mark_update(e, m, D("900")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    /* liquidated exactly at bankruptcy: the fund takes M + PnL = 150 - 150 = 0 */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* 3. Tier selection at large scales (price 16 + quantity 12 = 28, the largest sum now
 * accepted): tiers {0: 0.4 %}, {1,000: 1 %}. A 10x long of 1 at 1 (notional 1) is in tier 0:
 * rate 0.004, MM = 0.004, and (mark basis) liquidation price
 * (M - Q*E)/(Q*(mmr - 1)) = (0.1 - 1)/(0.004 - 1) = 0.9/0.996 = 75/83
 * = 0.90361445783132530120..., rounded up at scale 16: 0.9036144578313254. Before the fix
 * the tier lookup read past a 19-entry table (UBSan) and chose the 1 % tier. */
START_TEST(test_tier_at_large_scales)
{
    margin_engine *e;
    uint64_t m, a, p;
    int64_t mmr, cum;
    make_engine(&e, &m, &a, D("100"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 16));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 12));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_tier_for(e, m, D("999.99999999"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.004"));
    ck_assert_ok(e, margin_market_tier_for(e, m, D("1000"), &mmr, &cum));
    ck_assert_int_eq(mmr, D("0.01"));
    ck_assert_int_eq(cum, D("6")); /* 1,000 * (0.01 - 0.004) */
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, DS("1", 12), DS("1", 16),
                                         D("10"), 0, 0, &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, DS("1", 16)), D("0.004"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, DS("1", 16)), D("0.004"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), DS("0.9036144578313254", 16));
    margin_engine_free(e);
}
END_TEST

/* 3b/8. Scale pairs whose figures cannot fit are refused when set: the sum is at most 28. */
START_TEST(test_scale_sum_refused)
{
    margin_engine *e;
    uint64_t m, a;
    int64_t v;
    make_engine(&e, &m, &a, 0);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 18));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 10));
    ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 11), MARGIN_EINVAL);
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "at most 28"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_QTY_SCALE, &v));
    ck_assert_int_eq(v, 10);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 10));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 18));
    ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 11), MARGIN_EINVAL);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_PRICE_SCALE, &v));
    ck_assert_int_eq(v, 10);
    margin_engine_free(e);
}
END_TEST

/* 4. No signed 128-bit overflow in the entry-basis liquidation price. A 1x short of
 * 270,257.91077105 (quantity scale 8) at 0.039871492507741051 (price scale 18), entry basis,
 * 0.4 %: N = Q*E = 10,775.58626446567..., M = ceil(N) at scale 8 = 10,775.58626447,
 * MM_e = 0.004*N; liquidation price E + floor((M - MM_e)/Q) at scale 18 =
 * 0.079583499045467161; bankruptcy price E + floor(M/Q) = 0.079742985015498125 (exact
 * rationals, worked out with a fraction type). L*M and L*Q*E are each about 1.08e38 at
 * scale w + 8 = 34: their sum overflowed 128 bits, and the open was refused. */
START_TEST(test_entry_basis_large_scale)
{
    margin_engine *e;
    uint64_t m, a, p;
    make_engine(&e, &m, &a, D("20000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 18));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("270257.91077105"),
                                         DS("0.039871492507741051", 18), D("1"), 0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("10775.58626447"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), DS("0.079583499045467161", 18));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0),
                     DS("0.079742985015498125", 18));
    /* and it liquidates there */
    ck_assert_ok(e, margin_mark_update(e, m, DS("0.079583499045467160", 18)));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_mark_update(e, m, DS("0.079583499045467161", 18)));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* 5. The indexes and the full scan agree at the largest accepted price: a take-profit at
 * the market's maximum (INT64_MAX - 1 here) fires at that mark on both paths; INT64_MAX is
 * out of range on both. A long of 1 unit (10^-8) at 1, 1x, is worth 92.2 at that price. */
START_TEST(test_take_profit_at_max_price)
{
    int full;
    for (full = 0; full <= 1; full++) {
        margin_engine *e;
        uint64_t m, a, p;
        int32_t type = MARGIN_EV_NONE;
        make_engine(&e, &m, &a, D("1000"));
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full));
        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, INT64_MAX - 1));
        ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, INT64_MAX), MARGIN_EINVAL);
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, 1, D("1"), D("1"), 0, 0, &p));
        ck_assert_rc(e, margin_position_set_stops(e, p, 0, INT64_MAX), MARGIN_ERANGE);
        ck_assert_ok(e, margin_position_set_stops(e, p, 0, INT64_MAX - 1));
        ck_assert_rc(e, margin_mark_update(e, m, INT64_MAX), MARGIN_ERANGE);
        ck_assert_ok(e, margin_mark_update(e, m, INT64_MAX - 2));
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
        ck_assert_ok(e, margin_mark_update(e, m, INT64_MAX - 1));
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
        while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE &&
               type != MARGIN_EV_TAKE_PROFIT)
            ;
        ck_assert_int_eq(type, MARGIN_EV_TAKE_PROFIT);
        assert_conserved(e, a);
        margin_engine_free(e);
    }
}
END_TEST

/* 6. Anything that is not a plain decimal is a parse error, however long. */
START_TEST(test_parse_garbage_is_eparse)
{
    int64_t v = 7;
    ck_assert_int_eq(margin_dec_parse("99999999999999999999999999999999999999x", 8, &v),
                     MARGIN_EPARSE);
    ck_assert_int_eq(margin_dec_parse("99999999999999999999999999999999999999.x", 0, &v),
                     MARGIN_EPARSE);
    ck_assert_int_eq(margin_dec_parse("1.00000000000000000000000000001x", 8, &v),
                     MARGIN_EPARSE);
    ck_assert_int_eq(margin_dec_parse("-99999999999999999999999999999999999999.", 8, &v),
                     MARGIN_EPARSE);
    /* still: a plain decimal that is too large overflows */
    ck_assert_int_eq(margin_dec_parse("99999999999999999999999999999999999999", 8, &v),
                     MARGIN_EOVERFLOW);
    ck_assert_int_eq(v, 7);
}
END_TEST

/* 7. A cumulative ledger that would overflow is named, with the limit. */
START_TEST(test_deposit_ledger_named)
{
    margin_engine *e;
    uint64_t m, a;
    int64_t nine = 900000000000000000LL * 10; /* 9e18 units = 90,000,000,000 money */
    make_engine(&e, &m, &a, nine);
    ck_assert_ok(e, margin_account_withdraw(e, a, nine));
    ck_assert_rc(e, margin_account_deposit(e, a, nine), MARGIN_EOVERFLOW);
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "cumulative deposits ledger"));
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "92233720368.54775807"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_DEPOSITS), nine);
    margin_engine_free(e);
}
END_TEST

/* 8. A position whose bankruptcy price could not be reported is refused: a 1x short of one
 * unit (10^-8) at 1 given 922.35 more margin would go bankrupt at
 * 1 + 922.35000001/10^-8 = 92,235,000,001, past INT64_MAX price units (92,233,720,368.5...),
 * while its liquidation price, about BP/(1 + 0.004) = 9.19e10, fits: it was accepted, and
 * its liquidation reported a bankruptcy price of 0. And a liquidated short reports its
 * bankruptcy price: short 1 at 100, 10x: M = 10, BP = 100 + 10/1 = 110. */
START_TEST(test_short_bankruptcy_price_reported)
{
    margin_engine *e;
    uint64_t m, a, p, q;
    int32_t type;
    int64_t bp = 0;
    make_engine(&e, &m, &a, D("5000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, 1, D("1"), D("1"), 0, 0, &p));
    ck_assert_rc(e, margin_position_add_margin(e, p, D("922.35")), MARGIN_EOVERFLOW);
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "bankruptcy price"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 1);
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("100"), D("10"), 0, 0,
                                         &q));
    ck_assert_ok(e, margin_mark_update(e, m, D("120")));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    for (;;) {
        int64_t pos = 0;
        ck_assert_ok(e, margin_event_next(e, &type));
        ck_assert_int_ne(type, MARGIN_EV_NONE);
        if (type != MARGIN_EV_LIQUIDATION)
            continue;
        ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_POSITION, &pos));
        ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_BANKRUPTCY_PRICE, &bp));
        if (pos == (int64_t)q)
            break;
        /* the 1-unit short: BP = 1 + 10^-8/10^-8 = 2 */
        ck_assert_int_eq(bp, D("2"));
    }
    ck_assert_int_eq(bp, D("110"));
    margin_engine_free(e);
}
END_TEST

/* 9. Markets have a price range; a mark update never fails for one position's arithmetic.
 * The default maximum is 10^(price scale + 7): 10,000,000 at scale 8. A long of 100,000 at
 * 10 (notional 1,000,000) would be worth 10^12 at that price, past the 9.2e10 a money
 * amount holds: refused at open, with the maximum price named; with the maximum lowered to
 * 100,000 (worth 10^10 there) it opens, and marks up to the maximum go through. */
START_TEST(test_market_price_range)
{
    margin_engine *e;
    uint64_t m, a, p, q;
    int64_t v;
    snap before, after;
    make_engine(&e, &m, &a, D("1000000"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MAX_PRICE, &v));
    ck_assert_int_eq(v, D("10000000"));
    ck_assert_rc(e, margin_position_open(e, a, m, MARGIN_SHORT, D("100000"), D("10"), D("10"),
                                         0, 0, &p),
                 MARGIN_EOVERFLOW);
    ck_assert_ptr_nonnull(strstr(margin_errmsg(e), "maximum price 10000000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1000000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, D("100000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("100000"), D("10"), D("10"),
                                         0, 0, &p));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("10"), D("10"), 0, 0,
                                         &q));
    /* widening the range again would make the short too large: refused, nothing changes */
    ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, D("10000000")),
                 MARGIN_EOVERFLOW);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MAX_PRICE, &v));
    ck_assert_int_eq(v, D("100000"));
    /* a take-profit beyond the range is out of range, and so is narrowing below one */
    ck_assert_rc(e, margin_position_set_stops(e, q, 0, D("100000.00000001")), MARGIN_ERANGE);
    ck_assert_ok(e, margin_position_set_stops(e, q, 0, D("90000")));
    ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, D("80000")), MARGIN_ERANGE);
    before = take(e, a, p);
    ck_assert_rc(e, margin_mark_update(e, m, D("100000.00000001")), MARGIN_ERANGE);
    ck_assert_rc(e, margin_funding_apply(e, m, D("0.5"), D("100000.00000001")), MARGIN_ERANGE);
    after = take(e, a, p);
    same(&before, &after);
    /* the largest mark liquidates the short (far past its bankruptcy price 11) and takes the
     * long's profit: nothing overflows */
    ck_assert_ok(e, margin_mark_update(e, m, D("100000")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    /* the fund pays the short's gap: M + s*Q*(P - E) = 100,000 - 100,000*99,990 */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("100000") - D("9999000000"));
    ck_assert_rc(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, D("99999.99999999")),
                 MARGIN_ESTATE); /* below the last mark */
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* 10. A callback that calls back into the engine is refused, and the books stay whole. */
struct reenter {
    int calls, refused, other;
    uint64_t m, a;
};

static void reenter_cb(void *user, const margin_engine *ce, int32_t type)
{
    /* the callback gets a const engine; this one casts it away, as a careless (or
     * dynamically typed) caller would */
    margin_engine *e = (margin_engine *)(uintptr_t)ce;
    struct reenter *r = user;
    int32_t t;
    int64_t v;
    int rcs[6], i;
    (void)type;
    r->calls++;
    rcs[0] = margin_mark_update(e, r->m, D("1"));
    rcs[1] = margin_account_deposit(e, r->a, D("1"));
    rcs[2] = margin_event_next(e, &t);
    rcs[3] = margin_market_set(e, r->m, MARGIN_MKT_TAKER_FEE, 0);
    rcs[4] = margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 1);
    rcs[5] = margin_engine_set_callback(e, NULL, NULL);
    for (i = 0; i < 6; i++) {
        if (rcs[i] == MARGIN_ESTATE)
            r->refused++;
        else
            r->other++;
    }
    if (strstr(margin_errmsg(e), "callback") == NULL)
        r->other++;
    margin_engine_free(e); /* refused: the engine lives on */
    /* reading is allowed */
    if (margin_event_get(e, MARGIN_EVF_TYPE, &v) != MARGIN_OK || v != type)
        r->other++;
}

START_TEST(test_callback_reentry_refused)
{
    margin_engine *e;
    uint64_t p, q;
    struct reenter r;
    int64_t seq, got, prev = 0;
    int32_t type;
    memset(&r, 0, sizeof r);
    make_engine(&e, &r.m, &r.a, D("10000"));
    ck_assert_ok(e, margin_engine_set_callback(e, reenter_cb, &r));
    ck_assert_ok(e, margin_position_open(e, r.a, r.m, MARGIN_LONG, D("1"), D("100"), D("10"), 0,
                                         0, &p));
    ck_assert_ok(e, margin_position_open(e, r.a, r.m, MARGIN_LONG, D("1"), D("100"), D("20"), 0,
                                         0, &q));
    ck_assert_ok(e, margin_mark_update(e, r.m, D("80"))); /* liquidates both */
    ck_assert_int_eq(r.calls, 4); /* 2 opens, 2 liquidations (the deposit came before) */
    ck_assert_int_eq(r.refused, 6 * 4);
    ck_assert_int_eq(r.other, 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, r.a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, r.a, MARGIN_ACCT_DEPOSITS), D("10000"));
    assert_conserved(e, r.a);
    /* sequence numbers in order, and the engine works again after the callback */
    seq = eng_get(e, MARGIN_ENG_LAST_SEQ);
    ck_assert_int_eq(seq, 5);
    ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE) {
        ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_SEQ, &got));
        ck_assert_int_eq(got, prev + 1);
        prev = got;
    }
    ck_assert_int_eq(prev, 5);
    ck_assert_ok(e, margin_account_deposit(e, r.a, D("1")));
    margin_engine_free(e);
}
END_TEST


/* Found by the extended random suite: where the maintenance margin is 0 (a given tier
 * amount above floor*rate), the removable amount was the whole margin, and removing it was
 * refused ("must stay above zero"). An open position keeps at least one unit: scales 6/14,
 * tiers {0: 0.097371 %, amount 0}, {0.00000065: 0.097707 %, amount 0.00000001}; a long of
 * 866 units at 34.300136, 38.6485x, has a margin of 1 unit (0.00000001); at a high mark its
 * maintenance margin is 0 and its removable amount 0 (it was 1). */
START_TEST(test_removable_keeps_a_unit)
{
    margin_engine *e;
    uint64_t m, a, p;
    make_engine(&e, &m, &a, D("1"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 6));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 14));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, 97371, 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, 65, 97707, 0, 1));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, 866, 34300136, 3864850322, 0, 0,
                                         &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 1);
    ck_assert_ok(e, margin_mark_update(e, m, 295934546004));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, 0), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), 0);
    ck_assert_rc(e, margin_position_remove_margin(e, p, 1), MARGIN_EMARGIN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 1);
    margin_engine_free(e);
}
END_TEST

/* Found by the extended fuzzer: a flip summed the free balance and the closed side's return
 * before subtracting the fee, a signed overflow (UBSan) when the balance is near the limit.
 * Taker fee 0.5; free F0 = INT64_MAX - 1000 units; long 1 at 100, 1x: margin 100, fee 50.
 * Sell 2 at 200: the close returns 100 + 100 and pays 100 of fee, the reopened short of 1
 * at 200 takes 200 of margin and 100 of fee: F0 - 150 + 200 - 100 - 200 - 100 = F0 - 350,
 * which fits, while F0 - 150 + 200 did not. */
START_TEST(test_flip_near_the_limit)
{
    margin_engine *e;
    uint64_t m, a, p;
    make_engine(&e, &m, &a, INT64_MAX - 1000);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.5")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("100"), D("1"), 0, 0,
                                         &p));
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("2"), D("200"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_SHORT);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("200"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), INT64_MAX - 1000 - D("350"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

Suite *suite_regress(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("issue9");
    tcase_add_test(tc, test_funding_atomic);
    tcase_add_test(tc, test_remove_margin_capped);
    tcase_add_test(tc, test_given_amount_clamped);
    tcase_add_test(tc, test_tier_at_large_scales);
    tcase_add_test(tc, test_scale_sum_refused);
    tcase_add_test(tc, test_entry_basis_large_scale);
    tcase_add_test(tc, test_take_profit_at_max_price);
    tcase_add_test(tc, test_parse_garbage_is_eparse);
    tcase_add_test(tc, test_deposit_ledger_named);
    tcase_add_test(tc, test_short_bankruptcy_price_reported);
    tcase_add_test(tc, test_market_price_range);
    tcase_add_test(tc, test_callback_reentry_refused);
    tcase_add_test(tc, test_removable_keeps_a_unit);
    tcase_add_test(tc, test_flip_near_the_limit);
    suite_add_tcase(s, tc);
    return s;
}
