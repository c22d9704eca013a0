#!/usr/bin/env bash
# Resources are freed only once a task's processes are gone (issue 13): on
# a 1-CPU worker, a task that ignores SIGTERM is cancelled; the next task
# must not start until the worker has killed it (SIGKILL after the 2 s
# grace) and reported it. And `dtr worker --pin` pins a task to the CPU
# ids in its DTR_CPUS.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W --master "$M_ADDR" --cpus 1 --slots 4 --pin
wait_for "worker registered" "workers_registered 1" || finish

dtr submit --id stubborn --cmd 'trap "" TERM; echo $$ >"'$T'/a.pid"; while :; do sleep 0.1; done' >/dev/null ||
    fail "submit stubborn"
wait_for "stubborn running" "[ -s '$T/a.pid' ]" || finish
dtr submit --id next --cmd 'if kill -0 $(cat "'$T'/a.pid") 2>/dev/null; then echo alive; else echo gone; fi >"'$T'/next"' \
    >/dev/null || fail "submit next"
dtr cancel stubborn >/dev/null || fail "cancel stubborn"
# Meanwhile the master still counts the CPU as held.
dtr status | grep -q "cpus 1/1" && pass "the cancelled task's CPU stays held until it ends" ||
    fail "status after cancel: $(dtr status)"
dtr wait next --timeout 30s >/dev/null || fail "next did not run"
[ "$(cat next)" = gone ] && pass "next started only once the cancelled task's process was gone" ||
    fail "next saw the cancelled task: $(cat next)"

# --pin: the task runs on exactly its DTR_CPUS.
dtr submit --id pinned --cmd 'echo "$DTR_CPUS $(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status)" >"'$T'/pin"' \
    >/dev/null || fail "submit pinned"
dtr wait pinned --timeout 30s >/dev/null || fail "pinned did not run"
read -r want got <pin
[ -n "$want" ] && [ "$want" = "$got" ] && pass "pinned to its CPU $want" || fail "pin: DTR_CPUS=$want allowed=$got"
nproc_here=$(nproc)
if out=$("$DTR" worker --id p2 --port-range "$WLO-$WHI" --cpus $((nproc_here + 1)) --pin 2>&1); then
    fail "--pin with more CPUs than it may use started"
else
    pass "--pin beyond its CPUs refused: $out"
fi
finish
