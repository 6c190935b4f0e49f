/* Suite "position": isolated positions through the public API.
 *
 *  - open / increase (weighted average entry) / reduce (realized PnL, margin released pro
 *    rata) / close / flip, with fees (taker by default, maker with MARGIN_FLAG_MAKER)
 *    charged to the free balance;
 *  - add and remove margin (the removable-margin rule), change of leverage;
 *  - every query at a mark (uPnL, margin balance, maintenance margin, margin ratio, LP
 *    under both policies, BP, IM, notional, ROE, removable margin);
 *  - property tests over a deterministic grid of cases;
 *  - bad input for every entry point: status code, message, and an unchanged state
 *    (snapshot of every account, position, market and engine figure before and after).
 *
 * Every expected number is worked out by hand in the comment beside it, with the spec's
 * formulas (../shared/spec/margin-math.md) and the header's rounding rules; money is
 * checked for conservation after every operation. */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

__extension__ typedef __int128 i128;

#define E8 ((i128)100000000)
#define X(n) ((int64_t)(n) * 100000000LL) /* whole leverage -> rate units */

static uint64_t open_pos(margin_engine *e, uint64_t a, uint64_t m, int32_t side, const char *q,
                         const char *price, int64_t lev, int64_t margin, uint32_t flags)
{
    uint64_t id = 0;
    ck_assert_ok(e, margin_position_open(e, a, m, side, D(q), D(price), lev, margin, flags,
                                         &id));
    ck_assert_uint_ge(id, 1);
    assert_conserved(e, a);
    return id;
}

/* ================================================================== open */

/* long 0.1 @ 20000, 20x, deposit 10000:
 *   margin 0.1*20000/20 = 100; fee 0.0004*2000 = 0.8; free 10000 - 100 - 0.8 = 9899.2;
 *   LP (mark, mmr 0.004) = (100 - 2000)/(0.1*0.004 - 0.1) = 1900/0.0996
 *      = 19076.30522088..., up 19076.30522089;
 *   equity (no mark yet: entry, uPnL 0) = 9899.2 + 100 = 9999.2. */
START_TEST(test_open_long)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t v = 0;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ACCOUNT), (int64_t)a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARKET), (int64_t)m);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_LONG);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.1"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("20000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(20));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.8"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FUNDING), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STOP_LOSS), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_TAKE_PROFIT), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("19076.30522089"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9899.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_EQUITY), D("9999.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_DEPOSITS), D("10000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_WITHDRAWALS), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("0.8"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 1);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 1);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_OPEN_POSITIONS, &v));
    ck_assert_int_eq(v, 1);
    margin_engine_free(e);
}
END_TEST

/* short 0.5 @ 30000, 10x, with margin 2000 (initial 15000/10 = 1500, so 500 extra):
 *   margin 2000, leverage stays 10x; fee 0.0004*15000 = 6; free 100000 - 2006 = 97994;
 *   BP = 30000 + 2000/0.5 = 34000;
 *   LP = (2000 + 15000)/(0.5*0.004 + 0.5) = 17000/0.502 = 33864.5418326693..., down
 *   33864.54183266. */
START_TEST(test_open_short_extra_margin)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100000"));
    p = open_pos(e, a, m, MARGIN_SHORT, "0.5", "30000", X(10), D("2000"), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_SHORT);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(10));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("6"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("97994"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("1500"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("34000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("33864.54183266"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("33864.54183266"));
    margin_engine_free(e);
}
END_TEST

/* Only a margin: 0.1 @ 20000 with margin 300: leverage = 2000/300 = 6.666..., up
 * 6.66666667. Initial margin (header: Q*E/L rounded up, with the position's leverage)
 * = 2000/6.66666667 = 299.99999985000..., up 299.99999986. */
START_TEST(test_open_margin_only)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", 0, D("300"), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("300"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), D("6.66666667"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("299.99999986"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9699.2"));
    margin_engine_free(e);
}
END_TEST

/* Fees: maker 0.0002*2000 = 0.4 with MARGIN_FLAG_MAKER; a changed taker rate (0.001) is
 * used by the next open: 0.001*2000 = 2. */
START_TEST(test_open_fees)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p, q;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, MARGIN_FLAG_MAKER);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.4"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9899.6"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.001")));
    q = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_FEES), D("2"));
    /* 9899.6 - 100 - 2 */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9797.6"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("2.4"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 2);
    margin_engine_free(e);
}
END_TEST

/* Rounding of the margin and fee: 0.001 @ 12345.67 at 3x: notional 12.34567;
 * margin 12.34567/3 = 4.1152233333..., up 4.11522334; fee 0.0004*12.34567 = 0.004938268,
 * up 0.00493827. */
START_TEST(test_open_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.001", "12345.67", X(3), 0, 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("4.11522334"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.00493827"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("4.11522334"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, 0), D("12.34567"));
    /* 100 - 4.11522334 - 0.00493827 */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("95.87983839"));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== trade */

/* long 0.1 @ 20000 20x (margin 100, fee 0.8), buy 0.1 @ 22000:
 *   entry (0.1*20000 + 0.1*22000)/0.2 = 21000; margin + 0.1*22000/20 = 110 -> 210;
 *   fee 0.0004*2200 = 0.88; free 10000 - 100.8 - 110 - 0.88 = 9788.32; fees 1.68. */
START_TEST(test_increase)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("0.1"), D("22000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.2"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("21000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("210"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(20));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("1.68"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9788.32"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("210"));
    /* maker increase on top: 0.1 @ 21000, fee 0.0002*2100 = 0.42, margin 105 -> 315,
     * entry (0.2*21000 + 0.1*21000)/0.3 = 21000. */
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("0.1"), D("21000"),
                                          MARGIN_FLAG_MAKER));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("21000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("315"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("2.1"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9682.9"));
    margin_engine_free(e);
}
END_TEST

/* Average entry rounded against the holder: 0.1 @ 20000 then 0.2 @ 20001:
 *   (2000 + 4000.2)/0.3 = 20000.6666...: long up 20000.66666667, short down
 *   20000.66666666. Margin 100 + 0.2*20001/20 = 100 + 200.01 = 300.01. */
START_TEST(test_increase_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, l, s;
    make_engine(&e, &m, &a, D("10000"));
    l = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_trade(e, l, MARGIN_LONG, D("0.2"), D("20001"), 0));
    assert_conserved(e, a);
    ck_assert_ok(e, margin_position_trade(e, s, MARGIN_SHORT, D("0.2"), D("20001"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_ENTRY_PRICE), D("20000.66666667"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_ENTRY_PRICE), D("20000.66666666"));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("300.01"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("300.01"));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_QTY), D("0.3"));
    margin_engine_free(e);
}
END_TEST

/* long 0.2 @ 20000 10x (margin 400, fee 1.6), sell 0.05 @ 22000:
 *   realized 0.05*(22000-20000) = 100; margin released 400*0.05/0.2 = 100 -> 300;
 *   fee 0.0004*1100 = 0.44; free 10000 - 401.6 + 100 + 100 - 0.44 = 9797.96. */
START_TEST(test_reduce_profit)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.2", "20000", X(10), 0, 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.05"), D("22000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_LONG);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.15"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("20000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("300"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("2.04"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9797.96"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("300"));
    margin_engine_free(e);
}
END_TEST

/* short 0.3 @ 20000 7x: margin 6000/7 = 857.142857142..., up 857.14285715; fee 2.4.
 * Buy 0.1 @ 20500: realized -(0.1*500) = -50; released 857.14285715*0.1/0.3
 *   = 285.7142857166..., down 285.71428571; margin left 571.42857144; fee 0.0004*2050
 *   = 0.82; free 10000 - 857.14285715 - 2.4 + 285.71428571 - 50 - 0.82 = 9375.35142856. */
START_TEST(test_reduce_loss_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_SHORT, "0.3", "20000", X(7), 0, 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("857.14285715"));
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("0.1"), D("20500"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.2"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("571.42857144"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-50"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("20000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9375.35142856"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("3.22"));
    margin_engine_free(e);
}
END_TEST

/* A reduce at a price past the bankruptcy price: the header does not say how a loss larger
 * than the released share of the margin is settled, so only invariants are checked:
 * money is conserved, neither the free balance nor the margin goes negative, and the
 * position keeps a consistent stored liquidation price.
 * long 0.2 @ 20000 20x (M 200), free left at 1 (the rest withdrawn), then sell 0.1 at
 * 18000 (loss 200 on the part, share of margin 100) and at 17000 (loss 300). */
START_TEST(test_reduce_past_bankruptcy)
{
    int k;
    for (k = 0; k < 2; k++) {
        margin_engine *e = NULL;
        uint64_t m = 0, a = 0, p;
        make_engine(&e, &m, &a, D("1000"));
        p = open_pos(e, a, m, MARGIN_LONG, "0.2", "20000", X(20), 0, 0);
        /* free 1000 - 200 - 1.6 = 798.4; keep 1 */
        ck_assert_ok(e, margin_account_withdraw(e, a, D("797.4")));
        assert_conserved(e, a);
        ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.1"),
                                              k == 0 ? D("18000") : D("17000"), 0));
        assert_conserved(e, a);
        ck_assert_int_ge(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
        ck_assert_int_ge(pos_get(e, p, MARGIN_POS_MARGIN), 0);
        ck_assert_int_ge(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.1"));
        /* the holder loses at most the margin it had (200) plus the fees */
        ck_assert_int_ge(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), -D("200"));
        if (pos_get(e, p, MARGIN_POS_STATUS) == MARGIN_STATUS_OPEN)
            ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE),
                             pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0));
        margin_engine_free(e);
    }
}
END_TEST

/* An opposite trade of the whole size closes (as margin_position_close): long 0.1 @ 20000
 * 20x, sell 0.1 @ 20500: pnl 50, margin 100 back, fee 0.82:
 * free 10000 - 100.8 + 150 - 0.82 = 10048.38. */
START_TEST(test_trade_to_zero)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.1"), D("20500"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("50"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("10048.38"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    margin_engine_free(e);
}
END_TEST

