/* The SVG chart and the HTML page of `margin replay --svg / --html` (see chart.h).
 *
 * Layout, top to bottom: the title; the price panel (the mark path, the rows' high-low
 * range where a row has several marks or a pixel column several rows, every position's
 * entry, liquidation, bankruptcy, stop-loss and take-profit lines, the event markers);
 * the time labels; the legend; the margin-balance panel; the margin-ratio panel with the
 * margin-call levels; the time labels again. Beyond one row per pixel column, rows are
 * grouped by column: the range covers the group's marks, the lines take the group's last
 * sample. Text goes through esc() (XML escapes, control characters and bytes that are not
 * UTF-8 replaced by '?'), so that any CSV's time text keeps the document well-formed. */
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "cli.h"

#define SVG_W 960
#define X0 84  /* the panels' left edge */
#define X1 940 /* and right edge */
#define PW (X1 - X0)
#define PRICE_TOP 66
#define PRICE_H 360
#define LOWER_H 130
#define LINE_H 18     /* a legend line */
#define CHAR_W 6      /* estimated width of a character at font-size 11 */
#define RATE_ONE 100000000LL
#define MAX_RUNS 4
#define MAX_LEVELS 8
#define NKINDS 7

/* Figures of a series, by kind: the five price lines, then the lower panels. */
enum { K_ENTRY, K_LIQ, K_BP, K_STOP, K_TAKE, K_BALANCE, K_RATIO };

struct crow {
    char *time;
    int64_t mark[4];
    int n;
};

struct cser {
    int run;
    uint64_t id;
    char *label;
    struct chart_fig *fig; /* per row */
    unsigned char *has;    /* per row: fig[row] is drawn */
    struct chart_fig last;
    int live; /* the last sample was of an open position */
};

struct cevent {
    int run;
    long seq;
    char type[24];
    uint64_t position;
    size_t row;
    int64_t mark;
    char *pos, *name, *details;
};

struct chart {
    int32_t ps;
    char *title;
    struct crow *rows;
    size_t nrows, caprows;
    int64_t levels[MAX_LEVELS];
    size_t nlevels;
    char *runs[MAX_RUNS];
    int nruns;
    struct cser *ser;
    size_t nser, capser;
    struct cevent *ev;
    size_t nev, capev;
};

/* The axes and panel positions of one drawing. */
struct layout {
    int64_t pmin, pmax, pstep; /* price panel, price units */
    int64_t bmin, bmax, bstep; /* balance panel, money */
    int64_t rtop, rstep;       /* ratio panel, rate scale, from 0 */
    int py1, legend_y, by0, by1, ry0, ry1, height;
    size_t nb; /* columns (groups of rows) */
    int range; /* draw the high-low range */
};

/* ------------------------------------------------------------------ building */

