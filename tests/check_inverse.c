/* Suite "inverse": inverse (coin-margined) contracts, every number worked by hand in the
 * comment beside it or published by a venue. Scales 8/8 (a quantity of 1 is 10^8 units:
 * one contract), money in the coin (BTC), no trading fees unless said.
 *
 * Notation: N = contracts x contract size (USD), s = +1 long, -1 short, E entry, P price,
 * M margin, L leverage. Value N/P; PnL s*N*(1/E - 1/P); initial margin N/(E*L);
 * bankruptcy price N/(N/E + s*M); liquidation price N*(mmr + s)/(M + cum + s*N/E) (mark
 * basis), s*N/(M + s*N/E - N*mmr/E) (entry basis). */
#include <check.h>

#include "helpers.h"
#include "suites.h"

/* An engine with one inverse market BTCUSD (contract size `csize` USD, one tier at `mmr`
 * from 0 with no maintenance amount, no fees, no margin-call levels), the mark at `mark`,
 * and account 1 holding `deposit`. */
static margin_engine *inverse_engine(const char *csize, const char *mmr, int32_t basis,
                                     const char *mark, const char *deposit, uint64_t *m,
                                     uint64_t *a)
{
    margin_engine *e;
    make_engine(&e, m, a, D(deposit));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_CONTRACT_SIZE, D(csize)));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_MAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, *m, MARGIN_MKT_MM_BASIS, basis));
    if (mmr != NULL)
        ck_assert_ok(e, margin_market_add_tier(e, *m, 0, D(mmr), 0, 0));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_mark_update(e, *m, D(mark)));
    return e;
}

static uint64_t open_pos(margin_engine *e, uint64_t a, uint64_t m, int32_t side,
                         const char *contracts, const char *entry, const char *lev,
                         const char *margin)
{
    uint64_t p;
    ck_assert_ok(e, margin_position_open(e, a, m, side, D(contracts), D(entry),
                                         lev ? D(lev) : 0, margin ? D(margin) : 0, 0, &p));
    return p;
}

/* BitMEX's inverse futures guide: 100,000 contracts of 1 USD bought at 10,000 and sold at
 * 10,500 earn 100,000 x (1/10,000 - 1/10,500) = 100,000 x 500 / 105,000,000 =
 * 0.476190476.. XBT, 0.47619047 rounded down. At 10x the margin is N/(E*L) = 100,000 /
 * 100,000 = 1 XBT exactly, the value at entry N/E = 10 XBT, and at 10,500 the unrealized
 * PnL is the same 0.47619047 and the value 100,000/10,500 = 9.52380952.. (up: 9.52380953). */
START_TEST(test_bitmex_guide)
{
    uint64_t m, a, p;
    margin_engine *e = inverse_engine("1", NULL, MARGIN_MM_BASIS_MARK, "10000", "100", &m, &a);
    p = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, D("10000")), D("10"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_UNREALIZED_PNL, D("10500")), D("0.47619047"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, D("10500")), D("9.52380953"));
    ck_assert_ok(e, margin_position_close(e, p, D("10500"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("0.47619047"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("100.47619047"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Bybit, classic inverse (maintenance at entry), mmr 0.5 %, 10x, entry 2,000: with
 * M = N/(E*L) the liquidation price is E*L/(L + 1 - L*mmr) = 20,000/10.95 =
 * 1,826.48401826.. for a long (rounded up: 1,826.48401827; Bybit shows 1,826.48) and
 * E*L/(L - 1 + L*mmr) = 20,000/9.05 = 2,209.94475138.. for a short (rounded down; Bybit
 * 2,209.94). 1,000 contracts of 1 USD: M = 1,000/20,000 = 0.05 BTC. The bankruptcy prices
 * are E*L/(L + 1) = 1,818.18181818.. (up: ..82) and E*L/(L - 1) = 2,222.22222222.. (down). */
START_TEST(test_bybit_entry_basis)
{
    uint64_t m, a, l, s;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_ENTRY, "2000", "10", &m, &a);
    l = open_pos(e, a, m, MARGIN_LONG, "1000", "2000", "10", NULL);
    s = open_pos(e, a, m, MARGIN_SHORT, "1000", "2000", "10", NULL);
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("0.05"));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_LIQ_PRICE), D("1826.48401827"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_LIQ_PRICE), D("2209.94475138"));
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_BANKRUPTCY_PRICE, D("2000")), D("1818.18181819"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_BANKRUPTCY_PRICE, D("2000")), D("2222.22222222"));
    /* maintenance at entry: (N/E)*mmr = 0.5 * 0.005 = 0.0025 BTC at any mark */
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_MAINT_MARGIN, D("1900")), D("0.0025"));
    margin_engine_free(e);
}
END_TEST

