/* Suite "boundaries": every rejection and trigger tested exactly on its boundary and one unit
 * on each side, the rarely reached branches (funding capped at the margin, a reduce filled
 * past the bankruptcy price, a fee waived in part, a derived maintenance amount rounded up),
 * the position-level ledgers (fees, realized PnL, funding of the position itself), and the
 * trigger indexes' keys against an independent oracle: the prices are worked out by hand
 * below and each trigger must fire at exactly that mark, not one unit before, and re-arm
 * exactly one unit past it, through the indexes and through the full scan.
 *
 * These tests kill the mutants of tests/mutants.txt (`make mutants`) that the other suites
 * let through; each is named beside the test that kills it.
 *
 * Common ground (unless a test says otherwise): market BTCUSDT with the defaults (scales 8,
 * one tier mmr 0.004 / cum 0, close fee 0, mark basis, taker 0.0004, maker 0.0002, 125x).
 * Formulas (/work/shared/spec/margin-math.md and include/margin.h):
 *   IM = Q*E/L (up)     fee = rate*Q*P (up)     uPnL = s*Q*(P - E) (down)
 *   LP = (M + cum - s*Q*E) / (Q*(mmr + f) - s*Q)      long up, short down
 *   level-l price = (l*(M - s*Q*E) + cum) / (Q*(mmr + f - l*s))   long up, short down
 *   BP = E - s*M/Q
 * The two reference positions (as in tests/check_triggers.c):
 *   long  Q 1 @ 20000, 20x: M 1000, fee 8; LP = 19000/0.996 = 19076.305220883534 -> up
 *         19076.30522089; level 0.8 price = 0.8*19000/0.796 = 19095.477386934673 -> up
 *         19095.47738694.
 *   short Q 1 @ 20000, 10x: M 2000, fee 8; LP = 22000/1.004 = 21912.350597609561 -> down
 *         21912.35059760; level 0.8 price = 0.8*22000/0.804 = 21890.547263681592 -> down
 *         21890.54726368. */
#include <string.h>

#include "helpers.h"
#include "suites.h"

#define X(n) ((int64_t)(n) * 100000000LL) /* whole leverage -> rate units */
#define UNIT 1                            /* one unit of price (1e-8 at scale 8) */

/* ------------------------------------------------------------------ helpers */

static uint64_t open_ok(margin_engine *e, uint64_t a, uint64_t m, int32_t side, const char *q,
                        const char *price, int64_t lev, int64_t margin)
{
    uint64_t id = 0;
    ck_assert_ok(e, margin_position_open(e, a, m, side, D(q), D(price), lev, margin, 0, &id));
    ck_assert_uint_ne(id, 0);
    assert_conserved(e, a);
    return id;
}

static int open_rc(margin_engine *e, uint64_t a, uint64_t m, int32_t side, const char *q,
                   const char *price, int64_t lev, int64_t margin)
{
    uint64_t id = 0;
    return margin_position_open(e, a, m, side, D(q), D(price), lev, margin, 0, &id);
}

/* Drain the queue; count the events of `type` (of position `pos` when it is not 0). */
static int drain_count(margin_engine *e, int32_t type, uint64_t pos)
{
    int n = 0;
    for (;;) {
        int32_t t = MARGIN_EV_NONE;
        int64_t p = 0;
        ck_assert_ok(e, margin_event_next(e, &t));
        if (t == MARGIN_EV_NONE)
            return n;
        ck_assert_ok(e, margin_event_get(e, MARGIN_EVF_POSITION, &p));
        if (t == type && (pos == 0 || (uint64_t)p == pos))
            n++;
    }
}

/* Drain the queue and require it to hold no event at all. */
static void expect_quiet(margin_engine *e)
{
    int32_t t = MARGIN_EV_NONE;
    ck_assert_ok(e, margin_event_next(e, &t));
    ck_assert_msg(t == MARGIN_EV_NONE, "expected no event, got type %d", (int)t);
}

static void mark_at(margin_engine *e, uint64_t m, int64_t price)
{
    ck_assert_ok(e, margin_mark_update(e, m, price));
}

