#!/usr/bin/env bash
# A paused master (SIGSTOP/SIGCONT, as a long stall or a slow disk would
# pause it) must read what its workers sent meanwhile before it judges their
# silence, and must judge silence by the time it was able to listen, not by
# the wall time across the stall (docs/protocol.md, "Liveness").
#   500 short sleep tasks run on 2 workers; while they run the master is
#   stopped for well over --worker-timeout (2 s) and then continued. No
#   worker is declared dead, no finished attempt is discarded, every task
#   succeeds on its first attempt with no crash counted.
. "$(dirname "$0")/lib.sh"

start_master M --worker-timeout 2s
start_worker W1 --master "$M_ADDR" --slots 4
start_worker W2 --master "$M_ADDR" --slots 4
wait_for "2 workers registered" "workers_registered 2" || finish

dtr submit --id p --array 1-500 -k sleep --payload '{"seconds":0.04}' >ids.txt 2>submit.err ||
    die "submit exited $?: $(cat submit.err)"
wait_for "some tasks to finish" '[ "$(count_state succeeded)" -ge 40 ]' 30 || finish
left=$((500 - $(count_state succeeded)))
[ "$left" -gt 16 ] || die "only $left tasks left before the pause; the run was too fast to test"

kill -STOP "$M_PID"
# The fault itself: a pause of twice --worker-timeout, during which both
# workers finish what they hold, beat, and their results wait in the sockets.
sleep 4
kill -CONT "$M_PID"

dtr wait --all --timeout 60s >wait.out 2>&1 || fail "wait --all exited $?: $(tail -2 wait.out)"

if grep -q 'declared dead' logs/master.log; then
    fail "a worker was declared dead: $(grep 'declared dead' logs/master.log | head -2)"
else
    pass "no worker was declared dead across a 4 s pause (--worker-timeout 2s)"
fi
n=$(grep -c 'discarded result of a superseded attempt' logs/master.log)
[ "$n" -eq 0 ] && pass "no finished attempt was discarded" ||
    fail "$n results were discarded as superseded"
for w in W1 W2; do
    n=$(grep -c 'master connected' "logs/worker-$w.log")
    [ "$n" -eq 1 ] && pass "$w kept its one session" || fail "$w connected $n times"
done

dtr tasks --json >tasks.out 2>tasks.err || fail "tasks --json exited $?: $(cat tasks.err)"
[ "$(wc -l <tasks.out)" -eq 500 ] || fail "tasks --json has $(wc -l <tasks.out) lines"
n=$(grep -c '"state":"succeeded"' tasks.out)
[ "$n" -eq 500 ] && pass "all 500 tasks succeeded" || fail "$n of 500 tasks succeeded"
n=$(grep -c '"attempts":1,' tasks.out)
[ "$n" -eq 500 ] && pass "every task ran exactly once" ||
    fail "$((500 - n)) tasks ran more than once: $(grep -v '"attempts":1,' tasks.out | head -2)"
n=$(grep -c '"crashes":0,' tasks.out)
[ "$n" -eq 500 ] && pass "no crash was counted" || fail "$((500 - n)) tasks counted a crash"
finish
