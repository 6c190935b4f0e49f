/* `margin calc`: the figures of one isolated position, computed by the engine itself.
 *
 * The calculator builds a throw-away engine with one market (price and quantity scale 8,
 * tick and step one unit, so any input with at most 8 decimals is on the grid; maximum
 * leverage 1000x; no trading fees, so opening charges nothing), one account funded with
 * enough money, opens the position, optionally adds margin, and reads every figure with
 * margin_position_at() at the mark price. Nothing is computed here that the library
 * computes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"

#define CMD "calc"
#define ONE 100000000LL /* 1 at scale 8 */
#define CALC_MAX_LEVERAGE (1000 * ONE)

void cli_usage_calc(FILE *f)
{
    fputs("usage: margin calc --side long|short --entry PRICE (--qty Q | --notional V)\n"
          "                   [--leverage L] [--margin M] [--add-margin X]\n"
          "                   [--mmr RATE] [--mm-amount A] [--tiers FILE]\n"
          "                   [--fee-to-close RATE] [--mm-basis mark|entry] [--mark PRICE]\n"
          "                   [--json]\n"
          "\n"
          "Figures of one isolated linear (USDT-margined) position, exact to 8 decimals.\n"
          "\n"
          "  --side long|short     side of the position (required)\n"
          "  --entry PRICE         entry price (required)\n"
          "  --qty Q               size in base units, or\n"
          "  --notional V          position value: Q = V / PRICE rounded down to 8 decimals\n"
          "  --leverage L          1 to 1000; margin defaults to Q * PRICE / L (rounded up)\n"
          "  --margin M            isolated margin; alone, the leverage is Q * PRICE / M\n"
          "                        (1 if M covers the whole position value)\n"
          "  --add-margin X        margin added after opening (moves the liquidation price)\n"
          "  --mmr RATE            maintenance margin rate (default 0.004)\n"
          "  --mm-amount A         maintenance amount deducted, `cum` (default 0)\n"
          "  --tiers FILE          CSV lines floor_notional,mmr[,maintenance_amount]; a header\n"
          "                        line and # comments allowed; a missing amount is derived\n"
          "  --fee-to-close RATE   fee rate to close counted in maintenance (default 0)\n"
          "  --mm-basis mark|entry maintenance at the liquidation price (mark, default) or\n"
          "                        fixed at the entry value (entry)\n"
          "  --mark PRICE          mark price of the queries (default: the entry price)\n"
          "  --json                one JSON object; every decimal is a JSON string\n"
          "                        (\"19076.30522089\": exact, never a binary float);\n"
          "                        liquidation_price is null when the position cannot be\n"
          "                        liquidated, margin_ratio is null when the margin balance\n"
          "                        is <= 0\n"
          "\n"
          "Exit status: 0 success, 1 computation error (overflow), 2 bad argument.\n",
          f);
}

struct calc_args {
    int side; /* 0 until given */
    const char *entry_s, *qty_s, *notional_s, *lev_s, *margin_s, *add_s, *mmr_s, *mma_s,
        *tiers, *fee_s, *basis_s, *mark_s;
    int json;
};

struct calc_in {
    int32_t side;
    int64_t entry, qty, notional_in, leverage, margin, add, mmr, mm_amount, fee, mark;
    int32_t basis;
};

static int parse_args(int argc, char **argv, struct calc_args *a)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--entry", offsetof(struct calc_args, entry_s)},
        {"--qty", offsetof(struct calc_args, qty_s)},
        {"--notional", offsetof(struct calc_args, notional_s)},
        {"--leverage", offsetof(struct calc_args, lev_s)},
        {"--margin", offsetof(struct calc_args, margin_s)},
        {"--add-margin", offsetof(struct calc_args, add_s)},
        {"--mmr", offsetof(struct calc_args, mmr_s)},
        {"--mm-amount", offsetof(struct calc_args, mma_s)},
        {"--tiers", offsetof(struct calc_args, tiers)},
        {"--fee-to-close", offsetof(struct calc_args, fee_s)},
        {"--mm-basis", offsetof(struct calc_args, basis_s)},
        {"--mark", offsetof(struct calc_args, mark_s)},
    };
    int i;

    memset(a, 0, sizeof *a);
    for (i = 1; i < argc; i++) {
        const char *v = NULL;
        size_t k;
        int m = 0;

        if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
            continue;
        }
        m = cli_opt_value(CMD, argc, argv, &i, "--side", &v);
        if (m < 0)
            return -1;
        if (m > 0) {
            if (strcmp(v, "long") == 0)
                a->side = MARGIN_LONG;
            else if (strcmp(v, "short") == 0)
                a->side = MARGIN_SHORT;
            else {
                cli_error(CMD, "--side: '%s' is not long or short", v);
                return -1;
            }
            continue;
        }
        for (k = 0; k < sizeof opts / sizeof opts[0]; k++) {
            m = cli_opt_value(CMD, argc, argv, &i, opts[k].name, &v);
            if (m < 0)
                return -1;
            if (m > 0) {
                *(const char **)(void *)((char *)a + opts[k].off) = v;
                break;
            }
        }
        if (m > 0)
            continue;
        cli_error(CMD, "%s: unknown argument (see margin help calc)", argv[i]);
        return -1;
    }
    return 0;
}

