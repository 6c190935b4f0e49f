/* Suite "snapshot" (issue 12): margin_snapshot_save/load/write/read and margin_state_hash.
 *
 * Expected values come from invariants, from the format in docs/snapshot.md, or from hand
 * calculation; none is pasted from the library's output:
 *  - "round_trip": engines built by a script that reaches every kind of state
 *    (tests/snapshot_util.c: isolated and cross positions, hedge legs, stops, fired
 *    margin-call levels of positions and accounts, closed, stopped and liquidated positions,
 *    both cross policies, a deficit, queued events and a current event), and variants of
 *    it (empty engine, markets only, full scan, queue off, no levels, everything drained):
 *    save, load into a new engine, save again gives the same bytes, the same state hash and
 *    the same value from every getter. The bytes are also read back by a walker written
 *    from docs/snapshot.md alone (header, section heads, record sizes, CRC-32C, and every
 *    stored field against the getters), so the format is the documented one.
 *  - "restore": an engine loaded from a snapshot and the engine that saved it, continued
 *    with the same further calls (marks that liquidate, stop and fire levels, funding,
 *    trades, opens, closes, option changes, events taken one at a time), give the same
 *    status, the same events field by field, and the same snapshot bytes and state hash
 *    after every call; a chain of restores (save, load, continue, save, load...) too.
 *  - "hash": over every state of the scenario, hashes are equal exactly when snapshots
 *    are; every kind of change (time, a ledger unit, an option, the current event, a
 *    mark) changes both; engines built alike (other allocator, a callback) agree.
 *  - "api": the size query (NULL/0, MARGIN_EBUFFER with the exact size, nothing written),
 *    EINVAL cases, loading into a non-empty engine (MARGIN_ESTATE, nothing changed), an
 *    engine whose options alone were set loads (the options come from the snapshot), and
 *    the empty engine's size from the format (496 bytes, format version 4; a market 216).
 *  - "corrupt": wrong magic, unknown version, bad checksum (every byte, one bit each),
 *    truncation at every length, cuts with a consistent header, and out-of-range or
 *    inconsistent fields written into a valid snapshot with the CRC recomputed (each
 *    MARGIN_ECORRUPT with a message naming the field); after each failure the target
 *    engine is still empty (every getter, its snapshot bytes) and then loads a good
 *    snapshot.
 *  - "compat": tests/data/snapshot-v1.bin, made once from the scenario in
 *    build_compat_scenario() below, loads, and its figures match the hand calculation in
 *    the comments there; continuing it fires what the hand calculation says. With
 *    MARGIN_SNAPSHOT_V1_WRITE=path set, the test writes that file instead (how it was
 *    made: MARGIN_SNAPSHOT_V1_WRITE=$PWD/tests/data/snapshot-v1.bin CK_RUN_SUITE=snapshot
 *    CK_RUN_CASE=compat tests/check_margin, from the source tree, with a library of format
 *    1; a later library writes its own version). tests/data/snapshot-v2.bin holds the same
 *    scenario with format 2's options set on ETHUSDT, written by a library of format 2
 *    (commit 84c4ddd) through tests/data/make-snapshot-v2.c (its comment says how);
 *    tests/data/snapshot-v3.bin the same again with format 3's options (ADL, a pool floor,
 *    BitMEX's ranking) on ETHUSDT and BTCUSDT's quantiles, written by a library of format 3
 *    (commit 38fa0b2) through tests/data/make-snapshot-v3.c. The files load with the fund
 *    in the first market's pool and linear contracts (size 1, asset 0, minimum price 1),
 *    save as version 4 and load back the same; a version-2 file with a version-3 quantile
 *    flag is refused.
 *  - "round_trip" and "corrupt" also: inverse contracts (format 4) through a save and a
 *    load (test_contract_round_trip), and each bad contract field refused by name.
 *  - "round_trip" also: pools shared and own, deposits, ADL with a floor, BitMEX's
 *    ranking and quantiles through a save and a load (test_pool_round_trip); "corrupt":
 *    each inconsistent pool or quantile field refused by name.
 *  - "files": margin_snapshot_write/read round trip; read and write failures the system
 *    gives without fault injection (missing file, a directory, a missing directory, a
 *    directory in the way of the rename); and a child process killed with SIGKILL at
 *    random moments while it writes snapshots of a large engine in a loop, many times:
 *    the file always loads and is always one of the snapshots written, whole.
 *    (Failing each step of the write is tests/check_snapfile.c, a binary of its own.) */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../fuzz/snapshot_walk.h" /* the fuzzers' reader of the format, checked here too */
#include "helpers.h"
#include "snapshot_util.h"
#include "suites.h"

#define E8 100000000LL
#define MAXEV 4096

/* ------------------------------------------------------------------ the format, from docs/snapshot.md */

#define HDR 32
#define SECHEAD 16
/* The format version this library writes. */
#define VERSION 4
/* The event fields each format version stores: 1..23 (version 1), 1..25 (2), 1..27 (3
 * and 4). */
#define NF_OF(v) ((v) == 1 ? 23 : (v) == 2 ? 25 : 27)
/* ENGN: 6 i64 (48), 3 u32 (12), 8 i64 levels (64), u64 cap, u32 npos, u32 0, i64 closes,
 * i64 window (32): 156 bytes; then the current event, one i64 per stored field; version 3
 * adds an i64, the insurance deposits: 156 + 184 = 340 (v1), 156 + 200 = 356 (v2),
 * 156 + 216 + 8 = 380 (v3 and v4: version 4 changes only the markets) */
#define ENGN_LEN_V(v) (156 + 8 * NF_OF(v) + ((v) >= 3 ? 8 : 0))
#define ENGN_LEN ENGN_LEN_V(VERSION)
#define BLOCK 1024 /* position ids per POSN block */
#define EV_LEN_V(v) (8 * NF_OF(v))
#define EV_LEN EV_LEN_V(VERSION) /* 27 * 8 = 216 */
/* version 2 adds the liquidation options after a market's tiers (4 u8, a u32 pad, 5 i64:
 * 48 bytes), an account's last slice time after its cross markets (8); version 3 adds the
 * market's insurance pool after the liquidation options (u32 pool_of, u8 adl, u8 ranking,
 * u16 pad, i64 balance, i64 floor: 24 bytes); version 4 the contract after the pool (u8
 * contract type, u8 minimum price given, 6 zero bytes, i64 contract size, i64 settlement
 * asset, i64 minimum price: 1 + 1 + 6 + 3 * 8 = 32 bytes) */
#define MKT_V2 48
#define MKT_V3 24
#define MKT_V4 32
#define ACCT_V2 8
#define POS_FIXED 44
/* ENGN payload offsets */
#define EN_TIME 0
#define EN_INSURANCE 8
#define EN_LAST_SEQ 16
#define EN_LIQUIDATIONS 24
#define EN_CROSS_EVALS 32
#define EN_BAND 40
#define EN_POLICY 48
#define EN_FLAGS 52
#define EN_NLEVELS 56
#define EN_LEVELS 60
#define EN_CAP 124
#define EN_NPOS 132
#define EN_PAD 136
#define EN_CLOSES 140
#define EN_RETAIN 148
#define EN_CUR 156
#define EN_DEPOSITS (EN_CUR + 8 * 27) /* version 3: after the current event, 372 */
/* position flags */
#define PF_CROSS 1u
#define PF_REALIZED 2u
#define PF_FEES 4u
#define PF_FUNDING 8u
#define PF_STOP 16u
#define PF_TAKE 32u
#define PF_KEYS 64u
#define PF_ADLQ 128u /* version 3: the ADL quantile, an i64 after the keys */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int64_t rd64(const uint8_t *p)
{
    return (int64_t)((uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32);
}
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, int64_t v)
{
    wr32(p, (uint32_t)(uint64_t)v);
    wr32(p + 4, (uint32_t)((uint64_t)v >> 32));
}

static int64_t mkt_get(const margin_engine *e, uint64_t m, int32_t key)
{
    int64_t v = 0;
    ck_assert_ok(e, margin_market_get(e, m, key, &v));
    return v;
}

/* CRC-32C as the format gives it, bit by bit (independent of the library's tables). */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n-- > 0) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}
static void fix_crc(uint8_t *b, size_t n)
{
    wr32(b + n - 4, crc32c_ref(b, n - 4));
}

/* Where everything is in a snapshot, found by walking it as the format says. */
#define MAXREC 8192
typedef struct {
    size_t n;
    uint32_t version; /* the format version in the header */
    size_t head[5]; /* each section's head */
    size_t eng;     /* ENGN payload */
    size_t nm, na, np, nev, nblocks;
    size_t mkt[64], acct[64], ev;
    size_t pos[MAXREC];     /* record of position id i + 1; 0 in a retired block */
    size_t block[MAXREC / BLOCK + 1]; /* each block's u32 live flag */
} layout_t;
static layout_t L; /* big: not on the stack */

static const char *const TAGS[5] = {"ENGN", "MRKT", "ACCT", "POSN", "EVNT"};

/* Any format version (1 to 4): old files are walked with their own record sizes. */
static void walk_any(const uint8_t *b, size_t n, layout_t *l)
{
    size_t off = HDR, i;
    uint32_t v;
    memset(l, 0, sizeof *l);
    l->n = n;
    ck_assert_msg(n >= HDR + 4, "snapshot of %zu bytes", n);
    ck_assert_msg(memcmp(b, "LMARGIN\x1a", 8) == 0, "magic");
    v = rd32(b + 8);
    ck_assert_msg(v >= 1 && v <= VERSION, "format version %u", v);
    l->version = v;
    ck_assert_msg(n >= HDR + 5 * SECHEAD + (size_t)ENGN_LEN_V(v) + 4, "snapshot of %zu bytes", n);
    ck_assert_uint_eq(rd32(b + 12), 5);
    ck_assert_uint_eq((uint64_t)rd64(b + 16), n);
    ck_assert_int_eq(rd64(b + 24), 0);
    for (int s = 0; s < 5; s++) {
        uint32_t count;
        uint64_t plen;
        size_t p;
        ck_assert_msg(off + SECHEAD <= n - 4, "section %d head past the end", s);
        l->head[s] = off;
        ck_assert_msg(memcmp(b + off, TAGS[s], 4) == 0, "section %d is not %s", s, TAGS[s]);
        count = rd32(b + off + 4);
        plen = (uint64_t)rd64(b + off + 8);
        off += SECHEAD;
        ck_assert_msg(plen <= n - 4 - off, "section %s length %llu", TAGS[s],
                      (unsigned long long)plen);
        p = off;
        switch (s) {
        case 0:
            ck_assert_uint_eq(count, 1);
            ck_assert_uint_eq(plen, ENGN_LEN_V(v));
            l->eng = p;
            p += ENGN_LEN_V(v);
            break;
        case 1:
            ck_assert_msg(count <= 64, "%u markets", count);
            for (i = 0; i < count; i++) {
                uint8_t sl = b[p];
                l->mkt[i] = p;
                ck_assert_msg(sl >= 1 && sl <= 31, "symbol length %u", sl);
                ck_assert_msg(b[p + 1 + sl + 6] <= 1 && b[p + 1 + sl + 7] == 0, "used, padding");
                p += 1 + sl + 8 + 64 + (size_t)b[p + 1 + sl + 5] * 32 + (v >= 2 ? MKT_V2 : 0) +
                     (v >= 3 ? MKT_V3 : 0) + (v >= 4 ? MKT_V4 : 0);
            }
            l->nm = count;
            break;
        case 2:
            ck_assert_msg(count <= 64, "%u accounts", count);
            for (i = 0; i < count; i++) {
                l->acct[i] = p;
                p += 64 + 4 * (size_t)rd32(b + p + 60) + (v >= 2 ? ACCT_V2 : 0);
            }
            l->na = count;
            break;
        case 3:
            /* blocks of BLOCK ids: u32 live; for a live one i64 its last close, then its
             * records */
            l->np = rd32(b + l->eng + EN_NPOS);
            ck_assert_msg(l->np <= MAXREC, "%zu positions", l->np);
            ck_assert_uint_eq(count, (l->np + BLOCK - 1) / BLOCK);
            l->nblocks = count;
            for (size_t c = 0; c < count; c++) {
                uint32_t live = rd32(b + p);
                size_t end = (c + 1) * BLOCK < l->np ? (c + 1) * BLOCK : l->np;
                l->block[c] = p;
                ck_assert_msg(live <= 1, "block %zu live flag %u", c, live);
                p += 4;
                if (!live) {
                    ck_assert_msg(end - c * BLOCK == BLOCK, "a partial block retired");
                    for (i = c * BLOCK; i < end; i++)
                        l->pos[i] = 0;
                    continue;
                }
                ck_assert_msg(rd64(b + p) >= 0 && rd64(b + p) <= rd64(b + l->eng + EN_CLOSES),
                              "block %zu last close", c);
                p += 8;
                for (i = c * BLOCK; i < end; i++) {
                    unsigned fl = b[p];
                    l->pos[i] = p;
                    p += POS_FIXED;
                    for (unsigned bit = PF_REALIZED; bit <= PF_TAKE; bit <<= 1)
                        p += (fl & bit) ? 8 : 0;
                    p += (fl & PF_KEYS) ? 16 : 0;
                    if (v >= 3)
                        p += (fl & PF_ADLQ) ? 8 : 0;
                    else
                        ck_assert_msg(!(fl & PF_ADLQ), "an ADL quantile in version %u", v);
                }
            }
            break;
        default:
            l->ev = p;
            l->nev = count;
            p += (size_t)count * EV_LEN_V(v);
            break;
        }
        ck_assert_msg(p - off == plen, "section %s: items take %zu bytes, its head says %llu",
                      TAGS[s], p - off, (unsigned long long)plen);
        off = p;
    }
    ck_assert_msg(off == n - 4, "%zu bytes between the last section and the trailer",
                  n - 4 - off);
    ck_assert_msg(rd32(b + n - 4) == crc32c_ref(b, n - 4), "trailer is not the CRC-32C");
}

/* What this library writes: version 4. */
static void walk(const uint8_t *b, size_t n, layout_t *l)
{
    ck_assert_msg(n >= HDR + 4 && rd32(b + 8) == VERSION, "format version %u, want %d",
                  n >= 12 ? rd32(b + 8) : 0, VERSION);
    walk_any(b, n, l);
}

/* A market's insurance pool in a snapshot walked into L (version 3): after its symbol,
 * the 8 u8 and 8 i64 (72 bytes), its tiers and its liquidation options. */
#define MKP_OF(b, m)                                                                       \
    (L.mkt[m] + 1 + (b)[L.mkt[m]] + 72 + 32 * (size_t)(b)[L.mkt[m] + 1 + (b)[L.mkt[m]] + 5] + \
     MKT_V2)
/* A market's contract (version 4), after its pool: u8 type, u8 minimum price given, 6 zero
 * bytes, then at +8 the contract size, +16 the settlement asset, +24 the minimum price. */
#define MKC_OF(b, m) (MKP_OF(b, m) + MKT_V3)

/* An optional position field (0 when its flag is clear). */
static int64_t pos_opt(const uint8_t *b, size_t off, unsigned fl, unsigned bit)
{
    size_t p = off + POS_FIXED;
    for (unsigned k = PF_REALIZED; k < bit && k <= PF_TAKE; k <<= 1)
        p += (fl & k) ? 8 : 0;
    if (bit == PF_ADLQ) /* after the keys (16 bytes) */
        p += (fl & PF_KEYS) ? 16 : 0;
    return (fl & bit) ? rd64(b + p) : 0;
}

/* Every stored field of the snapshot against the getters of the engine that wrote it. */
static void check_fields(margin_engine *e, const uint8_t *b, size_t n)
{
    const uint8_t *en;
    int64_t v, cur[SU_NF], pools = 0;
    size_t nl = 0, i;
    int64_t lv[8];
    walk(b, n, &L);
    en = b + L.eng;
    ck_assert_int_eq(rd64(en + EN_TIME), eng_get(e, MARGIN_ENG_TIME));
    ck_assert_int_eq(rd64(en + EN_INSURANCE), eng_get(e, MARGIN_ENG_INSURANCE_FUND));
    ck_assert_int_eq(rd64(en + EN_LAST_SEQ), eng_get(e, MARGIN_ENG_LAST_SEQ));
    ck_assert_int_eq(rd64(en + EN_LIQUIDATIONS), eng_get(e, MARGIN_ENG_LIQUIDATIONS));
    ck_assert_int_eq(rd64(en + EN_CROSS_EVALS), eng_get(e, MARGIN_ENG_CROSS_EVALUATIONS));
    ck_assert_int_eq(rd64(en + EN_BAND), eng_get(e, MARGIN_ENG_REARM_BAND));
    ck_assert_int_eq(rd32(en + EN_POLICY), eng_get(e, MARGIN_ENG_CROSS_LIQUIDATION));
    ck_assert_int_eq(rd64(en + EN_CAP), eng_get(e, MARGIN_ENG_EVENT_CAP));
    ck_assert_uint_eq(rd32(en + EN_PAD), 0);
    ck_assert_int_eq(rd64(en + EN_DEPOSITS), eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS));
#ifdef MARGIN_ENG_RETAIN_CLOSED
    ck_assert_int_eq(rd64(en + EN_RETAIN), eng_get(e, MARGIN_ENG_RETAIN_CLOSED));
