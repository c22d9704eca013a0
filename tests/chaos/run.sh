#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Chaos run: a master and three workers on their own network namespaces
# (tests/chaos/netns.sh), a mixed workload, faults injected while it runs,
# then tests/chaos/check.py judges the journal, the logs and the executions.
#
#   tests/chaos/run.sh short [--name NAME]      fixed schedule, each fault once
#   tests/chaos/run.sh long SEED DURATION       randomized schedule from SEED
#   tests/chaos/run.sh group [--name NAME] [--rounds N] [--seed S]
#                                               a master group of 3 on 3 hosts:
#                                               follower cut off, leader cut off
#                                               from the majority, leader kill -9
#                                               and restart, full disk on a member,
#                                               N rounds (default 1)
#
# Needs root, iproute2 (ip netns, tc) and nftables. Environment: DTR (the
# binary, default build/dtr), KEEP=1 keeps the run directory even on success.
# Exit status: 0 all checks passed, 1 a check failed, 77 cannot run here.
#
# Network: every address is inside namespaces this run creates (CH_SUBNET,
# default 10.213.0.0/24, on a bridge in our own "switch" namespace); nothing
# is routed anywhere else. Everything (processes, namespaces, veths, the
# bridge) is removed on exit, failure and signals included.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DTR=${DTR:-$ROOT/build/dtr}
PY=/usr/bin/python3

MODE=${1:-short}
shift || true
NAME=chaos
SEED=1
DURATION=120
if [ "$MODE" = short ]; then
    [ "${1:-}" = --name ] && NAME=${2:-chaos}
elif [ "$MODE" = group ]; then
    NAME=chaos-group
    ROUNDS=1
    while [ $# -gt 0 ]; do
        case "$1" in
        --name) NAME=${2:-chaos-group}; shift 2 ;;
        --rounds) ROUNDS=${2:-1}; shift 2 ;;
        --seed) SEED=${2:-1}; shift 2 ;;
        *) echo "group: unknown option $1" >&2; exit 2 ;;
        esac
    done
    case "$ROUNDS" in '' | *[!0-9]*) echo "--rounds must be a number" >&2; exit 2 ;; esac
elif [ "$MODE" = long ]; then
    SEED=${1:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    DURATION=${2:-120}
    NAME="chaos-long"
else
    echo "usage: $0 short [--name NAME] | $0 long SEED DURATION | $0 group [--name NAME] [--rounds N] [--seed S]" >&2
    exit 2
fi
case "$SEED" in '' | *[!0-9]*) echo "SEED must be a number (got '$SEED')" >&2; exit 2 ;; esac
case "$DURATION" in '' | *[!0-9]*) echo "DURATION must be whole seconds (got '$DURATION')" >&2; exit 2 ;; esac

. "$HERE/netns.sh"
if ! why=$(ch_available); then
    echo "chaos: cannot run: $why"
    exit 77
fi
[ -x "$DTR" ] || { echo "chaos: no binary at $DTR (build first)"; exit 1; }

START_TS=$(date +%s)
H_PASSED=0
H_FAILED=0
OBS_PID=""
FINISHED=""
h_pass() { H_PASSED=$((H_PASSED + 1)); echo "ok: $*"; echo "ok: $*" >>"$RUN/harness.log"; }
h_fail() { H_FAILED=$((H_FAILED + 1)); echo "FAIL: $*"; echo "FAIL: $*" >>"$RUN/harness.log"; }
note() { echo "[$(($(date +%s) - START_TS))s] $*"; }
now_ns() { local t=$EPOCHREALTIME; echo "${t/./}000"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    [ -n "$OBS_PID" ] && { touch "$RUN/stop-observer"; kill "$OBS_PID" 2>/dev/null; wait "$OBS_PID" 2>/dev/null; }
    ch_cleanup || rc=1
    local san="ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:"
    if grep -rlE --include='*.err' "$san" "$RUN" >/dev/null 2>&1; then
        echo "FAIL: sanitizer report in:" $(grep -rlE --include='*.err' "$san" "$RUN")
        grep -rhE --include='*.err' -A30 "$san" "$RUN" | head -60
        rc=1
    fi
    if [ -z "$FINISHED" ]; then
        # Stopped early (a precondition failed, or a signal): still close with
        # the line CI reads.
        [ "$rc" -eq 0 ] && rc=1
        echo "$NAME: $H_PASSED passed, $((H_FAILED > 0 ? H_FAILED : 1)) failed"
    fi
    if [ "$rc" -eq 0 ] && [ -z "${KEEP:-}" ]; then
        rm -rf "$RUN"
    else
        echo "(chaos run files kept in $RUN)"
    fi
    exit "$rc"
}

CH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dtr-chaos.XXXXXX") || exit 1
RUN=$CH_DIR
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$RUN/logs" "$RUN/exec" "$RUN/scratch" "$RUN/state"
if [ "$MODE" = group ]; then mkdir -p "$RUN/logs/m1" "$RUN/logs/m2" "$RUN/logs/m3"; fi
# A private copy of the binary: a rebuild of build/dtr during the run must not
# change (or briefly remove) the program under test.
cp "$DTR" "$RUN/dtr" || { echo "chaos: cannot copy $DTR"; exit 1; }
DTR=$RUN/dtr
chmod 1777 "$RUN/exec"
: >"$RUN/faults.jsonl"
: >"$RUN/procs.jsonl"
: >"$RUN/submitted.txt"
: >"$RUN/expect.jsonl"
: >"$RUN/harness.log"

