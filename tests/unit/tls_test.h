/* SPDX-License-Identifier: MIT */
/* Certificates for the unit tests that need TLS (OpenSSL), made in memory;
 * include after cmocka.h. */
#ifndef DTR_TESTS_TLS_TEST_H
#define DTR_TESTS_TLS_TEST_H

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A certificate for key named cn, signed by issuer (self-signed CA when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (!issuer) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

/* Writes DIR/NAME.pem and DIR/NAME.key: a CA when issuer is NULL, else
 * signed by it; the certificate and key into *xo and *ko. */
static void write_pair(const char *dir, const char *name, X509 *issuer, EVP_PKEY *issuer_key,
                       X509 **xo, EVP_PKEY **ko)
{
    char path[512];
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = make_cert(k, name, issuer, issuer_key);
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    *xo = x;
    *ko = k;
}

/* The tests' four pairs in dir: ca and other (two CAs), node (signed by
 * ca) and rogue (signed by other). */
static void write_test_pairs(const char *dir)
{
    X509 *x[4];
    EVP_PKEY *k[4];
    write_pair(dir, "ca", NULL, NULL, &x[0], &k[0]);
    write_pair(dir, "other", NULL, NULL, &x[1], &k[1]);
    write_pair(dir, "node", x[0], k[0], &x[2], &k[2]);
    write_pair(dir, "rogue", x[1], k[1], &x[3], &k[3]);
    for (int i = 0; i < 4; i++) {
        X509_free(x[i]);
        EVP_PKEY_free(k[i]);
    }
}

#endif
