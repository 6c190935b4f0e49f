/* `margin calc`: the figures of one position, computed by the engine itself.
 *
 * Isolated (the default): the calculator builds a throw-away engine with one market (price
 * and quantity scale 8, tick and step one unit, so any input with at most 8 decimals is on
 * the grid; maximum leverage 1000x; no trading fees, so opening charges nothing), one
 * account funded with enough money, opens the position, optionally adds margin, and reads
 * every figure with margin_position_at() at the mark price.
 *
 * Cross (--cross): one account whose cross wallet is --wallet, in cross mode in every
 * market: the position's, and one market per symbol of the --other positions (those with
 * the position's symbol are hedge legs in its market). Markets are set up as above. Every
 * position opens at its entry before any market has a mark; then each market gets its
 * mark, and the figures are read at the position's mark, every other market at its own.
 * Nothing is computed here that the library computes.
 *
 * Liquidation (--liquidation POLICY, isolated only): the market also gets the policy, the
 * clearance fee (--liq-fee), the fill (--liq-fill) and the quantity step (--step); after the
 * figures are read, the mark is applied with margin_mark_update() and the liquidation
 * events it produces say what was liquidated, at what price and fee; what remains is read
 * from the position and the change of the insurance fund from the engine.
 *
 * Inverse (--inverse): the market is an inverse (coin-margined) one (MARGIN_MKT_CONTRACT,
 * MARGIN_MKT_CONTRACT_SIZE), and with --cross every market of the account is: the quantity
 * is in contracts (--contracts, and qty= of --other), every money amount in the coin;
 * every liquidation policy applies. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "calc"
#define ONE 100000000LL /* 1 at scale 8 */
#define CALC_MAX_LEVERAGE (1000 * ONE)
#define MAIN_SYMBOL "MAIN"

void cli_usage_calc(FILE *f)
{
    fputs("usage: margin calc --side long|short --entry PRICE (--qty Q | --notional V)\n"
          "                   [--leverage L] [--margin M] [--add-margin X]\n"
          "                   [--mmr RATE] [--mm-amount A] [--tiers FILE]\n"
          "                   [--fee-to-close RATE] [--mm-basis mark|entry] [--mark PRICE]\n"
          "                   [--liquidation POLICY [--liq-fee R] [--liq-fill FILL]\n"
          "                   [--step S]] [--json]\n"
          "       margin calc --cross --wallet WB --side long|short --entry PRICE\n"
          "                   (--qty Q | --notional V) [--leverage L] [--symbol SYM]\n"
          "                   [--other SPEC]... [the options above but --margin, --add-margin]\n"
          "       margin calc --inverse [--contract-size C] --side long|short --entry PRICE\n"
          "                   (--contracts K | --notional V) [the options above]\n"
          "\n"
          "Figures of one linear (USDT-margined) position, exact to 8 decimals: an isolated\n"
          "position, or with --cross a cross position beside the account's other ones; with\n"
          "--inverse, the same of an inverse (coin-margined) position.\n"
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
          "  --liquidation POLICY  also report what a liquidation at --mark would do under\n"
          "                        the market policy POLICY: full (the whole position),\n"
          "                        min-reduce (Binance: the smallest quantity, rounded up to\n"
          "                        the step, that leaves the margin balance above the\n"
          "                        maintenance margin after the loss and the clearance fee),\n"
          "                        tier-down (Bybit, BitMEX: down to the cap of the highest\n"
          "                        lower tier the equity covers) or slices (Hyperliquid: 20 %\n"
          "                        of a position above 100,000 of notional, in full below 2/3\n"
          "                        of the maintenance margin). The position is opened, the\n"
          "                        mark applied, and the engine's liquidation events read:\n"
          "                        liquidated quantity (0 when not liquidatable at --mark),\n"
          "                        clearance fee, fill price, what remains (quantity, margin)\n"
          "                        and the change of the insurance fund. Isolated only\n"
          "  --liq-fee R           clearance (liquidation) fee rate, 0 to 1 (default 0),\n"
          "                        charged on the liquidated quantity at the fill price and\n"
          "                        credited to the insurance fund; never more than the holder\n"
          "                        has left\n"
          "  --liq-fill FILL       the price a full liquidation settles at: mark (default),\n"
          "                        liq-price (the liquidation price) or bankruptcy (the\n"
          "                        insurance fund takes the position over: the holder loses\n"
          "                        exactly the margin)\n"
          "  --step S              the market's quantity step (default 0.00000001); --qty must\n"
          "                        be a multiple of it, --notional is rounded down to it\n"
          "  --json                one JSON object; every decimal is a JSON string\n"
          "                        (\"19076.30522089\": exact, never a binary float);\n"
          "                        liquidation_price is null when the position cannot be\n"
          "                        liquidated, margin_ratio is null when the margin balance\n"
          "                        is <= 0; with --liquidation also liquidation_policy,\n"
          "                        liquidated_qty, liquidation_fee, fill_price (null when\n"
          "                        nothing is liquidated), fill (mark, liquidation_price or\n"
          "                        bankruptcy; null likewise), remaining_qty, remaining_margin,\n"
          "                        insurance_fund_delta\n"
          "\n"
          "margin calc --inverse: an inverse (coin-margined) contract, as BitMEX's XBTUSD or\n"
          "Binance COIN-M: K contracts of C quote units (USD) each, N = K * C; the position\n"
          "value is N / PRICE and every money amount is in the coin: margin, PnL, maintenance\n"
          "margin and amounts, tier floors, fees, the cross wallet.\n"
          "  --inverse             the position is an inverse contract (with --cross, every\n"
          "                        market of the account is inverse, and qty= of --other\n"
          "                        counts contracts of the same size).\n"
          "                        --liquidation takes every policy, on the coin value\n"
          "                        N / PRICE (slices: its 100,000 threshold is in the coin\n"
          "                        too)\n"
          "  --contract-size C     quote units per contract (default 1, as BitMEX's XBTUSD;\n"
          "                        Binance COIN-M's BTCUSD: 100)\n"
          "  --contracts K         size in contracts (with --inverse, in place of --qty, which\n"
          "                        is refused: an inverse size is not in base units)\n"
          "  --notional V          with --inverse: the position value in the coin at the\n"
          "                        entry; K = V * PRICE / C rounded down to 8 decimals\n"
          "  Prices below the inverse market's minimum, 0.01, are refused. With --json:\n"
          "  \"contract\": \"inverse\", contract_size and \"settlement\": \"coin\"; quantity,\n"
          "  liquidated_qty and remaining_qty are contracts, notional is N / entry and every\n"
          "  money field is in the coin; liquidation_price and bankruptcy_price are null for\n"
          "  a short whose margin covers N / entry (it can lose no more than that).\n"
          "\n"
          "margin calc --cross: the cross liquidation price (Binance's formula: the wallet\n"
          "less the other markets' maintenance margins plus their unrealized PnL, the legs\n"
          "of the position's market solved together) and the account's figures.\n"
          "  --cross               the position is a cross position of an account whose\n"
          "                        cross wallet is --wallet, in cross mode in every market\n"
          "  --wallet WB           the cross wallet balance as venues show it: the initial\n"
          "                        margins of the cross positions are part of it (required)\n"
          "  --leverage L          only sets the initial margin Q * PRICE / L, which the\n"
          "                        wallet must cover when the positions open (default 1000,\n"
          "                        the calculator's most); the liquidation price does not\n"
          "                        depend on it. --margin and --add-margin do not apply\n"
          "  --symbol SYM          the position's market (default MAIN)\n"
          "  --other SPEC          repeatable: another cross position of the account, as\n"
          "                        comma-separated key=value: side=long|short, entry=PRICE\n"
          "                        and qty=Q (required), mark=PRICE and mmr=RATE (required\n"
          "                        but for a hedge leg), mm-amount=A (default 0),\n"
          "                        leverage=L (default 1000), symbol=SYM.\n"
          "                        Without symbol= it has a market of its own; positions with\n"
          "                        one symbol share a market (mark, mmr and mm-amount must\n"
          "                        agree). With the position's symbol it is a hedge leg: it\n"
          "                        moves with the price being solved for, so it takes --mark\n"
          "                        and the market's --mmr, --mm-amount or --tiers (mark=,\n"
          "                        mmr=, mm-amount= may be left out; given, they must equal\n"
          "                        those)\n"
          "  --fee-to-close and --mm-basis apply to every market. Every position opens at its\n"
          "  entry before any mark moves (so the wallet must cover the initial margins and the\n"
          "  maintenance margins at entry), then every market takes its mark, the markets\n"
          "  where the account gains first. Marks at which the account is liquidated are\n"
          "  refused. With --json: margin is 0 (a cross position has no margin of its own),\n"
          "  maintenance_margin is the position's share, margin_balance and margin_ratio are\n"
          "  the account's with this market at --mark, and account_margin_balance,\n"
          "  account_maintenance_margin, account_margin_ratio (null when the balance is <= 0)\n"
          "  are the account's at every market's mark.\n"
          "\n"
          "Exit status: 0 success, 1 computation error (overflow), 2 bad argument.\n",
          f);
}

