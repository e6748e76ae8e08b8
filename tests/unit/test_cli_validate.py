"""``wasmc validate FILE``: exit codes and one-line errors, and the real-world corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED, shared_dir

from wasmc.cli import main

REPO = Path(__file__).resolve().parents[2]

HEADER = b"\0asm\x01\0\0\0"
# (type (func (result i32))) (func (type 0) i32.const 7)
VALID = HEADER + b"\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x0a\x06\x01\x04\x00\x41\x07\x0b"
# same, but the function returns an i64 constant: decodes, does not validate
INVALID = HEADER + b"\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00\x0a\x06\x01\x04\x00\x42\x07\x0b"
# a section with an unknown id
MALFORMED = HEADER + b"\x0e\x00"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmc", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("content, code, label", [
    (VALID, 0, None),
    (MALFORMED, 3, "wasmc: malformed module: "),
    (INVALID, 4, "wasmc: invalid module: "),
    (HEADER[:5], 3, "wasmc: malformed module: "),
    (b"", 3, "wasmc: malformed module: "),
])
def test_exit_codes(tmp_path, content, code, label):
    path = tmp_path / "m.wasm"
    path.write_bytes(content)
    proc = run_cli("validate", str(path))
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    if label is None:
        assert proc.stderr == ""
    else:
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(label), proc.stderr
        assert "Traceback" not in proc.stderr


def test_invalid_message_names_the_problem(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(INVALID)
    proc = run_cli("validate", str(path))
    assert "type mismatch" in proc.stderr
    assert "in function 0" in proc.stderr


def test_missing_file(tmp_path):
    proc = run_cli("validate", str(tmp_path / "does-not-exist.wasm"))
    assert proc.returncode == 9
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmc: I/O error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_names_with_control_characters_stay_on_one_line(tmp_path):
    # two exports named "a\nb": the duplicate-name error must not split the line
    nm = b"\x03a\nb"
    exports = b"\x07\x0d\x02" + nm + b"\x00\x00" + nm + b"\x00\x00"
    data = HEADER + b"\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00" + exports + b"\x0a\x04\x01\x02\x00\x0b"
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 4
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "duplicate export name" in proc.stderr


def _corpus() -> list:
    files = []
    for sub in ("sightglass", "wasi-testsuite"):
        root = SHARED / sub
        if root.is_dir():
            files += sorted(root.rglob("*.wasm"))
    if not files:
        return [pytest.param(None, id="shared-missing")]
    return [pytest.param(p, id=p.relative_to(SHARED).as_posix()) for p in files]


@pytest.mark.parametrize("path", _corpus())
def test_corpus_validates(path, capsys):
    shared_dir("sightglass")
    shared_dir("wasi-testsuite")
    assert path is not None
    with pytest.raises(SystemExit) as info:
        main(["validate", str(path)])
    captured = capsys.readouterr()
    assert info.value.code == 0, captured.err
    assert captured.err == ""
