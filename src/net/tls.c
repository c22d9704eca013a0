/* SPDX-License-Identifier: MIT */
/*
 * TLS with OpenSSL (loaded by the first context, see ossl.h): the context
 * built from --tls-cert/--tls-key/--tls-ca,
 * sessions on memory BIOs for the libuv connections, and sessions on a
 * socket for the CLI. It turns OpenSSL's error queue into one line a person
 * can act on. It does no socket I/O for the loop and never logs.
 */
#include "net/tls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/ossl.h" /* after OpenSSL's headers: calls go through pointers */

#include "common/clock.h"
#include "common/err.h"
#include "common/util.h"

struct tls_ctx {
    SSL_CTX *ctx;
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer, owned by ssl */
    BIO *wbio; /* ciphertext for the peer, owned by ssl */
};

struct tls_sock {
    SSL *ssl;
    bool failed; /* a fatal error happened: no close_notify */
};

int tls_flags_check(const char *cert, const char *key, const char *ca, bool *tls_on, char *err,
                    size_t errlen)
{
    *tls_on = false;
    if (!cert && !key && !ca)
        return 0;
    if (!ca) {
        snprintf(err, errlen,
                 "--tls-cert and --tls-key need --tls-ca (the CA that signs every "
                 "peer's certificate)");
        return DTR_EINVAL;
    }
    if (!cert || !key) {
        snprintf(err, errlen,
                 "--tls-ca needs --tls-cert and --tls-key: with TLS every node and "
                 "client presents a certificate");
        return DTR_EINVAL;
    }
    *tls_on = true;
    return 0;
}

/* OpenSSL's first queued error as text, and clears the queue. */
static const char *queued_error(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(buf, len, "%s", r);
    else if (e)
        snprintf(buf, len, "OpenSSL error %lu", e);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
    return buf;
}

static int no_passphrase_cb(UNUSED char *buf, UNUSED int size, UNUSED int rwflag, UNUSED void *data)
{
    return 0; /* never prompt on a terminal: an encrypted key just fails to load */
}

static int check_readable(const char *flag, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s '%s': %s", flag, path, strerror(errno));
        return DTR_EINVAL;
    }
    fclose(f);
    return 0;
}

int tls_ctx_new(const char *cert, const char *key, const char *ca, struct tls_ctx **out, char *err,
                size_t errlen)
{
    char why[256];
    bool on;
    int rc = tls_flags_check(cert, key, ca, &on, err, errlen);
    SSL_CTX *ctx = NULL;
    *out = NULL;
    if (rc || !on)
        return rc;
    rc = DTR_EINVAL;
    if (ossl_load(err, errlen))
        goto out;
    if (check_readable("--tls-cert", cert, err, errlen) ||
        check_readable("--tls-key", key, err, errlen) ||
        check_readable("--tls-ca", ca, err, errlen))
        goto out;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context: %s", queued_error(why, sizeof(why)));
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase_cb);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "--tls-cert '%s' holds no usable PEM certificate: %s", cert,
                 queued_error(why, sizeof(why)));
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                               ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
            ERR_clear_error();
            snprintf(err, errlen, "--tls-key '%s' is not the key of --tls-cert '%s'", key, cert);
            goto out;
        }
        snprintf(err, errlen,
                 "--tls-key '%s' holds no usable private key (PEM, not encrypted): "
                 "%s",
                 key, queued_error(why, sizeof(why)));
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "--tls-key '%s' is not the key of --tls-cert '%s'", key, cert);
        goto out;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        snprintf(err, errlen, "--tls-ca '%s' holds no usable PEM certificate: %s", ca,
                 queued_error(why, sizeof(why)));
        goto out;
    }
    /* Tell clients which CA we accept (helps them pick a certificate). */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
    /* Mutual TLS: both ends send a certificate and verify the other's. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Connections are long-lived or one-shot: no resumption, no tickets. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_num_tickets(ctx, 0);
    /* Idle connections give their record buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    *out = xcalloc(1, sizeof(**out));
    (*out)->ctx = ctx;
    ctx = NULL;
    rc = 0;
out:
    if (ctx)
        SSL_CTX_free(ctx);
    return rc;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/*
 * What to check when our verification of the peer's certificate failed with
 * X509_V_ERR_x: a wrong CA, a date, or something else about the certificate.
 * "is it signed by the CA" for an expired certificate sent people hunting
 * for the wrong problem.
 */
static const char *verify_hint(long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "it or a CA above it has expired: renew it, or check this machine's clock";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "it or a CA above it is not valid yet: check the clocks of both machines";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return "is it signed by the CA of --tls-ca?";
    default:
        return "check it against the README's recipe for node certificates";
    }
}

/*
 * Describes why an SSL call failed, in words that say what to check. Clears
 * OpenSSL's error queue.
 */
