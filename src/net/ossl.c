/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define DTR_OSSL_LOADER /* the real names here, for __typeof__ */
#include "net/ossl.h"

struct ossl_api ossl;

int ossl_load(char *err, size_t errlen)
{
    static void *lib;
    if (lib)
        return 0;
    /* libssl's handle finds libcrypto's symbols too: it depends on it. */
    void *h = dlopen(DTR_SSL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load %s for TLS (%s): install OpenSSL's libssl",
                 DTR_SSL_SONAME, dlerror());
        return -1;
    }
    /* POSIX's way to turn dlsym()'s object pointer into a function's. */
#define OSSL_LOAD(name)                                                                            \
    if (!(*(void **)&ossl.name = dlsym(h, #name))) {                                               \
        snprintf(err, errlen, "%s has no " #name ": install OpenSSL 3", DTR_SSL_SONAME);           \
        dlclose(h);                                                                                \
        return -1;                                                                                 \
    }
    OSSL_FUNCTIONS(OSSL_LOAD)
#undef OSSL_LOAD
    lib = h;
    return 0;
}
