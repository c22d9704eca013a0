#!/usr/bin/env bash
# A worker killed with SIGKILL mid-run: the master declares it dead, its
# attempts are re-queued without spending a retry (they count as crashes),
# and every task still succeeds on the other workers.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_master M
start_worker W1 --master "$M_ADDR" --slots 2
start_worker W2 --master "$M_ADDR" --slots 2
start_worker W3 --master "$M_ADDR" --slots 2
wait_for "three workers registered" "workers_registered 3" || finish
pass "three dial-in workers registered"

# --retries 0: a spent retry on a lost attempt would make the task fail.
dtr submit --id job --array 1-60 --retries 0 -- sh -c 'sleep 0.5; echo ok' >ids.txt ||
    die "submit failed"
[ "$(wc -l <ids.txt)" -eq 60 ] || die "expected 60 ids, got $(wc -l <ids.txt)"

# The tasks the master believes run on W2 (one id a line, sorted).
on_w2() {
    dtr tasks --state running --json |
        "$PY" -c 'import json,sys
for l in sys.stdin:
    t = json.loads(l)
    if t["worker"] == "W2": print(t["id"])' | sort
}
wait_for "tasks running on W2" '[ -n "$(on_w2)" ]' || finish

kill -9 "$W2_PID"
wait "$W2_PID" 2>/dev/null
wait_for "the master to declare W2 dead" \
    "grep -q 'worker declared dead id=W2 ' '$T/logs/master.log'" 15 &&
    pass "master log: $(grep -m1 'worker declared dead id=W2 ' "$T/logs/master.log" | cut -d' ' -f3-)"
# What W2 held when it died, as the master re-queued it.
sed -n 's/.*re-queued task of a lost worker task=\([^ ]*\) worker=W2 .*/\1/p' \
    "$T/logs/master.log" | sort -u >lost.txt
nlost=$(wc -l <lost.txt)
[ "$nlost" -ge 1 ] && pass "W2 was killed holding $nlost task(s): $(tr '\n' ' ' <lost.txt)" ||
    die "no task on W2 when it was killed"

dtr wait --all --timeout 60s >wait.out 2>&1 && pass "dtr wait --all: every task succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 3 wait.out)"

dtr tasks --json >tasks.json || fail "dtr tasks --json"
# Every task succeeded; each lost task crashed once (at least), succeeded on
# another worker, and spent no retry (attempts - crashes == 1).
"$PY" - lost.txt tasks.json <<'EOF' >check.out 2>&1
import json, sys
lost = set(open(sys.argv[1]).read().split())
tasks = {}
for line in open(sys.argv[2]):
    t = json.loads(line)
    tasks[t["id"]] = t
bad = []
if len(tasks) != 60:
    bad.append("expected 60 tasks, the master lists %d" % len(tasks))
for t in tasks.values():
    if t["state"] != "succeeded":
        bad.append("%s is %s (attempts=%s crashes=%s error=%s)"
                   % (t["id"], t["state"], t["attempts"], t["crashes"], t["error"]))
for i in sorted(lost):
    t = tasks.get(i)
    if t is None:
        bad.append("lost task %s is missing" % i)
        continue
    if t["crashes"] < 1:
        bad.append("%s was on W2 but records crashes=%d" % (i, t["crashes"]))
    if t["worker"] == "W2":
        bad.append("%s still names W2 as its worker" % i)
    if t["attempts"] - t["crashes"] != 1:
        bad.append("%s spent a retry: attempts=%d crashes=%d" % (i, t["attempts"], t["crashes"]))
others = [t for t in tasks.values() if t["id"] not in lost and t["crashes"]]
for t in others:
    bad.append("%s was not on W2 at the kill but records crashes=%d" % (t["id"], t["crashes"]))
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
if [ $? -eq 0 ]; then
    pass "all 60 succeeded; the $nlost lost task(s) record a crash, no spent retry, ran elsewhere"
else
    fail "task records: $(cat check.out)"
fi

kill -0 "$W1_PID" 2>/dev/null && kill -0 "$W3_PID" 2>/dev/null && kill -0 "$M_PID" 2>/dev/null &&
    pass "master, W1 and W3 still running" || fail "a surviving node died"
finish
