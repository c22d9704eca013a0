#!/usr/bin/env bash
# The shared token: with it everything works; clients without it or with a
# wrong one exit 3 and say why; a worker with a wrong token is refused (and
# the master logs the peer); a master with a wrong token, or none, cannot
# register or use token-holding workers.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

printf 'correct horse battery staple\n' >token
printf 'not the token\n' >wrong
export DTR_TOKEN="correct horse battery staple"

start_worker W2 --token-file "$T/token" --slots 2
start_master M --token-file "$T/token" --discover "127.0.0.1:$WLO-$WHI"
start_worker W1 --token-file "$T/token" --slots 2 --master "$M_ADDR"
wait_for "W1 (dial-in) and W2 (scanned) registered" "workers_registered 2" || finish
pass "workers with the token registered by dial-in and by scan"

id=$(dtr submit -- echo hello) || fail "submit with the token failed"
dtr wait "$id" >/dev/null 2>&1 && [ "$(dtr result "$id")" = hello ] &&
    pass "a task runs and its result is readable with the token" || fail "task $id with the token"

# Clients without the token, or with a wrong one.
DTR_TOKEN='' dtr status >noauth.out 2>noauth.err
rc=$?
[ "$rc" -eq 3 ] && grep -qi token noauth.err &&
    pass "client without a token: exit 3: $(head -n1 noauth.err)" ||
    fail "client without a token: exit $rc: $(cat noauth.err)"
DTR_TOKEN="not the token" dtr status >bad.out 2>bad.err
rc=$?
[ "$rc" -eq 3 ] && grep -q 'authentication failed' bad.err &&
    pass "client with a wrong DTR_TOKEN: exit 3: $(head -n1 bad.err)" ||
    fail "client with a wrong DTR_TOKEN: exit $rc: $(cat bad.err)"
DTR_TOKEN='' dtr submit --token-file "$T/wrong" -- touch "$T/bad-submit" >bad2.out 2>bad2.err
rc=$?
[ "$rc" -eq 3 ] && grep -q 'authentication failed' bad2.err &&
    pass "submit with a wrong --token-file: exit 3" ||
    fail "submit with a wrong --token-file: exit $rc: $(cat bad2.err)"
[ "$(count_state queued)" = 0 ] && [ "$(dtr tasks --json | wc -l)" = 1 ] &&
    pass "nothing was submitted without the token" || fail "tasks: $(dtr tasks)"

# A worker with a wrong token dials the master (and sits in the scanned range).
start_worker W3 --token-file "$T/wrong" --slots 2 --master "$M_ADDR"
mlog=$T/logs/master.log
wait_for "two refusals of W3's dial-in in the master log" \
    "[ \$(grep -c 'authentication failed peer=127\.0\.0\.1:[0-9]* role=worker' '$mlog') -ge 2 ]" 15 &&
    pass "master log: $(grep -m1 'authentication failed peer=' "$mlog" | cut -d' ' -f3-)"
wait_for "the master's scan to refuse W3" \
    "grep -q 'peer proved a different token peer=$W3_ADDR' '$mlog'" 15 &&
    pass "master log: $(grep -m1 "peer proved a different token peer=$W3_ADDR" "$mlog" | cut -d' ' -f3-)"
grep -q 'authentication failed' "$T/logs/worker-W3.log" &&
    pass "W3's log says authentication failed" || fail "W3's log does not say why it was refused"
dtr status --json >status.json
grep -q '"id":"W3"' status.json && fail "W3 appears in status: $(cat status.json)" ||
    pass "W3 never appears in status"
workers_registered 2 && ! workers_registered 3 || fail "status: $(cat status.json)"
kill -TERM "$W3_PID"
wait_for "W3 to exit" "is_dead $W3_PID" 15

# A master with the wrong token scanning the workers.
start_master M2 --token-file "$T/wrong" --discover "127.0.0.1:$WLO-$WHI" --log-dir "$T/logs-M2"
export DTR_MASTER=$M_ADDR
for w in W1 W2; do
    a=$(eval echo "\$${w}_ADDR")
    wait_for "M2 to scan $w and fail" \
        "grep -q 'peer proved a different token peer=$a' '$T/logs-M2/master.log'" 15 || finish
done
n=$(DTR_TOKEN="not the token" dtr status --master "$M2_ADDR" --json | grep -o '"id":' | wc -l)
[ "$n" -eq 0 ] && pass "a master with the wrong token registered no worker" ||
    fail "M2 lists workers: $(DTR_TOKEN="not the token" dtr status --master "$M2_ADDR" --json)"
workers_registered 2 && pass "W1 and W2 stay with the right master" ||
    fail "status after M2: $(dtr status --json)"
kill -TERM "$M2_PID"
wait_for "M2 to exit" "is_dead $M2_PID" 15