#endif
    ck_assert_int_ge(rd64(en + EN_CLOSES), eng_get(e, MARGIN_ENG_LIQUIDATIONS));
    ck_assert_ok(e, margin_engine_margin_call_levels(e, lv, 8, &nl));
    ck_assert_uint_eq(rd32(en + EN_NLEVELS), nl);
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(rd64(en + EN_LEVELS + 8 * i), i < nl ? lv[i] : 0);
    {
        uint32_t fl = rd32(en + EN_FLAGS);
        int has_cur = margin_event_fields(e, cur, SU_NF) == MARGIN_OK;
        ck_assert_uint_eq(fl & 1u, (uint32_t)eng_get(e, MARGIN_ENG_FULL_SCAN));
        ck_assert_uint_eq((fl >> 1) & 1u, (uint32_t)eng_get(e, MARGIN_ENG_EVENT_QUEUE));
        ck_assert_uint_eq((fl >> 2) & 1u, (uint32_t)has_cur);
        ck_assert_uint_eq(fl >> 3, 0);
        for (i = 1; i < SU_NF; i++)
            ck_assert_int_eq(rd64(en + EN_CUR + 8 * (i - 1)), has_cur ? cur[i] : 0);
    }
    for (i = 0; i < L.nm; i++) {
        const uint8_t *m = b + L.mkt[i];
        uint64_t id = i + 1;
        size_t sl = m[0];
        char sym[32];
        const uint8_t *o = m + 1 + sl;
        const int32_t keys[8] = {MARGIN_MKT_TICK,       MARGIN_MKT_STEP,      MARGIN_MKT_MAX_LEVERAGE,
                                 MARGIN_MKT_MAKER_FEE,  MARGIN_MKT_TAKER_FEE, MARGIN_MKT_CLOSE_FEE,
                                 MARGIN_MKT_MAX_PRICE,  MARGIN_MKT_MARK};
        ck_assert_ok(e, margin_market_symbol(e, id, sym, sizeof sym));
        ck_assert_uint_eq(strlen(sym), sl);
        ck_assert(memcmp(sym, m + 1, sl) == 0);
        ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_PRICE_SCALE, &v));
        ck_assert_int_eq(o[0], v);
        ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_QTY_SCALE, &v));
        ck_assert_int_eq(o[1], v);
        ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_MM_BASIS, &v));
        ck_assert_int_eq(o[2], v);
        ck_assert_msg(o[3] <= 1 && o[4] <= 1, "max price / tiers given flags");
        ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_TIER_COUNT, &v));
        ck_assert_int_eq(o[5], v);
        for (int k = 0; k < 8; k++) {
            ck_assert_ok(e, margin_market_get(e, id, keys[k], &v));
            ck_assert_int_eq(rd64(o + 8 + 8 * k), v);
        }
        for (uint32_t t = 0; t < o[5]; t++) {
            int64_t tf, tm, tl, ta;
            ck_assert_ok(e, margin_market_tier(e, id, t, &tf, &tm, &tl, &ta));
            ck_assert_int_eq(rd64(o + 72 + 32 * t), tf);
            ck_assert_int_eq(rd64(o + 72 + 32 * t + 8), tm);
            /* stored 0 means the market's maximum (margin_market_tier reports that) */
            if (rd64(o + 72 + 32 * t + 16) != 0)
                ck_assert_int_eq(rd64(o + 72 + 32 * t + 16), tl);
            ck_assert_int_eq(rd64(o + 72 + 32 * t + 24), ta);
        }
        {
            /* version 2: the liquidation options after the tiers: 4 bytes, a 0 pad, 5 i64 */
            const uint8_t *x = o + 72 + 32 * (size_t)o[5];
            const int32_t b8[4] = {MARGIN_MKT_LIQ_FEE_BASIS, MARGIN_MKT_LIQ_FILL,
                                   MARGIN_MKT_STOP_FILL, MARGIN_MKT_LIQ_POLICY};
            const int32_t i64[5] = {MARGIN_MKT_LIQ_FEE, MARGIN_MKT_SLICE_THRESHOLD,
                                    MARGIN_MKT_SLICE_FRACTION, MARGIN_MKT_SLICE_COOLDOWN,
                                    MARGIN_MKT_SLICE_BACKSTOP};
            for (int k = 0; k < 4; k++) {
                ck_assert_ok(e, margin_market_get(e, id, b8[k], &v));
                ck_assert_int_eq(x[k], v);
            }
            ck_assert_uint_eq(rd32(x + 4), 0);
            for (int k = 0; k < 5; k++) {
                ck_assert_ok(e, margin_market_get(e, id, i64[k], &v));
                ck_assert_int_eq(rd64(x + 8 + 8 * k), v);
            }
            /* version 3: the pool after them: u32 the pool's market index, u8 ADL, u8
             * ranking, u16 0, i64 balance, i64 floor; a market sharing another's pool
             * stores 0 for the pool's own fields (its getters read the owner's) */
            x += MKT_V2;
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_INSURANCE_POOL, &v));
            ck_assert_int_eq((int64_t)rd32(x) + 1, v);
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_ADL_RANKING, &v));
            ck_assert_int_eq(x[5], v);
            ck_assert_msg(x[6] == 0 && x[7] == 0, "market %zu: pool padding", i);
            if (rd32(x) == i) {
                ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_ADL, &v));
                ck_assert_int_eq(x[4], v);
                ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_INSURANCE, &v));
                ck_assert_int_eq(rd64(x + 8), v);
                ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_INSURANCE_FLOOR, &v));
                ck_assert_int_eq(rd64(x + 16), v);
            } else {
                ck_assert_msg(x[4] == 0 && rd64(x + 8) == 0 && rd64(x + 16) == 0,
                              "market %zu shares a pool but stores its own", i);
            }
            pools += rd64(x + 8);
            /* version 4: the contract after the pool: u8 type, u8 minimum price given, 6
             * zero bytes, i64 contract size, i64 settlement asset, i64 minimum price */
            x += MKT_V3;
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_CONTRACT, &v));
            ck_assert_int_eq(x[0], v);
            ck_assert_msg(x[1] <= 1, "market %zu: minimum price given flag %u", i, x[1]);
            for (int k = 2; k < 8; k++)
                ck_assert_msg(x[k] == 0, "market %zu: contract padding byte %d", i, k);
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_CONTRACT_SIZE, &v));
            ck_assert_int_eq(rd64(x + 8), v);
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_SETTLE_ASSET, &v));
            ck_assert_int_eq(rd64(x + 16), v);
            ck_assert_ok(e, margin_market_get(e, id, MARGIN_MKT_MIN_PRICE, &v));
            ck_assert_int_eq(rd64(x + 24), v);
            if (x[1] == 0) { /* not given: the default, 1 price unit (linear), 0.01 quote
                              * units (inverse, at price scales of 2 and more) */
                int64_t def = 1;
                if (x[0] == MARGIN_CONTRACT_INVERSE)
                    for (int k = 2; k < o[0]; k++)
                        def *= 10;
                ck_assert_int_eq(rd64(x + 24), def);
            }
            /* every market has the first market's type and asset */
            ck_assert_int_eq(x[0], b[MKC_OF(b, 0)]);
            ck_assert_int_eq(rd64(x + 16), rd64(b + MKC_OF(b, 0) + 16));
        }
    }
    /* the pools hold the whole fund */
    ck_assert_int_eq(pools, eng_get(e, MARGIN_ENG_INSURANCE_FUND));
    for (i = 0; i < L.na; i++) {
        const uint8_t *a = b + L.acct[i];
        uint64_t id = i + 1;
        const int32_t keys[7] = {MARGIN_ACCT_FREE_BALANCE, MARGIN_ACCT_DEPOSITS,
                                 MARGIN_ACCT_WITHDRAWALS,  MARGIN_ACCT_REALIZED_PNL,
                                 MARGIN_ACCT_FEES,         MARGIN_ACCT_FUNDING,
                                 MARGIN_ACCT_ISOLATED_MARGIN};
        uint32_t k = rd32(a + 60), j = 0;
        for (int q = 0; q < 7; q++)
            ck_assert_int_eq(rd64(a + 8 * q), acct_get(e, id, keys[q]));
        ck_assert_msg(rd32(a + 56) < (1u << nl) || (nl == 8), "account fired levels");
        for (uint64_t m = 1; m <= L.nm; m++) {
            int32_t mode = -1;
            ck_assert_ok(e, margin_account_mode(e, id, m, &mode));
            if (mode == MARGIN_MODE_CROSS) {
                ck_assert_msg(j < k, "account %" PRIu64 ": cross market %" PRIu64 " not listed",
                              id, m);
                ck_assert_uint_eq(rd32(a + 64 + 4 * j), m - 1);
                j++;
            }
        }
        ck_assert_uint_eq(j, k);
    }
    for (i = 0; i < L.np; i++) {
        const uint8_t *p = b + L.pos[i];
        uint64_t id = i + 1;
        unsigned fl = p[0];
        int64_t status;
        if (L.pos[i] == 0) { /* retired */
            ck_assert_rc(e, margin_position_get(e, id, MARGIN_POS_STATUS, &v), MARGIN_ENOTFOUND);
            continue;
        }
        status = pos_get(e, id, MARGIN_POS_STATUS);
        ck_assert_int_eq((int64_t)(fl & PF_CROSS), pos_get(e, id, MARGIN_POS_MODE));
        ck_assert_int_eq(p[1], status);
        ck_assert_int_eq((int8_t)p[2], pos_get(e, id, MARGIN_POS_SIDE));
        if (status != MARGIN_STATUS_OPEN)
            ck_assert_int_eq(p[3], 0);
        ck_assert_int_eq(rd32(p + 4) + 1, pos_get(e, id, MARGIN_POS_ACCOUNT));
        ck_assert_int_eq(rd32(p + 8) + 1, pos_get(e, id, MARGIN_POS_MARKET));
        ck_assert_int_eq(rd64(p + 12), pos_get(e, id, MARGIN_POS_QTY));
        ck_assert_int_eq(rd64(p + 20), pos_get(e, id, MARGIN_POS_ENTRY_PRICE));
        ck_assert_int_eq(rd64(p + 28), pos_get(e, id, MARGIN_POS_MARGIN));
        ck_assert_int_eq(rd64(p + 36), pos_get(e, id, MARGIN_POS_LEVERAGE));
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_REALIZED), pos_get(e, id, MARGIN_POS_REALIZED_PNL));
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_FEES), pos_get(e, id, MARGIN_POS_FEES));
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_FUNDING), pos_get(e, id, MARGIN_POS_FUNDING));
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_STOP), pos_get(e, id, MARGIN_POS_STOP_LOSS));
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_TAKE), pos_get(e, id, MARGIN_POS_TAKE_PROFIT));
        /* keys follow exactly for open cross positions */
        ck_assert_int_eq((fl & PF_KEYS) != 0, (fl & PF_CROSS) && status == MARGIN_STATUS_OPEN);
        /* the ADL quantile (1 to 4) after the keys, when it is not 0 */
        ck_assert_int_eq(pos_opt(p, 0, fl, PF_ADLQ), pos_get(e, id, MARGIN_POS_ADL_QUANTILE));
        if (fl & PF_ADLQ)
            ck_assert_msg(pos_opt(p, 0, fl, PF_ADLQ) >= 1 && pos_opt(p, 0, fl, PF_ADLQ) <= 4,
                          "position %" PRIu64 ": quantile %lld", id,
                          (long long)pos_opt(p, 0, fl, PF_ADLQ));
    }
    ck_assert_int_eq((int64_t)L.nev, eng_get(e, MARGIN_ENG_EVENTS_PENDING));
    if (L.nev > 0) {
        /* the queued events, oldest first: read them from a copy */
        margin_engine *c = su_clone(e, "queued events");
        su_event *ev = malloc(MAXEV * sizeof *ev);
        size_t ne;
        ck_assert(ev != NULL);
        ne = su_drain(c, ev, MAXEV);
        ck_assert_uint_eq(ne, L.nev);
        for (i = 0; i < ne; i++)
            for (int f = 1; f < SU_NF; f++)
                ck_assert_int_eq(rd64(b + L.ev + i * EV_LEN + 8 * (size_t)(f - 1)), ev[i].f[f]);
        free(ev);
        margin_engine_free(c);
    }
}

/* ------------------------------------------------------------------ engines to save */

static margin_engine *new_engine(void)
{
    margin_engine *e = NULL;
    ck_assert_int_eq(margin_engine_new(&e), MARGIN_OK);
    return e;
}

/* Take k events (fewer if the queue runs dry), leaving the k-th current. */
static void take_events(margin_engine *e, int k)
{
    for (int i = 0; i < k; i++) {
        int32_t t;
        ck_assert_ok(e, margin_event_next(e, &t));
        if (t == MARGIN_EV_NONE)
            break;
    }
}

#define NVARIANTS 10
static const char *const VARIANTS[NVARIANTS] = {
    "empty engine",
    "markets, tiers and options only",
    "scenario, every event queued",
    "scenario, 40 events taken (a current event, the rest queued)",
    "scenario, every event taken",
    "scenario, 40 taken, then full scan on",
    "scenario, 40 taken, then the queue off",
    "scenario, all taken, then no levels, band 0, no cap, policy all",
    "scenario on the full-scan path from the start, 10 events taken",
    "scenario with the queue off from the start",
};

static margin_engine *build_variant(int v)
{
    margin_engine *e = new_engine();
    static const int64_t none[1] = {0};
    switch (v) {
    case 0:
        break;
    case 1:
        for (int i = 0; i <= 21; i++)
            ck_assert_ok(e, su_step(e, i));
        break;
    case 8:
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 1));
        su_run_scenario(e);
        take_events(e, 10);
        break;
    case 9:
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
        su_run_scenario(e);
        break;
    default:
        su_run_scenario(e);
        take_events(e, v == 2 ? 0 : (v == 4 || v == 7) ? 100000 : 40);
        if (v == 5)
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 1));
        if (v == 6)
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
        if (v == 7) {
            ck_assert_ok(e, margin_engine_set_margin_call_levels(e, none, 0));
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, 0));
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 0));
            ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION,
                                              MARGIN_CROSS_LIQ_ALL));
        }
        break;
    }
    return e;
}

/* The scenario must have reached what it claims (snapshot_util.h): counted on a copy. */
START_TEST(test_scenario_coverage)
{
    margin_engine *e = new_engine(), *c;
    su_event *ev = malloc(MAXEV * sizeof *ev);
    int count[32] = {0}, acct_calls = 0, open_cross = 0, fired_pos = 0, stops = 0, adverse = 0;
    size_t n, nopen = 0;
    uint64_t ids[64];
    ck_assert(ev != NULL);
    su_run_scenario(e);
    c = su_clone(e, "coverage");
    n = su_drain(c, ev, MAXEV);
    for (size_t i = 0; i < n; i++) {
        count[ev[i].f[MARGIN_EVF_TYPE] & 31]++;
        acct_calls += ev[i].f[MARGIN_EVF_TYPE] == MARGIN_EV_MARGIN_CALL &&
                      ev[i].f[MARGIN_EVF_POSITION] == 0;
        /* step 88's adverse candle: the long P11 meets the low first, at point 2 */
        adverse += ev[i].f[MARGIN_EVF_TYPE] == MARGIN_EV_MARGIN_CALL &&
                   ev[i].f[MARGIN_EVF_POSITION] == 11 && ev[i].f[MARGIN_EVF_PATH_POINT] == 2 &&
                   ev[i].f[MARGIN_EVF_PRICE] == DS("19052", 8);
    }
    ck_assert_int_eq(adverse, 1);
    ck_assert_int_ge(count[MARGIN_EV_LIQUIDATION], 6);
    ck_assert_int_ge(count[MARGIN_EV_PARTIAL_LIQUIDATION], 1); /* the candle of step 87 */
    ck_assert_int_ge(count[MARGIN_EV_CROSS_LIQUIDATION], 2);
    ck_assert_int_ge(count[MARGIN_EV_STOP_LOSS], 1);
    ck_assert_int_ge(count[MARGIN_EV_FUNDING], 4);
    ck_assert_int_ge(count[MARGIN_EV_REDUCE], 1);
    ck_assert_int_ge(count[MARGIN_EV_CLOSE], 2); /* a close and the close of the flip */
    ck_assert_int_ge(count[MARGIN_EV_MARGIN_CALL] - acct_calls, 2);
    ck_assert_int_ge(acct_calls, 2);
    ck_assert_int_gt(eng_get(e, MARGIN_ENG_INSURANCE_FUND), -1000 * E8);
    ck_assert_ok(e, margin_positions(e, MARGIN_STATUS_OPEN, ids, 64, &nopen));
    for (size_t i = 0; i < nopen; i++) {
        int64_t sl = pos_get(e, ids[i], MARGIN_POS_STOP_LOSS);
        open_cross += pos_get(e, ids[i], MARGIN_POS_MODE) == MARGIN_MODE_CROSS;
        stops += sl != 0;
    }
    ck_assert_int_ge(open_cross, 1);
    ck_assert_int_ge(stops, 2);
    /* fired levels still fired at the end: a position's (position 11's 0.5, kept through
     * the partial liquidation of step 87's candle) and account 5's (0.5), seen in the
     * bytes (the getters do not show them) */
    {
        size_t len;
        uint8_t *b = su_save(e, &len);
        walk(b, len, &L);
        for (size_t i = 0; i < L.np; i++)
            if (L.pos[i] != 0 && b[L.pos[i] + 1] == MARGIN_STATUS_OPEN)
                fired_pos |= b[L.pos[i] + 3];
        ck_assert_int_eq(fired_pos & 1, 1);
        ck_assert_int_eq(rd32(b + L.acct[4] + 56) & 1, 1);
        free(b);
    }
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_POSITIONS), 0); /* liquidated worst first */
    /* steps 89-96: two insurance deposits, the pools' options, one quantile of 4 (P14);
     * 97-99: a third deposit (912.35) and a deleveraging: P14 gives up 0.05 ETH of its 0.2
     * for P15 (credit 0.05 * 20.1 = 1.005); ETH's pool ends at 300 - 201 + 1.005 */
    ck_assert_int_eq(count[MARGIN_EV_INSURANCE_DEPOSIT], 3);
    ck_assert_int_eq(count[MARGIN_EV_ADL], 1);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS), D("6212.35"));
    ck_assert_int_eq(pos_get(e, 14, MARGIN_POS_QTY), DS("0.15", 3));
    ck_assert_int_eq(pos_get(e, 15, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    {
        int64_t v;
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_INSURANCE, &v));
        ck_assert_int_eq(v, D("100.005"));
    }
    ck_assert_int_eq(pos_get(e, 14, MARGIN_POS_ADL_QUANTILE), 4);
    ck_assert_int_eq(pos_get(e, 13, MARGIN_POS_ADL_QUANTILE), 0);
    {
        int64_t v;
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_ADL, &v));
        ck_assert_int_eq(v, MARGIN_ADL_ON);
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_INSURANCE_FLOOR, &v));
        ck_assert_int_eq(v, D("100"));
        ck_assert_ok(e, margin_market_get(e, 3, MARGIN_MKT_ADL_RANKING, &v));
        ck_assert_int_eq(v, MARGIN_ADL_RANK_BITMEX);
    }
    free(ev);
    margin_engine_free(c);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ round trip */

START_TEST(test_round_trip)
{
    margin_engine *e = build_variant(_i), *t;
    su_obs a = {0}, b = {0};
    size_t n, n2;
    uint8_t *s1, *s2;
    char what[128];
    snprintf(what, sizeof what, "round trip of %s", VARIANTS[_i]);
    s1 = su_save(e, &n);
    check_fields(e, s1, n); /* the documented format, field by field */
    t = su_load(s1, n);
    s2 = su_save(t, &n2);
    ck_assert_msg(su_bytes_diff(s1, n, s2, n2) < 0, "%s: bytes differ at %ld", what,
                  su_bytes_diff(s1, n, s2, n2));
    ck_assert_msg(su_hash(e) == su_hash(t), "%s: hashes differ", what);
    su_observe(e, &a);
    su_observe(t, &b);
    su_obs_require_same(&a, &b, what);
    /* saving twice in a row gives the same bytes (saving changes nothing) */
    free(s2);
    s2 = su_save(e, &n2);
    ck_assert(su_bytes_diff(s1, n, s2, n2) < 0);
    su_obs_free(&a);
    su_obs_free(&b);
    free(s1);
    free(s2);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* Insurance pools and ADL quantiles (format 3) through a save and a load. Markets 1 and 2
 * share market 1's pool, market 3 has its own; deposits of 1000 (through market 1) and 500
 * (through market 2) go to the shared pool, 200 to market 3's: pools 1500 and 200, the
 * fund and the deposits 1700. The shared pool has ADL on and a floor of 300 (set through
 * market 2), market 3 ranks by BitMEX's score. Quantiles: market 1 at the mark 110 (entry
 * 100), the long alone among the longs and in profit: 4, the short at a loss: 0; market 3
 * at 55 (entries 50), two longs in profit, ranked by BitMEX's PnL% * effective leverage:
 * both PnL% 0.1; P3 (5x, bankrupt at 40) 55 / (55 - 40) = 3.67, P4 (10x, bankrupt at 45)
 * 55 / (55 - 45) = 5.5: P4 rank 0, P3 rank 1 of 2, quantiles 4 - floor(5 * r / 2): P4 4,
 * P3 2. */
static margin_engine *build_pools(void)
{
    margin_engine *e = new_engine();
    uint64_t id;
    static const char *const sym[3] = {"AAAUSDT", "BBBUSDT", "CCCUSDT"};
    for (int i = 0; i < 3; i++)
        ck_assert_ok(e, margin_market_new(e, sym[i], &id));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_INSURANCE_POOL, 1));
    ck_assert_ok(e, margin_insurance_deposit(e, 1, D("1000")));
    ck_assert_ok(e, margin_insurance_deposit(e, 2, D("500")));
    ck_assert_ok(e, margin_insurance_deposit(e, 3, D("200")));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_ADL, MARGIN_ADL_ON));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_INSURANCE_FLOOR, D("300")));
    ck_assert_ok(e, margin_market_set(e, 3, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX));
    for (int a = 0; a < 2; a++) {
        ck_assert_ok(e, margin_account_new(e, &id));
        ck_assert_ok(e, margin_account_deposit(e, id, D("10000")));
    }
    ck_assert_ok(e, margin_position_open(e, 1, 1, MARGIN_LONG, D("1"), D("100"), D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 2, 1, MARGIN_SHORT, D("1"), D("100"), D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 1, 3, MARGIN_LONG, D("2"), D("50"), D("5"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 2, 3, MARGIN_LONG, D("1"), D("50"), D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_mark_update(e, 1, D("110")));
    ck_assert_ok(e, margin_mark_update(e, 3, D("55")));
    ck_assert_ok(e, margin_market_adl_quantiles(e, 1));
    ck_assert_ok(e, margin_market_adl_quantiles(e, 3));
    return e;
}

static void require_pools(const margin_engine *e)
{
    static const int64_t q[5] = {0, 4, 0, 0, 0}; /* positions 1..4; 3 and 4 below */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("1700"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS), D("1700"));
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_INSURANCE_POOL), 1);
    ck_assert_int_eq(mkt_get(e, 2, MARGIN_MKT_INSURANCE_POOL), 1);
    ck_assert_int_eq(mkt_get(e, 3, MARGIN_MKT_INSURANCE_POOL), 3);
    for (uint64_t m = 1; m <= 2; m++) {
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_INSURANCE), D("1500"));
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_ADL), MARGIN_ADL_ON);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_INSURANCE_FLOOR), D("300"));
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_ADL_RANKING), MARGIN_ADL_RANK_BINANCE);
    }
    ck_assert_int_eq(mkt_get(e, 3, MARGIN_MKT_INSURANCE), D("200"));
    ck_assert_int_eq(mkt_get(e, 3, MARGIN_MKT_ADL), MARGIN_ADL_OFF);
    ck_assert_int_eq(mkt_get(e, 3, MARGIN_MKT_INSURANCE_FLOOR), 0);
    ck_assert_int_eq(mkt_get(e, 3, MARGIN_MKT_ADL_RANKING), MARGIN_ADL_RANK_BITMEX);
    for (uint64_t p = 1; p <= 2; p++)
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ADL_QUANTILE), q[p]);
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_ADL_QUANTILE), 2);
    ck_assert_int_eq(pos_get(e, 4, MARGIN_POS_ADL_QUANTILE), 4);
}

