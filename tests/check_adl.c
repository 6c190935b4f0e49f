/* Suite "adl" (issue 14): insurance pools and auto-deleveraging, every case worked by hand
 * in its comment (scales 8/8, no trading fees, one tier at 0.5 %, no margin-call levels).
 *
 * The bankrupt position of most cases: a short of 20 at 600 with margin 1,000 (12x). Its
 * bankruptcy price is 600 + 1,000/20 = 650 and its liquidation price 650/1.005 =
 * 646.7661.. The mark gaps from 600 to 700: it is liquidated at 700 (fill at the mark),
 * and the fund receives its balance there, 1,000 - 20*(700 - 600) = -1,000: a deficit of
 * 1,000. Deleveraging a long at 650 instead of 700 takes 50 per unit from it into the
 * pool. Each case runs on the indexes (_i = 0) and on the full scan (_i = 1). */
#include <check.h>
#include <string.h>

#include "engine.h" /* the ranking filter's bound (test_filter_bound) */
#include "helpers.h"
#include "suites.h"

#define NF (MARGIN_EVF_ADL_COVERED + 1)

typedef struct {
    int32_t type;
    int64_t f[NF];
} ev_t;

/* Drain the queue into ev[0..*n) */
static void drain(margin_engine *e, ev_t *ev, size_t cap, size_t *n)
{
    int32_t t;
    *n = 0;
    while (margin_event_next(e, &t) == MARGIN_OK && t != MARGIN_EV_NONE) {
        ck_assert(*n < cap);
        ev[*n].type = t;
        ck_assert_ok(e, margin_event_fields(e, ev[*n].f, NF));
        (*n)++;
    }
}

/* The engine: market BTCUSDT (id 1), account 1 (the longs) with 1,000,000, account 2 (the
 * short) with 100,000; the mark at 600; ADL `adl` on the market's pool. */
static margin_engine *setup(int full_scan, int32_t adl, int32_t rank, uint64_t *m, uint64_t *al,
                            uint64_t *as)
{
    margin_engine *e;
    make_engine(&e, m, al, D("1000000"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_add_tier(e, *m, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_ADL, adl));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_ADL_RANKING, rank));
    ck_assert_ok(e, margin_account_new(e, as));
    ck_assert_ok(e, margin_account_deposit(e, *as, D("100000")));
    ck_assert_ok(e, margin_mark_update(e, *m, D("600")));
    return e;
}

static uint64_t open_long(margin_engine *e, uint64_t a, uint64_t m, const char *q,
                          const char *entry, const char *lev)
{
    uint64_t p;
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D(q), D(entry), D(lev), 0, 0, &p));
    return p;
}

static uint64_t bankrupt_short(margin_engine *e, uint64_t a, uint64_t m)
{
    uint64_t p;
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("20"), D("600"), 0, D("1000"),
                                         0, &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, D("600")), D("650"));
    return p;
}

/* BitMEX's published example. Six longs entered at 500 with leverage 10, 5, 4, 2, 1.25, 1
 * (bankruptcy prices 450, 400, 375, 250, 100, 0) and sizes 10, 20, 30, 10, 10, 20. BitMEX
 * score at mark P: PnL% * leverage = ((P - 500)/500) * (P/(P - BP)).
 * At 600: 100*600/(500*(600 - BP)) = 120/(600 - BP): 0.8, 0.6, 0.53333333, 0.34285714,
 * 0.24, 0.2: ranks 1 to 6, quantiles 4 - floor(5r/6) = 4, 4, 3, 2, 1, 0; the short (PnL
 * 0) scores 0 and reads 0.
 * At 700: 280/(700 - BP): 1.12, 0.93333333, 0.86153846, ... The short of 20 goes bankrupt
 * with an empty pool: need 1,000 = 20 units at 50: the first long closes in full (10:
 * credit 500, PnL at 650 10*150 = 1,500, margin 10*500/10 = 500 released), then 10 of the
 * second (credit 500, PnL 1,500, margin 20*500/5 = 2,000 of which 1,000 released). The
 * pool ends at -1,000 + 500 + 500 = 0. */
