/* Suite "cross": cross margin (issue 11), scripted cases worked by hand.
 *
 * Every expected number below is either one of the spec's vectors
 * (../shared/spec/margin-math.md, "Binance calculator example") or worked out by hand in the
 * comment above the test from the semantics of include/margin.h:
 *   uPnL    = sum of s*Q*(P - E), each leg rounded down;   balance = WB + uPnL
 *   MM      = sum of each leg's max(0, Q*P*(mmr + f) - cum), each rounded up (hedge legs gross)
 *   IM      = sum of Q*E/L, each rounded up
 *   ratio   = MM / balance rounded up (INT64_MAX when balance <= 0)
 *   available = max(0, min(WB + min(0, uPnL) - IM, balance - MM - 1 unit))
 *   liquidated when balance <= MM (on the rounded figures), at a mark update or funding of a
 *   market where the account holds a cross position
 *   LP of one market's legs = (WB - TMM_o + UPNL_o + cum_L + cum_S - Q_L*E_L + Q_S*E_S)
 *                             / (Q_L*mmr_L + Q_S*mmr_S - Q_L + Q_S), net long rounded up,
 *                             otherwise down.
 * Most cases use markets at price scale 2 and quantity scale 3 (Binance's BTCUSDT grid), one
 * tier, no fees and no fee to close, so that the arithmetic stays exact and short.
 *
 * Each case runs twice, on the trigger indexes and on MARGIN_ENG_FULL_SCAN = 1; the "index"
 * case then runs every scenario on both and requires byte-identical event streams.
 * sc_worst_first_call, sc_worst_first_take, sc_isolated_fee_negative_wallet and
 * sc_isolated_stop_fees_in_order reproduce, by hand, core bugs the randomized suite
 * (check_cross_random.c) found. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"

/* ------------------------------------------------------------------ context and events */

#define NF (MARGIN_EVF_MODE + 1)
#define LOGMAX 256

typedef struct {
    int64_t f[NF];
} ev_t;

/* One engine and every event it produced, in order (for the global identity and for
 * comparing the indexed and full-scan runs of a scenario). */
typedef struct {
    margin_engine *e;
    ev_t *log;
    size_t nlog;
} ctx_t;

static void ctx_init(ctx_t *c, int full_scan)
{
    memset(c, 0, sizeof *c);
    ck_assert_int_eq(margin_engine_new(&c->e), MARGIN_OK);
    ck_assert_ok(c->e, margin_engine_set(c->e, MARGIN_ENG_FULL_SCAN, full_scan));
    c->log = calloc(LOGMAX, sizeof *c->log);
    ck_assert(c->log != NULL);
}

static void ctx_free(ctx_t *c)
{
    margin_engine_free(c->e);
    free(c->log);
}

/* Take every queued event (at most max) into out, and into the log; returns how many. */
static size_t take(ctx_t *c, ev_t *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        int32_t type = -1;
        ck_assert_ok(c->e, margin_event_next(c->e, &type));
        if (type == MARGIN_EV_NONE)
            break;
        ck_assert_msg(n < max && c->nlog < LOGMAX, "more events than expected");
        out[n].f[0] = 0;
        for (int32_t k = 1; k < NF; k++)
            ck_assert_ok(c->e, margin_event_get(c->e, k, &out[n].f[k]));
        ck_assert_int_eq(out[n].f[MARGIN_EVF_TYPE], type);
        c->log[c->nlog++] = out[n];
        n++;
    }
    return n;
}

static void flush(ctx_t *c)
{
    ev_t tmp[32];
    take(c, tmp, 32);
}

/* A mark update that must produce no event (events queued before it are flushed). */
static void quiet_mark(ctx_t *c, uint64_t m, int64_t mark)
{
    ev_t tmp[4];
    flush(c);
    ck_assert_ok(c->e, margin_mark_update(c->e, m, mark));
    ck_assert_msg(take(c, tmp, 4) == 0, "mark %lld produced events", (long long)mark);
}

#define EVEQ(v, field, want)                                                                \
    ck_assert_msg((v).f[field] == (int64_t)(want), "%s: %s = %lld, want %lld", #v, #field,  \
                  (long long)(v).f[field], (long long)(want))

/* A cross position closed by an account liquidation (semantics.md, "Events"). */
static void want_cross_leg(const ev_t *v, uint64_t acct, uint64_t mkt, uint64_t pos,
                           int64_t price, int64_t pnl, int64_t free_after)
{
    EVEQ(*v, MARGIN_EVF_TYPE, MARGIN_EV_LIQUIDATION);
    EVEQ(*v, MARGIN_EVF_ACCOUNT, acct);
    EVEQ(*v, MARGIN_EVF_MARKET, mkt);
    EVEQ(*v, MARGIN_EVF_POSITION, pos);
    EVEQ(*v, MARGIN_EVF_PRICE, price);
    EVEQ(*v, MARGIN_EVF_REALIZED_PNL, pnl);
    EVEQ(*v, MARGIN_EVF_AMOUNT, 0);
    EVEQ(*v, MARGIN_EVF_MARGIN, 0);
    EVEQ(*v, MARGIN_EVF_FEE, 0);
    EVEQ(*v, MARGIN_EVF_INSURANCE_DELTA, 0);
    EVEQ(*v, MARGIN_EVF_POSITION_QTY, 0);
    EVEQ(*v, MARGIN_EVF_MODE, MARGIN_MODE_CROSS);
    EVEQ(*v, MARGIN_EVF_FREE_BALANCE, free_after);
}

/* The account event that closes a cross liquidation. */
static void want_cross_end(const ev_t *v, uint64_t acct, uint64_t mkt, int64_t nclosed,
                           int64_t deficit, int64_t free_after, int64_t ratio)
{
    EVEQ(*v, MARGIN_EVF_TYPE, MARGIN_EV_CROSS_LIQUIDATION);
    EVEQ(*v, MARGIN_EVF_ACCOUNT, acct);
    EVEQ(*v, MARGIN_EVF_MARKET, mkt);
    EVEQ(*v, MARGIN_EVF_POSITION, 0);
    EVEQ(*v, MARGIN_EVF_QTY, nclosed);
    EVEQ(*v, MARGIN_EVF_AMOUNT, deficit);
    EVEQ(*v, MARGIN_EVF_REALIZED_PNL, deficit);
    EVEQ(*v, MARGIN_EVF_INSURANCE_DELTA, -deficit);
    EVEQ(*v, MARGIN_EVF_FEE, 0);
    EVEQ(*v, MARGIN_EVF_FREE_BALANCE, free_after);
    EVEQ(*v, MARGIN_EVF_MARGIN_RATIO, ratio);
    EVEQ(*v, MARGIN_EVF_MODE, MARGIN_MODE_CROSS);
}

/* An account margin call (position 0) at a level, with the account's ratio. */
static void want_call(const ev_t *v, uint64_t acct, int64_t level, int64_t ratio)
{
    EVEQ(*v, MARGIN_EVF_TYPE, MARGIN_EV_MARGIN_CALL);
    EVEQ(*v, MARGIN_EVF_ACCOUNT, acct);
    EVEQ(*v, MARGIN_EVF_POSITION, 0);
    EVEQ(*v, MARGIN_EVF_LEVEL, level);
    EVEQ(*v, MARGIN_EVF_MARGIN_RATIO, ratio);
    EVEQ(*v, MARGIN_EVF_MODE, MARGIN_MODE_CROSS);
}

/* Money identities over the whole scenario: per account (assert_conserved), every ledger
 * total equal to its sum over the events, and
 *   sum_a (free + isolated) + insurance fund
 *     == deposits - withdrawals - fees + funding + sum(REALIZED_PNL) + sum(INSURANCE_DELTA). */
static void check_books(ctx_t *c)
{
    int64_t dep = 0, wd = 0, fee = 0, fund = 0, pnl = 0, ins = 0;
    int64_t a_dep = 0, a_wd = 0, a_fee = 0, a_fund = 0, a_pnl = 0, held = 0;
    int64_t v = 0;
    flush(c);
    for (size_t i = 0; i < c->nlog; i++) {
        const ev_t *x = &c->log[i];
        fee += x->f[MARGIN_EVF_FEE];
        pnl += x->f[MARGIN_EVF_REALIZED_PNL];
        ins += x->f[MARGIN_EVF_INSURANCE_DELTA];
        if (x->f[MARGIN_EVF_TYPE] == MARGIN_EV_DEPOSIT)
            dep += x->f[MARGIN_EVF_AMOUNT];
        else if (x->f[MARGIN_EVF_TYPE] == MARGIN_EV_WITHDRAW)
            wd += x->f[MARGIN_EVF_AMOUNT];
        else if (x->f[MARGIN_EVF_TYPE] == MARGIN_EV_FUNDING)
            fund += x->f[MARGIN_EVF_AMOUNT];
    }
    for (uint64_t a = 1; margin_account_get(c->e, a, MARGIN_ACCT_DEPOSITS, &v) == MARGIN_OK;
         a++) {
        assert_conserved(c->e, a);
        a_dep += acct_get(c->e, a, MARGIN_ACCT_DEPOSITS);
        a_wd += acct_get(c->e, a, MARGIN_ACCT_WITHDRAWALS);
        a_fee += acct_get(c->e, a, MARGIN_ACCT_FEES);
        a_fund += acct_get(c->e, a, MARGIN_ACCT_FUNDING);
        a_pnl += acct_get(c->e, a, MARGIN_ACCT_REALIZED_PNL);
        held += acct_get(c->e, a, MARGIN_ACCT_FREE_BALANCE) +
                acct_get(c->e, a, MARGIN_ACCT_ISOLATED_MARGIN);
        ck_assert_int_eq(acct_get(c->e, a, MARGIN_ACCT_CROSS_WALLET),
                         acct_get(c->e, a, MARGIN_ACCT_FREE_BALANCE));
    }
    ck_assert_int_eq(a_dep, dep);
    ck_assert_int_eq(a_wd, wd);
    ck_assert_int_eq(a_fee, fee);
    ck_assert_int_eq(a_fund, fund);
    ck_assert_int_eq(a_pnl, pnl);
    ck_assert_int_eq(eng_get(c->e, MARGIN_ENG_INSURANCE_FUND), ins);
    ck_assert_int_eq(held + eng_get(c->e, MARGIN_ENG_INSURANCE_FUND),
                     dep - wd - fee + fund + pnl + ins);
}