START_TEST(test_pool_round_trip)
{
    margin_engine *e = build_pools(), *t;
    size_t n;
    uint8_t *b;
    require_pools(e);
    b = su_save(e, &n);
    check_fields(e, b, n); /* market 2 stores its pool as market index 0, and zeros */
    ck_assert_uint_eq(rd32(b + MKP_OF(b, 1)), 0);
    ck_assert_int_eq(rd64(b + MKP_OF(b, 1) + 8), 0);
    ck_assert_int_eq(rd64(b + MKP_OF(b, 0) + 8), D("1500"));
    ck_assert_int_eq(rd64(b + MKP_OF(b, 0) + 16), D("300"));
    ck_assert_uint_eq(b[MKP_OF(b, 0) + 4], MARGIN_ADL_ON);
    ck_assert_uint_eq(b[MKP_OF(b, 2) + 5], MARGIN_ADL_RANK_BITMEX);
    ck_assert_int_eq(rd64(b + L.eng + EN_DEPOSITS), D("1700"));
    t = su_clone(e, "pools and quantiles"); /* the same bytes and state hash */
    ck_assert_msg(su_hash(e) == su_hash(t), "hashes differ");
    require_pools(t);
    su_require_same_state(e, t, "pools and quantiles");
    /* the next snapshot is the same too: the same further calls on both (a deposit through
     * the sharing market, marks that liquidate market 1's long and market 3's 10x long,
     * with the shared pool's ADL on): the same statuses, events and bytes */
    ck_assert_ok(e, margin_insurance_deposit(e, 2, D("1")));
    ck_assert_ok(t, margin_insurance_deposit(t, 2, D("1")));
    ck_assert_int_eq(margin_mark_update(e, 1, D("50")), margin_mark_update(t, 1, D("50")));
    ck_assert_int_eq(margin_mark_update(e, 3, D("30")), margin_mark_update(t, 3, D("30")));
    su_drain_same(e, t, "pools, continued");
    su_require_same_state(e, t, "pools, continued");
    free(b);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* The contract (format 4) through a save and a load: two inverse markets settled in asset
 * 7, one account of 1 coin. XBTUSD: contracts of 1 USD (size 1e8 at scale 8), its minimum
 * price not given: the inverse default 0.01 USD, 10^(8 - 2) = 1000000 at price scale 8;
 * the min-reduce policy. ETHUSD: contracts of 10 USD (1e9), its minimum price given: 100
 * (1e10); BitMEX's ranking. A long of 1000
 * XBTUSD contracts at 20000, 10x (value 1000 / 20000 = 0.05, margin 0.005) and a short of
 * 100 ETHUSD contracts at 1500, 5x (value 1000 / 1500 = 0.666..., margin 0.1333...);
 * marks 21000 and 1400. */
static margin_engine *build_contracts(void)
{
    margin_engine *e = new_engine();
    uint64_t id;
    ck_assert_ok(e, margin_market_new(e, "XBTUSD", &id));
    ck_assert_ok(e, margin_market_set(e, 1, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
    ck_assert_ok(e, margin_market_set(e, 1, MARGIN_MKT_SETTLE_ASSET, 7));
    /* a new market takes the first market's type and asset */
    ck_assert_ok(e, margin_market_new(e, "ETHUSD", &id));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_CONTRACT_SIZE, D("10")));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_MIN_PRICE, D("100")));
    ck_assert_ok(e, margin_market_set(e, 1, MARGIN_MKT_LIQ_POLICY, MARGIN_LIQ_POLICY_MIN_REDUCE));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_ADL_RANKING, MARGIN_ADL_RANK_BITMEX));
    ck_assert_ok(e, margin_account_new(e, &id));
    ck_assert_ok(e, margin_account_deposit(e, 1, D("1")));
    ck_assert_ok(e, margin_position_open(e, 1, 1, MARGIN_LONG, D("1000"), D("20000"), D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 1, 2, MARGIN_SHORT, D("100"), D("1500"), D("5"), 0, 0, &id));
    ck_assert_ok(e, margin_mark_update(e, 1, D("21000")));
    ck_assert_ok(e, margin_mark_update(e, 2, D("1400")));
    return e;
}

static void require_contracts(const margin_engine *e)
{
    for (uint64_t m = 1; m <= 2; m++) {
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_CONTRACT), MARGIN_CONTRACT_INVERSE);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_SETTLE_ASSET), 7);
    }
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_CONTRACT_SIZE), D("1"));
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_MIN_PRICE), DS("0.01", 8));
    ck_assert_int_eq(mkt_get(e, 2, MARGIN_MKT_CONTRACT_SIZE), D("10"));
    ck_assert_int_eq(mkt_get(e, 2, MARGIN_MKT_MIN_PRICE), D("100"));
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_LIQ_POLICY), MARGIN_LIQ_POLICY_MIN_REDUCE);
    ck_assert_int_eq(mkt_get(e, 2, MARGIN_MKT_ADL_RANKING), MARGIN_ADL_RANK_BITMEX);
}

START_TEST(test_contract_round_trip)
{
    margin_engine *e = build_contracts(), *t;
    size_t n;
    uint8_t *b;
    require_contracts(e);
    b = su_save(e, &n);
    check_fields(e, b, n);
    /* the bytes, as docs/snapshot.md gives them */
    for (size_t m = 0; m < 2; m++) {
        size_t c = MKC_OF(b, m);
        ck_assert_uint_eq(b[c], MARGIN_CONTRACT_INVERSE);
        ck_assert_uint_eq(b[c + 1], m == 1); /* ETHUSD's minimum price was given */
        for (size_t k = 2; k < 8; k++)
            ck_assert_uint_eq(b[c + k], 0);
        ck_assert_int_eq(rd64(b + c + 8), m == 0 ? 100000000 : 1000000000);
        ck_assert_int_eq(rd64(b + c + 16), 7);
        ck_assert_int_eq(rd64(b + c + 24), m == 0 ? 1000000 : 10000000000);
    }
    t = su_clone(e, "inverse contracts"); /* the same bytes and state hash */
    require_contracts(t);
    su_require_same_state(e, t, "inverse contracts");
    /* continued alike: marks past both bankruptcy prices, which liquidate both positions
     * (the long's N / (N/E + M) = 1000 / (0.05 + 0.005) = 18181.8... is above 15000; the
     * short's N / (N/E - M) = 1000 / (0.666... - 0.133...) = 1875 below 2000), and the
     * same snapshot after */
    ck_assert_int_eq(margin_mark_update(e, 1, D("15000")), margin_mark_update(t, 1, D("15000")));
    ck_assert_int_eq(margin_mark_update(e, 2, D("2000")), margin_mark_update(t, 2, D("2000")));
    ck_assert_int_eq(pos_get(e, 1, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, 2, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    su_drain_same(e, t, "inverse contracts, continued");
    su_require_same_state(e, t, "inverse contracts, continued");
    free(b);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* A regression: a position closed after margin_market_adl_quantiles() gave it a quantile
 * kept it (p->adl_q), the saver wrote it (PF_ADLQ), and the loader refused a quantile on a
 * closed position: the engine saved a snapshot it could not load. A position leaving the
 * open status now drops its quantile (it reads 0, as the getter always said). */
START_TEST(test_known_quantile_after_close)
{
    margin_engine *e = build_pools(), *t;
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_ADL_QUANTILE), 2);
    ck_assert_ok(e, margin_position_close(e, 3, D("55"), 0));
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_ADL_QUANTILE), 0);
    t = su_clone(e, "a position closed after its quantile was computed");
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ restore-equivalence */

/* Further calls after the scenario: marks that liquidate, stop out and fire levels,
 * funding, opens, trades, closes, option changes, deposits and withdrawals. Some fail on
 * some variants (no accounts, say): both engines must fail alike. */
#define NCONT 26
static int cont_step(margin_engine *e, int j)
{
    static const int64_t lv2[2] = {60000000, 85000000};
    uint64_t id = 0;
    switch (j) {
    case 0: return margin_mark_update(e, 1, DS("19100", 8));
    case 1: return margin_mark_update(e, 1, DS("18900", 8));
    case 2: return margin_funding_apply(e, 1, D("0.0003"), DS("18900", 8));
    case 3: return margin_position_open(e, 1, 1, MARGIN_SHORT, DS("0.3", 8), DS("18900", 8), D("25"), 0, 0, &id);
    case 4: return margin_mark_update(e, 3, DS("14.3", 4));
    case 5: return margin_mark_update(e, 2, DS("1100", 2));
    case 6: return margin_position_trade(e, 1, MARGIN_SHORT, DS("0.2", 8), DS("18950", 8), 0);
    case 7: return margin_mark_update(e, 1, DS("25000", 8));
    case 8: return margin_mark_update(e, 1, DS("29500", 8));
    case 9: return margin_engine_set_margin_call_levels(e, lv2, 2);
    case 10: return margin_mark_update(e, 1, DS("24000", 8));
    case 11: return margin_account_deposit(e, 3, D("1000"));
    case 12: return margin_account_set_mode(e, 3, 1, MARGIN_MODE_CROSS); /* refused: P10 open */
    case 13: return margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.2"));
    case 14: return margin_mark_update(e, 2, DS("700", 2));
    case 15: return margin_account_withdraw(e, 2, D("100"));
    case 16: return margin_position_open(e, 4, 3, MARGIN_LONG, DS("50", 2), DS("14.3", 4), D("10"), 0, MARGIN_FLAG_CROSS, &id);
    case 17: return margin_mark_update(e, 2, DS("760", 2));
    case 18: return margin_funding_apply(e, 3, D("0.001"), DS("14.31", 4));
    case 19: return margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_ALL);
    case 20: return margin_position_close(e, 14, DS("760", 2), MARGIN_FLAG_MAKER);
    case 21: return margin_mark_update(e, 3, DS("12", 4));
    case 22: return margin_position_set_stops(e, 10, DS("20000", 8), 0);
    case 23: return margin_mark_update(e, 1, DS("19999", 8));
    case 24: return margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 1);
    case 25: return margin_mark_update(e, 1, DS("1000", 8));
    default: return MARGIN_EINVAL;
    }
}

/* Take up to k events from both one at a time, comparing every field (k < 0: all). */
static void take_same(margin_engine *a, margin_engine *b, int k, const char *what)
{
    for (int i = 0; k < 0 || i < k; i++) {
        int32_t ta = -1, tb = -2;
        int64_t fa[SU_NF], fb[SU_NF];
        ck_assert_ok(a, margin_event_next(a, &ta));
        ck_assert_ok(b, margin_event_next(b, &tb));
        ck_assert_msg(ta == tb, "%s: event %d types %d vs %d", what, i, ta, tb);
        if (ta == MARGIN_EV_NONE)
            return;
        ck_assert_ok(a, margin_event_fields(a, fa, SU_NF));
        ck_assert_ok(b, margin_event_fields(b, fb, SU_NF));
        for (int f = 1; f < SU_NF; f++)
            ck_assert_msg(fa[f] == fb[f], "%s: event %d field %d: %lld vs %lld", what, i, f,
                          (long long)fa[f], (long long)fb[f]);
    }
}

/* Continue a and b with the same calls, requiring the same everything after each. */
static void continue_both(margin_engine *a, margin_engine *b, const char *what)
{
    char msg[200];
    for (int j = 0; j < NCONT; j++) {
        int ra, rb;
        ck_assert_ok(a, margin_engine_set(a, MARGIN_ENG_TIME, 5000 + j));
        ck_assert_ok(b, margin_engine_set(b, MARGIN_ENG_TIME, 5000 + j));
        ra = cont_step(a, j);
        rb = cont_step(b, j);
        snprintf(msg, sizeof msg, "%s, further call %d", what, j);
        ck_assert_msg(ra == rb, "%s: status %d (%s) vs %d (%s)", msg, ra, margin_errmsg(a), rb,
                      margin_errmsg(b));
        su_require_same(a, b, msg);
        /* events: one at a time, sometimes only a few (a current event stays) */
        take_same(a, b, j % 3 == 0 ? 2 : -1, msg);
        su_require_same(a, b, msg);
    }
}

START_TEST(test_restore_equivalence)
{
    margin_engine *e = build_variant(_i), *t = su_clone(e, VARIANTS[_i]);
    su_obs a = {0}, b = {0};
    continue_both(e, t, VARIANTS[_i]);
    su_observe(e, &a);
    su_observe(t, &b);
    su_obs_require_same(&a, &b, VARIANTS[_i]);
    su_obs_free(&a);
    su_obs_free(&b);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* Restore after every step of the scenario: an engine that is saved and loaded after each
 * call and then continued ends exactly like the engine that never was. */
START_TEST(test_restore_chain)
{
    margin_engine *ref = new_engine(), *cur = new_engine();
    for (int i = 0; i < SU_STEPS; i++) {
        margin_engine *next;
        ck_assert_ok(ref, margin_engine_set(ref, MARGIN_ENG_TIME, 1000 + i));
        ck_assert_ok(cur, margin_engine_set(cur, MARGIN_ENG_TIME, 1000 + i));
        ck_assert_int_eq(su_step(ref, i), su_step(cur, i));
        if (i % 4 == 1)
            take_same(ref, cur, 1, "chain");
        next = su_clone(cur, "chain");
        margin_engine_free(cur);
        cur = next;
        su_require_same(ref, cur, "chain");
    }
    continue_both(ref, cur, "after the chain");
    margin_engine_free(cur);
    margin_engine_free(ref);
}
END_TEST

/* A callback installed on the loading engine sees the same events as the original's. */
static int cb_count;
static int64_t cb_last_seq;
static void count_cb(void *user, const margin_engine *e, int32_t type)
{
    int64_t seq = 0;
    (void)user;
    (void)type;
    if (margin_event_get(e, MARGIN_EVF_SEQ, &seq) == MARGIN_OK)
        cb_last_seq = seq;
    cb_count++;
}

START_TEST(test_restore_keeps_callback)
{
    margin_engine *e = build_variant(3), *t = new_engine();
    size_t n;
    uint8_t *b = su_save(e, &n);
    ck_assert_ok(t, margin_engine_set_callback(t, count_cb, NULL));
    ck_assert_ok(t, margin_snapshot_load(t, b, n));
    cb_count = 0;
    ck_assert_ok(t, margin_mark_update(t, 1, DS("1000", 8))); /* every BTC long liquidated */
    ck_assert_ok(e, margin_mark_update(e, 1, DS("1000", 8)));
    ck_assert_int_gt(cb_count, 0);
    ck_assert_int_eq(cb_last_seq, eng_get(e, MARGIN_ENG_LAST_SEQ));
    su_require_same(e, t, "callback kept");
    free(b);
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* ------------------------------------------------------------------ the state hash */

/* Over every state the scenario passes through (two engines built alike), hashes are
 * equal exactly when the snapshots are. */
START_TEST(test_hash_iff_bytes)
{
    enum { N = SU_STEPS + 1 };
    margin_engine *a = new_engine(), *b = NULL;
    su_alloc al = {0};
    uint8_t *snap[N];
    size_t len[N];
    uint64_t h[N];
    ck_assert_int_eq(margin_engine_new_with_allocator(&b, su_malloc, su_realloc, su_free, &al),
                     MARGIN_OK);
    for (int i = 0; i < N; i++) {
        if (i > 0) {
            ck_assert_ok(a, margin_engine_set(a, MARGIN_ENG_TIME, 1000 + i - 1));
            ck_assert_ok(b, margin_engine_set(b, MARGIN_ENG_TIME, 1000 + i - 1));
            ck_assert_ok(a, su_step(a, i - 1));
            ck_assert_ok(b, su_step(b, i - 1));
        }
        su_require_same(a, b, "two engines built alike");
        snap[i] = su_save(a, &len[i]);
        h[i] = su_hash(a);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            int same = su_bytes_diff(snap[i], len[i], snap[j], len[j]) < 0;
            ck_assert_msg(same == (h[i] == h[j]), "states %d and %d: bytes %s, hashes %s", i,
                          j, same ? "equal" : "differ", h[i] == h[j] ? "equal" : "differ");
            ck_assert_msg(!same, "steps %d and %d left the same state", i, j); /* time moves */
        }
    for (int i = 0; i < N; i++)
        free(snap[i]);
    margin_engine_free(a);
    margin_engine_free(b);
    ck_assert_int_eq(al.live, 0);
}
END_TEST

/* Every kind of change changes the snapshot and the hash; undoing it restores both. */
#define NCHANGES 17
static int change(margin_engine *e, int k)
{
    int32_t t;
    uint64_t id;
    static const int64_t lv[2] = {50000000, 80000000};
    switch (k) {
    case 0: return margin_engine_set(e, MARGIN_ENG_TIME, 1);
    case 1: return margin_account_deposit(e, 2, 1);          /* one unit */
    case 2: return margin_event_next(e, &t);                 /* the current event */
    case 3: return margin_engine_set(e, MARGIN_ENG_REARM_BAND, 1);
    case 4: return margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 10001);
    case 5: return margin_engine_set(e, MARGIN_ENG_FULL_SCAN, 1);
    case 6: return margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0);
    case 7: return margin_engine_set_margin_call_levels(e, lv, 2); /* re-arms fired levels */
    case 8: return margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_ALL);
    case 9: return margin_mark_update(e, 1, DS("19155.00000001", 8)); /* only the mark moves */
    case 10: return margin_position_set_stops(e, 1, DS("15500.00000001", 8), DS("29000", 8));
    case 11: return margin_account_new(e, &id);
    case 12: return margin_position_add_margin(e, 11, 1);
    case 13: return margin_account_set_mode(e, 2, 3, MARGIN_MODE_CROSS);
    case 14: return margin_market_set(e, 3, MARGIN_MKT_MAX_PRICE, DS("100000", 4));
    case 15: return margin_funding_apply(e, 2, 0, DS("905", 2)); /* rate 0: the events */
    case 16: return margin_position_trade(e, 1, MARGIN_LONG, 1, DS("19155", 8), 0);
    default: return MARGIN_EINVAL;
    }
}

START_TEST(test_hash_changes)
{
    margin_engine *base = build_variant(3);
    uint64_t h0 = su_hash(base);
    size_t n0;
    uint8_t *s0 = su_save(base, &n0);
    for (int k = 0; k < NCHANGES; k++) {
        margin_engine *e = su_clone(base, "change");
        size_t n;
        uint8_t *s;
        ck_assert_msg(su_hash(e) == h0, "a clone hashes alike");
        ck_assert_msg(change(e, k) == MARGIN_OK, "change %d: %s", k, margin_errmsg(e));
        s = su_save(e, &n);
        ck_assert_msg(su_bytes_diff(s0, n0, s, n) >= 0, "change %d left the bytes alike", k);
        ck_assert_msg(su_hash(e) != h0, "change %d left the hash alike", k);
        free(s);
        margin_engine_free(e);
    }
    /* a query changes neither */
    {
        int64_t v;
        uint64_t ids[32];
        size_t n;
        ck_assert_ok(base, margin_position_at(base, 1, MARGIN_AT_LIQ_PRICE, DS("1", 8), &v));
        ck_assert_ok(base, margin_positions(base, MARGIN_STATUS_ANY, ids, 32, &n));
        ck_assert_rc(base, margin_position_get(base, 999, MARGIN_POS_QTY, &v), MARGIN_ENOTFOUND);
        ck_assert_msg(su_hash(base) == h0, "queries changed the hash");
    }
    /* time set back to where it was: the same hash again */
    {
        margin_engine *e = su_clone(base, "undo");
        int64_t t0 = eng_get(e, MARGIN_ENG_TIME);
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, t0 + 7));
        ck_assert(su_hash(e) != h0);
        ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, t0));
        ck_assert(su_hash(e) == h0);
        margin_engine_free(e);
    }
    free(s0);
    margin_engine_free(base);
}
END_TEST

/* Determinism: the same calls give the same bytes whatever the allocator (addresses), the
 * callback, or how the engine got there (directly, or through a snapshot). */
