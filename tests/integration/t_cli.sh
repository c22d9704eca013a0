#!/usr/bin/env bash
# The command line as the contract describes it (sections 1 and 4): help,
# usage errors, versions, durations, priorities, task-file validation, exit
# codes, JSON output, the task environment, --env/--cwd, --array, --wait and
# how clients find the master.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
DEAD=127.0.0.1:$((MPORT + 99)) # in our block, nothing listens there

# expect_rc WANT DESCRIPTION CMD...: runs CMD with stdout/stderr in $T/o, $T/e.
expect_rc() {
    local want=$1 what=$2
    shift 2
    "$@" >"$T/o" 2>"$T/e" </dev/null
    local rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$what (exit $rc)"; return 0; fi
    fail "$what: exit $rc, want $want; stdout '$(head -c 300 "$T/o")' stderr '$(head -c 300 "$T/e")'"
    return 1
}
lines() { wc -l <"$1" | tr -d ' '; }

# --- 1. help, usage errors, version (no master needed) ----------------------
expect_rc 0 "dtr --help" dtr --help && grep -qi usage o && [ ! -s e ] &&
    pass "dtr --help prints usage to stdout only" || fail "dtr --help output: '$(head -3 o)' / '$(cat e)'"
for c in master worker submit status tasks result wait cancel demo; do
    timeout 10 "$DTR" help "$c" >o1 2>e1 </dev/null
    r1=$?
    timeout 10 "$DTR" "$c" --help >o2 2>e2 </dev/null
    r2=$?
    if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && grep -qi "usage.*$c" o1 && grep -qi "usage.*$c" o2 &&
        [ ! -s e1 ] && [ ! -s e2 ]; then
        pass "dtr help $c / dtr $c --help: usage on stdout, exit 0"
    else
        fail "help $c: exit $r1/$r2, stdout '$(head -1 o1)' / '$(head -1 o2)', stderr '$(cat e1 e2)'"
    fi
done
"$DTR" help submit >o1 2>/dev/null
"$DTR" submit --help >o2 2>/dev/null
grep -q -- '--array' o1 && grep -q -- '--priority' o2 && pass "submit usage lists its flags" ||
    fail "submit usage lacks --array/--priority"

# Unknown command / flag: one line on stderr naming it, exit 2, nothing started.
check_usage_error() { # NAME-IN-MESSAGE CMD...
    local name=$1
    shift
    timeout 10 "$DTR" "$@" >o 2>e </dev/null
    local rc=$?
    if [ $rc -eq 2 ] && [ "$(lines e)" = 1 ] && grep -q -- "$name" e && [ ! -s o ]; then
        pass "dtr $*: exit 2, one line naming '$name': $(cat e)"
    else
        fail "dtr $*: exit $rc, stderr ($(lines e) lines) '$(cat e)', stdout '$(head -c 200 o)'"
    fi
}
check_usage_error frobnicate frobnicate
check_usage_error frobnicate help frobnicate
check_usage_error --bogus --bogus
check_usage_error --bogus submit --bogus -- true
check_usage_error --nope status --nope
check_usage_error --nope tasks --nope
check_usage_error --nope result --nope x
check_usage_error --nope wait --nope
check_usage_error --nope cancel --nope x
check_usage_error --nope master --nope
check_usage_error --nope worker --nope
check_usage_error --nope demo --nope

expect_rc 0 "dtr --version" dtr --version && grep -Eq '[0-9]+\.[0-9]+' o &&
    pass "--version prints a version: $(head -1 o)" || fail "--version output: '$(cat o)'"

# Bad values are usage errors before any connection (nothing listens at $DEAD).
expect_rc 2 "submit --timeout 5x is a usage error" dtr submit --master "$DEAD" --timeout 5x -- true
grep -q 5x e || fail "message does not name the bad duration: $(cat e)"
expect_rc 2 "submit --priority huge is a usage error" dtr submit --master "$DEAD" --priority huge -- true
grep -q huge e || fail "message does not name the bad priority: $(cat e)"
expect_rc 2 "wait --timeout abc is a usage error" dtr wait --master "$DEAD" --all --timeout abc
expect_rc 2 "result without an id is a usage error" dtr result --master "$DEAD"
expect_rc 2 "a flag without its value is a usage error" dtr submit --master "$DEAD" --retries

