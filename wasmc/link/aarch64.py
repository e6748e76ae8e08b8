"""AArch64 relocations (ELF for the Arm 64-bit Architecture, AAELF64).

AArch64 is a clean RISC: every instruction is 4 bytes, so every branch and
address field counts words or pages, never bytes, and a reference to data
that is not right next to the code takes two instructions.  ADRP loads the
4 KiB *page* of the target relative to the page of the instruction
(R_AARCH64_ADR_PREL_PG_HI21, +/-4 GiB); the ADD or load/store that follows
supplies the low 12 bits of the target's address (the *_LO12_NC types).
Load/store immediates are scaled by the access size, so an LDR of a double
stores bits [11:3] and the target must be 8-byte aligned: the "no check"
in _NC is about overflow, a misaligned target is still an error here (as
in ld.lld).  Both halves only work if the page offset of every address is
the same at link time and at run time: image offset 0 is mapped page
aligned and the layout never moves a section off its alignment (see
image.IMAGE_ALIGN), so Page() of an image offset is exact.  B/BL
(CALL26/JUMP26) reach +/-128 MiB; conditional branches and literal loads
+/-1 MiB; TBZ/TBNZ +/-32 KiB.  No GOT and no PLT: calls to hidden
functions are direct, and GOT relocations (non-dso_local symbols) are
refused by name.  Jump tables need no relocation (the assembler resolves
the label differences), and R_AARCH64_ABS64 (an absolute pointer table)
would need load-time rebasing, so it is refused by name like R_X86_64_64.

psABI: https://github.com/ARM-software/abi-aa/blob/main/aaelf64/aaelf64.rst
"""

from .reloc import (ABSOLUTE, NO_GOT, Recipe, aligned, bits, either, patch_u32, pc_relative, pcrel,
                    signed, write_u16, write_u32, write_u64)

ELF_MACHINE = 183

R_AARCH64_ABS64 = 257
R_AARCH64_PREL64 = 260
R_AARCH64_PREL32 = 261
R_AARCH64_PREL16 = 262
R_AARCH64_LD_PREL_LO19 = 273
R_AARCH64_ADR_PREL_LO21 = 274
R_AARCH64_ADR_PREL_PG_HI21 = 275
R_AARCH64_ADR_PREL_PG_HI21_NC = 276
R_AARCH64_ADD_ABS_LO12_NC = 277
R_AARCH64_LDST8_ABS_LO12_NC = 278
R_AARCH64_TSTBR14 = 279
R_AARCH64_CONDBR19 = 280
R_AARCH64_JUMP26 = 282
R_AARCH64_CALL26 = 283
R_AARCH64_LDST16_ABS_LO12_NC = 284
R_AARCH64_LDST32_ABS_LO12_NC = 285
R_AARCH64_LDST64_ABS_LO12_NC = 286
R_AARCH64_LDST128_ABS_LO12_NC = 299


# --- formulas ------------------------------------------------------------

def page(x: int) -> int:
    """The 4 KiB page of address X (ADRP's unit)."""
    return x & ~0xFFF


def page_delta(S, A, P, place):
    return page(S + A) - page(P)


def lo12(S, A, P, place):
    # The low 12 bits of the *address* (not a PC-relative value): right on
    # image offsets because the image is mapped page aligned.  The full
    # alignment of S + A survives the mask (every access size divides 4096).
    return (S + A) & 0xFFF


# --- instruction-field writers --------------------------------------------

def write_imm26(buf, off, v):
    """B/BL: imm26 in bits [25:0], a word offset."""
    patch_u32(buf, off, 0x03FFFFFF, v >> 2)


def write_imm19(buf, off, v):
    """B.cond/CBZ/LDR (literal): imm19 in bits [23:5], a word offset."""
    patch_u32(buf, off, 0x7FFFF << 5, (v >> 2) << 5)


def write_imm14(buf, off, v):
    """TBZ/TBNZ: imm14 in bits [18:5], a word offset."""
    patch_u32(buf, off, 0x3FFF << 5, (v >> 2) << 5)


