/* Suite "triggers": mark prices drive the engine (issue 4). Margin calls, liquidation at
 * the liquidation price, gaps past the bankruptcy price, stops and take-profits, funding,
 * isolation and the event stream, each on a case computed by hand in the comment above it.
 *
 * Common ground (unless a test says otherwise): market BTCUSDT with the defaults (price and
 * quantity scale 8, one tier mmr 0.004 / cum 0, close fee f 0, policy mark, taker 0.0004).
 * Spec formulas used (docs: /work/shared/spec/margin-math.md, include/margin.h):
 *   M   = Q*E/L (rounded up)                    open fee = taker * Q*E (rounded up)
 *   LP  = (M + cum - s*Q*E) / (Q*(mmr + f) - s*Q)   long rounded up, short down
 *   level price (margin call at level l) = (l*(M - s*Q*E) + cum) / (Q*(mmr + f - l*s))
 *   BP  = E - s*M/Q
 *   liquidation: realized PnL = -M; insurance delta = s*Q*(mark - E) + M
 *   funding: payment s*Q*mark*rate, paid rounded up, received rounded down.
 * With s = +1 (long), cum = 0, f = 0, mmr = 0.004: LP = (Q*E - M) / (0.996*Q) and the
 * level-l price is l*(Q*E - M) / (Q*(l - 0.004)).
 * With s = -1 (short): LP = (M + Q*E) / (1.004*Q) and the level-l price is
 * l*(M + Q*E) / (Q*(l + 0.004)). */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* ------------------------------------------------------------------ event helpers */

#define NF (MARGIN_EVF_LEVERAGE + 1)
typedef struct {
    int64_t f[NF];
} ev_t;

static void read_current(const margin_engine *e, ev_t *ev)
{
    memset(ev, 0, sizeof *ev);
    for (int32_t k = 1; k < NF; k++)
        ck_assert_ok(e, margin_event_get(e, k, &ev->f[k]));
}

/* Take every queued event (at most max) into out; returns how many. */
static size_t drain(margin_engine *e, ev_t *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        int32_t type = -1;
        ck_assert_ok(e, margin_event_next(e, &type));
        if (type == MARGIN_EV_NONE)
            break;
        ck_assert_msg(n < max, "more than %zu events queued", max);
        read_current(e, &out[n]);
        ck_assert_int_eq(out[n].f[MARGIN_EVF_TYPE], type);
        n++;
    }
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENTS_PENDING), 0);
    return n;
}

/* Drop everything queued so far (setup events). */
static void flush(margin_engine *e)
{
    ev_t tmp[64];
    drain(e, tmp, 64);
}

/* Assert that the queue is empty. */
static void expect_no_events(margin_engine *e)
{
    ev_t tmp[8];
    size_t n = drain(e, tmp, 8);
    ck_assert_msg(n == 0, "expected no event, got %zu (first type %lld, position %lld)", n,
                  (long long)tmp[0].f[MARGIN_EVF_TYPE], (long long)tmp[0].f[MARGIN_EVF_POSITION]);
}

#define F_(ev, k) ((ev).f[MARGIN_EVF_##k])

static uint64_t open_pos(margin_engine *e, uint64_t acct, uint64_t mkt, int32_t side,
                         const char *qty, const char *price, const char *lev)
{
    uint64_t id = 0;
    ck_assert_ok(e, margin_position_open(e, acct, mkt, side, D(qty), D(price), D(lev), 0, 0, &id));
    ck_assert_uint_ne(id, 0);
    return id;
}

static void mark(margin_engine *e, uint64_t mkt, const char *p)
{
    ck_assert_ok(e, margin_mark_update(e, mkt, D(p)));
}

static void no_levels(margin_engine *e)
{
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
}

/* The seed-like long used by many tests: Q = 1, E = 20000, L = 20 on 10000 USDT.
 *   M = 20000/20 = 1000; open fee = 0.0004*20000 = 8; free = 10000 - 1000 - 8 = 8992.
 *   LP = 19000/0.996 = 19076.305220883534... -> up: 19076.30522089.
 *   BP = 20000 - 1000/1 = 19000.
 *   level 0.8 price = 0.8*19000/0.796 = 19095.477386934673... -> up: 19095.47738694.
 *   level 0.9 price = 0.9*19000/0.896 = 19084.821428571428... -> up: 19084.82142858. */
