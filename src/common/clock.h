/* SPDX-License-Identifier: MIT */
/* Wall-clock time for timestamps, and its ISO-8601 form. Pure modules never
 * call these: time is passed in. */
#ifndef DTR_COMMON_CLOCK_H
#define DTR_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);
/* Milliseconds from an arbitrary origin (CLOCK_MONOTONIC). */
int64_t clock_mono_ms(void);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) for ms since the epoch; out needs 25 bytes. */
#define CLOCK_ISO_LEN 25
void clock_iso8601(int64_t ms, char *out, size_t outlen);

#endif
