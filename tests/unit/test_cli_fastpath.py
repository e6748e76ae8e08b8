"""`wasmc exec` without click (wasmc/cli.py, docs/architecture.md): the fast
path must behave exactly as the click command does.

Every command line of the matrix runs twice, through the fast path and with
it switched off (``wasmc.cli._FAST = False``: click parses everything), and
the two runs must print the same bytes on stdout and stderr and end with the
same status.  The fast path's parse of each line it accepts is also compared
with click's own (the keyword arguments the exec command receives), and the
modules it loads are checked: neither click nor the compiler.
"""

from __future__ import annotations

import os
import sys

import pytest

from conftest import run_cmd, text

# Runs wasmc's entry point with the fast path on ("1") or off ("0"); with
# "report", the process says on stderr which modules it loaded that exec
# must not need.
DRIVER = """
import os, sys
import wasmc.cli as cli
mode, argv = sys.argv[1], sys.argv[2:]
cli._FAST = mode != "0"
try:
    cli.main(argv)
finally:
    if mode == "report":
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("click", "llvmlite", "rich")
                     or m.startswith(("wasmc.compile", "wasmc.link", "wasmc.commands", "wasmc.wasm")))
        os.write(2, ("loaded: %s\\n" % " ".join(bad)).encode())
"""


def drive(mode: str, argv: list, cwd) -> object:
    return run_cmd([sys.executable, "-c", DRIVER, mode, *argv], cwd=cwd, env={"WASMC_TRUST": ""})


