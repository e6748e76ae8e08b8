"""The build pipeline: .wasm bytes -> .wasmu bytes.

    decode -> validate -> lower (once, target independent)
      -> per (target, tier): compile partitions (worker processes when the
         module is large) -> link with the libcall object -> image
      -> pack every image into one container

Partitions: functions are split into contiguous chunks of roughly equal
instruction count; partition 0 also holds the trampolines, adapters and
constant-expression functions.  Calls between partitions become ordinary
undefined symbols the image linker resolves.

Isolation: LLVM reports some internal failures by aborting the process.  By
default every partition is compiled in a worker process kept for the life of
the calling process (wasmc.compile.workers), so such an abort becomes a
CompileError (exit code 10) instead of killing ``wasmc build`` or the Python
program that called ``wasmc.Module``.  ``BuildOptions(isolate=False)`` compiles in the
calling process (the spec-test runner does, for thousands of tiny modules).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, abi
from .. import targets as _targets
from ..container import Slice, pack
from ..errors import CompileError
from ..wasm.decode import decode_module
from ..wasm.validate import validate_module
from . import descriptor
from .lower import ModuleLowering

# A partition holds about this many Wasm instructions (a function is never
# split).  Small partitions balance the workers and bound each one's memory:
# gcc-loops at -O2 took 12.2 s of CPU in 3 partitions of 40k, 10.6 s in 19
# of 5k, with the same run time (docs/benchmarks.md, "Compile throughput").
PARTITION_INSTRS = 5000


@dataclass(frozen=True)
class BuildOptions:
    opt_level: int = 2
    jobs: int = 0  # 0 = os.cpu_count()
    keep_wasm: bool = True
    isolate: bool = True  # compile in worker processes (an LLVM abort is a CompileError)
    fuel: bool = False  # fuel metering (compile/lower/fuel.py; recorded as options.fuel)

    def recorded(self) -> dict:
        """The options an artifact records (metadata ``options``): what
        `wasmc slices add` compiles new slices with.  ``fuel`` only when set,
        so an artifact built without it is what it always was."""
        return {"opt_level": self.opt_level, **({"fuel": True} if self.fuel else {})}


# wasmc's libcall object per (target, tier), kept for the life of the process.
_LIBCALL_CACHE: dict = {}


def _run_calls(calls: list, options: "BuildOptions", on_done=None) -> list:
    """[FN(*ARGS) for FN, ARGS in CALLS] (FN a function of compile/workers.py),
    in the worker pool (an LLVM abort becomes a CompileError) or, without
    isolation, in this process one after the other."""
    from . import workers

    if not options.isolate:
        out = []
        for i, (fn, args) in enumerate(calls):
            out.append(workers._FUNCTIONS[fn](*args))
            if on_done is not None:
                on_done(i)
        return out
    try:
        return workers.pool(_jobs(options)).run(calls, on_done)
    except workers.WorkerDied as e:
        raise CompileError("LLVM aborted while compiling this module (an internal error in wasmc; "
                           f"please report it with the .wasm): {e.report}") from None


def _jobs(options: "BuildOptions") -> int:
    return options.jobs or os.cpu_count() or 1


def compile_isolated(work: list, jobs: int, on_done=None) -> list:
    """Compile every (ir, target, tier, opt, name) of WORK to an ELF object in
    worker processes (wasmc.compile.workers), JOBS at a time."""
    return _run_calls([("compile_ir", w) for w in work], BuildOptions(jobs=jobs), on_done)


def partitions(module, size=PARTITION_INSTRS) -> list:
    parts, cur, n = [], [], 0
    for i, code in enumerate(module.codes):
        cur.append(i)
        n += len(code.body)
        if n >= size:
            parts.append(cur)
            cur, n = [], 0
    if cur or not parts:
        parts.append(cur)
    return parts


def lower_partitions(module, lowering: ModuleLowering, size=PARTITION_INSTRS) -> list:
    parts = partitions(module, size)
    return [lowering.module_ir(p, i == 0) for i, p in enumerate(parts)]


class Progress:
    """What a build reports as it goes (the CLI draws it; the default is silent).
    A slice is named ``arch:tier``."""

    def lowered(self, seconds: float) -> None:
        pass

    def slice_started(self, name: str, parts: int) -> None:
        pass

    def part_done(self, name: str) -> None:
        pass

    def slice_phase(self, name: str, phase: str) -> None:
        pass


def _lowering_key(target) -> tuple:
    """What lowering needs to know about a target (everything else is in targets/)."""
    return (target.partial_store_faults, target.calling_convention)


def compile_slices(module, slice_specs, options: BuildOptions, progress: Progress | None = None) -> list:
    """Compile MODULE for each (target, tier); returns a list of Slice with data.

    Target-independent work is done once and shared:

    * lowering runs once per distinct target-dependent lowering choice
      (Target.partial_store_faults and calling_convention): two for all
      five default slices;
    * each partition is parsed, verified and put through the mid-level
      pipeline once per *target* (triple and data layout; with the cost
      model of the target's baseline tier, llvm._mid_machine), and that one
      optimised module is emitted for every tier of the target built.

    So one job for the worker pool is (target, partition) -> one object per
    tier; jobs of all slices run in parallel, largest first, and the
    workers are started before lowering so they load LLVM meanwhile.
    Linking is per slice, in order.  Objects depend only on their inputs,
    so the result is the same whatever JOBS is."""
    import threading
    import time

    progress = progress or Progress()
    parts = partitions(module)
    by_target: dict = {}  # target name -> indices of its slices (in slice order)
    for n, (target, _) in enumerate(slice_specs):
        by_target.setdefault(target.name, []).append(n)
    need_libcalls = [n for n, (t, tier) in enumerate(slice_specs) if (t.name, tier.name) not in _LIBCALL_CACHE]
    if options.isolate:
        from . import workers

        workers.pool(_jobs(options)).prestart(len(by_target) * len(parts) + (1 if need_libcalls else 0))
    t0 = time.monotonic()
    lowerings, irs = {}, {}
    for target, _ in slice_specs:
        key = _lowering_key(target)
        if key not in lowerings:
            lowerings[key] = ModuleLowering.for_target(module, target, fuel=options.fuel)
            irs[key] = [lowerings[key].module_ir(p, i == 0) for i, p in enumerate(parts)]
    progress.lowered(time.monotonic() - t0)
    for target, tier in slice_specs:
        progress.slice_started(f"{target.name}:{tier.name}", len(parts))
    calls, what = [], []
    for name, idx in by_target.items():
        target = slice_specs[idx[0]][0]
        tiers = [slice_specs[n][1].name for n in idx]
        for k, ir in enumerate(irs[_lowering_key(target)]):
            calls.append(("compile_tiers", (ir, name, tiers, options.opt_level, f"part{k}")))
            what.append((idx, k, len(ir) * (1 + len(idx))))
    order = sorted(range(len(calls)), key=lambda i: -what[i][2])  # largest first: shorter tail
    calls = [calls[i] for i in order]
    what = [what[i] for i in order]
    for n in need_libcalls:
        t, tier = slice_specs[n]
        calls.append(("libcalls", (t.name, tier.name)))
        what.append(None)
    lock = threading.Lock()

    def done(i):
        if what[i] is None:
            return
        with lock:
            for n in what[i][0]:
                t, tier = slice_specs[n]
                progress.part_done(f"{t.name}:{tier.name}")

    results = _run_calls(calls, options, done)
    objects = [[None] * len(parts) for _ in slice_specs]
    for w, r in zip(what, results):
        if w is None:
            continue
        idx, k, _ = w
        for n, obj in zip(idx, r):
            objects[n][k] = obj
    for n, r in zip(need_libcalls, results[len(results) - len(need_libcalls):]):
        t, tier = slice_specs[n]
        _LIBCALL_CACHE[(t.name, tier.name)] = r
    del results, irs
    from ..link.image import link

    out = []
    for n, (target, tier) in enumerate(slice_specs):
        name = f"{target.name}:{tier.name}"
        progress.slice_phase(name, "linking")
        objs, objects[n] = objects[n], None
        linked = link([(f"part{k}", o) for k, o in enumerate(objs)], target.elf_machine,
                      descriptor.CODE_BASE, _LIBCALL_CACHE[(target.name, tier.name)])
        image = descriptor.build_image(module, lowerings[_lowering_key(target)].info, linked)
        out.append(Slice(target.name, tier.name, tier.cpu, tier.features, abi.ABI_VERSION, data=image))
        progress.slice_phase(name, "done")
    return out


_LLVM_VERSION = None


def _llvm_version(options: BuildOptions) -> str:
    """The LLVM version objects are compiled with (asked of a worker, so this
    process never loads LLVM)."""
    global _LLVM_VERSION
    if _LLVM_VERSION is None:
        _LLVM_VERSION = _run_calls([("llvm_version", ())], options)[0]
    return _LLVM_VERSION


def build(data: bytes, slice_specs=None, options: BuildOptions = BuildOptions(),
          source_name: str = "module.wasm", progress: Progress | None = None) -> bytes:
    """Compile a .wasm into .wasmu bytes holding one slice per (target, tier)."""
    module = decode_module(data)
    validate_module(module)
    if slice_specs is None:
        host = _targets.host()
        slice_specs = [(host, host.tier())]
    slices = compile_slices(module, canonical_order(slice_specs), options, progress)
    meta = {
        "compiler": f"wasmc {__version__}",
        "llvm": _llvm_version(options),
        "options": options.recorded(),
        "source": {"name": os.path.basename(source_name), "sha256": hashlib.sha256(data).hexdigest(),
                   "size": len(data)},
        "features": features_used(module),
    }
    meta.update(descriptor.interface(module))
    return pack(meta, slices, data if options.keep_wasm else None)


def canonical_order(slice_specs) -> list:
    """Slices in the one order every artifact keeps: architectures by name,
    then tiers in their declared order (targets/*.toml), duplicates dropped.
    So removing a slice and adding it back gives the same bytes."""
    seen, out = set(), []
    for t, tier in slice_specs:
        if (t.name, tier.name) not in seen:
            seen.add((t.name, tier.name))
            out.append((t, tier))
    return sorted(out, key=lambda s: (s[0].name, [x.name for x in s[0].tiers].index(s[1].name)))


def features_used(module) -> list:
    """Post-MVP features the module uses (instructions and module shape)."""
    feats = {ins[0].feature for code in module.codes for ins in code.body}
    for g in module.globals:
        feats.update(ins[0].feature for ins in g.init)
    mems = module.all_memories()
    if len(mems) > 1:
        feats.add("multi_memory")
    if any(m.limits.is64 for m in mems) or any(t.limits.is64 for t in module.all_tables()):
        feats.add("memory64")
    if module.tags or any(i.kind == "tag" for i in module.imports):
        feats.add("exceptions")
    feats.discard("mvp")
    return sorted(feats)


def cache_key(data: bytes, slice_specs, options: BuildOptions) -> str:
    h = hashlib.sha256()
    h.update(data)
    h.update(f"|wasmc {__version__}|abi {abi.ABI_VERSION}|llvm {_llvm_identity()}"
             f"|O{options.opt_level}|keep {options.keep_wasm}{'|fuel' if options.fuel else ''}".encode())
    # (isolation changes no output)
    for t, tier in slice_specs:
        h.update(f"|{t.name}:{tier.name}:{tier.cpu}:{tier.features}".encode())
    h.update(_compiler_fingerprint())
    return h.hexdigest()


_LLVM_ID = None


def _llvm_identity() -> str:
    """What names the LLVM build wasmc compiles with, without loading it into
    this process (a cache hit never loads LLVM): llvmlite's version and the
    name and size of each of its native libraries."""
    global _LLVM_ID
    if _LLVM_ID is None:
        import importlib.util
        from importlib import metadata

        spec = importlib.util.find_spec("llvmlite")
        libs = []
        if spec is not None and spec.origin:
            binding = Path(spec.origin).parent / "binding"
            libs = sorted((p.name, p.stat().st_size) for p in binding.iterdir()
                          if p.suffix in (".so", ".dylib", ".dll"))
        try:
            version = metadata.version("llvmlite")
        except metadata.PackageNotFoundError:
            version = "?"
        _LLVM_ID = f"llvmlite {version} {libs}"
    return _LLVM_ID


_FP = None


def _compiler_fingerprint() -> bytes:
    """Hash of the compiler's own sources, so a changed compiler never reuses stale cache entries."""
    global _FP
    if _FP is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256()
        for sub in ("compile", "link", "wasm"):
            base = Path(root) / sub
            for p in sorted(base.rglob("*.py")):  # subpackages too (compile/lower/)
                h.update(p.relative_to(base).as_posix().encode() + p.read_bytes())
        for name in ("abi.py", "container.py", "targets.py"):
            with open(os.path.join(root, name), "rb") as f:
                h.update(f.read())
        for p in sorted(_targets.TARGETS_DIR.glob("*.toml")):
            h.update(p.name.encode() + p.read_bytes())
        _FP = h.digest()
    return _FP