/* ------------------------------------------------------------------ markets and figures */

#define PX(s) DS(s, 2) /* a price at scale 2 */
#define QT(s) DS(s, 3) /* a quantity at scale 3 */

/* Price scale 2, quantity scale 3, one tier (mmr, cum 0), no fees, no fee to close. */
static uint64_t small_market(margin_engine *e, const char *sym, const char *mmr)
{
    uint64_t m = 0;
    ck_assert_ok(e, margin_market_new(e, sym, &m));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 3));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D(mmr), 0, 0));
    return m;
}

static uint64_t new_account(margin_engine *e, const char *deposit)
{
    uint64_t a = 0;
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D(deposit)));
    return a;
}

/* A new account holding deposit, in cross mode in market m. */
static uint64_t cross_account(margin_engine *e, uint64_t m, const char *deposit)
{
    uint64_t a = new_account(e, deposit);
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    return a;
}

static uint64_t open_cross(margin_engine *e, uint64_t a, uint64_t m, int32_t side, int64_t q,
                           int64_t px, const char *lev)
{
    uint64_t p = 0;
    ck_assert_ok(e, margin_position_open(e, a, m, side, q, px, D(lev), 0, MARGIN_FLAG_CROSS, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MODE), MARGIN_MODE_CROSS);
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MARGIN), 0);
    return p;
}

/* An isolated long, its margin from the leverage. */
static uint64_t open_iso(margin_engine *e, uint64_t a, uint64_t m, int64_t q, int64_t px,
                         const char *lev)
{
    uint64_t p = 0;
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, q, px, D(lev), 0, 0, &p));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_MODE), MARGIN_MODE_ISOLATED);
    return p;
}

/* Markets X ("BTCUSDT") and Y ("ETHUSDT"), mmr 0.004, no fees, both marked at 20000, and an
 * account holding deposit, cross in X (isolated in Y). */
static uint64_t xy_book(ctx_t *c, const char *deposit, uint64_t *x, uint64_t *y)
{
    *x = small_market(c->e, "BTCUSDT", "0.004");
    *y = small_market(c->e, "ETHUSDT", "0.004");
    quiet_mark(c, *x, PX("20000"));
    quiet_mark(c, *y, PX("20000"));
    return cross_account(c->e, *x, deposit);
}

/* Cross long 1 and short 1 @ 20000 at 100x in x; x to px, where the holder closes the
 * short (x has no fees): the wallet takes the short's loss, the long's profit backs it.
 * Returns the long. */
static uint64_t close_short_leg(ctx_t *c, uint64_t a, uint64_t x, const char *px)
{
    uint64_t pl = open_cross(c->e, a, x, MARGIN_LONG, QT("1"), PX("20000"), "100");
    uint64_t ps = open_cross(c->e, a, x, MARGIN_SHORT, QT("1"), PX("20000"), "100");
    quiet_mark(c, x, PX(px));
    ck_assert_ok(c->e, margin_position_close(c->e, ps, PX(px), 0));
    ck_assert_int_eq(pos_get(c->e, ps, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    return pl;
}

/* The cross figures of an account, money (ratio at rate scale). */
static void want_figures(const margin_engine *e, uint64_t a, int64_t wb, int64_t upnl,
                         int64_t mm, int64_t ratio)
{
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_WALLET), wb);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), wb);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_UNREALIZED_PNL), upnl);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MARGIN_BALANCE), wb + upnl);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), mm);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_MARGIN_RATIO), ratio);
}

/* ------------------------------------------------------------------ Binance vectors */

/* The spec's cross rows. One account, cross in ETHUSDT and BTCUSDT (price and quantity
 * scale 8, no fees), WB = 1535443.01. ETH long 3683.979 @ 1456.84 at 5x (tier mmr 0.10, cum
 * 135365, max 10x); BTC long 109.488 @ 32481.98 at 20x (mmr 0.025, cum 16300, max 20x).
 *   Q*E:  ETH 5366967.96636,            BTC 3556387.02624
 *   IM:   ETH /5 = 1073393.593272,       BTC /20 = 177819.351312   (sum 1251212.944584)
 * Opened before any mark (each market at its entry):
 *   MM:   ETH 536696.796636 - 135365 = 401331.796636; BTC 88909.675656 - 16300 = 72609.675656
 *   available = min(1535443.01 - 1251212.944584, 1535443.01 - 473941.472292 - 1e-8)
 *             = 284230.065416
 *   LP ETH (BTC at entry) = (1535443.01 - 72609.675656 + 135365 - 5366967.96636)
 *                           / (3683.979*0.10 - 3683.979) = -3768769.632016 / -3315.5811
 *                         = 1136.684496125..., up 1136.68449613
 *   LP BTC (ETH at entry) = (1535443.01 - 401331.796636 + 16300 - 3556387.02624)
 *                           / (109.488*0.025 - 109.488) = -2405975.812876 / -106.7508
 *                         = 22538.246204019..., up 22538.24620402
 * Marks BTC 31967.27 then ETH 1335.18:
 *   uPnL: ETH 3683.979*(1335.18 - 1456.84) = -448192.88514; BTC 109.488*(-514.71) = -56354.56848
 *   notional: ETH 4918775.08122, BTC 3500032.45776
 *   MM:   ETH 491877.508122 - 135365 = 356512.508122; BTC 87500.811444 - 16300 = 71200.811444
 *   balance = 1535443.01 - 504547.45362 = 1030895.55638; MM = 427713.319566
 *   ratio = 0.41489491046..., up 0.41489492; available: WB + uPnL - IM < 0, so 0
 *   LP ETH = (1535443.01 - 71200.811444 - 56354.56848 + 135365 - 5366967.96636) / -3315.5811
 *          = -3823715.336284 / -3315.5811 = 1153.256464239..., up 1153.25646424 -> 1153.26
 *   LP BTC = (1535443.01 - 356512.508122 - 448192.88514 + 16300 - 3556387.02624) / -106.7508
 *          = -2809349.409502 / -106.7508 = 26316.893264518..., up 26316.89326452 -> 26316.89
 * A leg's LP does not depend on its own market's mark: ETH's is final as soon as BTC's mark
 * is in; BTC's moves only with ETH's mark. */
static int64_t cents(int64_t v8) /* 2 decimals, half up, as the spec writes them */
{
    return (v8 + 500000) / 1000000;
}

