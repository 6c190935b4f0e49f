/* Positions: open, trade, close, margin and leverage changes, stops, queries. Isolated
 * positions carry their own margin; cross positions draw on their account's cross book
 * (cross.c). The mathematics is in formula.c. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define ONE MARGIN__ONE
#define RUP(side) ((side) > 0 ? MARGIN_ROUND_CEIL : MARGIN_ROUND_FLOOR)

/* A position's figures fit at every mark the market accepts (1 to the maximum price), and
 * so does its bankruptcy price: checked whenever a position's state is set, so that
 * evaluating a mark fails for no position. */
int margin__position_envelope(const margin_engine *e, const margin__market *m,
                              const margin__position *p)
{
    char buf[48];
    if (!margin__fits_price_range(m, p))
        return margin__fail(e, MARGIN_EOVERFLOW,
                            "the position is too large for the market's price range: its "
                            "value or PnL at the maximum price %s would not fit "
                            "(lower MARGIN_MKT_MAX_PRICE, or trade a smaller size)",
                            margin__fmt(buf, sizeof buf, m->max_price, m->price_scale));
    if (!margin__short_bp_fits(m, p))
        return margin__fail(e, MARGIN_EOVERFLOW,
                            "the position's bankruptcy price does not fit in 64 bits");
    return MARGIN_OK;
}

static int check_leverage(const margin_engine *e, const margin__market *m, int64_t qty,
                          int64_t price, int64_t lev)
{
    int k, rc;
    if (lev < ONE)
        return margin__fail(e, MARGIN_ELEVERAGE, "leverage must be at least 1x");
    if (lev > m->max_lev)
        return margin__fail(e, MARGIN_ELEVERAGE, "leverage above the market's maximum");
    if ((rc = margin__tier_for(m, qty, price, &k)) != MARGIN_OK)
        return margin__fail(e, rc, "notional overflows");
    if (lev > margin__tier_max_lev(m, k))
        return margin__fail(e, MARGIN_ELEVERAGE,
                            "leverage above the maximum of the tier holding this notional");
    return MARGIN_OK;
}

/* A fill, stop or take-profit price above the market's maximum is refused (MARGIN_ERANGE). */
static int check_price_range(const margin_engine *e, const margin__market *m, const char *what,
                             int64_t price)
{
    char b1[48], b2[48];
    if (price > 0 && price < m->min_price)
        return margin__fail(e, MARGIN_ERANGE, "%s %s is below the market's minimum price %s",
                            what, margin__fmt(b1, sizeof b1, price, m->price_scale),
                            margin__fmt(b2, sizeof b2, m->min_price, m->price_scale));
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
    if ((flags & MARGIN_FLAG_CROSS) && !allow_cross)
        return margin__fail(e, MARGIN_EINVAL,
                            "MARGIN_FLAG_CROSS applies to opening a position only (a position "
                            "keeps the mode it was opened in)");
    return MARGIN_OK;
}

/* After an operation changed an account's free balance or cross positions: its cross
 * book's trigger keys follow. */
static void touched(margin_engine *e, uint32_t ai)
{
    if (e->accounts[ai].ncross > 0)
        margin__cross_rekey(e, ai);
}

/* Room for one more position in the engine and in market m (call before opening one). */
static int reserve_position(margin_engine *e, margin__market *m)
{
    int rc;
    if ((rc = margin__chunk_reserve(e)) != MARGIN_OK)
        return rc;
    if ((rc = margin__index_reserve(e, m)) != MARGIN_OK)
        return margin__fail(e, rc, "out of memory");
    return margin__ev_reserve(e, 1);
}

static int open_pos(const margin_engine *e, uint64_t id, margin__position **p)
{
    int rc = margin__get_position(e, id, p);
    if (rc != MARGIN_OK)
        return rc;
    if ((*p)->status != MARGIN_STATUS_OPEN)
        return margin__fail(e, MARGIN_ECLOSED, "position %llu is %s", (unsigned long long)id,
                            (*p)->status == MARGIN_STATUS_LIQUIDATED    ? "liquidated"
                            : (*p)->status == MARGIN_STATUS_DELEVERAGED ? "deleveraged"
                                                                        : "closed");
    return MARGIN_OK;
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

/* (with the stop-loss and take-profit given; candidate_eval(): the position's own) */
static int candidate_eval_stops(const margin_engine *e, const margin__market *m, candidate *c,
                                int64_t stop, int64_t take)
{
    int rc = margin__threshold(m, c->p.side, c->p.qty, c->p.entry, c->p.margin, ONE, &c->p.liq);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "liquidation price overflows");
    rc = margin__position_keys(e, m, &c->p, c->p.mc_fired, stop, take, &c->down, &c->up);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "margin-call level prices overflow");
    return margin__position_envelope(e, m, &c->p);
}

