"""Build hooks for a wheel (`pip install .`, `pip wheel .`): the wheel
carries the C runtime, compiled here, and every data file wasmc reads at run
time, so an installed wasmc needs no checkout and no `make`.

- ``wasmc/_native/libwasmc_rt.so``: runtime-shim/ built by its own Makefile
  (the one place its compiler flags are written) with ``$CC``, else the
  first of cc, gcc, clang on PATH.
- ``wasmc/_data/targets/*.toml``: the target descriptions (wasmc/targets.py).
- ``wasmc/_data/runtime-shim/``: the runtime's C sources, from which the
  standalone runners (`build --exe`, `exec --target ARCH`) are built with
  zig cc on first use (wasmc/runtime/runners.py), as in a checkout.

An editable install (`make install`) skips all of this: there the files are
read from the checkout and `make shim` builds the library in place.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIM = ROOT / "runtime-shim"


def _c_compiler() -> str:
    cc = os.environ.get("CC")
    if cc:
        return cc
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    raise SystemExit("building wasmc needs a C compiler for its runtime (cc, gcc or clang; or set CC)")


class BuildWithRuntime(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        pkg = Path(self.build_lib) / "wasmc"
        data = pkg / "_data"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(ROOT / "targets", data / "targets", ignore=shutil.ignore_patterns("*~", ".*"))
        for sub in ("include", "src", "exe"):
            shutil.copytree(SHIM / sub, data / "runtime-shim" / sub, ignore=shutil.ignore_patterns("*.o", ".*"))
        out = (pkg / "_native").resolve()
        out.mkdir(parents=True, exist_ok=True)
        if shutil.which("make") is None:
            raise SystemExit("building wasmc needs make (it builds the runtime with runtime-shim/Makefile)")
        subprocess.run(["make", "-s", "-B", "-C", str(SHIM), f"OUT={out}", f"CC={_c_compiler()}"], check=True)


setup(cmdclass={"build_py": BuildWithRuntime})
