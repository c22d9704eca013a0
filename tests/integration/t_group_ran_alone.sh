#!/usr/bin/env bash
# A group member refuses a state dir that a master running alone has used:
# its journal is no member's log, and joining with it would lose or fork
# tasks. Checked with tasks in the journal (killed before any prune) and
# with none (an empty master, stopped).
. "$(dirname "$0")/lib.sh"
# Below the ephemeral range, in a window no other group test uses (see
# t_group_failover.sh): the member stops before it listens anyway.
group_at $((1000 + ($$ % 15) * 6))

# refused I NAME WHAT: member I, started on master NAME's state dir, exits
# non-zero at once and says why, naming WHAT.
refused() {
    local i=$1 name=$2 what=$3 pid
    "$DTR" master --group "$GROUP" --group-id "$i" --port $((CPORT + i)) --http off \
        --state-dir "$T/state-$name" --log-dir "$T/logs-$i" >"$T/m$i.out" 2>"$T/m$i.err" &
    pid=$!
    PIDS+=("$pid")
    if ! wait_for "member $i to exit" "is_dead $pid" 20; then
        fail "member $i started on the state dir of a master that ran alone"
        return
    fi
    wait "$pid" 2>/dev/null
    local rc=$?
    [ "$rc" -ne 0 ] && grep -q "ran alone$what; a group member starts from an empty state dir" "$T/m$i.err" &&
        pass "member $i refuses the state dir of a master that ran alone$what (exit $rc)" ||
        fail "member $i: exit $rc, said: $(cat "$T/m$i.err")"
}

# A master alone, three tasks queued (no worker), killed before it prunes.
start_master solo
dtr submit --array 1-3 -- true >/dev/null || die "submit failed"
{ kill -9 "$solo_PID"; wait "$solo_PID"; } 2>/dev/null
refused 1 solo " (3 tasks)"

# A master alone that never had a task, stopped.
start_master empty
{ kill "$empty_PID"; wait "$empty_PID"; } 2>/dev/null
refused 2 empty ""
finish
