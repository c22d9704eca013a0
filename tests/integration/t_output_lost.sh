#!/usr/bin/env bash
# An attempt lost with its worker (issue 13): what reached the master is
# kept and shown by `dtr result --attempt N`, and its record says lost
# (status "lost", error "lost with its worker: ..."), not truncated: how
# much more it wrote cannot be known. The next attempt's output is whole.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_master M --heartbeat 200ms --worker-timeout 1s
start_worker W1 --master "$M_ADDR" --slots 1
wait_for "W1 registered" "workers_registered 1" || finish

dtr submit --id lo -- sh -c 'if [ "$DTR_ATTEMPT" = 1 ]; then echo partial; sleep 60; else echo whole; fi' \
    >/dev/null || die "submit failed"
wait_for "the first line to reach the master" '[ "$(dtr logs lo)" = partial ]' || finish

kill -9 "$W1_PID"
wait "$W1_PID" 2>/dev/null
wait_for "the master to declare W1 dead" \
    "grep -q 'worker declared dead id=W1 ' '$T/logs/master.log'" 15 || finish
start_worker W2 --master "$M_ADDR" --slots 1
dtr wait lo --timeout 30s >/dev/null && pass "the task succeeded on W2" || fail "dtr wait lo: $?"

[ "$(dtr result lo --attempt 1)" = partial ] && pass "attempt 1: what reached the master" ||
    fail "attempt 1: '$(dtr result lo --attempt 1)'"
[ "$(dtr result lo)" = whole ] && pass "attempt 2: whole" || fail "attempt 2: '$(dtr result lo)'"
dtr result lo --json >lo.json || fail "dtr result --json"
"$PY" - lo.json <<'EOF' >check.out 2>&1
import json, sys
h = json.load(open(sys.argv[1]))["history"]
a = h[0]
assert a["attempt"] == 1 and a["worker"] == "W1", a
assert a["status"] == "lost", a
assert a["error"].startswith("lost with its worker: worker 'W1' was declared dead"), a
assert a["stdout_bytes"] == len("partial\n") and not a["stdout_truncated"], a
assert a["exit_code"] is None, a
assert h[-1]["status"] == "succeeded", h
EOF
[ $? = 0 ] && pass "history: attempt 1 is lost, with the bytes that arrived" ||
    fail "history: $(cat check.out)"
finish