# Timing of the cluster: the same in both modes.
HB=250ms
WT=3       # master --worker-timeout, seconds
MT=10      # worker --master-timeout, seconds
SLOTS=2
WORKERS=(w1 w2 w3)
MPORT=4999

ch_reap_stale
# The master group: members m1-m3 on hosts of their own, replication on
# RPORT (below the ephemeral range), clients and the observer on host c.
MEMBERS=()
RPORT=7101
if [ "$MODE" = group ]; then
    MEMBERS=(m1 m2 m3)
    ch_net_up m1=2 m2=3 m3=4 c=5 w1=11 w2=12 w3=13 ||
        { echo "chaos: cannot build the test network"; exit 1; }
    CLIENT_HOST=c
    MIP=${CH_ADDR[m1]}
    MADDR="${CH_ADDR[m1]}:$MPORT,${CH_ADDR[m2]}:$MPORT,${CH_ADDR[m3]}:$MPORT"
    GROUP="1@${CH_ADDR[m1]}:$RPORT,2@${CH_ADDR[m2]}:$RPORT,3@${CH_ADDR[m3]}:$RPORT"
else
    ch_net_up master=2 w1=11 w2=12 w3=13 || { echo "chaos: cannot build the test network"; exit 1; }
    CLIENT_HOST=master
    MIP=${CH_ADDR[master]}
    MADDR="$MIP:$MPORT"
fi
MASTER_NODES=(master)
[ "$MODE" = group ] && MASTER_NODES=("${MEMBERS[@]}")
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/token"
chmod 600 "$RUN/token" # dtr refuses a token file others may read
export DTR_TOKEN
DTR_TOKEN=$(cat "$RUN/token")
export DTR_MASTER=""
note "network $CH_ID up: master(s) $MADDR, workers ${CH_ADDR[w1]} ${CH_ADDR[w2]} ${CH_ADDR[w3]} (run dir $RUN)"

# ---- processes ---------------------------------------------------------------

json_line() { echo "$1" >>"$2"; }

proc_event() { # NAME PID EVENT [STATUS] [WHY]
    json_line "{\"name\":\"$1\",\"pid\":$2,\"event\":\"$3\",\"t_ns\":$(now_ns),\"status\":${4:-null},\"why\":\"${5:-}\"}" \
        "$RUN/procs.jsonl"
}

