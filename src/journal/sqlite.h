/* SPDX-License-Identifier: MIT */
/*
 * SQLite, loaded when a master opens its journal (sqlite_load(), called by
 * journal_open()), not linked: loading libsqlite3 at every start cost each
 * dtr command about 0.14 ms of its 1.1 ms start-up, and only a master uses
 * it. Include it after <sqlite3.h>, in journal.c only: it declares a
 * pointer for each function journal.c calls and turns each name into a
 * call through it (the pattern of net/ossl.h).
 */
#ifndef DTR_JOURNAL_SQLITE_H
#define DTR_JOURNAL_SQLITE_H

#include <stddef.h>

#define SQLITE_FUNCTIONS(X)                                                                        \
    X(sqlite3_backup_finish)                                                                       \
    X(sqlite3_backup_init)                                                                         \
    X(sqlite3_backup_step)                                                                         \
    X(sqlite3_bind_blob64)                                                                         \
    X(sqlite3_bind_int)                                                                            \
    X(sqlite3_bind_int64)                                                                          \
    X(sqlite3_bind_null)                                                                           \
    X(sqlite3_bind_text)                                                                           \
    X(sqlite3_busy_timeout)                                                                        \
    X(sqlite3_changes64)                                                                           \
    X(sqlite3_clear_bindings)                                                                      \
    X(sqlite3_close)                                                                               \
    X(sqlite3_column_blob)                                                                         \
    X(sqlite3_column_bytes)                                                                        \
    X(sqlite3_column_int)                                                                          \
    X(sqlite3_column_int64)                                                                        \
    X(sqlite3_column_text)                                                                         \
    X(sqlite3_column_type)                                                                         \
    X(sqlite3_db_filename)                                                                         \
    X(sqlite3_db_readonly)                                                                         \
    X(sqlite3_deserialize)                                                                         \
    X(sqlite3_errcode)                                                                             \
    X(sqlite3_errmsg)                                                                              \
    X(sqlite3_errstr)                                                                              \
    X(sqlite3_exec)                                                                                \
    X(sqlite3_extended_errcode)                                                                    \
    X(sqlite3_extended_result_codes)                                                               \
    X(sqlite3_filename_wal)                                                                        \
    X(sqlite3_finalize)                                                                            \
    X(sqlite3_free)                                                                                \
    X(sqlite3_get_autocommit)                                                                      \
    X(sqlite3_malloc64)                                                                            \
    X(sqlite3_open)                                                                                \
    X(sqlite3_open_v2)                                                                             \
    X(sqlite3_prepare_v2)                                                                          \
    X(sqlite3_prepare_v3)                                                                          \
    X(sqlite3_reset)                                                                               \
    X(sqlite3_serialize)                                                                           \
    X(sqlite3_step)                                                                                \
    X(sqlite3_system_errno)                                                                        \
    X(sqlite3_wal_autocheckpoint)

struct sqlite_api {
#define SQLITE_POINTER(name) __typeof__(name) *name;
    SQLITE_FUNCTIONS(SQLITE_POINTER)
#undef SQLITE_POINTER
};
extern struct sqlite_api sqlite;

/* Loads libsqlite3 once. Returns 0, or -1 with a message in err that says
 * what to install. */
int sqlite_load(char *err, size_t errlen);

#ifndef DTR_SQLITE_LOADER
#define sqlite3_backup_finish (*sqlite.sqlite3_backup_finish)
#define sqlite3_backup_init (*sqlite.sqlite3_backup_init)
#define sqlite3_backup_step (*sqlite.sqlite3_backup_step)
#define sqlite3_bind_blob64 (*sqlite.sqlite3_bind_blob64)
#define sqlite3_bind_int (*sqlite.sqlite3_bind_int)
#define sqlite3_bind_int64 (*sqlite.sqlite3_bind_int64)
#define sqlite3_bind_null (*sqlite.sqlite3_bind_null)
#define sqlite3_bind_text (*sqlite.sqlite3_bind_text)
#define sqlite3_busy_timeout (*sqlite.sqlite3_busy_timeout)
#define sqlite3_changes64 (*sqlite.sqlite3_changes64)
#define sqlite3_clear_bindings (*sqlite.sqlite3_clear_bindings)
#define sqlite3_close (*sqlite.sqlite3_close)
#define sqlite3_column_blob (*sqlite.sqlite3_column_blob)
#define sqlite3_column_bytes (*sqlite.sqlite3_column_bytes)
#define sqlite3_column_int (*sqlite.sqlite3_column_int)
#define sqlite3_column_int64 (*sqlite.sqlite3_column_int64)
#define sqlite3_column_text (*sqlite.sqlite3_column_text)
#define sqlite3_column_type (*sqlite.sqlite3_column_type)
#define sqlite3_db_filename (*sqlite.sqlite3_db_filename)
#define sqlite3_db_readonly (*sqlite.sqlite3_db_readonly)
#define sqlite3_deserialize (*sqlite.sqlite3_deserialize)
#define sqlite3_errcode (*sqlite.sqlite3_errcode)
#define sqlite3_errmsg (*sqlite.sqlite3_errmsg)
#define sqlite3_errstr (*sqlite.sqlite3_errstr)
#define sqlite3_exec (*sqlite.sqlite3_exec)
#define sqlite3_extended_errcode (*sqlite.sqlite3_extended_errcode)
#define sqlite3_extended_result_codes (*sqlite.sqlite3_extended_result_codes)
#define sqlite3_filename_wal (*sqlite.sqlite3_filename_wal)
#define sqlite3_finalize (*sqlite.sqlite3_finalize)
#define sqlite3_free (*sqlite.sqlite3_free)
#define sqlite3_get_autocommit (*sqlite.sqlite3_get_autocommit)
#define sqlite3_malloc64 (*sqlite.sqlite3_malloc64)
#define sqlite3_open (*sqlite.sqlite3_open)
#define sqlite3_open_v2 (*sqlite.sqlite3_open_v2)
#define sqlite3_prepare_v2 (*sqlite.sqlite3_prepare_v2)
#define sqlite3_prepare_v3 (*sqlite.sqlite3_prepare_v3)
#define sqlite3_reset (*sqlite.sqlite3_reset)
#define sqlite3_serialize (*sqlite.sqlite3_serialize)
#define sqlite3_step (*sqlite.sqlite3_step)
#define sqlite3_system_errno (*sqlite.sqlite3_system_errno)
#define sqlite3_wal_autocheckpoint (*sqlite.sqlite3_wal_autocheckpoint)
#endif

#endif
