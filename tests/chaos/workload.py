#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Workload and schedule generator for the dtr chaos runs (stdlib only).

  workload.py batch --run DIR --seed S --batch K --count N [--mix NAME] [--priority P]
      Writes DIR/batches/batch-K.jsonl (task specs for `dtr submit --file`)
      and appends one expectation per task to DIR/expect.jsonl.

  workload.py schedule --seed S --duration D --workers w1,w2,w3 --wt SECS --mt SECS
      Prints the randomized fault schedule of a long run, one event a line:
        T submit K N MIX
        T start FID KIND TARGET DURATION [ARG]
        T end FID
      T is seconds from the start of the run. Same seed, same schedule.

Task classes (the `class` of an expectation) and what the checker demands:
  ok          exec: logs its execution, sleeps, prints "OK id attempt worker"
  disk        exec: writes 64 KiB to the worker's scratch tmpfs (a disk-full
              fault makes that fail), prints "DISK id attempt worker 65536"
  fail        exec: logs its execution and exits 1; max_retries 0..2
  timeout     exec: logs its start and sleeps far past its timeout
  sleepto     built-in sleep far past its timeout
  compute     built-in: the sum of payload.numbers
  transform   built-in: payload.data with a-z upper-cased
  echo        built-in: the payload
  noop        built-in: null