@pytest.fixture(scope="module")
def arts(guests, tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    (d / "box").mkdir()
    (d / "garbage.wasmu").write_bytes(b"\0wasmcu\0" + b"\x01" * 100)
    return {"A": str(guests.art("args_env")), "T": str(guests.art("traps")), "dir": d}


def _lines(A, T, box):
    """(argv, does the fast path take it?) for the equivalence matrix."""
    return [
        (["exec", A], True),
        (["exec", A, "one", "two words", "", "exit=0"], True),
        (["exec", A, "exit=42"], True),
        (["exec", A, "exit=300"], True),
        (["exec", A, "--", "-x", "--dir", "y"], True),
        (["exec", "--", A, "a"], True),
        (["exec", A, "a", "--env", "GREETING=hi", "b", "--env=EMPTY=", "c"], True),
        (["exec", "--env", "MULTI=a=b=c", A, "x"], True),
        (["exec", A, "--env", "bad"], True),
        (["exec", A, "--env", "=v"], True),
        (["exec", A, "--env"], False),
        (["exec", A, "--inherit-env"], True),
        (["exec", A, "--inherit-env", "--inherit-env"], True),
        (["exec", A, "--inherit-env=1"], False),
        (["exec", A, "--dir", box], True),
        (["exec", A, f"--dir={box}::inside"], True),
        (["exec", A, "--dir", "/nonexistent-dir"], True),
        (["exec", A, "--dir", "--env"], True),
        (["exec", A, "--timeout", "5"], True),
        (["exec", A, "--timeout=0.5"], True),
        (["exec", A, "--timeout", "1e9"], True),
        (["exec", A, "--timeout", "0"], False),
        (["exec", A, "--timeout", "inf"], False),
        (["exec", A, "--timeout", "nan"], False),
        (["exec", A, "--timeout", "abc"], False),
        (["exec", A, "--timeout", ""], False),
        (["exec", A, "--timeout", "1", "--timeout", "abc"], False),
        (["exec", A, "--timeout", "abc", "--timeout", "2"], True),
        (["exec", A, "--fuel", "10"], True),
        (["exec", A, "--fuel", "-1"], False),
        (["exec", A, "--fuel", "1K"], False),
        (["exec", A, "--max-memory", "1M"], True),
        (["exec", A, "--max-memory", "16"], True),
        (["exec", A, "--max-memory", "1X"], False),
        (["exec", A, "--max-table-elements", "0"], True),
        (["exec", A, "--max-instances", "0"], True),
        (["exec", A, "--max-instances", "1"], True),
        (["exec", A, "--max-instances", str(1 << 64)], False),
        (["exec", A, "--tier", "no-such-tier"], True),
        (["exec", A, "--tcplisten", "nope"], True),
        (["exec", A, "--invoke", "nope"], True),
        (["exec", T, "--invoke", "add", "40", "2"], True),
        (["exec", T, "--invoke=add", "0x10", "0b1"], True),
        (["exec", T, "--invoke", "add", "--", "-1", "2"], True),
        (["exec", T, "--invoke", "add", "-1", "2"], False),
        (["exec", T, "--invoke", "add", "1"], True),
        (["exec", T, "--invoke", "add", "x", "1"], True),
        (["exec", T, "--invoke", "div", "1", "0"], True),
        (["exec", T, "--invoke", "load", "100000"], True),
        (["exec", T, "--invoke", "runaway", "1"], True),
        (["exec", T, "--invoke"], False),
        (["exec", T], True),
        (["exec"], False),
        (["exec", "-h"], False),
        (["exec", A, "--help"], False),
        (["exec", "--bogus", A], False),
        (["exec", A, "--tim", "1"], False),
        (["exec", A, "-x"], False),
        (["exec", A, "--target", "no-such-arch"], False),
        (["exec", A, "--preload", "m"], False),
        (["exec", "-"], True),
        (["exec", "/dev/null"], True),
        (["exec", "no-such-file.wasmu"], True),
        (["exec", "\x1b[31mred\x1b[0m.wasmu"], True),
        (["exec", "garbage.wasmu"], True),
        (["exec", A, "caf\udcc3"], True),
        (["--version"], False),
    ]


def _ids(n):
    return [f"line{i}" for i in range(n)]


@pytest.mark.parametrize("i", range(len(_lines("A", "T", "box"))), ids=_ids(len(_lines("A", "T", "box"))))
def test_the_fast_path_behaves_as_click_does(arts, i):
    import wasmc.cli as cli

    argv, fast = _lines(arts["A"], arts["T"], str(arts["dir"] / "box"))[i]
    assert (cli._fast_exec(argv) is not None) == fast, argv
    quick, full = (drive(mode, argv, arts["dir"]) for mode in ("1", "0"))
    assert (quick.returncode, quick.stdout, quick.stderr) == (full.returncode, full.stdout, full.stderr), argv
    assert b"Traceback" not in full.stderr


def test_the_fast_path_parses_as_click_does(arts):
    """For each line the fast path takes: the same values as click gives
    the exec command (click's parse, made by the command itself)."""
    import wasmc.cli as cli
    from wasmc.commands import cli as group

    command = group.commands["exec"]
    assert cli._fast_exec(["exec", "oci://registry.example/app:1"]) is None  # the registry code is click's
    for argv, fast in _lines(arts["A"], arts["T"], "box"):
        if not fast:
            continue
        mine = cli._fast_exec(argv)
        ctx = command.make_context("exec", list(argv[1:]))
        p = ctx.params
        theirs = {"file": p["file"], "args": p["args"], "inherit_env": p["inherit_env"], "invoke": p["invoke"],
                  "tier": p["tier"], "dirs": p["dirs"], "envs": p["envs"], "listens": p["listens"],
                  "timeout": p["timeout"], "limits": (p["fuel"], p["max_memory"], p["max_table_elements"],
                                                      p["max_instances"])}
        lim = mine.pop("limits")
        mine["limits"] = (lim.fuel, lim.max_memory, lim.max_table_elements, lim.max_instances)
        assert mine == theirs, argv
        assert (p["preloads"], p["arch"], p["trust"], p["plain_http"], p["username"], p["password_stdin"]) == \
            ((), None, (), False, None, False), argv


def test_exec_loads_neither_click_nor_the_compiler(arts):
    r = drive("report", ["exec", arts["A"], "hi"], arts["dir"])
    assert r.returncode == 0 and b"argv[1]=hi\n" in r.stdout, text(r.stderr)
    assert text(r.stderr).splitlines()[-1] == "loaded: ", text(r.stderr)
    # The check sees click when the command line goes through it.
    r = drive("report", ["exec", arts["A"], "--target", os.uname().machine, "hi"], arts["dir"])
    assert "click" in text(r.stderr).splitlines()[-1].split(), text(r.stderr)


def test_fast_path_errors_are_one_line(arts):
    from conftest import one_line_error

    r = drive("1", ["exec", arts["A"], "--env", "bad"], arts["dir"])
    assert one_line_error(r, 2) == "wasmc: usage error: --env expects K=V, got 'bad'"


class _Terminal(__import__("io").TextIOWrapper):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream_type", ["file", "terminal", "ascii"])
def test_echo_writes_what_click_echo_writes(stream_type, monkeypatch):
    """Both paths print through cli._echo: it must write the bytes click.echo
    would, escape sequences (kept on a terminal only) and encodings included."""
    import io

    import click

    from wasmc.cli import _echo

    def stream():
        cls = _Terminal if stream_type == "terminal" else io.TextIOWrapper
        raw = io.BytesIO()
        enc = "ascii" if stream_type == "ascii" else "utf-8"
        return raw, cls(raw, encoding=enc, errors="surrogateescape", write_through=True)

    for message in ("plain", "wasmc: I/O error: cannot read \x1b[31mred\x1b[0m.wasmu", "caf\xe9 \udcff",
                    "\x1b]0;title\x07 \x1b[2J", ""):
        outs = []
        for echo in (_echo, click.echo):
            raw, s = stream()
            monkeypatch.setattr(sys, "stderr", s)
            echo(message, err=True)
            outs.append(raw.getvalue())
        assert outs[0] == outs[1], message
