"""Small modules for the Python API's hardening tests (built with wasmbuild,
so no text-format tool is needed), and a helper that runs code in a fresh
interpreter, so that a crash of the host process is a test failure instead
of the end of the test run."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys

from wasmbuild import FUNCREF, I32, I64, Mod, i32c, i64c, lget, limits, name, uleb, vec

END = b"\x0b"


def _code(m: Mod, type_idx: int, body: bytes) -> None:
    m.funcs.append(uleb(type_idx))
    code = vec([]) + body + END
    m.codes.append(uleb(len(code)) + code)


def _export(m: Mod, export_name: str, kind: int, index: int) -> None:
    m.exports.append(name(export_name) + bytes([kind]) + uleb(index))


def mem_module() -> bytes:
    """(module (memory (export "memory") 1) (func (export "nop")))"""
    m = Mod()
    t = m.functype([], [])
    m.mems.append(limits(1))
    _code(m, t, b"")
    _export(m, "memory", 2, 0)
    _export(m, "nop", 0, 0)
    return m.build()


def import_module() -> bytes:
    """(module (import "env" "h" (func (result i32))) (func (export "f") (result i32) (call 0)))"""
    m = Mod()
    t = m.functype([], [I32])
    m.imports.append(name("env") + name("h") + b"\x00" + uleb(t))
    _code(m, t, b"\x10" + uleb(0))
    _export(m, "f", 0, 1)
    return m.build()


#: The exports of lib_module() that are functions, with their parameter types.
LIB_FUNCS = {"add": ("i32", "i32"), "callh": (), "load": ("i32",), "store": ("i32", "i32"),
             "div": ("i32", "i32"), "grow": ("i32",), "call_t": ("i32",), "bump": (), "seven": (),
             "unreachable": (), "add64": ("i64", "i64"), "fmul": ("f64", "f64")}


def lib_module() -> bytes:
    """One of everything: imports env.h () -> i32; exports functions (some
    trap), a memory (1..4 pages, "hello" at 16), a funcref table (2..10, with
    seven and callh), a mutable i32 global and an immutable i64 global."""
    m = Mod()
    t_ii_i = m.functype([I32, I32], [I32])
    t_v_i = m.functype([], [I32])
    t_i_i = m.functype([I32], [I32])
    t_ii_v = m.functype([I32, I32], [])
    t_v_v = m.functype([], [])
    t_ll_l = m.functype([I64, I64], [I64])
    t_dd_d = m.functype([b"\x7c", b"\x7c"], [b"\x7c"])
    m.imports.append(name("env") + name("h") + b"\x00" + uleb(t_v_i))
    m.tables.append(FUNCREF + limits(2, 10))
    m.mems.append(limits(1, 4))
    m.globals.append(I32 + b"\x01" + i32c(0) + END)
    m.globals.append(I64 + b"\x00" + i64c(42) + END)
    funcs = [  # (export name, type, body); function indices start at 1 (after the import)
        ("add", t_ii_i, lget(0) + lget(1) + b"\x6a"),
        ("callh", t_v_i, b"\x10" + uleb(0)),
        ("load", t_i_i, lget(0) + b"\x28" + uleb(2) + uleb(0)),
        ("store", t_ii_v, lget(0) + lget(1) + b"\x36" + uleb(2) + uleb(0)),
        ("div", t_ii_i, lget(0) + lget(1) + b"\x6d"),
        ("grow", t_i_i, lget(0) + b"\x40\x00"),
        ("call_t", t_i_i, lget(0) + b"\x11" + uleb(t_v_i) + uleb(0)),
        ("bump", t_v_i, b"\x23\x00" + i32c(1) + b"\x6a" + b"\x24\x00" + b"\x23\x00"),
        ("seven", t_v_i, i32c(7)),
        ("unreachable", t_v_v, b"\x00"),
        ("add64", t_ll_l, lget(0) + lget(1) + b"\x7c"),
        ("fmul", t_dd_d, lget(0) + lget(1) + b"\xa2"),
    ]
    for i, (export_name, t, body) in enumerate(funcs):
        _code(m, t, body)
        _export(m, export_name, 0, 1 + i)
    _export(m, "memory", 2, 0)
    _export(m, "table", 1, 0)
    _export(m, "counter", 3, 0)
    _export(m, "const64", 3, 1)
    seven, callh = 1 + [f[0] for f in funcs].index("seven"), 1 + [f[0] for f in funcs].index("callh")
    m.elems.append(uleb(0) + i32c(0) + END + vec([uleb(seven), uleb(callh)]))
    m.datas.append(uleb(0) + i32c(16) + END + vec([b"h", b"e", b"l", b"l", b"o"]))
    return m.build()


#: A signature no other test module imports (so no loaded module has a host adapter for it).
RARE_PARAMS, RARE_RESULTS = ["f32", "i64", "f32"], ["f64"]


def rare_call_module() -> bytes:
    """Exports a funcref table "t" (1 element) and call(a, b, c) =
    call_indirect t[0] with the type (f32, i64, f32) -> f64."""
    m = Mod()
    F32, F64 = b"\x7d", b"\x7c"
    t = m.functype([F32, I64, F32], [F64])
    m.tables.append(FUNCREF + limits(1))
    _code(m, t, lget(0) + lget(1) + lget(2) + i32c(0) + b"\x11" + uleb(t) + uleb(0))
    _export(m, "call", 0, 0)
    _export(m, "t", 1, 0)
    return m.build()


def user_module() -> bytes:
    """Imports lib_module()'s memory, table, counter and add; exports peek
    (a load from the imported memory), call_t, get_counter and add2."""
    m = Mod()
    t_ii_i = m.functype([I32, I32], [I32])
    t_i_i = m.functype([I32], [I32])
    t_v_i = m.functype([], [I32])
    m.imports.append(name("lib") + name("add") + b"\x00" + uleb(t_ii_i))
    m.imports.append(name("lib") + name("memory") + b"\x02" + limits(1))
    m.imports.append(name("lib") + name("table") + b"\x01" + FUNCREF + limits(2))
    m.imports.append(name("lib") + name("counter") + b"\x03" + I32 + b"\x01")
    _code(m, t_i_i, lget(0) + b"\x28" + uleb(2) + uleb(0))
    _code(m, t_i_i, lget(0) + b"\x11" + uleb(t_v_i) + uleb(0))
    _code(m, t_v_i, b"\x23\x00")
    _code(m, t_ii_i, lget(0) + lget(1) + b"\x10" + uleb(0))
    for i, export_name in enumerate(("peek", "call_t", "get_counter", "add2")):
        _export(m, export_name, 0, 1 + i)
    return m.build()


def artifact(wasm: bytes):
    """The path of WASM compiled for this machine (through the cache)."""
    from wasmc.compile.cache import compile_cached

    return compile_cached(wasm, opt_level=1)


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run CODE in a fresh interpreter (a SIGSEGV there is returncode -11)
    that can import this module."""
    env = dict(os.environ)
    env.pop("WASMC_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)),
                                                       env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def rewrite_metadata(data: bytes, change) -> bytes:
    """Artifact DATA with its metadata JSON changed by CHANGE(meta) and the
    metadata checksum recomputed; the slices and the .wasm stay where they
    were (so the slice entries can be changed too)."""
    from wasmc import container

    moff, msize = struct.unpack_from("<QQ", data, 16)
    meta = json.loads(data[moff:moff + msize])
    first = min(s["offset"] for s in meta["slices"])
    change(meta)
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    assert moff + len(blob) <= first, "the changed metadata does not fit before the first slice"
    head = container.HEADER.pack(container.MAGIC, container.FORMAT_VERSION, 0, moff, len(blob),
                                 hashlib.sha256(blob).digest())
    return head + blob + bytes(first - moff - len(blob)) + data[first:]


def rewrite_image(data: bytes, change) -> bytes:
    """Artifact DATA (one slice) with its image changed by CHANGE(bytearray)
    and repacked: every checksum is recomputed, so the change reaches the
    C loader's descriptor checks."""
    from wasmc import container

    art = container.parse(data)
    (s,) = art.slices
    img = bytearray(container.slice_bytes(art, s))
    change(img)
    sl = container.Slice(s.arch, s.tier, s.cpu, s.features, s.abi_version, data=bytes(img))
    meta = {k: v for k, v in art.metadata.items() if k != "slices"}
    return container.pack(meta, [sl], art.wasm)
