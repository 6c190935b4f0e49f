/* A reader of the snapshot format (docs/snapshot.md, versions 1 to 4) for the fuzz harnesses,
 * written from the document, not from lib/snapshot.c:
 *  - sw_crc32c(): the trailer's CRC-32C (Castagnoli, reflected 0x82F63B78);
 *  - sw_walk(): every field of a well-formed snapshot, in order, with its offset, size,
 *    section and role (its place in its item), so that a harness can change exact fields
 *    (fuzz_snapshot.c) or set fields aside when comparing two snapshots (fuzz_engine.c);
 *  - sw_seal(): rewrite the header's total length and the trailer after a change, so that
 *    the loader gets past its length and checksum checks to the fields.
 * Header-only (static functions); every read is bounds-checked, and sw_walk() returns 0 for
 * anything that does not follow the format. */
#ifndef FUZZ_SNAPSHOT_WALK_H
#define FUZZ_SNAPSHOT_WALK_H

#include <stddef.h>
#include <stdint.h>

/* sections (and the header, the section heads and the trailer) */
enum {
    SW_HEADER = 0, /* roles: 0 magic, 1 version, 2 sections, 3 total length, 4 reserved */
    SW_ENGN,       /* roles: SWE_* below */
    SW_MRKT,       /* roles: 0 symbol length, 1 symbol, 2..8 the u8s, 9 padding,
                      10..17 tick, step, max leverage, maker, taker, close fee, max price,
                      mark; 18 + 4k + j: tier k's floor, rate, max leverage, amount;
                      version 2: 300..303 the liquidation u8s, 304 padding, 305..309 the
                      liquidation fee and the slice options; version 3: 310 the pool's
                      market, 311 ADL, 312 ranking, 313 padding (u16), 314 the pool's
                      balance, 315 its floor; version 4: 316 the contract type, 317 the
                      minimum price given, 318 padding (6 bytes), 319 the contract size,
                      320 the settlement asset, 321 the minimum price */
    SW_ACCT,       /* roles: 0..6 ledgers, 7 levels fired, 8 cross count, 9 a cross market,
                      10 (version 2) the last slice's time */
    SW_POSN,       /* roles: SWP_* below (a block's head: SWP_BLOCK_LIVE, SWP_BLOCK_CLOSE) */
    SW_EVNT,       /* roles: 0..22 fields 1..23 (version 2: 0..24, fields 1..25; versions 3
                      and 4: 0..26, fields 1..27) */
    SW_HEAD,       /* a section head; roles: 3 * section index + 0 tag, 1 count, 2 length */
    SW_TRAILER     /* role 0: the CRC-32C */
};

enum {
    SWE_TIME = 0, SWE_INSURANCE, SWE_LAST_SEQ, SWE_LIQUIDATIONS, SWE_CROSS_EVALS, SWE_BAND,
    SWE_POLICY, SWE_FLAGS, SWE_NLEVELS, SWE_LEVEL0, SWE_CAP = SWE_LEVEL0 + 8, SWE_NPOS,
    SWE_PAD, SWE_CLOSES, SWE_RETAIN, SWE_CUR0, /* 23 fields (version 2: 25, 3 and 4: 27) */
    SWE_DEPOSITS = SWE_CUR0 + 27 /* version 3 on: the insurance deposits, after the fields */
};

enum {
    SWP_FLAGS = 0, SWP_STATUS, SWP_SIDE, SWP_FIRED, SWP_ACCOUNT, SWP_MARKET, SWP_QTY,
    SWP_ENTRY, SWP_MARGIN, SWP_LEVERAGE, SWP_REALIZED, SWP_FEES, SWP_FUNDING, SWP_STOP,
    SWP_TAKE, SWP_KEY_DOWN, SWP_KEY_UP, SWP_BLOCK_LIVE, SWP_BLOCK_CLOSE,
    SWP_ADLQ /* version 3 on (flag 128): the ADL quantile, after the keys */
};

#define SW_BLOCK 1024 /* position ids per POSN item */

#define SW_NFIELDS 23    /* event fields in version 1 */
#define SW_NFIELDS_V2 25 /* and in version 2 */
#define SW_NFIELDS_V3 27 /* and in versions 3 and 4 */

typedef struct {
    uint32_t off;  /* offset in the snapshot */
    uint16_t role; /* place in its item (see above) */
    uint8_t size;  /* bytes: 1, 2, 4, 6 or 8 (a symbol: its length) */
    uint8_t sec;   /* SW_* */
} sw_field;

static inline uint32_t sw_crc32c(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready;
    uint32_t crc = 0xFFFFFFFFu;
    if (!ready) {
        uint32_t i, c;
        int k;
        for (i = 0; i < 256; i++) {
            c = i;
            for (k = 0; k < 8; k++)
                c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    while (n-- > 0)
        crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xFFu];
    return ~crc;
}

static inline uint64_t sw_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    while (bytes-- > 0)
        v = v << 8 | p[bytes];
    return v;
}

