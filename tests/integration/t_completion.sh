#!/usr/bin/env bash
# Bash completion (completion/dtr.bash over `dtr __complete`), driven the way
# bash drives it: COMP_WORDS/COMP_CWORD set, the function `complete -p dtr`
# names called, COMPREPLY read. Commands, every flag of every command's
# --help, file and directory values, and task ids from a live master.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
[ -f /usr/share/bash-completion/bash_completion ] ||
    die "bash-completion is not installed (scripts/install-deps.sh installs it)"
mkdir bin && ln -s "$DTR" bin/dtr
PATH=$T/bin:$PATH
# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion
. "$SRC/completion/dtr.bash"

fn=$(complete -p dtr 2>/dev/null | sed -n 's/.*-F \([^ ]*\) dtr$/\1/p')
[ -n "$fn" ] && pass "complete -p dtr names the function $fn" || die "no completion for dtr"

# comp WORD...: completes the last word; the candidates, one a line, in $T/c.
comp() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn" dtr "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort >"$T/c"
}
has() { grep -qx -- "$1" "$T/c"; }

comp dtr ""
cmds=$(dtr --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}')
missing=""
for c in $cmds; do has "$c" || missing="$missing $c"; done
[ -z "$missing" ] && pass "'dtr <TAB>' offers every command" || fail "commands missing:$missing"
comp dtr su
[ "$(cat c)" = submit ] && pass "'dtr su<TAB>' completes to submit" || fail "dtr su: '$(cat c)'"
comp dtr help wo
[ "$(cat c)" = worker ] && pass "'dtr help wo<TAB>' completes to worker" || fail "'$(cat c)'"

for c in $cmds; do
    comp dtr "$c" --
    missing=""
    for flag in $(dtr "$c" --help | grep -oE '^  (-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+'); do
        has "$flag" || missing="$missing $flag"
    done
    [ -z "$missing" ] && pass "'dtr $c --<TAB>' offers all $(wc -l <c) flags of its --help" ||
        fail "dtr $c --<TAB> lacks:$missing"
done
comp dtr submit --pri
[ "$(cat c)" = --priority ] && pass "'dtr submit --pri<TAB>' completes to --priority" ||
    fail "'$(cat c)'"

mkdir -p sub/dir && touch sub/tasks.jsonl
comp dtr submit --file sub/
has sub/tasks.jsonl && pass "--file FILE completes file names" || fail "--file: '$(cat c)'"
comp dtr master --state-dir sub/
has sub/dir && ! has sub/tasks.jsonl && pass "--state-dir DIR completes directories only" ||
    fail "--state-dir: '$(cat c)'"
comp dtr submit --priority ""
[ ! -s c ] && pass "--priority PRIO offers no file names" || fail "--priority: '$(cat c)'"
comp dtr submit --retries 2 --json --pri
has --priority && pass "flags after a flag with a value still complete" || fail "'$(cat c)'"

# Task ids come from the master in DTR_MASTER.
start_master M
dtr submit --id alpha -- true >/dev/null && dtr submit --id beta -- true >/dev/null &&
    dtr submit --id gamma -- true >/dev/null || die "submit failed"
comp dtr result ""
has alpha && has beta && has gamma && pass "'dtr result <TAB>' offers the task ids" ||
    fail "result: '$(cat c)'"
comp dtr cancel al
[ "$(cat c)" = alpha ] && pass "'dtr cancel al<TAB>' completes to alpha" || fail "'$(cat c)'"
comp dtr wait alpha b
[ "$(cat c)" = beta ] && pass "'dtr wait alpha b<TAB>' completes the next id" || fail "'$(cat c)'"
comp dtr submit --after g
[ "$(cat c)" = gamma ] && pass "'submit --after g<TAB>' completes a task id" || fail "'$(cat c)'"
M2=$DTR_MASTER
export DTR_MASTER=127.0.0.1:$((MPORT + 99)) # nothing listens there
comp dtr result ""
[ ! -s c ] && pass "no master: no task ids, no error" || fail "no master: '$(cat c)'"
comp dtr result --master "$M2" ""
has alpha && pass "--master on the line is where task ids come from" || fail "'$(cat c)'"
finish