/* Flip: long 0.1 @ 20000 20x (margin 100, fee 0.8), sell 0.3 @ 21000:
 *   close 0.1: pnl +100, margin 100 back; reopen short 0.2 @ 21000 at 20x: margin
 *   4200/20 = 210; fee on the whole fill 0.0004*0.3*21000 = 2.52 (0.84 + 1.68);
 *   free 10000 - 100.8 + 200 - 210 - 2.52 = 9886.68; fees 3.32; realized 100.
 *   Short LP = (210 + 4200)/(0.2*0.004 + 0.2) = 4410/0.2008 = 21962.1513944..., down
 *   21962.15139442. */
START_TEST(test_flip)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.3"), D("21000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_SHORT);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.2"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("21000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("210"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(20));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("21962.15139442"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9886.68"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("3.32"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("210"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 1);
    /* and back: buy 0.3 @ 21000 closes the short (pnl 0, 210 back) and opens long 0.1 at
     * 20x: margin 105; fee 2.52; free 9886.68 + 210 - 105 - 2.52 = 9989.16. */
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("0.3"), D("21000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_LONG);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.1"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("105"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9989.16"));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== close */

/* long 0.1 @ 20000 20x, close at 21000: pnl 100, margin 100 back, fee 0.84;
 * free 10000 - 100.8 + 200 - 0.84 = 10098.36. */
START_TEST(test_close_profit)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_close(e, p, D("21000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("1.64"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("10098.36"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("1.64"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_EQUITY), D("10098.36"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    margin_engine_free(e);
}
END_TEST

/* short 0.1 @ 20000 20x, close at 20500 with the maker fee: pnl -50, 50 back,
 * fee 0.0002*2050 = 0.41; free 10000 - 100.8 + 50 - 0.41 = 9948.79. */
START_TEST(test_close_short_maker)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_close(e, p, D("20500"), MARGIN_FLAG_MAKER));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-50"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9948.79"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("1.21"));
    margin_engine_free(e);
}
END_TEST

/* A close never takes more than the margin: long 0.1 @ 20000 20x (margin 100) closed at
 * 18000, below the bankruptcy price 19000: the loss 0.1*2000 = 200 is capped at 100 for
 * the holder (nothing comes back) and the other 100 is charged to the insurance fund.
 * The realized PnL is the holder's: -100 (this is what keeps money conserved:
 * free + isolated = deposits + realized - fees). Fee 0.0004*1800 = 0.72 from the free
 * balance: 10000 - 100.8 - 0.72 = 9898.48. */
START_TEST(test_close_beyond_margin)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_close(e, p, D("18000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9898.48"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-100"));
    margin_engine_free(e);
}
END_TEST

/* The closing fee comes out of what the close returns when the free balance cannot pay:
 * deposit 100.8, open long 0.1 @ 20000 20x (free 0), close at 20000: 100 back, fee 0.8:
 * free 99.2; fees 1.6. */
START_TEST(test_close_fee_from_proceeds)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100.8"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_ok(e, margin_position_close(e, p, D("20000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("99.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("1.6"));
    margin_engine_free(e);
}
END_TEST

/* A close never fails for its fee; the part that the free balance plus what the close
 * returns cannot pay is waived (header, margin_position_close()).
 * Deposit 100.8, long 0.1 @ 20000 20x: free 0, fees 0.8.
 *  - close at 19001: returns 100 + 0.1*(19001 - 20000) = 0.1; fee 0.0004*1900.1
 *    = 0.76004 > 0.1: 0.1 is charged, the rest waived: free 0, fees 0.9.
 *  - deposit 100.8 again and open the same (free 0, fees 0.9 + 0.8 = 1.7); closed at the
 *    bankruptcy price 19000 it returns 0: the whole fee 0.76 is waived: free 0, fees 1.7,
 *    realized -99.9 - 100 = -199.9. */
START_TEST(test_close_fee_waived)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100.8"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_close(e, p, D("19001"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-99.9"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("0.9"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.9"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    /* deposit 100.8 again: open (free 0), close at 19000: pnl -100 = -M, returns 0 */
    ck_assert_ok(e, margin_account_deposit(e, a, D("100.8")));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_ok(e, margin_position_close(e, p, D("19000"), 0));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.8"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("1.7"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-199.9"));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== account */

START_TEST(test_account_wallet)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_ok(e, margin_account_withdraw(e, a, D("300")));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("700"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_WITHDRAWALS), D("300"));
    ck_assert_ok(e, margin_account_deposit(e, a, D("0.00000001")));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_DEPOSITS), D("1000.00000001"));
    /* open long 0.1 @ 20000 20x: free 700.00000001 - 100.8 = 599.20000001 */
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("599.20000001"));
    /* isolated margin cannot be withdrawn: the whole free balance can, no more */
    ck_assert_rc(e, margin_account_withdraw(e, a, D("599.20000002")), MARGIN_EFUNDS);
    ck_assert_ok(e, margin_account_withdraw(e, a, D("599.20000001")));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    /* equity at the market's last mark: after a mark of 21000, 0 + 100 + 0.1*1000 = 200 */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_EQUITY), D("100"));
    ck_assert_ok(e, margin_mark_update(e, m, D("21000")));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_EQUITY), D("200"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== margin */

/* long 0.1 @ 20000 20x, add 50: margin 150, free 9899.2 - 50 = 9849.2;
 * LP = (150 - 2000)/(0.1*0.004 - 0.1) = 1850/0.0996 = 18574.2971887..., up 18574.29718876
 * (it moved by 50/(0.1*0.996) = 502.0080321...: 19076.30522089 - 18574.29718876
 * = 502.00803213). BP = 20000 - 150/0.1 = 18500. */
START_TEST(test_add_margin)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_add_margin(e, p, D("50")));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("150"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(20));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9849.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("150"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("18574.29718876"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("18574.29718876"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("18500"));
    /* all of the free balance can be added */
    ck_assert_ok(e, margin_position_add_margin(e, p, D("9849.2")));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("9999.2"));
    /* LP = (9999.2 - 2000)/(-0.0996) < 0: none */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), 0);
    margin_engine_free(e);
}
END_TEST

/* Removable margin = max(0, min(M - MM, M + uPnL - Q*P/L)) at the market's last mark.
 * long 0.1 @ 20000 20x + 50 added (M 150). No mark yet, so at entry:
 *   min(150 - 8, 150 + 0 - 100) = 50.
 * After removing 50 (M 100): min(92, 0) = 0.
 * Mark 21000: min(100 - 2100*0.004, 100 + 100 - 2100/20) = min(91.6, 95) = 91.6. */
START_TEST(test_remove_margin)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_add_margin(e, p, D("50")));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), D("50"));
    ck_assert_rc(e, margin_position_remove_margin(e, p, D("50.00000001")), MARGIN_EMARGIN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("150"));
    ck_assert_ok(e, margin_position_remove_margin(e, p, D("50")));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9899.2"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), 0);
    ck_assert_rc(e, margin_position_remove_margin(e, p, 1), MARGIN_EMARGIN);
    ck_assert_ok(e, margin_mark_update(e, m, D("21000")));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), D("91.6"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, D("21000")), D("91.6"));
    ck_assert_rc(e, margin_position_remove_margin(e, p, D("91.60000001")), MARGIN_EMARGIN);
    ck_assert_ok(e, margin_position_remove_margin(e, p, D("91.6")));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("8.4"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9990.8"));
    /* LP = (8.4 - 2000)/(-0.0996) = 19995.983935742..., up 19995.98393575 (< 21000) */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), D("19995.98393575"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== leverage */

/* long 0.1 @ 20000 20x (M 100, free 9899.2). New margin = M - Q*E/L_old + Q*E/L_new:
 *   10x: 100 - 100 + 200 = 200, free 9799.2;
 *   50x: 200 - 200 + 40 = 40, free 9959.2 (MM at entry 8 <= 40);
 *   7x:  40 - 40 + 2000/7 (285.714285714..., up 285.71428572) = 285.71428572,
 *        free 9959.2 - 245.71428572 = 9713.48571428. */
START_TEST(test_set_leverage)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p, q;
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(10)));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(10));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("200"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9799.2"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, 0), D("200"));
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(50)));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("40"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9959.2"));
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(7)));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("285.71428572"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9713.48571428"));
    /* Extra margin is kept: open with margin 300 at 20x (IM 100), set 10x:
     * 300 - 100 + 200 = 400; free 9713.48571428 - 300.8 (open) - 100 (400 - 300)
     * = 9312.68571428. */
    q = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), D("300"), 0);
    ck_assert_ok(e, margin_position_set_leverage(e, q, X(10)));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_MARGIN), D("400"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9312.68571428"));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== queries */

/* long 0.1 @ 20000 20x (M 100). At mark 19500:
 *   notional 1950; uPnL 0.1*(-500) = -50; balance 50; MM 1950*0.004 = 7.8;
 *   ratio 7.8/50 = 0.156; LP 19076.30522089 and BP 19000 (independent of the mark);
 *   IM 100; ROE -50/100 = -0.5; removable max(0, min(92.2, 50 - 97.5)) = 0.
 * At mark 21000: uPnL 100, balance 200, MM 8.4, ratio 0.042, ROE 1,
 *   removable min(91.6, 200 - 105) = 91.6. */
START_TEST(test_queries_long)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t P = D("19500"), R = D("21000");
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, P), D("1950"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, P), D("-50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, P), D("50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, P), D("7.8"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, P), D("0.004"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, P), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, P), D("0.156"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, P), D("19076.30522089"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, P), D("19000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, P), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_ROE, P), D("-0.5"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, P), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, R), D("2100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, R), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, R), D("200"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, R), D("8.4"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, R), D("0.042"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_ROE, R), D("1"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, R), D("91.6"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, R), D("19076.30522089"));
    /* ratio rounded up: at 19700, MM 1970*0.004 = 7.88, balance 70,
     * 7.88/70 = 0.1125714285..., up 0.11257143 */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, D("19700")), D("0.11257143"));
    /* mark 0: the market's last mark, or the entry when there is none */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, 0), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, 0), D("2000"));
    ck_assert_ok(e, margin_mark_update(e, m, P));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, 0), D("-50"));
    /* balance <= 0: ratio INT64_MAX (at BP and beyond) */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, D("19000")), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, D("19000")), INT64_MAX);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, D("18000")), D("-100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, D("18000")), INT64_MAX);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_ROE, D("18000")), D("-2"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* short 0.1 @ 20000 20x (M 100). At mark 20500:
 *   notional 2050; uPnL -0.1*500 = -50; balance 50; MM 2050*0.004 = 8.2; ratio 0.164;
 *   LP = (100 + 2000)/(0.1*0.004 + 0.1) = 2100/0.1004 = 20916.3346613..., down
 *   20916.33466135; BP = 20000 + 100/0.1 = 21000; ROE -0.5. */
START_TEST(test_queries_short)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t P = D("20500");
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, P), D("2050"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, P), D("-50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, P), D("50"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, P), D("8.2"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, P), D("0.164"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, P), D("20916.33466135"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("20916.33466135"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, P), D("21000"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_INITIAL_MARGIN, P), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_ROE, P), D("-0.5"));
    /* at 19000 the short gains 100: balance 200, MM 7.6, ratio 0.038, ROE 1 */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, D("19000")), D("100"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_RATIO, D("19000")), D("0.038"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_ROE, D("19000")), D("1"));
    margin_engine_free(e);
}
END_TEST

