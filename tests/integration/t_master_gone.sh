#!/usr/bin/env bash
# The master goes away for good: it exits 0 on SIGTERM, and a worker with
# --master-timeout 2s kills its running task, logs why and exits with 3.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 1 --master-timeout 2s
wait_for "W1 registered" "workers_registered 1" || finish

# A long task that records its pid (exec: the pid is the sleep itself).
dtr submit --id long -- sh -c "echo \$\$ > '$T/task.pid'; exec sleep 60" >/dev/null ||
    die "submit failed"
wait_for "the task to start" "[ -s '$T/task.pid' ]" || finish
TASK_PID=$(cat task.pid)
PIDS+=("$TASK_PID")
kill -0 "$TASK_PID" 2>/dev/null && pass "long task running as pid $TASK_PID" ||
    die "task pid $TASK_PID not alive"

kill -TERM "$M_PID"
wait_for "the master to exit" "is_dead $M_PID" 15 || finish
wait "$M_PID"
rc=$?
[ "$rc" -eq 0 ] && pass "master exited 0 on SIGTERM" || fail "master exited $rc on SIGTERM"
gone_at=$SECONDS

# 2s of silence plus a tick and some slack (sanitizer builds are slow).
wait_for "W1 to give up on its master" "is_dead $W1_PID" 15 || finish
waited=$((SECONDS - gone_at))
wait "$W1_PID"
rc=$?
[ "$rc" -eq 3 ] && pass "worker exited with status 3 (${waited}s after the master)" ||
    fail "worker exited with $rc, expected 3"
[ "$waited" -ge 1 ] || fail "worker exited after ${waited}s, before its 2s master timeout"

wait_for "the task's process to be gone" "is_dead $TASK_PID" 5 &&
    pass "the running task (pid $TASK_PID) was killed"

log=$T/logs/worker-W1.log
if grep -q -- 'no word from the master.*--master-timeout' "$log"; then
    pass "worker log says why: $(grep -m1 'no word from the master' "$log" | cut -d' ' -f4-)"
else
    fail "worker log does not say why it exited"
fi
grep -q 'no word from the master' W1.err && pass "worker stderr says why" ||
    fail "worker stderr: $(cat W1.err)"
finish
