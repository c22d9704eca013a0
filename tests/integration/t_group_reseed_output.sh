#!/usr/bin/env bash
# A group member re-seeded from a snapshot (it came back with an empty state
# dir) gets the journal from the snapshot and the output files of the
# attempts before it from the leader, in the background: byte for byte the
# leader's files (binary bytes, stderr, one output over 1 MiB). Then, with
# the re-seeded member leading, `dtr result` prints those outputs exactly.
# Every connection but replication is TLS (and all need the token). A
# re-seeded member that leads before its catch-up ran stops it and logs
# what it lacks.
. "$(dirname "$0")/lib.sh"
export DTR_TOKEN=group-reseed-output-secret
# Snapshots every 16 entries: the empty member is sent one, not the log.
export DTR_GROUP_SNAPSHOT_EVERY=16
# Ports below the ephemeral range and the other group tests' (see
# t_group_failover.sh): 3 for replication, 3 for clients, in 1100-1549.
group_at $((1100 + ($$ % 75) * 6))

# TLS on the client port too: the catch-up dials the leader with the
# member's own token and TLS files.
command -v openssl >/dev/null || die "the openssl command is needed (Debian package openssl)"
make_ca ca && make_cert ca master && make_cert ca worker && make_cert ca client ||
    die "openssl could not make the certificates: $(tail -n 5 "$T/openssl.log")"
dtr() {
    local cmd=$1
    shift
    # shellcheck disable=SC2046 # several flags; $T has no spaces
    "$DTR" "$cmd" $(tls_flags ca client) "$@"
}

# member I: member I with the masters' certificate.
member() {
    # shellcheck disable=SC2046 # a list of flags; $T has no spaces
    start_member "$1" $(tls_flags ca master)
}
# A member killed and started again on its state dir (it follows).
restart_member() {
    kill -9 "$(pid_of "$1")"
    wait "$(pid_of "$1")" 2>/dev/null
    rm -f "$T/state-$1/master.addr"
    member "$1"
}
# make_lead I: kills the leader (and starts it again) until member I is
# elected, up to 20 rounds. Each election is a race; the third member is
# stopped (SIGSTOP) meanwhile, so that I races only the restarted leader,
# which starts late: on a loaded machine I lost to the third member 20
# times in a row.
make_lead() {
    local round l o
    for round in $(seq 20); do
        l=$(leader)
        [ "$l" = "$1" ] && return 0
        for o in 1 2 3; do [ "$o" != "$l" ] && [ "$o" != "$1" ] && break; done
        kill -STOP "$(pid_of "$o")"
        restart_member "$l"
        wait_for "a new leader (round $round)" "leader" 30
        kill -CONT "$(pid_of "$o")"
        leader >/dev/null || finish
    done
    [ "$(leader)" = "$1" ]
}

for i in 1 2 3; do member "$i"; done
wait_for "a leader elected" "leader" 20 || finish
L=$(leader)
pass "member $L leads"
for i in 1 2 3; do [ "$i" != "$L" ] && { F=$i; break; }; done

# shellcheck disable=SC2046 # several flags
start_worker W1 --slots 2 --master "$LIST" $(tls_flags ca worker)
wait_for "the worker registered" "workers_registered 1" 20 || finish

# Outputs to compare: binary bytes (NUL, 0xff, no final newline) on both
# streams, and 1.5 MiB of random bytes.
printf 'a\000b\377c\r\n\001\002tail' >small.bin
printf '\377\376err\000' >small-err.bin
head -c 1572864 /dev/urandom >big.bin
bin=$(dtr submit -- sh -c "cat '$T/small.bin'; cat '$T/small-err.bin' >&2") || die "submit bin"
big=$(dtr submit -- cat "$T/big.bin") || die "submit big"
dtr submit --array 1-30 --id fill -- echo fill >/dev/null || die "submit fill"
dtr wait --all --timeout 60s >wait.out 2>&1 || die "tasks did not succeed: $(cat wait.out)"
pass "32 tasks ran, one with binary output, one with 1.5 MiB"

# Member F goes, and comes back with an empty state dir.
kill -9 "$(pid_of "$F")"
wait "$(pid_of "$F")" 2>/dev/null
rm -rf "$T/state-$F"
# More entries while it is away: the leader's log moves past its snapshot.
dtr submit --array 1-20 --id more -- echo more >/dev/null && dtr wait --all --timeout 60s >/dev/null ||
    die "second batch"
# The empty member must be sent a snapshot, so the leader must have taken
# one: how many entries these tasks make depends on how the worker batches
# its results (fewer on a slow machine), and each further submission makes
# one.
for _ in $(seq 64); do
    grep -q 'group snapshot bytes=' "logs-$L/master.log" && break
    dtr submit --wait -- true >/dev/null || die "a further task failed"
done
grep -q 'group snapshot bytes=' "logs-$L/master.log" || die "the leader took no snapshot"
member "$F"
wait_for "member $F restored a snapshot" "grep -q 'journal restored from a group snapshot' logs-$F/master.log" 30 ||
    finish
