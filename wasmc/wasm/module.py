"""The in-memory model of a decoded WebAssembly module.

``decode.decode_module`` produces a :class:`Module`; ``validate.validate``
checks it (and fills in the derived facts later stages need, such as the
canonical type ids); ``compile.lower`` reads it.  The model is plain data:
named tuples for small immutable things, a dataclass for the module.

Value types
    Numeric and vector types are the interned strings ``"i32" "i64" "f32"
    "f64" "v128"``.  Reference types are :class:`RefType` ``(nullable,
    heap)`` where ``heap`` is an abstract heap type name (``"func"``,
    ``"extern"``, ``"any"``, ``"eq"``, ``"i31"``, ``"struct"``, ``"array"``,
    ``"exn"``, ``"none"``, ``"nofunc"``, ``"noextern"``, ``"noexn"``) or a
    type index (int) into ``Module.types``.  Packed storage types of GC
    fields are ``"i8"`` and ``"i16"``.

Instructions
    A function body (and every constant expression) is a list of tuples
    ``(op, *immediates)`` where ``op`` is the :class:`~wasmc.wasm.opcodes.Op`
    row and the immediates follow the row's ``imm`` kinds, decoded as:

    ========== ============================================================
    blocktype  ``None`` (no result), a value type, or a type index (int)
    label etc. int indices (``func type table mem local global data elem
               tag field u32``)
    labels     ``(tuple_of_label_indices, default_label)`` -- one immediate
    memarg     *three* immediates: ``memidx, offset, align`` (align as the
               log2 exponent from the binary; a hint only, never a promise)
    i32/i64    Python int, *signed* (as the LEB128 encodes it)
    f32/f64    the raw IEEE bit pattern as an unsigned int (never a float:
               NaN payloads must survive)
    v128       ``bytes`` of length 16 (little-endian, lane 0 first)
    lane       int
    shuffle    ``bytes`` of length 16
    valtypes   tuple of value types (``select t*``)
    heaptype   abstract heap type name or type index
    castflags  ``(flags, label, heaptype1, heaptype2)`` (br_on_cast*)
    catches    tuple of :class:`Catch`
    ========== ============================================================

    ``Code.offsets[i]`` is the byte offset of instruction ``i`` in the file,
    for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

I32, I64, F32, F64, V128 = "i32", "i64", "f32", "f64", "v128"
NUMERIC = (I32, I64, F32, F64, V128)

#: abstract heap types, by hierarchy (top first)
ABSTRACT_HEAP = ("func", "nofunc", "extern", "noextern", "any", "eq", "i31", "struct",
                 "array", "none", "exn", "noexn")


class RefType(NamedTuple):
    nullable: bool
    heap: str | int

    def __str__(self) -> str:
        h = self.heap if isinstance(self.heap, str) else f"${self.heap}"
        return f"(ref {'null ' if self.nullable else ''}{h})"


FUNCREF = RefType(True, "func")
EXTERNREF = RefType(True, "extern")
ANYREF = RefType(True, "any")
EXNREF = RefType(True, "exn")


def type_name(t) -> str:
    """Human-readable name of a value type (for messages)."""
    if t is None:
        return "(unknown)"
    if isinstance(t, RefType):
        if t.nullable and isinstance(t.heap, str) and t.heap in ABSTRACT_HEAP:
            short = {"func": "funcref", "extern": "externref", "any": "anyref", "eq": "eqref",
                     "i31": "i31ref", "struct": "structref", "array": "arrayref", "exn": "exnref",
                     "none": "nullref", "nofunc": "nullfuncref", "noextern": "nullexternref",
                     "noexn": "nullexnref"}
            return short[t.heap]
        return str(t)
    return t


class FuncType(NamedTuple):
    params: tuple
    results: tuple


class FieldType(NamedTuple):
    storage: object  # value type, "i8" or "i16"
    mutable: bool


class StructType(NamedTuple):
    fields: tuple  # of FieldType


class ArrayType(NamedTuple):
    field: FieldType


class SubType(NamedTuple):
    """One entry of the type index space.

    ``group``/``index_in_group`` locate it in its recursion group:
    ``Module.rec_groups[group]`` is ``(first_type_index, count)``.
    """

    final: bool
    supers: tuple  # type indices (at most one in Wasm 3.0)
    comp: object  # FuncType | StructType | ArrayType
    group: int
    index_in_group: int


class Limits(NamedTuple):
    min: int
    max: int | None
    is64: bool = False
    shared: bool = False


class TableType(NamedTuple):
    elem: RefType
    limits: Limits


class MemoryType(NamedTuple):
    limits: Limits


class GlobalType(NamedTuple):
    type: object
    mutable: bool


class TagType(NamedTuple):
    type_index: int  # a function type with no results


class Import(NamedTuple):
    module: str
    name: str
    kind: str  # "func" | "table" | "memory" | "global" | "tag"
    desc: object  # type index (func) | TableType | MemoryType | GlobalType | TagType


class Export(NamedTuple):
    name: str
    kind: str
    index: int


class Global(NamedTuple):
    type: GlobalType
    init: list  # constant expression (instruction list, ending with `end`)


class Table(NamedTuple):
    type: TableType
    init: list | None  # constant expression, or None (ref.null of the element type)


class Catch(NamedTuple):
    kind: int  # 0 catch, 1 catch_ref, 2 catch_all, 3 catch_all_ref
    tag: int | None
    label: int


class Elem(NamedTuple):
    mode: str  # "passive" | "active" | "declarative"
    table: int
    offset: list | None  # constant expression for active segments
    type: RefType
    items: list  # list of constant expressions
    func_indices: tuple | None  # when every item is a plain `ref.func i` (fast path)


class Data(NamedTuple):
    mode: str  # "passive" | "active"
    memory: int
    offset: list | None
    data: bytes


@dataclass
class Code:
    locals: list  # list of (count, type)
    body: list  # instruction tuples
    offsets: list  # byte offset of each instruction
    start: int  # byte offset of the body (after the size field)
    end: int


@dataclass
class CustomSection:
    name: str
    offset: int  # of the payload (after the name)
    size: int


@dataclass
class Names:
    module: str | None = None
    functions: dict = field(default_factory=dict)  # func index -> name
    locals: dict = field(default_factory=dict)  # func index -> {local index -> name}


@dataclass
class Module:
    types: list = field(default_factory=list)  # SubType per type index
    rec_groups: list = field(default_factory=list)  # (first index, count)
    imports: list = field(default_factory=list)
    funcs: list = field(default_factory=list)  # type index per *defined* function
    tables: list = field(default_factory=list)  # Table per defined table
    memories: list = field(default_factory=list)  # MemoryType per defined memory
    globals: list = field(default_factory=list)  # Global per defined global
    tags: list = field(default_factory=list)  # TagType per defined tag
    exports: list = field(default_factory=list)
    start: int | None = None
    elems: list = field(default_factory=list)
    datas: list = field(default_factory=list)
    data_count: int | None = None
    codes: list = field(default_factory=list)
    customs: list = field(default_factory=list)
    names: Names = field(default_factory=Names)
    size: int = 0
    # Filled by the validator: canonical id per type index (equal ids <=>
    # equivalent types under the iso-recursive equivalence of Wasm 3.0).
    canonical: list | None = None

    # --- combined index spaces (imports first, then definitions) -----------
    def imported(self, kind: str) -> list:
        return [i for i in self.imports if i.kind == kind]

    @property
    def num_imported_funcs(self) -> int:
        return sum(1 for i in self.imports if i.kind == "func")

    def func_type_indices(self) -> list:
        """Type index of every function in the function index space."""
        return [i.desc for i in self.imports if i.kind == "func"] + list(self.funcs)

    def all_tables(self) -> list:
        return [i.desc for i in self.imports if i.kind == "table"] + [t.type for t in self.tables]

    def all_memories(self) -> list:
        return [i.desc for i in self.imports if i.kind == "memory"] + list(self.memories)

    def all_globals(self) -> list:
        return [i.desc for i in self.imports if i.kind == "global"] + [g.type for g in self.globals]

    def all_tags(self) -> list:
        return [i.desc for i in self.imports if i.kind == "tag"] + list(self.tags)

    def func_type(self, type_index: int) -> FuncType:
        return self.types[type_index].comp
