#!/usr/bin/env bash
# 500 exec tasks over 3 workers (300 from --array, 200 from a JSON Lines file
# on stdin): all succeed, every one ran exactly once with the right output,
# and the work is spread over the workers.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 4
start_worker W2 --master "$M_ADDR" --slots 4
start_worker W3 --master "$M_ADDR" --slots 4
wait_for "3 workers registered" "workers_registered 3" || finish

mkdir -p "$T/out"
# Each task prints its index and also writes "TASK_ID out-N" to out/N, so all
# 500 outputs can be checked without 500 client calls.
dtr submit --id a --array 1-300 -- sh -c "echo out-{}; echo \"\$DTR_TASK_ID out-{}\" > '$T/out/{}'" \
    >ids.txt 2>submit.err || fail "submit --array exited $?: $(cat submit.err)"
for i in $(seq 301 500); do
    printf '{"id":"f-%d","argv":["sh","-c","echo out-%d; echo \\"$DTR_TASK_ID out-%d\\" > %s/out/%d"]}\n' \
        "$i" "$i" "$i" "$T" "$i"
done >tasks.jsonl
dtr submit --file - <tasks.jsonl >>ids.txt 2>submit.err || fail "submit --file - exited $?: $(cat submit.err)"

# The printed ids: a-1..a-300 then f-301..f-500, one a line, in order.
{ for i in $(seq 1 300); do echo "a-$i"; done; for i in $(seq 301 500); do echo "f-$i"; done; } >want_ids.txt
cmp -s ids.txt want_ids.txt && pass "submit printed the 500 ids, one a line" ||
    fail "submit ids differ: $(diff want_ids.txt ids.txt | head -5)"

dtr wait --all --timeout 50s >wait.out 2>&1
rc=$?
[ $rc -eq 0 ] && pass "wait --all exits 0" || fail "wait --all exited $rc: $(tail -2 wait.out)"

# Counts: 500 succeeded, nothing else.
dtr status --json >status.json
for s in queued running failed cancelled; do
    n=$(sed -n "s/.*\"tasks\":{[^}]*\"$s\":\([0-9]*\).*/\1/p" status.json)
    [ "$n" = 0 ] || fail "status: $s=$n, want 0"
done
n=$(sed -n 's/.*"tasks":{[^}]*"succeeded":\([0-9]*\).*/\1/p' status.json)
[ "$n" = 500 ] && pass "status counts 500 succeeded" || fail "status counts succeeded=$n: $(cat status.json)"

# tasks --json: 500 lines, all succeeded with one attempt and exit 0.
dtr tasks --json >tasks.out 2>tasks.err || fail "tasks --json exited $?"
[ "$(wc -l <tasks.out)" -eq 500 ] && pass "tasks --json has 500 lines" || fail "tasks --json has $(wc -l <tasks.out) lines"
bad=$(grep -v '"state":"succeeded"' tasks.out | head -3)
[ -z "$bad" ] && pass "every task succeeded" || fail "not succeeded: $bad"
n=$(grep -c '"attempts":1[,}]' tasks.out)
[ "$n" -eq 500 ] && pass "every task took exactly one attempt" || fail "$n of 500 tasks have attempts 1"
n=$(grep -c '"exit_code":0[,}]' tasks.out)
[ "$n" -eq 500 ] && pass "every task exited 0" || fail "$n of 500 tasks have exit_code 0"
sed -n 's/.*"id":"\([^"]*\)".*/\1/p' tasks.out | sort >listed_ids.txt
sort want_ids.txt | cmp -s - listed_ids.txt && pass "tasks --json lists exactly the 500 ids" ||
    fail "tasks --json ids differ: $(sort want_ids.txt | diff - listed_ids.txt | head -5)"

# Spread: every worker ran some of them.
for w in W1 W2 W3; do
    n=$(grep -c "\"worker\":\"$w\"" tasks.out)
    [ "$n" -gt 0 ] || fail "worker $w ran no task"
done
pass "tasks ran on all three workers ($(for w in W1 W2 W3; do printf '%s=%s ' $w "$(grep -c "\"worker\":\"$w\"" tasks.out)"; done))"

# All 500 side files: exactly the right content.
bad=0
for i in $(seq 1 500); do
    if [ "$i" -le 300 ]; then id="a-$i"; else id="f-$i"; fi
    line=
    [ -f "$T/out/$i" ] && read -r line <"$T/out/$i"
    [ "$line" = "$id out-$i" ] || { bad=$((bad + 1)); [ $bad -le 3 ] && echo "out/$i: '$line'"; }
done
[ $bad -eq 0 ] && pass "all 500 tasks wrote their own output (with DTR_TASK_ID)" || fail "$bad of 500 outputs wrong"

# A sample of captured stdout through the client.
bad=0
for i in 1 2 57 150 299 300 301 302 444 499 500; do
    if [ "$i" -le 300 ]; then id="a-$i"; else id="f-$i"; fi
    out=$(dtr result "$id" 2>&1)
    [ "$out" = "out-$i" ] || { bad=$((bad + 1)); echo "result $id: '$out'"; }
done
[ $bad -eq 0 ] && pass "dtr result prints each sampled task's stdout" || fail "$bad sampled results wrong"
finish
