/* Markets: creation, options, the price range, maintenance tiers. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static void market_default_tier(margin__market *m)
{
    m->ntiers = 1;
    m->tiers_custom = 0;
    m->tiers[0].floor = 0;
    m->tiers[0].mmr = 400000; /* 0.004 */
    m->tiers[0].max_lev = 0;  /* the market's maximum */
    m->tiers[0].cum = 0;
    m->tiers[0].floor_w = 0;
}

/* The default maximum price: ten million in price units (10^(price scale + 7)), or the
 * largest price below INT64_MAX when that does not fit (price scales above 11). */
static int64_t default_max_price(int32_t price_scale)
{
    return price_scale + 7 <= 18 ? margin__pow10_64(price_scale + 7) : INT64_MAX - 1;
}

/* The default minimum price: 1 price unit (linear), or 0.01 quote units (inverse: its
 * value N/P grows without bound as the price falls), at least 1 price unit. */
static int64_t default_min_price(const margin__market *m)
{
    if (m->contract != MARGIN_CONTRACT_INVERSE || m->price_scale < 2)
        return 1;
    return margin__pow10_64(m->price_scale - 2);
}

static void market_scales(margin__market *m)
{
    m->ns = m->price_scale + m->qty_scale;
    m->w = m->ns > MARGIN_MONEY_SCALE ? m->ns : MARGIN_MONEY_SCALE;
    if (!m->max_price_set)
        m->max_price = default_max_price(m->price_scale);
    if (!m->min_price_set)
        m->min_price = default_min_price(m);
    margin__tier_scale(m);
}

