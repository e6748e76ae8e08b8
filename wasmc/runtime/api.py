"""The Python API for running compiled modules.

    store = wasmc.Store()                      # optional: one is made per instance otherwise
    module = wasmc.Module(wasm_bytes)          # compile for this machine (cached), or
    module = wasmc.Module.load("app.wasmu")    # load a built artifact (never loads llvmlite)
    inst = wasmc.Instance(module, {"env": {"f": wasmc.Func(FuncType(["i32"], []), print)}})
    inst.exports["add"](1, 2)

Externs: :class:`Func` (exports, or host functions from Python callables),
:class:`Memory` (``.data`` is a writable memoryview), :class:`Global`,
:class:`Table`.  Every extern belongs to at most one :class:`Store`; an
instance lives in the store of the externs it imports (or a new one).

Values: i32/i64 are Python ints (results are signed), f32/f64 floats,
v128 an int of 128 bits, funcref a :class:`Func` or None, externref any
Python object or None.  Code that needs exact float bits (NaN payloads) uses
``Func.call_bits``.  Arguments, host-function results, global values and
table elements are checked, never wrapped: an int of the wrong range is a
ValueError (i32 takes -2**31 <= v < 2**32, i64 -2**63 <= v < 2**64, v128
-2**127 <= v < 2**128: the signed and the unsigned spelling), a value of the
wrong type a TypeError; f32/f64 take floats and ints (rounded to nearest).
``bool`` is refused for every numeric type (``True`` is far more often a bug
than a 1).  A host function that returns a bad value makes the guest call
raise that error.

What a module imports and exports comes from the image descriptor the C
loader checked (``wasmc_image_import``/``_export``), never from the .wasmu
JSON metadata; that metadata is for display (``wasmc inspect``) and must
agree with the descriptor, or the artifact is refused (ArtifactError).

Lifetimes: every Python object that points into native memory keeps its
owner alive (an export keeps its store, a ``Memory.data`` view keeps its
memory), so no sequence of calls, ``del`` and ``gc.collect()`` can leave a
dangling pointer.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import struct
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path

from .. import abi, container
from ..errors import (ArtifactError, FileError, LinkError, InstantiationError, ResourceLimitError, Trap,
                      WasmcError)
from . import shim
from .select import choose_slice

VALTYPES = ("i32", "i64", "f32", "f64", "v128", "funcref", "externref")
_KINDS = {"func": abi.EXTERN_FUNC, "table": abi.EXTERN_TABLE, "memory": abi.EXTERN_MEMORY,
          "global": abi.EXTERN_GLOBAL, "tag": abi.EXTERN_TAG}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}
_M32, _M64 = (1 << 32) - 1, (1 << 64) - 1
_CODE_NAMES = {code: name for name, code in abi.VALTYPES.items()}  # every code the loader accepts
_INT_BITS = {"i32": 32, "i64": 64, "v128": 128}


class Exit(Trap):
    """The guest called WASI proc_exit; ``code`` is its exit status."""

    def __init__(self, code: int):
        self.code = code
        super().__init__("exit", f"guest exited with status {code}")


class WasmException(Trap):
    """A Wasm exception that no handler caught: ``tag`` (a :class:`Tag`) and
    its payload ``values``.  A host function may raise one to throw it into
    the guest (``raise wasmc.WasmException(tag, [1, 2.5])``)."""

    def __init__(self, tag: "Tag", values=(), backtrace=()):
        self.tag = tag
        self.values = list(values)
        self._exn = None  # the shim's exception, when it came from guest code
        self._store = None  # the store that owns _exn
        shown = ", ".join(repr(v) for v in self.values)
        super().__init__("uncaught exception", f"uncaught exception: {tag} ({shown})", backtrace)


class FuncType:
    """A function type: parameter and result value type names."""

    def __init__(self, params, results):
        self.params = tuple(params)
        self.results = tuple(results)
        for t in self.params + self.results:
            if t not in VALTYPES:
                raise ValueError(f"unknown value type {t!r} (expected one of {', '.join(VALTYPES)})")

    def key(self) -> bytes:
        return abi.func_type_key(self.params, self.results)

    def __eq__(self, other):
        return isinstance(other, FuncType) and (self.params, self.results) == (other.params, other.results)

    def __hash__(self):
        return hash((self.params, self.results))

    def __repr__(self):
        return f"FuncType({list(self.params)}, {list(self.results)})"


# ---------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------

class StoreLimits:
    """A store's resource limits, as wasmtime's ``StoreLimits`` (None: no
    limit).  ``memory_size`` is bytes per linear memory, ``table_elements``
    elements per table; ``instances`` is how many instances the store may
    hold, ``tables`` and ``memories`` how many its instances may define
    together.  Growth beyond a limit fails as the spec allows (memory.grow
    and table.grow return -1; ``Memory.grow``/``Table.grow`` on an extern of
    the store raise); instantiation that needs more raises
    :class:`~wasmc.ResourceLimitError`."""

    _FIELDS = ("memory_size", "table_elements", "instances", "tables", "memories")

    def __init__(self, memory_size: int | None = None, table_elements: int | None = None,
                 instances: int | None = None, tables: int | None = None, memories: int | None = None):
        for name, v in zip(self._FIELDS, (memory_size, table_elements, instances, tables, memories)):
            setattr(self, name, None if v is None else _count(name, v))

    def _native(self):
        return shim.StoreLimits(*(abi.NO_MAX if getattr(self, n) is None else getattr(self, n)
                                  for n in self._FIELDS))

    def __eq__(self, other):
        return isinstance(other, StoreLimits) and all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    def __repr__(self):
        set_ = ", ".join(f"{n}={getattr(self, n)}" for n in self._FIELDS if getattr(self, n) is not None)
        return f"StoreLimits({set_})"


#: The most fuel a store can hold (limits->fuel is an int64).
MAX_FUEL = (1 << 63) - 1


class Store:
    """Owns instances and host-function records; used by one thread at a time.

    ``limits`` (a :class:`StoreLimits`) bounds what its instances may
    create and grow to (also :meth:`set_limits`); :meth:`set_fuel` meters
    the code of modules built with fuel metering."""

    def __init__(self, max_stack: int | None = None, *, limits: StoreLimits | None = None):
        self._lib = shim.lib()
        self._ptr = self._lib.wasmc_store_new()
        if not self._ptr:
            raise MemoryError("cannot create a store")
        if max_stack:
            self._lib.wasmc_store_set_max_stack(self._ptr, max_stack)
        self.limits = StoreLimits()
        if limits is not None:
            if not isinstance(limits, StoreLimits):
                raise TypeError(f"limits must be a wasmc.StoreLimits, got {type(limits).__name__}")
            self.set_limits(**{n: getattr(limits, n) for n in StoreLimits._FIELDS})
        self._externrefs: dict = {}  # handle -> object
        self._extern_handles: dict = {}  # id(object) -> handle
        self._handle_counter = itertools.count(1)
        # Python host functions the C store may call, by callback token
        self._hostfuncs: dict = {}
        # funcref address -> Func, so one function keeps one identity (weak:
        # a Func holds its store, the store must not hold it back)
        self._funcs_by_ptr = weakref.WeakValueDictionary()
        self._tags_by_ptr = weakref.WeakValueDictionary()  # tag address -> Tag (one identity)
        self._keep: list = []  # objects the C store points into (WASI contexts)
        self._wasi = None  # the WASI context linked into this store, if any

    def interrupt(self) -> None:
        """Stop the guest code this store runs: it raises ``Trap`` with kind
        ``"interrupted"`` at once if it is in compiled code, or when the host
        function it is in returns.  If nothing is running, the next call is
        interrupted before it starts.  Safe to call from any thread (a timer,
        a watchdog); a host function blocked in a system call (a WASI read)
        is not cut short."""
        self._lib.wasmc_store_interrupt(self._ptr)

    def set_limits(self, memory_size: int | None = None, table_elements: int | None = None,
                   instances: int | None = None, tables: int | None = None, memories: int | None = None) -> None:
        """Replace the store's resource limits (see :class:`StoreLimits`;
        None: no limit).  They apply to instances created from now on and
        to every growth from now on."""
        limits = StoreLimits(memory_size, table_elements, instances, tables, memories)
        native = limits._native()
        self._lib.wasmc_store_set_limits(self._ptr, ctypes.byref(native))
        self.limits = limits

    def set_fuel(self, fuel: int) -> None:
        """Give the store FUEL units to run with (0 <= FUEL < 2**63).  Code
        built with fuel metering (``wasmc build --fuel``, ``Module(...,
        fuel=True)``) spends one unit per Wasm instruction (wasmtime's costs:
        nop, drop, block, loop, end, else, return and unreachable are free)
        and raises ``Trap`` ``"out of fuel"`` at the first function entry or
        loop header reached with none left, at the same instruction on every
        run and every machine.  From now on every instance of the store must
        be built with fuel metering: one that is not is refused, and so is
        this call if the store already holds one."""
        fuel = _count("fuel", fuel, MAX_FUEL + 1)
        err = shim.Error()
        if not self._lib.wasmc_store_set_fuel(self._ptr, fuel, ctypes.byref(err)):
            _raise_error(err, self)

    def get_fuel(self) -> int:
        """Fuel left (0 once it is spent).  A store starts with 2**63 - 1."""
        return self._lib.wasmc_store_get_fuel(self._ptr)

    def fuel_consumed(self) -> int:
        """Fuel spent since the store was created: the cost of every Wasm
        instruction its metered code ran (as of the last function entry,
        loop header, call or return: exact when a call returns or runs out
        of fuel; after another trap, the trapping function's last stretch
        may be missing)."""
        return self._lib.wasmc_store_fuel_consumed(self._ptr)

    def __del__(self):
        ptr = getattr(self, "_ptr", None)
        if ptr:
            self._lib.wasmc_store_free(ptr)
            self._ptr = None
        for token in getattr(self, "_hostfuncs", ()):
            _TOKEN_STORE.pop(token, None)

    # externref handles: stable per object for the store's lifetime
    def _externref(self, obj) -> int:
        if obj is None:
            return 0
        h = self._extern_handles.get(id(obj))
        if h is None:
            h = next(self._handle_counter) * 16
            self._extern_handles[id(obj)] = h
            self._externrefs[h] = obj
        return h

    def _from_externref(self, h: int):
        return None if not h else self._externrefs.get(h)


# ---------------------------------------------------------------------------
# Value conversion
# ---------------------------------------------------------------------------

def _f32_bits(v: float) -> int:
    try:
        return struct.unpack("<I", struct.pack("<f", v))[0]
    except OverflowError:  # rounds to infinity (IEEE round to nearest)
        return 0xFF800000 if v < 0 else 0x7F800000


def _f64_bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _int_value(t: str, v) -> int:
    """V as the unsigned bits of integer type T, refusing what does not fit."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an int for {t}, got {type(v).__name__}")
    bits = _INT_BITS[t]
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise ValueError(f"{v} is out of range for {t} (-2**{bits - 1} <= value < 2**{bits})")
    return v & ((1 << bits) - 1)