struct calc_args {
    int side; /* 0 until given */
    const char *entry_s, *qty_s, *notional_s, *lev_s, *margin_s, *add_s, *mmr_s, *mma_s,
        *tiers, *fee_s, *basis_s, *mark_s, *wallet_s, *symbol_s, *liq_s, *liq_fee_s,
        *liq_fill_s, *step_s, *contracts_s, *csize_s;
    const char **others; /* --other SPEC, nothers of them */
    size_t nothers;
    int json, cross, inverse;
};

struct calc_in {
    int32_t side;
    int64_t entry, qty, notional_in, leverage, margin, add, mmr, mm_amount, fee, mark, wallet;
    int32_t basis;
    int liq;                  /* --liquidation given */
    int64_t liq_policy, liq_fee, liq_fill, step;
    int inverse;              /* --inverse: qty is in contracts of csize, money in the coin */
    int64_t csize;            /* --contract-size, money scale (1 by default) */
};

/* The option that gave the size: --contracts with --inverse, else --qty. */
static const char *qty_opt(const struct calc_args *a)
{
    return a->inverse ? "--contracts" : "--qty";
}

static const char *qty_text(const struct calc_args *a)
{
    return a->inverse ? a->contracts_s : a->qty_s;
}

/* Cross: the account's markets and positions (the position itself is legs[0] in
 * mkts[0]). */
struct xmkt {
    char sym[CLI_SYM_SIZE];
    int named;        /* its symbol was given, so that other positions can join it */
    const char *text; /* the --other that made it; NULL for the position's market */
    int64_t mark, mmr, mma, max_price;
    uint64_t id;
};

struct xleg {
    const char *text; /* its --other; NULL for the position */
    int32_t side;
    int64_t entry, qty, leverage;
    size_t mkt;
    uint64_t id;
    int64_t upnl, mm; /* at its market's mark */
};

struct cross {
    struct xmkt *mkts;
    struct xleg *legs;
    size_t nmkts, nlegs;
};

