#!/usr/bin/env bash
# The Debian package installed for real: `make deb`, then `dpkg -i` on this
# machine, /usr/bin/dtr --version names the commit, `man -w` finds the
# pages under /usr/share/man, the systemd units and completion are in place,
# the dtr system user exists; then `dpkg -r` (or `dpkg -P` when the test
# made the dtr user) takes it all away again, also when a check fails. The
# installed master serves HTTP, loading libmicrohttpd by name.
# It changes the machine, so it runs only with DTR_TEST_DPKG=1 (.ci/run sets
# it for `make test`) and as root, and never over a dtr package already
# installed; otherwise it skips (exit 77) and says why. A dtr installed under
# /usr/local (make install) is left alone: the test names /usr paths only.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 77
}
[ "${DTR_TEST_DPKG:-}" = 1 ] ||
    skip "installs the .deb into this machine with dpkg -i; set DTR_TEST_DPKG=1 to allow it"
[ "$(id -u)" -eq 0 ] || skip "dpkg -i needs root"
git -C "$SRC" rev-parse HEAD >/dev/null 2>&1 || skip "$SRC is not a git checkout (make deb packs HEAD)"
command -v dpkg >/dev/null || skip "not a Debian system (no dpkg)"
if dpkg-query -W -f '${Status}' dtr 2>/dev/null | grep -q 'installed'; then
    skip "a dtr package is already installed here; not touching it"
fi
for tool in dpkg-buildpackage dh lintian man; do
    command -v $tool >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

make -C "$SRC" deb BUILD="$T/b" >deb.log 2>&1 || die "make deb failed: $(tail -15 deb.log)"
deb=$(ls "$T"/b/deb/dtr_*.deb 2>/dev/null | head -1)
[ -f "$deb" ] && pass "make deb built $(basename "$deb")" || die "no .deb in $T/b/deb"

# Whatever happens from here, the package goes again. The dtr user is
# purged with it only if this test's install made it.
had_user=
getent passwd dtr >/dev/null && had_user=1
INSTALLED=
remove_pkg() {
    [ -n "$INSTALLED" ] || return 0
    if [ -n "$had_user" ]; then
        dpkg -r dtr >remove.log 2>&1
    else
        dpkg -P dtr >remove.log 2>&1
    fi
}
# (cleanup reads the test's exit status from $?: give it back after remove_pkg)
trap 'r=$?; remove_pkg || { echo "FAIL: dpkg could not remove dtr: $(cat remove.log)"; r=1; }; (exit "$r"); cleanup' EXIT

INSTALLED=1
dpkg -i "$deb" >install.log 2>&1 && pass "dpkg -i $(basename "$deb")" ||
    die "dpkg -i failed: $(tail -n 8 install.log)"
dpkg-query -W -f '${Status}\n' dtr | grep -q 'install ok installed' &&
    pass "dpkg says: $(dpkg-query -W -f '${Package} ${Version} ${Status}' dtr)" ||
    fail "status: $(dpkg-query -W -f '${Status}' dtr 2>&1)"

/usr/bin/dtr --version >v.out 2>&1
head=$(git -C "$SRC" rev-parse --short=12 HEAD)
grep -q '^dtr [0-9]' v.out && grep -q "^commit: $head" v.out &&
    pass "/usr/bin/dtr --version: $(head -n 1 v.out), commit $head" || fail "--version: $(cat v.out)"
# The installed master serves HTTP: it loads libmicrohttpd at run time (the
# package names it in Depends, since the binary does not link it).
dpkg-query -W -f '${Depends}' dtr | grep -q 'libmicrohttpd12' &&
    pass "the package depends on libmicrohttpd12" || fail "Depends: $(dpkg-query -W -f '${Depends}' dtr)"
# And libssl, which it loads when TLS is turned on.
dpkg-query -W -f '${Depends}' dtr | grep -q 'libssl3' &&
    pass "the package depends on libssl3" || fail "Depends: $(dpkg-query -W -f '${Depends}' dtr)"
dpkg-query -W -f '${Depends}' dtr | grep -q 'libsqlite3-0' &&
    pass "the package depends on libsqlite3-0" || fail "Depends: $(dpkg-query -W -f '${Depends}' dtr)"
DTR=/usr/bin/dtr start_master P
U=$(cat "$T/state-P/http.addr" 2>/dev/null)
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "${U}api/v1/status")
[ "$code" = 200 ] && pass "the installed master serves HTTP at $U" ||
    fail "GET ${U}api/v1/status: '$code' ($(cat "$T/P.err"))"
kill "$P_PID" && wait "$P_PID" 2>/dev/null

# MANPATH: the packaged pages, not those of a /usr/local install
for page in dtr dtr-submit dtr-alloc; do
    got=$(MANPATH=/usr/share/man man -w "$page" 2>&1)
    [ "$got" = "/usr/share/man/man1/$page.1.gz" ] && pass "man -w $page: $got" ||
        fail "man -w $page: $got"
done
MANPATH=/usr/share/man MANWIDTH=80 man dtr-submit >man.out 2>man.err </dev/null
grep -q -- '--priority' man.out && pass "man dtr-submit renders" || fail "man dtr-submit: $(head -3 man.err)"
for f in /lib/systemd/system/dtr-master.service /lib/systemd/system/dtr-worker@.service \
    /usr/share/bash-completion/completions/dtr /usr/share/doc/dtr/examples/dtr.conf; do
    [ -f "$f" ] && dpkg -S "$f" 2>/dev/null | grep -q '^dtr:' || fail "$f is not dtr's"
done
pass "the units, the completion and the example config are installed and dpkg owns them"
grep -q '^ExecStart=/usr/bin/dtr master ' /lib/systemd/system/dtr-master.service &&
    pass "dtr-master.service runs /usr/bin/dtr" || fail "$(grep ExecStart /lib/systemd/system/dtr-master.service)"
getent passwd dtr >/dev/null && pass "the dtr system user exists: $(getent passwd dtr)" ||
    fail "no dtr user after install"
systemctl is-enabled dtr-master.service >/dev/null 2>&1 &&
    fail "dtr-master.service got enabled" || pass "the units are not enabled"

# The removal the trap would do, checked.
remove_pkg && INSTALLED= && pass "dpkg $([ -n "$had_user" ] && echo -r || echo -P) dtr" ||
    fail "removal: $(cat remove.log)"
[ ! -e /usr/bin/dtr ] && [ ! -e /lib/systemd/system/dtr-master.service ] &&
    [ ! -e /usr/share/man/man1/dtr.1.gz ] && pass "the files are gone" ||
    fail "left behind: $(ls -d /usr/bin/dtr /lib/systemd/system/dtr-* /usr/share/man/man1/dtr* 2>&1)"
if [ -z "$had_user" ]; then
    getent passwd dtr >/dev/null && fail "the dtr user outlived the purge" || pass "the dtr user is gone"
fi
finish
