#!/usr/bin/env bash
# --array A-B%N: at most N tasks of the array running at once, across all
# workers, held by the master. Checked from the tasks' own records (start
# and end times each attempt writes): an array of 40 with %3 on two workers
# of 4 slots each, an array whose tasks fail once and are retried (%2),
# dtr jobs showing the throttle, an array released by a dependency, cancel
# --job of an array mostly held, and an array whose master is killed with
# SIGKILL in its middle and restarted (the throttle is journaled with the
# tasks; the tasks running at the kill count against it until they end).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# Each attempt logs "JOB ID start NS" and "JOB ID end NS" (ns since the epoch).
LOG="$T/times.txt"
: >"$LOG"
step() { # step TAG SLEEP: the cmd of a task that logs its run
    echo "echo \"$1 \$DTR_TASK_ID start \$(date +%s%N)\" >>$LOG; sleep $2; echo \"$1 \$DTR_TASK_ID end \$(date +%s%N)\" >>$LOG"
}
# overlap TAG: "MOST N": the most attempts of TAG that ever ran at once and
# the number of attempts, from the log; or what is wrong with the records
# (an attempt without an end, a task started twice at once).
overlap() {
    "$PY" - "$LOG" "$1" <<'EOF'
import sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4 and p[0] == sys.argv[2]:
        runs[p[1]].append((p[2], int(p[3])))
events, n = [], 0
for tid, evs in runs.items():
    opened = None
    for kind, ns in evs:
        if kind == "start":
            if opened is not None:
                sys.exit("%s started twice without ending" % tid)
            opened, n = ns, n + 1
        else:
            if opened is None:
                sys.exit("%s ended without starting" % tid)
            events += [(opened, 1), (ns, -1)]
            opened = None
    if opened is not None:
        sys.exit("%s never ended" % tid)
most = cur = 0
for ns, d in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts at a tie
    cur += d
    most = max(most, cur)
print(most, n)
EOF
}
nothing_left() {
    dtr status --json | "$PY" -c 'import json,sys
t = json.load(sys.stdin)["tasks"]
sys.exit(0 if t["blocked"] + t["queued"] + t["running"] == 0 else 1)'
}
# jobfield JOB KEY: the field of job JOB in dtr jobs --json.
jobfield() {
    dtr jobs --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j["id"] == sys.argv[1]: print(j[sys.argv[2]])' "$1" "$2"
}

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 4
start_worker W2 --master "$M_ADDR" --slots 4
wait_for "W1 and W2 registered" "workers_registered 2" || finish

# ---- 40 tasks, %3, on 8 slots; beside them an unthrottled array of 8
dtr submit --job-name thr --id a --array 1-40%3 --cmd "$(step a 0.2)" >a.ids ||
    die "submit --array 1-40%3"
dtr submit --job-name free --id f --array 1-8 --cmd "$(step f 2)" >/dev/null || die "submit free"
[ "$(wc -l <a.ids)" = 40 ] && pass "--array 1-40%3 makes 40 tasks" || fail "$(wc -l <a.ids) ids"
[ "$(jobfield thr throttle)" = 3 ] && [ "$(jobfield free throttle)" = None ] &&
    pass "dtr jobs --json: throttle 3, and null without one" ||
    fail "jobs --json: $(dtr jobs --json)"
dtr jobs | grep -q "^thr .* 3$" && dtr jobs | grep -q "^free .* -$" && dtr jobs | head -1 | grep -q "THROTTLE$" &&
    pass "dtr jobs shows the throttle" || fail "dtr jobs: $(dtr jobs)"
wait_for "both arrays end" nothing_left 120
[ "$(dtr tasks --job thr --state succeeded | tail -n +2 | wc -l)" = 40 ] &&
    pass "all 40 throttled tasks succeeded" || fail "thr: $(dtr jobs)"
res=$(overlap a 2>&1)
read -r most n <<<"$res"
[ "$n" = 40 ] && [ "$most" -le 3 ] && [ "$most" -ge 2 ] &&
    pass "at most 3 of the array ran at once ($most, from 40 runs' own records)" ||
    fail "array a: $res"
res=$(overlap f 2>&1)
read -r mostf nf <<<"$res"
[ "$nf" = 8 ] && [ "$mostf" -gt 3 ] &&
    pass "the unthrottled array beside it ran $mostf at once" || fail "array f: $res"

# ---- retries re-enter the throttle: each task fails its first attempt
retry_cmd="if [ ! -e $T/r-\$DTR_TASK_ID ]; then : >$T/r-\$DTR_TASK_ID; $(step r 0.1); exit 1; fi; $(step r 0.1)"
dtr submit --job-name retr --id r --array 1-12%2 --retries 2 --cmd "$retry_cmd" >/dev/null ||
    die "submit --array 1-12%2"
wait_for "the retried array ends" nothing_left 120
[ "$(dtr tasks --job retr --state succeeded | tail -n +2 | wc -l)" = 12 ] &&
    pass "all 12 retried tasks succeeded" || fail "retr: $(dtr jobs)"