static char *dup_text(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

struct chart *chart_new(int32_t price_scale)
{
    struct chart *ch = calloc(1, sizeof *ch);
    if (ch)
        ch->ps = price_scale;
    return ch;
}

void chart_free(struct chart *ch)
{
    size_t i;
    int r;

    if (!ch)
        return;
    for (i = 0; i < ch->nrows; i++)
        free(ch->rows[i].time);
    free(ch->rows);
    for (i = 0; i < ch->nser; i++) {
        free(ch->ser[i].label);
        free(ch->ser[i].fig);
        free(ch->ser[i].has);
    }
    free(ch->ser);
    for (i = 0; i < ch->nev; i++) {
        free(ch->ev[i].pos);
        free(ch->ev[i].name);
        free(ch->ev[i].details);
    }
    free(ch->ev);
    for (r = 0; r < ch->nruns; r++)
        free(ch->runs[r]);
    free(ch->title);
    free(ch);
}

int chart_set_title(struct chart *ch, const char *title)
{
    char *t = dup_text(title);
    if (!t)
        return -1;
    free(ch->title);
    ch->title = t;
    return 0;
}

/* Make room for one more element of @p size in *items (count *n, capacity *cap). */
static int grow(void **items, size_t n, size_t *cap, size_t size)
{
    void *p;
    size_t ncap;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 64;
    p = realloc(*items, ncap * size);
    if (!p)
        return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

int chart_add_row(struct chart *ch, const char *time, const int64_t *marks, int n)
{
    struct crow *r;
    int k;

    if (n < 1 || n > 4 || ch->nser > 0)
        return -1;
    if (grow((void **)&ch->rows, ch->nrows, &ch->caprows, sizeof *ch->rows) != 0)
        return -1;
    r = &ch->rows[ch->nrows];
    r->time = dup_text(time);
    if (!r->time)
        return -1;
    for (k = 0; k < n; k++)
        r->mark[k] = marks[k];
    r->n = n;
    ch->nrows++;
    return 0;
}

size_t chart_rows(const struct chart *ch)
{
    return ch->nrows;
}

void chart_set_levels(struct chart *ch, const int64_t *levels, size_t n)
{
    size_t i;

    ch->nlevels = n < MAX_LEVELS ? n : MAX_LEVELS;
    for (i = 0; i < ch->nlevels; i++)
        ch->levels[i] = levels[i];
}

int chart_add_run(struct chart *ch, const char *name)
{
    if (ch->nruns == MAX_RUNS || !(ch->runs[ch->nruns] = dup_text(name)))
        return -1;
    return ch->nruns++;
}

int chart_add_series(struct chart *ch, int run, uint64_t position, const char *label,
                     size_t *index)
{
    struct cser *s;
    size_t n = ch->nrows ? ch->nrows : 1;

    if (grow((void **)&ch->ser, ch->nser, &ch->capser, sizeof *ch->ser) != 0)
        return -1;
    s = &ch->ser[ch->nser];
    memset(s, 0, sizeof *s);
    s->run = run;
    s->id = position;
    s->label = dup_text(label);
    s->fig = calloc(n, sizeof *s->fig);
    s->has = calloc(n, 1);
    if (!s->label || !s->fig || !s->has) {
        free(s->label);
        free(s->fig);
        free(s->has);
        return -1;
    }
    *index = ch->nser++;
    return 0;
}

void chart_sample(struct chart *ch, size_t s, size_t row, const struct chart_fig *fig)
{
    struct cser *c;

    if (s >= ch->nser || row >= ch->nrows)
        return;
    c = &ch->ser[s];
    if (fig) {
        c->last = *fig;
        c->live = 1;
    } else if (!c->live) {
        return; /* closed before this row */
    } else {
        c->live = 0; /* closed in this row: its last figures reach it */
    }
    c->fig[row] = c->last;
    c->has[row] = 1;
}

int chart_add_event(struct chart *ch, int run, long seq, const char *type, uint64_t position,
                    size_t row, int64_t mark, const char *pos, const char *name,
                    const char *details)
{
    struct cevent *e;

    if (grow((void **)&ch->ev, ch->nev, &ch->capev, sizeof *ch->ev) != 0)
        return -1;
    e = &ch->ev[ch->nev];
    memset(e, 0, sizeof *e);
    e->run = run;
    e->seq = seq;
    snprintf(e->type, sizeof e->type, "%s", type);
    e->position = position;
    e->row = row;
    e->mark = mark;
    e->pos = dup_text(pos);
    e->name = dup_text(name);
    e->details = dup_text(details);
    if (!e->pos || !e->name || !e->details) {
        free(e->pos);
        free(e->name);
        free(e->details);
        return -1;
    }
    ch->nev++;
    return 0;
}

/* ------------------------------------------------------------------ text and numbers */

/* Length of the UTF-8 sequence at @p s, or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (i = 1; i < n; i++) {
        if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF))
            return 0;
    }
    return n;
}

/* Write @p s as XML character data or attribute text. */
static void esc(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_len(p);

        if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n')) {
            fputc('?', f);
            p++;
            continue;
        }
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fwrite(p, 1, n, f);
            break;
        }
        p += n;
    }
}

/* Characters of @p s (UTF-8), for the estimated width of a label. */
static int text_w(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n * CHAR_W;
}

/* A coordinate in hundredths of a pixel, written with two decimals. */
static void px(FILE *f, int64_t c)
{
    if (c < 0)
        c = 0;
    fprintf(f, "%lld.%02lld", (long long)(c / 100), (long long)(c % 100));
}

/* (v - lo) / (hi - lo) * len in hundredths, v clamped to [lo, hi]; half of len when
 * hi <= lo. Exact to 1e-9 of the length before rounding. */
static int64_t frac_centi(int64_t v, int64_t lo, int64_t hi, int64_t len)
{
    int64_t frac = 0, num, den;

    if (hi <= lo)
        return len * 50;
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    if (__builtin_sub_overflow(v, lo, &num) || __builtin_sub_overflow(hi, lo, &den) ||
        margin_dec_div(num, 0, den, 0, 9, MARGIN_ROUND_HALF_EVEN, &frac) != MARGIN_OK)
        return 0;
    return (frac * len * 100 + 500000000) / 1000000000;
}

static int64_t x_of(const struct chart *ch, size_t row)
{
    return X0 * 100 + frac_centi((int64_t)row, 0, (int64_t)ch->nrows - 1, PW);
}

static int64_t y_of(int64_t v, int64_t lo, int64_t hi, int y0, int y1)
{
    return (int64_t)y1 * 100 - frac_centi(v, lo, hi, y1 - y0);
}

