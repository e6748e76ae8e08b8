"""Binary format -> :class:`~wasmc.wasm.module.Module`, strictly.

Consumes the bytes of a ``.wasm`` file and produces the module model with
every function body decoded into instruction tuples (see module.py).  Any
departure from the binary grammar raises :class:`MalformedError` naming the
problem and the byte offset; *validation* (types, indices, stack effects) is
left to validate.py, so a module that decodes can still be invalid.

Strictness follows the spec:

* LEB128: at most ceil(N/7) bytes for an N-bit integer ("integer
  representation too long"), and the unused bits of the last byte must be
  zero, or copies of the sign bit for signed integers ("integer too large").
  Padded encodings that respect those rules (``80 80 80 80 00``) are legal.
* Sections: known ids only, in the spec's order, each at most once (custom
  sections anywhere), and each must be consumed exactly by its contents.
* Names must be well-formed UTF-8.
* The function and code sections must agree in length; the data count, when
  present, must equal the number of data segments, and is required when code
  uses a data index (``memory.init``, ``data.drop``, ``array.new_data``,
  ``array.init_data``).
* Bodies are decoded structurally: ``else`` only inside ``if``, the legacy
  ``catch``/``catch_all``/``delegate`` only inside ``try``, and the body must
  end exactly with the ``end`` that closes the function.

Speed matters (a 2.7 MB module must decode in well under a second per MB),
so the instruction loop keeps everything in locals and reads one-byte
LEB128s inline; only multi-byte integers take the slow path.
"""

from __future__ import annotations

import struct

from ..errors import MalformedError
from . import opcodes as _opc
from .module import (
    ArrayType, Catch, Code, CustomSection, Data, Elem, Export, FieldType, FuncType, Global,
    GlobalType, Import, Limits, MemoryType, Module, RefType, StructType, SubType, Table,
    TableType, TagType,
)

_SINGLE = _opc.SINGLE
_PREFIXED = _opc.PREFIXED
_OP_END = _opc.BY_NAME["end"]
_OP_REF_FUNC = _opc.BY_NAME["ref.func"]

_NUMTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
_ABSHEAP = {0x70: "func", 0x6F: "extern", 0x6E: "any", 0x6D: "eq", 0x6C: "i31", 0x6B: "struct",
            0x6A: "array", 0x69: "exn", 0x71: "none", 0x72: "noextern", 0x73: "nofunc",
            0x74: "noexn"}
# s33 value of each abstract heap type byte (the byte read as a negative LEB)
_ABSHEAP_S33 = {b - 0x80: n for b, n in _ABSHEAP.items()}
_SHORT_REF = {b: RefType(True, n) for b, n in _ABSHEAP.items()}
_KIND_NAMES = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}

# Section order ranks (id -> rank); custom (0) may appear anywhere.
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}



