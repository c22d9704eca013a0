# SPDX-License-Identifier: MIT
# Shared helpers for the integration tests: one temp dir per test, real
# build/dtr processes on loopback, every PID recorded and killed on exit
# (even on failure), bounded polling instead of sleeps, and a check that no
# process printed a sanitizer report.
#
# Usage in a test script:
#   . "$(dirname "$0")/lib.sh"
#   start_master M --discover 127.0.0.1:$WLO-$WHI     # sets M_ADDR, M_PID
#   start_worker W1 --master "$M_ADDR" --slots 2      # sets W1_ADDR, W1_PID
#   dtr submit ... ; wait_for "description" 'shell condition' [timeout_s]
#   pass "what was checked"   /   fail "what went wrong"
#   finish                                             # prints "N passed, M failed"

set -u
# Files the tests write are private: dtr refuses a token file that others
# may read (ssh-style), and every test writes its tokens with plain printf.
umask 077
DTR=${DTR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/dtr}
# Hand-made peers in Python speak the protocol through dtrwire.py, beside this file.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/dtr-$TEST_NAME.XXXXXX")
PIDS=()
PASSED=0
FAILED=0
cd "$T" || exit 1

# A private port block per test so parallel tests never meet: one of 200
# blocks of 200 ports in 20000-59999, the first free one from the test's PID
# on. A block is claimed by an flock() on its file, held on fd 9 by the test
# and by every process it starts (they inherit the fd), so a block stays
# taken while anything of the test lives. Two tests whose PIDs matched
# modulo 200 once shared a block: a worker of one, redialing its killed
# master, joined the other's master on the same port.
PORT_DIR=${TMPDIR:-/tmp}/dtr-test-ports
mkdir -p "$PORT_DIR"
for ((_pb = 0; _pb < 200; _pb++)); do
    PORT_BASE=$((20000 + (($$ + _pb) % 200) * 200))
    exec 9>"$PORT_DIR/$PORT_BASE"
    flock -n 9 && break
    exec 9>&-
