"""Focused tests of tricky validation rules (wasmc/wasm/validate.py).

Modules are built as bytes by the tiny builder below, so the tests depend on
no text-format tool and no feature flags.
"""

from __future__ import annotations

import pickle
import time

import pytest

from wasmc.errors import MalformedError, ValidationError
from wasmc.wasm.decode import decode_module
from wasmc.wasm.module import RefType
from wasmc.wasm.validate import (
    BOT, CanonKey, canonical_key_bytes, canonical_valtype, extern_type_matches,
    func_type_matches, functype_key, key_matches, matches_canonical_valtype, matches_valtype,
    validate_module,
)

from wasmbuild import (  # noqa: E402
    END, F32, F64, I8, I16, I32, I64, V128, FUNCREF, EXTERNREF, ANYREF, EQREF, EXNREF, HEAP, Mod,
    array_t, func_t, gc, heap, i32c, i64c, lget, limits, lset, name, ref, sleb, struct_t, sub, uleb, vec,
)

def valid(mod: Mod):
    return mod.module()


def invalid(mod: Mod, text: str = "") -> ValidationError:
    m = decode_module(mod.build())
    with pytest.raises(ValidationError) as info:
        validate_module(m)
    assert text in info.value.message, info.value.message
    return info.value


def one(body: bytes, params=(), results=(), locals_=(), setup=None):
    """A module with one function ``params -> results``."""
    m = Mod()
    if setup:
        setup(m)
    t = m.functype(params, results)
    m.func(t, body, locals_)
    return m


# --------------------------------------------------------------------------
# operand stack, polymorphism
# --------------------------------------------------------------------------

def test_minimal_and_type_mismatch():
    valid(one(i32c(1), results=[I32]))
    err = invalid(one(i64c(1), results=[I32]), "type mismatch")
    assert err.func == 0
    invalid(one(b"", results=[I32]), "type mismatch")
    invalid(one(i32c(1) + i32c(2), results=[I32]), "type mismatch")


def test_error_offset_and_function_index():
    m = Mod()
    t = m.functype([], [I32])
    m.import_func(t)
    body = i32c(1) + i64c(2) + b"\x6a"  # i32.add on (i32, i64)
    m.func(t, body)
    data = m.build()
    with pytest.raises(ValidationError) as info:
        validate_module(decode_module(data))
    assert info.value.func == 1  # imports come first in the function index space
    assert info.value.offset == data.rindex(b"\x6a\x0b")
    assert "type mismatch" in info.value.message


def test_unreachable_makes_stack_polymorphic():
    valid(one(b"\x00\x6a", results=[I32]))                 # unreachable; i32.add
    valid(one(b"\x00\x6a\x1a", results=[]))                # ... drop
    valid(one(b"\x00" + lget(0) + b"\x6a", params=[I32], results=[I32]))
    # operands pushed after unreachable are still typed
    invalid(one(b"\x00" + i32c(0) + b"\x7c", results=[I64]), "type mismatch")
    invalid(one(b"\x00\x6a", results=[I64]), "type mismatch")
    # polymorphism is per block: the stack of an inner block is not polymorphic
    invalid(one(b"\x00\x02\x7f\x6a\x0b", results=[I32]), "type mismatch")


def test_select():
    valid(one(i32c(1) + i32c(2) + i32c(0) + b"\x1b", results=[I32]))
    invalid(one(i32c(1) + i64c(2) + i32c(0) + b"\x1b", results=[I32]), "type mismatch")
    # untyped select may not choose between references
    refs = b"\xd0\x70\xd0\x70" + i32c(0)
    invalid(one(refs + b"\x1b", results=[FUNCREF]), "type mismatch")
    valid(one(refs + b"\x1c\x01\x70", results=[FUNCREF]))
    invalid(one(refs + b"\x1c\x02\x70\x70", results=[FUNCREF]), "invalid result arity")
    # with a bottom operand the other decides, but a reference is still rejected
    valid(one(b"\x00" + i32c(0) + b"\x1b", results=[I32]))
    invalid(one(b"\x00\xd0\x70" + i32c(0) + b"\x1b\x1a"), "type mismatch")


def test_if_without_else():
    m = Mod()
    t = m.functype([I32], [I32])
    # (if (param i32) (result i32)) without else: inputs pass straight through
    m.func(t, lget(0) + lget(0) + b"\x04" + sleb(t) + END)
    valid(m)
    invalid(one(i32c(1) + b"\x04\x7f" + i32c(2) + END, results=[I32]), "type mismatch")
    valid(one(i32c(1) + b"\x04\x7f" + i32c(2) + b"\x05" + i32c(3) + END, results=[I32]))


