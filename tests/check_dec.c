/* Suite "dec": exact decimal fixed point, public (margin_dec_*) and internal (lib/dec.h).
 *
 * Every expected value below is worked out by hand in the comment beside it, or follows
 * from an invariant (format/parse round trip, agreement of two routes). */
#include <stdio.h>
#include <string.h>

#include "dec.h"
#include "helpers.h"
#include "suites.h"

#define FLOOR MARGIN_ROUND_FLOOR
#define CEIL MARGIN_ROUND_CEIL
#define TRUNC MARGIN_ROUND_TRUNC
#define AWAY MARGIN_ROUND_AWAY
#define HEVEN MARGIN_ROUND_HALF_EVEN
#define EXACT MARGIN_ROUND_EXACT

static const char *const mode_name[] = {"FLOOR", "CEIL", "TRUNC", "AWAY", "HALF_EVEN", "EXACT"};

/* 128-bit limits, built without unsigned __int128. */
#define I128_MAX (((((margin__i128)1 << 126) - 1) << 1) + 1)
#define I128_MIN (-I128_MAX - 1)

/* Decimal text of a 128-bit value, for messages. */
static const char *i128_str(margin__i128 v, char buf[48])
{
    char tmp[48];
    char *w = tmp + sizeof tmp;
    int neg = v < 0;
    *--w = '\0';
    do {
        int d = (int)(v % 10);
        *--w = (char)('0' + (d < 0 ? -d : d));
        v /= 10;
    } while (v != 0);
    if (neg)
        *--w = '-';
    strcpy(buf, w);
    return buf;
}

/* Parse and expect a value. */
static void parse_ok(const char *s, int32_t scale, int64_t want)
{
    int64_t v = 0;
    int rc = margin_dec_parse(s, scale, &v);
    ck_assert_msg(rc == MARGIN_OK, "parse('%s', %d) = %d (%s), want OK", s, (int)scale, rc,
                  margin_strerror(rc));
    ck_assert_msg(v == want, "parse('%s', %d) = %lld, want %lld", s, (int)scale, (long long)v,
                  (long long)want);
}

/* Parse and expect an error; the out-parameter must be left alone. */
static void parse_fails(const char *s, int32_t scale, int want)
{
    int64_t v = 4242;
    int rc = margin_dec_parse(s, scale, &v);
    ck_assert_msg(rc == want, "parse('%s', %d) = %d (%s), want %d (%s)", s ? s : "(null)",
                  (int)scale, rc, margin_strerror(rc), want, margin_strerror(want));
    ck_assert_msg(v == 4242, "parse('%s') wrote its out-param on failure", s ? s : "(null)");
}

/* Format and expect a string. */
static void format_is(int64_t v, int32_t scale, const char *want)
{
    char buf[64];
    int rc;
    memset(buf, 'x', sizeof buf);
    rc = margin_dec_format(v, scale, buf, sizeof buf);
    ck_assert_msg(rc == MARGIN_OK, "format(%lld, %d) = %d (%s)", (long long)v, (int)scale, rc,
                  margin_strerror(rc));
    ck_assert_msg(strcmp(buf, want) == 0, "format(%lld, %d) = '%s', want '%s'", (long long)v,
                  (int)scale, buf, want);
}

static void rescale_is(int64_t v, int32_t from, int32_t to, int32_t mode, int want_rc,
                       int64_t want)
{
    int64_t out = 4242;
    int rc = margin_dec_rescale(v, from, to, mode, &out);
    ck_assert_msg(rc == want_rc, "rescale(%lld, %d->%d, %s) = %d (%s), want %d", (long long)v,
                  (int)from, (int)to, mode_name[mode], rc, margin_strerror(rc), want_rc);
    if (want_rc == MARGIN_OK)
        ck_assert_msg(out == want, "rescale(%lld, %d->%d, %s) = %lld, want %lld", (long long)v,
                      (int)from, (int)to, mode_name[mode], (long long)out, (long long)want);
    else
        ck_assert_msg(out == 4242, "rescale wrote its out-param on failure");
}

static void mul_is(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs, int32_t mode,
                   int want_rc, int64_t want)
{
    int64_t out = 4242;
    int rc = margin_dec_mul(a, as, b, bs, rs, mode, &out);
    ck_assert_msg(rc == want_rc, "mul(%lld@%d, %lld@%d -> %d, %s) = %d (%s), want %d",
                  (long long)a, (int)as, (long long)b, (int)bs, (int)rs, mode_name[mode], rc,
                  margin_strerror(rc), want_rc);
    if (want_rc == MARGIN_OK)
        ck_assert_msg(out == want, "mul(%lld@%d, %lld@%d -> %d, %s) = %lld, want %lld",
                      (long long)a, (int)as, (long long)b, (int)bs, (int)rs, mode_name[mode],
                      (long long)out, (long long)want);
    else
        ck_assert_msg(out == 4242, "mul wrote its out-param on failure");
}

static void div_is(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs, int32_t mode,
                   int want_rc, int64_t want)
{
    int64_t out = 4242;
    int rc = margin_dec_div(a, as, b, bs, rs, mode, &out);
    ck_assert_msg(rc == want_rc, "div(%lld@%d, %lld@%d -> %d, %s) = %d (%s), want %d",
                  (long long)a, (int)as, (long long)b, (int)bs, (int)rs, mode_name[mode], rc,
                  margin_strerror(rc), want_rc);
    if (want_rc == MARGIN_OK)
        ck_assert_msg(out == want, "div(%lld@%d, %lld@%d -> %d, %s) = %lld, want %lld",
                      (long long)a, (int)as, (long long)b, (int)bs, (int)rs, mode_name[mode],
                      (long long)out, (long long)want);
    else
        ck_assert_msg(out == 4242, "div wrote its out-param on failure");
}

/* A tiny deterministic generator (64-bit LCG, Knuth's MMIX constants). */
static uint64_t lcg_state;
static uint64_t lcg_next(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state;
}

/* ================================================================== core */

START_TEST(test_parse_basic)
{
    parse_ok("0", 8, 0);
    parse_ok("-0", 8, 0);
    parse_ok("+0", 8, 0);
    parse_ok("0.0", 8, 0);
    parse_ok("1", 8, 100000000);
    parse_ok("+1", 8, 100000000);
    parse_ok("-1", 8, -100000000);
    parse_ok("12", 8, 1200000000);
    parse_ok("007", 0, 7);                 /* leading zeros are plain digits */
    parse_ok("-0.5", 8, -50000000);
    parse_ok("+2.25", 8, 225000000);
    parse_ok("20000.10", 8, 2000010000000); /* 20000.1 * 10^8 */
    parse_ok("20000", 8, 2000000000000);
    parse_ok("0.004", 8, 400000);           /* 0.4 % maintenance rate */
    parse_ok("20", 8, 2000000000);          /* 20x leverage */
    parse_ok("0.1", 8, 10000000);
    parse_ok("0.00000001", 8, 1);           /* smallest unit at scale 8 */
    parse_ok("-0.00000001", 8, -1);
    parse_ok("1.50000000000", 8, 150000000); /* zeros beyond the scale are fine */
    parse_ok("3", 0, 3);
    parse_ok("3.000", 0, 3);
    parse_ok("0.1", 1, 1);
    parse_ok("123.456", 3, 123456);
    parse_ok("123.456", 5, 12345600);
}
END_TEST

