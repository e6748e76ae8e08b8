"""The on-disk compile cache.

``wasmc.Module(bytes)`` and ``wasmc run`` compile for this machine through
here.  An entry is a complete .wasmu named by the hash of the input, the
compiler's own sources, the LLVM version, the ABI version and the options
(driver.cache_key), so a stale entry is never reused.  The directory is
``$WASMC_CACHE_DIR`` or ``~/.cache/wasmc``; entries are written atomically,
so concurrent compilations of the same module (e.g. test workers) are safe.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import targets
from ..container import write_atomic
from .driver import BuildOptions, build, cache_key


def cache_dir() -> Path:
    d = os.environ.get("WASMC_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmc"


def host_slice_specs():
    host = targets.host()
    if host is None:
        from ..errors import CompileError

        raise CompileError("this machine's architecture is not a wasmc target")
    # The best tier this CPU supports: the artifact is for this machine only.
    tier = targets.host_tiers()[0] if targets.host_tiers() else host.tier()
    return [(host, tier)]


def compile_cached(data: bytes, opt_level: int = 2, use_cache: bool = True, source_name="module.wasm",
                   slice_specs=None, isolate: bool = True) -> Path:
    specs = slice_specs or host_slice_specs()
    opts = BuildOptions(opt_level=opt_level, isolate=isolate)
    d = cache_dir()
    key = cache_key(data, specs, opts)
    path = d / key[:2] / f"{key}.wasmu"
    if use_cache and path.exists():
        return path
    out = build(data, specs, opts, source_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, out)
    return path
