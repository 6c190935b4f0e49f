/* Wide integers for exact intermediates beyond 128 bits (see wide.h). The division is
 * Knuth's algorithm D (The Art of Computer Programming, vol. 2, 4.3.1) on 64-bit limbs,
 * with 128-bit arithmetic for each step. */

#include <string.h>

#include "wide.h"

#define L MARGIN__WIDE_LIMBS

typedef margin__u128 u128;

static int top(const uint64_t *w, int n) /* limbs in use: index of the highest nonzero + 1 */
{
    while (n > 0 && w[n - 1] == 0)
        n--;
    return n;
}

void margin__wide_set(margin__wide *x, margin__i128 v)
{
    u128 m = v < 0 ? (u128)0 - (u128)v : (u128)v; /* |INT128_MIN| = 2^127 fits */
    memset(x->w, 0, sizeof x->w);
    x->w[0] = (uint64_t)m;
    x->w[1] = (uint64_t)(m >> 64);
    x->neg = v < 0;
}

int margin__wide_sign(const margin__wide *x)
{
    return top(x->w, L) == 0 ? 0 : x->neg ? -1 : 1;
}

int margin__wide_mul(margin__wide *x, margin__i128 v)
{
    u128 m = v < 0 ? (u128)0 - (u128)v : (u128)v;
    uint64_t b[2], r[L + 2];
    int i, j, nx = top(x->w, L), nb;
    b[0] = (uint64_t)m;
    b[1] = (uint64_t)(m >> 64);
    nb = b[1] ? 2 : 1;
    if (nx + nb > L + 2) /* (cannot be: nx <= L, nb <= 2) */
        return MARGIN_EOVERFLOW;
    memset(r, 0, sizeof r);
    for (i = 0; i < nx; i++) {
        uint64_t carry = 0;
        for (j = 0; j < nb; j++) {
            u128 t = (u128)x->w[i] * b[j] + r[i + j] + carry; /* < 2^128 */
            r[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        r[i + nb] = carry; /* (r[i + nb] was 0: nothing above row i yet) */
    }
    if (r[L] != 0 || r[L + 1] != 0)
        return MARGIN_EOVERFLOW;
    memcpy(x->w, r, sizeof x->w);
    x->neg = top(x->w, L) != 0 && (x->neg != (v < 0));
    return MARGIN_OK;
}

static int mag_cmp(const uint64_t *a, const uint64_t *b)
{
    int i;
    for (i = L - 1; i >= 0; i--)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* r = a + b; 1 on a carry out of the top limb */
static int mag_add(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
    uint64_t c = 0;
    int i;
    for (i = 0; i < L; i++) {
        u128 t = (u128)a[i] + b[i] + c;
        r[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    return c != 0;
}

/* r = a - b for a >= b */
static void mag_sub(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
    uint64_t br = 0;
    int i;
    for (i = 0; i < L; i++) {
        uint64_t d = a[i] - b[i] - br;
        br = (a[i] < b[i]) || (a[i] == b[i] && br);
        r[i] = d;
    }
}

int margin__wide_add(margin__wide *x, const margin__wide *y)
{
    uint64_t r[L];
    if (x->neg == y->neg) {
        if (mag_add(r, x->w, y->w))
            return MARGIN_EOVERFLOW;
        memcpy(x->w, r, sizeof r);
        x->neg = top(r, L) != 0 && y->neg;
        return MARGIN_OK;
    }
    if (mag_cmp(x->w, y->w) >= 0) { /* the sign of x stays (0: none) */
        mag_sub(r, x->w, y->w);
    } else {
        mag_sub(r, y->w, x->w);
        x->neg = y->neg;
    }
    memcpy(x->w, r, sizeof r);
    if (top(r, L) == 0)
        x->neg = 0;
    return MARGIN_OK;
}

int margin__wide_cmp(const margin__wide *a, const margin__wide *b)
{
    int sa = margin__wide_sign(a), sb = margin__wide_sign(b), c;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    c = mag_cmp(a->w, b->w);
    return sa < 0 ? -c : c;
}

/* q = u / v, r = u % v (magnitudes; v != 0): algorithm D, or a short division when v has
 * one limb. q and r have L limbs. */
static void mag_divmod(const uint64_t *u, const uint64_t *v, uint64_t *q, uint64_t *r)
{
    int n = top(v, L), m = top(u, L), i, j, s;
    uint64_t un[L + 1], vn[L];
    memset(q, 0, L * sizeof *q);
    memset(r, 0, L * sizeof *r);
    if (m < n || (m == n && mag_cmp(u, v) < 0)) { /* u < v */
        memcpy(r, u, L * sizeof *r);
        return;
    }
    if (n == 1) {
        uint64_t rem = 0;
        for (i = m - 1; i >= 0; i--) {
            u128 t = ((u128)rem << 64) | u[i];
            q[i] = (uint64_t)(t / v[0]);
            rem = (uint64_t)(t % v[0]);
        }
        r[0] = rem;
        return;
    }
    /* normalize: the divisor's top limb gets its top bit set */
    s = __builtin_clzll(v[n - 1]);
    for (i = n - 1; i > 0; i--)
        vn[i] = s ? (v[i] << s) | (v[i - 1] >> (64 - s)) : v[i];
    vn[0] = v[0] << s;
    un[m] = s ? u[m - 1] >> (64 - s) : 0;
    for (i = m - 1; i > 0; i--)
        un[i] = s ? (u[i] << s) | (u[i - 1] >> (64 - s)) : u[i];
    un[0] = u[0] << s;
    for (j = m - n; j >= 0; j--) {
        u128 num = ((u128)un[j + n] << 64) | un[j + n - 1];
        u128 qhat = num / vn[n - 1], rhat = num % vn[n - 1];
        int64_t borrow;
        uint64_t carry;
        while (qhat >> 64 || qhat * vn[n - 2] > ((rhat << 64) | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >> 64)
                break;
        }
        /* un[j .. j+n] -= qhat * vn */
        borrow = 0;
        carry = 0;
        for (i = 0; i < n; i++) {
            u128 p = qhat * vn[i] + carry;
            margin__i128 t;
            carry = (uint64_t)(p >> 64);
            t = (margin__i128)un[i + j] - (uint64_t)p + borrow;
            un[i + j] = (uint64_t)t;
            borrow = (int64_t)(t >> 64);
        }
        {
            margin__i128 t = (margin__i128)un[j + n] - carry + borrow;
            un[j + n] = (uint64_t)t;
            borrow = (int64_t)(t >> 64);
        }
        if (borrow < 0) { /* qhat was one too large: add vn back */
            uint64_t c = 0;
            qhat--;
            for (i = 0; i < n; i++) {
                u128 t = (u128)un[i + j] + vn[i] + c;
                un[i + j] = (uint64_t)t;
                c = (uint64_t)(t >> 64);
            }
            un[j + n] += c;
        }
        q[j] = (uint64_t)qhat;
    }
    /* the remainder: un >> s */
    for (i = 0; i < n; i++)
        r[i] = s ? (un[i] >> s) | (un[i + 1] << (64 - s)) : un[i];
}

/* Whether a quotient with a nonzero remainder moves one unit away from zero: 1 or 0, or
 * -1 for MARGIN_ROUND_EXACT. neg: the true quotient is negative; half: the remainder
 * against the divisor less it (-1, 0, 1); odd: the truncated quotient is odd. */
static int rounds_away(int rounding, int neg, int half, int odd)
{
    switch (rounding) {
    case MARGIN_ROUND_FLOOR:
        return neg;
    case MARGIN_ROUND_CEIL:
        return !neg;
    case MARGIN_ROUND_TRUNC:
        return 0;
    case MARGIN_ROUND_AWAY:
        return 1;
    case MARGIN_ROUND_HALF_EVEN:
        return half > 0 || (half == 0 && odd);
    default: /* MARGIN_ROUND_EXACT */
        return -1;
    }
}

int margin__wide_div(const margin__wide *num, const margin__wide *den, int rounding,
                     margin__i128 *out)
{
    uint64_t q[L], r[L], rest[L];
    int neg, up = 0, i;
    u128 mag;
    if (top(den->w, L) == 0 || !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    if (top(num->w, L) <= 2 && top(den->w, L) <= 2) { /* both below 2^128: one division */
        u128 a = ((u128)num->w[1] << 64) | num->w[0], b = ((u128)den->w[1] << 64) | den->w[0];
        u128 qq, rr;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (b >> 64 == 0 && a >> 64 < b) { /* the quotient fits 64 bits: one divq */
            uint64_t q64, r64;
            __asm__("divq %4"
                    : "=a"(q64), "=d"(r64)
                    : "a"((uint64_t)a), "d"((uint64_t)(a >> 64)), "rm"((uint64_t)b));
            qq = q64;
            rr = r64;
        } else
#endif
        {
            qq = a / b;
            rr = a - qq * b;
        }
        memset(q, 0, sizeof q);
        memset(r, 0, sizeof r);
        q[0] = (uint64_t)qq;
        q[1] = (uint64_t)(qq >> 64);
        r[0] = (uint64_t)rr;
        r[1] = (uint64_t)(rr >> 64);
    } else {
        mag_divmod(num->w, den->w, q, r);
    }
    neg = margin__wide_sign(num) * margin__wide_sign(den) < 0;
    for (i = 2; i < L; i++)
        if (q[i] != 0)
            return MARGIN_EOVERFLOW;
    mag = ((u128)q[1] << 64) | q[0];
    if (top(r, L) != 0) {
        mag_sub(rest, den->w, r); /* (for half-even: r against den - r) */
        if ((up = rounds_away(rounding, neg, mag_cmp(r, rest), (int)(q[0] & 1))) < 0)
            return MARGIN_ERANGE;
    }
    /* |result| = mag + up must be at most 2^127 - 1, or 2^127 when negative */
    if (mag > ((u128)1 << 127) - (neg ? 0 : 1) - (u128)up)
        return MARGIN_EOVERFLOW;
    mag += (u128)up;
    *out = neg ? (margin__i128)((u128)0 - mag) : (margin__i128)mag;
    return MARGIN_OK;
}

/* floor((u2:u1:u0) / v) and the remainder, for v >= 2^64 and (u2:u1) < v (the quotient
 * fits 64 bits): one step of algorithm D (normalized, the estimate from the top limbs,
 * at most two corrections, one add-back). */
static uint64_t div3by2(uint64_t u2, uint64_t u1, uint64_t u0, u128 v, u128 *rem)
{
    int s = __builtin_clzll((uint64_t)(v >> 64));
    u128 vn = v << s;
    uint64_t vn1 = (uint64_t)(vn >> 64), vn0 = (uint64_t)vn;
    /* (u2:u1) < v: after the shift the top limb is 0, the rest (n2:n1:n0) */
    uint64_t n2 = s ? (u2 << s) | (u1 >> (64 - s)) : u2;
    uint64_t n1 = s ? (u1 << s) | (u0 >> (64 - s)) : u1;
    uint64_t n0 = u0 << s;
    u128 top = ((u128)n2 << 64) | n1, qhat, rhat, p, r;
    uint64_t carry, borrow, lo;
    if (n2 >= vn1) { /* (n2:n1) < vn, so n2 == vn1: the estimate is 2^64 - 1 */
        qhat = UINT64_MAX;
        rhat = top - qhat * vn1;
    } else { /* n2 < vn1: the quotient fits 64 bits */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        uint64_t q64, r64;
        __asm__("divq %4" : "=a"(q64), "=d"(r64) : "a"(n1), "d"(n2), "rm"(vn1));
        qhat = q64;
        rhat = r64;
#else
        qhat = top / vn1;
        rhat = top % vn1;
#endif
    }
    while (rhat >> 64 == 0 && qhat * vn0 > ((rhat << 64) | n0)) {
        qhat--;
        rhat += vn1;
    }
    /* (n2:n1:n0) - qhat*(vn1:vn0), in three limbs */
    p = qhat * vn0;
    lo = (uint64_t)p;
    carry = (uint64_t)(p >> 64);
    borrow = n0 < lo;
    n0 -= lo;
    p = qhat * vn1 + carry; /* < 2^128 */
    {
        u128 mid = ((u128)n2 << 64 | n1);
        u128 sub = p + borrow;
        if (sub > mid) { /* one too many: add vn back */
            qhat--;
            r = (((u128)(uint64_t)(mid - sub) << 64) | n0) + vn; /* the true remainder < vn */
        } else {
            r = ((mid - sub) << 64) | n0;
        }
    }
    *rem = r >> s;
    return (uint64_t)qhat;
}

int margin__muldiv_u64(margin__i128 a, uint64_t b, margin__i128 d, int rounding,
                       margin__i128 *out)
{
    u128 am = a < 0 ? (u128)0 - (u128)a : (u128)a, dm = d < 0 ? (u128)0 - (u128)d : (u128)d;
    u128 lo = (u128)(uint64_t)am * b, hi = (u128)(uint64_t)(am >> 64) * b + (lo >> 64);
    uint64_t u0 = (uint64_t)lo, u1 = (uint64_t)hi, u2 = (uint64_t)(hi >> 64);
    int neg = (a < 0) != (d < 0), up = 0;
    u128 q, r;
    if (dm == 0 || !margin__rounding_ok(rounding))
        return MARGIN_EINVAL;
    if (dm >> 64 == 0) { /* a divisor of one limb: three steps of short division */
        uint64_t dv = (uint64_t)dm, rr = 0, qd[3];
        uint64_t ud[3];
        int j;
        ud[0] = u0;
        ud[1] = u1;
        ud[2] = u2;
        qd[2] = qd[1] = 0;
        /* from the top digit that is not 0, or (u1 < dv) a single division */
        j = u2 != 0 ? 2 : u1 >= dv ? 1 : 0;
        if (j == 0)
            rr = u1;
        for (; j >= 0; j--) { /* rr < dv: each quotient digit fits 64 bits */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
            __asm__("divq %4" : "=a"(qd[j]), "=d"(rr) : "a"(ud[j]), "d"(rr), "rm"(dv));
#else
            u128 t = ((u128)rr << 64) | ud[j];
            qd[j] = (uint64_t)(t / dv);
            rr = (uint64_t)(t % dv);
#endif
        }
        if (qd[2] != 0)
            return MARGIN_EOVERFLOW;
        q = ((u128)qd[1] << 64) | qd[0];
        r = rr;
        if (q >> 127)
            return MARGIN_EOVERFLOW;
        goto rounded;
    }
    if ((((u128)u2 << 64) | u1) >= dm) {
        margin__wide n, k; /* the general case */
        margin__wide_set(&n, a);
        margin__wide_set(&k, d);
        if (margin__wide_mul(&n, (margin__i128)b) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
        return margin__wide_div(&n, &k, rounding, out);
    }
    q = div3by2(u2, u1, u0, dm, &r);
rounded:
    if (r != 0 &&
        (up = rounds_away(rounding, neg, r > dm - r ? 1 : r == dm - r ? 0 : -1, (int)(q & 1))) < 0)
        return MARGIN_ERANGE;
    if (q + (u128)up > ((u128)1 << 127) - (neg ? 0 : 1))
        return MARGIN_EOVERFLOW;
    q += (u128)up;
    *out = neg ? (margin__i128)((u128)0 - q) : (margin__i128)q;
    return MARGIN_OK;
}

int margin__muldiv2(margin__i128 a, margin__i128 b, margin__i128 c, margin__i128 d, int rounding,
                    margin__i128 *out)
{
    margin__wide n, k;
    margin__i128 x, y;
    int rc;
    /* both products in 128 bits (the usual case of a value or a fee): one division */
    if (!__builtin_mul_overflow(a, b, &x) && !__builtin_mul_overflow(c, d, &y) && y != 0)
        return margin__div128(x, y, rounding, out);
    margin__wide_set(&n, a);
    margin__wide_set(&k, c);
    if ((rc = margin__wide_mul(&n, b)) != MARGIN_OK || (rc = margin__wide_mul(&k, d)) != MARGIN_OK)
        return rc; /* (two 128-bit factors never exceed 256 bits) */
    return margin__wide_div(&n, &k, rounding, out);
}
