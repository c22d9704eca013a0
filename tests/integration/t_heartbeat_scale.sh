#!/usr/bin/env bash
# Heartbeats scale with the pool (docs/protocol.md, "Heartbeats"): with
# --heartbeat and --worker-timeout left to it, the master tells workers to
# beat every second up to 2,000 of them and less often past that, in its
# hello and in its answers to pings, and faster again when the pool shrinks.
# pool.py speaks the protocol for 2,600 workers on as many connections:
#   1. Once all are registered, a new hello and the answer to a ping name
#      1.5 s, and the master's log says so.
#   2. With 700 of them gone (1,900 left), the answer to a ping names 1 s.
#   3. Nobody was declared dead meanwhile: pool.py beats every second.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=2600
ulimit -n 8192 2>/dev/null || die "cannot raise the open-file limit to 8192 for $N connections"

cat >pool.py <<'EOF'
import json, os, selectors, socket, sys, time
import dtrwire

host, port = sys.argv[1].rsplit(":", 1)
n, gate = int(sys.argv[2]), sys.argv[3]

def connect(ident):
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(dtrwire.enc(dtrwire.hello("worker", ident, slots=1)))
    s.sendall(dtrwire.enc({"type": "held", "attempts": []}))
    return s

def first_line(s, buf=b""):
    while b"\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("the master closed a connection: %r" % buf[:200])
        buf += chunk
    return buf.split(b"\n", 1)

def beat_all():
    for s in socks.values():
        s.sendall(b'{"type":"pong","busy":0}\n')

socks, rest, last_beat = {}, {}, time.time()
for i in range(n):
    s = connect("p%04d" % i)
    line, rest[i] = first_line(s)
    socks[i] = s
    if time.time() - last_beat >= 1:  # the first ones beat meanwhile
        beat_all()
        last_beat = time.time()
print("connected %d" % n, flush=True)

def ask(i):
    """A ping on connection i; the master's pong, skipping anything else."""
    socks[i].sendall(b'{"type":"ping"}\n')
    buf = rest[i]
    while True:
        line, buf = first_line(socks[i], buf)
        m = json.loads(line)
        if m.get("type") == "pong":
            rest[i] = buf
            return m

def wait_gate(name):
    """Beats every second until the test creates gate.NAME."""
    while not os.path.exists(gate + "." + name):
        beat_all()
        time.sleep(1)

wait_gate("registered")
beat_all()
print("pong heartbeat_ms=%s" % ask(n - 1).get("heartbeat_ms"), flush=True)
s = connect("late")  # a newcomer's hello
print("late hello_beat=%s" % json.loads(first_line(s)[0]).get("heartbeat_ms"), flush=True)
s.close()
for i in range(700):
    socks.pop(i).close()
print("closed 700", flush=True)
wait_gate("shrunk")
beat_all()
print("pong heartbeat_ms=%s" % ask(n - 1).get("heartbeat_ms"), flush=True)
wait_gate("done")
EOF

MASTER_BEATS="" start_master M
$PY pool.py "$M_ADDR" "$N" "$T/gate" >pool.out 2>pool.err &
PIDS+=("$!")
wait_for "$N workers connected" "grep -q '^connected' pool.out" 60 ||
    die "pool.py: $(tail -3 pool.err)"
wait_for "$N workers registered" "workers_registered $N" 30 || finish
grep -q 'heartbeat now every 1.5s' logs/master.log &&
    pass "the master slowed the heartbeat to 1.5 s for $N workers" ||
    fail "no 'heartbeat now every 1.5s' in master.log: $(grep 'heartbeat now' logs/master.log)"

touch gate.registered
wait_for "the answers to a ping and a new hello" "grep -q '^late' pool.out" 30 ||
    die "pool.py: $(tail -3 pool.err)"
grep -q '^pong heartbeat_ms=1500$' pool.out &&
    pass "a ping's answer names heartbeat_ms 1500" || fail "pool.out: $(cat pool.out)"
grep -q '^late hello_beat=1500$' pool.out &&
    pass "a newcomer's hello names heartbeat_ms 1500" || fail "pool.out: $(cat pool.out)"

wait_for "700 workers gone" "grep -q '^closed' pool.out && workers_at_most $((N - 700))" 30 ||
    finish
grep -q "heartbeat now every 1.0s" logs/master.log &&
    pass "the heartbeat went back to 1 s with $((N - 700)) workers" ||
    fail "master.log: $(grep 'heartbeat now' logs/master.log)"
touch gate.shrunk
wait_for "the answer to a ping" "[ \$(grep -c '^pong' pool.out) -ge 2 ]" 30 ||
    die "pool.py: $(tail -3 pool.err)"
[ "$(grep '^pong' pool.out | tail -1)" = "pong heartbeat_ms=1000" ] &&
    pass "a ping's answer names heartbeat_ms 1000 again" || fail "pool.out: $(cat pool.out)"

grep -q 'declared dead' logs/master.log &&
    fail "a beating worker was declared dead: $(grep -m2 'declared dead' logs/master.log)" ||
    pass "nobody was declared dead"
touch gate.done
finish
