"""RISC-V 64 relocations (wasmc/link/riscv64.py).

As for AArch64: each type linked by wasmc and by ld.lld at the same
addresses, bytes compared; decoded operands (hi20/lo12 rounding when bit 11
of the low part is set, negative deltas, the split S-type and the scattered
B/J/CB/CJ immediates); range checks at their bounds.  Plus the RISC-V
specific pairing: PCREL_LO12 resolved through the HI20 at its label (even
when that label comes later in the section or is shared), ADD/SUB pairs,
and the errors when a partner is missing.
"""

from __future__ import annotations

import struct

import pytest
from test_link import apply_at, asm_library, assemble, compile_for, link_both, reloc_types, switch_ir

from wasmc import targets
from wasmc.errors import CompileError
from wasmc.link import riscv64 as rv
from wasmc.link.image import link
from wasmc.link.reloc import sign_extend

T = targets.get("riscv64")
M = rv.ELF_MACHINE
NORELAX = ("-march=rv64gc", "-mno-relax")  # as wasmc emits (targets/riscv64.toml)


def asm(src: str, tmp_path, name: str, flags=NORELAX):
    return assemble(T, src, tmp_path, name, flags)


# --- decoding the fields back ------------------------------------------------

def u32(code, off) -> int:
    return struct.unpack_from("<I", code, off)[0]


def u16(code, off) -> int:
    return struct.unpack_from("<H", code, off)[0]


def decode_u(i: int) -> int:
    return sign_extend(i >> 12, 20) << 12


def decode_i(i: int) -> int:
    return sign_extend(i >> 20, 12)


def decode_s(i: int) -> int:
    return sign_extend(((i >> 25) << 5) | ((i >> 7) & 0x1F), 12)


def decode_b(i: int) -> int:
    v = (((i >> 31) & 1) << 12) | (((i >> 7) & 1) << 11) | (((i >> 25) & 0x3F) << 5) | (((i >> 8) & 0xF) << 1)
    return sign_extend(v, 13)


def decode_j(i: int) -> int:
    v = (((i >> 31) & 1) << 20) | (((i >> 12) & 0xFF) << 12) | (((i >> 20) & 1) << 11) | (((i >> 21) & 0x3FF) << 1)
    return sign_extend(v, 21)


def decode_cb(h: int) -> int:
    v = (((h >> 12) & 1) << 8) | (((h >> 10) & 3) << 3) | (((h >> 5) & 3) << 6) | (((h >> 3) & 3) << 1) \
        | (((h >> 2) & 1) << 5)
    return sign_extend(v, 9)


def decode_cj(h: int) -> int:
    v = (((h >> 12) & 1) << 11) | (((h >> 11) & 1) << 4) | (((h >> 9) & 3) << 8) | (((h >> 8) & 1) << 10) \
        | (((h >> 7) & 1) << 6) | (((h >> 6) & 1) << 7) | (((h >> 3) & 7) << 1) | (((h >> 2) & 1) << 5)
    return sign_extend(v, 12)


# Encodings with the relocated fields zero.
AUIPC_RA = 0x00000097
JALR_RA = 0x000080E7
BEQ_A0_A1 = 0x00B50063
JAL_RA = 0x000000EF
C_BEQZ_A0 = 0xC101
C_J = 0xA001
SD_A1_A0 = 0x00B53023


def apply(rtype: int, template: bytes, S: int, A: int, P: int) -> bytes:
    return apply_at(M, rtype, template, S, A, P)


@pytest.mark.parametrize("delta", [0, 0x7FF, 0x800, 0xFFF, 0x1800, 0x12345FFC, -4, -0x800, -0x801,
                                   -0x12345800, (1 << 31) - 0x801, -(1 << 31) - 0x800])
