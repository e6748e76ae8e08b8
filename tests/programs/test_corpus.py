"""The project's own C programs (corpus/c, built to wasm32-wasi), run through the CLI.

corpus/c/cases.json lists the runs: arguments, environment, directories to
create and preopen, files to place (a file outside every preopen lets the
escape program prove it cannot reach it), the exit status, and the expected
stdout in corpus/c/expected/<name>.stdout.  Set WASMC_BLESS=1 to rewrite the
expected files from a run (then read the diff before committing it).  Every
case runs on this machine and, through ``wasmc run --target ARCH``, on
aarch64 and riscv64 under qemu-user: the expected output is the same.  The
cases that preopen directories (the escape attempts among them) run on this
machine with each of the shim's path resolvers: openat2 and the component
walker (``WASMC_WASI_NO_OPENAT2=1``; under qemu-user, which has no openat2,
the walker is the default anyway).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "c"
CASES = json.loads((CORPUS / "cases.json").read_text())["cases"]


def run_case(case: dict, workdir: Path, arch: str | None = None,
             walker: bool = False) -> subprocess.CompletedProcess:
    for d in case.get("dirs", []):
        (workdir / d).mkdir(parents=True, exist_ok=True)
    for rel, text in case.get("files", {}).items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text)
    cmd = [sys.executable, "-m", "wasmc", "run", str(CORPUS / case["wasm"])]
    if arch is not None:
        cmd += ["--target", arch]
    for d in case.get("dirs", []):
        cmd += ["--dir", f"{d}::{d}"]
    for k, v in case.get("env", {}).items():
        cmd += ["--env", f"{k}={v}"]
    cmd += ["--", *case.get("args", [])]
    env = {k: v for k, v in os.environ.items() if k != "WASMC_WASI_NO_OPENAT2"}
    if walker:
        env["WASMC_WASI_NO_OPENAT2"] = "1"
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env=env)


RUNS = [("host", None, False), ("host-walker", None, True), ("aarch64", "aarch64", False),
        ("riscv64", "riscv64", False)]
#: every case on every run; the walker run only where a directory is preopened
PARAMS = [pytest.param(case, arch, walker, id=f"{run}-{case['name']}") for run, arch, walker in RUNS
          for case in CASES if not walker or case.get("dirs")]


@pytest.mark.parametrize("case,arch,walker", PARAMS)
def test_corpus_program(case: dict, arch, walker, tmp_path: Path):
    r = run_case(case, tmp_path, arch, walker)
    expected = CORPUS / "expected" / f"{case['name']}.stdout"
    if os.environ.get("WASMC_BLESS"):
        expected.parent.mkdir(exist_ok=True)
        expected.write_text(r.stdout)
    assert r.returncode == case["exit_code"], f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert r.stdout == expected.read_text()
    if "stderr_contains" in case:
        assert case["stderr_contains"] in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    else:
        assert r.stderr == ""
    for rel in case.get("files", {}):
        assert (tmp_path / rel).exists()  # nothing outside was removed
    assert not (tmp_path / "moved").exists() and not (tmp_path / "made").exists()
