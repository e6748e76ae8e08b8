"""Wasm exceptions across the Python API: a host function throws into the
guest and a handler there catches it; an exception no handler catches
reaches Python as wasmc.WasmException with its tag and values; exceptions
cross nested host/guest frames; tags are imported, exported and keep one
identity; what cannot be thrown traps cleanly."""

from __future__ import annotations

import struct

import pytest

import wasmc
from wasmbuild import F64, I32, I64, Mod, i32c, lget, name, uleb

THROW, TRY_TABLE, CALL = b"\x08", b"\x1f", b"\x10"


def _module() -> bytes:
    """imports host.t (tag (param i32)) and host.h (func (param i32));
    defines tag own (param i64 f64), exported as "own", and "t" re-exported;
    functions:
      catch_h(x)  = try_table (catch $t -> returns payload + 1000): h(x); return -1
      throw_own(a) = throw $own (a, 2.5)
      throw_t(x)  = throw $t x
      call_h(x)   = h(x)               (nothing catches here)
      catch_all(x) = try_table (catch_all -> 7): h(x); return 0"""
    m = Mod()
    t_i32 = m.functype([I32], [])
    t_own = m.functype([I64, F64], [])
    t_i32_i32 = m.functype([I32], [I32])
    t_i64 = m.functype([I64], [])
    m.import_(4, b"\x00" + uleb(t_i32), "host", "t")  # tag 0
    h = m.import_func(t_i32, "host", "h")
    m.tags.append(b"\x00" + uleb(t_own))  # tag 1
    # catch_h: block (result i32) try_table (catch 0 0) local.get 0; call h; end; i32.const -1; return; end;
    #          i32.const 1000; i32.add
    catch_h = m.func(t_i32_i32, b"\x02\x7f" + TRY_TABLE + b"\x40" + b"\x01\x00" + uleb(0) + uleb(0)
                     + lget(0) + CALL + uleb(h) + b"\x0b" + i32c(-1) + b"\x0f" + b"\x0b"
                     + i32c(1000) + b"\x6a")
    throw_own = m.func(t_i64, lget(0) + b"\x44" + struct.pack("<d", 2.5) + THROW + uleb(1))
    throw_t = m.func(t_i32, lget(0) + THROW + uleb(0))
    call_h = m.func(t_i32, lget(0) + CALL + uleb(h))
    # catch_all: block try_table (catch_all 0) local.get 0; call h; end; i32.const 0; return; end; i32.const 7
    catch_all = m.func(t_i32_i32, b"\x02\x40" + TRY_TABLE + b"\x40" + b"\x01\x02" + uleb(0)
                       + lget(0) + CALL + uleb(h) + b"\x0b" + i32c(0) + b"\x0f" + b"\x0b" + i32c(7))
    for export, kind, idx in (("own", 4, 1), ("t", 4, 0), ("catch_h", 0, catch_h), ("throw_own", 0, throw_own),
                              ("throw_t", 0, throw_t), ("call_h", 0, call_h), ("catch_all", 0, catch_all)):
        m.exports.append(name(export) + bytes([kind]) + uleb(idx))
    return m.build()


@pytest.fixture(scope="module")
def module():
    return wasmc.Module(_module(), opt_level=0)


def _instance(module, h):
    store = wasmc.Store()
    tag = wasmc.Tag(wasmc.FuncType(["i32"], []), store=store)
    fn = wasmc.Func(wasmc.FuncType(["i32"], []), h)
    inst = wasmc.Instance(module, {"host": {"t": tag, "h": fn}}, store=store)
    return inst.exports, tag


def test_a_host_function_throws_and_the_guest_catches(module):
    box = {}

    def h(x):
        raise wasmc.WasmException(box["tag"], [x * 2])

    ex, box["tag"] = _instance(module, h)
    assert ex["catch_h"](21) == 1042
    assert ex["catch_h"](-5) == 990
    assert ex["catch_all"](1) == 7


def test_a_host_function_that_returns_is_not_caught(module):
    ex, _ = _instance(module, lambda x: None)
    assert ex["catch_h"](1) == -1
    assert ex["catch_all"](1) == 0


def test_uncaught_exceptions_reach_python_with_tag_and_values(module):
    ex, tag = _instance(module, lambda x: None)
    with pytest.raises(wasmc.WasmException) as info:
        ex["throw_own"](-3)
    e = info.value
    assert e.tag is ex["own"]
    assert e.values == [-3, 2.5]
    assert e.tag.type == wasmc.FuncType(["i64", "f64"], [])
    assert isinstance(e, wasmc.Trap) and e.kind == "uncaught exception"
    assert "tag own" in str(e) and "-3" in str(e)
    with pytest.raises(wasmc.WasmException) as info:
        ex["throw_t"](5)
    assert info.value.tag is tag and ex["t"] is tag
    assert info.value.values == [5]


