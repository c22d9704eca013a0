/* SPDX-License-Identifier: MIT */
/* Unit tests for common/hmap: put/get/del against a reference array with
 * thousands of keys, deletions in random order (every remaining key must
 * still be found after each backward shift), growth, wrap-around runs, and
 * ids crafted against the old unkeyed hash (hash flooding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hmap.h"
#include "common/util.h"

struct item {
    char key[32];
    int value;
};

static const char *item_key(const void *p)
{
    return ((const struct item *)p)->key;
}

static uint64_t rng_state;

/* xorshift64: deterministic, so a failure reproduces. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct item *make_items(size_t n, const char *prefix)
{
    struct item *it = xcalloc(n, sizeof(*it));
    for (size_t i = 0; i < n; i++) {
        snprintf(it[i].key, sizeof(it[i].key), "%s%zu", prefix, i);
        it[i].value = (int)i;
    }
    return it;
}

static void shuffle(size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng() % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static size_t count_slots(const struct hmap *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i])
            n++;
    return n;
}

static void test_empty(void **state UNUSED)
{
    struct hmap m;
    hmap_init(&m, item_key);
    assert_null(hmap_get(&m, "x"));
    assert_null(hmap_del(&m, "x"));
    assert_int_equal(m.len, 0);
    hmap_release(&m);
    hmap_release(&m);
}

static void test_basic(void **state UNUSED)
{
    struct hmap m;
    struct item a = {"alpha", 1}, b = {"beta", 2}, c = {"", 3};
    hmap_init(&m, item_key);
    hmap_put(&m, &a);
    hmap_put(&m, &b);
    hmap_put(&m, &c); /* the empty string is a key like any other */
    assert_int_equal(m.len, 3);
    assert_ptr_equal(hmap_get(&m, "alpha"), &a);
    assert_ptr_equal(hmap_get(&m, "beta"), &b);
    assert_ptr_equal(hmap_get(&m, ""), &c);
    assert_null(hmap_get(&m, "gamma"));
    assert_null(hmap_get(&m, "alph"));
    assert_null(hmap_get(&m, "alphaa"));
    assert_ptr_equal(hmap_del(&m, "beta"), &b);
    assert_null(hmap_del(&m, "beta"));
    assert_null(hmap_get(&m, "beta"));
    assert_int_equal(m.len, 2);
    /* Re-adding after a delete works. */
    hmap_put(&m, &b);
    assert_ptr_equal(hmap_get(&m, "beta"), &b);
    hmap_release(&m);
}

static void test_growth(void **state UNUSED)
{
    enum { N = 20000 };
    struct item *it = make_items(N, "task-");
    struct hmap m;
    size_t lastcap = 0;
    hmap_init(&m, item_key);
    for (size_t i = 0; i < N; i++) {
        hmap_put(&m, &it[i]);
        assert_int_equal(m.len, i + 1);
        /* Power of two, and at most three quarters full. */
        assert_int_equal(m.cap & (m.cap - 1), 0);
        assert_true(m.len * 4 <= m.cap * 3);
        if (m.cap != lastcap) {
            /* Right after growing, everything is still there. */
            for (size_t k = 0; k <= i; k++)
                assert_ptr_equal(hmap_get(&m, it[k].key), &it[k]);
            lastcap = m.cap;
        }
    }
    assert_int_equal(count_slots(&m), N);
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(hmap_get(&m, it[i].key), &it[i]);
    hmap_release(&m);
    free(it);
}

/* Deletes every key in random order; after each deletion, every remaining
 * key must still be found and every deleted one must be gone. */