static int parse_args(int argc, char **argv, const char **others, struct calc_args *a)
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
        {"--wallet", offsetof(struct calc_args, wallet_s)},
        {"--symbol", offsetof(struct calc_args, symbol_s)},
        {"--liquidation", offsetof(struct calc_args, liq_s)},
        {"--liq-fee", offsetof(struct calc_args, liq_fee_s)},
        {"--liq-fill", offsetof(struct calc_args, liq_fill_s)},
        {"--step", offsetof(struct calc_args, step_s)},
        {"--contracts", offsetof(struct calc_args, contracts_s)},
        {"--contract-size", offsetof(struct calc_args, csize_s)},
    };
    int i;

    memset(a, 0, sizeof *a);
    a->others = others;
    for (i = 1; i < argc; i++) {
        const char *v = NULL;
        size_t k;
        int m = 0;

        if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(argv[i], "--cross") == 0) {
            a->cross = 1;
            continue;
        }
        if (strcmp(argv[i], "--inverse") == 0) {
            a->inverse = 1;
            continue;
        }
        m = cli_opt_value(CMD, argc, argv, &i, "--side", &v);
        if (m < 0)
            return -1;
        if (m > 0) {
            if (cli_parse_side(CMD, "--side", v, &a->side) != 0)
                return -1;
            continue;
        }
        m = cli_opt_value(CMD, argc, argv, &i, "--other", &v);
        if (m < 0)
            return -1;
        if (m > 0) {
            a->others[a->nothers++] = v;
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

static int parse_leverage(const char *what, const char *s, int64_t *out)
{
    if (cli_parse_pos(CMD, what, s, MARGIN_RATE_SCALE, out) != 0)
        return -1;
    if (*out < ONE || *out > CALC_MAX_LEVERAGE) {
        cli_error(CMD, "%s: '%s' must be between 1 and 1000", what, s);
        return -1;
    }
    return 0;
}

/* A maintenance amount: a decimal >= 0. */
static int parse_amount(const char *what, const char *s, int64_t *out)
{
    if (cli_parse_dec(CMD, what, s, MARGIN_MONEY_SCALE, out) != 0)
        return -1;
    if (*out < 0) {
        cli_error(CMD, "%s: '%s' must not be negative", what, s);
        return -1;
    }
    return 0;
}

/* The options that only --cross takes, and those it does not take. */
static int check_mode(const struct calc_args *a)
{
    if (!a->cross) {
        const char *only = a->wallet_s ? "--wallet"
                           : a->symbol_s ? "--symbol"
                           : a->nothers ? "--other"
                                        : NULL;
        if (only) {
            cli_error(CMD, "%s: only with --cross", only);
            return -1;
        }
        return 0;
    }
    if (a->liq_s || a->liq_fee_s || a->liq_fill_s || a->step_s) {
        cli_error(CMD, "%s: not with --cross (a cross position closes in full with its "
                  "account's cross book; the liquidation policies are for isolated positions)",
                  a->liq_s ? "--liquidation" : a->liq_fee_s ? "--liq-fee"
                  : a->liq_fill_s ? "--liq-fill" : "--step");
        return -1;
    }
    if (!a->wallet_s) {
        cli_error(CMD, "--cross: needs --wallet WB, the account's cross wallet balance");
        return -1;
    }
    if (a->margin_s || a->add_s) {
        cli_error(CMD, "%s: not with --cross: a cross position has no margin of its own (the "
                  "cross wallet --wallet backs it)", a->margin_s ? "--margin" : "--add-margin");
        return -1;
    }
    return 0;
}

/* The liquidation options: --liquidation, and --liq-fee, --liq-fill and --step with it. */
static int check_liq_args(const struct calc_args *a, struct calc_in *in)
{
    in->step = 1;
    if (!a->liq_s) {
        const char *dep = a->liq_fee_s ? "--liq-fee" : a->liq_fill_s ? "--liq-fill"
                          : a->step_s ? "--step" : NULL;
        if (dep) {
            cli_error(CMD, "%s: only with --liquidation POLICY", dep);
            return -1;
        }
        return 0;
    }
    in->liq = 1;
    if (strcmp(a->liq_s, "full") == 0)
        in->liq_policy = MARGIN_LIQ_POLICY_FULL;
    else if (strcmp(a->liq_s, "min-reduce") == 0)
        in->liq_policy = MARGIN_LIQ_POLICY_MIN_REDUCE;
    else if (strcmp(a->liq_s, "tier-down") == 0)
        in->liq_policy = MARGIN_LIQ_POLICY_TIER_DOWN;
    else if (strcmp(a->liq_s, "slices") == 0)
        in->liq_policy = MARGIN_LIQ_POLICY_SLICES;
    else {
        cli_error(CMD, "--liquidation: '%s' is not full, min-reduce, tier-down or slices",
                  a->liq_s);
        return -1;
    }
    in->liq_fill = MARGIN_LIQ_FILL_MARK;
    if (a->liq_fill_s) {
        if (strcmp(a->liq_fill_s, "mark") == 0)
            in->liq_fill = MARGIN_LIQ_FILL_MARK;
        else if (strcmp(a->liq_fill_s, "liq-price") == 0)
            in->liq_fill = MARGIN_LIQ_FILL_LIQ_PRICE;
        else if (strcmp(a->liq_fill_s, "bankruptcy") == 0)
            in->liq_fill = MARGIN_LIQ_FILL_BANKRUPTCY;
        else {
            cli_error(CMD, "--liq-fill: '%s' is not mark, liq-price or bankruptcy",
                      a->liq_fill_s);
            return -1;
        }
    }
    if (a->liq_fee_s) {
        if (cli_parse_dec(CMD, "--liq-fee", a->liq_fee_s, MARGIN_RATE_SCALE, &in->liq_fee) != 0)
            return -1;
        if (in->liq_fee < 0 || in->liq_fee > ONE) {
            cli_error(CMD, "--liq-fee: '%s' must be between 0 and 1", a->liq_fee_s);
            return -1;
        }
    }
    if (a->step_s && cli_parse_pos(CMD, "--step", a->step_s, 8, &in->step) != 0)
        return -1;
    if (in->qty && in->qty % in->step != 0) {
        cli_error(CMD, "%s: '%s' is not a multiple of --step %s", qty_opt(a), qty_text(a),
                  a->step_s);
        return -1;
    }
    return 0;
}

/* --inverse, --contract-size and --contracts: the size of an inverse position is in
 * contracts, so --qty (base units) is refused with --inverse, and the contract options are
 * refused without it. */
static int check_inverse(const struct calc_args *a, struct calc_in *in)
{
    in->csize = ONE;
    if (!a->inverse) {
        if (a->contracts_s || a->csize_s) {
            cli_error(CMD, "%s: only with --inverse (a linear position's size is --qty, in "
                      "base units)", a->contracts_s ? "--contracts" : "--contract-size");
            return -1;
        }
        return 0;
    }
    in->inverse = 1;
    if (a->qty_s) {
        cli_error(CMD, "--qty: not with --inverse: an inverse position's size is in "
                  "contracts (--contracts K, of --contract-size quote units each)");
        return -1;
    }
    if (a->csize_s &&
        cli_parse_pos(CMD, "--contract-size", a->csize_s, MARGIN_MONEY_SCALE, &in->csize) != 0)
        return -1;
    return 0;
}

/* Turn the argument strings into numbers; every failure names its argument. */
static int check_args(const struct calc_args *a, struct calc_in *in)
{
    memset(in, 0, sizeof *in);
    if (check_mode(a) != 0)
        return -1;
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
    if (check_inverse(a, in) != 0)
        return -1;
    if (!qty_text(a) && !a->notional_s) {
        cli_error(CMD, "%s: one of %s and --notional is required", qty_opt(a), qty_opt(a));
        return -1;
    }
    if (qty_text(a) && a->notional_s) {
        cli_error(CMD, "--notional: cannot be combined with %s", qty_opt(a));
        return -1;
    }
    if (qty_text(a) && cli_parse_pos(CMD, qty_opt(a), qty_text(a), 8, &in->qty) != 0)
        return -1;
    if (a->notional_s &&
        cli_parse_pos(CMD, "--notional", a->notional_s, MARGIN_MONEY_SCALE, &in->notional_in) != 0)
        return -1;
    if (!a->lev_s && !a->margin_s && !a->cross) {
        cli_error(CMD, "--leverage: one of --leverage and --margin is required");
        return -1;
    }
    if (a->cross)
        in->leverage = CALC_MAX_LEVERAGE;
    if (a->lev_s && parse_leverage("--leverage", a->lev_s, &in->leverage) != 0)
        return -1;
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
    if (a->mma_s && parse_amount("--mm-amount", a->mma_s, &in->mm_amount) != 0)
        return -1;
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
    if (a->wallet_s &&
        cli_parse_pos(CMD, "--wallet", a->wallet_s, MARGIN_MONEY_SCALE, &in->wallet) != 0)
        return -1;
    return check_liq_args(a, in);
}

/* ------------------------------------------------------------------ cross arguments */

/* The market of a hedge leg (symbol= the position's): mark and maintenance are the
 * position's; given, they must agree. */
static int check_hedge_leg(const struct calc_args *a, const struct xmkt *m, const char *text,
                           const int64_t *mark, const int64_t *mmr, const int64_t *mma)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE];

    if (mark && *mark != m->mark) {
        cli_error(CMD, "--other '%s': mark=%s differs from --mark %s: a position in the "
                  "market %s moves with the price solved for, at --mark", text,
                  cli_num(b1, *mark, 8), cli_num(b2, m->mark, 8), m->sym);
        return -1;
    }
    if ((mmr || mma) && a->tiers) {
        cli_error(CMD, "--other '%s': %s: a position in the market %s has the tiers of "
                  "--tiers %s", text, mmr ? "mmr" : "mm-amount", m->sym, a->tiers);
        return -1;
    }
    if (mmr && *mmr != m->mmr) {
        cli_error(CMD, "--other '%s': mmr=%s differs from the market %s's --mmr %s", text,
                  cli_num(b1, *mmr, MARGIN_RATE_SCALE), m->sym,
                  cli_num(b2, m->mmr, MARGIN_RATE_SCALE));
        return -1;
    }
    if (mma && *mma != m->mma) {
        cli_error(CMD, "--other '%s': mm-amount=%s differs from the market %s's --mm-amount "
                  "%s", text, cli_num(b1, *mma, MARGIN_MONEY_SCALE), m->sym,
                  cli_num(b2, m->mma, MARGIN_MONEY_SCALE));
        return -1;
    }
    return 0;
}

/* Place the leg of --other @p text in a market: the position's (a hedge leg), the market
 * of an earlier --other with the same symbol, or a new one. */
static int place_leg(const struct calc_args *a, struct cross *x, struct xleg *leg,
                     const char *text, const char *sym, const int64_t *mark, const int64_t *mmr,
                     const int64_t *mma)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];
    struct xmkt *m = NULL;
    size_t k;

    if (sym[0] && strcmp(sym, x->mkts[0].sym) == 0) {
        m = &x->mkts[0];
        if (check_hedge_leg(a, m, text, mark, mmr, mma) != 0)
            return -1;
    } else {
        if (!mark || !mmr) {
            cli_error(CMD, "--other '%s': %s is required (%s)", text,
                      !mark ? "mark=PRICE" : "mmr=RATE",
                      !mark ? "the mark of its market" : "its maintenance margin rate");
            return -1;
        }
        for (k = 1; sym[0] && k < x->nmkts; k++)
            if (x->mkts[k].named && strcmp(x->mkts[k].sym, sym) == 0)
                m = &x->mkts[k];
        if (m && (*mark != m->mark || *mmr != m->mmr || (mma ? *mma : 0) != m->mma)) {
            cli_error(CMD, "--other '%s': the market %s of --other '%s' has mark %s, mmr %s "
                      "and mm-amount %s: positions in one market share them", text, sym,
                      m->text, cli_num(b1, m->mark, 8), cli_num(b2, m->mmr, MARGIN_RATE_SCALE),
                      cli_num(b3, m->mma, MARGIN_MONEY_SCALE));
            return -1;
        }
        if (!m) {
            m = &x->mkts[x->nmkts++];
            memset(m, 0, sizeof *m);
            if (sym[0]) {
                memcpy(m->sym, sym, CLI_SYM_SIZE);
                m->named = 1;
            } else {
                snprintf(m->sym, sizeof m->sym, "OTHER%zu", x->nlegs);
            }
            m->text = text;
            m->mark = *mark;
            m->mmr = *mmr;
            m->mma = mma ? *mma : 0;
            m->max_price = m->mark;
        }
    }
    leg->mkt = (size_t)(m - x->mkts);
    if (leg->entry > m->max_price)
        m->max_price = leg->entry;
    return 0;
}

