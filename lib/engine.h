/* Internal engine structures. Not installed; the margin__ prefix keeps static links safe. */
#ifndef MARGIN_LIB_ENGINE_H
#define MARGIN_LIB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "dec.h"
#include "margin.h"

#define MARGIN__NONE UINT32_MAX
#define MARGIN__MAX_LEVELS 8
#define MARGIN__MAX_TIERS 32
#define MARGIN__ONE 100000000LL /* 1 at scale 8 (money and rates) */
#define MARGIN__NFIELDS 23      /* event fields 1..22 */
#define MARGIN__I128_MAX ((margin__i128)(~(margin__u128)0 >> 1))
/* The largest price scale + quantity scale accepted: every figure of a position is computed
 * at scale w + 8 (w = max(scale sum, 8)) in 128 bits, so that a position's value (and its
 * margin) must stay below 1.7e38 / 10^(w + 8) money: 1.7e14 at scales 8/8, 1.7e2 at 28. */
#define MARGIN__MAX_SCALE_SUM 28

typedef struct {
    int64_t floor;   /* money */
    int64_t mmr;     /* rate */
    int64_t max_lev; /* rate */
    int64_t cum;     /* money */
    /* floor at the market's working scale w, or MARGIN__I128_MAX when that does not fit in
     * 128 bits (then no notional reaches it): margin__tier_scale() keeps it current */
    margin__i128 floor_w;
} margin__tier;

/* 4-ary heap (trigger.c) of (key, position index). max = 1: the largest key on top. */
typedef struct {
    int64_t key;
    uint32_t pos;
} margin__hitem;

typedef struct {
    margin__hitem *a;
    uint32_t n, cap;
    int max;
} margin__heap;

typedef struct {
    char symbol[32];
    int32_t price_scale, qty_scale;
    int32_t ns; /* native notional scale: qty_scale + price_scale */
    int32_t w;  /* working scale: max(ns, 8) */
    int64_t tick, step, max_lev, maker, taker, close_fee;
    int64_t max_price; /* the largest mark, fill or trigger price accepted (price units) */
    int max_price_set; /* given by the caller (else derived from the price scale) */
    int32_t mm_basis;
    int64_t mark;
    uint32_t ntiers;
    int tiers_custom;
    margin__tier tiers[MARGIN__MAX_TIERS];
    uint32_t open_count;
    uint32_t head, tail; /* open positions, in id order */
    margin__heap down;   /* fires when mark <= key (max-heap) */
    margin__heap up;     /* fires when mark >= key (min-heap) */
} margin__market;

typedef struct {
    int64_t free, deposits, withdrawals, realized, fees, funding, isolated;
    uint32_t open_count;
    uint32_t head, tail; /* open positions */
    /* deltas staged by a batch (mark update, funding) before it commits: free, isolated,
     * realized, fees, funding; zero outside a batch */
    margin__i128 stage[5];
} margin__account;

typedef struct {
    int64_t qty, entry, margin, leverage;
    int64_t realized, fees, funding;
    int64_t stop, take, liq;
    uint32_t account, market; /* indexes (id - 1) */
    uint32_t down_slot, up_slot;
    uint32_t mprev, mnext, aprev, anext;
    int8_t side;
    uint8_t status;
    uint8_t mc_fired; /* bit i: level i has fired and is not re-armed */
} margin__position;

typedef struct {
    int64_t f[MARGIN__NFIELDS];
} margin__event;

struct margin_engine {
    margin__market *markets;
    uint32_t nmarkets, capmarkets;
    margin__account *accounts;
    uint32_t naccounts, capaccounts;
    margin__position *pos;
    uint32_t npos, cappos;

    margin__event *q; /* ring buffer */
    size_t qhead, qlen, qcap;
    margin__event cur;
    int has_cur;
    const margin__event *delivering; /* event being passed to the callback */

