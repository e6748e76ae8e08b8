"""targets/*.toml as the run path reads them (wasmc/targets.py)."""

from __future__ import annotations

import os

from wasmc import targets


def test_a_machine_name_belongs_to_one_target():
    """host() reads only the file named after this machine when it can: that
    finds the target the scan of every file finds only if no two targets
    claim the same machine name."""
    seen = {}
    for t in targets.all_targets().values():
        for m in t.machine_names:
            assert m not in seen, f"{m} is claimed by {seen[m]} and {t.name}"
            seen[m] = t.name


def test_host_is_the_target_that_names_this_machine():
    m = os.uname().machine.lower()
    scanned = [t for t in targets.all_targets().values() if m in t.machine_names]
    assert [targets.host()] == (scanned or [None])
