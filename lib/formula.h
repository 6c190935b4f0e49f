/* The formulas of one position (formula.c): pure functions of a market's parameters and a
 * position's figures, with no engine state. Each returns MARGIN_OK or a status
 * (MARGIN_EOVERFLOW when a figure does not fit); rounding is always against the holder
 * and is stated beside each function. Not installed. */
#ifndef MARGIN_LIB_FORMULA_H
#define MARGIN_LIB_FORMULA_H

#include "types.h"

/* (num / 10^ns_num) / (den / 10^ns_den) at scale rs, rounded, narrowed to 64 bits */
int margin__frac64(margin__i128 num, int ns_num, margin__i128 den, int ns_den, int rs,
                   int rounding, int64_t *out);
/* n * rate / 10^ns rounded: notional n (scale ns) times a rate (scale 8) in money */
int margin__rate_of(margin__i128 n, int ns, int64_t rate, int rounding, int64_t *out);
/* Q*P at the market's working scale w */
int margin__qp_w(const margin__market *m, int64_t q, int64_t p, margin__i128 *out);

/* tiers: the tier holding notional n_w (scale w); every tier's floor at scale w */
int margin__tier_at(const margin__market *m, margin__i128 n_w);
void margin__tier_scale(margin__market *m);
int64_t margin__tier_max_lev(const margin__market *m, int k);

/* Q*P in money, rounded as asked */
int margin__notional(const margin__market *m, int64_t qty, int64_t price, int rounding,
                     int64_t *out);
/* s*Q*(price - entry), money, rounded down */
int margin__pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                int64_t *out);
/* Q*P/L, money, rounded up */
int margin__initial_margin(const margin__market *m, int64_t qty, int64_t price, int64_t lev,
                           int64_t *out);
/* rate*Q*P, money, rounded up */
int margin__fee_of(const margin__market *m, int64_t qty, int64_t price, int64_t rate,
                   int64_t *out);

/* Q/P / M at scale 8 (leverage of a margin), rounded up */
int margin__leverage_of(const margin__market *m, int64_t qty, int64_t price, int64_t margin,
                        int64_t *out);
/* the tier holding the value of qty at price */
int margin__tier_for(const margin__market *m, int64_t qty, int64_t price, int *out);
/* the entry after adding q2 at e2 to q1 at e1 (weighted or harmonic mean), long rounded
 * up, short down */
int margin__avg_entry(const margin__market *m, int side, int64_t q1, int64_t e1, int64_t q2,
                      int64_t e2, int64_t *out);
/* funding to the holder, -s * value * rate, money, rounded down */
int margin__funding_flow(const margin__market *m, int side, int64_t qty, int64_t mark,
                         int64_t rate, int64_t *out);

/* Price at which MM = level * balance (level at scale 8; 1.0: the liquidation price),
 * long rounded up, short down; 0 for a long when <= 0 */
int margin__threshold(const margin__market *m, int side, int64_t qty, int64_t entry,
                      int64_t margin, int64_t level, int64_t *out);
/* margin__threshold() at n levels (out[i] at levels[i]): what they share computed once */
int margin__thresholds(const margin__market *m, int side, int64_t qty, int64_t entry,
                       int64_t margin, const int64_t *levels, uint32_t n, int64_t *out);
/* E - s*M/Q, long rounded up, short down; 0 for a long when <= 0 */
int margin__bankruptcy(const margin__market *m, const margin__position *p, int64_t *out);
/* maintenance margin at price (money, rounded up, never negative), its tier's rate and
 * amount (either pointer may be NULL) */
int margin__mm_at(const margin__market *m, const margin__position *p, int64_t price,
                  int64_t *mm, int64_t *rate, int64_t *cum);
/* M + PnL at price */
int margin__balance_at(const margin__market *m, const margin__position *p, int64_t price,
                       int64_t *out);
/* MM / balance at price, rounded up; INT64_MAX when the balance is <= 0 or it exceeds it */
int margin__ratio_at(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out);
/* removable margin at price, money, rounded down, at most M minus one unit */
int margin__removable(const margin__market *m, const margin__position *p, int64_t price,
                      int64_t *out);

/* Does the position fit the market's price range (1 to the maximum price)? Does a
 * short's bankruptcy price fit in 64 bits? 1 or 0. */
int margin__fits_price_range(const margin__market *m, const margin__position *p);
int margin__short_bp_fits(const margin__market *m, const margin__position *p);

/* ---- inverse contracts (inverse.c): what the functions above call for an inverse
 * market; same units, statuses and rounding ---- */