static void test_random_delete_all(void **state UNUSED)
{
    enum { N = 3000 };
    struct item *it = make_items(N, "k");
    size_t *order = xcalloc(N, sizeof(*order));
    bool *gone = xcalloc(N, sizeof(*gone));
    struct hmap m;
    rng_state = 0x2545f4914f6cdd1dull;
    hmap_init(&m, item_key);
    for (size_t i = 0; i < N; i++) {
        hmap_put(&m, &it[i]);
        order[i] = i;
    }
    shuffle(order, N);
    for (size_t d = 0; d < N; d++) {
        size_t k = order[d];
        assert_ptr_equal(hmap_del(&m, it[k].key), &it[k]);
        gone[k] = true;
        assert_int_equal(m.len, N - d - 1);
        /* A full check is quadratic: do it often, not always. */
        if (d % 7 == 0 || d > N - 50) {
            for (size_t i = 0; i < N; i++) {
                if (gone[i])
                    assert_null(hmap_get(&m, it[i].key));
                else
                    assert_ptr_equal(hmap_get(&m, it[i].key), &it[i]);
            }
            assert_int_equal(count_slots(&m), m.len);
        }
    }
    assert_int_equal(m.len, 0);
    assert_int_equal(count_slots(&m), 0);
    hmap_release(&m);
    free(gone);
    free(order);
    free(it);
}

/* Mixed puts and deletes against a reference "present" array, at a fill
 * that keeps long probe runs (which wrap around the end of the table). */
static void test_random_mixed(void **state UNUSED)
{
    enum { N = 5000, OPS = 200000 };
    struct item *it = make_items(N, "w/");
    bool *in = xcalloc(N, sizeof(*in));
    size_t present = 0;
    struct hmap m;
    rng_state = 0x9e3779b97f4a7c15ull;
    hmap_init(&m, item_key);
    for (size_t op = 0; op < OPS; op++) {
        size_t k = (size_t)(rng() % N);
        if (in[k]) {
            assert_ptr_equal(hmap_get(&m, it[k].key), &it[k]);
            assert_ptr_equal(hmap_del(&m, it[k].key), &it[k]);
            in[k] = false;
            present--;
        } else {
            assert_null(hmap_get(&m, it[k].key));
            assert_null(hmap_del(&m, it[k].key));
            hmap_put(&m, &it[k]);
            in[k] = true;
            present++;
        }
        assert_int_equal(m.len, present);
        if (op % 20000 == 0) {
            for (size_t i = 0; i < N; i++)
                assert_ptr_equal(hmap_get(&m, it[i].key), in[i] ? &it[i] : NULL);
        }
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(hmap_get(&m, it[i].key), in[i] ? &it[i] : NULL);
    assert_int_equal(count_slots(&m), present);
    hmap_release(&m);
    free(in);
    free(it);
}

/* Deletes each key in turn from a 16-slot map filled to the 3/4 limit, then
 * all the others: each hole sits at a different place in the probe runs. */
static void check_delete_each(struct item *it, size_t n)
{
    for (size_t victim = 0; victim < n; victim++) {
        struct hmap m;
        bool gone[16] = {false};
        hmap_init(&m, item_key);
        for (size_t i = 0; i < n; i++)
            hmap_put(&m, &it[i]);
        assert_int_equal(m.cap, 16);
        assert_ptr_equal(hmap_del(&m, it[victim].key), &it[victim]);
        gone[victim] = true;
        for (size_t i = 0; i < n; i++)
            assert_ptr_equal(hmap_get(&m, it[i].key), gone[i] ? NULL : &it[i]);
        /* Then all the others, in a fixed but scrambled order (5 is prime
         * to 12, so each index comes up once). */
        for (size_t s = 1; s < n; s++) {
            size_t k = (victim + s * 5) % n;
            assert_ptr_equal(hmap_del(&m, it[k].key), &it[k]);
            gone[k] = true;
            for (size_t i = 0; i < n; i++)
                assert_ptr_equal(hmap_get(&m, it[i].key), gone[i] ? NULL : &it[i]);
        }
        assert_int_equal(m.len, 0);
        assert_int_equal(count_slots(&m), 0);
        hmap_release(&m);
    }
}

/* Many small dense tables with different key sets, so that some probe runs
 * wrap from the last slot to the first (the j < i case of the shift). */
static void test_delete_each_position(void **state UNUSED)
{
    enum { N = 12 };
    for (int set = 0; set < 300; set++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "s%d.", set);
        struct item *it = make_items(N, prefix);
        check_delete_each(it, N);
        free(it);
    }
}

