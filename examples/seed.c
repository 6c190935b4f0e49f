/* The seed example of libmargin, through the public API only.
 *
 * Build against an installed copy with nothing but pkg-config:
 *     cc seed.c $(pkg-config --cflags --libs margin) -o seed
 *
 * A trader deposits 1000 USDT and opens a 0.1 BTC long on BTCUSDT at 20000 with 20x
 * leverage, in isolated margin, on a market with the default settings (prices and
 * quantities at 8 decimals, one maintenance tier: rate 0.4 %, amount 0; taker fee 0.04 %;
 * no fee to close counted in the maintenance margin; margin call at 80 %).
 *
 * Hand calculation (Q = 0.1, E = 20000, L = 20, mmr = 0.004, s = +1):
 *   notional            Q*E              = 0.1 * 20000        = 2000 USDT
 *   initial margin      M = Q*E/L        = 2000 / 20          = 100 USDT
 *   opening fee         0.0004 * 2000                         = 0.8 USDT
 *   free balance        1000 - 100 - 0.8                      = 899.2 USDT
 *   bankruptcy price    E - s*M/Q        = 20000 - 100/0.1    = 19000
 *   liquidation price   (M + cum - s*Q*E) / (Q*mmr - s*Q)
 *                     = (100 + 0 - 2000) / (0.1*0.004 - 0.1)
 *                     = -1900 / -0.0996  = 19076.305220883534...
 *                       a long's rounds up at 8 decimals     -> 19076.30522089
 *   at the entry price  MM = 2000 * 0.004 = 8 USDT, balance 100, ratio 8/100 = 0.08
 *
 * Mark 19090 (above the liquidation price):
 *   uPnL = 0.1 * (19090 - 20000) = -91;  balance B = 100 - 91 = 9
 *   MM = 0.1 * 19090 * 0.004 = 7.636;    ratio = 7.636 / 9 = 0.848444... -> up 0.84844445
 *   0.848 >= 0.8: a margin call, no liquidation.
 * Mark 19050 (below 19076.30522089, above the bankruptcy price 19000):
 *   liquidation; the holder loses exactly its margin: realized PnL -100;
 *   the insurance fund gets s*Q*(mark - E) + M = 0.1 * (19050 - 20000) + 100 = 5 USDT;
 *   the free balance stays 899.2 and equity = 899.2 = 1000 - 100 - 0.8.
 *
 * The program prints these figures and exits with status 1 if any differs. */
#include <stdio.h>
#include <stdlib.h>

#include <margin.h>

static int failures;

/* Print a figure at `scale` decimals and compare it with the hand-computed text. */
static void show(const char *label, int64_t v, int32_t scale, const char *unit,
                 const char *want)
{
    char buf[42];
    int64_t w = 0;
    if (margin_dec_format(v, scale, buf, sizeof buf) != MARGIN_OK) {
        printf("  %-22s <format error>\n", label);
        failures++;
        return;
    }
    printf("  %-22s %s%s%s", label, buf, unit[0] ? " " : "", unit);
    if (margin_dec_parse(want, scale, &w) != MARGIN_OK || w != v) {
        printf("   MISMATCH: expected %s\n", want);
        failures++;
    } else {
        printf("\n");
    }
}

static void check_rc(int rc, const margin_engine *e, const char *what)
{
    if (rc != MARGIN_OK) {
        fprintf(stderr, "seed: %s failed: %s (%s)\n", what, margin_strerror(rc),
                margin_errmsg(e));
        exit(2);
    }
}

static int64_t dec(const char *s)
{
    int64_t v = 0;
    if (margin_dec_parse(s, 8, &v) != MARGIN_OK) {
        fprintf(stderr, "seed: bad literal %s\n", s);
        exit(2);
    }
    return v;
}

static int64_t at(const margin_engine *e, uint64_t pos, int32_t key, int64_t mark)
{
    int64_t v = 0;
    check_rc(margin_position_at(e, pos, key, mark, &v), e, "margin_position_at");
    return v;
}

static int64_t get(const margin_engine *e, uint64_t pos, int32_t key)
{
    int64_t v = 0;
    check_rc(margin_position_get(e, pos, key, &v), e, "margin_position_get");
    return v;
}

static int64_t acct(const margin_engine *e, uint64_t a, int32_t key)
{
    int64_t v = 0;
    check_rc(margin_account_get(e, a, key, &v), e, "margin_account_get");
    return v;
}

static int64_t field(const margin_engine *e, int32_t f)
{
    int64_t v = 0;
    check_rc(margin_event_get(e, f, &v), e, "margin_event_get");
    return v;
}

/* Take the next event and check its type. */
static void expect_event(margin_engine *e, int32_t want, const char *name)
{
    int32_t type = MARGIN_EV_NONE;
    check_rc(margin_event_next(e, &type), e, "margin_event_next");
    printf("event %-16s seq %lld\n", name,
           (long long)(type == MARGIN_EV_NONE ? 0 : field(e, MARGIN_EVF_SEQ)));
    if (type != want) {
        printf("  MISMATCH: got event type %d, expected %d (%s)\n", (int)type, (int)want, name);
        failures++;
    }
}

