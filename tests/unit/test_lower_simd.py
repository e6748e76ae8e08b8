"""Unit tests of the SIMD lowering (wasmc/compile/lower/simd.py).

The spec suite checks the semantics; these tests check coverage (every 0xFD
row has a handler) and portability: a module using every SIMD instruction,
with register and constant operands, lowers to IR that LLVM accepts and
compiles for every target and tier at -O0 and -O2 without any undefined
symbol other than the libcalls the image linker provides.  A few execution
tests pin down what the spec leaves open (the relaxed SIMD choices) and the
cases with a lowering of their own.
"""

from __future__ import annotations

import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from wasmc import abi, targets
from wasmc.compile import lower
from wasmc.compile.lower import DISPATCH, ModuleLowering
from wasmc.wasm.opcodes import OPS, op_bytes
from wasmbuild import Mod, i32c, lget, limits, name, uleb

SIMD = [op for op in OPS if op.prefix == 0xFD]
VT = {"i32": b"\x7f", "i64": b"\x7e", "f32": b"\x7d", "f64": b"\x7c", "v128": b"\x7b", "addr": b"\x7f"}
# A v128 constant with a signalling NaN in f32 lane 0, -0.0, a large negative
# integer and index bytes beyond 15 (for the swizzles).
CONST = bytes([0x01, 0x00, 0xA0, 0x7F, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0xCF,
               0x10, 0x1F, 0x80, 0xFF])


def _ops(*names) -> bytes:
    return b"".join(op_bytes(next(op for op in SIMD if op.name == n)) for n in names)


def _immediates(op) -> bytes:
    out = b""
    for kind in op.imm:
        if kind == "memarg":
            out += uleb(op.align) + uleb(3)  # natural alignment, offset 3
        elif kind == "lane":
            out += b"\x01"
        elif kind == "shuffle":
            out += bytes(range(31, -1, -2))
        elif kind == "v128":
            out += CONST
        else:  # pragma: no cover
            raise AssertionError(kind)
    return out


def _simd_module():
    """One exported function per 0xFD instruction taking its operands as
    parameters; instructions with only v128 operands get a second function
    with v128.const operands; every load gets a third that drops the value;
    plus the sequences with a lowering of their own."""
    m = Mod()
    m.mems.append(limits(1))
    v128_const = op_bytes(next(op for op in SIMD if op.name == "v128.const")) + CONST

    def add(label, params, results, body):
        t = m.functype([VT[p] for p in params], [VT[r] for r in results])
        f = m.func(t, body)
        m.exports.append(name(label) + b"\x00" + uleb(f))

    for op in SIMD:
        code = op_bytes(op) + _immediates(op)
        add(op.name, op.params, op.results, b"".join(lget(i) for i in range(len(op.params))) + code)
        if op.params and all(p == "v128" for p in op.params):
            add(op.name + "/const", (), op.results, v128_const * len(op.params) + code)
        if op.name.startswith("v128.load") and op.results == ("v128",):
            add(op.name + "/drop", op.params, (), b"".join(lget(i) for i in range(len(op.params))) + code + b"\x1a")
    add("promote-demote", ("v128",), ("v128",),
        lget(0) + _ops("f64x2.promote_low_f32x4", "f32x4.demote_f64x2_zero"))
    return m.module()


@pytest.fixture(scope="module")
def simd_module():
    return _simd_module()


@pytest.fixture(scope="module")
def simd_ir(simd_module) -> str:
    return ModuleLowering(simd_module).module_ir(list(range(len(simd_module.codes))), True)


def _undefined_symbols(obj: bytes) -> set:
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    return {s.name for s in symtab.iter_symbols() if s.name and s["st_shndx"] == "SHN_UNDEF"}


def test_every_simd_row_has_a_handler():
    assert len(SIMD) == 256
    missing = [op.name for op in SIMD if DISPATCH[op.id] is None]
    assert not missing


def test_relaxed_simd_is_runnable():
    from wasmc.spectest import RUNNABLE_FEATURES

    assert "relaxed_simd" in RUNNABLE_FEATURES


def test_vector_intrinsics_are_declared(simd_ir):
    # Vector return types and literal vector operands (v128.const) must not
    # confuse the declaration scanner.
    decls = [line for line in simd_ir.splitlines() if line.startswith("declare")]
    assert "declare <16 x i8> @llvm.ctpop.v16i8(<16 x i8>)" in decls
    assert "declare <4 x i32> @llvm.fptosi.sat.v4i32.v4f32(<4 x float>)" in decls
    assert "declare i8 @llvm.vector.reduce.or.v16i8(<16 x i8>)" in decls


