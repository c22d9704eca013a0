#!/usr/bin/env bash
# A task's output survives its master: the master is killed with SIGKILL
# while a task is writing, restarted on the same state dir, and the task's
# output ends up whole, every line once, in order (the worker sends the
# output of its running attempts again to the new master, which keeps only
# what it lacks); and its result is acked only with the output on disk.
. "$(dirname "$0")/lib.sh"

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "the worker registered" "workers_registered 1" || finish

# 40 lines; after line 10 the task waits for $T/go (bounded), so the kill
# falls while it runs.
dtr submit --id slow --cmd \
    "for i in \$(seq 1 40); do echo line \$i; echo err \$i >&2; if [ \$i = 10 ]; then n=0; while [ ! -e '$T/go' ] && [ \$n -lt 2400 ]; do sleep 0.05; n=\$((n+1)); done; fi; done" \
    >/dev/null || die "submit failed"
wait_for "line 10 in the master's file" "grep -qx 'line 10' '$T'/state-M/output/*.out" 30 || finish
kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null
pass "master killed with SIGKILL while the task was writing"
mv M.out M-first.out
mv M.err M-first.err
MPORT=$MPORT_USED
start_master M
wait_for "the worker back" "workers_registered 1" 20 || finish
touch go
dtr wait slow --timeout 60s >wait.out 2>&1 && pass "the task succeeded" ||
    fail "wait: $(cat wait.out)"
seq 1 40 | sed 's/^/line /' >want.out
seq 1 40 | sed 's/^/err /' >want.err
dtr result slow >got.out 2>got.err
cmp -s got.out want.out && pass "stdout whole after the restart: 40 lines, each once, in order" ||
    fail "stdout: $(tr '\n' ' ' <got.out)"
grep -v '^note:' got.err | cmp -s - want.err && pass "stderr whole after the restart" ||
    fail "stderr: $(tr '\n' ' ' <got.err)"
! grep -q '^note:' got.err && pass "nothing marked truncated" || fail "$(grep '^note:' got.err)"
finish
