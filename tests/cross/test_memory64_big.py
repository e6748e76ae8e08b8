"""A 64-bit memory grows beyond 4 GiB and stays bounds-checked, on every architecture.

corpus/wat/mem64big.wat: grow a 1-page i64 memory to 5 GiB + 64 KiB, store and
load at the 5 GiB mark, trap one byte past the end, and see a growth beyond
the reservation fail with -1 (memory.grow may fail; it must not crash).
Under qemu-user the reservation is capped at 8 GiB (remote.py), natively at
64 GiB (runtime-shim/src/memory.c).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from places import M64, call, place, servers  # noqa: F401 (place and servers are fixtures)
from wasmc.errors import Trap

WASM = Path(__file__).resolve().parents[2] / "corpus" / "wat" / "mem64big.wasm"
GIB = 1 << 30


def test_memory64_beyond_4gib(place):
    ex = place.instantiate(place.compile(WASM.read_bytes()), {})
    assert call(ex, "grow", 5 * 16384)[0] == 1
    assert call(ex, "size")[0] == 5 * 16384 + 1
    call(ex, "store", 5 * GIB - 8, 0x1122334455667788)
    assert call(ex, "load", 5 * GIB - 8)[0] == 0x1122334455667788
    end = call(ex, "size")[0] * 65536
    with pytest.raises(Trap, match="out of bounds memory access"):
        call(ex, "store", end - 4, 1)
    assert call(ex, "grow", 1 << 40)[0] == M64  # -1: beyond any reservation