static void describe(SSL *ssl, int ret, char *err, size_t errlen)
{
    int saved = errno;
    int code = SSL_get_error(ssl, ret);
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    char text[200];
    snprintf(text, sizeof(text), "%s", r ? r : "unknown error");
    ERR_clear_error();
    if (code == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "the peer closed the TLS session");
        return;
    }
    if (code == SSL_ERROR_SYSCALL && !e) {
        snprintf(err, errlen, "%s", saved ? strerror(saved) : "the peer closed the connection");
        return;
    }
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
        snprintf(err, errlen, "%s", text);
        return;
    }
    switch (ERR_GET_REASON(e)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED: {
        long v = SSL_get_verify_result(ssl);
        snprintf(err, errlen, "the peer's certificate was refused: %s (%s)",
                 X509_verify_cert_error_string(v), verify_hint(v));
        break;
    }
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        snprintf(err, errlen,
                 "the peer refused our certificate (%s); has --tls-cert expired? "
                 "renew it, or check the clocks of both machines",
                 text);
        break;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        snprintf(err, errlen, "the peer sent no certificate");
        break;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        /* A peer that finds our certificate not valid yet says only "bad
         * certificate": the dates are worth a look too. */
        snprintf(err, errlen,
                 "the peer refused our certificate (%s); is --tls-cert signed by "
                 "the CA the peer trusts, and within its dates?",
                 text);
        break;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
        snprintf(err, errlen, "the peer does not speak TLS (%s); does it run without --tls-ca?",
                 text);
        break;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        if (SSL_is_init_finished(ssl))
            snprintf(err, errlen, "the peer closed the connection");
        else
            snprintf(err, errlen,
                     "the peer closed the connection during the TLS handshake "
                     "(does it run without --tls-ca?)");
        break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        snprintf(err, errlen, "no common TLS version (%s); dtr needs TLS 1.2 or newer", text);
        break;
    default:
        snprintf(err, errlen, "%s", text);
    }
}

/* ---- sessions on memory buffers ------------------------------------------- */

/* Like xmalloc: memory BIOs and SSL objects fail only when memory runs out. */
__attribute__((noreturn)) static void out_of_memory(const char *what)
{
    fprintf(stderr, "dtr: out of memory (%s)\n", what);
    abort();
}

