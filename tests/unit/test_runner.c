/* SPDX-License-Identifier: MIT */
/*
 * Tests for the exec runner against real processes: output capture and its
 * limit, exit codes and signals, environment and cwd, spawn errors, the
 * timeout and runner_kill() sequences, and that no grandchild survives.
 * Each test runs its own loop until done has been called, never a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "worker/runner.h"
#include "common/util.h"

#define GUARD_MS 10000
#define CONCURRENT 200

struct outcome {
    int calls;
    struct runner_result res;
};

static void done_cb(struct runner *r UNUSED, struct runner_result *res, void *data)
{
    struct outcome *o = data;

    /* A second call would leak the first strings; calls catches it anyway */
    o->calls++;
    o->res = *res;
}

static void outcome_free(struct outcome *o)
{
    free(o->res.out);
    free(o->res.err);
    free(o->res.error);
}

static void guard_cb(uv_timer_t *t)
{
    bool *expired = t->data;

    *expired = true;
    uv_stop(t->loop);
}

/* Runs loop until *count reaches want; fails the test after GUARD_MS. */
static void run_until(uv_loop_t *loop, const int *count, int want)
{
    uv_timer_t guard;
    bool expired = false;

    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
    while (*count < want && !expired)
        uv_run(loop, UV_RUN_ONCE);
    if (expired)
        fail_msg("the runner did not finish within %d ms", GUARD_MS);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static int open_fds(void)
{
    uv_fs_t req;
    uv_dirent_t ent;
    int n = 0;

    if (uv_fs_scandir(NULL, &req, "/proc/self/fd", 0, NULL) < 0)
        return -1;
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF)
        n++;
    uv_fs_req_cleanup(&req);
    return n;
}

static int fds_at_setup;

/* *state: the runners of a loop of the test's own (rs->loop). */
struct fixture {
    uv_loop_t loop;
    struct runners rs;
};

static int setup(void **state)
{
    struct fixture *f = xmalloc(sizeof(*f));

    fds_at_setup = open_fds();
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    runners_init(&f->rs, &f->loop);
    *state = &f->rs;
    return 0;
}

/* Every runner must have closed all of its handles and fds by the time done ran. */
static int teardown(void **state)
{
    struct fixture *f = container_of((struct runners *)*state, struct fixture, rs);
    uv_loop_t *loop = &f->loop;
    uv_timer_t guard;
    bool expired = false;

    /* Unreferenced, the guard ends the run only when a failed test left a
     * runner behind; otherwise the loop empties at once. */
    uv_timer_init(loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
    uv_unref((uv_handle_t *)&guard);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&guard, NULL);
    runners_close(&f->rs);
    uv_run(loop, UV_RUN_NOWAIT);
    int rc = uv_loop_close(loop);
    if (rc != 0)
        return -1; /* leaked on purpose: a runner may still use the loop */
    free(f);
    if (open_fds() != fds_at_setup) {
        fprintf(stderr, "teardown: %d fds open, %d before\n", open_fds(), fds_at_setup);
        return -1;
    }
    return 0;
}

/* Starts spec and runs the loop until it is done; asserts the start worked. */
static void run_spec(struct runners *rs, const struct runner_spec *spec, struct outcome *o)
{
    char err[256] = "";

    memset(o, 0, sizeof(*o));
    struct runner *r = runner_start(rs, spec, done_cb, o, err, sizeof(err));
    if (!r)
        fail_msg("runner_start: %s", err);
    assert_true(runner_pid(r) > 0);
    run_until(rs->loop, &o->calls, 1);
    assert_int_equal(o->calls, 1);
    assert_non_null(o->res.out);
    assert_non_null(o->res.err);
    assert_int_equal(o->res.out[o->res.out_len], '\0');
    assert_int_equal(o->res.err[o->res.err_len], '\0');
}

