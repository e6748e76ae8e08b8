"""Target descriptions, loaded from targets/*.toml into frozen records.

Everything that differs between architectures as *data* (triple, ELF
machine, RISC-V ABI name, CPU tiers and how to detect them, the zig target
and the qemu-user binary) lives in those files; no other Python module
spells out an architecture name.  Standard library only: the run path uses
this to choose a slice.
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

# An installed wheel carries them as package data (setup.py); a checkout
# (and an editable install) reads them next to the package.
_PACKAGED = Path(__file__).resolve().parent / "_data" / "targets"
TARGETS_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "targets"


@dataclass(frozen=True)
class Tier:
    name: str
    cpu: str
    features: str
    cpuinfo_flags: tuple = ()  # x86: all must appear in /proc/cpuinfo "flags"
    hwcap_bits: tuple = ()  # aarch64/riscv64: (name, bit) of getauxval(AT_HWCAP) required
    default: bool = False  # built by `--targets ARCH` / `all`


@dataclass(frozen=True)
class Target:
    name: str
    triple: str
    elf_machine: int
    abiname: str
    machine_names: tuple
    zig_target: str
    qemu: str
    tiers: tuple  # baseline first
    llvm_options: tuple = ()  # LLVM command-line options its code generator needs
    # A store that faults part-way may have written some bytes already
    # (lowering then probes the last byte of every multi-byte store first).
    partial_store_faults: bool = True
    calling_convention: str = "ccc"  # of every Wasm function (compile/lower/calls.py)
    oci_architecture: str = ""  # its name in an OCI platform (GOARCH spelling; default: name)

    def tier(self, name: str | None = None) -> Tier:
        if name is None:
            return self.tiers[0]
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(f"target {self.name} has no tier {name!r} "
                       f"(known: {', '.join(t.name for t in self.tiers)})")

    def default_tiers(self) -> tuple:
        return tuple(t for t in self.tiers if t.default) or self.tiers[:1]


@functools.cache
def _load(path: Path) -> Target:
    d = tomllib.loads(path.read_text())
    tiers = tuple(
        Tier(t["name"], t["cpu"], t["features"], tuple(t.get("cpuinfo_flags", ())),
             tuple((b["name"], int(b["bit"])) for b in t.get("hwcap_bits", ())), bool(t.get("default", False)))
        for t in d["tiers"]
    )
    return Target(d["name"], d["triple"], int(d["elf_machine"]), d.get("abiname", ""),
                  tuple(d["machine_names"]), d["zig_target"], d.get("qemu", ""), tiers,
                  tuple(d.get("llvm_options", ())), bool(d["partial_store_faults"]), d["calling_convention"],
                  d.get("oci_architecture", d["name"]))


@functools.cache
def all_targets() -> dict:
    return {t.name: t for t in (_load(p) for p in sorted(TARGETS_DIR.glob("*.toml")))}


def get(name: str) -> Target:
    ts = all_targets()
    if name not in ts:
        raise KeyError(f"unknown target {name!r} (known: {', '.join(sorted(ts))})")
    return ts[name]


def host() -> Target | None:
    m = os.uname().machine.lower()  # platform.machine(), without importing platform (exec start-up)
    # A target's file is named after it, and a target is usually named as
    # its machines call themselves: try that file alone first (exec needs
    # only this machine's target), then all of them.  A machine name belongs
    # to one target (tests/unit/test_targets.py checks it), so both find the same.
    named = TARGETS_DIR / f"{m}.toml"
    if named.is_file() and m in _load(named).machine_names:
        return _load(named)
    for t in all_targets().values():
        if m in t.machine_names:
            return t
    return None


@functools.cache
def _cpuinfo_flags() -> frozenset:
    # WASMC_CPU_FEATURES replaces what the CPU reports (for tests of slice
    # choice: "which slice would a machine without AVX2 get?").
    forced = os.environ.get("WASMC_CPU_FEATURES")
    if forced is not None:
        return frozenset(forced.replace(",", " ").split())
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def _hwcap() -> int:
    import ctypes

    forced = os.environ.get("WASMC_CPU_FEATURES")
    if forced is not None:
        try:
            return int(forced, 0)
        except ValueError:
            return 0
    try:
        f = ctypes.CDLL(None).getauxval
        f.restype = ctypes.c_ulong
        f.argtypes = [ctypes.c_ulong]
        return int(f(16))  # AT_HWCAP
    except (OSError, AttributeError):
        return 0


def missing_features(tier: Tier, hwcap: int | None = None) -> list:
    """The CPU features TIER needs that this machine lacks (HWCAP: another
    machine's AT_HWCAP, e.g. what qemu-user emulates)."""
    missing = [f for f in tier.cpuinfo_flags if f not in _cpuinfo_flags()]
    caps = _hwcap() if hwcap is None else hwcap
    missing += [name for name, bit in tier.hwcap_bits if not caps >> bit & 1]
    return missing


def tier_supported(tier: Tier, hwcap: int | None = None) -> bool:
    """Can this machine (or one with HWCAP) run code built for TIER (of its architecture)?"""
    return not missing_features(tier, hwcap)


def host_tiers() -> list:
    """Tiers of the host target this CPU supports, best (last declared) first."""
    t = host()
    if t is None:
        return []
    return [x for x in reversed(t.tiers) if tier_supported(x)]
