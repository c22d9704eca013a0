#!/usr/bin/env bash
# Bad input never crashes a node: garbage, HTTP, unknown message types,
# malformed JSON after a valid hello, oversized lines (64 KiB before the
# handshake, 20 MiB), deep nesting, and 50 silent connections held open, all
# sent to the master and to a worker while ~100 tasks run. Each gets a JSON
# error where a reply is possible and a closed connection; both nodes live on
# and every task succeeds.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# probe.py HOST:PORT CASE ROLE: prints one JSON object, what the node replied
# and how the connection ended ("eof"/"reset": closed by the node).
# probe.py HOST:PORT hold N SECONDS READYFILE: holds N silent connections.
cat >probe.py <<'EOF'
import json, os, select, socket, sys, time
import dtrwire

def hello(role):
    return dtrwire.enc(dtrwire.hello(role, "probe-%d" % os.getpid()))

def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(10)
    return s

def read_lines(s, buf, until, want=None):
    """Reads until EOF, reset or the deadline (or until `want` lines came)."""
    lines, how = [], "timeout"
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append(line.decode("utf-8", "replace")[:300])
        if want is not None and len(lines) >= want:
            return lines, buf, "enough"
        left = until - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            how = "reset"
            break
        if not chunk:
            how = "eof"
            break
        buf += chunk
    if buf:
        lines.append(buf.decode("utf-8", "replace")[:300])
    return lines, b"", how

def payload(case):
    if case == "garbage":
        return b"\x00\x01\xfe\xff garbage {{{ ]]] \x7f\n" + bytes(range(256)) * 8 + b"\n"
    if case == "http":
        return b"GET / HTTP/1.0\r\n\r\n"
    if case == "unknown_type":
        return b'{"type":"no-such-type","x":1}\n'
    if case == "malformed":
        return b'{"type":"status", "oops": [1, 2,,, \n'
    if case == "long":
        return b'{"type":"hello","pad":"' + b"a" * (70 * 1024) + b'"}\n'
    if case == "huge":
        return b"a" * (20 * 1024 * 1024) + b"\n"
    if case == "nested":
        return b"[" * 10000 + b"\n"
    if case == "nested_obj":
        return b'{"type":"status","x":' + b"[" * 10000 + b"\n"
    raise SystemExit("unknown case " + case)

def probe(addr, case, role):
    s = connect(addr)
    out = {"case": case, "replies": [], "send_error": None, "hello_reply": None}
    t0 = time.time()
    pre = b""
    if case.endswith("_after_hello"):
        case = case[: -len("_after_hello")]
        s.sendall(hello(role))
        lines, pre, how = read_lines(s, b"", time.time() + 5, want=1)
        out["hello_reply"] = lines[0] if lines else None
        if len(lines) > 1 or how != "enough":
            # Refused right after the hello (a worker that already serves a
            # live master refuses a second one): the error follows the hello.
            rest, _, how2 = read_lines(s, pre, time.time() + 8) if how == "enough" else ([], b"", how)
            out.update(replies=lines[1:] + rest, closed=how2, secs=round(time.time() - t0, 3))
            return out
    try:
        s.sendall(payload(case))
    except OSError as e:
        out["send_error"] = type(e).__name__
    lines, _, how = read_lines(s, pre, time.time() + 8)
    out.update(replies=lines, closed=how, secs=round(time.time() - t0, 3))
    s.close()
    return out

def hold(addr, n, secs, ready):
    socks = [connect(addr) for _ in range(n)]
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.rename(ready + ".tmp", ready)
    t0 = time.time()
    closed_at, bufs, live = {}, {s: b"" for s in socks}, set(socks)
    while live and time.time() - t0 < secs:
        for s in select.select(list(live), [], [], 0.5)[0]:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                bufs[s] += chunk
            else:
                live.discard(s)
                closed_at[s] = time.time() - t0
    errors = sum(1 for s in socks if bufs[s].startswith(b'{"type":"error"'))
    sample = next((bufs[s].decode("utf-8", "replace")[:200] for s in socks if bufs[s]), "")
    return {"opened": n, "closed_by_node": len(closed_at), "error_replies": errors,
            "first_close_s": round(min(closed_at.values()), 2) if closed_at else None,
            "last_close_s": round(max(closed_at.values()), 2) if closed_at else None,
            "sample": sample}

if __name__ == "__main__":
    if sys.argv[2] == "hold":
        print(json.dumps(hold(sys.argv[1], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])),
              flush=True)
    else:
        print(json.dumps(probe(sys.argv[1], sys.argv[2], sys.argv[3])), flush=True)
EOF

# check.py FILE: judges one probe result; prints a one-line verdict, exits 1
# when the node did not answer with a JSON error or did not close.
cat >check.py <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
want_hello = sys.argv[2] if len(sys.argv) > 2 else ""
problems = []
if want_hello:
    h = r.get("hello_reply")
    try:
        h = json.loads(h)
    except Exception:
        h = None
    if not h or h.get("type") != "hello" or h.get("role") != want_hello:
        problems.append("no hello from the %s: %r" % (want_hello, r.get("hello_reply")))