def test_no_target_specific_intrinsics(simd_ir):
    for prefix in ("@llvm.x86.", "@llvm.aarch64.", "@llvm.riscv.", "@llvm.fma.", "@llvm.fmuladd."):
        assert prefix not in simd_ir


@pytest.mark.parametrize("target_name", ["x86_64", "aarch64", "riscv64"])
@pytest.mark.parametrize("opt", [0, 2])
def test_simd_ir_compiles_for_every_target(simd_module, target_name, opt):
    from wasmc.compile.llvm import compile_ir

    target = targets.get(target_name)
    simd_ir = ModuleLowering.for_target(simd_module, target).module_ir(list(range(len(simd_module.codes))), True)
    for tier in target.tiers:
        obj = compile_ir(simd_ir, target, tier, opt)
        extra = _undefined_symbols(obj) - set(abi.LIBCALLS)
        assert not extra, f"{target_name}/{tier.name} -O{opt}: undefined {sorted(extra)}"


def test_arg_types_handles_vector_literals():
    assert lower._arg_types("<16 x i8> <i8 1, i8 -2>, i1 false") == ["<16 x i8>", "i1"]
    assert lower._arg_types("<4 x float> %v3, {i64, i1} %s, ptr %p") == ["<4 x float>", "{i64, i1}", "ptr"]


# ---------------------------------------------------------------------------
# Execution: behaviours the spec suite cannot pin down
# ---------------------------------------------------------------------------

def _v(fmt: str, *lanes) -> int:
    return int.from_bytes(struct.pack("<" + fmt, *lanes), "little")


def _lanes(fmt: str, v: int) -> tuple:
    return struct.unpack("<" + fmt, v.to_bytes(16, "little"))


def _run(funcs, opt):
    """Instantiate a module of FUNCS: [(name, nparams v128, body, results)]."""
    import wasmc

    m = Mod()
    m.mems.append(limits(1))
    for label, nparams, body, results in funcs:
        t = m.functype([b"\x7b"] * nparams, results)
        m.exports.append(name(label) + b"\x00" + uleb(m.func(t, body)))
    return wasmc.Instance(wasmc.Module(m.build(), opt_level=opt)).exports


def _binary(op):
    return (op, 2, lget(0) + lget(1) + _ops(op), [b"\x7b"])


@pytest.fixture(scope="module", params=[0, 2], ids=["O0", "O2"])
def relaxed(request):
    ternary = ["f32x4.relaxed_madd", "f32x4.relaxed_nmadd", "i16x8.relaxed_laneselect",
               "i32x4.relaxed_dot_i8x16_i7x16_add_s"]
    unary = ["i32x4.relaxed_trunc_f32x4_s", "i32x4.relaxed_trunc_f32x4_u", "i32x4.relaxed_trunc_f64x2_u_zero"]
    binary = ["i8x16.relaxed_swizzle", "f32x4.relaxed_min", "f64x2.relaxed_max", "i16x8.relaxed_q15mulr_s",
              "i16x8.relaxed_dot_i8x16_i7x16_s"]
    return _run([(op, 3, lget(0) + lget(1) + lget(2) + _ops(op), [b"\x7b"]) for op in ternary]
                + [(op, 1, lget(0) + _ops(op), [b"\x7b"]) for op in unary]
                + [_binary(op) for op in binary], request.param)


def test_relaxed_madd_is_unfused(relaxed):
    # (1 + 2^-12)^2 - (1 + 2^-11) is 2^-24 exactly, but the rounded product is 1 + 2^-11.
    a = _v("4I", *[0x3F800800] * 4)
    c = _v("4I", *[0xBF801000] * 4)
    assert _lanes("4I", relaxed["f32x4.relaxed_madd"](a, a, c)) == (0,) * 4
    assert _lanes("4I", relaxed["f32x4.relaxed_nmadd"](a, a, _v("4I", *[0x3F801000] * 4))) == (0,) * 4


def test_relaxed_integer_choices(relaxed):
    mixed = _v("8H", *[0x00FF] * 8)
    assert relaxed["i16x8.relaxed_laneselect"](_v("8H", *[0x1234] * 8), _v("8H", *[0xABCD] * 8), mixed) == \
        _v("8H", *[0xAB34] * 8)  # bitselect, not the top bit of each lane
    idx = _v("16B", 0, 15, 16, 0x80, 31, 0x8F, *range(10))
    assert _lanes("16B", relaxed["i8x16.relaxed_swizzle"](_v("16B", *range(100, 116)), idx))[:6] == \
        (100, 115, 0, 0, 0, 0)
    m = _v("8h", *[-32768] * 8)
    assert _lanes("8h", relaxed["i16x8.relaxed_q15mulr_s"](m, m)) == (32767,) * 8
    b = _v("16b", *[-128] * 16)  # signed x signed, pair sums saturated to i16
    assert _lanes("8h", relaxed["i16x8.relaxed_dot_i8x16_i7x16_s"](b, b)) == (32767,) * 8
    assert _lanes("4i", relaxed["i32x4.relaxed_dot_i8x16_i7x16_add_s"](b, b, _v("4i", 1, 2, 3, 4))) == \
        (65535, 65536, 65537, 65538)


