/* SPDX-License-Identifier: MIT */
/*
 * The worker node: listens to be found by a master (and optionally dials
 * one), runs the attempts it is given, keeps each result until the master
 * acknowledges it, drains on SIGTERM, and exits with status 3 when its
 * master has been silent for --master-timeout.
 */
#ifndef DTR_WORKER_WORKER_H
#define DTR_WORKER_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "worker/wres.h"

struct worker_opts {
    const char *host;
    const char *port_range;
    const char *master; /* HOST:PORT to dial, or NULL */
    const char *id;
    int64_t slots;
    int64_t master_timeout_ms; /* 0 = never */
    const char *log_dir;
    double fail_rate;
    int64_t drain_timeout_ms;
    int64_t max_output; /* bytes streamed per stream and attempt; 0: no limit */
    const char *token_file;
    const char *tls_cert, *tls_key, *tls_ca; /* TLS on when tls_ca is set */
    bool insecure;                           /* may listen beyond loopback without a token */
    bool verbose;
    /* Resources (issue 13): --cpus, --mem, --gpus, --resource (the
     * explicit --slots, or 0, in res.slots), and --pin. */
    struct wres_flags res;
    bool pin;
    bool no_cgroups;         /* --no-cgroups: do not enforce memory limits */
    int64_t idle_timeout_ms; /* --idle-timeout: drain after this long without tasks; 0: never */
    int64_t lifetime_ms;     /* --lifetime: drain by then, start no task that would not fit */
};

/* Runs a worker until it drains or gives up on its master; returns the
 * process exit code (0 drained, 3 master gone, 1 start-up error). */
int worker_run(const struct worker_opts *opts);

#endif
