/* Internal wide integers (wide.c): exact products and sums of up to 384 bits, divided once
 * with the rounding asked for, for the formulas whose intermediates do not fit in 128 bits
 * (inverse contracts: a value N/P, a PnL N*(P - E)/(E*P), a liquidation price with a sum
 * of products in its denominator). Not part of the public API.
 *
 * A margin__wide is a sign and a magnitude of six 64-bit limbs, least significant first.
 * Every operation is exact or fails with MARGIN_EOVERFLOW (a result beyond 384 bits, a
 * quotient beyond 128); none allocates, none has state. */
#ifndef MARGIN_LIB_WIDE_H
#define MARGIN_LIB_WIDE_H

#include "dec.h"

#define MARGIN__WIDE_LIMBS 6

typedef struct {
    uint64_t w[MARGIN__WIDE_LIMBS]; /* |x|, least significant limb first */
    int neg;                        /* 1: x < 0 (never set for 0) */
} margin__wide;

/* x = v */
void margin__wide_set(margin__wide *x, margin__i128 v);
/* x *= v; MARGIN_EOVERFLOW (x unchanged) when |x*v| needs more than 384 bits */
int margin__wide_mul(margin__wide *x, margin__i128 v);
/* x += y; MARGIN_EOVERFLOW (x unchanged) beyond 384 bits */
int margin__wide_add(margin__wide *x, const margin__wide *y);
/* -1, 0 or 1 as a < b, a == b, a > b */
int margin__wide_cmp(const margin__wide *a, const margin__wide *b);
/* -1, 0 or 1: the sign of x */
int margin__wide_sign(const margin__wide *x);
/* num / den rounded (MARGIN_ROUND_*), when the result fits in 128 bits: MARGIN_OK,
 * MARGIN_EINVAL (den is 0 or a bad mode), MARGIN_ERANGE (MARGIN_ROUND_EXACT and a
 * remainder), MARGIN_EOVERFLOW (the rounded quotient is outside int128). */
int margin__wide_div(const margin__wide *num, const margin__wide *den, int rounding,
                     margin__i128 *out);
/* round(a * b / (c * d)) for a, b, c, d in int128, c*d != 0: the common case of the
 * above, same statuses */
int margin__muldiv2(margin__i128 a, margin__i128 b, margin__i128 c, margin__i128 d, int rounding,
                    margin__i128 *out);

/* round(a * b / d) for b < 2^64, d != 0: a fast path for a 192-bit product divided by a
 * divisor of 65 to 127 bits whose quotient fits 64 bits (the general case otherwise);
 * same statuses */
int margin__muldiv_u64(margin__i128 a, uint64_t b, margin__i128 d, int rounding,
                       margin__i128 *out);

#endif
