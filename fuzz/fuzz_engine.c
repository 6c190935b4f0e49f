/* libFuzzer harness: random operation sequences on two engines, one using the trigger
 * indexes and one the full scan. It traps (so the fuzzer reports a crash) when:
 *  - the two disagree on a status code, a result or any field of any event;
 *  - a failed call changed anything: a snapshot of every getter (engine keys and
 *    margin-call levels, market keys and tiers, account keys, position keys) is compared
 *    before and after each failed call, on each engine;
 *  - an account's books stop balancing,
 *      free + isolated == deposits - withdrawals + realized - fees + funding,
 *    or its isolated margin is not the sum of its open positions' margins;
 *  - a margin, free balance, isolated margin or maintenance margin (at the market's mark)
 *    is negative, or a removable margin exceeds the margin;
 *  - after a successful mark update or funding, an open position is left at or past its
 *    liquidation price;
 *  - the header's promises on statuses fail: a valid tier is refused or an invalid one
 *    accepted; removing exactly the removable margin
 *    fails for any reason but an overflow, or removing one unit more succeeds; a withdrawal
 *    beyond the free balance succeeds; a mark, funding mark or stop above the market's
 *    maximum price (MARGIN_MKT_MAX_PRICE, when the header has it) is accepted.
 *  - a cross account (chosen by the setup, in either liquidation policy) is left with a
 *    cross margin balance at or below its maintenance margin after a mark update or
 *    funding, or has a negative wallet without cross positions.
 *  - save, load, continue (one operation in sixteen, at a point of the event drain, and at
 *    the end of every input): the two engines' snapshots differ in a field other than the
 *    full-scan flag, the cross-evaluation counter and the cross positions' trigger keys
 *    (read with snapshot_walk.h), or their state hashes fail to differ exactly when their
 *    bytes do; a buffer one byte short is not refused whole; the engine loaded from a
 *    snapshot saves other bytes, hashes differently, answers a getter or the current event
 *    differently, or (it then replaces the engine) produces different events.
 * Sanitizers catch memory errors and undefined behaviour (UBSan) on the way.
 *
 * The first input bytes choose the market: any price and quantity scales from 0/0 to 18/18
 * (a refused pair keeps the default 8), tick and step, mark or entry basis, a fee to close
 * up to 0.2, maker and taker fees, up to four tiers whose maintenance amounts are derived,
 * given up to floor * rate (rounded up) or above it, margin-call levels and balances up
 * to nearly INT64_MAX. Then each operation reads a few bytes; prices, quantities and amounts
 * are picked from ordinary values, exact trigger prices, 1, the maximum price, one unit
 * beyond it and INT64_MAX; funding rates reach +-0.99999999. One input in four (two bits
 * of the cross selector, where the header has MARGIN_CONTRACT_INVERSE; the seeds
 * seed-inverse-*) makes the market inverse, contracts of 1, 10 or 100 quote units, with
 * cross accounts as on a linear one: then marks, fills and stops below its minimum price
 * must be refused.
 *
 * Build and run (see fuzz/README.md):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/include -Ilib \
 *         fuzz/fuzz_engine.c lib/(all .c files) -o fuzz_engine
 *   ./fuzz_engine -max_total_time=300
 * Add -DFUZZ_DEBUG to print each operation and the first difference (to replay a crash).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "margin.h"
#include "snapshot_walk.h"

#include <stdio.h>
#ifdef FUZZ_DEBUG
#define DBG(...) fprintf(stderr, __VA_ARGS__)
#else
#define DBG(...) ((void)0)
#endif

#define ONE 100000000LL
#define NACCT 3
#define MAXPOS 64

#ifdef MARGIN_MKT_MAX_PRICE
#define MKT_KEY_LAST MARGIN_MKT_MAX_PRICE
#else
#define MKT_KEY_LAST MARGIN_MKT_OPEN_POSITIONS
#endif

__extension__ typedef __int128 i128;

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint64_t take(input *in, int bytes)
{
    uint64_t v = 0;
    while (bytes-- > 0) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

/* a failed check names itself (fuzz/run.sh shows the line), then traps */
#define check(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);             \
            __builtin_trap();                                                               \
        }                                                                                   \
    } while (0)

static int64_t clamp(i128 v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : (int64_t)v;
}

static int64_t pow10i(int k)
{
    int64_t v = 1;
    while (k-- > 0)
        v *= 10;
    return v;
}

/* ------------------------------------------------------------------ state */
static struct {
    margin_engine *e[2];
    uint64_t mkt[2], acct[2][NACCT];
    int ps, qs;
    int64_t tick, step, maxp, minp; /* minp: the lowest mark (inverse: 0.01) */
    int inverse;
    uint64_t npos;
    unsigned cross; /* bit a: account a is in cross mode */
} F;

/* ceil(floor * mmr / 1e8): the largest maintenance amount a tier may be given */
static int64_t max_amount(int64_t floor, int64_t mmr)
{
    i128 v = (i128)floor * mmr, q = v / ONE;
    if (v % ONE != 0)
        q++;
    return clamp(q, 0, INT64_MAX);
}

/* Every getter of engine k, as (status, value) pairs. */
#define SNAP_MAX (2 * (11 + 9 + 16 + 4 * 32 + NACCT * 17 + MAXPOS * 15))
typedef struct {
    size_t n;
    int64_t v[SNAP_MAX];
} snap_t;

static snap_t before[2], after[2];

static void put(snap_t *s, int rc, int64_t v)
{
    check(s->n + 2 <= SNAP_MAX);
    s->v[s->n++] = rc;
    s->v[s->n++] = rc == MARGIN_OK ? v : 0;
}

