/* SPDX-License-Identifier: MIT */
/*
 * A group member re-seeded from a snapshot has the journal but not the
 * output files of the attempts before it (a snapshot is the journal image
 * only: output can be GBs). The catch-up fetches them from the leader in
 * the background (docs/architecture.md, "Master group"): a thread, a
 * client of the leader's client address like `dtr logs` (the member's
 * token and TLS files), one attempt at a time, each piece written at its
 * offset into the member's own output file, the same bytes the replicated
 * entries write, so it does not matter which comes first. It stops when
 * done, when this member starts leading (logging what is still missing),
 * or when the member stops.
 */
#ifndef DTR_GROUP_CATCHUP_H
#define DTR_GROUP_CATCHUP_H

#include <stdint.h>

#include "journal/journal.h"

struct catchup;

/* The member's credentials as a client of the leader. */
struct catchup_creds {
    const char *token; /* NULL: none */
    const char *tls_cert, *tls_key, *tls_ca;
};

/*
 * Lists, from the journal just restored (j is the caller's: the writer
 * settled), every attempt whose output the master keeps, and starts the
 * thread that fetches what output_dir lacks of them. The list is a few
 * numbers and the task id per attempt: less than the snapshot it comes
 * from. Returns NULL when the journal has no such attempt.
 */
struct catchup *catchup_start(struct journal *j, const char *output_dir,
                              const struct catchup_creds *cr);
/* From the loop: the client address of the current leader (NULL: none
 * known, an election). */
void catchup_leader(struct catchup *cu, const char *client_addr);
/* This member leads now: nothing more is written (the master owns the
 * output files from here on); the thread logs what is still missing and
 * ends. Returns once no write is under way. NULL is a no-op. */
void catchup_lead(struct catchup *cu);
/* Stops the thread, waits for it and frees. NULL is a no-op. */
void catchup_free(struct catchup *cu);
/* From outputs_replica_drop() (the journal writer's thread), before the
 * files go: an attempt pruned meanwhile is not fetched (or written) again. */
void catchup_dropped(uint64_t lease);
/* From outputs_replica_write() (the journal writer's thread): a piece of
 * the attempt's output was written past the end of its file, so the
 * pieces before it are missing here (they were in a snapshot): the
 * catch-up fetches that attempt whole, whatever its file's size. */
void catchup_gap(uint64_t lease);

#endif
