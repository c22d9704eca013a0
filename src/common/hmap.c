/* SPDX-License-Identifier: MIT */
/* Open-addressing string-keyed map; deletion shifts back, no tombstones. */
#include "common/hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

void hmap_init(struct hmap *m, const char *(*key)(const void *item))
{
    memset(m, 0, sizeof(*m));
    m->key = key;
}

void hmap_release(struct hmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

static size_t find(const struct hmap *m, const char *key)
{
    size_t mask = m->cap - 1;
    size_t i = hash(key) & mask;
    while (m->slots[i] && strcmp(m->key(m->slots[i]), key))
        i = (i + 1) & mask;
    return i;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    return m->slots[find(m, key)];
}

static void grow(struct hmap *m)
{
    size_t oldcap = m->cap;
    void **old = m->slots;
    m->cap = oldcap ? oldcap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof(void *));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            m->slots[find(m, m->key(old[i]))] = old[i];
    free(old);
}

void hmap_put(struct hmap *m, void *item)
{
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    m->slots[find(m, m->key(item))] = item;
    m->len++;
}

void *hmap_del(struct hmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key);
    void *item = m->slots[i];
    if (!item)
        return NULL;
    m->slots[i] = NULL;
    m->len--;
    /* Shift back the run after the hole so every item stays reachable. */
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = hash(m->key(m->slots[j])) & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            m->slots[j] = NULL;
            i = j;
        }
    }
    return item;
}
