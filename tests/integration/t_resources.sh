#!/usr/bin/env bash
# Resources (issue 13): heterogeneous workers (4 cpus; 2 cpus and GPUs 0,1
# from a fake device list; 1 cpu and license=1), a mixed workload placed so
# that nothing is ever oversubscribed (checked from the tasks' own records
# of DTR_CPUS, CUDA_VISIBLE_DEVICES and their start and end times), bad
# offers and requests refused, status totals, and a task that fits no
# worker shown as unschedulable until a worker that fits joins.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker WA --master "$M_ADDR" --cpus 4 --mem 8G --gpus 0
start_worker WG --master "$M_ADDR" --cpus 2 --mem 4G --gpus 0,1
start_worker WL --master "$M_ADDR" --cpus 1 --mem 1G --gpus 0 --resource license=1
wait_for "3 workers registered" "workers_registered 3" || finish

# Bad requests and offers: clear errors, exit 2.
for bad in "--cpus 1e9" "--cpus -1" "--mem 99999999T" "--gpus x" "--resource license" \
    "--resource BAD=1"; do
    # shellcheck disable=SC2086
    if out=$(dtr submit $bad -- true 2>&1); then
        fail "submit $bad was accepted"
    else
        pass "submit $bad refused: $out"
    fi
done
if out=$("$DTR" worker --id bad --port-range "$WLO-$WHI" --cpus 0 2>&1); then
    fail "worker --cpus 0 started"
else
    pass "worker --cpus 0 refused: $out"
fi
if out=$("$DTR" worker --id bad --port-range "$WLO-$WHI" --gpus 0,0 2>&1); then
    fail "worker --gpus 0,0 started"
else
    pass "worker --gpus 0,0 refused: $out"
fi

# status shows each worker's totals.
dtr status >status.txt
grep -q "cpus 0/2, mem 0/4G, gpus 0/2" status.txt || fail "status: WG's totals: $(cat status.txt)"
grep -q "license 0/1" status.txt && pass "status shows totals" || fail "status: license: $(cat status.txt)"

# The mixed workload: each task records its worker, ids and times.
rec='echo "$DTR_WORKER_ID $(date +%s.%N) start $DTR_TASK_ID cpus=$DTR_CPUS gpus=${CUDA_VISIBLE_DEVICES-none} lic=${DTR_RESOURCE_LICENSE-0} mem=${DTR_MEM-0}" >>"'$T'/rec"; sleep 0.3; echo "$DTR_WORKER_ID $(date +%s.%N) end $DTR_TASK_ID" >>"'$T'/rec"'
for i in 1 2 3 4 5 6; do
    dtr submit --id "g1-$i" --gpus 1 --cmd "$rec" >/dev/null || fail "submit g1-$i"
    dtr submit --id "c2-$i" --cpus 2 --cmd "$rec" >/dev/null || fail "submit c2-$i"
    dtr submit --id "h-$i" --cpus 0.5 --mem 512M --cmd "$rec" >/dev/null || fail "submit h-$i"
    dtr submit --id "l-$i" --resource license=1 --cmd "$rec" >/dev/null || fail "submit l-$i"
    dtr submit --id "one-$i" --cmd "$rec" >/dev/null || fail "submit one-$i"
done
dtr submit --id g2 --gpus 2 --cpus 2 --cmd "$rec" >/dev/null || fail "submit g2"
dtr wait --all --timeout 120s >/dev/null || fail "wait for the mixed workload"
[ "$(count_state succeeded)" = 31 ] && pass "31 tasks succeeded" || fail "succeeded: $(count_state succeeded)"