int main(void)
{
    margin_engine *e = NULL;
    uint64_t mkt = 0, account = 0, pos = 0;
    int64_t v = 0;
    int32_t type = 0;

    printf("libmargin %s (header %s)\n", margin_version_string(), MARGIN_VERSION_STRING);
    check_rc(margin_engine_new(&e), NULL, "margin_engine_new");
    check_rc(margin_market_new(e, "BTCUSDT", &mkt), e, "margin_market_new");
    check_rc(margin_account_new(e, &account), e, "margin_account_new");
    check_rc(margin_account_deposit(e, account, dec("1000")), e, "margin_account_deposit");
    check_rc(margin_position_open(e, account, mkt, MARGIN_LONG, dec("0.1"), dec("20000"),
                                  dec("20"), 0, 0, &pos),
             e, "margin_position_open");

    printf("long 0.1 BTCUSDT at 20000, 20x, isolated\n");
    show("notional", at(e, pos, MARGIN_AT_NOTIONAL, 0), 8, "USDT", "2000");
    show("margin", get(e, pos, MARGIN_POS_MARGIN), 8, "USDT", "100");
    show("initial margin", at(e, pos, MARGIN_AT_INITIAL_MARGIN, 0), 8, "USDT", "100");
    show("leverage", get(e, pos, MARGIN_POS_LEVERAGE), 8, "x", "20");
    show("opening fee", acct(e, account, MARGIN_ACCT_FEES), 8, "USDT", "0.8");
    show("free balance", acct(e, account, MARGIN_ACCT_FREE_BALANCE), 8, "USDT", "899.2");
    show("bankruptcy price", at(e, pos, MARGIN_AT_BANKRUPTCY_PRICE, 0), 8, "", "19000");
    show("liquidation price", at(e, pos, MARGIN_AT_LIQ_PRICE, 0), 8, "", "19076.30522089");
    show("liq. price in force", get(e, pos, MARGIN_POS_LIQ_PRICE), 8, "", "19076.30522089");
    show("maintenance margin", at(e, pos, MARGIN_AT_MAINT_MARGIN, 0), 8, "USDT", "8");
    show("margin ratio", at(e, pos, MARGIN_AT_MARGIN_RATIO, 0), 8, "", "0.08");

    expect_event(e, MARGIN_EV_DEPOSIT, "deposit");
    expect_event(e, MARGIN_EV_OPEN, "open");

    printf("mark 19090\n");
    check_rc(margin_mark_update(e, mkt, dec("19090")), e, "margin_mark_update");
    show("unrealized PnL", at(e, pos, MARGIN_AT_UNREALIZED_PNL, 0), 8, "USDT", "-91");
    show("margin balance", at(e, pos, MARGIN_AT_MARGIN_BALANCE, 0), 8, "USDT", "9");
    show("maintenance margin", at(e, pos, MARGIN_AT_MAINT_MARGIN, 0), 8, "USDT", "7.636");
    show("margin ratio", at(e, pos, MARGIN_AT_MARGIN_RATIO, 0), 8, "", "0.84844445");
    expect_event(e, MARGIN_EV_MARGIN_CALL, "margin call");
    show("event margin ratio", field(e, MARGIN_EVF_MARGIN_RATIO), 8, "", "0.84844445");
    show("event level", field(e, MARGIN_EVF_LEVEL), 8, "", "0.8");

    printf("mark 19050\n");
    check_rc(margin_mark_update(e, mkt, dec("19050")), e, "margin_mark_update");
    expect_event(e, MARGIN_EV_LIQUIDATION, "liquidation");
    show("mark", field(e, MARGIN_EVF_PRICE), 8, "", "19050");
    show("quantity", field(e, MARGIN_EVF_QTY), 8, "BTC", "0.1");
    show("liquidation price", field(e, MARGIN_EVF_LIQ_PRICE), 8, "", "19076.30522089");
    show("bankruptcy price", field(e, MARGIN_EVF_BANKRUPTCY_PRICE), 8, "", "19000");
    show("realized PnL", field(e, MARGIN_EVF_REALIZED_PNL), 8, "USDT", "-100");
    show("insurance fund delta", field(e, MARGIN_EVF_INSURANCE_DELTA), 8, "USDT", "5");
    show("free balance", field(e, MARGIN_EVF_FREE_BALANCE), 8, "USDT", "899.2");

    check_rc(margin_event_next(e, &type), e, "margin_event_next");
    if (type != MARGIN_EV_NONE) {
        printf("  MISMATCH: unexpected further event of type %d\n", (int)type);
        failures++;
    }

    printf("after the liquidation\n");
    show("position status", get(e, pos, MARGIN_POS_STATUS), 0, "", "2"); /* LIQUIDATED */
    show("position size", get(e, pos, MARGIN_POS_QTY), 8, "BTC", "0");
    show("position PnL", get(e, pos, MARGIN_POS_REALIZED_PNL), 8, "USDT", "-100");
    show("free balance", acct(e, account, MARGIN_ACCT_FREE_BALANCE), 8, "USDT", "899.2");
    show("equity", acct(e, account, MARGIN_ACCT_EQUITY), 8, "USDT", "899.2");
    check_rc(margin_engine_get(e, MARGIN_ENG_INSURANCE_FUND, &v), e, "margin_engine_get");
    show("insurance fund", v, 8, "USDT", "5");
    check_rc(margin_engine_get(e, MARGIN_ENG_LIQUIDATIONS, &v), e, "margin_engine_get");
    show("liquidations", v, 0, "", "1");

    margin_engine_free(e);
    if (failures != 0) {
        printf("seed: %d figure(s) differ from the hand calculation\n", failures);
        return 1;
    }
    printf("seed: all figures match the hand calculation\n");
    return 0;
}