# wait_lines FILE PATTERN MIN TIMEOUT: until FILE has at least MIN lines matching.
wait_lines() {
    local file=$1 pat=$2 min=$3 limit=$4 n
    local deadline=$((SECONDS + limit))
    while :; do
        n=$(grep -c -- "$pat" "$file" 2>/dev/null || true)
        [ "${n:-0}" -ge "$min" ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
count_lines() { grep -c -- "$2" "$1" 2>/dev/null || true; }

start_master() {
    local before
    before=$(count_lines "$RUN/master.out" " listening on ")
    ch_spawn master master "$DTR" master --host "$MIP" --port "$MPORT" --state-dir "$RUN/state" \
        --log-dir "$RUN/logs" --heartbeat "$HB" --worker-timeout "${WT}s" --scan-interval 1s \
        --token-file "$RUN/token" -v
    proc_event master "$master_PID" start
    if ! wait_lines "$RUN/master.out" " listening on $MADDR" $((before + 1)) 20; then
        h_fail "master did not start listening on $MADDR: $(tail -n 3 "$RUN/master.err")"
        return 1
    fi
}

# start_member mN: member N of the group on its own host, its own state dir
# and log dir (logs/mN/master.log). MEMBER_TMPFS[mN], when set, makes its
# state dir a tmpfs of that size (the member_disk_full fault fills it). The
# tmpfs lives in the mount namespace of a holder process (mN_hold, a sleep in
# mN's network namespace) and the member is started inside it, so the state
# survives the member's restarts; nothing is mounted in the root namespace. A member prints "listening on" only
# when it leads, so this waits for the "group member started" line.
declare -A MEMBER_TMPFS=()
start_member() {
    local m=$1 i=${1#m} before
    before=$(count_lines "$RUN/logs/$m/master.log" "group member started ")
    mkdir -p "$RUN/state-$m"
    chmod 700 "$RUN/state-$m"
    if [ -n "${MEMBER_TMPFS[$m]:-}" ]; then
        local hold_var="${m}_hold_PID"
        if [ -z "${!hold_var:-}" ]; then
            ch_spawn "${m}_hold" "$m" sh -c 'mount -t tmpfs -o size=$1,mode=700 chaos-state "$0" &&
                touch "$0/.mounted" && exec sleep 100000' "$RUN/state-$m" "${MEMBER_TMPFS[$m]}"
            for _ in $(seq 1 50); do
                nsenter -t "${!hold_var}" -m test -e "$RUN/state-$m/.mounted" 2>/dev/null && break
                sleep 0.1
            done
        fi
        # nsenter execs dtr in place: the PID is the member's.
        ch_spawn "$m" "$m" nsenter -t "${!hold_var}" -m \
            "$DTR" master --group "$GROUP" --group-id "$i" --host "${CH_ADDR[$m]}" --port "$MPORT" \
            --state-dir "$RUN/state-$m" --log-dir "$RUN/logs/$m" --heartbeat "$HB" \
            --worker-timeout "${WT}s" --scan-interval 1s --token-file "$RUN/token" --http off -v
    else
        ch_spawn "$m" "$m" "$DTR" master --group "$GROUP" --group-id "$i" --host "${CH_ADDR[$m]}" \
            --port "$MPORT" --state-dir "$RUN/state-$m" --log-dir "$RUN/logs/$m" --heartbeat "$HB" \
            --worker-timeout "${WT}s" --scan-interval 1s --token-file "$RUN/token" --http off -v
    fi
    local pid_var="${m}_PID"
    proc_event "$m" "${!pid_var}" start
    if ! wait_lines "$RUN/logs/$m/master.log" "group member started " $((before + 1)) 20; then
        h_fail "member $m did not start: $(tail -n 3 "$RUN/$m.err")"
        return 1
    fi
}

# member_role mN: "leader" when its process lives and the last of its
# "group member started" / "leading the group" / "no longer the group's
# leader" lines is "leading"; "follower" when it lives otherwise; "down".
member_role() {
    local m=$1 pid_var="${1}_PID" last
    local pid=${!pid_var:-}
    if [ -z "$pid" ] || ch_is_dead "$pid"; then echo down; return; fi
    last=$(grep -E "group member started |leading the group |no longer the group's leader" \
        "$RUN/logs/$m/master.log" 2>/dev/null | tail -n 1)
    case "$last" in *"leading the group "*) echo leader ;; *) echo follower ;; esac
}
# find_leader: LNOW the member that leads now (empty if none), LNOW_TERM
# its term. (Not in a command substitution: it sets variables.)
LNOW=""
LNOW_TERM=0
find_leader() {
    local m
    LNOW=""
    LNOW_TERM=0
    for m in "${MEMBERS[@]}"; do
        if [ "$(member_role "$m")" = leader ]; then
            LNOW_TERM=$(grep "leading the group " "$RUN/logs/$m/master.log" | tail -n 1 |
                sed -n 's/.* term=\([0-9]*\).*/\1/p')
            LNOW=$m
            return 0
        fi
    done
    return 1
}
# wait_leader TIMEOUT [NOT_MEMBER] [MIN_TERM]: until a member other than
# NOT_MEMBER leads with a term above MIN_TERM; LEADER and LEADER_TERM say who.
LEADER=""
LEADER_TERM=0
wait_leader() {
    local limit=$1 not=${2:-} min=${3:-0}
    local deadline=$((SECONDS + limit))
    while :; do
        if find_leader && [ "$LNOW" != "$not" ] && [ "${LNOW_TERM:-0}" -gt "$min" ]; then
            LEADER=$LNOW
            LEADER_TERM=$LNOW_TERM
            return 0
        fi
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
# master_log_files: the log(s) of the master or of every member.
master_log_files() {
    if [ "$MODE" = group ]; then
        echo "$RUN/logs/m1/master.log" "$RUN/logs/m2/master.log" "$RUN/logs/m3/master.log"
    else
        echo "$RUN/logs/master.log"
    fi
}

# Each worker gets a private 4 MiB tmpfs at $RUN/scratch in its own mount
# namespace (`ip netns exec` made one): the disk its disk tasks write to.
start_worker() {
    local w=$1 before
    before=$(count_lines "$RUN/$w.out" " listening on ")
    ch_spawn "$w" "$w" sh -c 'mount -t tmpfs -o size=4m,mode=1777 chaos-scratch "$0" && exec "$@"' \
        "$RUN/scratch" "$DTR" worker --id "$w" --host "${CH_ADDR[$w]}" --port-range 5000-5100 \
        --master "$MADDR" --slots "$SLOTS" --cpus "$SLOTS" --gpus 0,1 --master-timeout "${MT}s" \
        --log-dir "$RUN/logs" "${WORKER_V[@]}" \
        --token-file "$RUN/token"
    local pid_var="${w}_PID"
    proc_event "$w" "${!pid_var}" start
    if ! wait_lines "$RUN/$w.out" " listening on " $((before + 1)) 20; then
        h_fail "worker $w did not start: $(tail -n 3 "$RUN/$w.err")"
        return 1
    fi
}

# kill_and_reap NAME WHY: SIGKILL NAME's process and record how it ended.
kill_and_reap() {
    local name=$1 why=$2 pid_var="${1}_PID"
    local pid=${!pid_var:-}
    [ -n "$pid" ] || return 1
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    REAP_RC=$?
    proc_event "$name" "$pid" exit "$REAP_RC" "$why"
    printf -v "$pid_var" '%s' ""
}

# Worker logs at -v in the group run: "attempt started/received" lines with
# the lease, which the checker joins to the leader of the time.
WORKER_V=()
[ "$MODE" = group ] && WORKER_V=(-v)
registered_count() {
    # shellcheck disable=SC2046 # one or three file names
    cat $(master_log_files) 2>/dev/null | grep -c -- "worker registered id=$1 " || true
}
# wait_registered W MIN TIMEOUT: W's registrations (with any member) reach MIN.
wait_registered() {
    local deadline=$((SECONDS + $3))
    while [ "$(registered_count "$1")" -lt "$2" ]; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# reap NAME WHY: if NAME's process is dead, record its exit status in
# procs.jsonl and REAP_RC and forget the PID; false if it still runs. (Not in
# a command substitution: only this shell can wait for its children.)
REAP_RC=""
reap() {
    local name=$1 why=$2 pid_var="${1}_PID"
    local pid=${!pid_var:-}
    REAP_RC=""
    [ -n "$pid" ] || return 1
    ch_is_dead "$pid" || return 1
    wait "$pid" 2>/dev/null
    REAP_RC=$?
    proc_event "$name" "$pid" exit "$REAP_RC" "$why"
    printf -v "$pid_var" '%s' ""
    return 0
}

dtrc() { ch_exec "$CLIENT_HOST" "$DTR" "$@" --master "$MADDR"; }

BATCH=0
# The short run gives every task one priority: the queue is then first come,
# first served, so a lost task (submitted earlier) runs again as soon as a slot
# is free and "re-run within about the worker timeout" can be asserted. The
# long run mixes priorities.
PRIO_ARGS=()
[ "$MODE" = short ] && PRIO_ARGS=(--priority 2)
submit_batch() { # COUNT MIX
    local n=$1 mix=${2:-default} file out rc
    file=$("$PY" "$HERE/workload.py" batch --run "$RUN" --seed "$SEED" --batch "$BATCH" \
        --count "$n" --mix "$mix" "${PRIO_ARGS[@]}")
    out="$RUN/batches/batch-$BATCH.ids"
    dtrc submit --file "$file" >"$out" 2>"$RUN/batches/batch-$BATCH.err"
    rc=$?
    SUBMIT_RC=$rc
    cat "$out" >>"$RUN/submitted.txt"
    if [ "$rc" -eq 0 ]; then
        note "submitted batch $BATCH: $(wc -l <"$out") tasks ($mix)"
    else
        note "submit of batch $BATCH exited $rc (master down?): $(head -c 200 "$RUN/batches/batch-$BATCH.err")"
    fi
    BATCH=$((BATCH + 1))
    return 0
}

# running_exec_on W: how many exec tasks the master says run on W.
running_exec_on() {
    dtrc tasks --state running --json 2>/dev/null | grep "\"worker\":\"$1\"" |
        grep -c '"kind":"exec"' || true
}
wait_exec_on() { # W TIMEOUT
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        [ "$(running_exec_on "$1")" -ge 1 ] && return 0
        sleep 0.1
    done
    note "no exec task seen running on $1 within $2s (injecting anyway)"
    return 1
}

# ---- faults ------------------------------------------------------------------
declare -A F_KIND=() F_TARGET=() F_ARG=() F_PID=()
declare -A BASE_LOSS=()
declare -A FAULTS_DONE=()
ACTIVE_DEAD=()   # workers a fault keeps down (killed, cut off past master-timeout)

fault_record() { # FID PHASE
    local fid=$1 phase=$2
    json_line "{\"fid\":$fid,\"phase\":\"$phase\",\"t_ns\":$(now_ns),\"kind\":\"${F_KIND[$fid]}\",\"target\":\"${F_TARGET[$fid]}\",\"arg\":\"${F_ARG[$fid]}\",\"pid\":${F_PID[$fid]:-null}}" \
        "$RUN/faults.jsonl"
}

is_held_down() { local x; for x in "${ACTIVE_DEAD[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
hold_down() { ACTIVE_DEAD+=("$1"); }
release() {
    local x keep=()
    for x in "${ACTIVE_DEAD[@]}"; do [ "$x" != "$1" ] && keep+=("$x"); done
    ACTIVE_DEAD=("${keep[@]}")
}

# other_member_addrs mN: the other members' addresses, "A, B".
other_member_addrs() {
    local m out=""
    for m in "${MEMBERS[@]}"; do
        [ "$m" = "$1" ] && continue
        out="${out:+$out, }${CH_ADDR[$m]}"
    done
    echo "$out"
}

fault_start() { # FID KIND TARGET [ARG]
    local fid=$1 kind=$2 target=$3 arg=${4:-} pid_var="${3}_PID"
    F_KIND[$fid]=$kind
    F_TARGET[$fid]=$target
    F_ARG[$fid]=$arg
    F_PID[$fid]=${!pid_var:-}
    local pid=${F_PID[$fid]}
    if [ -z "$pid" ] && [ "$kind" != partition ] && [ "$kind" != loss_burst ] &&
        [ "$kind" != master_loss ]; then
        note "fault $fid $kind $target skipped: $target is not running"
        F_KIND[$fid]=skipped
        return 0
    fi
    FAULTS_DONE[$kind]=$((${FAULTS_DONE[$kind]:-0} + 1))
    case "$kind" in
    worker_kill)
        hold_down "$target"
        kill_and_reap "$target" "harness SIGKILL"
        ;;
    worker_stop) kill -STOP "$pid" ;;
    partition | partition_long)
        [ "$kind" = partition_long ] && hold_down "$target"
        case "$arg" in
        link) ch_link_down "$target" ;;
        in | out) ch_partition_oneway "$target" "$MIP" "$arg" ;;
        *) ch_partition "$target" "$MIP" ;;
        esac
        ;;
    master_kill)
        hold_down master
        kill_and_reap master "harness SIGKILL"
        ;;
    master_stop) kill -STOP "$pid" ;;
    master_loss) ch_loss master "$arg" ;;
    disk_full)
        # A full 64 KiB tmpfs mounted over the worker's scratch dir, in the
        # worker's mount namespace: tasks that start now find the disk full
        # (ones already running keep their own, by their working directory).
        # It is filled aside and only then bound over the scratch dir: filled
        # in place, a task starting meanwhile took part of it, failed, and
        # its rm freed room that later tasks wrote to (seen under ASan).
        nsenter -t "$pid" -m sh -c 'd=$(mktemp -d) &&
            mount -t tmpfs -o size=64k,mode=1777 chaos-full "$d" &&
            { head -c 1M /dev/zero >"$d/.fill"; true; } 2>/dev/null &&
            mount --bind "$d" "$0" && umount "$d" && rmdir "$d"' "$RUN/scratch"
        ;;
    loss_burst) ch_loss "$target" "$arg" ;;
    follower_partition | leader_partition)
        # Cut off from the other members only (both ways): workers and
        # clients still reach it.
        ch_partition_set "$target" "$(other_member_addrs "$target")"
        ;;
    leader_kill)
        hold_down "$target"
        kill_and_reap "$target" "harness SIGKILL"
        ;;
    member_disk_full)
        # Its state dir (a tmpfs in its mount namespace) filled up: the next
        # journal or Raft log write fails, and the member must stop.
        hold_down "$target"
        nsenter -t "$pid" -m sh -c 'head -c 256M /dev/zero >"$0/.chaos-fill"' "$RUN/state-$target" \
            2>/dev/null
        ;;
    esac
    # Recorded once the fault is in effect: the checker counts from here.
    fault_record "$fid" start
    note "fault $fid: $kind $target $arg"
}

