"""Corrupted or truncated .wasmu files always give one clean error, never a crash.

Three kinds of damage:
* truncation at any length: caught by the container's bounds checks;
* bit flips anywhere: every flip in a checked region (the header, the
  metadata, the slice, the zero padding between them) is an ArtifactError;
  flips only in the embedded .wasm load fine (it is checked where it is
  used: test_api_hardening.py);
* bit flips inside a slice's image *with the hashes recomputed*, so the
  damage reaches the C loader's descriptor checks: the load either succeeds
  (the flip hit something the loader does not depend on) or fails with an
  ArtifactError naming the field -- the loader never reads outside the image.
  (tests/properties/test_tampering.py changes every field on purpose.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmc
from wasmc import abi, container
from wasmc.errors import ArtifactError

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "wat"

_ART: dict = {}


def artifact() -> bytes:
    if "data" not in _ART:
        from wasmc.compile.cache import compile_cached

        _ART["data"] = Path(compile_cached((CORPUS / "traps.wasm").read_bytes(), opt_level=1)).read_bytes()
    return _ART["data"]


def load(data: bytes):
    try:
        return wasmc.Module.from_artifact_bytes(data)
    except ArtifactError:
        return None


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_truncation(data):
    a = artifact()
    n = data.draw(st.integers(0, len(a) - 1))
    with pytest.raises(ArtifactError):
        wasmc.Module.from_artifact_bytes(a[:n])


def _unchecked_range() -> range:
    """Where a flip is not detected on load: the embedded .wasm."""
    src = container.parse(artifact()).metadata["source"]
    return range(src["offset"], src["offset"] + src["size"])


@SETTINGS
@given(st.data())
def test_bit_flips(data):
    a = bytearray(artifact())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(a) - 1))
        a[i] ^= 1 << data.draw(st.integers(0, 7))
    changed = [i for i, (x, y) in enumerate(zip(a, artifact())) if x != y]  # two flips may cancel
    if all(i in _unchecked_range() for i in changed):
        assert load(bytes(a)) is not None
    else:
        with pytest.raises(ArtifactError):
            wasmc.Module.from_artifact_bytes(bytes(a))


def _image_parts():
    art = container.parse(artifact())
    s = art.slices[0]
    img = container.slice_bytes(art, s)
    import struct

    hdr = dict(zip(abi.IMAGE_HEADER.field_names(), struct.unpack_from(abi.IMAGE_HEADER.struct_format(), img)))
    # the descriptor: the header, and everything after the code
    regions = [(0, abi.IMAGE_HEADER.size), (hdr["text_end"], len(img))]
    return art, s, img, regions


@SETTINGS
@given(st.data())
def test_descriptor_damage_reaches_the_loader_checks(data):
    art, s, img, regions = _image_parts()
    img = bytearray(img)
    for _ in range(data.draw(st.integers(1, 3))):
        lo, hi = regions[data.draw(st.integers(0, len(regions) - 1))]
        i = data.draw(st.integers(lo, hi - 1))
        if data.draw(st.booleans()):
            img[i] ^= 1 << data.draw(st.integers(0, 7))
        else:
            img[i] = data.draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
    sl = container.Slice(s.arch, s.tier, s.cpu, s.features, s.abi_version, data=bytes(img))
    meta = {k: v for k, v in art.metadata.items() if k != "slices"}
    load(container.pack(meta, [sl], art.wasm))


def test_descriptor_checks_name_the_problem():
    art, s, img, _ = _image_parts()
    import struct

    bad = bytearray(img)
    off = abi.IMAGE_HEADER.offset("nexports")
    struct.pack_into("<I", bad, off, 0xFFFFFF)
    sl = container.Slice(s.arch, s.tier, s.cpu, s.features, s.abi_version, data=bytes(bad))
    meta = {k: v for k, v in art.metadata.items() if k != "slices"}
    with pytest.raises(ArtifactError, match="exports table outside the image"):
        wasmc.Module.from_artifact_bytes(container.pack(meta, [sl], art.wasm))
