#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what `make fuzz` needs beyond the normal build: clang and its
# libFuzzer runtime (Debian: clang, libclang-rt-N-dev), when missing.
set -e
CC_FUZZ=${CC_FUZZ:-clang}
probe() {
    tmp=$(mktemp -d)
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$tmp/probe.c"
    ok=0
    "$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" \
        >/dev/null 2>&1 && ok=1
    rm -rf "$tmp"
    [ "$ok" = 1 ]
}
command -v "$CC_FUZZ" >/dev/null 2>&1 && probe && exit 0

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
pkgs=""
command -v "$CC_FUZZ" >/dev/null 2>&1 || pkgs="clang"
$sudo apt-get update -qq
if [ -n "$pkgs" ]; then
    echo "installing: $pkgs" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $pkgs >/dev/null
fi
if ! probe; then
    major=$("$CC_FUZZ" -dumpversion | cut -d. -f1)
    echo "installing: libclang-rt-$major-dev (libFuzzer)" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "libclang-rt-$major-dev" >/dev/null
fi
probe || { echo "$CC_FUZZ cannot build with -fsanitize=fuzzer; install libFuzzer" >&2; exit 1; }
