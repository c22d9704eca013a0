/* SPDX-License-Identifier: MIT */
#include "common/dl.h"

#include <dlfcn.h>
#include <stdio.h>

void *dl_load(const char *soname, const char *what, const char *open_hint, const char *sym_hint,
              const char *const *names, void **const *slots, size_t n, char *err, size_t errlen)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load %s for %s (%s): %s", soname, what, dlerror(), open_hint);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(*slots[i] = dlsym(h, names[i]))) {
            snprintf(err, errlen, "%s has no %s: %s", soname, names[i], sym_hint);
            dlclose(h);
            return NULL;
        }
    }
    return h;
}
