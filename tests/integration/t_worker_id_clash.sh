#!/usr/bin/env bash
# A second session for a live worker id (docs/protocol.md, "Registration").
# Every node holds the token.
#   1. A second `dtr worker --id W1` while W1 runs two tasks is refused with
#      "worker id 'W1' is already connected from ADDR; give each worker its
#      own --id"; W1 keeps its session and its tasks succeed on their first
#      attempt with no crash counted.
#   2. On the wire (fake.py, a worker speaking the protocol): a hello for a
#      live id from another instance is refused and the live session stays;
#      a malformed instance is refused; a hello from the same instance
#      replaces the session and adopts the attempt it lists, and a later one
#      that does not list an attempt (its run crossed the cut) re-queues it
#      without counting a crash or an attempt. A worker's hello to a dialer
#      (a discovery probe) does not carry its instance.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

printf 'one id, one worker\n' >token
export DTR_TOKEN="one id, one worker"

# --- 1. a second dtr worker with the same id -----------------------------------
start_master M --worker-timeout 5s
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "W1 registered" "workers_registered 1" || finish
dtr submit --id long --array 1-2 -k sleep --payload '{"seconds":3}' >/dev/null 2>submit.err ||
    die "submit exited $?: $(cat submit.err)"
wait_for "both tasks running" '[ "$(count_state running)" -eq 2 ]' || finish

"$DTR" worker --id W1 --master "$M_ADDR" --port-range "$WLO-$WHI" --log-dir "$T/logs2" \
    --slots 2 >W1b.out 2>W1b.err &
PIDS+=("$!")
W1b_PID=$!
wait_for "the second W1 to be refused" \
    "grep -q \"worker id 'W1' is already connected from 127.0.0.1:[0-9]*; give each worker its own --id\" logs2/worker-W1.log" ||
    finish
pass "the second W1 was told: $(grep -o "worker id 'W1' is already connected[^\"]*" logs2/worker-W1.log | head -1)"
grep -q 'refused a second session for a live worker id=W1' logs/master.log &&
    pass "the master logged the refusal" || fail "no refusal in master.log"

dtr wait --all --timeout 30s >wait.out 2>&1 || fail "wait --all exited $?: $(tail -2 wait.out)"
kill "$W1b_PID" 2>/dev/null
dtr tasks --json >tasks.out
n=$(grep '"state":"succeeded"' tasks.out | grep '"attempts":1,' | grep -c '"crashes":0,')
[ "$n" -eq 2 ] && pass "W1's tasks succeeded on their first attempt, no crash counted" ||
    fail "W1's tasks were disturbed: $(cat tasks.out)"
n=$(grep -c 'master connected' logs/worker-W1.log)
[ "$n" -eq 1 ] && pass "W1 kept its one session" || fail "W1 connected $n times"
grep -q 'declared dead\|replaced by a newer connection' logs/master.log &&
    fail "W1 lost its session: $(grep 'declared dead\|replaced by' logs/master.log | head -2)" ||
    pass "W1 was neither replaced nor declared dead"

# --- 2. on the wire ------------------------------------------------------------------
cat >fake.py <<'EOF'
import json, os, sys, time
import dtrwire
from dtrwire import Peer as WirePeer

addr, token = sys.argv[1], os.environ["DTR_TOKEN"]