static char *temp_path(void)
{
    char *path = xstrdup("/tmp/dtr-test-runner-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    return path;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    int pid = 0;

    assert_non_null(f);
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    assert_true(pid > 0);
    return pid;
}

/* Gone, or a zombie waiting for whoever inherited it to reap it. */
static bool pid_dead(pid_t pid)
{
    char path[64], line[512];

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    return !p || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X';
}

/* SIGKILL is delivered asynchronously: give the kernel up to 2 s. */
static bool wait_dead(pid_t pid)
{
    struct timespec ts = {0, 10 * 1000 * 1000};

    for (int i = 0; i < 200; i++) {
        if (pid_dead(pid))
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_argv_echo(void **state)
{
    const char *argv[] = {"echo", "hello", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.term_signal, 0);
    assert_false(o.res.timed_out);
    assert_false(o.res.killed);
    assert_int_equal(o.res.out_len, 6);
    assert_string_equal(o.res.out, "hello\n");
    assert_int_equal(o.res.err_len, 0);
    assert_string_equal(o.res.err, "");
    assert_false(o.res.out_truncated);
    outcome_free(&o);
}

static void test_cmd_streams_and_exit_code(void **state)
{
    struct runner_spec spec = {.cmd = "echo out; echo err >&2; exit 7", .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 7);
    assert_int_equal(o.res.term_signal, 0);
    assert_string_equal(o.res.out, "out\n");
    assert_string_equal(o.res.err, "err\n");
    outcome_free(&o);
}

static void test_env(void **state)
{
    const char *env[] = {"DTR_T_FOO=foo", "DTR_T_BAR=new", NULL};
    struct runner_spec spec = {
        .cmd = "printf %s \"$DTR_T_FOO/$DTR_T_BAR/$DTR_T_KEEP\"",
        .env = env,
        .capture_max = 4096,
    };
    struct outcome o;

    /* extra entries are added to the worker's own, and override them */
    setenv("DTR_T_BAR", "old", 1);
    setenv("DTR_T_KEEP", "kept", 1);
    run_spec(*state, &spec, &o);
    unsetenv("DTR_T_BAR");
    unsetenv("DTR_T_KEEP");
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "foo/new/kept");
    outcome_free(&o);
}

static void test_cwd(void **state)
{
    struct runner_spec spec = {.cmd = "pwd", .cwd = "/tmp", .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "/tmp\n");
    outcome_free(&o);
}

/* The task never ran: done said why (naming what, when not NULL, and the
 * errno e), with status 127; frees o. */
static void assert_never_ran(struct outcome *o, const char *what, int e)
{
    assert_int_equal(o->res.exit_code, 127);
    assert_non_null(o->res.error);
    if (what)
        assert_non_null(strstr(o->res.error, what));
    assert_non_null(strstr(o->res.error, strerror(e)));
    outcome_free(o);
}

/* The child finds out, after runner_start(): done says why, with 127. */
static void test_missing_program(void **state)
{
    const char *argv[] = {"dtr-no-such-program", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_never_ran(&o, "cannot run 'dtr-no-such-program'", ENOENT);
}

/* PATH is searched past entries that do not hold the program, and one that
 * holds it but may not run it (EACCES) is reported over "not found". */
static void test_path_search(void **state)
{
    char dir[] = "/tmp/dtr-test-path-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prog[64], path[256];
    snprintf(prog, sizeof(prog), "%s/dtr-not-executable", dir);
    int fd = open(prog, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    const char *old = getenv("PATH");
    char *saved = old ? xstrdup(old) : NULL;
    snprintf(path, sizeof(path), "/dtr-no-such-dir:%s:/usr/bin:/bin", dir);
    setenv("PATH", path, 1);
    const char *argv1[] = {"true", NULL};
    struct runner_spec spec = {.argv = argv1, .capture_max = 4096};
    struct outcome o;
    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_null(o.res.error);
    outcome_free(&o);
    const char *argv2[] = {"dtr-not-executable", NULL};
    spec.argv = argv2;
    run_spec(*state, &spec, &o);
    if (saved)
        setenv("PATH", saved, 1);
    else
        unsetenv("PATH");
    free(saved);
    unlink(prog);
    rmdir(dir);
    assert_never_ran(&o, NULL, EACCES);
}

/* stdin is /dev/null and the task leads a process group of its own. */
static void test_stdin_and_group(void **state)
{
    const char *argv[] = {"sh", "-c",
                          "cat; readlink /proc/self/fd/0; "
                          "[ \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$ ] && echo own-group",
                          NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "/dev/null\nown-group\n");
    outcome_free(&o);
}

/* The spawn's stack grows with argv (a script's argv is copied onto it). */
static void test_many_args(void **state)
{
    enum { N = 50000 };
    const char **argv = xcalloc(N + 5, sizeof(char *));
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o;

    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = "echo $# \"$1\" \"${50000}\"";
    argv[3] = "sh";
    for (int i = 0; i < N; i++)
        argv[4 + i] = i == N - 1 ? "last" : "a";
    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "50000 a last\n");
    outcome_free(&o);
    free(argv);
}

/* A script without "#!" runs under /bin/sh, as execvp() and a shell run it. */
static void test_script_without_shebang(void **state)
{
    char path[] = "/tmp/dtr-test-script-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char body[] = "echo from-script \"$1\"\n";
    assert_int_equal(write(fd, body, sizeof(body) - 1), (ssize_t)sizeof(body) - 1);
    close(fd);
    assert_int_equal(chmod(path, 0700), 0);
    const char *argv[] = {path, "arg", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    unlink(path);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "from-script arg\n");
    outcome_free(&o);
}

static void test_bad_cwd(void **state)
{
    const char *argv[] = {"true", NULL};
    struct runner_spec spec = {.argv = argv, .cwd = "/dtr-no-such-dir", .capture_max = 4096};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_never_ran(&o, "cannot change directory to '/dtr-no-such-dir'", ENOENT);
}

static void test_capture_limit(void **state)
{
    /* Far more than a pipe holds: the child must not block once the cap is hit */
    struct runner_spec spec = {
        .cmd = "yes abcdefghi | head -c 100000; yes 0123 | head -c 70000 >&2",
        .capture_max = 1000,
    };
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_int_equal(o.res.out_len, 1000);
    assert_true(o.res.out_truncated);
    assert_int_equal(strlen(o.res.out), 1000);
    assert_memory_equal(o.res.out, "abcdefghi\nabcdefghi\n", 20);
    assert_int_equal(o.res.err_len, 1000);
    assert_true(o.res.err_truncated);
    assert_memory_equal(o.res.err, "0123\n0123\n", 10);
    outcome_free(&o);
}

/* Output read at the exit, in one go, is whole; a task that fills a pipe
 * makes the next ones stream from their start, and a quiet one ends that. */
static void test_output_at_exit_and_loud(void **state)
{
    struct runners *rs = *state;
    struct runner_spec small = {.cmd = "printf out; printf err >&2", .capture_max = 1 << 20};
    struct runner_spec loud = {.cmd = "head -c 300000 /dev/zero", .capture_max = 1 << 20};
    struct outcome o;

    run_spec(rs, &small, &o);
    assert_int_equal(o.res.out_len, 3);
    assert_string_equal(o.res.out, "out");
    assert_string_equal(o.res.err, "err");
    assert_false(rs->loud);
    outcome_free(&o);

    run_spec(rs, &loud, &o);
    assert_int_equal(o.res.out_len, 300000);
    assert_false(o.res.out_truncated);
    assert_true(rs->loud);
    outcome_free(&o);

    run_spec(rs, &loud, &o); /* streamed from its start */
    assert_int_equal(o.res.out_len, 300000);
    outcome_free(&o);

    run_spec(rs, &small, &o);
    assert_string_equal(o.res.out, "out");
    assert_false(rs->loud);
    outcome_free(&o);
}

static void test_capture_exact_limit(void **state)
{
    struct runner_spec spec = {.cmd = "printf 12345", .capture_max = 5};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.out_len, 5);
    assert_false(o.res.out_truncated);
    assert_string_equal(o.res.out, "12345");
    outcome_free(&o);
}

static void test_binary_output(void **state)
{
    struct runner_spec spec = {.cmd = "printf 'a\\000b'", .capture_max = 100};
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.out_len, 3);
    assert_memory_equal(o.res.out, "a\0b", 4);
    outcome_free(&o);
}

/* The shell writes its background grandchild's pid to a file, then waits. With
 * term_proof the grandchild shrugs off SIGTERM: the SIGKILL sent to the group
 * once the shell has died must still reach it. */
static void check_timeout_kills_group(struct runners *rs, bool term_proof)
{
    char *path = temp_path();
    char cmd[256];
    struct runner_spec spec = {.cmd = cmd, .timeout_ms = 200, .capture_max = 4096};
    struct outcome o;

    if (term_proof)
        snprintf(cmd, sizeof(cmd), "(trap '' TERM; exec sleep 100) & echo $! > %s; wait", path);
    else
        snprintf(cmd, sizeof(cmd), "sleep 100 & echo $! > %s; wait", path);
    run_spec(rs, &spec, &o);
    assert_true(o.res.timed_out);
    assert_false(o.res.killed);
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.term_signal, SIGTERM);
    pid_t pid = read_pid(path);
    bool dead = wait_dead(pid);
    if (!dead)
        kill(pid, SIGKILL);
    assert_true(dead);
    unlink(path);
    free(path);
    outcome_free(&o);
}

