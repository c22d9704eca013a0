#!/usr/bin/env bash
# A master group of three with TLS (--tls-ca/--tls-cert/--tls-key) and a
# token: replication runs inside TLS. Tasks run; the leader is killed with
# SIGKILL, another leads and the tasks go on to the end. A capture of the
# loopback interface shows that the replication ports carry TLS records and
# never the tasks' distinctive command string. The killed member comes back
# with a certificate from another CA: the group refuses it (log lines on
# both sides) and it does not catch up; nor does it without TLS flags.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=300
MARK="plaintext-marker-$$-zq"

command -v openssl >/dev/null || die "the openssl command is needed (Debian package openssl)"
export DTR_TOKEN=group-tls-secret
# Ports below the ephemeral range and below the other group tests' blocks
# (see t_group_failover.sh for why): 3 replication, 3 client.
# A block none of whose ports is taken (some host services listen here).
ports_free() { # FIRST COUNT
    "$PY" -c '
import socket, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
for p in range(first, first + n):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()' "$1" "$2"
}
slot=$(($$ % 600))
for _ in 1 2 3 4 5 6 7 8 9 10; do
    RPORT=$((2000 + slot * 6))
    ports_free "$RPORT" 6 && break
    slot=$(((slot + 1) % 600))
done
group_at "$RPORT"

make_ca ca && make_cert ca m1 && make_cert ca m2 && make_cert ca m3 && make_cert ca worker &&
    make_cert ca client && make_ca otherca && make_cert otherca rogue ||
    die "openssl could not make the certificates: $(tail -n 5 "$T/openssl.log")"
CLIENT=$(tls_flags ca client)
dtr() {
    local cmd=$1
    shift
    # shellcheck disable=SC2086 # CLIENT holds several flags; $T has no spaces
    "$DTR" "$cmd" $CLIENT "$@"
}

# A capture of every TCP segment on lo to or from a replication port: the
# payload bytes, and the first payload byte of each direction of each
# connection (a TLS handshake record starts with 0x16). Needs CAP_NET_RAW.
cat >capture.py <<'PYEOF'
import socket, struct, sys
ports = set(int(p) for p in sys.argv[1].split(","))
out = open(sys.argv[2], "wb")
first = open(sys.argv[3], "w")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
# A loaded machine (the suite runs two tests at once) can leave this
# reader behind a burst: with the default buffer the kernel then drops
# segments, a handshake's first among them, and a stream seems to start
# mid-way. SO_RCVBUFFORCE passes rmem_max (we have CAP_NET_ADMIN here).
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
except OSError:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.bind(("lo", 0))
open(sys.argv[4], "w").close()  # ready
seen = set()
while True:
    pkt, addr = s.recvfrom(262144)
    if addr[2] == socket.PACKET_OUTGOING:  # lo shows each segment twice
        continue
    if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
        continue
    ihl = (pkt[14] & 15) * 4
    tcp = 14 + ihl
    sport, dport = struct.unpack("!HH", pkt[tcp:tcp + 4])
    if sport not in ports and dport not in ports:
        continue
    total = struct.unpack("!H", pkt[16:18])[0]
    data = pkt[tcp + (pkt[tcp + 12] >> 4) * 4:14 + total]
    if not data:
        continue
    out.write(data)
    out.flush()
    if (sport, dport) not in seen:
        seen.add((sport, dport))
        first.write("%d>%d %02x\n" % (sport, dport, data[0]))
        first.flush()
PYEOF
CAPTURE=no
if "$PY" -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)' 2>/dev/null; then
    "$PY" capture.py "$RPORT,$((RPORT + 1)),$((RPORT + 2))" capture.bin first.txt capture.ready \
        2>capture.err &
    PIDS+=("$!")
    wait_for "the capture on lo" "[ -e capture.ready ]" 10 && CAPTURE=yes
else
    echo "NOTE: no CAP_NET_RAW: the replication traffic is not captured"
fi

# tls_member I NAME [CA]: member I with NAME's certificate (none: no TLS).
tls_member() {
    local i=$1 tls=""
    [ "$2" = none ] || tls=$(tls_flags "${3:-ca}" "$2")
    # shellcheck disable=SC2086 # tls is a list of flags
    start_member "$i" $tls
}
use_leader() {
    L=$(leader)
}

for i in 1 2 3; do tls_member "$i" "m$i"; done
wait_for "a leader elected" "leader" 30 || finish
use_leader
pass "member $L leads the TLS group"
# shellcheck disable=SC2046 # the flags
start_worker W1 --slots 4 --master "$LIST" $(tls_flags ca worker)
# shellcheck disable=SC2046
start_worker W2 --slots 4 --master "$LIST" $(tls_flags ca worker)
wait_for "two workers registered" "workers_registered 2" 30 || finish

: >done.txt
dtr submit --id job --array "1-$N" --retries 0 -- \
    sh -c "echo \$DTR_TASK_ID >> '$T/done.txt'; echo $MARK-\$DTR_TASK_ID" >ids.txt ||
    die "submit failed"
