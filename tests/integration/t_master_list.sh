#!/usr/bin/env bash
# A list of master addresses (a master group, docs/protocol.md section 3):
# clients and workers take --master A,B,C (DTR_MASTER, .dtr/master.addr, the
# config file's `master`), try the addresses in turn, and follow a member's
# "not the leader" answer to the leader it names.
#   1. A real master behind a dead address: `dtr submit --wait` through
#      DEAD,M; a worker started with --master DEAD,M registers and runs the
#      task; .dtr/master.addr with one address per line; a worker's config
#      file with a list.
#   2. A fake follower (Python, standard library) that answers every hello
#      with the error line and a leader hint, or none, from a script of
#      answers: clients and a worker follow the hint to the real master;
#      "no leader yet" is waited out until a leader is named; a member that
#      names itself, a hostile hint (too long, not HOST:PORT) end in clear
#      errors, exit 3, nothing crashes.
#   3. A worker with --master X,DEAD,Y whose master X is killed goes on to Y
#      and runs Y's tasks.
#   4. A single address behaves as before: same words, exit 3.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
DEAD=127.0.0.1:$((MPORT + 99)) # in our block, nothing listens there

expect_rc() { # expect_rc WANT DESCRIPTION CMD...: stdout/stderr in o, e
    local want=$1 what=$2
    shift 2
    "$@" >o 2>e </dev/null
    local rc=$?
    [ "$rc" -eq "$want" ] && { pass "$what (exit $rc)"; return 0; }
    fail "$what: exit $rc, want $want; stderr '$(head -c 600 e)'"
    return 1
}

# --- 1. a dead address, then the master -------------------------------------
start_master M
export DTR_MASTER=""
start_worker W1 --master "$DEAD,$M_ADDR" --slots 2
wait_for "W1 to register through DEAD,M" "dtr status --master $M_ADDR --json | grep -q '\"W1\"'" ||
    finish
pass "a worker with --master DEAD,M registered"
expect_rc 0 "submit --wait through --master DEAD,M" \
    dtr submit --master "$DEAD,$M_ADDR" --wait -- true
grep -q "1 succeeded" o && pass "the task ran on W1" || fail "submit said: $(cat o e)"
expect_rc 0 "status through DTR_MASTER=DEAD, M" env DTR_MASTER="$DEAD, $M_ADDR" "$DTR" status
grep -q "^master $M_ADDR" o && pass "status names the master it reached" ||
    fail "status said: $(head -3 o)"
mkdir -p f/.dtr && printf '%s\n%s\n' "$DEAD" "$M_ADDR" >f/.dtr/master.addr
expect_rc 0 ".dtr/master.addr with one address per line" sh -c "cd f && '$DTR' status"
cat >w.conf <<EOC
[worker]
master = $DEAD,$M_ADDR
EOC
"$DTR" worker --config w.conf --id W2 --port-range "$WLO-$WHI" --log-dir "$T/logs" \
    >W2.out 2>W2.err &
PIDS+=($!)
read_listen W2 >/dev/null || die "W2 did not start: $(cat W2.err)"
wait_for "W2 (config master = DEAD,M) to register" \
    "dtr status --master $M_ADDR --json | grep -q '\"W2\"'" && pass "a worker's config file takes a list"

# --- 2. a fake follower -----------------------------------------------------
cat >follower.py <<'EOF'
# A master group member that is not the leader: answers each hello with the
# next line of answers.txt (the last one again once they run out; from the
# first again when the file changes), closes.
import socket, sys, time
lo, hi = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for port in range(lo, hi + 1):
    try:
        srv.bind(("127.0.0.1", port))
        break
    except OSError:
        continue
srv.listen(16)
print("dtr master listening on 127.0.0.1:%d" % port, flush=True)
n, last = 0, None
while True:
    s, _ = srv.accept()
    s.settimeout(5)
    buf = b""
    try:
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    role = b'"role":"worker"' in buf and "worker" or "client"
    with open("answers.txt", "rb") as f:
        answers = [l for l in f.read().split(b"\n") if l]
    if answers != last:
        n, last = 0, answers
    answer = answers[min(n, len(answers) - 1)]
    n += 1
    print("hello from a %s: answered %d" % (role, n), flush=True)
    try:
        s.sendall(answer + b"\n")
    except OSError:
        pass
    s.close()
EOF
hint() { printf '{"type":"error","error":"not the leader","leader":"%s"}\n' "$1"; }
nohint='{"type":"error","error":"not the leader"}'
hint "$M_ADDR" >answers.txt
$PY follower.py "$MPORT" "$((MPORT + 98))" >F.out 2>F.err &
PIDS+=($!)
F_ADDR=$(read_listen F) || die "fake follower did not start: $(cat F.err)"