def write_adr(buf, off, v):
    """ADR: a 21-bit byte offset split into immlo (bits [30:29], the low 2
    bits) and immhi (bits [23:5], the rest)."""
    patch_u32(buf, off, (0b11 << 29) | (0x7FFFF << 5), (bits(v, 1, 0) << 29) | (bits(v, 20, 2) << 5))


def write_adrp(buf, off, v):
    """ADRP: same fields as ADR, counting pages, so V (a page delta) is
    stored without its low 12 bits (which are zero)."""
    write_adr(buf, off, v >> 12)


def _imm12_writer(shift: int):
    """ADD/LDR/STR (unsigned immediate): imm12 in bits [21:10], the offset
    divided by the access size (1 << SHIFT)."""
    def write(buf, off, v):
        patch_u32(buf, off, 0xFFF << 10, (v >> shift) << 10)
    write.__name__ = f"write_imm12_scaled{1 << shift}"
    return write


def _ldst(rtype: str, size: int) -> Recipe:
    """A load/store low-12 recipe for an access of SIZE bytes."""
    shift = size.bit_length() - 1
    return Recipe(
        rtype, lo12, aligned(size) if size > 1 else None, _imm12_writer(shift),
        f"Fixup <- (S + A)[11:{shift}] into the load/store's imm12 (no overflow check: _NC); "
        + (f"Errors: misaligned unless S + A is a multiple of {size}" if size > 1 else "Errors: none"))


RELOCS = {
    # --- branches and ADR: PC-relative, branches count words
    R_AARCH64_CALL26: pc_relative("R_AARCH64_CALL26", 28, write_imm26, "BL's imm26", 4),
    R_AARCH64_JUMP26: pc_relative("R_AARCH64_JUMP26", 28, write_imm26, "B's imm26 (tail calls)", 4),
    R_AARCH64_CONDBR19: pc_relative("R_AARCH64_CONDBR19", 21, write_imm19, "B.cond/CBZ/CBNZ's imm19", 4),
    R_AARCH64_TSTBR14: pc_relative("R_AARCH64_TSTBR14", 16, write_imm14, "TBZ/TBNZ's imm14", 4),
    R_AARCH64_LD_PREL_LO19: pc_relative("R_AARCH64_LD_PREL_LO19", 21, write_imm19, "LDR (literal)'s imm19", 4),
    R_AARCH64_ADR_PREL_LO21: pc_relative("R_AARCH64_ADR_PREL_LO21", 21, write_adr, "ADR's immhi:immlo"),
    # --- ADRP + ADD/LDR/STR pairs: the page, then the offset in it
    R_AARCH64_ADR_PREL_PG_HI21: Recipe(
        "R_AARCH64_ADR_PREL_PG_HI21", page_delta, signed(33), write_adrp,
        "Fixup <- (Page(S + A) - Page(P))[32:12] into ADRP's immhi:immlo; "
        "Errors: out of range unless the page delta fits int33 (+/-4 GiB)"),
    R_AARCH64_ADR_PREL_PG_HI21_NC: Recipe(
        "R_AARCH64_ADR_PREL_PG_HI21_NC", page_delta, None, write_adrp,
        "Fixup <- (Page(S + A) - Page(P))[32:12] into ADRP's immhi:immlo; Errors: none (_NC)"),
    R_AARCH64_ADD_ABS_LO12_NC: Recipe(
        "R_AARCH64_ADD_ABS_LO12_NC", lo12, None, _imm12_writer(0),
        "Fixup <- (S + A)[11:0] into ADD's imm12 (the ADRP's page holds the rest); "
        "Errors: none (_NC)"),
    R_AARCH64_LDST8_ABS_LO12_NC: _ldst("R_AARCH64_LDST8_ABS_LO12_NC", 1),
    R_AARCH64_LDST16_ABS_LO12_NC: _ldst("R_AARCH64_LDST16_ABS_LO12_NC", 2),
    R_AARCH64_LDST32_ABS_LO12_NC: _ldst("R_AARCH64_LDST32_ABS_LO12_NC", 4),
    R_AARCH64_LDST64_ABS_LO12_NC: _ldst("R_AARCH64_LDST64_ABS_LO12_NC", 8),
    R_AARCH64_LDST128_ABS_LO12_NC: _ldst("R_AARCH64_LDST128_ABS_LO12_NC", 16),
    # --- data: PC-relative words (relative tables in .rodata)
    R_AARCH64_PREL16: Recipe(
        "R_AARCH64_PREL16", pcrel, either(16), write_u16,
        "Fixup <- S + A - P : int16 or uint16; Errors: out of range unless -2^15 <= X < 2^16"),
    R_AARCH64_PREL32: Recipe(
        "R_AARCH64_PREL32", pcrel, either(32), write_u32,
        "Fixup <- S + A - P : int32 or uint32; Errors: out of range unless -2^31 <= X < 2^32"),
    R_AARCH64_PREL64: Recipe(
        "R_AARCH64_PREL64", pcrel, None, write_u64,
        "Fixup <- S + A - P : int64; Errors: none (every image offset delta fits)"),
}

