#!/usr/bin/env bash
# Jobs end to end: every submit call makes one job (j-N, or --job-name,
# refused while taken, exit 4; a malformed or j-N name is a usage error,
# exit 2), even when it goes out in several batches; submit --json; dtr jobs
# (plain and --json) counts; tasks, wait and cancel --job (cancel kills the
# job's running tasks and no other's); status --json's jobs counts; --after
# naming a job; and a master killed with SIGKILL and restarted keeps every
# job.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# jobfield JOB EXPR: EXPR (Python, over the record j) for job JOB in dtr jobs --json.
jobfield() {
    dtr jobs --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j["id"] == sys.argv[1]: print(eval(sys.argv[2]))' "$1" "$2"
}
statusjobs() {
    dtr status --json | "$PY" -c 'import json,sys; j = json.load(sys.stdin)["jobs"]; print(j["active"], j["ended"])'
}

start_master M
MPORT_USED=${M_ADDR##*:}

# ---- ids and names, before any worker: everything stays queued
out=$(dtr submit --kind noop)
[ "$out" = t-1 ] && [ "$(jobfield j-1 'j["tasks"]["queued"]')" = 1 ] &&
    pass "a plain submit prints its task id and makes job j-1" || fail "first submit: '$out'"
out=$(dtr submit --json --array 1-3 --kind noop)
echo "$out" | "$PY" -c 'import json,sys
d = json.loads(sys.stdin.read())
assert d == {"job": "j-2", "tasks": ["t-2", "t-3", "t-4"]}, d' &&
    pass "submit --json prints {job, tasks}" || fail "submit --json: '$out'"
dtr submit --job-name build -- true >/dev/null || fail "submit --job-name build"
dtr submit --job-name build -- true >taken.out 2>taken.err
rc=$?
[ "$rc" = 4 ] && grep -q "job name 'build' is taken" taken.err && [ ! -s taken.out ] &&
    pass "a taken job name is refused by the master (exit 4), nothing stored" ||
    fail "taken name: rc=$rc $(cat taken.err)"
dtr submit --job-name j-77 -- true 2>reserved.err
rc=$?
dtr submit --job-name 'a b' -- true 2>>reserved.err
rc2=$?
[ "$rc" = 2 ] && [ "$rc2" = 2 ] && grep -q "not j-N" reserved.err &&
    pass "a j-N or malformed --job-name is a usage error (exit 2)" || fail "reserved: $rc $rc2"
[ "$(dtr jobs --json | wc -l)" = 3 ] || fail "jobs after refusals: $(dtr jobs --json)"

# ---- one call, several batches (4500 tasks: three submit messages), one job
dtr submit --json --array 1-4500 --kind noop >big.json || fail "big submit"
bigjob=$("$PY" -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["job"], len(d["tasks"]))' big.json)
[ "$bigjob" = "j-3 4500" ] && [ "$(jobfield j-3 'j["tasks"]["queued"]')" = 4500 ] &&
    [ "$(dtr jobs --json | wc -l)" = 4 ] &&
    pass "a submit of 4500 tasks in three batches makes one job" || fail "big job: $bigjob"
# A later batch can join only the job its own connection made.
"$PY" - "$M_ADDR" >join.out 2>&1 <<'EOF' && pass "a submit naming another call's job is refused" || fail "join: $(cat join.out)"
import sys, dtrwire
for job, want in (("j-1", "cannot add to job 'j-1'"), ("nope", "unknown job 'nope'")):
    p = dtrwire.Peer(sys.argv[1])
    dtrwire.dial(p, "client", "wire-client")
    p.send({"type": "submit", "tasks": [{"kind": "noop"}], "job": job})
    r = p.msg()
    assert r and r.get("type") == "error" and want in r.get("error", ""), r
    p.close()
EOF

# ---- tasks --job, dtr jobs plain, status counts
[ "$(dtr tasks --job j-2 --json | wc -l)" = 3 ] && [ "$(dtr tasks --job build --json | wc -l)" = 1 ] &&
    dtr tasks --job j-2 --json | grep -q '"job":"j-2"' &&
    pass "tasks --job lists the job's tasks only, each naming its job" || fail "tasks --job"
dtr tasks --job nope >/dev/null 2>nope.err
[ $? = 4 ] && grep -q "unknown job 'nope'" nope.err && pass "tasks --job of an unknown job: exit 4" ||
    fail "unknown job: $(cat nope.err)"
dtr jobs >jobs.txt
head -1 jobs.txt | grep -q "^JOB .*blocked.*queued.*running.*succeeded.*failed.*cancelled.*SUBMITTED.*ENDED" &&
    grep -q "^j-3 .* 4500 " jobs.txt && [ "$(wc -l <jobs.txt)" = 5 ] &&
    pass "dtr jobs prints a header and one line per job" || fail "dtr jobs: $(cat jobs.txt)"
[ "$(statusjobs)" = "4 0" ] && pass "status --json counts 4 active jobs" || fail "status jobs: $(statusjobs)"

# ---- a worker: wait --job, ended jobs
start_worker W1 --master "$M_ADDR" --slots 4
dtr wait --job j-2 --timeout 60s >/dev/null 2>&1 && [ "$(jobfield j-2 'j["tasks"]["succeeded"]')" = 3 ] &&
    [ "$(jobfield j-2 'j["ended_at"] is not None')" = True ] &&
    pass "wait --job returns once the job's tasks ended; the job has an end time" || fail "wait --job"
dtr wait --all --timeout 60s >/dev/null 2>&1
[ "$(statusjobs)" = "0 4" ] && pass "status --json: every job ended" || fail "status jobs after: $(statusjobs)"

# ---- cancel --job kills the job's running tasks, and no other job's
dtr submit --job-name long --array 1-2 --cmd 'echo $$ >pid-$DTR_TASK_ID; exec sleep 60' >long.ids
dtr submit --job-name other --cmd 'echo $$ >pid-$DTR_TASK_ID; exec sleep 60' >other.ids
wait_for "three sleepers run" '[ "$(ls pid-* 2>/dev/null | wc -l)" = 3 ]' 20
dtr cancel --job long >cancel.out || fail "cancel --job"
sort cancel.out | cmp -s - <(sort long.ids) || fail "cancel --job printed $(cat cancel.out)"
for id in $(cat long.ids); do
    wait_for "$id's process killed" "is_dead $(cat pid-$id)" 20
done
oid=$(cat other.ids)
kill -0 "$(cat pid-$oid)" 2>/dev/null && [ "$(jobfield long 'j["tasks"]["cancelled"]')" = 2 ] &&
    [ "$(jobfield other 'j["tasks"]["running"]')" = 1 ] &&
    pass "cancel --job killed the job's two running tasks and not the other job's" ||
    fail "cancel --job: $(dtr jobs)"

# ---- --after a job id: after every task of that job (expanded at submit)
# stage1 ends only once the test opens its gate: s2 is blocked when we look,
# however slow the machine.
dtr submit --job-name stage1 --array 1-3 --cmd \
    'n=0; while [ ! -e stage1.go ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; touch done-$DTR_TASK_ID' >stage1.ids
dtr submit --job-name stage2 --id s2 --after stage1 --cmd 'ls done-* | wc -l >s2.out' >/dev/null ||
    fail "submit --after stage1"
dtr tasks --job stage2 --json | grep -q '"state":"blocked"' || fail "s2 not blocked at first"
: >stage1.go
dtr wait --job stage2 --timeout 30s >/dev/null 2>&1
[ "$(cat s2.out 2>/dev/null)" = 3 ] && pass "--after JOB ran the task after every task of the job" ||
    fail "--after job: s2 saw $(cat s2.out 2>/dev/null) done files"
dtr submit --job-name bad --cmd 'exit 3' --retries 0 >/dev/null
dtr submit --job-name after-bad --id ab --after bad -- true >/dev/null
dtr wait --job after-bad --timeout 30s >/dev/null 2>&1
dtr tasks --job after-bad --json | grep -q '"state":"cancelled".*"error":"dependency t-[0-9]* failed"' &&
    pass "--after JOB: a failed task of the job cancels the dependent" ||
    fail "--after bad job: $(dtr tasks --job after-bad --json)"

# ---- kill -9 and restart: the jobs come back, no j-N is given out twice
dtr jobs --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l); print(j["id"], sorted(j["tasks"].items()), j["submitted_ms"])' >before.txt
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED"
wait_for "W1 back" "workers_registered 1" 30
# "other" was running when the master died: it is still running after.
dtr jobs --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l); print(j["id"], sorted(j["tasks"].items()), j["submitted_ms"])' >after.txt
cmp -s before.txt after.txt && [ "$(wc -l <after.txt)" = 10 ] &&
    pass "after kill -9 and a restart every job is back with its counts" ||
    fail "jobs after restart: $(diff before.txt after.txt)"
out=$(dtr submit --json --kind noop)
dtr submit --job-name long --kind noop >/dev/null 2>&1
rc=$?
case "$out" in *'"job":"j-4"'*) [ "$rc" = 4 ] && pass "after the restart the next job is j-4 and 'long' is still taken" ;;
*) fail "after restart: '$out' rc=$rc" ;; esac
dtr cancel --job other >/dev/null || fail "cancel other"
finish