static int candidate_eval(const margin_engine *e, const margin__market *m, candidate *c)
{
    return candidate_eval_stops(e, m, c, margin__stop_of(e, &c->p), margin__take_of(e, &c->p));
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

/* Open a cross position: no margin leaves the wallet (only the fee); the initial margin
 * is reserved in the available balance, which must stay >= 0. */
static int open_cross(margin_engine *e, margin__account *a, margin__market *m, int32_t side,
                      int64_t qty, int64_t price, int64_t leverage, int64_t margin,
                      uint32_t flags, uint64_t *out_id)
{
    margin__position np;
    margin__delta d;
    int64_t fee;
    uint32_t ai = (uint32_t)(a - e->accounts), mi = (uint32_t)(m - e->markets), pi;
    int rc;
    if (margin != 0 || leverage == 0)
        return margin__fail(e, MARGIN_EINVAL,
                            "a cross position takes a leverage and no margin (the account's "
                            "wallet is its margin)");
    if ((rc = check_leverage(e, m, qty, price, leverage)) != MARGIN_OK)
        return rc;
    if (margin__cross_legs_in(e, ai, mi) >= MARGIN__MAX_LEGS)
        return margin__fail(e, MARGIN_ESTATE,
                            "an account holds at most %d cross positions in one market",
                            MARGIN__MAX_LEGS);
    if ((rc = margin__fee_of(m, qty, price, (flags & MARGIN_FLAG_MAKER) ? m->maker : m->taker,
                             &fee)) != MARGIN_OK)
        return margin__fail(e, rc, "fee overflows");
    memset(&np, 0, sizeof np);
    np.qty = qty;
    np.entry = price;
    np.leverage = leverage;
    np.side = (int8_t)side;
    np.account = ai;
    np.market = mi;
    np.cross = 1;
    np.fees = fee;
    np.status = MARGIN_STATUS_OPEN;
    np.down_slot = np.up_slot = np.stops = MARGIN__NONE;
    if ((rc = margin__position_envelope(e, m, &np)) != MARGIN_OK ||
        (rc = margin__cross_check(e, ai, &np, MARGIN__NONE, -(margin__i128)fee)) != MARGIN_OK)
        return rc;
    d = delta_of(-fee, 0, 0, fee, 0);
    if (margin__ledger_check(e, &np, 0, &d) != MARGIN_OK)
        return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
    if ((rc = reserve_position(e, m)) != MARGIN_OK)
        return rc;
    pi = e->npos++;
    MARGIN__POS(e, pi) = np;
    margin__ledger_apply(e, ai, np.market, &d);
    margin__link(e, pi);
    margin__cross_rekey(e, ai);
    margin__ev_commit(e, trade_event(e, MARGIN_EV_OPEN, pi, price, qty, 0, fee));
    *out_id = (uint64_t)pi + 1;
    return MARGIN_OK;
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
    if (!(flags & MARGIN_FLAG_CROSS) != !margin__is_cross(a, (uint32_t)(market - 1)))
        return margin__fail(e, MARGIN_ESTATE,
                            (flags & MARGIN_FLAG_CROSS)
                                ? "account %llu is in isolated mode in market %s: set cross "
                                  "mode with margin_account_set_mode() first"
                                : "account %llu is in cross mode in market %s: open with "
                                  "MARGIN_FLAG_CROSS, or set isolated mode first",
                            (unsigned long long)account, m->symbol);
    if (flags & MARGIN_FLAG_CROSS)
        return open_cross(e, a, m, side, qty, price, leverage, margin, flags, out_id);
    /* what linking and indexing will touch: load it while the arithmetic runs */
    if (a->tail != MARGIN__NONE)
        __builtin_prefetch(&MARGIN__POS(e, a->tail), 1);
    if ((e->npos >> MARGIN__CHUNK_BITS) < e->nchunks && e->chunks[e->npos >> MARGIN__CHUNK_BITS])
        __builtin_prefetch(&MARGIN__POS(e, e->npos), 1);
    if (m->down.n > 0)
        __builtin_prefetch(margin__hnode_at(&m->down, (m->down.n - 1) / 4), 1);
    if (m->up.n > 0)
        __builtin_prefetch(margin__hnode_at(&m->up, (m->up.n - 1) / 4), 1);
    if (leverage == 0) {
        if ((rc = margin__leverage_of(m, qty, price, margin, &leverage)) != MARGIN_OK)
            return margin__fail(e, rc, "leverage (position value / margin) overflows");
        if (leverage < ONE)
            return margin__fail(e, MARGIN_ELEVERAGE,
                                "the margin exceeds the position value (leverage below 1x)");
    }
    if ((rc = check_leverage(e, m, qty, price, leverage)) != MARGIN_OK)
        return rc;
    if ((rc = margin__initial_margin(m, qty, price, leverage, &im)) != MARGIN_OK)
        return margin__fail(e, rc, "initial margin overflows");
    if (margin == 0)
        margin = im;
    else if (margin < im)
        return margin__fail(e, MARGIN_EMARGIN, "margin is below the initial margin Q*E/L");
    if ((rc = margin__fee_of(m, qty, price, (flags & MARGIN_FLAG_MAKER) ? m->maker : m->taker,
                     &value_fee)) != MARGIN_OK)
        return margin__fail(e, rc, "fee overflows");
    if (__builtin_add_overflow(margin, value_fee, &need))
        return margin__fail(e, MARGIN_EOVERFLOW, "margin plus fee overflows");
    if (need > a->free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover margin plus fee");
    if ((rc = margin__cross_allows(e, (uint32_t)(account - 1), need)) != MARGIN_OK)
        return rc;

    memset(&c, 0, sizeof c);
    c.p.stops = MARGIN__NONE;
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
    if ((rc = reserve_position(e, m)) != MARGIN_OK)
        return rc;

    pi = e->npos++;
    c.p.status = MARGIN_STATUS_OPEN;
    c.p.fees = value_fee;
    c.p.down_slot = c.p.up_slot = MARGIN__NONE;
    MARGIN__POS(e, pi) = c.p;
    margin__ledger_apply(e, c.p.account, c.p.market, &d);
    margin__link(e, pi);
    margin__index_set(e, m, pi, c.down, c.up);
    touched(e, c.p.account);
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
    if ((rc = margin__fee_of(m, p->qty, price, fee_rate, &fee)) != MARGIN_OK)
        return rc;
    {
        /* a close never fails for its fee: at most the free balance it leaves (in a batch,
         * as the closes decided before it leave it), never below zero */
        margin__i128 room = (margin__i128)margin__staged_free(a) + gross;
        if ((margin__i128)fee > room)
            fee = room > 0 ? (int64_t)room : 0; /* room < fee: fits */
    }
    out->ret = gross;
    out->fee = fee;
    {
        margin__delta d = close_delta(p, out);
        return margin__ledger_check(e, p, 1, &d);
    }
}

/* Start loading everything a close touches (account, list neighbours, the handles of its
 * heap nodes and those of the heaps' last nodes, which fill the holes), so that the cache
 * misses overlap instead of following one another: at a million positions each is a trip
 * to memory. */
void margin__prefetch_close(const margin_engine *e, const margin__position *p)
{
    const margin__market *m = &e->markets[p->market];
    MARGIN__KEEP_PREFETCH();
    __builtin_prefetch(&e->accounts[p->account], 1);
    if (p->mprev != MARGIN__NONE)
        __builtin_prefetch(&MARGIN__POS(e, p->mprev), 1);
    if (p->mnext != MARGIN__NONE)
        __builtin_prefetch(&MARGIN__POS(e, p->mnext), 1);
    if (p->aprev != MARGIN__NONE)
        __builtin_prefetch(&MARGIN__POS(e, p->aprev), 1);
    if (p->anext != MARGIN__NONE)
        __builtin_prefetch(&MARGIN__POS(e, p->anext), 1);
    if (p->down_slot != MARGIN__NONE && m->down.n > 0) {
        __builtin_prefetch(margin__hslot(&m->down, p->down_slot), 1);
        __builtin_prefetch(margin__hslot(&m->down, margin__hnode_at(&m->down, m->down.n - 1)->id),
                           1);
    }
    if (p->up_slot != MARGIN__NONE && m->up.n > 0) {
        __builtin_prefetch(margin__hslot(&m->up, p->up_slot), 1);
        __builtin_prefetch(margin__hslot(&m->up, margin__hnode_at(&m->up, m->up.n - 1)->id), 1);
    }
}

int margin__close_stage(margin_engine *e, uint32_t pi, const margin__close *c)
{
    margin__delta d = close_delta(&MARGIN__POS(e, pi), c);
    return margin__ledger_stage(e, MARGIN__POS(e, pi).account, &d);
}

/* The money side of a close and its event; the position stays linked and indexed. `fill`:
 * the MARGIN_FILL_* of a triggered close (0 for a holder's close). */
static void close_books(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                        int32_t ev_type, int32_t fill)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    margin__event *ev;
    int64_t qty = p->qty, margin = p->margin, liq = p->liq, bp = 0;
    if (ev_type == MARGIN_EV_LIQUIDATION)
        (void)margin__bankruptcy(m, p, &bp); /* computed before: cannot fail here */
    {
        margin__delta d = close_delta(p, c);
        margin__ledger_apply(e, p->account, p->market, &d);
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
    ev->f[MARGIN_EVF_FILL] = fill;
    ev->f[MARGIN_EVF_ADL_COVERED] = c->adl;
    margin__ev_commit(e, ev);
}

void margin__close_apply_fill(margin_engine *e, uint32_t pi, int64_t price,
                              const margin__close *c, int32_t ev_type, int32_t fill)
{
    margin__index_remove(e, &e->markets[MARGIN__POS(e, pi).market], pi);
    margin__unlink(e, pi);
    close_books(e, pi, price, c, ev_type, fill);
}

void margin__close_apply(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                         int32_t ev_type)
{
    margin__close_apply_fill(e, pi, price, c, ev_type,
                             ev_type == MARGIN_EV_CLOSE ? 0 : MARGIN_FILL_MARK);
}

/* A partial liquidation (liquidation.c decided it): the position keeps its side and entry,
 * its quantity and margin shrink, its keys move; the free balance does not change. Needs
 * one reserved event; cannot fail. */
void margin__partial_apply(margin_engine *e, uint32_t pi, const margin__liq *l)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    margin__event *ev;
    int64_t before = p->margin;
    {
        margin__delta d = margin__liq_delta(l);
        margin__ledger_apply(e, p->account, p->market, &d);
    }
    p->qty -= l->qty;
    p->margin = l->margin;
    p->realized += l->c.realized;
    p->fees += l->c.fee;
    if (m->liq_policy == MARGIN_LIQ_POLICY_SLICES)
        e->accounts[p->account].last_slice = e->time;
    (void)margin__reindex(e, pi); /* a smaller position of the same market: fits */
    ev = trade_event(e, MARGIN_EV_PARTIAL_LIQUIDATION, pi, l->price, l->qty,
                     l->margin - before, l->c.fee);
    ev->f[MARGIN_EVF_REALIZED_PNL] = l->c.realized;
    ev->f[MARGIN_EVF_INSURANCE_DELTA] = l->c.insurance;
    ev->f[MARGIN_EVF_FILL] = l->fill;
    margin__ev_commit(e, ev);
}

int margin_position_close(margin_engine *e, uint64_t position, int64_t price, uint32_t flags)
{
    margin__position *p = NULL;
    margin__close c;
    int64_t rate;
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
    rate = (flags & MARGIN_FLAG_MAKER) ? e->markets[p->market].maker : e->markets[p->market].taker;
    if (p->cross)
        rc = margin__cross_fill(e, (uint32_t)(position - 1), p->qty, price, rate, 0, &c);
    else
        rc = margin__close_compute(e, p, price, rate, 0, &c);
    if (rc != MARGIN_OK)
        return margin__fail(e, rc, "closing amounts overflow");
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    margin__close_apply(e, (uint32_t)(position - 1), price, &c, MARGIN_EV_CLOSE);
    touched(e, p->account);
    margin__retire(e);
    return MARGIN_OK;
}

/* Commit a new state of an open position (same side, still open) and its index keys. */
static void commit_state(margin_engine *e, uint32_t pi, const candidate *c)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    *p = c->p;
    margin__index_set(e, m, pi, c->down, c->up);
}

