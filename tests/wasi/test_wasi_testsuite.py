"""The WASI preview1 conformance suite (shared/wasi-testsuite), run through the CLI.

Every test module runs as a user would run it -- ``wasmc run TEST.wasm --dir
D::D --env K=V -- ARGS`` -- following the suite's rules (its README): argv[0]
is the module's file name, the spec's ``env`` is the whole environment, each
``dirs`` entry is preopened under the same relative name (in a private copy
of the suite directory, since the tests create and delete files there),
stdin is an empty pipe kept open until the process has exited, ``*.cleanup``
entries are removed before and after, and a test passes when the exit code
and every given stdout/stderr prefix match.  Each test runs with both path
resolvers of the shim (openat2, and the component walker forced with
WASMC_WASI_NO_OPENAT2=1).  ORACLE.tsv (wasmtime's results) is the reference:
every test wasmtime passes must pass here.

On aarch64 and riscv64 the same runs go through ``wasmc run --target ARCH``
(the standalone runner under qemu-user), with the shim's default resolver:
qemu-user 7.2 has no openat2, so that is the component walker there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import SHARED, shared_dir

SUITE = SHARED / "wasi-testsuite"


def _tests() -> list[str]:
    if not SUITE.exists():
        return ["<shared/wasi-testsuite missing>"]
    return sorted(str(p.relative_to(SUITE)) for p in SUITE.glob("*/wasm32-wasip1/*.wasm"))


def _oracle() -> dict:
    out = {}
    p = SUITE / "ORACLE.tsv"
    if p.exists():
        for line in p.read_text().splitlines()[1:]:
            suite, test, result, code, *_ = line.split("\t")
            out[f"{suite}/{test}.wasm"] = (result, int(code))
    return out


def _cleanup(d: Path):
    for p in d.rglob("*.cleanup"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def run_test(rel: str, workdir: Path, resolver: str, arch: str | None = None) -> tuple[int, str, str, dict]:
    src = SUITE / rel
    spec = {}
    if src.with_suffix(".json").exists():
        spec = json.loads(src.with_suffix(".json").read_text())
    for d in spec.get("dirs", []):
        shutil.copytree(src.parent / d, workdir / d, symlinks=True)
        _cleanup(workdir / d)
    wasm = workdir / src.name
    shutil.copy(src, wasm)
    cmd = [sys.executable, "-m", "wasmc", "run", "-O0", wasm.name]
    if arch is not None:
        cmd += ["--target", arch]
    for d in spec.get("dirs", []):
        cmd += ["--dir", f"{d}::{d}"]
    for k, v in spec.get("env", {}).items():
        cmd += ["--env", f"{k}={v}"]
    cmd += ["--", *spec.get("args", [])]
    env = dict(os.environ)
    env.pop("WASMC_WASI_NO_OPENAT2", None)
    if resolver == "walker":
        env["WASMC_WASI_NO_OPENAT2"] = "1"
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = {}, {}
    readers = [threading.Thread(target=lambda: out.setdefault("b", proc.stdout.read())),
               threading.Thread(target=lambda: err.setdefault("b", proc.stderr.read()))]
    for t in readers:
        t.start()
    try:
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
        proc.stdin.close()  # stdin stays open until the process has exited
        for t in readers:
            t.join()
    for d in spec.get("dirs", []):
        _cleanup(workdir / d)
    return code, out.get("b", b"").decode("utf-8", "replace"), err.get("b", b"").decode("utf-8", "replace"), spec


#: (arch, resolver): this machine with both resolvers, the others under qemu-user
RUNS = [(None, "openat2"), (None, "walker"), ("aarch64", "default"), ("riscv64", "default")]


@pytest.mark.parametrize("arch,resolver", RUNS, ids=[f"{a or 'host'}-{r}" for a, r in RUNS])
@pytest.mark.parametrize("rel", _tests())
def test_wasi(rel: str, arch, resolver: str, tmp_path: Path):
    shared_dir("wasi-testsuite")
    oracle = _oracle().get(rel)
    code, out, err, spec = run_test(rel, tmp_path, resolver, arch)
    want = spec.get("exit_code", 0)
    assert code == want, f"exit code {code}, expected {want}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    if "stdout" in spec:
        assert out[:len(spec["stdout"])] == spec["stdout"]
    if "stderr" in spec:
        assert err[:len(spec["stderr"])] == spec["stderr"]
    if oracle is not None:
        assert oracle[0] == "pass" and oracle[1] == code
