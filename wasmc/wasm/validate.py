"""Validation of a decoded :class:`~wasmc.wasm.module.Module` (WebAssembly 3.0).

Consumes the module model produced by ``decode.decode_module`` and either
returns (the module is valid) or raises :class:`~wasmc.errors.ValidationError`
naming the broken rule in the spec's words, with the byte offset of the
offending instruction and the function index when the error is in code.

Function bodies (and constant expressions) are checked by the spec's
appendix "Validation Algorithm": an operand stack of value types, a control
stack of frames ``[kind, start_types, end_types, height, init_height,
unreachable, label_types]``, the bottom type ``BOT`` that a polymorphic stack
produces after ``unreachable``/``br``/``return``/``throw``, and an
initialization stack for non-defaultable locals.  Everything the opcode table
types completely (its ``params``/``results`` columns) is checked by one fast
path keyed by ``op.id``: compare the top of the stack with the parameter list
and splice in the results; only a mismatch (or a ``BOT`` operand) falls back
to the general pop-with-subtyping path.  ``local.*``, ``global.get``, memory
accesses and SIMD lane rows have their own inline paths; every other row has
one handler method (``_h_<name>``, spelled from the table's name), found
through a list indexed by op id that is built once at import, where an
assertion checks that every row of the table is covered.  Memory accesses
resolve the table's ``"addr"`` operands to i32 or i64 by the address type of
the memory they name (tables likewise).  The legacy exception instructions
(``try``/``catch``/``catch_all``/``delegate``/``rethrow``) follow the legacy
proposal's rules: ``rethrow`` must name a ``catch``/``catch_all`` label.

Module-level rules follow the spec's ``Module_ok`` (and the reference
interpreter's order): types (rec groups, declared supertypes, ``final``),
imports, tags, functions, memories, tables (whose initializers see only
imported globals), globals (each initializer sees imported and *earlier*
globals), data and element segments, start, exports (unique names), then the
code.  ``ref.func`` in a body needs the function to be "declared": named in
an export or in a constant expression anywhere outside the function bodies.

Type canonicalization
    ``module.canonical[x]`` is a :class:`CanonKey`: the structure of type
    ``x``'s whole recursion group, in which references to types of the same
    group are relative indices and references to earlier types are *their*
    keys, plus ``x``'s position in the group.  Two types, of the same module
    or of different modules, have equal keys iff they are equivalent under
    Wasm 3.0's iso-recursive type equivalence.  Keys are hashable, compare in
    O(1) (groups are interned, so equal keys are normally identical objects)
    and can be pickled; :func:`canonical_key_bytes` gives a deterministic byte
    string for a key (equal bytes iff equal keys), for compiled images and the
    C runtime.

Reusable matching (for the linker)
    :func:`matches_valtype(module, t1, t2) <matches_valtype>`
        ``t1 <: t2`` for value types of one (validated) module.
    :func:`canonical_valtype(module, t) <canonical_valtype>` and
    :func:`matches_canonical_valtype(t1, t2) <matches_canonical_valtype>`
        module-independent value types (type indices replaced by keys) and
        subtyping between them, for values crossing module boundaries.
    :func:`key_matches(k1, k2) <key_matches>`
        defined-type subtyping on keys (declared supertype chains).
    :func:`func_type_matches(exp_module, exp_type, imp_module, imp_type) <func_type_matches>`
        does an exported function of type index ``exp_type`` satisfy a
        function import declared with type index ``imp_type``?
    :func:`extern_type_matches` (and its parts :func:`limits_match`,
    :func:`table_type_matches`, :func:`memory_type_matches`,
    :func:`global_type_matches`, :func:`tag_type_matches`)
        the spec's import matching for every kind of external.
    :func:`functype_key(params, results) <functype_key>`
        the key of a plain function type (for host functions).

Rejected designs: a recursive-descent checker over nested blocks (needs the
block structure rebuilt and deep recursion); keys as plain nested tuples
(hashing them is not cached, so chains of types referring to earlier types
twice cost exponential time to hash or compare).
"""

from __future__ import annotations

import weakref
from bisect import bisect_right

from ..errors import ValidationError
from .module import (
    ArrayType, FuncType, GlobalType, MemoryType, Module, RefType, StructType, TableType,
    TagType, type_name,
)
from .opcodes import CONST_OPS, OPS, uleb128

__all__ = [
    "validate_module", "CanonKey", "canonical_key_bytes", "matches_valtype", "canonical_valtype",
    "matches_canonical_valtype", "key_matches", "func_type_matches", "extern_type_matches",
    "limits_match", "table_type_matches", "memory_type_matches", "global_type_matches",
    "tag_type_matches", "functype_key", "BOT",
]

I32, I64, F32, F64, V128 = "i32", "i64", "f32", "f64", "v128"
#: The bottom value type of a polymorphic stack (matches every type).
BOT = "bot"
_NUM = frozenset({I32, I64, F32, F64})
_EMPTY: list = []  # shared, never mutated
_EXNREF_NN = RefType(False, "exn")

# Frame kinds (control stack).
_FUNC, _BLOCK, _LOOP, _IF, _ELSE, _TRY, _CATCH, _CATCH_ALL, _TRY_TABLE = range(9)


class _Invalid(Exception):
    """Raised inside the body checker; turned into ValidationError with the offset."""


def _tn(t) -> str:
    return "(none)" if t is BOT else type_name(t)


def _tl(ts) -> str:
    return "[" + " ".join(_tn(t) for t in ts) + "]"


def _q(name: str) -> str:
    """A name quoted for a one-line message (control characters escaped)."""
    out = []
    for ch in name:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    return '"' + "".join(out) + '"'


# ==========================================================================
# Canonical type keys
# ==========================================================================

class _Group:
    """An interned recursion group: its encoded entries and one key per type."""

    __slots__ = ("entries", "hash", "keys", "__weakref__")

    def __init__(self, entries: tuple):
        self.entries = entries
        self.hash = hash(entries)
        self.keys = [CanonKey(self, i) for i in range(len(entries))]


_GROUPS: "weakref.WeakValueDictionary[tuple, _Group]" = weakref.WeakValueDictionary()


def _intern_group(entries: tuple) -> _Group:
    g = _GROUPS.get(entries)
    if g is None:
        g = _Group(entries)
        _GROUPS[entries] = g
    return g


def _rebuild_key(entries: tuple, index: int) -> "CanonKey":
    return _intern_group(entries).keys[index]


class CanonKey:
    """Canonical identity of a defined type (see the module docstring).

    ``group.entries`` is a tuple with one entry per type of the recursion
    group: ``(final, supers, comp)`` where ``supers`` holds type references
    and ``comp`` is ``("func", params, results)``, ``("struct", fields)`` or
    ``("array", field)``; a field is ``(storage, mutable)``; a value type is a
    numeric type name or ``("ref", nullable, heap)``; a heap type or type
    reference is an abstract heap type name, an ``int`` (a type of the same
    group, by position) or another :class:`CanonKey` (an earlier group).
    """

    __slots__ = ("group", "index", "_hash")

    def __init__(self, group: _Group, index: int):
        self.group = group
        self.index = index
        self._hash = hash((group.hash, index))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, CanonKey):
            return NotImplemented
        return (self._hash == other._hash and self.index == other.index
                and (self.group is other.group or self.group.entries == other.group.entries))

    def __reduce__(self):
        return (_rebuild_key, (self.group.entries, self.index))

    def __repr__(self):
        return f"CanonKey(#{self.index} of {len(self.group.entries)}, {self.kind}, {self._hash & 0xFFFFFFFF:08x})"

    @property
    def entry(self) -> tuple:
        return self.group.entries[self.index]

    @property
    def kind(self) -> str:
        """``"func"``, ``"struct"`` or ``"array"``."""
        return self.group.entries[self.index][2][0]

    @property
    def final(self) -> bool:
        return self.group.entries[self.index][0]

    @property
    def super(self) -> "CanonKey | None":
        """The key of the declared supertype, if any."""
        sup = self.group.entries[self.index][1]
        if not sup:
            return None
        s = sup[0]
        return self.group.keys[s] if type(s) is int else s


def key_matches(k1: CanonKey, k2: CanonKey) -> bool:
    """Defined-type subtyping: ``k1 <: k2`` via the declared supertype chain."""
    while True:
        if k1 == k2:
            return True
        k1 = k1.super
        if k1 is None:
            return False