static int parse_other(const struct calc_args *a, struct cross *x, const char *text)
{
    char buf[1024], what[1200], sym[CLI_SYM_SIZE] = "";
    char *keys[16], *vals[16];
    int64_t mark = 0, mmr = 0, mma = 0;
    int has_mark = 0, has_mmr = 0, has_mma = 0, n, i;
    struct xleg *leg = &x->legs[x->nlegs];

    n = cli_split_kv(CMD, "--other", text, buf, sizeof buf, keys, vals, 16);
    if (n < 0)
        return -1;
    memset(leg, 0, sizeof *leg);
    leg->text = text;
    leg->leverage = CALC_MAX_LEVERAGE;
    for (i = 0; i < n; i++) {
        const char *k = keys[i], *v = vals[i];
        int rc;

        snprintf(what, sizeof what, "--other '%s': %s", text, k);
        if (strcmp(k, "side") == 0) {
            rc = cli_parse_side(CMD, what, v, &leg->side);
        } else if (strcmp(k, "entry") == 0) {
            rc = cli_parse_pos(CMD, what, v, 8, &leg->entry);
        } else if (strcmp(k, "qty") == 0) {
            rc = cli_parse_pos(CMD, what, v, 8, &leg->qty);
        } else if (strcmp(k, "mark") == 0) {
            rc = cli_parse_pos(CMD, what, v, 8, &mark);
            has_mark = 1;
        } else if (strcmp(k, "mmr") == 0) {
            rc = cli_parse_rate(CMD, what, v, 1, &mmr);
            has_mmr = 1;
        } else if (strcmp(k, "mm-amount") == 0) {
            rc = parse_amount(what, v, &mma);
            has_mma = 1;
        } else if (strcmp(k, "leverage") == 0) {
            rc = parse_leverage(what, v, &leg->leverage);
        } else if (strcmp(k, "symbol") == 0) {
            rc = cli_copy_symbol(CMD, what, v, sym);
        } else {
            cli_error(CMD, "--other '%s': unknown key '%s'", text, k);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    if (!leg->side || !leg->entry || !leg->qty) {
        cli_error(CMD, "--other '%s': %s is required", text,
                  !leg->side ? "side=long|short" : !leg->entry ? "entry=PRICE" : "qty=Q");
        return -1;
    }
    if (place_leg(a, x, leg, text, sym, has_mark ? &mark : NULL, has_mmr ? &mmr : NULL,
                  has_mma ? &mma : NULL) != 0)
        return -1;
    x->nlegs++;
    return 0;
}

/* The account's markets and positions: the position's market and the position first. */
static int check_cross(const struct calc_args *a, const struct calc_in *in, struct cross *x)
{
    struct xmkt *m = &x->mkts[0];
    size_t i;

    memset(m, 0, sizeof *m);
    if (cli_copy_symbol(CMD, "--symbol", a->symbol_s ? a->symbol_s : MAIN_SYMBOL, m->sym) !=
        0)
        return -1;
    m->named = 1;
    m->mark = in->mark;
    m->mmr = in->mmr;
    m->mma = in->mm_amount;
    m->max_price = in->mark > in->entry ? in->mark : in->entry;
    memset(&x->legs[0], 0, sizeof x->legs[0]);
    x->legs[0].side = in->side;
    x->legs[0].entry = in->entry;
    x->legs[0].qty = in->qty; /* or from --notional, in compute_cross() */
    x->legs[0].leverage = in->leverage;
    x->nmkts = x->nlegs = 1;
    for (i = 0; i < a->nothers; i++)
        if (parse_other(a, x, a->others[i]) != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ the engine */

/* The figures printed, all read from the engine. */
struct calc_out {
    int64_t qty, notional, leverage, margin, im, mmr, mma, mm, liq, bp, upnl, balance, ratio,
        roe;
    int64_t acct_balance, acct_mm, acct_ratio; /* cross: the account's */
    /* --liquidation: what the mark update did (read from its events and the engine) */
    int64_t liq_qty, liq_fee, fill_price, fill, rem_qty, rem_margin, fund_delta;
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

/* Q from --notional: V / E rounded down to 8 decimal places; inverse, the contracts
 * V * E / C, rounded down likewise. 0 or an exit status. */
static int qty_of(const struct calc_args *a, const struct calc_in *in, int64_t *qty)
{
    char how[200];
    int rc;

    if (!in->notional_in)
        return 0;
    if (in->inverse) {
        rc = cli_inverse_contracts(in->notional_in, in->entry, 8, in->csize, 8, qty);
        snprintf(how, sizeof how, "%s * %s / %s", a->notional_s, a->entry_s,
                 a->csize_s ? a->csize_s : "1");
    } else {
        rc = margin_dec_div(in->notional_in, MARGIN_MONEY_SCALE, in->entry, 8, 8,
                            MARGIN_ROUND_FLOOR, qty);
        snprintf(how, sizeof how, "%s / %s", a->notional_s, a->entry_s);
    }
    if (rc != MARGIN_OK) {
        cli_error(CMD, "--notional: %s: %s", how, margin_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if (*qty == 0) {
        cli_error(CMD, "--notional: %s rounds down to a quantity of 0%s", how,
                  in->inverse ? " contracts" : "");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* A calculator's market @p sym: scales 8, tick and step 1, no trading fees, the basis and
 * fee to close of the arguments, prices up to @p max_price. 0 or an exit status. */
static int new_market(margin_engine *e, const char *sym, const struct calc_in *in,
                      int64_t max_price, uint64_t *mkt)
{
    int rc;

    if ((rc = margin_market_new(e, sym, mkt)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_PRICE_SCALE, 8)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_QTY_SCALE, 8)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_TICK, 1)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_STEP, 1)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_MAX_LEVERAGE, CALC_MAX_LEVERAGE)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_TAKER_FEE, 0)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_MAKER_FEE, 0)) != MARGIN_OK ||
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_MM_BASIS, in->basis)) != MARGIN_OK ||
        /* an inverse market: contracts of csize quote units, money in the coin */
        (in->inverse && ((rc = margin_market_set(e, *mkt, MARGIN_MKT_CONTRACT,
                                                 MARGIN_CONTRACT_INVERSE)) != MARGIN_OK ||
                         (rc = margin_market_set(e, *mkt, MARGIN_MKT_CONTRACT_SIZE,
                                                 in->csize)) != MARGIN_OK)) ||
        /* a calculator's market needs no room beyond the prices it is given: the largest
         * of the entries and the mark bounds it (the library checks every position
         * against its market's maximum price) */
        (rc = margin_market_set(e, *mkt, MARGIN_MKT_MAX_PRICE, max_price)) != MARGIN_OK)
        return cli_engine_fail(CMD, "setting up the market", e, rc);
    rc = margin_market_set(e, *mkt, MARGIN_MKT_CLOSE_FEE, in->fee);
    if (rc != MARGIN_OK) {
        cli_engine_fail(CMD, "--fee-to-close", e, rc);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* One tier (floor 0) of rate @p mmr and amount @p mma; @p what names them. */
static int one_tier(margin_engine *e, uint64_t mkt, int64_t mmr, int64_t mma, const char *what)
{
    int rc = margin_market_add_tier(e, mkt, 0, mmr, 0, mma);

    if (rc != MARGIN_OK) {
        cli_engine_fail(CMD, what, e, rc);
        return rc == MARGIN_EOVERFLOW ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    }
    return 0;
}

/* The position's market's tiers: --tiers, or --mmr and --mm-amount. */
static int position_tiers(const struct calc_args *a, const struct calc_in *in,
                          margin_engine *e, uint64_t mkt)
{
    struct cli_tier tiers[CLI_MAX_TIERS];
    size_t n = 0;

    if (!a->tiers)
        return one_tier(e, mkt, in->mmr, in->mm_amount,
                        a->mma_s ? "--mmr/--mm-amount" : "--mmr");
    if (cli_read_tiers(CMD, a->tiers, tiers, &n) != 0)
        return CLI_EXIT_USAGE;
    return cli_apply_tiers(CMD, a->tiers, e, mkt, tiers, n);
}

/* Every figure of position @p pos at @p mark. 0 or an exit status. */
static int read_figures(const margin_engine *e, uint64_t pos, const struct calc_in *in,
                        struct calc_out *o)
{
    int rc, status = CLI_EXIT_FAIL;

    if ((rc = margin_position_get(e, pos, MARGIN_POS_QTY, &o->qty)) != MARGIN_OK ||
        (rc = margin_position_get(e, pos, MARGIN_POS_LEVERAGE, &o->leverage)) != MARGIN_OK ||
        (rc = margin_position_get(e, pos, MARGIN_POS_MARGIN, &o->margin)) != MARGIN_OK)
        return cli_engine_fail(CMD, "reading the position", e, rc);
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
        return status;
    return 0;
}

/* An inverse market refuses prices below its minimum (0.01 by default: the value N/P grows
 * without bound as the price falls): say which argument is below it. 0 or an exit status. */
static int check_min_price(const struct calc_args *a, const struct calc_in *in,
                           const margin_engine *e, uint64_t mkt)
{
    char b[CLI_NUM_SIZE];
    int64_t min = 0;
    int rc = margin_market_get(e, mkt, MARGIN_MKT_MIN_PRICE, &min);

    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "reading the minimum price", e, rc);
    if (in->entry < min || in->mark < min) {
        cli_error(CMD, "%s: '%s' is below an inverse market's minimum price %s (the value "
                  "N/P grows without bound as the price falls)",
                  in->entry < min ? "--entry" : "--mark",
                  in->entry < min ? a->entry_s : a->mark_s, cli_num(b, min, 8));
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* The liquidation options of the calculator's market. 0 or an exit status. */
static int liq_market(const struct calc_args *a, const struct calc_in *in, margin_engine *e,
                      uint64_t mkt)
{
    int rc;

    if ((rc = margin_market_set(e, mkt, MARGIN_MKT_STEP, in->step)) != MARGIN_OK) {
        cli_engine_fail(CMD, "--step", e, rc);
        return CLI_EXIT_USAGE;
    }
    if ((rc = margin_market_set(e, mkt, MARGIN_MKT_LIQ_FEE, in->liq_fee)) != MARGIN_OK) {
        cli_engine_fail(CMD, "--liq-fee", e, rc);
        return CLI_EXIT_USAGE;
    }
    if ((rc = margin_market_set(e, mkt, MARGIN_MKT_LIQ_POLICY, in->liq_policy)) != MARGIN_OK ||
        (rc = margin_market_set(e, mkt, MARGIN_MKT_LIQ_FILL, in->liq_fill)) != MARGIN_OK)
        return cli_engine_fail(CMD, a->liq_s, e, rc);
    return 0;
}

/* Apply --mark to the market and read what the liquidation did: the position's
 * liquidation and partial-liquidation events (quantity, fee, fill price), what remains of
 * it, and the change of the insurance fund. 0 or an exit status. */
static int liquidate(margin_engine *e, uint64_t mkt, uint64_t pos, const struct calc_in *in,
                     struct calc_out *o)
{
    int64_t fund0 = 0, fund1 = 0;
    int32_t type = MARGIN_EV_NONE;
    int rc;

    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE)
        ; /* the opening's events */
    if ((rc = margin_engine_get(e, MARGIN_ENG_INSURANCE_FUND, &fund0)) != MARGIN_OK)
        return cli_engine_fail(CMD, "reading the insurance fund", e, rc);
    if ((rc = margin_mark_update(e, mkt, in->mark)) != MARGIN_OK)
        return cli_engine_fail(CMD, "--mark", e, rc);
    while ((rc = margin_event_next(e, &type)) == MARGIN_OK && type != MARGIN_EV_NONE) {
        int64_t id = 0, q = 0, fee = 0, price = 0, fill = 0;

        if (type != MARGIN_EV_LIQUIDATION && type != MARGIN_EV_PARTIAL_LIQUIDATION)
            continue;
        if ((rc = margin_event_get(e, MARGIN_EVF_POSITION, &id)) != MARGIN_OK ||
            (rc = margin_event_get(e, MARGIN_EVF_QTY, &q)) != MARGIN_OK ||
            (rc = margin_event_get(e, MARGIN_EVF_FEE, &fee)) != MARGIN_OK ||
            (rc = margin_event_get(e, MARGIN_EVF_PRICE, &price)) != MARGIN_OK ||
            (rc = margin_event_get(e, MARGIN_EVF_FILL, &fill)) != MARGIN_OK)
            return cli_engine_fail(CMD, "reading the liquidation", e, rc);
        if ((uint64_t)id != pos)
            continue;
        if (__builtin_add_overflow(o->liq_qty, q, &o->liq_qty) ||
            __builtin_add_overflow(o->liq_fee, fee, &o->liq_fee))
            return cli_engine_fail(CMD, "adding up the liquidation", e, MARGIN_EOVERFLOW);
        o->fill_price = price;
        o->fill = fill;
    }
    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "reading the events", e, rc);
    if ((rc = margin_position_get(e, pos, MARGIN_POS_QTY, &o->rem_qty)) != MARGIN_OK ||
        (rc = margin_position_get(e, pos, MARGIN_POS_MARGIN, &o->rem_margin)) != MARGIN_OK ||
        (rc = margin_engine_get(e, MARGIN_ENG_INSURANCE_FUND, &fund1)) != MARGIN_OK)
        return cli_engine_fail(CMD, "reading the position after the mark", e, rc);
    if (__builtin_sub_overflow(fund1, fund0, &o->fund_delta))
        return cli_engine_fail(CMD, "the insurance fund's change", e, MARGIN_EOVERFLOW);
    return 0;
}

static int compute(const struct calc_args *a, const struct calc_in *in, struct calc_out *o)
{
    margin_engine *e = NULL;
    uint64_t mkt = 0, acct = 0, pos = 0;
    int64_t qty = in->qty, value = 0, leverage = in->leverage, margin = in->margin, deposit;
    int rc, status;

    status = qty_of(a, in, &qty);
    if (status != 0)
        return status;
    if (in->liq && in->notional_in) {
        qty -= qty % in->step;
        if (qty == 0) {
            cli_error(CMD, "--notional: %s rounds down to a quantity of 0 at --step %s",
                      a->notional_s, a->step_s);
            return CLI_EXIT_USAGE;
        }
    }
    /* Position value, only to size the deposit and to decide the leverage for --margin:
     * Q * E, or inverse K * C / E in the coin. */
    if (in->inverse)
        rc = cli_inverse_value(qty, 8, in->csize, in->entry, 8, 1, &value);
    else
        rc = margin_dec_mul(qty, 8, in->entry, 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &value);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "position value %s: %s",
                  in->inverse ? "contracts * contract size / entry" : "Q * entry",
                  margin_strerror(rc));
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
    status = new_market(e, "CALC", in, in->mark > in->entry ? in->mark : in->entry, &mkt);
    if (status == 0 && in->inverse)
        status = check_min_price(a, in, e, mkt);
    if (status == 0)
        status = position_tiers(a, in, e, mkt);
    if (status == 0 && in->liq)
        status = liq_market(a, in, e, mkt);
    if (status != 0)
        goto out;
    status = CLI_EXIT_FAIL;
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
    status = read_figures(e, pos, in, o);
    if (status == 0 && in->liq)
        status = liquidate(e, mkt, pos, in, o);
out:
    margin_engine_free(e);
    return status;
}

