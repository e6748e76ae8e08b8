"""Add up a spec run's per-file counts (WASMC_SPEC_SUMMARY, test_execution.py)
per slice: ``python tests/spec/summary.py FILE``."""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def summarise(path: str) -> dict:
    totals: dict = defaultdict(lambda: {"files": 0, "passed": 0, "failed": 0, "skipped": 0,
                                        "skips": defaultdict(int)})
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            t = totals[r["slice"]]
            t["files"] += 1
            for k in ("passed", "failed", "skipped"):
                t[k] += r[k]
            for reason, n in r["skips"].items():
                t["skips"][reason] += n
    return totals


def main(argv=None):
    (path,) = argv or sys.argv[1:]
    for slice_id, t in sorted(summarise(path).items()):
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(t["skips"].items(), key=lambda x: -x[1]))
        print(f"{slice_id}: {t['files']} files, {t['passed']} passed, {t['failed']} failed, "
              f"{t['skipped']} skipped ({reasons})")


if __name__ == "__main__":
    main()