def test_br_table():
    # labels of different arity
    body = b"\x02\x7f\x02\x40" + i32c(0) + b"\x0e\x01\x00\x01" + END + i32c(0) + END + b"\x1a"
    invalid(one(body), "br_table")
    # unreachable: one bottom value matches both an i32 and an f32 label
    body = (b"\x02\x7d\x02\x7f\x00\x0e\x01\x00\x01" + END + b"\x1a" +
            b"\x43\x00\x00\x00\x00" + END + b"\x1a")
    valid(one(body))
    # reachable: an i32 does not match the f32 label
    body = (b"\x02\x7d\x02\x7f" + i32c(0) + i32c(0) + b"\x0e\x01\x00\x01" + END + b"\x1a" +
            b"\x43\x00\x00\x00\x00" + END + b"\x1a")
    invalid(one(body), "type mismatch")
    invalid(one(i32c(0) + b"\x0e\x00\x05"), "unknown label")


def test_br_if_keeps_label_type():
    # br_if passes on the label's type, not the operand's subtype
    m = Mod()
    t = m.functype([], [FUNCREF])
    m.func(t, b"\x02\x70\xd2\x00" + i32c(0) + b"\x0d\x00" + END)
    m.exports.append(name("f") + b"\x00\x00")
    valid(m)


# --------------------------------------------------------------------------
# locals
# --------------------------------------------------------------------------

NN_EXTERN = ref("extern", null=False)


def test_non_defaultable_locals():
    p = [NN_EXTERN]
    loc = [(1, NN_EXTERN)]
    invalid(one(lget(1) + b"\x1a", params=p, locals_=loc), "uninitialized local")
    valid(one(lget(0) + lset(1) + lget(1) + b"\x1a", params=p, locals_=loc))
    valid(one(lget(0) + b"\x22\x01" + b"\x1a" + lget(1) + b"\x1a", params=p, locals_=loc))
    # initialization inside a block ends with the block
    body = b"\x02\x40" + lget(0) + lset(1) + lget(1) + b"\x1a" + END
    valid(one(body, params=p, locals_=loc))
    invalid(one(body + lget(1) + b"\x1a", params=p, locals_=loc), "uninitialized local")
    # ... and an initialization before the block survives it
    valid(one(lget(0) + lset(1) + b"\x02\x40" + lget(1) + b"\x1a" + END + lget(1) + b"\x1a",
              params=p, locals_=loc))
    # defaultable locals need no initialization
    valid(one(lget(0) + b"\x1a", locals_=[(1, ref("extern"))]))
    invalid(one(lget(3) + b"\x1a", params=[I32], locals_=[(2, I64)]), "unknown local 3")


def test_huge_local_counts():
    start = time.perf_counter()
    valid(one(lget(2_999_999) + b"\x1a", locals_=[(3_000_000, I32)]))
    invalid(one(lget(3_000_000) + b"\x1a", locals_=[(3_000_000, I32)]), "unknown local")
    loc = [(2_000_000, I64), (2_000_000, NN_EXTERN)]
    invalid(one(lget(3_000_001) + b"\x1a", params=[NN_EXTERN], locals_=loc),
            "uninitialized local")
    valid(one(lget(0) + lset(3_000_001) + lget(3_000_001) + b"\x1a", params=[NN_EXTERN],
              locals_=loc))
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------
# calls and tail calls
# --------------------------------------------------------------------------

def test_return_call_result_subtyping():
    m = Mod()
    caller = m.functype([], [ref("func")])
    callee = m.functype([], [ref("func", null=False)])
    m.func(caller, b"\x12\x01")   # return_call 1
    m.func(callee, b"\x00")
    valid(m)
    m = Mod()
    caller = m.functype([], [ref("func", null=False)])
    callee = m.functype([], [ref("func")])
    m.func(caller, b"\x12\x01")
    m.func(callee, b"\x00")
    invalid(m, "type mismatch")
    m = Mod()
    caller = m.functype([], [I32])
    callee = m.functype([], [I32, I32])
    m.func(caller, b"\x12\x01")
    m.func(callee, b"\x00")
    invalid(m, "type mismatch")


def test_call_indirect_needs_a_function_table():
    def table(kind):
        def setup(m):
            m.tables.append(kind + limits(1))
        return setup
    valid(one(i32c(0) + b"\x11\x00\x00", setup=table(FUNCREF)))
    invalid(one(i32c(0) + b"\x11\x00\x00", setup=table(EXTERNREF)), "type mismatch")
    invalid(one(i32c(0) + b"\x11\x00\x01", setup=table(FUNCREF)), "unknown table")
    invalid(one(i32c(0) + b"\x11\x05\x00", setup=table(FUNCREF)), "unknown type")


