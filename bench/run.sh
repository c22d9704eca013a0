#!/bin/sh
# SPDX-License-Identifier: MIT
#
# dtr benchmark suite (issue 6): speed and scale, with peers side by side.
#
#   sh bench/run.sh [exec] [sched] [workflow] [latency] [group] [workers] [memory] [output] [http] [python]
#   BENCH_QUICK=1 sh bench/run.sh ...      fewer repetitions, smaller counts
#
# Builds a release binary (build-release/), runs each selected benchmark
# several times and prints, for each figure, the median and the min-max of
# the runs and its ratio to a baseline measured in the same run; then a
# summary with the targets of the issue. Benchmarks only: nothing asserts a
# speed, and the exit status says only whether the suite itself could run.
# Everything listens on 127.0.0.1. Every process this script starts is
# stopped by its PID on exit (trap), and its scratch dir is removed (set
# BENCH_KEEP=1 to keep it). See bench/README.md for the details and knobs.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

BUILD=${BENCH_BUILD:-build-release}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
QUICK=${BENCH_QUICK:-0}
ALL="exec sched workflow latency group workers memory output http python"
EXTRA="idle"                            # selectable by name, not part of the default run

# ---- sizes ---------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    REPS=${BENCH_REPS:-2}
    EXEC_N=${BENCH_EXEC_N:-300}         # /bin/true tasks (dtr, raw loop, xargs)
    PAR_N=${BENCH_PARALLEL_N:-100}      # GNU parallel is slow: fewer jobs, rate compared
    SCHED_N=${BENCH_SCHED_N:-20000}     # noop tasks per scheduler run
    LAT_N=${BENCH_LAT_N:-200}           # sequential submit+wait rounds
    WORKERS_LIST=${BENCH_WORKERS:-"100 1000"}
    IDLE_S=${BENCH_IDLE_S:-3}           # seconds per idle-CPU window
    DISPATCH_N=${BENCH_DISPATCH_N:-20000}
    MEM_N=${BENCH_MEM_N:-100000}
    WF_CHAINS=${BENCH_WF_CHAINS:-100}   # workflow: chains of the fan-out
    WF_LEN=${BENCH_WF_LEN:-50}          # workflow: noop tasks per chain
    CHAIN_N=${BENCH_CHAIN_N:-1000}      # workflow: links of the long chain
    OUT_N=${BENCH_OUT_N:-20000}         # output: noop tasks per half
    HTTP_N=${BENCH_HTTP_N:-20000}       # http: GET /api/v1/status requests per run
    SLEEP_N=${BENCH_SLEEP_N:-100}       # exec: `sleep 0.01` tasks
    IDLE_N=${BENCH_IDLE_WORKERS:-1000}  # idle: simulated workers
    CLI_N=${BENCH_CLI_N:-20}            # latency: commands started one after another
else
    REPS=${BENCH_REPS:-3}
    EXEC_N=${BENCH_EXEC_N:-5000}
    PAR_N=${BENCH_PARALLEL_N:-200}
    SCHED_N=${BENCH_SCHED_N:-200000}
    LAT_N=${BENCH_LAT_N:-1000}
    WORKERS_LIST=${BENCH_WORKERS:-"1000 10000"}
    IDLE_S=${BENCH_IDLE_S:-10}
    DISPATCH_N=${BENCH_DISPATCH_N:-50000}
    MEM_N=${BENCH_MEM_N:-1000000}
    WF_CHAINS=${BENCH_WF_CHAINS:-1000}
    WF_LEN=${BENCH_WF_LEN:-100}
    CHAIN_N=${BENCH_CHAIN_N:-10000}
    OUT_N=${BENCH_OUT_N:-100000}
    HTTP_N=${BENCH_HTTP_N:-100000}
    SLEEP_N=${BENCH_SLEEP_N:-1000}
    IDLE_N=${BENCH_IDLE_WORKERS:-10000}
    CLI_N=${BENCH_CLI_N:-50}
fi
GROUP_KILLS=${BENCH_GROUP_KILLS:-10}    # group: leader kills timed
GROUP_PORT=${BENCH_GROUP_PORT:-9300}    # group: ports from here (below the ephemeral range)
WIDE=${BENCH_EXEC_WIDE:-8}              # exec: slots of the wide variant (on any core count)
PORT=${BENCH_PORT:-47000}               # masters try PORT..PORT+99
WPORTS=${BENCH_WORKER_PORTS:-47200-47399}
WAIT_TIMEOUT=${BENCH_WAIT_TIMEOUT:-900} # seconds, for any one `dtr wait`

# ---- arguments -------------------------------------------------------------------
SEL=""
for a in "$@"; do
    case " $ALL $EXTRA " in
    *" $a "*) SEL="$SEL $a" ;;
    *)
        echo "usage: sh bench/run.sh [$(echo $ALL $EXTRA | sed 's/ /] [/g')]" >&2
        echo "unknown benchmark '$a'" >&2
        exit 2
        ;;
    esac
done
[ -n "$SEL" ] || SEL=$ALL
selected() { case " $SEL " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- processes and cleanup -------------------------------------------------------
PIDS=""
WORK=""
MPID="" LPID="" WPIDS="" MADDR=""

# Stops one process we started: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    _sp_p=$1
    [ -n "$_sp_p" ] || return 0
    if kill -0 "$_sp_p" 2>/dev/null; then
        kill -TERM "$_sp_p" 2>/dev/null
        _sp_i=0
        while kill -0 "$_sp_p" 2>/dev/null && [ $_sp_i -lt 100 ]; do
            # a zombie child counts as alive for kill -0; reap it if it is one
            if [ "$(awk '{print $3}' /proc/"$_sp_p"/stat 2>/dev/null)" = Z ]; then break; fi
            sleep 0.1
            _sp_i=$((_sp_i + 1))
        done
        kill -0 "$_sp_p" 2>/dev/null && kill -KILL "$_sp_p" 2>/dev/null
    fi
    wait "$_sp_p" 2>/dev/null
    _sp_np=""
    for _sp_q in $PIDS; do [ "$_sp_q" = "$_sp_p" ] || _sp_np="$_sp_np $_sp_q"; done
    PIDS=$_sp_np
    return 0
}

