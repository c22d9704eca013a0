/* SPDX-License-Identifier: MIT */
/* Unit tests for common/auth: proofs verify only with the same token, nonces,
 * order and side; nonces are fresh; and the token loads from a file or from
 * DTR_TOKEN with the documented errors. Files live in a per-run temp dir. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/auth.h"
#include "common/util.h"

static char tmpdir[] = "/tmp/dtr-test-auth-XXXXXX";

static int setup(void **state UNUSED)
{
    if (auth_init() != 0 || !mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown(void **state UNUSED)
{
    static const char *const names[] = {"token", "empty", "blank", "nul", "big", "crlf"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

/* Writes len bytes to tmpdir/name, mode 0600 (a token file others may read
 * is refused), and returns the path (static storage). */
static const char *write_file(const char *name, const char *data, size_t len)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0600), 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void test_nonces(void **state UNUSED)
{
    char a[AUTH_NONCE_HEX], b[AUTH_NONCE_HEX];
    auth_nonce(a);
    auth_nonce(b);
    assert_true(is_hex(a, AUTH_NONCE_HEX - 1));
    assert_true(is_hex(b, AUTH_NONCE_HEX - 1));
    assert_string_not_equal(a, b);
    /* And never repeat over a few thousand draws. */
    for (int i = 0; i < 2000; i++) {
        auth_nonce(b);
        assert_string_not_equal(a, b);
    }
}

/* A transcript of two made-up hellos, without TLS. */
static struct auth_transcript transcript(const char *dialer_line, const char *acceptor_line)
{
    struct auth_transcript t;
    memset(&t, 0, sizeof(t));
    auth_hash_line(t.dialer_hello, dialer_line, strlen(dialer_line));
    auth_hash_line(t.acceptor_hello, acceptor_line, strlen(acceptor_line));
    return t;
}

static void test_proof_shape_and_determinism(void **state UNUSED)
{
    char p1[AUTH_PROOF_HEX], p2[AUTH_PROOF_HEX];
    struct auth_transcript t = transcript("{\"type\":\"hello\"}", "{\"type\":\"hello\",\"x\":1}");
    auth_proof("secret", AUTH_DIALER, &t, p1);
    auth_proof("secret", AUTH_DIALER, &t, p2);
    assert_true(is_hex(p1, AUTH_PROOF_HEX - 1));
    assert_string_equal(p1, p2);
}

static void test_verify(void **state UNUSED)
{
    char proof[AUTH_PROOF_HEX];
    struct auth_transcript t = transcript("{\"role\":\"client\",\"nonce\":\"aa\"}",
                                          "{\"role\":\"master\",\"nonce\":\"bb\"}");
    auth_proof("s3cret", AUTH_DIALER, &t, proof);

    assert_true(auth_verify("s3cret", AUTH_DIALER, &t, proof));
    /* Wrong token, including a prefix and an extension of the right one. */
    assert_false(auth_verify("s3cre", AUTH_DIALER, &t, proof));
    assert_false(auth_verify("s3crets", AUTH_DIALER, &t, proof));
    assert_false(auth_verify("other", AUTH_DIALER, &t, proof));
    /* Wrong side: a dialer's proof reflected back is no acceptor proof. */
    assert_false(auth_verify("s3cret", AUTH_ACCEPTOR, &t, proof));
    /* The hellos swapped: a proof is bound to who sent which. */
    struct auth_transcript swapped = transcript("{\"role\":\"master\",\"nonce\":\"bb\"}",
                                                "{\"role\":\"client\",\"nonce\":\"aa\"}");
    assert_false(auth_verify("s3cret", AUTH_DIALER, &swapped, proof));
    /* Any other byte anywhere in the transcript: another hello (a relay
     * that changed a role, an id or a nonce) or another TLS session. */
    for (size_t i = 0; i < 3 * AUTH_HASH_BYTES; i++) {
        struct auth_transcript o = t;
        unsigned char *bytes = i < AUTH_HASH_BYTES       ? o.dialer_hello
                               : i < 2 * AUTH_HASH_BYTES ? o.acceptor_hello
                                                         : o.channel;
        bytes[i % AUTH_HASH_BYTES] ^= 1;
        assert_false(auth_verify("s3cret", AUTH_DIALER, &o, proof));
    }
}

