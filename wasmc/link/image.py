"""The flat-image linker: relocatable objects -> one position-independent blob.

Consumes the ELF objects of one slice (all for one architecture) plus,
on demand, wasmc's libcall object, and produces :class:`LinkedCode`: the
bytes of every allocatable section laid out from a given image offset (code
first, then read-only data), every relocation resolved at build time, and
the addresses and sizes of the defined functions.  The image is mapped at an
arbitrary page-aligned address at run time; since every relocation wasmc
accepts is PC-relative (or relative between two places in the image), no
load-time fix-up is ever needed.  AArch64's ADRP computes a *page* delta,
Page(S+A) - Page(P): that is exact on image offsets because offset 0 is
mapped page aligned and the layout keeps every section's alignment relative
to offset 0 (sections aligned beyond IMAGE_ALIGN are refused).

Steps (numbered as in the code):
 1. read every object; all must be for the target's ELF machine;
 2. pull in the libcall object if an undefined symbol is one of abi.LIBCALLS;
 3. lay out executable sections, then the rest, each at its own alignment;
 4. resolve symbols: globals across objects (duplicates are errors),
    locals and section symbols within their object; any undefined symbol
    left is a LinkError naming it;
 5. apply relocations through the architecture's recipe table, with a range
    check on every narrowing write; unknown types are errors naming them.

Architectures are registered explicitly in ARCHES (one module per ELF
machine, mold's and JITLink's habit) rather than discovered by trying
imports, which turned a broken module into "no relocation support".
Relocations that depend on another one (RISC-V's PCREL_LO12 on its HI20,
ADD/SUB pairs) find their partner through :meth:`Linker.pair`, an index of
each object's relocations by (section, offset), as mold's
``find_paired_reloc`` does; never by adjacency in the table.

Writable sections (.data, .bss, .data.rel.ro) are rejected: compiled code
keeps all mutable state in the VMContext, and a writable image could not be
mapped straight from the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import abi
from .. import targets as _targets
from ..errors import CompileError
from . import aarch64, riscv64, x86_64
from . import elf as _elf
from .reloc import RelocError, why


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


# Every architecture the linker supports, keyed by ELF e_machine.  Imported
# eagerly: a broken arch module is an ImportError, not "no support".  Each
# module's ELF_MACHINE must be the elf_machine of the targets/*.toml of the
# same name (checked by _arch_module, and for all of them by a unit test).
ARCHES = {mod.ELF_MACHINE: mod for mod in (x86_64, aarch64, riscv64)}

# Image offset 0 is mapped at an address aligned to at least this (the
# container puts slices at 16 KiB boundaries and the loader maps them there,
# or copies them into fresh pages), so alignment relative to offset 0 is
# real alignment, and Page(x) of an image offset is the page of the address.
IMAGE_ALIGN = 4096


def _arch_module(machine: int):
    """The recipe module for MACHINE, cross-checked with targets/*.toml."""
    named = [t.name for t in _targets.all_targets().values() if t.elf_machine == machine]
    mod = ARCHES.get(machine)
    if mod is None:
        which = f" (target {', '.join(named)})" if named else ""
        raise ImageLinkError(f"no relocation support for ELF machine {machine}{which}: "
                             "no module for it in wasmc.link.image.ARCHES")
    short = mod.__name__.rsplit(".", 1)[1]
    if named and short not in named:
        raise ImageLinkError(f"ELF machine {machine} belongs to target {', '.join(named)} "
                             f"(targets/*.toml), but wasmc/link/{short}.py claims it")
    return mod


class Place:
    """Context a recipe may need beyond S, A and P: the object, section,
    offset and symbol of the relocation, and through ``linker`` the other
    relocations of that object (RISC-V's pairs)."""

    __slots__ = ("linker", "obj_index", "section", "offset", "symidx")

    def __init__(self, linker, obj_index, section, offset, symidx=0):
        self.linker = linker
        self.obj_index = obj_index
        self.section = section
        self.offset = offset
        self.symidx = symidx

    @property
    def symbol(self) -> _elf.Symbol:
        return self.linker.objs[self.obj_index].symbols[self.symidx]

    def original(self, nbytes: int) -> int:
        """The unsigned little-endian NBYTES at this place in the input
        object, before any relocation (what ADD/SUB relocations add to)."""
        data = self.linker.objs[self.obj_index].sections[self.section].data
        return int.from_bytes(data[self.offset:self.offset + nbytes], "little")

    def pair(self, types: dict, section: int | None = None, offset: int | None = None) -> tuple:
        """The partner relocation of this one: see :meth:`Linker.pair`.
        SECTION/OFFSET default to this place's own."""
        return self.linker.pair(self.obj_index, self.section if section is None else section,
                                self.offset if offset is None else offset, types)


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
        self._by_place = {}  # obj index -> {(section, offset): [(type, symidx, addend)]}

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
                if sec.align > IMAGE_ALIGN:
                    raise ImageLinkError(
                        f"{o.name}: section {sec.name} asks for {sec.align}-byte alignment; "
                        f"the image is only mapped {IMAGE_ALIGN}-byte aligned")
                placed.append((k, sec))
        placed.sort(key=lambda ks: 0 if ks[1].flags & _elf.SHF_EXECINSTR else 1)
        addr = {}  # (obj index, section index) -> image offset
        cur = self.base
        text_end = self.base
        for k, sec in placed:
            # aligned relative to image offset 0, which is page aligned
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
                        table.append(None)  # symbol 0: "address 0" means nothing in the image
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
        for k, o in enumerate(objs):
            for target_idx, rels in o.relocs.items():
                if (k, target_idx) not in addr:
                    continue  # relocations of a non-allocated section (none expected)
                self._relocate(buf, k, target_idx, rels)
        functions = {}
        for k, o in enumerate(objs):
            for i, s in enumerate(o.symbols):
                if (s.type == "STT_FUNC" and s.shndx not in (_elf.SHN_UNDEF, _elf.SHN_ABS) and s.name
                        and sym_addrs[k][i] is not None):
                    functions[s.name] = (sym_addrs[k][i], s.size)
        return LinkedCode(self.base, bytes(buf), self.base, text_end, functions)

    def _relocate(self, buf: bytearray, k: int, target_idx: int, rels: list) -> None:
        """Apply the relocations RELS of section TARGET_IDX of object K to BUF."""
        syms = self.sym_addrs[k]
        sbase = self.section_addr[(k, target_idx)]
        for off, rtype, symidx, addend in rels:
            place = Place(self, k, target_idx, off, symidx)
            S = syms[symidx]
            if S is None and rtype in self.arch.RELOCS:  # (an unsupported type is named first)
                sym = place.symbol
                what = (f"{sym.name or '(section)'}, which is in a section that is not part of the image"
                        if symidx else "no symbol (index 0): an absolute value")
                origin, at = self._where(place)
                raise ImageLinkError(f"{origin}relocation {self.reloc_name(rtype)}{at} refers to {what}")
            self.apply(buf, rtype, S, addend, sbase + off, place)

    def apply(self, buf: bytearray, rtype: int, S: int, A: int, P: int, place: Place | None = None) -> None:
        """Apply one relocation of type RTYPE to BUF (which holds the image
        from offset ``self.base``): compute its value from S, A and P, check
        its range and write it at P.  Errors name the object and section+offset
        (from PLACE, when given) and the relocation, and say "unsupported",
        "out of range" or "misaligned"."""
        recipe = self.arch.RELOCS.get(rtype)
        if recipe is None:
            origin, at = self._where(place)
            raise ImageLinkError(f"{origin}unsupported relocation {self.reloc_name(rtype)}{at}"
                                 f"{self._refusal(rtype)}")
        try:
            v = recipe.value(S, A, P, place)
        except RelocError as e:
            origin, at = self._where(place)
            raise ImageLinkError(f"{origin}relocation {recipe.name}{at}: {e}") from None
        if recipe.check is not None and not recipe.check(v):
            origin, at = self._where(place)
            raise ImageLinkError(f"{origin}relocation {recipe.name}{at} is {why(recipe.check, v)}")
        recipe.write(buf, P - self.base, v)

    def _where(self, place: Place | None) -> tuple[str, str]:
        """("object: ", " at section+offset") for error messages."""
        if place is None:
            return "", ""
        o = self.objs[place.obj_index]
        return f"{o.name}: ", f" at {o.sections[place.section].name}+{place.offset:#x}"

    def reloc_name(self, rtype: int) -> str:
        """The psABI name of relocation type RTYPE on this architecture."""
        return self.arch.NAMES.get(rtype, f"type {rtype}")

    def _refusal(self, rtype: int) -> str:
        reason = getattr(self.arch, "REFUSED", {}).get(rtype)
        return f" ({reason})" if reason else ""

    def pair(self, k: int, section: int, offset: int, types: dict) -> tuple:
        """The relocation of object K at OFFSET in SECTION whose type is one of
        TYPES (number -> psABI name), as (type, S, A, P).  Exactly one must
        exist; otherwise a RelocError says which partner is missing (mold's
        "paired relocation is missing") or that it is ambiguous."""
        index = self._by_place.get(k)
        if index is None:
            # 0. index this object's relocations by place, once
            index = self._by_place[k] = {}
            for sec, rels in self.objs[k].relocs.items():
                for off, rtype, symidx, addend in rels:
                    index.setdefault((sec, off), []).append((rtype, symidx, addend))
        found = [r for r in index.get((section, offset), ()) if r[0] in types]
        if len(found) != 1:
            o = self.objs[k]
            sec = o.sections.get(section)
            where = f"{sec.name if sec else f'section {section}'}+{offset:#x}"
            wanted = " or ".join(types.values())
            if not found:
                raise RelocError(f"paired relocation {wanted} is missing at {where}")
            raise RelocError(f"{len(found)} paired relocations {wanted} at {where}")
        rtype, symidx, addend = found[0]
        S = self.sym_addrs[k][symidx]
        if S is None:
            raise RelocError(f"paired relocation {self.reloc_name(rtype)} refers to a symbol "
                             "outside the image")
        return rtype, S, addend, self.section_addr[(k, section)] + offset

    def _sym_addr(self, k, s, addr) -> int | None:
        """Image offset of symbol S of object K; None if its section is not
        part of the image (e.g. RISC-V's ``$d`` mapping symbol in
        .riscv.attributes): an error only if a relocation uses it."""
        if s.shndx == _elf.SHN_ABS:
            return s.value
        a = addr.get((k, s.shndx))
        return None if a is None else a + s.value


def link(objects: list, machine: int, base: int, libcalls: bytes | None = None) -> LinkedCode:
    """Link OBJECTS (a list of (name, ELF bytes)) for ELF MACHINE at image offset BASE."""
    return Linker(objects, machine, base, libcalls).link()
