/* Real March 2023 BTC/USDT candles drive two isolated longs (issue 4, "Done when" 3).
 *
 * Data: $top_srcdir/../shared/data/btcusdt-1m-2023-03-01_21.csv (30,240 one-minute
 * candles, open_time,open,high,low,close,volume); the program exits 77 (skip) without it.
 *
 * Replay rule (issue 4, `margin replay --prices`): each row yields the marks open, then
 * low then high when close >= open (else high then low), then close. Positions (issue 4
 * defaults): a 10x long (id 1) and a 20x long (id 2), each of 2,000 USDT notional, opened
 * at the first mark E (the first row's open, 23140.48) with Q = 2000 / E rounded down to
 * 8 decimals; margin Q*E/L rounded up; mmr 0.004 (one tier, cum 0), fee 0, close fee 0,
 * one margin-call level 0.8.
 *
 * The expected events are computed here independently of the engine: the CSV is parsed by
 * this file's own decimal parser, and every figure comes from the spec's formulas in plain
 * 64/128-bit integer arithmetic (units of 1e-8):
 *   Q  = floor(2000 * 1e16 / E)
 *   M  = ceil(Q*E / (1e8 * L))
 *   level-l price (long, policy mark, cum 0, f 0): l*(Q*E - M) / (Q*(l - mmr)), i.e. in
 *        units  ceil(l_u * (Q*E - M*1e8) / (Q*(l_u - mmr_u)));  l_u = 1e8 gives the
 *        liquidation price LP, l_u = 0.8e8 the margin-call price MC (both rounded up: long)
 *   BP = E - M/Q, rounded up:  E - floor(M*1e8 / Q)
 *   at a liquidation at mark P: realized PnL = -M;
 *        insurance delta = s*Q*(P - E) + M with the PnL part rounded down (no rounding may
 *        create money): floor(Q*(P - E) / 1e8) + M
 *   margin ratio at a margin call: MM/B = Q*P*mmr / (M + Q*(P - E)), rounded up; in units
 *        ceil(Q*P*mmr_u / (M*1e8 + Q*(P - E))). The engine may round MM up and B down
 *        before dividing, which can add one unit: accepted range [exact, exact + 1].
 * A scan of the marks then applies the trigger rules: liquidation when P <= LP; else a
 * margin call when P <= MC and the level is armed; the level re-arms when P > MC.
 *
 * Values the scan finds (also computed separately with exact rationals while writing this
 * test, and asserted below as constants so that a parsing slip cannot hide):
 *   E = 23140.48, Q = 0.08642863
 *   10x: M 199.9999984, LP 20910.07228909, MC 20931.08743712, BP 20826.43199994
 *   20x: M 99.9999992,  LP 22071.74297186, MC 22093.92562811, BP 21983.45599997
 *   20x liquidated 2023-03-03 01:32 (row 2972: open 22433.91, high 22536.27, low 22058.19):
 *        mark 22058.19; Q*(P - E) = 0.08642863 * (22058.19 - 23140.48)
 *        = 0.08642863 * -1082.29 = -93.5408419... -> floor -93.54084197;
 *        insurance = -93.54084197 + 99.9999992 = 6.45915723 (a surplus: no gap past BP).
 *   The 20x's warning band (MC - LP = 22.18 USDT) is crossed inside that one candle: the
 *        mark before, the same candle's high 22536.27, is above MC, the low is below LP, so
 *        it is liquidated with no margin call at all ("no time to respond").
 *   10x margin call 2023-03-09 19:03 (row 12663) at its low 20923.75, ratio 0.86001562;
 *   10x liquidated 2023-03-09 19:04 (row 12664) at its low 20895.8, insurance 5.99538121. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

__extension__ typedef __int128 i128;

#define E8 100000000LL
#define NF (MARGIN_EVF_LEVERAGE + 1)
#define DATA_REL "/../shared/data/btcusdt-1m-2023-03-01_21.csv"

static char g_path[4096];

/* ------------------------------------------------------------------ data */
typedef struct {
    int64_t time; /* seconds since 1970-01-01 UTC */
    int64_t o, h, l, c;
    char text[32];
} row_t;