static void sc_binance(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t eth = 0, btc = 0, a = 0, pe, pb;
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &eth));
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &btc));
    ck_assert_ok(e, margin_market_add_tier(e, eth, 0, D("0.10"), D("10"), D("135365")));
    ck_assert_ok(e, margin_market_add_tier(e, btc, 0, D("0.025"), D("20"), D("16300")));
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(e, margin_market_set(e, i ? btc : eth, MARGIN_MKT_MAKER_FEE, 0));
        ck_assert_ok(e, margin_market_set(e, i ? btc : eth, MARGIN_MKT_TAKER_FEE, 0));
    }
    a = new_account(e, "1535443.01");
    ck_assert_ok(e, margin_account_set_mode(e, a, eth, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_set_mode(e, a, btc, MARGIN_MODE_CROSS));
    pe = open_cross(e, a, eth, MARGIN_LONG, D("3683.979"), D("1456.84"), "5");
    pb = open_cross(e, a, btc, MARGIN_LONG, D("109.488"), D("32481.98"), "20");
    flush(c);

    /* before any mark */
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_POSITIONS), 2);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_INITIAL_MARGIN), D("1251212.944584"));
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_INITIAL_MARGIN, 0), D("1073393.593272"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_INITIAL_MARGIN, 0), D("177819.351312"));
    want_figures(e, a, D("1535443.01"), 0, D("473941.472292"),
                 /* 473941.472292 / 1535443.01 = 0.3086675718..., up */ 30866758);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), D("284230.065416"));
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_LIQ_PRICE, 0), D("1136.68449613"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_LIQ_PRICE, 0), D("22538.24620402"));

    quiet_mark(c, btc, D("31967.27"));
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_LIQ_PRICE, 0), D("1153.25646424"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_LIQ_PRICE, 0), D("22538.24620402"));

    quiet_mark(c, eth, D("1335.18"));
    /* the spec's vectors, from the positions themselves */
    ck_assert_int_eq(cents(pos_at(e, pe, MARGIN_AT_LIQ_PRICE, 0)), DS("1153.26", 2));
    ck_assert_int_eq(cents(pos_at(e, pb, MARGIN_AT_LIQ_PRICE, 0)), DS("26316.89", 2));
    ck_assert_int_eq(cents(pos_get(e, pe, MARGIN_POS_LIQ_PRICE)), DS("1153.26", 2));
    ck_assert_int_eq(cents(pos_get(e, pb, MARGIN_POS_LIQ_PRICE)), DS("26316.89", 2));
    /* and to the unit, rounded up (long) */
    ck_assert_int_eq(pos_get(e, pe, MARGIN_POS_LIQ_PRICE), D("1153.25646424"));
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_LIQ_PRICE), D("26316.89326452"));
    /* independent of the mark passed */
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_LIQ_PRICE, D("1000")), D("1153.25646424"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_LIQ_PRICE, D("40000")), D("26316.89326452"));

    /* the account at those marks */
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_UNREALIZED_PNL, 0), D("-448192.88514"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_UNREALIZED_PNL, 0), D("-56354.56848"));
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_MAINT_MARGIN, 0), D("356512.508122"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_MAINT_MARGIN, 0), D("71200.811444"));
    want_figures(e, a, D("1535443.01"), D("-504547.45362"), D("427713.319566"), 41489492);
    ck_assert_int_eq(pos_at(e, pe, MARGIN_AT_MARGIN_BALANCE, 0), D("1030895.55638"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_MARGIN_RATIO, 0), 41489492);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), 0);
    ck_assert_int_eq(pos_get(e, pe, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    check_books(c);
}

/* ------------------------------------------------------------------ hedge */

/* Two legs in one market (price scale 2, qty scale 3, mmr 0.004), WB 5000.
 * Mark 20000; long 1 @ 20000 at 10x (IM 2000); mark 21000; short 0.5 @ 21000 at 10x
 * (IM 1050). At 21000: uPnL +1000 + 0, MM 0.004*21000*(1 + 0.5) = 126 (gross),
 * available = min(5000 + 0 - 3050, 6000 - 126 - 1e-8) = 1950.
 * Both legs share one LP:
 *   LP = (5000 - 1*20000 + 0.5*21000) / (1*0.004 + 0.5*0.004 - 1 + 0.5) = -4500 / -0.494
 *      = 9109.3117408..., net long: up, 9109.32.
 * At 9109.32: balance 5000 + (9109.32 - 20000) - 0.5*(9109.32 - 21000) = 54.66,
 *   MM 0.006*9109.32 = 54.65592: alive (54.66 > 54.65592, the LP is rounded against the
 *   holder); ratio 54.65592/54.66 = 0.99992536 (up): the 0.8 margin call fires.
 * At 9109.31: balance 54.655 <= MM 54.65586: both legs liquidated (ratio 1.00001574, up),
 *   long: PnL 9109.31 - 20000 = -10890.69, WB -5890.69;
 *   short: PnL -0.5*(9109.31 - 21000) = +5945.345, WB 54.655; no deficit. */
static void sc_hedge(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), a = cross_account(e, m, "5000"), pl, ps;
    ev_t v[8];
    quiet_mark(c, m, PX("20000"));
    pl = open_cross(e, a, m, MARGIN_LONG, QT("1"), PX("20000"), "10");
    quiet_mark(c, m, PX("21000"));
    ps = open_cross(e, a, m, MARGIN_SHORT, QT("0.5"), PX("21000"), "10");
    flush(c);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_INITIAL_MARGIN), D("3050"));
    want_figures(e, a, D("5000"), D("1000"), D("126"), /* 126/6000 */ 2100000);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), D("1950"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_LIQ_PRICE), PX("9109.32"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_LIQ_PRICE), PX("9109.32"));
    ck_assert_int_eq(pos_at(e, ps, MARGIN_AT_MAINT_MARGIN, 0), D("42"));

    ck_assert_ok(e, margin_mark_update(e, m, PX("9109.32")));
    ck_assert_int_eq(take(c, v, 8), 1);
    want_call(&v[0], a, D("0.8"), 99992536);
    want_figures(e, a, D("5000"), D("-4945.34"), D("54.65592"), 99992536);

    ck_assert_ok(e, margin_mark_update(e, m, PX("9109.31")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, m, pl, PX("9109.31"), D("-10890.69"), D("-5890.69"));
    EVEQ(v[0], MARGIN_EVF_LIQ_PRICE, PX("9109.32"));
    want_cross_leg(&v[1], a, m, ps, PX("9109.31"), D("5945.345"), D("54.655"));
    want_cross_end(&v[2], a, m, 2, 0, D("54.655"), 100001574);
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    want_figures(e, a, D("54.655"), 0, 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_POSITIONS), 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), D("54.655"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    check_books(c);
}

/* Gross maintenance: a fully hedged book is not immune. WB 500; long 1 and short 1, both
 * @ 20000 at 100x (IM 200 + 200). The uPnL cancels (balance stays 500) while the gross MM
 * 0.004*P*2 = 0.008*P grows with the price:
 *   LP = (500 - 20000 + 20000) / (0.004 + 0.004 - 1 + 1) = 500 / 0.008 = 62500 exactly
 *   (not net long: rounded down, nothing to round).
 * At 10000: MM 80, ratio 0.16. At 62499.99: MM 499.99992 < 500: alive; ratio 0.99999984
 * >= 0.8: a margin call. At 62500: MM 500 >= 500: both legs liquidated at 62500:
 *   long +42500 (WB 43000), short -42500 (WB 500); no deficit, ratio 1. The account keeps
 *   its 500. */
static void sc_hedge_gross(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), a = cross_account(e, m, "500"), pl, ps;
    ev_t v[8];
    quiet_mark(c, m, PX("20000"));
    pl = open_cross(e, a, m, MARGIN_LONG, QT("1"), PX("20000"), "100");
    ps = open_cross(e, a, m, MARGIN_SHORT, QT("1"), PX("20000"), "100");
    flush(c);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), D("100"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_LIQ_PRICE), PX("62500"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_LIQ_PRICE), PX("62500"));

    quiet_mark(c, m, PX("10000"));
    want_figures(e, a, D("500"), 0, D("80"), 16000000);

    ck_assert_ok(e, margin_mark_update(e, m, PX("62499.99")));
    ck_assert_int_eq(take(c, v, 8), 1);
    want_call(&v[0], a, D("0.8"), 99999984);
    want_figures(e, a, D("500"), 0, D("499.99992"), 99999984);

    ck_assert_ok(e, margin_mark_update(e, m, PX("62500")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, m, pl, PX("62500"), D("42500"), D("43000"));
    want_cross_leg(&v[1], a, m, ps, PX("62500"), D("-42500"), D("500"));
    want_cross_end(&v[2], a, m, 2, 0, D("500"), D("1"));
    want_figures(e, a, D("500"), 0, 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_REALIZED_PNL), 0);
    check_books(c);
}

/* ------------------------------------------------------------------ the contrast story */

/* semantics.md: BTCUSDT, price scale 2, qty scale 3, mmr 0.004, no fees. Two longs, both
 * 0.1 @ 20000: A at 20x (IM 100), B at 5x (IM 400); deposit 600. Marks 20000, 19500,
 * 19050, 18500, 18000, 17500, 16800, 17500. The default margin-call level 0.8 stays on. */
static const char *const STORY[] = {"20000", "19500", "19050", "18500",
                                    "18000", "17500", "16800", "17500"};

/* Isolated run: free 600 - 100 - 400 = 100.
 *   A: LP = (20000 - 100/0.1)/(1 - 0.004) = 19076.305..., up 19076.31; BP 19000;
 *      level 0.8 at 0.8*(2000 - 100)/(0.1*(0.8 - 0.004)) = 19095.477..., never reached
 *      before 19050, where A is liquidated (liquidation first): PnL -100 (its margin),
 *      insurance +(0.1*(19050 - 20000) + 100) = +5, AMOUNT -100.
 *   B: LP = (20000 - 4000)/0.996 = 16064.257..., up 16064.26; level 0.8 at
 *      0.8*1600/0.0796 = 16080.40...: B survives the whole path without an event; at 16800
 *      its margin balance is 400 - 320 = 80 and its MM 0.1*16800*0.004 = 6.72.
 *   End: free 100 (intact), B open, fund +5; the only trigger event is A's liquidation. */
static void sc_contrast_isolated(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), acct = new_account(e, "600"), pa, pb;
    ev_t v[8];
    pa = open_iso(e, acct, m, QT("0.1"), PX("20000"), "20");
    pb = open_iso(e, acct, m, QT("0.1"), PX("20000"), "5");
    flush(c);
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_MARGIN), D("400"));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE), D("100"));
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_LIQ_PRICE), PX("19076.31"));
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_LIQ_PRICE), PX("16064.26"));
    for (size_t i = 0; i < sizeof STORY / sizeof STORY[0]; i++) {
        ck_assert_ok(e, margin_mark_update(e, m, PX(STORY[i])));
        if (strcmp(STORY[i], "19050") != 0) {
            ck_assert_msg(take(c, v, 8) == 0, "events at %s", STORY[i]);
            continue;
        }
        ck_assert_int_eq(take(c, v, 8), 1);
        EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_LIQUIDATION);
        EVEQ(v[0], MARGIN_EVF_POSITION, pa);
        EVEQ(v[0], MARGIN_EVF_PRICE, PX("19050"));
        EVEQ(v[0], MARGIN_EVF_QTY, QT("0.1"));
        EVEQ(v[0], MARGIN_EVF_REALIZED_PNL, D("-100"));
        EVEQ(v[0], MARGIN_EVF_AMOUNT, D("-100"));
        EVEQ(v[0], MARGIN_EVF_INSURANCE_DELTA, D("5"));
        EVEQ(v[0], MARGIN_EVF_LIQ_PRICE, PX("19076.31"));
        EVEQ(v[0], MARGIN_EVF_BANKRUPTCY_PRICE, PX("19000"));
        EVEQ(v[0], MARGIN_EVF_MARGIN, 0);
        EVEQ(v[0], MARGIN_EVF_FEE, 0);
        EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("100"));
        EVEQ(v[0], MARGIN_EVF_MODE, MARGIN_MODE_ISOLATED);
    }
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE), D("100"));
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_MARGIN), D("400"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_MARGIN_BALANCE, PX("16800")), D("80"));
    ck_assert_int_eq(pos_at(e, pb, MARGIN_AT_MAINT_MARGIN, PX("16800")), D("6.72"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("5"));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_CROSS_POSITIONS), 0);
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_MARGIN_RATIO), 0);
    check_books(c);
}