/* Rounding directions of the queries, one price unit (1e-8) off the entry.
 * long and short 0.333 @ 20000 at 20x (M 333), mark 20000.00000001:
 *   notional 0.333*20000.00000001 = 6660.00000000333 -> up 6660.00000001;
 *   uPnL long +0.00000000333 -> down 0; short -0.00000000333 -> down -0.00000001;
 *   balance long 333, short 332.99999999;
 *   MM 6660.00000000333*0.004 = 26.64000000001332 -> up 26.64000001;
 *   ROE long 0.00000000333/333 -> down 0; short -> down -0.00000001.
 * BP with an inexact margin: 0.3 @ 20000 at 7x, M = 857.14285715 (6000/7 up):
 *   long 20000 - 857.14285715/0.3 = 17142.857142833... -> up 17142.85714284;
 *   short 20000 + 2857.1428571666... = 22857.142857166... -> down 22857.14285716.
 * ROE at one unit below: long 20x, 0.1 @ 20000, mark 19999.99999997: uPnL -3e-9 -> down
 *   -0.00000001; ROE -1e-10 (or -3e-11 exactly) -> down -0.00000001. */
START_TEST(test_query_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, l, s, l7, s7, r;
    int64_t P = D("20000.00000001");
    make_engine(&e, &m, &a, D("100000"));
    l = open_pos(e, a, m, MARGIN_LONG, "0.333", "20000", X(20), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "0.333", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("333"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_NOTIONAL, P), D("6660.00000001"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_NOTIONAL, P), D("6660.00000001"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_UNREALIZED_PNL, P), 0);
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_UNREALIZED_PNL, P), -1);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MARGIN_BALANCE, P), D("333"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_MARGIN_BALANCE, P), D("332.99999999"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, P), D("26.64000001"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_MAINT_MARGIN, P), D("26.64000001"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_ROE, P), 0);
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_ROE, P), -1);
    l7 = open_pos(e, a, m, MARGIN_LONG, "0.3", "20000", X(7), 0, 0);
    s7 = open_pos(e, a, m, MARGIN_SHORT, "0.3", "20000", X(7), 0, 0);
    ck_assert_int_eq(pos_get(e, l7, MARGIN_POS_MARGIN), D("857.14285715"));
    ck_assert_int_eq(pos_at(e, l7, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("17142.85714284"));
    ck_assert_int_eq(pos_at(e, s7, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("22857.14285716"));
    ck_assert_int_eq(pos_at(e, l7, MARGIN_AT_INITIAL_MARGIN, 0), D("857.14285715"));
    r = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_at(e, r, MARGIN_AT_UNREALIZED_PNL, D("19999.99999997")), -1);
    ck_assert_int_eq(pos_at(e, r, MARGIN_AT_ROE, D("19999.99999997")), -1);
    ck_assert_int_eq(pos_at(e, r, MARGIN_AT_ROE, D("20000.00000003")), 0);
    margin_engine_free(e);
}
END_TEST

/* No liquidation price for a long that cannot be liquidated, and BP 0 for a long <= 0.
 * long 0.1 @ 20000 at 1x: M 2000, LP = (2000 - 2000)/(...) = 0 -> none; BP 0.
 * short 0.1 @ 20000 at 1x: LP = (2000 + 2000)/0.1004 = 39840.6374501..., down
 *   39840.63745019; BP 40000. */
START_TEST(test_liq_none)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, l, s;
    make_engine(&e, &m, &a, D("10000"));
    l = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(1), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(1), 0, 0);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_LIQ_PRICE, 0), 0);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_LIQ_PRICE), 0);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_BANKRUPTCY_PRICE, 0), 0);
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("39840.63745019"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_BANKRUPTCY_PRICE, 0), D("40000"));
    /* A mark far below does not liquidate the long. */
    ck_assert_ok(e, margin_mark_update(e, m, 1));
    assert_conserved(e, a);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    margin_engine_free(e);
}
END_TEST

/* Policy `entry` (MM fixed at the entry value): 0.1 @ 20000 20x, mmr 0.004:
 *   MM_e = 2000*0.004 = 8; long LP = 20000 - (100 - 8)/0.1 = 19080;
 *   short LP = 20000 + 920 = 20920; the MM query is 8 at any mark.
 * With a fee to close f = 0.0006 (counted at the bankruptcy price):
 *   long: MM_e = 8 + 0.1*19000*0.0006 = 9.14, LP = 20000 - 90.86/0.1 = 19091.4;
 *   short: MM_e = 8 + 0.1*21000*0.0006 = 9.26, LP = 20000 + 90.74/0.1 = 20907.4. */
START_TEST(test_liq_entry_basis)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, f = 0, l, s, lf, sf;
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_market_new(e, "FEE", &f));
    ck_assert_ok(e, margin_market_set(e, f, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_market_set(e, f, MARGIN_MKT_CLOSE_FEE, D("0.0006")));
    l = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    lf = open_pos(e, a, f, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    sf = open_pos(e, a, f, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_LIQ_PRICE, 0), D("19080"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("20920"));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_LIQ_PRICE), D("19080"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, D("25000")), D("8"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, D("19080")), D("8"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_MAINT_MARGIN, D("15000")), D("8"));
    /* at LP the balance equals MM: long 100 + 0.1*(19080-20000) = 8 */
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MARGIN_BALANCE, D("19080")), D("8"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MARGIN_RATIO, D("19080")), D("1"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_MARGIN_RATIO, D("20920")), D("1"));
    ck_assert_int_eq(pos_at(e, lf, MARGIN_AT_LIQ_PRICE, 0), D("19091.4"));
    ck_assert_int_eq(pos_at(e, sf, MARGIN_AT_LIQ_PRICE, 0), D("20907.4"));
    ck_assert_int_eq(pos_at(e, lf, MARGIN_AT_MAINT_MARGIN, D("20000")), D("9.14"));
    ck_assert_int_eq(pos_at(e, sf, MARGIN_AT_MAINT_MARGIN, D("20000")), D("9.26"));
    margin_engine_free(e);
}
END_TEST

/* Policy `mark` with a fee to close f = 0.0006:
 *   long: LP = (100 - 2000)/(0.1*(0.004 + 0.0006) - 0.1) = 1900/0.09954
 *         = 19087.803897930..., up 19087.80389794;
 *   short: LP = (100 + 2000)/(0.1*0.0046 + 0.1) = 2100/0.10046 = 20903.842325303...,
 *         down 20903.8423253;
 *   MM at 19500: 1950*(0.004 + 0.0006) = 8.97. */
START_TEST(test_liq_mark_close_fee)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, l, s;
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0006")));
    l = open_pos(e, a, m, MARGIN_LONG, "0.1", "20000", X(20), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "0.1", "20000", X(20), 0, 0);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_LIQ_PRICE, 0), D("19087.80389794"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("20903.8423253"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, D("19500")), D("8.97"));
    margin_engine_free(e);
}
END_TEST

/* Tier search for the liquidation price, BTC/USDT table (spec).
 * long 100 @ 12000 at 2x: notional 1.2M (tier [1M, 7.5M): 0.025 / 16300), M 600000.
 *   Tier 3: LP = (600000 + 16300 - 1200000)/(100*0.025 - 100) = 5986.67, notional 598,667
 *   is not in tier 3; tier 2 (0.01 / 1300): LP = (600000 + 1300 - 1200000)/(1 - 100)
 *   = 598700/99 = 6047.4747..., notional 604,747 in [250k, 1M): consistent;
 *   up 6047.47474748.
 * short 100 @ 9000 at 2x: notional 900k (tier 2), M 450000.
 *   Tier 2: LP = (450000 + 1300 + 900000)/(1 + 100) = 13379.2, notional 1.338M: not
 *   tier 2; tier 3: (450000 + 16300 + 900000)/(2.5 + 100) = 1366300/102.5
 *   = 13329.756097..., notional 1,332,976 in [1M, 7.5M): consistent; down 13329.75609756.
 * Policy entry, tier at the entry notional:
 *   long: MM_e = 1.2M*0.025 - 16300 = 13700; LP = 12000 - (600000 - 13700)/100 = 6137.
 *   short: MM_e = 900k*0.01 - 1300 = 7700; LP = 9000 + (450000 - 7700)/100 = 13423. */
