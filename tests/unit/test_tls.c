/* SPDX-License-Identifier: MIT */
/* Unit tests for net/tls on memory buffers, no sockets: the flag rules, the
 * context's errors naming the file, a mutual handshake and data both ways,
 * and the refusals (a certificate of another CA, a peer trusting another CA,
 * a peer without TLS). Keys and certificates are made here, in a temp dir. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "common/util.h"
#include "net/tls.h"
#include "tls_test.h"

static char tmpdir[] = "/tmp/dtr-test-tls-XXXXXX";
static const char *const files[] = {"ca.pem",    "ca.key",    "node.pem",  "node.key", "other.pem",
                                    "other.key", "rogue.pem", "rogue.key", "junk.pem"};

static const char *path(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static int setup(void **state UNUSED)
{
    if (!mkdtemp(tmpdir))
        return -1;
    write_test_pairs(tmpdir);
    FILE *f = fopen(path("junk.pem"), "we");
    fputs("not a certificate\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        unlink(path(files[i]));
    return rmdir(tmpdir);
}

static void test_flags(void **state UNUSED)
{
    char err[256];
    bool on = true;
    assert_int_equal(tls_flags_check(NULL, NULL, NULL, &on, err, sizeof(err)), 0);
    assert_false(on);
    assert_int_equal(tls_flags_check("c", "k", "ca", &on, err, sizeof(err)), 0);
    assert_true(on);
    assert_int_equal(tls_flags_check("c", "k", NULL, &on, err, sizeof(err)), DTR_EINVAL);
    assert_non_null(strstr(err, "need --tls-ca"));
    assert_int_equal(tls_flags_check(NULL, NULL, "ca", &on, err, sizeof(err)), DTR_EINVAL);
    assert_non_null(strstr(err, "--tls-cert and --tls-key"));
    assert_int_equal(tls_flags_check("c", NULL, "ca", &on, err, sizeof(err)), DTR_EINVAL);
    assert_false(on);
}

/* tls_ctx_new must fail and name `what` in its error. */
static void ctx_fails(const char *cert, const char *key, const char *ca, const char *what)
{
    char err[512] = "";
    struct tls_ctx *t = (struct tls_ctx *)1;
    assert_int_equal(tls_ctx_new(cert, key, ca, &t, err, sizeof(err)), DTR_EINVAL);
    assert_null(t);
    if (!strstr(err, what))
        fail_msg("error '%s' does not mention '%s'", err, what);
}

static void test_ctx_errors(void **state UNUSED)
{
    struct tls_ctx *t = (struct tls_ctx *)1;
    char err[512];
    assert_int_equal(tls_ctx_new(NULL, NULL, NULL, &t, err, sizeof(err)), 0);
    assert_null(t); /* TLS off */
    ctx_fails(path("missing.pem"), path("node.key"), path("ca.pem"), "missing.pem");
    ctx_fails(path("node.pem"), path("node.key"), path("missing-ca.pem"), "missing-ca.pem");
    ctx_fails(path("junk.pem"), path("node.key"), path("ca.pem"), "--tls-cert");
    ctx_fails(path("node.pem"), path("junk.pem"), path("ca.pem"), "--tls-key");
    ctx_fails(path("node.pem"), path("rogue.key"), path("ca.pem"), "is not the key of");
    ctx_fails(path("node.pem"), path("node.key"), path("junk.pem"), "--tls-ca");
    ctx_fails(path("node.pem"), path("node.key"), path("node.key"), "--tls-ca");
    assert_int_equal(
        tls_ctx_new(path("node.pem"), path("node.key"), path("ca.pem"), &t, err, sizeof(err)), 0);
    assert_non_null(t);
    tls_ctx_free(t);
    tls_ctx_free(NULL);
}

/* Moves what from has for its peer into to. */
static void pump(struct tls_conn *from, struct tls_conn *to)
{
    struct buf b = BUF_INIT;
    tls_conn_take(from, &b);
    assert_int_equal(tls_conn_pending(from), 0);
    if (b.len)
        tls_conn_feed(to, b.data, b.len);
    buf_release(&b);
}

