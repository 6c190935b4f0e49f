/* `margin replay`: drive isolated and cross positions with a series of mark prices and print
 * what the engine does (margin calls, liquidations, stops, funding), as a readable log or
 * JSON Lines.
 *
 * Each position gets its own market (same marks, its own maintenance tiers), all in one
 * account, so that positions can have different maintenance rates; positions given the
 * same market=SYMBOL share one market instead. Every mark is applied to the markets in
 * order of their first position, so events come out ordered by position id within one
 * mark. The engine time (MARGIN_ENG_TIME) is the 1-based row number; each event's time
 * text is looked up in the table of rows. The account is funded with what the positions
 * need plus a free balance (--wallet, 1000 USDT by default) that stays free of them, to
 * show what isolation (or cross margin) does with it.
 *
 * Liquidation options (issue 13) set every market's policy, clearance fee, liquidation fill
 * and stop fill; --path updown|adverse applies each OHLC row with margin_mark_candle(), one
 * call per market, instead of four mark updates (adverse: each isolated position meets its
 * adverse extreme first, a long the low, a short the high; cross positions the bar's
 * up-down order).
 *
 * `--demo contrast` runs the same two longs twice, isolated and cross, and prints the two
 * runs side by side.
 *
 * --insurance AMOUNT (issue 14) puts every market of the replay in one insurance pool (the
 * first market's), seeds it with AMOUNT and switches auto-deleveraging on for it: a
 * liquidation whose deficit would take the pool below 0 closes positions of the other side
 * of its market at its bankruptcy price. `--demo adl` shows it.
 *
 * --inverse and --contract-size (issue 15) make every market of the replay an inverse
 * (coin-margined) one: sizes in contracts (contracts=K), money in the coin; the
 * liquidation policies, both ADL rankings and cross mode apply.
 *
 * --svg FILE and --html FILE (issue 16) also draw the replay (tools/chart.c): the rows, a
 * series per position sampled from the library after every row (chart_sample_all), and
 * every event as printed, with its --json seq; the page adds the text summary. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "cli.h"

#define CMD "replay"
#define ONE 100000000LL /* 1 at scale 8 */
#define REPLAY_MAX_LEVERAGE (1000 * ONE)
#define REPLAY_FREE (1000 * ONE) /* default --wallet: free balance beside the positions */
#define MAX_LEVELS 8

void cli_usage_replay(FILE *f)
{
    fputs("usage: margin replay [--prices FILE] [--position SPEC]... [--mmr RATE] [--tiers FILE]\n"
          "                     [--margin-call LEVEL]... [--funding RATE --funding-every ROWS]\n"
          "                     [--fee RATE] [--wallet AMOUNT] [--liquidation POLICY]\n"
          "                     [--liq-fee R] [--liq-fill FILL] [--fill mark|trigger]\n"
          "                     [--path updown|adverse] [--insurance AMOUNT]\n"
          "                     [--adl-ranking binance|bitmex] [--json] [--svg FILE]\n"
          "                     [--html FILE] [--inverse [--contract-size C]]\n"
          "       margin replay --demo contrast|adl [--json] [--svg FILE] [--html FILE]\n"
          "\n"
          "Replay mark prices over isolated and cross positions and print the engine's events.\n"
          "With no --prices and no --position: the built-in demo (the seed example).\n"
          "\n"
          "  --prices FILE        CSV with a header row; the first column is the time (text).\n"
          "                       With open,high,low,close columns each row gives the marks\n"
          "                       open, low, high, close (close >= open) or open, high, low,\n"
          "                       close (close < open); otherwise the column named mark, price\n"
          "                       or close gives one mark per row. Default: the built-in path.\n"
          "  --position SPEC      repeatable; comma-separated key=value: side=long|short,\n"
          "                       leverage=L, qty=Q or notional=V (Q = V / entry rounded down\n"
          "                       to 8 decimals; with --inverse contracts=K or notional=V),\n"
          "                       entry=PRICE (default: the first mark),\n"
          "                       margin=M (default Q * entry / L), mmr=RATE, stop=PRICE,\n"
          "                       take=PRICE, mode=isolated|cross (default isolated),\n"
          "                       market=SYMBOL. Positions open at the first mark with ids\n"
          "                       1, 2... Default: the demo's long and short.\n"
          "                       Each position has a market of its own, unless positions\n"
          "                       name the same market=SYMBOL: they share it (its marks, its\n"
          "                       mode and its mmr). mode=cross puts the account in cross\n"
          "                       mode in the position's market: the account's wallet backs\n"
          "                       every cross position and the account is liquidated as a\n"
          "                       whole; a cross position takes leverage=L, not margin=M\n"
          "  --mmr RATE           maintenance margin rate (default 0.004)\n"
          "  --tiers FILE         maintenance tiers, as in margin calc\n"
          "  --margin-call LEVEL  repeatable margin-call level, 0 < LEVEL < 1 (default 0.8)\n"
          "  --funding RATE       funding rate applied at the close mark of every ROWS-th row\n"
          "  --funding-every ROWS (after that row's marks); longs pay when RATE > 0\n"
          "  --fee RATE           taker and maker fee rate (default 0)\n"
          "  --wallet AMOUNT      the account's free balance once the positions are open\n"
          "                       (default 1000): the account holds the isolated margins and\n"
          "                       fees plus AMOUNT. The initial margins of cross positions\n"
          "                       stay in the wallet, so the wallet is AMOUNT plus them, and\n"
          "                       AMOUNT is what the account has available before marks move\n"
          "  --liquidation POLICY how much of a liquidatable isolated position is liquidated:\n"
          "                       full (default), min-reduce (Binance: the smallest quantity\n"
          "                       that restores margin balance > maintenance after the loss\n"
          "                       and the clearance fee), tier-down (Bybit, BitMEX: down to\n"
          "                       the cap of the highest lower tier the equity covers) or\n"
          "                       slices (Hyperliquid: 20 % of a position above 100,000 of\n"
          "                       notional per trigger, in full below 2/3 of maintenance or\n"
          "                       within 30000 units of engine time of the account's last\n"
          "                       slice; the engine time is the row number, so in practice\n"
          "                       one slice per account per run). A partial step is a\n"
          "                       partial liquidation event; the position stays open, its\n"
          "                       margin less the part's loss and fee\n"
          "  --liq-fee R          clearance fee rate, 0 to 1 (default 0), on the liquidated\n"
          "                       quantity at the fill price, to the insurance fund; never\n"
          "                       more than the holder has left\n"
          "  --liq-fill FILL      the price a liquidation settles at: mark (default), liq-price\n"
          "                       (the liquidation price) or bankruptcy (the insurance fund\n"
          "                       takes the position over: the holder loses exactly its margin)\n"
          "  --fill mark|trigger  the price stop-losses and take-profits fill at: the mark\n"
          "                       that reached them (default) or their own price when the mark\n"
          "                       reaches it without a gap (the marks are a continuous move\n"
          "                       from one to the next; a row's open is a gap with --path)\n"
          "  --path updown        apply each open,high,low,close row as one candle\n"
          "                       (margin_mark_candle: open, low, high, close for a bar that\n"
          "                       closes up, else open, high, low, close; the open a gap from\n"
          "                       the last close), every trigger firing at the first point\n"
          "                       that reaches it; events name the point (path_point 1 to 4)\n"
          "  --path adverse       the same, but each isolated position meets its adverse\n"
          "                       extreme first, whatever the bar's direction: a long walks\n"
          "                       open, low, high, close, a short open, high, low, close\n"
          "                       (path_point 2 its adverse extreme, 3 its favourable one);\n"
          "                       cross positions walk the up-down order\n"
          "  --insurance AMOUNT   every market of the replay uses one insurance pool (the\n"
          "                       first market's), seeded with AMOUNT (>= 0), and\n"
          "                       auto-deleveraging is on for it: when an isolated\n"
          "                       position's liquidation leaves a deficit the pool cannot\n"
          "                       pay without going below 0, positions of the other side\n"
          "                       of the same market (market=SYMBOL) are closed at the\n"
          "                       bankrupt position's bankruptcy price, without a fee,\n"
          "                       highest ADL score first, the last one in part, until\n"
          "                       their PnL given up covers the rest (adl events). Every\n"
          "                       position belongs to the one account of the replay\n"
          "  --adl-ranking RANK   with --insurance: binance (default) or bitmex, the score\n"
          "                       that orders the positions to deleverage\n"
          "  --inverse            every market of the replay is inverse (coin-margined, as\n"
          "                       BitMEX's XBTUSD or Binance COIN-M): a --position gives\n"
          "                       its size as contracts=K (qty= is refused), notional=V is\n"
          "                       its value in the coin at the entry (K = V * entry / C,\n"
          "                       rounded down), and every money amount is in the coin:\n"
          "                       margin=, --wallet, --insurance, fees, PnL, funding.\n"
          "                       Every --liquidation policy and both --adl-ranking\n"
          "                       scores apply (tier floors and the slices threshold are\n"
          "                       in the coin), and mode=cross (the cross wallet in the\n"
          "                       coin). Needs --position (the built-in positions are\n"
          "                       linear)\n"
          "  --contract-size C    with --inverse: quote units (USD) per contract (default 1;\n"
          "                       Binance COIN-M's BTCUSD: 100)\n"
          "  --demo contrast      the same two longs run twice, with isolated then with cross\n"
          "                       margin, printed side by side (takes only --json, --svg\n"
          "                       and --html);\n"
          "                       --demo adl: a gap bankrupts a short of 20 at 600, a pool of\n"
          "                       400 pays what it can and the two longs with the highest\n"
          "                       BitMEX scores are deleveraged (takes only --json, --svg\n"
          "                       and --html);\n"
          "                       --demo seed is the demo run with no arguments\n"
          "  --json               JSON Lines: one object per event, then a summary line;\n"
          "                       every decimal (price, money, rate) is a JSON string, exact;\n"
          "                       ids, counts and sequence numbers are JSON numbers. Every\n"
          "                       event has \"mode\" (isolated or cross); a cross account's\n"
          "                       liquidation ends with a cross_liquidation event (position\n"
          "                       0: margin_ratio, null when the balance is <= 0;\n"
          "                       positions_closed; deficit, what the insurance fund covered;\n"
          "                       realized_pnl, that deficit given back; wallet_balance after).\n"
          "                       The summary gives the account's free_balance (what it could\n"
          "                       withdraw) and the insurance_fund. With any of the options\n"
          "                       --liquidation to --path, a liquidation (also fee), stop_loss\n"
          "                       or take_profit has fill_price and fill (mark, trigger,\n"
          "                       liquidation_price or bankruptcy); a\n"
          "                       partial_liquidation has quantity (liquidated),\n"
          "                       remaining_qty, fee, realized_pnl, margin (after),\n"
          "                       liquidation_price (after) and insurance_fund_delta; with\n"
          "                       --path every event has path_point. With --demo contrast each\n"
          "                       line also has \"run\" (isolated or cross). With\n"
          "                       --insurance: insurance_deposit (position 0: amount) when\n"
          "                       AMOUNT > 0; adl events (counterparty, the bankrupt\n"
          "                       position's id; quantity, closed; remaining_qty; price, the\n"
          "                       bankruptcy price it closed at; realized_pnl; margin, after;\n"
          "                       insurance_fund_delta, paid into the pool); a liquidation\n"
          "                       whose deficit ADL covered in part has adl_covered; the\n"
          "                       summary adds insurance_pool and deleveraged (positions\n"
          "                       closed in full by ADL). With --inverse every line has\n"
          "                       \"contract\": \"inverse\" (its quantities are contracts,\n"
          "                       its money in the coin), open events have contract_size,\n"
          "                       and the summary contract_size and \"settlement\": \"coin\"\n"
          "  --svg FILE           also write a chart of the replay to FILE (plain SVG): the\n"
          "                       mark path (with open,high,low,close rows, each row's\n"
          "                       high-low range), each position's entry, liquidation,\n"
          "                       bankruptcy, stop-loss and take-profit prices as the\n"
          "                       library computes them after every row (they move with\n"
          "                       funding and margin changes), a marker at every event\n"
          "                       (class \"event TYPE\", data-seq its --json seq; the x of\n"
          "                       its row, the y of its mark) and, below, each position's\n"
          "                       margin balance and margin ratio. The same input gives\n"
          "                       the same bytes; what the replay prints is unchanged\n"
          "  --html FILE          also write one self-contained page to FILE (no script,\n"
          "                       no network, no other file): the chart, the table of\n"
          "                       events and the summary\n"
          "\n"
          "Exit status: 0 success, 1 computation error, 2 bad argument or bad input file\n"
          "(a malformed line of FILE is reported with its line number).\n",
          f);
}

/* ------------------------------------------------------------------ the built-in paths */

struct path_row {
    const char *time, *mark;
};

/* A fictional BTC/USDT path, one mark every 5 minutes: a 6 % fall and a late rebound. */
static const struct path_row demo_path[] = {
    {"09:00", "20000"}, {"09:05", "19950"}, {"09:10", "19880"}, {"09:15", "19810"},
    {"09:20", "19700"}, {"09:25", "19560"}, {"09:30", "19420"}, {"09:35", "19300"},
    {"09:40", "19180"}, {"09:45", "19090"}, {"09:50", "19060"}, {"09:55", "18950"},
    {"10:00", "18800"}, {"10:05", "18920"}, {"10:10", "19150"}, {"10:15", "19400"},
};

/* The seed's long (100 USDT at 20x on 2,000 USDT) and an isolated short beside it. */
static const char *const demo_positions[] = {
    "side=long,notional=2000,leverage=20",
    "side=short,notional=2000,leverage=10",
};

/* --demo contrast: BTCUSDT at price scale 2 and quantity scale 3, one tier 0.004, no fees.
 * Two longs of 0.1 at 20000, A at 20x and B at 5x, 100 USDT left free; the path falls
 * through A's isolated liquidation price, then gaps past the cross book's. */
#define CONTRAST_STEPS 8
#define CONTRAST_WALLET (100 * ONE)
#define CONTRAST_PRICE_SCALE 2
#define CONTRAST_QTY_SCALE 3
#define CONTRAST_SYMBOL "BTCUSDT"
static const struct path_row contrast_path[CONTRAST_STEPS] = {
    {"10:00", "20000"}, {"10:05", "19500"}, {"10:10", "19050"}, {"10:15", "18500"},
    {"10:20", "18000"}, {"10:25", "17500"}, {"10:30", "16800"}, {"10:35", "17500"},
};
static const char *const contrast_positions[2][2] = {
    {"side=long,qty=0.1,leverage=20,market=" CONTRAST_SYMBOL,
     "side=long,qty=0.1,leverage=5,market=" CONTRAST_SYMBOL},
    {"side=long,qty=0.1,leverage=20,market=" CONTRAST_SYMBOL ",mode=cross",
     "side=long,qty=0.1,leverage=5,market=" CONTRAST_SYMBOL ",mode=cross"},
};

/* --demo adl: BTCUSDT at scales 8/8, one tier 0.005, no fees, BitMEX ranking, a pool of
 * 400. #1 is a short of 20 at 600 with margin 1,000 (bankruptcy price 650, liquidation
 * price 650/1.005 = 646.77); #2 to #7 are longs entered at 500 at 10x, 5x, 4x, 2x, 1.25x
 * and 1x (BitMEX's published example). The mark climbs to 645, then gaps to 700. */
#define ADL_DEMO_SYMBOL "BTCUSDT"
#define ADL_DEMO_POOL (400 * ONE)
#define ADL_DEMO_MMR 500000 /* 0.005 */
static const struct path_row adl_path[] = {
    {"09:00", "600"}, {"09:05", "615"}, {"09:10", "630"},
    {"09:15", "645"}, {"09:20", "700"}, {"09:25", "690"},
};
static const char *const adl_positions[] = {
    "side=short,qty=20,margin=1000,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=10,entry=500,leverage=10,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=20,entry=500,leverage=5,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=30,entry=500,leverage=4,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=10,entry=500,leverage=2,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=10,entry=500,leverage=1.25,market=" ADL_DEMO_SYMBOL,
    "side=long,qty=20,entry=500,leverage=1,market=" ADL_DEMO_SYMBOL,
};