static void snap(int k, snap_t *s)
{
    const margin_engine *e = F.e[k];
    int64_t v = 0, lv[8], t[4], ntiers = 0;
    size_t nl = 0;
    int rc;
    int32_t key;
    uint32_t i;
    uint64_t id;
    int a;
    s->n = 0;
    for (key = MARGIN_ENG_TIME; key <= MARGIN_ENG_CROSS_EVALUATIONS; key++) {
        rc = margin_engine_get(e, key, &v);
        /* the paths differ in these two only */
        put(s, rc, key == MARGIN_ENG_FULL_SCAN || key == MARGIN_ENG_CROSS_EVALUATIONS ? 0 : v);
    }
    memset(lv, 0, sizeof lv);
    rc = margin_engine_margin_call_levels(e, lv, 8, &nl);
    put(s, rc, (int64_t)nl);
    for (i = 0; i < 8; i++)
        put(s, MARGIN_OK, lv[i]);
    for (key = MARGIN_MKT_PRICE_SCALE; key <= MKT_KEY_LAST; key++) {
        rc = margin_market_get(e, F.mkt[k], key, &v);
        put(s, rc, v);
        if (key == MARGIN_MKT_TIER_COUNT && rc == MARGIN_OK)
            ntiers = v;
    }
    check(ntiers >= 1 && ntiers <= 32);
    for (i = 0; i < (uint32_t)ntiers; i++) {
        rc = margin_market_tier(e, F.mkt[k], i, &t[0], &t[1], &t[2], &t[3]);
        put(s, rc, t[0]);
        put(s, rc, t[1]);
        put(s, rc, t[2]);
        put(s, rc, t[3]);
    }
    for (a = 0; a < NACCT; a++)
        for (key = MARGIN_ACCT_FREE_BALANCE; key <= MARGIN_ACCT_CROSS_POSITIONS; key++) {
            rc = margin_account_get(e, F.acct[k][a], key, &v);
            put(s, rc, v);
        }
    for (id = 1; id <= F.npos; id++)
        for (key = MARGIN_POS_ACCOUNT; key <= MARGIN_POS_MODE; key++) {
            rc = margin_position_get(e, id, key, &v);
            put(s, rc, v);
        }
}

static int snap_equal(const snap_t *a, const snap_t *b)
{
    return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof a->v[0]) == 0;
}

/* ------------------------------------------------------------------ invariants */
static void check_books(int k)
{
    const margin_engine *e = F.e[k];
    i128 iso_sum[NACCT] = {0, 0, 0};
    uint64_t id;
    int a;
    for (id = 1; id <= F.npos; id++) {
        int64_t st = -1, m = -1, acct = 0, mm = 0, rm = 0;
        check(margin_position_get(e, id, MARGIN_POS_STATUS, &st) == MARGIN_OK);
        check(margin_position_get(e, id, MARGIN_POS_MARGIN, &m) == MARGIN_OK);
        check(m >= 0);
        if (st != MARGIN_STATUS_OPEN) {
            check(m == 0);
            continue;
        }
        check(margin_position_get(e, id, MARGIN_POS_ACCOUNT, &acct) == MARGIN_OK);
        for (a = 0; a < NACCT; a++)
            if ((uint64_t)acct == F.acct[k][a])
                iso_sum[a] += m;
        if (margin_position_at(e, id, MARGIN_AT_MAINT_MARGIN, 0, &mm) == MARGIN_OK)
            check(mm >= 0);
        if (margin_position_at(e, id, MARGIN_AT_REMOVABLE_MARGIN, 0, &rm) == MARGIN_OK)
            check(rm >= 0 && rm <= m);
    }
    for (a = 0; a < NACCT; a++) {
        int64_t v[9];
        int32_t key;
        for (key = 1; key <= 8; key++)
            if (key != MARGIN_ACCT_EQUITY)
                check(margin_account_get(e, F.acct[k][a], key, &v[key]) == MARGIN_OK);
        {
            /* a cross wallet may be below zero while cross positions' profit backs it */
            int64_t nx = 0;
            check(margin_account_get(e, F.acct[k][a], MARGIN_ACCT_CROSS_POSITIONS, &nx) ==
                  MARGIN_OK);
            check(v[MARGIN_ACCT_FREE_BALANCE] >= 0 || nx > 0);
        }
        check(v[MARGIN_ACCT_ISOLATED_MARGIN] >= 0);
        check(v[MARGIN_ACCT_ISOLATED_MARGIN] == iso_sum[a]);
        check((i128)v[MARGIN_ACCT_FREE_BALANCE] + v[MARGIN_ACCT_ISOLATED_MARGIN] ==
              (i128)v[MARGIN_ACCT_DEPOSITS] - v[MARGIN_ACCT_WITHDRAWALS] +
                  v[MARGIN_ACCT_REALIZED_PNL] - v[MARGIN_ACCT_FEES] + v[MARGIN_ACCT_FUNDING]);
    }
}

