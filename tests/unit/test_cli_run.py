"""The build/exec/run/inspect/spec-test commands as a user runs them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus" / "wat"
WASMC = [sys.executable, "-m", "wasmc"]


def wasmc(*args, cwd=None):
    env = dict(os.environ)
    env.pop("WASMC_DEBUG", None)
    return subprocess.run([*WASMC, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert lines[0].startswith("wasmc: ")
    return lines[0]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    d = tmp_path_factory.mktemp("art")
    out = d / "traps.wasmu"
    r = wasmc("build", CORPUS / "traps.wasm", "-o", out, "-O", "1")
    assert r.returncode == 0, r.stderr
    return out


def test_build_exec_invoke(artifact):
    r = wasmc("exec", artifact, "--invoke", "add", "40", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


def test_build_is_reproducible(artifact, tmp_path):
    again = tmp_path / "again.wasmu"
    assert wasmc("build", CORPUS / "traps.wasm", "-o", again, "-O", "1").returncode == 0
    assert again.read_bytes() == artifact.read_bytes()


def test_run_compiles_through_the_cache():
    r = wasmc("run", CORPUS / "traps.wasm", "--invoke", "add", "1", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def test_inspect(artifact):
    r = wasmc("inspect", artifact)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "x86_64" in out and "sha256" in out
    assert "add  func (i32, i32) -> (i32)" in out
    assert "memory  memory i32 min 1 max 2" in out
    src = hashlib.sha256((CORPUS / "traps.wasm").read_bytes()).hexdigest()
    assert src in out


def test_trap_exit_code_and_one_line(artifact):
    line = one_line_error(wasmc("exec", artifact, "--invoke", "runaway", "0"), 134)
    assert "call stack exhausted" in line and "runaway" in line
    line = one_line_error(wasmc("exec", artifact, "--invoke", "load", "70000"), 134)
    assert "out of bounds memory access" in line


def test_errors_are_one_line(tmp_path, artifact):
    one_line_error(wasmc("exec", tmp_path / "missing.wasmu"), 9)
    one_line_error(wasmc("build", tmp_path / "missing.wasm"), 9)
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x01\x05")
    one_line_error(wasmc("build", bad, "-o", tmp_path / "bad.wasmu"), 3)
    assert not (tmp_path / "bad.wasmu").exists()  # no half-written output
    trunc = tmp_path / "trunc.wasmu"
    trunc.write_bytes(artifact.read_bytes()[:1000])
    one_line_error(wasmc("exec", trunc, "--invoke", "add", "1", "2"), 7)
    one_line_error(wasmc("exec", artifact, "--invoke", "nope"), 1)
    one_line_error(wasmc("exec", artifact), 1)  # no _start, no --invoke


def _repack(data: bytes, **changes) -> bytes:
    """The same artifact with its slices' metadata changed (a well-formed, different artifact)."""
    from wasmc import container

    art = container.parse(data)
    slices = []
    for s in art.slices:
        f = {k: changes.get(k, getattr(s, k)) for k in ("arch", "tier", "cpu", "features", "abi_version")}
        slices.append(container.Slice(**f, data=container.slice_bytes(art, s)))
    meta = {k: v for k, v in art.metadata.items() if k != "slices"}
    return container.pack(meta, slices, art.wasm)


def test_wrong_cpu_slice(tmp_path, artifact):
    p = tmp_path / "riscv.wasmu"
    p.write_bytes(_repack(artifact.read_bytes(), arch="riscv64", tier="rv64gc"))
    line = one_line_error(wasmc("exec", p, "--invoke", "add", "1", "2"), 8)
    assert "no slice for x86_64" in line


def test_wrong_abi_version(tmp_path, artifact):
    p = tmp_path / "old.wasmu"
    p.write_bytes(_repack(artifact.read_bytes(), abi_version=1))
    line = one_line_error(wasmc("exec", p, "--invoke", "add", "1", "2"), 7)
    assert "rebuild" in line


