#!/usr/bin/env python3
"""Measuring helpers for tests/bench/image_bench.sh.

    image_probe.py first SOCKET HOST URI ERRFILE -- CMD [ARG...]
        starts CMD (its stdout and stderr to ERRFILE), sends one FastCGI
        GET of HOST URI to the Unix socket SOCKET as soon as it accepts,
        and prints one JSON line: "seconds" from the start of CMD to the
        whole answer, "cpu" (the user + system seconds the process had
        used by then, /proc/PID/stat, in clock ticks), "status", and
        "smaps" (the fields of
        /proc/PID/smaps_rollup, in KiB, right after that answer); then
        stops CMD with SIGTERM (by its pid) and waits for it.
    image_probe.py smaps PID [PID...]
        one JSON line: "each" (the smaps_rollup fields of each pid, KiB)
        and "sum" (their sums)

The request is fcgi_client.py's (tests/e2e/fixtures).  Python 3 standard
library only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "e2e", "fixtures"))
import fcgi_client  # noqa: E402


def smaps(pid):
    """The smaps_rollup fields of pid, in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def cpu(pid):
    """User + system seconds of pid so far (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first(sock, host, uri, errfile, cmd):
    req = fcgi_client.request_bytes(host, uri)
    with open(errfile, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err,
                             stderr=err)
    res = None
    try:
        while time.monotonic() - t0 < 60:
            if p.poll() is not None:
                break
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
            except OSError:
                s.close()
                time.sleep(0.001)
                continue
            try:
                s.sendall(req)
                res = fcgi_client.response(s)
            finally:
                s.close()
            t1 = time.monotonic()
            if res.get("status") is None:	# accepted, closed: again
                res = None
                continue
            break
        if res is None:
            print(json.dumps({"error": "no answer", "exit": p.poll()}))
            return 1
        print(json.dumps({"seconds": round(t1 - t0, 4),
                          "cpu": round(cpu(p.pid), 3),
                          "status": res["status"], "pid": p.pid,
                          "smaps": smaps(p.pid)}))
        return 0
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    if len(sys.argv) > 6 and sys.argv[1] == "first" and sys.argv[6] == "--":
        return first(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                     sys.argv[7:])
    if len(sys.argv) > 2 and sys.argv[1] == "smaps":
        each = {p: smaps(int(p)) for p in sys.argv[2:]}
        total = {}
        for fields in each.values():
            for k, v in fields.items():
                total[k] = total.get(k, 0) + v
        print(json.dumps({"each": each, "sum": total}))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