def _float_value(t: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected a float for {t}, got {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{v} is out of range for {t}") from None


def _to_bits(t: str, v, store: Store) -> tuple[int, int]:
    """A Python value of type T as the two 64-bit words of a value slot."""
    if t in ("i32", "i64"):
        return _int_value(t, v), 0
    if t == "f32":
        return _f32_bits(_float_value(t, v)), 0
    if t == "f64":
        return _f64_bits(_float_value(t, v)), 0
    if t == "v128":
        v = _int_value(t, v)
        return v & _M64, v >> 64
    if t == "funcref":
        if v is None:
            return 0, 0
        if not isinstance(v, Func):
            raise TypeError(f"expected a wasmc.Func or None for funcref, got {type(v).__name__}")
        return v._funcref(store), 0
    if t == "externref":
        return store._externref(v), 0
    raise WasmcError(f"values of type {t} cannot be passed from Python")


def _count(what: str, v, limit: int = 1 << 64) -> int:
    """A size, index or delta argument: an int in [0, LIMIT)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what} must be an int, got {type(v).__name__}")
    if not 0 <= v < limit:
        raise ValueError(f"{what} {v} is out of range")
    return v


def _from_bits(t: str, lo: int, hi: int, store: Store):
    # A 32-bit result only writes the low half of its slot: mask the rest.
    if t == "i32":
        lo &= _M32
        return lo - (1 << 32) if lo & 0x80000000 else lo
    if t == "i64":
        return lo - (1 << 64) if lo & (1 << 63) else lo
    if t == "f32":
        return struct.unpack("<f", struct.pack("<I", lo & _M32))[0]
    if t == "f64":
        return struct.unpack("<d", struct.pack("<Q", lo))[0]
    if t == "v128":
        return lo | hi << 64
    if t == "funcref":
        return Func._from_ptr(lo, store) if lo else None
    if t == "externref":
        return store._from_externref(lo)
    raise WasmcError(f"values of type {t} cannot be passed to Python")


def _raise_error(err: shim.Error, store: Store | None, default=WasmcError):
    if err.kind == shim.ERR_TRAP:
        raise _trap(err, store)
    if err.kind == shim.ERR_LINK:
        raise LinkError(err.text())
    if err.kind == shim.ERR_ARTIFACT:
        raise ArtifactError(err.text())
    if err.kind == shim.ERR_LIMIT:
        raise ResourceLimitError(err.text())
    raise default(err.text())


_tls = threading.local()


def _trap(err: shim.Error, store: Store | None) -> Exception:
    code = err.trap
    pending = getattr(_tls, "pending", None)
    if pending is not None:
        _tls.pending = None
        return pending
    if code == abi.trap_code("EXIT") and store is not None and store._wasi is not None:
        return Exit(store._wasi.exit_code())
    frames = []
    for i in range(err.nframes):
        f = err.frames[i]
        mod = Module._by_image.get(f.image)
        frames.append(mod._func_name(f.func) if mod else f"func[{f.func}]")
    if code == abi.trap_code("UNCAUGHT_EXCEPTION") and err.exn and store is not None:
        return _exception(err.exn, store, frames)
    info = abi.TRAP_BY_CODE.get(code)
    message = info.message if info else f"trap {code}"
    return Trap(message, message, frames)


def _exception(exn: int, store: Store, frames=()) -> "WasmException":
    """A WasmException for the shim's exception EXN (owned by STORE)."""
    x = shim.Exn.from_address(exn)
    tag = Tag._from_ptr(x.tag, store)
    slots = (ctypes.c_uint64 * (2 * x.nvalues)).from_address(exn + abi.EXN.size) if x.nvalues else []
    params = tag.type.params if tag.type is not None else ()
    values = [_from_bits(t, slots[2 * i], slots[2 * i + 1], store) if t in VALTYPES else None
              for i, t in enumerate(params)]
    e = WasmException(tag, values, frames)
    e._exn = exn
    e._store = store
    return e


# ---------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------

class Module:
    """A compiled module: one slice of a .wasmu mapped for this machine.

    ``imports`` and ``exports`` list what it imports and exports, as dicts
    (``module``, ``name``, ``kind``, ``type``; exports have ``index``
    instead of ``module``), read from the checked image descriptor.
    ``fuel`` says whether its code meters fuel (built with ``fuel=True`` or
    ``wasmc build --fuel``; see :meth:`Store.set_fuel`)."""

    _by_image = weakref.WeakValueDictionary()  # image address -> Module (for backtraces)
    #: What ``Module(data)`` compiles with: ``compiler(data, opt_level=,
    #: use_cache=, fuel=)`` returns the path of a built artifact.  The
    #: runtime never imports the compiler; the package layer installs it
    #: (wasmc/__init__.py, when it hands out anything of this module).
    compiler = None

    def __init__(self, data: bytes, *, opt_level: int = 2, cache: bool = True, fuel: bool = False):
        if not isinstance(fuel, bool):
            raise TypeError(f"fuel must be a bool, got {type(fuel).__name__}")
        if Module.compiler is None:
            raise WasmcError("Module(data) needs the compiler: use wasmc.Module (import wasmc), which installs it")
        path = Module.compiler(bytes(data), opt_level=opt_level, use_cache=cache, fuel=fuel)
        self._init_from_path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, tier: str | None = None, verify=None) -> "Module":
        """Load a built artifact (.wasmu) and map the slice for this machine
        (the best tier its CPU has, or TIER).  VERIFY, if given, is called
        as ``verify(artifact, slice)`` with what was read from the file and
        returns the slice's bytes once it accepts them (signing.py's trust
        check); the code is then loaded from those very bytes, so what was
        verified is what runs even if the file changes meanwhile."""
        m = cls.__new__(cls)
        m._init_from_path(Path(path), tier, verify)
        return m

    @classmethod
    def from_artifact_bytes(cls, data: bytes, name: str = "<memory>") -> "Module":
        m = cls.__new__(cls)
        art = container.parse(data, name)
        m._init(art, None)
        return m

    def _init_from_path(self, path: Path, tier: str | None = None, verify=None):
        # One descriptor: the header and metadata are read from it, the
        # slice's bytes checked and then mapped from it (never the whole file).
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise FileError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            self._init(container.read_fd(fd, str(path)), path, tier, fd, verify)
        finally:
            os.close(fd)

    def _init(self, art, path, tier: str | None = None, fd: int | None = None, verify=None):
        self.artifact = art
        self.path = str(path) if path else art.path
        self.slice = choose_slice(art, tier=tier)
        if verify is not None:
            image_bytes, fd = verify(art, self.slice), None  # load the verified bytes, not the file again
        else:
            image_bytes = container.slice_bytes(art, self.slice)
        lib = shim.lib()
        err = shim.Error()
        if fd is not None:
            ptr = lib.wasmc_image_map(fd, self.slice.offset, self.slice.size, ctypes.byref(err))
        else:
            buf = ctypes.create_string_buffer(image_bytes, len(image_bytes))
            ptr = lib.wasmc_image_copy(buf, len(image_bytes), ctypes.byref(err))
        if not ptr:
            raise ArtifactError(f"{self.path}: {err.text()}")
        self._image = ptr
        self._lib = lib
        # From here on the descriptor is checked: the interface comes from it.
        self.imports = _interface(lib.wasmc_image_import, ptr, self.path)
        self.exports = _interface(lib.wasmc_image_export, ptr, self.path)
        self.fuel = bool(lib.wasmc_image_header_of(ptr).contents.flags & abi.IMAGE_FLAG_FUEL)
        _check_metadata(art, self.imports, self.exports, self.path)
        if container.fuel_metered(art.metadata, self.path) != self.fuel:
            raise ArtifactError(f"{self.path}: the metadata says the code {'does not meter' if self.fuel else 'meters'} "
                                "fuel, the image says otherwise (corrupt or tampered artifact)")
        _register_types(lib, ptr)
        Module._by_image[ptr] = self

    def __del__(self):
        img = getattr(self, "_image", None)
        if img:
            Module._by_image.pop(img, None)
            self._lib.wasmc_image_release(img)
            self._image = None

    def _func_name(self, index: int) -> str:
        n = ctypes.c_uint32()
        p = self._lib.wasmc_image_func_name(self._image, index, ctypes.byref(n))
        return ctypes.string_at(p, n.value).decode("utf-8", "replace") if p else f"func[{index}]"


def _text(p: int | None, n: int, what: str, where: str) -> str:
    try:
        return ctypes.string_at(p, n).decode("utf-8") if n else ""
    except UnicodeDecodeError:
        raise ArtifactError(f"{where}: the {what} is not UTF-8") from None


def _func_type(et) -> dict:
    names = [_CODE_NAMES[c] for c in ctypes.string_at(et.valtypes, et.nparams + et.nresults)]
    return {"params": names[:et.nparams], "results": names[et.nparams:]}


def _extern_type(et, where: str) -> dict:
    """The type of one entry of wasmc_image_import/_export, in the metadata's form."""
    kind = _KIND_NAMES[et.kind]
    if kind in ("func", "tag"):
        return _func_type(et)
    if kind in ("memory", "table"):
        d = {"min": et.min, "max": None if et.max == abi.NO_MAX else et.max,
             "index_type": "i64" if et.flags & (abi.MEMORY_FLAG_64 if kind == "memory" else abi.TABLE_FLAG_64)
             else "i32"}
        if kind == "table":
            d["element"] = _text(et.type_key, et.type_key_len, "table element type", where)
        return d
    return {"type": _text(et.type_key, et.type_key_len, "global type", where), "mutable": bool(et.mutable_)}


def _interface(read, image: int, where: str) -> list:
    """Every import (READ = wasmc_image_import) or export (wasmc_image_export)
    of IMAGE as a metadata-style dict."""
    out = []
    et = shim.ExternType()
    i = 0
    while read(image, i, ctypes.byref(et)):
        d = {"kind": _KIND_NAMES[et.kind], "name": _text(et.name, et.name_len, f"name of entry {i}", where)}
        if et.module:
            d["module"] = _text(et.module, et.module_len, f"module name of import {i}", where)
        else:
            d["index"] = et.index
        d["type"] = _extern_type(et, where)
        out.append(d)
        i += 1
    return out


def _check_metadata(art, imports: list, exports: list, where: str):
    """The .wasmu metadata (shown by `wasmc inspect`) must say what the image
    descriptor says: an artifact whose two views disagree is refused."""
    for what, meta, mine in (("import", art.imports, imports), ("export", art.exports, exports)):
        if len(meta) != len(mine):
            raise ArtifactError(f"{where}: the metadata lists {len(meta)} {what}s, the image has {len(mine)} "
                                "(corrupt or tampered artifact)")
        for i, (m, d) in enumerate(zip(meta, mine)):
            if container.entry_shape(m, where) != container.entry_shape(d, where):
                raise ArtifactError(f"{where}: metadata {what} {i} disagrees with the image's "
                                    f"({d.get('module', '') + '::' if 'module' in d else ''}{d['name']}) "
                                    "(corrupt or tampered artifact)")


def _register_types(lib, image: int):
    """Remember the function types of IMAGE by canonical type id, so a
    funcref read from a table or a global gets its type."""
    et = shim.ExternType()
    for i in range(lib.wasmc_image_header_of(image).contents.ntypes):
        if not lib.wasmc_image_type(image, i, ctypes.byref(et)):
            continue
        _MAX_ARITY[0] = max(_MAX_ARITY[0], et.nparams, et.nresults)
        tid = lib.wasmc_type_id(ctypes.string_at(et.type_key, et.type_key_len), et.type_key_len)
        if tid not in _TYPES_BY_ID:
            ft = _python_functype(_func_type(et))
            if ft is not None:
                _TYPES_BY_ID[tid] = ft


def _python_functype(t: dict) -> FuncType | None:
    """The FuncType of an interface function type, or None when it has value
    types Python cannot pass (such a function cannot be called from Python)."""
    if all(x in VALTYPES for x in t["params"] + t["results"]):
        return FuncType(t["params"], t["results"])
    return None


_TYPES_BY_ID: dict = {}
_MAX_ARITY = [1]  # the most parameters or results of any function type loaded so far


# ---------------------------------------------------------------------------
# Externs
# ---------------------------------------------------------------------------

class Func:
    """A function: an instance's export, or a host function from a Python callable.

    Host functions: ``Func(FuncType([...], [...]), callable)``; the callable
    gets the parameters as Python values and returns None, one value, or a
    tuple of values.  An exception it raises traps the guest and is re-raised
    to the code that called into the guest.
    """

    def __init__(self, type: FuncType, fn):
        if not isinstance(type, FuncType):
            type = FuncType(*type)
        if fn is not None and not callable(fn):
            raise TypeError(f"a host function needs a callable, got {fn!r}")
        self.type = type
        self._fn = fn
        self._c_fn = None  # a C host function (address), with its data pointer
        self._c_data = None
        self._ptr = None  # funcref address (in its store)
        self._store = None
        self._owner = None  # what a native function's data pointer points into
        # store -> this host function's record in it.  Keyed by the store
        # itself (weakly), never by id(): a freed store's id is reused.
        self._per_store = weakref.WeakKeyDictionary()

    @classmethod
    def _native(cls, type: FuncType, fn_address: int, data: int, owner=None) -> "Func":
        """A host function implemented in C (``wasmc_host_callback``), e.g. WASI;
        OWNER keeps the object behind DATA alive."""
        f = cls(type, None)
        f._c_fn = fn_address
        f._c_data = data
        f._owner = owner
        return f

    @classmethod
    def _from_ptr(cls, ptr: int, store: Store, type: FuncType | None = None) -> "Func":
        f = store._funcs_by_ptr.get(ptr)
        if f is not None:
            return f
        f = cls.__new__(cls)
        f._fn = None
        f._c_fn = None
        f._c_data = None
        f._per_store = weakref.WeakKeyDictionary()
        f._ptr = ptr
        f._store = store
        f._owner = None
        if type is None:
            fr = shim.Funcref.from_address(ptr)
            type = _TYPES_BY_ID.get(fr.type_id)
        f.type = type
        store._funcs_by_ptr[ptr] = f
        return f

    def _funcref(self, store: Store) -> int:
        """The funcref address of this function in STORE."""
        if self._fn is None and self._c_fn is None:
            if self._store is not store:
                raise LinkError("a function exported by an instance can only be used in that instance's store")
            return self._ptr
        p = self._per_store.get(store)
        if p is None:
            key = self.type.key()
            if self._c_fn is not None:
                fn, data = self._c_fn, self._c_data
            else:
                fn, data = _HOST_CB_ADDR, next(_host_tokens)
                store._hostfuncs[data] = self
                _TOKEN_STORE[data] = weakref.ref(store)
            p = store._lib.wasmc_hostfunc_new(store._ptr, fn, data, key, len(key),
                                              len(self.type.params), len(self.type.results))
            if not p:
                raise MemoryError("cannot create a host function")
            self._per_store[store] = p
            store._funcs_by_ptr[p] = self
            _TYPES_BY_ID.setdefault(shim.Funcref.from_address(p).type_id, self.type)
            if self._c_fn is not None:
                store._keep.append(self)
        return p

    def __call__(self, *args):
        return self.call(*args)

    def call(self, *args):
        t = self.type
        if t is None:
            raise WasmcError("cannot call a function of a type this runtime cannot describe")
        if len(args) != len(t.params):
            raise TypeError(f"function takes {len(t.params)} arguments ({len(args)} given)")
        if self._fn is not None:
            return self._fn(*args)
        if self._c_fn is not None:
            raise WasmcError("a native host function can only be called by guest code")
        store = self._store
        words = []
        for ty, v in zip(t.params, args):
            words.extend(_to_bits(ty, v, store))
        out = self._call_words(words)
        res = [_from_bits(ty, out[2 * i], out[2 * i + 1], store) for i, ty in enumerate(t.results)]
        if not res:
            return None
        return res[0] if len(res) == 1 else tuple(res)

    def call_bits(self, words: list) -> list:
        """Call with raw slot words (two 64-bit words per parameter); returns the result words."""
        return self._call_words(words)

    def _call_words(self, words: list) -> list:
        t = self.type
        # Room for the largest function type of any loaded image: a call
        # reaches code through a descriptor, and what the buffer must hold is
        # what that code's trampoline reads and writes.
        n = max(len(t.params), len(t.results), _MAX_ARITY[0])
        if len(words) > 2 * n:
            raise TypeError(f"{len(words)} words for a function of {len(t.params)} parameters")
        buf = (ctypes.c_uint64 * (2 * n))(*words)
        err = shim.Error()
        store = self._store
        rc = store._lib.wasmc_call(store._ptr, self._ptr, buf, ctypes.byref(err))
        if rc != 0:
            _raise_error(err, store)
        return list(buf[: 2 * len(t.results)])


#: callback token -> weak reference to the store whose C records use it
_TOKEN_STORE: dict = {}
_host_tokens = itertools.count(1)


def _host_dispatch(env, caller, values) -> int:
    """The one C callback behind every Python host function."""
    try:
        token = shim_hostfunc(env)
        store = _TOKEN_STORE[token]()
        func = store._hostfuncs[token]
        t = func.type
        n = max(len(t.params), len(t.results), 1)
        slots = (ctypes.c_uint64 * (2 * n)).from_address(values)
        args = [_from_bits(ty, slots[2 * i], slots[2 * i + 1], store) for i, ty in enumerate(t.params)]
        r = func._fn(*args)
        if len(t.results) == 0:
            rs = ()
        elif len(t.results) == 1:
            rs = (r,)
        else:
            rs = tuple(r)
            if len(rs) != len(t.results):
                raise TypeError(f"host function returned {len(rs)} values, expected {len(t.results)}")
        for i, (ty, v) in enumerate(zip(t.results, rs)):
            lo, hi = _to_bits(ty, v, store)
            slots[2 * i] = lo
            slots[2 * i + 1] = hi
        return 0
    except WasmException as e:
        # thrown into the guest: a handler there may catch it
        try:
            exn = _exn_for(e, store)
        except BaseException as bad:  # noqa: BLE001 - a malformed exception traps the guest
            _tls.pending = bad
            return abi.trap_code("HOST")
        return store._lib.wasmc_throw_from_host(caller, exn)
    except BaseException as e:  # noqa: BLE001 - handed back to the caller of the guest
        _tls.pending = e
        return abi.trap_code("HOST")


def _exn_for(e: "WasmException", store: Store) -> int:
    """The shim exception for E in STORE: the one it came from (rethrown
    unchanged, so throw_ref sees the same exception) or a new one."""
    if e._exn is not None and e._store is store:
        return e._exn
    tag = e.tag
    if not isinstance(tag, Tag):
        raise TypeError(f"a WasmException needs a wasmc.Tag, got {type(tag).__name__}")
    if tag._store is not store:
        raise LinkError("a tag can only be thrown in the store it belongs to")
    params = tag.type.params
    if len(e.values) != len(params):
        raise TypeError(f"tag {tag} takes {len(params)} values ({len(e.values)} given)")
    words = []
    for ty, v in zip(params, e.values):
        words.extend(_to_bits(ty, v, store))
    buf = (ctypes.c_uint64 * max(len(words), 2))(*words)
    exn = store._lib.wasmc_exn_new(store._ptr, tag._ptr, buf)
    if not exn:
        raise MemoryError("cannot create an exception")
    e._exn, e._store = exn, store
    return exn


def shim_hostfunc(env) -> int:
    # wasmc_hostfunc.data is the token given at creation
    return ctypes.c_void_p.from_address(env + abi.HOSTFUNC.offset("data")).value


_HOST_CB = shim.HOST_CALLBACK(_host_dispatch)
_HOST_CB_ADDR = ctypes.cast(_HOST_CB, ctypes.c_void_p).value


@functools.lru_cache(maxsize=64)
def _view_type(n: int) -> type:
    """A ctypes byte array of N bytes whose instances take attributes (a
    plain ctypes array cannot hold a reference to its owner)."""
    return type("MemoryBytes", (ctypes.c_ubyte * n,), {})


def _limits(what: str, unit: str, lo, hi, limit: int) -> tuple[int, int]:
    """Checked (min, max) arguments; max None is no maximum (NO_MAX)."""
    lo = _count(f"{what} minimum", lo)
    if hi is None:
        return lo, abi.NO_MAX
    hi = _count(f"{what} maximum", hi)
    if lo > hi:
        raise ValueError(f"{what} minimum ({lo} {unit}) is larger than its maximum ({hi} {unit})")
    if hi > limit:
        raise ValueError(f"{what} maximum ({hi} {unit}) is larger than a {what} can be ({limit} {unit})")
    return lo, hi


class Memory:
    """A linear memory; ``data`` is a writable memoryview of its current bytes.

    A view stays valid (and keeps the memory alive) as long as it exists,
    even after the instance, the store and this object are gone; it covers
    the size the memory had when it was taken (memories never move, so it
    stays valid when the memory grows: take a new view to see the new pages).
    """

    def __init__(self, min_pages: int, max_pages: int | None = None, *, is64: bool = False, _ptr=None,
                 _store=None):
        self._lib = shim.lib()
        if _ptr is None:
            lo, hi = _limits("memory", "pages", min_pages, max_pages, 1 << 48 if is64 else 1 << 16)
            err = shim.Error()
            flags = abi.MEMORY_FLAG_64 | abi.MEMORY_FLAG_BOUNDS_CHECKED if is64 else 0
            _ptr = self._lib.wasmc_memory_new(lo, hi, flags, ctypes.byref(err))
            if not _ptr:
                raise MemoryError(err.text())
            self._owned = True
        else:
            self._owned = False
        self._ptr = _ptr
        self._store = _store  # an exported memory lives as long as its store

    def __del__(self):
        if getattr(self, "_owned", False) and self._ptr:
            self._lib.wasmc_memory_release(self._ptr)
            self._ptr = None

    @property
    def _m(self):
        return shim.Memory.from_address(self._ptr)

    @property
    def size(self) -> int:
        """Current size in pages."""
        return self._m.size // abi.PAGE_SIZE

    @property
    def data_len(self) -> int:
        return self._m.size

    @property
    def data(self) -> memoryview:
        m = self._m
        if not m.size:
            return memoryview(bytearray(0))
        view = _view_type(m.size).from_address(m.base)
        view.owner = self  # the memoryview keeps the array, the array keeps this (and so the memory)
        return memoryview(view).cast("B")

    def _range(self, offset, n: int) -> int:
        offset = _count("offset", offset)
        if offset + n > self.data_len:
            raise IndexError("out of bounds memory access")
        return self._m.base + offset

    def read(self, offset: int, n: int) -> bytes:
        return ctypes.string_at(self._range(offset, _count("length", n)), n)

    def write(self, offset: int, data: bytes):
        data = bytes(data)
        ctypes.memmove(self._range(offset, len(data)), data, len(data))

    def grow(self, delta: int) -> int:
        """Grow by DELTA pages; the old size in pages.  An exported memory
        grows on behalf of its store, within the store's limits."""
        delta = _count("delta", delta)
        if self._store is not None:
            r = self._lib.wasmc_store_memory_grow(self._store._ptr, self._ptr, delta)
        else:
            r = self._lib.wasmc_memory_grow(self._ptr, delta)
        if r < 0:
            raise WasmcError("memory cannot grow by that much")
        return r


class Table:
    """A table of references; ``index_type`` "i64" makes a 64-bit table
    (memory64 proposal), imported where a module declares ``table i64``."""

    def __init__(self, element: str = "funcref", min: int = 0, max: int | None = None, init=None, *,
                 store: Store | None = None, index_type: str = "i32", _ptr=None, _store=None):
        self._lib = shim.lib()
        if _ptr is None:
            if element not in ("funcref", "externref"):
                raise ValueError("element must be 'funcref' or 'externref'")
            if index_type not in ("i32", "i64"):
                raise ValueError("index_type must be 'i32' or 'i64'")
            lo, hi = _limits("table", "elements", min, max, 1 << 32 if index_type == "i32" else _M64)
            self._store = store or Store()
            err = shim.Error()
            code = abi.VALTYPE_FUNCREF if element == "funcref" else abi.VALTYPE_EXTERNREF
            iv = _to_bits(element, init, self._store)[0]
            _ptr = self._lib.wasmc_table_new(code, lo, hi, iv, ctypes.byref(err))
            if not _ptr:
                raise MemoryError(err.text())
            if index_type == "i64":
                shim.Table.from_address(_ptr).flags = abi.TABLE_FLAG_64
            self._owned = True
        else:
            self._store = _store
            self._owned = False
        self._ptr = _ptr
        t = shim.Table.from_address(_ptr)
        self.element = _CODE_NAMES[t.elem_type]
        self.index_type = "i64" if t.flags & abi.TABLE_FLAG_64 else "i32"

    def __del__(self):
        if getattr(self, "_owned", False) and self._ptr:
            self._lib.wasmc_table_release(self._ptr)
            self._ptr = None

    @property
    def size(self) -> int:
        return shim.Table.from_address(self._ptr).size

    def _index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"a table index must be an int, got {type(i).__name__}")
        if not 0 <= i < self.size:
            raise IndexError("out of bounds table access")
        return i

    def get(self, i: int):
        out = ctypes.c_void_p()
        if not self._lib.wasmc_table_get(self._ptr, self._index(i), ctypes.byref(out)):
            raise IndexError("out of bounds table access")
        return _from_bits(self.element, out.value or 0, 0, self._store)

    def set(self, i: int, v):
        bits = _to_bits(self.element, v, self._store)[0]
        if not self._lib.wasmc_table_set(self._ptr, self._index(i), bits):
            raise IndexError("out of bounds table access")

    def grow(self, delta: int, init=None) -> int:
        """Grow by DELTA elements set to INIT; the old size.  The table grows
        on behalf of its store, within the store's limits."""
        delta = _count("delta", delta)
        r = self._lib.wasmc_store_table_grow(self._store._ptr, self._ptr, delta,
                                             _to_bits(self.element, init, self._store)[0])
        if r < 0:
            raise WasmcError("table cannot grow by that much")
        return r


