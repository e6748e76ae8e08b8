"""wasmc installs the way Python users expect (issue 15): the wheel built from
a checkout carries the C runtime and every data file, so an installed wasmc
builds and runs a WASI program without `make` and without the checkout.

The wheel is built (pip, with build isolation as `pip install .` does) from a
copy of the checkout's sources, installed without dependencies into a fresh
venv that borrows this venv's site-packages for them (a path, so this venv's
editable wasmc is not seen), and run from a directory outside the checkout.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from conftest import CORPUS, REPO, run_cmd, text

SOURCES = ("wasmc", "targets", "runtime-shim", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in")


@pytest.mark.timeout(600)
def test_the_wheel_builds_and_runs_a_wasi_program_without_the_checkout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "_native", "_data", "*.o", "*.so", "tests")
    for name in SOURCES:
        p = REPO / name
        (shutil.copytree(p, src / name, ignore=skip) if p.is_dir() else shutil.copy2(p, src / name))
    dist = tmp_path / "dist"
    r = run_cmd([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src], timeout=540)
    assert r.returncode == 0, text(r.stderr)[-3000:]
    wheel = next(dist.glob("wasmc-*.whl"))

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the dependencies
    py = env_dir / "bin" / "python"
    r = run_cmd([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], timeout=300)
    assert r.returncode == 0, text(r.stderr)[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(CORPUS / "c" / "args_env.wasm", work)
    env = {"WASMC_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": "", "WASMC_RUNTIME_LIB": ""}
    where = run_cmd([py, "-c", "import wasmc, wasmc.targets as t; print(wasmc.__file__); print(t.TARGETS_DIR)"],
                    env=env, cwd=work)
    assert text(where.stdout).startswith(str(env_dir)) and "_data" in text(where.stdout), text(where.stdout)
    wasmc = [str(env_dir / "bin" / "wasmc")]
    r = run_cmd([*wasmc, "build", "args_env.wasm", "-o", "app.wasmu"], env=env, cwd=work, timeout=300)
    assert r.returncode == 0, text(r.stderr)
    r = run_cmd([*wasmc, "exec", "app.wasmu", "--", "from", "the wheel"], env=env, cwd=work)
    assert r.returncode == 0 and b"argv[2]=the wheel\n" in r.stdout, (text(r.stdout), text(r.stderr))
