#!/usr/bin/env bash
# Task output, whole and per attempt (issue 13, "Output"): a 200 MB stdout
# kept byte-identical; binary and invalid UTF-8 on both streams, each to its
# own fd; every attempt's output of a task that fails then succeeds;
# --max-output truncation recorded; dtr logs -f following a task that
# prints a line every 50 ms (lines seen while the task still runs, and its
# exit status at the end); pruned tasks' files deleted; and, after the
# master is killed with SIGKILL and restarted, finished output intact.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# --max-output takes sizes as --mem does (256M here); nonsense is refused.
dtr master --max-output 12Q --state-dir "$T/bad" >bad.out 2>&1
[ $? = 2 ] && grep -q "dtr master: --max-output must be a size such as 512M or 2G, not '12Q'" bad.out &&
    pass "--max-output 12Q refused" || fail "--max-output 12Q: $(cat bad.out)"
start_master M --max-output 256M
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "the worker registered" "workers_registered 1" || finish

# ---- 200 MB of random bytes, through the wire and the files
dtr submit --id big --cmd "head -c 200M /dev/urandom | tee '$T/big.src'" >/dev/null ||
    die "submit big failed"

# ---- binary and invalid UTF-8, different on each stream
printf '\377\000\376bin\n' >out.bin
head -c 70000 /dev/urandom >>out.bin # more than one output message
printf 'caf\351 \000\200err\n' >err.bin
dtr submit --id bin --cmd "cat '$T/out.bin'; cat '$T/err.bin' >&2" >/dev/null ||
    die "submit bin failed"

# ---- fails on attempt 1, succeeds on attempt 2
dtr submit --id retry --retries 2 --cmd \
    'echo "out of attempt $DTR_ATTEMPT"; echo "err of attempt $DTR_ATTEMPT" >&2; [ "$DTR_ATTEMPT" -ge 2 ]' \
    >/dev/null || die "submit retry failed"

dtr wait big bin retry --timeout 120s >wait.out 2>&1 ||
    die "the tasks did not all succeed: $(cat wait.out)"

dtr result big >big.out 2>big.err
rc=$?
[ "$rc" -eq 0 ] && [ "$(wc -c <big.out)" -eq $((200 * 1024 * 1024)) ] &&
    pass "dtr result big: exit 0 and 200 MiB" ||
    fail "dtr result big: exit $rc, $(wc -c <big.out) bytes, $(head -c 300 big.err)"
[ "$(sha256sum <big.out)" = "$(sha256sum <big.src)" ] &&
    pass "the 200 MiB stdout is byte-identical (sha256)" || fail "the 200 MiB stdout differs"
[ ! -s big.err ] && pass "nothing on stderr for big" || fail "big.err: $(head -c 300 big.err)"
rm -f big.out

dtr result bin >bin.out 2>bin.err || fail "dtr result bin exited $?"
cmp -s bin.out out.bin && pass "binary stdout byte for byte, on stdout" || fail "bin stdout differs"
cmp -s bin.err err.bin && pass "invalid UTF-8 stderr byte for byte, on stderr" ||
    fail "bin stderr differs: $(od -c bin.err | head -3)"
dtr logs bin --stdout >logs-out.bin && cmp -s logs-out.bin out.bin &&
    pass "dtr logs --stdout: stdout only" || fail "dtr logs --stdout differs"
dtr logs bin --stderr >logs-err.bin && cmp -s logs-err.bin err.bin &&
    pass "dtr logs --stderr: stderr only, on stdout" || fail "dtr logs --stderr differs"
dtr result bin --json >bin.json || fail "result bin --json exited $?"
"$PY" - bin.json out.bin err.bin <<'PYEOF' && pass "result --json: _b64 fields hold the first bytes" || fail "bin.json"
import base64, json, sys
r = json.load(open(sys.argv[1]))
assert base64.b64decode(r["stdout_b64"]) == open(sys.argv[2], "rb").read(), "stdout_b64"
assert base64.b64decode(r["stderr_b64"]) == open(sys.argv[3], "rb").read(), "stderr_b64"
h = r["history"]
out, err = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
assert len(h) == 1 and h[0]["stdout_bytes"] == len(out) and h[0]["stderr_bytes"] == len(err), h
PYEOF

# ---- per attempt
check_attempt() { # N EXPECTED_EXIT
    dtr result retry --attempt "$1" >"a$1.out" 2>"a$1.err"
    local rc=$?
    [ "$rc" -eq 0 ] && [ "$(cat "a$1.out")" = "out of attempt $1" ] &&
        [ "$(cat "a$1.err")" = "err of attempt $1" ] &&
        pass "dtr result retry --attempt $1: its own stdout and stderr" ||
        fail "attempt $1: rc=$rc out='$(cat "a$1.out")' err='$(cat "a$1.err")'"
}
check_attempt 1
check_attempt 2
[ "$(dtr result retry 2>/dev/null)" = "out of attempt 2" ] &&
    pass "dtr result retry: the last attempt" || fail "dtr result retry: '$(dtr result retry 2>&1)'"
dtr result retry --attempt 3 >/dev/null 2>a3.err
rc=$?
[ "$rc" -eq 4 ] && grep -q "has 2 attempts, not 3" a3.err &&
    pass "--attempt 3 of 2: exit 4, 'has 2 attempts, not 3'" || fail "attempt 3: rc=$rc $(cat a3.err)"
