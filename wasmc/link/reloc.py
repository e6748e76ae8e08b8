"""Relocation recipes: the shape shared by every architecture's table.

A :class:`Recipe` says how to apply one psABI relocation type: the value to
compute from ``S`` (symbol address), ``A`` (addend) and ``P`` (address of
the place being patched, all image-relative), a range check that the value
must pass, and a writer that stores it into the instruction or data field.
Narrowing writes are always checked (mold's ``check()``, JITLink's
``isInt<N>``), never wrapped: pyelftools' wraparound is exactly what must not
happen in code.  A check is a :class:`Range`, so a failure can say *why*
("out of range" with the bounds, or "misaligned").

Per-arch tables (x86_64.py, aarch64.py, riscv64.py) map ELF relocation type
numbers to recipes.  Relocations whose value depends on another relocation
(RISC-V's PCREL_LO12 and ADD/SUB pairs) compute it through the ``place``
argument (``image.Place``), which finds the partner by (section, offset).

Instruction fields are written with :func:`patch_u32`/:func:`patch_u16`:
the field's bits are cleared and the new ones ORed in, every other bit of
the instruction is kept (LLVM leaves the fields zero in RELA objects, so
this matches what ld.lld and mold produce).
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

class Range:
    """``lo <= v < hi`` and ``v % align == 0``; calling it checks a value,
    :meth:`why` says what is wrong with one that fails."""

    __slots__ = ("lo", "hi", "align")

    def __init__(self, lo: int, hi: int, align: int = 1):
        self.lo, self.hi, self.align = lo, hi, align

    def __call__(self, v: int) -> bool:
        return self.lo <= v < self.hi and v % self.align == 0

    def why(self, v: int) -> str:
        if v % self.align:
            return f"misaligned: value {v:#x} is not a multiple of {self.align}"
        return f"out of range: value {v:#x} is not in [{self.lo:#x}, {self.hi:#x})"

    def __repr__(self):
        return f"Range({self.lo:#x}, {self.hi:#x}, align={self.align})"


# No bound at all, only an alignment (the _NC load/store offsets).
_UNBOUNDED = 1 << 128


def signed(bits: int, align: int = 1) -> Range:
    return Range(-(1 << (bits - 1)), 1 << (bits - 1), align)


def unsigned(bits: int) -> Range:
    return Range(0, 1 << bits)


def either(bits: int) -> Range:
    """Fits as signed or unsigned (R_*_32-style data relocations)."""
    return Range(-(1 << (bits - 1)), 1 << bits)


def aligned(n: int, inner: Range | None = None) -> Range:
    if inner is None:
        return Range(-_UNBOUNDED, _UNBOUNDED, n)
    return Range(inner.lo, inner.hi, n)


def why(check, v: int) -> str:
    """Reason a value failed CHECK (a Range, or any int -> bool)."""
    return check.why(v) if isinstance(check, Range) else f"out of range: value {v:#x}"


# --- bit fields ----------------------------------------------------------

def bits(v: int, hi: int, lo: int) -> int:
    """Bits HI..LO (inclusive) of V, shifted down to bit 0 (two's complement
    for negative V, as the hardware sees it)."""
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


def sign_extend(v: int, nbits: int) -> int:
    v &= (1 << nbits) - 1
    return v - (1 << nbits) if v >> (nbits - 1) else v


def patch_u32(buf, off, mask, field):
    """Replace the bits MASK of the little-endian word at OFF by FIELD."""
    write_u32(buf, off, read_u32(buf, off) & ~mask | field & mask)


def patch_u16(buf, off, mask, field):
    write_u16(buf, off, read_u16(buf, off) & ~mask | field & mask)


# --- plain data writers --------------------------------------------------

def write_u8(buf, off, v):
    buf[off] = v & 0xFF


def write_u16(buf, off, v):
    struct.pack_into("<H", buf, off, v & 0xFFFF)


def write_u32(buf, off, v):
    struct.pack_into("<I", buf, off, v & 0xFFFFFFFF)


def write_u64(buf, off, v):
    struct.pack_into("<Q", buf, off, v & 0xFFFFFFFFFFFFFFFF)


def write_nothing(buf, off, v):
    """For the half of a pair whose partner writes the combined value."""


def read_u16(buf, off) -> int:
    return struct.unpack_from("<H", buf, off)[0]


def read_u32(buf, off) -> int:
    return struct.unpack_from("<I", buf, off)[0]


def read_uint(buf, off, nbytes) -> int:
    return int.from_bytes(buf[off:off + nbytes], "little")


# The recipe formula every arch shares: a PC-relative delta.
def pcrel(S, A, P, place):
    return S + A - P


def _reach(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024:
            return f"{nbytes} {unit}"
        nbytes //= 1024
    return f"{nbytes} TiB"


def pc_relative(name: str, nbits: int, write, field: str, align: int = 1) -> Recipe:
    """The common recipe: S + A - P written into FIELD by WRITE, which must
    fit a signed NBITS value and be a multiple of ALIGN (branch offsets
    count instructions, so their low bits are implied zero)."""
    errors = f"out of range unless it fits int{nbits} (+/-{_reach(1 << (nbits - 1))})"
    if align > 1:
        errors += f", misaligned unless a multiple of {align}"
    return Recipe(name, pcrel, signed(nbits, align), write,
                  f"Fixup <- S + A - P into {field}; Errors: {errors}")


# Reasons shared by the per-arch REFUSED tables (known types, refused by name).
ABSOLUTE = "an absolute address would need load-time rebasing of the image"
NO_GOT = "there is no GOT: declare the symbol dso_local"
