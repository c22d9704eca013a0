#!/usr/bin/env bash
# The proof of issue 12: the master killed with SIGKILL in the middle of a
# 2,000-task DAG and restarted: 0 lost, 0 run twice, 0 run before a
# dependency succeeded. The DAG is 20 layers of 100 exec tasks; each task
# needs two of the layer before (after) and every tenth also waits for a
# third to end however (after_any). One task fails, so its `after`
# dependents are cancelled, recursively, while after_any ones still run.
# Every check is made from the tasks' own records (each attempt appends
# "ID start T" and "ID end T EXIT" to a file) against the graph, and the
# master's final states against those the graph implies.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

LOG="$T/records.txt"
: >"$LOG"
nothing_left() {
    dtr status --json | "$PY" -c 'import json,sys
t = json.load(sys.stdin)["tasks"]
sys.exit(0 if t["blocked"] + t["queued"] + t["running"] == 0 else 1)'
}

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 4
start_worker W2 --master "$M_ADDR" --slots 4
wait_for "W1 and W2 registered" "workers_registered 2" || finish

# The graph (graph.jsonl, submitted) and what each task should end as
# (graph.want: "ID STATE"), and its edges (graph.deps: "ID after|any DEP").
# bash's $EPOCHREALTIME stamps the records without a fork.
"$PY" - "$LOG" <<'EOF'
import json, sys
log = sys.argv[1]
L, W, FAIL = 20, 100, "d4-10"
want, specs, edges = {}, [], []
for l in range(L):
    for i in range(W):
        tid = "d%d-%d" % (l, i)
        after = sorted({"d%d-%d" % (l - 1, i), "d%d-%d" % (l - 1, (i + 7) % W)}) if l else []
        any_ = ["d%d-%d" % (l - 1, (i + 1) % W)] if l and i % 10 == 0 else []
        code = 1 if tid == FAIL else 0
        script = ('echo "$DTR_TASK_ID start $EPOCHREALTIME" >>%s; '
                  'echo "$DTR_TASK_ID end $EPOCHREALTIME %d" >>%s; exit %d' % (log, code, log, code))
        spec = {"id": tid, "argv": ["bash", "-c", script], "max_retries": 0}
        if after:
            spec["after"] = after
        if any_:
            spec["after_any"] = any_
        specs.append(spec)
        edges += ["%s after %s" % (tid, d) for d in after] + ["%s any %s" % (tid, d) for d in any_]
        if any(want[d] != "succeeded" for d in after):
            want[tid] = "cancelled"
        else:
            want[tid] = "failed" if code else "succeeded"
# Dependents named before their dependencies: the file goes out in reverse.
with open("graph.jsonl", "w") as f:
    for s in reversed(specs):
        f.write(json.dumps(s) + "\n")
with open("graph.want", "w") as f:
    for tid, st in want.items():
        f.write("%s %s\n" % (tid, st))
with open("graph.deps", "w") as f:
    f.write("\n".join(edges) + "\n")
EOF
[ "$(wc -l <graph.jsonl)" = 2000 ] || die "graph: $(wc -l <graph.jsonl) specs"
ncancel=$(grep -c " cancelled$" graph.want)
dtr submit --file graph.jsonl >graph.ids 2>submit.err || die "submit the graph: $(cat submit.err)"
[ "$(wc -l <graph.ids)" = 2000 ] && pass "2000-task DAG stored ($ncancel to be cancelled by one failure)" ||
    fail "graph: $(wc -l <graph.ids) ids"

wait_for "600 graph tasks ended" '[ "$(grep -c " end " "$LOG")" -ge 600 ]' 60
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
ended=$(grep -c " end " "$LOG")
[ "$ended" -lt 1900 ] && pass "master killed with SIGKILL after $ended graph tasks ended" ||
    fail "the graph (nearly) finished before the kill ($ended)"
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] || die "restarted master listens on $M_ADDR"
wait_for "the graph ends after the restart" nothing_left 90
dtr tasks --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    t = json.loads(l); print(t["id"], t["state"])' | sort >graph.got
sort graph.want >graph.want.sorted
cmp -s graph.got graph.want.sorted &&
    pass "every task ended as the graph says: 0 lost ($(grep -c " succeeded$" graph.got) succeeded, 1 failed, $ncancel cancelled)" ||
    fail "final states differ from the graph: $(diff graph.want.sorted graph.got | head -5)"

# From the records: each task that was to run ran exactly once; none that
# was to be cancelled ran; every start came after each dependency that ran
# ended (after: and succeeded; an after_any dependency may have been
# cancelled without running).
out=$("$PY" - "$LOG" graph.deps graph.want <<'EOF'
import sys, collections
starts, ends = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3 and p[1] == "start":
        starts[p[0]].append(float(p[2]))
    elif len(p) == 4 and p[1] == "end":
        ends[p[0]].append((float(p[2]), int(p[3])))
    else:
        sys.exit("a torn record: %r" % line)
want = dict(line.split() for line in open(sys.argv[3]))
bad = []
for tid, st in want.items():
    n = 0 if st == "cancelled" else 1
    if len(starts[tid]) != n or len(ends[tid]) != n:
        bad.append("%s (%s) ran %d times, %d ends" % (tid, st, len(starts[tid]), len(ends[tid])))
for line in open(sys.argv[2]):
    tid, kind, dep = line.split()
    if not starts[tid]:
        continue
    if kind == "any" and want[dep] == "cancelled":
        continue  # ended without running: nothing in the records to order by
    if not ends[dep]:
        bad.append("%s ran but %s never ended" % (tid, dep))
        continue
    end, code = max(ends[dep])
    if starts[tid][0] <= end:
        bad.append("%s started before %s ended" % (tid, dep))
    if kind == "after" and code != 0:
        bad.append("%s ran though %s failed" % (tid, dep))
print("; ".join(bad[:8]) or "ok")
sys.exit(1 if bad else 0)
EOF
) && pass "from the records: 0 run twice, 0 cancelled task run, 0 run before a dependency succeeded" ||
    fail "records: $out"
finish
