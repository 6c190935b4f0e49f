/* Charts of `margin replay` (issue 16): --svg FILE writes a plain SVG chart, --html FILE one
 * self-contained page with the chart, the table of events and the summary.
 *
 * The replay gives the chart its rows (time text and marks), one series per position with
 * the position's figures sampled from the library after every row, and every event. The
 * writer uses no floating point: coordinates are computed in hundredths of a pixel with
 * margin_dec_div() and written with two decimals, so the same input gives the same bytes.
 *
 * The price panel's scale (written into the SVG's <desc> and as data- attributes of
 * <g class="panel price">: data-x0, data-x1, data-y0, data-y1, data-rows, data-pmin,
 * data-pmax):
 *   x of row i (0-based) of N rows  = x0 + i * (x1 - x0) / (N - 1)   (N = 1: (x0 + x1) / 2)
 *   y of price p                    = y1 - (p - pmin) * (y1 - y0) / (pmax - pmin)
 * both rounded to 0.01 px. An event's marker, <g class="event TYPE" data-seq="N"
 * data-position="ID" transform="translate(X Y)"> (data-run="isolated|cross" with
 * --demo contrast), sits at the x of its row (its engine time, the row number) and the y
 * of its mark (the "mark" of its --json line). */
#ifndef MARGIN_TOOLS_CHART_H
#define MARGIN_TOOLS_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The figures of one open position after a row, as the library computes them. */
struct chart_fig {
    int64_t entry, liq, bp, stop, take; /* price units; 0: none */
    int64_t balance;                    /* margin balance, money */
    int64_t ratio;                      /* margin ratio, rate scale; INT64_MAX: balance <= 0 */
};

struct chart;

/* A new, empty chart of prices at @p price_scale; NULL when out of memory. */
struct chart *chart_new(int32_t price_scale);
void chart_free(struct chart *ch);

/* Title of the chart and of the page (copied). 0, or -1 when out of memory. */
int chart_set_title(struct chart *ch, const char *title);

/* Append a row: its time text (copied) and its 1 to 4 marks, in the order applied. */
int chart_add_row(struct chart *ch, const char *time, const int64_t *marks, int n);
size_t chart_rows(const struct chart *ch);

/* The margin-call levels (rate scale), drawn in the margin-ratio panel. */
void chart_set_levels(struct chart *ch, const int64_t *levels, size_t n);

/* Name a run (--demo contrast: "isolated", "cross"); returns its index, or -1. Events and
 * series of run -1 belong to the only run, unnamed. */
int chart_add_run(struct chart *ch, const char *name);

/* Add a position's series (after every row is added); *index is its number. 0 or -1. */
int chart_add_series(struct chart *ch, int run, uint64_t position, const char *label,
                     size_t *index);

/* The figures of series @p s after row @p row, or NULL once the position is closed (the
 * last figures then stay drawn up to that row: the row where it closed). */
void chart_sample(struct chart *ch, size_t s, size_t row, const struct chart_fig *fig);

/* An event: its --json seq, type name ("liquidation"), position id, row (engine time - 1)
 * and mark, and for the page the text log's position, event name and details (copied). */
int chart_add_event(struct chart *ch, int run, long seq, const char *type, uint64_t position,
                    size_t row, int64_t mark, const char *pos, const char *name,
                    const char *details);

/* Write the SVG document; the HTML page with @p summary (plain text, may be NULL) below the
 * events. 0, or -1 on a write error. */
int chart_write_svg(const struct chart *ch, FILE *f);
int chart_write_html(const struct chart *ch, FILE *f, const char *summary);

#endif
