#!/usr/bin/env bash
# Man pages: generated at build time into BUILD/man from the flag tables
# (dtr __man), each renders with `groff -ww` without a warning and with
# `man -l`, and every flag that `dtr COMMAND --help` lists is in its page.
. "$(dirname "$0")/lib.sh"
MAN=$(dirname "$DTR")/man
command -v groff >/dev/null || die "groff is not installed (scripts/install-deps.sh installs it)"
[ -f "$MAN/dtr.1" ] || die "no $MAN/dtr.1: the build did not generate the man pages"

# The commands, as `dtr --help` lists them.
cmds=$(dtr --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}')
[ -n "$cmds" ] || die "no commands in dtr --help"

render() { # render PAGE OUT: groff -ww, warnings in OUT.warn
    groff -ww -man -Tutf8 "$1" >"$2" 2>"$2.warn"
}

render "$MAN/dtr.1" dtr.txt
[ ! -s dtr.txt.warn ] && pass "dtr.1 renders without warnings" || fail "dtr.1: $(head -5 dtr.txt.warn)"
for c in $cmds; do
    page=$MAN/dtr-$c.1
    [ -f "$page" ] || { fail "no man page dtr-$c.1"; continue; }
    grep -q "dtr-$c" <(col -b <dtr.txt) || fail "dtr(1) does not list dtr-$c"
    dtr __man "$c" | cmp -s - "$page" && pass "dtr-$c.1 is what 'dtr __man $c' prints" ||
        fail "dtr-$c.1 differs from 'dtr __man $c' (stale build?)"
    render "$page" "$c.txt"
    [ ! -s "$c.txt.warn" ] && pass "dtr-$c.1 renders without warnings" ||
        fail "dtr-$c.1: $(head -5 "$c.txt.warn")"
    col -b <"$c.txt" >"$c.plain"
    # Every flag of --help, long and short, is in the page.
    dtr "$c" --help | grep -oE '^  (-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--?[a-zA-Z0-9-]+' |
        sort -u >"$c.flags"
    missing=""
    while read -r flag; do
        grep -qe "$flag\\b" "$c.plain" || missing="$missing $flag"
    done <"$c.flags"
    n=$(wc -l <"$c.flags")
    [ -z "$missing" ] && pass "dtr-$c(1) has all $n flags of 'dtr $c --help'" ||
        fail "dtr-$c(1) lacks:$missing"
done
grep -q -- '--priority' submit.plain && grep -q 'PRIO' submit.plain &&
    pass "dtr-submit(1) shows --priority PRIO" || fail "dtr-submit(1) lacks --priority PRIO"

# man -l renders a page the way a user reads it.
if command -v man >/dev/null; then
    MANWIDTH=80 man -l "$MAN/dtr-submit.1" >man.txt 2>man.err </dev/null
    grep -q 'dtr-submit' man.txt && [ ! -s man.err ] && pass "man -l dtr-submit.1 renders" ||
        fail "man -l: $(head -3 man.err)"
fi

dtr __man nosuch >o 2>e
[ $? -eq 2 ] && grep -q "unknown command 'nosuch'" e && pass "__man with an unknown command: exit 2" ||
    fail "__man nosuch: '$(cat e)'"
finish
