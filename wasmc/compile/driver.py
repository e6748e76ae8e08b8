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
import re
from dataclasses import dataclass

from .. import __version__, abi
from .. import targets as _targets
from ..container import Slice, pack
from ..errors import CompileError
from ..wasm.decode import decode_module
from ..wasm.validate import validate_module
from . import descriptor
from .lower import ModuleLowering

# A partition holds about this many Wasm instructions.
PARTITION_INSTRS = 40000


@dataclass(frozen=True)
class BuildOptions:
    opt_level: int = 2
    jobs: int = 0  # 0 = os.cpu_count()
    keep_wasm: bool = True
    isolate: bool = True  # compile in worker processes (an LLVM abort is a CompileError)


def _libcalls(target_name, tier_name):
    from .. import targets
    from . import llvm

    t = targets.get(target_name)
    return llvm.libcall_object(t, t.tier(tier_name))


_LIBCALL_CACHE: dict = {}


def compile_isolated(work: list, jobs: int) -> list:
    """Compile every (ir, target, tier, opt, name) of WORK to an ELF object in
    worker processes (wasmc.compile.workers), JOBS at a time."""
    from .workers import WorkerDied, pool

    try:
        return pool(jobs).map("compile_ir", work)
    except WorkerDied as e:
        raise CompileError("LLVM aborted while compiling this module (an internal error in wasmc; "
                           f"please report it with the .wasm): {e.report}") from None


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


def compile_slices(module, slice_specs, options: BuildOptions) -> list:
    """Compile MODULE for each (target, tier); returns a list of Slice with data."""
    lowering = ModuleLowering(module)
    irs = lower_partitions(module, lowering)
    jobs = options.jobs or os.cpu_count() or 1
    work = []
    for target, tier in slice_specs:
        for k, ir in enumerate(irs):
            work.append((ir, target.name, tier.name, options.opt_level, f"part{k}"))
    if options.isolate:
        objects = compile_isolated(work, jobs)
    else:
        from .workers import _compile_ir

        objects = [_compile_ir(*w) for w in work]
    from ..link.image import link

    out = []
    per = len(irs)
    for n, (target, tier) in enumerate(slice_specs):
        objs = objects[n * per:(n + 1) * per]
        key = (target.name, tier.name)
        if key not in _LIBCALL_CACHE:
            _LIBCALL_CACHE[key] = _libcalls(target.name, tier.name)
        linked = link([(f"part{k}", o) for k, o in enumerate(objs)], target.elf_machine,
                      descriptor.CODE_BASE, _LIBCALL_CACHE[key])
        image = descriptor.build_image(module, lowering.info, linked)
        out.append(Slice(target.name, tier.name, tier.cpu, tier.features, abi.ABI_VERSION, data=image))
    return out


def build(data: bytes, slice_specs=None, options: BuildOptions = BuildOptions(),
          source_name: str = "module.wasm") -> bytes:
    """Compile a .wasm into .wasmu bytes holding one slice per (target, tier)."""
    module = decode_module(data)
    validate_module(module)
    if slice_specs is None:
        host = _targets.host()
        slice_specs = [(host, host.tier())]
    slices = compile_slices(module, slice_specs, options)
    from . import llvm

    meta = {
        "compiler": f"wasmc {__version__}",
        "llvm": llvm.llvm_version(),
        "options": {"opt_level": options.opt_level},
        "source": {"name": os.path.basename(source_name), "sha256": hashlib.sha256(data).hexdigest(),
                   "size": len(data)},
        "features": features_used(module),
    }
    meta.update(descriptor.interface(module))
    return pack(meta, slices, data if options.keep_wasm else None)


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
    from . import llvm

    h = hashlib.sha256()
    h.update(data)
    h.update(f"|wasmc {__version__}|abi {abi.ABI_VERSION}|llvm {llvm.llvm_version()}"
             f"|O{options.opt_level}|keep {options.keep_wasm}".encode())  # (isolation changes no output)
    for t, tier in slice_specs:
        h.update(f"|{t.name}:{tier.name}:{tier.cpu}:{tier.features}".encode())
    h.update(_compiler_fingerprint())
    return h.hexdigest()


_FP = None


def _compiler_fingerprint() -> bytes:
    """Hash of the compiler's own sources, so a changed compiler never reuses stale cache entries."""
    global _FP
    if _FP is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256()
        for sub in ("compile", "link", "wasm"):
            d = os.path.join(root, sub)
            for name in sorted(os.listdir(d)):
                if re.fullmatch(r"\w+\.py", name):
                    with open(os.path.join(d, name), "rb") as f:
                        h.update(name.encode() + f.read())
        for name in ("abi.py", "container.py", "targets.py"):
            with open(os.path.join(root, name), "rb") as f:
                h.update(f.read())
        for p in sorted(_targets.TARGETS_DIR.glob("*.toml")):
            h.update(p.name.encode() + p.read_bytes())
        _FP = h.digest()
    return _FP