static void setup_long(margin_engine **e, uint64_t *mkt, uint64_t *acct, uint64_t *pos)
{
    make_engine(e, mkt, acct, D("10000"));
    *pos = open_pos(*e, *acct, *mkt, MARGIN_LONG, "1", "20000", "20");
    ck_assert_int_eq(pos_get(*e, *pos, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(acct_get(*e, *acct, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(pos_get(*e, *pos, MARGIN_POS_LIQ_PRICE), D("19076.30522089"));
    flush(*e);
}

/* The short used by many tests: Q = 1, E = 20000, L = 10 on 10000 USDT.
 *   M = 20000/10 = 2000; open fee = 8; free = 10000 - 2000 - 8 = 7992.
 *   LP = (2000 + 20000)/1.004 = 21912.350597609561... -> down: 21912.35059760.
 *   BP = 20000 + 2000/1 = 22000.
 *   level 0.8 price = 0.8*22000/0.804 = 21890.547263681592... -> down: 21890.54726368. */
static void setup_short(margin_engine **e, uint64_t *mkt, uint64_t *acct, uint64_t *pos)
{
    make_engine(e, mkt, acct, D("10000"));
    *pos = open_pos(*e, *acct, *mkt, MARGIN_SHORT, "1", "20000", "10");
    ck_assert_int_eq(pos_get(*e, *pos, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_int_eq(acct_get(*e, *acct, MARGIN_ACCT_FREE_BALANCE), D("7992"));
    ck_assert_int_eq(pos_get(*e, *pos, MARGIN_POS_LIQ_PRICE), D("21912.3505976"));
    flush(*e);
}

/* ------------------------------------------------------------------ liquidation */

/* Long liquidated exactly at LP = 19076.30522089 (see setup_long); one price unit above
 * (19076.30522090) it survives. At mark = LP:
 *   realized PnL = -M = -1000; free balance stays 8992;
 *   insurance delta = Q*(mark - E) + M = 19076.30522089 - 20000 + 1000 = 76.30522089
 *   (= Q*(mark - BP) = 19076.30522089 - 19000). */
START_TEST(test_long_liq_exact_lp)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    no_levels(e);

    mark(e, m, "19076.3052209");
    expect_no_events(e);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 1);

    mark(e, m, "19076.30522089");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p);
    ck_assert_int_eq(F_(ev[0], ACCOUNT), (int64_t)a);
    ck_assert_int_eq(F_(ev[0], MARKET), (int64_t)m);
    ck_assert_int_eq(F_(ev[0], PRICE), D("19076.30522089"));
    ck_assert_int_eq(F_(ev[0], QTY), D("1"));
    ck_assert_int_eq(F_(ev[0], POSITION_QTY), 0);
    ck_assert_int_eq(F_(ev[0], MARGIN), 0);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(F_(ev[0], FEE), 0);
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("19076.30522089"));
    ck_assert_int_eq(F_(ev[0], BANKRUPTCY_PRICE), D("19000"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("76.30522089"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("8992"));

    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("76.30522089"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 1);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Short liquidated exactly at LP = 21912.35059760 (setup_short); one unit below
 * (21912.35059759) it survives. At mark = LP:
 *   realized PnL = -2000; free stays 7992;
 *   insurance delta = s*Q*(mark - E) + M = -(21912.3505976 - 20000) + 2000 = 87.6494024
 *   (= s*Q*(mark - BP) = -(21912.3505976 - 22000)). */
START_TEST(test_short_liq_exact_lp)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_short(&e, &m, &a, &p);
    no_levels(e);

    mark(e, m, "21912.35059759");
    expect_no_events(e);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);

    mark(e, m, "21912.3505976");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p);
    ck_assert_int_eq(F_(ev[0], PRICE), D("21912.3505976"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-2000"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("21912.3505976"));
    ck_assert_int_eq(F_(ev[0], BANKRUPTCY_PRICE), D("22000"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("87.6494024"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("7992"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("7992"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("87.6494024"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Long gaps from no mark straight to 18500, past BP = 19000:
 *   realized PnL = -M = -1000 (not -1500);
 *   insurance delta = Q*(18500 - 20000) + 1000 = -500 (= Q*(mark - BP) = 18500 - 19000).
 * Money across account and insurance fund: deposits - fees + market PnL of the fill
 *   = 10000 - 8 + 1*(18500 - 20000) = 8492 = free 8992 + isolated 0 + fund (-500). */
START_TEST(test_long_gap_past_bp)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);

    mark(e, m, "18500");
    /* the default margin-call level is on, but no margin call when the update liquidates */
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], PRICE), D("18500"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(F_(ev[0], BANKRUPTCY_PRICE), D("19000"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("-500"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-500"));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE) +
                         acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN) +
                         eng_get(e, MARGIN_ENG_INSURANCE_FUND),
                     D("8492"));
    margin_engine_free(e);
}
END_TEST

/* Short gaps to 23000, past BP = 22000:
 *   realized PnL = -2000; insurance delta = -(23000 - 20000) + 2000 = -1000.
 * Conservation: 10000 - 8 + (-1)*(23000 - 20000) = 6992 = free 7992 + 0 + fund (-1000). */
START_TEST(test_short_gap_past_bp)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_short(&e, &m, &a, &p);

    mark(e, m, "23000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-2000"));
    ck_assert_int_eq(F_(ev[0], BANKRUPTCY_PRICE), D("22000"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("-1000"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-1000"));
    assert_conserved(e, a);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE) +
                         acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN) +
                         eng_get(e, MARGIN_ENG_INSURANCE_FUND),
                     D("6992"));
    margin_engine_free(e);
}
END_TEST

/* Gap with a fractional quantity, where s*Q*(mark - E) has more than 8 decimals.
 * Long Q = 0.123, E = 20000, L = 10: M = 2460/10 = 246; BP = 20000 - 246/0.123 = 18000.
 * Mark 17999.99999999: Q*(mark - E) = 0.123 * -2000.00000001 = -246.00000000123, a PnL,
 * rounded down (toward minus infinity, so that rounding creates no money) to -246.00000001;
 * insurance delta = -246.00000001 + 246 = -0.00000001. Realized PnL is exactly -246. */
START_TEST(test_gap_rounding)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    make_engine(&e, &m, &a, D("10000"));
    p = open_pos(e, a, m, MARGIN_LONG, "0.123", "20000", "10");
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("246"));
    flush(e);
    mark(e, m, "17999.99999999");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-246"));
    ck_assert_int_eq(F_(ev[0], BANKRUPTCY_PRICE), D("18000"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("-0.00000001"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-0.00000001"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Liquidation is irreversible: after the long is liquidated at 18000, the mark goes back to
 * 25000; nothing reopens, and every operation on the position gives MARGIN_ECLOSED. */
START_TEST(test_liq_irreversible)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    int64_t out = 0, free_after, fund_after;
    setup_long(&e, &m, &a, &p);
    mark(e, m, "18000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    free_after = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    fund_after = eng_get(e, MARGIN_ENG_INSURANCE_FUND);

    mark(e, m, "25000");
    expect_no_events(e);
    mark(e, m, "20000");
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("20000")));
    expect_no_events(e);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 1);

    ck_assert_rc(e, margin_position_close(e, p, D("25000"), 0), MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_trade(e, p, MARGIN_LONG, D("1"), D("25000"), 0),
                 MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_trade(e, p, MARGIN_SHORT, D("1"), D("25000"), 0),
                 MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_add_margin(e, p, D("100")), MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_remove_margin(e, p, D("1")), MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_set_leverage(e, p, D("10")), MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_set_stops(e, p, D("15000"), D("30000")), MARGIN_ECLOSED);
    ck_assert_rc(e, margin_position_at(e, p, MARGIN_AT_LIQ_PRICE, 0, &out), MARGIN_ECLOSED);
    expect_no_events(e);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), free_after);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), fund_after);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ margin calls */

/* Default level 0.8 on the long of setup_long: level price 19095.47738694 (rounded up).
 *   19095.47738695 -> nothing (above).
 *   19095.47738694 -> margin call (ratio MM/B = 0.004*19095.47738694 / 95.47738694
 *                     = 0.79999999995..., so 0.8 after rounding up; allow 0.80000001 for
 *                     MM rounded up before dividing).
 *   19095, 19090   -> nothing: still below, not re-armed.
 *   19100          -> nothing, but re-armed (above the level price).
 *   19095          -> margin call again: MM = 0.004*19095 = 76.38, B = 1000 + 19095 - 20000
 *                     = 95, ratio = 76.38/95 = 0.804 exactly.
 *   19200, then 19095.47738694 -> re-armed, fires a third time. */
START_TEST(test_margin_call_rearm)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);

    mark(e, m, "19095.47738695");
    expect_no_events(e);

    mark(e, m, "19095.47738694");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p);
    ck_assert_int_eq(F_(ev[0], ACCOUNT), (int64_t)a);
    ck_assert_int_eq(F_(ev[0], MARKET), (int64_t)m);
    ck_assert_int_eq(F_(ev[0], SIDE), MARGIN_LONG);
    ck_assert_int_eq(F_(ev[0], PRICE), D("19095.47738694"));
    ck_assert_int_eq(F_(ev[0], LEVEL), D("0.8"));
    ck_assert_int_ge(F_(ev[0], MARGIN_RATIO), D("0.8"));
    ck_assert_int_le(F_(ev[0], MARGIN_RATIO), D("0.80000001"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("19076.30522089"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("1000"));
    ck_assert_int_eq(F_(ev[0], POSITION_QTY), D("1"));
    ck_assert_int_eq(F_(ev[0], ENTRY_PRICE), D("20000"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("8992"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), 0);
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), 0);

    mark(e, m, "19095");
    expect_no_events(e);
    mark(e, m, "19090");
    expect_no_events(e);
    mark(e, m, "19100");
    expect_no_events(e);

    mark(e, m, "19095");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], PRICE), D("19095"));
    ck_assert_int_eq(F_(ev[0], MARGIN_RATIO), D("0.804"));
    ck_assert_int_eq(F_(ev[0], LEVEL), D("0.8"));

    mark(e, m, "19200");
    expect_no_events(e);
    mark(e, m, "19095.47738694");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);

    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1000"));
    margin_engine_free(e);
}
END_TEST

/* Short margin call at 0.8: level price 0.8*22000/0.804 = 21890.547263681592... rounded
 * down to 21890.54726368 (setup_short). 21890.54726367 -> nothing; 21890.54726368 -> call;
 * 21900 -> nothing (still above, not re-armed); 21890 -> re-armed; 21891 -> call again:
 * MM = 0.004*21891 = 87.564, B = 2000 - (21891 - 20000) = 109, ratio 87.564/109
 * = 0.803339449..., rounded up 0.80333945. */
START_TEST(test_margin_call_short)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_short(&e, &m, &a, &p);
    mark(e, m, "21890.54726367");
    expect_no_events(e);
    mark(e, m, "21890.54726368");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], SIDE), MARGIN_SHORT);
    ck_assert_int_eq(F_(ev[0], LEVEL), D("0.8"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("21912.3505976"));
    mark(e, m, "21900");
    expect_no_events(e);
    mark(e, m, "21890");
    expect_no_events(e);
    mark(e, m, "21891");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], MARGIN_RATIO), D("0.80333945"));
    margin_engine_free(e);
}
END_TEST

/* Two levels given out of order as {0.9, 0.8}: level prices 19095.47738694 (0.8) and
 * 19084.82142858 (0.9) (setup_long). Mark 19080 crosses both (LP 19076.30522089 is below):
 * two events, level 0.8 first, consecutive sequence numbers, same ratio
 * MM/B = 0.004*19080 / (1000 + 19080 - 20000) = 76.32/80 = 0.954.
 * 19090 is above the 0.9 price (re-arms 0.9) but below the 0.8 price (0.8 stays fired):
 * nothing. 19084 crosses 0.9 again: one event, level 0.9. */
START_TEST(test_margin_call_two_levels)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    const int64_t levels[2] = {D("0.9"), D("0.8")};
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, levels, 2));

    mark(e, m, "19080");
    ck_assert_uint_eq(drain(e, ev, 8), 2);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], LEVEL), D("0.8"));
    ck_assert_int_eq(F_(ev[1], LEVEL), D("0.9"));
    ck_assert_int_eq(F_(ev[1], SEQ), F_(ev[0], SEQ) + 1);
    ck_assert_int_eq(F_(ev[0], MARGIN_RATIO), D("0.954"));
    ck_assert_int_eq(F_(ev[1], MARGIN_RATIO), D("0.954"));
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p);
    ck_assert_int_eq(F_(ev[1], POSITION), (int64_t)p);

    mark(e, m, "19090");
    expect_no_events(e);
    mark(e, m, "19084");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], LEVEL), D("0.9"));
    margin_engine_free(e);
}
END_TEST

/* No margin call when the same update liquidates: the long (levels 0.8 and 0.9 both on)
 * goes from no mark to 19000 <= LP 19076.30522089: only the liquidation. Insurance delta
 * at 19000 = BP is 0. */
START_TEST(test_no_margin_call_when_liquidated)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    const int64_t levels[2] = {D("0.8"), D("0.9")};
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, levels, 2));
    mark(e, m, "19000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), 0);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-1000"));
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ stops */