/* after a successful mark update or funding at mark P */
static void check_cleared(int k, int64_t P)
{
    uint64_t id;
    int a;
    for (a = 0; a < NACCT; a++) {
        int64_t nx = 0, bal = 0, mm = 0;
        check(margin_account_get(F.e[k], F.acct[k][a], MARGIN_ACCT_CROSS_POSITIONS, &nx) ==
              MARGIN_OK);
        if (nx > 0 &&
            margin_account_get(F.e[k], F.acct[k][a], MARGIN_ACCT_CROSS_MARGIN_BALANCE, &bal) ==
                MARGIN_OK &&
            margin_account_get(F.e[k], F.acct[k][a], MARGIN_ACCT_CROSS_MAINT_MARGIN, &mm) ==
                MARGIN_OK)
            check(bal > mm);
    }
    for (id = 1; id <= F.npos; id++) {
        int64_t st = -1, side = 0, lp = 0, mode = 0;
        check(margin_position_get(F.e[k], id, MARGIN_POS_STATUS, &st) == MARGIN_OK);
        check(margin_position_get(F.e[k], id, MARGIN_POS_MODE, &mode) == MARGIN_OK);
        if (st != MARGIN_STATUS_OPEN || mode == MARGIN_MODE_CROSS)
            continue;
        check(margin_position_get(F.e[k], id, MARGIN_POS_SIDE, &side) == MARGIN_OK);
        check(margin_position_get(F.e[k], id, MARGIN_POS_LIQ_PRICE, &lp) == MARGIN_OK);
        if (side == MARGIN_LONG)
            check(lp == 0 || P > lp);
        else
            check(P < lp);
    }
}

/* ------------------------------------------------------------------ snapshots */
#define FIELDS_MAX 65536
static sw_field fields[2][FIELDS_MAX];
static snap_t keep;

/* Engine k's snapshot in a new buffer (*n: its size), checked against the document: the
 * fields as docs/snapshot.md lays them out and the trailer's CRC-32C; with strict, also a
 * buffer one byte short refused whole (nothing written, the size given). */
static uint8_t *save_of(int k, size_t *n, int strict)
{
    size_t len = 0, got = 0;
    uint8_t *b;
    check(margin_snapshot_save(F.e[k], NULL, 0, &len) == MARGIN_OK);
    check(len >= 36);
    b = malloc(len);
    check(b != NULL);
    if (strict) {
        memset(b, 0xA5, len);
        check(margin_snapshot_save(F.e[k], b, len - 1, &got) == MARGIN_EBUFFER && got == len);
        check(b[0] == 0xA5 && b[len - 2] == 0xA5);
    }
    check(margin_snapshot_save(F.e[k], b, len, &got) == MARGIN_OK && got == len);
    *n = len;
    return b;
}

/* Save engine k's bytes a (with state hash h) into a new engine and put it in k's place:
 * the new engine saves the same bytes, has the same state hash and answers every getter
 * (and the current event) as the old one did. The caller then compares the two engines'
 * events as usual. */
static void reload(int k, const uint8_t *a, size_t n, uint64_t h)
{
    size_t n2 = 0;
    uint8_t *b = malloc(n);
    uint64_t h2 = 0;
    int64_t cur1[MARGIN_EVF_PATH_POINT + 1], cur2[MARGIN_EVF_PATH_POINT + 1];
    int rc1, rc2;
    margin_engine *fresh = NULL;
    check(b != NULL);
    snap(k, &keep);
    memset(cur1, 0, sizeof cur1);
    memset(cur2, 0, sizeof cur2);
    rc1 = margin_event_fields(F.e[k], cur1, MARGIN_EVF_PATH_POINT + 1);
    check(margin_engine_new(&fresh) == MARGIN_OK);
    rc2 = margin_snapshot_load(fresh, a, n);
    DBG("reload engine %d: %zu bytes, load -> %d %s\n", k, n, rc2,
        rc2 ? margin_errmsg(fresh) : "");
    check(rc2 == MARGIN_OK);
    check(margin_snapshot_save(fresh, b, n, &n2) == MARGIN_OK && n2 == n);
    check(memcmp(a, b, n) == 0);
    check(margin_state_hash(fresh, &h2) == MARGIN_OK && h2 == h);
    margin_engine_free(F.e[k]);
    F.e[k] = fresh;
    snap(k, &after[k]);
    check(snap_equal(&keep, &after[k]));
    rc2 = margin_event_fields(F.e[k], cur2, MARGIN_EVF_PATH_POINT + 1);
    check(rc1 == rc2 && memcmp(cur1, cur2, sizeof cur1) == 0);
    free(b);
}

/* First, the two engines hold the same state: their snapshots follow the document and
 * agree field by field but for what tells the paths apart (the full-scan flag, the
 * cross-evaluation counter, and the open cross positions' trigger keys, which only the
 * indexed path keeps), and the state hash tells the snapshots apart exactly when their
 * bytes differ. Then reload engine 1 (which 0), engine 0 (1) or both (2, 3). */
static void reload_some(unsigned which, int strict)
{
    size_t n[2], nf[2], i;
    uint8_t *b[2];
    uint64_t h[2];
    int k;
    for (k = 0; k < 2; k++) {
        b[k] = save_of(k, &n[k], strict);
        nf[k] = sw_walk(b[k], n[k], fields[k], FIELDS_MAX);
        check(nf[k] > 0);
        check(margin_state_hash(F.e[k], &h[k]) == MARGIN_OK);
    }
    check(n[0] == n[1] && nf[0] == nf[1]);
    for (i = 0; i < nf[0]; i++) {
        const sw_field *f = &fields[0][i];
        uint64_t x = sw_get(b[0] + f->off, f->size > 8 ? 0 : f->size);
        uint64_t y = sw_get(b[1] + f->off, f->size > 8 ? 0 : f->size);
        check(f->off == fields[1][i].off && f->role == fields[1][i].role &&
              f->sec == fields[1][i].sec);
        if (f->sec == SW_TRAILER || (f->sec == SW_ENGN && f->role == SWE_CROSS_EVALS) ||
            (f->sec == SW_POSN && (f->role == SWP_KEY_DOWN || f->role == SWP_KEY_UP)))
            continue;
        if (f->sec == SW_ENGN && f->role == SWE_FLAGS) {
            check((x & 1u) == 0 && (y & 1u) == 1); /* engine 1 is the full scan */
            x |= 1u;
        }
        if (x != y)
            DBG("snapshots differ: section %d role %d at %u: indexed %llu, full scan %llu\n",
                f->sec, f->role, f->off, (unsigned long long)x, (unsigned long long)y);
        check(x == y);
        check(f->size <= 8 || memcmp(b[0] + f->off, b[1] + f->off, f->size) == 0);
    }
    if (n[0] == n[1] && memcmp(b[0], b[1], n[0]) == 0)
        check(h[0] == h[1]);
    else
        check(h[0] != h[1]);
    if (which != 1)
        reload(1, b[1], n[1], h[1]);
    if (which != 0)
        reload(0, b[0], n[0], h[0]);
    free(b[0]);
    free(b[1]);
}

