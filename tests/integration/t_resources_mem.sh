#!/usr/bin/env bash
# Memory limits (issue 13): where the worker can make cgroups, a task that
# allocates past its --mem is killed and fails with "out of memory (limit
# 64M)" (under the standard retry rules); one within its limit succeeds.
# A worker with --no-cgroups says once that limits are not enforced, and the
# same task runs to the end there (memory is only accounted). Needs
# /usr/bin/python3 for the allocations.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker WE --master "$M_ADDR" --cpus 2 --mem 2G --resource enforced=10
start_worker WN --master "$M_ADDR" --cpus 2 --mem 2G --resource loose=10 --no-cgroups
wait_for "2 workers registered" "workers_registered 2" || finish

hog='import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b"x" * len(b[::4096]); print(len(b))'
grep -q "memory limits are not enforced (--no-cgroups)" "$T/logs/worker-WN.log" &&
    pass "WN says limits are not enforced" || fail "WN log: $(grep -i cgroup "$T/logs/worker-WN.log")"
dtr submit --id loose-hog --mem 64M --resource loose=1 --retries 0 -- /usr/bin/python3 -c "$hog" 300 >/dev/null ||
    fail "submit loose-hog"
dtr wait loose-hog --timeout 60s >/dev/null && pass "without cgroups the task runs past its --mem" ||
    fail "loose-hog: $(dtr result loose-hog --json)"

if grep -q "memory limits enforced with cgroups" "$T/logs/worker-WE.log"; then
    dtr submit --id hog --mem 64M --resource enforced=1 --retries 1 -- /usr/bin/python3 -c "$hog" 300 >/dev/null ||
        fail "submit hog"
    dtr submit --id fits --mem 256M --resource enforced=1 --retries 0 -- /usr/bin/python3 -c "$hog" 32 >/dev/null ||
        fail "submit fits"
    dtr wait fits --timeout 60s >/dev/null && pass "a task within its limit succeeds" ||
        fail "fits: $(dtr result fits --json)"
    dtr wait hog --timeout 60s >/dev/null && fail "hog succeeded past its limit"
    dtr result hog --json >hog.json
    grep -q '"state":"failed"' hog.json && grep -q 'out of memory (limit 64M)"' hog.json &&
        pass "hog failed: out of memory (limit 64M)" || fail "hog: $(cat hog.json)"
    grep -q '"attempts":2' hog.json && pass "retried by the usual rules (2 attempts)" ||
        fail "hog attempts: $(cat hog.json)"
    ls -d /sys/fs/cgroup/memory/*/dtr-"$WE_PID"-* /sys/fs/cgroup/memory/*/*/dtr-"$WE_PID"-* 2>/dev/null |
        grep -q . && fail "task cgroups left behind" || pass "task cgroups removed"
else
    echo "skipped: enforcement (this host: $(grep -o 'not enforced ([^)]*)' "$T/logs/worker-WE.log"))"
fi
finish