/* The smallest of 1, 2, 5 times a power of 10 with @p target steps covering @p range. */
static int64_t nice_step(int64_t range, int target)
{
    static const int64_t m[3] = {1, 2, 5};
    int64_t base = 1;
    int k;

    for (;;) {
        for (k = 0; k < 3; k++) {
            if (base > INT64_MAX / 5 / target)
                return range > 0 ? range : 1;
            if (m[k] * base * target >= range)
                return m[k] * base;
        }
        base *= 10;
    }
}

static int64_t floor_to(int64_t v, int64_t s)
{
    int64_t q = v / s;
    if (v % s != 0 && v < 0)
        q--;
    return q * s;
}

static int64_t ceil_to(int64_t v, int64_t s)
{
    int64_t q = v / s;
    if (v % s != 0 && v > 0)
        q++;
    return q * s;
}

/* An axis from lo to hi: rounded out to a step of about @p target intervals. */
static void axis(int64_t lo, int64_t hi, int target, int64_t *a, int64_t *b, int64_t *step)
{
    if (hi <= lo) {
        int64_t d = (lo > 0 ? lo : -lo) / 100;
        if (d < 1)
            d = 1;
        lo -= d;
        hi += d;
    }
    *step = nice_step(hi - lo, target);
    *a = floor_to(lo, *step);
    *b = ceil_to(hi, *step);
    if (*a == *b)
        *b = *a + *step;
}

static int64_t fig_value(const struct chart_fig *g, int kind)
{
    switch (kind) {
    case K_ENTRY:
        return g->entry;
    case K_LIQ:
        return g->liq;
    case K_BP:
        return g->bp;
    case K_STOP:
        return g->stop;
    case K_TAKE:
        return g->take;
    case K_BALANCE:
        return g->balance;
    default:
        return g->ratio;
    }
}

/* First row of column @p b. */
static size_t col_start(const struct layout *ly, const struct chart *ch, size_t b)
{
    return b * ch->nrows / ly->nb;
}

/* ------------------------------------------------------------------ styles */

static const char *const palette[] = {"#1f6fb4", "#8e44ad", "#138d90", "#a0522d",
                                      "#d35fb7", "#556b2f", "#4b5dbd", "#7a7a00"};
#define NPALETTE (sizeof palette / sizeof palette[0])

static const char *ser_color(size_t s)
{
    return palette[s % NPALETTE];
}

struct kind_style {
    const char *cls, *label, *width, *dash;
};

static const struct kind_style kinds[NKINDS] = {
    {"entry", "entry", "1", "1 3"},
    {"liq", "liquidation price", "2", NULL},
    {"bankruptcy", "bankruptcy price", "1.5", "8 4"},
    {"stop", "stop-loss", "1.5", "5 2 1 2"},
    {"take", "take-profit", "1.5", "10 3 2 3"},
    {"balance", "margin balance", "1.5", NULL},
    {"ratio", "margin ratio", "1.5", NULL},
};