def test_call_ref():
    m = Mod()
    t = m.functype([I32], [I32])
    f = m.func(t, lget(0))
    m.func(t, lget(0) + b"\xd2" + uleb(f) + b"\x14" + uleb(t))
    m.exports.append(name("f") + b"\x00" + uleb(f))
    valid(m)
    m = Mod()
    t = m.functype([I32], [I32])
    m.func(t, lget(0) + b"\xd0\x70\x14" + uleb(t))   # funcref is not (ref null $t)
    invalid(m, "type mismatch")


# --------------------------------------------------------------------------
# constant expressions and module-level rules
# --------------------------------------------------------------------------

def glob(t, init: bytes, mutable=False) -> bytes:
    return t + (b"\x01" if mutable else b"\x00") + init + END


def test_global_initializers_see_earlier_immutable_globals():
    m = Mod()
    m.globals += [glob(I32, i32c(1)), glob(I32, b"\x23\x00")]
    valid(m)
    m = Mod()
    m.globals += [glob(I32, i32c(1), mutable=True), glob(I32, b"\x23\x00")]
    invalid(m, "constant expression required")
    m = Mod()
    m.globals += [glob(I32, b"\x23\x01"), glob(I32, i32c(1))]
    invalid(m, "unknown global")
    m = Mod()
    m.globals += [glob(I32, b"\x23\x00")]
    invalid(m, "unknown global")


def test_constant_expression_instructions():
    m = Mod()
    m.globals += [glob(I32, i32c(1) + i32c(2) + b"\x6a" + i32c(3) + b"\x6c")]  # extended const
    valid(m)
    m = Mod()
    m.globals += [glob(I32, i32c(1) + b"\x67")]   # i32.clz is not constant
    invalid(m, "constant expression required")
    m = Mod()
    m.globals += [glob(I32, i32c(1) + i32c(1) + b"\x6d")]   # i32.div_s is not constant
    invalid(m, "constant expression required")
    m = Mod()
    m.globals += [glob(I64, i32c(1))]
    invalid(m, "type mismatch")
    m = Mod()
    m.globals += [glob(I32, i32c(1) + i32c(1))]
    invalid(m, "type mismatch")


def test_table_initializers_see_only_imported_globals():
    m = Mod()
    m.import_(3, FUNCREF + b"\x00")
    m.tables.append(b"\x40\x00" + FUNCREF + limits(1) + b"\x23\x00" + END)
    valid(m)
    m = Mod()
    m.tables.append(b"\x40\x00" + FUNCREF + limits(1) + b"\x23\x00" + END)
    m.globals += [glob(FUNCREF, b"\xd0\x70")]
    invalid(m, "unknown global")


def test_non_nullable_table_needs_initializer():
    m = Mod()
    m.tables.append(ref("func", null=False) + limits(1))
    invalid(m, "type mismatch")


def test_ref_func_must_be_declared():
    invalid(one(b"\xd2\x00\x1a"), "undeclared function reference")
    m = one(b"\xd2\x00\x1a")
    m.exports.append(name("f") + b"\x00\x00")
    valid(m)
    m = one(b"\xd2\x00\x1a")
    m.elems.append(b"\x03\x00" + vec([b"\x00"]))       # declarative elem segment
    valid(m)
    m = one(b"\xd2\x00\x1a")
    m.globals.append(glob(FUNCREF, b"\xd2\x00"))
    valid(m)
    m = one(b"\xd2\x01\x1a")
    m.exports.append(name("f") + b"\x00\x00")
    invalid(m, "unknown function 1")


def test_memory_limits():
    def mem(lim):
        m = Mod()
        m.mems.append(lim)
        return m
    valid(mem(limits(65536)))
    invalid(mem(limits(65537)), "memory size must be at most")
    invalid(mem(limits(0, 65537)), "memory size must be at most")
    valid(mem(limits(2**48, is64=True)))
    invalid(mem(limits(2**48 + 1, is64=True)), "memory size must be at most")
    invalid(mem(limits(2, 1)), "size minimum must not be greater than maximum")


def test_table_limits():
    def tab(lim):
        m = Mod()
        m.tables.append(FUNCREF + lim)
        return m
    valid(tab(limits(0, 2**32 - 1)))
    invalid(tab(limits(0, 2**32)), "table size must be at most")
    valid(tab(limits(2**40, is64=True)))
    invalid(tab(limits(5, 4)), "size minimum must not be greater than maximum")


