#!/usr/bin/env python3
"""Run a command, report wall time and memory.

    python memtime.py [--runs N] -- CMD ARGS...

Per run: wall seconds, user+sys CPU seconds, ru_maxrss (peak RSS as
/usr/bin/time -v reports it: anonymous memory AND file-backed pages mapped by
the process, e.g. an mmapped input), and, sampled from /proc/PID/status every
2 ms, the peak of RssAnon (heap/anonymous memory only) and of RssFile.
Prints one line per run and the medians, as JSON on the last line.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0])  # kB
    except OSError:
        pass
    return out


def run(cmd):
    peak = {"RssAnon": 0, "RssFile": 0}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    done = threading.Event()

    def sample():
        while not done.is_set():
            s = status(p.pid)
            for k in peak:
                peak[k] = max(peak[k], s.get(k, 0))
            time.sleep(0.002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, rc, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if rc != 0:
        sys.exit(f"command failed ({rc}): {cmd}")
    return {
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mib": ru.ru_maxrss / 1024,
        "peak_anon_mib": peak["RssAnon"] / 1024,
        "peak_file_mib": peak["RssFile"] / 1024,
    }


def main():
    args = sys.argv[1:]
    runs = 3
    if args[:1] == ["--runs"]:
        runs = int(args[1])
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    rs = []
    for i in range(runs):
        r = run(args)
        rs.append(r)
        print(f"run {i + 1}: " + " ".join(f"{k}={v:.3f}" for k, v in r.items()), file=sys.stderr)
    med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
    print(json.dumps({"cmd": args, "runs": runs, "median": med}))


main()