/* Binance COIN-M's public case: wallet 101 BTC, long 100,000 contracts of 100 USD at
 * 45,000 (N = 10,000,000 USD), the tier of 12.5 % with maintenance amount 11.81 BTC:
 *   LP = N*(mmr + 1) / (M + cum + N/E) = 11,250,000 / (101 + 11.81 + 222.2222..)
 *      = 33,578.8597448338.. (up: 33,578.85974484), 33,578.86 as the formula gives
 * (Binance's web calculator shows 33,599.40: docs/formulas.md). The value there is
 * 10,000,000 / 33,578.86 = 297.8 BTC, inside the tier from 250 (a tier of 0.4 % below
 * it). The margin of 101 BTC is an isolated margin here: leverage N/E / M = 222.22 / 101,
 * rounded up at scale 8: 2.20022003. */
START_TEST(test_binance_coin_m)
{
    uint64_t m, a, p;
    margin_engine *e = inverse_engine("100", NULL, MARGIN_MM_BASIS_MARK, "45000", "200", &m, &a);
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("250"), D("0.125"), 0, D("11.81")));
    p = open_pos(e, a, m, MARGIN_LONG, "100000", "45000", NULL, "101");
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), D("2.20022003"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("33578.85974484"));
    /* the tier at the liquidation price: 12.5 % with 11.81 */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, D("33578.85974484")), D("0.125"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, D("33578.85974484")), D("11.81"));
    /* and at 45,000 (value 222.22 BTC) the first tier: MM = 222.2222.. x 0.004 =
     * 0.88888888.. (up: 0.88888889) */
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, D("45000")), D("0.004"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("45000")), D("0.88888889"));
    margin_engine_free(e);
}
END_TEST

/* A long at 10,000, 10x, 100,000 contracts of 1 USD (N/E = 10 BTC, M = 1), mark basis,
 * mmr 0.5 %: LP = N*1.005 / (M + N/E) = 100,500 / 11 = 9,136.36363636.. (up:
 * 9,136.36363637). A mark at 9,136.36363638 leaves it open; at 9,136.36363637 it is
 * liquidated. A second, identical long liquidated by a gap to 8,000 loses exactly its
 * margin: its balance there is 1 + 100,000 x (1/10,000 - 1/8,000) = 1 - 2.5 = -1.5, and
 * the insurance pool takes the deficit of 1.5 (ADL off). The first was liquidated at its
 * liquidation price: balance 1 + 100,000 x (1/10,000 - 1/9,136.36363637) =
 * 1 - 0.94527363.. (PnL rounded down: -0.94527364), so the pool receives 0.05472636. */
START_TEST(test_liquidation_by_mark)
{
    uint64_t m, a, p, q;
    int64_t pool = 0;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    p = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("9136.36363637"));
    ck_assert_ok(e, margin_mark_update(e, m, D("9136.36363638")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_mark_update(e, m, D("9136.36363637")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), -D("1"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_INSURANCE, &pool));
    ck_assert_int_eq(pool, D("0.05472636"));
    ck_assert_ok(e, margin_mark_update(e, m, D("10000")));
    q = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_ok(e, margin_mark_update(e, m, D("8000")));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_REALIZED_PNL), -D("1"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_INSURANCE, &pool));
    ck_assert_int_eq(pool, D("0.05472636") - D("1.5"));
    /* the account lost the two margins and nothing else */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* A short of 100,000 contracts of 1 USD at 10,000 with 1x (M = N/E = 10 BTC) can never
 * lose more than its margin: at any price its loss N/E - N/P is below N/E. It has no
 * bankruptcy or liquidation price (INT64_MAX) and survives the maximum price. At 2x
 * (M = 5): BP = N/(N/E - M) = 100,000/5 = 20,000 exactly; LP (mmr 0.5 %, mark basis)
 * = N*(mmr - 1)/(M - N/E) = 100,000 x 0.995 / 5 = 19,900 exactly. */