fault_end() { # FID
    local fid=$1 kind=${F_KIND[$1]} target=${F_TARGET[$1]} arg=${F_ARG[$1]} pid=${F_PID[$1]}
    [ "$kind" = skipped ] && return 0
    case "$kind" in
    worker_kill)
        release "$target"
        start_worker "$target"
        ;;
    worker_stop | master_stop) kill -CONT "$pid" 2>/dev/null ;;
    master_loss) ch_loss master 0 ;;
    partition)
        if [ "$arg" = link ]; then ch_link_up "$target"; else ch_heal "$target"; fi
        ;;
    partition_long)
        # Cut off past --master-timeout: the worker must exit with status 3 by
        # itself. Give it until MT + 5 s after the cut, then heal and restart.
        local deadline=$((SECONDS + 6)) rc=""
        while [ "$SECONDS" -lt "$deadline" ] && ! ch_is_dead "$pid"; do sleep 0.1; done
        rc=""
        reap "$target" "cut off past --master-timeout" && rc=$REAP_RC
        if [ "$arg" = link ]; then ch_link_up "$target"; else ch_heal "$target"; fi
        release "$target"
        if [ -n "$rc" ]; then
            note "$target exited with status $rc after being cut off"
            start_worker "$target"
        else
            note "$target is still running after being cut off past --master-timeout"
        fi
        ;;
    master_kill)
        release master
        start_master
        ;;
    disk_full)
        kill -0 "$pid" 2>/dev/null &&
            nsenter -t "$pid" -m umount -l "$RUN/scratch"
        ;;
    loss_burst) ch_loss "$target" "${BASE_LOSS[$target]:-0}" ;;
    follower_partition | leader_partition) ch_heal "$target" ;;
    leader_kill)
        release "$target"
        start_member "$target"
        ;;
    member_disk_full)
        # The member stopped by itself (fail-stop) or is stopped here; the
        # disk is freed and it comes back on the same state dir.
        local deadline=$((SECONDS + 5))
        while [ "$SECONDS" -lt "$deadline" ] && ! ch_is_dead "$pid"; do sleep 0.1; done
        if reap "$target" "stopped on a full disk"; then
            note "$target stopped on its full disk (status $REAP_RC)"
        else
            note "$target still runs with a full disk; killing it"
            kill_and_reap "$target" "harness SIGKILL after a full disk"
        fi
        local hold_var="${target}_hold_PID"
        nsenter -t "${!hold_var}" -m rm -f "$RUN/state-$target/.chaos-fill"
        release "$target"
        start_member "$target"
        ;;
    esac
    fault_record "$fid" end
}