START_TEST(test_format_basic)
{
    format_is(0, 8, "0");
    format_is(0, 0, "0");
    format_is(0, 18, "0");
    format_is(100000000, 8, "1");
    format_is(-100000000, 8, "-1");
    format_is(-50000000, 8, "-0.5");
    format_is(150000000, 8, "1.5");
    format_is(2000010000000, 8, "20000.1");
    format_is(2000000000000, 8, "20000");
    format_is(400000, 8, "0.004");
    format_is(1, 8, "0.00000001");
    format_is(-1, 8, "-0.00000001");
    format_is(10, 8, "0.0000001");
    format_is(12, 0, "12");
    format_is(-12, 0, "-12");
    format_is(123456, 3, "123.456");
    format_is(1200, 3, "1.2");
    format_is(1000, 3, "1");
    format_is(1001, 3, "1.001");
}
END_TEST

START_TEST(test_roundtrip_fixed)
{
    /* parse(format(v)) == v for values around every power of ten, at every scale. */
    int32_t scale;
    int k;
    for (scale = 0; scale <= MARGIN_MAX_SCALE; scale++) {
        for (k = 0; k <= 18; k++) {
            int64_t p = margin__pow10_64(k);
            int64_t vals[6];
            int i;
            vals[0] = p;
            vals[1] = -p;
            vals[2] = p - 1;
            vals[3] = -(p - 1);
            vals[4] = p + 1;
            vals[5] = -(p + 1);
            for (i = 0; i < 6; i++) {
                char buf[42];
                int64_t back = 0;
                ck_assert_int_eq(margin_dec_format(vals[i], scale, buf, sizeof buf), MARGIN_OK);
                ck_assert_msg(margin_dec_parse(buf, scale, &back) == MARGIN_OK,
                              "parse('%s', %d) failed", buf, (int)scale);
                ck_assert_msg(back == vals[i], "round trip %lld at %d -> '%s' -> %lld",
                              (long long)vals[i], (int)scale, buf, (long long)back);
            }
        }
    }
}
END_TEST

START_TEST(test_roundtrip_random)
{
    /* 20000 pseudo-random values at random scales: format then parse gives the value back,
     * the text is canonical (no trailing fractional zero, no leading zero but one), and
     * parsing the text at a larger scale agrees with margin_dec_rescale(). */
    int i;
    lcg_state = 20240501;
    for (i = 0; i < 20000; i++) {
        uint64_t r = lcg_next();
        int32_t scale = (int32_t)(lcg_next() % 19);
        int shift = (int)(lcg_next() % 64);
        int64_t v;
        char buf[42];
        int64_t back = 0, up = 0, via = 0;
        size_t n;
        const char *dot;
        int32_t to;

        if (shift == 0)
            v = (int64_t)r; /* full 64-bit pattern, either sign, INT64_MIN included */
        else
            v = (int64_t)(r >> shift) * ((lcg_next() & 1) ? -1 : 1);
        ck_assert_int_eq(margin_dec_format(v, scale, buf, sizeof buf), MARGIN_OK);
        ck_assert_int_eq(margin_dec_parse(buf, scale, &back), MARGIN_OK);
        ck_assert_msg(back == v, "round trip %lld at %d -> '%s' -> %lld", (long long)v,
                      (int)scale, buf, (long long)back);
        n = strlen(buf);
        dot = strchr(buf, '.');
        if (dot != NULL)
            ck_assert_msg(buf[n - 1] != '0', "'%s' has a trailing fractional zero", buf);
        {
            const char *d = buf[0] == '-' ? buf + 1 : buf;
            ck_assert_msg(!(d[0] == '0' && d[1] >= '0' && d[1] <= '9'),
                          "'%s' has a leading zero", buf);
        }
        /* Rescaling up is exact: both routes give the same number or both overflow. */
        to = scale + (int32_t)(lcg_next() % (uint64_t)(19 - scale));
        {
            int rc1 = margin_dec_parse(buf, to, &up);
            int rc2 = margin_dec_rescale(v, scale, to, EXACT, &via);
            ck_assert_int_eq(rc1, rc2);
            if (rc1 == MARGIN_OK)
                ck_assert(up == via);
            else
                ck_assert_int_eq(rc1, MARGIN_EOVERFLOW);
        }
    }
}
END_TEST

START_TEST(test_parse_format_canonical)
{
    /* Canonical strings survive parse then format unchanged. */
    static const char *const canon[] = {
        "0", "1", "-1", "0.5", "-0.5", "20000.1", "19000", "0.004", "0.00000001",
        "92233720368.54775807", "-92233720368.54775808", "12345.6789",
    };
    size_t i;
    for (i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        int64_t v = 0;
        char buf[42];
        ck_assert_int_eq(margin_dec_parse(canon[i], 8, &v), MARGIN_OK);
        ck_assert_int_eq(margin_dec_format(v, 8, buf, sizeof buf), MARGIN_OK);
        ck_assert_str_eq(buf, canon[i]);
    }
}
END_TEST

START_TEST(test_seed_example_math)
{
    /* The seed example of the spec, with the public arithmetic only.
     * Notional Q*E = 0.1 * 20000 = 2000 USDT.               (qty, price at scale 8)
     * Initial margin 2000 / 20 = 100 USDT.                   (leverage at scale 8)
     * Bankruptcy price E - M/Q = 20000 - 100/0.1 = 19000.
     * Liquidation price (policy mark, cum 0, f 0, long s = +1):
     *   LP = (M - Q*E) / (Q*mmr - Q) = (100 - 2000) / (0.1*0.004 - 0.1)
     *      = -1900 / -0.0996 = 19076.3052208835341365...
     *   a long's LP rounds up at scale 8: 19076.30522089. */
    int64_t q = D("0.1"), ep = D("20000"), lev = D("20"), mmr = D("0.004");
    int64_t notional = 0, im = 0, loss = 0, bp = 0, qm = 0, den = 0, num = 0, lp = 0;
    char buf[42];
    ck_assert_int_eq(margin_dec_mul(q, 8, ep, 8, 8, EXACT, &notional), MARGIN_OK);
    ck_assert_int_eq(notional, D("2000"));
    ck_assert_int_eq(margin_dec_div(notional, 8, lev, 8, 8, CEIL, &im), MARGIN_OK);
    ck_assert_int_eq(im, D("100"));
    ck_assert_int_eq(margin_dec_div(im, 8, q, 8, 8, CEIL, &loss), MARGIN_OK);
    ck_assert_int_eq(loss, D("1000"));
    bp = ep - loss;
    ck_assert_int_eq(bp, D("19000"));
    ck_assert_int_eq(margin_dec_mul(q, 8, mmr, 8, 8, EXACT, &qm), MARGIN_OK);
    ck_assert_int_eq(qm, D("0.0004"));
    den = qm - q;
    num = im - notional;
    ck_assert_int_eq(den, D("-0.0996"));
    ck_assert_int_eq(num, D("-1900"));
    ck_assert_int_eq(margin_dec_div(num, 8, den, 8, 8, CEIL, &lp), MARGIN_OK);
    ck_assert_int_eq(lp, D("19076.30522089"));
    ck_assert_int_eq(margin_dec_div(num, 8, den, 8, 8, FLOOR, &lp), MARGIN_OK);
    ck_assert_int_eq(lp, D("19076.30522088"));
    ck_assert_int_eq(margin_dec_format(bp, 8, buf, sizeof buf), MARGIN_OK);
    ck_assert_str_eq(buf, "19000");
}
END_TEST