START_TEST(test_bitmex_example)
{
    static const char *const lev[6] = {"10", "5", "4", "2", "1.25", "1"};
    static const char *const qty[6] = {"10", "20", "30", "10", "10", "20"};
    static const int64_t q600[6] = {4, 4, 3, 2, 1, 0};
    uint64_t m, al, as, p[6], s;
    ev_t ev[32];
    size_t n, i;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BITMEX, &m, &al, &as);
    for (i = 0; i < 6; i++)
        p[i] = open_long(e, al, m, qty[i], "500", lev[i]);
    s = bankrupt_short(e, as, m);
    ck_assert_int_eq(pos_get(e, p[0], MARGIN_POS_ADL_SCORE), D("0.8"));
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_ADL_SCORE), D("0.6"));
    ck_assert_int_eq(pos_get(e, p[2], MARGIN_POS_ADL_SCORE), 53333333);
    ck_assert_int_eq(pos_get(e, p[3], MARGIN_POS_ADL_SCORE), 34285714);
    ck_assert_int_eq(pos_get(e, p[4], MARGIN_POS_ADL_SCORE), D("0.24"));
    ck_assert_int_eq(pos_get(e, p[5], MARGIN_POS_ADL_SCORE), D("0.2"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_ADL_SCORE), 0);
    ck_assert_ok(e, margin_market_adl_quantiles(e, m));
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(pos_get(e, p[i], MARGIN_POS_ADL_QUANTILE), q600[i]);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_ADL_QUANTILE), 0);
    drain(e, ev, 32, &n);

    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 32, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ev[0].type, MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_POSITION], (int64_t)s);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_INSURANCE_DELTA], -D("1000"));
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_ADL_COVERED], D("1000"));
    ck_assert_int_eq(ev[1].type, MARGIN_EV_ADL);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_POSITION], (int64_t)p[0]);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_COUNTERPARTY], (int64_t)s);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_PRICE], D("650"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_FILL], MARGIN_FILL_BANKRUPTCY);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_FEE], 0);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_REALIZED_PNL], D("1500"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_INSURANCE_DELTA], D("500"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_AMOUNT], -D("500"));
    ck_assert_int_eq(ev[2].type, MARGIN_EV_ADL);
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_POSITION], (int64_t)p[1]);
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_REALIZED_PNL], D("1500"));
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_INSURANCE_DELTA], D("500"));
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_AMOUNT], -D("1000"));
    ck_assert_int_eq(pos_get(e, p[0], MARGIN_POS_STATUS), MARGIN_STATUS_DELEVERAGED);
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_MARGIN), D("1000"));
    for (i = 2; i < 6; i++)
        ck_assert_int_eq(pos_get(e, p[i], MARGIN_POS_QTY), D(qty[i]));
    ck_assert_int_eq(pos_get(e, p[2], MARGIN_POS_ADL_SCORE), 86153846); /* 280/325 */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    ck_assert_int_eq(acct_get(e, al, MARGIN_ACCT_REALIZED_PNL), D("3000"));
    assert_conserved(e, al);
    assert_conserved(e, as);
    margin_engine_free(e);
}
END_TEST

/* Binance's score, max(0, uPnL)/max(1, W) * MM/(W + uPnL) (the first ratio rounded down to
 * 8 decimals, then the product), W the isolated margin, at 700:
 *  - A: 10 at 500, 10x: W 500, uPnL 2,000, MM 10*700*0.005 = 35:
 *    2,000/500 * 35/2,500 = 0.056;
 *  - B: 20 at 600, 2x: W 6,000, uPnL 2,000, MM 70: 2,000/6,000 * 70/8,000 = 0.0029166..
 *    -> 0.00291666 (down);
 *  - C: 10 at 800, 1x: a loss, 0.
 * (BitMEX would rank them A: (200/500)*700/250 = 1.12; B: PnL% 100/600 = 0.16666666 (rounded
 * down first), times 700/400: 0.29166665 (down).)
 * The short's deficit of 1,000 needs 20 units: A closes in full (credit 500), then 10 of
 * B (credit 500); C is untouched. */
START_TEST(test_binance_ranking)
{
    uint64_t m, al, as, a, b, c, s;
    ev_t ev[16];
    size_t n;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    b = open_long(e, al, m, "20", "600", "2");
    a = open_long(e, al, m, "10", "500", "10");
    c = open_long(e, al, m, "10", "800", "1");
    s = bankrupt_short(e, as, m);
    ck_assert_ok(e, margin_mark_update(e, m, D("640"))); /* not yet liquidated */
    drain(e, ev, 16, &n);
    ck_assert_int_eq(pos_at(e, a, MARGIN_AT_UNREALIZED_PNL, D("700")), D("2000"));
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 16, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_POSITION], (int64_t)a);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_POSITION], (int64_t)b);
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(pos_get(e, c, MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(pos_get(e, c, MARGIN_POS_ADL_SCORE), 0);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    /* B's score at 700 with 10 left (margin 6,000 - 6,000*10/20 = 3,000): uPnL 1,000, MM 35:
     * 1,000/3,000 * 35/4,000 = 0.00291666.. */
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_MARGIN), D("3000"));
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_ADL_SCORE), 291666);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, al);
    margin_engine_free(e);
}
END_TEST

/* The scores of A and B on their own (before any deleveraging). */
START_TEST(test_binance_scores)
{
    uint64_t m, al, as, a, b;
    margin_engine *e = setup(_i, MARGIN_ADL_OFF, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    a = open_long(e, al, m, "10", "500", "10");
    b = open_long(e, al, m, "10", "600", "2");
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_ADL_SCORE), D("0.056"));
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_ADL_SCORE), 291666);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX));
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_ADL_SCORE), D("1.12"));
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_ADL_SCORE), 29166665);
    margin_engine_free(e);
}
END_TEST

/* ADL off (the default): the pool takes the whole deficit and goes to -1,000; nobody is
 * deleveraged. */
