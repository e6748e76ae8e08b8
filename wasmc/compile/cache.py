"""The on-disk compile cache.

``wasmc.Module(bytes)`` and ``wasmc run`` compile for this machine through
here.  An entry is a complete .wasmu named by the hash of the input, the
compiler's own sources, the LLVM version, the ABI version and the options
(driver.cache_key), so a stale entry is never reused.  The directory is
``$WASMC_CACHE_DIR`` or ``~/.cache/wasmc``; entries are written atomically,
so concurrent compilations of the same module (e.g. test workers) are safe.

The cache is only ever a shortcut, never a reason to fail:

* an entry that cannot be read, or is not a sound artifact (truncated,
  corrupt: its header, metadata and every slice hash are checked), is
  compiled again and replaced (an entry that is not a regular file, a
  symbolic link say, is never written through);
* if the directory cannot be used (it is a file, it cannot be created or
  written, the disk is full), the module is compiled into a private
  temporary directory of this process instead, removed when it exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from .. import container, targets
from ..userdirs import cache_dir
from ..errors import ArtifactError, FileError
from .driver import BuildOptions, build, cache_key


def host_slice_specs():
    host = targets.host()
    if host is None:
        from ..errors import CompileError

        raise CompileError("this machine's architecture is not a wasmc target")
    # The best tier this CPU supports: the artifact is for this machine only.
    tier = targets.host_tiers()[0] if targets.host_tiers() else host.tier()
    return [(host, tier)]


def _sound(path: Path) -> bool:
    """Is the entry at PATH a readable, complete artifact (every hash right)?"""
    try:
        art = container.load(path)
        for s in art.slices:
            container.slice_bytes(art, s)
        container.verify_source(art)
    except (ArtifactError, FileError):
        return False
    return True


_private: list = []  # the fallback directories of this process


def _private_dir() -> Path:
    """A temporary directory of this process only (mode 0700), removed at exit:
    where modules go when the cache directory cannot be used."""
    if not _private or not _private[-1].is_dir():
        d = tempfile.mkdtemp(prefix="wasmc-nocache-")
        atexit.register(shutil.rmtree, d, True)
        _private.append(Path(d))
    return _private[-1]


def pin(path: Path) -> str:
    """PATH itself, or, for a module in this process's private directory
    (which is removed at exit, and never if the process exec()s), the path
    of an inheritable descriptor of it (/proc/self/fd/N) with the file and,
    once empty, the directory already removed."""
    if path.parent not in _private:
        return str(path)
    fd = os.open(path, os.O_RDONLY)
    os.set_inheritable(fd, True)
    os.unlink(path)
    try:
        os.rmdir(path.parent)
    except OSError:
        pass
    return f"/proc/self/fd/{fd}"


def compile_cached(data: bytes, opt_level: int = 2, use_cache: bool = True, source_name="module.wasm",
                   slice_specs=None, isolate: bool = True, fuel: bool = False) -> Path:
    specs = slice_specs or host_slice_specs()
    opts = BuildOptions(opt_level=opt_level, isolate=isolate, fuel=fuel)
    key = cache_key(data, specs, opts)
    path = cache_dir() / key[:2] / f"{key}.wasmu"
    if use_cache and path.is_file() and _sound(path):
        return path
    out = build(data, specs, opts, source_name)
    try:
        if path.is_symlink() or os.path.lexists(path) and not path.is_file():
            raise FileError(f"{path} is not a regular file")  # never written through
        path.parent.mkdir(parents=True, exist_ok=True)
        container.write_atomic(path, out)
    except (OSError, FileError):
        path = _private_dir() / f"{key}.wasmu"
        container.write_atomic(path, out)
    return path
