/* Internal exact decimal arithmetic: 64-bit fixed point with 128-bit intermediates.
 * Not part of the public API; the margin__ prefix keeps static links safe. */
#ifndef MARGIN_LIB_DEC_H
#define MARGIN_LIB_DEC_H

#include <stdint.h>
#include "margin.h"

__extension__ typedef __int128 margin__i128;
__extension__ typedef unsigned __int128 margin__u128;

/* 10^n for n in 0..18 as int64, and 10^n for n in 0..38 as int128. */
int64_t margin__pow10_64(int n);
extern const margin__i128 margin__pow10_tab[39];
static inline margin__i128 margin__pow10_128(int n)
{
    return margin__pow10_tab[n];
}

/* Divide num by den (den != 0), rounding as `rounding` says (MARGIN_ROUND_*).
 * MARGIN_ROUND_EXACT fails with MARGIN_ERANGE if the division is not exact.
 * Returns MARGIN_OK, MARGIN_EINVAL (den == 0, bad mode), MARGIN_ERANGE or
 * MARGIN_EOVERFLOW (INT128_MIN / -1). */
int margin__div128(margin__i128 num, margin__i128 den, int rounding, margin__i128 *out);

/* Narrow to int64: MARGIN_EOVERFLOW if it does not fit. */
static inline int margin__narrow(margin__i128 v, int64_t *out)
{
    if (v > INT64_MAX || v < INT64_MIN)
        return MARGIN_EOVERFLOW;
    *out = (int64_t)v;
    return MARGIN_OK;
}

/* Multiply with overflow detection: MARGIN_EOVERFLOW if the product overflows int128. */
static inline int margin__mul128(margin__i128 a, margin__i128 b, margin__i128 *out)
{
    if (__builtin_mul_overflow(a, b, out))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

/* Rescale v from scale `from` to scale `to` (0..38 difference), rounding. */
int margin__rescale128(margin__i128 v, int from, int to, int rounding, margin__i128 *out);

/* (a * b) / d, rounded once; a*b must fit in int128. */
int margin__muldiv(margin__i128 a, margin__i128 b, margin__i128 d, int rounding,
                   margin__i128 *out);

/* Valid rounding mode? */
int margin__rounding_ok(int32_t r);

#endif
