"""A store that straddles the end of memory traps and writes no byte, on every architecture.

corpus/wat/straddle.wat has stores of every width (i16 ... v128, lanes, a
static offset).  For each, at every address where the store would cross
the end of memory -- at the initial size and again after memory.grow -- the
call must trap with "out of bounds memory access" and the last 16 bytes of
memory must still read zero; a store that ends exactly at the end must
write all its bytes.  x86-64 guarantees this in hardware; aarch64 and
riscv64 need the store probe (targets/*.toml: partial_store_faults), whose
removal makes this test fail on riscv64 (byte-split stores write their first
bytes before the fault).

The slices run where they run in production: x86-64 in this process and in
its standalone runner, aarch64 and riscv64 in theirs under qemu-user.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from places import call, place, servers  # noqa: F401 (place and servers are fixtures)
from wasmc.errors import Trap

WASM = Path(__file__).resolve().parents[2] / "corpus" / "wat" / "straddle.wasm"

# export -> (bytes written, static offset, value words: every byte non-zero)
STORES = {
    "i16": (2, 0, 0xA1A2), "i32": (4, 0, 0xA1A2A3A4), "i64": (8, 0, 0xA1A2A3A4A5A6A7A8),
    "f32": (4, 0, 0x41424344), "f64": (8, 0, 0x4142434445464748), "i64_32": (4, 0, 0xB1B2B3B4),
    "v128": (16, 0, 0xC1C2C3C4C5C6C7C8), "lane64": (8, 0, 0xD1D2D3D4D5D6D7D8),
    "i64_off": (8, 4, 0xE1E2E3E4E5E6E7E8),
}


@pytest.fixture(scope="module")
def exports(place):
    return place.instantiate(place.compile(WASM.read_bytes()), {})


def _call(ex, name, *args):
    return call(ex, name, *args)


def _tail(ex, end: int) -> bytes:
    return bytes(_call(ex, "load8", a)[0] & 0xFF for a in range(end - 16, end))


@pytest.mark.parametrize("store", sorted(STORES))
def test_straddling_store_traps_and_writes_nothing(exports, store):
    size, offset, value = STORES[store]
    for grow in (False, True):
        if grow:
            _call(exports, "grow", 1)
        end = _call(exports, "size")[0] & 0xFFFFFFFF
        for k in range(1, size):
            addr = end - offset - size + k  # the last k bytes are past the end
            with pytest.raises(Trap, match="out of bounds memory access"):
                _call(exports, store, addr, value)
            assert _tail(exports, end) == bytes(16), f"{store} at end-{size - k} wrote before trapping"
        # A store that ends exactly at the end writes every byte.
        _call(exports, store, end - offset - size, value)
        tail = _tail(exports, end)
        assert all(tail[16 - size:]), f"{store} at the very end did not write all {size} bytes"
        _call(exports, store, end - offset - size, 0)  # clear again
        assert _tail(exports, end) == bytes(16)