static inline void sw_put(uint8_t *p, uint64_t v, int bytes)
{
    int i;
    for (i = 0; i < bytes; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Set the total length (when there is room for it) and the trailer (when there is room
 * for a trailer after the header) to match the n bytes. */
static inline void sw_seal(uint8_t *b, size_t n, int length, int crc)
{
    if (length && n >= 24)
        sw_put(b + 16, (uint64_t)n, 8);
    if (crc && n >= 36)
        sw_put(b + n - 4, sw_crc32c(b, n - 4), 4);
}

typedef struct {
    const uint8_t *b;
    size_t n, at;
    sw_field *out;
    size_t cap, nf;
    int bad;
} sw_walker;

static inline void sw_take(sw_walker *w, int sec, int role, size_t size)
{
    if (w->bad || size > w->n - w->at || size > 255) {
        w->bad = 1;
        return;
    }
    if (w->nf < w->cap) {
        w->out[w->nf].off = (uint32_t)w->at;
        w->out[w->nf].role = (uint16_t)role;
        w->out[w->nf].size = (uint8_t)size;
        w->out[w->nf].sec = (uint8_t)sec;
        w->nf++;
    } else {
        w->bad = 1;
    }
    w->at += size;
}

/* the value of the field just taken */
static inline uint64_t sw_last(const sw_walker *w)
{
    const sw_field *f;
    if (w->bad || w->nf == 0)
        return 0;
    f = &w->out[w->nf - 1];
    return f->size <= 8 ? sw_get(w->b + f->off, f->size) : 0;
}

/* The fields of the snapshot b[0..n), at most cap of them, in order; 0 when b does not
 * follow the format (or has more fields than cap). */
static inline size_t sw_walk(const uint8_t *b, size_t n, sw_field *out, size_t cap)
{
    static const uint32_t tags[5] = {0x4E474E45u /* ENGN */, 0x544B524Du /* MRKT */,
                                     0x54434341u /* ACCT */, 0x4E534F50u /* POSN */,
                                     0x544E5645u /* EVNT */};
    sw_walker w;
    int s, r, nfields;
    uint32_t i, k, npos = 0, version;
    w.b = b;
    w.n = n;
    w.at = 0;
    w.out = out;
    w.cap = cap;
    w.nf = 0;
    w.bad = 0;
    version = n >= 12 ? (uint32_t)sw_get(b + 8, 4) : 0;
    if (n < 36 || version < 1 || version > 4 || sw_get(b + 12, 4) != 5 ||
        sw_get(b + 16, 8) != n)
        return 0;
    nfields = version == 1 ? SW_NFIELDS : version == 2 ? SW_NFIELDS_V2 : SW_NFIELDS_V3;
    sw_take(&w, SW_HEADER, 0, 8);
    for (r = 1; r <= 4; r++)
        sw_take(&w, SW_HEADER, r, r <= 2 ? 4 : 8);
    for (s = 0; s < 5 && !w.bad; s++) {
        uint32_t count;
        uint64_t plen;
        size_t start;
        sw_take(&w, SW_HEAD, 3 * s, 4);
        if (sw_last(&w) != tags[s])
            return 0;
        sw_take(&w, SW_HEAD, 3 * s + 1, 4);
        count = (uint32_t)sw_last(&w);
        sw_take(&w, SW_HEAD, 3 * s + 2, 8);
        plen = sw_last(&w);
        if (w.bad || plen > n - 4 - w.at)
            return 0;
        start = w.at;
        for (i = 0; i < count && !w.bad; i++) {
            switch (s) {
            case 0: /* ENGN */
                for (r = SWE_TIME; r <= SWE_BAND; r++)
                    sw_take(&w, SW_ENGN, r, 8);
                sw_take(&w, SW_ENGN, SWE_POLICY, 4);
                sw_take(&w, SW_ENGN, SWE_FLAGS, 4);
                sw_take(&w, SW_ENGN, SWE_NLEVELS, 4);
                for (r = 0; r < 8; r++)
                    sw_take(&w, SW_ENGN, SWE_LEVEL0 + r, 8);
                sw_take(&w, SW_ENGN, SWE_CAP, 8);
                sw_take(&w, SW_ENGN, SWE_NPOS, 4);
                npos = (uint32_t)sw_last(&w);
                sw_take(&w, SW_ENGN, SWE_PAD, 4);
                sw_take(&w, SW_ENGN, SWE_CLOSES, 8);
                sw_take(&w, SW_ENGN, SWE_RETAIN, 8);
                for (r = 0; r < nfields; r++)
                    sw_take(&w, SW_ENGN, SWE_CUR0 + r, 8);
                if (version >= 3)
                    sw_take(&w, SW_ENGN, SWE_DEPOSITS, 8);
                break;
            case 1: { /* MRKT */
                uint32_t ntiers;
                sw_take(&w, SW_MRKT, 0, 1);
                sw_take(&w, SW_MRKT, 1, (size_t)sw_last(&w));
                for (r = 2; r <= 9; r++)
                    sw_take(&w, SW_MRKT, r, 1);
                ntiers = w.bad ? 0 : b[w.at - 3]; /* role 7 */
                for (r = 10; r <= 17; r++)
                    sw_take(&w, SW_MRKT, r, 8);
                for (k = 0; k < ntiers && k < 64; k++)
                    for (r = 0; r < 4; r++)
                        sw_take(&w, SW_MRKT, 18 + 4 * (int)k + r, 8);
                if (version >= 2) {
                    for (r = 300; r <= 303; r++)
                        sw_take(&w, SW_MRKT, r, 1);
                    sw_take(&w, SW_MRKT, 304, 4);
                    for (r = 305; r <= 309; r++)
                        sw_take(&w, SW_MRKT, r, 8);
                }
                if (version >= 3) {
                    sw_take(&w, SW_MRKT, 310, 4);
                    sw_take(&w, SW_MRKT, 311, 1);
                    sw_take(&w, SW_MRKT, 312, 1);
                    sw_take(&w, SW_MRKT, 313, 2);
                    sw_take(&w, SW_MRKT, 314, 8);
                    sw_take(&w, SW_MRKT, 315, 8);
                }
                if (version >= 4) {
                    sw_take(&w, SW_MRKT, 316, 1);
                    sw_take(&w, SW_MRKT, 317, 1);
                    sw_take(&w, SW_MRKT, 318, 6);
                    for (r = 319; r <= 321; r++)
                        sw_take(&w, SW_MRKT, r, 8);
                }
                break;
            }
            case 2: { /* ACCT */
                uint32_t nx;
                for (r = 0; r <= 7; r++)
                    sw_take(&w, SW_ACCT, r, r < 7 ? 8 : 4);
                sw_take(&w, SW_ACCT, 8, 4);
                nx = (uint32_t)sw_last(&w);
                for (k = 0; k < nx && !w.bad; k++)
                    sw_take(&w, SW_ACCT, 9, 4);
                if (version >= 2)
                    sw_take(&w, SW_ACCT, 10, 8);
                break;
            }
            case 3: { /* POSN: block i, ids 1024 i + 1 to min(1024 (i + 1), npos) */
                uint32_t live, id, last;
                sw_take(&w, SW_POSN, SWP_BLOCK_LIVE, 4);
                live = (uint32_t)sw_last(&w);
                if (!live)
                    break;
                sw_take(&w, SW_POSN, SWP_BLOCK_CLOSE, 8);
                last = npos - i * SW_BLOCK < SW_BLOCK ? npos - i * SW_BLOCK : SW_BLOCK;
                if ((uint64_t)i * SW_BLOCK >= npos)
                    w.bad = 1;
                for (id = 0; id < last && !w.bad; id++) {
                    uint32_t fl;
                    sw_take(&w, SW_POSN, SWP_FLAGS, 1);
                    fl = (uint32_t)sw_last(&w);
                    sw_take(&w, SW_POSN, SWP_STATUS, 1);
                    sw_take(&w, SW_POSN, SWP_SIDE, 1);
                    sw_take(&w, SW_POSN, SWP_FIRED, 1);
                    sw_take(&w, SW_POSN, SWP_ACCOUNT, 4);
                    sw_take(&w, SW_POSN, SWP_MARKET, 4);
                    for (r = SWP_QTY; r <= SWP_LEVERAGE; r++)
                        sw_take(&w, SW_POSN, r, 8);
                    for (r = SWP_REALIZED; r <= SWP_TAKE; r++)
                        if (fl & (2u << (r - SWP_REALIZED)))
                            sw_take(&w, SW_POSN, r, 8);
                    if (fl & 64u) {
                        sw_take(&w, SW_POSN, SWP_KEY_DOWN, 8);
                        sw_take(&w, SW_POSN, SWP_KEY_UP, 8);
                    }
                    if (fl & 128u) { /* version 3 on */
                        if (version < 3)
                            w.bad = 1;
                        sw_take(&w, SW_POSN, SWP_ADLQ, 8);
                    }
                }
                break;
            }
            default: /* EVNT */
                for (r = 0; r < nfields; r++)
                    sw_take(&w, SW_EVNT, r, 8);
                break;
            }
        }
        if (w.bad || w.at - start != plen)
            return 0;
    }
    if (w.bad || w.at != n - 4)
        return 0;
    sw_take(&w, SW_TRAILER, 0, 4);
    if (w.bad || sw_last(&w) != sw_crc32c(b, n - 4))
        return 0;
    return w.nf;
}

#endif