/* An engine with the reference long (scan: 0 indexes, 1 full scan); events flushed. */
static void ref_long(int scan, margin_engine **e, uint64_t *m, uint64_t *a, uint64_t *p)
{
    make_engine(e, m, a, D("10000"));
    ck_assert_ok(*e, margin_engine_set(*e, MARGIN_ENG_FULL_SCAN, scan));
    *p = open_ok(*e, *a, *m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(pos_get(*e, *p, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(pos_get(*e, *p, MARGIN_POS_LIQ_PRICE), D("19076.30522089"));
    ck_assert_int_eq(acct_get(*e, *a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    (void)drain_count(*e, MARGIN_EV_NONE, 0);
}

static void ref_short(int scan, margin_engine **e, uint64_t *m, uint64_t *a, uint64_t *p)
{
    make_engine(e, m, a, D("10000"));
    ck_assert_ok(*e, margin_engine_set(*e, MARGIN_ENG_FULL_SCAN, scan));
    *p = open_ok(*e, *a, *m, MARGIN_SHORT, "1", "20000", X(10), 0);
    ck_assert_int_eq(pos_get(*e, *p, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_int_eq(pos_get(*e, *p, MARGIN_POS_LIQ_PRICE), D("21912.3505976"));
    ck_assert_int_eq(acct_get(*e, *a, MARGIN_ACCT_FREE_BALANCE), D("7992"));
    (void)drain_count(*e, MARGIN_EV_NONE, 0);
}

/* ================================================================== open: rejections */

/* Leverage limits, each at the limit and one unit past it:
 *   exactly 1x: Q 1 @ 100, IM = 100/1 = 100, accepted; 0.99999999x refused.
 *   exactly the market's 125x: Q 1 @ 20000, IM = 160, accepted; 125.00000001x refused.
 * Kills: `lev < ONE` -> `<=`, `lev > m->max_lev` -> `>=`. */
START_TEST(test_open_leverage_limits)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "100", X(1), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(1));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "100", X(1) - 1, 0), MARGIN_ELEVERAGE);
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(125), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("160"));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "20000", X(125) + 1, 0),
                     MARGIN_ELEVERAGE);
    margin_engine_free(e);
}
END_TEST

/* Only a margin: the leverage is Q*E/M rounded up.
 *   margin 100 on Q 1 @ 100: 100/100 = exactly 1x, accepted;
 *   margin 200: 100/200 = 0.5x, refused (ELEVERAGE).
 * Kills: `leverage < ONE` -> `<=` in margin_position_open. */
START_TEST(test_open_margin_only_one_x)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("1000"));
    p = open_ok(e, a, m, MARGIN_SHORT, "1", "100", 0, D("100"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LEVERAGE), X(1));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_SHORT, "1", "100", 0, D("200")), MARGIN_ELEVERAGE);
    margin_engine_free(e);
}
END_TEST

/* A given margin against the initial margin Q*E/L = 20000/20 = 1000: 1000 exactly is
 * accepted, 999.99999999 refused (EMARGIN).
 * Kills: `margin < im` -> `<=`. */
START_TEST(test_open_margin_equal_initial)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "20000", X(20), D("999.99999999")),
                     MARGIN_EMARGIN);
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), D("1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    margin_engine_free(e);
}
END_TEST

/* The free balance against margin plus fee, 1000 + 0.0004*20000 = 1008: a free balance of
 * exactly 1008 opens (leaving 0); 1007.99999999 does not (EFUNDS).
 * Kills: `need > a->free` -> `>=`. */
START_TEST(test_open_free_exactly_covers)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, p;
    make_engine(&e, &m, &a, D("1008"));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("1007.99999999")));
    ck_assert_int_eq(open_rc(e, b, m, MARGIN_LONG, "1", "20000", X(20), 0), MARGIN_EFUNDS);
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("1000"));
    /* position ledger: the opening fee is the position's */
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("8"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FREE_BALANCE), D("1007.99999999"));
    margin_engine_free(e);
}
END_TEST

/* Opening at a mark exactly on the new position's liquidation price is refused (it would
 * be liquidated at once); one unit on the safe side is accepted.
 *   long: LP 19076.30522089 (header comment): mark 19076.30522089 refused, ...090 accepted;
 *   short: LP 21912.35059760: mark 21912.35059760 refused, ...759 accepted.
 * Kills: liquidatable() `mark <= p->liq` -> `<`, `mark >= p->liq` -> `>`. */
START_TEST(test_open_at_liquidation_mark)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("100000"));
    mark_at(e, m, D("19076.30522089"));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0), MARGIN_EMARGIN);
    mark_at(e, m, D("19076.30522090"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("19076.30522089"));
    ck_assert_ok(e, margin_position_close(e, p, D("20000"), 0));

    mark_at(e, m, D("21912.3505976"));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_SHORT, "1", "20000", X(10), 0), MARGIN_EMARGIN);
    mark_at(e, m, D("21912.35059759"));
    p = open_ok(e, a, m, MARGIN_SHORT, "1", "20000", X(10), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("21912.3505976"));
    margin_engine_free(e);
}
END_TEST

/* The market's maximum price, by default 10^(8 + 7) units = 10,000,000 at price scale 8:
 *   a mark exactly at it is accepted, one unit above refused (ERANGE);
 *   a fill exactly at it is accepted (Q 0.001: notional 10000, 20x: IM 500, fee 4), one unit
 *   above refused (ERANGE).
 * Every position must fit at every mark up to it: a 1x long of Q @ 1 has margin Q and, at
 * the maximum price, value and margin balance Q*10^7 (fees and funding are at most that).
 * The largest money amount is 92233720368.54775807, so Q = 9223.37203685 fits
 * (92233720368.5) and 9223.37203686 does not (92233720368.6): EOVERFLOW.
 * Kills: `mark > max` -> `>=`, `price <= max` -> `<`, the default ten times too low, the
 * value at the maximum price not checked, the margin left out of the balance check. */