pass "member $F, restarted empty, was re-seeded from a snapshot"
wait_for "member $F's output catch-up done" "grep -q 'output catch-up done' logs-$F/master.log" 60 ||
    finish
grep 'output catch-up done' "logs-$F/master.log" | head -n 1
grep -q 'output catch-up started' "logs-$F/master.log" && pass "member $F logged the catch-up's start" ||
    fail "no start line"

# Every output file of the leader is on F, byte for byte.
n=0
bad=0
for f in "state-$L"/output/*; do
    n=$((n + 1))
    cmp -s "$f" "state-$F/output/${f##*/}" || { bad=$((bad + 1)); echo "differs: ${f##*/}"; }
done
[ "$n" -ge 50 ] && [ "$bad" -eq 0 ] && pass "member $F has all $n of the leader's output files, identical" ||
    fail "$bad of $n output files missing or different on member $F"
extra=$(cd "state-$F/output" && for f in *; do [ -e "$T/state-$L/output/$f" ] || echo "$f"; done)
[ -z "$extra" ] && pass "member $F has no output file the leader lacks" || fail "extra files on $F: $extra"
# Every attempt the journal records came whole (none shorter than its
# record).
grep -q 'output catch-up done.* incomplete=0' "logs-$F/master.log" && pass "nothing incomplete" ||
    fail "$(grep 'output catch-up' "logs-$F/master.log")"

make_lead "$F" && pass "the re-seeded member $F leads" || die "member $F never led"

dtr result "$bin" >bin.out 2>bin.err &&
    cmp -s bin.out small.bin && pass "dtr result prints the binary stdout exactly" ||
    fail "bin: $(od -c bin.out | head -n 3) $(cat bin.err)"
dtr logs --stderr "$bin" >bin-err.out 2>&1 && cmp -s bin-err.out small-err.bin &&
    pass "dtr logs --stderr prints the binary stderr exactly" || fail "stderr: $(od -c bin-err.out | head -n 3)"
dtr result "$big" >big.out 2>big.err && cmp -s big.out big.bin &&
    pass "dtr result prints the 1.5 MiB output exactly" ||
    fail "big: $(wc -c <big.out) bytes, $(cat big.err)"
[ "$(dtr result fill-7)" = fill ] && pass "fill-7's output is there" || fail "fill-7: $(dtr result fill-7 2>&1)"
# SIGTERM stops the re-seeded leader cleanly (under ASan: its catch-up
# freed, nothing leaked).
kill -TERM "$(pid_of "$F")"
wait "$(pid_of "$F")"
rc=$?
[ "$rc" -eq 0 ] && pass "the re-seeded leader stops on SIGTERM with status 0" || fail "member $F exited $rc"
# A re-seeded member that comes to lead before its catch-up is done stops
# it and logs what it lacks (DTR_GROUP_CATCHUP_DELAY_MS holds the catch-up
# back). F comes back first: two members must stay up.
member "$F"
wait_for "a leader again" "leader" 30 || finish
L=$(leader)
for i in 1 2 3; do [ "$i" != "$L" ] && [ "$i" != "$F" ] && G=$i; done
[ -z "${G:-}" ] && for i in 1 2 3; do [ "$i" != "$L" ] && G=$i; done
kill -9 "$(pid_of "$G")"
wait "$(pid_of "$G")" 2>/dev/null
rm -rf "$T/state-$G" "$T/logs-$G"
dtr submit --array 1-20 --id third -- echo third >/dev/null && dtr wait --all --timeout 60s >/dev/null ||
    die "third batch"
DTR_GROUP_CATCHUP_DELAY_MS=600000 member "$G"
wait_for "member $G's catch-up started" "grep -q 'output catch-up started' logs-$G/master.log" 30 ||
    finish
# It follows the leader's entries (it learnt the leader from them).
wait_for "member $G knows the leader" "grep -q 'group leader member=' logs-$G/master.log" 30 || finish
make_lead "$G" && pass "the re-seeded member $G leads before its catch-up ran" ||
    die "member $G never led"
wait_for "member $G stopped its catch-up" "grep -q 'output catch-up stopped: this member leads' logs-$G/master.log" 20 ||
    finish
grep -q 'output catch-up stopped: this member leads; output still missing attempts=[1-9]' \
    "logs-$G/master.log" && pass "it logs the output it still lacks: $(grep -o 'still missing.*' "logs-$G/master.log")" ||
    fail "$(grep 'output catch-up' "logs-$G/master.log")"
dtr result "$big" >big2.out 2>&1
[ "$(wc -c <big2.out)" -lt "$(wc -c <big.bin)" ] && pass "as documented, it lacks the big output" ||
    fail "member $G has the big output after all?"
kill -TERM "$(pid_of "$G")"
wait "$(pid_of "$G")"
rc=$?
[ "$rc" -eq 0 ] && pass "that leader stops on SIGTERM with status 0" || fail "member $G exited $rc"
for i in 1 2 3; do
    grep -q "cannot apply\|journal write failed" "logs-$i/master.log" &&
        fail "member $i: $(grep "cannot apply\|journal write failed" "logs-$i/master.log" | tail -n 3)"
done
finish
