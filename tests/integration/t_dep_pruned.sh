#!/usr/bin/env bash
# A dependency pruned by --keep-finished while a task still waits for
# another one: after the master is killed with SIGKILL and restarted, the
# journal no longer holds the pruned dependency, and the waiting task must
# still run once its other dependency succeeds (a pruned task ended, and
# not badly, or its dependents would have been cancelled before the prune).
. "$(dirname "$0")/lib.sh"

start_master M --keep-finished 1s
MPORT_USED=${M_ADDR##*:}
start_worker W1 --master "$M_ADDR" --slots 2
wait_for "W1 registered" "workers_registered 1" || finish

dtr submit --id a -- true >/dev/null || die "submit a"
dtr submit --id b -- sh -c "while [ ! -e '$T/go' ]; do sleep 0.05; done" >/dev/null || die "submit b"
dtr submit --id x --after a,b -- true >/dev/null || die "submit x"
wait_for "a pruned" '! dtr result a >/dev/null 2>&1' 30 || finish
[ "$(dtr tasks --json | grep -c '"id":"x".*"state":"blocked"')" = 1 ] &&
    pass "x waits for b after a was pruned" || fail "x: $(dtr tasks --json | grep '"id":"x"')"

{ kill -9 "$M_PID"; wait "$M_PID"; } 2>/dev/null
mv M.out M-first.out
mv M.err M-first.err
start_master M --keep-finished 1s --port "$MPORT_USED"
[ "$M_ADDR" = "127.0.0.1:$MPORT_USED" ] || die "restarted master listens on $M_ADDR"
wait_for "W1 back" "workers_registered 1" || finish
: >"$T/go"
dtr wait x >/dev/null 2>&1 && pass "after the restart x ran once b succeeded" ||
    fail "x did not succeed: $(dtr tasks --json | grep '"id":"x"')"
finish
