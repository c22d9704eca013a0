/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd, loaded by the master when it starts its HTTP server
 * (mhd_load()) rather than linked. Linked, it and the GnuTLS it needs were
 * half of every dtr command's start-up (2.7 ms of 5.6 ms), and most of the
 * gap between `dtr submit --wait` and xargs; a command never serves HTTP.
 * http.c calls the library through `mhd`, with the library's own types.
 */
#ifndef DTR_HTTP_MHD_H
#define DTR_HTTP_MHD_H

#include <stddef.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* Every function http.c calls. */
#define MHD_FUNCTIONS(X)                                                                           \
    X(start_daemon)                                                                                \
    X(stop_daemon)                                                                                 \
    X(run)                                                                                         \
    X(get_timeout)                                                                                 \
    X(get_daemon_info)                                                                             \
    X(is_feature_supported)                                                                        \
    X(get_connection_info)                                                                         \
    X(get_connection_values)                                                                       \
    X(lookup_connection_value)                                                                     \
    X(suspend_connection)                                                                          \
    X(resume_connection)                                                                           \
    X(create_response_from_buffer)                                                                 \
    X(create_response_from_callback)                                                               \
    X(add_response_header)                                                                         \
    X(queue_response)                                                                              \
    X(destroy_response)

struct mhd_api {
#define MHD_API_FIELD(name) __typeof__(&MHD_##name) name;
    MHD_FUNCTIONS(MHD_API_FIELD)
#undef MHD_API_FIELD
};

extern struct mhd_api mhd;

/* Loads the library (once). Returns 0, or non-zero with err saying what to
 * install. */
int mhd_load(char *err, size_t errlen);

#endif
