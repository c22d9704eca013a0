/* SPDX-License-Identifier: MIT */
/*
 * The output writer: a thread that appends task output to its files, so
 * that a slow disk does not stall the master's loop (dispatch, heartbeats,
 * replies). The loop queues copies of the pieces (owriter_write), in order;
 * the thread write()s them, and at an attempt's end fdatasync()s and
 * closes its files (owriter_sync_close). Each queued operation has a
 * sequence number; the journal writer waits, before the commit that
 * records the attempt's result (and so before its acknowledgement), until
 * the thread has done that attempt's sync (owriter_wait, through
 * jwriter_wait). Queued bytes are bounded: past OWRITER_MAX_QUEUED the
 * loop waits for the thread.
 *
 * DTR_TEST_OUTPUT_DELAY_US=N in the environment (tests only) makes each
 * write wait N µs per 64 KiB first (N at most 1 s): a slow disk.
 *
 * Failure is final: after a failed write() or fdatasync() the thread
 * writes nothing more (it still closes files), and every owriter_wait()
 * fails, so the journal commit that depends on it fails and the master
 * stops as for any journal failure: nothing is acknowledged whose output
 * is not on disk.
 */
#ifndef DTR_MASTER_OWRITER_H
#define DTR_MASTER_OWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The loop waits while this many bytes of output are queued (a hard
 * bound: before that, the master stops reading the connections that send
 * output at OWRITER_HOLD bytes and reads them again below OWRITER_RESUME). */
#define OWRITER_MAX_QUEUED (16u * 1024 * 1024)
#define OWRITER_HOLD (8u * 1024 * 1024)
#define OWRITER_RESUME (2u * 1024 * 1024)

struct owriter;

/* Starts the thread; NULL with err when it cannot. wake(data), when not
 * NULL, is called from the thread whenever it has done everything queued
 * while the loop wants it (owriter_want_wake(): so the loop serves `dtr
 * logs` sessions the bytes just written, or reads held workers again). */
struct owriter *owriter_start(void (*wake)(void *data), void *data, char *err, size_t errlen);
/* Does everything queued, then stops and joins the thread. NULL: no-op. */
void owriter_stop(struct owriter *w);

/* Queues a copy of data[0..len) to append to fd (opened O_APPEND; the
 * loop keeps fd open until it queues its close). what names the file in
 * a failure's message. Waits first while OWRITER_MAX_QUEUED bytes are
 * queued. Returns the operation's sequence number. */
uint64_t owriter_write(struct owriter *w, int fd, const char *what, const void *data, size_t len);
/* The same without a copy: takes mem (malloc()ed; freed once written),
 * and appends data[0..len), which lies in it, ending the file at offset
 * end (the caller keeps the size: what lies far behind it leaves the page
 * cache, file_drop_behind()). */
uint64_t owriter_write_owned(struct owriter *w, int fd, const char *what, void *mem,
                             const char *data, size_t len, uint64_t end);
/* Whether the loop has a use for wake() (it sets this before it looks at
 * what is queued): a wake-up per write otherwise costs the loop a turn. */
void owriter_want_wake(struct owriter *w, bool want);
/* Queues fdatasync(fd) then close(fd) (takes fd); its sequence number. */
uint64_t owriter_sync_close(struct owriter *w, int fd, const char *what);
/* Queues close(fd) without a sync (the master is stopping). */
void owriter_close(struct owriter *w, int fd);

/* Waits until operation seq is done. Returns 0, or -1 with err once the
 * writer has failed. The signature is jwriter_wait()'s. */
int owriter_wait(void *w, uint64_t seq, char *err, size_t errlen);
/* Bytes queued and not yet written (for tests and metrics). */
size_t owriter_queued(struct owriter *w);

#endif
