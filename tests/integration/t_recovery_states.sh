#!/usr/bin/env bash
# Recovery of every task state: the master holds succeeded, failed, cancelled,
# running (blocked on a file, on a dial-in worker) and queued tasks (at
# several priorities, with ties), is killed with SIGKILL and restarted on the
# same state dir and port. Finished tasks keep their state and results, the
# running ones are adopted by the returning worker (same worker, same
# attempt, not run again), and the queued ones then run in priority order
# (one slot free at a time), tied priorities in submission order.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# A master that leases tasks beyond a worker's slots (--prefetch, default: as
# many as its slots) would hand the "queued" tasks to the busy worker; keep
# them in the master's queue, where priorities apply.
NOPREFETCH=()
"$DTR" master --help 2>/dev/null | grep -q -- '--prefetch' && NOPREFETCH=(--prefetch 0)

# Blocked tasks wait for release-ID (or release-all, or the test dir going
# away); the trap releases them so no orphan outlives the test.
trap 'rc=$?; [ -d "$T" ] && : >"$T/release-all"; (exit $rc); cleanup' EXIT

# A blocker: records its execution, then waits (at most 300 s: a slow ASan run) for its file.
BLOCK='echo "$DTR_TASK_ID $DTR_ATTEMPT" >>"$DTR_T/runs.txt"; i=0
while [ ! -e "$DTR_T/release-$DTR_TASK_ID" ] && [ ! -e "$DTR_T/release-all" ] && [ -d "$DTR_T" ]; do
    i=$((i + 1)); [ "$i" -gt 6000 ] && exit 9; sleep 0.05
done
echo "out-$DTR_TASK_ID"'
# A task that records its execution; QUICK also records its start order.
RUN='echo "$DTR_TASK_ID $DTR_ATTEMPT" >>"$DTR_T/runs.txt"; echo "out-$DTR_TASK_ID"'
QUICK='echo "$DTR_TASK_ID $DTR_ATTEMPT" >>"$DTR_T/runs.txt"; echo "$DTR_TASK_ID" >>"$DTR_T/order.txt"; echo "out-$DTR_TASK_ID"'
: >runs.txt
: >order.txt

# tasks_json FILE: dtr tasks --json into FILE (fails when the master does not answer).
tasks_json() {
    dtr tasks --json >"$1.tmp" 2>"$1.err" && mv "$1.tmp" "$1" && return 0
    echo "dtr tasks --json exited $?: $(cat "$1.err")"
    return 1
}
# field ID FIELD: one field of one task from `dtr tasks --json` (Python repr).
field() {
    dtr tasks --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    t = json.loads(l)
    if t["id"] == sys.argv[1]: print(t[sys.argv[2]])' "$1" "$2"
}
# running_on W: sorted ids the master reports running on worker W.
running_on() {
    dtr tasks --state running --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    t = json.loads(l)
    if t["worker"] == sys.argv[1]: print(t["id"])' "$1" | sort | tr '\n' ' '
}
runs_of() { grep -c "^$1 " runs.txt; }

start_master M "${NOPREFETCH[@]}"
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "W1 registered" "workers_registered 1" || finish

# ---- finished tasks: succeeded, failed (exit 1 and exit 7), a built-in result
dtr submit --id ok --retries 0 -e DTR_T="$T" -- sh -c "$RUN"'; echo warn-ok >&2' >/dev/null &&
    dtr submit --id fail1 --retries 0 -e DTR_T="$T" --cmd "$RUN; echo partial-fail1; exit 1" >/dev/null &&
    dtr submit --id fail7 --retries 0 -e DTR_T="$T" -- sh -c "$RUN; exit 7" >/dev/null &&
    dtr submit --id sum --kind compute --payload '{"numbers":[1,2,39]}' >/dev/null ||
    die "submitting the finished tasks failed"
dtr wait ok fail1 fail7 sum --timeout 20s >wait1.out 2>&1
rc=$?
[ "$rc" -eq 1 ] && pass "ok/fail1/fail7/sum ended (wait exits 1: two failed)" ||
    fail "dtr wait on the finished tasks exited $rc, expected 1: $(tail -n 2 wait1.out)"

