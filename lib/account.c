/* Accounts: creation, deposits and withdrawals, figures, and the ledgers every operation
 * changes (checked, staged for batches, applied). */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int margin_account_new(margin_engine *e, uint64_t *out_id)
{
    margin__account *a = NULL;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (out_id == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out_id is NULL");
    if (e->naccounts == UINT32_MAX - 1)
        return margin__fail(e, MARGIN_ENOMEM, "too many accounts");
    if (e->naccounts == e->capaccounts) {
        uint32_t cap = e->capaccounts ? e->capaccounts * 2 : 16;
        margin__account *na = margin__realloc(e, e->accounts, (size_t)cap * sizeof *na);
        if (na == NULL)
            return margin__fail(e, MARGIN_ENOMEM, "out of memory");
        e->accounts = na;
        e->capaccounts = cap;
    }
    a = &e->accounts[e->naccounts];
    memset(a, 0, sizeof *a);
    a->head = a->tail = MARGIN__NONE;
    a->last_slice = INT64_MIN;
    e->naccounts++;
    *out_id = e->naccounts;
    return MARGIN_OK;
}

static int account_move(margin_engine *e, uint64_t account, int64_t amount, int withdraw)
{
    margin__account *a = NULL;
    margin__event *ev;
    int64_t nf, nt;
    int rc;
    char b1[48], b2[48];
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK)
        return rc;
    if (amount <= 0)
        return margin__fail(e, MARGIN_EINVAL, "amount must be > 0");
    /* Every ledger is a 64-bit amount of money: at most 92233720368.54775807. The
     * cumulative ones (deposits, withdrawals) can reach it before the balance does. */
    if (withdraw) {
        if (amount > a->free)
            return margin__fail(e, MARGIN_EFUNDS, "withdrawal of %s exceeds the free balance %s",
                                margin__fmt(b1, sizeof b1, amount, MARGIN_MONEY_SCALE),
                                margin__fmt(b2, sizeof b2, a->free, MARGIN_MONEY_SCALE));
        if ((rc = margin__cross_allows(e, (uint32_t)(account - 1), amount)) != MARGIN_OK)
            return rc;
        nf = a->free - amount;
        if (__builtin_add_overflow(a->withdrawals, amount, &nt))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the account's cumulative withdrawals ledger (%s) would pass "
                                "92233720368.54775807, the limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->withdrawals, MARGIN_MONEY_SCALE));
    } else {
        if (__builtin_add_overflow(a->free, amount, &nf))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the free balance (%s) would pass 92233720368.54775807, the "
                                "limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->free, MARGIN_MONEY_SCALE));
        if (__builtin_add_overflow(a->deposits, amount, &nt))
            return margin__fail(e, MARGIN_EOVERFLOW,
                                "the account's cumulative deposits ledger (%s) would pass "
                                "92233720368.54775807, the limit of every ledger",
                                margin__fmt(b1, sizeof b1, a->deposits, MARGIN_MONEY_SCALE));
    }
    if ((rc = margin__ev_reserve(e, 1)) != MARGIN_OK)
        return rc;
    a->free = nf;
    if (withdraw)
        a->withdrawals = nt;
    else
        a->deposits = nt;
    ev = margin__ev_begin(e, withdraw ? MARGIN_EV_WITHDRAW : MARGIN_EV_DEPOSIT);
    ev->f[MARGIN_EVF_ACCOUNT] = (int64_t)account;
    ev->f[MARGIN_EVF_AMOUNT] = amount;
    ev->f[MARGIN_EVF_FREE_BALANCE] = nf;
    ev->f[MARGIN_EVF_MODE] = a->ncross > 0 ? MARGIN_MODE_CROSS : MARGIN_MODE_ISOLATED;
    if (a->ncross > 0)
        margin__cross_rekey(e, (uint32_t)(account - 1));
    margin__ev_commit(e, ev);
    return MARGIN_OK;
}

int margin_account_deposit(margin_engine *e, uint64_t account, int64_t amount)
{
    return account_move(e, account, amount, 0);
}

int margin_account_withdraw(margin_engine *e, uint64_t account, int64_t amount)
{
    return account_move(e, account, amount, 1);
}