cleanup() {
    trap - EXIT INT TERM
    for _p in $PIDS; do kill -TERM "$_p" 2>/dev/null; done
    for _p in $PIDS; do stop_pid "$_p"; done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            echo "bench: kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

die() {
    echo "bench: $*" >&2
    exit 1
}

# ---- build -------------------------------------------------------------------------
# bench/CMakeLists.txt adds the project as a subdirectory, so dtr is built as
# usual (Release) and the benchmark programs link dtrcore like the tests do.
echo "== build: $BUILD (Release) =="
if [ -f "$BUILD/CMakeCache.txt" ] &&
    ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT/bench\$" "$BUILD/CMakeCache.txt"; then
    echo "bench: $BUILD was configured from another source dir; reconfiguring it"
    rm -rf "$BUILD"
fi
mkdir -p "$BUILD"
cmake -S bench -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDTR_WERROR=OFF >"$BUILD/bench-cmake.log" 2>&1 ||
    { cat "$BUILD/bench-cmake.log"; die "cmake configure failed"; }
cmake --build "$BUILD" -j "$(nproc)" --target dtr bench_tools >"$BUILD/bench-build.log" 2>&1 ||
    { tail -30 "$BUILD/bench-build.log"; die "build failed"; }
DTR=$BUILD/dtr
B=$BUILD/bench
[ -x "$DTR" ] && [ -x "$B/loadgen" ] || die "the build left no $DTR or $B/loadgen"

WORK=$(mktemp -d "$BUILD/bench-run.XXXXXX") || die "mktemp failed"
RESULTS=$WORK/results
: >"$RESULTS"
HZ=$(getconf CLK_TCK)
# Many simulated workers need many descriptors in the master and in loadgen.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)

# ---- helpers -----------------------------------------------------------------------
now_ns() { date +%s%N; }
# elapsed seconds between two now_ns values
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'; }
# N / seconds
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print "nan" }'; }
# a / b
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "" && a != "-") printf "%.3f", a / b; else print "-" }'; }
# field K=V from a line of key=value pairs
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
# CPU ticks (user + system) of a process
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat 2>/dev/null || echo 0; }
# worker_ticks PID: cpu_ticks of a worker and of its task guard (its child
# 'dtr-guard', which runs beside it; the tasks' CPU is in neither)
worker_ticks() {
    _wt_t=$(cpu_ticks "$1")
    for _wt_d in /proc/[0-9]*; do
        [ "$(cat "$_wt_d/comm" 2>/dev/null)" = dtr-guard ] || continue
        [ "$(cut -d' ' -f4 "$_wt_d/stat" 2>/dev/null)" = "$1" ] || continue
        _wt_t=$((_wt_t + $(cpu_ticks "${_wt_d#/proc/}")))
    done
    echo "$_wt_t"
}
# ns spent waiting to run (runnable, but the CPUs were busy): 0 without schedstats
runq_ns() { awk '{ print $2 }' /proc/"$1"/schedstat 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# median min max of the numbers given
stats() {
    [ $# -gt 0 ] || { echo "- - -"; return; }
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        function f(x,  a) { a = x < 0 ? -x : x; if (a >= 100) return sprintf("%.0f", x); if (a >= 10) return sprintf("%.1f", x); if (a >= 1) return sprintf("%.2f", x); return sprintf("%.3g", x) }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
              printf "%s %s %s\n", f(m), f(v[1]), f(v[NR]) }'
}
median() { stats "$@" | cut -d' ' -f1; }

# record KEY VALUE: one measurement of a figure
record() { echo "$1 $2" >>"$RESULTS"; }
values() { awk -v k="$1" '$1 == k { printf "%s ", $2 }' "$RESULTS"; }

# pair_ratios KEY BASEKEY: the run-by-run ratios KEY/BASEKEY when both were
# measured in every run (the i-th value of each comes from run i); else nothing.
pair_ratios() {
    awk -v k="$1" -v b="$2" '$1 == k { a[++na] = $2 } $1 == b { c[++nc] = $2 }
        END { if (na != nc || na == 0) exit; for (i = 1; i <= na; i++) if (c[i] > 0) printf "%.3f ", a[i] / c[i] }' "$RESULTS"
}
# ratio_text KEY BASEKEY: "median (min-max)" of the paired ratios, or the
# ratio of the medians when the runs cannot be paired (marked "of medians")
ratio_text() {
    _rt_v=$(pair_ratios "$1" "$2")
    if [ -n "$_rt_v" ]; then
        # shellcheck disable=SC2086
        stats $_rt_v | awk '{ printf "%sx (%s-%s)", $1, $2, $3 }'
    else
        printf '%sx (of medians)' "$(ratio "$(median $(values "$1"))" "$(median $(values "$2"))")"
    fi
}
# ratio_med KEY BASEKEY: just the median ratio (for the summary)
ratio_med() {
    _rm_v=$(pair_ratios "$1" "$2")
    if [ -n "$_rm_v" ]; then median $_rm_v; else ratio "$(median $(values "$1"))" "$(median $(values "$2"))"; fi
}

# ratio_mm KEY BASEKEY: "min-max" of the paired ratios, or nothing
ratio_mm() {
    _rr_v=$(pair_ratios "$1" "$2")
    [ -z "$_rr_v" ] || stats $_rr_v | awk '{ print $2 "-" $3 }'
}

# show KEY LABEL UNIT [BASEKEY BASENAME]: prints the figure's line; with a
# base, also the ratio to it, run by run: median (min-max)
show() {
    _sh_v=$(values "$1")
    # shellcheck disable=SC2086
    set -- "$1" "$2" "$3" "${4:-}" "${5:-}" $(stats $_sh_v)
    _sh_n=$(echo $_sh_v | wc -w)
    _sh_x=""
    [ -z "$4" ] || _sh_x="  = $(ratio_text "$1" "$4") $5"
    printf '  %-46s %12s %-7s (%s-%s, n=%s)%s\n' "$2" "$6" "$3" "$7" "$8" "$_sh_n" "$_sh_x"
}

# Starts a master; sets MPID and MADDR. start_master DIR [FLAGS...]
start_master() {
    _sm_d=$1
    shift
    mkdir -p "$_sm_d"
    "$DTR" master --port "$PORT" --state-dir "$_sm_d/state" --log-dir "$_sm_d/logs" "$@" \
        >>"$_sm_d/master.out" 2>>"$_sm_d/master.err" &
    MPID=$!
    PIDS="$PIDS $MPID"
    wait_line "$_sm_d/master.out" "listening" 300 || {
        cat "$_sm_d/master.err" >&2
        die "the master did not start"
    }
    MADDR=$(cat "$_sm_d/state/master.addr")
}

# wait_line FILE TEXT TENTHS: waits up to TENTHS/10 s until FILE holds TEXT;
# polls every 10 ms. Returns 1 on timeout.
wait_line() {
    _wl_i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        _wl_i=$((_wl_i + 1))
        [ $_wl_i -le $(($3 * 10)) ] || return 1
        sleep 0.01
    done
    return 0
}

# count_workers: workers the master lists whose id starts with $1
count_workers() {
    "$DTR" status --json --master "$MADDR" 2>/dev/null | grep -o "\"id\":\"$1[^\"]*\"" | wc -l
}

# wait_workers PREFIX N: until the master lists N such workers (60 s at most)
wait_workers() {
    _ww_i=0
    while [ "$(count_workers "$1")" -lt "$2" ]; do
        _ww_i=$((_ww_i + 1))
        [ $_ww_i -le 600 ] || die "only $(count_workers "$1") of $2 workers registered"
        sleep 0.1
    done
}

# Starts N real workers dialing $MADDR; their PIDs go to WPIDS.
start_workers() {
    _sw_n=$1 _sw_slots=$2 _sw_d=$3
    WPIDS=""
    _sw_k=1
    while [ $_sw_k -le "$_sw_n" ]; do
        "$DTR" worker --master "$MADDR" --id "bw$_sw_k" --slots "$_sw_slots" --port-range "$WPORTS" \
            --log-dir "$_sw_d/logs" --master-timeout 60s >>"$_sw_d/worker.out" 2>&1 &
        WPIDS="$WPIDS $!"
        PIDS="$PIDS $!"
        _sw_k=$((_sw_k + 1))
    done
    wait_workers bw "$_sw_n"
}

stop_workers() { for _sx_p in $WPIDS; do stop_pid "$_sx_p"; done; WPIDS=""; }

# Starts loadgen; sets LPID and waits for its ready line. start_loadgen DIR ARGS...
start_loadgen() {
    _sl_d=$1
    shift
    : >"$_sl_d/loadgen.out"
    "$B/loadgen" --master "$MADDR" "$@" >"$_sl_d/loadgen.out" 2>>"$_sl_d/loadgen.err" &
    LPID=$!
    PIDS="$PIDS $LPID"
    wait_line "$_sl_d/loadgen.out" "^ready" 1500 || die "loadgen did not get ready"
    _sl_rl=$(grep '^ready' "$_sl_d/loadgen.out")
    [ "$(field failed "$_sl_rl")" = 0 ] || echo "  note: loadgen: $_sl_rl (see $_sl_d/loadgen.err)"
}

# ---- peers: Gearman and beanstalkd (issue 17) ---------------------------------------
# Each server is started here on 127.0.0.1 on a free port, with its pid file
# and log in the run's scratch dir, and stopped by PID like everything else.
PY=/usr/bin/python3
PEERS=$ROOT/bench/peers.py
gearmand_bin() { command -v gearmand 2>/dev/null || echo /usr/sbin/gearmand; }
have_gearman() { [ -x "$(gearmand_bin)" ] && command -v gearman >/dev/null 2>&1; }
have_beanstalkd() { command -v beanstalkd >/dev/null 2>&1; }
free_port() { "$PY" "$PEERS" port; }

# start_gearman DIR NWORKERS [CMD...]: gearmand, then NWORKERS `gearman -w -f
# run -- CMD` workers (CMD default /bin/true; each job runs CMD once), and one
# worker of function "noop" (peers.py) that completes jobs at once. Sets
# GPORT, GPID, GWPIDS.
start_gearman() {
    _sg_d=$1 _sg_n=$2
    shift 2
    [ $# -gt 0 ] || set -- /bin/true
    mkdir -p "$_sg_d"
    GPORT=$(free_port)
    "$(gearmand_bin)" -L 127.0.0.1 -p "$GPORT" -P "$_sg_d/gearmand.pid" -l "$_sg_d/gearmand.log" \
        >>"$_sg_d/gearmand.out" 2>&1 &
    GPID=$!
    PIDS="$PIDS $GPID"
    # until gearmand listens (a worker would not retry its connection)
    "$PY" "$PEERS" ready gm "$GPORT" 0 2>>"$_sg_d/peers.err" || die "gearmand did not start (see $_sg_d)"
    GWPIDS=""
    _sg_k=0
    while [ $_sg_k -lt "$_sg_n" ]; do
        gearman -h 127.0.0.1 -p "$GPORT" -w -f run -- "$@" >/dev/null 2>>"$_sg_d/workers.err" &
        GWPIDS="$GWPIDS $!"
        PIDS="$PIDS $!"
        _sg_k=$((_sg_k + 1))
    done
    "$PY" "$PEERS" gm-noop-worker "$GPORT" 2>>"$_sg_d/workers.err" &
    GWPIDS="$GWPIDS $!"
    PIDS="$PIDS $!"
    "$PY" "$PEERS" ready gm "$GPORT" "$_sg_n" run 2>>"$_sg_d/peers.err" &&
        "$PY" "$PEERS" ready gm "$GPORT" 1 noop 2>>"$_sg_d/peers.err" ||
        die "the Gearman workers did not register (see $_sg_d)"
}
stop_gearman() {
    for _sx_p in $GWPIDS; do stop_pid "$_sx_p"; done
    GWPIDS=""
    stop_pid "$GPID"
}

# start_beanstalkd DIR NWORKERS [--reply]: beanstalkd (no binlog: nothing
# durable, like Gearman's default queue), then NWORKERS peers.py workers.
# Sets BPORT, BPID, BWPIDS.
start_beanstalkd() {
    _sb_d=$1 _sb_n=$2
    shift 2
    mkdir -p "$_sb_d"
    BPORT=$(free_port)
    beanstalkd -l 127.0.0.1 -p "$BPORT" >>"$_sb_d/beanstalkd.log" 2>&1 &
    BPID=$!
    PIDS="$PIDS $BPID"
    echo "$BPID" >"$_sb_d/beanstalkd.pid"
    "$PY" "$PEERS" ready bs "$BPORT" 0 2>>"$_sb_d/peers.err" || die "beanstalkd did not start (see $_sb_d)"
    BWPIDS=""
    _sb_k=0
    while [ $_sb_k -lt "$_sb_n" ]; do
        "$PY" "$PEERS" bs-worker "$BPORT" "$@" 2>>"$_sb_d/workers.err" &
        BWPIDS="$BWPIDS $!"
        PIDS="$PIDS $!"
        _sb_k=$((_sb_k + 1))
    done
    "$PY" "$PEERS" ready bs "$BPORT" "$_sb_n" 2>>"$_sb_d/peers.err" ||
        die "the beanstalkd workers did not connect (see $_sb_d)"
}
stop_beanstalkd() {
    for _sx_p in $BWPIDS; do stop_pid "$_sx_p"; done
    BWPIDS=""
    stop_pid "$BPID"
}

# submit_wait N DIR [submit flags]: submits N tasks (--array 1-N; N 0: no
# --array, the flags say what, e.g. --file) and waits for all; sets T_SUBMIT and T_TOTAL (seconds), CPU (master CPU %, one core =
# 100) and RUNQ (% of the time the master was runnable but waited for a CPU
# that other processes held). Returns 1 if anything failed.
submit_wait() {
    _su_n=$1 _su_d=$2
    shift 2
    [ "$_su_n" = 0 ] || set -- --array "1-$_su_n" "$@"
    _su_c0=$(cpu_ticks "$MPID") _su_q0=$(runq_ns "$MPID")
    _su_t0=$(now_ns)
    "$DTR" submit --master "$MADDR" "$@" >/dev/null 2>>"$_su_d/client.err" ||
        { echo "  run failed: submit (see $_su_d/client.err)"; return 1; }
    _su_t1=$(now_ns)
    "$DTR" wait --all --master "$MADDR" --timeout "${WAIT_TIMEOUT}s" >/dev/null 2>>"$_su_d/client.err" ||
        { echo "  run failed: wait (see $_su_d/client.err)"; return 1; }
    _su_t2=$(now_ns)
    _su_c1=$(cpu_ticks "$MPID") _su_q1=$(runq_ns "$MPID")
    T_SUBMIT=$(secs "$_su_t0" "$_su_t1")
    T_TOTAL=$(secs "$_su_t0" "$_su_t2")
    CPU=$(awk -v c="$((_su_c1 - _su_c0))" -v hz="$HZ" -v t="$T_TOTAL" 'BEGIN { printf "%.0f", 100 * c / hz / t }')
    RUNQ=$(awk -v q0="$_su_q0" -v q1="$_su_q1" -v t="$T_TOTAL" 'BEGIN { printf "%.0f", (q1 - q0) / 1e7 / t }')
    return 0
}

header() {
    echo
    echo "== $* =="
    echo "  (load average at start: $(load))"
}

echo "bench: $(nproc) CPUs, load average $(load), RLIMIT_NOFILE $NOFILE, reps $REPS$([ "$QUICK" = 1 ] && echo ', quick mode')"
if command -v git >/dev/null 2>&1 && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    echo "bench: source $(git -C "$ROOT" log -1 --format='%h (%cd)' --date=iso)," \
        "$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt | wc -l) changed file(s) under src/ not committed"
fi
echo "bench: scratch dir $WORK"
T_START=$(now_ns)

# ---- 1. exec throughput ----------------------------------------------------------------
# exec_dtr KEY N SLOTS DIR [master flags] -- CMD...: a fresh master and one
# worker --slots SLOTS run N x CMD (submit --array, wait --all). Records KEY
# (tasks/s) and KEY.cpu, KEY.mcpu, KEY.wcpu: the CPU dtr itself spent per
# task in us (master + worker, utime+stime of /proc/PID/stat before the
# submit and after the wait; the tasks' own CPU is not in it). Sets EX_TEXT.
# commits_per_task DIR N: the master's journal commits (its /metrics
# dtr_journal_commit_seconds_count, submits included) over N tasks.
commits_per_task() {
    _cp_url=$(sed -n 's/.*http listening url=\([^ ]*\).*/\1/p' "$1"/logs/*.log 2>/dev/null | tail -n 1)
    [ -n "$_cp_url" ] || return 0
    curl -s --max-time 5 "${_cp_url%/}/metrics" 2>/dev/null |
        awk -v n="$2" '$1 == "dtr_journal_commit_seconds_count" { printf "%.2f", $2 / n }'
}
exec_dtr() {
    _ed_key=$1 _ed_n=$2 _ed_slots=$3 _ed_d=$4
    shift 4
    _ed_mf=""
    while [ $# -gt 0 ] && [ "$1" != -- ]; do _ed_mf="$_ed_mf $1"; shift; done
    # shellcheck disable=SC2086
    start_master "$_ed_d" $_ed_mf
    start_workers 1 "$_ed_slots" "$_ed_d"
    _ed_w0=0
    for _ed_p in $WPIDS; do _ed_w0=$((_ed_w0 + $(worker_ticks "$_ed_p"))); done
    _ed_m0=$(cpu_ticks "$MPID")
    if submit_wait "$_ed_n" "$_ed_d" "$@"; then
        _ed_w1=0
        for _ed_p in $WPIDS; do _ed_w1=$((_ed_w1 + $(worker_ticks "$_ed_p"))); done
        _ed_m1=$(cpu_ticks "$MPID")
        _ed_mu=$(tick_us $((_ed_m1 - _ed_m0)) "$_ed_n") _ed_wu=$(tick_us $((_ed_w1 - _ed_w0)) "$_ed_n")
        _ed_r=$(rate "$_ed_n" "$T_TOTAL")
        record "$_ed_key" "$_ed_r"
        record "$_ed_key.mcpu" "$_ed_mu"
        record "$_ed_key.wcpu" "$_ed_wu"
        record "$_ed_key.cpu" "$((_ed_mu + _ed_wu))"
        _ed_cpt=$(commits_per_task "$_ed_d" "$_ed_n")
        [ -n "$_ed_cpt" ] && record "$_ed_key.commits" "$_ed_cpt"
        EX_TEXT="$_ed_r/s (dtr CPU $((_ed_mu + _ed_wu)) us/task: master $_ed_mu, worker $_ed_wu; master ${CPU}% of a core, waiting for a CPU ${RUNQ}%; ${_ed_cpt:-?} journal commits/task)"
    else
        EX_TEXT=failed
    fi
    stop_workers
    stop_pid "$MPID"
    rm -rf "$_ed_d/state"
}

# tick_us TICKS N: CPU ticks spread over N tasks, in us per task
tick_us() { awk -v c="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.0f", 1e6 * c / hz / n }'; }

bench_exec() {
    header "exec: $EXEC_N x /bin/true, 2 at a time (GNU parallel: $PAR_N jobs); $WIDE at a time;" \
        "$SLEEP_N x sleep 0.01, 2 at a time"
    have_gearman || echo "  (no gearmand/gearman: Gearman skipped; scripts/install-deps.sh installs them)"
    have_beanstalkd || echo "  (no beanstalkd: skipped; scripts/install-deps.sh installs it)"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _d=$WORK/exec$_r
        mkdir -p "$_d"
        _l=$("$B/spawn_loop" "$EXEC_N" 2) || die "spawn_loop failed"
        record exec.raw "$(field rate "$_l")"
        # Two loops of one at a time, as two processes: what two independent
        # spawning processes (Gearman's and beanstalkd's workers) can reach;
        # one parent's posix_spawn waits for each child's exec (CLONE_VFORK).
        _t0=$(now_ns)
        "$B/spawn_loop" $((EXEC_N / 2)) 1 >/dev/null &
        _p1=$!
        "$B/spawn_loop" $((EXEC_N - EXEC_N / 2)) 1 >/dev/null || die "spawn_loop failed"
        wait $_p1 || die "spawn_loop failed"
        _t1=$(now_ns)
        record exec.raw2 "$(rate "$EXEC_N" "$(secs "$_t0" "$_t1")")"
        echo "  run $_r: raw loop -P2 $(field rate "$_l")/s, two loops -P1 $(rate "$EXEC_N" "$(secs "$_t0" "$_t1")")/s, load $(load)"

        exec_dtr exec.dtr "$EXEC_N" 2 "$_d/dtr" -- /bin/true
        echo "  run $_r: dtr --slots 2: $EX_TEXT"
        # The same with --prefetch 2: the worker holds the next tasks, so a
        # slot that frees up does not wait for the master's round trip and
        # journal commit (at the price of strict priority order).
        exec_dtr exec.dtrpf "$EXEC_N" 2 "$_d/pf" --prefetch 2 -- /bin/true
        echo "  run $_r: dtr --prefetch 2: $EX_TEXT"

        _t0=$(now_ns)
        seq "$EXEC_N" | xargs -P2 -n1 /bin/true || die "xargs failed"
        _t1=$(now_ns)
        record exec.xargs "$(rate "$EXEC_N" "$(secs "$_t0" "$_t1")")"
        _peers="xargs -P2 $(rate "$EXEC_N" "$(secs "$_t0" "$_t1")")/s"

        if command -v parallel >/dev/null 2>&1; then
            _t0=$(now_ns)
            seq "$PAR_N" | parallel --will-cite -j2 /bin/true >/dev/null 2>&1 ||
                die "GNU parallel failed"
            _t1=$(now_ns)
            record exec.parallel "$(rate "$PAR_N" "$(secs "$_t0" "$_t1")")"
            _peers="$_peers, parallel -j2 $(rate "$PAR_N" "$(secs "$_t0" "$_t1")")/s"
        fi

        # Gearman: gearmand and 2 `gearman -w -f run -- /bin/true` workers;
        # EXEC_N background jobs, timed until none is queued or running.
        if have_gearman; then
            start_gearman "$_d/gearman" 2 /bin/true
            _g=$("$PY" "$PEERS" gm-run "$GPORT" "$EXEC_N" 2>>"$_d/gearman/peers.err") ||
                die "the Gearman run failed (see $_d/gearman)"
            stop_gearman
            record exec.gearman "$(field rate "$_g")"
            _peers="$_peers, Gearman $(field rate "$_g")/s"
        fi
        # beanstalkd: 2 workers (bench/peers.py: reserve, posix_spawnp,
        # waitpid, delete); EXEC_N jobs put, timed until all are deleted.
        if have_beanstalkd; then
            start_beanstalkd "$_d/beanstalkd" 2
            _g=$("$PY" "$PEERS" bs-run "$BPORT" "$EXEC_N" /bin/true 2>>"$_d/beanstalkd/peers.err") ||
                die "the beanstalkd run failed (see $_d/beanstalkd)"
            stop_beanstalkd
            record exec.beanstalkd "$(field rate "$_g")"
            _peers="$_peers, beanstalkd $(field rate "$_g")/s"
        fi
        echo "  run $_r: $_peers, load $(load)"

        # WIDE slots on this machine's cores, against the raw loop -P WIDE
        _l=$("$B/spawn_loop" "$EXEC_N" "$WIDE") || die "spawn_loop failed"
        record exec.rawwide "$(field rate "$_l")"
        exec_dtr exec.wide "$EXEC_N" "$WIDE" "$_d/wide" -- /bin/true
        echo "  run $_r: $WIDE at once: raw loop $(field rate "$_l")/s, dtr $EX_TEXT"

        # tasks that wait rather than burn CPU: dtr's own latency decides
        _l=$("$B/spawn_loop" "$SLEEP_N" 2 /bin/sleep 0.01) || die "spawn_loop failed"
        record exec.rawsleep "$(field rate "$_l")"
        exec_dtr exec.sleep "$SLEEP_N" 2 "$_d/sleep" -- /bin/sleep 0.01
        echo "  run $_r: sleep 0.01, 2 at once: raw loop $(field rate "$_l")/s, dtr $EX_TEXT"
        _r=$((_r + 1))
    done
    show exec.raw "raw posix_spawn+waitpid loop, 2 at once" tasks/s
    show exec.raw2 "two raw loops of 1 at a time, as 2 processes" tasks/s exec.raw "raw loop"
    show exec.dtr "dtr: master + 1 worker --slots 2" tasks/s exec.raw "raw loop"
    show exec.dtrpf "dtr, master --prefetch 2" tasks/s exec.raw "raw loop"
    show exec.xargs "xargs -P2" tasks/s exec.raw "raw loop"
    show exec.parallel "GNU parallel -j2 ($PAR_N jobs)" tasks/s exec.raw "raw loop"
    show exec.gearman "Gearman: gearmand + 2 gearman -w" tasks/s exec.raw "raw loop"
    show exec.beanstalkd "beanstalkd + 2 small workers" tasks/s exec.raw "raw loop"
    show exec.dtr "dtr --slots 2 against xargs" tasks/s exec.xargs "xargs -P2"
    show exec.dtr "dtr --slots 2 against Gearman" tasks/s exec.gearman "Gearman"
    show exec.dtr "dtr --slots 2 against beanstalkd" tasks/s exec.beanstalkd "beanstalkd"
    show exec.dtr.cpu "dtr's own CPU per task (master + worker)" us
    show exec.dtr.mcpu "  of which the master" us
    show exec.dtr.wcpu "  of which the worker" us
    show exec.dtr.commits "journal commits per task, --slots 2" ""
    show exec.dtrpf.commits "journal commits per task, --prefetch 2" ""
    show exec.dtrpf.cpu "dtr's own CPU per task, --prefetch 2" us
    show exec.rawwide "raw loop, $WIDE at once" tasks/s
    show exec.wide "dtr --slots $WIDE" tasks/s exec.rawwide "raw loop -P$WIDE"
    show exec.wide.cpu "dtr's own CPU per task, --slots $WIDE" us
    show exec.rawsleep "raw loop, sleep 0.01, 2 at once" tasks/s
    show exec.sleep "dtr --slots 2, sleep 0.01" tasks/s exec.rawsleep "raw loop"
}

# ---- 2. scheduler throughput -----------------------------------------------------------
# sched_case REP KEY LABEL MODE COUNT SLOTS [master flags]: one run.
# MODE real: COUNT dtr worker processes; MODE sim: loadgen with COUNT workers;
# MODE hetero: loadgen with COUNT workers of different offers (every 4th 2
# GPUs, the next a license) and a mixed workload (bench/run.sh hetero_file).
sched_case() {
    _r=$1 _key=$2 _label=$3 _mode=$4 _cnt=$5 _slots=$6
    shift 6
    _d=$WORK/$_key.$_r
    mkdir -p "$_d"
    start_master "$_d" "$@"
    if [ "$_mode" = real ]; then
        start_workers "$_cnt" "$_slots" "$_d"
    elif [ "$_mode" = hetero ]; then
        start_loadgen "$_d" --workers "$_cnt" --slots "$_slots" --time 3000 --hetero 1
    else
        start_loadgen "$_d" --workers "$_cnt" --slots "$_slots" --time 3000
    fi
    if [ "$_mode" = hetero ]; then
        hetero_file "$WORK/hetero.jsonl"
        set -- 0 "$_d" --file "$WORK/hetero.jsonl"
    else
        set -- "$SCHED_N" "$_d" --kind noop
    fi
    if submit_wait "$@"; then
        record "$_key" "$(rate "$SCHED_N" "$T_TOTAL")"
        record "$_key.submit" "$(rate "$SCHED_N" "$T_SUBMIT")"
        record "$_key.cpu" "$CPU"
        record "$_key.runq" "$RUNQ"
        echo "  run $_r, $_label: $(rate "$SCHED_N" "$T_TOTAL") tasks/s end to end" \
            "(submit alone $(rate "$SCHED_N" "$T_SUBMIT")/s; master CPU ${CPU}% of a core," \
            "runnable but waiting for a CPU ${RUNQ}%), load $(load)"
    fi
    if [ "$_mode" = real ]; then stop_workers; else stop_pid "$LPID"; fi
    stop_pid "$MPID"
    rm -rf "$_d/state"
}

# hetero_file FILE: SCHED_N noop tasks of mixed requests (issue 13): of
# every 8, one needs a GPU, one the license, one half a CPU, the rest 1 CPU.
hetero_file() {
    [ -s "$1" ] && return 0
    awk -v n="$SCHED_N" 'BEGIN { for (i = 1; i <= n; i++) {
        r = i % 8; x = ""
        if (r == 1) x = ",\"gpus\":1"; else if (r == 2) x = ",\"resources\":{\"license\":1}"
        else if (r == 3) x = ",\"cpus\":0.5"
        printf "{\"kind\":\"noop\"%s}\n", x } }' >"$1"
}

bench_sched() {
    header "scheduler: $SCHED_N noop tasks (submit --array, batches of 2000), then wait --all"
    # The set-ups take turns within each run, so that a change in the
    # machine's load hits all of them alike and the ratios stay paired.
    _sr=1
    while [ $_sr -le "$REPS" ]; do
        sched_case $_sr sched.durable "2 workers x 1000 slots" real 2 1000
        sched_case $_sr sched.memory "2 workers x 1000 slots, --journal-in-memory" real 2 1000 \
            --journal-in-memory
        sched_case $_sr sched.w64 "64 workers (loadgen) x 32 slots" sim 64 32
        sched_case $_sr sched.w1000 "1000 workers (loadgen) x 2 slots" sim 1000 2
        sched_case $_sr sched.hetero "1000 heterogeneous workers (loadgen) x 2, mixed requests" \
            hetero 1000 2
        _sr=$((_sr + 1))
    done
    show sched.durable "2 workers, journal on (tasks/s)" tasks/s
    show sched.memory "2 workers, --journal-in-memory" tasks/s sched.durable "durable"
    show sched.w64 "64 workers (loadgen), journal on" tasks/s sched.durable "2 workers"
    show sched.w1000 "1000 workers (loadgen), journal on" tasks/s sched.durable "2 workers"
    show sched.hetero "1000 mixed workers, mixed requests" tasks/s sched.w1000 "1000 workers"
    show sched.durable.submit "  submit alone, journal on" tasks/s
    show sched.memory.submit "  submit alone, in memory" tasks/s sched.durable.submit "durable"
    show sched.durable.cpu "  master CPU during the durable run" "%core"
    show sched.memory.cpu "  master CPU during the in-memory run" "%core"
    show sched.durable.runq "  master waiting for a CPU, durable run" "%time"
}

# ---- 2b. workflows: a DAG and a long chain ------------------------------------------------
# wf_case REP KEY LABEL FILE N [master flags]: one run on a fresh master with 2
# real workers x 1000 slots (as sched.durable): `submit --file FILE`, then
# `wait --all`.
wf_case() {
    _r=$1 _key=$2 _label=$3 _file=$4 _n=$5
    shift 5
    _d=$WORK/$_key.$_r
    mkdir -p "$_d"
    start_master "$_d" "$@"
    start_workers 2 1000 "$_d"
    if submit_wait 0 "$_d" --file "$_file"; then
        record "$_key" "$(rate "$_n" "$T_TOTAL")"
        record "$_key.us" "$(awk -v t="$T_TOTAL" -v n="$_n" 'BEGIN { printf "%.1f", t * 1e6 / n }')"
        record "$_key.submit" "$(rate "$_n" "$T_SUBMIT")"
        # every task must have succeeded, or the figure means nothing
        _ns=$("$DTR" status --json --master "$MADDR" 2>/dev/null | sed -n 's/.*"succeeded":\([0-9]*\).*/\1/p')
        [ "$_ns" = "$_n" ] || echo "  note: $_label: $_ns of $_n tasks succeeded"
        echo "  run $_r, $_label: $T_TOTAL s end to end, $(rate "$_n" "$T_TOTAL") tasks/s" \
            "(submit alone $T_SUBMIT s; master CPU ${CPU}% of a core, runnable but waiting" \
            "for a CPU ${RUNQ}%), load $(load)"
    fi
    stop_workers
    stop_pid "$MPID"
    rm -rf "$_d/state"
}

bench_workflow() {
    WF_N=$((WF_CHAINS * WF_LEN + 2))
    header "workflow: a $WF_N-task noop DAG (1 root, $WF_CHAINS chains of $WF_LEN, 1 fan-in)" \
        "and $WF_N independent noops, both by submit --file; a chain of $CHAIN_N noops"
    # The files, written once, in dependency order (each task after the
    # tasks it names, so `submit --file` sends its batches as they come).
    awk -v c="$WF_CHAINS" -v l="$WF_LEN" 'BEGIN {
        print "{\"id\":\"root\",\"kind\":\"noop\"}"
        for (i = 1; i <= c; i++)
            for (j = 1; j <= l; j++) {
                dep = "root"
                if (j > 1) dep = "c" i "-" (j - 1)
                printf "{\"id\":\"c%d-%d\",\"kind\":\"noop\",\"after\":[\"%s\"]}\n", i, j, dep
            }
        printf "{\"id\":\"fanin\",\"kind\":\"noop\",\"after\":["
        sep = ""
        for (i = 1; i <= c; i++) { printf "%s\"c%d-%d\"", sep, i, l; sep = "," }
        print "]}"
    }' >"$WORK/dag.jsonl"
    awk -v n="$WF_N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"t%d\",\"kind\":\"noop\"}\n", i }' \
        >"$WORK/flat.jsonl"
    awk -v n="$CHAIN_N" 'BEGIN {
        print "{\"id\":\"k1\",\"kind\":\"noop\"}"
        for (i = 2; i <= n; i++) printf "{\"id\":\"k%d\",\"kind\":\"noop\",\"after\":[\"k%d\"]}\n", i, i - 1
    }' >"$WORK/chain.jsonl"
    _wr=1
    while [ $_wr -le "$REPS" ]; do
        wf_case $_wr wf.flat "$WF_N independent noops" "$WORK/flat.jsonl" "$WF_N"
        wf_case $_wr wf.dag "$WF_N-task DAG" "$WORK/dag.jsonl" "$WF_N"
        wf_case $_wr wf.dagmem "$WF_N-task DAG, --journal-in-memory" "$WORK/dag.jsonl" "$WF_N" \
            --journal-in-memory
        wf_case $_wr wf.chain "chain of $CHAIN_N" "$WORK/chain.jsonl" "$CHAIN_N"
        _wr=$((_wr + 1))
    done
    show wf.flat "$WF_N independent noops (submit --file)" tasks/s
    show wf.dag "$WF_N-task DAG, journal on" tasks/s wf.flat "independent"
    show wf.dagmem "$WF_N-task DAG, --journal-in-memory" tasks/s wf.dag "durable"
    show wf.dag.submit "  submit alone, DAG" tasks/s wf.flat.submit "independent"
    show wf.chain.us "chain of $CHAIN_N: time per link" us
    show wf.chain "  the same as tasks/s" tasks/s
}

