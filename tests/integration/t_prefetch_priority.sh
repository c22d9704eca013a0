#!/usr/bin/env bash
# Prefetch keeps priorities strict where it matters, when a task starts
# (issue 17). A 2-slot worker is fed short tasks, so the master (prefetch on
# by default) leases it tasks beyond its slots. Behind 1,000 low-priority
# exec tasks, high-priority ones are submitted one at a time: each starts
# before every low-priority task the worker had not started when the high
# one reached it (read from the worker's log, in the order it did things,
# never from timing), the prefetched low ones it passes are revoked and
# handed back without spending an attempt, and every task runs exactly once.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "worker registered" "workers_registered 1" || finish
WLOG=$T/logs/worker-W1.log
MLOG=$T/logs/master.log

# A few short tasks first: their durations size the worker's prefetch.
dtr submit --id warm --array 1-20 -- true >/dev/null || die "submit warm-up"
dtr wait --all --timeout 60s >/dev/null 2>&1 || die "warm-up did not finish"

dtr submit --id low --array 1-1000 --priority low -- sleep 0.02 >/dev/null || die "submit low"
wait_for "prefetch: more low tasks leased than the worker has slots" \
    "[ \"\$(count_state running)\" -gt 2 ]" 30 || finish
pass "with prefetch on by default, the worker holds $(count_state running) tasks on 2 slots"

# Up to 5 high-priority tasks, one at a time, until one has taken the place
# of a prefetched low task that the worker then handed back.
rounds=0 revoked=0 bad=0
for i in 1 2 3 4 5; do
    [ "$(count_state queued)" -gt 10 ] || break # the lows must still be waiting
    rounds=$i
    dtr submit --id "high$i" --priority high -- true >/dev/null || die "submit high$i"
    dtr wait "high$i" --timeout 30s >/dev/null 2>&1 || { fail "high$i did not finish"; continue; }
    # In the worker's log, from the moment high$i was received: the next
    # attempt started is high$i (a low one started before would have been
    # waiting when a task that comes first was there).
    next=$(awk -v h="task=high$i " '
        index($0, "attempt received " h) { seen = 1; next }
        seen && /attempt started/ { match($0, /task=[^ ]*/); print substr($0, RSTART + 5, RLENGTH - 5); exit }
    ' "$WLOG")
    if [ "$next" = "high$i" ]; then
        pass "high$i started before every low task not yet started when it arrived"
    else
        bad=$((bad + 1))
        fail "after high$i reached the worker, '$next' started first"
    fi
    if grep -q "revoking prefetched attempts for one that comes first task=high$i " "$MLOG"; then
        wait_for "the revoke answered" "grep -q 'revoked worker=W1' '$MLOG'" || break
        if grep -q 'revoked worker=W1 returned=[1-9]' "$MLOG"; then
            revoked=1
            break
        fi
    fi
done
[ "$revoked" = 1 ] && pass "high$rounds took a prefetched task's place: $(grep -m1 'revoked worker=W1 returned=[1-9]' "$MLOG" | grep -o 'returned=.*')" ||
    fail "no high task took a prefetched task's place in $rounds rounds"
grep -q 'handed back task=low' "$WLOG" && pass "the worker handed back low tasks it had not started" ||
    fail "the worker log shows no hand-back"

# /metrics counts them (curl, when there is one).
if command -v curl >/dev/null 2>&1; then
    curl -s -m 10 "$(cat "$T/state-M/http.addr")metrics" >metrics.txt
    rv=$(sed -n 's/^dtr_prefetch_revoked_total //p' metrics.txt)
    rt=$(sed -n 's/^dtr_prefetch_returned_total //p' metrics.txt)
    [ "${rt:-0}" -ge 1 ] && [ "${rv:-0}" -ge "$rt" ] && grep -q '^dtr_prefetched ' metrics.txt &&
        pass "/metrics: $rv prefetched attempts revoked, $rt handed back" ||
        fail "metrics: revoked=$rv returned=$rt"
fi

dtr wait --all --timeout 120s >wait.out 2>&1 || fail "wait --all: $(tail -1 wait.out)"
dtr tasks --json >tasks.json
total=$(grep -c '"id":' tasks.json)
ok=$(grep -c '"state":"succeeded"' tasks.json)
once=$(grep -c '"attempts":1[,}]' tasks.json)
[ "$ok" = "$total" ] && [ "$once" = "$total" ] &&
    pass "all $total tasks succeeded, each with one attempt (a hand-back spends none)" ||
    fail "$ok of $total succeeded, $once with one attempt"
# Each task started exactly once on the worker.
twice=$(grep -o 'attempt started task=[^ ]*' "$WLOG" | sort | uniq -d | head -3)
n=$(grep -c 'attempt started task=' "$WLOG")
[ -z "$twice" ] && [ "$n" = "$total" ] && pass "$n attempts started, none twice" ||
    fail "started $n for $total tasks; twice: $twice"
finish
