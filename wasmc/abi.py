"""The ABI between compiled code, the image descriptor and the C shim -- defined once.

LEAF MODULE: standard library only.  The compiler (compile/lower/), the
image packer (link/image.py), the Python runtime (runtime/) and the C shim
(through the generated ``runtime-shim/include/wasmc_abi.h``) all take their
layouts from here, so none of them ever guesses an offset.

Contents

* ``VMCTX``: the fixed part of the per-instance VMContext, then the rule for
  the module-specific part (:class:`VMOffsets`, like Wasmtime's VMOffsets).
* The runtime records the VMContext points at (``MEMORY``, ``TABLE``,
  ``FUNCREF``, ``HOSTFUNC``, ``LIMITS``, ``VAL``).
* ``BUILTINS``: the function-pointer table compiled code calls into the shim
  through (``vmctx->builtins``).  Compiled code never has an undefined
  symbol except the ``LIBCALLS`` LLVM itself may introduce, which the linker
  satisfies from wasmc's own libcall object.
* ``TRAPS``: trap codes, their spec message and short kind.
* The image descriptor records (``IMAGE_HEADER`` and friends) that describe a
  module to the shim with image-relative offsets only.
* ``ABI_VERSION``: a hash of everything above, stamped into every image and
  checked by the shim; it changes exactly when the ABI does.
* ``HOST_STRUCTS``: the records of the shim's C API (``wasmc_error``,
  ``wasmc_extern``, ``wasmc_global``, ``wasmc_extern_type``,
  ``wasmc_store_limits``).  Compiled code
  never sees them, so they are rendered after the hashed part and do not
  change ``ABI_VERSION``; the ctypes mirrors in ``runtime/shim.py`` are
  generated from them (and from the runtime records above).

Pointers are 8 bytes on every supported target (x86-64, aarch64, riscv64
LP64), so every offset here is target independent.  Alignment is always
explicit: a field's offset is the running size rounded up to the field's
own size (at most 8), and structs are padded to their alignment.  Nothing
is inferred from a C compiler; a generated ``_Static_assert`` per field
checks that the C compiler agrees.

Calling convention of compiled code (all generated in LLVM IR, C ABI):

* every Wasm function (and every host adapter) is
  ``R f(ptr callee_vmctx, ptr caller_vmctx, P1, ..., Pn)``
  where R is void, the single result type, or a literal struct of the
  results for multi-value.  ``caller_vmctx`` lets host functions (WASI) reach
  the caller's memory; within a module both arguments are the same.
* an *array-call trampoline* (one per function type) is
  ``void tramp(ptr callee_vmctx, ptr code, ptr caller_vmctx, ptr values)``:
  it loads the parameters from ``values`` (an array of 16-byte ``VAL``
  slots), calls ``code`` and stores the results back into ``values``.
  The host calls every export through one of these.
* a *host function* is ``int32 fn(ptr env, ptr caller_vmctx, ptr values)``
  (``HOSTFUNC.fn``); it returns 0 or a trap code.  The importing module
  supplies a per-type adapter that spills the arguments into ``values``,
  calls ``fn`` and raises the trap if the status is non-zero.

Value representation in registers and in ``VAL`` slots: i32/i64/f32/f64 as
themselves (f32/f64 slots hold the raw bits), v128 as 16 little-endian
bytes, every reference as one pointer (null = 0): a funcref points at a
``FUNCREF`` record, an externref is an opaque non-zero host handle.
"""

from __future__ import annotations

import hashlib
from collections import namedtuple

PTR = 8  # pointer size on every supported target
VAL_SIZE = 16  # one value slot (fits v128)
PAGE_SIZE = 65536  # Wasm page
VMCTX_MAGIC = 0x636D7377  # b"wsmc" little-endian
IMAGE_MAGIC = 0x494D5357  # b"WSMI" little-endian
NO_INDEX = 0xFFFFFFFF  # "none" in u32 index fields
NO_MAX = 0xFFFFFFFFFFFFFFFF  # "no maximum" in u64 limit fields

# C spelling of the field types used below.
_CTYPES = {
    "u8": ("uint8_t", 1), "u32": ("uint32_t", 4), "i32": ("int32_t", 4), "u64": ("uint64_t", 8),
    "i64": ("int64_t", 8), "ptr": ("void *", 8), "uptr": ("uintptr_t", 8), "char": ("char", 1),
}
#: Aggregates a field may hold by value: C name -> (size, alignment).  A
#: field type may also be an array, ``"<type>[N]"`` (only in HOST_STRUCTS).
_AGGREGATES = {"wasmc_val": (16, 8), "wasmc_frame": (16, 8)}
_LAYOUTS: dict = {}  # Struct -> its layout (Struct.layout)


# The records below are collections.namedtuple classes, not typing.NamedTuple
# ones: this module is on the run path, and importing typing costs more than
# `wasmc exec` may spend on it (docs/benchmarks.md, "Start-up").

class Field(namedtuple("Field", "name type doc")):
    """``type``: a key of _CTYPES, "struct <name> *" for typed pointers, an
    _AGGREGATES name, or "<type>[N]"."""

    __slots__ = ()