static void kind_attrs(FILE *f, int kind, const char *color)
{
    fprintf(f, " fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"", color, kinds[kind].width);
    if (kinds[kind].dash)
        fprintf(f, " stroke-dasharray=\"%s\"", kinds[kind].dash);
}

/* The event types, in the legend's order, with their label and marker. */
struct ev_style {
    const char *type, *label, *shape;
};

static const struct ev_style ev_styles[] = {
    {"open", "open",
     "<circle r=\"4\" fill=\"#ffffff\" stroke=\"#222222\" stroke-width=\"1.5\"/>"},
    {"margin_call", "margin call",
     "<path d=\"M0 -6L5.2 3L-5.2 3Z\" fill=\"#f39c12\" stroke=\"#7a4d00\"/>"},
    {"partial_liquidation", "partial liquidation",
     "<path d=\"M0 -6L6 0L0 6L-6 0Z\" fill=\"#ff7f50\" stroke=\"#a33a00\"/>"},
    {"liquidation", "liquidation",
     "<path d=\"M-5 -5L5 5M-5 5L5 -5\" stroke=\"#d62728\" stroke-width=\"3\"/>"},
    {"cross_liquidation", "cross account liquidation",
     "<circle r=\"7\" fill=\"none\" stroke=\"#8b0000\" stroke-width=\"2\"/>"
     "<path d=\"M-4 -4L4 4M-4 4L4 -4\" stroke=\"#8b0000\" stroke-width=\"2\"/>"},
    {"stop_loss", "stop-loss",
     "<rect x=\"-4.5\" y=\"-4.5\" width=\"9\" height=\"9\" fill=\"#c0392b\" stroke=\"#5a0000\"/>"},
    {"take_profit", "take-profit",
     "<rect x=\"-4.5\" y=\"-4.5\" width=\"9\" height=\"9\" fill=\"#27ae60\" stroke=\"#0b4d24\"/>"},
    {"adl", "auto-deleveraging",
     "<path d=\"M0 6L5.2 -3L-5.2 -3Z\" fill=\"#8e24aa\" stroke=\"#3d0a4a\"/>"},
    {"funding", "funding", "<circle r=\"2.5\" fill=\"#888888\"/>"},
    {"insurance_deposit", "insurance deposit",
     "<rect x=\"-3.5\" y=\"-3.5\" width=\"7\" height=\"7\" fill=\"none\" stroke=\"#555555\"/>"},
};
#define NEV_STYLES (sizeof ev_styles / sizeof ev_styles[0])

static const struct ev_style *ev_style(const char *type)
{
    size_t i;
    for (i = 0; i < NEV_STYLES; i++)
        if (strcmp(ev_styles[i].type, type) == 0)
            return &ev_styles[i];
    return &ev_styles[NEV_STYLES - 1];
}

/* ------------------------------------------------------------------ layout */

static int any_kind(const struct chart *ch, int kind)
{
    size_t s, r;
    for (s = 0; s < ch->nser; s++)
        for (r = 0; r < ch->nrows; r++)
            if (ch->ser[s].has[r] && fig_value(&ch->ser[s].fig[r], kind) != 0)
                return 1;
    return 0;
}

static int any_event(const struct chart *ch, const char *type)
{
    size_t i;
    for (i = 0; i < ch->nev; i++)
        if (strcmp(ch->ev[i].type, type) == 0)
            return 1;
    return 0;
}

/* One legend item at (*x, *y) of @p width, wrapping at X1; drawn when @p f is not NULL. */
static void legend_at(int *x, int *y, int width)
{
    if (*x > X0 && *x + width > X1) {
        *x = X0;
        *y += LINE_H;
    }
}

/* Draw the legend from @p y (or only measure it, f NULL); returns the y below it. */
static int legend(FILE *f, const struct chart *ch, int y)
{
    int x = X0, w, k;
    size_t i;
    char lbl[160];

    if (f)
        fprintf(f, "<g class=\"legend\">\n");
    /* the mark, the range, the kinds of line */
    w = 28 + text_w("mark") + 14;
    legend_at(&x, &y, w);
    if (f)
        fprintf(f, "<path d=\"M%d %dh22\" stroke=\"#222222\" stroke-width=\"1.5\"/>"
                   "<text x=\"%d\" y=\"%d\">mark</text>\n", x, y, x + 28, y + 4);
    x += w;
    if (ch->nrows && (ch->rows[0].n > 1 || ch->nrows > PW)) {
        snprintf(lbl, sizeof lbl, "%s", ch->rows[0].n > 1 ? "high-low range" : "mark range");
        w = 28 + text_w(lbl) + 14;
        legend_at(&x, &y, w);
        if (f)
            fprintf(f, "<path d=\"M%d %dV%d\" stroke=\"#9aa5b1\" stroke-width=\"4\"/>"
                       "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 11, y - 6, y + 6, x + 28,
                    y + 4, lbl);
        x += w;
    }
    for (k = K_ENTRY; k <= K_TAKE && ch->nser; k++) {
        if (k != K_ENTRY && k != K_LIQ && !any_kind(ch, k))
            continue;
        w = 28 + text_w(kinds[k].label) + 14;
        legend_at(&x, &y, w);
        if (f) {
            fprintf(f, "<path d=\"M%d %dh22\"", x, y);
            kind_attrs(f, k, "#444444");
            fprintf(f, "/><text x=\"%d\" y=\"%d\">%s</text>\n", x + 28, y + 4, kinds[k].label);
        }
        x += w;
    }
    /* the events that happened */
    x = X0;
    y += LINE_H;
    for (i = 0; i < NEV_STYLES; i++) {
        if (!any_event(ch, ev_styles[i].type))
            continue;
        w = 20 + text_w(ev_styles[i].label) + 14;
        legend_at(&x, &y, w);
        if (f)
            fprintf(f, "<g transform=\"translate(%d %d)\">%s</g>"
                       "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 8, y, ev_styles[i].shape,
                    x + 20, y + 4, ev_styles[i].label);
        x += w;
    }
    /* the positions */
    x = X0;
    y += LINE_H;
    for (i = 0; i < ch->nser; i++) {
        w = 28 + text_w(ch->ser[i].label) + 18;
        legend_at(&x, &y, w);
        if (f) {
            fprintf(f, "<path d=\"M%d %dh22\" stroke=\"%s\" stroke-width=\"3\"/>"
                       "<text x=\"%d\" y=\"%d\">", x, y, ser_color(i), x + 28, y + 4);
            esc(f, ch->ser[i].label);
            fprintf(f, "</text>\n");
        }
        x += w;
    }
    if (f)
        fprintf(f, "</g>\n");
    return y + 8;
}

static void make_layout(const struct chart *ch, struct layout *ly)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN, blo = 0, bhi = 0, rmax = RATE_ONE, r0 = 0;
    size_t r, s;
    int k, any_bal = 0;

    memset(ly, 0, sizeof *ly);
    ly->nb = ch->nrows <= PW ? ch->nrows : PW;
    ly->range = ch->nrows > PW;
    for (r = 0; r < ch->nrows; r++) {
        for (k = 0; k < ch->rows[r].n; k++) {
            int64_t m = ch->rows[r].mark[k];
            lo = m < lo ? m : lo;
            hi = m > hi ? m : hi;
        }
        if (ch->rows[r].n > 1)
            ly->range = 1;
    }
    for (s = 0; s < ch->nser; s++) {
        for (r = 0; r < ch->nrows; r++) {
            const struct chart_fig *g = &ch->ser[s].fig[r];
            if (!ch->ser[s].has[r])
                continue;
            for (k = K_ENTRY; k <= K_TAKE; k++) {
                int64_t v = fig_value(g, k);
                if (v == 0)
                    continue;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            if (!any_bal || g->balance < blo)
                blo = g->balance;
            if (!any_bal || g->balance > bhi)
                bhi = g->balance;
            any_bal = 1;
            if (g->ratio != INT64_MAX && g->ratio > rmax)
                rmax = g->ratio;
        }
    }
    if (lo > hi)
        lo = hi = 1;
    axis(lo, hi, 6, &ly->pmin, &ly->pmax, &ly->pstep);
    if (ly->pmin < 0)
        ly->pmin = 0;
    if (blo > 0)
        blo = 0;
    axis(blo, bhi, 4, &ly->bmin, &ly->bmax, &ly->bstep);
    if (rmax > 5 * RATE_ONE)
        rmax = 5 * RATE_ONE;
    axis(0, rmax, 5, &r0, &ly->rtop, &ly->rstep);
    ly->py1 = PRICE_TOP + PRICE_H;
    ly->legend_y = ly->py1 + 40;
    ly->by0 = legend(NULL, ch, ly->legend_y) + 30;
    ly->by1 = ly->by0 + LOWER_H;
    ly->ry0 = ly->by1 + 34;
    ly->ry1 = ly->ry0 + LOWER_H;
    ly->height = ly->ry1 + 36;
}

/* ------------------------------------------------------------------ drawing */

/* Horizontal grid lines and labels of an axis from @p a to @p b by @p step at @p scale
 * (pct: as a percentage of a rate). */
static void y_axis(FILE *f, int64_t a, int64_t b, int64_t step, int32_t scale, int pct, int y0,
                   int y1)
{
    char buf[CLI_NUM_SIZE];
    int64_t v;

    fprintf(f, "<g class=\"axis y\">\n");
    for (v = a; v <= b; v += step) {
        int64_t y = y_of(v, a, b, y0, y1);
        fprintf(f, "<path d=\"M%d ", X0);
        px(f, y);
        fprintf(f, "H%d\" stroke=\"%s\"/><text x=\"%d\" y=\"", X1, v == 0 ? "#999999" : "#e6e6e6",
                X0 - 6);
        px(f, y + 400);
        fprintf(f, "\" text-anchor=\"end\">%s%s</text>\n",
                pct ? cli_pct(buf, v) : cli_num(buf, v, scale), pct ? " %" : "");
        if (v > INT64_MAX - step)
            break;
    }
    fprintf(f, "</g>\n");
}

/* Time labels (and vertical grid lines from y0 to y1) under a panel ending at y1. */
static void x_axis(FILE *f, const struct chart *ch, int y0, int y1)
{
    int maxw = 0, n;
    size_t i, stride, row;

    for (i = 0; i < ch->nrows; i++)
        if (text_w(ch->rows[i].time) > maxw)
            maxw = text_w(ch->rows[i].time);
    n = PW / (maxw + 24 > 1 ? maxw + 24 : 1);
    if (n > 10)
        n = 10;
    if (n < 2)
        n = 2;
    if ((size_t)n > ch->nrows)
        n = (int)ch->nrows;
    /* every stride-th row from the first, evenly spaced */
    stride = n > 1 ? (ch->nrows - 1 + (size_t)(n - 2)) / (size_t)(n - 1) : 1;
    if (stride < 1)
        stride = 1;
    fprintf(f, "<g class=\"axis x\">\n");
    for (row = 0; row < ch->nrows; row += stride) {
        int64_t x = x_of(ch, row);
        int hw = text_w(ch->rows[row].time) / 2;
        const char *anchor = "middle";

        if (x / 100 - hw < 2)
            anchor = "start";
        else if (x / 100 + hw > SVG_W - 2)
            anchor = "end";
        fprintf(f, "<path d=\"M");
        px(f, x);
        fprintf(f, " %dV%d\" stroke=\"#eeeeee\"/><path d=\"M", y0, y1);
        px(f, x);
        fprintf(f, " %dv4\" stroke=\"#999999\"/><text x=\"", y1);
        px(f, x);
        fprintf(f, "\" y=\"%d\" text-anchor=\"%s\">", y1 + 16, anchor);
        esc(f, ch->rows[row].time);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
}

static void frame(FILE *f, int y0, int y1, const char *title)
{
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#bbbbbb\"/>\n<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n",
            X0, y0, PW, y1 - y0, X0, y0 - 6, title);
}

/* A path point: "M x y" (pen down after a gap) or "L x y". */
static void point(FILE *f, int *npts, int64_t x, int64_t y)
{
    fputs(*npts ? "L" : "M", f);
    px(f, x);
    fputc(' ', f);
    px(f, y);
    (*npts)++;
}

/* Series @p s's line of @p kind in a panel from lo to hi (y0 to y1): one point per column,
 * the column's last sampled row; a gap where the position is closed or has no such price. */
static void series_line(FILE *f, const struct chart *ch, const struct layout *ly, size_t s,
                        int kind, int64_t lo, int64_t hi, int y0, int y1)
{
    const struct cser *c = &ch->ser[s];
    size_t b;
    int started = 0, npts = 0;

    for (b = 0; b < ly->nb; b++) {
        size_t r0 = col_start(ly, ch, b), r1 = col_start(ly, ch, b + 1), r, row = 0;
        int found = 0;
        int64_t v;

        for (r = r0; r < r1; r++)
            if (c->has[r]) {
                row = r;
                found = 1;
            }
        v = found ? fig_value(&c->fig[row], kind) : 0;
        if (kind == K_RATIO && v > hi)
            v = hi;
        if (!found || (kind <= K_TAKE && v == 0)) {
            if (npts == 1)
                fputs("h0.5", f);
            npts = 0;
            continue;
        }
        if (!started) {
            fprintf(f, "<path class=\"%s\" data-position=\"%llu\" d=\"", kinds[kind].cls,
                    (unsigned long long)c->id);
            started = 1;
        } else if (npts == 0) {
            fputc(' ', f);
        }
        point(f, &npts, x_of(ch, row), y_of(v, lo, hi, y0, y1));
    }
    if (!started)
        return;
    if (npts == 1)
        fputs("h0.5", f);
    fputc('"', f);
    kind_attrs(f, kind, ser_color(s));
    fprintf(f, "/>\n");
}

static void price_panel(FILE *f, const struct chart *ch, const struct layout *ly)
{
    char lo_s[CLI_NUM_SIZE], hi_s[CLI_NUM_SIZE];
    size_t b, s;
    int k, npts = 0, y0 = PRICE_TOP, y1 = ly->py1;

    fprintf(f, "<g class=\"panel price\" data-x0=\"%d\" data-x1=\"%d\" data-y0=\"%d\" "
               "data-y1=\"%d\" data-rows=\"%zu\" data-pmin=\"%s\" data-pmax=\"%s\">\n",
            X0, X1, y0, y1, ch->nrows, cli_num(lo_s, ly->pmin, ch->ps),
            cli_num(hi_s, ly->pmax, ch->ps));
    frame(f, y0, y1, "mark price, and each position's prices");
    y_axis(f, ly->pmin, ly->pmax, ly->pstep, ch->ps, 0, y0, y1);
    x_axis(f, ch, y0, y1);
    if (ly->range) {
        int64_t w = PW / (int64_t)(ly->nb ? ly->nb : 1) / 2;
        w = w < 1 ? 1 : w > 6 ? 6 : w;
        fprintf(f, "<path class=\"range\" d=\"");
        for (b = 0; b < ly->nb; b++) {
            size_t r0 = col_start(ly, ch, b), r1 = col_start(ly, ch, b + 1), r;
            int64_t lo = INT64_MAX, hi = INT64_MIN;
            for (r = r0; r < r1; r++)
                for (k = 0; k < ch->rows[r].n; k++) {
                    lo = ch->rows[r].mark[k] < lo ? ch->rows[r].mark[k] : lo;
                    hi = ch->rows[r].mark[k] > hi ? ch->rows[r].mark[k] : hi;
                }
            if (r1 == r0)
                continue;
            fputs(b ? " M" : "M", f);
            px(f, x_of(ch, r1 - 1));
            fputc(' ', f);
            px(f, y_of(lo, ly->pmin, ly->pmax, y0, y1));
            fputs("V", f);
            px(f, y_of(hi, ly->pmin, ly->pmax, y0, y1));
            if (lo == hi)
                fputs("v-0.5", f);
        }
        fprintf(f, "\" stroke=\"#9aa5b1\" stroke-width=\"%lld\"/>\n", (long long)w);
    }
    fprintf(f, "<path class=\"mark\" d=\"");
    for (b = 0; b < ly->nb; b++) {
        size_t r = col_start(ly, ch, b + 1);
        const struct crow *row;
        if (r == col_start(ly, ch, b))
            continue;
        row = &ch->rows[r - 1];
        point(f, &npts, x_of(ch, r - 1), y_of(row->mark[row->n - 1], ly->pmin, ly->pmax, y0, y1));
    }
    if (npts == 1)
        fputs("h0.5", f);
    fprintf(f, "\" fill=\"none\" stroke=\"#222222\" stroke-width=\"1.5\"/>\n");
    for (s = 0; s < ch->nser; s++)
        for (k = K_ENTRY; k <= K_TAKE; k++)
            series_line(f, ch, ly, s, k, ly->pmin, ly->pmax, y0, y1);
    fprintf(f, "</g>\n");
}

static void events(FILE *f, const struct chart *ch, const struct layout *ly)
{
    char buf[CLI_NUM_SIZE];
    size_t i;

    fprintf(f, "<g class=\"events\">\n");
    for (i = 0; i < ch->nev; i++) {
        const struct cevent *e = &ch->ev[i];
        size_t row = e->row < ch->nrows ? e->row : ch->nrows - 1;

        fprintf(f, "<g class=\"event %s\" data-seq=\"%ld\" data-position=\"%llu\"", e->type,
                e->seq, (unsigned long long)e->position);
        if (e->run >= 0 && e->run < ch->nruns) {
            fprintf(f, " data-run=\"");
            esc(f, ch->runs[e->run]);
            fputc('"', f);
        }
        fprintf(f, " data-mark=\"%s\" transform=\"translate(", cli_num(buf, e->mark, ch->ps));
        px(f, x_of(ch, row));
        fputc(' ', f);
        px(f, y_of(e->mark, ly->pmin, ly->pmax, PRICE_TOP, ly->py1));
        fprintf(f, ")\"><title>");
        if (e->run >= 0 && e->run < ch->nruns) {
            esc(f, ch->runs[e->run]);
            fputs(": ", f);
        }
        esc(f, ch->rows[row].time);
        fputs(" ", f);
        esc(f, e->pos);
        fputs(" ", f);
        esc(f, e->name);
        fprintf(f, " at %s: ", buf);
        esc(f, e->details);
        fprintf(f, "</title>%s</g>\n", ev_style(e->type)->shape);
    }
    fprintf(f, "</g>\n");
}

static void lower_panels(FILE *f, const struct chart *ch, const struct layout *ly)
{
    char buf[CLI_NUM_SIZE];
    size_t s, i;

    fprintf(f, "<g class=\"panel balance\" data-y0=\"%d\" data-y1=\"%d\">\n", ly->by0, ly->by1);
    frame(f, ly->by0, ly->by1, "margin balance (cross positions: the account's)");
    y_axis(f, ly->bmin, ly->bmax, ly->bstep, 8, 0, ly->by0, ly->by1);
    for (s = 0; s < ch->nser; s++)
        series_line(f, ch, ly, s, K_BALANCE, ly->bmin, ly->bmax, ly->by0, ly->by1);
    fprintf(f, "</g>\n");

    fprintf(f, "<g class=\"panel ratio\" data-y0=\"%d\" data-y1=\"%d\">\n", ly->ry0, ly->ry1);
    frame(f, ly->ry0, ly->ry1, "margin ratio: maintenance margin / margin balance");
    y_axis(f, 0, ly->rtop, ly->rstep, 8, 1, ly->ry0, ly->ry1);
    x_axis(f, ch, ly->ry0, ly->ry1);
    for (i = 0; i <= ch->nlevels; i++) {
        int64_t lv = i < ch->nlevels ? ch->levels[i] : RATE_ONE;
        int64_t y = y_of(lv, 0, ly->rtop, ly->ry0, ly->ry1);
        fprintf(f, "<path d=\"M%d ", X0);
        px(f, y);
        fprintf(f, "H%d\" stroke=\"%s\" stroke-dasharray=\"6 3\"/><text x=\"%d\" y=\"", X1,
                i < ch->nlevels ? "#f39c12" : "#d62728", X1 - 4);
        px(f, y - 300);
        fprintf(f, "\" text-anchor=\"end\" fill=\"%s\">%s %s %%</text>\n",
                i < ch->nlevels ? "#a0660a" : "#d62728",
                i < ch->nlevels ? "margin call" : "liquidation", cli_pct(buf, lv));
    }
    for (s = 0; s < ch->nser; s++)
        series_line(f, ch, ly, s, K_RATIO, 0, ly->rtop, ly->ry0, ly->ry1);
    fprintf(f, "</g>\n");
}

static void write_svg(const struct chart *ch, FILE *f, int standalone)
{
    struct layout ly;
    char lo[CLI_NUM_SIZE], hi[CLI_NUM_SIZE];

    make_layout(ch, &ly);
    if (standalone)
        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
               "font-size=\"11\" fill=\"#222222\">\n<title>",
            SVG_W, ly.height, SVG_W, ly.height);
    esc(f, ch->title ? ch->title : "margin replay");
    fprintf(f, "</title>\n<desc>Written by margin replay --svg. Price panel: x of row i "
               "(0-based) of N = %d + i * %d / (N - 1) (N = 1: %d); y of price p = %d - "
               "(p - %s) * %d / (%s - %s); both rounded to 0.01 px. Each event's marker "
               "(class \"event TYPE\", data-seq its --json seq) is at the x of its row and "
               "the y of its mark.</desc>\n",
            X0, PW, X0 + PW / 2, ly.py1, cli_num(lo, ly.pmin, ch->ps), PRICE_H,
            cli_num(hi, ly.pmax, ch->ps), lo);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, ly.height);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">", X0);
    esc(f, ch->title ? ch->title : "margin replay");
    fprintf(f, "</text>\n");
    if (ch->nrows) {
        fprintf(f, "<text x=\"%d\" y=\"41\" fill=\"#555555\">%zu row%s, ", X0, ch->nrows,
                ch->nrows == 1 ? "" : "s");
        esc(f, ch->rows[0].time);
        fputs(" to ", f);
        esc(f, ch->rows[ch->nrows - 1].time);
        fprintf(f, "; lines and balances as the library computes them after each row</text>\n");
        price_panel(f, ch, &ly);
        legend(f, ch, ly.legend_y);
        lower_panels(f, ch, &ly);
        events(f, ch, &ly);
    }
    fprintf(f, "</svg>\n");
}