START_TEST(test_determinism)
{
    margin_engine *a = new_engine(), *b = NULL, *c = new_engine();
    su_alloc al = {0};
    void *pad[64];
    ck_assert_int_eq(margin_engine_new_with_allocator(&b, su_malloc, su_realloc, su_free, &al),
                     MARGIN_OK);
    for (int i = 0; i < 64; i++) /* other heap addresses for b */
        pad[i] = malloc((size_t)(i + 1) * 97);
    ck_assert_ok(c, margin_engine_set_callback(c, count_cb, NULL));
    su_run_scenario(a);
    su_run_scenario(b);
    su_run_scenario(c);
    su_require_same(a, b, "other allocator");
    su_require_same(a, c, "callback");
    take_events(a, 33);
    take_events(b, 33);
    take_events(c, 33);
    su_require_same(a, b, "other allocator, events taken");
    su_require_same(a, c, "callback, events taken");
    for (int i = 0; i < 64; i++)
        free(pad[i]);
    margin_engine_free(a);
    margin_engine_free(b);
    margin_engine_free(c);
    ck_assert_int_eq(al.live, 0);
}
END_TEST

START_TEST(test_hash_api)
{
    margin_engine *e = new_engine(), *f = new_engine();
    uint64_t h = 0;
    ck_assert_int_eq(margin_state_hash(NULL, &h), MARGIN_EINVAL);
    ck_assert_rc(e, margin_state_hash(e, NULL), MARGIN_EINVAL);
    ck_assert_msg(su_hash(e) == su_hash(f), "two empty engines");
    margin_engine_free(e);
    margin_engine_free(f);
}
END_TEST

/* ------------------------------------------------------------------ the API around save and load */

/* The trailer of snapshots large enough for the library's checksum to run its three-lane
 * path (blocks of 24 KiB, combined by multiplication modulo the polynomial) is the CRC-32C
 * of the format, computed bit by bit: at sizes from under one block to several, so that
 * the blocks, their combination and the single-lane rest all count. */
START_TEST(test_crc_large)
{
    margin_engine *e = new_engine();
    uint64_t m, acct, id;
    size_t checked = 0, len = 0, last = 0;
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &acct));
    ck_assert_ok(e, margin_account_deposit(e, acct, 100000000000000LL)); /* 1e6 */
    for (int i = 0; i < 2500; i++) {
        ck_assert_ok(e, margin_position_open(e, acct, m, i % 2 ? MARGIN_SHORT : MARGIN_LONG,
                                             1000000LL + i, 2000000000000LL + 10000000LL * i,
                                             1000000000LL, 0, 0, &id));
        if (i % 97 == 0 || i == 2499) {
            uint8_t *b = su_save(e, &len);
            ck_assert_uint_gt(len, last);
            last = len;
            ck_assert_msg(rd32(b + len - 4) == crc32c_ref(b, len - 4),
                          "%zu bytes: the trailer is not the CRC-32C", len);
            checked++;
            free(b);
        }
    }
    ck_assert_uint_gt(len, 4 * 3 * 8192); /* the last: four blocks and more */
    ck_assert_uint_gt(checked, 20);
    margin_engine_free(e);
}
END_TEST

START_TEST(test_size_protocol)
{
    margin_engine *e = build_variant(3);
    size_t n = 0, got = 12345;
    uint8_t *ref, *buf;
    ref = su_save(e, &n);
    ck_assert_int_eq(margin_snapshot_save(NULL, NULL, 0, &got), MARGIN_EINVAL);
    ck_assert_rc(e, margin_snapshot_save(e, NULL, 0, NULL), MARGIN_EINVAL);
    ck_assert_rc(e, margin_snapshot_save(e, NULL, 10, &got), MARGIN_EINVAL);
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &got));
    ck_assert_uint_eq(got, n);
    buf = malloc(n + 64);
    ck_assert(buf != NULL);
    for (size_t cap = 0; cap < n; cap += (cap < 64 || cap + 64 > n) ? 1 : 61) {
        size_t i = 0;
        memset(buf, 0xA5, n + 64);
        got = 0;
        ck_assert_rc(e, margin_snapshot_save(e, buf, cap, &got), MARGIN_EBUFFER);
        ck_assert_uint_eq(got, n); /* the exact size, also when too small */
        /* the first byte written, if any (one assertion per size: each Check assertion
         * costs a write to the runner, too slow here for one per byte) */
        while (i < n + 64 && buf[i] == 0xA5)
            i++;
        ck_assert_msg(i == n + 64, "cap %zu: byte %zu written", cap, i);
    }
    ck_assert_msg(strstr(margin_errmsg(e), "bytes") != NULL, "message: %s", margin_errmsg(e));
    memset(buf, 0xA5, n + 64);
    ck_assert_ok(e, margin_snapshot_save(e, buf, n + 64, &got));
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(buf, ref, n) == 0);
    for (size_t i = n; i < n + 64; i++)
        ck_assert_msg(buf[i] == 0xA5, "byte %zu past the snapshot written", i);
    free(buf);
    free(ref);
    margin_engine_free(e);
}
END_TEST

/* The empty engine's snapshot, by the format (version 4): header 32, five section heads
 * 80, ENGN 380 (156 + 27 * 8 + 8), trailer 4: 496 bytes. Each market, account, position and
 * event adds its record; the first position of a block of 1024 ids adds the block's head
 * (u32 live, i64 last close). */
START_TEST(test_sizes_from_the_format)
{
    margin_engine *e = new_engine();
    size_t n = 0, n2 = 0;
    uint64_t id;
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n));
    ck_assert_uint_eq(n, 32 + 5 * 16 + 380 + 4);
    ck_assert_uint_eq(n, 496);
    /* symbol 1 + 7, scales and flags 8, 8 i64 64, 1 tier 32, liquidation options 48,
     * pool 24, contract 32 (u8 type, u8 minimum price given, 6 zero bytes, 3 i64) */
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &id));
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n + 1 + 7 + 8 + 64 + 32 + 48 + 24 + 32);
    ck_assert_uint_eq(n2, n + 216);
    /* the contract options are fixed fields: setting them changes no size */
    ck_assert_ok(e, margin_market_set(e, id, MARGIN_MKT_MIN_PRICE, DS("0.5", 8)));
    ck_assert_ok(e, margin_market_set(e, id, MARGIN_MKT_SETTLE_ASSET, 3));
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n));
    ck_assert_uint_eq(n, n2);
    ck_assert_ok(e, margin_market_set(e, id, MARGIN_MKT_SETTLE_ASSET, 0));
    n = n2;
    ck_assert_ok(e, margin_account_new(e, &id)); /* 7*8 + 4 + 4 + 8 */
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n + 72);
    n = n2;
    ck_assert_ok(e, margin_account_deposit(e, 1, D("1000"))); /* one queued event: 27 * 8 */
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n + 216);
    n = n2;
    /* an open position with no PnL, funding or stops, but a fee: 44 + 8 (fees), the head
     * of its block 12; its OPEN event 216 */
    ck_assert_ok(e, margin_position_open(e, 1, 1, MARGIN_LONG, DS("0.1", 8), DS("20000", 8),
                                         D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n + 12 + 52 + 216);
    n = n2;
    ck_assert_ok(e, margin_position_set_stops(e, id, DS("19000", 8), 0)); /* + stop 8 */
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n + 8);
    n = n2;
    ck_assert_ok(e, margin_account_set_mode(e, 1, 1, MARGIN_MODE_ISOLATED)); /* no-op */
    ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
    ck_assert_uint_eq(n2, n);
    {
        uint64_t m2;
        ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &m2));
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n));
        ck_assert_ok(e, margin_account_set_mode(e, 1, m2, MARGIN_MODE_CROSS)); /* + 4 */
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
        ck_assert_uint_eq(n2, n + 4);
        n = n2;
        /* a cross position: 44 + fees 8 + keys 16, and its event */
        ck_assert_ok(e, margin_position_open(e, 1, m2, MARGIN_LONG, DS("1", 8),
                                             DS("1500", 8), D("10"), 0, MARGIN_FLAG_CROSS, &id));
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
        ck_assert_uint_eq(n2, n + 68 + 216);
        /* an insurance deposit: only its event (the ENGN total and the pool are fixed
         * fields) */
        n = n2;
        ck_assert_ok(e, margin_insurance_deposit(e, 1, D("50")));
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
        ck_assert_uint_eq(n2, n + 216);
        /* an ADL quantile: 8 bytes on the record of the position that has one (the long
         * of ETHUSDT, alone on its side, in profit at the mark 1600: quantile 4) */
        n = n2;
        ck_assert_ok(e, margin_mark_update(e, m2, DS("1600", 8)));
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n));
        ck_assert_ok(e, margin_market_adl_quantiles(e, m2));
        ck_assert_int_eq(pos_get(e, id, MARGIN_POS_ADL_QUANTILE), 4);
        ck_assert_ok(e, margin_snapshot_save(e, NULL, 0, &n2));
        ck_assert_uint_eq(n2, n + 8);
    }
    margin_engine_free(e);
}
END_TEST

/* A fresh engine's every getter and snapshot bytes. */
static void require_empty(margin_engine *t, const char *what)
{
    margin_engine *fresh = new_engine();
    su_require_same_state(fresh, t, what);
    margin_engine_free(fresh);
}

START_TEST(test_load_nonempty)
{
    margin_engine *src = build_variant(3);
    size_t n;
    uint8_t *b = su_save(src, &n);
    /* each kind of content makes an engine non-empty */
    for (int k = 0; k < 4; k++) {
        margin_engine *t = new_engine(), *copy;
        uint64_t id;
        int32_t ty;
        if (k == 0)
            ck_assert_ok(t, margin_market_new(t, "XYZ", &id));
        if (k >= 1)
            ck_assert_ok(t, margin_account_new(t, &id));
        if (k >= 2)
            ck_assert_ok(t, margin_account_deposit(t, id, 5)); /* an event queued */
        if (k == 3)
            ck_assert_ok(t, margin_event_next(t, &ty)); /* taken: nothing queued, seq 1 */
        copy = su_clone(t, "before");
        ck_assert_rc(t, margin_snapshot_load(t, b, n), MARGIN_ESTATE);
        ck_assert_msg(strstr(margin_errmsg(t), "empty") != NULL, "message: %s",
                      margin_errmsg(t));
        su_require_same(copy, t, "a refused load changed the engine");
        margin_engine_free(copy);
        margin_engine_free(t);
    }
    /* options alone do not make it non-empty; they come from the snapshot */
    {
        margin_engine *t = new_engine(), *fresh = new_engine();
        static const int64_t lv[1] = {30000000};
        ck_assert_ok(t, margin_engine_set(t, MARGIN_ENG_TIME, 77));
        ck_assert_ok(t, margin_engine_set(t, MARGIN_ENG_FULL_SCAN, 1));
        ck_assert_ok(t, margin_engine_set(t, MARGIN_ENG_EVENT_CAP, 3));
        ck_assert_ok(t, margin_engine_set_margin_call_levels(t, lv, 1));
        ck_assert_ok(t, margin_snapshot_load(t, b, n));
        su_require_same(src, t, "options replaced by the snapshot's");
        ck_assert_ok(fresh, margin_engine_set(fresh, MARGIN_ENG_TIME, 77));
        ck_assert_ok(fresh, margin_snapshot_load(fresh, b, n));
        /* a loaded engine is not empty: a second load is refused */
        ck_assert_rc(fresh, margin_snapshot_load(fresh, b, n), MARGIN_ESTATE);
        su_require_same(src, fresh, "second load");
        margin_engine_free(t);
        margin_engine_free(fresh);
    }
    /* the argument errors */
    {
        margin_engine *t = new_engine();
        ck_assert_int_eq(margin_snapshot_load(NULL, b, n), MARGIN_EINVAL);
        ck_assert_rc(t, margin_snapshot_load(t, NULL, 5), MARGIN_EINVAL);
        require_empty(t, "after EINVAL");
        ck_assert_ok(t, margin_snapshot_load(t, b, n));
        margin_engine_free(t);
    }
    free(b);
    margin_engine_free(src);
}
END_TEST

/* Loading, saving, writing and hashing from inside the event callback are refused. */
static const uint8_t *cb_buf;
static size_t cb_len;
static int cb_rc;
static int cb_save_rc, cb_write_rc, cb_hash_rc;
static const char *cb_path;
static void load_cb(void *user, const margin_engine *ce, int32_t type)
{
    margin_engine *e = user;
    size_t n = 0;
    uint64_t h;
    (void)type;
    cb_rc = margin_snapshot_load(e, cb_buf, cb_len);
    /* the call delivering the event is half applied: no snapshot of that state */
    cb_save_rc = margin_snapshot_save(ce, NULL, 0, &n);
    cb_write_rc = margin_snapshot_write(ce, cb_path);
    cb_hash_rc = margin_state_hash(ce, &h);
}

START_TEST(test_load_in_callback)
{
    margin_engine *src = build_variant(0), *t = new_engine();
    size_t n;
    uint8_t *b = su_save(src, &n);
    uint64_t a;
    cb_buf = b;
    cb_len = n;
    cb_rc = 0;
    cb_path = "/nonexistent-dir/never-written.bin";
    ck_assert_ok(t, margin_account_new(t, &a));
    ck_assert_ok(t, margin_engine_set_callback(t, load_cb, t));
    ck_assert_ok(t, margin_account_deposit(t, a, 100));
    ck_assert_int_eq(cb_rc, MARGIN_ESTATE);
    ck_assert_int_eq(cb_save_rc, MARGIN_ESTATE);
    ck_assert_int_eq(cb_write_rc, MARGIN_ESTATE);
    ck_assert_int_eq(cb_hash_rc, MARGIN_ESTATE);
    free(b);
    margin_engine_free(t);
    margin_engine_free(src);
}
END_TEST

/* ------------------------------------------------------------------ corrupt snapshots */

/* The snapshot that the corruption tests damage: the scenario with a current event and
 * queued events (variant 3), and its layout. */
static uint8_t *good;
static size_t good_n;
static layout_t GL;

static void good_setup(void)
{
    margin_engine *e = build_variant(3);
    good = su_save(e, &good_n);
    walk(good, good_n, &GL);
    margin_engine_free(e);
}

static void good_teardown(void)
{
    free(good);
    good = NULL;
}

/* A position record: the first with this status and mode (cross -1: either). */
static size_t find_pos(const uint8_t *b, int status, int cross)
{
    for (size_t i = 0; i < GL.np; i++) {
        const uint8_t *p = b + GL.pos[i];
        if (p[1] == status && (cross < 0 || (p[0] & PF_CROSS) == (unsigned)cross))
            return GL.pos[i];
    }
    ck_abort_msg("the scenario has no position of status %d, cross %d", status, cross);
    return 0;
}

/* Does account a hold an open position in market m? */
static int holds_open(const uint8_t *b, uint32_t a, uint32_t m)
{
    for (size_t i = 0; i < GL.np; i++) {
        const uint8_t *p = b + GL.pos[i];
        if (p[1] == MARGIN_STATUS_OPEN && rd32(p + 4) == a && rd32(p + 8) == m)
            return 1;
    }
    return 0;
}

/* Where the optional field `bit` of the position record at off is (it must be there). */
static size_t opt_at(const uint8_t *b, size_t off, unsigned bit)
{
    unsigned fl = b[off];
    size_t at = off + POS_FIXED;
    ck_assert_msg(fl & bit, "position record without field %u", bit);
    for (unsigned k = PF_REALIZED; k < bit && k <= PF_TAKE; k <<= 1)
        at += (fl & k) ? 8 : 0;
    if (bit == PF_ADLQ)
        at += (fl & PF_KEYS) ? 16 : 0;
    return at;
}

/* Insert k zero bytes at offset at (the buffer has room), fixing the total length. */
static size_t splice(uint8_t *b, size_t n, size_t at, size_t k)
{
    memmove(b + at + k, b + at, n - at);
    memset(b + at, 0, k);
    wr64(b + 16, (int64_t)(n + k));
    return n + k;
}

typedef struct {
    const char *what; /* the damage */
    int want;         /* the status */
    const char *msg;  /* a word the message must hold (the field's name) */
    int keep_crc;     /* 1: do not recompute the CRC */
} damage_t;

#define MK0 (GL.mkt[0]) /* BTCUSDT: 3 tiers given */
#define MKO(m) (GL.mkt[m] + 1 + b[GL.mkt[m]]) /* a market's options, after its symbol */
/* a market's insurance pool (version 3), after its tiers and liquidation options */
#define MKP(m) (MKO(m) + 72 + 32 * (size_t)b[MKO(m) + 5] + MKT_V2)
/* a market's contract (version 4), after its pool: +0 type, +1 minimum price given, +2..7
 * zero, +8 contract size, +16 settlement asset, +24 minimum price */
#define MKC(m) (MKP(m) + MKT_V3)

/* Make market m's pool empty and plain (balance, ADL and floor 0), its balance moved to
 * market `to`'s pool: the pools still sum to the fund, so that a damage after it is the
 * only thing wrong. */
static void pool_move(uint8_t *b, size_t m, size_t to)
{
    wr64(b + MKP(to) + 8, rd64(b + MKP(to) + 8) + rd64(b + MKP(m) + 8));
    wr64(b + MKP(m) + 8, 0);
    wr64(b + MKP(m) + 16, 0);
    b[MKP(m) + 4] = MARGIN_ADL_OFF;
}

/* The record of the first position with an ADL quantile (the scenario computes them). */
static size_t find_adlq(const uint8_t *b)
{
    for (size_t i = 0; i < GL.np; i++)
        if (GL.pos[i] != 0 && (b[GL.pos[i]] & PF_ADLQ))
            return GL.pos[i];
    ck_abort_msg("the scenario has no position with an ADL quantile");
    return 0;
}

/* Damage number k of the good snapshot in b (room for 16 more bytes); returns the new
 * length, 0 when there is no damage k. Each documents what it breaks. */
