"""``wasmc spec-test`` on files that are not spec-test scripts (issue 12):
each is a failed script or command (exit 1, reported on stdout with the
summary line), never an internal error, a traceback or a hang.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import CORPUS, text, wasmc_cmd

TRAPS = CORPUS / "wat" / "traps.wasm"

BAD_SCRIPTS = {
    "object": {"a": 1},
    "list": [1, 2],
    "commands-not-a-list": {"commands": 5},
    "command-not-an-object": {"commands": [5]},
    "command-without-type": {"commands": [{"line": 3}]},
    "module-without-filename": {"commands": [{"type": "module", "line": 1}]},
    "missing-module-file": {"commands": [{"type": "module", "line": 1, "filename": "missing.wasm"}]},
    "module-file-is-a-directory": {"commands": [{"type": "module", "line": 1, "filename": "."}]},
    "action-without-field": {"commands": [{"type": "module", "filename": "m.wasm"},
                                          {"type": "assert_return", "line": 2, "action": {"type": "invoke"}}]},
    "argument-of-wrong-type": {"commands": [{"type": "module", "filename": "m.wasm"},
                                            {"type": "action", "line": 2, "action": {
                                                "type": "invoke", "field": "add",
                                                "args": [{"type": "i32", "value": [1]}, {"type": "i32"}]}}]},
    "unknown-trap-text": {"commands": [{"type": "module", "filename": "m.wasm"},
                                       {"type": "assert_trap", "line": 2, "text": "oops",
                                        "action": {"type": "invoke", "field": "unreachable", "args": []}}]},
    "register-without-as": {"commands": [{"type": "module", "filename": "m.wasm"}, {"type": "register"}]},
}


@pytest.mark.parametrize("case", sorted(BAD_SCRIPTS))
def test_spec_test_on_non_scripts_fails_cleanly(case, tmp_path):
    shutil.copy(TRAPS, tmp_path / "m.wasm")
    p = tmp_path / "t.json"
    p.write_text(json.dumps(BAD_SCRIPTS[case]))
    r = wasmc_cmd("spec-test", p, cwd=tmp_path)
    assert r.returncode == 1, (text(r.stdout), text(r.stderr))
    assert r.stderr == b"", text(r.stderr)  # failures are reported, not raised
    out = text(r.stdout).strip().split("\n")
    assert " failed, " in out[-1] and not out[-1].startswith("0 passed, 0 failed")
    assert any(("malformed command" in x or "not a spec-test script" in x or "cannot read" in x) for x in out[:-1])


@pytest.mark.parametrize("content", [b"\xff\xfe\x00", b"[" * 100000, b"", b"{\"commands\": [" * 5000])
def test_spec_test_on_garbage_fails_cleanly(content, tmp_path):
    p = tmp_path / "t.json"
    p.write_bytes(content)
    r = wasmc_cmd("spec-test", p)
    assert r.returncode == 1 and r.stderr == b"", text(r.stderr)
    assert text(r.stdout).strip().endswith("0 passed, 1 failed, 0 skipped")