/* Cross run: WB 600, nothing moves out at the opens; IM 100 + 400, so available
 * min(600 - 500, 600 - MM 16 - 1e-8) = 100 before any mark moves.
 * Balance 600 + 0.2*(P - 20000), MM 0.2*P*0.004 = 0.0008*P:
 *   P      balance  MM      ratio (up)
 *   20000  600      16      0.02666667
 *   19500  500      15.6    0.0312
 *   19050  410      15.24   0.03717074   (A's isolated LP 19076.31 is passed: the shared
 *                                          balance absorbs A's loss)
 *   18500  300      14.8    0.04933334
 *   18000  200      14.4    0.072
 *   17500  100      14      0.14
 *   16800  -40      13.44   INT64_MAX: liquidated (a gap past the LP)
 * LP of both legs (one market, legs solved together) = (600 - 0.2*20000)/(0.2*0.004 - 0.2)
 *   = 3400/0.1992 = 17068.273..., up 17068.28. No ratio reaches 0.8 before 16800.
 * At 16800, both closed at 16800 in id order, each PnL 0.1*(16800 - 20000) = -320:
 *   WB 280, then -40; deficit 40 to the insurance fund (fund -40), WB 0; the cross
 *   liquidation reports deficit 40, QTY 2, ratio INT64_MAX. Realized PnL of the account
 *   -640 + 40 = -600. 17500 afterwards: nothing. End: free 0, fund -40. */
static void sc_contrast_cross(ctx_t *c)
{
    static const int64_t bal[] = {600, 500, 410, 300, 200, 100};
    static const char *const mm[] = {"16", "15.6", "15.24", "14.8", "14.4", "14"};
    static const int64_t ratio[] = {2666667, 3120000, 3717074, 4933334, 7200000, 14000000};
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), acct = cross_account(e, m, "600"), pa, pb;
    ev_t v[8];
    pa = open_cross(e, acct, m, MARGIN_LONG, QT("0.1"), PX("20000"), "20");
    pb = open_cross(e, acct, m, MARGIN_LONG, QT("0.1"), PX("20000"), "5");
    flush(c);
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE), D("600"));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_CROSS_INITIAL_MARGIN), D("500"));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_AVAILABLE), D("100"));
    for (size_t i = 0; i < 6; i++) {
        quiet_mark(c, m, PX(STORY[i]));
        want_figures(e, acct, D("600"), bal[i] * 100000000 - D("600"), D(mm[i]), ratio[i]);
        ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_LIQ_PRICE), PX("17068.28"));
        ck_assert_int_eq(pos_get(e, pb, MARGIN_POS_LIQ_PRICE), PX("17068.28"));
    }
    ck_assert_ok(e, margin_mark_update(e, m, PX("16800")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], acct, m, pa, PX("16800"), D("-320"), D("280"));
    EVEQ(v[0], MARGIN_EVF_QTY, QT("0.1"));
    EVEQ(v[0], MARGIN_EVF_LIQ_PRICE, PX("17068.28"));
    want_cross_leg(&v[1], acct, m, pb, PX("16800"), D("-320"), D("-40"));
    EVEQ(v[1], MARGIN_EVF_QTY, QT("0.1"));
    want_cross_end(&v[2], acct, m, 2, D("40"), 0, INT64_MAX);
    quiet_mark(c, m, PX("17500"));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE), 0);
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_REALIZED_PNL), D("-600"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-40"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 2);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 0);
    want_figures(e, acct, 0, 0, 0, 0);
    check_books(c);
}

/* ------------------------------------------------------------------ liquidation policy */

/* A two-market book (both price scale 2, qty scale 3, mmr 0.004, no fees), WB 2500:
 *   X: long 1 @ 20000 at 20x (IM 1000, position 1), mark 19900: uPnL -100, MM 79.6
 *   Y: long 10 @ 1000 at 20x (IM 500, position 2), entered at mark 1000
 * LP of Y with X at 19900: (2500 - 79.6 - 100 - 10*1000)/(10*0.004 - 10) = -7679.6/-9.96
 *   = 771.0441..., up 771.05.
 * Y's mark 770: uPnL Y 10*(770 - 1000) = -2300, MM Y 30.8; balance 2500 - 100 - 2300 = 100
 * <= MM 110.4: liquidated, ratio 110.4/100 = 1.104. */
static void book2(ctx_t *c, uint64_t *a, uint64_t *x, uint64_t *y, uint64_t *px, uint64_t *py)
{
    margin_engine *e = c->e;
    *x = small_market(e, "BTCUSDT", "0.004");
    *y = small_market(e, "ETHUSDT", "0.004");
    *a = cross_account(e, *x, "2500");
    ck_assert_ok(e, margin_account_set_mode(e, *a, *y, MARGIN_MODE_CROSS));
    quiet_mark(c, *x, PX("20000"));
    quiet_mark(c, *y, PX("1000"));
    *px = open_cross(e, *a, *x, MARGIN_LONG, QT("1"), PX("20000"), "20");
    *py = open_cross(e, *a, *y, MARGIN_LONG, QT("10"), PX("1000"), "20");
    flush(c);
    /* available min(2500 - 1500, 2500 - 120 - 1e-8) = 1000; LP of X with Y at 1000:
     * (2500 - 40 - 20000)/(0.004 - 1) = 17610.441..., up 17610.45 */
    ck_assert_int_eq(acct_get(e, *a, MARGIN_ACCT_AVAILABLE), D("1000"));
    ck_assert_int_eq(pos_get(e, *px, MARGIN_POS_LIQ_PRICE), PX("17610.45"));
    quiet_mark(c, *x, PX("19900"));
    ck_assert_int_eq(pos_get(e, *py, MARGIN_POS_LIQ_PRICE), PX("771.05"));
    want_figures(e, *a, D("2500"), D("-100"), D("119.6"), /* 119.6/2400 */ 4983334);
}

/* WORST_FIRST at Y 770: the largest loss is Y's (-2300 against X's -100), although X has
 * the lower id. Closing Y: WB 2500 - 2300 = 200; re-evaluated: balance 200 - 100 = 100 >
 * MM 79.6: healthy, X stays open (ratio 0.796, below the 0.8 level: no margin call).
 * X's LP alone with WB 200: (200 - 20000)/(0.004 - 1) = 19879.518..., up 19879.52. */
static void sc_worst_first(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t a, x, y, px, py;
    ev_t v[8];
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                      MARGIN_CROSS_LIQ_WORST_FIRST));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_CROSS_LIQUIDATION), MARGIN_CROSS_LIQ_WORST_FIRST);
    book2(c, &a, &x, &y, &px, &py);
    ck_assert_ok(e, margin_mark_update(e, y, PX("770")));
    ck_assert_int_eq(take(c, v, 8), 2);
    want_cross_leg(&v[0], a, y, py, PX("770"), D("-2300"), D("200"));
    EVEQ(v[0], MARGIN_EVF_LIQ_PRICE, PX("771.05"));
    want_cross_end(&v[1], a, y, 1, 0, D("200"), 110400000);
    ck_assert_int_eq(pos_get(e, px, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, py, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    want_figures(e, a, D("200"), D("-100"), D("79.6"), 79600000);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_POSITIONS), 1);
    ck_assert_int_eq(pos_get(e, px, MARGIN_POS_LIQ_PRICE), PX("19879.52"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), 0);
    check_books(c);
}

/* WORST_FIRST on the same book with a gap of Y to 700: balance 2400 - 3000 = -600.
 * Y first (-3000 against -100): WB -500, balance -600 <= MM 79.6: X next (-100), WB -600;
 * no cross position left: deficit 600 to the fund, WB 0. Closing order Y, X (not id order). */
static void sc_worst_first_gap(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t a, x, y, px, py;
    ev_t v[8];
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                      MARGIN_CROSS_LIQ_WORST_FIRST));
    book2(c, &a, &x, &y, &px, &py);
    ck_assert_ok(e, margin_mark_update(e, y, PX("700")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, y, py, PX("700"), D("-3000"), D("-500"));
    want_cross_leg(&v[1], a, x, px, PX("19900"), D("-100"), D("-600"));
    want_cross_end(&v[2], a, y, 2, D("600"), 0, INT64_MAX);
    want_figures(e, a, 0, 0, 0, 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-600"));
    check_books(c);
}

/* ALL (the default) on the same book at Y 770: both close in id order, each at its own
 * market's mark: X at 19900 (-100, WB 2400), Y at 770 (-2300, WB 100); no deficit.
 * X's LP before, Y at 770: (2500 - 30.8 - 2300 - 20000)/(0.004 - 1) = 19910.441..., up
 * 19910.45 (its mark 19900 is below it). */
static void sc_policy_all(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t a, x, y, px, py;
    ev_t v[8];
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_CROSS_LIQUIDATION), MARGIN_CROSS_LIQ_ALL);
    book2(c, &a, &x, &y, &px, &py);
    ck_assert_ok(e, margin_mark_update(e, y, PX("770")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, x, px, PX("19900"), D("-100"), D("2400"));
    EVEQ(v[0], MARGIN_EVF_LIQ_PRICE, PX("19910.45"));
    want_cross_leg(&v[1], a, y, py, PX("770"), D("-2300"), D("100"));
    want_cross_end(&v[2], a, y, 2, 0, D("100"), 110400000);
    want_figures(e, a, D("100"), 0, 0, 0);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_POSITIONS), 0);
    check_books(c);
}

