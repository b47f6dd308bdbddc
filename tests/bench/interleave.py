#!/usr/bin/env python3
"""Runs short programs interleaved and measures each run's own CPU time,
for tests/bench/cgi_bench.sh: a check on hyperfine that a loaded machine
moves less.

    interleave.py SPEC.json RUNS

SPEC is a JSON list of {"name", "argv", "env" (the whole environment),
"prepare" (argv run, untimed, before each run; optional)}; the first is
the reference.  Every round runs each program once, in an order that
rotates, so a change of the machine's load falls on all of them alike;
the first 10 % of the rounds are a warm-up.  For each run the CPU time
is the child's user + system time from wait4(2) (the scheduler's own
accounting of that process alone), the wall time from spawn to exit.
Prints a Markdown table: the median CPU and wall time of each program and
their ratios to the reference's, and the same ratio taken round by round
(median of the per-round ratios), then one JSON line of the ratios.
Output of the programs goes to /dev/null, as with hyperfine.
"""

import json
import os
import shutil
import statistics
import sys
import time


def run(argv, env, devnull):
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
        (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s exited with %d" % (argv[0],
                                         os.waitstatus_to_exitcode(status)))
    return ru.ru_utime + ru.ru_stime, wall


def main():
    spec = json.load(open(sys.argv[1]))
    runs = int(sys.argv[2])
    warm = max(1, runs // 10)
    devnull = os.open(os.devnull, os.O_RDWR)
    cpu = {p["name"]: [] for p in spec}
    wall = {p["name"]: [] for p in spec}
    n = len(spec)
    for p in spec:
        if p.get("prepare"):	# as hyperfine: found in PATH
            prog = shutil.which(p["prepare"][0])
            if prog is None:
                sys.exit("no program %s" % p["prepare"][0])
            p["prepare"][0] = prog
    for r in range(warm + runs):
        for i in range(n):
            p = spec[(i + r) % n]
            if p.get("prepare") and os.spawnve(
                    os.P_WAIT, p["prepare"][0], p["prepare"], p["env"]):
                sys.exit("%s failed" % " ".join(p["prepare"]))
            c, w = run(p["argv"], p["env"], devnull)
            if r >= warm:
                cpu[p["name"]].append(c)
                wall[p["name"]].append(w)
    ref = spec[0]["name"]
    rc, rw = statistics.median(cpu[ref]), statistics.median(wall[ref])
    print("| interleaved, %d rounds | CPU: median | CPU ratio | per-round "
          "CPU ratio: median | wall: median | wall ratio |" % runs)
    print("|---|---|---|---|---|---|")
    out = {}
    for p in spec:
        name = p["name"]
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        per = statistics.median(a / b for a, b in zip(cpu[name], cpu[ref])
                                if b > 0)
        out[name] = {"cpu": c / rc, "per_round": per, "wall": w / rw}
        print("| %s | %.2f ms | %.2f× | %.2f× | %.2f ms | %.2f× |" % (
            name, c * 1e3, c / rc, per, w * 1e3, w / rw))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