START_TEST(test_short_without_bankruptcy)
{
    uint64_t m, a, p, q;
    int64_t top = 0;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "100", &m, &a);
    p = open_pos(e, a, m, MARGIN_SHORT, "100000", "10000", "1", NULL);
    q = open_pos(e, a, m, MARGIN_SHORT, "100000", "10000", "2", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("10"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, D("10000")), INT64_MAX);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), INT64_MAX);
    ck_assert_int_eq(pos_at(e, q, MARGIN_AT_BANKRUPTCY_PRICE, D("10000")), D("20000"));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_LIQ_PRICE), D("19900"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MAX_PRICE, &top));
    ck_assert_ok(e, margin_mark_update(e, m, top));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Adding to a long: 100 contracts at 10,000 then 100 at 20,000. The entry is the
 * harmonic mean 200 / (100/10,000 + 100/20,000) = 200 / 0.015 = 13,333.3333..
 * (long: up, 13,333.33333334), not the arithmetic 15,000: the position's value at any P
 * stays the sum of the two, 200/P. Fees: taker 0.05 % on the value, N/P x 0.0005:
 * 0.01 x 0.0005 = 0.000005 BTC for the first (100/10,000 = 0.01 BTC), 0.005 x 0.0005 =
 * 0.0000025 for the second. */
START_TEST(test_harmonic_entry_and_fees)
{
    uint64_t m, a, p;
    margin_engine *e = inverse_engine("1", NULL, MARGIN_MM_BASIS_MARK, "10000", "1", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, D("0.0005")));
    p = open_pos(e, a, m, MARGIN_LONG, "100", "10000", "5", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.000005"));
    ck_assert_ok(e, margin_mark_update(e, m, D("20000")));
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("100"), D("20000"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("13333.33333334"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("0.0000075"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Funding: the long of 100,000 contracts of 1 USD at 10,000 (10x, M = 1) and a short of
 * the same, rate 0.0001 at the mark 10,000: the value is 10 BTC, so the long pays and the
 * short receives 10 x 0.0001 = 0.001 BTC: margins 0.999 and 1.001. */
START_TEST(test_funding)
{
    uint64_t m, a, l, s;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    l = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    s = open_pos(e, a, m, MARGIN_SHORT, "100000", "10000", "10", NULL);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("10000")));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_MARGIN), D("0.999"));
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_MARGIN), D("1.001"));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_FUNDING), -D("0.001"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* One settlement asset per engine: a second market takes the first one's contract type
 * and asset; changing either while another market exists fails with MARGIN_EASSET and
 * changes nothing; a market alone may change them until it has had positions
 * (MARGIN_ESTATE). Marks and fills below the minimum price (0.01 by default on an inverse
 * market) are refused (MARGIN_ERANGE). */
START_TEST(test_one_asset_per_engine)
{
    uint64_t m, a, m2, p;
    int64_t v = -1;
    margin_engine *e = inverse_engine("1", NULL, MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_SETTLE_ASSET, 1));
    ck_assert_ok(e, margin_market_new(e, "BTCUSD_Q", &m2));
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_CONTRACT, &v));
    ck_assert_int_eq(v, MARGIN_CONTRACT_INVERSE);
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_SETTLE_ASSET, &v));
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(margin_market_set(e, m2, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_LINEAR),
                     MARGIN_EASSET);
    ck_assert_int_eq(margin_market_set(e, m2, MARGIN_MKT_SETTLE_ASSET, 2), MARGIN_EASSET);
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_SETTLE_ASSET, &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MIN_PRICE, &v));
    ck_assert_int_eq(v, D("0.01"));
    ck_assert_int_eq(margin_mark_update(e, m, D("0.00999999")), MARGIN_ERANGE);
    ck_assert_int_eq(margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("0.00999999"), D("1"),
                                          0, 0, &p),
                     MARGIN_ERANGE);
    p = open_pos(e, a, m, MARGIN_LONG, "100", "10000", "2", NULL);
    ck_assert_int_eq(margin_market_set(e, m, MARGIN_MKT_CONTRACT_SIZE, D("100")), MARGIN_ESTATE);
    (void)p;
    margin_engine_free(e);
    /* a linear engine refuses an inverse market beside its first */
    make_engine(&e, &m, &a, D("10"));
    ck_assert_ok(e, margin_market_new(e, "BTCUSD", &m2));
    ck_assert_int_eq(margin_market_set(e, m2, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE),
                     MARGIN_EASSET);
    ck_assert_ok(e, margin_market_get(e, m2, MARGIN_MKT_CONTRACT, &v));
    ck_assert_int_eq(v, MARGIN_CONTRACT_LINEAR);
    margin_engine_free(e);
}
END_TEST