/* Long stop-loss at 19500 (above LP 19076.30522089 and the 0.8 level 19095.47738694):
 *   19500.00000001 -> nothing; 19500 -> stop-loss closes at the mark 19500:
 *   realized PnL = 1*(19500 - 20000) = -500; taker fee = 0.0004*19500 = 7.8;
 *   free = 8992 + 1000 - 500 - 7.8 = 9484.2. Later marks at 18000 do nothing. */
START_TEST(test_stop_loss_long)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("19500"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STOP_LOSS), D("19500"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_TAKE_PROFIT), 0);
    flush(e);
    mark(e, m, "19500.00000001");
    expect_no_events(e);
    mark(e, m, "19500");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p);
    ck_assert_int_eq(F_(ev[0], PRICE), D("19500"));
    ck_assert_int_eq(F_(ev[0], QTY), D("1"));
    ck_assert_int_eq(F_(ev[0], POSITION_QTY), 0);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-500"));
    ck_assert_int_eq(F_(ev[0], FEE), D("7.8"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), 0);
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("9484.2"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9484.2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("15.8"));
    assert_conserved(e, a);
    mark(e, m, "18000");
    expect_no_events(e);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    margin_engine_free(e);
}
END_TEST

/* Stop-losses and take-profits live in a side table, an entry for each position that has
 * either, freed entries reused (lib/position.c). Four positions: stops on 1, 2 and 3,
 * cleared on 2, then set on 4 (which takes 2's entry) and again on 2 (a new entry): each
 * position reads its own prices, and the triggers follow them (position 2's new stop
 * fires, its old one does not; 3 fires at its take-profit). No mark here goes below
 * 19,201: the setup's long (1 BTC at 20,000, 20x) has its liquidation price at 19,076.31
 * and its margin call at 19,095.48, the three others (0.1 BTC at 20,000, 10x) theirs near
 * 18,072 and 18,090, so only stops and take-profits fire. */
START_TEST(test_stops_entries_reused)
{
    margin_engine *e;
    uint64_t m, a, p[5];
    ev_t ev[8];
    const int64_t want[5][2] = {{0, 0},
                                {D("19100"), D("21100")},
                                {D("19250"), D("21200")},
                                {0, D("20300")},
                                {D("19400"), D("21400")}};
    setup_long(&e, &m, &a, &p[1]);
    for (int i = 2; i <= 4; i++)
        ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"),
                                             D("10"), 0, 0, &p[i]));
    ck_assert_ok(e, margin_position_set_stops(e, p[1], D("19100"), D("21100")));
    ck_assert_ok(e, margin_position_set_stops(e, p[2], D("19200"), 0));
    ck_assert_ok(e, margin_position_set_stops(e, p[3], 0, D("20300")));
    ck_assert_ok(e, margin_position_set_stops(e, p[2], 0, 0));
    ck_assert_ok(e, margin_position_set_stops(e, p[4], D("19400"), D("21400")));
    ck_assert_ok(e, margin_position_set_stops(e, p[2], D("19250"), D("21200")));
    for (int i = 1; i <= 4; i++) {
        ck_assert_int_eq(pos_get(e, p[i], MARGIN_POS_STOP_LOSS), want[i][0]);
        ck_assert_int_eq(pos_get(e, p[i], MARGIN_POS_TAKE_PROFIT), want[i][1]);
    }
    flush(e);
    mark(e, m, "19201"); /* 2's old stop (19,200) would fire at 19,200; its new one has */
    ck_assert_uint_eq(drain(e, ev, 8), 2); /* 4's (19,400) and 2's (19,250), in id order */
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p[2]);
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[1], POSITION), (int64_t)p[4]);
    mark(e, m, "20300");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p[3]);
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p[1], MARGIN_POS_STOP_LOSS), D("19100")); /* untouched */
    margin_engine_free(e);
}
END_TEST

/* Long take-profit at 21000: 20999.99999999 -> nothing; 21000 -> take-profit at 21000:
 *   PnL = +1000; fee = 0.0004*21000 = 8.4; free = 8992 + 1000 + 1000 - 8.4 = 10983.6. */
START_TEST(test_take_profit_long)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, D("21000")));
    flush(e);
    mark(e, m, "20999.99999999");
    expect_no_events(e);
    mark(e, m, "21000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(F_(ev[0], PRICE), D("21000"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("1000"));
    ck_assert_int_eq(F_(ev[0], FEE), D("8.4"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("10983.6"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Short stop-loss at 20500: 20499.99999999 -> nothing; the mark gaps to 20600 -> the stop
 * closes at the triggering mark 20600 (not at 20500):
 *   PnL = -(20600 - 20000) = -600; fee = 0.0004*20600 = 8.24;
 *   free = 7992 + 2000 - 600 - 8.24 = 9383.76. */
START_TEST(test_stop_loss_short)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_short(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("20500"), 0));
    flush(e);
    mark(e, m, "20499.99999999");
    expect_no_events(e);
    mark(e, m, "20600");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[0], PRICE), D("20600"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-600"));
    ck_assert_int_eq(F_(ev[0], FEE), D("8.24"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("9383.76"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Short take-profit at 19000: the mark falls to 18000 -> closes at 18000:
 *   PnL = -(18000 - 20000) = 2000; fee = 0.0004*18000 = 7.2;
 *   free = 7992 + 2000 + 2000 - 7.2 = 11984.8. */
START_TEST(test_take_profit_short)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_short(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("21500"), D("19000")));
    flush(e);
    mark(e, m, "19000.00000001");
    expect_no_events(e);
    mark(e, m, "18000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_TAKE_PROFIT);
    ck_assert_int_eq(F_(ev[0], PRICE), D("18000"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("2000"));
    ck_assert_int_eq(F_(ev[0], FEE), D("7.2"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("11984.8"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Stop before liquidation: the long's stop at 19300 sits above the 0.8 level
 * (19095.47738694) and LP (19076.30522089). The mark falls 20000 -> 19250 -> 18000: the
 * stop closes at 19250 (PnL -750, fee 0.0004*19250 = 7.7, free 8992 + 1000 - 750 - 7.7
 * = 9234.3), so the fall to 18000 liquidates nothing and the fund stays 0. */
START_TEST(test_stop_before_liquidation)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("19300"), 0));
    flush(e);
    mark(e, m, "20000");
    expect_no_events(e);
    mark(e, m, "19250");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[0], PRICE), D("19250"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-750"));
    ck_assert_int_eq(F_(ev[0], FEE), D("7.7"));
    mark(e, m, "18000");
    expect_no_events(e);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9234.3"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Precedence, liquidation over stop: stop at 19200, mark 19000 is below both the stop and
 * LP 19076.30522089: liquidation only (PnL -1000, no fee, free stays 8992). */
START_TEST(test_precedence_liq_over_stop)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("19200"), 0));
    flush(e);
    mark(e, m, "19000");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(F_(ev[0], FEE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    margin_engine_free(e);
}
END_TEST

/* Precedence, stop over margin call: stop at 19090 lies between LP 19076.30522089 and the
 * 0.8 level 19095.47738694. Mark 19090 crosses the level and the stop: stop-loss only
 * (PnL = 19090 - 20000 = -910, fee = 0.0004*19090 = 7.636). */
START_TEST(test_precedence_stop_over_margin_call)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("19090"), 0));
    flush(e);
    mark(e, m, "19090");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_STOP_LOSS);
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-910"));
    ck_assert_int_eq(F_(ev[0], FEE), D("7.636"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ funding */

/* Funding rounding, long and short of Q = 0.123 at E = 20000, L = 10, on two accounts:
 *   M = 0.123*20000/10 = 246 each; open fee = 0.0004*2460 = 0.984.
 * Rate 0.0001 at mark 20000.01: s*Q*mark*rate = 0.123*20000.01*0.0001 = 0.246000123:
 *   long pays it rounded up: -0.24600013, margin 245.75399987;
 *   short receives it rounded down: +0.24600012, margin 246.24600012.
 *   Long LP = (2460 - 245.75399987)/(0.996*0.123) = 18074.297189819... -> up 18074.29718982
 *   (it was 18072.28915663 with M = 246: moved toward the mark);
 *   short LP = (246.24600012 + 2460)/(1.004*0.123) = 21914.342630457... -> down
 *   21914.34263045 (was 21912.3505976: moved away).
 * Rate -0.0002 at mark 20000.01: 0.123*20000.01*0.0002 = 0.492000246:
 *   long receives 0.49200024 (down), short pays 0.49200025 (up).
 * Events in position-id order, PRICE = the mark. */
START_TEST(test_funding_amounts)
{
    margin_engine *e;
    uint64_t m, a, b, pl, ps;
    ev_t ev[8];
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("10000")));
    pl = open_pos(e, a, m, MARGIN_LONG, "0.123", "20000", "10");
    ps = open_pos(e, b, m, MARGIN_SHORT, "0.123", "20000", "10");
    ck_assert_uint_lt(pl, ps);
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_LIQ_PRICE), D("18072.28915663"));
    flush(e);

    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("20000.01")));
    ck_assert_uint_eq(drain(e, ev, 8), 2);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_FUNDING);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)pl);
    ck_assert_int_eq(F_(ev[0], ACCOUNT), (int64_t)a);
    ck_assert_int_eq(F_(ev[0], PRICE), D("20000.01"));
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("-0.24600013"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("245.75399987"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("18074.29718982"));
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_FUNDING);
    ck_assert_int_eq(F_(ev[1], POSITION), (int64_t)ps);
    ck_assert_int_eq(F_(ev[1], AMOUNT), D("0.24600012"));
    ck_assert_int_eq(F_(ev[1], MARGIN), D("246.24600012"));
    ck_assert_int_eq(F_(ev[1], LIQ_PRICE), D("21914.34263045"));
    ck_assert_int_eq(F_(ev[1], SEQ), F_(ev[0], SEQ) + 1);
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_MARGIN), D("245.75399987"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_MARGIN), D("246.24600012"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_FUNDING), D("-0.24600013"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_FUNDING), D("0.24600012"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_LIQ_PRICE), D("18074.29718982"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_LIQ_PRICE), D("21914.34263045"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-0.24600013"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FUNDING), D("0.24600012"));
    {
        int64_t mk = 0;
        ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MARK, &mk));
        ck_assert_int_eq(mk, D("20000.01"));
    }
    /* free balances do not move with funding in isolated mode: 10000 - 246 - 0.984 */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("9753.016"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FREE_BALANCE), D("9753.016"));
    assert_conserved(e, a);
    assert_conserved(e, b);

    ck_assert_ok(e, margin_funding_apply(e, m, D("-0.0002"), D("20000.01")));
    ck_assert_uint_eq(drain(e, ev, 8), 2);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)pl);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("0.49200024"));
    ck_assert_int_eq(F_(ev[1], POSITION), (int64_t)ps);
    ck_assert_int_eq(F_(ev[1], AMOUNT), D("-0.49200025"));
    /* 245.75399987 + 0.49200024 = 246.24600011; 246.24600012 - 0.49200025 = 245.75399987 */
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_MARGIN), D("246.24600011"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_MARGIN), D("245.75399987"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_FUNDING), D("0.24600011"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_FUNDING), D("-0.24600013"));
    assert_conserved(e, a);
    assert_conserved(e, b);
    margin_engine_free(e);
}
END_TEST