# A bad task in a --file is refused by the client: the field and line named, exit 2.
printf '{"id":"ok1","cmd":"true"}\n{"id":"bad1","cmd":"true","priority":[1]}\n' >wrongtype.jsonl
expect_rc 2 "--file with a wrongly typed field is refused" dtr submit --master "$DEAD" --file wrongtype.jsonl
grep -q priority e && grep -q 2 e && pass "message names the field and line: $(cat e)" ||
    fail "message does not name field 'priority' and line 2: '$(cat e)'"
printf '{"id":"ok2","cmd":"true"}\n{"id":"ok3","cmd":"true"}\n{"id":"bad2","cmd":"true","colour":"red"}\n' >unknown.jsonl
expect_rc 2 "--file with an unknown field is refused" dtr submit --master "$DEAD" --file unknown.jsonl
grep -q colour e && grep -q 3 e && pass "message names the field and line: $(cat e)" ||
    fail "message does not name field 'colour' and line 3: '$(cat e)'"
dtr submit --master "$DEAD" --file - <unknown.jsonl >o 2>e
rc=$?
[ $rc -eq 2 ] && grep -q colour e && pass "the same from stdin (--file -): exit 2, '$(cat e)'" ||
    fail "--file - with an unknown field: exit $rc, '$(cat e)'"
printf '{"id":"x","cmd":"true","max_retries":"three"}\n' >wrongint.jsonl
expect_rc 2 "--file with max_retries a string is refused" dtr submit --master "$DEAD" --file wrongint.jsonl
grep -q max_retries e || fail "message does not name max_retries: '$(cat e)'"

# Nothing listening: exit 3 with a message.
expect_rc 3 "status against a port with nothing listening" dtr status --master "$DEAD"
[ -s e ] && pass "with a message: $(head -1 e)" || fail "no message for an unreachable master"
expect_rc 3 "submit against a port with nothing listening" dtr submit --master "$DEAD" -- true
DTR_MASTER=$DEAD expect_rc 3 "DTR_MASTER is used when --master is absent" dtr tasks

# --- 4. against a master and a worker ---------------------------------------
start_master M
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "worker registered" "workers_registered 1" || finish

# Nothing from the refused files reached the master.
dtr tasks --json >o
[ ! -s o ] && pass "no task from a refused file was submitted" || fail "tasks after refused files: $(cat o)"
expect_rc 4 "result of an unknown id" dtr result NOPE
grep -q NOPE e && pass "with a message naming it: $(cat e)" || fail "result NOPE message: '$(cat e)'"

# Durations and priorities accepted.
dtr submit --id d500 --timeout 500ms --retries 0 -- sleep 100 >/dev/null &&
    dtr submit --id d15 --timeout 1.5 --retries 0 -- sleep 100 >/dev/null &&
    dtr submit --id d10s --timeout 10s -- true >/dev/null &&
    dtr submit --id d2m --timeout 2m -- true >/dev/null &&
    dtr submit --id d1h --timeout 1h -- true >/dev/null &&
    pass "durations 500ms, 1.5, 10s, 2m, 1h accepted" || fail "a duration was refused"
for p in low:1 medium:2 high:3 7:7 -4:-4 0:0; do
    dtr submit --id "prio$((${#p}))-${p%%:*}" --priority "${p%%:*}" -- true >/dev/null ||
        fail "priority ${p%%:*} refused"
done
dtr submit --id prio-default -- true >/dev/null
dtr wait --all --timeout 20s >/dev/null 2>&1
dtr tasks --json >tasks.json
bad=0
for p in low:1 medium:2 high:3 7:7 -4:-4 0:0; do
    grep -q "\"id\":\"prio$((${#p}))-${p%%:*}\".*\"priority\":${p#*:}[,}]" tasks.json ||
        { bad=1; fail "priority ${p%%:*} not recorded as ${p#*:}"; }
