#!/usr/bin/env bash
# The master is killed with SIGKILL mid-run and restarted on the same state
# dir and port; the workers dial back in. No acknowledged task is lost, every
# task succeeds and its result is readable, and no task runs twice.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
N=2000

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 4
start_worker W2 --master "$M_ADDR" --slots 4
wait_for "two workers registered" "workers_registered 2" || finish

: >done.txt
dtr submit --id job --array "1-$N" --retries 0 -- \
    sh -c "echo \$DTR_TASK_ID >> '$T/done.txt'; echo out-\$DTR_TASK_ID" >ids.txt ||
    die "submit failed"
[ "$(wc -l <ids.txt)" -eq "$N" ] || die "submit printed $(wc -l <ids.txt) ids, expected $N"

wait_for "some tasks done" "[ \$(count_state succeeded) -ge 200 ]" 60 || finish
kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null
lines_at_kill=$(wc -l <done.txt)
pass "master killed with SIGKILL mid-run ($lines_at_kill of $N tasks had run)"
[ "$lines_at_kill" -lt "$N" ] || fail "the run was already over at the kill; the test proves little"

mv M.out M-first.out; mv M.err M-first.err
start_master M --port "$MPORT_USED" --state-dir "$T/state-M"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] && pass "master restarted on the same port $MPORT_USED" ||
    fail "restarted master listens on $M_ADDR, expected port $MPORT_USED"
wait_for "both workers back" "workers_registered 2" 20 || finish
pass "both workers dialed back in"

dtr wait --all --timeout 180s >wait.out 2>&1 && pass "dtr wait --all: every task succeeded" ||
    fail "dtr wait --all exited $?: $(tail -n 2 wait.out)"
[ "$(count_state succeeded)" = "$N" ] && pass "the master reports $N succeeded" ||
    fail "status after restart: $(dtr status --json)"

# dtr result for a sample (every 10th task and the first and last).
bad=0
for i in 1 $(seq 10 10 "$N"); do
    out=$(dtr result "job-$i") || { bad=$((bad + 1)); echo "dtr result job-$i failed"; continue; }
    [ "$out" = "out-job-$i" ] || { bad=$((bad + 1)); echo "job-$i: '$out'"; }
    dtr result "job-$i" --json | grep -q '"state":"succeeded"' || { bad=$((bad + 1)); echo "job-$i not succeeded"; }
done
[ "$bad" -eq 0 ] && pass "dtr result works for a sample of 31 tasks" || fail "$bad bad results"

# done.txt: every id at least once; count the ids that ran more than once.
"$PY" - done.txt "$N" <<'EOF' >dups.out
import collections, sys
c = collections.Counter(l.strip() for l in open(sys.argv[1]) if l.strip())
n = int(sys.argv[2])
missing = [i for i in range(1, n + 1) if c["job-%d" % i] == 0]
dups = sorted((k for k, v in c.items() if v > 1), key=lambda k: int(k.split("-")[1]))
extra = [k for k in c if k not in {"job-%d" % i for i in range(1, n + 1)}]
print("missing=%d dups=%d extra=%d" % (len(missing), len(dups), len(extra)))
print("missing: " + " ".join("job-%d" % i for i in missing[:20]))
print("dups: " + " ".join("%s(x%d)" % (k, c[k]) for k in dups[:20]))
EOF
read -r summary <dups.out
ndup=$(sed -n 's/.*dups=\([0-9]*\).*/\1/p' dups.out | head -n1)
nmiss=$(sed -n 's/.*missing=\([0-9]*\).*/\1/p' dups.out | head -n1)
echo "done.txt: $summary"
[ "$nmiss" -eq 0 ] && pass "every one of the $N ids ran" || fail "ids never ran: $(sed -n 2p dups.out)"
[ "$ndup" -eq 0 ] && pass "no id ran twice" || fail "$ndup id(s) ran more than once: $(sed -n 3p dups.out)"
finish