/* Spec vector (freqtrade test_calculate_funding_fees): a short of size 10 receives
 * 0.002 at rate 0.0001 and mark 2.0, 0.004 at 0.0002 / 2.0, 0.005 at 0.0002 / 2.5
 * (10*2*0.0001 = 0.002, 10*2*0.0002 = 0.004, 10*2.5*0.0002 = 0.005, all exact).
 * Short Q = 10, E = 2, L = 1: M = 20. */
START_TEST(test_funding_vector)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    make_engine(&e, &m, &a, D("100"));
    p = open_pos(e, a, m, MARGIN_SHORT, "10", "2", "1");
    flush(e);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("2")));
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("0.002"));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0002"), D("2")));
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("0.004"));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0002"), D("2.5")));
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("0.005"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FUNDING), D("0.011"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("20.011"));
    margin_engine_free(e);
}
END_TEST

/* Funding alone liquidates, in the same call. Long of setup_long (M = 1000), mark stays at
 * 20000. With margin M' the long's LP is (20000 - M')/0.996, which reaches 20000 when
 * M' = 20000 - 0.996*20000 = 80.
 * Rate 0.046 at 20000: payment 1*20000*0.046 = 920 -> M' = 80 -> LP = 19920/0.996 = 20000
 *   exactly -> mark 20000 <= LP: liquidated by margin_funding_apply itself.
 *   Events: FUNDING (amount -920, margin 80, LP 20000) then LIQUIDATION (mark 20000,
 *   PnL -80, BP = 20000 - 80 = 19920, insurance = 1*(20000 - 20000) + 80 = 80); no margin
 *   call. Conservation: funding -920, PnL -80, fees 8: free 8992 = 10000 - 80 - 8 - 920. */
START_TEST(test_funding_liquidates)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    mark(e, m, "20000");
    expect_no_events(e);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.046"), D("20000")));
    ck_assert_uint_eq(drain(e, ev, 8), 2);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_FUNDING);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("-920"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("80"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("20000"));
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[1], PRICE), D("20000"));
    ck_assert_int_eq(F_(ev[1], REALIZED_PNL), D("-80"));
    ck_assert_int_eq(F_(ev[1], BANKRUPTCY_PRICE), D("19920"));
    ck_assert_int_eq(F_(ev[1], INSURANCE_DELTA), D("80"));
    ck_assert_int_eq(F_(ev[1], LIQ_PRICE), D("20000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-920"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-80"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("80"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Just short of that: rate 0.0459 -> payment 918 -> M' = 82 -> LP = 19918/0.996 =
 * 19997.991967871... -> up 19997.99196788 < 20000: not liquidated. The 0.8 level price is
 * now 0.8*19918/0.796 = 20018.090452261... -> up 20018.09045227 >= 20000: a margin call,
 * with ratio MM/B = 0.004*20000/82 = 80/82 = 0.975609756... -> up 0.97560976. */
START_TEST(test_funding_margin_call_not_liquidated)
{
    margin_engine *e;
    uint64_t m, a, p;
    ev_t ev[8];
    setup_long(&e, &m, &a, &p);
    mark(e, m, "20000");
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0459"), D("20000")));
    ck_assert_uint_eq(drain(e, ev, 8), 2);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_FUNDING);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("-918"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("82"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("19997.99196788"));
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[1], LEVEL), D("0.8"));
    ck_assert_int_eq(F_(ev[1], MARGIN_RATIO), D("0.97560976"));
    ck_assert_int_eq(F_(ev[1], PRICE), D("20000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("19997.99196788"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ isolation */

#define NPOSKEYS 14
static void pos_snapshot(const margin_engine *e, uint64_t p, int64_t *out)
{
    for (int32_t k = 1; k <= NPOSKEYS; k++)
        out[k - 1] = pos_get(e, p, k);
}
#define NACCTKEYS 9
static void acct_snapshot(const margin_engine *e, uint64_t a, int64_t *out)
{
    for (int32_t k = 1; k <= NACCTKEYS; k++)
        out[k - 1] = acct_get(e, a, k);
}

/* Account A: p1 long BTC Q=1 E=20000 20x (M 1000, LP 19076.30522089, BP 19000);
 *            p2 short BTC Q=1 E=20000 10x (LP 21912.3505976);
 *            p3 long ETH Q=10 E=1500 20x (M 750; LP 14250/9.96 = 1430.72...);
 *            p5 long BTC Q=0.5 E=20000 2x (M 5000; LP 5000/0.498 = 10040.16...).
 * Account B: p4 long BTC Q=1 E=20000 5x (M 4000; LP 16064.26, 0.8 level 16080.40).
 * BTC mark 18900 (past BP): p1 liquidated (PnL -1000, insurance 18900 - 19000 = -100);
 * every other position, B's whole account and A's free balance are unchanged; A's
 * isolated margin drops by exactly 1000; the ETH market has no mark. One event only. */
START_TEST(test_isolation)
{
    margin_engine *e;
    uint64_t m, eth, a, b, p1, p2, p3, p4, p5;
    ev_t ev[8];
    int64_t before[5][NPOSKEYS], after[NPOSKEYS], bacct[NACCTKEYS], bacct2[NACCTKEYS];
    int64_t a_free, a_iso;
    uint64_t others[4];
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("50000")));
    p1 = open_pos(e, a, m, MARGIN_LONG, "1", "20000", "20");
    p2 = open_pos(e, a, m, MARGIN_SHORT, "1", "20000", "10");
    p3 = open_pos(e, a, eth, MARGIN_LONG, "10", "1500", "20");
    p4 = open_pos(e, b, m, MARGIN_LONG, "1", "20000", "5");
    p5 = open_pos(e, a, m, MARGIN_LONG, "0.5", "20000", "2");
    ck_assert_int_eq(pos_get(e, p5, MARGIN_POS_MARGIN), D("5000"));
    flush(e);
    others[0] = p2;
    others[1] = p3;
    others[2] = p4;
    others[3] = p5;
    for (int i = 0; i < 4; i++)
        pos_snapshot(e, others[i], before[i]);
    acct_snapshot(e, b, bacct);
    a_free = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    a_iso = acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN);

    mark(e, m, "18900");
    ck_assert_uint_eq(drain(e, ev, 8), 1);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p1);
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), D("-100"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), D("-1000"));

    for (int i = 0; i < 4; i++) {
        pos_snapshot(e, others[i], after);
        for (int k = 0; k < NPOSKEYS; k++)
            ck_assert_msg(after[k] == before[i][k],
                          "position %llu key %d changed: %lld -> %lld",
                          (unsigned long long)others[i], k + 1, (long long)before[i][k],
                          (long long)after[k]);
    }
    acct_snapshot(e, b, bacct2);
    for (int k = 0; k < NACCTKEYS; k++)
        if (k + 1 != MARGIN_ACCT_EQUITY) /* equity moves with the mark (p4's unrealized PnL) */
            ck_assert_msg(bacct2[k] == bacct[k], "account B key %d changed", k + 1);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), a_free);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), a_iso - D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_OPEN_POSITIONS), 3);
    {
        int64_t mk = -1, n = -1;
        ck_assert_ok(e, margin_market_get(e, eth, MARGIN_MKT_MARK, &mk));
        ck_assert_int_eq(mk, 0);
        ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_OPEN_POSITIONS, &n));
        ck_assert_int_eq(n, 3);
    }
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 4);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-100"));
    assert_conserved(e, a);
    assert_conserved(e, b);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ events */