/* ------------------------------------------------------------------ values */
static int64_t cur_mark(void)
{
    int64_t m = 0;
    check(margin_market_get(F.e[0], F.mkt[0], MARGIN_MKT_MARK, &m) == MARGIN_OK);
    return m > 0 ? m : F.tick;
}

/* A price: near the mark, at a position's trigger (exactly or one unit off), or at an
 * edge of the representation. sel picks the kind, v the value. */
static int64_t pick_price(uint64_t sel, uint64_t v, uint64_t pos)
{
    int64_t c = cur_mark(), t = 0;
    switch (sel % 10) {
    case 0:
        return 1;
    case 1:
        return F.maxp;
    case 2:
        return F.maxp < INT64_MAX ? F.maxp + 1 : INT64_MAX;
    case 3:
        return INT64_MAX;
    case 4: /* a trigger price of a position, or one unit either side */
        (void)margin_position_get(F.e[0], pos, (int32_t)(MARGIN_POS_STOP_LOSS + v % 3), &t);
        if (t <= 0)
            (void)margin_position_at(F.e[0], pos,
                                     (v & 4) ? MARGIN_AT_MARGIN_CALL_PRICE
                                             : MARGIN_AT_BANKRUPTCY_PRICE,
                                     0, &t);
        return t > 0 ? clamp((i128)t + (int64_t)((v >> 3) % 3) - 1, 1, INT64_MAX) : c;
    case 5: /* any magnitude */
        return clamp((i128)((v % 0xFFFFFF) + 1) * pow10i((int)(sel / 10 % 19)), 1, INT64_MAX);
    default: /* within +-(v/2^24) of the mark, on the tick grid */
        t = clamp((i128)c + (i128)c * ((int64_t)(v % 2001) - 1000) / 10000, 1, INT64_MAX);
        return t >= F.tick ? t / F.tick * F.tick : F.tick;
    }
}

/* A quantity: a notional of up to ~1.7e7 USDT at the price (or at the maximum price), 1
 * unit, one step, or the largest on the grid. */
static int64_t pick_qty(uint64_t sel, uint64_t v, int64_t price)
{
    i128 q;
    int k = F.ps + F.qs - 8;
    switch (sel % 8) {
    case 0:
        return 1;
    case 1:
        return F.step;
    case 2:
        return INT64_MAX / F.step * F.step;
    default:
        q = (i128)(v % 0xFFFFFF + 1) * pow10i((int)(sel / 8 % 10));
        for (; k > 0; k--)
            q = q > ((i128)1 << 120) ? q : q * 10;
        for (; k < 0; k++)
            q /= 10;
        q /= (sel & 64) ? F.maxp : (price > 0 ? price : 1);
        q = q / F.step * F.step;
        return q < F.step ? F.step : clamp(q, 1, INT64_MAX);
    }
}

static int64_t pick_money(uint64_t sel, uint64_t v)
{
    switch (sel % 6) {
    case 0:
        return INT64_MAX;
    case 1:
        return INT64_MAX - (int64_t)(v % 1000);
    default:
        return clamp((i128)(v % 0xFFFFFF + 1) * pow10i((int)(sel / 6 % 19)), 1, INT64_MAX);
    }
}

static int64_t pick_rate(uint64_t sel, uint64_t v)
{
    int64_t r;
    switch (sel % 6) {
    case 0:
        r = ONE - 1;
        break;
    case 1:
        r = ONE; /* refused */
        break;
    default:
        r = (int64_t)(v % ONE);
        break;
    }
    return (sel & 0x80) ? -r : r;
}

