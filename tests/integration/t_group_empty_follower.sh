#!/usr/bin/env bash
# A follower brought back with an empty state dir while the same leader
# goes on leading, and no entry was added while it was away: the leader
# still counts the entries the member had stored, sends it a snapshot and
# (C-Raft 0.15) would then wait for it forever, so the member never got
# another entry until its snapshot timeout (30 s). The leader now sees that
# state and probes the member again (it says so in its log). Then, with the
# third member killed, the group is the leader and the re-seeded member,
# and a task must still commit and run.
. "$(dirname "$0")/lib.sh"
export DTR_TOKEN=group-empty-follower-secret
# Snapshots every 16 entries: the empty member is sent one, not the log.
export DTR_GROUP_SNAPSHOT_EVERY=16
# Ports below the ephemeral range and the other group tests' (see
# t_group_failover.sh): 3 for replication, 3 for clients, in 1550-1999.
RPORT=$((1550 + ($$ % 75) * 6))
CPORT=$((RPORT + 2))
GROUP="1@127.0.0.1:$RPORT,2@127.0.0.1:$((RPORT + 1)),3@127.0.0.1:$((RPORT + 2))"
export DTR_MASTER="127.0.0.1:$((CPORT + 1)),127.0.0.1:$((CPORT + 2)),127.0.0.1:$((CPORT + 3))"

start_member() {
    local i=$1
    # shellcheck disable=SC2086 # MASTER_BEATS is a list of flags
    "$DTR" master --group "$GROUP" --group-id "$i" --port $((CPORT + i)) --http off \
        --state-dir "$T/state-$i" --log-dir "$T/logs-$i" $MASTER_BEATS --verbose \
        >>"$T/m$i.out" 2>>"$T/m$i.err" &
    eval "M${i}_PID=$!"
    PIDS+=("$!")
}
pid_of() { eval echo "\$M${1}_PID"; }
leader() {
    local i
    for i in 1 2 3; do
        [ -s "$T/state-$i/master.addr" ] && ! is_dead "$(pid_of "$i")" && { echo "$i"; return 0; }
    done
    return 1
}

for i in 1 2 3; do start_member "$i"; done
wait_for "a leader elected" "leader" 20 || finish
L=$(leader)
start_worker W1 --slots 2 --master "$DTR_MASTER"
dtr submit --array 1-40 --id fill -- echo fill >/dev/null || die "submit failed"
dtr wait --all --timeout 60s >/dev/null || die "the first tasks did not finish"
for i in 1 2 3; do [ "$i" != "$L" ] && F=$i; done
for i in 1 2 3; do [ "$i" != "$L" ] && [ "$i" != "$F" ] && X=$i; done

# F comes back empty; nothing is submitted meanwhile.
kill -9 "$(pid_of "$F")"
wait "$(pid_of "$F")" 2>/dev/null
rm -rf "$T/state-$F"
start_member "$F"
wait_for "member $F restored a snapshot" \
    "grep -q 'journal restored from a group snapshot' logs-$F/master.log" 30 || finish
pass "member $F, restarted empty, was sent a snapshot"
[ "$(leader)" = "$L" ] || die "the leader changed (now $(leader)); the case needs the same one"

wait_for "the leader probing member $F again" \
    "grep -q 'came back without entries it had stored.*member=$F ' logs-$L/master.log" 20 &&
    pass "the leader saw member $F come back without its entries and probed it again"

# Without X the leader needs F for every commit.
kill -9 "$(pid_of "$X")"
wait "$(pid_of "$X")" 2>/dev/null
pass "member $X killed: the group is the leader $L and the re-seeded $F"
timeout 60 "$DTR" submit --wait -- echo after-reseed >after.out 2>after.err &&
    id=$(head -n 1 after.out) && [ "$(dtr result "$id")" = after-reseed ] &&
    pass "a task commits and runs with the re-seeded member's votes" ||
    fail "submit --wait: $(cat after.out after.err)"
finish
