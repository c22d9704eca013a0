/* SPDX-License-Identifier: MIT */
/*
 * Resources in JSON (issue 13): the fields cpus, mem, gpus and resources of
 * a task spec (a request) and of a worker's hello (an offer), read with the
 * checks of sched/resources.c and written in one canonical spelling.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "proto/json_internal.h"
#include "proto/msg.h"
#include "sched/resources.h"

int res_from_json(json_object *o, struct request *r, int mode, char *err, size_t errlen)
{
    int rc;
    const char *what = "field 'resources'";
    memset(r, 0, sizeof(*r));
    r->cpus_milli = mode ? 0 : 1000;
    json_object *v = pjson_field(o, "cpus");
    if (v) {
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return ERR("field 'cpus' must be a positive number of CPUs (0.5, 2)");
        double d = json_object_get_double(v);
        /* In use: the sum of what the leases hold, which --prefetch lets
         * go past the total. */
        if (mode == 2 && d >= 0 && d < 1e12)
            r->cpus_milli = llround(d * 1000);
        else if (res_check_cpus(json_object_get_double(v), "field 'cpus'", &r->cpus_milli, err,
                                errlen))
            return DTR_EINVAL;
    }
    v = pjson_field(o, "mem");
    if (v && json_object_is_type(v, json_type_string)) {
        if (res_parse_size(json_object_get_string(v), "field 'mem'", &r->mem, err, errlen))
            return DTR_EINVAL;
    } else if ((rc = pjson_get_int(o, "mem", false, 0, mode == 2 ? INT64_MAX / 4 : RES_MAX_MEM,
                                   &r->mem, err, errlen))) {
        return ERR("field 'mem' must be a size such as \"512M\" or \"2G\", or bytes up to 1P");
    }
    if ((rc = pjson_get_int(o, "gpus", false, 0, mode == 2 ? INT32_MAX : RES_MAX_GPUS, &r->gpus,
                            err, errlen)))
        return rc;
    v = pjson_field(o, "resources");
    if (v) {
        if (!json_object_is_type(v, json_type_object))
            return ERR("field 'resources' must be an object of NAME: N");
        if (json_object_object_length(v) > RES_MAX_NAMED)
            return ERR("field 'resources' has more than %d names", RES_MAX_NAMED);
        json_object_object_foreach(v, key, val)
        {
            if (strlen(key) > RES_MAX_NAME)
                return ERR("field 'resources': a name is longer than %d characters", RES_MAX_NAME);
            if (!json_object_is_type(val, json_type_int))
                return ERR("field 'resources': '%s' must be a positive integer", key);
            int64_t n = json_object_get_int64(val);
            if (mode == 2 && n == 0)
                continue; /* in use: none of it */
            if (mode == 2 && n > RES_MAX_COUNT && n < INT64_MAX / 4) {
                if (res_set_named(r, key, 1, what, err, errlen))
                    return DTR_EINVAL;
                for (int i = 0; i < r->nnamed; i++)
                    if (!strcmp(r->named[i].name, key))
                        r->named[i].n = n;
                continue;
            }
            if (res_set_named(r, key, json_object_get_int64(val), what, err, errlen))
                return DTR_EINVAL;
        }
    }
    return 0;
}

void res_encode_fields(struct buf *b, const struct request *r, bool offer)
{
    char num[32];
    if (offer || r->cpus_milli != 1000) {
        res_format_cpus(r->cpus_milli, num, sizeof(num));
        buf_addf(b, ",\"cpus\":%s", num);
    }
    if (offer || r->mem)
        buf_addf(b, ",\"mem\":%" PRId64, r->mem);
    if (offer || r->gpus)
        buf_addf(b, ",\"gpus\":%" PRId64, r->gpus);
    if (r->nnamed) {
        buf_addstr(b, ",\"resources\":{");
        for (int i = 0; i < r->nnamed; i++)
            buf_addf(b, "%s\"%s\":%" PRId64, i ? "," : "", r->named[i].name, r->named[i].n);
        buf_addch(b, '}');
    }
}

int spec_request(const char *canonical, struct request *r)
{
    res_default(r);
    /* A key of the spec's own object or of its payload: only those have an
     * unescaped quote before them. Most specs name none. */
    if (!strstr(canonical, "\"cpus\":") && !strstr(canonical, "\"mem\":") &&
        !strstr(canonical, "\"gpus\":") && !strstr(canonical, "\"resources\":"))
        return 0;
    if (spec_request_fast(canonical, strlen(canonical), r))
        return 0;
    char err[256];
    json_object *o = pjson_parse(canonical, strlen(canonical), err, sizeof(err));
    if (!o)
        return -1;
    int rc = res_from_json(o, r, 0, err, sizeof(err));
    json_object_put(o);
    if (rc) {
        res_default(r);
        return -1;
    }
    return 0;
}
