"""Spec-suite commands that are known to fail, each with the reason.

Keys are ``"<json path relative to shared/spec>:<line>"`` (for example
``"core/align.json:306"``), values a one-line reason.  A JSON file with an
entry here runs as ``xfail(strict=True)``: it must fail on exactly these
commands, so fixing one makes the suite fail until its entry is removed.
"""

EXPECTED_FAILURES: dict[str, str] = {}

#: Execution (tests/spec/test_execution.py): keys ``"<path>:<line>"`` as above
#: (for every optimisation level the suite runs), values the reason.  A file's
#: failures must equal its entries here exactly.
EXECUTION_FAILURES: dict[str, str] = {}
