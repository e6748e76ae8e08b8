"""Scalar lowering cases that need more than the spec suite checks.

The spec suite covers the semantics of every instruction; these tests pin
the places where LLVM's own folding would break Wasm semantics and the
lowering works around it (docs/architecture.md section 3), at -O0 and -O2.
"""

from __future__ import annotations

import struct

import pytest

import wasmc
from wasmc.compile import llvm
from wasmc.compile.lower import ModuleLowering
from wasmc import targets
from wasmc.wasm.decode import decode_module
from wasmc.wasm.validate import validate_module
from wasmbuild import F32, F64, I32, Mod, i32c, lget, limits, lset, name, uleb, vec

SNAN32 = 0x7FA00001
SNAN64 = 0x7FF4000000000001


def f32c(bits: int) -> bytes:
    return b"\x43" + struct.pack("<I", bits)


def f64c(bits: int) -> bytes:
    return b"\x44" + struct.pack("<Q", bits)


def _module(funcs: dict, mem: bool = False) -> bytes:
    """funcs: name -> (params, results, body bytes without the final end)."""
    m = Mod()
    if mem:
        m.mems.append(limits(1))
    for i, (nm, (params, results, body)) in enumerate(funcs.items()):
        t = m.functype(params, results)
        m.funcs.append(uleb(t))
        m.exports.append(name(nm) + b"\x00" + uleb(i))
        code = vec([]) + body + b"\x0b"
        m.codes.append(uleb(len(code)) + code)
    return m.build()


def _bits(f, *words):
    out = f.call_bits([w for x in words for w in (x, 0)])
    return out[0]


def _is_quiet_nan32(b):
    return b & 0x7F800000 == 0x7F800000 and b & 0x400000


def _is_quiet_nan64(b):
    return b & 0x7FF0000000000000 == 0x7FF0000000000000 and b & (1 << 51)


FLOAT_CASES = {
    # name: (params, results, body)
    "min_negzero": ([F32], [F32], lget(0) + f32c(0x80000000) + b"\x96"),
    "max_zero": ([F32], [F32], lget(0) + f32c(0) + b"\x97"),
    "sub_zero": ([F32], [F32], lget(0) + f32c(0) + b"\x93"),
    "mul_one": ([F64], [F64], lget(0) + f64c(0x3FF0000000000000) + b"\xa2"),
    "div_negone": ([F64], [F64], lget(0) + f64c(0xBFF0000000000000) + b"\xa3"),
    "negzero_sub": ([F32], [F32], f32c(0x80000000) + lget(0) + b"\x93"),
    "ceil": ([F32], [F32], lget(0) + b"\x8d"),
    "nearest64": ([F64], [F64], lget(0) + b"\x9f"),
    "demote_promote": ([F32], [F32], lget(0) + b"\xbb" + b"\xb6"),
}


@pytest.mark.parametrize("opt", [0, 2])
def test_signalling_nans_come_out_quiet(opt):
    inst = wasmc.Instance(wasmc.Module(_module(FLOAT_CASES), opt_level=opt))
    for nm, (params, _, _) in FLOAT_CASES.items():
        f = inst.exports[nm]
        if params == [F32]:
            assert _is_quiet_nan32(_bits(f, SNAN32)), nm
        else:
            assert _is_quiet_nan64(_bits(f, SNAN64)), nm
    # identities still hold for ordinary values
    one = struct.unpack("<I", struct.pack("<f", 1.5))[0]
    assert _bits(inst.exports["sub_zero"], one) == one
    assert _bits(inst.exports["min_negzero"], 0) == 0x80000000  # min(+0, -0) = -0


@pytest.mark.parametrize("opt", [0, 2])
def test_dropped_load_still_traps(opt):
    body = lget(0) + b"\x28" + uleb(2) + uleb(0) + b"\x1a"  # drop (i32.load (local 0))
    inst = wasmc.Instance(wasmc.Module(_module({"f": ([I32], [], body)}, mem=True), opt_level=opt))
    inst.exports["f"](0)
    with pytest.raises(wasmc.Trap, match="out of bounds memory access"):
        inst.exports["f"](65536)


