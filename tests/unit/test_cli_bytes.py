"""Odd bytes on the command line: every byte 1..255, in guest arguments,
environment names and values, preopened directory names, and in the names
of the files wasmc reads and writes.

WASI strings are bytes: whatever the user passes must reach the guest
unchanged (tests/programs/guests/bytes_echo.c prints what it got in hex),
through every way of running a guest: ``exec``, ``run`` (compile cache),
``aarch64`` (the runner under qemu-user) and ``exe`` (`build --exe`).  File
names are bytes too: wasmc opens, writes and names them as given, and any
error about one is still a single line.

The bytes are spread over CHUNKS cases of about 32 bytes each.
"""

from __future__ import annotations

import os

import pytest

from conftest import Guests, one_line_error, run_cmd, text, wasmc_cmd

ALL = bytes(range(1, 256))
CHUNKS = [ALL[i:i + 32] for i in range(0, len(ALL), 32)]
IDS = [f"{c[0]:02x}-{c[-1]:02x}" for c in CHUNKS]


def _name(chunk: bytes) -> bytes:
    """CHUNK as one file name: no '/', and never '.' or '..' (a prefix)."""
    return b"n" + chunk.replace(b"/", b"")


def test_chunks_cover_every_byte():
    assert b"".join(CHUNKS) == ALL


@pytest.mark.parametrize("mode", Guests.MODES)
@pytest.mark.parametrize("chunk", CHUNKS, ids=IDS)
def test_odd_bytes_reach_the_guest(guests, mode, chunk, tmp_path):
    d = _name(chunk)
    os.mkdir(os.fsencode(tmp_path) + b"/" + d)
    env_name = b"N" + chunk.replace(b"=", b"")
    r = run_cmd(guests.cmd(mode, "bytes_echo", b"--env=V=" + chunk, b"--env=" + env_name + b"=x",
                           b"--dir=" + d, "--", chunk, b"-" + chunk, b""), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, text(r.stderr)
    assert r.stderr == b""
    want = [f"arg {chunk.hex()}", f"arg {(b'-' + chunk).hex()}", "arg ",
            f"env {(b'V=' + chunk).hex()}", f"env {(env_name + b'=x').hex()}", f"dir {d.hex()}", ""]
    assert r.stdout.decode().split("\n") == want


@pytest.mark.parametrize("chunk", CHUNKS, ids=IDS)
def test_odd_file_names(guests, chunk, tmp_path):
    """build -o, inspect, exec and slices on a file whose name has the bytes."""
    base = os.fsencode(tmp_path) + b"/"
    art = base + _name(chunk) + b".wasmu"
    r = wasmc_cmd("build", guests.wasm("traps"), "-O0", "-o", art)
    assert r.returncode == 0, text(r.stderr)
    r = wasmc_cmd("exec", art, "--invoke", "add", "1", "2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"3\n", b"")
    r = wasmc_cmd("inspect", art)
    assert r.returncode == 0 and r.stdout.startswith(b"artifact:  " + art + b" ("), text(r.stderr)
    out = base + b"x" + _name(chunk)
    r = wasmc_cmd("slices", "extract", art, "x86_64", "-o", out)
    assert r.returncode == 0 and os.path.exists(out), text(r.stderr)
    assert sorted(os.listdir(base)) == sorted([os.path.basename(art), os.path.basename(out)])


@pytest.mark.parametrize("chunk", CHUNKS, ids=IDS)
def test_odd_bytes_in_error_messages_stay_on_one_line(guests, chunk, tmp_path):
    missing = os.fsencode(tmp_path) + b"/" + _name(chunk)
    for args, code in ((("build", missing), 9), (("exec", missing), 9), (("run", missing), 9),
                       (("validate", missing), 9), (("inspect", missing), 9),
                       (("exec", guests.art("traps"), b"--dir=" + missing), 9),
                       (("exec", guests.art("traps"), "--invoke", chunk), 1),
                       (("exec", guests.art("traps"), "--invoke", "add", "--", chunk, "1"), 2)):
        r = wasmc_cmd(*args)
        line = one_line_error(r, code)
        assert line.count("\n") == 0
    r = run_cmd([guests.exe("traps"), "--invoke", "add", "--", chunk, "1"])
    one_line_error(r, 2)
    r = run_cmd([guests.exe("traps"), b"--dir=" + missing])
    one_line_error(r, 9)