def test_memory64_address_types_and_offsets():
    def mem64(m):
        m.mems.append(limits(1, is64=True))

    def mem32(m):
        m.mems.append(limits(1))
    load = b"\x28\x02"  # i32.load align=4
    valid(one(i64c(0) + load + b"\x00", results=[I32], setup=mem64))
    invalid(one(i32c(0) + load + b"\x00", results=[I32], setup=mem64), "type mismatch")
    valid(one(i64c(0) + load + uleb(2**40), results=[I32], setup=mem64))
    invalid(one(i32c(0) + load + uleb(2**32), results=[I32], setup=mem32), "offset out of range")
    valid(one(i32c(0) + load + uleb(2**32 - 1), results=[I32], setup=mem32))
    # memory.size / grow use the address type
    valid(one(b"\x3f\x00", results=[I64], setup=mem64))
    invalid(one(b"\x3f\x00", results=[I32], setup=mem64), "type mismatch")
    # memory.copy between an i32 and an i64 memory takes the smaller type for the length
    def both(m):
        m.mems += [limits(1), limits(1, is64=True)]
    valid(one(i32c(0) + i64c(0) + i32c(0) + b"\xfc\x0a\x00\x01", setup=both))
    invalid(one(i32c(0) + i64c(0) + i64c(0) + b"\xfc\x0a\x00\x01", setup=both), "type mismatch")


def test_alignment_and_unknown_memory():
    def mem(m):
        m.mems.append(limits(1))
    valid(one(i32c(0) + b"\x28\x02\x00", results=[I32], setup=mem))
    invalid(one(i32c(0) + b"\x28\x03\x00", results=[I32], setup=mem),
            "alignment must not be larger than natural")
    invalid(one(i32c(0) + b"\x2d\x01\x00", results=[I32], setup=mem),   # i32.load8_u align=2
            "alignment must not be larger than natural")
    invalid(one(i32c(0) + b"\x28\x02\x00", results=[I32]), "unknown memory 0")
    # multi-memory: memory index 1 via bit 6 of the flags
    invalid(one(i32c(0) + b"\x28\x42\x01\x00", results=[I32], setup=mem), "unknown memory 1")


def test_simd_lane_indices():
    v = b"\xfd\x0c" + bytes(16)
    valid(one(v + b"\xfd\x15\x0f", results=[I32]))            # i8x16.extract_lane_s 15
    invalid(one(v + b"\xfd\x15\x10", results=[I32]), "invalid lane index")
    invalid(one(v + b"\xfd\x1d\x02", results=[I64]), "invalid lane index")   # i64x2 lane 2
    valid(one(v + v + b"\xfd\x0d" + bytes(range(16, 32)), results=[V128]))
    invalid(one(v + v + b"\xfd\x0d" + bytes(15) + b"\x20", results=[V128]), "invalid lane index")

    def mem(m):
        m.mems.append(limits(1))
    valid(one(i32c(0) + v + b"\xfd\x54\x00\x00\x0f", results=[V128], setup=mem))
    invalid(one(i32c(0) + v + b"\xfd\x54\x00\x00\x10", results=[V128], setup=mem),
            "invalid lane index")
    invalid(one(i32c(0) + v + b"\xfd\x57\x00\x00\x02", results=[V128], setup=mem),  # load64_lane
            "invalid lane index")


def test_exports_and_start():
    m = one(b"")
    m.exports += [name("a") + b"\x00\x00", name("a") + b"\x00\x00"]
    invalid(m, "duplicate export name")
    m = one(b"")
    m.exports += [name("a") + b"\x00\x00", name("b") + b"\x00\x00"]
    valid(m)
    m = one(b"")
    m.exports.append(name("g") + b"\x03\x00")
    invalid(m, "unknown global 0")
    m = one(b"")
    m.start = 0
    valid(m)
    m = one(b"\x1a", params=[I32])
    m.start = 0
    invalid(m, "start function")
    m = one(b"")
    m.start = 1
    invalid(m, "unknown function 1")


def test_elem_segments():
    m = Mod()
    t = m.functype()
    m.func(t, b"")
    m.tables.append(EXTERNREF + limits(1))
    m.elems.append(b"\x00" + i32c(0) + END + vec([b"\x00"]))  # funcs into an externref table
    invalid(m, "type mismatch")
    m = Mod()
    t = m.functype()
    m.func(t, b"")
    m.tables.append(FUNCREF + limits(1))
    m.elems.append(b"\x00" + i64c(0) + END + vec([b"\x00"]))  # offset must be i32
    invalid(m, "type mismatch")
    m = Mod()
    m.tables.append(FUNCREF + limits(1))
    m.elems.append(b"\x00" + i32c(0) + END + vec([b"\x03"]))
    invalid(m, "unknown function 3")
    # expression items
    m = Mod()
    m.tables.append(FUNCREF + limits(1))
    m.elems.append(b"\x04" + i32c(0) + END + vec([b"\xd0\x70" + END, b"\xd0\x6f" + END]))
    invalid(m, "type mismatch")


