#!/usr/bin/env bash
# Heartbeats (docs/protocol.md, "Heartbeats"): workers beat on their own at
# the interval the master's hello names, and ask for an answer (a ping) only
# when they have not heard from the master for an eighth of --master-timeout;
# --master-timeout runs from the first unanswered ask.
#   1. On the wire, against a scripted master that names heartbeat_ms 100 and
#      answers pings (naming heartbeat_ms 300 from then on, as a master of a
#      big pool does): the worker sends pongs, a ping once it has heard
#      nothing for 250 ms (--master-timeout 2s), takes up the new heartbeat,
#      and once the master stops answering it exits 3 2 s after its first
#      unanswered ping.
#   2. A real, idle master and a worker with short timeouts on both sides
#      (--worker-timeout 1s, --master-timeout 1s) keep each other for 4 s:
#      nobody is declared dead, nobody reconnects.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

cat >fake_master.py <<'EOF'
import json, os, select, socket, sys, time

port_lo, port_hi, answer_for = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for port in range(port_lo, port_hi + 1):
    try:
        srv.bind(("127.0.0.1", port))
        break
    except OSError:
        continue
srv.listen(1)
print("dtr master listening on 127.0.0.1:%d" % port, flush=True)
srv.settimeout(20)
s, _ = srv.accept()
buf = b""
def lines(deadline):
    global buf
    while time.time() < deadline:
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1)
            yield l
        if not select.select([s], [], [], max(0.0, deadline - time.time()))[0]:
            continue
        chunk = s.recv(65536)
        if not chunk:
            print("eof at %.2f" % (time.time() - t0), flush=True)
            return
        buf += chunk
t0 = time.time()
hello = None
for l in lines(t0 + 10):
    hello = json.loads(l)
    break
assert hello and hello["type"] == "hello" and hello["role"] == "worker", hello
import dtrwire
s.sendall(dtrwire.enc(dtrwire.hello("master", "fake-master", heartbeat_ms=100)))
t0 = time.time()
for l in lines(t0 + answer_for + 10):
    m = json.loads(l)
    now = time.time() - t0
    answered = now < answer_for and m["type"] == "ping"
    print("%s at %.2f%s" % (m["type"], now, " answered" if answered else ""), flush=True)
    if answered:
        s.sendall(b'{"type":"pong","busy":0,"heartbeat_ms":300}\n')
EOF

# --- 1. the wire ---------------------------------------------------------------
$PY fake_master.py "$MPORT" "$((MPORT + 99))" 3 >FM.out 2>FM.err &
FM_PID=$!
PIDS+=("$FM_PID")
FM_ADDR=$(read_listen FM) || die "fake master did not start: $(cat FM.err)"
start_worker W1 --master "$FM_ADDR" --slots 1 --master-timeout 2s
wait_for "the worker to give up on the silent master" "is_dead $W1_PID" 20 || finish
wait "$W1_PID"
rc=$?
[ "$rc" -eq 3 ] && pass "worker exited 3 once the master stopped answering" ||
    fail "worker exited $rc, expected 3"
wait_for "the fake master to see the end" "grep -q '^eof' FM.out" 10 || finish

pongs=$(grep -c '^pong' FM.out)
pings=$(grep -c '^ping' FM.out)
answered=$(grep -c 'answered' FM.out)
eof_at=$(sed -n 's/^eof at //p' FM.out)
# For 3 s the master answers every ping; it says nothing else. The worker
# beats every 100 ms and asks after 250 ms of silence.
[ "$pongs" -ge 5 ] && pass "the worker beat on its own: $pongs pongs" ||
    fail "only $pongs pongs in $(cat FM.out | tr '\n' ' ')"
[ "$answered" -ge 3 ] && pass "it asked for an answer $answered times while the master answered" ||
    fail "only $answered answered pings: $(cat FM.out | tr '\n' ' ')"
# Before asking the worker must have heard nothing for 250 ms.
first_ping=$(awk '/^ping/ {print $3; exit}' FM.out)
awk -v f="$first_ping" 'BEGIN { exit !(f >= 0.2 && f < 3) }' &&
    pass "first ask after ${first_ping}s of silence (an eighth of --master-timeout 2s)" ||
    fail "first ask at ${first_ping}s, expected about 0.25 s"
# The worker gives up 2 s (its --master-timeout) after its first unanswered
# ask, which comes 250 ms or more after the last answer.
last_answer=$(awk '/answered/ {t = $3} END {print t}' FM.out)
awk -v e="$eof_at" -v a="$last_answer" 'BEGIN { exit !(e >= a + 1.9 && e < a + 6) }' &&
    pass "worker gave up at ${eof_at}s, 2 s after the last answer at ${last_answer}s" ||
    fail "worker gave up at ${eof_at}s; the last answer was at ${last_answer}s"
grep -q 'no word from the master' W1.err && pass "worker stderr says why" ||
    fail "worker stderr: $(cat W1.err)"
grep -q 'heartbeat now every 0.3s' logs/worker-W1.log &&
    pass "the worker took up the heartbeat named in the master's pong" ||
    fail "no 'heartbeat now every 0.3s' in the worker's log"

# --- 2. a real idle master ---------------------------------------------------------
# Timeouts of 2 s (ten heartbeats of 200 ms): a loaded machine under ASan can
# stall a process for a second, which is not what this checks.
start_master M --worker-timeout 2s
start_worker W2 --master "$M_ADDR" --slots 1 --master-timeout 2s
wait_for "W2 registered" "workers_registered 1" || finish
# A window of four times both timeouts, with nothing else happening.
sleep 8
kill -0 "$W2_PID" 2>/dev/null && pass "the worker is still running after 8 s of idling" ||
    fail "the worker exited: $(cat W2.err)"
workers_registered 1 && pass "the master still lists the worker" ||
    fail "the worker is gone from the master"
if grep -q 'declared dead' logs/master.log; then
    fail "a worker was declared dead: $(grep 'declared dead' logs/master.log)"
else
    pass "nobody was declared dead"
fi
n=$(grep -c 'master connected' logs/worker-W2.log)
[ "$n" -eq 1 ] && pass "the worker connected once" || fail "the worker connected $n times"
finish
