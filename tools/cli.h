/* Shared helpers of the `margin` command-line tool: argument parsing, exact decimal input
 * and output, JSON output, CSV line reading and maintenance-tier files.
 *
 * Every number goes through margin_dec_parse() and margin_dec_format(): there is no
 * floating point anywhere in the tool. Exit statuses: 0 success, 1 computation error
 * (an engine call failed, e.g. overflow), 2 bad arguments or bad input files. */
#ifndef MARGIN_TOOLS_CLI_H
#define MARGIN_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "margin.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* computation error */
#define CLI_EXIT_USAGE 2 /* bad argument or input file */

/* Size of a buffer that holds any formatted number (margin_dec_format needs 42). */
#define CLI_NUM_SIZE 48

/* Largest number of maintenance tiers an engine market holds. */
#define CLI_MAX_TIERS 32

/* The subcommands (argv[0] is the subcommand's name). */
int cli_cmd_calc(int argc, char **argv);
int cli_cmd_replay(int argc, char **argv);
void cli_usage_calc(FILE *f);
void cli_usage_replay(FILE *f);

/* Print "margin CMD: message" and a newline on stderr. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void cli_error(const char *cmd, const char *fmt, ...);

/* Match argv[*i] against option @p name, accepting "--name VALUE" and "--name=VALUE".
 * Returns 1 and sets *value (advancing *i past a separate value) on a match, 0 when
 * argv[*i] is another option, -1 (after printing an error) when the value is missing. */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char **value);

/* Parse decimal @p s at @p scale for option or field @p what. On failure print
 * "margin CMD: WHAT: ..." and return -1; 0 on success. */
int cli_parse_dec(const char *cmd, const char *what, const char *s, int32_t scale,
                  int64_t *out);

/* Parse a decimal that must be > 0. */
int cli_parse_pos(const char *cmd, const char *what, const char *s, int32_t scale,
                  int64_t *out);

/* Parse a rate that must satisfy lo <= r < 1 (lo_strict: lo < r). Rates are at scale 8. */
int cli_parse_rate(const char *cmd, const char *what, const char *s, int lo_strict,
                   int64_t *out);

/* Parse "long" or "short" into MARGIN_LONG or MARGIN_SHORT. On failure print
 * "margin CMD: WHAT: 'S' is not long or short" and return -1; 0 on success. */
int cli_parse_side(const char *cmd, const char *what, const char *s, int32_t *out);

/* Size of a buffer that holds a market symbol (1 to 31 characters). */
#define CLI_SYM_SIZE 32

/* Copy market symbol @p s into @p sym (CLI_SYM_SIZE bytes). On failure (empty or too long)
 * print "margin CMD: WHAT: ..." and return -1; 0 on success. */
int cli_copy_symbol(const char *cmd, const char *what, const char *s, char *sym);

/* Split @p text, a comma-separated list of key=value pairs given to option @p opt, into
 * @p keys and @p vals (at most @p max pairs, pointing into @p buf, a copy of @p text of
 * @p size bytes). On failure (too long, too many pairs, a field without '=') print
 * "margin CMD: OPT ..." and return -1; else return the number of pairs. */
int cli_split_kv(const char *cmd, const char *opt, const char *text, char *buf, size_t size,
                 char **keys, char **vals, size_t max);

/* Format @p v at @p scale (shortest exact decimal, no exponent) into @p buf and return buf. */
const char *cli_num(char *buf, int64_t v, int32_t scale);

/* Format a rate at scale 8 as a percentage (exact): 84000000 -> "84". */
const char *cli_pct(char *buf, int64_t rate);

/* Write @p s as a JSON string literal (with quotes and escapes). */
void cli_json_str(FILE *f, const char *s);

/* Line reader that handles lines of any length and strips "\n" and "\r\n". */
struct cli_lines {
    FILE *f;
    char *buf;
    size_t cap;
    long lineno; /* number of the line last returned, from 1 */
};
void cli_lines_init(struct cli_lines *r, FILE *f);
void cli_lines_free(struct cli_lines *r);
/* 1: *line is the next line (valid until the next call); 0: end of file; -1: read error or
 * out of memory. */
int cli_lines_next(struct cli_lines *r, char **line);

/* Split @p line in place at commas, trimming spaces and tabs around each field. Fills at
 * most @p max fields and returns the number of fields in the line. */
size_t cli_split(char *line, char **fields, size_t max);

/* One maintenance tier read from a tiers file. amount is MARGIN_DERIVE when not given. */
struct cli_tier {
    int64_t floor;  /* money */
    int64_t mmr;    /* rate */
    int64_t amount; /* money, or MARGIN_DERIVE */
    long lineno;    /* line of the file, for messages */
};

/* Read a tiers file: CSV lines `floor_notional,mmr[,maintenance_amount]`, blank lines and
 * `#` comments allowed, and one header line (a first line whose first field is not a
 * number). On error print "margin CMD: --tiers PATH: line N: ..." and return -1. */
int cli_read_tiers(const char *cmd, const char *path, struct cli_tier *tiers, size_t *n);

/* Replace the tiers of @p market by @p tiers (max leverage per tier: the market's). On an
 * engine refusal print a message naming --tiers PATH and the line and return the exit
 * status to use (2, or 1 for overflow); 0 on success. */
int cli_apply_tiers(const char *cmd, const char *path, margin_engine *e, uint64_t market,
                    const struct cli_tier *tiers, size_t n);

/* Print an engine failure "margin CMD: WHAT: errmsg" and return the exit status for @p rc:
 * 1 (computation error). */
int cli_engine_fail(const char *cmd, const char *what, const margin_engine *e, int rc);

/* Inverse (coin-margined) contracts: N = K * C quote units for K contracts (at quantity
 * scale @p qs) of C quote units each (@p csize, at MARGIN_MONEY_SCALE), P a price at scale
 * @p ps. All of K, C and P must be > 0; computed exactly in 128 bits, rounded once.
 *
 * cli_inverse_value: the value N / P in the coin, money at MARGIN_MONEY_SCALE, rounded up
 * when @p up, else down. cli_inverse_contracts: the contracts V * P / C of a value @p value
 * in the coin (money), at scale @p qs, rounded down. MARGIN_OK, or MARGIN_EOVERFLOW when
 * the result does not fit in int64_t (*out untouched). */
int cli_inverse_value(int64_t k, int32_t qs, int64_t csize, int64_t price, int32_t ps, int up,
                      int64_t *out);
int cli_inverse_contracts(int64_t value, int64_t price, int32_t ps, int64_t csize, int32_t qs,
                          int64_t *out);

#endif
