#!/usr/bin/env bash
# A group follower whose disk fills up stops (fail-stop) instead of going on
# as a member whose journal no longer follows its Raft log; the other two
# carry on, and once space is freed it starts again on the same state dir
# and catches up. Member 3's state dir is a tmpfs in a private mount
# namespace (unshare -m as root, unshare -rm as a user with user
# namespaces), kept alive by a sleeping holder, as in t_full_disk.sh; the
# test is skipped when neither is permitted.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# Room for the journal and C-Raft's log segments (8 MiB each, prepared ahead).
small_tmpfs 48m

export DTR_TOKEN=group-full-disk-secret
# Replication and client ports below the ephemeral range (see
# t_group_failover.sh), in a window of their own (6000-9959: the other
# group tests take 10000-19999).
RPORT=$((6000 + ($$ % 660) * 6))
CPORT=$((RPORT + 2))
GROUP="1@127.0.0.1:$RPORT,2@127.0.0.1:$((RPORT + 1)),3@127.0.0.1:$((RPORT + 2))"
export DTR_MASTER="127.0.0.1:$((CPORT + 1)),127.0.0.1:$((CPORT + 2)),127.0.0.1:$((CPORT + 3))"

# start_member I [PREFIX...]: member I; member 3 keeps its state on the tmpfs.
start_member() {
    local i=$1 state=$T/state-$1
    shift
    [ "$i" = 3 ] && state=$T/small/state
    # shellcheck disable=SC2086 # MASTER_BEATS is a list of flags
    "$@" "$DTR" master --group "$GROUP" --group-id "$i" --port $((CPORT + i)) --http off \
        --state-dir "$state" --log-dir "$T/logs-$i" $MASTER_BEATS --verbose \
        >>"$T/m$i.out" 2>>"$T/m$i.err" &
    eval "M${i}_PID=$!"
    PIDS+=("$!")
}
lag_of() { # I: member I's lag in `dtr status --json` ("" when not listed)
    dtr status --json 2>/dev/null | $PY -c 'import json, sys
g = json.load(sys.stdin).get("group") or {}
print([m.get("lag") for m in g.get("members", []) if m["id"] == int(sys.argv[1])][0])' "$1" 2>/dev/null
}

# Members 1 and 2 first: one of them leads, so member 3 is a follower.
start_member 1
start_member 2
wait_for "a leader among members 1 and 2" \
    "[ -s '$T/state-1/master.addr' ] || [ -s '$T/state-2/master.addr' ]" 20 || finish
start_member 3 "${NS[@]}"
start_worker W1 --slots 4 --master "$DTR_MASTER"
wait_for "the worker registered" "workers_registered 1" 20 || finish
dtr submit --id before --array 1-20 -- echo before >/dev/null || die "submit failed"
dtr wait --all --timeout 60s >/dev/null || die "the first tasks did not finish"
wait_for "member 3 in step" "[ \"\$(lag_of 3)\" = 0 ]" 30 || finish
pass "member 3 follows, its state dir on a 48 MiB tmpfs"

# Fill member 3's disk to the last block.
"${NS[@]}" sh -c 'cat /dev/zero >"$1"' sh "$T/small/fill" 2>fill.err
grep -qi "no space" fill.err || die "the tmpfs did not fill up: $(cat fill.err)"
dtr submit --id during --array 1-100 -- sh -c 'echo output of $DTR_TASK_ID' >/dev/null ||
    fail "submit with member 3's disk full failed"
dtr wait --all --timeout 60s >/dev/null && pass "the group runs tasks while member 3's disk is full" ||
    fail "tasks did not finish with member 3's disk full"

if wait_for "member 3 to stop on its full disk" "is_dead $M3_PID" 20; then
    wait "$M3_PID"
    rc=$?
    [ "$rc" -ne 0 ] && pass "member 3 stopped (exit $rc): $(tail -n 1 m3.err)" ||
        fail "member 3 exited 0 on a full disk"
    grep -qi "no space\|full" m3.err || fail "member 3 did not say why: $(cat m3.err)"
fi

# Space freed: member 3 starts on the same state dir and catches up.
"${NS[@]}" rm -f "$T/small/fill"
is_dead "$M3_PID" || { kill -9 "$M3_PID"; wait "$M3_PID" 2>/dev/null; }
start_member 3 "${NS[@]}"
wait_for "member 3 in step again" "[ \"\$(lag_of 3)\" = 0 ]" 60 &&
    pass "with space freed member 3 starts again and catches up"
[ "$(dtr result during-100)" = "output of during-100" ] && pass "results are kept" ||
    fail "during-100: $(dtr result during-100 2>&1)"
finish