/* ------------------------------------------------------------------ setup */
static void setup(input *in)
{
    int k, i;
    uint64_t sc = take(in, 2);
    int ps = (int)(sc % 19), qs = (int)(sc / 19 % 19);
    int basis = (int)(take(in, 1) & 1);
    uint64_t fsel = take(in, 1);
    int64_t close_fee = (fsel & 0x80) ? (int64_t)(fsel % 21) * 1000000 /* to 0.2 */
                                      : (int64_t)(fsel % 10) * 10000;
    uint64_t gsel = take(in, 2);
    int ntiers = (int)(take(in, 1) % 5);
    int64_t levels[3];
    size_t nlev = (size_t)(take(in, 1) % 4);
    int64_t small_deposit = pick_money(take(in, 1), take(in, 3));
    uint64_t xsel = take(in, 1);
    int64_t tiers[4][4];
    for (i = 0; i < (int)nlev; i++)
        levels[i] = (int64_t)(1 + take(in, 1) % 99) * ONE / 100;
    /* tiers: floors rising by powers of ten, rates rising, amounts derived, given (up to
     * the largest valid one) or given too large */
    {
        int64_t floor = 0, mmr = 0;
        for (i = 0; i < ntiers; i++) {
            uint64_t b = take(in, 2);
            if (i > 0)
                floor = clamp((i128)floor + (i128)(b % 1000 + 1) * pow10i((int)(b / 1000 % 19)),
                              0, INT64_MAX);
            mmr += 1 + (int64_t)(take(in, 1) * 40000);
            tiers[i][0] = floor;
            tiers[i][1] = mmr;
            tiers[i][2] = 0;
            switch (b >> 13) {
            case 0:
            case 1:
            case 2:
                tiers[i][3] = MARGIN_DERIVE;
                break;
            case 3:
            case 4:
                tiers[i][3] = max_amount(floor, mmr);
                break;
            case 5:
            case 6:
                tiers[i][3] = (int64_t)(b % 1000) < max_amount(floor, mmr)
                                  ? (int64_t)(b % 1000)
                                  : max_amount(floor, mmr);
                break;
            default:
                tiers[i][3] = clamp((i128)max_amount(floor, mmr) + 1 + (int64_t)(b % 7), 0,
                                    INT64_MAX);
                break;
            }
        }
    }
    for (k = 0; k < 2; k++) {
        int rc;
        int64_t v = 0;
        check(margin_engine_new(&F.e[k]) == MARGIN_OK);
        check(margin_engine_set(F.e[k], MARGIN_ENG_FULL_SCAN, k) == MARGIN_OK);
        check(margin_market_new(F.e[k], "EDGEUSDT", &F.mkt[k]) == MARGIN_OK);
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_PRICE_SCALE, ps) == MARGIN_OK);
        rc = margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_QTY_SCALE, qs);
#ifdef MARGIN_MKT_MAX_PRICE
        check(ps + qs > 28 ? rc == MARGIN_EINVAL : rc == MARGIN_OK);
#else
        check(rc == MARGIN_OK);
#endif
        check(margin_market_get(F.e[k], F.mkt[k], MARGIN_MKT_QTY_SCALE, &v) == MARGIN_OK);
        F.ps = ps;
        F.qs = (int)v;
#ifdef MARGIN_CONTRACT_INVERSE
        F.inverse = (xsel & 0x48) == 0x48; /* (bits 3 and 6: the older seeds keep theirs) */
        if (F.inverse) {
            static const int64_t sizes[4] = {ONE, 10 * ONE, 100 * ONE, 1};
            check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_CONTRACT,
                                    MARGIN_CONTRACT_INVERSE) == MARGIN_OK);
            check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_CONTRACT_SIZE,
                                    sizes[(xsel >> 4) & 3]) == MARGIN_OK);
        }
        F.minp = 1;
        check(margin_market_get(F.e[k], F.mkt[k], MARGIN_MKT_MIN_PRICE, &F.minp) == MARGIN_OK);
#else
        F.inverse = 0;
        F.minp = 1;
#endif
#ifdef MARGIN_MKT_MAX_PRICE
        check(margin_market_get(F.e[k], F.mkt[k], MARGIN_MKT_MAX_PRICE, &F.maxp) == MARGIN_OK);
#else
        F.maxp = INT64_MAX;
#endif
        /* grid: one unit or a power of ten, within the scale */
        F.tick = (gsel & 1) ? 1 : pow10i((int)(gsel / 2 % (uint64_t)(F.ps + 1)));
        F.step = (gsel & 64) ? 1 : pow10i((int)(gsel / 128 % (uint64_t)(F.qs + 1)));
        if (F.tick > F.maxp)
            F.tick = 1;
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_TICK, F.tick) == MARGIN_OK);
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_STEP, F.step) == MARGIN_OK);
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_MM_BASIS, basis) == MARGIN_OK);
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_CLOSE_FEE, close_fee) == MARGIN_OK);
        check(margin_market_set(F.e[k], F.mkt[k], MARGIN_MKT_TAKER_FEE,
                                (int64_t)(gsel >> 10) * 1000) == MARGIN_OK);
        for (i = 0; i < ntiers; i++) {
            int64_t *t = tiers[i];
            /* any given amount >= 0 is taken, even above floor * rate (the maintenance
             * margin is then 0 below cum / mmr, never negative: check_books) */
            rc = margin_market_add_tier(F.e[k], F.mkt[k], t[0], t[1], t[2], t[3]);
            if (t[1] + close_fee < ONE && (i == 0 || t[0] > tiers[i - 1][0]))
                check(rc == MARGIN_OK || (rc == MARGIN_EOVERFLOW && t[3] == MARGIN_DERIVE));
            else
                check(rc == MARGIN_EINVAL);
        }
        rc = margin_engine_set_margin_call_levels(F.e[k], levels, nlev);
        check(rc == MARGIN_OK || rc == MARGIN_EINVAL);
        check(margin_engine_set(F.e[k], MARGIN_ENG_CROSS_LIQUIDATION, (int64_t)(xsel >> 7)) ==
              MARGIN_OK);
        for (i = 0; i < NACCT; i++)
            check(margin_account_new(F.e[k], &F.acct[k][i]) == MARGIN_OK);
        /* from a few units to nearly INT64_MAX */
        check(margin_account_deposit(F.e[k], F.acct[k][0], INT64_MAX - 1000) == MARGIN_OK);
        check(margin_account_deposit(F.e[k], F.acct[k][1], 100000 * ONE) == MARGIN_OK);
        check(margin_account_deposit(F.e[k], F.acct[k][2], small_deposit) == MARGIN_OK);
        /* accounts in cross mode: none, one or two of them */
        F.cross = (unsigned)(xsel % 8) & 6u;
        for (i = 0; i < NACCT; i++)
            if (F.cross & (1u << i))
                check(margin_account_set_mode(F.e[k], F.acct[k][i], F.mkt[k],
                                              MARGIN_MODE_CROSS) == MARGIN_OK);
    }
    F.npos = 0;
}