# supervise: restarts any node that died without a fault holding it down
# (recording the exit status, which the checker judges).
supervise() {
    local w rc
    for w in "${MASTER_NODES[@]}" "${WORKERS[@]}"; do
        is_held_down "$w" && continue
        local pid_var="${w}_PID"
        if [ -z "${!pid_var:-}" ] || ch_is_dead "${!pid_var}"; then
            reap "$w" "died on its own" && rc=$REAP_RC || rc="?"
            note "$w died on its own (status $rc); restarting it"
            case "$w" in
            master) start_master ;;
            m[0-9]) start_member "$w" ;;
            *) start_worker "$w" ;;
            esac
        fi
    done
}

heal_all() {
    local w
    for w in "${MASTER_NODES[@]}"; do
        local pid_var="${w}_PID"
        [ -n "${!pid_var:-}" ] && kill -CONT "${!pid_var}" 2>/dev/null
        ch_loss "$w" 0
        ch_heal "$w"
    done
    for w in "${WORKERS[@]}"; do
        ch_heal "$w"
        ch_link_up "$w"
        local pid_var="${w}_PID"
        [ -n "${!pid_var:-}" ] && kill -CONT "${!pid_var}" 2>/dev/null
    done
}

# ---- the cluster -------------------------------------------------------------
if [ "$MODE" = group ]; then
    # The member that will take the full disk keeps its state on a tmpfs
    # from the start (64 MiB: room for its journal and Raft log segments).
    MEMBER_TMPFS[m3]=64m
    for m in "${MEMBERS[@]}"; do start_member "$m" || exit 1; done
    wait_leader 30 || { h_fail "no member of the group leads"; exit 1; }
    h_pass "group of 3 up on hosts m1-m3: $LEADER leads (term $LEADER_TERM)"
else
    start_master || exit 1