/* ============================================================== rounding */

/* One row: v at scale `from`, rescaled to `to`; the expected result per mode FLOOR, CEIL,
 * TRUNC, AWAY, HALF_EVEN; EXACT must fail with ERANGE unless exact != 0. */
struct rrow {
    int64_t v;
    int32_t from, to;
    int64_t want[5];
    int exact;
};

static const struct rrow rescale_rows[] = {
    /* value      from to   FLOOR CEIL TRUNC AWAY HEVEN                             */
    {15, 1, 0, {1, 2, 1, 2, 2}, 0},        /*  1.5: tie, 1 is odd  -> 2           */
    {25, 1, 0, {2, 3, 2, 3, 2}, 0},        /*  2.5: tie, 2 is even -> 2           */
    {35, 1, 0, {3, 4, 3, 4, 4}, 0},        /*  3.5: tie -> 4                      */
    {5, 1, 0, {0, 1, 0, 1, 0}, 0},         /*  0.5: tie -> 0                      */
    {14, 1, 0, {1, 2, 1, 2, 1}, 0},        /*  1.4: below half                    */
    {16, 1, 0, {1, 2, 1, 2, 2}, 0},        /*  1.6: above half                    */
    {-15, 1, 0, {-2, -1, -1, -2, -2}, 0},  /* -1.5: tie -> -2                     */
    {-25, 1, 0, {-3, -2, -2, -3, -2}, 0},  /* -2.5: tie -> -2                     */
    {-35, 1, 0, {-4, -3, -3, -4, -4}, 0},  /* -3.5: tie -> -4                     */
    {-5, 1, 0, {-1, 0, 0, -1, 0}, 0},      /* -0.5: tie -> 0                      */
    {-14, 1, 0, {-2, -1, -1, -2, -1}, 0},  /* -1.4                                */
    {-16, 1, 0, {-2, -1, -1, -2, -2}, 0},  /* -1.6                                */
    {10, 1, 0, {1, 1, 1, 1, 1}, 1},        /*  1.0: exact                         */
    {-10, 1, 0, {-1, -1, -1, -1, -1}, 1},  /* -1.0: exact                         */
    {0, 18, 0, {0, 0, 0, 0, 0}, 1},        /*  0                                  */
    /* 2.50000001 and 2.49999999 at scale 8 -> 0: just off the tie                 */
    {250000001, 8, 0, {2, 3, 2, 3, 3}, 0},
    {249999999, 8, 0, {2, 3, 2, 3, 2}, 0},
    {-250000001, 8, 0, {-3, -2, -2, -3, -3}, 0},
    {-249999999, 8, 0, {-3, -2, -2, -3, -2}, 0},
    /* 19076.305220883534 at scale 12 -> 8: digits 19076.30522088|3534 (below half)     */
    {19076305220883534LL, 12, 8, {1907630522088LL, 1907630522089LL, 1907630522088LL,
                                  1907630522089LL, 1907630522088LL}, 0},
    /* 0.125 -> scale 2: tie, 12 is even; 0.135 -> 14                               */
    {125, 3, 2, {12, 13, 12, 13, 12}, 0},
    {135, 3, 2, {13, 14, 13, 14, 14}, 0},
    {-125, 3, 2, {-13, -12, -12, -13, -12}, 0},
    {-135, 3, 2, {-14, -13, -13, -14, -14}, 0},
    /* 1e-18 -> scale 0: tiny positive and negative amounts                        */
    {1, 18, 0, {0, 1, 0, 1, 0}, 0},
    {-1, 18, 0, {-1, 0, 0, -1, 0}, 0},
    /* 0.5 exactly at scale 18 -> 0                                                 */
    {500000000000000000LL, 18, 0, {0, 1, 0, 1, 0}, 0},
    {1500000000000000000LL, 18, 0, {1, 2, 1, 2, 2}, 0},
    /* INT64_MAX / MIN at scale 18 = +9.223372036854775807 / -9.223372036854775808   */
    {INT64_MAX, 18, 0, {9, 10, 9, 10, 9}, 0},
    {INT64_MIN, 18, 0, {-10, -9, -9, -10, -9}, 0},
    /* INT64_MAX at scale 8 -> 0: 92233720368.54775807 (above half)                  */
    {INT64_MAX, 8, 0, {92233720368LL, 92233720369LL, 92233720368LL, 92233720369LL,
                       92233720369LL}, 0},
    {INT64_MIN, 8, 0, {-92233720369LL, -92233720368LL, -92233720368LL, -92233720369LL,
                       -92233720369LL}, 0},
};

START_TEST(test_rescale_rounding_table)
{
    size_t i;
    int mode;
    for (i = 0; i < sizeof rescale_rows / sizeof rescale_rows[0]; i++) {
        const struct rrow *r = &rescale_rows[i];
        for (mode = FLOOR; mode <= HEVEN; mode++)
            rescale_is(r->v, r->from, r->to, mode, MARGIN_OK, r->want[mode]);
        if (r->exact)
            rescale_is(r->v, r->from, r->to, EXACT, MARGIN_OK, r->want[0]);
        else
            rescale_is(r->v, r->from, r->to, EXACT, MARGIN_ERANGE, 0);
    }
}
END_TEST

START_TEST(test_rescale_up)
{
    int mode;
    for (mode = FLOOR; mode <= EXACT; mode++) {
        rescale_is(15, 1, 8, mode, MARGIN_OK, 150000000);       /* 1.5 */
        rescale_is(-15, 1, 8, mode, MARGIN_OK, -150000000);
        rescale_is(1, 0, 18, mode, MARGIN_OK, 1000000000000000000LL);
        rescale_is(9, 0, 18, mode, MARGIN_OK, 9000000000000000000LL);
        rescale_is(123, 5, 5, mode, MARGIN_OK, 123); /* same scale: unchanged */
        rescale_is(INT64_MIN, 3, 3, mode, MARGIN_OK, INT64_MIN);
    }
}
END_TEST

START_TEST(test_mul_rounding)
{
    /* 1.5 * 1.5 = 2.25 -> scale 1: tie, 2.2 is even.
     * 2.5 * 1.5 = 3.75 -> scale 1: tie, 3.7 odd -> 3.8.
     * 0.3 * 0.7 = 0.21 -> scale 1: below half. */
    static const struct {
        int64_t a, b;
        int64_t want[5]; /* FLOOR CEIL TRUNC AWAY HEVEN at scale 1 */
    } rows[] = {
        {15, 15, {22, 23, 22, 23, 22}},    {-15, 15, {-23, -22, -22, -23, -22}},
        {15, -15, {-23, -22, -22, -23, -22}}, {-15, -15, {22, 23, 22, 23, 22}},
        {25, 15, {37, 38, 37, 38, 38}},    {-25, 15, {-38, -37, -37, -38, -38}},
        {3, 7, {2, 3, 2, 3, 2}},           {-3, 7, {-3, -2, -2, -3, -2}},
    };
    size_t i;
    int mode;
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (mode = FLOOR; mode <= HEVEN; mode++)
            mul_is(rows[i].a, 1, rows[i].b, 1, 1, mode, MARGIN_OK, rows[i].want[mode]);
        mul_is(rows[i].a, 1, rows[i].b, 1, 1, EXACT, MARGIN_ERANGE, 0);
        /* at scale 2 the product is exact in every mode */
        for (mode = FLOOR; mode <= EXACT; mode++)
            mul_is(rows[i].a, 1, rows[i].b, 1, 2, mode, MARGIN_OK, rows[i].a * rows[i].b);
    }
}
END_TEST