class Struct(namedtuple("Struct", "name doc fields")):
    """A C struct laid out by the rules in the module docstring (``fields``:
    a tuple of Field)."""

    __slots__ = ()

    def layout(self) -> list[tuple[Field, int]]:
        lay = _LAYOUTS.get(self)
        if lay is None:  # computed once per struct: a layout never changes
            out, off = [], 0
            for f in self.fields:
                align = _align(f.type)
                off = (off + align - 1) // align * align
                out.append((f, off))
                off += _size(f.type)
            lay = _LAYOUTS[self] = tuple(out)
        return list(lay)

    @property
    def size(self) -> int:
        lay = self.layout()
        if not lay:
            return 0
        f, off = lay[-1]
        end = off + _size(f.type)
        align = max(_align(f.type) for f, _ in lay)
        return (end + align - 1) // align * align

    def offset(self, name: str) -> int:
        for f, off in self.layout():
            if f.name == name:
                return off
        raise KeyError(f"{self.name}.{name}")

    def struct_format(self) -> str:
        """``struct`` module format (little-endian, explicit padding)."""
        fmt, pos = "<", 0
        codes = {"u8": "B", "u32": "I", "i32": "i", "u64": "Q", "i64": "q", "ptr": "Q", "uptr": "Q"}
        for f, off in self.layout():
            if off > pos:
                fmt += f"{off - pos}x"
            fmt += codes[f.type if f.type in codes else "ptr"]
            pos = off + _size(f.type)
        if self.size > pos:
            fmt += f"{self.size - pos}x"
        return fmt

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def array_type(t: str) -> tuple[str, int] | None:
    """(element type, count) of an array field type ``"<type>[N]"``, else None."""
    if t.endswith("]"):
        elem, _, n = t[:-1].rpartition("[")
        return elem, int(n)
    return None


def _size(t: str) -> int:
    arr = array_type(t)
    if arr:
        return _size(arr[0]) * arr[1]
    if t in _CTYPES:
        return _CTYPES[t][1]
    if t in _AGGREGATES:
        return _AGGREGATES[t][0]
    if t.endswith("*"):
        return PTR
    raise ValueError(t)


def _align(t: str) -> int:
    """A field's alignment: its element's for arrays, else its own size (at most 8)."""
    arr = array_type(t)
    if arr:
        return _align(arr[0])
    if t in _AGGREGATES:
        return _AGGREGATES[t][1]
    return min(_size(t), 8)


def _ctype(t: str) -> str:
    return _CTYPES[t][0] if t in _CTYPES else t


def _c_field(f: Field) -> str:
    """The C declaration of field F (arrays put their bound after the name)."""
    arr = array_type(f.type)
    if arr:
        return f"{_ctype(arr[0])} {f.name}[{arr[1]}]"
    return f"{_ctype(f.type)} {f.name}"


# ---------------------------------------------------------------------------
# Runtime records
# ---------------------------------------------------------------------------

LIMITS = Struct("wasmc_limits", "Per-thread execution limits, shared by every instance entered on that thread.", (
    Field("stack_limit", "uptr", "lowest stack address guest code may use; prologues trap below it"),
    Field("fuel", "i64", "fuel left: code built with fuel metering (IMAGE_FLAG_FUEL) subtracts what it "
          "runs and traps 'out of fuel' at a function entry or loop header when it is <= 0"),
    Field("interrupt", "u64", "non-zero: an interrupt is pending; guest code traps with "
          "'interrupted' (host-call adapters check it after every host call)"),
    Field("eh_top", "ptr", "innermost exception-handler record of guest code (EH_RECORD_*), or what "
          "the current entry started with"),
    Field("exn", "ptr", "the exception being delivered to a handler (struct wasmc_exn *)"),
    Field("args", "ptr", "ARGS_SLOTS VAL slots: arguments and results that the 'uniform' calling "
          "convention (riscv64) passes in memory"),
))

#: Exception-handler record, in the frame of a function with a try block: a
#: C library jmp_buf (the shim asserts it fits) and, at EH_RECORD_PREV, the
#: record it was pushed on (compile/lower/eh.py).
EH_RECORD_SIZE = 512
EH_RECORD_PREV = EH_RECORD_SIZE - PTR

#: Size of limits->args, in VAL slots: a function type has at most this many
#: parameters or results passed in memory by the uniform convention.
ARGS_SLOTS = 1024

TAG = Struct("wasmc_tag", "An exception tag instance (its identity is its address).", (
    Field("type_id", "u32", "canonical type id of the tag's function type"),
    Field("nparams", "u32", "payload values of its exceptions"),
))

EXN = Struct("wasmc_exn", "An exception: its tag and, after this header, nvalues VAL slots of payload.", (
    Field("tag", "struct wasmc_tag *", ""),
    Field("nvalues", "u32", ""),
    Field("flags", "u32", ""),
))

MEMORY = Struct("wasmc_memory", "A linear memory. Its base never moves: 32-bit memories live in a "
                "reservation of RESERVATION bytes and grow in place.", (
    Field("base", "ptr", "first byte of the memory"),
    Field("size", "u64", "current size in bytes (a multiple of PAGE_SIZE)"),
    Field("max_pages", "u64", "maximum size in pages (declared max, or the implementation limit)"),
    Field("declared_max", "u64", "maximum in pages as declared (NO_MAX if none): import matching uses it"),
    Field("reserved", "u64", "bytes of address space reserved at base (0 = none)"),
    Field("flags", "u32", "MEMORY_FLAG_*"),
    Field("pad", "u32", ""),
))

TABLE = Struct("wasmc_table", "A table of references (one pointer per element).", (
    Field("elems", "ptr", "the elements; may move when the table grows"),
    Field("size", "u64", "current number of elements"),
    Field("max", "u64", "maximum number of elements (declared max, or the implementation limit)"),
    Field("declared_max", "u64", "maximum as declared (NO_MAX if none): import matching uses it"),
    Field("capacity", "u64", "elements allocated at elems"),
    Field("elem_type", "u32", "VALTYPE_* of the elements"),
    Field("flags", "u32", "TABLE_FLAG_*"),
))

