#!/usr/bin/env bash
# Arrays in Slurm's spelling (steps, lists) and labels: the right ids and
# {} substitutions, bad specs refused with exit 2 and nothing stored, labels
# round-tripped through tasks --json and result --json, and the master's
# `tasks --label` filter returning exactly the matching tasks, also after a
# restart of the master.
. "$(dirname "$0")/lib.sh"

start_master M
start_worker W1 --master "$M_ADDR" --slots 4
wait_for "W1 to register" "workers_registered 1"

# ids: the ids `dtr tasks` lists (with extra flags), sorted, on one line.
ids() { dtr tasks "$@" | awk 'NR > 1 {print $1}' | sort | tr '\n' ' '; }

# Steps and lists: exactly these ids, in ascending order, {} the index.
dtr submit --id st --array 0-10:5 -- echo 'i={}' >st.out || fail "submit --array 0-10:5"
[ "$(tr '\n' ' ' <st.out)" = "st-0 st-5 st-10 " ] && pass "--array 0-10:5 makes st-0 st-5 st-10" ||
    fail "--array 0-10:5 printed '$(tr '\n' ' ' <st.out)'"
dtr submit --id li --array 9-11,1,5 -- echo 'i={}' >li.out || fail "submit --array 9-11,1,5"
[ "$(tr '\n' ' ' <li.out)" = "li-1 li-5 li-9 li-10 li-11 " ] &&
    pass "--array 9-11,1,5 makes li-1 li-5 li-9 li-10 li-11" ||
    fail "--array 9-11,1,5 printed '$(tr '\n' ' ' <li.out)'"
dtr submit --id mix --array 1-7:3,20 -- echo 'i={}' >mix.out || fail "submit --array 1-7:3,20"
[ "$(tr '\n' ' ' <mix.out)" = "mix-1 mix-4 mix-7 mix-20 " ] &&
    pass "--array 1-7:3,20 makes mix-1 mix-4 mix-7 mix-20" ||
    fail "--array 1-7:3,20 printed '$(tr '\n' ' ' <mix.out)'"
dtr wait --all --timeout 30s >/dev/null 2>&1 || fail "the arrays did not all succeed"
bad=0
for id in $(cat st.out li.out mix.out); do
    [ "$(dtr result "$id")" = "i=${id#*-}" ] || bad=1
done
[ $bad = 0 ] && pass "{} became each task's index" || fail "{} substitution: st-5 printed '$(dtr result st-5)'"
[ "$(ids)" = "li-1 li-10 li-11 li-5 li-9 mix-1 mix-20 mix-4 mix-7 st-0 st-10 st-5 " ] &&
    pass "the master holds exactly those 12 tasks" || fail "the master holds '$(ids)'"

