#!/usr/bin/env bash
# Priorities: with one 1-slot worker held busy, tasks of mixed priorities
# (names and integers, several equal) queue up; once released they run
# highest priority first, ties in submission order.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 1
wait_for "worker registered" "workers_registered 1" || finish

# Occupy the only slot until $T/go exists.
dtr submit --id blocker --cwd "$T" -- sh -c 'touch started; while [ ! -f go ]; do sleep 0.05; done' >/dev/null ||
    die "submit blocker"
wait_for "blocker running" "[ -f '$T/started' ]" || finish

# id priority-as-given numeric-priority, in submission order.
cat >plan.txt <<'EOF'
p01 low 1
p02 medium 2
p03 high 3
p04 5 5
p05 low 1
p06 high 3
p07 3 3
p08 -1 -1
p09 medium 2
p10 10 10
p11 5 5
p12 high 3
p13 0 0
p14 - 2
EOF
seq=0
while read -r id prio num; do
    seq=$((seq + 1))
    if [ "$prio" = - ]; then
        dtr submit --id "$id" -- sh -c "echo \$DTR_TASK_ID >> '$T/order'" >/dev/null || fail "submit $id"
    else
        dtr submit --id "$id" --priority "$prio" -- sh -c "echo \$DTR_TASK_ID >> '$T/order'" >/dev/null ||
            fail "submit $id --priority $prio"
    fi
    echo "$num $seq $id" >>expect.txt
done <plan.txt
# A few more from a JSON Lines file, priorities as names and integers.
cat >more.jsonl <<EOF
{"id":"p15","priority":"high","cmd":"echo \$DTR_TASK_ID >> '$T/order'"}
{"id":"p16","priority":7,"cmd":"echo \$DTR_TASK_ID >> '$T/order'"}
{"id":"p17","priority":"low","cmd":"echo \$DTR_TASK_ID >> '$T/order'"}
{"id":"p18","cmd":"echo \$DTR_TASK_ID >> '$T/order'"}
{"id":"p19","priority":-1,"cmd":"echo \$DTR_TASK_ID >> '$T/order'"}
EOF
dtr submit --file more.jsonl >/dev/null || fail "submit --file more.jsonl"
printf '3 15 p15\n7 16 p16\n1 17 p17\n2 18 p18\n-1 19 p19\n' >>expect.txt
sort -k1,1nr -k2,2n expect.txt | awk '{print $3}' >want_order.txt

# The priorities were recorded as integers.
dtr tasks --json >tasks.json
bad=0
while read -r num seq id; do
    grep -q "\"id\":\"$id\".*\"priority\":$num[,}]" tasks.json || { bad=$((bad + 1)); echo "$id: want priority $num: $(grep "\"id\":\"$id\"" tasks.json)"; }
done <expect.txt
[ $bad -eq 0 ] && pass "priority names map to low=1 medium=2 high=3, integers kept, default 2" ||
    fail "$bad priorities recorded wrong"
n=$(grep -c '"state":"queued"' tasks.json)
[ "$n" -eq 19 ] && pass "19 tasks queued behind the blocker" || fail "$n tasks queued, want 19"

touch "$T/go"
dtr wait --all --timeout 30s >wait.out 2>&1 || fail "wait --all: $(tail -1 wait.out)"
if cmp -s order want_order.txt; then
    pass "execution order is priority first, then submission order: $(tr '\n' ' ' <order)"
else
    fail "execution order: got '$(tr '\n' ' ' <order)', want '$(tr '\n' ' ' <want_order.txt)'"
fi

# A retried task keeps its place: R fails its first attempt and, once its
# backoff (about 250ms) is over, runs before S2 and S3, submitted after it.
# S1 runs for 800ms, well past the backoff.
rm -f "$T/go" "$T/started"
: >order2
dtr submit --id blocker2 --cwd "$T" -- sh -c 'touch started; while [ ! -f go ]; do sleep 0.05; done' >/dev/null ||
    fail "submit blocker2"
wait_for "blocker2 running" "[ -f '$T/started' ]" || finish
dtr submit --id R --retries 1 -- sh -c "echo R\$DTR_ATTEMPT >> '$T/order2'; [ \$DTR_ATTEMPT = 2 ]" >/dev/null ||
    fail "submit R"
dtr submit --id S1 -- sh -c "echo S1 >> '$T/order2'; sleep 0.8" >/dev/null || fail "submit S1"
dtr submit --id S2 -- sh -c "echo S2 >> '$T/order2'" >/dev/null || fail "submit S2"
dtr submit --id S3 -- sh -c "echo S3 >> '$T/order2'" >/dev/null || fail "submit S3"
touch "$T/go"
dtr wait R S1 S2 S3 --timeout 30s >wait2.out 2>&1 || fail "wait R S1 S2 S3: $(tail -1 wait2.out)"
[ "$(tr '\n' ' ' <order2)" = "R1 S1 R2 S2 S3 " ] &&
    pass "a retried task keeps its submission order: $(tr '\n' ' ' <order2)" ||
    fail "retry order: got '$(tr '\n' ' ' <order2)', want 'R1 S1 R2 S2 S3 '"
finish