FUNCREF = Struct("wasmc_funcref", "What a funcref points at: one record per function instance.", (
    Field("code", "ptr", "Wasm-ABI entry: R code(callee_vmctx, caller_vmctx, params...)"),
    Field("vmctx", "ptr", "callee vmctx (for host functions: their HOSTFUNC env)"),
    Field("array_call", "ptr", "array-call trampoline for the function's type"),
    Field("type_id", "u32", "process-wide canonical type id (call_indirect compares it)"),
    Field("flags", "u32", "FUNCREF_FLAG_*"),
))

HOSTFUNC = Struct("wasmc_hostfunc", "Environment of a host function; the first field is called by the adapter.", (
    Field("fn", "ptr", "int32_t fn(wasmc_hostfunc *env, wasmc_vmctx *caller, wasmc_val *values)"),
    Field("data", "ptr", "owner data (a WASI context, a Python callback handle, ...)"),
    Field("type_id", "u32", "canonical type id of the function type"),
    Field("nparams", "u32", ""),
    Field("nresults", "u32", ""),
    Field("flags", "u32", ""),
))

#: The fixed head of every VMContext.  Hot fields first, so offsets stay small.
#: The module-specific part follows at VMCTX.size; see VMOffsets.
VMCTX = Struct("wasmc_vmctx", "Per-instance context; compiled code receives a pointer to it.", (
    Field("magic", "u32", "VMCTX_MAGIC"),
    Field("flags", "u32", "VMCTX_FLAG_*"),
    Field("limits", "struct wasmc_limits *", "per-thread limits (stack_limit is checked in every prologue)"),
    Field("builtins", "ptr", "const wasmc_builtins * (function pointers into the shim)"),
    Field("instance", "ptr", "the shim's private instance record"),
    Field("funcrefs", "ptr", "wasmc_funcref *[nfuncs]: every function of the index space"),
    Field("type_ids", "ptr", "uint32_t[ntypes]: canonical type id per type index"),
))

VMCTX_FLAG_HAS_MEMORY0 = 1  # memories[0] exists (host functions may use the caller's memory 0)
MEMORY_FLAG_64 = 1  # memory64: i64 addresses
MEMORY_FLAG_BOUNDS_CHECKED = 2  # compiled code checks bounds explicitly (no guard reservation)
MEMORY_FLAG_SHARED = 4
TABLE_FLAG_64 = 1
FUNCREF_FLAG_HOST = 1  # code is a host adapter and vmctx a HOSTFUNC env

#: Address space reserved per 32-bit memory: 4 GiB of addressable range plus
#: 4 GiB of guard, so base + zext(i32) + offset(u32) never leaves the
#: reservation and needs no bounds check -- plus one more Wasm page, because
#: an access of N bytes at the largest such address (2^33 - 2) reaches
#: 2^33 + N - 2: its last bytes (which a store probe on some targets reads
#: first) must still land in the guard.
RESERVATION = (8 << 30) + PAGE_SIZE

# Value type codes in descriptors and VAL slots (the Wasm binary encodings).
VALTYPE_I32, VALTYPE_I64, VALTYPE_F32, VALTYPE_F64, VALTYPE_V128 = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B
VALTYPE_FUNCREF, VALTYPE_EXTERNREF, VALTYPE_ANYREF, VALTYPE_EXNREF = 0x70, 0x6F, 0x6E, 0x69
VALTYPES = {"i32": VALTYPE_I32, "i64": VALTYPE_I64, "f32": VALTYPE_F32, "f64": VALTYPE_F64,
            "v128": VALTYPE_V128, "funcref": VALTYPE_FUNCREF, "externref": VALTYPE_EXTERNREF,
            "anyref": VALTYPE_ANYREF, "exnref": VALTYPE_EXNREF}


def heap_type_code(heap) -> int:
    """The descriptor's code of a reference to HEAP (a heap type name, or a
    type index for typed function references): the hierarchy it belongs to."""
    if heap in ("func", "nofunc") or isinstance(heap, int):
        return VALTYPE_FUNCREF
    if heap in ("extern", "noextern"):
        return VALTYPE_EXTERNREF
    if heap in ("exn", "noexn"):
        return VALTYPE_EXNREF
    return VALTYPE_ANYREF


class VMOffsets:
    """Offsets of the module-specific part of a VMContext.

    Layout after the fixed head (VMCTX.size bytes):

    1. ``memories``: one ``{ptr base, struct wasmc_memory *def}`` pair per
       memory of the index space (imported first).  ``base`` is cached
       because it never moves.  The array starts at ``VMCTX.size``, so C code
       reaches memory 0 of any instance as ``vmctx->memories[0]``.
    2. ``tables``: one ``struct wasmc_table *`` per table.
    3. ``imported_globals``: one pointer per imported global (to its VAL slot).
    4. ``globals``: one 16-byte VAL slot per defined global (16-aligned).
    5. ``defined_funcrefs``: one FUNCREF record per defined function (the
       records ``funcrefs[]`` points at for defined functions).
    6. ``funcref_ptrs``: ``struct wasmc_funcref *[nfuncs]``, the array
       ``vmctx->funcrefs`` points at (imported first).
    7. ``type_id_array``: ``uint32_t[ntypes]`` (``vmctx->type_ids`` points here).
    8. ``tags``: ``struct wasmc_tag *[ntags]`` (8-aligned; imported first).
    """

    MEMORY_ENTRY = 16

    def __init__(self, nmemories: int, ntables: int, nimported_globals: int, nglobals: int,
                 ndefined_funcs: int, nfuncs: int, ntypes: int, ntags: int = 0):
        off = VMCTX.size
        self.memories = off
        off += nmemories * self.MEMORY_ENTRY
        self.tables = off
        off += ntables * PTR
        self.imported_globals = off
        off += nimported_globals * PTR
        off = (off + 15) // 16 * 16
        self.globals = off
        off += nglobals * VAL_SIZE
        self.defined_funcrefs = off
        off += ndefined_funcs * FUNCREF.size
        self.funcref_ptrs = off
        off += nfuncs * PTR
        self.type_id_array = off
        off += ntypes * 4
        off = (off + PTR - 1) // PTR * PTR
        self.tags = off
        off += ntags * PTR
        self.size = (off + 15) // 16 * 16

    def memory_base(self, i: int) -> int:
        return self.memories + i * self.MEMORY_ENTRY

    def memory_def(self, i: int) -> int:
        return self.memories + i * self.MEMORY_ENTRY + PTR

    def table(self, i: int) -> int:
        return self.tables + i * PTR

    def imported_global(self, i: int) -> int:
        return self.imported_globals + i * PTR

    def global_slot(self, defined_index: int) -> int:
        return self.globals + defined_index * VAL_SIZE

    def defined_funcref(self, defined_index: int) -> int:
        return self.defined_funcrefs + defined_index * FUNCREF.size

    def funcref_ptr(self, i: int) -> int:
        return self.funcref_ptrs + i * PTR

    def tag(self, i: int) -> int:
        return self.tags + i * PTR