# ---- a running task cancelled, and a queued one cancelled (below)
dtr submit --id cr --retries 0 -e DTR_T="$T" --cmd "$BLOCK" >/dev/null || die "submit cr failed"
wait_for "cr running" '[ "$(runs_of cr)" -eq 1 ]' || finish
dtr cancel cr >cancel-cr.out 2>&1 || fail "dtr cancel cr: $(cat cancel-cr.out)"
wait_for "cr cancelled" '[ "$(field cr state)" = cancelled ]' || finish

# ---- two blockers fill the worker's two slots
dtr submit --id B1 --retries 0 -e DTR_T="$T" --cmd "$BLOCK" >/dev/null &&
    dtr submit --id B2 --retries 0 -e DTR_T="$T" --cmd "$BLOCK" >/dev/null || die "submit B1/B2 failed"
wait_for "B1 and B2 run on W1" '[ "$(running_on W1)" = "B1 B2 " ] && [ "$(runs_of B1)" = 1 ] && [ "$(runs_of B2)" = 1 ]' ||
    finish
pass "B1 and B2 hold both slots of W1"

# ---- queued tasks, submitted in a scrambled priority order
# (id priority): ties at 5 must keep submission order e1, e2, e3; qdef has the
# default priority (medium = 2) and comes after qmed.
QUEUED="qlow:low qe1:5 qmed:medium q10:10 qe2:5 qhigh:high qneg:-5 qe3:5 qdef:"
EXPECT_ORDER="q10 qe1 qe2 qe3 qhigh qmed qdef qlow qneg"
for spec in $QUEUED; do
    id=${spec%%:*} prio=${spec#*:}
    if [ -n "$prio" ]; then
        dtr submit --id "$id" --priority "$prio" --retries 0 -e DTR_T="$T" --cmd "$QUICK" >/dev/null
    else
        dtr submit --id "$id" --retries 0 -e DTR_T="$T" --cmd "$QUICK" >/dev/null
    fi || die "submit $id failed"
done
# A queued task cancelled before it ran (it would have run first).
dtr submit --id cq --priority 100 --retries 0 -e DTR_T="$T" --cmd "$QUICK" >/dev/null || die "submit cq failed"
dtr cancel cq >cancel-cq.out 2>&1 || fail "dtr cancel cq: $(cat cancel-cq.out)"
[ "$(count_state queued)" = 9 ] && [ ! -s order.txt ] &&
    pass "9 tasks queued behind the blockers, none ran" ||
    fail "before the kill: queued=$(count_state queued), order.txt: $(tr '\n' ' ' <order.txt)"

tasks_json before.json || die "dtr tasks --json failed"
"$PY" - before.json <<'EOF' >before.check 2>&1
import json, sys
want = {"ok": "succeeded", "fail1": "failed", "fail7": "failed", "sum": "succeeded",
        "cr": "cancelled", "cq": "cancelled", "B1": "running", "B2": "running"}
for q in "qlow qe1 qmed q10 qe2 qhigh qneg qe3 qdef".split():
    want[q] = "queued"
got = {}
for l in open(sys.argv[1]):
    t = json.loads(l)
    got[t["id"]] = t["state"]
bad = ["%s: %s, expected %s" % (k, got.get(k), v) for k, v in want.items() if got.get(k) != v]
if set(got) != set(want):
    bad.append("ids: %s" % sorted(set(got) ^ set(want)))
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "before the kill the master holds every state" ||
    die "states before the kill: $(cat before.check)"
# The outputs before the kill, to compare after it.
for id in ok fail1 fail7 sum cr cq; do
    dtr result "$id" --json >"before-$id.json" 2>/dev/null
    [ -s "before-$id.json" ] || fail "dtr result $id --json printed nothing before the kill"
done

# ---- kill -9 the master, restart it on the same state dir and port
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
pass "master killed with SIGKILL"
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED" --state-dir "$T/state-M" "${NOPREFETCH[@]}"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] && pass "master restarted on the same port $MPORT_USED" ||
    die "restarted master listens on $M_ADDR, expected port $MPORT_USED"

# The worker dials back in and declares both blockers: the master adopts them.
wait_for "W1 re-registered adopting 2 attempts" \
    "grep -q 'worker reconciled id=W1 .* adopted=2' '$T/logs/master.log'" 20 &&
    pass "master log: $(grep 'worker reconciled id=W1 .* adopted=2' "$T/logs/master.log" | tail -n 1 | cut -d' ' -f3-)"

tasks_json after.json || die "dtr tasks --json failed after the restart"
"$PY" - before.json after.json <<'EOF' >after.check 2>&1
import json, sys
before = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
after = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
bad = []
if set(before) != set(after):
    bad.append("ids differ: lost %s, new %s" % (sorted(set(before) - set(after)),
                                                 sorted(set(after) - set(before))))
for i in "ok fail1 fail7 sum cr cq".split():
    if i in after and after[i] != before[i]:
        diff = {k: (before[i].get(k), after[i].get(k)) for k in set(before[i]) | set(after[i])
                if before[i].get(k) != after[i].get(k)}
        bad.append("%s changed: %s" % (i, diff))
for i in "B1 B2".split():
    t = after.get(i)
    if not t:
        continue
    if (t["state"], t["worker"], t["attempts"], t["crashes"]) != ("running", "W1", 1, 0):
        bad.append("%s: state=%s worker=%s attempts=%s crashes=%s, expected running on W1, 1 attempt, 0 crashes"
                   % (i, t["state"], t["worker"], t["attempts"], t["crashes"]))
    if t["started_ms"] != before[i]["started_ms"]:
        bad.append("%s: started_ms %s -> %s (re-dispatched?)" % (i, before[i]["started_ms"], t["started_ms"]))
for i in "qlow qe1 qmed q10 qe2 qhigh qneg qe3 qdef".split():
    t = after.get(i)
    if t and (t["state"], t["attempts"], t["priority"]) != ("queued", 0, before[i]["priority"]):
        bad.append("%s: state=%s attempts=%s priority=%s" % (i, t["state"], t["attempts"], t["priority"]))
exp = {"ok": ("succeeded", 0), "fail1": ("failed", 1), "fail7": ("failed", 7), "sum": ("succeeded", 0)}
for i, (st, code) in exp.items():
    t = after.get(i)
    if t and (t["state"], t["exit_code"]) != (st, code):
        bad.append("%s: state=%s exit_code=%s, expected %s/%s" % (i, t["state"], t["exit_code"], st, code))
for i in "cr cq".split():
    t = after.get(i)
    if t and (t["state"], t["error"]) != ("cancelled", "cancelled"):
        bad.append("%s: state=%s error=%s" % (i, t["state"], t["error"]))
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "after the restart: finished tasks unchanged, B1/B2 running on W1 (attempt 1, no crash), 9 still queued" ||
    fail "task records after the restart: $(cat after.check)"

# The results of the finished tasks, in plain and JSON form.
out=$(dtr result ok 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] && [ "$out" = "out-ok" ] && pass "dtr result ok: exit 0, stdout preserved" ||
    fail "dtr result ok: exit $rc, stdout '$out'"
out=$(dtr result fail1 2>/dev/null)
rc=$?
[ "$rc" -eq 1 ] && [ "$out" = "$(printf 'out-fail1\npartial-fail1')" ] &&
    pass "dtr result fail1: exit 1, stdout preserved" || fail "dtr result fail1: exit $rc, stdout '$out'"
bad=""
for id in ok fail1 fail7 sum cr cq; do
    dtr result "$id" --json >"after-$id.json" 2>/dev/null || true
    cmp -s "before-$id.json" "after-$id.json" || bad="$bad $id"
done
if [ -z "$bad" ]; then
    pass "dtr result --json identical before and after the restart (ok fail1 fail7 sum cr cq)"
else
    first=$(echo $bad | cut -d' ' -f1)
    fail "dtr result --json changed for:$bad ($first: $(diff "before-$first.json" "after-$first.json" | head -c 600))"
fi
"$PY" - after-ok.json after-sum.json after-fail7.json <<'EOF' >res.check 2>&1
import json, sys
ok, s, f7 = (json.load(open(p)) for p in sys.argv[1:4])
bad = []
if (ok["stdout"], ok["stderr"], ok["exit_code"]) != ("out-ok\n", "warn-ok\n", 0):
    bad.append("ok: stdout=%r stderr=%r exit=%r" % (ok["stdout"], ok["stderr"], ok["exit_code"]))
if (s["state"], s["result"]) != ("succeeded", 42):
    bad.append("sum: state=%s result=%r" % (s["state"], s["result"]))
if (f7["exit_code"], f7["stdout"]) != (7, "out-fail7\n"):
    bad.append("fail7: exit=%r stdout=%r" % (f7["exit_code"], f7["stdout"]))
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "recovered outputs: ok stdout/stderr, sum result 42, fail7 exit code 7" ||
    fail "recovered outputs: $(cat res.check)"

[ "$(runs_of B1)" = 1 ] && [ "$(runs_of B2)" = 1 ] && [ ! -s order.txt ] &&
    pass "nothing was re-run by the restart (B1, B2 once each, no queued task started)" ||
    fail "after the restart: runs.txt: $(tr '\n' ' ' <runs.txt) order.txt: $(tr '\n' ' ' <order.txt)"

# ---- one slot frees: the queued tasks run one at a time, in priority order
: >release-B1
wait_for "B1 succeeded" '[ "$(field B1 state)" = succeeded ]' || finish
wait_for "the 9 queued tasks ran" '[ "$(wc -l <order.txt)" -ge 9 ] && [ "$(count_state queued)" = 0 ] && [ "$(count_state running)" = 1 ]' 30
order=$(tr '\n' ' ' <order.txt | sed 's/ $//')
[ "$order" = "$EXPECT_ORDER" ] && pass "queued tasks ran in priority order: $order" ||
    fail "queued tasks ran in the order '$order', expected '$EXPECT_ORDER'"
[ "$(running_on W1)" = "B2 " ] && pass "B2 still runs on W1 meanwhile" ||
    fail "running on W1: '$(running_on W1)', expected B2 only"
: >release-B2
dtr wait B1 B2 $EXPECT_ORDER --timeout 20s >wait2.out 2>&1 && pass "dtr wait: B1, B2 and the 9 queued tasks succeeded" ||
    fail "dtr wait exited $?: $(tail -n 2 wait2.out)"

# ---- the end state
tasks_json final.json || die "dtr tasks --json failed at the end"
"$PY" - final.json runs.txt <<'EOF' >final.check 2>&1
import collections, json, sys
tasks = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
runs = collections.Counter(l.split()[0] for l in open(sys.argv[2]) if l.strip())
attempts = {tuple(l.split()) for l in open(sys.argv[2]) if l.strip()}
want = {"ok": "succeeded", "fail1": "failed", "fail7": "failed", "sum": "succeeded",
        "cr": "cancelled", "cq": "cancelled", "B1": "succeeded", "B2": "succeeded"}
for q in "qlow qe1 qmed q10 qe2 qhigh qneg qe3 qdef".split():
    want[q] = "succeeded"
bad = []
if set(tasks) != set(want):
    bad.append("ids: %s" % sorted(set(tasks) ^ set(want)))
for i, st in want.items():
    t = tasks.get(i)
    if not t:
        continue
    if t["state"] != st:
        bad.append("%s is %s, expected %s (error=%s)" % (i, t["state"], st, t["error"]))
    if i != "cq" and (t["attempts"], t["crashes"], t["worker"]) != (1, 0, "W1"):
        bad.append("%s: attempts=%s crashes=%s worker=%s" % (i, t["attempts"], t["crashes"], t["worker"]))
    n = runs.get(i, 0)
    expect = 0 if i in ("cq", "sum") else 1
    if n != expect:
        bad.append("%s executed %d times, expected %d" % (i, n, expect))
for i, a in attempts:
    if a != "1":
        bad.append("%s ran with DTR_ATTEMPT=%s" % (i, a))
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] && pass "end state: every task right, each executed exactly once with attempt 1, cq never ran" ||
    fail "end state: $(cat final.check)"
for id in B1 B2 q10 qneg; do
    out=$(dtr result "$id" 2>/dev/null)
    [ "$out" = "out-$id" ] || fail "dtr result $id: '$out', expected 'out-$id'"
done

# ---- a second kill -9 and restart: the finished state is stable
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
mv M.out M-second.out
mv M.err M-second.err
start_master M --port "$MPORT_USED" --state-dir "$T/state-M" "${NOPREFETCH[@]}"
tasks_json final2.json || die "dtr tasks --json failed after the second restart"
cmp -s final.json final2.json && pass "a second SIGKILL and restart changes no task record" ||
    fail "task records changed across the second restart: $(diff final.json final2.json | head -c 800)"
[ "$(dtr result B2 2>/dev/null)" = out-B2 ] && pass "dtr result B2 still works after the second restart" ||
    fail "dtr result B2 after the second restart: '$(dtr result B2 2>&1)'"
finish
