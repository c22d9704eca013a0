/* SPDX-License-Identifier: MIT */
/* Unit tests for common/log: line format, append and close-on-exec, the
 * stderr fallback, whole lines under concurrent writers, and log_quote(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#define LINE_RE                                                                                    \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "                          \
    "(DEBUG|INFO|WARN|ERROR) [^ ]+ .*$"

static char tmpdir[PATH_MAX];
static char logdir[PATH_MAX + 32];
static char logpath[PATH_MAX + 64];

static int setup(void **state UNUSED)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/dtr-test-log-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    /* Nested and missing, so log_open() has to create every level. */
    snprintf(logdir, sizeof(logdir), "%s/a/b/logs", tmpdir);
    snprintf(logpath, sizeof(logpath), "%s/master.log", logdir);
    umask(022);
    return 0;
}

static int teardown(void **state UNUSED)
{
    char cmd[PATH_MAX + 16];
    log_close();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *data = NULL;
    size_t cap = 0, len = 0;

    assert_non_null(f);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            data = xrealloc(data, cap);
        }
        size_t n = fread(data + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    data[len] = '\0';
    return data;
}

/* Splits text into lines in place; returns how many (the text must end in '\n'). */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    char *p = text;

    while (*p) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl); /* every line is complete */
        *nl = '\0';
        if (n < max)
            lines[n] = p;
        n++;
        p = nl + 1;
    }
    return n;
}

static void assert_line_format(const char *line)
{
    regex_t re;

    assert_int_equal(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, line, 0, NULL, 0) != 0)
        fail_msg("malformed log line: '%s'", line);
    regfree(&re);
}

/* Runs fn with stderr sent to a temporary file and returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
    char path[PATH_MAX + 32];
    int saved, fd;

    snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    return slurp(path);
}

static void write_before_open(void)
{
    log_warn("not open yet n=%d", 1);
}

static void test_stderr_before_open(void **state UNUSED)
{
    char *out = capture_stderr(write_before_open);
    char *lines[4];

    assert_int_equal(split_lines(out, lines, 4), 1);
    assert_line_format(lines[0]);
    assert_non_null(strstr(lines[0], "Z WARN "));
    assert_non_null(strstr(lines[0], " not open yet n=1"));
    free(out);
}

static void test_open_and_format(void **state UNUSED)
{
    char err[256] = "";
    char before[CLOCK_ISO_LEN], after[CLOCK_ISO_LEN];
    struct stat st;

    assert_int_equal(log_open(logdir, "master.log", "master", err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(stat(logdir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0755);

    clock_iso8601(clock_wall_ms(), before, sizeof(before));
    log_debug("hidden: DEBUG is below the default level");
    log_set_level(LOG_LVL_DEBUG);
    log_info("message key=%s", "value");
    log_debug("dbg");
    log_warn("careful");
    errno = EAGAIN;
    log_error("failed err=%s", log_quote("no such thing"));
    assert_int_equal(errno, EAGAIN); /* logging leaves errno alone */
    log_info("two\nlines\r\nhere");
    clock_iso8601(clock_wall_ms(), after, sizeof(after));

    log_set_level(LOG_LVL_INFO);
    char *text = slurp(logpath);
    char *lines[8];
    assert_null(strstr(text, "hidden"));
    assert_int_equal(split_lines(text, lines, 8), 5);
    for (int i = 0; i < 5; i++) {
        assert_line_format(lines[i]);
        /* ISO-8601 strings of one width sort like the times they name. */
        assert_true(strncmp(lines[i], before, CLOCK_ISO_LEN - 1) >= 0);
        assert_true(strncmp(lines[i], after, CLOCK_ISO_LEN - 1) <= 0);
        assert_int_equal(lines[i][CLOCK_ISO_LEN - 1], ' ');
    }
    assert_string_equal(lines[0] + CLOCK_ISO_LEN, "INFO master message key=value");
    assert_string_equal(lines[1] + CLOCK_ISO_LEN, "DEBUG master dbg");
    assert_string_equal(lines[2] + CLOCK_ISO_LEN, "WARN master careful");
    assert_string_equal(lines[3] + CLOCK_ISO_LEN, "ERROR master failed err=\"no such thing\"");
    assert_string_equal(lines[4] + CLOCK_ISO_LEN, "INFO master two lines  here");
    free(text);
}

/* Finds this process's descriptor for logpath through /proc/self/fd. */
static int find_log_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char real[PATH_MAX];
    int found = -1;

    assert_non_null(d);
    assert_non_null(realpath(logpath, real));
    while ((e = readdir(d)) != NULL) {
        char link[PATH_MAX + 32], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, real) == 0)
            found = (int)strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    return found;
}