done
[ "$_pb" -lt 200 ] || PORT_BASE=$((20000 + ($$ % 200) * 200)) # all taken: share
MPORT=$PORT_BASE                  # masters try MPORT..MPORT+99
WLO=$((PORT_BASE + 100))          # workers bind in WLO..WHI
WHI=$((PORT_BASE + 199))
export DTR_MASTER=""              # tests always say which master
export DTR_CONFIG=""              # no config file (/etc/dtr/dtr.conf, ~/.config) unless a test gives one

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.err \
        >/dev/null 2>&1; then
        echo "FAIL: sanitizer report in:" $(grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.err)
        grep -h -A30 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T"/*.err | head -80
        rc=1
    fi
    # 77: the test skipped itself (ctest's SKIP_RETURN_CODE); nothing to look at.
    if { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; } && [ -z "${KEEP:-}" ]; then
        rm -rf "$T"
    else
        echo "(test files kept in $T)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $*"
    for f in "$T"/logs/*.log; do [ -f "$f" ] && { echo "--- tail $f"; tail -n 15 "$f"; }; done
}
# Ends the test: the closing line CI reads, and the exit status.
finish() {
    echo "$TEST_NAME: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}
# ---- TLS: a CA and certificates made with openssl (the README's recipe) ----
# make_ca NAME: a CA's key and self-signed certificate, $T/NAME.key and .pem.
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=$1" -keyout "$T/$1.key" -out "$T/$1.pem" 2>>"$T/openssl.log"
}
# make_cert CA NAME: a key and a certificate for NAME signed by CA.
make_cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$T/$2.key" -out "$T/$2.csr" 2>>"$T/openssl.log" &&
        openssl x509 -req -in "$T/$2.csr" -CA "$T/$1.pem" -CAkey "$T/$1.key" -CAcreateserial \
            -days 30 -out "$T/$2.pem" 2>>"$T/openssl.log"
}
# tls_flags CA NAME: the --tls-* flags for NAME's certificate under CA.
tls_flags() { echo "--tls-ca=$T/$1.pem --tls-cert=$T/$2.pem --tls-key=$T/$2.key"; }

# ---- a master group of 3 on loopback (the t_group_* tests) ----------------
# group_at RPORT: members 1-3 replicate on RPORT..RPORT+2 and serve clients
# on RPORT+3..RPORT+5 (a test picks RPORT below the kernel's ephemeral range,
# in a window of its own: see t_group_failover.sh); sets CPORT, GROUP, LIST
# and DTR_MASTER (every member: followers send clients on).
group_at() {
    RPORT=$1
    CPORT=$((RPORT + 2))
    GROUP="1@127.0.0.1:$RPORT,2@127.0.0.1:$((RPORT + 1)),3@127.0.0.1:$((RPORT + 2))"
    LIST="127.0.0.1:$((CPORT + 1)),127.0.0.1:$((CPORT + 2)),127.0.0.1:$((CPORT + 3))"
    export DTR_MASTER=$LIST
}
# start_member I [FLAGS...]: member I of the group, its own state dir, logs
# (logs-I, mI.out, mI.err) and client port; its PID in MI_PID.
start_member() {
    local i=$1
    shift
    # shellcheck disable=SC2086 # MASTER_BEATS is a list of flags
    "$DTR" master --group "$GROUP" --group-id "$i" --port $((CPORT + i)) --http off \
        --state-dir "$T/state-$i" --log-dir "$T/logs-$i" $MASTER_BEATS --verbose "$@" \
        >>"$T/m$i.out" 2>>"$T/m$i.err" &
    eval "M${i}_PID=$!"
    PIDS+=("$!")
}
pid_of() { eval echo "\$M${1}_PID"; }
# leader: the member whose master.addr is written and whose process lives.
leader() {
    local i pid
    for i in 1 2 3; do
        pid=$(eval echo "\${M${i}_PID:-}")
        [ -n "$pid" ] && [ -s "$T/state-$i/master.addr" ] && ! is_dead "$pid" && { echo "$i"; return 0; }
    done
    return 1
}

# Stops the test at once (a precondition failed).
die() { fail "$*"; finish; }
# Ends a test that cannot run here, saying why.
skip_test() {
    echo "skipped: $*"
    finish
}

# small_tmpfs SIZE: a tmpfs of SIZE at $T/small in a private mount namespace
# (unshare -m as root, unshare -rm as a user with user namespaces), kept
# alive by a sleeping holder; sets NS to the nsenter prefix that runs a
# command inside it. Skips the test (77) when neither is permitted.
small_tmpfs() {
    local size=$1 unshare flags
    command -v unshare >/dev/null && command -v nsenter >/dev/null ||
        skip_test "unshare and nsenter (util-linux) are needed"
    if [ "$(id -u)" -eq 0 ]; then
        unshare=(unshare -m --propagation private)
        flags=(-m)
    else
        unshare=(unshare -r -m --propagation private)
        flags=(-U -m --preserve-credentials)
    fi
    mkdir "$T/small"
    "${unshare[@]}" sh -c 'mount -t tmpfs -o "size=$3,mode=700" tmpfs "$1" && : >"$2" && exec sleep 600' \
        sh "$T/small" "$T/mounted" "$size" >"$T/holder.out" 2>"$T/holder.err" &
    local holder=$!
    PIDS+=("$holder")
    while [ ! -e "$T/mounted" ]; do
        is_dead "$holder" && skip_test "cannot mount a tmpfs in a private namespace: $(cat "$T/holder.err")"
        sleep 0.05
    done
    NS=(nsenter -t "$holder" "${flags[@]}" --)
    "${NS[@]}" grep -q " $T/small tmpfs " /proc/self/mounts ||
        skip_test "cannot enter the namespace with ${NS[*]}"
}

# Under ASan+UBSan (the build sets DTR_TEST_SANITIZE) on a loaded 2-core CI
# machine everything runs several times slower: wait_for gives three times
# as long there (DTR_WAIT_SCALE overrides). A wait that succeeds returns at
# once, so only a failing run pays for it.
if [ -n "${DTR_TEST_SANITIZE:-}" ]; then WAIT_SCALE=${DTR_WAIT_SCALE:-3}; else WAIT_SCALE=${DTR_WAIT_SCALE:-1}; fi

# wait_for DESCRIPTION CONDITION [TIMEOUT_SECONDS=20]: polls CONDITION (a shell
# command string) every 50ms until it succeeds; fails the test on timeout
# (TIMEOUT_SECONDS times WAIT_SCALE).
wait_for() {
    local what=$1 cond=$2 limit=$((${3:-20} * WAIT_SCALE))
    local deadline=$((SECONDS + limit))
    while ! eval "$cond" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "timed out after ${limit}s waiting for: $what"
            return 1
        fi
        sleep 0.05
    done
    return 0
}

# dtr ARGS...: the client, against the test's master unless --master is given.
dtr() { "$DTR" "$@"; }

# read_listen NAME: waits for NAME.out to hold the "listening on" line and
# prints the address.
read_listen() {
    local name=$1
    wait_for "$name to listen" "grep -q ' listening on ' '$T/$name.out'" 15 || return 1
    sed -n 's/.* listening on \([^ ]*\)$/\1/p' "$T/$name.out" | head -n 1
}

# start_master NAME [FLAGS...]: sets NAME_ADDR and NAME_PID. Fast
# heartbeats unless MASTER_BEATS says otherwise ("" for the master's own).
MASTER_BEATS=${MASTER_BEATS-"--heartbeat 200ms --worker-timeout 3s"}
start_master() {
    local name=$1
    shift
    # Emptied here, not by the redirect below: that runs in the child, maybe
    # after read_listen has read a restarted master's old line.
    : >"$T/$name.out"
    # shellcheck disable=SC2086 # MASTER_BEATS is a list of flags
    "$DTR" master --port "$MPORT" --http 127.0.0.1:0 --state-dir "$T/state-$name" --log-dir "$T/logs" \
        $MASTER_BEATS --scan-interval 500ms --verbose "$@" \
        >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local addr
    addr=$(read_listen "$name") || die "master $name did not start: $(cat "$T/$name.err")"
    eval "${name}_PID=$pid ${name}_ADDR=$addr"
    export DTR_MASTER=$addr
}

# start_worker NAME [FLAGS...]: the worker's id is NAME; sets NAME_ADDR, NAME_PID.
start_worker() {
    local name=$1
    shift
    : >"$T/$name.out" # as in start_master
    "$DTR" worker --id "$name" --port-range "$WLO-$WHI" --log-dir "$T/logs" --verbose "$@" \
        >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local addr
    addr=$(read_listen "$name") || die "worker $name did not start: $(cat "$T/$name.err")"
    eval "${name}_PID=$pid ${name}_ADDR=$addr"
}

# workers_registered N: true when the master lists at least N workers.
workers_registered() {
    [ "$(dtr status --json | grep -o '"id":' | wc -l)" -ge "$1" ]
}
# workers_at_most N: true when the master lists at most N workers.
workers_at_most() {
    [ "$(dtr status --json | grep -o '"id":' | wc -l)" -le "$1" ]
}

# count_state STATE: how many tasks the master reports in STATE.
count_state() {
    dtr status --json | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# is_dead PID: true once the process is gone (or a zombie).
is_dead() {
    ! kill -0 "$1" 2>/dev/null && return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
