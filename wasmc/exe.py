"""Standalone executables: ``wasmc build --exe``.

An executable is a copy of the target's standalone runner
(wasmc/runtime/runners.py: the shim, WASI and a small main, linked
statically) with one slice image added as the non-loaded ELF section
``.wasmc_image``.  The runner finds that section in /proc/self/exe at
start-up and maps it like an image from a .wasmu (runtime-shim/exe/
embedded.c), so the executable needs no Python, no shared library and no
file next to it.  Adding a section needs no C toolchain at build time:
lief rewrites the runner's section table.

The output is written atomically with mode 0755 (less the umask), and the
same artifact gives the same bytes.
"""

from __future__ import annotations

from . import container
from .errors import ArtifactError, FileError
from .runtime import runners

SECTION = ".wasmc_image"


def write_executable(artifact: bytes, output: str) -> None:
    """Write the single-slice ARTIFACT (.wasmu bytes) as an executable at OUTPUT."""
    import lief

    art = container.parse(artifact, "artifact")
    if len(art.slices) != 1:
        raise ArtifactError(f"an executable holds one slice; the artifact has {len(art.slices)}")
    (s,) = art.slices
    image = container.slice_bytes(art, s)
    runner = runners.ensure_runner(s.arch, quiet=False)
    binary = lief.parse(str(runner))
    if binary is None:
        raise FileError(f"cannot read the {s.arch} runner {runner}")
    sec = lief.ELF.Section(SECTION)
    sec.type = lief.ELF.Section.TYPE.PROGBITS
    sec.alignment = 16
    sec.content = memoryview(image)
    binary.add(sec, loaded=False)
    container.write_atomic(output, lambda tmp: binary.write(tmp), mode=0o777)