static row_t *g_rows;
static size_t g_nrows;

/* Plain decimal "123.45" -> units of 1e-8; 1 on success. */
static int parse8(const char *s, const char *end, int64_t *out)
{
    int64_t ip = 0, fp = 0;
    int nd = 0, fd = 0;
    if (s >= end)
        return 0;
    while (s < end && *s >= '0' && *s <= '9') {
        ip = ip * 10 + (*s++ - '0');
        if (++nd > 12)
            return 0;
    }
    if (s < end && *s == '.') {
        s++;
        while (s < end && *s >= '0' && *s <= '9') {
            if (fd == 8)
                return 0;
            fp = fp * 10 + (*s++ - '0');
            fd++;
        }
    }
    if (s != end || nd == 0)
        return 0;
    for (; fd < 8; fd++)
        fp *= 10;
    *out = ip * E8 + fp;
    return 1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2023-03-01 00:00:00+00:00" -> seconds; 1 on success. */
static int parse_time(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (len != 25 || strncmp(s + 19, "+00:00", 6) != 0)
        return 0;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return 0;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 1;
}

static void load_rows(void)
{
    FILE *f = fopen(g_path, "r");
    char line[256];
    size_t cap = 32768, lineno = 0;
    ck_assert_msg(f != NULL, "cannot open %s", g_path);
    g_rows = malloc(cap * sizeof *g_rows);
    ck_assert_ptr_nonnull(g_rows);
    g_nrows = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *fld[6], *p = line;
        size_t n = strcspn(line, "\r\n");
        int k = 0;
        row_t *r;
        lineno++;
        line[n] = '\0';
        if (lineno == 1) {
            ck_assert_str_eq(line, "open_time,open,high,low,close,volume");
            continue;
        }
        if (n == 0)
            continue;
        fld[k++] = p;
        while (*p && k < 6)
            if (*p++ == ',')
                fld[k++] = p;
        ck_assert_msg(k == 6, "line %zu: %d fields", lineno, k);
        if (g_nrows == cap) {
            cap *= 2;
            g_rows = realloc(g_rows, cap * sizeof *g_rows);
            ck_assert_ptr_nonnull(g_rows);
        }
        r = &g_rows[g_nrows++];
        ck_assert_msg(parse_time(fld[0], (size_t)(fld[1] - 1 - fld[0]), &r->time),
                      "line %zu: bad time", lineno);
        ck_assert_msg(parse8(fld[1], fld[2] - 1, &r->o) && parse8(fld[2], fld[3] - 1, &r->h) &&
                          parse8(fld[3], fld[4] - 1, &r->l) && parse8(fld[4], fld[5] - 1, &r->c),
                      "line %zu: bad price", lineno);
        memcpy(r->text, fld[0], 25);
        r->text[25] = '\0';
    }
    fclose(f);
}

/* The marks of row r in replay order; returns 4. */
static int row_marks(const row_t *r, int64_t m[4])
{
    m[0] = r->o;
    if (r->c >= r->o) {
        m[1] = r->l;
        m[2] = r->h;
    } else {
        m[1] = r->h;
        m[2] = r->l;
    }
    m[3] = r->c;
    return 4;
}

/* ------------------------------------------------------------------ expected events */
static i128 fdiv(i128 a, i128 b) /* b > 0 */
{
    i128 q = a / b;
    if (a % b != 0 && a < 0)
        q--;
    return q;
}
static i128 cdiv(i128 a, i128 b) /* b > 0 */
{
    return -fdiv(-a, b);
}

#define MMR 400000LL   /* 0.004 */
#define LEVEL 80000000LL /* 0.8 */

typedef struct {
    int64_t lev, q, m, lp, mc, bp;
    int open, armed, calls;
    int64_t prev_mark; /* the mark before the one that liquidated it */
} xpos;

typedef struct {
    int32_t type;
    uint64_t pos;
    size_t row;
    int64_t time, mark, lp, bp, pnl, ins, ratio, prev_mark;
} xev;

