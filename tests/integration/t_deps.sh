#!/usr/bin/env bash
# Task dependencies (after, after_any) end to end: a diamond of exec tasks
# in one JSON Lines file, each started after its dependencies ended; a
# failure that cancels its dependents (error texts) while an after_any task
# still runs; refusals (unknown id, cycle, self) that store nothing and exit
# 2; cancelling a blocked task and a dependency; and a master killed with
# SIGKILL in the middle of a 300-task graph and restarted: no task lost,
# none run twice, none started before its dependencies ended.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# Each task logs "ID start NS" and "ID end NS" (ns since the epoch).
LOG="$T/times.txt"
: >"$LOG"
step() { # step ID [SLEEP [EXIT]]: the cmd of a task that logs its run
    echo "echo \"\$DTR_TASK_ID start \$(date +%s%N)\" >>$LOG; sleep ${1:-0}; echo \"\$DTR_TASK_ID end \$(date +%s%N)\" >>$LOG; exit ${2:-0}"
}
gate() { # gate FILE: the same, ending only once FILE exists (no race with a slow machine)
    echo "echo \"\$DTR_TASK_ID start \$(date +%s%N)\" >>$LOG; while [ ! -e '$1' ]; do sleep 0.02; done; echo \"\$DTR_TASK_ID end \$(date +%s%N)\" >>$LOG"
}
# state ID: the task's state; error ID: its error.
field() {
    dtr tasks --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    t = json.loads(l)
    if t["id"] == sys.argv[1]: print(t[sys.argv[2]])' "$1" "$2"
}
# check_order DEPS_FILE: every task in DEPS_FILE ("ID DEP..." per line)
# started once, after each DEP ended; prints what is wrong.
check_order() {
    "$PY" - "$LOG" "$1" <<'EOF'
import sys, collections
starts, ends = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 3:
        continue
    (starts if parts[1] == "start" else ends)[parts[0]].append(int(parts[2]))
bad = []
for line in open(sys.argv[2]):
    ids = line.split()
    if not ids:
        continue
    t, deps = ids[0], ids[1:]
    if len(starts[t]) != 1 or len(ends[t]) != 1:
        bad.append("%s ran %d times (%d ends)" % (t, len(starts[t]), len(ends[t])))
        continue
    for d in deps:
        if not ends[d]:
            bad.append("%s ran but its dependency %s never ended" % (t, d))
        elif starts[t][0] <= max(ends[d]):
            bad.append("%s started before its dependency %s ended" % (t, d))
print("; ".join(bad[:10]))
sys.exit(1 if bad else 0)
EOF
}

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "W1 registered" "workers_registered 1" || finish

# ---- a diamond in one file, dependents named before their dependencies
{
    echo "{\"id\":\"d-join\",\"cmd\":$(step 0 | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))'),\"after\":[\"d-left\",\"d-right\"]}"
    echo "{\"id\":\"d-left\",\"cmd\":$(step 0.2 | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))'),\"after\":[\"d-top\"]}"
    echo "{\"id\":\"d-right\",\"cmd\":$(step 0 | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))'),\"after\":[\"d-top\"]}"
    echo "{\"id\":\"d-top\",\"cmd\":$(gate "$T/diamond-go" | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')}"
} >diamond.jsonl
dtr submit --file diamond.jsonl >diamond.ids 2>diamond.err ||
    die "diamond submit failed: $(cat diamond.err)"
[ "$(field d-join state)" = blocked ] && [ "$(count_state blocked)" -ge 2 ] &&
    dtr tasks --state blocked | grep -q d-join &&
    pass "a task waiting for others is blocked (tasks, tasks --state blocked, status)" ||
    fail "d-join is $(field d-join state), status counts $(count_state blocked) blocked"
: >"$T/diamond-go"
dtr wait d-join d-left d-right d-top >/dev/null 2>&1
[ "$(field d-join state)" = succeeded ] || fail "d-join ended $(field d-join state)"
printf 'd-top\nd-left d-top\nd-right d-top\nd-join d-left d-right\n' >diamond.deps
out=$(check_order diamond.deps) && pass "diamond: each task started once, after its dependencies ended" ||
    fail "diamond order: $out"

