/* The formulas of one position: notional, PnL, tiers, maintenance margin, margin ratio,
 * liquidation, bankruptcy and margin-call level prices, removable margin, and the range a
 * position must fit in. Pure functions of a market's parameters and a position's figures:
 * no engine state is read or written, and a failure is only a status code.
 *
 * Scales: money and rates 8; prices ps and quantities qs (the market's); a product Q*P has
 * the native notional scale ns = qs + ps; the working scale w = max(ns, 8) holds both
 * notionals and money exactly. Every formula is evaluated exactly in 128 bits and rounded
 * once, against the holder.
 *
 * Range: every 128-bit operation is either proven in range (the comment beside it says
 * why) or checked (MARGIN_EOVERFLOW). Q and P are below 2^63, so Q*P < 2^126; a rate is at
 * most 10^8 < 2^27; ns <= MARGIN__MAX_SCALE_SUM = 28. */

#include <string.h>

#include "formula.h"
#include "wide.h"

#define ONE MARGIN__ONE
#define RUP(side) ((side) > 0 ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR)

/* a * 10^k, checked */
static int up10(margin__i128 a, int k, margin__i128 *out)
{
    return margin__mul128(a, margin__pow10_128(k), out);
}

static int add128(margin__i128 a, margin__i128 b, margin__i128 *out)
{
    return __builtin_add_overflow(a, b, out) ? MARGIN_EOVERFLOW : MARGIN_OK;
}

static int sub128(margin__i128 a, margin__i128 b, margin__i128 *out)
{
    return __builtin_sub_overflow(a, b, out) ? MARGIN_EOVERFLOW : MARGIN_OK;
}

/* (num / 10^ns_num) / (den / 10^ns_den) at scale rs, rounded. */
static int frac(margin__i128 num, int ns_num, margin__i128 den, int ns_den, int rs, int rounding,
                margin__i128 *out)
{
    int k = rs + ns_den - ns_num, rc;
    if (k >= 0) {
        if ((rc = up10(num, k, &num)) != MARGIN_OK)
            return rc;
    } else {
        if ((rc = up10(den, -k, &den)) != MARGIN_OK)
            return rc;
    }
    return margin__div128(num, den, rounding, out);
}

