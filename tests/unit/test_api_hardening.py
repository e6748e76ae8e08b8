"""Hardening of the Python API: no sequence of API calls crashes the host.

Each test here is a regression test of a defect found on main (issue 12):
memory views that outlived their memory, host functions keyed by a reused
store id, interfaces taken from unchecked JSON, numbers silently wrapped.
Tests of what used to crash the process run it in a subprocess, so that a
crash is a failure rather than the end of the run.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

import wasmc
from apimodules import (artifact, import_module, lib_module, mem_module, rare_call_module, rewrite_metadata,
                        run_python)
from wasmc import abi, container
from wasmc.runtime import shim


@pytest.fixture(scope="module")
def lib_path():
    return artifact(lib_module())


@pytest.fixture(scope="module")
def lib(lib_path):
    return wasmc.Module.load(lib_path)


def _host(value=5):
    return wasmc.Func(wasmc.FuncType([], ["i32"]), lambda: value)


@pytest.fixture
def inst(lib):
    return wasmc.Instance(lib, {"env": {"h": _host()}})


# --- lifetimes ----------------------------------------------------------------

def test_a_memory_view_outlives_its_instance():
    """A view used to point into a memory its store had freed: SIGSEGV."""
    code = f"""
import gc, wasmc
m = wasmc.Module.load({str(artifact(mem_module()))!r})
inst = wasmc.Instance(m, {{}})
view = inst.exports["memory"].data
del inst; gc.collect()
for _ in range(20):  # reuse the freed reservation, as a busy host would
    x = wasmc.Instance(m, {{}}); x.exports["memory"].data[0:4] = b"zzzz"; del x; gc.collect()
assert bytes(view[0:4]) == b"\\0\\0\\0\\0", bytes(view[0:4])
view[0:4] = b"abcd"
print("ok")
"""
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr)


def test_views_of_a_grown_memory_and_of_a_host_memory():
    code = f"""
import gc, wasmc
inst = wasmc.Instance(wasmc.Module.load({str(artifact(mem_module()))!r}), {{}})
mem = inst.exports["memory"]
old = mem.data
assert mem.grow(2) == 1 and len(old) == 65536 and len(mem.data) == 3 * 65536
old[65535] = 7  # memories never move: a view of the old size stays valid
assert mem.data[65535] == 7
del inst, mem; gc.collect()
old[0] = 1
host = wasmc.Memory(1, 2)
hv = host.data
del host; gc.collect()
hv[100] = 9
assert hv[100] == 9
print("ok")
"""
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr)


def test_a_host_function_reused_across_stores():
    """Func kept its per-store records by id(store): a new store with a freed
    store's id got the old record (a LinkError, or a SIGSEGV)."""
    code = f"""
import gc, wasmc
f = wasmc.Func(wasmc.FuncType([], ["i32"]), lambda: 7)
m = wasmc.Module.load({str(artifact(import_module()))!r})
for i in range(100):
    inst = wasmc.Instance(m, {{"env": {{"h": f}}}})
    assert inst.exports["f"]() == 7
    del inst
    gc.collect()
print("ok")
"""
    r = run_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr)


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


# --- values ---------------------------------------------------------------------

def test_integers_are_checked_not_wrapped(inst):
    add, add64 = inst.exports["add"], inst.exports["add64"]
    with pytest.raises(ValueError, match="out of range for i32"):
        add(2**100, 1)  # used to return 1
    with pytest.raises(ValueError):
        add(2**32, 0)
    with pytest.raises(ValueError):
        add(-2**31 - 1, 0)
    assert add(2**32 - 1, 0) == -1  # the unsigned spelling of -1
    assert add(-2**31, 0) == -2**31
    with pytest.raises(ValueError, match="i64"):
        add64(2**64, 0)
    with pytest.raises(ValueError):
        add64(-2**63 - 1, 0)
    assert add64(2**64 - 1, 0) == -1 and add64(-2**63, 0) == -2**63


def test_types_are_checked(inst):
    add, fmul = inst.exports["add"], inst.exports["fmul"]
    for bad in (3.0, "1", None, True):
        with pytest.raises(TypeError):
            add(bad, 1)
    assert fmul(3, 0.5) == 1.5  # ints are fine for floats
    with pytest.raises(TypeError):
        fmul(False, 1.0)
    with pytest.raises(ValueError):
        fmul(10**400, 1.0)  # an int beyond f64's range
    with pytest.raises(TypeError):
        inst.exports["counter"].value = 1.5
    with pytest.raises(TypeError):
        inst.exports["table"].set(0, 3)


def test_a_bad_host_result_is_raised_by_the_guest_call(lib):
    for result, error in ((3.9, TypeError), (2**40, ValueError), ("7", TypeError), (True, TypeError)):
        inst = wasmc.Instance(lib, {"env": {"h": _host(result)}})
        with pytest.raises(error):
            inst.exports["callh"]()  # used to return 3 for 3.9
    assert wasmc.Instance(lib, {"env": {"h": _host(2**32 - 1)}}).exports["callh"]() == -1


