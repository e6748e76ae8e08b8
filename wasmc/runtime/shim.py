"""ctypes bindings of the C shim (runtime-shim/include/wasmc_rt.h).

All prototypes are declared in one block (as llvmlite's bindings do), and the
library is loaded on first use, so ``import wasmc`` stays cheap.  The ctypes
mirrors of the shim's records are generated from their descriptions in
wasmc/abi.py (which also generates the C header), never written by hand.
This module and the rest of runtime/ never import the compiler.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_int32, c_int64, c_uint8,
                    c_size_t, c_uint32, c_uint64, c_void_p)
from pathlib import Path

from .. import abi
from ..errors import WasmcError

MAX_FRAMES = abi.MAX_FRAMES
_ERR = {name: value for name, value, _ in abi.ERROR_KINDS}
ERR_OK, ERR_ARTIFACT, ERR_LINK, ERR_TRAP, ERR_RESOURCE, ERR_USAGE, ERR_LIMIT = (
    _ERR[n] for n in ("WASMC_OK", "WASMC_ERR_ARTIFACT", "WASMC_ERR_LINK", "WASMC_ERR_TRAP", "WASMC_ERR_RESOURCE",
                      "WASMC_ERR_USAGE", "WASMC_ERR_LIMIT"))

# ctypes for abi field types; every pointer is a c_void_p.
_SCALARS = {"u8": c_uint8, "u32": c_uint32, "i32": c_int32, "u64": c_uint64, "i64": c_int64,
            "ptr": c_void_p, "uptr": c_void_p, "char": c_char, "wasmc_val": c_uint64 * 2}


def _ctype(t: str, known: dict):
    arr = abi.array_type(t)
    if arr:
        return _ctype(arr[0], known) * arr[1]
    if t in _SCALARS:
        return _SCALARS[t]
    if t in known:
        return known[t]
    if t.endswith("*"):
        return c_void_p
    raise TypeError(f"no ctypes mirror for the abi field type {t!r}")


def mirror(s: abi.Struct, known: dict | None = None) -> type:
    """A ctypes Structure with the fields of abi struct S.  The layout rules
    of abi.py are C's natural alignment, which ctypes applies too;
    tests/unit/test_abi.py checks every offset against abi.py."""
    known = known or {}
    fields = [(f.name, _ctype(f.type, known)) for f in s.fields]
    return type(s.name, (Structure,), {"_fields_": fields})


def _mirrors() -> dict:
    out: dict = {}
    for s in abi.RUNTIME_STRUCTS + abi.HOST_STRUCTS + (abi.IMAGE_HEADER,):
        out[s.name] = mirror(s, out)
    return out


_M = _mirrors()
Limits, Memory, Table, Funcref, Hostfunc = (_M[n] for n in ("wasmc_limits", "wasmc_memory", "wasmc_table",
                                                             "wasmc_funcref", "wasmc_hostfunc"))
Frame, Extern, Global, ExternType, ImageHeader = (_M[n] for n in ("wasmc_frame", "wasmc_extern", "wasmc_global",
                                                                 "wasmc_extern_type", "wasmc_image_header"))
Tag, Exn = _M["wasmc_tag"], _M["wasmc_exn"]
StoreLimits = _M["wasmc_store_limits"]


class Error(_M["wasmc_error"]):
    def text(self) -> str:
        return self.message.decode("utf-8", "replace")


HOST_CALLBACK = CFUNCTYPE(c_int32, c_void_p, c_void_p, c_void_p)


def library_path() -> Path:
    env = os.environ.get("WASMC_RUNTIME_LIB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "_native" / "libwasmc_rt.so"


_lib = None


def lib():
    global _lib
    if _lib is None:
        path = library_path()
        try:
            L = ctypes.CDLL(str(path))
        except OSError as e:
            raise WasmcError(f"cannot load the wasmc runtime library {path} ({e}); "
                             "run `make install` (or `make -C runtime-shim`)") from None
        _declare(L)
        if L.wasmc_runtime_init() != 0:
            raise WasmcError("the wasmc runtime could not install its signal handlers")
        _lib = L
    return _lib


def _declare(L):
    def proto(name, restype, *argtypes):
        f = getattr(L, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    E = POINTER(Error)
    proto("wasmc_runtime_init", c_int)
    proto("wasmc_image_map", c_void_p, c_int, c_uint64, c_uint64, E)
    proto("wasmc_image_copy", c_void_p, c_void_p, c_uint64, E)
    proto("wasmc_image_release", None, c_void_p)
    proto("wasmc_image_header_of", POINTER(ImageHeader), c_void_p)
    proto("wasmc_image_import", c_int, c_void_p, c_uint32, POINTER(ExternType))
    proto("wasmc_image_export", c_int, c_void_p, c_uint32, POINTER(ExternType))
    proto("wasmc_image_type", c_int, c_void_p, c_uint32, POINTER(ExternType))
    proto("wasmc_image_func_name", c_void_p, c_void_p, c_uint32, POINTER(c_uint32))
    proto("wasmc_store_new", c_void_p)
    proto("wasmc_store_free", None, c_void_p)
    proto("wasmc_store_set_max_stack", None, c_void_p, c_uint64)
    proto("wasmc_store_interrupt", None, c_void_p)
    proto("wasmc_store_set_limits", None, c_void_p, POINTER(StoreLimits))
    proto("wasmc_store_memory_grow", c_int64, c_void_p, c_void_p, c_uint64)
    proto("wasmc_store_table_grow", c_int64, c_void_p, c_void_p, c_uint64, c_void_p)
    proto("wasmc_store_set_fuel", c_int, c_void_p, c_uint64, E)
    proto("wasmc_store_get_fuel", c_uint64, c_void_p)
    proto("wasmc_store_fuel_consumed", c_uint64, c_void_p)
    proto("wasmc_memory_new", c_void_p, c_uint64, c_uint64, c_uint32, E)
    proto("wasmc_memory_release", None, c_void_p)
    proto("wasmc_memory_grow", c_int64, c_void_p, c_uint64)
    proto("wasmc_table_new", c_void_p, c_uint32, c_uint64, c_uint64, c_void_p, E)
    proto("wasmc_table_release", None, c_void_p)
    proto("wasmc_table_grow", c_int64, c_void_p, c_uint64, c_void_p)
    proto("wasmc_table_get", c_int, c_void_p, c_uint64, POINTER(c_void_p))
    proto("wasmc_table_set", c_int, c_void_p, c_uint64, c_void_p)
    proto("wasmc_global_new", c_void_p, c_uint32, c_uint32, c_char_p, c_uint32, c_void_p)
    proto("wasmc_global_release", None, c_void_p)
    proto("wasmc_hostfunc_new", c_void_p, c_void_p, c_void_p, c_void_p, c_char_p, c_uint32, c_uint32,
          c_uint32)
    proto("wasmc_type_id", c_uint32, c_char_p, c_uint32)
    proto("wasmc_instance_new", c_void_p, c_void_p, c_void_p, POINTER(Extern), c_uint32, E)
    proto("wasmc_instance_export", c_int, c_void_p, c_uint32, POINTER(Extern))
    proto("wasmc_instance_vmctx", c_void_p, c_void_p)
    proto("wasmc_call", c_int32, c_void_p, c_void_p, c_void_p, E)
    proto("wasmc_tag_new", c_void_p, c_void_p, c_char_p, c_uint32, c_uint32)
    proto("wasmc_exn_new", c_void_p, c_void_p, c_void_p, c_void_p)
    proto("wasmc_throw_from_host", c_int32, c_void_p, c_void_p)
    proto("wasmc_tag_describe", c_int32, c_void_p, c_void_p, c_char_p, c_size_t, POINTER(c_void_p))
    # WASI (runtime-shim/include/wasmc_wasi.h)
    if hasattr(L, "wasmc_wasi_new"):
        proto("wasmc_wasi_new", c_void_p, c_void_p, c_char_p, ctypes.c_size_t)
        proto("wasmc_wasi_free", None, c_void_p)
        proto("wasmc_wasi_exit_code", c_int32, c_void_p)
        proto("wasmc_wasi_lookup", c_int, c_char_p, POINTER(c_void_p), POINTER(c_char_p))
