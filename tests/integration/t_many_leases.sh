#!/usr/bin/env bash
# A worker holding 100,000 leases comes back to a restarted master. It lists
# them after the handshake, in held messages of 1000, so its hello stays
# small: the master registers it, adopts all 100,000 attempts (re-queues
# none), and the worker stays. (When they travelled in the hello, a worker
# holding ~9,000 leases with long ids was refused on every reconnect.)
. "$(dirname "$0")/lib.sh"

N=100000
start_master M --prefetch "$N" --worker-timeout 10s
start_worker W1 --master "$M_ADDR" --slots 1 --master-timeout 0
# Long ids (100 bytes) so the list is about 12 MB, far past any hello limit.
pad=$(printf 'x%.0s' $(seq 1 90))
seq 1 "$N" | sed "s/.*/{\"id\":\"$pad-&\",\"kind\":\"sleep\",\"payload\":{\"seconds\":600}}/" >tasks.jsonl
dtr submit --file tasks.jsonl >ids.txt || die "submit failed"
[ "$(wc -l <ids.txt)" = "$N" ] && pass "$N tasks accepted" || fail "accepted $(wc -l <ids.txt)"
wait_for "all $N leased to W1" "[ \"\$(count_state running)\" = $N ]" 120 || finish

kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null # reaped: every thread gone, the state dir lock released
# on the port W1 dials (another suite may have held MPORT when M started)
start_master M2 --prefetch "$N" --worker-timeout 10s --state-dir "$T/state-M" --port "${M_ADDR##*:}"
# The master counts a task running once its run line is journaled; a few
# thousand (up to a fifth, on a busy machine; more under ASan) may still be
# on their way to W1 when the master dies: at least a tenth, some 1.2 MB of
# held list and more than the ~9,000 leases that broke the old hello, reach
# it. W1 lists what it did get, and those are adopted; the rest are re-queued.
# (Both masters log to the same file: the first such line is W1's first
# registration, with nothing held.)
wait_for "W1 back, listing what it holds" \
    "[ \$(grep -c 'worker reconciled id=W1 held=' '$T/logs/master.log') -ge 2 ]" 120 || finish
line=$(grep 'worker reconciled id=W1' "$T/logs/master.log" | tail -n 1)
held=$(sed -n 's/.* held=\([0-9]*\) adopted=\([0-9]*\).*/\1/p' <<<"$line")
adopted=$(sed -n 's/.* held=\([0-9]*\) adopted=\([0-9]*\).*/\2/p' <<<"$line")
[ "${held:-0}" -ge $((N / 10)) ] && [ "$held" = "$adopted" ] &&
    pass "master log: $(cut -d' ' -f3- <<<"$line")" || fail "reconciled: $line"
[ $(($(count_state running) + $(count_state queued))) = "$N" ] &&
    [ "$(count_state running)" -ge "$held" ] && [ "$(count_state failed)" = 0 ] &&
    pass "every attempt W1 held adopted, the rest queued again, none failed" ||
    fail "after the restart: $(dtr status --json | head -c 400)"
! grep -q 'worker declared dead' "$T/logs/master.log" &&
    pass "no worker declared dead" || fail "$(grep -m3 'declared dead' "$T/logs/master.log")"
grep -q "held message\|held=" "$T/logs/master.log" && kill -0 "$W1_PID" &&
    pass "W1 still connected" || fail "W1 left"
finish
