#!/usr/bin/env bash
# `dtr events` (docs/protocol.md "Events"): the master's task and worker
# events over the native protocol, the same ids and events as the SSE
# stream GET /api/v1/events; --json; --job keeps one job's task events;
# --after resumes from an id; works with --http off; a bad --job is a
# usage error; without the token it is refused.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || die "curl is needed (Debian package curl)"
start_master M
U=$(cat "$T/state-M/http.addr")

# bg NAME CMD...: runs a reader in the background, its output in NAME
bg() {
    local out=$1
    shift
    "$@" >"$T/$out" 2>"$T/$out.err" &
    PIDS+=($!)
}
bg sse.txt curl -s -N -m 120 "${U}api/v1/events"
bg all.json "$DTR" events --json
bg all.txt "$DTR" events
wait_for "both readers connected" \
    "[ \"\$(curl -s -m 5 \"${U}metrics\" | sed -n 's/^dtr_connections //p')\" -ge 2 ] && grep -q '^dtr_http_connections [1-9]' <(curl -s -m 5 \"${U}metrics\")" ||
    finish

start_worker W1 --master "$M_ADDR" --slots 2
wait_for "W1 registered" "workers_registered 1" || finish
dtr submit --id e1 -- true >/dev/null
dtr submit --id e2 -- false >/dev/null
j3=$(dtr submit --json --id e3 -- true | sed -n 's/.*"job":"\([^"]*\)".*/\1/p')
bg job.json "$DTR" events --json --job "$j3-never"
wait_for "e3 succeeded" "[ \"\$(count_state succeeded)\" -ge 2 ] && [ \"\$(count_state failed)\" -ge 1 ]" ||
    finish
wait_for "the events reached dtr events" "grep -q '\"task\":\"e3\"' all.json && grep -c succeeded all.json | grep -q 2" ||
    finish
wait_for "and the SSE stream" "grep -q '\"event\":\"succeeded\",\"task\":\"e3\"' sse.txt" || finish

grep -q '"event":"worker_joined","task":null,"job":null,"worker":"W1"' all.json &&
    pass "worker_joined W1" || fail "no worker_joined: $(cat all.json)"
for ev in "submitted.*e1" "started.*e1" "succeeded.*e1" "failed.*e2" "submitted.*e3"; do
    grep -q "\"event\":\"${ev%%.*}\",\"task\":\"${ev##*.}\"" all.json ||
        fail "no ${ev%%.*} for ${ev##*.} in $(cat all.json)"
done
pass "submitted, started, succeeded, failed events"
# the same events with the same ids as the SSE stream
sed -n 's/^data: //p' sse.txt >sse.json
n=$(wc -l <sse.json)
[ "$n" -ge 8 ] && head -n "$n" all.json | cmp -s - sse.json &&
    pass "dtr events --json prints the SSE stream's $n events, same ids" ||
    fail "differ: $(diff <(head -n "$n" all.json) sse.json)"
ids=$(sed -n 's/^{"id":\([0-9]*\),.*/\1/p' all.json)
first=$(echo "$ids" | head -n 1)
[ "$(echo "$ids" | tr '\n' ' ')" = "$(seq "$first" $((first + $(echo "$ids" | wc -l) - 1)) | tr '\n' ' ')" ] &&
    pass "ids rise by one" || fail "ids: $ids"
grep -Eq '^[0-9T:.-]+Z [0-9]+ succeeded task=e1 job=j-[0-9]+ worker=W1$' all.txt &&
    pass "the plain form: TIME ID EVENT task= job= worker=" || fail "plain: $(cat all.txt)"
[ ! -s job.json ] && pass "--job with a job that has no task: nothing" || fail "job.json: $(cat job.json)"

# --job: only that job's task events, including what happens after
bg job3.json "$DTR" events --json --job "$j3" --after 1
wait_for "--job --after replays e3's events" "grep -q '\"succeeded\",\"task\":\"e3\"' job3.json" &&
    [ -z "$(grep -v "\"job\":\"$j3\"" job3.json)" ] && grep -q '"submitted","task":"e3"' job3.json &&
    pass "--job $j3 --after 1: e3's events only" || fail "job3: $(cat job3.json)"
# --after resumes exactly after an id
mid=$(sed -n 3p all.json | sed -n 's/^{"id":\([0-9]*\),.*/\1/p')
bg after.json "$DTR" events --json --after "$mid"
wait_for "--after replays" "[ \$(wc -l <after.json) -ge $((n - 3)) ]" &&
    head -n $((n - 3)) after.json | cmp -s - <(sed -n "4,${n}p" sse.json) &&
    pass "--after $mid: the events after it, in order" || fail "after: $(cat after.json)"

# errors
dtr events --job 'bad job!' >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -q "not a valid job id" err.txt && pass "a bad --job: usage error" ||
    fail "bad job: $(cat err.txt)"
dtr events extra >/dev/null 2>err.txt
[ $? -eq 2 ] && pass "no arguments taken" || fail "extra: $(cat err.txt)"

# with --http off, and a token
printf 'ev-token\n' >token
MPORT=$((MPORT + 50)) start_master N --http off --token-file "$T/token"
"$DTR" submit --master "$N_ADDR" --token-file "$T/token" --id n0 --kind noop >/dev/null
# after n0's submitted event (id 1): whenever the client connects, n1's follow
bg n.json "$DTR" events --json --master "$N_ADDR" --token-file "$T/token" --after 1
"$DTR" submit --master "$N_ADDR" --token-file "$T/token" --id n1 --kind noop >/dev/null
wait_for "dtr events with --http off and a token" "grep -q '\"submitted\",\"task\":\"n1\"' n.json" &&
    pass "dtr events with --http off and a token"
DTR_TOKEN= "$DTR" events --master "$N_ADDR" >/dev/null 2>err.txt
[ $? -ne 0 ] && [ -s err.txt ] && pass "refused without the token: $(head -n 1 err.txt)" ||
    fail "no token: $(cat err.txt)"
finish