/* How messages name position @p l: "the position" or "--other 'SPEC'". */
static const char *leg_name(char *buf, size_t size, const struct xleg *l)
{
    if (!l->text)
        snprintf(buf, size, "the position");
    else
        snprintf(buf, size, "--other '%s'", l->text);
    return buf;
}

/* A cross open refused: say which argument to change. Returns the exit status. */
static int open_refused(const struct calc_args *a, const margin_engine *e,
                        const struct xleg *l, int rc)
{
    char name[1100];

    leg_name(name, sizeof name, l);
    if (rc == MARGIN_ELEVERAGE) {
        cli_error(CMD, "%s: its leverage is above the maximum allowed (%s)",
                  l->text ? name : "--leverage", margin_errmsg(e));
        return CLI_EXIT_USAGE;
    }
    if (rc == MARGIN_EFUNDS || rc == MARGIN_EMARGIN) {
        cli_error(CMD, "--wallet: %s does not cover %s at its leverage (%s); give a higher "
                  "leverage (--leverage, leverage=) or a larger --wallet", a->wallet_s, name,
                  margin_errmsg(e));
        return CLI_EXIT_USAGE;
    }
    return cli_engine_fail(CMD, name, e, rc);
}

/* Read the events of a mark update: 1 if the account was liquidated (*liq: the position's
 * liquidation price before, when it was among the positions closed), else 0. */
