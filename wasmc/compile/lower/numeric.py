"""Numeric instructions: constants, integer and float arithmetic, compares,
conversions, sign extension.

Exactness notes: integer division and remainder trap explicitly (and avoid
LLVM's undefined ``MIN rem -1``); float-to-int truncation traps outside the
exact bounds written as bit patterns; LLVM folds ``x-0``, ``x*1``,
``x/1``, ``x*-1``, ``-0-x`` and ``demote(promote(x))`` to ``x`` or ``-x``,
which would keep a signalling NaN signalling, so those forms with a literal
operand become ``llvm.canonicalize`` (docs/architecture.md section 3).
"""

from __future__ import annotations

import struct

from .ir import LLT, f32_const, f64_const


def _const(t):
    def h(L, ins):
        L.push(L.const(t, ins[1]), t)
    return h


def _ieqz(L, ins):
    v, t = L.pop()
    L.push(L.from_i1(L.op(f"icmp eq {t} {v}, 0")), "i32")


def _cmp(instr, pred):
    """icmp/fcmp PRED of the two operands, as an i32 0 or 1."""
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        L.push(L.from_i1(L.op(f"{instr} {pred} {LLT[t]} {a}, {b}")), "i32")
    return h


def _icmp(pred):
    return _cmp("icmp", pred)


def _fcmp(pred):
    return _cmp("fcmp", pred)


def _iun(kind):
    intr = {"clz": "ctlz", "ctz": "cttz", "popcnt": "ctpop"}[kind]

    def h(L, ins):
        v, t = L.pop()
        extra = ", i1 false" if kind != "popcnt" else ""
        L.push(L.op(f"call {t} @llvm.{intr}.{t}({t} {v}{extra})"), t)
    return h


_IBIN_LL = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor"}


def _ibin(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        bits = 32 if t == "i32" else 64
        if kind in _IBIN_LL:
            r = L.op(f"{_IBIN_LL[kind]} {t} {a}, {b}")
        elif kind in ("shl", "shr_s", "shr_u"):
            m = L.op(f"and {t} {b}, {bits - 1}")
            instr = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}[kind]
            r = L.op(f"{instr} {t} {a}, {m}")
        else:  # rotl / rotr
            f = "fshl" if kind == "rotl" else "fshr"
            r = L.op(f"call {t} @llvm.{f}.{t}({t} {a}, {t} {a}, {t} {b})")
        L.push(r, t)
    return h


