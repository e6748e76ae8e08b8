"""Run a command and report its wall time, CPU time and peak memory summed
over its whole process tree (the command and every descendant alive at the
same moment), sampled from /proc.

    python -m wasmc.tools.proctree [--interval S] [--json] -- CMD ARGS...

Three sums, each sampled at one moment and the largest kept:

* RSS: the resident set of every process of the tree added up (shared
  pages -- the Python interpreter, libLLVM -- count once per process, as
  `ps` would add them up);
* tree: what the tree occupies, each page once: every process's private
  pages, plus the resident shared pages of each mapped file counted once
  (the largest any process of the tree has of it), from /proc/PID/smaps;
* PSS (proportional set size): shared pages divided among *all* their
  sharers on the machine, so it falls when other programs map the same
  libraries (noisy on a shared machine).

Linux only.  Used for docs/benchmarks.md ("Compile throughput").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _tree(root: int) -> list:
    """ROOT and its descendants, through /proc/PID/task/TID/children."""
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _mem(pid: int) -> tuple:
    """(rss, pss) in bytes, or (0, 0) once the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            rss = pss = 0
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
            return rss, pss
    except OSError:
        return 0, 0


def _smaps(pid: int) -> tuple:
    """(private bytes, {file: shared bytes}) of PID, or (0, {}) once it is gone."""
    private, shared = 0, {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 1)[0]
                if not head.endswith(":"):  # a mapping's first line: address perms offset dev inode [path]
                    parts = line.split(None, 5)
                    name = parts[5].strip() if len(parts) > 5 else None
                elif head in ("Private_Clean:", "Private_Dirty:"):
                    private += int(line.split()[1]) * 1024
                elif head in ("Shared_Clean:", "Shared_Dirty:"):
                    kb = int(line.split()[1]) * 1024
                    key = name or f"[anon {pid}]"
                    shared[key] = shared.get(key, 0) + kb
    except OSError:
        return 0, {}
    return private, shared


def measure(cmd: list, interval: float = 0.02, tree: bool = True, quiet: bool = False, cwd=None) -> dict:
    """Run CMD and sample its process tree every INTERVAL seconds: wall and
    CPU time (of CMD and every descendant it waited for) and the peaks of
    the RSS and PSS sums, and with TREE of what the tree occupies (each
    shared page once; reads every process's smaps, so costlier per sample).
    QUIET: CMD's output is dropped, its stderr kept for the error of a
    command that fails (RuntimeError)."""
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = dict(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) if quiet else {}
    proc = subprocess.Popen(cmd, cwd=cwd, **out)
    peak_rss = peak_pss = peak_tree = peak_n = 0
    while proc.poll() is None:
        rss = pss = private = 0
        shared: dict = {}
        pids = _tree(proc.pid)
        for p in pids:
            r, s = _mem(p)
            rss += r
            pss += s
            if tree:
                pv, sh = _smaps(p)
                private += pv
                for k, v in sh.items():
                    shared[k] = max(shared.get(k, 0), v)
        peak_rss, peak_pss, peak_n = max(peak_rss, rss), max(peak_pss, pss), max(peak_n, len(pids))
        peak_tree = max(peak_tree, private + sum(shared.values()))
        time.sleep(interval)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if quiet:
        err = proc.stderr.read()
        proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: "
                               f"{err.decode(errors='replace')[-2000:]}")
    res = {"returncode": proc.returncode, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
           "peak_rss_mib": round(peak_rss / 2**20, 1), "peak_pss_mib": round(peak_pss / 2**20, 1),
           "max_processes": peak_n}
    if tree:
        res["peak_tree_mib"] = round(peak_tree / 2**20, 1)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    r = measure(cmd, a.interval)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"wall {r['wall_s']:.2f} s  cpu {r['cpu_s']:.2f} s  peak rss {r['peak_rss_mib']:.0f} MiB  "
              f"peak tree {r['peak_tree_mib']:.0f} MiB  "
              f"peak pss {r['peak_pss_mib']:.0f} MiB  processes {r['max_processes']}  rc {r['returncode']}",
              file=sys.stderr)
    return r["returncode"]


if __name__ == "__main__":
    sys.exit(main())
