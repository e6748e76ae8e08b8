"""The flat-image linker: relocatable objects -> one position-independent blob.

Consumes the ELF objects of one slice (all for one architecture) plus,
on demand, wasmc's libcall object, and produces :class:`LinkedCode`: the
bytes of every allocatable section laid out from a given image offset (code
first, then read-only data), every relocation resolved at build time, and
the addresses and sizes of the defined functions.  The image is mapped at an
arbitrary page-aligned address at run time; since every relocation wasmc
accepts is PC-relative (or relative between two places in the image), no
load-time fix-up is ever needed.

Steps (numbered as in the code):
 1. read every object; all must be for the target's ELF machine;
 2. pull in the libcall object if an undefined symbol is one of abi.LIBCALLS;
 3. lay out executable sections, then the rest, each at its own alignment;
 4. resolve symbols: globals across objects (duplicates are errors),
    locals and section symbols within their object; any undefined symbol
    left is a LinkError naming it;
 5. apply relocations through the architecture's recipe table, with a range
    check on every narrowing write; unknown types are errors naming them.

Writable sections (.data, .bss, .data.rel.ro) are rejected: compiled code
keeps all mutable state in the VMContext, and a writable image could not be
mapped straight from the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import abi
from ..errors import CompileError
from . import elf as _elf
from .reloc import RelocError


class ImageLinkError(CompileError):
    """The objects cannot be linked into an image (a compiler-side failure)."""

    label = "link error"


@dataclass
class LinkedCode:
    base: int  # image offset of the first byte of `code`
    code: bytes
    text_start: int
    text_end: int
    functions: dict = field(default_factory=dict)  # name -> (image offset, size)


class Place:
    """Context a recipe may need beyond S, A and P (RISC-V pairs)."""

    __slots__ = ("linker", "obj_index", "section", "offset")

    def __init__(self, linker, obj_index, section, offset):
        self.linker = linker
        self.obj_index = obj_index
        self.section = section
        self.offset = offset


def _arch_module(machine: int):
    from . import x86_64

    arches = {x86_64.ELF_MACHINE: x86_64}
    try:
        from . import aarch64  # noqa: F401

        arches[aarch64.ELF_MACHINE] = aarch64
    except ImportError:
        pass
    try:
        from . import riscv64  # noqa: F401

        arches[riscv64.ELF_MACHINE] = riscv64
    except ImportError:
        pass
    mod = arches.get(machine)
    if mod is None:
        raise ImageLinkError(f"no relocation support for ELF machine {machine}")
    return mod


class Linker:
    def __init__(self, objects: list, machine: int, base: int, libcalls: bytes | None = None,
                 align: int = 16):
        self.machine = machine
        self.base = base
        self.align = align
        self.arch = _arch_module(machine)
        # 1. read the objects
        self.objs = [_elf.read_object(data, name) for name, data in objects]
        for o in self.objs:
            if o.machine != machine:
                raise ImageLinkError(f"{o.name}: ELF machine {o.machine}, expected {machine}")
        # 2. the libcall object, only if something needs it
        if libcalls is not None:
            defined = {s.name for o in self.objs for s in o.symbols
                       if s.bind != "STB_LOCAL" and s.shndx != _elf.SHN_UNDEF}
            undefined = {s.name for o in self.objs for s in o.symbols
                         if s.shndx == _elf.SHN_UNDEF and s.name}
            if (undefined - defined) & set(abi.LIBCALLS):
                self.objs.append(_elf.read_object(libcalls, "wasmc-libcalls"))

    def link(self) -> LinkedCode:
        objs = self.objs
        # 3. layout: executable sections first, then read-only data
        placed = []  # (obj index, Section)
        for k, o in enumerate(objs):
            for sec in o.sections.values():
                if sec.flags & _elf.SHF_WRITE:
                    raise ImageLinkError(
                        f"{o.name}: writable section {sec.name} is not supported "
                        "(compiled code must keep mutable state in the VMContext)")
                placed.append((k, sec))
        placed.sort(key=lambda ks: 0 if ks[1].flags & _elf.SHF_EXECINSTR else 1)
        addr = {}  # (obj index, section index) -> image offset
        cur = self.base
        text_end = self.base
        for k, sec in placed:
            a = max(sec.align, 1)
            cur = (cur + a - 1) // a * a
            addr[(k, sec.index)] = cur
            cur += sec.size
            if sec.flags & _elf.SHF_EXECINSTR:
                text_end = cur
        end = (cur + self.align - 1) // self.align * self.align
        buf = bytearray(end - self.base)
        for k, sec in placed:
            if sec.type != _elf.SHT_NOBITS:
                off = addr[(k, sec.index)] - self.base
                buf[off:off + sec.size] = sec.data
        # 4. symbols
        globals_ = {}
        for k, o in enumerate(objs):
            for s in o.symbols:
                if s.bind == "STB_LOCAL" or s.shndx == _elf.SHN_UNDEF:
                    continue
                if s.name in globals_:
                    raise ImageLinkError(f"duplicate symbol {s.name} (in {objs[globals_[s.name][0]].name} "
                                         f"and {o.name})")
                globals_[s.name] = (k, self._sym_addr(k, s, addr))
        sym_addrs = []
        for k, o in enumerate(objs):
            table = []
            for s in o.symbols:
                if s.shndx == _elf.SHN_UNDEF:
                    if not s.name:
                        table.append(0)
                        continue
                    g = globals_.get(s.name)
                    if g is None:
                        raise ImageLinkError(f"undefined symbol {s.name} (in {o.name})")
                    table.append(g[1])
                else:
                    table.append(self._sym_addr(k, s, addr))
            sym_addrs.append(table)
        self.sym_addrs = sym_addrs
        self.section_addr = addr
        # 5. relocations
        recipes = self.arch.RELOCS
        names = getattr(self.arch, "NAMES", {})
        for k, o in enumerate(objs):
            syms = sym_addrs[k]
            for target_idx, rels in o.relocs.items():
                if (k, target_idx) not in addr:
                    continue  # relocations of a non-allocated section (none expected)
                sbase = addr[(k, target_idx)]
                for off, rtype, symidx, addend in rels:
                    recipe = recipes.get(rtype)
                    if recipe is None:
                        if rtype in getattr(self.arch, "IGNORED", ()):
                            continue
                        nm = names.get(rtype, f"type {rtype}")
                        raise ImageLinkError(f"{o.name}: unsupported relocation {nm} in "
                                             f"{o.sections[target_idx].name}+{off:#x}")
                    S = syms[symidx]
                    P = sbase + off
                    place = Place(self, k, target_idx, off)
                    try:
                        v = recipe.value(S, addend, P, place)
                    except RelocError as e:
                        raise ImageLinkError(f"{o.name}: {recipe.name} at "
                                             f"{o.sections[target_idx].name}+{off:#x}: {e}") from None
                    if recipe.check is not None and not recipe.check(v):
                        raise ImageLinkError(
                            f"{o.name}: relocation {recipe.name} out of range at "
                            f"{o.sections[target_idx].name}+{off:#x} (value {v:#x})")
                    recipe.write(buf, P - self.base, v)
        functions = {}
        for k, o in enumerate(objs):
            for i, s in enumerate(o.symbols):
                if s.type == "STT_FUNC" and s.shndx not in (_elf.SHN_UNDEF, _elf.SHN_ABS) and s.name:
                    functions[s.name] = (sym_addrs[k][i], s.size)
        return LinkedCode(self.base, bytes(buf), self.base, text_end, functions)

    def _sym_addr(self, k, s, addr) -> int:
        if s.shndx == _elf.SHN_ABS:
            return s.value
        a = addr.get((k, s.shndx))
        if a is None:
            raise ImageLinkError(f"{self.objs[k].name}: symbol {s.name or '(section)'} is in a "
                                 f"section that is not part of the image")
        return a + s.value


def link(objects: list, machine: int, base: int, libcalls: bytes | None = None) -> LinkedCode:
    """Link OBJECTS (a list of (name, ELF bytes)) for ELF MACHINE at image offset BASE."""
    return Linker(objects, machine, base, libcalls).link()
