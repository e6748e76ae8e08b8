"""RISC-V 64 relocations (RISC-V ELF psABI).

RISC-V has no instruction with a 32-bit immediate, so a PC-relative address
is built by two: AUIPC adds the upper 20 bits to the PC, and the ADDI, load,
store or JALR that follows adds a *sign-extended* 12-bit low part.  The
upper part is therefore rounded, hi = (v + 0x800) >> 12, so that
(hi << 12) + lo == v for lo in [-2048, 2047].  The quirk every RISC-V
linker must know: R_RISCV_PCREL_LO12_I/_S do not name the target.  Their
symbol is a label at the AUIPC, and the value comes from the
R_RISCV_PCREL_HI20 found at that label, even when the two instructions are
far apart, so the partner is looked up by (section, offset) (mold's
``find_paired_reloc``), never by position in the table.  CALL/CALL_PLT
patch an AUIPC+JALR pair at once (+/-2 GiB); JAL reaches +/-1 MiB, B-type
branches +/-4 KiB, and the compressed C.J/C.BEQZ +/-2 KiB/+/-256 B;
immediates are scattered over the instruction word.  Instructions may be
2 bytes (RVC), so the alignment of a branch target is 2, not 4.

Jump tables are differences of two labels.  The assembler leaves them to the
linker as an R_RISCV_ADDn/R_RISCV_SUBn pair at the same place (value =
S(ADD) + A - S(SUB) - A), and does so even without relaxation; the pair is
image-relative, so it needs no load-time fix-up.  A lone ADD, SUB or SET
would store an absolute address and is an error.  Objects are emitted with
``-relax`` (relaxation off): relaxation would shrink sections and comes with
R_RISCV_RELAX and R_RISCV_ALIGN, which this linker refuses by name rather
than ignore.  Absolute R_RISCV_32/64/HI20/LO12 would need load-time
rebasing, GOT_HI20 a GOT: all refused by name.

psABI: https://github.com/riscv-non-isa/riscv-elf-psabi-doc/blob/master/riscv-elf.adoc
"""

from .reloc import (ABSOLUTE, NO_GOT, Range, Recipe, RelocError, bits, either, patch_u16, patch_u32,
                    pc_relative, pcrel, unsigned, write_nothing, write_u8, write_u16, write_u32, write_u64)

ELF_MACHINE = 243

R_RISCV_BRANCH = 16
R_RISCV_JAL = 17
R_RISCV_CALL = 18
R_RISCV_CALL_PLT = 19
R_RISCV_PCREL_HI20 = 23
R_RISCV_PCREL_LO12_I = 24
R_RISCV_PCREL_LO12_S = 25
R_RISCV_ADD8, R_RISCV_ADD16, R_RISCV_ADD32, R_RISCV_ADD64 = 33, 34, 35, 36
R_RISCV_SUB8, R_RISCV_SUB16, R_RISCV_SUB32, R_RISCV_SUB64 = 37, 38, 39, 40
R_RISCV_ALIGN = 43
R_RISCV_RVC_BRANCH = 44
R_RISCV_RVC_JUMP = 45
R_RISCV_RELAX = 51
R_RISCV_SUB6 = 52
R_RISCV_SET6, R_RISCV_SET8, R_RISCV_SET16, R_RISCV_SET32 = 53, 54, 55, 56
R_RISCV_32_PCREL = 57


# --- instruction-field writers --------------------------------------------

def hi20(v: int) -> int:
    """The AUIPC/LUI immediate for V: rounded so that the sign-extended low
    12 bits added back give V exactly."""
    return (v + 0x800) >> 12


# AUIPC + a sign-extended 12-bit part reach v iff hi20(v) fits int20.
HI20_RANGE = Range(-(1 << 31) - 0x800, (1 << 31) - 0x800)


def write_utype(buf, off, v):
    """U-type (AUIPC/LUI): imm[31:12] in bits [31:12]."""
    patch_u32(buf, off, 0xFFFFF000, hi20(v) << 12)


def write_itype(buf, off, v):
    """I-type (ADDI, loads, JALR): imm[11:0] in bits [31:20].  The low 12
    bits of V are exactly v - (hi20(v) << 12) as a signed 12-bit field."""
    patch_u32(buf, off, 0xFFF00000, v << 20)


