"""wasmc: a WebAssembly ahead-of-time compiler producing universal native artifacts.

The run path (``import wasmc``, :class:`Module.load`, :class:`Instance`)
never imports llvmlite; the compiler is loaded only when something is
compiled.
"""

from __future__ import annotations

from .errors import (
    ArtifactError, CompileError, FileError, InstantiationError, LinkError, MalformedError,
    NoSliceError, Trap, UnsupportedError, ValidationError, WasmcError, WasmError,
)

__version__ = "0.1.0"

__all__ = [
    "validate", "WasmcError", "WasmError", "MalformedError", "ValidationError", "UnsupportedError",
    "LinkError", "InstantiationError", "ArtifactError", "NoSliceError", "FileError", "CompileError",
    "Trap",
]


def validate(data: bytes) -> None:
    """Decode and validate a binary module.

    Raises :class:`MalformedError` if it cannot be decoded and
    :class:`ValidationError` if it is not valid; returns None otherwise.
    """
    from .wasm.decode import decode_module
    from .wasm.validate import validate_module

    validate_module(decode_module(data))
