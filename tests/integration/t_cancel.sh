#!/usr/bin/env bash
# Cancel: a running task is killed (its processes gone) and a queued one never
# runs; both end cancelled and stay so. Cancelling an unknown id is refused
# (exit 4, message), and so is cancelling a task that already ended.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 1
wait_for "worker registered" "workers_registered 1" || finish

dtr submit --id long --retries 3 --cwd "$T" -- \
    sh -c 'echo $$ > long.pid; sleep 100 & echo $! > long.child; wait' >/dev/null || die "submit long"
dtr submit --id queued --cwd "$T" -- sh -c 'touch queued.ran' >/dev/null || die "submit queued"
dtr submit --id queued2 --cwd "$T" -- sh -c 'touch queued2.ran' >/dev/null || die "submit queued2"
wait_for "long running" "[ -s '$T/long.pid' ] && [ -s '$T/long.child' ]" || finish
pid=$(cat long.pid)
child=$(cat long.child)
dtr tasks --json >before.json
grep -q '"id":"long","state":"running"' before.json && grep -q '"id":"queued","state":"queued"' before.json &&
    pass "long is running, queued is queued" ||
    fail "before cancel (a task the worker has not started must show queued): $(sed -n 's/.*"id":"\([^"]*\)","state":"\([^"]*\)".*"attempts":\([0-9]*\).*/\1=\2 (attempts \3)/p' before.json | tr '\n' ' ')"

# The queued ones first (two ids in one command): cancelling the running one
# frees the slot.
dtr cancel queued queued2 >cancel2.out 2>cancel2.err
rc=$?
[ $rc -eq 0 ] && pass "cancel of two queued tasks in one command exits 0" ||
    fail "cancel queued queued2 exited $rc: $(cat cancel2.err)"

dtr cancel long >cancel1.out 2>cancel1.err
rc=$?
[ $rc -eq 0 ] && pass "cancel of a running task exits 0" || fail "cancel long exited $rc: $(cat cancel1.err)"
wait_for "cancelled task's shell dead" "is_dead $pid" 10 && pass "the running task's process was killed"
wait_for "cancelled task's child dead" "is_dead $child" 10 && pass "the running task's child was killed"

dtr result long --json >long.json 2>/dev/null
grep -q '"state":"cancelled"' long.json && pass "running task's state is cancelled" || fail "long: $(cat long.json)"
dtr result queued --json >queued.json 2>/dev/null
grep -q '"state":"cancelled"' queued.json && pass "queued task's state is cancelled" || fail "queued: $(cat queued.json)"
grep -q '"attempts":0[,}]' queued.json && pass "the cancelled queued task made no attempt" ||
    fail "the cancelled queued task, which never ran, records an attempt: $(grep -o '"attempts":[0-9]*' queued.json), $(grep -o '"started_at":"[^"]*"' queued.json)"
dtr result queued2 --json 2>/dev/null | grep -q '"state":"cancelled"' && pass "the second queued task is cancelled too" ||
    fail "queued2: $(dtr result queued2 --json 2>&1)"

# The slot is free again and the cancelled queued task never runs.
dtr submit --id after -- true >/dev/null || fail "submit after"
dtr wait after --timeout 20s >/dev/null 2>&1 && pass "the worker runs the next task after the cancel" ||
    fail "task after the cancel did not succeed: $(dtr result after --json 2>&1)"
[ ! -e queued.ran ] && [ ! -e queued2.ran ] && pass "the cancelled queued tasks never ran" ||
    fail "a cancelled queued task ran"
# The killed attempt's result did not overwrite the cancel (nor was it retried).
dtr tasks --json >after.json
grep -q '"id":"long","state":"cancelled"' after.json && grep -q '"id":"queued","state":"cancelled"' after.json &&
    pass "both stay cancelled (the killed attempt's result is discarded, no retry)" ||
    fail "states after: $(grep -E '"id":"(long|queued)"' after.json)"
[ "$(dtr status --json | sed -n 's/.*"cancelled":\([0-9]*\).*/\1/p')" = 3 ] && pass "status counts 3 cancelled" ||
    fail "status: $(dtr status --json)"

dtr wait long --timeout 10s >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] && pass "dtr wait on a cancelled task exits 1" || fail "dtr wait long exited $rc"

# Unknown id: refused by the master, exit 4, a message naming it.
dtr cancel no-such-task >cancel3.out 2>cancel3.err
rc=$?
[ $rc -eq 4 ] && pass "cancel of an unknown id exits 4" || fail "cancel unknown exited $rc"
grep -q 'no-such-task' cancel3.err && pass "with a message naming the id: $(head -1 cancel3.err)" ||
    fail "cancel unknown message: '$(cat cancel3.err)'"

# A finished task cannot be cancelled: an error, and it stays succeeded.
dtr cancel after >cancel4.out 2>cancel4.err
rc=$?
[ $rc -ne 0 ] && [ -s cancel4.err ] && pass "cancel of a finished task reports an error (exit $rc: $(head -1 cancel4.err))" ||
    fail "cancel of a finished task exited $rc, stderr '$(cat cancel4.err)'"
grep -q '"state":"succeeded"' <(dtr result after --json 2>/dev/null) && pass "the finished task stays succeeded" ||
    fail "after: $(dtr result after --json 2>&1)"
# Likewise an already cancelled one.
dtr cancel long >cancel5.out 2>cancel5.err
rc=$?
[ $rc -ne 0 ] && [ -s cancel5.err ] && pass "cancel of an already cancelled task reports an error (exit $rc)" ||
    fail "second cancel of long exited $rc, stderr '$(cat cancel5.err)'"

# A running task that ignores SIGTERM is still killed (SIGKILL after the grace).
dtr submit --id deaf --cwd "$T" -- sh -c 'trap "" TERM; echo $$ > deaf.pid; while :; do sleep 0.1; done' >/dev/null ||
    fail "submit deaf"
wait_for "deaf running" "[ -s '$T/deaf.pid' ]" 20
dtr cancel deaf >cancel7.out 2>cancel7.err || fail "cancel deaf exited $?: $(cat cancel7.err)"
wait_for "TERM-ignoring task killed" "is_dead $(cat deaf.pid 2>/dev/null || echo 0)" 15 &&
    pass "a cancelled task that ignores SIGTERM is killed"
dtr result deaf --json 2>/dev/null | grep -q '"state":"cancelled"' && pass "and ends cancelled" ||
    fail "deaf: $(dtr result deaf --json 2>&1)"

# A task waiting out its retry backoff can be cancelled too, and stays so.
dtr submit --id bo --retries 5 -- sh -c "echo x >> '$T/bo.attempts'; exit 1" >/dev/null || fail "submit bo"
wait_for "bo failed once and waits to retry" \
    "[ -s '$T/bo.attempts' ] && dtr result bo --json | grep -q '\"state\":\"queued\"'" 20
dtr cancel bo >cancel6.out 2>cancel6.err
rc=$?
[ $rc -eq 0 ] && pass "cancel of a task between retries exits 0" || fail "cancel bo exited $rc: $(cat cancel6.err)"
dtr wait bo --timeout 10s >/dev/null 2>&1
[ $? -eq 1 ] || fail "dtr wait bo did not exit 1"
dtr result bo --json 2>/dev/null | grep -q '"state":"cancelled"' && pass "it ends cancelled, not retried" ||
    fail "bo: $(dtr result bo --json 2>&1)"
finish