/* A trade on a cross position: the wallet pays fees and receives PnL; an increase or a
 * flip must leave the available balance >= 0. */
static int trade_cross(margin_engine *e, uint32_t pi, int32_t side, int64_t qty, int64_t price,
                       int64_t rate, int64_t fee)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    margin__position np = *p;
    margin__close cl;
    margin__delta d;
    margin__event *ev;
    int rc;
    if (side == p->side) {
        if (__builtin_add_overflow(p->qty, qty, &np.qty))
            return margin__fail(e, MARGIN_EOVERFLOW, "position size overflows");
        if ((rc = margin__avg_entry(m, p->side, p->qty, p->entry, qty, price, &np.entry)) !=
            MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "entry price overflows");
        if ((rc = check_leverage(e, m, np.qty, np.entry, p->leverage)) != MARGIN_OK)
            return rc;
        np.fees += fee;
        d = delta_of(-fee, 0, 0, fee, 0);
        if ((rc = margin__position_envelope(e, m, &np)) != MARGIN_OK ||
            (rc = margin__cross_check(e, p->account, &np, pi, -(margin__i128)fee)) != MARGIN_OK)
            return rc;
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
        if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
            return rc;
        margin__ledger_apply(e, p->account, p->market, &d);
        *p = np;
        touched(e, p->account);
        margin__ev_commit(e, trade_event(e, MARGIN_EV_INCREASE, pi, price, qty, 0, fee));
        return MARGIN_OK;
    }
    if (qty < p->qty) {
        if ((rc = margin__cross_fill(e, pi, qty, price, rate, 1, &cl)) != MARGIN_OK)
            return margin__fail(e, rc, "closing amounts overflow");
        np.qty = p->qty - qty;
        np.realized += cl.realized;
        np.fees += cl.fee;
        d = delta_of(cl.ret - cl.fee, 0, cl.realized, cl.fee, cl.insurance);
        if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
            return rc;
        margin__ledger_apply(e, p->account, p->market, &d);
        *p = np;
        touched(e, p->account);
        ev = trade_event(e, MARGIN_EV_REDUCE, pi, price, qty, 0, cl.fee);
        ev->f[MARGIN_EVF_REALIZED_PNL] = cl.realized;
        ev->f[MARGIN_EVF_INSURANCE_DELTA] = cl.insurance;
        margin__ev_commit(e, ev);
        return MARGIN_OK;
    }
    {
        /* flip: close everything, reopen the rest on the other side */
        int64_t rest = qty - p->qty, fee_open;
        margin__delta d2;
        if ((rc = margin__cross_fill(e, pi, p->qty, price, rate, 1, &cl)) != MARGIN_OK)
            return margin__fail(e, rc, "closing amounts overflow");
        if ((rc = check_leverage(e, m, rest, price, p->leverage)) != MARGIN_OK)
            return rc;
        if ((rc = margin__fee_of(m, rest, price, rate, &fee_open)) != MARGIN_OK)
            return margin__fail(e, rc, "fee overflows");
        np.side = (int8_t)side;
        np.qty = rest;
        np.entry = price;
        np.realized += cl.realized;
        np.fees += cl.fee + fee_open;
        d = delta_of(cl.ret - cl.fee - fee_open, 0, cl.realized, cl.fee + fee_open,
                     cl.insurance);
        d2 = delta_of(-fee_open, 0, 0, fee_open, 0);
        if ((rc = margin__position_envelope(e, m, &np)) != MARGIN_OK ||
            (rc = margin__cross_check(e, p->account, &np, pi,
                                      (margin__i128)cl.ret - cl.fee - fee_open)) != MARGIN_OK)
            return rc;
        if (margin__ledger_check(e, p, 1, &d) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "the account's ledgers would overflow");
        if ((rc = margin__ev_reserve(e, 2)) != MARGIN_OK)
            return rc;
        close_books(e, pi, price, &cl, MARGIN_EV_CLOSE, 0);
        np.status = MARGIN_STATUS_OPEN;
        *p = np; /* same id, lists and index slots */
        margin__ledger_apply(e, p->account, p->market, &d2);
        touched(e, p->account);
        margin__ev_commit(e, trade_event(e, MARGIN_EV_OPEN, pi, price, rest, 0, fee_open));
        return MARGIN_OK;
    }
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
    if ((rc = margin__fee_of(m, qty, price, rate, &fee)) != MARGIN_OK)
        return margin__fail(e, rc, "fee overflows");
    if (p->cross && (side == p->side || qty != p->qty))
        return trade_cross(e, pi, side, qty, price, rate, fee);

    if (side == p->side) {
        /* increase: weighted average entry, margin for the added part */
        int64_t nq, add, need;
        margin__i128 ne;
        if (__builtin_add_overflow(p->qty, qty, &nq))
            return margin__fail(e, MARGIN_EOVERFLOW, "position size overflows");
        if ((rc = margin__avg_entry(m, p->side, p->qty, p->entry, qty, price, &amount)) !=
            MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "entry price overflows");
        ne = amount;
        if ((rc = check_leverage(e, m, nq, (int64_t)ne, p->leverage)) != MARGIN_OK)
            return rc;
        if ((rc = margin__initial_margin(m, qty, price, p->leverage, &add)) != MARGIN_OK)
            return margin__fail(e, rc, "margin overflows");
        if (__builtin_add_overflow(add, fee, &need) || need > a->free)
            return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover margin plus fee");
        if ((rc = margin__cross_allows(e, p->account, need)) != MARGIN_OK)
            return rc;
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
        margin__ledger_apply(e, p->account, p->market, &d);
        commit_state(e, pi, &c);
        touched(e, p->account);
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
        if ((rc = margin__cross_allows(e, p->account, (margin__i128)fee - out)) != MARGIN_OK)
            return rc;
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
        margin__ledger_apply(e, p->account, p->market, &d);
        amount = nm - p->margin;
        commit_state(e, pi, &c);
        touched(e, p->account);
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
        if ((rc = margin__initial_margin(m, rest, price, p->leverage, &im)) != MARGIN_OK ||
            (rc = margin__fee_of(m, rest, price, rate, &fee_open)) != MARGIN_OK)
            return margin__fail(e, rc, "margin overflows");
        /* in 128 bits: the net fits (close_compute checked it), the sum on the way may not */
        free_after = (margin__i128)a->free + cl.ret - fee_close;
        if (__builtin_add_overflow(im, fee_open, &need) || need > free_after)
            return margin__fail(e, MARGIN_EFUNDS,
                                "free balance does not cover the reopened side's margin plus fee");
        if ((rc = margin__cross_allows(e, p->account,
                                       (margin__i128)need + fee_close - cl.ret)) != MARGIN_OK)
            return rc;
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
        close_books(e, pi, price, &cl, MARGIN_EV_CLOSE, 0);
        c.p.status = MARGIN_STATUS_OPEN;
        c.p.down_slot = p->down_slot;
        c.p.up_slot = p->up_slot;
        c.p.mprev = p->mprev;
        c.p.mnext = p->mnext;
        c.p.aprev = p->aprev;
        c.p.anext = p->anext;
        *p = c.p;
        margin__ledger_apply(e, p->account, p->market, &d);
        margin__index_set(e, m, pi, c.down, c.up);
        touched(e, p->account);
        margin__ev_commit(e, trade_event(e, MARGIN_EV_OPEN, pi, price, rest, im, fee_open));
        return MARGIN_OK;
    }
}

