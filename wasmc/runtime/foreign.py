"""Running a slice of another architecture: ``wasmc exec --target ARCH``.

The slice runs in that architecture's standalone runner (runners.py) under
qemu-user, so a CI machine can check every slice of one artifact.  wasmc
chooses the slice (architecture, then the best tier the emulated CPU offers:
the runner reports its AT_HWCAP), checks its hash, and then replaces itself
with ``qemu-ARCH runner-ARCH --image FILE:OFFSET:SIZE ...``: the runner
maps the slice straight from the artifact, and its output, exit status and
signals are the process's own.  The runner prints errors and traps exactly
as ``wasmc exec`` does.

Run path: no compiler, no llvmlite (a ``.wasm`` preload is compiled by the
caller before this module is used).
"""

from __future__ import annotations

import functools
import os
import subprocess

from .. import container
from ..errors import WasmcError
from . import runners
from .select import choose_slice


@functools.cache
def emulated_hwcap(arch: str) -> int:
    """AT_HWCAP of the CPU the runner for ARCH sees (qemu-user's default CPU)."""
    cmd = [*runners.qemu_for(arch), str(runners.ensure_runner(arch)), "--hwcap"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    try:
        return int(r.stdout.strip(), 16)
    except ValueError:
        raise WasmcError(f"cannot ask the {arch} runner for its CPU features: {r.stderr.strip()}") from None


def image_place(path: str, arch: str, tier: str | None = None) -> str:
    """``FILE:OFFSET:SIZE`` of the slice of artifact PATH for ARCH (checked)."""
    art = container.load(path)
    s = choose_slice(art, arch, tier, hwcap=emulated_hwcap(arch))
    container.slice_bytes(art, s)  # verifies its SHA-256 before any code runs
    return f"{os.path.abspath(path)}:{s.offset}:{s.size}"


def exec_slice(path: str, arch: str, tier: str | None, argv0: str, options: list, args: list,
               preloads: list = ()) -> None:
    """Replace this process with the ARCH runner running artifact PATH.

    OPTIONS are runner options (``--dir``, ``--env``, ``--invoke``...);
    PRELOADS (name, artifact path) pairs; ARGS go to the guest."""
    cmd = [*runners.qemu_for(arch), str(runners.ensure_runner(arch)), "--image", image_place(path, arch, tier),
           "--argv0", argv0]
    for name, p in preloads:
        cmd += ["--preload", f"{name}={image_place(p, arch)}"]
    cmd += [*options, "--", *args]
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
