#!/usr/bin/env bash
# Progress output of `dtr wait` and `submit --wait` (issue 16's CLI
# conventions): the bar only when stderr is a terminal, nothing into pipes
# and logs; --quiet drops the bar and the summary line, not the exit status
# or submit's ids; --json on wait, submit --wait and cancel. The terminal is
# a pty made by Python's pty module.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
start_master M
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "the worker to register" "workers_registered 1"

# on_tty CMD...: runs CMD with stderr on a pty (stdout and stdin as given);
# what the pty showed goes to tty.out.
on_tty() {
    "$PY" - "$@" <<'PYEOF'
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stderr=s, stdin=subprocess.DEVNULL)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
rc = p.wait()
open("tty.out", "wb").write(out)
sys.exit(rc)
PYEOF
}

dtr submit --id a --array 1-5 -- true >/dev/null || die "submit failed"
dtr wait --all >o 2>e
rc=$?
[ $rc -eq 0 ] && [ ! -s e ] && grep -q '^5 tasks: 5 succeeded' o &&
    pass "wait into a pipe: no progress on stderr, the summary on stdout" ||
    fail "wait, pipe: rc $rc, stderr '$(cat e)', stdout '$(cat o)'"

on_tty "$DTR" wait --all >o
rc=$?
[ $rc -eq 0 ] && grep -q '\[#*\] 5/5 done, 0 failed' tty.out && grep -q '^5 tasks: 5 succeeded' o &&
    pass "wait on a terminal: the progress bar" || fail "wait, tty: rc $rc, tty '$(cat -v tty.out)'"

on_tty "$DTR" wait --all --quiet >o
rc=$?
[ $rc -eq 0 ] && [ ! -s tty.out ] && [ ! -s o ] && pass "wait --quiet on a terminal: nothing, exit 0" ||
    fail "wait --quiet: rc $rc, tty '$(cat -v tty.out)', stdout '$(cat o)'"

dtr submit --id b --wait -- false >o 2>e
rc=$?
[ $rc -eq 1 ] && [ ! -s e ] && grep -qx b o && grep -q '1 tasks: 0 succeeded, 1 failed' o &&
    pass "submit --wait into a pipe: ids and summary, no progress, exit 1 for a failure" ||
    fail "submit --wait, pipe: rc $rc, stderr '$(cat e)', stdout '$(cat o)'"

on_tty "$DTR" submit --id c --wait --quiet -- false >o
rc=$?
[ $rc -eq 1 ] && [ ! -s tty.out ] && [ "$(cat o)" = c ] &&
    pass "submit --wait --quiet: only the id, still exit 1" ||
    fail "submit --quiet: rc $rc, tty '$(cat -v tty.out)', stdout '$(cat o)'"

on_tty "$DTR" submit --id d --wait -- true >o
rc=$?
[ $rc -eq 0 ] && grep -q '1/1 done' tty.out && pass "submit --wait on a terminal: the progress bar" ||
    fail "submit --wait, tty: rc $rc, tty '$(cat -v tty.out)'"

# --json: one object, parsed by Python's json module.
# jget FILE EXPR: EXPR over d, the file's JSON lines; a tuple prints space-separated.
jget() {
    "$PY" -c 'import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
r = eval(sys.argv[2])
print(" ".join(map(str, r)) if isinstance(r, tuple) else r)' "$@" 2>&1
}
dtr wait --all --json >o 2>e
rc=$?
[ $rc -eq 1 ] && [ "$(jget o 'd[0]["total"], d[0]["failed"], d[0]["succeeded"], d[0]["timed_out"]')" = "8 2 6 False" ] &&
    pass "wait --json: {total, done, succeeded, failed, timed_out}" || fail "wait --json: rc $rc '$(cat o e)'"
dtr submit --id e --wait --json -- true >o 2>e
rc=$?
[ $rc -eq 0 ] && [ "$(jget o 'd[0]["tasks"], d[1]["succeeded"]')" = "['e'] 1" ] &&
    pass "submit --wait --json: the submit object, then the summary object" || fail "submit --wait --json: '$(cat o e)'"
dtr submit --id f -- sleep 30 >/dev/null
wait_for "f to run" "dtr tasks | grep -q '^f .*running'"
dtr wait f --json --timeout 300ms >o 2>e
rc=$?
[ $rc -eq 1 ] && [ "$(jget o 'd[0]["timed_out"], d[0]["total"]')" = "True 1" ] &&
    pass "wait --json --timeout: timed_out true, exit 1" || fail "wait timeout: rc $rc '$(cat o e)'"
dtr cancel f --json >o 2>e
rc=$?
[ $rc -eq 0 ] && [ "$(jget o 'd[0]["cancelled"], d[0]["error"]')" = "['f'] None" ] &&
    pass "cancel --json: {cancelled: [ids], error: null}" || fail "cancel --json: rc $rc '$(cat o e)'"
finish