/* WORST_FIRST with a tie: WB 2320, two longs 5 @ 1000 at 20x in Y (positions 1 and 2).
 * LP of the legs: (2320 - 10000)/(10*0.004 - 10) = 771.0843..., up 771.09.
 * At 770 each loses 1150 (MM 15.4 each): balance 20 <= 30.8 (ratio 1.54). Equal losses:
 * the lower id closes: WB 1170; the other alone: balance 20 > 15.4 (ratio 0.77, below the
 * 0.8 level), healthy. Its LP alone: (1170 - 5000)/(0.02 - 5) = 769.0763..., up 769.08. */
static void sc_worst_first_tie(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t y = small_market(e, "ETHUSDT", "0.004"), a = cross_account(e, y, "2320"), p1, p2;
    ev_t v[8];
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                      MARGIN_CROSS_LIQ_WORST_FIRST));
    quiet_mark(c, y, PX("1000"));
    p1 = open_cross(e, a, y, MARGIN_LONG, QT("5"), PX("1000"), "20");
    p2 = open_cross(e, a, y, MARGIN_LONG, QT("5"), PX("1000"), "20");
    flush(c);
    ck_assert_int_eq(pos_get(e, p1, MARGIN_POS_LIQ_PRICE), PX("771.09"));
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_LIQ_PRICE), PX("771.09"));
    ck_assert_ok(e, margin_mark_update(e, y, PX("770")));
    ck_assert_int_eq(take(c, v, 8), 2);
    want_cross_leg(&v[0], a, y, p1, PX("770"), D("-1150"), D("1170"));
    want_cross_end(&v[1], a, y, 1, 0, D("1170"), 154000000);
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    want_figures(e, a, D("1170"), D("-1150"), D("15.4"), 77000000);
    ck_assert_int_eq(pos_get(e, p2, MARGIN_POS_LIQ_PRICE), PX("769.08"));
    check_books(c);
}

/* WORST_FIRST on book2 with a margin-call level 0.7: at Y 770 the liquidation closes Y and
 * leaves X at a ratio of 79.6/100 = 0.796 >= 0.7, so the level fires in the same update
 * (after the cross liquidation event, ratio 0.796). The cross liquidation still reports the
 * ratio that triggered it, 1.104. */
static void sc_worst_first_call(ctx_t *c)
{
    static const int64_t level = 70000000;
    margin_engine *e = c->e;
    uint64_t a, x, y, px, py;
    ev_t v[8];
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                      MARGIN_CROSS_LIQ_WORST_FIRST));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, &level, 1));
    book2(c, &a, &x, &y, &px, &py);
    ck_assert_ok(e, margin_mark_update(e, y, PX("770")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, y, py, PX("770"), D("-2300"), D("200"));
    want_cross_end(&v[1], a, y, 1, 0, D("200"), 110400000);
    want_call(&v[2], a, level, 79600000);
    want_figures(e, a, D("200"), D("-100"), D("79.6"), 79600000);
    check_books(c);
}

/* WORST_FIRST leaves a leg whose take-profit the same mark crossed: it must close too.
 * One market Y (mmr 0.004, no fees), WB 2100: long 10 @ 1000 at 20x (IM 500) and short 1 @
 * 1000 at 20x (IM 50) with a take-profit at 900.
 * LP of the two legs: (2100 - 10000 + 1000)/(10*0.004 + 1*0.004 - 10 + 1) = -6900/-8.956
 *   = 770.433..., up 770.44.
 * Mark 770: uPnL -2300 + 230, balance 30 <= MM 30.8 + 3.08 = 33.88 (ratio 1.12933334 up):
 * the long (worst) closes: WB -200; the short alone: balance -200 + 230 = 30 > MM 3.08,
 * healthy. Its take-profit (770 <= 900) then closes it at 770: PnL +230, no fee, WB 30; no
 * deficit (the wallet is not below zero). */
static void sc_worst_first_take(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t y = small_market(e, "ETHUSDT", "0.004"), a = cross_account(e, y, "2100"), pl, ps;
    ev_t v[8];
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                      MARGIN_CROSS_LIQ_WORST_FIRST));
    quiet_mark(c, y, PX("1000"));
    pl = open_cross(e, a, y, MARGIN_LONG, QT("10"), PX("1000"), "20");
    ps = open_cross(e, a, y, MARGIN_SHORT, QT("1"), PX("1000"), "20");
    ck_assert_ok(e, margin_position_set_stops(e, ps, 0, PX("900")));
    flush(c);
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_LIQ_PRICE), PX("770.44"));
    ck_assert_ok(e, margin_mark_update(e, y, PX("770")));
    ck_assert_int_eq(take(c, v, 8), 3);
    want_cross_leg(&v[0], a, y, pl, PX("770"), D("-2300"), D("-200"));
    want_cross_end(&v[1], a, y, 1, 0, D("-200"), 112933334);
    EVEQ(v[2], MARGIN_EVF_TYPE, MARGIN_EV_TAKE_PROFIT);
    EVEQ(v[2], MARGIN_EVF_POSITION, ps);
    EVEQ(v[2], MARGIN_EVF_PRICE, PX("770"));
    EVEQ(v[2], MARGIN_EVF_REALIZED_PNL, D("230"));
    EVEQ(v[2], MARGIN_EVF_FEE, 0);
    EVEQ(v[2], MARGIN_EVF_FREE_BALANCE, D("30"));
    ck_assert_int_eq(pos_get(e, ps, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    want_figures(e, a, D("30"), 0, 0, 0);
    check_books(c);
}

/* ------------------------------------------------------------------ isolation */

/* An isolated liquidation never touches the cross wallet. Account: cross in X, isolated in
 * Y (both mmr 0.004), deposit 3000, marks 20000.
 *   cross long 0.1 @ 20000 at 20x in X (IM 100, MM 8);
 *   isolated long 0.1 @ 20000 at 20x in Y: margin 100 <= available
 *     min(3000 - 100, 3000 - 8 - 1e-8) = 2900: free 2900.
 * Y gaps to 18000 (past BP 19000): the isolated position loses its 100 margin, the fund
 * takes 0.1*(18000 - 20000) + 100 = -100; the wallet stays 2900 and the cross book
 * (balance 2900, MM 8, ratio 8/2900 = 0.00275863 up) is untouched. */
static void sc_isolated_spares_wallet(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t x, y, a = xy_book(c, "3000", &x, &y), pc, pi;
    ev_t v[8];
    pc = open_cross(e, a, x, MARGIN_LONG, QT("0.1"), PX("20000"), "20");
    pi = open_iso(e, a, y, QT("0.1"), PX("20000"), "20");
    flush(c);
    ck_assert_int_eq(pos_get(e, pi, MARGIN_POS_MODE), MARGIN_MODE_ISOLATED);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), D("100"));
    want_figures(e, a, D("2900"), 0, D("8"), 275863);

    ck_assert_ok(e, margin_mark_update(e, y, PX("18000")));
    ck_assert_int_eq(take(c, v, 8), 1);
    EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_LIQUIDATION);
    EVEQ(v[0], MARGIN_EVF_POSITION, pi);
    EVEQ(v[0], MARGIN_EVF_REALIZED_PNL, D("-100"));
    EVEQ(v[0], MARGIN_EVF_INSURANCE_DELTA, D("-100"));
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("2900"));
    EVEQ(v[0], MARGIN_EVF_MODE, MARGIN_MODE_ISOLATED);
    want_figures(e, a, D("2900"), 0, D("8"), 275863);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(pos_get(e, pc, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, pc, MARGIN_POS_QTY), QT("0.1"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-100"));
    check_books(c);
}

/* A cross liquidation never touches isolated positions or margins.
 * Account b: isolated long 0.1 @ 20000 at 20x in Y (margin 100; free 1300 - 100 = 1200),
 *   then cross long 1 @ 20000 at 20x in X (IM 1000: available after
 *   min(1200 - 1000, 1200 - 80 - 1e-8) = 200 >= 0).
 * Account c: isolated short 0.1 @ 20000 at 20x in X (margin 100), the crashing market.
 * X gaps to 18000: b's balance 1200 - 2000 = -800 <= MM 72: the cross long closes at
 * 18000 (PnL -2000, WB -800), deficit 800 (fund -800), WB 0. b's isolated position keeps
 * its 100 margin; c's short (profit, no trigger) is untouched and produces no event. */
static void sc_cross_spares_isolated(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t x, y, b = xy_book(c, "1300", &x, &y), cc = new_account(e, "500"), pbi, pbc,
                    pci = 0;
    ev_t v[8];
    pbi = open_iso(e, b, y, QT("0.1"), PX("20000"), "20");
    pbc = open_cross(e, b, x, MARGIN_LONG, QT("1"), PX("20000"), "20");
    ck_assert_ok(e, margin_position_open(e, cc, x, MARGIN_SHORT, QT("0.1"), PX("20000"),
                                         D("20"), 0, 0, &pci));
    flush(c);
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_AVAILABLE), D("200"));

    ck_assert_ok(e, margin_mark_update(e, x, PX("18000")));
    ck_assert_int_eq(take(c, v, 8), 2);
    want_cross_leg(&v[0], b, x, pbc, PX("18000"), D("-2000"), D("-800"));
    want_cross_end(&v[1], b, x, 1, D("800"), 0, INT64_MAX);
    want_figures(e, b, 0, 0, 0, 0);
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_ISOLATED_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, pbi, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, pbi, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(pos_get(e, pbi, MARGIN_POS_QTY), QT("0.1"));
    ck_assert_int_eq(pos_get(e, pci, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    ck_assert_int_eq(pos_get(e, pci, MARGIN_POS_MARGIN), D("100"));
    ck_assert_int_eq(acct_get(e, cc, MARGIN_ACCT_FREE_BALANCE), D("400"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-800"));
    check_books(c);
}

/* An isolated close never charges a negative fee, even when the wallet is below zero (a
 * cross wallet may be, while the cross book's unrealized profit backs it).
 * X: cross, no fees; Y: isolated, taker 0.0004. Deposit 1000; marks 20000.
 *   isolated long 0.1 @ 20000 at 20x in Y: margin 100, fee 0.8: free 899.2; stop 19500;
 *   cross long 1 and short 1 @ 20000 at 100x in X (IM 400; available 499.2 after).
 * X to 21000, the short closed there by the holder: PnL -1000, WB -100.8; the long's
 * +1000 backs it (balance 899.2 > MM 84).
 * Y to 19500 (above the isolated LP 19076.31): the stop closes it: it returns
 * 100 + 0.1*(19500 - 20000) = 50; its fee 0.0004*1950 = 0.78 cannot be paid by
 * free + returned = -50.8, so it is waived: fee 0, WB -50.8. */
static void sc_isolated_fee_negative_wallet(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t x, y, a = xy_book(c, "1000", &x, &y), pi, pl;
    ev_t v[8];
    ck_assert_ok(e, margin_market_set(e, y, MARGIN_MKT_TAKER_FEE, D("0.0004")));
    pi = open_iso(e, a, y, QT("0.1"), PX("20000"), "20");
    ck_assert_ok(e, margin_position_set_stops(e, pi, PX("19500"), 0));
    pl = close_short_leg(c, a, x, "21000");
    ck_assert_int_eq(take(c, v, 8), 1);
    EVEQ(v[0], MARGIN_EVF_REALIZED_PNL, D("-1000"));
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("-100.8"));
    /* ratio 84/899.2 = 0.0934163701..., up */
    want_figures(e, a, D("-100.8"), D("1000"), D("84"), 9341638);

    ck_assert_ok(e, margin_mark_update(e, y, PX("19500")));
    ck_assert_int_eq(take(c, v, 8), 1);
    EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_STOP_LOSS);
    EVEQ(v[0], MARGIN_EVF_POSITION, pi);
    EVEQ(v[0], MARGIN_EVF_REALIZED_PNL, D("-50"));
    EVEQ(v[0], MARGIN_EVF_FEE, 0);
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("-50.8"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("0.8"));
    ck_assert_int_eq(pos_get(e, pl, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    /* ratio 84/949.2 = 0.0884955752..., up */
    want_figures(e, a, D("-50.8"), D("1000"), D("84"), 8849558);
    check_books(c);
}

/* Two isolated stops in one update: each close's fee is capped by the free balance as the
 * closes before it left it (the events' order), not as it was before the update.
 * X: cross, no fees; Y: isolated, taker 0.0004. Deposit 5000; marks 20000.
 *   isolated longs 0.1 @ 20000 in Y: A at 1x (margin 2000), B at 20x (margin 100), fees
 *   0.8 each: free 2898.4; both with a stop at 19500 (B's LP 19076.31 is below it; A has
 *   none); cross long 1 and short 1 @ 20000 at 100x in X.
 * X to 23000, the short closed there: PnL -3000, WB -101.6 (the long's +3000 backs it).
 * Y to 19500: A's stop returns 2000 - 50 = 1950: free -101.6 + 1950 = 1848.4 pays its fee
 * 0.0004*1950 = 0.78: free 1847.62; then B's returns 100 - 50 = 50: 1897.62 pays 0.78:
 * free 1896.84. */
static void sc_isolated_stop_fees_in_order(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t x, y, a = xy_book(c, "5000", &x, &y), pa, pb;
    ev_t v[8];
    ck_assert_ok(e, margin_market_set(e, y, MARGIN_MKT_TAKER_FEE, D("0.0004")));
    pa = open_iso(e, a, y, QT("0.1"), PX("20000"), "1");
    pb = open_iso(e, a, y, QT("0.1"), PX("20000"), "20");
    ck_assert_ok(e, margin_position_set_stops(e, pa, PX("19500"), 0));
    ck_assert_ok(e, margin_position_set_stops(e, pb, PX("19500"), 0));
    (void)close_short_leg(c, a, x, "23000");
    flush(c);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FREE_BALANCE), D("-101.6"));

    ck_assert_ok(e, margin_mark_update(e, y, PX("19500")));
    ck_assert_int_eq(take(c, v, 8), 2);
    EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_STOP_LOSS);
    EVEQ(v[0], MARGIN_EVF_POSITION, pa);
    EVEQ(v[0], MARGIN_EVF_FEE, D("0.78"));
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("1847.62"));
    EVEQ(v[1], MARGIN_EVF_TYPE, MARGIN_EV_STOP_LOSS);
    EVEQ(v[1], MARGIN_EVF_POSITION, pb);
    EVEQ(v[1], MARGIN_EVF_FEE, D("0.78"));
    EVEQ(v[1], MARGIN_EVF_FREE_BALANCE, D("1896.84"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FEES), D("3.16"));
    check_books(c);
}

