/* The event queue: a growable ring buffer, plus the optional callback. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Make room for n more events, so that producing them cannot fail. */
int margin__ev_reserve(margin_engine *e, size_t n)
{
    size_t need, cap;
    margin__event *nq;
    if (!e->queue_on)
        return MARGIN_OK;
    if (e->qmax != 0 && e->qlen + n > e->qmax)
        return margin__fail(e, MARGIN_EFULL,
                            "the event queue would pass its cap of %zu events: drain it with "
                            "margin_event_next() (nothing was changed)",
                            e->qmax);
    if (e->qlen + n <= e->qcap)
        return MARGIN_OK;
    need = e->qlen + n;
    cap = e->qcap ? e->qcap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof *nq)
            return margin__fail(e, MARGIN_ENOMEM, "event queue too large");
        cap *= 2;
    }
    nq = margin__malloc(e, cap * sizeof *nq);
    if (nq == NULL)
        return margin__fail(e, MARGIN_ENOMEM, "out of memory for %zu events", need);
    /* unwrap the ring into the new buffer */
    if (e->qlen > 0) {
        size_t first = e->qcap - e->qhead;
        if (first > e->qlen)
            first = e->qlen;
        memcpy(nq, e->q + e->qhead, first * sizeof *nq);
        memcpy(nq + first, e->q, (e->qlen - first) * sizeof *nq);
    }
    margin__dealloc(e, e->q);
    e->q = nq;
    e->qcap = cap;
    e->qhead = 0;
    return MARGIN_OK;
}

/* Start an event: a zeroed record with seq, time and type filled in. The caller fills the
 * other fields and calls margin__ev_commit(). Space must have been reserved. */
margin__event *margin__ev_begin(margin_engine *e, int32_t type)
{
    margin__event *ev;
    if (e->queue_on) {
        ev = &e->q[(e->qhead + e->qlen) % e->qcap];
    } else {
        ev = &e->cur; /* delivered only to the callback */
        e->has_cur = 0;
    }
    memset(ev, 0, sizeof *ev);
    ev->f[MARGIN_EVF_SEQ] = e->last_seq + 1;
    ev->f[MARGIN_EVF_TIME] = e->time;
    ev->f[MARGIN_EVF_TYPE] = type;
    ev->f[MARGIN_EVF_PATH_POINT] = e->path_point; /* 0 outside margin_mark_candle() */
    return ev;
}

/* Start an event about position pi, with its ids and its state after the event filled in. */
margin__event *margin__ev_position(margin_engine *e, int32_t type, uint32_t pi)
{
    const margin__position *p = &MARGIN__POS(e, pi);
    margin__event *ev = margin__ev_begin(e, type);
    ev->f[MARGIN_EVF_ACCOUNT] = (int64_t)p->account + 1;
    ev->f[MARGIN_EVF_MARKET] = (int64_t)p->market + 1;
    ev->f[MARGIN_EVF_POSITION] = (int64_t)pi + 1;
    ev->f[MARGIN_EVF_SIDE] = p->side;
    ev->f[MARGIN_EVF_POSITION_QTY] = p->qty;
    ev->f[MARGIN_EVF_ENTRY_PRICE] = p->entry;
    ev->f[MARGIN_EVF_MARGIN] = p->margin;
    /* a cross position's liquidation price moves with its whole book: computed now */
    ev->f[MARGIN_EVF_LIQ_PRICE] = p->cross && p->status == MARGIN_STATUS_OPEN
                                      ? margin__cross_liq(e, p)
                                      : p->liq;
    ev->f[MARGIN_EVF_LEVERAGE] = p->leverage;
    ev->f[MARGIN_EVF_FREE_BALANCE] = e->accounts[p->account].free;
    ev->f[MARGIN_EVF_MODE] = p->cross;
    return ev;
}

void margin__ev_commit(margin_engine *e, margin__event *ev)
{
    e->last_seq++;
    if (e->queue_on)
        e->qlen++;
    if (e->cb != NULL) {
        /* while the callback runs, every function that changes the engine refuses
         * (margin__busy): the operation delivering the event is half applied */
        e->delivering = ev;
        e->in_callback++;
        e->cb(e->cb_user, e, (int32_t)ev->f[MARGIN_EVF_TYPE]);
        e->in_callback--;
        e->delivering = NULL;
    }
}

int margin_engine_set_callback(margin_engine *e, margin_event_fn fn, void *user)
{
    if (e == NULL)
        return MARGIN_EINVAL;
    if (margin__busy(e))
        return MARGIN_ESTATE;
    e->cb = fn;
    e->cb_user = user;
    return MARGIN_OK;
}

int margin_event_next(margin_engine *e, int32_t *out_type)
{
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out_type == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out_type is NULL");
    if (margin__busy(e))
        return MARGIN_ESTATE;
    if (e->qlen == 0) {
        e->has_cur = 0;
        *out_type = MARGIN_EV_NONE;
        return MARGIN_OK;
    }
    e->cur = e->q[e->qhead];
    e->qhead = (e->qhead + 1) % e->qcap;
    e->qlen--;
    if (e->qlen == 0)
        e->qhead = 0; /* an emptied ring starts over at the front: fewer cold pages */
    e->has_cur = 1;
    *out_type = (int32_t)e->cur.f[MARGIN_EVF_TYPE];
    return MARGIN_OK;
}

/* The event being delivered to the callback, else the current event, else NULL. */
static const margin__event *current(const margin_engine *e)
{
    if (e->delivering != NULL)
        return e->delivering;
    return e->has_cur ? &e->cur : NULL;
}

int margin_event_get(const margin_engine *e, int32_t field, int64_t *out)
{
    const margin__event *ev;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL");
    if (field < 1 || field >= MARGIN__NFIELDS)
        return margin__fail(e, MARGIN_EINVAL, "unknown event field %d", (int)field);
    if ((ev = current(e)) == NULL)
        return margin__fail(e, MARGIN_ESTATE, "no current event: call margin_event_next()");
    *out = ev->f[field];
    return MARGIN_OK;
}

int margin_event_fields(const margin_engine *e, int64_t *out, size_t n)
{
    const margin__event *ev;
    size_t i;
    if (e == NULL)
        return MARGIN_EINVAL;
    if (out == NULL && n > 0)
        return margin__fail(e, MARGIN_EINVAL, "out is NULL with n > 0");
    if ((ev = current(e)) == NULL)
        return margin__fail(e, MARGIN_ESTATE, "no current event: call margin_event_next()");
    if (n > 0)
        out[0] = MARGIN__NFIELDS - 1; /* the fields this library knows: 1..23 */
    for (i = 1; i < n; i++)
        out[i] = i < MARGIN__NFIELDS ? ev->f[i] : 0;
    return MARGIN_OK;
}
