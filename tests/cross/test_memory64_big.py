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

from wasmc.errors import Trap
from wasmc.spectest import make_backend

WASM = Path(__file__).resolve().parents[2] / "corpus" / "wat" / "mem64big.wasm"
PLACES = [("x86_64", False), ("x86_64", True), ("aarch64", True), ("riscv64", True)]
GIB = 1 << 30
M64 = (1 << 64) - 1


@pytest.mark.parametrize("arch,in_runner", PLACES, ids=[f"{a}{'-runner' if r else ''}" for a, r in PLACES])
def test_memory64_beyond_4gib(arch, in_runner):
    from wasmc.runtime import remote

    server = remote.Server(arch) if in_runner else None
    try:
        b = make_backend(arch, 2, server) if in_runner else make_backend(None, 2)
        ex = b.instantiate(b.compile(WASM.read_bytes()), {})

        def call(fn, *args):
            words = []
            for a in args:
                words += [a & M64, 0]
            return ex[fn].call_bits(words)

        assert call("grow", 5 * 16384)[0] == 1
        assert call("size")[0] == 5 * 16384 + 1
        call("store", 5 * GIB - 8, 0x1122334455667788)
        assert call("load", 5 * GIB - 8)[0] == 0x1122334455667788
        end = call("size")[0] * 65536
        with pytest.raises(Trap, match="out of bounds memory access"):
            call("store", end - 4, 1)
        assert call("grow", 1 << 40)[0] == M64  # -1: beyond any reservation
    finally:
        if server is not None:
            server.close()