/* ------------------------------------------------------------------ account margin calls */

/* WB 1200, cross long 1 @ 20000 at 20x (mmr 0.004): balance P - 18800, MM 0.004*P.
 * Levels 0.5 and 0.8. Level l fires when MM >= l*balance, i.e. P <= 18800*l/(l - 0.004):
 *   0.5: 18951.612..., 0.8: 18894.472...; liquidation at 18800/0.996 = 18875.502...
 * MARGIN_AT_MARGIN_CALL_PRICE (lowest level, long, rounded up) = 18951.62: there the ratio
 * is 75.80648/151.62 = 0.49997679 (< 0.5: no call); at 18951.61 it is 75.80644/151.61 =
 * 0.50000950 (up): level 0.5 fires.
 * Ratios (up): 19500 0.11142858; 18900 0.756; 18890 75.56/90 = 0.83955556; 18880 0.944;
 * 19000 0.38; 18970 75.88/170 = 0.44635295; 19100 0.25466667.
 * Re-arm when MM < (l - band)*balance. Band 0: at 19000 both re-arm. Band 0.2: at 18970
 * (0.446) 0.8 re-arms (< 0.6) but 0.5 does not (not < 0.3); at 19100 (0.255) both do. */
static void want_calls(ctx_t *c, uint64_t a, uint64_t m, const char *mark, int64_t ratio,
                       const char *l1, const char *l2)
{
    ev_t v[8];
    size_t n, want = (l1 != NULL) + (l2 != NULL);
    ck_assert_ok(c->e, margin_mark_update(c->e, m, PX(mark)));
    n = take(c, v, 8);
    ck_assert_msg(n == want, "mark %s: %zu events, want %zu", mark, n, want);
    for (size_t i = 0; i < n; i++) {
        want_call(&v[i], a, D(i == 0 ? l1 : l2), ratio);
        EVEQ(v[i], MARGIN_EVF_MARKET, m);
        EVEQ(v[i], MARGIN_EVF_PRICE, PX(mark));
    }
}

static void sc_margin_calls(ctx_t *c)
{
    static const int64_t levels[2] = {80000000, 50000000}; /* given unsorted */
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), a = cross_account(e, m, "1200"), p;
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, levels, 2));
    quiet_mark(c, m, PX("20000"));
    p = open_cross(e, a, m, MARGIN_LONG, QT("1"), PX("20000"), "20");
    flush(c);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MARGIN_CALL_PRICE, 0), PX("18951.62"));
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_LIQ_PRICE), PX("18875.51"));
    want_calls(c, a, m, "19500", 0, NULL, NULL);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_MARGIN_RATIO), 11142858);
    want_calls(c, a, m, "18951.62", 0, NULL, NULL);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_MARGIN_RATIO), 49997679);
    want_calls(c, a, m, "18951.61", 50000950, "0.5", NULL);
    want_calls(c, a, m, "18900", 0, NULL, NULL);
    want_calls(c, a, m, "18890", 83955556, "0.8", NULL);
    want_calls(c, a, m, "18880", 0, NULL, NULL);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_MARGIN_RATIO), 94400000);
    want_calls(c, a, m, "19000", 0, NULL, NULL); /* re-arms both */
    want_calls(c, a, m, "18890", 83955556, "0.5", "0.8");
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.2")));
    want_calls(c, a, m, "18970", 0, NULL, NULL); /* re-arms 0.8 only */
    want_calls(c, a, m, "18890", 83955556, "0.8", NULL);
    want_calls(c, a, m, "19100", 0, NULL, NULL); /* re-arms both */
    want_calls(c, a, m, "18890", 83955556, "0.5", "0.8");
    ck_assert_int_eq(pos_get(e, p, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    check_books(c);
}

/* ------------------------------------------------------------------ funding */

/* Funding is paid from and to the wallet. a: WB 1200, cross long 1 @ 20000 at 20x;
 * b: WB 1200, cross short 1 @ 20000 at 20x. Mark 20000.
 * Funding 0.001 at 20000: a pays 1*20000*0.001 = 20 (WB 1180), b receives 20 (WB 1220);
 *   positions' margins stay 0.
 * Mark 18900: a's balance 1180 - 1100 = 80 > MM 75.6: alive, but ratio 0.945 >= 0.8: a
 *   margin call (b: balance 1220 + 1100 = 2320, ratio tiny).
 * Funding 0.001 at 18900: a pays 18.9 (WB 1161.1), b receives 18.9 (WB 1238.9); then a's
 *   balance 1161.1 - 1100 = 61.1 <= MM 75.6: liquidated in the same call (ratio
 *   75.6/61.1 = 1.23731588 up): PnL -1100, WB 61.1, no deficit. The mark alone did not
 *   liquidate it; the payment did. */
static void sc_funding(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t m = small_market(e, "BTCUSDT", "0.004"), a = cross_account(e, m, "1200"),
             b = cross_account(e, m, "1200"), pa, pb;
    ev_t v[8];
    quiet_mark(c, m, PX("20000"));
    pa = open_cross(e, a, m, MARGIN_LONG, QT("1"), PX("20000"), "20");
    pb = open_cross(e, b, m, MARGIN_SHORT, QT("1"), PX("20000"), "20");
    flush(c);

    ck_assert_ok(e, margin_funding_apply(e, m, D("0.001"), PX("20000")));
    ck_assert_int_eq(take(c, v, 8), 2);
    EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_FUNDING);
    EVEQ(v[0], MARGIN_EVF_POSITION, pa);
    EVEQ(v[0], MARGIN_EVF_AMOUNT, D("-20"));
    EVEQ(v[0], MARGIN_EVF_MARGIN, 0);
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("1180"));
    EVEQ(v[0], MARGIN_EVF_MODE, MARGIN_MODE_CROSS);
    EVEQ(v[1], MARGIN_EVF_TYPE, MARGIN_EV_FUNDING);
    EVEQ(v[1], MARGIN_EVF_POSITION, pb);
    EVEQ(v[1], MARGIN_EVF_AMOUNT, D("20"));
    EVEQ(v[1], MARGIN_EVF_FREE_BALANCE, D("1220"));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-20"));
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_FUNDING), D("-20"));
    ck_assert_int_eq(pos_get(e, pa, MARGIN_POS_MARGIN), 0);
    want_figures(e, a, D("1180"), 0, D("80"), /* 80/1180 */ 6779662);
    want_figures(e, b, D("1220"), 0, D("80"), /* 80/1220 */ 6557378);

    ck_assert_ok(e, margin_mark_update(e, m, PX("18900")));
    ck_assert_int_eq(take(c, v, 8), 1);
    want_call(&v[0], a, D("0.8"), 94500000);

    ck_assert_ok(e, margin_funding_apply(e, m, D("0.001"), PX("18900")));
    ck_assert_int_eq(take(c, v, 8), 4);
    EVEQ(v[0], MARGIN_EVF_TYPE, MARGIN_EV_FUNDING);
    EVEQ(v[0], MARGIN_EVF_AMOUNT, D("-18.9"));
    EVEQ(v[0], MARGIN_EVF_FREE_BALANCE, D("1161.1"));
    EVEQ(v[1], MARGIN_EVF_TYPE, MARGIN_EV_FUNDING);
    EVEQ(v[1], MARGIN_EVF_AMOUNT, D("18.9"));
    EVEQ(v[1], MARGIN_EVF_FREE_BALANCE, D("1238.9"));
    want_cross_leg(&v[2], a, m, pa, PX("18900"), D("-1100"), D("61.1"));
    want_cross_end(&v[3], a, m, 1, 0, D("61.1"), 123731588);
    want_figures(e, a, D("61.1"), 0, 0, 0);
    want_figures(e, b, D("1238.9"), D("1100"), D("75.6"), /* 75.6/2338.9 */ 3232289);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_FUNDING), D("-38.9"));
    ck_assert_int_eq(acct_get(e, b, MARGIN_ACCT_FUNDING), D("38.9"));
    check_books(c);
}