def write_stype(buf, off, v):
    """S-type (stores): imm[11:5] in bits [31:25], imm[4:0] in bits [11:7]."""
    patch_u32(buf, off, 0xFE000F80, (bits(v, 11, 5) << 25) | (bits(v, 4, 0) << 7))


def write_btype(buf, off, v):
    """B-type (BEQ...): imm[12|10:5] in bits [31|30:25], imm[4:1|11] in
    bits [11:8|7]; bit 0 is implied zero."""
    patch_u32(buf, off, 0xFE000F80,
              (bits(v, 12, 12) << 31) | (bits(v, 10, 5) << 25)
              | (bits(v, 4, 1) << 8) | (bits(v, 11, 11) << 7))


def write_jtype(buf, off, v):
    """J-type (JAL): imm[20|10:1|11|19:12] in bits [31|30:21|20|19:12]."""
    patch_u32(buf, off, 0xFFFFF000,
              (bits(v, 20, 20) << 31) | (bits(v, 10, 1) << 21)
              | (bits(v, 11, 11) << 20) | (bits(v, 19, 12) << 12))


def write_call(buf, off, v):
    """AUIPC at OFF then JALR at OFF+4 (R_RISCV_CALL/CALL_PLT)."""
    write_utype(buf, off, v)
    write_itype(buf, off + 4, v)


def write_cbtype(buf, off, v):
    """CB format (C.BEQZ/C.BNEZ, 16 bits): imm[8|4:3] in bits [12|11:10],
    imm[7:6|2:1|5] in bits [6:5|4:3|2]."""
    patch_u16(buf, off, 0x1C7C,
              (bits(v, 8, 8) << 12) | (bits(v, 4, 3) << 10)
              | (bits(v, 7, 6) << 5) | (bits(v, 2, 1) << 3) | (bits(v, 5, 5) << 2))


def write_cjtype(buf, off, v):
    """CJ format (C.J, 16 bits): imm[11|4|9:8|10|6|7|3:1|5] in bits [12:2]."""
    patch_u16(buf, off, 0x1FFC,
              (bits(v, 11, 11) << 12) | (bits(v, 4, 4) << 11) | (bits(v, 9, 8) << 9)
              | (bits(v, 10, 10) << 8) | (bits(v, 6, 6) << 7) | (bits(v, 7, 7) << 6)
              | (bits(v, 3, 1) << 3) | (bits(v, 5, 5) << 2))


def write_set6(buf, off, v):
    """The low 6 bits of a byte (DWARF's DW_CFA_advance_loc); bits 7:6 kept."""
    buf[off] = buf[off] & 0xC0 | v & 0x3F


def _auipc(name: str, write, field: str) -> Recipe:
    return Recipe(name, pcrel, HI20_RANGE, write,
                  f"Fixup <- S + A - P into {field}; "
                  "Errors: out of range unless S + A - P + 0x800 fits int32 (+/-2 GiB)")


# --- PCREL_LO12: the value of the paired HI20 -------------------------------

_HI20 = {R_RISCV_PCREL_HI20: "R_RISCV_PCREL_HI20"}


def pcrel_lo12(S, A, P, place):
    """S is the label at the AUIPC; the target and addend are on the
    PCREL_HI20 there, and the delta is relative to the AUIPC, not to P."""
    if A:
        raise RelocError(f"addend {A} on a PCREL_LO12 relocation, whose symbol must be "
                         "the AUIPC's label (the addend belongs on its PCREL_HI20)")
    label = place.symbol
    if label.shndx not in place.linker.objs[place.obj_index].sections:
        raise RelocError(f"its label {label.name or '(unnamed)'} is not in a section of this object")
    _, S_hi, A_hi, P_hi = place.pair(_HI20, label.shndx, label.value)
    return S_hi + A_hi - P_hi


# --- ADD/SUB/SET: label differences in data ----------------------------------

def _difference(S, A, place, partners: dict):
    """S + A of this relocation minus S + A of its one partner at the same
    place (the SUB of an ADD/SET)."""
    _, S2, A2, _ = place.pair(partners)
    return S + A - (S2 + A2)