done
grep -q '"id":"prio-default".*"priority":2[,}]' tasks.json || { bad=1; fail "default priority is not 2"; }
[ $bad = 0 ] && pass "priorities low/medium/high/integers recorded as 1/2/3/N, default 2"
ms() { date -d "$(sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1")" +%s%3N; }
dtr result d500 --json >d500.json 2>/dev/null
dtr result d15 --json >d15.json 2>/dev/null
d1=$(($(ms d500.json finished_at) - $(ms d500.json started_at)))
d2=$(($(ms d15.json finished_at) - $(ms d15.json started_at)))
grep -q '"state":"failed"' d500.json && [ $d1 -ge 400 ] && [ $d1 -lt 1400 ] &&
    pass "--timeout 500ms stops the attempt after ${d1}ms" || fail "500ms timeout: ran ${d1}ms: $(cat d500.json)"
grep -q '"state":"failed"' d15.json && [ $d2 -ge 1400 ] && [ $d2 -lt 3000 ] &&
    pass "--timeout 1.5 stops the attempt after ${d2}ms" || fail "1.5 timeout: ran ${d2}ms: $(cat d15.json)"
grep -q '"id":"d1h","state":"succeeded"' tasks.json && pass "a task with --timeout 1h runs normally" ||
    fail "d1h: $(grep '"id":"d1h"' tasks.json)"

# tasks --json: JSON Lines, one object per task.
n=$(lines tasks.json)
if $PY -c 'import json,sys; o=[json.loads(l) for l in sys.stdin]; assert all(isinstance(x, dict) and "id" in x and "state" in x for x in o)' \
    <tasks.json 2>py.err; then
    pass "tasks --json: $n lines, each a JSON object with id and state"
else fail "tasks --json is not JSON Lines: $(tail -1 py.err)"; fi
[ "$n" -eq 12 ] && pass "tasks --json has one line per task (12)" || fail "tasks --json has $n lines, want 12"
dtr tasks --state failed --json >failed.json
[ "$(lines failed.json)" -eq 2 ] && [ "$(grep -c '"state":"failed"' failed.json)" -eq 2 ] &&
    pass "tasks --state failed lists just the 2 failed" || fail "tasks --state failed: $(cat failed.json)"
dtr tasks >tasks.txt
bad=0
for id in d500 d15 d10s prio-default; do
    [ "$(grep -c "^$id[[:space:]]" tasks.txt)" = 1 ] || bad=1
done
[ $bad = 0 ] && pass "plain tasks: one line per task" || fail "plain tasks: $(cat tasks.txt)"

# Environment of an exec task, --env (repeatable) and --cwd.
mkdir -p "$T/wd"
dtr submit --id envtask --env FOO=bar --env "BAZ=two words" --cwd "$T/wd" -- \
    sh -c 'echo "$DTR_TASK_ID|$DTR_ATTEMPT|$DTR_WORKER_ID|$FOO|$BAZ|$(pwd)"' >/dev/null || fail "submit envtask"
dtr wait envtask --timeout 20s >/dev/null 2>&1 || fail "envtask did not succeed"
out=$(dtr result envtask)
[ "$out" = "envtask|1|W1|bar|two words|$T/wd" ] &&
    pass "DTR_TASK_ID, DTR_ATTEMPT, DTR_WORKER_ID, --env and --cwd: $out" || fail "envtask printed '$out'"

# result --json: the fields, ISO-8601 UTC times with milliseconds.
dtr result envtask --json >r.json || fail "result --json exited $?"
[ "$(lines r.json)" = 1 ] || fail "result --json is $(lines r.json) lines"
check=$(cat <<'EOF'
import json, sys, re, datetime
d = json.loads(sys.stdin.read())
for k in ("id", "state", "attempts", "worker", "exit_code", "stdout", "stderr", "result",
          "error", "submitted_at", "started_at", "finished_at"):
    assert k in d, "missing field %s" % k
assert d["id"] == "envtask" and d["state"] == "succeeded", d
assert d["attempts"] == 1 and d["worker"] == "W1" and d["exit_code"] == 0, d
assert d["stdout"].startswith("envtask|1|W1|"), d["stdout"]
assert d["stderr"] == "", d["stderr"]
assert d["error"] is None, d["error"]
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,}(Z|\+00:00)$")
ts = []
for k in ("submitted_at", "started_at", "finished_at"):
    assert iso.match(d[k]), "%s not ISO-8601 UTC with ms: %r" % (k, d[k])
    ts.append(datetime.datetime.fromisoformat(d[k].replace("Z", "+00:00")))
