/* What happens when an isolated position's liquidation trigger fires (issue 13): how much
 * is liquidated (the market's policy: full, min-reduce, tier-down, slices), at what price
 * (the mark, the liquidation price, or the bankruptcy price with the insurance fund taking
 * the position over), with what clearance fee, and the money that moves. Decided without
 * side effects (margin__liq_decide), staged and applied by the trigger evaluation
 * (trigger.c) like any other outcome.
 *
 * Money of a liquidation of quantity q at fill price F (R_X = the holder's margin balance
 * of the liquidated part at price X: its share of the margin plus its PnL at X):
 *  - in full: fee = min(f_liq * q * B, max(R_F, 0)), B the fee basis price (F or the
 *    mark), rounded up; the holder keeps K = max(R_F, 0) - fee when the fill is at the
 *    liquidation price, else nothing (K = 0: the whole margin is lost, as in 0.1.0); its
 *    realized PnL is K + fee - M, so that it loses M - K in all, never more than M; the
 *    insurance fund receives R_ref - K, R_ref = R_F at the liquidation price and R_mark
 *    otherwise (for the bankruptcy fill, the difference between the mark and the
 *    bankruptcy price: R_mark = s*Q*(mark - BP) + the rounding of BP). Money is conserved:
 *    the holder's loss M - K plus the market's PnL equals what the fund receives.
 *  - in part (q < Q): the part's PnL at F and the fee come out of the position's margin,
 *    which keeps the released share (Binance's and Bybit's rule): M' = M + PnL_q - fee; the
 *    free balance does not move; the fund receives the fee. F is the liquidation price
 *    when the market fills there, else the mark (a takeover at the bankruptcy price is
 *    always the last, full step).
 *
 * Cross books (cross.c) use the same policies on their legs, judged on the whole book
 * through a predicate (margin__liq_ok): tier-down and slices share the code below;
 * min-reduce searches the smallest step by bisection (margin__liq_min_search), since the
 * closed form holds for one position only. */
#include <string.h>

#include "engine.h"
#include "wide.h"

#define RUP(side) ((side) > 0 ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR)

/* q rounded up to a multiple of the step (q > 0, fits: q <= Q) */
static int64_t step_up(int64_t q, int64_t step)
{
    int64_t r = q % step;
    return r == 0 ? q : q + (step - r);
}

/* Is the remainder of p after selling q at `fill` with fee `fee` (margin M') still
 * liquidatable at `mark`? 1 yes (or it does not fit: treated as liquidatable), 0 no. */
static int remainder_liquidatable(const margin__market *m, const margin__position *p,
                                  int64_t q, int64_t margin_after, int64_t mark)
{
    margin__position r = *p;
    int64_t liq;
    r.qty = p->qty - q;
    r.margin = margin_after;
    if (margin_after < 0 || !margin__fits_price_range(m, &r) ||
        margin__threshold(m, r.side, r.qty, r.entry, r.margin, MARGIN__ONE, &liq) != MARGIN_OK)
        return 1;
    return r.side > 0 ? (liq > 0 && mark <= liq) : mark >= liq;
}

/* The clearance fee of q at price `fill` (or the mark, by the market's basis), rounded up. */
int margin__liq_fee(const margin__market *m, int64_t q, int64_t fill, int64_t mark,
                         int64_t *out)
{
    int64_t basis = m->liq_fee_basis == MARGIN_LIQ_FEE_BASIS_MARK ? mark : fill;
    if (m->liq_fee == 0) {
        *out = 0;
        return MARGIN_OK;
    }
    return margin__fee_of(m, q, basis, m->liq_fee, out);
}

/* The money of selling q < Q at fill: M' = M + PnL - fee. MARGIN_ERANGE when M' < 0 (the
 * part cannot be sold on its own: the position goes in full). */
static int partial_money(const margin__market *m, const margin__position *p, int64_t q,
                         int64_t fill, int64_t mark, margin__liq *out)
{
    int64_t pnl, fee, ma;
    int rc;
    if ((rc = margin__pnl(m, p->side, q, p->entry, fill, &pnl)) != MARGIN_OK ||
        (rc = margin__liq_fee(m, q, fill, mark, &fee)) != MARGIN_OK)
        return rc;
    if (__builtin_add_overflow(p->margin, pnl, &ma) || __builtin_sub_overflow(ma, fee, &ma))
        return MARGIN_EOVERFLOW;
    if (ma < 0)
        return MARGIN_ERANGE;
    out->qty = q;
    out->margin = ma;
    out->c.realized = pnl;
    out->c.fee = fee;
    out->c.insurance = fee;
    out->c.ret = 0;
    return MARGIN_OK;
}