static int liquidated(margin_engine *e, uint64_t pos, int64_t *liq)
{
    int32_t type = MARGIN_EV_NONE;
    int hit = 0;

    while (margin_event_next(e, &type) == MARGIN_OK && type != MARGIN_EV_NONE) {
        int64_t id = 0;

        if (type != MARGIN_EV_LIQUIDATION && type != MARGIN_EV_CROSS_LIQUIDATION)
            continue;
        hit = 1;
        if (type == MARGIN_EV_LIQUIDATION &&
            margin_event_get(e, MARGIN_EVF_POSITION, &id) == MARGIN_OK && (uint64_t)id == pos)
            margin_event_get(e, MARGIN_EVF_LIQ_PRICE, liq);
    }
    return hit;
}

/* Give every market its mark: first the markets where the account's legs gain (or break
 * even) at their mark, then those where they lose, so that no intermediate state is worse
 * than the final one. 0 or an exit status. */
static int apply_marks(margin_engine *e, const struct cross *x)
{
    char b[CLI_NUM_SIZE], what[1200];
    size_t pass, k, i;
    int rc;

    for (pass = 0; pass < 2; pass++) {
        for (k = 0; k < x->nmkts; k++) {
            const struct xmkt *m = &x->mkts[k];
            int64_t sum = 0, liq = 0;
            int loses;

            for (i = 0; i < x->nlegs; i++) {
                int64_t u = 0;
                if (x->legs[i].mkt != k)
                    continue;
                if (margin_position_at(e, x->legs[i].id, MARGIN_AT_UNREALIZED_PNL, m->mark,
                                       &u) != MARGIN_OK ||
                    __builtin_add_overflow(sum, u, &sum))
                    sum = -1; /* unknown: treat as a loss */
            }
            loses = sum < 0;
            if (loses != (int)pass)
                continue;
            if (m->text)
                snprintf(what, sizeof what, "--other '%s': mark", m->text);
            else
                snprintf(what, sizeof what, "--mark");
            rc = margin_mark_update(e, m->id, m->mark);
            if (rc != MARGIN_OK)
                return cli_engine_fail(CMD, what, e, rc);
            if (liquidated(e, x->legs[0].id, &liq)) {
                cli_error(CMD, "%s: at these marks the account is liquidated: its cross "
                          "margin balance is at or below its maintenance margin (the "
                          "position's cross liquidation price was %s)", what,
                          liq ? cli_num(b, liq, 8) : "none");
                return CLI_EXIT_USAGE;
            }
        }
    }
    return 0;
}

static int compute_cross(const struct calc_args *a, const struct calc_in *in, struct cross *x,
                         struct calc_out *o)
{
    margin_engine *e = NULL;
    uint64_t acct = 0;
    size_t k;
    int rc, status;
    char what[1200];

    status = qty_of(a, in, &x->legs[0].qty);
    if (status != 0)
        return status;
    rc = margin_engine_new(&e);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "cannot create an engine: %s", margin_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    for (k = 0; k < x->nmkts; k++) {
        struct xmkt *m = &x->mkts[k];

        status = new_market(e, m->sym, in, m->max_price, &m->id);
        if (status == 0 && k == 0)
            status = position_tiers(a, in, e, m->id);
        if (status == 0 && k > 0) {
            snprintf(what, sizeof what, "--other '%s': mmr/mm-amount", m->text);
            status = one_tier(e, m->id, m->mmr, m->mma, what);
        }
        if (status != 0)
            goto out;
    }
    status = CLI_EXIT_FAIL;
    if ((rc = margin_account_new(e, &acct)) != MARGIN_OK ||
        (rc = margin_account_deposit(e, acct, in->wallet)) != MARGIN_OK) {
        status = cli_engine_fail(CMD, "--wallet", e, rc);
        goto out;
    }
    for (k = 0; k < x->nmkts; k++) {
        rc = margin_account_set_mode(e, acct, x->mkts[k].id, MARGIN_MODE_CROSS);
        if (rc != MARGIN_OK) {
            status = cli_engine_fail(CMD, "setting cross mode", e, rc);
            goto out;
        }
    }
    for (k = 0; k < x->nlegs; k++) {
        struct xleg *l = &x->legs[k];

        rc = margin_position_open(e, acct, x->mkts[l->mkt].id, l->side, l->qty, l->entry,
                                  l->leverage, 0, MARGIN_FLAG_CROSS, &l->id);
        if (rc != MARGIN_OK) {
            status = open_refused(a, e, l, rc);
            goto out;
        }
    }
    status = apply_marks(e, x);
    if (status == 0)
        status = read_figures(e, x->legs[0].id, in, o);
    if (status != 0)
        goto out;
    status = CLI_EXIT_FAIL;
    if ((rc = margin_account_get(e, acct, MARGIN_ACCT_CROSS_MARGIN_BALANCE,
                                 &o->acct_balance)) != MARGIN_OK ||
        (rc = margin_account_get(e, acct, MARGIN_ACCT_CROSS_MAINT_MARGIN, &o->acct_mm)) !=
            MARGIN_OK ||
        (rc = margin_account_get(e, acct, MARGIN_ACCT_MARGIN_RATIO, &o->acct_ratio)) !=
            MARGIN_OK) {
        status = cli_engine_fail(CMD, "reading the account", e, rc);
        goto out;
    }
    for (k = 1; k < x->nlegs; k++) {
        struct xleg *l = &x->legs[k];
        int64_t mark = x->mkts[l->mkt].mark;

        leg_name(what, sizeof what, l);
        if (query(what, e, l->id, MARGIN_AT_UNREALIZED_PNL, mark, &l->upnl, &status) ||
            query(what, e, l->id, MARGIN_AT_MAINT_MARGIN, mark, &l->mm, &status))
            goto out;
    }
    status = CLI_EXIT_OK;
out:
    margin_engine_free(e);
    return status;
}