/* ------------------------------------------------------------------ bad input */

/* Every getter of the engine (ids 1 to 6 of markets, accounts and positions, every mode),
 * with its status, so that a refused call can be shown to have changed nothing. */
#define SNAPN 1024
typedef struct {
    size_t n;
    int64_t v[SNAPN];
} snap_t;

static void sput(snap_t *s, int rc, int64_t v)
{
    ck_assert(s->n + 2 <= SNAPN);
    s->v[s->n++] = rc;
    s->v[s->n++] = rc == MARGIN_OK ? v : 0;
}

static void snap(const margin_engine *e, snap_t *s)
{
    int64_t v = 0, lv[8] = {0};
    size_t nl = 0;
    s->n = 0;
    for (int32_t k = MARGIN_ENG_TIME; k <= MARGIN_ENG_CROSS_EVALUATIONS; k++)
        sput(s, margin_engine_get(e, k, &v), v);
    sput(s, margin_engine_margin_call_levels(e, lv, 8, &nl), (int64_t)nl);
    for (int i = 0; i < 8; i++)
        sput(s, MARGIN_OK, lv[i]);
    for (uint64_t id = 1; id <= 6; id++) {
        for (int32_t k = MARGIN_MKT_PRICE_SCALE; k <= MARGIN_MKT_MAX_PRICE; k++)
            sput(s, margin_market_get(e, id, k, &v), v);
        for (int32_t k = MARGIN_ACCT_FREE_BALANCE; k <= MARGIN_ACCT_CROSS_POSITIONS; k++)
            sput(s, margin_account_get(e, id, k, &v), v);
        for (uint64_t m = 1; m <= 6; m++) {
            int32_t mode = -1;
            sput(s, margin_account_mode(e, id, m, &mode), mode);
        }
        for (int32_t k = MARGIN_POS_ACCOUNT; k <= MARGIN_POS_MODE; k++)
            sput(s, margin_position_get(e, id, k, &v), v);
    }
}

static void same_snap(const snap_t *b, const snap_t *a, const char *call)
{
    size_t i = 0;
    ck_assert_msg(a->n == b->n, "%s: snapshot sizes differ", call);
    while (i < a->n && a->v[i] == b->v[i])
        i++;
    ck_assert_msg(i == a->n, "%s changed the engine: slot %zu was %lld, is %lld", call, i,
                  (long long)b->v[i], (long long)a->v[i]);
}

/* call must return want and leave every figure, mode and the event count as it was */
#define REFUSED(e, call, want)                                                              \
    do {                                                                                    \
        snap_t b_, a_;                                                                      \
        snap(e, &b_);                                                                       \
        ck_assert_rc(e, call, want);                                                        \
        snap(e, &a_);                                                                       \
        same_snap(&b_, &a_, #call);                                                         \
    } while (0)

/* Markets H (mmr 0.10: maintenance above the 20x initial margin, so the maintenance bound
 * of the available balance binds) and Y (mmr 0.004), price scale 2, qty scale 3, no fees.
 * Account a: cross in H, isolated in Y; deposit 300; marks H 1000, Y 20000.
 *   isolated long 0.01 @ 20000 at 20x in Y: margin 10, free 290;
 *   cross long 1 @ 1000 at 20x in H: IM 50, MM 0.1*1000 = 100;
 *   available = min(290 - 50, 290 - 100 - 1e-8) = 189.99999999.
 * Taking 190 (or more) out would leave the cross balance at (or below) its MM of 100.
 * Account b: cross in H, deposit 10 (IM 50 needed). */
static void sc_bad_input(ctx_t *c)
{
    margin_engine *e = c->e;
    uint64_t h = small_market(e, "HIGHUSDT", "0.10"), y = small_market(e, "BTCUSDT", "0.004");
    uint64_t a = new_account(e, "300"), b = new_account(e, "10"), pi, pc, out = 0;
    int32_t mode = -1;
    ev_t v[4];
    ck_assert_ok(e, margin_account_mode(e, a, h, &mode));
    ck_assert_int_eq(mode, MARGIN_MODE_ISOLATED); /* the default */
    ck_assert_ok(e, margin_account_set_mode(e, a, h, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_set_mode(e, b, h, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_mode(e, a, h, &mode));
    ck_assert_int_eq(mode, MARGIN_MODE_CROSS);
    quiet_mark(c, h, PX("1000"));
    quiet_mark(c, y, PX("20000"));
    pi = open_iso(e, a, y, QT("0.01"), PX("20000"), "20");
    pc = open_cross(e, a, h, MARGIN_LONG, QT("1"), PX("1000"), "20");
    flush(c);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), D("189.99999999"));

    /* modes */
    REFUSED(e, margin_account_set_mode(e, a, y, 2), MARGIN_EINVAL);
    REFUSED(e, margin_account_set_mode(e, a, y, -1), MARGIN_EINVAL);
    REFUSED(e, margin_account_set_mode(e, a, h, MARGIN_MODE_ISOLATED), MARGIN_ESTATE);
    REFUSED(e, margin_account_set_mode(e, a, y, MARGIN_MODE_CROSS), MARGIN_ESTATE);
    /* the flag must agree with the mode */
    REFUSED(e, margin_position_open(e, a, y, MARGIN_LONG, QT("0.001"), PX("20000"), D("20"), 0,
                                    MARGIN_FLAG_CROSS, &out),
            MARGIN_ESTATE);
    REFUSED(e, margin_position_open(e, a, h, MARGIN_LONG, QT("0.1"), PX("1000"), D("20"), 0, 0,
                                    &out),
            MARGIN_ESTATE);
    /* a cross open takes no margin argument */
    REFUSED(e, margin_position_open(e, a, h, MARGIN_LONG, QT("0.1"), PX("1000"), D("20"),
                                    D("5"), MARGIN_FLAG_CROSS, &out),
            MARGIN_EINVAL);
    /* a cross open without the funds: b has 10 for an IM of 50; a cannot triple its long
     * (IM 150, MM 300 against a balance of 290) */
    REFUSED(e, margin_position_open(e, b, h, MARGIN_LONG, QT("1"), PX("1000"), D("20"), 0,
                                    MARGIN_FLAG_CROSS, &out),
            MARGIN_EFUNDS);
    REFUSED(e, margin_position_open(e, a, h, MARGIN_LONG, QT("2"), PX("1000"), D("20"), 0,
                                    MARGIN_FLAG_CROSS, &out),
            MARGIN_EFUNDS);
    /* taking the cross book to (190) or past (250) its maintenance margin */
    REFUSED(e, margin_account_withdraw(e, a, D("190")), MARGIN_EFUNDS);
    REFUSED(e, margin_account_withdraw(e, a, D("250")), MARGIN_EFUNDS);
    REFUSED(e, margin_position_open(e, a, y, MARGIN_LONG, QT("0.19"), PX("20000"), D("20"), 0, 0,
                                    &out),
            MARGIN_EFUNDS);
    REFUSED(e, margin_position_add_margin(e, pi, D("190")), MARGIN_EFUNDS);
    /* 1x: margin 200, 190 more */
    REFUSED(e, margin_position_set_leverage(e, pi, D("1")), MARGIN_EFUNDS);
    /* a cross position has no margin of its own */
    REFUSED(e, margin_position_add_margin(e, pc, D("1")), MARGIN_ESTATE);
    REFUSED(e, margin_position_remove_margin(e, pc, D("1")), MARGIN_ESTATE);
    /* nor a lower leverage that the available balance cannot reserve: at 2x its IM would be
     * 500, and 290 - 500 < 0 */
    REFUSED(e, margin_position_set_leverage(e, pc, D("2")), MARGIN_EFUNDS);
    /* no such account or market */
    REFUSED(e, margin_account_set_mode(e, 99, h, MARGIN_MODE_CROSS), MARGIN_ENOTFOUND);
    REFUSED(e, margin_account_set_mode(e, a, 99, MARGIN_MODE_CROSS), MARGIN_ENOTFOUND);
    REFUSED(e, margin_account_mode(e, 99, h, &mode), MARGIN_ENOTFOUND);
    REFUSED(e, margin_account_mode(e, a, 99, &mode), MARGIN_ENOTFOUND);
    REFUSED(e, margin_position_open(e, 99, h, MARGIN_LONG, QT("0.1"), PX("1000"), D("20"), 0,
                                    MARGIN_FLAG_CROSS, &out),
            MARGIN_ENOTFOUND);
    REFUSED(e, margin_position_open(e, a, 99, MARGIN_LONG, QT("0.1"), PX("1000"), D("20"), 0,
                                    MARGIN_FLAG_CROSS, &out),
            MARGIN_ENOTFOUND);

    /* the bounds are exact: one unit less is allowed, and leaves the book just above its
     * maintenance (balance 100.00000001 > MM 100): the next mark does not liquidate it,
     * though the ratio 0.99999999990..., rounded up to 1, passes the 0.8 level */
    ck_assert_ok(e, margin_account_withdraw(e, a, D("189.99999999")));
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_AVAILABLE), 0);
    want_figures(e, a, D("100.00000001"), 0, D("100"), 100000000);
    flush(c);
    ck_assert_ok(e, margin_mark_update(e, h, PX("1000")));
    ck_assert_int_eq(take(c, v, 4), 1);
    want_call(&v[0], a, D("0.8"), 100000000);
    ck_assert_int_eq(pos_get(e, pc, MARGIN_POS_STATUS), MARGIN_STATUS_OPEN);
    /* once the isolated position is closed, its market can switch to cross */
    ck_assert_ok(e, margin_position_close(e, pi, PX("20000"), 0));
    ck_assert_ok(e, margin_account_set_mode(e, a, y, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_account_mode(e, a, y, &mode));
    ck_assert_int_eq(mode, MARGIN_MODE_CROSS);
    check_books(c);
}