int margin_market_new(margin_engine *e, const char *symbol, uint64_t *out_id)
{
    size_t len;
    uint32_t i;
    margin__market *m = NULL;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (symbol == NULL || out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "symbol and out_id must not be NULL");
    for (len = 0; len < sizeof m->symbol && symbol[len] != '\0'; len++)
        if (symbol[len] <= ' ' || symbol[len] > '~')
            return margin__fail(e, MARGIN_EINVAL, "symbol has a character that is not printable ASCII");
    if (len == 0 || len >= sizeof m->symbol)
        return margin__fail(e, MARGIN_EINVAL, "symbol must be 1 to 31 characters long");
    for (i = 0; i < e->nmarkets; i++)
        if (strcmp(e->markets[i].symbol, symbol) == 0)
            return margin__fail(e, MARGIN_EEXIST, "market %s exists already", symbol);
    if (e->nmarkets == e->capmarkets) {
        uint32_t cap = e->capmarkets ? e->capmarkets * 2 : 4;
        margin__market *nm = margin__realloc(e, e->markets, cap * sizeof *nm);
        if (nm == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->markets = nm;
        e->capmarkets = cap;
    }
    m = &e->markets[e->nmarkets];
    memset(m, 0, sizeof *m);
    memcpy(m->symbol, symbol, len + 1);
    m->price_scale = 8;
    m->qty_scale = 8;
    /* one settlement asset per engine: the first market's contract type and asset */
    m->contract = e->nmarkets > 0 ? e->markets[0].contract : MARGIN_CONTRACT_LINEAR;
    m->asset = e->nmarkets > 0 ? e->markets[0].asset : 0;
    m->csize = MARGIN__ONE;
    market_default_tier(m);
    market_scales(m);
    m->tick = 1;
    m->step = 1;
    m->max_lev = 125 * MARGIN__ONE;
    m->maker = 20000; /* 0.0002 */
    m->taker = 40000; /* 0.0004 */
    m->mm_basis = MARGIN_MM_BASIS_MARK;
    margin__market_liq_defaults(m);
    m->pool_of = e->nmarkets; /* its own pool */
    m->head = m->tail = MARGIN__NONE;
    m->down.max = 1;
    m->up.max = 0;
    e->nmarkets++;
    *out_id = e->nmarkets;
    return MARGIN_OK;
}

int margin_market_find(const margin_engine *e, const char *symbol, uint64_t *out_id)
{
    uint32_t i;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (symbol == NULL || out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "symbol and out_id must not be NULL");
    for (i = 0; i < e->nmarkets; i++)
        if (strcmp(e->markets[i].symbol, symbol) == 0) {
            *out_id = i + 1;
            return MARGIN_OK;
        }
    return margin__fail(e, MARGIN_ENOTFOUND, "no market with symbol %.40s", symbol);
}

int margin_market_symbol(const margin_engine *e, uint64_t market, char *buf, size_t size)
{
    margin__market *m = NULL;
    size_t len;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (buf == NULL)
        return margin__fail(e, MARGIN_EINVAL, "buf is NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    len = strlen(m->symbol);
    if (len >= size)
        return margin__fail(e, MARGIN_EBUFFER, "the symbol needs %zu bytes", len + 1);
    memcpy(buf, m->symbol, len + 1);
    return MARGIN_OK;
}

static int rate_ok(int64_t v)
{
    return v >= 0 && v <= MARGIN__ONE;
}

void margin__market_liq_defaults(margin__market *m)
{
    m->liq_fee = 0;
    m->liq_fee_basis = MARGIN_LIQ_FEE_BASIS_FILL;
    m->liq_fill = MARGIN_LIQ_FILL_MARK;
    m->stop_fill = MARGIN_STOP_FILL_MARK;
    m->liq_policy = MARGIN_LIQ_POLICY_FULL;
    m->slice_threshold = 100000 * MARGIN__ONE;
    m->slice_fraction = MARGIN__ONE / 5;
    m->slice_cooldown = 30000;
    m->slice_backstop = 66666667; /* 2/3, rounded up */
}

/* The liquidation options (MARGIN_MKT_LIQ_FEE to MARGIN_MKT_SLICE_BACKSTOP): settable at
 * any time; they decide how the next liquidation or triggered close fills. */
static int set_liq_option(margin_engine *e, margin__market *m, int32_t key, int64_t value)
{
    switch (key) {
    case MARGIN_MKT_LIQ_FEE:
        if (!rate_ok(value))
            return margin__fail(e, MARGIN_EINVAL, "clearance fee rate must be 0 to 1");
        m->liq_fee = value;
        return MARGIN_OK;
    case MARGIN_MKT_LIQ_FEE_BASIS:
        if (value != MARGIN_LIQ_FEE_BASIS_FILL && value != MARGIN_LIQ_FEE_BASIS_MARK)
            return margin__fail(e, MARGIN_EINVAL, "unknown clearance fee basis %lld",
                                (long long)value);
        m->liq_fee_basis = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_MKT_LIQ_FILL:
        if (value < MARGIN_LIQ_FILL_MARK || value > MARGIN_LIQ_FILL_BANKRUPTCY)
            return margin__fail(e, MARGIN_EINVAL, "unknown liquidation fill option %lld",
                                (long long)value);
        m->liq_fill = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_MKT_STOP_FILL:
        if (value != MARGIN_STOP_FILL_MARK && value != MARGIN_STOP_FILL_TRIGGER)
            return margin__fail(e, MARGIN_EINVAL, "unknown stop fill option %lld", (long long)value);
        m->stop_fill = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_MKT_LIQ_POLICY:
        if (value < MARGIN_LIQ_POLICY_FULL || value > MARGIN_LIQ_POLICY_SLICES)
            return margin__fail(e, MARGIN_EINVAL, "unknown liquidation policy %lld",
                                (long long)value);
        m->liq_policy = (int32_t)value;
        return MARGIN_OK;
    case MARGIN_MKT_SLICE_THRESHOLD:
        if (value < 0)
            return margin__fail(e, MARGIN_EINVAL, "slice threshold must be >= 0");
        m->slice_threshold = value;
        return MARGIN_OK;
    case MARGIN_MKT_SLICE_FRACTION:
        if (value <= 0 || value >= MARGIN__ONE)
            return margin__fail(e, MARGIN_EINVAL, "slice fraction must be above 0 and below 1");
        m->slice_fraction = value;
        return MARGIN_OK;
    case MARGIN_MKT_SLICE_COOLDOWN:
        if (value < 0)
            return margin__fail(e, MARGIN_EINVAL, "slice cooldown must be >= 0");
        m->slice_cooldown = value;
        return MARGIN_OK;
    default: /* MARGIN_MKT_SLICE_BACKSTOP */
        if (!rate_ok(value))
            return margin__fail(e, MARGIN_EINVAL, "slice backstop must be 0 to 1");
        m->slice_backstop = value;
        return MARGIN_OK;
    }
}

/* The contract options (MARGIN_MKT_CONTRACT, _CONTRACT_SIZE, _SETTLE_ASSET): fixed once the
 * market has had positions; the type and the asset are the same for every market of an
 * engine (a market alone may change them). */
static int set_contract(margin_engine *e, margin__market *m, int32_t key, int64_t value)
{
    uint32_t i, mi = (uint32_t)(m - e->markets);
    if (key == MARGIN_MKT_CONTRACT && value != MARGIN_CONTRACT_LINEAR &&
        value != MARGIN_CONTRACT_INVERSE)
        return margin__fail(e, MARGIN_EINVAL, "unknown contract type %lld", (long long)value);
    if (key == MARGIN_MKT_CONTRACT_SIZE && value <= 0)
        return margin__fail(e, MARGIN_EINVAL, "contract size must be > 0");
    if (key == MARGIN_MKT_SETTLE_ASSET && value < 0)
        return margin__fail(e, MARGIN_EINVAL, "settlement asset code must be >= 0");
    if (m->used)
        return margin__fail(e, MARGIN_ESTATE,
                            "the contract cannot change once the market has had positions");
    if (key != MARGIN_MKT_CONTRACT_SIZE)
        for (i = 0; i < e->nmarkets; i++) {
            const margin__market *o = &e->markets[i];
            if (i == mi)
                continue;
            if (key == MARGIN_MKT_CONTRACT && o->contract != value)
                return margin__fail(e, MARGIN_EASSET,
                                    "market %s is %s: the markets of one engine settle in one "
                                    "asset (use an engine per settlement asset)",
                                    o->symbol,
                                    o->contract == MARGIN_CONTRACT_INVERSE ? "inverse" : "linear");
            if (key == MARGIN_MKT_SETTLE_ASSET && o->asset != value)
                return margin__fail(e, MARGIN_EASSET,
                                    "market %s settles in asset %lld: the markets of one engine "
                                    "settle in one asset (use an engine per settlement asset)",
                                    o->symbol, (long long)o->asset);
        }
    if (key == MARGIN_MKT_CONTRACT) {
        m->contract = (int32_t)value;
        market_scales(m); /* (the default minimum price) */
    } else if (key == MARGIN_MKT_CONTRACT_SIZE) {
        m->csize = value;
    } else {
        m->asset = value;
    }
    return MARGIN_OK;
}

int margin_market_set(margin_engine *e, uint64_t market, int32_t key, int64_t value)
{
    margin__market *m = NULL;
    int rc;
    uint32_t pi;
    char b1[48], b2[48];
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_MKT_PRICE_SCALE:
    case MARGIN_MKT_QTY_SCALE:
        if (value < 0 || value > MARGIN_MAX_SCALE)
            return margin__fail(e, MARGIN_EINVAL, "scale must be 0 to 18, not %lld",
                                (long long)value);
        if (value + (key == MARGIN_MKT_PRICE_SCALE ? m->qty_scale : m->price_scale) >
            MARGIN__MAX_SCALE_SUM)
            return margin__fail(e, MARGIN_EINVAL,
                                "price scale + quantity scale must be at most %d (%s %lld with "
                                "the other scale %d): larger sums leave no room for a "
                                "position's figures in 128 bits",
                                MARGIN__MAX_SCALE_SUM,
                                key == MARGIN_MKT_PRICE_SCALE ? "price scale" : "quantity scale",
                                (long long)value,
                                (int)(key == MARGIN_MKT_PRICE_SCALE ? m->qty_scale
                                                                    : m->price_scale));
        if (m->open_count > 0 || m->tiers_custom)
            return margin__fail(e, MARGIN_ESTATE,
                                "scales can change only before tiers and positions");
        if (m->used)
            return margin__fail(e, MARGIN_ESTATE,
                                "scales cannot change once the market has had positions");
        if (key == MARGIN_MKT_PRICE_SCALE)
            m->price_scale = (int32_t)value;
        else
            m->qty_scale = (int32_t)value;
        market_scales(m);
        m->mark = 0;
        return MARGIN_OK;
    case MARGIN_MKT_TICK:
    case MARGIN_MKT_STEP:
        if (value <= 0)
            return margin__fail(e, MARGIN_EINVAL, "tick and step must be > 0");
        if (key == MARGIN_MKT_TICK)
            m->tick = value;
        else
            m->step = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAX_LEVERAGE:
        if (value < MARGIN__ONE)
            return margin__fail(e, MARGIN_EINVAL, "maximum leverage must be at least 1x");
        for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext)
            if (MARGIN__POS(e, pi).leverage > value)
                return margin__fail(e, MARGIN_ELEVERAGE,
                                    "position %u has a higher leverage", pi + 1);
        m->max_lev = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAKER_FEE:
    case MARGIN_MKT_TAKER_FEE:
        if (!rate_ok(value))
            return margin__fail(e, MARGIN_EINVAL, "fee rate must be 0 to 1");
        if (key == MARGIN_MKT_MAKER_FEE)
            m->maker = value;
        else
            m->taker = value;
        return MARGIN_OK;
    case MARGIN_MKT_MM_BASIS:
    case MARGIN_MKT_CLOSE_FEE:
        if (key == MARGIN_MKT_MM_BASIS && value != MARGIN_MM_BASIS_MARK &&
            value != MARGIN_MM_BASIS_ENTRY)
            return margin__fail(e, MARGIN_EINVAL, "unknown maintenance basis %lld",
                                (long long)value);
        if (key == MARGIN_MKT_CLOSE_FEE) {
            uint32_t k;
            if (!rate_ok(value))
                return margin__fail(e, MARGIN_EINVAL, "fee-to-close rate must be 0 to 1");
            for (k = 0; k < m->ntiers; k++)
                if (m->tiers[k].mmr + value >= MARGIN__ONE)
                    return margin__fail(e, MARGIN_EINVAL,
                                        "maintenance rate plus fee to close must be below 1");
        }
        if (m->open_count > 0)
            return margin__fail(e, MARGIN_ESTATE, "the market has open positions");
        if (key == MARGIN_MKT_MM_BASIS)
            m->mm_basis = (int32_t)value;
        else
            m->close_fee = value;
        return MARGIN_OK;
    case MARGIN_MKT_MAX_PRICE:
        if (value <= 0 || value == INT64_MAX)
            return margin__fail(e, MARGIN_EINVAL,
                                "maximum price must be > 0 and below INT64_MAX price units");
        if (m->mark > value)
            return margin__fail(e, MARGIN_ESTATE, "the market's mark %s is above %s",
                                margin__fmt(b1, sizeof b1, m->mark, m->price_scale),
                                margin__fmt(b2, sizeof b2, value, m->price_scale));
        {
            /* every open position must stay valid in the new range: check, then set */
            int64_t old = m->max_price;
            m->max_price = value;
            for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext) {
                const margin__position *p = &MARGIN__POS(e, pi);
                rc = margin__stop_of(e, p) > value || margin__take_of(e, p) > value
                         ? MARGIN_ERANGE
                         : MARGIN_OK;
                if (rc != MARGIN_OK)
                    (void)margin__fail(e, rc, "position %u has a stop or take-profit above %s",
                                       pi + 1, margin__fmt(b1, sizeof b1, value, m->price_scale));
                else
                    rc = margin__position_envelope(e, m, p);
                if (rc != MARGIN_OK) {
                    m->max_price = old;
                    return rc;
                }
            }
        }
        m->max_price_set = 1;
        return MARGIN_OK;
    case MARGIN_MKT_MIN_PRICE:
        if (value <= 0 || value >= m->max_price)
            return margin__fail(e, MARGIN_EINVAL,
                                "minimum price must be > 0 and below the maximum price %s",
                                margin__fmt(b1, sizeof b1, m->max_price, m->price_scale));
        if (m->mark != 0 && m->mark < value)
            return margin__fail(e, MARGIN_ESTATE, "the market's mark %s is below %s",
                                margin__fmt(b1, sizeof b1, m->mark, m->price_scale),
                                margin__fmt(b2, sizeof b2, value, m->price_scale));
        {
            int64_t old = m->min_price;
            m->min_price = value;
            for (pi = m->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).mnext) {
                const margin__position *p = &MARGIN__POS(e, pi);
                int64_t stop = margin__stop_of(e, p), take = margin__take_of(e, p);
                rc = (stop > 0 && stop < value) || (take > 0 && take < value) ? MARGIN_ERANGE
                                                                              : MARGIN_OK;
                if (rc != MARGIN_OK)
                    (void)margin__fail(e, rc, "position %u has a stop or take-profit below %s",
                                       pi + 1, margin__fmt(b1, sizeof b1, value, m->price_scale));
                else
                    rc = margin__position_envelope(e, m, p);
                if (rc != MARGIN_OK) {
                    m->min_price = old;
                    return rc;
                }
            }
        }
        m->min_price_set = 1;
        return MARGIN_OK;
    case MARGIN_MKT_CONTRACT:
    case MARGIN_MKT_CONTRACT_SIZE:
    case MARGIN_MKT_SETTLE_ASSET:
        return set_contract(e, m, key, value);
    case MARGIN_MKT_LIQ_FEE:
    case MARGIN_MKT_LIQ_FEE_BASIS:
    case MARGIN_MKT_LIQ_FILL:
    case MARGIN_MKT_STOP_FILL:
    case MARGIN_MKT_LIQ_POLICY:
    case MARGIN_MKT_SLICE_THRESHOLD:
    case MARGIN_MKT_SLICE_FRACTION:
    case MARGIN_MKT_SLICE_COOLDOWN:
    case MARGIN_MKT_SLICE_BACKSTOP:
        return set_liq_option(e, m, key, value);
    case MARGIN_MKT_INSURANCE_POOL:
    case MARGIN_MKT_INSURANCE:
    case MARGIN_MKT_ADL:
    case MARGIN_MKT_INSURANCE_FLOOR:
    case MARGIN_MKT_ADL_RANKING:
        return margin__pool_set(e, m, key, value);
    case MARGIN_MKT_MARK:
    case MARGIN_MKT_TIER_COUNT:
    case MARGIN_MKT_OPEN_POSITIONS:
        return margin__fail(e, MARGIN_EINVAL, "market key %d is read-only", (int)key);
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown market option %d", (int)key);
    }
}

