/* SPDX-License-Identifier: MIT */
/* The dashboard's embedded files (dashboard.c). */
#ifndef DTR_HTTP_DASHBOARD_H
#define DTR_HTTP_DASHBOARD_H

#include <stddef.h>

struct dash_file {
    const char *path, *ctype;
    const unsigned char *data;
    size_t len;
};

/* The file served at path ("/", "/dash.js", "/dash.css"), or NULL. */
const struct dash_file *dashboard_find(const char *path);

#endif
