"""Reading the relocatable ELF objects LLVM emits (with pyelftools).

Produces plain records (:class:`ObjectFile`, :class:`Section`, :class:`Symbol`,
relocation tuples) so the linker never touches pyelftools structures in its
inner loops.  Relocation tables are decoded with ``struct.iter_unpack``
directly: pyelftools builds a dict per entry, which is far too slow for the
tens of thousands of relocations a large module has.
"""

from __future__ import annotations

import io
import struct
from typing import NamedTuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import CompileError

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_PROGBITS, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 4, 8, 9
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2


class Section(NamedTuple):
    index: int
    name: str
    data: bytes
    size: int
    align: int
    flags: int
    type: int


class Symbol(NamedTuple):
    name: str
    value: int
    size: int
    shndx: int  # section index, or SHN_UNDEF / SHN_ABS
    bind: str  # "STB_LOCAL" | "STB_GLOBAL" | "STB_WEAK"
    type: str  # "STT_FUNC" | "STT_SECTION" | ...


class ObjectFile(NamedTuple):
    name: str
    machine: int
    flags: int
    sections: dict  # index -> Section (allocatable ones)
    symbols: list  # index -> Symbol
    relocs: dict  # target section index -> list of (offset, type, symidx, addend)


def read_object(data: bytes, name: str = "object") -> ObjectFile:
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.elfclass != 64 or not elf.little_endian:
            raise CompileError(f"{name}: not a 64-bit little-endian ELF object")
        if elf["e_type"] != "ET_REL":
            raise CompileError(f"{name}: not a relocatable object ({elf['e_type']})")
        machine = elf.header["e_machine"]
        machine = _MACHINES.get(machine, machine)
        sections = {}
        symbols = []
        relocs = {}
        for idx, sec in enumerate(elf.iter_sections()):
            h = sec.header
            flags = h["sh_flags"]
            stype = h["sh_type"]
            stype_n = _SHT.get(stype, stype) if isinstance(stype, str) else stype
            if stype_n == SHT_SYMTAB:
                for s in sec.iter_symbols():
                    shndx = s["st_shndx"]
                    if isinstance(shndx, str):
                        shndx = {"SHN_UNDEF": SHN_UNDEF, "SHN_ABS": SHN_ABS,
                                 "SHN_COMMON": SHN_COMMON}.get(shndx, 0xFFFF)
                    symbols.append(Symbol(s.name, s["st_value"], s["st_size"], shndx,
                                          s["st_info"]["bind"], s["st_info"]["type"]))
            elif stype_n == SHT_RELA:
                raw = sec.data()
                relocs[h["sh_info"]] = [
                    (off, info & 0xFFFFFFFF, info >> 32, add)
                    for off, info, add in struct.iter_unpack("<QQq", raw)
                ]
            elif stype_n == SHT_REL:
                raise CompileError(f"{name}: REL (addend-less) relocations in {sec.name} are not supported")
            elif flags & SHF_ALLOC and h["sh_size"]:
                sdata = b"" if stype_n == SHT_NOBITS else sec.data()
                sections[idx] = Section(idx, sec.name, sdata, h["sh_size"], max(1, h["sh_addralign"]),
                                        flags, stype_n)
        return ObjectFile(name, machine, elf.header["e_flags"], sections, symbols, relocs)
    except (ELFError, struct.error, ValueError) as e:
        raise CompileError(f"{name}: cannot read ELF object: {e}") from None


_SHT = {"SHT_PROGBITS": SHT_PROGBITS, "SHT_SYMTAB": SHT_SYMTAB, "SHT_RELA": SHT_RELA,
        "SHT_NOBITS": SHT_NOBITS, "SHT_REL": SHT_REL}
_MACHINES = {"EM_X86_64": 62, "EM_AARCH64": 183, "EM_RISCV": 243}
