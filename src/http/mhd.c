/* SPDX-License-Identifier: MIT */
#include "http/mhd.h"

#include "common/dl.h"
#include "common/util.h"

struct mhd_api mhd;

int mhd_load(char *err, size_t errlen)
{
    static void *lib;
#define MHD_NAME(name) "MHD_" #name,
#define MHD_SLOT(name) (void **)&mhd.name,
    static const char *const names[] = {MHD_FUNCTIONS(MHD_NAME)};
    void **const slots[] = {MHD_FUNCTIONS(MHD_SLOT)};
#undef MHD_NAME
#undef MHD_SLOT
    if (!lib)
        lib = dl_load(
            DTR_MHD_SONAME, "the HTTP API", "install libmicrohttpd, or run with --http off",
            "install libmicrohttpd 0.9.71 or later", names, slots, ARRAY_SIZE(names), err, errlen);
    return lib ? 0 : -1;
}
