"""wasmc: a WebAssembly ahead-of-time compiler producing universal native artifacts.

The run path (``import wasmc``, :class:`Module.load`, :class:`Instance`)
never imports llvmlite; the compiler is loaded only when something is
compiled.
"""

from __future__ import annotations

from .errors import (
    ArtifactError, CompileError, FileError, InstantiationError, LinkError, MalformedError,
    NoSliceError, ResourceLimitError, Trap, UnsupportedError, ValidationError, WasmcError, WasmError,
)

__version__ = "0.1.0"

__all__ = [
    "validate", "Store", "StoreLimits", "Module", "Instance", "Func", "FuncType", "Memory", "Table", "Global", "Tag", "Exit",
    "WasmException",
    "WasiConfig", "link_wasi", "WasmcError", "WasmError", "MalformedError", "ValidationError", "UnsupportedError",
    "LinkError", "InstantiationError", "ResourceLimitError", "ArtifactError", "NoSliceError", "FileError", "CompileError",
    "Trap",
]


_LAZY = {
    "Store": "runtime.api", "StoreLimits": "runtime.api", "Module": "runtime.api", "Instance": "runtime.api", "Func": "runtime.api",
    "FuncType": "runtime.api", "Memory": "runtime.api", "Table": "runtime.api", "Global": "runtime.api",
    "Tag": "runtime.api", "Exit": "runtime.api", "WasmException": "runtime.api", "WasiConfig": "runtime.wasi", "link_wasi": "runtime.wasi",
}


def __getattr__(name: str):
    # The runtime API is imported on first use, so `import wasmc` stays cheap.
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'wasmc' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    from .runtime import api

    if api.Module.compiler is None:
        api.Module.compiler = _compile
    globals()[name] = value
    return value


def _compile(data: bytes, **options):
    """What ``Module(data)`` compiles with (runtime/api.py, ``Module.compiler``):
    the compiler, loaded now, through the on-disk cache.  The package layer
    installs it so that runtime/ never imports compile/."""
    from .compile.cache import compile_cached

    return compile_cached(data, **options)


def validate(data: bytes) -> None:
    """Decode and validate a binary module.

    Raises :class:`MalformedError` if it cannot be decoded and
    :class:`ValidationError` if it is not valid; returns None otherwise.
    """
    from .wasm.decode import decode_module
    from .wasm.validate import validate_module

    validate_module(decode_module(data))
