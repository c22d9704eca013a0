#!/usr/bin/env bash
# A busy worker holds what it sends the master for a few ms, so that
# several results leave in one write (issue 17, send_may_wait() in
# worker/worker.c). The hold must end on its own, even when nothing else
# happens on the worker. A 1-slot worker gets a short task with three long
# ones prefetched behind it: when the short one ends, the next starts and
# two still wait, so its result is held; it must still reach the master
# while the long ones run (60 s each), not after them.
. "$(dirname "$0")/lib.sh"

start_master M --prefetch 3
start_worker W1 --master "$M_ADDR" --slots 1
wait_for "worker registered" "workers_registered 1" || finish

# The short task ends when the test says so: after the long ones are leased.
dtr submit --id short -- sh -c "while [ ! -e '$T/go' ]; do sleep 0.05; done" >/dev/null ||
    die "submit short"
wait_for "short started" "[ \"\$(count_state running)\" -eq 1 ]" || finish
dtr submit --id long --array 1-3 -- sleep 60 >/dev/null || die "submit long"
wait_for "the long tasks prefetched behind it" "[ \"\$(count_state running)\" -eq 4 ]" || finish
wait_for "the worker holding them" "[ \"\$(grep -c 'attempt received task=long' '$T/logs/worker-W1.log')\" -eq 3 ]" ||
    finish
pass "a 1-slot worker holds the short task and 3 long ones"

touch "$T/go"
if dtr wait short --timeout 30s >/dev/null 2>&1; then
    pass "the short task's result reached the master while the worker stayed busy"
else
    fail "the short task's result did not reach the master within 30 s"
fi
[ "$(count_state succeeded)" -eq 1 ] && [ "$(count_state running)" -eq 3 ] &&
    pass "the long tasks still run: 3 running, 1 succeeded" ||
    fail "expected 3 running and 1 succeeded, got $(count_state running) running and $(count_state succeeded) succeeded"
grep -q 'attempt started task=long-1' "$T/logs/worker-W1.log" &&
    pass "the next task started as the short one ended (two still waiting: the hold applied)" ||
    fail "long-1 did not start"

dtr cancel --job long >/dev/null 2>&1
finish
