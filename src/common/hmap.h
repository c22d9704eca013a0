/* SPDX-License-Identifier: MIT */
/*
 * A hash map from string keys to items that contain their own key (a task
 * and its id): open addressing with linear probing. Each slot keeps the
 * key's hash beside the pointer, so a probe touches an item only when the
 * hashes match and growing never touches items at all. The map does not own
 * the items. Keys come from the network, so the hash is SipHash-2-4 under a
 * key drawn at random once per process (the first hmap_init() draws it):
 * nobody can compute keys that pile into one probe run.
 */
#ifndef DTR_COMMON_HMAP_H
#define DTR_COMMON_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap {
    void **slots;
    uint32_t *hashes;
    size_t cap; /* a power of two, or 0 */
    size_t len;
    const char *(*key)(const void *item);
};

/* Must run before any other call on m (it also sets the process's hash key;
 * safe from any thread). */
void hmap_init(struct hmap *m, const char *(*key)(const void *item));
void hmap_release(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Adds item; an item with the same key must not be present. */
void hmap_put(struct hmap *m, void *item);
/* Removes and returns the item with key, or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i]) ... */

#endif