# Bad specs: exit 2, one line naming the part, nothing stored.
refused() { # refused WHAT GREP ARGS...: exit 2 with GREP in the one-line error
    local what=$1 want=$2
    shift 2
    dtr submit --id bad "$@" -- true >o 2>e
    local rc=$?
    if [ $rc -eq 2 ] && [ ! -s o ] && [ "$(wc -l <e)" -eq 1 ] && grep -qF -- "$want" e; then
        pass "$what refused: $(cat e)"
    else
        fail "$what: exit $rc, stdout '$(cat o)', stderr '$(cat e)'"
    fi
}
refused "--array 9-x" "'x' in '9-x' is not a number" --array 9-x
refused "--array 5-1" "'5-1' runs backwards" --array 5-1
refused "--array 1-9:0" "'0' in '1-9:0' is not a step" --array 1-9:0
refused "--array 1,,2" "empty item" --array 1,,2
refused "--array 1-3,2" "index 2 is given twice" --array 1-3,2
refused "--array -3" "'-3' lacks a number" --array=-3
refused "--array 5:2" "a step needs a range" --array 5:2
refused "--array 0-10000000" "more than 10000000 tasks" --array 0-10000000
refused "--array 1-100%0" "'%0': the throttle must be from 1 to 10000000" --array 1-100%0
refused "--array 1-100%-1" "'%-1' is not a throttle" --array=1-100%-1
refused "--array 1-100%abc" "'%abc' is not a throttle" --array 1-100%abc
refused "--array 1-100%" "'%' lacks the throttle" --array 1-100%
refused "--array 1-100%99999999999" "'%99999999999': the throttle must be from 1" --array 1-100%99999999999
refused "--array 1-99999999999" "is not a number" --array 1-99999999999
refused "--label novalue" "--label 'novalue' must be KEY=VALUE" --label novalue
refused "--label twice" "key 'a' is given twice" --label a=1 --label a=2
refused "--label with a control character" "control" --label "$(printf 'a\tb=1')"
refused "a 257-byte label value" "at most 256 bytes" --label "k=$(head -c 257 /dev/zero | tr '\0' v)"
refused "a 257-byte label key" "1 to 256 bytes" --label "$(head -c 257 /dev/zero | tr '\0' k)=v"
many=()
for i in $(seq 1 33); do many+=(--label "k$i=v"); done
refused "33 labels" "33 labels; the limit is 32" "${many[@]}"
[ "$(ids)" = "li-1 li-10 li-11 li-5 li-9 mix-1 mix-20 mix-4 mix-7 st-0 st-10 st-5 " ] &&
    pass "nothing stored by the refused submissions" || fail "after the refusals the master holds '$(ids)'"

# Labels: 32 labels of 256 bytes are fine.
many=()
long=$(head -c 256 /dev/zero | tr '\0' v)
for i in $(seq 1 32); do many+=(--label "k$i=$long"); done
dtr submit --id big --kind noop "${many[@]}" >/dev/null && pass "32 labels of 256 bytes accepted" ||
    fail "32 labels of 256 bytes refused"

# Round trip and filters.
dtr submit --id L1 --label team=a --label env=prod --label 'note=x "y"=z' --kind noop >/dev/null ||
    fail "submit L1"
dtr submit --id L2 --label team=a --label env=dev --kind noop >/dev/null || fail "submit L2"
dtr submit --id L3 --array 1-2 --label team=b --label env=prod -- echo '{}' >/dev/null ||
    fail "submit L3"
printf '{"id":"L4","kind":"noop","labels":{"team":"a","env":"prod"}}\n' >l4.jsonl
dtr submit --file l4.jsonl >/dev/null || fail "submit L4 from a file"
dtr wait L1 L2 L3-1 L3-2 L4 --timeout 20s >/dev/null 2>&1 || fail "the labelled tasks did not succeed"

dtr tasks --json --label team=a --label env=prod >l.json
python3 - <<'PY' && pass "tasks --json carries the labels as an object" || fail "tasks --json labels: $(cat l.json)"
import json
rows = {r["id"]: r for r in map(json.loads, open("l.json"))}
assert set(rows) == {"L1", "L4"}, rows.keys()
assert rows["L1"]["labels"] == {"env": "prod", "note": 'x "y"=z', "team": "a"}, rows["L1"]
assert rows["L4"]["labels"] == {"env": "prod", "team": "a"}, rows["L4"]
PY
dtr result --json L1 >r.json
python3 -c 'import json; r = json.load(open("r.json")); assert r["labels"]["note"] == "x \"y\"=z", r' &&
    pass "result --json carries the labels" || fail "result --json: $(cat r.json)"
dtr result --json st-0 | grep -q '"labels":{}' && pass "a task without labels shows \"labels\":{}" ||
    fail "result --json st-0: $(dtr result --json st-0)"

[ "$(ids --label team=a)" = "L1 L2 L4 " ] && pass "--label team=a lists L1 L2 L4" ||
    fail "--label team=a lists '$(ids --label team=a)'"
