#!/usr/bin/env bash
# Membership of a master group while it runs: a fourth member started with
# --group-join is added (dtr group add), catches up and votes; a member is
# removed (dtr group remove); the group then survives losing its leader with
# the new member in it. Bad requests get clear errors.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export DTR_TOKEN=group-members-secret
# Ports below the ephemeral range and lib.sh's blocks (see
# t_group_failover.sh), 4 for replication and 4 for clients.
RPORT=$((15000 + ($$ % 600) * 8))
CPORT=$((RPORT + 4))
raddr() { echo "127.0.0.1:$((RPORT + $1 - 1))"; }
GROUP="1@$(raddr 1),2@$(raddr 2),3@$(raddr 3)"
LIST="127.0.0.1:$((CPORT)),127.0.0.1:$((CPORT + 1)),127.0.0.1:$((CPORT + 2)),127.0.0.1:$((CPORT + 3))"
export DTR_MASTER=$LIST

start_member() {
    local i=$1
    shift
    # shellcheck disable=SC2086 # MASTER_BEATS is a list of flags
    "$DTR" master --group-id "$i" --port $((CPORT + i - 1)) --http off \
        --state-dir "$T/state-$i" --log-dir "$T/logs-$i" $MASTER_BEATS --verbose "$@" \
        >>"$T/m$i.out" 2>>"$T/m$i.err" &
    eval "M${i}_PID=$!"
    PIDS+=("$!")
}
leader() {
    local i pid
    for i in 1 2 3 4; do
        pid=$(eval echo "\${M${i}_PID:-}")
        [ -n "$pid" ] && [ -s "$T/state-$i/master.addr" ] && ! is_dead "$pid" && { echo "$i"; return 0; }
    done
    return 1
}
# member_lag I: the leader's view of member I's lag ("" when not a member).
member_lag() {
    dtr group --json | $PY -c "
import json, sys
g = json.load(sys.stdin)
print(''.join(str(m.get('lag', '')) for m in g['members'] if m['id'] == $1))"
}

for i in 1 2 3; do start_member "$i" --group "$GROUP"; done
wait_for "a leader elected" "leader" 20 || finish
L=$(leader)
pass "member $L leads"

# A malformed request is refused before it reaches the master.
dtr group add nonsense >bad.out 2>&1
[ $? -eq 2 ] && grep -q "ID@HOST:PORT" bad.out && pass "group add with a malformed member: usage error" ||
    fail "group add nonsense: $(cat bad.out)"

start_member 4 --group "4@$(raddr 4)" --group-join
wait_for "member 4 follows" "grep -q following m4.out" 20 || finish
dtr group add "4@$(raddr 4)" >add.out 2>&1 && pass "dtr group add 4 succeeded" ||
    fail "dtr group add: $(cat add.out)"
grep -q "member 4 " add.out && pass "the reply lists member 4" || fail "reply: $(cat add.out)"
wait_for "member 4 caught up" "[ \"\$(member_lag 4)\" = 0 ]" 30 &&
    pass "member 4 has the whole log (lag 0)"
dtr group add "4@$(raddr 4)" >again.out 2>&1
[ $? -ne 0 ] && grep -qi "fail\|already\|exist" again.out &&
    pass "adding member 4 again is refused: $(head -n 1 again.out)" || fail "again: $(cat again.out)"

start_worker W1 --slots 2 --master "$LIST"
dtr submit --wait -- echo before >before.out 2>&1 && pass "a task runs in the group of 4" ||
    fail "submit: $(cat before.out)"

# Remove a follower other than 4, then lose the leader: 4 and the last one
# are the majority of the three that remain.
for i in 1 2 3; do [ "$i" != "$L" ] && { GONE=$i; break; }; done
dtr group remove "$GONE" >rm.out 2>&1 && pass "dtr group remove $GONE succeeded" ||
    fail "dtr group remove: $(cat rm.out)"
[ -z "$(member_lag "$GONE")" ] && ! dtr group | grep -q "member $GONE " &&
    pass "member $GONE is no longer listed" || fail "group: $(dtr group 2>&1)"
kill -9 "$(eval echo "\$M${GONE}_PID")"
kill -9 "$(eval echo "\$M${L}_PID")"
pass "killed the removed member $GONE and the leader $L"
wait_for "a new leader" "[ -n \"\$(leader)\" ] && [ \"\$(leader)\" != $L ]" 30 || finish
pass "member $(leader) leads the remaining group"
id=$(dtr submit -- echo after) || fail "submit after the failover"
dtr wait "$id" >/dev/null 2>&1 && [ "$(dtr result "$id")" = after ] &&
    pass "a task submitted after losing the leader runs" || fail "task $id: $(dtr result "$id" --json 2>&1)"

# The old leader comes back on its state dir: it rebuilds its journal from
# the group's log (it may hold batches the group never committed) and
# follows.
start_member "$L" --group "$GROUP"
wait_for "member $L follows again" "[ \$(grep -c following m$L.out) -ge 2 ]" 20 || finish
grep -q "journal emptied" "logs-$L/master.log" && pass "member $L rebuilt its journal from the log" ||
    fail "member $L did not rebuild: $(grep -v DEBUG "logs-$L/master.log" | tail -n 5)"
wait_for "member $L caught up" "[ \"\$(member_lag $L)\" = 0 ]" 30 && pass "member $L caught up (lag 0)"

# SIGTERM stops a follower cleanly (exit 0; under ASan: nothing leaked).
pid=$(eval echo "\$M${L}_PID")
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] && pass "a follower stops on SIGTERM with status 0" || fail "follower exited $rc"
finish