wait_for "some tasks done" "[ \$(count_state succeeded) -ge 50 ]" 60 || finish
OLD=$L
kill -9 "$(eval echo "\$M${OLD}_PID")"
wait "$(eval echo "\$M${OLD}_PID")" 2>/dev/null
pass "leader $OLD killed with SIGKILL mid-run ($(wc -l <done.txt) of $N tasks had run)"
wait_for "another member leads" "use_leader" 30 || finish
[ "$L" != "$OLD" ] && pass "member $L leads now" || fail "member $OLD still leads?"
dtr wait --all --timeout 120s >wait.out 2>&1 && pass "dtr wait --all: every task succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
[ "$(count_state succeeded)" = "$N" ] && pass "the new leader reports $N succeeded" ||
    fail "status: $(dtr status --json)"
[ "$(dtr result job-1)" = "$MARK-job-1" ] && pass "job-1's output kept across the failover" ||
    fail "job-1: $(dtr result job-1 2>&1)"
for i in 1 2 3; do
    grep -q "refused a replication connection" "logs-$i/master.log" &&
        fail "member $i refused a member: $(grep "refused a replication" "logs-$i/master.log" | head -n 2)"
done

if [ "$CAPTURE" = yes ]; then
    bytes=$(stat -c %s capture.bin)
    [ "$bytes" -gt 20000 ] && pass "captured $bytes bytes of replication traffic" ||
        fail "captured only $bytes bytes on the replication ports: $(cat capture.err)"
    grep -q -a -F -- "$MARK" capture.bin &&
        fail "the task's command string travels in plaintext on a replication port" ||
        pass "the task's command string never appears on a replication port"
    grep -q -a -F -- "$DTR_TOKEN" capture.bin && fail "the token travels in plaintext"
    # Each direction of each connection starts with a TLS record (0x16).
    if [ -s first.txt ] && ! grep -v " 16$" first.txt >/dev/null; then
        pass "all $(wc -l <first.txt) replication streams start with a TLS handshake record"
    else
        fail "streams that do not start with TLS: $(grep -v " 16$" first.txt | head -n 5)"
    fi
fi

# The killed member comes back with a certificate from another CA.
tls_member "$OLD" rogue otherca
wait_for "the leader refuses the rogue member's certificate" \
    "grep -q 'refused a replication connection.*TLS handshake failed: the peer.s certificate was refused' logs-$L/master.log" 30 &&
    pass "leader: $(grep -o 'refused a replication connection.*the peer.s certificate was refused.*' "logs-$L/master.log" | head -n 1)"
wait_for "the rogue member's side fails too" \
    "grep -q 'TLS handshake failed.*certificate' logs-$OLD/master.log" 30 &&
    pass "rogue: $(grep -o 'refused a replication connection.*TLS handshake failed.*certificate.*' "logs-$OLD/master.log" | head -n 1)"
dtr submit --wait -- echo after-rogue >after.out 2>after.err &&
    pass "the group goes on committing beside the rogue member" ||
    fail "submit --wait: $(cat after.err)"
lag_of() { # ID: the leader's lag for member ID
    dtr status --json | $PY -c "import json,sys; g=json.load(sys.stdin)['group']; print([m.get('lag') for m in g['members'] if m['id']==$1][0])"
}
lag=$(lag_of "$OLD")
[ -n "$lag" ] && [ "$lag" != 0 ] && [ "$lag" != None ] &&
    pass "the rogue member did not catch up (lag $lag)" || fail "member $OLD lag '$lag'"
kill -9 "$(eval echo "\$M${OLD}_PID")"
wait "$(eval echo "\$M${OLD}_PID")" 2>/dev/null

# And without TLS: a plaintext member and the TLS members refuse each other.
: >"logs-$OLD/master.log"
tls_member "$OLD" none
wait_for "the plaintext member refuses the TLS ones" \
    "grep -q 'the peer speaks TLS but this member runs without --tls-ca' logs-$OLD/master.log" 30 &&
    pass "plaintext member: $(grep -o 'refused a replication connection.*' "logs-$OLD/master.log" | head -n 1)"
wait_for "the TLS leader refuses the plaintext member" \
    "grep -q 'does not speak TLS' logs-$L/master.log" 30 &&
    pass "leader: $(grep -o 'refused a replication connection.*does not speak TLS.*' "logs-$L/master.log" | head -n 1)"
dtr submit --wait -- echo after-plain >after2.out 2>after2.err &&
    pass "the group goes on committing beside the plaintext member" ||
    fail "submit --wait: $(cat after2.err)"
lag=$(lag_of "$OLD")
[ -n "$lag" ] && [ "$lag" != 0 ] && [ "$lag" != None ] &&
    pass "the plaintext member did not catch up (lag $lag)" || fail "member $OLD lag '$lag'"
# A clean stop closes the pumps with raft (under ASan: no leak, no error).
for i in 1 2 3; do
    pid=$(eval echo "\$M${i}_PID")
    is_dead "$pid" && continue
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 0 ] && pass "member $i stopped on SIGTERM" || fail "member $i exited $rc on SIGTERM"
done
finish
