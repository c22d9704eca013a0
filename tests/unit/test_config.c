/* SPDX-License-Identifier: MIT */
/* Unit tests for cli/config: sections, keys through the flag table, lists
 * (a later file and the command line replace), the environment winning over
 * a file, and errors that name FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/config.h"
#include "common/opts.h"

static struct {
    bool verbose;
    const char *host, *master, *config;
    int64_t port;
    struct opt_list discover;
} v;

static const struct opt table[] = {
    {.name = "host", .type = OPT_STRING, .dst = &v.host, .arg = "HOST"},
    {.name = "master", .type = OPT_STRING, .dst = &v.master, .arg = "HOST:PORT"},
    {.name = "port", .type = OPT_INT, .dst = &v.port, .arg = "PORT", .min = 1, .max = 65535},
    {.name = "discover", .type = OPT_LIST, .dst = &v.discover, .arg = "R"},
    {.name = "verbose", .short_name = 'v', .type = OPT_BOOL, .dst = &v.verbose},
    {.name = "config", .type = OPT_STRING, .dst = &v.config, .arg = "FILE"},
    {.name = NULL},
};

static const struct describe_cmd cmds[] = {
    {"master", NULL, ""}, {"worker", NULL, ""}, {"status", NULL, ""}, {"submit", NULL, ""}};

static char path[64], path2[64], err[512];
static size_t from_file[8];

static int setup(void **state)
{
    (void)state;
    opt_list_release(&v.discover);
    memset(&v, 0, sizeof(v));
    memset(from_file, 0, sizeof(from_file));
    err[0] = '\0';
    snprintf(path, sizeof(path), "/tmp/test_config.%d.conf", (int)getpid());
    snprintf(path2, sizeof(path2), "/tmp/test_config.%d.2.conf", (int)getpid());
    config_set_commands(cmds, 4);
    unsetenv("DTR_MASTER");
    unsetenv("DTR_TOKEN");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    unlink(path2);
    opt_list_release(&v.discover);
    return 0;
}

static void write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads `text` for cmd with argv "--config PATH" then ARGS. */
static int load(const char *cmd, const char *text, int argc, char **args)
{
    char *argv[8] = {(char *)"--config", path};
    write_file(path, text);
    for (int i = 0; i < argc; i++)
        argv[2 + i] = args[i];
    return config_load(cmd, table, argc + 2, argv, 0, from_file, err, sizeof(err));
}

static void test_sections_and_types(void **state)
{
    (void)state;
    assert_int_equal(load("master",
                          "; a comment\n[master]\nhost = 0.0.0.0\nport = 5001\nverbose = "
                          "true\n[worker]\nport = 7\n[client]\nmaster = x:1\n",
                          0, NULL),
                     0);
    assert_string_equal(v.host, "0.0.0.0");
    assert_int_equal(v.port, 5001);
    assert_true(v.verbose);
    assert_null(v.master); /* [client] is not for the master */
}

static void test_client_section(void **state)
{
    (void)state;
    assert_int_equal(load("status", "[client]\nmaster = m:1\n[status]\nport = 9\n", 0, NULL), 0);
    assert_string_equal(v.master, "m:1");
    assert_int_equal(v.port, 9);
}

static void test_env_wins(void **state)
{
    (void)state;
    setenv("DTR_MASTER", "env:2", 1);
    assert_int_equal(load("status", "[client]\nmaster = file:1\n", 0, NULL), 0);
    assert_null(v.master); /* left unset: the client reads $DTR_MASTER */
    unsetenv("DTR_MASTER");
}

static void test_lists(void **state)
{
    (void)state;
    char *args[] = {(char *)"--discover", (char *)"c"};
    const char *text = "[master]\ndiscover = a\ndiscover = b\n";
    assert_int_equal(load("master", text, 0, NULL), 0);
    assert_int_equal(v.discover.len, 2);
    config_finish(table, from_file);
    assert_int_equal(v.discover.len, 2);

    /* The command line's list replaces the file's. */
    setup(NULL);
    char *argv[] = {(char *)"--config", path, args[0], args[1]};
    write_file(path, text);
    assert_int_equal(config_load("master", table, 4, argv, 0, from_file, err, sizeof(err)), 0);
    char *pos[4];
    int npos;
    assert_int_equal(opts_parse(table, 4, argv, 0, pos, &npos, NULL, err, sizeof(err)), 0);
    config_finish(table, from_file);
    assert_int_equal(v.discover.len, 1);
    assert_string_equal(v.discover.items[0], "c");
}

static void test_errors_name_file_line(void **state)
{
    (void)state;
    char want[128];
    struct {
        const char *text, *msg;
        int line;
    } cases[] = {
        {"[master]\n\nbogus = 1\n", "unknown key 'bogus' in [master]", 3},
        {"[master]\nport = abc\n", "--port: 'abc' is not an integer", 2},
        {"[master]\nport = 70000\n", "--port: '70000' is out of range 1..65535", 2},
        {"[master]\nverbose = maybe\n", "--verbose: 'maybe' is not a boolean", 2},
        {"[nosuch]\nx = 1\n", "unknown section [nosuch]", 1},
        {"port = 1\n", "key 'port' outside a section", 1},
        {"[master]\njust words\n", "not '[section]', 'key = value' or a comment", 2},
        {"[client]\nport = 1\n", "unknown key 'port' in [client]", 2},
        {"[master]\nconfig = other\n", "unknown key 'config' in [master]", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup(NULL);
        assert_int_not_equal(
            load(strstr(cases[i].text, "client") ? "status" : "master", cases[i].text, 0, NULL), 0);
        snprintf(want, sizeof(want), "%s:%d: %s", path, cases[i].line, cases[i].msg);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', want '%s...'", i, err, want);
    }
    /* A line longer than inih can hold is refused, not split. */
    char big[400] = "[master]\nhost = ";
    memset(big + strlen(big), 'x', 300);
    strcat(big, "\nport = 1\n");
    setup(NULL);
    assert_int_not_equal(load("master", big, 0, NULL), 0);
    assert_non_null(strstr(err, ":2: line longer than"));
}

static void test_missing_and_none(void **state)
{
    (void)state;
    char *argv[] = {(char *)"--config", (char *)"/nonexistent/dtr.conf"};
    assert_int_not_equal(config_load("master", table, 2, argv, 0, from_file, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "cannot read config file '/nonexistent/dtr.conf'"));
    char *none[] = {(char *)"--config", (char *)""};
    assert_int_equal(config_load("master", table, 2, none, 0, from_file, err, sizeof(err)), 0);
    /* DTR_CONFIG names the file when --config does not. */
    write_file(path2, "[master]\nport = 77\n");
    setenv("DTR_CONFIG", path2, 1);
    assert_int_equal(config_load("master", table, 0, none + 2, 0, from_file, err, sizeof(err)), 0);
    assert_int_equal(v.port, 77);
    unsetenv("DTR_CONFIG");
    /* A command line that does not parse loads nothing (its parse reports). */
    setup(NULL);
    char *bad[] = {(char *)"--config", path, (char *)"--port"};
    write_file(path, "[master]\nbogus = 1\n");
    assert_int_equal(config_load("master", table, 3, bad, 0, from_file, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sections_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_none, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