START_TEST(test_max_price_exact)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t v = 0, top = D("10000000");
    make_engine(&e, &m, &a, D("20000"));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_MAX_PRICE, &v));
    ck_assert_int_eq(v, top);
    ck_assert_int_eq(margin_mark_update(e, m, top + 1), MARGIN_ERANGE);
    ck_assert_ok(e, margin_mark_update(e, m, top));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "0.001", "10000000.00000001", X(20), 0),
                     MARGIN_ERANGE);
    p = open_ok(e, a, m, MARGIN_LONG, "0.001", "10000000", X(20), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("500"));
    ck_assert_ok(e, margin_position_close(e, p, top, 0));

    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "9223.37203686", "1", X(1), 0),
                     MARGIN_EOVERFLOW);
    p = open_ok(e, a, m, MARGIN_LONG, "9223.37203685", "1", X(1), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_NOTIONAL, top), D("92233720368.5"));
    ck_assert_ok(e, margin_position_close(e, p, D("1"), 0));
    /* at 100x the margin balance at the maximum (92.24 + Q*(10^7 - 1)) fits either way: only
     * the value Q*10^7 decides */
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "9223.37203686", "1", X(100), 0),
                     MARGIN_EOVERFLOW);
    p = open_ok(e, a, m, MARGIN_LONG, "9223.37203685", "1", X(100), 0);
    ck_assert_ok(e, margin_position_close(e, p, D("1"), 0));
    /* and with a large margin only the balance decides: Q 9000 @ 1, value at the maximum
     * 9e10 fits; balance M + 9000*(10^7 - 1) = M + 89999991000 fits for M up to
     * 92233720368.54775807 - 89999991000 = 2233729368.54775807, not one unit more */
    ck_assert_ok(e, margin_account_deposit(e, a, D("3000000000")));
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "9000", "1", X(1),
                             D("2233729368.54775807") + 1),
                     MARGIN_EOVERFLOW);
    p = open_ok(e, a, m, MARGIN_LONG, "9000", "1", X(1), D("2233729368.54775807"));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== tiers */

/* Two tiers: [0, 10000) mmr 0.004, max 50x; [10000, ...) mmr 0.005, max 20x, maintenance
 * amount derived: 10000*(0.005 - 0.004) + 0 = 10.
 *   notional exactly 10000 (Q 1 @ 10000) is in tier 1: rate 0.005, amount 10; 20x is
 *     accepted there, 20.00000001x and 50x refused (ELEVERAGE);
 *   notional 9999.99999999 (Q 1 @ 9999.99999999) is in tier 0: 50x accepted.
 *   margin_market_tier_for(10000) = (0.005, 10); (9999.99999999) = (0.004, 0).
 *   maintenance margin of the 20x position at mark 10000: 10000*0.005 - 10 = 40.
 * Kills: tier selection `n_w >= floor` -> `>`, `lev > tier max` -> `>=`. */
START_TEST(test_tier_floor_exact)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t mmr = 0, amt = 0;
    make_engine(&e, &m, &a, D("100000"));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), X(50), MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("10000"), D("0.005"), X(20), MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_tier_for(e, m, D("10000"), &mmr, &amt));
    ck_assert_int_eq(mmr, D("0.005"));
    ck_assert_int_eq(amt, D("10"));
    ck_assert_ok(e, margin_market_tier_for(e, m, D("9999.99999999"), &mmr, &amt));
    ck_assert_int_eq(mmr, D("0.004"));
    ck_assert_int_eq(amt, 0);

    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "10000", X(50), 0), MARGIN_ELEVERAGE);
    ck_assert_int_eq(open_rc(e, a, m, MARGIN_LONG, "1", "10000", X(20) + 1, 0),
                     MARGIN_ELEVERAGE);
    p = open_ok(e, a, m, MARGIN_LONG, "1", "10000", X(20), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, D("10000")), D("0.005"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, D("10000")), D("10"));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("10000")), D("40"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "9999.99999999", X(50), 0);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, D("9999.99999999")), D("0.004"));
    margin_engine_free(e);
}
END_TEST

/* A derived maintenance amount that needs rounding up: floor 50000.00000001, rates 0.004 ->
 * 0.005: cum = 50000.00000001 * 0.001 = 50.00000000001, up to 50.00000001 (the holder owes
 * it). Kills: the derived amount rounded down. */
START_TEST(test_tier_derived_amount_rounds_up)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t fl = 0, mmr = 0, lev = 0, amt = 0;
    make_engine(&e, &m, &a, 0);
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("50000.00000001"), D("0.005"), 0,
                                           MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_tier(e, m, 1, &fl, &mmr, &lev, &amt));
    ck_assert_int_eq(fl, D("50000.00000001"));
    ck_assert_int_eq(amt, D("50.00000001"));
    margin_engine_free(e);
}
END_TEST