/* Turn the argument strings into numbers; every failure names its argument. */
static int check_args(const struct calc_args *a, struct calc_in *in)
{
    memset(in, 0, sizeof *in);
    if (!a->side) {
        cli_error(CMD, "--side: required (long or short)");
        return -1;
    }
    in->side = a->side;
    if (!a->entry_s) {
        cli_error(CMD, "--entry: required");
        return -1;
    }
    if (cli_parse_pos(CMD, "--entry", a->entry_s, 8, &in->entry) != 0)
        return -1;
    if (!a->qty_s && !a->notional_s) {
        cli_error(CMD, "--qty: one of --qty and --notional is required");
        return -1;
    }
    if (a->qty_s && a->notional_s) {
        cli_error(CMD, "--notional: cannot be combined with --qty");
        return -1;
    }
    if (a->qty_s && cli_parse_pos(CMD, "--qty", a->qty_s, 8, &in->qty) != 0)
        return -1;
    if (a->notional_s &&
        cli_parse_pos(CMD, "--notional", a->notional_s, MARGIN_MONEY_SCALE, &in->notional_in) != 0)
        return -1;
    if (!a->lev_s && !a->margin_s) {
        cli_error(CMD, "--leverage: one of --leverage and --margin is required");
        return -1;
    }
    if (a->lev_s) {
        if (cli_parse_pos(CMD, "--leverage", a->lev_s, MARGIN_RATE_SCALE, &in->leverage) != 0)
            return -1;
        if (in->leverage < ONE || in->leverage > CALC_MAX_LEVERAGE) {
            cli_error(CMD, "--leverage: '%s' must be between 1 and 1000", a->lev_s);
            return -1;
        }
    }
    if (a->margin_s &&
        cli_parse_pos(CMD, "--margin", a->margin_s, MARGIN_MONEY_SCALE, &in->margin) != 0)
        return -1;
    if (a->add_s &&
        cli_parse_pos(CMD, "--add-margin", a->add_s, MARGIN_MONEY_SCALE, &in->add) != 0)
        return -1;
    if (a->tiers && (a->mmr_s || a->mma_s)) {
        cli_error(CMD, "--tiers: cannot be combined with --mmr or --mm-amount");
        return -1;
    }
    in->mmr = 400000; /* 0.004 */
    if (a->mmr_s && cli_parse_rate(CMD, "--mmr", a->mmr_s, 1, &in->mmr) != 0)
        return -1;
    if (a->mma_s) {
        if (cli_parse_dec(CMD, "--mm-amount", a->mma_s, MARGIN_MONEY_SCALE, &in->mm_amount) != 0)
            return -1;
        if (in->mm_amount < 0) {
            cli_error(CMD, "--mm-amount: '%s' must not be negative", a->mma_s);
            return -1;
        }
    }
    if (a->fee_s && cli_parse_rate(CMD, "--fee-to-close", a->fee_s, 0, &in->fee) != 0)
        return -1;
    in->basis = MARGIN_MM_BASIS_MARK;
    if (a->basis_s) {
        if (strcmp(a->basis_s, "mark") == 0)
            in->basis = MARGIN_MM_BASIS_MARK;
        else if (strcmp(a->basis_s, "entry") == 0)
            in->basis = MARGIN_MM_BASIS_ENTRY;
        else {
            cli_error(CMD, "--mm-basis: '%s' is not mark or entry", a->basis_s);
            return -1;
        }
    }
    in->mark = in->entry;
    if (a->mark_s && cli_parse_pos(CMD, "--mark", a->mark_s, 8, &in->mark) != 0)
        return -1;
    return 0;
}

/* The figures printed, all read from the engine. */
struct calc_out {
    int64_t qty, notional, leverage, margin, im, mmr, mma, mm, liq, bp, upnl, balance, ratio,
        roe;
};