def func_type_key(params, results) -> bytes:
    """Canonical key of a plain function type (final, no supertypes, alone in
    its recursion group), from value type names (``i32 ... v128 funcref
    externref``).  Equal keys mean equivalent types; the runtime interns keys
    into the ids call_indirect compares.  Types that involve GC features get
    keys from the validator's canonicalisation instead (prefixed ``gc:``)."""
    return ("func(" + ",".join(params) + ")->(" + ",".join(results) + ")").encode()


# ---------------------------------------------------------------------------
# Traps
# ---------------------------------------------------------------------------

class TrapCode(namedtuple("TrapCode", "name code message")):
    """``name``: the C enum suffix; ``message``: the spec interpreter's
    wording, shown to users."""

    __slots__ = ()


TRAPS = (
    TrapCode("NONE", 0, "no trap"),
    TrapCode("UNREACHABLE", 1, "unreachable"),
    TrapCode("MEMORY_OOB", 2, "out of bounds memory access"),
    TrapCode("TABLE_OOB", 3, "out of bounds table access"),
    TrapCode("INDIRECT_TYPE", 4, "indirect call type mismatch"),
    TrapCode("UNINITIALIZED", 5, "uninitialized element"),
    TrapCode("UNDEFINED", 6, "undefined element"),
    TrapCode("DIV_ZERO", 7, "integer divide by zero"),
    TrapCode("INT_OVERFLOW", 8, "integer overflow"),
    TrapCode("BAD_CONVERSION", 9, "invalid conversion to integer"),
    TrapCode("STACK_EXHAUSTED", 10, "call stack exhausted"),
    TrapCode("NULL_REFERENCE", 11, "null reference"),
    TrapCode("NULL_FUNCTION", 12, "null function reference"),
    TrapCode("HOST", 13, "host function failed"),
    TrapCode("EXIT", 14, "guest called proc_exit"),
    TrapCode("UNCAUGHT_EXCEPTION", 15, "uncaught exception"),
    TrapCode("CAST_FAILURE", 16, "cast failure"),
    TrapCode("ARRAY_OOB", 17, "out of bounds array access"),
    TrapCode("NULL_STRUCT", 18, "null structure reference"),
    TrapCode("NULL_ARRAY", 19, "null array reference"),
    TrapCode("NULL_I31", 20, "null i31 reference"),
    TrapCode("ALLOCATION", 21, "allocation too large"),
    TrapCode("INTERRUPT", 22, "interrupted"),
    TrapCode("MISALIGNED", 23, "misaligned memory access"),
    TrapCode("NULL_EXCEPTION", 24, "null exception reference"),
    TrapCode("EXCEPTION", 25, "exception"),  # a host function's status: throw limits->exn
    TrapCode("OUT_OF_FUEL", 26, "out of fuel"),
)
TRAP_BY_NAME = {t.name: t for t in TRAPS}
TRAP_BY_CODE = {t.code: t for t in TRAPS}


def trap_code(name: str) -> int:
    return TRAP_BY_NAME[name].code


# ---------------------------------------------------------------------------
# Builtins: the shim functions compiled code calls through vmctx->builtins
# ---------------------------------------------------------------------------

class Builtin(namedtuple("Builtin", "name result params doc")):
    """``result``: "void" or a _CTYPES key; ``params``: _CTYPES keys ("ptr"
    for vmctx)."""

    __slots__ = ()


BUILTINS = (
    Builtin("trap", "void", ("ptr", "u32"), "raise trap CODE (never returns)"),
    Builtin("memory_grow", "i64", ("ptr", "u32", "u64"),
            "grow memory MEM by DELTA pages; old size in pages, or -1"),
    Builtin("memory_fill", "void", ("ptr", "u32", "u64", "u32", "u64"), "memory.fill MEM DST VAL LEN"),
    Builtin("memory_copy", "void", ("ptr", "u32", "u32", "u64", "u64", "u64"),
            "memory.copy DSTMEM SRCMEM DST SRC LEN"),
    Builtin("memory_init", "void", ("ptr", "u32", "u32", "u64", "u32", "u32"),
            "memory.init MEM SEG DST SRC LEN"),
    Builtin("data_drop", "void", ("ptr", "u32"), "data.drop SEG"),
    Builtin("table_grow", "i64", ("ptr", "u32", "ptr", "u64"),
            "grow table TAB by DELTA filled with INIT; old size, or -1"),
    Builtin("table_fill", "void", ("ptr", "u32", "u64", "ptr", "u64"), "table.fill TAB DST VAL LEN"),
    Builtin("table_copy", "void", ("ptr", "u32", "u32", "u64", "u64", "u64"),
            "table.copy DSTTAB SRCTAB DST SRC LEN"),
    Builtin("table_init", "void", ("ptr", "u32", "u32", "u64", "u32", "u32"),
            "table.init TAB SEG DST SRC LEN"),
    Builtin("elem_drop", "void", ("ptr", "u32"), "elem.drop SEG"),
    Builtin("host_trap", "void", ("ptr", "u32"),
            "a host function returned non-zero STATUS: raise it (never returns)"),
    Builtin("setjmp", "i32", ("ptr",), "the C library's _setjmp, for handler records (eh.py)"),
    Builtin("exn_new", "ptr", ("ptr", "ptr"), "a new exception of tag TAG (payload slots to fill)"),
    Builtin("throw", "void", ("ptr", "ptr"), "throw EXN to the innermost handler (never returns)"),
)
BUILTIN_INDEX = {b.name: i for i, b in enumerate(BUILTINS)}