START_TEST(test_mul_scales)
{
    /* 0.1 BTC * 20000 USDT = 2000 USDT (scale 8 in, scale 8 out). */
    mul_is(10000000, 8, 2000000000000LL, 8, 8, EXACT, MARGIN_OK, 200000000000LL);
    /* BTC big: 10000 BTC * 100000 USDT = 1e9 USDT: the product 1e12 * 1e13 = 1e25 needs the
     * 128-bit intermediate; the result 1e9 * 1e8 = 1e17 fits. */
    mul_is(1000000000000LL, 8, 10000000000000LL, 8, 8, EXACT, MARGIN_OK,
           100000000000000000LL);
    /* Cheap coin: price 0.00000001 at scale 16 (= 10^8 units) times 10^12 units at qty
     * scale 4 (= 10^16 units) = 10^4 USDT = 10^12 at money scale 8. */
    mul_is(100000000LL, 16, 10000000000000000LL, 4, 8, EXACT, MARGIN_OK, 1000000000000LL);
    /* Rate times money: 2000 USDT * 0.0004 taker = 0.8 USDT. */
    mul_is(200000000000LL, 8, 40000, 8, 8, EXACT, MARGIN_OK, 80000000);
    /* Result at a larger scale than both inputs: 0.5 * 4 = 2 at scale 17. */
    mul_is(5, 1, 4, 0, 17, EXACT, MARGIN_OK, 200000000000000000LL);
    /* Result at a smaller scale: 0.5 * 4 = 2 at scale 0, exactly. */
    mul_is(5, 1, 4, 0, 0, EXACT, MARGIN_OK, 2);
}
END_TEST

START_TEST(test_div_rounding)
{
    /* 1/3 = 0.333333333..., 2/3 = 0.666666666... at scale 8. */
    static const struct {
        int64_t a, b;
        int64_t want[5]; /* FLOOR CEIL TRUNC AWAY HEVEN at scale 8 */
    } rows[] = {
        {1, 3, {33333333, 33333334, 33333333, 33333334, 33333333}},
        {-1, 3, {-33333334, -33333333, -33333333, -33333334, -33333333}},
        {1, -3, {-33333334, -33333333, -33333333, -33333334, -33333333}},
        {-1, -3, {33333333, 33333334, 33333333, 33333334, 33333333}},
        {2, 3, {66666666, 66666667, 66666666, 66666667, 66666667}},
        {-2, 3, {-66666667, -66666666, -66666666, -66666667, -66666667}},
    };
    /* Ties at scale 2: 1/8 = 0.125 -> 0.12 (even); 3/8 = 0.375 -> 0.38. */
    static const struct {
        int64_t a, b;
        int64_t want[5];
    } ties[] = {
        {1, 8, {12, 13, 12, 13, 12}},
        {3, 8, {37, 38, 37, 38, 38}},
        {-1, 8, {-13, -12, -12, -13, -12}},
        {-3, 8, {-38, -37, -37, -38, -38}},
        {3, -8, {-38, -37, -37, -38, -38}},
    };
    size_t i;
    int mode;
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (mode = FLOOR; mode <= HEVEN; mode++)
            div_is(rows[i].a, 0, rows[i].b, 0, 8, mode, MARGIN_OK, rows[i].want[mode]);
        div_is(rows[i].a, 0, rows[i].b, 0, 8, EXACT, MARGIN_ERANGE, 0);
    }
    for (i = 0; i < sizeof ties / sizeof ties[0]; i++) {
        for (mode = FLOOR; mode <= HEVEN; mode++)
            div_is(ties[i].a, 0, ties[i].b, 0, 2, mode, MARGIN_OK, ties[i].want[mode]);
        div_is(ties[i].a, 0, ties[i].b, 0, 2, EXACT, MARGIN_ERANGE, 0);
        /* at scale 3 the quotient is exact: 1/8 = 0.125 */
        div_is(ties[i].a, 0, ties[i].b, 0, 3, EXACT, MARGIN_OK, ties[i].want[TRUNC] * 10 +
               (ties[i].want[TRUNC] < 0 ? -5 : 5));
    }
}
END_TEST

START_TEST(test_div_scales)
{
    /* Initial margin: 2000 USDT / 20x = 100 USDT. */
    div_is(200000000000LL, 8, 2000000000LL, 8, 8, EXACT, MARGIN_OK, 10000000000LL);
    /* 1.0 at scale 18 divided by 3 at scale 0 -> scale 0: 0.333... */
    div_is(1000000000000000000LL, 18, 3, 0, 0, FLOOR, MARGIN_OK, 0);
    div_is(1000000000000000000LL, 18, 3, 0, 0, CEIL, MARGIN_OK, 1);
    /* -9.223372036854775808 / 1 -> scale 0: floor -10, ceil -9. */
    div_is(INT64_MIN, 18, 1, 0, 0, FLOOR, MARGIN_OK, -10);
    div_is(INT64_MIN, 18, 1, 0, 0, CEIL, MARGIN_OK, -9);
    /* x / x = 1 at scale 18, even for the largest x. */
    div_is(INT64_MAX, 0, INT64_MAX, 0, 18, EXACT, MARGIN_OK, 1000000000000000000LL);
    div_is(INT64_MIN, 0, INT64_MIN, 0, 18, EXACT, MARGIN_OK, 1000000000000000000LL);
    /* 1 / 1e-18 = 1e18 at scale 0. */
    div_is(1, 0, 1, 18, 0, EXACT, MARGIN_OK, 1000000000000000000LL);
    /* Division by a divisor with more decimals than the result: 1 / 0.004 = 250. */
    div_is(100000000, 8, 400000, 8, 0, EXACT, MARGIN_OK, 250);
}
END_TEST

/* ================================================================ limits */

START_TEST(test_parse_int64_edges)
{
    parse_ok("9223372036854775807", 0, INT64_MAX);
    parse_ok("-9223372036854775808", 0, INT64_MIN);
    parse_ok("+9223372036854775807", 0, INT64_MAX);
    parse_fails("9223372036854775808", 0, MARGIN_EOVERFLOW);
    parse_fails("-9223372036854775809", 0, MARGIN_EOVERFLOW);
    parse_fails("99999999999999999999", 0, MARGIN_EOVERFLOW);
    /* at scale 8 the range is +-92233720368.54775807/8 */
    parse_ok("92233720368.54775807", 8, INT64_MAX);
    parse_ok("-92233720368.54775808", 8, INT64_MIN);
    parse_fails("92233720368.54775808", 8, MARGIN_EOVERFLOW);
    parse_fails("-92233720368.54775809", 8, MARGIN_EOVERFLOW);
    parse_fails("92233720369", 8, MARGIN_EOVERFLOW);
    parse_ok("92233720368", 8, 9223372036800000000LL);
    /* at scale 18 the range is +-9.223372036854775807/8 */
    parse_ok("9.223372036854775807", 18, INT64_MAX);
    parse_ok("-9.223372036854775808", 18, INT64_MIN);
    parse_fails("9.223372036854775808", 18, MARGIN_EOVERFLOW);
    parse_fails("10", 18, MARGIN_EOVERFLOW);
    parse_ok("9", 18, 9000000000000000000LL);
    parse_ok("1", 18, 1000000000000000000LL);
    parse_ok("0.000000000000000001", 18, 1);
    parse_ok("-0.000000000000000001", 18, -1);
    /* very long but within 40 characters: too large, not a parse error */
    parse_fails("1234567890123456789012345678901234567890", 0, MARGIN_EOVERFLOW);
    parse_fails("-123456789012345678901234567890123456789", 8, MARGIN_EOVERFLOW);
    parse_fails("99999999999999999999.999999999999999999", 18, MARGIN_EOVERFLOW);
}
END_TEST

