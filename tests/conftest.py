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
