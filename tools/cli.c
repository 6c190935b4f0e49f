/* Shared helpers of the `margin` command-line tool (see cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "margin %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_error(cmd, "%s: missing value", name);
        return -1;
    }
    *i += 1;
    *value = argv[*i];
    return 1;
}

int cli_parse_dec(const char *cmd, const char *what, const char *s, int32_t scale,
                  int64_t *out)
{
    int64_t v = 0;
    int rc = margin_dec_parse(s, scale, &v);

    switch (rc) {
    case MARGIN_OK:
        *out = v;
        return 0;
    case MARGIN_ERANGE:
        cli_error(cmd, "%s: '%s' has more than %d decimal places", what, s, (int)scale);
        return -1;
    case MARGIN_EOVERFLOW:
        cli_error(cmd, "%s: '%s' is too large", what, s);
        return -1;
    default:
        cli_error(cmd, "%s: '%s' is not a plain decimal number", what, s);
        return -1;
    }
}

int cli_parse_pos(const char *cmd, const char *what, const char *s, int32_t scale,
                  int64_t *out)
{
    int64_t v = 0;

    if (cli_parse_dec(cmd, what, s, scale, &v) != 0)
        return -1;
    if (v <= 0) {
        cli_error(cmd, "%s: '%s' must be greater than 0", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_rate(const char *cmd, const char *what, const char *s, int lo_strict,
                   int64_t *out)
{
    int64_t v = 0;

    if (cli_parse_dec(cmd, what, s, MARGIN_RATE_SCALE, &v) != 0)
        return -1;
    if (v < 0 || (lo_strict && v == 0) || v >= 100000000) {
        cli_error(cmd, "%s: '%s' must be %s 0 and below 1", what, s,
                  lo_strict ? "above" : "at least");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_side(const char *cmd, const char *what, const char *s, int32_t *out)
{
    if (strcmp(s, "long") == 0) {
        *out = MARGIN_LONG;
    } else if (strcmp(s, "short") == 0) {
        *out = MARGIN_SHORT;
    } else {
        cli_error(cmd, "%s: '%s' is not long or short", what, s);
        return -1;
    }
    return 0;
}

const char *cli_num(char *buf, int64_t v, int32_t scale)
{
    if (margin_dec_format(v, scale, buf, CLI_NUM_SIZE) != MARGIN_OK)
        snprintf(buf, CLI_NUM_SIZE, "?");
    return buf;
}

const char *cli_pct(char *buf, int64_t rate)
{
    return cli_num(buf, rate, MARGIN_RATE_SCALE - 2);
}

void cli_json_str(FILE *f, const char *s)
{
    const unsigned char *p;

    fputc('"', f);
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", (unsigned)*p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cli_lines_init(struct cli_lines *r, FILE *f)
{
    r->f = f;
    r->buf = NULL;
    r->cap = 0;
    r->lineno = 0;
}

void cli_lines_free(struct cli_lines *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

int cli_lines_next(struct cli_lines *r, char **line)
{
    size_t len = 0;
    int c;

    for (;;) {
        c = getc(r->f);
        if (c == EOF) {
            if (ferror(r->f))
                return -1;
            if (len == 0)
                return 0;
            break;
        }
        if (len + 2 > r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 256;
            char *nb = realloc(r->buf, ncap);
            if (!nb)
                return -1;
            r->buf = nb;
            r->cap = ncap;
        }
        if (c == '\n')
            break;
        r->buf[len++] = (char)c;
    }
    if (len > 0 && r->buf[len - 1] == '\r')
        len--;
    r->buf[len] = '\0'; /* the buffer was grown before any character or newline */
    r->lineno++;
    *line = r->buf;
    return 1;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    return s;
}

size_t cli_split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n < max)
            fields[n] = trim(p);
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

int cli_copy_symbol(const char *cmd, const char *what, const char *s, char *sym)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CLI_SYM_SIZE) {
        cli_error(cmd, "%s: '%s' must have 1 to %d characters", what, s,
                  CLI_SYM_SIZE - 1);
        return -1;
    }
    memcpy(sym, s, n + 1);
    return 0;
}

