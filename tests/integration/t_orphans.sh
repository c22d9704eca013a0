#!/usr/bin/env bash
# Orphaned tasks: a task's whole process group dies with its worker when the
# worker is killed with SIGKILL (its guard process kills it); when the guard
# dies too, a restarted worker with the same id kills what was left behind;
# and no task sees the worker's DTR_TOKEN, in its environment or in the
# worker's /proc/PID/environ.
. "$(dirname "$0")/lib.sh"

export DTR_TOKEN="orphans test secret 7f3a9c"

# Every task writes its pids to a file under $T; kill them all by PID when
# the test ends, however it ends, so no sleeping process is left behind.
kill_task_pids() {
    local f pid
    for f in "$T"/pids-*; do
        [ -f "$f" ] || continue
        while read -r pid; do
            case $pid in '' | *[!0-9]*) continue ;; esac
            kill -9 "$pid" 2>/dev/null
        done <"$f"
    done
}
trap 'rc=$?; kill_task_pids; (exit $rc); cleanup' EXIT

# all_dead FILE: every pid in FILE is gone (or a zombie).
all_dead() {
    local pid
    while read -r pid; do is_dead "$pid" || return 1; done <"$1"
}
# none_dead FILE: every pid in FILE still runs.
none_dead() {
    local pid
    while read -r pid; do is_dead "$pid" && return 1; done <"$1"
    return 0
}
# guard_of PID: the pid of PID's child running 'dtr __guard', if any.
guard_of() {
    local d
    for d in /proc/[0-9]*; do
        [ "$(awk '{print $4}' "$d/stat" 2>/dev/null)" = "$1" ] || continue
        tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q ' __guard' && echo "${d#/proc/}"
    done
}
# A task that leaves two background sleeps in its group; it writes its
# shell's pid and theirs, one a line, to pids-NAME (3 lines).
orphan_task() {
    echo "sh -c 'sleep 300 & echo \$! >>\"$T/pids-$1\"; sleep 300 & echo \$! >>\"$T/pids-$1\"; echo \$\$ >>\"$T/pids-$1\"; wait'"
}

start_master M

# ---- 1: kill -9 of the worker kills its tasks' process groups ------------
start_worker A --master "$M_ADDR" --slots 2
wait_for "worker A registered" "workers_registered 1" || finish
dtr submit --id orphan-a --retries 0 -- sh -c "$(orphan_task a)" >/dev/null || die "submit orphan-a"
wait_for "orphan-a wrote its 3 pids" "[ \$(wc -l <'$T/pids-a' 2>/dev/null || echo 0) -ge 3 ]" ||
    finish
head -n 3 pids-a >snap-a
none_dead snap-a || die "orphan-a's processes died early"
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null
dtr cancel orphan-a >/dev/null 2>&1 # no re-run elsewhere
if wait_for "orphan-a's shell and sleeps to die with worker A" "all_dead '$T/snap-a'" 10; then
    pass "kill -9 of the worker killed its task's shell and both background sleeps"
fi
grep -q 'guard killed' "$T/logs/worker-A.log" &&
    pass "worker-A.log: $(grep -m1 'guard killed' "$T/logs/worker-A.log" | cut -d' ' -f3-)" ||
    fail "worker-A.log does not say what the guard killed"

# ---- 2: worker and guard both killed; the restarted worker cleans up -----
start_worker B --master "$M_ADDR" --slots 2
wait_for "worker B registered" "dtr status --json | grep -q '\"id\":\"B\"'" || finish
dtr submit --id orphan-b --retries 0 -- sh -c "$(orphan_task b)" >/dev/null || die "submit orphan-b"
# orphan-c's shell will be gone before the restart: a group without a leader.
dtr submit --id orphan-c --retries 0 -- sh -c "$(orphan_task c)" >/dev/null || die "submit orphan-c"
for x in b c; do
    wait_for "orphan-$x wrote its 3 pids" "[ \$(wc -l <'$T/pids-$x' 2>/dev/null || echo 0) -ge 3 ]" ||
        finish
    head -n 3 "pids-$x" >"snap-$x"
done
guard=$(guard_of "$B_PID")
if [ -n "$guard" ]; then
    PIDS+=("$guard")
    # Stopped first, so it cannot act on the worker's death before its own.
    kill -STOP "$guard"
fi
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null
[ -n "$guard" ] && kill -9 "$guard"
dtr cancel orphan-b orphan-c >/dev/null 2>&1
wait_for "B's guard to be gone" "[ -z '$guard' ] || is_dead '$guard'" 10 || finish
none_dead snap-b && none_dead snap-c &&
    pass "with worker B and its guard killed, the tasks' processes survive" ||
    die "the tasks' processes died with worker B and its guard; nothing left to test"
csh=$(sed -n 3p snap-c)
kill -9 "$csh"
wait_for "orphan-c's shell to be gone" "is_dead $csh" 10 || finish
sed 3d snap-c >snap-c-left
start_worker B --master "$M_ADDR" --slots 2
if wait_for "the restarted worker B to kill orphan-b's processes" "all_dead '$T/snap-b'" 10; then
    pass "the restarted worker B killed what its previous instance left behind"
fi
if wait_for "the restarted worker B to kill orphan-c's leaderless sleeps" \
    "all_dead '$T/snap-c-left'" 10; then
    pass "... and the processes of a group whose leader had exited"
fi
grep -q 'killed a task group left by a previous instance' "$T/logs/worker-B.log" &&
    pass "worker-B.log: $(grep -m1 'killed a task group left' "$T/logs/worker-B.log" | cut -d' ' -f3-)" ||
    fail "worker-B.log does not say what it killed"

# ---- 3: DTR_TOKEN never reaches a task ----------------------------------
dtr submit --id env --retries 0 -- \
    sh -c 'env; echo ---; tr "\0" "\n" </proc/$PPID/environ' >/dev/null || die "submit env"
dtr wait env --timeout 20s >/dev/null 2>&1 || fail "task env did not succeed"
dtr result env >env.out 2>&1 || fail "dtr result env: $(cat env.out)"
grep -q '^DTR_TASK_ID=env$' env.out || die "the env task's output is not its environment: $(head -c 300 env.out)"
if grep -q 'DTR_TOKEN\|orphans test secret' env.out; then
    fail "the task saw the token: $(grep 'DTR_TOKEN\|orphans test secret' env.out | head -n 3)"
else
    pass "no DTR_TOKEN in the task's environment nor in its worker's /proc/PID/environ"
fi

# ---- 4: more tasks than the task table's first 64 slots ------------------
# The table doubles when full; every task group past the first 64 is still
# killed with its worker.
kill "$B_PID" # C alone runs them
wait "$B_PID" 2>/dev/null
start_worker C --master "$M_ADDR" --slots 80
wait_for "worker C registered" "dtr status --json | grep -q '\"id\":\"C\"'" || finish
dtr submit --array 1-80 --job-name many --retries 0 -- \
    sh -c "echo \$\$ >>'$T/pids-many'; exec sleep 300" >/dev/null || die "submit many"
wait_for "80 tasks wrote their pids" "[ \$(wc -l <'$T/pids-many' 2>/dev/null || echo 0) -ge 80 ]" 30 ||
    finish
cp pids-many snap-many
none_dead snap-many || die "the 80 sleeps died early"
kill -9 "$C_PID"
wait "$C_PID" 2>/dev/null
dtr cancel --job many >/dev/null 2>&1
if wait_for "the 80 sleeps to die with worker C" "all_dead '$T/snap-many'" 10; then
    pass "kill -9 of a worker running 80 tasks killed all 80 (the table grew past 64 slots)"
fi

finish