static void add_btc_table(margin_engine *e, uint64_t m)
{
    static const char *const t[][3] = {
        {"0", "0.004", "125"},           {"50000", "0.005", "100"},
        {"250000", "0.01", "50"},        {"1000000", "0.025", "20"},
        {"7500000", "0.05", "10"},       {"40000000", "0.1", "5"},
        {"100000000", "0.125", "4"},     {"200000000", "0.15", "3"},
        {"400000000", "0.25", "2"},      {"600000000", "0.5", "1"},
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_ok(e, margin_market_add_tier(e, m, D(t[i][0]), D(t[i][1]), D(t[i][2]),
                                               MARGIN_DERIVE));
}

START_TEST(test_liq_tier_search)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, n = 0, l, s, le, se;
    make_engine(&e, &m, &a, D("3000000"));
    add_btc_table(e, m);
    ck_assert_ok(e, margin_market_new(e, "BTCENTRY", &n));
    add_btc_table(e, n);
    ck_assert_ok(e, margin_market_set(e, n, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    l = open_pos(e, a, m, MARGIN_LONG, "100", "12000", X(2), 0, 0);
    s = open_pos(e, a, m, MARGIN_SHORT, "100", "9000", X(2), 0, 0);
    le = open_pos(e, a, n, MARGIN_LONG, "100", "12000", X(2), 0, 0);
    se = open_pos(e, a, n, MARGIN_SHORT, "100", "9000", X(2), 0, 0);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("600000"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_LIQ_PRICE, 0), D("6047.47474748"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_LIQ_PRICE, 0), D("13329.75609756"));
    ck_assert_int_eq(pos_at(e, le, MARGIN_AT_LIQ_PRICE, 0), D("6137"));
    ck_assert_int_eq(pos_at(e, se, MARGIN_AT_LIQ_PRICE, 0), D("13423"));
    /* The maintenance figures at a mark use the tier holding Q*P (mark basis) or the
     * entry notional (entry basis): at 6000, notional 600,000: 0.01 / 1300, MM 4700. */
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_RATE, D("6000")), D("0.01"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_AMOUNT, D("6000")), D("1300"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, D("6000")), D("4700"));
    ck_assert_int_eq(pos_at(e, le, MARGIN_AT_MAINT_RATE, D("6000")), D("0.025"));
    ck_assert_int_eq(pos_at(e, le, MARGIN_AT_MAINT_MARGIN, D("6000")), D("13700"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== properties */

struct prop_cfg {
    const char *name;
    const char *mmr; /* single tier; NULL: the BTC/USDT table */
    const char *cum;
    const char *fee; /* fee to close */
};

static const struct prop_cfg prop_cfgs[] = {
    {"default", "0.004", "0", "0"},
    {"binance", "0.01", "0.01", "0"},
    {"gate", "0.01", "0", "0.0006"},
    {"btc-tiers", NULL, NULL, "0"},
    {"btc-tiers+fee", NULL, NULL, "0.0006"},
};

/* The BTC table's (floor, mmr, max leverage) for picking the entry tier in the test. */
static void btc_entry_tier(int64_t notional, int64_t *mmr, int64_t *maxlev)
{
    static const int64_t floors[] = {0, 50000, 250000, 1000000, 7500000, 40000000,
                                     100000000, 200000000, 400000000, 600000000};
    static const char *const rates[] = {"0.004", "0.005", "0.01", "0.025", "0.05",
                                        "0.1",   "0.125", "0.15", "0.25",  "0.5"};
    static const int64_t levs[] = {125, 100, 50, 20, 10, 5, 4, 3, 2, 1};
    int i, k = 0;
    for (i = 0; i < 10; i++)
        if (notional >= floors[i] * 100000000LL)
            k = i;
    *mmr = D(rates[k]);
    *maxlev = X(levs[k]);
}

/* Maintenance margin and balance at `price` (both rounded by the library). */
static void mm_and_balance(margin_engine *e, uint64_t p, int64_t price, int64_t *mm, int64_t *b)
{
    *mm = pos_at(e, p, MARGIN_AT_MAINT_MARGIN, price);
    *b = pos_at(e, p, MARGIN_AT_MARGIN_BALANCE, price);
}

/* Margin ratio crosses 1 at the liquidation price: at LP, MM <= B up to the two roundings
 * (MM up, B down: at most 2 money units); one price unit beyond LP (below for a long,
 * above for a short) MM > B strictly (the exact B - MM is negative there and the
 * roundings only widen it). The reported ratio at LP is 1 up to rounding: the exact
 * B - MM at LP lies in [0, Q*(1 + mmr + f)*1e-8], so the ratio is within
 * (2*Q + 3 units)/B of 1. For a long without a liquidation price, no positive price
 * liquidates: at the smallest price MM <= B (+2). */
static void check_lp_crossing(margin_engine *e, uint64_t p, int side, int64_t Q,
                              const char *what)
{
    int64_t lp = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
    int64_t mm, b, ratio;
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), lp);
    if (lp == 0) {
        ck_assert_msg(side == MARGIN_LONG, "%s: short without a liquidation price", what);
        mm_and_balance(e, p, 1, &mm, &b);
        ck_assert_msg(mm <= b + 2, "%s: no LP but MM %lld > B %lld at price 1e-8", what,
                      (long long)mm, (long long)b);
        return;
    }
    ck_assert_int_gt(lp, 0);
    mm_and_balance(e, p, lp, &mm, &b);
    ck_assert_msg(mm <= b + 2, "%s: at LP %lld MM %lld > B %lld + 2", what, (long long)lp,
                  (long long)mm, (long long)b);
    ck_assert_msg(b > 0, "%s: balance %lld at LP", what, (long long)b);
    ratio = pos_at(e, p, MARGIN_AT_MARGIN_RATIO, lp);
    {
        i128 tol = ((i128)2 * Q / E8 + 3) * E8 / b + 1;
        ck_assert_msg(ratio <= E8 + tol && ratio >= E8 - tol,
                      "%s: margin ratio %lld at LP %lld, not 1 within %lld", what,
                      (long long)ratio, (long long)lp, (long long)tol);
    }
    mm_and_balance(e, p, lp - side, &mm, &b);
    ck_assert_msg(mm > b, "%s: one unit beyond LP %lld, MM %lld <= B %lld", what,
                  (long long)lp, (long long)mm, (long long)b);
    ratio = pos_at(e, p, MARGIN_AT_MARGIN_RATIO, lp - side);
    ck_assert_msg(ratio > E8, "%s: ratio %lld beyond LP is not above 1", what, (long long)ratio);
}

START_TEST(test_properties)
{
    static const char *const eq[][2] = {
        {"20000", "0.1"}, {"1456.84", "3.5"}, {"0.5", "1000"}, {"12000", "100"},
        {"32481.98", "109.488"},
    };
    static const int levs[] = {1, 2, 3, 5, 10, 20, 50, 100, 125};
    size_t c, k, li;
    int side, basis, n_checked = 0, n_shift = 0;
    for (c = 0; c < sizeof prop_cfgs / sizeof prop_cfgs[0]; c++)
        for (basis = 0; basis <= 1; basis++)
            for (k = 0; k < sizeof eq / sizeof eq[0]; k++)
                for (li = 0; li < sizeof levs / sizeof levs[0]; li++)
                    for (side = -1; side <= 1; side += 2) {
                        const struct prop_cfg *cfg = &prop_cfgs[c];
                        margin_engine *e = NULL;
                        uint64_t m = 0, a = 0, p = 0;
                        int64_t E = D(eq[k][0]), Q = D(eq[k][1]), L = X(levs[li]);
                        int64_t f = D(cfg->fee), mmr, maxlev = X(125), M, X_, lp, lp2, bp;
                        int64_t notional = (int64_t)((i128)Q * E / E8);
                        int rc;
                        char what[160];
                        snprintf(what, sizeof what, "%s %s %s %dx E %s Q %s", cfg->name,
                                 basis ? "entry" : "mark", side > 0 ? "long" : "short",
                                 levs[li], eq[k][0], eq[k][1]);
                        make_engine(&e, &m, &a, D("100000000"));
                        if (cfg->mmr) {
                            mmr = D(cfg->mmr);
                            ck_assert_ok(e, margin_market_add_tier(e, m, 0, mmr, 0,
                                                                   D(cfg->cum)));
                        } else {
                            add_btc_table(e, m);
                            btc_entry_tier(notional, &mmr, &maxlev);
                        }
                        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, f));
                        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, basis));
                        rc = margin_position_open(e, a, m, side, Q, E, L, 0, 0, &p);
                        if (L > maxlev) {
                            /* the entry tier does not allow this leverage */
                            ck_assert_msg(rc == MARGIN_ELEVERAGE, "%s: open rc %d", what, rc);
                            assert_conserved(e, a);
                            margin_engine_free(e);
                            continue;
                        }
                        /* leave out positions that start within a factor 2 of their
                         * maintenance margin: L*(mmr + f) >= 0.5 */
                        if ((i128)L * (mmr + f) >= (i128)E8 * E8 / 2) {
                            if (rc == MARGIN_OK)
                                assert_conserved(e, a);
                            margin_engine_free(e);
                            continue;
                        }
                        ck_assert_msg(rc == MARGIN_OK, "%s: open rc %d (%s)", what, rc,
                                      margin_errmsg(e));
                        assert_conserved(e, a);
                        n_checked++;
                        M = pos_get(e, p, MARGIN_POS_MARGIN);

                        /* 1. the ratio crosses 1 at LP */
                        check_lp_crossing(e, p, side, Q, what);
                        /* 2. BP lies beyond LP */
                        lp = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
                        bp = pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, 0);
                        if (lp != 0) {
                            if (side > 0)
                                ck_assert_msg(bp < lp, "%s: long BP %lld >= LP %lld", what,
                                              (long long)bp, (long long)lp);
                            else
                                ck_assert_msg(bp > lp, "%s: short BP %lld <= LP %lld", what,
                                              (long long)bp, (long long)lp);
                        }
                        /* 3. adding X = M/10 moves LP away from the mark by
                         *    X/(Q*(1 - s*mmr)) (mark) or X/Q (entry): single tier, f = 0 */
                        X_ = M / 10;
                        ck_assert_ok(e, margin_position_add_margin(e, p, X_));
                        assert_conserved(e, a);
                        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), M + X_);
                        check_lp_crossing(e, p, side, Q, what);
                        lp2 = pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0);
                        if (cfg->mmr && f == 0 && lp != 0 && lp2 != 0) {
                            /* moved distance in price units, exact value d = num/den:
                             * mark:  d = X_u*1e16/(Q_u*(1e8 - s*mmr_u))
                             * entry: d = X_u*1e8/Q_u
                             * both LPs are rounded the same way: |moved - d| < 1 unit */
                            i128 moved = (i128)side * (lp - lp2);
                            i128 num = basis ? (i128)X_ * E8 : (i128)X_ * E8 * E8;
                            i128 den = basis ? (i128)Q : (i128)Q * (E8 - side * mmr);
                            i128 diff = moved * den - num;
                            ck_assert_msg(diff < den && diff > -den,
                                          "%s: LP moved %lld units for %lld added, expected "
                                          "%lld/%lld",
                                          what, (long long)moved, (long long)X_,
                                          (long long)(num / den), (long long)1);
                            n_shift++;
                        }
                        /* 4. the same amount can be removed again (removable at entry is
                         *    min(M + X - MM, M + X - Q*E/L) >= X) and LP comes back */
                        ck_assert_ok(e, margin_position_remove_margin(e, p, X_));
                        assert_conserved(e, a);
                        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0), lp);
                        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), lp);
                        /* 5. close at entry: pnl 0, the margin comes back */
                        ck_assert_ok(e, margin_position_close(e, p, E, 0));
                        assert_conserved(e, a);
                        ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
                        ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), 0);
                        margin_engine_free(e);
                    }
    /* the filters leave most cases in */
    ck_assert_int_gt(n_checked, 500);
    ck_assert_int_gt(n_shift, 150);
}
END_TEST