# Placement by request: GPU tasks only on WG, license only on WL.
grep ' start g' rec | grep -qv '^WG ' && fail "a GPU task ran off WG: $(grep ' start g' rec)"
grep ' start l-' rec | grep -qv '^WL ' && fail "a license task ran off WL: $(grep ' start l-' rec)"
grep ' start g2 ' rec | grep -q 'gpus=0,1' && pass "g2 got both GPUs" || fail "g2: $(grep ' start g2 ' rec)"
grep ' start h-1 ' rec | grep -q 'mem=536870912' && pass "DTR_MEM" || fail "DTR_MEM: $(grep ' start h-1 ' rec)"
grep ' start l-1 ' rec | grep -q 'lic=1' && pass "DTR_RESOURCE_LICENSE" || fail "license env: $(grep ' start l-1 ' rec)"

# Never oversubscribed: replay the records in time order per worker.
python3 - "$T/rec" <<'PY' || fail "oversubscribed (see above)"
import sys, collections
cap = {"WA": (4000, 0, 0), "WG": (2000, 2, 0), "WL": (1000, 0, 1)}
ev = []
for line in open(sys.argv[1]):
    p = line.split()
    ev.append((float(p[1]), 0 if p[2] == "end" else 1, p))
ev.sort()
running = collections.defaultdict(dict)
bad = 0
for _, _, p in ev:
    w, kind, tid = p[0], p[2], p[3]
    if kind == "end":
        running[w].pop(tid)
        continue
    f = dict(x.split("=", 1) for x in p[4:])
    cpus = [c for c in f["cpus"].split(",") if c]
    gpus = [g for g in f["gpus"].split(",") if g and f["gpus"] != "none"]
    running[w][tid] = (tid, cpus, gpus, int(f["lic"]))
    req = {"g1": 1000, "c2": 2000, "h": 500, "l": 1000, "one": 1000, "g2": 2000}[tid.split("-")[0]]
    used_cpu = sum({"g1": 1000, "c2": 2000, "h": 500, "l": 1000, "one": 1000, "g2": 2000}[t.split("-")[0]] for t in running[w])
    allg = [g for r in running[w].values() for g in r[2]]
    whole = [c for r in running[w].values() if not r[0].startswith("h-") for c in r[1]]
    lic = sum(r[3] for r in running[w].values())
    c, g, l = cap[w]
    if used_cpu > c or len(allg) > g or len(set(allg)) != len(allg) or lic > l or len(set(whole)) != len(whole):
        print("oversubscribed on", w, "at", tid, running[w])
        bad += 1
sys.exit(1 if bad else 0)
PY
pass "no worker oversubscribed; no GPU or whole CPU given twice at once"

# Unschedulable: 4 gpus fit no worker; shown with the reason and counted.
dtr submit --id big4 --gpus 4 --cmd "$rec" >/dev/null || fail "submit big4"
dtr submit --id exotic --resource fpga=1 --cmd "$rec" >/dev/null || fail "submit exotic"
wait_for "unschedulable counted" "dtr status --json | grep -q '\"unschedulable\":2'" || finish
dtr tasks --json | grep '"id":"big4"' | grep -q '"waiting":"needs 4 gpus; the largest worker has 2"' &&
    pass "tasks shows the reason" || fail "tasks: $(dtr tasks --json | grep big4)"
dtr result big4 --json | grep -q '"waiting":"needs 4 gpus' && pass "result --json shows the reason" ||
    fail "result: $(dtr result big4 --json)"
dtr tasks | grep exotic | grep -q "unschedulable: needs 1 fpga; no worker offers fpga" &&
    pass "unknown resource: unschedulable" || fail "exotic: $(dtr tasks | grep exotic)"
# A worker that fits joins: big4 runs there.
start_worker WB --master "$M_ADDR" --cpus 1 --gpus 0,1,2,3 --resource fpga=1
dtr wait big4 exotic --timeout 60s >/dev/null || fail "big4 and exotic did not run once WB joined"
grep ' start big4 ' rec | grep -q '^WB .*gpus=0,1,2,3' && pass "big4 ran on WB with 4 GPUs" ||
    fail "big4: $(grep big4 rec)"
dtr status --json | grep -q '"unschedulable":0' && pass "no longer unschedulable" || fail "status"
finish