# Abstract heap type subtyping: (sub, super) pairs, reflexive pairs included.
_ABS_SUPERS = {
    "any": ("any",), "eq": ("eq", "any"), "i31": ("i31", "eq", "any"),
    "struct": ("struct", "eq", "any"), "array": ("array", "eq", "any"),
    "none": ("none", "i31", "struct", "array", "eq", "any"),
    "func": ("func",), "nofunc": ("nofunc", "func"),
    "extern": ("extern",), "noextern": ("noextern", "extern"),
    "exn": ("exn",), "noexn": ("noexn", "exn"),
}
_ABS_SUB = frozenset((a, b) for a, bs in _ABS_SUPERS.items() for b in bs)
_KIND_SUPERS = {"func": ("func",), "struct": ("struct", "eq", "any"), "array": ("array", "eq", "any")}
_TOP = {"any": "any", "eq": "any", "i31": "any", "struct": "any", "array": "any", "none": "any",
        "func": "func", "nofunc": "func", "extern": "extern", "noextern": "extern",
        "exn": "exn", "noexn": "exn"}
_KIND_TOP = {"func": "func", "struct": "any", "array": "any"}


def _heap_sub(h1, h2) -> bool:
    """Heap subtyping where concrete types are CanonKeys (or "bot" for h1)."""
    if h1 is h2 or h1 == h2:
        return True
    if type(h1) is str:
        if h1 == "bot":
            return True
        if type(h2) is str:
            return (h1, h2) in _ABS_SUB
        kind = h2.kind
        return (h1 == "nofunc") if kind == "func" else (h1 == "none")
    if type(h2) is str:
        return h2 in _KIND_SUPERS[h1.kind]
    return key_matches(h1, h2)


def matches_canonical_valtype(t1, t2) -> bool:
    """``t1 <: t2`` for canonical value types (heap types are keys or names)."""
    if t1 == t2 or t1 is BOT:
        return True
    if isinstance(t1, tuple) and isinstance(t2, tuple):
        if t1[0] and not t2[0]:
            return False
        return _heap_sub(t1[1], t2[1])
    return False


def canonical_valtype(module: Module, t):
    """A module-independent value type: type indices replaced by their keys."""
    if isinstance(t, RefType) and type(t.heap) is int:
        return RefType(t.nullable, module.canonical[t.heap])
    return t


def matches_valtype(module: Module, t1, t2) -> bool:
    """``t1 <: t2`` for value types of one validated module (``BOT`` allowed as t1)."""
    if t1 == t2 or t1 is BOT:
        return True
    if isinstance(t1, RefType) and isinstance(t2, RefType):
        if t1.nullable and not t2.nullable:
            return False
        h1, h2 = t1.heap, t2.heap
        if h1 == h2:
            return True
        canon = module.canonical
        if type(h1) is int:
            h1 = canon[h1]
        if type(h2) is int:
            h2 = canon[h2]
        return _heap_sub(h1, h2)
    return False


def func_type_matches(exp_module: Module, exp_type: int, imp_module: Module, imp_type: int) -> bool:
    """Can a function of type ``exp_type`` (in ``exp_module``) satisfy an import of ``imp_type``?"""
    return key_matches(exp_module.canonical[exp_type], imp_module.canonical[imp_type])


def limits_match(exp, imp) -> bool:
    """Limits of an exported table/memory against the import's declared limits."""
    if exp.min < imp.min:
        return False
    if imp.max is None:
        return True
    return exp.max is not None and exp.max <= imp.max


def table_type_matches(exp_module: Module, exp: TableType, imp_module: Module, imp: TableType) -> bool:
    if exp.limits.is64 != imp.limits.is64 or not limits_match(exp.limits, imp.limits):
        return False
    a = canonical_valtype(exp_module, exp.elem)
    b = canonical_valtype(imp_module, imp.elem)
    return matches_canonical_valtype(a, b) and matches_canonical_valtype(b, a)


def memory_type_matches(exp: MemoryType, imp: MemoryType) -> bool:
    return exp.limits.is64 == imp.limits.is64 and limits_match(exp.limits, imp.limits)


def global_type_matches(exp_module: Module, exp: GlobalType, imp_module: Module, imp: GlobalType) -> bool:
    if exp.mutable != imp.mutable:
        return False
    a = canonical_valtype(exp_module, exp.type)
    b = canonical_valtype(imp_module, imp.type)
    return matches_canonical_valtype(a, b) and (not exp.mutable or matches_canonical_valtype(b, a))


def tag_type_matches(exp_module: Module, exp: TagType, imp_module: Module, imp: TagType) -> bool:
    return exp_module.canonical[exp.type_index] == imp_module.canonical[imp.type_index]


def extern_type_matches(exp_module: Module, kind: str, exp_desc, imp_module: Module, imp_desc) -> bool:
    """The spec's import matching: ``exp_desc`` is the exported entity's type
    (a type index for functions, else Table/Memory/Global/TagType) and
    ``imp_desc`` the ``Import.desc`` of the importing module."""
    if kind == "func":
        return func_type_matches(exp_module, exp_desc, imp_module, imp_desc)
    if kind == "table":
        return table_type_matches(exp_module, exp_desc, imp_module, imp_desc)
    if kind == "memory":
        return memory_type_matches(exp_desc, imp_desc)
    if kind == "global":
        return global_type_matches(exp_module, exp_desc, imp_module, imp_desc)
    if kind == "tag":
        return tag_type_matches(exp_module, exp_desc, imp_module, imp_desc)
    raise ValueError(f"unknown extern kind {kind!r}")


def _enc_val_canon(t):
    if isinstance(t, RefType):
        h = t.heap
        if type(h) is int:
            raise ValueError("functype_key needs canonical value types (keys, not type indices)")
        return ("ref", t.nullable, h)
    return t


def functype_key(params, results) -> CanonKey:
    """Key of ``(rec (type (func params results)))`` (final, no supertype).

    Reference types must be canonical (heap = abstract name or CanonKey)."""
    comp = ("func", tuple(_enc_val_canon(t) for t in params),
            tuple(_enc_val_canon(t) for t in results))
    return _intern_group(((True, (), comp),)).keys[0]


# --- deterministic serialization ------------------------------------------

_VAL_CODES = {I32: 0x7F, I64: 0x7E, F32: 0x7D, F64: 0x7C, V128: 0x7B, "i8": 0x78, "i16": 0x77}
_HEAP_CODES = {"func": 0x70, "extern": 0x6F, "any": 0x6E, "eq": 0x6D, "i31": 0x6C, "struct": 0x6B,
               "array": 0x6A, "exn": 0x69, "none": 0x71, "noextern": 0x72, "nofunc": 0x73,
               "noexn": 0x74}


def _group_deps(entries: tuple) -> list:
    """External keys referenced by a group, in order of first appearance."""
    deps = []

    def ref(r):
        if isinstance(r, CanonKey):
            deps.append(r)

    def val(t):
        if type(t) is tuple:
            ref(t[2])

    for _final, supers, comp in entries:
        for s in supers:
            ref(s)
        if comp[0] == "func":
            for t in comp[1]:
                val(t)
            for t in comp[2]:
                val(t)
        elif comp[0] == "struct":
            for st, _m in comp[1]:
                val(st)
        else:
            val(comp[1][0])
    return deps