[ "$(ids --label env=prod)" = "L1 L3-1 L3-2 L4 " ] && pass "--label env=prod lists L1 L3-1 L3-2 L4" ||
    fail "--label env=prod lists '$(ids --label env=prod)'"
[ "$(ids --label team=b --label env=prod)" = "L3-1 L3-2 " ] && pass "two labels: both must match" ||
    fail "--label team=b --label env=prod lists '$(ids --label team=b --label env=prod)'"
[ "$(ids --label 'note=x "y"=z')" = "L1 " ] && pass "a value with quotes and '=' matches exactly" ||
    fail "--label note=... lists '$(ids --label 'note=x "y"=z')'"
[ "$(ids --label team=)" = "" ] && [ "$(ids --label team=c)" = "" ] && [ "$(ids --label nope=a)" = "" ] &&
    pass "no task matches team=, team=c or nope=a" || fail "empty filters listed something"
[ "$(ids --label team=a --state succeeded)" = "L1 L2 L4 " ] && pass "--label combines with --state" ||
    fail "--label with --state lists '$(ids --label team=a --state succeeded)'"
dtr tasks --label team=b | grep -q '^L3-1 .*env=prod,team=b' && pass "plain tasks shows the labels column" ||
    fail "plain tasks: $(dtr tasks --label team=b)"

# Labels live in the stored spec: a master restarted on its journal has them.
kill -9 "$M_PID"
wait "$M_PID" 2>/dev/null
mv M.out M-first.out
mv M.err M-first.err
start_master M --state-dir "$T/state-M"
[ "$(ids --label team=a)" = "L1 L2 L4 " ] && pass "after a restart --label team=a still lists L1 L2 L4" ||
    fail "after a restart --label team=a lists '$(ids --label team=a)'"
dtr result --json L1 | grep -qF '"labels":{"env":"prod","note":"x \"y\"=z","team":"a"}' &&
    pass "after a restart result --json shows L1's labels" || fail "after a restart: $(dtr result --json L1)"

dtr tasks --label nokv >o 2>e
[ $? -eq 2 ] && grep -q "must be KEY=VALUE" e && pass "tasks --label nokv: exit 2" || fail "tasks --label nokv: $(cat e)"
dtr tasks "${many[@]}" --label k33=v >o 2>e
[ $? -eq 2 ] && grep -q "the limit is 32" e && pass "tasks with 33 labels: exit 2 ($(cat e))" ||
    fail "tasks with 33 labels: $(cat e)"
# A hand-made client: bad label filters and specs get an error, and the
# master lives on.
before=$(dtr tasks | wc -l)
/usr/bin/python3 - "$M_ADDR" >wire.out 2>&1 <<'PY'
import sys
import dtrwire
bad = [
    {"type": "list", "labels": {"a": 1}},
    {"type": "list", "labels": ["a=b"]},
    {"type": "list", "labels": {"a=b": "c"}},
    {"type": "list", "labels": {"k%d" % i: "v" for i in range(33)}},
    {"type": "list", "labels": {"k": "v" * 257}},
    {"type": "submit", "tasks": [{"kind": "noop", "labels": {"": "x"}}]},
    {"type": "submit", "tasks": [{"kind": "noop", "labels": {"a": "x\ny"}}]},
]
for m in bad:
    p = dtrwire.Peer(sys.argv[1])
    dtrwire.dial(p, "client", "wire-client")
    p.send(m)
    r = p.msg()
    assert r and r.get("type") == "error" and "labels" in r.get("error", ""), (m, r)
    print(r["error"])
    p.close()
PY
[ $? -eq 0 ] && pass "bad labels over the wire get errors: $(head -1 wire.out)" || fail "wire: $(cat wire.out)"
[ "$(dtr tasks | wc -l)" -eq "$before" ] && kill -0 "$M_PID" && pass "the master lives on, nothing stored" ||
    fail "after the wire probes: $(dtr tasks | wc -l) lines, $before before"
finish
