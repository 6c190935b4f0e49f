/* Snapshots: the whole engine as portable bytes, loaded back exactly; files written
 * atomically; the state hash. The format is docs/snapshot.md:
 *
 *   header   magic "LMARGIN\x1a", u32 version, u32 section count, u64 total length,
 *            u64 0 (reserved)
 *   sections u32 tag, u32 item count, u64 payload length, payload   (ENGN MRKT ACCT POSN EVNT)
 *   trailer  u32 CRC-32C of every byte before it
 *
 * Every integer is little-endian with the size the format gives it. What can be
 * recomputed from what is stored is not stored: the position lists (kept in id order),
 * the isolated positions' liquidation prices and trigger keys, the tiers' floors at the
 * working scale, the counts. The cross positions' keys are stored: a band depends on the
 * marks of the moment it was split (lib/cross.c), and the restored engine must evaluate
 * the same accounts at the same marks. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fsync, O_DIRECTORY */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c_table.h"
#include "engine.h"

#define MAGIC "LMARGIN\x1a"
#define HEADER_SIZE 32
#define SECTION_HEAD 16
#define NSECTIONS 5
#define TAG(a, b, c, d)                                                                    \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define TAG_ENGINE TAG('E', 'N', 'G', 'N')
#define TAG_MARKETS TAG('M', 'R', 'K', 'T')
#define TAG_ACCOUNTS TAG('A', 'C', 'C', 'T')
#define TAG_POSITIONS TAG('P', 'O', 'S', 'N')
#define TAG_EVENTS TAG('E', 'V', 'N', 'T')

/* position record flags */
#define PF_CROSS 1u
#define PF_REALIZED 2u
#define PF_FEES 4u
#define PF_FUNDING 8u
#define PF_STOP 16u
#define PF_TAKE 32u
#define PF_KEYS 64u
#define PF_ADLQ 128u /* version 3: the ADL quantile (8 bytes) */

/* ------------------------------------------------------------------ checksum, hash */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define HAVE_CRC32_INSN 1
/* Multiplication modulo the CRC-32C polynomial, in the reflected representation (bit 31
 * is x^0): a * b mod P. */