static int query(const char *what, const margin_engine *e, uint64_t pos, int32_t key,
                 int64_t mark, int64_t *out, int *status)
{
    int rc = margin_position_at(e, pos, key, mark, out);
    if (rc != MARGIN_OK) {
        *status = cli_engine_fail(CMD, what, e, rc);
        return -1;
    }
    return 0;
}

static int compute(const struct calc_args *a, const struct calc_in *in, struct calc_out *o)
{
    margin_engine *e = NULL;
    uint64_t mkt = 0, acct = 0, pos = 0;
    int64_t qty = in->qty, value = 0, leverage = in->leverage, margin = in->margin, deposit;
    int rc, status = CLI_EXIT_FAIL;

    if (in->notional_in) {
        /* Q = V / E rounded down to 8 decimal places. */
        rc = margin_dec_div(in->notional_in, MARGIN_MONEY_SCALE, in->entry, 8, 8,
                            MARGIN_ROUND_FLOOR, &qty);
        if (rc != MARGIN_OK) {
            cli_error(CMD, "--notional: %s / %s: %s", a->notional_s, a->entry_s,
                      margin_strerror(rc));
            return CLI_EXIT_FAIL;
        }
        if (qty == 0) {
            cli_error(CMD, "--notional: %s / %s rounds down to a quantity of 0", a->notional_s,
                      a->entry_s);
            return CLI_EXIT_USAGE;
        }
    }
    /* Position value, only to size the deposit and to decide the leverage for --margin. */
    rc = margin_dec_mul(qty, 8, in->entry, 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &value);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "position value Q * entry: %s", margin_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if (!leverage && margin >= value)
        leverage = ONE; /* the margin covers the whole position: 1x with extra margin */
    deposit = value > margin ? value : margin;
    if (__builtin_add_overflow(deposit, in->add, &deposit) ||
        __builtin_add_overflow(deposit, ONE, &deposit)) {
        cli_error(CMD, "the deposit needed does not fit: %s", margin_strerror(MARGIN_EOVERFLOW));
        return CLI_EXIT_FAIL;
    }

    rc = margin_engine_new(&e);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "cannot create an engine: %s", margin_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if ((rc = margin_market_new(e, "CALC", &mkt)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_PRICE_SCALE, 8)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_QTY_SCALE, 8)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_TICK, 1)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_STEP, 1)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_MAX_LEVERAGE, CALC_MAX_LEVERAGE)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_TAKER_FEE, 0)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_MAKER_FEE, 0)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_MM_BASIS, in->basis)) != MARGIN_OK ||
        /* a calculator's market needs no room beyond the prices it is given: the largest
         * of the entry and the mark bounds it (the library checks every position against
         * its market's maximum price) */
        (rc = margin_market_set(e, mkt, MARGIN_MKT_MAX_PRICE,
                                in->mark > in->entry ? in->mark : in->entry)) != MARGIN_OK) {
        status = cli_engine_fail(CMD, "setting up the market", e, rc);
        goto out;
    }
    rc = margin_market_set(e, mkt, MARGIN_MKT_CLOSE_FEE, in->fee);
    if (rc != MARGIN_OK) {
        cli_engine_fail(CMD, "--fee-to-close", e, rc);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (a->tiers) {
        struct cli_tier tiers[CLI_MAX_TIERS];
        size_t n = 0;
        if (cli_read_tiers(CMD, a->tiers, tiers, &n) != 0) {
            status = CLI_EXIT_USAGE;
            goto out;
        }
        status = cli_apply_tiers(CMD, a->tiers, e, mkt, tiers, n);
        if (status != 0)
            goto out;
        status = CLI_EXIT_FAIL;
    } else {
        rc = margin_market_add_tier(e, mkt, 0, in->mmr, 0, in->mm_amount);
        if (rc != MARGIN_OK) {
            cli_engine_fail(CMD, a->mma_s ? "--mmr/--mm-amount" : "--mmr", e, rc);
            status = rc == MARGIN_EOVERFLOW ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
            goto out;
        }
    }
    if ((rc = margin_account_new(e, &acct)) != MARGIN_OK ||
        (rc = margin_account_deposit(e, acct, deposit)) != MARGIN_OK) {
        status = cli_engine_fail(CMD, "funding the account", e, rc);
        goto out;
    }
    rc = margin_position_open(e, acct, mkt, in->side, qty, in->entry, leverage, margin, 0, &pos);
    if (rc != MARGIN_OK) {
        char buf[CLI_NUM_SIZE];
        status = CLI_EXIT_USAGE;
        if (rc == MARGIN_ELEVERAGE && a->lev_s)
            cli_error(CMD, "--leverage: '%s' is above the maximum leverage allowed (%s)",
                      a->lev_s, margin_errmsg(e));
        else if (rc == MARGIN_ELEVERAGE)
            cli_error(CMD, "--margin: '%s' gives a leverage of more than %sx (%s)", a->margin_s,
                      cli_num(buf, CALC_MAX_LEVERAGE, MARGIN_RATE_SCALE), margin_errmsg(e));
        else if (rc == MARGIN_EMARGIN && a->margin_s)
            cli_error(CMD, "--margin: '%s' is too small for this position (%s)", a->margin_s,
                      margin_errmsg(e));
        else if (rc == MARGIN_EMARGIN)
            cli_error(CMD, "--leverage: '%s' is too high for this position (%s)", a->lev_s,
                      margin_errmsg(e));
        else
            status = cli_engine_fail(CMD, "opening the position", e, rc);
        goto out;
    }
    if (in->add) {
        rc = margin_position_add_margin(e, pos, in->add);
        if (rc != MARGIN_OK) {
            status = cli_engine_fail(CMD, "--add-margin", e, rc);
            goto out;
        }
    }

    if ((rc = margin_position_get(e, pos, MARGIN_POS_QTY, &o->qty)) != MARGIN_OK ||
        (rc = margin_position_get(e, pos, MARGIN_POS_LEVERAGE, &o->leverage)) != MARGIN_OK ||
        (rc = margin_position_get(e, pos, MARGIN_POS_MARGIN, &o->margin)) != MARGIN_OK) {
        status = cli_engine_fail(CMD, "reading the position", e, rc);
        goto out;
    }
    /* The position value at entry (Q * E), then every figure at the mark. */
    if (query("notional", e, pos, MARGIN_AT_NOTIONAL, in->entry, &o->notional, &status) ||
        query("initial margin", e, pos, MARGIN_AT_INITIAL_MARGIN, in->mark, &o->im, &status) ||
        query("maintenance rate", e, pos, MARGIN_AT_MAINT_RATE, in->mark, &o->mmr, &status) ||
        query("maintenance amount", e, pos, MARGIN_AT_MAINT_AMOUNT, in->mark, &o->mma,
              &status) ||
        query("maintenance margin", e, pos, MARGIN_AT_MAINT_MARGIN, in->mark, &o->mm,
              &status) ||
        query("liquidation price", e, pos, MARGIN_AT_LIQ_PRICE, in->mark, &o->liq, &status) ||
        query("bankruptcy price", e, pos, MARGIN_AT_BANKRUPTCY_PRICE, in->mark, &o->bp,
              &status) ||
        query("unrealized PnL", e, pos, MARGIN_AT_UNREALIZED_PNL, in->mark, &o->upnl,
              &status) ||
        query("margin balance", e, pos, MARGIN_AT_MARGIN_BALANCE, in->mark, &o->balance,
              &status) ||
        query("margin ratio", e, pos, MARGIN_AT_MARGIN_RATIO, in->mark, &o->ratio, &status) ||
        query("ROE", e, pos, MARGIN_AT_ROE, in->mark, &o->roe, &status))
        goto out;
    status = CLI_EXIT_OK;
out:
    margin_engine_free(e);
    return status;
}

