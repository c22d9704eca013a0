/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for array_spec_parse() (`dtr submit --array`): any text is
 * either refused with a one-line error, nothing allocated and no throttle,
 * or gives at most ARRAY_MAX_TASKS indices, ascending without repeats, in
 * range, and a throttle of 0 (none) or 1 to ARRAY_MAX_TASKS.
 */
#include <string.h>

#include "common/parse.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    int *idx;
    size_t n;
    int throttle = -1;
    if (size > 4096)
        return 0; /* a command-line flag */
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    if (array_spec_parse(s, &idx, &n, &throttle, err, sizeof(err)) != 0) {
        FUZZ_CHECK(idx == NULL && n == 0 && throttle == 0);
        FUZZ_CHECK(strlen(err) > 0 && !strchr(err, '\n'));
    } else {
        FUZZ_CHECK(n >= 1 && n <= ARRAY_MAX_TASKS);
        FUZZ_CHECK(throttle >= 0 && throttle <= ARRAY_MAX_TASKS);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(idx[i] >= 0 && (i == 0 || idx[i] > idx[i - 1]));
        free(idx);
    }
    free(s);
    return 0;
}