START_TEST(test_adl_off)
{
    uint64_t m, al, as, a;
    ev_t ev[8];
    size_t n;
    margin_engine *e = setup(_i, MARGIN_ADL_OFF, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    a = open_long(e, al, m, "10", "500", "10");
    (void)bankrupt_short(e, as, m);
    drain(e, ev, 8, &n);
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 8, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_ADL_COVERED], 0);
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), -D("1000"));
    {
        int64_t v = 0;
        ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_INSURANCE, &v));
        ck_assert_int_eq(v, -D("1000"));
    }
    assert_pools(e);
    margin_engine_free(e);
}
END_TEST

/* A seeded pool with a floor: 600 seeded, floor 200. The deficit of 1,000 may take the pool
 * to 200 (400 from it); ADL covers the other 600: 12 units of the long (credit 12*50).
 * The pool ends at 600 - 1,000 + 600 = 200, the floor. With 1,200 seeded the pool pays it
 * all (1,200 - 1,000 = 200): no ADL. */
START_TEST(test_floor)
{
    uint64_t m, al, as, a, s;
    ev_t ev[8];
    size_t n;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    drain(e, ev, 8, &n);
    ck_assert_ok(e, margin_insurance_deposit(e, m, D("600")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_INSURANCE_FLOOR, D("200")));
    drain(e, ev, 8, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ev[0].type, MARGIN_EV_INSURANCE_DEPOSIT);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_AMOUNT], D("600"));
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_INSURANCE_DELTA], D("600"));
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_MARKET], (int64_t)m);
    a = open_long(e, al, m, "20", "500", "10");
    s = bankrupt_short(e, as, m);
    drain(e, ev, 8, &n);
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 8, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_POSITION], (int64_t)s);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_ADL_COVERED], D("600"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_QTY], D("12"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_INSURANCE_DELTA], D("600"));
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_QTY), D("8"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("200"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS), D("600"));
    assert_conserved(e, al);
    margin_engine_free(e);

    e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    ck_assert_ok(e, margin_insurance_deposit(e, m, D("1200")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_INSURANCE_FLOOR, D("200")));
    a = open_long(e, al, m, "20", "500", "10");
    (void)bankrupt_short(e, as, m);
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_QTY), D("20"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("200"));
    margin_engine_free(e);
}
END_TEST

/* A cross long is deleveraged: account 3 holds 5,000, cross in the market, long 20 at 500
 * (10x). The deficit of 1,000 takes all of it (credit 20*50 = 1,000): its PnL at 650,
 * 20*150 = 3,000, goes to its wallet: 8,000; its book is empty. An account with no
 * position (account 4) pays nothing. */
START_TEST(test_cross_deleveraged)
{
    uint64_t m, al, as, ac, ae, c, s;
    ev_t ev[8];
    size_t n;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    ck_assert_ok(e, margin_account_new(e, &ac));
    ck_assert_ok(e, margin_account_deposit(e, ac, D("5000")));
    ck_assert_ok(e, margin_account_set_mode(e, ac, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_new(e, &ae));
    ck_assert_ok(e, margin_account_deposit(e, ae, D("77")));
    ck_assert_ok(e, margin_position_open(e, ac, m, MARGIN_LONG, D("20"), D("500"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &c));
    s = bankrupt_short(e, as, m);
    drain(e, ev, 8, &n);
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 8, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ev[1].type, MARGIN_EV_ADL);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_POSITION], (int64_t)c);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_COUNTERPARTY], (int64_t)s);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_MODE], MARGIN_MODE_CROSS);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_QTY], D("20"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_REALIZED_PNL], D("3000"));
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_AMOUNT], 0);
    ck_assert_int_eq(pos_get(e, c, MARGIN_POS_STATUS), MARGIN_STATUS_DELEVERAGED);
    ck_assert_int_eq(acct_get(e, ac, MARGIN_ACCT_FREE_BALANCE), D("8000"));
    ck_assert_int_eq(acct_get(e, ac, MARGIN_ACCT_CROSS_POSITIONS), 0);
    ck_assert_int_eq(acct_get(e, ae, MARGIN_ACCT_FREE_BALANCE), D("77"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, ac);
    margin_engine_free(e);
}
END_TEST

/* Pools: BTCUSDT (1) and ETHUSDT (2) share 1's pool; SOLUSDT (3) has its own.
 * Deposits of 100 into 1 and 50 into 2 both land in 1's pool (150, read alike through 1
 * and 2); 30 into 3. The fund is 180, the deposits 180. Refusals (nothing changes): 1
 * cannot join 3 while 2 shares its pool; 3 cannot join 1 with 30 in its own; 4 (LTCUSDT)
 * cannot join 2, which shares 1's pool (no chains). The pool's options are set through
 * any market of it. A clearance fee in market 2 (tier 0.5 %; long 1 at 600, margin 100:
 * liquidation price 500/0.995 = 502.51..; the mark to 501: balance 1; the fee
 * 0.01*501 = 5.01 capped at 1) goes to 1's pool: 151. */