def test_call_rounds_hi20_for_the_sign_extended_lo12(delta):
    """AUIPC + JALR reach S + A - P exactly, also when bit 11 of the low part
    is set (the upper part is rounded up and the lower one is negative)."""
    P = 1 << 32
    code = apply(rv.R_RISCV_CALL_PLT, struct.pack("<II", AUIPC_RA, JALR_RA), P + delta, 0, P)
    auipc, jalr = u32(code, 0), u32(code, 4)
    assert auipc & 0xFFF == AUIPC_RA and jalr & 0xFFFFF == JALR_RA
    assert decode_u(auipc) + decode_i(jalr) == delta
    if delta & 0x800:
        assert decode_i(jalr) < 0 and decode_u(auipc) > delta


@pytest.mark.parametrize("rtype", [rv.R_RISCV_CALL, rv.R_RISCV_CALL_PLT, rv.R_RISCV_PCREL_HI20])
def test_hi20_range_is_exact(rtype):
    P = 1 << 32
    name = rv.NAMES[rtype]
    template = struct.pack("<II", AUIPC_RA, JALR_RA)
    for delta in ((1 << 31) - 0x801, -(1 << 31) - 0x800):
        apply(rtype, template, P + delta, 0, P)
    for delta in ((1 << 31) - 0x800, -(1 << 31) - 0x801):
        with pytest.raises(CompileError, match=f"relocation {name} is out of range"):
            apply(rtype, template, P + delta, 0, P)


@pytest.mark.parametrize("rtype, template, width, decode, lo, hi", [
    (rv.R_RISCV_BRANCH, BEQ_A0_A1, 4, decode_b, -(1 << 12), (1 << 12) - 2),
    (rv.R_RISCV_JAL, JAL_RA, 4, decode_j, -(1 << 20), (1 << 20) - 2),
    (rv.R_RISCV_RVC_BRANCH, C_BEQZ_A0, 2, decode_cb, -(1 << 8), (1 << 8) - 2),
    (rv.R_RISCV_RVC_JUMP, C_J, 2, decode_cj, -(1 << 11), (1 << 11) - 2),
])
def test_branch_fields_at_their_bounds(rtype, template, width, decode, lo, hi):
    """Scattered immediates decode back for every bit (a walking one, both
    signs) and at the bounds; one step beyond is "out of range", an odd
    offset "misaligned"."""
    fmt, read = ("<I", u32) if width == 4 else ("<H", u16)
    P = 1 << 30
    name = rv.NAMES[rtype]
    walking = [1 << b for b in range(1, hi.bit_length())]
    for delta in [lo, hi, *walking, *(-d for d in walking)]:
        code = apply(rtype, struct.pack(fmt, template), P + delta, 0, P)
        assert decode(read(code, 0)) == delta, hex(delta)
    for delta in (lo - 2, hi + 2):
        with pytest.raises(CompileError, match=f"relocation {name} is out of range"):
            apply(rtype, struct.pack(fmt, template), P + delta, 0, P)
    with pytest.raises(CompileError, match=f"relocation {name} is misaligned"):
        apply(rtype, struct.pack(fmt, template), P + 3, 0, P)


def test_32_pcrel_at_its_bounds():
    P = 1 << 32
    assert struct.unpack("<i", apply(rv.R_RISCV_32_PCREL, bytes(4), P - (1 << 31), 0, P))[0] == -(1 << 31)
    for delta in (1 << 31, -(1 << 31) - 1):
        with pytest.raises(CompileError, match="relocation R_RISCV_32_PCREL is out of range"):
            apply(rv.R_RISCV_32_PCREL, bytes(4), P + delta, 0, P)


def test_stype_split_immediate():
    """A store's immediate is split: imm[11:5] in bits 31:25, imm[4:0] in 11:7."""
    buf = bytearray(struct.pack("<I", SD_A1_A0))
    for v in (0, 1, 0x1F, 0x20, 0x7FF, -1, -0x800, -0x421):
        rv.write_stype(buf, 0, v)
        i = u32(buf, 0)
        assert decode_s(i) == v and i & 0x01FFF07F == SD_A1_A0


# --- IR objects, against ld.lld ------------------------------------------------

SWITCH, CALLEES = switch_ir()
CODE = SWITCH + """
@table = hidden unnamed_addr constant [5 x i32] [i32 3, i32 1, i32 4, i32 1, i32 5]
define hidden double @k(double %x) #0 {
  %b = fadd double %x, 0x400921FB54442D18
  %c = fmul double %b, 0x4005BF0A8B145769
  ret double %c
}
define hidden ptr @addr() #0 {
  ret ptr @table
}
"""