# --------------------------------------------------------------------------
# types, subtyping, canonicalization
# --------------------------------------------------------------------------

def test_supertype_rules():
    m = Mod()
    a = m.type(sub(struct_t((I32, False))))
    m.type(sub(struct_t((I32, False), (I64, True)), [a]))
    valid(m)
    m = Mod()
    a = m.type(struct_t((I32, False)))  # plain comptype: final
    m.type(sub(struct_t((I32, False)), [a]))
    invalid(m, "final super type")
    m = Mod()
    a = m.type(sub(struct_t((I32, False))))
    m.type(sub(struct_t((I64, False)), [a]))
    invalid(m, "does not match super type")
    m = Mod()
    a = m.type(sub(struct_t((I32, True))))
    m.type(sub(struct_t((I32, False)), [a]))     # mutability must agree
    invalid(m, "does not match super type")
    m = Mod()
    m.rec(sub(struct_t(), [1]), sub(struct_t()))
    invalid(m, "forward use")
    m = Mod()
    m.type(sub(struct_t(), [5]))
    invalid(m, "unknown type")
    # function subtyping: contravariant parameters, covariant results
    m = Mod()
    a = m.type(sub(func_t([ref("func", False)], [ref("func")])))
    m.type(sub(func_t([ref("func")], [ref("func", False)]), [a]))
    valid(m)
    m = Mod()
    a = m.type(sub(func_t([ref("func")], [])))
    m.type(sub(func_t([ref("func", False)], []), [a]))
    invalid(m, "does not match super type")


def test_subtype_use_in_code():
    m = Mod()
    base = m.type(sub(struct_t((I32, False))))
    derived = m.type(sub(struct_t((I32, False), (I32, False)), [base]))
    t = m.functype([ref(derived)], [ref(base)])
    m.func(t, lget(0))
    valid(m)
    m = Mod()
    base = m.type(sub(struct_t((I32, False))))
    derived = m.type(sub(struct_t((I32, False), (I32, False)), [base]))
    t = m.functype([ref(base)], [ref(derived)])
    m.func(t, lget(0))
    invalid(m, "type mismatch")


def test_recursive_types_in_code():
    m = Mod()
    # (rec (type $a (struct (field (ref null $b)))) (type $b (struct (field (ref null $a)))))
    a = m.rec(struct_t((ref(1), False)), struct_t((ref(0), False)))
    t = m.functype([ref(a)], [ref(a + 1)])
    m.func(t, lget(0) + gc(2, a, 0))      # struct.get $a 0 : (ref null $b)
    valid(m)


def test_equivalent_types_are_interchangeable():
    # two separately defined but identical function types are the same type
    m = Mod()
    t0 = m.functype([I32], [])
    t1 = m.functype([I32], [])
    t2 = m.functype([ref(t0)], [ref(t1)])
    m.func(t2, lget(0))
    mod = valid(m)
    assert mod.canonical[t0] == mod.canonical[t1]
    assert mod.canonical[t0] != mod.canonical[t2]


def keys(mod: Mod):
    return valid(mod).canonical


def test_canonical_keys_across_modules():
    a = Mod()
    a.type(struct_t((I32, False)))
    a.functype()
    b = Mod()
    b.functype()
    b.type(struct_t((I32, False)))
    ka, kb = keys(a), keys(b)
    assert ka[0] == kb[1] and ka[1] == kb[0] and ka[0] != ka[1]
    assert hash(ka[0]) == hash(kb[1])
    assert canonical_key_bytes(ka[0]) == canonical_key_bytes(kb[1])
    assert canonical_key_bytes(ka[0]) != canonical_key_bytes(ka[1])