/* Iteration as the header describes it visits each item exactly once. */
static void test_iteration(void **state UNUSED)
{
    enum { N = 1000 };
    struct item *it = make_items(N, "it");
    int *seen = xcalloc(N, sizeof(*seen));
    struct hmap m;
    hmap_init(&m, item_key);
    for (size_t i = 0; i < N; i++)
        hmap_put(&m, &it[i]);
    for (size_t i = 0; i < N; i += 3)
        hmap_del(&m, it[i].key);
    for (size_t i = 0; i < m.cap; i++)
        if (m.slots[i])
            seen[((struct item *)m.slots[i])->value]++;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(seen[i], i % 3 == 0 ? 0 : 1);
    hmap_release(&m);
    free(seen);
    free(it);
}

/* The map's hash before it had a key (FNV-1a and MurmurHash3's finalizer):
 * anyone could compute ids against it. Kept here to make such ids. */
static uint32_t unkeyed_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* How far the item in slot i sits from its home slot. */
static size_t displacement(const struct hmap *m, size_t i)
{
    return (i - (m->hashes[i] & (m->cap - 1))) & (m->cap - 1);
}

/*
 * Hash flooding: 100,000 ids whose unkeyed hashes all have their homes in
 * the first 2^14 of 2^18 slots (and so in the first slots of every smaller
 * table) made one probe run of 100,000 items, and each insert walked it.
 * With the keyed hash they must spread like any ids: the longest probe
 * stays short.
 */
static void test_flood_ids_spread(void **state UNUSED)
{
    enum { N = 100000 };
    const uint32_t crowd = ((1u << 18) - 1) & ~((1u << 14) - 1);
    struct item *it = xcalloc(N, sizeof(*it));
    struct hmap m;
    size_t n = 0, worst = 0, total = 0, unkeyed_worst = 0;
    for (uint64_t k = 0; n < N; k++) {
        snprintf(it[n].key, sizeof(it[n].key), "f%llx", (unsigned long long)k);
        if (!(unkeyed_hash(it[n].key) & crowd))
            n++;
    }
    hmap_init(&m, item_key);
    for (size_t i = 0; i < N; i++)
        hmap_put(&m, &it[i]);
    for (size_t i = 0; i < m.cap; i++) {
        if (!m.slots[i])
            continue;
        size_t d = displacement(&m, i);
        total += d;
        worst = MAX(worst, d);
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(hmap_get(&m, it[i].key), &it[i]);
    /* The same ids under the unkeyed hash, for the record: their homes all
     * lie in the first 2^14 slots, so the last one sits about N - 2^14 away. */
    for (size_t i = 0; i < N; i++)
        unkeyed_worst = MAX(unkeyed_worst, (size_t)(unkeyed_hash(it[i].key) & (m.cap - 1)));
    print_message("cap %zu: longest probe %zu, mean %.2f (unkeyed: homes all below %zu)\n", m.cap,
                  worst, (double)total / N, unkeyed_worst + 1);
    /* At this fill (under 0.4) random homes give a mean below 1 and a
     * longest probe of a few dozen; the flood gave tens of thousands. */
    assert_true(total < 2 * (size_t)N);
    assert_true(worst < 500);
    hmap_release(&m);
    free(it);
}

/* Two processes hash differently: a key is drawn per process. Here, at
 * least, the hash is not the unkeyed one. */
static void test_hash_is_keyed(void **state UNUSED)
{
    enum { N = 64 };
    struct item *it = make_items(N, "t-");
    struct hmap m;
    int same = 0;
    hmap_init(&m, item_key);
    for (size_t i = 0; i < N; i++)
        hmap_put(&m, &it[i]);
    for (size_t i = 0; i < m.cap; i++)
        if (m.slots[i] && m.hashes[i] == unkeyed_hash(((struct item *)m.slots[i])->key))
            same++;
    assert_int_equal(same, 0);
    hmap_release(&m);
    free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_basic),
        cmocka_unit_test(test_growth),        cmocka_unit_test(test_random_delete_all),
        cmocka_unit_test(test_random_mixed),  cmocka_unit_test(test_delete_each_position),
        cmocka_unit_test(test_iteration),     cmocka_unit_test(test_flood_ids_spread),
        cmocka_unit_test(test_hash_is_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
