#!/usr/bin/env bash
# Who may read what the master keeps. Under umask 022 a master creates its
# state dir 0700 and journal.db, its -wal, master.lock and master.addr 0600
# (they hold every task's env and output), and its log 0640. A state dir of
# an older dtr (files 0644, dir 0755) gets its files set to 0600 at start;
# the dir keeps its mode and the master warns. A token file that group or
# others may read or write is refused at start, exit 2, with the fix, by the
# master, a worker and the CLI.
. "$(dirname "$0")/lib.sh"

S=$T/state-M
# modes_in DIR: "name=mode ..." for every file in DIR.
modes_in() { (cd "$1" && stat -c '%n=%a' -- * | tr '\n' ' '); }
# all_private DIR: every file in DIR has mode 600 (the output dir: 700).
all_private() {
    local f want
    for f in "$1"/*; do
        # SQLite's -shm may go away between the glob and the stat.
        [ "$(stat -c %a "$f" 2>/dev/null || echo gone)" != gone ] || continue
        want=600
        [ "${f##*/}" != output ] || want=700
        [ "$(stat -c %a "$f")" = $want ] || return 1
    done
}
stop_master() { # PID
    kill -TERM "$1"
    wait_for "the master to stop" "is_dead $1" 15
    wait "$1"
}

# ---- a new state dir, under a permissive umask
umask 022
start_master M
umask 077
id=$(dtr submit --env SECRET=hunter2 --kind noop) || die "submit failed"
[ -f "$S/journal.db-wal" ] || fail "no journal.db-wal while the master runs: $(modes_in "$S")"
[ "$(stat -c %a "$S")" = 700 ] && pass "the new state dir is 0700" ||
    fail "the new state dir is $(stat -c %a "$S")"
all_private "$S" && pass "every file in the state dir is 0600: $(modes_in "$S")" ||
    fail "state dir files: $(modes_in "$S")"
[ "$(stat -c %a "$T/logs/master.log")" = 640 ] && pass "master.log is 0640" ||
    fail "master.log is $(stat -c %a "$T/logs/master.log")"
stop_master "$M_PID"
all_private "$S" && pass "after a clean stop, every file is still 0600: $(modes_in "$S")" ||
    fail "after stop: $(modes_in "$S")"

# ---- a state dir as an older dtr left it: dir 0755, files 0644
chmod 0755 "$S"
chmod 0644 "$S"/*
mv "$T/M.out" "$T/M-first.out" # so that start_master reads the new "listening" line
umask 022
start_master M
umask 077
all_private "$S" && pass "an old state dir's files were set to 0600: $(modes_in "$S")" ||
    fail "old state dir files: $(modes_in "$S")"
[ "$(stat -c %a "$S")" = 755 ] && pass "the existing state dir kept its mode 0755" ||
    fail "the existing state dir is now $(stat -c %a "$S")"
grep -qF "state dir '$S' is open to others (mode 0755)" "$T/M.err" &&
    grep -qF "chmod 700 '$S'" "$T/M.err" &&
    pass "the master warns about the open dir: $(cat "$T/M.err")" ||
    fail "no warning about the 0755 state dir; stderr: $(cat "$T/M.err")"
[ "$(dtr result "$id" >/dev/null 2>&1; echo $?)" -ne 3 ] && [ "$(count_state queued)" = 1 ] &&
    pass "the task survived the restart" || fail "after restart: $(dtr status --json 2>&1)"
stop_master "$M_PID"

# ---- token files that others may read or write
printf 'a shared secret\n' >"$T/token"
# refused_token MODE WORDS NAME CMD...: with the token file at MODE, CMD
# exits 2 at once, saying WORDS, the fix, and printing no "listening".
refused_token() {
    local mode=$1 words=$2 name=$3
    shift 3
    chmod "$mode" "$T/token"
    timeout 10 "$@" >"$T/$name.out" 2>"$T/$name.err"
    local rc=$?
    local want="token file '$T/token' is $words by others (mode $mode); run chmod 600 '$T/token'"
    if [ "$rc" -eq 2 ] && grep -qF -- "$want" "$T/$name.err" && ! grep -q listening "$T/$name.out"; then
        pass "$name, token file $mode: exit 2: $(cat "$T/$name.err")"
    else
        fail "$name, token file $mode: exit $rc; stderr: $(cat "$T/$name.err")"
    fi
}
refused_token 0644 readable master "$DTR" master --port "$MPORT" --state-dir "$T/state-tok" \
    --log-dir "$T/logs" --token-file "$T/token"
refused_token 0620 writable master-w "$DTR" master --port "$MPORT" --state-dir "$T/state-tok" \
    --log-dir "$T/logs" --token-file "$T/token"
refused_token 0640 readable worker "$DTR" worker --id Wt --port-range "$WLO-$WHI" \
    --log-dir "$T/logs" --token-file "$T/token"
refused_token 0604 readable status "$DTR" status --master 127.0.0.1:1 --token-file "$T/token"
refused_token 0644 readable submit "$DTR" submit --master 127.0.0.1:1 --token-file "$T/token" \
    --kind noop
[ ! -e "$T/state-tok/journal.db" ] && pass "the refused master created no journal" ||
    fail "the refused master created $(ls "$T/state-tok")"

# The same file at 0600 is accepted.
chmod 0600 "$T/token"
start_master T --token-file "$T/token"
DTR_TOKEN= dtr status --master "$T_ADDR" --token-file "$T/token" >/dev/null 2>"$T/ok.err" &&
    pass "a 0600 token file is accepted by the master and the CLI" ||
    fail "with a 0600 token file: $(cat "$T/ok.err")"
finish