def test_spec_test_command_reports_failures(tmp_path):
    """A deliberately wrong expectation is reported as failed, with a non-zero exit."""
    shutil.copy(CORPUS / "traps.wasm", tmp_path / "m.0.wasm")
    script = {"source_filename": "t.wast", "commands": [
        {"type": "module", "line": 1, "filename": "m.0.wasm", "module_type": "binary", "features": []},
        {"type": "assert_return", "line": 2, "action": {"type": "invoke", "field": "add", "args": [
            {"type": "i32", "value": "2"}, {"type": "i32", "value": "2"}]}, "expected": [{"type": "i32", "value": "4"}]},
        {"type": "assert_return", "line": 3, "action": {"type": "invoke", "field": "add", "args": [
            {"type": "i32", "value": "2"}, {"type": "i32", "value": "2"}]}, "expected": [{"type": "i32", "value": "5"}]},
        {"type": "assert_trap", "line": 4, "action": {"type": "invoke", "field": "add", "args": [
            {"type": "i32", "value": "1"}, {"type": "i32", "value": "1"}]}, "text": "unreachable"},
        {"type": "assert_trap", "line": 5, "action": {"type": "invoke", "field": "unreachable", "args": []},
         "text": "unreachable"},
    ]}
    (tmp_path / "t.json").write_text(json.dumps(script))
    r = wasmc("spec-test", tmp_path / "t.json")
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "3 passed, 2 failed, 0 skipped"
    assert any("t.json:3:" in x and "expected i32 0x5, got 0x4" in x for x in lines)
    assert any("t.json:4:" in x and "expected a trap" in x for x in lines)


def test_unsupported_feature_is_a_clean_build_error(tmp_path):
    """Valid Wasm 3.0 that is not lowered yet (here: a GC struct type) fails
    at build time with exit code 5 and names the feature; no output is written."""
    sys.path.insert(0, str(REPO / "tests"))
    from wasmbuild import I32, Mod, struct_t

    m = Mod()
    m.type(struct_t((I32, True)))
    src = tmp_path / "gc.wasm"
    src.write_bytes(m.build())
    out = tmp_path / "gc.wasmu"
    line = one_line_error(wasmc("build", src, "-o", out), 5)
    assert "struct" in line and "gc" in line
    assert not out.exists()


def test_ctrl_c_stops_a_spinning_guest(tmp_path):
    """SIGINT ends `wasmc exec` even while guest code loops forever."""
    import signal
    import time

    sys.path.insert(0, str(REPO / "tests"))
    from wasmbuild import Mod, name, uleb, vec

    m = Mod()
    t = m.functype([], [])
    m.funcs.append(uleb(t))
    m.exports.append(name("spin") + b"\x00" + uleb(0))
    body = vec([]) + b"\x03\x40\x0c\x00\x0b" + b"\x0b"  # loop br 0 end
    m.codes.append(uleb(len(body)) + body)
    src = tmp_path / "spin.wasm"
    src.write_bytes(m.build())
    art = tmp_path / "spin.wasmu"
    assert wasmc("build", src, "-o", art).returncode == 0
    p = subprocess.Popen([*WASMC, "exec", str(art), "--invoke", "spin"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(3)
    assert p.poll() is None  # still spinning
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == -signal.SIGINT


def test_exec_of_a_plain_module_says_what_to_do():
    line = one_line_error(wasmc("exec", CORPUS / "traps.wasm"), 7)
    assert "a WebAssembly module, not a wasmc artifact" in line and "wasmc run" in line


def test_run_also_takes_an_artifact(artifact):
    r = wasmc("run", artifact, "--invoke", "add", "5", "6")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "11"


def test_timeout_interrupts_the_guest(artifact):
    r = wasmc("exec", artifact, "--invoke", "spin", "--timeout", "0.3")
    line = one_line_error(r, 134)
    assert "interrupted after the --timeout of 0.3 s" in line and "spin" in line
    r = wasmc("exec", artifact, "--invoke", "add", "1", "2", "--timeout", "30")
    assert r.returncode == 0 and r.stdout.strip() == "3"
