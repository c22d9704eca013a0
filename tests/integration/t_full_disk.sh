#!/usr/bin/env bash
# A master restarted on a state dir whose disk is still full says which file
# and why ("no space left on device", and to free space), not just SQLite's
# "disk I/O error"; once space is freed it starts and has kept its task.
# The full disk is a 2 MiB tmpfs in a private mount namespace (unshare -m as
# root, unshare -rm as a user with user namespaces); the test is skipped
# when neither is permitted. Every command that must see the tmpfs runs
# through nsenter into the namespace, which a sleeping holder keeps alive.
. "$(dirname "$0")/lib.sh"

small_tmpfs 2m
S=$T/small/state

# in_ns NAME CMD...: runs CMD inside the namespace in the background (nsenter
# execs it, so $! is its PID), output in NAME.out/.err; sets NS_PID.
in_ns() {
    local name=$1
    shift
    "${NS[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    NS_PID=$!
    PIDS+=("$NS_PID")
}

in_ns M1 "$DTR" master --port "$MPORT" --state-dir "$S" --log-dir "$T/logs"
addr=$(read_listen M1) || die "the first master did not start: $(cat M1.err)"
export DTR_MASTER=$addr
dtr submit --id kept --kind noop >/dev/null || die "submit failed"
kill -TERM "$NS_PID"
wait_for "the first master to stop" "is_dead $NS_PID" 15 || finish

# Fill the disk to the last block.
"${NS[@]}" sh -c 'cat /dev/zero >"$1"' sh "$T/small/fill" 2>fill.err
grep -qi "no space" fill.err || die "the tmpfs did not fill up: $(cat fill.err)"

in_ns M2 "$DTR" master --port "$MPORT" --state-dir "$S" --log-dir "$T/logs"
M2=$NS_PID
if wait_for "the master on a full disk to exit" "is_dead $M2" 15; then
    wait "$M2"
    rc=$?
    err=$(cat M2.err)
    if [ "$rc" -ne 0 ] && grep -qF "'$S/journal.db'" M2.err &&
        grep -qF "no space left on device" M2.err && grep -qF "free space" M2.err; then
        pass "restart on a full disk: exit $rc: $err"
    else
        fail "restart on a full disk: exit $rc; stderr: $err"
    fi
    ! grep -q listening M2.out || fail "the master said it was listening on a full disk"
fi

# Space freed: the master starts and has kept the task.
"${NS[@]}" rm -f "$T/small/fill"
in_ns M3 "$DTR" master --port "$MPORT" --state-dir "$S" --log-dir "$T/logs"
addr=$(read_listen M3) || die "the master did not start once space was freed: $(cat M3.err)"
export DTR_MASTER=$addr
[ "$(count_state queued)" = 1 ] && pass "with space freed the master starts and has the task" ||
    fail "after freeing space: $(dtr status --json 2>&1)"
finish
