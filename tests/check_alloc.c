/* Suite "alloc" (issue 12): allocation failures, and the event-queue cap.
 *
 * "sweep": the scripted scenario of tests/snapshot_util.c (markets and accounts created,
 * tiers, options, margin-call levels, mode changes, deposits and withdrawals, isolated and
 * cross opens, increases, reductions, a flip, closes, margin and leverage changes, stops,
 * funding, isolated and cross liquidations under both policies), with snapshot steps mixed
 * in (margin_snapshot_save, margin_snapshot_write, a second engine created and loaded with
 * margin_snapshot_read and margin_snapshot_load, margin_state_hash, the listings, events
 * taken), runs on an engine made by margin_engine_new_with_allocator() whose allocator
 * fails the k-th allocation, for every k from 1 to the number of allocations of the whole
 * run. For each k:
 *  - the call that meets the failure returns MARGIN_ENOMEM (margin_engine_new_with_allocator
 *    itself for k = 1, leaving its out-parameter alone);
 *  - it changed nothing: every getter (tests/snapshot_util.c: su_observe) and the snapshot
 *    bytes equal those of a reference run before that call; a failed write leaves the file
 *    as it was and no temporary file; a failed read or load leaves the target engine empty;
 *  - called again, with allocations succeeding, it returns what it returned in the
 *    reference run, and the run goes on: after the last step the snapshot bytes and every
 *    getter equal the reference's, and every block allocated has been freed when the
 *    engine is.
 * "sweep_persistent" does the same with every allocation from the k-th on failing, so that
 * a call failing twice in a row (the recovery path itself short of memory) changes nothing
 * either; for every third k to keep the time down.
 *
 * "event_cap": a call that would queue events past MARGIN_ENG_EVENT_CAP fails with
 * MARGIN_EFULL and changes nothing (getters and snapshot bytes), for deposits,
 * withdrawals, opens, trades, mark updates (liquidations, stops, margin calls) and funding;
 * with room for exactly the events the call makes (counted on a copy without a cap) it
 * succeeds with the same events as the copy; calls that make no event succeed at a full
 * queue; a cap below the queue's length only stops new events; with the queue off the cap
 * does not apply; after draining everything works. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "snapshot_util.h"
#include "suites.h"

/* ------------------------------------------------------------------ the run */

/* The snapshot steps mixed into the scenario. */
enum {
    X_SAVE = 1000, /* margin_snapshot_save into the test's buffer */
    X_HASH,        /* margin_state_hash */
    X_LIST,        /* the three listings */
    X_WRITE,       /* margin_snapshot_write */
    X_NEWF,        /* a second engine, same allocator */
    X_READ,        /* margin_snapshot_read into it */
    X_LOAD,        /* margin_snapshot_load into it (of the main engine's bytes) */
    X_CHECKF,      /* the second engine equals the main one */
    X_FREEF,       /* the second engine freed */
    X_NEXT,        /* three events taken */
};

#define MAXSTEPS 160
static int order[MAXSTEPS];
static int nsteps;

static void build_order(void)
{
    static const int snap_block[] = {X_SAVE, X_HASH, X_LIST, X_WRITE, X_NEWF, X_READ,
                                     X_CHECKF, X_FREEF, X_NEWF, X_LOAD, X_CHECKF, X_FREEF,
                                     X_NEXT};
    nsteps = 0;
    for (int i = 0; i < SU_STEPS; i++) {
        order[nsteps++] = i;
        if (i == 47 || i == SU_STEPS - 1)
            for (size_t j = 0; j < sizeof snap_block / sizeof snap_block[0]; j++)
                order[nsteps++] = snap_block[j];
    }
}

typedef struct {
    margin_engine *e, *f;
    su_alloc *al;
    char dir[4096], path[8192];
} run_t;

static int file_bytes(const char *path, uint8_t **out, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    size_t cap = 1 << 20;
    if (fp == NULL) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    *out = malloc(cap);
    ck_assert(*out != NULL);
    *n = fread(*out, 1, cap, fp);
    fclose(fp);
    return 1;
}