/* ------------------------------------------------------------------ output */

static void json_ratio(const char *key, int64_t ratio)
{
    char b[CLI_NUM_SIZE];

    if (ratio == INT64_MAX)
        printf(", \"%s\": null", key);
    else
        printf(", \"%s\": \"%s\"", key, cli_num(b, ratio, MARGIN_RATE_SCALE));
}

static const char *fill_name(int64_t fill)
{
    switch (fill) {
    case MARGIN_FILL_MARK:
        return "mark";
    case MARGIN_FILL_LIQ_PRICE:
        return "liquidation_price";
    case MARGIN_FILL_BANKRUPTCY:
        return "bankruptcy";
    case MARGIN_FILL_TRIGGER:
        return "trigger";
    default:
        return NULL;
    }
}

static const char *policy_name(int64_t policy)
{
    return policy == MARGIN_LIQ_POLICY_MIN_REDUCE  ? "min-reduce"
           : policy == MARGIN_LIQ_POLICY_TIER_DOWN ? "tier-down"
           : policy == MARGIN_LIQ_POLICY_SLICES    ? "slices"
                                                   : "full";
}

static void print_json(const struct calc_in *in, const struct calc_out *o, int cross)
{
    char b[CLI_NUM_SIZE];

    printf("{\"side\": \"%s\"", in->side == MARGIN_LONG ? "long" : "short");
    printf(", \"entry_price\": \"%s\"", cli_num(b, in->entry, 8));
    printf(", \"quantity\": \"%s\"", cli_num(b, o->qty, 8));
    if (in->inverse) {
        /* the quantities are contracts, every money field is in the coin */
        printf(", \"contract\": \"inverse\", \"contract_size\": \"%s\", \"settlement\": \"coin\"",
               cli_num(b, in->csize, MARGIN_MONEY_SCALE));
    }
    printf(", \"notional\": \"%s\"", cli_num(b, o->notional, MARGIN_MONEY_SCALE));
    printf(", \"leverage\": \"%s\"", cli_num(b, o->leverage, MARGIN_RATE_SCALE));
    printf(", \"margin\": \"%s\"", cli_num(b, o->margin, MARGIN_MONEY_SCALE));
    printf(", \"initial_margin\": \"%s\"", cli_num(b, o->im, MARGIN_MONEY_SCALE));
    printf(", \"maintenance_rate\": \"%s\"", cli_num(b, o->mmr, MARGIN_RATE_SCALE));
    printf(", \"maintenance_amount\": \"%s\"", cli_num(b, o->mma, MARGIN_MONEY_SCALE));
    printf(", \"maintenance_margin\": \"%s\"", cli_num(b, o->mm, MARGIN_MONEY_SCALE));
    /* 0 (a long) or INT64_MAX (an inverse short whose margin covers its value): none */
    if (o->liq == 0 || o->liq == INT64_MAX)
        printf(", \"liquidation_price\": null");
    else
        printf(", \"liquidation_price\": \"%s\"", cli_num(b, o->liq, 8));
    if (o->bp == INT64_MAX)
        printf(", \"bankruptcy_price\": null");
    else
        printf(", \"bankruptcy_price\": \"%s\"", cli_num(b, o->bp, 8));
    printf(", \"mark_price\": \"%s\"", cli_num(b, in->mark, 8));
    printf(", \"unrealized_pnl\": \"%s\"", cli_num(b, o->upnl, MARGIN_MONEY_SCALE));
    printf(", \"margin_balance\": \"%s\"", cli_num(b, o->balance, MARGIN_MONEY_SCALE));
    json_ratio("margin_ratio", o->ratio);
    printf(", \"roe\": \"%s\"", cli_num(b, o->roe, MARGIN_RATE_SCALE));
    if (cross) {
        printf(", \"account_margin_balance\": \"%s\"",
               cli_num(b, o->acct_balance, MARGIN_MONEY_SCALE));
        printf(", \"account_maintenance_margin\": \"%s\"",
               cli_num(b, o->acct_mm, MARGIN_MONEY_SCALE));
        json_ratio("account_margin_ratio", o->acct_ratio);
    }
    if (in->liq) {
        const char *fill = o->liq_qty ? fill_name(o->fill) : NULL;

        printf(", \"liquidation_policy\": \"%s\"", policy_name(in->liq_policy));
        printf(", \"liquidated_qty\": \"%s\"", cli_num(b, o->liq_qty, 8));
        printf(", \"liquidation_fee\": \"%s\"", cli_num(b, o->liq_fee, MARGIN_MONEY_SCALE));
        if (o->liq_qty)
            printf(", \"fill_price\": \"%s\"", cli_num(b, o->fill_price, 8));
        else
            printf(", \"fill_price\": null");
        if (fill)
            printf(", \"fill\": \"%s\"", fill);
        else
            printf(", \"fill\": null");
        printf(", \"remaining_qty\": \"%s\"", cli_num(b, o->rem_qty, 8));
        printf(", \"remaining_margin\": \"%s\"", cli_num(b, o->rem_margin, MARGIN_MONEY_SCALE));
        printf(", \"insurance_fund_delta\": \"%s\"",
               cli_num(b, o->fund_delta, MARGIN_MONEY_SCALE));
    }
    printf("}\n");
}

static void row(const char *label, const char *value, const char *note)
{
    if (note && *note)
        printf("  %-20s %-22s %s\n", label, value, note);
    else
        printf("  %s%*s%s\n", label, (int)(21 - strlen(label)), "", value);
}

/* The margin ratio row: a percentage, or infinite when the balance is <= 0. */
static void ratio_row(const char *label, int64_t ratio)
{
    char b[CLI_NUM_SIZE], v[96];

    if (ratio == INT64_MAX) {
        row(label, "infinite", "(margin balance <= 0: liquidated)");
    } else {
        snprintf(v, sizeof v, "%s %%", cli_pct(b, ratio));
        row(label, v, ratio >= ONE ? "(at or past liquidation: 100 %)" : NULL);
    }
}

/* The rows at the mark that both modes print first. */
static void print_at_mark(const struct calc_in *in, const struct calc_out *o, const char *more)
{
    char b[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], v[96], note[128];

    printf("At mark %s%s:\n", cli_num(b, in->mark, 8), more);
    snprintf(v, sizeof v, "%s %%", cli_pct(b, o->mmr));
    snprintf(note, sizeof note, "(maintenance amount %s)",
             cli_num(b2, o->mma, MARGIN_MONEY_SCALE));
    row("maintenance rate", v, note);
}

/* What a liquidation at the mark did (--liquidation). */
static void print_liquidation(const struct calc_in *in, const struct calc_out *o)
{
    char b[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], note[128];

    printf("Liquidation at mark %s (policy %s, clearance fee %s %%):\n", cli_num(b, in->mark, 8),
           policy_name(in->liq_policy), cli_pct(b2, in->liq_fee));
    if (o->liq_qty == 0) {
        row("liquidated quantity", "0", "(not liquidatable at this mark)");
        return;
    }
    row("liquidated quantity", cli_num(b, o->liq_qty, 8),
        o->rem_qty ? "(in part: the position stays open)" : "(the whole position)");
    snprintf(note, sizeof note, "(%s)",
             o->fill == MARGIN_FILL_LIQ_PRICE ? "the liquidation price"
             : o->fill == MARGIN_FILL_BANKRUPTCY ? "the bankruptcy price: the fund takes over"
                                                 : "the mark");
    row("fill price", cli_num(b, o->fill_price, 8), note);
    row("clearance fee", cli_num(b, o->liq_fee, MARGIN_MONEY_SCALE), "(to the insurance fund)");
    row("remaining quantity", cli_num(b, o->rem_qty, 8), NULL);
    row("remaining margin", cli_num(b, o->rem_margin, MARGIN_MONEY_SCALE), NULL);
    row("insurance fund", cli_num(b, o->fund_delta, MARGIN_MONEY_SCALE), "(change)");
}