/* Sequence, time and fields of non-trigger events, then ordering by position id.
 * time 1000: deposit 10000 -> DEPOSIT seq 1, account a, market 0, position 0, amount 10000,
 *            free 10000.
 * time 2000: open long p1 Q=1 E=20000 20x -> OPEN seq 2: price 20000, qty 1, position qty 1,
 *            entry 20000, margin 1000, amount 1000, fee 8, LP 19076.30522089, free 8992,
 *            leverage 20x, side long.
 * time 2500: add 100 -> MARGIN_ADD seq 3: amount +100, margin 1100, free 8892,
 *            LP (20000 - 1100)/0.996 = 18975.903614457... -> up 18975.90361446.
 *            remove 50 -> MARGIN_REMOVE seq 4: removable at the entry (no mark yet)
 *            = min(1100 - 80, 1100 + 0 - 1000) = 100 >= 50; amount -50, margin 1050,
 *            free 8942. LP (20000 - 1050)/0.996 = 19026.104417670... -> 19026.10441768;
 *            0.8 level 0.8*18950/0.796 = 19045.226130653... -> 19045.22613066.
 *            open p2 (50x: M 400, LP 19600/0.996 = 19678.71485944) and p3 (25x: M 800,
 *            LP 19200/0.996 = 19277.10843374): seq 5, 6.
 * time 3000: mark 19040: p1 margin call (19026.10441768 < 19040 <= 19045.22613066), p2 and
 *            p3 liquidated. An index on liquidation prices meets them as p2, p3 (highest
 *            LP first for longs) while p1's call comes from another index: the events must
 *            come out by position id: p1 call, p2 liquidation, p3 liquidation (seq 7, 8, 9),
 *            all stamped 3000. */
START_TEST(test_event_fields_and_order)
{
    margin_engine *e;
    uint64_t m, a, p1, p2, p3;
    ev_t ev[16];
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LAST_SEQ), 0);
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1000));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_TIME), 1000);
    ck_assert_ok(e, margin_account_deposit(e, a, D("10000")));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENTS_PENDING), 1);
    ck_assert_uint_eq(drain(e, ev, 16), 1);
    ck_assert_int_eq(F_(ev[0], SEQ), 1);
    ck_assert_int_eq(F_(ev[0], TIME), 1000);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_DEPOSIT);
    ck_assert_int_eq(F_(ev[0], ACCOUNT), (int64_t)a);
    ck_assert_int_eq(F_(ev[0], MARKET), 0);
    ck_assert_int_eq(F_(ev[0], POSITION), 0);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("10000"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("10000"));
    ck_assert_int_eq(F_(ev[0], FEE), 0);
    ck_assert_int_eq(F_(ev[0], PRICE), 0);

    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 2000));
    p1 = open_pos(e, a, m, MARGIN_LONG, "1", "20000", "20");
    ck_assert_uint_eq(drain(e, ev, 16), 1);
    ck_assert_int_eq(F_(ev[0], SEQ), 2);
    ck_assert_int_eq(F_(ev[0], TIME), 2000);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_OPEN);
    ck_assert_int_eq(F_(ev[0], ACCOUNT), (int64_t)a);
    ck_assert_int_eq(F_(ev[0], MARKET), (int64_t)m);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p1);
    ck_assert_int_eq(F_(ev[0], SIDE), MARGIN_LONG);
    ck_assert_int_eq(F_(ev[0], PRICE), D("20000"));
    ck_assert_int_eq(F_(ev[0], QTY), D("1"));
    ck_assert_int_eq(F_(ev[0], POSITION_QTY), D("1"));
    ck_assert_int_eq(F_(ev[0], ENTRY_PRICE), D("20000"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("1000"));
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("1000"));
    ck_assert_int_eq(F_(ev[0], REALIZED_PNL), 0);
    ck_assert_int_eq(F_(ev[0], FEE), D("8"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("19076.30522089"));
    ck_assert_int_eq(F_(ev[0], INSURANCE_DELTA), 0);
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("8992"));
    ck_assert_int_eq(F_(ev[0], LEVERAGE), D("20"));

    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 2500));
    ck_assert_ok(e, margin_position_add_margin(e, p1, D("100")));
    ck_assert_ok(e, margin_position_remove_margin(e, p1, D("50")));
    ck_assert_uint_eq(drain(e, ev, 16), 2);
    ck_assert_int_eq(F_(ev[0], SEQ), 3);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_ADD);
    ck_assert_int_eq(F_(ev[0], TIME), 2500);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p1);
    ck_assert_int_eq(F_(ev[0], AMOUNT), D("100"));
    ck_assert_int_eq(F_(ev[0], MARGIN), D("1100"));
    ck_assert_int_eq(F_(ev[0], FREE_BALANCE), D("8892"));
    ck_assert_int_eq(F_(ev[0], LIQ_PRICE), D("18975.90361446"));
    ck_assert_int_eq(F_(ev[1], SEQ), 4);
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_MARGIN_REMOVE);
    ck_assert_int_eq(F_(ev[1], AMOUNT), D("-50"));
    ck_assert_int_eq(F_(ev[1], MARGIN), D("1050"));
    ck_assert_int_eq(F_(ev[1], FREE_BALANCE), D("8942"));
    ck_assert_int_eq(F_(ev[1], LIQ_PRICE), D("19026.10441768"));
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_LIQ_PRICE), D("19026.10441768"));

    p2 = open_pos(e, a, m, MARGIN_LONG, "1", "20000", "50");
    p3 = open_pos(e, a, m, MARGIN_LONG, "1", "20000", "25");
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_LIQ_PRICE), D("19678.71485944"));
    ck_assert_int_eq(pos_get(e, p3, MARGIN_POS_LIQ_PRICE), D("19277.10843374"));
    ck_assert_uint_eq(drain(e, ev, 16), 2);
    ck_assert_int_eq(F_(ev[0], SEQ), 5);
    ck_assert_int_eq(F_(ev[1], SEQ), 6);

    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 3000));
    mark(e, m, "19040");
    ck_assert_uint_eq(drain(e, ev, 16), 3);
    ck_assert_int_eq(F_(ev[0], TYPE), MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(F_(ev[0], POSITION), (int64_t)p1);
    ck_assert_int_eq(F_(ev[1], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[1], POSITION), (int64_t)p2);
    ck_assert_int_eq(F_(ev[2], TYPE), MARGIN_EV_LIQUIDATION);
    ck_assert_int_eq(F_(ev[2], POSITION), (int64_t)p3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(F_(ev[i], SEQ), 7 + i);
        ck_assert_int_eq(F_(ev[i], TIME), 3000);
        ck_assert_int_eq(F_(ev[i], PRICE), D("19040"));
    }
    /* p2: PnL -400, insurance 19040 - 20000 + 400 = -560; p3: -800, 19040 - 20000 + 800 = -160 */
    ck_assert_int_eq(F_(ev[1], REALIZED_PNL), D("-400"));
    ck_assert_int_eq(F_(ev[1], INSURANCE_DELTA), D("-560"));
    ck_assert_int_eq(F_(ev[2], REALIZED_PNL), D("-800"));
    ck_assert_int_eq(F_(ev[2], INSURANCE_DELTA), D("-160"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LAST_SEQ), 9);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-720"));

    /* no current event after the queue ran dry */
    {
        int64_t v = 0;
        int32_t t = -1;
        ck_assert_ok(e, margin_event_next(e, &t));
        ck_assert_int_eq(t, MARGIN_EV_NONE);
        ck_assert_int_eq(margin_event_get(e, MARGIN_EVF_SEQ, &v), MARGIN_ESTATE);
    }
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* A scenario touching every kind of event, on two accounts (all numbers by hand):
 *  A deposits 100000, B deposits 100000.
 *  p1 A long  Q=1   E=20000 20x: M 1000, fee 8.
 *  p2 A short Q=2   E=20000 10x: M 4000, fee 16; take-profit 18000.
 *  p3 B long  Q=0.5 E=20000 10x: M 1000, fee 4; stop-loss 19500.
 *  p1 buys 1 at 20200 (increase): E = (20000 + 20200)/2 = 20100; margin +20200/20 = 1010
 *     -> 2010; fee 0.0004*20200 = 8.08.
 *  p2 buys 0.5 at 20100 (reduce): PnL -0.5*(20100 - 20000) = -50; released 4000*0.5/2 = 1000
 *     -> M 3000; fee 0.0004*0.5*20100 = 4.02.
 *  p1 adds 90 -> 2100. Mark 20100 (nothing fires). p1 removes 40: removable at 20100 =
 *     min(2100 - 2*20100*0.004, 2100 + 0 - 2*20100/20) = min(1939.2, 90) = 90 -> M 2060.
 *  p3 leverage 10x -> 5x: M = 1000 - 1000 + 2000 = 2000 (+1000 from B's free balance).
 *  Funding 0.0001 at 20100: p1 pays 2*20100*0.0001 = 4.02 (M 2055.98), p2 receives
 *     1.5*20100*0.0001 = 3.015 (M 3003.015), p3 pays 0.5*20100*0.0001 = 1.005 (M 1998.995).
 *  Mark 19160: p1 LP (2*20100 - 2055.98)/(0.996*2) = 19148.604417670... -> 19148.60441768,
 *     0.8 level 0.8*38144.02/1.592 = 19167.849246231... -> 19167.84924624: margin call;
 *     p3 stop (19160 <= 19500): PnL 0.5*(19160 - 20000) = -420, fee 0.0004*0.5*19160 = 3.832.
 *  Mark 19100: p1 liquidated: PnL -2055.98, insurance 2*(19100 - 20100) + 2055.98 = 55.98.
 *  Mark 17999: p2 take-profit (17999 <= 18000): PnL -1.5*(17999 - 20000) = 3001.5,
 *     fee 0.0004*1.5*17999 = 10.7994.
 *  p4 A long Q=0.1 E=17999 10x: M 179.99, fee 0.71996; closed at 18100: PnL 0.1*101 = 10.1,
 *     fee 0.0004*1810 = 0.724.
 *  B withdraws 5000.
 * Final free balances: A 100856.27164, B 94571.163 (see the replay below, which rebuilds
 * them from the events alone). */
static void run_scenario(margin_engine *e, uint64_t *accts, uint64_t *pos)
{
    uint64_t m, a, b, p1, p2, p3, p4;
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1));
    ck_assert_ok(e, margin_account_deposit(e, a, D("100000")));
    ck_assert_ok(e, margin_account_deposit(e, b, D("100000")));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 2));
    p1 = open_pos(e, a, m, MARGIN_LONG, "1", "20000", "20");
    p2 = open_pos(e, a, m, MARGIN_SHORT, "2", "20000", "10");
    p3 = open_pos(e, b, m, MARGIN_LONG, "0.5", "20000", "10");
    ck_assert_ok(e, margin_position_set_stops(e, p2, 0, D("18000")));
    ck_assert_ok(e, margin_position_set_stops(e, p3, D("19500"), 0));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 3));
    ck_assert_ok(e, margin_position_trade(e, p1, MARGIN_LONG, D("1"), D("20200"), 0));
    ck_assert_ok(e, margin_position_trade(e, p2, MARGIN_LONG, D("0.5"), D("20100"), 0));
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_ENTRY_PRICE), D("20100"));
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_MARGIN), D("2010"));
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_MARGIN), D("3000"));
    ck_assert_ok(e, margin_position_add_margin(e, p1, D("90")));
    mark(e, m, "20100");
    ck_assert_int_eq(pos_at(e, p1, MARGIN_AT_REMOVABLE_MARGIN, 0), D("90"));
    ck_assert_ok(e, margin_position_remove_margin(e, p1, D("40")));
    ck_assert_ok(e, margin_position_set_leverage(e, p3, D("5")));
    ck_assert_int_eq(pos_get(e, p3, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 4));
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("20100")));
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_LIQ_PRICE), D("19148.60441768"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 5));
    mark(e, m, "19160");
    ck_assert_int_eq(pos_get(e, p3, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    mark(e, m, "19100");
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    mark(e, m, "17999");
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 6));
    p4 = open_pos(e, a, m, MARGIN_LONG, "0.1", "17999", "10");
    ck_assert_ok(e, margin_position_close(e, p4, D("18100"), 0));
    ck_assert_ok(e, margin_account_withdraw(e, b, D("5000")));
    accts[0] = a;
    accts[1] = b;
    pos[0] = p1;
    pos[1] = p2;
    pos[2] = p3;
    pos[3] = p4;
}