/* A maintenance margin is never negative, even where the derived amounts, each rounded up,
 * add up to more than the notional times the rate. Tiers (0, 0.004), (0.00000001, 0.005),
 * (0.00000002, 0.006), (0.00000003, 0.007), amounts derived:
 *   cum1 = 0.00000001*0.001 = 1e-11, up 0.00000001; cum2 = 2e-11 up 1e-8, + cum1 = 2e-8;
 *   cum3 = 3e-11 up 1e-8, + cum2 = 0.00000003.
 * A long of 0.00000001 @ 3 at 3x (notional 0.00000003, exactly tier 3's floor; M 1e-8):
 *   entry basis: MM_e = 3e-8*0.007 - 3e-8 = 2.1e-10 - 3e-8 < 0 -> 0 (rounded up it would be
 *   -0.00000002); so LP = E - (M - MM_e)/Q = 3 - 1e-8/1e-8 = 2 (with MM_e < 0 it would be
 *   3 - 3.979 < 0, i.e. none);
 *   mark basis at mark 3: ceil(3e-8*0.007) - 3e-8 = 1e-8 - 3e-8 < 0 -> 0. At mark 6 (MM
 *   ceil(6e-8*0.007) - 3e-8 < 0 -> 0): removable = min(M - 0, M + 3e-8 - 6e-8/3) =
 *   min(1e-8, 2e-8) = 1e-8 = M, which the header caps at M minus one unit: 0.
 * (If a later version refuses amounts above floor*rate here, the case cannot arise and the
 * test only checks that the refusal is EINVAL.)
 * Kills: the entry- and mark-basis clamps at 0 removed, the removable cap `x >= M` -> `>`. */
START_TEST(test_maintenance_never_negative)
{
    for (int basis = 0; basis < 2; basis++) {
        margin_engine *e = NULL;
        uint64_t m = 0, a = 0, p;
        int rc = MARGIN_OK;
        make_engine(&e, &m, &a, D("1"));
        ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS,
                                          basis ? MARGIN_MM_BASIS_ENTRY : MARGIN_MM_BASIS_MARK));
        ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, MARGIN_DERIVE));
        for (int k = 1; k <= 3 && rc == MARGIN_OK; k++)
            rc = margin_market_add_tier(e, m, k, D("0.004") + k * D("0.001"), 0, MARGIN_DERIVE);
        if (rc != MARGIN_OK) {
            ck_assert_int_eq(rc, MARGIN_EINVAL);
            margin_engine_free(e);
            continue;
        }
        p = open_ok(e, a, m, MARGIN_LONG, "0.00000001", "3", X(3), 0);
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("0.00000001"));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_AMOUNT, D("3")), D("0.00000003"));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_RATE, D("3")), D("0.007"));
        ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, D("3")), 0);
        if (basis) {
            ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), D("2"));
        } else {
            mark_at(e, m, D("6"));
            ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, 0), 0);
            ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), 0);
            ck_assert_int_eq(margin_position_remove_margin(e, p, 1), MARGIN_EMARGIN);
        }
        margin_engine_free(e);
    }
}
END_TEST

/* Tier and level validation at their boundaries:
 *   a floor equal to the previous one is refused, one unit above accepted;
 *   a rate equal to the previous one is accepted, one unit below refused;
 *   a margin-call level of exactly 1 is refused, 0.99999999 accepted.
 * Kills: `floor <= prev` -> `<`, `mmr < prev` -> `<=`, `level >= 1` -> `>`. */
START_TEST(test_tier_and_level_validation)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0;
    int64_t lv;
    make_engine(&e, &m, &a, 0);
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.004"), 0, MARGIN_DERIVE));
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000"), D("0.005"), 0, MARGIN_DERIVE));
    ck_assert_int_eq(margin_market_add_tier(e, m, D("1000"), D("0.006"), 0, MARGIN_DERIVE),
                     MARGIN_EINVAL);
    ck_assert_int_eq(margin_market_add_tier(e, m, D("2000"), D("0.005") - 1, 0, MARGIN_DERIVE),
                     MARGIN_EINVAL);
    ck_assert_ok(e, margin_market_add_tier(e, m, D("1000.00000001"), D("0.005"), 0,
                                           MARGIN_DERIVE));
    lv = D("1");
    ck_assert_int_eq(margin_engine_set_margin_call_levels(e, &lv, 1), MARGIN_EINVAL);
    lv = D("0.99999999");
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, &lv, 1));
    margin_engine_free(e);
}
END_TEST

/* ================================================================== wallet and margin */

/* Withdraw exactly the free balance: accepted (0 left); one unit more refused.
 * Add exactly the free balance as margin: accepted; one unit more refused.
 *   deposit 2008, open the reference long (free 1000), add 1000 -> margin 2000, free 0.
 * Kills: `amount > a->free` -> `>=` (withdraw), `amount > free` -> `>=` (add margin). */
START_TEST(test_whole_free_balance)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, p;
    make_engine(&e, &m, &a, D("2008"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(margin_position_add_margin(e, p, D("1000") + 1), MARGIN_EFUNDS);
    ck_assert_ok(e, margin_position_add_margin(e, p, D("1000")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("2000"));
    assert_conserved(e, a);

    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("5")));
    ck_assert_int_eq(margin_account_withdraw(e, b, D("5") + 1), MARGIN_EFUNDS);
    ck_assert_ok(e, margin_account_withdraw(e, b, D("5")));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_WITHDRAWALS), D("5"));
    margin_engine_free(e);
}
END_TEST

/* Removable margin = max(0, min(M - MM, M + uPnL - Q*P/L)). The reference long with 1000
 * added (M 2000) at its entry (no mark yet): M - MM = 2000 - 20000*0.004 = 1920,
 * M + 0 - 20000/20 = 1000; the smaller is 1000. Removing 1000.00000001 is refused
 * (EMARGIN), exactly 1000 accepted; the margin is back to 1000 and the isolated ledger too.
 * Kills: `y < x` -> `y > x` (the larger bound), `amount > rem` -> `>=`, and the margin
 * change's isolated delta dropped. */