int cli_split_kv(const char *cmd, const char *opt, const char *text, char *buf, size_t size,
                 char **keys, char **vals, size_t max)
{
    size_t n, i;

    if (strlen(text) >= size) {
        cli_error(cmd, "%s: '%s' is too long", opt, text);
        return -1;
    }
    memcpy(buf, text, strlen(text) + 1);
    n = cli_split(buf, keys, max);
    if (n > max) {
        cli_error(cmd, "%s '%s': too many keys", opt, text);
        return -1;
    }
    for (i = 0; i < n; i++) {
        char *eq = strchr(keys[i], '=');
        if (!eq) {
            cli_error(cmd, "%s '%s': '%s' is not key=value", opt, text, keys[i]);
            return -1;
        }
        *eq = '\0';
        vals[i] = eq + 1;
    }
    return (int)n;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

int cli_read_tiers(const char *cmd, const char *path, struct cli_tier *tiers, size_t *n)
{
    FILE *f;
    struct cli_lines r;
    char *line;
    size_t count = 0;
    int seen_first = 0, rc, status = 0;
    char what[512];

    f = fopen(path, "r");
    if (!f) {
        cli_error(cmd, "--tiers %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    cli_lines_init(&r, f);
    while ((rc = cli_lines_next(&r, &line)) == 1) {
        char *fields[4];
        size_t nf;
        char *hash = strchr(line, '#');
        struct cli_tier t;
        int64_t probe;

        if (hash)
            *hash = '\0';
        if (blank(line))
            continue;
        nf = cli_split(line, fields, 4);
        if (!seen_first) {
            seen_first = 1;
            /* A first line whose first field is not a number is the header. */
            if (margin_dec_parse(fields[0], MARGIN_MAX_SCALE, &probe) == MARGIN_EPARSE)
                continue;
        }
        if (nf < 2 || nf > 3) {
            cli_error(cmd, "--tiers %s: line %ld: expected floor_notional,mmr[,maintenance_amount]",
                      path, r.lineno);
            status = -1;
            break;
        }
        snprintf(what, sizeof what, "--tiers %s: line %ld: floor_notional", path, r.lineno);
        if (cli_parse_dec(cmd, what, fields[0], MARGIN_MONEY_SCALE, &t.floor) != 0) {
            status = -1;
            break;
        }
        snprintf(what, sizeof what, "--tiers %s: line %ld: mmr", path, r.lineno);
        if (cli_parse_rate(cmd, what, fields[1], 1, &t.mmr) != 0) {
            status = -1;
            break;
        }
        t.amount = MARGIN_DERIVE;
        if (nf == 3 && fields[2][0] != '\0') {
            snprintf(what, sizeof what, "--tiers %s: line %ld: maintenance_amount", path,
                     r.lineno);
            if (cli_parse_dec(cmd, what, fields[2], MARGIN_MONEY_SCALE, &t.amount) != 0) {
                status = -1;
                break;
            }
        }
        if (t.floor < 0) {
            cli_error(cmd, "--tiers %s: line %ld: floor_notional must not be negative", path,
                      r.lineno);
            status = -1;
            break;
        }
        if (count == 0 && t.floor != 0) {
            cli_error(cmd, "--tiers %s: line %ld: the first tier's floor_notional must be 0",
                      path, r.lineno);
            status = -1;
            break;
        }
        if (count > 0 && t.floor <= tiers[count - 1].floor) {
            cli_error(cmd, "--tiers %s: line %ld: floors must increase", path, r.lineno);
            status = -1;
            break;
        }
        if (count >= CLI_MAX_TIERS) {
            cli_error(cmd, "--tiers %s: line %ld: more than %d tiers", path, r.lineno,
                      CLI_MAX_TIERS);
            status = -1;
            break;
        }
        t.lineno = r.lineno;
        tiers[count++] = t;
    }
    if (status == 0 && rc < 0) {
        cli_error(cmd, "--tiers %s: read error", path);
        status = -1;
    }
    if (status == 0 && count == 0) {
        cli_error(cmd, "--tiers %s: no tiers in the file", path);
        status = -1;
    }
    cli_lines_free(&r);
    fclose(f);
    if (status == 0)
        *n = count;
    return status;
}

int cli_apply_tiers(const char *cmd, const char *path, margin_engine *e, uint64_t market,
                    const struct cli_tier *tiers, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int rc = margin_market_add_tier(e, market, tiers[i].floor, tiers[i].mmr, 0,
                                        tiers[i].amount);
        if (rc != MARGIN_OK) {
            cli_error(cmd, "--tiers %s: line %ld: tier refused: %s", path, tiers[i].lineno,
                      margin_errmsg(e));
            return rc == MARGIN_EOVERFLOW ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
        }
    }
    return 0;
}

int cli_engine_fail(const char *cmd, const char *what, const margin_engine *e, int rc)
{
    const char *msg = margin_errmsg(e);

    if (!msg || !*msg)
        msg = margin_strerror(rc);
    cli_error(cmd, "%s: %s", what, msg);
    return CLI_EXIT_FAIL;
}

/* ------------------------------------------------------------------ inverse contracts */

__extension__ typedef __int128 cli_i128;

/* *v *= 10^n; -1 on overflow. */
static int mul_pow10(cli_i128 *v, int n)
{
    for (; n > 0; n--)
        if (__builtin_mul_overflow(*v, (cli_i128)10, v))
            return -1;
    return 0;
}

/* (a * b * 10^(up10 - down10)) / den for a, b, den > 0, rounded up or down. */
static int muldiv(int64_t a, int64_t b, int up10, int down10, int64_t den, int up,
                  int64_t *out)
{
    cli_i128 num = (cli_i128)a * (cli_i128)b, d = den, q;

    if (a <= 0 || b <= 0 || den <= 0)
        return MARGIN_EINVAL;
    if (up10 > down10) {
        if (mul_pow10(&num, up10 - down10) != 0)
            return MARGIN_EOVERFLOW;
    } else if (mul_pow10(&d, down10 - up10) != 0) {
        return MARGIN_EOVERFLOW;
    }
    q = num / d;
    if (up && num % d != 0)
        q++;
    if (q > INT64_MAX)
        return MARGIN_EOVERFLOW;
    *out = (int64_t)q;
    return MARGIN_OK;
}

int cli_inverse_value(int64_t k, int32_t qs, int64_t csize, int64_t price, int32_t ps, int up,
                      int64_t *out)
{
    /* value = K*C/P: in units, k*c*10^(ps - qs) / p (money and C at the same scale) */
    return muldiv(k, csize, ps, qs, price, up, out);
}

int cli_inverse_contracts(int64_t value, int64_t price, int32_t ps, int64_t csize, int32_t qs,
                          int64_t *out)
{
    /* K = V*P/C: in units, v*p*10^(qs - ps) / c */
    return muldiv(value, price, qs, ps, csize, 0, out);
}