# ---- 3. latency -------------------------------------------------------------------------
# lat_peers DIR: single-task latency of the peers, records lat.* keys:
# xargs running one /bin/true, and /bin/true alone (cmdlat, a process per
# round); beanstalkd and Gearman with a persistent client (peers.py), a noop
# job and a /bin/true job; Gearman's CLI client, one process per job.
lat_peers() {
    _lp_d=$1
    _lp_x=$("$B/cmdlat" "$CLI_N" xargs /bin/true) || die "cmdlat xargs failed"
    _lp_t=$("$B/cmdlat" "$CLI_N" /bin/true) || die "cmdlat /bin/true failed"
    record lat.xargs "$(field p50_ms "$_lp_x")"
    record lat.true "$(field p50_ms "$_lp_t")"
    echo "  run $_r: xargs /bin/true: $_lp_x"
    echo "  run $_r: /bin/true alone: $_lp_t"
    if have_beanstalkd; then
        start_beanstalkd "$_lp_d/beanstalkd" 1 --reply
        _lp_n=$("$PY" "$PEERS" bs-lat "$BPORT" "$LAT_N" noop 2>>"$_lp_d/beanstalkd/peers.err") &&
            record lat.bs.noop "$(field p50_ms "$_lp_n")"
        _lp_t=$("$PY" "$PEERS" bs-lat "$BPORT" "$CLI_N" /bin/true 2>>"$_lp_d/beanstalkd/peers.err") &&
            record lat.bs.true "$(field p50_ms "$_lp_t")"
        stop_beanstalkd
        echo "  run $_r: beanstalkd, one connection: noop ${_lp_n:-failed}; /bin/true ${_lp_t:-failed}"
    fi
    if have_gearman; then
        start_gearman "$_lp_d/gearman" 1 /bin/true
        _lp_n=$("$PY" "$PEERS" gm-lat "$GPORT" "$LAT_N" noop 2>>"$_lp_d/gearman/peers.err") &&
            record lat.gm.noop "$(field p50_ms "$_lp_n")"
        _lp_t=$("$PY" "$PEERS" gm-lat "$GPORT" "$CLI_N" run 2>>"$_lp_d/gearman/peers.err") &&
            record lat.gm.true "$(field p50_ms "$_lp_t")"
        _lp_c=$("$B/cmdlat" "$CLI_N" gearman -h 127.0.0.1 -p "$GPORT" -f run -s 2>>"$_lp_d/gearman/peers.err") &&
            record lat.gm.cli "$(field p50_ms "$_lp_c")"
        stop_gearman
        echo "  run $_r: Gearman, one connection: noop ${_lp_n:-failed}; /bin/true ${_lp_t:-failed}"
        echo "  run $_r: Gearman CLI (gearman -f run -s): ${_lp_c:-failed}"
    fi
}

