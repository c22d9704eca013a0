/* SPDX-License-Identifier: MIT */
/*
 * The node log. Every line is built whole in memory and written with one
 * write() on an O_APPEND descriptor, so lines from several processes sharing
 * a file never interleave mid-line. Messages are kept to one line: embedded
 * CR/LF become spaces. Until log_open() succeeds, lines go to stderr.
 */
#include "common/util.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"

#define LOG_NODE_MAX 64
/* Lines that fit here cost no allocation; longer ones go to the heap. */
#define LOG_LINE_STACK 2048

#define QUOTE_BUFS 4
#define QUOTE_BUF_SIZE 256
/* Escaped content kept by log_quote(); the rest of a buffer leaves room for
 * the quotes, the "..." truncation mark and the NUL. */
#define QUOTE_MAX 200

static int log_fd = -1;
static char *log_path; /* of the last log_open(), for log_reopen() */
static int log_copy_stderr;
static char log_node[LOG_NODE_MAX] = "dtr";

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* mkdir -p with mode 0755. Returns 0 or a negative errno. */
static int mkdir_p(const char *dir)
{
    size_t n = strlen(dir);
    char *path;
    struct stat st;
    int rc = 0;

    if (n == 0)
        return -ENOENT;
    path = malloc(n + 1);
    if (!path)
        return -ENOMEM;
    memcpy(path, dir, n + 1);
    /* Create each ancestor in turn; the leading '/' of an absolute path is skipped. */
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            rc = -errno;
        path[i] = saved;
    }
    /* EEXIST also covers a plain file in the way: make sure we got a directory. */
    if (rc == 0) {
        if (stat(path, &st) < 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    free(path);
    return rc;
}

int log_open(const char *dir, const char *file, const char *node, char *err, size_t errlen)
{
    char *path;
    size_t dn, fn;
    int fd, rc;

    if (!dir || !file || !*file) {
        err_set(err, errlen, "log: no directory or file name given");
        return -EINVAL;
    }
    rc = mkdir_p(dir);
    if (rc < 0) {
        err_set(err, errlen, "cannot create log directory '%s': %s", dir, strerror(-rc));
        return rc;
    }
    dn = strlen(dir);
    fn = strlen(file);
    path = malloc(dn + fn + 2);
    if (!path) {
        err_set(err, errlen, "log: out of memory");
        return -ENOMEM;
    }
    memcpy(path, dir, dn);
    path[dn] = '/';
    memcpy(path + dn + 1, file, fn + 1);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = -errno;
        err_set(err, errlen, "cannot open log file '%s': %s", path, strerror(errno));
        free(path);
        return rc;
    }
    free(log_path);
    log_path = path;
    /* Reopening (say after a rename by logrotate) replaces the old file. */
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    if (node && *node)
        snprintf(log_node, sizeof(log_node), "%s", node);
    return 0;
}

void log_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    free(log_path);
    log_path = NULL;
}

int log_reopen(char *err, size_t errlen)
{
    int fd;

    if (!log_path) {
        err_set(err, errlen, "log: no log file is open");
        return -EINVAL;
    }
    fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        int rc = -errno;
        err_set(err, errlen, "cannot reopen log file '%s': %s", log_path, strerror(errno));
        return rc;
    }
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void log_set_stderr(int on)
{
    log_copy_stderr = on;
}

/* Writes all of line; a short write on a regular file is rare but possible. */
static void write_all(int fd, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing log */
        }
        line += n;
        len -= (size_t)n;
    }
}

/* Formats "TIME LEVEL NODE " then the message into out (size outlen) and
 * returns the full length the line needs, excluding the newline and NUL. */
static size_t format_line(char *out, size_t outlen, enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static size_t format_line(char *out, size_t outlen, enum log_level lvl, const char *fmt, va_list ap)
{
    char ts[CLOCK_ISO_LEN];
    const char *name;
    int head, body;

    name = (unsigned)lvl < sizeof(level_names) / sizeof(level_names[0]) ? level_names[lvl] : "?";
    clock_iso8601(clock_wall_ms(), ts, sizeof(ts));
    head = snprintf(out, outlen, "%s %s %s ", ts, name, log_node);
    if (head < 0)
        return 0;
    if ((size_t)head >= outlen)
        return (size_t)head; /* cannot happen: the head is well under any buffer */
    body = vsnprintf(out + head, outlen - (size_t)head, fmt, ap);
    if (body < 0)
        body = 0;
    return (size_t)head + (size_t)body;
}

static enum log_level min_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char stackbuf[LOG_LINE_STACK];
    char *line = stackbuf;
    size_t cap = sizeof(stackbuf), len;
    int saved_errno = errno; /* callers log and then still look at errno */
    va_list ap;

    /* One byte is kept back in each buffer for the newline. */
    va_start(ap, fmt);
    len = format_line(line, cap - 1, lvl, fmt, ap);
    va_end(ap);
    if (len >= cap - 1) {
        char *big = malloc(len + 2);
        if (big) {
            line = big;
            cap = len + 2;
            va_start(ap, fmt);
            len = format_line(line, cap - 1, lvl, fmt, ap);
            va_end(ap);
        }
        /* On failure the truncated stack copy is logged instead. */
        if (len >= cap - 1)
            len = cap - 2;
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';

    if (log_fd >= 0) {
        write_all(log_fd, line, len);
        if (log_copy_stderr)
            write_all(STDERR_FILENO, line, len);
    } else {
        write_all(STDERR_FILENO, line, len);
    }
    if (line != stackbuf)
        free(line);
    errno = saved_errno;
}

static bool needs_quote(const char *s)
{
    if (!*s)
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '=' || *p == '"')
            return true;
    }
    return false;
}

/* The escaped form of c into out (room for 4 bytes); returns its length. */
static size_t escape_char(unsigned char c, char *out)
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
    case '\\':
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    case '\n':
        memcpy(out, "\\n", 2);
        return 2;
    case '\r':
        memcpy(out, "\\r", 2);
        return 2;
    case '\t':
        memcpy(out, "\\t", 2);
        return 2;
    default:
        if (c < ' ' || c == 0x7f) {
            out[0] = '\\';
            out[1] = 'x';
            out[2] = hex[c >> 4];
            out[3] = hex[c & 0xf];
            return 4;
        }
        out[0] = (char)c;
        return 1;
    }
}

/* Backs a cut at n bytes off any UTF-8 continuation bytes so no character is split. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

const char *log_quote(const char *s)
{
    static _Thread_local char bufs[QUOTE_BUFS][QUOTE_BUF_SIZE];
    static _Thread_local unsigned next;
    char *out;
    size_t o = 0;

    if (!s)
        return "(null)";
    if (!needs_quote(s)) {
        size_t n = strlen(s);
        if (n <= QUOTE_MAX)
            return s;
        out = bufs[next++ % QUOTE_BUFS];
        n = utf8_cut(s, QUOTE_MAX);
        memcpy(out, s, n);
        memcpy(out + n, "...", 4);
        return out;
    }

    out = bufs[next++ % QUOTE_BUFS];
    out[o++] = '"';
    for (const char *p = s; *p; p++) {
        char esc[4];
        size_t n = escape_char((unsigned char)*p, esc);
        if (o - 1 + n > QUOTE_MAX) {
            /* Escapes are whole already; if *p continues a UTF-8 character,
             * drop the part of it that was copied. */
            if (((unsigned char)*p & 0xc0) == 0x80) {
                while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
                    o--;
                if (o > 1 && (unsigned char)out[o - 1] >= 0xc0)
                    o--;
            }
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
