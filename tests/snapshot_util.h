/* Helpers shared by the snapshot tests (issue 12): snapshots to heap buffers, clones, byte
 * comparisons, every getter of an engine in one array, a counting allocator that can fail
 * the k-th allocation, and a scripted scenario that exercises every engine feature.
 * Nothing here calls into Check unless something fails (the randomized suites use them in
 * their hot loops). */
#ifndef MARGIN_TESTS_SNAPSHOT_UTIL_H
#define MARGIN_TESTS_SNAPSHOT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "margin.h"

/* ------------------------------------------------------------------ snapshots */

/* The engine's snapshot in a malloc'd buffer of exactly *len bytes (size query, then save).
 * Fails the test on any error. */
uint8_t *su_save(const margin_engine *e, size_t *len);

/* A new engine (margin_engine_new) loaded from buf; fails the test on any error. */
margin_engine *su_load(const void *buf, size_t len);

/* A copy of e through its snapshot: saved, loaded into a new engine, and required to give
 * the same bytes and the same state hash again. `what` names the call site in messages. */
margin_engine *su_clone(const margin_engine *e, const char *what);

/* Require identical snapshot bytes and equal state hashes (the first differing offset is
 * reported). */
void su_require_same(const margin_engine *a, const margin_engine *b, const char *what);

/* Offset of the first byte where a and b differ, or -1 when they are equal. */
long su_bytes_diff(const uint8_t *a, size_t na, const uint8_t *b, size_t nb);

/* The state hash, failing the test on error. */
uint64_t su_hash(const margin_engine *e);

/* ------------------------------------------------------------------ events */

#define SU_NF (MARGIN_EVF_ADL_COVERED + 1)
typedef struct {
    int64_t f[SU_NF]; /* f[1..27]: margin_event_fields(); f[0] unused (0) */
} su_event;

/* Take every queued event (at most max; more fails the test) with all its fields. */
size_t su_drain(margin_engine *e, su_event *out, size_t max);

/* Drain a and b and require the same events, field by field. Returns how many. */
size_t su_drain_same(margin_engine *a, margin_engine *b, const char *what);

/* ------------------------------------------------------------------ twins */

/* Save, load, continue (the randomized suites): at random moments an engine is copied
 * through its snapshot into a twin; the suite gives the twin the same calls as the
 * original for `window` steps, requiring the same statuses, ids and events, equal state
 * hashes along the way and identical snapshot bytes at the end of the window; then
 * the twin takes the original's place for the rest of the run. The decisions use their own
 * random sequence, so the suite's own sequence of operations is unchanged. */
typedef struct {
    margin_engine *e; /* the twin, NULL when none */
    int left;         /* steps left in its window */
    uint64_t rng;     /* when to start one */
    long started;     /* twins made so far */
} su_twin;

/* With probability 1/one_in, copy src into t->e (checked: same bytes, same hash). */
int su_twin_maybe_start(su_twin *t, const margin_engine *src, unsigned one_in, int window,
                        const char *ctx);
/* Right after the original's call of a step: with no twin, maybe start one (returns 0);
 * with one, set its time as the suite set the original's and return 1: the suite then
 * makes the same call on t->e and checks it with su_twin_result(). */
int su_twin_step(su_twin *t, const margin_engine *src, int64_t time, unsigned one_in,
                 int window, const char *ctx);
void su_twin_result(int rc2, uint64_t id2, int rc1, uint64_t id1, const char *ctx);
/* Both in one: call(twin, op, &id) makes the step's call on the twin when one runs. */
typedef int (*su_call_fn)(margin_engine *twin, const void *op, uint64_t *id);
void su_twin_call(su_twin *t, const margin_engine *src, int64_t time, unsigned one_in,
                  int window, su_call_fn call, const void *op, int rc1, uint64_t id1,
                  const char *ctx);
/* "seed S step N (op): ", for messages (a static buffer). */
const char *su_ctx(uint64_t seed, int step, const char *op);
/* The twin's events against the original's n events (fields 1..nf-1, each event `stride`
 * int64 apart, field f at offset f). */
void su_twin_events(su_twin *t, const int64_t *ev, size_t stride, size_t n, int nf,
                    const char *ctx);
/* End of a step: equal hashes (every fourth step); at the end of the window identical
 * bytes and hashes, and then the twin replaces *orig (which is freed). */
void su_twin_end_step(su_twin *t, margin_engine **orig, const char *ctx);

/* ------------------------------------------------------------------ every getter */

/* (tag, status, value) of every getter of an engine: engine keys and levels, the current
 * event, every market (symbol, keys, tiers, tier_for, listings), every account (keys, modes,
 * listings), every position (stored keys, and every MARGIN_AT_* figure at the market's
 * mark), and the engine-wide listings. The tag says which getter (for messages). */
typedef struct {
    int64_t *v, *tag;
    size_t n, cap;
} su_obs;

void su_observe(const margin_engine *e, su_obs *o);
void su_obs_free(su_obs *o);
/* Require equal observations; the message names the getter that differs. */
void su_obs_require_same(const su_obs *a, const su_obs *b, const char *what);

/* ------------------------------------------------------------------ counting allocator */

/* Every getter and the snapshot bytes of a and b are the same. */
void su_require_same_state(const margin_engine *a, const margin_engine *b, const char *what);

/* Every allocation of an engine made with margin_engine_new_with_allocator(su_malloc,
 * su_realloc, su_free, &state) is counted; the one numbered fail_at (from 1; 0: none)
 * returns NULL, and so does every later one when `persistent` is set. */
typedef struct {
    long count;    /* allocations so far (malloc, and realloc, which may move) */
    long fail_at;  /* the allocation to fail, 0: none */
    int persistent;
    long failures; /* allocations refused */
    long live;     /* blocks allocated and not freed */
} su_alloc;

void *su_malloc(void *user, size_t n);
void *su_realloc(void *user, void *p, size_t n);
void su_free(void *user, void *p);

/* ------------------------------------------------------------------ the scenario */

/* A scripted scenario, one public call a step, that builds an engine with every kind of
 * state (see snapshot_util.c): three markets of different scales with custom tiers, given
 * and derived maintenance amounts, the entry basis, a fee to close, maker and taker fees and
 * a maximum price; five accounts, isolated and cross (two cross markets, hedge legs);
 * opens, increases, reductions, a flip, closes, margin added and removed, a leverage
 * change, stops and take-profits (one fired), funding, isolated liquidations, margin calls
 * (position and account level, some still fired at the end), cross liquidations under
 * both policies (one with a deficit), three margin-call levels and a re-arm band, an event
 * cap and withdrawals; insurance deposits, a pool with ADL on and a floor, the BitMEX
 * ranking and ADL quantiles. su_step(e, i) makes call i (0 <= i < SU_STEPS) and returns its
 * status. Ids are those of a fresh engine (markets 1-3, accounts 1-5, positions from 1).
 * Every step succeeds when the steps run in order on a fresh engine. */
#define SU_STEPS 100
int su_step(margin_engine *e, int i);

/* Run every step on e (time 1000 + i before step i), requiring success. */
void su_run_scenario(margin_engine *e);

#endif