static void test_append_cloexec(void **state UNUSED)
{
    char err[256];
    int fd;

    assert_int_equal(log_open(logdir, "master.log", "master", err, sizeof(err)), 0);
    fd = find_log_fd();
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFL) & O_APPEND);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    log_info("first");
    log_close();
    assert_int_equal(find_log_fd(), -1);

    /* Reopening appends after what is there. */
    assert_int_equal(log_open(logdir, "master.log", "worker-w1", err, sizeof(err)), 0);
    log_info("second");
    /* Opening again without a close swaps the descriptor, no leak. */
    assert_int_equal(log_open(logdir, "master.log", "worker-w1", err, sizeof(err)), 0);
    log_info("third");
    log_close();
    log_close(); /* harmless twice */

    char *text = slurp(logpath);
    char *lines[16];
    size_t n = split_lines(text, lines, 16);
    assert_true(n >= 3);
    assert_string_equal(lines[n - 3] + CLOCK_ISO_LEN, "INFO master first");
    assert_string_equal(lines[n - 2] + CLOCK_ISO_LEN, "INFO worker-w1 second");
    assert_string_equal(lines[n - 1] + CLOCK_ISO_LEN, "INFO worker-w1 third");
    free(text);
}

static void write_with_copy(void)
{
    log_set_stderr(1);
    log_info("copied");
    log_set_stderr(0);
    log_info("not copied");
}

static void test_stderr_copy(void **state UNUSED)
{
    char err[256];

    assert_int_equal(log_open(logdir, "copy.log", "master", err, sizeof(err)), 0);
    char *out = capture_stderr(write_with_copy);
    log_close();
    char *lines[4];
    assert_int_equal(split_lines(out, lines, 4), 1);
    assert_string_equal(lines[0] + CLOCK_ISO_LEN, "INFO master copied");
    free(out);

    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/copy.log", logdir);
    char *text = slurp(path);
    assert_int_equal(split_lines(text, lines, 4), 2);
    free(text);
}

static void test_long_line(void **state UNUSED)
{
    char err[256];
    size_t big = 100000;
    char *msg = xmalloc(big + 1);

    for (size_t i = 0; i < big; i++)
        msg[i] = (char)('a' + i % 26);
    msg[big] = '\0';
    assert_int_equal(log_open(logdir, "long.log", "master", err, sizeof(err)), 0);
    log_info("%s", msg);
    log_info("%.*s", 2048, msg); /* around the stack buffer's edge */
    log_info("%.*s", 2000, msg);
    log_close();

    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/long.log", logdir);
    char *text = slurp(path);
    char *lines[4];
    assert_int_equal(split_lines(text, lines, 4), 3);
    const char *prefix = "INFO master ";
    assert_int_equal(strlen(lines[0]), CLOCK_ISO_LEN + strlen(prefix) + big);
    assert_memory_equal(lines[0] + CLOCK_ISO_LEN + strlen(prefix), msg, big);
    assert_int_equal(strlen(lines[1]), CLOCK_ISO_LEN + strlen(prefix) + 2048);
    assert_int_equal(strlen(lines[2]), CLOCK_ISO_LEN + strlen(prefix) + 2000);
    free(text);
    free(msg);
}

static void test_concurrent_writers(void **state UNUSED)
{
    char err[256];
    enum { PROCS = 4, LINES = 400 };
    pid_t pids[PROCS];

    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            char node[32], pad[600];
            snprintf(node, sizeof(node), "worker-%d", p);
            memset(pad, 'a' + p, sizeof(pad) - 1);
            pad[sizeof(pad) - 1] = '\0';
            if (log_open(logdir, "shared.log", node, err, sizeof(err)) != 0)
                _exit(1);
            for (int i = 0; i < LINES; i++)
                log_info("line n=%d pad=%s", i, pad);
            log_close();
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/shared.log", logdir);
    char *text = slurp(path);
    char **lines = xmalloc(sizeof(*lines) * PROCS * LINES);
    assert_int_equal(split_lines(text, lines, PROCS * LINES), PROCS * LINES);
    int next[PROCS] = {0};
    for (int i = 0; i < PROCS * LINES; i++) {
        int p, n;
        char padc;
        assert_line_format(lines[i]);
        if (sscanf(lines[i] + CLOCK_ISO_LEN, "INFO worker-%d line n=%d pad=%c", &p, &n, &padc) != 3)
            fail_msg("unexpected line '%s'", lines[i]);
        assert_true(p >= 0 && p < PROCS);
        /* Each writer's lines arrive whole and in its own order. */
        assert_int_equal(n, next[p]);
        next[p]++;
        assert_int_equal(padc, 'a' + p);
        const char *pad = strstr(lines[i], "pad=") + 4;
        assert_int_equal(strlen(pad), 599);
        assert_int_equal(strspn(pad, (char[]){(char)('a' + p), 0}), 599);
    }
    free(lines);
    free(text);
}