static void test_timeout_kills_group(void **state)
{
    check_timeout_kills_group(*state, false);
}

static void test_timeout_kills_term_ignoring_grandchild(void **state)
{
    check_timeout_kills_group(*state, true);
}

static void test_exit_kills_group(void **state)
{
    char *path = temp_path();
    char cmd[256];
    struct runner_spec spec = {.cmd = cmd, .capture_max = 4096};
    struct outcome o;

    snprintf(cmd, sizeof(cmd), "sleep 100 & echo $! > %s", path);
    run_spec(*state, &spec, &o);
    assert_int_equal(o.res.exit_code, 0);
    assert_false(o.res.timed_out);
    pid_t pid = read_pid(path);
    bool dead = wait_dead(pid);
    if (!dead)
        kill(pid, SIGKILL);
    assert_true(dead);
    unlink(path);
    free(path);
    outcome_free(&o);
}

/* Runs a task that prints "before" and starts a holder: a process in a
 * session of its own that keeps the task's output open and runs HOLDER.
 * The task ends once the holder has left its group (the shell waits for
 * its pid, polling with WAIT), or the group kill could catch it first.
 * Returns the holder's pid. */
static pid_t run_with_holder(struct runners *rs, const char *holder, const char *wait,
                             struct outcome *o)
{
    char *path = temp_path();
    char cmd[256];
    struct runner_spec spec = {.cmd = cmd, .capture_max = 4096};

