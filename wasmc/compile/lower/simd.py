"""Lowering of the 0xFD instructions: Wasm 2.0 SIMD128 and Wasm 3.0 relaxed SIMD.

Consumes the instruction tuples of every row of ``opcodes.OPS`` with prefix
0xFD and emits portable LLVM vector IR through the :class:`FunctionLowering`
of function.py; dispatch.py takes the handlers from :func:`handler`.

Representation
    A v128 on the operand stack is always an LLVM ``<16 x i8>`` (lane 0 in
    element 0, i.e. the lowest address and the lowest bits: every target is
    little-endian).  A handler bitcasts its operands to the lane shape it
    works in (``<4 x float>`` for f32x4, ...) and its result back; bitcasts
    are free and LLVM removes the pairs.  A ``v128.const`` is a ``<16 x i8>``
    literal.  Memory accesses go through ``L.mem_load``/``L.mem_store``, which
    keep every (possibly trapping) access where the Wasm code has it.

Portability
    Only target-independent IR is emitted: vector instructions,
    ``shufflevector`` and generic intrinsics (``llvm.sadd.sat``, ``llvm.smin``,
    ``llvm.abs``, ``llvm.ctpop``, ``llvm.fptosi.sat``, ``llvm.minimum``,
    ``llvm.vector.reduce.*``, ...).  x86-64, aarch64 and riscv64 (which has no
    vector unit in the baseline tier, so everything is scalarised) all
    compile the same text.  The only calls LLVM may introduce are the
    rounding functions (vector ``llvm.ceil`` on x86-64 without SSE4.1, ...),
    which wasmc's libcall object provides.  Every intrinsic call is one
    ``call <ret> @llvm.name(<typed args>)`` line for module.py's declaration
    scanner, and never has a ``splat (...)`` operand (the scanner reads the
    arguments up to the first ``)``); splat constants are only used as
    operands of plain instructions.

Semantics worth knowing
    * No fast-math flags anywhere.  NaN results must be arithmetic (quiet),
      and ``llvm.canonicalize`` (which quiets a NaN and is the identity on
      everything else) is the tool wherever LLVM would let a signalling NaN
      through: ``fmin``/``fmax`` are ``canonicalize(llvm.minimum/maximum)``
      (those intrinsics are NaN-propagating with -0 < +0, but return a NaN
      operand unchanged); float arithmetic with a ``v128.const`` operand is
      canonicalized, because LLVM folds x*1, x/1, x-0, x+-0 and x*-1 away
      (constants that reach an operation through a local are not caught,
      as in the scalar lowering).  ``pmin``/``pmax`` are exactly the spec's
      ``b < a ? b : a`` / ``a < b ? b : a`` (a compare and a select, so
      they return an operand bit for bit).
    * Shift counts are taken modulo the lane width; saturating arithmetic,
      narrowing and ``trunc_sat`` saturate; integer ``abs`` of the minimum
      value is the minimum value (``llvm.abs`` with is_int_min_poison=false).
    * ``swizzle`` has no portable dynamic-shuffle instruction in LLVM IR: the
      indices are clamped to 16 and used as variable element indices into the
      32-lane concatenation of the input with zeros.
    * ``ceil``/``floor``/``trunc``/``nearest`` canonicalize their operand
      first: LLVM's riscv64 expansion of the rounding intrinsics (no Zfa)
      returns a NaN operand unchanged, so a signalling NaN would stay
      signalling (LLVM's NaN rules allow that; Wasm does not).  The cost
      elsewhere is one multiply by 1.0 (x86-64) or ``fminnm`` (aarch64).
    * ``bitmask`` bitcasts the ``<N x i1>`` sign mask to ``iN``; on
      little-endian targets LLVM puts lane 0 in bit 0.
    * ``f32x4.demote_f64x2_zero`` of a value made by ``f64x2.promote_low_f32x4``
      in the same function: LLVM folds ``fptrunc(fpext x)`` to ``x``, which
      would keep a signalling NaN signalling, so that case is lowered as
      ``llvm.canonicalize`` of the original lanes (as the scalar demote does).

Relaxed SIMD
    Every relaxed instruction has one fixed behaviour, the one the spec
    prescribes for its *deterministic profile* (parameter R = 0 in the spec's
    relaxed operators), which is always among the results the spec allows and
    makes relaxed code give the same results on every target and tier:

    ====================================== ==================================
    i8x16.relaxed_swizzle                  i8x16.swizzle (index >= 16 -> 0)
    i32x4.relaxed_trunc_f32x4_s/_u         i32x4.trunc_sat_f32x4_s/_u
    i32x4.relaxed_trunc_f64x2_s/_u_zero    i32x4.trunc_sat_f64x2_s/_u_zero
    f32x4/f64x2.relaxed_madd               unfused: fadd(fmul(a, b), c)
    f32x4/f64x2.relaxed_nmadd              unfused: fadd(fmul(-a, b), c)
    {i8x16,i16x8,i32x4,i64x2}              v128.bitselect
    .relaxed_laneselect
    f32x4/f64x2.relaxed_min/_max           f32x4/f64x2.min/max
    i16x8.relaxed_q15mulr_s                i16x8.q15mulr_sat_s
    i16x8.relaxed_dot_i8x16_i7x16_s        both operands signed; pair sums
                                           saturated to i16 (the spec's
                                           iadd_sat)
    i32x4.relaxed_dot_i8x16_i7x16_add_s    the i16x8 dot above, then
                                           extadd_pairwise_s, then + c
    ====================================== ==================================

    Unfused multiply-add also keeps ``llvm.fma`` (a libcall on x86-64
    without FMA) out of the code.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ...wasm.opcodes import OPS

V = "<16 x i8>"  # the type of every v128 on the operand stack


class Shape(NamedTuple):
    """A lane layout.  ``half``/``widen`` derive 64- and 256-bit layouts used
    in intermediate steps; those keep the name of the shape they came from."""

    name: str  # "i32x4"
    lanes: int
    bits: int
    flt: bool

    @property
    def elem(self) -> str:
        if self.flt:
            return "float" if self.bits == 32 else "double"
        return f"i{self.bits}"

    @property
    def vec(self) -> str:
        return f"<{self.lanes} x {self.elem}>"

    @property
    def ivec(self) -> str:
        """The integer vector of the same layout (comparison results)."""
        return f"<{self.lanes} x i{self.bits}>"

    @property
    def sfx(self) -> str:
        """Intrinsic name suffix: v4f32, v16i8, ..."""
        return f"v{self.lanes}{'f' if self.flt else 'i'}{self.bits}"

    def half(self) -> "Shape":
        """Half as many lanes of the same type (a 64-bit vector)."""
        return self._replace(lanes=self.lanes // 2)

    def widen(self) -> "Shape":
        """Same lane count, lanes twice as wide (a 256-bit vector)."""
        return self._replace(bits=self.bits * 2)


SHAPES = {s.name: s for s in (Shape("i8x16", 16, 8, False), Shape("i16x8", 8, 16, False),
                              Shape("i32x4", 4, 32, False), Shape("i64x2", 2, 64, False),
                              Shape("f32x4", 4, 32, True), Shape("f64x2", 2, 64, True))}
#: integer shape by lane type name ("i16" -> i16x8), for the memory rows
BY_LANE = {f"i{s.bits}": s for s in SHAPES.values() if not s.flt}
I8X16 = SHAPES["i8x16"]  # bitwise operations work on the stack type directly


# ---------------------------------------------------------------------------
# Small IR helpers
# ---------------------------------------------------------------------------

def _as(L, v: str, ty: str) -> str:
    """The v128 (``<16 x i8>``) value V viewed as the 128-bit vector type TY."""
    return v if ty == V else L.op(f"bitcast {V} {v} to {ty}")


def _pop(L, sh: Shape) -> str:
    return _as(L, L.popv(), sh.vec)


def _push(L, v: str, ty: str) -> str:
    """Push the 128-bit vector V of type TY as a v128; returns the pushed value."""
    if ty != V:
        v = L.op(f"bitcast {ty} {v} to {V}")
    L.push(v, "v128")
    return v


def _intr(L, name: str, ret: str, *args: str) -> str:
    """``call RET @llvm.NAME(ARGS)``; each arg is "type value" (never a ``splat (...)``)."""
    return L.op(f"call {ret} @llvm.{name}({', '.join(args)})")


def _mask(idx) -> str:
    idx = list(idx)
    return f"<{len(idx)} x i32> <{', '.join(f'i32 {i}' for i in idx)}>"


def _shuffle(L, ty: str, a: str, b: str, idx) -> str:
    """shufflevector of A and B (both of type TY; B may be poison/zeroinitializer)."""
    return L.op(f"shufflevector {ty} {a}, {ty} {b}, {_mask(idx)}")


def _lanes(L, sh: Shape, v: str, start: int, count: int, step: int = 1) -> str:
    """COUNT lanes of V (a SH vector) from START by STEP, as a shorter vector."""
    return _shuffle(L, sh.vec, v, "poison", range(start, start + step * count, step))


def _splat(L, elem: str, lanes: int, scalar: str) -> str:
    ty = f"<{lanes} x {elem}>"
    one = L.op(f"insertelement {ty} poison, {elem} {scalar}, i64 0")
    return L.op(f"shufflevector {ty} {one}, {ty} poison, <{lanes} x i32> zeroinitializer")


def _ext(L, v: str, frm: Shape, to: Shape, sx: str) -> str:
    """Sign- or zero-extend the integer vector V (shape FRM) to shape TO (same lane count)."""
    return L.op(f"{'sext' if sx == 's' else 'zext'} {frm.vec} {v} to {to.vec}")


def _const_splat(elem: str, value) -> str:
    return f"splat ({elem} {value})"


def _clamp(L, sh: Shape, v: str, lo: int | None, hi: int | None) -> str:
    """Signed clamp of the integer vector V to [LO, HI] (icmp+select: LLVM forms smin/smax)."""
    n = f"<{sh.lanes} x i1>"
    if lo is not None:
        c = L.op(f"icmp slt {sh.vec} {v}, {_const_splat(sh.elem, lo)}")
        v = L.op(f"select {n} {c}, {sh.vec} {_const_splat(sh.elem, lo)}, {sh.vec} {v}")
    if hi is not None:
        c = L.op(f"icmp sgt {sh.vec} {v}, {_const_splat(sh.elem, hi)}")
        v = L.op(f"select {n} {c}, {sh.vec} {_const_splat(sh.elem, hi)}, {sh.vec} {v}")
    return v


def _trunc_vec(L, v: str, frm: Shape, to: Shape) -> str:
    return L.op(f"trunc {frm.vec} {v} to {to.vec}")


def _pairwise_add(L, sh: Shape, v: str, add: str = "add") -> str:
    """Sum of adjacent lanes of V (shape SH): SH.lanes/2 lanes of the same type."""
    even = _lanes(L, sh, v, 0, sh.lanes // 2, 2)
    odd = _lanes(L, sh, v, 1, sh.lanes // 2, 2)
    h = sh.half()
    if add == "add":
        return L.op(f"add {h.vec} {even}, {odd}")
    return _intr(L, f"{add}.{h.sfx}", h.vec, f"{h.vec} {even}", f"{h.vec} {odd}")


def _quiet(L, sh: Shape, v: str) -> str:
    """V with signalling NaN lanes quieted (``llvm.canonicalize``; identity otherwise)."""
    return _intr(L, f"canonicalize.{sh.sfx}", sh.vec, f"{sh.vec} {v}")


def _lanewise(sh: Shape, nargs: int, emit, rty: str | None = None, quiet_literals: bool = False):
    """Handler popping NARGS v128 operands viewed as SH and pushing EMIT(L, *operands),
    a vector of type RTY (default SH.vec).

    With QUIET_LITERALS the result is canonicalized when an operand is a
    ``v128.const``: LLVM folds x*1, x/1, x-0, x+-0, x*-1 to x or -x, which
    would let a signalling NaN through (lower.py's scalar ``_fbin`` guards
    the same folds with its _IDENTITY table)."""
    rty = rty or sh.vec

    def h(L, ins):
        raw = [L.popv() for _ in range(nargs)]
        raw.reverse()
        r = emit(L, *[_as(L, v, sh.vec) for v in raw])
        if quiet_literals and any(not v.startswith("%") for v in raw):
            r = _quiet(L, sh, r)
        _push(L, r, rty)
    return h


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------

def _vload(kind: str, lane: str, sx: str):
    sh = BY_LANE.get(lane)

    def h(L, ins):
        mem, offset = ins[1], ins[2]
        vec = _pop(L, sh) if kind == "lane" else None
        addr = L.popv()
        if kind == "full":
            p = L.effective_address(mem, addr, offset, 16)
            r = L.mem_load(mem, V, p)
            rty = V
        elif kind == "ext":  # 64 bits of narrow lanes, each extended to twice its width
            nar = sh.half()
            p = L.effective_address(mem, addr, offset, 8)
            x = L.mem_load(mem, nar.vec, p)
            r = _ext(L, x, nar, nar.widen(), sx)
            rty = nar.widen().vec
        else:  # one lane-sized scalar: splat / zero / lane
            p = L.effective_address(mem, addr, offset, sh.bits // 8)
            x = L.mem_load(mem, sh.elem, p)
            if kind == "splat":
                r = _splat(L, sh.elem, sh.lanes, x)
            else:
                base = "zeroinitializer" if kind == "zero" else vec
                r = L.op(f"insertelement {sh.vec} {base}, {sh.elem} {x}, i32 {ins[4] if kind == 'lane' else 0}")
            rty = sh.vec
        _push(L, r, rty)
    return h


def _vstore(kind: str, lane: str):
    sh = BY_LANE.get(lane)

    def h(L, ins):
        mem, offset = ins[1], ins[2]
        if kind == "full":
            v = L.popv()
            addr = L.popv()
            p = L.effective_address(mem, addr, offset, 16)
            L.mem_store(mem, V, v, p)
            return
        v = _pop(L, sh)
        addr = L.popv()
        x = L.op(f"extractelement {sh.vec} {v}, i32 {ins[4]}")
        p = L.effective_address(mem, addr, offset, sh.bits // 8)
        L.mem_store(mem, sh.elem, x, p)
    return h


# ---------------------------------------------------------------------------
# Constants, shuffles, lanes
# ---------------------------------------------------------------------------

def _v128_const(L, ins):
    b = ins[1]
    if not any(b):
        L.push("zeroinitializer", "v128")
    else:
        L.push("<" + ", ".join(f"i8 {x - 256 if x > 127 else x}" for x in b) + ">", "v128")


def _shuffle_op(L, ins):
    b = L.popv()
    a = L.popv()
    _push(L, _shuffle(L, V, a, b, ins[1]), V)


def _swizzle(L, ins):
    idx = L.popv()
    a = L.popv()
    # Indices >= 16 select lane 16 of (a ++ zeros), i.e. 0.
    big = L.op(f"icmp ugt {V} {idx}, {_const_splat('i8', 16)}")
    idx = L.op(f"select <16 x i1> {big}, {V} {_const_splat('i8', 16)}, {V} {idx}")
    cat = _shuffle(L, V, a, "zeroinitializer", range(32))
    r = "poison"
    for i in range(16):
        j = L.op(f"extractelement {V} {idx}, i32 {i}")
        x = L.op(f"extractelement <32 x i8> {cat}, i8 {j}")
        r = L.op(f"insertelement {V} {r}, i8 {x}, i32 {i}")
    _push(L, r, V)


def _scalar_to_lane(L, sh: Shape, x: str) -> str:
    """A scalar operand (i32 for i8/i16 lanes) as a lane value."""
    if not sh.flt and sh.bits < 32:
        return L.op(f"trunc i32 {x} to {sh.elem}")
    return x


def _splat_op(sh: Shape):
    def h(L, ins):
        x = _scalar_to_lane(L, sh, L.popv())
        _push(L, _splat(L, sh.elem, sh.lanes, x), sh.vec)
    return h


def _extract(sh: Shape, sx: str):
    def h(L, ins):
        v = _pop(L, sh)
        x = L.op(f"extractelement {sh.vec} {v}, i32 {ins[1]}")
        if sx:
            x = L.op(f"{'sext' if sx == 's' else 'zext'} {sh.elem} {x} to i32")
            L.push(x, "i32")
        else:
            L.push(x, {"i32": "i32", "i64": "i64", "float": "f32", "double": "f64"}[sh.elem])
    return h


def _replace(sh: Shape):
    def h(L, ins):
        x = _scalar_to_lane(L, sh, L.popv())
        v = _pop(L, sh)
        _push(L, L.op(f"insertelement {sh.vec} {v}, {sh.elem} {x}, i32 {ins[1]}"), sh.vec)
    return h


# ---------------------------------------------------------------------------
# Comparisons, bitwise operations, tests
# ---------------------------------------------------------------------------

def _cmp(sh: Shape, pred: str):
    instr = "fcmp" if sh.flt else "icmp"

    def emit(L, a, b):
        c = L.op(f"{instr} {pred} {sh.vec} {a}, {b}")
        return L.op(f"sext <{sh.lanes} x i1> {c} to {sh.ivec}")
    return _lanewise(sh, 2, emit, sh.ivec)


def _not(L, v):
    return L.op(f"xor {V} {v}, {_const_splat('i8', -1)}")


def _bitselect(L, a, b, c):
    x = L.op(f"and {V} {a}, {c}")
    y = L.op(f"and {V} {b}, {_not(L, c)}")
    return L.op(f"or {V} {x}, {y}")


_BITWISE = {
    "not": (1, _not),
    "and": (2, lambda L, a, b: L.op(f"and {V} {a}, {b}")),
    "or": (2, lambda L, a, b: L.op(f"or {V} {a}, {b}")),
    "xor": (2, lambda L, a, b: L.op(f"xor {V} {a}, {b}")),
    "andnot": (2, lambda L, a, b: L.op(f"and {V} {a}, {_not(L, b)}")),
    "bitselect": (3, _bitselect),
}


def _any_true(L, ins):
    v = L.popv()
    r = _intr(L, "vector.reduce.or.v16i8", "i8", f"{V} {v}")
    L.push(L.from_i1(L.op(f"icmp ne i8 {r}, 0")), "i32")


def _all_true(sh: Shape):
    def h(L, ins):
        v = _pop(L, sh)
        c = L.op(f"icmp ne {sh.vec} {v}, zeroinitializer")
        r = _intr(L, f"vector.reduce.and.v{sh.lanes}i1", "i1", f"<{sh.lanes} x i1> {c}")
        L.push(L.from_i1(r), "i32")
    return h


def _bitmask(sh: Shape):
    def h(L, ins):
        v = _pop(L, sh)
        c = L.op(f"icmp slt {sh.vec} {v}, zeroinitializer")
        m = L.op(f"bitcast <{sh.lanes} x i1> {c} to i{sh.lanes}")
        L.push(L.op(f"zext i{sh.lanes} {m} to i32"), "i32")
    return h


# ---------------------------------------------------------------------------
# Integer arithmetic
# ---------------------------------------------------------------------------

_IBIN_INSTR = {"add": "add", "sub": "sub", "mul": "mul"}
_IBIN_INTR = {"add_sat_s": "sadd.sat", "add_sat_u": "uadd.sat", "sub_sat_s": "ssub.sat",
              "sub_sat_u": "usub.sat", "min_s": "smin", "min_u": "umin", "max_s": "smax",
              "max_u": "umax"}
_SHIFT = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}


def _icmp_pred(name: str) -> str:
    """Wasm comparison name -> icmp predicate: eq, ne, lt_s -> slt, ge_u -> uge, ..."""
    base, _, sx = name.partition("_")
    return base if base in ("eq", "ne") else sx + base


def _ibin(sh: Shape, name: str):
    if name in _IBIN_INSTR:
        return lambda L, a, b: L.op(f"{_IBIN_INSTR[name]} {sh.vec} {a}, {b}")
    if name in _IBIN_INTR:
        return lambda L, a, b: _intr(L, f"{_IBIN_INTR[name]}.{sh.sfx}", sh.vec, f"{sh.vec} {a}", f"{sh.vec} {b}")
    if name == "avgr_u":  # (a + b + 1) >> 1 without overflow, in lanes twice as wide
        w = sh.widen()

        def avgr(L, a, b):
            s = L.op(f"add {w.vec} {_ext(L, a, sh, w, 'u')}, {_ext(L, b, sh, w, 'u')}")
            s = L.op(f"add {w.vec} {s}, {_const_splat(w.elem, 1)}")
            return _trunc_vec(L, L.op(f"lshr {w.vec} {s}, {_const_splat(w.elem, 1)}"), w, sh)
        return avgr
    if name in ("q15mulr_sat_s", "relaxed_q15mulr_s"):
        w = sh.widen()

        def q15(L, a, b):  # (a * b + 2^14) >> 15, saturated (only -1.0 * -1.0 overflows)
            p = L.op(f"mul {w.vec} {_ext(L, a, sh, w, 's')}, {_ext(L, b, sh, w, 's')}")
            p = L.op(f"add {w.vec} {p}, {_const_splat(w.elem, 1 << 14)}")
            p = _clamp(L, w, L.op(f"ashr {w.vec} {p}, {_const_splat(w.elem, 15)}"), None, 0x7FFF)
            return _trunc_vec(L, p, w, sh)
        return q15
    return None


def _iun(sh: Shape, name: str):
    if name == "abs":
        return lambda L, a: _intr(L, f"abs.{sh.sfx}", sh.vec, f"{sh.vec} {a}", "i1 false")
    if name == "neg":
        return lambda L, a: L.op(f"sub {sh.vec} zeroinitializer, {a}")
    if name == "popcnt":
        return lambda L, a: _intr(L, f"ctpop.{sh.sfx}", sh.vec, f"{sh.vec} {a}")
    return None


def _shift(sh: Shape, name: str):
    def h(L, ins):
        n = L.op(f"and i32 {L.popv()}, {sh.bits - 1}")
        if sh.bits < 32:
            n = L.op(f"trunc i32 {n} to {sh.elem}")
        elif sh.bits > 32:
            n = L.op(f"zext i32 {n} to {sh.elem}")
        v = _pop(L, sh)
        _push(L, L.op(f"{_SHIFT[name]} {sh.vec} {v}, {_splat(L, sh.elem, sh.lanes, n)}"), sh.vec)
    return h


# ---------------------------------------------------------------------------
# Float arithmetic
# ---------------------------------------------------------------------------

_FBIN_INSTR = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
_FUN_INTR = {"abs": "fabs", "sqrt": "sqrt", "ceil": "ceil", "floor": "floor", "trunc": "trunc",
             "nearest": "roundeven"}
_ROUNDING = ("ceil", "floor", "trunc", "nearest")


def _fminmax(sh: Shape, intr: str):
    def emit(L, a, b):
        # llvm.minimum/maximum pass a (signalling) NaN operand through; Wasm
        # wants an arithmetic NaN.  (Not a + b in the NaN lanes as the scalar
        # _fbin does: LLVM folds a + -0.0 to a when an operand is a constant.)
        return _quiet(L, sh, _intr(L, f"{intr}.{sh.sfx}", sh.vec, f"{sh.vec} {a}", f"{sh.vec} {b}"))
    return emit


def _fbin(sh: Shape, name: str):
    if name in _FBIN_INSTR:
        return lambda L, a, b: L.op(f"{_FBIN_INSTR[name]} {sh.vec} {a}, {b}")
    if name in ("min", "relaxed_min"):
        return _fminmax(sh, "minimum")
    if name in ("max", "relaxed_max"):
        return _fminmax(sh, "maximum")
    if name in ("pmin", "pmax"):
        def pminmax(L, a, b):  # pmin: b < a ? b : a;  pmax: a < b ? b : a
            lhs, rhs = (b, a) if name == "pmin" else (a, b)
            c = L.op(f"fcmp olt {sh.vec} {lhs}, {rhs}")
            return L.op(f"select <{sh.lanes} x i1> {c}, {sh.vec} {b}, {sh.vec} {a}")
        return pminmax
    return None


def _fun(sh: Shape, name: str):
    if name == "neg":
        return lambda L, a: L.op(f"fneg {sh.vec} {a}")
    if name in _ROUNDING:
        def rnd(L, a):  # riscv64 passes a signalling NaN through: quiet it first
            return _intr(L, f"{_FUN_INTR[name]}.{sh.sfx}", sh.vec, f"{sh.vec} {_quiet(L, sh, a)}")
        return rnd
    if name in _FUN_INTR:
        return lambda L, a: _intr(L, f"{_FUN_INTR[name]}.{sh.sfx}", sh.vec, f"{sh.vec} {a}")
    return None


def _madd(sh: Shape, negate: bool):
    def emit(L, a, b, c):  # unfused (the deterministic profile): (+-a * b) + c
        if negate:
            a = L.op(f"fneg {sh.vec} {a}")
        p = L.op(f"fmul {sh.vec} {a}, {b}")
        return L.op(f"fadd {sh.vec} {p}, {c}")
    return emit


# ---------------------------------------------------------------------------
# Lane-changing operations: extend, extmul, narrow, dot, conversions
# ---------------------------------------------------------------------------

# "<op>[_low|_high]_<source shape>[_i7x16][_add][_s|_u][_zero]", e.g.
# extend_high_i8x16_u, trunc_sat_f64x2_s_zero, relaxed_dot_i8x16_i7x16_add_s
_CONV_RE = re.compile(r"(?P<op>[a-z_]+?)(?:_(?P<half>low|high))?_(?P<src>[if]\d+x\d+)(?:_i7x16)?"
                      r"(?P<add>_add)?(?:_(?P<sx>[su]))?(?P<zero>_zero)?$")


def _conversion(dst: Shape, op: str, half: str | None, src: Shape, sx: str | None, zero: bool, add: bool):
    """Handler for a lane-changing instruction (dst shape from the name's prefix)."""
    start = src.lanes // 2 if half == "high" else 0

    if op == "extend":
        def h(L, ins):
            x = _lanes(L, src, _pop(L, src), start, src.lanes // 2)
            _push(L, _ext(L, x, src.half(), dst, sx), dst.vec)
        return h

    if op == "extadd_pairwise":
        def h(L, ins):
            w = _ext(L, _pop(L, src), src, src.widen(), sx)
            _push(L, _pairwise_add(L, src.widen(), w), dst.vec)
        return h

    if op == "extmul":
        def h(L, ins):
            b, a = _pop(L, src), _pop(L, src)
            xs = [_ext(L, _lanes(L, src, v, start, src.lanes // 2), src.half(), dst, sx) for v in (a, b)]
            _push(L, L.op(f"mul {dst.vec} {xs[0]}, {xs[1]}"), dst.vec)
        return h

    if op == "narrow":  # a's lanes then b's, each saturated to the narrow type
        lo, hi = ((-(1 << (dst.bits - 1)), (1 << (dst.bits - 1)) - 1) if sx == "s"
                  else (0, (1 << dst.bits) - 1))
        wide = src._replace(lanes=dst.lanes)

        def h(L, ins):
            b, a = _pop(L, src), _pop(L, src)
            cat = _shuffle(L, src.vec, a, b, range(dst.lanes))
            _push(L, _trunc_vec(L, _clamp(L, wide, cat, lo, hi), wide, dst), dst.vec)
        return h

    if op in ("dot", "relaxed_dot"):
        # i32x4.dot_i16x8_s: wrapping sum of the two products of each lane pair.
        # relaxed: both operands signed (deterministic profile), the pair sums
        # saturated to i16 (the spec's iadd_sat); the _add form then adds the
        # i16 sums pairwise into i32 lanes and adds the third operand.
        w = src.widen()

        def h(L, ins):
            c = _pop(L, dst) if add else None
            b, a = _pop(L, src), _pop(L, src)
            p = L.op(f"mul {w.vec} {_ext(L, a, src, w, 's')}, {_ext(L, b, src, w, 's')}")
            r = _pairwise_add(L, w, p, "add" if op == "dot" else "sadd.sat")
            if add:
                r16 = w.half()  # i16x8
                r = _pairwise_add(L, r16.widen(), _ext(L, r, r16, r16.widen(), "s"))
                r = L.op(f"add {dst.vec} {r}, {c}")
            _push(L, r, dst.vec)
        return h

    if op in ("trunc_sat", "relaxed_trunc"):  # relaxed: trunc_sat (deterministic profile)
        n = src.lanes
        ity = f"<{n} x i32>"
        intr = f"fpto{'s' if sx == 's' else 'u'}i.sat.v{n}i32.{src.sfx}"

        def h(L, ins):
            r = _intr(L, intr, ity, f"{src.vec} {_pop(L, src)}")
            if zero:
                r = _shuffle(L, ity, r, "zeroinitializer", range(4))
            _push(L, r, dst.vec)
        return h

    if op == "convert":  # exact IEEE rounding to nearest: sitofp/uitofp
        def h(L, ins):
            x = _pop(L, src)
            ity = src.vec
            if half == "low":
                x, ity = _lanes(L, src, x, 0, dst.lanes), f"<{dst.lanes} x i32>"
            _push(L, L.op(f"{'si' if sx == 's' else 'ui'}tofp {ity} {x} to {dst.vec}"), dst.vec)
        return h

    if op == "promote":
        def h(L, ins):
            x = _lanes(L, src, _pop(L, src), 0, 2)
            r = _push(L, L.op(f"fpext <2 x float> {x} to <2 x double>"), dst.vec)
            L.promoted[r] = x  # for demote, below (a v128 key never collides with an f64 one)
        return h

    if op == "demote":
        def h(L, ins):
            v = L.popv()
            if v in L.promoted:  # demote(promote(x)): keep NaNs quiet, see the docstring
                # (canonicalize.v2f32 crashes LLVM 22's x86 backend; v4f32 is fine)
                x = _shuffle(L, "<2 x float>", L.promoted[v], "zeroinitializer", range(4))
                r = _intr(L, "canonicalize.v4f32", dst.vec, f"{dst.vec} {x}")
            else:
                d = L.op(f"fptrunc <2 x double> {_as(L, v, src.vec)} to <2 x float>")
                r = _shuffle(L, "<2 x float>", d, "zeroinitializer", range(4))
            _push(L, r, dst.vec)
        return h

    return None


# ---------------------------------------------------------------------------
# The table: one handler per 0xFD row, derived from the hint column and names
# ---------------------------------------------------------------------------

def _handler(op):
    fam, _, rest = op.hint.partition(":")
    parts = rest.split(":")
    if fam == "vload":
        return _vload(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "")
    if fam == "vstore":
        return _vstore(parts[0], parts[1] if len(parts) > 1 else "")
    if op.hint == "const:v128":
        return _v128_const
    if fam in ("vicmp", "vfcmp"):
        return _cmp(SHAPES[parts[0]], parts[1])
    if fam != "v":
        return None
    kind = parts[0]
    if kind == "shuffle":
        return _shuffle_op
    if kind == "swizzle":
        return _swizzle
    if kind == "splat":
        return _splat_op(SHAPES[parts[1]])
    if kind == "extract":
        return _extract(SHAPES[parts[1]], parts[2])
    if kind == "replace":
        return _replace(SHAPES[parts[1]])
    if kind in _BITWISE:
        nargs, emit = _BITWISE[kind]
        return _lanewise(I8X16, nargs, emit)
    if kind == "any_true":
        return _any_true
    # "v:<shape>.<name>": the regular families, by name
    shape, name = kind.split(".", 1)
    sh = SHAPES[shape]
    m = _CONV_RE.match(name)
    if m:
        return _conversion(sh, m["op"], m["half"], SHAPES[m["src"]], m["sx"], bool(m["zero"]), bool(m["add"]))
    if name == "all_true":
        return _all_true(sh)
    if name == "bitmask":
        return _bitmask(sh)
    if name in _SHIFT:
        return _shift(sh, name)
    if name == "swizzle" or name == "relaxed_swizzle":
        return _swizzle
    if name == "relaxed_laneselect":  # bitselect (deterministic profile)
        return _lanewise(I8X16, 3, _bitselect)
    if name in ("relaxed_madd", "relaxed_nmadd"):
        return _lanewise(sh, 3, _madd(sh, name == "relaxed_nmadd"), quiet_literals=True)
    if not sh.flt and name in ("eq", "ne", "lt_s", "gt_s", "le_s", "ge_s"):
        return _cmp(sh, _icmp_pred(name))
    if op.results == ("v128",) and op.params == ("v128",):
        emit = _fun(sh, name) if sh.flt else _iun(sh, name)
        return emit and _lanewise(sh, 1, emit)
    if op.results == ("v128",) and op.params == ("v128", "v128"):
        emit = _fbin(sh, name) if sh.flt else _ibin(sh, name)
        return emit and _lanewise(sh, 2, emit, quiet_literals=name in _FBIN_INSTR and sh.flt)
    return None


def _build() -> dict:
    handlers = {}
    for op in OPS:
        if op.prefix != 0xFD:
            continue
        h = _handler(op)
        if h is None:  # every row must be covered: fail at import, not at run time
            raise AssertionError(f"no SIMD lowering for {op.name} ({op.hint})")
        handlers[op.name] = h
    return handlers


HANDLERS = _build()


def handler(op):
    return HANDLERS.get(op.name) if op.prefix == 0xFD else None