static void test_verify_malformed_proof(void **state UNUSED)
{
    char proof[AUTH_PROOF_HEX], bad[AUTH_PROOF_HEX + 1];
    struct auth_transcript t = transcript("a", "b");
    auth_proof("t", AUTH_ACCEPTOR, &t, proof);
    assert_true(auth_verify("t", AUTH_ACCEPTOR, &t, proof));
    assert_false(auth_verify("t", AUTH_ACCEPTOR, &t, NULL));
    assert_false(auth_verify("t", AUTH_ACCEPTOR, &t, ""));
    /* Truncated, extended, upper-cased, one digit flipped. */
    memcpy(bad, proof, AUTH_PROOF_HEX);
    bad[AUTH_PROOF_HEX - 2] = '\0';
    assert_false(auth_verify("t", AUTH_ACCEPTOR, &t, bad));
    memcpy(bad, proof, AUTH_PROOF_HEX);
    bad[AUTH_PROOF_HEX - 1] = '0';
    bad[AUTH_PROOF_HEX] = '\0';
    assert_false(auth_verify("t", AUTH_ACCEPTOR, &t, bad));
    for (size_t i = 0; i < AUTH_PROOF_HEX - 1; i++) {
        memcpy(bad, proof, AUTH_PROOF_HEX);
        bad[i] = bad[i] == '0' ? '1' : '0';
        assert_false(auth_verify("t", AUTH_ACCEPTOR, &t, bad));
    }
}

/* Hellos are hashed whole: lines that differ anywhere hash apart, and a
 * line is not the same as the line with its newline. */
static void test_field_boundaries(void **state UNUSED)
{
    unsigned char h1[AUTH_HASH_BYTES], h2[AUTH_HASH_BYTES];
    auth_hash_line(h1, "ab|c", 4);
    auth_hash_line(h2, "a|bc", 4);
    assert_memory_not_equal(h1, h2, AUTH_HASH_BYTES);
    auth_hash_line(h2, "ab|c\n", 5);
    assert_memory_not_equal(h1, h2, AUTH_HASH_BYTES);
}

/* The token rule: a token on one side only always fails. */
static void test_match_tokens(void **state UNUSED)
{
    assert_int_equal(auth_match_tokens(NULL, false), AUTH_OPEN);
    assert_int_equal(auth_match_tokens("t", true), AUTH_PROVE);
    assert_int_equal(auth_match_tokens(NULL, true), AUTH_PEER_WANTS_TOKEN);
    assert_int_equal(auth_match_tokens("t", false), AUTH_PEER_HAS_NO_TOKEN);
}

static void test_load_from_file(void **state UNUSED)
{
    char err[256] = "";
    char *tok = NULL;
    const char *path = write_file("token", "hunter2\n", 8);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), 0);
    assert_string_equal(tok, "hunter2");
    free(tok);

    /* All trailing whitespace goes; leading and inner spaces stay. */
    path = write_file("crlf", " a b \r\n\t \n", 10);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), 0);
    assert_string_equal(tok, " a b");
    free(tok);

    /* The file wins over the environment. */
    setenv("DTR_TOKEN", "from-env", 1);
    path = write_file("token", "from-file", 9);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), 0);
    assert_string_equal(tok, "from-file");
    free(tok);
    unsetenv("DTR_TOKEN");
}

static void test_load_from_env(void **state UNUSED)
{
    char err[256] = "";
    char *tok = (char *)"sentinel";
    setenv("DTR_TOKEN", "envtoken\n", 1);
    assert_int_equal(auth_load_token(NULL, &tok, err, sizeof(err)), 0);
    assert_string_equal(tok, "envtoken");
    free(tok);

    /* Neither set: no token, no error. */
    unsetenv("DTR_TOKEN");
    tok = (char *)"sentinel";
    assert_int_equal(auth_load_token(NULL, &tok, err, sizeof(err)), 0);
    assert_null(tok);
    setenv("DTR_TOKEN", "", 1);
    tok = (char *)"sentinel";
    assert_int_equal(auth_load_token(NULL, &tok, err, sizeof(err)), 0);
    assert_null(tok);

    /* Only whitespace is an error, like an empty file. */
    setenv("DTR_TOKEN", " \n", 1);
    assert_int_equal(auth_load_token(NULL, &tok, err, sizeof(err)), -1);
    assert_null(tok);
    assert_non_null(strstr(err, "empty"));
    unsetenv("DTR_TOKEN");
}

