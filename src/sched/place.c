/* SPDX-License-Identifier: MIT */
/* Placement by resources with one reservation per pass: see place.h. */
#include "sched/place.h"

#include <string.h>

static const struct request zero;

void place_init(struct placer *p, struct place_bin *bins, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->bins = bins;
    p->n = n;
    p->reserved = -1;
    for (size_t i = 0; i < n; i++) {
        if (bins[i].open && bins[i].room > 0)
            p->open_room++;
        if (bins[i].loose_room > 0)
            p->any_loose = true;
    }
}

/* 0: no; 1: it fits in what is free; 2: loosely (past what is free). */
static int fits_now(const struct placer *p, size_t i, const struct request *need)
{
    const struct place_bin *b = &p->bins[i];
    if (!b->open || b->room <= 0)
        return 0;
    if (b->loose)
        return res_fits(need, &b->total, &zero, NULL);
    if (res_fits(need, &b->total, &b->used, (int)i == p->reserved ? &p->hold : NULL))
        return 1;
    if (b->loose_room > 0 && (int)i != p->reserved && res_fits(need, &b->total, &zero, NULL))
        return 2;
    return 0;
}

enum place_outcome place_one(struct placer *p, const struct request *need, size_t *bin)
{
    /* Within a pass bins only fill up: a shape that did not fit still
     * does not (a reservation only narrows). */
    for (int k = 0; k < p->nfailed; k++)
        if (res_equal(&p->failed[k], need))
            return PLACE_WAIT;
    /* Where it fits in what is free first; past it (prefetch) only then. */
    size_t scan = p->any_loose ? 2 * p->n : p->n;
    for (size_t k = 0; k < scan && p->open_room; k++) {
        size_t i = (p->cursor + k) % p->n;
        int want = k < p->n ? 1 : 2;
        if (fits_now(p, i, need) != want)
            continue;
        struct place_bin *b = &p->bins[i];
        if (want == 2)
            b->loose_room--;
        res_add(&b->used, need, 1);
        b->load++;
        if (--b->room == 0)
            p->open_room--;
        p->cursor = i + 1;
        *bin = i;
        return PLACE_OK;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (res_fits(need, &p->bins[i].total, &zero, NULL)) {
            if (p->nfailed < PLACE_FAILED_SHAPES)
                p->failed[p->nfailed++] = *need;
            return PLACE_WAIT;
        }
    }
    return PLACE_NEVER;
}

int place_reserve(struct placer *p, const struct request *need, int prefer)
{
    if (p->reserved >= 0)
        return -1;
    int best = -1;
    if (prefer >= 0 && (size_t)prefer < p->n &&
        res_fits(need, &p->bins[prefer].total, &zero, NULL)) {
        best = prefer;
    } else {
        for (size_t i = 0; i < p->n; i++)
            if (res_fits(need, &p->bins[i].total, &zero, NULL) &&
                (best < 0 || p->bins[i].load < p->bins[best].load))
                best = (int)i;
    }
    if (best >= 0) {
        p->reserved = best;
        p->hold = *need;
        /* Shapes that failed before the reservation still fail after it. */
    }
    return best;
}
