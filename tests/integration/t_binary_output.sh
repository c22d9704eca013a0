#!/usr/bin/env bash
# Output is carried as bytes: a task that prints bytes which are not UTF-8
# gets exactly those bytes back from `dtr result` (and as stdout_b64 in
# --json), also after the master is killed and restarted on its state dir.
# Input that json-c would silently change is refused instead: integers past
# 64 bits in a payload, env names holding NUL, and timeouts that mean zero.
# A truncated output is noted on stderr.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# 1,000 bytes that are certainly not UTF-8 (a leading 0xff and a NUL).
printf '\377\000' >rand.bin
head -c 998 /dev/urandom >>rand.bin
[ "$(wc -c <rand.bin)" -eq 1000 ] || die "could not make rand.bin"
printf 'h\303\251llo\000w\n' >utf8.bin # valid UTF-8, with a NUL

start_master M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 2 --max-output 64K
wait_for "the worker registered" "workers_registered 1" || finish

dtr submit --id bin -- cat "$T/rand.bin" >/dev/null || die "submit bin failed"
dtr submit --id binerr --cmd "cat '$T/rand.bin' >&2" >/dev/null || die "submit binerr failed"
dtr submit --id text -- cat "$T/utf8.bin" >/dev/null || die "submit text failed"
dtr submit --id trunc --cmd "head -c 70000 /dev/zero | tr '\\000' a" >/dev/null ||
    die "submit trunc failed"
dtr wait bin binerr text trunc --timeout 60s >wait.out 2>&1 ||
    die "the tasks did not all succeed: $(cat wait.out)"

# check_bytes LABEL: dtr result's stdout is rand.bin, byte for byte; its
# --json is valid JSON whose stdout_b64 decodes to the same bytes.
check_bytes() {
    dtr result bin >out.bin 2>result.err
    local rc=$?
    [ "$rc" -eq 0 ] || fail "$1: dtr result bin exited $rc: $(cat result.err)"
    cmp -s out.bin rand.bin && pass "$1: dtr result prints the 1000 bytes exactly" ||
        fail "$1: dtr result printed $(wc -c <out.bin) bytes that differ from rand.bin"
    dtr result bin --json >bin.json || fail "$1: dtr result bin --json exited $?"
    "$PY" - bin.json rand.bin <<'EOF' >json.out 2>&1 && pass "$1: --json is JSON; stdout_b64 holds the exact bytes" || fail "$1: --json: $(cat json.out)"
import base64, json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
want = open(sys.argv[2], "rb").read()
assert isinstance(r.get("stdout"), str), "stdout is not a string: %r" % (r.get("stdout"),)
assert "stdout_b64" in r, "no stdout_b64 field: %s" % sorted(r)
assert base64.b64decode(r["stdout_b64"], validate=True) == want, "stdout_b64 differs"
assert r["stdout_truncated"] is False
EOF
}

check_bytes "live"

dtr result binerr --json >binerr.json || fail "dtr result binerr --json exited $?"
"$PY" - binerr.json rand.bin <<'EOF' >json.out 2>&1 && pass "stderr that is not UTF-8 comes back as stderr_b64" || fail "binerr: $(cat json.out)"
import base64, json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
want = open(sys.argv[2], "rb").read()
assert base64.b64decode(r["stderr_b64"], validate=True) == want, "stderr_b64 differs"
assert r["stdout"] == "" and "stdout_b64" not in r, "stdout: %r" % (r["stdout"],)
EOF

dtr result text >text.out || fail "dtr result text exited $?"
cmp -s text.out utf8.bin && pass "valid UTF-8 with a NUL comes back exactly" ||
    fail "dtr result text printed $(od -c text.out | head -n 3)"
dtr result text --json >text.json || fail "dtr result text --json exited $?"
"$PY" - text.json utf8.bin <<'EOF' >json.out 2>&1 && pass "valid UTF-8 stays a plain stdout string (no stdout_b64)" || fail "text: $(cat json.out)"
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
assert r["stdout"].encode("utf-8") == open(sys.argv[2], "rb").read(), repr(r["stdout"])
assert "stdout_b64" not in r and "stderr_b64" not in r, sorted(r)
EOF

# Truncated output: the kept bytes, exit 0, and a note on stderr.
dtr result trunc >trunc.out 2>trunc.err
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -c <trunc.out)" -eq 65536 ] &&
    pass "dtr result trunc: exit 0 and the 65536 kept bytes" ||
    fail "dtr result trunc: exit $rc, $(wc -c <trunc.out) bytes"
grep -q "note: stdout of task 'trunc' was truncated at 65536 bytes" trunc.err &&
    pass "a truncated stdout is noted on stderr" ||
    fail "no truncation note on stderr: '$(cat trunc.err)'"
dtr result bin >/dev/null 2>result.err
[ ! -s result.err ] && pass "no note when nothing was truncated" ||
    fail "unexpected stderr: $(cat result.err)"

