/* SPDX-License-Identifier: MIT */
/*
 * A lone journal commit: the cost dtr's master pays once per loop turn.
 * Opens DIR/commit.db in WAL mode with synchronous=FULL (as src/journal
 * does), then N times: BEGIN IMMEDIATE, one INSERT OR REPLACE of a row
 * shaped like a task, COMMIT; each transaction is timed.
 *
 *   sqlite_commit DIR [N]     (default 200, at most 100,000)
 *
 * Prints "n=N p50_us=.. p99_us=.. min_us=.. max_us=.. mean_us=..".
 * Bounded: an alarm stops it after 300 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "samples.h"

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_commit: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sqlite_commit DIR [N]\n");
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "sqlite_commit: N must be 1..100000\n");
        return 2;
    }
    alarm(300);
    char path[4096];
    snprintf(path, sizeof(path), "%s/commit.db", argv[1]);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "sqlite_commit: cannot open %s\n", path);
        return 1;
    }
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
        exec(db, "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY NOT NULL, seq INTEGER, "
                 "spec TEXT, state INTEGER, lease INTEGER, worker TEXT, submitted_at INTEGER)"))
        return 1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_commit: prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    double *t = calloc((size_t)n, sizeof(double));
    const char *spec = "{\"id\":\"t-1\",\"kind\":\"noop\",\"priority\":2,\"max_retries\":3}";
    for (long i = -5; i < n; i++) { /* five warm-up commits */
        char id[32];
        snprintf(id, sizeof(id), "t-%ld", i + 10);
        double t0 = mono_us();
        if (exec(db, "BEGIN IMMEDIATE"))
            return 1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, i + 10);
        sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, 0);
        sqlite3_bind_int64(st, 5, 0);
        sqlite3_bind_null(st, 6);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL) * 1000);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "sqlite_commit: insert: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        sqlite3_reset(st);
        if (exec(db, "COMMIT"))
            return 1;
        if (i >= 0)
            t[i] = mono_us() - t0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    unlink(path);
    samples_print(t, n, "us", 1);
    printf("\n");
    free(t);
    return 0;
}