int margin_account_get(const margin_engine *e, uint64_t account, int32_t key, int64_t *out)
{
    margin__account *a = NULL;
    int rc;
    int64_t v;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if ((rc = margin__get_account(e, account, &a)) != MARGIN_OK)
        return rc;
    switch (key) {
    case MARGIN_ACCT_FREE_BALANCE:
        v = a->free;
        break;
    case MARGIN_ACCT_ISOLATED_MARGIN:
        v = a->isolated;
        break;
    case MARGIN_ACCT_EQUITY: {
        margin__i128 sum = (margin__i128)a->free + a->isolated;
        uint32_t pi;
        for (pi = a->head; pi != MARGIN__NONE; pi = MARGIN__POS(e, pi).anext) {
            const margin__position *p = &MARGIN__POS(e, pi);
            const margin__market *m = &e->markets[p->market];
            int64_t pnl;
            rc = margin__pnl(m, p->side, p->qty, p->entry, m->mark ? m->mark : p->entry, &pnl);
            if (rc != MARGIN_OK)
                return margin__fail(e, rc, "unrealized PnL of position %u overflows", pi + 1);
            sum += pnl;
        }
        if (margin__narrow(sum, &v) != MARGIN_OK)
            return margin__fail(e, MARGIN_EOVERFLOW, "equity overflows");
        break;
    }
    case MARGIN_ACCT_DEPOSITS:
        v = a->deposits;
        break;
    case MARGIN_ACCT_WITHDRAWALS:
        v = a->withdrawals;
        break;
    case MARGIN_ACCT_REALIZED_PNL:
        v = a->realized;
        break;
    case MARGIN_ACCT_FEES:
        v = a->fees;
        break;
    case MARGIN_ACCT_FUNDING:
        v = a->funding;
        break;
    case MARGIN_ACCT_OPEN_POSITIONS:
        v = a->open_count;
        break;
    case MARGIN_ACCT_CROSS_WALLET:
    case MARGIN_ACCT_CROSS_UNREALIZED_PNL:
    case MARGIN_ACCT_CROSS_MARGIN_BALANCE:
    case MARGIN_ACCT_CROSS_MAINT_MARGIN:
    case MARGIN_ACCT_CROSS_INITIAL_MARGIN:
    case MARGIN_ACCT_MARGIN_RATIO:
    case MARGIN_ACCT_AVAILABLE:
    case MARGIN_ACCT_CROSS_POSITIONS:
        return margin__cross_account_get(e, (uint32_t)(account - 1), key, out);
    default:
        return margin__fail(e, MARGIN_EINVAL, "unknown account key %d", (int)key);
    }
    *out = v;
    return MARGIN_OK;
}

/* ------------------------------------------------------------------ ledgers */

static int add_ok(int64_t a, int64_t b)
{
    int64_t r;
    return !__builtin_add_overflow(a, b, &r);
}

int margin__ledger_check(const margin_engine *e, const margin__position *p, int count_pos,
                         const margin__delta *d)
{
    const margin__account *a = &e->accounts[p->account];
    if (!add_ok(a->free, d->free) || !add_ok(a->isolated, d->isolated) ||
        !add_ok(a->realized, d->realized) || !add_ok(a->fees, d->fees) ||
        !add_ok(a->funding, d->funding) || !add_ok(e->insurance, d->insurance) ||
        !add_ok(e->markets[e->markets[p->market].pool_of].pool, d->insurance))
        return MARGIN_EOVERFLOW;
    if (count_pos && (!add_ok(p->realized, d->realized) || !add_ok(p->fees, d->fees) ||
                      !add_ok(p->funding, d->funding)))
        return MARGIN_EOVERFLOW;
    return MARGIN_OK;
}

void margin__ledger_apply(margin_engine *e, uint32_t account, uint32_t market,
                          const margin__delta *d)
{
    margin__account *a = &e->accounts[account];
    a->free += d->free;
    a->isolated += d->isolated;
    a->realized += d->realized;
    a->fees += d->fees;
    a->funding += d->funding;
    margin__pool_add(e, market, d->insurance);
}

/* The staged totals start from the ledgers and take each change; a total that would not
 * fit fails the call (MARGIN_EOVERFLOW), and every caller then abandons its batch and
 * unstages, so a total is never used past a failure. */
int margin__ledger_stage(margin_engine *e, uint32_t account, const margin__delta *d)
{
    margin__account *a = &e->accounts[account];
    const int64_t add[5] = {d->free, d->isolated, d->realized, d->fees, d->funding};
    int i, rc = MARGIN_OK;
    if (!a->staging) {
        a->staged[0] = a->free;
        a->staged[1] = a->isolated;
        a->staged[2] = a->realized;
        a->staged[3] = a->fees;
        a->staged[4] = a->funding;
        a->staging = 1;
    }
    for (i = 0; i < 5; i++)
        if (__builtin_add_overflow(a->staged[i], add[i], &a->staged[i]))
            rc = MARGIN_EOVERFLOW;
    return rc;
}

void margin__ledger_unstage(margin_engine *e, uint32_t account)
{
    e->accounts[account].staging = 0;
}