class Peer(WirePeer):
    def __init__(self, where=None):
        WirePeer.__init__(self, where or addr)
    eof = property(lambda self: self.how is not None)
    def until(self, kind, timeout=5.0):
        """The next message of this type, skipping others; None at the end."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.msg(end - time.time())
            if m is None:
                return None
            if m.get("type") == kind:
                return m
        return None

def connect(role, ident, extra=None):
    p = Peer()
    dtrwire.dial(p, role, ident, token, **(extra or {}))
    return p

def worker(instance, running=(), **kw):
    extra = {"slots": 1}
    if instance is not None:
        extra["instance"] = instance
    p = connect("worker", "F", dict(extra, **kw))
    try:  # what it holds, right after the handshake (a refused one is closing)
        p.send({"type": "held", "attempts": [{"lease": l, "id": i} for l, i in running]})
    except OSError:
        pass
    return p

def alive(p):
    """The session answers a ping: it was registered and is still open."""
    p.send({"type": "ping"})
    return p.until("pong", 3) is not None

def closed_with(p, want):
    last = None
    while True:
        m = p.msg(5)
        if m is None:
            return p.eof and last is not None and last.get("type") == "error" and \
                want in last.get("error", ""), last
        last = m

client = connect("client", "client-fake")
def submit(spec):
    client.send({"type": "submit", "tasks": [spec]})
    r = client.until("submitted")
    assert r, "no submitted reply"
def get(tid):
    client.send({"type": "get", "id": tid})
    return client.until("task")["task"]

failed = 0
def check(ok, what):
    global failed
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    failed += not ok

inst = os.urandom(16).hex()
one = worker(inst)
check(alive(one), "the fake worker F registered")
submit({"id": "adopt", "kind": "noop"})
run = one.until("run")
lease = run["tasks"][0]["lease"]
check(run["tasks"][0]["spec"]["id"] == "adopt", "F got the run of 'adopt'")

other = worker(os.urandom(16).hex(), [(lease, "adopt")])
ok, last = closed_with(other, "worker id 'F' is already connected from 127.0.0.1:")
check(ok, "a hello for live F from another instance is refused: %r" % (last,))
anon = worker(None)
ok, last = closed_with(anon, "give each worker its own --id")
check(ok, "a hello for live F without an instance is refused: %r" % (last,))
check(alive(one), "F's first session is still alive")
for inst_bad in ("xyz", "AB" * 16, "0" * 33):
    bad = Peer()  # refused at once: the hello does not decode
    bad.send(dtrwire.hello("worker", "F", token, slots=1, instance=inst_bad))
    ok, last = closed_with(bad, "field 'instance'")
    check(ok, "a malformed instance %r is refused: %r" % (inst_bad, last))

two = worker(inst, [(lease, "adopt")])
check(alive(two), "a hello for live F from the same instance is accepted")
check(one.until("never", 3) is None and one.eof, "and the first session was closed")
two.send({"type": "result", "lease": lease, "id": "adopt", "attempt": 1, "ok": True,
          "exit_code": 0})
check(two.until("ack") is not None, "the adopted attempt's result was acknowledged")
t = get("adopt")
check(t["state"] == "succeeded" and t["attempts"] == 1 and t["crashes"] == 0,
      "'adopt' succeeded on its first attempt, no crash: %r" % (t,))

submit({"id": "crossed", "kind": "noop"})
run = two.until("run")
lease2 = run["tasks"][0]["lease"]
three = worker(inst)  # the same process, back without the run (it crossed the cut)
run = three.until("run")  # registered, and given 'crossed' again
check(run is not None and run["tasks"][0]["spec"]["id"] == "crossed" and
      run["tasks"][0]["attempt"] == 1 and run["tasks"][0]["lease"] != lease2,
      "'crossed' was dispatched again as attempt 1: %r" % (run,))
three.send({"type": "result", "lease": run["tasks"][0]["lease"], "id": "crossed",
            "attempt": 1, "ok": True, "exit_code": 0})
three.until("ack")
t = get("crossed")
check(t["state"] == "succeeded" and t["attempts"] == 1 and t["crashes"] == 0,
      "'crossed' succeeded with one attempt and no crash: %r" % (t,))

# A worker's instance goes only to a master it dialed: its own hello to a
# dialer (here a "master" that proves nothing) must not carry it.
probe = Peer(sys.argv[2])
probe.send(dtrwire.hello("master", "probe", token))
h = probe.msg()
check(h is not None and h.get("type") == "hello" and h.get("role") == "worker" and
      "instance" not in h, "a worker's hello to a dialer has no instance: %r" % (h,))
sys.exit(1 if failed else 0)
EOF
start_master M2 --worker-timeout 5s
$PY fake.py "$M2_ADDR" "$W1_ADDR" >fake.out 2>fake.err
rc=$?
while read -r line; do
    case $line in
    ok:*) pass "${line#ok: }" ;;
    FAIL:*) fail "${line#FAIL: }" ;;
    esac
done <fake.out
[ "$rc" -eq 0 ] || fail "fake.py exited $rc: $(tail -5 fake.err)"
finish