def test_canonical_keys_of_rec_groups():
    def group(m, base):
        return m.rec(struct_t((ref(base + 1), False)), struct_t((ref(base), False)))
    a = Mod()
    group(a, 0)
    b = Mod()
    b.functype()
    b.functype([I32])
    group(b, 2)
    ka, kb = keys(a), keys(b)
    assert ka[0] == kb[2] and ka[1] == kb[3]
    assert ka[0] != ka[1]   # same shape, different position in the group
    # the same two types as separate groups are different types
    c = Mod()
    c.type(struct_t((I32, False)))
    c.type(struct_t((I32, False)))
    d = Mod()
    d.rec(struct_t((I32, False)), struct_t((I32, False)))
    kc, kd = keys(c), keys(d)
    assert kc[0] == kc[1]
    assert kd[0] != kd[1] and kd[0] != kc[0]
    # a singleton rec group is the same as a plain type definition
    e = Mod()
    e.rec(struct_t((I32, False)))
    assert keys(e)[0] == kc[0]


def test_canonical_keys_finality_and_supertypes():
    a = Mod()
    a.type(struct_t())                       # final, no supertypes
    a.type(sub(struct_t()))                  # open
    a.type(sub(struct_t(), final=True))      # explicitly final: same as plain
    k = keys(a)
    assert k[0] != k[1] and k[0] == k[2]
    b = Mod()
    b.type(sub(struct_t()))
    b.type(sub(struct_t(), [0]))             # same structure, with a supertype
    kb = keys(b)
    assert kb[0] == k[1] and kb[1] != kb[0]
    assert key_matches(kb[1], kb[0]) and not key_matches(kb[0], kb[1])
    assert kb[1].super == kb[0] and kb[0].super is None


def test_canonical_keys_see_through_external_references():
    # $b refers to the first of two equivalent types; $c to the second
    a = Mod()
    a.type(struct_t((I32, False)))
    a.type(struct_t((ref(0), False)))
    b = Mod()
    b.type(struct_t((I32, False)))
    b.type(struct_t((I32, False)))
    b.type(struct_t((ref(1), False)))
    assert keys(a)[1] == keys(b)[2]


def test_canonical_key_bytes_and_pickle():
    m = Mod()
    m.type(sub(struct_t((I8, True), (ref("any"), False))))
    m.rec(sub(func_t([ref(2)], [I64]), [] ), sub(array_t(ref(1, null=False)), []))
    m.type(sub(struct_t((I8, True), (ref("any"), False), (I16, False)), [0]))
    k = keys(m)
    blobs = [canonical_key_bytes(x) for x in k]
    assert len(set(blobs)) == len(blobs)
    assert all(b.startswith(b"WCK1") for b in blobs)
    again = keys(m)
    assert [canonical_key_bytes(x) for x in again] == blobs
    for x in k:
        y = pickle.loads(pickle.dumps(x))
        assert y == x and hash(y) == hash(x) and canonical_key_bytes(y) == canonical_key_bytes(x)


def test_deep_type_chains_stay_fast():
    # type i refers to type i-1 twice: keys must not be hashed or serialized as trees
    m = Mod()
    m.type(struct_t((I32, False)))
    for i in range(1, 200):
        m.type(struct_t((ref(i - 1), False), (ref(i - 1), False)))
    start = time.perf_counter()
    k = keys(m)
    blob = canonical_key_bytes(k[-1])
    assert len(blob) < 20_000
    assert time.perf_counter() - start < 2


def test_matching_helpers():
    exp = Mod()
    base = exp.type(sub(func_t([I32], [])))
    derived = exp.type(sub(func_t([I32], []), [base]))
    e = valid(exp)
    imp = Mod()
    imp_t = imp.type(sub(func_t([I32], [])))
    i = valid(imp)
    assert func_type_matches(e, derived, i, imp_t)       # a subtype satisfies the import
    assert func_type_matches(e, base, i, imp_t)
    imp2 = Mod()
    imp2.type(sub(func_t([I32], [])))
    imp2_t = imp2.type(sub(func_t([I32], []), [0]))
    i2 = valid(imp2)
    assert not func_type_matches(e, base, i2, imp2_t)     # a supertype does not
    assert func_type_matches(e, derived, i2, imp2_t)
    assert extern_type_matches(e, "func", derived, i2, imp2_t)
    # value types
    assert matches_valtype(e, RefType(False, derived), RefType(True, base))
    assert not matches_valtype(e, RefType(True, derived), RefType(False, base))
    assert matches_valtype(e, RefType(False, derived), RefType(True, "func"))
    assert matches_valtype(e, RefType(True, "nofunc"), RefType(True, derived))
    assert not matches_valtype(e, RefType(True, "none"), RefType(True, derived))
    assert not matches_valtype(e, RefType(True, derived), RefType(True, "any"))
    assert matches_valtype(e, BOT, "i32") and not matches_valtype(e, "i32", "i64")
    a = canonical_valtype(e, RefType(False, derived))
    b = canonical_valtype(i2, RefType(True, imp2_t))
    assert isinstance(a.heap, CanonKey) and matches_canonical_valtype(a, b)
    assert not matches_canonical_valtype(b, a)
    # host function types
    assert functype_key(["i32"], []) == valid(one(b"", params=[I32])).canonical[0]
    assert functype_key(["i32"], []) != e.canonical[base]   # that one is not final


