"""x86-64 relocations (System V psABI).

x86-64 is the easy case: every PC-relative field wasmc's objects use is a
plain little-endian 32-bit displacement relative to the *start of the field*
(the addend, usually -4, already accounts for the instruction ending after
it).  There is no GOT and no PLT: LLVM emits R_X86_64_PLT32 for calls to
global (hidden) functions, and since every callee lands in the same image
the PLT32 is resolved as a direct PC32.  Absolute relocations (R_X86_64_64,
emitted only for tables of pointers in .data.rel.ro) would need load-time
rebasing and are rejected by the linker by name.

psABI: https://gitlab.com/x86-psABIs/x86-64-ABI
"""

from .reloc import ABSOLUTE, NO_GOT, pc_relative, write_u32

ELF_MACHINE = 62

R_X86_64_PC32 = 2
R_X86_64_PLT32 = 4

RELOCS = {
    R_X86_64_PC32: pc_relative("R_X86_64_PC32", 32, write_u32, "a 32-bit displacement"),
    # no PLT: the callee is in the same image, so a call is a plain PC32
    R_X86_64_PLT32: pc_relative("R_X86_64_PLT32", 32, write_u32, "a call's 32-bit displacement"),
}

NAMES = {
    0: "R_X86_64_NONE", 1: "R_X86_64_64", 2: "R_X86_64_PC32", 3: "R_X86_64_GOT32",
    4: "R_X86_64_PLT32", 9: "R_X86_64_GOTPCREL", 10: "R_X86_64_32", 11: "R_X86_64_32S",
    24: "R_X86_64_PC64", 41: "R_X86_64_GOTPCRELX", 42: "R_X86_64_REX_GOTPCRELX",
}

# Types that are known and deliberately refused, with the reason.
REFUSED = {1: ABSOLUTE, 10: ABSOLUTE, 11: ABSOLUTE, 9: NO_GOT, 41: NO_GOT, 42: NO_GOT}