# ---- a failure cancels what needs it to succeed; after_any still runs
dtr submit --id f-bad --retries 1 -- sh -c 'exit 3' >/dev/null
dtr submit --id f-child --after f-bad -- true >/dev/null
dtr submit --id f-grandchild --after f-child -- true >/dev/null
dtr submit --id f-cleanup --after-any f-bad,f-child -- true >/dev/null
wait_for "f-cleanup ran" '[ "$(field f-cleanup state)" = succeeded ]' 30
[ "$(field f-bad state)" = failed ] && [ "$(field f-bad attempts)" = 2 ] &&
    [ "$(field f-child state)" = cancelled ] &&
    [ "$(field f-child error)" = "dependency f-bad failed" ] &&
    [ "$(field f-grandchild state)" = cancelled ] &&
    [ "$(field f-grandchild error)" = "dependency f-child was cancelled" ] &&
    pass "a failed dependency (after its retry) cancels its dependents, recursively; after_any runs" ||
    fail "cascade: f-bad $(field f-bad state)/$(field f-bad attempts), f-child $(field f-child state) '$(field f-child error)', f-grandchild $(field f-grandchild state) '$(field f-grandchild error)'"
# A task submitted after its dependency failed ends at once.
dtr submit --id f-late --after f-bad -- true >/dev/null
[ "$(field f-late state)" = cancelled ] && pass "a dependency that already failed cancels a new dependent" ||
    fail "f-late is $(field f-late state)"
dtr wait f-late >/dev/null 2>&1
[ $? -eq 1 ] && pass "dtr wait on a cancelled dependent exits 1" || fail "dtr wait exit status"

# ---- refusals: whole batch, nothing stored, exit 2
before=$(dtr tasks | wc -l)
printf '{"id":"r-a","cmd":"true"}\n{"id":"r-b","cmd":"true","after":["r-nope"]}\n' >unknown.jsonl
dtr submit --file unknown.jsonl >/dev/null 2>unknown.err
rc=$?
[ $rc -eq 2 ] && grep -q "dependency 'r-nope' of task 2 ('r-b') is unknown" unknown.err &&
    pass "an unknown dependency refuses the batch, exit 2" ||
    fail "unknown dependency: exit $rc, $(cat unknown.err)"
printf '{"id":"c-a","cmd":"true","after":["c-b"]}\n{"id":"c-b","cmd":"true","after":["c-c"]}\n{"id":"c-c","cmd":"true","after_any":["c-a"]}\n' >cycle.jsonl
dtr submit --file cycle.jsonl >/dev/null 2>cycle.err
rc=$?
[ $rc -eq 2 ] && grep -q "dependency cycle: c-a -> c-b -> c-c -> c-a" cycle.err &&
    pass "a cycle is refused, named, exit 2" || fail "cycle: exit $rc, $(cat cycle.err)"
dtr submit --id s-self --after s-self -- true >/dev/null 2>self.err
rc=$?
[ $rc -eq 2 ] && grep -q "on itself" self.err && pass "a task depending on itself is refused, exit 2" ||
    fail "self: exit $rc, $(cat self.err)"
dtr submit --after 'bad id' -- true >/dev/null 2>badid.err
[ $? -eq 2 ] && pass "an invalid id in --after is refused by the CLI, exit 2" || fail "bad id: $(cat badid.err)"
[ "$(dtr tasks | wc -l)" = "$before" ] && pass "refused batches stored nothing" ||
    fail "task count $before became $(dtr tasks | wc -l)"

# ---- a file larger than one submit batch (2000), dependents first
"$PY" -c 'import json
for i in range(2500): print(json.dumps({"id": "p-%d" % i, "kind": "noop", "after": ["q-%d" % i]}))
for i in range(2500): print(json.dumps({"id": "q-%d" % i, "kind": "noop"}))' >big.jsonl
dtr submit --file big.jsonl >big.ids 2>big.err
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <big.ids)" = 5000 ] && [ "$(sort big.ids | uniq | wc -l)" = 5000 ] &&
    pass "a 5000-task file naming later tasks goes out in dependency order" ||
    fail "big file: exit $rc, $(wc -l <big.ids) ids, $(cat big.err)"
