"""Wasm tail calls run in constant stack on every architecture.

corpus/wat/tailcall.wat: a million-deep mutual tail recursion between
functions of different signatures (one side with 12 parameters, some passed
on the stack or in the argument buffer), direct and through a table; the
``return_call_ref`` variant is built here.  A million frames would need far
more than the 4 MiB of stack the shim gives guest code, so a tail call that
is not one ends in "call stack exhausted" -- which an ordinary deep
recursion in the same module must still do.

x86-64 runs in this process and in its standalone runner; aarch64 and
riscv64 in theirs under qemu-user.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from places import call, place, servers  # noqa: F401 (place and servers are fixtures)
from wasmbuild import I64, Mod, i64c, lget, name, uleb, vec
from wasmc.errors import Trap

WASM = Path(__file__).resolve().parents[2] / "corpus" / "wat" / "tailcall.wasm"
N = 1_000_000


def _ref_module() -> bytes:
    """ping_ref/pong_ref: return_call_ref between two functions of one type."""
    m = Mod()
    t = m.functype([I64], [I64])
    ref_func = lambda f: b"\xd2" + uleb(f)  # noqa: E731
    # ping(n) = n == 0 ? 9 : return_call_ref (n - 1) (ref.func pong)
    ping = m.func(t, lget(0) + b"\x50" + b"\x04\x7e" + i64c(9) + b"\x05" + lget(0) + i64c(1) + b"\x7d"
                  + ref_func(1) + b"\x15" + uleb(t) + b"\x0b")
    m.func(t, lget(0) + ref_func(0) + b"\x15" + uleb(t))  # pong(n) = return_call_ref n (ref.func ping)
    m.elems.append(b"\x03\x00" + vec([uleb(0), uleb(1)]))  # declarative: ref.func needs it
    m.exports.append(name("ping_ref") + b"\x00" + uleb(ping))
    return m.build()


def _call(ex, fn, *args):
    return call(ex, fn, *args)[0]


@pytest.mark.parametrize("fn,want", [("even", N % 2 == 0), ("ping_indirect", 7)])
def test_a_million_tail_calls_in_constant_stack(place, fn, want):
    ex = place.instantiate(place.compile(WASM.read_bytes()), {})
    assert _call(ex, fn, N) == int(want)
    assert _call(ex, fn, N + 1) == (int(not want) if fn == "even" else want)


def test_return_call_ref(place):
    ex = place.instantiate(place.compile(_ref_module()), {})
    assert _call(ex, "ping_ref", N) == 9


def test_ordinary_recursion_still_exhausts_the_stack(place):
    ex = place.instantiate(place.compile(WASM.read_bytes()), {})
    assert _call(ex, "deep", 1000) == 1000
    with pytest.raises(Trap, match="call stack exhausted"):
        _call(ex, "deep", N)
