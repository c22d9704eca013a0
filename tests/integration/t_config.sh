#!/usr/bin/env bash
# Config files (--config, $DTR_CONFIG, ~/.config/dtr/dtr.conf): a master and
# a worker started from config files alone run a task; flags > environment >
# file for the client's master; errors name FILE:LINE and exit 2; --help
# works whatever the file says.
. "$(dirname "$0")/lib.sh"
DEAD=127.0.0.1:$((MPORT + 99)) # in our block, nothing listens there

expect_rc() { # expect_rc WANT DESCRIPTION CMD...: stdout/stderr in o, e
    local want=$1 what=$2
    shift 2
    "$@" >o 2>e </dev/null
    local rc=$?
    [ "$rc" -eq "$want" ] && { pass "$what (exit $rc)"; return 0; }
    fail "$what: exit $rc, want $want; stderr '$(head -c 300 e)'"
    return 1
}

# --- a master and a worker from config files ------------------------------
cat >m.conf <<EOC
# the master of this test
[master]
port = $MPORT
state-dir = $T/state-C     ; inline comments are allowed
log-dir = $T/logs
heartbeat = 200ms
worker-timeout = 3s
verbose = true
[worker]
port-range = 1-2           ; another command's section is skipped
EOC
"$DTR" master --config m.conf >C.out 2>C.err &
PIDS+=($!)
C_ADDR=$(read_listen C) || die "master from m.conf did not start: $(cat C.err)"
C_PORT=${C_ADDR##*:}
[ "$C_PORT" -ge "$MPORT" ] && [ "$C_PORT" -lt $((MPORT + 99)) ] && [ -d state-C ] &&
    [ -f logs/master.log ] && pass "master took port, state-dir and log-dir from m.conf ($C_ADDR)" ||
    fail "master from config: addr $C_ADDR, state-C $(ls -d state-C 2>&1)"
cat >w.conf <<EOC
[worker]
master = $C_ADDR
id = cfg-worker
port-range = $WLO-$WHI
log-dir = $T/logs
slots = 2
EOC
"$DTR" worker --config w.conf >W.out 2>W.err &
PIDS+=($!)
read_listen W >/dev/null || die "worker from w.conf did not start: $(cat W.err)"
export DTR_MASTER=$C_ADDR
wait_for "the worker from w.conf to register" "workers_registered 1"
dtr status | grep -q cfg-worker && pass "worker took master and id from w.conf" ||
    fail "status: $(dtr status)"
dtr submit --id t1 --wait -- true >/dev/null 2>&1 && dtr tasks | grep -q 't1 .*succeeded.*cfg-worker' &&
    pass "a task ran on the worker started from its config file" || fail "tasks: $(dtr tasks)"
grep -q 'DEBUG master task succeeded task=t1' logs/master.log && pass "verbose = true from m.conf" ||
    fail "no DEBUG line in master.log"

# --- precedence: flag > environment > file -----------------------------------
printf '[client]\nmaster = %s\n' "$DEAD" >dead.conf
printf '[client]\nmaster = %s\n' "$C_ADDR" >live.conf
DTR_MASTER="" expect_rc 3 "file only: status goes to the file's (dead) master" \
    "$DTR" status --config dead.conf
DTR_MASTER=$C_ADDR expect_rc 0 "DTR_MASTER wins over the file" "$DTR" status --config dead.conf
DTR_MASTER=$DEAD expect_rc 0 "--master wins over DTR_MASTER and the file" \
    "$DTR" status --config dead.conf --master "$C_ADDR"
DTR_MASTER="" expect_rc 0 "the file's master is used when nothing else says" \
    "$DTR" status --config live.conf
DTR_MASTER="" DTR_CONFIG=$T/live.conf expect_rc 0 "DTR_CONFIG names the file" "$DTR" status
DTR_MASTER="" DTR_CONFIG=$T/live.conf expect_rc 3 "--config wins over DTR_CONFIG" \
    "$DTR" status --config dead.conf
printf '[client]\nmaster = %s\n[submit]\npriority = high\nretries = 0\n' "$C_ADDR" >sub.conf
DTR_MASTER="" "$DTR" submit --config sub.conf --id t2 -- true >/dev/null &&
    dtr tasks --json | grep '"id":"t2"' | grep -q '"priority":3' &&
    pass "[submit] sets submit's own flags (priority)" ||
    fail "t2: $(dtr tasks --json | grep t2)"

# --- the default path ~/.config/dtr/dtr.conf (XDG_CONFIG_HOME first) ----------
if [ -e /etc/dtr/dtr.conf ]; then
    echo "skip: /etc/dtr/dtr.conf exists here, so the default-path checks would read it"
else
    mkdir -p home/.config/dtr xdg/dtr
    cp live.conf home/.config/dtr/dtr.conf
    cp dead.conf xdg/dtr/dtr.conf
    (unset DTR_CONFIG; HOME=$T/home XDG_CONFIG_HOME="" DTR_MASTER="" "$DTR" status >/dev/null 2>e) &&
        pass "~/.config/dtr/dtr.conf is read by default" || fail "default path: $(cat e)"
    (unset DTR_CONFIG; HOME=$T/home XDG_CONFIG_HOME=$T/xdg DTR_MASTER="" "$DTR" status >/dev/null 2>e)
    [ $? -eq 3 ] && pass "\$XDG_CONFIG_HOME/dtr/dtr.conf comes before ~/.config" || fail "xdg: $(cat e)"
    (HOME=$T/home DTR_CONFIG="" DTR_MASTER="" "$DTR" status >/dev/null 2>&1)
    [ $? -eq 0 ] || true # DTR_CONFIG="" turns the default files off: status uses .dtr/master.addr
    (HOME=$T/home DTR_CONFIG="" DTR_MASTER=$DEAD "$DTR" status >/dev/null 2>&1)
    [ $? -eq 3 ] && pass "DTR_CONFIG='' turns the default files off" || fail "DTR_CONFIG='' read a file"
fi

# --- errors name FILE:LINE and exit 2 -------------------------------------------
check_err() { # check_err FILE_TEXT MESSAGE [COMMAND]
    printf '%b' "$1" >bad.conf
    expect_rc 2 "${3:-master} refuses: $2" "$DTR" "${3:-master}" --config bad.conf &&
        { grep -qF "bad.conf:" e && grep -qF "$2" e || fail "stderr '$(cat e)' lacks bad.conf:LINE: $2"; }
}
check_err '[master]\nport = abc\n' "bad.conf:2: --port: 'abc' is not an integer"
check_err '[master]\n\nbogus = 1\n' "bad.conf:3: unknown key 'bogus' in [master]"
check_err '[worker]\nslots = 0\n' "bad.conf:2: --slots: '0' is out of range 1..1024" worker
check_err '[master]\nverbose = maybe\n' "bad.conf:2: --verbose: 'maybe' is not a boolean"
check_err '[mastr]\nport = 1\n' "bad.conf:1: unknown section [mastr]"
check_err '[client]\npriority = 1\n' "bad.conf:2: unknown key 'priority' in [client]" status
check_err '[master]\nport 1\n' "bad.conf:2: not '[section]', 'key = value' or a comment"
expect_rc 2 "a missing --config file is an error" "$DTR" status --config nosuch.conf &&
    grep -q "cannot read config file 'nosuch.conf'" e || fail "missing file: '$(cat e)'"
expect_rc 0 "--help works whatever the config file says" "$DTR" master --config bad.conf --help
DTR_CONFIG=$T/bad.conf expect_rc 0 "--config '' reads no file" "$DTR" status --config '' --master "$C_ADDR"
finish