    int64_t time, insurance, last_seq, liquidations;
    uint64_t open_positions;
    int full_scan, queue_on;
    int64_t levels[MARGIN__MAX_LEVELS];
    uint32_t nlevels;
    int64_t band; /* margin-call re-arm band (rate) */
    margin_event_fn cb;
    void *cb_user;

    uint32_t *cand; /* trigger evaluation work space: candidate positions */
    size_t cand_cap;
    void *out; /* and their outcomes (struct margin__outcome, trigger.c) */
    size_t out_cap;

    int in_callback; /* > 0 while an event is being delivered to the callback */

    int err;
    char msg[256];
};

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

/* math (position.c) */
int margin__tier_at(const margin__market *m, margin__i128 n_w); /* n_w: notional at scale w */
void margin__tier_scale(margin__market *m); /* recompute every tier's floor_w */
/* n * rate / 10^ns rounded: notional n (scale ns) times a rate (scale 8) in money */
int margin__rate_of(margin__i128 n, int ns, int64_t rate, int rounding, int64_t *out);
/* A position's figures stay in range at every mark the market accepts (1 to max_price):
 * MARGIN_OK, or a status with a message on the engine. */
int margin__position_envelope(const margin_engine *e, const margin__market *m,
                              const margin__position *p);
int margin__bankruptcy(const margin__market *m, const margin__position *p, int64_t *out);
int margin__threshold(const margin__market *m, int side, int64_t qty, int64_t entry,
                      int64_t margin, int64_t level, int64_t *out);
int margin__pnl(const margin__market *m, int side, int64_t qty, int64_t entry, int64_t price,
                int64_t *out);

/* Changes to an account's ledgers (and the insurance fund) made by one operation. */
typedef struct {
    int64_t free, isolated, realized, fees, funding, insurance;
} margin__delta;
/* MARGIN_EOVERFLOW if applying d to the account of p (and, when count_pos is set, to p's own
 * realized/fees/funding totals) would overflow any ledger; checked before every commit. */
int margin__ledger_check(const margin_engine *e, const margin__position *p, int count_pos,
                         const margin__delta *d);
void margin__ledger_apply(margin_engine *e, uint32_t account, const margin__delta *d);
/* A batch changes several positions of one account at once: stage each delta on its
 * account, so that the totals are checked and not only each delta (MARGIN_EOVERFLOW);
 * then unstage every account touched, whatever the outcome. */
int margin__ledger_stage(margin_engine *e, uint32_t account, const margin__delta *d);
void margin__ledger_unstage(margin_engine *e, uint32_t account);

/* closing a position (position.c): compute without side effects, then apply */
typedef struct {
    int64_t realized;  /* holder's realized PnL (never below minus the margin) */
    int64_t ret;       /* returned to the free balance before the fee */
    int64_t fee;       /* fee actually charged */
    int64_t insurance; /* insurance-fund change */
} margin__close;
int margin__close_compute(const margin_engine *e, const margin__position *p, int64_t price,
                          int64_t fee_rate, int liquidation, margin__close *out);
int margin__close_stage(margin_engine *e, uint32_t pi, const margin__close *c);
/* needs one reserved event */
void margin__close_apply(margin_engine *e, uint32_t pi, int64_t price, const margin__close *c,
                         int32_t ev_type);
void margin__prefetch_close(const margin_engine *e, const margin__position *p);
int margin__ratio_at(const margin__market *m, const margin__position *p, int64_t price,
                     int64_t *out);

/* triggers (trigger.c) */
int margin__position_keys(const margin_engine *e, const margin__market *m,
                          const margin__position *p, uint8_t fired, int64_t *down,
                          int64_t *up);
void margin__index_set(margin_engine *e, margin__market *m, uint32_t pi, int64_t down,
                       int64_t up);
void margin__index_remove(margin_engine *e, margin__market *m, uint32_t pi);
int margin__index_reserve(margin__market *m);
int margin__reindex(margin_engine *e, uint32_t pi);

/* list management (engine.c) */
void margin__link(margin_engine *e, uint32_t pi);
void margin__unlink(margin_engine *e, uint32_t pi);

#endif
