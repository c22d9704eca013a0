/* SPDX-License-Identifier: MIT */
/*
 * Base64 for the output stream (see b64.h). Not constant time: it carries
 * task output, never secrets (auth.c uses libsodium's for those).
 */
#include "common/b64.h"

#include <stdint.h>
#include <string.h>

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

/* Two characters at once for 12 bits, in memory order (4096 entries, 8 KiB,
 * built on first use): half the lookups and stores of one per character on
 * the worker's hottest loop under output. */
static const uint16_t *enc_pair_table(void)
{
    static uint16_t *t;
    if (!t) {
        uint16_t *p = xmalloc(4096 * sizeof(*p));
        for (unsigned i = 0; i < 4096; i++) {
            unsigned char c[2] = {(unsigned char)alphabet[i >> 6], (unsigned char)alphabet[i & 63]};
            memcpy(&p[i], c, 2);
        }
        t = p;
    }
    return t;
}

void b64_encode(char *dst, const void *src, size_t n)
{
    const uint16_t *pt = enc_pair_table();
    const unsigned char *s = src;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        memcpy(dst, &pt[v >> 12], 2);
        memcpy(dst + 2, &pt[v & 4095], 2);
        dst += 4;
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

/* Per position in a quantum, each character's 6 bits where they go in the
 * quantum's 24, or DEC_BAD for anything not in the alphabet (4 KiB, built
 * on first use: four lookups that stay in L1 and one OR per quantum on the
 * master's hottest loop under output). */
#define DEC_BAD 0x01000000u
static const uint32_t (*dec_tables(void))[256]
{
    static uint32_t(*t)[256];
    if (!t) {
        const uint8_t *one = table();
        uint32_t(*p)[256] = xmalloc(4 * sizeof(*p));
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 256; i++)
                p[k][i] = one[i] & 0x80 ? DEC_BAD : (uint32_t)one[i] << (18 - 6 * k);
        t = p;
    }
    return (const uint32_t(*)[256])t;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc 2.33 on; CPU_FEATURE_ACTIVE from 2.34 */
#endif
#endif
#define B64_AVX2 1

/*
 * Decodes the full quanta of s[0..n) 32 characters at a time while at
 * least 12 more follow (each round stores 32 bytes for its 24: the next
 * round's room covers the 8 extra). Stops at the first block holding a
 * character out of the alphabet (the scalar loop then refuses it). Returns
 * the characters done; d advances by 3/4 of that.
 */
__attribute__((target("avx2"))) static size_t decode_avx2(const unsigned char *s, size_t n,
                                                          unsigned char **d)
{
    size_t i = 0;
    const __m256i pack1 = _mm256_set1_epi32(0x01400140); /* a * 64 + b, per pair */
    const __m256i pack2 = _mm256_set1_epi32(0x00011000); /* ab * 4096 + cd */
    const __m256i order = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
                                           2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    for (; i + 32 + 12 <= n; i += 32) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(s + i));
        /* signed compares: bytes >= 0x80 are negative and in no range */
        __m256i up = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('A' - 1)),
                                      _mm256_cmpgt_epi8(_mm256_set1_epi8('Z' + 1), c));
        __m256i lo = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('a' - 1)),
                                      _mm256_cmpgt_epi8(_mm256_set1_epi8('z' + 1), c));
        __m256i dg = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('0' - 1)),
                                      _mm256_cmpgt_epi8(_mm256_set1_epi8('9' + 1), c));
        __m256i pl = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('+'));
        __m256i sl = _mm256_cmpeq_epi8(c, _mm256_set1_epi8('/'));
        __m256i ok =
            _mm256_or_si256(_mm256_or_si256(up, lo), _mm256_or_si256(dg, _mm256_or_si256(pl, sl)));
        if ((unsigned)_mm256_movemask_epi8(ok) != 0xffffffffu)
            break;
        /* each character plus its range's offset to its 6-bit value */
        __m256i off = _mm256_and_si256(up, _mm256_set1_epi8(-'A'));
        off = _mm256_or_si256(off, _mm256_and_si256(lo, _mm256_set1_epi8(26 - 'a')));
        off = _mm256_or_si256(off, _mm256_and_si256(dg, _mm256_set1_epi8(52 - '0')));
        off = _mm256_or_si256(off, _mm256_and_si256(pl, _mm256_set1_epi8(62 - '+')));
        off = _mm256_or_si256(off, _mm256_and_si256(sl, _mm256_set1_epi8(63 - '/')));
        __m256i v = _mm256_add_epi8(c, off);
        v = _mm256_madd_epi16(_mm256_maddubs_epi16(v, pack1), pack2); /* 24 bits per dword */
        v = _mm256_shuffle_epi8(v, order);                            /* 12 bytes per lane */
        v = _mm256_permutevar8x32_epi32(v, lanes);                    /* 24 bytes in front */
        _mm256_storeu_si256((__m256i *)*d, v);
        *d += 24;
    }
    return i;
}

/* Asks glibc, which read the CPU's features at start-up anyway: GCC's
 * __builtin_cpu_supports() links a constructor that runs a dozen `cpuid`
 * in every dtr process, each a trap to the hypervisor on a VM, 85 us of
 * every command's start-up here. */
static bool have_avx2(void)
{
#ifdef CPU_FEATURE_ACTIVE
    return CPU_FEATURE_ACTIVE(AVX2);
#else
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("avx2") ? 1 : 0;
    return have;
#endif
}
#endif

bool b64_decode(const char *src, size_t n, void *dst, size_t *outlen)
{
    const uint8_t *t = table();
    const uint32_t(*dt)[256] = dec_tables();
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = dst;
    *outlen = 0;
    if (n % 4)
        return false;
    size_t full = n;
    if (n && s[n - 1] == '=')
        full -= 4;    /* the last quantum, decoded below */
    uint32_t bad = 0; /* checked once at the end: no branch per quantum */
    size_t i = 0;
#ifdef B64_AVX2
    if (full >= 44 && have_avx2())
        i = decode_avx2(s, full, &d);
#endif
    for (; i < full; i += 4) {
        uint32_t v = dt[0][s[i]] | dt[1][s[i + 1]] | dt[2][s[i + 2]] | dt[3][s[i + 3]];
        bad |= v;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d += 3;
    }
    if (bad & DEC_BAD)
        return false;
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
