#!/usr/bin/env bash
# TLS on every connection (--tls-ca/--tls-cert/--tls-key): a master, a
# dial-in worker, a scanned worker and the client commands work end to end;
# a client whose certificate comes from another CA, a client that trusts
# another CA, a plaintext client and a plaintext worker are refused (the
# master logs the peer); TLS with a token still needs the token; a silent
# peer still meets the handshake deadline; without TLS flags all is as before.
# Masters scan only the ports of the workers meant to be scanned, so a scan
# never races a dial-in of the same worker.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

command -v openssl >/dev/null || die "the openssl command is needed (Debian package openssl)"

# The README's recipe: a CA, then a key and a CA-signed certificate per node.
make_ca ca && make_cert ca master && make_cert ca worker && make_cert ca client &&
    make_ca otherca && make_cert otherca rogue ||
    die "openssl could not make the certificates: $(tail -n 5 "$T/openssl.log")"

MTLS=$(tls_flags ca master)
WTLS=$(tls_flags ca worker)
CTLS=$(tls_flags ca client)
# The lib's helpers call dtr; give every client command the flags in CLIENT.
CLIENT=$CTLS
dtr() {
    local cmd=$1
    shift
    # shellcheck disable=SC2086 # CLIENT holds several flags; $T has no spaces
    "$DTR" "$cmd" $CLIENT "$@"
}

# ---- flag and file errors ---------------------------------------------------
"$DTR" master --tls-ca "$T/ca.pem" >usage.out 2>usage.err
rc=$?
[ "$rc" -eq 2 ] && grep -q -- '--tls-cert' usage.err &&
    pass "master with --tls-ca alone: exit 2: $(cat usage.err)" ||
    fail "master with --tls-ca alone: exit $rc: $(cat usage.err)"
"$DTR" status --master 127.0.0.1:1 --tls-ca "$T/ca.pem" --tls-cert "$T/nope.pem" \
    --tls-key "$T/client.key" >nofile.out 2>nofile.err
rc=$?
[ "$rc" -eq 2 ] && grep -q "nope.pem" nofile.err &&
    pass "client with a missing certificate file: exit 2: $(cat nofile.err)" ||
    fail "client with a missing certificate file: exit $rc: $(cat nofile.err)"
# shellcheck disable=SC2086
"$DTR" worker --id bad --port-range "$WLO-$WHI" --log-dir "$T/logs" --tls-ca "$T/ca.pem" \
    --tls-cert "$T/worker.pem" --tls-key "$T/client.key" >badkey.out 2>badkey.err
rc=$?
[ "$rc" -ne 0 ] && grep -q "is not the key of" badkey.err &&
    pass "worker whose key does not match its certificate: exit $rc: $(cat badkey.err)" ||
    fail "worker with a mismatched key: exit $rc: $(cat badkey.err)"

# ---- TLS end to end ---------------------------------------------------------
# shellcheck disable=SC2086
start_worker W2 $WTLS --slots 2
# The high end of the range is kept for a plaintext worker that M scans later.
SCAN_LO=$((WHI - 9))
# shellcheck disable=SC2086
start_master M $MTLS --discover "127.0.0.1:${W2_ADDR##*:}-${W2_ADDR##*:}" \
    --discover "127.0.0.1:$SCAN_LO-$WHI"
# shellcheck disable=SC2086
start_worker W1 $WTLS --slots 2 --master "$M_ADDR"
mlog=$T/logs/master.log
grep -q 'listening .* tls=on' "$mlog" && pass "the master says tls=on" ||
    fail "master log: $(head -n 2 "$mlog")"
wait_for "W1 (dial-in) and W2 (scanned) registered over TLS" "workers_registered 2" || finish
pass "workers registered over TLS by dial-in and by scan"

id=$(dtr submit -- echo hello over tls) || fail "submit over TLS failed"
if dtr wait "$id" >/dev/null 2>wait.err && [ "$(dtr result "$id")" = "hello over tls" ]; then
    pass "submit, wait and result over TLS"
else
    fail "task $id over TLS: $(cat wait.err) $(dtr tasks)"