class Global:
    """A global variable of a value type."""

    def __init__(self, type: str, mutable: bool, value=0, *, store: Store | None = None, _ptr=None,
                 _store=None):
        self._lib = shim.lib()
        if _ptr is None:
            if type not in VALTYPES:
                raise ValueError(f"unknown value type {type!r}")
            if not isinstance(mutable, bool):
                raise TypeError(f"mutable must be a bool, got {mutable!r}")
            self._store = store or Store()
            lo, hi = _to_bits(type, value, self._store)
            init = (ctypes.c_uint64 * 2)(lo, hi)
            key = type.encode()
            _ptr = self._lib.wasmc_global_new(abi.VALTYPES[type], int(mutable), key, len(key), init)
            if not _ptr:
                raise MemoryError("cannot create a global")
            self._owned = True
        else:
            self._store = _store
            self._owned = False
        self._ptr = _ptr
        g = shim.Global.from_address(_ptr)
        self.type = _CODE_NAMES[g.valtype]
        self.mutable = bool(g.mutable_)

    def __del__(self):
        if getattr(self, "_owned", False) and self._ptr:
            self._lib.wasmc_global_release(self._ptr)
            self._ptr = None

    def _slot(self):
        g = shim.Global.from_address(self._ptr)
        return (ctypes.c_uint64 * 2).from_address(g.value)

    @property
    def value(self):
        s = self._slot()
        return _from_bits(self.type, s[0], s[1], self._store)

    @value.setter
    def value(self, v):
        if not self.mutable:
            raise WasmcError("global is immutable")
        lo, hi = _to_bits(self.type, v, self._store)
        s = self._slot()
        s[0], s[1] = lo, hi

    @property
    def bits(self) -> tuple:
        s = self._slot()
        return s[0], s[1]