Each batch also holds small DAGs of exec tasks (ids bK-dNN-SHAPE-NODE, placed
at random among the others, so a task may come before the tasks it names):
a diamond, a chain, a failing root with dependents (cancelled, "dependency X
failed"/"was cancelled") and `after_any` tasks that run anyway, and a mix.
Their nodes are `ok` tasks (short sleeps) or `fail` roots; the expectation
carries the node's `after` and `after_any`, and check.py derives what each
node must end as from the final states of its dependencies.

Every exec task appends "task_id attempt worker_id start_ns -" when it starts
and "task_id attempt worker_id start_ns end_ns" when it is done or stopped by
SIGTERM (each with one O_APPEND write) to CHAOS_EXEC/exec-WORKER.log, the log
of the host it ran on. Times are CLOCK_REALTIME in ns: one kernel, one clock
for every namespace.
"""
import argparse
import json
import os
import random
import sys

LOG_START = ('L="$CHAOS_EXEC/exec-$DTR_WORKER_ID.log"; s=$(date +%s%N); '
             'echo "$DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID $s -" >>"$L"; '
             # The ids it was given (issue 13), beside: res-WORKER.log.
             'echo "$DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID $s cpus=$DTR_CPUS '
             'gpus=${CUDA_VISIBLE_DEVICES-}" >>"$CHAOS_EXEC/res-$DTR_WORKER_ID.log"; '
             # A timed-out or killed attempt (SIGTERM to its process group)
             # still records when it ended; SIGKILL leaves the start alone.
             'trap \'e=$(date +%s%N); echo "$DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID $s $e" '
             '>>"$L"; exit 143\' TERM; ')
LOG_END = 'e=$(date +%s%N); echo "$DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID $s $e" >>"$L"; '

MIXES = {
    # class: weight
    "default": {"ok": 44, "compute": 16, "transform": 10, "echo": 4, "noop": 2,
                "fail": 8, "timeout": 5, "sleepto": 3, "disk": 8},
    "disk": {"ok": 20, "compute": 10, "transform": 5, "disk": 65},
}


def upper_az(s):
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in s)


def make_task(rng, tid, cls, env, fixed_prio=None, short=False):
    prio = rng.choice([1, 2, 3, "low", "medium", "high"])
    if fixed_prio is not None:
        prio = fixed_prio
    spec = {"id": tid, "priority": prio}
    exp = {"id": tid, "class": cls}
    if cls == "ok":
        d = rng.choice(["0.05", "0.1", "0.2", "0.3"] if short else
                       ["0.05", "0.1", "0.2", "0.3", "0.5", "0.8", "1.2", "2"])
        spec.update(kind="exec", env=env, max_retries=3,
                    cmd=LOG_START + "sleep %s; " % d + LOG_END +
                    'echo "OK $DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID"')
        # Resources (issue 13): workers offer 2 CPUs and GPUs 0,1.
        r = rng.random()
        if r < 0.25:
            spec["gpus"] = 1
        elif r < 0.35:
            spec["cpus"] = 2
    elif cls == "disk":
        # cd first: every path below then resolves in the same file system,
        # even if a full one is mounted over the scratch dir meanwhile.
        spec.update(kind="exec", env=env, max_retries=6, cmd=(
            LOG_START + 'cd "$CHAOS_SCRATCH" || exit 1; f="$DTR_TASK_ID.$DTR_ATTEMPT"; '
            'if ! yes "$DTR_TASK_ID" | head -c 65536 >"$f"; then rm -f "$f"; ' + LOG_END +
            'echo "disk full" >&2; exit 1; fi; n=$(wc -c <"$f"); rm -f "$f"; sleep 0.1; ' +
            LOG_END + 'echo "DISK $DTR_TASK_ID $DTR_ATTEMPT $DTR_WORKER_ID $n"'))
    elif cls == "fail":
        r = rng.randint(0, 2)
        spec.update(kind="exec", env=env, max_retries=r,
                    cmd=LOG_START + "sleep 0.05; " + LOG_END +
                    'echo "FAIL $DTR_TASK_ID $DTR_ATTEMPT" >&2; exit 1')
    elif cls == "timeout":
        r = rng.randint(0, 1)
        spec.update(kind="exec", env=env, max_retries=r,
                    timeout=rng.choice(["500ms", "800ms", "1s"]),
                    cmd=LOG_START + "sleep 30; " + LOG_END + "echo never")
    elif cls == "sleepto":
        spec.update(kind="sleep", payload={"seconds": 30}, max_retries=0,
                    timeout=rng.choice([0.5, "700ms"]))
    elif cls == "compute":
        nums = [rng.randint(-1000, 100000) for _ in range(rng.randint(0, 20))]
        if rng.random() < 0.2:
            nums.append(rng.choice([0.5, 0.25, -1.5]))
        spec.update(kind="compute", payload={"numbers": nums}, max_retries=3)
        exp["want"] = sum(nums)
    elif cls == "transform":
        alphabet = "abcdefghijklmnopqrstuvwxyz ABC0123456789-_.,;:!?"
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        if rng.random() < 0.2:
            data += " caf\u00e9 \u00fcber"
        spec.update(kind="transform", payload={"data": data}, max_retries=3)
        exp["want"] = upper_az(data)
    elif cls == "echo":
        payload = {"n": rng.randint(0, 10**9), "s": "x%d" % rng.randint(0, 99),
                   "l": [rng.randint(0, 9) for _ in range(rng.randint(0, 5))],
                   "o": {"b": rng.random() < 0.5, "z": None}}
        spec.update(kind="echo", payload=payload, max_retries=3)
        exp["want"] = payload
    elif cls == "noop":
        spec.update(kind="noop", max_retries=3)
    else:
        raise ValueError(cls)
    exp["max_retries"] = spec["max_retries"]
    return spec, exp


# DAG shapes: node -> (class, after, after_any), in dependency order.
DAGS = {
    "dia": [("a", "ok", [], []), ("b", "ok", ["a"], []), ("c", "ok", ["a"], []),
            ("d", "ok", ["b", "c"], [])],
    "chn": [("x1", "ok", [], []), ("x2", "ok", ["x1"], []), ("x3", "ok", ["x2"], []),
            ("x4", "ok", ["x3"], [])],
    # r fails: c1 is cancelled ("dependency r failed"), c2 in turn ("dependency
    # c1 was cancelled"); y and z wait for r (and c1) to end, then run.
    "bad": [("r", "fail", [], []), ("c1", "ok", ["r"], []), ("c2", "ok", ["c1"], []),
            ("y", "ok", [], ["r"]), ("z", "ok", [], ["c1", "r"])],
    # m needs a to succeed and f to end; n needs both to succeed: cancelled.
    "mix": [("a", "ok", [], []), ("f", "fail", [], []), ("m", "ok", ["a"], ["f"]),
            ("n", "ok", ["a", "f"], [])],
}


def make_dag(rng, batch, k, env, fixed_prio):
    shape = rng.choice(sorted(DAGS))
    pre = "b%d-d%02d%s-" % (batch, k, shape)
    out = []
    for node, cls, after, after_any in DAGS[shape]:
        spec, exp = make_task(rng, pre + node, cls, env, fixed_prio, short=True)
        if after:
            spec["after"] = exp["after"] = [pre + d for d in after]
        if after_any:
            spec["after_any"] = exp["after_any"] = [pre + d for d in after_any]
        out.append((spec, exp))
    return out


def cmd_batch(a):
    rng = random.Random("%s/%s" % (a.seed, a.batch))
    mix = MIXES[a.mix]
    classes = list(mix)
    weights = [mix[c] for c in classes]
    env = {"CHAOS_EXEC": os.path.join(a.run, "exec"),
           "CHAOS_SCRATCH": os.path.join(a.run, "scratch")}
    os.makedirs(os.path.join(a.run, "batches"), exist_ok=True)
    specs, exps = [], []
    for i in range(a.count):
        cls = rng.choices(classes, weights)[0]
        tid = "b%d-%03d-%s" % (a.batch, i, cls)
        spec, exp = make_task(rng, tid, cls, env, a.priority)
        exp["batch"] = a.batch
        specs.append(spec)
        exps.append(exp)
    # Small DAGs, about one per 25 tasks, their nodes spread among the others.
    for k in range(max(1, a.count // 25)):
        for spec, exp in make_dag(rng, a.batch, k, env, a.priority):
            exp["batch"] = a.batch
            i = rng.randint(0, len(specs))
            specs.insert(i, spec)
            exps.insert(i, exp)
    path = os.path.join(a.run, "batches", "batch-%d.jsonl" % a.batch)
    with open(path, "w") as f:
        for s in specs:
            f.write(json.dumps(s, separators=(",", ":")) + "\n")
    with open(os.path.join(a.run, "expect.jsonl"), "a") as f:
        for e in exps:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    print(path)


def cmd_schedule(a):
    rng = random.Random(a.seed)
    workers = a.workers.split(",")
    D, wt, mt = a.duration, a.wt, a.mt
    events = []
    # Submissions: a wave every 3-7 s while the faults go on.
    t, k = 1.0, 0
    while t < D - 3:
        mix = "disk" if rng.random() < 0.1 else "default"
        events.append((t, 0, "submit %d %d %s" % (k, rng.randint(15, 45), mix)))
        k += 1
        t += rng.uniform(3, 7)
    # Faults: at most two workers faulted at once (one stays healthy); at
    # most one fault of the master at a time (kill, freeze, loss burst on its
    # link), and that one only while at most one worker is faulted.
    kinds = ["worker_kill", "worker_stop", "partition", "partition_long",
             "master_kill", "master_stop", "disk_full", "loss_burst"]
    weights = [3, 3, 5, 1, 2, 1, 2, 2]
    busy = {w: 0.0 for w in workers}   # worker -> busy until
    master_busy = 0.0
    t, fid = 2.0, 0
    while t < D:
        t += rng.uniform(1.0, 5.0)
        kind = rng.choices(kinds, weights)[0]
        if kind == "loss_burst" and rng.random() < 0.2:
            kind = "master_loss"
        if kind in ("master_kill", "master_stop", "master_loss"):
            active = [w for w in workers if busy[w] > t]
            if t < master_busy or len(active) > 1:
                continue
            arg = ""
            if kind == "master_kill":
                dur = rng.uniform(0.3, 3.0)
            elif kind == "master_stop":
                # Mostly under the workers' --master-timeout, now and then past
                # it (every worker must then exit 3 and is restarted).
                dur = rng.uniform(1.0, wt + 4) if rng.random() < 0.8 else mt + rng.uniform(1, 3)
            else:
                dur = rng.uniform(2, 6)
                arg = str(rng.choice([10, 20]))
            dur = round(dur, 2)
            if t + dur > D:
                break
            events.append((t, 1, "start %d %s master %.2f %s" % (fid, kind, dur, arg)))
            events.append((t + dur, 2, "end %d" % fid))
            master_busy = t + dur + wt + 2
            fid += 1
            continue
        free = [w for w in workers if busy[w] <= t]
        active = [w for w in workers if busy[w] > t]
        if not free or len(active) >= 2:
            continue
        w = rng.choice(free)
        arg = ""
        if kind == "worker_kill":
            dur = rng.uniform(0.3, wt + 3)
        elif kind == "worker_stop":
            dur = rng.uniform(0.5, wt + 4)
        elif kind == "partition":
            dur = rng.uniform(1.0, wt + 5)
            # both ways (nftables or the switch port down), or one way only:
            # "in" drops what the master sends, "out" what the worker sends
            arg = rng.choice(["nft", "link", "in", "out"])
        elif kind == "partition_long":
            dur = mt + rng.uniform(2, 4)
            arg = rng.choice(["nft", "link"])
        elif kind == "disk_full":
            dur = rng.uniform(3, 8)
        else:  # loss_burst
            dur = rng.uniform(3, 8)
            arg = str(rng.choice([15, 25, 35]))
        dur = round(dur, 2)
        if t + dur > D:
            break
        events.append((t, 1, "start %d %s %s %.2f %s" % (fid, kind, w, dur, arg)))
        events.append((t + dur, 2, "end %d" % fid))
        # Let the cluster settle a little before the same worker is hit again.
        busy[w] = t + dur + (wt + 3 if kind in ("partition", "worker_stop", "partition_long")
                             else 2)
        fid += 1
    events.sort()
    for t, _, ev in events:
        print("%.2f %s" % (t, ev.rstrip()))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("batch")
    b.add_argument("--run", required=True)
    b.add_argument("--seed", required=True)
    b.add_argument("--batch", type=int, required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--mix", default="default", choices=sorted(MIXES))
    b.add_argument("--priority", type=int, default=None,
                   help="one priority for every task (default: random)")
    s = sub.add_parser("schedule")
    s.add_argument("--seed", required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--workers", required=True)
    s.add_argument("--wt", type=float, required=True)
    s.add_argument("--mt", type=float, required=True)
    a = p.parse_args()
    if a.cmd == "batch":
        cmd_batch(a)
    else:
        cmd_schedule(a)


if __name__ == "__main__":
    sys.exit(main())