reps = r["replies"]
err = None
if reps:
    try:
        err = json.loads(reps[-1])
    except Exception:
        pass
if not (isinstance(err, dict) and err.get("type") == "error" and err.get("error")):
    problems.append("no JSON error reply last (got %r)" % reps[-2:])
# Before a handshake the error is the only reply. After a hello claiming to
# be a master, a worker may first hand over its unacknowledged results.
for line in reps[:-1]:
    try:
        t = json.loads(line).get("type")
    except Exception:
        t = None
    if not (want_hello == "worker" and t == "result"):
        problems.append("unexpected reply before the error: %r" % line[:100])
if r["closed"] not in ("eof", "reset"):
    problems.append("connection not closed by the node (%s after %ss)" % (r["closed"], r["secs"]))
if problems:
    print("; ".join(problems))
    sys.exit(1)
print("error %r, closed (%s) after %ss" % (err["error"][:70], r["closed"], r["secs"]))
EOF

start_master M
start_worker W1 --master "$M_ADDR" --slots 2
start_worker W2 --master "$M_ADDR" --slots 2
wait_for "two workers registered" "workers_registered 2" || finish

# ~100 tasks of 0.25s on 4 slots: a run of several seconds; job-100 also
# waits for the test's gate, so the run is still in progress when the bad
# input starts however slow the machine.
dtr submit --id job --array 1-100 --retries 0 -- sh -c \
    "if [ {} = 100 ]; then n=0; while [ ! -e '$T/run.go' ] && [ \$n -lt 2400 ]; do sleep 0.05; n=\$((n+1)); done; fi; sleep 0.25; echo ok" >/dev/null ||
    die "submit failed"

# 50 silent connections to each node, held during the run. The worker allows
# 64 connections, so the probes below (one at a time) still fit.
"$PY" probe.py "$M_ADDR" hold 50 30 "$T/hold-M.ready" >hold-M.json 2>hold-M.err &
PIDS+=($!)
HOLD_M=$!
"$PY" probe.py "$W1_ADDR" hold 50 30 "$T/hold-W1.ready" >hold-W1.json 2>hold-W1.err &
PIDS+=($!)
HOLD_W=$!
wait_for "50 silent connections to each node" "[ -f hold-M.ready ] && [ -f hold-W1.ready ]" ||
    finish
left=$(( $(count_state queued) + $(count_state running) ))
[ "$left" -gt 0 ] && pass "a run is in progress ($left of 100 tasks not done) with 100 silent connections open" ||
    fail "the run was over before the bad input started"

# probe_node NAME ADDR ROLE PEER: every case against one node. ROLE is what
# our hello claims (the master accepts clients, a worker only masters); PEER
# is the role the node's hello reply must name.
probe_node() {
    local name=$1 addr=$2 role=$3 peer=$4 case
    for case in garbage http unknown_type long huge nested \
        malformed_after_hello unknown_type_after_hello nested_obj_after_hello \
        huge_after_hello; do
        "$PY" probe.py "$addr" "$case" "$role" >"probe-$name-$case.json" 2>"probe-$name-$case.err" ||
            { fail "$name $case: probe crashed: $(tail -n 2 "probe-$name-$case.err")"; continue; }
        local want=""
        case $case in *_after_hello) want=$peer ;; esac
        if v=$("$PY" check.py "probe-$name-$case.json" $want); then
            pass "$name $case: $v"
        else
            fail "$name $case: $v"
        fi
        kill -0 "$(eval echo "\$${name}_PID")" 2>/dev/null || die "$name died after '$case'"
    done
}
probe_node M "$M_ADDR" client master
probe_node W1 "$W1_ADDR" master worker

kill -0 "$M_PID" 2>/dev/null && kill -0 "$W1_PID" 2>/dev/null && kill -0 "$W2_PID" 2>/dev/null &&
    pass "master and workers alive after the bad input" || fail "a node died"
dtr status --json >/dev/null && pass "master still answers clients" || fail "dtr status failed"

: >"$T/run.go"
dtr wait --all --timeout 60s >wait.out 2>&1 && pass "the run completed: dtr wait --all exit 0" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
[ "$(count_state succeeded)" = 100 ] && pass "all 100 tasks succeeded" ||
    fail "succeeded: $(count_state succeeded) of 100; $(dtr status --json)"

# The silent connections: the nodes close them (after their handshake
# deadline) with an error message.
wait_for "the holders to finish" "is_dead $HOLD_M && is_dead $HOLD_W" 40 || finish
for name in M W1; do
    if "$PY" - "hold-$name.json" <<'EOF' >hold-$name.verdict; then
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps(r))
sys.exit(0 if r["closed_by_node"] == r["opened"] == r["error_replies"] == 50 else 1)
EOF
        pass "$name closed all 50 silent connections with an error: $(cat hold-$name.verdict)"
    else
        fail "$name silent connections: $(cat hold-$name.verdict) $(cat hold-$name.err)"
    fi
done
kill -0 "$M_PID" 2>/dev/null && kill -0 "$W1_PID" 2>/dev/null && pass "nodes alive at the end" ||
    fail "a node died"
finish