def builtin_offset(name: str) -> int:
    return BUILTIN_INDEX[name] * PTR


#: Symbols LLVM's code generator may call on its own (for intrinsics it does
#: not expand inline on some target).  The linker resolves exactly these from
#: wasmc's libcall object; any other undefined symbol is a LinkError.
LIBCALLS = ("memcpy", "memmove", "memset", "ceil", "ceilf", "floor", "floorf", "trunc", "truncf",
            "roundeven", "roundevenf", "nearbyint", "nearbyintf", "rint", "rintf")


# ---------------------------------------------------------------------------
# The image descriptor (at image offset 0).  All offsets are image-relative.
# ---------------------------------------------------------------------------

def _u32s(*names_docs) -> tuple:
    return tuple(Field(n, "u32", d) for n, d in names_docs)


IMAGE_HEADER = Struct("wasmc_image_header", "Start of every image: what the shim needs to instantiate it.", (
    *_u32s(("magic", "IMAGE_MAGIC"), ("abi_version", "ABI_VERSION of the compiler"),
           ("image_size", "bytes in the image"), ("flags", "IMAGE_FLAG_*"),
           ("text_start", "first byte of code"), ("text_end", "end of code"),
           ("vmctx_size", "bytes of VMContext"),
           ("vm_memories", "VMOffsets.memories"), ("vm_tables", "VMOffsets.tables"),
           ("vm_imported_globals", "VMOffsets.imported_globals"), ("vm_globals", "VMOffsets.globals"),
           ("vm_defined_funcrefs", "VMOffsets.defined_funcrefs"),
           ("vm_funcref_ptrs", "VMOffsets.funcref_ptrs"), ("vm_type_ids", "VMOffsets.type_id_array"),
           ("ntypes", ""), ("types", "offset of TYPE_DESC[ntypes]"),
           ("nimports", ""), ("imports", "offset of IMPORT_DESC[nimports]"),
           ("nfuncs", "functions in the index space"), ("nimported_funcs", ""),
           ("funcs", "offset of FUNC_DESC[nfuncs - nimported_funcs]"),
           ("ntables", ""), ("nimported_tables", ""), ("tables", "offset of TABLE_DESC[ntables]"),
           ("nmemories", ""), ("nimported_memories", ""), ("memories", "offset of MEMORY_DESC[nmemories]"),
           ("nglobals", ""), ("nimported_globals", ""), ("globals", "offset of GLOBAL_DESC[nglobals]"),
           ("nexports", ""), ("exports", "offset of EXPORT_DESC[nexports]"),
           ("nelems", ""), ("elems", "offset of ELEM_DESC[nelems]"),
           ("ndatas", ""), ("datas", "offset of DATA_DESC[ndatas]"),
           ("start_func", "function index of the start function, or NO_INDEX"),
           ("init_globals", "code offset of void init_globals(vmctx), or 0"),
           ("strings", "offset of the string blob"), ("strings_size", ""),
           ("module_name", "string offset of the module's name, or NO_INDEX"),
           ("ntags", ""), ("nimported_tags", ""), ("tags", "offset of TAG_DESC[ntags]"),
           ("vm_tags", "VMOffsets.tags")),
))

IMAGE_FLAG_GUARD_PAGES = 1  # 32-bit memories rely on an 8 GiB reservation (no bounds checks)
IMAGE_FLAG_FUEL = 2  # built with fuel metering: its code consumes limits->fuel (compile/lower/fuel.py)

TYPE_DESC = Struct("wasmc_type_desc", "One entry of the type section.", _u32s(
    ("kind", "TYPE_KIND_*"), ("nparams", ""), ("nresults", ""),
    ("valtypes", "offset of nparams+nresults VALTYPE_* bytes"),
    ("key", "string offset of the canonical type key (equal keys = equivalent types)"),
    ("key_len", ""),
))
TYPE_KIND_FUNC, TYPE_KIND_STRUCT, TYPE_KIND_ARRAY = 0, 1, 2

IMPORT_DESC = Struct("wasmc_import_desc", "One import.", _u32s(
    ("kind", "EXTERN_*"), ("module", "string offset"), ("module_len", ""),
    ("name", "string offset"), ("name_len", ""),
    ("index", "index in the kind's index space (imports come first)"),
    ("type", "type index for functions and tags"),
    ("adapter", "code offset of the host adapter for this function type (functions)"),
))
EXTERN_FUNC, EXTERN_TABLE, EXTERN_MEMORY, EXTERN_GLOBAL, EXTERN_TAG = 0, 1, 2, 3, 4

