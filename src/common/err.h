/* SPDX-License-Identifier: MIT */
/*
 * Error codes: a failing call returns a negative errno value, the same
 * convention as libuv, so uv errors pass through unchanged (uv_strerror()
 * describes both). 0 is success.
 */
#ifndef DTR_COMMON_ERR_H
#define DTR_COMMON_ERR_H

#include <errno.h>

#define DTR_EINVAL (-EINVAL) /* malformed input */
#define DTR_ENOMEM (-ENOMEM)
#define DTR_EMSGSIZE (-EMSGSIZE) /* a line or field over its limit */
#define DTR_EPROTO (-EPROTO)     /* a peer broke the protocol */
#define DTR_EACCES (-EACCES)     /* authentication failed */
#define DTR_EIO (-EIO)           /* the journal could not be written */
#define DTR_EEXIST (-EEXIST)     /* duplicate id */
#define DTR_ENOENT (-ENOENT)     /* unknown id */

#endif