int margin__inv_value(const margin__market *m, int64_t qty, int64_t price, int rounding,
                      int64_t *out);
int margin__inv_tier(const margin__market *m, int64_t qty, int64_t price);
int margin__inv_pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                    int64_t *out);
int margin__inv_initial(const margin__market *m, int64_t qty, int64_t price, int64_t lev,
                        int64_t *out);
int margin__inv_rate_of(const margin__market *m, int64_t qty, int64_t price, int64_t rate,
                        int rounding, int64_t *out);
int margin__inv_mm_at(const margin__market *m, const margin__position *p, int64_t price,
                      int64_t *mm, int *tier);
int margin__inv_bankruptcy(const margin__market *m, int side, int64_t qty, int64_t entry,
                           int64_t margin, int64_t *out);
int margin__inv_thresholds(const margin__market *m, int side, int64_t qty, int64_t entry,
                           int64_t margin, const int64_t *levels, uint32_t n, int64_t *out);
int margin__inv_margin_floor(const margin__market *m, const margin__position *p, int64_t *out);
int margin__inv_avg_entry(int side, int64_t q1, int64_t e1, int64_t q2, int64_t e2,
                          int64_t *out);
int margin__inv_fits(const margin__market *m, const margin__position *p);
/* the cross-book functions below on an inverse market (inverse.c) */
int margin__inv_cross_mm(const margin__market *m, const margin__leg *l, int64_t price,
                         int64_t *out);
int margin__inv_cross_solve(const margin__market *m, const margin__leg *legs, int n,
                            margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                            int64_t start, int dir, int64_t *out);
void margin__inv_cross_band(const margin__market *m, const margin__leg *legs, int n, int64_t p0,
                            const margin__cond *conds, int nc, int64_t *down, int64_t *up);

/* ---- cross books (several legs, other markets folded into constants) ---- */

/* Maintenance margin of one cross leg at price, money, rounded up, >= 0: mark basis as
 * margin__mm_at; entry basis max(0, Q*E*mmr - cum) + f*Q*P (each term rounded up). */
int margin__cross_mm(const margin__market *m, const margin__leg *l, int64_t price,
                     int64_t *out);
/* The first price, walking from `start` down (dir < 0) or up (dir > 0), at which
 * h(P) = level*(k + uPnL(P)) - mmo - MM(P) <= 0, for the legs of one market (k: money
 * outside them, e.g. wallet + other markets' uPnL; mmo: other markets' maintenance; MM
 * and mmo left out when with_mm is 0). The root is rounded against the holder (down: up,
 * up: down); when h(start) <= 0 already, the root the other way (where h turns
 * positive again); 0 when there is none. */
int margin__cross_solve(const margin__market *m, const margin__leg *legs, int n,
                        margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                        int64_t start, int dir, int64_t *out);
/* The walk margin__cross_solve() does, over pieces a book supplies: piece() gives the sign
 * of h at P and the piece [lo, hi] holding it; root() then says whether h rises with P
 * (rising = 1) or falls with it (rising = 0) on that piece, and its zero there, rounded up
 * when rising, down when falling (inverse.c walks its books in 1/P with it). */
typedef struct margin__walk {
    int (*piece)(struct margin__walk *w, int64_t P, int *sign, int64_t *lo, int64_t *hi);
    int (*root)(struct margin__walk *w, int rising, int *has, margin__i128 *x);
    /* the book: margin__cross_solve()'s arguments */
    const margin__market *m;
    const margin__leg *legs;
    int n, with_mm;
    margin__i128 k, mmo;
    int64_t level;
} margin__walk;
/* margin__cross_solve()'s search on w, whose piece and root are set, for its arguments */
int margin__walk_book(margin__walk *w, const margin__market *m, const margin__leg *legs, int n,
                      margin__i128 k, margin__i128 mmo, int64_t level, int with_mm,
                      int64_t start, int dir, int64_t *out);
/* Trigger keys of a market's legs around the mark p0 (fires when mark <= *down or mark >=
 * *up): within them no condition can change, each moving h by less than its budget
 * (slopes bounded by p0's tiers; above p0 the band ends at the legs' next tier
 * boundary, below p0 at the tier boundary too unless m->mm_convex). Never fails:
 * when a bound does not fit, the band is empty (both keys fire on any mark). */
void margin__cross_band(const margin__market *m, const margin__leg *legs, int n, int64_t p0,
                        const margin__cond *conds, int nc, int64_t *down, int64_t *up);

#endif
