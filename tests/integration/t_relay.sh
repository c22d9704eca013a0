#!/usr/bin/env bash
# Relayed handshakes. An attacker WITHOUT the token binds a port and waits:
#   1. in a master's --discover range: when the scan dials it, it opens a
#      client connection to the same master, sends the scan's nonce as its
#      own, and passes each side's hello and proof to the other, hoping the
#      master authenticates its client connection (then submits a command);
#   1b. the same with a fresh nonce of its own (only the proofs relayed);
#   2. at the address a worker's --master names (no master there yet): when
#      the worker dials it, it dials the worker's own listener as a "master"
#      with the worker's nonce and relays the proofs, hoping the worker takes
#      it as its master (then sends a run);
#   3. in a master's --discover range again, relaying the scan, byte for byte,
#      to a real worker outside the range that has no master, then injecting
#      a run into that connection.
# The attacker speaks whatever protocol version the node it meets speaks, so
# this test fails against a dtr whose proofs do not bind the handshake. Every
# attempt must fail, nothing may run, and each node logs the refusal.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

printf 'only the cluster knows this\n' >token
chmod 600 token

cat >relay.py <<'EOF'
"""relay.py MODE TARGET MARKER: one relay attack on a free port of its own
(printed first: "listening PORT"); then prints a JSON verdict: whether the
attacker got a session, and what it saw."""
import hashlib, hmac, json, os, socket, sys, time
import dtrwire
from dtrwire import Peer, enc

mode, target, marker = sys.argv[1], sys.argv[2], sys.argv[3]
seen = []
if target.startswith("@"):  # a file that will hold the address (master.addr)
    target_file = target[1:]

def note(where, line):
    seen.append("%s: %s" % (where, (line or b"<none>")[:160].decode("utf-8", "replace")))

def recv(p, where, timeout=8):
    l = p.raw_line(timeout)
    note(where, l)
    return l, (json.loads(l) if l else {})

def run_line():
    return enc({"type": "run", "tasks": [{"lease": 4242, "attempt": 1, "spec": {
        "id": "relayed", "kind": "exec", "cmd": "touch " + marker, "priority": 2,
        "max_retries": 0}}]})

def finish(session):
    print(json.dumps({"session": session, "seen": seen}))
    sys.exit(0)

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
port = ls.getsockname()[1]
ls.listen(4)
ls.settimeout(30)
print("listening %d" % port, flush=True)
victim_dialer = Peer(sock=ls.accept()[0])  # the node that dialed us
hd_raw, hd = recv(victim_dialer, "dialer hello")
v = hd.get("proto")
if target.startswith("@"):  # master.addr, or a node's "listening on" line
    end = time.time() + 10
    while time.time() < end:
        text = open(target_file).read() if os.path.exists(target_file) else ""
        if text.strip():
            break
        time.sleep(0.05)
    target = text.split()[-1]
other = Peer(target)  # a connection of our own to the target's listener

if mode == "scan-transparent":
    # Byte-for-byte in both directions; after the dialer's proof, inject.
    other.send(hd_raw + b"\n")
    for _ in range(2 if v == 2 else 1):  # hello (+ auth in version 2)
        l, _m = recv(other, "target")
        if l is None:
            finish(False)
        victim_dialer.send(l + b"\n")
    l, m = recv(victim_dialer, "dialer proof")
    if m.get("type") != "auth":
        finish(False)
    other.send(l + b"\n")
    other.send(run_line())
    time.sleep(1)
    l, m = recv(other, "target after run", 3)
    finish(m.get("type") != "error" and other.how is None)

# Modes scan-nonce, scan-fresh, worker-nonce: we dial the target as role
# `as_role` with the dialer's nonce (or a fresh one), and pass the target's
# hello and proof back to the dialer as if they were ours.
as_role = "client" if mode.startswith("scan") else "master"
back_role = "worker" if mode.startswith("scan") else "master"
nonce = dtrwire.nonce() if mode == "scan-fresh" else hd["nonce"]
if v == 1:  # proofs over the side and the two nonces only
    other.send({"type": "hello", "proto": 1, "role": as_role, "id": "relay", "nonce": nonce})
    l, ha = recv(other, "target hello")
    if ha.get("type") != "hello":
        finish(False)
    fake = dict(ha, role=back_role, id="relay-back")
    if back_role == "worker":
        fake.update(slots=1, addr="127.0.0.1:%d" % port, running=[])
    victim_dialer.send(fake)
else:
    other.send(dtrwire.hello(as_role, "relay", token=True, nonce=nonce))
    l, ha = recv(other, "target hello")
    la, pa = recv(other, "target proof")
    if ha.get("type") != "hello" or pa.get("type") != "auth":
        finish(False)
    extra = {"slots": 1, "addr": "127.0.0.1:%d" % port} if back_role == "worker" else {}
    # scan-fresh: no nonce of the master's in sight, so only the proofs'
    # binding to the hellos can stop it.
    back_nonce = dtrwire.nonce() if mode == "scan-fresh" else ha["nonce"]
    fake = dtrwire.hello(back_role, "relay-back", token=True, nonce=back_nonce, **extra)
    victim_dialer.send(fake)
    victim_dialer.send(pa)
