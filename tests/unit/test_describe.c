/* SPDX-License-Identifier: MIT */
/* Unit tests for cli/describe: a man page from a command's flag table, and
 * the fallback page for a command that does not hand its table over (so
 * one such command cannot stop the build). */
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

#include "cli/client.h"
#include "cli/describe.h"

static bool ran_body;

static int run_flags(int argc, char **argv)
{
    bool all = false;
    const char *file = NULL;
    const struct opt opts[] = {
        {"all", 'a', OPT_BOOL, &all, NULL, "every one - with a \\ and a .dot", 0, 0},
        {"file", 0, OPT_STRING, &file, "FILE", "'quoted' help", 0, 0},
        {NULL, 0, 0, NULL, NULL, NULL, 0, 0},
    };
    char *pos[4];
    int npos;
    int rc =
        cli_parse("flags", "flags [--all]", "Has flags.", opts, argc, argv, 0, pos, &npos, NULL);
    if (rc >= 0)
        return rc;
    ran_body = true;
    return 0;
}

static int run_bare(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const struct describe_cmd cmds[] = {
    {"flags", run_flags, "a command with flags"},
    {"bare", run_bare, "a command without a table"},
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t n = fread(text, 1, 65535, f);
    (void)n;
    fclose(f);
    return text;
}

static void test_pages(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_describe.XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    char *argv[] = {(char *)"__man", (char *)"--dir", dir, NULL};
    assert_int_equal(describe_man_main(cmds, 2, 3, argv), 0);
    assert_false(ran_body); /* described, not run */

    snprintf(path, sizeof(path), "%s/dtr-flags.1", dir);
    char *page = slurp(path);
    assert_non_null(strstr(page, ".TH \"DTR\\-FLAGS\" 1"));
    assert_non_null(strstr(page, "\\fB\\-a\\fR, \\fB\\-\\-all\\fR"));
    assert_non_null(strstr(page, "\\fB\\-\\-file\\fR \\fIFILE\\fR"));
    assert_non_null(strstr(page, "\\fB\\-\\-config\\fR")); /* every table gets --config */
    /* Help text cannot become a request: each line starts with \\& and '\\' is escaped. */
    assert_non_null(strstr(page, "\\&every one \\- with a \\e and a .dot"));
    assert_non_null(strstr(page, "\\&'quoted' help"));
    free(page);
    unlink(path);

    snprintf(path, sizeof(path), "%s/dtr-bare.1", dir);
    page = slurp(path);
    assert_non_null(strstr(page, "dtr\\-bare \\- a command without a table"));
    free(page);
    unlink(path);

    snprintf(path, sizeof(path), "%s/dtr.1", dir);
    page = slurp(path);
    assert_non_null(strstr(page, ".BR dtr\\-flags (1)"));
    assert_non_null(strstr(page, ".BR dtr\\-bare (1)"));
    free(page);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