def test_ir_objects_match_lld(tmp_path):
    """The types LLVM emits for wasmc's code (the survey's): CALL_PLT,
    PCREL_HI20 + LO12_I, and the ADD32/SUB32 pairs of a jump table."""
    a = compile_for(T, CODE, "a")
    b = compile_for(T, CALLEES, "b")
    seen = reloc_types([a, b])
    assert {rv.R_RISCV_CALL_PLT, rv.R_RISCV_PCREL_HI20, rv.R_RISCV_PCREL_LO12_I,
            rv.R_RISCV_ADD32, rv.R_RISCV_SUB32} <= seen, sorted(rv.NAMES[t] for t in seen)
    assert not seen & {rv.R_RISCV_RELAX, rv.R_RISCV_ALIGN}
    for objects in ([a, b], [b, a]):
        link_both(objects, T, tmp_path)


# --- assembly, one object per relocation type, against ld.lld ------------------------

lib = asm_library


def reloc(rtype: str, insn: str, sym="g") -> str:
    """INSN with relocation RTYPE against SYM (for types the assembler only
    emits when relaxation or compression is on).  SYM is declared: clang
    would otherwise leave the relocation without a symbol."""
    return f".globl {sym}\n  .reloc ., {rtype}, {sym}\n  {insn}"


# A data word in .rodata that is the difference of two code labels in
# different sections (what a jump table holds).
def difference(directive: str) -> str:
    return (f'.section .text.t,"ax"\n.La:\n  nop\n  nop\n.text\n.Lb:\n  nop\n'
            f'.section .rodata,"a"\n  {directive} .La - .Lb + 1')


def set_sub(bits: int, directive: str) -> str:
    return ('.section .text.t,"ax"\n.La:\n  nop\n.text\n.Lb:\n  nop\n.section .rodata,"a"\n'
            f"  .reloc ., R_RISCV_SET{bits}, .La\n  .reloc ., R_RISCV_SUB{bits}, .Lb\n  {directive} 0")


# name -> (snippet, reach: the largest |S - P| the layout may use)
ASM = {
    "R_RISCV_CALL": ("call g", 1 << 31),
    "R_RISCV_CALL_PLT": ("call g@plt", 1 << 31),
    "R_RISCV_JAL": ("jal g", 1 << 20),
    "R_RISCV_BRANCH": ("beq a0, a1, g", 1 << 12),
    "R_RISCV_RVC_BRANCH": (reloc("R_RISCV_RVC_BRANCH", "c.beqz a0, ."), 1 << 8),
    "R_RISCV_RVC_JUMP": (reloc("R_RISCV_RVC_JUMP", "c.j ."), 1 << 11),
    "R_RISCV_PCREL_HI20": (".Lh: auipc a0, %pcrel_hi(g)", 1 << 31),
    "R_RISCV_PCREL_LO12_I": (".Lh: auipc a0, %pcrel_hi(datum+0x7f8)\n  ld a0, %pcrel_lo(.Lh)(a0)", 1 << 31),
    "R_RISCV_PCREL_LO12_S": (".Lh: auipc a0, %pcrel_hi(datum+0x19)\n  sb a1, %pcrel_lo(.Lh)(a0)", 1 << 31),
    "R_RISCV_32_PCREL": ('.section .rodata,"a"\n  ' + reloc("R_RISCV_32_PCREL", ".word 0"), 1 << 31),
    "R_RISCV_ADD8": (difference(".byte"), 0), "R_RISCV_ADD16": (difference(".half"), 0),
    "R_RISCV_ADD32": (difference(".word"), 0), "R_RISCV_ADD64": (difference(".quad"), 0),
    "R_RISCV_SET6": (set_sub(6, ".byte"), 0), "R_RISCV_SET8": (set_sub(8, ".byte"), 0),
    "R_RISCV_SET16": (set_sub(16, ".half"), 0), "R_RISCV_SET32": (set_sub(32, ".word"), 0),
}
# the second half of each pair is covered by its partner's case
PAIRED = {"R_RISCV_SUB6": "R_RISCV_SET6", "R_RISCV_SUB8": "R_RISCV_ADD8", "R_RISCV_SUB16": "R_RISCV_ADD16",
          "R_RISCV_SUB32": "R_RISCV_ADD32", "R_RISCV_SUB64": "R_RISCV_ADD64"}