/* Entries of the directory other than the snapshot file. */
static int strays(const run_t *r)
{
    DIR *d = opendir(r->dir);
    struct dirent *de;
    int n = 0;
    ck_assert(d != NULL);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
             strcmp(de->d_name, "snap.bin") != 0;
    closedir(d);
    return n;
}

/* The scenario's clock: time 1000 + i before its step i (set outside the step, so that the
 * state before a step includes it). */
static void set_time(run_t *r, int s)
{
    if (s < SU_STEPS)
        ck_assert_ok(r->e, margin_engine_set(r->e, MARGIN_ENG_TIME, 1000 + s));
}

static int do_step(run_t *r, int s)
{
    size_t n;
    uint8_t *b;
    int rc;
    if (s < SU_STEPS)
        return su_step(r->e, s);
    switch (s) {
    case X_SAVE:
        b = su_save(r->e, &n); /* the size query, then the save */
        free(b);
        return MARGIN_OK;
    case X_HASH: {
        uint64_t h;
        return margin_state_hash(r->e, &h);
    }
    case X_LIST: {
        uint64_t ids[64];
        rc = margin_positions(r->e, MARGIN_STATUS_ANY, ids, 64, &n);
        if (rc == MARGIN_OK)
            rc = margin_account_positions(r->e, 2, MARGIN_STATUS_CLOSED, ids, 64, &n);
        if (rc == MARGIN_OK)
            rc = margin_market_positions(r->e, 1, MARGIN_STATUS_OPEN, ids, 64, &n);
        return rc;
    }
    case X_WRITE:
        return margin_snapshot_write(r->e, r->path);
    case X_NEWF:
        return margin_engine_new_with_allocator(&r->f, su_malloc, su_realloc, su_free, r->al);
    case X_READ:
        return margin_snapshot_read(r->f, r->path);
    case X_LOAD:
        b = su_save(r->e, &n);
        rc = margin_snapshot_load(r->f, b, n);
        free(b);
        return rc;
    case X_CHECKF:
        su_require_same(r->e, r->f, "the second engine");
        return MARGIN_OK;
    case X_FREEF:
        margin_engine_free(r->f);
        r->f = NULL;
        return MARGIN_OK;
    case X_NEXT:
        for (int i = 0; i < 3; i++) {
            int32_t t;
            if ((rc = margin_event_next(r->e, &t)) != MARGIN_OK)
                return rc;
        }
        return MARGIN_OK;
    default:
        return MARGIN_EINVAL;
    }
}

/* The reference run: every step's status, and the state before each step. */
static struct {
    int rc[MAXSTEPS];
    uint8_t *snap[MAXSTEPS + 1];
    size_t len[MAXSTEPS + 1];
    su_obs obs[MAXSTEPS + 1];
    su_obs empty; /* a fresh engine */
    long allocs;  /* allocations of the whole run */
} R;