START_TEST(test_pools)
{
    margin_engine *e;
    uint64_t m1, m2, m3, m4, a, p;
    int64_t v = 0;
    make_engine(&e, &m1, &a, D("100000"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, _i));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &m2));
    ck_assert_ok(e, margin_market_new(e, "SOLUSDT", &m3));
    ck_assert_ok(e, margin_market_new(e, "LTCUSDT", &m4));
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_INSURANCE_POOL, &v));
    ck_assert_int_eq(v, (int64_t)m2);
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_INSURANCE_POOL, (int64_t)m1));
    ck_assert_ok(e, margin_insurance_deposit(e, m1, D("100")));
    ck_assert_ok(e, margin_insurance_deposit(e, m2, D("50")));
    ck_assert_ok(e, margin_insurance_deposit(e, m3, D("30")));
    ck_assert_ok(e, margin_market_get(e, m1, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, D("150"));
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, D("150"));
    ck_assert_ok(e, margin_market_get(e, m3, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, D("30"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("180"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS), D("180"));
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_INSURANCE_POOL, (int64_t)m3),
                 MARGIN_ESTATE);
    ck_assert_rc(e, margin_market_set(e, m3, MARGIN_MKT_INSURANCE_POOL, (int64_t)m1),
                 MARGIN_ESTATE);
    ck_assert_rc(e, margin_market_set(e, m4, MARGIN_MKT_INSURANCE_POOL, (int64_t)m2),
                 MARGIN_ESTATE);
    ck_assert_rc(e, margin_market_set(e, m4, MARGIN_MKT_INSURANCE_POOL, 99), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_INSURANCE, 5), MARGIN_EINVAL);
    ck_assert_rc(e, margin_insurance_deposit(e, m1, 0), MARGIN_EINVAL);
    ck_assert_rc(e, margin_insurance_deposit(e, 99, 1), MARGIN_ENOTFOUND);
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_INSURANCE_FLOOR, -1), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_ADL, 2), MARGIN_EINVAL);
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_ADL_RANKING, 2), MARGIN_EINVAL);
    ck_assert_ok(e, margin_market_get(e, m4, MARGIN_MKT_INSURANCE_POOL, &v));
    ck_assert_int_eq(v, (int64_t)m4);
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_ADL, MARGIN_ADL_ON));
    ck_assert_ok(e, margin_market_get(e, m1, MARGIN_MKT_ADL, &v));
    ck_assert_int_eq(v, MARGIN_ADL_ON);
    ck_assert_ok(e, margin_market_get(e, m3, MARGIN_MKT_ADL, &v));
    ck_assert_int_eq(v, MARGIN_ADL_OFF);
    /* the clearance fee of a liquidation in market 2 */
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_LIQ_FEE, D("0.01")));
    ck_assert_ok(e, margin_market_add_tier(e, m2, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_position_open(e, a, m2, MARGIN_LONG, D("1"), D("600"), 0, D("100"), 0,
                                         &p));
    ck_assert_ok(e, margin_mark_update(e, m2, D("501")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_ok(e, margin_market_get(e, m1, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, D("151"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("181"));
    assert_conserved(e, a);
    /* 2 returns to its own pool (empty, ADL off); 1, no longer shared, still holds 151:
     * it cannot join 3 */
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_INSURANCE_POOL, (int64_t)m2));
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, 0);
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_ADL, &v));
    ck_assert_int_eq(v, MARGIN_ADL_OFF);
    ck_assert_rc(e, margin_market_set(e, m1, MARGIN_MKT_INSURANCE_POOL, (int64_t)m3),
                 MARGIN_ESTATE);
    ck_assert_ok(e, margin_market_set(e, m4, MARGIN_MKT_INSURANCE_POOL, (int64_t)m3));
    ck_assert_ok(e, margin_insurance_deposit(e, m4, D("4")));
    ck_assert_ok(e, margin_market_get(e, m3, MARGIN_MKT_INSURANCE, &v));
    ck_assert_int_eq(v, D("34"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("185"));
    assert_pools(e);
    margin_engine_free(e);
}
END_TEST

/* A deleveraging that cannot be staged changes nothing: with the event cap at the
 * liquidation's own event, the update fails with MARGIN_EFULL and the state hash is as
 * before. */
START_TEST(test_atomic)
{
    uint64_t m, al, as, a, s;
    uint64_t h0 = 0, h1 = 0;
    ev_t ev[8];
    size_t n;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    a = open_long(e, al, m, "20", "500", "10");
    s = bankrupt_short(e, as, m);
    drain(e, ev, 8, &n);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1));
    ck_assert_ok(e, margin_state_hash(e, &h0));
    ck_assert_rc(e, margin_mark_update(e, m, D("700")), MARGIN_EFULL);
    ck_assert_ok(e, margin_state_hash(e, &h1));
    ck_assert_uint_eq(h0, h1);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_QTY), D("20"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 0));
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_QTY), 0);
    margin_engine_free(e);
}
END_TEST