l, pd = recv(victim_dialer, "dialer proof")
if pd.get("type") != "auth":
    finish(False)
other.send(l + b"\n")
if as_role == "client":
    other.send({"type": "submit", "tasks": [{"id": "relayed", "cmd": "touch " + marker}]})
    l, m = recv(other, "target reply")
    finish(m.get("type") == "submitted")
other.send(run_line())
time.sleep(1)
l, m = recv(other, "target after run", 3)
finish(m.get("type") != "error" and other.how is None)
EOF

# attack NAME MODE TARGET: starts relay.py on a free port, sets PORT to it;
# the caller then starts the node that will dial it; attack_verdict NAME
# reads the result.
attack() {
    local name=$1
    "$PY" relay.py "$2" "$3" "$T/ran-$name" >"relay-$name.out" 2>"relay-$name.err" &
    PIDS+=($!)
    eval "RELAY_$name=$!"
    wait_for "relay $name to listen" "grep -q '^listening' relay-$name.out" 10 || finish
    PORT=$(sed -n 's/^listening //p' "relay-$name.out")
}
attack_verdict() {
    local name=$1 pid
    eval "pid=\$RELAY_$name"
    wait_for "relay $name to finish" "is_dead $pid" 40 || return 1
    if grep -q '"session": false' "relay-$name.out" && [ ! -e "$T/ran-$name" ]; then
        pass "relay $name: no session, nothing ran"
    else
        fail "relay $name got through: $(tail -c 1500 "relay-$name.out") $(cat "relay-$name.err")"
    fi
}

export DTR_TOKEN=""
# 1 and 1b: the master's own scan dials the attacker, who turns to the same
# master as a client.
for name in scan_nonce scan_fresh; do
    attack "$name" "scan-${name#scan_}" "@$T/state-$name/master.addr"
    start_master "$name" --token-file token --discover "127.0.0.1:$PORT-$PORT" \
        --scan-interval 200ms
    attack_verdict "$name"
    grep -q "refused a relayed handshake\|peer proved a different token" "$T/logs/master.log" &&
        pass "master logged the refusal ($name): $(grep -m1 'refused a relayed\|peer proved a different' "$T/logs/master.log" | cut -d' ' -f3-)" ||
        fail "no refusal in the master's log ($name)"
    eval "addr=\$${name}_ADDR pid=\$${name}_PID"
    [ "$(dtr tasks --master "$addr" --token-file token | grep -c relayed)" = 0 ] &&
        pass "no relayed task in the master ($name)" || fail "a relayed task was stored ($name)"
    kill -TERM "$pid"
    wait_for "master $name to stop" "is_dead $pid" 10
    rm -f "$T/logs/master.log"
done

# 2. A worker dials the attacker, who was first at the master's address.
attack worker_nonce worker-nonce "@$T/W1.out"
"$DTR" worker --id W1 --port-range "$WLO-$((WLO + 20))" --log-dir "$T/logs" --verbose \
    --token-file token --master "127.0.0.1:$PORT" >"$T/W1.out" 2>"$T/W1.err" &
PIDS+=($!)
W1_PID=$!
W1_ADDR=$(read_listen W1) || die "worker W1 did not start: $(cat W1.err)"
attack_verdict worker_nonce
wait_for "W1 to log the refusal" "grep -q 'refused a relayed handshake' '$T/logs/worker-W1.log'" 10 &&
    pass "W1 logged: $(grep -m1 'refused a relayed' "$T/logs/worker-W1.log" | cut -d' ' -f3-)"
kill -0 "$W1_PID" && ! grep -q "master connected master=relay" "$T/logs/worker-W1.log" &&
    pass "W1 has no master from the relay" || fail "W1 took the relay as its master"

# 3. The master's scan, relayed byte for byte to a worker outside the range.
start_worker W2 --token-file token --master-timeout 0
attack scan_transparent scan-transparent "$W2_ADDR"
start_master M3 --token-file token --discover "127.0.0.1:$PORT-$PORT" --scan-interval 200ms
attack_verdict scan_transparent
grep -q "refused a relayed handshake" "$T/logs/master.log" &&
    pass "master logged: $(grep -m1 'refused a relayed' "$T/logs/master.log" | cut -d' ' -f3-)" ||
    fail "no relayed-handshake line in the master's log"
! grep -q "master connected" "$T/logs/worker-W2.log" &&
    pass "W2 never got a master through the relay" || fail "W2 took a relayed master"

# The cluster still works with the token.
kill -TERM "$W2_PID"
start_worker W3 --token-file token --master "$M3_ADDR"
id=$(dtr submit --master "$M3_ADDR" --token-file token -- echo fine) &&
    dtr wait --master "$M3_ADDR" --token-file token "$id" >/dev/null 2>&1 &&
    [ "$(dtr result --master "$M3_ADDR" --token-file token "$id")" = fine ] &&
    pass "tasks still run with the token" || fail "a task after the attacks: $(dtr tasks --master "$M3_ADDR" --token-file token)"
finish
