/* SPDX-License-Identifier: MIT */
/*
 * The shared-secret handshake's crypto (libsodium): fresh nonces, and
 * HMAC-SHA-256 proofs bound to the whole handshake (both hellos exactly as
 * sent, the side that proves, and the TLS session when there is one), so a
 * proof made for one connection verifies on no other: not recorded and
 * replayed, not reflected back, not relayed between two connections of the
 * same node (docs/protocol.md, section 3).
 */
#ifndef DTR_COMMON_AUTH_H
#define DTR_COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_NONCE_HEX 65 /* 32 random bytes as hex, plus NUL */
#define AUTH_PROOF_HEX 65
#define AUTH_HASH_BYTES 32

enum auth_side { AUTH_DIALER, AUTH_ACCEPTOR };

/*
 * What a proof is bound to. Each side hashes the two hello lines as they
 * travelled (without the newline): the one it sent and the one it received.
 * channel is the TLS session's exporter value (RFC 5705), or all zero
 * without TLS.
 */
struct auth_transcript {
    unsigned char dialer_hello[AUTH_HASH_BYTES];
    unsigned char acceptor_hello[AUTH_HASH_BYTES];
    unsigned char channel[AUTH_HASH_BYTES];
};

/* Initialises libsodium; returns 0 or -1. Safe to call more than once. */
int auth_init(void);
void auth_nonce(char out[AUTH_NONCE_HEX]);
/* SHA-256 of one hello line, for a transcript. */
void auth_hash_line(unsigned char out[AUTH_HASH_BYTES], const char *line, size_t len);
/*
 * proof = HMAC-SHA-256(SHA-256(token), "dtr-auth-2" NUL side NUL
 *                      dialer_hello acceptor_hello channel), as hex,
 * where side is "dialer" or "acceptor".
 */
void auth_proof(const char *token, enum auth_side side, const struct auth_transcript *t,
                char out[AUTH_PROOF_HEX]);
/* Constant-time check of a received proof; NULL or malformed is false. */
bool auth_verify(const char *token, enum auth_side side, const struct auth_transcript *t,
                 const char *proof);

/*
 * The one rule, shared by the nodes and the CLI, for which side lacks what:
 * whether we have a token, and whether the peer says in its hello that it
 * has one. A token on one side only always fails.
 */
enum auth_match {
    AUTH_OPEN,              /* neither has a token: no proofs */
    AUTH_PROVE,             /* both have one: proofs must verify */
    AUTH_PEER_WANTS_TOKEN,  /* the peer has a token, we have none */
    AUTH_PEER_HAS_NO_TOKEN, /* we have a token, the peer has none */
};
enum auth_match auth_match_tokens(const char *token, bool peer_has_token);

/*
 * Reads the token: from `file` when given, else from the DTR_TOKEN
 * environment variable; trailing whitespace is dropped. *token is NULL when
 * neither is set. Returns 0, or -1 with a message in err (unreadable or empty
 * file, or a regular file that group or others may read, write or execute:
 * mode & 077, refused as ssh refuses such keys). The caller frees *token.
 */
int auth_load_token(const char *file, char **token, char *err, size_t errlen);

#endif
