#!/usr/bin/env bash
# GET /api/v1/tasks/ID/output (docs/http.md): the latest attempt's stdout by
# default, ?stream=stderr, ?attempt=N for an earlier attempt, the bytes
# unchanged, a running task's output so far, and the errors (unknown task,
# attempt beyond the last, a bad stream or attempt). And the dashboard's
# files at / (public, no token needed: they hold no data) while every API
# path still wants the token.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || die "curl is needed (Debian package curl)"

printf 'sekrit-out\n' >token
start_master M --token-file "$T/token"
U=$(cat "$T/state-M/http.addr")
AUTH="Authorization: Bearer sekrit-out"
# get PATH [CURL ARGS]: the body into $T/body, the headers into $T/hdr, prints the status
get() {
    local p=$1
    shift
    curl -s -m 10 -D "$T/hdr" -o "$T/body" -w '%{http_code}' "$@" "$U${p#/}"
}
hdr() { sed -n "s/^$1: \(.*\)\r$/\1/Ip" "$T/hdr"; }

start_worker W1 --master "$M_ADDR" --slots 2 --token-file "$T/token"
wait_for "W1 registered" "[ \$(get /api/v1/workers -H '$AUTH') = 200 ] && grep -q W1 $T/body" ||
    finish

# the first attempt fails (stdout, stderr, exit 3); the retry succeeds
spec='{"id":"o1","max_retries":1,"argv":["sh","-c","if [ -e '"$T"'/m ]; then printf \"second\\001\\n\"; else touch '"$T"'/m; echo first; echo oops >&2; exit 3; fi"]}'
[ "$(get /api/v1/tasks -H "$AUTH" -X POST -d "$spec")" = 201 ] || die "submit: $(cat "$T/body")"
wait_for "o1 succeeded" "get /api/v1/tasks/o1 -H '$AUTH' >/dev/null; grep -q '\"state\":\"succeeded\"' $T/body" ||
    finish

[ "$(get /api/v1/tasks/o1/output -H "$AUTH")" = 200 ] && [ "$(od -An -c "$T/body" | tr -s ' ')" = " s e c o n d 001 \n" ] &&
    pass "output: the latest attempt's stdout, bytes unchanged" || fail "output: $(od -c "$T/body")"
[ "$(hdr X-Dtr-Attempt)" = 2 ] && [ "$(hdr X-Dtr-Size)" = 8 ] &&
    pass "output: X-Dtr-Attempt 2, X-Dtr-Size 8" || fail "headers: $(cat "$T/hdr")"
hdr Content-Type | grep -q '^text/plain' && pass "output: text/plain" || fail "ctype: $(cat "$T/hdr")"
[ "$(get '/api/v1/tasks/o1/output?attempt=1' -H "$AUTH")" = 200 ] && [ "$(cat "$T/body")" = first ] &&
    pass "output?attempt=1: the first attempt's stdout" || fail "attempt=1: $(cat "$T/body")"
[ "$(get '/api/v1/tasks/o1/output?attempt=1&stream=stderr' -H "$AUTH")" = 200 ] &&
    [ "$(cat "$T/body")" = oops ] && pass "output?attempt=1&stream=stderr" || fail "stderr: $(cat "$T/body")"
[ "$(get '/api/v1/tasks/o1/output?stream=stderr' -H "$AUTH")" = 200 ] && [ ! -s "$T/body" ] &&
    pass "output?stream=stderr of the latest (quiet) attempt is empty" || fail "stderr 2: $(cat "$T/body")"

# a running task: what it wrote so far
[ "$(get /api/v1/tasks -H "$AUTH" -X POST -d '{"id":"r1","argv":["sh","-c","echo early; exec sleep 60"]}')" = 201 ] ||
    die "submit r1: $(cat "$T/body")"
wait_for "r1's early output" "get /api/v1/tasks/r1/output -H '$AUTH' >/dev/null; [ \"\$(cat $T/body)\" = early ]" &&
    pass "output of a running task: what it wrote so far"

# errors
expect() { [ "$2" = "$1" ] && pass "$3: $1 $(cat "$T/body")" || fail "$3: wanted $1, got $2 $(cat "$T/body")"; }
expect 404 "$(get /api/v1/tasks/nope/output -H "$AUTH")" "unknown task"
expect 404 "$(get '/api/v1/tasks/o1/output?attempt=3' -H "$AUTH")" "attempt beyond the last"
expect 400 "$(get '/api/v1/tasks/o1/output?attempt=0' -H "$AUTH")" "attempt=0"
expect 400 "$(get '/api/v1/tasks/o1/output?attempt=x' -H "$AUTH")" "attempt=x"
expect 400 "$(get '/api/v1/tasks/o1/output?stream=both' -H "$AUTH")" "stream=both"
expect 405 "$(get /api/v1/tasks/o1/output -H "$AUTH" -X POST)" "POST to output"
expect 401 "$(get /api/v1/tasks/o1/output)" "output without the token"
expect 401 "$(get /api/v1/tasks/o1/output -H 'Authorization: Bearer wrong')" "output with a wrong token"

# the dashboard: public files, nothing else
expect 200 "$(get /)" "GET / without the token"
hdr Content-Type | grep -q '^text/html' && grep -q 'dash.js' "$T/body" &&
    pass "GET / is the dashboard page" || fail "page: $(head -c 300 "$T/body")"
hdr Content-Security-Policy | grep -q "default-src 'self'" && pass "the page has a same-origin CSP" ||
    fail "csp: $(cat "$T/hdr")"
expect 200 "$(get /dash.js)" "GET /dash.js"
hdr Content-Type | grep -q '^text/javascript' || fail "js ctype: $(cat "$T/hdr")"
expect 200 "$(get /dash.css)" "GET /dash.css"
expect 401 "$(get / -X POST)" "POST / (only GET and HEAD of the files are public)"
expect 401 "$(get /index.html)" "another path without the token"
expect 401 "$(get /api/v1/events)" "the event stream without the token"
expect 401 "$(get /api/v1/status)" "status without the token"
finish