fi
for w in "${WORKERS[@]}"; do start_worker "$w" || exit 1; done
for w in "${WORKERS[@]}"; do
    wait_registered "$w" 1 30 || { h_fail "worker $w never registered"; exit 1; }
done
note "master(s) and ${#WORKERS[@]} workers up (heartbeat $HB, worker timeout ${WT}s, master timeout ${MT}s, $SLOTS slots each)"

# A lossy, slow link throughout.
if [ "$MODE" = short ]; then
    BASE_LOSS[w3]=3
    ch_loss w3 3
    ch_rate w3 4mbit
    note "link of w3: 3% loss each way, 4mbit token bucket, for the whole run"
else
    for w in "${WORKERS[@]}"; do
        BASE_LOSS[$w]=$(( (SEED / ${#w} + ${w#w} * 7) % 4 ))
        ch_loss "$w" "${BASE_LOSS[$w]}"
    done
    slow=${WORKERS[$((SEED % ${#WORKERS[@]}))]}
    ch_rate "$slow" 2mbit
    note "loss per link: w1 ${BASE_LOSS[w1]}% w2 ${BASE_LOSS[w2]}% w3 ${BASE_LOSS[w3]}%; $slow limited to 2mbit"
fi
FAULTS_DONE[lossy_link]=1
json_line "{\"fid\":-1,\"phase\":\"start\",\"t_ns\":$(now_ns),\"kind\":\"lossy_link\",\"target\":\"all\",\"arg\":\"w1=${BASE_LOSS[w1]:-0} w2=${BASE_LOSS[w2]:-0} w3=${BASE_LOSS[w3]:-0}\",\"pid\":null}" \
    "$RUN/faults.jsonl"

# Bulk client calls (the observer's polls, the results at the end) run with
# LeakSanitizer off under an ASan build: a leak check per short-lived client
# costs more than the call. Nodes keep whatever ASAN_OPTIONS says.
BULK_ENV=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")

# The observer: every 0.5 s, every task's state.
"${BULK_ENV[@]}" "$PY" "$HERE/observe.py" --out "$RUN/obs.jsonl" --stop-file "$RUN/stop-observer" --interval 0.5 \
    --stderr "$RUN/observer-client.err" \
    --max-seconds $((DURATION + 900)) -- \
    ip netns exec "$(ch_ns "$CLIENT_HOST")" "$DTR" tasks --json --master "$MADDR" &
OBS_PID=$!

# ---- the schedule ------------------------------------------------------------
# group_in_step TIMEOUT: until `dtr status --json` shows every member with
# lag 0 (the group and each member's place in the log).
group_in_step() {
    local deadline=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$deadline" ]; do
        dtrc status --json 2>/dev/null | "$PY" -c 'import json, sys
g = json.load(sys.stdin).get("group") or {}
ms = g.get("members") or []
sys.exit(not (len(ms) == 3 and all(m.get("lag") == 0 for m in ms)))' 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}
a_follower() { # a living member that does not lead
    local m
    for m in "${MEMBERS[@]}"; do
        [ "$(member_role "$m")" = follower ] && { echo "$m"; return 0; }
    done
    return 1
}
count_in() { count_lines "$RUN/logs/$1/master.log" "$2"; }

if [ "$MODE" = group ]; then
    note "group schedule: $ROUNDS round(s) of: follower cut off, leader cut off, leader SIGKILL, full disk"
    FID=0
    for round in $(seq 1 "$ROUNDS"); do
        # -- a follower cut off from the other members: nothing changes.
        submit_batch 60
        sleep 1
        wait_leader 20 || h_fail "round $round: no leader before the follower partition"
        L0=$LEADER T0=$LEADER_TERM
        F=$(a_follower) || F=""
        if [ -n "$F" ]; then
            fault_start $FID follower_partition "$F"
            submit_batch 30
            ok_submit=$SUBMIT_RC
            sleep 5
            fault_end $FID
            FID=$((FID + 1))
            find_leader
            if [ "$LNOW" = "$L0" ] && [ "$LNOW_TERM" = "$T0" ] && [ "$ok_submit" = 0 ]; then
                h_pass "round $round: follower $F cut off for 5 s: $L0 still leads in term $T0, a submit was answered"
            else
                h_fail "round $round: follower $F cut off: leader ${LNOW:-none} term $LNOW_TERM (was $L0 term $T0), submit exit $ok_submit"
            fi
        else
            h_fail "round $round: no follower to cut off"
        fi
        supervise

        # -- the leader cut off from the majority: it stops, another leads,
        # healed it follows.
        submit_batch 50
        sleep 1.5
        wait_leader 20 || h_fail "round $round: no leader before the leader partition"
        L=$LEADER T=$LEADER_TERM
        before=$(count_in "$L" "no longer the group's leader")
        fault_start $FID leader_partition "$L"
        # A batch submitted right at the cut, most likely to the deposed
        # leader: acknowledged (0) once a majority has it, or refused
        # unacknowledged (3: the deposed leader starts over and drops the
        # connection); its tasks are then unacknowledged, which the checker
        # allows (they must still end).
        submit_batch 20
        case "$SUBMIT_RC" in
        0 | 3) h_pass "round $round: a submit in flight at the cut exited $SUBMIT_RC" ;;
        *) h_fail "round $round: a submit in flight at the cut exited $SUBMIT_RC: $(head -c 300 \
            "$RUN/batches/batch-$((BATCH - 1)).err")" ;;
        esac
        if wait_leader 20 "$L" "$T"; then
            h_pass "round $round: leader $L cut off from the majority: $LEADER leads in term $LEADER_TERM"
        else
            h_fail "round $round: no other member leads after $L was cut off"
        fi
        wait_lines "$RUN/logs/$L/master.log" "no longer the group's leader" $((before + 1)) 15 &&
            h_pass "round $round: the cut-off leader $L stepped down by itself" ||
            h_fail "round $round: the cut-off leader $L did not step down"
        submit_batch 30
        sleep 2
        fault_end $FID
        FID=$((FID + 1))
        if group_in_step 40 && [ "$(member_role "$L")" = follower ]; then
            h_pass "round $round: healed, $L follows and every member is in step"
        else
            h_fail "round $round: after healing, $L is $(member_role "$L") and the group is not in step"
        fi
        supervise

        # -- the leader SIGKILLed, restarted on the same state dir.
        submit_batch 50
        sleep 1.5
        wait_leader 20 || h_fail "round $round: no leader before the leader kill"
        L=$LEADER T=$LEADER_TERM
        fault_start $FID leader_kill "$L"
        sleep 1
        fault_end $FID
        FID=$((FID + 1))
        if wait_leader 30 "" "$T"; then
            h_pass "round $round: leader $L killed and restarted: $LEADER leads in term $LEADER_TERM"
        else
            h_fail "round $round: no leader after $L was killed"
        fi
        supervise

        # -- the state dir of m3 full: it must stop; the others carry on.
        submit_batch 40
        sleep 1
        before=$(grep -c . "$RUN/procs.jsonl")
        fault_start $FID member_disk_full m3
        sleep 1
        submit_batch 20
        [ "$SUBMIT_RC" = 0 ] &&
            h_pass "round $round: with m3's disk full, a batch was submitted and acknowledged" ||
            h_fail "round $round: submit with m3's disk full exited $SUBMIT_RC"
        deadline=$((SECONDS + 15))
        while [ "$SECONDS" -lt "$deadline" ] && [ -n "${m3_PID:-}" ] && ! ch_is_dead "$m3_PID"; do
            sleep 0.2
        done
        if [ -n "${m3_PID:-}" ] && ch_is_dead "$m3_PID"; then
            h_pass "round $round: m3 stopped by itself on its full disk"
        else
            h_fail "round $round: m3 still runs 15 s after its disk filled up"
        fi
        fault_end $FID
        FID=$((FID + 1))
        group_in_step 60 && h_pass "round $round: m3 restarted with room on its disk and caught up" ||
            h_fail "round $round: m3 did not catch up after its disk was freed"
        supervise
    done
    submit_batch 30
    FINAL_WAIT=150
elif [ "$MODE" = short ]; then
    note "short schedule: each fault kind once"
    submit_batch 90
    wait_exec_on w1 15
    fault_start 0 worker_kill w1
    sleep 1
    fault_end 0

    sleep 1
    submit_batch 50
    wait_exec_on w2 15
    before=$(registered_count w2)
    fault_start 1 worker_stop w2
    sleep $((WT + 2))
    fault_end 1
    wait_lines "$RUN/logs/master.log" "worker registered id=w2 " $((before + 1)) 15 &&
        h_pass "w2 frozen for $((WT + 2))s, then continued: it registered again" ||
        h_fail "w2 did not register again after SIGCONT"

    submit_batch 50
    wait_exec_on w1 15
    before=$(registered_count w1)
    fault_start 2 partition w1 nft
    sleep $((WT + 2))
    fault_end 2
    wait_lines "$RUN/logs/master.log" "worker registered id=w1 " $((before + 1)) 15 &&
        h_pass "w1 cut off for $((WT + 2))s (nftables drop), healed: it rejoined" ||
        h_fail "w1 did not rejoin after the partition healed"

    submit_batch 40
    wait_exec_on w2 15
    before=$(registered_count w2)
    fault_start 3 partition_long w2 link
    sleep $((MT + 1))
    fault_end 3
    supervise
    wait_lines "$RUN/logs/master.log" "worker registered id=w2 " $((before + 1)) 15 &&
        h_pass "w2 cut off past --master-timeout (link down), healed and restarted: it registered again" ||
        h_fail "w2 did not register again after its restart"

    submit_batch 30
    sleep 1
    before=$(count_lines "$RUN/logs/master.log" "worker registered id=")
    fault_start 4 master_kill master
    sleep 1
    fault_end 4
    wait_lines "$RUN/logs/master.log" "worker registered id=" $((before + 3)) 20 &&
        h_pass "master killed and restarted on the same state dir: all 3 workers dialed back" ||
        h_fail "not every worker came back to the restarted master"

    submit_batch 40 disk
    wait_exec_on w3 15
    fault_start 5 disk_full w3
    # More disk tasks once the disk is full: the first batch's may all have
    # started before it (on a busy machine, with prefetch), and the check
    # needs one to start on w3 while its disk is full.
    sleep 0.3
    submit_batch 20 disk
    sleep 4.7
    fault_end 5
    FINAL_WAIT=150
else
    "$PY" "$HERE/workload.py" schedule --seed "$SEED" --duration "$DURATION" \
        --workers "$(IFS=,; echo "${WORKERS[*]}")" --wt "$WT" --mt "$MT" >"$RUN/schedule.txt"
    echo "chaos: SEED=$SEED DURATION=$DURATION (replay: make chaos SEED=$SEED DURATION=$DURATION)"
    echo "chaos: schedule ($(grep -c ' start ' "$RUN/schedule.txt") faults, $(grep -c ' submit ' "$RUN/schedule.txt") submissions):"
    sed 's/^/  /' "$RUN/schedule.txt"
    t0=$EPOCHREALTIME
    while read -r -u 3 at what a1 a2 a3 a4 a5; do
        # Sleep until the event's time (bounded by DURATION + slack).
        now=$EPOCHREALTIME
        wait_s=$(awk -v a="$at" -v t0="$t0" -v n="$now" 'BEGIN { d = a - (n - t0); print (d > 0 ? d : 0) }')
        sleep "$wait_s"
        if [ "$(awk -v t0="$t0" -v n="$EPOCHREALTIME" 'BEGIN { print int(n - t0) }')" -gt $((DURATION + 120)) ]; then
            note "schedule overran DURATION + 120 s; stopping it"
            break
        fi
        case "$what" in
        submit) BATCH=$a1; submit_batch "$a2" "$a3" ;;
        start) fault_start "$a1" "$a2" "$a3" "${a5:-}" ;;
        end) fault_end "$a1" ;;
        esac
        supervise
    done 3<"$RUN/schedule.txt"
    FINAL_WAIT=300
fi

# ---- the end: heal, let everything finish, collect ----------------------------
note "healing everything and waiting for the tasks to end (at most ${FINAL_WAIT}s)"
heal_all
ACTIVE_DEAD=()
supervise
for w in "${WORKERS[@]}"; do ch_loss "$w" 0; done
json_line "{\"fid\":-1,\"phase\":\"end\",\"t_ns\":$(now_ns),\"kind\":\"lossy_link\",\"target\":\"all\",\"arg\":\"\",\"pid\":null}" \
    "$RUN/faults.jsonl"

deadline=$((SECONDS + FINAL_WAIT))
settled=0
while [ "$SECONDS" -lt "$deadline" ]; do
    left=$(dtrc status --json 2>/dev/null | "$PY" -c 'import json, sys
t = json.load(sys.stdin)["tasks"]
print(t.get("queued", 0) + t.get("running", 0))' 2>/dev/null)
    if [ "$left" = 0 ]; then settled=1; break; fi
    supervise
    sleep 0.5
done
[ "$settled" = 1 ] && note "every task ended" || note "tasks still queued or running after ${FINAL_WAIT}s"
sleep 1   # one more observer poll sees the final states

touch "$RUN/stop-observer"
for _ in $(seq 1 60); do ch_is_dead "$OBS_PID" && break; sleep 0.1; done
kill "$OBS_PID" 2>/dev/null
wait "$OBS_PID" 2>/dev/null
OBS_PID=""

dtrc tasks --json >"$RUN/final-tasks.jsonl" 2>"$RUN/final-tasks.err" ||
    h_fail "dtr tasks --json at the end failed: $(cat "$RUN/final-tasks.err")"
sort -u "$RUN/submitted.txt" | cat - <(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$RUN/final-tasks.jsonl") |
    sort -u >"$RUN/all-ids.txt"
# `dtr result ID --json` for every task, four clients at a time, one file
# each (check.py reads them; the exit status is 1 for a failed task, the
# output is what counts).
mkdir -p "$RUN/results"
ch_exec "$CLIENT_HOST" "${BULK_ENV[@]}" xargs -P 4 -n 25 sh -c '
    d=$0 m=$1 r=$2; shift 2
    for id in "$@"; do "$d" result "$id" --json --master "$m" >"$r/$id.json" 2>"$r/$id.err"; done
    true' "$DTR" "$MADDR" "$RUN/results" <"$RUN/all-ids.txt"
note "collected $(wc -l <"$RUN/final-tasks.jsonl") task records and the results of $(wc -l <"$RUN/all-ids.txt") tasks"

# Stop the cluster the polite way: SIGTERM drains the workers (exit 0), the
# master journals and exits 0.
for w in "${WORKERS[@]}" "${MASTER_NODES[@]}"; do
    pid_var="${w}_PID"
    pid=${!pid_var:-}
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do ch_is_dead "$pid" && break; sleep 0.1; done
    reap "$w" "harness SIGTERM at the end" || {
        h_fail "$w did not exit within 10s of SIGTERM"
        continue
    }
    rc=$REAP_RC
    [ "$rc" = 0 ] || h_fail "$w exited with status $rc on SIGTERM (expected 0)"
done

if [ "$MODE" = group ]; then
    # One log of the logical master for the checker's master.log rules: the
    # members' logs merged by time (only the leader of the time logs task
    # events); the group rules read each member's own.
    sort -s -k1,1 "$RUN"/logs/m[0-9]/master.log >"$RUN/logs/master.log"
fi
"$PY" "$HERE/check.py" --run "$RUN" --mode "$MODE" --wt "$WT" --mt "$MT" --seed "$SEED" \
    --duration "$DURATION" | tee "$RUN/check.out"
check_rc=${PIPESTATUS[0]}
c_pass=$(grep -c '^ok:' "$RUN/check.out" || true)
c_fail=$(grep -c '^FAIL:' "$RUN/check.out" || true)
passed=$((H_PASSED + c_pass))
failed=$((H_FAILED + c_fail))
[ "$check_rc" -ne 0 ] && [ "$c_fail" -eq 0 ] && failed=$((failed + 1))
[ "$MODE" = long ] && echo "chaos: SEED=$SEED DURATION=$DURATION (replay: make chaos SEED=$SEED DURATION=$DURATION)"
FINISHED=1
echo "$NAME: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
