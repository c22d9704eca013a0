/* SPDX-License-Identifier: MIT */
/*
 * struct task_output's one function. The struct lives in sched/ because
 * proto/ (result messages), journal/ (storage) and the nodes all carry it;
 * none of them owns it.
 */
#include "sched/output.h"

#include <stdlib.h>
#include <string.h>

void task_output_release(struct task_output *o)
{
    if (!o)
        return;
    free(o->out);
    free(o->err);
    free(o->result);
    memset(o, 0, sizeof(*o));
}
