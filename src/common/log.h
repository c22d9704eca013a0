/* SPDX-License-Identifier: MIT */
/*
 * The node log: one event a line, "TIME LEVEL NODE message key=value...",
 * with TIME in ISO-8601 UTC to the millisecond. Each process has one log
 * (master.log, worker-ID.log); until log_open() succeeds lines go to stderr.
 * Values with spaces or quotes should be passed through log_quote().
 */
#ifndef DTR_COMMON_LOG_H
#define DTR_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Creates dir when missing and appends to DIR/FILE. node names this process in
 * every line ("master", "worker-w1"). Returns 0, or a negative errno with a
 * message in err. */
int log_open(const char *dir, const char *file, const char *node, char *err, size_t errlen);
void log_close(void);
/* Opens the file of the last log_open() again (after logrotate renamed it,
 * on SIGHUP); lines keep going to the old file if that fails. Returns 0 or
 * a negative errno with err set. */
int log_reopen(char *err, size_t errlen);
/* Also copy every line to stderr. */
void log_set_stderr(int on);
/* Drops lines below lvl (default LOG_LVL_INFO: per-task events are DEBUG). */
void log_set_level(enum log_level lvl);

__attribute__((format(printf, 2, 3))) void log_write(enum log_level lvl, const char *fmt, ...);
#define log_debug(...) log_write(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)

/* Returns s quoted for a key=value field when it holds spaces, quotes or
 * control characters, else s itself. The result lives in one of a few
 * rotating static buffers (truncated at 200 bytes): use it in one call. */
const char *log_quote(const char *s);

#endif