assert ts[0] <= ts[1] <= ts[2], ts
now = datetime.datetime.now(datetime.timezone.utc)
assert abs((now - ts[2]).total_seconds()) < 60, "finished_at far from now: %s" % ts[2]
EOF
)
$PY -c "$check" <r.json >py.out 2>&1 && pass "result --json has all the fields, ISO-8601 UTC ms times" ||
    fail "result --json: $(tail -1 py.out) -- $(cat r.json)"
dtr result d500 --json >o 2>/dev/null
$PY -c 'import json,sys; d=json.load(sys.stdin); assert d["state"]=="failed" and d["error"] and d["exit_code"] is None or isinstance(d["exit_code"], int)' <o 2>py.out &&
    pass "a failed task's result --json is one JSON object with an error" || fail "d500 --json: $(cat o)"

# Built-in kinds through submit --kind/--payload.
dtr submit --id k-tr --kind transform --payload '{"data":"hello"}' >/dev/null &&
    dtr submit --id k-echo --kind echo --payload '{"a":[1,2]}' >/dev/null &&
    dtr submit --id k-noop --kind noop >/dev/null &&
    dtr submit --id k-sleep --kind sleep --payload '{"seconds":0.1}' >/dev/null || fail "submit built-in kinds"
dtr wait k-tr k-echo k-noop k-sleep --timeout 20s >/dev/null 2>&1 && pass "built-in kinds succeed" ||
    fail "built-in kinds: $(dtr tasks | grep ' k-')"
dtr result k-tr --json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["result"]=="HELLO", d["result"]' 2>py.out &&
    pass "transform upper-cases payload.data" || fail "transform: $(tail -1 py.out)"
dtr result k-echo --json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["result"]=={"a":[1,2]}, d["result"]' 2>py.out &&
    pass "echo returns the payload" || fail "echo: $(tail -1 py.out)"
dtr result k-noop --json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["result"] is None, d["result"]' 2>py.out &&
    pass "noop returns null" || fail "noop: $(tail -1 py.out)"

# Output beyond 1 MiB per stream is cut and marked truncated.
dtr submit --id bigout -- sh -c 'head -c 2000000 /dev/zero | tr "\0" a; echo small >&2' >/dev/null ||
    fail "submit bigout"
dtr wait bigout --timeout 20s >/dev/null 2>&1 || fail "bigout did not succeed"
dtr result bigout --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
n = len(d["stdout"])
assert 1000000 <= n <= 1048576 and set(d["stdout"]) == {"a"}, "stdout is %d bytes" % n
assert any("trunc" in k and "stdout" in k and v is True for k, v in d.items()), "stdout not marked truncated: %r" % {k: v for k, v in d.items() if k != "stdout"}
assert d["stderr"] == "small\n", d["stderr"]
assert not any("trunc" in k and "stderr" in k and v for k, v in d.items()), "stderr marked truncated"
' 2>py.out && pass "2 MB of stdout is kept up to 1 MiB and marked truncated; stderr intact" ||
    fail "output limit: $(tail -1 py.out)"

# --array: ids ID-INDEX, {} replaced in every argument.
dtr submit --id arr --array 3-5 -- sh -c 'echo "x{}y $1"' sh '{}' >ids.txt || fail "submit --array"
[ "$(tr '\n' ' ' <ids.txt)" = "arr-3 arr-4 arr-5 " ] && pass "--array 3-5 prints ids arr-3 arr-4 arr-5" ||
    fail "--array ids: '$(tr '\n' ' ' <ids.txt)'"