/* long, policy mark, cum 0, f 0: ceil(l*(Q*E - M*1e8) / (Q*(l - mmr))) */
static int64_t level_price(int64_t q, int64_t e, int64_t m, int64_t l)
{
    return (int64_t)cdiv((i128)l * ((i128)q * e - (i128)m * E8), (i128)q * (l - MMR));
}

static void position_figures(xpos *p, int64_t e, int64_t lev)
{
    p->lev = lev;
    p->q = (int64_t)fdiv((i128)2000 * E8 * E8, e);
    p->m = (int64_t)cdiv((i128)p->q * e, (i128)E8 * lev);
    p->lp = level_price(p->q, e, p->m, E8);
    p->mc = level_price(p->q, e, p->m, LEVEL);
    p->bp = e - (int64_t)fdiv((i128)p->m * E8, p->q);
    p->open = 1;
    p->armed = 1;
    p->calls = 0;
}

/* Scan every mark; fills ev (in order), returns the count. */
static size_t expected_events(xpos *x, int64_t e, xev *ev, size_t max)
{
    size_t n = 0;
    int64_t last = 0;
    for (size_t r = 0; r < g_nrows; r++) {
        int64_t marks[4];
        int nm = row_marks(&g_rows[r], marks);
        for (int k = 0; k < nm; k++) {
            int64_t P = marks[k];
            for (int i = 0; i < 2; i++) {
                xpos *p = &x[i];
                if (!p->open)
                    continue;
                if (P <= p->lp) {
                    ck_assert_uint_lt(n, max);
                    ev[n].type = MARGIN_EV_LIQUIDATION;
                    ev[n].pos = (uint64_t)i + 1;
                    ev[n].row = r;
                    ev[n].time = g_rows[r].time;
                    ev[n].mark = P;
                    ev[n].lp = p->lp;
                    ev[n].bp = p->bp;
                    ev[n].pnl = -p->m;
                    ev[n].ins = (int64_t)fdiv((i128)p->q * (P - e), E8) + p->m;
                    ev[n].prev_mark = last;
                    n++;
                    p->open = 0;
                    p->prev_mark = last;
                } else if (P <= p->mc) {
                    if (p->armed) {
                        ck_assert_uint_lt(n, max);
                        ev[n].type = MARGIN_EV_MARGIN_CALL;
                        ev[n].pos = (uint64_t)i + 1;
                        ev[n].row = r;
                        ev[n].time = g_rows[r].time;
                        ev[n].mark = P;
                        ev[n].lp = p->lp;
                        ev[n].ratio = (int64_t)cdiv((i128)p->q * P * MMR,
                                                    (i128)p->m * E8 + (i128)p->q * (P - e));
                        n++;
                        p->armed = 0;
                        p->calls++;
                    }
                } else {
                    p->armed = 1;
                }
            }
            last = P;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ the test */
static int64_t dd(const char *s)
{
    int64_t v = 0;
    ck_assert_msg(parse8(s, s + strlen(s), &v), "bad constant %s", s);
    return v;
}

START_TEST(test_march_2023_replay)
{
    xpos x[2];
    xev want[16];
    size_t nwant, got = 0;
    int64_t e_price, marks[4];
    margin_engine *e;
    uint64_t mkt, acct, id[2];
    const int64_t level = LEVEL;
    int64_t free0;

    load_rows();
    ck_assert_uint_eq(g_nrows, 30240);
    ck_assert_int_eq(g_rows[0].time, 1677628800); /* 2023-03-01 00:00:00 UTC */
    ck_assert_int_eq(g_rows[g_nrows - 1].time, 1677628800 + 30239 * 60);
    e_price = g_rows[0].o;

    /* independent expectations */
    position_figures(&x[0], e_price, 10);
    position_figures(&x[1], e_price, 20);
    nwant = expected_events(x, e_price, want, 16);

    /* the constants computed separately with exact rationals (see the file comment) */
    ck_assert_int_eq(e_price, dd("23140.48"));
    ck_assert_int_eq(x[0].q, dd("0.08642863"));
    ck_assert_int_eq(x[0].m, dd("199.9999984"));
    ck_assert_int_eq(x[1].m, dd("99.9999992"));
    ck_assert_int_eq(x[0].lp, dd("20910.07228909"));
    ck_assert_int_eq(x[1].lp, dd("22071.74297186"));
    ck_assert_int_eq(x[0].mc, dd("20931.08743712"));
    ck_assert_int_eq(x[1].mc, dd("22093.92562811"));
    ck_assert_int_eq(x[0].bp, dd("20826.43199994"));
    ck_assert_int_eq(x[1].bp, dd("21983.45599997"));
    ck_assert_uint_eq(nwant, 3);
    ck_assert_int_eq(want[0].type, MARGIN_EV_LIQUIDATION);
    ck_assert_uint_eq(want[0].pos, 2);
    ck_assert_str_eq(g_rows[want[0].row].text, "2023-03-03 01:32:00+00:00");
    ck_assert_int_eq(want[0].mark, dd("22058.19"));
    ck_assert_int_eq(want[0].ins, dd("6.45915723"));
    ck_assert_int_eq(want[1].type, MARGIN_EV_MARGIN_CALL);
    ck_assert_uint_eq(want[1].pos, 1);
    ck_assert_str_eq(g_rows[want[1].row].text, "2023-03-09 19:03:00+00:00");
    ck_assert_int_eq(want[1].mark, dd("20923.75"));
    ck_assert_int_eq(want[1].ratio, dd("0.86001562"));
    ck_assert_int_eq(want[2].type, MARGIN_EV_LIQUIDATION);
    ck_assert_uint_eq(want[2].pos, 1);
    ck_assert_str_eq(g_rows[want[2].row].text, "2023-03-09 19:04:00+00:00");
    ck_assert_int_eq(want[2].mark, dd("20895.8"));
    ck_assert_int_eq(want[2].ins, dd("5.99538121"));

    /* The 20x long: no margin call at all. The mark just before its liquidation was above
     * the margin-call price, inside the same candle (the candle's high), and the next mark
     * (the low) was already at or below the liquidation price: the whole warning band
     * (MC - LP = 22.18 USDT) was crossed between two marks of one candle. */
    ck_assert_int_eq(x[1].calls, 0);
    ck_assert_int_gt(x[1].prev_mark, x[1].mc);
    ck_assert_int_eq(x[1].prev_mark, g_rows[want[0].row].h);
    ck_assert_int_eq(x[1].mc - x[1].lp, dd("22.18265625"));
    /* the 10x long did get its warning, one minute before */
    ck_assert_int_eq(x[0].calls, 1);
    ck_assert_int_eq(want[2].time - want[1].time, 60);

    /* the engine */
    make_engine(&e, &mkt, &acct, D("10000"));
    ck_assert_ok(e, margin_market_set(e, mkt, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(e, margin_market_set(e, mkt, MARGIN_MKT_MAKER_FEE, 0));
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, &level, 1));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, g_rows[0].time));
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(e, margin_position_open(e, acct, mkt, MARGIN_LONG, x[i].q, e_price,
                                             x[i].lev * E8, 0, 0, &id[i]));
        ck_assert_uint_eq(id[i], (uint64_t)i + 1);
        ck_assert_int_eq(pos_get(e, id[i], MARGIN_POS_MARGIN), x[i].m);
        ck_assert_int_eq(pos_get(e, id[i], MARGIN_POS_LIQ_PRICE), x[i].lp);
        ck_assert_int_eq(pos_at(e, id[i], MARGIN_AT_BANKRUPTCY_PRICE, 0), x[i].bp);
    }
    free0 = acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE);
    ck_assert_int_eq(free0, D("10000") - x[0].m - x[1].m);
    {
        int32_t t;
        do
            ck_assert_ok(e, margin_event_next(e, &t));
        while (t != MARGIN_EV_NONE);
    }

    for (size_t r = 0; r < g_nrows; r++) {
        int nm = row_marks(&g_rows[r], marks);
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, g_rows[r].time));
        for (int k = 0; k < nm; k++) {
            int rc = margin_mark_update(e, mkt, marks[k]);
            int32_t t = MARGIN_EV_NONE;
            if (rc != MARGIN_OK)
                ck_abort_msg("row %zu mark %d: margin_mark_update returned %d: %s", r, k, rc,
                             margin_errmsg(e));
            for (;;) {
                int64_t f[NF];
                const xev *w;
                ck_assert_ok(e, margin_event_next(e, &t));
                if (t == MARGIN_EV_NONE)
                    break;
                for (int32_t j = 1; j < NF; j++)
                    ck_assert_ok(e, margin_event_get(e, j, &f[j]));
                if (got >= nwant)
                    ck_abort_msg("unexpected event type %d for position %lld at %s (mark %lld)",
                                 (int)t, (long long)f[MARGIN_EVF_POSITION], g_rows[r].text,
                                 (long long)marks[k]);
                w = &want[got++];
                ck_assert_msg(t == w->type && (uint64_t)f[MARGIN_EVF_POSITION] == w->pos &&
                                  r == w->row && marks[k] == w->mark,
                              "event %zu: got type %d position %lld at %s mark %lld; want type "
                              "%d position %llu at %s mark %lld",
                              got - 1, (int)t, (long long)f[MARGIN_EVF_POSITION], g_rows[r].text,
                              (long long)marks[k], (int)w->type, (unsigned long long)w->pos,
                              g_rows[w->row].text, (long long)w->mark);
                ck_assert_int_eq(f[MARGIN_EVF_TIME], w->time);
                ck_assert_int_eq(f[MARGIN_EVF_PRICE], w->mark);
                ck_assert_int_eq(f[MARGIN_EVF_LIQ_PRICE], w->lp);
                ck_assert_int_eq(f[MARGIN_EVF_ACCOUNT], (int64_t)acct);
                ck_assert_int_eq(f[MARGIN_EVF_MARKET], (int64_t)mkt);
                ck_assert_int_eq(f[MARGIN_EVF_FREE_BALANCE], free0);
                if (t == MARGIN_EV_LIQUIDATION) {
                    ck_assert_int_eq(f[MARGIN_EVF_REALIZED_PNL], w->pnl);
                    ck_assert_int_eq(f[MARGIN_EVF_INSURANCE_DELTA], w->ins);
                    ck_assert_int_eq(f[MARGIN_EVF_BANKRUPTCY_PRICE], w->bp);
                    ck_assert_int_eq(f[MARGIN_EVF_QTY], x[w->pos - 1].q);
                    ck_assert_int_eq(f[MARGIN_EVF_FEE], 0);
                } else {
                    ck_assert_int_eq(f[MARGIN_EVF_LEVEL], LEVEL);
                    ck_assert_int_ge(f[MARGIN_EVF_MARGIN_RATIO], w->ratio);
                    ck_assert_int_le(f[MARGIN_EVF_MARGIN_RATIO], w->ratio + 1);
                    ck_assert_int_eq(f[MARGIN_EVF_MARGIN], x[w->pos - 1].m);
                }
            }
        }
    }
    ck_assert_uint_eq(got, nwant);

    /* final state: both liquidated, losses exactly the margins, the fund got the rest */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pos_get(e, id[i], MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 2);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), want[0].ins + want[2].ins);
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_REALIZED_PNL), -(x[0].m + x[1].m));
    ck_assert_int_eq(acct_get(e, acct, MARGIN_ACCT_FREE_BALANCE), free0);
    assert_conserved(e, acct);
    margin_engine_free(e);
    free(g_rows);
    g_rows = NULL;
}
END_TEST

int main(void)
{
    const char *top = getenv("top_srcdir");
    FILE *f;
    Suite *s;
    TCase *tc;
    SRunner *sr;
    int failed;

    snprintf(g_path, sizeof g_path, "%s%s", top != NULL ? top : ".", DATA_REL);
    f = fopen(g_path, "r");
    if (f == NULL) {
        printf("SKIP: %s not found\n", g_path);
        return 77;
    }
    fclose(f);

    s = suite_create("realdata");
    tc = tcase_create("march_2023");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_march_2023_replay);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