/* ------------------------------------------------------------------ test cases */

typedef void (*scenario_fn)(ctx_t *);

static const struct {
    const char *name;
    scenario_fn fn;
} SCENARIOS[] = {
    {"binance", sc_binance},
    {"hedge", sc_hedge},
    {"hedge_gross", sc_hedge_gross},
    {"contrast_isolated", sc_contrast_isolated},
    {"contrast_cross", sc_contrast_cross},
    {"worst_first", sc_worst_first},
    {"worst_first_gap", sc_worst_first_gap},
    {"policy_all", sc_policy_all},
    {"isolated_spares_wallet", sc_isolated_spares_wallet},
    {"cross_spares_isolated", sc_cross_spares_isolated},
    {"margin_calls", sc_margin_calls},
    {"funding", sc_funding},
    {"bad_input", sc_bad_input},
    {"worst_first_call", sc_worst_first_call},
    {"worst_first_take", sc_worst_first_take},
    {"isolated_fee_negative_wallet", sc_isolated_fee_negative_wallet},
    {"worst_first_tie", sc_worst_first_tie},
    {"isolated_stop_fees_in_order", sc_isolated_stop_fees_in_order},
};
#define NSCEN (sizeof SCENARIOS / sizeof SCENARIOS[0])

/* Scenario n on the indexes (full_scan 0) or the full scan (1). */
static void run_one(size_t n, int full_scan)
{
    ctx_t c;
    ctx_init(&c, full_scan);
    SCENARIOS[n].fn(&c);
    ctx_free(&c);
}

#define CASE(name, n)                                                                       \
    START_TEST(name)                                                                        \
    {                                                                                       \
        run_one(n, _i);                                                                     \
    }                                                                                       \
    END_TEST

CASE(test_binance_cross, 0)
CASE(test_hedge_two_legs, 1)
CASE(test_hedge_gross, 2)
CASE(test_contrast_isolated, 3)
CASE(test_contrast_cross, 4)
CASE(test_worst_first, 5)
CASE(test_worst_first_gap, 6)
CASE(test_policy_all, 7)
CASE(test_isolated_spares_wallet, 8)
CASE(test_cross_spares_isolated, 9)
CASE(test_account_margin_calls, 10)
CASE(test_funding, 11)
CASE(test_bad_input, 12)
CASE(test_worst_first_call, 13)
CASE(test_worst_first_take, 14)
CASE(test_isolated_fee_negative_wallet, 15)
CASE(test_worst_first_tie, 16)
CASE(test_isolated_stop_fees_in_order, 17)

/* Scenario _i on both paths: the same event stream, field by field. */
START_TEST(test_index_vs_full_scan)
{
    size_t n = (size_t)_i;
    ctx_t c[2];
    for (int w = 0; w < 2; w++) {
        ctx_init(&c[w], w);
        SCENARIOS[n].fn(&c[w]);
        flush(&c[w]);
    }
    ck_assert_msg(c[0].nlog == c[1].nlog, "%s: %zu events (index) vs %zu (full scan)",
                  SCENARIOS[n].name, c[0].nlog, c[1].nlog);
    for (size_t i = 0; i < c[0].nlog; i++)
        for (int k = 1; k < NF; k++)
            ck_assert_msg(c[0].log[i].f[k] == c[1].log[i].f[k],
                          "%s: event %zu field %d: index %lld, full scan %lld",
                          SCENARIOS[n].name, i, k, (long long)c[0].log[i].f[k],
                          (long long)c[1].log[i].f[k]);
    ctx_free(&c[0]);
    ctx_free(&c[1]);
}
END_TEST

/* The entry basis rounds a cross leg's maintenance margin up, to the holder's cost. Market
 * at the entry basis, price scale 2, quantity scale 3, one tier mmr 0.0043, no fee to close:
 * a cross long of 0.001 at 123.45 has Q*E*mmr = 0.12345 * 0.0043 = 0.000530835, which
 * money (8 decimals) holds only rounded: up, 0.00053084 (down would be 0.00053083). The
 * account's cross maintenance margin is that one leg's; its ratio is MM / balance with the
 * balance 10 (no mark: the leg at its entry, no PnL): 0.00053084 / 10 = 0.000053084, up
 * 0.00005309. */
START_TEST(test_entry_basis_rounding)
{
    margin_engine *e = NULL;
    uint64_t m = 0, a, p;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ok(e, margin_market_new(e, "ENTRYUSDT", &m));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_PRICE_SCALE, 2));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_QTY_SCALE, 3));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_MM_BASIS, MARGIN_MM_BASIS_ENTRY));
    ck_assert_ok(e, margin_market_add_tier(e, m, 0, D("0.0043"), 0, 0));
    a = new_account(e, "10");
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    p = open_cross(e, a, m, MARGIN_LONG, 1, 12345, "10");
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_CROSS_MAINT_MARGIN), 53084);
    ck_assert_int_eq(pos_at(e, p, MARGIN_AT_MAINT_MARGIN, 0), 53084);
    ck_assert_int_eq(acct_get(e, a, MARGIN_ACCT_MARGIN_RATIO), 5309);
    margin_engine_free(e);
}
END_TEST

/* Each case twice: _i = 0 on the indexes, 1 on the full scan. */
#define ADD(tc, t) tcase_add_loop_test(tc, t, 0, 2)

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *suite_cross(void)
{
    Suite *s = suite_create("cross");
    TCase *tc = tcase(s, "vectors");
    ADD(tc, test_binance_cross);
    tc = tcase(s, "hedge");
    ADD(tc, test_hedge_two_legs);
    ADD(tc, test_hedge_gross);
    tc = tcase(s, "contrast");
    ADD(tc, test_contrast_isolated);
    ADD(tc, test_contrast_cross);
    tc = tcase(s, "policy");
    ADD(tc, test_worst_first);
    ADD(tc, test_worst_first_gap);
    ADD(tc, test_worst_first_tie);
    ADD(tc, test_policy_all);
    ADD(tc, test_worst_first_call);
    ADD(tc, test_worst_first_take);
    tc = tcase(s, "isolation");
    ADD(tc, test_isolated_spares_wallet);
    ADD(tc, test_cross_spares_isolated);
    ADD(tc, test_isolated_fee_negative_wallet);
    ADD(tc, test_isolated_stop_fees_in_order);
    tc = tcase(s, "margin_call");
    ADD(tc, test_account_margin_calls);
    tc = tcase(s, "funding");
    ADD(tc, test_funding);
    tc = tcase(s, "errors");
    ADD(tc, test_bad_input);
    tc = tcase(s, "rounding");
    tcase_add_test(tc, test_entry_basis_rounding);
    tc = tcase(s, "index");
    tcase_add_loop_test(tc, test_index_vs_full_scan, 0, (int)NSCEN);
    return s;
}