NAMES = {
    0: "R_AARCH64_NONE", 257: "R_AARCH64_ABS64", 258: "R_AARCH64_ABS32", 259: "R_AARCH64_ABS16",
    260: "R_AARCH64_PREL64", 261: "R_AARCH64_PREL32", 262: "R_AARCH64_PREL16",
    263: "R_AARCH64_MOVW_UABS_G0", 264: "R_AARCH64_MOVW_UABS_G0_NC", 265: "R_AARCH64_MOVW_UABS_G1",
    266: "R_AARCH64_MOVW_UABS_G1_NC", 267: "R_AARCH64_MOVW_UABS_G2", 268: "R_AARCH64_MOVW_UABS_G2_NC",
    269: "R_AARCH64_MOVW_UABS_G3", 270: "R_AARCH64_MOVW_SABS_G0", 271: "R_AARCH64_MOVW_SABS_G1",
    272: "R_AARCH64_MOVW_SABS_G2", 273: "R_AARCH64_LD_PREL_LO19", 274: "R_AARCH64_ADR_PREL_LO21",
    275: "R_AARCH64_ADR_PREL_PG_HI21", 276: "R_AARCH64_ADR_PREL_PG_HI21_NC",
    277: "R_AARCH64_ADD_ABS_LO12_NC", 278: "R_AARCH64_LDST8_ABS_LO12_NC", 279: "R_AARCH64_TSTBR14",
    280: "R_AARCH64_CONDBR19", 282: "R_AARCH64_JUMP26", 283: "R_AARCH64_CALL26",
    284: "R_AARCH64_LDST16_ABS_LO12_NC", 285: "R_AARCH64_LDST32_ABS_LO12_NC",
    286: "R_AARCH64_LDST64_ABS_LO12_NC", 287: "R_AARCH64_MOVW_PREL_G0", 288: "R_AARCH64_MOVW_PREL_G0_NC",
    289: "R_AARCH64_MOVW_PREL_G1", 290: "R_AARCH64_MOVW_PREL_G1_NC", 291: "R_AARCH64_MOVW_PREL_G2",
    292: "R_AARCH64_MOVW_PREL_G2_NC", 293: "R_AARCH64_MOVW_PREL_G3", 299: "R_AARCH64_LDST128_ABS_LO12_NC",
    307: "R_AARCH64_GOTREL64", 308: "R_AARCH64_GOTREL32", 309: "R_AARCH64_GOT_LD_PREL19",
    311: "R_AARCH64_ADR_GOT_PAGE", 312: "R_AARCH64_LD64_GOT_LO12_NC", 314: "R_AARCH64_PLT32",
    315: "R_AARCH64_GOTPCREL32", 1024: "R_AARCH64_COPY", 1025: "R_AARCH64_GLOB_DAT",
    1026: "R_AARCH64_JUMP_SLOT", 1027: "R_AARCH64_RELATIVE",
}

# Types that are known and deliberately refused, with the reason.
REFUSED = {
    **{t: ABSOLUTE for t in (257, 258, 259, *range(263, 273))},
    **{t: NO_GOT for t in (309, 311, 312, 315)},
}
