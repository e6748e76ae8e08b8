"""What the build shares between slices gives the bytes each slice gives alone,
and the building process never loads LLVM (docs/architecture.md section 3,
"Shared work across slices")."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from wasmc import container, targets
from wasmc.compile import driver, llvm
from wasmc.compile.lower import ModuleLowering
from wasmc.wasm.decode import decode_module
from wasmc.wasm.validate import validate_module

REPO = Path(__file__).resolve().parents[2]
TRAPS = REPO / "corpus" / "wat" / "traps.wasm"
STRADDLE = REPO / "corpus" / "wat" / "straddle.wasm"  # its x86-64 tiers emit different code


def _module():
    m = decode_module(STRADDLE.read_bytes())
    validate_module(m)
    return m


def test_one_optimised_module_emits_each_tier_as_alone():
    x86 = targets.get("x86_64")
    tiers = list(x86.tiers)
    m = _module()
    (ir,) = driver.lower_partitions(m, ModuleLowering.for_target(m, x86), size=10**9)
    for opt in (0, 1, 2):
        shared = llvm.compile_tiers(ir, x86, tiers, opt, "part0")
        alone = [llvm.compile_ir(ir, x86, t, opt, "part0") for t in tiers]
        assert shared == alone
        # the tiers do differ (or this test would prove nothing)
        assert len(set(shared)) > 1


def test_every_tier_emits_from_a_copy_so_alone_and_together_agree():
    # aarch64 code generation differed between the optimised module and a
    # copy of it (use-list order) in this program's second partition
    a64 = targets.get("aarch64")
    m = decode_module((REPO / "corpus" / "c" / "args_env.wasm").read_bytes())
    validate_module(m)
    for k, ir in enumerate(driver.lower_partitions(m, ModuleLowering.for_target(m, a64))):
        shared = llvm.compile_tiers(ir, a64, list(a64.tiers), 1, f"part{k}")
        assert shared == [llvm.compile_ir(ir, a64, t, 1, f"part{k}") for t in a64.tiers], k


def _load(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    return container.load(tmp_path / name)


def test_a_slice_is_the_same_whatever_is_built_with_it(tmp_path):
    x86, a64 = targets.get("x86_64"), targets.get("aarch64")
    data = TRAPS.read_bytes()
    opts = driver.BuildOptions(opt_level=1, jobs=2)
    both = _load(tmp_path, "both.wasmu", driver.build(data, [(x86, x86.tier("v1")), (x86, x86.tier("v3")),
                                                             (a64, a64.tier("lse"))], opts))
    alone = _load(tmp_path, "alone.wasmu", driver.build(data, [(x86, x86.tier("v3"))], opts))
    (v3,) = alone.slices
    same = next(s for s in both.slices if (s.arch, s.tier) == ("x86_64", "v3"))
    assert container.slice_bytes(alone, v3) == container.slice_bytes(both, same)


def test_the_building_process_does_not_load_llvm(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from wasmc.compile import driver
        out = driver.build(open({str(TRAPS)!r}, "rb").read())
        assert out[:4] and "llvmlite" not in sys.modules, sorted(m for m in sys.modules if "llvm" in m)
        key = driver.cache_key(b"x", [], driver.BuildOptions())
        assert "llvmlite" not in sys.modules
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
