"""wasmc, the runner and their guests with standard descriptors closed.

Each case runs a command with stdin a file open for reading *and writing*
(the "victim": a closed stdout once made the guest write into it), stdout
and stderr files, and then one or all of descriptors 0, 1, 2 closed.  It
checks the exit code (the same as with everything open), that stderr has
one ``wasmc:`` line or nothing, no traceback, that the victim and every
other file are untouched and nothing was created but the command's own
output.  A guest (tests/programs/guests/stdio_probe.c) must see exactly
the closed streams closed (badf) and nothing else.
"""

from __future__ import annotations

import os

import pytest

from conftest import WASMC, Guests, run_cmd, text

CLOSED = {"0": (0,), "1": (1,), "2": (2,), "all": (0, 1, 2)}
BAD = b"\0asm\x01\0\0\0\x01\x05"  # malformed (exit 3)

#: name -> (command builder (guests, tmp) -> argv, exit code, stdout when open)
COMMANDS = {
    "build": (lambda g, t: ["build", g.wasm("traps"), "-O0", "-o", t / "out.wasmu"], 0, b""),
    "build-malformed": (lambda g, t: ["build", t / "bad.wasm", "-o", t / "out.wasmu"], 3, b""),
    "validate": (lambda g, t: ["validate", g.wasm("traps")], 0, b""),
    "validate-malformed": (lambda g, t: ["validate", t / "bad.wasm"], 3, b""),
    "inspect": (lambda g, t: ["inspect", g.art("traps")], 0, None),
    "exec-invoke": (lambda g, t: ["exec", g.art("traps"), "--invoke", "add", "1", "2"], 0, b"3\n"),
    "exec-trap": (lambda g, t: ["exec", g.art("traps"), "--invoke", "load", "99999"], 134, b""),
    "run-invoke": (lambda g, t: ["run", g.wasm("traps"), "--invoke", "add", "1", "2"], 0, b"3\n"),
    "exec-missing": (lambda g, t: ["exec", t / "missing.wasmu"], 9, b""),
}


def _run_closed(cmd: list, closed: tuple, tmp_path):
    """Run CMD in TMP_PATH with the victim on stdin and the descriptors CLOSED closed."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(victim, "r+b") as vi, open(out, "wb") as o, open(err, "wb") as e:
        before = {p.name for p in tmp_path.iterdir()}
        r = run_cmd(cmd, stdin=vi, stdout=o, stderr=e, cwd=tmp_path, timeout=120,
                    preexec_fn=lambda: [os.close(fd) for fd in closed])
    assert victim.read_bytes() == b"precious\n", "something wrote into the file on stdin"
    created = {p.name for p in tmp_path.iterdir()} - before
    return r.returncode, out.read_bytes(), err.read_bytes(), created


def _check_stderr(err: bytes, closed: tuple, failed: bool):
    if 2 in closed:
        assert err == b""
        return
    assert b"Traceback" not in err and b"internal error" not in err, text(err)
    lines = err.decode("utf-8", "replace").strip("\n").split("\n") if err else []
    assert len(lines) == (1 if failed else 0), text(err)
    assert all(x.startswith("wasmc: ") for x in lines), text(err)


@pytest.mark.parametrize("closed", sorted(CLOSED))
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_wasmc_with_closed_stdio(guests, name, closed, tmp_path):
    build, code, stdout = COMMANDS[name]
    (tmp_path / "bad.wasm").write_bytes(BAD)
    rc, out, err, created = _run_closed([*WASMC, *build(guests, tmp_path)], CLOSED[closed], tmp_path)
    assert rc == code, (rc, text(err))
    if 1 in CLOSED[closed]:
        assert out == b""
    elif stdout is not None:
        assert out == stdout
    else:
        assert out.startswith(b"artifact:")
    _check_stderr(err, CLOSED[closed], code != 0)
    assert created <= ({"out.wasmu"} if name == "build" else set()), created
    if name == "build":
        assert (tmp_path / "out.wasmu").read_bytes().startswith(b"\0wasmcu\0")


@pytest.mark.parametrize("closed", sorted(CLOSED))
@pytest.mark.parametrize("mode", Guests.MODES)
def test_guest_sees_exactly_the_closed_streams_closed(guests, mode, closed, tmp_path):
    fds = CLOSED[closed]
    rc, out, err, created = _run_closed(guests.cmd(mode, "stdio_probe"), fds, tmp_path)
    assert rc == sum(1 << fd for fd in fds), (rc, text(err))  # bit N: the guest got badf on fd N
    assert out == (b"" if 1 in fds else b"out\n")
    assert err == (b"" if 2 in fds else b"err\n")
    assert created == set()


@pytest.mark.parametrize("closed", sorted(CLOSED))
@pytest.mark.parametrize("mode", ("exe", "aarch64"))
def test_runner_invoke_with_closed_stdio(guests, mode, closed, tmp_path):
    fds = CLOSED[closed]
    rc, out, err, created = _run_closed(guests.cmd(mode, "traps", "--invoke", "add", "1", "2"), fds, tmp_path)
    assert (rc, out, err) == (0, b"" if 1 in fds else b"3\n", b"")
    rc, out, err, created = _run_closed(guests.cmd(mode, "traps", "--invoke", "load", "99999"), fds, tmp_path)
    assert rc == 134
    _check_stderr(err, fds, True)
