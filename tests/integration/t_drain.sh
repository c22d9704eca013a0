#!/usr/bin/env bash
# SIGTERM drains a worker: it takes no new task, lets running ones finish,
# reports every result and exits 0; the master re-queues nothing finished.
# With --drain-timeout 500ms a long task is killed instead, the worker still
# exits 0, and the task is retried on another worker.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_master M
start_worker W1 --master "$M_ADDR" --slots 2
start_worker W2 --master "$M_ADDR" --slots 2
wait_for "two workers registered" "workers_registered 2" || finish

dtr submit --id job --array 1-12 --retries 0 -- sh -c 'sleep 1; echo ok' >/dev/null ||
    die "submit failed"
w1log=$T/logs/worker-W1.log
wait_for "two tasks running on W1" "[ \$(grep -c 'attempt started' '$w1log') -ge 2 ]" || finish
kill -TERM "$W1_PID"
wait_for "W1 to start draining" "grep -q 'draining signal=SIGTERM' '$w1log'" || finish
wait_for "W1 to exit" "is_dead $W1_PID" 20 || finish
wait "$W1_PID"
rc=$?
[ "$rc" -eq 0 ] && pass "W1 exited 0 after draining" || fail "W1 exited $rc"
sed -n 's/.*draining signal=SIGTERM running=\([0-9]*\).*/\1/p' "$w1log" >drain-running
[ "$(cat drain-running)" -ge 1 ] && pass "W1 had $(cat drain-running) task(s) running at SIGTERM" ||
    fail "W1 had nothing running at SIGTERM"
# No attempt starts on W1 after its drain began.
late=$(sed -n '/draining signal=SIGTERM/,$p' "$w1log" | grep -c 'attempt started')
[ "$late" -eq 0 ] && pass "W1 started no task after SIGTERM" ||
    fail "W1 started $late task(s) after SIGTERM: $(sed -n '/draining signal/,$p' "$w1log" | grep 'attempt started')"
grep -o 'attempt started task=[^ ]*' "$w1log" | sed 's/.*task=//' | sort -u >w1-tasks
nw1=$(wc -l <w1-tasks)

dtr wait --all --timeout 60s >wait.out 2>&1 && pass "all 12 tasks succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
dtr tasks --json >tasks.json
# Every task W1 started ends succeeded there in one attempt, with no crash;
# the rest ran on W2.
"$PY" - w1-tasks tasks.json "$T/logs/master.log" <<'EOF' >check.out 2>&1
import json, sys
w1 = set(open(sys.argv[1]).read().split())
tasks = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
mlog = open(sys.argv[3]).read()
bad = []
for i, t in sorted(tasks.items()):
    if t["state"] != "succeeded":
        bad.append("%s: %s (%s)" % (i, t["state"], t["error"]))
    elif i in w1:
        if t["worker"] != "W1" or t["attempts"] != 1 or t["crashes"] != 0:
            bad.append("%s ran on W1 but ended worker=%s attempts=%d crashes=%d"
                       % (i, t["worker"], t["attempts"], t["crashes"]))
        if "re-queued task of a lost worker task=%s " % i in mlog:
            bad.append("the master re-queued %s" % i)
    elif t["worker"] != "W2":
        bad.append("%s ran on %s, expected W2" % (i, t["worker"]))
print("\n".join(bad) or "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "the $nw1 task(s) W1 ran finished there (attempts=1, no re-queue); the rest ran on W2" ||
    fail "task records: $(cat check.out)"

# --drain-timeout 500ms with a 30s task. W3 is the only worker when it is
# submitted; W4 joins once it runs there.
kill -TERM "$W2_PID"
wait_for "W2 to exit" "is_dead $W2_PID" 20 || finish
wait "$W2_PID" && pass "W2 (idle) exited 0 on SIGTERM" || fail "W2 exited $? on SIGTERM"
wait_for "W2 to leave the master" "! workers_registered 1" || finish
start_worker W3 --master "$M_ADDR" --slots 1 --drain-timeout 500ms
wait_for "W3 registered" "workers_registered 1" || finish
dtr submit --id long -- sh -c "echo \$\$ > \"$T/long.\$DTR_ATTEMPT.pid\"
    if [ \$DTR_ATTEMPT = 1 ]; then exec sleep 30; fi; echo second-try-on-\$DTR_WORKER_ID" \
    >/dev/null || die "submit long failed"
wait_for "the long task to start" "[ -s '$T/long.1.pid' ]" || finish
LONG_PID=$(cat long.1.pid)
PIDS+=("$LONG_PID")
start_worker W4 --master "$M_ADDR" --slots 1
wait_for "W4 registered" "workers_registered 2" || finish

kill -TERM "$W3_PID"
t0=$SECONDS
wait_for "W3 to exit" "is_dead $W3_PID" 15 || finish
took=$((SECONDS - t0))
wait "$W3_PID"
rc=$?
[ "$rc" -eq 0 ] && pass "W3 exited 0 ${took}s after SIGTERM despite a 30s task" ||
    fail "W3 exited $rc"
grep -q 'drain timeout; killing running tasks' "$T/logs/worker-W3.log" &&
    pass "W3's log: drain timeout, task killed" || fail "W3's log does not mention the drain timeout"
wait_for "the long task's process to be gone" "is_dead $LONG_PID" 5 &&
    pass "the 30s task (pid $LONG_PID) was killed"
dtr wait long --timeout 30s >/dev/null 2>&1 && pass "the long task succeeded on a retry" ||
    fail "long task: $(dtr result long --json)"
out=$(dtr result long)
[ "$out" = second-try-on-W4 ] && pass "its retry ran on W4: $(dtr tasks | grep '^long')" ||
    fail "long task output '$out': $(dtr result long --json)"
finish
