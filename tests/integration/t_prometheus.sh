#!/usr/bin/env bash
# A real Prometheus (Debian's prometheus package) scrapes the master's
# /metrics every second with the token from a credentials file, as the
# README's scrape config says: the target is up, the series land in its
# database, and they follow tasks as they run.
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || die "prometheus is needed (Debian package prometheus)"
command -v curl >/dev/null || die "curl is needed (Debian package curl)"

printf 'prom-token\n' >token
start_master M --token-file "$T/token"
start_worker W1 --master "$M_ADDR" --slots 2 --token-file "$T/token"
U=$(cat "$T/state-M/http.addr")
hp=${U#http://}
hp=${hp%/}
cat >prom.yml <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: dtr
    static_configs:
      - targets: ["$hp"]
    authorization:
      type: Bearer
      credentials_file: $T/token
EOF
promtool check config prom.yml >promtool.out 2>&1 || fail "promtool check config: $(cat promtool.out)"
# a free port from the kernel; another one if something took it meanwhile
for _ in 1 2 3 4 5; do
    PP=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    prometheus --config.file=prom.yml --storage.tsdb.path="$T/prom" \
        --web.listen-address="127.0.0.1:$PP" >prom.out 2>prom.log &
    PROM=$!
    PIDS+=("$PROM")
    wait_for "Prometheus starts or gives up" \
        "grep -q 'Server is ready to receive web requests' prom.log || is_dead $PROM" 60 || break
    is_dead "$PROM" || break
done
# query EXPR: the first result's value, or nothing
query() {
    curl -s -m 5 -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" |
        sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'
}
wait_for "Prometheus scrapes the master" "[ \"\$(query 'up{job=\"dtr\"}')\" = 1 ]" 60 &&
    pass "the target is up (the token from credentials_file)" ||
    fail "not up: $(curl -s -m 5 "http://127.0.0.1:$PP/api/v1/targets" | head -c 600) $(tail -n 5 prom.log)"
[ "$(query 'dtr_queue_depth{priority="2"}')" = 0 ] && [ -n "$(query dtr_resources_cpus)" ] &&
    [ -n "$(query dtr_dispatch_latency_seconds_count)" ] && pass "the series are in Prometheus" ||
    fail "series: $(query 'dtr_queue_depth{priority="2"}') $(query dtr_resources_cpus)"
export DTR_TOKEN=prom-token
dtr submit --kind noop --array 1-20 >/dev/null || fail "submit"
dtr wait --all >/dev/null || fail "wait"
wait_for "Prometheus sees the 20 noops" "[ \"\$(query dtr_tasks_succeeded_total)\" = 20 ]" 30 &&
    [ "$(query dtr_dispatch_latency_seconds_count)" = 20 ] &&
    pass "counters and the dispatch latency follow the tasks in Prometheus" ||
    fail "succeeded $(query dtr_tasks_succeeded_total), dispatched $(query dtr_dispatch_latency_seconds_count)"
finish