/* The liquidation price stored on an open position (the trigger) is the one the query
 * computes, after whatever changed it. */
static void assert_liq_in_force(const margin_engine *e, uint64_t p)
{
    if (p == 0 || pos_get(e, p, MARGIN_POS_STATUS) != MARGIN_STATUS_OPEN)
        return;
    ck_assert_msg(pos_get(e, p, MARGIN_POS_LIQ_PRICE) == pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0),
                  "position %llu: stored LP %lld, computed %lld", (unsigned long long)p,
                  (long long)pos_get(e, p, MARGIN_POS_LIQ_PRICE),
                  (long long)pos_at(e, p, MARGIN_AT_LIQ_PRICE, 0));
}

/* Money is conserved along a longer mixed sequence on two accounts (after every step),
 * and every open position's stored LP stays the computed one. */
START_TEST(test_conservation_sequence)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, n = 0, p = 0, q = 0, r = 0;
#define CHECK_ALL()                                                                         \
    do {                                                                                    \
        assert_conserved(e, a);                                                             \
        assert_conserved(e, b);                                                             \
        assert_liq_in_force(e, p);                                                          \
        assert_liq_in_force(e, q);                                                          \
        assert_liq_in_force(e, r);                                                          \
    } while (0)
    make_engine(&e, &m, &a, D("50000"));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("12345.6789")));
    CHECK_ALL();
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &n));
    p = open_pos(e, a, m, MARGIN_LONG, "0.37", "20011.5", X(13), 0, 0);
    q = open_pos(e, b, n, MARGIN_SHORT, "2.113", "1456.84", X(7), D("500"), MARGIN_FLAG_MAKER);
    r = open_pos(e, a, n, MARGIN_LONG, "1.5", "1450", 0, D("333.33"), 0);
    CHECK_ALL();
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("0.11"), D("20123.45"), 0));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_trade(e, q, MARGIN_LONG, D("0.7"), D("1460.01"), 0));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_add_margin(e, r, D("12.34567891")));
    CHECK_ALL();
    ck_assert_ok(e, margin_funding_apply(e, n, D("0.0001"), D("1455.5")));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(9)));
    CHECK_ALL();
    ck_assert_ok(e, margin_mark_update(e, m, D("20500")));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_remove_margin(e, r, D("1")));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.3"), D("20400.1"), 0));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_trade(e, q, MARGIN_LONG, D("3"), D("1440"), 0)); /* flip */
    CHECK_ALL();
    ck_assert_ok(e, margin_funding_apply(e, n, D("-0.0003"), D("1441")));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_close(e, p, D("20399"), MARGIN_FLAG_MAKER));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_close(e, q, D("1442.5"), 0));
    CHECK_ALL();
    ck_assert_ok(e, margin_position_close(e, r, D("1441"), 0));
    CHECK_ALL();
    ck_assert_ok(e, margin_account_withdraw(e, a, D("100")));
    CHECK_ALL();
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
#undef CHECK_ALL
    margin_engine_free(e);
}
END_TEST

/* ================================================================== bad input */

#define W_ACCTS 4
#define W_MKTS 4
#define W_POS 12

/* Everything a test set up, so that the snapshot can read every figure by id without
 * ever making a failing call itself. */
struct world {
    margin_engine *e;
    uint64_t acct[W_ACCTS];
    int na;
    uint64_t mkt[W_MKTS];
    int nm;
    uint64_t pos[W_POS];
    int np;
};

struct snap {
    int64_t acct[W_ACCTS][9];
    int64_t mkt[W_MKTS][12];
    int64_t pos[W_POS][14];
    int64_t eng[8];
};

static void snap_take(const struct world *w, struct snap *s)
{
    int i;
    int32_t k;
    memset(s, 0, sizeof *s);
    for (i = 0; i < w->na; i++)
        for (k = 1; k <= 9; k++)
            ck_assert_ok(w->e, margin_account_get(w->e, w->acct[i], k, &s->acct[i][k - 1]));
    for (i = 0; i < w->nm; i++)
        for (k = 1; k <= 12; k++)
            ck_assert_ok(w->e, margin_market_get(w->e, w->mkt[i], k, &s->mkt[i][k - 1]));
    for (i = 0; i < w->np; i++)
        for (k = 1; k <= 14; k++)
            ck_assert_ok(w->e, margin_position_get(w->e, w->pos[i], k, &s->pos[i][k - 1]));
    for (k = 1; k <= 8; k++)
        ck_assert_ok(w->e, margin_engine_get(w->e, k, &s->eng[k - 1]));
}

static void snap_same(const struct snap *x, const struct snap *y, const char *what)
{
    int i, k;
    for (i = 0; i < W_ACCTS; i++)
        for (k = 0; k < 9; k++)
            ck_assert_msg(x->acct[i][k] == y->acct[i][k],
                          "%s: account #%d key %d changed %lld -> %lld", what, i, k + 1,
                          (long long)x->acct[i][k], (long long)y->acct[i][k]);
    for (i = 0; i < W_MKTS; i++)
        for (k = 0; k < 12; k++)
            ck_assert_msg(x->mkt[i][k] == y->mkt[i][k],
                          "%s: market #%d key %d changed %lld -> %lld", what, i, k + 1,
                          (long long)x->mkt[i][k], (long long)y->mkt[i][k]);
    for (i = 0; i < W_POS; i++)
        for (k = 0; k < 14; k++)
            ck_assert_msg(x->pos[i][k] == y->pos[i][k],
                          "%s: position #%d key %d changed %lld -> %lld", what, i, k + 1,
                          (long long)x->pos[i][k], (long long)y->pos[i][k]);
    for (k = 0; k < 8; k++)
        ck_assert_msg(x->eng[k] == y->eng[k], "%s: engine key %d changed %lld -> %lld", what,
                      k + 1, (long long)x->eng[k], (long long)y->eng[k]);
}

