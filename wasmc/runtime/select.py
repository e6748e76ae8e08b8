"""Choosing the slice of an artifact that fits a machine.

Architecture first (this machine's, or the one asked for), then the best
tier whose required CPU features the machine has (tiers are listed baseline
first in targets/<arch>.toml), unless a tier is forced (``--tier`` or
``WASMC_TIER``, for tests and for users who know better).  When nothing
fits, the error names the machine, what each candidate slice needs that it
lacks, and every slice the artifact has.  A slice built for another ABI is
refused with a message that says to rebuild.
"""

from __future__ import annotations

import os

from .. import abi, targets
from ..container import Artifact, Slice
from ..errors import ArtifactError, NoSliceError


def slice_names(art: Artifact) -> str:
    return ", ".join(f"{s.arch}:{s.tier}" for s in art.slices) or "none"


def choose_slice(art: Artifact, arch: str | None = None, tier: str | None = None,
                 hwcap: int | None = None) -> Slice:
    """The slice of ART to run on this machine, or on ARCH (a machine whose
    AT_HWCAP is HWCAP, e.g. qemu-user's).  TIER forces a tier."""
    host = targets.get(arch) if arch else targets.host()
    tier = tier or os.environ.get("WASMC_TIER") or None
    have = slice_names(art)
    if host is None:
        import platform

        raise NoSliceError(f"{art.path}: this machine's architecture ({platform.machine()}) is not supported "
                           f"by wasmc (artifact has: {have})")
    mine = [s for s in art.slices if s.arch == host.name]
    if not mine:
        raise NoSliceError(f"{art.path}: no slice for {host.name} (artifact has: {have})")
    order = {t.name: i for i, t in enumerate(host.tiers)}
    if tier is not None:
        best = next((s for s in mine if s.tier == tier), None)
        if best is None:
            raise NoSliceError(f"{art.path}: no slice {host.name}:{tier} (artifact has: {have})")
    else:
        usable, needs = [], []
        for s in mine:
            if s.tier not in order:
                needs.append(f"{s.arch}:{s.tier} is a tier this wasmc does not know")
                continue
            missing = targets.missing_features(host.tier(s.tier), hwcap)
            if missing:
                needs.append(f"{s.arch}:{s.tier} needs {', '.join(missing)}")
            else:
                usable.append((order[s.tier], s))
        if not usable:
            raise NoSliceError(f"{art.path}: no slice runs on this {host.name} CPU: {'; '.join(needs)} "
                               f"(artifact has: {have})")
        best = max(usable, key=lambda x: x[0])[1]
    if best.abi_version != abi.ABI_VERSION:
        raise ArtifactError(f"{art.path}: slice {best.arch}:{best.tier} was built for runtime ABI "
                            f"{best.abi_version:#x}, this runtime has ABI {abi.ABI_VERSION:#x}; rebuild it "
                            "with this wasmc")
    return best