# A rogue master without a token, with a task queued, scanning the workers.
fails_w1=$(grep -c 'authentication failed peer=.* role=master' "$T/logs/worker-W1.log")
fails_w2=$(grep -c 'authentication failed peer=.* role=master' "$T/logs/worker-W2.log")
DTR_TOKEN='' start_master M3 --discover "127.0.0.1:$WLO-$WHI" --log-dir "$T/logs-M3"
export DTR_MASTER=$M_ADDR
DTR_TOKEN='' dtr submit --master "$M3_ADDR" --id rogue-task -- touch "$T/rogue-ran" >/dev/null ||
    fail "submit to the rogue master"
wait_for "W1 and W2 to refuse the rogue master's scans (twice each)" \
    "[ \$(grep -c 'authentication failed peer=.* role=master' '$T/logs/worker-W1.log') -ge $((fails_w1 + 2)) ] &&
     [ \$(grep -c 'authentication failed peer=.* role=master' '$T/logs/worker-W2.log') -ge $((fails_w2 + 2)) ]" 15 ||
    finish
st=$(DTR_TOKEN='' dtr status --master "$M3_ADDR" --json)
case $st in
*'"id":'*) fail "the rogue master registered a worker: $st" ;;
*) pass "the rogue master (no token) registered no worker" ;;
esac
[ "$(DTR_TOKEN='' dtr tasks --master "$M3_ADDR" --state queued | grep -c rogue-task)" = 1 ] &&
    pass "its task is still queued" || fail "rogue task: $(DTR_TOKEN='' dtr tasks --master "$M3_ADDR")"
kill -TERM "$M3_PID"
wait_for "M3 to exit" "is_dead $M3_PID" 15

# A hand-made rogue master sends a run message to a token-holding worker:
# straight after hello, and after an auth with a made-up proof.
cat >rogue.py <<'EOF'
import json, os, select, socket, sys, time
from dtrwire import enc, hello
host, port = sys.argv[1].rsplit(":", 1)
marker, mode = sys.argv[2], sys.argv[3]
s = socket.create_connection((host, int(port)), timeout=10)
def send(o):
    s.sendall(enc(o))
# noauth: a hello without a token; auth: one that claims a token, then a
# made-up proof.
send(hello("master", "rogue-" + mode, token=(mode == "auth")))
if mode == "auth":
    time.sleep(0.1)
    send({"type": "auth", "proof": "0" * 64})
run = {"type": "run", "tasks": [{"lease": 777, "attempt": 1, "spec": {
    "id": "rogue-" + mode, "kind": "exec", "cmd": "touch " + marker,
    "priority": 2, "max_retries": 0}}]}
try:
    send(run)
except OSError:
    pass
data, how, end = b"", "timeout", time.time() + 8
while time.time() < end:
    if not select.select([s], [], [], end - time.time())[0]:
        break
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        how = "reset"
        break
    if not chunk:
        how = "eof"
        break
    data += chunk
lines = [l for l in data.decode("utf-8", "replace").split("\n") if l]
print(json.dumps({"mode": mode, "lines": lines, "closed": how}))
EOF
for mode in noauth auth; do
    "$PY" rogue.py "$W1_ADDR" "$T/rogue-$mode-ran" "$mode" >rogue-$mode.json 2>rogue-$mode.err ||
        { fail "rogue.py $mode: $(cat rogue-$mode.err)"; continue; }
    if "$PY" - rogue-$mode.json <<'EOF' >rogue-$mode.verdict; then
import json, sys
r = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in r["lines"]]
# With a claimed token the worker says hello and proves itself first; without
# one it refuses at once. Either way the last word is the refusal.
want = ["hello", "auth", "error"] if r["mode"] == "auth" else ["error"]
ok = ([l.get("type") for l in lines] == want
      and (len(lines) == 1 or lines[0].get("auth") is True)
      and "authentication failed" in lines[-1].get("error", "")
      and r["closed"] in ("eof", "reset"))
print(lines[-1].get("error") if ok else json.dumps(r)[:600])
sys.exit(0 if ok else 1)
EOF
        pass "rogue run ($mode): refused with '$(cat rogue-$mode.verdict)' and closed"
    else
        fail "rogue run ($mode): $(cat rogue-$mode.verdict)"
    fi
done
w1log=$T/logs/worker-W1.log
if [ ! -e rogue-ran ] && [ ! -e rogue-noauth-ran ] && [ ! -e rogue-auth-ran ] &&
    ! grep -q 'attempt started task=rogue' "$w1log" "$T/logs/worker-W2.log"; then
    pass "no rogue task ever ran on a worker"
else
    fail "a rogue task ran: $(cd "$T" && echo rogue*ran) $(grep 'task=rogue' "$T"/logs/worker-*.log)"
fi

# Still fine with the token.
dtr submit --id after --array 1-6 -- sh -c 'echo {}' >/dev/null && dtr wait --all >/dev/null 2>&1 &&
    [ "$(dtr result after-6)" = 6 ] && pass "tasks still run with the token" ||
    fail "tasks after the attacks: $(dtr tasks)"
workers_registered 2 && kill -0 "$W1_PID" && kill -0 "$W2_PID" && kill -0 "$M_PID" &&
    pass "master, W1 and W2 alive and registered" || fail "a node died or left"
finish
