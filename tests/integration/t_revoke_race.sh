#!/usr/bin/env bash
# The revoke race, from the master's side, with a hand-made worker (1 slot)
# that answers each revoke as it chooses (issue 17). Its prefetch is 1
# (--prefetch 1): a low task is leased past its slot; a high task then
# takes its place: the master sends revoke [low] before run [high]. Handed
# back ("returned"): the low task is queued again with no attempt spent and
# later leased anew under a new lease. Started: the same revoke answered
# "started" leaves the attempt alone, and its result is accepted. A revoked
# answer naming a lease that was never revoked closes the connection.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_master M --prefetch 1

"$PY" - "$M_ADDR" "$DTR" >fake.out 2>fake.err <<'PYEOF'
import json, subprocess, sys, time
import dtrwire
from dtrwire import Peer

addr, dtr = sys.argv[1], sys.argv[2]

def submit(tid, prio):
    subprocess.run([dtr, "submit", "--id", tid, "--priority", prio, "--", "true"],
                   check=True, stdout=subprocess.DEVNULL)

def task(tid):
    out = subprocess.run([dtr, "tasks", "--json"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        r = json.loads(line)
        if r["id"] == tid:
            return r
    return None

last_beat = [0.0]

def beat():
    """A pong now and then: the master must not find us silent."""
    if time.time() - last_beat[0] > 0.3:
        p.send({"type": "pong", "busy": 0})
        last_beat[0] = time.time()

def until(what, cond, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        beat()
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + what)

p = Peer(addr)
dtrwire.dial(p, "worker", "FW", addr="127.0.0.1:9", slots=1)
p.send({"type": "held", "attempts": []})
inbox = []  # lines read but not asked for yet, in order

def next_of(*types, timeout=10):
    """The first line, in the order sent, of one of these types."""
    end = time.time() + timeout
    while True:
        for i, m in enumerate(inbox):
            if m.get("type") in types:
                return inbox.pop(i)
        if time.time() >= end:
            break
        beat()
        m = p.msg(min(0.2, max(0.0, end - time.time())))
        if m is None:
            if p.how:
                break
            continue
        if m.get("type") not in ("ping", "pong"):
            inbox.append(m)
    raise SystemExit("no %s (connection: %s)" % ("/".join(types), p.how))

def result(run, ok=True):
    t = run["tasks"][0]
    p.send({"type": "result", "lease": t["lease"], "id": t["spec"]["id"],
            "attempt": t["attempt"], "ok": ok, "exit_code": 0,
            "started_at": 1000, "finished_at": 1001})
    a = next_of("ack")
    assert t["lease"] in a["leases"], a

def only(run):
    assert run["type"] == "run" and len(run["tasks"]) == 1, run
    return run["tasks"][0]

# One short task first.
submit("w0", "medium")
result(next_of("run"))
submit("b", "low")
rb = next_of("run")
assert only(rb)["spec"]["id"] == "b"
submit("l1", "low")
rl = next_of("run")
l1 = only(rl)
assert l1["spec"]["id"] == "l1", rl
print("prefetched l1 past the busy slot, lease", l1["lease"])

# A high task: revoke [l1] comes before run [h1].
submit("h1", "high")
m = next_of("run", "revoke")
assert m["type"] == "revoke" and m["leases"] == [l1["lease"]], m
rh1 = next_of("run")
assert only(rh1)["spec"]["id"] == "h1", rh1
print("revoke before run: ok")
p.send({"type": "revoked", "returned": [l1["lease"]], "started": []})
until("l1 queued again", lambda: task("l1")["state"] == "queued")
r = task("l1")
assert r["attempts"] == 0 and r["crashes"] == 0, r
print("handed back: l1 queued, attempts 0, crashes 0")

# b ends: l1 is leased again, under a new lease, past the slot h1 holds.
result(rb)
rl2 = next_of("run")
l1b = only(rl2)
assert l1b["spec"]["id"] == "l1" and l1b["lease"] > l1["lease"] and l1b["attempt"] == 1, rl2
print("leased again under a new lease", l1b["lease"])

# Another high task; this time l1 "had started": it runs on.
submit("h2", "high")
m = next_of("run", "revoke")
assert m["type"] == "revoke" and m["leases"] == [l1b["lease"]], m
rh2 = next_of("run")
assert only(rh2)["spec"]["id"] == "h2", rh2
p.send({"type": "revoked", "returned": [], "started": [l1b["lease"]]})
until("the answer taken", lambda: True)
time.sleep(0.3)
assert task("l1")["state"] == "running", task("l1")
result(rl2)
result(rh1)
result(rh2)
for tid in ("w0", "b", "l1", "h1", "h2"):
    until(tid + " succeeded", lambda: task(tid)["state"] == "succeeded")
    assert task(tid)["attempts"] == 1, task(tid)
print("started: l1 ran on and its result was accepted; every task one attempt")

# A revoked answer for a lease never revoked ends the session.
p.send({"type": "revoked", "returned": [424242], "started": []})
rest, how = p.rest(5)
print("bogus answer:", how, [x for x in rest if x.get("type") == "error"])
PYEOF
cat fake.out
grep -q "revoke before run: ok" fake.out && pass "the master sends revoke [low] before run [high]" ||
    fail "no revoke before run: $(cat fake.out fake.err)"
grep -q "handed back: l1 queued, attempts 0, crashes 0" fake.out &&
    pass "a handed-back task is queued again, no attempt or crash spent" ||
    fail "hand-back: $(tail -3 fake.err)"
grep -q "leased again under a new lease" fake.out && pass "it is leased again under a new lease" ||
    fail "not leased again: $(tail -3 fake.err)"
grep -q "started: l1 ran on" fake.out && pass "an attempt answered as started runs on; its result counts" ||
    fail "started: $(tail -3 fake.err)"
grep -q "revoked: lease 424242 was not revoked" "$T/logs/master.log" &&
    pass "an answer for a lease never revoked closes the session" ||
    fail "bogus answer: $(grep bogus fake.out)"
finish