struct pair {
    struct tls_ctx *cctx, *sctx;
    struct tls_conn *cli, *srv;
    int crc, src;
    char cerr[256], serr[256];
};

static void pair_open(struct pair *p, const char *cname, const char *cca, const char *sname,
                      const char *sca)
{
    char err[512], cert[64], key[64];
    memset(p, 0, sizeof(*p));
    snprintf(cert, sizeof(cert), "%s.pem", cname);
    snprintf(key, sizeof(key), "%s.key", cname);
    assert_int_equal(tls_ctx_new(path(cert), path(key), path(cca), &p->cctx, err, sizeof(err)), 0);
    snprintf(cert, sizeof(cert), "%s.pem", sname);
    snprintf(key, sizeof(key), "%s.key", sname);
    assert_int_equal(tls_ctx_new(path(cert), path(key), path(sca), &p->sctx, err, sizeof(err)), 0);
    p->cli = tls_conn_new(p->cctx, false);
    p->srv = tls_conn_new(p->sctx, true);
}

/* Runs both handshakes until each is done or has failed. */
static void pair_handshake(struct pair *p)
{
    for (int i = 0; i < 10 && !(p->crc == 1 && p->src == 1) && p->crc >= 0 && p->src >= 0; i++) {
        if (p->crc == 0)
            p->crc = tls_conn_handshake(p->cli, p->cerr, sizeof(p->cerr));
        pump(p->cli, p->srv);
        if (p->src == 0)
            p->src = tls_conn_handshake(p->srv, p->serr, sizeof(p->serr));
        pump(p->srv, p->cli);
    }
}

static void pair_close(struct pair *p)
{
    tls_conn_free(p->cli);
    tls_conn_free(p->srv);
    tls_ctx_free(p->cctx);
    tls_ctx_free(p->sctx);
}

static void test_handshake_and_data(void **state UNUSED)
{
    struct pair p;
    char err[256], got[64];
    pair_open(&p, "node", "ca.pem", "node", "ca.pem");
    pair_handshake(&p);
    assert_int_equal(p.crc, 1);
    assert_int_equal(p.src, 1);
    /* Nothing to read yet. */
    assert_int_equal(tls_conn_read(p.srv, got, sizeof(got), err, sizeof(err)), 0);
    assert_int_equal(tls_conn_write(p.cli, "hello\n", 6, err, sizeof(err)), 0);
    assert_true(tls_conn_pending(p.cli) > 6); /* ciphertext, not the bytes */
    pump(p.cli, p.srv);
    assert_int_equal(tls_conn_read(p.srv, got, sizeof(got), err, sizeof(err)), 6);
    assert_memory_equal(got, "hello\n", 6);
    /* A large write arrives whole, over several records. */
    size_t big = 200000;
    char *data = xmalloc(big), *back = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(tls_conn_write(p.srv, data, big, err, sizeof(err)), 0);
    pump(p.srv, p.cli);
    size_t n = 0;
    ssize_t r;
    while ((r = tls_conn_read(p.cli, back + n, MIN(big - n, 65536), err, sizeof(err))) > 0)
        n += (size_t)r;
    assert_int_equal(r, 0);
    assert_int_equal(n, big);
    assert_memory_equal(data, back, big);
    free(data);
    free(back);
    pair_close(&p);
}

static void test_client_from_another_ca(void **state UNUSED)
{
    struct pair p;
    char err[256], got[16];
    /* The client trusts our CA but holds a certificate of another one. */
    pair_open(&p, "rogue", "ca.pem", "node", "ca.pem");
    pair_handshake(&p);
    assert_int_equal(p.src, DTR_EPROTO);
    assert_non_null(strstr(p.serr, "certificate was refused"));
    if (p.crc < 0) { /* TLS 1.2: the client learns during the handshake */
        assert_non_null(strstr(p.cerr, "refused our certificate"));
    } else { /* TLS 1.3: on its first read, from the server's alert */
        assert_int_equal(tls_conn_read(p.cli, got, sizeof(got), err, sizeof(err)), DTR_EPROTO);
        assert_non_null(strstr(err, "refused our certificate"));
    }
    pair_close(&p);
}