FUNC_DESC = Struct("wasmc_func_desc", "One defined function.", _u32s(
    ("code", "code offset"), ("code_size", "bytes of code"),
    ("array_call", "code offset of the array-call trampoline for its type"),
    ("type", "type index"), ("name", "string offset of its name, or NO_INDEX"), ("name_len", ""),
))

TABLE_DESC = Struct("wasmc_table_desc", "One table (imported ones describe the required type).", (
    Field("min", "u64", ""), Field("max", "u64", "NO_MAX if absent"),
    Field("elem_type", "u32", "VALTYPE_*"), Field("flags", "u32", "TABLE_FLAG_*"),
    Field("init", "u32", "code offset of ptr init(vmctx) giving the initial element, or 0 (null)"),
    Field("elem_key", "u32", "string offset of the element type's key (typed references)"),
    Field("elem_key_len", "u32", ""), Field("pad", "u32", ""),
))

MEMORY_DESC = Struct("wasmc_memory_desc", "One memory.", (
    Field("min", "u64", "pages"), Field("max", "u64", "pages, NO_MAX if absent"),
    Field("flags", "u32", "MEMORY_FLAG_*"), Field("pad", "u32", ""),
))

GLOBAL_DESC = Struct("wasmc_global_desc", "One global.", _u32s(
    ("valtype", "VALTYPE_*"), ("mutable", ""),
    ("key", "string offset of the value type's key (typed references)"), ("key_len", ""),
))

TAG_DESC = Struct("wasmc_tag_desc", "One tag (imported ones describe the required type).", _u32s(
    ("type", "type index (a function type with no results)"),
))

EXPORT_DESC = Struct("wasmc_export_desc", "One export.", _u32s(
    ("kind", "EXTERN_*"), ("index", ""), ("name", "string offset"), ("name_len", ""),
))

ELEM_DESC = Struct("wasmc_elem_desc", "One element segment.", _u32s(
    ("mode", "SEG_*"), ("table", ""), ("elem_type", "VALTYPE_*"),
    ("offset_fn", "code offset of uint64_t offset(vmctx) for active segments"),
    ("count", "number of items"),
    ("funcs", "offset of uint32_t[count] function indices (NO_INDEX = null), or 0"),
    ("items_fn", "code offset of void items(vmctx, void **out) when funcs is 0"),
    ("pad", ""),
))
SEG_PASSIVE, SEG_ACTIVE, SEG_DECLARATIVE = 0, 1, 2

DATA_DESC = Struct("wasmc_data_desc", "One data segment.", _u32s(
    ("mode", "SEG_*"), ("memory", ""),
    ("offset_fn", "code offset of uint64_t offset(vmctx) for active segments"),
    ("data", "offset of the bytes"), ("size", "number of bytes"), ("pad", ""),
))

DESCRIPTOR_STRUCTS = (IMAGE_HEADER, TYPE_DESC, IMPORT_DESC, FUNC_DESC, TABLE_DESC, MEMORY_DESC,
                      GLOBAL_DESC, TAG_DESC, EXPORT_DESC, ELEM_DESC, DATA_DESC)
RUNTIME_STRUCTS = (LIMITS, MEMORY, TABLE, FUNCREF, HOSTFUNC, TAG, EXN, VMCTX)

# ---------------------------------------------------------------------------
# The shim's C API records (wasmc_rt.h's calls take and fill them).  Compiled
# code never sees these, so they are not part of ABI_VERSION: an artifact
# stays valid when they change.  The Python runtime's ctypes mirrors
# (runtime/shim.py) are generated from these descriptions, and the header's
# _Static_asserts hold the C compiler to the same offsets.
# ---------------------------------------------------------------------------

MAX_FRAMES = 32  # Wasm frames kept in a trap's backtrace

#: wasmc_error.kind values: (C name, value, meaning).
ERROR_KINDS = (
    ("WASMC_OK", 0, "no error"),
    ("WASMC_ERR_ARTIFACT", 1, "the image is malformed or for another ABI"),
    ("WASMC_ERR_LINK", 2, "an import does not match"),
    ("WASMC_ERR_TRAP", 3, "guest code trapped (trap holds the code)"),
    ("WASMC_ERR_RESOURCE", 4, "out of memory / address space"),
    ("WASMC_ERR_USAGE", 5, "API misuse (e.g. a store entered from two threads)"),
    ("WASMC_ERR_LIMIT", 6, "instantiation needs more than a store's limits allow (wasmc_store_set_limits)"),
)


def _aggregate(s: Struct) -> Struct:
    """Let other structs hold S by value."""
    _AGGREGATES[s.name] = (s.size, max(_align(f.type) for f in s.fields))
    return s


FRAME = _aggregate(Struct("wasmc_frame", "One Wasm frame of a trap's backtrace.", (
    Field("image", "const struct wasmc_image *", "the image the function belongs to"),
    Field("func", "u32", "function index (in the module's function index space)"),
    Field("pad", "u32", ""),
)))

ERROR = Struct("wasmc_error", "What a call that failed reports.", (
    Field("kind", "i32", "WASMC_ERR_* (WASMC_OK: no error)"),
    Field("trap", "i32", "WASMC_TRAP_* when kind == WASMC_ERR_TRAP"),
    Field("nframes", "u32", "frames recorded"),
    Field("pad", "u32", ""),
    Field("exn", "ptr", "trap UNCAUGHT_EXCEPTION: the exception (struct wasmc_exn *, owned by the store)"),
    Field("frames", f"wasmc_frame[{MAX_FRAMES}]", "innermost first"),
    Field("message", "char[512]", "one line, NUL-terminated"),
))

EXTERN = Struct("wasmc_extern", "An extern passed as an import or obtained from an export.", (
    Field("kind", "u32", "EXTERN_*"),
    Field("pad", "u32", ""),
    Field("ptr", "ptr", "wasmc_funcref *, wasmc_table *, wasmc_memory *, wasmc_global * or wasmc_tag *"),
))