static size_t damage(int k, uint8_t *b, size_t n, damage_t *d)
{
    const uint8_t *en = b + GL.eng;
    size_t p;
    memset(d, 0, sizeof *d);
    d->want = MARGIN_ECORRUPT;
#define DMG(w, m) (d->what = (w), d->msg = (m))
    switch (k) {
    case 0: /* a position in a market that does not exist */
        DMG("position market index = number of markets", "market");
        wr32(b + find_pos(b, 0, 0) + 8, (uint32_t)GL.nm);
        break;
    case 1:
        DMG("position account index = number of accounts", "account");
        wr32(b + find_pos(b, 1, -1) + 4, (uint32_t)GL.na);
        break;
    case 2: /* free + isolated != deposits - withdrawals + realized - fees + funding */
        DMG("account 1 free balance one unit more", "ledger");
        wr64(b + GL.acct[0], rd64(b + GL.acct[0]) + 1);
        break;
    case 3: { /* balances, but the isolated margin is not its positions' margins */
        uint32_t a = rd32(b + find_pos(b, 0, 0) + 4);
        DMG("one unit moved from free to isolated", "isolated");
        wr64(b + GL.acct[a], rd64(b + GL.acct[a]) - 1);
        wr64(b + GL.acct[a] + 48, rd64(b + GL.acct[a] + 48) + 1);
        break;
    }
    case 4: /* BTCUSDT tier 2's floor equal to tier 1's */
        DMG("tier floors not rising", "tier");
        wr64(b + MKO(0) + 72 + 64, rd64(b + MKO(0) + 72 + 32));
        break;
    case 5:
        DMG("tier rates falling", "tier");
        wr64(b + MKO(0) + 72 + 32 + 8, rd64(b + MKO(0) + 72 + 8) - 1);
        break;
    case 6:
        DMG("first tier floor 1, not 0", "tier");
        wr64(b + MKO(0) + 72, 1);
        break;
    case 7:
        DMG("price scale 19", "scale");
        b[MKO(0)] = 19;
        break;
    case 8:
        DMG("scales 18 + 11 > 28", "scale");
        b[MKO(0)] = 18;
        b[MKO(0) + 1] = 11;
        break;
    case 9: { /* the account of an open cross position made isolated in its market (its
               * one cross market moved to a market where it holds nothing) */
        size_t pp = find_pos(b, 0, 1);
        uint32_t a = rd32(b + pp + 4), m = rd32(b + pp + 8), m2 = (m + 1) % (uint32_t)GL.nm;
        DMG("a cross position where its account is isolated", "mode");
        ck_assert_uint_eq(rd32(b + GL.acct[a] + 60), 1);
        ck_assert(!holds_open(b, a, m2));
        wr32(b + GL.acct[a] + 64, m2);
        break;
    }
    case 10: { /* an account with one cross market and an open isolated position elsewhere:
                * its cross market moved onto that position's market */
        for (p = 0; p < GL.np; p++) {
            const uint8_t *q = b + GL.pos[p];
            uint32_t a = rd32(q + 4);
            if (q[1] == 0 && !(q[0] & PF_CROSS) && rd32(b + GL.acct[a] + 60) == 1 &&
                !holds_open(b, a, rd32(b + GL.acct[a] + 64))) {
                wr32(b + GL.acct[a] + 64, rd32(q + 8));
                break;
            }
        }
        ck_assert_msg(p < GL.np, "no such account in the scenario");
        DMG("an isolated position where its account is cross", "mode");
        break;
    }
    case 11: /* (3 is MARGIN_STATUS_DELEVERAGED since version 3) */
        DMG("position status 4", "status");
        b[find_pos(b, 2, -1) + 1] = 4;
        break;
    case 12:
        DMG("position side 0", "side");
        b[find_pos(b, 0, -1) + 2] = 0;
        break;
    case 13:
        DMG("position side 2", "side");
        b[find_pos(b, 1, -1) + 2] = 2;
        break;
    case 14:
        DMG("queued events' sequence numbers not rising", "sequence");
        ck_assert_uint_ge(GL.nev, 2);
        wr64(b + GL.ev + EV_LEN, rd64(b + GL.ev));
        break;
    case 15:
        DMG("queued event of type 0", "type");
        wr64(b + GL.ev + 16, 0);
        break;
    case 16:
        DMG("last queued event after the engine's last sequence", "sequence");
        wr64(b + GL.ev + (GL.nev - 1) * EV_LEN, rd64(en + EN_LAST_SEQ) + 1);
        break;
    case 17:
        DMG("section tag MRKX where MRKT belongs", "tag");
        b[GL.head[1] + 3] = 'X';
        break;
    case 18:
        DMG("header: 6 sections", "section");
        wr32(b + 12, 6);
        break;
    case 19:
        DMG("engine flags bit 3", "flags");
        wr32(b + GL.eng + EN_FLAGS, rd32(en + EN_FLAGS) | 8);
        break;
    case 20:
        DMG("margin-call levels not rising", "level");
        wr64(b + GL.eng + EN_LEVELS + 8, rd64(en + EN_LEVELS));
        break;
    case 21:
        DMG("9 margin-call levels", "level");
        wr32(b + GL.eng + EN_NLEVELS, 9);
        break;
    case 22:
        DMG("an unused level slot not 0", "level");
        wr64(b + GL.eng + EN_LEVELS + 56, 1);
        break;
    case 23:
        DMG("BTCUSDT mark above its maximum price", "mark");
        wr64(b + MKO(0) + 8 + 56, rd64(b + MKO(0) + 8 + 48) + 1);
        break;
    case 24: /* SOLUSDT step 0 (a step is > 0; an open position off a changed step is fine:
              * the step may change while positions are open) */
        DMG("a market's step of 0", "step");
        wr64(b + MKO(2) + 8 + 8, 0);
        break;
    case 25: /* one more block of ids than POSN holds */
        DMG("engine position count 1024 more than the POSN blocks hold", "block count");
        wr32(b + GL.eng + EN_NPOS, (uint32_t)GL.np + BLOCK);
        break;
    case 26:
        DMG("ETHUSDT renamed BTCUSDT (a duplicate symbol)", "symbol");
        memcpy(b + GL.mkt[1] + 1, "BTCUSDT", 7);
        break;
    case 27:
        DMG("symbol length 0", "symbol");
        b[GL.mkt[1]] = 0;
        break;
    case 28:
        DMG("account margin-call level 4 fired with 3 levels", "level");
        wr32(b + GL.acct[0] + 56, 8);
        break;
    case 29:
        DMG("position margin-call level 4 fired with 3 levels", "level");
        b[find_pos(b, 0, 0) + 3] = 8;
        break;
    case 30:
        DMG("a closed position with a size", "qty");
        wr64(b + find_pos(b, 1, -1) + 12, 1);
        break;
    case 31:
        DMG("leverage 0", "leverage");
        wr64(b + find_pos(b, 0, -1) + 36, 0);
        break;
    case 32:
        DMG("current event after the last sequence", "current event");
        wr64(b + GL.eng + EN_CUR, rd64(en + EN_LAST_SEQ) + 1);
        break;
    case 33:
        DMG("cross liquidation policy 2", "cross");
        wr32(b + GL.eng + EN_POLICY, 2);
        break;
    case 34:
        DMG("re-arm band 1", "band");
        wr64(b + GL.eng + EN_BAND, E8);
        break;
    case 35:
        /* (a taker fee of exactly 1 is a rate margin_market_set() accepts: above it) */
        DMG("taker fee above 1", "fee");
        wr64(b + MKO(0) + 8 + 32, E8 + 1);
        break;
    case 36:
        DMG("maximum price 0", "max_price");
        wr64(b + MKO(0) + 8 + 48, 0);
        break;
    case 37:
        DMG("tick 0", "tick");
        wr64(b + MKO(0) + 8, 0);
        break;
    case 38:
        DMG("mark -1", "mark");
        wr64(b + MKO(0) + 8 + 56, -1);
        break;
    case 39:
        DMG("deposits -1", "deposits");
        wr64(b + GL.acct[0] + 8, -1);
        break;
    case 40:
        DMG("ENGN count 2", "count");
        wr32(b + GL.head[0] + 4, 2);
        break;
    case 41:
        DMG("header length 4 less than the bytes", "length");
        wr64(b + 16, (int64_t)n - 4);
        break;
    case 42:
        DMG("last sequence -1", "last_seq");
        wr64(b + GL.eng + EN_LAST_SEQ, -1);
        break;
    case 43:
        DMG("an isolated position's margin -1", "margin");
        wr64(b + find_pos(b, 0, 0) + 28, -1);
        break;
    case 44:
        DMG("a cross position with a margin", "margin");
        wr64(b + find_pos(b, 0, 1) + 28, 1);
        break;
    case 45:
        DMG("an open position of size 0", "qty");
        wr64(b + find_pos(b, 0, 0) + 12, 0);
        break;
    case 46:
        DMG("entry price 0", "entry");
        wr64(b + find_pos(b, 0, -1) + 20, 0);
        break;
    case 47: /* position 1 (BTCUSDT, stops 15500 / 29000): its take-profit above the
              * market's maximum price */
        DMG("take-profit above the maximum price", "take-profit");
        wr64(b + opt_at(b, GL.pos[0], PF_TAKE), rd64(b + MKO(0) + 8 + 48) + 1);
        break;
    case 48: /* ETHUSDT: fee to close 0.996 passes as a rate; with its tier's 0.004 it is 1 */
        DMG("tier rate + fee to close = 1", "tier");
        wr64(b + MKO(1) + 8 + 40, E8 - 400000);
        break;
    case 49: {
        size_t pp = find_pos(b, 0, 1);
        uint32_t a = rd32(b + pp + 4);
        DMG("a cross market index past the markets", "cross market");
        wr32(b + GL.acct[a] + 64, (uint32_t)GL.nm);
        break;
    }
    case 50:
        DMG("POSN payload length 8 more than what is left", "POSN");
        d->want = MARGIN_ETRUNCATED;
        wr64(b + GL.head[3] + 8, rd64(b + GL.head[3] + 8) + (int64_t)(n - GL.head[3]));
        break;
    case 51: /* 8 zero bytes inside ACCT, counted in its length and in the total */
        DMG("8 bytes left over at the end of ACCT", "left over");
        wr64(b + GL.head[2] + 8, rd64(b + GL.head[2] + 8) + 8);
        n = splice(b, n, GL.head[3], 8);
        break;
    case 52:
        DMG("8 bytes after the last section", "after the last section");
        n = splice(b, n, n - 4, 8);
        break;
    case 53: { /* every flag bit has a meaning since version 3: bit 7 (an ADL quantile,
                * here 1) on a closed position, its 8 bytes added to the record */
        size_t pp = find_pos(b, 1, -1), end;
        unsigned fl = b[pp];
        DMG("an ADL quantile on a closed position", "status");
        end = pp + POS_FIXED + ((fl & PF_KEYS) ? 16 : 0);
        for (unsigned bit = PF_REALIZED; bit <= PF_TAKE; bit <<= 1)
            end += (fl & bit) ? 8 : 0;
        b[pp] = (uint8_t)(fl | PF_ADLQ);
        wr64(b + GL.head[3] + 8, rd64(b + GL.head[3] + 8) + 8);
        n = splice(b, n, end, 8);
        wr64(b + end, 1);
        break;
    }
    case 54:
        DMG("fees -1 on an account", "fees");
        wr64(b + GL.acct[1] + 32, -1);
        break;
    case 55:
        DMG("ETHUSDT basis 2", "mm_basis");
        b[MKO(1) + 2] = 2;
        break;
    case 56:
        DMG("tiers-given flag 2", "tiers_custom");
        b[MKO(1) + 4] = 2;
        break;
    case 57:
        DMG("tier count 0", "tier_count");
        b[MKO(1) + 5] = 0;
        break;
    case 58:
        DMG("maximum leverage below 1x", "max_leverage");
        wr64(b + MKO(1) + 8 + 16, E8 - 1);
        break;
    case 59:
        DMG("step 0", "step");
        wr64(b + MKO(0) + 8 + 8, 0);
        break;
    case 60:
        DMG("a tier's maximum leverage below 1x", "tier");
        wr64(b + MKO(0) + 72 + 16, 1);
        break;
    case 61:
        DMG("a tier's maintenance amount -1", "tier");
        wr64(b + MKO(0) + 72 + 24, -1);
        break;
    case 62:
        DMG("a stop-loss -1", "stop");
        wr64(b + opt_at(b, GL.pos[0], PF_STOP), -1);
        break;
    /* version 3: the insurance pools and the ADL quantiles */
    case 63: /* BTCUSDT's pool one unit more: the pools are not the ENGN fund */
        DMG("the pools sum to the fund plus one", "insurance pools");
        wr64(b + MKP(0) + 8, rd64(b + MKP(0) + 8) + 1);
        break;
    case 64: /* ...and the fund one unit more instead */
        DMG("the fund one unit more than the pools", "insurance pools");
        wr64(b + GL.eng + EN_INSURANCE, rd64(en + EN_INSURANCE) + 1);
        break;
    case 65:
        DMG("SOLUSDT's pool in market index 3 (there are 3 markets)", "insurance pool");
        ck_assert_uint_eq(GL.nm, 3);
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 3);
        break;
    case 66:
        DMG("SOLUSDT's pool in market index 2^32 - 1", "insurance pool");
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 0xFFFFFFFFu);
        break;
    case 67: /* ETHUSDT shares BTCUSDT's pool (valid alone: test_pool_bytes) and SOLUSDT
              * shares ETHUSDT's: a chain */
        DMG("a market sharing the pool of a market that shares another's", "insurance pool");
        pool_move(b, 1, 0);
        wr32(b + MKP(1), 0);
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 1);
        break;
    case 68: /* SOLUSDT shares BTCUSDT's pool but holds 1 (the sum still the fund) */
        DMG("a market sharing a pool with a balance of its own", "insurance pool");
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 0);
        wr64(b + MKP(2) + 8, 1);
        wr64(b + MKP(0) + 8, rd64(b + MKP(0) + 8) - 1);
        break;
    case 69:
        DMG("a market sharing a pool with ADL on of its own", "insurance pool");
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 0);
        b[MKP(2) + 4] = MARGIN_ADL_ON;
        break;
    case 70:
        DMG("a market sharing a pool with a floor of its own", "insurance pool");
        pool_move(b, 2, 0);
        wr32(b + MKP(2), 0);
        wr64(b + MKP(2) + 16, 1);
        break;
    case 71: /* BTCUSDT shares ETHUSDT's pool while ETHUSDT shares BTCUSDT's (a cycle) */
        DMG("two markets sharing each other's pool", "insurance pool");
        pool_move(b, 1, 0);
        wr32(b + MKP(1), 0);
        wr32(b + MKP(0), 1);
        break;
    case 72:
        DMG("ADL switch 2", "ADL");
        b[MKP(1) + 4] = 2;
        break;
    case 73:
        DMG("ADL ranking 2", "ranking");
        b[MKP(2) + 5] = 2;
        break;
    case 74:
        DMG("ADL ranking 255", "ranking");
        b[MKP(0) + 5] = 255;
        break;
    case 75:
        DMG("a pool's floor -1", "floor");
        wr64(b + MKP(1) + 16, -1);
        break;
    case 76:
        DMG("the pool's padding not 0", "padding");
        b[MKP(0) + 7] = 1;
        break;
    case 77:
        DMG("a flagged ADL quantile of 0", "ADL quantile");
        wr64(b + opt_at(b, find_adlq(b), PF_ADLQ), 0);
        break;
    case 78:
        DMG("a flagged ADL quantile of 5", "ADL quantile");
        wr64(b + opt_at(b, find_adlq(b), PF_ADLQ), 5);
        break;
    case 79:
        DMG("a flagged ADL quantile of -1", "ADL quantile");
        wr64(b + opt_at(b, find_adlq(b), PF_ADLQ), -1);
        break;
    case 80:
        DMG("insurance deposits -1", "insurance deposits");
        wr64(b + GL.eng + EN_DEPOSITS, -1);
        break;
    /* version 4: the contract of each market. The scenario's markets are linear (type 0),
     * contracts of 1 (1e8), asset 0, minimum price 1 not given; BTCUSDT (index 0) has the
     * mark 19055 and the maximum price 200000 (scale 8) */
    case 81:
        DMG("contract type 2", "contract type");
        b[MKC(1)] = 2;
        break;
    case 82:
        DMG("contract type 255", "contract type");
        b[MKC(0)] = 255;
        break;
    case 83:
        DMG("minimum price given flag 2", "minimum price");
        b[MKC(2) + 1] = 2;
        break;
    case 84:
        DMG("the contract's first padding byte 1", "padding");
        b[MKC(0) + 2] = 1;
        break;
    case 85:
        DMG("the contract's last padding byte 0x80", "padding");
        b[MKC(2) + 7] = 0x80;
        break;
    case 86:
        DMG("contract size 0", "contract size");
        wr64(b + MKC(1) + 8, 0);
        break;
    case 87:
        DMG("contract size -1", "contract size");
        wr64(b + MKC(0) + 8, -1);
        break;
    case 88: /* the same on every market: only the sign is wrong */
        DMG("settlement asset -1 on every market", "settlement asset");
        for (size_t m = 0; m < GL.nm; m++)
            wr64(b + MKC(m) + 16, -1);
        break;
    case 89:
        DMG("minimum price 0", "minimum price");
        wr64(b + MKC(1) + 24, 0);
        break;
    case 90:
        DMG("minimum price -1", "minimum price");
        wr64(b + MKC(2) + 24, -1);
        break;
    case 91: /* BTCUSDT: its maximum price, 200000 */
        DMG("minimum price equal to the maximum price", "minimum price");
        wr64(b + MKC(0) + 24, rd64(b + MKO(0) + 8 + 48));
        break;
    case 92: /* BTCUSDT: its mark (19055) + 1, below its maximum */
        DMG("minimum price one unit above the mark", "minimum price");
        ck_assert_int_gt(rd64(b + MKO(0) + 8 + 56), 0);
        wr64(b + MKC(0) + 24, rd64(b + MKO(0) + 8 + 56) + 1);
        break;
    case 93:
        DMG("contract size INT64_MIN", "contract size");
        wr64(b + MKC(2) + 8, INT64_MIN);
        break;
    case 94: /* (case 91 is the boundary) */
        DMG("minimum price INT64_MAX, above the maximum price", "minimum price");
        wr64(b + MKC(1) + 24, INT64_MAX);
        break;
    case 95: /* ETHUSDT inverse, BTCUSDT linear */
        DMG("the second market inverse, the first linear",
            "contract type or settlement asset (differs");
        b[MKC(1)] = MARGIN_CONTRACT_INVERSE;
        break;
    case 96:
        DMG("the second market in settlement asset 1, the first in 0",
            "contract type or settlement asset (differs");
        wr64(b + MKC(1) + 16, 1);
        break;
    case 97: /* the first market differs from the others: refused at the second */
        DMG("the first market in settlement asset 7, the others in 0",
            "contract type or settlement asset (differs");
        wr64(b + MKC(0) + 16, 7);
        break;
    case 98: /* BTCUSDT's minimum price one unit above position 1's stop-loss (15500, step
              * 70), which is below the mark (19055): margin_market_set() refuses it so */
        DMG("a stop-loss below the market's minimum price",
            "stop or take-profit (below the minimum price");
        ck_assert_int_eq(rd64(b + opt_at(b, GL.pos[0], PF_STOP)), DS("15500", 8));
        wr64(b + MKC(0) + 24, DS("15500", 8) + 1);
        break;
    case 99: /* (every market inverse loads: cross positions are allowed there) */
        DMG("the last market inverse, the others linear",
            "contract type or settlement asset (differs");
        b[MKC(GL.nm - 1)] = MARGIN_CONTRACT_INVERSE;
        break;
    default:
        return 0;
    }
#undef DMG
    if (!d->keep_crc)
        fix_crc(b, n);
    return n;
}

START_TEST(test_corrupt_fields)
{
    uint8_t *b = malloc(good_n + 16);
    int k;
    ck_assert(b != NULL);
    for (k = 0;; k++) {
        damage_t d;
        size_t n;
        uint8_t *exact;
        margin_engine *t = new_engine();
        int rc;
        memcpy(b, good, good_n);
        n = damage(k, b, good_n, &d);
        if (n == 0) {
            margin_engine_free(t);
            break;
        }
        exact = malloc(n); /* exactly n bytes: an overread is caught by the sanitizers */
        ck_assert(exact != NULL);
        memcpy(exact, b, n);
        rc = margin_snapshot_load(t, exact, n);
        ck_assert_msg(rc == d.want, "damage %d (%s): status %d (%s: %s), want %d", k, d.what,
                      rc, margin_strerror(rc), margin_errmsg(t), d.want);
        ck_assert_msg(strstr(margin_errmsg(t), d.msg) != NULL,
                      "damage %d (%s): the message does not name '%s': %s", k, d.what, d.msg,
                      margin_errmsg(t));
        require_empty(t, d.what);
        /* and the engine is usable: a good snapshot loads into it */
        ck_assert_ok(t, margin_snapshot_load(t, good, good_n));
        {
            size_t n2;
            uint8_t *s2 = su_save(t, &n2);
            ck_assert(su_bytes_diff(good, good_n, s2, n2) < 0);
            free(s2);
        }
        free(exact);
        margin_engine_free(t);
    }
    ck_assert_int_ge(k, 100);
    free(b);
}
END_TEST

/* Load a copy of buf[0..n) of exactly n bytes into a fresh engine; returns the status and
 * requires the engine to be empty after a failure. */
static int load_exact(const uint8_t *buf, size_t n, int check_empty)
{
    uint8_t *exact = malloc(n ? n : 1);
    margin_engine *t = new_engine();
    int rc;
    ck_assert(exact != NULL);
    if (n)
        memcpy(exact, buf, n);
    rc = margin_snapshot_load(t, exact, n);
    if (rc != MARGIN_OK && check_empty) {
        int64_t v;
        ck_assert_int_eq(eng_get(t, MARGIN_ENG_LAST_SEQ), 0);
        ck_assert_rc(t, margin_market_get(t, 1, MARGIN_MKT_MARK, &v), MARGIN_ENOTFOUND);
        ck_assert_rc(t, margin_account_get(t, 1, MARGIN_ACCT_DEPOSITS, &v), MARGIN_ENOTFOUND);
        ck_assert_rc(t, margin_position_get(t, 1, MARGIN_POS_QTY, &v), MARGIN_ENOTFOUND);
    }
    free(exact);
    margin_engine_free(t);
    return rc;
}

START_TEST(test_corrupt_magic_version_checksum)
{
    uint8_t *b = malloc(good_n);
    ck_assert(b != NULL);
    /* the magic, each byte */
    for (int i = 0; i < 8; i++) {
        memcpy(b, good, good_n);
        b[i] ^= 0x20;
        ck_assert_int_eq(load_exact(b, good_n, 1), MARGIN_EMAGIC);
        fix_crc(b, good_n);
        ck_assert_int_eq(load_exact(b, good_n, 1), MARGIN_EMAGIC);
    }
    /* versions 0, 5 (the next) and a large one, with and without the CRC recomputed */
    {
        const uint32_t vs[3] = {0, VERSION + 1, 0x01000001};
        for (int i = 0; i < 3; i++) {
            margin_engine *t = new_engine();
            memcpy(b, good, good_n);
            wr32(b + 8, vs[i]);
            ck_assert_int_eq(load_exact(b, good_n, 1), MARGIN_EVERSION);
            fix_crc(b, good_n);
            ck_assert_rc(t, margin_snapshot_load(t, b, good_n), MARGIN_EVERSION);
            ck_assert_msg(strstr(margin_errmsg(t), "version") != NULL, "%s", margin_errmsg(t));
            margin_engine_free(t);
        }
    }
    /* one bit flipped in every byte (the bit moves along): the magic and version report
     * themselves, the length field a cut or an inconsistency, everything else the CRC */
    for (size_t i = 0; i < good_n; i++) {
        int rc, want;
        memcpy(b, good, good_n);
        b[i] ^= (uint8_t)(1u << (i % 8));
        rc = load_exact(b, good_n, i % 97 == 0);
        if (i < 8)
            want = MARGIN_EMAGIC;
        else if (i < 12) /* a version this library reads would fail on the CRC (the one
                          * bit flipped in byte 8, bit 0, makes 4 into 5: unread) */
            want = rd32(b + 8) >= 1 && rd32(b + 8) <= VERSION ? MARGIN_ECHECKSUM
                                                               : MARGIN_EVERSION;
        else if (i >= 16 && i < 24)
            want = (uint64_t)rd64(b + 16) > good_n ? MARGIN_ETRUNCATED : MARGIN_ECORRUPT;
        else
            want = MARGIN_ECHECKSUM;
        ck_assert_msg(rc == want, "bit flipped in byte %zu of %zu: status %d, want %d", i,
                      good_n, rc, want);
    }
    free(b);
}
END_TEST

