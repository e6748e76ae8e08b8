"""The writer of make bench's report (wasmc/tools/benchdoc.py): the arithmetic
(medians, ratios, geometric means, goals met or not) and the Markdown and SVG
it renders from given results.  No timing is measured here."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from wasmc.tools import benchdoc as D


def _results() -> dict:
    k = {D.NATIVE: [1.0, 1.1, 0.9], D.WASMTIME: [1.2, 1.2, 1.2], D.K_O0: [3.0] * 3, D.K_O1: [1.3] * 3,
         D.K_O2: [1.0, 1.05, 2.0], D.K_FUEL: [1.5] * 3, D.K_O2V3: [0.8] * 3, D.K_O3V3: [0.8] * 3}
    k2 = {c: [v * 2 for v in xs] for c, xs in k.items()}
    k2[D.K_O2] = [8.0, 8.0, 8.0]  # 4x native (native median 2.0)
    return {
        "command": "make bench", "machine": "test box", "date": "2026-12-05 00:00 UTC", "elapsed_s": 600,
        "load_before": "1 1 1", "load_after": "2 2 2",
        "kernels": {"rounds": 3, "contenders": [D.NATIVE, D.WASMTIME, D.K_O0, D.K_O1, D.K_O2, D.K_FUEL, D.K_O2V3,
                                                 D.K_O3V3], "baseline": D.NATIVE,
                    "rows": [{"name": "matmul", "times": k}, {"name": "nbody", "times": k2}]},
        "sightglass": {"rounds": 3, "threshold_s": 0.1, "contenders": [D.WASMTIME, D.S_WASMC, D.S_V1],
                       "baseline": D.WASMTIME, "skipped": {"noop": "5 ms"},
                       "rows": [{"name": "a", "times": {D.WASMTIME: [1.0], D.S_WASMC: [0.5]},
                                 "compute": {D.WASMTIME: [0.8], D.S_WASMC: [0.2]}},
                                {"name": "b-simd", "times": {D.WASMTIME: [1.0], D.S_WASMC: [1.0], D.S_V1: [1.5]},
                                 "compute": {D.WASMTIME: [0.9], D.S_WASMC: [0.9], D.S_V1: [1.8]}},
                                {"name": "c-simd", "times": {D.WASMTIME: [0.01], D.S_WASMC: [1.0], D.S_V1: [1.2]},
                                 "short": True}]},
        "compile": {"rounds": 1, "contenders": ["wasmc -O0", "wasmc -O1", "wasmc -O2", D.C_WASMTIME],
                    "baseline": D.C_WASMTIME,
                    "rows": [{"name": "gcc-loops",
                              "wall": {"wasmc -O0": [2.0], "wasmc -O1": [4.0], "wasmc -O2": [8.0],
                                       D.C_WASMTIME: [1.0]},
                              "cpu": {"wasmc -O0": [1.0], "wasmc -O1": [3.0], "wasmc -O2": [6.0],
                                      D.C_WASMTIME: [0.5]},
                              "peak_mib": {"wasmc -O0": [100.0], "wasmc -O1": [150.0], "wasmc -O2": [140.0, 160.0],
                                           D.C_WASMTIME: [30.0]}}]},
        "startup": {"rounds": 3, "contenders": [D.U_EXEC, D.U_EXE, D.U_WASMTIME], "baseline": D.U_WASMTIME,
                    "times": {D.U_EXEC: [0.030, 0.020, 0.040], D.U_EXE: [0.001] * 3, D.U_WASMTIME: [0.005] * 3}},
    }


def test_geomean_and_ratios():
    assert D.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert math.isnan(D.geomean([]))
    with pytest.raises(ValueError):
        D.geomean([1.0, 0.0])
    res = _results()
    # ratio of medians, not of means or minimums: matmul -O2 median 1.05 over native median 1.0
    assert D.ratios(res["kernels"]["rows"], D.K_O2, D.NATIVE) == pytest.approx({"matmul": 1.05, "nbody": 4.0})
    assert math.isnan(D.ratio({"a": [1.0]}, "a", "missing"))


def test_goals_filled_from_results():
    g = {row["goal"]: row for row in D.goals(_results()) if "compute only" not in row["what"]}
    (compute,) = (row for row in D.goals(_results()) if "compute only" in row["what"])
    assert len(D.goals(_results())) == 11
    assert g["≤ 25 ms"]["met"] is False and g["≤ 25 ms"]["wasmc"] == "30.0 ms"
    assert g["≤ 25 ms"]["gap"] == "5 ms over (1.20x)"
    assert g["≤ wasmtime"]["met"] is True
    assert g["≤ 10x wasmtime"]["met"] is True and g["≤ 3x wasmtime"]["met"] is True
    assert g["≤ 1.2x"]["met"] is True  # -O1/-O2: matmul 1.3/1.05, nbody 2.6/8
    # peak memory: the largest sample of the -O2 builds
    assert g["≤ 150 MiB"]["met"] is False and g["≤ 150 MiB"]["wasmc"] == "160 MiB"
    # kernels vs native: geomean(1.05, 4.0) = 2.05
    assert g["≤ 1.10x"]["wasmc"] == "2.05x" and g["≤ 1.10x"]["met"] is False
    assert g["≤ 1.3x"]["met"] is True  # matmul alone
    # sightglass, whole process: geomean(0.5, 1.0) = 0.71 (c-simd is short: v1/v3 only); compute only:
    # geomean(0.25, 1.0) = 0.5
    assert g["≤ 0.75x"]["met"] is True and g["≤ 0.75x"]["wasmc"] == "0.71x"
    assert compute["met"] is True and compute["wasmc"] == "0.50x" and "2 programs" in compute["what"]
    # v3: matmul 1.05/0.8; b-simd from its compute-only times (1.8/0.9); c-simd, which reports none, whole
    assert D.v3_speedups(_results()) == pytest.approx({"matmul": 1.05 / 0.8 - 1, "b-simd": 1.0, "c-simd": 0.2})
    assert g["≥ 10% faster"]["met"] is True and "matmul +31%, b-simd +100%, c-simd +20%" in g["≥ 10% faster"]["wasmc"]


def test_goals_say_what_was_not_measured():
    res = _results()
    del res["compile"], res["startup"]
    g = {row["goal"]: row for row in D.goals(res)}
    assert g["≤ 150 MiB"]["met"] is None and g["≤ 25 ms"]["met"] is None
    assert "not measured" in D.render(res)


def test_markdown_and_splice_keep_hand_written_text():
    res = _results()
    gen = D.render(res)
    assert gen.startswith(D.BEGIN) and gen.rstrip().endswith(D.END)
    assert "| nbody |" in gen and "**4.00**" not in gen  # geomean row, not a single kernel
    assert "| **geomean** | **1.20** |" in gen  # wasmtime vs native: 1.2/1.0 and 2.4/2.0
    assert "Not included: noop (5 ms)." in gen
    assert "| c-simd (short: v1/v3 only) |" in gen
    doc = "# Benchmarks\n\nIntro.\n\n## Start-up\n\nSomeone else's section.\n"
    once = D.splice(doc, gen)
    assert once.index("# Benchmarks") < once.index(D.BEGIN) < once.index(D.END) < once.index("Intro.")
    assert "Someone else's section." in once
    res["date"] = "2027-01-01 00:00 UTC"
    twice = D.splice(once + "\n## Added later\n", D.render(res))
    assert twice.count(D.BEGIN) == 1 and "2026-12-05" not in twice and "2027-01-01" in twice
    assert twice.endswith("## Added later\n") and "Someone else's section." in twice


def test_svg_has_a_bar_per_ratio():
    res = _results()
    svg = D.render_svg(res)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = D.chart_bars(res)
    # kernels: 7 contenders; sightglass: 2 geomeans + 2 programs (not the short one); compile: 3 levels;
    # start-up: 2
    assert len(bars) == 7 + 4 + 3 + 2
    assert len(root.findall(f"{ns}rect")) == len(bars) + 1  # + the background
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "0.71" in texts and "8.00" in texts  # sightglass geomean, compile -O2 / wasmtime
