/* SPDX-License-Identifier: MIT */
/* UTF-8 validation, strict: overlong forms, surrogates and code points past
 * U+10FFFF are invalid. Pure. */
#ifndef DTR_COMMON_UTF8_H
#define DTR_COMMON_UTF8_H

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at p, or 0 when it is invalid or
 * runs past avail bytes. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);
/* Offset of the first byte of text that is not valid UTF-8, or len. */
size_t utf8_invalid_at(const char *text, size_t len);

#endif