/* The event stream rebuilds every balance: replay the events, using only their amounts
 * (never their FREE_BALANCE / MARGIN snapshots), to recompute each account's free balance
 * and each position's margin; after every event the rebuilt numbers must equal the event's
 * own snapshot, and at the end the engine's figures. Rules, from the header's field docs:
 *   DEPOSIT +AMOUNT, WITHDRAW -AMOUNT (free);
 *   OPEN, INCREASE, REDUCE, MARGIN_ADD, MARGIN_REMOVE, LEVERAGE: margin += AMOUNT (signed
 *     change of margin), free -= AMOUNT; plus, for REDUCE, free += realized PnL;
 *   fees: free -= FEE on every event;
 *   FUNDING: margin += AMOUNT (received > 0);
 *   CLOSE, STOP_LOSS, TAKE_PROFIT: free += margin before + realized PnL; margin = 0;
 *   LIQUIDATION: realized PnL must be -margin before; margin = 0, free unchanged;
 *   MARGIN_CALL: nothing moves. */
START_TEST(test_event_rebuild)
{
    margin_engine *e;
    uint64_t accts[2], pos[4];
    ev_t ev[64];
    int64_t freeb[8] = {0}, marg[8] = {0}, ins = 0;
    int seen[16] = {0};
    size_t n;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    run_scenario(e, accts, pos);
    n = drain(e, ev, 64);
    ck_assert_uint_ge(n, 20);
    for (size_t i = 0; i < n; i++) {
        const ev_t *v = &ev[i];
        int64_t t = F_(*v, TYPE);
        uint64_t ac = (uint64_t)F_(*v, ACCOUNT), ps = (uint64_t)F_(*v, POSITION);
        ck_assert_uint_lt(ac, 8);
        ck_assert_uint_lt(ps, 8);
        ck_assert_int_eq(F_(*v, SEQ), (int64_t)i + 1);
        if (i > 0)
            ck_assert_int_ge(F_(*v, TIME), F_(ev[i - 1], TIME));
        seen[t] = 1;
        switch (t) {
        case MARGIN_EV_DEPOSIT:
            freeb[ac] += F_(*v, AMOUNT);
            break;
        case MARGIN_EV_WITHDRAW:
            ck_assert_int_gt(F_(*v, AMOUNT), 0);
            freeb[ac] -= F_(*v, AMOUNT);
            break;
        case MARGIN_EV_OPEN:
        case MARGIN_EV_INCREASE:
        case MARGIN_EV_REDUCE:
        case MARGIN_EV_MARGIN_ADD:
        case MARGIN_EV_MARGIN_REMOVE:
        case MARGIN_EV_LEVERAGE:
            marg[ps] += F_(*v, AMOUNT);
            freeb[ac] -= F_(*v, AMOUNT);
            if (t == MARGIN_EV_REDUCE)
                freeb[ac] += F_(*v, REALIZED_PNL);
            break;
        case MARGIN_EV_FUNDING:
            marg[ps] += F_(*v, AMOUNT);
            break;
        case MARGIN_EV_CLOSE:
        case MARGIN_EV_STOP_LOSS:
        case MARGIN_EV_TAKE_PROFIT:
            freeb[ac] += marg[ps] + F_(*v, REALIZED_PNL);
            marg[ps] = 0;
            break;
        case MARGIN_EV_LIQUIDATION:
            ck_assert_int_eq(F_(*v, REALIZED_PNL), -marg[ps]);
            marg[ps] = 0;
            break;
        case MARGIN_EV_MARGIN_CALL:
            break;
        default:
            ck_abort_msg("unexpected event type %lld", (long long)t);
        }
        freeb[ac] -= F_(*v, FEE);
        ins += F_(*v, INSURANCE_DELTA);
        ck_assert_msg(freeb[ac] == F_(*v, FREE_BALANCE),
                      "event %zu (type %lld): rebuilt free %lld != event's %lld", i, (long long)t,
                      (long long)freeb[ac], (long long)F_(*v, FREE_BALANCE));
        if (ps != 0)
            ck_assert_msg(marg[ps] == F_(*v, MARGIN),
                          "event %zu (type %lld): rebuilt margin %lld != event's %lld", i,
                          (long long)t, (long long)marg[ps], (long long)F_(*v, MARGIN));
    }
    for (int t = MARGIN_EV_DEPOSIT; t <= MARGIN_EV_TAKE_PROFIT; t++)
        ck_assert_msg(seen[t], "no event of type %d in the scenario", t);
    ck_assert_int_eq(freeb[accts[0]], D("100856.27164"));
    ck_assert_int_eq(freeb[accts[1]], D("94571.163"));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(acct_get(e, accts[i], MARGIN_ACCT_FREE_BALANCE), freeb[accts[i]]);
        assert_conserved(e, accts[i]);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pos_get(e, pos[i], MARGIN_POS_MARGIN), marg[pos[i]]);
    ck_assert_int_eq(ins, D("55.98"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), ins);
    margin_engine_free(e);
}
END_TEST