static void make_dir(run_t *r)
{
    const char *base = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/margin-alloc-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_msg(mkdtemp(r->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(r->path, sizeof r->path, "%s/snap.bin", r->dir);
}

static void remove_dir(run_t *r)
{
    DIR *d = opendir(r->dir);
    struct dirent *de;
    char p[8192 + 256];
    if (d != NULL) {
        while ((de = readdir(d)) != NULL)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                snprintf(p, sizeof p, "%s/%s", r->dir, de->d_name);
                (void)remove(p);
            }
        closedir(d);
    }
    (void)rmdir(r->dir);
}

static void reference(void)
{
    su_alloc al = {0};
    run_t r;
    margin_engine *fresh = NULL;
    memset(&r, 0, sizeof r);
    build_order();
    make_dir(&r);
    r.al = &al;
    ck_assert_int_eq(margin_engine_new_with_allocator(&r.e, su_malloc, su_realloc, su_free, &al),
                     MARGIN_OK);
    for (int i = 0; i < nsteps; i++) {
        set_time(&r, order[i]);
        R.snap[i] = su_save(r.e, &R.len[i]);
        su_observe(r.e, &R.obs[i]);
        R.rc[i] = do_step(&r, order[i]);
        ck_assert_msg(R.rc[i] == MARGIN_OK, "reference step %d (%d): %d (%s)", i, order[i],
                      R.rc[i], margin_errmsg(r.e));
    }
    R.snap[nsteps] = su_save(r.e, &R.len[nsteps]);
    su_observe(r.e, &R.obs[nsteps]);
    R.allocs = al.count;
    margin_engine_free(r.e);
    ck_assert_int_eq(al.live, 0);
    ck_assert_int_gt(R.allocs, 50);
    ck_assert_int_eq(margin_engine_new(&fresh), MARGIN_OK);
    su_observe(fresh, &R.empty);
    margin_engine_free(fresh);
    remove_dir(&r);
}

static void reference_free(void)
{
    for (int i = 0; i <= nsteps; i++) {
        free(R.snap[i]);
        su_obs_free(&R.obs[i]);
    }
    su_obs_free(&R.empty);
    memset(&R, 0, sizeof R);
}

/* What a failed call must have left: everything as before it. */
static void require_unchanged(run_t *r, int i, const uint8_t *file_before, size_t file_len,
                              int had_file, const char *what)
{
    su_obs o = {0};
    size_t n;
    uint8_t *s;
    char msg[200];
    snprintf(msg, sizeof msg, "%s: step %d (%d) failed for lack of memory", what, i, order[i]);
    su_observe(r->e, &o);
    su_obs_require_same(&R.obs[i], &o, msg);
    su_obs_free(&o);
    s = su_save(r->e, &n);
    ck_assert_msg(su_bytes_diff(s, n, R.snap[i], R.len[i]) < 0,
                  "%s: snapshot bytes changed (first at byte %ld of %zu; %zu before)", msg,
                  su_bytes_diff(s, n, R.snap[i], R.len[i]), n, R.len[i]);
    free(s);
    if (order[i] == X_WRITE) {
        uint8_t *fb;
        size_t fn;
        int has = file_bytes(r->path, &fb, &fn);
        ck_assert_msg(has == had_file && (!has || su_bytes_diff(fb, fn, file_before, file_len) < 0),
                      "%s: the file changed", msg);
        free(fb);
        ck_assert_msg(strays(r) == 0, "%s: a temporary file was left", msg);
    }
    if ((order[i] == X_READ || order[i] == X_LOAD) && r->f != NULL) {
        su_observe(r->f, &o);
        su_obs_require_same(&R.empty, &o, msg);
        su_obs_free(&o);
    }
    if (order[i] == X_NEWF)
        ck_assert_msg(r->f == NULL, "%s: the out-parameter was written", msg);
}

/* One run with the k-th allocation failing (and, persistent, every one after it until
 * the failing call has been retried once). */
static void run_failing(long k, int persistent)
{
    su_alloc al = {0};
    run_t r;
    char what[64];
    int hits = 0;
    memset(&r, 0, sizeof r);
    snprintf(what, sizeof what, "k = %ld%s", k, persistent ? " (persistent)" : "");
    make_dir(&r);
    r.al = &al;
    al.fail_at = k;
    al.persistent = persistent;
    r.e = (margin_engine *)&al; /* a sentinel: must stay as it is on failure */
    {
        int rc = margin_engine_new_with_allocator(&r.e, su_malloc, su_realloc, su_free, &al);
        if (rc != MARGIN_OK) {
            ck_assert_msg(rc == MARGIN_ENOMEM && k == 1, "%s: engine_new %d", what, rc);
            ck_assert_msg(r.e == (margin_engine *)&al, "%s: out written on failure", what);
            al.fail_at = 0;
            hits++;
            ck_assert_int_eq(margin_engine_new_with_allocator(&r.e, su_malloc, su_realloc,
                                                              su_free, &al),
                             MARGIN_OK);
        }
    }
    for (int i = 0; i < nsteps; i++) {
        long before;
        uint8_t *fb = NULL;
        size_t fn = 0;
        int had = order[i] == X_WRITE ? file_bytes(r.path, &fb, &fn) : 0;
        int rc;
        set_time(&r, order[i]);
        before = al.failures;
        rc = do_step(&r, order[i]);
        if (al.failures > before) {
            hits++;
            ck_assert_msg(rc == MARGIN_ENOMEM, "%s: step %d (%d) met a failed allocation and "
                          "returned %d (%s)", what, i, order[i], rc, margin_errmsg(r.e));
            require_unchanged(&r, i, fb, fn, had, what);
            if (persistent) { /* again, still short of memory */
                rc = do_step(&r, order[i]);
                ck_assert_msg(rc == MARGIN_ENOMEM, "%s: step %d (%d) again: %d", what, i,
                              order[i], rc);
                require_unchanged(&r, i, fb, fn, had, what);
            }
            al.fail_at = 0;
            rc = do_step(&r, order[i]);
        }
        free(fb);
        ck_assert_msg(rc == R.rc[i], "%s: step %d (%d): %d (%s), the reference %d", what, i,
                      order[i], rc, margin_errmsg(r.e), R.rc[i]);
    }
    ck_assert_msg(hits == 1, "%s: %d calls met the failure", what, hits);
    {
        su_obs o = {0};
        size_t n;
        uint8_t *s = su_save(r.e, &n);
        ck_assert_msg(su_bytes_diff(s, n, R.snap[nsteps], R.len[nsteps]) < 0,
                      "%s: the run ended in another state", what);
        free(s);
        su_observe(r.e, &o);
        su_obs_require_same(&R.obs[nsteps], &o, what);
        su_obs_free(&o);
    }
    margin_engine_free(r.e);
    margin_engine_free(r.f);
    ck_assert_msg(al.live == 0, "%s: %ld blocks never freed", what, al.live);
    remove_dir(&r);
}

START_TEST(test_sweep)
{
    reference();
    for (long k = 1; k <= R.allocs; k++)
        run_failing(k, 0);
    reference_free();
}
END_TEST

START_TEST(test_sweep_persistent)
{
    reference();
    for (long k = 1; k <= R.allocs; k += 3)
        run_failing(k, 1);
    reference_free();
}
END_TEST

/* The allocator's contract from the other side: NULL functions are refused, and an engine
 * that never meets a failure frees everything it took. */
START_TEST(test_allocator_api)
{
    margin_engine *e = NULL;
    su_alloc al = {0};
    ck_assert_int_eq(margin_engine_new_with_allocator(NULL, su_malloc, su_realloc, su_free, &al),
                     MARGIN_EINVAL);
    ck_assert_int_eq(margin_engine_new_with_allocator(&e, NULL, su_realloc, su_free, &al),
                     MARGIN_EINVAL);
    ck_assert_int_eq(margin_engine_new_with_allocator(&e, su_malloc, NULL, su_free, &al),
                     MARGIN_EINVAL);
    ck_assert_int_eq(margin_engine_new_with_allocator(&e, su_malloc, su_realloc, NULL, &al),
                     MARGIN_EINVAL);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(al.count, 0);
    ck_assert_int_eq(margin_engine_new_with_allocator(&e, su_malloc, su_realloc, su_free, &al),
                     MARGIN_OK);
    su_run_scenario(e);
    ck_assert_int_gt(al.live, 0);
    margin_engine_free(e);
    ck_assert_int_eq(al.live, 0);
}
END_TEST

/* ------------------------------------------------------------------ the event cap */

static int64_t pending(const margin_engine *e)
{
    return eng_get(e, MARGIN_ENG_EVENTS_PENDING);
}

/* A call of the cap tests, on engine e. */
typedef int (*call_fn)(margin_engine *e);

static int c_deposit(margin_engine *e) { return margin_account_deposit(e, 1, D("10")); }
static int c_withdraw(margin_engine *e) { return margin_account_withdraw(e, 1, D("10")); }
static int c_open(margin_engine *e)
{
    uint64_t id;
    return margin_position_open(e, 1, 1, MARGIN_LONG, DS("0.01", 8), DS("19155", 8), D("10"),
                                0, 0, &id);
}
static int c_trade(margin_engine *e)
{
    return margin_position_trade(e, 1, MARGIN_LONG, DS("0.01", 8), DS("19155", 8), 0);
}
static int c_close(margin_engine *e) { return margin_position_close(e, 11, DS("19155", 8), 0); }
/* BTCUSDT down to 18000: position 11 (long 0.2 at 19400, 50x) is liquidated, and others
 * may fire levels */
static int c_mark_liq(margin_engine *e) { return margin_mark_update(e, 1, DS("18000", 8)); }
/* up to 29500: position 1's take-profit (29000) fires */
static int c_mark_take(margin_engine *e) { return margin_mark_update(e, 1, DS("29500", 8)); }
/* SOLUSDT down: account 5's cross book liquidated */
static int c_mark_cross(margin_engine *e) { return margin_mark_update(e, 3, DS("12", 4)); }
static int c_funding(margin_engine *e)
{
    return margin_funding_apply(e, 1, D("0.001"), DS("19155", 8));
}
static int c_funding_liq(margin_engine *e)
{
    return margin_funding_apply(e, 3, D("0.01"), DS("13", 4));
}

static const struct {
    const char *name;
    call_fn fn;
} CALLS[] = {
    {"deposit", c_deposit},        {"withdraw", c_withdraw},
    {"open", c_open},              {"trade", c_trade},
    {"close", c_close},            {"mark update (liquidation)", c_mark_liq},
    {"mark update (take-profit)", c_mark_take}, {"mark update (cross)", c_mark_cross},
    {"funding", c_funding},        {"funding and liquidation", c_funding_liq},
};
#define NCALLS (sizeof CALLS / sizeof CALLS[0])

static margin_engine *scenario_engine(void)
{
    margin_engine *e = NULL;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    su_run_scenario(e);
    return e;
}

START_TEST(test_cap_refuses_whole)
{
    margin_engine *base = scenario_engine(), *probe, *e, *before;
    int64_t q, n;
    int rc;
    const char *name = CALLS[_i].name;
    /* how many events the call makes: on a copy without a cap */
    probe = su_clone(base, name);
    ck_assert_ok(probe, margin_engine_set(probe, MARGIN_ENG_EVENT_CAP, 0));
    q = pending(probe);
    ck_assert_ok(probe, CALLS[_i].fn(probe));
    n = pending(probe) - q;
    ck_assert_msg(n >= 1, "%s makes no event", name);
    /* one short: refused, nothing changed */
    e = su_clone(base, name);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, q + n - 1));
    before = su_clone(e, name);
    rc = CALLS[_i].fn(e);
    ck_assert_msg(rc == MARGIN_EFULL, "%s with room for %lld of its %lld events: %d (%s)", name,
                  (long long)(n - 1), (long long)n, rc, margin_errmsg(e));
    ck_assert_msg(strstr(margin_errmsg(e), "cap") != NULL, "%s: %s", name, margin_errmsg(e));
    su_require_same_state(before, e, name);
    /* room for exactly its events: done, the same as the copy */
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, q + n));
    ck_assert_ok(probe, margin_engine_set(probe, MARGIN_ENG_EVENT_CAP, q + n));
    ck_assert_ok(e, CALLS[_i].fn(e));
    su_require_same_state(probe, e, name);
    ck_assert_int_eq(pending(e), q + n);
    /* now full: the next call that makes an event is refused; after draining it works */
    ck_assert_rc(e, margin_account_deposit(e, 2, 1), MARGIN_EFULL);
    su_drain_same(e, probe, name);
    ck_assert_ok(e, margin_account_deposit(e, 2, 1));
    margin_engine_free(before);
    margin_engine_free(probe);
    margin_engine_free(e);
    margin_engine_free(base);
}
END_TEST

