/* SPDX-License-Identifier: MIT */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define DTR_OSSL_LOADER /* the real names here, for __typeof__ */
#include "net/ossl.h"

#include "common/dl.h"
#include "common/util.h"

struct ossl_api ossl;

int ossl_load(char *err, size_t errlen)
{
    static void *lib;
    /* libssl's handle finds libcrypto's symbols too: it depends on it. */
#define OSSL_NAME(name) #name,
#define OSSL_SLOT(name) (void **)&ossl.name,
    static const char *const names[] = {OSSL_FUNCTIONS(OSSL_NAME)};
    void **const slots[] = {OSSL_FUNCTIONS(OSSL_SLOT)};
#undef OSSL_NAME
#undef OSSL_SLOT
    if (!lib)
        lib = dl_load(DTR_SSL_SONAME, "TLS", "install OpenSSL's libssl", "install OpenSSL 3", names,
                      slots, ARRAY_SIZE(names), err, errlen);
    return lib ? 0 : -1;
}
