#!/usr/bin/env bash
# A master, two workers (one dialing in, one found by a scan), a few tasks.
. "$(dirname "$0")/lib.sh"

start_worker W1 --slots 2
start_master M --discover "127.0.0.1:$WLO-$WHI"
start_worker W2 --slots 2 --master "$M_ADDR"
wait_for "both workers registered" "workers_registered 2" || finish
pass "a scanned worker and a dial-in worker registered"

id=$(dtr submit -- echo hello) || fail "submit failed"
dtr wait "$id" >/dev/null 2>&1 || fail "wait $id"
[ "$(dtr result "$id")" = hello ] && pass "exec task output" || fail "result of $id"

dtr submit --id sum --kind compute --payload '{"numbers":[1,2,3]}' >/dev/null
dtr wait sum >/dev/null 2>&1
[ "$(dtr result sum)" = 6 ] && pass "compute result" || fail "compute result: $(dtr result sum)"
finish
