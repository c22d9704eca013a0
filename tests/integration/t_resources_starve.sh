#!/usr/bin/env bash
# A big task is not starved by a stream of small ones (issue 13): one
# worker of 4 CPUs busy with 1-CPU tasks, a 4-CPU task queued behind them,
# and small tasks submitted without pause. The master reserves the worker
# for the big task and backfills nothing that would delay it, so the big
# task starts while the stream still flows; then the small ones go on.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W --master "$M_ADDR" --cpus 4 --slots 8
wait_for "worker registered" "workers_registered 1" || finish

small='echo "s $(date +%s.%N) $DTR_TASK_ID" >>"'$T'/rec"; sleep 0.3'
# The first 8 hold their CPU until the test opens their gate (after big is
# in), so big always meets a full worker, however slow the machine; 0.3 s
# tasks alone could end faster than a loaded machine submits them.
pre='n=0; while [ ! -e "'$T'/pre.go" ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; '"$small"
for i in $(seq 1 8); do
    dtr submit --id "pre-$i" --cmd "$pre" >/dev/null || fail "submit pre-$i"
done
wait_for "small tasks running" "[ \"\$(count_state running)\" = 4 ]" || finish
dtr submit --id big --cpus 4 --cmd 'echo "b $(date +%s.%N) $DTR_TASK_ID $DTR_CPUS" >>"'$T'/rec"; sleep 0.2' >/dev/null ||
    fail "submit big"
: >"$T/pre.go"
# The stream: small tasks, a few at a time, until the big one has run (or
# 300 of them, which is far more than the worker needs to reach it).
n=0
while [ $n -lt 300 ]; do
    for k in 1 2 3; do
        n=$((n + 1))
        dtr submit --id "s-$n" --cmd "$small" >/dev/null || fail "submit s-$n"
    done
    grep -q '^b ' rec 2>/dev/null && break
    sleep 0.1
done
grep -q '^b ' rec && pass "the big task started while small ones kept coming ($n submitted)" ||
    fail "the big task was starved by $n small tasks"
grep '^b ' rec | grep -q ' big 0,1,2,3$' && pass "it got all 4 CPUs" || fail "big: $(grep '^b ' rec)"
grep -q "reserved a worker for a task that waits for resources task=big worker=W" "$T/logs/master.log" &&
    pass "the master logged the reservation" || fail "no reservation logged"
dtr wait --all --timeout 120s >/dev/null || fail "the small tasks did not all finish"
[ "$(count_state failed)" = 0 ] && pass "nothing failed" || fail "failed: $(count_state failed)"
finish
