#!/usr/bin/env bash
# A master refuses a state dir it cannot use, quickly, with a non-zero exit
# status and a message on stderr naming the problem: (a) a state dir in use
# by a running master (which keeps working), (b) a journal.db that is garbage
# (or another program's SQLite database), (c) a state dir it may not write
# (run as nobody; skipped when that is impossible), (d) a state dir that is a
# regular file (or under one).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# refused NAME CMD...: runs a master command that must be refused; records its
# PID, waits (bounded) for it to exit and sets REF_RC (exit status), REF_SECS
# (how long it took) and REF_ERR (its stderr). A master that starts anyway is
# killed by the trap.
refused() {
    local name=$1
    shift
    local t0=$SECONDS
    "$@" >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    REF_RC=999
    if wait_for "master $name to exit" "is_dead $pid" 10; then
        wait "$pid"
        REF_RC=$?
    else
        kill -9 "$pid" 2>/dev/null
    fi
    REF_SECS=$((SECONDS - t0))
    REF_ERR=$(cat "$T/$name.err")
}

# check_refused NAME WHAT PATTERN...: the refusal exited non-zero within 5 s,
# printed nothing on stdout (no "listening" line) and stderr matches every
# fixed-string PATTERN.
check_refused() {
    local name=$1 what=$2
    shift 2
    local ok=1 p
    [ "$REF_RC" -ne 0 ] && [ "$REF_RC" -ne 999 ] || { ok=0; echo "  exit status $REF_RC"; }
    [ "$REF_SECS" -le 5 ] || { ok=0; echo "  took ${REF_SECS}s"; }
    ! grep -q 'listening' "$T/$name.out" || { ok=0; echo "  stdout: $(cat "$T/$name.out")"; }
    for p in "$@"; do
        grep -qF -- "$p" "$T/$name.err" || { ok=0; echo "  stderr lacks '$p'"; }
    done
    if [ "$ok" -eq 1 ]; then
        pass "$what: exit $REF_RC in ${REF_SECS}s; stderr: $REF_ERR"
    else
        fail "$what: exit $REF_RC; stderr: '$REF_ERR'"
    fi
}

# ---- (a) a second master on the state dir of a running one
start_master M
FIRST_ADDR=$M_ADDR
start_worker W1 --master "$M_ADDR" --slots 1
wait_for "W1 registered" "workers_registered 1" || finish
refused M2 "$DTR" master --port "$MPORT" --state-dir "$T/state-M" --log-dir "$T/logs-M2"
check_refused M2 "(a) second master on a state dir in use" "in use" "$T/state-M"
kill -0 "$M_PID" 2>/dev/null && pass "(a) the first master still runs" || fail "(a) the first master died"
[ "$(cat "$T/state-M/master.addr")" = "$FIRST_ADDR" ] &&
    pass "(a) master.addr still names the first master ($FIRST_ADDR)" ||
    fail "(a) master.addr now holds '$(cat "$T/state-M/master.addr")', expected $FIRST_ADDR"
out=$(dtr submit --id after-a --wait -- echo still-working 2>&1) &&
    [ "$(dtr result after-a 2>/dev/null)" = still-working ] &&
    pass "(a) the first master still takes and runs tasks" ||
    fail "(a) a task on the first master after the refusal: $out / $(dtr result after-a 2>&1)"

# ---- (b) a journal.db of random bytes
mkdir "$T/state-garbage"
head -c 16384 /dev/urandom >"$T/state-garbage/journal.db"
cp "$T/state-garbage/journal.db" "$T/garbage.orig"
refused G "$DTR" master --port "$MPORT" --state-dir "$T/state-garbage" --log-dir "$T/logs-G"
check_refused G "(b) garbage journal.db" "$T/state-garbage/journal.db"
cmp -s "$T/state-garbage/journal.db" "$T/garbage.orig" && pass "(b) the garbage journal.db was left untouched" ||
    fail "(b) the master modified the garbage journal.db"
# ... and another program's SQLite database in its place.
mkdir "$T/state-foreign"
"$PY" - "$T/state-foreign/journal.db" <<'EOF' || fail "(b) could not create a foreign SQLite database"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
db.execute("INSERT INTO notes(body) VALUES ('not a dtr journal')")
db.commit()
db.close()
EOF
cp "$T/state-foreign/journal.db" "$T/foreign.orig"
refused F "$DTR" master --port "$MPORT" --state-dir "$T/state-foreign" --log-dir "$T/logs-F"
check_refused F "(b) another program's SQLite database as journal.db" "$T/state-foreign/journal.db"
cmp -s "$T/state-foreign/journal.db" "$T/foreign.orig" && pass "(b) the foreign database was left untouched" ||
    fail "(b) the master modified the foreign database"