def test_relaxed_float_choices(relaxed):
    nan, big = 0x7FC00000, 0x4F800000  # 2^32
    assert _lanes("4I", relaxed["i32x4.relaxed_trunc_f32x4_s"](_v("4I", nan, big, 0xCF800000, 0xBF800000))) == \
        (0, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)  # trunc_sat
    assert _lanes("4I", relaxed["i32x4.relaxed_trunc_f32x4_u"](_v("4I", nan, big, 0xBF800000, 0x3FC00000))) == \
        (0, 0xFFFFFFFF, 0, 1)
    assert _lanes("4I", relaxed["i32x4.relaxed_trunc_f64x2_u_zero"](_v("2Q", 0x7FF8000000000000, 1 << 63))) == \
        (0, 0, 0, 0)
    got = _lanes("4I", relaxed["f32x4.relaxed_min"](_v("4I", 0, 0x80000000, nan, 0x3F800000),
                                                     _v("4I", 0x80000000, 0, 0x3F800000, 0x7FA00000)))
    assert got[:2] == (0x80000000, 0x80000000)  # fmin: -0 < +0 either way round
    assert all(x & 0x7FC00000 == 0x7FC00000 for x in got[2:])  # NaN in, quiet NaN out
    got = _lanes("2Q", relaxed["f64x2.relaxed_max"](_v("2Q", 0, 0x7FF4000000000000), _v("2Q", 1 << 63, 0)))
    assert got[0] == 0 and got[1] & 0x7FF8000000000000 == 0x7FF8000000000000


@pytest.mark.parametrize("opt", [0, 2])
def test_demote_of_promote_quiets_signalling_nans(opt):
    # LLVM folds fptrunc(fpext x) to x; a signalling NaN must still come out quiet.
    fns = _run([("f", 1, lget(0) + _ops("f64x2.promote_low_f32x4", "f32x4.demote_f64x2_zero"), [b"\x7b"])], opt)
    got = _lanes("4I", fns["f"](_v("4I", 0x7FA00001, 0xFF812345, 0, 0)))
    assert [x & 0x7FC00000 for x in got[:2]] == [0x7FC00000] * 2 and got[2:] == (0, 0)


@pytest.mark.parametrize("opt", [0, 2])
def test_dropped_v128_loads_still_trap(opt):
    import wasmc

    load = _ops("v128.load") + uleb(4) + uleb(0)
    fns = _run([("f", 0, i32c(65530) + load + b"\x1a", [])], opt)
    with pytest.raises(wasmc.Trap) as info:
        fns["f"]()
    assert info.value.kind == "out of bounds memory access"


@pytest.mark.parametrize("opt", [0, 2])
def test_identity_constants_do_not_let_signalling_nans_through(opt):
    # LLVM folds x*1, x/1, x-0, x+-0, x*-1 (and a + -0.0 inside min/max)
    # away; the results must still be quiet NaNs.
    def const(*lanes):
        return _ops("v128.const") + struct.pack("<4I", *lanes)

    one, neg_one, neg_zero = [0x3F800000] * 4, [0xBF800000] * 4, [0x80000000] * 4
    cases = [("f32x4.mul", one), ("f32x4.mul", neg_one), ("f32x4.div", one), ("f32x4.sub", [0] * 4),
             ("f32x4.add", neg_zero), ("f32x4.min", neg_zero), ("f32x4.max", neg_zero),
             ("f32x4.relaxed_madd", one + neg_zero)]
    funcs = [(f"f{i}", 1, lget(0) + b"".join(const(*c[k:k + 4]) for k in range(0, len(c), 4)) + _ops(op),
              [b"\x7b"]) for i, (op, c) in enumerate(cases)]
    fns = _run(funcs, opt)
    for i, (op, _) in enumerate(cases):
        got = _lanes("4I", fns[f"f{i}"](_v("4I", 0x7FA00001, 0xFF812345, 0x7F800001, 0xFFA00000)))
        assert all(x & 0x7FC00000 == 0x7FC00000 for x in got), (op, [hex(x) for x in got])