    snprintf(cmd, sizeof(cmd),
             "echo before; setsid sh -c 'echo $$ > %s; exec %s' & "
             "while [ ! -s %s ]; do %s; done",
             path, holder, path, wait);
    run_spec(rs, &spec, o);
    pid_t pid = read_pid(path);
    unlink(path);
    free(path);
    return pid;
}

/* A process that left the group holds stdout open: done must still come,
 * after the bounded drain, with what was written before. */
static void test_escaped_holder(void **state)
{
    struct outcome o;

    pid_t pid = run_with_holder(*state, "sleep 30", "sleep 0.01", &o);
    bool escaped = !pid_dead(pid);
    kill(pid, SIGKILL);
    assert_true(escaped);
    assert_int_equal(o.res.exit_code, 0);
    assert_string_equal(o.res.out, "before\n");
    outcome_free(&o);
}

/* A holder that left the group and writes without end, the task's output
 * read at its exit: the task still ends (that read stops when the pipe is
 * empty for a moment, or after a few pipefuls when the holder keeps it
 * full; the rest is streamed within the drain limit). */
static void test_writing_holder(void **state)
{
    struct outcome o;

    ((struct runners *)*state)->stream_after_ms = 60000; /* read at the exit */
    pid_t pid = run_with_holder(*state, "yes", ":", &o);
    /* Usually dead already: the closed pipe's SIGPIPE ended it. */
    kill(pid, SIGKILL);
    assert_int_equal(o.res.exit_code, 0);
    assert_true(o.res.out_truncated);
    assert_memory_equal(o.res.out, "before\ny\ny\n", 11);
    outcome_free(&o);
}