GLOBAL = Struct("wasmc_global", "A global.  value points at where the value lives: storage for a "
                "host-created global, the owning instance's VMContext slot for an exported defined "
                "global (those records belong to the instance and live as long as its store; "
                "retain/release do nothing for them).", (
    Field("value", "wasmc_val *", "the value's slot"),
    Field("valtype", "u32", "VALTYPE_*"),
    Field("mutable_", "u32", "1 if mutable"),
    Field("refcount", "u32", "host-created globals only"),
    Field("key_len", "u32", ""),
    Field("key", "char *", "the value type's text (typed references are matched by it)"),
    Field("owner", "struct wasmc_instance *", "the defining instance, or NULL if host-created"),
    Field("storage", "wasmc_val", "the value of a host-created global"),
))

EXTERN_TYPE = Struct("wasmc_extern_type", "One import, export or function type of a loaded image, read from "
                     "its checked descriptor (wasmc_image_import/_export/_type fill it).  Strings are "
                     "UTF-8, not NUL-terminated, and live as long as the image.", (
    Field("kind", "u32", "EXTERN_*"),
    Field("index", "u32", "index in the kind's index space (wasmc_image_type: the type index)"),
    Field("module", "const char *", "imports: the module name; NULL otherwise"),
    Field("name", "const char *", "imports and exports: the name; NULL otherwise"),
    Field("module_len", "u32", ""),
    Field("name_len", "u32", ""),
    Field("type_index", "u32", "functions and tags: their type index; NO_INDEX otherwise"),
    Field("nparams", "u32", "functions and tags"),
    Field("valtypes", "const uint8_t *", "functions and tags: nparams + nresults VALTYPE_* codes"),
    Field("nresults", "u32", "functions and tags"),
    Field("valtype", "u32", "tables: the element type; globals: the value type (VALTYPE_*)"),
    Field("type_key", "const char *", "functions and tags: the canonical type key; tables and globals: "
          "the element or value type's text"),
    Field("type_key_len", "u32", ""),
    Field("flags", "u32", "tables: TABLE_FLAG_*; memories: MEMORY_FLAG_*"),
    Field("mutable_", "u32", "globals: 1 if mutable"),
    Field("pad", "u32", ""),
    Field("min", "u64", "tables: elements; memories: pages"),
    Field("max", "u64", "NO_MAX if none"),
))

STORE_LIMITS = Struct("wasmc_store_limits", "A store's resource limits, as wasmtime's StoreLimits (NO_MAX: "
                      "none).  Growth beyond one fails as the spec allows (memory.grow and table.grow "
                      "return -1); instantiation that needs more fails with WASMC_ERR_LIMIT.", (
    Field("memory_size", "u64", "bytes one linear memory may have"),
    Field("table_elements", "u64", "elements one table may have"),
    Field("instances", "u64", "instances the store may hold"),
    Field("tables", "u64", "tables its instances may define, together"),
    Field("memories", "u64", "memories its instances may define, together"),
))

HOST_STRUCTS = (FRAME, ERROR, EXTERN, GLOBAL, EXTERN_TYPE, STORE_LIMITS)

_CONSTANTS = (
    ("PTR_SIZE", PTR), ("VAL_SIZE", VAL_SIZE), ("PAGE_SIZE", PAGE_SIZE),
    ("VMCTX_MAGIC", VMCTX_MAGIC), ("IMAGE_MAGIC", IMAGE_MAGIC), ("NO_INDEX", NO_INDEX),
    ("NO_MAX", NO_MAX), ("RESERVATION", RESERVATION), ("EH_RECORD_SIZE", EH_RECORD_SIZE),
    ("EH_RECORD_PREV", EH_RECORD_PREV), ("ARGS_SLOTS", ARGS_SLOTS),
    ("VMCTX_FLAG_HAS_MEMORY0", VMCTX_FLAG_HAS_MEMORY0), ("MEMORY_FLAG_64", MEMORY_FLAG_64), ("MEMORY_FLAG_BOUNDS_CHECKED", MEMORY_FLAG_BOUNDS_CHECKED),
    ("MEMORY_FLAG_SHARED", MEMORY_FLAG_SHARED), ("TABLE_FLAG_64", TABLE_FLAG_64),
    ("FUNCREF_FLAG_HOST", FUNCREF_FLAG_HOST), ("IMAGE_FLAG_GUARD_PAGES", IMAGE_FLAG_GUARD_PAGES),
    ("IMAGE_FLAG_FUEL", IMAGE_FLAG_FUEL),
    ("VALTYPE_I32", VALTYPE_I32), ("VALTYPE_I64", VALTYPE_I64), ("VALTYPE_F32", VALTYPE_F32),
    ("VALTYPE_F64", VALTYPE_F64), ("VALTYPE_V128", VALTYPE_V128),
    ("VALTYPE_FUNCREF", VALTYPE_FUNCREF), ("VALTYPE_EXTERNREF", VALTYPE_EXTERNREF),
    ("VALTYPE_ANYREF", VALTYPE_ANYREF), ("VALTYPE_EXNREF", VALTYPE_EXNREF),
    ("TYPE_KIND_FUNC", TYPE_KIND_FUNC), ("TYPE_KIND_STRUCT", TYPE_KIND_STRUCT),
    ("TYPE_KIND_ARRAY", TYPE_KIND_ARRAY),
    ("EXTERN_FUNC", EXTERN_FUNC), ("EXTERN_TABLE", EXTERN_TABLE), ("EXTERN_MEMORY", EXTERN_MEMORY),
    ("EXTERN_GLOBAL", EXTERN_GLOBAL), ("EXTERN_TAG", EXTERN_TAG),
    ("SEG_PASSIVE", SEG_PASSIVE), ("SEG_ACTIVE", SEG_ACTIVE), ("SEG_DECLARATIVE", SEG_DECLARATIVE),
)


