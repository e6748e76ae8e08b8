"""The spec test suite (shared/spec, JSON form) compiled and run on every architecture.

One test per (JSON file, slice): the file's commands run in order through
wasmc.spectest.ScriptRunner -- modules compiled through the compile cache,
instantiated with the ``spectest`` module, every assertion checked
bit-exactly.  The slices:

* ``x86_64-O0``, ``x86_64-O2``: this machine's best x86-64 tier, in this
  process (the Python runtime);
* ``x86_64:v1-runner-O2``: the baseline x86-64 tier in the standalone
  runner (static, musl: the code path of ``--exe``), natively;
* ``aarch64-O2``, ``riscv64-O2``: the baseline tiers of the other
  architectures in their runners under qemu-user.

Runner processes are kept per test worker and architecture and serve many
files in a row (wasmc/runtime/remote.py).  Commands needing Wasm 3.0
features this wasmc does not run yet are skipped and counted: every skip
reason must be allowed by spec_skips.py, and each file's skips (per reason) must
equal its row of skip_counts.json on every slice (``WASMC_BLESS=1``
rewrites the table from the x86_64-O0 slice).

The failures of a file must equal its entries in
expected_failures.EXECUTION_FAILURES exactly (a reason each), so a fix is
noticed as loudly as a regression.

Run as a script for the totals:  .venv/bin/python tests/spec/test_execution.py
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]
for _p in (_REPO, _HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from conftest import SHARED, shared_dir  # noqa: E402

from wasmc.spectest import ScriptRunner  # noqa: E402

import spec_skips as skip_rules  # noqa: E402  (tests/spec/spec_skips.py)

SPEC = SHARED / "spec"
#: (id, target, optimisation level, in a runner process)
SLICES = (("x86_64-O0", None, 0, False), ("x86_64-O2", None, 2, False),
          ("x86_64:v1-runner-O2", "x86_64", 2, True), ("aarch64-O2", "aarch64", 2, True),
          ("riscv64-O2", "riscv64", 2, True))
_SERVERS: dict = {}


def _server(target: str):
    """This test worker's runner process for TARGET (started on first use)."""
    from wasmc.runtime import remote

    sv = _SERVERS.get(target)
    if sv is None or sv.proc.poll() is not None:
        sv = _SERVERS[target] = remote.Server(target)
        import atexit

        atexit.register(sv.close)
    return sv


def _expected() -> dict:
    spec = importlib.util.spec_from_file_location("_spec_expected_failures", _HERE / "expected_failures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EXECUTION_FAILURES


EXECUTION_FAILURES = _expected()
SKIP_COUNTS = skip_rules.load()


def _files() -> list[str]:
    if not SPEC.exists():
        return ["<shared/spec missing>"]
    return sorted(str(p.relative_to(SPEC)) for p in SPEC.rglob("*.json") if p.name != "index.json")


@pytest.mark.timeout(300)  # a large file under qemu takes about 30 s
@pytest.mark.parametrize("slice_", SLICES, ids=[s[0] for s in SLICES])
@pytest.mark.parametrize("rel", _files())
def test_spec_file(rel: str, slice_):
    spec = shared_dir("spec")
    _, target, opt, remote = slice_
    if remote:
        runner = ScriptRunner(spec / rel, opt_level=opt, target=target, server=_server(target))
    else:
        runner = ScriptRunner(spec / rel, opt_level=opt)
    result = runner.run()
    _record(rel, slice_[0], result)
    got = {}
    for f in result.failures:
        path, line, rest = f.split(":", 2)
        got[f"{Path(path).relative_to(spec)}:{line}"] = rest.strip()
    want = {k: v for k, v in EXECUTION_FAILURES.items() if k.split(":")[0] == rel}
    unexpected = {k: v for k, v in got.items() if k not in want}
    fixed = sorted(set(want) - set(got))
    msg = []
    if unexpected:
        msg.append("unexpected failures:\n  " + "\n  ".join(f"{k}: {v}" for k, v in sorted(unexpected.items())))
    if fixed:
        msg.append("expected failures that now pass (remove them from expected_failures.py):\n  "
                   + "\n  ".join(fixed))
    if os.environ.get("WASMC_BLESS") and slice_[0] == SLICES[0][0]:
        skip_rules.bless(rel, result.skips)
    else:
        msg += skip_rules.problems(rel, result.skips, SKIP_COUNTS)
    assert not msg, "\n".join(msg)


def _record(rel: str, slice_id: str, result) -> None:
    """With WASMC_SPEC_SUMMARY=FILE, append this file's counts on this slice
    to FILE (one JSON line; `python tests/spec/summary.py FILE` adds them up
    per slice): the per-architecture figures of a whole run."""
    out = os.environ.get("WASMC_SPEC_SUMMARY")
    if not out:
        return
    import json

    line = json.dumps({"file": rel, "slice": slice_id, "passed": result.passed, "failed": result.failed,
                       "skipped": result.skipped, "skips": result.skips})
    with open(out, "a") as f:  # one short write per line: safe with pytest-xdist workers
        f.write(line + "\n")


def main():
    from wasmc.spectest import Result

    total = Result()
    for rel in _files():
        total.add(ScriptRunner(SPEC / rel, opt_level=0).run())
    for f in total.failures:
        print(f)
    for reason, n in sorted(total.skips.items(), key=lambda x: -x[1]):
        print(f"skipped {n}: {reason}")
    print(total.summary())


if __name__ == "__main__":
    main()