def _idiv(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        z = L.op(f"icmp eq {t} {b}, 0")
        L.trap_if(z, "DIV_ZERO")
        minv = "-2147483648" if t == "i32" else "-9223372036854775808"
        if kind == "div_s":
            o1 = L.op(f"icmp eq {t} {a}, {minv}")
            o2 = L.op(f"icmp eq {t} {b}, -1")
            o = L.op(f"and i1 {o1}, {o2}")
            L.trap_if(o, "INT_OVERFLOW")
            r = L.op(f"sdiv {t} {a}, {b}")
        elif kind == "rem_s":
            # x rem -1 is 0 for every x; avoid LLVM's UB on MIN rem -1.
            m1 = L.op(f"icmp eq {t} {b}, -1")
            b2 = L.op(f"select i1 {m1}, {t} 1, {t} {b}")
            r = L.op(f"srem {t} {a}, {b2}")
        elif kind == "div_u":
            r = L.op(f"udiv {t} {a}, {b}")
        else:
            r = L.op(f"urem {t} {a}, {b}")
        L.push(r, t)
    return h


def _fun(kind):
    intr = {"abs": "fabs", "ceil": "ceil", "floor": "floor", "trunc": "trunc",
            "nearest": "roundeven", "sqrt": "sqrt"}

    def h(L, ins):
        v, t = L.pop()
        lt = LLT[t]
        if kind == "neg":
            r = L.op(f"fneg {lt} {v}")
        elif kind in ("abs", "sqrt"):
            r = L.op(f"call {lt} @llvm.{intr[kind]}.{_fsuffix(t)}({lt} {v})")
        else:
            # ceil/floor/trunc/nearest: LLVM's riscv64 expansion passes a
            # signalling NaN through unchanged; quiet the operand first.
            q = _quiet(L, v, t)
            r = L.op(f"call {lt} @llvm.{intr[kind]}.{_fsuffix(t)}({lt} {q})")
        L.push(r, t)
    return h


def _fsuffix(t):
    return "f32" if t == "f32" else "f64"


# Literal operands that make an arithmetic op an identity (or a negation).
# LLVM folds x-0, x*1, x/1, -0-x, x*-1, x/-1 to x or -x, which keeps a
# signalling NaN signalling; Wasm wants an arithmetic (quiet) NaN, so these
# become llvm.canonicalize (a real instruction that quiets NaNs).
_ZERO, _NZERO = "0x0000000000000000", "0x8000000000000000"
_ONE, _NONE = "0x3FF0000000000000", "0xBFF0000000000000"
_IDENTITY = {  # (op, which operand is literal, literal) -> (other operand, negate)
    ("sub", 1, _ZERO): (0, False), ("add", 1, _NZERO): (0, False), ("add", 0, _NZERO): (1, False),
    ("mul", 1, _ONE): (0, False), ("mul", 0, _ONE): (1, False), ("div", 1, _ONE): (0, False),
    ("mul", 1, _NONE): (0, True), ("mul", 0, _NONE): (1, True), ("div", 1, _NONE): (0, True),
    ("sub", 0, _NZERO): (1, True),
}


def _quiet(L, v, t, negate=False) -> str:
    lt = LLT[t]
    r = L.op(f"call {lt} @llvm.canonicalize.{_fsuffix(t)}({lt} {v})")
    return L.op(f"fneg {lt} {r}") if negate else r


def _fbin(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        lt = LLT[t]
        ident = _IDENTITY.get((kind, 1, b)) or _IDENTITY.get((kind, 0, a))
        if ident is not None:
            other, neg = ident
            r = _quiet(L, (a, b)[other], t, neg)
        elif kind in ("add", "sub", "mul", "div"):
            r = L.op(f"f{kind} {lt} {a}, {b}")
        elif kind in ("min", "max"):
            # llvm.minimum/maximum return a NaN operand unchanged (even a
            # signalling one); Wasm wants an arithmetic (quiet) NaN, so the
            # result goes through llvm.canonicalize (quiets NaNs, keeps
            # everything else; an `a + b` fix-up would be folded away for a
            # -0.0 constant operand).
            m = L.op(f"call {lt} @llvm.{'minimum' if kind == 'min' else 'maximum'}.{_fsuffix(t)}"
                     f"({lt} {a}, {lt} {b})")
            r = _quiet(L, m, t)
        else:
            r = L.op(f"call {lt} @llvm.copysign.{_fsuffix(t)}({lt} {a}, {lt} {b})")
        L.push(r, t)
    return h


# Bounds for trapping float->int truncation: valid iff lo < x < hi (exclusive),
# written as exact f64/f32 bit patterns.  (from, to, signed) -> (lo, hi)
def _trunc_bounds(src, dst, signed):
    bits = 32 if dst == "i32" else 64
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2.0 ** (bits - 1)
        # Every x > lo - 1 truncates to at least lo.  If lo - 1 is a value of
        # the source type it is the exclusive bound; otherwise the next value
        # below lo is.
        lo_excl = float(lo - 1)
        if not _exact(lo - 1, src):
            lo_excl = _next_below(float(lo), src)
    else:
        lo_excl, hi = -1.0, 2.0 ** bits
    return lo_excl, hi


def _exact(n: int, t: str) -> bool:
    fmt = "<d" if t == "f64" else "<f"
    try:
        return int(struct.unpack(fmt, struct.pack(fmt, float(n)))[0]) == n
    except OverflowError:
        return False


def _next_below(x, t):
    if t == "f64":
        b = struct.unpack("<q", struct.pack("<d", x))[0]
        return struct.unpack("<d", struct.pack("<q", b + 1))[0]  # negative: +1 moves away from 0
    b = struct.unpack("<i", struct.pack("<f", x))[0]
    return struct.unpack("<f", struct.pack("<i", b + 1))[0]


def _fconst_literal(x: float, t: str) -> str:
    if t == "f64":
        return f64_const(struct.unpack("<Q", struct.pack("<d", x))[0])
    return f32_const(struct.unpack("<I", struct.pack("<f", x))[0])


def _cvt(kind, src, dst):
    ls, ld = LLT[src], LLT[dst]

    def h(L, ins):
        v = L.popv()
        if kind == "wrap":
            r = L.op(f"trunc i64 {v} to i32")
        elif kind in ("sext", "zext"):
            r = L.op(f"{kind} i32 {v} to i64")
        elif kind in ("sitofp", "uitofp"):
            r = L.op(f"{kind} {ls} {v} to {ld}")
        elif kind == "demote":
            if v in L.promoted:  # LLVM folds demote(promote(x)) to x: keep NaNs quiet
                r = _quiet(L, L.promoted[v], "f32")
            else:
                r = L.op(f"fptrunc double {v} to float")
        elif kind == "promote":
            r = L.op(f"fpext float {v} to double")
            L.promoted[r] = v
        elif kind == "bitcast":
            r = L.op(f"bitcast {ls} {v} to {ld}")
        elif kind in ("trunc_s", "trunc_u"):
            signed = kind == "trunc_s"
            nan = L.op(f"fcmp uno {ls} {v}, {v}")
            L.trap_if(nan, "BAD_CONVERSION")
            lo, hi = _trunc_bounds(src, dst, signed)
            ok_lo = L.op(f"fcmp ogt {ls} {v}, {_fconst_literal(lo, src)}")
            ok_hi = L.op(f"fcmp olt {ls} {v}, {_fconst_literal(hi, src)}")
            ok = L.op(f"and i1 {ok_lo}, {ok_hi}")
            bad = L.op(f"xor i1 {ok}, true")
            L.trap_if(bad, "INT_OVERFLOW")
            r = L.op(f"{'fptosi' if signed else 'fptoui'} {ls} {v} to {ld}")
        elif kind in ("trunc_sat_s", "trunc_sat_u"):
            f = "fptosi" if kind == "trunc_sat_s" else "fptoui"
            r = L.op(f"call {ld} @llvm.{f}.sat.{ld}.{_fsuffix(src)}({ls} {v})")
        else:  # pragma: no cover
            raise AssertionError(kind)
        L.push(r, dst)
    return h


def _sextin(bits):
    def h(L, ins):
        v, t = L.pop()
        n = L.op(f"trunc {t} {v} to i{bits}")
        L.push(L.op(f"sext i{bits} {n} to {t}"), t)
    return h


def handler(op):
    fam, _, rest = op.hint.partition(":")
    if op.hint == "ieqz":
        return _ieqz
    if fam == "const" and rest in ("i32", "i64", "f32", "f64"):
        return _const(rest)
    simple = {"icmp": _icmp, "fcmp": _fcmp, "iun": _iun, "ibin": _ibin, "idiv": _idiv, "fun": _fun,
              "fbin": _fbin}
    if fam in simple:
        return simple[fam](rest)
    if fam == "cvt":
        return _cvt(rest, op.params[0], op.results[0])
    if fam == "sextin":
        return _sextin(int(rest))
    return None
