#!/usr/bin/env bash
# systemd: the notify protocol spoken by the master and the worker (READY=1
# once listening, WATCHDOG=1 from the loop every half WATCHDOG_USEC,
# STOPPING=1 on SIGTERM), SIGHUP reopening the logs (logrotate) to a socket a Python listener holds in place of
# systemd; and `systemd-analyze verify` on the units (skipped, saying so,
# where systemd-analyze is missing).
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# listen NAME: a datagram socket NAME.sock whose messages go to NAME.msgs.
listen() {
    "$PY" - "$T/$1.sock" "$T/$1.msgs" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode() + "--\n")
        out.flush()
PYEOF
    PIDS+=($!)
    wait_for "the $1 notify socket" "[ -S '$T/$1.sock' ]" 10
}

listen M
NOTIFY_SOCKET=$T/M.sock WATCHDOG_USEC=200000 start_master M
wait_for "READY=1 from the master" "grep -q '^READY=1' M.msgs" 10 &&
    grep -q "^STATUS=listening on $M_ADDR" M.msgs && grep -q "^MAINPID=$M_PID" M.msgs &&
    pass "master: READY=1, STATUS=listening on $M_ADDR, MAINPID" || fail "master: $(cat M.msgs)"
wait_for "three watchdog pings from the master" "[ \$(grep -c '^WATCHDOG=1' M.msgs) -ge 3 ]" 10 &&
    pass "master pings the watchdog from its loop"

listen W
NOTIFY_SOCKET=$T/W.sock WATCHDOG_USEC=200000 WATCHDOG_PID=1 start_worker W1 --master "$M_ADDR"
wait_for "READY=1 from the worker" "grep -q '^READY=1' W.msgs" 10 &&
    grep -q "^STATUS=listening on $W1_ADDR" W.msgs && pass "worker: READY=1 once listening" ||
    fail "worker: $(cat W.msgs)"
wait_for "the worker to register" "workers_registered 1"
! grep -q WATCHDOG W.msgs && pass "no watchdog pings when WATCHDOG_PID is another process" ||
    fail "worker pinged for pid 1"
# logrotate: rename the logs, SIGHUP, and the nodes write new files.
mv logs/master.log logs/master.log.1 && mv logs/worker-W1.log logs/worker-W1.log.1
kill -HUP "$M_PID" "$W1_PID"
wait_for "a new master.log after SIGHUP" "grep -q 'log reopened signal=SIGHUP' logs/master.log" 10 &&
    pass "master: SIGHUP reopens master.log"
wait_for "a new worker-W1.log after SIGHUP" "grep -q 'log reopened signal=SIGHUP' logs/worker-W1.log" 10 &&
    pass "worker: SIGHUP reopens worker-W1.log"
dtr submit --id after-hup --wait -- true >/dev/null 2>&1 && ! is_dead "$M_PID" && ! is_dead "$W1_PID" &&
    grep -q 'task=after-hup' logs/master.log && pass "both carry on after SIGHUP, logging to the new files" ||
    fail "after SIGHUP: $(tail -3 logs/master.log)"
kill -TERM "$W1_PID"
wait_for "STOPPING=1 from the draining worker" "grep -q '^STOPPING=1' W.msgs" 10 &&
    pass "worker: STOPPING=1 on SIGTERM"
kill -TERM "$M_PID"
wait_for "STOPPING=1 from the master" "grep -q '^STOPPING=1' M.msgs" 10 &&
    pass "master: STOPPING=1 on SIGTERM"
wait_for "the master to exit" "is_dead $M_PID" 10

# Without NOTIFY_SOCKET nothing changes (every other test runs that way);
# a bad one is ignored.
NOTIFY_SOCKET=$T/nosuch.sock start_master M2
pass "a master whose NOTIFY_SOCKET leads nowhere starts anyway"

if ! command -v systemd-analyze >/dev/null; then
    echo "skip: systemd-analyze is not installed; units not verified"
else
    mkdir -p units man/man1
    ln -s "$(dirname "$DTR")"/man/*.1 man/man1/
    for u in dtr-master.service dtr-worker@.service; do
        sed "s|@DTR_BINDIR@|$(dirname "$DTR")|" "$SRC/systemd/$u.in" >"units/$u"
    done
    cp units/dtr-worker@.service units/dtr-worker@gpu.service
    (cd units && MANPATH=$T/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
        ./dtr-master.service ./dtr-worker@gpu.service) >verify.out 2>&1 &&
        [ ! -s verify.out ] && pass "systemd-analyze verify: both units clean" ||
        fail "systemd-analyze verify: $(head -5 verify.out)"
    for u in units/dtr-master.service units/dtr-worker@.service; do
        grep -q '^Type=notify' "$u" && grep -q '^WatchdogSec=' "$u" && grep -q '^DynamicUser=yes' "$u" &&
            grep -q '^ProtectSystem=strict' "$u" && grep -q '^LogsDirectory=dtr' "$u" ||
            fail "$u lacks Type=notify, WatchdogSec, DynamicUser, ProtectSystem=strict or LogsDirectory"
    done
    pass "units: Type=notify, watchdog, DynamicUser, ProtectSystem=strict, State/LogsDirectory"
fi
finish
