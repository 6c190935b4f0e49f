/* The internal state structures: markets with their tiers and trigger heaps, accounts,
 * positions, events and the engine. Not installed; the margin__ prefix keeps static links
 * safe. Every other internal header builds on this one. */
#ifndef MARGIN_LIB_TYPES_H
#define MARGIN_LIB_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "dec.h"
#include "margin.h"

#define MARGIN__NONE UINT32_MAX
#define MARGIN__MAX_LEVELS 8
#define MARGIN__MAX_TIERS 32
#define MARGIN__ONE 100000000LL /* 1 at scale 8 (money and rates) */
#define MARGIN__NFIELDS 28      /* event fields 1..27 */
#define MARGIN__I128_MAX ((margin__i128)(~(margin__u128)0 >> 1))
/* The largest price scale + quantity scale accepted: every figure of a position is computed
 * at scale w + 8 (w = max(scale sum, 8)) in 128 bits, so that a position's value (and its
 * margin) must stay below 1.7e38 / 10^(w + 8) money: 1.7e14 at scales 8/8, 1.7e2 at 28. */
#define MARGIN__MAX_SCALE_SUM 28
/* The most cross positions one account holds in one market (hedge legs): the cross
 * formulas solve a market's legs together on the stack. */
#define MARGIN__MAX_LEGS 16

typedef struct {
    int64_t floor;   /* money */
    int64_t mmr;     /* rate */
    int64_t max_lev; /* rate */
    int64_t cum;     /* money */
    /* floor at the market's working scale w, or MARGIN__I128_MAX when that does not fit in
     * 128 bits (then no notional reaches it): margin__tier_scale() keeps it current */
    margin__i128 floor_w;
} margin__tier;

/* A market's trigger heap (trigger.c): a 4-ary heap of (key, position index); max = 1:
 * the largest key on top.
 *
 * A position's entry is found through a handle, not through its slot: the position keeps
 * the handle (margin__position.down_slot / up_slot, fixed while it has a key) and the
 * handle's 4-byte entry keeps the node's current slot. A sift moves nodes; each move then
 * writes the slot into the dense handle entries instead of into the moved position's cold
 * record, which at a million positions was a cache miss per move.
 *
 * Nodes and handle entries live in pages of MARGIN__HPAGE, allocated (in groups of pages,
 * trigger.c) as the heap grows and never moved: growing copies nothing (no pause at a
 * doubling, and no old copy left resident in the allocator). Node i is at page index
 * i + MARGIN__HOFF, so that the four children of a node (4i + 1 .. 4i + 4) share one
 * 64-byte line of a 64-byte-aligned page. */
typedef struct {
    int64_t key;
    uint32_t id;  /* handle */
    uint32_t pos; /* position index */
} margin__hnode;

#define MARGIN__HPAGE_BITS 10
#define MARGIN__HPAGE (1u << MARGIN__HPAGE_BITS)
#define MARGIN__HOFF 3u

typedef struct {
    margin__hnode **pages; /* node pages (64-byte aligned) */
    uint32_t **slots;      /* handle pages: the slot of handle h is slots[page][index]; a free
                            * handle's entry is the next free handle + 1. The slots of the
                            * first page of a group are its allocation. */
    uint32_t n;            /* nodes in use */
    uint32_t cap;          /* room: npages * MARGIN__HPAGE - MARGIN__HOFF nodes (and more
                            * handles) */
    uint32_t npages, cappages;
    uint32_t used;  /* handles handed out so far (the free ones are on the free list) */
    uint32_t free1; /* first free handle + 1 (0: none) */
    int max;
} margin__heap;

/* node i of heap h */
static inline margin__hnode *margin__hnode_at(const margin__heap *h, uint32_t i)
{
    uint32_t j = i + MARGIN__HOFF;
    return &h->pages[j >> MARGIN__HPAGE_BITS][j & (MARGIN__HPAGE - 1)];
}

/* the slot entry of handle hd of heap h */
static inline uint32_t *margin__hslot(const margin__heap *h, uint32_t hd)
{
    return &h->slots[hd >> MARGIN__HPAGE_BITS][hd & (MARGIN__HPAGE - 1)];
}

/* the key held by handle hd of heap h */
static inline int64_t margin__hkey(const margin__heap *h, uint32_t hd)
{
    return margin__hnode_at(h, *margin__hslot(h, hd))->key;
}

