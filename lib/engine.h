/* Internal interfaces between the engine's files (the structures are in types.h, the
 * formulas in formula.h). Not installed; the margin__ prefix keeps static links safe. */
#ifndef MARGIN_LIB_ENGINE_H
#define MARGIN_LIB_ENGINE_H

#include "types.h"
#include "formula.h"


/* the engine's memory functions (margin_engine_new_with_allocator()) */
void *margin__malloc(const margin_engine *e, size_t n);
void *margin__realloc(const margin_engine *e, void *p, size_t n);
void margin__dealloc(const margin_engine *e, void *p);
/* free everything the engine owns but the handle itself */
void margin__engine_clear(margin_engine *e);

/* MARGIN_ESTATE (with a message) when called from inside the event callback: every function
 * that changes the engine starts with it. */
int margin__busy(const margin_engine *e);
/* v at scale as a decimal string in buf (48 bytes hold any int64 at any scale): for
 * messages, which quote amounts as a person reads them */
char *margin__fmt(char *buf, size_t size, int64_t v, int32_t scale);

/* errors: record code and message on the engine; returns code. */
int margin__fail(const margin_engine *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* lookups: return MARGIN_OK or fail with a message. */
int margin__get_market(const margin_engine *e, uint64_t id, margin__market **out);
int margin__get_account(const margin_engine *e, uint64_t id, margin__account **out);
int margin__get_position(const margin_engine *e, uint64_t id, margin__position **out);

/* events */
int margin__ev_reserve(margin_engine *e, size_t n);
margin__event *margin__ev_begin(margin_engine *e, int32_t type);
margin__event *margin__ev_position(margin_engine *e, int32_t type, uint32_t pi);
void margin__ev_commit(margin_engine *e, margin__event *ev);

/* A position's figures stay in range at every mark the market accepts (1 to max_price):
 * MARGIN_OK, or a status with a message on the engine (position.c). */
int margin__position_envelope(const margin_engine *e, const margin__market *m,
                              const margin__position *p);

/* Changes to an account's ledgers (and the insurance fund) made by one operation
 * (account.c). */
typedef struct {
    int64_t free, isolated, realized, fees, funding, insurance;
} margin__delta;
/* MARGIN_EOVERFLOW if applying d to the account of p (and, when count_pos is set, to p's own
 * realized/fees/funding totals) would overflow any ledger; checked before every commit. */
int margin__ledger_check(const margin_engine *e, const margin__position *p, int count_pos,
                         const margin__delta *d);
/* insurance pools and auto-deleveraging (insurance.c) */
void margin__pool_add(margin_engine *e, uint32_t mi, int64_t amount);
int margin__pool_set(margin_engine *e, margin__market *m, int32_t key, int64_t value);
int64_t margin__pool_get(const margin_engine *e, const margin__market *m, int32_t key);
/* the raw ADL score of open position p at mark (MARGIN_POS_ADL_SCORE) */
int64_t margin__adl_score(const margin_engine *e, const margin__position *p, int64_t mark);
/* 1 when the ranking's filter rules out isolated position p (market on the mark basis,
 * Binance's ranking) against bar `bar` > 0 at mark: its exact score is then below `bar`;
 * 0 when it must be scored. For the tests of the filter (insurance.c, cannot_reach). */
int margin__adl_filtered(const margin_engine *e, const margin__position *p, int64_t mark,
                         int64_t bar);
/* One planned deleveraging: qty of position pi closed at `price` (the bankrupt position's
 * bankruptcy price) without a fee; pnl its PnL there, released the isolated margin it
 * frees, credit what it pays into the pool (its PnL at the mark less pnl). */
typedef struct {
    uint32_t pi, bankrupt;
    int64_t qty, price, pnl, released, credit;
} margin__adlx;
/* 1: position pi cannot be deleveraged in this batch; else 0, and *margin the position's
 * margin as the batch leaves it (a funding round's payments) */
typedef int (*margin__adl_skip)(const void *ctx, uint32_t pi, int64_t *margin);
/* Cover `need` of the deficit of isolated position `bankrupt` (market m at mark) by
 * deleveraging: appends to e->adlx (from e->nadlx on) and stages each close on its account;
 * *covered receives the credits (>= need unless the other side runs out). MARGIN_ENOMEM,
 * MARGIN_EOVERFLOW (with the message set). */
int margin__adl_plan(margin_engine *e, const margin__market *m, uint32_t bankrupt,
                     int64_t mark, int64_t need, margin__adl_skip skip, const void *ctx,
                     int64_t *covered);
/* The same for a bankrupt position of side `side` and quantity qty at bankruptcy price bp
 * (a cross book's leg: its book's bankruptcy price) */
int margin__adl_plan_at(margin_engine *e, const margin__market *m, uint32_t bankrupt,
                        int side, int64_t qty, int64_t bp, int64_t mark, int64_t need,
                        margin__adl_skip skip, const void *ctx, int64_t *covered);
/* A cross book's deficit in the batch of market mi (nacc accounts, nout outcomes): plan its
 * deleveraging where it takes the pool, whose balance *rb runs through the batch, below
 * the floor (cross.c); counts the events in *nev */
int margin__cross_adl(margin_engine *e, uint32_t mi, int64_t mark, size_t nacc, size_t nout,
                      margin__i128 *rb, margin__adl_skip skip, const void *ctx, size_t *nev);
void margin__adl_unstage(margin_engine *e);
/* apply the planned closes e->adlx[first .. first + count) with their events (reserved) */
void margin__adl_apply(margin_engine *e, size_t first, size_t count);
/* room for what scratch engine t's deleveraging used (margin_mark_candle) */
int margin__adl_reserve(margin_engine *e, const margin_engine *t);
/* does a planned deleveraging touch account ai? */
int margin__adl_touches(const margin_engine *e, uint32_t ai);
/* apply d to the account; its insurance change goes to the pool of market `market` */
void margin__ledger_apply(margin_engine *e, uint32_t account, uint32_t market,
                          const margin__delta *d);
/* A batch changes several positions of one account at once: stage each delta on its
 * account, so that the totals are checked and not only each delta (MARGIN_EOVERFLOW);
 * then unstage every account touched, whatever the outcome. */
int margin__ledger_stage(margin_engine *e, uint32_t account, const margin__delta *d);
void margin__ledger_unstage(margin_engine *e, uint32_t account);
/* an account's free balance as the batch under way has staged it (its free balance outside
 * one) */
static inline int64_t margin__staged_free(const margin__account *a)
{
    return a->staging ? a->staged[0] : a->free;
}

/* closing a position (position.c): compute without side effects, then apply */
typedef struct {
    int64_t realized;  /* holder's realized PnL (never below minus the margin) */
    int64_t ret;       /* returned to the free balance before the fee */
    int64_t fee;       /* fee actually charged */
    int64_t insurance; /* insurance-fund change */
    int64_t adl;       /* a bankrupt liquidation: what auto-deleveraging covered */
} margin__close;
int margin__close_compute(const margin_engine *e, const margin__position *p, int64_t price,
                          int64_t fee_rate, int liquidation, margin__close *out);
int margin__close_stage(margin_engine *e, uint32_t pi, const margin__close *c);
/* needs one reserved event */
void margin__close_apply(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                         int32_t ev_type);
/* the same, saying which price a triggered close filled at (MARGIN_FILL_*) */
void margin__close_apply_fill(margin_engine *e, uint32_t pi, int64_t price,
                              const margin__close *c, int32_t ev_type, int32_t fill);
void margin__prefetch_close(const margin_engine *e, const margin__position *p);

/* In a function that only prefetches: GCC finds such a function pure (a prefetch is no
 * side effect to it) and deletes every call whose result is unused, that is every call.
 * An empty volatile asm is a side effect that emits nothing. */
#define MARGIN__KEEP_PREFETCH() __asm__ volatile("")

/* Start loading a position record (104 bytes: up to three cache lines). */
static inline void margin__prefetch_record(const margin_engine *e, uint32_t pi)
{
    const char *rec = (const char *)&MARGIN__POS(e, pi);
    MARGIN__KEEP_PREFETCH();
    __builtin_prefetch(rec, 1);
    __builtin_prefetch(rec + 64, 1);
    __builtin_prefetch(rec + sizeof(margin__position) - 1, 1);
}

/* Start loading a whole account record (152 bytes: up to four lines). */
static inline void margin__prefetch_account(const margin_engine *e, uint32_t ai)
{
    const char *rec = (const char *)&e->accounts[ai];
    MARGIN__KEEP_PREFETCH();
    __builtin_prefetch(rec, 1);
    __builtin_prefetch(rec + 64, 1);
    __builtin_prefetch(rec + 128, 1);
    __builtin_prefetch(rec + sizeof(margin__account) - 1, 1);
}
int margin__ratio_at(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out);

/* liquidation (liquidation.c): what a liquidation of isolated position p at mark does
 * (how much, at what price, the money), without side effects; the ledger delta it makes */
typedef struct {
    int partial;     /* 1: q < Q, the position stays open with margin `margin` */
    int64_t qty;     /* quantity liquidated */
    int64_t price;   /* fill price */
    int32_t fill;    /* MARGIN_FILL_* */
    int64_t margin;  /* the position's margin after a partial step */
    int64_t before;  /* its margin in the state decided on (funding may have changed it) */
    margin__close c; /* realized, ret (to the free balance, before the fee), fee, insurance */
} margin__liq;
int margin__liq_decide(const margin_engine *e, const margin__market *m,
                       const margin__position *p, int64_t mark, margin__liq *out);
margin__delta margin__liq_delta(const margin__liq *l);
/* the clearance fee of q at `fill` (or the mark, by the market's basis), rounded up */
int margin__liq_fee(const margin__market *m, int64_t q, int64_t fill, int64_t mark,
                    int64_t *out);
/* The partial policies' quantity for position p at mark, the holder's health after
 * selling q judged by ok(ctx, q) (1: healthy): tier-down, min-reduce by search (cross
 * books), slices (eq and mm: the holder's equity and maintenance). 0: in full. */
typedef int (*margin__liq_ok)(const void *ctx, int64_t q);
int64_t margin__liq_tier_down(const margin__market *m, const margin__position *p, int64_t mark,
                              margin__liq_ok ok, const void *ctx);
int64_t margin__liq_min_search(const margin__market *m, const margin__position *p,
                               margin__liq_ok ok, const void *ctx);
int64_t margin__liq_slice(const margin_engine *e, const margin__market *m,
                          const margin__position *p, int64_t mark, margin__i128 eq,
                          margin__i128 mm);
/* apply a partial liquidation (position.c); needs one reserved event */
void margin__partial_apply(margin_engine *e, uint32_t pi, const margin__liq *l);
void margin__market_liq_defaults(margin__market *m);

/* triggers (trigger.c): the positions of heap h whose keys `mark` crosses, appended to
 * e->cand at *n (heap slots converted to positions); evaluate and apply a mark on market m
 * (atomic); a mark's range check (MARGIN_EINVAL, MARGIN_ERANGE) */
int margin__collect(margin_engine *e, const margin__heap *h, int64_t mark, size_t *n);
int margin__evaluate_market(margin_engine *e, margin__market *m, int64_t mark);
int margin__check_mark(const margin_engine *e, const margin__market *m, int64_t mark);
/* e's evaluation work space at least t's, or room for `all` candidates (trigger.c); room
 * in the cross work space (cross.c) */
int margin__reserve_work(margin_engine *e, const margin_engine *t, size_t all);
int margin__cross_reserve(margin_engine *e, size_t nacc, size_t nout, size_t ncl);
/* after margin__cross_decide (nacc accounts, nout outcomes): does account ai's outcome
 * change anything? */
int margin__cross_active(const margin_engine *e, size_t nacc, size_t nout, uint32_t ai);

/* triggers (trigger.c) */
/* make a work buffer hold `need` items of `size` bytes (MARGIN_ENOMEM with a message) */
int margin__grow(margin_engine *e, void **buf, size_t *cap, size_t need, size_t size);
/* sort n indexes in increasing order (O(n log n), no allocation) */
void margin__sort_u32(uint32_t *a, size_t n);
/* a position's keys with levels `fired` and the stop-loss and take-profit given */
int margin__position_keys(const margin_engine *e, const margin__market *m,
                          const margin__position *p, uint8_t fired, int64_t stop, int64_t take,
                          int64_t *down, int64_t *up);
void margin__index_set(margin_engine *e, margin__market *m, uint32_t pi, int64_t down,
                       int64_t up);
void margin__index_remove(margin_engine *e, margin__market *m, uint32_t pi);
/* a position's keys in its market's heaps (INT64_MIN / INT64_MAX: none) */
void margin__index_get(const margin_engine *e, const margin__market *m, uint32_t pi,
                       int64_t *down, int64_t *up);
int margin__index_reserve(const margin_engine *e, margin__market *m);
/* room for n items in a heap (MARGIN_ENOMEM); free a heap's memory (it is then empty) */
int margin__heap_reserve(const margin_engine *e, margin__heap *h, uint32_t n);
void margin__heap_free(const margin_engine *e, margin__heap *h);
int margin__reindex(margin_engine *e, uint32_t pi);

/* position chunks (engine.c): room for the next id's chunk (MARGIN_ENOMEM); a position
 * closed (its chunk may become retirable); retire the chunks out of the window; the next
 * position index >= pi whose chunk is not retired (or e->npos) */
int margin__chunk_reserve(margin_engine *e);
void margin__chunk_closed(margin_engine *e, uint32_t pi);
void margin__retire(margin_engine *e);
uint32_t margin__next_live(const margin_engine *e, uint32_t pi);

/* stop-loss and take-profit prices (position.c): a position's (0: none); room for one more
 * entry (MARGIN_ENOMEM, with the message); set a position's (an entry taken from the room
 * reserved, or given back when both are 0); give its entry back */
static inline int64_t margin__stop_of(const margin_engine *e, const margin__position *p)
{
    return p->stops == MARGIN__NONE ? 0 : e->stops[p->stops].stop;
}
static inline int64_t margin__take_of(const margin_engine *e, const margin__position *p)
{
    return p->stops == MARGIN__NONE ? 0 : e->stops[p->stops].take;
}
/* Merge a stop-loss and a take-profit (0: none) into a position's trigger keys: a long's
 * stop fires at mark <= stop (a down key) and its take at mark >= take (an up key); a
 * short's the other way round. *d only rises and *u only falls. */
static inline void margin__merge_stops(int side, int64_t stop, int64_t take, int64_t *d,
                                       int64_t *u)
{
    int64_t dk = side > 0 ? stop : take, uk = side > 0 ? take : stop;
    if (dk > 0 && dk > *d)
        *d = dk;
    if (uk > 0 && uk < *u)
        *u = uk;
}
int margin__stops_reserve(margin_engine *e);
void margin__stops_put(margin_engine *e, margin__position *p, int64_t stop, int64_t take);
void margin__stops_drop(margin_engine *e, margin__position *p);

/* list management (position.c) */
void margin__link(margin_engine *e, uint32_t pi);
/* its market's part alone: the market list, the market's and the engine's open counts */
void margin__link_market(margin_engine *e, uint32_t pi);
void margin__unlink(margin_engine *e, uint32_t pi);

/* cross books (cross.c) */
int margin__is_cross(const margin__account *a, uint32_t mi);
/* recompute the trigger keys of every cross position of an account; never fails */
void margin__cross_rekey(margin_engine *e, uint32_t ai);
/* the cross liquidation price of a cross position (0 when none or it does not fit) */
int64_t margin__cross_liq(const margin_engine *e, const margin__position *p);
/* a margin_position_at() figure of a cross position; MARGIN_ENOTSUP: not a cross figure */
int margin__cross_at(const margin_engine *e, const margin__position *p, int32_t key,
                     int64_t mark, int64_t *out);
/* an account figure MARGIN_ACCT_CROSS_WALLET .. MARGIN_ACCT_CROSS_POSITIONS */
int margin__cross_account_get(const margin_engine *e, uint32_t ai, int32_t key, int64_t *out);
/* MARGIN_EFUNDS (with a message) unless `take` (money leaving the free balance) is within
 * the account's available balance; MARGIN_OK without cross positions */
int margin__cross_allows(const margin_engine *e, uint32_t ai, margin__i128 take);
/* MARGIN_EFUNDS unless the available balance stays >= 0 with the free balance changed by
 * dfree and `alt` standing in for position alt_pi (or added, alt_pi MARGIN__NONE) */
int margin__cross_check(const margin_engine *e, uint32_t ai, const margin__position *alt,
                        uint32_t alt_pi, margin__i128 dfree);
/* a holder's close of qty of cross position pi at price: PnL into the wallet, the fee
 * capped at the cross margin balance left, a wallet below zero after the account's last
 * cross position covered by the fund (unless `reopen`: a flip keeps the position) */
int margin__cross_fill(const margin_engine *e, uint32_t pi, int64_t qty, int64_t price,
                       int64_t fee_rate, int reopen, margin__close *out);
/* number of open cross positions of an account in a market */
int margin__cross_legs_in(const margin_engine *e, uint32_t ai, uint32_t mi);
/* batches (mark update, funding): note an account to evaluate in e->xacc; decide what
 * market mi at mark does to each (sorting and de-duplicating *nacc), staging their
 * ledger changes and counting events; unstage them; apply the outcomes and re-key every
 * account evaluated */
int margin__cross_note(margin_engine *e, size_t *n, uint32_t ai);
int margin__cross_decide(margin_engine *e, size_t *nacc, uint32_t mi, int64_t mark,
                         size_t *nout, size_t *nev, margin__i128 *fund);
void margin__cross_unstage(margin_engine *e, size_t nacc);
void margin__cross_apply(margin_engine *e, size_t nacc, size_t nout);

#endif