START_TEST(test_cap_full_queue)
{
    margin_engine *e = scenario_engine(), *before;
    int64_t q = pending(e);
    int32_t t;
    ck_assert_int_gt(q, 10);
    /* a cap below the queue's length: the queue stays, new events are refused */
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, q - 5));
    ck_assert_int_eq(pending(e), q);
    before = su_clone(e, "full");
    for (size_t i = 0; i < NCALLS; i++) {
        ck_assert_msg(CALLS[i].fn(e) == MARGIN_EFULL, "%s at a full queue: %s", CALLS[i].name,
                      margin_errmsg(e));
        su_require_same_state(before, e, CALLS[i].name);
    }
    /* what makes no event still works at a full queue */
    ck_assert_ok(e, margin_position_set_stops(e, 1, DS("15000", 8), 0));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 99));
    ck_assert_ok(e, margin_mark_update(e, 1, DS("19061", 8))); /* crosses no trigger (the scenario ends at 19,060) */
    ck_assert_ok(e, margin_event_next(e, &t));
    ck_assert_int_eq(pending(e), q - 1);
    ck_assert_rc(e, margin_account_deposit(e, 1, 1), MARGIN_EFULL); /* q - 1 > cap */
    /* drained to below the cap: works again */
    for (int i = 0; i < 5; i++)
        ck_assert_ok(e, margin_event_next(e, &t));
    ck_assert_ok(e, margin_account_deposit(e, 1, 1));
    ck_assert_rc(e, margin_account_deposit(e, 1, 1), MARGIN_EFULL);
    /* no cap: no limit */
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 0));
    ck_assert_ok(e, c_mark_liq(e));
    margin_engine_free(before);
    margin_engine_free(e);
}
END_TEST