static uint32_t crc_mulmod(uint32_t a, uint32_t b)
{
    uint32_t m = (uint32_t)1 << 31, r = 0;
    for (; m != 0; m >>= 1) {
        if (a & m)
            r ^= b;
        b = b & 1 ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return r;
}

/* x^(8n) mod P (reflected): what a CRC register is multiplied by when n bytes follow. */
static uint32_t crc_shift(size_t n)
{
    uint32_t r = (uint32_t)1 << 31, sq = (uint32_t)1 << 23; /* x^0, x^8 */
    for (; n != 0; n >>= 1) {
        if (n & 1)
            r = crc_mulmod(r, sq);
        sq = crc_mulmod(sq, sq);
    }
    return r;
}

/* CRC-32C with SSE4.2's crc32 instruction (the same polynomial, reflected, as the tables),
 * eight bytes at a time, in three independent lanes: the instruction takes three cycles
 * and issues one a cycle. Blocks of 3 * CRC_LANE bytes: the lanes run over the block's
 * thirds from registers a (the running CRC), b and d (from 0), and the CRC is linear, so
 * the register after the block is a * x^(16 L) + b * x^(8 L) + d (mod P), L = CRC_LANE
 * bytes. The rest goes through one lane. */
#define CRC_LANE 8192
__attribute__((target("sse4.2"))) static uint32_t crc32c_insn(uint32_t crc, const uint8_t *p,
                                                                size_t n)
{
    uint64_t c = ~crc;
    if (n >= 3 * CRC_LANE) {
        uint32_t k1 = crc_shift(CRC_LANE), k2 = crc_mulmod(k1, k1);
        do {
            uint64_t a = c, b = 0, d = 0;
            size_t i;
            for (i = 0; i < CRC_LANE; i += 8) {
                uint64_t wa, wb, wd;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + CRC_LANE + i, 8);
                memcpy(&wd, p + 2 * CRC_LANE + i, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                d = __builtin_ia32_crc32di(d, wd);
            }
            c = crc_mulmod((uint32_t)a, k2) ^ crc_mulmod((uint32_t)b, k1) ^ (uint32_t)d;
            p += 3 * CRC_LANE;
            n -= 3 * CRC_LANE;
        } while (n >= 3 * CRC_LANE);
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* x86 is little-endian, as CRC-32C reads bytes */
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

/* Does this processor have SSE4.2 (asked each time: no global state)? */
static int have_crc32_insn(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
}
#endif

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
#ifdef HAVE_CRC32_INSN
    if (n >= 64 && have_crc32_insn())
        return crc32c_insn(crc, p, n);
#endif
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = margin__crc32c_table[7][lo & 0xff] ^ margin__crc32c_table[6][(lo >> 8) & 0xff] ^
              margin__crc32c_table[5][(lo >> 16) & 0xff] ^ margin__crc32c_table[4][lo >> 24] ^
              margin__crc32c_table[3][p[4]] ^ margin__crc32c_table[2][p[5]] ^
              margin__crc32c_table[1][p[6]] ^ margin__crc32c_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = (crc >> 8) ^ margin__crc32c_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ------------------------------------------------------------------ writing */

/* Where the bytes go: a buffer (buf != NULL), nowhere (counting), or a hash (hashing:
 * through a small staging block). */
typedef struct {
    uint8_t *buf;
    size_t len;
    int hashing;
    uint8_t block[4096];
    size_t nblock;
    uint64_t h, total;
} sink;

static uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static void hash_block(sink *s)
{
    size_t i;
    for (i = 0; i + 8 <= s->nblock; i += 8) {
        uint64_t w = 0;
        int k;
        for (k = 7; k >= 0; k--)
            w = w << 8 | s->block[i + (size_t)k];
        s->h = rotl(s->h ^ (w * 0x87C37B91114253D5ULL), 31) * 0x4CF5AD432745937FULL;
    }
    for (; i < s->nblock; i++)
        s->h = (s->h ^ s->block[i]) * 0x100000001B3ULL;
    s->total += s->nblock;
    s->nblock = 0;
}

static void put(sink *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (s->hashing) {
        while (n > 0) {
            size_t k = sizeof s->block - s->nblock;
            if (k > n)
                k = n;
            memcpy(s->block + s->nblock, b, k);
            s->nblock += k;
            b += k;
            n -= k;
            if (s->nblock == sizeof s->block)
                hash_block(s);
        }
        return;
    }
    if (s->buf != NULL)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_u(sink *s, uint64_t v, int bytes)
{
    uint8_t b[8];
    int i;
    for (i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(s, b, (size_t)bytes);
}

#define PUT8(s, v) put_u((s), (uint64_t)(uint8_t)(v), 1)
#define PUT32(s, v) put_u((s), (uint64_t)(uint32_t)(v), 4)
#define PUT64(s, v) put_u((s), (uint64_t)(v), 8)

/* A section's head; its payload length is known before it is written (sizes below). */
static void put_section(sink *s, uint32_t tag, uint32_t count, uint64_t len)
{
    PUT32(s, tag);
    PUT32(s, count);
    PUT64(s, len);
}

/* six i64, three u32, the levels, the cap, npos and a pad, closes and the window, the
 * current event */
#define ENGINE_SIZE_V(nf) (8 * 6 + 4 * 3 + 8 * MARGIN__MAX_LEVELS + 8 + 4 + 4 + 8 + 8 + 8 * (nf))
/* version 3 adds the insurance deposits after the current event */
#define ENGINE_V3_EXTRA 8
#define ENGINE_SIZE (ENGINE_SIZE_V(MARGIN__NFIELDS - 1) + ENGINE_V3_EXTRA)
/* the event fields a version stores: 1..23 in version 1, 1..25 in version 2, 1..27 in 3 */
#define V1_FIELDS 23
#define V2_FIELDS 25
static int fields_of(uint32_t version)
{
    return version == 1 ? V1_FIELDS : version == 2 ? V2_FIELDS : MARGIN__NFIELDS - 1;
}
/* version 3 adds to each market its insurance pool: the pool's market (u32), the ADL
 * switch and ranking (u8 each), a pad (u16), the pool's balance and floor */
#define MARKET_V3_EXTRA (4 + 1 + 1 + 2 + 8 + 8)
/* version 4: contract type, minimum price given, 6 zero bytes, contract size, settlement
 * asset, minimum price */
#define MARKET_V4_EXTRA (1 + 1 + 6 + 8 + 8 + 8)
/* version 2 adds to each market its liquidation options (4 bytes, a pad, 5 integers) and
 * to each account the time of its last sliced liquidation */
#define MARKET_V2_EXTRA (4 + 4 + 5 * 8)
#define ACCOUNT_V2_EXTRA 8

static void put_engine(sink *s, const margin_engine *e)
{
    uint32_t i;
    int f;
    put_section(s, TAG_ENGINE, 1, ENGINE_SIZE);
    PUT64(s, e->time);
    PUT64(s, e->insurance);
    PUT64(s, e->last_seq);
    PUT64(s, e->liquidations);
    PUT64(s, e->cross_evals);
    PUT64(s, e->band);
    PUT32(s, e->cross_policy);
    PUT32(s, (uint32_t)e->full_scan | (uint32_t)e->queue_on << 1 | (uint32_t)e->has_cur << 2);
    PUT32(s, e->nlevels);
    for (i = 0; i < MARGIN__MAX_LEVELS; i++)
        PUT64(s, i < e->nlevels ? e->levels[i] : 0);
    PUT64(s, e->qmax);
    PUT32(s, e->npos);
    PUT32(s, 0);
    PUT64(s, e->closes);
    PUT64(s, e->retain);
    for (f = 1; f < MARGIN__NFIELDS; f++) /* the current event (margin_event_get) */
        PUT64(s, e->has_cur ? e->cur.f[f] : 0);
    PUT64(s, e->insurance_deposits); /* version 3 */
}

static size_t market_size(const margin__market *m)
{
    return 1 + strlen(m->symbol) + 8 + 8 * 8 + MARKET_V2_EXTRA + MARKET_V3_EXTRA +
           MARKET_V4_EXTRA + (size_t)m->ntiers * 32;
}

static void put_markets(sink *s, const margin_engine *e)
{
    uint64_t len = 0;
    uint32_t i, k;
    for (i = 0; i < e->nmarkets; i++)
        len += market_size(&e->markets[i]);
    put_section(s, TAG_MARKETS, e->nmarkets, len);
    for (i = 0; i < e->nmarkets; i++) {
        const margin__market *m = &e->markets[i];
        size_t n = strlen(m->symbol);
        PUT8(s, n);
        put(s, m->symbol, n);
        PUT8(s, m->price_scale);
        PUT8(s, m->qty_scale);
        PUT8(s, m->mm_basis);
        PUT8(s, m->max_price_set);
        PUT8(s, m->tiers_custom);
        PUT8(s, m->ntiers);
        PUT8(s, m->used);
        PUT8(s, 0);
        PUT64(s, m->tick);
        PUT64(s, m->step);
        PUT64(s, m->max_lev);
        PUT64(s, m->maker);
        PUT64(s, m->taker);
        PUT64(s, m->close_fee);
        PUT64(s, m->max_price);
        PUT64(s, m->mark);
        for (k = 0; k < m->ntiers; k++) {
            PUT64(s, m->tiers[k].floor);
            PUT64(s, m->tiers[k].mmr);
            PUT64(s, m->tiers[k].max_lev);
            PUT64(s, m->tiers[k].cum);
        }
        /* version 2: the liquidation options */
        PUT8(s, m->liq_fee_basis);
        PUT8(s, m->liq_fill);
        PUT8(s, m->stop_fill);
        PUT8(s, m->liq_policy);
        PUT32(s, 0);
        PUT64(s, m->liq_fee);
        PUT64(s, m->slice_threshold);
        PUT64(s, m->slice_fraction);
        PUT64(s, m->slice_cooldown);
        PUT64(s, m->slice_backstop);
        /* version 3: the insurance pool */
        PUT32(s, m->pool_of);
        PUT8(s, m->adl);
        PUT8(s, m->adl_rank);
        put_u(s, 0, 2);
        PUT64(s, m->pool);
        PUT64(s, m->pool_floor);
        /* version 4: the contract */
        PUT8(s, m->contract);
        PUT8(s, m->min_price_set);
        put_u(s, 0, 6);
        PUT64(s, m->csize);
        PUT64(s, m->asset);
        PUT64(s, m->min_price);
    }
}

/* the markets where account a is cross, in index order */
static uint32_t cross_markets(const margin_engine *e, const margin__account *a)
{
    uint32_t n = a->ncross_hi, i;
    for (i = 0; i < 64 && i < e->nmarkets; i++)
        n += (uint32_t)((a->cross_lo >> i) & 1u);
    return n;
}

static void put_accounts(sink *s, const margin_engine *e)
{
    uint64_t len = 0;
    uint32_t i, k;
    for (i = 0; i < e->naccounts; i++)
        len += 7 * 8 + ACCOUNT_V2_EXTRA + 4 + 4 + 4 * (uint64_t)cross_markets(e, &e->accounts[i]);
    put_section(s, TAG_ACCOUNTS, e->naccounts, len);
    for (i = 0; i < e->naccounts; i++) {
        const margin__account *a = &e->accounts[i];
        PUT64(s, a->free);
        PUT64(s, a->deposits);
        PUT64(s, a->withdrawals);
        PUT64(s, a->realized);
        PUT64(s, a->fees);
        PUT64(s, a->funding);
        PUT64(s, a->isolated);
        PUT32(s, a->mc_fired);
        PUT32(s, cross_markets(e, a));
        for (k = 0; k < 64 && k < e->nmarkets; k++)
            if ((a->cross_lo >> k) & 1u)
                PUT32(s, k);
        for (k = 0; k < a->ncross_hi; k++)
            PUT32(s, a->cross_hi[k]);
        PUT64(s, a->last_slice); /* version 2 */
    }
}

static uint32_t pos_flags(const margin_engine *e, const margin__position *p)
{
    return (p->cross ? PF_CROSS : 0u) | (p->realized ? PF_REALIZED : 0u) |
           (p->fees ? PF_FEES : 0u) | (p->funding ? PF_FUNDING : 0u) |
           (margin__stop_of(e, p) ? PF_STOP : 0u) | (margin__take_of(e, p) ? PF_TAKE : 0u) |
           (p->cross && p->status == MARGIN_STATUS_OPEN ? PF_KEYS : 0u) |
           (p->adl_q ? PF_ADLQ : 0u);
}

static size_t pos_size(uint32_t fl)
{
    size_t n = 4 + 8 + 4 * 8;
    uint32_t b;
    for (b = PF_REALIZED; b <= PF_TAKE; b <<= 1)
        n += (fl & b) ? 8 : 0;
    return n + ((fl & PF_KEYS) ? 16 : 0) + ((fl & PF_ADLQ) ? 8 : 0);
}

/* ids of chunk c: [c * CHUNK, min(npos, (c + 1) * CHUNK)) */
static uint32_t chunk_end(uint32_t npos, uint32_t c)
{
    uint32_t end = (c + 1) * MARGIN__CHUNK;
    return end < npos ? end : npos;
}

static void put_positions(sink *s, const margin_engine *e)
{
    uint64_t len = 0;
    uint32_t c, i, nblocks = (e->npos + MARGIN__CHUNK - 1) / MARGIN__CHUNK;
    /* (a block allocated ahead for the next id, by an open that then failed, is not state) */
    for (c = 0; c < nblocks; c++) {
        len += 4 + (e->chunks[c] != NULL ? 8 : 0);
        if (e->chunks[c] != NULL)
            for (i = c * MARGIN__CHUNK; i < chunk_end(e->npos, c); i++)
                len += pos_size(pos_flags(e, &MARGIN__POS(e, i)));
    }
    put_section(s, TAG_POSITIONS, nblocks, len);
    for (c = 0; c < nblocks; c++) {
        /* a block of ids: retired (0), or live with its last close and its positions */
        PUT32(s, e->chunks[c] != NULL);
        if (e->chunks[c] == NULL)
            continue;
        PUT64(s, e->chunkinfo[c].last_close);
        for (i = c * MARGIN__CHUNK; i < chunk_end(e->npos, c); i++) {
            const margin__position *p = &MARGIN__POS(e, i);
            const margin__market *m = &e->markets[p->market];
            uint32_t fl = pos_flags(e, p);
            PUT8(s, fl);
            PUT8(s, p->status);
            PUT8(s, p->side);
            PUT8(s, p->mc_fired);
            PUT32(s, p->account);
            PUT32(s, p->market);
            PUT64(s, p->qty);
            PUT64(s, p->entry);
            PUT64(s, p->margin);
            PUT64(s, p->leverage);
            if (fl & PF_REALIZED)
                PUT64(s, p->realized);
            if (fl & PF_FEES)
                PUT64(s, p->fees);
            if (fl & PF_FUNDING)
                PUT64(s, p->funding);
            if (fl & PF_STOP)
                PUT64(s, margin__stop_of(e, p));
            if (fl & PF_TAKE)
                PUT64(s, margin__take_of(e, p));
            if (fl & PF_KEYS) {
                PUT64(s, p->down_slot != MARGIN__NONE ? margin__hkey(&m->down, p->down_slot)
                                                       : INT64_MIN);
                PUT64(s, p->up_slot != MARGIN__NONE ? margin__hkey(&m->up, p->up_slot)
                                                     : INT64_MAX);
            }
            if (fl & PF_ADLQ)
                PUT64(s, p->adl_q);
        }
    }
}

static void put_events(sink *s, const margin_engine *e)
{
    size_t i;
    int f;
    put_section(s, TAG_EVENTS, (uint32_t)e->qlen, (uint64_t)e->qlen * 8 * (MARGIN__NFIELDS - 1));
    for (i = 0; i < e->qlen; i++) {
        const margin__event *ev = &e->q[(e->qhead + i) % e->qcap];
        for (f = 1; f < MARGIN__NFIELDS; f++)
            PUT64(s, ev->f[f]);
    }
}

/* The whole snapshot but the trailer; total: its length with the trailer. */
static void put_all(sink *s, const margin_engine *e, uint64_t total)
{
    put(s, MAGIC, 8);
    PUT32(s, MARGIN_SNAPSHOT_VERSION);
    PUT32(s, NSECTIONS);
    PUT64(s, total);
    PUT64(s, 0);
    put_engine(s, e);
    put_markets(s, e);
    put_accounts(s, e);
    put_positions(s, e);
    put_events(s, e);
}

static size_t snapshot_size(const margin_engine *e)
{
    sink s;
    s.buf = NULL;
    s.len = 0;
    s.hashing = 0;
    put_all(&s, e, 0);
    return s.len + 4;
}

int margin_snapshot_save(const margin_engine *e, void *buf, size_t cap, size_t *out_len)
{
    sink s;
    size_t n;
    uint32_t crc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e)) /* the call delivering the event is half applied */
        return MARGIN_ESTATE;
    if (out_len == NULL || (buf == NULL && cap > 0))
        return margin__fail(e, MARGIN_EINVAL, "out_len is NULL, or buf is NULL with cap > 0");
    n = snapshot_size(e);
    *out_len = n;
    if (buf == NULL)
        return MARGIN_OK;
    if (cap < n)
        return margin__fail(e, MARGIN_EBUFFER, "the snapshot needs %zu bytes; the buffer has %zu bytes", n, cap);
    s.buf = buf;
    s.len = 0;
    s.hashing = 0;
    put_all(&s, e, n);
    crc = crc32c(0, buf, n - 4);
    PUT32(&s, crc);
    return MARGIN_OK;
}

/* The state hash: four lanes of xxHash64's round over the snapshot's fields taken as
 * 64-bit words, in groups of four (one word to a lane), in the snapshot's order. The
 * words are the values the snapshot stores, read from the records directly (a field the
 * snapshot leaves out because it is 0 enters as 0; its presence flag follows from it), so
 * two engines that would write the same snapshot hash alike, and nothing is serialized:
 * the cost is one pass over the state at memory speed. The engine and market sections,
 * small, go through the byte serializer's hash (hash_block) and enter as one group. */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL

typedef struct {
    uint64_t v[4];
    uint64_t groups;
} whash;

static inline uint64_t wround(uint64_t acc, uint64_t w)
{
    return rotl(acc + w * P2, 31) * P1;
}

static inline void wgroup(whash *h, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    h->v[0] = wround(h->v[0], a);
    h->v[1] = wround(h->v[1], b);
    h->v[2] = wround(h->v[2], c);
    h->v[3] = wround(h->v[3], d);
    h->groups++;
}

static void whash_accounts(whash *h, const margin_engine *e)
{
    uint32_t i, k, n;
    wgroup(h, TAG_ACCOUNTS, e->naccounts, 0, 0);
    for (i = 0; i < e->naccounts; i++) {
        const margin__account *a = &e->accounts[i];
        uint64_t x[4];
        wgroup(h, (uint64_t)a->free, (uint64_t)a->deposits, (uint64_t)a->withdrawals,
               (uint64_t)a->realized);
        wgroup(h, (uint64_t)a->fees, (uint64_t)a->funding, (uint64_t)a->isolated,
               a->mc_fired | (uint64_t)cross_markets(e, a) << 32);
        /* the cross markets' indexes, four to a group, the last one padded with ones */
        n = 0;
        for (k = 0; k < 64 && k < e->nmarkets; k++)
            if ((a->cross_lo >> k) & 1u) {
                x[n++] = k;
                if (n == 4) {
                    wgroup(h, x[0], x[1], x[2], x[3]);
                    n = 0;
                }
            }
        for (k = 0; k < a->ncross_hi; k++) {
            x[n++] = a->cross_hi[k];
            if (n == 4) {
                wgroup(h, x[0], x[1], x[2], x[3]);
                n = 0;
            }
        }
        if (n > 0) {
            for (; n < 4; n++)
                x[n] = UINT64_MAX;
            wgroup(h, x[0], x[1], x[2], x[3]);
        }
        wgroup(h, (uint64_t)a->last_slice, 0, 0, 0);
    }
}

static void whash_positions(whash *h, const margin_engine *e)
{
    uint32_t c, i, nblocks = (e->npos + MARGIN__CHUNK - 1) / MARGIN__CHUNK;
    wgroup(h, TAG_POSITIONS, nblocks, e->npos, 0);
    for (c = 0; c < nblocks; c++) {
        const margin__position *blk = e->chunks[c];
        uint32_t end = chunk_end(e->npos, c) - c * MARGIN__CHUNK;
        if (blk == NULL) {
            wgroup(h, 0, c, 0, 0);
            continue;
        }
        wgroup(h, 1, c, (uint64_t)e->chunkinfo[c].last_close, 0);
        for (i = 0; i < end; i++) {
            const margin__position *p = &blk[i];
            wgroup(h,
                   p->status | (uint64_t)(uint8_t)p->side << 8 | (uint64_t)p->mc_fired << 16 |
                       (uint64_t)p->cross << 24 | (uint64_t)p->account << 32,
                   p->market, (uint64_t)p->qty, (uint64_t)p->entry);
            wgroup(h, (uint64_t)p->margin, (uint64_t)p->leverage, (uint64_t)p->realized,
                   (uint64_t)p->fees);
            wgroup(h, (uint64_t)p->funding, (uint64_t)margin__stop_of(e, p),
                   (uint64_t)margin__take_of(e, p), p->adl_q);
            if (p->cross && p->status == MARGIN_STATUS_OPEN) { /* PF_KEYS: the stored keys */
                const margin__market *m = &e->markets[p->market];
                int64_t kd = p->down_slot != MARGIN__NONE ? margin__hkey(&m->down, p->down_slot)
                                                           : INT64_MIN;
                int64_t ku = p->up_slot != MARGIN__NONE ? margin__hkey(&m->up, p->up_slot)
                                                         : INT64_MAX;
                wgroup(h, (uint64_t)kd, (uint64_t)ku, 0, 0);
            }
        }
    }
}

_Static_assert(MARGIN__NFIELDS == 28, "events hash as fields 1..24 in groups, then 25..27");

static void whash_events(whash *h, const margin_engine *e)
{
    size_t i;
    int f;
    wgroup(h, TAG_EVENTS, e->qlen, 0, 0);
    for (i = 0; i < e->qlen; i++) {
        const margin__event *ev = &e->q[(e->qhead + i) % e->qcap];
        for (f = 1; f + 3 < MARGIN__NFIELDS; f += 4) /* fields 1..24 */
            wgroup(h, (uint64_t)ev->f[f], (uint64_t)ev->f[f + 1], (uint64_t)ev->f[f + 2],
                   (uint64_t)ev->f[f + 3]);
        wgroup(h, (uint64_t)ev->f[25], (uint64_t)ev->f[26], (uint64_t)ev->f[27], 0);
    }
}

int margin_state_hash(const margin_engine *e, uint64_t *out)
{
    sink *s;
    sink local;
    whash h;
    uint64_t x;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    /* the header, the engine and the markets through the byte serializer */
    s = &local;
    s->buf = NULL;
    s->len = 0;
    s->hashing = 1;
    s->nblock = 0;
    s->h = 0x9E3779B97F4A7C15ULL;
    s->total = 0;
    put(s, MAGIC, 8);
    PUT32(s, MARGIN_SNAPSHOT_VERSION);
    put_engine(s, e);
    put_markets(s, e);
    hash_block(s);
    h.v[0] = P1 + P2;
    h.v[1] = P2;
    h.v[2] = 0;
    h.v[3] = (uint64_t)0 - P1;
    h.groups = 0;
    wgroup(&h, s->h, s->total, 0, 0);
    whash_accounts(&h, e);
    whash_positions(&h, e);
    whash_events(&h, e);
    /* xxHash64's lane merge and finalization, with the number of groups as the length */
    x = rotl(h.v[0], 1) + rotl(h.v[1], 7) + rotl(h.v[2], 12) + rotl(h.v[3], 18);
    x = (x ^ wround(0, h.v[0])) * P1 + P4;
    x = (x ^ wround(0, h.v[1])) * P1 + P4;
    x = (x ^ wround(0, h.v[2])) * P1 + P4;
    x = (x ^ wround(0, h.v[3])) * P1 + P4;
    x += h.groups * 32;
    x ^= x >> 33;
    x *= P2;
    x ^= x >> 29;
    x *= P3;
    x ^= x >> 32;
    *out = x;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ reading */

typedef struct {
    const uint8_t *p, *end;
    margin_engine *e; /* for messages */
    const char *section;
    uint32_t version; /* the snapshot's format version (1 to 3) */
} reader;

/* 0 when n bytes remain in the section, else MARGIN_ECORRUPT: the buffer's length was
 * checked against the header, and each section's against what is left, so a record
 * running past its section means its counts and its length disagree. */
static int need(reader *r, size_t n, const char *what)
{
    if ((size_t)(r->end - r->p) >= n)
        return MARGIN_OK;
    return margin__fail(r->e, MARGIN_ECORRUPT,
                        "snapshot section %s ends inside %s (its item count does not match "
                        "its length)",
                        r->section, what);
}

static inline uint64_t get_u(reader *r, int bytes)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, r->p, (size_t)bytes); /* the format's byte order is the machine's */
#else
    int i;
    for (i = bytes - 1; i >= 0; i--)
        v = v << 8 | r->p[i];
#endif
    r->p += bytes;
    return v;
}

#define GET8(r) ((uint8_t)get_u((r), 1))
#define GET32(r) ((uint32_t)get_u((r), 4))
#define GET64(r) ((int64_t)get_u((r), 8))

static int bad(reader *r, const char *field, uint64_t index)
{
    return margin__fail(r->e, MARGIN_ECORRUPT,
                        "snapshot section %s, item %llu: field %s is out of range or "
                        "inconsistent",
                        r->section, (unsigned long long)index, field);
}

/* a fee rate as margin_market_set() accepts it: 0 to 1 (the fee to close is bounded
 * further by the tiers' rates) */
static int rate_ok(int64_t v)
{
    return v >= 0 && v <= MARGIN__ONE;
}

static int get_engine(reader *r, margin_engine *t)
{
    uint32_t flags, i;
    int f, rc;
    int nf = fields_of(r->version);
    if ((rc = need(r, ENGINE_SIZE_V(nf) + (r->version >= 3 ? ENGINE_V3_EXTRA : 0), "the engine")) !=
        MARGIN_OK)
        return rc;
    t->time = GET64(r);
    t->insurance = GET64(r);
    t->last_seq = GET64(r);
    t->liquidations = GET64(r);
    t->cross_evals = GET64(r);
    t->band = GET64(r);
    t->cross_policy = (int32_t)GET32(r);
    flags = GET32(r);
    t->nlevels = GET32(r);
    for (i = 0; i < MARGIN__MAX_LEVELS; i++)
        t->levels[i] = GET64(r);
    t->qmax = (size_t)GET64(r);
    t->npos = GET32(r);
    if (GET32(r) != 0)
        return bad(r, "padding", 0);
    t->closes = GET64(r);
    t->retain = GET64(r);
    for (f = 1; f <= nf; f++)
        t->cur.f[f] = GET64(r);
    t->insurance_deposits = r->version >= 3 ? GET64(r) : 0;
    if (t->insurance_deposits < 0)
        return bad(r, "insurance deposits", 0);
    t->full_scan = (int)(flags & 1u);
    t->queue_on = (int)((flags >> 1) & 1u);
    t->has_cur = (int)((flags >> 2) & 1u);
    if (flags > 7)
        return bad(r, "flags", 0);
    for (f = 1; !t->has_cur && f < MARGIN__NFIELDS; f++)
        if (t->cur.f[f] != 0)
            return bad(r, "current event (fields without a current event)", 0);
    if (t->last_seq < 0 || t->liquidations < 0 || t->cross_evals < 0 ||
        t->last_seq > INT64_MAX / 2 || t->liquidations > INT64_MAX / 2 ||
        t->cross_evals > INT64_MAX / 2)
        return bad(r, "last_seq, liquidations or cross_evaluations", 0);
    if (t->band < 0 || t->band >= MARGIN__ONE)
        return bad(r, "rearm_band", 0);
    if (t->cross_policy != MARGIN_CROSS_LIQ_ALL && t->cross_policy != MARGIN_CROSS_LIQ_WORST_FIRST)
        return bad(r, "cross_liquidation", 0);
    if (t->nlevels > MARGIN__MAX_LEVELS)
        return bad(r, "level_count", 0);
    for (i = 0; i < MARGIN__MAX_LEVELS; i++)
        if (i < t->nlevels ? (t->levels[i] <= 0 || t->levels[i] >= MARGIN__ONE ||
                              (i > 0 && t->levels[i] <= t->levels[i - 1]))
                           : t->levels[i] != 0)
            return bad(r, "levels (strictly rising, between 0 and 1)", i);
    if (t->npos >= UINT32_MAX - MARGIN__CHUNK)
        return bad(r, "position_count", 0);
    if (t->closes < 0 || t->closes > t->npos || t->retain < 0)
        return bad(r, "closes or retain_closed", 0);
    if (t->has_cur && t->cur.f[MARGIN_EVF_SEQ] > t->last_seq)
        return bad(r, "current event sequence", 0);
    t->cur.f[0] = 0;
    return MARGIN_OK;
}

static int get_markets(reader *r, margin_engine *t, uint32_t count)
{
    uint32_t i, k;
    int rc;
    /* the smallest market record: a 1-byte symbol and one tier */
    if ((uint64_t)count * (1 + 1 + 8 + 8 * 8 + 32) > (uint64_t)(r->end - r->p))
        return bad(r, "count (more markets than the section holds)", 0);
    if (count > 0) {
        t->markets = margin__malloc(t, (size_t)count * sizeof *t->markets);
        if (t->markets == NULL)
            return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the markets");
        memset(t->markets, 0, (size_t)count * sizeof *t->markets);
        t->capmarkets = count;
    }
    for (i = 0; i < count; i++) {
        margin__market *m = &t->markets[i];
        size_t n;
        t->nmarkets = i + 1; /* what clearing frees */
        m->head = m->tail = MARGIN__NONE;
        m->down.max = 1;
        if ((rc = need(r, 1, "a market's symbol")) != MARGIN_OK)
            return rc;
        n = GET8(r);
        if (n == 0 || n >= sizeof m->symbol)
            return bad(r, "symbol length", i);
        if ((rc = need(r, n + 8 + 8 * 8, "a market")) != MARGIN_OK)
            return rc;
        memcpy(m->symbol, r->p, n);
        m->symbol[n] = '\0';
        r->p += n;
        if (strlen(m->symbol) != n)
            return bad(r, "symbol", i);
        for (k = 0; k < i; k++)
            if (strcmp(t->markets[k].symbol, m->symbol) == 0)
                return bad(r, "symbol (a duplicate)", i);
        m->price_scale = GET8(r);
        m->qty_scale = GET8(r);
        m->mm_basis = GET8(r);
        m->max_price_set = GET8(r);
        m->tiers_custom = GET8(r);
        m->ntiers = GET8(r);
        m->used = GET8(r);
        if (GET8(r) != 0)
            return bad(r, "padding", i);
        m->tick = GET64(r);
        m->step = GET64(r);
        m->max_lev = GET64(r);
        m->maker = GET64(r);
        m->taker = GET64(r);
        m->close_fee = GET64(r);
        m->max_price = GET64(r);
        m->mark = GET64(r);
        if (m->price_scale > MARGIN_MAX_SCALE || m->qty_scale > MARGIN_MAX_SCALE ||
            m->price_scale + m->qty_scale > MARGIN__MAX_SCALE_SUM)
            return bad(r, "price_scale or qty_scale", i);
        if (m->mm_basis != MARGIN_MM_BASIS_MARK && m->mm_basis != MARGIN_MM_BASIS_ENTRY)
            return bad(r, "mm_basis", i);
        if (m->max_price_set > 1 || m->tiers_custom > 1 || m->used > 1)
            return bad(r, "max_price_set, tiers_custom or used", i);
        if (m->ntiers < 1 || m->ntiers > MARGIN__MAX_TIERS)
            return bad(r, "tier_count", i);
        if (m->max_price <= 0 || m->tick <= 0 || m->tick > m->max_price || m->step <= 0)
            return bad(r, "max_price, tick or step", i);
        if (m->max_lev < MARGIN__ONE || !rate_ok(m->maker) || !rate_ok(m->taker) ||
            !rate_ok(m->close_fee))
            return bad(r, "max_leverage or a fee rate", i);
        if (m->mark < 0 || m->mark > m->max_price)
            return bad(r, "mark", i);
        m->ns = m->price_scale + m->qty_scale;
        m->w = m->ns > 8 ? m->ns : 8;
        if ((rc = need(r, (size_t)m->ntiers * 32, "a market's tiers")) != MARGIN_OK)
            return rc;
        for (k = 0; k < m->ntiers; k++) {
            margin__tier *tk = &m->tiers[k];
            tk->floor = GET64(r);
            tk->mmr = GET64(r);
            tk->max_lev = GET64(r);
            tk->cum = GET64(r);
            if ((k == 0 ? tk->floor != 0
                        : tk->floor <= m->tiers[k - 1].floor || tk->mmr < m->tiers[k - 1].mmr) ||
                tk->mmr <= 0 || tk->mmr >= MARGIN__ONE - m->close_fee ||
                (tk->max_lev != 0 && tk->max_lev < MARGIN__ONE) || tk->cum < 0)
                return bad(r, "tier (floors rising from 0, rates not falling, amounts)", i);
        }
        margin__tier_scale(m);
        margin__market_liq_defaults(m); /* version 1: the defaults, as 0.1.0 behaved */
        if (r->version >= 2) {
            if ((rc = need(r, MARKET_V2_EXTRA, "a market")) != MARGIN_OK)
                return rc;
            m->liq_fee_basis = GET8(r);
            m->liq_fill = GET8(r);
            m->stop_fill = GET8(r);
            m->liq_policy = GET8(r);
            if (GET32(r) != 0)
                return bad(r, "padding", i);
            m->liq_fee = GET64(r);
            m->slice_threshold = GET64(r);
            m->slice_fraction = GET64(r);
            m->slice_cooldown = GET64(r);
            m->slice_backstop = GET64(r);
            if (m->liq_fee_basis > MARGIN_LIQ_FEE_BASIS_MARK ||
                m->liq_fill > MARGIN_LIQ_FILL_BANKRUPTCY ||
                m->stop_fill > MARGIN_STOP_FILL_TRIGGER || m->liq_policy > MARGIN_LIQ_POLICY_SLICES)
                return bad(r, "liquidation fee basis, fill, stop fill or policy", i);
            if (!rate_ok(m->liq_fee) || m->slice_threshold < 0 || m->slice_fraction <= 0 ||
                m->slice_fraction >= MARGIN__ONE || m->slice_cooldown < 0 ||
                m->slice_backstop < 0 || m->slice_backstop > MARGIN__ONE)
                return bad(r, "liquidation fee or slice options", i);
        }
        /* version 3: the insurance pool (before it: its own, without ADL; the fund's
         * balance is given to the first market's pool by get_all) */
        m->pool_of = i;
        m->adl = MARGIN_ADL_OFF;
        m->adl_rank = MARGIN_ADL_RANK_BINANCE;
        m->pool = m->pool_floor = 0;
        if (r->version >= 3) {
            if ((rc = need(r, MARKET_V3_EXTRA, "a market")) != MARGIN_OK)
                return rc;
            m->pool_of = GET32(r);
            m->adl = GET8(r);
            m->adl_rank = GET8(r);
            if (GET8(r) != 0 || GET8(r) != 0)
                return bad(r, "padding", i);
            m->pool = GET64(r);
            m->pool_floor = GET64(r);
            if (m->adl > MARGIN_ADL_ON || m->adl_rank > MARGIN_ADL_RANK_BITMEX ||
                m->pool_floor < 0)
                return bad(r, "ADL switch, ranking or pool floor", i);
        }
        /* version 4: the contract (before it: linear, asset 0, minimum price 1) */
        m->contract = MARGIN_CONTRACT_LINEAR;
        m->csize = MARGIN__ONE;
        m->asset = 0;
        m->min_price = 1;
        m->min_price_set = 0;
        if (r->version >= 4) {
            uint32_t z;
            if ((rc = need(r, MARKET_V4_EXTRA, "a market")) != MARGIN_OK)
                return rc;
            m->contract = GET8(r);
            m->min_price_set = GET8(r);
            for (z = 0; z < 6; z++)
                if (GET8(r) != 0)
                    return bad(r, "padding", i);
            m->csize = GET64(r);
            m->asset = GET64(r);
            m->min_price = GET64(r);
            if (m->contract > MARGIN_CONTRACT_INVERSE || m->min_price_set > 1 || m->csize <= 0 ||
                m->asset < 0 || m->min_price <= 0 || m->min_price >= m->max_price ||
                (m->mark != 0 && m->mark < m->min_price))
                return bad(r, "contract type, contract size, settlement asset or minimum price",
                           i);
        }
        if (i > 0 && (m->contract != t->markets[0].contract || m->asset != t->markets[0].asset))
            return bad(r, "contract type or settlement asset (differs from the first "
                          "market's)",
                       i);
    }
    /* the pools: each market's is its own or an owner's; the pools sum to the fund */
    if (r->version < 3) {
        if (count > 0)
            t->markets[0].pool = t->insurance;
        else if (t->insurance != 0)
            return bad(r, "insurance fund (no market to hold it)", 0);
        return MARGIN_OK;
    }
    {
        margin__i128 sum = 0;
        for (i = 0; i < count; i++) {
            const margin__market *m = &t->markets[i];
            if (m->pool_of >= count || t->markets[m->pool_of].pool_of != m->pool_of ||
                (m->pool_of != i && (m->pool != 0 || m->adl != 0 || m->pool_floor != 0)))
                return bad(r, "insurance pool (its own, or one another market owns; a market "
                              "sharing one holds nothing itself)",
                           i);
            sum += m->pool;
        }
        if (sum != t->insurance)
            return bad(r, "insurance pools (their sum is not the fund)", 0);
    }
    return MARGIN_OK;
}

static int get_accounts(reader *r, margin_engine *t, uint32_t count)
{
    uint32_t i, k;
    int rc;
    if ((uint64_t)count * (7 * 8 + 8) > (uint64_t)(r->end - r->p))
        return bad(r, "count (more accounts than the section holds)", 0);
    if (count > 0) {
        t->accounts = margin__malloc(t, (size_t)count * sizeof *t->accounts);
        if (t->accounts == NULL)
            return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the accounts");
        t->capaccounts = count;
    }
    for (i = 0; i < count; i++) {
        margin__account *a = &t->accounts[i];
        uint32_t nx, last = 0;
        /* every field is set here or below (one pass over the array, not two) */
        static const margin__account zero;
        *a = zero;
        t->naccounts = i + 1;
        a->head = a->tail = MARGIN__NONE;
        if ((rc = need(r, 7 * 8 + 8, "an account")) != MARGIN_OK)
            return rc;
        a->free = GET64(r);
        a->deposits = GET64(r);
        a->withdrawals = GET64(r);
        a->realized = GET64(r);
        a->fees = GET64(r);
        a->funding = GET64(r);
        a->isolated = GET64(r);
        a->last_slice = INT64_MIN;
        k = GET32(r);
        nx = GET32(r);
        if (k > 0xff || (t->nlevels < 8 && (k >> t->nlevels) != 0))
            return bad(r, "margin-call levels fired", i);
        a->mc_fired = (uint8_t)k;
        if (a->deposits < 0 || a->withdrawals < 0 || a->fees < 0 || a->isolated < 0)
            return bad(r, "deposits, withdrawals, fees or isolated margin", i);
        if ((margin__i128)a->free + a->isolated !=
            (margin__i128)a->deposits - a->withdrawals + a->realized - a->fees + a->funding)
            return bad(r, "ledgers (free + isolated != deposits - withdrawals + realized - fees "
                          "+ funding)",
                       i);
        if (nx > t->nmarkets || (rc = need(r, (size_t)nx * 4, "an account's modes")) != MARGIN_OK)
            return nx > t->nmarkets ? bad(r, "cross market count", i) : rc;
        for (k = 0; k < nx; k++) {
            uint32_t mi = GET32(r);
            if (mi >= t->nmarkets || (k > 0 && mi <= last))
                return bad(r, "cross markets (rising market indexes)", i);
            last = mi;
            if (mi < 64) {
                a->cross_lo |= (uint64_t)1 << mi;
                continue;
            }
            if (a->cross_hi == NULL) {
                a->cross_hi = margin__malloc(t, (size_t)nx * sizeof *a->cross_hi);
                if (a->cross_hi == NULL)
                    return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading modes");
                a->capcross_hi = nx;
            }
            a->cross_hi[a->ncross_hi++] = mi;
        }
        if (r->version >= 2) {
            if ((rc = need(r, ACCOUNT_V2_EXTRA, "an account")) != MARGIN_OK)
                return rc;
            a->last_slice = GET64(r);
        }
    }
    return MARGIN_OK;
}

/* The stored trigger keys of the open cross positions, until the heaps are built. */
typedef struct {
    uint32_t pi, n, cap;
    struct xkey {
        uint32_t pi;
        int64_t down, up;
    } *k;
} keyset;

static int add_keys(reader *r, margin_engine *t, keyset *ks, uint32_t pi)
{
    if (ks->n == ks->cap) {
        uint32_t cap = ks->cap ? ks->cap * 2 : 64;
        struct xkey *nk = margin__realloc(t, ks->k, (size_t)cap * sizeof *nk);
        if (nk == NULL)
            return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the positions");
        ks->k = nk;
        ks->cap = cap;
    }
    ks->k[ks->n].pi = pi;
    ks->k[ks->n].down = GET64(r);
    ks->k[ks->n].up = GET64(r);
    ks->n++;
    return MARGIN_OK;
}

static int cmp_last_close(const void *a, const void *b, const margin_engine *t)
{
    int64_t x = t->chunkinfo[*(const uint32_t *)a].last_close;
    int64_t y = t->chunkinfo[*(const uint32_t *)b].last_close;
    return (x > y) - (x < y);
}

static int get_positions(reader *r, margin_engine *t, uint32_t count, keyset *keys)
{
    uint32_t c, i, cap = 16;
    int rc;
    if (count != (t->npos + MARGIN__CHUNK - 1) / MARGIN__CHUNK)
        return bad(r, "block count (differs from the engine's position count)", 0);
    if ((uint64_t)count * 4 > (uint64_t)(r->end - r->p))
        return bad(r, "block count (more blocks than the section holds)", 0);
    while (cap < count)
        cap *= 2;
    t->chunks = margin__malloc(t, (size_t)cap * sizeof *t->chunks);
    t->chunkinfo = margin__malloc(t, (size_t)cap * sizeof *t->chunkinfo);
    t->retire = margin__malloc(t, (size_t)cap * sizeof *t->retire);
    if (t->chunks == NULL || t->chunkinfo == NULL || t->retire == NULL)
        return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the positions");
    memset(t->chunks, 0, (size_t)cap * sizeof *t->chunks);
    memset(t->chunkinfo, 0, (size_t)cap * sizeof *t->chunkinfo);
    t->capchunks = cap;
    t->nchunks = count;
    for (c = 0; c < count; c++) {
        uint32_t live;
        if ((rc = need(r, 4, "a block of positions")) != MARGIN_OK)
            return rc;
        live = GET32(r);
        if (live > 1 || (!live && chunk_end(t->npos, c) - c * MARGIN__CHUNK != MARGIN__CHUNK))
            return bad(r, "block state (only whole blocks retire)", c);
        if (!live)
            continue;
        if ((rc = need(r, 8, "a block of positions")) != MARGIN_OK)
            return rc;
        t->chunkinfo[c].last_close = GET64(r);
        if (t->chunkinfo[c].last_close < 0 || t->chunkinfo[c].last_close > t->closes)
            return bad(r, "block last close", c);
        t->chunks[c] = margin__malloc(t, MARGIN__CHUNK * sizeof *t->chunks[c]);
        if (t->chunks[c] == NULL)
            return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the positions");
        for (i = c * MARGIN__CHUNK; i < chunk_end(t->npos, c); i++) {
            margin__position *p = &MARGIN__POS(t, i);
            uint32_t fl;
            int64_t stop, take;
            p->stops = MARGIN__NONE;
            if ((rc = need(r, 4 + 8 + 4 * 8, "a position")) != MARGIN_OK)
                return rc;
            fl = GET8(r);
            p->status = GET8(r);
            p->side = (int8_t)GET8(r);
            p->mc_fired = GET8(r);
            p->account = GET32(r);
            p->market = GET32(r);
            p->qty = GET64(r);
            p->entry = GET64(r);
            p->margin = GET64(r);
            p->leverage = GET64(r);
            if ((fl & PF_ADLQ && r->version < 3) ||
                (rc = need(r, pos_size(fl) - (4 + 8 + 4 * 8), "a position")) != MARGIN_OK)
                return fl & PF_ADLQ && r->version < 3 ? bad(r, "flags", i) : rc;
            p->realized = (fl & PF_REALIZED) ? GET64(r) : 0;
            p->fees = (fl & PF_FEES) ? GET64(r) : 0;
            p->funding = (fl & PF_FUNDING) ? GET64(r) : 0;
            stop = (fl & PF_STOP) ? GET64(r) : 0;
            take = (fl & PF_TAKE) ? GET64(r) : 0;
            if (((fl & PF_REALIZED) && p->realized == 0) || ((fl & PF_FEES) && p->fees == 0) ||
                ((fl & PF_FUNDING) && p->funding == 0) || ((fl & PF_STOP) && stop == 0) ||
                ((fl & PF_TAKE) && take == 0))
                return bad(r, "flags (an optional field flagged present is 0)", i);
            if (fl & PF_KEYS) {
                if ((rc = add_keys(r, t, keys, i)) != MARGIN_OK)
                    return rc;
            }
            p->adl_q = 0;
            if (fl & PF_ADLQ) {
                uint64_t q = GET64(r);
                if (q == 0 || q > 4)
                    return bad(r, "ADL quantile (1 to 4 when flagged)", i);
                p->adl_q = (uint8_t)q;
            }
            p->cross = (uint8_t)(fl & PF_CROSS);
            p->liq = 0; /* an open isolated position's is computed by rebuild() */
            p->down_slot = p->up_slot = MARGIN__NONE;
            p->mprev = p->mnext = p->aprev = p->anext = MARGIN__NONE;
            if (p->account >= t->naccounts)
                return bad(r, "account (no such account)", i);
            if (p->market >= t->nmarkets)
                return bad(r, "market (no such market)", i);
            if (p->status > (r->version < 3 ? MARGIN_STATUS_LIQUIDATED : MARGIN_STATUS_DELEVERAGED))
                return bad(r, "status", i);
            if (p->side != MARGIN_LONG && p->side != MARGIN_SHORT)
                return bad(r, "side", i);
            if (p->leverage < MARGIN__ONE || p->entry <= 0 || p->margin < 0 || p->fees < 0 ||
                stop < 0 || take < 0)
                return bad(r, "leverage, entry, margin, fees, stop or take-profit", i);
            if (p->status == MARGIN_STATUS_OPEN
                    ? (p->qty <= 0 || ((fl & PF_KEYS) != 0) != (p->cross != 0) ||
                       (p->cross && p->mc_fired != 0) ||
                       (p->cross && p->margin != 0) || (t->nlevels < 8 && (p->mc_fired >> t->nlevels)))
                    : (p->qty != 0 || p->margin != 0 || (fl & PF_KEYS) || p->mc_fired ||
                       p->adl_q))
                return bad(r, "qty, margin, keys, fired levels or ADL quantile (for its status)", i);
            if (p->status == MARGIN_STATUS_OPEN) {
                const margin__market *m = &t->markets[p->market];
                /* (no step check: the step may have changed since the position traded) */
                if (stop > m->max_price || take > m->max_price)
                    return bad(r, "stop or take-profit (above the maximum price)", i);
                if ((stop > 0 && stop < m->min_price) || (take > 0 && take < m->min_price))
                    return bad(r, "stop or take-profit (below the minimum price)", i);
                if (!margin__fits_price_range(m, p) || !margin__short_bp_fits(m, p))
                    return bad(r, "size (its figures do not fit the market's price range)", i);
            }
            if ((stop != 0 || take != 0) && margin__stops_reserve(t) != MARGIN_OK)
                return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the positions");
            margin__stops_put(t, p, stop, take);
            t->chunkinfo[c].closed += p->status != MARGIN_STATUS_OPEN;
        }
        if (t->chunkinfo[c].closed == MARGIN__CHUNK)
            t->retire[t->rlen++] = c;
    }
    /* the blocks waiting to retire, in the order of their last close (insertion sort:
     * they are few, the window holds at most retain / CHUNK + 1 of them) */
    for (i = 1; i < t->rlen; i++) {
        uint32_t k = i, x = t->retire[i];
        while (k > 0 && cmp_last_close(&t->retire[k - 1], &x, t) > 0) {
            t->retire[k] = t->retire[k - 1];
            k--;
        }
        t->retire[k] = x;
    }
    return MARGIN_OK;
}

static int get_events(reader *r, margin_engine *t, uint32_t count)
{
    uint32_t i;
    int f, rc;
    int64_t prev;
    int nf = fields_of(r->version);
    if ((rc = need(r, (size_t)count * 8 * (size_t)nf, "the events")) != MARGIN_OK)
        return rc;
    if (count > 0) {
        size_t cap = 64;
        while (cap < count)
            cap *= 2;
        t->q = margin__malloc(t, cap * sizeof *t->q);
        if (t->q == NULL)
            return margin__fail(r->e, MARGIN_ENOMEM, "out of memory loading the events");
        t->qcap = cap;
    }
    prev = t->has_cur ? t->cur.f[MARGIN_EVF_SEQ] : 0;
    for (i = 0; i < count; i++) {
        margin__event *ev = &t->q[i];
        ev->f[0] = 0;
        memset(ev, 0, sizeof *ev);
        for (f = 1; f <= nf; f++)
            ev->f[f] = GET64(r);
        if (ev->f[MARGIN_EVF_SEQ] <= prev || ev->f[MARGIN_EVF_SEQ] > t->last_seq ||
            ev->f[MARGIN_EVF_TYPE] < MARGIN_EV_DEPOSIT ||
            ev->f[MARGIN_EVF_TYPE] >
                (r->version < 3 ? MARGIN_EV_PARTIAL_LIQUIDATION : MARGIN_EV_ADL))
            return bad(r, "sequence or type (rising, at most the last sequence)", i);
        prev = ev->f[MARGIN_EVF_SEQ];
    }
    t->qlen = count;
    t->qhead = 0;
    return MARGIN_OK;
}

/* The next live position index after pi whose block is live, or npos. */
static uint32_t next_live_open(const margin_engine *t, uint32_t pi)
{
    for (pi = margin__next_live(t, pi); pi < t->npos; pi = margin__next_live(t, pi + 1))
        if (MARGIN__POS(t, pi).status == MARGIN_STATUS_OPEN)
            break;
    return pi;
}

/* What the linking passes keep per account, in an array of its own: 32 bytes per account
 * (two to a cache line), where an account record is ~200 bytes. A position's account is
 * anywhere: the passes prefetch the entry of the position AHEAD on. */
typedef struct {
    uint64_t mask;   /* the account's cross markets below 64 (cross_lo) */
    uint64_t margin; /* the sum of its open positions' margins; UINT64_MAX past INT64_MAX */
    uint32_t tail, head, count, ncross;
} acct_scratch;

enum { AHEAD = 12 };

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH_W(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH_W(p) ((void)(p))
#endif

/* Everything that is recomputed: lists, counts, ledgers of open positions, the indexes.
 * Every pass is sequential over the positions (id order) or the accounts; what a pass
 * needs of a position's account is in the compact arrays of acct_scratch. A pass that
 * linked each position into its account's list directly would read an account and the
 * account's last position at random, two cache misses per position. */
static int rebuild(reader *r, margin_engine *t, const keyset *keys)
{
    uint32_t i, mi, c, *open;
    int rc = MARGIN_OK;
    int64_t closed = 0;
    acct_scratch *s;
    int any_cross = 0;
    /* the close count is the number of positions closed: retired blocks (all closed) and
     * the closed records of live blocks; a market with a live position has been used */
    open = margin__malloc(t, ((size_t)t->nmarkets + 1) * sizeof *open);
    if (open == NULL)
        return margin__fail(r->e, MARGIN_ENOMEM, "out of memory building the trigger indexes");
    memset(open, 0, ((size_t)t->nmarkets + 1) * sizeof *open);
    for (c = 0; c < t->nchunks; c++)
        if (t->chunks[c] == NULL)
            closed += MARGIN__CHUNK;
    for (i = margin__next_live(t, 0); i < t->npos; i = margin__next_live(t, i + 1)) {
        const margin__position *p = &MARGIN__POS(t, i);
        closed += p->status != MARGIN_STATUS_OPEN;
        open[p->market] += p->status == MARGIN_STATUS_OPEN;
        if (!t->markets[p->market].used) {
            r->section = "MRKT";
            rc = bad(r, "used (a market with positions)", p->market);
            break;
        }
    }
    if (rc == MARGIN_OK && closed != t->closes) {
        r->section = "ENGN";
        rc = bad(r, "closes (differs from the positions closed)", 0);
    }
    r->section = "POSN";
    for (mi = 0; rc == MARGIN_OK && mi < t->nmarkets; mi++) {
        uint32_t n = open[mi];
        t->markets[mi].open_count = 0;
        /* room for every open position in both heaps (margin__index_reserve's rule) */
        if (n > 0 && ((rc = margin__heap_reserve(t, &t->markets[mi].down, n + 1)) != MARGIN_OK ||
                      (rc = margin__heap_reserve(t, &t->markets[mi].up, n + 1)) != MARGIN_OK))
            rc = margin__fail(r->e, rc, "out of memory building the trigger indexes");
    }
    margin__dealloc(t, open);
    if (rc != MARGIN_OK)
        return rc;
    s = margin__malloc(t, ((size_t)t->naccounts + 1) * sizeof *s);
    if (s == NULL)
        return margin__fail(r->e, MARGIN_ENOMEM, "out of memory building the account lists");
    for (i = 0; i < t->naccounts; i++) {
        s[i].mask = t->accounts[i].cross_lo;
        s[i].margin = 0;
        s[i].tail = s[i].head = MARGIN__NONE;
        s[i].count = s[i].ncross = 0;
    }
    /* the cross positions' stored keys first, then the isolated ones' computed keys in id
     * order (the order of the heaps' inserts is part of what a load reproduces) */
    for (i = 0; i < keys->n; i++)
        margin__index_set(t, &t->markets[MARGIN__POS(t, keys->k[i].pi).market], keys->k[i].pi,
                          keys->k[i].down, keys->k[i].up);
    /* forward: the mode, the market list, each account's previous position, the margins
     * (the account's scratch entry is prefetched AHEAD positions on) */
    for (i = next_live_open(t, 0); rc == MARGIN_OK && i < t->npos; i = next_live_open(t, i + 1)) {
        margin__position *p = &MARGIN__POS(t, i);
        uint32_t ai = p->account;
        int cross;
        if (i + AHEAD < t->npos && t->chunks[(i + AHEAD) >> MARGIN__CHUNK_BITS] != NULL &&
            MARGIN__POS(t, i + AHEAD).account < t->naccounts)
            PREFETCH_W(&s[MARGIN__POS(t, i + AHEAD).account]);
        cross = p->market < 64 ? (int)((s[ai].mask >> p->market) & 1u)
                                   : margin__is_cross(&t->accounts[ai], p->market) != 0;
        if ((p->cross != 0) != cross) {
            rc = bad(r,
                     p->cross ? "mode (a cross position where its account is isolated)"
                              : "mode (an isolated position where its account is cross)",
                     i);
            break;
        }
        margin__link_market(t, i);
        p->aprev = s[ai].tail;
        s[ai].tail = i;
        /* margins are >= 0 (checked when read): a sum past INT64_MAX sticks at UINT64_MAX,
         * which no ledger matches */
        s[ai].margin = s[ai].margin > (uint64_t)INT64_MAX ? UINT64_MAX
                                                           : s[ai].margin + (uint64_t)p->margin;
        any_cross |= p->cross != 0;
    }
    /* the isolated positions' keys: a pass of its own, whose only random accesses are
     * the heaps' (a threshold is ~100 ns of work that would hide no miss) */
    for (i = next_live_open(t, 0); rc == MARGIN_OK && i < t->npos; i = next_live_open(t, i + 1))
        if (!MARGIN__POS(t, i).cross && margin__reindex(t, i) != MARGIN_OK)
            rc = bad(r, "state (its liquidation or level prices do not fit)", i);
    /* backward: each account's next position, its first, its counts */
    for (c = t->nchunks; rc == MARGIN_OK && c-- > 0;) {
        uint32_t j, base = c << MARGIN__CHUNK_BITS;
        if (t->chunks[c] == NULL)
            continue;
        for (j = MARGIN__CHUNK; j-- > 0;) {
            margin__position *p = &t->chunks[c][j];
            uint32_t ai;
            if (base + j >= t->npos || p->status != MARGIN_STATUS_OPEN)
                continue;
            if (j >= AHEAD && t->chunks[c][j - AHEAD].account < t->naccounts)
                PREFETCH_W(&s[t->chunks[c][j - AHEAD].account]);
            ai = p->account;
            p->anext = s[ai].head;
            s[ai].head = base + j;
            s[ai].count++;
            s[ai].ncross += p->cross != 0;
        }
    }
    for (i = 0; rc == MARGIN_OK && i < t->naccounts; i++) {
        margin__account *a = &t->accounts[i];
        a->head = s[i].head;
        a->tail = s[i].tail;
        a->open_count = s[i].count;
        a->ncross = s[i].ncross;
        if (s[i].margin != (uint64_t)a->isolated)
            rc = margin__fail(r->e, MARGIN_ECORRUPT,
                              "snapshot section ACCT, item %u: field isolated margin differs "
                              "from the sum of its open positions' margins",
                              i);
    }
    margin__dealloc(t, s);
    /* cross positions: at most MARGIN__MAX_LEGS per account and market */
    for (i = any_cross ? next_live_open(t, 0) : t->npos; rc == MARGIN_OK && i < t->npos;
         i = next_live_open(t, i + 1)) {
        const margin__position *p = &MARGIN__POS(t, i);
        if (p->cross && margin__cross_legs_in(t, p->account, p->market) > MARGIN__MAX_LEGS)
            rc = bad(r, "mode (more cross positions in one market than allowed)", i);
    }
    return rc;
}

/* Load into t (empty, e's memory functions) from a checked buffer. */
static int load_into(margin_engine *e, margin_engine *t, const uint8_t *buf, size_t len)
{
    reader r;
    uint32_t version, nsec, s;
    uint64_t total, reserved;
    keyset keys;
    int rc;
    memset(&keys, 0, sizeof keys);
    r.e = e;
    r.p = buf;
    r.end = buf + len;
    r.section = "header";
    if (len < 8 || memcmp(buf, MAGIC, 8) != 0)
        return margin__fail(e, MARGIN_EMAGIC, "not a libmargin snapshot (wrong magic)");
    if (len < HEADER_SIZE + 4)
        return margin__fail(e, MARGIN_ETRUNCATED, "snapshot shorter than its header");
    r.p += 8;
    version = GET32(&r);
    r.version = version;
    if (version < 1 || version > MARGIN_SNAPSHOT_VERSION)
        return margin__fail(e, MARGIN_EVERSION,
                            "snapshot format version %u: this library reads versions 1 to 4 (format version %d)",
                            version, MARGIN_SNAPSHOT_VERSION);
    nsec = GET32(&r);
    total = (uint64_t)GET64(&r);
    reserved = (uint64_t)GET64(&r); /* checked after the checksum: damage is damage */
    if (total > len)
        return margin__fail(e, MARGIN_ETRUNCATED, "snapshot of %llu bytes cut to %zu bytes",
                            (unsigned long long)total, len);
    if (total < HEADER_SIZE + 4 || total != len)
        return margin__fail(e, MARGIN_ECORRUPT,
                            "snapshot length field %llu does not match its %zu bytes",
                            (unsigned long long)total, len);
    {
        const uint8_t *c = buf + len - 4;
        uint32_t want = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 |
                        (uint32_t)c[3] << 24;
        if (crc32c(0, buf, len - 4) != want)
            return margin__fail(e, MARGIN_ECHECKSUM,
                                "snapshot checksum mismatch: the bytes were damaged");
    }
    r.end = buf + len - 4;
    if (reserved != 0)
        return margin__fail(e, MARGIN_ECORRUPT, "snapshot header: the reserved field is not 0");
    if (nsec != NSECTIONS)
        return margin__fail(e, MARGIN_ECORRUPT,
                            "snapshot header: %u sections, where this version writes 5", nsec);
    for (s = 0; s < nsec; s++) {
        uint32_t tag, count;
        uint64_t plen;
        const uint8_t *end;
        static const uint32_t order[NSECTIONS] = {TAG_ENGINE, TAG_MARKETS, TAG_ACCOUNTS,
                                                  TAG_POSITIONS, TAG_EVENTS};
        static const char *const names[NSECTIONS] = {"ENGN", "MRKT", "ACCT", "POSN", "EVNT"};
        r.section = "header";
        if ((rc = need(&r, SECTION_HEAD, "a section header")) != MARGIN_OK)
            goto out;
        tag = GET32(&r);
        count = GET32(&r);
        plen = (uint64_t)GET64(&r);
        if (tag != order[s]) {
            rc = margin__fail(e, MARGIN_ECORRUPT,
                              "snapshot section %u: tag 0x%08x where %s belongs", s, tag,
                              names[s]);
            goto out;
        }
        r.section = names[s];
        if (plen > (uint64_t)(r.end - r.p)) {
            rc = margin__fail(e, MARGIN_ETRUNCATED, "snapshot section %s longer than the rest",
                              names[s]);
            goto out;
        }
        end = r.p + plen;
        {
            const uint8_t *save_end = r.end;
            r.end = end;
            switch (s) {
            case 0:
                rc = count != 1 ? bad(&r, "count", 0) : get_engine(&r, t);
                break;
            case 1:
                rc = get_markets(&r, t, count);
                break;
            case 2:
                rc = get_accounts(&r, t, count);
                break;
            case 3:
                rc = get_positions(&r, t, count, &keys);
                break;
            default:
                rc = get_events(&r, t, count);
                break;
            }
            if (rc == MARGIN_OK && r.p != end)
                rc = margin__fail(e, MARGIN_ECORRUPT,
                                  "snapshot section %s: %lld bytes left over after its items",
                                  names[s], (long long)(end - r.p));
            r.end = save_end;
        }
        if (rc != MARGIN_OK)
            goto out;
    }
    if (r.p != r.end) {
        rc = margin__fail(e, MARGIN_ECORRUPT, "snapshot: bytes after the last section");
        goto out;
    }
    rc = rebuild(&r, t, &keys);
out:
    margin__dealloc(t, keys.k);
    return rc;
}

int margin_snapshot_load(margin_engine *e, const void *buf, size_t len)
{
    margin_engine *t;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (buf == NULL && len > 0)
        return margin__fail(e, MARGIN_EINVAL, "buf is NULL with len > 0");
    if (e->nmarkets || e->naccounts || e->npos || e->qlen || e->last_seq)
        return margin__fail(e, MARGIN_ESTATE,
                            "a snapshot loads into an empty engine (new from "
                            "margin_engine_new()), not one with markets, accounts, positions "
                            "or events");
    t = margin__malloc(e, sizeof *t);
    if (t == NULL)
        return margin__fail(e, MARGIN_ENOMEM, "out of memory loading the snapshot");
    memset(t, 0, sizeof *t);
    t->mem_alloc = e->mem_alloc;
    t->mem_grow = e->mem_grow;
    t->mem_release = e->mem_release;
    t->mem_user = e->mem_user;
    rc = load_into(e, t, buf, len);
    if (rc != MARGIN_OK) {
        margin__engine_clear(t);
        margin__dealloc(e, t);
        return rc;
    }
    /* commit: e takes t's state, keeping its callback (e holds nothing to free but its
     * work space) */
    t->cb = e->cb;
    t->cb_user = e->cb_user;
    margin__engine_clear(e);
    *e = *t;
    e->err = MARGIN_OK;
    e->msg[0] = '\0';
    margin__dealloc(e, t);
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ files */

static int io_fail(const margin_engine *e, const char *step, const char *path, int err)
{
    return margin__fail(e, MARGIN_EIO, "snapshot file %s: %s failed: %s", path, step,
                        strerror(err));
}

/* Write all n bytes of p to fd, retrying short writes and interruptions. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int margin_snapshot_write(const margin_engine *e, const char *path)
{
    size_t n, plen, dlen;
    uint8_t *buf;
    char *tmp, *dir;
    int fd, dfd, rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (path == NULL || *path == '\0')
        return margin__fail(e, MARGIN_EINVAL, "path is NULL or empty");
    plen = strlen(path);
    n = snapshot_size(e);
    buf = margin__malloc(e, n);
    tmp = margin__malloc(e, plen + 16);
    dir = margin__malloc(e, plen + 2);
    if (buf == NULL || tmp == NULL || dir == NULL) {
        margin__dealloc(e, buf);
        margin__dealloc(e, tmp);
        margin__dealloc(e, dir);
        return margin__fail(e, MARGIN_ENOMEM, "out of memory writing the snapshot");
    }
    (void)margin_snapshot_save(e, buf, n, &n);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    /* the directory: everything up to the last '/', or "." */
    dlen = plen;
    while (dlen > 0 && path[dlen - 1] != '/')
        dlen--;
    if (dlen == 0) {
        memcpy(dir, ".", 2);
    } else {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
    }
    /* the directory first: a path whose directory cannot be opened fails before anything
     * is written */
    rc = MARGIN_OK;
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        rc = io_fail(e, "directory open", path, errno);
    } else if ((fd = mkstemp(tmp)) < 0) {
        rc = io_fail(e, "open (of the temporary file)", path, errno);
    } else {
        if (write_all(fd, buf, n) != 0)
            rc = io_fail(e, "write", path, errno);
        else if (fsync(fd) != 0)
            rc = io_fail(e, "fsync", path, errno);
        if (close(fd) != 0 && rc == MARGIN_OK)
            rc = io_fail(e, "close", path, errno);
        if (rc == MARGIN_OK && rename(tmp, path) != 0)
            rc = io_fail(e, "rename", path, errno);
        if (rc != MARGIN_OK)
            (void)unlink(tmp);
        else if (fsync(dfd) != 0) /* the rename is done: only its durability is in doubt */
            rc = margin__fail(e, MARGIN_EIO,
                              "snapshot file %s: directory fsync failed: %s (the new snapshot "
                              "is in place, whole, but may not survive a power loss)",
                              path, strerror(errno));
    }
    if (dfd >= 0)
        (void)close(dfd);
    margin__dealloc(e, buf);
    margin__dealloc(e, tmp);
    margin__dealloc(e, dir);
    return rc;
}

int margin_snapshot_read(margin_engine *e, const char *path)
{
    FILE *f;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (path == NULL || *path == '\0')
        return margin__fail(e, MARGIN_EINVAL, "path is NULL or empty");
    f = fopen(path, "rb");
    if (f == NULL)
        return io_fail(e, "open", path, errno);
    for (;;) {
        size_t k;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1u << 16;
            uint8_t *nb = margin__realloc(e, buf, ncap);
            if (nb == NULL) {
                margin__dealloc(e, buf);
                (void)fclose(f);
                return margin__fail(e, MARGIN_ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap = ncap;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                int err = errno;
                margin__dealloc(e, buf);
                (void)fclose(f);
                return io_fail(e, "read", path, err);
            }
            break;
        }
    }
    (void)fclose(f);
    rc = margin_snapshot_load(e, buf, n);
    margin__dealloc(e, buf);
    return rc;
}
