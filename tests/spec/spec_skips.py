"""What the spec suite may skip, and how often (tests/spec/test_execution.py).

The runner (wasmc/spectest.py) skips a command for one of a few reasons
(``wasmc.spectest.SKIP_REASONS``).  A skip is a command nobody checked, so:

* every reason that occurs must be listed here, with why it is acceptable
  (``ALLOWED``; a ``needs F1, F2`` reason is allowed when each feature is in
  ``FEATURES_NOT_RUN``);
* the number of skips per file and reason must equal the recorded table
  ``skip_counts.json`` exactly, so a change in what runs (a feature newly
  refused, or newly supported) fails the suite until the table is
  regenerated on purpose: ``WASMC_BLESS=1 .venv/bin/python -m pytest -n 2
  tests/spec/test_execution.py -k x86_64-O0`` (then read its diff).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "skip_counts.json"

#: Wasm 3.0 proposals whose modules wasmc does not run yet (the spec scripts'
#: ``features`` names): their modules, and the commands on them, are skipped.
FEATURES_NOT_RUN = {
    "gc": "struct/array types and the reference hierarchy are not lowered yet",
    "exceptions": "exception handling (try_table, throw, tags) is not lowered yet",
    "legacy_exceptions": "the legacy try/catch/delegate form (decoded and validated only)",
    "function_references": "lowered on every target, but not yet in wasmc.spectest.RUNNABLE_FEATURES",
    "tail_call": "lowered on x86-64 and aarch64 (riscv64 refuses it for now), not yet in "
                 "wasmc.spectest.RUNNABLE_FEATURES",
}

#: Every other skip reason the suite may give, and why that is acceptable.
ALLOWED = {
    "text-format module": "a module given only as text (no binary_filename): the text format is not "
                          "wasmc's business",
    "command assert_malformed_custom": "custom-section annotations in the text format",
    "command assert_invalid_custom": "custom-section annotations in the text format",
    "exceptions": "assert_exception needs exception handling (feature exceptions)",
    "its module was skipped": "the command acts on a module that was skipped for one of the reasons here",
    "imports from a skipped module": "the module imports from a registered module that was skipped",
}
# Never allowed: "needs memory64" or "unsupported: memory64" (64-bit memories
# and tables run), nor any other "unsupported: FEATURE" (each would be a
# regression of the compiler hidden as a skip).


def problems(rel: str, skips: dict, table: dict) -> list[str]:
    """What is wrong with the skips SKIPS (reason -> count) of spec file REL."""
    out = []
    for reason in sorted(skips):
        if reason.startswith("needs "):
            unknown = [f for f in reason[6:].split(", ") if f not in FEATURES_NOT_RUN]
            if unknown:
                out.append(f"skip reason {reason!r}: features {unknown} are not in spec_skips.FEATURES_NOT_RUN")
        elif reason not in ALLOWED:
            out.append(f"skip reason {reason!r} is not allowed (tests/spec/spec_skips.py lists the reasons)")
    want = table.get(rel, {})
    if skips != want:
        diff = {r: (want.get(r, 0), skips.get(r, 0)) for r in sorted(set(want) | set(skips))
                if want.get(r, 0) != skips.get(r, 0)}
        out.append("skip counts changed (reason: (recorded, now)): "
                   + ", ".join(f"{r!r}: {a} -> {b}" for r, (a, b) in diff.items())
                   + "; regenerate skip_counts.json with WASMC_BLESS=1 if that is intended")
    return out


def load() -> dict:
    return json.loads(TABLE.read_text()) if TABLE.exists() else {}


def bless(rel: str, skips: dict) -> None:
    """Record SKIPS as spec file REL's counts (safe from parallel test workers)."""
    with open(Path(tempfile.gettempdir()) / "wasmc-skip-counts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = load()
        if skips:
            table[rel] = dict(sorted(skips.items()))
        else:
            table.pop(rel, None)
        tmp = TABLE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
        os.replace(tmp, TABLE)