/* An open refused at the start of a block of 1024 position ids changes nothing: its
 * snapshot is the one from before, and it loads (the block allocated ahead for the id is
 * not state: the snapshot once held it and its own load rejected it, "block count"). */
START_TEST(test_cap_open_at_block_boundary)
{
    margin_engine *e = NULL, *before, *t;
    uint64_t m, a, id;
    size_t n;
    uint8_t *b;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D("1000")));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1)); /* full */
    before = su_clone(e, "before the open");
    ck_assert_rc(e, margin_position_open(e, a, m, MARGIN_LONG, DS("0.1", 8), DS("20000", 8),
                                         D("10"), 0, 0, &id),
                 MARGIN_EFULL);
    su_require_same_state(before, e, "an open refused at a block boundary");
    b = su_save(e, &n);
    ck_assert_int_eq(margin_engine_new(&t), MARGIN_OK);
    ck_assert_ok(t, margin_snapshot_load(t, b, n));
    free(b);
    margin_engine_free(t);
    margin_engine_free(before);
    margin_engine_free(e);
}
END_TEST

/* With the queue off nothing is queued, so the cap never refuses; the callback sees every
 * event. */
static int seen;
static void count_cb(void *user, const margin_engine *e, int32_t type)
{
    (void)user;
    (void)e;
    (void)type;
    seen++;
}