static void test_server_from_another_ca(void **state UNUSED)
{
    struct pair p;
    /* The client only trusts the other CA: it refuses the server. */
    pair_open(&p, "rogue", "other.pem", "node", "ca.pem");
    pair_handshake(&p);
    assert_int_equal(p.crc, DTR_EPROTO);
    assert_non_null(strstr(p.cerr, "certificate was refused"));
    assert_int_equal(p.src, DTR_EPROTO);
    assert_non_null(strstr(p.serr, "refused our certificate"));
    pair_close(&p);
}

static void test_plaintext_peer(void **state UNUSED)
{
    struct pair p;
    const char *hello = "{\"type\":\"hello\",\"proto\":1}\n";
    pair_open(&p, "node", "ca.pem", "node", "ca.pem");
    tls_conn_feed(p.srv, hello, strlen(hello));
    assert_int_equal(tls_conn_handshake(p.srv, p.serr, sizeof(p.serr)), DTR_EPROTO);
    assert_non_null(strstr(p.serr, "does not speak TLS"));
    pair_close(&p);
}

/* SHA-256 of a certificate file's DER, computed here without X509_digest. */
static void cert_hash(const char *name, unsigned char out[TLS_BINDING_BYTES])
{
    FILE *f = fopen(path(name), "re");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    unsigned len = 0;
    assert_int_equal(EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, TLS_BINDING_BYTES);
    OPENSSL_free(der);
    X509_free(x);
}

/* tls-server-end-point: both ends see the hash of the server's certificate,
 * on every session with that server (unlike the exporter), and another
 * server certificate gives another value. */
static void test_end_point(void **state UNUSED)
{
    struct pair p, q;
    unsigned char want[TLS_BINDING_BYTES], c[TLS_BINDING_BYTES], s[TLS_BINDING_BYTES];
    unsigned char x1[TLS_BINDING_BYTES], x2[TLS_BINDING_BYTES];
    cert_hash("node.pem", want);
    pair_open(&p, "node", "ca.pem", "node", "ca.pem");
    pair_open(&q, "node", "ca.pem", "node", "ca.pem");
    assert_int_equal(tls_conn_end_point(p.cli, c), DTR_EPROTO); /* no handshake yet */
    pair_handshake(&p);
    pair_handshake(&q);
    assert_int_equal(tls_conn_end_point(p.cli, c), 0);
    assert_int_equal(tls_conn_end_point(p.srv, s), 0);
    assert_memory_equal(c, want, sizeof(want));
    assert_memory_equal(s, want, sizeof(want));
    assert_int_equal(tls_conn_end_point(q.cli, c), 0);
    assert_memory_equal(c, want, sizeof(want));
    assert_int_equal(tls_conn_binding(p.cli, x1), 0);
    assert_int_equal(tls_conn_binding(q.cli, x2), 0);
    assert_memory_not_equal(x1, x2, sizeof(x1));
    pair_close(&p);
    pair_close(&q);
    /* a server showing another certificate of the same CA */
    pair_open(&p, "node", "ca.pem", "ca", "ca.pem");
    pair_handshake(&p);
    assert_int_equal(p.crc, 1);
    assert_int_equal(tls_conn_end_point(p.cli, c), 0);
    cert_hash("ca.pem", want);
    assert_memory_equal(c, want, sizeof(want));
    assert_int_equal(tls_conn_end_point(p.srv, s), 0);
    assert_memory_equal(s, want, sizeof(want));
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_client_from_another_ca),
        cmocka_unit_test(test_server_from_another_ca),
        cmocka_unit_test(test_plaintext_peer),
        cmocka_unit_test(test_end_point),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