START_TEST(test_parse_length_limit)
{
    /* 40 characters are accepted, 41 are not, whatever the value. */
    char s[64];
    memset(s, '0', sizeof s);
    s[0] = '0';
    s[1] = '.';
    s[40] = '\0'; /* "0." + 38 zeros = 40 chars */
    parse_ok(s, 8, 0);
    s[39] = '1';  /* 0.000...1 at the 38th decimal: non-zero beyond scale 8 */
    parse_fails(s, 8, MARGIN_ERANGE);
    s[39] = '0';
    s[40] = '0';
    s[41] = '\0'; /* 41 chars */
    parse_fails(s, 8, MARGIN_EPARSE);
    memset(s, '0', 41);
    s[40] = '1';
    s[41] = '\0'; /* 41 digits, value 1 */
    parse_fails(s, 0, MARGIN_EPARSE);
    s[0] = '-';   /* 41 chars with the sign */
    parse_fails(s, 0, MARGIN_EPARSE);
    memset(s, '0', 40);
    s[39] = '7';
    s[40] = '\0'; /* 40 digits, value 7 */
    parse_ok(s, 0, 7);
    parse_ok(s, 18, 7000000000000000000LL);
}
END_TEST

START_TEST(test_parse_digits_beyond_scale)
{
    parse_fails("0.123456789", 8, MARGIN_ERANGE);
    parse_ok("0.12345678", 8, 12345678);
    parse_ok("0.123456780", 8, 12345678);
    parse_fails("-0.000000001", 8, MARGIN_ERANGE);
    parse_fails("1.5", 0, MARGIN_ERANGE);
    parse_fails("20000.05", 1, MARGIN_ERANGE);
    parse_ok("20000.10", 1, 200001);
    parse_fails("0.0000000000000000001", 18, MARGIN_ERANGE);
    parse_ok("1.50000000000", 8, 150000000);
    /* 39 characters of which only the first fractional digit is non-zero */
    parse_ok("1.5000000000000000000000000000000000000", 1, 15);
}
END_TEST

START_TEST(test_format_edges)
{
    format_is(INT64_MAX, 0, "9223372036854775807");
    format_is(INT64_MIN, 0, "-9223372036854775808");
    format_is(INT64_MAX, 8, "92233720368.54775807");
    format_is(INT64_MIN, 8, "-92233720368.54775808");
    format_is(INT64_MAX, 18, "9.223372036854775807");
    format_is(INT64_MIN, 18, "-9.223372036854775808");
    format_is(1, 18, "0.000000000000000001");
    format_is(-1, 18, "-0.000000000000000001");
    format_is(1000000000000000000LL, 18, "1");
    format_is(-1000000000000000000LL, 18, "-1");
    format_is(INT64_MIN + 1, 0, "-9223372036854775807");
}
END_TEST

START_TEST(test_format_buffer_sizes)
{
    /* "20000" needs 6 bytes with the NUL. */
    char buf[64];
    ck_assert_int_eq(margin_dec_format(2000000000000LL, 8, buf, 6), MARGIN_OK);
    ck_assert_str_eq(buf, "20000");
    ck_assert_int_eq(margin_dec_format(2000000000000LL, 8, buf, 5), MARGIN_EBUFFER);
    ck_assert_int_eq(margin_dec_format(2000000000000LL, 8, buf, 1), MARGIN_EBUFFER);
    ck_assert_int_eq(margin_dec_format(2000000000000LL, 8, buf, 0), MARGIN_EBUFFER);
    /* "0" needs 2; size 1 fits only the NUL. */
    ck_assert_int_eq(margin_dec_format(0, 8, buf, 2), MARGIN_OK);
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(margin_dec_format(0, 8, buf, 1), MARGIN_EBUFFER);
    /* "-92233720368.54775808" is 21 characters: 22 bytes fit, 21 do not. */
    ck_assert_int_eq(margin_dec_format(INT64_MIN, 8, buf, 22), MARGIN_OK);
    ck_assert_str_eq(buf, "-92233720368.54775808");
    ck_assert_int_eq(margin_dec_format(INT64_MIN, 8, buf, 21), MARGIN_EBUFFER);
    /* "-0.000000000000000001" is 21 characters too. */
    ck_assert_int_eq(margin_dec_format(-1, 18, buf, 22), MARGIN_OK);
    ck_assert_int_eq(margin_dec_format(-1, 18, buf, 21), MARGIN_EBUFFER);
    /* The documented 42 bytes suffice for the longest texts at every scale. */
    {
        int32_t s;
        char b42[42];
        for (s = 0; s <= MARGIN_MAX_SCALE; s++) {
            ck_assert_int_eq(margin_dec_format(INT64_MIN, s, b42, sizeof b42), MARGIN_OK);
            ck_assert_int_eq(margin_dec_format(INT64_MAX, s, b42, sizeof b42), MARGIN_OK);
            ck_assert_int_eq(margin_dec_format(-1, s, b42, sizeof b42), MARGIN_OK);
        }
    }
}
END_TEST

START_TEST(test_rescale_overflow)
{
    rescale_is(INT64_MAX, 0, 1, FLOOR, MARGIN_EOVERFLOW, 0);
    rescale_is(INT64_MIN, 0, 1, FLOOR, MARGIN_EOVERFLOW, 0);
    rescale_is(922337203685477580LL, 0, 1, EXACT, MARGIN_OK, 9223372036854775800LL);
    rescale_is(-922337203685477580LL, 0, 1, EXACT, MARGIN_OK, -9223372036854775800LL);
    rescale_is(922337203685477581LL, 0, 1, EXACT, MARGIN_EOVERFLOW, 0);
    rescale_is(10, 0, 18, EXACT, MARGIN_EOVERFLOW, 0);  /* 10 * 10^18 > 9.22e18 */
    rescale_is(-10, 0, 18, EXACT, MARGIN_EOVERFLOW, 0);
    rescale_is(93, 8, 18, EXACT, MARGIN_OK, 930000000000LL); /* 93 * 10^10 */
    rescale_is(INT64_MAX, 8, 18, EXACT, MARGIN_EOVERFLOW, 0);
    rescale_is(1, 0, 18, EXACT, MARGIN_OK, 1000000000000000000LL);
}
END_TEST

