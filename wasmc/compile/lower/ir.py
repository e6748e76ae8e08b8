"""IR text conventions shared by every lowering file: LLVM type names,
function attributes, metadata, and exact constant spellings.

No fast-math anywhere; float constants are spelled from their bit patterns
(f32 NaNs need a bitcast: LLVM's textual float form goes through a double
and could quiet a signalling NaN).
"""

from __future__ import annotations

import struct

from ... import abi
from ...wasm.module import RefType

LLT = {"i32": "i32", "i64": "i64", "f32": "float", "f64": "double", "v128": "<16 x i8>"}
ZERO = {"i32": "0", "i64": "0", "f32": "0.0", "f64": "0.0", "v128": "zeroinitializer"}
ALIGN = {"i32": 4, "i64": 8, "f32": 4, "f64": 8, "v128": 16}
VAL = abi.VAL_SIZE

# Function attributes of every generated function: no unwinding (so no
# .eh_frame), frame pointers (for trap backtraces), inline stack probes (a
# frame larger than a guard page cannot skip it), no libcall idioms, and no
# tail-call elimination: LLVM would turn (infinite) recursion into a loop,
# and a runaway recursion must end in "call stack exhausted", not a hang.
FN_ATTRS = '#0'
ATTR_DEFS = ('attributes #0 = { nounwind "frame-pointer"="all" "probe-stack"="inline-asm" '
             '"no-builtins" "disable-tail-calls"="true" }\n'
             'attributes #1 = { noreturn nounwind }\n'
             'attributes #2 = { nounwind }\n'
             'attributes #3 = { returns_twice }\n')
UNLIKELY = "!prof !1"
META = '!0 = !{}\n!1 = !{!"branch_weights", i32 1, i32 2000}\n'
INV = "!invariant.load !0"

# Wasm 2.0 plus the Wasm 3.0 features this lowering implements.
SUPPORTED_FEATURES = frozenset({"mvp", "sign_ext", "sat_conv", "multi_value", "bulk_memory",
                                "reference_types", "simd", "multi_memory", "extended_const",
                                "memory64"})


def lltype(t) -> str:
    if isinstance(t, RefType):
        return "ptr"
    return LLT[t]


def zero(t) -> str:
    if isinstance(t, RefType):
        return "null"
    return ZERO[t]


def ret_type(results) -> str:
    if not results:
        return "void"
    if len(results) == 1:
        return lltype(results[0])
    return "{" + ", ".join(lltype(t) for t in results) + "}"


def f32_const(bits: int) -> str:
    """An f32 constant that LLVM can represent exactly as a literal, or None."""
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return None  # NaN: needs a bitcast
    f = struct.unpack("<f", struct.pack("<I", bits))[0]
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", f))[0]


def f64_const(bits: int) -> str:
    return "0x%016X" % bits


def i32s(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def i64s(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v