/* A rejected call: status `want`, a message, errcode, and not one figure changed. */
#define BAD(w, call, want)                                                                   \
    do {                                                                                     \
        struct snap s0_, s1_;                                                                \
        snap_take((w), &s0_);                                                                \
        ck_assert_rc((w)->e, (call), (want));                                                \
        ck_assert_msg(margin_errmsg((w)->e) != NULL && margin_errmsg((w)->e)[0] != '\0',     \
                      "%s: no error message", #call);                                        \
        ck_assert_msg(margin_errcode((w)->e) == (want), "%s: errcode %d, want %d", #call,     \
                      margin_errcode((w)->e), (int)(want));                                  \
        snap_take((w), &s1_);                                                                \
        snap_same(&s0_, &s1_, #call);                                                        \
    } while (0)

/* A call on a NULL engine: EINVAL, and the world unchanged. */
#define BAD_NULL(w, call)                                                                    \
    do {                                                                                     \
        struct snap s0_, s1_;                                                                \
        snap_take((w), &s0_);                                                                \
        ck_assert_int_eq((call), MARGIN_EINVAL);                                             \
        ck_assert_msg(margin_errmsg(NULL) != NULL && margin_errmsg(NULL)[0] != '\0',         \
                      "margin_errmsg(NULL) is empty");                                       \
        snap_take((w), &s1_);                                                                \
        snap_same(&s0_, &s1_, #call);                                                        \
    } while (0)

/* Ids in the world. */
enum { A_RICH, A_POOR, A_POOR2 };
enum { M_MAIN, M_GRID, M_TIERS, M_HIGH };
enum { P_OPEN, P_CLOSED, P_LIQ, P_POOR, P_TIER, P_GRID, P_BIG, P_HIGH };

/* The world:
 *  accounts: rich (deposit 100000), poor (100.8, exactly margin + fee of the seed
 *            position: free 0 after it), poor2 (100.79999999, one unit short of it);
 *  markets:  MAIN (defaults), GRID (tick 0.5, step 0.001), TIERS (BTC/USDT table),
 *            HIGH (one tier, mmr 0.05);
 *  positions (rich unless said):
 *    OPEN   long 0.1 @ 20000 20x in MAIN (margin 100, MM at entry 8);
 *    CLOSED long 0.1 @ 20000 20x in MAIN, closed at 20000;
 *    LIQ    short 0.1 @ 20000 20x in GRID (LP 20916.33466135), liquidated by mark 21000;
 *    POOR   long 0.1 @ 20000 20x in MAIN, account poor (free 0 afterwards);
 *    TIER   long 40 @ 20000 25x in TIERS (notional 800,000: tier max 50x; margin 32000);
 *    GRID   long 0.1 @ 20000 20x in GRID;
 *    BIG    long 1000 @ 1 1x in MAIN (margin 1000);
 *    HIGH   long 0.1 @ 20000 10x in HIGH (margin 200, MM 2000*0.05 = 100). */
static void world_setup(struct world *w)
{
    margin_engine *e;
    memset(w, 0, sizeof *w);
    ck_assert_int_eq(margin_engine_new(&w->e), MARGIN_OK);
    e = w->e;
    w->na = 3;
    w->nm = 4;
    w->np = 8;
    ck_assert_ok(e, margin_account_new(e, &w->acct[A_RICH]));
    ck_assert_ok(e, margin_account_new(e, &w->acct[A_POOR]));
    ck_assert_ok(e, margin_account_new(e, &w->acct[A_POOR2]));
    ck_assert_ok(e, margin_account_deposit(e, w->acct[A_RICH], D("100000")));
    ck_assert_ok(e, margin_account_deposit(e, w->acct[A_POOR], D("100.8")));
    ck_assert_ok(e, margin_account_deposit(e, w->acct[A_POOR2], D("100.79999999")));
    ck_assert_ok(e, margin_market_new(e, "MAIN", &w->mkt[M_MAIN]));
    ck_assert_ok(e, margin_market_new(e, "GRID", &w->mkt[M_GRID]));
    ck_assert_ok(e, margin_market_new(e, "TIERS", &w->mkt[M_TIERS]));
    ck_assert_ok(e, margin_market_new(e, "HIGH", &w->mkt[M_HIGH]));
    ck_assert_ok(e, margin_market_set(e, w->mkt[M_GRID], MARGIN_MKT_TICK, D("0.5")));
    ck_assert_ok(e, margin_market_set(e, w->mkt[M_GRID], MARGIN_MKT_STEP, D("0.001")));
    add_btc_table(e, w->mkt[M_TIERS]);
    ck_assert_ok(e, margin_market_add_tier(e, w->mkt[M_HIGH], 0, D("0.05"), 0, MARGIN_DERIVE));

    w->pos[P_OPEN] = open_pos(e, w->acct[A_RICH], w->mkt[M_MAIN], MARGIN_LONG, "0.1", "20000",
                              X(20), 0, 0);
    w->pos[P_CLOSED] = open_pos(e, w->acct[A_RICH], w->mkt[M_MAIN], MARGIN_LONG, "0.1",
                                "20000", X(20), 0, 0);
    ck_assert_ok(e, margin_position_close(e, w->pos[P_CLOSED], D("20000"), 0));
    w->pos[P_LIQ] = open_pos(e, w->acct[A_RICH], w->mkt[M_GRID], MARGIN_SHORT, "0.1", "20000",
                             X(20), 0, 0);
    w->pos[P_POOR] = open_pos(e, w->acct[A_POOR], w->mkt[M_MAIN], MARGIN_LONG, "0.1", "20000",
                              X(20), 0, 0);
    w->pos[P_TIER] = open_pos(e, w->acct[A_RICH], w->mkt[M_TIERS], MARGIN_LONG, "40", "20000",
                              X(25), 0, 0);
    w->pos[P_GRID] = open_pos(e, w->acct[A_RICH], w->mkt[M_GRID], MARGIN_LONG, "0.1", "20000",
                              X(20), 0, 0);
    w->pos[P_BIG] = open_pos(e, w->acct[A_RICH], w->mkt[M_MAIN], MARGIN_LONG, "1000", "1",
                             X(1), 0, 0);
    w->pos[P_HIGH] = open_pos(e, w->acct[A_RICH], w->mkt[M_HIGH], MARGIN_LONG, "0.1", "20000",
                              X(10), 0, 0);
    /* liquidate the short in GRID (the long there is unaffected by a rise) */
    ck_assert_ok(e, margin_mark_update(e, w->mkt[M_GRID], D("21000")));
    ck_assert_int_eq(pos_get(e, w->pos[P_LIQ], MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, w->pos[P_GRID], MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, w->pos[P_TIER], MARGIN_POS_MARGIN), D("32000"));
    ck_assert_int_eq(acct_get(e, w->acct[A_POOR], MARGIN_ACCT_FREE_BALANCE), 0);
    assert_conserved(e, w->acct[A_RICH]);
    assert_conserved(e, w->acct[A_POOR]);
}

START_TEST(test_bad_open)
{
    struct world w;
    margin_engine *e;
    uint64_t a, mm, id = 4242;
    world_setup(&w);
    e = w.e;
    a = w.acct[A_RICH];
    mm = w.mkt[M_MAIN];
#define OPEN_ARGS(side, q, p, lev, mar, fl) e, a, mm, side, q, p, lev, mar, fl, &id
    BAD_NULL(&w, margin_position_open(NULL, a, mm, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0,
                                      0, &id));
    BAD(&w, margin_position_open(e, a, mm, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 0, NULL),
        MARGIN_EINVAL);
    /* sides */
    BAD(&w, margin_position_open(OPEN_ARGS(0, D("0.1"), D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(2, D("0.1"), D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(-2, D("0.1"), D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    /* sizes and prices */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, 0, D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, -D("0.1"), D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), 0, X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_SHORT, D("0.1"), -D("20000"), X(20), 0, 0)),
        MARGIN_EINVAL);
    /* leverage and margin */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), 0, 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), -X(20), 0, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), X(20), -1, 0)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), D("0.99999999"),
                                           0, 0)),
        MARGIN_ELEVERAGE);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), D("0.5"), 0, 0)),
        MARGIN_ELEVERAGE);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"),
                                           D("125.00000001"), 0, 0)),
        MARGIN_ELEVERAGE);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_SHORT, D("0.1"), D("20000"), X(126), 0, 0)),
        MARGIN_ELEVERAGE);
    /* margin only 10 on 2000: leverage 200x > 125x */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), 0, D("10"), 0)),
        MARGIN_ELEVERAGE);
    /* margin only 3000 on 2000: leverage 2000/3000 = 0.67x, below 1x */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), 0, D("3000"), 0)),
        MARGIN_ELEVERAGE);
    /* liquidatable at once at the market's mark: GRID's mark is 21000 and a short 0.1 @
     * 20000 at 20x has LP 20916.33466135 < 21000 */
    BAD(&w, margin_position_open(e, a, w.mkt[M_GRID], MARGIN_SHORT, D("0.1"), D("20000"), X(20),
                                 0, 0, &id),
        MARGIN_EMARGIN);
    /* tier limit: 100 @ 20000 in TIERS is 2,000,000, tier max 20x */
    BAD(&w, margin_position_open(e, a, w.mkt[M_TIERS], MARGIN_LONG, D("100"), D("20000"), X(21),
                                 0, 0, &id),
        MARGIN_ELEVERAGE);
    /* margin below Q*E/L = 100 */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), X(20),
                                           D("99.99999999"), 0)),
        MARGIN_EMARGIN);
    /* flags */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 4u)),
        MARGIN_EINVAL);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), X(20), 0,
                                           0x80000000u)),
        MARGIN_EINVAL);
    /* the cross flag must agree with the account's mode in the market (isolated here) */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("0.1"), D("20000"), X(20), 0,
                                           MARGIN_FLAG_CROSS)),
        MARGIN_ESTATE);
    /* unknown ids */
    BAD(&w, margin_position_open(e, 0, mm, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 0, &id),
        MARGIN_ENOTFOUND);
    BAD(&w, margin_position_open(e, 999, mm, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 0,
                                 &id),
        MARGIN_ENOTFOUND);
    BAD(&w, margin_position_open(e, a, 0, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 0, &id),
        MARGIN_ENOTFOUND);
    BAD(&w, margin_position_open(e, a, 999, MARGIN_LONG, D("0.1"), D("20000"), X(20), 0, 0,
                                 &id),
        MARGIN_ENOTFOUND);
    /* grid */
    BAD(&w, margin_position_open(e, a, w.mkt[M_GRID], MARGIN_LONG, D("0.1"), D("20000.25"),
                                 X(20), 0, 0, &id),
        MARGIN_EGRID);
    BAD(&w, margin_position_open(e, a, w.mkt[M_GRID], MARGIN_LONG, D("0.0005"), D("20000"),
                                 X(20), 0, 0, &id),
        MARGIN_EGRID);
    /* funds: poor has 0 free; poor2 is one unit short of 100 + 0.8; rich cannot pay
     * 10 @ 20000 at 1x (200,000) */
    BAD(&w, margin_position_open(e, w.acct[A_POOR], mm, MARGIN_LONG, D("0.1"), D("20000"),
                                 X(20), 0, 0, &id),
        MARGIN_EFUNDS);
    BAD(&w, margin_position_open(e, w.acct[A_POOR2], mm, MARGIN_LONG, D("0.1"), D("20000"),
                                 X(20), 0, 0, &id),
        MARGIN_EFUNDS);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_SHORT, D("10"), D("20000"), X(1), 0, 0)),
        MARGIN_EFUNDS);
    /* overflow: 9e9 * 9e6 = 8.1e16 USDT of notional (the price is below the default maximum
     * price, 10,000,000) */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("9000000000"), D("9000000"), X(1),
                                           0, 0)),
        MARGIN_EOVERFLOW);
    /* prices above the market's maximum price are out of range */
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, D("1"), D("10000000.00000001"), X(1),
                                           0, 0)),
        MARGIN_ERANGE);
    BAD(&w, margin_position_open(OPEN_ARGS(MARGIN_LONG, INT64_MAX, INT64_MAX, X(1), 0, 0)),
        MARGIN_ERANGE);
    ck_assert_uint_eq(id, 4242);
#undef OPEN_ARGS
    margin_engine_free(e);
}
END_TEST