dtr result retry --json >retry.json || fail "result retry --json exited $?"
"$PY" - retry.json <<'PYEOF' && pass "result --json lists both attempts" || fail "retry.json: $(cat retry.json)"
import json, sys
h = json.load(open(sys.argv[1]))["history"]
assert [a["attempt"] for a in h] == [1, 2], h
assert h[0]["exit_code"] == 1 and h[0]["status"] == "failed", h[0]
assert h[1]["exit_code"] == 0 and h[1]["status"] == "succeeded", h[1]
assert h[0]["worker"] == "W1" and h[0]["started_at"] and h[0]["finished_at"], h[0]
assert h[0]["stdout_bytes"] == len("out of attempt 1\n"), h[0]
assert not h[0]["stdout_truncated"] and not h[1]["stderr_truncated"], h
PYEOF

# ---- dtr logs -f: a line every 50 ms; after line 5 the task waits for
# $T/go, so the follower must show lines while the task still runs.
dtr submit --id follow --cmd \
    "for i in \$(seq 1 20); do echo line \$i; if [ \$i = 5 ]; then n=0; while [ ! -e '$T/go' ] && [ \$n -lt 2400 ]; do sleep 0.05; n=\$((n+1)); done; fi; sleep 0.05; done" \
    >/dev/null || die "submit follow failed"
dtr logs -f follow >follow.out 2>follow.err &
FPID=$!
PIDS+=("$FPID")
wait_for "the follower to show line 5" "grep -qx 'line 5' follow.out" 30 &&
    pass "dtr logs -f showed line 5 while the task was still running"
[ "$(dtr result follow --json | grep -o '"state":"running"')" = '"state":"running"' ] &&
    ! grep -q 'line 6' follow.out && pass "the task was still running, at line 5" ||
    fail "the task was not running at line 5: $(dtr result follow --json | head -c 200)"
touch go
wait_for "the follower to exit" "is_dead $FPID" 30
wait "$FPID"
rc=$?
[ "$rc" -eq 0 ] && pass "dtr logs -f exited 0 once the task succeeded" || fail "follower exit $rc: $(cat follow.err)"
seq 1 20 | sed 's/^/line /' >follow.want
cmp -s follow.out follow.want && pass "the follower printed the 20 lines, in order, once" ||
    fail "follower output: $(tr '\n' ' ' <follow.out)"
dtr submit --id follow-fail --retries 0 --cmd "echo bye; exit 3" >/dev/null
dtr logs -f follow-fail >ff.out 2>ff.err
rc=$?
[ "$rc" -eq 1 ] && [ "$(cat ff.out)" = bye ] && grep -q "exited with status 3" ff.err &&
    pass "dtr logs -f of a failing task: its output, then exit 1 (as dtr wait)" ||
    fail "follow-fail: rc=$rc out='$(cat ff.out)' err='$(cat ff.err)'"

# ---- --max-output on another master, with a short --keep-finished
MPORT=$((MPORT + 50))
start_master M2 --max-output 100000 --keep-finished 3s
M2_ADDR_USED=$M2_ADDR
start_worker W2 --master "$M2_ADDR" --slots 2
wait_for "W2 registered" "workers_registered 1" || finish
dtr submit --id cut --cmd "head -c 150000 /dev/zero | tr '\\000' a; echo e >&2" >/dev/null
dtr wait cut --timeout 30s >/dev/null 2>&1 || fail "cut did not succeed"
dtr result cut >cut.out 2>cut.err
[ "$(wc -c <cut.out)" -eq 100000 ] && grep -q "note: stdout of task 'cut' was truncated at 100000 bytes" cut.err &&
    grep -q "note: stderr of task 'cut' was truncated at 0 bytes" cut.err &&
    pass "--max-output 100000: 100000 bytes kept for the attempt, truncation noted" ||
    fail "cut: $(wc -c <cut.out) bytes, err: $(cat cut.err)"
dtr result cut --json | grep -q '"stdout_truncated":true' &&
    pass "the truncation is recorded in the attempt" || fail "no stdout_truncated in cut's record"
ls "$T/state-M2/output" | grep -q . && pass "M2 has output files" || fail "M2 has no output files"
wait_for "pruned task's files deleted" "[ -z \"\$(ls '$T/state-M2/output')\" ]" 30 &&
    pass "--keep-finished: the pruned task's output files are deleted"
export DTR_MASTER=$M_ADDR

# ---- kill -9 and restart: finished output intact
kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null
mv M.out M-first.out
mv M.err M-first.err
MPORT=$MPORT_USED
start_master M --max-output 256M
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] || fail "restarted on $M_ADDR"
[ "$(dtr result big | sha256sum)" = "$(sha256sum <big.src)" ] &&
    pass "after kill -9 and restart: the 200 MiB stdout is intact" || fail "big differs after restart"
dtr result bin >bin2.out 2>bin2.err && cmp -s bin2.out out.bin && cmp -s bin2.err err.bin &&
    pass "after restart: binary stdout and stderr intact" || fail "bin differs after restart"
[ "$(dtr result retry --attempt 1 2>/dev/null)" = "out of attempt 1" ] &&
    pass "after restart: attempt 1's output intact" || fail "retry attempt 1 after restart"
rm -f big.src
finish
