#!/usr/bin/env bash
# The master enforces task timeouts itself (docs/protocol.md, "Timeouts"): a
# worker that beats but never reports (fake.py, speaking the protocol) holds
# two tasks with --timeout 1s. Past the timeout plus the grace (5 s) the
# master expires each attempt: it records a timed-out failure, sends the
# worker a kill for the lease, discards the late result that follows as
# superseded, and retries per the task's retries: 'once' (-r 0) fails,
# 'twice' (-r 1) is dispatched again as attempt 2.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

cat >fake.py <<'EOF'
import json, os, select, socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
def send(obj):
    s.sendall((json.dumps(obj, separators=(",", ":")) + "\n").encode())
import dtrwire
send(dtrwire.hello("worker", "hung", slots=2))
send({"type": "held", "attempts": []})
buf, beat, ids = b"", 0.0, {}
while True:
    if time.time() - beat >= 0.2:  # beats, like a live worker
        send({"type": "pong", "busy": len(ids)})
        beat = time.time()
    if not select.select([s], [], [], 0.05)[0]:
        continue
    chunk = s.recv(65536)
    if not chunk:
        print("eof", flush=True)
        break
    buf += chunk
    while b"\n" in buf:
        l, buf = buf.split(b"\n", 1)
        m = json.loads(l)
        if m["type"] == "run":
            for r in m["tasks"]:  # accepted, and never reported
                ids[r["lease"]] = r["spec"]["id"]
                print("run %s %d %d" % (r["spec"]["id"], r["lease"], r["attempt"]), flush=True)
        elif m["type"] == "kill":
            for lease in m["leases"]:
                print("kill %s %d" % (ids.get(lease, "?"), lease), flush=True)
                # too late: the master has revoked the lease
                send({"type": "result", "lease": lease, "id": ids.get(lease, "?"),
                      "attempt": 1, "ok": True, "exit_code": 0})
EOF

start_master M --heartbeat 200ms --worker-timeout 3s
$PY fake.py "$M_ADDR" >fake.out 2>fake.err &
PIDS+=("$!")
wait_for "the fake worker registered" "workers_registered 1" || finish

dtr submit --id once -r 0 -t 1s -k sleep --payload '{"seconds":60}' >/dev/null &&
    dtr submit --id twice -r 1 -t 1s -k sleep --payload '{"seconds":60}' >/dev/null ||
    die "submit failed"
wait_for "both tasks running on the fake worker" \
    "grep -q '^run once' fake.out && grep -q '^run twice' fake.out" || finish

# 1 s of timeout plus 5 s of grace; allow for a loaded machine.
wait_for "'once' to fail" "dtr result once --json 2>/dev/null | grep -q '\"state\":\"failed\"'" 30 ||
    finish
dtr result once --json >once.json
grep -q '"attempts":1,' once.json && grep -q '"crashes":0,' once.json &&
    grep -q '"error":"failed after 1 attempts; last: timed out after 1.000s; expired by the master' once.json &&
    pass "'once' failed after its one attempt, timed out and expired by the master" ||
    fail "'once' record: $(cat once.json)"
lease=$(sed -n 's/^run once \([0-9]*\) 1$/\1/p' fake.out)
wait_for "a kill for 'once'" "grep -q '^kill once $lease\$' fake.out" || finish
pass "the worker was told to kill lease $lease"
wait_for "the late result discarded" \
    "grep -q 'discarded result of a superseded attempt task=once lease=$lease' logs/master.log" ||
    finish
dtr result once --json | grep -q '"state":"failed"' &&
    pass "the late result of 'once' was discarded as superseded" ||
    fail "the late result changed 'once': $(dtr result once --json)"

wait_for "'twice' to run again" "grep -q '^run twice [0-9]* 2$' fake.out" 30 || finish
grep -q '^kill twice ' fake.out && pass "'twice' was expired, killed and dispatched again as attempt 2" ||
    fail "no kill for the first attempt of 'twice': $(cat fake.out)"
dtr result twice --json | grep -q '"state":"running".*"attempts":2,.*"error":"timed out after 1.000s; expired by the master' &&
    pass "'twice' runs its second attempt; its error says why the first ended" ||
    fail "'twice' record: $(dtr result twice --json)"
grep -q 'declared dead' logs/master.log && fail "the beating worker was declared dead" ||
    pass "the beating worker was not declared dead"
finish
