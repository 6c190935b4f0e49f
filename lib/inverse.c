/* The formulas of one position in an inverse (coin-margined) market: a contract is worth a
 * fixed number C of quote units (USD), N = Q*C, and money (margin, PnL, fees, funding) is
 * in the coin. formula.c calls these when m->contract is MARGIN_CONTRACT_INVERSE; the
 * derivations are in docs/formulas.md ("Inverse contracts").
 *
 * Integers: n = Q*C (Q at the quantity scale qs, C at scale 8, so |n| < 2^126), prices at
 * the price scale ps, money and rates at scale 8; G = 10^ps, H = 10^qs. A value in coin
 * (money units) is N/P = n*G / (P*H). Each formula is one exact ratio of products and sums
 * of these integers, formed in 384 bits (wide.c) and rounded once, against the holder:
 *   value    N/P                      n*G / (P*H)
 *   PnL      s*N*(1/E - 1/P)          s*n*G*(P - E) / (E*P*H)                 down
 *   initial  N/(E*L)                  n*G*10^8 / (E*L*H)                      up
 *   fee      r*N/P                    n*G*r / (P*H*10^8)                      up
 * The bounds beside each product say why it fits. */

#include <string.h>

#include "formula.h"
#include "wide.h"

#define ONE MARGIN__ONE
#define RUP(side) ((side) > 0 ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR)

static margin__i128 n_of(const margin__market *m, int64_t qty)
{
    return (margin__i128)qty * m->csize; /* two values below 2^63 */
}

/* G and H with their common power of ten taken out (every formula below is a ratio in
 * which each term of the numerator and of the denominator has exactly one factor G or H,
 * so 10^min(ps, qs) cancels): 1 and 1 at equal scales */
static margin__i128 g_of(const margin__market *m)
{
    return margin__pow10_128(m->price_scale > m->qty_scale ? m->price_scale - m->qty_scale : 0);
}

static margin__i128 h_of(const margin__market *m)
{
    return margin__pow10_128(m->qty_scale > m->price_scale ? m->qty_scale - m->price_scale : 0);
}

/* round(a*b / (c*d)): with b in 64 bits and c*d in 128 (the usual sizes) by
 * margin__muldiv_u64, else in 384 bits */
static int ratio(margin__i128 a, margin__i128 b, margin__i128 c, margin__i128 d, int rounding,
                 margin__i128 *out)
{
    margin__i128 cd;
    if (b < 0) { /* a and b below 2^127 in magnitude: -a fits */
        a = -a;
        b = -b;
    }
    if ((b >> 64) == 0 && !__builtin_mul_overflow(c, d, &cd) && cd != 0)
        return margin__muldiv_u64(a, (uint64_t)b, cd, rounding, out);
    return margin__muldiv2(a, b, c, d, rounding, out);
}