START_TEST(test_remove_exactly_removable)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_add_margin(e, p, D("1000")));
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_REMOVABLE_MARGIN, 0), D("1000"));
    ck_assert_int_eq(margin_position_remove_margin(e, p, D("1000") + 1), MARGIN_EMARGIN);
    ck_assert_ok(e, margin_position_remove_margin(e, p, D("1000")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Raising the margin by lowering the leverage, 20x -> 10x on the reference long: the extra
 * margin is 2000 - 1000 = 1000. Free balance exactly 1000 (deposit 2008): accepted, free 0;
 * 999.99999999 (deposit 2007.99999999): refused (EFUNDS).
 * Kills: `delta > free` -> `>=` in margin_position_set_leverage. */
START_TEST(test_leverage_extra_margin_exact)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, p, q;
    make_engine(&e, &m, &a, D("2008"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(10)));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("2000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    assert_conserved(e, a);

    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("2007.99999999")));
    q = open_ok(e, b, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(margin_position_set_leverage(e, q, X(10)), MARGIN_EFUNDS);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_MARGIN), D("1000"));
    margin_engine_free(e);
}
END_TEST

/* Lowering the margin by raising the leverage, 10x -> 20x on a long Q 1 @ 20000 (M 2000 ->
 * 1000), at a mark where the new balance equals the new maintenance margin exactly:
 *   mark 19076.30522089: balance 1000 + (19076.30522089 - 20000) = 76.30522089;
 *   MM = 0.004*19076.30522089 = 76.30522088356, up 76.30522089: equal -> refused (EMARGIN);
 *   mark 19076.30522090: balance 76.3052209 > MM 76.3052208836 -> up 76.30522089: accepted.
 * (A 10x long's triggers are far below: LP 18000/0.996 = 18072.3, level 0.8 at 18090.5.)
 * Kills: `b <= mm` -> `<`. */
START_TEST(test_leverage_balance_at_maintenance)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(10), 0);
    mark_at(e, m, D("19076.30522089"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(margin_position_set_leverage(e, p, X(20)), MARGIN_EMARGIN);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("2000"));
    mark_at(e, m, D("19076.3052209"));
    ck_assert_ok(e, margin_position_set_leverage(e, p, X(20)));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("1000"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== trades and closes */

/* Reduce with a fee that free balance plus proceeds cover exactly.
 *   reference long, free balance made exactly 3.8 (deposit 1008 + 3.8 = 1011.8);
 *   reduce 0.5 at 19000: PnL 0.5*(19000 - 20000) = -500, released 1000*0.5 = 500, proceeds
 *   0; fee 0.0004*0.5*19000 = 3.8 = free + proceeds: accepted, free 0, margin 500.
 *   With a free balance of 3.79999999 (deposit 1011.79999999): refused (EFUNDS).
 * Position ledgers: realized -500, fees 8 + 3.8 = 11.8.
 * Kills: `free + out < fee` -> `<=`. */
START_TEST(test_reduce_fee_exactly_covered)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, p, q;
    make_engine(&e, &m, &a, D("1011.8"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("3.8"));
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.5"), D("19000"), 0));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("500"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-500"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("11.8"));
    assert_conserved(e, a);

    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("1011.79999999")));
    q = open_ok(e, b, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(margin_position_trade(e, q, MARGIN_SHORT, D("0.5"), D("19000"), 0),
                     MARGIN_EFUNDS);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_QTY), D("1"));
    margin_engine_free(e);
}
END_TEST

/* A reduce filled past the bankruptcy price (BP 19000): reference long, reduce 0.5 at 17000.
 *   PnL 0.5*(17000 - 20000) = -1500; released 500; 500 - 1500 = -1000: the loss beyond the
 *   released share comes out of the remaining margin 500 -> -500: the holder loses the whole
 *   margin 1000 (realized -1000), the fund takes the other -500, the margin is 0.
 *   fee 0.0004*0.5*17000 = 3.4; free 8992 - 3.4 = 8988.6.
 * Position: Q 0.5, M 0, realized -1000, fees 11.4; account realized -1000, fees 11.4,
 * isolated 0; insurance -500. Kills: `realized -= nm` -> `+=`, `ins = nm` -> 0, and the
 * position's realized PnL taken uncapped. */