typedef struct {
    char symbol[32];
    int32_t price_scale, qty_scale;
    int32_t ns; /* native notional scale: qty_scale + price_scale */
    int32_t contract;  /* MARGIN_CONTRACT_LINEAR or MARGIN_CONTRACT_INVERSE (inverse.c) */
    int64_t csize;     /* inverse: quote units per contract, scale 8 */
    int64_t asset;     /* settlement asset code (MARGIN_MKT_SETTLE_ASSET) */
    int64_t min_price; /* lowest mark and fill accepted */
    uint8_t min_price_set;
    int32_t w;  /* working scale: max(ns, 8) */
    int64_t tick, step, max_lev, maker, taker, close_fee;
    int64_t max_price; /* the largest mark, fill or trigger price accepted (price units) */
    int max_price_set; /* given by the caller (else derived from the price scale) */
    int32_t mm_basis;
    int64_t mark;
    uint32_t ntiers;
    int tiers_custom;
    int used; /* has had a position (its scales are fixed) */
    /* how liquidations and triggered closes fill (liquidation.c; MARGIN_MKT_LIQ_FEE ...) */
    int64_t liq_fee;        /* clearance fee rate */
    int32_t liq_fee_basis;  /* MARGIN_LIQ_FEE_BASIS_* */
    int32_t liq_fill;       /* MARGIN_LIQ_FILL_* */
    int32_t stop_fill;      /* MARGIN_STOP_FILL_* */
    int32_t liq_policy;     /* MARGIN_LIQ_POLICY_* */
    int64_t slice_threshold, slice_fraction, slice_cooldown, slice_backstop;
    /* insurance (insurance.c): the pool this market uses (an index; itself by default),
     * and, read from the pool's own market, the pool's balance, floor and ADL switch */
    uint32_t pool_of;
    int32_t adl;      /* MARGIN_ADL_* (the pool's) */
    int32_t adl_rank; /* MARGIN_ADL_RANK_* (the market's) */
    int64_t pool;     /* the pool's balance (money) */
    int64_t pool_floor;
    margin__tier tiers[MARGIN__MAX_TIERS];
    /* the maintenance margin of a mark-basis leg is continuous in the notional (each
     * tier's amount is exactly the one the rates below it derive) and its rates do not
     * decrease: then it is convex and never rises as the price falls, across tiers
     * (margin__tier_scale() keeps it current; margin__cross_band() relies on it) */
    int mm_convex;
    uint32_t open_count;
    uint32_t head, tail; /* open positions, in id order */
    margin__heap down;   /* fires when mark <= key (max-heap) */
    margin__heap up;     /* fires when mark >= key (min-heap) */
} margin__market;

typedef struct {
    int64_t free, deposits, withdrawals, realized, fees, funding, isolated;
    uint32_t open_count;
    uint32_t head, tail; /* open positions */
    uint32_t ncross;     /* open cross positions (cross.c) */
    uint8_t mc_fired;    /* account-level margin-call levels fired (cross book) */
    uint8_t staging;     /* 1: a batch has staged changes on it (staged[] holds them) */
    /* engine time of the account's last sliced liquidation (MARGIN_LIQ_POLICY_SLICES),
     * INT64_MIN: none */
    int64_t last_slice;
    /* markets where the account is in cross mode: bit i for market index i < 64, and a
     * sorted array of the indexes >= 64 */
    uint64_t cross_lo;
    uint32_t *cross_hi;
    uint32_t ncross_hi, capcross_hi;
    /* while `staging`: the free, isolated, realized, fees and funding ledgers as the batch
     * under way (mark update, funding) would leave them, each checked to fit as every change
     * is staged (margin__ledger_stage()); meaningless otherwise */
    int64_t staged[5];
} margin__account;

/* A position's stop-loss and take-profit prices (0: none), kept apart from its record:
 * most positions have neither (margin__stop_of(), margin__take_of() in engine.h). */
typedef struct {
    int64_t stop, take; /* a free entry: stop is the next free entry + 1 (0: none) */
} margin__stops;

/* A position's record: 104 bytes, what every operation on it reads. */
typedef struct {
    int64_t qty, entry, margin, leverage;
    int64_t realized, fees, funding;
    int64_t liq;
    uint32_t account, market; /* indexes (id - 1) */
    uint32_t down_slot, up_slot; /* handles of its keys in the market's heaps (NONE: none) */
    uint32_t mprev, mnext, aprev, anext;
    uint32_t stops; /* its entry in e->stops (MARGIN__NONE: neither a stop nor a take-profit) */
    int8_t side;
    uint8_t status;
    uint8_t mc_fired;  /* bit i: level i has fired and is not re-armed */
    uint8_t cross : 1; /* 1: a cross position (no margin of its own; its account's book) */
    uint8_t adl_q : 3; /* ADL quantile 0..4 (margin_market_adl_quantiles) */
} margin__position;

typedef struct {
    int64_t f[MARGIN__NFIELDS];
} margin__event;

/* Positions live in chunks of MARGIN__CHUNK consecutive ids. A chunk whose positions are
 * all closed, and whose last close is older than the MARGIN_ENG_RETAIN_CLOSED most recent
 * closes, is retired: its memory is freed and its ids answer MARGIN_ENOTFOUND. */
#define MARGIN__CHUNK_BITS 10
#define MARGIN__CHUNK (1u << MARGIN__CHUNK_BITS)
#define MARGIN__RETAIN_DEFAULT 1048576 /* closed positions kept readable by default */
#define MARGIN__POS(e, i)                                                                  \
    ((e)->chunks[(uint32_t)(i) >> MARGIN__CHUNK_BITS][(uint32_t)(i) & (MARGIN__CHUNK - 1)])