/* The callback sees the same events as the queue, field for field, while they are
 * current; its type argument is the event's type. */
typedef struct {
    ev_t ev[64];
    size_t n;
    int bad_type;
} cb_log;

static void record_cb(void *user, const margin_engine *e, int32_t type)
{
    cb_log *log = user;
    if (log->n < 64) {
        read_current(e, &log->ev[log->n]);
        if (log->ev[log->n].f[MARGIN_EVF_TYPE] != type)
            log->bad_type = 1;
    }
    log->n++;
}

START_TEST(test_callback_same_events)
{
    margin_engine *e;
    uint64_t accts[2], pos[4];
    ev_t q[64];
    cb_log *log = calloc(1, sizeof *log);
    size_t n;
    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ok(e, margin_engine_set_callback(e, record_cb, log));
    run_scenario(e, accts, pos);
    n = drain(e, q, 64);
    ck_assert_uint_ge(n, 20);
    ck_assert_uint_eq(log->n, n);
    ck_assert_int_eq(log->bad_type, 0);
    for (size_t i = 0; i < n; i++)
        for (int k = 1; k < NF; k++)
            ck_assert_msg(q[i].f[k] == log->ev[i].f[k],
                          "event %zu field %d: queue %lld, callback %lld", i, k,
                          (long long)q[i].f[k], (long long)log->ev[i].f[k]);
    /* removing the callback stops the calls */
    ck_assert_ok(e, margin_engine_set_callback(e, NULL, NULL));
    ck_assert_ok(e, margin_account_deposit(e, accts[0], D("1")));
    ck_assert_uint_eq(log->n, n);
    margin_engine_free(e);
    free(log);
}
END_TEST

/* Queue off: nothing is queued, the callback still sees every event, sequence numbers go
 * on from 1 by 1. Turning the queue back on queues the next events. */
START_TEST(test_queue_off)
{
    margin_engine *e;
    uint64_t accts[2], pos[4];
    ev_t q[8];
    cb_log *log = calloc(1, sizeof *log);
    int32_t t = -1;
    ck_assert_ptr_nonnull(log);
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENT_QUEUE), 1);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENT_QUEUE), 0);
    ck_assert_ok(e, margin_engine_set_callback(e, record_cb, log));
    run_scenario(e, accts, pos);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENTS_PENDING), 0);
    ck_assert_ok(e, margin_event_next(e, &t));
    ck_assert_int_eq(t, MARGIN_EV_NONE);
    ck_assert_uint_ge(log->n, 20);
    ck_assert_uint_le(log->n, 64);
    for (size_t i = 0; i < log->n; i++)
        ck_assert_int_eq(log->ev[i].f[MARGIN_EVF_SEQ], (int64_t)i + 1);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LAST_SEQ), (int64_t)log->n);
    ck_assert_int_eq(log->bad_type, 0);

    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 1));
    ck_assert_ok(e, margin_account_deposit(e, accts[1], D("7")));
    ck_assert_uint_eq(drain(e, q, 8), 1);
    /* the callback saw this deposit too, so log->n already counts it */
    ck_assert_int_eq(F_(q[0], SEQ), (int64_t)log->n);
    ck_assert_int_eq(F_(q[0], AMOUNT), D("7"));
    ck_assert_int_eq(F_(q[0], TYPE), MARGIN_EV_DEPOSIT);
    margin_engine_free(e);
    free(log);
}
END_TEST

/* MARGIN_AT_MARGIN_CALL_PRICE is the price of the lowest level, and crossing it fires.
 * Long 0.1 @ 20000, 20x: M = 100, mmr 0.004, level 0.8:
 *   P = 0.8*(100 - 2000) / (0.1*(0.004 - 0.8)) = -1520 / -0.0796 = 3800000/199
 *     = 19095.477386934673..., a long rounds up: 19095.47738694.
 * Short 0.1 @ 20000, 10x: M = 200:
 *   P = 0.8*(200 + 2000) / (0.1*(0.004 + 0.8)) = 1760 / 0.0804 = 4400000/201
 *     = 21890.547263681592..., a short rounds down: 21890.54726368. */
START_TEST(test_margin_call_price_query)
{
    margin_engine *e;
    uint64_t m, a, lp, sp;
    int32_t type;
    int64_t lvl = D("0.9");
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("0.1"), D("20000"), D("20"), 0, 0, &lp));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("0.1"), D("20000"), D("10"), 0, 0, &sp));
    ck_assert_int_eq(pos_at(e, lp, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("19095.47738694"));
    ck_assert_int_eq(pos_at(e, sp, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("21890.54726368"));
    /* one unit above the long's price: no margin call; at it: one */
    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE)
        ;
    ck_assert_ok(e, margin_mark_update(e, m, D("19095.47738695")));
    ck_assert_ok(e, margin_event_next(e, &type));
    ck_assert_int_eq(type, MARGIN_EV_NONE);
    ck_assert_ok(e, margin_mark_update(e, m, D("19095.47738694")));
    ck_assert_ok(e, margin_event_next(e, &type));
    ck_assert_int_eq(type, MARGIN_EV_MARGIN_CALL);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 2);
    /* the lowest of the configured levels counts; with none, there is no price */
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, &lvl, 1));
    ck_assert_int_lt(pos_at(e, lp, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("19095.47738694"));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    ck_assert_int_eq(pos_at(e, lp, MARGIN_AT_MARGIN_CALL_PRICE, 0), 0);
    ck_assert_int_eq(pos_at(e, sp, MARGIN_AT_MARGIN_CALL_PRICE, 0), 0);
    margin_engine_free(e);
}
END_TEST

/* A fired level whose price disappears re-arms, in both paths (a bug found by fuzzing:
 * the index kept such a level fired, so the next crossing gave no margin call).
 * Long 1 @ 100, 10x: M = 10, mmr 0.004, level 0.8:
 *   level price K = 0.8*(10 - 100) / (0.004 - 0.8) = 90.452261306..., up: 90.45226131;
 *   LP = (10 - 100) / (0.004 - 1) = 90.361445783...; mark 90.45 lies between: margin call.
 * Add 200: M = 210 > Q*E, K = 0.8*110 / -0.796 < 0: no level price (and no LP).
 *   The next mark (90.45 again) re-arms the level (no event).
 * Remove 191.405 (the removable margin at 90.45: min(M - MM, M + uPnL - Q*P/L)
 *   = min(210 - 0.3618, 210 - 9.55 - 9.045) = 191.405): M = 18.595,
 *   K = 0.8*(18.595 - 100) / -0.796 = 81.814070351..., LP = 81.731927710...
 * Mark 81.8 lies between them: a margin call again. */
static void rearm_when_level_price_vanishes(int full_scan)
{
    margin_engine *e;
    uint64_t m, a, p;
    int32_t type;
    int calls = 0;
    make_engine(&e, &m, &a, D("1000"));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, full_scan));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1"), D("100"), D("10"), 0, 0, &p));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("90.45226131"));
    ck_assert_ok(e, margin_mark_update(e, m, D("90.45")));
    ck_assert_ok(e, margin_position_add_margin(e, p, D("200")));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), 0);
    ck_assert_ok(e, margin_mark_update(e, m, D("90.45")));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), D("191.405"));
    ck_assert_ok(e, margin_position_remove_margin(e, p, D("191.405")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("18.595"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), D("81.81407036"));
    ck_assert_ok(e, margin_mark_update(e, m, D("81.8")));
    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE) {
        int64_t price = 0;
        if (type != MARGIN_EV_MARGIN_CALL)
            continue;
        ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_PRICE, &price));
        ck_assert(price == D("90.45") || price == D("81.8"));
        calls++;
    }
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    assert_conserved(e, a);
    margin_engine_free(e);
}