bench_latency() {
    header "latency: one noop submitted and awaited, $LAT_N times in sequence"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _d=$WORK/latency$_r
        mkdir -p "$_d"
        _pp=$("$B/pingpong" 10000) || die "pingpong failed"
        _sq=$("$B/sqlite_commit" "$_d" 300) || die "sqlite_commit failed"
        start_master "$_d"
        start_workers 1 2 "$_d"
        _lt=$("$B/latency" --master "$MADDR" -n "$LAT_N" 2>>"$_d/client.err")
        _ok=$?
        # as a user runs it: one `dtr submit --wait` process per task
        _cl=$("$B/cmdlat" "$CLI_N" "$DTR" submit --wait --master "$MADDR" -- /bin/true 2>>"$_d/client.err") &&
            record lat.cli "$(field p50_ms "$_cl")"
        stop_workers
        stop_pid "$MPID"
        _rtt=$(awk -v u="$(field p50_us "$_pp")" 'BEGIN { printf "%.4f", u / 1000 }')
        _com=$(awk -v u="$(field p50_us "$_sq")" 'BEGIN { printf "%.4f", u / 1000 }')
        record lat.rtt "$_rtt"
        record lat.commit "$_com"
        record lat.base "$(awk -v a="$_rtt" -v b="$_com" 'BEGIN { printf "%.4f", a + b }')"
        if [ $_ok = 0 ]; then
            record lat.p50 "$(field p50_ms "$_lt")"
            record lat.p99 "$(field p99_ms "$_lt")"
            record lat.submit "$(field submit_p50_ms "$_lt")"
            record lat.run "$(field run_p50_ms "$_lt")"
            echo "  run $_r: dtr $_lt"
        else
            echo "  run $_r: latency failed (see $_d/client.err)"
        fi
        echo "  run $_r: dtr submit --wait -- /bin/true: ${_cl:-failed}"
        echo "  run $_r: rtt $_pp"
        echo "  run $_r: commit $_sq, load $(load)"
        lat_peers "$_d"
        _r=$((_r + 1))
    done
    show lat.rtt "loopback TCP round trip, p50" ms
    show lat.commit "lone SQLite WAL FULL commit, p50" ms
    show lat.base "baseline: round trip + commit" ms
    show lat.p50 "dtr submit -> final progress, p50" ms lat.base "baseline"
    show lat.p99 "dtr submit -> final progress, p99" ms lat.base "baseline"
    show lat.submit "  of which submit -> submitted, p50" ms lat.commit "commit"
    show lat.run "  of which submitted -> final, p50" ms lat.commit "commit"
    show lat.bs.noop "beanstalkd, one connection, noop job, p50" ms
    show lat.gm.noop "Gearman, one connection, noop job, p50" ms
    show lat.p50 "dtr one connection against beanstalkd" ms lat.bs.noop "beanstalkd"
    show lat.cli "dtr submit --wait -- /bin/true, p50" ms
    show lat.xargs "xargs running one /bin/true, p50" ms
    show lat.true "/bin/true alone (cmdlat), p50" ms
    show lat.bs.true "beanstalkd, one connection, /bin/true, p50" ms
    show lat.gm.true "Gearman, one connection, /bin/true, p50" ms
    show lat.gm.cli "gearman -f run -s (CLI client), p50" ms
    show lat.cli "dtr submit --wait against xargs" ms lat.xargs "xargs"
}

# ---- 3b. a master group of 3 (issue 18) ----------------------------------------------------
# Three members on loopback, side by side with a single master in the same
# run. Every member's client and replication port is below the kernel's
# ephemeral range (README "Running a master group"): each group started
# takes the next block of 10 ports from BENCH_GROUP_PORT (client ports +1..+3,
# replication ports +4..+6).
GSLOT=0
# start_group DIR: members 1..3 with state dirs DIR/state-I; waits for a
# leader. Sets GPID1..GPID3, GCPORT (client port of member 0), GRPORT, GLIST
# (the members' client addresses), and leader_of's GL, MADDR, MPID.
start_group() {
    _gs_d=$1
    mkdir -p "$_gs_d"
    GCPORT=$((GROUP_PORT + 10 * (GSLOT % 50)))
    GRPORT=$((GCPORT + 3))
    GSLOT=$((GSLOT + 1))
    GSPEC="1@127.0.0.1:$((GRPORT + 1)),2@127.0.0.1:$((GRPORT + 2)),3@127.0.0.1:$((GRPORT + 3))"
    GLIST="127.0.0.1:$((GCPORT + 1)),127.0.0.1:$((GCPORT + 2)),127.0.0.1:$((GCPORT + 3))"
    for _gs_i in 1 2 3; do start_member "$_gs_d" "$_gs_i"; done
    _gs_k=0
    until leader_of "$_gs_d"; do
        _gs_k=$((_gs_k + 1))
        [ $_gs_k -le 3000 ] || { tail -n 3 "$_gs_d"/m*.err >&2; die "the group elected no leader in 30 s"; }
        sleep 0.01
    done
}
# start_member DIR I: member I (again, after a kill: same state dir)
start_member() {
    "$DTR" master --group "$GSPEC" --group-id "$2" --port $((GCPORT + $2)) --http off \
        --state-dir "$1/state-$2" --log-dir "$1/logs-$2" >>"$1/m$2.out" 2>>"$1/m$2.err" &
    eval "GPID$2=$!"
    PIDS="$PIDS $!"
}
# leader_of DIR: true when a living member has written master.addr; sets
# GL (its number), MPID and MADDR
leader_of() {
    for _lo_i in 1 2 3; do
        _lo_p=$(eval echo "\$GPID$_lo_i")
        if [ -s "$1/state-$_lo_i/master.addr" ] && kill -0 "$_lo_p" 2>/dev/null; then
            GL=$_lo_i MPID=$_lo_p MADDR=$(cat "$1/state-$_lo_i/master.addr")
            return 0
        fi
    done
    return 1
}
stop_group() { for _sg_i in 1 2 3; do stop_pid "$(eval echo "\$GPID$_sg_i")"; done; }
# followers_ticks: CPU ticks of the members that do not lead
followers_ticks() {
    _ft_t=0
    for _ft_i in 1 2 3; do
        [ "$_ft_i" = "$GL" ] || _ft_t=$((_ft_t + $(cpu_ticks "$(eval echo "\$GPID$_ft_i")")))
    done
    echo "$_ft_t"
}

