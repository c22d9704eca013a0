#!/usr/bin/env bash
# make install / make uninstall, as the top Makefile runs them (cmake --install
# with PREFIX and DESTDIR; scripts/uninstall.sh over install_manifest.txt):
# the tree under a DESTDIR, the installed dtr runs, man -l renders an
# installed page, and uninstall removes every file it put there and no other.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
BUILD=$(dirname "$DTR")
[ -f "$BUILD/cmake_install.cmake" ] || die "no $BUILD/cmake_install.cmake"
# Keep the developer's own manifest (from a real make install) as it was.
MANIFEST=$BUILD/install_manifest.txt
[ -f "$MANIFEST" ] && cp -p "$MANIFEST" "$T/manifest.saved"
restore_manifest() {
    if [ -f "$T/manifest.saved" ]; then cp -p "$T/manifest.saved" "$MANIFEST"; else rm -f "$MANIFEST"; fi
}
trap 'rc=$?; restore_manifest; (exit $rc); cleanup' EXIT

D=$T/dest
P=/opt/dtr-test
mkdir -p "$D$P/share/man/man1" && touch "$D$P/share/man/man1/other.1" # not ours
DESTDIR=$D cmake --install "$BUILD" --prefix "$P" >install.out 2>&1 ||
    die "cmake --install failed: $(tail -5 install.out)"
pass "installed into DESTDIR $D, PREFIX $P"

for f in bin/dtr share/man/man1/dtr.1 share/man/man1/dtr-submit.1 share/man/man1/dtr-master.1 \
    share/man/man1/dtr-worker.1 share/bash-completion/completions/dtr share/doc/dtr/README.md \
    share/doc/dtr/protocol.md share/doc/dtr/examples/dtr.conf lib/systemd/system/dtr-master.service \
    lib/systemd/system/dtr-worker@.service; do
    [ -f "$D$P/$f" ] || fail "missing $P/$f"
done
[ -x "$D$P/bin/dtr" ] && pass "the tree has the binary, man pages, completion and docs" ||
    fail "bin/dtr not executable"
grep -q "^ExecStart=$P/bin/dtr master " "$D$P/lib/systemd/system/dtr-master.service" &&
    grep -q "^ExecStart=$P/bin/dtr worker " "$D$P/lib/systemd/system/dtr-worker@.service" &&
    pass "the units start $P/bin/dtr (the install's prefix)" ||
    fail "ExecStart: $(grep -h ExecStart "$D$P"/lib/systemd/system/*)"
n_man=$(ls "$D$P/share/man/man1" | grep -c '^dtr')
n_cmds=$("$DTR" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{n++} END{print n}')
[ "$n_man" -eq $((n_cmds + 1)) ] && pass "one man page per command and dtr.1 ($n_man)" ||
    fail "$n_man man pages for $n_cmds commands"

"$D$P/bin/dtr" --version >v.out 2>&1 && head -1 v.out | grep -q '^dtr [0-9]' &&
    pass "installed dtr --version: $(head -1 v.out)" || fail "installed dtr --version: $(cat v.out)"
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$D$P/share/man/man1/dtr-submit.1" >man.out 2>man.err </dev/null
    grep -q -- '--priority' man.out && [ ! -s man.err ] && pass "man -l renders the installed dtr-submit.1" ||
        fail "man -l: $(head -3 man.err)"
fi
sed 's/^# \([a-z-]* = \)/\1/' "$D$P/share/doc/dtr/examples/dtr.conf" >ex.conf
grep -q '^port = ' ex.conf && "$D$P/bin/dtr" master --config ex.conf --port x >ex.out 2>&1
grep -q -- "--port: 'x' is not an integer" ex.out &&
    pass "the example config, uncommented, has only keys dtr master knows" ||
    fail "example config: $(cat ex.out)"
# The installed completion file is the one a login shell would load.
(
    . /usr/share/bash-completion/bash_completion 2>/dev/null
    . "$D$P/share/bash-completion/completions/dtr" && complete -p dtr
) >comp.out 2>&1 && grep -q -- '-F _dtr dtr' comp.out && pass "installed completion registers _dtr" ||
    fail "completion: $(cat comp.out)"

# The Python package, where python3 looks under the prefix (lib/python3.X/
# dist-packages on Debian), imports from there (python3 compiles it into
# __pycache__, which uninstall takes too).
PYDIR=$(cd "$D$P" && ls -d lib/python3*/*-packages 2>/dev/null | head -1)
[ -n "$PYDIR" ] && [ -f "$D$P/$PYDIR/dtr/client.py" ] || fail "no Python package under $P/lib/python3*"
(cd "$T" && PYTHONPATH=$D$P/$PYDIR /usr/bin/python3 -c 'import dtr, dtr.client; print(dtr.__file__)') \
    >py.out 2>&1 && grep -q "^$D$P/$PYDIR/dtr/__init__.py" py.out &&
    pass "python3 imports the installed package from $P/$PYDIR" || fail "import dtr: $(cat py.out)"

# Every installed file is in the manifest; uninstall removes exactly those.
(cd "$D" && find . -type f | sed 's/^\.//' | grep -v -e '/other.1$' -e '/__pycache__/' | sort) >tree.txt
sort "$MANIFEST" >manifest.txt
cmp -s tree.txt manifest.txt && pass "install_manifest.txt lists every installed file ($(wc -l <tree.txt))" ||
    fail "manifest and tree differ: $(diff tree.txt manifest.txt | head -5)"
DESTDIR=$D sh "$SRC/scripts/uninstall.sh" "$MANIFEST" >uninstall.out 2>&1 || fail "uninstall failed: $(cat uninstall.out)"
left=$(cd "$D" && find . -type f)
[ "$left" = "./opt/dtr-test/share/man/man1/other.1" ] &&
    pass "uninstall removed every installed file and kept another package's" || fail "left: $left"
[ ! -e "$D$P/share/doc/dtr" ] && [ -d "$D$P/share/man/man1" ] &&
    pass "uninstall removed share/doc/dtr, kept the shared man1" || fail "directories: $(cd "$D" && find . -type d)"
[ ! -e "$D$P/$PYDIR/dtr" ] && pass "uninstall removed the Python package and its bytecode" ||
    fail "left: $(cd "$D$P/$PYDIR" && find dtr)"

# With PREFIX=/usr/local the package lands where Debian's python3 imports
# from without PYTHONPATH.
D2=$T/dest2
DESTDIR=$D2 cmake --install "$BUILD" --prefix /usr/local >install2.out 2>&1 ||
    die "cmake --install --prefix /usr/local failed: $(tail -5 install2.out)"
init=$(cd "$D2" && ls usr/local/lib/python3*/*-packages/dtr/__init__.py 2>/dev/null | head -1)
dir=/${init%/dtr/__init__.py}
/usr/bin/python3 -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$dir" &&
    pass "PREFIX=/usr/local installs it into $dir, on /usr/bin/python3's path" ||
    fail "PREFIX=/usr/local put it at '/$init', not on python3's path"
finish
