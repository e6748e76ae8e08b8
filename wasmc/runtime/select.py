"""Choosing the slice of an artifact that fits this machine.

Architecture first (from the host's machine name), then the best tier whose
required CPU features this CPU has (tiers are listed baseline first in
targets/<arch>.toml).  A slice built for another ABI is refused with a
message that says to rebuild.
"""

from __future__ import annotations

from .. import abi, targets
from ..container import Artifact, Slice
from ..errors import ArtifactError, NoSliceError


def choose_slice(art: Artifact, arch: str | None = None) -> Slice:
    host = targets.get(arch) if arch else targets.host()
    have = ", ".join(sorted({f"{s.arch}/{s.tier}" for s in art.slices})) or "none"
    if host is None:
        raise NoSliceError(f"{art.path}: this machine's architecture is not supported by wasmc "
                           f"(artifact has: {have})")
    mine = [s for s in art.slices if s.arch == host.name]
    if not mine:
        raise NoSliceError(f"{art.path}: no slice for {host.name} (artifact has: {have})")
    order = {t.name: i for i, t in enumerate(host.tiers)}
    usable = []
    for s in mine:
        if s.tier not in order:
            continue
        tier = host.tier(s.tier)
        if arch is None and not targets.tier_supported(tier):
            continue
        usable.append((order[s.tier], s))
    if not usable:
        raise NoSliceError(f"{art.path}: this CPU lacks the features of every {host.name} slice "
                           f"(artifact has: {have})")
    best = max(usable, key=lambda x: x[0])[1]
    if best.abi_version != abi.ABI_VERSION:
        raise ArtifactError(f"{art.path}: slice {best.arch}/{best.tier} was built for runtime ABI "
                            f"{best.abi_version:#x}, this runtime has ABI {abi.ABI_VERSION:#x}; rebuild it "
                            "with this wasmc")
    return best
