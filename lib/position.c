/* Margin mathematics and the operations on isolated positions.
 *
 * Scales: money and rates 8; prices ps and quantities qs (the market's); a product Q*P has
 * the native notional scale ns = qs + ps; the working scale w = max(ns, 8) holds both
 * notionals and money exactly. Every formula is evaluated exactly in 128 bits and rounded
 * once, against the holder.
 *
 * Range: every 128-bit operation is either proven in range (the comment beside it says
 * why) or checked (MARGIN_EOVERFLOW). Q and P are below 2^63, so Q*P < 2^126; a rate is at
 * most 10^8 < 2^27; ns <= MARGIN__MAX_SCALE_SUM = 28. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

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

static int frac64(margin__i128 num, int ns_num, margin__i128 den, int ns_den, int rs,
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
static int qp_w(const margin__market *m, int64_t q, int64_t p, margin__i128 *out)
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
}

int margin__tier_at(const margin__market *m, margin__i128 n_w)
{
    int k;
    for (k = (int)m->ntiers - 1; k > 0; k--)
        if (n_w >= m->tiers[k].floor_w)
            return k;
    return 0;
}

static int margin__notional(const margin__market *m, int64_t qty, int64_t price, int rounding,
                     int64_t *out)
{
    margin__i128 r;
    int rc = margin__rescale128((margin__i128)qty * price, m->ns, MARGIN_MONEY_SCALE, rounding, &r);
    if (rc != MARGIN_OK)
        return rc;
    return margin__narrow(r, out);
}

int margin__pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                int64_t *out)
{
    margin__i128 d = (margin__i128)price - entry, v, r;
    int rc;
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
    if ((rc = qp_w(m, qty, entry, &qe)) != MARGIN_OK ||
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
int margin__threshold(const margin__market *m, int side, int64_t qty, int64_t entry,
                      int64_t margin, int64_t level, int64_t *out)
{
    margin__i128 qe, mw, lm, num, den, d, price, nw;
    int rc, k, k0, n = (int)m->ntiers, pass, found = 0;
    int sh = m->w - m->ns;
    int64_t best = 0;

    if ((rc = qp_w(m, qty, entry, &qe)) != MARGIN_OK ||
        (rc = up10(margin, m->w - MARGIN_MONEY_SCALE, &mw)) != MARGIN_OK ||
        (rc = margin__mul128(mw, level, &lm)) != MARGIN_OK)
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
    k0 = margin__tier_at(m, qe);
    for (pass = 0; pass < 2 && !found; pass++) {
        int start = pass == 0 ? k0 : (side > 0 ? k0 + 1 : k0 - 1);
        int step = (pass == 0) == (side > 0) ? -1 : 1;
        for (k = start; k >= 0 && k < n; k += step) {
            const margin__tier *t = &m->tiers[k];
            int64_t r = t->mmr + m->close_fee; /* < 10^8 */
            margin__i128 a, c;
            int kk;
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
            if ((rc = qp_w(m, qty, (int64_t)price, &nw)) != MARGIN_OK)
                return rc;
            kk = margin__tier_at(m, nw);
            if (k == k0 && pass == 0)
                best = (int64_t)price; /* fallback if no tier is consistent */
            if (kk == k) {
                best = (int64_t)price;
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
        if ((rc = qp_w(m, qty, best, &nw)) != MARGIN_OK)
            return rc;
        t = &m->tiers[margin__tier_at(m, nw)];
        if ((rc = margin__mul128(nw, t->mmr + m->close_fee, &a)) != MARGIN_OK ||
            (rc = up10(t->cum, m->w, &c)) != MARGIN_OK)
            return rc;
        if (a < c)
            return bp_of(m, side, qty, entry, margin, out);
    }
    *out = best;
    return MARGIN_OK;
}

/* Maintenance margin (money, rounded up, never negative), its tier's rate and amount, at
 * price. Mark basis: MM = ceil(Q*P*(mmr + f) / 10^ns) - cum, the tier holding Q*P. */