START_TEST(test_corrupt_truncated)
{
    uint8_t *b = malloc(good_n);
    ck_assert(b != NULL);
    /* cut at every length: nothing loads, nothing crashes */
    for (size_t len = 0; len < good_n; len++) {
        int rc = load_exact(good, len, len % 61 == 0);
        if (len < 8)
            ck_assert_msg(rc == MARGIN_EMAGIC || rc == MARGIN_ETRUNCATED, "cut at %zu: %d", len,
                          rc);
        else
            ck_assert_msg(rc == MARGIN_ETRUNCATED, "cut at %zu: %d", len, rc);
    }
    {
        margin_engine *t = new_engine();
        ck_assert_rc(t, margin_snapshot_load(t, NULL, 0), MARGIN_EMAGIC);
        ck_assert_rc(t, margin_snapshot_load(t, good, good_n - 1), MARGIN_ETRUNCATED);
        ck_assert_msg(strstr(margin_errmsg(t), "cut") != NULL, "%s", margin_errmsg(t));
        margin_engine_free(t);
    }
    /* cut with a header that agrees (its length and the CRC rewritten): the sections run
     * out, at every length from the first section head on */
    for (size_t c = HDR; c + 4 < good_n; c++) {
        int rc;
        memcpy(b, good, c);
        wr64(b + 16, (int64_t)c + 4);
        wr32(b + c, crc32c_ref(b, c));
        rc = load_exact(b, c + 4, c % 53 == 0);
        /* a section longer than what is left: ETRUNCATED; a section head or an item cut
         * inside a section whose length fits: ECORRUPT (counts and lengths disagree) */
        ck_assert_msg(rc == MARGIN_ETRUNCATED || rc == MARGIN_ECORRUPT,
                      "consistent cut at %zu: %d (%s)", c, rc, margin_strerror(rc));
    }
    free(b);
}
END_TEST

/* Is byte `at` part of a section head's item count? */
static int is_count_field(size_t at)
{
    for (int s = 0; s < 5; s++)
        if (at >= GL.head[s] + 4 && at < GL.head[s] + 8)
            return 1;
    return 0;
}

/* An allocator that refuses any block above 64 MiB and remembers the largest asked for. */
static size_t huge_max;
static void *capped_malloc(void *user, size_t n)
{
    (void)user;
    if (n > huge_max)
        huge_max = n;
    return n > ((size_t)64 << 20) ? NULL : malloc(n);
}
static void *capped_realloc(void *user, void *p, size_t n)
{
    (void)user;
    if (n > huge_max)
        huge_max = n;
    return n > ((size_t)64 << 20) ? NULL : realloc(p, n);
}
static void capped_free(void *user, void *p)
{
    (void)user;
    free(p);
}

/* A count the payload cannot hold is an inconsistent field (MARGIN_ECORRUPT, or
 * MARGIN_ETRUNCATED: the records run out), found before anything that size is allocated:
 * a snapshot of a few hundred bytes must not make the loader ask for gigabytes (a count of
 * 2^20 markets once allocated 1.7 GB before the check). */
START_TEST(test_corrupt_huge_counts)
{
    static const uint32_t counts[] = {1u << 16, 1u << 20, 1u << 24, 0x7FFFFFFFu, 0xFFFFFFFFu};
    margin_engine *src = new_engine();
    size_t n;
    uint8_t *b;
    uint64_t id;
    ck_assert_ok(src, margin_market_new(src, "BTCUSDT", &id));
    ck_assert_ok(src, margin_account_new(src, &id));
    b = su_save(src, &n);
    walk(b, n, &L);
    for (int s = 1; s <= 2; s++) /* MRKT, ACCT */
        for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
            uint8_t *c = malloc(n);
            margin_engine *t = NULL;
            int rc;
            ck_assert(c != NULL);
            memcpy(c, b, n);
            wr32(c + L.head[s] + 4, counts[k]);
            fix_crc(c, n);
            ck_assert_int_eq(margin_engine_new_with_allocator(&t, capped_malloc, capped_realloc,
                                                              capped_free, NULL),
                             MARGIN_OK);
            huge_max = 0;
            rc = margin_snapshot_load(t, c, n);
            ck_assert_msg(rc == MARGIN_ECORRUPT || rc == MARGIN_ETRUNCATED,
                          "%s count %u in a %zu-byte snapshot: status %d (%s)", TAGS[s],
                          counts[k], n, rc, margin_errmsg(t));
            ck_assert_msg(huge_max <= 64 * n + (1u << 20),
                          "%s count %u in a %zu-byte snapshot: the loader asked for %zu bytes",
                          TAGS[s], counts[k], n, huge_max);
            margin_engine_free(t);
            free(c);
        }
    free(b);
    margin_engine_free(src);
}
END_TEST

/* Every state the API can reach loads back: margin_market_set(MARGIN_MKT_STEP) accepts a
 * new step while positions are open, so the loader accepts an open position off its
 * market's step (it once rejected it: "qty (off the step)"). */
START_TEST(test_known_step_changed)
{
    margin_engine *e = new_engine(), *t;
    uint64_t m, a, id;
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D("10000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, 49, DS("20000", 8), D("10"), 0,
                                         0, &id));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_STEP, 100));
    t = su_clone(e, "a market step changed under an open position");
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* Cross positions on inverse markets round-trip: a market where an account is in cross
 * mode can become inverse, and an engine with a cross book on it saves, loads and saves
 * again to the same bytes, with the same liquidation price. */
START_TEST(test_known_cross_mode_inverse)
{
    margin_engine *e = new_engine(), *t;
    uint64_t m, a, p;
    int64_t v = -1, w = -2;
    ck_assert_ok(e, margin_market_new(e, "XBTUSD", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D("1")));
    ck_assert_ok(e, margin_account_set_mode(e, a, m, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_market_set(e, m, MARGIN_MKT_CONTRACT, MARGIN_CONTRACT_INVERSE));
    ck_assert_ok(e, margin_market_get(e, m, MARGIN_MKT_CONTRACT, &v));
    ck_assert_int_eq(v, MARGIN_CONTRACT_INVERSE);
    ck_assert_ok(e, margin_mark_update(e, m, D("10000")));
    ck_assert_ok(e, margin_position_open(e, a, m, MARGIN_LONG, D("1000"), D("10000"), D("5"), 0,
                                         MARGIN_FLAG_CROSS, &p));
    t = su_clone(e, "a cross position on an inverse market");
    ck_assert_ok(e, margin_position_at(e, p, MARGIN_AT_LIQ_PRICE, D("10000"), &v));
    ck_assert_ok(t, margin_position_at(t, p, MARGIN_AT_LIQ_PRICE, D("10000"), &w));
    ck_assert_int_eq(v, w);
    ck_assert(v > 0 && v < D("10000"));
    margin_engine_free(t);
    margin_engine_free(e);
}
END_TEST

/* Random damage with the CRC recomputed: every result is a documented status; whatever
 * loads saves and loads again to the same bytes and survives further calls. */
START_TEST(test_corrupt_random)
{
    uint64_t rs = 0xC0441u + (uint64_t)_i;
    uint8_t *b = malloc(good_n);
    int loaded = 0;
    ck_assert(b != NULL);
    for (int round = 0; round < 1500; round++) {
        margin_engine *t = new_engine();
        int rc, nb = 1 + (int)(splitmix64(&rs) % 4);
        memcpy(b, good, good_n);
        for (int j = 0; j < nb; j++) {
            size_t at = HDR + (size_t)(splitmix64(&rs) % (good_n - HDR - 4));
            uint64_t r = splitmix64(&rs);
            if (is_count_field(at))
                continue; /* test_corrupt_huge_counts: a known library bug */
            /* a small change, a sign, or a byte: small changes pass more checks */
            if (r % 3 == 0)
                b[at] = (uint8_t)(b[at] + 1 + (r >> 8) % 3);
            else if (r % 3 == 1)
                b[at] ^= 0x80;
            else
                b[at] = (uint8_t)(r >> 16);
        }
        fix_crc(b, good_n);
        rc = margin_snapshot_load(t, b, good_n);
        ck_assert_msg(rc == MARGIN_OK || rc == MARGIN_ECORRUPT || rc == MARGIN_ETRUNCATED,
                      "round %d: status %d (%s)", round, rc, margin_errmsg(t));
        if (rc == MARGIN_OK) {
            margin_engine *u;
            int64_t v;
            loaded++;
            u = su_clone(t, "damaged but valid");
            /* it is a working engine: marks, funding and queries run, on both alike */
            for (uint64_t m = 1; m <= 3; m++) {
                int64_t mp = 0;
                if (margin_market_get(t, m, MARGIN_MKT_MAX_PRICE, &mp) != MARGIN_OK)
                    break;
                ck_assert_int_eq(margin_mark_update(t, m, mp / 3 + 1),
                                 margin_mark_update(u, m, mp / 3 + 1));
                ck_assert_int_eq(margin_funding_apply(t, m, D("0.001"), mp / 2 + 1),
                                 margin_funding_apply(u, m, D("0.001"), mp / 2 + 1));
                ck_assert_int_eq(margin_mark_update(t, m, 1), margin_mark_update(u, m, 1));
            }
            (void)margin_account_get(t, 1, MARGIN_ACCT_EQUITY, &v);
            su_drain_same(t, u, "damaged but valid");
            su_require_same(t, u, "damaged but valid, continued");
            margin_engine_free(u);
        } else {
            require_empty(t, "random damage");
        }
        margin_engine_free(t);
    }
    ck_assert_int_gt(loaded, 0); /* some damage leaves a valid snapshot (a mark, a time) */
    free(b);
}
END_TEST

/* ------------------------------------------------------------------ compatibility file */

#define PX8(s) DS(s, 8)
#define EPX(s) DS(s, 2)
#define EQT(s) DS(s, 3)

/* The scenario of tests/data/snapshot-v1.bin (format version 1). Every figure the test
 * checks is worked out here by hand (money and rates at 8 decimals):
 *
 * Engine: margin-call levels {0.5, 0.8}, re-arm band 0.1, cross policy worst first, event
 * cap 1000; time 1000, then 2000 before the mark.
 * Market 1 BTCUSDT: defaults (scales 8/8, one tier mmr 0.004 cum 0, taker 0.0004), maximum
 * price 100000. Market 2 ETHUSDT: price scale 2, quantity scale 3, one tier given (floor 0,
 * mmr 0.005, derived amount 0).
 * Accounts: 1 deposits 10000, 2 deposits 5000, 3 deposits 1000, 4 deposits 200 and is cross
 * in ETHUSDT.                                                         (events 1-4)
 * P1 account 1 long 1 BTC @20000 10x: M = 2000, fee 20000*0.0004 = 8;
 *    stops 17000 / 25000.                                              (event 5)
 * P2 account 2 short 0.5 BTC @20000 20x: M = 500, fee 4.               (event 6)
 * P3 account 3 long 0.1 BTC @20000 100x: M = 20, fee 0.8.              (event 7)
 * P4 account 4 cross long 1 ETH @1500 20x: fee 0.6.                    (event 8)
 * P5 account 4 cross short 0.5 ETH @1500 20x: fee 0.3 (a hedge leg).   (event 9)
 * P6 account 2 long 0.2 BTC @20000 5x: M = 800, fee 1.6; free after
 *    5000 - 504 - 801.6 = 3694.4; LP (800 - 4000)/(0.2*0.004 - 0.2)
 *    = 16064.2570281... up: 16064.25702812.                            (event 10)
 * P6 closed @20500: PnL 0.2*500 = 100, fee 0.2*20500*0.0004 = 1.64; free after
 *    3694.4 + 800 + 100 - 1.64 = 4592.76.                              (event 11)
 * Mark BTC 18100 at time 2000, in position order:
 *  P1: LP = (M - Q*E)/(Q*mmr - Q) = -18000/-0.996 = 18072.2891566... up: 18072.28915663;
 *      level L price L*(M - Q*E)/(Q*(mmr - L)): 0.5: -9000/-0.496 = 18145.1612903... up
 *      18145.16129033; 0.8: -14400/-0.796 = 18090.4522613... up 18090.45226131. 18100 is
 *      at or below the 0.5 price and above the 0.8 price: level 0.5 fires, ratio
 *      18100*0.004 / (2000 - 1900) = 72.4 / 100 = 0.724.               (event 12)
 *  P3: LP = (20 - 2000)/(0.1*0.004 - 0.1) = 19879.5180722... up 19879.51807229 >= 18100:
 *      liquidated; holder -20; fund 0.1*(18100 - 20000) + 20 = -170; bankruptcy price
 *      20000 - 20/0.1 = 19800.                                         (event 13)
 *  P2 (short): LP = (500 + 10000)/(0.5*0.004 + 0.5) = 20916.3346613... down
 *      20916.33466135 > 18100: nothing.
 * Ten events taken: event 10 is current, 11-13 queued.
 * Balances: account 1 free 10000 - 2000 - 8 = 7992, isolated 2000, fees 8, equity
 * 7992 + 2000 - 1900 = 8092; account 2 free 4592.76, isolated 500, realized 100, fees
 * 4 + 1.6 + 1.64 = 7.24; account 3 free 979.2, isolated 0, realized -20, fees 0.8;
 * insurance fund -170, one liquidation, last sequence 13.
 * Account 4 (cross, ETHUSDT has no mark: entry prices): wallet 200 - 0.9 = 199.1,
 * unrealized 0, maintenance 1500*0.005 + 750*0.005 = 11.25, initial 75 + 37.5 = 112.5,
 * ratio 11.25/199.1 = 0.0565042692... up 0.05650427, available min(199.1 - 112.5,
 * 199.1 - 11.25 - 0.00000001) = 86.6; the legs' liquidation price (WB - Q_L*E_L +
 * Q_S*E_S)/(Q_L*mmr + Q_S*mmr - Q_L + Q_S) = (199.1 - 1500 + 750)/(0.0075 - 0.5)
 * = 1118.5786802... net long, up at 2 decimals: 1118.58.
 * Continued: mark BTC 21000 liquidates P2 (21000 >= 20916.33...): holder -500, fund
 * -0.5*(21000 - 20000) + 500 = 0, bankruptcy 20000 + 500/0.5 = 21000 (event 14); P1's
 * fired level 0.5 re-arms above the price of 0.5 - 0.1 = 0.4: -7200/-0.396 = 18181.81...
 * Then mark 18140 fires P1's level 0.5 again (18140 <= 18145.16...), ratio
 * 72.56/140 = 0.5182857... up 0.51828572 (event 15). */
static margin_engine *build_compat_scenario(void)
{
    static const int64_t lv[2] = {50000000, 80000000};
    margin_engine *e = new_engine();
    uint64_t id;
    ck_assert_ok(e, margin_engine_set_margin_call_levels(e, lv, 2));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_REARM_BAND, D("0.1")));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_CROSS_LIQUIDATION, MARGIN_CROSS_LIQ_WORST_FIRST));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_CAP, 1000));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 1000));
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &id));
    ck_assert_ok(e, margin_market_set(e, 1, MARGIN_MKT_MAX_PRICE, PX8("100000")));
    ck_assert_ok(e, margin_market_new(e, "ETHUSDT", &id));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_PRICE_SCALE, 2));
    ck_assert_ok(e, margin_market_set(e, 2, MARGIN_MKT_QTY_SCALE, 3));
    ck_assert_ok(e, margin_market_add_tier(e, 2, 0, D("0.005"), 0, MARGIN_DERIVE));
    for (int a = 0; a < 4; a++)
        ck_assert_ok(e, margin_account_new(e, &id));
    ck_assert_ok(e, margin_account_deposit(e, 1, D("10000")));
    ck_assert_ok(e, margin_account_deposit(e, 2, D("5000")));
    ck_assert_ok(e, margin_account_deposit(e, 3, D("1000")));
    ck_assert_ok(e, margin_account_deposit(e, 4, D("200")));
    ck_assert_ok(e, margin_account_set_mode(e, 4, 2, MARGIN_MODE_CROSS));
    ck_assert_ok(e, margin_position_open(e, 1, 1, MARGIN_LONG, PX8("1"), PX8("20000"), D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_position_set_stops(e, 1, PX8("17000"), PX8("25000")));
    ck_assert_ok(e, margin_position_open(e, 2, 1, MARGIN_SHORT, PX8("0.5"), PX8("20000"), D("20"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 3, 1, MARGIN_LONG, PX8("0.1"), PX8("20000"), D("100"), 0, 0, &id));
    ck_assert_ok(e, margin_position_open(e, 4, 2, MARGIN_LONG, EQT("1"), EPX("1500"), D("20"), 0, MARGIN_FLAG_CROSS, &id));
    ck_assert_ok(e, margin_position_open(e, 4, 2, MARGIN_SHORT, EQT("0.5"), EPX("1500"), D("20"), 0, MARGIN_FLAG_CROSS, &id));
    ck_assert_ok(e, margin_position_open(e, 2, 1, MARGIN_LONG, PX8("0.2"), PX8("20000"), D("5"), 0, 0, &id));
    ck_assert_ok(e, margin_position_close(e, 6, PX8("20500"), 0));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, 2000));
    ck_assert_ok(e, margin_mark_update(e, 1, PX8("18100")));
    take_events(e, 10);
    return e;
}

/* The snapshot fuzzer's findings (fuzz/corpus-snapshot/regress-*: the first byte picks
 * the harness's mode, the rest is the snapshot), each a loader bug fixed in lib/: each must
 * be refused as inconsistent, and leave its engine empty and able to load a good one. */
START_TEST(test_fuzz_findings)
{
    static const char *const names[] = {
        "regress-alloc-accounts",        "regress-alloc-markets",
        "regress-closes-count",          "regress-cross-fired-level",
        "regress-last-seq-max",          "regress-noncanon-current-event",
        "regress-noncanon-engn-pad",     "regress-noncanon-flagged-zero",
        "regress-noncanon-market-pad",   "regress-noncanon-market-used",
        "regress-noncanon-reserved",     "regress-tier-rate-overflow",
    };
    const char *top = getenv("top_srcdir");
    const char *cands[3] = {top, ".", ".."};
    margin_engine *fresh = new_engine();
    size_t empty_n, found = 0;
    uint8_t *empty = su_save(fresh, &empty_n);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[1024];
        FILE *f = NULL;
        uint8_t buf[1 << 16];
        size_t n;
        for (int i = 0; i < 3 && f == NULL; i++) {
            if (cands[i] == NULL)
                continue;
            snprintf(path, sizeof path, "%s/fuzz/corpus-snapshot/%s", cands[i], names[k]);
            f = fopen(path, "rb");
        }
        if (f == NULL)
            continue; /* (a tree without the corpus: checked below) */
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        found++;
        {
            margin_engine *t = new_engine();
            size_t tn;
            uint8_t *tb;
            int rc = margin_snapshot_load(t, buf + 1, n - 1);
            ck_assert_msg(rc == MARGIN_ECORRUPT, "%s: status %d (%s), want MARGIN_ECORRUPT",
                          names[k], rc, margin_errmsg(t));
            tb = su_save(t, &tn);
            ck_assert_msg(tn == empty_n && memcmp(tb, empty, tn) == 0, "%s: engine not empty",
                          names[k]);
            free(tb);
            ck_assert_ok(t, margin_snapshot_load(t, empty, empty_n));
            margin_engine_free(t);
        }
    }
    ck_assert_msg(found == sizeof names / sizeof names[0],
                  "found %zu of the fuzzer's regression inputs (set top_srcdir)", found);
    free(empty);
    margin_engine_free(fresh);
}
END_TEST