class Tag:
    """An exception tag: the exceptions thrown with it carry values of the
    types ``type.params`` (``type.results`` is empty).

    ``Tag(FuncType([...], []), store=store)`` makes a host tag, to import
    into instances of STORE; an instance's exported tag is ``exports[name]``.
    A tag belongs to one store: it is freed with it, and used elsewhere it
    is refused."""

    def __init__(self, type: FuncType, *, store: Store):
        if not isinstance(type, FuncType):
            type = FuncType(*type)
        if type.results:
            raise ValueError("a tag's type has no results")
        if not isinstance(store, Store):
            raise TypeError(f"store must be a wasmc.Store, got {store.__class__.__name__}")
        key = type.key()
        ptr = store._lib.wasmc_tag_new(store._ptr, key, len(key), len(type.params))
        if not ptr:
            raise MemoryError("cannot create a tag")
        self._ptr, self._store, self.type, self.name = ptr, store, type, None
        store._tags_by_ptr[ptr] = self
        _TYPES_BY_ID.setdefault(shim.Tag.from_address(ptr).type_id, type)

    @classmethod
    def _from_ptr(cls, ptr: int, store: Store, name: str | None = None) -> "Tag":
        t = store._tags_by_ptr.get(ptr)
        if t is None:
            t = cls.__new__(cls)
            t._ptr, t._store, t.name = ptr, store, None
            t.type = _TYPES_BY_ID.get(shim.Tag.from_address(ptr).type_id)
            store._tags_by_ptr[ptr] = t
        if t.name is None and name is not None:
            t.name = name
        if t.name is None:  # not seen as an export yet: an instance of the store may say
            buf = ctypes.create_string_buffer(128)
            vt = ctypes.c_void_p()
            if store._lib.wasmc_tag_describe(store._ptr, ptr, buf, len(buf), ctypes.byref(vt)) >= 0:
                t.name = buf.value.decode("utf-8", "replace")
        return t

    def __str__(self):
        return f"tag {self.name}" if self.name else f"tag at {self._ptr:#x}"

    def __repr__(self):
        params = list(self.type.params) if self.type is not None else "?"
        return f"<wasmc.Tag {self.name or hex(self._ptr)} {params}>"