START_TEST(test_mul_overflow)
{
    mul_is(INT64_MAX, 0, 1, 0, 0, EXACT, MARGIN_OK, INT64_MAX);
    mul_is(INT64_MIN, 0, 1, 0, 0, EXACT, MARGIN_OK, INT64_MIN);
    mul_is(INT64_MAX, 0, -1, 0, 0, EXACT, MARGIN_OK, -INT64_MAX);
    mul_is(INT64_MAX, 0, 2, 0, 0, FLOOR, MARGIN_EOVERFLOW, 0);
    mul_is(INT64_MIN, 0, -1, 0, 0, FLOOR, MARGIN_EOVERFLOW, 0); /* 2^63 */
    mul_is(INT64_MIN, 0, INT64_MIN, 0, 0, FLOOR, MARGIN_EOVERFLOW, 0);
    mul_is(INT64_MAX, 8, INT64_MAX, 8, 8, FLOOR, MARGIN_EOVERFLOW, 0);
    /* (-9.223372036854775808)^2 = 2^126 / 10^36 = 85.0705917302346158658...:
     * too big at scale 18, fine at scale 0 (floor 85, ceil 86) and 16. */
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 18, FLOOR, MARGIN_EOVERFLOW, 0);
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 0, FLOOR, MARGIN_OK, 85);
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 0, CEIL, MARGIN_OK, 86);
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 0, HEVEN, MARGIN_OK, 85);
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 16, FLOOR, MARGIN_OK, 850705917302346158LL);
    mul_is(INT64_MIN, 18, INT64_MIN, 18, 16, CEIL, MARGIN_OK, 850705917302346159LL);
    /* -(2^63) * (2^63 - 1) at scale 36 -> 0: -85.07... floor -86, trunc -85. */
    mul_is(INT64_MIN, 18, INT64_MAX, 18, 0, FLOOR, MARGIN_OK, -86);
    mul_is(INT64_MIN, 18, INT64_MAX, 18, 0, TRUNC, MARGIN_OK, -85);
    /* 3 * 4 = 12 overflows at scale 18 (1.2e19), fits at 17. */
    mul_is(3, 0, 4, 0, 18, EXACT, MARGIN_EOVERFLOW, 0);
    mul_is(3, 0, 4, 0, 17, EXACT, MARGIN_OK, 1200000000000000000LL);
}
END_TEST

START_TEST(test_div_overflow)
{
    div_is(INT64_MIN, 0, -1, 0, 0, FLOOR, MARGIN_EOVERFLOW, 0); /* 2^63 */
    div_is(INT64_MAX, 0, -1, 0, 0, EXACT, MARGIN_OK, -INT64_MAX);
    div_is(INT64_MIN, 0, 1, 0, 0, EXACT, MARGIN_OK, INT64_MIN);
    div_is(10, 0, 1, 0, 18, EXACT, MARGIN_EOVERFLOW, 0);        /* 10 at scale 18 */
    div_is(INT64_MAX, 0, 1, 8, 0, EXACT, MARGIN_EOVERFLOW, 0);  /* / 1e-8 */
    div_is(INT64_MAX, 0, 1, 18, 18, EXACT, MARGIN_EOVERFLOW, 0);
    /* 1e-8 / 1e8 at scale 16 = 1e-16 -> 1 unit */
    div_is(1, 8, 10000000000000000LL, 8, 16, EXACT, MARGIN_OK, 1);
    /* and at scale 15 it is lost: floor 0, ceil 1 */
    div_is(1, 8, 10000000000000000LL, 8, 15, FLOOR, MARGIN_OK, 0);
    div_is(1, 8, 10000000000000000LL, 8, 15, CEIL, MARGIN_OK, 1);
}
END_TEST

/* ================================================================ errors */

START_TEST(test_parse_bad_strings)
{
    static const char *const bad[] = {
        "",     "abc",  "1.2.3", "1e5",  "1E5",  "NaN",   "nan",   "inf",   "-inf", "Infinity",
        "-",    "+",    ".",     "5.",   ".5",   "-.5",   "+.5",   "-5.",   " 1",   "1 ",
        "\t1",  "1\n",  "1,5",   "--1",  "+-1",  "-+1",   "0x10",  "1_000", "1'000", "12a",
        "a12",  "1.a",  "1..2",  "- 1",  "1-",   "1.5-",  "１",    "1.2e", "e",     "0b1",
        "1.000000001e5", /* the excess digits must not hide the exponent */
        "0.123456789x",  /* nor trailing garbage */
    };
    size_t i;
    int32_t scale;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (scale = 0; scale <= MARGIN_MAX_SCALE; scale += 6)
            parse_fails(bad[i], scale, MARGIN_EPARSE);
}
END_TEST

START_TEST(test_parse_bad_args)
{
    int64_t v = 4242;
    ck_assert_int_eq(margin_dec_parse(NULL, 8, &v), MARGIN_EINVAL);
    ck_assert_int_eq(v, 4242);
    ck_assert_int_eq(margin_dec_parse("1", 8, NULL), MARGIN_EINVAL);
    parse_fails("1", -1, MARGIN_EINVAL);
    parse_fails("1", 19, MARGIN_EINVAL);
    parse_fails("1", 1000, MARGIN_EINVAL);
    parse_fails("", -1, MARGIN_EINVAL); /* arguments are checked first */
}
END_TEST

START_TEST(test_format_bad_args)
{
    char buf[42];
    ck_assert_int_eq(margin_dec_format(1, 8, NULL, 42), MARGIN_EINVAL);
    ck_assert_int_eq(margin_dec_format(1, -1, buf, sizeof buf), MARGIN_EINVAL);
    ck_assert_int_eq(margin_dec_format(1, 19, buf, sizeof buf), MARGIN_EINVAL);
}
END_TEST

START_TEST(test_arith_bad_args)
{
    int64_t out = 4242;
    /* rescale */
    ck_assert_int_eq(margin_dec_rescale(1, 0, 8, FLOOR, NULL), MARGIN_EINVAL);
    rescale_is(1, -1, 8, FLOOR, MARGIN_EINVAL, 0);
    rescale_is(1, 19, 8, FLOOR, MARGIN_EINVAL, 0);
    rescale_is(1, 8, -1, FLOOR, MARGIN_EINVAL, 0);
    rescale_is(1, 8, 19, FLOOR, MARGIN_EINVAL, 0);
    ck_assert_int_eq(margin_dec_rescale(1, 8, 0, 6, &out), MARGIN_EINVAL);
    ck_assert_int_eq(margin_dec_rescale(1, 8, 0, -1, &out), MARGIN_EINVAL);
    /* mul */
    ck_assert_int_eq(margin_dec_mul(1, 0, 1, 0, 0, FLOOR, NULL), MARGIN_EINVAL);
    mul_is(1, -1, 1, 0, 0, FLOOR, MARGIN_EINVAL, 0);
    mul_is(1, 0, 1, 19, 0, FLOOR, MARGIN_EINVAL, 0);
    mul_is(1, 0, 1, 0, 19, FLOOR, MARGIN_EINVAL, 0);
    ck_assert_int_eq(margin_dec_mul(1, 0, 1, 0, 0, 6, &out), MARGIN_EINVAL);
    ck_assert_int_eq(margin_dec_mul(1, 0, 1, 0, 0, 99, &out), MARGIN_EINVAL);
    /* div */
    ck_assert_int_eq(margin_dec_div(1, 0, 1, 0, 0, FLOOR, NULL), MARGIN_EINVAL);
    div_is(1, 0, 0, 0, 0, FLOOR, MARGIN_EINVAL, 0); /* division by zero */
    div_is(0, 0, 0, 8, 8, EXACT, MARGIN_EINVAL, 0);
    div_is(1, 19, 1, 0, 0, FLOOR, MARGIN_EINVAL, 0);
    div_is(1, 0, 1, -1, 0, FLOOR, MARGIN_EINVAL, 0);
    div_is(1, 0, 1, 0, 19, FLOOR, MARGIN_EINVAL, 0);
    ck_assert_int_eq(margin_dec_div(1, 0, 1, 0, 0, 6, &out), MARGIN_EINVAL);
    ck_assert_int_eq(out, 4242);
}
END_TEST