START_TEST(test_reduce_past_bankruptcy_ledgers)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("0.5"), D("17000"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("0.5"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("11.4"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("11.4"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8988.6"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-500"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Margin released by a reduce rounds down: long Q 3 @ 20000 with margin 3000.00000001 (IM
 * 60000/20 = 3000); reduce 1 at 20000: released 3000.00000001/3 = 1000.0000000033, down
 * 1000; margin left 2000.00000001; PnL 0; fee 8.
 *   free: 10000 - 3000.00000001 - 24 = 6975.99999999, then + 1000 - 8 = 7967.99999999.
 * Kills: the released margin rounded up. */
START_TEST(test_reduce_released_rounds_down)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "3", "20000", X(20), D("3000.00000001"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("6975.99999999"));
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("1"), D("20000"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("2000.00000001"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("7967.99999999"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Averaged entry rounds against the holder: Q 1 @ 20000 plus 2 @ 20000.00000001:
 *   (20000 + 40000.00000002)/3 = 20000.0000000066..., long up 20000.00000001, short down
 *   20000. Kills: RUP swapped, the long's average rounded down. */
START_TEST(test_entry_average_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p, q;
    make_engine(&e, &m, &a, D("100000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_LONG, D("2"), D("20000.00000001"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ENTRY_PRICE), D("20000.00000001"));
    q = open_ok(e, a, m, MARGIN_SHORT, "1", "20000", X(20), 0);
    ck_assert_int_eq(margin_position_trade(e, q, MARGIN_SHORT, D("2"), D("20000.00000001"), 0),
                     MARGIN_OK);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_ENTRY_PRICE), D("20000"));
    margin_engine_free(e);
}
END_TEST

/* A fee waived in part: reference long with a free balance of 0.1 (deposit 1008.1), closed
 * at 19000.5: PnL -999.5, margin + PnL = 0.5 returned; fee 0.0004*19000.5 = 7.6002, but free
 * balance plus proceeds is only 0.1 + 0.5 = 0.6: the fee charged is 0.6, the rest waived.
 * Free 0; position realized -999.5, fees 8 + 0.6 = 8.6; account fees 8.6.
 * Kills: the waived fee computed without the proceeds (`fee = a->free`), a close's fee not
 * on the position's fees, a close's PnL not on the position's realized PnL. */
START_TEST(test_close_fee_waived_in_part)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("1008.1"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("0.1"));
    ck_assert_ok(e, margin_position_close(e, p, D("19000.5"), 0));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-999.5"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("8.6"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("8.6"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), D("-999.5"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* A close past the bankruptcy price: reference long closed at 18000: PnL -2000, margin +
 * PnL = -1000 < 0: the holder realizes -1000 (its margin), nothing is returned, the fund
 * takes -1000; fee 0.0004*18000 = 7.2 from the free balance: 8992 - 7.2 = 8984.8.
 * Kills: a negative amount returned to the free balance. */
START_TEST(test_close_past_bankruptcy)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_close(e, p, D("18000"), 0));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8984.8"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("15.2"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-1000"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Flip with a free balance that exactly covers the reopened side: reference long, sell 2 at
 * 20000: close (PnL 0, 1000 returned, fee 8), reopen short 1 at 20x (IM 1000, fee 8): need
 * 1008 <= free + 1000 - 8. Deposit 1024 -> free 16 after the open -> 16 + 992 = 1008:
 * accepted, free 0. Deposit 1023.99999999: refused (EFUNDS).
 * Position fees 8 + 8 + 8 = 24 (the closing fee included). Kills: `need > free_after` ->
 * `>=`, the flip's closing fee missing from the position's fees. */
START_TEST(test_flip_exactly_covered)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, p, q;
    make_engine(&e, &m, &a, D("1024"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_position_trade(e, p, MARGIN_SHORT, D("2"), D("20000"), 0));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_SIDE), MARGIN_SHORT);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_QTY), D("1"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), D("1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("24"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("24"));
    assert_conserved(e, a);

    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("1023.99999999")));
    q = open_ok(e, b, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_int_eq(margin_position_trade(e, q, MARGIN_SHORT, D("2"), D("20000"), 0),
                     MARGIN_EFUNDS);
    ck_assert_int_eq(pos_get(e, q, MARGIN_POS_SIDE), MARGIN_LONG);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== funding */

/* Per-position funding, rounded against the holder: the reference long (account a) and
 * short (account b) at rate 0.0001, mark 20000.00000001: |payment| = 20000.00000001*0.0001
 * = 2.000000000001: the long pays 2.00000001 (up), the short receives 2 (down).
 *   long margin 1000 - 2.00000001 = 997.99999999, short 2000 + 2 = 2002.
 * Kills: funding rounded toward the holder, funding flowing the wrong way, and funding
 * missing from the position's ledger or the account's. */
START_TEST(test_funding_per_position)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, b = 0, pl, ps;
    make_engine(&e, &m, &a, D("10000"));
    ck_assert_ok(e, margin_account_new(e, &b));
    ck_assert_ok(e, margin_account_deposit(e, b, D("10000")));
    pl = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ps = open_ok(e, b, m, MARGIN_SHORT, "1", "20000", X(10), 0);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.0001"), D("20000.00000001")));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_FUNDING), D("-2.00000001"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_FUNDING), D("2"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_MARGIN), D("997.99999999"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_MARGIN), D("2002"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-2.00000001"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FUNDING), D("2"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("997.99999999"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_ISOLATED_MARGIN), D("2002"));
    assert_conserved(e, a);
    assert_conserved(e, b);
    margin_engine_free(e);
}
END_TEST

/* A funding payment larger than the margin is capped at the margin: the reference long at
 * rate 0.06, mark 20000: payment 20000*0.06 = 1200 > M = 1000: it pays 1000, its margin is 0,
 * and the evaluation that follows liquidates it at 20000 (LP with M 0 is 20000/0.996 >
 * 20000): realized -0, the fund receives 0*(20000 - 20000) + 0 = 0. The free balance is
 * untouched (8992); position and account funding are -1000.
 * Kills: the cap removed. */
START_TEST(test_funding_capped_at_margin)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    make_engine(&e, &m, &a, D("10000"));
    p = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(20), 0);
    ck_assert_ok(e, margin_funding_apply(e, m, D("0.06"), D("20000")));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FUNDING), D("-1000"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* ================================================================== triggers (loop: _i = scan) */

/* Liquidation exactly at the liquidation price, long: one unit above nothing but the margin
 * call (the level price 19095.47738694 is above), at 19076.30522089 liquidated.
 *   realized -1000, the fund gets 1*(19076.30522089 - 20000) + 1000 = 76.30522089; no fee.
 * Kills: `mark <= p->liq` -> `<` (decide), the long's liquidation key one unit low, the heap
 * root exactly at the mark not visited. */
START_TEST(test_liq_exact_long)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    ref_long(_i, &e, &m, &a, &p);
    mark_at(e, m, D("19076.3052209"));
    ck_assert_int_eq(drain_count(e, MARGIN_EV_MARGIN_CALL, p), 1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    mark_at(e, m, D("19076.30522089"));
    ck_assert_int_eq(drain_count(e, MARGIN_EV_LIQUIDATION, p), 1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-1000"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D("8"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("76.30522089"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("8992"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Short: nothing liquidates at 21912.35059759, liquidated at 21912.35059760;
 *   the fund gets -(21912.3505976 - 20000) + 2000 = 87.6494024. */
START_TEST(test_liq_exact_short)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    ref_short(_i, &e, &m, &a, &p);
    mark_at(e, m, D("21912.35059759"));
    ck_assert_int_eq(drain_count(e, MARGIN_EV_LIQUIDATION, 0), 0);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    mark_at(e, m, D("21912.3505976"));
    ck_assert_int_eq(drain_count(e, MARGIN_EV_LIQUIDATION, p), 1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D("-2000"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("87.6494024"));
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* Two longs, no margin-call levels, the mark exactly on the lower liquidation price:
 *   A = the reference long, LP 19076.30522089;
 *   B = Q 1 @ 20000 at 25x: M 800, LP = 19200/0.996 = 19277.108433734939 -> 19277.10843374.
 * B's key is the heap's root, A's a child exactly at the mark: both are liquidated.
 * Kills: a heap child exactly at the mark not visited. */
START_TEST(test_liq_exact_heap_child)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, pa, pb;
    ref_long(_i, &e, &m, &a, &pa);
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, NULL, 0));
    pb = open_ok(e, a, m, MARGIN_LONG, "1", "20000", X(25), 0);
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_LIQ_PRICE), D("19277.10843374"));
    mark_at(e, m, D("19076.30522089"));
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    assert_conserved(e, a);
    margin_engine_free(e);
}
END_TEST