/* ratio() narrowed to 64 bits */
static int ratio64(margin__i128 a, margin__i128 b, margin__i128 c, margin__i128 d, int rounding,
                   int64_t *out)
{
    margin__i128 r;
    int rc = ratio(a, b, c, d, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

/* w = a * b * c (three int128 factors, below 2^384 when their lengths add up to 383) */
static int prod3(margin__wide *w, margin__i128 a, margin__i128 b, margin__i128 c)
{
    int rc;
    margin__wide_set(w, a);
    if ((rc = margin__wide_mul(w, b)) != MARGIN_OK)
        return rc;
    return margin__wide_mul(w, c);
}

static int narrow_wide(const margin__wide *num, const margin__wide *den, int rounding,
                       int64_t *out)
{
    margin__i128 r;
    int rc = margin__wide_div(num, den, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

int margin__inv_value(const margin__market *m, int64_t qty, int64_t price, int rounding,
                      int64_t *out)
{
    if (price <= 0)
        return MARGIN_EOVERFLOW;
    /* n < 2^126, G <= 10^18; P < 2^63, H <= 10^18 */
    return ratio64(n_of(m, qty), g_of(m), price, h_of(m), rounding, out);
}

/* floor(N/P) in money, saturated at INT64_MAX (a tier's floor is below it). When n*G and
 * P*H fit in 128 bits (the usual sizes) one margin__div128(), a hardware division when the
 * divisor and the quotient fit 64 bits; the rest goes through margin__inv_value(). */
static int64_t value_floor(const margin__market *m, int64_t qty, int64_t price)
{
    margin__i128 num, den, q;
    int64_t v;
    if (price > 0 && !__builtin_mul_overflow(n_of(m, qty), g_of(m), &num) &&
        !__builtin_mul_overflow((margin__i128)price, h_of(m), &den) &&
        margin__div128(num, den, MARGIN_ROUND_FLOOR, &q) == MARGIN_OK)
        return q > INT64_MAX ? INT64_MAX : (int64_t)q;
    if (margin__inv_value(m, qty, price, MARGIN_ROUND_FLOOR, &v) != MARGIN_OK)
        return INT64_MAX;
    return v;
}

/* Tiers hold values N/P from their floors up; floors are integers (money), so N/P is at
 * least a floor exactly when floor(N/P) is. */
int margin__inv_tier(const margin__market *m, int64_t qty, int64_t price)
{
    int lo = 0, hi = (int)m->ntiers - 1;
    int64_t v = value_floor(m, qty, price);
    /* the last tier whose floor is at most N/P */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (v >= m->tiers[mid].floor)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int margin__inv_pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                    int64_t *out)
{
    if (price <= 0 || entry <= 0)
        return MARGIN_EOVERFLOW;
    /* s*n < 2^126; (P - E)*G below 2^63 * 2^60; E*P below 2^126; H <= 10^18 */
    return ratio64(side * n_of(m, qty), ((margin__i128)price - entry) * g_of(m),
                    (margin__i128)entry * price, h_of(m), MARGIN_ROUND_FLOOR, out);
}

int margin__inv_initial(const margin__market *m, int64_t qty, int64_t price, int64_t lev,
                        int64_t *out)
{
    /* G*10^8 <= 10^26; P*L below 2^126 */
    return ratio64(n_of(m, qty), g_of(m) * ONE, (margin__i128)price * lev, h_of(m),
                    MARGIN_ROUND_CEIL, out);
}

int margin__inv_rate_of(const margin__market *m, int64_t qty, int64_t price, int64_t rate,
                        int rounding, int64_t *out)
{
    /* G*rate: |rate| <= 10^8, so below 10^26; H*10^8 <= 10^26 */
    return ratio64(n_of(m, qty), g_of(m) * rate, price, h_of(m) * ONE, rounding, out);
}

/* X = n*G*mmr + f*max(0, n*G + s*M*E*H) - cum*E*H*10^8: the entry-basis maintenance margin
 * (with the fee to close at the bankruptcy value N/BP = N/E + s*M) over U = E*H*10^8, for
 * tier k (of N/E). Each product below 2^126 * 2^60 * 2^63 * 2^27. */
static int mm_entry_wide(const margin__market *m, int side, int64_t qty, int64_t entry,
                         int64_t margin, int k, margin__wide *x, margin__wide *u)
{
    margin__wide a, b;
    margin__i128 n = n_of(m, qty), g = g_of(m), h = h_of(m);
    int rc;
    if ((rc = prod3(x, n, g, m->tiers[k].mmr)) != MARGIN_OK ||
        (rc = prod3(&b, (margin__i128)side * margin, entry, h)) != MARGIN_OK)
        return rc;
    margin__wide_set(&a, n);
    if ((rc = margin__wide_mul(&a, g)) != MARGIN_OK || (rc = margin__wide_add(&b, &a)) != MARGIN_OK)
        return rc;
    if (margin__wide_sign(&b) > 0) {
        if ((rc = margin__wide_mul(&b, m->close_fee)) != MARGIN_OK ||
            (rc = margin__wide_add(x, &b)) != MARGIN_OK)
            return rc;
    }
    if ((rc = prod3(&a, -(margin__i128)m->tiers[k].cum, entry, h)) != MARGIN_OK ||
        (rc = margin__wide_mul(&a, ONE)) != MARGIN_OK || (rc = margin__wide_add(x, &a)) != MARGIN_OK)
        return rc;
    return prod3(u, entry, h, ONE);
}

int margin__inv_mm_at(const margin__market *m, const margin__position *p, int64_t price,
                      int64_t *mm, int *tier)
{
    int rc, k;
    int64_t v;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__wide x, u;
        k = margin__inv_tier(m, p->qty, p->entry);
        if ((rc = mm_entry_wide(m, p->side, p->qty, p->entry, p->margin, k, &x, &u)) != MARGIN_OK)
            return rc;
        if (margin__wide_sign(&x) <= 0)
            v = 0;
        else if ((rc = narrow_wide(&x, &u, MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
            return rc;
    } else {
        k = margin__inv_tier(m, p->qty, price);
        if ((rc = margin__inv_rate_of(m, p->qty, price, m->tiers[k].mmr + m->close_fee,
                                      MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
            return rc;
        v -= m->tiers[k].cum; /* v >= 0, cum >= 0 */
    }
    *mm = v > 0 ? v : 0;
    *tier = k;
    return MARGIN_OK;
}

/* A price from num/den rounded as asked, where a quotient that does not exist or lies
 * beyond every price is INT64_MAX (a long's key then fires at any mark, a short's never)
 * and one at or below zero is 0 (a long's never fires, a short's at any mark). */
static int price_of(const margin__wide *num, const margin__wide *den, int rounding, int64_t *out)
{
    margin__i128 r;
    int rc;
    if (margin__wide_sign(den) == 0) {
        *out = INT64_MAX;
        return MARGIN_OK;
    }
    rc = margin__wide_div(num, den, rounding, &r);
    if (rc == MARGIN_EOVERFLOW || (rc == MARGIN_OK && r > INT64_MAX)) {
        *out = margin__wide_sign(num) * margin__wide_sign(den) > 0 ? INT64_MAX : 0;
        return MARGIN_OK;
    }
    if (rc != MARGIN_OK)
        return rc;
    *out = r > 0 ? (int64_t)r : 0;
    return MARGIN_OK;
}

int margin__inv_bankruptcy(const margin__market *m, int side, int64_t qty, int64_t entry,
                           int64_t margin, int64_t *out)
{
    /* balance 0: N/BP = N/E + s*M, BP = n*G*E / (n*G + s*M*E*H) */
    margin__wide num, den, t;
    margin__i128 n = n_of(m, qty), g = g_of(m);
    int rc;
    if ((rc = prod3(&num, n, g, entry)) != MARGIN_OK ||
        (rc = prod3(&den, (margin__i128)side * margin, entry, h_of(m))) != MARGIN_OK)
        return rc;
    margin__wide_set(&t, n);
    if ((rc = margin__wide_mul(&t, g)) != MARGIN_OK || (rc = margin__wide_add(&den, &t)) != MARGIN_OK)
        return rc;
    if (margin__wide_sign(&den) <= 0) { /* a short covering N/E: never bankrupt */
        *out = INT64_MAX;
        return MARGIN_OK;
    }
    return price_of(&num, &den, RUP(side), out);
}

/* Does tier k hold the value N/P? */
static int holds(const margin__market *m, int k, int64_t qty, int64_t price)
{
    margin__i128 ng, ph, a, b = 0;
    int64_t v;
    /* floor <= N/P exactly when floor*P*H <= n*G: multiplications, when they fit */
    if (!__builtin_mul_overflow(n_of(m, qty), g_of(m), &ng) &&
        !__builtin_mul_overflow((margin__i128)price, h_of(m), &ph) &&
        !__builtin_mul_overflow(ph, (margin__i128)m->tiers[k].floor, &a) &&
        ((uint32_t)k + 1 >= m->ntiers ||
         !__builtin_mul_overflow(ph, (margin__i128)m->tiers[k + 1].floor, &b)))
        return a <= ng && ((uint32_t)k + 1 >= m->ntiers || ng < b);
    v = value_floor(m, qty, price);
    return v >= m->tiers[k].floor && ((uint32_t)k + 1 >= m->ntiers || v < m->tiers[k + 1].floor);
}

/* Is ceil((N/P)*r) (money) below cum (>= 0)? 1 or 0; -1 when the products do not fit and
 * the caller must compute it: n*G*r <= (cum - 1)*10^8*P*H exactly when it is, and the
 * figure cannot overflow when n*G*r < 2^62 * 10^8*P*H. */
static int mm_below_amount(const margin__market *m, int64_t qty, int64_t price, int64_t r,
                           int64_t cum)
{
    margin__i128 lhs, q, rhs;
    if (__builtin_mul_overflow(n_of(m, qty), g_of(m), &lhs) ||
        __builtin_mul_overflow(lhs, (margin__i128)r, &lhs) ||
        __builtin_mul_overflow((margin__i128)price * ONE, h_of(m), &q) ||
        __builtin_mul_overflow((margin__i128)cum - 1, q, &rhs))
        return -1;
    if (lhs <= rhs)
        return 1;
    return (lhs >> 62) < q ? 0 : -1;
}

/* Mark basis, tier k (rate r = mmr + f, amount cum), level L:
 *   L*(M + s*N/E - s*N/P) = (N/P)*r - cum  =>  P = N*(r + s*L) / (L*M + cum + s*L*N/E)
 *   P = n*(r + s*L)*G*E / (H*E*(L*M + cum*10^8) + s*L*n*G)
 * (L, r at scale 8). Entry basis (X/U the maintenance margin, fixed):
 *   L*(M + s*N/E - s*N/P) = X/U  =>  P = s*L*n*E*G / (L*M*E*H + s*L*n*G - X).
 * Rounded long up, short down. */
static int inv_threshold_from(const margin__market *m, int side, int64_t qty, int64_t entry,
                              int64_t margin, int64_t level, int k0, int64_t *out);

int margin__inv_thresholds(const margin__market *m, int side, int64_t qty, int64_t entry,
                           int64_t margin, const int64_t *levels, uint32_t n, int64_t *out)
{
    int k0 = margin__inv_tier(m, qty, entry), rc;
    uint32_t i;
    for (i = 0; i < n; i++)
        if ((rc = inv_threshold_from(m, side, qty, entry, margin, levels[i], k0, &out[i])) !=
            MARGIN_OK)
            return rc;
    return MARGIN_OK;
}

/* One level's threshold (margin__threshold()) given the tier k0 of N/E */
static int inv_threshold_from(const margin__market *m, int side, int64_t qty, int64_t entry,
                              int64_t margin, int64_t level, int k0, int64_t *out)
{
    margin__i128 n = n_of(m, qty), g = g_of(m), h = h_of(m);
    margin__wide num, den, t;
    int rc, k, pass, found = 0, best_k = -1, nt = (int)m->ntiers;
    int64_t best = 0, price;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__wide x, u;
        k = k0;
        if ((rc = mm_entry_wide(m, side, qty, entry, margin, k, &x, &u)) != MARGIN_OK)
            return rc;
        if (margin__wide_sign(&x) < 0)
            margin__wide_set(&x, 0);
        if ((rc = prod3(&num, n, (margin__i128)side * level, entry)) != MARGIN_OK ||
            (rc = margin__wide_mul(&num, g)) != MARGIN_OK ||
            (rc = prod3(&den, (margin__i128)level * margin, entry, h)) != MARGIN_OK ||
            (rc = prod3(&t, n, (margin__i128)side * level, g)) != MARGIN_OK ||
            (rc = margin__wide_add(&den, &t)) != MARGIN_OK)
            return rc;
        x.neg = margin__wide_sign(&x) > 0; /* -X */
        if ((rc = margin__wide_add(&den, &x)) != MARGIN_OK)
            return rc;
        if (side > 0 ? margin__wide_sign(&den) <= 0 : margin__wide_sign(&den) >= 0) {
            *out = INT64_MAX; /* a long liquidated at every price, a short at none */
            return MARGIN_OK;
        }
        return price_of(&num, &den, RUP(side), out);
    }
    /* the tier holding N/P at the answer: a long's answer lies below its entry, where N/P
     * is larger (tiers upward from the entry's), a short's above (k0: the entry's) */
    for (pass = 0; pass < 2 && !found; pass++) {
        int start = pass == 0 ? k0 : (side > 0 ? k0 - 1 : k0 + 1);
        int step = (pass == 0) == (side > 0) ? 1 : -1;
        for (k = start; k >= 0 && k < nt; k += step) {
            int64_t r = m->tiers[k].mmr + m->close_fee;
            margin__i128 a, d, x, y, lm = (margin__i128)level * margin +
                                          (margin__i128)m->tiers[k].cum * ONE; /* < 2^92 */
            /* the usual sizes: A = n*(r + s*L)*G and D in 128 bits, P = A*E / D with one
             * step of division (margin__muldiv_u64). With G = H = 1 (equal scales), n below
             * 2^99 and L*M + cum*10^8 below 2^63 every product fits without a check (|r +
             * s*L|, |s*L| < 2^28; E < 2^63); else each is checked. */
            if ((g == 1 && h == 1 && n < ((margin__i128)1 << 99) && lm < ((margin__i128)1 << 63) &&
                 (a = n * ((margin__i128)r + (margin__i128)side * level),
                  x = (margin__i128)(int64_t)lm * entry, y = n * ((margin__i128)side * level),
                  !__builtin_add_overflow(x, y, &d))) ||
                (!__builtin_mul_overflow(n, (margin__i128)r + (margin__i128)side * level, &a) &&
                 !__builtin_mul_overflow(a, g, &a) &&
                 !__builtin_mul_overflow(lm, (margin__i128)entry, &x) &&
                 !__builtin_mul_overflow(x, h, &x) &&
                 !__builtin_mul_overflow(n, (margin__i128)side * level, &y) &&
                 !__builtin_mul_overflow(y, g, &y) && !__builtin_add_overflow(x, y, &d))) {
                margin__i128 pr;
                if ((side < 0 && d >= 0) || d == 0) {
                    price = INT64_MAX; /* never reached (a short), or no quotient */
                } else {
                    rc = margin__muldiv_u64(a, (uint64_t)entry, d, RUP(side), &pr);
                    if (rc == MARGIN_EOVERFLOW || (rc == MARGIN_OK && pr > INT64_MAX))
                        price = (a > 0) == (d > 0) ? INT64_MAX : 0;
                    else if (rc != MARGIN_OK)
                        return rc;
                    else
                        price = pr > 0 ? (int64_t)pr : 0;
                }
                goto have_price;
            }
            /* n*(r + s*L)*G*E: 2^126 * 2^28 * 2^60 * 2^63; the denominator's terms:
             * (L*M + cum*10^8) below 2^91, times E*H; L*n*G below 2^27 * 2^126 * 2^60 */
            if ((rc = prod3(&num, n, r + side * level, g)) != MARGIN_OK ||
                (rc = margin__wide_mul(&num, entry)) != MARGIN_OK ||
                (rc = prod3(&den, (margin__i128)level * margin + (margin__i128)m->tiers[k].cum * ONE,
                            entry, h)) != MARGIN_OK ||
                (rc = prod3(&t, n, (margin__i128)side * level, g)) != MARGIN_OK ||
                (rc = margin__wide_add(&den, &t)) != MARGIN_OK)
                return rc;
            if (side < 0 && margin__wide_sign(&den) >= 0) {
                /* L*(M - N/E) + cum >= 0: the short never gets there in this tier */
                price = INT64_MAX;
            } else if ((rc = price_of(&num, &den, RUP(side), &price)) != MARGIN_OK) {
                return rc;
            }
        have_price:
            if (price == INT64_MAX || price <= 0) {
                if (k == k0 && pass == 0)
                    best = price;
                continue;
            }
            if (k == k0 && pass == 0)
                best = price; /* fallback if no tier is consistent */
            if (holds(m, k, qty, price)) {
                best = price;
                best_k = k;
                found = 1;
                break;
            }
        }
    }
    if (best > 0 && best < INT64_MAX && !m->mm_convex) {
        /* a maintenance amount above floor*rate (tiers whose amounts do not follow the
         * recurrence: not mm_convex) makes (N/P)*r - cum negative at low values, where the
         * maintenance margin is 0: then the threshold is the bankruptcy price */
        int kk = best_k >= 0 ? best_k : margin__inv_tier(m, qty, best);
        int64_t v, r = m->tiers[kk].mmr + m->close_fee;
        int below = mm_below_amount(m, qty, best, r, m->tiers[kk].cum);
        if (below < 0) {
            if ((rc = margin__inv_rate_of(m, qty, best, r, MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
                return rc;
            below = v < m->tiers[kk].cum;
        }
        if (below)
            return margin__inv_bankruptcy(m, side, qty, entry, margin, out);
    }
    *out = best;
    return MARGIN_OK;
}

/* The smallest margin M' covering its own entry-basis maintenance margin, where the fee
 * to close grows with it (N/BP = N/E + s*M'): M' >= (N/E)*mmr - cum + f*(N/E + s*M'), so
 * M' = ((N/E)*(mmr + f) - cum) / (1 - s*f) = (n*G*(mmr + f) - cum*E*H*10^8) /
 * ((10^8 - s*f)*E*H), rounded up, at least 0. */
int margin__inv_margin_floor(const margin__market *m, const margin__position *p, int64_t *out)
{
    margin__wide num, den, t;
    int k = margin__inv_tier(m, p->qty, p->entry), rc;
    if ((rc = prod3(&num, n_of(m, p->qty), g_of(m), m->tiers[k].mmr + m->close_fee)) !=
            MARGIN_OK ||
        (rc = prod3(&t, -(margin__i128)m->tiers[k].cum * ONE, p->entry, h_of(m))) != MARGIN_OK ||
        (rc = margin__wide_add(&num, &t)) != MARGIN_OK ||
        (rc = prod3(&den, ONE - (margin__i128)p->side * m->close_fee, p->entry, h_of(m))) !=
            MARGIN_OK)
        return rc;
    if (margin__wide_sign(&num) <= 0) {
        *out = 0;
        return MARGIN_OK;
    }
    return narrow_wide(&num, &den, MARGIN_ROUND_CEIL, out);
}

/* Harmonic mean of two entries: (Q1 + Q2) / (Q1/E1 + Q2/E2) = (Q1 + Q2)*E1*E2 /
 * (Q1*E2 + Q2*E1), long rounded up, short down (C cancels). */
int margin__inv_avg_entry(int side, int64_t q1, int64_t e1, int64_t q2, int64_t e2,
                          int64_t *out)
{
    margin__wide num, den, t;
    int rc;
    if ((rc = prod3(&num, (margin__i128)q1 + q2, e1, e2)) != MARGIN_OK ||
        (rc = prod3(&den, q1, e2, 1)) != MARGIN_OK || (rc = prod3(&t, q2, e1, 1)) != MARGIN_OK ||
        (rc = margin__wide_add(&den, &t)) != MARGIN_OK)
        return rc;
    return narrow_wide(&num, &den, RUP(side), out);
}

/* Do the figures a mark P in [min price, max price] produces fit in money? N/P is largest
 * at the minimum price and bounds every fee, funding payment and maintenance margin
 * (rates <= 1), and |PnL| (a long loses at most N/min - N/E < N/min, a short gains at
 * most that); the balance M + PnL is at most M + N/min. */
int margin__inv_fits(const margin__market *m, const margin__position *p)
{
    int64_t v;
    /* ceil(N/min) <= lim exactly when N/min <= lim; floor(N/min) < lim is enough (one
     * hardware division at the usual sizes) */
    if (value_floor(m, p->qty, m->min_price) < INT64_MAX - p->margin)
        return 1;
    if (margin__inv_value(m, p->qty, m->min_price, MARGIN_ROUND_CEIL, &v) != MARGIN_OK)
        return 0;
    return v <= INT64_MAX - p->margin;
}

/* ------------------------------------------------------------------ cross books
 *
 * A cross book's legs in one inverse market, with x = 1/P: each leg's value is C/(P*H)
 * (C = n*G), its uPnL s*C*(1/E - x)/H and its mark-basis maintenance
 * max(0, C*r*x/(H*10^8) - cum) (r = mmr + f of its tier): all linear in x on the pieces
 * where every leg keeps its tier and its clamp, as a linear market's are in P. Times H:
 *   H*h(P) = B - A/P,  A = L*sum(s*C) + sum(C*r)  (the unclamped legs' r),
 *                      B = L*H*k + sum(L*s*C/E) - 10^8*H*mmo + sum(10^8*H*cum)
 * (h at scale 16 as in margin__cross_solve; L the level at scale 8). An entry-basis leg
 * adds C*f to A and takes its fixed part max(0, ceil(C*mmr/E) - 10^8*H*cum) from B. The
 * terms L*s*C/E are rounded down, and the fixed parts up: B is never above the exact one,
 * so a root found from it is reached first (against the holder). */

int margin__inv_cross_mm(const margin__market *m, const margin__leg *l, int64_t price,
                         int64_t *out)
{
    int64_t base, fee;
    int k = margin__inv_tier(m, l->qty, l->entry), rc;
    /* entry basis: max(0, (N/E)*mmr - cum) + f*N/P, each term rounded up */
    if ((rc = margin__inv_rate_of(m, l->qty, l->entry, m->tiers[k].mmr, MARGIN_ROUND_CEIL,
                                  &base)) != MARGIN_OK ||
        (rc = margin__inv_rate_of(m, l->qty, price, m->close_fee, MARGIN_ROUND_CEIL, &fee)) !=
            MARGIN_OK)
        return rc;
    base -= m->tiers[k].cum; /* both >= 0 */
    if (base < 0)
        base = 0;
    if (__builtin_add_overflow(base, fee, out))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

/* w += a * b */
static int wide_addmul(margin__wide *w, margin__i128 a, margin__i128 b)
{
    margin__wide t;
    int rc;
    margin__wide_set(&t, a);
    if ((rc = margin__wide_mul(&t, b)) != MARGIN_OK)
        return rc;
    return margin__wide_add(w, &t);
}

/* floor(a / b) or ceil, b > 0, saturated to [0, INT64_MAX] as a price */
static int64_t wide_price(const margin__wide *a, const margin__wide *b, int rounding)
{
    margin__i128 q;
    int rc = margin__wide_div(a, b, rounding, &q);
    if (rc == MARGIN_EOVERFLOW)
        return margin__wide_sign(a) * margin__wide_sign(b) > 0 ? INT64_MAX : 0;
    if (rc != MARGIN_OK || q <= 0)
        return 0;
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* The prices where a value C/(P*H) lies in tier k: (C/(H*floor_k+1), C/(H*floor_k)], as
 * [*lo, *hi] (1 and INT64_MAX at the open ends; *hi only with want_hi) */
static int tier_prices(const margin__market *m, margin__i128 c, int k, int want_hi, int64_t *lo,
                       int64_t *hi)
{
    margin__i128 t, h = h_of(m);
    *lo = 1;
    *hi = INT64_MAX;
    if (k + 1 < (int)m->ntiers) {
        if (margin__muldiv2(c, 1, h, m->tiers[k + 1].floor, MARGIN_ROUND_FLOOR, &t) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
        *lo = t + 1 > INT64_MAX ? INT64_MAX : (int64_t)(t + 1);
    }
    if (want_hi && m->tiers[k].floor > 0) {
        if (margin__muldiv2(c, 1, h, m->tiers[k].floor, MARGIN_ROUND_FLOOR, &t) != MARGIN_OK)
            return MARGIN_EOVERFLOW;
        *hi = t > INT64_MAX ? INT64_MAX : (int64_t)t;
    }
    return MARGIN_OK;
}

/* One leg's C = n*G and, at price P (mark basis), the prices [lo, hi] around P where it
 * keeps its tier and its clamp, its slope C*r (0 clamped) and its fixed part 10^8*H*cum
 * (0 clamped), for H*h = B - A/P. Entry basis: the whole price range, slope C*f, fixed
 * part -max(0, ceil(C*mmr/E) - 10^8*H*cum). */
static int leg_piece(const margin__market *m, const margin__leg *l, int64_t P, margin__i128 *c,
                     margin__i128 *slope, margin__i128 *fixed, int64_t *lo, int64_t *hi)
{
    margin__i128 h = h_of(m), t;
    const margin__tier *tk;
    int k;
    if (__builtin_mul_overflow(n_of(m, l->qty), g_of(m), c))
        return MARGIN_EOVERFLOW;
    *lo = 1;
    *hi = INT64_MAX;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__i128 base, cum;
        k = margin__inv_tier(m, l->qty, l->entry);
        tk = &m->tiers[k];
        if (margin__muldiv_u64(*c, (uint64_t)tk->mmr, l->entry, MARGIN_ROUND_CEIL, &base) !=
                MARGIN_OK ||
            __builtin_mul_overflow((margin__i128)tk->cum * ONE, h, &cum) ||
            __builtin_mul_overflow(*c, (margin__i128)m->close_fee, slope))
            return MARGIN_EOVERFLOW;
        *fixed = base > cum ? -(base - cum) : 0;
        return MARGIN_OK;
    }
    k = margin__inv_tier(m, l->qty, P);
    tk = &m->tiers[k];
    if (tier_prices(m, *c, k, 1, lo, hi) != MARGIN_OK)
        return MARGIN_EOVERFLOW;
    if (__builtin_mul_overflow(*c, (margin__i128)(tk->mmr + m->close_fee), slope) ||
        __builtin_mul_overflow((margin__i128)tk->cum * ONE, h, fixed))
        return MARGIN_EOVERFLOW;
    /* the clamp: C*r/P >= 10^8*H*cum exactly when P <= C*r / (10^8*H*cum) */
    if (tk->cum > 0) {
        if (*slope == 0) {
            *fixed = 0; /* clamped in the whole tier */
            return MARGIN_OK;
        }
        if (margin__muldiv2(*slope, 1, (margin__i128)tk->cum * ONE, h, MARGIN_ROUND_FLOOR, &t) !=
            MARGIN_OK)
            return MARGIN_EOVERFLOW;
        if (t >= P) {
            if (t < *hi)
                *hi = (int64_t)t;
        } else {
            if (t + 1 > *lo)
                *lo = (int64_t)(t + 1);
            *slope = *fixed = 0;
        }
    }
    return MARGIN_OK;
}

/* H*h = B - A/P on a piece: in 128 bits (a, b) when every term fits (the usual sizes),
 * else in 384 (A, B) */
typedef struct {
    margin__wide A, B;
    margin__i128 a, b;
    int fit;
} piece;

/* A and B of H*h = B - A/P on the piece [*lo, *hi] holding P */
static int book_piece(const margin__market *m, const margin__leg *legs, int n, margin__i128 k,
                      margin__i128 mmo, int64_t level, int with_mm, int64_t P, piece *pc,
                      int64_t *lo, int64_t *hi)
{
    margin__i128 h = h_of(m), c[MARGIN__MAX_LEGS], slope[MARGIN__MAX_LEGS],
                              fixed[MARGIN__MAX_LEGS], t[MARGIN__MAX_LEGS], x;
    int i, rc, fit = n <= MARGIN__MAX_LEGS;
    int64_t l, u;
    *lo = 1;
    *hi = INT64_MAX;
    if (!fit)
        return MARGIN_EOVERFLOW; /* (refused at open: cannot happen) */
    /* H*L*k - H*10^8*mmo; H*L < 2^60 * 2^27 */
    pc->a = 0;
    fit = !__builtin_mul_overflow(k, h * level, &pc->b) &&
          (!with_mm || (!__builtin_mul_overflow(mmo, h * ONE, &x) &&
                        !__builtin_sub_overflow(pc->b, x, &pc->b)));
    for (i = 0; i < n; i++) {
        const margin__leg *g = &legs[i];
        if ((rc = leg_piece(m, g, P, &c[i], &slope[i], &fixed[i], &l, &u)) != MARGIN_OK)
            return rc;
        /* L*s*C/E rounded down; C < 2^127, L*s < 2^28 */
        if ((rc = margin__muldiv2(c[i], (margin__i128)level * g->side, g->entry, 1,
                                  MARGIN_ROUND_FLOOR, &t[i])) != MARGIN_OK)
            return rc;
        fit = fit && !__builtin_mul_overflow(c[i], (margin__i128)level * g->side, &x) &&
              !__builtin_add_overflow(pc->a, x, &pc->a) &&
              !__builtin_add_overflow(pc->b, t[i], &pc->b) &&
              (!with_mm || (!__builtin_add_overflow(pc->a, slope[i], &pc->a) &&
                            !__builtin_add_overflow(pc->b, fixed[i], &pc->b)));
        if (!with_mm)
            continue;
        if (l > *lo)
            *lo = l;
        if (u < *hi)
            *hi = u;
    }
    pc->fit = fit;
    if (fit)
        return MARGIN_OK;
    margin__wide_set(&pc->A, 0);
    margin__wide_set(&pc->B, 0);
    if ((rc = wide_addmul(&pc->B, k, h * level)) != MARGIN_OK ||
        (with_mm && (rc = wide_addmul(&pc->B, -mmo, h * ONE)) != MARGIN_OK))
        return rc;
    for (i = 0; i < n; i++) {
        margin__wide tw;
        if ((rc = wide_addmul(&pc->A, c[i], (margin__i128)level * legs[i].side)) != MARGIN_OK)
            return rc;
        margin__wide_set(&tw, t[i]);
        if ((rc = margin__wide_add(&pc->B, &tw)) != MARGIN_OK)
            return rc;
        if (!with_mm)
            continue;
        {
            margin__wide sw, fw;
            margin__wide_set(&sw, slope[i]);
            margin__wide_set(&fw, fixed[i]);
            if ((rc = margin__wide_add(&pc->A, &sw)) != MARGIN_OK ||
                (rc = margin__wide_add(&pc->B, &fw)) != MARGIN_OK)
                return rc;
        }
    }
    return MARGIN_OK;
}

/* A piece in 384 bits (from its 128-bit form when it has one) */
static void piece_widen(piece *pc)
{
    if (!pc->fit)
        return;
    margin__wide_set(&pc->A, pc->a);
    margin__wide_set(&pc->B, pc->b);
    pc->fit = 0;
}

/* The sign of B*P - A (that of h at P) */
static int sign_at(piece *pc, int64_t P, int *sign)
{
    margin__wide g, na;
    margin__i128 bp, d;
    int rc;
    if (pc->fit && !__builtin_mul_overflow(pc->b, (margin__i128)P, &bp) &&
        !__builtin_sub_overflow(bp, pc->a, &d)) {
        *sign = d > 0 ? 1 : d < 0 ? -1 : 0;
        return MARGIN_OK;
    }
    piece_widen(pc);
    g = pc->B;
    na = pc->A;
    if ((rc = margin__wide_mul(&g, P)) != MARGIN_OK)
        return rc;
    na.neg = margin__wide_sign(&na) != 0 && !na.neg;
    if ((rc = margin__wide_add(&g, &na)) != MARGIN_OK)
        return rc;
    *sign = margin__wide_sign(&g);
    return MARGIN_OK;
}

/* the signs of A and B */
static void piece_signs(const piece *pc, int *sa, int *sb)
{
    if (pc->fit) {
        *sa = pc->a > 0 ? 1 : pc->a < 0 ? -1 : 0;
        *sb = pc->b > 0 ? 1 : pc->b < 0 ? -1 : 0;
    } else {
        *sa = margin__wide_sign(&pc->A);
        *sb = margin__wide_sign(&pc->B);
    }
}

/* A/B (B != 0) rounded as asked, as a price (wide_price()) */
static int64_t piece_root(piece *pc, int rounding)
{
    margin__i128 q;
    if (pc->fit && margin__div128(pc->a, pc->b, rounding, &q) == MARGIN_OK)
        return q <= 0 ? 0 : q > INT64_MAX ? INT64_MAX : (int64_t)q;
    piece_widen(pc);
    return wide_price(&pc->A, &pc->B, rounding);
}

/* An inverse book's walk (margin__walk_book()): H*h = B - A/P on each piece, so h rises
 * with P when A > 0, and its zero A/B is a price when A and B have one sign */
typedef struct {
    margin__walk w;
    piece pc;
} inv_walk;

static int inv_piece(margin__walk *w, int64_t P, int *sign, int64_t *lo, int64_t *hi)
{
    inv_walk *c = (inv_walk *)w;
    int rc = book_piece(w->m, w->legs, w->n, w->k, w->mmo, w->level, w->with_mm, P, &c->pc, lo,
                        hi);
    if (rc != MARGIN_OK)
        return rc;
    return sign_at(&c->pc, P, sign);
}

static int inv_root(margin__walk *w, int rising, int *has, margin__i128 *x)
{
    inv_walk *c = (inv_walk *)w;
    int sa, sb;
    piece_signs(&c->pc, &sa, &sb);
    *has = rising ? sa > 0 && sb > 0 : sa < 0 && sb < 0;
    if (*has)
        *x = piece_root(&c->pc, rising ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR);
    return MARGIN_OK;
}

int margin__inv_cross_solve(const margin__market *m, const margin__leg *legs, int n,
                            margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                            int64_t start, int dir, int64_t *out)
{
    inv_walk c;
    memset(&c, 0, sizeof c);
    c.w.piece = inv_piece;
    c.w.root = inv_root;
    return margin__walk_book(&c.w, m, legs, n, k, mmo, level, with_mm, start, dir, out);
}

/* ceil(p0*D / (D + b*p0)): the lowest price whose x = 1/P is at most 1/p0 + b/D (D > 0) */
static int64_t band_low(int64_t p0, const margin__wide *D, const margin__wide *b)
{
    margin__wide num = *D, den = *b;
    if (margin__wide_mul(&num, p0) != MARGIN_OK || margin__wide_mul(&den, p0) != MARGIN_OK ||
        margin__wide_add(&den, D) != MARGIN_OK)
        return p0; /* (cannot happen at these sizes: no room below p0) */
    return wide_price(&num, &den, MARGIN_ROUND_CEIL);
}

/* floor(p0*D / (D - b*p0)), INT64_MAX when D <= b*p0: the highest price whose x is at
 * least 1/p0 - b/D (D > 0) */
static int64_t band_high(int64_t p0, const margin__wide *D, const margin__wide *b)
{
    margin__wide num = *D, den = *b;
    if (margin__wide_mul(&num, p0) != MARGIN_OK || margin__wide_mul(&den, p0) != MARGIN_OK)
        return p0;
    den.neg = margin__wide_sign(&den) != 0 && !den.neg; /* -b*p0 */
    if (margin__wide_add(&den, D) != MARGIN_OK)
        return p0;
    if (margin__wide_sign(&den) <= 0)
        return INT64_MAX;
    return wide_price(&num, &den, MARGIN_ROUND_FLOOR);
}

/* band_low() and band_high() in 128 bits when D, b*p0 and their sum fit (the usual
 * sizes): one 192-by-128-bit division; -1 when they do not fit */
static int64_t band_low128(int64_t p0, margin__i128 D, margin__i128 b)
{
    margin__i128 bp, den, q;
    if (__builtin_mul_overflow(b, (margin__i128)p0, &bp) || __builtin_add_overflow(D, bp, &den) ||
        margin__muldiv_u64(D, (uint64_t)p0, den, MARGIN_ROUND_CEIL, &q) != MARGIN_OK)
        return -1;
    return q <= 0 ? 0 : q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

static int64_t band_high128(int64_t p0, margin__i128 D, margin__i128 b)
{
    margin__i128 bp, den, q;
    if (__builtin_mul_overflow(b, (margin__i128)p0, &bp))
        return -1;
    den = D - bp; /* D > 0, bp >= 0 */
    if (den <= 0)
        return INT64_MAX;
    if (margin__muldiv_u64(D, (uint64_t)p0, den, MARGIN_ROUND_FLOOR, &q) != MARGIN_OK)
        return -1;
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* margin__cross_band() on an inverse market. In x = 1/P, H*h moves by -L*S - dMM per
 * unit of x (S = sum(s*C)), where the legs' maintenance term 10^8*H*MM moves by 0 to
 * sl = sum(C*r) per unit (r of each leg's tier at p0; clamped legs less) while every leg
 * keeps its tier. A condition that must stay > 0 with budget b lets x rise by
 * b*H/(L*S + sl) and fall by b*H/(-L*S); one that must stay <= 0 the other way round.
 * Rising x (a falling price) ends at the legs' next tier (larger values, steeper slopes);
 * falling x at their tier's floor too unless m->mm_convex (then the maintenance margin
 * falls by at most sl per unit as x falls, whatever the tiers below). */
void margin__inv_cross_band(const margin__market *m, const margin__leg *legs, int n, int64_t p0,
                            const margin__cond *conds, int nc, int64_t *down, int64_t *up)
{
    margin__wide S, sl;
    margin__i128 h = h_of(m), S1 = 0, sl1 = 0, c[MARGIN__MAX_LEGS], slope[MARGIN__MAX_LEGS];
    int64_t lo = 1, hi = INT64_MAX, safe_lo = 1, safe_hi = INT64_MAX;
    int i, fit = 1, wide = 0; /* S1 and sl1 hold S and sl; S and sl are built when needed */
    if (nc > 3 || p0 <= 0 || n > MARGIN__MAX_LEGS)
        goto any;
    for (i = 0; i < n; i++) {
        if (__builtin_mul_overflow(n_of(m, legs[i].qty), g_of(m), &c[i]))
            goto any;
        if (m->mm_basis != MARGIN_MM_BASIS_ENTRY) {
            /* the slope of the tier, clamped or not (the clamp only lowers it), and the
             * tier's prices (not the clamp's: the bound holds across it) */
            int k = margin__inv_tier(m, legs[i].qty, p0);
            int64_t l, u;
            if (__builtin_mul_overflow(c[i], (margin__i128)(m->tiers[k].mmr + m->close_fee),
                                       &slope[i]) ||
                tier_prices(m, c[i], k, !m->mm_convex, &l, &u) != MARGIN_OK)
                goto any;
            if (l > lo)
                lo = l;
            if (u < hi)
                hi = u;
        } else if (__builtin_mul_overflow(c[i], (margin__i128)m->close_fee, &slope[i])) {
            goto any; /* entry basis: only the fee to close moves, f*N/P */
        }
        fit = fit && !__builtin_add_overflow(S1, legs[i].side > 0 ? c[i] : -c[i], &S1) &&
              !__builtin_add_overflow(sl1, slope[i], &sl1);
    }
    for (i = 0; i < nc; i++) {
        margin__wide ls, ls_sl, neg_ls, b;
        const margin__wide *dinc, *ddec;
        margin__i128 b1, ls1, lsl1;
        int64_t v, vlo = -1, vhi = -1;
        /* x rising (the price falling) by at most b*H/D_inc, falling by b*H/D_dec */
        if (fit && !__builtin_mul_overflow(conds[i].budget, h, &b1) &&
            !__builtin_mul_overflow(S1, (margin__i128)conds[i].level, &ls1) &&
            !__builtin_add_overflow(ls1, sl1, &lsl1)) {
            margin__i128 di = conds[i].rise ? -ls1 : lsl1, dd = conds[i].rise ? lsl1 : -ls1;
            vlo = di > 0 ? band_low128(p0, di, b1) : 1;
            vhi = dd > 0 ? band_high128(p0, dd, b1) : INT64_MAX;
        }
        if (vlo >= 0 && vhi >= 0) {
            if (vlo > safe_lo)
                safe_lo = vlo;
            if (vhi < safe_hi)
                safe_hi = vhi;
            continue;
        }
        if (!wide) { /* the sums in 384 bits */
            int j;
            margin__wide_set(&S, 0);
            margin__wide_set(&sl, 0);
            for (j = 0; j < n; j++) {
                margin__wide sw;
                margin__wide_set(&sw, slope[j]);
                if (wide_addmul(&S, c[j], legs[j].side) != MARGIN_OK ||
                    margin__wide_add(&sl, &sw) != MARGIN_OK)
                    goto any;
            }
            wide = 1;
        }
        ls = S;
        margin__wide_set(&b, conds[i].budget);
        if (margin__wide_mul(&b, h) != MARGIN_OK || margin__wide_mul(&ls, conds[i].level) != MARGIN_OK)
            goto any;
        ls_sl = ls;
        if (margin__wide_add(&ls_sl, &sl) != MARGIN_OK)
            goto any;
        neg_ls = ls;
        neg_ls.neg = margin__wide_sign(&neg_ls) != 0 && !neg_ls.neg;
        dinc = conds[i].rise ? &neg_ls : &ls_sl;
        ddec = conds[i].rise ? &ls_sl : &neg_ls;
        if (margin__wide_sign(dinc) > 0 && (v = band_low(p0, dinc, &b)) > safe_lo)
            safe_lo = v;
        if (margin__wide_sign(ddec) > 0 && (v = band_high(p0, ddec, &b)) < safe_hi)
            safe_hi = v;
    }
    if (safe_lo < lo)
        safe_lo = lo;
    if (safe_hi > hi)
        safe_hi = hi;
    if (safe_lo > p0 || safe_hi < p0)
        goto any; /* (p0 is in its own tier, and the budgets are >= 0) */
    *down = safe_lo <= 1 ? INT64_MIN : safe_lo - 1;
    *up = safe_hi >= m->max_price ? INT64_MAX : safe_hi + 1;
    return;
any:
    *down = INT64_MAX;
    *up = INT64_MAX;
}
