"""AArch64 relocations (wasmc/link/aarch64.py).

Every recipe is checked three ways: a tiny object (LLVM IR, or assembly
where IR cannot force the type) linked by wasmc and by ld.lld at the same
addresses, bytes compared; the patched operand decoded and checked against
the psABI formula (JITLink's ``decode_operand`` habit), with negative deltas
and scaled fields; and the range checks at their exact bounds.
"""

from __future__ import annotations

import struct

import pytest
from test_link import apply_at, asm_library, assemble, compile_for, link_both, reloc_types

from wasmc import targets
from wasmc.errors import CompileError
from wasmc.link import aarch64 as a64
from wasmc.link.image import link
from wasmc.link.reloc import sign_extend

T = targets.get("aarch64")
M = a64.ELF_MACHINE


# --- decoding the fields back ------------------------------------------------

def insn(code: bytes, off: int) -> int:
    return struct.unpack_from("<I", code, off)[0]


def decode_adr(i: int) -> int:
    """ADR's byte offset (ADRP's page count): immhi:immlo, sign-extended."""
    return sign_extend((((i >> 5) & 0x7FFFF) << 2) | ((i >> 29) & 3), 21)


def decode_imm12(i: int) -> int:
    return (i >> 10) & 0xFFF


def decode_imm26(i: int) -> int:
    return sign_extend(i & 0x03FFFFFF, 26) << 2


def decode_imm19(i: int) -> int:
    return sign_extend((i >> 5) & 0x7FFFF, 19) << 2


def decode_imm14(i: int) -> int:
    return sign_extend((i >> 5) & 0x3FFF, 14) << 2


def page(x: int) -> int:
    return x & ~0xFFF


# Encodings with the relocated field zero, as LLVM leaves them.
ADRP_X0 = 0x90000000
ADD_X0 = 0x91000000
LDR_D0 = 0xFD400000
LDR_Q0 = 0x3DC00000
LDRH_W0 = 0x79400000
BL = 0x94000000
B_NE = 0x54000001
TBNZ_X1_7 = 0x37380001
ADR_X0 = 0x10000000


def apply(rtype: int, template: int, S: int, A: int, P: int) -> int:
    """The instruction TEMPLATE at image offset P, relocated."""
    return insn(apply_at(M, rtype, struct.pack("<I", template), S, A, P), 0)


@pytest.mark.parametrize("S, P", [
    (0x2004, 0x1FFC),  # 8 bytes apart, one page apart
    (0x1234, 0x1FF0),  # same page
    (0x1FFF, 0x5010),  # negative page delta
    (0x100, 0x7654_3210),  # far backwards
    (0xFFFF_F000 + 0x100, 0x100),  # the farthest page forwards
])
def test_adrp_is_a_page_delta(S, P):
    i = apply(a64.R_AARCH64_ADR_PREL_PG_HI21, ADRP_X0, S, 0, P)
    assert i & 0x9F00001F == ADRP_X0  # opcode and register untouched
    assert decode_adr(i) << 12 == page(S) - page(P)
    assert page(P) + (decode_adr(i) << 12) == page(S)


def test_adrp_out_of_range():
    with pytest.raises(CompileError, match="relocation R_AARCH64_ADR_PREL_PG_HI21 is out of range"):
        apply(a64.R_AARCH64_ADR_PREL_PG_HI21, ADRP_X0, 0x1_0000_0000 + 0x100, 0, 0x100)
    with pytest.raises(CompileError, match="out of range"):
        apply(a64.R_AARCH64_ADR_PREL_PG_HI21, ADRP_X0, 0x100, 0, 0x1_0000_1000)
    # _NC: the same page delta is truncated without complaint
    apply(a64.R_AARCH64_ADR_PREL_PG_HI21_NC, ADRP_X0, 0x1_0000_0000 + 0x100, 0, 0x100)


@pytest.mark.parametrize("rtype, template, size", [
    (a64.R_AARCH64_ADD_ABS_LO12_NC, ADD_X0, 1),
    (a64.R_AARCH64_LDST16_ABS_LO12_NC, LDRH_W0, 2),
    (a64.R_AARCH64_LDST64_ABS_LO12_NC, LDR_D0, 8),
    (a64.R_AARCH64_LDST128_ABS_LO12_NC, LDR_Q0, 16),
])
def test_lo12_is_scaled_by_the_access_size(rtype, template, size):
    S, A = 0x3_5000, 0x7A0 + 16 - size  # a target aligned to SIZE, low 12 bits 0x7A0 + ...
    target = S + A
    i = apply(rtype, template, S, A, 0x100)
    assert i & ~(0xFFF << 10) == template
    assert decode_imm12(i) * size == target & 0xFFF
    # page(target) from the ADRP plus the scaled offset is the target
    assert page(target) + decode_imm12(i) * size == target


