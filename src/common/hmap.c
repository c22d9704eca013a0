/* SPDX-License-Identifier: MIT */
/* Open-addressing string-keyed map; deletion shifts back, no tombstones; a
 * keyed hash (SipHash-2-4, random key per process) against hash flooding. */
#include "common/hmap.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/*
 * The key of the hash, random per process. Task and worker ids come from the
 * network: with a fixed hash anyone can compute ids whose slots pile into
 * one probe run and make every insert walk it (100,000 such ids stalled the
 * master's loop for seconds). SipHash-2-4 under a secret key leaves nothing
 * to compute ids against.
 */
static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    /* sodium_init() picks the random source; a libsodium that cannot start
     * cannot give the key either, and a fixed key would be the old hole. */
    if (sodium_init() < 0) {
        fprintf(stderr, "dtr: cannot initialise libsodium for the hash map key\n");
        abort();
    }
    randombytes_buf(hash_key, sizeof(hash_key));
}

static uint32_t hash(const char *s)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)s, strlen(s), hash_key);
    memcpy(&h, out, sizeof(h));
    return (uint32_t)h;
}

void hmap_init(struct hmap *m, const char *(*key)(const void *item))
{
    memset(m, 0, sizeof(*m));
    m->key = key;
    /* Every map is initialised before its first hash: the key is set here. */
    pthread_once(&hash_key_once, hash_key_init);
}

void hmap_release(struct hmap *m)
{
    free(m->slots);
    free(m->hashes);
    m->slots = NULL;
    m->hashes = NULL;
    m->cap = m->len = 0;
}

/* The slot holding key (hash h), or the empty slot where it would go. */
static size_t find(const struct hmap *m, const char *key, uint32_t h)
{
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i] && (m->hashes[i] != h || strcmp(m->key(m->slots[i]), key)))
        i = (i + 1) & mask;
    return i;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    return m->slots[find(m, key, hash(key))];
}

static void grow(struct hmap *m)
{
    size_t oldcap = m->cap;
    void **old = m->slots;
    uint32_t *oldh = m->hashes;
    m->cap = oldcap ? oldcap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(void *));
    m->hashes = xcalloc(m->cap, sizeof(uint32_t));
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i])
            continue;
        size_t j = oldh[i] & (m->cap - 1);
        while (m->slots[j])
            j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
        m->hashes[j] = oldh[i];
    }
    free(old);
    free(oldh);
}

void hmap_put(struct hmap *m, void *item)
{
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    uint32_t h = hash(m->key(item));
    size_t i = find(m, m->key(item), h);
    m->slots[i] = item;
    m->hashes[i] = h;
    m->len++;
}

void *hmap_del(struct hmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key, hash(key));
    void *item = m->slots[i];
    if (!item)
        return NULL;
    m->slots[i] = NULL;
    m->len--;
    /* Shift back the run after the hole so every item stays reachable. */
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = m->hashes[j] & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->hashes[i] = m->hashes[j];
            m->slots[j] = NULL;
            i = j;
        }
    }
    return item;
}