def test_an_exception_thrown_by_the_host_and_not_caught_comes_back(module):
    box = {}

    def h(x):
        raise wasmc.WasmException(box["tag"], [x])

    ex, box["tag"] = _instance(module, h)
    with pytest.raises(wasmc.WasmException) as info:
        ex["call_h"](11)
    assert info.value.tag is box["tag"] and info.value.values == [11]


def test_exceptions_cross_nested_host_and_guest_frames(module):
    """catch_h -> h (Python) -> throw_t (guest, uncaught there) -> back in
    h as WasmException, which h lets through -> caught by catch_h."""
    box = {}

    def h(x):
        if x > 0:
            box["ex"]["throw_t"](x + 1)  # raises WasmException
        return None

    ex, _ = _instance(module, h)
    box["ex"] = ex
    assert ex["catch_h"](4) == 1005
    assert ex["catch_h"](0) == -1
    # and the handler stack is intact afterwards
    assert ex["catch_h"](8) == 1009


def test_what_cannot_be_thrown_traps_as_a_host_failure(module):
    other = wasmc.Store()
    foreign = wasmc.Tag(wasmc.FuncType(["i32"], []), store=other)
    cases = {
        "wrong store": lambda tag, x: wasmc.WasmException(foreign, [x]),
        "wrong arity": lambda tag, x: wasmc.WasmException(tag, [x, x]),
        "wrong value": lambda tag, x: wasmc.WasmException(tag, ["x"]),
        "not a tag": lambda tag, x: wasmc.WasmException("tag", [x]),
    }
    for what, make in cases.items():
        box = {}

        def h(x, make=make, box=box):
            raise make(box["tag"], x)

        ex, box["tag"] = _instance(module, h)
        with pytest.raises((TypeError, ValueError, wasmc.LinkError)):
            ex["catch_all"](1)  # a catch_all does not catch a host failure
        assert ex["catch_h"].__class__ is wasmc.Func, what


def test_tags_link_by_type_and_store(module):
    store = wasmc.Store()
    fn = wasmc.Func(wasmc.FuncType(["i32"], []), lambda x: None)
    wrong = wasmc.Tag(wasmc.FuncType(["i64"], []), store=store)
    with pytest.raises(wasmc.LinkError):
        wasmc.Instance(module, {"host": {"t": wrong, "h": fn}}, store=store)
    with pytest.raises(wasmc.LinkError):
        wasmc.Instance(module, {"host": {"t": fn, "h": fn}}, store=store)
    elsewhere = wasmc.Tag(wasmc.FuncType(["i32"], []), store=wasmc.Store())
    with pytest.raises(wasmc.LinkError):
        wasmc.Instance(module, {"host": {"t": elsewhere, "h": fn}}, store=store)
    with pytest.raises(ValueError):
        wasmc.Tag(wasmc.FuncType([], ["i32"]), store=store)


def test_an_exported_tag_links_into_another_instance(module):
    """Instance B imports A's exported tag "own"'s sibling "t": an exception
    thrown by B with it is caught by A's handler for the same tag."""
    box = {}

    def h(x):
        box["b"]["throw_t"](x)

    store = wasmc.Store()
    tag = wasmc.Tag(wasmc.FuncType(["i32"], []), store=store)
    quiet = wasmc.Func(wasmc.FuncType(["i32"], []), lambda x: None)
    a = wasmc.Instance(module, {"host": {"t": tag, "h": wasmc.Func(wasmc.FuncType(["i32"], []), h)}}, store=store)
    b = wasmc.Instance(module, {"host": {"t": a.exports["t"], "h": quiet}}, store=store)
    box["b"] = b.exports
    assert a.exports["catch_h"](3) == 1003
    # a tag of the same type that is another tag is not caught by $t's handler
    other = wasmc.Tag(wasmc.FuncType(["i32"], []), store=store)
    c = wasmc.Instance(module, {"host": {"t": other, "h": quiet}}, store=store)
    box["b"] = c.exports
    assert a.exports["catch_all"](3) == 7
    with pytest.raises(wasmc.WasmException) as info:
        a.exports["catch_h"](3)
    assert info.value.tag is other


def test_the_process_survives_many_throws(module):
    box = {}

    def h(x):
        raise wasmc.WasmException(box["tag"], [x])

    ex, box["tag"] = _instance(module, h)
    assert sum(ex["catch_h"](i) for i in range(2000)) == sum(i + 1000 for i in range(2000))
    for _ in range(200):
        with pytest.raises(wasmc.WasmException):
            ex["throw_own"](1)