# group_sched REP KEY LABEL single|group: sched's 64-worker set-up (loadgen,
# 64 x 32 slots, SCHED_N noop tasks, journal on disk) on one master or on
# the leader of a group of 3.
group_sched() {
    _r=$1 _key=$2 _label=$3 _kind=$4
    _d=$WORK/$_key.$_r
    mkdir -p "$_d"
    if [ "$_kind" = group ]; then start_group "$_d"; else start_master "$_d"; fi
    start_loadgen "$_d" --workers 64 --slots 32 --time 3000
    _gq_f0=0
    [ "$_kind" = single ] || _gq_f0=$(followers_ticks)
    if submit_wait "$SCHED_N" "$_d" --kind noop; then
        record "$_key" "$(rate "$SCHED_N" "$T_TOTAL")"
        record "$_key.cpu" "$CPU"
        record "$_key.runq" "$RUNQ"
        _gq_x="" _gq_fc=0
        if [ "$_kind" = group ]; then
            _gq_fc=$(awk -v c="$(($(followers_ticks) - _gq_f0))" -v hz="$HZ" -v t="$T_TOTAL" \
                'BEGIN { printf "%.0f", 100 * c / hz / t / 2 }')
            record "$_key.fcpu" "$_gq_fc"
            _gq_x=", each follower ${_gq_fc}%"
        fi
        # CPU of every member per task, in us
        record "$_key.cpt" "$(awk -v m="$CPU" -v f="$_gq_fc" -v t="$T_TOTAL" -v n="$SCHED_N" \
            'BEGIN { printf "%.1f", (m + 2 * f) / 100 * t / n * 1e6 }')"
        echo "  run $_r, $_label: $(rate "$SCHED_N" "$T_TOTAL") tasks/s end to end" \
            "(submit alone $(rate "$SCHED_N" "$T_SUBMIT")/s; master CPU ${CPU}% of a core$_gq_x," \
            "runnable but waiting for a CPU ${RUNQ}%), load $(load)"
    fi
    stop_pid "$LPID"
    if [ "$_kind" = group ]; then stop_group; else stop_pid "$MPID"; fi
    rm -rf "$_d"/state*
}

# group_latency REP DIR single|group: bench/latency's one-connection p50
# against the master (the leader's own address), and `dtr submit --wait --
# /bin/true` p50 (given the leader, and given every member: the CLI tries
# them in order and follows the redirect). One worker --slots 2.
group_latency() {
    _r=$1 _d=$2 _kind=$3
    mkdir -p "$_d"
    if [ "$_kind" = group ]; then
        start_group "$_d"
        _gl_m=$MADDR
        MADDR=$GLIST # the worker is given every member
        start_workers 1 2 "$_d"
        MADDR=$_gl_m
    else
        start_master "$_d"
        start_workers 1 2 "$_d"
    fi
    _gl_k=glat.$_kind
    GLAT_P50="" GLAT_SUBMIT=""
    _lt=$("$B/latency" --master "$MADDR" -n "$LAT_N" 2>>"$_d/client.err") &&
        GLAT_P50=$(field p50_ms "$_lt") && GLAT_SUBMIT=$(field submit_p50_ms "$_lt") &&
        record "$_gl_k.p50" "$GLAT_P50" && record "$_gl_k.p99" "$(field p99_ms "$_lt")" &&
        record "$_gl_k.submit" "$(field submit_p50_ms "$_lt")" &&
        record "$_gl_k.run" "$(field run_p50_ms "$_lt")"
    echo "  run $_r, $_kind: one connection: ${_lt:-failed}"
    _cl=$("$B/cmdlat" "$CLI_N" "$DTR" submit --wait --master "$MADDR" -- /bin/true 2>>"$_d/client.err") &&
        record "$_gl_k.cli" "$(field p50_ms "$_cl")"
    echo "  run $_r, $_kind: dtr submit --wait --master $MADDR -- /bin/true: ${_cl:-failed}"
    if [ "$_kind" = group ]; then
        _cl=$("$B/cmdlat" "$CLI_N" "$DTR" submit --wait --master "$GLIST" -- /bin/true 2>>"$_d/client.err") &&
            record "$_gl_k.clilist" "$(field p50_ms "$_cl")"
        echo "  run $_r, $_kind: the same with --master $GLIST (leader: member $GL): ${_cl:-failed}"
        stop_workers
        stop_group
    else
        stop_workers
        stop_pid "$MPID"
    fi
    rm -rf "$_d"/state*
}

# group_failover DIR: a group of 3, one worker (given every member) and a
# trickle of /bin/true tasks (one every 0.1 s, submitted to every member);
# GROUP_KILLS rounds of: kill -9 the leader; time until another member has
# written master.addr (group.elect) and answers `dtr status` there
# (group.failover); restart the killed member on its state dir and wait until
# it follows again and the leader reports it caught up (lag 0).
group_failover() {
    _d=$1
    start_group "$_d"
    _gf_m=$MADDR
    MADDR=$GLIST
    start_workers 1 2 "$_d"
    MADDR=$_gf_m
    (
        # a TERM waits for the submit under way: no process is left behind
        trap 'exit 0' TERM
        while :; do
            "$DTR" submit --master "$GLIST" -- /bin/true >/dev/null 2>>"$_d/trickle.err"
            sleep 0.1
        done
    ) &
    _gf_tp=$!
    PIDS="$PIDS $_gf_tp"
    sleep 1
    _gf_k=1
    while [ $_gf_k -le "$GROUP_KILLS" ]; do
        _gf_old=$GL
        _gf_t0=$(now_ns)
        kill -KILL "$MPID"
        wait "$MPID" 2>/dev/null
        _gf_te=""
        _gf_i=0
        while :; do
            if leader_of "$_d"; then
                [ -n "$_gf_te" ] || _gf_te=$(now_ns)
                "$DTR" status --master "$MADDR" >/dev/null 2>&1 && break
            fi
            _gf_i=$((_gf_i + 1))
            [ $_gf_i -le 6000 ] || { echo "  round $_gf_k: no member led within 60 s"; break; }
            sleep 0.01
        done
        _gf_t1=$(now_ns)
        [ $_gf_i -le 6000 ] || break
        record group.elect "$(secs "$_gf_t0" "$_gf_te")"
        record group.failover "$(secs "$_gf_t0" "$_gf_t1")"
        # the killed member comes back as a follower, on its state dir
        _gf_f=$(grep -c following "$_d/m$_gf_old.out")
        _gf_r0=$(now_ns)
        start_member "$_d" "$_gf_old"
        _gf_i=0
        until [ "$(grep -c following "$_d/m$_gf_old.out")" -gt "$_gf_f" ] &&
            "$DTR" status --json --master "$MADDR" 2>/dev/null |
            grep -q "\"id\":$_gf_old,[^}]*\"lag\":0[,}]"; do
            _gf_i=$((_gf_i + 1))
            [ $_gf_i -le 600 ] || die "member $_gf_old did not catch up in 60 s after its restart (see $_d)"
            sleep 0.1
        done
        record group.rejoin "$(secs "$_gf_r0" "$(now_ns)")"
        echo "  kill $_gf_k: leader $_gf_old killed; member $GL wrote master.addr after" \
            "$(secs "$_gf_t0" "$_gf_te") s and served status after $(secs "$_gf_t0" "$_gf_t1") s;" \
            "member $_gf_old rejoined in $(secs "$_gf_r0" "$(now_ns)") s, load $(load)"
        _gf_k=$((_gf_k + 1))
    done
    stop_pid "$_gf_tp"
    # every task of the trickle ends: none lost to the kills
    "$DTR" wait --all --master "$MADDR" --timeout 60s >/dev/null 2>>"$_d/client.err"
    echo "  tasks after the kills: $("$DTR" status --master "$MADDR" 2>/dev/null | grep -m1 -o '[0-9]* succeeded.*')" \
        "($(wc -l <"$_d/trickle.err") line(s) of submit errors during failovers)"
    stop_workers
    stop_group
    rm -rf "$_d"/state*
}

bench_group() {
    header "group: a master group of 3 on loopback against a single master; $SCHED_N noop tasks" \
        "(loadgen, 64 workers x 32 slots, journal on), single-task latency, $GROUP_KILLS leader kills"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _pp=$("$B/pingpong" 10000) || die "pingpong failed"
        mkdir -p "$WORK/glat$_r"
        _sq=$("$B/sqlite_commit" "$WORK/glat$_r" 300) || die "sqlite_commit failed"
        _rtt=$(awk -v u="$(field p50_us "$_pp")" 'BEGIN { printf "%.4f", u / 1000 }')
        _com=$(awk -v u="$(field p50_us "$_sq")" 'BEGIN { printf "%.4f", u / 1000 }')
        record glat.rtt "$_rtt"
        record glat.commit "$_com"
        echo "  run $_r: rtt $_pp; commit $_sq"
        group_sched "$_r" group.single "single master" single
        group_sched "$_r" group.group "group of 3" group
        group_latency "$_r" "$WORK/glat$_r/single" single
        _p1=$GLAT_P50 _s1=$GLAT_SUBMIT
        group_latency "$_r" "$WORK/glat$_r/group" group
        # the budget: the single master's p50 + 2 round trips + 1 commit
        _ex=$(awk -v a="$_rtt" -v b="$_com" 'BEGIN { printf "%.4f", 2 * a + b }')
        record glat.extra "$_ex"
        if [ -n "$_p1" ] && [ -n "$GLAT_P50" ]; then
            record glat.budget "$(awk -v p="$_p1" -v x="$_ex" 'BEGIN { printf "%.4f", p + x }')"
            record glat.diff "$(awk -v p="$_p1" -v g="$GLAT_P50" 'BEGIN { printf "%.4f", g - p }')"
        fi
        # one replicated write: a submit acknowledged (the whole task's
        # path above has two in series: submit with its run, then the result)
        [ -n "$_s1" ] && [ -n "$GLAT_SUBMIT" ] &&
            record glat.sdiff "$(awk -v p="$_s1" -v g="$GLAT_SUBMIT" 'BEGIN { printf "%.4f", g - p }')"
        _r=$((_r + 1))
    done
    group_failover "$WORK/failover"
    show group.single "single master, journal on (tasks/s)" tasks/s
    show group.group "group of 3, journal on (tasks/s)" tasks/s group.single "single"
    show group.single.cpu "  single master's CPU" "%core"
    show group.group.cpu "  leader's CPU" "%core"
    show group.group.fcpu "  each follower's CPU" "%core"
    show group.single.runq "  single master waiting for a CPU" "%time"
    show group.group.runq "  leader waiting for a CPU" "%time"
    show group.single.cpt "  CPU per task, single master" us
    show group.group.cpt "  CPU per task, all 3 members" us group.single.cpt "single"
    show glat.rtt "loopback TCP round trip, p50" ms
    show glat.commit "lone SQLite WAL FULL commit, p50" ms
    show glat.single.p50 "single: one connection, p50" ms
    show glat.group.p50 "group: one connection to the leader, p50" ms glat.single.p50 "single"
    show glat.extra "2 round trips + 1 commit" ms
    show glat.diff "group p50 - single p50" ms glat.extra "2 RTT + commit"
    show glat.sdiff "  of it, one write (submit acknowledged)" ms glat.extra "2 RTT + commit"
    show glat.budget "budget: single + 2 round trips + 1 commit" ms
    show glat.group.p50 "group against the budget" ms glat.budget "budget"
    show glat.single.submit "  single: submit -> submitted (1 write), p50" ms
    show glat.group.submit "  group: submit -> submitted (1 entry), p50" ms glat.single.submit "single"
    show glat.single.run "  single: submitted -> final (run, result), p50" ms
    show glat.group.run "  group: submitted -> final (run, result), p50" ms glat.single.run "single"
    show glat.single.p99 "single: one connection, p99" ms
    show glat.group.p99 "group: one connection, p99" ms glat.single.p99 "single"
    show glat.single.cli "single: dtr submit --wait -- /bin/true, p50" ms
    show glat.group.cli "group: the same, --master LEADER, p50" ms glat.single.cli "single"
    show glat.group.clilist "group: the same, --master A,B,C, p50" ms glat.single.cli "single"
    show group.elect "failover: another member wrote master.addr" s
    show group.failover "failover: ... and answers dtr status" s
    show group.rejoin "the killed member restarted and caught up" s
}

