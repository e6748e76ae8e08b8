"""A tiny WebAssembly binary builder for tests (no text-format tool needed).

``Mod`` collects section entries and ``build()`` returns the module bytes;
the free functions encode LEB128 numbers, vectors, names, types and common
instructions.
"""

from __future__ import annotations

from wasmc.wasm.decode import decode_module
from wasmc.wasm.opcodes import uleb128
from wasmc.wasm.validate import validate_module

uleb = uleb128


def sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        done = (v == 0 and not b & 0x40) or (v == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def vec(items) -> bytes:
    items = list(items)
    return uleb(len(items)) + b"".join(items)


def name(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return uleb(len(raw)) + raw


def section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + uleb(len(payload)) + payload


I32, I64, F32, F64, V128 = b"\x7f", b"\x7e", b"\x7d", b"\x7c", b"\x7b"
I8, I16 = b"\x78", b"\x77"
FUNCREF, EXTERNREF, ANYREF, EQREF, EXNREF = b"\x70", b"\x6f", b"\x6e", b"\x6d", b"\x69"
HEAP = {"func": 0x70, "extern": 0x6F, "any": 0x6E, "eq": 0x6D, "i31": 0x6C, "struct": 0x6B,
        "array": 0x6A, "exn": 0x69, "none": 0x71, "noextern": 0x72, "nofunc": 0x73}


def heap(h) -> bytes:
    return sleb(h) if isinstance(h, int) else bytes([HEAP[h]])


def ref(h, null=True) -> bytes:
    return (b"\x63" if null else b"\x64") + heap(h)


def func_t(params=(), results=()) -> bytes:
    return b"\x60" + vec(params) + vec(results)


def struct_t(*fields) -> bytes:
    """fields: (storage bytes, mutable bool)"""
    return b"\x5f" + vec(st + (b"\x01" if mut else b"\x00") for st, mut in fields)


def array_t(storage, mutable=True) -> bytes:
    return b"\x5e" + storage + (b"\x01" if mutable else b"\x00")


def sub(comp, supers=(), final=False) -> bytes:
    return (b"\x4f" if final else b"\x50") + vec(uleb(s) for s in supers) + comp


def limits(mn, mx=None, is64=False) -> bytes:
    flags = (1 if mx is not None else 0) | (4 if is64 else 0)
    return bytes([flags]) + uleb(mn) + (uleb(mx) if mx is not None else b"")


END = b"\x0b"


def i32c(v):
    return b"\x41" + sleb(v)


def i64c(v):
    return b"\x42" + sleb(v)


def lget(i):
    return b"\x20" + uleb(i)


def lset(i):
    return b"\x21" + uleb(i)


def gc(code, *imms):
    return b"\xfb" + uleb(code) + b"".join(uleb(i) for i in imms)


class Mod:
    """Collects section entries; ``build()`` returns the binary module."""

    def __init__(self):
        self.types, self.imports, self.funcs, self.tables, self.mems = [], [], [], [], []
        self.tags, self.globals, self.exports, self.elems, self.datas = [], [], [], [], []
        self.codes = []
        self.start = None
        self.datacount = None
        self._ntypes = 0
        self._nimported_funcs = 0

    def type(self, entry: bytes, count: int = 1) -> int:
        """Add a type-section entry (a comptype, sub, or a rec of ``count`` types)."""
        self.types.append(entry)
        self._ntypes += count
        return self._ntypes - count

    def functype(self, params=(), results=()) -> int:
        return self.type(func_t(params, results))

    def rec(self, *subtypes) -> int:
        return self.type(b"\x4e" + vec(subtypes), len(subtypes))

    def import_func(self, type_idx, mod="m", field="f") -> int:
        assert not self.funcs, "imports first"
        self.imports.append(name(mod) + name(field) + b"\x00" + uleb(type_idx))
        self._nimported_funcs += 1
        return self._nimported_funcs - 1

    def import_(self, kind: int, desc: bytes, mod="m", field="x"):
        self.imports.append(name(mod) + name(field) + bytes([kind]) + desc)

    def func(self, type_idx, body: bytes, locals_=()) -> int:
        """``body`` excludes the final end; ``locals_`` is [(count, valtype bytes)]."""
        self.funcs.append(uleb(type_idx))
        code = vec(uleb(n) + t for n, t in locals_) + body + END
        self.codes.append(uleb(len(code)) + code)
        return self._nimported_funcs + len(self.funcs) - 1

    def build(self) -> bytes:
        def sec(sid, items):
            if not items:
                return b""
            payload = vec(items)
            return bytes([sid]) + uleb(len(payload)) + payload

        out = b"\0asm\x01\0\0\0"
        out += sec(1, self.types) + sec(2, self.imports) + sec(3, self.funcs)
        out += sec(4, self.tables) + sec(5, self.mems) + sec(13, self.tags)
        out += sec(6, self.globals) + sec(7, self.exports)
        if self.start is not None:
            p = uleb(self.start)
            out += b"\x08" + uleb(len(p)) + p
        out += sec(9, self.elems)
        if self.datacount is not None:
            p = uleb(self.datacount)
            out += b"\x0c" + uleb(len(p)) + p
        out += sec(10, self.codes) + sec(11, self.datas)
        return out

    def module(self):
        m = decode_module(self.build())
        validate_module(m)
        return m
