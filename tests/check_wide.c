/* Suite "wide": the 384-bit intermediates of lib/wide.c against an independent model.
 *
 * The model keeps numbers as twelve 32-bit digits and divides one bit at a time
 * (shift, compare, subtract): slow and plainly correct, and sharing no code with the
 * library's 64-bit-limb algorithm D. Each case forms a*b and c*d from random 128-bit
 * factors of random lengths (so that every limb count of numerator and divisor occurs,
 * including divisors of one limb and quotients near 2^127), divides with every rounding
 * mode, and checks the library's result against the model's quotient and remainder. */
#include <check.h>
#include <string.h>

#include "helpers.h"
#include "suites.h"
#include "wide.h"

#define D32 12 /* 384 bits */

typedef struct {
    uint32_t d[D32];
} ref_t; /* a magnitude */

/* r = a * b (both below 2^128): schoolbook on 32-bit digits */
static void ref_mul(ref_t *r, margin__u128 a, margin__u128 b)
{
    uint32_t x[4], y[4];
    uint64_t acc[8] = {0};
    int i, j;
    for (i = 0; i < 4; i++) {
        x[i] = (uint32_t)(a >> (32 * i));
        y[i] = (uint32_t)(b >> (32 * i));
    }
    memset(r, 0, sizeof *r);
    for (i = 0; i < 4; i++) {
        uint64_t carry = 0;
        for (j = 0; j < 4; j++) {
            uint64_t t = (uint64_t)x[i] * y[j] + (uint32_t)acc[i + j] + carry;
            acc[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        for (j = i + 4; carry && j < 8; j++) {
            uint64_t t = (uint32_t)acc[j] + carry;
            acc[j] = (uint32_t)t;
            carry = t >> 32;
        }
    }
    for (i = 0; i < 8; i++)
        r->d[i] = (uint32_t)acc[i];
}

static int ref_cmp(const ref_t *a, const ref_t *b)
{
    int i;
    for (i = D32 - 1; i >= 0; i--)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void ref_sub(ref_t *a, const ref_t *b) /* a -= b, a >= b */
{
    int64_t br = 0;
    int i;
    for (i = 0; i < D32; i++) {
        int64_t t = (int64_t)a->d[i] - b->d[i] - br;
        br = t < 0;
        a->d[i] = (uint32_t)(t + (br ? ((int64_t)1 << 32) : 0));
    }
}

/* q, r = u / v, u % v, one bit at a time */
static void ref_divmod(const ref_t *u, const ref_t *v, ref_t *q, ref_t *r)
{
    int bit, i;
    memset(q, 0, sizeof *q);
    memset(r, 0, sizeof *r);
    for (bit = 32 * D32 - 1; bit >= 0; bit--) {
        for (i = D32 - 1; i > 0; i--) /* r = 2r + bit */
            r->d[i] = (r->d[i] << 1) | (r->d[i - 1] >> 31);
        r->d[0] = (r->d[0] << 1) | ((u->d[bit / 32] >> (bit % 32)) & 1u);
        if (ref_cmp(r, v) >= 0) {
            ref_sub(r, v);
            q->d[bit / 32] |= 1u << (bit % 32);
        }
    }
}

static margin__u128 mag(margin__i128 v)
{
    return v < 0 ? (margin__u128)0 - (margin__u128)v : (margin__u128)v;
}

/* a random value of a random length (1 to 127 bits), random sign */
static margin__i128 draw(uint64_t *rng)
{
    int bits = 1 + (int)(splitmix64(rng) % 127);
    margin__u128 v = ((margin__u128)splitmix64(rng) << 64) | splitmix64(rng);
    v >>= 128 - bits;
    if (v == 0)
        v = 1;
    return splitmix64(rng) & 1 ? -(margin__i128)v : (margin__i128)v;
}

/* what the model says round(a*b/(c*d)) is, or 0 when it does not fit in int128 */
static int model(margin__i128 a, margin__i128 b, margin__i128 c, margin__i128 d, int mode,
                 margin__i128 *out)
{
    ref_t n, k, q, r, twice;
    int neg = ((a < 0) != (b < 0)) != ((c < 0) != (d < 0)), i, up = 0, nz = 0, cmp;
    margin__u128 qm;
    ref_mul(&n, mag(a), mag(b));
    ref_mul(&k, mag(c), mag(d));
    ref_divmod(&n, &k, &q, &r);
    for (i = 4; i < D32; i++)
        if (q.d[i])
            return 0;
    for (i = 0; i < D32; i++)
        nz |= r.d[i] != 0;
    qm = 0;
    for (i = 3; i >= 0; i--)
        qm = (qm << 32) | q.d[i];
    /* 2r against k, on the digits (2r < 2k fits: k < 2^256 here) */
    for (i = D32 - 1; i > 0; i--)
        twice.d[i] = (r.d[i] << 1) | (r.d[i - 1] >> 31);
    twice.d[0] = r.d[0] << 1;
    cmp = ref_cmp(&twice, &k);
    if (nz) {
        if (mode == MARGIN_ROUND_FLOOR)
            up = neg;
        else if (mode == MARGIN_ROUND_CEIL)
            up = !neg;
        else if (mode == MARGIN_ROUND_AWAY)
            up = 1;
        else if (mode == MARGIN_ROUND_HALF_EVEN)
            up = cmp > 0 || (cmp == 0 && (qm & 1));
    }
    if (qm + (margin__u128)up < qm)
        return 0;
    qm += (margin__u128)up;
    if (qm > ((margin__u128)1 << 127) - (neg ? 0 : 1))
        return 0;
    *out = neg ? (margin__i128)((margin__u128)0 - qm) : (margin__i128)qm;
    return 1;
}

START_TEST(test_against_model)
{
    static const int modes[] = {MARGIN_ROUND_FLOOR, MARGIN_ROUND_CEIL, MARGIN_ROUND_TRUNC,
                                MARGIN_ROUND_AWAY, MARGIN_ROUND_HALF_EVEN};
    uint64_t rng = 0x3D1 + (uint64_t)_i;
    int i, m, fits = 0, over = 0;
    for (i = 0; i < 4000; i++) {
        margin__i128 a = draw(&rng), b = draw(&rng), c = draw(&rng), d = draw(&rng), got, want;
        if (i % 4 == 0) /* a quotient near 2^127: the divisor a factor of the numerator */
            c = a, d = (d % 5) + (d % 5 >= 0 ? 1 : -1);
        for (m = 0; m < 5; m++) {
            int ok = model(a, b, c, d, modes[m], &want);
            int rc = margin__muldiv2(a, b, c, d, modes[m], &got);
            if (ok) {
                ck_assert_int_eq(rc, MARGIN_OK);
                ck_assert_msg(got == want, "case %d mode %d differs from the model", i, m);
                fits++;
            } else {
                ck_assert_int_eq(rc, MARGIN_EOVERFLOW);
                over++;
            }
        }
    }
    ck_assert_int_gt(fits, 1000);
    ck_assert_int_gt(over, 300);
}
END_TEST

/* margin__muldiv_u64 (a * b / d, b below 2^64) against the same model, with divisors of
 * 65 to 127 bits and quotients below 2^64 (its fast path, one step of algorithm D) as
 * well as the rest (the general path): a random a, b, and d = a*b / k for a random k of
 * up to 64 bits, plus or minus a little, so that the quotient sits near k. */
START_TEST(test_muldiv_u64)
{
    static const int modes[] = {MARGIN_ROUND_FLOOR, MARGIN_ROUND_CEIL, MARGIN_ROUND_TRUNC,
                                MARGIN_ROUND_AWAY, MARGIN_ROUND_HALF_EVEN};
    uint64_t rng = 0x64D + (uint64_t)_i;
    int i, m, fast = 0;
    for (i = 0; i < 20000; i++) {
        margin__i128 a = draw(&rng), d, got, want;
        uint64_t b = splitmix64(&rng) >> (splitmix64(&rng) % 64);
        margin__u128 k = 1 + (splitmix64(&rng) >> (splitmix64(&rng) % 64)), prod_hi;
        if (b == 0)
            b = 1;
        /* d about |a|*b/k when that fits, else random */
        prod_hi = (mag(a) >> 64) * b;
        if (prod_hi >> 62 == 0) {
            margin__u128 ab = (mag(a) >> 32) * b; /* |a|*b / 2^32, below 2^126 */
            d = (margin__i128)((ab / k) << 1 >> 1);
            if (ab / k < ((margin__u128)1 << 94))
                d = (margin__i128)((ab / k) << 32) + (margin__i128)(splitmix64(&rng) % 1000) - 500;
        } else {
            d = draw(&rng);
        }
        if (d == 0)
            d = 1;
        if (splitmix64(&rng) & 1)
            d = -d;
        fast += mag(d) >> 64 != 0;
        for (m = 0; m < 5; m++) {
            int ok = model(a, (margin__i128)b, d, 1, modes[m], &want);
            int rc = margin__muldiv_u64(a, b, d, modes[m], &got);
            if (ok) {
                ck_assert_int_eq(rc, MARGIN_OK);
                ck_assert_msg(got == want, "case %d mode %d differs from the model", i, m);
            } else {
                ck_assert_int_eq(rc, MARGIN_EOVERFLOW);
            }
        }
    }
    ck_assert_int_gt(fast, 5000);
}
END_TEST

/* Worked by hand. 10^30 * 10^30 / (3 * 10^20) = 3.33.. * 10^39: beyond 2^127 (1.7 * 10^38),
 * overflow; / (3 * 10^22) = 10^38/3 = 3.33.. * 10^37: floor 33..3 (38 threes), ceil ..4, half-even
 * ..3; -7 * 5 / 2 = -17.5: floor -18, ceil -17, trunc -17, away -18, half-even -18;
 * exact 6 * 7 / 14 = 3 with MARGIN_ROUND_EXACT, and 7/2 refused with MARGIN_ERANGE; a
 * zero divisor is MARGIN_EINVAL. */
START_TEST(test_by_hand)
{
    margin__i128 e15 = (margin__i128)1000000000000000LL, e30 = e15 * e15, r, threes = 0;
    margin__i128 e20 = e15 * 100000, e22 = e20 * 100;
    int i;
    for (i = 0; i < 38; i++)
        threes = threes * 10 + 3;
    ck_assert_int_eq(margin__muldiv2(e30, e30, 3, e20, MARGIN_ROUND_FLOOR, &r), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__muldiv2(e30, e30, 3, e22, MARGIN_ROUND_FLOOR, &r), MARGIN_OK);
    ck_assert(r == threes);
    ck_assert_int_eq(margin__muldiv2(e30, e30, 3, e22, MARGIN_ROUND_CEIL, &r), MARGIN_OK);
    ck_assert(r == threes + 1);
    ck_assert_int_eq(margin__muldiv2(-e30, e30, 3, e22, MARGIN_ROUND_HALF_EVEN, &r), MARGIN_OK);
    ck_assert(r == -threes);
    ck_assert_int_eq(margin__muldiv2(-7, 5, 2, 1, MARGIN_ROUND_FLOOR, &r), MARGIN_OK);
    ck_assert(r == -18);
    ck_assert_int_eq(margin__muldiv2(-7, 5, 2, 1, MARGIN_ROUND_CEIL, &r), MARGIN_OK);
    ck_assert(r == -17);
    ck_assert_int_eq(margin__muldiv2(-7, 5, 2, 1, MARGIN_ROUND_TRUNC, &r), MARGIN_OK);
    ck_assert(r == -17);
    ck_assert_int_eq(margin__muldiv2(-7, 5, 2, 1, MARGIN_ROUND_AWAY, &r), MARGIN_OK);
    ck_assert(r == -18);
    ck_assert_int_eq(margin__muldiv2(-7, 5, 2, 1, MARGIN_ROUND_HALF_EVEN, &r), MARGIN_OK);
    ck_assert(r == -18);
    ck_assert_int_eq(margin__muldiv2(6, 7, 14, 1, MARGIN_ROUND_EXACT, &r), MARGIN_OK);
    ck_assert(r == 3);
    ck_assert_int_eq(margin__muldiv2(7, 1, 2, 1, MARGIN_ROUND_EXACT, &r), MARGIN_ERANGE);
    ck_assert_int_eq(margin__muldiv2(7, 1, 0, 1, MARGIN_ROUND_FLOOR, &r), MARGIN_EINVAL);
}
END_TEST

/* Sums: (2^127 - 1) * 2^127 plus itself is 2^255 - 2^128, and minus itself 0 (no sign
 * left); a product or a sum beyond 384 bits is refused and leaves the value unchanged. */
START_TEST(test_add_mul)
{
    margin__i128 big = (margin__i128)(((margin__u128)1 << 127) - 1);
    margin__wide x, y, z;
    margin__wide_set(&x, big);
    ck_assert_int_eq(margin__wide_mul(&x, (margin__i128)1 << 126), MARGIN_OK);
    ck_assert_int_eq(margin__wide_mul(&x, 2), MARGIN_OK);
    y = x;
    ck_assert_int_eq(margin__wide_add(&x, &y), MARGIN_OK);
    ck_assert(x.w[4] == 0 && x.w[3] == ((uint64_t)1 << 63) - 1 && x.w[2] == UINT64_MAX &&
              x.w[1] == 0 && x.w[0] == 0);
    z = y;
    z.neg = 1;
    ck_assert_int_eq(margin__wide_add(&y, &z), MARGIN_OK);
    ck_assert_int_eq(margin__wide_sign(&y), 0);
    ck_assert_int_eq(y.neg, 0);
    ck_assert_int_eq(margin__wide_mul(&x, big), MARGIN_OK); /* below 2^382 */
    z = x;
    ck_assert_int_eq(margin__wide_mul(&x, 8), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__wide_cmp(&x, &z), 0);
    /* x0 = 2^382 - 2^256 + 2^128: 4 x0 fits in 384 bits, 8 x0 does not */
    ck_assert_int_eq(margin__wide_add(&x, &z), MARGIN_OK);
    y = x;
    ck_assert_int_eq(margin__wide_add(&x, &y), MARGIN_OK);
    y = x;
    ck_assert_int_eq(margin__wide_add(&x, &y), MARGIN_EOVERFLOW);
    ck_assert_int_eq(margin__wide_cmp(&x, &y), 0);
}
END_TEST

Suite *suite_wide(void)
{
    Suite *s = suite_create("wide");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_against_model, 0, 3);
    tcase_add_loop_test(tc, test_muldiv_u64, 0, 2);
    tcase_add_test(tc, test_by_hand);
    tcase_add_test(tc, test_add_mul);
    suite_add_tcase(s, tc);
    return s;
}