# idle (issue 17; by name only, `workers` measures the same among more):
# IDLE_N simulated workers heartbeating to a master with default flags, no
# tasks; the master's CPU over REPS windows of IDLE_S seconds.
bench_idle() {
    if [ $((IDLE_N + 200)) -gt "$NOFILE" ]; then
        echo "  skipping idle with $IDLE_N workers: RLIMIT_NOFILE is $NOFILE"
        return
    fi
    header "idle: master CPU with $IDLE_N heartbeating workers (loadgen), master defaults, no tasks"
    _d=$WORK/idle
    mkdir -p "$_d"
    start_master "$_d"
    _t0=$(now_ns)
    start_loadgen "$_d" --workers "$IDLE_N" --slots 1 --time 3000
    wait_workers lg- "$IDLE_N"
    echo "  $IDLE_N workers registered in $(secs "$_t0" "$(now_ns)") s" \
        "(loadgen: $(grep '^ready' "$_d/loadgen.out"))"
    sleep 2
    _r=1
    while [ $_r -le "$REPS" ]; do
        _c0=$(cpu_ticks "$MPID") _l0=$(cpu_ticks "$LPID") _t0=$(now_ns)
        sleep "$IDLE_S"
        _c1=$(cpu_ticks "$MPID") _l1=$(cpu_ticks "$LPID") _t1=$(now_ns)
        _s=$(secs "$_t0" "$_t1")
        _m=$(awk -v c="$((_c1 - _c0))" -v hz="$HZ" -v t="$_s" 'BEGIN { printf "%.1f", 100 * c / hz / t }')
        _g=$(awk -v c="$((_l1 - _l0))" -v hz="$HZ" -v t="$_s" 'BEGIN { printf "%.1f", 100 * c / hz / t }')
        record idle.master "$_m"
        record idle.loadgen "$_g"
        echo "  idle window $_r (${IDLE_S}s): master ${_m}% of a core, loadgen ${_g}%, load $(load)"
        _r=$((_r + 1))
    done
    echo "  master RSS with $IDLE_N workers: $(rss_kb "$MPID") kB"
    stop_pid "$LPID"
    stop_pid "$MPID"
    rm -rf "$_d/state"
    show idle.master "master CPU at idle, $IDLE_N workers" "%core"
    show idle.loadgen "loadgen's own CPU meanwhile" "%core"
}

# ---- 4. many workers ---------------------------------------------------------------------
bench_workers() {
    for _wn in $WORKERS_LIST; do
        if [ $((_wn + 200)) -gt "$NOFILE" ]; then
            echo "  skipping $_wn workers: RLIMIT_NOFILE is $NOFILE"
            continue
        fi
        header "many workers: $_wn simulated workers (loadgen), heartbeat 1s, worker-timeout 5s"
        _d=$WORK/workers$_wn
        mkdir -p "$_d"
        start_master "$_d" --heartbeat 1s --worker-timeout 5s
        _t0=$(now_ns)
        start_loadgen "$_d" --workers "$_wn" --slots 1 --time 3000 --mute-count "$REPS" \
            --mute-after 1 --mute-gap 1 --mute-on-signal 1
        _t1=$(now_ns)
        wait_workers lg- "$_wn"
        echo "  $_wn workers connected and registered in $(secs "$_t0" "$(now_ns)") s" \
            "(loadgen: $(grep '^ready' "$_d/loadgen.out"))"
        record "w$_wn.connect" "$(secs "$_t0" "$_t1")"
        sleep 2
        _r=1
        while [ $_r -le "$REPS" ]; do
            _c0=$(cpu_ticks "$MPID") _l0=$(cpu_ticks "$LPID") _t0=$(now_ns)
            sleep "$IDLE_S"
            _c1=$(cpu_ticks "$MPID") _l1=$(cpu_ticks "$LPID") _t1=$(now_ns)
            _s=$(secs "$_t0" "$_t1")
            _m=$(awk -v c="$((_c1 - _c0))" -v hz="$HZ" -v t="$_s" 'BEGIN { printf "%.1f", 100 * c / hz / t }')
            _g=$(awk -v c="$((_l1 - _l0))" -v hz="$HZ" -v t="$_s" 'BEGIN { printf "%.1f", 100 * c / hz / t }')
            record "w$_wn.idle" "$_m"
            record "w$_wn.lgidle" "$_g"
            echo "  idle window $_r (${IDLE_S}s): master ${_m}% of a core, loadgen ${_g}%, load $(load)"
            _r=$((_r + 1))
        done
        echo "  master RSS with $_wn workers: $(rss_kb "$MPID") kB"
        _r=1
        while [ $_r -le "$REPS" ]; do
            if submit_wait "$DISPATCH_N" "$_d" --kind noop; then
                record "w$_wn.dispatch" "$(rate "$DISPATCH_N" "$T_TOTAL")"
                echo "  dispatch run $_r: $DISPATCH_N noop tasks, $(rate "$DISPATCH_N" "$T_TOTAL") tasks/s" \
                    "end to end (master CPU ${CPU}%, waiting for a CPU ${RUNQ}%), load $(load)"
            fi
            _r=$((_r + 1))
        done
        # dead-worker detection: loadgen mutes lg-0, lg-1, ... one at a time
        kill -USR1 "$LPID"
        _i=0
        while [ "$(grep -c '^dead' "$_d/loadgen.out")" -lt "$REPS" ] && [ $_i -lt $((REPS * 150)) ]; do
            sleep 0.1
            _i=$((_i + 1))
        done
        for _v in $(sed -n 's/^dead .* ms=\([0-9]*\) .*/\1/p' "$_d/loadgen.out"); do
            record "w$_wn.dead" "$(awk -v v="$_v" 'BEGIN { printf "%.3f", v / 1000 }')"
        done
        for _v in $(sed -n 's/^dead .*silent_ms=\([0-9]*\).*/\1/p' "$_d/loadgen.out"); do
            record "w$_wn.silent" "$(awk -v v="$_v" 'BEGIN { printf "%.3f", v / 1000 }')"
        done
        grep '^dead' "$_d/loadgen.out" | sed 's/^/  /'
        echo "  master.log: $(grep -c 'worker declared dead' "$_d/logs/master.log") 'worker declared dead' lines"
        stop_pid "$LPID"
        grep '^done' "$_d/loadgen.out" | sed 's/^/  loadgen /'
        stop_pid "$MPID"
        show "w$_wn.idle" "master CPU at idle, $_wn workers" "%core"
        show "w$_wn.lgidle" "loadgen CPU at idle (for reference)" "%core"
        show "w$_wn.dispatch" "dispatch, $_wn workers x 1 slot" tasks/s
        show "w$_wn.dead" "dead worker: mute -> declared dead" s
        show "w$_wn.silent" "dead worker: last pong -> declared dead" s
    done
}

# ---- 5. memory and recovery -----------------------------------------------------------------
bench_memory() {
    header "memory and recovery: $MEM_N queued noop tasks, no workers"
    _d=$WORK/memory
    mkdir -p "$_d"
    start_master "$_d"
    sleep 1
    _r0=$(rss_kb "$MPID")
    _t0=$(now_ns)
    "$DTR" submit --master "$MADDR" --kind noop --array "1-$MEM_N" >/dev/null 2>>"$_d/client.err" ||
        die "submitting $MEM_N tasks failed (see $_d/client.err)"
    _t1=$(now_ns)
    sleep 1
    _r1=$(rss_kb "$MPID")
    _bpt=$(awk -v a="$_r0" -v b="$_r1" -v n="$MEM_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
    record mem.bpt "$_bpt"
    echo "  RSS before ${_r0} kB, after ${_r1} kB (peak $(hwm_kb "$MPID") kB): $_bpt bytes/task;" \
        "submitted in $(secs "$_t0" "$_t1") s ($(rate "$MEM_N" "$(secs "$_t0" "$_t1")")/s)"
    stop_pid "$MPID"
    echo "  journal: $(du -sk "$_d/state" | cut -f1) kB on disk"
    _r=1
    while [ $_r -le "$REPS" ]; do
        : >"$_d/master.out"
        _t0=$(now_ns)
        start_master "$_d"
        _t1=$(now_ns)
        record mem.restart "$(secs "$_t0" "$_t1")"
        sleep 1
        _r2=$(rss_kb "$MPID")
        _b2=$(awk -v a="$_r0" -v b="$_r2" -v n="$MEM_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
        record mem.bpt_restart "$_b2"
        echo "  restart $_r: listening after $(secs "$_t0" "$_t1") s; RSS then ${_r2} kB ($_b2 bytes/task)," \
            "load $(load)"
        stop_pid "$MPID"
        _r=$((_r + 1))
    done
    show mem.bpt "master RSS per queued task" bytes
    show mem.bpt_restart "  the same after a restart (recovered)" bytes
    show mem.restart "restart with $MEM_N tasks until listening" s
    bench_memory_dag
}

# The same for a graph: MEM_N noop tasks in chains of 100 (one edge each, all
# blocked but the heads), so a restart re-links every edge.
bench_memory_dag() {
    header "memory and recovery: a $MEM_N-task DAG (chains of 100), no workers"
    _d=$WORK/memory-dag
    mkdir -p "$_d"
    awk -v n="$MEM_N" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (i % 100 == 0) printf "{\"id\":\"d%d\",\"kind\":\"noop\"}\n", i
            else printf "{\"id\":\"d%d\",\"kind\":\"noop\",\"after\":[\"d%d\"]}\n", i, i - 1
        }
    }' >"$_d/dag.jsonl"
    start_master "$_d"
    sleep 1
    _r0=$(rss_kb "$MPID")
    _t0=$(now_ns)
    "$DTR" submit --master "$MADDR" --file "$_d/dag.jsonl" >/dev/null 2>>"$_d/client.err" ||
        die "submitting the $MEM_N-task DAG failed (see $_d/client.err)"
    _t1=$(now_ns)
    sleep 1
    _r1=$(rss_kb "$MPID")
    record memdag.bpt "$(awk -v a="$_r0" -v b="$_r1" -v n="$MEM_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')"
    echo "  RSS before ${_r0} kB, after ${_r1} kB: $(awk -v a="$_r0" -v b="$_r1" -v n="$MEM_N" \
        'BEGIN { printf "%.0f", (b - a) * 1024 / n }') bytes/task; submitted in $(secs "$_t0" "$_t1") s"
    stop_pid "$MPID"
    _r=1
    while [ $_r -le "$REPS" ]; do
        : >"$_d/master.out"
        _t0=$(now_ns)
        start_master "$_d"
        _t1=$(now_ns)
        record memdag.restart "$(secs "$_t0" "$_t1")"
        echo "  restart $_r: listening after $(secs "$_t0" "$_t1") s, load $(load)"
        stop_pid "$MPID"
        _r=$((_r + 1))
    done
    rm -f "$_d/dag.jsonl"
    show memdag.bpt "master RSS per task of a DAG (1 edge each)" bytes
    show memdag.restart "restart with a $MEM_N-task DAG until listening" s
}

