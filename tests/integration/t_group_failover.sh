#!/usr/bin/env bash
# A master group of three on loopback. The leader is killed with SIGKILL
# while 2,000 tasks run: another member leads, the workers come to it, every
# task succeeds exactly once and the output of tasks that ended under the
# old leader is still there. The killed member comes back with an empty
# state dir and is re-seeded: it catches up, and the group then commits
# with it while another member is down.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=2000
# Every member, worker and client proves the same token (the replication
# port too).
export DTR_TOKEN=group-failover-secret
# Snapshots every 64 entries: the member re-seeded below catches up from one.
export DTR_GROUP_SNAPSHOT_EVERY=64
# Every member's ports (3 for replication, 3 for clients) below the
# kernel's ephemeral range (32768-60999) and below lib.sh's blocks (20000
# on): a port in the ephemeral range may be some connection's source port
# when a member comes to listen on it (a member dialing one nobody listens
# on yet can even be given that very port: a TCP self-connect).
group_at $((10000 + ($$ % 800) * 6))

use_leader() {
    L=$(leader)
}

for i in 1 2 3; do start_member "$i"; done
wait_for "a leader elected" "leader" 20 || finish
use_leader
pass "member $L leads the group at $(cat "state-$L/master.addr")"
for i in 1 2 3; do
    [ "$i" = "$L" ] && continue
    grep -q "following" "m$i.out" || fail "member $i does not say it follows: $(cat "m$i.out")"
done

start_worker W1 --slots 4 --master "$LIST"
start_worker W2 --slots 4 --master "$LIST"
wait_for "two workers registered" "workers_registered 2" 20 || finish

: >done.txt
dtr submit --id job --array "1-$N" --retries 0 -- \
    sh -c "echo \$DTR_TASK_ID >> '$T/done.txt'; echo out-\$DTR_TASK_ID" >ids.txt ||
    die "submit failed"
[ "$(wc -l <ids.txt)" -eq "$N" ] || die "submit printed $(wc -l <ids.txt) ids, expected $N"

wait_for "some tasks done" "[ \$(count_state succeeded) -ge 300 ]" 60 || finish
early=$(dtr tasks --state succeeded --json | $PY -c '
import json, sys
ids = [json.loads(l)["id"] for l in sys.stdin if l.strip()]
print(" ".join(sorted(ids)[:20]))')
OLD=$L
kill -9 "$(eval echo "\$M${OLD}_PID")"
wait "$(eval echo "\$M${OLD}_PID")" 2>/dev/null
at_kill=$(wc -l <done.txt)
pass "leader $OLD killed with SIGKILL mid-run ($at_kill of $N tasks had run)"
[ "$at_kill" -lt "$N" ] || fail "the run was already over at the kill; the test proves little"

wait_for "another member leads" "use_leader" 30 || finish
[ "$L" != "$OLD" ] && pass "member $L leads now" || fail "member $OLD still leads?"
wait_for "status shows leader $L" "dtr status --json | grep -q '\"leader\":$L'" 20 &&
    pass "status shows the group with leader $L"

dtr wait --all --timeout 180s >wait.out 2>&1 && pass "dtr wait --all: every task succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
[ "$(count_state succeeded)" = "$N" ] && pass "the new leader reports $N succeeded" ||
    fail "status: $(dtr status --json)"

"$PY" - done.txt "$N" <<'PYEOF' >dups.out
import collections, sys
c = collections.Counter(l.strip() for l in open(sys.argv[1]) if l.strip())
n = int(sys.argv[2])
missing = [i for i in range(1, n + 1) if c["job-%d" % i] == 0]
dups = [k for k, v in c.items() if v > 1]
print("missing=%d dups=%d" % (len(missing), len(dups)))
print("dups: " + " ".join(dups[:20]))
PYEOF
grep -q "missing=0 dups=0" dups.out && pass "every task ran exactly once" || fail "$(cat dups.out)"

# Output of tasks that ended under the old leader: the new one has it.
bad=0
for id in $early; do
    out=$(dtr result "$id") || { bad=$((bad + 1)); echo "dtr result $id failed"; continue; }
    [ "$out" = "out-$id" ] || { bad=$((bad + 1)); echo "$id: '$out'"; }
done
[ -n "$early" ] && [ "$bad" -eq 0 ] && pass "output of tasks ended before the failover is kept" ||
    fail "$bad bad results among: $early"

# The killed member comes back empty and is re-seeded.
rm -rf "$T/state-$OLD"
start_member "$OLD"
wait_for "member $OLD caught up (lag 0)" \
    "dtr status --json | $PY -c 'import json,sys; g=json.load(sys.stdin)[\"group\"]; sys.exit(not [m for m in g[\"members\"] if m[\"id\"]==$OLD and m.get(\"lag\")==0])'" 60 || finish
pass "member $OLD, restarted empty, caught up with the log"
# With the third member down, the leader needs the re-seeded one to commit.
for i in 1 2 3; do
    [ "$i" = "$L" ] || [ "$i" = "$OLD" ] || { kill -9 "$(eval echo "\$M${i}_PID")"; OTHER=$i; }
done
pass "member $OTHER killed: the group is the leader and the re-seeded member"
dtr submit --wait -- echo after-reseed >after.out 2>after.err && id=$(head -n 1 after.out) &&
    [ "$(dtr result "$id")" = after-reseed ] &&
    pass "a task submitted now commits and runs" || fail "submit --wait: $id $(cat after.err)"
[ "$(dtr result job-1)" = "out-job-1" ] && pass "job-1's result is still readable" ||
    fail "job-1: $(dtr result job-1 2>&1)"
for i in 1 2 3; do
    grep -l "cannot apply\|journal write failed" "m$i.err" && fail "member $i: $(tail -n 3 "m$i.err")"
done
finish