static void test_term_ignored_gets_kill(void **state)
{
    struct runner_spec spec = {
        .cmd = "trap '' TERM; sleep 100",
        .timeout_ms = 100,
        .kill_grace_ms = 200,
        .capture_max = 4096,
    };
    struct outcome o;

    run_spec(*state, &spec, &o);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.term_signal, SIGKILL);
    outcome_free(&o);
}

static void test_runner_kill(void **state)
{
    const char *argv[] = {"sleep", "100", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct outcome o = {0};
    char err[256] = "";

    struct runner *r = runner_start(*state, &spec, done_cb, &o, err, sizeof(err));
    if (!r)
        fail_msg("runner_start: %s", err);
    runner_kill(r);
    runner_kill(r); /* a second call changes nothing */
    run_until(((struct runners *)*state)->loop, &o.calls, 1);
    assert_int_equal(o.calls, 1);
    assert_true(o.res.killed);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.exit_code, -1);
    assert_int_equal(o.res.term_signal, SIGTERM);
    outcome_free(&o);
}

/* The worker ignores SIGPIPE and may block signals; its tasks must not inherit that. */
static void test_signals_reset(void **state)
{
    const char *argv[] = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigset_t block, old_mask;
    struct outcome o;
    unsigned long long blk = 1, ignored = 1;

    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    run_spec(*state, &spec, &o);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);

    const char *p = strstr(o.res.out, "SigBlk:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "SigBlk: %llx", &blk), 1);
    p = strstr(o.res.out, "SigIgn:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "SigIgn: %llx", &ignored), 1);
    assert_int_equal(blk, 0);
    assert_int_equal(ignored & (1ULL << (SIGPIPE - 1)), 0);
    outcome_free(&o);
}

struct tally {
    int calls;
    int ok;
};

static void tally_cb(struct runner *r UNUSED, struct runner_result *res, void *data)
{
    struct tally *t = data;

    t->calls++;
    if (res->exit_code == 0 && res->term_signal == 0)
        t->ok++;
    free(res->out);
    free(res->err);
}

static void test_many_concurrent(void **state)
{
    const char *argv[] = {"true", NULL};
    struct runner_spec spec = {.argv = argv, .capture_max = 4096};
    struct tally t = {0};
    char err[256];

    for (int i = 0; i < CONCURRENT; i++) {
        if (!runner_start(*state, &spec, tally_cb, &t, err, sizeof(err)))
            fail_msg("runner_start #%d: %s", i, err);
    }
    run_until(((struct runners *)*state)->loop, &t.calls, CONCURRENT);
    assert_int_equal(t.calls, CONCURRENT);
    assert_int_equal(t.ok, CONCURRENT);
}

/* libuv opens a few fds for good on its first loop, and the first spawn
 * keeps /dev/null open for the ones after it: let that happen before the
 * tests count fds. */
static int group_setup(void **state UNUSED)
{
    uv_loop_t loop;
    struct runners rs;
    const char *argv[] = {"true", NULL};
    struct runner_spec spec = {.argv = argv};
    struct outcome o = {0};
    char err[256];

    if (uv_loop_init(&loop) != 0)
        return -1;
    runners_init(&rs, &loop);
    if (!runner_start(&rs, &spec, done_cb, &o, err, sizeof(err)))
        return -1;
    while (!o.calls)
        uv_run(&loop, UV_RUN_ONCE);
    outcome_free(&o);
    runners_close(&rs);
    uv_run(&loop, UV_RUN_NOWAIT);
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_argv_echo),
        T(test_cmd_streams_and_exit_code),
        T(test_env),
        T(test_cwd),
        T(test_missing_program),
        T(test_path_search),
        T(test_bad_cwd),
        T(test_stdin_and_group),
        T(test_many_args),
        T(test_script_without_shebang),
        T(test_capture_limit),
        T(test_capture_exact_limit),
        T(test_output_at_exit_and_loud),
        T(test_binary_output),
        T(test_timeout_kills_group),
        T(test_timeout_kills_term_ignoring_grandchild),
        T(test_exit_kills_group),
        T(test_escaped_holder),
        T(test_writing_holder),
        T(test_term_ignored_gets_kill),
        T(test_runner_kill),
        T(test_signals_reset),
        T(test_many_concurrent),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
