#!/usr/bin/env bash
# A task submitted with `dtr submit --wait` may start before the commit
# that accepts it (issue 17; master/workers.c, may_run_early()): that one
# commit then records its acceptance, its attempt and its result. If the
# master dies before it, the task ran but was never accepted: its client
# got no ids and an error, the restarted master knows nothing of it, and
# the worker's result for it is discarded; its lease is never given out
# again, not even to the task that takes the same id next.
#
# The master dies at a chosen commit (DTR_FAULT_JOURNAL_COMMIT=K: the Kth
# fails, and a failed commit stops the master at once). K is found by
# trying 1, 2, ...: the first K at which the second task ran while its
# `submit --wait` failed.
. "$(dirname "$0")/lib.sh"

start_faulty_master() { # K: starts the master, fails commit K; true once it listens
    rm -rf "$T/state-M" "$T/logs" "$T/M.out"
    DTR_FAULT_JOURNAL_COMMIT=$1 "$DTR" master --port "$MPORT" --http off --state-dir "$T/state-M" \
        --log-dir "$T/logs" --verbose >"$T/M.out" 2>"$T/M-$1.err" &
    M_PID=$!
    PIDS+=("$M_PID")
    while ! grep -q ' listening on ' "$T/M.out" 2>/dev/null; do
        is_dead "$M_PID" && return 1
        sleep 0.05
    done
    M_ADDR=$(sed -n 's/.* listening on \([^ ]*\)$/\1/p' "$T/M.out" | head -n 1)
    export DTR_MASTER=$M_ADDR
}

found=
for K in $(seq 1 20); do
    start_faulty_master "$K" || continue
    start_worker W --master "$M_ADDR" --slots 2
    # It registers unless the master already stopped (a commit at registration).
    for _ in $(seq 400); do
        workers_registered 1 2>/dev/null || is_dead "$M_PID" && break
        sleep 0.05
    done
    rm -f ran
    if dtr submit --wait --id warm -- true >/dev/null 2>&1 &&
        ! dtr submit --wait -- sh -c "echo ran >>'$T/ran'" >submit.out 2>submit.err &&
        [ -s ran ]; then
        found=$K
        break
    fi
    kill -9 "$M_PID" "$W_PID" 2>/dev/null
    wait "$M_PID" "$W_PID" 2>/dev/null
done
[ -n "$found" ] || die "no commit K at which the second task ran while its submit failed"
pass "with commit $found failing, the task ran and its 'submit --wait' failed: $(cat submit.err)"
[ ! -s submit.out ] && pass "the client got no task id" || fail "the client printed ids: $(cat submit.out)"
wait_for "the master to stop" "is_dead $M_PID" 10 || finish
early_lease=$(sed -n 's/.*attempt started task=t-2 attempt=1 lease=\([0-9]*\).*/\1/p' logs/worker-W.log | head -n 1)
[ -n "$early_lease" ] || die "the worker's log has no start of t-2"

# The same state dir and port, no fault: the worker is still waiting for it.
"$DTR" master --port "$MPORT" --http off --state-dir "$T/state-M" --log-dir "$T/logs" --verbose \
    >"$T/M2.out" 2>"$T/M2.err" &
PIDS+=("$!")
M_ADDR=$(read_listen M2) || die "the master did not restart: $(cat M2.err)"
export DTR_MASTER=$M_ADDR
wait_for "the worker back" "workers_registered 1" || finish
wait_for "the worker's result for the unaccepted task discarded" \
    "grep -q 'discarded result of a superseded attempt task=t-2 lease=$early_lease' logs/master.log" || finish
pass "the worker's result for lease $early_lease (a task the master never accepted) is discarded"
ids=$(dtr tasks --json | sed -n 's/.*"id":"\([^"]*\)".*"state":"\([a-z]*\)".*/\1:\2/p' | tr '\n' ' ')
[ "$ids" = "warm:succeeded " ] && pass "the restarted master holds only the accepted task: $ids" ||
    fail "the restarted master holds: $ids (want warm:succeeded only)"

# The next task takes the same id; it must get a lease of its own.
dtr submit --wait -- sh -c "echo again >>'$T/ran'" >again.out 2>&1 || fail "submit --wait after the restart: $(cat again.out)"
grep -q '^t-2$' again.out && pass "the next task is t-2 again" || fail "the next task is not t-2: $(cat again.out)"
leases=$(sed -n 's/.*attempt started task=t-2 attempt=1 lease=\([0-9]*\).*/\1/p' logs/worker-W.log | tr '\n' ' ')
[ "$(echo $leases | wc -w)" -eq 2 ] && [ "${leases%% *}" = "$early_lease" ] &&
    [ "$(echo $leases | cut -d' ' -f2)" -gt "$early_lease" ] &&
    pass "the new t-2 ran under a lease above the unaccepted one's: $leases" ||
    fail "t-2's leases on the worker: $leases (want $early_lease, then a larger one)"
[ "$(cat ran)" = "$(printf 'ran\nagain')" ] && pass "each ran once" || fail "ran: $(cat ran)"

# On the wire: a submit with "wait" is followed by its progress, unasked.
/usr/bin/python3 - "$M_ADDR" >wire.out 2>&1 <<'EOF' &&
import sys, dtrwire
p = dtrwire.Peer(sys.argv[1])
dtrwire.dial(p, "client", "wire-client")
p.send({"type": "submit", "tasks": [{"id": "w-1", "kind": "noop"}, {"id": "w-2", "kind": "noop"}], "wait": True})
r = p.msg()
assert r and r.get("type") == "submitted" and r.get("ids") == ["w-1", "w-2"], r
while True:
    r = p.msg(10)
    assert r and r.get("type") == "progress" and r.get("total") == 2, r
    if r.get("final"):
        assert r.get("done") == 2 and r.get("failed") == 0, r
        break
p.close()
EOF
    pass "a submit with wait is answered by submitted, then its progress to the final one" ||
    fail "wire: $(cat wire.out)"
finish