def _add(name: str, nbytes: int, sub: int, write) -> Recipe:
    partner = {sub: NAMES[sub]}

    def value(S, A, P, place):
        # ADD adds to what is there (normally 0); the SUB is folded in here
        return place.original(nbytes) + _difference(S, A, place, partner)
    nbits = 8 * nbytes
    return Recipe(name, value, either(nbits), write,
                  f"Fixup <- V + (S + A) - (S' + A') : word{nbits}, where S', A' are those of the "
                  f"{NAMES[sub]} at the same place; Errors: the {NAMES[sub]} is missing, or out "
                  f"of range unless the result fits int{nbits} or uint{nbits}")


def _set(name: str, nbits: int, sub: int, check, write) -> Recipe:
    partner = {sub: NAMES[sub]}

    def value(S, A, P, place):
        return _difference(S, A, place, partner)
    return Recipe(name, value, check, write,
                  f"Fixup <- (S + A) - (S' + A') : word{nbits}, where S', A' are those of the "
                  f"{NAMES[sub]} at the same place; Errors: the {NAMES[sub]} is missing, or out "
                  "of range unless the difference fits the field")


def _sub(name: str, adds: tuple) -> Recipe:
    partners = {t: NAMES[t] for t in adds}

    def value(S, A, P, place):
        place.pair(partners)  # only checks it is there: the partner writes
        return 0
    return Recipe(name, value, None, write_nothing,
                  f"Fixup <- nothing: folded into the {' or '.join(partners.values())} at the same "
                  "place; Errors: that partner is missing")


NAMES = {
    0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 3: "R_RISCV_RELATIVE", 4: "R_RISCV_COPY",
    5: "R_RISCV_JUMP_SLOT", 6: "R_RISCV_TLS_DTPMOD32", 7: "R_RISCV_TLS_DTPMOD64",
    8: "R_RISCV_TLS_DTPREL32", 9: "R_RISCV_TLS_DTPREL64", 10: "R_RISCV_TLS_TPREL32",
    11: "R_RISCV_TLS_TPREL64", 12: "R_RISCV_TLSDESC", 16: "R_RISCV_BRANCH", 17: "R_RISCV_JAL",
    18: "R_RISCV_CALL", 19: "R_RISCV_CALL_PLT", 20: "R_RISCV_GOT_HI20", 21: "R_RISCV_TLS_GOT_HI20",
    22: "R_RISCV_TLS_GD_HI20", 23: "R_RISCV_PCREL_HI20", 24: "R_RISCV_PCREL_LO12_I",
    25: "R_RISCV_PCREL_LO12_S", 26: "R_RISCV_HI20", 27: "R_RISCV_LO12_I", 28: "R_RISCV_LO12_S",
    29: "R_RISCV_TPREL_HI20", 30: "R_RISCV_TPREL_LO12_I", 31: "R_RISCV_TPREL_LO12_S",
    32: "R_RISCV_TPREL_ADD", 33: "R_RISCV_ADD8", 34: "R_RISCV_ADD16", 35: "R_RISCV_ADD32",
    36: "R_RISCV_ADD64", 37: "R_RISCV_SUB8", 38: "R_RISCV_SUB16", 39: "R_RISCV_SUB32",
    40: "R_RISCV_SUB64", 41: "R_RISCV_GOT32_PCREL", 43: "R_RISCV_ALIGN", 44: "R_RISCV_RVC_BRANCH",
    45: "R_RISCV_RVC_JUMP", 51: "R_RISCV_RELAX", 52: "R_RISCV_SUB6", 53: "R_RISCV_SET6",
    54: "R_RISCV_SET8", 55: "R_RISCV_SET16", 56: "R_RISCV_SET32", 57: "R_RISCV_32_PCREL",
    58: "R_RISCV_IRELATIVE", 59: "R_RISCV_PLT32", 60: "R_RISCV_SET_ULEB128", 61: "R_RISCV_SUB_ULEB128",
    62: "R_RISCV_TLSDESC_HI20", 63: "R_RISCV_TLSDESC_LOAD_LO12", 64: "R_RISCV_TLSDESC_ADD_LO12",
    65: "R_RISCV_TLSDESC_CALL",
}