class _Reader:
    """A bounded cursor over ``data[pos:end]``."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, message: str, offset: int | None = None):
        raise MalformedError(message, self.pos if offset is None else offset)

    def eof(self) -> bool:
        return self.pos >= self.end

    def u8(self) -> int:
        p = self.pos
        if p >= self.end:
            self._unexpected_end()
        self.pos = p + 1
        return self.data[p]

    def _unexpected_end(self):
        if self.end < len(self.data):
            self.fail("unexpected end of section or function")
        self.fail("unexpected end")

    def bytes(self, n: int) -> bytes:
        p = self.pos
        if n > self.end - p:
            if self.end < len(self.data):
                self.fail("length out of bounds" if n > len(self.data) - p else
                          "unexpected end of section or function")
            self.fail("length out of bounds" if n > 0xFFFF else "unexpected end")
        self.pos = p + n
        return self.data[p:p + n]

    def uleb(self, bits: int) -> int:
        data, p, end = self.data, self.pos, self.end
        result = shift = 0
        maxbytes = (bits + 6) // 7
        for i in range(maxbytes):
            if p >= end:
                self.pos = p
                self._unexpected_end()
            b = data[p]
            p += 1
            if i == maxbytes - 1:
                if b & 0x80:
                    self.pos = p - 1
                    self.fail("integer representation too long")
                if b >> (bits - 7 * i):
                    self.pos = p - 1
                    self.fail("integer too large")
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                self.pos = p
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def sleb(self, bits: int) -> int:
        data, p, end = self.data, self.pos, self.end
        result = shift = 0
        maxbytes = (bits + 6) // 7
        for i in range(maxbytes):
            if p >= end:
                self.pos = p
                self._unexpected_end()
            b = data[p]
            p += 1
            if i == maxbytes - 1:
                if b & 0x80:
                    self.pos = p - 1
                    self.fail("integer representation too long")
                # The bits above the value's width must all equal its sign bit.
                used = bits - 7 * i  # value bits in this byte, sign included
                rest = b >> (used - 1)  # sign bit and the unused bits above it
                if rest not in (0, (0x7F >> (used - 1))):
                    self.pos = p - 1
                    self.fail("integer too large")
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                self.pos = p
                if b & 0x40:
                    result -= 1 << shift
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def u32(self) -> int:
        p = self.pos
        if p < self.end:
            b = self.data[p]
            if b < 0x80:
                self.pos = p + 1
                return b
        return self.uleb(32)

    def name(self) -> str:
        n = self.u32()
        start = self.pos
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail("malformed UTF-8 encoding", start)

    # --- types ----------------------------------------------------------
    def heaptype(self) -> str | int:
        p = self.pos
        v = self.sleb(33)
        if v >= 0:
            return v
        h = _ABSHEAP_S33.get(v)
        if h is None:
            self.fail("malformed heap type", p)
        return h

    def valtype(self):
        p = self.pos
        b = self.u8()
        t = _NUMTYPES.get(b)
        if t is not None:
            return t
        r = _SHORT_REF.get(b)
        if r is not None:
            return r
        if b == 0x64 or b == 0x63:
            return RefType(b == 0x63, self.heaptype())
        self.fail("malformed value type", p)

    def reftype(self) -> RefType:
        p = self.pos
        b = self.u8()
        r = _SHORT_REF.get(b)
        if r is not None:
            return r
        if b == 0x64 or b == 0x63:
            return RefType(b == 0x63, self.heaptype())
        self.fail("malformed reference type", p)

    def storagetype(self):
        b = self.data[self.pos] if self.pos < self.end else None
        if b == 0x78:
            self.pos += 1
            return "i8"
        if b == 0x77:
            self.pos += 1
            return "i16"
        return self.valtype()

    def mutability(self) -> bool:
        p = self.pos
        b = self.u8()
        if b > 1:
            self.fail("malformed mutability", p)
        return b == 1

    def limits(self, what: str) -> Limits:
        p = self.pos
        flags = self.u8()
        # bit 0: has max; bit 1: shared (threads, not Wasm 3.0); bit 2: 64-bit
        if flags not in (0, 1, 4, 5):
            self.fail("malformed limits flags", p)
        # Wasm 3.0 encodes both bounds as u64 for every address type; the
        # validator checks the range (so 2**32 pages is invalid, not malformed).
        is64 = bool(flags & 4)
        mn = self.uleb(64)
        mx = self.uleb(64) if flags & 1 else None
        return Limits(mn, mx, is64)

    def tabletype(self) -> TableType:
        et = self.reftype()
        return TableType(et, self.limits("table"))

    def globaltype(self) -> GlobalType:
        t = self.valtype()
        return GlobalType(t, self.mutability())


def _vec(r: _Reader, item):
    n = r.u32()
    # Each element takes at least one byte: reject absurd counts early.
    if n > r.end - r.pos:
        r.fail("length out of bounds" if r.end == len(r.data) else "unexpected end of section or function")
    return [item() for _ in range(n)]


# --------------------------------------------------------------------------
# Instructions
# --------------------------------------------------------------------------

def _blocktype(r: _Reader):
    p = r.pos
    if p >= r.end:
        r._unexpected_end()
    b = r.data[p]
    if b == 0x40:
        r.pos = p + 1
        return None
    t = _NUMTYPES.get(b)
    if t is not None:
        r.pos = p + 1
        return t
    if b in _SHORT_REF:
        r.pos = p + 1
        return _SHORT_REF[b]
    if b == 0x64 or b == 0x63:
        r.pos = p + 1
        return RefType(b == 0x63, r.heaptype())
    v = r.sleb(33)
    if v < 0:
        r.fail("malformed block type", p)
    return v


def _memarg(r: _Reader):
    p = r.pos
    flags = r.u32()
    if flags >= 128:
        r.fail("malformed memop flags", p)
    if flags & 0x40:
        mem = r.u32()
        flags -= 0x40
    else:
        mem = 0
    offset = r.uleb(64)
    return mem, offset, flags


def _catch(r: _Reader) -> Catch:
    p = r.pos
    kind = r.u8()
    if kind > 3:
        r.fail("malformed catch clause", p)
    tag = r.u32() if kind < 2 else None
    return Catch(kind, tag, r.u32())


def _read_imm(r: _Reader, kind: str, out: list):
    """Append the decoded immediate(s) of one kind to ``out``."""
    if kind in ("label", "func", "type", "table", "local", "global", "data", "elem", "tag",
                "field", "u32", "mem", "lane"):
        if kind == "lane":
            out.append(r.u8())
        else:
            out.append(r.u32())
    elif kind == "memarg":
        out.extend(_memarg(r))
    elif kind == "blocktype":
        out.append(_blocktype(r))
    elif kind == "i32":
        out.append(r.sleb(32))
    elif kind == "i64":
        out.append(r.sleb(64))
    elif kind == "f32":
        out.append(struct.unpack_from("<I", r.bytes(4))[0])
    elif kind == "f64":
        out.append(struct.unpack_from("<Q", r.bytes(8))[0])
    elif kind in ("v128", "shuffle"):
        out.append(bytes(r.bytes(16)))
    elif kind == "labels":
        labels = tuple(_vec(r, r.u32))
        out.append((labels, r.u32()))
    elif kind == "valtypes":
        out.append(tuple(_vec(r, r.valtype)))
    elif kind == "heaptype":
        out.append(r.heaptype())
    elif kind == "castflags":
        p = r.pos
        flags = r.u8()
        if flags > 3:
            r.fail("malformed cast flags", p)
        label = r.u32()
        out.append((flags, label, r.heaptype(), r.heaptype()))
    elif kind == "catches":
        out.append(tuple(_vec(r, lambda: _catch(r))))
    else:  # pragma: no cover - the opcode table only uses the kinds above
        raise AssertionError(kind)


def _read_op(r: _Reader):
    p = r.pos
    b = r.u8()
    if b in _PREFIXED:
        sub = r.uleb(32)
        op = _PREFIXED[b].get(sub)
        if op is None:
            r.fail(f"illegal opcode {b:02x} {sub:02x}", p)
        return op
    op = _SINGLE[b]
    if op is None:
        r.fail(f"illegal opcode {b:02x}", p)
    return op


def _decode_instrs(r: _Reader, const: bool, ctx: dict):
    """Decode an instruction sequence up to and including its final ``end``.

    Returns ``(instrs, offsets)``.  ``ctx["data_ops"]`` is set when an
    instruction with a data index appears (in code it needs the data count
    section).
    """
    data = r.data
    end = r.end
    single = _SINGLE
    instrs = []
    offsets = []
    append = instrs.append
    oappend = offsets.append
    # Stack of open structured instructions: "block", "if", "else", "try", "catch", ...
    stack = ["func"]
    fast_u32 = _FAST_U32
    while True:
        p = r.pos
        if p >= end:
            if const or end == len(data):
                r.fail("unexpected end" if end == len(data) else "unexpected end of section or function")
            r.fail("END opcode expected")
        b = data[p]
        op = single[b]
        if op is not None and b not in (0xFB, 0xFC, 0xFD):
            r.pos = p + 1
        else:
            op = _read_op(r)
        oappend(p)
        imm = op.imm
        if not imm:
            name = op.name
            if name == "end":
                append((op,))
                stack.pop()
                if not stack:
                    return instrs, offsets
                continue
            if name == "else":
                if stack[-1] != "if":
                    r.fail("illegal opcode 05 (else outside if)", p)
                stack[-1] = "else"
            elif name == "catch_all":
                if stack[-1] not in ("try", "catch"):
                    r.fail("illegal opcode 19 (catch_all outside try)", p)
                stack[-1] = "catch_all"
            append((op,))
            continue
        if fast_u32[op.id]:
            # One u32 index: inline the one-byte LEB128 case.
            q = r.pos
            if q < end and data[q] < 0x80:
                r.pos = q + 1
                append((op, data[q]))
            else:
                append((op, r.uleb(32)))
            continue
        out = [op]
        for kind in imm:
            _read_imm(r, kind, out)
        name = op.name
        if name in _opc.BLOCK_OPENERS:
            stack.append(name)
        elif name == "catch":
            if stack[-1] not in ("try", "catch"):
                r.fail("illegal opcode 07 (catch outside try)", p)
            stack[-1] = "catch"
        elif name == "delegate":
            if stack[-1] != "try":
                r.fail("illegal opcode 18 (delegate outside try)", p)
            stack.pop()
            append(tuple(out))
            if not stack:  # pragma: no cover - "func" is never a try
                return instrs, offsets
            continue
        elif name in _DATA_INDEX_OPS:
            ctx["data_ops"] = True
        append(tuple(out))


# Instructions with a data index: the code section may use them only when a
# data count section is present (binary format, "Modules").
_DATA_INDEX_OPS = frozenset({"memory.init", "data.drop", "array.new_data", "array.init_data"})

# Rows whose only immediate is one u32 index and that do not affect block
# structure or the data-count rule: decoded inline on the fast path (by op id).
_SIMPLE_U32 = frozenset({"label", "func", "local", "global", "elem", "tag", "type", "table",
                         "mem", "field", "u32"})
_FAST_U32 = bytes(
    1 if len(o.imm) == 1 and o.imm[0] in _SIMPLE_U32 and o.name not in ("catch", "delegate")
    else 0
    for o in _opc.OPS
)


def _const_expr(r: _Reader, ctx: dict) -> list:
    instrs, _ = _decode_instrs(r, True, ctx)
    return instrs


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------

def _comptype(r: _Reader, form: int, p: int):
    if form == 0x60:
        params = tuple(_vec(r, r.valtype))
        results = tuple(_vec(r, r.valtype))
        return FuncType(params, results)
    if form == 0x5F:
        return StructType(tuple(_vec(r, lambda: FieldType(r.storagetype(), r.mutability()))))
    if form == 0x5E:
        st = r.storagetype()
        return ArrayType(FieldType(st, r.mutability()))
    r.fail("malformed type form" if form not in (0x50, 0x4F, 0x4E) else "malformed sub type", p)


def _type_section(r: _Reader, m: Module):
    n = r.u32()
    for _ in range(n):
        p = r.pos
        form = r.u8()
        if form == 0x4E:  # rec group
            entries = _vec(r, lambda: _subtype(r))
        else:
            r.pos = p
            entries = [_subtype(r)]
        group = len(m.rec_groups)
        m.rec_groups.append((len(m.types), len(entries)))
        for i, (final, supers, comp) in enumerate(entries):
            m.types.append(SubType(final, supers, comp, group, i))


def _subtype(r: _Reader):
    p = r.pos
    form = r.u8()
    if form in (0x50, 0x4F):
        supers = tuple(_vec(r, r.u32))
        p2 = r.pos
        comp = _comptype(r, r.u8(), p2)
        return form == 0x4F, supers, comp
    return True, (), _comptype(r, form, p)


def _import_section(r: _Reader, m: Module):
    for _ in range(r.u32()):
        mod = r.name()
        name = r.name()
        p = r.pos
        kind = r.u8()
        if kind == 0:
            desc = r.u32()
        elif kind == 1:
            desc = r.tabletype()
        elif kind == 2:
            desc = MemoryType(r.limits("memory"))
        elif kind == 3:
            desc = r.globaltype()
        elif kind == 4:
            desc = _tagtype(r)
        else:
            r.fail("malformed import kind", p)
        m.imports.append(Import(mod, name, _KIND_NAMES[kind], desc))


def _tagtype(r: _Reader) -> TagType:
    p = r.pos
    attr = r.u8()
    if attr != 0:
        r.fail("malformed tag attribute", p)
    return TagType(r.u32())


def _table_section(r: _Reader, m: Module, ctx: dict):
    for _ in range(r.u32()):
        if r.pos < r.end and r.data[r.pos] == 0x40:
            p = r.pos
            r.pos += 1
            if r.u8() != 0x00:
                r.fail("malformed table", p)
            tt = r.tabletype()
            m.tables.append(Table(tt, _const_expr(r, ctx)))
        else:
            m.tables.append(Table(r.tabletype(), None))


def _export_section(r: _Reader, m: Module):
    for _ in range(r.u32()):
        name = r.name()
        p = r.pos
        kind = r.u8()
        if kind not in _KIND_NAMES:
            r.fail("malformed export kind", p)
        m.exports.append(Export(name, _KIND_NAMES[kind], r.u32()))


def _elemkind(r: _Reader) -> RefType:
    p = r.pos
    if r.u8() != 0x00:
        r.fail("malformed element kind", p)
    return RefType(False, "func")


def _elem_section(r: _Reader, m: Module, ctx: dict):
    for _ in range(r.u32()):
        p = r.pos
        flags = r.u32()
        if flags > 7:
            r.fail("malformed elements segment kind", p)
        table = 0
        offset = None
        if flags & 1:
            mode = "declarative" if flags & 2 else "passive"
        else:
            mode = "active"
            if flags & 2:
                table = r.u32()
            offset = _const_expr(r, ctx)
        if flags & 4:  # expressions
            if flags & 3:
                rtype = r.reftype()
            else:
                rtype = RefType(True, "func")
            items = _vec(r, lambda: _const_expr(r, ctx))
            funcs = None
        else:
            rtype = _elemkind(r) if flags & 3 else RefType(False, "func")
            funcs = tuple(_vec(r, r.u32))
            items = [[(_OP_REF_FUNC, f), (_OP_END,)] for f in funcs]
        m.elems.append(Elem(mode, table, offset, rtype, items, funcs))


def _code_section(r: _Reader, m: Module, ctx: dict):
    n = r.u32()
    if n != len(m.funcs):
        r.fail("function and code section have inconsistent lengths")
    for _ in range(n):
        size = r.u32()
        start = r.pos
        if size > r.end - start:
            r.fail("unexpected end of section or function" if r.end < len(r.data) else "unexpected end")
        body_end = start + size
        saved_end = r.end
        r.end = body_end
        locals_ = []
        total = 0
        for _ in range(r.u32()):
            count = r.u32()
            total += count
            if total > 0xFFFFFFFF:
                r.fail("too many locals")
            locals_.append((count, r.valtype()))
        instrs, offsets = _decode_instrs(r, False, ctx)
        if r.pos != body_end:
            r.fail("section size mismatch (operators remaining after end of function)")
        r.end = saved_end
        m.codes.append(Code(locals_, instrs, offsets, start, body_end))


def _data_section(r: _Reader, m: Module, ctx: dict):
    n = r.u32()
    if m.data_count is not None and n != m.data_count:
        r.fail("data count and data section have inconsistent lengths")
    for _ in range(n):
        p = r.pos
        flags = r.u32()
        if flags == 0:
            off = _const_expr(r, ctx)
            m.datas.append(Data("active", 0, off, r.bytes(r.u32())))
        elif flags == 1:
            m.datas.append(Data("passive", 0, None, r.bytes(r.u32())))
        elif flags == 2:
            mem = r.u32()
            off = _const_expr(r, ctx)
            m.datas.append(Data("active", mem, off, r.bytes(r.u32())))
        else:
            r.fail("malformed data segment kind", p)


def _name_section(data: bytes, start: int, end: int, m: Module):
    """Parse the name section; it is advisory, so any problem just stops parsing."""
    r = _Reader(data, start, end)
    try:
        last = -1
        while not r.eof():
            sid = r.u8()
            size = r.u32()
            sub_end = r.pos + size
            if sub_end > end or sid <= last:
                return
            last = sid
            s = _Reader(data, r.pos, sub_end)
            if sid == 0:
                m.names.module = s.name()
            elif sid == 1:
                for _ in range(s.u32()):
                    idx = s.u32()
                    m.names.functions[idx] = s.name()
            elif sid == 2:
                for _ in range(s.u32()):
                    fidx = s.u32()
                    d = m.names.locals.setdefault(fidx, {})
                    for _ in range(s.u32()):
                        li = s.u32()
                        d[li] = s.name()
            r.pos = sub_end
    except MalformedError:
        return


def decode_module(data: bytes) -> Module:
    """Decode a complete binary module; raise MalformedError on any defect."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("decode_module expects bytes")
    data = bytes(data)
    r = _Reader(data)
    if len(data) < 4 or data[:4] != b"\0asm":
        r.fail("magic header not detected", 0)
    if len(data) < 8:
        r.fail("unexpected end (no version)", 4)
    if data[4:8] != b"\x01\0\0\0":
        r.fail("unknown binary version", 4)
    r.pos = 8
    m = Module(size=len(data))
    ctx: dict = {}
    last_rank = 0
    seen_code = False
    while not r.eof():
        sec_start = r.pos
        sid = r.u8()
        if sid != 0 and sid not in _ORDER:
            r.fail("malformed section id", sec_start)
        size = r.u32()
        body = r.pos
        if size > len(data) - body:
            r.fail("length out of bounds (section size exceeds the file)", body)
        sec_end = body + size
        if sid != 0:
            rank = _ORDER[sid]
            if rank <= last_rank:
                r.fail("unexpected content after last section (section out of order or duplicated)",
                       sec_start)
            last_rank = rank
        s = _Reader(data, body, sec_end)
        if sid == 0:
            name = s.name()
            m.customs.append(CustomSection(name, s.pos, sec_end - s.pos))
            if name == "name":
                _name_section(data, s.pos, sec_end, m)
            s.pos = sec_end
        elif sid == 1:
            _type_section(s, m)
        elif sid == 2:
            _import_section(s, m)
        elif sid == 3:
            m.funcs = _vec(s, s.u32)
        elif sid == 4:
            _table_section(s, m, ctx)
        elif sid == 5:
            m.memories = _vec(s, lambda: MemoryType(s.limits("memory")))
        elif sid == 13:
            m.tags = _vec(s, lambda: _tagtype(s))
        elif sid == 6:
            m.globals = _vec(s, lambda: Global(s.globaltype(), _const_expr(s, ctx)))
        elif sid == 7:
            _export_section(s, m)
        elif sid == 8:
            m.start = s.u32()
        elif sid == 9:
            _elem_section(s, m, ctx)
        elif sid == 12:
            m.data_count = s.u32()
        elif sid == 10:
            seen_code = True
            ctx["data_ops"] = False  # only data indices in the code section count
            _code_section(s, m, ctx)
            if ctx.get("data_ops") and m.data_count is None:
                s.fail("data count section required", body)
        elif sid == 11:
            _data_section(s, m, ctx)
        if s.pos != sec_end:
            s.fail("section size mismatch", s.pos)
        r.pos = sec_end
    if not seen_code and m.funcs:
        r.fail("function and code section have inconsistent lengths")
    # (A data count with no data section means zero segments.)
    if m.data_count is not None and m.data_count != len(m.datas):
        r.fail("data count and data section have inconsistent lengths")
    return m