def test_limits_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"memory minimum \(10 pages\) is larger than its maximum \(5 pages\)"):
        wasmc.Memory(10, 5)
    with pytest.raises(ValueError, match="table minimum"):
        wasmc.Table("funcref", 3, 1)
    with pytest.raises(ValueError):
        wasmc.Memory(-1)
    with pytest.raises(ValueError, match="larger than a memory can be"):
        wasmc.Memory(1, 70000)
    with pytest.raises(TypeError):
        wasmc.Memory(1.0)
    m = wasmc.Memory(1, 2)
    with pytest.raises(ValueError):
        m.grow(-1)
    with pytest.raises(IndexError):
        m.read(65535, 2)
    with pytest.raises(ValueError):
        m.read(-1, 1)
    t = wasmc.Table("externref", 1)
    with pytest.raises(IndexError):
        t.get(-1)
    with pytest.raises(IndexError):
        t.set(2**70, None)


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


# --- the interface comes from the checked descriptor ----------------------------------

def test_interface_from_the_descriptor(lib):
    assert lib.imports == [{"kind": "func", "name": "h", "module": "env",
                            "type": {"params": [], "results": ["i32"]}}]
    ex = {e["name"]: e for e in lib.exports}
    assert ex["memory"]["type"] == {"min": 1, "max": 4, "index_type": "i32"}
    assert ex["table"]["type"] == {"min": 2, "max": 10, "index_type": "i32", "element": "funcref"}
    assert ex["counter"]["type"] == {"type": "i32", "mutable": True}
    assert ex["fmul"]["type"] == {"params": ["f64", "f64"], "results": ["f64"]}
    # and it says what the metadata says
    art = container.load(lib.path)
    assert [e["name"] for e in art.exports] == [e["name"] for e in lib.exports]


METADATA_LIES = {
    "export removed": lambda m: m["exports"].pop(0),
    "exports: [1]": lambda m: m.__setitem__("exports", [1]),
    "export renamed": lambda m: m["exports"][0].__setitem__("name", "other"),
    "export kind": lambda m: m["exports"][0].__setitem__("kind", "memory"),
    "export index": lambda m: m["exports"][0].__setitem__("index", 3),
    "export params": lambda m: m["exports"][0]["type"].__setitem__("params", ["i64", "i32"]),
    "export duplicated": lambda m: m["exports"].append(m["exports"][0]),
    "import removed": lambda m: m["imports"].clear(),
    "import module": lambda m: m["imports"][0].__setitem__("module", "wasi_snapshot_preview1"),
    "import results": lambda m: m["imports"][0]["type"].__setitem__("results", []),
    "memory max": lambda m: next(e for e in m["exports"] if e["kind"] == "memory")["type"].__setitem__("max", 9),
    "global mutable as 1": lambda m: next(e for e in m["exports"] if e["kind"] == "global")["type"].__setitem__(
        "mutable", 1),
}


@pytest.mark.parametrize("lie", sorted(METADATA_LIES))
def test_metadata_that_disagrees_with_the_image_is_refused(lib_path, lie):
    data = rewrite_metadata(Path(lib_path).read_bytes(), METADATA_LIES[lie])
    with pytest.raises(wasmc.ArtifactError, match="disagrees with the image|metadata lists|malformed import or export"):
        wasmc.Module.from_artifact_bytes(data)


def test_exec_of_an_artifact_whose_metadata_lies(tmp_path):
    """With "memory" missing from the JSON exports, `wasmc exec --invoke nop`
    called the memory as a function: SIGSEGV.  Now: exit 7, one line."""
    bad = tmp_path / "bad.wasmu"
    bad.write_bytes(rewrite_metadata(Path(artifact(mem_module())).read_bytes(), METADATA_LIES["export removed"]))
    r = run_python(f"import sys; from wasmc.cli import main; sys.argv = ['wasmc', 'exec', {str(bad)!r}, "
                   "'--invoke', 'nop']; main()")
    assert r.returncode == 7, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmc: bad artifact:") and "Traceback" not in r.stderr


def test_the_embedded_wasm_is_verified_where_it_is_used(lib_path):
    """repack (slices add/remove/extract) copied the embedded .wasm without
    checking it, and wrote a fresh SHA-256 for the damaged bytes."""
    art = container.parse(Path(lib_path).read_bytes())
    data = bytearray(Path(lib_path).read_bytes())
    data[art.metadata["source"]["offset"] + 9] ^= 0x40
    bad = container.parse(bytes(data))
    with pytest.raises(wasmc.ArtifactError, match="embedded .wasm checksum"):
        container.repack(bad, [container.with_data(bad, s) for s in bad.slices])
    wasmc.Module.from_artifact_bytes(bytes(data))  # running does not use it


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
