"""The spec test suite (shared/spec, JSON form) against the decoder and validator.

One test per JSON file (so pytest-xdist spreads them).  Per command:

* ``module`` / ``module_definition``: the binary must decode and validate
  (text-format modules use their ``binary_filename``);
* ``assert_unlinkable`` / ``assert_uninstantiable``: the module must be valid
  (linking and instantiation are not this suite's business);
* binary ``assert_malformed``: decoding must raise MalformedError;
* ``assert_invalid``: decoding must succeed and validation raise
  ValidationError (text-format ones are checked through their binary when the
  converter could encode it);
* text-format ``assert_malformed`` and the ``*_custom`` commands test the text
  format or custom-section annotations: counted as "not applicable".

Known failures live in expected_failures.py (see there).

Run as a script for the per-category counts and timings::

    .venv/bin/python tests/spec/test_validation.py [-v]
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]
for _p in (_REPO, _HERE.parent):  # script mode: the package and tests/conftest.py
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from conftest import SHARED, shared_dir  # noqa: E402

from wasmc.errors import MalformedError, ValidationError  # noqa: E402
from wasmc.wasm.decode import decode_module  # noqa: E402
from wasmc.wasm.validate import validate_module  # noqa: E402


def _load_expected() -> dict:
    spec = importlib.util.spec_from_file_location("_spec_expected_failures",
                                                  _HERE / "expected_failures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EXPECTED_FAILURES


EXPECTED_FAILURES = _load_expected()
SPEC = SHARED / "spec"

#: Result categories of run_file's counter.
CATEGORIES = ("valid", "malformed", "invalid", "not_applicable")


class ExpectedSpecFailure(AssertionError):
    """Raised when a file fails on exactly its listed expected failures."""


def _check_valid(data: bytes):
    validate_module(decode_module(data))


def run_file(path: Path):
    """Run one JSON file.

    Returns ``(counts, failures, message_agreement)``: a Counter over
    CATEGORIES (commands that behaved as required), a list of ``(key,
    description)`` for commands that did not, and ``(agreeing, total)`` for
    how many invalid/malformed rejections have a message starting with the
    reference interpreter's text (informational only).
    """
    rel = path.relative_to(SPEC).as_posix()
    base = path.parent
    commands = json.loads(path.read_text(encoding="utf-8"))["commands"]
    counts: Counter = Counter()
    failures: list = []
    agree = total = 0
    for cmd in commands:
        kind = cmd["type"]
        key = f"{rel}:{cmd['line']}"
        if kind.endswith("_custom"):
            counts["not_applicable"] += 1
            continue
        if kind in ("module", "module_definition", "assert_unlinkable", "assert_uninstantiable"):
            fname = cmd.get("binary_filename") or cmd["filename"]
            try:
                _check_valid((base / fname).read_bytes())
                counts["valid"] += 1
            except Exception as e:  # noqa: BLE001 - any exception is a failure to report
                failures.append((key, f"{kind} {fname}: expected a valid module, got "
                                      f"{type(e).__name__}: {e}"))
        elif kind == "assert_malformed":
            if cmd["module_type"] == "text":
                counts["not_applicable"] += 1
                continue
            fname = cmd["filename"]
            try:
                decode_module((base / fname).read_bytes())
            except MalformedError as e:
                counts["malformed"] += 1
                total += 1
                agree += e.message.startswith(cmd["text"])
            except Exception as e:  # noqa: BLE001
                failures.append((key, f"{fname}: expected MalformedError ({cmd['text']!r}), got "
                                      f"{type(e).__name__}: {e}"))
            else:
                failures.append((key, f"{fname}: decoded, expected malformed ({cmd['text']!r})"))
        elif kind == "assert_invalid":
            fname = cmd.get("binary_filename") or (
                cmd["filename"] if cmd["module_type"] == "binary" else None)
            if fname is None:
                counts["not_applicable"] += 1
                continue
            try:
                module = decode_module((base / fname).read_bytes())
            except Exception as e:  # noqa: BLE001
                failures.append((key, f"{fname}: expected to decode (then be invalid: "
                                      f"{cmd['text']!r}), got {type(e).__name__}: {e}"))
                continue
            try:
                validate_module(module)
            except ValidationError as e:
                counts["invalid"] += 1
                total += 1
                agree += e.message.startswith(cmd["text"])
            except Exception as e:  # noqa: BLE001
                failures.append((key, f"{fname}: expected ValidationError ({cmd['text']!r}), got "
                                      f"{type(e).__name__}: {e}"))
            else:
                failures.append((key, f"{fname}: validated, expected invalid ({cmd['text']!r})"))
    return counts, failures, (agree, total)


def _json_files() -> list:
    if not SPEC.is_dir():
        return []
    return sorted(p for p in SPEC.rglob("*.json") if p.name != "index.json")


def _params() -> list:
    files = _json_files()
    if not files:
        return [pytest.param(None, id="shared-spec-missing")]
    params = []
    for p in files:
        rel = p.relative_to(SPEC).as_posix()
        reasons = sorted({v for k, v in EXPECTED_FAILURES.items() if k.rsplit(":", 1)[0] == rel})
        marks = ()
        if reasons:
            marks = (pytest.mark.xfail(strict=True, raises=ExpectedSpecFailure,
                                       reason="; ".join(reasons)),)
        params.append(pytest.param(p, id=rel, marks=marks))
    return params


@pytest.mark.parametrize("path", _params())
def test_spec_file(path):
    shared_dir("spec")
    assert path is not None
    counts, failures, _ = run_file(path)
    rel = path.relative_to(SPEC).as_posix()
    unexpected = [f for f in failures if f[0] not in EXPECTED_FAILURES]
    if unexpected:
        pytest.fail(f"{len(unexpected)} spec command(s) failed:\n" +
                    "\n".join(f"  {k}: {d}" for k, d in unexpected), pytrace=False)
    expected_here = {k for k in EXPECTED_FAILURES if k.rsplit(":", 1)[0] == rel}
    failed = {k for k, _ in failures}
    if expected_here - failed:
        pytest.fail("expected failures now pass (remove them from expected_failures.py): " +
                    ", ".join(sorted(expected_here - failed)), pytrace=False)
    if failures:
        raise ExpectedSpecFailure("; ".join(f"{k}: {d}" for k, d in failures))


def test_expected_failures_are_well_formed():
    """Every entry names an existing JSON file and line and gives a reason."""
    files = {p.relative_to(SPEC).as_posix() for p in _json_files()}
    for key, reason in EXPECTED_FAILURES.items():
        path, _, line = key.rpartition(":")
        assert line.isdigit(), key
        assert reason.strip(), key
        if files:
            assert path in files, key


def main(argv=None) -> int:
    verbose = "-v" in (argv if argv is not None else sys.argv[1:])
    files = _json_files()
    if not files:
        print(f"spec suite not found at {SPEC}", file=sys.stderr)
        return 1
    total: Counter = Counter()
    per_dir: dict = {}
    all_failures = []
    agree = rejected = 0
    t0 = time.perf_counter()
    for p in files:
        counts, failures, (a, n) = run_file(p)
        agree += a
        rejected += n
        total.update(counts)
        d = p.parent.relative_to(SPEC).as_posix()
        per_dir.setdefault(d, Counter()).update(counts)
        per_dir[d]["failed"] += len(failures)
        all_failures += failures
    elapsed = time.perf_counter() - t0
    width = max(len(d) for d in per_dir)
    print(f"{'directory':<{width}}  {'valid':>6} {'malformed':>9} {'invalid':>7} "
          f"{'n/a':>5} {'failed':>6}")
    for d in sorted(per_dir):
        c = per_dir[d]
        print(f"{d:<{width}}  {c['valid']:>6} {c['malformed']:>9} {c['invalid']:>7} "
              f"{c['not_applicable']:>5} {c['failed']:>6}")
    print(f"{'total':<{width}}  {total['valid']:>6} {total['malformed']:>9} {total['invalid']:>7} "
          f"{total['not_applicable']:>5} {len(all_failures):>6}")
    print(f"\nvalid modules accepted: {total['valid']}; binary malformed rejected: "
          f"{total['malformed']}; invalid rejected: {total['invalid']}; "
          f"not applicable: {total['not_applicable']}; failures: {len(all_failures)} "
          f"({len(EXPECTED_FAILURES)} expected)")
    print(f"rejection messages starting with the reference interpreter's text: "
          f"{agree}/{rejected}")
    print(f"{len(files)} files in {elapsed:.2f} s")
    if verbose or all_failures:
        for k, desc in all_failures:
            print(f"FAIL {k}: {desc}")
    unexpected = [f for f in all_failures if f[0] not in EXPECTED_FAILURES]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