/* The long's margin call at its level price 19095.47738694 (level 0.8, header comment):
 *   19095.47738695: nothing; 19095.47738694: one margin call; 19095.47738694 again: nothing
 *   (still fired); 19095.47738695: re-armed, no event; 19095.47738694: fires again.
 * Kills: `mark <= k` -> `<` (level_hit), the armed key one unit low, the re-arm key one unit
 * high (`k + 1` -> `k + 2`). */
START_TEST(test_margin_call_exact_long)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t k = D("19095.47738694");
    ref_long(_i, &e, &m, &a, &p);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), k);
    mark_at(e, m, k + UNIT);
    expect_quiet(e);
    mark_at(e, m, k);
    ck_assert_int_eq(drain_count(e, MARGIN_EV_MARGIN_CALL, p), 1);
    mark_at(e, m, k);
    expect_quiet(e);
    mark_at(e, m, k + UNIT);
    expect_quiet(e);
    mark_at(e, m, k);
    ck_assert_int_eq(drain_count(e, MARGIN_EV_MARGIN_CALL, p), 1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    margin_engine_free(e);
}
END_TEST

/* The short's margin call at 21890.54726368: 21890.54726367 nothing; ...368 fires; again
 * nothing; 21890.54726367 re-arms silently; 21890.54726368 fires again.
 * Kills: `mark >= k` -> `>`, the short's armed key one unit high, its re-arm key one unit low
 * (`k - 1` -> `k - 2`). */
START_TEST(test_margin_call_exact_short)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;
    int64_t k = D("21890.54726368");
    ref_short(_i, &e, &m, &a, &p);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), k);
    mark_at(e, m, k - UNIT);
    expect_quiet(e);
    mark_at(e, m, k);
    ck_assert_int_eq(drain_count(e, MARGIN_EV_MARGIN_CALL, p), 1);
    mark_at(e, m, k);
    expect_quiet(e);
    mark_at(e, m, k - UNIT);
    expect_quiet(e);
    mark_at(e, m, k);
    ck_assert_int_eq(drain_count(e, MARGIN_EV_MARGIN_CALL, p), 1);
    margin_engine_free(e);
}
END_TEST