/* min-reduce: the smallest q (a multiple of the step, 0 < q < Q) whose remainder is not
 * liquidatable at the mark; 0 when there is none. The candidate of tier j solves
 * Eq - q*P*f = (Q - q)*P*r_j - cum_j (r_j = mmr_j + the fee to close):
 * q = (Q*P*r_j - cum_j - Eq) / (P*(r_j - f)), walked from the tier of Q*P down to the tier
 * that holds the remainder; the remainder is then checked with the engine's own
 * liquidation price (the authority), stepping up a few steps for rounding. Entry basis:
 * the same walk with E*mmr_j in place of P*r_j. */
static int64_t min_reduce_qty(const margin__market *m, const margin__position *p, int64_t fill,
                              int64_t mark)
{
    margin__i128 qe, eq_w, num, den, q128;
    int64_t eq;
    int k, tries;
    int basis_entry = m->mm_basis == MARGIN_MM_BASIS_ENTRY;
    int64_t f = m->liq_fee, ref = basis_entry ? p->entry : mark;
    if (margin__balance_at(m, p, mark, &eq) != MARGIN_OK ||
        margin__qp_w(m, p->qty, ref, &qe) != MARGIN_OK)
        return 0;
    /* Eq at scale w + 8, like Q*P*r */
    if (__builtin_mul_overflow((margin__i128)eq, margin__pow10_128(m->w), &eq_w))
        return 0;
    for (k = margin__tier_at(m, qe); k >= 0; k--) {
        const margin__tier *t = &m->tiers[k];
        int64_t r = t->mmr + (basis_entry ? 0 : m->close_fee), q, rem;
        margin__i128 a, c, pr, pf, rq;
        if (r <= f && !basis_entry)
            continue; /* selling at this tier's rate cannot help */
        if (margin__mul128(qe, r, &a) != MARGIN_OK ||
            margin__mul128((margin__i128)t->cum, margin__pow10_128(m->w), &c) != MARGIN_OK)
            return 0;
        /* a, c >= 0: a - c fits; minus Eq is checked (scale w + 8, money * 10^w) */
        if (__builtin_sub_overflow(a - c, eq_w, &num))
            return 0;
        /* den = ref*r - mark*f at scale ps + 8, times 10^(w - ns) to match Q's scale */
        pr = (margin__i128)ref * r;
        pf = (margin__i128)mark * f;
        den = pr - pf;
        if (den <= 0)
            continue;
        if (margin__mul128(den, margin__pow10_128(m->w - m->ns), &den) != MARGIN_OK ||
            margin__div128(num, den, MARGIN_ROUND_CEIL, &q128) != MARGIN_OK)
            return 0;
        if (q128 >= p->qty)
            continue;
        q = q128 <= 0 ? m->step : step_up((int64_t)q128, m->step);
        if (q >= p->qty)
            continue;
        /* the remainder's tier: below k means this candidate overshoots; try the next */
        if (margin__qp_w(m, p->qty - q, ref, &rq) != MARGIN_OK)
            return 0;
        rem = margin__tier_at(m, rq);
        if (rem < k && k > 0)
            continue;
        for (tries = 0; tries < 4 && q < p->qty; tries++, q += m->step) {
            margin__liq t2;
            if (partial_money(m, p, q, fill, mark, &t2) == MARGIN_OK &&
                !remainder_liquidatable(m, p, q, t2.margin, mark))
                return q;
        }
        return 0;
    }
    return 0;
}

/* tier-down: reduce to the cap (the next tier's floor) of the highest lower tier for which
 * ok(ctx, q) says the holder is healthy after the sale; 0: none */