/* ------------------------------------------------------------------ operations */
enum { WANT_ANY = 1, WANT_FAIL, WANT_OK_OR_OVERFLOW };

static int is_open(uint64_t pos)
{
    int64_t st = -1;
    return pos >= 1 && pos <= F.npos &&
           margin_position_get(F.e[0], pos, MARGIN_POS_STATUS, &st) == MARGIN_OK &&
           st == MARGIN_STATUS_OPEN;
}

static int64_t free_of(uint64_t acct)
{
    int64_t v = 0;
    check(margin_account_get(F.e[0], acct, MARGIN_ACCT_FREE_BALANCE, &v) == MARGIN_OK);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in;
    int k;
    int64_t last_seq = 0;

    in.p = data;
    in.n = size;
    memset(&F, 0, sizeof F);
    setup(&in);
    /* the setup's deposit events */
    for (;;) {
        int32_t t0, t1;
        check(margin_event_next(F.e[0], &t0) == MARGIN_OK);
        check(margin_event_next(F.e[1], &t1) == MARGIN_OK);
        check(t0 == t1);
        if (t0 == MARGIN_EV_NONE)
            break;
        check(margin_event_get(F.e[0], MARGIN_EVF_SEQ, &last_seq) == MARGIN_OK);
    }

    while (in.n > 0 && F.npos < MAXPOS - 1) {
        uint64_t opb = take(&in, 1);
        int op = (int)(opb % 16);
        uint64_t a = take(&in, 1), s1 = take(&in, 1), v1 = take(&in, 3), s2 = take(&in, 1),
                 v2 = take(&in, 3);
        /* a high nibble of 15 (one operation in sixteen): save, load and continue, at the
         * point of the event drain the next byte chooses (the queued events and the
         * current event are in the snapshot), on engine 1, 0 or both */
        uint64_t rb = (opb >> 4) == 15 ? take(&in, 1) : 0;
        int reload_at = (opb >> 4) == 15 ? (int)(rb >> 2) % 8 : -1, nev = 0;
        int rc[2], want = WANT_ANY;
        uint64_t pos = 1 + a % (F.npos + 2), new_id[2] = {0, 0};
        int32_t side = (a & 0x80) ? MARGIN_SHORT : MARGIN_LONG;
        int64_t price = pick_price(s1, v1, pos), x = 0, y = 0, out[2][2];
        int open_ = is_open(pos);
        uint64_t acct_i = a % NACCT;
        int64_t pfree = 0;
        memset(out, 0, sizeof out);
        if (open_) {
            int64_t pa = 0;
            check(margin_position_get(F.e[0], pos, MARGIN_POS_ACCOUNT, &pa) == MARGIN_OK);
            pfree = free_of((uint64_t)pa);
        }
        /* decide the arguments (on engine 0's state) and what the header promises */
        switch (op) {
        case 0:
        case 1: /* open */
            x = pick_qty(s2, v2, price);
            y = (int64_t)(1 + v2 % 125) * ONE;
            if (price > F.maxp || price < F.minp)
                want = WANT_FAIL;
            break;
        case 2:
        case 3: /* mark (op 3: or a candle, whose low may fall below 0: any status) */
#ifdef MARGIN_MKT_MAX_PRICE
            want = price > F.maxp || (price >= 1 && price < F.minp) ? MARGIN_ERANGE
                                                                     : WANT_OK_OR_OVERFLOW;
#endif
            if (op == 3 && (s2 & 1))
                want = WANT_ANY;
            break;
        case 4: /* trade: increase, reduce, close or flip */
            if (open_) {
                int64_t q = 0, ps = 0;
                check(margin_position_get(F.e[0], pos, MARGIN_POS_QTY, &q) == MARGIN_OK);
                check(margin_position_get(F.e[0], pos, MARGIN_POS_SIDE, &ps) == MARGIN_OK);
                switch (s2 % 4) {
                case 0:
                    x = q > F.step ? (int64_t)(1 + v2 % (uint64_t)((q - 1) / F.step)) * F.step
                                   : q;
                    side = (int32_t)-ps;
                    break;
                case 1:
                    x = q;
                    side = (int32_t)-ps;
                    break;
                case 2:
                    x = clamp((i128)q + F.step, 1, INT64_MAX);
                    side = (int32_t)-ps;
                    break;
                default:
                    x = pick_qty(s2 >> 2, v2, price);
                    break;
                }
            } else {
                x = pick_qty(s2, v2, price);
            }
            if (price > F.maxp || price < F.minp || !open_)
                want = WANT_FAIL;
            break;
        case 5: /* close */
            if (price > F.maxp || price < F.minp || !open_)
                want = WANT_FAIL;
            break;
        case 6: /* add margin */
            x = (s2 & 1) ? pfree : pick_money(s2 >> 1, v2);
            if (!open_ || x > pfree)
                want = WANT_FAIL;
            break;
        case 7: { /* remove margin: exactly the removable amount, one unit more, or any */
            int64_t rm = 0;
            int r = open_ ? margin_position_at(F.e[0], pos, MARGIN_AT_REMOVABLE_MARGIN, 0, &rm)
                          : MARGIN_ECLOSED;
            if (r == MARGIN_OK && s2 % 3 == 0) {
                x = rm;
                want = rm > 0 ? WANT_OK_OR_OVERFLOW : WANT_FAIL;
            } else if (r == MARGIN_OK && s2 % 3 == 1 && rm < INT64_MAX) {
                x = rm + 1;
                want = WANT_FAIL;
            } else {
                x = pick_money(s2, v2);
                if (r != MARGIN_OK || x > rm)
                    want = WANT_FAIL;
            }
            break;
        }
        case 8: /* leverage */
            x = (s2 & 1) ? (int64_t)(1 + v2 % 125) * ONE : pick_money(s2 >> 1, v2);
            if (!open_)
                want = WANT_FAIL;
            break;
        case 9: /* stops, at any price including beyond the maximum */
            x = (s2 & 1) ? 0 : price;
            y = (s2 & 2) ? 0 : pick_price(s2 >> 2, v2, pos);
            if (!open_)
                want = WANT_FAIL;
#ifdef MARGIN_MKT_MAX_PRICE
            else if (x > F.maxp || y > F.maxp || (x > 0 && x < F.minp) || (y > 0 && y < F.minp))
                want = MARGIN_ERANGE;
#endif
            break;
        case 10: /* funding with extreme rates */
            x = pick_rate(s2, v2);
            if (x >= ONE || x <= -ONE)
                want = price > F.maxp || price < F.minp ? WANT_FAIL : MARGIN_EINVAL;
#ifdef MARGIN_MKT_MAX_PRICE
            else if (price > F.maxp || (price >= 1 && price < F.minp))
                want = MARGIN_ERANGE;
#endif
            break;
        case 11: /* queries at any mark */
            x = MARGIN_AT_NOTIONAL + (int64_t)(s2 % 13);
            if (!open_)
                want = WANT_FAIL;
            break;
        case 12: /* deposit */
            x = (s2 & 1) ? clamp((i128)INT64_MAX - free_of(F.acct[0][acct_i]) + (s2 >> 1 & 1),
                                 0, INT64_MAX)
                         : pick_money(s2 >> 1, v2);
            if (x <= 0)
                want = MARGIN_EINVAL;
            else if (s2 & 0x40) { /* into the pool: refused only when a total would not fit */
                int64_t pool = 0, fund = 0, dep = 0;
                check(margin_market_get(F.e[0], F.mkt[0], MARGIN_MKT_INSURANCE, &pool) == MARGIN_OK);
                check(margin_engine_get(F.e[0], MARGIN_ENG_INSURANCE_FUND, &fund) == MARGIN_OK);
                check(margin_engine_get(F.e[0], MARGIN_ENG_INSURANCE_DEPOSITS, &dep) == MARGIN_OK);
                want = (i128)x > (i128)INT64_MAX - pool || (i128)x > (i128)INT64_MAX - fund ||
                               (i128)x > (i128)INT64_MAX - dep
                           ? MARGIN_EOVERFLOW
                           : MARGIN_OK;
            } else if ((i128)x > (i128)INT64_MAX - free_of(F.acct[0][acct_i]))
                want = WANT_FAIL;
            break;
        case 13: { /* withdraw: exactly the free balance, one unit more, or any */
            int64_t fr = free_of(F.acct[0][acct_i]);
            x = s2 % 3 == 0 ? fr : s2 % 3 == 1 ? clamp((i128)fr + 1, 0, INT64_MAX)
                                               : pick_money(s2, v2);
            if (x <= 0)
                want = MARGIN_EINVAL;
            else if (x > fr)
                want = MARGIN_EFUNDS;
            else if (x == fr && !((F.cross >> acct_i) & 1u))
                want = WANT_OK_OR_OVERFLOW;
            break;
        }
        case 14: /* margin-call levels */
            break;
        default: /* tier for a notional */
            x = pick_money(s2, v2);
            break;
        }
        for (k = 0; k < 2; k++)
            snap(k, &before[k]);
        check(snap_equal(&before[0], &before[1]));
        for (k = 0; k < 2; k++) {
            margin_engine *e = F.e[k];
            uint64_t ac = F.acct[k][acct_i];
            switch (op) {
            case 0:
            case 1:
                /* the cross flag as the mode wants it, or (rarely) the other way */
                rc[k] = margin_position_open(
                    e, ac, F.mkt[k], side, x, price, y,
                    (s2 & 0x80) ? pick_money(s1 >> 4, v1) : 0,
                    ((uint32_t)(s2 >> 5) & 1u) |
                        ((((F.cross >> acct_i) & 1u) ^ ((s1 & 0x0f) == 0 ? 1u : 0u))
                             ? MARGIN_FLAG_CROSS
                             : 0u),
                    &new_id[k]);
                break;
            case 2:
                rc[k] = margin_mark_update(e, F.mkt[k], price);
                break;
            case 3: /* a mark, or a candle around it (issue 13), on either path */
                if (s2 & 1) {
                    /* saturating: the prices may be anywhere, the call checks them */
                    int64_t w1, w2, cl, hi, lo;
                    if (__builtin_mul_overflow((int64_t)(v2 % 4096), F.tick, &w1))
                        w1 = INT64_MAX;
                    if (__builtin_mul_overflow((int64_t)((v2 >> 12) % 4096), F.tick, &w2))
                        w2 = INT64_MAX;
                    if (__builtin_add_overflow(price, (s2 & 2) ? w1 / 2 : -(w1 / 2), &cl))
                        cl = price;
                    if (__builtin_add_overflow(price > cl ? price : cl, w2, &hi))
                        hi = INT64_MAX;
                    if (__builtin_sub_overflow(price < cl ? price : cl, w1, &lo))
                        lo = INT64_MIN;
                    rc[k] = margin_mark_candle(e, F.mkt[k], price, hi, lo, cl,
                                               (s2 & 4) ? MARGIN_PATH_ADVERSE
                                                        : MARGIN_PATH_UPDOWN);
                } else {
                    rc[k] = margin_mark_update(e, F.mkt[k], price);
                }
                break;
            case 4:
                rc[k] = margin_position_trade(e, pos, side, x, price, (uint32_t)(v2 & 1));
                break;
            case 5:
                rc[k] = margin_position_close(e, pos, price, 0);
                break;
            case 6:
                rc[k] = margin_position_add_margin(e, pos, x);
                break;
            case 7:
                rc[k] = margin_position_remove_margin(e, pos, x);
                break;
            case 8:
                rc[k] = margin_position_set_leverage(e, pos, x);
                break;
            case 9:
                rc[k] = margin_position_set_stops(e, pos, x, y);
                break;
            case 10:
                rc[k] = margin_funding_apply(e, F.mkt[k], x, price);
                break;
            case 11:
                rc[k] = margin_position_at(e, pos, (int32_t)x, (s1 & 1) ? 0 : price, &out[k][0]);
                break;
            case 12: /* a deposit, or (issue 14) into the market's insurance pool */
                rc[k] = (s2 & 0x40) ? margin_insurance_deposit(e, F.mkt[k], x)
                                    : margin_account_deposit(e, ac, x);
                break;
            case 13:
                rc[k] = margin_account_withdraw(e, ac, x);
                break;
            case 14: {
                int64_t lv[2] = {(int64_t)(v1 % ONE), (int64_t)(v2 % ONE)};
                if ((s2 & 0x40) && (v1 & 0x200)) /* the ADL quantiles (issue 14) */
                    rc[k] = margin_market_adl_quantiles(e, F.mkt[k]);
                else if (s2 & 0x40) /* a liquidation or pool option (issues 13, 14), any value */
                    rc[k] = margin_market_set(e, F.mkt[k], MARGIN_MKT_LIQ_FEE + (int32_t)(v1 % 14),
                                              (v1 & 0x100) ? (int64_t)(v2 % 5) : (int64_t)(v2 % (2 * ONE)));
                else
                    rc[k] = margin_engine_set_margin_call_levels(e, lv, s2 % 3);
                break;
            }
            default:
                rc[k] = margin_market_tier_for(e, F.mkt[k], x, &out[k][0], &out[k][1]);
                break;
            }
        }
        DBG("op %d pos %llu side %d price %lld x %lld y %lld -> %d %d (%s) want %d\n", op,
            (unsigned long long)pos, (int)side, (long long)price, (long long)x, (long long)y,
            rc[0], rc[1], rc[0] ? margin_errmsg(F.e[0]) : "", want);
        check(rc[0] == rc[1]);
        check(new_id[0] == new_id[1] && out[0][0] == out[1][0] && out[0][1] == out[1][1]);
        if (rc[0] != MARGIN_OK)
            for (k = 0; k < 2; k++) {
                /* a failed call changes nothing */
                snap(k, &after[k]);
                check(snap_equal(&before[k], &after[k]));
            }
        if (want == WANT_FAIL)
            check(rc[0] != MARGIN_OK);
        else if (want == WANT_OK_OR_OVERFLOW)
            check(rc[0] == MARGIN_OK || rc[0] == MARGIN_EOVERFLOW);
        else if (want != WANT_ANY)
            check(rc[0] == want);
        if (rc[0] == MARGIN_OK && (op == 0 || op == 1)) {
            check(new_id[0] == F.npos + 1);
            F.npos = new_id[0];
        }
        for (;;) {
            int32_t t0, t1;
            int32_t f;
            if (reload_at == nev)
                reload_some((unsigned)(rb & 3), 0);
            check(margin_event_next(F.e[0], &t0) == MARGIN_OK);
            check(margin_event_next(F.e[1], &t1) == MARGIN_OK);
            check(t0 == t1);
            nev++;
            if (t0 == MARGIN_EV_NONE) {
                if (reload_at >= nev)
                    reload_some((unsigned)(rb & 3), 0); /* no current event, queue empty */
                break;
            }
            for (f = 1; f <= MARGIN_EVF_PATH_POINT; f++) {
                int64_t x0, x1;
                check(margin_event_get(F.e[0], f, &x0) == MARGIN_OK);
                check(margin_event_get(F.e[1], f, &x1) == MARGIN_OK);
                if (x0 != x1)
                    DBG("event type %d field %d: full scan %lld, indexed %lld\n", t0, f,
                        (long long)x0, (long long)x1);
                check(x0 == x1);
                if (f == MARGIN_EVF_SEQ) {
                    check(x0 == last_seq + 1);
                    last_seq = x0;
                }
                if (f == MARGIN_EVF_MARGIN)
                    check(x0 >= 0);
            }
        }
        for (k = 0; k < 2; k++) {
            check_books(k);
            if (rc[0] == MARGIN_OK && (op == 2 || op == 3 || op == 10))
                check_cleared(k, price);
        }
    }
    /* every input ends with a comparison of the whole states and a round trip of engine 1 */
    reload_some(0, 1);
    margin_engine_free(F.e[0]);
    margin_engine_free(F.e[1]);
    return 0;
}