res=$(overlap r 2>&1)
read -r most n <<<"$res"
[ "$n" = 24 ] && [ "$most" -le 2 ] &&
    pass "retries included, at most 2 ran at once ($most over $n attempts)" ||
    fail "array r: $res"

# A later batch of the same call may repeat the job's throttle, not change it.
"$PY" - "$M_ADDR" >join.out 2>&1 <<'EOF' && pass "a batch joining a throttled job cannot change its throttle" || fail "join: $(cat join.out)"
import sys, dtrwire
p = dtrwire.Peer(sys.argv[1])
dtrwire.dial(p, "client", "wire-client")
p.send({"type": "submit", "tasks": [{"id": "jt-1", "kind": "noop"}], "job_name": "jt", "throttle": 2})
r = p.msg()
assert r and r.get("type") == "submitted" and r.get("job") == "jt", r
p.send({"type": "submit", "tasks": [{"id": "jt-2", "kind": "noop"}], "job": "jt", "throttle": 2})
r = p.msg()
assert r and r.get("type") == "submitted", r
p.send({"type": "submit", "tasks": [{"id": "jt-3", "kind": "noop"}], "job": "jt", "throttle": 5})
r = p.msg()
assert r and r.get("type") == "error" and "job 'jt' has throttle 2: a submit that joins it cannot change it" in r.get("error", ""), r
p.close()
EOF
[ "$(dtr tasks --job jt | tail -n +2 | wc -l)" = 2 ] || fail "jt: $(dtr tasks --job jt)"

# ---- blocked behind a dependency: released all at once, still 2 at a time
# gate ends once the test opens it, after the array is in: the 8 are
# blocked behind it however slow the machine, then released all at once.
dtr submit --id gate --cmd "n=0; while [ ! -e '$T/gate.go' ] && [ \$n -lt 2400 ]; do sleep 0.05; n=\$((n+1)); done" >/dev/null ||
    die "submit gate"
dtr submit --job-name gated --id g --array 1-8%2 --after gate --cmd "$(step g 0.2)" >/dev/null ||
    die "submit --array 1-8%2 --after gate"
[ "$(dtr tasks --job gated --state blocked | tail -n +2 | wc -l)" = 8 ] ||
    fail "the gated array is not all blocked: $(dtr tasks --job gated)"
: >"$T/gate.go"
wait_for "the gated array ends" nothing_left 60
res=$(overlap g 2>&1)
read -r most n <<<"$res"
[ "$n" = 8 ] && [ "$most" -le 2 ] &&
    pass "released by its dependency, at most 2 ran at once ($most over $n runs)" ||
    fail "array g: $res"

# ---- the master holds the rest queued; cancel --job takes held and running alike
dtr submit --job-name can --id c --array 1-20%2 --cmd "sleep 30" >/dev/null || die "submit c"
jobcounts() { dtr jobs --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    j = json.loads(l)
    if j["id"] == sys.argv[1]: t = j["tasks"]; print(t["running"], t["queued"], t["cancelled"])' "$1"; }
wait_for "2 of c running" '[ "$(jobcounts can)" = "2 18 0" ]' 30 &&
    pass "20 tasks %2: 2 running, 18 queued, held by the master"
dtr cancel --job can >/dev/null || fail "cancel --job can"
wait_for "c all cancelled" '[ "$(jobcounts can)" = "0 0 20" ]' 30 &&
    pass "cancel --job: the 2 running and the 18 held all cancelled"
[ "$(grep -c "^c " "$LOG")" = 0 ] || fail "c wrote records"

# ---- kill -9 of the master in the middle of a throttled array
dtr submit --job-name kil --id k --array 1-30%3 --cmd "$(step k 0.4)" >/dev/null || die "submit k"
wait_for "6 of k ended" '[ "$(grep -c "^k .* end " "$LOG")" -ge 6 ]' 60
{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
ended=$(grep -c "^k .* end " "$LOG")
[ "$ended" -lt 30 ] && pass "master killed with SIGKILL after $ended of 30 throttled tasks" ||
    fail "the array finished before the kill ($ended)"
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] || die "restarted master listens on $M_ADDR"
[ "$(jobfield kil throttle)" = 3 ] && pass "the throttle came back with the job" ||
    fail "after the restart: $(dtr jobs --json)"
wait_for "the array ends after the restart" nothing_left 120
[ "$(dtr tasks --job kil --state succeeded | tail -n +2 | wc -l)" = 30 ] &&
    pass "all 30 succeeded across the restart" || fail "kil: $(dtr jobs)"
res=$(overlap k 2>&1)
read -r most n <<<"$res"
[ "$n" = 30 ] && [ "$most" -le 3 ] &&
    pass "across the kill and restart at most 3 ran at once ($most over $n runs)" ||
    fail "array k: $res"
finish
