/* SPDX-License-Identifier: MIT */
/*
 * Placement (issue 13): which worker ("bin") a task goes to, by what it
 * requests and what each bin offers and has in use. Pure: the master's
 * workers_dispatch() fills the bins, walks the ready tasks in priority
 * order and asks place_one() for each. The rule (docs/architecture.md,
 * "Placement"):
 *
 * - a task goes only where all of its request fits, round-robin over the
 *   bins (sorted least loaded first by the caller);
 * - the first task in the pass that fits nowhere now but fits some bin's
 *   totals reserves a bin (place_reserve()); tasks after it are placed on
 *   that bin only if they fit in what is free beyond the reservation, so
 *   they never delay it;
 * - a task that fits no bin's totals is PLACE_NEVER (unschedulable).
 */
#ifndef DTR_SCHED_PLACE_H
#define DTR_SCHED_PLACE_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/resources.h"

/* Shapes remembered per pass as "does not fit now" (place_one()). */
#define PLACE_FAILED_SHAPES 8

struct place_bin {
    struct request total, used;
    int room;  /* tasks it may still take now (slots + prefetch - running) */
    bool open; /* it may take work now (else it only counts for totals) */
    int load;  /* tasks it runs: the reservation goes to the least busy */
    /* Leases may go past what is free (the master's --prefetch): only its
     * totals must fit, and the worker starts each when it fits there. */
    bool loose;
    /* Or only this many of its room (its prefetch): a task that does not
     * fit in what is free may still go there while this is > 0, unless the
     * bin is reserved (the reserved task must not wait behind it). */
    int loose_room;
};

enum place_outcome { PLACE_OK, PLACE_WAIT, PLACE_NEVER };

struct placer {
    struct place_bin *bins;
    size_t n;
    size_t cursor;       /* round-robin: where the next search starts */
    int reserved;        /* bin index, or -1 */
    struct request hold; /* the reserved task's request */
    size_t open_room;    /* bins open with room > 0 */
    bool any_loose;      /* some bin has loose_room */
    struct request failed[PLACE_FAILED_SHAPES];
    int nfailed;
};

void place_init(struct placer *p, struct place_bin *bins, size_t n);
/* Whether any bin can take a task now (else the pass can stop). */
static inline bool place_any_room(const struct placer *p)
{
    return p->open_room > 0;
}
/* Places need: PLACE_OK with *bin (its used and room updated), PLACE_WAIT
 * (it fits some bin's totals, not now), PLACE_NEVER (no bin's totals). */
enum place_outcome place_one(struct placer *p, const struct request *need, size_t *bin);
/* Reserves a bin for need (which got PLACE_WAIT), when none is reserved
 * yet: `prefer` (the bin reserved for it before, or -1) when need still
 * fits its totals, else the least loaded bin whose totals fit. Returns
 * the bin, or -1. */
int place_reserve(struct placer *p, const struct request *need, int prefer);

#endif