static void test_load_errors(void **state UNUSED)
{
    char err[512];
    char *tok;
    const char *path;
    char missing[256];

    snprintf(missing, sizeof(missing), "%s/does-not-exist", tmpdir);
    err[0] = '\0';
    assert_int_equal(auth_load_token(missing, &tok, err, sizeof(err)), -1);
    assert_null(tok);
    assert_non_null(strstr(err, missing)); /* names the file */
    assert_non_null(strstr(err, "cannot read"));

    path = write_file("empty", "", 0);
    err[0] = '\0';
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), -1);
    assert_null(tok);
    assert_non_null(strstr(err, "empty"));
    assert_non_null(strstr(err, path));

    path = write_file("blank", "\n\n  \t\n", 6);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), -1);
    assert_null(tok);

    path = write_file("nul", "ab\0cd\n", 6);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), -1);
    assert_null(tok);
    assert_non_null(strstr(err, "binary"));

    /* Over the 4096-byte limit. */
    char big[5000];
    memset(big, 'x', sizeof(big));
    path = write_file("big", big, sizeof(big));
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), -1);
    assert_null(tok);
    assert_non_null(strstr(err, "too long"));
    path = write_file("big", big, 4096);
    assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), 0);
    assert_int_equal(strlen(tok), 4096);
    free(tok);

    /* A directory is not a token file. */
    err[0] = '\0';
    assert_int_equal(auth_load_token(tmpdir, &tok, err, sizeof(err)), -1);
    assert_null(tok);
}

/* A token file that group or others may read or write is refused, naming
 * the file, its mode and the fix, as ssh refuses such keys; 0600 and 0400
 * are fine. */
static void test_load_refuses_shared_file(void **state UNUSED)
{
    static const struct {
        mode_t mode;
        const char *words;
    } refused[] = {
        {0644, "readable by others (mode 0644)"}, {0640, "readable by others (mode 0640)"},
        {0604, "readable by others (mode 0604)"}, {0660, "readable by others (mode 0660)"},
        {0620, "writable by others (mode 0620)"}, {0602, "writable by others (mode 0602)"},
        {0610, "usable by others (mode 0610)"},   {0666, "readable by others (mode 0666)"},
    };
    char err[512], want[512];
    char *tok;
    const char *path = write_file("token", "secret\n", 7);
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        assert_int_equal(chmod(path, refused[i].mode), 0);
        err[0] = '\0';
        tok = (char *)"unset";
        assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), -1);
        assert_null(tok);
        snprintf(want, sizeof(want), "token file '%s' is %s; run chmod 600 '%s'", path,
                 refused[i].words, path);
        assert_string_equal(err, want);
    }
    static const mode_t fine[] = {0600, 0400, 0700};
    for (size_t i = 0; i < ARRAY_SIZE(fine); i++) {
        assert_int_equal(chmod(path, fine[i]), 0);
        assert_int_equal(auth_load_token(path, &tok, err, sizeof(err)), 0);
        assert_string_equal(tok, "secret");
        free(tok);
    }
    assert_int_equal(chmod(path, 0600), 0);
}

/* The loaded token works for proofs: what a master and a worker that read
 * the same file compute agrees. */
static void test_loaded_token_proves(void **state UNUSED)
{
    char err[256];
    char *a, *b;
    char proof[AUTH_PROOF_HEX];
    const char *path = write_file("token", "shared\n", 7);
    assert_int_equal(auth_load_token(path, &a, err, sizeof(err)), 0);
    setenv("DTR_TOKEN", "shared", 1);
    assert_int_equal(auth_load_token(NULL, &b, err, sizeof(err)), 0);
    unsetenv("DTR_TOKEN");
    struct auth_transcript t = transcript("x", "y");
    auth_proof(a, AUTH_DIALER, &t, proof);
    assert_true(auth_verify(b, AUTH_DIALER, &t, proof));
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonces),
        cmocka_unit_test(test_proof_shape_and_determinism),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_verify_malformed_proof),
        cmocka_unit_test(test_field_boundaries),
        cmocka_unit_test(test_match_tokens),
        cmocka_unit_test(test_load_from_file),
        cmocka_unit_test(test_load_from_env),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_refuses_shared_file),
        cmocka_unit_test(test_loaded_token_proves),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
