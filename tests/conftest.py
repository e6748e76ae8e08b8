"""Helpers shared by every test suite.

Test data that is too big for the repository (the spec suite, sightglass,
wasi-testsuite) lives in ``shared/`` next to the repository checkout, i.e.
``<repo>/../shared``.  Tests that need it call :func:`shared_dir` (or use the
``shared`` fixture): when the directory is missing the test is *skipped* with
a reason saying where it was looked for, except under ``CI=true``, where a
missing ``shared/`` is a failure (CI must never pass by skipping).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def find_shared(*parts: str) -> Path | None:
    """``shared/<parts>`` if it exists, else None (for use at collection time)."""
    p = SHARED.joinpath(*parts)
    return p if p.exists() else None


def shared_dir(*parts: str) -> Path:
    """``shared/<parts>``; skip the calling test if missing (fail if ``CI=true``)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        msg = f"shared test data not found: {p} (expected at <repo>/../shared)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + "; CI=true requires it", pytrace=False)
        pytest.skip(msg)
    return p


def require_tool(name: str) -> str:
    """Path of the command NAME; skip the calling test if it is not installed
    (fail if ``CI=true``: `make install` installs every tool the tests use)."""
    import shutil

    path = shutil.which(name)
    if path is None:
        msg = f"{name} not found (make install installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + "; CI=true requires it", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ``shared/`` directory (skip/fail rule of :func:`shared_dir`)."""
    return shared_dir()


# --- running the command line (tests/unit/test_cli_*.py) ----------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

WASMC = [sys.executable, "-m", "wasmc"]
CORPUS = REPO / "corpus"
GUESTS = REPO / "tests" / "programs" / "guests"


def run_cmd(cmd: list, *, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run CMD (str or bytes arguments) capturing bytes; WASMC_DEBUG is
    removed from the environment, ENV added."""
    e = dict(os.environ)
    e.pop("WASMC_DEBUG", None)
    e.update(env or {})
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([os.fsencode(c) if isinstance(c, os.PathLike) else c for c in cmd], env=e,
                          timeout=timeout, **kw)


def wasmc_cmd(*args, **kw) -> subprocess.CompletedProcess:
    """``python -m wasmc ARGS...`` (see run_cmd)."""
    return run_cmd([*WASMC, *args], **kw)


def text(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


def one_line_error(r: subprocess.CompletedProcess, code: int) -> str:
    """Check that R failed with CODE and exactly one ``wasmc: `` line on
    stderr, without a traceback; return that line."""
    err = text(r.stderr)
    assert r.returncode == code, (r.returncode, text(r.stdout)[-2000:], err[-2000:])
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("wasmc: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


class Guests:
    """Test programs built once per test worker: ``art(name)`` a .wasmu with
    this machine's slice and aarch64's, ``exe(name)`` a standalone executable
    (`build --exe`), ``wasm(name)`` the module; ``cmd(mode, name, *args)``
    the command that runs it: ``exec``, ``run`` (through the compile cache),
    ``aarch64`` (the runner under qemu-user) or ``exe``."""

    SOURCES = {"traps": CORPUS / "wat" / "traps.wasm", "trap": CORPUS / "c" / "trap.wasm",
               "args_env": CORPUS / "c" / "args_env.wasm", "bytes_echo": GUESTS / "bytes_echo.wasm",
               "stdio_probe": GUESTS / "stdio_probe.wasm"}
    MODES = ("exec", "run", "aarch64", "exe")

    def __init__(self, root: Path):
        self.root = root
        self.built: dict = {}

    def wasm(self, name: str) -> Path:
        if name in self.SOURCES:
            return self.SOURCES[name]
        if name == "ids":  # identity functions of every numeric type
            p = self.root / "ids.wasm"
            if not p.exists():
                p.write_bytes(_ids_module())
            return p
        raise KeyError(name)

    def _build(self, name: str, kind: str) -> Path:
        key = (name, kind)
        if key not in self.built:
            out = self.root / (f"{name}.wasmu" if kind == "art" else name)
            args = ["--targets", "host,aarch64:base"] if kind == "art" else ["--exe"]
            r = wasmc_cmd("build", self.wasm(name), "-O1", *args, "-o", out, timeout=600)
            assert r.returncode == 0, text(r.stderr)
            self.built[key] = out
        return self.built[key]

    def art(self, name: str) -> Path:
        return self._build(name, "art")

    def exe(self, name: str) -> Path:
        return self._build(name, "exe")

    def cmd(self, mode: str, name: str, *args) -> list:
        if mode == "exe":
            return [self.exe(name), *args]
        if mode == "run":
            return [*WASMC, "run", self.wasm(name), *args]
        if mode == "aarch64":
            require_tool("qemu-aarch64")
            return [*WASMC, "exec", self.art(name), "--target", "aarch64", *args]
        assert mode == "exec", mode
        return [*WASMC, "exec", self.art(name), *args]


def _ids_module() -> bytes:
    sys.path.insert(0, str(REPO / "tests"))
    from wasmbuild import F32, F64, I32, I64, V128, Mod, lget, name, uleb

    m = Mod()
    for tname, t in (("i32", I32), ("i64", I64), ("f32", F32), ("f64", F64), ("v128", V128)):
        f = m.func(m.functype([t], [t]), lget(0))
        m.exports.append(name(f"id_{tname}") + b"\x00" + uleb(f))
    return m.build()


@pytest.fixture(scope="session")
def guests(tmp_path_factory) -> Guests:
    return Guests(tmp_path_factory.mktemp("guests"))