int64_t margin__liq_tier_down(const margin__market *m, const margin__position *p, int64_t mark,
                              margin__liq_ok ok, const void *ctx)
{
    margin__i128 n;
    int k;
    /* the tiers hold the notional at the mark (at the entry, on the entry basis) */
    int64_t ref = m->mm_basis == MARGIN_MM_BASIS_ENTRY ? p->entry : mark;
    int inverse = m->contract == MARGIN_CONTRACT_INVERSE;
    if (inverse)
        k = margin__inv_tier(m, p->qty, ref);
    else if (margin__qp_w(m, p->qty, ref, &n) != MARGIN_OK)
        return 0;
    else
        k = margin__tier_at(m, n);
    for (k = k - 1; k >= 0; k--) {
        /* the largest remainder whose notional at the mark is at most floor_(k+1):
         * Q' = floor(floor_(k+1) * 10^(ns - 8) / P) in quantity units, to the step; an
         * inverse market's value Q*C/P: Q' = floor(floor_(k+1) * P * 10^qs / (C * 10^ps)) */
        margin__i128 cap = m->tiers[k + 1].floor, r;
        int64_t keep;
        if (inverse) {
            if (margin__muldiv2(cap, (margin__i128)ref * margin__pow10_128(m->qty_scale), m->csize,
                                margin__pow10_128(m->price_scale), MARGIN_ROUND_FLOOR, &r) !=
                    MARGIN_OK ||
                margin__narrow(r, &keep) != MARGIN_OK)
                continue;
        } else if (margin__frac64(cap, MARGIN_MONEY_SCALE, ref, m->price_scale, m->qty_scale,
                                  MARGIN_ROUND_FLOOR, &keep) != MARGIN_OK) {
            continue;
        }
        keep -= keep % m->step;
        if (keep <= 0 || keep >= p->qty)
            continue;
        if (ok(ctx, p->qty - keep))
            return p->qty - keep;
    }
    return 0;
}

/* min-reduce by search: the smallest multiple of the step q < Q for which ok(ctx, q), when
 * ok holds for the largest one (else 0). Bisection: the holder's health after selling q
 * rises with q (each unit sold releases its maintenance at a rate above the fee rate);
 * where rounding or a fee rate at or above a tier's rate breaks that, the answer is still
 * a q for which ok holds, never one for which it does not. */
int64_t margin__liq_min_search(const margin__market *m, const margin__position *p,
                               margin__liq_ok ok, const void *ctx)
{
    int64_t lo = 0, hi = (p->qty - 1) / m->step; /* in steps: hi*step < Q */
    if (hi < 1 || !ok(ctx, hi * m->step))
        return 0;
    while (hi - lo > 1) { /* ok(hi), and lo == 0 or !ok(lo) */
        int64_t mid = lo + (hi - lo) / 2;
        if (ok(ctx, mid * m->step))
            hi = mid;
        else
            lo = mid;
    }
    return hi * m->step;
}

/* the isolated predicate: the sale's money fits, and the remainder is not liquidatable */
typedef struct {
    const margin__market *m;
    const margin__position *p;
    int64_t fill, mark;
} iso_ctx;

static int iso_ok(const void *ctx, int64_t q)
{
    const iso_ctx *x = ctx;
    margin__liq t2;
    return partial_money(x->m, x->p, q, x->fill, x->mark, &t2) == MARGIN_OK &&
           !remainder_liquidatable(x->m, x->p, q, t2.margin, x->mark);
}

/* slices: a fraction of a position above the threshold, unless the account is in its
 * cooldown or the holder (equity eq, maintenance mm) below the backstop; 0: in full */
int64_t margin__liq_slice(const margin_engine *e, const margin__market *m,
                          const margin__position *p, int64_t mark, margin__i128 eq,
                          margin__i128 mm)
{
    const margin__account *a = &e->accounts[p->account];
    int64_t notional, q, elapsed;
    margin__i128 part;
    /* within the cooldown of the account's last slice (a clock set back counts as within) */
    if (a->last_slice != INT64_MIN && !__builtin_sub_overflow(e->time, a->last_slice, &elapsed) &&
        elapsed < m->slice_cooldown)
        return 0;
    if (margin__notional(m, p->qty, mark, MARGIN_ROUND_FLOOR, &notional) != MARGIN_OK ||
        notional <= m->slice_threshold)
        return 0;
    /* backstop: Eq < backstop * MM (scale 8 both sides times 10^8; |eq|, mm < 2^96) */
    if (eq * MARGIN__ONE < mm * m->slice_backstop)
        return 0;
    part = ((margin__i128)p->qty * m->slice_fraction + MARGIN__ONE - 1) / MARGIN__ONE;
    q = step_up(part > 0 ? (int64_t)part : 1, m->step);
    return q < p->qty ? q : 0;
}