dtr wait p-0 p-2499 q-0 >/dev/null 2>&1 && pass "its tasks ran" || fail "big file tasks did not succeed"
"$PY" -c 'import json
print(json.dumps({"id": "y-0", "kind": "noop", "after": ["y-1"]}))
for i in range(1, 2500): print(json.dumps({"id": "y-%d" % i, "kind": "noop"}))
print(json.dumps({"id": "y-last", "kind": "noop", "after": ["y-0"]}))
print(json.dumps({"id": "y-1-dup", "kind": "noop"}))' >bigcycle.jsonl
sed -i 's/{"id": "y-1", "kind": "noop"}/{"id": "y-1", "kind": "noop", "after": ["y-last"]}/' bigcycle.jsonl
before=$(dtr tasks | wc -l)
dtr submit --file bigcycle.jsonl >/dev/null 2>bigcycle.err
rc=$?
[ $rc -eq 2 ] && grep -q "dependency cycle: y-0 -> y-1 -> y-last -> y-0" bigcycle.err &&
    [ "$(dtr tasks | wc -l)" = "$before" ] &&
    pass "a cycle in a file of several batches is named by dtr submit, nothing sent, exit 2" ||
    fail "big cycle: exit $rc, $(cat bigcycle.err)"

# ---- cancel a blocked task, and a dependency of blocked tasks
dtr submit --id k-gate -- sh -c "while [ ! -e '$T/open' ]; do sleep 0.05; done" >/dev/null
dtr submit --id k-a --after k-gate -- true >/dev/null
dtr submit --id k-b --after k-a -- true >/dev/null
dtr submit --id k-c --after k-gate -- true >/dev/null
dtr submit --id k-any --after-any k-gate -- true >/dev/null
dtr cancel k-a >/dev/null 2>&1
[ "$(field k-a state)" = cancelled ] && [ "$(field k-a error)" = cancelled ] &&
    [ "$(field k-b error)" = "dependency k-a was cancelled" ] && [ "$(field k-c state)" = blocked ] &&
    pass "cancelling a blocked task cancels its dependents only" ||
    fail "cancel blocked: k-a $(field k-a state), k-b '$(field k-b error)', k-c $(field k-c state)"
wait_for "k-gate running" '[ "$(field k-gate state)" = running ]'
dtr cancel k-gate >/dev/null 2>&1
wait_for "k-any ran" '[ "$(field k-any state)" = succeeded ]'
[ "$(field k-c error)" = "dependency k-gate was cancelled" ] &&
    pass "cancelling a running dependency cancels its dependents; after_any runs" ||
    fail "cancel dependency: k-c $(field k-c state) '$(field k-c error)'"
: >"$T/open"

# ---- kill -9 the master in the middle of a 300-task graph
# 30 layers of 10; task L-i needs L-1 tasks i and i+1 (mod 10), and every
# fifth one also waits (after_any) for the task before it in its layer.
"$PY" - "$(step 0.02)" >graph.jsonl 2>graph.deps <<'EOF'
import json, sys
cmd = sys.argv[1]
for l in range(30):
    for i in range(10):
        spec = {"id": "g%d-%d" % (l, i), "cmd": cmd}
        deps = []
        if l:
            spec["after"] = ["g%d-%d" % (l - 1, i), "g%d-%d" % (l - 1, (i + 1) % 10)]
            deps += spec["after"]
        if i and i % 5 == 0:
            spec["after_any"] = ["g%d-%d" % (l, i - 1)]
            deps += spec["after_any"]
        print(json.dumps(spec))
        sys.stderr.write(" ".join([spec["id"]] + deps) + "\n")
EOF
dtr submit --file graph.jsonl >graph.ids 2>graph.err || die "graph submit failed: $(cat graph.err)"
[ "$(wc -l <graph.ids)" = 300 ] || fail "graph: $(wc -l <graph.ids) ids"
wait_for "60 graph tasks ended" '[ "$(grep -c "^g.* end " "$LOG")" -ge 60 ]' 60
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
ended=$(grep -c "^g.* end " "$LOG")
[ "$ended" -lt 300 ] && pass "master killed with SIGKILL after $ended of 300 graph tasks" ||
    fail "the graph finished before the kill ($ended)"
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] || die "restarted master listens on $M_ADDR"
# nothing_left: no task blocked, queued or running.
nothing_left() {
    dtr status --json | "$PY" -c 'import json,sys
t = json.load(sys.stdin)["tasks"]
sys.exit(0 if t["blocked"] + t["queued"] + t["running"] == 0 else 1)'
}
wait_for "the graph ends after the restart" nothing_left 90
n=$(dtr tasks --json | grep -c '"id":"g[0-9]*-[0-9]*","state":"succeeded"')
[ "$n" = 300 ] && pass "after the restart all 300 graph tasks succeeded (none lost)" ||
    fail "$n of 300 graph tasks succeeded"
out=$(check_order graph.deps) &&
    pass "none ran twice, none started before its dependencies ended (across the kill)" ||
    fail "graph order: $out"
finish