int chart_write_svg(const struct chart *ch, FILE *f)
{
    write_svg(ch, f, 1);
    return ferror(f) ? -1 : 0;
}

int chart_write_html(const struct chart *ch, FILE *f, const char *summary)
{
    const char *title = ch->title ? ch->title : "margin replay";
    char buf[CLI_NUM_SIZE];
    size_t i;
    int runs = ch->nruns > 0;

    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
               "<title>");
    esc(f, title);
    fprintf(f, "</title>\n<style>\n"
               "body { font-family: sans-serif; margin: 1.5em; color: #222222; }\n"
               "svg { max-width: 100%%; height: auto; }\n"
               "table { border-collapse: collapse; font-size: 13px; }\n"
               "th, td { border: 1px solid #cccccc; padding: 2px 6px; text-align: left; "
               "vertical-align: top; }\n"
               "td.num { text-align: right; font-family: monospace; }\n"
               "tr.liquidation, tr.cross_liquidation, tr.adl { background: #fde8e8; }\n"
               "tr.partial_liquidation, tr.margin_call { background: #fff4e0; }\n"
               "pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }\n"
               "</style>\n</head>\n<body>\n<h1>");
    esc(f, title);
    fprintf(f, "</h1>\n<figure>\n");
    write_svg(ch, f, 0);
    fprintf(f, "</figure>\n<h2>Events</h2>\n<table class=\"events\">\n<thead><tr><th>seq</th>%s"
               "<th>time</th><th>position</th><th>event</th><th>mark</th><th>details</th>"
               "</tr></thead>\n<tbody>\n", runs ? "<th>run</th>" : "");
    for (i = 0; i < ch->nev; i++) {
        const struct cevent *e = &ch->ev[i];
        size_t row = e->row < ch->nrows ? e->row : 0;

        fprintf(f, "<tr class=\"%s\" data-seq=\"%ld\"><td class=\"num\">%ld</td>", e->type,
                e->seq, e->seq);
        if (runs) {
            fputs("<td>", f);
            if (e->run >= 0 && e->run < ch->nruns)
                esc(f, ch->runs[e->run]);
            fputs("</td>", f);
        }
        fputs("<td>", f);
        if (ch->nrows)
            esc(f, ch->rows[row].time);
        fputs("</td><td>", f);
        esc(f, e->pos);
        fputs("</td><td>", f);
        esc(f, e->name);
        fprintf(f, "</td><td class=\"num\">%s</td><td>", cli_num(buf, e->mark, ch->ps));
        esc(f, e->details);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "</tbody>\n</table>\n<h2>Summary</h2>\n<pre class=\"summary\">");
    esc(f, summary ? summary : "");
    fprintf(f, "</pre>\n</body>\n</html>\n");
    return ferror(f) ? -1 : 0;
}
