"""The shim's WASI preview1 implementation (runtime-shim/src/wasi/), tested in C.

* ``test_wasi_unit``: builds runtime-shim/tests/wasi_unit.c with the WASI
  sources only (the rest of the shim is not needed) and runs it twice: with
  the openat2 resolver and with the component walker
  (``WASMC_WASI_NO_OPENAT2=1``).  The program prints one ``FAIL`` line per
  failed check and exits non-zero.

The conformance suite runs end to end through the CLI in
tests/wasi/test_wasi_testsuite.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, require_tool

SHIM = REPO / "runtime-shim"
SOURCES = sorted((SHIM / "src" / "wasi").glob("*.c"))
CFLAGS = ["-std=c99", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
          f"-I{SHIM / 'include'}"]

def _cc(args: list[str]) -> None:
    cc = require_tool("cc")  # skipped without a C compiler, failed under CI=true
    proc = subprocess.run([cc, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"cc failed:\n{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="module")
def unit_binary(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wasi_unit") / "wasi_unit"
    _cc([*CFLAGS, *map(str, SOURCES), str(SHIM / "tests" / "wasi_unit.c"), "-lpthread", "-o", str(out)])
    return out


@pytest.mark.parametrize("mode", ["openat2", "walker"])
def test_wasi_unit(unit_binary: Path, mode: str, tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("WASMC_WASI_NO_OPENAT2", None)
    if mode == "walker":
        env["WASMC_WASI_NO_OPENAT2"] = "1"
    proc = subprocess.run([str(unit_binary)], capture_output=True, text=True, env=env, timeout=60)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "FAIL" not in report, report
    if mode == "walker":
        assert "resolver: component walker" in report, report
