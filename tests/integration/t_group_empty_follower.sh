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
group_at $((1550 + ($$ % 75) * 6))

for i in 1 2 3; do start_member "$i"; done
wait_for "a leader elected" "leader" 20 || finish
L=$(leader)
start_worker W1 --slots 2 --master "$DTR_MASTER"
dtr submit --array 1-40 --id fill -- echo fill >/dev/null || die "submit failed"
dtr wait --all --timeout 60s >/dev/null || die "the first tasks did not finish"
# The empty member must be sent a snapshot, so the leader must have taken
# one: how many entries 40 tasks make depends on how the worker batches its
# results (fewer on a slow machine), and each further submission makes one.
for _ in $(seq 64); do
    grep -q 'group snapshot bytes=' "logs-$L/master.log" && break
    dtr submit --wait -- true >/dev/null || die "a further task failed"
done
grep -q 'group snapshot bytes=' "logs-$L/master.log" || die "the leader took no snapshot"
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