static int margin__mm_at(const margin__market *m, const margin__position *p, int64_t price, int64_t *mm,
                  int64_t *rate, int64_t *cum)
{
    int rc, k;
    int64_t v;
    if (m->mm_basis == MARGIN_MM_BASIS_ENTRY) {
        margin__i128 x, r;
        if ((rc = mm_entry_x(m, p->side, p->qty, p->entry, p->margin, &k, &x)) != MARGIN_OK ||
            (rc = margin__rescale128(x, m->w + 8, MARGIN_MONEY_SCALE, MARGIN_ROUND_CEIL, &r)) !=
                MARGIN_OK ||
            (rc = margin__narrow(r, &v)) != MARGIN_OK)
            return rc;
    } else {
        margin__i128 n;
        if ((rc = qp_w(m, p->qty, price, &n)) != MARGIN_OK)
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

static int margin__balance_at(const margin__market *m, const margin__position *p, int64_t price,
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
    if (b <= 0 || frac64(mm, 0, b, 0, 8, MARGIN_ROUND_CEIL, out) != MARGIN_OK)
        *out = INT64_MAX; /* mm * 10^8 < 2^91: only the narrowing can fail */
    return MARGIN_OK;
}

int margin__bankruptcy(const margin__market *m, const margin__position *p, int64_t *out)
{
    return bp_of(m, p->side, p->qty, p->entry, p->margin, out);
}

/* Initial margin Q*P/L, money, rounded up. */
static int initial_margin(const margin__market *m, int64_t qty, int64_t price, int64_t lev,
                          int64_t *out)
{
    return frac64((margin__i128)qty * price, m->ns, lev, MARGIN_RATE_SCALE, MARGIN_MONEY_SCALE,
                  MARGIN_ROUND_CEIL, out);
}

/* Fee rate * Q*P, money, rounded up. */
static int fee_of(const margin__market *m, int64_t qty, int64_t price, int64_t rate, int64_t *out)
{
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
static int fits_at_max_price(const margin__market *m, const margin__position *p)
{
    int64_t top = p->entry > m->max_price ? p->entry : m->max_price;
    margin__i128 up = p->side > 0 ? (margin__i128)m->max_price - p->entry
                                  : (margin__i128)p->entry - 1;
    if (!money_le(m, (margin__i128)p->qty * top, INT64_MAX, 1)) /* < 2^126 */
        return 0;
    return up <= 0 || money_le(m, up * p->qty, INT64_MAX - p->margin, 0); /* margin >= 0 */
}

/* Does a short's bankruptcy price E + floor(M/Q) (price scale) fit in 64 bits? A long's is
 * at most its entry. floor(M*10^k / Q) <= L  <=>  M*10^k < (L + 1)*Q, k = ps + qs - 8. */
static int short_bp_fits(const margin__market *m, const margin__position *p)
{
    margin__i128 a, b = ((margin__i128)INT64_MAX - p->entry + 1) * p->qty; /* < 2^126 */
    int k = m->ns - MARGIN_MONEY_SCALE;
    if (p->side > 0)
        return 1;
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

/* A position's figures fit at every mark the market accepts (1 to the maximum price), and
 * so does its bankruptcy price: checked whenever a position's state is set, so that
 * evaluating a mark fails for no position. */
int margin__position_envelope(const margin_engine *e, const margin__market *m,
                              const margin__position *p)
{
    char buf[48];
    if (!fits_at_max_price(m, p))
        return margin__fail(e, MARGIN_EOVERFLOW,
                            "the position is too large for the market's price range: its "
                            "value or PnL at the maximum price %s would not fit "
                            "(lower MARGIN_MKT_MAX_PRICE, or trade a smaller size)",
                            margin__fmt(buf, sizeof buf, m->max_price, m->price_scale));
    if (!short_bp_fits(m, p))
        return margin__fail(e, MARGIN_EOVERFLOW,
                            "the position's bankruptcy price does not fit in 64 bits");
    return MARGIN_OK;
}

static int64_t tier_max_lev(const margin__market *m, int k)
{
    return m->tiers[k].max_lev ? m->tiers[k].max_lev : m->max_lev;
}

static int check_leverage(const margin_engine *e, const margin__market *m, int64_t qty,
                          int64_t price, int64_t lev)
{
    margin__i128 n;
    int k, rc;
    if (lev < ONE)
        return margin__fail(e, MARGIN_ELEVERAGE, "leverage must be at least 1x");
    if (lev > m->max_lev)
        return margin__fail(e, MARGIN_ELEVERAGE, "leverage above the market's maximum");
    if ((rc = qp_w(m, qty, price, &n)) != MARGIN_OK)
        return margin__fail(e, rc, "notional overflows");
    k = margin__tier_at(m, n);
    if (lev > tier_max_lev(m, k))
        return margin__fail(e, MARGIN_ELEVERAGE,
                            "leverage above the maximum of the tier holding this notional");
    return MARGIN_OK;
}

/* A fill, stop or take-profit price above the market's maximum is refused (MARGIN_ERANGE). */
static int check_price_range(const margin_engine *e, const margin__market *m, const char *what,
                             int64_t price)
{
    char b1[48], b2[48];
    if (price <= m->max_price)
        return MARGIN_OK;
    return margin__fail(e, MARGIN_ERANGE, "%s %s is above the market's maximum price %s",
                        what, margin__fmt(b1, sizeof b1, price, m->price_scale),
                        margin__fmt(b2, sizeof b2, m->max_price, m->price_scale));
}

static int check_grid(const margin_engine *e, const margin__market *m, int64_t qty, int64_t price)
{
    int rc = check_price_range(e, m, "price", price);
    if (rc != MARGIN_OK)
        return rc;
    if (price % m->tick != 0)
        return margin__fail(e, MARGIN_EGRID, "price is not a multiple of the market's tick");
    if (qty % m->step != 0)
        return margin__fail(e, MARGIN_EGRID, "quantity is not a multiple of the market's step");
    return MARGIN_OK;
}

static int flags_ok(const margin_engine *e, uint32_t flags, int allow_cross)
{
    if (flags & ~(MARGIN_FLAG_MAKER | MARGIN_FLAG_CROSS))
        return margin__fail(e, MARGIN_EINVAL, "unknown flags 0x%x", (unsigned)flags);
    if (flags & MARGIN_FLAG_CROSS)
        return margin__fail(e, allow_cross ? MARGIN_ENOTSUP : MARGIN_EINVAL,
                            "cross margin is not supported yet");
    return MARGIN_OK;
}

static int open_pos(const margin_engine *e, uint64_t id, margin__position **p)
{
    int rc = margin__get_position(e, id, p);
    if (rc != MARGIN_OK)
        return rc;
    if ((*p)->status != MARGIN_STATUS_OPEN)
        return margin__fail(e, MARGIN_ECLOSED, "position %llu is %s", (unsigned long long)id,
                            (*p)->status == MARGIN_STATUS_LIQUIDATED ? "liquidated" : "closed");
    return MARGIN_OK;
}

static int add_ok(int64_t a, int64_t b)
{
    int64_t r;
    return !__builtin_add_overflow(a, b, &r);
}

int margin__ledger_check(const margin_engine *e, const margin__position *p, int count_pos,
                         const margin__delta *d)
{
    const margin__account *a = &e->accounts[p->account];
    if (!add_ok(a->free, d->free) || !add_ok(a->isolated, d->isolated) ||
        !add_ok(a->realized, d->realized) || !add_ok(a->fees, d->fees) ||
        !add_ok(a->funding, d->funding) || !add_ok(e->insurance, d->insurance))
        return MARGIN_EOVERFLOW;
    if (count_pos && (!add_ok(p->realized, d->realized) || !add_ok(p->fees, d->fees) ||
                      !add_ok(p->funding, d->funding)))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

void margin__ledger_apply(margin_engine *e, uint32_t account, const margin__delta *d)
{
    margin__account *a = &e->accounts[account];
    a->free += d->free;
    a->isolated += d->isolated;
    a->realized += d->realized;
    a->fees += d->fees;
    a->funding += d->funding;
    e->insurance += d->insurance;
}

int margin__ledger_stage(margin_engine *e, uint32_t account, const margin__delta *d)
{
    margin__account *a = &e->accounts[account];
    const int64_t now[5] = {a->free, a->isolated, a->realized, a->fees, a->funding};
    const int64_t add[5] = {d->free, d->isolated, d->realized, d->fees, d->funding};
    int i, rc = MARGIN_OK;
    for (i = 0; i < 5; i++) {
        margin__i128 v;
        a->stage[i] += add[i]; /* |stage| < n * 2^63: no overflow in 128 bits */
        v = now[i] + a->stage[i];
        if (v > INT64_MAX || v < INT64_MIN)
            rc = MARGIN_EOVERFLOW;
    }
    return rc;
}

void margin__ledger_unstage(margin_engine *e, uint32_t account)
{
    memset(e->accounts[account].stage, 0, sizeof e->accounts[account].stage);
}

static margin__delta delta_of(int64_t dfree, int64_t diso, int64_t dreal, int64_t dfees,
                              int64_t dins)
{
    margin__delta d;
    d.free = dfree;
    d.isolated = diso;
    d.realized = dreal;
    d.fees = dfees;
    d.funding = 0;
    d.insurance = dins;
    return d;
}

static margin__delta close_delta(const margin__position *p, const margin__close *c)
{
    return delta_of(c->ret - c->fee, -p->margin, c->realized, c->fee, c->insurance);
}

/* A position event carrying a fill: price, quantity, money moved and fee. */
static margin__event *trade_event(margin_engine *e, int32_t type, uint32_t pi, int64_t price,
                                  int64_t qty, int64_t amount, int64_t fee)
{
    margin__event *ev = margin__ev_position(e, type, pi);
    ev->f[MARGIN_EVF_PRICE] = price;
    ev->f[MARGIN_EVF_QTY] = qty;
    ev->f[MARGIN_EVF_AMOUNT] = amount;
    ev->f[MARGIN_EVF_FEE] = fee;
    return ev;
}

/* A candidate state of a position: its new liquidation price and trigger keys. */
typedef struct {
    margin__position p;
    int64_t down, up;
} candidate;

static int candidate_eval(const margin_engine *e, const margin__market *m, candidate *c)
{
    int rc = margin__threshold(m, c->p.side, c->p.qty, c->p.entry, c->p.margin, ONE, &c->p.liq);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "liquidation price overflows");
    rc = margin__position_keys(e, m, &c->p, c->p.mc_fired, &c->down, &c->up);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "margin-call level prices overflow");
    return margin__position_envelope(e, m, &c->p);
}

static int64_t current_mark(const margin__market *m, const margin__position *p)
{
    return m->mark ? m->mark : p->entry;
}

static int liquidatable(const margin__position *p, int64_t mark)
{
    if (p->side > 0)
        return p->liq > 0 && mark <= p->liq;
    return mark >= p->liq;
}

int margin_position_open(margin_engine *e, uint64_t account, uint64_t market, int32_t side,
                         int64_t qty, int64_t price, int64_t leverage, int64_t margin,
                         uint32_t flags, uint64_t *out_id)
{
    margin__market *m = NULL;
    margin__account *a = NULL;
    candidate c;
    margin__delta d;
    int64_t value_fee, im, need;
    margin__i128 qe;
    int rc;
    uint32_t pi;

    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out_id is NULL");
    if ((rc = flags_ok(e, flags, 1)) != MARGIN_OK)
        return rc;
    if (side != MARGIN_LONG && side != MARGIN_SHORT)
        return margin__fail(e, MARGIN_EINVAL, "side must be MARGIN_LONG or MARGIN_SHORT");
    if (qty <= 0 || price <= 0)
        return margin__fail(e, MARGIN_EINVAL, "quantity and price must be > 0");
    if (leverage < 0 || margin < 0 || (leverage == 0 && margin == 0))
        return margin__fail(e, MARGIN_EINVAL,
                            "give a leverage > 0, a margin > 0, or both (neither may be negative)");
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK ||
        (rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if ((rc = check_grid(e, m, qty, price)) != MARGIN_OK)
        return rc;
    if (e->npos == UINT32_MAX - 1)
        return margin__fail(e, MARGIN_ENOMEM, "too many positions");
    /* what linking and indexing will touch: load it while the arithmetic runs */
    if (a->tail != MARGIN__NONE)
        __builtin_prefetch(&e->pos[a->tail], 1);
    if (e->npos < e->cappos)
        __builtin_prefetch(&e->pos[e->npos], 1);
    if (m->down.n > 0)
        __builtin_prefetch(&m->down.a[(m->down.n - 1) / 4], 1);
    if (m->up.n > 0)
        __builtin_prefetch(&m->up.a[(m->up.n - 1) / 4], 1);
    qe = (margin__i128)qty * price;
    if (leverage == 0) {
        if ((rc = frac64(qe, m->ns, margin, MARGIN_MONEY_SCALE, MARGIN_RATE_SCALE,
                         MARGIN_ROUND_CEIL, &leverage)) != MARGIN_OK)
            return margin__fail(e, rc, "leverage (position value / margin) overflows");
        if (leverage < ONE)
            return margin__fail(e, MARGIN_ELEVERAGE,
                                "the margin exceeds the position value (leverage below 1x)");
    }
    if ((rc = check_leverage(e, m, qty, price, leverage)) != MARGIN_OK)
        return rc;
    if ((rc = initial_margin(m, qty, price, leverage, &im)) != MARGIN_OK)
        return margin__fail(e, rc, "initial margin overflows");
    if (margin == 0)
        margin = im;
    else if (margin < im)
        return margin__fail(e, MARGIN_EMARGIN, "margin is below the initial margin Q*E/L");
    if ((rc = fee_of(m, qty, price, (flags & MARGIN_FLAG_MAKER) ? m->maker : m->taker,
                     &value_fee)) != MARGIN_OK)
        return margin__fail(e, rc, "fee overflows");
    if (__builtin_add_overflow(margin, value_fee, &need))
        return margin__fail(e, MARGIN_EOVERFLOW, "margin plus fee overflows");
    if (need > a->free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover margin plus fee");

    memset(&c, 0, sizeof c);
    c.p.qty = qty;
    c.p.entry = price;
    c.p.margin = margin;
    c.p.leverage = leverage;
    c.p.side = (int8_t)side;
    c.p.account = (uint32_t)(account - 1);
    c.p.market = (uint32_t)(market - 1);
    if ((rc = candidate_eval(e, m, &c)) != MARGIN_OK)
        return rc;
    if (liquidatable(&c.p, current_mark(m, &c.p)))
        return margin__fail(e, MARGIN_EMARGIN,
                            "the position would be liquidated at once at the current mark");
    d = delta_of(-need, margin, 0, value_fee, 0);
    if (margin__ledger_check(e, &c.p, 0, &d) != MARGIN_OK)
        return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");

    /* reserve everything, then commit */
    if (e->npos == e->cappos) {
        uint32_t cap = e->cappos ? (e->cappos < (1u << 30) ? e->cappos * 2 : UINT32_MAX - 1) : 64;
        margin__position *np = realloc(e->pos, (size_t)cap * sizeof *np);
        if (np == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->pos = np;
        e->cappos = cap;
    }
    if ((rc = margin__index_reserve(m)) != MARGIN_OK)
        return margin__fail(e, rc, "out of memory");
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;

    pi = e->npos++;
    c.p.status = MARGIN_STATUS_OPEN;
    c.p.fees = value_fee;
    c.p.down_slot = c.p.up_slot = MARGIN__NONE;
    e->pos[pi] = c.p;
    margin__ledger_apply(e, c.p.account, &d);
    margin__link(e, pi);
    margin__index_set(e, m, pi, c.down, c.up);
    margin__ev_commit(e, trade_event(e, MARGIN_EV_OPEN, pi, price, qty, margin, value_fee));
    *out_id = (uint64_t)pi + 1;
    return MARGIN_OK;
}

int margin__close_compute(const margin_engine *e, const margin__position *p, int64_t price,
                          int64_t fee_rate, int liquidation, margin__close *out)
{
    const margin__market *m = &e->markets[p->market];
    const margin__account *a = &e->accounts[p->account];
    int64_t pnl, fee, gross;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = margin__pnl(m, p->side, p->qty, p->entry, price, &pnl)) != MARGIN_OK)
        return rc;
    if (__builtin_add_overflow(p->margin, pnl, &gross))
        return MARGIN_EOVERFLOW;
    if (liquidation) {
        /* the holder loses exactly the margin; the rest of the close goes to the fund */
        margin__delta d;
        out->realized = -p->margin;
        out->insurance = gross;
        d = close_delta(p, out);
        return margin__ledger_check(e, p, 1, &d);
    }
    if (gross < 0) {
        out->realized = -p->margin;
        out->insurance = gross;
        gross = 0;
    } else {
        out->realized = pnl;
    }
    if ((rc = fee_of(m, p->qty, price, fee_rate, &fee)) != MARGIN_OK)
        return rc;
    if ((margin__i128)fee > (margin__i128)a->free + gross)
        fee = a->free + gross; /* a close never fails for its fee; cannot overflow here */
    out->ret = gross;
    out->fee = fee;
    {
        margin__delta d = close_delta(p, out);
        return margin__ledger_check(e, p, 1, &d);
    }
}

/* Start loading everything a close touches (account, list neighbours, heap slots and the
 * heaps' last items, which fill the holes), so that the cache misses overlap instead of
 * following one another: at a million positions each is a trip to memory. */
void margin__prefetch_close(const margin_engine *e, const margin__position *p)
{
    const margin__market *m = &e->markets[p->market];
    __builtin_prefetch(&e->accounts[p->account], 1);
    if (p->mprev != MARGIN__NONE)
        __builtin_prefetch(&e->pos[p->mprev], 1);
    if (p->mnext != MARGIN__NONE)
        __builtin_prefetch(&e->pos[p->mnext], 1);
    if (p->aprev != MARGIN__NONE)
        __builtin_prefetch(&e->pos[p->aprev], 1);
    if (p->anext != MARGIN__NONE)
        __builtin_prefetch(&e->pos[p->anext], 1);
    if (p->down_slot != MARGIN__NONE && m->down.n > 0) {
        __builtin_prefetch(&m->down.a[p->down_slot], 1);
        __builtin_prefetch(&e->pos[m->down.a[m->down.n - 1].pos], 1);
    }
    if (p->up_slot != MARGIN__NONE && m->up.n > 0) {
        __builtin_prefetch(&m->up.a[p->up_slot], 1);
        __builtin_prefetch(&e->pos[m->up.a[m->up.n - 1].pos], 1);
    }
}

int margin__close_stage(margin_engine *e, uint32_t pi, const margin__close *c)
{
    margin__delta d = close_delta(&e->pos[pi], c);
    return margin__ledger_stage(e, e->pos[pi].account, &d);
}

/* The money side of a close and its event; the position stays linked and indexed. */
static void close_books(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                        int32_t ev_type)
{
    margin__position *p = &e->pos[pi];
    margin__market *m = &e->markets[p->market];
    margin__event *ev;
    int64_t qty = p->qty, margin = p->margin, liq = p->liq, bp = 0;
    if (ev_type == MARGIN_EV_LIQUIDATION)
        (void)margin__bankruptcy(m, p, &bp); /* computed before: cannot fail here */
    {
        margin__delta d = close_delta(p, c);
        margin__ledger_apply(e, p->account, &d);
    }
    p->realized += c->realized;
    p->fees += c->fee;
    p->status = ev_type == MARGIN_EV_LIQUIDATION ? MARGIN_STATUS_LIQUIDATED : MARGIN_STATUS_CLOSED;
    if (ev_type == MARGIN_EV_LIQUIDATION)
        e->liquidations++;
    p->qty = 0;
    p->margin = 0;
    p->liq = 0;
    p->mc_fired = 0;
    ev = trade_event(e, ev_type, pi, price, qty, -margin, c->fee);
    ev->f[MARGIN_EVF_REALIZED_PNL] = c->realized;
    /* after a close there is no liquidation price; a liquidation reports the one it hit */
    ev->f[MARGIN_EVF_LIQ_PRICE] = ev_type == MARGIN_EV_LIQUIDATION ? liq : 0;
    ev->f[MARGIN_EVF_BANKRUPTCY_PRICE] = bp;
    ev->f[MARGIN_EVF_INSURANCE_DELTA] = c->insurance;
    margin__ev_commit(e, ev);
}

void margin__close_apply(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                         int32_t ev_type)
{
    margin__index_remove(e, &e->markets[e->pos[pi].market], pi);
    margin__unlink(e, pi);
    close_books(e, pi, price, c, ev_type);
}

int margin_position_close(margin_engine *e, uint64_t position, int64_t price, uint32_t flags)
{
    margin__position *p = NULL;
    margin__close c;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = flags_ok(e, flags, 0)) != MARGIN_OK)
        return rc;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    margin__prefetch_close(e, p);
    if (price <= 0)
        return margin__fail(e, MARGIN_EINVAL, "price must be > 0");
    if ((rc = check_price_range(e, &e->markets[p->market], "price", price)) != MARGIN_OK)
        return rc;
    if (price % e->markets[p->market].tick != 0)
        return margin__fail(e, MARGIN_EGRID, "price is not a multiple of the market's tick");
    rc = margin__close_compute(e, p, price,
                               (flags & MARGIN_FLAG_MAKER) ? e->markets[p->market].maker
                                                           : e->markets[p->market].taker,
                               0, &c);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "closing amounts overflow");
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    margin__close_apply(e, (uint32_t)(position - 1), price, &c, MARGIN_EV_CLOSE);
    return MARGIN_OK;
}

/* Commit a new state of an open position (same side, still open) and its index keys. */
static void commit_state(margin_engine *e, uint32_t pi, const candidate *c)
{
    margin__position *p = &e->pos[pi];
    margin__market *m = &e->markets[p->market];
    *p = c->p;
    margin__index_set(e, m, pi, c->down, c->up);
}

int margin_position_trade(margin_engine *e, uint64_t position, int32_t side, int64_t qty,
                          int64_t price, uint32_t flags)
{
    margin__position *p = NULL;
    margin__market *m = NULL;
    margin__account *a = NULL;
    candidate c;
    margin__delta d;
    int64_t rate, fee, amount;
    uint32_t pi = (uint32_t)(position - 1);
    int rc;
    margin__event *ev;

    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = flags_ok(e, flags, 0)) != MARGIN_OK)
        return rc;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    if (side != MARGIN_LONG && side != MARGIN_SHORT)
        return margin__fail(e, MARGIN_EINVAL, "side must be MARGIN_LONG or MARGIN_SHORT");
    if (qty <= 0 || price <= 0)
        return margin__fail(e, MARGIN_EINVAL, "quantity and price must be > 0");
    m = &e->markets[p->market];
    a = &e->accounts[p->account];
    if ((rc = check_grid(e, m, qty, price)) != MARGIN_OK)
        return rc;
    rate = (flags & MARGIN_FLAG_MAKER) ? m->maker : m->taker;
    if ((rc = fee_of(m, qty, price, rate, &fee)) != MARGIN_OK)
        return margin__fail(e, rc, "fee overflows");

    if (side == p->side) {
        /* increase: weighted average entry, margin for the added part */
        int64_t nq, add, need;
        margin__i128 tot, ne;
        if (__builtin_add_overflow(p->qty, qty, &nq))
            return margin__fail(e, MARGIN_EOVERFLOW, "position size overflows");
        tot = (margin__i128)p->qty * p->entry + (margin__i128)qty * price;
        if ((rc = margin__div128(tot, nq, RUP(p->side), &ne)) != MARGIN_OK ||
            (rc = margin__narrow(ne, &amount)) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "entry price overflows");
        if ((rc = check_leverage(e, m, nq, (int64_t)ne, p->leverage)) != MARGIN_OK)
            return rc;
        if ((rc = initial_margin(m, qty, price, p->leverage, &add)) != MARGIN_OK)
            return margin__fail(e, rc, "margin overflows");
        if (__builtin_add_overflow(add, fee, &need) || need > a->free)
            return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover margin plus fee");
        c.p = *p;
        c.p.qty = nq;
        c.p.entry = (int64_t)ne;
        if (__builtin_add_overflow(p->margin, add, &c.p.margin))
            return margin__fail(e, MARGIN_EOVERFLOW, "margin overflows");
        c.p.fees += fee;
        if ((rc = candidate_eval(e, m, &c)) != MARGIN_OK)
            return rc;
        d = delta_of(-need, add, 0, fee, 0);
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
        if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
            return rc;
        margin__ledger_apply(e, p->account, &d);
        commit_state(e, pi, &c);
        margin__ev_commit(e, trade_event(e, MARGIN_EV_INCREASE, pi, price, qty, add, fee));
        return MARGIN_OK;
    }

    if (qty < p->qty) {
        /* reduce: realize PnL on the part, release margin pro rata */
        int64_t pnl, released, out, nm, realized, ins = 0;
        margin__i128 r;
        if ((rc = margin__pnl(m, p->side, qty, p->entry, price, &pnl)) != MARGIN_OK)
            return margin__fail(e, rc, "PnL overflows");
        if ((rc = margin__div128((margin__i128)p->margin * qty, p->qty, MARGIN_ROUND_FLOOR, &r)) !=
            MARGIN_OK)
            return margin__fail(e, rc, "margin overflows");
        released = (int64_t)r;
        nm = p->margin - released;
        realized = pnl;
        if (__builtin_add_overflow(released, pnl, &out))
            return margin__fail(e, MARGIN_EOVERFLOW, "amounts overflow");
        if (out < 0) {
            /* the loss beyond the released share comes out of the remaining margin */
            nm += out;
            out = 0;
            if (nm < 0) {
                ins = nm; /* never more than the margin: the fund takes the rest */
                realized -= nm;
                nm = 0;
            }
        }
        if ((margin__i128)a->free + out < fee)
            return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover the fee");
        c.p = *p;
        c.p.qty = p->qty - qty;
        c.p.margin = nm;
        c.p.realized += realized;
        c.p.fees += fee;
        if ((rc = candidate_eval(e, m, &c)) != MARGIN_OK)
            return rc;
        d = delta_of(out - fee, nm - p->margin, realized, fee, ins);
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
        if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
            return rc;
        margin__ledger_apply(e, p->account, &d);
        amount = nm - p->margin;
        commit_state(e, pi, &c);
        ev = trade_event(e, MARGIN_EV_REDUCE, pi, price, qty, amount, fee);
        ev->f[MARGIN_EVF_REALIZED_PNL] = realized;
        ev->f[MARGIN_EVF_INSURANCE_DELTA] = ins;
        margin__ev_commit(e, ev);
        return MARGIN_OK;
    }

    if (qty == p->qty)
        return margin_position_close(e, position, price, flags);

    /* flip: close everything, reopen the rest on the other side at the same leverage */
    {
        margin__close cl;
        int64_t rest = qty - p->qty, im, fee_close, fee_open, need;
        margin__i128 free_after;
        if ((rc = margin__close_compute(e, p, price, rate, 0, &cl)) != MARGIN_OK)
            return margin__fail(e, rc, "closing amounts overflow");
        fee_close = cl.fee;
        if ((rc = check_leverage(e, m, rest, price, p->leverage)) != MARGIN_OK)
            return rc;
        if ((rc = initial_margin(m, rest, price, p->leverage, &im)) != MARGIN_OK ||
            (rc = fee_of(m, rest, price, rate, &fee_open)) != MARGIN_OK)
            return margin__fail(e, rc, "margin overflows");
        /* in 128 bits: the net fits (close_compute checked it), the sum on the way may not */
        free_after = (margin__i128)a->free + cl.ret - fee_close;
        if (__builtin_add_overflow(im, fee_open, &need) || need > free_after)
            return margin__fail(e, MARGIN_EFUNDS,
                                "free balance does not cover the reopened side's margin plus fee");
        c.p = *p;
        c.p.side = (int8_t)side;
        c.p.qty = rest;
        c.p.entry = price;
        c.p.margin = im;
        c.p.mc_fired = 0;
        c.p.realized += cl.realized;
        c.p.fees += fee_close + fee_open;
        if ((rc = candidate_eval(e, m, &c)) != MARGIN_OK)
            return rc;
        if (liquidatable(&c.p, current_mark(m, &c.p)))
            return margin__fail(e, MARGIN_EMARGIN,
                                "the reopened side would be liquidated at once at the current mark");
        d = delta_of(cl.ret - fee_close - need, im - p->margin, cl.realized, fee_close + fee_open,
                     cl.insurance);
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
        d = delta_of(-need, im, 0, fee_open, 0); /* the reopening, after the close's books */
        if ((rc = margin__ev_reserve(e, 2)) != MARGIN_OK)
            return rc;
        /* close the old side's books, then reopen under the same id, keeping the
         * position's place in the id-ordered lists and its index slots */
        close_books(e, pi, price, &cl, MARGIN_EV_CLOSE);
        c.p.status = MARGIN_STATUS_OPEN;
        c.p.down_slot = p->down_slot;
        c.p.up_slot = p->up_slot;
        c.p.mprev = p->mprev;
        c.p.mnext = p->mnext;
        c.p.aprev = p->aprev;
        c.p.anext = p->anext;
        *p = c.p;
        margin__ledger_apply(e, p->account, &d);
        margin__index_set(e, m, pi, c.down, c.up);
        margin__ev_commit(e, trade_event(e, MARGIN_EV_OPEN, pi, price, rest, im, fee_open));
        return MARGIN_OK;
    }
}

