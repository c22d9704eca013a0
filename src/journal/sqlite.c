/* SPDX-License-Identifier: MIT */
#include <sqlite3.h>

#define DTR_SQLITE_LOADER /* the real names here, for __typeof__ */
#include "journal/sqlite.h"

#include "common/dl.h"
#include "common/util.h"

struct sqlite_api sqlite;

int sqlite_load(char *err, size_t errlen)
{
    static void *lib;
#define SQLITE_NAME(name) #name,
#define SQLITE_SLOT(name) (void **)&sqlite.name,
    static const char *const names[] = {SQLITE_FUNCTIONS(SQLITE_NAME)};
    void **const slots[] = {SQLITE_FUNCTIONS(SQLITE_SLOT)};
#undef SQLITE_NAME
#undef SQLITE_SLOT
    if (!lib)
        lib = dl_load(DTR_SQLITE_SONAME, "the journal", "install SQLite's libsqlite3",
                      "install SQLite 3.37 or later", names, slots, ARRAY_SIZE(names), err, errlen);
    return lib ? 0 : -1;
}