START_TEST(test_bad_trade_close)
{
    struct world w;
    margin_engine *e;
    uint64_t p, c, l;
    world_setup(&w);
    e = w.e;
    p = w.pos[P_OPEN];
    c = w.pos[P_CLOSED];
    l = w.pos[P_LIQ];
    /* trade */
    BAD_NULL(&w, margin_position_trade(NULL, p, MARGIN_LONG, D("0.1"), D("20000"), 0));
    BAD(&w, margin_position_trade(e, 0, MARGIN_LONG, D("0.1"), D("20000"), 0), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_trade(e, 999, MARGIN_LONG, D("0.1"), D("20000"), 0),
        MARGIN_ENOTFOUND);
    BAD(&w, margin_position_trade(e, p, 0, D("0.1"), D("20000"), 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, 5, D("0.1"), D("20000"), 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, MARGIN_LONG, 0, D("20000"), 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, MARGIN_SHORT, -1, D("20000"), 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, MARGIN_LONG, D("0.1"), 0, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, MARGIN_SHORT, D("0.1"), -1, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, p, MARGIN_LONG, D("0.1"), D("20000"), 4u), MARGIN_EINVAL);
    BAD(&w, margin_position_trade(e, c, MARGIN_LONG, D("0.1"), D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_trade(e, c, MARGIN_SHORT, D("0.1"), D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_trade(e, l, MARGIN_LONG, D("0.1"), D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_trade(e, l, MARGIN_SHORT, D("0.1"), D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_trade(e, w.pos[P_GRID], MARGIN_LONG, D("0.0005"), D("20000"), 0),
        MARGIN_EGRID);
    BAD(&w, margin_position_trade(e, w.pos[P_GRID], MARGIN_SHORT, D("0.05"), D("20000.25"), 0),
        MARGIN_EGRID);
    /* funds: increase with free 0; flip that needs 200 + 2.4 but gets 100 back */
    BAD(&w, margin_position_trade(e, w.pos[P_POOR], MARGIN_LONG, D("0.1"), D("20000"), 0),
        MARGIN_EFUNDS);
    BAD(&w, margin_position_trade(e, w.pos[P_POOR], MARGIN_SHORT, D("0.3"), D("20000"), 0),
        MARGIN_EFUNDS);
    /* tier: 40 + 60 @ 20000 = 2,000,000 is in the 20x tier; the position is at 25x */
    BAD(&w, margin_position_trade(e, w.pos[P_TIER], MARGIN_LONG, D("60"), D("20000"), 0),
        MARGIN_ELEVERAGE);
    /* a flip into the 20x tier: sell 90 @ 20000 leaves short 50 @ 20000 = 1,000,000 (the
     * tier [1M, 7.5M) is inclusive at its floor) at the position's 25x; the margin it needs
     * (40000) is covered by the free balance, so only the leverage is wrong */
    BAD(&w, margin_position_trade(e, w.pos[P_TIER], MARGIN_SHORT, D("90"), D("20000"), 0),
        MARGIN_ELEVERAGE);
    /* overflow: 9e9 more @ 20000 */
    BAD(&w, margin_position_trade(e, p, MARGIN_LONG, D("9000000000"), D("20000"), 0),
        MARGIN_EOVERFLOW);

    /* close */
    BAD_NULL(&w, margin_position_close(NULL, p, D("20000"), 0));
    BAD(&w, margin_position_close(e, 0, D("20000"), 0), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_close(e, 999, D("20000"), 0), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_close(e, p, 0, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_close(e, p, -D("20000"), 0), MARGIN_EINVAL);
    BAD(&w, margin_position_close(e, p, D("20000"), 4u), MARGIN_EINVAL);
    BAD(&w, margin_position_close(e, c, D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_close(e, l, D("20000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_close(e, w.pos[P_GRID], D("20000.1"), 0), MARGIN_EGRID);
    /* above the market's maximum price (10,000,000 by default) */
    BAD(&w, margin_position_close(e, w.pos[P_BIG], INT64_MAX, 0), MARGIN_ERANGE);
    BAD(&w, margin_position_close(e, w.pos[P_BIG], D("10000000.00000001"), 0), MARGIN_ERANGE);
    margin_engine_free(e);
}
END_TEST

START_TEST(test_bad_margin_leverage_stops)
{
    struct world w;
    margin_engine *e;
    uint64_t p, c, l;
    world_setup(&w);
    e = w.e;
    p = w.pos[P_OPEN];
    c = w.pos[P_CLOSED];
    l = w.pos[P_LIQ];
    /* add margin */
    BAD_NULL(&w, margin_position_add_margin(NULL, p, D("1")));
    BAD(&w, margin_position_add_margin(e, 0, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_add_margin(e, 999, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_add_margin(e, p, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_add_margin(e, p, -D("1")), MARGIN_EINVAL);
    BAD(&w, margin_position_add_margin(e, c, D("1")), MARGIN_ECLOSED);
    BAD(&w, margin_position_add_margin(e, l, D("1")), MARGIN_ECLOSED);
    BAD(&w, margin_position_add_margin(e, w.pos[P_POOR], 1), MARGIN_EFUNDS);
    BAD(&w, margin_position_add_margin(e, p, D("100000")), MARGIN_EFUNDS);
    BAD(&w, margin_position_add_margin(e, p, INT64_MAX), MARGIN_EFUNDS);
    /* remove margin: the open position has nothing removable at entry
     * (min(100 - 8, 100 - 100) = 0) */
    BAD_NULL(&w, margin_position_remove_margin(NULL, p, D("1")));
    BAD(&w, margin_position_remove_margin(e, 0, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_remove_margin(e, 999, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_remove_margin(e, p, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_remove_margin(e, p, -1), MARGIN_EINVAL);
    BAD(&w, margin_position_remove_margin(e, c, D("1")), MARGIN_ECLOSED);
    BAD(&w, margin_position_remove_margin(e, l, D("1")), MARGIN_ECLOSED);
    BAD(&w, margin_position_remove_margin(e, p, 1), MARGIN_EMARGIN);
    BAD(&w, margin_position_remove_margin(e, p, D("100")), MARGIN_EMARGIN);
    BAD(&w, margin_position_remove_margin(e, p, INT64_MAX), MARGIN_EMARGIN);
    /* leverage */
    BAD_NULL(&w, margin_position_set_leverage(NULL, p, X(10)));
    BAD(&w, margin_position_set_leverage(e, 0, X(10)), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_set_leverage(e, 999, X(10)), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_set_leverage(e, p, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_set_leverage(e, p, -X(10)), MARGIN_EINVAL);
    BAD(&w, margin_position_set_leverage(e, p, D("0.5")), MARGIN_ELEVERAGE);
    BAD(&w, margin_position_set_leverage(e, p, D("125.00000001")), MARGIN_ELEVERAGE);
    BAD(&w, margin_position_set_leverage(e, p, X(126)), MARGIN_ELEVERAGE);
    BAD(&w, margin_position_set_leverage(e, w.pos[P_TIER], X(51)), MARGIN_ELEVERAGE);
    BAD(&w, margin_position_set_leverage(e, c, X(10)), MARGIN_ECLOSED);
    BAD(&w, margin_position_set_leverage(e, l, X(10)), MARGIN_ECLOSED);
    /* poor: 10x needs 100 more, free 0 */
    BAD(&w, margin_position_set_leverage(e, w.pos[P_POOR], X(10)), MARGIN_EFUNDS);
    /* HIGH: 125x would leave 2000/125 = 16 < MM 100 */
    BAD(&w, margin_position_set_leverage(e, w.pos[P_HIGH], X(125)), MARGIN_EMARGIN);
    /* stops */
    BAD_NULL(&w, margin_position_set_stops(NULL, p, D("19000"), 0));
    BAD(&w, margin_position_set_stops(e, 0, D("19000"), 0), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_set_stops(e, 999, D("19000"), 0), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_set_stops(e, p, -1, 0), MARGIN_EINVAL);
    BAD(&w, margin_position_set_stops(e, p, 0, -1), MARGIN_EINVAL);
    BAD(&w, margin_position_set_stops(e, c, D("19000"), 0), MARGIN_ECLOSED);
    BAD(&w, margin_position_set_stops(e, l, D("19000"), 0), MARGIN_ECLOSED);
    margin_engine_free(e);
}
END_TEST

START_TEST(test_bad_queries)
{
    struct world w;
    margin_engine *e;
    uint64_t p, c, l;
    int64_t v = 4242;
    world_setup(&w);
    e = w.e;
    p = w.pos[P_OPEN];
    c = w.pos[P_CLOSED];
    l = w.pos[P_LIQ];
    /* position_get */
    BAD_NULL(&w, margin_position_get(NULL, p, MARGIN_POS_QTY, &v));
    BAD(&w, margin_position_get(e, p, MARGIN_POS_QTY, NULL), MARGIN_EINVAL);
    BAD(&w, margin_position_get(e, p, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_get(e, p, MARGIN_POS_ADL_QUANTILE + 1, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_get(e, p, MARGIN_AT_NOTIONAL, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_get(e, 0, MARGIN_POS_QTY, &v), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_get(e, 999, MARGIN_POS_QTY, &v), MARGIN_ENOTFOUND);
    /* position_at */
    BAD_NULL(&w, margin_position_at(NULL, p, MARGIN_AT_NOTIONAL, 0, &v));
    BAD(&w, margin_position_at(e, p, MARGIN_AT_NOTIONAL, 0, NULL), MARGIN_EINVAL);
    BAD(&w, margin_position_at(e, p, 0, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_at(e, p, MARGIN_POS_QTY, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_at(e, p, 9999, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_at(e, p, MARGIN_AT_NOTIONAL, -1, &v), MARGIN_EINVAL);
    BAD(&w, margin_position_at(e, 0, MARGIN_AT_NOTIONAL, 0, &v), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_at(e, 999, MARGIN_AT_NOTIONAL, 0, &v), MARGIN_ENOTFOUND);
    BAD(&w, margin_position_at(e, c, MARGIN_AT_NOTIONAL, 0, &v), MARGIN_ECLOSED);
    BAD(&w, margin_position_at(e, l, MARGIN_AT_LIQ_PRICE, 0, &v), MARGIN_ECLOSED);
    /* 1000 * INT64_MAX price units: 9.2e13 USDT */
    BAD(&w, margin_position_at(e, w.pos[P_BIG], MARGIN_AT_NOTIONAL, INT64_MAX, &v),
        MARGIN_EOVERFLOW);
    ck_assert_int_eq(v, 4242);
    /* closed and liquidated positions can still be read */
    ck_assert_int_eq(pos_get(e, c, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_QTY), 0);
    margin_engine_free(e);
}
END_TEST

START_TEST(test_bad_accounts_marks)
{
    struct world w;
    margin_engine *e;
    uint64_t a, id = 4242, mm;
    int64_t v = 4242;
    world_setup(&w);
    e = w.e;
    a = w.acct[A_RICH];
    mm = w.mkt[M_MAIN];
    BAD(&w, margin_account_new(e, NULL), MARGIN_EINVAL);
    BAD_NULL(&w, margin_account_new(NULL, &id));
    ck_assert_uint_eq(id, 4242);
    /* deposit */
    BAD_NULL(&w, margin_account_deposit(NULL, a, D("1")));
    BAD(&w, margin_account_deposit(e, 0, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_account_deposit(e, 999, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_account_deposit(e, a, 0), MARGIN_EINVAL);
    BAD(&w, margin_account_deposit(e, a, -D("1")), MARGIN_EINVAL);
    BAD(&w, margin_account_deposit(e, a, INT64_MAX), MARGIN_EOVERFLOW);
    /* withdraw: rich's free balance is below 100000, poor's is 0 */
    BAD_NULL(&w, margin_account_withdraw(NULL, a, D("1")));
    BAD(&w, margin_account_withdraw(e, 0, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_account_withdraw(e, 999, D("1")), MARGIN_ENOTFOUND);
    BAD(&w, margin_account_withdraw(e, a, 0), MARGIN_EINVAL);
    BAD(&w, margin_account_withdraw(e, a, -1), MARGIN_EINVAL);
    BAD(&w, margin_account_withdraw(e, a, D("100000")), MARGIN_EFUNDS);
    BAD(&w, margin_account_withdraw(e, w.acct[A_POOR], 1), MARGIN_EFUNDS);
    BAD(&w,
        margin_account_withdraw(e, a, acct_get(e, a, MARGIN_ACCT_FREE_BALANCE) + 1),
        MARGIN_EFUNDS);
    /* account_get */
    BAD_NULL(&w, margin_account_get(NULL, a, MARGIN_ACCT_FREE_BALANCE, &v));
    BAD(&w, margin_account_get(e, a, MARGIN_ACCT_FREE_BALANCE, NULL), MARGIN_EINVAL);
    BAD(&w, margin_account_get(e, a, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_account_get(e, a, MARGIN_ACCT_CROSS_POSITIONS + 1, &v), MARGIN_EINVAL);
    BAD(&w, margin_account_get(e, 0, MARGIN_ACCT_FREE_BALANCE, &v), MARGIN_ENOTFOUND);
    BAD(&w, margin_account_get(e, 999, MARGIN_ACCT_FREE_BALANCE, &v), MARGIN_ENOTFOUND);
    ck_assert_int_eq(v, 4242);
    /* marks and funding */
    BAD_NULL(&w, margin_mark_update(NULL, mm, D("20000")));
    BAD(&w, margin_mark_update(e, 0, D("20000")), MARGIN_ENOTFOUND);
    BAD(&w, margin_mark_update(e, 999, D("20000")), MARGIN_ENOTFOUND);
    BAD(&w, margin_mark_update(e, mm, 0), MARGIN_EINVAL);
    BAD(&w, margin_mark_update(e, mm, -D("20000")), MARGIN_EINVAL);
    BAD_NULL(&w, margin_funding_apply(NULL, mm, D("0.0001"), D("20000")));
    BAD(&w, margin_funding_apply(e, 0, D("0.0001"), D("20000")), MARGIN_ENOTFOUND);
    BAD(&w, margin_funding_apply(e, 999, D("0.0001"), D("20000")), MARGIN_ENOTFOUND);
    BAD(&w, margin_funding_apply(e, mm, D("0.0001"), 0), MARGIN_EINVAL);
    BAD(&w, margin_funding_apply(e, mm, D("0.0001"), -1), MARGIN_EINVAL);
    BAD(&w, margin_funding_apply(e, mm, D("1"), D("20000")), MARGIN_EINVAL);
    BAD(&w, margin_funding_apply(e, mm, -D("1"), D("20000")), MARGIN_EINVAL);
    BAD(&w, margin_funding_apply(e, mm, INT64_MIN, D("20000")), MARGIN_EINVAL);
    /* engine options */
    BAD(&w, margin_engine_set(e, 0, 1), MARGIN_EINVAL);
    BAD(&w, margin_engine_set(e, MARGIN_ENG_INSURANCE_FUND, 1), MARGIN_EINVAL);
    BAD(&w, margin_engine_set(e, MARGIN_ENG_OPEN_POSITIONS, 1), MARGIN_EINVAL);
    BAD(&w, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 2), MARGIN_EINVAL);
    BAD(&w, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, -1), MARGIN_EINVAL);
    BAD(&w, margin_engine_get(e, 0, &v), MARGIN_EINVAL);
    BAD(&w, margin_engine_get(e, MARGIN_ENG_INSURANCE_DEPOSITS + 1, &v), MARGIN_EINVAL);
    BAD(&w, margin_engine_get(e, MARGIN_ENG_TIME, NULL), MARGIN_EINVAL);
    ck_assert_int_eq(v, 4242);
    margin_engine_free(e);
}
END_TEST

/* Overflow of the balances themselves: an account holding 92,000,000,000 USDT
 * (9.2e18 money units; INT64_MAX is 9.223372e18) with long 1 @ 1 at 1x (margin 1, fee
 * 0.0004). Selling at 1,000,000,000 would credit a PnL of 999,999,999 USDT (about 1e17
 * units): the free balance would pass INT64_MAX, so the close, a reduce of half
 * (5e16 units of PnL) and a deposit of 300,000,000 USDT (3e16) must fail with EOVERFLOW and
 * change nothing. */
START_TEST(test_bad_overflow_balances)
{
    struct world w;
    margin_engine *e;
    memset(&w, 0, sizeof w);
    ck_assert_int_eq(margin_engine_new(&w.e), MARGIN_OK);
    e = w.e;
    w.na = 1;
    w.nm = 1;
    w.np = 1;
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &w.mkt[0]));
    ck_assert_ok(e, margin_account_new(e, &w.acct[0]));
    ck_assert_ok(e, margin_account_deposit(e, w.acct[0], D("92000000000")));
    /* prices up to 1e10 (the default maximum is 1e7): a 1-unit position fits at any */
    ck_assert_ok(e, margin_market_set(e, w.mkt[0], MARGIN_MKT_MAX_PRICE, D("10000000000")));
    w.pos[0] = open_pos(e, w.acct[0], w.mkt[0], MARGIN_LONG, "1", "1", X(1), 0, 0);
    BAD(&w, margin_position_close(e, w.pos[0], D("1000000000"), 0), MARGIN_EOVERFLOW);
    BAD(&w, margin_position_trade(e, w.pos[0], MARGIN_SHORT, D("0.5"), D("1000000000"), 0),
        MARGIN_EOVERFLOW);
    BAD(&w, margin_account_deposit(e, w.acct[0], D("300000000")), MARGIN_EOVERFLOW);
    /* a small profit is fine: close at 2, pnl 1, 2 back, fee 0.0008 */
    ck_assert_ok(e, margin_position_close(e, w.pos[0], D("2"), 0));
    assert_conserved(e, w.acct[0]);
    ck_assert_int_eq(acct_get(e, w.acct[0], MARGIN_ACCT_FREE_BALANCE),
                     D("92000000000") - D("0.0004") + D("1") - D("0.0008"));
    margin_engine_free(e);
}
END_TEST

/* After all those rejected calls the world still works: a good call succeeds. */
START_TEST(test_bad_then_good)
{
    struct world w;
    margin_engine *e;
    world_setup(&w);
    e = w.e;
    ck_assert_rc(e, margin_position_trade(e, w.pos[P_POOR], MARGIN_SHORT, D("0.3"), D("20000"),
                                          0),
                 MARGIN_EFUNDS);
    /* the failed flip left the position whole: close it normally: 100 back, fee 0.8 */
    ck_assert_ok(e, margin_position_close(e, w.pos[P_POOR], D("20000"), 0));
    assert_conserved(e, w.acct[A_POOR]);
    ck_assert_int_eq(acct_get(e, w.acct[A_POOR], MARGIN_ACCT_FREE_BALANCE), D("99.2"));
    ck_assert_ok(e, margin_position_trade(e, w.pos[P_TIER], MARGIN_LONG, D("5"), D("20000"),
                                          0));
    assert_conserved(e, w.acct[A_RICH]);
    margin_engine_free(e);
}
END_TEST

Suite *suite_position(void)
{
    Suite *s = suite_create("position");
    TCase *open = tcase_create("open");
    TCase *trade = tcase_create("trade");
    TCase *close = tcase_create("close");
    TCase *margin = tcase_create("margin");
    TCase *queries = tcase_create("queries");
    TCase *props = tcase_create("properties");
    TCase *errors = tcase_create("errors");

    tcase_add_test(open, test_open_long);
    tcase_add_test(open, test_open_short_extra_margin);
    tcase_add_test(open, test_open_margin_only);
    tcase_add_test(open, test_open_fees);
    tcase_add_test(open, test_open_rounding);
    suite_add_tcase(s, open);

    tcase_add_test(trade, test_increase);
    tcase_add_test(trade, test_increase_rounding);
    tcase_add_test(trade, test_reduce_profit);
    tcase_add_test(trade, test_reduce_loss_rounding);
    tcase_add_test(trade, test_reduce_past_bankruptcy);
    tcase_add_test(trade, test_trade_to_zero);
    tcase_add_test(trade, test_flip);
    suite_add_tcase(s, trade);

    tcase_add_test(close, test_close_profit);
    tcase_add_test(close, test_close_short_maker);
    tcase_add_test(close, test_close_beyond_margin);
    tcase_add_test(close, test_close_fee_from_proceeds);
    tcase_add_test(close, test_close_fee_waived);
    tcase_add_test(close, test_account_wallet);
    suite_add_tcase(s, close);

    tcase_add_test(margin, test_add_margin);
    tcase_add_test(margin, test_remove_margin);
    tcase_add_test(margin, test_set_leverage);
    suite_add_tcase(s, margin);

    tcase_add_test(queries, test_queries_long);
    tcase_add_test(queries, test_queries_short);
    tcase_add_test(queries, test_query_rounding);
    tcase_add_test(queries, test_liq_none);
    tcase_add_test(queries, test_liq_entry_basis);
    tcase_add_test(queries, test_liq_mark_close_fee);
    tcase_add_test(queries, test_liq_tier_search);
    suite_add_tcase(s, queries);

    tcase_add_test(props, test_properties);
    tcase_add_test(props, test_conservation_sequence);
    tcase_set_timeout(props, 60);
    suite_add_tcase(s, props);

    tcase_add_test(errors, test_bad_open);
    tcase_add_test(errors, test_bad_trade_close);
    tcase_add_test(errors, test_bad_margin_leverage_stops);
    tcase_add_test(errors, test_bad_queries);
    tcase_add_test(errors, test_bad_accounts_marks);
    tcase_add_test(errors, test_bad_overflow_balances);
    tcase_add_test(errors, test_bad_then_good);
    suite_add_tcase(s, errors);
    return s;
}
