#!/usr/bin/env bash
# Chaos on loopback: 1000 short exec tasks (--retries 0) over three dial-in
# workers while a seeded random schedule of 6-10 faults SIGKILLs a worker (and
# restarts it with the same --id) or the master (restarted on the same state
# dir and port). At the end no task is lost: every one succeeded and its
# result is readable. A task may have run more than once only when an
# attempt was lost with its worker: each such task records a crash, and its
# executions have distinct attempt numbers.
#
# CHAOS_SEED=N replays a schedule (the seed is printed); CHAOS_N=N changes the
# number of tasks.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=${CHAOS_N:-1000}
SEED=${CHAOS_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
echo "seed: $SEED (replay with CHAOS_SEED=$SEED)"
: >exec.log

start_master M
MPORT_USED=${M_ADDR##*:}
ADDR0=$M_ADDR
for w in W1 W2 W3; do
    start_worker "$w" --master "$ADDR0" --slots 4
done
wait_for "three workers registered" "workers_registered 3" || finish

# The workload and the fault plan, both from the seed. Each task logs
# "ID ATTEMPT WORKER" when it starts, sleeps 10-50 ms and prints out-ID.
"$PY" - "$SEED" "$N" "$T/exec.log" "$T/plan.txt" >tasks.jsonl <<'EOF'
import json, random, shlex, sys
seed, n, log, plan = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = random.Random(seed)
for i in range(1, n + 1):
    cmd = ('echo "$DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID" >>%s; sleep %.3f; echo "out-$DTR_TASK_ID"'
           % (shlex.quote(log), r.uniform(0.01, 0.05)))
    print(json.dumps({"id": "c-%d" % i, "cmd": cmd, "max_retries": 0}))
nf = r.randint(6, 10)
kinds = [r.choice(["M", "W1", "W2", "W3"]) for _ in range(nf)]
if "M" not in kinds:
    kinds[r.randrange(nf)] = "M"
if all(k == "M" for k in kinds):
    kinds[r.randrange(nf)] = r.choice(["W1", "W2", "W3"])
# Each fault fires once that many tasks have succeeded (3%..85% of the run).
marks = sorted(r.sample(range(max(1, n * 3 // 100), max(2, n * 85 // 100)), nf))
with open(plan, "w") as f:
    for m, k in zip(marks, kinds):
        f.write("%d %s\n" % (m, k))
EOF
[ -s plan.txt ] || die "no fault plan"
echo "fault plan (succeeded-count kind): $(tr '\n' ',' <plan.txt | sed 's/,$//; s/,/, /g')"

t0=$SECONDS
dtr submit --file tasks.jsonl >ids.txt 2>submit.err || die "submit failed: $(cat submit.err)"
[ "$(wc -l <ids.txt)" -eq "$N" ] || die "submit printed $(wc -l <ids.txt) ids, expected $N"
pass "$N tasks submitted"

# ---- the faults, each once the run has reached its mark; the loop is
# bounded to 90 s in all (times WAIT_SCALE).
deadline=$((SECONDS + 90 * WAIT_SCALE)) # lib.sh: 3 under sanitizers
succeeded() { local n; n=$(count_state succeeded 2>/dev/null); echo "${n:-0}"; }
nm=0 nw=0 i=0 bounded=1
while read -r mark kind; do
    i=$((i + 1))
    left=$((deadline - SECONDS))
    if [ "$left" -le 0 ] || ! WAIT_SCALE=1 wait_for "$mark tasks succeeded (fault $i)" "[ \$(succeeded) -ge $mark ]" "$left"; then
        bounded=0
        break
    fi
    at=$(succeeded)
    if [ "$kind" = M ]; then
        { kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
        mv M.out "M-$i.out"
        mv M.err "M-$i.err"
        start_master M --port "$MPORT_USED" --state-dir "$T/state-M"
        [ "$M_ADDR" = "$ADDR0" ] || die "master restarted on $M_ADDR, not $ADDR0: the workers cannot find it"
        nm=$((nm + 1))
    else
        pid_var=${kind}_PID
        { kill -9 "${!pid_var}"; wait "${!pid_var}"; } 2>/dev/null
        mv "$kind.out" "$kind-$i.out"
        mv "$kind.err" "$kind-$i.err"
        start_worker "$kind" --master "$ADDR0" --slots 4
        nw=$((nw + 1))
    fi
    echo "fault $i at t=$((SECONDS - t0))s, $at succeeded: SIGKILL $kind and restart"
done <plan.txt
[ "$bounded" -eq 1 ] && pass "$i faults injected ($nm master, $nw worker) in $((SECONDS - t0))s" ||
    fail "the fault loop did not finish within 90 s (stopped at fault $i)"

dtr wait --all --timeout 60s >wait.out 2>&1 && pass "dtr wait --all: every task succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
echo "run took $((SECONDS - t0))s"

dtr tasks --json >tasks.json 2>tasks.err || die "dtr tasks --json failed: $(cat tasks.err)"
"$PY" - tasks.json exec.log "$N" <<'EOF' >check.out 2>&1
import collections, json, sys
tasks = {}
for l in open(sys.argv[1]):
    t = json.loads(l)
    tasks[t["id"]] = t
n = int(sys.argv[3])
runs = collections.defaultdict(list)
for l in open(sys.argv[2]):
    p = l.split()
    if len(p) == 3:
        runs[p[0]].append((int(p[1]), p[2]))
bad = []
want = {"c-%d" % i for i in range(1, n + 1)}
if set(tasks) != want:
    bad.append("the master lists %d tasks; missing %s, extra %s"
               % (len(tasks), sorted(want - set(tasks))[:10], sorted(set(tasks) - want)[:10]))
notok = [t for t in tasks.values() if t["state"] != "succeeded"]
for t in notok[:10]:
    bad.append("%s is %s (attempts=%s crashes=%s error=%s)"
               % (t["id"], t["state"], t["attempts"], t["crashes"], t["error"]))
if len(notok) > 10:
    bad.append("... %d tasks not succeeded in all" % len(notok))
never = sorted(want - set(runs))
if never:
    bad.append("%d task(s) never ran: %s" % (len(never), never[:10]))
extra_ids = sorted(set(runs) - want)
if extra_ids:
    bad.append("unknown ids ran: %s" % extra_ids[:10])
dups = {i: r for i, r in runs.items() if len(r) > 1}
for i in sorted(tasks):
    t, r = tasks[i], runs.get(i, [])
    atts = [a for a, _ in r]
    if len(r) > 1 and t["crashes"] < 1:
        bad.append("%s ran %d times %s but records no crash" % (i, len(r), r))
    if len(set(atts)) != len(atts):
        bad.append("%s ran the same attempt twice: %s" % (i, r))
    if t["attempts"] != t["crashes"] + 1:
        bad.append("%s: attempts=%d crashes=%d (with --retries 0 only lost attempts may repeat)"
                   % (i, t["attempts"], t["crashes"]))
    if any(a < 1 or a > t["attempts"] for a in atts):
        bad.append("%s ran attempts %s but records attempts=%d" % (i, atts, t["attempts"]))
    if t["state"] == "succeeded" and (t["attempts"], t["worker"]) not in r:
        bad.append("%s succeeded with attempt %d on %s, which never ran: %s"
                   % (i, t["attempts"], t["worker"], r))
crashed = [t for t in tasks.values() if t["crashes"]]
print("tasks with a crash: %d (crashes in all: %d); ids run more than once: %d (extra executions: %d)"
      % (len(crashed), sum(t["crashes"] for t in crashed), len(dups),
         sum(len(r) - 1 for r in dups.values())))
print("run more than once: " + " ".join("%s%s" % (i, [a for a, _ in r]) for i, r in sorted(dups.items())[:15]))
for b in bad[:40]:
    print("BAD " + b)
sys.exit(1 if bad else 0)
EOF
rc=$?
head -n 2 check.out
[ "$rc" -eq 0 ] && pass "none lost, all succeeded, every repeated execution is a lost attempt (crash recorded, new attempt number)" ||
    fail "task records vs executions: $(grep '^BAD' check.out | head -n 20)"

# dtr result for a seeded sample of 20 tasks.
bad=0
for k in $("$PY" -c 'import random,sys; r=random.Random(int(sys.argv[1])); print(" ".join(str(x) for x in r.sample(range(1, int(sys.argv[2]) + 1), min(20, int(sys.argv[2])))))' "$SEED" "$N"); do
    out=$(dtr result "c-$k" 2>&1)
    [ "$out" = "out-c-$k" ] || { bad=$((bad + 1)); echo "dtr result c-$k: '$out'"; }
done
[ "$bad" -eq 0 ] && pass "dtr result works for a sample of 20 tasks" || fail "$bad bad results in the sample"

echo "master log: $(grep -c 'worker declared dead' logs/master.log) worker(s) declared dead," \
    "$(grep -c 're-queued task of a lost worker' logs/master.log) lost attempt(s) re-queued," \
    "$(grep -c 'discarded result of a superseded attempt' logs/master.log) superseded result(s) discarded"
for w in W1 W2 W3; do
    pid_var=${w}_PID
    kill -0 "${!pid_var}" 2>/dev/null || fail "worker $w (pid ${!pid_var}) is not running at the end"
done
kill -0 "$M_PID" 2>/dev/null || fail "the master is not running at the end"
finish
