"""Running an artifact reads only what it needs (container.read_fd): the
header, the metadata, the zero padding and the chosen slice, never the other
slices or the embedded .wasm; and it still makes every check parse makes."""

from __future__ import annotations

import os

import pytest

import wasmc
from wasmc import container
from wasmc.errors import ArtifactError


def _overlaps(read, start, end) -> bool:
    off, n = read
    return off < end and off + n > start


def test_module_load_reads_only_the_header_metadata_padding_and_its_slice(guests, monkeypatch):
    path = guests.art("args_env")  # this machine's slice and aarch64's, the .wasm embedded
    art = container.load(path)
    src = art.metadata["source"]
    assert src["embedded"] and len(art.slices) == 2
    reads = []
    real = os.pread

    def pread(fd, n, off):
        reads.append((off, n))
        return real(fd, n, off)

    monkeypatch.setattr(os, "pread", pread)
    m = wasmc.Module.load(path)
    monkeypatch.undo()
    chosen = m.slice
    assert any(r == (chosen.offset, chosen.size) for r in reads), reads
    for s in art.slices:
        if (s.arch, s.tier) != (chosen.arch, chosen.tier):
            assert not any(_overlaps(r, s.offset, s.offset + s.size) for r in reads), (s, reads)
    assert not any(_overlaps(r, src["offset"], src["offset"] + src["size"]) for r in reads), reads
    assert sum(n for _, n in reads) < os.path.getsize(path) - src["size"]


@pytest.mark.parametrize("where", ["padding", "metadata", "slice"])
def test_read_fd_makes_the_checks_parse_makes(guests, tmp_path, where):
    data = bytearray(guests.art("args_env").read_bytes())
    art = container.parse(bytes(data))
    _, _, _, meta_off, meta_size, _ = container.HEADER.unpack_from(data)
    meta_end = meta_off + meta_size
    pos = {"padding": meta_end + 1, "metadata": container.HEADER.size + 2,
           "slice": art.slices[0].offset + art.slices[0].size // 2}[where]
    data[pos] ^= 1
    bad = tmp_path / "bad.wasmu"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as parsed:
        a = container.parse(bytes(data), str(bad))
        for s in a.slices:
            container.slice_bytes(a, s)
    fd = os.open(bad, os.O_RDONLY)
    try:
        with pytest.raises(ArtifactError) as read:
            a = container.read_fd(fd, str(bad))
            for s in a.slices:
                container.slice_bytes(a, s)
    finally:
        os.close(fd)
    assert str(read.value) == str(parsed.value)