# --------------------------------------------------------------------------
# exceptions
# --------------------------------------------------------------------------

def with_tag(params=(I32,), results=()):
    def setup(m):
        t = m.functype(params, results)
        m.tags.append(b"\x00" + uleb(t))
    return setup


def test_tags_and_throw():
    invalid(one(b"", setup=with_tag(results=[I32])), "non-empty tag result type")
    # throw's type index is the tag's; the function type is defined after it
    m = Mod()
    tt = m.functype([I32])
    m.tags.append(b"\x00" + uleb(tt))
    ft = m.functype()
    m.func(ft, i32c(1) + b"\x08\x00")
    valid(m)
    m = Mod()
    tt = m.functype([I32])
    m.tags.append(b"\x00" + uleb(tt))
    ft = m.functype()
    m.func(ft, i64c(1) + b"\x08\x00")
    invalid(m, "type mismatch")
    invalid(one(b"\x08\x00"), "unknown tag 0")


def test_try_table_catch_clauses():
    def body(catch, label_type):
        # block (result label_type) ; try_table (catch ... 0) ; end ; unreachable ; end ; drop
        return (b"\x02" + label_type + b"\x1f\x40" + vec([catch]) + END + b"\x00" + END + b"\x1a")
    m = Mod()
    tt = m.functype([I32])
    m.tags.append(b"\x00" + uleb(tt))
    ft = m.functype()
    m.func(ft, body(b"\x00\x00\x00", I32))          # catch 0 -> [i32]
    valid(m)
    m = Mod()
    tt = m.functype([I32])
    m.tags.append(b"\x00" + uleb(tt))
    ft = m.functype()
    m.func(ft, body(b"\x00\x00\x00", I64))
    invalid(m, "type mismatch")
    m = Mod()
    ft = m.functype()
    m.func(ft, body(b"\x03\x00", ref("exn", null=False)))   # catch_all_ref -> [(ref exn)]
    valid(m)
    m = Mod()
    ft = m.functype()
    m.func(ft, body(b"\x02\x00", I32))               # catch_all -> [] but label wants [i32]
    invalid(m, "type mismatch")
    m = Mod()
    ft = m.functype()
    m.func(ft, b"\x1f\x40" + vec([b"\x02\x05"]) + END)
    invalid(m, "unknown label")
    m = Mod()
    ft = m.functype()
    m.func(ft, b"\xd0\x69\x0a")                      # throw_ref (ref.null exn)
    valid(m)


def test_legacy_exceptions():
    setup = with_tag([I32])
    # try ... catch 0 (drop; rethrow 0) end
    valid(one(b"\x06\x40\x07\x00\x1a\x09\x00" + END, setup=setup))
    valid(one(b"\x06\x40\x19\x09\x00" + END, setup=setup))               # catch_all; rethrow 0
    invalid(one(b"\x06\x40\x09\x00\x07\x00\x1a" + END, setup=setup), "invalid rethrow label")
    invalid(one(b"\x02\x40\x09\x00" + END, setup=setup), "invalid rethrow label")
    valid(one(b"\x06\x40\x07\x00\x09\x00" + END, setup=setup))   # rethrow is polymorphic
    invalid(one(b"\x06\x40\x07\x00" + END, setup=setup), "type mismatch")  # the i32 is left
    # catch pushes the tag's parameters
    valid(one(b"\x06\x7f" + i32c(1) + b"\x07\x00" + END, results=[I32], setup=setup))
    # delegate to an enclosing label
    valid(one(b"\x02\x40\x06\x40\x18\x00" + END, setup=setup))
    invalid(one(b"\x06\x40\x18\x01", setup=setup), "unknown label")


# --------------------------------------------------------------------------
# GC instructions
# --------------------------------------------------------------------------

def test_struct_field_access():
    def mod(field, body, results=(I32,)):
        m = Mod()
        s = m.type(struct_t(field))
        t = m.functype([ref(s)], list(results))
        m.func(t, body)
        return m
    valid(mod((I8, False), lget(0) + gc(3, 0, 0)))          # struct.get_s on i8
    invalid(mod((I32, False), lget(0) + gc(3, 0, 0)), "unpacked")
    invalid(mod((I8, False), lget(0) + gc(2, 0, 0)), "packed")
    invalid(mod((I32, False), lget(0) + gc(2, 0, 1)), "unknown field")
    invalid(mod((I32, False), lget(0) + i32c(1) + gc(5, 0, 0), []), "immutable field")
    valid(mod((I32, True), lget(0) + i32c(1) + gc(5, 0, 0), []))