/* The BitMEX example inside a candle (open 600, high 700, low 600, close 700: the path
 * 600, 600, 700, 700): the same deleveraging at the third point, whose mark is 700. The
 * longs' keys lie outside the bar, so the candle's first scratch run holds only the short;
 * the deleveraging sends it round again with the whole market. */
START_TEST(test_candle)
{
    static const char *const lev[6] = {"10", "5", "4", "2", "1.25", "1"};
    static const char *const qty[6] = {"10", "20", "30", "10", "10", "20"};
    uint64_t m, al, as, p[6], s;
    ev_t ev[32];
    size_t n, i;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BITMEX, &m, &al, &as);
    for (i = 0; i < 6; i++)
        p[i] = open_long(e, al, m, qty[i], "500", lev[i]);
    s = bankrupt_short(e, as, m);
    drain(e, ev, 32, &n);
    ck_assert_ok(e, margin_mark_candle(e, m, D("600"), D("700"), D("600"), D("700"),
                                       MARGIN_PATH_UPDOWN));
    drain(e, ev, 32, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_POSITION], (int64_t)s);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_PATH_POINT], 3);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_ADL_COVERED], D("1000"));
    ck_assert_int_eq(ev[1].type, MARGIN_EV_ADL);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_POSITION], (int64_t)p[0]);
    ck_assert_int_eq(ev[1].f[MARGIN_EVF_PATH_POINT], 3);
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_POSITION], (int64_t)p[1]);
    ck_assert_int_eq(ev[2].f[MARGIN_EVF_QTY], D("10"));
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, al);
    margin_engine_free(e);
}
END_TEST

/* More counterparties than the first ranking keeps (64): 150 longs of 0.2 at 500, 10x, all
 * with the same score (ties go by id). The short's deficit of 1,000 needs 20 units at 50:
 * the first 100 longs by id, in full; the other 50 are untouched. */
START_TEST(test_many_counterparties)
{
    uint64_t m, al, as, p[150], s;
    static ev_t ev[160];
    size_t n, i;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    for (i = 0; i < 150; i++)
        p[i] = open_long(e, al, m, "0.2", "500", "10");
    s = bankrupt_short(e, as, m);
    drain(e, ev, 160, &n);
    ck_assert_ok(e, margin_mark_update(e, m, D("700")));
    drain(e, ev, 160, &n);
    ck_assert_uint_eq(n, 101);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_POSITION], (int64_t)s);
    ck_assert_int_eq(ev[0].f[MARGIN_EVF_ADL_COVERED], D("1000"));
    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(ev[1 + i].f[MARGIN_EVF_POSITION], (int64_t)p[i]);
        ck_assert_int_eq(ev[1 + i].f[MARGIN_EVF_QTY], D("0.2"));
        ck_assert_int_eq(ev[1 + i].f[MARGIN_EVF_INSURANCE_DELTA], D("10"));
    }
    for (i = 100; i < 150; i++)
        ck_assert_int_eq(pos_get(e, p[i], MARGIN_POS_QTY), D("0.2"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, al);
    margin_engine_free(e);
}
END_TEST

/* The filter of the ranking (lib/insurance.c, cannot_reach: positions that cannot make the
 * top are not scored) against the reference, which scores every position: two engines, one
 * on the indexes and one on the full scan, hold the same 3,000 random longs (entries 400 to
 * 599, leverage 1 to 50, sizes 0.001 to 5, on four tiers with a fee to close) and a short
 * whose bankruptcy takes 40 to 200 units of them; the mark gaps; both must deleverage the
 * same positions by the same amounts, event for event. Seeds vary the sizes and tiers. */