START_TEST(test_rearm_when_level_price_vanishes)
{
    rearm_when_level_price_vanishes(0);
    rearm_when_level_price_vanishes(1);
}
END_TEST

/* Funding whose receipts fit one at a time but not together must fail and change nothing.
 * Two 1x shorts of 1 BTC at 4e10 USDT (taker fee 0): margins 4e10 each, isolated 8e10 of
 * a 9.2e10 deposit. Funding rate 0.25 at mark 4e10: each short receives 1 * 4e10 * 0.25
 * = 1e10; isolated + 1e10 = 9e10 fits in int64 money (max 92233720368.54775807) but
 * isolated + 2e10 = 1e11 does not: MARGIN_EOVERFLOW, and no ledger moves. */
START_TEST(test_funding_cumulative_overflow)
{
    margin_engine *e;
    uint64_t m, a, p1, p2;
    int64_t iso, free_, seq, m1;
    make_engine(&e, &m, &a, D("92000000000"));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, 0));
    /* prices up to 5e10 (a short of 1 loses at most 1e10 there: it fits) */
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAX_PRICE, D("50000000000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("40000000000"), D("1"), 0, 0, &p1));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_SHORT, D("1"), D("40000000000"), D("1"), 0, 0, &p2));
    iso = acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN);
    free_ = acct_get(e, a, MARGIN_ACCT_FREE_BALANCE);
    seq = eng_get(e, MARGIN_ENG_LAST_SEQ);
    m1 = pos_get(e, p1, MARGIN_POS_MARGIN);
    ck_assert_int_eq(iso, D("80000000000"));
    ck_assert_rc(e, margin_funding_apply(e, m, D("0.25"), D("40000000000")), MARGIN_EOVERFLOW);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), iso);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), free_);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), 0);
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_MARGIN), m1);
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_FUNDING), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LAST_SEQ), seq);
    /* half the rate fits: 8e10 + 2 * 0.5e10 = 9e10 */
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.125"), D("40000000000")));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("90000000000"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* The trigger heaps live in pages of 1,024 nodes (lib/types.h): a market with thousands of
 * keys spreads each heap over several pages, and removals, key changes and the crossed
 * subtree's walk cross page boundaries. The oracle is each position's own trigger price,
 * read before any mark moves: a long fires when the mark is at or below
 * max(LP, stop-loss), a short when it is at or above min(LP, stop-loss) (no margin-call
 * levels are set). 9,000 positions, about 6,400 left open after random closes (some
 * 3,200 keys, 4 pages, a heap), stop-losses on every fifth; then the mark walks down
 * 60,000 -> 20,000 and up 60,000 -> 100,000 in steps of 600, and after every step exactly
 * the positions whose key the walk has reached are no longer open. */
#define PG_N 9000
START_TEST(test_index_many_pages)
{
    static uint64_t id[PG_N];
    static int64_t key[PG_N];
    static int32_t side[PG_N];
    static int open_[PG_N];
    margin_engine *e;
    uint64_t mkt, acct, rng = 0x9a6e5ULL;
    int64_t mark = D("60000"), m;
    size_t i, nopen = PG_N;

    make_engine(&e, &mkt, &acct, D("1000000000"));
    ck_assert_ok(e, margin_mark_update(e, mkt, mark));
    for (i = 0; i < PG_N; i++) {
        int64_t entry = mark + (int64_t)(splitmix64(&rng) % 120001) * 1000000 - D("600");
        int64_t qty = (int64_t)(1 + splitmix64(&rng) % 1000) * 100000; /* 0.001 .. 1 */
        int64_t lev = (int64_t)(2 + splitmix64(&rng) % 49) * D("1"); /* 2x .. 50x */
        side[i] = (splitmix64(&rng) & 1) ? MARGIN_LONG : MARGIN_SHORT;
        ck_assert_ok(e, margin_position_open(e, acct, mkt, side[i], qty, entry, lev, 0, 0, &id[i]));
        open_[i] = 1;
    }
    for (i = 0; i < PG_N / 3; i++) { /* removals from anywhere in the heaps */
        size_t k = (size_t)(splitmix64(&rng) % PG_N);
        if (!open_[k])
            continue;
        ck_assert_ok(e, margin_position_close(e, id[k], mark, 0));
        open_[k] = 0;
        nopen--;
    }
    for (i = 0; i < PG_N; i++) {
        int64_t lp;
        if (!open_[i])
            continue;
        lp = pos_at(e, id[i], MARGIN_AT_LIQ_PRICE, mark);
        key[i] = side[i] > 0 ? (lp > 0 ? lp : INT64_MIN) : lp;
        if (i % 5 == 0) { /* key changes: stop-losses 1 to 7,919 from the mark */
            int64_t t = mark - side[i] * (int64_t)(1 + i % 7919) * D("1");
            ck_assert_ok(e, margin_position_set_stops(e, id[i], t, 0));
            if (side[i] > 0 ? t > key[i] : t < key[i])
                key[i] = t;
        }
    }
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), (int64_t)nopen);
    for (int dir = -1; dir <= 1; dir += 2) {
        ck_assert_ok(e, margin_mark_update(e, mkt, mark));
        for (m = mark; dir < 0 ? m >= D("20000") : m <= D("100000"); m += dir * D("600")) {
            size_t expect = 0, bad = PG_N;
            ck_assert_ok(e, margin_mark_update(e, mkt, m));
            for (i = 0; i < PG_N; i++) { /* one assertion per step: each is a write */
                int fired;
                int64_t st = -1;
                if (!open_[i])
                    continue;
                fired = side[i] > 0 ? m <= key[i] : m >= key[i];
                if (dir < 0 && side[i] < 0)
                    fired = 0; /* shorts wait for the walk up */
                if (margin_position_get(e, id[i], MARGIN_POS_STATUS, &st) != MARGIN_OK ||
                    (st == MARGIN_STATUS_OPEN) != !fired) {
                    bad = i;
                    break;
                }
                if (fired)
                    open_[i] = 0;
                else
                    expect++;
            }
            ck_assert_msg(bad == PG_N, "position %zu (%s, key %lld) at mark %lld: %s", bad,
                          bad < PG_N && side[bad] > 0 ? "long" : "short",
                          (long long)(bad < PG_N ? key[bad] : 0), (long long)m,
                          bad < PG_N && open_[bad] ? "open when it should not be" : "not open");
            ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), (int64_t)expect);
        }
    }
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    margin_engine_free(e);
}
END_TEST

Suite *suite_triggers(void)
{
    Suite *s = suite_create("triggers");
    TCase *tc;

    tc = tcase_create("liquidation");
    tcase_add_test(tc, test_long_liq_exact_lp);
    tcase_add_test(tc, test_index_many_pages);
    tcase_add_test(tc, test_short_liq_exact_lp);
    tcase_add_test(tc, test_long_gap_past_bp);
    tcase_add_test(tc, test_short_gap_past_bp);
    tcase_add_test(tc, test_gap_rounding);
    tcase_add_test(tc, test_liq_irreversible);
    suite_add_tcase(s, tc);

    tc = tcase_create("margin_call");
    tcase_add_test(tc, test_margin_call_price_query);
    tcase_add_test(tc, test_rearm_when_level_price_vanishes);
    tcase_add_test(tc, test_funding_cumulative_overflow);
    tcase_add_test(tc, test_margin_call_rearm);
    tcase_add_test(tc, test_margin_call_short);
    tcase_add_test(tc, test_margin_call_two_levels);
    tcase_add_test(tc, test_no_margin_call_when_liquidated);
    suite_add_tcase(s, tc);

    tc = tcase_create("stops");
    tcase_add_test(tc, test_stop_loss_long);
    tcase_add_test(tc, test_take_profit_long);
    tcase_add_test(tc, test_stop_loss_short);
    tcase_add_test(tc, test_take_profit_short);
    tcase_add_test(tc, test_stops_entries_reused);
    tcase_add_test(tc, test_stop_before_liquidation);
    tcase_add_test(tc, test_precedence_liq_over_stop);
    tcase_add_test(tc, test_precedence_stop_over_margin_call);
    suite_add_tcase(s, tc);

    tc = tcase_create("funding");
    tcase_add_test(tc, test_funding_amounts);
    tcase_add_test(tc, test_funding_vector);
    tcase_add_test(tc, test_funding_liquidates);
    tcase_add_test(tc, test_funding_margin_call_not_liquidated);
    suite_add_tcase(s, tc);

    tc = tcase_create("isolation");
    tcase_add_test(tc, test_isolation);
    suite_add_tcase(s, tc);

    tc = tcase_create("events");
    tcase_add_test(tc, test_event_fields_and_order);
    tcase_add_test(tc, test_event_rebuild);
    tcase_add_test(tc, test_callback_same_events);
    tcase_add_test(tc, test_queue_off);
    suite_add_tcase(s, tc);
    return s;
}
