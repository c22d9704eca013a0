#!/bin/sh
# SPDX-License-Identifier: MIT
# make uninstall: removes exactly the files listed in MANIFEST (CMake's
# install_manifest.txt from the last `make install`; its paths lack DESTDIR,
# so give the same DESTDIR as to the install), then the directories of dtr's own that are left empty
# (share/doc/dtr); shared directories such as man/man1 stay.
set -e
manifest=${1:?usage: uninstall.sh BUILD/install_manifest.txt}
if [ ! -f "$manifest" ]; then
    echo "uninstall: no '$manifest': nothing was installed from this build" >&2
    exit 1
fi
while IFS= read -r f || [ -n "$f" ]; do
    [ -n "$f" ] || continue
    f=${DESTDIR:-}$f
    if [ -e "$f" ] || [ -L "$f" ]; then
        rm -f -- "$f"
        echo "removed $f"
    fi
    d=$(dirname -- "$f")
    # what python3 compiled from an installed module of the dtr package
    case "$f" in */python3*/dtr/*.py)
        rm -f -- "$d/__pycache__/$(basename -- "$f" .py)".*.pyc
        rmdir -- "$d/__pycache__" 2>/dev/null || true ;;
    esac
    while case "$d" in */dtr | */dtr/*) true ;; *) false ;; esac do
        rmdir -- "$d" 2>/dev/null || break
        d=$(dirname -- "$d")
    done
done <"$manifest"