# ---- 7. output: dispatch while a task writes ~100 MB/s ------------------------------------
# One master (journal on, --max-output 50 GB so every byte is written) and 2
# workers x 1000 slots: OUT_N noop tasks alone, then the same again while a
# task writes 10 MiB every 0.1 s (at most 100 MB/s; back-pressure may hold
# it lower) on a third worker started alone before it (the other two are
# restarted after), streamed to the master's files, then OUT_N alone again
# once the writer is cancelled and its worker gone. The figure is the rate
# with the writer over the mean of the two alone, same master, same run:
# measured alone then with no writer at all, a second half ran ~7% slower
# than the first (the journal holds OUT_N more tasks; fresh workers), so
# bracketing the writer's half cancels that drift.
out_noops() { # DIR JOB: submits OUT_N noops as job JOB and waits for them
    _on_c0=$(cpu_ticks "$MPID")
    _on_t0=$(now_ns)
    "$DTR" submit --master "$MADDR" --array "1-$OUT_N" --kind noop --job-name "$2" >/dev/null \
        2>>"$1/client.err" || return 1
    "$DTR" wait --master "$MADDR" --job "$2" --timeout "${WAIT_TIMEOUT}s" >/dev/null \
        2>>"$1/client.err" || return 1
    _on_t1=$(now_ns)
    T_TOTAL=$(secs "$_on_t0" "$_on_t1")
    CPU=$(awk -v c="$(($(cpu_ticks "$MPID") - _on_c0))" -v hz="$HZ" -v t="$T_TOTAL" \
        'BEGIN { printf "%.0f", 100 * c / hz / t }')
}
out_bytes() { du -sb "$1/state/output" 2>/dev/null | cut -f1; }
bench_output() {
    header "output: $OUT_N noop tasks, alone, while a task writes ~100 MB/s, and alone again"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _d=$WORK/output$_r
        mkdir -p "$_d"
        start_master "$_d" --max-output 50000000000
        start_workers 2 1000 "$_d"
        _a1= _a2= _w=
        out_noops "$_d" "alone$_r" && _a1=$(rate "$OUT_N" "$T_TOTAL")
        # The writer's own worker, alone when the writer is dispatched, so
        # that the writer runs there and the noops on the other two.
        stop_workers
        "$DTR" worker --master "$MADDR" --id xw --slots 1 --port-range "$WPORTS" \
            --log-dir "$_d/logs" --master-timeout 60s >>"$_d/worker.out" 2>&1 &
        _wx=$!
        PIDS="$PIDS $_wx"
        wait_workers xw 1
        "$DTR" submit --master "$MADDR" --id writer --cmd \
            'while :; do head -c 10485760 /dev/zero; sleep 0.1; done' >/dev/null 2>>"$_d/client.err"
        _i=0
        while [ "$(out_bytes "$_d")" -lt 20000000 ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
        start_workers 2 1000 "$_d"
        _b0=$(out_bytes "$_d") _t0=$(now_ns) _xc0=$(cpu_ticks "$_wx")
        if out_noops "$_d" "writing$_r"; then
            _ts=$(secs "$_t0" "$(now_ns)")
            _mbs=$(awk -v b="$(($(out_bytes "$_d") - _b0))" -v s="$_ts" \
                'BEGIN { printf "%.1f", b / s / 1e6 }')
            _xcpu=$(awk -v c="$(($(cpu_ticks "$_wx") - _xc0))" -v hz="$HZ" -v t="$_ts" \
                'BEGIN { printf "%.0f", 100 * c / hz / t }')
            _w=$(rate "$OUT_N" "$T_TOTAL")
            _wcpu=$CPU
        fi
        "$DTR" cancel --master "$MADDR" writer >/dev/null 2>&1
        stop_pid "$_wx"
        out_noops "$_d" "again$_r" && _a2=$(rate "$OUT_N" "$T_TOTAL")
        if [ -n "$_a1" ] && [ -n "$_a2" ] && [ -n "$_w" ]; then
            _am=$(awk -v a="$_a1" -v b="$_a2" 'BEGIN { printf "%.1f", (a + b) / 2 }')
            record out.alone "$_am"
            record out.writing "$_w"
            record out.mbs "$_mbs"
            record out.wcpu "$_xcpu"
            echo "  run $_r: alone ${_a1}/s, with the writer ${_w}/s (master CPU ${_wcpu}%) while it streamed $_mbs MB/s (its worker's CPU ${_xcpu}%), alone again ${_a2}/s; load $(load)"
        else
            echo "  run $_r: failed (alone '${_a1}', with the writer '${_w}', again '${_a2}')"
        fi
        stop_workers
        stop_pid "$MPID"
        rm -rf "$_d/state"
        _r=$((_r + 1))
    done
    show out.alone "noops alone (2 workers x 1000 slots), mean of before and after" tasks/s
    show out.writing "noops while a task writes ~100 MB/s" tasks/s out.alone "alone"
    show out.mbs "  output streamed to the master meanwhile" MB/s
    show out.wcpu "  the writer's worker process meanwhile" "%core"
}

# ---- 7. the HTTP side (issue 14) ------------------------------------------------------------
# http_sched_case REP DASHBOARDS: sched.durable's set-up with DASHBOARDS
# clients attached meanwhile (bench/dashboards.py): each holds the event
# stream open and reads it, and fetches /metrics and /api/v1/status once a
# second.
http_sched_case() {
    _r=$1 _ns=$2
    _d=$WORK/http_sched$_ns.$_r
    start_master "$_d" --http 127.0.0.1:0
    _u=$(cat "$_d/state/http.addr")
    start_workers 2 1000 "$_d"
    _dash=""
    if [ "$_ns" -gt 0 ]; then
        /usr/bin/python3 "$ROOT/bench/dashboards.py" "$_u" "$_ns" >"$_d/dash.out" 2>>"$_d/client.err" &
        _dash=$!
        PIDS="$PIDS $_dash"
    fi
    sleep 1 # the dashboards attached before the run starts (and the same pause without)
    if submit_wait "$SCHED_N" "$_d" --kind noop; then
        record "http.sched$_ns" "$(rate "$SCHED_N" "$T_TOTAL")"
        echo "  run $_r, $_ns dashboards: $(rate "$SCHED_N" "$T_TOTAL") tasks/s end to end," \
            "master CPU ${CPU}% of a core, load $(load)"
    fi
    if [ -n "$_dash" ]; then
        stop_pid "$_dash"
        echo "    the dashboards: $(cat "$_d/dash.out" 2>/dev/null)"
    fi
    stop_workers
    stop_pid "$MPID"
    rm -rf "$_d/state"
}

bench_http() {
    header "http: GET /api/v1/status and /metrics (bench/httpload); /metrics with $MEM_N" \
        "queued tasks; $SCHED_N noops with 0 and 10 dashboards (event stream, scrape every second)"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _d=$WORK/http$_r
        start_master "$_d" --http 127.0.0.1:0 --journal-in-memory
        _u=$(cat "$_d/state/http.addr")
        _st=$("$B/httpload" --url "$_u" --path /api/v1/status -c 4 -n "$HTTP_N" 2>>"$_d/client.err")
        _me=$("$B/httpload" --url "$_u" --path /metrics -c 1 -n $((HTTP_N / 10)) 2>>"$_d/client.err")
        record http.status "$(field rps "$_st")"
        record http.metrics "$(field rps "$_me")"
        "$DTR" submit --master "$MADDR" --kind noop --array "1-$MEM_N" >/dev/null 2>>"$_d/client.err"
        _big=$("$B/httpload" --url "$_u" --path /metrics -c 1 -n 200 2>>"$_d/client.err")
        record http.scrape "$(awk -v u="$(field p50_us "$_big")" 'BEGIN { printf "%.3f", u / 1000 }')"
        echo "  run $_r: status (4 conns) $_st; metrics $_me; metrics at $MEM_N tasks $_big"
        # and with the most simulated workers of the workers bench registered
        # too (they run the tasks, noops answered at once; then all is quiet)
        _nw=$(echo $WORKERS_LIST | awk '{ print $NF }')
        start_loadgen "$_d" --workers "$_nw" --slots 1 --time 3000
        "$DTR" wait --all --master "$MADDR" --timeout "${WAIT_TIMEOUT}s" >/dev/null 2>>"$_d/client.err"
        _bw=$("$B/httpload" --url "$_u" --path /metrics -c 1 -n 200 2>>"$_d/client.err")
        record http.scrape_w "$(awk -v u="$(field p50_us "$_bw")" 'BEGIN { printf "%.3f", u / 1000 }')"
        echo "  run $_r: metrics at $MEM_N tasks (ended) and $_nw workers $_bw"
        stop_pid "$LPID"
        stop_pid "$MPID"
        rm -rf "$_d/state"
        # taking turns, so the ratio is paired
        http_sched_case $_r 0
        http_sched_case $_r 10
        _r=$((_r + 1))
    done
    show http.status "GET /api/v1/status, 4 keep-alive connections" req/s
    show http.metrics "GET /metrics, 1 connection" req/s
    show http.scrape "GET /metrics with $MEM_N tasks, p50" ms
    show http.scrape_w "GET /metrics with $MEM_N tasks and $(echo $WORKERS_LIST | awk '{ print $NF }') workers, p50" ms
    show http.sched10 "noops with 10 dashboards" tasks/s http.sched0 "none"
}

# python: the Python client (issue 15): submit_many of PY_N exec specs, and
# Executor.map of a trivial function over PY_N items (default chunking),
# on 2 workers of 2 slots (bench/py_bench.py, Debian's /usr/bin/python3).
bench_python() {
    PY_N=${BENCH_PY_N:-100000}
    [ "$QUICK" = 1 ] && PY_N=${BENCH_PY_N:-20000}
    header "python: submit_many of $PY_N exec specs; Executor.map over $PY_N items"
    _r=1
    while [ $_r -le "$REPS" ]; do
        _d=$WORK/python$_r
        start_master "$_d"
        start_workers 2 2 "$_d"
        _l=$(/usr/bin/python3 "$ROOT/bench/py_bench.py" "$MADDR" "$PY_N" 2>>"$_d/client.err")
        record py.submit "$(field submit_rate "$_l")"
        record py.map "$(field map_rate "$_l")"
        echo "  run $_r: $_l"
        stop_workers
        stop_pid "$MPID"
        rm -rf "$_d/state"
        _r=$((_r + 1))
    done
    show py.submit "submit_many, exec specs" specs/s
    show py.map "Executor.map, trivial function, chunked" items/s
}

for b in $ALL $EXTRA; do
    selected "$b" || continue
    case $b in
    exec) bench_exec ;;
    sched) bench_sched ;;
    workflow) bench_workflow ;;
    latency) bench_latency ;;
    group) bench_group ;;
    workers) bench_workers ;;
    memory) bench_memory ;;
    output) bench_output ;;
    http) bench_http ;;
    python) bench_python ;;
    idle) bench_idle ;;
    esac
done

# ---- summary ------------------------------------------------------------------------------------
# line LABEL VALUE UNIT MINMAX TARGET-TEXT STATUS
sline() { printf '%-50s %12s %-9s %-19s %-34s %s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
# check VALUE OP LIMIT -> ok / MISS / -
check() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v == "" || v == "-" || v == "nan") { print "-"; exit }
    ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print ok ? "ok" : "MISS" }'; }
mm() { _mm_s=$(stats $(values "$1")); echo "$_mm_s" | awk '{ print $2 "-" $3 }'; }
med() { _md_v=$(values "$1"); [ -n "$_md_v" ] && median $_md_v || echo -; }

