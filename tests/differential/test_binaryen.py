"""Differential testing against binaryen's interpreter.

``wasm-opt -ttf`` turns random bytes into a valid module (Wasm 2.0 features
only here) that imports ``fuzzing-support.log-*`` and exports functions;
``wasm-opt --fuzz-exec-before`` runs every exported function in its
interpreter (parameters zero, ``hangLimitInitializer`` called before each)
and prints what it calls, what it logs, what it returns and where it traps.
wasmc compiles the same module and does the same; both event lists must
match.  The modules are generated with ``--denan`` (NaN results become 0:
Wasm leaves a NaN result's sign and payload open, and ``copysign`` or a
store into memory makes them observable).  Allowed differences, all Wasm's
own nondeterminism or binaryen's printing: NaN payloads of f32 and f64
results and logged values (a NaN matches any NaN), and binaryen's rounded
printing of floats beyond 2^53.  Integers and v128 values (whose lanes may
be integers: a v128 has no float type) must match bit for bit.

The test runs a fixed set of seeds (the module for a seed depends only on
the seed and the binaryen version).  Run as a script to fuzz more::

    .venv/bin/python tests/differential/test_binaryen.py START COUNT [OPT]

which prints every mismatch with its seed and keeps the module in
``$TMPDIR/wasmc-fuzz/<seed>.wasm``.  There a mismatch is a lead, not yet a
verdict: binaryen 108's ``--denan`` does not reach v128 values, so the
payload of a NaN made by ``f32x4.add`` and friends can still flow into an
integer lane, an address or a branch (x86 keeps the operand's NaN, binaryen
makes a canonical one; Wasm allows both), also through a shuffle into a
lane that is not a NaN.  Seeds 5049, 5083, 7361 and 10215 (at any -O) are
such cases, found among 3,600 seeds; every other seed matched.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (_HERE.parents[1], _HERE.parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import wasmc  # noqa: E402
from conftest import require_tool  # noqa: E402

FEATURES = ["--mvp-features", "--enable-simd", "--enable-bulk-memory", "--enable-sign-ext",
            "--enable-nontrapping-float-to-int", "--enable-multivalue"]
SEEDS = range(200)  # each runs at O0 or O2 by parity
LOG_TYPES = ("i32", "i64", "f32", "f64", "v128")


# --- one value, one way of writing it ------------------------------------

def _num(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    if math.isfinite(v) and v == int(v):
        return str(int(v))
    return repr(v)


def _lanes(words) -> str:
    return "v128:" + " ".join(f"{w:08x}" for w in words)


def _token(t: str) -> str:
    """A value as binaryen prints it -> the form _value gives."""
    t = t.strip()
    if t.startswith("i32x4"):
        return _lanes(int(w, 16) for w in t.split()[1:])
    if "nan" in t:
        return "nan"
    if re.fullmatch(r"-?[0-9]+", t) and t != "-0":
        return str(int(t))
    try:
        return _num(float(t))
    except ValueError:
        return t


class _Float(str):
    """The normal form of a float value wasmc returned or logged.  Binaryen's
    text does not tell an integral float from an integer; wasmc's side knows
    the type, and only a float may differ (see same)."""


def _value(t: str, v) -> str:
    """A value wasmc returned or logged -> its normal form."""
    if t in ("i32", "i64"):
        return str(v)
    if t in ("f32", "f64"):
        return _Float(_num(float(v)))
    assert t == "v128", t  # the generated modules have no reference types
    v &= (1 << 128) - 1
    return _lanes((v >> (32 * i)) & 0xFFFFFFFF for i in range(4))


def _i64_halves(v: int) -> str:
    """binaryen logs an i64 as its two i32 halves, low first."""
    v &= (1 << 64) - 1
    s32 = lambda w: w - (1 << 32) if w & 0x80000000 else w  # noqa: E731
    return f"{s32(v & 0xFFFFFFFF)} {s32(v >> 32)}"


def same(want, got) -> bool:
    """Does GOT (wasmc's normalised value, or tuple of them) agree with WANT
    (binaryen's)?  Only a float value of wasmc's may differ, and only where
    binaryen's printing rounds it (beyond 2^53); a NaN is "nan" on both sides
    whatever its payload (_num, _token).  An integer or a v128 (whose lanes
    may be integers: a v128 has no float type) must be the same bits."""
    if want == got:
        return True
    if isinstance(want, tuple) and isinstance(got, tuple):
        return len(want) == len(got) and all(same(x, y) for x, y in zip(want, got))
    if not isinstance(got, _Float) or not isinstance(want, str):
        return False
    try:
        fa, fb = float(want), float(got)
    except ValueError:
        return False
    return fa == fb and max(abs(fa), abs(fb)) > 2.0 ** 53


# --- the two runs -------------------------------------------------------

def generate(seed: int, out: Path, wasm_opt: str) -> bytes:
    rng = random.Random(seed)
    raw = out.with_suffix(".dat")
    raw.write_bytes(rng.randbytes(rng.choice((1000, 4000, 12000))))
    # --denan: every float result that is a NaN becomes 0, because the sign
    # and payload of a NaN result are nondeterministic in Wasm (x86 keeps an
    # operand's sign, binaryen's interpreter does not) and copysign or a
    # store makes them observable.
    subprocess.run([wasm_opt, *FEATURES, "-ttf", str(raw), "--denan", "-o", str(out)], check=True,
                   capture_output=True, timeout=120)
    raw.unlink()
    return out.read_bytes()


def reference(path: Path, wasm_opt: str) -> list:
    r = subprocess.run([wasm_opt, *FEATURES, str(path), "--fuzz-exec-before", "-q"],
                       capture_output=True, text=True, timeout=300)
    events = []
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("[fuzz-exec] calling "):
            events.append(("call", line.split()[-1]))
        elif line.startswith("[fuzz-exec] note result: "):
            val = line.split(" => ", 1)[1].strip()
            parts = val[1:-1].split(",") if val.startswith("(") else [val]
            events.append(("result", tuple(_token(x) for x in parts)))
        elif line.startswith("[LoggingExternalInterface logging "):
            body = line[len("[LoggingExternalInterface logging "):-1]
            if re.fullmatch(r"-?[0-9]+ -?[0-9]+", body):
                events.append(("log", body))
            else:
                events.append(("log", _token(body)))
        elif line.startswith("[trap"):
            events.append(("trap",))
    return events


def run_wasmc(data: bytes, opt: int) -> list:
    events = []

    def logger(t):
        if t == "i64":
            return wasmc.Func(wasmc.FuncType([t], []), lambda v: events.append(("log", _i64_halves(v))))
        return wasmc.Func(wasmc.FuncType([t], []), lambda v: events.append(("log", _value(t, v))))

    imports = {"fuzzing-support": {f"log-{t}": logger(t) for t in LOG_TYPES}}
    inst = wasmc.Instance(wasmc.Module(data, opt_level=opt), imports)
    hang = inst.exports.get("hangLimitInitializer")
    for name, ex in inst.exports.items():
        if not hasattr(ex, "call"):
            continue
        events.append(("call", name))
        if hang is not None:
            hang()
        ft = ex.type
        try:
            res = ex(*[0.0 if p in ("f32", "f64") else 0 for p in ft.params])
        except wasmc.Trap:
            events.append(("trap",))
            continue
        if ft.results:
            vals = res if len(ft.results) > 1 else (res,)
            events.append(("result", tuple(_value(t, v) for t, v in zip(ft.results, vals))))
    return events


def first_difference(want: list, got: list) -> str | None:
    for i, (a, b) in enumerate(zip(want, got)):
        if not same(a, b):
            return f"event {i}: binaryen {a}, wasmc {b} (after {want[max(0, i - 3):i]})"
    if len(want) != len(got):
        return f"binaryen has {len(want)} events, wasmc {len(got)}"
    return None


def check(seed: int, opt: int, workdir: Path, wasm_opt: str) -> str | None:
    path = workdir / f"{seed}.wasm"
    data = generate(seed, path, wasm_opt)
    return first_difference(reference(path, wasm_opt), run_wasmc(data, opt))


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_binaryen_interpreter(seed, tmp_path):
    wasm_opt = require_tool("wasm-opt")
    opt = 2 if seed % 2 else 0
    diff = check(seed, opt, tmp_path, wasm_opt)
    assert diff is None, f"seed {seed} at -O{opt}: {diff}"


def test_nan_tolerance_is_for_float_values_only():
    """A NaN-looking bit pattern in an integer or a v128 lane is an integer
    like any other: two different ones are different values."""
    nan32 = 0x7FC00000
    assert same(_token("nan"), _value("f32", float("nan")))
    assert same(_token("-nan:0x200000"), _value("f64", float("nan")))
    assert not same(_token("0"), _value("f32", float("nan")))
    assert not same(_token(str(nan32)), _value("i32", nan32 + 1))  # i32 0x7fc00000 vs 0x7fc00001
    v = nan32 | 1 << 32 | 0xFFC00000 << 64 | 0x7F800001 << 96
    assert same(_token("i32x4 0x7fc00000 0x00000001 0xffc00000 0x7f800001"), _value("v128", v))
    assert not same(_token("i32x4 0x7fc00001 0x00000001 0xffc00000 0x7f800001"), _value("v128", v))
    assert not same(_token("i32x4 0x7fc00000 0x00000001 0x7fc00000 0x7f800001"), _value("v128", v))
    big = 2 ** 54
    assert same(_token(str(big + 1)), _value("f64", float(big)))  # binaryen's printing of a float
    assert not same(_token(str(big + 1)), _value("i64", big))  # but an integer must be exact
    assert not same(_token("3"), _value("f64", 3.0000001))


def test_the_comparison_can_fail(tmp_path):
    """A wrong answer is noticed: the same module with one export's result
    changed by a byte no longer matches."""
    wasm_opt = require_tool("wasm-opt")
    for seed in SEEDS:
        path = tmp_path / f"{seed}.wasm"
        data = generate(seed, path, wasm_opt)
        want = reference(path, wasm_opt)
        got = run_wasmc(data, 0)
        results = [i for i, e in enumerate(got) if e[0] == "result"]
        if results:
            break
    k = results[0]
    assert first_difference(want, got) is None
    got[k] = ("result", ("12345",) + got[k][1][1:])
    assert first_difference(want, got) is not None


def main(argv: list) -> int:
    start, count = int(argv[0]), int(argv[1])
    opt = int(argv[2]) if len(argv) > 2 else 2
    wasm_opt = require_tool("wasm-opt")
    work = Path(tempfile.gettempdir()) / "wasmc-fuzz"
    work.mkdir(exist_ok=True)
    bad = 0
    for seed in range(start, start + count):
        try:
            diff = check(seed, opt, work, wasm_opt)
        except wasmc.WasmcError as e:
            diff = f"{type(e).__name__}: {e}"
        if diff:
            bad += 1
            print(f"seed {seed}: {diff}", flush=True)
        else:
            (work / f"{seed}.wasm").unlink()
    print(f"{count} seeds at -O{opt}: {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
