/* SPDX-License-Identifier: MIT */
/*
 * OpenSSL, loaded when TLS is turned on (ossl_load()), not linked: libssl
 * and libcrypto cost every dtr command about 0.6 ms of its 3 ms start-up
 * (their relocations), and most commands and most masters and workers run
 * without TLS. Include it after OpenSSL's headers, in tls.c only: it
 * declares a pointer for each function tls.c calls and turns each name
 * into a call through it, OpenSSL's own macros (SSL_CTX_set_mode and the
 * like, which call SSL_CTX_ctrl) included.
 */
#ifndef DTR_NET_OSSL_H
#define DTR_NET_OSSL_H

#include <stddef.h>

#define OSSL_FUNCTIONS(X)                                                                          \
    X(BIO_ctrl)                                                                                    \
    X(BIO_ctrl_pending)                                                                            \
    X(BIO_new)                                                                                     \
    X(BIO_read)                                                                                    \
    X(BIO_s_mem)                                                                                   \
    X(BIO_write)                                                                                   \
    X(ERR_clear_error)                                                                             \
    X(ERR_peek_error)                                                                              \
    X(ERR_reason_error_string)                                                                     \
    X(EVP_sha256)                                                                                  \
    X(SSL_CTX_check_private_key)                                                                   \
    X(SSL_CTX_ctrl)                                                                                \
    X(SSL_CTX_free)                                                                                \
    X(SSL_CTX_load_verify_locations)                                                               \
    X(SSL_CTX_new)                                                                                 \
    X(SSL_CTX_set_client_CA_list)                                                                  \
    X(SSL_CTX_set_default_passwd_cb)                                                               \
    X(SSL_CTX_set_num_tickets)                                                                     \
    X(SSL_CTX_set_options)                                                                         \
    X(SSL_CTX_set_verify)                                                                          \
    X(SSL_CTX_use_PrivateKey_file)                                                                 \
    X(SSL_CTX_use_certificate_chain_file)                                                          \
    X(SSL_connect)                                                                                 \
    X(SSL_do_handshake)                                                                            \
    X(SSL_export_keying_material)                                                                  \
    X(SSL_free)                                                                                    \
    X(SSL_get0_peer_certificate)                                                                   \
    X(SSL_get_certificate)                                                                         \
    X(SSL_get_error)                                                                               \
    X(SSL_get_verify_result)                                                                       \
    X(SSL_is_init_finished)                                                                        \
    X(SSL_is_server)                                                                               \
    X(SSL_load_client_CA_file)                                                                     \
    X(SSL_new)                                                                                     \
    X(SSL_pending)                                                                                 \
    X(SSL_read_ex)                                                                                 \
    X(SSL_set_accept_state)                                                                        \
    X(SSL_set_bio)                                                                                 \
    X(SSL_set_connect_state)                                                                       \
    X(SSL_set_fd)                                                                                  \
    X(SSL_shutdown)                                                                                \
    X(SSL_write_ex)                                                                                \
    X(TLS_method)                                                                                  \
    X(X509_digest)                                                                                 \
    X(X509_verify_cert_error_string)

struct ossl_api {
#define OSSL_POINTER(name) __typeof__(name) *name;
    OSSL_FUNCTIONS(OSSL_POINTER)
#undef OSSL_POINTER
};
extern struct ossl_api ossl;

/* Loads libssl (and with it libcrypto) once. Returns 0, or -1 with a
 * message in err that says what to install. */
int ossl_load(char *err, size_t errlen);

#ifndef DTR_OSSL_LOADER
#define BIO_ctrl (*ossl.BIO_ctrl)
#define BIO_ctrl_pending (*ossl.BIO_ctrl_pending)
#define BIO_new (*ossl.BIO_new)
#define BIO_read (*ossl.BIO_read)
#define BIO_s_mem (*ossl.BIO_s_mem)
#define BIO_write (*ossl.BIO_write)
#define ERR_clear_error (*ossl.ERR_clear_error)
#define ERR_peek_error (*ossl.ERR_peek_error)
#define ERR_reason_error_string (*ossl.ERR_reason_error_string)
#define EVP_sha256 (*ossl.EVP_sha256)
#define SSL_CTX_check_private_key (*ossl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (*ossl.SSL_CTX_ctrl)
#define SSL_CTX_free (*ossl.SSL_CTX_free)
#define SSL_CTX_load_verify_locations (*ossl.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (*ossl.SSL_CTX_new)
#define SSL_CTX_set_client_CA_list (*ossl.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_default_passwd_cb (*ossl.SSL_CTX_set_default_passwd_cb)
#define SSL_CTX_set_num_tickets (*ossl.SSL_CTX_set_num_tickets)
#define SSL_CTX_set_options (*ossl.SSL_CTX_set_options)
#define SSL_CTX_set_verify (*ossl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (*ossl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (*ossl.SSL_CTX_use_certificate_chain_file)
#define SSL_connect (*ossl.SSL_connect)
#define SSL_do_handshake (*ossl.SSL_do_handshake)
#define SSL_export_keying_material (*ossl.SSL_export_keying_material)
#define SSL_free (*ossl.SSL_free)
#define SSL_get0_peer_certificate (*ossl.SSL_get0_peer_certificate)
#define SSL_get_certificate (*ossl.SSL_get_certificate)
#define SSL_get_error (*ossl.SSL_get_error)
#define SSL_get_verify_result (*ossl.SSL_get_verify_result)
#define SSL_is_init_finished (*ossl.SSL_is_init_finished)
#define SSL_is_server (*ossl.SSL_is_server)
#define SSL_load_client_CA_file (*ossl.SSL_load_client_CA_file)
#define SSL_new (*ossl.SSL_new)
#define SSL_pending (*ossl.SSL_pending)
#define SSL_read_ex (*ossl.SSL_read_ex)
#define SSL_set_accept_state (*ossl.SSL_set_accept_state)
#define SSL_set_bio (*ossl.SSL_set_bio)
#define SSL_set_connect_state (*ossl.SSL_set_connect_state)
#define SSL_set_fd (*ossl.SSL_set_fd)
#define SSL_shutdown (*ossl.SSL_shutdown)
#define SSL_write_ex (*ossl.SSL_write_ex)
#define TLS_method (*ossl.TLS_method)
#define X509_digest (*ossl.X509_digest)
#define X509_verify_cert_error_string (*ossl.X509_verify_cert_error_string)
#endif

#endif