dtr wait arr-3 arr-4 arr-5 --timeout 20s >/dev/null 2>&1 || fail "wait for the array"
ok=1
for i in 3 4 5; do [ "$(dtr result "arr-$i")" = "x${i}y $i" ] || { ok=0; fail "arr-$i printed '$(dtr result "arr-$i")'"; }; done
[ $ok = 1 ] && pass "{} is replaced by the index in each argument"

# submit --wait: exit 0 when it succeeded, 1 when it failed; ids on stdout.
dtr submit --wait --id sw-ok -- true >o 2>e
rc=$?
[ $rc -eq 0 ] && grep -qx sw-ok o && pass "submit --wait of a succeeding task: exit 0, id printed" ||
    fail "submit --wait sw-ok: exit $rc, stdout '$(cat o)'"
dtr submit --wait --id sw-bad --retries 0 -- false >o 2>e
rc=$?
[ $rc -eq 1 ] && grep -qx sw-bad o && pass "submit --wait of a failing task: exit 1, id printed" ||
    fail "submit --wait sw-bad: exit $rc, stdout '$(cat o)'"
dtr submit --wait --id sw-arr --array 1-3 --retries 0 -- sh -c '[ {} != 2 ]' >o 2>e
rc=$?
[ $rc -eq 1 ] && [ "$(head -3 o | tr '\n' ' ')" = "sw-arr-1 sw-arr-2 sw-arr-3 " ] && pass "submit --wait --array with one failing: exit 1" ||
    fail "submit --wait --array: exit $rc, stdout '$(cat o)'"
expect_rc 1 "dtr result of a failed task" dtr result sw-bad

# Finding the master: --master, else DTR_MASTER, else .dtr/master.addr.
mkdir -p "$T/home"
(cd "$T/home" && exec "$DTR" master --port "$MPORT" --log-dir "$T/logs/home" \
    --heartbeat 200ms >"$T/H.out" 2>"$T/H.err") &
H_PID=$!
PIDS+=("$H_PID")
H_ADDR=$(read_listen H) || die "master in $T/home did not start: $(cat H.err)"
grep -qx "dtr master listening on $H_ADDR" H.out && pass "master prints 'dtr master listening on $H_ADDR'" ||
    fail "master stdout: '$(cat H.out)'"
[ "$H_ADDR" != "$M_ADDR" ] && pass "second master took the next free port ($M_ADDR taken, got $H_ADDR)" ||
    fail "two masters on $H_ADDR"
wait_for "home/.dtr/master.addr" "[ -s '$T/home/.dtr/master.addr' ]" 10
[ "$(cat "$T/home/.dtr/master.addr" 2>/dev/null)" = "$H_ADDR" ] && pass ".dtr/master.addr holds $H_ADDR" ||
    fail ".dtr/master.addr: '$(cat "$T/home/.dtr/master.addr" 2>/dev/null)'"
(cd "$T/home" && unset DTR_MASTER && "$DTR" submit --id via-file -- true) >o 2>e
rc=$?
[ $rc -eq 0 ] && pass "with no --master or DTR_MASTER the client uses .dtr/master.addr" ||
    fail "submit from $T/home: exit $rc, '$(cat e)'"
dtr result via-file --master "$H_ADDR" >/dev/null 2>&1
rc=$?
[ $rc -ne 4 ] && [ $rc -ne 3 ] && pass "the task went to the master named in .dtr/master.addr" ||
    fail "via-file not known to $H_ADDR (exit $rc)"
dtr result via-file --master "$M_ADDR" >/dev/null 2>&1
[ $? -eq 4 ] && pass "and not to the other master" || fail "via-file reached $M_ADDR"
(cd "$T/home" && DTR_MASTER=$M_ADDR "$DTR" result via-file) >/dev/null 2>&1
[ $? -eq 4 ] && pass "DTR_MASTER wins over .dtr/master.addr" || fail "DTR_MASTER did not override master.addr"
(cd "$T/home" && DTR_MASTER=$DEAD "$DTR" result --master "$H_ADDR" via-file) >/dev/null 2>&1
rc=$?
[ $rc -ne 3 ] && [ $rc -ne 4 ] && pass "--master wins over DTR_MASTER" || fail "--master did not override DTR_MASTER (exit $rc)"
finish