struct tls_conn *tls_conn_new(struct tls_ctx *t, bool server)
{
    struct tls_conn *tc = xcalloc(1, sizeof(*tc));
    tc->ssl = SSL_new(t->ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (!tc->ssl || !tc->rbio || !tc->wbio)
        out_of_memory("TLS session");
    /* An empty read BIO means "more to come", never end of stream: the
     * stream's end is libuv's to report. */
    BIO_set_mem_eof_return(tc->rbio, -1);
    BIO_set_mem_eof_return(tc->wbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    if (server)
        SSL_set_accept_state(tc->ssl);
    else
        SSL_set_connect_state(tc->ssl);
    return tc;
}

void tls_conn_free(struct tls_conn *tc)
{
    if (!tc)
        return;
    SSL_free(tc->ssl); /* frees both BIOs */
    free(tc);
}

void tls_conn_feed(struct tls_conn *tc, const void *data, size_t len)
{
    if (len && BIO_write(tc->rbio, data, (int)len) != (int)len)
        out_of_memory("TLS input");
}

int tls_conn_handshake(struct tls_conn *tc, char *err, size_t errlen)
{
    ERR_clear_error();
    int r = SSL_do_handshake(tc->ssl);
    if (r == 1)
        return 1;
    int code = SSL_get_error(tc->ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
        return 0;
    describe(tc->ssl, r, err, errlen);
    return DTR_EPROTO;
}

ssize_t tls_conn_read(struct tls_conn *tc, void *dst, size_t cap, char *err, size_t errlen)
{
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(tc->ssl, dst, cap, &n);
    if (r == 1)
        return (ssize_t)n;
    int code = SSL_get_error(tc->ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
        return 0;
    describe(tc->ssl, r, err, errlen);
    return code == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : DTR_EPROTO;
}

int tls_conn_write(struct tls_conn *tc, const void *data, size_t len, char *err, size_t errlen)
{
    size_t n = 0;
    if (!len)
        return 0;
    ERR_clear_error();
    /* The write BIO grows as needed, so all of it is taken at once. */
    int r = SSL_write_ex(tc->ssl, data, len, &n);
    if (r == 1 && n == len)
        return 0;
    describe(tc->ssl, r, err, errlen);
    return DTR_EPROTO;
}

/* Both ends of one session, and only they, derive the same value (RFC 5705;
 * TLS 1.3, or 1.2 with the extended master secret OpenSSL always offers). */
static int export_binding(SSL *ssl, unsigned char out[TLS_BINDING_BYTES])
{
    static const char label[] = "EXPORTER-dtr-auth";
    return SSL_export_keying_material(ssl, out, TLS_BINDING_BYTES, label, sizeof(label) - 1, NULL,
                                      0, 0) == 1
               ? 0
               : DTR_EPROTO;
}

int tls_conn_binding(struct tls_conn *tc, unsigned char out[TLS_BINDING_BYTES])
{
    return export_binding(tc->ssl, out);
}

int tls_sock_binding(struct tls_sock *s, unsigned char out[TLS_BINDING_BYTES])
{
    return export_binding(s->ssl, out);
}

/* SHA-256 over the server certificate's DER (X509_digest hashes exactly
 * that): RFC 5929's tls-server-end-point for the usual SHA-256-signed
 * certificates, and SHA-256 always, so both ends agree without looking at
 * the signature algorithm. */
static int end_point(SSL *ssl, unsigned char out[TLS_BINDING_BYTES])
{
    X509 *x = SSL_is_server(ssl) ? SSL_get_certificate(ssl) : SSL_get0_peer_certificate(ssl);
    unsigned n = 0;
    if (!x || X509_digest(x, EVP_sha256(), out, &n) != 1 || n != TLS_BINDING_BYTES)
        return DTR_EPROTO;
    return 0;
}

int tls_conn_end_point(struct tls_conn *tc, unsigned char out[TLS_BINDING_BYTES])
{
    return end_point(tc->ssl, out);
}

int tls_sock_end_point(struct tls_sock *s, unsigned char out[TLS_BINDING_BYTES])
{
    return end_point(s->ssl, out);
}

size_t tls_conn_pending(struct tls_conn *tc)
{
    return BIO_ctrl_pending(tc->wbio);
}

void tls_conn_take(struct tls_conn *tc, struct buf *out)
{
    size_t n = BIO_ctrl_pending(tc->wbio);
    if (!n)
        return;
    buf_grow(out, n);
    int r = BIO_read(tc->wbio, out->data + out->len, (int)n);
    if (r > 0)
        out->len += (size_t)r;
    out->data[out->len] = '\0';
}

/* ---- sessions on a socket ------------------------------------------------- */

struct tls_sock *tls_sock_connect(struct tls_ctx *t, int fd, int timeout_ms, char *err,
                                  size_t errlen)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    struct tls_sock *s = xcalloc(1, sizeof(*s));
    s->ssl = SSL_new(t->ctx);
    if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
        snprintf(err, errlen, "cannot create a TLS session");
        goto fail;
    }
    SSL_set_connect_state(s->ssl);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(s->ssl);
        if (r == 1)
            return s;
        int code = SSL_get_error(s->ssl, r);
        struct pollfd p = {.fd = fd};
        if (code == SSL_ERROR_WANT_READ)
            p.events = POLLIN;
        else if (code == SSL_ERROR_WANT_WRITE)
            p.events = POLLOUT;
        else {
            describe(s->ssl, r, err, errlen);
            goto fail;
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || (poll(&p, 1, (int)left) == 0 && clock_mono_ms() >= deadline)) {
            snprintf(err, errlen, "no TLS handshake within %d ms", timeout_ms);
            goto fail;
        }
    }
fail:
    s->failed = true;
    tls_sock_free(s);
    return NULL;
}

void tls_sock_free(struct tls_sock *s)
{
    if (!s)
        return;
    if (s->ssl && !s->failed) {
        ERR_clear_error();
        SSL_shutdown(s->ssl); /* best effort: one try, never waits */
        ERR_clear_error();
    }
    SSL_free(s->ssl);
    free(s);
}

static ssize_t sock_result(struct tls_sock *s, int r, size_t n, short *events, char *err,
                           size_t errlen)
{
    if (r == 1)
        return (ssize_t)n;
    int code = SSL_get_error(s->ssl, r);
    if (code == SSL_ERROR_WANT_READ) {
        *events = POLLIN;
        return 0;
    }
    if (code == SSL_ERROR_WANT_WRITE) {
        *events = POLLOUT;
        return 0;
    }
    describe(s->ssl, r, err, errlen);
    s->failed = true;
    return -1;
}

ssize_t tls_sock_read(struct tls_sock *s, void *dst, size_t len, short *events, char *err,
                      size_t errlen)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(s->ssl, dst, len, &n);
    return sock_result(s, r, n, events, err, errlen);
}

ssize_t tls_sock_write(struct tls_sock *s, const void *src, size_t len, short *events, char *err,
                       size_t errlen)
{
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(s->ssl, src, len, &n);
    return sock_result(s, r, n, events, err, errlen);
}

bool tls_sock_pending(struct tls_sock *s)
{
    return SSL_pending(s->ssl) > 0;
}
