/* SPDX-License-Identifier: MIT */
/*
 * systemd's service notification protocol (sd_notify(3)), spoken directly:
 * one datagram to the unix socket in $NOTIFY_SOCKET, so dtr needs no
 * libsystemd. Every call does nothing when the variable is unset (not
 * started by systemd with Type=notify) and never fails the caller.
 */
#ifndef DTR_COMMON_NOTIFY_H
#define DTR_COMMON_NOTIFY_H

#include <stdint.h>

/* "READY=1" with a STATUS naming the address: call once the node listens. */
void notify_ready(const char *addr);
/* "STOPPING=1": shutdown or draining has begun. */
void notify_stopping(void);
/* From the loop's periodic tick: "WATCHDOG=1" every half $WATCHDOG_USEC
 * (when set, and $WATCHDOG_PID, when set, is this process). */
void notify_tick(int64_t now_ms);

#endif