static void print_json(const struct calc_in *in, const struct calc_out *o)
{
    char b[CLI_NUM_SIZE];

    printf("{\"side\": \"%s\"", in->side == MARGIN_LONG ? "long" : "short");
    printf(", \"entry_price\": \"%s\"", cli_num(b, in->entry, 8));
    printf(", \"quantity\": \"%s\"", cli_num(b, o->qty, 8));
    printf(", \"notional\": \"%s\"", cli_num(b, o->notional, MARGIN_MONEY_SCALE));
    printf(", \"leverage\": \"%s\"", cli_num(b, o->leverage, MARGIN_RATE_SCALE));
    printf(", \"margin\": \"%s\"", cli_num(b, o->margin, MARGIN_MONEY_SCALE));
    printf(", \"initial_margin\": \"%s\"", cli_num(b, o->im, MARGIN_MONEY_SCALE));
    printf(", \"maintenance_rate\": \"%s\"", cli_num(b, o->mmr, MARGIN_RATE_SCALE));
    printf(", \"maintenance_amount\": \"%s\"", cli_num(b, o->mma, MARGIN_MONEY_SCALE));
    printf(", \"maintenance_margin\": \"%s\"", cli_num(b, o->mm, MARGIN_MONEY_SCALE));
    if (o->liq == 0)
        printf(", \"liquidation_price\": null");
    else
        printf(", \"liquidation_price\": \"%s\"", cli_num(b, o->liq, 8));
    printf(", \"bankruptcy_price\": \"%s\"", cli_num(b, o->bp, 8));
    printf(", \"mark_price\": \"%s\"", cli_num(b, in->mark, 8));
    printf(", \"unrealized_pnl\": \"%s\"", cli_num(b, o->upnl, MARGIN_MONEY_SCALE));
    printf(", \"margin_balance\": \"%s\"", cli_num(b, o->balance, MARGIN_MONEY_SCALE));
    if (o->ratio == INT64_MAX)
        printf(", \"margin_ratio\": null");
    else
        printf(", \"margin_ratio\": \"%s\"", cli_num(b, o->ratio, MARGIN_RATE_SCALE));
    printf(", \"roe\": \"%s\"}\n", cli_num(b, o->roe, MARGIN_RATE_SCALE));
}

