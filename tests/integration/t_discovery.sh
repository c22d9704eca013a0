#!/usr/bin/env bash
# Discovery: three workers started first (none told about a master), then a
# master that scans the worker port range finds and registers all of them;
# `dtr status` (JSON and plain) describes each one, and each can run a task.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# Two things in the scanned range that are not dtr workers, bound before the
# workers: one accepts and never says a word, one answers like a web server.
cat >fakes.py <<'EOF'
import socket, sys, threading
lo, hi = int(sys.argv[1]), int(sys.argv[2])
def bind():
    for p in range(lo, hi + 1):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); s.listen(64); return s, p
        except OSError:
            s.close()
    sys.exit("no free port")
silent, p1 = bind()
web, p2 = bind()
print(p1, p2, flush=True)
held = []
def hold():
    while True:
        held.append(silent.accept()[0])
threading.Thread(target=hold, daemon=True).start()
while True:
    c = web.accept()[0]
    try:
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nnot dtr\n")
    except OSError:
        pass
    c.close()
EOF
$PY fakes.py "$WLO" "$WHI" >fakes.out 2>fakes.err &
PIDS+=($!)
wait_for "fake listeners" "[ -s '$T/fakes.out' ]" 10 || finish

start_worker W1 --slots 1
start_worker W2 --slots 1
start_worker W3 --slots 1
# --discover is repeatable: split the worker range in two scans.
start_master M --discover "127.0.0.1:$WLO-$WLO" --discover "127.0.0.1:$((WLO + 1))-$WHI"
wait_for "3 workers discovered" "workers_registered 3" 20 || finish
pass "master registered 3 workers found by scanning"

# A worker started after the master is found by a later scan; the fake
# listeners (scanned several times by now) are never registered.
start_worker W4 --slots 1
wait_for "late worker W4 discovered" "workers_registered 4" 20 || finish
registered=$(dtr status --json | grep -o '"id":"[^"]*"' | sort | tr '\n' ' ')
[ "$registered" = '"id":"W1" "id":"W2" "id":"W3" "id":"W4" ' ] &&
    pass "a worker started later is found by the next scan; the non-dtr listeners are not registered" ||
    fail "registered workers: $registered"
kill "$W4_PID"
wait_for "W4 gone from the list (worker-timeout)" "! dtr status --json | grep -q '\"id\":\"W4\"'" 20 || finish

# status --json: one JSON object; workers with id/addr/slots/running/done/last_seen.
dtr status --json >status.json 2>status.err || fail "status --json exited $?: $(cat status.err)"
[ "$(wc -l <status.json)" -eq 1 ] && pass "status --json is one line" ||
    fail "status --json is $(wc -l <status.json) lines"
check_status=$(cat <<'EOF'
import json, sys, re, datetime
want = {"W1": sys.argv[1], "W2": sys.argv[2], "W3": sys.argv[3]}
doc = json.loads(sys.stdin.read())
assert isinstance(doc, dict), "not an object"
ws = doc["workers"]
assert isinstance(ws, list) and len(ws) == 3, "workers: %r" % ws
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}(Z|\+00:00)$")
now = datetime.datetime.now(datetime.timezone.utc)
seen = {}
for w in ws:
    for k in ("id", "addr", "slots", "running", "done", "last_seen"):
        assert k in w, "worker lacks %s: %r" % (k, w)
    assert w["slots"] == 1, "slots %r" % w
    assert w["running"] == 0 and w["done"] == 0, "counts %r" % w
    assert iso.match(w["last_seen"]), "last_seen not ISO-8601 UTC with ms: %r" % w["last_seen"]
    t = datetime.datetime.fromisoformat(w["last_seen"].replace("Z", "+00:00"))
    assert abs((now - t).total_seconds()) < 10, "last_seen far from now: %r" % w["last_seen"]
    seen[w["id"]] = w["addr"]
assert seen == want, "id->addr %r, want %r" % (seen, want)
t = doc["tasks"]
assert isinstance(t, dict), "tasks: %r" % t
for s in ("queued", "running", "succeeded", "failed", "cancelled"):
    assert t.get(s) == 0, "tasks.%s = %r" % (s, t.get(s))
EOF
)
if $PY -c "$check_status" "$W1_ADDR" "$W2_ADDR" "$W3_ADDR" <status.json >check.out 2>&1
then pass "status --json lists W1-W3 with their addresses, slots, counts and ISO-8601 last_seen"
else fail "status --json: $(cat check.out) -- $(cat status.json)"; fi

# Plain status: one line per worker naming id and address, and the task counts.
dtr status >status.txt 2>status.err || fail "status exited $?: $(cat status.err)"
ok=1
for w in W1 W2 W3; do
    eval "addr=\$${w}_ADDR"
    grep -E "^$w[[:space:]].*$addr" status.txt >/dev/null || { ok=0; fail "plain status lacks a line for $w at $addr"; }
