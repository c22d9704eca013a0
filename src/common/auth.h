/* SPDX-License-Identifier: MIT */
/*
 * The shared-secret handshake's crypto (libsodium): fresh nonces and
 * HMAC-SHA-256 proofs bound to both nonces and to the side that proves, so a
 * recorded proof is useless in another handshake or reflected back.
 */
#ifndef DTR_COMMON_AUTH_H
#define DTR_COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_NONCE_HEX 65 /* 32 random bytes as hex, plus NUL */
#define AUTH_PROOF_HEX 65

/* Initialises libsodium; returns 0 or -1. Safe to call more than once. */
int auth_init(void);
void auth_nonce(char out[AUTH_NONCE_HEX]);
/* proof = HMAC-SHA-256(token, "dtr-auth-1|" side "|" dialer_nonce "|" acceptor_nonce). */
void auth_proof(const char *token, const char *side, const char *dialer_nonce,
                const char *acceptor_nonce, char out[AUTH_PROOF_HEX]);
/* Constant-time check of a received proof. */
bool auth_verify(const char *token, const char *side, const char *dialer_nonce,
                 const char *acceptor_nonce, const char *proof);
/*
 * Reads the token: from `file` when given, else from the DTR_TOKEN
 * environment variable; trailing whitespace is dropped. *token is NULL when
 * neither is set. Returns 0, or -1 with a message in err (unreadable or empty
 * file, or a regular file that group or others may read, write or execute:
 * mode & 077, refused as ssh refuses such keys). The caller frees *token.
 */
int auth_load_token(const char *file, char **token, char *err, size_t errlen);

#endif