echo
echo "== summary: median of $REPS runs (min-max); ratios against baselines measured in this run =="
echo "   (targets are the issue's; nothing here asserts them; load average now $(load))"
sline "figure" "median" "unit" "min-max" "target" ""
if selected exec; then
    _raw=$(med exec.raw) _dtr=$(med exec.dtr)
    _x=$(ratio_med exec.dtr exec.raw)
    sline "exec: raw posix_spawn loop (-P2), baseline" "$_raw" tasks/s "$(mm exec.raw)" "" ""
    sline "exec: dtr, $EXEC_N x /bin/true" "$_dtr" tasks/s "$(mm exec.dtr)" "" ""
    sline "exec: dtr / raw loop" "$_x" x "$(ratio_mm exec.dtr exec.raw)" ">= 0.9x raw loop" "$(check "$_x" ">=" 0.9)"
    sline "exec: dtr --prefetch 2 / raw loop" "$(ratio_med exec.dtrpf exec.raw)" x "$(ratio_mm exec.dtrpf exec.raw)" "" ""
    sline "exec: xargs -P2 / raw loop" "$(ratio_med exec.xargs exec.raw)" x "$(ratio_mm exec.xargs exec.raw)" "(peer)" ""
    sline "exec: GNU parallel -j2 / raw loop" "$(ratio_med exec.parallel exec.raw)" x "$(ratio_mm exec.parallel exec.raw)" "(peer)" ""
    sline "exec: 2 raw loops -P1 (2 processes) / raw loop" "$(ratio_med exec.raw2 exec.raw)" x "$(ratio_mm exec.raw2 exec.raw)" "(reference)" ""
    sline "exec: Gearman (2 gearman -w) / raw loop" "$(ratio_med exec.gearman exec.raw)" x "$(ratio_mm exec.gearman exec.raw)" "(peer)" ""
    sline "exec: beanstalkd (2 workers) / raw loop" "$(ratio_med exec.beanstalkd exec.raw)" x "$(ratio_mm exec.beanstalkd exec.raw)" "(peer)" ""
    for _pk in xargs gearman beanstalkd; do
        _x=$(ratio_med exec.dtr "exec.$_pk")
        sline "exec: dtr / $_pk" "$_x" x "$(ratio_mm exec.dtr "exec.$_pk")" ">= 1 (issue 17)" "$(check "$_x" ">=" 1)"
    done
    _c=$(med exec.dtr.cpu)
    sline "exec: dtr's own CPU per task (master+worker)" "$_c" us "$(mm exec.dtr.cpu)" "<= 100 us (issue 17)" "$(check "$_c" "<=" 100)"
    sline "exec:   of which the master" "$(med exec.dtr.mcpu)" us "$(mm exec.dtr.mcpu)" "" ""
    sline "exec:   of which the worker" "$(med exec.dtr.wcpu)" us "$(mm exec.dtr.wcpu)" "" ""
    sline "exec: journal commits per task" "$(med exec.dtr.commits)" "" "$(mm exec.dtr.commits)" "" ""
    _x=$(ratio_med exec.wide exec.rawwide)
    sline "exec: dtr --slots $WIDE / raw loop -P$WIDE" "$_x" x "$(ratio_mm exec.wide exec.rawwide)" ">= 0.95x (issue 17)" "$(check "$_x" ">=" 0.95)"
    _x=$(ratio_med exec.sleep exec.rawsleep)
    sline "exec: dtr / raw loop, sleep 0.01 x $SLEEP_N" "$_x" x "$(ratio_mm exec.sleep exec.rawsleep)" ">= 0.95x (issue 17)" "$(check "$_x" ">=" 0.95)"
fi
if selected sched; then
    _d=$(med sched.durable)
    sline "scheduler: 2 workers, journal on" "$_d" tasks/s "$(mm sched.durable)" ">= 100000 tasks/s durable" "$(check "$_d" ">=" 100000)"
    sline "scheduler: 2 workers, journal in memory" "$(med sched.memory)" tasks/s "$(mm sched.memory)" "" ""
    sline "scheduler: durable / in memory (journal cost)" "$(ratio_med sched.durable sched.memory)" x "$(ratio_mm sched.durable sched.memory)" "" ""
    sline "scheduler: 64 workers, journal on" "$(med sched.w64)" tasks/s "$(mm sched.w64)" "" ""
    sline "scheduler: 1000 workers, journal on" "$(med sched.w1000)" tasks/s "$(mm sched.w1000)" "" ""
fi
if selected workflow; then
    _d=$(med wf.dag)
    sline "workflow: $WF_N independent noops (--file)" "$(med wf.flat)" tasks/s "$(mm wf.flat)" "" ""
    sline "workflow: $WF_N-task DAG, journal on" "$_d" tasks/s "$(mm wf.dag)" ">= 50000 tasks/s durable" "$(check "$_d" ">=" 50000)"
    sline "workflow: DAG / independent" "$(ratio_med wf.dag wf.flat)" x "$(ratio_mm wf.dag wf.flat)" "" ""
    sline "workflow: DAG, journal in memory" "$(med wf.dagmem)" tasks/s "$(mm wf.dagmem)" "" ""
    sline "workflow: chain of $CHAIN_N, per link" "$(med wf.chain.us)" us "$(mm wf.chain.us)" "" ""
fi
if selected latency; then
    _p=$(med lat.p50) _b=$(med lat.base)
    _x=$(ratio_med lat.p50 lat.base)
    sline "latency: loopback RTT p50" "$(med lat.rtt)" ms "$(mm lat.rtt)" "" ""
    sline "latency: lone WAL FULL commit p50" "$(med lat.commit)" ms "$(mm lat.commit)" "" ""
    sline "latency: dtr p50" "$_p" ms "$(mm lat.p50)" "" ""
    sline "latency: dtr p99" "$(med lat.p99)" ms "$(mm lat.p99)" "" ""
    sline "latency: dtr p50 / (RTT + commit)" "$_x" x "$(ratio_mm lat.p50 lat.base)" "<= 8x" "$(check "$_x" "<=" 8)"
    _x=$(ratio_med lat.p50 lat.bs.noop)
    sline "latency: beanstalkd noop p50 (one connection)" "$(med lat.bs.noop)" ms "$(mm lat.bs.noop)" "" ""
    sline "latency: Gearman noop p50 (one connection)" "$(med lat.gm.noop)" ms "$(mm lat.gm.noop)" "" ""
    sline "latency: dtr p50 / beanstalkd noop p50" "$_x" x "$(ratio_mm lat.p50 lat.bs.noop)" "<= 2x (issue 17)" "$(check "$_x" "<=" 2)"
    _x=$(ratio_med lat.cli lat.xargs)
    sline "latency: dtr submit --wait -- /bin/true p50" "$(med lat.cli)" ms "$(mm lat.cli)" "" ""
    sline "latency: xargs running one /bin/true p50" "$(med lat.xargs)" ms "$(mm lat.xargs)" "" ""
    sline "latency: beanstalkd /bin/true p50 (one conn.)" "$(med lat.bs.true)" ms "$(mm lat.bs.true)" "" ""
    sline "latency: Gearman /bin/true p50 (one conn.)" "$(med lat.gm.true)" ms "$(mm lat.gm.true)" "" ""
    sline "latency: gearman CLI client p50" "$(med lat.gm.cli)" ms "$(mm lat.gm.cli)" "" ""
    sline "latency: dtr submit --wait / xargs" "$_x" x "$(ratio_mm lat.cli lat.xargs)" "<= 1x (issue 17)" "$(check "$_x" "<=" 1)"
fi
if selected group; then
    _x=$(ratio_med group.group group.single)
    sline "group: single master, noops, journal on" "$(med group.single)" tasks/s "$(mm group.single)" "" ""
    sline "group: group of 3, noops, journal on" "$(med group.group)" tasks/s "$(mm group.group)" "" ""
    sline "group: group of 3 / single master" "$_x" x "$(ratio_mm group.group group.single)" ">= 0.5x (issue 18)" "$(check "$_x" ">=" 0.5)"
    sline "group: single master, one connection p50" "$(med glat.single.p50)" ms "$(mm glat.single.p50)" "" ""
    sline "group: group of 3, one connection p50" "$(med glat.group.p50)" ms "$(mm glat.group.p50)" "" ""
    sline "group: 2 round trips + 1 commit" "$(med glat.extra)" ms "$(mm glat.extra)" "" ""
    _x=$(ratio_med glat.diff glat.extra)
    sline "group: (group - single) p50, whole task" "$(med glat.diff)" ms "$(mm glat.diff)" "<= 2 RTT + 1 commit (issue 18)" "$(check "$_x" "<=" 1)"
    _x=$(ratio_med glat.sdiff glat.extra)
    sline "group: (group - single) p50, submit acked" "$(med glat.sdiff)" ms "$(mm glat.sdiff)" "<= 2 RTT + 1 commit (one write)" "$(check "$_x" "<=" 1)"
    sline "group: submit --wait /bin/true, single" "$(med glat.single.cli)" ms "$(mm glat.single.cli)" "" ""
    sline "group: submit --wait /bin/true, group, A,B,C" "$(med glat.group.clilist)" ms "$(mm glat.group.clilist)" "" ""
    _x=$(med group.failover)
    sline "group: failover, median of $(values group.failover | wc -w) leader kills" "$_x" s "$(mm group.failover)" "<= 5 s (issue 18)" "$(check "$_x" "<=" 5)"
fi
if selected workers; then
    for _n in $WORKERS_LIST; do
        [ -n "$(values "w$_n.idle")" ] || continue
        _t="" _s=""
        if [ "$_n" = 10000 ]; then _t="<= 3% of a core (issue 17; 6: 10%)"; _s=$(check "$(med "w$_n.idle")" "<=" 3); fi
        sline "workers: master CPU idle, $_n heartbeating" "$(med "w$_n.idle")" "%core" "$(mm "w$_n.idle")" "$_t" "$_s"
        sline "workers: dispatch, $_n workers" "$(med "w$_n.dispatch")" tasks/s "$(mm "w$_n.dispatch")" "" ""
        sline "workers: dead worker detected, $_n workers" "$(med "w$_n.dead")" s "$(mm "w$_n.dead")" "(--worker-timeout 5s)" ""
    done
fi
if selected idle; then
    _t="" _s=""
    if [ "$IDLE_N" = 10000 ]; then _t="<= 3% of a core (issue 17)"; _s=$(check "$(med idle.master)" "<=" 3); fi
    sline "idle: master CPU, $IDLE_N heartbeating workers" "$(med idle.master)" "%core" "$(mm idle.master)" "$_t" "$_s"
fi
if selected memory; then
    _b=$(med mem.bpt) _rs=$(med mem.restart)
    sline "memory: bytes per queued task" "$_b" bytes "$(mm mem.bpt)" "<= 300 bytes" "$(check "$_b" "<=" 300)"
    sline "memory: bytes per task, after a restart" "$(med mem.bpt_restart)" bytes "$(mm mem.bpt_restart)" "" ""
    sline "memory: restart with $MEM_N tasks" "$_rs" s "$(mm mem.restart)" "<= 3 s (with 1M tasks)" "$(check "$_rs" "<=" 3)"
    _b=$(med memdag.bpt) _rs=$(med memdag.restart)
    sline "memory: bytes per task of a DAG" "$_b" bytes "$(mm memdag.bpt)" "<= 416 bytes (400 + 16/edge)" "$(check "$_b" "<=" 416)"
    sline "memory: restart with a $MEM_N-task DAG" "$_rs" s "$(mm memdag.restart)" "<= 3 s (with 1M tasks)" "$(check "$_rs" "<=" 3)"
fi
if selected output; then
    _x=$(ratio_med out.writing out.alone)
    sline "output: noops alone" "$(med out.alone)" tasks/s "$(mm out.alone)" "" ""
    sline "output: noops while a task writes" "$(med out.writing)" tasks/s "$(mm out.writing)" "" ""
    sline "output: with writer / alone" "$_x" x "$(ratio_mm out.writing out.alone)" ">= 0.9x (<= 10% slower)" "$(check "$_x" ">=" 0.9)"
    sline "output: streamed meanwhile" "$(med out.mbs)" MB/s "$(mm out.mbs)" "~100 MB/s" ""
fi
if selected http; then
    _x=$(ratio_med http.sched10 http.sched0)
    sline "http: GET /api/v1/status (4 connections)" "$(med http.status)" req/s "$(mm http.status)" "" ""
    sline "http: GET /metrics at $MEM_N tasks, p50" "$(med http.scrape)" ms "$(mm http.scrape)" "< 10 ms (1M tasks)" "$(check "$(med http.scrape)" "<=" 10)"
    sline "http: GET /metrics, $MEM_N tasks + $(echo $WORKERS_LIST | awk '{ print $NF }') workers, p50" "$(med http.scrape_w)" ms "$(mm http.scrape_w)" "< 10 ms (1M, 10k workers)" "$(check "$(med http.scrape_w)" "<=" 10)"
    sline "http: noops, 10 dashboards / none" "$_x" x "$(ratio_mm http.sched10 http.sched0)" ">= 0.95" "$(check "$_x" ">=" 0.95)"
fi
if selected python; then
    _m=$(med py.map)
    sline "python: submit_many, exec specs" "$(med py.submit)" specs/s "$(mm py.submit)" "" ""
    sline "python: Executor.map, trivial function" "$_m" items/s "$(mm py.map)" ">= 10000 items/s" "$(check "$_m" ">=" 10000)"
fi
echo "bench: done in $(secs "$T_START" "$(now_ns)") s"