START_TEST(test_cap_queue_off)
{
    margin_engine *e = scenario_engine();
    int32_t t;
    do
        ck_assert_ok(e, margin_event_next(e, &t));
    while (t != MARGIN_EV_NONE);
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1));
    ck_assert_ok(e, margin_engine_set_callback(e, count_cb, NULL));
    seen = 0;
    for (size_t i = 0; i < NCALLS; i++)
        ck_assert_msg(CALLS[i].fn(e) != MARGIN_EFULL, "%s refused with the queue off",
                      CALLS[i].name);
    ck_assert_int_ge(seen, (int)NCALLS);
    ck_assert_int_eq(pending(e), 0);
    ck_assert_rc(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, -1), MARGIN_EINVAL);
    margin_engine_free(e);
}
END_TEST

Suite *suite_alloc(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_allocator_api);
    tcase_add_test(tc, test_sweep);
    tcase_add_test(tc, test_sweep_persistent);
    suite_add_tcase(s, tc);
    tc = tcase_create("event_cap");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_cap_refuses_whole, 0, (int)NCALLS);
    tcase_add_test(tc, test_cap_full_queue);
    tcase_add_test(tc, test_cap_open_at_block_boundary);
    tcase_add_test(tc, test_cap_queue_off);
    suite_add_tcase(s, tc);
    return s;
}