/* ------------------------------------------------------------------ price rows */

struct prow {
    char *time;
    int64_t mark[4];
    int n;
};

struct series {
    struct prow *rows;
    size_t n, cap;
    int timew; /* widest time text, for the readable log */
};

static void series_free(struct series *s)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        free(s->rows[i].time);
    free(s->rows);
    s->rows = NULL;
    s->n = s->cap = 0;
}

static int series_add(struct series *s, const char *time, const int64_t *marks, int n)
{
    struct prow *r;
    size_t len = strlen(time);
    int i;

    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct prow *nr = realloc(s->rows, ncap * sizeof *nr);
        if (!nr)
            return -1;
        s->rows = nr;
        s->cap = ncap;
    }
    r = &s->rows[s->n];
    r->time = malloc(len + 1);
    if (!r->time)
        return -1;
    memcpy(r->time, time, len + 1);
    for (i = 0; i < n; i++)
        r->mark[i] = marks[i];
    r->n = n;
    s->n++;
    if ((int)len > s->timew)
        s->timew = (int)len;
    return 0;
}

static int name_is(const char *field, const char *name)
{
    size_t i;
    for (i = 0; field[i] && name[i]; i++) {
        char c = field[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return 0;
    }
    return field[i] == '\0' && name[i] == '\0';
}

static int find_col(char **fields, size_t nf, const char *name)
{
    size_t i;
    for (i = 0; i < nf; i++)
        if (name_is(fields[i], name))
            return (int)i;
    return -1;
}

#define MAX_FIELDS 64

/* Read a prices file. Returns 0, or an exit status after printing the error. */
static int read_prices(const char *path, struct series *s)
{
    FILE *f;
    struct cli_lines r;
    char *line, *fields[MAX_FIELDS];
    size_t nf;
    int rc, status = 0, ohlc = 0, col[4] = {-1, -1, -1, -1}, need = 0, k;
    static const char *const ohlc_names[4] = {"open", "high", "low", "close"};
    char what[600];

    f = fopen(path, "r");
    if (!f) {
        cli_error(CMD, "--prices %s: cannot open: %s", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    cli_lines_init(&r, f);
    rc = cli_lines_next(&r, &line);
    if (rc <= 0) {
        cli_error(CMD, "--prices %s: %s", path, rc == 0 ? "empty file" : "read error");
        status = rc == 0 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        goto out;
    }
    nf = cli_split(line, fields, MAX_FIELDS);
    if (nf > MAX_FIELDS)
        nf = MAX_FIELDS;
    for (k = 0; k < 4; k++)
        col[k] = find_col(fields, nf, ohlc_names[k]);
    if (col[0] >= 0 && col[1] >= 0 && col[2] >= 0 && col[3] >= 0) {
        ohlc = 1;
    } else {
        col[0] = find_col(fields, nf, "mark");
        if (col[0] < 0)
            col[0] = find_col(fields, nf, "price");
        if (col[0] < 0)
            col[0] = find_col(fields, nf, "close");
        if (col[0] < 0) {
            cli_error(CMD,
                      "--prices %s: line 1: the header has neither open,high,low,close nor a "
                      "mark, price or close column",
                      path);
            status = CLI_EXIT_USAGE;
            goto out;
        }
    }
    for (k = 0; k < (ohlc ? 4 : 1); k++)
        if (col[k] + 1 > need)
            need = col[k] + 1;

    while ((rc = cli_lines_next(&r, &line)) == 1) {
        int64_t v[4], marks[4];
        int n = 0;

        if (line[strspn(line, " \t")] == '\0')
            continue; /* blank line */
        nf = cli_split(line, fields, MAX_FIELDS);
        if (nf < (size_t)need) {
            cli_error(CMD, "--prices %s: line %ld: expected at least %d fields, found %zu",
                      path, r.lineno, need, nf);
            status = CLI_EXIT_USAGE;
            goto out;
        }
        for (k = 0; k < (ohlc ? 4 : 1); k++) {
            snprintf(what, sizeof what, "--prices %s: line %ld: %s", path, r.lineno,
                     ohlc ? ohlc_names[k] : "mark");
            if (cli_parse_pos(CMD, what, fields[col[k]], 8, &v[k]) != 0) {
                status = CLI_EXIT_USAGE;
                goto out;
            }
        }
        if (ohlc && (v[1] < v[0] || v[1] < v[3] || v[2] > v[0] || v[2] > v[3])) {
            cli_error(CMD, "--prices %s: line %ld: the high must be >= open and close, the "
                      "low <= them", path, r.lineno);
            status = CLI_EXIT_USAGE;
            goto out;
        }
        if (ohlc) {
            /* open, then low then high when close >= open (else high then low), close */
            marks[n++] = v[0];
            if (v[3] >= v[0]) {
                marks[n++] = v[2];
                marks[n++] = v[1];
            } else {
                marks[n++] = v[1];
                marks[n++] = v[2];
            }
            marks[n++] = v[3];
        } else {
            marks[n++] = v[0];
        }
        if (series_add(s, fields[0], marks, n) != 0) {
            cli_error(CMD, "--prices %s: out of memory", path);
            status = CLI_EXIT_FAIL;
            goto out;
        }
    }
    if (rc < 0) {
        cli_error(CMD, "--prices %s: read error", path);
        status = CLI_EXIT_FAIL;
    } else if (s->n == 0) {
        cli_error(CMD, "--prices %s: no price rows after the header", path);
        status = CLI_EXIT_USAGE;
    }
out:
    cli_lines_free(&r);
    fclose(f);
    return status;
}

/* Load a built-in path at price scale @p scale. */
static int path_prices(struct series *s, const struct path_row *path, size_t n, int32_t scale)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int64_t m = 0;
        if (margin_dec_parse(path[i].mark, scale, &m) != MARGIN_OK ||
            series_add(s, path[i].time, &m, 1) != 0) {
            cli_error(CMD, "built-in price path: cannot load row %zu", i + 1);
            return CLI_EXIT_FAIL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ positions */

struct spec {
    const char *text;
    int32_t side, mode;
    int64_t leverage, qty, notional, entry, margin, mmr, stop, take;
    char market[CLI_SYM_SIZE]; /* market=SYMBOL, or "" */
};

struct rpos {
    struct spec sp;
    size_t mkt; /* index into replay.mkts */
    uint64_t market, id;
    int64_t qty, entry;
    int64_t open_margin; /* margin when opened */
    int64_t open_liq;    /* liquidation price when opened */
    int end_type;        /* 0 open, else the MARGIN_EV_* that ended it */
    int64_t end_time, end_mark, end_pnl, end_liq, end_bp, end_ins;
    int64_t end_step; /* index of the mark that ended it */
    long calls;       /* margin-call events seen */
    int64_t end_adl, end_pool; /* its liquidation: ADL covered, the pool just before */
    int64_t adl_qty, adl_pnl, adl_paid, adl_price; /* deleveraged: totals, the last price */
    uint64_t adl_against;                          /* the last counterparty */
};

/* Parse --position @p text; prices at scale @p ps, quantities at @p qs; with @p inverse
 * the size is contracts=K (qty= is refused), else qty=Q (contracts= is refused). */
static int parse_spec(const char *text, int32_t ps, int32_t qs, int inverse, struct spec *sp)
{
    const char *size_key = inverse ? "contracts" : "qty";
    char buf[1024], what[1200];
    char *keys[16], *vals[16];
    int n, i;

    memset(sp, 0, sizeof *sp);
    sp->text = text;
    n = cli_split_kv(CMD, "--position", text, buf, sizeof buf, keys, vals, 16);
    if (n < 0)
        return -1;
    for (i = 0; i < n; i++) {
        const char *key = keys[i], *val = vals[i];
        int rc = 0;

        snprintf(what, sizeof what, "--position '%s': %s", text, key);
        if (strcmp(key, "side") == 0) {
            rc = cli_parse_side(CMD, what, val, &sp->side);
        } else if (strcmp(key, "leverage") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_RATE_SCALE, &sp->leverage);
            if (rc == 0 && (sp->leverage < ONE || sp->leverage > REPLAY_MAX_LEVERAGE)) {
                cli_error(CMD, "%s: '%s' must be between 1 and 1000", what, val);
                rc = -1;
            }
        } else if (strcmp(key, "qty") == 0 || strcmp(key, "contracts") == 0) {
            if (strcmp(key, size_key) != 0) {
                cli_error(CMD, "--position '%s': %s", text,
                          inverse ? "qty=: not with --inverse: an inverse position's size is "
                                    "in contracts (contracts=K)"
                                  : "contracts=: only with --inverse (a linear position's "
                                    "size is qty=Q, in base units)");
                return -1;
            }
            rc = cli_parse_pos(CMD, what, val, qs, &sp->qty);
        } else if (strcmp(key, "notional") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_MONEY_SCALE, &sp->notional);
        } else if (strcmp(key, "entry") == 0) {
            rc = cli_parse_pos(CMD, what, val, ps, &sp->entry);
        } else if (strcmp(key, "margin") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_MONEY_SCALE, &sp->margin);
        } else if (strcmp(key, "mmr") == 0) {
            rc = cli_parse_rate(CMD, what, val, 1, &sp->mmr);
        } else if (strcmp(key, "stop") == 0) {
            rc = cli_parse_pos(CMD, what, val, ps, &sp->stop);
        } else if (strcmp(key, "take") == 0) {
            rc = cli_parse_pos(CMD, what, val, ps, &sp->take);
        } else if (strcmp(key, "mode") == 0) {
            if (strcmp(val, "isolated") == 0) {
                sp->mode = MARGIN_MODE_ISOLATED;
            } else if (strcmp(val, "cross") == 0) {
                sp->mode = MARGIN_MODE_CROSS;
            } else {
                cli_error(CMD, "%s: '%s' is not isolated or cross", what, val);
                rc = -1;
            }
        } else if (strcmp(key, "market") == 0) {
            rc = cli_copy_symbol(CMD, what, val, sp->market);
        } else {
            cli_error(CMD, "--position '%s': unknown key '%s'", text, key);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    if (!sp->side) {
        cli_error(CMD, "--position '%s': side=long|short is required", text);
        return -1;
    }
    if (!sp->qty && !sp->notional) {
        cli_error(CMD, "--position '%s': %s or notional=V is required", text,
                  inverse ? "contracts=K" : "qty=Q");
        return -1;
    }
    if (sp->qty && sp->notional) {
        cli_error(CMD, "--position '%s': give %s or notional, not both", text, size_key);
        return -1;
    }
    if (sp->mode == MARGIN_MODE_CROSS && sp->margin) {
        cli_error(CMD, "--position '%s': mode=cross takes leverage=L, not margin=M (a cross "
                  "position has no margin of its own: the account's wallet backs it)", text);
        return -1;
    }
    if (!sp->leverage && !sp->margin) {
        cli_error(CMD, "--position '%s': leverage=L or margin=M is required", text);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ arguments */

struct replay_args {
    const char *prices, *tiers, *mmr_s, *funding_s, *every_s, *fee_s, *wallet_s, *demo_s;
    const char *liq_s, *liq_fee_s, *liq_fill_s, *fill_s, *path_s;
    const char *insurance_s, *adl_rank_s;
    const char *svg, *html; /* --svg FILE, --html FILE */
    const char *csize_s;    /* --contract-size C */
    int inverse;            /* --inverse: every market inverse, sizes in contracts */
    int64_t csize;          /* quote units per contract, money scale (default 1) */
    int64_t insurance, adl_rank; /* --insurance (then adl is set), --adl-ranking */
    int adl, adl_demo;
    int64_t liq_policy, liq_fee, liq_fill, stop_fill;
    int candle;  /* --path updown or adverse */
    int adverse; /* --path adverse */
    int ext;    /* any of the liquidation options: events also say how they filled */
    const char **specs;
    size_t nspecs;
    int64_t levels[MAX_LEVELS];
    size_t nlevels;
    int json, demo, contrast;
    int64_t mmr, funding, every, fee, wallet;
};

/* --demo NAME: the built-in demos, alone (but for --json). */
static int check_demo(struct replay_args *a)
{
    if (!a->demo_s)
        return 0;
    if (strcmp(a->demo_s, "seed") == 0) {
        if (a->prices || a->nspecs) {
            cli_error(CMD, "--demo seed: runs the built-in positions on the built-in path "
                      "(no --prices, no --position)");
            return -1;
        }
        return 0;
    }
    if (strcmp(a->demo_s, "contrast") != 0 && strcmp(a->demo_s, "adl") != 0) {
        cli_error(CMD, "--demo: '%s' is not a built-in demo (seed, contrast, adl)", a->demo_s);
        return -1;
    }
    if (a->prices || a->nspecs || a->tiers || a->mmr_s || a->funding_s || a->every_s ||
        a->fee_s || a->wallet_s || a->nlevels || a->liq_s || a->liq_fee_s || a->liq_fill_s ||
        a->fill_s || a->path_s || a->insurance_s || a->adl_rank_s || a->inverse ||
        a->csize_s) {
        cli_error(CMD, "--demo %s: takes no option but --json, --svg and --html (its "
                  "positions, path and wallet are built in)", a->demo_s);
        return -1;
    }
    if (strcmp(a->demo_s, "adl") == 0)
        a->adl_demo = 1;
    else
        a->contrast = 1;
    return 0;
}

/* --inverse and --contract-size: the positions must be given (the built-in ones are
 * linear), and --contract-size only with --inverse. */
static int check_inverse(struct replay_args *a)
{
    a->csize = ONE;
    if (!a->inverse) {
        if (a->csize_s) {
            cli_error(CMD, "--contract-size: only with --inverse");
            return -1;
        }
        return 0;
    }
    if (a->nspecs == 0) {
        cli_error(CMD, "--inverse: needs --position SPEC with contracts=K (the built-in "
                  "positions are linear)");
        return -1;
    }
    if (a->csize_s &&
        cli_parse_pos(CMD, "--contract-size", a->csize_s, MARGIN_MONEY_SCALE, &a->csize) != 0)
        return -1;
    return 0;
}

/* A keyword of @p opt among @p names (NULL-terminated), whose values are @p values. */
static int keyword(const char *opt, const char *s, const char *const *names,
                   const int64_t *values, const char *list, int64_t *out)
{
    size_t k;

    for (k = 0; names[k]; k++) {
        if (strcmp(s, names[k]) == 0) {
            *out = values[k];
            return 0;
        }
    }
    cli_error(CMD, "%s: '%s' is not %s", opt, s, list);
    return -1;
}

/* --liquidation, --liq-fee, --liq-fill, --fill, --path. */
static int parse_liq_args(struct replay_args *a)
{
    static const char *const policies[] = {"full", "min-reduce", "tier-down", "slices", NULL};
    static const int64_t policy_v[] = {MARGIN_LIQ_POLICY_FULL, MARGIN_LIQ_POLICY_MIN_REDUCE,
                                       MARGIN_LIQ_POLICY_TIER_DOWN, MARGIN_LIQ_POLICY_SLICES};
    static const char *const fills[] = {"mark", "liq-price", "bankruptcy", NULL};
    static const int64_t fill_v[] = {MARGIN_LIQ_FILL_MARK, MARGIN_LIQ_FILL_LIQ_PRICE,
                                     MARGIN_LIQ_FILL_BANKRUPTCY};
    static const char *const stops[] = {"mark", "trigger", NULL};
    static const int64_t stop_v[] = {MARGIN_STOP_FILL_MARK, MARGIN_STOP_FILL_TRIGGER};

    if (a->liq_s && keyword("--liquidation", a->liq_s, policies, policy_v,
                            "full, min-reduce, tier-down or slices", &a->liq_policy) != 0)
        return -1;
    if (a->liq_fill_s && keyword("--liq-fill", a->liq_fill_s, fills, fill_v,
                                 "mark, liq-price or bankruptcy", &a->liq_fill) != 0)
        return -1;
    if (a->fill_s &&
        keyword("--fill", a->fill_s, stops, stop_v, "mark or trigger", &a->stop_fill) != 0)
        return -1;
    if (a->liq_fee_s) {
        if (cli_parse_dec(CMD, "--liq-fee", a->liq_fee_s, MARGIN_RATE_SCALE, &a->liq_fee) != 0)
            return -1;
        if (a->liq_fee < 0 || a->liq_fee > ONE) {
            cli_error(CMD, "--liq-fee: '%s' must be between 0 and 1", a->liq_fee_s);
            return -1;
        }
    }
    if (a->path_s) {
        if (strcmp(a->path_s, "adverse") == 0) {
            a->adverse = 1;
        } else if (strcmp(a->path_s, "updown") != 0) {
            cli_error(CMD, "--path: '%s' is not updown or adverse", a->path_s);
            return -1;
        }
        a->candle = 1;
    }
    a->ext = a->liq_s || a->liq_fee_s || a->liq_fill_s || a->fill_s || a->path_s;
    return 0;
}

/* --insurance, --adl-ranking. */
static int parse_adl_args(struct replay_args *a)
{
    static const char *const ranks[] = {"binance", "bitmex", NULL};
    static const int64_t rank_v[] = {MARGIN_ADL_RANK_BINANCE, MARGIN_ADL_RANK_BITMEX};

    if (a->adl_rank_s && !a->insurance_s) {
        cli_error(CMD, "--adl-ranking: needs --insurance AMOUNT (auto-deleveraging is off "
                  "without it)");
        return -1;
    }
    if (a->adl_rank_s && keyword("--adl-ranking", a->adl_rank_s, ranks, rank_v,
                                 "binance or bitmex", &a->adl_rank) != 0)
        return -1;
    if (a->insurance_s) {
        if (cli_parse_dec(CMD, "--insurance", a->insurance_s, MARGIN_MONEY_SCALE,
                          &a->insurance) != 0)
            return -1;
        if (a->insurance < 0) {
            cli_error(CMD, "--insurance: '%s' must not be negative", a->insurance_s);
            return -1;
        }
        a->adl = 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct replay_args *a)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;

        if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(argv[i], "--inverse") == 0) {
            a->inverse = 1;
            continue;
        }
#define OPT(name, dst)                                                                      \
    m = cli_opt_value(CMD, argc, argv, &i, name, &v);                                       \
    if (m < 0)                                                                              \
        return -1;                                                                          \
    if (m > 0) {                                                                            \
        dst = v;                                                                            \
        continue;                                                                           \
    }
        OPT("--prices", a->prices)
        OPT("--tiers", a->tiers)
        OPT("--mmr", a->mmr_s)
        OPT("--funding-every", a->every_s)
        OPT("--funding", a->funding_s)
        OPT("--fee", a->fee_s)
        OPT("--wallet", a->wallet_s)
        OPT("--demo", a->demo_s)
        OPT("--liquidation", a->liq_s)
        OPT("--liq-fee", a->liq_fee_s)
        OPT("--liq-fill", a->liq_fill_s)
        OPT("--fill", a->fill_s)
        OPT("--path", a->path_s)
        OPT("--insurance", a->insurance_s)
        OPT("--adl-ranking", a->adl_rank_s)
        OPT("--svg", a->svg)
        OPT("--html", a->html)
        OPT("--contract-size", a->csize_s)
#undef OPT
        m = cli_opt_value(CMD, argc, argv, &i, "--position", &v);
        if (m < 0)
            return -1;
        if (m > 0) {
            a->specs[a->nspecs++] = v;
            continue;
        }
        m = cli_opt_value(CMD, argc, argv, &i, "--margin-call", &v);
        if (m < 0)
            return -1;
        if (m > 0) {
            if (a->nlevels == MAX_LEVELS) {
                cli_error(CMD, "--margin-call: at most %d levels", MAX_LEVELS);
                return -1;
            }
            if (cli_parse_rate(CMD, "--margin-call", v, 1, &a->levels[a->nlevels]) != 0)
                return -1;
            a->nlevels++;
            continue;
        }
        cli_error(CMD, "%s: unknown argument (see margin help replay)", argv[i]);
        return -1;
    }

    if (check_demo(a) != 0 || check_inverse(a) != 0)
        return -1;
    a->demo = !a->prices && a->nspecs == 0 && !a->contrast && !a->adl_demo;
    if (a->tiers && a->mmr_s) {
        cli_error(CMD, "--tiers: cannot be combined with --mmr");
        return -1;
    }
    a->mmr = 400000; /* 0.004 */
    if (a->mmr_s && cli_parse_rate(CMD, "--mmr", a->mmr_s, 1, &a->mmr) != 0)
        return -1;
    if (a->funding_s && !a->every_s) {
        cli_error(CMD, "--funding: needs --funding-every ROWS");
        return -1;
    }
    if (a->every_s && !a->funding_s) {
        cli_error(CMD, "--funding-every: needs --funding RATE");
        return -1;
    }
    if (a->funding_s) {
        if (cli_parse_dec(CMD, "--funding", a->funding_s, MARGIN_RATE_SCALE, &a->funding) != 0)
            return -1;
        if (a->funding <= -ONE || a->funding >= ONE) {
            cli_error(CMD, "--funding: '%s' must be above -1 and below 1", a->funding_s);
            return -1;
        }
        if (cli_parse_pos(CMD, "--funding-every", a->every_s, 0, &a->every) != 0)
            return -1;
    }
    if (a->fee_s && cli_parse_rate(CMD, "--fee", a->fee_s, 0, &a->fee) != 0)
        return -1;
    if (parse_liq_args(a) != 0 || parse_adl_args(a) != 0)
        return -1;
    a->wallet = REPLAY_FREE;
    if (a->wallet_s) {
        if (cli_parse_dec(CMD, "--wallet", a->wallet_s, MARGIN_MONEY_SCALE, &a->wallet) != 0)
            return -1;
        if (a->wallet < 0) {
            cli_error(CMD, "--wallet: '%s' must not be negative", a->wallet_s);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ output */

/* A market of the replay: a position's own, or one shared by market=SYMBOL. */
struct rmkt {
    char sym[CLI_SYM_SIZE];
    size_t first; /* index of its first position, whose mmr it takes */
    int32_t mode;
    uint64_t id;
};

/* --demo contrast: the figures at each mark, taken before the mark is applied. */
struct cfig {
    int64_t balance, mm;
    int open;
};

struct contrast {
    int64_t mark[CONTRAST_STEPS];
    struct cfig iso[CONTRAST_STEPS][2]; /* the isolated run: A and B */
    struct cfig acct[CONTRAST_STEPS];   /* the cross run: the account */
};

struct replay {
    struct replay_args *a;
    struct series s;
    margin_engine *e;
    uint64_t acct;
    struct rpos *pos;
    size_t npos;
    struct rmkt *mkts;
    size_t nmkts;
    int32_t ps, qs; /* price and quantity scales of the markets */
    int64_t first_mark, cur_mark, marks, free_after_open, wallet_after_open;
    int64_t mark_now; /* the mark being applied */
    const struct prow *row_now; /* --path: the row (candle) being applied */
    long out_seq;
    const struct cli_tier *tiers; /* --tiers, read once */
    size_t ntiers;
    const char *run;      /* --demo contrast: "isolated" or "cross", else NULL */
    struct contrast *c;   /* --demo contrast in text: the figures of each mark */
    int quiet;            /* do not print (--demo contrast in text) */
    int xliq;             /* a cross liquidation happened: */
    int64_t xliq_step, xliq_deficit; /* at which mark, and the deficit covered */
    int64_t pool;         /* --insurance: the pool, followed through the events */
    long deleveraged;     /* positions closed in full by ADL */
    FILE *out;            /* where the text summary goes: stdout, or the page's copy */
    struct chart *chart;  /* --svg, --html: what the replay draws, else NULL */
    int chart_run;        /* its run in the chart (--demo contrast), else -1 */
    size_t chart_ser;     /* the chart series of its first position */
    int chart_failed;     /* out of memory while recording an event */
};

static struct rpos *find_pos(struct replay *rp, uint64_t id)
{
    size_t i;
    for (i = 0; i < rp->npos; i++)
        if (rp->pos[i].id == id)
            return &rp->pos[i];
    return NULL;
}

static int64_t ev(const margin_engine *e, int32_t field)
{
    int64_t v = 0;
    if (margin_event_get(e, field, &v) != MARGIN_OK)
        return 0;
    return v;
}

static const char *time_text(const struct replay *rp, int64_t t)
{
    if (t >= 1 && (size_t)t <= rp->s.n)
        return rp->s.rows[t - 1].time;
    return "";
}

/* Signed money with an explicit + for gains. */
static const char *sgn(char *buf, int64_t v)
{
    char tmp[CLI_NUM_SIZE];
    size_t n, off = v > 0 ? 1 : 0;

    cli_num(tmp, v, MARGIN_MONEY_SCALE); /* at most 42 bytes with the NUL */
    n = strlen(tmp);
    if (n + off >= CLI_NUM_SIZE)
        n = CLI_NUM_SIZE - 1 - off;
    buf[0] = '+';
    memcpy(buf + off, tmp, n);
    buf[n + off] = '\0';
    return buf;
}

static const char *money(char *buf, int64_t v)
{
    return cli_num(buf, v, MARGIN_MONEY_SCALE);
}

static const char *price(char *buf, const struct replay *rp, int64_t p)
{
    return cli_num(buf, p, rp->ps);
}

/* A liquidation or bankruptcy price: 0 (a long that cannot reach it) and INT64_MAX (an
 * inverse short whose margin covers its value N/E) mean none. */
static const char *price_or_none(char *buf, const struct replay *rp, int64_t p)
{
    if (p == 0 || p == INT64_MAX) {
        snprintf(buf, CLI_NUM_SIZE, "none");
        return buf;
    }
    return price(buf, rp, p);
}

static void json_price(const struct replay *rp, const char *key, int64_t p)
{
    char b[CLI_NUM_SIZE];
    if (p == 0 || p == INT64_MAX) /* none, as in price_or_none() */
        printf(", \"%s\": null", key);
    else
        printf(", \"%s\": \"%s\"", key, price(b, rp, p));
}

static void json_money(const char *key, int64_t v)
{
    char b[CLI_NUM_SIZE];
    printf(", \"%s\": \"%s\"", key, money(b, v));
}

static const char *type_name(int32_t type)
{
    switch (type) {
    case MARGIN_EV_OPEN:
        return "open";
    case MARGIN_EV_MARGIN_CALL:
        return "margin_call";
    case MARGIN_EV_LIQUIDATION:
        return "liquidation";
    case MARGIN_EV_STOP_LOSS:
        return "stop_loss";
    case MARGIN_EV_TAKE_PROFIT:
        return "take_profit";
    case MARGIN_EV_FUNDING:
        return "funding";
    case MARGIN_EV_CROSS_LIQUIDATION:
        return "cross_liquidation";
    case MARGIN_EV_PARTIAL_LIQUIDATION:
        return "partial_liquidation";
    case MARGIN_EV_ADL:
        return "adl";
    case MARGIN_EV_INSURANCE_DEPOSIT:
        return "insurance_deposit";
    default:
        return NULL;
    }
}

/* The MARGIN_FILL_* of a triggered close, as a word. */
static const char *fill_word(int64_t fill)
{
    switch (fill) {
    case MARGIN_FILL_TRIGGER:
        return "trigger";
    case MARGIN_FILL_LIQ_PRICE:
        return "liquidation_price";
    case MARGIN_FILL_BANKRUPTCY:
        return "bankruptcy";
    default:
        return "mark";
    }
}

static void json_fill(const struct replay *rp)
{
    char b[CLI_NUM_SIZE];
    printf(", \"fill_price\": \"%s\", \"fill\": \"%s\"",
           price(b, rp, ev(rp->e, MARGIN_EVF_PRICE)), fill_word(ev(rp->e, MARGIN_EVF_FILL)));
}

/* The start of a JSON line: {"run": ..., (--demo contrast) "seq": N or "type": ... */
static void json_start(const struct replay *rp)
{
    printf("{");
    if (rp->run)
        printf("\"run\": \"%s\", ", rp->run);
}

static void print_event_json(struct replay *rp, int32_t type, int64_t mark,
                             const struct rpos *p)
{
    const margin_engine *e = rp->e;
    char b[CLI_NUM_SIZE];
    const char *name = type_name(type);
    int64_t ratio;

    json_start(rp);
    printf("\"seq\": %ld, \"time\": ", rp->out_seq);
    cli_json_str(stdout, time_text(rp, ev(e, MARGIN_EVF_TIME)));
    printf(", \"type\": \"%s\", \"position\": %llu, \"mark\": \"%s\"", name ? name : "?",
           (unsigned long long)ev(e, MARGIN_EVF_POSITION), price(b, rp, mark));
    printf(", \"mode\": \"%s\"",
           ev(e, MARGIN_EVF_MODE) == MARGIN_MODE_CROSS ? "cross" : "isolated");
    if (rp->a->inverse)
        printf(", \"contract\": \"inverse\""); /* quantities in contracts, money in the coin */
    if (rp->a->candle)
        printf(", \"path_point\": %lld", (long long)ev(e, MARGIN_EVF_PATH_POINT));
    switch (type) {
    case MARGIN_EV_OPEN:
        printf(", \"side\": \"%s\"", ev(e, MARGIN_EVF_SIDE) == MARGIN_SHORT ? "short" : "long");
        printf(", \"entry_price\": \"%s\"", price(b, rp, ev(e, MARGIN_EVF_ENTRY_PRICE)));
        printf(", \"quantity\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs));
        if (rp->a->inverse)
            json_money("contract_size", rp->a->csize);
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_price(rp, "liquidation_price", p ? p->open_liq : ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    case MARGIN_EV_MARGIN_CALL:
        printf(", \"margin_ratio\": \"%s\"",
               cli_num(b, ev(e, MARGIN_EVF_MARGIN_RATIO), MARGIN_RATE_SCALE));
        json_price(rp, "liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    case MARGIN_EV_LIQUIDATION:
        json_price(rp, "liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        json_price(rp, "bankruptcy_price", ev(e, MARGIN_EVF_BANKRUPTCY_PRICE));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        json_money("insurance_fund_delta", ev(e, MARGIN_EVF_INSURANCE_DELTA));
        if (rp->a->ext) {
            json_fill(rp);
            json_money("fee", ev(e, MARGIN_EVF_FEE));
        }
        if (ev(e, MARGIN_EVF_ADL_COVERED) != 0)
            json_money("adl_covered", ev(e, MARGIN_EVF_ADL_COVERED));
        break;
    case MARGIN_EV_ADL:
        printf(", \"counterparty\": %lld", (long long)ev(e, MARGIN_EVF_COUNTERPARTY));
        printf(", \"quantity\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_QTY), rp->qs));
        printf(", \"remaining_qty\": \"%s\"",
               cli_num(b, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs));
        printf(", \"price\": \"%s\"", price(b, rp, ev(e, MARGIN_EVF_PRICE)));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_money("insurance_fund_delta", ev(e, MARGIN_EVF_INSURANCE_DELTA));
        break;
    case MARGIN_EV_INSURANCE_DEPOSIT:
        json_money("amount", ev(e, MARGIN_EVF_AMOUNT));
        break;
    case MARGIN_EV_PARTIAL_LIQUIDATION:
        printf(", \"quantity\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_QTY), rp->qs));
        printf(", \"remaining_qty\": \"%s\"",
               cli_num(b, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs));
        json_fill(rp);
        json_money("fee", ev(e, MARGIN_EVF_FEE));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_price(rp, "liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        json_money("insurance_fund_delta", ev(e, MARGIN_EVF_INSURANCE_DELTA));
        break;
    case MARGIN_EV_STOP_LOSS:
    case MARGIN_EV_TAKE_PROFIT:
        printf(", \"exit_price\": \"%s\"", price(b, rp, ev(e, MARGIN_EVF_PRICE)));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        if (rp->a->ext)
            json_fill(rp);
        break;
    case MARGIN_EV_FUNDING:
        json_money("payment", ev(e, MARGIN_EVF_AMOUNT));
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_price(rp, "liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    case MARGIN_EV_CROSS_LIQUIDATION:
        ratio = ev(e, MARGIN_EVF_MARGIN_RATIO);
        if (ratio == INT64_MAX)
            printf(", \"margin_ratio\": null");
        else
            printf(", \"margin_ratio\": \"%s\"", cli_num(b, ratio, MARGIN_RATE_SCALE));
        printf(", \"positions_closed\": %lld", (long long)ev(e, MARGIN_EVF_QTY));
        json_money("deficit", ev(e, MARGIN_EVF_AMOUNT));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        json_money("insurance_fund_delta", ev(e, MARGIN_EVF_INSURANCE_DELTA));
        json_money("wallet_balance", ev(e, MARGIN_EVF_FREE_BALANCE));
        break;
    default:
        break;
    }
    printf("}\n");
}

/* The details of a cross position's event, or of a cross account's. */
static const char *cross_details(const struct replay *rp, int32_t type,
                                 const struct rpos *p, char *details, size_t size)
{
    const margin_engine *e = rp->e;
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE];
    int64_t v = 0, ratio;

    switch (type) {
    case MARGIN_EV_OPEN:
        margin_position_at(e, (uint64_t)ev(e, MARGIN_EVF_POSITION), MARGIN_AT_INITIAL_MARGIN,
                           0, &v);
        snprintf(details, size,
                 "%s %s at %s, %sx, cross: initial margin %s stays in the wallet; "
                 "liquidation price %s",
                 ev(e, MARGIN_EVF_SIDE) == MARGIN_SHORT ? "short" : "long",
                 cli_num(b1, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs),
                 price(b2, rp, ev(e, MARGIN_EVF_ENTRY_PRICE)),
                 cli_num(b3, ev(e, MARGIN_EVF_LEVERAGE), MARGIN_RATE_SCALE), money(b4, v),
                 price_or_none(b5, rp, p ? p->open_liq : ev(e, MARGIN_EVF_LIQ_PRICE)));
        return "open";
    case MARGIN_EV_MARGIN_CALL:
        snprintf(details, size, "the cross account's margin ratio %s %% reached the %s %% level",
                 cli_pct(b1, ev(e, MARGIN_EVF_MARGIN_RATIO)),
                 cli_pct(b2, ev(e, MARGIN_EVF_LEVEL)));
        return "margin call";
    case MARGIN_EV_LIQUIDATION:
        snprintf(details, size,
                 "the cross account is liquidated (liquidation price %s): closed at the mark, "
                 "PnL %s into the wallet, now %s",
                 price_or_none(b1, rp, ev(e, MARGIN_EVF_LIQ_PRICE)),
                 sgn(b2, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 money(b3, ev(e, MARGIN_EVF_FREE_BALANCE)));
        return "LIQUIDATED";
    case MARGIN_EV_CROSS_LIQUIDATION:
        ratio = ev(e, MARGIN_EVF_MARGIN_RATIO);
        v = ev(e, MARGIN_EVF_AMOUNT);
        if (ratio == INT64_MAX)
            snprintf(b1, sizeof b1, "infinite (balance <= 0)");
        else
            snprintf(b1, sizeof b1, "%s %%", cli_pct(b5, ratio));
        if (v)
            snprintf(details, size,
                     "cross account liquidated at margin ratio %s: %lld position%s closed; "
                     "the insurance fund covers the wallet's deficit %s (fund %s); wallet %s",
                     b1, (long long)ev(e, MARGIN_EVF_QTY),
                     ev(e, MARGIN_EVF_QTY) == 1 ? "" : "s", money(b2, v),
                     sgn(b3, ev(e, MARGIN_EVF_INSURANCE_DELTA)),
                     money(b4, ev(e, MARGIN_EVF_FREE_BALANCE)));
        else
            snprintf(details, size,
                     "cross account liquidated at margin ratio %s: %lld position%s closed; "
                     "wallet %s",
                     b1, (long long)ev(e, MARGIN_EVF_QTY),
                     ev(e, MARGIN_EVF_QTY) == 1 ? "" : "s",
                     money(b4, ev(e, MARGIN_EVF_FREE_BALANCE)));
        return "ACCOUNT LIQ";
    case MARGIN_EV_FUNDING:
        v = ev(e, MARGIN_EVF_AMOUNT);
        snprintf(details, size, "%s %s, in the cross wallet; liquidation price %s",
                 v < 0 ? "paid" : "received", money(b1, v < 0 ? -v : v),
                 price_or_none(b2, rp, ev(e, MARGIN_EVF_LIQ_PRICE)));
        return "funding";
    default:
        return NULL;
    }
}

/* The text log's words for the current event. */
struct ev_words {
    char pos[32];      /* "#1", "acct" (a cross account's event) or "pool" */
    char name[16];     /* "LIQUIDATED" */
    char details[512]; /* what happened, in words */
};

static void event_words(const struct replay *rp, int32_t type, const struct rpos *p,
                        struct ev_words *w)
{
    const margin_engine *e = rp->e;
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE], pos[32], details[512];
    const char *name = "";
    int64_t id = ev(e, MARGIN_EVF_POSITION);

    if (type == MARGIN_EV_INSURANCE_DEPOSIT)
        snprintf(pos, sizeof pos, "pool");
    else if (id == 0)
        snprintf(pos, sizeof pos, "acct"); /* an event of the cross account */
    else
        snprintf(pos, sizeof pos, "#%lld", (long long)id);
    details[0] = '\0';
    if (ev(e, MARGIN_EVF_MODE) == MARGIN_MODE_CROSS &&
        (name = cross_details(rp, type, p, details, sizeof details)) != NULL)
        type = MARGIN_EV_NONE; /* done */
    if (!name)
        name = "";
    switch (type) {
    case MARGIN_EV_OPEN:
        name = "open";
        snprintf(details, sizeof details,
                 "%s %s%s at %s, %sx, margin %s; liquidation price %s",
                 ev(e, MARGIN_EVF_SIDE) == MARGIN_SHORT ? "short" : "long",
                 cli_num(b1, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs),
                 rp->a->inverse ? " contracts" : "",
                 price(b2, rp, ev(e, MARGIN_EVF_ENTRY_PRICE)),
                 cli_num(b3, ev(e, MARGIN_EVF_LEVERAGE), MARGIN_RATE_SCALE),
                 money(b4, ev(e, MARGIN_EVF_MARGIN)),
                 price_or_none(b5, rp, p ? p->open_liq : ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    case MARGIN_EV_MARGIN_CALL:
        name = "margin call";
        snprintf(details, sizeof details,
                 "margin ratio %s %% reached the %s %% level; liquidation at %s",
                 cli_pct(b1, ev(e, MARGIN_EVF_MARGIN_RATIO)),
                 cli_pct(b2, ev(e, MARGIN_EVF_LEVEL)),
                 price_or_none(b3, rp, ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    case MARGIN_EV_LIQUIDATION: {
        int64_t fill = ev(e, MARGIN_EVF_FILL), fee = ev(e, MARGIN_EVF_FEE);
        char how[160] = "";
        name = "LIQUIDATED";
        if (fill == MARGIN_FILL_LIQ_PRICE || fill == MARGIN_FILL_BANKRUPTCY || fee)
            snprintf(how, sizeof how, "; filled at %s (%s), clearance fee %s",
                     price(b5, rp, ev(e, MARGIN_EVF_PRICE)),
                     fill == MARGIN_FILL_LIQ_PRICE   ? "the liquidation price"
                     : fill == MARGIN_FILL_BANKRUPTCY ? "the bankruptcy price"
                                                      : "the mark",
                     money(b1, fee));
        if (ev(e, MARGIN_EVF_ADL_COVERED) != 0) {
            size_t used = strlen(how);
            snprintf(how + used, sizeof how - used, "; ADL covers %s of the deficit",
                     money(b5, ev(e, MARGIN_EVF_ADL_COVERED)));
        }
        snprintf(details, sizeof details,
                 "mark crossed the liquidation price %s (bankruptcy %s): %s, "
                 "PnL %s; insurance fund %s%s",
                 price_or_none(b1, rp, ev(e, MARGIN_EVF_LIQ_PRICE)),
                 price(b2, rp, ev(e, MARGIN_EVF_BANKRUPTCY_PRICE)),
                 fill == MARGIN_FILL_LIQ_PRICE ? "keeps what is left there" : "loses its margin",
                 sgn(b3, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 sgn(b4, ev(e, MARGIN_EVF_INSURANCE_DELTA)), how);
        break;
    }
    case MARGIN_EV_ADL: {
        char m1[CLI_NUM_SIZE], left[128];
        int64_t rest = ev(e, MARGIN_EVF_POSITION_QTY);
        name = "DELEVERAGED";
        if (rest > 0)
            snprintf(left, sizeof left, "%s left with margin %s",
                     cli_num(m1, rest, rp->qs), money(b5, ev(e, MARGIN_EVF_MARGIN)));
        else
            snprintf(left, sizeof left, "closed in full");
        snprintf(details, sizeof details,
                 "auto-deleveraged against #%lld: %s closed at %s (its bankruptcy price), "
                 "PnL %s, %s paid into the insurance pool; %s",
                 (long long)ev(e, MARGIN_EVF_COUNTERPARTY),
                 cli_num(b1, ev(e, MARGIN_EVF_QTY), rp->qs),
                 price(b2, rp, ev(e, MARGIN_EVF_PRICE)), sgn(b3, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 money(b4, ev(e, MARGIN_EVF_INSURANCE_DELTA)), left);
        break;
    }
    case MARGIN_EV_INSURANCE_DEPOSIT:
        name = "insurance";
        snprintf(details, sizeof details, "%s put into the insurance pool (now %s)",
                 money(b1, ev(e, MARGIN_EVF_AMOUNT)), money(b2, rp->pool));
        break;
    case MARGIN_EV_PARTIAL_LIQUIDATION:
        name = "PARTIAL LIQ";
        {
            char m1[CLI_NUM_SIZE], l1[CLI_NUM_SIZE];
            snprintf(details, sizeof details,
                     "%s liquidated at %s (%s), fee %s, PnL %s; %s left with margin %s, "
                     "liquidation price %s",
                     cli_num(b1, ev(e, MARGIN_EVF_QTY), rp->qs),
                     price(b2, rp, ev(e, MARGIN_EVF_PRICE)),
                     ev(e, MARGIN_EVF_FILL) == MARGIN_FILL_LIQ_PRICE ? "the liquidation price"
                                                                     : "the mark",
                     money(b3, ev(e, MARGIN_EVF_FEE)), sgn(b4, ev(e, MARGIN_EVF_REALIZED_PNL)),
                     cli_num(b5, ev(e, MARGIN_EVF_POSITION_QTY), rp->qs),
                     money(m1, ev(e, MARGIN_EVF_MARGIN)),
                     price_or_none(l1, rp, ev(e, MARGIN_EVF_LIQ_PRICE)));
        }
        break;
    case MARGIN_EV_STOP_LOSS:
    case MARGIN_EV_TAKE_PROFIT:
        name = type == MARGIN_EV_STOP_LOSS ? "stop-loss" : "take-profit";
        snprintf(details, sizeof details, "closed at %s, PnL %s, fee %s",
                 price(b1, rp, ev(e, MARGIN_EVF_PRICE)),
                 sgn(b2, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 money(b3, ev(e, MARGIN_EVF_FEE)));
        break;
    case MARGIN_EV_FUNDING: {
        int64_t amt = ev(e, MARGIN_EVF_AMOUNT);
        name = "funding";
        snprintf(details, sizeof details, "%s %s; margin %s, liquidation price %s",
                 amt < 0 ? "paid" : "received", money(b1, amt < 0 ? -amt : amt),
                 money(b2, ev(e, MARGIN_EVF_MARGIN)),
                 price_or_none(b3, rp, ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    }
    default:
        break;
    }
    snprintf(w->pos, sizeof w->pos, "%s", pos);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->details, sizeof w->details, "%s", details);
}

static void print_event_text(struct replay *rp, int32_t type, int64_t mark,
                             const struct rpos *p)
{
    struct ev_words w;
    char b[CLI_NUM_SIZE];

    event_words(rp, type, p, &w);
    printf("%-*s  %-4s %-12s %-10s %s\n", rp->s.timew, time_text(rp, ev(rp->e, MARGIN_EVF_TIME)),
           w.pos, w.name, price(b, rp, mark), w.details);
}

/* --svg, --html: the current event into the chart. 0, or -1 when out of memory. */
static int chart_event(struct replay *rp, int32_t type, int64_t mark, const struct rpos *p)
{
    struct ev_words w;
    int64_t t = ev(rp->e, MARGIN_EVF_TIME);
    const char *name = type_name(type);

    event_words(rp, type, p, &w);
    return chart_add_event(rp->chart, rp->chart_run, rp->out_seq, name ? name : "?",
                           (uint64_t)ev(rp->e, MARGIN_EVF_POSITION),
                           t >= 1 ? (size_t)(t - 1) : 0, mark, w.pos, w.name, w.details);
}

/* Print every queued event (unless quiet) and note how positions end. The mark shown for
 * opens is the first mark (they carry a fill price, not a mark); for a cross account's
 * event without a price, the mark being applied. */
static void drain(struct replay *rp)
{
    int32_t type = MARGIN_EV_NONE;

    while (margin_event_next(rp->e, &type) == MARGIN_OK && type != MARGIN_EV_NONE) {
        int64_t mark;
        struct rpos *p;

        if (!type_name(type))
            continue; /* deposits, withdrawals: not part of the log */
        mark = type == MARGIN_EV_OPEN ? rp->first_mark : ev(rp->e, MARGIN_EVF_PRICE);
        /* A triggered close may fill away from the mark (--liq-fill, --fill trigger): its
         * mark is the one being applied (with --path, the candle's point that fired it). */
        if (type == MARGIN_EV_LIQUIDATION || type == MARGIN_EV_PARTIAL_LIQUIDATION ||
            type == MARGIN_EV_STOP_LOSS || type == MARGIN_EV_TAKE_PROFIT ||
            type == MARGIN_EV_ADL || mark == 0)
            mark = rp->mark_now;
        if (rp->row_now && type != MARGIN_EV_OPEN && type != MARGIN_EV_FUNDING) {
            int64_t pp = ev(rp->e, MARGIN_EVF_PATH_POINT);
            if (pp >= 1 && pp <= rp->row_now->n)
                mark = rp->row_now->mark[pp - 1];
            /* --path adverse: an isolated position's point 2 is its adverse extreme (a
             * long's low, a short's high), 3 its favourable one */
            if (rp->a->adverse && (pp == 2 || pp == 3) && rp->row_now->n == 4 &&
                ev(rp->e, MARGIN_EVF_POSITION) != 0 &&
                ev(rp->e, MARGIN_EVF_MODE) != MARGIN_MODE_CROSS) {
                int64_t side = 0;
                int64_t hi = rp->row_now->mark[1] > rp->row_now->mark[2] ? rp->row_now->mark[1]
                                                                         : rp->row_now->mark[2];
                int64_t lo = rp->row_now->mark[1] > rp->row_now->mark[2] ? rp->row_now->mark[2]
                                                                         : rp->row_now->mark[1];
                margin_position_get(rp->e, (uint64_t)ev(rp->e, MARGIN_EVF_POSITION),
                                    MARGIN_POS_SIDE, &side);
                mark = (side == MARGIN_LONG) == (pp == 2) ? lo : hi;
            }
        }
        p = find_pos(rp, (uint64_t)ev(rp->e, MARGIN_EVF_POSITION));
        if (p && type == MARGIN_EV_OPEN) {
            p->open_margin = ev(rp->e, MARGIN_EVF_MARGIN);
            p->open_liq = ev(rp->e, MARGIN_EVF_LIQ_PRICE);
            /* A cross position's liquidation price depends on the wallet and the other
             * positions: show the one in force once all are open and the wallet is
             * settled to --wallet (opens are read after that). */
            if (p->sp.mode == MARGIN_MODE_CROSS)
                margin_position_get(rp->e, p->id, MARGIN_POS_LIQ_PRICE, &p->open_liq);
        }
        if (p && type == MARGIN_EV_MARGIN_CALL)
            p->calls++;
        if (p && (type == MARGIN_EV_LIQUIDATION || type == MARGIN_EV_STOP_LOSS ||
                  type == MARGIN_EV_TAKE_PROFIT)) {
            p->end_type = type;
            p->end_time = ev(rp->e, MARGIN_EVF_TIME);
            p->end_mark = mark;
            p->end_pnl = ev(rp->e, MARGIN_EVF_REALIZED_PNL);
            p->end_liq = ev(rp->e, MARGIN_EVF_LIQ_PRICE);
            p->end_bp = ev(rp->e, MARGIN_EVF_BANKRUPTCY_PRICE);
            p->end_ins = ev(rp->e, MARGIN_EVF_INSURANCE_DELTA);
            p->end_step = rp->marks;
        }
        if (p && type == MARGIN_EV_LIQUIDATION) {
            p->end_adl = ev(rp->e, MARGIN_EVF_ADL_COVERED);
            p->end_pool = rp->pool;
        }
        if (p && type == MARGIN_EV_ADL) {
            p->adl_qty += ev(rp->e, MARGIN_EVF_QTY);
            p->adl_pnl += ev(rp->e, MARGIN_EVF_REALIZED_PNL);
            p->adl_paid += ev(rp->e, MARGIN_EVF_INSURANCE_DELTA);
            p->adl_price = ev(rp->e, MARGIN_EVF_PRICE);
            p->adl_against = (uint64_t)ev(rp->e, MARGIN_EVF_COUNTERPARTY);
            if (ev(rp->e, MARGIN_EVF_POSITION_QTY) == 0) {
                rp->deleveraged++;
                p->end_type = type;
                p->end_time = ev(rp->e, MARGIN_EVF_TIME);
                p->end_mark = mark;
                p->end_pnl = ev(rp->e, MARGIN_EVF_REALIZED_PNL);
                p->end_step = rp->marks;
            }
        }
        rp->pool += ev(rp->e, MARGIN_EVF_INSURANCE_DELTA);
        if (type == MARGIN_EV_CROSS_LIQUIDATION) {
            rp->xliq = 1;
            rp->xliq_step = rp->marks;
            rp->xliq_deficit = ev(rp->e, MARGIN_EVF_AMOUNT);
        }
        rp->out_seq++;
        if (rp->chart && chart_event(rp, type, mark, type == MARGIN_EV_OPEN ? p : NULL) != 0)
            rp->chart_failed = 1;
        if (rp->quiet)
            continue;
        if (rp->a->json)
            print_event_json(rp, type, mark, type == MARGIN_EV_OPEN ? p : NULL);
        else
            print_event_text(rp, type, mark, type == MARGIN_EV_OPEN ? p : NULL);
    }
}

/* ------------------------------------------------------------------ the run */

/* Create position @p p's market in engine @p e (the replay's, or a probe's). */
static int market_in(const struct replay *rp, margin_engine *e, const struct rpos *p,
                     const char *sym, uint64_t *market)
{
    int rc;

    if ((rc = margin_market_new(e, sym, market)) != MARGIN_OK ||
        (rp->ps != 8 &&
         (rc = margin_market_set(e, *market, MARGIN_MKT_PRICE_SCALE, rp->ps)) != MARGIN_OK) ||
        (rp->qs != 8 &&
         (rc = margin_market_set(e, *market, MARGIN_MKT_QTY_SCALE, rp->qs)) != MARGIN_OK) ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_MAX_LEVERAGE, REPLAY_MAX_LEVERAGE)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_TAKER_FEE, rp->a->fee)) != MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_MAKER_FEE, rp->a->fee)) != MARGIN_OK ||
        /* --inverse: contracts of --contract-size quote units, money in the coin */
        (rp->a->inverse &&
         ((rc = margin_market_set(e, *market, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE)) !=
              MARGIN_OK ||
          (rc = margin_market_set(e, *market, MARGIN_MKT_CONTRACT_SIZE, rp->a->csize)) !=
              MARGIN_OK)))
        return cli_engine_fail(CMD, "setting up a market", e, rc);
    if ((rc = margin_market_set(e, *market, MARGIN_MKT_LIQ_POLICY, rp->a->liq_policy)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_LIQ_FILL, rp->a->liq_fill)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_STOP_FILL, rp->a->stop_fill)) !=
            MARGIN_OK)
        return cli_engine_fail(CMD, "setting up a market", e, rc);
    if ((rc = margin_market_set(e, *market, MARGIN_MKT_LIQ_FEE, rp->a->liq_fee)) != MARGIN_OK) {
        cli_engine_fail(CMD, "--liq-fee", e, rc);
        return CLI_EXIT_USAGE;
    }
    if (p->sp.mmr) {
        rc = margin_market_add_tier(e, *market, 0, p->sp.mmr, 0, 0);
    } else if (rp->a->tiers) {
        return cli_apply_tiers(CMD, rp->a->tiers, e, *market, rp->tiers, rp->ntiers);
    } else {
        rc = margin_market_add_tier(e, *market, 0, rp->a->mmr, 0, 0);
    }
    if (rc != MARGIN_OK) {
        cli_engine_fail(CMD, p->sp.mmr ? "--position mmr" : "--mmr", e, rc);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Give every position a market: its own (P1, P2... by position number), or the one it
 * shares with earlier positions of the same market=SYMBOL, which must agree on the mode
 * and the maintenance rate. */
static int assign_markets(struct replay *rp)
{
    size_t i, k;

    for (i = 0; i < rp->npos; i++) {
        struct rpos *p = &rp->pos[i];
        struct rmkt *m = NULL;

        for (k = 0; p->sp.market[0] && k < rp->nmkts; k++)
            if (strcmp(rp->mkts[k].sym, p->sp.market) == 0)
                m = &rp->mkts[k];
        if (m) {
            const struct spec *first = &rp->pos[m->first].sp;
            if (first->mode != p->sp.mode || first->mmr != p->sp.mmr) {
                cli_error(CMD, "--position '%s': market=%s is shared with --position '%s', "
                          "so mode= and mmr= must agree with it", p->sp.text, m->sym,
                          first->text);
                return CLI_EXIT_USAGE;
            }
        } else {
            m = &rp->mkts[rp->nmkts++];
            if (p->sp.market[0])
                memcpy(m->sym, p->sp.market, CLI_SYM_SIZE);
            else
                snprintf(m->sym, sizeof m->sym, "P%zu", i + 1);
            m->first = i;
            m->mode = p->sp.mode;
        }
        p->mkt = (size_t)(m - rp->mkts);
    }
    return 0;
}

/* --insurance: one pool, the first market's, for every market; ADL on; the ranking. */
static int setup_pool(struct replay *rp)
{
    margin_engine *e = rp->e;
    uint64_t first = rp->mkts[0].id;
    size_t k;
    int rc;

    if (!rp->a->adl)
        return 0;
    for (k = 0; k < rp->nmkts; k++) {
        uint64_t m = rp->mkts[k].id;
        if ((k > 0 && (rc = margin_market_set(e, m, MARGIN_MKT_INSURANCE_POOL,
                                              (int64_t)first)) != MARGIN_OK) ||
            (rc = margin_market_set(e, m, MARGIN_MKT_ADL_RANKING, rp->a->adl_rank)) !=
                MARGIN_OK)
            return cli_engine_fail(CMD, "setting up the insurance pool", e, rc);
    }
    rc = margin_market_set(e, first, MARGIN_MKT_ADL, MARGIN_ADL_ON);
    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "switching auto-deleveraging on", e, rc);
    return 0;
}

/* --insurance AMOUNT > 0: seed the pool (an insurance_deposit event). */
static int seed_pool(struct replay *rp)
{
    int rc;

    if (!rp->a->adl || rp->a->insurance == 0)
        return 0;
    rc = margin_insurance_deposit(rp->e, rp->mkts[0].id, rp->a->insurance);
    if (rc != MARGIN_OK) {
        cli_engine_fail(CMD, "--insurance", rp->e, rc);
        return rc == MARGIN_EOVERFLOW ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    return 0;
}

static int setup_markets(struct replay *rp)
{
    size_t k, i;
    int status;

    for (k = 0; k < rp->nmkts; k++) {
        struct rmkt *m = &rp->mkts[k];
        status = market_in(rp, rp->e, &rp->pos[m->first], m->sym, &m->id);
        if (status != 0)
            return status;
    }
    for (i = 0; i < rp->npos; i++)
        rp->pos[i].market = rp->mkts[rp->pos[i].mkt].id;
    return setup_pool(rp);
}

/* Open @p p, with leverage @p lev, in a throw-away engine whose market has no mark, and
 * read its liquidation price: what the refusal message quotes. 0 on success. */
static int probe_liq_price(const struct replay *rp, const struct rpos *p, int64_t lev,
                           int64_t deposit, int64_t *liq)
{
    margin_engine *e = NULL;
    uint64_t market = 0, account = 0, id = 0;
    int ok = -1;

    if (margin_engine_new(&e) != MARGIN_OK)
        return -1;
    if (market_in(rp, e, p, "PROBE", &market) == 0 &&
        margin_account_new(e, &account) == MARGIN_OK &&
        margin_account_deposit(e, account, deposit) == MARGIN_OK &&
        margin_position_open(e, account, market, p->sp.side, p->qty, p->entry, lev,
                             p->sp.margin, 0, &id) == MARGIN_OK &&
        margin_position_get(e, id, MARGIN_POS_LIQ_PRICE, liq) == MARGIN_OK)
        ok = 0;
    margin_engine_free(e);
    return ok;
}

/* The value of @p p at price @p px, money rounded up: Q * px, or inverse K * C / px in
 * the coin. A MARGIN_* status. */
static int pos_value(const struct replay *rp, const struct rpos *p, int64_t px, int64_t *out)
{
    if (rp->a->inverse)
        return cli_inverse_value(p->qty, rp->qs, rp->a->csize, px, rp->ps, 1, out);
    return margin_dec_mul(p->qty, rp->qs, px, rp->ps, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL,
                          out);
}

/* Size of what opening @p p needs from the free balance, generously: max(margin, Q*E)
 * plus the fee on Q*E plus one unit. A cross position keeps its initial margin (at most
 * Q*E) in the wallet and must stay above maintenance at the first mark, so it needs twice
 * Q times the larger of the entry and the first mark. */
static int need_for(const struct replay *rp, const struct rpos *p, int64_t *out)
{
    int64_t value = 0, fee = 0, need, px = p->entry;
    int cross = p->sp.mode == MARGIN_MODE_CROSS;

    /* (the larger value: at the higher price, or inverse, whose value grows as the price
     * falls, at the lower) */
    if (cross && (rp->a->inverse ? rp->first_mark < px : rp->first_mark > px))
        px = rp->first_mark;
    if (pos_value(rp, p, px, &value) != MARGIN_OK ||
        margin_dec_mul(value, MARGIN_MONEY_SCALE, rp->a->fee, MARGIN_RATE_SCALE,
                       MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &fee) != MARGIN_OK ||
        (cross && __builtin_add_overflow(value, value, &value)))
        return -1;
    need = value > p->sp.margin ? value : p->sp.margin;
    if (__builtin_add_overflow(need, fee, &need) || __builtin_add_overflow(need, 1, &need))
        return -1;
    *out = need;
    return 0;
}

/* Fund the account with @p deposit, put it in cross mode where asked, and give every
 * market the first mark. 0 or an exit status. */
static int prepare_account(struct replay *rp, int64_t deposit)
{
    margin_engine *e = rp->e;
    size_t k;
    int rc;

    if ((rc = margin_account_new(e, &rp->acct)) != MARGIN_OK ||
        (rc = margin_account_deposit(e, rp->acct, deposit)) != MARGIN_OK)
        return cli_engine_fail(CMD, "funding the account", e, rc);
    for (k = 0; k < rp->nmkts; k++) {
        if (rp->mkts[k].mode != MARGIN_MODE_CROSS)
            continue;
        rc = margin_account_set_mode(e, rp->acct, rp->mkts[k].id, MARGIN_MODE_CROSS);
        if (rc != MARGIN_OK)
            return cli_engine_fail(CMD, "setting cross mode", e, rc);
    }
    /* The market's mark is the first mark before anything opens, so that the engine
     * refuses a position that the first mark would liquidate at once. */
    rp->mark_now = rp->first_mark;
    for (k = 0; k < rp->nmkts; k++) {
        rc = margin_mark_update(e, rp->mkts[k].id, rp->first_mark);
        if (rc != MARGIN_OK)
            return cli_engine_fail(CMD, "setting the first mark", e, rc);
    }
    return 0;
}

/* Make the account's available balance exactly --wallet: give back what the generous
 * deposit left over. 0 or an exit status. */
static int settle_wallet(struct replay *rp)
{
    margin_engine *e = rp->e;
    int64_t avail = 0;
    int rc;

    rc = margin_account_get(e, rp->acct, MARGIN_ACCT_AVAILABLE, &avail);
    if (rc == MARGIN_OK && avail > rp->a->wallet)
        rc = margin_account_withdraw(e, rp->acct, avail - rp->a->wallet);
    else if (rc == MARGIN_OK && avail < rp->a->wallet)
        rc = margin_account_deposit(e, rp->acct, rp->a->wallet - avail);
    if (rc == MARGIN_OK)
        rc = margin_account_get(e, rp->acct, MARGIN_ACCT_AVAILABLE, &rp->free_after_open);
    if (rc == MARGIN_OK)
        rc = margin_account_get(e, rp->acct, MARGIN_ACCT_FREE_BALANCE, &rp->wallet_after_open);
    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "funding the account", e, rc);
    return 0;
}

static int open_positions(struct replay *rp)
{
    margin_engine *e = rp->e;
    int64_t deposit = rp->a->wallet;
    size_t i;
    int rc, status;

    for (i = 0; i < rp->npos; i++) {
        struct rpos *p = &rp->pos[i];
        int64_t need = 0;

        p->entry = p->sp.entry ? p->sp.entry : rp->first_mark;
        p->qty = p->sp.qty;
        if (p->sp.notional && rp->a->inverse) {
            /* K = V * entry / C rounded down to the quantity scale, as in margin calc. */
            rc = cli_inverse_contracts(p->sp.notional, p->entry, rp->ps, rp->a->csize, rp->qs,
                                       &p->qty);
            if (rc != MARGIN_OK) {
                cli_error(CMD, "--position '%s': notional * entry / contract size: %s",
                          p->sp.text, margin_strerror(rc));
                return CLI_EXIT_FAIL;
            }
        } else if (p->sp.notional) {
            /* Q = V / entry rounded down to the quantity scale, as in margin calc. */
            rc = margin_dec_div(p->sp.notional, MARGIN_MONEY_SCALE, p->entry, rp->ps, rp->qs,
                                MARGIN_ROUND_FLOOR, &p->qty);
            if (rc != MARGIN_OK) {
                cli_error(CMD, "--position '%s': notional / entry: %s", p->sp.text,
                          margin_strerror(rc));
                return CLI_EXIT_FAIL;
            }
        }
        if (p->sp.notional && p->qty == 0) {
            cli_error(CMD, "--position '%s': notional %s rounds down to 0", p->sp.text,
                      rp->a->inverse ? "* entry / contract size" : "/ entry");
            return CLI_EXIT_USAGE;
        }
        if (need_for(rp, p, &need) != 0 || __builtin_add_overflow(deposit, need, &deposit)) {
            cli_error(CMD, "--position '%s': the deposit needed does not fit", p->sp.text);
            return CLI_EXIT_FAIL;
        }
    }
    status = prepare_account(rp, deposit);
    if (status != 0)
        return status;

    for (i = 0; i < rp->npos; i++) {
        struct rpos *p = &rp->pos[i];
        int64_t lev = p->sp.leverage;
        int cross = p->sp.mode == MARGIN_MODE_CROSS;

        if (!lev) {
            int64_t value = 0;
            if (pos_value(rp, p, p->entry, &value) == MARGIN_OK && p->sp.margin >= value)
                lev = ONE; /* the margin covers the whole position */
        }
        rc = margin_position_open(e, rp->acct, p->market, p->sp.side, p->qty, p->entry, lev,
                                  p->sp.margin, cross ? MARGIN_FLAG_CROSS : 0, &p->id);
        if (rc != MARGIN_OK) {
            int64_t liq = 0;
            char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];

            if (!cross && rc == MARGIN_EMARGIN &&
                probe_liq_price(rp, p, lev, deposit, &liq) == 0 && liq != 0 &&
                (p->sp.side == MARGIN_LONG ? rp->first_mark <= liq : rp->first_mark >= liq)) {
                /* It opens on a market without a mark: the first mark is the reason. */
                cli_error(CMD,
                          "--position '%s' (position %zu): refused: it would be liquidated at "
                          "once, since the first mark %s is at or %s its liquidation price %s "
                          "(entry %s); give an entry near the first mark or more margin",
                          p->sp.text, i + 1, price(b1, rp, rp->first_mark),
                          p->sp.side == MARGIN_LONG ? "below" : "above", price(b2, rp, liq),
                          price(b3, rp, p->entry));
                return CLI_EXIT_USAGE;
            }
            cli_error(CMD, "--position '%s': cannot open: %s", p->sp.text, margin_errmsg(e));
            return rc == MARGIN_ELEVERAGE || rc == MARGIN_EMARGIN || rc == MARGIN_EFUNDS
                       ? CLI_EXIT_USAGE
                       : CLI_EXIT_FAIL;
        }
        if (p->sp.stop || p->sp.take) {
            rc = margin_position_set_stops(e, p->id, p->sp.stop, p->sp.take);
            if (rc != MARGIN_OK) {
                cli_error(CMD, "--position '%s': stop/take refused: %s", p->sp.text,
                          margin_errmsg(e));
                return CLI_EXIT_USAGE;
            }
        }
    }
    return settle_wallet(rp);
}

static void contrast_before(struct replay *rp, int64_t mark);
static int64_t lev_of(const struct replay *rp, const struct rpos *p);

/* --svg, --html: every position's figures after row @p row, read from the library (the
 * lines move with funding, partial liquidations and the cross wallet). */
static void chart_sample_all(struct replay *rp, size_t row)
{
    size_t i;

    for (i = 0; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        struct chart_fig g;
        int64_t st = -1;

        memset(&g, 0, sizeof g);
        if (margin_position_get(rp->e, p->id, MARGIN_POS_STATUS, &st) != MARGIN_OK ||
            st != MARGIN_STATUS_OPEN) {
            chart_sample(rp->chart, rp->chart_ser + i, row, NULL);
            continue;
        }
        margin_position_get(rp->e, p->id, MARGIN_POS_ENTRY_PRICE, &g.entry);
        margin_position_get(rp->e, p->id, MARGIN_POS_LIQ_PRICE, &g.liq);
        margin_position_get(rp->e, p->id, MARGIN_POS_STOP_LOSS, &g.stop);
        margin_position_get(rp->e, p->id, MARGIN_POS_TAKE_PROFIT, &g.take);
        if (margin_position_at(rp->e, p->id, MARGIN_AT_BANKRUPTCY_PRICE, 0, &g.bp) != MARGIN_OK)
            g.bp = 0;
        /* an inverse short whose margin covers N/E has none (INT64_MAX): not drawn */
        if (g.liq == INT64_MAX)
            g.liq = 0;
        if (g.bp == INT64_MAX)
            g.bp = 0;
        margin_position_at(rp->e, p->id, MARGIN_AT_MARGIN_BALANCE, 0, &g.balance);
        if (margin_position_at(rp->e, p->id, MARGIN_AT_MARGIN_RATIO, 0, &g.ratio) != MARGIN_OK)
            g.ratio = INT64_MAX;
        chart_sample(rp->chart, rp->chart_ser + i, row, &g);
    }
}

/* --svg, --html: the rows (once: the runs of --demo contrast share them), a series per
 * position, and their figures as opened. 0 or an exit status. */
static int chart_setup(struct replay *rp)
{
    char label[256], b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];
    size_t i, index = 0;
    int fresh = chart_rows(rp->chart) == 0;

    for (i = 0; fresh && i < rp->s.n; i++)
        if (chart_add_row(rp->chart, rp->s.rows[i].time, rp->s.rows[i].mark,
                          rp->s.rows[i].n) != 0)
            goto oom;
    if (chart_rows(rp->chart) != rp->s.n)
        goto oom;
    for (i = 0; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        snprintf(label, sizeof label, "%s%s#%llu %s %s at %s, %sx%s", rp->run ? rp->run : "",
                 rp->run ? ": " : "", (unsigned long long)p->id,
                 p->sp.side == MARGIN_LONG ? "long" : "short", cli_num(b1, p->qty, rp->qs),
                 price(b2, rp, p->entry), cli_num(b3, lev_of(rp, p), MARGIN_RATE_SCALE),
                 p->sp.mode == MARGIN_MODE_CROSS ? ", cross" : "");
        if (chart_add_series(rp->chart, rp->chart_run, p->id, label, &index) != 0)
            goto oom;
        if (i == 0)
            rp->chart_ser = index;
    }
    chart_sample_all(rp, 0);
    return 0;
oom:
    cli_error(CMD, "out of memory (chart)");
    return CLI_EXIT_FAIL;
}

static int run_marks(struct replay *rp)
{
    margin_engine *e = rp->e;
    size_t r, k;
    int j, rc;

    for (r = 0; r < rp->s.n; r++) {
        const struct prow *row = &rp->s.rows[r];

        rc = margin_engine_set(e, MARGIN_ENG_TIME, (int64_t)r + 1);
        if (rc != MARGIN_OK)
            return cli_engine_fail(CMD, "setting the time", e, rc);
        if (rp->a->candle && row->n == 4) {
            /* one candle per market: open, high, low, close (the row holds them in path
             * order: open, the two extremes, close) */
            int64_t hi = row->mark[1] > row->mark[2] ? row->mark[1] : row->mark[2];
            int64_t lo = row->mark[1] > row->mark[2] ? row->mark[2] : row->mark[1];
            rp->row_now = row;
            rp->mark_now = row->mark[3];
            for (k = 0; k < rp->nmkts; k++) {
                rc = margin_mark_candle(e, rp->mkts[k].id, row->mark[0], hi, lo, row->mark[3],
                                        rp->a->adverse ? MARGIN_PATH_ADVERSE
                                                       : MARGIN_PATH_UPDOWN);
                if (rc != MARGIN_OK) {
                    char what[600];
                    snprintf(what, sizeof what, "row %zu (%s): candle", r + 1, row->time);
                    return cli_engine_fail(CMD, what, e, rc);
                }
                drain(rp);
            }
            rp->row_now = NULL;
            rp->cur_mark = row->mark[3];
            rp->marks += 4;
        }
        for (j = rp->a->candle && row->n == 4 ? row->n : 0; j < row->n; j++) {
            rp->mark_now = row->mark[j];
            if (rp->c)
                contrast_before(rp, row->mark[j]);
            for (k = 0; k < rp->nmkts; k++) {
                rc = margin_mark_update(e, rp->mkts[k].id, row->mark[j]);
                if (rc != MARGIN_OK) {
                    char what[600];
                    snprintf(what, sizeof what, "row %zu (%s): mark update", r + 1, row->time);
                    return cli_engine_fail(CMD, what, e, rc);
                }
                drain(rp);
            }
            rp->cur_mark = row->mark[j];
            rp->marks++;
        }
        if (rp->a->funding_s && (int64_t)(r + 1) % rp->a->every == 0) {
            rp->mark_now = row->mark[row->n - 1];
            for (k = 0; k < rp->nmkts; k++) {
                rc = margin_funding_apply(e, rp->mkts[k].id, rp->a->funding,
                                          row->mark[row->n - 1]);
                if (rc != MARGIN_OK) {
                    char what[600];
                    snprintf(what, sizeof what, "row %zu (%s): funding", r + 1, row->time);
                    return cli_engine_fail(CMD, what, e, rc);
                }
                drain(rp);
            }
        }
        if (rp->chart)
            chart_sample_all(rp, r);
    }
    return 0;
}

static int64_t acct(const struct replay *rp, int32_t key)
{
    int64_t v = 0;
    margin_account_get(rp->e, rp->acct, key, &v);
    return v;
}

static int64_t eng(const struct replay *rp, int32_t key)
{
    int64_t v = 0;
    margin_engine_get(rp->e, key, &v);
    return v;
}

/* --insurance: the balance of the replay's one pool. */
static int64_t pool_now(const struct replay *rp)
{
    int64_t v = 0;
    margin_market_get(rp->e, rp->mkts[0].id, MARGIN_MKT_INSURANCE, &v);
    return v;
}

static void print_summary_json(const struct replay *rp)
{
    char b[CLI_NUM_SIZE];

    json_start(rp);
    printf("\"type\": \"summary\", \"marks\": %lld", (long long)rp->marks);
    printf(", \"open_positions\": %lld", (long long)eng(rp, MARGIN_ENG_OPEN_POSITIONS));
    printf(", \"liquidated\": %lld", (long long)eng(rp, MARGIN_ENG_LIQUIDATIONS));
    printf(", \"realized_pnl\": \"%s\"", money(b, acct(rp, MARGIN_ACCT_REALIZED_PNL)));
    printf(", \"free_balance\": \"%s\"", money(b, acct(rp, MARGIN_ACCT_AVAILABLE)));
    printf(", \"insurance_fund\": \"%s\"", money(b, eng(rp, MARGIN_ENG_INSURANCE_FUND)));
    if (rp->a->inverse) {
        printf(", \"contract\": \"inverse\"");
        json_money("contract_size", rp->a->csize);
        printf(", \"settlement\": \"coin\"");
    }
    if (rp->a->adl) {
        printf(", \"insurance_pool\": \"%s\"", money(b, pool_now(rp)));
        printf(", \"deleveraged\": %ld", rp->deleveraged);
    }
    printf("}\n");
}

static int64_t low_mark(const struct replay *rp);
static int64_t lev_of(const struct replay *rp, const struct rpos *p);

/* --demo adl: the setting, and each position's ADL score and quantile at the first mark. */
static void print_adl_intro(const struct replay *rp)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE], b6[CLI_NUM_SIZE], b7[CLI_NUM_SIZE], b8[CLI_NUM_SIZE];
    char b9[CLI_NUM_SIZE], b10[CLI_NUM_SIZE];
    const struct rpos *sh = &rp->pos[0];
    int64_t bp = 0, m = 0, lp = 0;
    size_t i;

    /* (read from the engine: the open events are drained after this) */
    margin_position_at(rp->e, sh->id, MARGIN_AT_BANKRUPTCY_PRICE, 0, &bp);
    margin_position_get(rp->e, sh->id, MARGIN_POS_MARGIN, &m);
    margin_position_get(rp->e, sh->id, MARGIN_POS_LIQ_PRICE, &lp);
    printf("margin replay --demo adl: an insurance pool drained, then auto-deleveraging\n\n");
    printf("%s, maintenance %s %%, no fees. Position #1 is a short of %s at %s with %s of\n"
           "margin: its bankruptcy price is %s and its liquidation price %s. #2 to #%zu are\n"
           "longs entered at %s (BitMEX's published example). The insurance pool holds %s;\n"
           "when a deficit would take it below 0, the longs with the highest ADL score are\n"
           "closed at the short's bankruptcy price. The mark climbs to %s, then gaps to %s.\n"
           "(Every position of a replay is in one account; on a venue these would be other\n"
           "traders.)\n\n",
           ADL_DEMO_SYMBOL, cli_pct(b1, rp->a->mmr), cli_num(b2, sh->qty, rp->qs),
           price(b3, rp, sh->entry), money(b4, m), price(b5, rp, bp), price(b6, rp, lp),
           rp->npos, price(b7, rp, rp->pos[1].entry), money(b8, rp->a->insurance),
           price(b9, rp, rp->s.rows[3].mark[0]), price(b10, rp, rp->s.rows[4].mark[0]));
    if (margin_market_adl_quantiles(rp->e, sh->market) == MARGIN_OK) {
        printf("BitMEX ADL score and quantile (the venues' lights, 4 first) at %s:\n",
               price(b1, rp, rp->first_mark));
        for (i = 0; i < rp->npos; i++) {
            const struct rpos *p = &rp->pos[i];
            int64_t score = 0, q = 0;
            margin_position_get(rp->e, p->id, MARGIN_POS_ADL_SCORE, &score);
            margin_position_get(rp->e, p->id, MARGIN_POS_ADL_QUANTILE, &q);
            printf("  #%llu %s %s at %s, %sx: score %s, quantile %lld\n",
                   (unsigned long long)p->id, p->sp.side == MARGIN_LONG ? "long " : "short",
                   cli_num(b1, p->qty, rp->qs), price(b2, rp, p->entry),
                   cli_num(b3, lev_of(rp, p), MARGIN_RATE_SCALE),
                   cli_num(b4, score, MARGIN_RATE_SCALE), (long long)q);
        }
        printf("\n");
    }
}

static void print_intro(const struct replay *rp)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];
    int64_t lo = low_mark(rp), fall = 0;
    /* The fall to the low, in percent, truncated to 2 decimals. */
    margin_dec_div(rp->first_mark - lo, rp->ps, rp->first_mark, rp->ps, 4, MARGIN_ROUND_TRUNC,
                   &fall);
    if (rp->a->adl_demo) {
        print_adl_intro(rp);
    } else if (rp->a->demo) {
        printf("margin replay: built-in demo (run `margin help replay` for your own data)\n\n"
               "BTC/USDT falls from %s to %s (-%s %%) on a built-in path, then rebounds.\n",
               price(b1, rp, rp->first_mark), price(b2, rp, lo), cli_num(b3, fall, 2));
        printf("Position #1 is the seed's example: a 2,000 USDT long (0.1 BTC at 20000) with\n"
               "100 USDT of margin at 20x. A 5 %% fall (to 19000, its bankruptcy price) would\n"
               "erase that margin, so the engine liquidates it a little before, where the\n"
               "margin left only covers the maintenance margin. Position #2 is a short with\n"
               "its own isolated margin; the account keeps %s USDT free beside them.\n\n",
               money(b1, rp->a->wallet));
    } else {
        printf("margin replay: %zu row%s, %s marks from %s (low %s, %s%s %% from the first)\n",
               rp->s.n, rp->s.n == 1 ? "" : "s", rp->a->prices ? "file" : "built-in",
               price(b1, rp, rp->first_mark), price(b2, rp, lo), fall > 0 ? "-" : "",
               cli_num(b3, fall, 2));
        if (rp->a->inverse)
            printf("Inverse (coin-margined): quantities are contracts (contract size %s in "
                   "quote units), every amount is in the coin.\n",
                   money(b1, rp->a->csize));
        printf("\n");
    }
    printf("%-*s  %-4s %-12s %-10s %s\n", rp->s.timew, "time", "pos", "event", "mark",
           "details");
}

static int64_t low_mark(const struct replay *rp)
{
    int64_t lo = rp->first_mark;
    size_t r;
    int k;

    for (r = 0; r < rp->s.n; r++)
        for (k = 0; k < rp->s.rows[r].n; k++)
            if (rp->s.rows[r].mark[k] < lo)
                lo = rp->s.rows[r].mark[k];
    return lo;
}

/* A position's leverage as the engine holds it. */
static int64_t lev_of(const struct replay *rp, const struct rpos *p)
{
    int64_t v = 0;
    margin_position_get(rp->e, p->id, MARGIN_POS_LEVERAGE, &v);
    return v;
}

/* --demo adl: the story, from the numbers of the run (printed only when it tells it). */
static void print_adl_moral(const struct replay *rp)
{
    FILE *o = rp->out;
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE], b6[CLI_NUM_SIZE];
    const struct rpos *sh = &rp->pos[0];
    int64_t deficit = -sh->end_ins, paid, pool_end = pool_now(rp), prev = rp->first_mark;
    size_t i, untouched = 0;

    if (sh->end_type != MARGIN_EV_LIQUIDATION || sh->end_adl <= 0 || deficit <= 0)
        return;
    for (i = 0; i < rp->s.n && rp->s.rows[i].mark[0] != sh->end_mark; i++)
        prev = rp->s.rows[i].mark[0];
    paid = deficit - sh->end_adl;
    fprintf(o, "\nWhat happened:\n");
    fprintf(o, "  - The mark gapped from %s to %s, past #1's bankruptcy price %s: liquidated\n"
               "    at %s, the short lost its %s of margin and left a deficit of %s.\n",
               price(b1, rp, prev), price(b2, rp, sh->end_mark), price(b3, rp, sh->end_bp),
               price(b4, rp, sh->end_mark), money(b5, -sh->end_pnl), money(b6, deficit));
    fprintf(o, "  - The insurance pool held %s: it paid %s, down to its floor, and\n"
               "    auto-deleveraging covered the other %s.\n",
               money(b1, sh->end_pool), money(b2, paid), money(b3, sh->end_adl));
    fprintf(o, "  - The longs with the highest ADL score were closed at %s instead of %s,\n"
               "    each giving up its PnL between the two:\n",
               price(b1, rp, sh->end_bp), price(b2, rp, sh->end_mark));
    for (i = 1; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        if (p->adl_qty == 0) {
            untouched++;
            continue;
        }
        fprintf(o, "      #%llu (%sx): %s of %s closed, PnL %s, %s paid into the pool%s\n",
                   (unsigned long long)p->id, cli_num(b1, lev_of(rp, p), MARGIN_RATE_SCALE),
                   cli_num(b2, p->adl_qty, rp->qs), cli_num(b3, p->qty, rp->qs),
                   sgn(b4, p->adl_pnl), money(b5, p->adl_paid),
                   p->end_type == MARGIN_EV_ADL ? "" : "; the rest stays open");
    }
    fprintf(o, "  - The pool ends at %s; the %zu other longs were not touched. The pool never\n"
               "    goes below its floor through a liquidation: the most profitable, most\n"
               "    leveraged positions on the other side pay instead.\n",
               money(b1, pool_end), untouched);
}

/* The demo's closing explanation, from the numbers of the run. */
static void print_demo_moral(const struct replay *rp, int64_t free_end)
{
    FILE *o = rp->out;
    char margin[CLI_NUM_SIZE], bp[CLI_NUM_SIZE], at[CLI_NUM_SIZE], liq[CLI_NUM_SIZE];
    char lost[CLI_NUM_SIZE], low[CLI_NUM_SIZE], last[CLI_NUM_SIZE], sm[CLI_NUM_SIZE];
    char fb[CLI_NUM_SIZE], ins[CLI_NUM_SIZE];
    const struct rpos *l = &rp->pos[0], *sh = &rp->pos[1];
    int64_t m = 0;

    if (rp->npos != 2 || l->end_type != MARGIN_EV_LIQUIDATION || sh->end_type != 0)
        return;
    margin_position_get(rp->e, sh->id, MARGIN_POS_MARGIN, &m);
    money(margin, l->open_margin);
    price(bp, rp, l->end_bp);
    price(at, rp, l->end_mark);
    price(liq, rp, l->end_liq);
    money(lost, -l->end_pnl);
    price(low, rp, low_mark(rp));
    price(last, rp, rp->cur_mark);
    money(sm, m);
    money(fb, free_end);
    fprintf(o, "\nWhat happened:\n");
    fprintf(o,
            "  - The long's %s USDT of margin could absorb a fall to %s (its bankruptcy price).\n",
            margin, bp);
    fprintf(o, "  - The engine %sliquidated it at %s,\n"
               "    the first mark at or below its liquidation price %s, before the margin ran "
               "out.\n",
               l->calls ? "warned (margin call), then " : "", at, liq);
    fprintf(o, "  - The holder lost exactly its %s USDT of margin and no more, although the price\n"
               "    went on down to %s; the rebound to %s came too late: liquidation is final.\n",
               lost, low, last);
    fprintf(o, "  - What the close at %s left above the bankruptcy price, %s USDT, went to the\n"
               "    insurance fund (it pays when a price gaps past the bankruptcy price).\n",
               at, sgn(ins, l->end_ins));
    if (m == sh->open_margin && free_end == rp->free_after_open)
        fprintf(o, "  - The short kept its %s USDT of margin and the %s USDT free balance was not\n"
                   "    touched: that is what isolated margin means.\n",
                   sm, fb);
}

/* "; Q deleveraged at P against #N" for a position deleveraged in part, else "". */
static const char *adl_note(char *buf, size_t size, const struct replay *rp,
                            const struct rpos *p)
{
    char q[CLI_NUM_SIZE], px[CLI_NUM_SIZE];

    buf[0] = '\0';
    if (p->adl_qty > 0)
        snprintf(buf, size, "; %s deleveraged at %s against #%llu", cli_num(q, p->adl_qty, rp->qs),
                 price(px, rp, p->adl_price), (unsigned long long)p->adl_against);
    return buf;
}

static void print_summary_text(const struct replay *rp)
{
    FILE *o = rp->out;
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    int64_t free_end = acct(rp, MARGIN_ACCT_AVAILABLE), liq = 0, closed = 0;
    int any_cross = 0;
    size_t i;

    fprintf(o, "\nSummary after %lld marks (last mark %s):\n", (long long)rp->marks,
               price(b1, rp, rp->cur_mark));
    for (i = 0; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        const char *side = p->sp.side == MARGIN_LONG ? "long " : "short";
        int cross = p->sp.mode == MARGIN_MODE_CROSS;

        any_cross |= cross;
        if (p->end_type == MARGIN_EV_LIQUIDATION) {
            liq++;
            if (cross)
                fprintf(o, "  #%llu %s  liquidated with the cross account at %s (mark %s): PnL %s "
                           "in the wallet\n",
                           (unsigned long long)p->id, side, time_text(rp, p->end_time),
                           price(b1, rp, p->end_mark), sgn(b2, p->end_pnl));
            else
                fprintf(o, "  #%llu %s  liquidated at %s (mark %s): lost its margin, PnL %s, and "
                           "no more\n",
                           (unsigned long long)p->id, side, time_text(rp, p->end_time),
                           price(b1, rp, p->end_mark), sgn(b2, p->end_pnl));
        } else if (p->end_type == MARGIN_EV_ADL) {
            closed++;
            fprintf(o, "  #%llu %s  deleveraged at %s (mark %s): closed at %s against #%llu, PnL "
                       "%s\n",
                       (unsigned long long)p->id, side, time_text(rp, p->end_time),
                       price(b1, rp, p->end_mark), price(b3, rp, p->adl_price),
                       (unsigned long long)p->adl_against, sgn(b2, p->adl_pnl));
        } else if (p->end_type) {
            closed++;
            fprintf(o, "  #%llu %s  closed by its %s at %s (mark %s): PnL %s\n",
                       (unsigned long long)p->id, side,
                       p->end_type == MARGIN_EV_STOP_LOSS ? "stop-loss" : "take-profit",
                       time_text(rp, p->end_time), price(b1, rp, p->end_mark),
                       sgn(b2, p->end_pnl));
        } else {
            int64_t m = 0, upnl = 0, lp = 0;
            margin_position_get(rp->e, p->id, MARGIN_POS_MARGIN, &m);
            margin_position_get(rp->e, p->id, MARGIN_POS_LIQ_PRICE, &lp);
            margin_position_at(rp->e, p->id, MARGIN_AT_UNREALIZED_PNL, 0, &upnl);
            if (cross)
                fprintf(o, "  #%llu %s  still open (cross): unrealized PnL %s, liquidation price "
                           "%s\n",
                           (unsigned long long)p->id, side, sgn(b2, upnl),
                           price_or_none(b3, rp, lp));
            else
                fprintf(o, "  #%llu %s  still open: margin %s%s, unrealized PnL %s, liquidation "
                           "price %s%s\n",
                           (unsigned long long)p->id, side, money(b1, m),
                           m == p->open_margin ? " (as opened)" : "", sgn(b2, upnl),
                           price_or_none(b3, rp, lp), adl_note(b4, sizeof b4, rp, p));
        }
    }
    fprintf(o, "  free balance: %s after opening, %s now", money(b1, rp->free_after_open),
               money(b2, free_end));
    if (free_end == rp->free_after_open && liq > 0 && closed == 0 && !any_cross)
        fprintf(o, ": untouched, isolation held (a liquidation takes only that position's "
                   "margin)\n");
    else
        fprintf(o, "\n");
    if (any_cross)
        fprintf(o, "  cross wallet: %s after opening, %s now\n", money(b1, rp->wallet_after_open),
                   money(b2, acct(rp, MARGIN_ACCT_CROSS_WALLET)));
    fprintf(o, "  realized PnL %s, fees %s, funding %s, insurance fund %s\n",
               sgn(b1, acct(rp, MARGIN_ACCT_REALIZED_PNL)), money(b2, acct(rp, MARGIN_ACCT_FEES)),
               sgn(b3, acct(rp, MARGIN_ACCT_FUNDING)), sgn(b4, eng(rp, MARGIN_ENG_INSURANCE_FUND)));
    if (rp->a->adl)
        fprintf(o, "  insurance pool: seeded %s, now %s; %ld position%s deleveraged in full\n",
                   money(b1, rp->a->insurance), money(b2, pool_now(rp)), rp->deleveraged,
                   rp->deleveraged == 1 ? "" : "s");
    if (rp->a->demo)
        print_demo_moral(rp, free_end);
    if (rp->a->adl_demo)
        print_adl_moral(rp);
}

/* ------------------------------------------------------------------ --demo contrast */

/* Before mark @p mark is applied: the figures at that mark of the open positions (the
 * isolated run: each position's margin balance and maintenance margin; the cross run: the
 * account's, every position being in the one market). */
static void contrast_before(struct replay *rp, int64_t mark)
{
    int64_t step = rp->marks;
    size_t i;
    int cross = rp->pos[0].sp.mode == MARGIN_MODE_CROSS;

    if (step < 0 || step >= CONTRAST_STEPS || rp->npos != 2)
        return;
    rp->c->mark[step] = mark;
    for (i = 0; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        struct cfig *f = cross ? &rp->c->acct[step] : &rp->c->iso[step][i];
        int64_t bal = 0, mm = 0;

        if (p->end_type != 0)
            continue;
        margin_position_at(rp->e, p->id, MARGIN_AT_MARGIN_BALANCE, mark, &bal);
        margin_position_at(rp->e, p->id, MARGIN_AT_MAINT_MARGIN, mark, &mm);
        f->balance = bal; /* cross: the account's, the same for every position */
        f->mm = f->open ? f->mm + mm : mm;
        f->open = 1;
    }
}

/* One cell of the table: "balance > maintenance" (or <=, LIQUIDATED), "-" once closed. */
static const char *contrast_cell(char *buf, size_t size, const struct cfig *f, int liquidated)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE];

    if (!f->open)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%s %s %s%s", money(b1, f->balance), f->balance > f->mm ? ">" : "<=",
                 money(b2, f->mm), liquidated ? " LIQUIDATED" : "");
    return buf;
}

/* The last row's cell of a run: its free balance and insurance fund at the end. */
static const char *end_cell(char *buf, size_t size, const struct replay *rp)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE];

    snprintf(buf, size, "free %s, insurance fund %s", money(b1, acct(rp, MARGIN_ACCT_AVAILABLE)),
             sgn(b2, eng(rp, MARGIN_ENG_INSURANCE_FUND)));
    return buf;
}

static void print_contrast_table(const struct contrast *c, const struct replay *rp)
{
    FILE *o = rp->out;
    const struct replay *iso = &rp[0], *x = &rp[1];
    const struct rpos *a = &iso->pos[0], *b = &iso->pos[1];
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE], b6[CLI_NUM_SIZE], b7[CLI_NUM_SIZE], b8[CLI_NUM_SIZE];
    char b9[CLI_NUM_SIZE], b10[CLI_NUM_SIZE], b11[CLI_NUM_SIZE], c1[96], c2[96], c3[96];
    int64_t s;

    fprintf(o, "margin replay --demo contrast: the same two longs, isolated and cross\n\n");
    fprintf(o, "Two longs on %s, %s BTC each at %s: A at %sx (initial margin %s) and B at %sx\n"
               "(initial margin %s), with %s USDT left free. Isolated, each position holds its\n"
               "own margin beside the %s free; cross, one wallet of %s backs both, %s of it\n"
               "available. Maintenance rate %s %%, no fees. Each row: the mark, then the margin\n"
               "balance against the maintenance margin at that mark.\n\n",
               CONTRAST_SYMBOL, cli_num(b1, a->qty, iso->qs), price(b2, iso, a->entry),
               cli_num(b3, a->sp.leverage, MARGIN_RATE_SCALE), money(b4, a->open_margin),
               cli_num(b5, b->sp.leverage, MARGIN_RATE_SCALE), money(b6, b->open_margin),
               money(b7, iso->free_after_open), money(b8, iso->free_after_open),
               money(b9, x->wallet_after_open), money(b10, x->free_after_open),
               cli_pct(b11, iso->a->mmr));
    fprintf(o, "%-8s  %-46s  %s\n", "", "isolated run", "cross run");
    fprintf(o, "%-8s  %-22s  %-22s  %s\n", "mark", "A", "B", "the account (A and B)");
    for (s = 0; s < iso->marks && s < CONTRAST_STEPS; s++) {
        contrast_cell(c1, sizeof c1, &c->iso[s][0],
                      a->end_type == MARGIN_EV_LIQUIDATION && a->end_step == s);
        contrast_cell(c2, sizeof c2, &c->iso[s][1],
                      b->end_type == MARGIN_EV_LIQUIDATION && b->end_step == s);
        contrast_cell(c3, sizeof c3, &c->acct[s], x->xliq && x->xliq_step == s);
        fprintf(o, "%-8s  %-22s  %-22s  %s\n", price(b1, iso, c->mark[s]), c1, c2, c3);
    }
    fprintf(o, "%-8s  %-46s  %s\n", "end", end_cell(c1, sizeof c1, iso),
            end_cell(c3, sizeof c3, x));
}

/* The closing explanation, from the numbers of the two runs (printed only when they tell
 * the story they were built for). */
static void print_contrast_moral(const struct contrast *c, const struct replay *rp)
{
    FILE *o = rp->out;
    const struct replay *iso = &rp[0], *x = &rp[1];
    const struct rpos *a = &iso->pos[0], *b = &iso->pos[1], *xa = &x->pos[0], *xb = &x->pos[1];
    char am[CLI_NUM_SIZE], abp[CLI_NUM_SIZE], aat[CLI_NUM_SIZE], aliq[CLI_NUM_SIZE];
    char ains[CLI_NUM_SIZE], bm[CLI_NUM_SIZE], blow[CLI_NUM_SIZE], bbal[CLI_NUM_SIZE];
    char bmm[CLI_NUM_SIZE], bliq[CLI_NUM_SIZE], ifree[CLI_NUM_SIZE], ifree2[CLI_NUM_SIZE];
    char w[CLI_NUM_SIZE], xbal1[CLI_NUM_SIZE], xmm1[CLI_NUM_SIZE], xlp[CLI_NUM_SIZE];
    char from[CLI_NUM_SIZE], to[CLI_NUM_SIZE], xbal2[CLI_NUM_SIZE], xmm2[CLI_NUM_SIZE];
    char loss[CLI_NUM_SIZE], def[CLI_NUM_SIZE], xfree[CLI_NUM_SIZE], gone[CLI_NUM_SIZE];
    int64_t sa = a->end_step, sx = x->xliq_step, slow = 0, s, wallet_end;

    if (a->end_type != MARGIN_EV_LIQUIDATION || a->end_ins <= 0 || b->end_type != 0 ||
        !x->xliq || xa->end_type != MARGIN_EV_LIQUIDATION ||
        xb->end_type != MARGIN_EV_LIQUIDATION || sx < 1 || sx >= CONTRAST_STEPS ||
        sa < 0 || sa >= CONTRAST_STEPS || sa >= sx)
        return;
    for (s = 0; s < iso->marks && s < CONTRAST_STEPS; s++)
        if (c->mark[s] < c->mark[slow])
            slow = s;
    wallet_end = acct(x, MARGIN_ACCT_CROSS_WALLET);
    money(am, a->open_margin);
    price(abp, iso, a->end_bp);
    price(aat, iso, a->end_mark);
    price(aliq, iso, a->end_liq);
    money(ains, a->end_ins);
    money(bm, b->open_margin);
    price(blow, iso, c->mark[slow]);
    money(bbal, c->iso[slow][1].balance);
    money(bmm, c->iso[slow][1].mm);
    price(bliq, iso, b->open_liq);
    money(ifree, iso->free_after_open);
    money(ifree2, acct(iso, MARGIN_ACCT_AVAILABLE));
    money(w, x->wallet_after_open);
    money(xbal1, c->acct[sa].balance);
    money(xmm1, c->acct[sa].mm);
    price(xlp, x, xb->end_liq);
    price(from, x, c->mark[sx - 1]);
    price(to, x, c->mark[sx]);
    money(xbal2, c->acct[sx].balance);
    money(xmm2, c->acct[sx].mm);
    money(loss, -(xa->end_pnl + xb->end_pnl));
    money(def, x->xliq_deficit);
    money(xfree, acct(x, MARGIN_ACCT_AVAILABLE));
    money(gone, x->wallet_after_open - wallet_end);
    fprintf(o, "\nWhat happened:\n");
    fprintf(o, "  - Isolated: A's %s of margin could absorb a fall to %s (its bankruptcy\n"
               "    price). A was liquidated at %s, the first mark at or below its liquidation\n"
               "    price %s, and lost exactly that %s; the %s left above its bankruptcy\n"
               "    price went to the insurance fund. B's own %s carried it down to %s (margin\n"
               "    balance %s > maintenance %s; its liquidation price is %s): it is still\n"
               "    open, and the %s free is still %s.\n",
               am, abp, aat, aliq, am, ains, bm, blow, bbal, bmm, bliq, ifree, ifree2);
    fprintf(o, "  - Cross: one wallet of %s backed both longs. At %s it absorbed A's loss\n"
               "    (balance %s > maintenance %s), but from then on A and B fell together: the\n"
               "    account's liquidation price was %s for both, where B alone, isolated,\n"
               "    had %s. The mark gapped from %s to %s (balance %s <= maintenance\n"
               "    %s): both were liquidated at once, losing %s against a wallet of %s; the\n"
               "    insurance fund covered the %s the wallet could not pay, and %s is left free.\n",
               w, aat, xbal1, xmm1, xlp, bliq, from, to, xbal2, xmm2, loss, w, def, xfree);
    fprintf(o, "  - Isolated margin lost A's %s and kept B and the %s free; cross margin saved\n"
               "    A at %s, then lost %s of the wallet at %s.\n",
               am, ifree2, aat, gone, to);
}

/* ------------------------------------------------------------------ one replay */

static void replay_free(struct replay *rp)
{
    margin_engine_free(rp->e);
    rp->e = NULL;
    series_free(&rp->s);
    free(rp->pos);
    rp->pos = NULL;
    free(rp->mkts);
    rp->mkts = NULL;
}

/* Run the replay of rp->a (its specs, its path) in a new engine; printing as it goes
 * unless rp->quiet. The caller frees with replay_free(). 0 or an exit status. */
static int replay_run(struct replay *rp, const struct path_row *path, size_t npath)
{
    struct replay_args *a = rp->a;
    struct cli_tier tiers[CLI_MAX_TIERS];
    size_t ntiers = 0, i;
    int status, rc;

    rp->pos = calloc(a->nspecs, sizeof *rp->pos);
    rp->mkts = calloc(a->nspecs, sizeof *rp->mkts);
    if (!rp->pos || !rp->mkts) {
        cli_error(CMD, "out of memory");
        return CLI_EXIT_FAIL;
    }
    rp->npos = a->nspecs;
    for (i = 0; i < a->nspecs; i++) {
        if (parse_spec(a->specs[i], rp->ps, rp->qs, a->inverse, &rp->pos[i].sp) != 0)
            return CLI_EXIT_USAGE;
    }
    status = assign_markets(rp);
    if (status != 0)
        return status;
    if (a->tiers && cli_read_tiers(CMD, a->tiers, tiers, &ntiers) != 0)
        return CLI_EXIT_USAGE;
    status = a->prices ? read_prices(a->prices, &rp->s) : path_prices(&rp->s, path, npath, rp->ps);
    if (status != 0)
        return status;
    if (rp->s.timew < 4)
        rp->s.timew = 4;
    rp->first_mark = rp->s.rows[0].mark[0];
    rp->cur_mark = rp->first_mark;
    if (!rp->out)
        rp->out = stdout;

    rc = margin_engine_new(&rp->e);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "cannot create an engine: %s", margin_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if (a->nlevels > 0) {
        rc = margin_engine_set_margin_call_levels(rp->e, a->levels, a->nlevels);
        if (rc != MARGIN_OK) {
            cli_engine_fail(CMD, "--margin-call", rp->e, rc);
            return CLI_EXIT_USAGE;
        }
    }
    rp->tiers = tiers;
    rp->ntiers = ntiers;
    status = setup_markets(rp);
    if (status != 0)
        return status;
    rc = margin_engine_set(rp->e, MARGIN_ENG_TIME, 1);
    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "setting the time", rp->e, rc);
    status = seed_pool(rp);
    if (status != 0)
        return status;
    status = open_positions(rp);
    if (status != 0)
        return status;

    if (rp->chart && (status = chart_setup(rp)) != 0)
        return status;

    /* From here on the run prints as it goes. */
    if (!a->json && !rp->quiet)
        print_intro(rp);
    drain(rp);
    status = run_marks(rp);
    rp->tiers = NULL; /* the table lives on this stack frame */
    if (status != 0 || rp->quiet)
        return status;
    if (a->json)
        print_summary_json(rp);
    else
        print_summary_text(rp);
    return 0;
}

/* ------------------------------------------------------------------ --svg, --html */

/* The text summary of runs @p rp (@p n of them; --demo contrast: its table @p c), as
 * printed, in a string to free; NULL on failure. */
static char *summary_text(struct replay *rp, size_t n, const struct contrast *c)
{
    FILE *t = tmpfile();
    char *buf = NULL;
    long len;
    size_t i;

    if (!t)
        return NULL;
    for (i = 0; i < n; i++)
        rp[i].out = t;
    if (c) {
        print_contrast_table(c, rp);
        print_contrast_moral(c, rp);
    } else {
        print_summary_text(rp);
    }
    for (i = 0; i < n; i++)
        rp[i].out = stdout;
    if (fflush(t) == 0 && (len = ftell(t)) >= 0 && fseek(t, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1)) != NULL) {
        if (fread(buf, 1, (size_t)len, t) == (size_t)len) {
            buf[len] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(t);
    return buf;
}

/* Write chart @p ch to @p path (option @p opt): the SVG, or the page with @p summary. */
static int write_chart_file(const char *opt, const char *path, const struct chart *ch,
                            const char *summary)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (!f) {
        cli_error(CMD, "%s %s: cannot open: %s", opt, path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    rc = summary ? chart_write_html(ch, f, summary) : chart_write_svg(ch, f);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0) {
        cli_error(CMD, "%s %s: write error", opt, path);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* A chart for runs of @p rp->a at price scale @p ps with @p title; 0 or an exit status. */
static int chart_begin(struct chart **out, const struct replay_args *a, int32_t ps,
                       const char *title)
{
    static const int64_t default_level = 80000000; /* 0.8, the engine's default */
    struct chart *ch = chart_new(ps);

    if (!ch || chart_set_title(ch, title) != 0) {
        chart_free(ch);
        cli_error(CMD, "out of memory (chart)");
        return CLI_EXIT_FAIL;
    }
    if (a->nlevels)
        chart_set_levels(ch, a->levels, a->nlevels);
    else
        chart_set_levels(ch, &default_level, 1);
    *out = ch;
    return 0;
}

/* --svg FILE and --html FILE of runs @p rp (@p n of them, sharing rp->chart). */
static int write_charts(struct replay *rp, size_t n, const struct contrast *c)
{
    const struct replay_args *a = rp->a;
    char *summary = NULL;
    size_t i;
    int status = 0;

    for (i = 0; i < n; i++)
        if (rp[i].chart_failed) {
            cli_error(CMD, "out of memory (chart)");
            return CLI_EXIT_FAIL;
        }
    if (a->svg)
        status = write_chart_file("--svg", a->svg, rp->chart, NULL);
    if (status == 0 && a->html) {
        summary = summary_text(rp, n, c);
        if (!summary) {
            cli_error(CMD, "--html %s: cannot capture the summary", a->html);
            return CLI_EXIT_FAIL;
        }
        status = write_chart_file("--html", a->html, rp->chart, summary);
        free(summary);
    }
    return status;
}

/* One replay (the built-in demos but contrast, or the arguments' own), with its chart. */
static int run_single(struct replay *rp, const struct path_row *path, size_t npath)
{
    const struct replay_args *a = rp->a;
    char title[300];
    const char *base;
    int status = 0;

    rp->chart_run = -1;
    if (a->svg || a->html) {
        if (a->adl_demo) {
            snprintf(title, sizeof title, "margin replay --demo adl: auto-deleveraging");
        } else if (a->demo) {
            snprintf(title, sizeof title, "margin replay: the built-in demo");
        } else if (a->prices) {
            base = strrchr(a->prices, '/');
            snprintf(title, sizeof title, "margin replay --prices %s", base ? base + 1 : a->prices);
        } else {
            snprintf(title, sizeof title, "margin replay: the built-in path");
        }
        status = chart_begin(&rp->chart, a, rp->ps, title);
    }
    if (status == 0)
        status = replay_run(rp, path, npath);
    if (status == 0 && rp->chart)
        status = write_charts(rp, 1, NULL);
    chart_free(rp->chart);
    rp->chart = NULL;
    replay_free(rp);
    return status;
}

/* --demo contrast: the isolated run, then the cross run; in text, side by side. */
static int run_contrast(const struct replay_args *a)
{
    struct replay_args ra[2];
    struct replay rp[2];
    struct contrast c;
    const char *specs[2][2];
    struct chart *ch = NULL;
    int r, status = 0;

    memset(rp, 0, sizeof rp);
    memset(&c, 0, sizeof c);
    if (a->svg || a->html)
        status = chart_begin(&ch, a, CONTRAST_PRICE_SCALE,
                             "margin replay --demo contrast: the same two longs, isolated "
                             "and cross");
    for (r = 0; r < 2 && status == 0; r++) {
        memset(&ra[r], 0, sizeof ra[r]);
        specs[r][0] = contrast_positions[r][0];
        specs[r][1] = contrast_positions[r][1];
        ra[r].specs = specs[r];
        ra[r].nspecs = 2;
        ra[r].json = a->json;
        ra[r].mmr = 400000; /* 0.004 */
        ra[r].wallet = CONTRAST_WALLET;
        rp[r].a = &ra[r];
        rp[r].ps = CONTRAST_PRICE_SCALE;
        rp[r].qs = CONTRAST_QTY_SCALE;
        rp[r].run = r == 0 ? "isolated" : "cross";
        rp[r].quiet = !a->json;
        rp[r].c = &c;
        rp[r].chart = ch;
        rp[r].chart_run = ch ? chart_add_run(ch, rp[r].run) : -1;
        ra[r].svg = a->svg;
        ra[r].html = a->html;
        status = replay_run(&rp[r], contrast_path, CONTRAST_STEPS);
    }
    if (status == 0 && !a->json) {
        print_contrast_table(&c, rp);
        print_contrast_moral(&c, rp);
    }
    if (status == 0 && ch)
        status = write_charts(rp, 2, &c);
    chart_free(ch);
    replay_free(&rp[0]);
    replay_free(&rp[1]);
    return status;
}

int cli_cmd_replay(int argc, char **argv)
{
    struct replay_args a;
    struct replay rp;
    size_t i;
    int status;

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage_replay(stdout);
            return CLI_EXIT_OK;
        }
    }
    memset(&a, 0, sizeof a);
    memset(&rp, 0, sizeof rp);
    /* room for the arguments' --position specs or a built-in demo's */
    a.specs = calloc((size_t)argc + sizeof adl_positions / sizeof adl_positions[0],
                     sizeof *a.specs);
    if (!a.specs) {
        cli_error(CMD, "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (parse_args(argc, argv, &a) != 0) {
        status = CLI_EXIT_USAGE;
    } else if (a.contrast) {
        status = run_contrast(&a);
    } else if (a.adl_demo) {
        for (i = 0; i < sizeof adl_positions / sizeof adl_positions[0]; i++)
            a.specs[a.nspecs++] = adl_positions[i];
        a.mmr = ADL_DEMO_MMR;
        a.adl = 1;
        a.insurance = ADL_DEMO_POOL;
        a.adl_rank = MARGIN_ADL_RANK_BITMEX;
        rp.a = &a;
        rp.ps = 8;
        rp.qs = 8;
        status = run_single(&rp, adl_path, sizeof adl_path / sizeof adl_path[0]);
    } else {
        if (a.nspecs == 0) {
            for (i = 0; i < sizeof demo_positions / sizeof demo_positions[0]; i++)
                a.specs[a.nspecs++] = demo_positions[i];
        }
        rp.a = &a;
        rp.ps = 8;
        rp.qs = 8;
        status = run_single(&rp, demo_path, sizeof demo_path / sizeof demo_path[0]);
    }
    if (status == 0 && fflush(stdout) != 0)
        status = CLI_EXIT_FAIL;
    free(a.specs);
    return status;
}