typedef struct {
    uint32_t closed;    /* positions of the chunk closed so far */
    int64_t last_close; /* ordinal (e->closes) of the latest of them */
} margin__chunkinfo;

/* One leg of a cross book in one market: a cross position's side, size and entry. */
typedef struct {
    int64_t qty, entry;
    int side;
} margin__leg;

/* A condition on a cross book that a band of prices must not let change (cross.c):
 * h = level*balance - 1*MM at scale 16 must stay > 0 (rise = 0) or <= 0 (rise = 1); the
 * band may move h by at most `budget` (scale 16, >= 0) in the unwanted direction. */
typedef struct {
    int64_t level;
    int rise;
    margin__i128 budget;
} margin__cond;

struct margin_engine {
    margin__market *markets;
    uint32_t nmarkets, capmarkets;
    margin__account *accounts;
    uint32_t naccounts, capaccounts;
    margin__position **chunks; /* NULL: not yet allocated, or retired */
    margin__chunkinfo *chunkinfo;
    uint32_t npos, nchunks, capchunks;
    int64_t closes;   /* positions closed so far */
    int64_t retain;   /* closed positions kept readable (MARGIN_ENG_RETAIN_CLOSED) */
    uint32_t *retire; /* chunks all closed, waiting to leave the window: a ring, in the
                       * order of their last close (room for every chunk) */
    uint32_t rhead, rlen;
    /* the stop-loss and take-profit prices of the positions that have any: `nstops` entries
     * handed out of `capstops`, the free ones chained from free_stops (entry + 1; 0: none) */
    margin__stops *stops;
    uint32_t nstops, capstops, free_stops;

    margin__event *q; /* ring buffer */
    size_t qhead, qlen, qcap;
    margin__event cur;
    int has_cur;
    const margin__event *delivering; /* event being passed to the callback */

    int64_t time, insurance, last_seq, liquidations;
    int64_t insurance_deposits; /* MARGIN_ENG_INSURANCE_DEPOSITS */
    uint64_t open_positions;
    int full_scan, queue_on;
    int64_t levels[MARGIN__MAX_LEVELS];
    uint32_t nlevels;
    int64_t band; /* margin-call re-arm band (rate) */
    int32_t cross_policy; /* MARGIN_CROSS_LIQ_* */
    int64_t cross_evals;  /* cross-account evaluations (MARGIN_ENG_CROSS_EVALUATIONS) */
    margin_event_fn cb;
    void *cb_user;

    uint32_t *cand; /* trigger evaluation work space: candidate positions */
    size_t cand_cap;
    void *out; /* and their outcomes (struct margin__outcome, trigger.c) */
    size_t out_cap;
    uint32_t *xacc; /* cross accounts to evaluate (cross.c) */
    size_t xacc_cap;
    void *xout; /* their outcomes */
    size_t xout_cap;
    void *xcl; /* and the closes they decide */
    size_t xcl_cap;
    void *adl; /* auto-deleveraging (insurance.c): the ranked other side, and the closes */
    size_t adl_cap, adl_n;
    int adl_side; /* the side ranked in e->adl for this batch (0: none) */
    int adl_more; /* that ranking kept its best only: others exist */
    int adl_view; /* the batch moves margins (a funding round): ranked as it leaves them */
    void *adlx;
    size_t adlx_cap, nadlx;
    /* a candle's scratch engine holding only what the path triggers (candle.c): a
     * deleveraging it would need is noted (adl_wanted), not planned, and the scratch run
     * again with the whole market */
    int adl_probe, adl_wanted;

    int in_callback; /* > 0 while an event is being delivered to the callback */
    /* while margin_mark_candle() walks a candle: the point of its path being applied (1 to
     * 4, stamped on events as MARGIN_EVF_PATH_POINT; 0 otherwise), and whether the mark
     * jumped to it (the open: a gap, so stops fill at the mark) */
    int path_point, jump;
    /* the adverse path (MARGIN_PATH_ADVERSE) evaluates each point in two groups (candle.c):
     *  - path_skip: a side (+1 long, -1 short) whose isolated positions this evaluation
     *    skips (the first group's: the bar's up-down order, every cross book); 0 none;
     *  - path_only: a side: only the isolated positions of that side are decided, cross
     *    positions skipped, and the market's mark is not moved (the second group's, which
     *    walks the mirrored order); 0: an ordinary evaluation;
     *  - path_last: in a path_only evaluation, that walk's previous point, the "last mark"
     *    of the stop-fill continuity test (decide_at() in trigger.c) instead of m->mark.
     * All 0 outside margin_mark_candle(). */
    int32_t path_skip, path_only;
    int64_t path_last;


    /* the memory functions (margin_engine_new_with_allocator(), or the C library's) */
    margin_malloc_fn mem_alloc;
    margin_realloc_fn mem_grow;
    margin_free_fn mem_release;
    void *mem_user;
    size_t qmax; /* event queue cap, 0: none (MARGIN_ENG_EVENT_CAP) */

    int err;
    char msg[256];
};

#endif
