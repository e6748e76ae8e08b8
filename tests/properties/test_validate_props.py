"""Property: wasmc.validate never crashes and never hangs on arbitrary input.

Any byte string is either accepted or rejected with a WasmError
(MalformedError / ValidationError); every other exception is a bug.  Inputs:
random bytes (with and without a valid header) and mutations / truncations of
real modules from the spec suite (shared/spec), which get much deeper into the
decoder and the validator than random bytes do.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conftest import find_shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmc
from wasmc.errors import WasmError
from wasmc.wasm.opcodes import uleb128

HEADER = b"\0asm\x01\0\0\0"
SETTINGS = settings(max_examples=150, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes):
    try:
        wasmc.validate(data)
    except WasmError:
        pass


@SETTINGS
@given(st.binary(max_size=256))
def test_random_bytes(data):
    _check(data)


@SETTINGS
@given(st.binary(max_size=256))
def test_random_bytes_after_header(data):
    _check(HEADER + data)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 13), st.binary(max_size=64)), max_size=6))
def test_random_sections(sections):
    # well-framed sections with random contents reach every section decoder
    out = bytearray(HEADER)
    for sid, payload in sections:
        out += bytes([sid]) + uleb128(len(payload)) + payload
    _check(bytes(out))


def _spec_modules() -> list[Path]:
    root = find_shared("spec")
    if root is None:
        return []
    files = sorted(p for p in root.rglob("*.wasm") if p.stat().st_size <= 4096)
    return files[:: max(1, len(files) // 600)]  # a deterministic spread over all proposals


SPEC_MODULES = _spec_modules()


_edit = st.tuples(st.sampled_from(["set", "insert", "delete", "flip"]),
                  st.integers(min_value=0), st.integers(0, 255))


@SETTINGS
@given(st.data())
def test_mutated_spec_modules(shared, data):
    path = data.draw(st.sampled_from(SPEC_MODULES), label="module")
    buf = bytearray(path.read_bytes())
    for kind, pos, val in data.draw(st.lists(_edit, min_size=1, max_size=4), label="edits"):
        if len(buf) <= 8:
            break
        i = 8 + pos % (len(buf) - 8)
        if kind == "set":
            buf[i] = val
        elif kind == "insert":
            buf.insert(i, val)
        elif kind == "delete":
            del buf[i]
        else:
            buf[i] ^= 1 << (val % 8)
    _check(bytes(buf))


@SETTINGS
@given(st.data())
def test_truncated_spec_modules(shared, data):
    path = data.draw(st.sampled_from(SPEC_MODULES), label="module")
    raw = path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    _check(raw[:cut])


def test_spec_modules_found(shared):
    """The mutation tests above must not silently run on nothing."""
    assert (shared / "spec").is_dir()
    assert len(SPEC_MODULES) > 100