# ---------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------

#: Import kind -> (Python class, extern kind, what it is, and when it
#: must belong to the importing store: what it is then called).  Tables,
#: tags and reference-typed globals hold references into one store's
#: instances: used from another store they could outlive their targets.
_IMPORT_KINDS = {
    "memory": (Memory, abi.EXTERN_MEMORY, "a memory", lambda ext: None),
    "table": (Table, abi.EXTERN_TABLE, "a table", lambda ext: "a table"),
    "global": (Global, abi.EXTERN_GLOBAL, "a global",
               lambda ext: "a reference-typed global" if ext.type in ("funcref", "externref") else None),
    "tag": (Tag, abi.EXTERN_TAG, "a tag", lambda ext: "a tag"),
}


def _import_extern(imp: dict, ext, store: "Store") -> tuple:
    """The (extern kind, pointer) that satisfies import IMP with EXT in STORE."""
    where = f"{imp['module']}::{imp['name']}"
    kind = imp["kind"]
    if kind == "func":
        if not isinstance(ext, Func):
            raise LinkError(f"incompatible import type for {where}: expected a function")
        return abi.EXTERN_FUNC, ext._funcref(store)
    if kind not in _IMPORT_KINDS:
        raise LinkError(f"import {where}: {kind} imports are not supported yet")
    cls, code, what, store_bound = _IMPORT_KINDS[kind]
    if not isinstance(ext, cls):
        raise LinkError(f"incompatible import type for {where}: expected {what}")
    bound = store_bound(ext)
    if bound and ext._store is not store:
        raise LinkError(f"import {where}: {bound} can only be used by instances of the store it belongs to")
    return code, ext._ptr


