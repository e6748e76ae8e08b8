"""The sightglass programs (shared/sightglass) run through the CLI, with their
expected output.

Each program runs as its README says: in its own directory, with that
directory preopened as ``.``, ``bench`` supplied by ``--preload
bench=../bench.wasm``, no arguments, an empty environment and empty stdin:

    cd <name> && wasmc run -O2 <stem>.wasm --dir .::. --preload bench=../bench.wasm

stdout/stderr are compared line by line with ``<stem>.<stream>.expected``
(or ``default.<stream>.expected``, or the recorded ``.reference`` files);
exit status 0 is required.  ``hashset`` prints its own timing, so only its
exit status is checked.  Programs that use a Wasm feature wasmc does not
compile yet must fail cleanly with the "unsupported feature" exit code;
they are listed in UNSUPPORTED with the feature.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED, shared_dir

ROOT = SHARED / "sightglass"
UNCHECKED_OUTPUT = {"hashset": "prints its own elapsed time"}
#: program -> reason it cannot run yet (must exit with code 5, unsupported feature)
UNSUPPORTED: dict[str, str] = {}


def _programs() -> list[str]:
    if not ROOT.exists():
        return ["<shared/sightglass missing>"]
    return sorted(p.name for p in ROOT.iterdir() if p.is_dir() and len(list(p.glob("*.wasm"))) == 1)


def _expected(d: Path, stem: str, stream: str) -> str | None:
    for name in (f"{stem}.{stream}.expected", f"default.{stream}.expected", f"{stem}.{stream}.reference",
                 f"default.{stream}.reference"):
        if (d / name).exists():
            return (d / name).read_text()
    return None


#: The programs that also run on aarch64 and riscv64 (under qemu-user, about
#: 6x slower than native): the SIMD ones, and a spread of integer, floating
#: point, memory-bound and crypto code.
FOREIGN_SAMPLE = ("blake3-simd", "hex-simd", "intgemm-simd", "bz2", "quicksort", "richards", "shootout-ed25519",
                  "shootout-keccak", "shootout-sieve", "shootout-minicsv", "libsodium-chacha20", "shootout-switch")


def run_program(name: str, opt: int = 2, timeout: int = 900, arch: str | None = None) -> subprocess.CompletedProcess:
    d = ROOT / name
    wasm = next(d.glob("*.wasm"))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "WASMC_CACHE_DIR", "XDG_CACHE_HOME")}
    target = ["--target", arch] if arch else []
    return subprocess.run([sys.executable, "-m", "wasmc", "run", f"-O{opt}", wasm.name, *target, "--dir", ".::.",
                           "--preload", "bench=../bench.wasm"], cwd=d, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


# Compiling and running one program takes up to about 110 s (ed25519 under
# qemu-riscv64, two workers); run_program allows 900 s, and so does the test.
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", _programs())
def test_sightglass(name: str):
    shared_dir("sightglass")
    _check(name, run_program(name))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("arch", ["aarch64", "riscv64"])
@pytest.mark.parametrize("name", FOREIGN_SAMPLE)
def test_sightglass_foreign(name: str, arch: str):
    shared_dir("sightglass")
    _check(name, run_program(name, arch=arch))


def _check(name: str, r: subprocess.CompletedProcess):
    if name in UNSUPPORTED:
        assert r.returncode == 5 and "unsupported feature" in r.stderr, (r.returncode, r.stderr)
        return
    assert r.returncode == 0, f"exit {r.returncode}\nstderr: {r.stderr[-3000:]}"
    if name in UNCHECKED_OUTPUT:
        return
    d = ROOT / name
    stem = next(d.glob("*.wasm")).stem
    for stream, got in (("stdout", r.stdout), ("stderr", r.stderr)):
        want = _expected(d, stem, stream)
        if want is not None:
            assert got.splitlines() == want.splitlines(), f"{stream} differs:\n{got[-3000:]}"
