#!/usr/bin/env bash
# The SSE stream (docs/http.md "GET /api/v1/events") past the ring's
# 10,000 events: 12,000 noops make about 36,000 events while a fast reader
# and a stalled one (a small socket buffer, reading nothing during the run)
# follow it, and after the run a late reader (Last-Event-ID 1). Whatever the timing:
# ids only rise, every gap is announced by a "no longer kept" comment naming
# exactly the missing ids, the readers end at the same last id, and an
# event's bytes are the same in every stream (the master formats each event
# once for all streams, or again for a stream behind that cache). A
# coalesced reader (?coalesce=1, what the dashboard reads) gets the same
# run as a few "tasks" events whose counts add up, and the failure alone.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

command -v curl >/dev/null || die "curl is needed (Debian package curl)"
start_master M
U=$(cat "$T/state-M/http.addr")
start_worker W1 --master "$M_ADDR" --slots 500
wait_for "W1 registered" "workers_registered 1" || finish

curl -s -N -m 300 -H 'Last-Event-ID: 0' "${U}api/v1/events" >fast.txt 2>/dev/null &
FAST=$!
PIDS+=("$FAST")
curl -s -N -m 300 -H 'Last-Event-ID: 0' "${U}api/v1/events?coalesce=1" >co.txt 2>/dev/null &
CO=$!
PIDS+=("$CO")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${U}api/v1/events?coalesce=yes")" = 400 ] &&
    pass "coalesce=yes: 400" || fail "coalesce=yes is not refused"
$PY - "$U" >slow.txt 2>slow.err <<'EOF' &
import http.client, os, socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
class Small(http.client.HTTPConnection):
    """A small receive buffer, set before connecting (the window it offers)."""
    def connect(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((self.host, self.port))
c = Small(u.hostname, u.port)
c.request("GET", "/api/v1/events", headers={"Last-Event-ID": "0"})
r = c.getresponse()
out = sys.stdout.buffer
out.write(r.read1(100))  # the first bytes, then nothing read until the run is over
out.flush()
while not os.path.exists("go"):
    time.sleep(0.05)
while True:
    b = r.read1(65536)
    if not b:
        break
    out.write(b)
    out.flush()
EOF
SLOW=$!
PIDS+=("$SLOW")
wait_for "both readers connected" \
    "[ \"\$(curl -s -m 5 \"${U}metrics\" | sed -n 's/^dtr_http_connections //p')\" -ge 4 ]" || finish

dtr submit --kind noop --array 1-12000 >/dev/null || fail "submit"
fid=$(dtr submit --retries 0 --cmd 'exit 3') || fail "submit the failing task"
dtr wait --all --timeout 300s >/dev/null
pass "12,000 noops ran"
co_sum() { sed -n "s/.*\"event\":\"tasks\".*\"$1\":\([0-9]*\).*/\1/p" co.txt | awk '{ s += $1 } END { print s + 0 }'; }
wait_for "the coalesced counts add up" \
    "[ \$(co_sum submitted) = 12001 ] && [ \$(co_sum started) = 12001 ] && [ \$(co_sum succeeded) = 12000 ]" 30 &&
    pass "coalesced: 12,001 submitted, 12,001 started, 12,000 succeeded, counted" ||
    fail "coalesced counts: $(co_sum submitted) $(co_sum started) $(co_sum succeeded)"
grep -q "\"event\":\"failed\",.*\"task\":\"$fid\"" co.txt && pass "the failure comes alone" ||
    fail "no failed event for $fid in co.txt: $(grep -v '"tasks"' co.txt | grep data | head -n 5)"
n=$(grep -c '^data: ' co.txt)
[ "$n" -lt 1000 ] && pass "in $n events (36,000 one by one)" || fail "coalesced stream has $n events"
kill "$CO" 2>/dev/null
: >go # the slow reader reads again
curl -s -N -m $((3 * WAIT_SCALE)) -H 'Last-Event-ID: 1' "${U}api/v1/events" >late.txt 2>/dev/null
last() { sed -n 's/^id: //p' "$1" | tail -n 1; }
L=$(last late.txt)
[ -n "$L" ] && [ "$L" -ge 36000 ] && pass "the late reader ends at id $L" || fail "late.txt ends at '$L'"
wait_for "the fast reader reaches $L" "[ \"\$(last fast.txt)\" = '$L' ]" 60 || true
wait_for "the slow reader reaches $L" "[ \"\$(last slow.txt)\" = '$L' ]" 120 || true
kill "$FAST" "$SLOW" 2>/dev/null
wait "$FAST" "$SLOW" 2>/dev/null

$PY - fast.txt slow.txt late.txt <<'EOF' >check.out 2>&1
import re, sys
seen = {}
bad = 0
for name, start in (("fast.txt", 0), ("slow.txt", 0), ("late.txt", 1)):
    body = open(name, "rb").read().decode()
    body = body[:body.rfind("\n\n") + 2]  # whole events only (a reader stopped mid-line)
    prev, notices = start, 0
    for m in re.finditer(r"^: events (\d+) to (\d+) are no longer kept$|^id: (\d+)\ndata: (.*)$", body, re.M):
        if m.group(1):
            a, b = int(m.group(1)), int(m.group(2))
            if a != prev + 1 or b < a:
                print("%s: notice %d to %d after id %d" % (name, a, b, prev)); bad += 1
            prev, notices = b, notices + 1
            continue
        i, data = int(m.group(3)), m.group(4)
        if i != prev + 1:
            print("%s: id %d after %d, no notice" % (name, i, prev)); bad += 1
        if seen.setdefault(i, data) != data:
            print("%s: id %d differs: %s vs %s" % (name, i, data, seen[i])); bad += 1
        prev = i
    print("%s: to id %d, %d notice(s)" % (name, prev, notices))
sys.exit(1 if bad else 0)
EOF
rc=$?
cat check.out
[ $rc = 0 ] && pass "ids rise by one or across an announced gap; the same bytes in every stream" ||
    fail "the streams: $(head -n 20 check.out)"
grep -q '^late.txt: .* 1 notice' check.out && pass "the late reader was told what is no longer kept" ||
    fail "late reader: $(head -n 3 late.txt)"
finish