def canonical_key_bytes(key: CanonKey) -> bytes:
    """Deterministic serialization of a key: equal bytes iff equal keys.

    Format (all integers unsigned LEB128)::

        "WCK1" ngroups group* root_group root_index
        group   = ntypes (final:u8 nsupers ref* comp)*
        comp    = 0x60 n val* n val* | 0x5F n (storage mut:u8)* | 0x5E storage mut:u8
        storage = val | 0x78 (i8) | 0x77 (i16)
        val     = 0x7F|0x7E|0x7D|0x7C|0x7B | (0x63 nullable | 0x64 non-null) heap
        heap    = 0x00 abstract-code | ref
        ref     = 0x01 position-in-own-group | 0x02 group-number position

    Groups are numbered in post-order of a depth-first walk from the root
    (dependencies first), each distinct group once, so the encoding of a
    key is a canonical linearization of the (acyclic) graph of groups.
    """
    numbering: dict = {}
    order: list = []
    root = key.group
    stack = [(root, iter(_group_deps(root.entries)))]
    onstack = {root.entries}
    while stack:
        g, it = stack[-1]
        for d in it:
            dg = d.group
            if dg.entries not in numbering and dg.entries not in onstack:
                onstack.add(dg.entries)
                stack.append((dg, iter(_group_deps(dg.entries))))
                break
        else:
            stack.pop()
            numbering[g.entries] = len(order)
            order.append(g)

    out = bytearray(b"WCK1")

    def ref(r):
        if type(r) is int:
            out.append(0x01)
            out.extend(uleb128(r))
        else:
            out.append(0x02)
            out.extend(uleb128(numbering[r.group.entries]))
            out.extend(uleb128(r.index))

    def val(t):
        if type(t) is tuple:
            out.append(0x63 if t[1] else 0x64)
            h = t[2]
            if type(h) is str:
                out.append(0x00)
                out.append(_HEAP_CODES[h])
            else:
                ref(h)
        else:
            out.append(_VAL_CODES[t])

    out.extend(uleb128(len(order)))
    for g in order:
        out.extend(uleb128(len(g.entries)))
        for final, supers, comp in g.entries:
            out.append(1 if final else 0)
            out.extend(uleb128(len(supers)))
            for s in supers:
                ref(s)
            if comp[0] == "func":
                out.append(0x60)
                out.extend(uleb128(len(comp[1])))
                for t in comp[1]:
                    val(t)
                out.extend(uleb128(len(comp[2])))
                for t in comp[2]:
                    val(t)
            elif comp[0] == "struct":
                out.append(0x5F)
                out.extend(uleb128(len(comp[1])))
                for st, mut in comp[1]:
                    val(st)
                    out.append(1 if mut else 0)
            else:
                out.append(0x5E)
                st, mut = comp[1]
                val(st)
                out.append(1 if mut else 0)
    out.extend(uleb128(numbering[root.entries]))
    out.extend(uleb128(key.index))
    return bytes(out)


# ==========================================================================
# Per-opcode dispatch tables (built once from the opcode table)
# ==========================================================================

_K_FIXED, _K_LGET, _K_LSET, _K_LTEE, _K_GGET, _K_MEM, _K_LANE, _K_OTHER = range(8)
_CONST_IMM = frozenset({"i32", "i64", "f32", "f64", "v128"})


def _sig(params, results, addr):
    p = [addr if t == "addr" else t for t in params]
    r = [addr if t == "addr" else t for t in results]
    return (p, r, len(p))


_KIND = bytearray(len(OPS))
_FIX32: list = [None] * len(OPS)  # (params, results, nparams) with addr = i32
_FIX64: list = [None] * len(OPS)  # same with addr = i64
_LANES = [0] * len(OPS)           # lane count for lane-indexed rows
for _op in OPS:
    _n = _op.name
    if _n == "local.get":
        _KIND[_op.id] = _K_LGET
    elif _n == "local.set":
        _KIND[_op.id] = _K_LSET
    elif _n == "local.tee":
        _KIND[_op.id] = _K_LTEE
    elif _n == "global.get":
        _KIND[_op.id] = _K_GGET
    elif "memarg" in _op.imm:
        _KIND[_op.id] = _K_MEM
        _FIX32[_op.id] = _sig(_op.params, _op.results, I32)
        _FIX64[_op.id] = _sig(_op.params, _op.results, I64)
        if "lane" in _op.imm:
            _LANES[_op.id] = 16 >> _op.align
    elif (_op.params is not None and _op.results is not None
          and "addr" not in _op.params and "addr" not in _op.results):
        if all(k in _CONST_IMM for k in _op.imm):
            _KIND[_op.id] = _K_FIXED
            _FIX32[_op.id] = _FIX64[_op.id] = _sig(_op.params, _op.results, I32)
        elif _op.imm == ("lane",):
            _KIND[_op.id] = _K_LANE
            _FIX32[_op.id] = _FIX64[_op.id] = _sig(_op.params, _op.results, I32)
            _LANES[_op.id] = int(_n.split(".")[0].split("x")[1])
        else:
            _KIND[_op.id] = _K_OTHER
    else:
        _KIND[_op.id] = _K_OTHER

_CONST_OP_IDS = frozenset(o.id for o in OPS if o.name in CONST_OPS)
_OFFSET_LIMIT32 = 1 << 32


def _unpack(st):
    return I32 if st == "i8" or st == "i16" else st


def _defaultable(t) -> bool:
    return not isinstance(t, RefType) or t.nullable


class _BigLocals:
    """Local types of a function with a huge number of locals (looked up by range)."""

    def __init__(self, params, groups):
        self.starts = []
        self.types = []
        n = 0
        for t in params:
            self.starts.append(n)
            self.types.append(t)
            n += 1
        for count, t in groups:
            if count:
                self.starts.append(n)
                self.types.append(t)
                n += count
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i < 0 or i >= self.n:
            raise IndexError(i)
        return self.types[bisect_right(self.starts, i) - 1]


class _BigUnset:
    """Initialization flags (1 = non-defaultable and not yet set) for _BigLocals."""

    def __init__(self, locals_: _BigLocals, nparams: int):
        self.locals = locals_
        self.nparams = nparams
        self.set = set()

    def __getitem__(self, i):
        if i < self.nparams or i in self.set:
            return 0
        return 0 if _defaultable(self.locals[i]) else 1

    def __setitem__(self, i, v):
        if v:
            self.set.discard(i)
        else:
            self.set.add(i)


_FLAT_LOCALS_LIMIT = 1 << 20


# ==========================================================================
# The validator
# ==========================================================================

