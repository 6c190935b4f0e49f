/* Exact decimal fixed point: parsing, formatting, rounding, rescaling, mul and div. */
#include <string.h>

#include "dec.h"

static const int64_t pow10_64[19] = {
    1LL,
    10LL,
    100LL,
    1000LL,
    10000LL,
    100000LL,
    1000000LL,
    10000000LL,
    100000000LL,
    1000000000LL,
    10000000000LL,
    100000000000LL,
    1000000000000LL,
    10000000000000LL,
    100000000000000LL,
    1000000000000000LL,
    10000000000000000LL,
    100000000000000000LL,
    1000000000000000000LL,
};

int64_t margin__pow10_64(int n)
{
    return pow10_64[n];
}

#define E18 ((margin__i128)1000000000000000000LL)
/* 10^0 .. 10^38 (margin__pow10_128() in dec.h reads it) */
const margin__i128 margin__pow10_tab[39] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
    10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL, 1000000000000000000LL,
    E18 * 10, E18 * 100, E18 * 1000, E18 * 10000, E18 * 100000, E18 * 1000000,
    E18 * 10000000, E18 * 100000000, E18 * 1000000000, E18 * 10000000000LL,
    E18 * 100000000000LL, E18 * 1000000000000LL, E18 * 10000000000000LL,
    E18 * 100000000000000LL, E18 * 1000000000000000LL, E18 * 10000000000000000LL,
    E18 * 100000000000000000LL, E18 * 1000000000000000000LL, E18 * E18 * 10,
    E18 * E18 * 100,
};

int margin__rounding_ok(int32_t r)
{
    return r >= MARGIN_ROUND_FLOOR && r <= MARGIN_ROUND_EXACT;
}