done
grep -qi queued status.txt && grep -qi succeeded status.txt || { ok=0; fail "plain status lacks task counts"; }
[ $ok = 1 ] && pass "plain status names each worker, its address, and task counts"

# Every discovered worker is usable: three blocking tasks on three 1-slot
# workers must all be running at once, one per worker.
for i in 1 2 3; do
    dtr submit --id "b$i" -- sh -c "while [ ! -f '$T/go' ]; do sleep 0.05; done" >/dev/null ||
        fail "submit b$i"
done
wait_for "3 tasks running" '[ "$(count_state running)" = 3 ]' 20 &&
    pass "3 tasks run at once on 3 discovered 1-slot workers"
dtr status --json >status1.json
$PY -c '
import json, sys
d = json.load(sys.stdin)
r = sorted((w["id"], w["running"]) for w in d["workers"])
assert r == [("W1", 1), ("W2", 1), ("W3", 1)], r
' <status1.json >check.out 2>&1 && pass "status shows running=1 on each worker" || fail "running per worker: $(cat check.out)"
workers_of_running=$(dtr tasks --state running --json | sed -n 's/.*"worker":"\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ')
[ "$workers_of_running" = "W1 W2 W3 " ] && pass "one running task per worker" ||
    fail "running tasks are on: '$workers_of_running'"
touch "$T/go"
dtr wait b1 b2 b3 --timeout 20s >/dev/null 2>&1 || fail "wait b1 b2 b3"
dtr status --json >status2.json
if $PY -c '
import json, sys
d = json.load(sys.stdin)
done = sorted((w["id"], w["done"], w["running"]) for w in d["workers"])
assert done == [("W1", 1, 0), ("W2", 1, 0), ("W3", 1, 0)], done
assert d["tasks"]["succeeded"] == 3, d["tasks"]
' <status2.json >check.out 2>&1; then pass "status counts one done task per worker, 3 succeeded"
else fail "status after tasks: $(cat check.out)"; fi

# stays_up PID SECONDS: watches PID for that long; false as soon as it dies.
# (A crash is checked for over a few scan intervals: there is no event that
# says "no crash happened", so this is a bounded watch, not a wait.)
stays_up() {
    local end=$(($(date +%s%3N) + $2 * 1000))
    while [ "$(date +%s%3N)" -lt $end ]; do
        is_dead "$1" && return 1
        sleep 0.1
    done
    return 0
}

# A second worker claiming the id W1 appears in the scanned range: the scan
# must refuse it without harm, and the real W1 stays registered.
start_worker DUP --id W1 --slots 1 --log-dir "$T/logs/dup"
wait_for "the scan reached the duplicate" "grep -q 'master connected' '$T/logs/dup/worker-W1.log'" 10
if stays_up "$M_PID" 2 && dtr status --json >status3.json 2>&1; then
    pass "the master survives scanning a worker with a duplicate id"
    registered=$($PY -c 'import json,sys; print(" ".join(sorted(w["id"] + "=" + w["addr"] for w in json.load(sys.stdin)["workers"])))' <status3.json)
    [ "$registered" = "W1=$W1_ADDR W2=$W2_ADDR W3=$W3_ADDR" ] &&
        pass "the duplicate is not registered; W1 keeps its address" || fail "registered after the duplicate: $registered"
else
    fail "the master died after a scan found a second worker with id W1: $(grep -h -m3 -E 'runtime error|ERROR|Segmentation' "$T"/M.err)"
fi
kill "$DUP_PID"
wait_for "duplicate worker gone" "is_dead $DUP_PID" 10

# The same workers found by a master scanning "localhost" instead of 127.0.0.1.
kill "$M_PID"
wait_for "first master gone" "is_dead $M_PID" 10 || finish
start_master M2 --discover "localhost:$WLO-$WHI" --log-dir "$T/logs/m2"
wait_for "3 workers discovered via localhost (or the master dead)" "workers_registered 3 || is_dead $M2_PID" 20 || finish
is_dead "$M2_PID" || pass "a master scanning localhost:LO-HI registers the 3 workers"
if ! is_dead "$M2_PID" && stays_up "$M2_PID" 2 && dtr status --json >status4.json 2>&1; then
    n=$(grep -o '"id":"W[0-9]"' status4.json | wc -l)
    [ "$n" -eq 3 ] && pass "the localhost-scanning master stays up over several scans with 3 workers" ||
        fail "localhost master lists $n workers: $(cat status4.json)"
else
    fail "the localhost-scanning master died on a later scan: $(grep -h -m3 -E 'runtime error|ERROR|Segmentation' "$T"/M2.err)"
fi
finish