# ---------------------------------------------------------------------------
# The C header, and the ABI version derived from it
# ---------------------------------------------------------------------------

def _render_struct(w, s: Struct):
    w(f"/* {s.doc} */")
    w(f"typedef struct {s.name} {{")
    for f, off in s.layout():
        doc = f" /* +{off}: {f.doc} */" if f.doc else f" /* +{off} */"
        w(f"    {_c_field(f)};{doc}")
    if s is VMCTX:
        w("    /* module-specific part (VMOffsets) follows; it starts with: */")
        w("    struct { void *base; struct wasmc_memory *def; } memories[];")
    w(f"}} {s.name};")
    w("")


def _render_asserts(w, structs):
    for s in structs:
        for f, off in s.layout():
            w(f"_Static_assert(offsetof({s.name}, {f.name}) == {off}, \"{s.name}.{f.name}\");")
        w(f"_Static_assert(sizeof({s.name}) == {s.size}, \"sizeof {s.name}\");")


def _render_host() -> str:
    """The C API records (not hashed into ABI_VERSION)."""
    out = []
    w = out.append
    w("/* --- The shim's C API records.  Not part of WASMC_ABI_VERSION: compiled code never")
    w(" * sees them (wasmc/abi.py HOST_STRUCTS; runtime/shim.py mirrors them in ctypes). */")
    w(f"#define WASMC_MAX_FRAMES {MAX_FRAMES}")
    w("")
    w("enum wasmc_error_kind {")
    for name, value, doc in ERROR_KINDS:
        w(f"    {name} = {value}, /* {doc} */")
    w("};")
    w("")
    for s in HOST_STRUCTS:
        _render_struct(w, s)
    _render_asserts(w, HOST_STRUCTS)
    return "\n".join(out) + "\n"


def _render_body() -> str:
    out = []
    w = out.append
    for name, value in _CONSTANTS:
        suffix = "ULL" if value > 0x7FFFFFFF else ""
        w(f"#define WASMC_{name} {value:#x}{suffix}")
    w("")
    w("typedef enum wasmc_trap {")
    for t in TRAPS:
        w(f"    WASMC_TRAP_{t.name} = {t.code}, /* {t.message} */")
    w("} wasmc_trap;")
    w(f"#define WASMC_TRAP_COUNT {len(TRAPS)}")
    w("/* The messages, indexed by trap code (the spec interpreter's wording). */")
    w("#define WASMC_TRAP_MESSAGES { " + ", ".join(f'"{t.message}"' for t in TRAPS) + " }")
    w("")
    w("/* One value slot: parameters and results of array calls and host calls. */")
    w("typedef union wasmc_val {")
    w("    int32_t i32; int64_t i64; uint32_t f32_bits; uint64_t f64_bits;")
    w("    float f32; double f64; uint8_t v128[16]; void *ref;")
    w("} wasmc_val;")
    w("")
    for s in RUNTIME_STRUCTS + DESCRIPTOR_STRUCTS:
        _render_struct(w, s)
    w("/* The builtins table: compiled code calls these through vmctx->builtins. */")
    w("typedef struct wasmc_builtins {")
    for b in BUILTINS:
        params = ", ".join("struct wasmc_vmctx *" if i == 0 else _ctype(p) for i, p in enumerate(b.params))
        res = "void" if b.result == "void" else _ctype(b.result)
        w(f"    {res} (*{b.name})({params}); /* {b.doc} */")
    w("} wasmc_builtins;")
    w("")
    w("/* Layout checks: the C compiler must agree with wasmc/abi.py. */")
    _render_asserts(w, RUNTIME_STRUCTS + DESCRIPTOR_STRUCTS)
    w(f"_Static_assert(sizeof(wasmc_builtins) == {len(BUILTINS) * PTR}, \"sizeof wasmc_builtins\");")
    w("_Static_assert(sizeof(wasmc_val) == 16, \"sizeof wasmc_val\");")
    return "\n".join(out) + "\n"


_BODY = _render_body()
#: Derived from the ABI description itself: any layout, trap or builtin change changes it.
ABI_VERSION = int.from_bytes(hashlib.sha256(_BODY.encode()).digest()[:4], "little") & 0x7FFFFFFF


def render_c_header() -> str:
    """The text of runtime-shim/include/wasmc_abi.h."""
    return (
        "/* wasmc_abi.h -- GENERATED from wasmc/abi.py by `python -m wasmc.abi`; do not edit.\n"
        " * The ABI between compiled code, image descriptors and the shim.\n"
        " * tests/unit/test_abi.py fails if this file is stale. */\n"
        "#ifndef WASMC_ABI_H\n#define WASMC_ABI_H\n\n"
        "#include <stddef.h>\n#include <stdint.h>\n\n"
        "#if UINTPTR_MAX != 0xFFFFFFFFFFFFFFFFu\n"
        "#error \"wasmc supports 64-bit targets only (abi.PTR == 8)\"\n#endif\n\n"
        f"#define WASMC_ABI_VERSION {ABI_VERSION:#x}\n\n"
        + _BODY + "\n" + _render_host()
        + "\n#endif /* WASMC_ABI_H */\n"
    )


def header_path():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "runtime-shim" / "include" / "wasmc_abi.h"


if __name__ == "__main__":  # regenerate the header
    header_path().write_text(render_c_header())
    print(f"wrote {header_path()} (ABI version {ABI_VERSION:#x})")
