/* SPDX-License-Identifier: MIT */
/*
 * The dashboard's files (src/http/dashboard/), compiled into the binary by
 * cmake/embed.cmake: GET / serves index.html, which loads dash.js and
 * dash.css from the same origin. Nothing is fetched from elsewhere, so the
 * page works offline; the data comes from the API with the token.
 */
#include "http/dashboard.h"

#include <string.h>

extern const unsigned char dash_index_html[], dash_dash_js[], dash_dash_css[];
extern const size_t dash_index_html_len, dash_dash_js_len, dash_dash_css_len;

const struct dash_file *dashboard_find(const char *path)
{
    static struct dash_file files[3];
    if (!files[0].path) {
        files[0] = (struct dash_file){"/", "text/html; charset=utf-8", dash_index_html,
                                      dash_index_html_len};
        files[1] = (struct dash_file){"/dash.js", "text/javascript; charset=utf-8", dash_dash_js,
                                      dash_dash_js_len};
        files[2] = (struct dash_file){"/dash.css", "text/css; charset=utf-8", dash_dash_css,
                                      dash_dash_css_len};
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (!strcmp(path, files[i].path))
            return &files[i];
    return NULL;
}
