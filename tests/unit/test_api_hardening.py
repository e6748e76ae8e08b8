"""Hardening of the Python API: no sequence of API calls crashes the host.

Each test here is a regression test of a defect found on main (issue 12).
Tests of what used to crash the process run it in a subprocess, so that a
crash is a failure rather than the end of the run.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

from apimodules import artifact, lib_module, rare_call_module, run_python
from wasmc import abi
from wasmc.runtime import shim


def test_a_host_function_in_a_table_is_callable_by_guest_code():
    """A host function put into a table by the host had no code pointer for
    guest code: call_indirect jumped to address 0 (SIGSEGV; found by
    test_api_stateful.py).  Now it goes through a host adapter of its type
    from a loaded module, or traps if no module has one."""
    code = f"""
import wasmc
from apimodules import RARE_PARAMS, RARE_RESULTS
lib = wasmc.Instance(wasmc.Module.load({str(artifact(lib_module()))!r}),
                     {{"env": {{"h": wasmc.Func(wasmc.FuncType([], ["i32"]), lambda: 5)}}}})
lib.exports["table"].set(0, wasmc.Func(wasmc.FuncType([], ["i32"]), lambda: 9))
assert lib.exports["call_t"](0) == 9
rare = wasmc.Instance(wasmc.Module.load({str(artifact(rare_call_module()))!r}))
rare.exports["t"].set(0, wasmc.Func(wasmc.FuncType(RARE_PARAMS, RARE_RESULTS), lambda a, b, c: 1.0))
try:
    rare.exports["call"](1.0, 2, 3.0)
except wasmc.Trap as e:
    assert e.kind == "host function failed", e.kind
else:
    raise AssertionError("no adapter, yet the call returned")
print("ok")
"""
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr)


# --- the ABI mirrors ----------------------------------------------------------------

@pytest.mark.parametrize("s", abi.RUNTIME_STRUCTS + abi.HOST_STRUCTS + (abi.IMAGE_HEADER,), ids=lambda s: s.name)
def test_ctypes_mirrors_have_the_abi_offsets(s):
    mirror = shim._M[s.name]
    assert ctypes.sizeof(mirror) == s.size
    assert [f[0] for f in mirror._fields_] == s.field_names()
    for f, off in s.layout():
        assert getattr(mirror, f.name).offset == off, f"{s.name}.{f.name}"


def test_shim_py_writes_no_struct_by_hand():
    text = Path(shim.__file__).read_text()
    assert "_fields_ = [" not in text


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