LAYOUTS = {"near": (False, 0, 0), "backwards": (True, 0x40, 0x20), "far": (False, 0x5000, 0x3FF0)}


def test_every_recipe_has_an_assembly_case():
    assert set(ASM) | set(PAIRED) == {r.name for r in rv.RELOCS.values()}


def reachable(name: str, layout: str) -> bool:
    """Can NAME's snippet reach its target across LAYOUT?  (The compressed
    branches cannot cross the far one; the differences stay in one object.)"""
    reach = ASM[name][1]
    return reach == 0 or max(LAYOUTS[layout][1:]) * 2 <= reach


@pytest.mark.parametrize("name, layout", [(n, lay) for n in sorted(ASM) for lay in sorted(LAYOUTS)
                                          if reachable(n, lay)])
def test_each_relocation_matches_lld(name, layout, tmp_path):
    first, skip_text, skip_data = LAYOUTS[layout]
    snippet = ASM[name][0]
    code = asm(f".text\n.globl f\n.type f,@function\nf:\n  {snippet}\n  ret\n", tmp_path, "snippet")
    library = asm(lib(skip_text, skip_data), tmp_path, "lib")
    names = {rv.NAMES[t] for t in reloc_types([code])}
    assert name in names and names <= {name, "R_RISCV_PCREL_HI20", *PAIRED}, names
    link_both([library, code] if first else [code, library], T, tmp_path)


@pytest.mark.parametrize("skip", [0, 0x7F0, 0x7F8, 0x800, 0xFF8, 0x1800])
@pytest.mark.parametrize("first", [False, True], ids=["forwards", "backwards"])
def test_pcrel_pairs_decode_to_the_target(skip, first, tmp_path):
    """AUIPC + ADDI/LD/SD reach the target exactly: also when bit 11 of the
    low part is set, and for negative deltas (lib first)."""
    target = "g" if first else "datum"  # (.rodata is always after the code)
    code = asm(f".text\n.globl f\n.type f,@function\nf:\n.Lh:\n  auipc a0, %pcrel_hi({target})\n"
               "  addi a1, a0, %pcrel_lo(.Lh)\n  ld a2, %pcrel_lo(.Lh)(a0)\n  sd a2, %pcrel_lo(.Lh)(a0)\n"
               "  ret\n", tmp_path, "snippet")
    library = asm(lib(skip * 3, skip), tmp_path, "lib")
    lk, linked = link_both([library, code] if first else [code, library], T, tmp_path)
    f = linked.functions["f"][0] - linked.base
    S = next(lk.sym_addrs[k][i] for k, o in enumerate(lk.objs)
             for i, s in enumerate(o.symbols) if s.name == target)
    v = S - (f + linked.base)
    assert (v < 0) == first
    auipc, addi, ld, sd = (u32(linked.code, f + 4 * n) for n in range(4))
    assert decode_u(auipc) + decode_i(addi) == v
    assert decode_u(auipc) + decode_i(ld) == v
    assert decode_u(auipc) + decode_s(sd) == v


def test_pcrel_lo12_found_by_place_not_by_order(tmp_path):
    """The LO12s come *before* their AUIPC in the section (and in the
    relocation table), two share one HI20, and another HI20 sits between:
    each is resolved through the HI20 at its own label."""
    code = asm(""".text
.globl f
f:
  j 1f
.Lback:
  ld a0, %pcrel_lo(.Lh1)(a0)
  sd a0, %pcrel_lo(.Lh2)(a1)
  addi a3, a0, %pcrel_lo(.Lh1)
  ret
1:
.Lh1:
  auipc a0, %pcrel_hi(datum+0x7f8)
.Lh2:
  auipc a1, %pcrel_hi(datum+0x10)
  j .Lback
""", tmp_path, "snippet")
    link_both([code, asm(lib(0x100, 0x900), tmp_path, "lib")], T, tmp_path)


