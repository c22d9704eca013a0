/* SPDX-License-Identifier: MIT */
/* The libFuzzer entry point every fuzz target defines. With clang it is
 * driven by libFuzzer (make fuzz); with gcc, replay.c calls it once for each
 * file of a corpus directory (the fuzz/ tests in CTest). */
#ifndef DTR_TESTS_FUZZ_H
#define DTR_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; aborts (through FUZZ_CHECK) when a property fails. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed property is a crash, so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

__attribute__((noreturn)) static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    abort();
}

#endif