/* ============================================================== internal */

START_TEST(test_internal_pow10)
{
    int64_t p64 = 1;
    margin__i128 p128 = 1;
    int n;
    for (n = 0; n <= 18; n++) {
        ck_assert_msg(margin__pow10_64(n) == p64, "pow10_64(%d)", n);
        if (n < 18)
            p64 *= 10;
    }
    for (n = 0; n <= 38; n++) {
        char b1[48], b2[48];
        ck_assert_msg(margin__pow10_128(n) == p128, "pow10_128(%d) = %s, want %s", n,
                      i128_str(margin__pow10_128(n), b1), i128_str(p128, b2));
        if (n < 38)
            p128 *= 10;
    }
}
END_TEST

START_TEST(test_internal_rounding_ok)
{
    int r;
    for (r = FLOOR; r <= EXACT; r++)
        ck_assert(margin__rounding_ok(r));
    ck_assert(!margin__rounding_ok(-1));
    ck_assert(!margin__rounding_ok(6));
    ck_assert(!margin__rounding_ok(INT32_MAX));
    ck_assert(!margin__rounding_ok(INT32_MIN));
}
END_TEST

START_TEST(test_internal_narrow)
{
    int64_t v = 4242;
    ck_assert_int_eq(margin__narrow(INT64_MAX, &v), MARGIN_OK);
    ck_assert(v == INT64_MAX);
    ck_assert_int_eq(margin__narrow(INT64_MIN, &v), MARGIN_OK);
    ck_assert(v == INT64_MIN);
    ck_assert_int_eq(margin__narrow(0, &v), MARGIN_OK);
    ck_assert(v == 0);
    v = 4242;
    ck_assert_int_eq(margin__narrow((margin__i128)INT64_MAX + 1, &v), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__narrow((margin__i128)INT64_MIN - 1, &v), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__narrow(I128_MAX, &v), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__narrow(I128_MIN, &v), MARGIN_EOVERFLOW);
    ck_assert(v == 4242);
}
END_TEST

START_TEST(test_internal_mul128)
{
    margin__i128 r = 0;
    const margin__i128 two63 = (margin__i128)1 << 63, two64 = (margin__i128)1 << 64;
    ck_assert_int_eq(margin__mul128(two63, two63, &r), MARGIN_OK); /* 2^126 */
    ck_assert(r == (margin__i128)1 << 126);
    ck_assert_int_eq(margin__mul128(two64, two63, &r), MARGIN_EOVERFLOW); /* 2^127 */
    ck_assert_int_eq(margin__mul128(-two64, two63, &r), MARGIN_OK);       /* -2^127 fits */
    ck_assert(r == I128_MIN);
    ck_assert_int_eq(margin__mul128(I128_MIN, -1, &r), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__mul128(I128_MAX, -1, &r), MARGIN_OK);
    ck_assert(r == -I128_MAX);
    ck_assert_int_eq(margin__mul128(-7, 6, &r), MARGIN_OK);
    ck_assert(r == -42);
    ck_assert_int_eq(margin__mul128(margin__pow10_128(19), margin__pow10_128(19), &r),
                     MARGIN_OK); /* 10^38 < 1.7e38 */
    ck_assert(r == margin__pow10_128(38));
    ck_assert_int_eq(margin__mul128(margin__pow10_128(20), margin__pow10_128(19), &r),
                     MARGIN_EOVERFLOW);
}
END_TEST

START_TEST(test_internal_div128)
{
    margin__i128 r = 0;
    static const struct {
        int num, den;
        int want[5]; /* FLOOR CEIL TRUNC AWAY HEVEN */
    } rows[] = {
        {25, 10, {2, 3, 2, 3, 2}},       /* 2.5 */
        {35, 10, {3, 4, 3, 4, 4}},       /* 3.5 */
        {-25, 10, {-3, -2, -2, -3, -2}}, /* -2.5 */
        {-35, 10, {-4, -3, -3, -4, -4}}, /* -3.5 */
        {25, -10, {-3, -2, -2, -3, -2}}, /* -2.5 */
        {-25, -10, {2, 3, 2, 3, 2}},     /* 2.5 */
        {7, 3, {2, 3, 2, 3, 2}},         /* 2.33 */
        {8, 3, {2, 3, 2, 3, 3}},         /* 2.67 */
        {-7, 3, {-3, -2, -2, -3, -2}},
        {-8, 3, {-3, -2, -2, -3, -3}},
        {9, 3, {3, 3, 3, 3, 3}},         /* exact */
        {0, 5, {0, 0, 0, 0, 0}},
        {1, 2, {0, 1, 0, 1, 0}},         /* 0.5 */
        {-1, 2, {-1, 0, 0, -1, 0}},      /* -0.5 */
        {3, 2, {1, 2, 1, 2, 2}},         /* 1.5 */
    };
    size_t i;
    int mode;
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (mode = FLOOR; mode <= HEVEN; mode++) {
            r = 4242;
            ck_assert_int_eq(margin__div128(rows[i].num, rows[i].den, mode, &r), MARGIN_OK);
            ck_assert_msg(r == rows[i].want[mode], "div128(%d, %d, %s) = %lld, want %d",
                          rows[i].num, rows[i].den, mode_name[mode], (long long)r,
                          rows[i].want[mode]);
        }
        r = 4242;
        if (rows[i].num % rows[i].den == 0) {
            ck_assert_int_eq(margin__div128(rows[i].num, rows[i].den, EXACT, &r), MARGIN_OK);
            ck_assert(r == rows[i].num / rows[i].den);
        } else {
            ck_assert_int_eq(margin__div128(rows[i].num, rows[i].den, EXACT, &r), MARGIN_ERANGE);
        }
    }
    /* Wide numerators over 64-bit denominators (the x86-64 128-by-64 path where the
     * quotient fits 64 bits, the general path where it does not), every sign and mode,
     * against the compiler's 128-bit division with the rounding applied here by hand. */
    {
        uint64_t x = 0x9E3779B97F4A7C15ULL;
        int n;
        for (n = 0; n < 200000; n++) {
            margin__i128 num, den, q, rem, want;
            int neg;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            num = (margin__i128)(((margin__u128)x << 64) | (x * 0x2545F4914F6CDD1DULL));
            num >>= (int)(x % 120); /* every width from 8 to 127 bits */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            den = (margin__i128)(x >> (x % 63));
            if (n & 1)
                den = -den;
            if (n & 2)
                num = -num;
            if (den == 0)
                continue;
            q = num / den;
            rem = num % den;
            neg = (num < 0) != (den < 0);
            mode = (int)(x % 4); /* FLOOR CEIL TRUNC AWAY */
            want = q;
            if (rem != 0) {
                if (mode == FLOOR && neg)
                    want = q - 1;
                else if (mode == CEIL && !neg)
                    want = q + 1;
                else if (mode == AWAY)
                    want = neg ? q - 1 : q + 1;
            }
            ck_assert_int_eq(margin__div128(num, den, mode, &r), MARGIN_OK);
            ck_assert_msg(r == want, "div128 case %d (%s) = %lld..., want %lld...", n,
                          mode_name[mode], (long long)(r >> 64), (long long)(want >> 64));
            ck_assert_int_eq(margin__div128(num, den, EXACT, &r),
                             rem == 0 ? MARGIN_OK : MARGIN_ERANGE);
        }
    }
    /* Errors */
    ck_assert_int_eq(margin__div128(1, 0, FLOOR, &r), MARGIN_EINVAL);
    ck_assert_int_eq(margin__div128(1, 1, 6, &r), MARGIN_EINVAL);
    ck_assert_int_eq(margin__div128(1, 1, -1, &r), MARGIN_EINVAL);
    ck_assert_int_eq(margin__div128(I128_MIN, -1, FLOOR, &r), MARGIN_EOVERFLOW);
    /* Extremes */
    ck_assert_int_eq(margin__div128(I128_MIN, 1, EXACT, &r), MARGIN_OK);
    ck_assert(r == I128_MIN);
    ck_assert_int_eq(margin__div128(I128_MAX, -1, EXACT, &r), MARGIN_OK);
    ck_assert(r == -I128_MAX);
    /* (2^127 - 1) / 2 = 2^126 - 0.5: a tie; 2^126 - 1 is odd so half-even rounds up. */
    ck_assert_int_eq(margin__div128(I128_MAX, 2, HEVEN, &r), MARGIN_OK);
    ck_assert(r == (margin__i128)1 << 126);
    ck_assert_int_eq(margin__div128(I128_MAX, 2, FLOOR, &r), MARGIN_OK);
    ck_assert(r == ((margin__i128)1 << 126) - 1);
    /* -2^127 / 2^127-1: -1.000...0006 -> floor -2, ceil -1, half-even -1 */
    ck_assert_int_eq(margin__div128(I128_MIN, I128_MAX, FLOOR, &r), MARGIN_OK);
    ck_assert(r == -2);
    ck_assert_int_eq(margin__div128(I128_MIN, I128_MAX, HEVEN, &r), MARGIN_OK);
    ck_assert(r == -1);
    /* A huge denominator: 1 / I128_MIN rounds to 0 or -1. */
    ck_assert_int_eq(margin__div128(1, I128_MIN, FLOOR, &r), MARGIN_OK);
    ck_assert(r == -1);
    ck_assert_int_eq(margin__div128(1, I128_MIN, CEIL, &r), MARGIN_OK);
    ck_assert(r == 0);
    ck_assert_int_eq(margin__div128(I128_MAX, I128_MIN, FLOOR, &r), MARGIN_OK);
    ck_assert(r == -1); /* -(1 - 2^-127) */
}
END_TEST

