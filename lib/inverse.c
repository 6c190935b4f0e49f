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

/* floor(N/P) in money, saturated at INT64_MAX (a tier's floor is below it). The usual
 * sizes (n*G and P*H below 2^128, P*H below 2^64, the quotient below 2^64) take one
 * hardware division; the rest goes through margin__inv_value(). */
static int64_t value_floor(const margin__market *m, int64_t qty, int64_t price)
{
    margin__i128 n = n_of(m, qty);
    margin__u128 num, den;
    int64_t v;
    if (n > 0 && price > 0 &&
        !__builtin_mul_overflow((margin__u128)n, (margin__u128)g_of(m), &num) &&
        !__builtin_mul_overflow((margin__u128)price, (margin__u128)h_of(m), &den) &&
        den >> 64 == 0) {
        uint64_t d = (uint64_t)den, q;
        if ((uint64_t)(num >> 64) >= d)
            return INT64_MAX; /* the quotient is at least 2^64 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        {
            uint64_t r;
            __asm__("divq %4" : "=a"(q), "=d"(r) : "a"((uint64_t)num), "d"((uint64_t)(num >> 64)),
                    "rm"(d));
        }
#else
        q = (uint64_t)(num / d);
#endif
        return q > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)q;
    }
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
    int64_t v = value_floor(m, qty, price);
    return v >= m->tiers[k].floor && ((uint32_t)k + 1 >= m->ntiers || v < m->tiers[k + 1].floor);
}

/* Mark basis, tier k (rate r = mmr + f, amount cum), level L:
 *   L*(M + s*N/E - s*N/P) = (N/P)*r - cum  =>  P = N*(r + s*L) / (L*M + cum + s*L*N/E)
 *   P = n*(r + s*L)*G*E / (H*E*(L*M + cum*10^8) + s*L*n*G)
 * (L, r at scale 8). Entry basis (X/U the maintenance margin, fixed):
 *   L*(M + s*N/E - s*N/P) = X/U  =>  P = s*L*n*E*G / (L*M*E*H + s*L*n*G - X).
 * Rounded long up, short down. */
int margin__inv_threshold(const margin__market *m, int side, int64_t qty, int64_t entry,
                          int64_t margin, int64_t level, int64_t *out)
{
    margin__i128 n = n_of(m, qty), g = g_of(m), h = h_of(m);
    margin__wide num, den, t;
    int rc, k, k0, pass, found = 0, best_k = -1, nt = (int)m->ntiers;
    int64_t best = 0, price;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__wide x, u;
        k = margin__inv_tier(m, qty, entry);
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
     * is larger (tiers upward from the entry's), a short's above */
    k0 = margin__inv_tier(m, qty, entry);
    for (pass = 0; pass < 2 && !found; pass++) {
        int start = pass == 0 ? k0 : (side > 0 ? k0 - 1 : k0 + 1);
        int step = (pass == 0) == (side > 0) ? 1 : -1;
        for (k = start; k >= 0 && k < nt; k += step) {
            int64_t r = m->tiers[k].mmr + m->close_fee;
            margin__i128 a, d, x, y;
            /* the usual sizes: A = n*(r + s*L)*G and D in 128 bits, P = A*E / D with one
             * step of division (margin__muldiv_u64) */
            if (!__builtin_mul_overflow(n, (margin__i128)r + (margin__i128)side * level, &a) &&
                !__builtin_mul_overflow(a, g, &a) &&
                !__builtin_mul_overflow((margin__i128)level * margin +
                                            (margin__i128)m->tiers[k].cum * ONE,
                                        (margin__i128)entry, &x) &&
                !__builtin_mul_overflow(x, h, &x) &&
                !__builtin_mul_overflow(n, (margin__i128)side * level, &y) &&
                !__builtin_mul_overflow(y, g, &y) && !__builtin_add_overflow(x, y, &d)) {
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
        int64_t v;
        if ((rc = margin__inv_rate_of(m, qty, best, m->tiers[kk].mmr + m->close_fee,
                                      MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
            return rc;
        if (v < m->tiers[kk].cum)
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
    if (margin__inv_value(m, p->qty, m->min_price, MARGIN_ROUND_CEIL, &v) != MARGIN_OK)
        return 0;
    return v <= INT64_MAX - p->margin;
}