int margin__frac64(margin__i128 num, int ns_num, margin__i128 den, int ns_den, int rs,
                  int rounding, int64_t *out)
{
    margin__i128 r;
    int rc = frac(num, ns_num, den, ns_den, rs, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

/* n * rate / 10^ns, rounded: a notional n at scale ns times a rate (scale 8, |rate| <= 10^8)
 * gives money (scale 8). Never a false overflow: for ns >= 10, n = q*10^ns + r with
 * 0 <= r < 10^ns, and |q*rate| < 2^126 / 10^10 * 2^27 < 2^120, r*|rate| < 10^28 * 2^27
 * < 2^121; for ns < 10, a product that overflows means a result beyond 2^127 / 10^9, which
 * does not fit in 64 bits anyway. */
int margin__rate_of(margin__i128 n, int ns, int64_t rate, int rounding, int64_t *out)
{
    margin__i128 d = margin__pow10_128(ns), r, x;
    int rc;
    if (margin__mul128(n, rate, &x) == MARGIN_OK) {
        if ((rc = margin__div128(x, d, rounding, &r)) != MARGIN_OK)
            return rc;
    } else if (ns < 10) {
        return MARGIN_EOVERFLOW;
    } else {
        margin__i128 q = n / d, lo = n % d;
        if (lo < 0) { /* floor division: 0 <= lo < d */
            lo += d;
            q -= 1;
        }
        if ((rc = margin__div128(lo * rate, d, rounding, &r)) != MARGIN_OK)
            return rc;
        r += q * rate; /* |q*rate| < 2^120 and |r| <= 2^27: no overflow */
    }
    return margin__narrow(r, out);
}

/* Q*P at the working scale */
int margin__qp_w(const margin__market *m, int64_t q, int64_t p, margin__i128 *out)
{
    return up10((margin__i128)q * p, m->w - m->ns, out);
}

/* The floor of tier k at the working scale, saturated: a floor whose scaled value does not
 * fit in 128 bits is above every notional (they are below 2^126 * 10^8 / 10^ns < 2^127). */
void margin__tier_scale(margin__market *m)
{
    uint32_t k;
    for (k = 0; k < m->ntiers; k++)
        if (up10(m->tiers[k].floor, m->w - MARGIN_MONEY_SCALE, &m->tiers[k].floor_w) !=
            MARGIN_OK)
            m->tiers[k].floor_w = MARGIN__I128_MAX;
    /* continuous at every tier floor: cum_k - cum_(k-1) = floor_k * (mmr_k - mmr_(k-1))
     * exactly (scale 16; each side < 2^63 * 2^27), and the rates non-decreasing */
    m->mm_convex = 1;
    for (k = 1; k < m->ntiers && m->mm_convex; k++) {
        const margin__tier *t = &m->tiers[k], *b = &m->tiers[k - 1];
        m->mm_convex = t->mmr >= b->mmr &&
                       ((margin__i128)t->cum - b->cum) * MARGIN__ONE ==
                           (margin__i128)t->floor * (t->mmr - b->mmr);
    }
}

int margin__tier_at(const margin__market *m, margin__i128 n_w)
{
    /* the last tier whose floor is at most n_w (the floors rise from 0): binary search */
    int lo = 0, hi = (int)m->ntiers - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (n_w >= m->tiers[mid].floor_w)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Does tier k hold notional n_w (scale w)? */
static int tier_holds(const margin__market *m, int k, margin__i128 n_w)
{
    return n_w >= m->tiers[k].floor_w &&
           ((uint32_t)k + 1 >= m->ntiers || n_w < m->tiers[k + 1].floor_w);
}

int margin__notional(const margin__market *m, int64_t qty, int64_t price, int rounding,
                     int64_t *out)
{
    margin__i128 r;
    int rc;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_value(m, qty, price, rounding, out);
    rc = margin__rescale128((margin__i128)qty * price, m->ns, MARGIN_MONEY_SCALE, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

int margin__pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                int64_t *out)
{
    margin__i128 d = (margin__i128)price - entry, v, r;
    int rc;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_pnl(m, side, qty, entry, price, out);
    if ((rc = margin__mul128(d, (margin__i128)qty * side, &v)) != MARGIN_OK)
        return rc;
    if ((rc = margin__rescale128(v, m->ns, MARGIN_MONEY_SCALE, MARGIN_ROUND_FLOOR, &r)) != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

/* Maintenance margin in force at the entry basis, at scale w + 8, never negative:
 *   MM_e = max(0, Q*E*mmr - cum + max(0, Q*BP)*f), with Q*BP = Q*E - s*M.
 * The fee to close is charged at the bankruptcy price, and a long whose bankruptcy price is
 * at or below zero owes no fee there. Q*E*mmr >= cum inside a tier whose amounts follow the
 * recurrence; a maintenance amount given larger than that makes the formula negative, and
 * the maintenance margin is then 0 (the liquidation price becomes the bankruptcy price). */
static int mm_entry_x(const margin__market *m, int side, int64_t qty, int64_t entry,
                      int64_t margin, int *tier, margin__i128 *out)
{
    margin__i128 qe, mw, qbp, a, b, c, x;
    int rc, k;
    const margin__tier *t;
    if ((rc = margin__qp_w(m, qty, entry, &qe)) != MARGIN_OK ||
        (rc = up10(margin, m->w - MARGIN_MONEY_SCALE, &mw)) != MARGIN_OK)
        return rc;
    k = margin__tier_at(m, qe);
    t = &m->tiers[k];
    if ((rc = sub128(qe, side * mw, &qbp)) != MARGIN_OK) /* side * mw: |mw| < 2^127 */
        return rc;
    if (qbp < 0)
        qbp = 0;
    if ((rc = margin__mul128(qe, t->mmr, &a)) != MARGIN_OK ||
        (rc = margin__mul128(qbp, m->close_fee, &b)) != MARGIN_OK ||
        (rc = up10(t->cum, m->w, &c)) != MARGIN_OK || (rc = add128(a, b, &x)) != MARGIN_OK)
        return rc;
    x -= c; /* x >= 0 and c >= 0: no overflow */
    *out = x > 0 ? x : 0;
    *tier = k;
    return MARGIN_OK;
}

/* BP = E - s*M/Q, with M/Q rounded down (long up, short down); 0 for a long when <= 0. */
static int bp_of(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t margin,
                 int64_t *out)
{
    margin__i128 t, r;
    int rc;
    if ((rc = frac(margin, MARGIN_MONEY_SCALE, qty, m->qty_scale, m->price_scale,
                   MARGIN_ROUND_FLOOR, &t)) != MARGIN_OK ||
        (rc = sub128(entry, side * t, &r)) != MARGIN_OK)
        return rc;
    if (side > 0 && r <= 0)
        r = 0;
    return margin__narrow(r, out);
}

/* What the thresholds of one position at several levels share: Q*E and M at scale w,
 * and the tier holding Q*E (mark basis). */
typedef struct {
    margin__i128 qe, mw;
    int k0;
} thr_base;

static int thr_base_of(const margin__market *m, int64_t qty, int64_t entry, int64_t margin,
                       thr_base *b)
{
    int rc;
    if ((rc = margin__qp_w(m, qty, entry, &b->qe)) != MARGIN_OK ||
        (rc = up10(margin, m->w - MARGIN_MONEY_SCALE, &b->mw)) != MARGIN_OK)
        return rc;
    b->k0 = m->mm_basis == MARGIN_MM_BASIS_ENTRY ? 0 : margin__tier_at(m, b->qe);
    return MARGIN_OK;
}

/* Price at which MM = level * balance; level at scale 8 (1.0 gives the liquidation price).
 * Rounded long up, short down; 0 for a long when <= 0.
 *
 * Both bases are computed as a distance from the entry price, so that the intermediates
 * stay the size of the position's value and margin (times 10^(w+8)), never their sum:
 *  - entry basis (MM_e fixed): P = E - s*T, T = (L*M - MM_e) / (L*Q), T rounded down
 *    (which rounds P up for a long and down for a short);
 *  - mark basis, tier k (MM = Q*P*r - cum, r = mmr + f): P = E + d,
 *    d = (Q*E*r - cum - L*M) / (Q*(s*L - r)), d rounded long up, short down; the tier is
 *    the one holding Q*P (searched from the entry's tier outward). */
static int threshold_at(const margin__market *m, const thr_base *b, int side, int64_t qty,
                        int64_t entry, int64_t margin, int64_t level, int64_t *out)
{
    margin__i128 qe = b->qe, lm, num, den, d, price, nw, best_nw = 0;
    int rc, k, k0 = b->k0, n = (int)m->ntiers, pass, found = 0, best_k = -1;
    int sh = m->w - m->ns;
    int64_t best = 0;

    if ((rc = margin__mul128(b->mw, level, &lm)) != MARGIN_OK)
        return rc;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__i128 mme;
        if ((rc = mm_entry_x(m, side, qty, entry, margin, &k, &mme)) != MARGIN_OK)
            return rc;
        /* lm, mme >= 0 (a margin is never negative): the difference fits */
        if ((rc = up10((margin__i128)level * qty, sh, &den)) != MARGIN_OK ||
            (rc = margin__div128(lm - mme, den, MARGIN_ROUND_FLOOR, &d)) != MARGIN_OK ||
            (rc = sub128(entry, side * d, &price)) != MARGIN_OK) /* |d| <= |lm - mme| */
            return rc;
        if (side > 0 && price <= 0)
            price = 0;
        return margin__narrow(price, out);
    }
    for (pass = 0; pass < 2 && !found; pass++) {
        int start = pass == 0 ? k0 : (side > 0 ? k0 + 1 : k0 - 1);
        int step = (pass == 0) == (side > 0) ? -1 : 1;
        for (k = start; k >= 0 && k < n; k += step) {
            const margin__tier *t = &m->tiers[k];
            int64_t r = t->mmr + m->close_fee; /* < 10^8 */
            margin__i128 a, c;
            if ((rc = margin__mul128(qe, r, &a)) != MARGIN_OK ||
                (rc = up10(t->cum, m->w, &c)) != MARGIN_OK)
                return rc;
            /* a, c, lm >= 0: a - c fits, and subtracting lm is checked */
            if ((rc = sub128(a - c, lm, &num)) != MARGIN_OK)
                return rc;
            /* qty * (s*L - r): |s*L - r| < 2^28, so the product is below 2^91 */
            if ((rc = up10((margin__i128)qty * (side * level - r), sh, &den)) != MARGIN_OK)
                return rc;
            if ((rc = margin__div128(num, den, RUP(side), &d)) != MARGIN_OK ||
                (rc = add128(entry, d, &price)) != MARGIN_OK)
                return rc;
            if (price <= 0) {
                if (side > 0 && k == 0) {
                    found = 1;
                    best = 0;
                    break;
                }
                continue;
            }
            if (price > INT64_MAX)
                return MARGIN_EOVERFLOW;
            if ((rc = margin__qp_w(m, qty, (int64_t)price, &nw)) != MARGIN_OK)
                return rc;
            if (k == k0 && pass == 0) {
                best = (int64_t)price; /* fallback if no tier is consistent */
                best_nw = nw;
            }
            if (tier_holds(m, k, nw)) {
                best = (int64_t)price;
                best_nw = nw;
                best_k = k;
                found = 1;
                break;
            }
        }
    }
    if (best > 0) {
        /* A maintenance amount given above floor*rate makes Q*P*r - cum negative at low
         * notionals, where the maintenance margin is 0 instead: if the price found lies
         * there, the threshold is where the balance reaches 0, the bankruptcy price. */
        margin__i128 a, c;
        const margin__tier *t;
        nw = best_nw; /* Q * best, and its tier when the walk found one */
        t = &m->tiers[best_k >= 0 ? best_k : margin__tier_at(m, nw)];
        if ((rc = margin__mul128(nw, t->mmr + m->close_fee, &a)) != MARGIN_OK ||
            (rc = up10(t->cum, m->w, &c)) != MARGIN_OK)
            return rc;
        if (a < c)
            return bp_of(m, side, qty, entry, margin, out);
    }
    *out = best;
    return MARGIN_OK;
}

int margin__threshold(const margin__market *m, int side, int64_t qty, int64_t entry,
                      int64_t margin, int64_t level, int64_t *out)
{
    return margin__thresholds(m, side, qty, entry, margin, &level, 1, out);
}

int margin__thresholds(const margin__market *m, int side, int64_t qty, int64_t entry,
                       int64_t margin, const int64_t *levels, uint32_t n, int64_t *out)
{
    thr_base b;
    uint32_t i;
    int rc;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_thresholds(m, side, qty, entry, margin, levels, n, out);
    if ((rc = thr_base_of(m, qty, entry, margin, &b)) != MARGIN_OK)
        return rc;
    for (i = 0; i < n; i++)
        if ((rc = threshold_at(m, &b, side, qty, entry, margin, levels[i], &out[i])) != MARGIN_OK)
            return rc;
    return MARGIN_OK;
}

/* Maintenance margin (money, rounded up, never negative), its tier's rate and amount, at
 * price. Mark basis: MM = ceil(Q*P*(mmr + f) / 10^ns) - cum, the tier holding Q*P. */
int margin__mm_at(const margin__market *m, const margin__position *p, int64_t price, int64_t *mm,
                  int64_t *rate, int64_t *cum)
{
    int rc, k;
    int64_t v;
    if (m->contract == MARGIN_CONTRACT_INVERSE) {
        if ((rc = margin__inv_mm_at(m, p, price, &v, &k)) != MARGIN_OK)
            return rc;
    } else if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__i128 x, r;
        if ((rc = mm_entry_x(m, p->side, p->qty, p->entry, p->margin, &k, &x)) != MARGIN_OK ||
            (rc = margin__rescale128(x, m->w + 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &r)) !=
                MARGIN_OK ||
            (rc = margin__narrow(r, &v)) != MARGIN_OK)
            return rc;
    } else {
        margin__i128 n;
        if ((rc = margin__qp_w(m, p->qty, price, &n)) != MARGIN_OK)
            return rc;
        k = margin__tier_at(m, n);
        if ((rc = margin__rate_of((margin__i128)p->qty * price, m->ns, m->tiers[k].mmr + m->close_fee,
                          MARGIN_ROUND_CEIL, &v)) != MARGIN_OK)
            return rc;
        v -= m->tiers[k].cum; /* v >= 0, cum >= 0 */
    }
    *mm = v > 0 ? v : 0;
    if (rate)
        *rate = m->tiers[k].mmr;
    if (cum)
        *cum = m->tiers[k].cum;
    return MARGIN_OK;
}

int margin__balance_at(const margin__market *m, const margin__position *p, int64_t price,
                       int64_t *out)
{
    int64_t pnl;
    int rc = margin__pnl(m, p->side, p->qty, p->entry, price, &pnl);
    if (rc != MARGIN_OK)
        return rc;
    if (__builtin_add_overflow(p->margin, pnl, out))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

/* MM / balance, rounded up; INT64_MAX when the balance is <= 0 or the ratio exceeds it. */
int margin__ratio_at(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out)
{
    int64_t mm, b;
    int rc;
    if ((rc = margin__mm_at(m, p, price, &mm, NULL, NULL)) != MARGIN_OK)
        return rc;
    if ((rc = margin__balance_at(m, p, price, &b)) != MARGIN_OK)
        return rc;
    if (b <= 0 || margin__frac64(mm, 0, b, 0, 8, MARGIN_ROUND_CEIL, out) != MARGIN_OK)
        *out = INT64_MAX; /* mm * 10^8 < 2^91: only the narrowing can fail */
    return MARGIN_OK;
}

int margin__bankruptcy(const margin__market *m, const margin__position *p, int64_t *out)
{
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_bankruptcy(m, p->side, p->qty, p->entry, p->margin, out);
    return bp_of(m, p->side, p->qty, p->entry, p->margin, out);
}

/* Initial margin Q*P/L, money, rounded up. */
int margin__initial_margin(const margin__market *m, int64_t qty, int64_t price, int64_t lev,
                          int64_t *out)
{
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_initial(m, qty, price, lev, out);
    return margin__frac64((margin__i128)qty * price, m->ns, lev, MARGIN_RATE_SCALE, MARGIN_MONEY_SCALE,
                  MARGIN_ROUND_CEIL, out);
}

/* Leverage of a position of value Q*P (or N/P) on margin M: value / M, rounded up. */
int margin__leverage_of(const margin__market *m, int64_t qty, int64_t price, int64_t margin,
                        int64_t *out)
{
    if (m->contract == MARGIN_CONTRACT_INVERSE) {
        /* N/P / M = n*G*10^8 / (P*M*H) at scale 8 */
        margin__i128 r;
        int rc;
        if ((rc = margin__muldiv2((margin__i128)qty * m->csize,
                                  margin__pow10_128(m->price_scale) * MARGIN__ONE,
                                  (margin__i128)price * margin,
                                  margin__pow10_128(m->qty_scale), MARGIN_ROUND_CEIL, &r)) !=
            MARGIN_OK)
            return rc;
        return margin__narrow(r, out);
    }
    return margin__frac64((margin__i128)qty * price, m->ns, margin, MARGIN_MONEY_SCALE,
                          MARGIN_RATE_SCALE, MARGIN_ROUND_CEIL, out);
}

/* The tier holding the value of Q at P (the notional; N/P for an inverse market). */
int margin__tier_for(const margin__market *m, int64_t qty, int64_t price, int *out)
{
    margin__i128 n;
    int rc;
    if (m->contract == MARGIN_CONTRACT_INVERSE) {
        *out = margin__inv_tier(m, qty, price);
        return MARGIN_OK;
    }
    if ((rc = margin__qp_w(m, qty, price, &n)) != MARGIN_OK)
        return rc;
    *out = margin__tier_at(m, n);
    return MARGIN_OK;
}

/* The entry after adding q2 at e2 to q1 at e1: the quantity-weighted mean (linear) or the
 * harmonic mean (inverse), long rounded up, short down. */
int margin__avg_entry(const margin__market *m, int side, int64_t q1, int64_t e1, int64_t q2,
                      int64_t e2, int64_t *out)
{
    margin__i128 tot, ne;
    int rc;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_avg_entry(side, q1, e1, q2, e2, out);
    /* each product below 2^126, their sum below 2^127 */
    tot = (margin__i128)q1 * e1 + (margin__i128)q2 * e2;
    if ((rc = margin__div128(tot, (margin__i128)q1 + q2, RUP(side), &ne)) != MARGIN_OK)
        return rc;
    return margin__narrow(ne, out);
}

/* Funding flowing to the holder: -s * value * rate, rounded down (payments up, receipts
 * down). */
int margin__funding_flow(const margin__market *m, int side, int64_t qty, int64_t mark,
                         int64_t rate, int64_t *out)
{
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_rate_of(m, qty, mark, -(int64_t)side * rate, MARGIN_ROUND_FLOOR, out);
    return margin__rate_of((margin__i128)qty * mark, m->ns, -(int64_t)side * rate,
                           MARGIN_ROUND_FLOOR, out);
}

/* Fee rate * Q*P, money, rounded up. */
int margin__fee_of(const margin__market *m, int64_t qty, int64_t price, int64_t rate, int64_t *out)
{
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_rate_of(m, qty, price, rate, MARGIN_ROUND_CEIL, out);
    return margin__rate_of((margin__i128)qty * price, m->ns, rate, MARGIN_ROUND_CEIL, out);
}

/* Is x / 10^(ns-8) (money from a product at scale ns), rounded up (ceil) or down, at most
 * k? Without a division: ceil(x/D) <= k <=> x <= k*D; floor(x/D) <= k <=> x < (k+1)*D. */
static int money_le(const margin__market *m, margin__i128 x, int64_t k, int ceil)
{
    margin__i128 lim; /* k >= 0 */
    if (m->ns >= MARGIN_MONEY_SCALE) {
        if (margin__mul128((margin__i128)k + !ceil, margin__pow10_128(m->ns - MARGIN_MONEY_SCALE),
                           &lim) != MARGIN_OK)
            return 1; /* above any x (x < 2^127) */
        return ceil ? x <= lim : x < lim;
    }
    /* money = x * 10^(8-ns), exact */
    return x <= k / margin__pow10_64(MARGIN_MONEY_SCALE - m->ns);
}

/* Do the figures a mark update or a funding round computes from a mark P in [1, max price]
 * fit in money? They are monotonic in P, so the extremes bound them: the notional Q*P
 * (every fee and funding payment has a rate <= 1, the maintenance margin < 1) up to
 * Q*top, top = max(max price, E), which also bounds |PnL| (a long at 1 loses at most
 * Q*E, a short at the maximum Q*(max - E)); and the margin balance M + PnL, largest at the
 * maximum for a long (M + Q*(max - E)) and at 1 for a short (M + Q*(E - 1)). */
int margin__fits_price_range(const margin__market *m, const margin__position *p)
{
    int64_t top = p->entry > m->max_price ? p->entry : m->max_price;
    margin__i128 up = p->side > 0 ? (margin__i128)m->max_price - p->entry
                                  : (margin__i128)p->entry - 1;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_fits(m, p);
    if (!money_le(m, (margin__i128)p->qty * top, INT64_MAX, 1)) /* < 2^126 */
        return 0;
    return up <= 0 || money_le(m, up * p->qty, INT64_MAX - p->margin, 0); /* margin >= 0 */
}

/* Does a short's bankruptcy price E + floor(M/Q) (price scale) fit in 64 bits? A long's is
 * at most its entry. floor(M*10^k / Q) <= L  <=>  M*10^k < (L + 1)*Q, k = ps + qs - 8. */
int margin__short_bp_fits(const margin__market *m, const margin__position *p)
{
    margin__i128 a, b = ((margin__i128)INT64_MAX - p->entry + 1) * p->qty; /* < 2^126 */
    int k = m->ns - MARGIN_MONEY_SCALE;
    if (p->side > 0 || m->contract == MARGIN_CONTRACT_INVERSE)
        return 1; /* (an inverse short's is at most INT64_MAX, "none") */
    if (k >= 0) {
        if (margin__mul128(p->margin, margin__pow10_128(k), &a) != MARGIN_OK)
            return 0; /* M*10^k >= 2^127 > b */
        return a < b;
    }
    /* M / (Q*10^-k): compare M < (L + 1)*Q*10^-k */
    if (margin__mul128(b, margin__pow10_128(-k), &b) != MARGIN_OK)
        return 1;
    return p->margin < b;
}

int64_t margin__tier_max_lev(const margin__market *m, int k)
{
    return m->tiers[k].max_lev ? m->tiers[k].max_lev : m->max_lev;
}

/* The smallest margin M' that covers its own maintenance margin at the entry basis, where
 * the fee to close depends on the margin: M' >= base + f*(Q*E - s*M') with
 * base = Q*E*mmr - cum, i.e. M' = (base + f*Q*E) / (1 + s*f), rounded up (the region
 * Q*BP >= 0 holds there, since base < Q*E). Mark basis: the maintenance margin itself. */
static int margin_floor(const margin__market *m, const margin__position *p, int64_t mm,
                        int64_t *out)
{
    margin__i128 qe, a, b, c, num, den, r;
    const margin__tier *t;
    int rc;
    if (m->mm_basis != MARGIN_MM_BASIS_ENTRY || m->close_fee == 0) {
        *out = mm;
        return MARGIN_OK;
    }
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_margin_floor(m, p, out);
    if ((rc = margin__qp_w(m, p->qty, p->entry, &qe)) != MARGIN_OK)
        return rc;
    t = &m->tiers[margin__tier_at(m, qe)];
    if ((rc = margin__mul128(qe, t->mmr, &a)) != MARGIN_OK ||
        (rc = margin__mul128(qe, m->close_fee, &b)) != MARGIN_OK ||
        (rc = up10(t->cum, m->w, &c)) != MARGIN_OK || (rc = add128(a, b, &num)) != MARGIN_OK)
        return rc;
    num -= c; /* num >= -c and c >= 0: no overflow */
    if (num <= 0) {
        *out = 0;
        return MARGIN_OK;
    }
    /* (1 + s*f) at scale 8 times 10^(w-8): num (scale w+8) / den gives money */
    if ((rc = up10(MARGIN__ONE + p->side * m->close_fee, m->w - MARGIN_MONEY_SCALE, &den)) !=
            MARGIN_OK ||
        (rc = margin__div128(num, den, MARGIN_ROUND_CEIL, &r)) != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

/* Removable margin at price: max(0, min(M - M', M + uPnL - Q*P/L)), rounded down, never
 * more than M; M' is the smallest margin covering its own maintenance margin (the
 * maintenance margin, except at the entry basis with a fee to close, see margin_floor()). */
int margin__removable(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out)
{
    int64_t mm, pnl, im, mmin;
    margin__i128 x, y;
    int rc;
    if ((rc = margin__mm_at(m, p, price, &mm, NULL, NULL)) != MARGIN_OK ||
        (rc = margin_floor(m, p, mm, &mmin)) != MARGIN_OK ||
        (rc = margin__pnl(m, p->side, p->qty, p->entry, price, &pnl)) != MARGIN_OK ||
        (rc = margin__initial_margin(m, p->qty, price, p->leverage, &im)) != MARGIN_OK)
        return rc;
    x = (margin__i128)p->margin - mmin; /* mmin >= 0: x <= M */
    y = (margin__i128)p->margin + pnl - im;
    if (y < x)
        x = y;
    if (x < 0)
        x = 0;
    if (x >= p->margin)
        x = p->margin - 1; /* an open position keeps a margin: at least one unit */
    if (x < 0)
        x = 0;
    *out = (int64_t)x;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ cross books */

int margin__cross_mm(const margin__market *m, const margin__leg *l, int64_t price,
                     int64_t *out)
{
    margin__position p;
    margin__i128 qe, x, c, r;
    int64_t v, fee;
    int rc, k;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY && m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_cross_mm(m, l, price, out);
    if (m->mm_basis != MARGIN_MM_BASIS_ENTRY) {
        memset(&p, 0, sizeof p);
        p.side = (int8_t)l->side;
        p.qty = l->qty;
        p.entry = l->entry;
        return margin__mm_at(m, &p, price, out, NULL, NULL);
    }
    if ((rc = margin__qp_w(m, l->qty, l->entry, &qe)) != MARGIN_OK)
        return rc;
    k = margin__tier_at(m, qe);
    if ((rc = margin__mul128(qe, m->tiers[k].mmr, &x)) != MARGIN_OK ||
        (rc = up10(m->tiers[k].cum, m->w, &c)) != MARGIN_OK)
        return rc;
    x -= c; /* both >= 0 */
    if (x < 0)
        x = 0;
    if ((rc = margin__rescale128(x, m->w + 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &r)) !=
            MARGIN_OK ||
        (rc = margin__narrow(r, &v)) != MARGIN_OK ||
        (rc = margin__fee_of(m, l->qty, price, m->close_fee, &fee)) != MARGIN_OK)
        return rc;
    if (__builtin_add_overflow(v, fee, out))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

/* One leg's maintenance margin at scale w + 8 on the price segment holding P where it is
 * linear: MM = a*P + b for P in [*lo, *hi] (integer prices). Mark basis: the segment keeps
 * the tier and whether Q*P*r - cum is below zero (MM clamped at 0); entry basis: every
 * price (the fee to close, f*Q*P, is the only part that moves). *slope is the steepest a
 * the leg has anywhere in its tier (the unclamped one), for bounds. */
static int leg_piece(const margin__market *m, const margin__leg *l, int64_t P, margin__i128 *a,
                     margin__i128 *b, int64_t *lo, int64_t *hi, margin__i128 *slope)
{
    margin__i128 qd, n, c, x, t;
    const margin__tier *tk;
    int rc, k;
    int64_t r;
    /* Qd = Q*10^(w-ns): the notional at scale w is Qd*P; w - ns <= 8, so Qd < 2^90 */
    qd = (margin__i128)l->qty * margin__pow10_64(m->w - m->ns);
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__i128 qe;
        if ((rc = margin__qp_w(m, l->qty, l->entry, &qe)) != MARGIN_OK)
            return rc;
        tk = &m->tiers[margin__tier_at(m, qe)];
        if ((rc = margin__mul128(qe, tk->mmr, &x)) != MARGIN_OK ||
            (rc = up10(tk->cum, m->w, &c)) != MARGIN_OK)
            return rc;
        x -= c;
        *a = *slope = qd * m->close_fee; /* < 2^90 * 2^27 */
        *b = x > 0 ? x : 0;
        *lo = 1;
        *hi = INT64_MAX;
        return MARGIN_OK;
    }
    if ((rc = margin__mul128(qd, P, &n)) != MARGIN_OK)
        return rc;
    k = margin__tier_at(m, n);
    tk = &m->tiers[k];
    r = tk->mmr + m->close_fee;
    *slope = qd * r;
    if ((rc = up10(tk->cum, m->w, &c)) != MARGIN_OK)
        return rc;
    /* the tier's prices: ceil(floor_k / Qd) .. ceil(floor_k+1 / Qd) - 1 */
    *lo = 1;
    if (k > 0) {
        if ((rc = margin__div128(tk->floor_w, qd, MARGIN_ROUND_CEIL, &t)) != MARGIN_OK)
            return rc;
        *lo = t > 1 ? (t > INT64_MAX ? INT64_MAX : (int64_t)t) : 1;
    }
    *hi = INT64_MAX;
    if (k + 1 < (int)m->ntiers && m->tiers[k + 1].floor_w != MARGIN__I128_MAX) {
        if ((rc = margin__div128(m->tiers[k + 1].floor_w, qd, MARGIN_ROUND_CEIL, &t)) !=
            MARGIN_OK)
            return rc;
        if (t - 1 < INT64_MAX)
            *hi = (int64_t)(t - 1);
    }
    /* below cum / (Qd*r) the formula is negative and the maintenance margin 0 */
    if (*slope > 0) {
        margin__i128 cp;
        if ((rc = margin__div128(c, *slope, MARGIN_ROUND_FLOOR, &cp)) != MARGIN_OK)
            return rc;
        if (cp >= P) { /* clamped here, up to cp */
            *a = *b = 0;
            if (cp < *hi)
                *hi = (int64_t)cp;
            return MARGIN_OK;
        }
        if (cp + 1 > *lo)
            *lo = (int64_t)(cp + 1);
    } else if (c > 0) {
        *a = *b = 0; /* r = 0 and a positive amount: clamped in the whole tier */
        return MARGIN_OK;
    }
    *a = *slope;
    *b = -c;
    return MARGIN_OK;
}

/* h(P) = A*P + B at scale w + 8 on the segment [*lo, *hi] holding P (see
 * margin__cross_solve). */
static int book_piece(const margin__market *m, const margin__leg *legs, int n, margin__i128 k,
                      margin__i128 mmo, int64_t level, int with_mm, int64_t P, margin__i128 *A,
                      margin__i128 *B, int64_t *lo, int64_t *hi)
{
    margin__i128 sq = 0, sqe = 0, sa = 0, sb = 0, t, u, qd;
    int i, rc;
    *lo = 1;
    *hi = INT64_MAX;
    for (i = 0; i < n; i++) {
        qd = (margin__i128)legs[i].qty * margin__pow10_64(m->w - m->ns); /* < 2^90 */
        sq += legs[i].side * qd; /* n <= MARGIN__MAX_LEGS: < 2^94 */
        if ((rc = margin__mul128(qd, legs[i].entry, &t)) != MARGIN_OK ||
            (rc = add128(sqe, legs[i].side * t, &sqe)) != MARGIN_OK)
            return rc;
        if (with_mm) {
            margin__i128 a, b, sl;
            int64_t l, h;
            if ((rc = leg_piece(m, &legs[i], P, &a, &b, &l, &h, &sl)) != MARGIN_OK ||
                (rc = add128(sa, a, &sa)) != MARGIN_OK || (rc = add128(sb, b, &sb)) != MARGIN_OK)
                return rc;
            if (l > *lo)
                *lo = l;
            if (h < *hi)
                *hi = h;
        }
    }
    /* A = level*sum(s*Qd) - sum(a); B = level*(k*10^(w-8) - sum(s*Qd*E)) - mmo*10^w - sum(b) */
    if ((rc = margin__mul128(sq, level, &t)) != MARGIN_OK || (rc = sub128(t, sa, A)) != MARGIN_OK)
        return rc;
    if ((rc = up10(k, m->w - 8, &t)) != MARGIN_OK || (rc = sub128(t, sqe, &t)) != MARGIN_OK ||
        (rc = margin__mul128(t, level, &t)) != MARGIN_OK)
        return rc;
    if (with_mm) {
        if ((rc = up10(mmo, m->w, &u)) != MARGIN_OK || (rc = sub128(t, u, &t)) != MARGIN_OK ||
            (rc = sub128(t, sb, &t)) != MARGIN_OK)
            return rc;
    }
    *B = t;
    return MARGIN_OK;
}

/* book_piece() and h(P) = A*P + B itself */
static int book_at_price(const margin__market *m, const margin__leg *legs, int n,
                         margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                         int64_t P, margin__i128 *A, margin__i128 *B, int64_t *lo, int64_t *hi,
                         margin__i128 *h)
{
    int rc = book_piece(m, legs, n, k, mmo, level, with_mm, P, A, B, lo, hi);
    if (rc != MARGIN_OK || (rc = margin__mul128(*A, P, h)) != MARGIN_OK)
        return rc;
    return add128(*h, *B, h);
}

/* ---- the walk over the pieces of h (margin__cross_solve, and inverse.c's) ---- */

/* From a price where h <= 0, walk the other way (up for dir < 0) to where h turns
 * positive: the root there, rounded as walk_solve() rounds. */
static int walk_unsolve(margin__walk *w, int64_t P, int dir, int64_t *out)
{
    int64_t lo, hi;
    int rc, sign, has;
    for (;;) {
        margin__i128 x;
        if ((rc = w->piece(w, P, &sign, &lo, &hi)) != MARGIN_OK)
            return rc;
        if (sign > 0) { /* turned positive between the last piece and here */
            *out = P;
            return MARGIN_OK;
        }
        if (dir < 0) { /* walking up: h rises with P, positive from its root */
            if ((rc = w->root(w, 1, &has, &x)) != MARGIN_OK)
                return rc;
            if (has && x <= hi) {
                *out = x < P ? P : (int64_t)x;
                return MARGIN_OK;
            }
            if (hi == INT64_MAX) {
                *out = INT64_MAX;
                return MARGIN_OK;
            }
            P = hi + 1;
        } else { /* walking down: h rises as P falls */
            if ((rc = w->root(w, 0, &has, &x)) != MARGIN_OK)
                return rc;
            if (has && x >= lo) {
                *out = x > P ? P : (int64_t)x;
                return MARGIN_OK;
            }
            if (lo <= 1) {
                *out = 0;
                return MARGIN_OK;
            }
            P = lo - 1;
        }
    }
}

static int walk_solve(margin__walk *w, int64_t start, int dir, int64_t *out)
{
    int64_t P = start, lo, hi;
    int first = 1, rc, sign, has;
    for (;;) {
        margin__i128 x;
        if ((rc = w->piece(w, P, &sign, &lo, &hi)) != MARGIN_OK)
            return rc;
        if (sign <= 0) {
            if (first) /* already past it: the root is the other way */
                return walk_unsolve(w, P, dir, out);
            /* h crossed zero between the last piece's end and here */
            *out = dir < 0 ? P + 1 : P - 1;
            return MARGIN_OK;
        }
        first = 0;
        if (dir < 0) {
            /* h falls as P falls (rises with P): its root below P, rounded up */
            if ((rc = w->root(w, 1, &has, &x)) != MARGIN_OK)
                return rc;
            if (has && x >= lo) {
                *out = x > 0 ? (int64_t)x : 0;
                return MARGIN_OK;
            }
            if (lo <= 1) {
                *out = 0;
                return MARGIN_OK;
            }
            P = lo - 1;
        } else {
            /* h falls as P rises: its root above P, rounded down */
            if ((rc = w->root(w, 0, &has, &x)) != MARGIN_OK)
                return rc;
            if (has && x <= hi) {
                *out = (int64_t)x;
                return MARGIN_OK;
            }
            if (hi == INT64_MAX) {
                *out = 0;
                return MARGIN_OK;
            }
            P = hi + 1;
        }
    }
}

int margin__walk_book(margin__walk *w, const margin__market *m, const margin__leg *legs, int n,
                      margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                      int64_t start, int dir, int64_t *out)
{
    w->m = m;
    w->legs = legs;
    w->n = n;
    w->k = k;
    w->mmo = mmo;
    w->level = level;
    w->with_mm = with_mm;
    return walk_solve(w, start, dir, out);
}

/* A linear book's walk: h(P) = A*P + B on each piece */
typedef struct {
    margin__walk w;
    margin__i128 A, B;
} lin_walk;

static int lin_piece(margin__walk *w, int64_t P, int *sign, int64_t *lo, int64_t *hi)
{
    lin_walk *c = (lin_walk *)w;
    margin__i128 h = 0;
    int rc = book_at_price(w->m, w->legs, w->n, w->k, w->mmo, w->level, w->with_mm, P, &c->A,
                           &c->B, lo, hi, &h);
    *sign = h > 0 ? 1 : h < 0 ? -1 : 0;
    return rc;
}

/* rising: h rises with P (A > 0), its root -B/A rounded up; else h falls with P (A < 0),
 * the root rounded down */
static int lin_root(margin__walk *w, int rising, int *has, margin__i128 *x)
{
    lin_walk *c = (lin_walk *)w;
    *has = rising ? c->A > 0 : c->A < 0;
    if (!*has)
        return MARGIN_OK;
    return margin__div128(-c->B, c->A, rising ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR, x);
}

int margin__cross_solve(const margin__market *m, const margin__leg *legs, int n,
                        margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                        int64_t start, int dir, int64_t *out)
{
    lin_walk c;
    if (m->contract == MARGIN_CONTRACT_INVERSE)
        return margin__inv_cross_solve(m, legs, n, k, mmo, level, with_mm, start, dir, out);
    memset(&c, 0, sizeof c);
    c.w.piece = lin_piece;
    c.w.root = lin_root;
    return margin__walk_book(&c.w, m, legs, n, k, mmo, level, with_mm, start, dir, out);
}

/* floor(b / s) as a price distance, saturated; b >= 0, s > 0 */
static int64_t dist(margin__i128 b, margin__i128 s)
{
    margin__i128 q = b / s;
    return q > INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* How far above the mark the conditions allow the price to rise, in ticks, when the
 * legs' maintenance margin rises by at most sw per tick (the PnL term nw[i] per tick
 * and the budget b[i] per condition, all at scale w + 8): INT64_MAX when unbounded. */
static int64_t up_reach(const margin__cond *conds, int nc, const margin__i128 *nw,
                        const margin__i128 *b, margin__i128 sw)
{
    int64_t upd = INT64_MAX;
    int i;
    for (i = 0; i < nc; i++) {
        margin__i128 s = conds[i].rise ? nw[i] : sw - nw[i];
        if (s > 0 && dist(b[i], s) < upd)
            upd = dist(b[i], s);
    }
    return upd;
}

void margin__cross_band(const margin__market *m, const margin__leg *legs, int n, int64_t p0,
                        const margin__cond *conds, int nc, int64_t *down, int64_t *up)
{
    margin__i128 sq = 0, sl = 0, nw[3] = {0, 0, 0}, b[3] = {0, 0, 0}, sw;
    int64_t lo = 1, hi = INT64_MAX, dn = INT64_MAX, upd, safe_lo, safe_hi;
    int i;
    if (m->contract == MARGIN_CONTRACT_INVERSE) {
        margin__inv_cross_band(m, legs, n, p0, conds, nc, down, up);
        return;
    }
    if (nc > 3)
        goto any; /* (at most three conditions: book_conds) */
    for (i = 0; i < n; i++) {
        margin__i128 a, bb, s;
        int64_t l, h;
        sq += legs[i].side * ((margin__i128)legs[i].qty * margin__pow10_64(m->w - m->ns));
        if (leg_piece(m, &legs[i], p0, &a, &bb, &l, &h, &s) != MARGIN_OK)
            goto any;
        sl += s; /* each < 2^117, n <= 16 */
        /* the band stays where every leg's maintenance margin is linear (its tier, and on
         * one side of the point where a given amount stops clamping it at 0). Below p0
         * that is not needed when the tiers make it convex (m->mm_convex): as the price
         * falls it then never rises and falls at most by the slope s of p0's tier per
         * tick, whatever tiers and clamp lie below, which is all the bounds below use */
        if (l > lo && !m->mm_convex)
            lo = l;
        if (h < hi)
            hi = h;
    }
    for (i = 0; i < nc; i++) {
        /* per tick, at scale w + 8: the uPnL term moves h by nw, the maintenance margin by
         * 0 to sw in the opposite direction */
        if (margin__mul128(sq, conds[i].level, &nw[i]) != MARGIN_OK)
            goto any;
        sw = sl;
        if (up10(conds[i].budget, m->w - 8, &b[i]) != MARGIN_OK)
            b[i] = MARGIN__I128_MAX / 4; /* less than the budget: still a safe band */
        if (!conds[i].rise) { /* h must stay > 0: the worst moves are down nw, up sw - nw */
            if (nw[i] > 0 && dist(b[i], nw[i]) < dn)
                dn = dist(b[i], nw[i]);
        } else { /* h must stay <= 0: up nw, down sw - nw */
            if (sw - nw[i] > 0 && dist(b[i], sw - nw[i]) < dn)
                dn = dist(b[i], sw - nw[i]);
        }
    }
    upd = up_reach(conds, nc, nw, b, sl);
    safe_lo = dn >= p0 ? 1 : p0 - dn;
    if (safe_lo < lo)
        safe_lo = lo;
    safe_hi = upd > INT64_MAX - p0 ? INT64_MAX : p0 + upd;
    if (safe_hi > hi && m->mm_convex) {
        /* Above p0 the slopes grow tier by tier. With convex tiers the band may still
         * go on past the boundary hi: over [p0, P] every leg's maintenance margin rises
         * by at most its slope at P per tick, so the slopes of the next segment (where
         * every leg is linear again) bound the whole way there. A few segments at most. */
        int64_t seg = hi;
        int steps;
        for (steps = 0;; steps++) {
            margin__i128 s2 = 0;
            int64_t nhi = INT64_MAX, reach;
            if (seg >= m->max_price || steps == 4) {
                safe_hi = seg; /* (at the maximum price the band needs no end) */
                break;
            }
            for (i = 0; i < n; i++) {
                margin__i128 a, bb, s;
                int64_t l, h;
                if (leg_piece(m, &legs[i], seg + 1, &a, &bb, &l, &h, &s) != MARGIN_OK)
                    break;
                s2 += s;
                if (h < nhi)
                    nhi = h;
            }
            if (i < n) {
                safe_hi = seg;
                break;
            }
            reach = up_reach(conds, nc, nw, b, s2);
            reach = reach > INT64_MAX - p0 ? INT64_MAX : p0 + reach;
            if (reach <= nhi) {
                safe_hi = reach > seg ? reach : seg;
                break;
            }
            seg = nhi; /* this segment is safe to its end: on to the next */
        }
    } else if (safe_hi > hi) {
        safe_hi = hi;
    }
    if (safe_lo > p0 || safe_hi < p0)
        goto any; /* cannot happen: p0 is in its own tier */
    *down = safe_lo <= 1 ? INT64_MIN : safe_lo - 1;
    *up = safe_hi >= m->max_price ? INT64_MAX : safe_hi + 1;
    return;
any:
    *down = INT64_MAX;
    *up = INT64_MAX;
}