int margin__liq_decide(const margin_engine *e, const margin__market *m,
                       const margin__position *p, int64_t mark, margin__liq *out)
{
    int64_t fill, q = 0, rf, rref, keep, fee, bp = 0;
    int rc;
    memset(out, 0, sizeof *out);
    out->before = p->margin;
    /* a partial step, when the policy finds one */
    if (m->liq_policy != MARGIN_LIQ_POLICY_FULL) {
        int64_t pf = m->liq_fill == MARGIN_LIQ_FILL_LIQ_PRICE && p->liq > 0 ? p->liq : mark;
        iso_ctx x;
        int64_t eq, mm;
        x.m = m;
        x.p = p;
        x.fill = pf;
        x.mark = mark;
        if (m->liq_policy == MARGIN_LIQ_POLICY_MIN_REDUCE)
            /* inverse: by search on the same predicate (the closed form is linear) */
            q = m->contract == MARGIN_CONTRACT_INVERSE ? margin__liq_min_search(m, p, iso_ok, &x)
                                                       : min_reduce_qty(m, p, pf, mark);
        else if (m->liq_policy == MARGIN_LIQ_POLICY_TIER_DOWN)
            q = margin__liq_tier_down(m, p, mark, iso_ok, &x);
        else if (margin__balance_at(m, p, mark, &eq) == MARGIN_OK &&
                 margin__mm_at(m, p, mark, &mm, NULL, NULL) == MARGIN_OK)
            q = margin__liq_slice(e, m, p, mark, eq, mm);
        if (q > 0 && (rc = partial_money(m, p, q, pf, mark, out)) == MARGIN_OK) {
            out->partial = 1;
            out->before = p->margin;
            out->price = pf;
            out->fill = pf == mark ? MARGIN_FILL_MARK : MARGIN_FILL_LIQ_PRICE;
            return MARGIN_OK;
        }
        memset(out, 0, sizeof *out);
        out->before = p->margin;
    }
    /* in full */
    switch (m->liq_fill) {
    case MARGIN_LIQ_FILL_LIQ_PRICE:
        fill = p->liq > 0 ? p->liq : mark;
        out->fill = p->liq > 0 ? MARGIN_FILL_LIQ_PRICE : MARGIN_FILL_MARK;
        break;
    case MARGIN_LIQ_FILL_BANKRUPTCY:
        if ((rc = margin__bankruptcy(m, p, &bp)) != MARGIN_OK)
            return rc;
        fill = bp > 0 ? bp : mark;
        out->fill = bp > 0 ? MARGIN_FILL_BANKRUPTCY : MARGIN_FILL_MARK;
        break;
    default:
        fill = mark;
        out->fill = MARGIN_FILL_MARK;
        break;
    }
    if ((rc = margin__balance_at(m, p, fill, &rf)) != MARGIN_OK)
        return rc;
    if (out->fill == MARGIN_FILL_LIQ_PRICE)
        rref = rf;
    else if ((rc = margin__balance_at(m, p, mark, &rref)) != MARGIN_OK)
        return rc;
    if ((rc = margin__liq_fee(m, p->qty, fill, mark, &fee)) != MARGIN_OK)
        return rc;
    if (fee > (rf > 0 ? rf : 0))
        fee = rf > 0 ? rf : 0; /* never more than the holder has left at the fill */
    keep = out->fill == MARGIN_FILL_LIQ_PRICE && rf > 0 ? rf - fee : 0;
    out->qty = p->qty;
    out->price = fill;
    out->margin = 0;
    out->c.ret = keep + fee;          /* <= max(R_F, 0) <= M + |PnL|: fits */
    out->c.fee = fee;
    out->c.realized = keep + fee - p->margin; /* in [-M, R_F - M] */
    if (__builtin_sub_overflow(rref, keep, &out->c.insurance))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

margin__delta margin__liq_delta(const margin__liq *l)
{
    margin__delta d;
    if (l->partial) {
        d.free = 0;
        d.isolated = l->margin - l->before;
    } else {
        d.free = l->c.ret - l->c.fee;
        d.isolated = -l->before;
    }
    d.realized = l->c.realized;
    d.fees = l->c.fee;
    d.funding = 0;
    d.insurance = l->c.insurance;
    return d;
}
