#!/usr/bin/env bash
# dtr --version: the version, the git commit baked in at build time (the
# checkout's HEAD here; "unknown" when the source has no .git, as from a
# tarball) and the enabled features.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"

dtr --version >o 2>e && [ ! -s e ] && pass "dtr --version exits 0, nothing on stderr" ||
    fail "dtr --version: '$(cat o e)'"
head -1 o | grep -Eq '^dtr [0-9]+\.[0-9]+\.[0-9]+$' && pass "first line: $(head -1 o)" ||
    fail "first line '$(head -1 o)'"
grep -q '^features: .*tls' o && pass "features name TLS: $(grep features o)" ||
    fail "no TLS feature in '$(cat o)'"
commit=$(sed -n 's/^commit: //p' o)
if git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then
    head=$(git -C "$SRC" rev-parse --short=12 HEAD)
    # HEAD itself, or an ancestor when commits came after the last build.
    c=${commit%-dirty}
    if [ "$c" = "$head" ]; then
        pass "commit is the checkout's HEAD ($commit)"
    elif git -C "$SRC" merge-base --is-ancestor "$c" HEAD 2>/dev/null; then
        pass "commit $commit is in HEAD's history (built before the latest commit)"
    else
        fail "commit '$commit' is not HEAD ($head) nor in its history"
    fi
else
    [ "$commit" = unknown ] && pass "no git checkout: commit unknown" || fail "commit '$commit'"
fi
dtr version >o2 && cmp -s o o2 && pass "'dtr version' says the same" || fail "dtr version differs"

# A source tree without .git (an unpacked tarball) bakes in "unknown".
mkdir tarball
cmake -DSRC="$T/tarball" -DOUT="$T/gen.h" -P "$SRC/cmake/build_info.cmake" &&
    grep -q 'DTR_GIT_COMMIT "unknown"' gen.h && pass "from a tarball the commit is unknown" ||
    fail "tarball header: '$(cat gen.h 2>&1)'"
finish
