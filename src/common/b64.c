/* SPDX-License-Identifier: MIT */
/*
 * Base64 for the output stream (see b64.h). Not constant time: it carries
 * task output, never secrets (auth.c uses libsodium's for those).
 */
#include "common/b64.h"

#include <stdint.h>

#include "common/util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for the alphabet, 0xff for anything else. */
static const uint8_t *table(void)
{
    static uint8_t t[256];
    static int ready;
    if (!ready) {
        for (int i = 0; i < 256; i++)
            t[i] = 0xff;
        for (int i = 0; i < 64; i++)
            t[(unsigned char)alphabet[i]] = (uint8_t)i;
        ready = 1;
    }
    return t;
}

void b64_encode(char *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *dst++ = alphabet[v >> 18];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = alphabet[(v >> 6) & 63];
        *dst++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *dst++ = alphabet[v >> 18];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *dst++ = alphabet[v >> 18];
        *dst++ = alphabet[(v >> 12) & 63];
        *dst++ = alphabet[(v >> 6) & 63];
        *dst++ = '=';
    }
}

/* Two characters at once: their 12 bits, or 0xffff when either is not in
 * the alphabet (128 KiB, built on first use: half the lookups of the
 * one-character table on the master's hottest loop under output). */
static const uint16_t *pair_table(void)
{
    static uint16_t *t;
    if (!t) {
        const uint8_t *one = table();
        uint16_t *p = xmalloc(65536 * sizeof(*p));
        for (unsigned i = 0; i < 65536; i++) {
            uint8_t a = one[i & 0xff], b = one[i >> 8]; /* the first byte is the low one */
            p[i] = (a | b) & 0x80 ? 0xffff : (uint16_t)(a << 6 | b);
        }
        t = p;
    }
    return t;
}

bool b64_decode(const char *src, size_t n, void *dst, size_t *outlen)
{
    const uint8_t *t = table();
    const uint16_t *pt = pair_table();
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = dst;
    *outlen = 0;
    if (n % 4)
        return false;
    size_t full = n;
    if (n && s[n - 1] == '=')
        full -= 4; /* the last quantum, decoded below */
    for (size_t i = 0; i < full; i += 4) {
        uint32_t hi = pt[s[i] | (unsigned)s[i + 1] << 8];
        uint32_t lo = pt[s[i + 2] | (unsigned)s[i + 3] << 8];
        if ((hi | lo) & 0x8000)
            return false;
        uint32_t v = hi << 12 | lo;
        *d++ = (unsigned char)(v >> 16);
        *d++ = (unsigned char)(v >> 8);
        *d++ = (unsigned char)v;
    }
    if (full != n) {
        const unsigned char *q = s + full;
        uint32_t a = t[q[0]], b = t[q[1]];
        if ((a | b) & 0x80)
            return false;
        if (q[2] == '=') {
            if (q[3] != '=' || (b & 15))
                return false;
            *d++ = (unsigned char)(a << 2 | b >> 4);
        } else {
            uint32_t c = t[q[2]];
            if ((c & 0x80) || (c & 3))
                return false;
            uint32_t v = a << 18 | b << 12 | c << 6;
            *d++ = (unsigned char)(v >> 16);
            *d++ = (unsigned char)(v >> 8);
        }
    }
    *outlen = (size_t)(d - (unsigned char *)dst);
    return true;
}
