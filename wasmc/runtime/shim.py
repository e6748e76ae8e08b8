"""ctypes bindings of the C shim (runtime-shim/include/wasmc_rt.h).

All prototypes are declared in one block (as llvmlite's bindings do), and the
library is loaded on first use, so ``import wasmc`` stays cheap.  This module
and the rest of runtime/ never import the compiler.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_int32, c_int64, c_uint32,
                    c_uint64, c_void_p)
from pathlib import Path

from ..errors import WasmcError

MAX_FRAMES = 32

ERR_OK, ERR_ARTIFACT, ERR_LINK, ERR_TRAP, ERR_RESOURCE, ERR_USAGE = range(6)


class Frame(Structure):
    _fields_ = [("image", c_void_p), ("func", c_uint32), ("pad", c_uint32)]


class Error(Structure):
    _fields_ = [("kind", c_int32), ("trap", c_int32), ("nframes", c_uint32), ("pad", c_uint32),
                ("frames", Frame * MAX_FRAMES), ("message", c_char * 512)]

    def text(self) -> str:
        return self.message.decode("utf-8", "replace")


class Extern(Structure):
    _fields_ = [("kind", c_uint32), ("pad", c_uint32), ("ptr", c_void_p)]


class Memory(Structure):  # wasmc_memory (abi.MEMORY)
    _fields_ = [("base", c_void_p), ("size", c_uint64), ("max_pages", c_uint64),
                ("declared_max", c_uint64), ("reserved", c_uint64), ("flags", c_uint32),
                ("pad", c_uint32)]


class Table(Structure):  # wasmc_table (abi.TABLE)
    _fields_ = [("elems", c_void_p), ("size", c_uint64), ("max", c_uint64), ("declared_max", c_uint64),
                ("capacity", c_uint64), ("elem_type", c_uint32), ("flags", c_uint32)]


class Funcref(Structure):  # wasmc_funcref (abi.FUNCREF)
    _fields_ = [("code", c_void_p), ("vmctx", c_void_p), ("array_call", c_void_p), ("type_id", c_uint32),
                ("flags", c_uint32)]


class Global(Structure):  # struct wasmc_global (wasmc_rt.h)
    _fields_ = [("value", c_void_p), ("valtype", c_uint32), ("mutable", c_uint32), ("refcount", c_uint32),
                ("key_len", c_uint32), ("key", c_void_p), ("owner", c_void_p), ("storage", c_uint64 * 2)]


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
    proto("wasmc_image_header_of", c_void_p, c_void_p)
    proto("wasmc_store_new", c_void_p)
    proto("wasmc_store_free", None, c_void_p)
    proto("wasmc_store_set_max_stack", None, c_void_p, c_uint64)
    proto("wasmc_store_interrupt", None, c_void_p)
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
    # WASI (runtime-shim/include/wasmc_wasi.h)
    if hasattr(L, "wasmc_wasi_new"):
        proto("wasmc_wasi_new", c_void_p, c_void_p, c_char_p, ctypes.c_size_t)
        proto("wasmc_wasi_free", None, c_void_p)
        proto("wasmc_wasi_exit_code", c_int32, c_void_p)
        proto("wasmc_wasi_lookup", c_int, c_char_p, POINTER(c_void_p), POINTER(c_char_p))