START_TEST(test_filter_against_reference)
{
    uint64_t rng = 0xAD1 + (uint64_t)_i * 7777, m[2], al[2], as[2], id;
    static ev_t ev[2][512];
    size_t n[2], i, k;
    margin_engine *e[2];
    int64_t qb = D("1") * (int64_t)(40 + splitmix64(&rng) % 160);
    for (k = 0; k < 2; k++) {
        make_engine(&e[k], &m[k], &al[k], D("100000000"));
        ck_assert_ok(e[k], margin_engine_set(e[k], MARGIN_ENG_FULL_SCAN, (int64_t)k));
        ck_assert_ok(e[k], margin_engine_set_margin_call_levels(e[k], NULL, 0));
        ck_assert_ok(e[k], margin_market_set(e[k], m[k], MARGIN_MKT_TAKER_FEE, 0));
        ck_assert_ok(e[k], margin_market_set(e[k], m[k], MARGIN_MKT_STEP, D("0.001")));
        ck_assert_ok(e[k], margin_market_set(e[k], m[k], MARGIN_MKT_CLOSE_FEE, D("0.0005")));
        ck_assert_ok(e[k], margin_market_add_tier(e[k], m[k], 0, D("0.005"), 0, 0));
        ck_assert_ok(e[k], margin_market_add_tier(e[k], m[k], D("1000"), D("0.01"), 0,
                                                  MARGIN_DERIVE));
        ck_assert_ok(e[k], margin_market_add_tier(e[k], m[k], D("2000"), D("0.02"), 0,
                                                  MARGIN_DERIVE));
        ck_assert_ok(e[k], margin_market_add_tier(e[k], m[k], D("2500"), D("0.05"), 0,
                                                  MARGIN_DERIVE));
        ck_assert_ok(e[k], margin_market_set(e[k], m[k], MARGIN_MKT_ADL, MARGIN_ADL_ON));
        ck_assert_ok(e[k], margin_account_new(e[k], &as[k]));
        ck_assert_ok(e[k], margin_account_deposit(e[k], as[k], D("100000000")));
        ck_assert_ok(e[k], margin_mark_update(e[k], m[k], D("600")));
        ck_assert_ok(e[k], margin_engine_set(e[k], MARGIN_ENG_EVENT_QUEUE, 0));
    }
    for (i = 0; i < 3000; i++) {
        int64_t q = D("0.001") * (int64_t)(1 + splitmix64(&rng) % 5000);
        int64_t entry = D("1") * (int64_t)(400 + splitmix64(&rng) % 200);
        int64_t lev = D("1") * (int64_t)(1 + splitmix64(&rng) % 50);
        int rc[2];
        for (k = 0; k < 2; k++)
            rc[k] = margin_position_open(e[k], al[k], m[k], MARGIN_LONG, q, entry, lev, 0, 0, &id);
        ck_assert_int_eq(rc[0], rc[1]); /* (a tier's maximum leverage may refuse one) */
    }
    for (k = 0; k < 2; k++) {
        ck_assert_ok(e[k], margin_engine_set(e[k], MARGIN_ENG_EVENT_QUEUE, 1));
        /* the short: margin 50 per unit at 600 (bankruptcy price 650) */
        ck_assert_ok(e[k], margin_position_open(e[k], as[k], m[k], MARGIN_SHORT, qb, D("600"), 0,
                                                qb / 100000000 * D("50"), 0, &id));
        drain(e[k], ev[k], 512, &n[k]);
        ck_assert_ok(e[k], margin_mark_update(e[k], m[k], D("700")));
        drain(e[k], ev[k], 512, &n[k]);
    }
    ck_assert_uint_eq(n[0], n[1]);
    ck_assert_uint_gt(n[0], 1);
    for (i = 0; i < n[0]; i++) {
        ck_assert_int_eq(ev[0][i].type, ev[1][i].type);
        for (k = 1; k < NF; k++)
            ck_assert_int_eq(ev[0][i].f[k], ev[1][i].f[k]);
    }
    for (k = 0; k < 2; k++) {
        assert_conserved(e[k], al[k]);
        margin_engine_free(e[k]);
    }
}
END_TEST

/* The filter's bound itself (lib/insurance.c, cannot_reach), position by position: it may
 * rule a position out only when the position's exact score is below the bar, so at a bar
 * equal to the score it must never do so; and it must be tight enough to be worth having:
 * at a bar a sixteenth above the score (plus 2) it rules out at least 99 % of the
 * positions. Losses and
 * flat positions score 0 and are always ruled out. Four markets (_i): scales 8/8 (a
 * native notional is money * 10^8), 2/3 (money / 1000), 1/7 (money itself) and 10/10
 * (money * 10^12); four tiers at 0.5 %, 1 %, 2 % and 5 % from 0, 1,000, 2,000 and 2,500
 * with derived maintenance amounts except the third (an amount of 3, below the derived
 * 15); a fee to close of 0.05 %; 3,000 random longs and shorts (entries 400 to 599, sizes
 * 0.001 to 5, margins 1 to 3,000; those the market refuses are skipped), each judged at 20
 * random marks from 300 to 699. */