static void test_open_errors(void **state UNUSED)
{
    char err[256] = "";
    char path[PATH_MAX + 32];

    /* A file where the directory should be. */
    snprintf(path, sizeof(path), "%s/plainfile", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(log_open(path, "x.log", "master", err, sizeof(err)), -ENOTDIR);
    assert_non_null(strstr(err, "cannot create log directory"));
    assert_non_null(strstr(err, path));

    /* ... and below it. */
    char below[PATH_MAX + 64];
    snprintf(below, sizeof(below), "%s/sub", path);
    assert_true(log_open(below, "x.log", "master", err, sizeof(err)) < 0);

    /* The file name names a directory. */
    err[0] = '\0';
    assert_int_equal(log_open(tmpdir, "a", "master", err, sizeof(err)), -EISDIR);
    assert_non_null(strstr(err, "cannot open log file"));

    /* A NULL error buffer is allowed. */
    assert_int_equal(log_open(path, "x.log", "master", NULL, 0), -ENOTDIR);
}

static void test_quote_plain(void **state UNUSED)
{
    const char *s = "plain-value_1.2/x";

    assert_ptr_equal(log_quote(s), s);
    const char *bs = "back\\slash";
    assert_ptr_equal(log_quote(bs), bs); /* a backslash alone needs no quotes */
    const char *utf = "h\xc3\xa9llo";
    assert_ptr_equal(log_quote(utf), utf);
    assert_string_equal(log_quote(NULL), "(null)");
}

static void test_quote_escapes(void **state UNUSED)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"a b", "\"a b\""},
        {"k=v", "\"k=v\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"\"", "\"\\\"\""},
        {"a\\b c", "\"a\\\\b c\""},
        {"tab\there", "\"tab\\there\""},
        {"nl\n", "\"nl\\n\""},
        {"cr\r", "\"cr\\r\""},
        {"bell\x07", "\"bell\\x07\""},
        {"\x01", "\"\\x01\""},
        {"del\x7f", "\"del\\x7f\""},
        {"\x1b[31m", "\"\\x1b[31m\""},
        {" ", "\" \""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_string_equal(log_quote(cases[i].in), cases[i].out);
}

static void test_quote_rotation(void **state UNUSED)
{
    /* Four results stay valid together, as in one log_info() call. */
    const char *a = log_quote("a a");
    const char *b = log_quote("b b");
    const char *c = log_quote("c c");
    const char *d = log_quote("d d");

    assert_string_equal(a, "\"a a\"");
    assert_string_equal(b, "\"b b\"");
    assert_string_equal(c, "\"c c\"");
    assert_string_equal(d, "\"d d\"");
}

static void test_quote_truncation(void **state UNUSED)
{
    char in[1024];

    /* Long and plain: cut at 200 bytes with a mark, still unquoted. */
    memset(in, 'x', sizeof(in) - 1);
    in[sizeof(in) - 1] = '\0';
    const char *q = log_quote(in);
    assert_int_equal(strlen(q), 203);
    assert_int_equal(strspn(q, "x"), 200);
    assert_string_equal(q + 200, "...");
    /* Exactly 200 is not cut. */
    in[200] = '\0';
    assert_ptr_equal(log_quote(in), in);

    /* Long and quoted: closed properly. */
    memset(in, ' ', sizeof(in) - 1);
    in[sizeof(in) - 1] = '\0';
    q = log_quote(in);
    assert_int_equal(strlen(q), 1 + 200 + 3 + 1);
    assert_int_equal(q[0], '"');
    assert_string_equal(q + 201, "...\"");

    /* An escape never straddles the cut: 199 spaces then a quote. */
    memset(in, ' ', 199);
    memcpy(in + 199, "\"tail", 6);
    q = log_quote(in);
    assert_int_equal(strlen(q), 1 + 199 + 3 + 1);
    assert_string_equal(q + 200, "...\"");
    /* ... and a control byte's \xHH either. */
    memset(in, ' ', 198);
    memcpy(in + 198, "\x01zz", 4);
    q = log_quote(in);
    assert_string_equal(q + 199, "...\"");

    /* A UTF-8 character is not split: 199 spaces then "é" (2 bytes). */
    memset(in, ' ', 199);
    memcpy(in + 199, "\xc3\xa9tail", 7);
    q = log_quote(in);
    assert_string_equal(q + 200, "...\"");
    /* Plain: 199 'x' then "é". */
    memset(in, 'x', 199);
    memcpy(in + 199, "\xc3\xa9tail", 7);
    memset(in + 205, 'y', 95);
    in[300] = '\0';
    q = log_quote(in);
    assert_int_equal(strlen(q), 199 + 3);
    assert_string_equal(q + 199, "...");

    /* Every result fits comfortably in a rotating buffer. */
    for (int c = 1; c < 256; c++) {
        memset(in, c, sizeof(in) - 1);
        in[sizeof(in) - 1] = '\0';
        assert_true(strlen(log_quote(in)) <= 206);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stderr_before_open), cmocka_unit_test(test_open_and_format),
        cmocka_unit_test(test_append_cloexec),     cmocka_unit_test(test_stderr_copy),
        cmocka_unit_test(test_long_line),          cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_open_errors),        cmocka_unit_test(test_quote_plain),
        cmocka_unit_test(test_quote_escapes),      cmocka_unit_test(test_quote_rotation),
        cmocka_unit_test(test_quote_truncation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