int margin_market_get(const margin_engine *e, uint64_t market, int32_t key, int64_t *out)
{
    margin__market *m = NULL;
    int rc;
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_MKT_PRICE_SCALE:
        v = m->price_scale;
        break;
    case MARGIN_MKT_QTY_SCALE:
        v = m->qty_scale;
        break;
    case MARGIN_MKT_TICK:
        v = m->tick;
        break;
    case MARGIN_MKT_STEP:
        v = m->step;
        break;
    case MARGIN_MKT_MAX_LEVERAGE:
        v = m->max_lev;
        break;
    case MARGIN_MKT_MAKER_FEE:
        v = m->maker;
        break;
    case MARGIN_MKT_TAKER_FEE:
        v = m->taker;
        break;
    case MARGIN_MKT_MM_BASIS:
        v = m->mm_basis;
        break;
    case MARGIN_MKT_CLOSE_FEE:
        v = m->close_fee;
        break;
    case MARGIN_MKT_MARK:
        v = m->mark;
        break;
    case MARGIN_MKT_TIER_COUNT:
        v = m->ntiers;
        break;
    case MARGIN_MKT_OPEN_POSITIONS:
        v = m->open_count;
        break;
    case MARGIN_MKT_MAX_PRICE:
        v = m->max_price;
        break;
    case MARGIN_MKT_LIQ_FEE:
        v = m->liq_fee;
        break;
    case MARGIN_MKT_LIQ_FEE_BASIS:
        v = m->liq_fee_basis;
        break;
    case MARGIN_MKT_LIQ_FILL:
        v = m->liq_fill;
        break;
    case MARGIN_MKT_STOP_FILL:
        v = m->stop_fill;
        break;
    case MARGIN_MKT_LIQ_POLICY:
        v = m->liq_policy;
        break;
    case MARGIN_MKT_SLICE_THRESHOLD:
        v = m->slice_threshold;
        break;
    case MARGIN_MKT_SLICE_FRACTION:
        v = m->slice_fraction;
        break;
    case MARGIN_MKT_SLICE_COOLDOWN:
        v = m->slice_cooldown;
        break;
    case MARGIN_MKT_SLICE_BACKSTOP:
        v = m->slice_backstop;
        break;
    case MARGIN_MKT_INSURANCE_POOL:
    case MARGIN_MKT_INSURANCE:
    case MARGIN_MKT_ADL:
    case MARGIN_MKT_INSURANCE_FLOOR:
    case MARGIN_MKT_ADL_RANKING:
        v = margin__pool_get(e, m, key);
        break;
    case MARGIN_MKT_CONTRACT:
        v = m->contract;
        break;
    case MARGIN_MKT_CONTRACT_SIZE:
        v = m->csize;
        break;
    case MARGIN_MKT_SETTLE_ASSET:
        v = m->asset;
        break;
    case MARGIN_MKT_MIN_PRICE:
        v = m->min_price;
        break;
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown market key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

int margin_market_add_tier(margin_engine *e, uint64_t market, int64_t floor, int64_t mmr,
                           int64_t max_leverage, int64_t maint_amount)
{
    margin__market *m = NULL;
    margin__tier t;
    uint32_t n;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (m->open_count > 0)
        return margin__fail(e, MARGIN_ESTATE, "tiers cannot change while positions are open");
    n = m->tiers_custom ? m->ntiers : 0;
    if (n == MARGIN__MAX_TIERS)
        return margin__fail(e, MARGIN_ESTATE, "a market has at most %d tiers", MARGIN__MAX_TIERS);
    if (floor < 0 || (n == 0 && floor != 0) || (n > 0 && floor <= m->tiers[n - 1].floor))
        return margin__fail(e, MARGIN_EINVAL,
                            "tier floors must start at 0 and increase strictly");
    if (mmr <= 0 || mmr >= MARGIN__ONE || mmr + m->close_fee >= MARGIN__ONE)
        return margin__fail(e, MARGIN_EINVAL,
                            "maintenance rate must be > 0 and, with the fee to close, < 1");
    if (n > 0 && mmr < m->tiers[n - 1].mmr)
        return margin__fail(e, MARGIN_EINVAL, "maintenance rates must not decrease");
    if (max_leverage != 0 && max_leverage < MARGIN__ONE)
        return margin__fail(e, MARGIN_EINVAL, "tier maximum leverage must be 0 or >= 1x");
    t.floor = floor;
    t.mmr = mmr;
    t.max_lev = max_leverage;
    if (maint_amount == MARGIN_DERIVE) {
        if (n == 0) {
            t.cum = 0;
        } else {
            /* cum_k = floor_k * (mmr_k - mmr_(k-1)) + cum_(k-1), exact at scale 16 */
            margin__i128 c = (margin__i128)floor * (mmr - m->tiers[n - 1].mmr);
            int64_t c64;
            if (c % MARGIN__ONE != 0)
                c = c / MARGIN__ONE + 1; /* round up: the holder owes it */
            else
                c /= MARGIN__ONE;
            c += m->tiers[n - 1].cum;
            if (margin__narrow(c, &c64) != MARGIN_OK)
                return margin__fail(e, MARGIN_EOVERFLOW, "derived maintenance amount overflows");
            t.cum = c64;
        }
    } else {
        if (maint_amount < 0)
            return margin__fail(e, MARGIN_EINVAL, "maintenance amount must be >= 0");
        t.cum = maint_amount;
    }
    m->tiers[n] = t;
    m->ntiers = n + 1;
    m->tiers_custom = 1;
    margin__tier_scale(m);
    return MARGIN_OK;
}

int margin_market_tier(const margin_engine *e, uint64_t market, uint32_t index,
                       int64_t *out_floor, int64_t *out_mmr, int64_t *out_max_leverage,
                       int64_t *out_maint_amount)
{
    margin__market *m = NULL;
    int rc;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_floor == NULL || out_mmr == NULL || out_max_leverage == NULL ||
        out_maint_amount == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out-parameters must not be NULL");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    if (index >= m->ntiers)
        return margin__fail(e, MARGIN_EINVAL, "tier index %u out of range (%u tiers)",
                            (unsigned)index, (unsigned)m->ntiers);
    *out_floor = m->tiers[index].floor;
    *out_mmr = m->tiers[index].mmr;
    *out_max_leverage = m->tiers[index].max_lev ? m->tiers[index].max_lev : m->max_lev;
    *out_maint_amount = m->tiers[index].cum;
    return MARGIN_OK;
}

int margin_market_tier_for(const margin_engine *e, uint64_t market, int64_t notional,
                           int64_t *out_mmr, int64_t *out_maint_amount)
{
    margin__market *m = NULL;
    int rc, k;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_mmr == NULL || out_maint_amount == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out-parameters must not be NULL");
    if (notional < 0)
        return margin__fail(e, MARGIN_EINVAL, "notional must be >= 0");
    if ((rc = margin__get_market(e, market, &m)) != MARGIN_OK)
        return rc;
    for (k = (int)m->ntiers - 1; k > 0 && notional < m->tiers[k].floor; k--)
        ; /* both in money: no scaling */
    *out_mmr = m->tiers[k].mmr;
    *out_maint_amount = m->tiers[k].cum;
    return MARGIN_OK;
}