/* Stops and take-profits exactly at their prices, each one unit short of it first.
 *   long stop 19500: 19500.00000001 nothing; 19500 closes: PnL -500, fee 7.8;
 *     free 8992 + 500 - 7.8 = 9484.2; position realized -500, fees 15.8.
 *   long take 21000: 20999.99999999 nothing; 21000 closes: PnL 1000, fee 8.4;
 *     free 8992 + 2000 - 8.4 = 10983.6; realized 1000, fees 16.4.
 *   short stop 20500: 20499.99999999 nothing; 20500 closes: PnL -500, fee 8.2;
 *     free 7992 + 1500 - 8.2 = 9483.8; realized -500, fees 16.2.
 *   short take 19000: 19000.00000001 nothing; 19000 closes: PnL 1000, fee 7.6;
 *     free 7992 + 3000 - 7.6 = 10984.4; realized 1000, fees 15.6.
 * (None of these marks reaches a margin-call level price.)
 * Kills: each stop/take comparison made strict, and each stop/take key one unit off. */
static void check_close(margin_engine *e, uint64_t a, uint64_t p, int32_t ev, const char *free_,
                        const char *pnl, const char *fees)
{
    ck_assert_int_eq(drain_count(e, ev, p), 1);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D(free_));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_REALIZED_PNL), D(pnl));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_FEES), D(fees));
    assert_conserved(e, a);
}

START_TEST(test_stops_exact)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a = 0, p;

    ref_long(_i, &e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("19500"), 0));
    mark_at(e, m, D("19500.00000001"));
    expect_quiet(e);
    mark_at(e, m, D("19500"));
    check_close(e, a, p, MARGIN_EV_STOP_LOSS, "9484.2", "-500", "15.8");
    margin_engine_free(e);

    ref_long(_i, &e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, D("21000")));
    mark_at(e, m, D("20999.99999999"));
    expect_quiet(e);
    mark_at(e, m, D("21000"));
    check_close(e, a, p, MARGIN_EV_TAKE_PROFIT, "10983.6", "1000", "16.4");
    margin_engine_free(e);

    ref_short(_i, &e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, D("20500"), 0));
    mark_at(e, m, D("20499.99999999"));
    expect_quiet(e);
    mark_at(e, m, D("20500"));
    check_close(e, a, p, MARGIN_EV_STOP_LOSS, "9483.8", "-500", "16.2");
    margin_engine_free(e);

    ref_short(_i, &e, &m, &a, &p);
    ck_assert_ok(e, margin_position_set_stops(e, p, 0, D("19000")));
    mark_at(e, m, D("19000.00000001"));
    expect_quiet(e);
    mark_at(e, m, D("19000"));
    check_close(e, a, p, MARGIN_EV_TAKE_PROFIT, "10984.4", "1000", "15.6");
    margin_engine_free(e);
}
END_TEST

Suite *suite_boundaries(void)
{
    Suite *s = suite_create("boundaries");
    TCase *tc = tcase_create("rejections");
    tcase_add_test(tc, test_open_leverage_limits);
    tcase_add_test(tc, test_open_margin_only_one_x);
    tcase_add_test(tc, test_open_margin_equal_initial);
    tcase_add_test(tc, test_open_free_exactly_covers);
    tcase_add_test(tc, test_open_at_liquidation_mark);
    tcase_add_test(tc, test_max_price_exact);
    tcase_add_test(tc, test_tier_floor_exact);
    tcase_add_test(tc, test_tier_derived_amount_rounds_up);
    tcase_add_test(tc, test_tier_and_level_validation);
    tcase_add_test(tc, test_maintenance_never_negative);
    tcase_add_test(tc, test_whole_free_balance);
    tcase_add_test(tc, test_remove_exactly_removable);
    tcase_add_test(tc, test_leverage_extra_margin_exact);
    tcase_add_test(tc, test_leverage_balance_at_maintenance);
    suite_add_tcase(s, tc);

    tc = tcase_create("ledgers");
    tcase_add_test(tc, test_reduce_fee_exactly_covered);
    tcase_add_test(tc, test_reduce_past_bankruptcy_ledgers);
    tcase_add_test(tc, test_reduce_released_rounds_down);
    tcase_add_test(tc, test_entry_average_rounding);
    tcase_add_test(tc, test_close_fee_waived_in_part);
    tcase_add_test(tc, test_close_past_bankruptcy);
    tcase_add_test(tc, test_flip_exactly_covered);
    tcase_add_test(tc, test_funding_per_position);
    tcase_add_test(tc, test_funding_capped_at_margin);
    suite_add_tcase(s, tc);

    /* each trigger test runs twice: _i = 0 through the indexes, _i = 1 full scan */
    tc = tcase_create("triggers");
    tcase_add_loop_test(tc, test_liq_exact_long, 0, 2);
    tcase_add_loop_test(tc, test_liq_exact_short, 0, 2);
    tcase_add_loop_test(tc, test_liq_exact_heap_child, 0, 2);
    tcase_add_loop_test(tc, test_margin_call_exact_long, 0, 2);
    tcase_add_loop_test(tc, test_margin_call_exact_short, 0, 2);
    tcase_add_loop_test(tc, test_stops_exact, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