fi
dtr submit --id arr --array 1-8 -- sh -c 'echo {}' >/dev/null && dtr wait --all >/dev/null 2>&1 &&
    [ "$(dtr result arr-8)" = 8 ] && pass "eight tasks over TLS on two workers" ||
    fail "array over TLS: $(dtr tasks)"

# A silent peer (no TLS handshake at all) still meets the handshake deadline:
# started now, checked at the end of this section.
"$PY" - "$M_ADDR" >silent.out 2>silent.err <<'EOF' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=30)
t0 = time.time()
try:
    data = s.recv(100)
except OSError:
    data = b""
print("closed after %.1fs with %d bytes" % (time.time() - t0, len(data)))
EOF
SILENT_PID=$!
PIDS+=("$SILENT_PID")

# ---- refusals -----------------------------------------------------------------
nfail=$(grep -c 'TLS handshake failed peer=127\.0\.0\.1:[0-9]' "$mlog")
CLIENT=$(tls_flags ca rogue) dtr status >rogue.out 2>rogue.err
rc=$?
[ "$rc" -eq 3 ] && grep -q 'refused our certificate' rogue.err &&
    pass "client with a certificate from another CA: exit 3: $(cat rogue.err)" ||
    fail "client with a certificate from another CA: exit $rc: $(cat rogue.err)"
wait_for "the master to log the refused certificate" \
    "grep -q 'TLS handshake failed peer=127\\.0\\.0\\.1:[0-9]* error=\"the peer.s certificate was refused' '$mlog'" 10 &&
    pass "master log: $(grep -m1 "certificate was refused" "$mlog" | cut -d' ' -f3-)"
CLIENT=$(tls_flags otherca rogue) dtr status >rogue2.out 2>rogue2.err
rc=$?
[ "$rc" -eq 3 ] && grep -q "certificate was refused" rogue2.err &&
    pass "client that trusts another CA refuses the master: exit 3: $(cat rogue2.err)" ||
    fail "client that trusts another CA: exit $rc: $(cat rogue2.err)"
CLIENT='' dtr submit --id plain -- touch "$T/plain-ran" >plain.out 2>plain.err
rc=$?
[ "$rc" -eq 3 ] && pass "plaintext client against the TLS master: exit 3: $(cat plain.err)" ||
    fail "plaintext client: exit $rc: $(cat plain.err)"
wait_for "the master to log the plaintext client" \
    "grep -q 'TLS handshake failed peer=127\\.0\\.0\\.1:[0-9]* error=\"the peer does not speak TLS' '$mlog'" 10 &&
    pass "master log: $(grep -m1 "does not speak TLS" "$mlog" | cut -d' ' -f3-)"
[ "$(grep -c 'TLS handshake failed peer=127\.0\.0\.1:[0-9]' "$mlog")" -ge $((nfail + 3)) ] &&
    pass "each refused client was logged with its address" ||
    fail "TLS failures in the master log: $(grep 'TLS handshake failed' "$mlog")"
dtr tasks --json | grep -q '"id":"plain"' && fail "the plaintext client submitted a task" ||
    pass "nothing was submitted in plaintext"

# A plaintext worker: its dial-in is refused, and the master's scans of it fail.
start_worker W3 --slots 2 --master "$M_ADDR" --port-range "$SCAN_LO-$WHI"
wait_for "the master to refuse W3's plaintext dial-in (twice)" \
    "[ \$(grep -c 'does not speak TLS' '$mlog') -ge 3 ]" 15 &&
    pass "the master refuses a plaintext worker's dial-in"
wait_for "W3 to notice the master speaks TLS" \
    "grep -q 'peer speaks TLS but this node runs without it' '$T/logs/worker-W3.log'" 15 &&
    pass "W3's log: $(grep -m1 'peer speaks TLS' "$T/logs/worker-W3.log" | cut -d' ' -f3-)"
grep -q 'does it require TLS' "$T/logs/worker-W3.log" &&
    pass "W3's log says why its dial-in failed" ||
    fail "W3's log: $(grep 'cannot reach' "$T/logs/worker-W3.log" | head -n 3)"
