/* SPDX-License-Identifier: MIT */
#include "http/mhd.h"

#include <dlfcn.h>
#include <stdio.h>

struct mhd_api mhd;

int mhd_load(char *err, size_t errlen)
{
    static void *lib;
    if (lib)
        return 0;
    void *h = dlopen(DTR_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen,
                 "cannot load %s for the HTTP API (%s): install libmicrohttpd, or run with "
                 "--http off",
                 DTR_MHD_SONAME, dlerror());
        return -1;
    }
    /* POSIX's way to turn dlsym()'s object pointer into a function's. */
#define MHD_API_LOAD(name)                                                                         \
    if (!(*(void **)&mhd.name = dlsym(h, "MHD_" #name))) {                                         \
        snprintf(err, errlen, "%s has no MHD_" #name ": install libmicrohttpd 0.9.71 or later",    \
                 DTR_MHD_SONAME);                                                                  \
        dlclose(h);                                                                                \
        return -1;                                                                                 \
    }
    MHD_FUNCTIONS(MHD_API_LOAD)
#undef MHD_API_LOAD
    lib = h;
    return 0;
}