/* The liquidation price in 384 bits: at price scale 2 and quantity scale 18, 5 contracts of
 * 100 million USD are n = 5 x 10^18 x 10^16 units, and n*(mmr + 1) passes 2^127, so the
 * 128-bit path cannot hold it. A long at 10,000, 10x (M = N/(E*L) = 5,000 BTC), mmr 0.5 %:
 * N*1.005/(M + N/E) = 502,500,000 / 55,000 = 9,136.3636.. (a long's rounds up, at price
 * scale 2: 9,136.37). */
START_TEST(test_wide_liquidation_price)
{
    uint64_t m, a, p;
    margin_engine *e;
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CONTRACT_SIZE, D("100000000")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 18));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAKER_FEE, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_ok(e, margin_mark_update(e, m, 1000000));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, 5000000000000000000LL, 1000000,
                                         D("10"), 0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("5000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), 913637);
    margin_engine_free(e);
}
END_TEST

/* Cross mode on inverse markets. With one cross leg the account's wallet W plays the
 * part of an isolated margin: W + s*N*(1/E - 1/P) = (N/P)*mmr gives the isolated
 * formula, so the cross liquidation price equals the isolated one with M = W.
 * Long, 100,000 contracts of 1 USD at 10,000, W = 1, mmr 0.5 %: 100,500/11 =
 * 9,136.36363636.. (up: 9,136.36363637, as test_liquidation_by_mark); bankruptcy
 * N/(N/E + W) = 100,000/11 = 9,090.90909090.. (up: 9,090.90909091). Short, same size, W = 1:
 * N*(mmr - 1)/(W - N/E) = 99,500/9 = 11,055.55555555.. (down: 11,055.55555555).
 * Entry basis (MM fixed at (N/E)*mmr = 0.05), long, W = 1: N/(W + N/E - 0.05) = 100,000 /
 * 10.95 = 9,132.42009132.. (up: 9,132.42009133), the isolated entry-basis formula.
 * Two BTC-settled markets (a perpetual and a quarterly), W = 2: the perpetual's long as
 * above, the quarterly's short of 50,000 contracts at 10,500 with its mark at 10,500 (PnL 0,
 * MM ceil(50,000/10,500 x 0.005) = ceil(0.02380952..) = 0.02380953). The long's price:
 * 2 + 10 - 100,000/P - 0.02380953 = 500/P, P = 100,500/11.97619047 = 8,391.65010374..
 * (up: 8,391.65010375). The short's, the long at its mark 10,000 (PnL 0, MM 0.05):
 * 2 + 50,000/P - 50,000/10,500 - 0.05 = 250/P, P = 49,750/2.81190476.. = 17,692.63336155..
 * (down). A gap of the perpetual to 5,000 liquidates the book: its balance there is
 * 2 + 100,000 x (1/10,000 - 1/5,000) + 0 = -8, so both legs close, the wallet ends at 0
 * and the insurance pool takes the deficit of 8 (ADL off). */
