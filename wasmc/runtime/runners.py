"""The standalone runners: the shim, WASI and a small main, one static
executable per architecture (runtime-shim/exe/, docs/architecture.md §7).

They are built with ``zig cc`` from the PyPI ``ziglang`` package (a C cross
compiler for every target, with musl), so nothing but Python packages is
needed to build them, and the result needs no Python and no shared library
to run.  ``make install`` builds all of them (``python -m
wasmc.runtime.runners``); otherwise the first use builds the one it needs.

A runner is rebuilt when its inputs change: the file name carries a hash of
every C source and header, the compiler flags and the zig version, so a
stale runner is never used and several checkouts can share a directory.
Builds are atomic (temporary file + rename): concurrent first uses (test
workers) are safe.

Run path: this module imports neither the compiler nor llvmlite; zig runs
only when a runner is missing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import targets
from ..errors import WasmcError

ROOT = Path(__file__).resolve().parents[2]
# The runtime's C sources: in a checkout, runtime-shim/; in an installed
# wheel, the copy setup.py puts into the package.
_PACKAGED = Path(__file__).resolve().parent.parent / "_data" / "runtime-shim"
SHIM = _PACKAGED if _PACKAGED.is_dir() else ROOT / "runtime-shim"
OUT = Path(__file__).resolve().parent.parent / "_native"

# -O2 with frame pointers (traps record backtraces by walking them);
# -g0 keeps the executables small (an --exe copies one).
CFLAGS = ("-O2", "-g0", "-fno-omit-frame-pointer", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-D_GNU_SOURCE", "-static")


class RunnerError(WasmcError):
    """A runner cannot be found or built."""


def _sources() -> list[Path]:
    srcs = sorted(SHIM.glob("src/*.c")) + sorted(SHIM.glob("src/wasi/*.c")) + sorted(SHIM.glob("exe/*.c"))
    return srcs


def _inputs() -> list[Path]:
    return _sources() + sorted(SHIM.glob("include/*.h")) + sorted(SHIM.glob("src/**/*.h")) + \
        sorted(SHIM.glob("exe/*.h"))


@functools.cache
def _fingerprint() -> str:
    h = hashlib.sha256()
    for p in _inputs():
        h.update(p.relative_to(SHIM).as_posix().encode() + b"\0" + p.read_bytes())
    h.update(" ".join(CFLAGS).encode())
    try:
        import ziglang  # noqa: F401 - only its version matters here
        from importlib.metadata import version

        h.update(version("ziglang").encode())
    except Exception:  # noqa: BLE001 - no zig: a prebuilt runner may still match by sources
        pass
    return h.hexdigest()[:16]


def runner_path(arch: str) -> Path:
    """Where the runner for ARCH (a target name) lives once built."""
    return OUT / f"runner-{arch}-{_fingerprint()}"


def ensure_runner(arch: str, quiet: bool = True) -> Path:
    """The runner for ARCH, built first if it is missing."""
    path = runner_path(arch)
    if path.exists():
        return path
    build_runner(arch, quiet=quiet)
    return path


def build_runner(arch: str, quiet: bool = True) -> Path:
    t = targets.get(arch)
    path = runner_path(arch)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        import ziglang  # noqa: F401
    except ImportError:
        raise RunnerError(f"cannot build the {arch} runner: the Python package 'ziglang' is not installed "
                          "(it comes with wasmc's dependencies; run `make install`)") from None
    fd, tmp = tempfile.mkstemp(prefix=f".runner-{arch}.", dir=OUT)
    os.close(fd)
    cmd = [sys.executable, "-m", "ziglang", "cc", "-target", t.zig_target, *CFLAGS,
           f"-I{SHIM / 'include'}", f"-I{SHIM / 'src'}", *map(str, _sources()), "-o", tmp]
    env = dict(os.environ)
    # zig writes build products of its own (musl, compiler-rt) to a cache.
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(_zig_cache()))
    if not quiet:
        print(f"building the {arch} runner with zig cc (the first build of each architecture takes a minute)",
              file=sys.stderr)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        os.unlink(tmp)
        detail = " ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
        raise RunnerError(f"cannot build the {arch} runner: {detail}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    # Runners of older sources stay: another process may be running one
    # (`make clean` removes them all).
    return path


def _zig_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmc" / "zig"


def qemu_for(arch: str) -> list[str]:
    """The command prefix that runs ARCH's executables here: nothing for the
    host's own architecture, qemu-user otherwise."""
    host = targets.host()
    if host is not None and host.name == arch:
        return []
    t = targets.get(arch)
    if not t.qemu:
        raise RunnerError(f"{arch} executables cannot run on this {host.name if host else 'machine'} "
                          "(no qemu-user binary is named for it in targets/)")
    import shutil

    q = shutil.which(t.qemu)
    if q is None:
        from ..errors import NoSliceError

        raise NoSliceError(f"running {arch} code here needs {t.qemu} (Debian package qemu-user), "
                           "which is not installed; `make install` installs it")
    return [q]


def main(argv=None) -> int:
    """``python -m wasmc.runtime.runners [ARCH...]``: build runners (all by default)."""
    args = sys.argv[1:] if argv is None else argv
    arches = args or sorted(targets.all_targets())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(arches)) as ex:
        paths = list(ex.map(lambda a: ensure_runner(a, quiet=False), arches))
    for a, p in zip(arches, paths):
        print(f"{a}: {p}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except WasmcError as e:
        print(f"wasmc: error: {e}", file=sys.stderr)
        sys.exit(1)
