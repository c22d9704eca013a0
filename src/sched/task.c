/* SPDX-License-Identifier: MIT */
/*
 * A task's life cycle: allocation, state names, the transition table that
 * docs/task-states.dot draws, and retry backoff. task_set_state() only
 * checks the move and stamps times; attempts, leases and retries are the
 * master's business.
 */
#include "sched/task.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/util.h"

static const char *const state_names[TASK_NSTATES] = {
    [TASK_QUEUED] = "queued", [TASK_RUNNING] = "running",     [TASK_SUCCEEDED] = "succeeded",
    [TASK_FAILED] = "failed", [TASK_CANCELLED] = "cancelled", [TASK_BLOCKED] = "blocked",
};

/* legal[from][to]; terminal states have no way out. */
static const bool legal[TASK_NSTATES][TASK_NSTATES] = {
    [TASK_QUEUED] = {[TASK_RUNNING] = true, [TASK_CANCELLED] = true, [TASK_FAILED] = true},
    [TASK_RUNNING] = {[TASK_QUEUED] = true,
                      [TASK_SUCCEEDED] = true,
                      [TASK_FAILED] = true,
                      [TASK_CANCELLED] = true},
    [TASK_BLOCKED] = {[TASK_QUEUED] = true, [TASK_CANCELLED] = true},
};

struct task *task_new(const char *id, const char *spec, int64_t priority, int max_retries,
                      uint64_t seq, int64_t now_ms)
{
    size_t idlen = strlen(id) + 1, speclen = strlen(spec) + 1;
    struct task *t = xcalloc(1, sizeof(*t) + idlen + speclen);

    memcpy(t->text, id, idlen);
    memcpy(t->text + idlen, spec, speclen);
    t->id = t->text;
    t->spec = t->text + idlen;
    t->priority = priority;
    t->seq = seq;
    t->max_retries = max_retries;
    t->state = TASK_QUEUED;
    t->exit_code = -1;
    t->submitted_at = now_ms;
    t->queued_ms = (uint32_t)now_ms;
    /* In no heap yet: an index no heap can hold. */
    t->heap_index = SIZE_MAX;
    list_init(&t->worker_node);
    return t;
}

/* The caller unlinks worker_node first: its list head may already be gone
 * at shutdown, so it is not touched here. */
void task_free(struct task *t)
{
    if (!t)
        return;
    free(t->worker);
    free(t->error);
    free(t->req);
    free(t->waiting);
    free(t);
}

const char *task_state_name(enum task_state s)
{
    if ((unsigned)s >= TASK_NSTATES)
        return "unknown";
    return state_names[s];
}

int task_state_parse(const char *name)
{
    if (!name)
        return -1;
    for (int s = 0; s < TASK_NSTATES; s++) {
        if (strcasecmp(name, state_names[s]) == 0)
            return s;
    }
    return -1;
}

int task_set_state(struct task *t, enum task_state to, int64_t now_ms)
{
    if ((unsigned)t->state >= TASK_NSTATES || (unsigned)to >= TASK_NSTATES)
        return DTR_EINVAL;
    if (!legal[t->state][to])
        return DTR_EINVAL;
    t->state = to;
    if (to == TASK_RUNNING)
        t->started_at = now_ms;
    else if (to == TASK_QUEUED)
        t->queued_ms = (uint32_t)now_ms;
    else if (task_state_terminal(to))
        t->finished_at = now_ms;
    return 0;
}

/* Duplicates before freeing so that passing the current value back is safe. */
static void replace_str(char **slot, const char *s)
{
    char *copy = s ? xstrdup(s) : NULL;

    free(*slot);
    *slot = copy;
}

void task_set_error(struct task *t, const char *error)
{
    replace_str(&t->error, error);
}

void task_set_worker(struct task *t, const char *worker_id)
{
    replace_str(&t->worker, worker_id);
}

/*
 * Negative inputs count as 0 and attempt < 1 as 1. The doubling is checked
 * against the cap before it happens (base << s <= cap exactly when
 * base <= cap >> s), so no attempt count can overflow.
 */
int64_t task_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t random)
{
    int64_t delay, quarter, jitter;
    uint32_t r = random % 1024;
    int shift;

    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    shift = attempt < 1 ? 0 : attempt - 1;
    if (shift >= 62 || base_ms > (cap_ms >> shift))
        delay = cap_ms;
    else
        delay = base_ms << shift;

    /* quarter * r / 1023 without the product overflowing: split quarter by 1023. */
    quarter = delay / 4;
    jitter = (quarter / 1023) * r + (quarter % 1023) * r / 1023;
    if (jitter > cap_ms - delay)
        return cap_ms;
    return delay + jitter;
}
