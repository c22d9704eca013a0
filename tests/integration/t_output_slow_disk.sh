#!/usr/bin/env bash
# Output on a slow disk (issue 13): the master's output writer thread is
# made slow (DTR_TEST_OUTPUT_DELAY_US: 50 ms per 64 KiB, 1.3 MB/s); a task
# writing 16 MB fills its queue, so the master stops reading that worker and reads it
# again once the writer caught up (both logged), instead of holding the
# bytes in memory. Meanwhile other tasks still run, the worker is not
# declared lost (its timeout is made longer than the writer needs for the
# 8 MiB at which the master holds it: see protocol.md, NEEDSWORK), and the
# output is kept whole and byte-identical.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

DTR_TEST_OUTPUT_DELAY_US=50000 start_master M --worker-timeout 30s
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "W1 registered" "workers_registered 1" || finish

dtr submit --id big --cmd "head -c 16M /dev/urandom | tee '$T/big.src'" >/dev/null ||
    die "submit big failed"
wait_for "the master to hold W1's input" \
    "grep -q 'output writer behind; not reading the worker until it catches up worker=W1' '$T/logs/master.log'" 30 &&
    pass "the master stopped reading W1 while its output writer was behind"
dtr submit --id small -- echo hi >/dev/null || die "submit small failed"
dtr wait big small --timeout 120s >wait.out 2>&1 && pass "both tasks succeeded" ||
    fail "dtr wait exited $?: $(tail -n 3 wait.out)"
grep -q "output writer caught up; reading held workers again" "$T/logs/master.log" &&
    pass "and read it again once the writer caught up" || fail "no resume in the master log"
[ "$(dtr result big | sha256sum)" = "$(sha256sum <big.src)" ] &&
    pass "16 MB kept whole through the held connection" || fail "big: output differs"
[ "$(dtr result small)" = hi ] && pass "small: hi" || fail "small: '$(dtr result small)'"
grep -q "worker declared dead" "$T/logs/master.log" && fail "a worker was declared dead" ||
    pass "no worker declared dead"
finish