static int compat_path(char *buf, size_t size, int version)
{
    const char *top = getenv("top_srcdir");
    const char *cands[3] = {top, ".", ".."};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (cands[i] == NULL)
            continue;
        snprintf(buf, size, "%s/tests/data/snapshot-v%d.bin", cands[i], version);
        if (stat(buf, &st) == 0)
            return 1;
    }
    return 0;
}

/* The current event has these fields (pairs: field, value). */
static void fields_are(const margin_engine *e, const int64_t (*want)[2], size_t n)
{
    int64_t f[SU_NF];
    ck_assert_ok(e, margin_event_fields(e, f, SU_NF));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(f[want[i][0]] == want[i][1], "event %lld (type %lld): field %lld = %lld, "
                      "want %lld", (long long)f[MARGIN_EVF_SEQ], (long long)f[MARGIN_EVF_TYPE],
                      (long long)want[i][0], (long long)f[want[i][0]], (long long)want[i][1]);
}

/* Take the next event: of this type (MARGIN_EV_NONE: the queue is empty), with these
 * fields. */
static void next_is(margin_engine *e, int32_t type, const int64_t (*want)[2], size_t n)
{
    int32_t t = -1;
    ck_assert_ok(e, margin_event_next(e, &t));
    ck_assert_int_eq(t, type);
    if (type != MARGIN_EV_NONE)
        fields_are(e, want, n);
}

/* Is market m's contract in the version-4 snapshot b (walked into L) the one an older
 * version loads with: type 0 (linear), not given, 6 zero bytes, size 1e8 (1 at scale 8),
 * asset 0, minimum price 1? */
static int b_is_default_contract(const uint8_t *b, size_t m)
{
    size_t c = MKC_OF(b, m);
    for (size_t k = 0; k < 8; k++)
        if (b[c + k] != 0)
            return 0;
    return rd64(b + c + 8) == E8 && rd64(b + c + 16) == 0 && rd64(b + c + 24) == 1;
}

/* The compatibility file of format `version` (1, 2 or 3): each holds the scenario of
 * build_compat_scenario(), version 2 with format 2's options set on ETHUSDT
 * (tests/data/make-snapshot-v2.c), version 3 with those and format 3's: on ETHUSDT ADL on,
 * a pool floor of 100 and BitMEX's ranking, and BTCUSDT's quantiles computed at the mark
 * 18100 (tests/data/make-snapshot-v3.c, whose comment works them out: P2 4, P1 0). */
static void compat_run(int version)
{
    const char *gen = version == 1 ? getenv("MARGIN_SNAPSHOT_V1_WRITE") : NULL;
    char path[4096];
    margin_engine *e = new_engine();
    if (gen != NULL && *gen != '\0') {
        margin_engine *g = build_compat_scenario();
        ck_assert_ok(g, margin_snapshot_write(g, gen));
        margin_engine_free(g);
        snprintf(path, sizeof path, "%s", gen);
    } else {
        ck_assert_msg(compat_path(path, sizeof path, version),
                      "tests/data/snapshot-v%d.bin not found (set top_srcdir)", version);
    }
    ck_assert_ok(e, margin_snapshot_read(e, path));
    /* the engine */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_TIME), 2000);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-170"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LAST_SEQ), 13);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 1);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENTS_PENDING), 3);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_OPEN_POSITIONS), 4);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENT_CAP), 1000);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_REARM_BAND), D("0.1"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_CROSS_LIQUIDATION), MARGIN_CROSS_LIQ_WORST_FIRST);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_FULL_SCAN), 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_EVENT_QUEUE), 1);
    {
        int64_t lv[8];
        size_t nl;
        ck_assert_ok(e, margin_engine_margin_call_levels(e, lv, 8, &nl));
        ck_assert_uint_eq(nl, 2);
        ck_assert_int_eq(lv[0], D("0.5"));
        ck_assert_int_eq(lv[1], D("0.8"));
    }
    /* the markets */
    {
        uint64_t id;
        int64_t v, fl, mmr, lev, amt;
        ck_assert_ok(e, margin_market_find(e, "ETHUSDT", &id));
        ck_assert_uint_eq(id, 2);
        ck_assert_ok(e, margin_market_get(e, 1, MARGIN_MKT_MARK, &v));
        ck_assert_int_eq(v, PX8("18100"));
        ck_assert_ok(e, margin_market_get(e, 1, MARGIN_MKT_MAX_PRICE, &v));
        ck_assert_int_eq(v, PX8("100000"));
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_PRICE_SCALE, &v));
        ck_assert_int_eq(v, 2);
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_QTY_SCALE, &v));
        ck_assert_int_eq(v, 3);
        ck_assert_ok(e, margin_market_get(e, 2, MARGIN_MKT_MARK, &v));
        ck_assert_int_eq(v, 0);
        ck_assert_ok(e, margin_market_tier(e, 2, 0, &fl, &mmr, &lev, &amt));
        ck_assert_int_eq(fl, 0);
        ck_assert_int_eq(mmr, D("0.005"));
        ck_assert_int_eq(amt, 0);
    }
    /* the accounts */
    ck_assert_int_eq(acct_get(e, 1, MARGIN_ACCT_FREE_BALANCE), D("7992"));
    ck_assert_int_eq(acct_get(e, 1, MARGIN_ACCT_ISOLATED_MARGIN), D("2000"));
    ck_assert_int_eq(acct_get(e, 1, MARGIN_ACCT_FEES), D("8"));
    ck_assert_int_eq(acct_get(e, 1, MARGIN_ACCT_EQUITY), D("8092"));
    ck_assert_int_eq(acct_get(e, 2, MARGIN_ACCT_FREE_BALANCE), D("4592.76"));
    ck_assert_int_eq(acct_get(e, 2, MARGIN_ACCT_ISOLATED_MARGIN), D("500"));
    ck_assert_int_eq(acct_get(e, 2, MARGIN_ACCT_REALIZED_PNL), D("100"));
    ck_assert_int_eq(acct_get(e, 2, MARGIN_ACCT_FEES), D("7.24"));
    ck_assert_int_eq(acct_get(e, 2, MARGIN_ACCT_DEPOSITS), D("5000"));
    ck_assert_int_eq(acct_get(e, 3, MARGIN_ACCT_FREE_BALANCE), D("979.2"));
    ck_assert_int_eq(acct_get(e, 3, MARGIN_ACCT_ISOLATED_MARGIN), 0);
    ck_assert_int_eq(acct_get(e, 3, MARGIN_ACCT_REALIZED_PNL), D("-20"));
    ck_assert_int_eq(acct_get(e, 3, MARGIN_ACCT_FEES), D("0.8"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_WALLET), D("199.1"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_UNREALIZED_PNL), 0);
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_MARGIN_BALANCE), D("199.1"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_MAINT_MARGIN), D("11.25"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_INITIAL_MARGIN), D("112.5"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_MARGIN_RATIO), D("0.05650427"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_AVAILABLE), D("86.6"));
    ck_assert_int_eq(acct_get(e, 4, MARGIN_ACCT_CROSS_POSITIONS), 2);
    for (uint64_t a = 1; a <= 4; a++)
        assert_conserved(e, a);
    {
        int32_t mode = -1;
        ck_assert_ok(e, margin_account_mode(e, 4, 2, &mode));
        ck_assert_int_eq(mode, MARGIN_MODE_CROSS);
        ck_assert_ok(e, margin_account_mode(e, 4, 1, &mode));
        ck_assert_int_eq(mode, MARGIN_MODE_ISOLATED);
    }
    /* the positions */
    ck_assert_int_eq(pos_get(e, 1, MARGIN_POS_LIQ_PRICE), PX8("18072.28915663"));
    ck_assert_int_eq(pos_at(e, 1, MARGIN_AT_MARGIN_CALL_PRICE, 0), PX8("18145.16129033"));
    ck_assert_int_eq(pos_at(e, 1, MARGIN_AT_MARGIN_RATIO, 0), D("0.724"));
    ck_assert_int_eq(pos_get(e, 1, MARGIN_POS_STOP_LOSS), PX8("17000"));
    ck_assert_int_eq(pos_get(e, 1, MARGIN_POS_TAKE_PROFIT), PX8("25000"));
    ck_assert_int_eq(pos_get(e, 2, MARGIN_POS_LIQ_PRICE), PX8("20916.33466135"));
    ck_assert_int_eq(pos_get(e, 2, MARGIN_POS_MARGIN), D("500"));
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_STATUS), MARGIN_STATUS_LIQUIDATED);
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_REALIZED_PNL), D("-20"));
    ck_assert_int_eq(pos_get(e, 3, MARGIN_POS_FEES), D("0.8"));
    ck_assert_int_eq(pos_get(e, 4, MARGIN_POS_LIQ_PRICE), EPX("1118.58"));
    ck_assert_int_eq(pos_get(e, 5, MARGIN_POS_LIQ_PRICE), EPX("1118.58"));
    ck_assert_int_eq(pos_get(e, 5, MARGIN_POS_MODE), MARGIN_MODE_CROSS);
    ck_assert_int_eq(pos_get(e, 6, MARGIN_POS_STATUS), MARGIN_STATUS_CLOSED);
    ck_assert_int_eq(pos_get(e, 6, MARGIN_POS_REALIZED_PNL), D("100"));
    ck_assert_int_eq(pos_get(e, 6, MARGIN_POS_FEES), D("3.24"));
    ck_assert_int_eq(pos_get(e, 6, MARGIN_POS_QTY), 0);
    /* format 3's fields. Versions 1 and 2 do not hold them: the whole fund (-170) in the
     * first market's pool, each market's pool its own, ADL off with a floor of 0,
     * Binance's ranking, no deposits, no quantiles. Version 3 holds the same pools and
     * deposits (P3's deficit went to BTCUSDT's own pool; no deposit was made), ETHUSDT's
     * ADL on, floor 100 and BitMEX's ranking, and P2's quantile 4 */
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_DEPOSITS), 0);
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_INSURANCE), eng_get(e, MARGIN_ENG_INSURANCE_FUND));
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_INSURANCE), D("-170"));
    ck_assert_int_eq(mkt_get(e, 2, MARGIN_MKT_INSURANCE), 0);
    for (uint64_t m = 1; m <= 2; m++) {
        int v3 = version >= 3 && m == 2; /* ETHUSDT's options in version 3 */
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_INSURANCE_POOL), (int64_t)m);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_ADL), v3 ? MARGIN_ADL_ON : MARGIN_ADL_OFF);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_INSURANCE_FLOOR), v3 ? D("100") : 0);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_ADL_RANKING),
                         v3 ? MARGIN_ADL_RANK_BITMEX : MARGIN_ADL_RANK_BINANCE);
    }
    for (uint64_t p = 1; p <= 6; p++)
        ck_assert_int_eq(pos_get(e, p, MARGIN_POS_ADL_QUANTILE), version >= 3 && p == 2 ? 4 : 0);
    /* format 4's fields, which no older file holds: linear contracts of 1, settlement
     * asset 0, a minimum price of 1 price unit, not given */
    for (uint64_t m = 1; m <= 2; m++) {
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_CONTRACT), MARGIN_CONTRACT_LINEAR);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_CONTRACT_SIZE), D("1"));
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_SETTLE_ASSET), 0);
        ck_assert_int_eq(mkt_get(e, m, MARGIN_MKT_MIN_PRICE), 1);
    }
    /* the liquidation options: format 2's as tests/data/make-snapshot-v2.c set them on
     * ETHUSDT; format 1's, and BTCUSDT's, the defaults a new market has */
    {
        static const int32_t keys[9] = {MARGIN_MKT_LIQ_FEE,         MARGIN_MKT_LIQ_FEE_BASIS,
                                        MARGIN_MKT_LIQ_FILL,        MARGIN_MKT_STOP_FILL,
                                        MARGIN_MKT_LIQ_POLICY,      MARGIN_MKT_SLICE_THRESHOLD,
                                        MARGIN_MKT_SLICE_FRACTION,  MARGIN_MKT_SLICE_COOLDOWN,
                                        MARGIN_MKT_SLICE_BACKSTOP};
        const int64_t v2[9] = {D("0.002"),         MARGIN_LIQ_FEE_BASIS_MARK,
                               MARGIN_LIQ_FILL_BANKRUPTCY, MARGIN_STOP_FILL_TRIGGER,
                               MARGIN_LIQ_POLICY_SLICES,   D("50000"),
                               D("0.25"),          30,
                               D("0.5")};
        margin_engine *fresh = new_engine();
        uint64_t fm;
        ck_assert_ok(fresh, margin_market_new(fresh, "NEWUSDT", &fm));
        for (int k = 0; k < 9; k++) {
            int64_t def = mkt_get(fresh, fm, keys[k]);
            ck_assert_int_eq(mkt_get(e, 1, keys[k]), def);
            ck_assert_int_eq(mkt_get(e, 2, keys[k]), version >= 2 ? v2[k] : def);
        }
        margin_engine_free(fresh);
    }
    /* the file is the documented format of its version (the test's walker and the
     * fuzzers'), and the loaded engine saves as version 4 and loads back the same */
    {
        FILE *fp = fopen(path, "rb");
        uint8_t *fb, *s;
        size_t fn, n;
        margin_engine *g;
        sw_field *fields = malloc(4096 * sizeof *fields);
        ck_assert(fp != NULL && fields != NULL);
        fb = malloc(1 << 16);
        ck_assert(fb != NULL);
        fn = fread(fb, 1, 1 << 16, fp);
        fclose(fp);
        walk_any(fb, fn, &L);
        ck_assert_uint_eq(L.version, (uint32_t)version);
        ck_assert_uint_gt(sw_walk(fb, fn, fields, 4096), 0);
        s = su_save(e, &n);
        check_fields(e, s, n); /* version 4, field by field */
        ck_assert_uint_gt(sw_walk(s, n, fields, 4096), 0);
        for (size_t m = 0; m < 2; m++) /* each market's contract: linear, not given */
            ck_assert(b_is_default_contract(s, m));
        g = su_clone(e, "a loaded old snapshot, saved as version 4"); /* same bytes, hash */
        su_require_same_state(e, g, "an old snapshot saved as version 4 and loaded");
        margin_engine_free(g);
        free(s);
        free(fb);
        free(fields);
    }
    /* the current event: event 10, P6's open */
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 10},
                                {MARGIN_EVF_TIME, 1000},
                                {MARGIN_EVF_TYPE, MARGIN_EV_OPEN},
                                {MARGIN_EVF_ACCOUNT, 2},
                                {MARGIN_EVF_POSITION, 6},
                                {MARGIN_EVF_PRICE, PX8("20000")},
                                {MARGIN_EVF_QTY, PX8("0.2")},
                                {MARGIN_EVF_MARGIN, D("800")},
                                {MARGIN_EVF_AMOUNT, D("800")},
                                {MARGIN_EVF_FEE, D("1.6")},
                                {MARGIN_EVF_FREE_BALANCE, D("3694.4")},
                                {MARGIN_EVF_LIQ_PRICE, PX8("16064.25702812")},
                                {MARGIN_EVF_LEVERAGE, D("5")}};
        fields_are(e, w, sizeof w / sizeof w[0]);
    }
    /* the queued ones */
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 11},
                                {MARGIN_EVF_PRICE, PX8("20500")},
                                {MARGIN_EVF_REALIZED_PNL, D("100")},
                                {MARGIN_EVF_FEE, D("1.64")},
                                {MARGIN_EVF_AMOUNT, D("-800")},
                                {MARGIN_EVF_FREE_BALANCE, D("4592.76")}};
        next_is(e, MARGIN_EV_CLOSE, w, sizeof w / sizeof w[0]);
    }
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 12},
                                {MARGIN_EVF_TIME, 2000},
                                {MARGIN_EVF_POSITION, 1},
                                {MARGIN_EVF_LEVEL, D("0.5")},
                                {MARGIN_EVF_PRICE, PX8("18100")},
                                {MARGIN_EVF_MARGIN_RATIO, D("0.724")}};
        next_is(e, MARGIN_EV_MARGIN_CALL, w, sizeof w / sizeof w[0]);
    }
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 13},
                                {MARGIN_EVF_POSITION, 3},
                                {MARGIN_EVF_REALIZED_PNL, D("-20")},
                                {MARGIN_EVF_INSURANCE_DELTA, D("-170")},
                                {MARGIN_EVF_LIQ_PRICE, PX8("19879.51807229")},
                                {MARGIN_EVF_BANKRUPTCY_PRICE, PX8("19800")},
                                {MARGIN_EVF_FREE_BALANCE, D("979.2")}};
        next_is(e, MARGIN_EV_LIQUIDATION, w, sizeof w / sizeof w[0]);
    }
    next_is(e, MARGIN_EV_NONE, NULL, 0);
    /* continued: the loaded triggers work as the hand calculation says */
    ck_assert_ok(e, margin_mark_update(e, 1, PX8("21000")));
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 14},
                                {MARGIN_EVF_POSITION, 2},
                                {MARGIN_EVF_REALIZED_PNL, D("-500")},
                                {MARGIN_EVF_INSURANCE_DELTA, 0},
                                {MARGIN_EVF_BANKRUPTCY_PRICE, PX8("21000")},
                                {MARGIN_EVF_LIQ_PRICE, PX8("20916.33466135")}};
        next_is(e, MARGIN_EV_LIQUIDATION, w, sizeof w / sizeof w[0]);
    }
    next_is(e, MARGIN_EV_NONE, NULL, 0);
    ck_assert_ok(e, margin_mark_update(e, 1, PX8("18140")));
    {
        const int64_t w[][2] = {{MARGIN_EVF_SEQ, 15},
                                {MARGIN_EVF_POSITION, 1},
                                {MARGIN_EVF_LEVEL, D("0.5")},
                                {MARGIN_EVF_MARGIN_RATIO, D("0.51828572")}};
        next_is(e, MARGIN_EV_MARGIN_CALL, w, sizeof w / sizeof w[0]);
    }
    next_is(e, MARGIN_EV_NONE, NULL, 0);
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_INSURANCE_FUND), D("-170"));
    ck_assert_int_eq(eng_get(e, MARGIN_ENG_LIQUIDATIONS), 2);
    ck_assert_int_eq(mkt_get(e, 1, MARGIN_MKT_INSURANCE), D("-170"));
    ck_assert_int_eq(pos_get(e, 2, MARGIN_POS_ADL_QUANTILE), 0); /* liquidated: dropped */
    margin_engine_free(e);
    /* a reader of the file's version writes its bytes back exactly */
    if (MARGIN_SNAPSHOT_VERSION == version) {
        FILE *fp = fopen(path, "rb");
        uint8_t *fb;
        size_t fn, n;
        uint8_t *s;
        margin_engine *g = new_engine();
        ck_assert(fp != NULL);
        fb = malloc(1 << 16);
        ck_assert(fb != NULL);
        fn = fread(fb, 1, 1 << 16, fp);
        fclose(fp);
        ck_assert_ok(g, margin_snapshot_load(g, fb, fn));
        s = su_save(g, &n);
        ck_assert_msg(su_bytes_diff(fb, fn, s, n) < 0, "re-saved bytes differ from the file");
        walk(fb, fn, &L); /* and the file is the documented format */
        free(s);
        free(fb);
        margin_engine_free(g);
    }
}

START_TEST(test_compat_v1)
{
    compat_run(1);
}
END_TEST

START_TEST(test_compat_v2)
{
    compat_run(2);
}
END_TEST

START_TEST(test_compat_v3)
{
    compat_run(3);
}
END_TEST

/* A version-2 file with a position record flagged with an ADL quantile (flag 128, which
 * version 3 added), its 8 bytes (a valid quantile, 1) inserted and the lengths and the CRC
 * fixed: refused, the message naming the flags. */
START_TEST(test_compat_v2_no_quantile)
{
    char path[4096];
    FILE *fp;
    uint8_t *b = malloc((1 << 16) + 8);
    size_t n, at, end;
    unsigned fl;
    margin_engine *t = new_engine();
    ck_assert(b != NULL);
    ck_assert_msg(compat_path(path, sizeof path, 2), "tests/data/snapshot-v2.bin not found");
    fp = fopen(path, "rb");
    ck_assert(fp != NULL);
    n = fread(b, 1, 1 << 16, fp);
    fclose(fp);
    walk_any(b, n, &L);
    ck_assert_uint_eq(L.version, 2);
    at = L.pos[0]; /* P1: open, isolated, fees and stops */
    fl = b[at];
    end = at + POS_FIXED + ((fl & PF_KEYS) ? 16 : 0);
    for (unsigned bit = PF_REALIZED; bit <= PF_TAKE; bit <<= 1)
        end += (fl & bit) ? 8 : 0;
    b[at] = (uint8_t)(fl | PF_ADLQ);
    memmove(b + end + 8, b + end, n - end);
    wr64(b + end, 1);
    n += 8;
    wr64(b + L.head[3] + 8, rd64(b + L.head[3] + 8) + 8);
    wr64(b + 16, (int64_t)n);
    fix_crc(b, n);
    ck_assert_rc(t, margin_snapshot_load(t, b, n), MARGIN_ECORRUPT);
    ck_assert_msg(strstr(margin_errmsg(t), "POSN") != NULL &&
                      strstr(margin_errmsg(t), "flags") != NULL,
                  "message: %s", margin_errmsg(t));
    require_empty(t, "a quantile in a version-2 file");
    margin_engine_free(t);
    free(b);
}
END_TEST