static void row(const char *label, const char *value, const char *note)
{
    if (note && *note)
        printf("  %-20s %-22s %s\n", label, value, note);
    else
        printf("  %s%*s%s\n", label, (int)(21 - strlen(label)), "", value);
}

static void print_table(const struct calc_in *in, const struct calc_out *o)
{
    char b[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], v[96], note[128];

    printf("Isolated %s: %s at %s, position value %s\n",
           in->side == MARGIN_LONG ? "long" : "short", cli_num(b, o->qty, 8),
           cli_num(b2, in->entry, 8), cli_num(v, o->notional, MARGIN_MONEY_SCALE));
    snprintf(v, sizeof v, "%sx", cli_num(b, o->leverage, MARGIN_RATE_SCALE));
    row("leverage", v, NULL);
    snprintf(note, sizeof note, "(initial margin %s)", cli_num(b, o->im, MARGIN_MONEY_SCALE));
    row("margin", cli_num(b2, o->margin, MARGIN_MONEY_SCALE), note);
    if (o->liq == 0)
        row("liquidation price", "none", "(this long cannot be liquidated)");
    else
        row("liquidation price", cli_num(b, o->liq, 8), NULL);
    if (o->bp == 0 && in->side == MARGIN_LONG)
        /* 0 means: the margin covers a fall of the price all the way to 0. */
        row("bankruptcy price", "0",
            "(never: the margin covers a fall to 0, so this long cannot go bankrupt)");
    else
        row("bankruptcy price", cli_num(b, o->bp, 8), "(where the margin is gone)");
    printf("At mark %s:\n", cli_num(b, in->mark, 8));
    snprintf(v, sizeof v, "%s %%", cli_pct(b, o->mmr));
    snprintf(note, sizeof note, "(maintenance amount %s)",
             cli_num(b2, o->mma, MARGIN_MONEY_SCALE));
    row("maintenance rate", v, note);
    row("maintenance margin", cli_num(b, o->mm, MARGIN_MONEY_SCALE), NULL);
    row("unrealized PnL", cli_num(b, o->upnl, MARGIN_MONEY_SCALE), NULL);
    row("margin balance", cli_num(b, o->balance, MARGIN_MONEY_SCALE), NULL);
    if (o->ratio == INT64_MAX) {
        row("margin ratio", "infinite", "(margin balance <= 0: liquidated)");
    } else {
        snprintf(v, sizeof v, "%s %%", cli_pct(b, o->ratio));
        row("margin ratio", v, o->ratio >= ONE ? "(at or past liquidation: 100 %)" : NULL);
    }
    snprintf(v, sizeof v, "%s %%", cli_pct(b, o->roe));
    row("ROE", v, NULL);
}

int cli_cmd_calc(int argc, char **argv)
{
    struct calc_args a;
    struct calc_in in;
    struct calc_out o;
    int i, status;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage_calc(stdout);
            return CLI_EXIT_OK;
        }
    }
    if (parse_args(argc, argv, &a) != 0 || check_args(&a, &in) != 0)
        return CLI_EXIT_USAGE;
    memset(&o, 0, sizeof o);
    status = compute(&a, &in, &o);
    if (status != CLI_EXIT_OK)
        return status;
    if (a.json)
        print_json(&in, &o);
    else
        print_table(&in, &o);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
