"""The ABI is defined once (wasmc/abi.py): the generated header must match it,
and every C compiler target must agree with its layout."""

from __future__ import annotations

import subprocess

import pytest

from conftest import require_tool
from wasmc import abi


def test_header_is_not_stale():
    assert abi.header_path().read_text() == abi.render_c_header(), (
        "runtime-shim/include/wasmc_abi.h is stale: run `.venv/bin/python -m wasmc.abi`")


def test_abi_version_is_derived_from_the_description():
    assert abi.ABI_VERSION == int.from_bytes(
        __import__("hashlib").sha256(abi._render_body().encode()).digest()[:4], "little") & 0x7FFFFFFF


def test_struct_layout_rules():
    # offsets are explicit and every struct size is a multiple of its alignment
    for s in abi.RUNTIME_STRUCTS + abi.DESCRIPTOR_STRUCTS:
        assert s.size % 4 == 0
        import struct as _struct
        assert _struct.calcsize(s.struct_format()) == s.size, s.name
    assert abi.VMCTX.offset("limits") == 8
    vmo = abi.VMOffsets(2, 1, 1, 3, 4, 6, 5)
    assert vmo.memories == abi.VMCTX.size
    assert vmo.globals % 16 == 0 and vmo.size % 16 == 0
    assert vmo.type_id_array + 5 * 4 <= vmo.size


TRIPLES = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "riscv64": "riscv64-linux-gnu"}


@pytest.mark.parametrize("arch", sorted(TRIPLES))
def test_c_layout_matches_per_target(arch, tmp_path):
    """The header's _Static_asserts hold for each target's C compiler (clang --target)."""
    clang = require_tool("clang")
    src = tmp_path / "probe.c"
    src.write_text('#include "wasmc_abi.h"\n#include "wasmc_rt.h"\nint wasmc_probe;\n')
    r = subprocess.run([clang, f"--target={TRIPLES[arch]}", "-ffreestanding", "-std=c11", "-fsyntax-only",
                        "-I", str(abi.header_path().parent), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_trap_messages_agree_with_the_shim():
    """The runtime's message table (trap.c) is the header's
    WASMC_TRAP_MESSAGES, generated from abi.TRAPS and indexed by code: the
    codes must be dense and the header's list in code order."""
    import re

    inc = abi.header_path()
    trap_c = (inc.parent.parent / "src" / "trap.c").read_text()
    assert re.search(r"trap_messages\[\]\s*=\s*WASMC_TRAP_MESSAGES;", trap_c)
    assert sorted(t.code for t in abi.TRAPS) == list(range(len(abi.TRAPS)))
    m = re.search(r"#define WASMC_TRAP_MESSAGES \{ (.*) \}", inc.read_text())
    assert m, "no WASMC_TRAP_MESSAGES in the header"
    listed = re.findall(r'"([^"]*)"', m.group(1))
    assert listed == [t.message for t in sorted(abi.TRAPS, key=lambda t: t.code)]
