#!/usr/bin/env bash
# dtr submit sends big submissions in batches of 2000, four in flight. What
# it prints must be exactly what the master accepted, also when a batch in
# the middle is refused: 5000 tasks from a file whose task 2500 (batch 2)
# reuses an existing id. Batch 2 is refused as a whole, batches 1 and 3 are
# accepted (they were on their way), and every id printed is a task the
# master holds.
. "$(dirname "$0")/lib.sh"

start_master M
dtr submit --kind noop --id taken >/dev/null || die "first submit failed"

for i in $(seq 1 5000); do
    if [ "$i" -eq 2500 ]; then
        printf '{"id":"taken","kind":"noop"}\n'
    else
        printf '{"id":"b-%d","kind":"noop"}\n' "$i"
    fi
done >tasks.jsonl

dtr submit --file tasks.jsonl >ids.out 2>ids.err
rc=$?
[ "$rc" -ne 0 ] && pass "the submission failed (exit $rc): $(head -c 200 ids.err)" ||
    fail "the submission succeeded despite a taken id"
grep -q "taken" ids.err && pass "the error names the taken id" ||
    fail "stderr does not name the taken id: $(cat ids.err)"

printed=$(wc -l <ids.out)
held=$(dtr tasks | grep -c '^b-')
[ "$printed" -eq "$held" ] && pass "printed $printed ids, the master holds $held such tasks" ||
    fail "printed $printed ids, but the master holds $held"
[ "$printed" -eq 3000 ] && pass "batches 1 and 3 accepted, batch 2 refused whole" ||
    fail "expected 3000 accepted (batches 1 and 3), got $printed"
dtr tasks | awk '{print $1}' | sort >held.txt
sort ids.out >printed.txt
comm -23 printed.txt held.txt >missing.txt
[ ! -s missing.txt ] && pass "every printed id is a task on the master" ||
    fail "printed but unknown: $(head -3 missing.txt | tr '\n' ' ')"
finish
