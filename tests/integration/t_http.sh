#!/usr/bin/env bash
# The master's HTTP API and /metrics (docs/http.md): every endpoint and its
# errors; a task submitted by POST runs and its record shows its output; a
# 201 means the task is on disk (kill -9 right after it, restart, the task is
# there); cancel a task or a job; a job's record; paging; promtool accepts
# /metrics and its counters, gauges (queue depth by priority, resources) and
# histograms follow the tasks; the token (and --metrics-open); the exposure rule; --http off;
# HTTPS with the node's certificate; hostile requests (huge headers, a huge
# body, invalid UTF-8, path traversal, 10,000 connections at once) get 4xx
# or are refused while the master keeps scheduling.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

command -v curl >/dev/null || die "curl is needed (Debian package curl)"
command -v promtool >/dev/null || die "promtool is needed (Debian package prometheus)"

# http_url NAME: the URL the master NAME wrote to its state dir.
http_url() { cat "$T/state-$1/http.addr"; }
# req METHOD PATH [CURL ARGS...]: prints "STATUS BODY" from the master in $U.
req() {
    local m=$1 p=$2
    shift 2
    curl -s -m 10 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$U${p#/}" >"$T/code" 2>/dev/null
    echo "$(cat "$T/code") $(cat "$T/body")"
}
expect() { # WHAT WANT_STATUS GOT ("STATUS BODY")
    [ "${3%% *}" = "$2" ] && pass "$1: $2 ${3#* }" || fail "$1: wanted $2, got: $3"
}

# --prefetch 0: the slot and queue-depth checks count exactly what runs
# (prefetched attempts show as dtr_prefetched, and hold their slots)
start_master M --prefetch 0
grep -q '^dtr master http on http://127.0.0.1:[0-9]*/$' "$T/M.out" &&
    pass "the master prints its HTTP URL" || fail "no http line: $(cat "$T/M.out")"
U=$(http_url M)
[ "$(grep -o 'http://[^ ]*' "$T/M.out")" = "$U" ] && pass "STATE_DIR/http.addr holds $U" ||
    fail "http.addr '$U' differs from $(cat "$T/M.out")"
[ "$(stat -c %a "$T/state-M/http.addr")" = 600 ] && pass "http.addr is 0600" ||
    fail "http.addr mode $(stat -c %a "$T/state-M/http.addr")"

# status: the same object as dtr status --json (no workers yet: nothing moves)
r=$(req GET /api/v1/status)
[ "${r#* }" = "$(dtr status --json)" ] && pass "GET /api/v1/status is dtr status --json" ||
    fail "status: $r vs $(dtr status --json)"

# the event stream, open before anything happens; Last-Event-ID 0 asks for
# every event kept, so one that comes before the stream's request is handled
# (the connection counts before that) is not missed
curl -s -N -m 60 -H 'Last-Event-ID: 0' "${U}api/v1/events" >events.txt 2>/dev/null &
EPID=$!
PIDS+=("$EPID")
wait_for "the stream is open" "[ \"\$(curl -s -m 5 \"${U}metrics\" | sed -n 's/^dtr_http_connections //p')\" -ge 1 ]"

start_worker W1 --master "$M_ADDR" --slots 2 --cpus 2 --resource lic=3
wait_for "W1 registered" "workers_registered 1" || finish
r=$(req GET /api/v1/workers)
expect "GET /api/v1/workers" 200 "$r"
echo "$r" | grep -q '"id":"W1"' || fail "W1 not in workers: $r"

# submit one spec, see it run, read its record with its output
r=$(req POST /api/v1/tasks -H 'Content-Type: application/json' -d '{"cmd":"echo from-http","id":"h1"}')
expect "POST /api/v1/tasks (one spec)" 201 "$r"
echo "$r" | grep -q '"tasks":\["h1"\]' || fail "submit reply: $r"
wait_for "h1 succeeded" "req GET /api/v1/tasks/h1 | grep -q '\"state\":\"succeeded\"'" || finish
r=$(req GET /api/v1/tasks/h1)
echo "$r" | grep -q '"stdout":"from-http\\n"' && pass "GET /api/v1/tasks/ID: the record with stdout" ||
    fail "record: $r"
[ "$(dtr result h1)" = from-http ] && pass "the native client sees the task posted over HTTP" ||
    fail "dtr result h1: $(dtr result h1 2>&1)"

# an array of specs, one job; paging in submission order; filters
r=$(req POST /api/v1/tasks -d '[{"kind":"noop","id":"p1","labels":{"team":"a"}},{"kind":"noop","id":"p2"},{"kind":"noop","id":"p3","labels":{"team":"a"}},{"cmd":"sleep 60","id":"slow"}]')
expect "POST /api/v1/tasks (an array)" 201 "$r"
job=$(echo "$r" | sed -n 's/.*"job":"\([^"]*\)".*/\1/p')
wait_for "slow running" "req GET /api/v1/tasks/slow | grep -q '\"state\":\"running\"'" || finish
pages=""
after=""
for _ in 1 2 3 4 5 6; do
    r=$(req GET "/api/v1/tasks?limit=2${after:+&after=$after}")
    pages="$pages $(echo "${r#* }" | grep -o '"id":"[^"]*"' | sed 's/"id":"\(.*\)"/\1/' | tr '\n' ' ')"
    after=$(echo "$r" | sed -n 's/.*"next":"\([^"]*\)".*/\1/p')
    [ -n "$after" ] || break
done
[ "$(echo $pages)" = "h1 p1 p2 p3 slow" ] && pass "paging by limit and after: $(echo $pages)" ||
    fail "pages: $pages"
r=$(req GET "/api/v1/tasks?label=team=a")
[ "$(echo "$r" | grep -o '"id":"[^"]*"' | tr '\n' ' ')" = '"id":"p1" "id":"p3" ' ] &&
    pass "label= filter" || fail "label filter: $r"
r=$(req GET "/api/v1/tasks?state=running")
[ "$(echo "$r" | grep -o '"id":"[^"]*"' | tr '\n' ' ')" = '"id":"slow" ' ] &&
    pass "state= filter" || fail "state filter: $r"
r=$(req GET "/api/v1/tasks?job=$job&limit=10")
[ "$(echo "$r" | grep -o '"id":"[^"]*"' | wc -l)" = 4 ] && pass "job= filter" || fail "job filter: $r"
r=$(req GET /api/v1/jobs)
expect "GET /api/v1/jobs" 200 "$r"
echo "$r" | grep -q "\"id\":\"$job\"" || fail "job $job not listed: $r"
r=$(req GET "/api/v1/jobs/$job")
expect "GET /api/v1/jobs/J" 200 "$r"
echo "$r" | grep -q "^200 {\"id\":\"$job\",\"tasks\":{" || fail "job record: $r"
expect "an unknown job" 404 "$(req GET /api/v1/jobs/j-999)"
expect "not a job id" 404 "$(req GET '/api/v1/jobs/a%20b')"
expect "a job's unknown sub-path" 404 "$(req GET "/api/v1/jobs/$job/tasks")"
expect "DELETE a job" 405 "$(req DELETE "/api/v1/jobs/$job")"
expect "GET a job's cancel" 405 "$(req GET "/api/v1/jobs/$job/cancel")"
expect "cancel an unknown job" 404 "$(req POST /api/v1/jobs/j-999/cancel)"

# cancel
expect "cancel a running task" 200 "$(req POST /api/v1/tasks/slow/cancel)"
wait_for "slow cancelled" "dtr tasks --state cancelled | grep -q slow" || true
expect "cancel it again" 409 "$(req POST /api/v1/tasks/slow/cancel)"
expect "cancel an unknown task" 404 "$(req POST /api/v1/tasks/nope/cancel)"

# what the stream saw: every event once, ids rising by one, in order
wait_for "the stream saw slow cancelled" "grep -q '\"event\":\"cancelled\",\"task\":\"slow\"' events.txt" 10
ev() { grep '^data: ' events.txt | sed -n "s/.*\"event\":\"\([a-z_]*\)\",\"task\":$1.*/\1/p" | tr '\n' ' '; }
[ "$(ev '"h1"')" = "submitted started succeeded " ] && pass "events of h1: $(ev '"h1"')" ||
    fail "events of h1: '$(ev '"h1"')': $(cat events.txt)"
[ "$(ev '"slow"')" = "submitted started cancelled " ] && pass "events of slow: $(ev '"slow"')" ||
    fail "events of slow: '$(ev '"slow"')'"
grep -q '"event":"worker_joined","task":null,"job":null,"worker":"W1"' events.txt &&
    pass "the stream saw W1 join" || fail "no worker_joined: $(head -n 4 events.txt)"
ids=$(sed -n 's/^id: //p' events.txt | tr '\n' ' ')
first=${ids%% *}
n=$(echo $ids | wc -w)
[ "$(echo $ids)" = "$(seq -s ' ' "$first" $((first + n - 1)))" ] && pass "$n events, ids $first.. without gaps" ||
    fail "ids: $ids"
# a reconnecting client names the last id it had: the stream resumes right after it
mid=$(echo $ids | cut -d' ' -f3)
curl -s -N -m 2 -H "Last-Event-ID: $mid" "${U}api/v1/events" >resumed.txt 2>/dev/null
[ "$(sed -n 's/^id: //p' resumed.txt | head -n 1)" = $((mid + 1)) ] &&
    [ "$(sed -n 's/^id: //p' resumed.txt | wc -l)" -ge $((n - 3)) ] &&
    pass "Last-Event-ID $mid resumes at $((mid + 1))" || fail "resume: $(head -n 4 resumed.txt)"
expect "POST to the stream" 405 "$(req POST /api/v1/events)"

# errors
expect "unknown path" 404 "$(req GET /api/v2/status)"
expect "unknown task" 404 "$(req GET /api/v1/tasks/nope)"
expect "path traversal" 404 "$(req GET '/api/v1/tasks/..%2f..%2fetc%2fpasswd')"
expect "dot segments" 404 "$(req GET '/api/v1/../../etc/passwd' --path-as-is)"
expect "wrong method" 405 "$(req DELETE /api/v1/status)"
curl -s -m 10 -D "$T/h" -o /dev/null -X PUT "${U}api/v1/tasks" && grep -qi '^Allow: GET, HEAD, POST' "$T/h" &&
    pass "405 names the allowed methods" || fail "Allow header: $(cat "$T/h")"
expect "malformed JSON" 400 "$(req POST /api/v1/tasks -d '{"cmd":')"
printf '{"cmd":"echo \xff\xfe"}' >bad-utf8.json
expect "invalid UTF-8 in JSON" 400 "$(req POST /api/v1/tasks --data-binary @bad-utf8.json)"
expect "an empty array" 400 "$(req POST /api/v1/tasks -d '[]')"
expect "a string, not a spec" 400 "$(req POST /api/v1/tasks -d '"echo"')"
expect "an unknown field" 400 "$(req POST /api/v1/tasks -d '{"cmd":"true","bogus":1}')"
expect "a taken id" 400 "$(req POST /api/v1/tasks -d '{"cmd":"true","id":"h1"}')"
expect "a bad state" 400 "$(req GET '/api/v1/tasks?state=done')"
expect "a bad limit" 400 "$(req GET '/api/v1/tasks?limit=0')"
expect "a bad label" 400 "$(req GET '/api/v1/tasks?label=novalue')"
expect "after= an unknown task" 400 "$(req GET '/api/v1/tasks?after=nope')"
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >big.json
r=$(req POST /api/v1/tasks --data-binary @big.json)
expect "a 17 MiB body" 413 "$r"
r=$(req GET /api/v1/status -H "X-Big: $(head -c 100000 /dev/zero | tr '\0' a)")
case "${r%% *}" in 4*) pass "100 KB of headers: ${r%% *}" ;; *) fail "huge header: $r" ;; esac

# 201 only once on disk: kill -9 right after the reply, restart, it is there
r=$(req POST /api/v1/tasks -d '{"cmd":"sleep 60","id":"durable"}')
expect "POST before the kill" 201 "$r"
{
    kill -9 "$M_PID"
    wait "$M_PID"
} 2>/dev/null
start_master M --prefetch 0
U=$(http_url M)
# A loaded machine may take a while to replay the journal and answer: this
# checks what survived, not how fast.
wait_for "the restarted master to answer HTTP" \
    "[ \"\$(curl -s -m 5 -o /dev/null -w '%{http_code}' '${U}api/v1/status')\" = 200 ]" 30 ||
    echo "(no answer at ${U}api/v1/status; master.log: $(grep 'http listening' "$T/logs/master.log" | tr '\n' ' '))"
r=$(req GET /api/v1/tasks/durable)
expect "the task of a 201 survives kill -9" 200 "$r"

# metrics: promtool accepts them; counters follow what happened
curl -s -m 10 "${U}metrics" >metrics.txt
promtool check metrics <metrics.txt >promtool.out 2>&1 && pass "promtool check metrics" ||
    fail "promtool: $(cat promtool.out)"
r=$(req POST /api/v1/tasks -d '[{"kind":"noop"},{"kind":"noop"},{"cmd":"exit 3","max_retries":0}]')
expect "three more tasks" 201 "$r"
ids=$(echo "$r" | grep -o '"t-[0-9]*"' | tr -d '"')
dtr wait $ids >/dev/null 2>&1
curl -s -m 10 "${U}metrics" >metrics2.txt
metric() { sed -n "s/^$1 //p" metrics2.txt; }
[ "$(metric dtr_tasks_submitted_total)" -ge 3 ] && [ "$(metric dtr_tasks_failed_total)" -ge 1 ] &&
    [ "$(metric dtr_tasks_succeeded_total)" -ge 2 ] &&
    [ "$(metric 'dtr_tasks{state="failed"}')" -ge 1 ] && [ "$(metric 'dtr_task_run_seconds_count{kind="noop"}')" -ge 2 ] &&
    [ "$(metric dtr_journal_commit_seconds_count)" -ge 1 ] && [ "$(metric dtr_slots)" -ge 2 ] &&
    pass "counters, gauges and histograms follow the tasks" ||
    fail "metrics: $(grep -v '^#' metrics2.txt | head -40)"
promtool check metrics <metrics2.txt >promtool.out 2>&1 || fail "promtool (2): $(cat promtool.out)"
# queue depth by priority, dispatch latency, resources: the series exist and move
[ "$(metric dtr_dispatch_latency_seconds_count)" -ge 2 ] && [ "$(metric 'dtr_queue_depth{priority="2"}')" = 0 ] &&
    [ "$(metric dtr_resources_cpus)" != "" ] && [ "$(metric 'dtr_resources_named{name="lic"}')" = 3 ] &&
    [ "$(metric 'dtr_resources_named_in_use{name="lic"}')" = 0 ] &&
    pass "dispatch latency counted, queue depth and resources shown" ||
    fail "new series: $(grep -E 'dispatch|queue_depth|resources' metrics2.txt | grep -v '^#')"
dtr cancel durable >/dev/null # its slot is needed
r=$(req POST /api/v1/tasks -d '[{"cmd":"sleep 60","resources":{"lic":1},"priority":9},{"cmd":"sleep 60","priority":7},{"cmd":"sleep 60","priority":7},{"cmd":"sleep 60","priority":7},{"cmd":"sleep 60","priority":-50}]')
expect "sleepers at priorities 7 and -50" 201 "$r"
qjob=$(echo "$r" | sed -n 's/.*"job":"\([^"]*\)".*/\1/p')
mnow() { curl -s -m 10 "${U}metrics" | sed -n "s/^$1 //p"; }
wait_for "two sleepers run (lic held), the rest wait in the ready heap" \
    "[ \"\$(mnow 'dtr_resources_named_in_use{name=\"lic\"}')\" = 1 ] && [ \"\$(mnow 'dtr_slots_in_use')\" = 2 ] && [ \"\$(mnow 'dtr_queue_depth{priority=\"<-10\"}')\" = 1 ] && [ \"\$(mnow 'dtr_queue_depth{priority=\"7\"}')\" -ge 2 ]" &&
    pass "queue depth by priority and named resources in use follow the tasks" ||
    fail "moving series: $(curl -s -m 10 "${U}metrics" | grep -E '^dtr_(queue_depth|resources|slots)')"
[ "$(mnow dtr_resources_cpus_in_use)" != 0 ] && pass "cpus in use: $(mnow dtr_resources_cpus_in_use)" ||
    fail "cpus in use: $(mnow dtr_resources_cpus_in_use)"
curl -s -m 10 "${U}metrics" >metrics3.txt
promtool check metrics <metrics3.txt >promtool.out 2>&1 || fail "promtool (3): $(cat promtool.out)"
r=$(req POST "/api/v1/jobs/$qjob/cancel")
expect "POST /api/v1/jobs/J/cancel" 200 "$r"
[ "$(echo "$r" | grep -o '"t-[0-9]*"' | wc -l)" = 5 ] && echo "$r" | grep -q "{\"job\":\"$qjob\",\"cancelled\":\[" &&
    pass "the job's 5 unfinished tasks cancelled" || fail "job cancel reply: $r"
r=$(req GET "/api/v1/jobs/$qjob")
echo "$r" | grep -q '"cancelled":5' && pass "the job counts them cancelled" || fail "job after cancel: $r"
expect "cancel the ended job again: nothing left" 200 "$(req POST "/api/v1/jobs/$qjob/cancel")"
[ "$(cat "$T/body")" = "{\"job\":\"$qjob\",\"cancelled\":[]}" ] || fail "second job cancel: $(cat "$T/body")"
wait_for "the sleepers' slots free again" "[ \"\$(mnow 'dtr_slots_in_use')\" = 0 ] && [ \"\$(mnow 'dtr_queue_depth{priority=\"7\"}')\" = 0 ]" ||
    fail "after the cancel: $(curl -s -m 10 "${U}metrics" | grep -E '^dtr_(queue_depth|slots)')"

# many connections at once: bounded, and the master keeps scheduling
$PY - "$U" >conns.out 2>&1 <<'EOF' &
import os, resource, socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 10000 + 64
if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
# non-blocking connects: past the master's limit the accept queue fills and
# a blocking connect would wait out its timeout, one by one
pending = []
for i in range(10000):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((u.hostname, u.port))
        pending.append(s)
    except OSError:
        pass
socks = []
deadline = time.monotonic() + 15
while pending and time.monotonic() < deadline:
    waiting = []
    for s in pending:
        try:
            s.send(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")  # never finished
            socks.append(s)
        except (BlockingIOError, InterruptedError):
            waiting.append(s)
        except OSError:
            s.close()
    pending = waiting
    time.sleep(0.05)
print(len(socks), "open", flush=True)
# held until the test has checked that tasks still run (at most 60 s)
for _ in range(600):
    if os.path.exists("conns.release"):
        break
    time.sleep(0.1)
EOF
CPID=$!
PIDS+=("$CPID")
wait_for "10000 connections tried" "grep -q open conns.out" 30 || true
id=$(dtr submit -- echo still-scheduling) && dtr wait "$id" >/dev/null 2>&1 &&
    [ "$(dtr result "$id")" = still-scheduling ] &&
    pass "with $(cut -d' ' -f1 conns.out) half-open HTTP connections of 10000 tried, tasks still run" ||
    fail "scheduling under a connection flood"
: >conns.release
wait "$CPID" 2>/dev/null
wait_for "HTTP answers again" "[ \"\$(req GET /api/v1/status | cut -d' ' -f1)\" = 200 ]" 40 &&
    pass "HTTP answers once the flood is gone"
kill -0 "$M_PID" && pass "the master survived the hostile requests" || fail "the master died"

# the token: every request, /metrics too unless --metrics-open
printf 'correct horse battery staple\n' >token
start_master A --token-file "$T/token" --port $((MPORT + 50))
U=$(http_url A)
expect "no token" 401 "$(req GET /api/v1/status)"
expect "a wrong token" 401 "$(req GET /api/v1/status -H 'Authorization: Bearer nope')"
expect "the token" 200 "$(req GET /api/v1/status -H 'Authorization: Bearer correct horse battery staple')"
expect "/metrics without the token" 401 "$(req GET /metrics)"
start_master B --token-file "$T/token" --metrics-open --port $((MPORT + 70))
U=$(http_url B)
expect "/metrics with --metrics-open" 200 "$(req GET /metrics)"
expect "the API with --metrics-open, no token" 401 "$(req POST /api/v1/tasks -d '{"kind":"noop"}')"

# beyond loopback without a token is refused; --http off serves nothing
"$DTR" master --port $((MPORT + 80)) --http 0.0.0.0:0 --state-dir "$T/state-X" --log-dir "$T/logs" \
    >X.out 2>X.err </dev/null &
XPID=$!
PIDS+=("$XPID")
wait_for "the exposed master refused" "is_dead $XPID" || true
grep -qi token X.err && pass "--http beyond loopback without a token: $(head -n1 X.err)" ||
    fail "exposure: $(cat X.err)"
start_master O --http off --port $((MPORT + 90))
[ ! -e "$T/state-O/http.addr" ] && ! grep -q 'http on' "$T/O.out" && pass "--http off" ||
    fail "--http off: $(cat "$T/O.out")"

# HTTPS with the node's certificate (--tls-*)
if command -v openssl >/dev/null &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=ca \
        -keyout ca.key -out ca.pem 2>>openssl.log &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout m.key -out m.csr 2>>openssl.log &&
    openssl x509 -req -in m.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out m.pem \
        2>>openssl.log; then
    start_master S --tls-ca="$T/ca.pem" --tls-cert="$T/m.pem" --tls-key="$T/m.key" --port $((MPORT + 30))
    U=$(http_url S)
    case "$U" in https://*) pass "with --tls-* the URL is $U" ;; *) fail "TLS URL: $U" ;; esac
    port=${U##*:}
    port=${port%/}
    r=$(curl -s -m 10 --cacert ca.pem --resolve "localhost:$port:127.0.0.1" \
        "https://localhost:$port/api/v1/status")
    echo "$r" | grep -q '"workers"' && pass "GET over HTTPS with the node's certificate" ||
        fail "HTTPS: $r"
    r=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/status")
    [ "$r" != 200 ] && pass "plain HTTP to the HTTPS port is refused ($r)" || fail "plain HTTP: $r"
else
    fail "openssl could not make a certificate: $(tail -n 3 openssl.log)"
fi

finish