/* Change the margin of an open position by delta (free balance pays or receives it). */
static int change_margin(margin_engine *e, uint32_t pi, int64_t delta, int64_t new_lev,
                         int32_t ev_type)
{
    margin__position *p = &e->pos[pi];
    margin__market *m = &e->markets[p->market];
    candidate c;
    margin__delta d;
    margin__event *ev;
    int rc;
    c.p = *p;
    if (__builtin_add_overflow(p->margin, delta, &c.p.margin))
        return margin__fail(e, MARGIN_EOVERFLOW, "margin overflows");
    if (c.p.margin <= 0)
        return margin__fail(e, MARGIN_EMARGIN, "a position's margin must stay above zero");
    c.p.leverage = new_lev;
    if ((rc = candidate_eval(e, m, &c)) != MARGIN_OK)
        return rc;
    d = delta_of(-delta, delta, 0, 0, 0);
    if (margin__ledger_check(e, p, 0, &d) != MARGIN_OK)
        return margin__fail(e, MARGIN_EOVERFLOW, "the free balance would overflow");
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    margin__ledger_apply(e, p->account, &d);
    commit_state(e, pi, &c);
    ev = margin__ev_position(e, ev_type, pi);
    ev->f[MARGIN_EVF_AMOUNT] = delta;
    margin__ev_commit(e, ev);
    return MARGIN_OK;
}