expect_rc 0 "status through a follower that names the leader" dtr status --master "$F_ADDR"
grep -q "^master $M_ADDR" o && pass "the client followed the hint to $M_ADDR" ||
    fail "status said: $(head -3 o)"
expect_rc 0 "submit --wait through --master DEAD,F" \
    dtr submit --master "$DEAD,$F_ADDR" --wait -- true
start_worker W3 --master "$F_ADDR" --slots 1
wait_for "W3 to follow the follower's hint to M" \
    "dtr status --master $M_ADDR --json | grep -q '\"W3\"'" && pass "a worker followed the hint"
grep -q "not the leader of its group.*leader=$M_ADDR" logs/worker-W3.log &&
    pass "the worker's log says where it was sent" || fail "no hint in worker-W3.log"

# An election: no leader twice, then the leader is named.
{ echo "$nohint"; echo "$nohint"; hint "$M_ADDR"; } >answers.txt
before=$(grep -c answered F.out)  # answers.txt changed: from its first line
expect_rc 0 "a client waits out an election (no leader, no leader, then M)" \
    dtr status --master "$F_ADDR,$DEAD"
[ $(($(grep -c answered F.out) - before)) -eq 3 ] && pass "it asked the follower three times" ||
    fail "the follower answered $(($(grep -c answered F.out) - before)) times"

# A member that names itself: no loop, a clear error after the wait.
hint "$F_ADDR" >answers.txt
expect_rc 3 "a follower naming itself ends in an error" dtr status --master "$DEAD,$F_ADDR"
grep -q "no master of the group $DEAD,$F_ADDR is the leader" e &&
    grep -q "cannot reach the master at $DEAD" e && grep -q "not the leader of its group" e &&
    pass "the error names the group and each member's answer" || fail "stderr: $(cat e)"

# Hostile hints: refused as bad lines, never dialed.
printf '{"type":"error","error":"not the leader","leader":"%s:1"}\n' "$(head -c 5000 /dev/zero | tr '\0' a)" >answers.txt
expect_rc 3 "an oversized leader hint is refused" dtr status --master "$F_ADDR"
grep -q "leader" e && pass "it says what was wrong: $(head -c 160 e)" || fail "stderr: $(cat e)"
for bad in 'evil host:1' '127.0.0.1:0' '127.0.0.1' '[::1' '127.0.0.1:99999'; do
    hint "$bad" >answers.txt
    expect_rc 3 "leader hint '$bad' is refused" dtr status --master "$F_ADDR"
done
printf '{"type":"error","error":"not the leader","leader":17}\n' >answers.txt
expect_rc 3 "a leader hint that is not a string is refused" dtr status --master "$F_ADDR"
# A leader that is gone (the members have not noticed yet): the client waits
# for them to name another.
{ hint "$DEAD"; hint "$DEAD"; hint "$M_ADDR"; } >answers.txt
expect_rc 0 "a named leader that is gone: the client waits for the next" \
    dtr status --master "$F_ADDR"
grep -q "^master $M_ADDR" o && pass "and reaches the new leader" || fail "status said: $(head -3 o)"
kill -0 "$M_PID" && pass "the master is still up" || fail "the master died"

# --- 3. a worker's master goes away: it dials the others -------------------
start_master X
start_master Y
export DTR_MASTER=""
start_worker W5 --master "$X_ADDR,$DEAD,$Y_ADDR" --slots 1 --master-timeout 30s
wait_for "W5 to register with X" "dtr status --master $X_ADDR --json | grep -q '\"W5\"'" || finish
kill -9 "$X_PID"
wait_for "W5 to move to Y once X is gone" \
    "dtr status --master $Y_ADDR --json | grep -q '\"W5\"'" &&
    pass "the worker went on to the next live master of its list"
expect_rc 0 "a task submitted to Y runs on W5" dtr submit --master "$Y_ADDR" --wait -- true
kill -0 "$W5_PID" && pass "W5 stayed alive" || fail "W5 exited: $(cat W5.err)"

# --- 4. a single address, as before -----------------------------------------
expect_rc 3 "a single dead address" dtr status --master "$DEAD"
[ "$(cat e)" = "dtr: cannot reach the master at $DEAD: Connection refused (is 'dtr master' running? see --master)" ] &&
    pass "the same words as ever" || fail "stderr: $(cat e)"
expect_rc 2 "a list with a bad address is a usage error" dtr status --master "$M_ADDR,nope"
grep -q "master address 'nope' is not HOST:PORT" e && pass "it names the bad address" ||
    fail "stderr: $(cat e)"
expect_rc 2 "a worker's list with a bad address" "$DTR" worker --master "$M_ADDR,nope" --port-range "$WLO-$WHI"

finish
