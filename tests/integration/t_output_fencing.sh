#!/usr/bin/env bash
# Output fencing and completeness, with a hand-made worker: output for a
# lease that is not the task's running attempt (an old lease, another
# worker's, a made-up one) is ignored; a resent piece is kept once; a
# result that counts more bytes than arrived marks the stream truncated.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_master M
dtr submit --id fx -- true >/dev/null || die "submit failed"

"$PY" - "$M_ADDR" >fake.out 2>fake.err <<'PYEOF'
import base64, sys, time
import dtrwire
from dtrwire import Peer

def out(lease, stream, offset, data, tid="fx"):
    return {"type": "output", "lease": lease, "id": tid, "attempt": 1, "stream": stream,
            "offset": offset, "data": base64.b64encode(data).decode()}

p = Peer(sys.argv[1])
dtrwire.dial(p, "worker", "FW", addr="127.0.0.1:9", slots=1)
p.send({"type": "held", "attempts": []})
run, end = None, time.time() + 10
while run is None and time.time() < end:
    m = p.msg(end - time.time())
    if m and m.get("type") == "run":
        run = m["tasks"][0]
lease = run["lease"]
p.send(out(lease + 1000, "stdout", 0, b"STALE LEASE\n"))
p.send(out(lease, "stdout", 0, b"good \xff\x00"))
p.send(out(lease, "stdout", 0, b"good \xff\x00"))          # resent: kept once
p.send(out(lease, "stdout", 7, b"bytes\n"))
p.send(out(lease, "stderr", 0, b"err\n"))
p.send(out(lease, "stdout", 0, b"OTHER TASK\n", tid="nope"))
p.send({"type": "result", "lease": lease, "id": "fx", "attempt": 1, "ok": True,
        "exit_code": 0, "stdout_bytes": 13, "stderr_bytes": 10,
        "started_at": 1, "finished_at": 2})
end = time.time() + 10
while time.time() < end:
    m = p.msg(end - time.time())
    if m and m.get("type") == "ack" and lease in m.get("leases", []):
        print("acked", lease)
        break
PYEOF
grep -q acked fake.out && pass "the fake worker's result was acked" ||
    fail "no ack: $(cat fake.out fake.err)"
dtr wait fx --timeout 20s >/dev/null 2>&1 || fail "fx did not succeed"
printf 'good \377\000bytes\n' >want.out
dtr result fx >got.out 2>got.err
cmp -s got.out want.out && pass "only the running lease's output, a resent piece once" ||
    fail "stdout: $(od -c got.out | head -3)"
grep -q "^err$" got.err && pass "stderr kept" || fail "stderr: $(cat got.err)"
grep -q "note: stderr of task 'fx' was truncated at 4 bytes" got.err &&
    pass "stderr_bytes 10 with 4 received: truncation recorded" || fail "no truncation note: $(cat got.err)"
! grep -q "note: stdout" got.err && pass "stdout complete: no note" || fail "stdout note: $(cat got.err)"
grep -q "ignored output of a superseded attempt task=fx" "$T/logs/master.log" &&
    pass "the stale piece is logged as ignored" || fail "no 'ignored output' log line"
finish