class _Validator:
    def __init__(self, m: Module):
        self.m = m
        self.types = m.types
        self.canon: list = []
        # Body-checking state (reset per function / expression).
        self.vals: list = []
        self.ctrls: list = []
        self.inits: list = []
        self.results: list | None = _EMPTY
        self.unset = None
        self.const_mode = False
        self.bt_cache: dict = {}

    # ------------------------------------------------------------------
    # errors and small helpers
    # ------------------------------------------------------------------
    @staticmethod
    def fail(msg, offset=None, func=None):
        raise ValidationError(msg, offset=offset, func=func)

    def check_heap(self, h, limit=None):
        if type(h) is int:
            if h >= (len(self.types) if limit is None else limit):
                raise _Invalid(f"unknown type {h}")

    def check_val(self, t, limit=None):
        if isinstance(t, RefType) and type(t.heap) is int:
            if t.heap >= (len(self.types) if limit is None else limit):
                raise _Invalid(f"unknown type {t.heap}")

    def kind_of(self, x) -> str:
        c = self.types[x].comp
        if isinstance(c, FuncType):
            return "func"
        if isinstance(c, StructType):
            return "struct"
        return "array"

    def _comp_type(self, x, cls, what: str):
        if x >= len(self.types):
            raise _Invalid(f"unknown type {x}")
        c = self.types[x].comp
        if not isinstance(c, cls):
            raise _Invalid(f"type mismatch: type {x} is not {what}")
        return c

    def func_type(self, x) -> FuncType:
        return self._comp_type(x, FuncType, "a function type")

    def struct_type(self, x) -> StructType:
        return self._comp_type(x, StructType, "a struct type")

    def array_type(self, x) -> ArrayType:
        return self._comp_type(x, ArrayType, "an array type")

    def top_heap(self, h):
        if type(h) is int:
            return _KIND_TOP[self.kind_of(h)]
        return _TOP[h]

    # --- subtyping (within this module) --------------------------------
    def matches(self, a, b) -> bool:
        if a == b or a is BOT:
            return True
        if type(a) is RefType and type(b) is RefType:
            if a.nullable and not b.nullable:
                return False
            h1 = a.heap
            h2 = b.heap
            if h1 == h2:
                return True
            canon = self.canon
            if type(h1) is int:
                h1 = canon[h1]
            if type(h2) is int:
                h2 = canon[h2]
            return _heap_sub(h1, h2)
        return False

    def matches_list(self, ts1, ts2) -> bool:
        if len(ts1) != len(ts2):
            return False
        m = self.matches
        return all(m(a, b) for a, b in zip(ts1, ts2))

    def storage_matches(self, s1, s2) -> bool:
        if s1 == "i8" or s1 == "i16" or s2 == "i8" or s2 == "i16":
            return s1 == s2
        return self.matches(s1, s2)

    def field_matches(self, f1, f2) -> bool:
        if f1.mutable != f2.mutable or not self.storage_matches(f1.storage, f2.storage):
            return False
        return not f1.mutable or self.storage_matches(f2.storage, f1.storage)

    def comp_matches(self, c1, c2) -> bool:
        if isinstance(c1, FuncType):
            return (isinstance(c2, FuncType) and self.matches_list(c2.params, c1.params)
                    and self.matches_list(c1.results, c2.results))
        if isinstance(c1, StructType):
            if not isinstance(c2, StructType) or len(c1.fields) < len(c2.fields):
                return False
            return all(self.field_matches(a, b) for a, b in zip(c1.fields, c2.fields))
        return isinstance(c2, ArrayType) and self.field_matches(c1.field, c2.field)

    # ------------------------------------------------------------------
    # module level
    # ------------------------------------------------------------------
    def run(self):
        m = self.m
        self.check_types()
        m.canonical = self.canon
        fail = self.fail

        # Function signatures as lists, per type index (None: not a function type).
        self.sigs = [(list(t.comp.params), list(t.comp.results)) if isinstance(t.comp, FuncType)
                     else None for t in self.types]

        # --- imports ---------------------------------------------------
        funcs, tables, mems, globs, tags = [], [], [], [], []
        for k, imp in enumerate(m.imports):
            try:
                if imp.kind == "func":
                    self.func_type(imp.desc)
                    funcs.append(imp.desc)
                elif imp.kind == "table":
                    self.check_tabletype(imp.desc)
                    tables.append(imp.desc)
                elif imp.kind == "memory":
                    self.check_memtype(imp.desc)
                    mems.append(imp.desc)
                elif imp.kind == "global":
                    self.check_val(imp.desc.type)
                    globs.append(imp.desc)
                else:
                    self.check_tagtype(imp.desc)
                    tags.append(imp.desc)
            except _Invalid as e:
                fail(f"{e.args[0]} (import {k}: {_q(imp.module)} {_q(imp.name)})")

        for tag in m.tags:
            try:
                self.check_tagtype(tag)
            except _Invalid as e:
                fail(f"{e.args[0]} (tag {len(tags)})")
            tags.append(tag)
        for x in m.funcs:
            try:
                self.func_type(x)
            except _Invalid as e:
                fail(f"{e.args[0]} (function {len(funcs)})")
            funcs.append(x)
        for mt in m.memories:
            try:
                self.check_memtype(mt)
            except _Invalid as e:
                fail(e.args[0])
            mems.append(mt)

        self.func_types = funcs
        self.func_sigs = [self.sigs[x] for x in funcs]
        self.tables = tables
        self.mem64 = [mt.limits.is64 for mt in mems]
        self.tags = tags
        self.elem_types = [e.type for e in m.elems]
        self.ndatas = len(m.datas)
        self.refs = self.declared_funcs()

        # --- tables (initializers see imported globals only) ------------
        self.globals = globs
        self.gtypes = [g.type for g in globs]
        self.gmut = [g.mutable for g in globs]
        for tab in m.tables:
            tt = tab.type
            try:
                self.check_tabletype(tt)
            except _Invalid as e:
                fail(e.args[0])
            if tab.init is None:
                if not tt.elem.nullable:
                    fail(f"type mismatch: table of non-defaultable type {_tn(tt.elem)} "
                         "needs an initializer")
            else:
                self.check_const(tab.init, tt.elem, f"table {len(tables)}")
            tables.append(tt)

        # --- globals (each initializer sees the globals before it) -------
        for g in m.globals:
            try:
                self.check_val(g.type.type)
            except _Invalid as e:
                fail(e.args[0])
            self.check_const(g.init, g.type.type, f"global {len(globs)}")
            globs.append(g.type)
            self.gtypes.append(g.type.type)
            self.gmut.append(g.type.mutable)

        # --- data and element segments -----------------------------------
        for k, d in enumerate(m.datas):
            if d.mode == "active":
                if d.memory >= len(mems):
                    fail(f"unknown memory {d.memory} (data segment {k})")
                self.check_const(d.offset, I64 if self.mem64[d.memory] else I32,
                                 f"data segment {k}")
        nfuncs = len(funcs)
        for k, e in enumerate(m.elems):
            try:
                self.check_val(e.type)
            except _Invalid as ex:
                fail(f"{ex.args[0]} (elem segment {k})")
            if e.func_indices is not None and not e.type.nullable and e.type.heap == "func":
                for f in e.func_indices:
                    if f >= nfuncs:
                        fail(f"unknown function {f} (elem segment {k})")
            else:
                for item in e.items:
                    self.check_const(item, e.type, f"elem segment {k}")
            if e.mode == "active":
                if e.table >= len(tables):
                    fail(f"unknown table {e.table} (elem segment {k})")
                tt = tables[e.table]
                if not self.matches(e.type, tt.elem):
                    fail(f"type mismatch: elem segment {k} of type {_tn(e.type)} does not match "
                         f"table {e.table} of type {_tn(tt.elem)}")
                self.check_const(e.offset, I64 if tt.limits.is64 else I32, f"elem segment {k}")

        # --- start and exports --------------------------------------------
        if m.start is not None:
            if m.start >= nfuncs:
                fail(f"unknown function {m.start} (start function)")
            p, r = self.func_sigs[m.start]
            if p or r:
                fail("start function must not have parameters or results")
        names = set()
        limits = {"func": len(funcs), "table": len(tables), "memory": len(mems),
                  "global": len(globs), "tag": len(tags)}
        what = {"func": "function", "table": "table", "memory": "memory", "global": "global",
                "tag": "tag"}
        for ex in m.exports:
            if ex.index >= limits[ex.kind]:
                fail(f"unknown {what[ex.kind]} {ex.index} (export {_q(ex.name)})")
            if ex.name in names:
                fail(f"duplicate export name {_q(ex.name)}")
            names.add(ex.name)

        # --- code ---------------------------------------------------------
        nimp = nfuncs - len(m.funcs)
        for k, code in enumerate(m.codes):
            self.check_function(nimp + k, m.funcs[k], code)

    def declared_funcs(self) -> set:
        """Function indices that ``ref.func`` may name in bodies (C.REFS)."""
        m = self.m
        refs = set()
        ref_func_id = _REF_FUNC_ID

        def scan(expr):
            if expr:
                for ins in expr:
                    if ins[0].id == ref_func_id:
                        refs.add(ins[1])

        for g in m.globals:
            scan(g.init)
        for t in m.tables:
            scan(t.init)
        for d in m.datas:
            scan(d.offset)
        for e in m.elems:
            scan(e.offset)
            if e.func_indices is not None:
                refs.update(e.func_indices)
            else:
                for item in e.items:
                    scan(item)
        for ex in m.exports:
            if ex.kind == "func":
                refs.add(ex.index)
        return refs

    # --- types ----------------------------------------------------------
    def check_types(self):
        types = self.types
        canon = self.canon
        for gi, (first, count) in enumerate(self.m.rec_groups):
            end = first + count
            try:
                for x in range(first, end):
                    st = types[x]
                    self.check_comp_refs(st.comp, end)
                    if len(st.supers) > 1:
                        raise _Invalid(f"sub type {x} has more than one super type")
                    for s in st.supers:
                        if s >= end:
                            raise _Invalid(f"unknown type {s}")
                        if s >= x:
                            raise _Invalid(f"sub type {x}: forward use of type {s} as super type")
            except _Invalid as e:
                self.fail(f"{e.args[0]} (type {x})")
            canon.extend(self.group_keys(first, end))
            for x in range(first, end):
                st = types[x]
                for s in st.supers:
                    sup = types[s]
                    if sup.final:
                        self.fail(f"sub type {x} has final super type {s}")
                    if not self.comp_matches(st.comp, sup.comp):
                        self.fail(f"sub type {x} does not match super type {s}")

    def check_comp_refs(self, c, limit):
        if isinstance(c, FuncType):
            for t in c.params:
                self.check_val(t, limit)
            for t in c.results:
                self.check_val(t, limit)
        elif isinstance(c, StructType):
            for f in c.fields:
                self.check_val(f.storage, limit)
        else:
            self.check_val(c.field.storage, limit)

    def group_keys(self, first, end) -> list:
        canon = self.canon

        def heap(h):
            if type(h) is str:
                return h
            if h >= first:
                return h - first
            return canon[h]

        def val(t):
            if type(t) is RefType:
                return ("ref", t.nullable, heap(t.heap))
            return t

        entries = []
        for x in range(first, end):
            st = self.types[x]
            c = st.comp
            if isinstance(c, FuncType):
                comp = ("func", tuple(val(t) for t in c.params), tuple(val(t) for t in c.results))
            elif isinstance(c, StructType):
                comp = ("struct", tuple((val(f.storage), f.mutable) for f in c.fields))
            else:
                comp = ("array", (val(c.field.storage), c.field.mutable))
            entries.append((st.final, tuple(heap(s) for s in st.supers), comp))
        return _intern_group(tuple(entries)).keys

    def check_tagtype(self, tag: TagType):
        ft = self.func_type(tag.type_index)
        if ft.results:
            raise _Invalid("non-empty tag result type")

    def check_memtype(self, mt: MemoryType):
        lim = mt.limits
        if lim.is64:
            bound, text = 1 << 48, "2^48 pages (256 TiB) for i64"
        else:
            bound, text = 1 << 16, "65536 pages (4 GiB) for i32"
        if lim.min > bound or (lim.max is not None and lim.max > bound):
            raise _Invalid(f"memory size must be at most {text}")
        if lim.max is not None and lim.min > lim.max:
            raise _Invalid("size minimum must not be greater than maximum")

    def check_tabletype(self, tt: TableType):
        self.check_val(tt.elem)
        lim = tt.limits
        if lim.is64:
            bound, text = (1 << 64) - 1, "2^64-1 for i64"
        else:
            bound, text = (1 << 32) - 1, "2^32-1 for i32"
        if lim.min > bound or (lim.max is not None and lim.max > bound):
            raise _Invalid(f"table size must be at most {text}")
        if lim.max is not None and lim.min > lim.max:
            raise _Invalid("size minimum must not be greater than maximum")

    # --- constant expressions ----------------------------------------------
    def check_const(self, expr, t, where):
        """Check a constant expression of result type ``t`` against the globals now in scope
        (``self.globals``, mirrored by ``self.gtypes``/``self.gmut``)."""
        globs = self.globals
        for ins in expr:
            op = ins[0]
            if op.id not in _CONST_OP_IDS:
                self.fail(f"constant expression required ({where}: {op.name})")
            if op.id == _GLOBAL_GET_ID:
                x = ins[1]
                if x >= len(globs):
                    self.fail(f"unknown global {x} ({where})")
                if globs[x].mutable:
                    self.fail(f"constant expression required ({where}: global.get of "
                              f"mutable global {x})")
        if len(expr) == 2:
            # Fast path for the common one-instruction expressions.
            ins = expr[0]
            oid = ins[0].id
            actual = None
            if _KIND[oid] == _K_FIXED:
                p, r, n = _FIX32[oid]
                if n == 0 and len(r) == 1:
                    actual = r[0]
            elif oid == _GLOBAL_GET_ID:
                actual = self.gtypes[ins[1]]
            elif oid == _REF_FUNC_ID and ins[1] < len(self.func_types):
                actual = RefType(False, self.func_types[ins[1]])
            elif oid == _REF_NULL_ID and (type(ins[1]) is str or ins[1] < len(self.types)):
                actual = RefType(True, ins[1])
            if actual is not None and self.matches(actual, t):
                return
        self.const_mode = True
        try:
            self.run_body(expr, None, [t], _EMPTY, None, None, None, where)
        finally:
            self.const_mode = False

    # --- functions ------------------------------------------------------------
    def check_function(self, fidx, type_index, code):
        params, results = self.sigs[type_index]
        total = len(params) + sum(c for c, _ in code.locals)
        for _count, t in code.locals:
            try:
                self.check_val(t)
            except _Invalid as e:
                self.fail(e.args[0], offset=code.start, func=fidx)
        has_nd = any(not _defaultable(t) for c, t in code.locals if c)
        if total <= _FLAT_LOCALS_LIMIT:
            ltypes = list(params)
            for c, t in code.locals:
                ltypes.extend([t] * c)
            unset = None
            if has_nd:
                unset = bytearray(len(params)) + bytearray(
                    b for c, t in code.locals for b in ([0 if _defaultable(t) else 1] * c))
        else:
            ltypes = _BigLocals(params, code.locals)
            unset = _BigUnset(ltypes, len(params)) if has_nd else None
        self.run_body(code.body, code.offsets, results, ltypes, unset, fidx, results, None)

    def run_body(self, body, offsets, results, ltypes, unset, fidx, ret, where):
        """The validation algorithm over one instruction sequence ending in ``end``."""
        vals = self.vals = []
        ctrls = self.ctrls = []
        self.inits = []
        self.results = ret
        self.unset = unset
        has_nd = unset is not None
        ctrls.append([_FUNC, _EMPTY, results, 0, 0, False, results])
        handlers = _HANDLERS
        kinds = _KIND
        fix32 = _FIX32
        fix64 = _FIX64
        nlocals = len(ltypes)
        gtypes = self.gtypes
        nglobals = len(gtypes)
        mem64 = self.mem64
        nmems = len(mem64)
        inits = self.inits
        height = 0
        i = 0
        ins = None
        try:
            for i, ins in enumerate(body):
                op = ins[0]
                oid = op.id
                k = kinds[oid]
                if k == 0:  # _K_FIXED
                    p, r, n = fix32[oid]
                    s = len(vals) - n
                    if s >= height and vals[s:] == p:
                        vals[s:] = r
                    else:
                        self.fixed_slow(p, r)
                    continue
                if k == 1:  # _K_LGET
                    x = ins[1]
                    if x >= nlocals:
                        raise _Invalid(f"unknown local {x}")
                    if has_nd and unset[x]:
                        raise _Invalid(f"uninitialized local {x}")
                    vals.append(ltypes[x])
                    continue
                if k == 2 or k == 3:  # _K_LSET, _K_LTEE
                    x = ins[1]
                    if x >= nlocals:
                        raise _Invalid(f"unknown local {x}")
                    t = ltypes[x]
                    if len(vals) > height and vals[-1] == t:
                        if k == 2:
                            vals.pop()
                    else:
                        self.pop(t)
                        if k == 3:
                            vals.append(t)
                    if has_nd and unset[x]:
                        unset[x] = 0
                        inits.append(x)
                    continue
                if k == 4:  # _K_GGET
                    x = ins[1]
                    if x >= nglobals:
                        raise _Invalid(f"unknown global {x}")
                    vals.append(gtypes[x])
                    continue
                if k == 5:  # _K_MEM
                    mem = ins[1]
                    if mem >= nmems:
                        raise _Invalid(f"unknown memory {mem}")
                    if ins[3] > op.align:
                        raise _Invalid("alignment must not be larger than natural")
                    if mem64[mem]:
                        p, r, n = fix64[oid]
                    else:
                        if ins[2] >= _OFFSET_LIMIT32:
                            raise _Invalid("offset out of range")
                        p, r, n = fix32[oid]
                    if len(ins) > 4 and ins[4] >= _LANES[oid]:
                        raise _Invalid("invalid lane index")
                    s = len(vals) - n
                    if s >= height and vals[s:] == p:
                        vals[s:] = r
                    else:
                        self.fixed_slow(p, r)
                    continue
                if k == 6:  # _K_LANE
                    if ins[1] >= _LANES[oid]:
                        raise _Invalid("invalid lane index")
                    p, r, n = fix32[oid]
                    s = len(vals) - n
                    if s >= height and vals[s:] == p:
                        vals[s:] = r
                    else:
                        self.fixed_slow(p, r)
                    continue
                handlers[oid](self, ins)
                height = ctrls[-1][3] if ctrls else 0
        except _Invalid as e:
            off = offsets[i] if offsets is not None and i < len(offsets) else None
            msg = e.args[0]
            if where is not None:
                msg = f"{msg} ({where})"
            raise ValidationError(msg, offset=off, func=fidx) from None
        if ctrls:
            raise ValidationError("unexpected end of function body (unclosed block)",
                                  offset=offsets[-1] if offsets else None, func=fidx)

    # ------------------------------------------------------------------
    # operand and control stacks
    # ------------------------------------------------------------------
    def pop(self, t):
        vals = self.vals
        frame = self.ctrls[-1]
        if len(vals) == frame[3]:
            if frame[5]:
                return BOT
            raise _Invalid(f"type mismatch: expected {_tn(t)}, but the stack is empty")
        a = vals.pop()
        if a == t or a is BOT or self.matches(a, t):
            return a
        raise _Invalid(f"type mismatch: expected {_tn(t)}, got {_tn(a)}")

    def pop_any(self):
        vals = self.vals
        frame = self.ctrls[-1]
        if len(vals) == frame[3]:
            if frame[5]:
                return BOT
            raise _Invalid("type mismatch: expected a value, but the stack is empty")
        return vals.pop()

    def pop_ref(self):
        a = self.pop_any()
        if a is BOT:
            return RefType(False, "bot")
        if type(a) is not RefType:
            raise _Invalid(f"type mismatch: expected a reference type, got {_tn(a)}")
        return a

    def pop_vals(self, ts) -> list:
        vals = self.vals
        n = len(ts)
        s = len(vals) - n
        if s >= self.ctrls[-1][3] and vals[s:] == ts:
            del vals[s:]
            return ts
        popped = [None] * n
        for j in range(n - 1, -1, -1):
            popped[j] = self.pop(ts[j])
        return popped

    def pop_n(self, t, n):
        """Pop ``n`` operands of type ``t`` (``n`` may be huge on a polymorphic stack)."""
        vals = self.vals
        frame = self.ctrls[-1]
        avail = len(vals) - frame[3]
        if n > avail and not frame[5]:
            raise _Invalid(f"type mismatch: expected {n} operands of type {_tn(t)}, "
                           f"the stack has {avail}")
        for _ in range(min(n, avail)):
            self.pop(t)

    def fixed_slow(self, p, r):
        for j in range(len(p) - 1, -1, -1):
            self.pop(p[j])
        self.vals.extend(r)

    def push_ctrl(self, kind, start, end):
        vals = self.vals
        self.ctrls.append([kind, start, end, len(vals), len(self.inits), False,
                           start if kind == _LOOP else end])
        vals.extend(start)

    def pop_ctrl(self):
        ctrls = self.ctrls
        frame = ctrls[-1]
        vals = self.vals
        e = frame[2]
        h = frame[3]
        s = len(vals) - len(e)
        if s == h and vals[s:] == e:
            del vals[s:]
        else:
            popped = self.pop_vals(e)
            if len(vals) != h:
                raise _Invalid(f"type mismatch: block requires {_tl(e)} but stack has "
                               f"{_tl(vals[h:] + list(popped))}")
        inits = self.inits
        if len(inits) > frame[4]:
            unset = self.unset
            while len(inits) > frame[4]:
                unset[inits.pop()] = 1
        ctrls.pop()
        return frame

    def unreachable(self):
        frame = self.ctrls[-1]
        del self.vals[frame[3]:]
        frame[5] = True

    def label(self, l):
        ctrls = self.ctrls
        if l >= len(ctrls):
            raise _Invalid(f"unknown label {l}")
        return ctrls[-1 - l][6]

    def blocktype(self, bt):
        if bt is None:
            return _EMPTY, _EMPTY
        if type(bt) is int:
            if bt >= len(self.types):
                raise _Invalid(f"unknown type {bt}")
            sig = self.sigs[bt]
            if sig is None:
                raise _Invalid(f"type mismatch: block type {bt} is not a function type")
            return sig
        sig = self.bt_cache.get(bt)
        if sig is None:
            self.check_val(bt)
            sig = self.bt_cache[bt] = (_EMPTY, [bt])  # shared: never mutated
        return sig

    def func_index(self, x):
        if x >= len(self.func_sigs):
            raise _Invalid(f"unknown function {x}")
        return self.func_sigs[x]

    def table(self, x) -> TableType:
        if x >= len(self.tables):
            raise _Invalid(f"unknown table {x}")
        return self.tables[x]

    def memory(self, x) -> str:
        if x >= len(self.mem64):
            raise _Invalid(f"unknown memory {x}")
        return I64 if self.mem64[x] else I32

    def data(self, x):
        if x >= self.ndatas:
            raise _Invalid(f"unknown data segment {x}")

    def elem(self, x):
        if x >= len(self.elem_types):
            raise _Invalid(f"unknown elem segment {x}")
        return self.elem_types[x]

    def tag_params(self, x):
        if x >= len(self.tags):
            raise _Invalid(f"unknown tag {x}")
        return self.sigs[self.tags[x].type_index][0]

    # ------------------------------------------------------------------
    # handlers: control
    # ------------------------------------------------------------------
    def _h_unreachable(self, ins):
        self.unreachable()

    def _h_block(self, ins):
        p, r = self.blocktype(ins[1])
        self.pop_vals(p)
        self.push_ctrl(_BLOCK, p, r)

    def _h_loop(self, ins):
        p, r = self.blocktype(ins[1])
        self.pop_vals(p)
        self.push_ctrl(_LOOP, p, r)

    def _h_if(self, ins):
        p, r = self.blocktype(ins[1])
        self.pop(I32)
        self.pop_vals(p)
        self.push_ctrl(_IF, p, r)

    def _h_else(self, ins):
        if self.ctrls[-1][0] != _IF:
            raise _Invalid("else without matching if")
        frame = self.pop_ctrl()
        self.push_ctrl(_ELSE, frame[1], frame[2])

    def _h_end(self, ins):
        frame = self.pop_ctrl()
        if frame[0] == _IF:
            # No else: the empty else branch must turn the inputs into the results.
            self.push_ctrl(_ELSE, frame[1], frame[2])
            self.pop_ctrl()
        if self.ctrls:
            self.vals.extend(frame[2])

    def _h_br(self, ins):
        self.pop_vals(self.label(ins[1]))
        self.unreachable()

    def _h_br_if(self, ins):
        lt = self.label(ins[1])
        self.pop(I32)
        if lt:
            self.pop_vals(lt)
            self.vals.extend(lt)

    def _h_br_table(self, ins):
        labels, default = ins[1]
        self.pop(I32)
        lm = self.label(default)
        arity = len(lm)
        for l in labels:
            lt = self.label(l)
            if len(lt) != arity:
                raise _Invalid(f"type mismatch: br_table targets have different arities "
                               f"({len(lt)} for label {l}, {arity} for the default)")
            self.vals.extend(self.pop_vals(lt))
        self.pop_vals(lm)
        self.unreachable()

    def _h_return(self, ins):
        self.pop_vals(self.results)
        self.unreachable()

    def _h_call(self, ins):
        p, r = self.func_index(ins[1])
        self.pop_vals(p)
        self.vals.extend(r)

    def call_indirect_sig(self, ins):
        tt = self.table(ins[2])
        if not self.matches(tt.elem, _FUNCREF):
            raise _Invalid(f"type mismatch: call_indirect on table {ins[2]} of element type "
                           f"{_tn(tt.elem)}")
        self.func_type(ins[1])
        self.pop(I64 if tt.limits.is64 else I32)
        return self.sigs[ins[1]]

    def _h_call_indirect(self, ins):
        p, r = self.call_indirect_sig(ins)
        self.pop_vals(p)
        self.vals.extend(r)

    def check_tail_results(self, r):
        if not self.matches_list(r, self.results):
            raise _Invalid(f"type mismatch: callee returns {_tl(r)} but the current function "
                           f"returns {_tl(self.results)}")

    def _h_return_call(self, ins):
        p, r = self.func_index(ins[1])
        self.check_tail_results(r)
        self.pop_vals(p)
        self.unreachable()

    def _h_return_call_indirect(self, ins):
        p, r = self.call_indirect_sig(ins)
        self.check_tail_results(r)
        self.pop_vals(p)
        self.unreachable()

    def _h_call_ref(self, ins):
        x = ins[1]
        self.func_type(x)
        p, r = self.sigs[x]
        self.pop(RefType(True, x))
        self.pop_vals(p)
        self.vals.extend(r)

    def _h_return_call_ref(self, ins):
        x = ins[1]
        self.func_type(x)
        p, r = self.sigs[x]
        self.check_tail_results(r)
        self.pop(RefType(True, x))
        self.pop_vals(p)
        self.unreachable()

    def _h_drop(self, ins):
        self.pop_any()

    def _h_select(self, ins):
        self.pop(I32)
        t1 = self.pop_any()
        t2 = self.pop_any()
        if not (((t1 in _NUM or t1 is BOT) and (t2 in _NUM or t2 is BOT))
                or ((t1 == V128 or t1 is BOT) and (t2 == V128 or t2 is BOT))):
            raise _Invalid(f"type mismatch: select needs numeric or vector operands of one type, "
                           f"got {_tn(t2)} and {_tn(t1)}")
        if t1 != t2 and t1 is not BOT and t2 is not BOT:
            raise _Invalid(f"type mismatch: select operands differ: {_tn(t2)} and {_tn(t1)}")
        self.vals.append(t2 if t1 is BOT else t1)

    def _h_select_t(self, ins):
        ts = ins[1]
        if len(ts) != 1:
            raise _Invalid("invalid result arity other than 1 for select")
        t = ts[0]
        self.check_val(t)
        self.pop(I32)
        self.pop(t)
        self.pop(t)
        self.vals.append(t)

    # --- exceptions ---------------------------------------------------------
    def _h_throw(self, ins):
        self.pop_vals(self.tag_params(ins[1]))
        self.unreachable()

    def _h_throw_ref(self, ins):
        self.pop(_EXNREF)
        self.unreachable()

    def _h_try_table(self, ins):
        p, r = self.blocktype(ins[1])
        for c in ins[2]:
            lt = self.label(c.label)
            if c.kind == 0:
                ts = self.tag_params(c.tag)
            elif c.kind == 1:
                ts = self.tag_params(c.tag) + [_EXNREF_NN]
            elif c.kind == 2:
                ts = _EMPTY
            else:
                ts = [_EXNREF_NN]
            if not self.matches_list(ts, lt):
                raise _Invalid(f"type mismatch: catch handler provides {_tl(ts)} but label "
                               f"{c.label} requires {_tl(lt)}")
        self.pop_vals(p)
        self.push_ctrl(_TRY_TABLE, p, r)

    # legacy exception handling
    def _h_try(self, ins):
        p, r = self.blocktype(ins[1])
        self.pop_vals(p)
        self.push_ctrl(_TRY, p, r)

    def _h_catch(self, ins):
        if self.ctrls[-1][0] not in (_TRY, _CATCH):
            raise _Invalid("catch without matching try")
        ts = self.tag_params(ins[1])
        frame = self.pop_ctrl()
        self.push_ctrl(_CATCH, ts, frame[2])

    def _h_catch_all(self, ins):
        if self.ctrls[-1][0] not in (_TRY, _CATCH):
            raise _Invalid("catch_all without matching try")
        frame = self.pop_ctrl()
        self.push_ctrl(_CATCH_ALL, _EMPTY, frame[2])

    def _h_delegate(self, ins):
        if self.ctrls[-1][0] != _TRY:
            raise _Invalid("delegate without matching try")
        frame = self.pop_ctrl()
        self.label(ins[1])
        self.vals.extend(frame[2])

    def _h_rethrow(self, ins):
        l = ins[1]
        self.label(l)
        if self.ctrls[-1 - l][0] not in (_CATCH, _CATCH_ALL):
            raise _Invalid(f"invalid rethrow label {l}")
        self.unreachable()

    # ------------------------------------------------------------------
    # handlers: variables, tables, memories
    # ------------------------------------------------------------------
    def _h_global_set(self, ins):
        x = ins[1]
        if x >= len(self.gtypes):
            raise _Invalid(f"unknown global {x}")
        if not self.gmut[x]:
            raise _Invalid(f"immutable global {x}")
        self.pop(self.gtypes[x])

    def _h_table_get(self, ins):
        tt = self.table(ins[1])
        self.pop(I64 if tt.limits.is64 else I32)
        self.vals.append(tt.elem)

    def _h_table_set(self, ins):
        tt = self.table(ins[1])
        self.pop(tt.elem)
        self.pop(I64 if tt.limits.is64 else I32)

    def _h_table_size(self, ins):
        tt = self.table(ins[1])
        self.vals.append(I64 if tt.limits.is64 else I32)

    def _h_table_grow(self, ins):
        tt = self.table(ins[1])
        at = I64 if tt.limits.is64 else I32
        self.pop(at)
        self.pop(tt.elem)
        self.vals.append(at)

    def _h_table_fill(self, ins):
        tt = self.table(ins[1])
        at = I64 if tt.limits.is64 else I32
        self.pop(at)
        self.pop(tt.elem)
        self.pop(at)

    def _h_table_copy(self, ins):
        t1 = self.table(ins[1])
        t2 = self.table(ins[2])
        if not self.matches(t2.elem, t1.elem):
            raise _Invalid(f"type mismatch: table.copy from table {ins[2]} of type {_tn(t2.elem)} "
                           f"to table {ins[1]} of type {_tn(t1.elem)}")
        a1 = I64 if t1.limits.is64 else I32
        a2 = I64 if t2.limits.is64 else I32
        self.pop(I32 if I32 in (a1, a2) else I64)
        self.pop(a2)
        self.pop(a1)

    def _h_table_init(self, ins):
        tt = self.table(ins[2])
        rt = self.elem(ins[1])
        if not self.matches(rt, tt.elem):
            raise _Invalid(f"type mismatch: elem segment {ins[1]} of type {_tn(rt)} does not "
                           f"match table {ins[2]} of type {_tn(tt.elem)}")
        self.pop(I32)
        self.pop(I32)
        self.pop(I64 if tt.limits.is64 else I32)

    def _h_elem_drop(self, ins):
        self.elem(ins[1])

    def _h_memory_size(self, ins):
        self.vals.append(self.memory(ins[1]))

    def _h_memory_grow(self, ins):
        at = self.memory(ins[1])
        self.pop(at)
        self.vals.append(at)

    def _h_memory_fill(self, ins):
        at = self.memory(ins[1])
        self.pop(at)
        self.pop(I32)
        self.pop(at)

    def _h_memory_copy(self, ins):
        a1 = self.memory(ins[1])
        a2 = self.memory(ins[2])
        self.pop(I32 if I32 in (a1, a2) else I64)
        self.pop(a2)
        self.pop(a1)

    def _h_memory_init(self, ins):
        at = self.memory(ins[2])
        self.data(ins[1])
        self.pop(I32)
        self.pop(I32)
        self.pop(at)

    def _h_data_drop(self, ins):
        self.data(ins[1])

    def _h_i8x16_shuffle(self, ins):
        if any(b >= 32 for b in ins[1]):
            raise _Invalid("invalid lane index")
        self.pop(V128)
        self.pop(V128)
        self.vals.append(V128)

    # ------------------------------------------------------------------
    # handlers: references
    # ------------------------------------------------------------------
    def _h_ref_null(self, ins):
        self.check_heap(ins[1])
        self.vals.append(RefType(True, ins[1]))

    def _h_ref_is_null(self, ins):
        self.pop_ref()
        self.vals.append(I32)

    def _h_ref_as_non_null(self, ins):
        rt = self.pop_ref()
        self.vals.append(RefType(False, rt.heap))

    def _h_ref_func(self, ins):
        x = ins[1]
        self.func_index(x)
        if not self.const_mode and x not in self.refs:
            raise _Invalid(f"undeclared function reference {x}")
        self.vals.append(RefType(False, self.func_types[x]))

    def _h_ref_eq(self, ins):
        self.pop(_EQREF)
        self.pop(_EQREF)
        self.vals.append(I32)

    def _h_br_on_null(self, ins):
        lt = self.label(ins[1])
        rt = self.pop_ref()
        self.pop_vals(lt)
        self.vals.extend(lt)
        self.vals.append(RefType(False, rt.heap))

    def _h_br_on_non_null(self, ins):
        lt = self.label(ins[1])
        if not lt or type(lt[-1]) is not RefType:
            raise _Invalid(f"type mismatch: br_on_non_null target label has type {_tl(lt)}, "
                           "which does not end with a reference type")
        rt = self.pop_ref()
        self.vals.append(RefType(False, rt.heap))
        self.pop_vals(lt)
        self.vals.extend(lt[:-1])

    def cast_types(self, ins):
        flags, l, h1, h2 = ins[1]
        self.check_heap(h1)
        self.check_heap(h2)
        rt1 = RefType(bool(flags & 1), h1)
        rt2 = RefType(bool(flags & 2), h2)
        if not self.matches(rt2, rt1):
            raise _Invalid(f"type mismatch on cast: type {_tn(rt2)} does not match {_tn(rt1)}")
        lt = self.label(l)
        if not lt:
            raise _Invalid(f"type mismatch: cast target label {l} has no values")
        return rt1, rt2, lt

    def _h_br_on_cast(self, ins):
        rt1, rt2, lt = self.cast_types(ins)
        if not self.matches(rt2, lt[-1]):
            raise _Invalid(f"type mismatch: br_on_cast target label requires {_tn(lt[-1])}, "
                           f"the cast produces {_tn(rt2)}")
        self.pop(rt1)
        rest = lt[:-1]
        self.pop_vals(rest)
        self.vals.extend(rest)
        self.vals.append(RefType(False, rt1.heap) if rt2.nullable else rt1)

    def _h_br_on_cast_fail(self, ins):
        rt1, rt2, lt = self.cast_types(ins)
        diff = RefType(False, rt1.heap) if rt2.nullable else rt1
        if not self.matches(diff, lt[-1]):
            raise _Invalid(f"type mismatch: br_on_cast_fail target label requires {_tn(lt[-1])}, "
                           f"the failed cast produces {_tn(diff)}")
        self.pop(rt1)
        rest = lt[:-1]
        self.pop_vals(rest)
        self.vals.extend(rest)
        self.vals.append(rt2)

    def ref_test_cast(self, ins, nullable, push_ref):
        h = ins[1]
        self.check_heap(h)
        self.pop(RefType(True, self.top_heap(h)))
        self.vals.append(RefType(nullable, h) if push_ref else I32)

    def _h_ref_test(self, ins):
        self.ref_test_cast(ins, False, False)

    def _h_ref_test_null(self, ins):
        self.ref_test_cast(ins, True, False)

    def _h_ref_cast(self, ins):
        self.ref_test_cast(ins, False, True)

    def _h_ref_cast_null(self, ins):
        self.ref_test_cast(ins, True, True)

    def _h_any_convert_extern(self, ins):
        a = self.pop(_EXTERNREF)
        self.vals.append(RefType(a is not BOT and a.nullable, "any"))

    def _h_extern_convert_any(self, ins):
        a = self.pop(_ANYREF)
        self.vals.append(RefType(a is not BOT and a.nullable, "extern"))

    def _h_ref_i31(self, ins):
        self.pop(I32)
        self.vals.append(_I31_NN)

    def _h_i31_get_s(self, ins):
        self.pop(_I31REF)
        self.vals.append(I32)

    _h_i31_get_u = _h_i31_get_s

    # ------------------------------------------------------------------
    # handlers: GC structs and arrays
    # ------------------------------------------------------------------
    def _h_struct_new(self, ins):
        x = ins[1]
        st = self.struct_type(x)
        for f in reversed(st.fields):
            self.pop(_unpack(f.storage))
        self.vals.append(RefType(False, x))

    def _h_struct_new_default(self, ins):
        x = ins[1]
        st = self.struct_type(x)
        for f in st.fields:
            if not _defaultable(f.storage):
                raise _Invalid(f"field type {_tn(f.storage)} of type {x} is not defaultable")
        self.vals.append(RefType(False, x))

    def struct_field(self, x, i):
        st = self.struct_type(x)
        if i >= len(st.fields):
            raise _Invalid(f"unknown field {i} of type {x}")
        return st.fields[i]

    def struct_get(self, ins, packed):
        x, i = ins[1], ins[2]
        f = self.struct_field(x, i)
        is_packed = f.storage == "i8" or f.storage == "i16"
        if is_packed != packed:
            raise _Invalid(f"type mismatch: field {i} of type {x} is "
                           f"{'packed' if is_packed else 'unpacked'}")
        self.pop(RefType(True, x))
        self.vals.append(_unpack(f.storage))

    def _h_struct_get(self, ins):
        self.struct_get(ins, False)

    def _h_struct_get_s(self, ins):
        self.struct_get(ins, True)

    _h_struct_get_u = _h_struct_get_s

    def _h_struct_set(self, ins):
        x, i = ins[1], ins[2]
        f = self.struct_field(x, i)
        if not f.mutable:
            raise _Invalid(f"immutable field {i} of type {x}")
        self.pop(_unpack(f.storage))
        self.pop(RefType(True, x))

    def _h_array_new(self, ins):
        x = ins[1]
        at = self.array_type(x)
        self.pop(I32)
        self.pop(_unpack(at.field.storage))
        self.vals.append(RefType(False, x))

    def _h_array_new_default(self, ins):
        x = ins[1]
        at = self.array_type(x)
        if not _defaultable(at.field.storage):
            raise _Invalid(f"array type {x} is not defaultable")
        self.pop(I32)
        self.vals.append(RefType(False, x))

    def _h_array_new_fixed(self, ins):
        x, n = ins[1], ins[2]
        at = self.array_type(x)
        self.pop_n(_unpack(at.field.storage), n)
        self.vals.append(RefType(False, x))

    def array_numeric(self, x, at):
        t = _unpack(at.field.storage)
        if type(t) is RefType:
            raise _Invalid(f"array type is not numeric or vector (type {x})")

    def _h_array_new_data(self, ins):
        x, y = ins[1], ins[2]
        at = self.array_type(x)
        self.array_numeric(x, at)
        self.data(y)
        self.pop(I32)
        self.pop(I32)
        self.vals.append(RefType(False, x))

    def _h_array_new_elem(self, ins):
        x, y = ins[1], ins[2]
        at = self.array_type(x)
        rt = self.elem(y)
        if not self.matches(rt, _unpack(at.field.storage)):
            raise _Invalid(f"type mismatch: elem segment {y} of type {_tn(rt)} does not match "
                           f"the element type of array type {x}")
        self.pop(I32)
        self.pop(I32)
        self.vals.append(RefType(False, x))

    def array_get(self, ins, packed):
        x = ins[1]
        at = self.array_type(x)
        s = at.field.storage
        is_packed = s == "i8" or s == "i16"
        if is_packed != packed:
            raise _Invalid(f"type mismatch: array type {x} is {'packed' if is_packed else 'unpacked'}")
        self.pop(I32)
        self.pop(RefType(True, x))
        self.vals.append(_unpack(s))

    def _h_array_get(self, ins):
        self.array_get(ins, False)

    def _h_array_get_s(self, ins):
        self.array_get(ins, True)

    _h_array_get_u = _h_array_get_s

    def mutable_array(self, x):
        at = self.array_type(x)
        if not at.field.mutable:
            raise _Invalid(f"immutable array type {x}")
        return at

    def _h_array_set(self, ins):
        x = ins[1]
        at = self.mutable_array(x)
        self.pop(_unpack(at.field.storage))
        self.pop(I32)
        self.pop(RefType(True, x))

    def _h_array_len(self, ins):
        self.pop(_ARRAYREF)
        self.vals.append(I32)

    def _h_array_fill(self, ins):
        x = ins[1]
        at = self.mutable_array(x)
        self.pop(I32)
        self.pop(_unpack(at.field.storage))
        self.pop(I32)
        self.pop(RefType(True, x))

    def _h_array_copy(self, ins):
        x, y = ins[1], ins[2]
        dst = self.mutable_array(x)
        src = self.array_type(y)
        if not self.storage_matches(src.field.storage, dst.field.storage):
            raise _Invalid(f"array types do not match: array.copy from type {y} to type {x}")
        self.pop(I32)
        self.pop(I32)
        self.pop(RefType(True, y))
        self.pop(I32)
        self.pop(RefType(True, x))

    def _h_array_init_data(self, ins):
        x, y = ins[1], ins[2]
        at = self.mutable_array(x)
        self.array_numeric(x, at)
        self.data(y)
        self.pop(I32)
        self.pop(I32)
        self.pop(I32)
        self.pop(RefType(True, x))

    def _h_array_init_elem(self, ins):
        x, y = ins[1], ins[2]
        at = self.mutable_array(x)
        rt = self.elem(y)
        if not self.storage_matches(rt, at.field.storage):
            raise _Invalid(f"type mismatch: elem segment {y} of type {_tn(rt)} does not match "
                           f"the element type of array type {x}")
        self.pop(I32)
        self.pop(I32)
        self.pop(I32)
        self.pop(RefType(True, x))