# ---- (c) a state dir the master may not write, as an unprivileged user:
# root drops to nobody (root would write anyway); anyone else runs as itself.
AS=()
can_c=1
if [ "$(id -u)" -ne 0 ]; then
    who="uid $(id -u)"
elif id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
    AS=(setpriv --reuid=nobody --regid="$(id -gn nobody 2>/dev/null || echo nogroup)" --clear-groups)
    who=nobody
elif id nobody >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
    AS=(runuser -u nobody --)
    who=nobody
else
    can_c=0
    echo "skipped: (c) running as root without setpriv/runuser or a 'nobody' user"
fi
if [ "$can_c" -eq 1 ]; then
    chmod 0711 "$T" # the unprivileged user may pass through the test dir, not list it
    NDTR=$DTR
    if ! "${AS[@]}" "$NDTR" --version >/dev/null 2>&1; then
        cp "$DTR" "$T/dtr-copy" && chmod 0755 "$T/dtr-copy"
        NDTR=$T/dtr-copy
    fi
    mkdir -m 0777 "$T/logs-unpriv"
    if ! "${AS[@]}" "$NDTR" --version >/dev/null 2>&1 || ! "${AS[@]}" test -w "$T/logs-unpriv"; then
        echo "skipped: (c) $who cannot run $NDTR or write $T/logs-unpriv"
    elif [ "$who" != nobody ] && "${AS[@]}" sh -c "mkdir -m 0555 '$T/probe' && : >'$T/probe/x'" 2>/dev/null; then
        echo "skipped: (c) $who can write into a mode 0555 dir (privileged?)"
    else
        # (c1) an empty state dir, mode 0555 (owned by root when run as root).
        mkdir "$T/ro-state"
        chmod 0555 "$T/ro-state"
        refused RO "${AS[@]}" "$NDTR" master --port "$MPORT" --state-dir "$T/ro-state" \
            --log-dir "$T/logs-unpriv"
        check_refused RO "(c) read-only empty state dir, as $who" "$T/ro-state"
        # (c2) a state dir holding a journal (stopped cleanly) and a lock file
        # that may be written, in a read-only dir: SQLite cannot make its WAL.
        mkdir "$T/ro-state2"
        "$DTR" master --port "$MPORT" --state-dir "$T/ro-state2" --log-dir "$T/logs" \
            >"$T/R2.out" 2>"$T/R2.err" &
        r2=$!
        PIDS+=("$r2")
        wait_for "a master on ro-state2" "grep -q listening '$T/R2.out'" 15
        kill -TERM "$r2"
        wait_for "that master to stop" "is_dead $r2" 15
        wait "$r2"
        chmod 0666 "$T/ro-state2"/*
        chmod 0555 "$T/ro-state2"
        refused RO2 "${AS[@]}" "$NDTR" master --port "$MPORT" --state-dir "$T/ro-state2" \
            --log-dir "$T/logs-unpriv"
        check_refused RO2 "(c) read-only state dir with writable journal.db and lock, as $who" \
            "$T/ro-state2"
        # (c3) a state dir to be created under a read-only parent.
        refused RO3 "${AS[@]}" "$NDTR" master --port "$MPORT" --state-dir "$T/ro-state/sub" \
            --log-dir "$T/logs-unpriv"
        check_refused RO3 "(c) state dir to create under a read-only parent, as $who" \
            "$T/ro-state/sub"
        chmod 0755 "$T/ro-state" "$T/ro-state2" # so that the test dir can be removed
    fi
    chmod 0700 "$T"
fi

# ---- (d) a state dir that is a regular file, or lies under one
echo "just a file" >"$T/afile"
refused D "$DTR" master --port "$MPORT" --state-dir "$T/afile" --log-dir "$T/logs-D"
check_refused D "(d) --state-dir is a regular file" "$T/afile" "not a directory"
[ "$(cat "$T/afile")" = "just a file" ] && pass "(d) the file was left untouched" ||
    fail "(d) the file was changed"
refused D2 "$DTR" master --port "$MPORT" --state-dir "$T/afile/sub" --log-dir "$T/logs-D"
check_refused D2 "(d) --state-dir under a regular file" "$T/afile/sub"

kill -0 "$M_PID" 2>/dev/null && [ "$(count_state succeeded)" = 1 ] &&
    pass "the first master is still up and well after all the refusals" ||
    fail "the first master: $(dtr status --json 2>&1)"
finish