#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* num / den truncated toward zero, and the remainder (the sign of num), with the x86-64
 * 128-by-64-bit division, when |den| < 2^64 and the quotient |num| / |den| < 2^64 (the
 * instruction's condition: the high word of |num| below |den|); else 0, nothing done.
 * The general path (the compiler's 128-bit division) is several times slower. */
static int div_128_by_64(margin__i128 num, margin__i128 den, margin__i128 *q, margin__i128 *r)
{
    margin__u128 an = num < 0 ? (margin__u128)0 - (margin__u128)num : (margin__u128)num;
    margin__u128 ad = den < 0 ? (margin__u128)0 - (margin__u128)den : (margin__u128)den;
    uint64_t hi = (uint64_t)(an >> 64), lo = (uint64_t)an, d = (uint64_t)ad, uq, ur;
    if ((ad >> 64) != 0 || hi >= d)
        return 0;
    __asm__("divq %4" : "=a"(uq), "=d"(ur) : "a"(lo), "d"(hi), "rm"(d) : "cc");
    *q = (num < 0) != (den < 0) ? -(margin__i128)uq : (margin__i128)uq;
    *r = num < 0 ? -(margin__i128)ur : (margin__i128)ur;
    return 1;
}
#endif

int margin__div128(margin__i128 num, margin__i128 den, int rounding, margin__i128 *out)
{
    margin__i128 q, r;
    int neg;

    if (den == 0 || !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    if (den == -1) {
        if (__builtin_mul_overflow(num, -1, &q))
            return MARGIN_EOVERFLOW;
        *out = q;
        return MARGIN_OK;
    }
    if (num >= INT64_MIN && num <= INT64_MAX && den >= INT64_MIN && den <= INT64_MAX) {
        /* both fit in 64 bits (the usual case): one hardware division; den == -1, the only
         * 64-bit overflow, was handled above */
        q = (int64_t)num / (int64_t)den; /* truncates toward zero */
        r = (int64_t)num % (int64_t)den;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    else if (div_128_by_64(num, den, &q, &r)) {
        /* |den| < 2^64 and the quotient fits 64 bits: one hardware division */
    }
#endif
    else {
        q = num / den; /* truncates toward zero */
        r = num - q * den;
    }
    if (r == 0) {
        *out = q;
        return MARGIN_OK;
    }
    neg = (num < 0) != (den < 0); /* true quotient is negative */
    switch (rounding) {
    case MARGIN_ROUND_FLOOR:
        if (neg)
            q -= 1;
        break;
    case MARGIN_ROUND_CEIL:
        if (!neg)
            q += 1;
        break;
    case MARGIN_ROUND_TRUNC:
        break;
    case MARGIN_ROUND_AWAY:
        q += neg ? -1 : 1;
        break;
    case MARGIN_ROUND_HALF_EVEN: {
        /* compare |r| with |den| - |r| in unsigned 128 bits: |den| may be 2^127 */
        __extension__ typedef unsigned __int128 u128;
        u128 ar = r < 0 ? (u128)0 - (u128)r : (u128)r;
        u128 ad = den < 0 ? (u128)0 - (u128)den : (u128)den;
        u128 rest = ad - ar; /* > 0 since |r| < |den| */
        if (ar > rest || (ar == rest && (q & 1) != 0))
            q += neg ? -1 : 1;
        break;
    }
    case MARGIN_ROUND_EXACT:
    default:
        return MARGIN_ERANGE;
    }
    *out = q;
    return MARGIN_OK;
}

int margin__rescale128(margin__i128 v, int from, int to, int rounding, margin__i128 *out)
{
    if (to == from) {
        *out = v;
        return MARGIN_OK;
    }
    if (to > from) {
        if (to - from > 38)
            return MARGIN_EOVERFLOW;
        return margin__mul128(v, margin__pow10_128(to - from), out);
    }
    if (from - to > 38) {
        /* |v| < 10^39 so the quotient truncates to 0 */
        return margin__div128(v == 0 ? 0 : (v < 0 ? -1 : 1), margin__pow10_128(38),
                              rounding, out);
    }
    return margin__div128(v, margin__pow10_128(from - to), rounding, out);
}

int margin__muldiv(margin__i128 a, margin__i128 b, margin__i128 d, int rounding,
                   margin__i128 *out)
{
    margin__i128 p;
    int rc = margin__mul128(a, b, &p);
    if (rc != MARGIN_OK)
        return rc;
    return margin__div128(p, d, rounding, out);
}

/* ---- public API ---- */

int32_t margin_money_scale(void)
{
    return MARGIN_MONEY_SCALE;
}

int32_t margin_rate_scale(void)
{
    return MARGIN_RATE_SCALE;
}

#define MARGIN_DEC_MAX_LEN 40

int margin_dec_parse(const char *s, int32_t scale, int64_t *out)
{
    const char *p;
    int neg = 0, int_digits = 0, frac_digits = 0;
    margin__i128 v = 0;
    size_t len;

    if (s == NULL || out == NULL || scale < 0 || scale > MARGIN_MAX_SCALE)
        return MARGIN_EINVAL;
    for (len = 0; len <= MARGIN_DEC_MAX_LEN && s[len] != '\0'; len++)
        ;
    if (len == 0 || len > MARGIN_DEC_MAX_LEN)
        return MARGIN_EPARSE;
    /* the grammar first, so that a string that is not a plain decimal is MARGIN_EPARSE
     * whatever its digits: [+-]digits[.digits] */
    p = s + (*s == '-' || *s == '+');
    if (*p < '0' || *p > '9')
        return MARGIN_EPARSE;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return MARGIN_EPARSE;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return MARGIN_EPARSE;
    p = s;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    while (*p >= '0' && *p <= '9') {
        /* at most 40 characters: v < 10^40 may exceed int128 only past 38 digits */
        if (v > (margin__i128)1 << 120)
            return MARGIN_EOVERFLOW;
        v = v * 10 + (*p - '0');
        int_digits++;
        p++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_digits < scale) {
                if (v > (margin__i128)1 << 120)
                    return MARGIN_EOVERFLOW;
                v = v * 10 + (*p - '0');
            } else if (*p != '0') {
                /* validate the rest of the string before reporting lost digits */
                const char *q = p;
                while (*q >= '0' && *q <= '9')
                    q++;
                if (*q != '\0' || int_digits == 0)
                    return MARGIN_EPARSE;
                return MARGIN_ERANGE;
            }
            frac_digits++;
            p++;
        }
        if (frac_digits == 0)
            return MARGIN_EPARSE;
    }
    if (*p != '\0' || int_digits == 0)
        return MARGIN_EPARSE;
    if (frac_digits < scale) {
        if (margin__mul128(v, margin__pow10_128(scale - frac_digits), &v) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
    }
    if (neg)
        v = -v;
    return margin__narrow(v, out);
}

int margin_dec_format(int64_t v, int32_t scale, char *buf, size_t size)
{
    char tmp[48];
    char *w = tmp + sizeof tmp;
    uint64_t u;
    int digits = 0, neg = v < 0;
    size_t n;

    if (buf == NULL || scale < 0 || scale > MARGIN_MAX_SCALE)
        return MARGIN_EINVAL;
    u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    *--w = '\0';
    /* fractional digits, dropping trailing zeros */
    if (scale > 0) {
        int started = 0;
        for (digits = 0; digits < scale; digits++) {
            int d = (int)(u % 10);
            u /= 10;
            if (d != 0 || started) {
                *--w = (char)('0' + d);
                started = 1;
            }
        }
        if (started)
            *--w = '.';
    }
    do {
        *--w = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    if (neg)
        *--w = '-';
    n = (size_t)(tmp + sizeof tmp - w);
    if (n > size)
        return MARGIN_EBUFFER;
    memcpy(buf, w, n);
    return MARGIN_OK;
}

int margin_dec_rescale(int64_t v, int32_t from, int32_t to, int32_t rounding, int64_t *out)
{
    margin__i128 r;
    int rc;
    if (out == NULL || from < 0 || from > MARGIN_MAX_SCALE || to < 0 || to > MARGIN_MAX_SCALE ||
        !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    rc = margin__rescale128(v, from, to, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

int margin_dec_mul(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs, int32_t rounding,
                   int64_t *out)
{
    margin__i128 p, r;
    int rc;
    if (out == NULL || as < 0 || as > MARGIN_MAX_SCALE || bs < 0 || bs > MARGIN_MAX_SCALE ||
        rs < 0 || rs > MARGIN_MAX_SCALE || !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    p = (margin__i128)a * b; /* |a*b| < 2^126: cannot overflow */
    rc = margin__rescale128(p, as + bs, rs, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

int margin_dec_div(int64_t a, int32_t as, int64_t b, int32_t bs, int32_t rs, int32_t rounding,
                   int64_t *out)
{
    /* a/10^as / (b/10^bs) * 10^rs = a * 10^(rs + bs - as) / b */
    margin__i128 num = a, den = b, r;
    int shift = rs + bs - as, rc;
    if (out == NULL || b == 0 || as < 0 || as > MARGIN_MAX_SCALE || bs < 0 ||
        bs > MARGIN_MAX_SCALE || rs < 0 || rs > MARGIN_MAX_SCALE || !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    if (shift >= 0) {
        rc = margin__mul128(num, margin__pow10_128(shift), &num);
        if (rc != MARGIN_OK)
            return rc;
    } else {
        den = den * margin__pow10_128(-shift); /* |b| * 10^18 < 2^127 */
    }
    rc = margin__div128(num, den, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}