START_TEST(test_cross_mode)
{
    uint64_t m, a, b, m2, p, q, x;
    int64_t pool0 = 0, pool1 = 0;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "1", &m, &a);
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("10")));
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("100000"), D("10000"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &p));
    q = open_pos(e, b, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, D("10000")), D("9136.36363637"));
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_LIQ_PRICE), D("9136.36363637"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_BANKRUPTCY_PRICE, D("10000")), D("9090.90909091"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), D("0.05"));
    ck_assert_ok(e, margin_position_close(e, p, D("10000"), 0));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("1"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("100000"), D("10000"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, D("10000")), D("11055.55555555"));
    ck_assert_ok(e, margin_position_close(e, p, D("10000"), 0));
    assert_conserved(e, a);
    margin_engine_free(e);

    e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_ENTRY, "10000", "1", &m, &a);
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("100000"), D("10000"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, D("10000")), D("9132.42009133"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), D("0.05"));
    margin_engine_free(e);

    e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "2", &m, &a);
    ck_assert_ok(e, margin_market_new(e, "BTCUSD_Q", &m2));
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, m2, MARGIN_MKT_MAKER_FEE, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m2, 0, D("0.005"), 0, 0));
    ck_assert_ok(e, margin_mark_update(e, m2, D("10500")));
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_set_mode(e, a, m2, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("100000"), D("10000"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &p));
    ck_assert_ok(e, margin_position_open(e, a, m2, MARGIN_SHORT, D("50000"), D("10500"), D("10"), 0,
                                         MARGIN_FLAG_CROSS, &x));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_LIQ_PRICE, D("10000")), D("8391.65010375"));
    ck_assert_int_eq(pos_at(e, x, MARGIN_AT_LIQ_PRICE, D("10500")), D("17692.63336155"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), D("0.05") + D("0.02380953"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_INSURANCE, &pool0));
    /* (the book is evaluated on its rounded figures, PnL down and maintenance up, which
     * reach the liquidation a few 10^-8 BTC earlier than the exact price: 0.0001 above it
     * the book stands) */
    ck_assert_ok(e, margin_mark_update(e, m, D("8391.6502")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_ok(e, margin_mark_update(e, m, D("5000")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, x, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_INSURANCE, &pool1));
    ck_assert_int_eq(pool1 - pool0, -D("8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* BitMEX's ADL ranking on an inverse market, where values are -s*N/P: PnL% = s(P - E)/P
 * and the effective leverage BP / s(P - BP). 10,000 contracts of 1 USD at 10,000, 10x
 * (M = 0.1 BTC), the mark at 11,000.
 * The long: BP = N/(N/E + M) = 10,000/1.1 = 9,090.90909090.. (up: 9,090.90909091), gap
 * P - BP = 1,909.09090909; PnL% = 1,000/11,000 = 0.09090909 (down, at scale 8: 9,090,909);
 * score = floor(9,090,909 x 909,090,909,091 / 190,909,090,909) = 43,290,042 (0.43290042).
 * The short: BP = N/(N/E - M) = 10,000/0.9 = 11,111.11111111 (down), gap BP - P =
 * 111.11111111; PnL% = -1,000/11,000 = -0.09090910 (floor: -9,090,910), a loss, so
 * PnL% / leverage = floor(-9,090,910 x 11,111,111,111 / 1,111,111,111,111) = -90,910. */
START_TEST(test_bitmex_ranking)
{
    uint64_t m, a, l, s;
    margin_engine *e = inverse_engine("1", "0.005", MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX));
    l = open_pos(e, a, m, MARGIN_LONG, "10000", "10000", "10", NULL);
    s = open_pos(e, a, m, MARGIN_SHORT, "10000", "10000", "10", NULL);
    ck_assert_int_eq(pos_at(e, l, MARGIN_AT_BANKRUPTCY_PRICE, D("10000")), D("9090.90909091"));
    ck_assert_int_eq(pos_at(e, s, MARGIN_AT_BANKRUPTCY_PRICE, D("10000")), D("11111.11111111"));
    ck_assert_ok(e, margin_mark_update(e, m, D("11000")));
    ck_assert_int_eq(pos_get(e, l, MARGIN_POS_ADL_SCORE), 43290042);
    ck_assert_int_eq(pos_get(e, s, MARGIN_POS_ADL_SCORE), -90910);
    margin_engine_free(e);
}
END_TEST

/* Partial liquidation on inverse markets, whole contracts (step 1). A long of 100,000
 * contracts of 1 USD at 10,000, 10x (M = 1 BTC), fills at the mark, no clearance fee.
 * Min-reduce, one tier of 1 %: LP = 100,000 x 1.01 / 11 = 9,181.82; the mark gaps to 9,100.
 * Selling q at 9,100 leaves M' = 1 + floor(q x (1/10,000 - 1/9,100)) and a remainder of
 * Q - q whose liquidation price is (Q - q) x 1.01 / (M' + (Q - q)/10,000). For q = 90,000:
 * M' = 1 - 0.89010990 = 0.10989010, remainder 10,000: 10,100 / 1.10989010 = 9,100.0000811
 * (up: 9,100.00008109) >= 9,100, still liquidatable; for q = 90,001: M' = 1 - 0.89011979 =
 * 0.10988021, remainder 9,999: 10,098.99 / 1.10978021 = 9,099.99106941 < 9,100. So 90,001
 * contracts are sold (realized -0.89011979) and 9,999 stay with 0.10988021.
 * Tier-down, tiers 1 % from 0 and 5 % from 5 BTC (derived amount 5 x 0.04 = 0.2): LP =
 * 100,000 x 1.05 / (1 + 0.2 + 10) = 9,375 exactly (value there 10.67 BTC: the second
 * tier). At 9,375 the position keeps the largest remainder worth at most 5 BTC there:
 * floor(5 x 9,375) = 46,875 contracts; the 53,125 sold realize 53,125 x (1/10,000 -
 * 1/9,375) = -0.354166.. (down: -0.35416667), M' = 0.64583333, and the remainder's
 * liquidation price, still in the second tier (its value there 5.27 BTC), is
 * 46,875 x 1.05 / (0.64583333 + 0.2 + 4.6875) = 8,894.95482464 (up). */
START_TEST(test_partial_policies)
{
    uint64_t m, a, p;
    margin_engine *e = inverse_engine("1", "0.01", MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STEP, D("1"))); /* whole contracts */
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    p = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("9181.81818182"));
    ck_assert_ok(e, margin_mark_update(e, m, D("9100")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("9999"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("0.10988021"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), -D("0.89011979"));
    assert_conserved(e, a);
    margin_engine_free(e);

    e = inverse_engine("1", "0.01", MARGIN_MM_BASIS_MARK, "10000", "10", &m, &a);
    ck_assert_ok(e, margin_market_add_tier(e, m, D("5"), D("0.05"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STEP, D("1")));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_TIER_DOWN));
    p = open_pos(e, a, m, MARGIN_LONG, "100000", "10000", "10", NULL);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("9375"));
    ck_assert_ok(e, margin_mark_update(e, m, D("9375")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("46875"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("0.64583333"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), -D("0.35416667"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("8894.95482464"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

Suite *suite_inverse(void)
{
    Suite *s = suite_create("inverse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bitmex_guide);
    tcase_add_test(tc, test_bybit_entry_basis);
    tcase_add_test(tc, test_binance_coin_m);
    tcase_add_test(tc, test_liquidation_by_mark);
    tcase_add_test(tc, test_short_without_bankruptcy);
    tcase_add_test(tc, test_harmonic_entry_and_fees);
    tcase_add_test(tc, test_funding);
    tcase_add_test(tc, test_one_asset_per_engine);
    tcase_add_test(tc, test_cross_mode);
    tcase_add_test(tc, test_wide_liquidation_price);
    tcase_add_test(tc, test_bitmex_ranking);
    tcase_add_test(tc, test_partial_policies);
    suite_add_tcase(s, tc);
    return s;
}
