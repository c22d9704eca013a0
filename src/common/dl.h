/* SPDX-License-Identifier: MIT */
/*
 * Loads a shared library that dtr needs only for some of its work (OpenSSL
 * for TLS, libmicrohttpd for the HTTP API), when that work first needs it:
 * the library and every function it must have, or a message that says what
 * to install.
 */
#ifndef DTR_COMMON_DL_H
#define DTR_COMMON_DL_H

#include <stddef.h>

/*
 * dlopen()s soname and resolves names[i] into *slots[i] (the address of a
 * function pointer, as POSIX lets dlsym() fill one), for i < n. Returns the
 * handle, or NULL with err set: "cannot load SONAME for WHAT (why):
 * OPEN_HINT", or "SONAME has no NAME: SYM_HINT".
 */
void *dl_load(const char *soname, const char *what, const char *open_hint, const char *sym_hint,
              const char *const *names, void **const *slots, size_t n, char *err, size_t errlen);

#endif