START_TEST(test_internal_rescale128)
{
    margin__i128 r = 0;
    ck_assert_int_eq(margin__rescale128(1, 0, 38, EXACT, &r), MARGIN_OK);
    ck_assert(r == margin__pow10_128(38));
    ck_assert_int_eq(margin__rescale128(2, 0, 38, EXACT, &r), MARGIN_EOVERFLOW); /* 2e38 */
    ck_assert_int_eq(margin__rescale128(1, 0, 39, EXACT, &r), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__rescale128(-17, 4, 4, EXACT, &r), MARGIN_OK);
    ck_assert(r == -17);
    /* down by 38: 10^38 + 5*10^37 = 1.5 -> 2 half-even */
    ck_assert_int_eq(margin__rescale128(margin__pow10_128(38) + 5 * margin__pow10_128(37), 38,
                                        0, HEVEN, &r), MARGIN_OK);
    ck_assert(r == 2);
    /* down by more than 38: any non-zero value is a tiny fraction of a unit */
    ck_assert_int_eq(margin__rescale128(5, 40, 0, CEIL, &r), MARGIN_OK);
    ck_assert(r == 1);
    ck_assert_int_eq(margin__rescale128(5, 40, 0, FLOOR, &r), MARGIN_OK);
    ck_assert(r == 0);
    ck_assert_int_eq(margin__rescale128(-5, 40, 0, FLOOR, &r), MARGIN_OK);
    ck_assert(r == -1);
    ck_assert_int_eq(margin__rescale128(-5, 40, 0, HEVEN, &r), MARGIN_OK);
    ck_assert(r == 0);
    ck_assert_int_eq(margin__rescale128(5, 40, 0, EXACT, &r), MARGIN_ERANGE);
    ck_assert_int_eq(margin__rescale128(0, 40, 0, EXACT, &r), MARGIN_OK);
    ck_assert(r == 0);
    ck_assert_int_eq(margin__rescale128(I128_MAX, 45, 0, AWAY, &r), MARGIN_OK);
    ck_assert(r == 1);
}
END_TEST

START_TEST(test_internal_muldiv)
{
    margin__i128 r = 0;
    /* 10^20 * 10^18 / 10^30 = 10^8: the product needs 128 bits. */
    ck_assert_int_eq(margin__muldiv(margin__pow10_128(20), margin__pow10_128(18),
                                    margin__pow10_128(30), EXACT, &r), MARGIN_OK);
    ck_assert(r == 100000000);
    ck_assert_int_eq(margin__muldiv(7, 1, 2, HEVEN, &r), MARGIN_OK); /* 3.5 -> 4 */
    ck_assert(r == 4);
    ck_assert_int_eq(margin__muldiv(5, 1, 2, HEVEN, &r), MARGIN_OK); /* 2.5 -> 2 */
    ck_assert(r == 2);
    ck_assert_int_eq(margin__muldiv(-5, 3, 2, FLOOR, &r), MARGIN_OK); /* -7.5 -> -8 */
    ck_assert(r == -8);
    ck_assert_int_eq(margin__muldiv(5, 3, 2, EXACT, &r), MARGIN_ERANGE);
    ck_assert_int_eq(margin__muldiv(margin__pow10_128(20), margin__pow10_128(19), 1, FLOOR, &r),
                     MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__muldiv(1, 1, 0, FLOOR, &r), MARGIN_EINVAL);
}
END_TEST

Suite *suite_dec(void)
{
    Suite *s = suite_create("dec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_basic);
    tcase_add_test(tc, test_format_basic);
    tcase_add_test(tc, test_roundtrip_fixed);
    tcase_add_test(tc, test_roundtrip_random);
    tcase_add_test(tc, test_parse_format_canonical);
    tcase_add_test(tc, test_seed_example_math);
    suite_add_tcase(s, tc);

    tc = tcase_create("rounding");
    tcase_add_test(tc, test_rescale_rounding_table);
    tcase_add_test(tc, test_rescale_up);
    tcase_add_test(tc, test_mul_rounding);
    tcase_add_test(tc, test_mul_scales);
    tcase_add_test(tc, test_div_rounding);
    tcase_add_test(tc, test_div_scales);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_parse_int64_edges);
    tcase_add_test(tc, test_parse_length_limit);
    tcase_add_test(tc, test_parse_digits_beyond_scale);
    tcase_add_test(tc, test_format_edges);
    tcase_add_test(tc, test_format_buffer_sizes);
    tcase_add_test(tc, test_rescale_overflow);
    tcase_add_test(tc, test_mul_overflow);
    tcase_add_test(tc, test_div_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_parse_bad_strings);
    tcase_add_test(tc, test_parse_bad_args);
    tcase_add_test(tc, test_format_bad_args);
    tcase_add_test(tc, test_arith_bad_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("internal");
    tcase_add_test(tc, test_internal_pow10);
    tcase_add_test(tc, test_internal_rounding_ok);
    tcase_add_test(tc, test_internal_narrow);
    tcase_add_test(tc, test_internal_mul128);
    tcase_add_test(tc, test_internal_div128);
    tcase_add_test(tc, test_internal_rescale128);
    tcase_add_test(tc, test_internal_muldiv);
    suite_add_tcase(s, tc);
    return s;
}