_FUNCREF = RefType(True, "func")
_EXNREF = RefType(True, "exn")
_EQREF = RefType(True, "eq")
_ANYREF = RefType(True, "any")
_EXTERNREF = RefType(True, "extern")
_ARRAYREF = RefType(True, "array")
_I31REF = RefType(True, "i31")
_I31_NN = RefType(False, "i31")
_REF_FUNC_ID = next(o.id for o in OPS if o.name == "ref.func")
_GLOBAL_GET_ID = next(o.id for o in OPS if o.name == "global.get")
_REF_NULL_ID = next(o.id for o in OPS if o.name == "ref.null")

#: Handler per op id (unbound methods, called as ``handler(validator, ins)``).
_HANDLERS = [getattr(_Validator, "_h_" + o.name.replace(".", "_"), None) for o in OPS]
# Every row is either typed by the table (fast paths) or has a handler.
_missing = [o.name for o in OPS if _KIND[o.id] == _K_OTHER and _HANDLERS[o.id] is None]
assert not _missing, f"validate.py has no handler for: {_missing}"
del _missing


def validate_module(module: Module) -> None:
    """Validate a decoded module; raise ValidationError if it is invalid.

    On success (and also once the type section has been found valid) sets
    ``module.canonical`` to the list of :class:`CanonKey` per type index.
    """
    _Validator(module).run()
