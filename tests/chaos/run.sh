#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Chaos run: a master and three workers on their own network namespaces
# (tests/chaos/netns.sh), a mixed workload, faults injected while it runs,
# then tests/chaos/check.py judges the journal, the logs and the executions.
#
#   tests/chaos/run.sh short [--name NAME]      fixed schedule, each fault once
#   tests/chaos/run.sh long SEED DURATION       randomized schedule from SEED
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
elif [ "$MODE" = long ]; then
    SEED=${1:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    DURATION=${2:-120}
    NAME="chaos-long"
else
    echo "usage: $0 short [--name NAME] | $0 long SEED DURATION" >&2
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
ch_net_up master=2 w1=11 w2=12 w3=13 || { echo "chaos: cannot build the test network"; exit 1; }
MIP=${CH_ADDR[master]}
MADDR="$MIP:$MPORT"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/token"
chmod 600 "$RUN/token" # dtr refuses a token file others may read
export DTR_TOKEN
DTR_TOKEN=$(cat "$RUN/token")
export DTR_MASTER=""
note "network $CH_ID up: master $MIP, workers ${CH_ADDR[w1]} ${CH_ADDR[w2]} ${CH_ADDR[w3]} (run dir $RUN)"

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

# Each worker gets a private 4 MiB tmpfs at $RUN/scratch in its own mount
# namespace (`ip netns exec` made one): the disk its disk tasks write to.
start_worker() {
    local w=$1 before
    before=$(count_lines "$RUN/$w.out" " listening on ")
    ch_spawn "$w" "$w" sh -c 'mount -t tmpfs -o size=4m,mode=1777 chaos-scratch "$0" && exec "$@"' \
        "$RUN/scratch" "$DTR" worker --id "$w" --host "${CH_ADDR[$w]}" --port-range 5000-5100 \
        --master "$MADDR" --slots "$SLOTS" --cpus "$SLOTS" --gpus 0,1 --master-timeout "${MT}s" \
        --log-dir "$RUN/logs" \
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

registered_count() { count_lines "$RUN/logs/master.log" "worker registered id=$1 "; }

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

dtrc() { ch_exec master "$DTR" "$@" --master "$MADDR"; }

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
    esac
    fault_record "$fid" end
}

# supervise: restarts any node that died without a fault holding it down
# (recording the exit status, which the checker judges).
supervise() {
    local w rc
    for w in master "${WORKERS[@]}"; do
        is_held_down "$w" && continue
        local pid_var="${w}_PID"
        if [ -z "${!pid_var:-}" ] || ch_is_dead "${!pid_var}"; then
            reap "$w" "died on its own" && rc=$REAP_RC || rc="?"
            note "$w died on its own (status $rc); restarting it"
            if [ "$w" = master ]; then start_master; else start_worker "$w"; fi
        fi
    done
}

heal_all() {
    local w
    [ -n "${master_PID:-}" ] && kill -CONT "$master_PID" 2>/dev/null
    ch_loss master 0
    for w in "${WORKERS[@]}"; do
        ch_heal "$w"
        ch_link_up "$w"
        local pid_var="${w}_PID"
        [ -n "${!pid_var:-}" ] && kill -CONT "${!pid_var}" 2>/dev/null
    done
}

# ---- the cluster -------------------------------------------------------------
start_master || exit 1
for w in "${WORKERS[@]}"; do start_worker "$w" || exit 1; done
for w in "${WORKERS[@]}"; do
    wait_lines "$RUN/logs/master.log" "worker registered id=$w " 1 20 ||
        { h_fail "worker $w never registered"; exit 1; }
done
note "master and ${#WORKERS[@]} workers up (heartbeat $HB, worker timeout ${WT}s, master timeout ${MT}s, $SLOTS slots each)"

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
    ip netns exec "$(ch_ns master)" "$DTR" tasks --json --master "$MADDR" &
OBS_PID=$!

# ---- the schedule ------------------------------------------------------------
if [ "$MODE" = short ]; then
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
    sleep 5
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
ch_exec master "${BULK_ENV[@]}" xargs -P 4 -n 25 sh -c '
    d=$0 m=$1 r=$2; shift 2
    for id in "$@"; do "$d" result "$id" --json --master "$m" >"$r/$id.json" 2>"$r/$id.err"; done
    true' "$DTR" "$MADDR" "$RUN/results" <"$RUN/all-ids.txt"
note "collected $(wc -l <"$RUN/final-tasks.jsonl") task records and the results of $(wc -l <"$RUN/all-ids.txt") tasks"

# Stop the cluster the polite way: SIGTERM drains the workers (exit 0), the
# master journals and exits 0.
for w in "${WORKERS[@]}" master; do
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