def _mem_module(funcs: dict) -> bytes:
    """Like _module, with one page of memory exported as "mem" and one i32
    local after the parameters of every function."""
    m = Mod()
    m.mems.append(limits(1))
    m.exports.append(name("mem") + b"\x02" + uleb(0))
    for i, (nm, (params, results, body)) in enumerate(funcs.items()):
        t = m.functype(params, results)
        m.funcs.append(uleb(t))
        m.exports.append(name(nm) + b"\x00" + uleb(i))
        code = vec([uleb(1) + I32]) + body + b"\x0b"
        m.codes.append(uleb(len(code)) + code)
    return m.build()


LOAD = b"\x28" + uleb(2) + uleb(0)  # i32.load align=4 offset=0
STORE = b"\x36" + uleb(2) + uleb(0)  # i32.store


@pytest.mark.parametrize("opt", [0, 2])
def test_out_of_bounds_accesses_trap_where_the_code_has_them(opt):
    """Found by differential fuzzing against binaryen's interpreter: LLVM
    may delete, narrow, sink or reorder an access that can only fault in the
    guard region.  Each case must trap at the Wasm instruction, after the
    side effects before it and before those after it."""
    funcs = {
        # x = load(a); if (c) return 2; return x: the load must not sink into the fall-through path
        "sink": ([I32, I32], [I32], lget(0) + LOAD + lset(2) + lget(1)
                 + b"\x04\x40" + i32c(2) + b"\x0f\x0b" + lget(2)),
        # i32.wrap(i64.load(a)): the load must not be narrowed to 4 bytes
        "narrow": ([I32], [I32], lget(0) + b"\x29" + uleb(3) + uleb(0) + b"\xa7"),
        # store(0, 42); return load(a): the store happens before the trap
        "store_then_load": ([I32], [I32], i32c(0) + i32c(42) + STORE + lget(0) + LOAD),
        # x = load(a); store(8, 7); return x: the store never happens
        "load_then_store": ([I32], [I32], lget(0) + LOAD + lset(1) + i32c(8) + i32c(7) + STORE + lget(1)),
    }
    e = wasmc.Instance(wasmc.Module(_mem_module(funcs), opt_level=opt)).exports
    oob = "out of bounds memory access"
    with pytest.raises(wasmc.Trap, match=oob):
        e["sink"](65536, 1)
    assert e["sink"](0, 1) == 2
    with pytest.raises(wasmc.Trap, match=oob):
        e["narrow"](65532)  # 8 bytes at 65532 cross the end of memory
    assert e["narrow"](65528) == 0
    with pytest.raises(wasmc.Trap, match=oob):
        e["store_then_load"](70000)
    assert bytes(e["mem"].data[0:4]) == (42).to_bytes(4, "little")
    with pytest.raises(wasmc.Trap, match=oob):
        e["load_then_store"](70000)
    assert bytes(e["mem"].data[8:12]) == bytes(4)


@pytest.mark.parametrize("opt", [0, 2])
def test_trunc_bounds(opt):
    funcs = {"s32_f64": ([F64], [I32], lget(0) + b"\xaa"), "u32_f32": ([F32], [I32], lget(0) + b"\xa9")}
    e = wasmc.Instance(wasmc.Module(_module(funcs), opt_level=opt)).exports
    assert e["s32_f64"](-2147483648.9) == -2147483648
    assert e["s32_f64"](2147483647.9) == 2147483647
    for bad in (-2147483649.0, 2147483648.0):
        with pytest.raises(wasmc.Trap, match="integer overflow"):
            e["s32_f64"](bad)
    with pytest.raises(wasmc.Trap, match="invalid conversion"):
        e["s32_f64"](float("nan"))
    assert e["u32_f32"](-0.9) == 0
    with pytest.raises(wasmc.Trap, match="integer overflow"):
        e["u32_f32"](-1.0)


def test_runaway_recursion_is_not_turned_into_a_loop():
    """Tail-recursion elimination is off: a self call stays a call (so the
    stack check can end a runaway recursion)."""
    m = Mod()
    t = m.functype([I32], [I32])
    m.funcs.append(uleb(t))
    body = vec([]) + lget(0) + b"\x10" + uleb(0) + b"\x0b"  # f(x) = f(x)
    m.codes.append(uleb(len(body)) + body)
    mod = decode_module(m.build())
    validate_module(mod)
    ir = ModuleLowering(mod).module_ir([0], True)
    host = targets.host()
    asm = llvm.emit_assembly(ir, host, host.tier(), 2)
    fn = asm.split("wasm_func_0:", 1)[1].split(".Lfunc_end0", 1)[0]
    assert "call" in fn and "wasm_func_0" in fn
