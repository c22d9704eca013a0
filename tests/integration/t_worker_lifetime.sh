#!/usr/bin/env bash
# Workers started by a batch system (dtr alloc) end by themselves:
# --idle-timeout drains and exits after that long without tasks, and
# --lifetime starts no task whose timeout would end after the deadline
# (it drains, the task runs elsewhere) and drains at the deadline.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker IDLE --master "$M_ADDR" --slots 1 --idle-timeout 1s
wait_for "IDLE registered" "workers_registered 1" || finish
dtr submit --id a1 -- sh -c 'sleep 1.5; echo ok' >/dev/null || die "submit failed"
wait_for "IDLE to exit after its idle timeout" "is_dead $IDLE_PID" 20 || finish
wait "$IDLE_PID"
rc=$?
[ "$rc" -eq 0 ] && pass "an idle worker exited 0" || fail "IDLE exited $rc"
grep -q 'draining reason=idle-timeout running=0' "$T/logs/worker-IDLE.log" &&
    pass "it drained for its idle timeout with nothing running" ||
    fail "no idle drain in the log: $(grep draining "$T/logs/worker-IDLE.log")"
[ "$(dtr result a1 --json | grep -o '"state":"[a-z]*"')" = '"state":"succeeded"' ] &&
    pass "the task it ran (longer than the idle timeout) succeeded first" ||
    fail "a1: $(dtr result a1 --json)"

start_worker SHORT --master "$M_ADDR" --slots 1 --lifetime 30s
wait_for "SHORT registered" "workers_registered 1" || finish
dtr submit --id long --timeout 1h -- echo long >/dev/null || die "submit failed"
wait_for "SHORT to refuse a task that outlives it and exit" "is_dead $SHORT_PID" 20 || finish
grep -q 'draining reason=lifetime' "$T/logs/worker-SHORT.log" &&
    pass "a task whose timeout ends after --lifetime made it drain" ||
    fail "no lifetime drain: $(grep draining "$T/logs/worker-SHORT.log")"
start_worker LATE --master "$M_ADDR" --slots 1 --lifetime 2s
dtr submit --id quick --timeout 1s -- echo quick >/dev/null || die "submit failed"
wait_for "LATE to drain at its deadline and exit" "is_dead $LATE_PID" 20 || finish
start_worker ANY --master "$M_ADDR" --slots 1
dtr wait --all --timeout 30s >wait.out 2>&1 && pass "both tasks then succeeded" ||
    fail "wait: $(cat wait.out)"
dtr tasks --json >tasks.json
grep '"id":"long"' tasks.json | grep -q '"worker":"ANY"' &&
    pass "the long task ran on the worker without a deadline" || fail "long: $(grep '"id":"long"' tasks.json)"
finish
