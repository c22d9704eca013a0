/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API's request bodies (src/http/ serves them): json-c stays in
 * proto/, and a spec posted over HTTP is read by the very reader the native
 * submit uses (spec_from_json), with the same limits.
 */
#include "proto/api.h"

#include <string.h>

#include "common/util.h"
#include "proto/json_internal.h"

int api_parse_submit(const char *body, size_t len, struct msg *m, char *err, size_t errlen)
{
    char why[512];
    memset(m, 0, sizeof(*m));
    m->type = MSG_SUBMIT;
    m->state = -1;
    json_object *o = pjson_parse(body, len, why, sizeof(why));
    if (!o)
        return ERR("the body is not JSON: %s", why);
    int rc = 0;
    size_t n = 1;
    bool array = json_object_is_type(o, json_type_array);
    if (array)
        n = json_object_array_length(o);
    else if (!json_object_is_type(o, json_type_object))
        rc = ERR("the body must be a task spec (an object) or an array of them");
    if (!rc && n == 0)
        rc = ERR("the array of task specs is empty");
    if (!rc && n > MSG_MAX_BATCH)
        rc = ERR("%zu task specs; the limit is %d a request", n, MSG_MAX_BATCH);
    if (!rc)
        m->specs = xcalloc(n, sizeof(*m->specs));
    for (size_t i = 0; i < n && !rc; i++) {
        m->nspecs = i + 1;
        if (spec_from_json(array ? json_object_array_get_idx(o, i) : o, &m->specs[i], true, why,
                           sizeof(why)))
            rc = ERR("task %zu: %s", i + 1, why);
    }
    json_object_put(o);
    return rc;
}