static void print_table(const struct calc_in *in, const struct calc_out *o)
{
    char b[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], v[96], note[128];

    if (in->inverse)
        printf("Isolated %s, inverse: %s contracts of %s at %s, position value %s\n"
               "  (coin-margined: every amount below is in the coin)\n",
               in->side == MARGIN_LONG ? "long" : "short", cli_num(b, o->qty, 8),
               cli_num(b3, in->csize, MARGIN_MONEY_SCALE), cli_num(b2, in->entry, 8),
               cli_num(v, o->notional, MARGIN_MONEY_SCALE));
    else
        printf("Isolated %s: %s at %s, position value %s\n",
               in->side == MARGIN_LONG ? "long" : "short", cli_num(b, o->qty, 8),
               cli_num(b2, in->entry, 8), cli_num(v, o->notional, MARGIN_MONEY_SCALE));
    snprintf(v, sizeof v, "%sx", cli_num(b, o->leverage, MARGIN_RATE_SCALE));
    row("leverage", v, NULL);
    snprintf(note, sizeof note, "(initial margin %s)", cli_num(b, o->im, MARGIN_MONEY_SCALE));
    row("margin", cli_num(b2, o->margin, MARGIN_MONEY_SCALE), note);
    if (o->liq == 0)
        row("liquidation price", "none", "(this long cannot be liquidated)");
    else if (o->liq == INT64_MAX)
        row("liquidation price", "none",
            "(this short cannot be liquidated: its margin covers its value at entry)");
    else
        row("liquidation price", cli_num(b, o->liq, 8), NULL);
    if (o->bp == INT64_MAX)
        /* inverse: a short whose margin covers N/E loses at most N/E as the price rises */
        row("bankruptcy price", "none",
            "(never: the margin covers the value at entry, so this short cannot go "
            "bankrupt)");
    else if (o->bp == 0 && in->side == MARGIN_LONG)
        /* 0 means: the margin covers a fall of the price all the way to 0. */
        row("bankruptcy price", "0",
            "(never: the margin covers a fall to 0, so this long cannot go bankrupt)");
    else
        row("bankruptcy price", cli_num(b, o->bp, 8), "(where the margin is gone)");
    print_at_mark(in, o, "");
    row("maintenance margin", cli_num(b, o->mm, MARGIN_MONEY_SCALE), NULL);
    row("unrealized PnL", cli_num(b, o->upnl, MARGIN_MONEY_SCALE), NULL);
    row("margin balance", cli_num(b, o->balance, MARGIN_MONEY_SCALE), NULL);
    ratio_row("margin ratio", o->ratio);
    snprintf(v, sizeof v, "%s %%", cli_pct(b, o->roe));
    row("ROE", v, NULL);
    if (in->liq)
        print_liquidation(in, o);
}

static void print_table_cross(const struct calc_in *in, const struct calc_out *o,
                              const struct cross *x)
{
    char b[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE], v[96];
    size_t k;

    printf("Cross %s: %s at %s in %s, position value %s\n",
           in->side == MARGIN_LONG ? "long" : "short", cli_num(b, o->qty, 8),
           cli_num(b2, in->entry, 8), x->mkts[0].sym,
           cli_num(v, o->notional, MARGIN_MONEY_SCALE));
    row("cross wallet", cli_num(b, in->wallet, MARGIN_MONEY_SCALE),
        "(backs every cross position of the account)");
    snprintf(v, sizeof v, "%sx", cli_num(b, o->leverage, MARGIN_RATE_SCALE));
    row("leverage", v, NULL);
    row("initial margin", cli_num(b, o->im, MARGIN_MONEY_SCALE),
        "(part of the wallet, not taken out of it)");
    if (o->liq == 0)
        row("liquidation price", "none", "(no price of this market liquidates the account)");
    else
        row("liquidation price", cli_num(b, o->liq, 8),
            "(the account's, the other markets at their marks)");
    if (o->bp == 0 && in->side == MARGIN_LONG)
        row("bankruptcy price", "0", "(never: the account's balance covers a fall to 0)");
    else
        row("bankruptcy price", cli_num(b, o->bp, 8), "(where the account's balance is gone)");
    print_at_mark(in, o, x->nmkts > 1 ? " (the other markets at their marks)" : "");
    row("maintenance margin", cli_num(b, o->mm, MARGIN_MONEY_SCALE), "(this position's)");
    row("unrealized PnL", cli_num(b, o->upnl, MARGIN_MONEY_SCALE), "(this position's)");
    snprintf(v, sizeof v, "%s %%", cli_pct(b, o->roe));
    row("ROE", v, NULL);
    printf("The account (every cross position):\n");
    row("cross margin balance", cli_num(b, o->acct_balance, MARGIN_MONEY_SCALE),
        "(wallet + unrealized PnL)");
    row("maintenance margin", cli_num(b, o->acct_mm, MARGIN_MONEY_SCALE), NULL);
    ratio_row("margin ratio", o->acct_ratio);
    if (x->nlegs > 1)
        printf("Its other cross positions:\n");
    for (k = 1; k < x->nlegs; k++) {
        const struct xleg *l = &x->legs[k];
        printf("  #%llu %s %s at %s in %s, mark %s: unrealized PnL %s, maintenance margin %s\n",
               (unsigned long long)l->id, l->side == MARGIN_LONG ? "long" : "short",
               cli_num(b, l->qty, 8), cli_num(b2, l->entry, 8), x->mkts[l->mkt].sym,
               cli_num(b3, x->mkts[l->mkt].mark, 8), cli_num(b4, l->upnl, MARGIN_MONEY_SCALE),
               cli_num(v, l->mm, MARGIN_MONEY_SCALE));
    }
}

int cli_cmd_calc(int argc, char **argv)
{
    struct calc_args a;
    struct calc_in in;
    struct calc_out o;
    struct cross x;
    const char **others;
    int i, status;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage_calc(stdout);
            return CLI_EXIT_OK;
        }
    }
    memset(&x, 0, sizeof x);
    others = calloc((size_t)argc + 1, sizeof *others);
    x.mkts = calloc((size_t)argc + 1, sizeof *x.mkts);
    x.legs = calloc((size_t)argc + 1, sizeof *x.legs);
    if (!others || !x.mkts || !x.legs) {
        cli_error(CMD, "out of memory");
        status = CLI_EXIT_FAIL;
        goto out;
    }
    status = CLI_EXIT_USAGE;
    if (parse_args(argc, argv, others, &a) != 0 || check_args(&a, &in) != 0 ||
        (a.cross && check_cross(&a, &in, &x) != 0))
        goto out;
    memset(&o, 0, sizeof o);
    status = a.cross ? compute_cross(&a, &in, &x, &o) : compute(&a, &in, &o);
    if (status != CLI_EXIT_OK)
        goto out;
    if (a.json)
        print_json(&in, &o, a.cross);
    else if (a.cross)
        print_table_cross(&in, &o, &x);
    else
        print_table(&in, &o);
    status = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
    free(others);
    free(x.mkts);
    free(x.legs);
    return status;
}
