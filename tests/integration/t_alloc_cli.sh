#!/usr/bin/env bash
# dtr alloc without a Slurm cluster: the CLI's checks, an sbatch that fails
# (retried with backoff, the failure in alloc list), and queues that outlive
# a master restart. (t_slurm.sh runs against a real Slurm.)
. "$(dirname "$0")/lib.sh"

mkdir -p fakebin
cat >fakebin/sbatch <<'EOS'
#!/bin/sh
echo "$*" >>"$(dirname "$0")/sbatch.calls"
echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2
exit 1
EOS
cat >fakebin/squeue <<'EOS'
#!/bin/sh
exit 0
EOS
chmod +x fakebin/sbatch fakebin/squeue
PATH="$T/fakebin:$PATH" start_master M

expect_usage() {
    local want=$1
    shift
    dtr alloc "$@" >out 2>err
    local rc=$?
    [ "$rc" -eq 2 ] && grep -q -- "$want" err && pass "alloc $* refused: $(cat err)" ||
        fail "alloc $*: exit $rc, $(cat err)"
}
expect_usage "needs add, list or remove"
expect_usage "needs add, list or remove" grow
expect_usage "needs --max-workers" add slurm
expect_usage "slurm is the only kind" add pbs --max-workers 2
expect_usage "above --max-workers" add slurm --max-workers 2 --workers-per-job 3
expect_usage "out of range" add slurm --max-workers 0
expect_usage "only 'alloc add'" list -- --partition=x
expect_usage "usage: dtr alloc remove ID" remove
dtr alloc remove a7 >out 2>err
[ $? -eq 4 ] && grep -q "no allocation queue 'a7'" err && pass "removing an unknown queue: $(cat err)" ||
    fail "remove a7: $(cat err)"

[ "$(dtr alloc add slurm --max-workers 3 --backlog 2 -- --partition=nope)" = a1 ] &&
    pass "alloc add printed a1" || fail "alloc add"
sleep 1
[ ! -e fakebin/sbatch.calls ] && pass "no sbatch while nothing is queued" ||
    fail "sbatch ran: $(cat fakebin/sbatch.calls)"
dtr submit -- true >/dev/null
wait_for "sbatch to be tried" "[ -s fakebin/sbatch.calls ]" || finish
grep -q -- '--parsable --job-name=dtr-a1 .*--partition=nope .*/alloc/a1.sh$' fakebin/sbatch.calls &&
    pass "sbatch got the queue's arguments and the job script" ||
    fail "sbatch call: $(head -n 1 fakebin/sbatch.calls)"
wait_for "the failure in alloc list" \
    "dtr alloc list | grep -q 'sbatch exited 1: sbatch: error: Batch job submission failed'" ||
    finish
pass "alloc list shows the failure: $(dtr alloc list | tail -n 1)"
sleep 3
n=$(wc -l <fakebin/sbatch.calls)
[ "$n" -le 4 ] && pass "failed sbatch backs off ($n tries in about 4s)" || fail "$n tries in 4s"
dtr alloc list --json | grep -q '"failures":[1-9]' && pass "alloc list --json counts failures" ||
    fail "json: $(dtr alloc list --json)"
grep -q -- '--token-file' "$T/state-M/alloc/a1.sh" && fail "a token file without a token" ||
    pass "the job script runs dtr worker: $(grep exec "$T/state-M/alloc/a1.sh" | cut -c1-100)..."

# dtr status and the HTTP API show the queue (no workers: sbatch fails).
dtr status >status.out
grep -q '^ALLOC  *KIND  *JOBS PENDING  *JOBS RUNNING  *WORKERS' status.out &&
    grep -q '^a1  *slurm  *0  *0  *0 sbatch exited 1' status.out &&
    pass "dtr status shows the queue: $(grep '^a1 ' status.out | cut -c1-80)" ||
    fail "status: $(cat status.out)"
dtr status --json >status.json
grep -q '^{"allocs":\[{"id":"a1","kind":"slurm",.*"workers":0}\],"workers":\[' status.json &&
    pass "dtr status --json has allocs" || fail "status --json: $(cat status.json)"
U=$(cat "$T/state-M/http.addr")
curl -s -m 10 "${U}api/v1/allocs" >allocs.json
grep -q '^{"allocs":\[{"id":"a1",.*"last_error":"sbatch exited 1.*"workers":0}\]}$' allocs.json &&
    pass "GET /api/v1/allocs: $(cut -c1-100 allocs.json)..." || fail "/api/v1/allocs: $(cat allocs.json)"
[ "$(curl -s -m 10 "${U}api/v1/status")" = "$(dtr status --json)" ] &&
    pass "GET /api/v1/status is still dtr status --json" ||
    fail "status differs: $(curl -s -m 10 "${U}api/v1/status") vs $(dtr status --json)"
[ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "${U}api/v1/allocs")" = 405 ] &&
    pass "POST /api/v1/allocs: 405" || fail "POST /api/v1/allocs not refused"

# The queue survives a restart.
kill -TERM "$M_PID"
wait "$M_PID"
PATH="$T/fakebin:$PATH" start_master M2 --state-dir "$T/state-M"
dtr alloc list | grep -q '^a1 ' && pass "queue a1 survived a master restart" ||
    fail "after restart: $(dtr alloc list)"
[ "$(dtr alloc add slurm --max-workers 1)" = a2 ] && pass "the next queue is a2" ||
    fail "next id: $(dtr alloc list)"
# A job sbatch accepts but that never shows running (squeue no longer
# lists it): it failed to start; the queue backs off and says so.
cat >fakebin/sbatch <<'EOS'
#!/bin/sh
echo "$*" >>"$(dirname "$0")/sbatch.calls"
echo 4242
EOS
wait_for "a job that vanished before it ran to count as a failure" \
    "dtr alloc list | grep -q '^a2 .*job 4242 ended before it was seen running'" 20 &&
    pass "a job that never ran: $(dtr alloc list | grep '^a2 ')"
dtr alloc remove a1 >/dev/null && dtr alloc remove a2 >/dev/null &&
    [ "$(dtr alloc list | wc -l)" -eq 1 ] && pass "alloc remove" || fail "remove: $(dtr alloc list)"
finish
