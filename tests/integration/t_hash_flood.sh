#!/usr/bin/env bash
# Hash flooding: 100,000 task ids crafted against the task map's old unkeyed
# hash (their homes all fall in the first 2^14 of 2^18 slots, so they made
# one probe run that every insert walked) are submitted in one
# `dtr submit --file`. The master's loop must keep serving: a worker with
# --worker-timeout 1500ms, beating every 200ms, is never declared dead while
# the submit runs (the old code stalled the loop for seconds), and every id
# is accepted.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=100000

# The ids: FNV-1a then MurmurHash3's finalizer, truncated to 32 bits (the
# map's hash before it had a key); keep those with bits 14..17 clear.
"$PY" - "$N" >flood.jsonl <<'EOF_PY' || die "could not make the ids"
import sys
M64 = (1 << 64) - 1
n = int(sys.argv[1])
crowd = ((1 << 18) - 1) & ~((1 << 14) - 1)
last = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
out, k = [], 0
while len(out) < n:
    pre = "f%x." % k
    k += 1
    h = 1469598103934665603
    for c in pre.encode():
        h = ((h ^ c) * 1099511628211) & M64
    for c in last:
        x = ((h ^ c) * 1099511628211) & M64
        x ^= x >> 33
        x = (x * 0xff51afd7ed558ccd) & M64
        x ^= x >> 33
        x = (x * 0xc4ceb9fe1a85ec53) & M64
        x ^= x >> 33
        if not (x & crowd):
            out.append(pre + chr(c))
for i in out[:n]:
    print('{"id":"%s","kind":"noop"}' % i)
EOF_PY
[ "$(wc -l <flood.jsonl)" -eq "$N" ] || die "made $(wc -l <flood.jsonl) ids, not $N"

start_master M --worker-timeout 1500ms
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "W1 registered" "workers_registered 1" || finish

dtr submit --file flood.jsonl >ids.out 2>ids.err &
SUB=$!
PIDS+=("$SUB")
wait_for "the submit of $N crafted ids to finish" "is_dead $SUB" 120 || finish
wait "$SUB"
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -l <ids.out)" -eq "$N" ] &&
    pass "the submit of $N crafted ids succeeded and printed every id" ||
    fail "submit: exit $rc, $(wc -l <ids.out) ids printed: $(head -c 300 ids.err)"

if grep -q 'worker declared dead' "$T/logs/master.log"; then
    fail "the master stalled during the submit: $(grep 'worker declared dead' "$T/logs/master.log")"
else
    pass "W1 was never declared dead during the submit (worker timeout 1.5s)"
fi
held=$(dtr status --json | "$PY" -c 'import json,sys; print(sum(json.load(sys.stdin)["tasks"].values()))' 2>/dev/null)
[ "$held" = "$((N))" ] && pass "the master holds all $N tasks" ||
    fail "the master holds '$held' tasks, expected $N: $(dtr status --json | head -c 300)"
finish