/* Change the margin of an open position by delta (free balance pays or receives it). */
static int change_margin(margin_engine *e, uint32_t pi, int64_t delta, int64_t new_lev,
                         int32_t ev_type)
{
    margin__position *p = &MARGIN__POS(e, pi);
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
    margin__ledger_apply(e, p->account, p->market, &d);
    commit_state(e, pi, &c);
    touched(e, p->account);
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
    if (p->cross)
        return margin__fail(e, MARGIN_ESTATE,
                            "position %llu is a cross position: its margin is the account's "
                            "wallet (deposit to the account instead)",
                            (unsigned long long)position);
    if (amount > e->accounts[p->account].free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover the amount");
    if ((rc = margin__cross_allows(e, p->account, amount)) != MARGIN_OK)
        return rc;
    return change_margin(e, (uint32_t)(position - 1), amount, p->leverage, MARGIN_EV_MARGIN_ADD);
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
    if (p->cross)
        return margin__fail(e, MARGIN_ESTATE,
                            "position %llu is a cross position: it has no margin of its own "
                            "(withdraw from the account instead)",
                            (unsigned long long)position);
    if ((rc = margin__removable(&e->markets[p->market], p, current_mark(&e->markets[p->market], p), &rem)) !=
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
    if (p->cross) {
        /* only the initial margin reserved in the available balance changes */
        margin__position np = *p;
        margin__event *ev;
        np.leverage = leverage;
        if (leverage < p->leverage &&
            (rc = margin__cross_check(e, p->account, &np, (uint32_t)(position - 1), 0)) !=
                MARGIN_OK)
            return rc;
        if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
            return rc;
        p->leverage = leverage;
        ev = margin__ev_position(e, MARGIN_EV_LEVERAGE, (uint32_t)(position - 1));
        margin__ev_commit(e, ev);
        return MARGIN_OK;
    }
    if ((rc = margin__initial_margin(m, p->qty, p->entry, p->leverage, &im_old)) != MARGIN_OK ||
        (rc = margin__initial_margin(m, p->qty, p->entry, leverage, &im_new)) != MARGIN_OK)
        return margin__fail(e, rc, "initial margin overflows");
    delta = im_new - im_old;
    if (delta > 0 && delta > e->accounts[p->account].free)
        return margin__fail(e, MARGIN_EFUNDS, "free balance does not cover the extra margin");
    if ((rc = margin__cross_allows(e, p->account, delta)) != MARGIN_OK)
        return rc;
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
    if (p->stops == MARGIN__NONE && (stop_loss != 0 || take_profit != 0) &&
        (rc = margin__stops_reserve(e)) != MARGIN_OK)
        return rc; /* (a position with an entry keeps it: nothing to allocate) */
    if (p->cross) {
        margin__stops_put(e, p, stop_loss, take_profit);
        margin__cross_rekey(e, p->account);
        return MARGIN_OK;
    }
    c.p = *p;
    if ((rc = candidate_eval_stops(e, &e->markets[p->market], &c, stop_loss, take_profit)) !=
        MARGIN_OK)
        return rc;
    commit_state(e, (uint32_t)(position - 1), &c);
    margin__stops_put(e, p, stop_loss, take_profit);
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
        v = margin__stop_of(e, p);
        break;
    case MARGIN_POS_TAKE_PROFIT:
        v = margin__take_of(e, p);
        break;
    case MARGIN_POS_LIQ_PRICE:
        v = p->cross && p->status == MARGIN_STATUS_OPEN ? margin__cross_liq(e, p) : p->liq;
        break;
    case MARGIN_POS_MODE:
        v = p->cross ? MARGIN_MODE_CROSS : MARGIN_MODE_ISOLATED;
        break;
    case MARGIN_POS_ADL_SCORE:
        v = 0;
        if (p->status == MARGIN_STATUS_OPEN) {
            const margin__market *m = &e->markets[p->market];
            v = margin__adl_score(e, p, m->mark ? m->mark : p->entry);
        }
        break;
    case MARGIN_POS_ADL_QUANTILE:
        v = p->status == MARGIN_STATUS_OPEN ? p->adl_q : 0;
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
    if (p->cross && (rc = margin__cross_at(e, p, key, mark, &v)) != MARGIN_ENOTSUP) {
        if (rc != MARGIN_OK)
            return margin__fail(e, rc, "the figure does not fit in 64 bits");
        *out = v;
        return MARGIN_OK;
    }
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
        /* an isolated position keeps it: its trigger, recomputed by every change of its
         * size, entry or margin (margin__reindex) */
        v = p->liq;
        rc = MARGIN_OK;
        break;
    case MARGIN_AT_BANKRUPTCY_PRICE:
        rc = margin__bankruptcy(m, p, &v);
        break;
    case MARGIN_AT_INITIAL_MARGIN:
        rc = margin__initial_margin(m, p->qty, p->entry, p->leverage, &v);
        break;
    case MARGIN_AT_ROE:
        rc = margin__pnl(m, p->side, p->qty, p->entry, mark, &t1);
        if (rc == MARGIN_OK)
            rc = margin__initial_margin(m, p->qty, p->entry, p->leverage, &t2);
        if (rc == MARGIN_OK)
            rc = margin__frac64(t1, 0, t2, 0, MARGIN_RATE_SCALE, MARGIN_ROUND_FLOOR, &v);
        break;
    case MARGIN_AT_REMOVABLE_MARGIN:
        rc = margin__removable(m, p, mark, &v);
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


/* ------------------------------------------------------------------ stops */

/* Room for one more entry: a free one, or one more handed out of the array (doubled when
 * full; MARGIN_ENOMEM leaves everything as it was). */
int margin__stops_reserve(margin_engine *e)
{
    margin__stops *ns;
    uint32_t cap;
    if (e->free_stops != 0 || e->nstops < e->capstops)
        return MARGIN_OK;
    if (e->capstops > UINT32_MAX / 4)
        return margin__fail(e, MARGIN_ENOMEM, "too many positions with a stop or take-profit");
    cap = e->capstops ? e->capstops * 2 : 64;
    if ((ns = margin__realloc(e, e->stops, (size_t)cap * sizeof *ns)) == NULL)
        return margin__fail(e, MARGIN_ENOMEM, "out of memory");
    e->stops = ns;
    e->capstops = cap;
    return MARGIN_OK;
}

void margin__stops_put(margin_engine *e, margin__position *p, int64_t stop, int64_t take)
{
    if (stop == 0 && take == 0) {
        margin__stops_drop(e, p);
        return;
    }
    if (p->stops == MARGIN__NONE) { /* the room reserved */
        if (e->free_stops != 0) {
            p->stops = e->free_stops - 1;
            e->free_stops = (uint32_t)e->stops[p->stops].stop;
        } else {
            p->stops = e->nstops++;
        }
    }
    e->stops[p->stops].stop = stop;
    e->stops[p->stops].take = take;
}

void margin__stops_drop(margin_engine *e, margin__position *p)
{
    if (p->stops == MARGIN__NONE)
        return;
    e->stops[p->stops].stop = e->free_stops;
    e->stops[p->stops].take = 0;
    e->free_stops = p->stops + 1;
    p->stops = MARGIN__NONE;
}

/* ------------------------------------------------------------------ position lists */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void margin__link_market(margin_engine *e, uint32_t pi)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    /* market list, kept in id order (positions are created in id order) */
    p->mnext = MARGIN__NONE;
    p->mprev = m->tail;
    if (m->tail != MARGIN__NONE)
        MARGIN__POS(e, m->tail).mnext = pi;
    else
        m->head = pi;
    m->tail = pi;
    m->open_count++;
    m->used = 1;
    e->open_positions++;
}

void margin__link(margin_engine *e, uint32_t pi)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__account *a = &e->accounts[p->account];
    margin__link_market(e, pi);
    p->anext = MARGIN__NONE;
    p->aprev = a->tail;
    if (a->tail != MARGIN__NONE)
        MARGIN__POS(e, a->tail).anext = pi;
    else
        a->head = pi;
    a->tail = pi;
    a->open_count++;
    a->ncross += p->cross;
}

void margin__unlink(margin_engine *e, uint32_t pi)
{
    margin__position *p = &MARGIN__POS(e, pi);
    margin__market *m = &e->markets[p->market];
    margin__account *a = &e->accounts[p->account];
    if (p->mprev != MARGIN__NONE)
        MARGIN__POS(e, p->mprev).mnext = p->mnext;
    else
        m->head = p->mnext;
    if (p->mnext != MARGIN__NONE)
        MARGIN__POS(e, p->mnext).mprev = p->mprev;
    else
        m->tail = p->mprev;
    if (p->aprev != MARGIN__NONE)
        MARGIN__POS(e, p->aprev).anext = p->anext;
    else
        a->head = p->anext;
    if (p->anext != MARGIN__NONE)
        MARGIN__POS(e, p->anext).aprev = p->aprev;
    else
        a->tail = p->aprev;
    p->mprev = p->mnext = p->aprev = p->anext = MARGIN__NONE;
    m->open_count--;
    a->open_count--;
    a->ncross -= p->cross;
    p->adl_q = 0; /* (a quantile is an open position's) */
    e->open_positions--;
    margin__chunk_closed(e, pi);
}

/* ------------------------------------------------------------------ listing */

/* The ids of the positions of one account (account != 0) or one market (market != 0), or
 * of every position, with a status (or any), in id order. Open positions are walked on
 * their lists (O(result)); other statuses scan every position (O(positions ever opened)). */
static int list_positions(const margin_engine *e, uint64_t account, uint64_t market,
                          int32_t status, uint64_t *ids, size_t cap, size_t *out_n)
{
    size_t n = 0;
    uint32_t pi;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_n == NULL || (ids == NULL && cap > 0))
        return margin__fail(e, MARGIN_EINVAL, "out_n is NULL, or ids is NULL with cap > 0");
    if (status != MARGIN_STATUS_ANY && status != MARGIN_STATUS_OPEN &&
        status != MARGIN_STATUS_CLOSED && status != MARGIN_STATUS_LIQUIDATED &&
        status != MARGIN_STATUS_DELEVERAGED)
        return margin__fail(e, MARGIN_EINVAL, "unknown status filter %d", (int)status);
    if (account != 0) {
        margin__account *a;
        int rc = margin__get_account(e, account, &a);
        if (rc != MARGIN_OK)
            return rc;
    }
    if (market != 0) {
        margin__market *m;
        int rc = margin__get_market(e, market, &m);
        if (rc != MARGIN_OK)
            return rc;
    }
    if (status == MARGIN_STATUS_OPEN && (account != 0 || market != 0)) {
        /* the open lists are kept in id order */
        int by_acct = account != 0;
        pi = by_acct ? e->accounts[account - 1].head : e->markets[market - 1].head;
        for (; pi != MARGIN__NONE; pi = by_acct ? MARGIN__POS(e, pi).anext : MARGIN__POS(e, pi).mnext) {
            if (n < cap)
                ids[n] = (uint64_t)pi + 1;
            n++;
        }
    } else {
        for (pi = margin__next_live(e, 0); pi < e->npos; pi = margin__next_live(e, pi + 1)) {
            const margin__position *p = &MARGIN__POS(e, pi);
            if ((status != MARGIN_STATUS_ANY && p->status != status) ||
                (account != 0 && p->account != account - 1) ||
                (market != 0 && p->market != market - 1))
                continue;
            if (n < cap)
                ids[n] = (uint64_t)pi + 1;
            n++;
        }
    }
    *out_n = n;
    if (n > cap && ids != NULL) /* ids NULL: only counting */
        return margin__fail(e, MARGIN_EBUFFER, "%zu positions do not fit in %zu", n, cap);
    return MARGIN_OK;
}

