#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The judge of a dtr chaos run (Debian's python3, standard library only).

  check.py --run DIR --mode short|long --wt SECS --mt SECS [--seed S] [--duration D]

Reads what tests/chaos/run.sh left in DIR:

  submitted.txt       every id `dtr submit` printed: the acknowledged tasks
  expect.jsonl        what each generated task must end as (workload.py)
  final-tasks.jsonl   `dtr tasks --json` once everything ended
  results/ID.json     `dtr result ID --json` for every task
  obs.jsonl           every change observe.py saw while polling `dtr tasks --json`
  exec/exec-W.log     "task attempt worker start_ns end_ns|-" per execution
  exec/res-W.log      "task attempt worker start_ns cpus=IDS gpus=IDS" per execution
  logs/master.log     re-queues, deaths, discarded results, successes (-v)
  logs/worker-W.log   "no word from the master" exits
  faults.jsonl        the faults injected: kind, target, start and end times
  procs.jsonl         every node process started and how it ended

Invariants (each violation is reported with the task, the event and the rule,
and fails the run):

  acked-terminal     every acknowledged task exists at the end and is terminal
  result-readable    `dtr result ID --json` answers for every task, same state
  terminal-once      once observed terminal, a task's state, attempts, crashes,
                     worker, exit code and error never change again
  expected-outcome   each class ends as it must (ok/compute/... succeed, fail
                     tasks fail after exactly 1+max_retries failures, ...),
                     unless the crash limit failed it
  output             a succeeded task's output is right: compute sum, transform
                     upper-case, echo payload, noop null, exec stdout naming
                     the task, its attempt and its worker
  attempt-once       one attempt number of one task is executed at most once
  attempts-bound     no execution has an attempt number above the task's count
  res-disjoint       on each worker, the executions running at once never
                     hold a CPU id or a GPU id twice, nor more than the 2 CPUs
                     and 2 GPUs it offers (from res/res-W.log: the DTR_CPUS and
                     CUDA_VISIBLE_DEVICES each got; issue 13)
  no-overlap         two executions of one task never overlap in time, unless
                     the master re-queued the earlier attempt because its
                     worker was lost (a "re-queued task of a lost worker" line
                     for that task and worker before the later one started;
                     each such line excuses one attempt)
  current-result     the accepted result is the current attempt's: for exec
                     tasks the attempt and worker in stdout equal the record's
                     `attempts` and `worker`, that execution is in the worker's
                     log, and no later attempt ever started; the master's last
                     "task succeeded"/"task failed" line names the same attempt
                     and worker as the record
  retry-limit        attempts - crashes <= 1 + max_retries; crashes <= 5; a
                     crash-limit failure has exactly 5 crashes
  crash-explained    every crash the record counts has a re-queue line in
                     master.log (log lines are written before the commit)
  dep-order          a task with dependencies starts (its first execution in
                     the exec logs) only after each `after` task succeeded
                     (after the end of that task's succeeded execution, and
                     not before its record's finished_ms) and each
                     `after_any` task ended (not before its finished_ms); a
                     task that ran or failed had every `after` task succeeded
  dep-cancelled      a task an `after` task of which ended failed or
                     cancelled never ran (no execution, attempts 0) and is
                     cancelled with the error "dependency ID failed" or
                     "dependency ID was cancelled", ID one of its `after`
                     tasks that ended so
  node-exits         no node dies on its own: a worker exits with status 3
                     only when cut off from its master past --master-timeout,
                     0 when told to stop; the master only when killed or stopped

The group run (--mode group: members m1-m3, logs/mN/master.log each;
logs/master.log is then their merge by time, which the rules above read
as the log of one logical master) adds:

  one-leader-term    at most one member leads per Raft term: no two members
                     log "leading the group ... term=T" with the same T
  dispatch-leading   a member logs "dispatched" only while it leads (after
                     its "leading the group" line, before its "no longer the
                     group's leader" line or its next start), so at most one
                     member dispatches per term
  lease-unique       one lease number names one task, attempt and worker
                     (worker logs at -v: "attempt received|started task= attempt=
                     lease="): two leaders never hand out the same lease
  lease-overlap      no task runs under two leases at once (from "attempt
                     started" to its end: "attempt succeeded|failed",
                     "stopping attempt", "attempt handed back", or its
                     worker's exit), whether the leases came from one leader
                     or two (the leader of each is the member leading when
                     the worker received it), unless the master re-queued the
                     earlier as lost with its worker

and, as behaviour:

  stepped-down       a leader cut off from the majority logs "no longer the
                     group's leader" within STEP_DOWN_S of the cut, and
                     dispatches nothing after that
  fail-stop          a member whose disk filled up stops by itself while the
                     fault lasts (or is still in step, having never failed a
                     write)

Behaviour (also fails the run when shown wrong; skipped where the run gives
no chance to show it, e.g. no other worker was healthy, and timings are not
judged while a fault of the master itself overlaps):

  declared-dead      a frozen or cut-off worker is declared dead about
                     --worker-timeout after the fault began
  requeued-in-time   its running tasks are re-queued by then, and run again on
                     another worker (short run: within worker timeout + 6 s)
  late-discarded     after healing, the stale worker rejoins and the results of
                     its superseded attempts are discarded, not recorded
  exit-3             a worker cut off past --master-timeout kills its tasks
                     and exits with status 3 about --master-timeout after
  cluster-going      while one worker is down the others keep finishing tasks
  disk-full          a disk task started on a worker whose scratch disk is
                     full fails (it is retried; expected-outcome checks the end)
"""
import argparse
import calendar
import collections
import glob
import json
import os
import re
import sys
import time

TERMINAL = ("succeeded", "failed", "cancelled")
CRASH_LIMIT = 5
VIEW = ("state", "attempts", "crashes", "worker", "exit_code", "error")


class Report:
    def __init__(self):
        self.checks = collections.Counter()
        self.violations = collections.defaultdict(list)
        self.behaviour = collections.Counter()
        self.bfail = collections.defaultdict(list)
        self.bskip = collections.Counter()
        self.info = []

    def check(self, rule, ok, task, event, detail):
        self.checks[rule] += 1
        if not ok:
            self.violations[rule].append("task=%s event=%s: %s" % (task, event, detail))
        return ok

    def bcheck(self, rule, ok, what, detail):
        self.behaviour[rule] += 1
        if not ok:
            self.bfail[rule].append("%s: %s" % (what, detail))
        return ok


def iso_ms(ts):
    # 2026-11-29T11:32:53.621Z
    base, frac = ts.rstrip("Z").split(".")
    t = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int(frac[:3].ljust(3, "0"))


def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"chaos_bad_line": line[:200]})
    return out


LOG_RE = re.compile(r"^(\S+) (DEBUG|INFO|WARN|ERROR) (\S+) (.*)$")
KV_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_log(path):
    events = []
    if not os.path.exists(path):
        return events
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LOG_RE.match(line.rstrip("\n"))
            if not m:
                continue
            try:
                t = iso_ms(m.group(1))
            except (ValueError, IndexError):
                continue
            msg = m.group(4)
            kv = {k: v.strip('"') for k, v in KV_RE.findall(msg)}
            events.append({"t_ms": t, "level": m.group(2), "msg": msg, "kv": kv})
    return events


def starts(msg, prefix):
    return msg.startswith(prefix)


STEP_DOWN_S = 5.0  # election timeout (1-2 s) + the watch tick + a loaded machine
WORKER_END = ("attempt succeeded ", "attempt failed ", "stopping attempt ", "attempt handed back ")


def group_checks(run, R, faults, procs, losses):
    """The master group's rules: see the docstring (one-leader-term,
    dispatch-leading, lease-unique, lease-overlap, stepped-down, fail-stop)."""
    members = sorted(os.path.basename(d) for d in glob.glob(os.path.join(run, "logs", "m[0-9]"))
                     if os.path.isdir(d))
    exits = collections.defaultdict(list)  # name -> [t_ms] of exits (kill -9 included)
    for p in procs:
        if p["event"] == "exit":
            exits[p["name"]].append(p["t_ns"] / 1e6)
    # Leadership windows: (member, term, start_ms, end_ms)
    windows = []
    term_leaders = collections.defaultdict(set)
    dispatch = collections.defaultdict(list)  # member -> [t_ms]
    step_downs = collections.defaultdict(list)  # member -> [t_ms]
    for m in members:
        cur = None
        for ev in parse_log(os.path.join(run, "logs", m, "master.log")):
            msg, t = ev["msg"], ev["t_ms"]
            if starts(msg, "leading the group "):
                term = int(ev["kv"].get("term", -1))
                term_leaders[term].add(m)
                cur = [m, term, t, None]
                windows.append(cur)
            elif starts(msg, "no longer the group's leader"):
                step_downs[m].append(t)
                if cur:
                    cur[3] = t
                    cur = None
            elif starts(msg, "group member started "):
                if cur:
                    # Killed while leading: it led until its exit.
                    ends = [x for x in exits[m] if cur[2] <= x <= t]
                    cur[3] = ends[0] if ends else t
                    cur = None
            elif starts(msg, "dispatched "):
                dispatch[m].append(t)
                R.check("dispatch-leading", cur is not None, m, "dispatched at %d" % t,
                        "%s dispatched while not leading" % m)
        if cur:
            ends = [x for x in exits[m] if x >= cur[2]]
            cur[3] = ends[0] if ends else 1e18
    for term, ms in sorted(term_leaders.items()):
        R.check("one-leader-term", len(ms) == 1, "-", "term %d" % term,
                "members %s all led term %d" % (sorted(ms), term))

    def leader_at(t):
        for m, term, t0, t1 in windows:
            if t0 <= t <= t1:
                return "%s/term %d" % (m, term)
        return "none"

    # Leases, from the workers' logs (-v).
    leases = {}  # lease -> {task, attempt, worker, recv, start, end}
    names = collections.defaultdict(set)  # lease -> {(task, attempt, worker)}
    for path in sorted(glob.glob(os.path.join(run, "logs", "worker-*.log"))):
        w = os.path.basename(path)[7:-4]
        wexits = sorted(exits.get(w, []))
        for ev in parse_log(path):
            msg, kv, t = ev["msg"], ev["kv"], ev["t_ms"]
            if "lease" not in kv:
                continue
            key = (w, kv["lease"])
            if starts(msg, "attempt received ") or starts(msg, "attempt started "):
                names[kv["lease"]].add((kv.get("task"), kv.get("attempt"), w))
                x = leases.setdefault(key, {"task": kv.get("task"), "lease": kv["lease"],
                                            "worker": w, "recv": t, "start": None, "end": None})
                if starts(msg, "attempt started ") and x["start"] is None:
                    x["start"] = t
                    after = [e for e in wexits if e >= t]
                    x["dead"] = after[0] if after else 1e18
            elif any(starts(msg, p) for p in WORKER_END):
                x = leases.get(key)
                if x and x["end"] is None:
                    x["end"] = t
    for lease, n in sorted(names.items()):
        # "received" may lack the attempt on some lines: compare task and worker.
        tw = {(tk, w) for tk, _, w in n}
        R.check("lease-unique", len(tw) == 1, ",".join(sorted({tk for tk, _ in tw})),
                "lease %s" % lease, "lease %s named %s" % (lease, sorted(tw)))
    by_task = collections.defaultdict(list)
    for x in leases.values():
        if x["start"] is not None:
            if x["end"] is None:
                x["end"] = x.get("dead", 1e18)
            by_task[x["task"]].append(x)
    for tid, lst in by_task.items():
        lst.sort(key=lambda x: x["start"])
        for i, b in enumerate(lst):
            for a in lst[:i]:
                if a["lease"] == b["lease"] or a["end"] <= b["start"]:
                    R.check("lease-overlap", True, tid, "", "")
                    continue
                excused = any(w == a["worker"] and a["start"] <= t <= b["start"] + 1
                              for t, w in losses.get(tid, []))
                R.check("lease-overlap", excused, tid,
                        "lease %s started on %s at %d" % (b["lease"], b["worker"], b["start"]),
                        "lease %s (%s, from %s) still ran on %s until %s; leases from %s and "
                        "%s; no lost-worker re-queue between" % (
                            a["lease"], a["worker"], leader_at(a["recv"]), a["worker"],
                            "its worker's end" if a["end"] >= 1e17 else "%d" % a["end"],
                            leader_at(a["recv"]), leader_at(b["recv"])))

    # Behaviour: the cut-off leader steps down in time and dispatches no more.
    step_delays = []
    for f in faults.values():
        if f["kind"] == "leader_partition" and "start_ms" in f:
            m, F = f["target"], f["start_ms"]
            sd = [t for t in step_downs[m] if t >= F - 100]
            ok = bool(sd) and sd[0] <= F + STEP_DOWN_S * 1000
            if sd:
                step_delays.append((sd[0] - F) / 1000)
            R.bcheck("stepped-down", ok, m, "cut off at %d: %s" % (
                F, "stepped down %.2fs after" % ((sd[0] - F) / 1000) if sd else "never stepped down"))
            if sd:
                late = [t for t in dispatch[m] if sd[0] < t <= f.get("end_ms", 1e18)]
                R.bcheck("stepped-down", not late, m, "%d dispatch line(s) after stepping down "
                         "while cut off" % len(late))
        elif f["kind"] == "member_disk_full" and "start_ms" in f:
            m = f["target"]
            gone = [t for t in exits[m] if f["start_ms"] <= t <= f.get("end_ms", 1e18)]
            failed = os.path.exists(os.path.join(run, "logs", m, "master.log")) and any(
                starts(ev["msg"], "journal write failed") for ev in
                parse_log(os.path.join(run, "logs", m, "master.log")))
            why = [p.get("why") for p in procs if p["name"] == m and p["event"] == "exit" and
                   f["start_ms"] <= p["t_ns"] / 1e6 <= f.get("end_ms", 1e18)]
            ok = bool(gone) and "stopped on a full disk" in why and failed
            R.bcheck("fail-stop", ok, m, "disk full at %d: exits %s, 'journal write failed' "
                     "logged: %s" % (f["start_ms"], why, failed))
    print("group: %d member(s), %d leadership(s) (terms %s), %d leases seen by workers" % (
        len(members), len(windows), sorted(term_leaders), len(names)))
    if step_delays:
        print("group: a leader cut off from the majority stepped down after %s s" % ", ".join(
            "%.2f" % d for d in step_delays))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--mode", default="short")
    ap.add_argument("--wt", type=float, required=True)
    ap.add_argument("--mt", type=float, required=True)
    ap.add_argument("--seed", default="")
    ap.add_argument("--duration", default="")
    a = ap.parse_args()
    run = a.run
    R = Report()
    wt_ms, mt_ms = a.wt * 1000, a.mt * 1000

    # ---- inputs ---------------------------------------------------------------
    expect = {e["id"]: e for e in read_jsonl(os.path.join(run, "expect.jsonl"))}
    acked = []
    if os.path.exists(os.path.join(run, "submitted.txt")):
        acked = [l.strip() for l in open(os.path.join(run, "submitted.txt")) if l.strip()]
    final = {}
    for t in read_jsonl(os.path.join(run, "final-tasks.jsonl")):
        if "id" in t:
            final[t["id"]] = t
    results = {}
    for path in glob.glob(os.path.join(run, "results", "*.json")):
        tid = os.path.basename(path)[:-5]
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                results[tid] = json.loads(f.read())
        except ValueError:
            results[tid] = {"chaos_result_missing": True}
    obs = collections.defaultdict(list)
    obs_summary = {}
    for o in read_jsonl(os.path.join(run, "obs.jsonl")):
        if o.get("summary"):
            obs_summary = o
        elif "id" in o:
            obs[o["id"]].append(o)

    # Executions: (task, attempt) -> list of {worker, start, end}
    execs = collections.defaultdict(list)
    nexec_lines = 0
    for path in sorted(glob.glob(os.path.join(run, "exec", "exec-*.log"))):
        host = os.path.basename(path)[5:-4]
        partial = {}
        with open(path, errors="replace") as f:
            for line in f:
                p = line.split()
                if len(p) != 5:
                    R.check("exec-log", False, "?", "exec log line", "%s: bad line %r" % (path, line))
                    continue
                nexec_lines += 1
                tid, att, w, s, e = p[0], int(p[1]), p[2], int(p[3]), p[4]
                R.check("exec-log", w == host, tid, "exec log line",
                        "worker %s logged into the log of host %s" % (w, host))
                key = (tid, att, w, s)
                if e == "-":
                    if key not in partial:
                        partial[key] = {"task": tid, "attempt": att, "worker": w, "start": s,
                                        "end": None}
                        execs[(tid, att)].append(partial[key])
                else:
                    if key in partial:
                        partial[key]["end"] = int(e)
                    else:
                        partial[key] = {"task": tid, "attempt": att, "worker": w, "start": s,
                                        "end": int(e)}
                        execs[(tid, att)].append(partial[key])
    # Resources (issue 13): the CPU and GPU ids each execution was given,
    # joined with its end from the exec log. At each start on a worker, the
    # executions running there hold no CPU or GPU id twice (every worker
    # offers 2 CPUs and GPUs 0,1, so that is also "never more than it
    # advertised"). Executions whose end is unknown (SIGKILL) are left out.
    ends = {}
    for lst in execs.values():
        for x in lst:
            ends[(x["task"], x["attempt"], x["worker"], x["start"])] = x["end"]
    held = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(run, "exec", "res-*.log"))):
        with open(path, errors="replace") as f:
            for line in f:
                p = line.split()
                if len(p) < 5 or not p[4].startswith("cpus="):
                    R.check("res-disjoint", False, "?", "res log line", "%s: bad line %r" % (path, line))
                    continue
                tid, att, w, s = p[0], int(p[1]), p[2], int(p[3])
                cpus = [c for c in p[4][5:].split(",") if c]
                gpus = [g for g in (p[5][5:] if len(p) > 5 else "").split(",") if g]
                e = ends.get((tid, att, w, s))
                if e:
                    held[w].append((s, e, tid, cpus, gpus))
    for w, lst in held.items():
        lst.sort()
        for i, (s, e, tid, cpus, gpus) in enumerate(lst):
            others = [x for x in lst[:i] if x[1] > s]
            c = cpus + [c for x in others for c in x[3]]
            g = gpus + [g for x in others for g in x[4]]
            ok = len(set(c)) == len(c) and len(c) <= 2 and len(set(g)) == len(g) and len(g) <= 2
            R.check("res-disjoint", ok, tid, "started on %s" % w,
                    "ids held at once: cpus %s gpus %s (with %s)" % (c, g, [x[2] for x in others]))
    by_task = collections.defaultdict(list)
    for (tid, att), lst in execs.items():
        by_task[tid].extend(lst)
    for tid in by_task:
        by_task[tid].sort(key=lambda x: (x["attempt"], x["start"]))

    mlog = parse_log(os.path.join(run, "logs", "master.log"))
    losses = collections.defaultdict(list)      # task -> [(t_ms, worker)]
    declared_dead = collections.defaultdict(list)  # worker -> [t_ms]
    registered = collections.defaultdict(list)  # worker -> [t_ms]
    discarded = collections.defaultdict(list)   # (task, worker) -> [t_ms]
    successes = collections.defaultdict(list)   # task -> [(t_ms, attempt, worker)]
    failures = collections.defaultdict(list)    # task -> [(t_ms, attempts, worker)]
    completions = []                             # (t_ms, worker) succeeded or failed attempts
    crash_limit = collections.defaultdict(list)
    attempt_failed = collections.defaultdict(list)  # (task, attempt) -> [t_ms]
    ndiscarded = 0
    master_starts = 0
    for ev in mlog:
        msg, kv, t = ev["msg"], ev["kv"], ev["t_ms"]
        if starts(msg, "re-queued task of a lost worker "):
            losses[kv.get("task")].append((t, kv.get("worker")))
        elif starts(msg, "task failed: crash limit reached "):
            crash_limit[kv.get("task")].append(t)
        elif starts(msg, "worker declared dead "):
            declared_dead[kv.get("id")].append(t)
        elif starts(msg, "worker registered "):
            registered[kv.get("id")].append(t)
        elif starts(msg, "discarded result of a superseded attempt "):
            discarded[(kv.get("task"), kv.get("worker"))].append(t)
            ndiscarded += 1
        elif starts(msg, "task succeeded "):
            successes[kv.get("task")].append((t, int(kv.get("attempt", 0)), kv.get("worker")))
            completions.append((t, kv.get("worker")))
        elif starts(msg, "attempt failed; retrying "):
            completions.append((t, kv.get("worker")))
            attempt_failed[(kv.get("task"), int(kv.get("attempt", 0)))].append(t)
        elif starts(msg, "task failed task="):
            failures[kv.get("task")].append((t, int(kv.get("attempts", 0)), kv.get("worker")))
            completions.append((t, kv.get("worker")))
        elif starts(msg, "listening addr="):
            master_starts += 1
    # A crash-limit failure is the task's last loss; its worker is in the error.
    for tid, ts in crash_limit.items():
        err = (final.get(tid) or {}).get("error") or ""
        m = re.search(r"last: worker '([^']*)'", err)
        for t in ts:
            losses[tid].append((t, m.group(1) if m else "?"))
    for tid in losses:
        losses[tid].sort()

    wexit = {}  # worker -> [t_ms] of "no word from the master" exits
    for path in glob.glob(os.path.join(run, "logs", "worker-*.log")):
        w = os.path.basename(path)[7:-4]
        wexit[w] = [e["t_ms"] for e in parse_log(path)
                    if e["msg"].startswith("no word from the master")]

    faults = {}
    for f in read_jsonl(os.path.join(run, "faults.jsonl")):
        d = faults.setdefault(f["fid"], {"fid": f["fid"], "kind": f["kind"],
                                         "target": f["target"], "arg": f.get("arg", ""),
                                         "pid": f.get("pid")})
        d[f["phase"] + "_ms"] = f["t_ns"] / 1e6
    procs = read_jsonl(os.path.join(run, "procs.jsonl"))

    # ---- acked-terminal, result-readable -----------------------------------------
    ackset = set(acked)
    for tid in acked:
        t = final.get(tid)
        if R.check("acked-terminal", t is not None, tid, "end of run",
                   "acknowledged by submit but missing from dtr tasks --json"):
            R.check("acked-terminal", t["state"] in TERMINAL, tid, "end of run",
                    "acknowledged but still %s (attempts=%s crashes=%s worker=%s)"
                    % (t["state"], t.get("attempts"), t.get("crashes"), t.get("worker")))
    R.check("acked-terminal", len(ackset) == len(acked), "-", "submit output",
            "submit printed %d ids, %d distinct" % (len(acked), len(ackset)))
    for tid, t in final.items():
        if tid not in ackset:
            R.info.append("task %s exists but was never acknowledged (submit interrupted)" % tid)
            R.check("acked-terminal", t["state"] in TERMINAL, tid, "end of run",
                    "unacknowledged task still %s" % t["state"])
        r = results.get(tid)
        if R.check("result-readable", r is not None and not r.get("chaos_result_missing"),
                   tid, "dtr result --json", "no result for a listed task"):
            R.check("result-readable", r.get("state") == t["state"], tid, "dtr result --json",
                    "result says %s, tasks --json says %s" % (r.get("state"), t["state"]))

    # ---- terminal-once -------------------------------------------------------------
    for tid, lst in obs.items():
        first = None
        for o in lst:
            view = tuple(o.get(k) for k in VIEW)
            if first is None:
                if o.get("state") in TERMINAL:
                    first = (o, view)
                continue
            R.check("terminal-once", view == first[1], tid,
                    "poll %s at %.3f" % (o.get("poll"), o["t_ns"] / 1e9),
                    "first observed terminal as %s at poll %s, now %s"
                    % (dict(zip(VIEW, first[1])), first[0].get("poll"), dict(zip(VIEW, view))))
        if first is not None and tid in final:
            fview = tuple(final[tid].get(k) for k in VIEW)
            R.check("terminal-once", fview == first[1], tid, "final dtr tasks --json",
                    "first observed terminal as %s, finally %s"
                    % (dict(zip(VIEW, first[1])), dict(zip(VIEW, fview))))
    nobs_terminal = sum(1 for lst in obs.values() if any(o.get("state") in TERMINAL for o in lst))

    # ---- per task: outcome, output, retries, current result ---------------------------
    for tid, t in sorted(final.items()):
        e = expect.get(tid)
        r = results.get(tid) or {}
        state, att, cr = t["state"], t.get("attempts") or 0, t.get("crashes") or 0
        mr = t.get("max_retries")
        err = t.get("error") or ""
        if e is None:
            R.check("expected-outcome", False, tid, "end of run", "a task nobody generated")
            continue
        cls = e["class"]
        crash_failed = state == "failed" and "crash limit" in err
        # retry-limit
        R.check("retry-limit", mr == e["max_retries"], tid, "record",
                "max_retries %s, submitted %s" % (mr, e["max_retries"]))
        R.check("retry-limit", att - cr <= 1 + e["max_retries"], tid, "record",
                "attempts=%d crashes=%d: %d failed attempts > 1 + max_retries=%d"
                % (att, cr, att - cr, e["max_retries"]))
        R.check("retry-limit", cr <= CRASH_LIMIT, tid, "record",
                "crashes=%d > crash limit %d" % (cr, CRASH_LIMIT))
        if crash_failed:
            R.check("retry-limit", cr == CRASH_LIMIT, tid, "record",
                    "failed at the crash limit with crashes=%d" % cr)
        if state in ("succeeded", "failed"):
            R.check("retry-limit", att >= 1, tid, "record", "%s with attempts=%d" % (state, att))
        # crash-explained
        R.check("crash-explained", len(losses.get(tid, [])) >= cr, tid, "record",
                "crashes=%d but master.log re-queued it after a lost worker %d time(s)"
                % (cr, len(losses.get(tid, []))))
        # expected-outcome
        if state not in TERMINAL:
            continue
        if any((final.get(d) or {}).get("state") in ("failed", "cancelled")
               for d in e.get("after", [])):
            continue   # dep-cancelled judges it
        if crash_failed:
            R.info.append("task %s failed at the crash limit (legitimate): %s" % (tid, err))
            continue
        if cls in ("ok", "compute", "transform", "echo", "noop"):
            R.check("expected-outcome", state == "succeeded", tid, "end of run",
                    "class %s must succeed, is %s (attempts=%d crashes=%d error=%r)"
                    % (cls, state, att, cr, err))
        elif cls == "disk":
            R.check("expected-outcome", state == "succeeded" or
                    (state == "failed" and att - cr == 1 + e["max_retries"]), tid, "end of run",
                    "disk task is %s with attempts=%d crashes=%d error=%r" % (state, att, cr, err))
        elif cls == "fail":
            R.check("expected-outcome", state == "failed" and att - cr == 1 + e["max_retries"],
                    tid, "end of run",
                    "always-failing task (max_retries=%d) is %s with attempts=%d crashes=%d: "
                    "want failed after exactly %d failures" % (e["max_retries"], state, att, cr,
                                                             1 + e["max_retries"]))
            if state == "failed":
                R.check("expected-outcome", "exited with status 1" in err and
                        t.get("exit_code") == 1, tid, "end of run",
                        "error %r exit_code %r" % (err, t.get("exit_code")))
        elif cls in ("timeout", "sleepto"):
            R.check("expected-outcome", state == "failed" and att - cr == 1 + e["max_retries"]
                    and "timed out" in err, tid, "end of run",
                    "task that always times out (max_retries=%d) is %s with attempts=%d "
                    "crashes=%d error=%r" % (e["max_retries"], state, att, cr, err))
        # output
        if state == "succeeded":
            out = r.get("stdout")
            res = r.get("result")
            if cls == "compute":
                want = e["want"]
                ok = res == want and type(res) is type(want) or \
                    (isinstance(want, float) and isinstance(res, (int, float)) and res == want)
                R.check("output", ok, tid, "result", "sum %r, want %r" % (res, want))
            elif cls in ("transform", "echo"):
                R.check("output", res == e["want"], tid, "result",
                        "result %r, want %r" % (res, e["want"]))
            elif cls == "noop":
                R.check("output", res is None, tid, "result", "result %r, want null" % (res,))
            elif cls in ("ok", "disk"):
                m = re.fullmatch(r"(OK|DISK) (\S+) (\d+) (\S+)( 65536)?\n", out or "")
                good = m is not None and m.group(2) == tid and \
                    (m.group(1) == "OK") == (cls == "ok") and \
                    (cls == "ok" or m.group(5) is not None)
                if R.check("output", good, tid, "result", "stdout %r" % (out,)):
                    ra, rw = int(m.group(3)), m.group(4)
                    R.check("current-result", ra == att and rw == t.get("worker"), tid,
                            "accepted result",
                            "stdout is from attempt %d on %s, the record says attempts=%d "
                            "worker=%s: a superseded attempt's result was recorded"
                            % (ra, rw, att, t.get("worker")))
                    done = [x for x in execs.get((tid, ra), []) if x["worker"] == rw and x["end"]]
                    R.check("current-result", bool(done), tid, "accepted result",
                            "no finished execution of attempt %d on %s in the exec logs"
                            % (ra, rw))
                    later = [x for x in by_task.get(tid, []) if x["attempt"] > ra]
                    R.check("current-result", not later, tid, "accepted result",
                            "attempt %d's result was recorded but attempt(s) %s started later "
                            "(on %s)" % (ra, sorted({x["attempt"] for x in later}),
                                         sorted({x["worker"] for x in later})))
            if successes.get(tid):
                _, sa, sw = successes[tid][-1]
                R.check("current-result", sa == att and sw == t.get("worker"), tid,
                        "master.log task succeeded",
                        "the master recorded success of attempt %d from %s, record attempts=%d "
                        "worker=%s" % (sa, sw, att, t.get("worker")))
        elif state == "failed" and failures.get(tid):
            _, fa, fw = failures[tid][-1]
            R.check("current-result", fa == att and fw == t.get("worker"), tid,
                    "master.log task failed",
                    "the master recorded the last failure as attempt %d from %s, record "
                    "attempts=%d worker=%s" % (fa, fw, att, t.get("worker")))

    # ---- executions: attempt-once, attempts-bound, no-overlap ---------------------------
    for (tid, att), lst in sorted(execs.items()):
        R.check("attempt-once", len(lst) == 1, tid, "attempt %d" % att,
                "executed %d times: %s" % (len(lst), ", ".join(
                    "%s@%.3f" % (x["worker"], x["start"] / 1e9) for x in lst)))
        t = final.get(tid)
        if t is not None:
            R.check("attempts-bound", att <= (t.get("attempts") or 0), tid, "attempt %d" % att,
                    "executed attempt %d on %s but the record says attempts=%s"
                    % (att, lst[0]["worker"], t.get("attempts")))
    excused_overlaps = []
    for tid, lst in sorted(by_task.items()):
        used = set()
        loss = losses.get(tid, [])
        for i, A in enumerate(lst):
            # the first later attempt that A overlaps
            hit = None
            for B in lst[i + 1:]:
                if B["attempt"] == A["attempt"]:
                    continue
                if A["end"] is not None and B["end"] is not None:
                    ov = max(A["start"], B["start"]) < min(A["end"], B["end"])
                elif A["end"] is not None:
                    ov = A["start"] < B["start"] < A["end"]
                elif B["end"] is not None:
                    ov = B["start"] < A["start"] < B["end"]
                else:
                    ov = False
                if ov:
                    hit = B
                    break
            if A["end"] is None and hit is None:
                continue
            if hit is None:
                R.check("no-overlap", True, tid, "", "")
                continue
            # Excused if the master re-queued A's attempt as lost with its
            # worker before the later attempt started (each line excuses one).
            limit_ms = hit["start"] / 1e6 + 2
            k = next((j for j, (tl, wl) in enumerate(loss)
                      if j not in used and wl == A["worker"] and tl <= limit_ms), None)
            if k is not None:
                used.add(k)
                excused_overlaps.append(tid)
                R.check("no-overlap", True, tid, "", "")
                continue
            R.check("no-overlap", False, tid,
                    "attempt %d on %s [%.3f, %s] and attempt %d on %s [%.3f, %s]" % (
                        A["attempt"], A["worker"], A["start"] / 1e9,
                        "%.3f" % (A["end"] / 1e9) if A["end"] else "?",
                        hit["attempt"], hit["worker"], hit["start"] / 1e9,
                        "%.3f" % (hit["end"] / 1e9) if hit["end"] else "?"),
                    "two attempts ran at once and master.log shows no re-queue of attempt %d "
                    "after losing %s before attempt %d started" % (
                        A["attempt"], A["worker"], hit["attempt"]))

    # ---- dependencies: dep-order, dep-cancelled ----------------------------------------
    ndeps = 0
    for tid, e in sorted(expect.items()):
        after, after_any = e.get("after", []), e.get("after_any", [])
        t = final.get(tid)
        if t is None or not (after or after_any):
            continue
        ndeps += 1
        mine = by_task.get(tid, [])
        first = min(mine, key=lambda x: x["start"]) if mine else None
        bad = [d for d in after if (final.get(d) or {}).get("state") in ("failed", "cancelled")]
        if bad:
            err = t.get("error") or ""
            R.check("dep-cancelled", first is None and not t.get("attempts"), tid,
                    "dependency %s ended %s" % (bad[0], final[bad[0]]["state"]),
                    "ran anyway: attempts=%s, executions %s" % (t.get("attempts"), ", ".join(
                        "#%d on %s at %.3f" % (x["attempt"], x["worker"], x["start"] / 1e9)
                        for x in mine[:3])))
            m = re.fullmatch(r"dependency (\S+) (failed|was cancelled)", err)
            named = m.group(1) if m else None
            R.check("dep-cancelled", t["state"] == "cancelled" and named in bad and
                    (m.group(2) == "failed") == (final[named]["state"] == "failed"), tid,
                    "dependency %s ended %s" % (bad[0], final[bad[0]]["state"]),
                    "is %s with error %r; want cancelled, naming one of %s as it ended"
                    % (t["state"], err, ", ".join("%s (%s)" % (d, final[d]["state"])
                                                   for d in bad)))
            continue
        if t["state"] in ("succeeded", "failed"):
            for d in after:
                R.check("dep-order", (final.get(d) or {}).get("state") == "succeeded", tid,
                        "ended %s" % t["state"], "its after dependency %s is %s" % (
                            d, (final.get(d) or {}).get("state")))
        if first is None:
            continue
        start_ms = first["start"] / 1e6
        ev = "first execution #%d on %s at %.3f" % (first["attempt"], first["worker"],
                                                    first["start"] / 1e9)
        for d in after + after_any:
            D = final.get(d)
            if not R.check("dep-order", D is not None and D["state"] in TERMINAL, tid, ev,
                           "dependency %s is %s at the end" % (d, D and D["state"])):
                continue
            if d in after:
                R.check("dep-order", D["state"] == "succeeded", tid, ev,
                        "started although its after dependency %s ended %s" % (d, D["state"]))
                # the end of d's succeeded execution (exec tasks), in ns
                done = [x for x in execs.get((d, D.get("attempts")), [])
                        if x["worker"] == D.get("worker") and x["end"]]
                if done:
                    R.check("dep-order", first["start"] > done[0]["end"], tid, ev,
                            "started %.3f ms before its after dependency %s's succeeded "
                            "attempt %d on %s ended" % ((done[0]["end"] - first["start"]) / 1e6,
                                                        d, D["attempts"], D["worker"]))
            fin = D.get("finished_ms")
            if fin is not None:
                # 1 ms for the master's clock read being truncated to the ms
                R.check("dep-order", start_ms >= fin - 1, tid, ev,
                        "started %.1f ms before its %s dependency %s finished (%s at %s)"
                        % (fin - start_ms, "after" if d in after else "after_any", d,
                           D["state"], D.get("finished_at")))

    # ---- node exits ------------------------------------------------------------------
    # When could a worker hear nothing from its master? While it was cut off,
    # frozen or on a very lossy link, and while the master was down, frozen
    # or lossy; each window stretched by RECONNECT_MS, the longest a worker
    # may take to redial (backoff up to 3 s) and finish a handshake after it.
    RECONNECT_MS = 4500
    deaf = collections.defaultdict(list)  # worker -> [(start_ms, end_ms)]
    master_deaf = []
    for f in faults.values():
        win = (f.get("start_ms", 0), f.get("end_ms", 1e18) + RECONNECT_MS)
        if f["kind"] in ("partition", "partition_long", "worker_stop", "loss_burst"):
            deaf[f["target"]].append(win)
        if f["kind"] in ("master_kill", "master_stop", "master_loss", "leader_kill",
                         "leader_partition", "member_disk_full"):
            master_deaf.append(win)

    def covered(t0, t1, wins):
        """True when the union of the windows covers [t0, t1]."""
        t = t0
        for s0, e0 in sorted(wins):
            if s0 > t:
                break
            t = max(t, e0)
            if t >= t1:
                return True
        return t >= t1
    for p in procs:
        if p["event"] != "exit":
            continue
        name, st, why, t_ms = p["name"], p.get("status"), p.get("why", ""), p["t_ns"] / 1e6
        label = "%s pid %s" % (name, p["pid"])
        if why.startswith("harness SIGKILL"):
            R.check("node-exits", st == 137, label, "harness SIGKILL", "exit status %s" % st)
        elif why.startswith("harness SIGTERM"):
            R.check("node-exits", st == 0, label, "SIGTERM at the end",
                    "exit status %s, want 0" % st)
        elif why.startswith("stopped on a full disk"):
            full = [f for f in faults.values() if f["kind"] == "member_disk_full" and
                    f["target"] == name and f.get("start_ms", 1e18) <= t_ms]
            R.check("node-exits", st not in (0, None) and bool(full), label, "member exit",
                    "status %s on a full disk (fault active: %s)" % (st, bool(full)))
        elif name == "master" or re.match(r"m[0-9]$", name):
            R.check("node-exits", False, label, "master exit", "%s died on its own "
                    "with status %s" % (name, st))
        else:
            # Status 3 is right when, for --master-timeout before it gave up,
            # the worker could not hear its master (the faults' windows, of
            # the worker and of the master, together cover that time).
            gave_up = [t for t in wexit.get(name, []) if t_ms - 60000 <= t <= t_ms + 500]
            t_exit = gave_up[-1] if gave_up else t_ms
            cut = covered(t_exit - mt_ms + 1000, t_exit - 100, deaf[name] + master_deaf)
            R.check("node-exits", st == 3 and cut, label, "worker exit (%s)" % why,
                    "worker exited with status %s%s" % (
                        st, "" if cut else " without being cut off for --master-timeout"))

    # ---- behaviour -----------------------------------------------------------------
    MASTER_FAULTS = ("master_kill", "master_stop", "master_loss", "leader_kill",
                     "leader_partition", "follower_partition", "member_disk_full")

    def master_fault(t0, t1):
        """True when a fault of the master overlaps [t0, t1]: timings that
        depend on the master are then not judged."""
        return any(f["kind"] in MASTER_FAULTS and f.get("start_ms", 0) < t1 and
                   f.get("end_ms", 1e18) > t0 for f in faults.values())

    def healthy_others(target, t0, t1):
        """Workers other than target with no fault overlapping [t0, t1] (none
        while the master itself is faulted)."""
        if master_fault(t0, t1):
            return set()
        ws = {"w1", "w2", "w3"} - {target}
        for f in faults.values():
            if f["kind"] in ("lossy_link", "disk_full"):
                continue
            if f.get("start_ms", 0) < t1 and f.get("end_ms", 1e18) > t0:
                ws.discard(f["target"])
        return ws

    def state_at(t_ms):
        """Per task, the last observed view at or before t_ms."""
        st = {}
        for tid, lst in obs.items():
            for o in lst:
                if o["t_ns"] / 1e6 <= t_ms:
                    st[tid] = o
                else:
                    break
        return st

    def result_recorded(x):
        """True when the master recorded a result of execution x's attempt
        (a success or a failure), i.e. the attempt was not lost."""
        tid, att = x["task"], x["attempt"]
        return any(sa == att for _, sa, _ in successes.get(tid, [])) or \
            bool(attempt_failed.get((tid, att))) or \
            any(fa == att for _, fa, _ in failures.get(tid, []))

    def first_loss(x, since_ms):
        ts = [t for t, wl in losses.get(x["task"], []) if wl == x["worker"] and t >= since_ms]
        return min(ts) if ts else None

    rerun_delays = []
    for fid, f in sorted(faults.items()):
        kind, w = f["kind"], f["target"]
        F, H = f.get("start_ms"), f.get("end_ms")
        if F is None or H is None or fid < 0:
            continue
        dur = H - F
        label = "fault %d %s %s (%.1fs)" % (fid, kind, w, dur / 1000)
        if f.get("arg"):
            label = label[:-1] + ", %s)" % f["arg"]
        cut_off = kind in ("worker_stop", "partition", "partition_long") and dur > wt_ms + 1000
        # With only what the master sends dropped, the worker's last results
        # still arrive and count as signs of life (tasks last at most 2 s).
        late_ok = 2000 if f.get("arg") == "in" else 0
        # The master's own faults make its timings moot: each check below
        # skips when one overlaps the time it depends on.
        m_dead = master_fault(F - 1000, F + wt_ms + 3000 + late_ok)
        # declared-dead
        if cut_off and not m_dead:
            dd = [t for t in declared_dead.get(w, []) if F - 500 <= t <= H + 100]
            if R.bcheck("declared-dead", bool(dd), label, "no 'worker declared dead id=%s' "
                        "during the fault" % w):
                d = dd[0] - F
                R.bcheck("declared-dead", wt_ms - 1000 <= d <= wt_ms + 2500 + late_ok, label,
                         "declared dead %.2fs after the fault began (worker timeout %.1fs)"
                         % (d / 1000, wt_ms / 1000))
        # tasks running on w when the fault began
        affected = []
        if kind in ("worker_stop", "partition", "partition_long", "worker_kill") and \
                (cut_off or kind == "worker_kill"):
            for tid, lst in by_task.items():
                for x in lst:
                    if x["worker"] == w and x["start"] / 1e6 < F and \
                            (x["end"] is None or x["end"] / 1e6 > F + 200):
                        # Lost with this fault: no result of it was ever
                        # recorded, and it was not already re-queued as lost
                        # before (an orphan of an earlier fault).
                        lost = first_loss(x, x["start"] / 1e6 - 50)
                        if not result_recorded(x) and (lost is None or lost >= F - 20):
                            affected.append(x)
        others = healthy_others(w, F, F + wt_ms + 6000)
        for x in affected:
            tid = x["task"]
            t = final.get(tid) or {}
            if t.get("state") == "succeeded" and t.get("attempts") == x["attempt"] and \
                    t.get("worker") == w:
                continue   # its result made it through before the cut
            what = "%s: task %s attempt %d on %s" % (label, tid, x["attempt"], w)
            ls = [tl for tl, wl in losses.get(tid, []) if wl == w and tl >= F - 100]
            if not R.bcheck("requeued-in-time", bool(ls), what,
                            "never re-queued as lost (no 're-queued task of a lost worker')"):
                continue
            if cut_off and not m_dead:
                R.bcheck("requeued-in-time", ls[0] - F <= wt_ms + 2500 + late_ok, what,
                         "re-queued %.2fs after the fault began" % ((ls[0] - F) / 1000))
            nxt = [y for y in by_task.get(tid, []) if y["attempt"] > x["attempt"]]
            if not nxt:
                continue    # a built-in re-run or the crash limit: nothing to time
            y = min(nxt, key=lambda z: z["start"])
            delay = y["start"] / 1e6 - F
            rerun_delays.append(delay)
            if cut_off and y["start"] / 1e6 < H:
                R.bcheck("requeued-in-time", y["worker"] != w, what,
                         "re-run on the cut-off worker itself while cut off")
            if a.mode == "short" and others and not master_fault(F, F + wt_ms + 6000):
                R.bcheck("requeued-in-time", delay <= wt_ms + 6000, what,
                         "re-run elsewhere only %.2fs after the fault began" % (delay / 1000))
        # late-discarded: after healing, the stale worker rejoins and its results
        # of superseded attempts are discarded.
        if kind in ("worker_stop", "partition") and cut_off:
            alive = not any(p["event"] == "exit" and p["name"] == w and p["pid"] == f.get("pid")
                            and p["t_ns"] / 1e6 < H + 15000 for p in procs)
            if alive and dur < mt_ms - 1500 and not master_fault(F, H + 10000):
                rj = [t for t in registered.get(w, []) if H - 200 <= t <= H + 10000]
                R.bcheck("late-discarded", bool(rj), label,
                         "%s did not register again within 10s of the heal" % w)
                for x in affected:
                    tid = x["task"]
                    t = final.get(tid) or {}
                    if t.get("attempts") == x["attempt"] and t.get("worker") == w:
                        continue
                    ds = [d for d in discarded.get((tid, w), []) if d >= F]
                    R.bcheck("late-discarded", bool(ds),
                             "%s: task %s attempt %d" % (label, tid, x["attempt"]),
                             "no 'discarded result of a superseded attempt' from %s after it "
                             "came back" % w)
        # exit-3
        if kind == "partition_long":
            ex = [p for p in procs if p["event"] == "exit" and p["name"] == w and
                  p["pid"] == f.get("pid")]
            if R.bcheck("exit-3", bool(ex) and ex[0].get("status") == 3, label,
                        "the cut-off worker %s: %s" % (w, "exit status %s" % ex[0].get("status")
                                                       if ex else "did not exit")):
                we = [t for t in wexit.get(w, []) if F <= t <= H + 7000]
                if R.bcheck("exit-3", bool(we), label, "no 'no word from the master' line in "
                            "worker-%s.log" % w):
                    d = we[0] - F
                    if not master_fault(F - mt_ms, F + mt_ms + 3000):
                        R.bcheck("exit-3", mt_ms - 1000 <= d <= mt_ms + 3000, label,
                                 "exited %.2fs after the cut (master timeout %.1fs)"
                                 % (d / 1000, mt_ms / 1000))
                    late = [x for lst in by_task.values() for x in lst
                            if x["worker"] == w and x["start"] / 1e6 < we[0] and
                            x["end"] is not None and x["end"] / 1e6 > we[0] + 300]
                    R.bcheck("exit-3", not late, label, "tasks of %s still ran after it exited: "
                             "%s" % (w, ", ".join("%s#%d" % (x["task"], x["attempt"])
                                                  for x in late[:5])))
        # disk-full: a disk task that starts on the worker while its scratch
        # disk is full fails (and is retried: expected-outcome checks the end)
        if kind == "disk_full":
            # only while the worker process whose disk was filled lives
            gone = [p["t_ns"] / 1e6 for p in procs if p["event"] == "exit" and
                    p["name"] == w and p["pid"] == f.get("pid")]
            h_eff = min([H] + gone)
            for lst in by_task.values():
                for x in lst:
                    if x["worker"] != w or not x["task"].endswith("-disk") or \
                            not F + 100 <= x["start"] / 1e6 <= h_eff - 100:
                        continue
                    ok = not any(sa == x["attempt"] for _, sa, _ in successes.get(x["task"], []))
                    R.bcheck("disk-full", ok, "%s: task %s attempt %d" % (
                        label, x["task"], x["attempt"]),
                        "succeeded although it wrote 64 KiB to a full disk")
        # cluster-going: the others finish tasks while w is out
        if kind in ("worker_kill", "worker_stop", "partition", "partition_long", "disk_full",
                    "loss_burst") and dur >= 2000:
            oth = healthy_others(w, F, H)
            st = state_at(F + 500)
            pending = [tid for tid, o in st.items() if o.get("state") == "queued" or
                       (o.get("state") == "running" and o.get("worker") != w)]
            if oth and len(pending) >= 3:
                done = [1 for tc, wc in completions if F <= tc <= H and wc in oth]
                done += [1 for lst in by_task.values() for x in lst
                         if x["worker"] in oth and x["end"] and F <= x["end"] / 1e6 <= H]
                R.bcheck("cluster-going", bool(done), label,
                         "no task finished on %s while %s was out" % (sorted(oth), w))
            else:
                R.bskip["cluster-going"] += 1

    if a.mode == "group":
        group_checks(run, R, faults, procs, losses)

    # ---- report ---------------------------------------------------------------------
    fcount = collections.Counter(f["kind"] for f in faults.values() if "start_ms" in f)
    print("chaos check: %d tasks (%d acknowledged), %d executions logged, %d master.log "
          "events, %d polls (%d failed while the master was down)" % (
              len(final), len(acked), nexec_lines, len(mlog), obs_summary.get("polls", 0),
              obs_summary.get("failed", 0)))
    sc = collections.Counter(t["state"] for t in final.values())
    print("final states: " + ", ".join("%s %d" % kv for kv in sorted(sc.items())))
    print("faults injected: " + ", ".join("%s %d" % kv for kv in sorted(fcount.items())) +
          " (total %d)" % sum(fcount.values()))
    print("master: %d start(s); %d worker deaths declared; %d re-queues of lost attempts; "
          "%d superseded results discarded; %d tasks observed terminal during the run" % (
              master_starts, sum(len(v) for v in declared_dead.values()),
              sum(len(v) for v in losses.values()), ndiscarded, nobs_terminal))
    print("tasks with dependencies: %d (%s)" % (ndeps, ", ".join("%s %d" % kv for kv in sorted(
        collections.Counter(final[i]["state"] for i, e in expect.items() if i in final and
                            (e.get("after") or e.get("after_any"))).items()))))
    print("executions that overlapped a later attempt of their task: %d, each after the "
          "master re-queued it as lost (at-least-once, allowed)" % len(excused_overlaps))
    if rerun_delays:
        rd = sorted(rerun_delays)
        print("re-run after a lost worker: %d attempts, delay from the fault: median %.2fs, "
              "max %.2fs" % (len(rd), rd[len(rd) // 2] / 1000, rd[-1] / 1000))
    for line in R.info[:20]:
        print("info: " + line)
    if len(R.info) > 20:
        print("info: ... %d more" % (len(R.info) - 20))
    total = sum(R.checks.values())
    print("invariants checked: %d (%s)" % (total, ", ".join(
        "%s %d" % kv for kv in sorted(R.checks.items()))))
    print("behaviour checked: %d (%s)%s" % (sum(R.behaviour.values()), ", ".join(
        "%s %d" % kv for kv in sorted(R.behaviour.items())),
        "; not applicable: " + ", ".join("%s %d" % kv for kv in sorted(R.bskip.items()))
        if R.bskip else ""))
    failed = False
    rules = ["acked-terminal", "result-readable", "terminal-once", "expected-outcome", "output",
             "attempt-once", "attempts-bound", "no-overlap", "current-result", "retry-limit",
             "crash-explained", "dep-order", "dep-cancelled", "node-exits", "exec-log",
             "res-disjoint"]
    if a.mode == "group":
        rules += ["one-leader-term", "dispatch-leading", "lease-unique", "lease-overlap"]
    for rule in rules:
        v = R.violations.get(rule, [])
        if v:
            failed = True
            print("FAIL: invariant %s: %d violation(s) of %d checks" % (rule, len(v),
                                                                         R.checks[rule]))
            for line in v[:15]:
                print("  VIOLATION [%s] %s" % (rule, line))
            if len(v) > 15:
                print("  ... %d more" % (len(v) - 15))
        elif R.checks[rule]:
            print("ok: invariant %s (%d checks)" % (rule, R.checks[rule]))
    brules = ["declared-dead", "requeued-in-time", "late-discarded", "exit-3", "cluster-going",
              "disk-full"]
    if a.mode == "group":
        brules += ["stepped-down", "fail-stop"]
    for rule in brules:
        v = R.bfail.get(rule, [])
        if v:
            failed = True
            print("FAIL: behaviour %s: %d of %d checks failed" % (rule, len(v),
                                                                  R.behaviour[rule]))
            for line in v[:15]:
                print("  BEHAVIOUR [%s] %s" % (rule, line))
            if len(v) > 15:
                print("  ... %d more" % (len(v) - 15))
        elif R.behaviour[rule]:
            print("ok: behaviour %s (%d checks)" % (rule, R.behaviour[rule]))
        elif a.mode == "short" or (a.mode == "group" and rule in ("stepped-down", "fail-stop")):
            # The short run's schedule is built to show every behaviour once.
            failed = True
            print("FAIL: behaviour %s was never shown (nothing to check)" % rule)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
