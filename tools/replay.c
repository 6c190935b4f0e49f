/* `margin replay`: drive isolated positions with a series of mark prices and print what the
 * engine does (margin calls, liquidations, stops, funding), as a readable log or JSON Lines.
 *
 * Each position gets its own market (same marks, its own maintenance tiers), all in one
 * account, so that positions can have different maintenance rates. Every mark is applied
 * to the markets in position order, so events come out ordered by position id within one
 * mark. The engine time (MARGIN_ENG_TIME) is the 1-based row number; each event's time
 * text is looked up in the table of rows. The account is funded with what the positions
 * need plus 1000 USDT that stays free, to show that isolation holds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "replay"
#define ONE 100000000LL /* 1 at scale 8 */
#define REPLAY_MAX_LEVERAGE (1000 * ONE)
#define REPLAY_FREE (1000 * ONE) /* free balance kept beside the positions */
#define MAX_LEVELS 8

void cli_usage_replay(FILE *f)
{
    fputs("usage: margin replay [--prices FILE] [--position SPEC]... [--mmr RATE] [--tiers FILE]\n"
          "                     [--margin-call LEVEL]... [--funding RATE --funding-every ROWS]\n"
          "                     [--fee RATE] [--json]\n"
          "\n"
          "Replay mark prices over isolated positions and print the engine's events.\n"
          "With no --prices and no --position: the built-in demo (the seed example).\n"
          "\n"
          "  --prices FILE        CSV with a header row; the first column is the time (text).\n"
          "                       With open,high,low,close columns each row gives the marks\n"
          "                       open, low, high, close (close >= open) or open, high, low,\n"
          "                       close (close < open); otherwise the column named mark, price\n"
          "                       or close gives one mark per row. Default: the built-in path.\n"
          "  --position SPEC      repeatable; comma-separated key=value: side=long|short,\n"
          "                       leverage=L, qty=Q or notional=V (Q = V / entry rounded down\n"
          "                       to 8 decimals), entry=PRICE (default: the first mark),\n"
          "                       margin=M (default Q * entry / L), mmr=RATE, stop=PRICE,\n"
          "                       take=PRICE. Positions open at the first mark with ids 1, 2...\n"
          "                       Default: the demo's long and short.\n"
          "  --mmr RATE           maintenance margin rate (default 0.004)\n"
          "  --tiers FILE         maintenance tiers, as in margin calc\n"
          "  --margin-call LEVEL  repeatable margin-call level, 0 < LEVEL < 1 (default 0.8)\n"
          "  --funding RATE       funding rate applied at the close mark of every ROWS-th row\n"
          "  --funding-every ROWS (after that row's marks); longs pay when RATE > 0\n"
          "  --fee RATE           taker and maker fee rate (default 0)\n"
          "  --json               JSON Lines: one object per event, then a summary line;\n"
          "                       every decimal (price, money, rate) is a JSON string, exact;\n"
          "                       ids, counts and sequence numbers are JSON numbers\n"
          "\n"
          "The account holds the positions' margins and fees plus 1000 USDT that stays free.\n"
          "Exit status: 0 success, 1 computation error, 2 bad argument or bad input file\n"
          "(a malformed line of FILE is reported with its line number).\n",
          f);
}

/* ------------------------------------------------------------------ the built-in path */