/* ------------------------------------------------------------------ files */

static char tmp_dir[4096];

static void make_tmp_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/margin-snap-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_msg(mkdtemp(tmp_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Entries of the temporary directory other than the ones named (NULL-terminated); their
 * names go into a message. */
static int other_entries(const char *const *keep, char *names, size_t size)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *de;
    int n = 0;
    ck_assert(d != NULL);
    if (names)
        names[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        int kept = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
        for (int i = 0; keep[i] != NULL; i++)
            kept |= strcmp(de->d_name, keep[i]) == 0;
        if (!kept) {
            n++;
            if (names && strlen(names) + strlen(de->d_name) + 2 < size) {
                strcat(names, de->d_name);
                strcat(names, " ");
            }
        }
    }
    closedir(d);
    return n;
}

static void remove_tmp_dir(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *de;
    char p[8192];
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmp_dir, de->d_name);
        if (remove(p) != 0) {
            /* a directory the test made */
            (void)rmdir(p);
        }
    }
    closedir(d);
    (void)rmdir(tmp_dir);
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    size_t cap = 1 << 16, len = 0, k;
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    b = malloc(cap);
    ck_assert(b != NULL);
    while ((k = fread(b + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            cap *= 2;
            b = realloc(b, cap);
            ck_assert(b != NULL);
        }
    }
    fclose(f);
    *n = len;
    return b;
}

START_TEST(test_file_round_trip)
{
    margin_engine *e = build_variant(3), *t = new_engine(), *u = new_engine();
    char path[8192], cwd[4096];
    const char *keep[] = {"snap.bin", NULL};
    size_t n, fn;
    uint8_t *s, *fb;
    make_tmp_dir();
    snprintf(path, sizeof path, "%s/snap.bin", tmp_dir);
    ck_assert_ok(e, margin_snapshot_write(e, path));
    s = su_save(e, &n);
    fb = read_file(path, &fn);
    ck_assert_msg(su_bytes_diff(s, n, fb, fn) < 0, "the file is not the saved bytes");
    ck_assert_int_eq(other_entries(keep, NULL, 0), 0);
    ck_assert_ok(t, margin_snapshot_read(t, path));
    su_require_same(e, t, "file round trip");
    free(fb);
    /* written again over the old file: replaced whole, nothing else left */
    ck_assert_ok(e, margin_mark_update(e, 1, DS("1000", 8)));
    ck_assert_ok(e, margin_snapshot_write(e, path));
    ck_assert_ok(u, margin_snapshot_read(u, path));
    su_require_same(e, u, "file written over");
    ck_assert_int_eq(other_entries(keep, NULL, 0), 0);
    /* a path without a directory: the current one */
    ck_assert(getcwd(cwd, sizeof cwd) != NULL);
    ck_assert_int_eq(chdir(tmp_dir), 0);
    ck_assert_ok(e, margin_snapshot_write(e, "snap.bin"));
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(other_entries(keep, NULL, 0), 0);
    /* the argument errors */
    ck_assert_int_eq(margin_snapshot_write(NULL, path), MARGIN_EINVAL);
    ck_assert_rc(e, margin_snapshot_write(e, NULL), MARGIN_EINVAL);
    ck_assert_rc(e, margin_snapshot_write(e, ""), MARGIN_EINVAL);
    ck_assert_int_eq(margin_snapshot_read(NULL, path), MARGIN_EINVAL);
    ck_assert_rc(t, margin_snapshot_read(t, NULL), MARGIN_EINVAL);
    ck_assert_rc(t, margin_snapshot_read(t, ""), MARGIN_EINVAL);
    /* reading into a non-empty engine: as margin_snapshot_load */
    ck_assert_rc(t, margin_snapshot_read(t, path), MARGIN_ESTATE);
    free(s);
    remove_tmp_dir();
    margin_engine_free(e);
    margin_engine_free(t);
    margin_engine_free(u);
}
END_TEST

/* Failures the system gives by itself; each leaves the old file as it was and no
 * temporary file behind. */
START_TEST(test_file_errors)
{
    margin_engine *e = build_variant(3), *t = new_engine();
    char path[8192], dirpath[8192], bad[8192];
    const char *keep[] = {"old.bin", "adir", NULL};
    char names[512];
    size_t on, n;
    uint8_t *old, *now;
    make_tmp_dir();
    snprintf(path, sizeof path, "%s/old.bin", tmp_dir);
    snprintf(dirpath, sizeof dirpath, "%s/adir", tmp_dir);
    ck_assert_ok(e, margin_snapshot_write(e, path));
    old = read_file(path, &on);
    /* reading: no such file; a directory */
    snprintf(bad, sizeof bad, "%s/missing.bin", tmp_dir);
    ck_assert_rc(t, margin_snapshot_read(t, bad), MARGIN_EIO);
    ck_assert_msg(strstr(margin_errmsg(t), "open") != NULL, "%s", margin_errmsg(t));
    ck_assert_int_eq(mkdir(dirpath, 0700), 0);
    ck_assert_rc(t, margin_snapshot_read(t, dirpath), MARGIN_EIO);
    ck_assert_msg(strstr(margin_errmsg(t), "read") != NULL || strstr(margin_errmsg(t), "open"),
                  "%s", margin_errmsg(t));
    require_empty(t, "failed reads");
    /* writing into a directory that does not exist: the temporary file cannot be made */
    snprintf(bad, sizeof bad, "%s/nodir/x.bin", tmp_dir);
    ck_assert_rc(e, margin_snapshot_write(e, bad), MARGIN_EIO);
    ck_assert_msg(strstr(margin_errmsg(e), "open") != NULL, "%s", margin_errmsg(e));
    /* a directory where the file should go: the rename fails; the directory stays */
    ck_assert_ok(e, margin_mark_update(e, 1, DS("1000", 8)));
    ck_assert_rc(e, margin_snapshot_write(e, dirpath), MARGIN_EIO);
    ck_assert_msg(strstr(margin_errmsg(e), "rename") != NULL, "%s", margin_errmsg(e));
    {
        struct stat st;
        ck_assert_int_eq(stat(dirpath, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
    }
    ck_assert_msg(other_entries(keep, names, sizeof names) == 0, "left behind: %s", names);
    /* the old file is the old snapshot */
    now = read_file(path, &n);
    ck_assert(su_bytes_diff(old, on, now, n) < 0);
    free(now);
    free(old);
    remove_tmp_dir();
    margin_engine_free(e);
    margin_engine_free(t);
}
END_TEST

/* Crash during write: a child writes snapshots of a large engine in a loop, alternating
 * two states, and is killed with SIGKILL at a random moment, many times. The file always
 * exists, always loads, and is always exactly one of the two snapshots (never a mix or a
 * part). Temporary files of a killed write can stay behind (nothing can remove them: the
 * process is gone); they never touch the file, and a later write does not reuse them. */
static margin_engine *big_engine(int npos, int extra)
{
    margin_engine *e = new_engine();
    uint64_t m, a, id;
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_EVENT_QUEUE, 0));
    ck_assert_ok(e, margin_market_new(e, "BTCUSDT", &m));
    ck_assert_ok(e, margin_account_new(e, &a));
    ck_assert_ok(e, margin_account_deposit(e, a, D("100000000")));
    for (int i = 0; i < npos; i++)
        ck_assert_ok(e, margin_position_open(e, a, m, i % 2 ? MARGIN_LONG : MARGIN_SHORT,
                                             DS("0.001", 8) * (1 + i % 7), DS("20000", 8) + i,
                                             D("10"), 0, 0, &id));
    ck_assert_ok(e, margin_engine_set(e, MARGIN_ENG_TIME, extra));
    return e;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_file_killed_mid_write)
{
    margin_engine *ea = big_engine(6000, 1), *eb = big_engine(6500, 2);
    char path[8192];
    size_t na, nb;
    uint8_t *sa = su_save(ea, &na), *sb = su_save(eb, &nb);
    uint64_t rs = 0x4B111ULL;
    int got_a = 0, got_b = 0, leftovers = 0;
    double t0, per_write;
    const char *keep[] = {"snap.bin", NULL};
    make_tmp_dir();
    snprintf(path, sizeof path, "%s/snap.bin", tmp_dir);
    t0 = now_s();
    ck_assert_ok(ea, margin_snapshot_write(ea, path)); /* the previous file */
    per_write = now_s() - t0;
    for (int round = 0; round < 40; round++) {
        pid_t pid;
        int status;
        size_t fn;
        uint8_t *fb;
        struct timespec d;
        double wait_s = per_write * 3 * (double)(splitmix64(&rs) % 1000) / 1000.0;
        fflush(NULL);
        pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            for (;;) {
                (void)margin_snapshot_write(ea, path);
                (void)margin_snapshot_write(eb, path);
            }
        }
        d.tv_sec = (time_t)wait_s;
        d.tv_nsec = (long)((wait_s - (double)d.tv_sec) * 1e9);
        nanosleep(&d, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* the file: whole, one of the two */
        fb = read_file(path, &fn);
        if (su_bytes_diff(fb, fn, sa, na) < 0)
            got_a++;
        else if (su_bytes_diff(fb, fn, sb, nb) < 0)
            got_b++;
        else
            ck_abort_msg("round %d: the file (%zu bytes) is neither snapshot (%zu, %zu bytes)",
                         round, fn, na, nb);
        {
            margin_engine *t = new_engine();
            ck_assert_ok(t, margin_snapshot_read(t, path));
            margin_engine_free(t);
        }
        free(fb);
        leftovers += other_entries(keep, NULL, 0) > 0;
        /* clear what a killed write left, so that each round starts alike */
        {
            DIR *dd = opendir(tmp_dir);
            struct dirent *de;
            char p[8192];
            while ((de = readdir(dd)) != NULL)
                if (strncmp(de->d_name, "snap.bin.tmp.", 13) == 0) {
                    snprintf(p, sizeof p, "%s/%s", tmp_dir, de->d_name);
                    (void)remove(p);
                }
            closedir(dd);
        }
    }
    (void)leftovers; /* how many kills left a temporary file: any number is correct */
    ck_assert_int_gt(got_a + got_b, 0);
    free(sa);
    free(sb);
    remove_tmp_dir();
    margin_engine_free(ea);
    margin_engine_free(eb);
}
END_TEST

/* ------------------------------------------------------------------ retired memory */

/* An allocator that counts the bytes live and their peak (a size header per block). */
typedef struct {
    long long live, peak;
} byte_count;

static void *bc_malloc(void *user, size_t n)
{
    byte_count *b = user;
    max_align_t *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    *(size_t *)(void *)h = n;
    b->live += (long long)n;
    if (b->live > b->peak)
        b->peak = b->live;
    return h + 1;
}

static void bc_free(void *user, void *p)
{
    byte_count *b = user;
    if (p != NULL) {
        max_align_t *h = (max_align_t *)p - 1;
        b->live -= (long long)*(size_t *)(void *)h;
        free(h);
    }
}

static void *bc_realloc(void *user, void *p, size_t n)
{
    void *q = bc_malloc(user, n);
    if (q != NULL && p != NULL) {
        size_t old = *(size_t *)(void *)((max_align_t *)p - 1);
        memcpy(q, p, old < n ? old : n);
        bc_free(user, p);
    }
    return q;
}

/* Retired positions give their memory back, in an engine built by calls and in one loaded
 * from a snapshot taken while only part of them had retired: a snapshot keeps blocks of
 * 1,024 ids, so a loaded engine must rebuild their state. 100 blocks of positions are
 * opened, then closed in id order, with no closed position kept readable
 * (MARGIN_ENG_RETAIN_CLOSED 0) and, for reference, with all kept (the default window holds
 * them all): the same calls, so the difference in live bytes is the records freed. The
 * snapshot is taken after 40 blocks.
 *  - The engine loaded from the snapshot frees exactly what the original frees, at the
 *    snapshot and after all 100 blocks (against a reference loaded from the reference's
 *    snapshot, whose arrays are sized as a loaded engine's are).
 *  - A record holds at least seven 8-byte amounts (56 bytes). Each block is allocated on
 *    its own today; so that the test holds if blocks are ever allocated in groups of up
 *    to 2 MiB (2 MiB / 57,344 = 36 blocks, one group allocated ahead), it asks only that
 *    after 40 blocks at least 40 - 36 = 4 blocks are freed, after all 100 at least 64.
 * The engines go on identically and free everything. */
typedef struct {
    byte_count c;
    margin_engine *e;
    uint64_t first;
} retire_run;

static void retire_open(retire_run *r, int64_t retain, int n)
{
    uint64_t m, acct, id;
    ck_assert_int_eq(
        margin_engine_new_with_allocator(&r->e, bc_malloc, bc_realloc, bc_free, &r->c),
        MARGIN_OK);
    ck_assert_ok(r->e, margin_engine_set(r->e, MARGIN_ENG_EVENT_QUEUE, 0));
    ck_assert_ok(r->e, margin_engine_set(r->e, MARGIN_ENG_RETAIN_CLOSED, retain));
    ck_assert_ok(r->e, margin_market_new(r->e, "BTCUSDT", &m));
    ck_assert_ok(r->e, margin_market_set(r->e, m, MARGIN_MKT_TAKER_FEE, 0));
    ck_assert_ok(r->e, margin_account_new(r->e, &acct));
    ck_assert_ok(r->e, margin_account_deposit(r->e, acct, 100000000000000000LL)); /* 1e9 */
    for (int i = 0; i < n; i++) {
        /* 0.1 BTC at 20000, 20x (margin 100), long and short in turn */
        ck_assert_ok(r->e,
                     margin_position_open(r->e, acct, m, i % 2 ? MARGIN_SHORT : MARGIN_LONG,
                                          10000000LL, 2000000000000LL, 2000000000LL, 0, 0, &id));
        if (i == 0)
            r->first = id;
    }
}

static void retire_close(retire_run *r, int from, int to)
{
    for (int i = from; i < to; i++)
        ck_assert_ok(r->e, margin_position_close(r->e, r->first + (uint64_t)i,
                                                 2000000000000LL, 0));
}

static void retire_load(retire_run *to, const retire_run *from)
{
    uint8_t *snap;
    size_t len = 0;
    snap = su_save(from->e, &len);
    ck_assert_int_eq(
        margin_engine_new_with_allocator(&to->e, bc_malloc, bc_realloc, bc_free, &to->c),
        MARGIN_OK);
    ck_assert_ok(to->e, margin_snapshot_load(to->e, snap, len));
    to->first = from->first;
    free(snap);
}

START_TEST(test_retired_memory_freed)
{
    enum { RBLOCK = 1024, RN = 100 * RBLOCK, RMID = 40 * RBLOCK };
    const long long rec = 56 * RBLOCK; /* the least a block of records can take */
    retire_run a = {{0, 0}, NULL, 0}, ref = {{0, 0}, NULL, 0};
    retire_run b = {{0, 0}, NULL, 0}, refb = {{0, 0}, NULL, 0};
    retire_run *all[4] = {&a, &ref, &b, &refb};
    retire_open(&a, 0, RN);
    retire_open(&ref, RN, RN);
    retire_close(&a, 0, RMID);
    retire_close(&ref, 0, RMID);
    ck_assert_msg(ref.c.live - a.c.live >= 4 * rec, "40 blocks retired: %lld bytes freed",
                  ref.c.live - a.c.live);
    retire_load(&b, &a);
    retire_load(&refb, &ref);
    ck_assert_msg(refb.c.live - b.c.live == ref.c.live - a.c.live,
                  "40 blocks retired: %lld bytes freed loaded, %lld by the original",
                  refb.c.live - b.c.live, ref.c.live - a.c.live);
    for (int k = 0; k < 4; k++)
        retire_close(all[k], RMID, RN);
    su_require_same(a.e, b.e, "closed after the load");
    ck_assert_rc(b.e, margin_position_get(b.e, b.first + RN - 1, MARGIN_POS_STATUS, &(int64_t){0}),
                 MARGIN_ENOTFOUND);
    ck_assert_msg(ref.c.live - a.c.live >= 64 * rec, "all retired: %lld bytes freed",
                  ref.c.live - a.c.live);
    ck_assert_msg(refb.c.live - b.c.live == ref.c.live - a.c.live,
                  "all retired: %lld bytes freed loaded, %lld by the original",
                  refb.c.live - b.c.live, ref.c.live - a.c.live);
    for (int k = 0; k < 4; k++) {
        margin_engine_free(all[k]->e);
        ck_assert_int_eq(all[k]->c.live, 0);
    }
}
END_TEST

/* A retired position gives its stop-loss entry back (lib/engine.c, margin__retire): with no
 * closed position kept readable, ten rounds each open 2,048 positions (two whole blocks),
 * set a stop-loss on every one and close them all. Each round reuses the entries the one
 * before gave back, so the table stays at the 2,048 entries (32 KiB) of the first round:
 * what the ten rounds hold at the end exceeds what one held by less than 16 KiB (the
 * chunk table's growth for 20 blocks is a few hundred bytes). Kept, the entries of ten
 * rounds would take 320 KiB. */
START_TEST(test_retired_stops_freed)
{
    enum { RBLOCK = 1024, ROUND = 2 * RBLOCK };
    retire_run r = {{0, 0}, NULL, 0};
    long long one = 0;
    retire_open(&r, 0, 0);
    for (int k = 0; k < 10; k++) {
        uint64_t id, first = 0;
        for (int i = 0; i < ROUND; i++) {
            ck_assert_ok(r.e, margin_position_open(r.e, 1, 1, MARGIN_LONG, 10000000LL,
                                                   2000000000000LL, 2000000000LL, 0, 0, &id));
            if (i == 0)
                first = id;
            ck_assert_ok(r.e, margin_position_set_stops(r.e, id, 1950000000000LL, 0));
        }
        r.first = first;
        retire_close(&r, 0, ROUND);
        if (k == 0)
            one = r.c.live;
    }
    ck_assert_msg(r.c.live - one < 16384, "ten rounds hold %lld bytes, one held %lld",
                  r.c.live, one);
    margin_engine_free(r.e);
    ck_assert_int_eq(r.c.live, 0);
}
END_TEST

Suite *suite_snapshot(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc;

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_scenario_coverage);
    tcase_add_loop_test(tc, test_round_trip, 0, NVARIANTS);
    tcase_add_test(tc, test_pool_round_trip);
    tcase_add_test(tc, test_contract_round_trip);
    tcase_add_test(tc, test_known_quantile_after_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("restore");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_restore_equivalence, 0, NVARIANTS);
    tcase_add_test(tc, test_restore_chain);
    tcase_add_test(tc, test_restore_keeps_callback);
    tcase_add_test(tc, test_retired_memory_freed);
    tcase_add_test(tc, test_retired_stops_freed);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hash_iff_bytes);
    tcase_add_test(tc, test_hash_changes);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_hash_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc_large);
    tcase_add_test(tc, test_size_protocol);
    tcase_add_test(tc, test_sizes_from_the_format);
    tcase_add_test(tc, test_load_nonempty);
    tcase_add_test(tc, test_load_in_callback);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, good_setup, good_teardown);
    tcase_add_test(tc, test_corrupt_fields);
    tcase_add_test(tc, test_corrupt_magic_version_checksum);
    tcase_add_test(tc, test_corrupt_truncated);
    tcase_add_loop_test(tc, test_corrupt_random, 0, 2);
    tcase_add_test(tc, test_corrupt_huge_counts);
    tcase_add_test(tc, test_known_step_changed);
    tcase_add_test(tc, test_known_cross_mode_inverse);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz_findings");
    tcase_add_test(tc, test_fuzz_findings);
    suite_add_tcase(s, tc);
    tc = tcase_create("compat");
    tcase_add_test(tc, test_compat_v1);
    tcase_add_test(tc, test_compat_v2);
    tcase_add_test(tc, test_compat_v3);
    tcase_add_test(tc, test_compat_v2_no_quantile);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_file_round_trip);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_file_killed_mid_write);
    suite_add_tcase(s, tc);
    return s;
}