dtr status --json | grep -q '"id":"W3"' && fail "plaintext W3 registered" ||
    pass "the plaintext worker never registers"
kill -TERM "$W3_PID"
wait_for "W3 to exit" "is_dead $W3_PID" 15

wait_for "the silent connection to be closed" "grep -q closed silent.out" 20 &&
    grep -q 'with 0 bytes' silent.out &&
    pass "a peer that never starts TLS is dropped at the deadline: $(cat silent.out)" ||
    fail "silent peer: $(cat silent.out silent.err)"
grep -q 'no handshake within' "$mlog" && pass "the master logged the missed handshake deadline" ||
    fail "no deadline line in the master log"
dtr status >/dev/null && workers_registered 2 && ! workers_registered 3 &&
    pass "the master, W1 and W2 still serve TLS clients" || fail "after the refusals: $(dtr status)"

for p in W1 W2 M; do
    pid=$(eval echo "\$${p}_PID")
    kill -TERM "$pid"
    wait_for "$p to exit" "is_dead $pid" 20
done

# ---- TLS and a token ----------------------------------------------------------
printf 'correct horse battery staple\n' >"$T/token"
# shellcheck disable=SC2086
start_worker W5 $WTLS --token-file "$T/token" --slots 2
# shellcheck disable=SC2086
start_master M2 $MTLS --token-file "$T/token" --discover "127.0.0.1:${W5_ADDR##*:}-${W5_ADDR##*:}"
# shellcheck disable=SC2086
start_worker W6 $WTLS --token-file "$T/token" --slots 2 --master "$M2_ADDR"
CLIENT="$CTLS --token-file=$T/token"
wait_for "W5 (scanned) and W6 (dial-in) registered with TLS and a token" "workers_registered 2" ||
    finish
id=$(dtr submit -- echo tls and token) && dtr wait "$id" >/dev/null 2>&1 &&
    [ "$(dtr result "$id")" = "tls and token" ] && pass "TLS + token: a task runs end to end" ||
    fail "TLS + token task: $(dtr tasks)"
CLIENT=$CTLS DTR_TOKEN='' dtr status >notoken.out 2>notoken.err
rc=$?
[ "$rc" -eq 3 ] && grep -qi token notoken.err &&
    pass "TLS client without the token: exit 3: $(cat notoken.err)" ||
    fail "TLS client without the token: exit $rc: $(cat notoken.err)"
CLIENT="--token-file=$T/token" dtr status >notls.out 2>notls.err
rc=$?
[ "$rc" -eq 3 ] && pass "token but no TLS: exit 3: $(cat notls.err)" ||
    fail "token but no TLS: exit $rc: $(cat notls.err)"
for p in W5 W6 M2; do
    pid=$(eval echo "\$${p}_PID")
    kill -TERM "$pid"
    wait_for "$p to exit" "is_dead $pid" 20
done

# ---- TLS off ------------------------------------------------------------------
CLIENT=''
start_worker W8 --slots 2
start_master M3 --discover "127.0.0.1:${W8_ADDR##*:}-${W8_ADDR##*:}"
start_worker W7 --slots 2 --master "$M3_ADDR"
wait_for "W7 and W8 registered without TLS" "workers_registered 2" || finish
grep -q 'listening .* tls=off' "$T/logs/master.log" || fail "no tls=off line in the master log"
id=$(dtr submit -- echo plain again) && dtr wait "$id" >/dev/null 2>&1 &&
    [ "$(dtr result "$id")" = "plain again" ] && pass "without TLS flags everything works as before" ||
    fail "plaintext task: $(dtr tasks)"
CLIENT=$CTLS dtr status >tlsclient.out 2>tlsclient.err
rc=$?
[ "$rc" -eq 3 ] && pass "TLS client against a plaintext master: exit 3: $(cat tlsclient.err)" ||
    fail "TLS client against a plaintext master: exit $rc: $(cat tlsclient.err)"
wait_for "the plaintext master to log the TLS client" \
    "grep -q 'peer speaks TLS but this node runs without it' '$T/logs/master.log'" 10 &&
    pass "the plaintext master logs a TLS peer"
finish