/* A fictional BTC/USDT path, one mark every 5 minutes: a 6 % fall and a late rebound. */
static const char *const demo_path[][2] = {
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

static int demo_prices(struct series *s)
{
    size_t i;
    for (i = 0; i < sizeof demo_path / sizeof demo_path[0]; i++) {
        int64_t m = 0;
        if (margin_dec_parse(demo_path[i][1], 8, &m) != MARGIN_OK ||
            series_add(s, demo_path[i][0], &m, 1) != 0) {
            cli_error(CMD, "built-in price path: cannot load row %zu", i + 1);
            return CLI_EXIT_FAIL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ positions */

struct spec {
    const char *text;
    int32_t side;
    int64_t leverage, qty, notional, entry, margin, mmr, stop, take;
};

struct rpos {
    struct spec sp;
    uint64_t market, id;
    int64_t qty, entry;
    int64_t open_margin; /* margin when opened */
    int end_type;        /* 0 open, else the MARGIN_EV_* that ended it */
    int64_t end_time, end_mark, end_pnl, end_liq, end_bp, end_ins;
    long calls; /* margin-call events seen */
};

static int parse_spec(const char *text, struct spec *sp)
{
    char buf[1024], what[1200];
    char *fields[16];
    size_t nf, i;

    memset(sp, 0, sizeof *sp);
    sp->text = text;
    if (strlen(text) >= sizeof buf) {
        cli_error(CMD, "--position: '%s' is too long", text);
        return -1;
    }
    memcpy(buf, text, strlen(text) + 1);
    nf = cli_split(buf, fields, 16);
    if (nf > 16) {
        cli_error(CMD, "--position '%s': too many keys", text);
        return -1;
    }
    for (i = 0; i < nf; i++) {
        char *key = fields[i], *val = strchr(fields[i], '=');
        int rc = 0;

        if (!val) {
            cli_error(CMD, "--position '%s': '%s' is not key=value", text, key);
            return -1;
        }
        *val++ = '\0';
        snprintf(what, sizeof what, "--position '%s': %s", text, key);
        if (strcmp(key, "side") == 0) {
            if (strcmp(val, "long") == 0)
                sp->side = MARGIN_LONG;
            else if (strcmp(val, "short") == 0)
                sp->side = MARGIN_SHORT;
            else {
                cli_error(CMD, "%s: '%s' is not long or short", what, val);
                return -1;
            }
        } else if (strcmp(key, "leverage") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_RATE_SCALE, &sp->leverage);
            if (rc == 0 && (sp->leverage < ONE || sp->leverage > REPLAY_MAX_LEVERAGE)) {
                cli_error(CMD, "%s: '%s' must be between 1 and 1000", what, val);
                rc = -1;
            }
        } else if (strcmp(key, "qty") == 0) {
            rc = cli_parse_pos(CMD, what, val, 8, &sp->qty);
        } else if (strcmp(key, "notional") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_MONEY_SCALE, &sp->notional);
        } else if (strcmp(key, "entry") == 0) {
            rc = cli_parse_pos(CMD, what, val, 8, &sp->entry);
        } else if (strcmp(key, "margin") == 0) {
            rc = cli_parse_pos(CMD, what, val, MARGIN_MONEY_SCALE, &sp->margin);
        } else if (strcmp(key, "mmr") == 0) {
            rc = cli_parse_rate(CMD, what, val, 1, &sp->mmr);
        } else if (strcmp(key, "stop") == 0) {
            rc = cli_parse_pos(CMD, what, val, 8, &sp->stop);
        } else if (strcmp(key, "take") == 0) {
            rc = cli_parse_pos(CMD, what, val, 8, &sp->take);
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
        cli_error(CMD, "--position '%s': qty=Q or notional=V is required", text);
        return -1;
    }
    if (sp->qty && sp->notional) {
        cli_error(CMD, "--position '%s': give qty or notional, not both", text);
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
    const char *prices, *tiers, *mmr_s, *funding_s, *every_s, *fee_s;
    const char **specs;
    size_t nspecs;
    int64_t levels[MAX_LEVELS];
    size_t nlevels;
    int json, demo;
    int64_t mmr, funding, every, fee;
};

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

    a->demo = !a->prices && a->nspecs == 0;
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
    return 0;
}

/* ------------------------------------------------------------------ output */

struct replay {
    struct replay_args *a;
    struct series s;
    margin_engine *e;
    uint64_t acct;
    struct rpos *pos;
    size_t npos;
    int64_t first_mark, cur_mark, marks, free_after_open;
    long out_seq;
    const struct cli_tier *tiers; /* --tiers, read once */
    size_t ntiers;
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

static const char *price_or_none(char *buf, int64_t p)
{
    if (p == 0) {
        snprintf(buf, CLI_NUM_SIZE, "none");
        return buf;
    }
    return cli_num(buf, p, 8);
}

static void json_price(const char *key, int64_t p)
{
    char b[CLI_NUM_SIZE];
    if (p == 0)
        printf(", \"%s\": null", key);
    else
        printf(", \"%s\": \"%s\"", key, cli_num(b, p, 8));
}

static void json_money(const char *key, int64_t v)
{
    char b[CLI_NUM_SIZE];
    printf(", \"%s\": \"%s\"", key, cli_num(b, v, MARGIN_MONEY_SCALE));
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
    default:
        return NULL;
    }
}

static void print_event_json(struct replay *rp, int32_t type, int64_t mark)
{
    const margin_engine *e = rp->e;
    char b[CLI_NUM_SIZE];
    const char *name = type_name(type);

    printf("{\"seq\": %ld, \"time\": ", rp->out_seq);
    cli_json_str(stdout, time_text(rp, ev(e, MARGIN_EVF_TIME)));
    printf(", \"type\": \"%s\", \"position\": %llu, \"mark\": \"%s\"", name ? name : "?",
           (unsigned long long)ev(e, MARGIN_EVF_POSITION), cli_num(b, mark, 8));
    switch (type) {
    case MARGIN_EV_OPEN:
        printf(", \"side\": \"%s\"", ev(e, MARGIN_EVF_SIDE) == MARGIN_SHORT ? "short" : "long");
        printf(", \"entry_price\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_ENTRY_PRICE), 8));
        printf(", \"quantity\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_POSITION_QTY), 8));
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_price("liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    case MARGIN_EV_MARGIN_CALL:
        printf(", \"margin_ratio\": \"%s\"",
               cli_num(b, ev(e, MARGIN_EVF_MARGIN_RATIO), MARGIN_RATE_SCALE));
        json_price("liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    case MARGIN_EV_LIQUIDATION:
        json_price("liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        json_price("bankruptcy_price", ev(e, MARGIN_EVF_BANKRUPTCY_PRICE));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        json_money("insurance_fund_delta", ev(e, MARGIN_EVF_INSURANCE_DELTA));
        break;
    case MARGIN_EV_STOP_LOSS:
    case MARGIN_EV_TAKE_PROFIT:
        printf(", \"exit_price\": \"%s\"", cli_num(b, ev(e, MARGIN_EVF_PRICE), 8));
        json_money("realized_pnl", ev(e, MARGIN_EVF_REALIZED_PNL));
        break;
    case MARGIN_EV_FUNDING:
        json_money("payment", ev(e, MARGIN_EVF_AMOUNT));
        json_money("margin", ev(e, MARGIN_EVF_MARGIN));
        json_price("liquidation_price", ev(e, MARGIN_EVF_LIQ_PRICE));
        break;
    default:
        break;
    }
    printf("}\n");
}

static void print_event_text(struct replay *rp, int32_t type, int64_t mark)
{
    const margin_engine *e = rp->e;
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    char b5[CLI_NUM_SIZE], pos[32], details[512];
    const char *name = "";
    int64_t id = ev(e, MARGIN_EVF_POSITION);

    snprintf(pos, sizeof pos, "#%lld", (long long)id);
    details[0] = '\0';
    switch (type) {
    case MARGIN_EV_OPEN:
        name = "open";
        snprintf(details, sizeof details,
                 "%s %s at %s, %sx, margin %s; liquidation price %s",
                 ev(e, MARGIN_EVF_SIDE) == MARGIN_SHORT ? "short" : "long",
                 cli_num(b1, ev(e, MARGIN_EVF_POSITION_QTY), 8),
                 cli_num(b2, ev(e, MARGIN_EVF_ENTRY_PRICE), 8),
                 cli_num(b3, ev(e, MARGIN_EVF_LEVERAGE), MARGIN_RATE_SCALE),
                 cli_num(b4, ev(e, MARGIN_EVF_MARGIN), MARGIN_MONEY_SCALE),
                 price_or_none(b5, ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    case MARGIN_EV_MARGIN_CALL:
        name = "margin call";
        snprintf(details, sizeof details,
                 "margin ratio %s %% reached the %s %% level; liquidation at %s",
                 cli_pct(b1, ev(e, MARGIN_EVF_MARGIN_RATIO)),
                 cli_pct(b2, ev(e, MARGIN_EVF_LEVEL)),
                 price_or_none(b3, ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    case MARGIN_EV_LIQUIDATION:
        name = "LIQUIDATED";
        snprintf(details, sizeof details,
                 "mark crossed the liquidation price %s (bankruptcy %s): loses its margin, "
                 "PnL %s; insurance fund %s",
                 price_or_none(b1, ev(e, MARGIN_EVF_LIQ_PRICE)),
                 cli_num(b2, ev(e, MARGIN_EVF_BANKRUPTCY_PRICE), 8),
                 sgn(b3, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 sgn(b4, ev(e, MARGIN_EVF_INSURANCE_DELTA)));
        break;
    case MARGIN_EV_STOP_LOSS:
    case MARGIN_EV_TAKE_PROFIT:
        name = type == MARGIN_EV_STOP_LOSS ? "stop-loss" : "take-profit";
        snprintf(details, sizeof details, "closed at %s, PnL %s, fee %s",
                 cli_num(b1, ev(e, MARGIN_EVF_PRICE), 8),
                 sgn(b2, ev(e, MARGIN_EVF_REALIZED_PNL)),
                 cli_num(b3, ev(e, MARGIN_EVF_FEE), MARGIN_MONEY_SCALE));
        break;
    case MARGIN_EV_FUNDING: {
        int64_t amt = ev(e, MARGIN_EVF_AMOUNT);
        name = "funding";
        snprintf(details, sizeof details, "%s %s; margin %s, liquidation price %s",
                 amt < 0 ? "paid" : "received",
                 cli_num(b1, amt < 0 ? -amt : amt, MARGIN_MONEY_SCALE),
                 cli_num(b2, ev(e, MARGIN_EVF_MARGIN), MARGIN_MONEY_SCALE),
                 price_or_none(b3, ev(e, MARGIN_EVF_LIQ_PRICE)));
        break;
    }
    default:
        break;
    }
    printf("%-*s  %-4s %-12s %-10s %s\n", rp->s.timew, time_text(rp, ev(e, MARGIN_EVF_TIME)),
           pos, name, cli_num(b1, mark, 8), details);
}

/* Print every queued event. @p mark is the mark shown for opens (which carry a fill
 * price, not a mark). */
static void drain(struct replay *rp)
{
    int32_t type = MARGIN_EV_NONE;

    while (margin_event_next(rp->e, &type) == MARGIN_OK && type != MARGIN_EV_NONE) {
        int64_t mark;
        struct rpos *p;

        if (!type_name(type))
            continue; /* deposits, withdrawals: not part of the log */
        mark = type == MARGIN_EV_OPEN ? rp->first_mark : ev(rp->e, MARGIN_EVF_PRICE);
        p = find_pos(rp, (uint64_t)ev(rp->e, MARGIN_EVF_POSITION));
        if (p && type == MARGIN_EV_OPEN)
            p->open_margin = ev(rp->e, MARGIN_EVF_MARGIN);
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
        }
        rp->out_seq++;
        if (rp->a->json)
            print_event_json(rp, type, mark);
        else
            print_event_text(rp, type, mark);
    }
}

/* ------------------------------------------------------------------ the run */

/* Create position @p p's market in engine @p e (the replay's, or a probe's). */
static int market_in(const struct replay *rp, margin_engine *e, const struct rpos *p,
                     const char *sym, uint64_t *market)
{
    int rc;

    if ((rc = margin_market_new(e, sym, market)) != MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_MAX_LEVERAGE, REPLAY_MAX_LEVERAGE)) !=
            MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_TAKER_FEE, rp->a->fee)) != MARGIN_OK ||
        (rc = margin_market_set(e, *market, MARGIN_MKT_MAKER_FEE, rp->a->fee)) != MARGIN_OK)
        return cli_engine_fail(CMD, "setting up a market", e, rc);
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

static int setup_market(struct replay *rp, size_t i)
{
    char sym[32];

    snprintf(sym, sizeof sym, "P%zu", i + 1);
    return market_in(rp, rp->e, &rp->pos[i], sym, &rp->pos[i].market);
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

/* Size of what opening @p p needs from the free balance, generously: max(margin, Q*E)
 * plus the fee on Q*E plus one unit. */
static int need_for(const struct replay *rp, const struct rpos *p, int64_t *out)
{
    int64_t value = 0, fee = 0, need;

    if (margin_dec_mul(p->qty, 8, p->entry, 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &value) !=
            MARGIN_OK ||
        margin_dec_mul(value, MARGIN_MONEY_SCALE, rp->a->fee, MARGIN_RATE_SCALE,
                       MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &fee) != MARGIN_OK)
        return -1;
    need = value > p->sp.margin ? value : p->sp.margin;
    if (__builtin_add_overflow(need, fee, &need) || __builtin_add_overflow(need, 1, &need))
        return -1;
    *out = need;
    return 0;
}

static int open_positions(struct replay *rp)
{
    margin_engine *e = rp->e;
    int64_t deposit = REPLAY_FREE, free_ = 0;
    size_t i;
    int rc;

    for (i = 0; i < rp->npos; i++) {
        struct rpos *p = &rp->pos[i];
        int64_t need = 0;

        p->entry = p->sp.entry ? p->sp.entry : rp->first_mark;
        p->qty = p->sp.qty;
        if (p->sp.notional) {
            /* Q = V / entry rounded down to 8 decimal places, as in margin calc. */
            rc = margin_dec_div(p->sp.notional, MARGIN_MONEY_SCALE, p->entry, 8, 8,
                                MARGIN_ROUND_FLOOR, &p->qty);
            if (rc != MARGIN_OK) {
                cli_error(CMD, "--position '%s': notional / entry: %s", p->sp.text,
                          margin_strerror(rc));
                return CLI_EXIT_FAIL;
            }
            if (p->qty == 0) {
                cli_error(CMD, "--position '%s': notional / entry rounds down to 0",
                          p->sp.text);
                return CLI_EXIT_USAGE;
            }
        }
        if (need_for(rp, p, &need) != 0 || __builtin_add_overflow(deposit, need, &deposit)) {
            cli_error(CMD, "--position '%s': the deposit needed does not fit", p->sp.text);
            return CLI_EXIT_FAIL;
        }
    }
    if ((rc = margin_account_new(e, &rp->acct)) != MARGIN_OK ||
        (rc = margin_account_deposit(e, rp->acct, deposit)) != MARGIN_OK)
        return cli_engine_fail(CMD, "funding the account", e, rc);
    /* The market's mark is the first mark before anything opens, so that the engine
     * refuses a position that the first mark would liquidate at once. */
    for (i = 0; i < rp->npos; i++) {
        rc = margin_mark_update(e, rp->pos[i].market, rp->first_mark);
        if (rc != MARGIN_OK)
            return cli_engine_fail(CMD, "setting the first mark", e, rc);
    }

    for (i = 0; i < rp->npos; i++) {
        struct rpos *p = &rp->pos[i];
        int64_t lev = p->sp.leverage;

        if (!lev) {
            int64_t value = 0;
            if (margin_dec_mul(p->qty, 8, p->entry, 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL,
                               &value) == MARGIN_OK &&
                p->sp.margin >= value)
                lev = ONE; /* the margin covers the whole position */
        }
        rc = margin_position_open(e, rp->acct, p->market, p->sp.side, p->qty, p->entry, lev,
                                  p->sp.margin, 0, &p->id);
        if (rc != MARGIN_OK) {
            int64_t liq = 0;
            char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];

            if (rc == MARGIN_EMARGIN && probe_liq_price(rp, p, lev, deposit, &liq) == 0 &&
                liq != 0 &&
                (p->sp.side == MARGIN_LONG ? rp->first_mark <= liq : rp->first_mark >= liq)) {
                /* It opens on a market without a mark: the first mark is the reason. */
                cli_error(CMD,
                          "--position '%s' (position %zu): refused: it would be liquidated at "
                          "once, since the first mark %s is at or %s its liquidation price %s "
                          "(entry %s); give an entry near the first mark or more margin",
                          p->sp.text, i + 1, cli_num(b1, rp->first_mark, 8),
                          p->sp.side == MARGIN_LONG ? "below" : "above", cli_num(b2, liq, 8),
                          cli_num(b3, p->entry, 8));
                return CLI_EXIT_USAGE;
            }
            cli_error(CMD, "--position '%s': cannot open: %s", p->sp.text, margin_errmsg(e));
            return rc == MARGIN_ELEVERAGE || rc == MARGIN_EMARGIN ? CLI_EXIT_USAGE
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
    /* Keep exactly REPLAY_FREE free: give back what the generous deposit left over. */
    rc = margin_account_get(e, rp->acct, MARGIN_ACCT_FREE_BALANCE, &free_);
    if (rc == MARGIN_OK && free_ > REPLAY_FREE)
        rc = margin_account_withdraw(e, rp->acct, free_ - REPLAY_FREE);
    if (rc == MARGIN_OK)
        rc = margin_account_get(e, rp->acct, MARGIN_ACCT_FREE_BALANCE, &rp->free_after_open);
    if (rc != MARGIN_OK)
        return cli_engine_fail(CMD, "funding the account", e, rc);
    return 0;
}

static int run_marks(struct replay *rp)
{
    margin_engine *e = rp->e;
    size_t r, i;
    int k, rc;

    for (r = 0; r < rp->s.n; r++) {
        const struct prow *row = &rp->s.rows[r];

        rc = margin_engine_set(e, MARGIN_ENG_TIME, (int64_t)r + 1);
        if (rc != MARGIN_OK)
            return cli_engine_fail(CMD, "setting the time", e, rc);
        for (k = 0; k < row->n; k++) {
            for (i = 0; i < rp->npos; i++) {
                rc = margin_mark_update(e, rp->pos[i].market, row->mark[k]);
                if (rc != MARGIN_OK) {
                    char what[600];
                    snprintf(what, sizeof what, "row %zu (%s): mark update", r + 1, row->time);
                    return cli_engine_fail(CMD, what, e, rc);
                }
                drain(rp);
            }
            rp->cur_mark = row->mark[k];
            rp->marks++;
        }
        if (rp->a->funding_s && (int64_t)(r + 1) % rp->a->every == 0) {
            for (i = 0; i < rp->npos; i++) {
                rc = margin_funding_apply(e, rp->pos[i].market, rp->a->funding,
                                          row->mark[row->n - 1]);
                if (rc != MARGIN_OK) {
                    char what[600];
                    snprintf(what, sizeof what, "row %zu (%s): funding", r + 1, row->time);
                    return cli_engine_fail(CMD, what, e, rc);
                }
                drain(rp);
            }
        }
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

static void print_summary_json(const struct replay *rp)
{
    char b[CLI_NUM_SIZE];

    printf("{\"type\": \"summary\", \"marks\": %lld", (long long)rp->marks);
    printf(", \"open_positions\": %lld", (long long)eng(rp, MARGIN_ENG_OPEN_POSITIONS));
    printf(", \"liquidated\": %lld", (long long)eng(rp, MARGIN_ENG_LIQUIDATIONS));
    printf(", \"realized_pnl\": \"%s\"",
           cli_num(b, acct(rp, MARGIN_ACCT_REALIZED_PNL), MARGIN_MONEY_SCALE));
    printf(", \"insurance_fund\": \"%s\"}\n",
           cli_num(b, eng(rp, MARGIN_ENG_INSURANCE_FUND), MARGIN_MONEY_SCALE));
}

static int64_t low_mark(const struct replay *rp);

static void print_intro(const struct replay *rp)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE];
    int64_t lo = low_mark(rp), fall = 0;
    /* The fall to the low, in percent, truncated to 2 decimals. */
    margin_dec_div(rp->first_mark - lo, 8, rp->first_mark, 8, 4, MARGIN_ROUND_TRUNC, &fall);
    if (rp->a->demo) {
        printf("margin replay: built-in demo (run `margin help replay` for your own data)\n\n"
               "BTC/USDT falls from %s to %s (-%s %%) on a built-in path, then rebounds.\n",
               cli_num(b1, rp->first_mark, 8), cli_num(b2, lo, 8), cli_num(b3, fall, 2));
        printf("Position #1 is the seed's example: a 2,000 USDT long (0.1 BTC at 20000) with\n"
               "100 USDT of margin at 20x. A 5 %% fall (to 19000, its bankruptcy price) would\n"
               "erase that margin, so the engine liquidates it a little before, where the\n"
               "margin left only covers the maintenance margin. Position #2 is a short with\n"
               "its own isolated margin; the account keeps 1000 USDT free beside them.\n\n");
    } else {
        printf("margin replay: %zu row%s, %s marks from %s (low %s, %s%s %% from the first)\n\n",
               rp->s.n, rp->s.n == 1 ? "" : "s", rp->a->prices ? "file" : "built-in",
               cli_num(b1, rp->first_mark, 8), cli_num(b2, lo, 8), fall > 0 ? "-" : "",
               cli_num(b3, fall, 2));
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

/* The demo's closing explanation, from the numbers of the run. */
static void print_demo_moral(const struct replay *rp, int64_t free_end)
{
    char margin[CLI_NUM_SIZE], bp[CLI_NUM_SIZE], at[CLI_NUM_SIZE], liq[CLI_NUM_SIZE];
    char lost[CLI_NUM_SIZE], low[CLI_NUM_SIZE], last[CLI_NUM_SIZE], sm[CLI_NUM_SIZE];
    char fb[CLI_NUM_SIZE], ins[CLI_NUM_SIZE];
    const struct rpos *l = &rp->pos[0], *sh = &rp->pos[1];
    int64_t m = 0;

    if (rp->npos != 2 || l->end_type != MARGIN_EV_LIQUIDATION || sh->end_type != 0)
        return;
    margin_position_get(rp->e, sh->id, MARGIN_POS_MARGIN, &m);
    cli_num(margin, l->open_margin, MARGIN_MONEY_SCALE);
    cli_num(bp, l->end_bp, 8);
    cli_num(at, l->end_mark, 8);
    cli_num(liq, l->end_liq, 8);
    cli_num(lost, -l->end_pnl, MARGIN_MONEY_SCALE);
    cli_num(low, low_mark(rp), 8);
    cli_num(last, rp->cur_mark, 8);
    cli_num(sm, m, MARGIN_MONEY_SCALE);
    cli_num(fb, free_end, MARGIN_MONEY_SCALE);
    printf("\nWhat happened:\n");
    printf("  - The long's %s USDT of margin could absorb a fall to %s (its bankruptcy price).\n",
           margin, bp);
    printf("  - The engine %sliquidated it at %s,\n"
           "    the first mark at or below its liquidation price %s, before the margin ran out.\n",
           l->calls ? "warned (margin call), then " : "", at, liq);
    printf("  - The holder lost exactly its %s USDT of margin and no more, although the price\n"
           "    went on down to %s; the rebound to %s came too late: liquidation is final.\n",
           lost, low, last);
    printf("  - What the close at %s left above the bankruptcy price, %s USDT, went to the\n"
           "    insurance fund (it pays when a price gaps past the bankruptcy price).\n",
           at, sgn(ins, l->end_ins));
    if (m == sh->open_margin && free_end == rp->free_after_open)
        printf("  - The short kept its %s USDT of margin and the %s USDT free balance was not\n"
               "    touched: that is what isolated margin means.\n",
               sm, fb);
}

static void print_summary_text(const struct replay *rp)
{
    char b1[CLI_NUM_SIZE], b2[CLI_NUM_SIZE], b3[CLI_NUM_SIZE], b4[CLI_NUM_SIZE];
    int64_t free_end = acct(rp, MARGIN_ACCT_FREE_BALANCE), liq = 0, closed = 0;
    size_t i;

    printf("\nSummary after %lld marks (last mark %s):\n", (long long)rp->marks,
           cli_num(b1, rp->cur_mark, 8));
    for (i = 0; i < rp->npos; i++) {
        const struct rpos *p = &rp->pos[i];
        const char *side = p->sp.side == MARGIN_LONG ? "long " : "short";

        if (p->end_type == MARGIN_EV_LIQUIDATION) {
            liq++;
            printf("  #%llu %s  liquidated at %s (mark %s): lost its margin, PnL %s, and no "
                   "more\n",
                   (unsigned long long)p->id, side, time_text(rp, p->end_time),
                   cli_num(b1, p->end_mark, 8), sgn(b2, p->end_pnl));
        } else if (p->end_type) {
            closed++;
            printf("  #%llu %s  closed by its %s at %s (mark %s): PnL %s\n",
                   (unsigned long long)p->id, side,
                   p->end_type == MARGIN_EV_STOP_LOSS ? "stop-loss" : "take-profit",
                   time_text(rp, p->end_time), cli_num(b1, p->end_mark, 8),
                   sgn(b2, p->end_pnl));
        } else {
            int64_t m = 0, upnl = 0, lp = 0;
            margin_position_get(rp->e, p->id, MARGIN_POS_MARGIN, &m);
            margin_position_get(rp->e, p->id, MARGIN_POS_LIQ_PRICE, &lp);
            margin_position_at(rp->e, p->id, MARGIN_AT_UNREALIZED_PNL, 0, &upnl);
            printf("  #%llu %s  still open: margin %s%s, unrealized PnL %s, liquidation price "
                   "%s\n",
                   (unsigned long long)p->id, side, cli_num(b1, m, MARGIN_MONEY_SCALE),
                   m == p->open_margin ? " (as opened)" : "", sgn(b2, upnl),
                   price_or_none(b3, lp));
        }
    }
    printf("  free balance: %s after opening, %s now", cli_num(b1, rp->free_after_open, 8),
           cli_num(b2, free_end, 8));
    if (free_end == rp->free_after_open && liq > 0 && closed == 0)
        printf(": untouched, isolation held (a liquidation takes only that position's "
               "margin)\n");
    else
        printf("\n");
    printf("  realized PnL %s, fees %s, funding %s, insurance fund %s\n",
           sgn(b1, acct(rp, MARGIN_ACCT_REALIZED_PNL)),
           cli_num(b2, acct(rp, MARGIN_ACCT_FEES), MARGIN_MONEY_SCALE),
           sgn(b3, acct(rp, MARGIN_ACCT_FUNDING)),
           sgn(b4, eng(rp, MARGIN_ENG_INSURANCE_FUND)));
    if (rp->a->demo)
        print_demo_moral(rp, free_end);
}

int cli_cmd_replay(int argc, char **argv)
{
    struct replay_args a;
    struct replay rp;
    struct cli_tier tiers[CLI_MAX_TIERS];
    size_t ntiers = 0, i;
    int status = CLI_EXIT_OK, rc;

    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage_replay(stdout);
            return CLI_EXIT_OK;
        }
    }
    memset(&a, 0, sizeof a);
    memset(&rp, 0, sizeof rp);
    rp.a = &a;
    a.specs = calloc((size_t)argc + 2, sizeof *a.specs);
    if (!a.specs) {
        cli_error(CMD, "out of memory");
        return CLI_EXIT_FAIL;
    }
    if (parse_args(argc, argv, &a) != 0) {
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (a.nspecs == 0) {
        for (i = 0; i < sizeof demo_positions / sizeof demo_positions[0]; i++)
            a.specs[a.nspecs++] = demo_positions[i];
    }
    rp.pos = calloc(a.nspecs, sizeof *rp.pos);
    if (!rp.pos) {
        cli_error(CMD, "out of memory");
        status = CLI_EXIT_FAIL;
        goto out;
    }
    rp.npos = a.nspecs;
    for (i = 0; i < a.nspecs; i++) {
        if (parse_spec(a.specs[i], &rp.pos[i].sp) != 0) {
            status = CLI_EXIT_USAGE;
            goto out;
        }
    }
    if (a.tiers && cli_read_tiers(CMD, a.tiers, tiers, &ntiers) != 0) {
        status = CLI_EXIT_USAGE;
        goto out;
    }
    status = a.prices ? read_prices(a.prices, &rp.s) : demo_prices(&rp.s);
    if (status != 0)
        goto out;
    if (rp.s.timew < 4)
        rp.s.timew = 4;
    rp.first_mark = rp.s.rows[0].mark[0];
    rp.cur_mark = rp.first_mark;

    rc = margin_engine_new(&rp.e);
    if (rc != MARGIN_OK) {
        cli_error(CMD, "cannot create an engine: %s", margin_strerror(rc));
        status = CLI_EXIT_FAIL;
        goto out;
    }
    if (a.nlevels > 0) {
        rc = margin_engine_set_margin_call_levels(rp.e, a.levels, a.nlevels);
        if (rc != MARGIN_OK) {
            cli_engine_fail(CMD, "--margin-call", rp.e, rc);
            status = CLI_EXIT_USAGE;
            goto out;
        }
    }
    rp.tiers = tiers;
    rp.ntiers = ntiers;
    for (i = 0; i < rp.npos; i++) {
        status = setup_market(&rp, i);
        if (status != 0)
            goto out;
    }
    rc = margin_engine_set(rp.e, MARGIN_ENG_TIME, 1);
    if (rc != MARGIN_OK) {
        status = cli_engine_fail(CMD, "setting the time", rp.e, rc);
        goto out;
    }
    status = open_positions(&rp);
    if (status != 0)
        goto out;

    /* From here on the run prints as it goes. */
    if (!a.json)
        print_intro(&rp);
    drain(&rp);
    status = run_marks(&rp);
    if (status != 0)
        goto out;
    if (a.json)
        print_summary_json(&rp);
    else
        print_summary_text(&rp);
    if (fflush(stdout) != 0)
        status = CLI_EXIT_FAIL;
out:
    margin_engine_free(rp.e);
    series_free(&rp.s);
    free(rp.pos);
    free(a.specs);
    return status;
}