RELOCS = {
    # --- branches and calls: PC-relative, bit 0 implied
    R_RISCV_BRANCH: pc_relative("R_RISCV_BRANCH", 13, write_btype, "the B-type immediate", 2),
    R_RISCV_JAL: pc_relative("R_RISCV_JAL", 21, write_jtype, "the J-type immediate", 2),
    R_RISCV_RVC_BRANCH: pc_relative("R_RISCV_RVC_BRANCH", 9, write_cbtype, "C.BEQZ/C.BNEZ's CB immediate", 2),
    R_RISCV_RVC_JUMP: pc_relative("R_RISCV_RVC_JUMP", 12, write_cjtype, "C.J's CJ immediate", 2),
    # AUIPC-based: the upper 20 bits (rounded) of a +/-2 GiB delta
    R_RISCV_CALL: _auipc("R_RISCV_CALL", write_call, "AUIPC + JALR (hi20, rounded, and lo12)"),
    R_RISCV_CALL_PLT: _auipc("R_RISCV_CALL_PLT", write_call, "AUIPC + JALR (hi20, rounded, and "
                             "lo12; no PLT: the callee is in the same image)"),
    R_RISCV_PCREL_HI20: _auipc("R_RISCV_PCREL_HI20", write_utype, "AUIPC's U-type immediate "
                               "(hi20, rounded; its LO12 partners write the rest)"),
    R_RISCV_PCREL_LO12_I: Recipe(
        "R_RISCV_PCREL_LO12_I", pcrel_lo12, None, write_itype,
        "Fixup <- (S' + A' - P')[11:0] into the I-type immediate, where S', A', P' are those "
        "of the R_RISCV_PCREL_HI20 at this relocation's symbol (the AUIPC's label); "
        "Errors: that HI20 is missing, or this relocation has an addend (range: checked on the HI20)"),
    R_RISCV_PCREL_LO12_S: Recipe(
        "R_RISCV_PCREL_LO12_S", pcrel_lo12, None, write_stype,
        "Fixup <- (S' + A' - P')[11:0] into the S-type (store) immediate, where S', A', P' are "
        "those of the R_RISCV_PCREL_HI20 at this relocation's symbol; "
        "Errors: that HI20 is missing, or this relocation has an addend"),
    # --- data: PC-relative words, and label differences (jump tables)
    R_RISCV_32_PCREL: pc_relative("R_RISCV_32_PCREL", 32, write_u32, "a 32-bit word"),
    R_RISCV_ADD8: _add("R_RISCV_ADD8", 1, R_RISCV_SUB8, write_u8),
    R_RISCV_ADD16: _add("R_RISCV_ADD16", 2, R_RISCV_SUB16, write_u16),
    R_RISCV_ADD32: _add("R_RISCV_ADD32", 4, R_RISCV_SUB32, write_u32),
    R_RISCV_ADD64: _add("R_RISCV_ADD64", 8, R_RISCV_SUB64, write_u64),
    R_RISCV_SET6: _set("R_RISCV_SET6", 6, R_RISCV_SUB6, unsigned(6), write_set6),
    R_RISCV_SET8: _set("R_RISCV_SET8", 8, R_RISCV_SUB8, either(8), write_u8),
    R_RISCV_SET16: _set("R_RISCV_SET16", 16, R_RISCV_SUB16, either(16), write_u16),
    R_RISCV_SET32: _set("R_RISCV_SET32", 32, R_RISCV_SUB32, either(32), write_u32),
    R_RISCV_SUB6: _sub("R_RISCV_SUB6", (R_RISCV_SET6,)),
    R_RISCV_SUB8: _sub("R_RISCV_SUB8", (R_RISCV_ADD8, R_RISCV_SET8)),
    R_RISCV_SUB16: _sub("R_RISCV_SUB16", (R_RISCV_ADD16, R_RISCV_SET16)),
    R_RISCV_SUB32: _sub("R_RISCV_SUB32", (R_RISCV_ADD32, R_RISCV_SET32)),
    R_RISCV_SUB64: _sub("R_RISCV_SUB64", (R_RISCV_ADD64,)),
}

# Types that are known and deliberately refused, with the reason.
REFUSED = {
    **{t: ABSOLUTE for t in (1, 2, 26, 27, 28)},
    20: NO_GOT, 41: NO_GOT,
    R_RISCV_RELAX: "linker relaxation: wasmc emits RISC-V objects with -relax",
    R_RISCV_ALIGN: "linker relaxation: wasmc emits RISC-V objects with -relax",
}
