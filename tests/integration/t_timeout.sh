#!/usr/bin/env bash
# Timeouts: a hung attempt is killed (TERM, then KILL) with everything it
# started, and the task fails with an error that says it timed out.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "worker registered" "workers_registered 1" || finish

# A shell that leaves a grandchild behind; both must die at the timeout.
dtr submit --id hung --timeout 1s --retries 0 --cwd "$T" -- \
    sh -c 'echo $$ > sh.pid; sleep 100 & echo $! > child.pid; sleep 100' >/dev/null || fail "submit hung"
# One that ignores SIGTERM (so do its children): needs the KILL.
dtr submit --id deaf --timeout 500ms --retries 0 --cwd "$T" -- \
    sh -c 'trap "" TERM; echo $$ > deaf.pid; while :; do sleep 0.1; done' >/dev/null || fail "submit deaf"
# Retried timeouts: every attempt is limited.
dtr submit --id twice --timeout 300ms --retries 1 -- sleep 100 >/dev/null || fail "submit twice"

# Timeouts in a task file: a duration string and a number of seconds.
printf '{"id":"f-str","argv":["sleep","100"],"timeout":"500ms","max_retries":0}\n{"id":"f-num","argv":["sleep","100"],"timeout":0.5,"max_retries":0}\n' |
    dtr submit --file - >/dev/null || fail "submit the file tasks"

wait_for "hung started" "[ -s '$T/child.pid' ] && [ -s '$T/sh.pid' ]" || finish
child=$(cat child.pid)
shpid=$(cat sh.pid)

dtr wait hung deaf twice --timeout 30s >wait.out 2>&1
rc=$?
[ $rc -eq 1 ] && pass "dtr wait exits 1 for timed-out tasks" || fail "dtr wait exited $rc: $(tail -2 wait.out)"

dtr result hung --json >hung.json 2>/dev/null
grep -q '"state":"failed"' hung.json && pass "hung task ends failed" || fail "hung: $(cat hung.json)"
grep -q '"attempts":1[,}]' hung.json && pass "hung task: one attempt (--retries 0)" || fail "hung attempts: $(cat hung.json)"
grep -iq '"error":"[^"]*time[ds]* *out' hung.json && pass "its error mentions the timeout" ||
    fail "error does not mention the timeout: $(grep -o '"error":[^,]*' hung.json)"
wait_for "shell of the hung task dead" "is_dead $shpid" 10 && pass "the task's shell was killed"
wait_for "grandchild of the hung task dead" "is_dead $child" 10 && pass "its grandchild (sleep &) was killed"

# The attempt ran about 1s, not 100s.
s=$(date -d "$(sed -n 's/.*"started_at":"\([^"]*\)".*/\1/p' hung.json)" +%s%3N 2>/dev/null)
f=$(date -d "$(sed -n 's/.*"finished_at":"\([^"]*\)".*/\1/p' hung.json)" +%s%3N 2>/dev/null)
if [ -n "$s" ] && [ -n "$f" ]; then
    d=$((f - s))
    [ $d -ge 900 ] && [ $d -lt 10000 ] && pass "hung task ran ${d}ms (timeout 1s)" || fail "hung task ran ${d}ms"
else
    fail "started_at/finished_at missing or not ISO-8601: $(cat hung.json)"
fi

dtr result deaf --json >deaf.json 2>/dev/null
grep -q '"state":"failed"' deaf.json && grep -iq '"error":"[^"]*time[ds]* *out' deaf.json &&
    pass "a task ignoring SIGTERM also times out and fails" || fail "deaf: $(cat deaf.json)"
[ -s deaf.pid ] && wait_for "TERM-ignoring task dead" "is_dead $(cat deaf.pid)" 10 &&
    pass "a task ignoring SIGTERM is killed (SIGKILL)"

dtr result twice --json >twice.json 2>/dev/null
grep -q '"state":"failed"' twice.json && grep -q '"attempts":2[,}]' twice.json &&
    pass "a timed-out attempt is retried: 2 attempts with --retries 1" || fail "twice: $(cat twice.json)"

dtr wait f-str f-num --timeout 20s >/dev/null 2>&1
[ $? -eq 1 ] || fail "wait f-str f-num did not exit 1"
for id in f-str f-num; do
    dtr result $id --json >$id.json 2>/dev/null
    s=$(date -d "$(sed -n 's/.*"started_at":"\([^"]*\)".*/\1/p' $id.json)" +%s%3N 2>/dev/null)
    f=$(date -d "$(sed -n 's/.*"finished_at":"\([^"]*\)".*/\1/p' $id.json)" +%s%3N 2>/dev/null)
    d=$((${f:-0} - ${s:-0}))
    grep -q '"state":"failed"' $id.json && grep -iq '"error":"[^"]*time[ds]* *out' $id.json &&
        [ $d -ge 400 ] && [ $d -lt 3000 ] && pass "file task $id: timeout honoured (${d}ms)" ||
        fail "file task $id (${d}ms): $(cat $id.json)"
done

# No stray sleeps from the test's tasks remain.
wait_for "no 'sleep 100' left from the worker" "! pgrep -x sleep -P $W1_PID >/dev/null" 10 &&
    pass "the worker has no sleep left among its children (its task guard is one)"
finish
