/* SPDX-License-Identifier: MIT */
/*
 * Standard base64 (RFC 4648, with padding), table-driven: the output
 * messages carry every byte a task writes in it, so it must be cheap (a
 * task writing 100 MB/s is 133 MB/s of base64 through the master). The
 * strict decoder refuses what the encoder would never write.
 */
#ifndef DTR_COMMON_B64_H
#define DTR_COMMON_B64_H

#include <stdbool.h>
#include <stddef.h>

/* Characters b64_encode() writes for n bytes (no NUL). */
#define B64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

/* Writes B64_ENCODED_LEN(n) characters of src's n bytes to dst (no NUL). */
void b64_encode(char *dst, const void *src, size_t n);
/*
 * Decodes n characters of src into dst, which has room for n / 4 * 3
 * bytes; *outlen is set to the bytes written. Returns false when src is not
 * standard padded base64 (a length not a multiple of 4, a character out of
 * the alphabet, padding anywhere but at the end, non-zero unused bits).
 */
bool b64_decode(const char *src, size_t n, void *dst, size_t *outlen);

#endif
