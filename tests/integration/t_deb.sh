#!/usr/bin/env bash
# make deb: builds the Debian package of the committed tree (a copy in
# BUILD/deb; debhelper), lintian reports no error, and the package unpacked
# into a throw-away root holds the binary (its --version naming the commit),
# man pages that `man -l` renders, bash completion, the units and the
# example config. Skips, saying so, outside a git checkout.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
git -C "$SRC" rev-parse HEAD >/dev/null 2>&1 || { echo "skip: $SRC is not a git checkout"; finish; }
for tool in dpkg-buildpackage dh lintian; do
    command -v $tool >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

make -C "$SRC" deb BUILD="$T/b" >deb.log 2>&1 || die "make deb failed: $(tail -15 deb.log)"
deb=$(ls "$T"/b/deb/dtr_*.deb 2>/dev/null | head -1)
[ -f "$deb" ] && pass "make deb built $(basename "$deb")" || die "no .deb in $T/b/deb"
lintian "$T"/b/deb/*.changes >lintian.out 2>&1
grep -q '^E:' lintian.out && fail "lintian errors: $(grep '^E:' lintian.out | head -5)" ||
    pass "lintian: no errors ($(grep -c '^[WI]:' lintian.out) warnings/infos)"

mkdir root && dpkg -x "$deb" root || die "dpkg -x failed"
for f in usr/bin/dtr usr/share/man/man1/dtr.1.gz usr/share/man/man1/dtr-submit.1.gz \
    usr/share/bash-completion/completions/dtr lib/systemd/system/dtr-master.service \
    lib/systemd/system/dtr-worker@.service usr/share/doc/dtr/examples/dtr.conf \
    usr/share/doc/dtr/copyright; do
    [ -e "root/$f" ] || fail "the package lacks /$f"
done
pass "the package holds the binary, man pages, completion, units, example config and copyright"
root/usr/bin/dtr --version >v.out 2>&1
head=$(git -C "$SRC" rev-parse --short=12 HEAD)
grep -q '^dtr [0-9]' v.out && grep -q "^commit: $head" v.out &&
    pass "the packaged dtr --version names the commit ($head)" || fail "--version: $(cat v.out)"
MANWIDTH=80 man -l root/usr/share/man/man1/dtr-submit.1.gz >man.out 2>man.err </dev/null
grep -q -- '--priority' man.out && [ ! -s man.err ] && pass "man -l renders the packaged dtr-submit.1.gz" ||
    fail "man -l: $(head -3 man.err)"
grep -q '^ExecStart=/usr/bin/dtr master ' root/lib/systemd/system/dtr-master.service &&
    pass "the packaged master unit starts /usr/bin/dtr" ||
    fail "ExecStart: $(grep ExecStart root/lib/systemd/system/dtr-master.service)"
dpkg-deb -I "$deb" >info.out && grep -q 'postinst' info.out && dpkg-deb -e "$deb" ctl &&
    grep -q 'adduser --system' ctl/postinst && pass "postinst makes the dtr system user" ||
    fail "no postinst adding the dtr user"
finish