int margin_account_positions(const margin_engine *e, uint64_t account, int32_t status,
                             uint64_t *ids, size_t cap, size_t *out_n)
{
    if (e != NULL && account == 0)
        return margin__fail(e, MARGIN_ENOTFOUND, "no account with id 0");
    return list_positions(e, account, 0, status, ids, cap, out_n);
}

int margin_market_positions(const margin_engine *e, uint64_t market, int32_t status,
                            uint64_t *ids, size_t cap, size_t *out_n)
{
    if (e != NULL && market == 0)
        return margin__fail(e, MARGIN_ENOTFOUND, "no market with id 0");
    return list_positions(e, 0, market, status, ids, cap, out_n);
}

int margin_positions(const margin_engine *e, int32_t status, uint64_t *ids, size_t cap,
                     size_t *out_n)
{
    if (e != NULL && status == MARGIN_STATUS_OPEN) {
        /* every open position, in id order, without scanning closed ones: merge the
         * markets' lists (each in id order) */
        size_t n = 0;
        uint32_t mi;
        if (out_n == NULL || (ids == NULL && cap > 0))
            return margin__fail(e, MARGIN_EINVAL, "out_n is NULL, or ids is NULL with cap > 0");
        n = (size_t)e->open_positions;
        *out_n = n;
        if (ids == NULL)
            return MARGIN_OK; /* only counting */
        if (n > cap)
            return margin__fail(e, MARGIN_EBUFFER, "%zu positions do not fit in %zu", n, cap);
        n = 0;
        for (mi = 0; mi < e->nmarkets; mi++) {
            uint32_t pi;
            for (pi = e->markets[mi].head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext)
                ids[n++] = (uint64_t)pi + 1;
        }
        if (e->nmarkets > 1)
            qsort(ids, n, sizeof *ids, cmp_u64);
        return MARGIN_OK;
    }
    return list_positions(e, 0, 0, status, ids, cap, out_n);
}