@pytest.mark.parametrize("rtype, size", [
    (a64.R_AARCH64_LDST16_ABS_LO12_NC, 2), (a64.R_AARCH64_LDST32_ABS_LO12_NC, 4),
    (a64.R_AARCH64_LDST64_ABS_LO12_NC, 8), (a64.R_AARCH64_LDST128_ABS_LO12_NC, 16),
])
def test_lo12_of_a_misaligned_target_is_an_error(rtype, size):
    name = a64.NAMES[rtype]
    with pytest.raises(CompileError, match=f"relocation {name} is misaligned: .* multiple of {size}"):
        apply(rtype, LDR_D0, 0x1000 + size // 2, 0, 0x100)
    apply(a64.R_AARCH64_LDST8_ABS_LO12_NC, LDR_D0, 0x1000 + size // 2, 0, 0x100)  # bytes: any


@pytest.mark.parametrize("rtype, template, decode, lo, hi", [
    (a64.R_AARCH64_CALL26, BL, decode_imm26, -(1 << 27), (1 << 27) - 4),
    (a64.R_AARCH64_JUMP26, BL & ~(1 << 31), decode_imm26, -(1 << 27), (1 << 27) - 4),
    (a64.R_AARCH64_CONDBR19, B_NE, decode_imm19, -(1 << 20), (1 << 20) - 4),
    (a64.R_AARCH64_LD_PREL_LO19, 0x58000000, decode_imm19, -(1 << 20), (1 << 20) - 4),
    (a64.R_AARCH64_TSTBR14, TBNZ_X1_7, decode_imm14, -(1 << 15), (1 << 15) - 4),
    (a64.R_AARCH64_ADR_PREL_LO21, ADR_X0, decode_adr, -(1 << 20), (1 << 20) - 1),
])
def test_pc_relative_fields_at_their_bounds(rtype, template, decode, lo, hi):
    """The psABI's ranges, exactly: the extremes decode back, one step
    beyond is "out of range", a misaligned branch is "misaligned"."""
    P = 1 << 30
    name = a64.NAMES[rtype]
    for delta in (lo, -8, 4, hi):
        assert decode(apply(rtype, template, P + delta, 0, P)) == delta
    step = 1 if rtype == a64.R_AARCH64_ADR_PREL_LO21 else 4
    for delta in (lo - step, hi + step):
        with pytest.raises(CompileError, match=f"relocation {name} is out of range"):
            apply(rtype, template, P + delta, 0, P)
    if step == 4:
        with pytest.raises(CompileError, match=f"relocation {name} is misaligned"):
            apply(rtype, template, P + 6, 0, P)


@pytest.mark.parametrize("rtype, fmt, bounds", [
    (a64.R_AARCH64_PREL16, "<h", (-(1 << 15), (1 << 16) - 1)),
    (a64.R_AARCH64_PREL32, "<i", (-(1 << 31), (1 << 32) - 1)),
])
def test_data_fields_at_their_bounds(rtype, fmt, bounds):
    P = 0x1000
    lo, hi = bounds
    assert struct.unpack_from(fmt, apply_at(M, rtype, bytes(8), P + lo, 0, P))[0] == lo
    apply_at(M, rtype, bytes(8), P + hi, 0, P)  # fits as unsigned
    for v in (lo - 1, hi + 1):
        with pytest.raises(CompileError, match=f"relocation {a64.NAMES[rtype]} is out of range"):
            apply_at(M, rtype, bytes(8), P + v, 0, P)


# --- IR objects, against ld.lld ------------------------------------------------

CALLEE = """
define hidden double @g(double %x) #0 {
  %r = fmul double %x, 3.0
  ret double %r
}
define hidden double @fmod(double %a, double %b) #0 {
  %r = fsub double %a, %b
  ret double %r
}
"""

CONSTANTS = """
@table = hidden unnamed_addr constant [5 x i32] [i32 3, i32 1, i32 4, i32 1, i32 5]
declare hidden double @g(double) #0
define hidden double @calls(double %x) #0 {
  %a = call double @g(double %x)
  %b = fadd double %a, 0x400921FB54442D18
  ret double %b
}
define hidden double @tail(double %a, double %b) #0 {
  %r = frem double %a, %b
  ret double %r
}
define hidden <4 x i32> @vec(<4 x i32> %v) #0 {
  %r = mul <4 x i32> %v, <i32 3, i32 -7, i32 11, i32 1000003>
  ret <4 x i32> %r
}
define hidden ptr @addr() #0 {
  ret ptr @table
}
"""


def test_ir_objects_match_lld(tmp_path):
    """The types LLVM emits for wasmc's code (the survey's): calls, a tail
    call to a libcall, ADRP + ADD/LDR of constants and tables."""
    a = compile_for(T, CONSTANTS, "a")
    b = compile_for(T, CALLEE, "b")
    seen = reloc_types([a, b])
    assert {a64.R_AARCH64_CALL26, a64.R_AARCH64_JUMP26, a64.R_AARCH64_ADR_PREL_PG_HI21,
            a64.R_AARCH64_ADD_ABS_LO12_NC, a64.R_AARCH64_LDST64_ABS_LO12_NC,
            a64.R_AARCH64_LDST128_ABS_LO12_NC} <= seen, sorted(a64.NAMES[t] for t in seen)
    for objects in ([a, b], [b, a]):  # calls forwards and backwards
        link_both(objects, T, tmp_path)


def test_ir_loads_of_every_width_match_lld(tmp_path):
    """At O0 each load of a constant global is ADRP + LDR with the LO12
    folded in: LDST8/16/32/64/128."""
    ir = "".join(f"@c{n} = hidden unnamed_addr constant {ty} {v}, align 16\n"
                 for n, ty, v in [(8, "i8", 7), (16, "i16", 300), (32, "i32", 70000),
                                  (64, "i64", 1 << 40), (128, "<4 x i32>", "<i32 1, i32 2, i32 3, i32 4>")])
    ir += "define hidden i64 @f(ptr %out) #0 {\n"
    for n, ty in [(8, "i8"), (16, "i16"), (32, "i32"), (64, "i64"), (128, "<4 x i32>")]:
        ir += f"  %v{n} = load {ty}, ptr @c{n}\n"
    ir += ("  store <4 x i32> %v128, ptr %out\n"
           "  %w8 = zext i8 %v8 to i64\n  %w16 = zext i16 %v16 to i64\n  %w32 = zext i32 %v32 to i64\n"
           "  %s1 = add i64 %w8, %w16\n  %s2 = add i64 %s1, %w32\n  %s3 = add i64 %s2, %v64\n"
           "  ret i64 %s3\n}\n")
    a = compile_for(T, ir, "a", opt=0)
    seen = reloc_types([a])
    want = {a64.R_AARCH64_LDST8_ABS_LO12_NC, a64.R_AARCH64_LDST16_ABS_LO12_NC,
            a64.R_AARCH64_LDST32_ABS_LO12_NC, a64.R_AARCH64_LDST64_ABS_LO12_NC,
            a64.R_AARCH64_LDST128_ABS_LO12_NC}
    assert want <= seen, sorted(a64.NAMES[t] for t in seen)
    link_both([a], T, tmp_path)


# --- assembly, one object per relocation type, against ld.lld ------------------------

lib = asm_library


ASM = {
    "R_AARCH64_CALL26": "bl g",
    "R_AARCH64_JUMP26": "b g",
    "R_AARCH64_CONDBR19": "b.ne g",
    "R_AARCH64_TSTBR14": "tbnz x1, #7, g",
    "R_AARCH64_LD_PREL_LO19": "ldr x0, datum+8",
    "R_AARCH64_ADR_PREL_LO21": "adr x0, datum+3",
    "R_AARCH64_ADR_PREL_PG_HI21": "adrp x0, datum+0x1234",
    "R_AARCH64_ADR_PREL_PG_HI21_NC": "adrp x0, :pg_hi21_nc:datum+8",
    "R_AARCH64_ADD_ABS_LO12_NC": "add x0, x0, :lo12:datum+0x7ff",
    "R_AARCH64_LDST8_ABS_LO12_NC": "ldrb w0, [x0, :lo12:datum+5]",
    "R_AARCH64_LDST16_ABS_LO12_NC": "ldrh w0, [x0, :lo12:datum+6]",
    "R_AARCH64_LDST32_ABS_LO12_NC": "ldr s0, [x0, :lo12:datum+12]",
    "R_AARCH64_LDST64_ABS_LO12_NC": "ldr d0, [x0, :lo12:datum+24]",
    "R_AARCH64_LDST128_ABS_LO12_NC": "ldr q0, [x0, :lo12:datum+32]",
    "R_AARCH64_PREL16": ".section .rodata,\"a\"\n  .hword datum - . + 2",
    "R_AARCH64_PREL32": ".section .rodata,\"a\"\n  .word g - .",
    "R_AARCH64_PREL64": ".section .rodata,\"a\"\n  .xword g - . - 8",
}

# (lib first?, text padding, data padding): forwards, backwards, across many pages
LAYOUTS = {"near": (False, 0, 0), "backwards": (True, 0x40, 0x20), "far": (False, 0x5000, 0x3FF0)}


def test_every_recipe_has_an_assembly_case():
    assert set(ASM) == {r.name for r in a64.RELOCS.values()}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(ASM))
def test_each_relocation_matches_lld(name, layout, tmp_path):
    first, skip_text, skip_data = LAYOUTS[layout]
    snippet = assemble(T, f".text\n.globl f\n.type f,@function\nf:\n  {ASM[name]}\n  ret\n", tmp_path, "snippet")
    library = assemble(T, lib(skip_text, skip_data), tmp_path, "lib")
    rtype = next(t for t, r in a64.RELOCS.items() if r.name == name)
    assert reloc_types([snippet]) == {rtype}
    link_both([library, snippet] if first else [snippet, library], T, tmp_path)


# --- errors in real links ---------------------------------------------------------

def test_branch_out_of_range_in_a_link(tmp_path):
    """TBNZ reaches 32 KiB: a callee 40 KiB on is a named out-of-range error."""
    snippet = assemble(T, ".text\nf:\n  tbnz x1, #7, g\n  ret\n", tmp_path, "snippet")
    library = assemble(T, lib(0xA000, 0), tmp_path, "lib")
    with pytest.raises(CompileError, match=r"snippet: relocation R_AARCH64_TSTBR14 at \.text\+0x0 "
                                           "is out of range"):
        link([snippet, library], M, 256)


def test_call26_beyond_128_mib_in_a_link(tmp_path):
    """BL across 129 MiB of (NOBITS) code: out of range, named."""
    snippet = assemble(T, ".text\nf:\n  bl g\n  ret\n", tmp_path, "snippet")
    far = assemble(T, '.section .text.pad,"ax",@nobits\n.skip 0x8100000\n'
                      '.section .text.g,"ax"\n.globl g\ng:\n  ret\n', tmp_path, "far")
    with pytest.raises(CompileError, match="relocation R_AARCH64_CALL26 at .text.0x0 is out of range"):
        link([snippet, far], M, 256)


def test_misaligned_lo12_in_a_link(tmp_path):
    snippet = assemble(T, ".text\nf:\n  adrp x0, datum\n  ldr d0, [x0, :lo12:datum+4]\n  ret\n",
                       tmp_path, "snippet")
    library = assemble(T, lib(0, 0), tmp_path, "lib")
    with pytest.raises(CompileError, match="relocation R_AARCH64_LDST64_ABS_LO12_NC at .text.0x4 "
                                           "is misaligned"):
        link([snippet, library], M, 256)


def test_abs64_is_refused_by_name(tmp_path):
    """An absolute pointer would need load-time rebasing of the image."""
    snippet = assemble(T, '.section .rodata,"a"\n.p2align 3\n  .xword g\n', tmp_path, "snippet")
    library = assemble(T, lib(0, 0), tmp_path, "lib")
    with pytest.raises(CompileError, match=r"unsupported relocation R_AARCH64_ABS64 at \.rodata\+0x0 "
                                           r"\(an absolute address would need load-time rebasing"):
        link([snippet, library], M, 256)


def test_got_relocations_are_refused_by_name():
    a = compile_for(T, """
@answer = constant i32 42
define hidden ptr @f() #0 {
  ret ptr @answer
}""")
    with pytest.raises(CompileError, match=r"unsupported relocation R_AARCH64_ADR_GOT_PAGE .*no GOT"):
        link([a], M, 256)
