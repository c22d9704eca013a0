#!/usr/bin/env bash
# Retries: tasks on a worker that fails attempts on purpose all end succeeded,
# some after several attempts; a task that always fails ends failed after
# exactly 1 + --retries attempts, each run with the right DTR_ATTEMPT, and the
# clients report it (wait and result exit 1).
#
# The flaky worker fails 30% of attempts, not 50%: the master's retry backoff
# is 250ms doubling per failure and cannot be configured, so a task that hits
# 8 failures in a row waits over a minute; at 50% over 20 tasks that happens
# in ~8% of runs, at 30% in ~0.1%.
. "$(dirname "$0")/lib.sh"

# Two independent clusters: M1 + a flaky worker, M2 + a reliable worker (an
# injected failure never runs the command, so the always-failing task needs a
# worker that really runs every attempt).
start_master M1
start_worker W1 --master "$M1_ADDR" --slots 4 --fail-rate 0.3
start_master M2 --log-dir "$T/logs/m2"
start_worker W2 --master "$M2_ADDR" --slots 2
wait_for "W1 registered" "dtr status --master '$M1_ADDR' | grep -q '^W1 '" || finish
wait_for "W2 registered" "dtr status --master '$M2_ADDR' | grep -q '^W2 '" || finish

N=20
dtr submit --master "$M1_ADDR" --id r --retries 10 --array "1-$N" -- sh -c 'echo ok-{}' >/dev/null ||
    fail "submit flaky tasks"
dtr submit --master "$M2_ADDR" --id bad --retries 2 \
    --cmd "echo \"\$DTR_ATTEMPT\" >> '$T/attempts'; echo \"attempt \$DTR_ATTEMPT\"; exit 1" >/dev/null ||
    fail "submit bad"

# Other kinds of failed attempt: a signal (retried too), a program that does
# not exist, a working directory that does not exist.
dtr submit --master "$M2_ADDR" --id sig --retries 1 -- sh -c 'kill -9 $$' >/dev/null || fail "submit sig"
dtr submit --master "$M2_ADDR" --id noprog --retries 0 -- /no/such/program >/dev/null || fail "submit noprog"
dtr submit --master "$M2_ADDR" --id nocwd --retries 0 --cwd /no/such/dir -- true >/dev/null || fail "submit nocwd"

dtr wait --master "$M1_ADDR" --all --timeout 50s >wait1.out 2>&1
rc=$?
[ $rc -eq 0 ] && pass "wait --all exits 0: every flaky task ended succeeded" ||
    fail "wait --all exited $rc: $(tail -2 wait1.out)"
dtr tasks --master "$M1_ADDR" --json >tasks1.json 2>tasks1.err || fail "tasks --json exited $?: $(cat tasks1.err)"
n=$(grep -c '"state":"succeeded"' tasks1.json)
[ "$n" -eq $N ] && pass "$N of $N flaky tasks succeeded" || fail "$n of $N succeeded: $(grep -v '"state":"succeeded"' tasks1.json | head -2)"
retried=$(sed -n 's/.*"attempts":\([0-9]*\).*/\1/p' tasks1.json | awk '$1 > 1' | wc -l)
maxa=$(sed -n 's/.*"attempts":\([0-9]*\).*/\1/p' tasks1.json | sort -n | tail -1)
[ "$retried" -gt 0 ] && pass "$retried tasks needed more than one attempt (max $maxa)" ||
    fail "no task recorded more than 1 attempt: $(head -3 tasks1.json)"
[ "${maxa:-0}" -le 11 ] && pass "no task exceeded 1 + 10 attempts" || fail "a task took $maxa attempts"
bad=0
for i in 1 7 $N; do
    [ "$(dtr result --master "$M1_ADDR" "r-$i")" = "ok-$i" ] || { bad=1; fail "result r-$i"; }
done
[ $bad = 0 ] && pass "retried tasks' output is the successful attempt's"

# The always-failing task: 3 attempts, DTR_ATTEMPT 1, 2, 3, then failed.
dtr wait --master "$M2_ADDR" bad --timeout 30s >wait2.out 2>&1
rc=$?
[ $rc -eq 1 ] && pass "dtr wait on the failed task exits 1" || fail "dtr wait bad exited $rc: $(tail -2 wait2.out)"
dtr result --master "$M2_ADDR" bad >result.out 2>result.err
rc=$?
[ $rc -eq 1 ] && pass "dtr result on the failed task exits 1" || fail "dtr result bad exited $rc"
[ "$(cat result.out)" = "attempt 3" ] && pass "and prints the last attempt's stdout" ||
    fail "dtr result bad printed '$(cat result.out)', want 'attempt 3'"
dtr result --master "$M2_ADDR" bad --json >bad.json 2>/dev/null
grep -q '"state":"failed"' bad.json && pass "always-failing task ends failed" || fail "state: $(cat bad.json)"
grep -q '"attempts":3[,}]' bad.json && pass "it made exactly 3 attempts" || fail "attempts: $(cat bad.json)"
grep -q '"exit_code":1[,}]' bad.json && pass "its exit_code is 1" || fail "exit_code: $(cat bad.json)"
grep -q '"error":"[^"]' bad.json && pass "it has an error message" || fail "no error: $(cat bad.json)"
[ "$(tr '\n' ' ' <attempts)" = "1 2 3 " ] && pass "DTR_ATTEMPT was 1, 2, 3" ||
    fail "DTR_ATTEMPT values: '$(tr '\n' ' ' <attempts)'"
dtr wait --master "$M2_ADDR" sig noprog nocwd --timeout 20s >/dev/null 2>&1
[ $? -eq 1 ] || fail "wait sig noprog nocwd did not exit 1"
dtr result --master "$M2_ADDR" sig --json >sig.json 2>/dev/null
grep -q '"state":"failed"' sig.json && grep -q '"attempts":2[,}]' sig.json && grep -iq '"error":"[^"]*signal' sig.json &&
    pass "an attempt killed by a signal fails, is retried, and the error names the signal" || fail "sig: $(cat sig.json)"
dtr result --master "$M2_ADDR" noprog --json >noprog.json 2>/dev/null
grep -q '"state":"failed"' noprog.json && grep -q '"error":"[^"]*/no/such/program' noprog.json &&
    pass "a missing program fails with an error naming it" || fail "noprog: $(cat noprog.json)"
dtr result --master "$M2_ADDR" nocwd --json >nocwd.json 2>/dev/null
grep -q '"state":"failed"' nocwd.json && grep -q '"error":"[^"]*/no/such/dir' nocwd.json &&
    pass "a missing --cwd fails with an error naming it" || fail "nocwd: $(cat nocwd.json)"
finish