def test_array_rules():
    m = Mod()
    a = m.type(array_t(I32, mutable=False))
    t = m.functype([ref(a), ref(a)])
    m.func(t, lget(0) + i32c(0) + lget(1) + i32c(0) + i32c(1) + gc(17, a, a))
    invalid(m, "immutable array")
    m = Mod()
    dst = m.type(array_t(I32))
    src = m.type(array_t(I64))
    t = m.functype([ref(dst), ref(src)])
    m.func(t, lget(0) + i32c(0) + lget(1) + i32c(0) + i32c(1) + gc(17, dst, src))
    invalid(m, "array types do not match")
    m = Mod()
    a = m.type(array_t(ref("any", null=False)))
    t = m.functype()
    m.func(t, i32c(1) + gc(7, a) + b"\x1a")                 # array.new_default
    invalid(m, "not defaultable")
    m = Mod()
    a = m.type(array_t(ref("any")))
    t = m.functype()
    m.func(t, i32c(1) + gc(7, a) + b"\x1a")
    valid(m)


def test_array_new_fixed_on_a_polymorphic_stack():
    m = Mod()
    a = m.type(array_t(I32))
    t = m.functype()
    m.func(t, b"\x00" + gc(8, a, 4_000_000_000) + b"\x1a")
    start = time.perf_counter()
    valid(m)
    assert time.perf_counter() - start < 1
    m = Mod()
    a = m.type(array_t(I32))
    t = m.functype()
    m.func(t, i32c(1) + gc(8, a, 2) + b"\x1a")
    invalid(m, "type mismatch")


def test_casts():
    m = Mod()
    s = m.type(sub(struct_t()))
    t = m.functype([ANYREF], [ref(s, null=False)])
    m.func(t, lget(0) + gc(23, s))                           # ref.cast_null $s -> (ref null $s)
    invalid(m, "type mismatch")
    m = Mod()
    s = m.type(sub(struct_t()))
    t = m.functype([ANYREF], [ref(s, null=False)])
    m.func(t, lget(0) + gc(22, s))                           # ref.cast $s -> (ref $s)
    valid(m)
    m = Mod()
    t = m.functype([FUNCREF], [I32])
    m.func(t, lget(0) + gc(20) + bytes([HEAP["struct"]]))   # ref.test struct on a funcref
    invalid(m, "type mismatch")
    # br_on_cast: the target type must be a subtype of the source type
    m = Mod()
    t = m.functype([ANYREF], [ANYREF])
    m.func(t, b"\x02\x6e" + lget(0) + b"\xfb\x18\x03\x00" + bytes([HEAP["any"], HEAP["func"]]) + END)
    invalid(m, "type mismatch")
    m = Mod()
    t = m.functype([ANYREF], [ANYREF])
    m.func(t, b"\x02\x6e" + lget(0) + b"\xfb\x18\x03\x00" + bytes([HEAP["any"], HEAP["i31"]]) + END)
    valid(m)


def test_extern_conversions_keep_nullability():
    t_nn = ref("any", null=False)
    valid(one(lget(0) + gc(26), params=[ref("extern", null=False)], results=[t_nn]))
    invalid(one(lget(0) + gc(26), params=[EXTERNREF], results=[t_nn]), "type mismatch")
    valid(one(lget(0) + gc(27), params=[ANYREF], results=[EXTERNREF]))


def test_data_index_checks():
    def setup(m):
        m.mems.append(limits(1))
        m.datacount = 1
        m.datas.append(b"\x01" + vec([b"\x00"]))
    valid(one(i32c(0) + i32c(0) + i32c(0) + b"\xfc\x08\x00\x00", setup=setup))
    invalid(one(i32c(0) + i32c(0) + i32c(0) + b"\xfc\x08\x01\x00", setup=setup),
            "unknown data segment 1")
    invalid(one(b"\xfc\x09\x01", setup=setup), "unknown data segment 1")


def test_array_new_data_needs_data_count_section():
    m = Mod()
    a = m.type(array_t(I8))
    t = m.functype()
    m.func(t, i32c(0) + i32c(0) + gc(9, a, 0) + b"\x1a")
    m.mems.append(limits(1))
    m.datas.append(b"\x01" + vec([b"\x00"]))
    with pytest.raises(MalformedError, match="data count section required"):
        decode_module(m.build())
    m.datacount = 1
    valid(m)