class Instance:
    """An instantiated module.  ``exports`` maps export names to externs."""

    def __init__(self, module: Module, imports: dict | None = None, *, store: Store | None = None):
        if not isinstance(module, Module):
            raise TypeError(f"expected a wasmc.Module, got {type(module).__name__}")
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a wasmc.Store, got {type(store).__name__}")
        imports = imports or {}
        if not isinstance(imports, Mapping):
            raise TypeError("imports must map module names to mappings of names to externs")
        externs = []
        for imp in module.imports:
            names = imports.get(imp["module"])
            ext = names.get(imp["name"]) if isinstance(names, Mapping) else None
            if ext is None:
                raise LinkError(f"unknown import: {imp['module']}::{imp['name']} ({imp['kind']}) was not provided")
            externs.append((imp, ext))
        if store is None:
            for _, ext in externs:
                s = getattr(ext, "_store", None)
                if s is not None:
                    store = s
                    break
        if store is None:
            store = Store()
        self.store = store
        self.module = module
        arr = (shim.Extern * max(len(externs), 1))()
        for i, (imp, ext) in enumerate(externs):
            arr[i].kind, arr[i].ptr = _import_extern(imp, ext, store)
        err = shim.Error()
        lib = shim.lib()
        # (The C side retains the image, memories, tables and globals it uses;
        # host functions stay alive in store._hostfuncs.)
        ptr = lib.wasmc_instance_new(store._ptr, module._image, arr, len(externs), ctypes.byref(err))
        if not ptr and err.kind == shim.ERR_RESOURCE:
            # Address space is held by unreachable stores that the cyclic
            # garbage collector has not freed yet: free them and retry once.
            import gc

            gc.collect()
            err = shim.Error()
            ptr = lib.wasmc_instance_new(store._ptr, module._image, arr, len(externs), ctypes.byref(err))
        if not ptr:
            if err.kind == shim.ERR_TRAP:
                raise _trap(err, store)
            _raise_error(err, store, InstantiationError)
        self._ptr = ptr
        self.exports = _Exports(self)


class _Exports(dict):
    def __init__(self, inst: Instance):
        super().__init__()
        lib = shim.lib()
        store = inst.store
        out = shim.Extern()
        for i, e in enumerate(inst.module.exports):
            if not lib.wasmc_instance_export(inst._ptr, i, ctypes.byref(out)):
                continue
            kind = e["kind"]
            if kind == "func":
                x = Func._from_ptr(out.ptr, store, _python_functype(e["type"]))
            elif kind == "memory":
                x = Memory(0, _ptr=out.ptr, _store=store)
            elif kind == "table":
                x = Table(_ptr=out.ptr, _store=store)
            elif kind == "global":
                x = Global("i32", False, _ptr=out.ptr, _store=store)
            elif kind == "tag":
                x = Tag._from_ptr(out.ptr, store, e["name"])
            else:
                continue
            self[e["name"]] = x