START_TEST(test_filter_bound)
{
    static const int32_t ps[4] = {8, 2, 1, 10}, qs[4] = {8, 3, 7, 10};
    uint64_t rng = 0xF17 + (uint64_t)_i, m, a, id;
    int64_t pu = 1, qu = 1, j;
    long judged = 0, tight = 0, zero = 0, opened = 0;
    margin_engine *e;
    int i;
    for (j = 0; j < ps[_i]; j++)
        pu *= 10;
    for (j = 0; j < qs[_i] - 3; j++)
        qu *= 10; /* 0.001 */
    make_engine(&e, &m, &a, D("10000000000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, ps[_i]));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, qs[_i]));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TICK, 1));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STEP, 1));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CLOSE_FEE, D("0.0005")));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.01"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("2000"), D("0.02"), 0, D("3")));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("2500"), D("0.05"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
    ck_assert_ok(e, margin_mark_update(e, m, 500 * pu));
    for (i = 0; i < 3000; i++) {
        int64_t q = qu * (int64_t)(1 + splitmix64(&rng) % 5000);
        int64_t entry = pu * (int64_t)(400 + splitmix64(&rng) % 200);
        int64_t margin = D("1") * (int64_t)(1 + splitmix64(&rng) % 3000);
        int side = splitmix64(&rng) % 2 ? MARGIN_LONG : MARGIN_SHORT;
        const margin__position *p;
        int k;
        if (margin_position_open(e, a, m, side, q, entry, 0, margin, 0, &id) != MARGIN_OK)
            continue; /* (above a tier's leverage, or liquidatable at 500) */
        opened++;
        p = &MARGIN__POS(e, id - 1);
        for (k = 0; k < 20; k++) {
            int64_t mark = pu * (int64_t)(300 + splitmix64(&rng) % 400);
            int64_t score = margin__adl_score(e, p, mark);
            if (score <= 0) {
                ck_assert_int_eq(margin__adl_filtered(e, p, mark, 1), 1);
                zero++;
                continue;
            }
            ck_assert_msg(!margin__adl_filtered(e, p, mark, score),
                          "position %llu at mark %lld: score %lld ruled out at its own score",
                          (unsigned long long)id, (long long)mark, (long long)score);
            ck_assert(score < INT64_MAX / 4);
            judged++;
            tight += margin__adl_filtered(e, p, mark, score + score / 16 + 2);
        }
    }
    ck_assert_int_gt(opened, 1000);
    ck_assert_int_gt(judged, 5000);
    ck_assert_int_gt(zero, 5000);
    ck_assert_msg(tight * 100 >= judged * 99, "ruled out %ld of %ld a sixteenth above the score", tight,
                  judged);
    margin_engine_free(e);
}
END_TEST

/* Deleveraging in a funding round: the BitMEX example's two first longs and the short,
 * funding at rate 0.001 with the mark at 700. Flows at 700 (longs pay, shorts receive, per
 * unit 700 * 0.001 = 0.7): the 10x long of 10 pays 7 (margin 493), the 5x long of 20 pays
 * 14 (margin 1,986), the short receives 14 (margin 1,014). At 700 the short is liquidated
 * with the state funding left it: deficit 1,014 - 20 * 100 = -986, bankruptcy price
 * 600 + 1,014/20 = 650.7, so each unit deleveraged pays 700 - 650.7 = 49.3 and 986/49.3 =
 * 20 units are needed: the first long in full (10: PnL at 650.7 is 10 * 150.7 = 1,507,
 * credit 493, its margin 493 released), then 10 of the second (PnL 1,507, credit 493,
 * half its margin after funding: 993). The pool ends at 0. */
START_TEST(test_funding)
{
    uint64_t m, al, as, a, b, s;
    ev_t ev[16];
    size_t n, i, k = 0;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BITMEX, &m, &al, &as);
    a = open_long(e, al, m, "10", "500", "10");
    b = open_long(e, al, m, "20", "500", "5");
    s = bankrupt_short(e, as, m);
    drain(e, ev, 16, &n);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.001"), D("700")));
    drain(e, ev, 16, &n);
    for (i = 0; i < n; i++) {
        if (ev[i].type == MARGIN_EV_LIQUIDATION) {
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_POSITION], (int64_t)s);
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_INSURANCE_DELTA], -D("986"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_ADL_COVERED], D("986"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_BANKRUPTCY_PRICE], D("650.7"));
        }
        if (ev[i].type != MARGIN_EV_ADL)
            continue;
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_POSITION], (int64_t)(k == 0 ? a : b));
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_PRICE], D("650.7"));
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_QTY], D("10"));
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_REALIZED_PNL], D("1507"));
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_INSURANCE_DELTA], D("493"));
        ck_assert_int_eq(ev[i].f[MARGIN_EVF_AMOUNT], k == 0 ? -D("493") : -D("993"));
        k++;
    }
    ck_assert_uint_eq(k, 2);
    ck_assert_int_eq(pos_get(e, a, MARGIN_POS_STATUS), MARGIN_STATUS_DELEVERAGED);
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(pos_get(e, b, MARGIN_POS_MARGIN), D("993"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, al);
    assert_conserved(e, as);
    margin_engine_free(e);
}
END_TEST

/* A bankrupt cross book: account 3 holds 1,000, cross, long 20 at 600 (20x): its book's
 * bankruptcy price is 600 - 1,000/20 = 550. The mark gaps to 500: the book is liquidated
 * with a deficit of 1,000 - 20 * 100 = -1,000 (an empty pool, floor 0), and the shorts
 * (account 1, both at 700) are deleveraged at 550, paying 50 per unit: by Binance's score
 * at 500, S1 (10, 10x: uPnL 2,000, margin 700, MM 25) scores floor(2.85714285 * 25/2,700)
 * = 0.02645502, S2 (20, 5x: 4,000, 2,800, MM 50) floor(1.42857142 * 50/6,800) =
 * 0.01050420: S1 in full (PnL at 550: 10 * 150 = 1,500, credit 500, margin 700 released),
 * then 10 of S2 (1,500, credit 500, 1,400 of its 2,800 released). The account's cross
 * liquidation event says ADL covered 1,000; the pool ends at 0. */