# The journal keeps the bytes: SIGKILL the master and read them again.
kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null
mv M.out M-first.out
mv M.err M-first.err
start_master M --port "$MPORT_USED" --state-dir "$T/state-M"
check_bytes "after a master restart"

# Integers past 64 bits in a payload are refused, not clamped.
# expect_refused LABEL NEEDLE CMD...: CMD exits 2 or 4 and says NEEDLE on stderr.
expect_refused() {
    local label=$1 needle=$2
    shift 2
    "$@" >refused.out 2>refused.err
    local rc=$?
    if { [ "$rc" -eq 2 ] || [ "$rc" -eq 4 ]; } && grep -qF -- "$needle" refused.err &&
        [ ! -s refused.out ]; then
        pass "$label refused (exit $rc): $(head -n 1 refused.err)"
    else
        fail "$label: exit $rc, stdout '$(cat refused.out)', stderr '$(cat refused.err)'"
    fi
}
expect_refused "compute with 2^64" "payload.numbers" \
    dtr submit --kind compute --payload '{"numbers":[18446744073709551616,1]}'
expect_refused "compute with -2^63-1" "64-bit" \
    dtr submit --kind compute --payload '{"numbers":[-9223372036854775809]}'
printf '{"kind":"compute","payload":{"numbers":[1,99999999999999999999999]}}\n' >big.jsonl
expect_refused "a .jsonl compute task with 10^23" "payload.numbers" dtr submit --file big.jsonl
printf '{"kind":"echo","payload":{"a":{"b":[18446744073709551615]}}}\n' >bigecho.jsonl
expect_refused "an echo payload with 2^64-1" "payload.a.b" dtr submit --file bigecho.jsonl
# ... while the edges of int64 still sum exactly.
dtr submit --id edge --kind compute --payload '{"numbers":[9223372036854775806,1]}' >/dev/null ||
    fail "submit of int64 edge numbers failed"
dtr wait edge --timeout 30s >/dev/null 2>&1 || fail "task edge did not succeed"
[ "$(dtr result edge)" = "9223372036854775807" ] && pass "int64 edges still sum exactly" ||
    fail "compute edge: '$(dtr result edge)'"

# An env name with NUL is refused (json-c would cut it at the NUL).
printf '{"cmd":"true","env":{"A\\u0000B":"x"}}\n' >nulenv.jsonl
expect_refused "an env name with NUL" "'env'" dtr submit --file nulenv.jsonl
printf '{"cmd":"true","env":{"A":"x\\u0000y"}}\n' >nulval.jsonl
expect_refused "an env value with NUL" "'env'" dtr submit --file nulval.jsonl

# The master checks the same on its own, for clients other than dtr's CLI.
cat >raw_submit.py <<'EOF'
import json, os, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
for line in sys.argv[2:]:  # one connection each: an error reply closes it
    s = socket.create_connection((host, int(port)), timeout=10)
    f = s.makefile("rb")
    import dtrwire
    s.sendall(dtrwire.enc(dtrwire.hello("client", "raw-submit")))
    assert json.loads(f.readline())["type"] == "hello"
    s.sendall(b'{"type":"submit","tasks":[' + line.encode() + b']}\n')
    print(f.readline().decode().strip())
    s.close()
EOF
"$PY" raw_submit.py "$M_ADDR" '{"kind":"compute","payload":{"numbers":[18446744073709551616]}}' \
    '{"cmd":"true","env":{"A\u0000B":"x"}}' '{"cmd":"true","timeout":0.0001}' >raw.out 2>raw.err
if [ "$(grep -c '"type":"error"' raw.out)" -eq 3 ] && grep -q "payload.numbers" raw.out &&
    grep -q "env' holds a name with a NUL" raw.out && grep -q "omit it for no timeout" raw.out; then
    pass "the master refuses the three in a raw submit too"
else
    fail "raw submit: $(cat raw.out raw.err)"
fi

# One timeout rule: zero, or less than half a millisecond, is refused on the
# command line and in JSON alike; omitting it means no timeout.
for t in 0 0ms 0.0001 0s; do
    expect_refused "-t $t" "must be positive (omit it for no timeout)" dtr submit -t "$t" -- true
done
printf '{"cmd":"true","timeout":0.0001}\n' >tiny.jsonl
expect_refused "JSON timeout 0.0001" "must be positive (omit it for no timeout)" \
    dtr submit --file tiny.jsonl
dtr submit --help | grep -q "omit it for no timeout" && pass "submit --help states the rule" ||
    fail "submit --help does not state the timeout rule"
dtr submit --id tms -t 1ms -- true >/dev/null && pass "-t 1ms is accepted" ||
    fail "-t 1ms was refused"
dtr wait bin --timeout 30s >/dev/null 2>&1 && pass "dtr wait --timeout still takes a duration" ||
    fail "dtr wait --timeout 30s exited $?"
finish
