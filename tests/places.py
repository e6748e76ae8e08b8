"""Where the cross-architecture tests (tests/cross) run a slice, and calls
with raw value words.

A *place* is (architecture, in its standalone runner?): x86-64 runs both in
this process (the Python runtime) and in its runner (the code path of
``--exe``); aarch64 and riscv64 run in their runners under qemu-user.  One
runner process per architecture serves a whole test module.
"""

from __future__ import annotations

import pytest

from wasmc.spectest import make_backend

PLACES = [("x86_64", False), ("x86_64", True), ("aarch64", True), ("riscv64", True)]
PLACE_IDS = [f"{a}{'-runner' if r else ''}" for a, r in PLACES]
M64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def servers():
    """Runner processes by architecture, started on first use, closed at the end."""
    from wasmc.runtime import remote

    started: dict = {}

    def get(arch):
        if arch not in started:
            started[arch] = remote.Server(arch)
        return started[arch]

    yield get
    for sv in started.values():
        sv.close()


@pytest.fixture(scope="module", params=PLACES, ids=PLACE_IDS)
def place(request, servers):
    """A backend (wasmc.spectest) for one place: .compile(bytes) -> module,
    .instantiate(module, imports) -> exports."""
    arch, in_runner = request.param
    backend = make_backend(arch, 2, servers(arch)) if in_runner else make_backend(None, 2)
    yield backend
    backend.close()


def call(exports, fn, *args) -> list:
    """Call export FN with integer arguments (one 64-bit word each, as raw
    bits); the result words."""
    words = []
    for a in args:
        words += [a & M64, 0]
    return exports[fn].call_bits(words)
