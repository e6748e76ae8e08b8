"""Relocation recipes: the shape shared by every architecture's table.

A :class:`Recipe` says how to apply one psABI relocation type: the value to
compute from ``S`` (symbol address), ``A`` (addend) and ``P`` (address of
the place being patched, all image-relative), a range check that the value
must pass, and a writer that stores it into the instruction or data field.
Narrowing writes are always checked (mold's ``check()``, JITLink's
``isInt<N>``), never wrapped: pyelftools' wraparound is exactly what must not
happen in code.

Per-arch tables (x86_64.py, aarch64.py, riscv64.py) map ELF relocation type
numbers to recipes.  Relocations whose value depends on another relocation
(RISC-V's PCREL_LO12 pairs, ADD/SUB pairs) use ``paired`` recipes that the
linker resolves through ``Place.pair_value``.
"""

from __future__ import annotations

import struct
from typing import Callable, NamedTuple

from ..errors import CompileError


class RelocError(CompileError):
    """A relocation cannot be applied (out of range, unknown type, bad pairing)."""


class Recipe(NamedTuple):
    name: str  # psABI name, e.g. "R_X86_64_PC32"
    value: Callable  # (S, A, P, place) -> int
    check: Callable | None  # int -> bool  (None: the psABI says "no check", _NC)
    write: Callable  # (buf: bytearray, offset: int, value: int) -> None
    doc: str = ""


# --- range checks --------------------------------------------------------

def signed(bits: int):
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    return lambda v: lo <= v < hi


def unsigned(bits: int):
    return lambda v: 0 <= v < (1 << bits)


def either(bits: int):
    """Fits as signed or unsigned (R_*_32-style data relocations)."""
    return lambda v: -(1 << (bits - 1)) <= v < (1 << bits)


def aligned(n: int, inner):
    return lambda v: v % n == 0 and inner(v)


# --- plain data writers --------------------------------------------------

def write_u8(buf, off, v):
    buf[off] = v & 0xFF


def write_u16(buf, off, v):
    struct.pack_into("<H", buf, off, v & 0xFFFF)


def write_u32(buf, off, v):
    struct.pack_into("<I", buf, off, v & 0xFFFFFFFF)


def write_u64(buf, off, v):
    struct.pack_into("<Q", buf, off, v & 0xFFFFFFFFFFFFFFFF)


def read_u32(buf, off) -> int:
    return struct.unpack_from("<I", buf, off)[0]


def read_u16(buf, off) -> int:
    return struct.unpack_from("<H", buf, off)[0]


def add_to_u32(buf, off, v):
    write_u32(buf, off, read_u32(buf, off) + v)


def add_to_u64(buf, off, v):
    write_u64(buf, off, struct.unpack_from("<Q", buf, off)[0] + v)


def sub_from_u32(buf, off, v):
    write_u32(buf, off, read_u32(buf, off) - v)


def sub_from_u64(buf, off, v):
    write_u64(buf, off, struct.unpack_from("<Q", buf, off)[0] - v)
