/* SPDX-License-Identifier: MIT */
/* Nonces, transcript-bound HMAC proofs and token loading for the handshake. Holds no state. */
#include "common/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/util.h"

#define TOKEN_MAX 4096

int auth_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void auth_nonce(char out[AUTH_NONCE_HEX])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, AUTH_NONCE_HEX, raw, sizeof(raw));
}

void auth_hash_line(unsigned char out[AUTH_HASH_BYTES], const char *line, size_t len)
{
    crypto_hash_sha256(out, (const unsigned char *)line, len);
}

void auth_proof(const char *token, enum auth_side side, const struct auth_transcript *t,
                char out[AUTH_PROOF_HEX])
{
    static const char label[] = "dtr-auth-2"; /* the NUL goes in too */
    const char *name = side == AUTH_DIALER ? "dialer" : "acceptor";
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    /* Hash the token into a fixed-size key so any token length works. */
    crypto_hash_sha256(key, (const unsigned char *)token, strlen(token));
    crypto_auth_hmacsha256_init(&st, key, sizeof(key));
    /* Fixed-size fields after two NUL-terminated labels: no two inputs
     * run together into the same text. */
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof(label));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)name, strlen(name) + 1);
    crypto_auth_hmacsha256_update(&st, t->dialer_hello, sizeof(t->dialer_hello));
    crypto_auth_hmacsha256_update(&st, t->acceptor_hello, sizeof(t->acceptor_hello));
    crypto_auth_hmacsha256_update(&st, t->channel, sizeof(t->channel));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, AUTH_PROOF_HEX, mac, sizeof(mac));
    sodium_memzero(key, sizeof(key));
    sodium_memzero(&st, sizeof(st));
}

bool auth_verify(const char *token, enum auth_side side, const struct auth_transcript *t,
                 const char *proof)
{
    char want[AUTH_PROOF_HEX];
    if (!proof || strlen(proof) != AUTH_PROOF_HEX - 1)
        return false;
    auth_proof(token, side, t, want);
    return sodium_memcmp(want, proof, AUTH_PROOF_HEX - 1) == 0;
}

enum auth_match auth_match_tokens(const char *token, bool peer_has_token)
{
    if (!token)
        return peer_has_token ? AUTH_PEER_WANTS_TOKEN : AUTH_OPEN;
    return peer_has_token ? AUTH_PROVE : AUTH_PEER_HAS_NO_TOKEN;
}

/*
 * Refuses a token file that group or others may read or write, as ssh does
 * with keys: the token lets its holder run commands on every worker, and a
 * file anyone may write lets anyone choose it. Checked on the open file, so
 * the file checked is the file read.
 */
static int token_file_shared(FILE *f, const char *file, char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        snprintf(err, errlen, "cannot read token file '%s': %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || !(sb.st_mode & 077))
        return 0; /* a pipe or a device (say /dev/stdin) has no mode to trust */
    snprintf(err, errlen, "token file '%s' is %s by others (mode %04o); run chmod 600 '%s'", file,
             sb.st_mode & 044   ? "readable"
             : sb.st_mode & 022 ? "writable"
                                : "usable",
             (unsigned)(sb.st_mode & 07777), file);
    return -1;
}

int auth_load_token(const char *file, char **token, char *err, size_t errlen)
{
    *token = NULL;
    struct buf b = BUF_INIT;
    if (file) {
        FILE *f = fopen(file, "re");
        if (!f) {
            snprintf(err, errlen, "cannot read token file '%s': %s", file, strerror(errno));
            return -1;
        }
        if (token_file_shared(f, file, err, errlen)) {
            fclose(f);
            return -1;
        }
        char chunk[512];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= TOKEN_MAX)
            buf_add(&b, chunk, n);
        fclose(f);
    } else {
        const char *env = getenv("DTR_TOKEN");
        if (!env || !*env)
            return 0;
        buf_addstr(&b, env);
    }
    while (b.len && strchr(" \t\r\n", b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    if (b.len == 0 || b.len > TOKEN_MAX || memchr(b.data, '\0', b.len)) {
        snprintf(err, errlen, "the token%s%s%s is empty, too long (over %d bytes) or binary",
                 file ? " in '" : "", file ? file : "", file ? "'" : "", TOKEN_MAX);
        buf_release(&b);
        return -1;
    }
    *token = buf_detach(&b, NULL);
    return 0;
}