# --- errors -------------------------------------------------------------------

def half_pair(rtype: str) -> str:
    return f'.text\nf:\n  ret\n.section .rodata,"a"\n  .reloc ., {rtype}, f\n  .word 0\n'


# name -> (assembly, the error it must give)
ERRORS = {
    # (the assembler checks the pairing itself: .reloc gets past it)
    "lo12 without hi20": (
        ".option norvc\n.text\nf:\n.Lh:\n  nop\n  .reloc ., R_RISCV_PCREL_LO12_I, .Lh\n  addi a0, a0, 0\n",
        r"snippet: relocation R_RISCV_PCREL_LO12_I at \.text\+0x4: "
        r"paired relocation R_RISCV_PCREL_HI20 is missing at \.text\+0x0"),
    "lo12 with an addend": (
        ".text\nf:\n.Lh:\n  auipc a0, %pcrel_hi(f)\n  .reloc ., R_RISCV_PCREL_LO12_I, .Lh+4\n  addi a0, a0, 0\n",
        r"R_RISCV_PCREL_LO12_I at \.text\+0x4: addend 4"),
    # alone, an ADD/SUB/SET would store an absolute address
    "lone ADD32": (half_pair("R_RISCV_ADD32"),
                   r"relocation R_RISCV_ADD32 at \.rodata\+0x0: paired relocation R_RISCV_SUB32 is missing"),
    "lone SUB32": (half_pair("R_RISCV_SUB32"), r"relocation R_RISCV_SUB32 at \.rodata\+0x0: paired "
                                               r"relocation R_RISCV_ADD32 or R_RISCV_SET32 is missing"),
    "lone SET8": (half_pair("R_RISCV_SET8"),
                  r"relocation R_RISCV_SET8 at \.rodata\+0x0: paired relocation R_RISCV_SUB8 is missing"),
    # labels 300 bytes apart do not fit a byte
    "ADD8 out of range": ('.section .text.t,"ax"\n  .skip 300\n.La:\n  nop\n.text\n.Lb:\n  nop\n'
                          '.section .rodata,"a"\n  .byte .Lb - .La\n',
                          r"relocation R_RISCV_ADD8 at \.rodata\+0x0 is out of range"),
    "absolute": ('.text\nf:\n  ret\n.section .rodata,"a"\n  .quad f\n',
                 r"unsupported relocation R_RISCV_64 at \.rodata\+0x0 \(an absolute address would need"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_named(case, tmp_path):
    src, error = ERRORS[case]
    with pytest.raises(CompileError, match=error):
        link([asm(src, tmp_path, "snippet")], M, 256)


def test_branch_out_of_range_in_a_link(tmp_path):
    """BEQ reaches 4 KiB: a callee 8 KiB on is a named out-of-range error."""
    code = asm(".text\nf:\n  beq a0, a1, g\n  ret\n", tmp_path, "snippet")
    with pytest.raises(CompileError, match=r"snippet: relocation R_RISCV_BRANCH at \.text\+0x0 is out of range"):
        link([code, asm(lib(0x2000, 0), tmp_path, "lib")], M, 256)


def test_relaxation_is_refused_by_name(tmp_path):
    code = asm(".text\nf:\n  call g\n  ret\n", tmp_path, "snippet", flags=("-march=rv64gc", "-mrelax"))
    with pytest.raises(CompileError, match=r"unsupported relocation R_RISCV_RELAX at \.text\+0x0 "
                                           r"\(linker relaxation"):
        link([code, asm(lib(0, 0), tmp_path, "lib")], M, 256)


def test_got_relocations_are_refused_by_name():
    a = compile_for(T, "@answer = constant i32 42\ndefine hidden ptr @f() #0 {\n  ret ptr @answer\n}")
    with pytest.raises(CompileError, match=r"unsupported relocation R_RISCV_GOT_HI20 .*no GOT"):
        link([a], M, 256)