int margin_position_add_margin(margin_engine *e, uint64_t position, int64_t amount)
{
    margin__position *p = NULL;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    if (amount <= 0)
        return margin__fail(e, MARGIN_EINVAL, "amount must be > 0");
    if (amount > e->accounts[p->account].free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover the amount");
    return change_margin(e, (uint32_t)(position - 1), amount, p->leverage, MARGIN_EV_MARGIN_ADD);
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
    if ((rc = qp_w(m, p->qty, p->entry, &qe)) != MARGIN_OK)
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
static int removable(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out)
{
    int64_t mm, pnl, im, mmin;
    margin__i128 x, y;
    int rc;
    if ((rc = margin__mm_at(m, p, price, &mm, NULL, NULL)) != MARGIN_OK ||
        (rc = margin_floor(m, p, mm, &mmin)) != MARGIN_OK ||
        (rc = margin__pnl(m, p->side, p->qty, p->entry, price, &pnl)) != MARGIN_OK ||
        (rc = initial_margin(m, p->qty, price, p->leverage, &im)) != MARGIN_OK)
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

int margin_position_remove_margin(margin_engine *e, uint64_t position, int64_t amount)
{
    margin__position *p = NULL;
    int64_t rem;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    if (amount <= 0)
        return margin__fail(e, MARGIN_EINVAL, "amount must be > 0");
    if ((rc = removable(&e->markets[p->market], p, current_mark(&e->markets[p->market], p), &rem)) !=
        MARGIN_OK)
        return margin__fail(e, rc, "removable margin overflows");
    if (amount > rem) {
        char b1[48], b2[48];
        return margin__fail(e, MARGIN_EMARGIN, "at most %s of margin is removable, not %s",
                            margin__fmt(b1, sizeof b1, rem, MARGIN_MONEY_SCALE),
                            margin__fmt(b2, sizeof b2, amount, MARGIN_MONEY_SCALE));
    }
    return change_margin(e, (uint32_t)(position - 1), -amount, p->leverage,
                         MARGIN_EV_MARGIN_REMOVE);
}

int margin_position_set_leverage(margin_engine *e, uint64_t position, int64_t leverage)
{
    margin__position *p = NULL;
    margin__market *m = NULL;
    int64_t im_old, im_new, delta;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    if (leverage <= 0)
        return margin__fail(e, MARGIN_EINVAL, "leverage must be > 0");
    m = &e->markets[p->market];
    if ((rc = check_leverage(e, m, p->qty, p->entry, leverage)) != MARGIN_OK)
        return rc;
    if ((rc = initial_margin(m, p->qty, p->entry, p->leverage, &im_old)) != MARGIN_OK ||
        (rc = initial_margin(m, p->qty, p->entry, leverage, &im_new)) != MARGIN_OK)
        return margin__fail(e, rc, "initial margin overflows");
    delta = im_new - im_old;
    if (delta > 0 && delta > e->accounts[p->account].free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover the extra margin");
    if (delta < 0) {
        margin__position t = *p;
        int64_t mark = current_mark(m, p), mm, b;
        t.margin += delta;
        if (t.margin <= 0)
            return margin__fail(e, MARGIN_EMARGIN, "the margin would not cover the position");
        if ((rc = margin__mm_at(m, &t, mark, &mm, NULL, NULL)) != MARGIN_OK ||
            (rc = margin__balance_at(m, &t, mark, &b)) != MARGIN_OK)
            return margin__fail(e, rc, "maintenance margin overflows");
        if (b <= mm)
            return margin__fail(e, MARGIN_EMARGIN,
                                "the margin left would not cover the maintenance margin");
    }
    return change_margin(e, (uint32_t)(position - 1), delta, leverage, MARGIN_EV_LEVERAGE);
}

int margin_position_set_stops(margin_engine *e, uint64_t position, int64_t stop_loss,
                              int64_t take_profit)
{
    margin__position *p = NULL;
    candidate c;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    if (stop_loss < 0 || take_profit < 0)
        return margin__fail(e, MARGIN_EINVAL, "stop and take-profit prices must be >= 0");
    if ((rc = check_price_range(e, &e->markets[p->market], "stop-loss", stop_loss)) !=
            MARGIN_OK ||
        (rc = check_price_range(e, &e->markets[p->market], "take-profit", take_profit)) !=
            MARGIN_OK)
        return rc;
    c.p = *p;
    c.p.stop = stop_loss;
    c.p.take = take_profit;
    if ((rc = candidate_eval(e, &e->markets[p->market], &c)) != MARGIN_OK)
        return rc;
    commit_state(e, (uint32_t)(position - 1), &c);
    return MARGIN_OK;
}

int margin_position_get(const margin_engine *e, uint64_t position, int32_t key, int64_t *out)
{
    margin__position *p = NULL;
    int rc;
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if ((rc = margin__get_position(e, position, &p)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_POS_ACCOUNT:
        v = (int64_t)p->account + 1;
        break;
    case MARGIN_POS_MARKET:
        v = (int64_t)p->market + 1;
        break;
    case MARGIN_POS_SIDE:
        v = p->side;
        break;
    case MARGIN_POS_QTY:
        v = p->qty;
        break;
    case MARGIN_POS_ENTRY_PRICE:
        v = p->entry;
        break;
    case MARGIN_POS_MARGIN:
        v = p->margin;
        break;
    case MARGIN_POS_LEVERAGE:
        v = p->leverage;
        break;
    case MARGIN_POS_STATUS:
        v = p->status;
        break;
    case MARGIN_POS_REALIZED_PNL:
        v = p->realized;
        break;
    case MARGIN_POS_FEES:
        v = p->fees;
        break;
    case MARGIN_POS_FUNDING:
        v = p->funding;
        break;
    case MARGIN_POS_STOP_LOSS:
        v = p->stop;
        break;
    case MARGIN_POS_TAKE_PROFIT:
        v = p->take;
        break;
    case MARGIN_POS_LIQ_PRICE:
        v = p->liq;
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown position key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

int margin_position_at(const margin_engine *e, uint64_t position, int32_t key, int64_t mark,
                       int64_t *out)
{
    margin__position *p = NULL;
    const margin__market *m;
    int64_t v = 0, t1, t2;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if (mark < 0)
        return margin__fail(e, MARGIN_EINVAL, "mark must be > 0 (or 0 for the last mark)");
    if ((rc = open_pos(e, position, &p)) != MARGIN_OK)
        return rc;
    m = &e->markets[p->market];
    if (mark == 0)
        mark = current_mark(m, p);
    switch (key) {
    case MARGIN_AT_NOTIONAL:
        rc = margin__notional(m, p->qty, mark, MARGIN_ROUND_CEIL, &v);
        break;
    case MARGIN_AT_UNREALIZED_PNL:
        rc = margin__pnl(m, p->side, p->qty, p->entry, mark, &v);
        break;
    case MARGIN_AT_MARGIN_BALANCE:
        rc = margin__balance_at(m, p, mark, &v);
        break;
    case MARGIN_AT_MAINT_MARGIN:
        rc = margin__mm_at(m, p, mark, &v, NULL, NULL);
        break;
    case MARGIN_AT_MAINT_RATE:
        rc = margin__mm_at(m, p, mark, &t1, &v, &t2);
        break;
    case MARGIN_AT_MAINT_AMOUNT:
        rc = margin__mm_at(m, p, mark, &t1, &t2, &v);
        break;
    case MARGIN_AT_MARGIN_RATIO:
        rc = margin__ratio_at(m, p, mark, &v);
        break;
    case MARGIN_AT_LIQ_PRICE:
        rc = margin__threshold(m, p->side, p->qty, p->entry, p->margin, ONE, &v);
        break;
    case MARGIN_AT_BANKRUPTCY_PRICE:
        rc = margin__bankruptcy(m, p, &v);
        break;
    case MARGIN_AT_INITIAL_MARGIN:
        rc = initial_margin(m, p->qty, p->entry, p->leverage, &v);
        break;
    case MARGIN_AT_ROE:
        rc = margin__pnl(m, p->side, p->qty, p->entry, mark, &t1);
        if (rc == MARGIN_OK)
            rc = initial_margin(m, p->qty, p->entry, p->leverage, &t2);
        if (rc == MARGIN_OK)
            rc = frac64(t1, 0, t2, 0, MARGIN_RATE_SCALE, MARGIN_ROUND_FLOOR, &v);
        break;
    case MARGIN_AT_REMOVABLE_MARGIN:
        rc = removable(m, p, mark, &v);
        break;
    case MARGIN_AT_MARGIN_CALL_PRICE:
        rc = e->nlevels == 0 ? MARGIN_OK
                             : margin__threshold(m, p->side, p->qty, p->entry, p->margin,
                                                 e->levels[0], &v);
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown position key %d", (int)key);
    }
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "the figure does not fit in 64 bits");
    *out = v;
    return MARGIN_OK;
}