START_TEST(test_cross_bankrupt)
{
    uint64_t m, al, as, ac, c, s1, s2;
    ev_t ev[16];
    size_t n, i, k = 0;
    int seen = 0;
    margin_engine *e = setup(_i, MARGIN_ADL_ON, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    ck_assert_ok(e, margin_account_new(e, &ac));
    ck_assert_ok(e, margin_account_deposit(e, ac, D("1000")));
    ck_assert_ok(e, margin_account_set_mode(e, ac, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, ac, m, MARGIN_LONG, D("20"), D("600"), D("20"), 0,
                                         MARGIN_FLAG_CROSS, &c));
    ck_assert_ok(e, margin_position_open(e, al, m, MARGIN_SHORT, D("10"), D("700"), D("10"), 0,
                                         0, &s1));
    ck_assert_ok(e, margin_position_open(e, al, m, MARGIN_SHORT, D("20"), D("700"), D("5"), 0,
                                         0, &s2));
    drain(e, ev, 16, &n);
    ck_assert_ok(e, margin_mark_update(e, m, D("500")));
    ck_assert_int_eq(pos_get(e, s1, MARGIN_POS_ADL_SCORE), 0); /* (closed) */
    drain(e, ev, 16, &n);
    for (i = 0; i < n; i++) {
        if (ev[i].type == MARGIN_EV_LIQUIDATION) {
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_POSITION], (int64_t)c);
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_BANKRUPTCY_PRICE], D("550"));
        } else if (ev[i].type == MARGIN_EV_CROSS_LIQUIDATION) {
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_AMOUNT], D("1000"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_INSURANCE_DELTA], -D("1000"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_ADL_COVERED], D("1000"));
            seen = 1;
        } else if (ev[i].type == MARGIN_EV_ADL) {
            ck_assert(seen); /* after the account's liquidation */
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_POSITION], (int64_t)(k == 0 ? s1 : s2));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_COUNTERPARTY], (int64_t)c);
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_PRICE], D("550"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_QTY], D("10"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_REALIZED_PNL], D("1500"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_INSURANCE_DELTA], D("500"));
            ck_assert_int_eq(ev[i].f[MARGIN_EVF_AMOUNT], k == 0 ? -D("700") : -D("1400"));
            k++;
        }
    }
    ck_assert_uint_eq(k, 2);
    ck_assert_int_eq(pos_get(e, s1, MARGIN_POS_STATUS), MARGIN_STATUS_DELEVERAGED);
    ck_assert_int_eq(pos_get(e, s2, MARGIN_POS_QTY), D("10"));
    ck_assert_int_eq(acct_get(e, ac, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, ac);
    assert_conserved(e, al);
    margin_engine_free(e);
}
END_TEST

/* The scores of that case, before the gap (at 500 without the cross book's liquidation). */
START_TEST(test_cross_bankrupt_scores)
{
    uint64_t m, al, as, s1, s2;
    margin_engine *e = setup(_i, MARGIN_ADL_OFF, MARGIN_ADL_RANK_BINANCE, &m, &al, &as);
    ck_assert_ok(e, margin_position_open(e, al, m, MARGIN_SHORT, D("10"), D("700"), D("10"), 0,
                                         0, &s1));
    ck_assert_ok(e, margin_position_open(e, al, m, MARGIN_SHORT, D("20"), D("700"), D("5"), 0,
                                         0, &s2));
    ck_assert_ok(e, margin_mark_update(e, m, D("500")));
    ck_assert_int_eq(pos_get(e, s1, MARGIN_POS_ADL_SCORE), 2645502);
    ck_assert_int_eq(pos_get(e, s2, MARGIN_POS_ADL_SCORE), 1050420);
    margin_engine_free(e);
}
END_TEST

Suite *suite_adl(void)
{
    Suite *s = suite_create("adl");
    TCase *tc = tcase_create("ranking");
    tcase_add_loop_test(tc, test_bitmex_example, 0, 2);
    tcase_add_loop_test(tc, test_binance_ranking, 0, 2);
    tcase_add_loop_test(tc, test_binance_scores, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("pools");
    tcase_add_loop_test(tc, test_adl_off, 0, 2);
    tcase_add_loop_test(tc, test_floor, 0, 2);
    tcase_add_loop_test(tc, test_pools, 0, 2);
    tcase_add_loop_test(tc, test_cross_deleveraged, 0, 2);
    tcase_add_loop_test(tc, test_atomic, 0, 2);
    tcase_add_loop_test(tc, test_candle, 0, 2);
    tcase_add_loop_test(tc, test_many_counterparties, 0, 2);
    tcase_add_loop_test(tc, test_filter_against_reference, 0, 6);
    tcase_add_loop_test(tc, test_filter_bound, 0, 4);
    tcase_add_loop_test(tc, test_funding, 0, 2);
    tcase_add_loop_test(tc, test_cross_bankrupt, 0, 2);
    tcase_add_loop_test(tc, test_cross_bankrupt_scores, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
