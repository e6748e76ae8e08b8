"""Regression tests for defects found by feeding the command line hostile
input (issue 12).  Each promise: bad input never crashes anything, every
failure is one ``wasmc: <label>: <message>`` line with a documented exit
code (docs/cli.md), no traceback, no half-written output.  Where the
standalone runner (runtime-shim/exe/main.c) has the same behaviour, it is
tested too: ``exe`` (`build --exe`, x86-64) and ``aarch64`` (`exec --target
aarch64`, the runner under qemu-user).

The systematic sweeps live beside this file: test_cli_bytes.py (odd bytes),
test_cli_stdio.py (closed standard streams), test_cli_special_files.py
(devices, FIFOs, directories, links as inputs and outputs), and
test_cli_spectest.py (spec-test on files that are not spec scripts).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPUS, one_line_error, require_tool, run_cmd, text, wasmc_cmd

TRAPS = CORPUS / "wat" / "traps.wasm"
RUNNERS = ("exec", "aarch64", "exe")


# --- 1. --timeout ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", RUNNERS)
@pytest.mark.parametrize("value", ["1e10", "inf", "-inf", "nan", "0", "-1", "1e400", "abc", ""])
def test_timeout_refuses_non_finite_and_absurd_values(guests, mode, value):
    r = run_cmd(guests.cmd(mode, "traps", f"--timeout={value}", "--invoke", "add", "1", "2"), timeout=60)
    line = one_line_error(r, 2)
    assert "--timeout expects a number of seconds greater than 0 and at most 1e9" in line


@pytest.mark.parametrize("mode", RUNNERS)
def test_large_finite_timeout_never_fires(guests, mode):
    r = run_cmd(guests.cmd(mode, "traps", "--timeout", "1e9", "--invoke", "add", "40", "2"), timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"42\n", b"")


@pytest.mark.parametrize("mode", RUNNERS)
def test_small_timeout_still_fires(guests, mode):
    r = run_cmd(guests.cmd(mode, "traps", "--timeout", "0.25", "--invoke", "spin"), timeout=60)
    assert "interrupted after the --timeout of 0.25 s" in one_line_error(r, 134)


# --- 2. closed standard streams never redirect the guest's output ------------------------

@pytest.mark.parametrize("mode", ("exec", "run", "aarch64", "exe"))
def test_closed_stdout_does_not_write_into_stdin_file(guests, mode, tmp_path):
    """`wasmc exec app 0<>victim.txt 1>&-` used to write the guest's output
    into victim.txt: the shim duplicated fd 0 into the free number 1."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    with open(victim, "r+b") as f:
        r = run_cmd(guests.cmd(mode, "stdio_probe"), stdin=f, preexec_fn=lambda: os.close(1), timeout=120)
    assert victim.read_bytes() == b"precious\n"
    assert r.returncode == 0b010, text(r.stderr)  # fd 1 closed for the guest (badf), 0 and 2 work
    assert r.stderr == b"err\n"


# --- 3. non-UTF-8 arguments, environment values and directory names --------------------

@pytest.mark.parametrize("mode", ("exec", "run", "aarch64", "exe"))
def test_non_utf8_argument_env_and_dir_reach_the_guest(guests, mode, tmp_path):
    d = os.fsencode(tmp_path) + b"/d\xff\xfe"
    os.mkdir(d)
    r = run_cmd(guests.cmd(mode, "bytes_echo", b"--env=K=\xff\x80", b"--dir=" + d, "--", b"\xff", b"a\xc3("),
                cwd=tmp_path, timeout=120)
    assert r.returncode == 0, text(r.stderr)
    assert r.stdout.decode().split("\n") == [
        "arg ff", "arg 61c328", "env " + b"K=\xff\x80".hex(), "dir " + d.hex(), ""]


def test_non_utf8_in_messages_is_shown_as_given(tmp_path):
    missing = os.fsencode(tmp_path) + b"/no\xff.wasm"
    r = wasmc_cmd("build", missing)
    assert "No such file" in one_line_error(r, 9) and b"/no\xff.wasm: " in r.stderr


# --- 4. spec-test on things that are not spec scripts: test_cli_spectest.py ---------------

# --- 5. build -o onto special files; nothing partial --------------------------------------

def test_build_into_a_fifo_writes_into_it(tmp_path):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the artifact fits the pipe's buffer
    try:
        r = wasmc_cmd("build", TRAPS, "-O0", "-o", fifo)
        assert r.returncode == 0, text(r.stderr)
        got = b""
        while chunk := os.read(reader, 1 << 16):
            got += chunk
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # not replaced by a regular file
    assert got.startswith(b"\0wasmcu\0") and len(got) > 1000


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_build_onto_a_character_device_keeps_it(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    r = wasmc_cmd("build", TRAPS, "-O0", "-o", null)
    assert r.returncode == 0, text(r.stderr)
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_build_onto_a_block_device_is_refused(tmp_path):
    blk = tmp_path / "blk"
    os.mknod(blk, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    line = one_line_error(wasmc_cmd("build", TRAPS, "-O0", "-o", blk), 9)
    assert "it is a block device" in line
    assert stat.S_ISBLK(os.stat(blk).st_mode)


def test_write_atomic_leaves_nothing_when_the_writer_fails(tmp_path):
    """A failing writer (lief for --exe, say) used to leave its temporary
    file behind unless the error was an OSError."""
    from wasmc.container import write_atomic

    out = tmp_path / "app"
    out.write_bytes(b"old")

    def writer(tmp):
        Path(tmp).write_bytes(b"partial")
        raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError):
        write_atomic(out, writer)
    assert [p.name for p in tmp_path.iterdir()] == ["app"] and out.read_bytes() == b"old"


# --- 6. the compile cache ---------------------------------------------------------------

def _cache_entries(d: Path) -> list:
    return sorted(d.rglob("*.wasmu"))


def test_cache_dir_that_is_a_file_falls_back(tmp_path):
    f = tmp_path / "cache"
    f.write_text("not a directory")
    r = wasmc_cmd("run", TRAPS, "--invoke", "add", "1", "2", env={"WASMC_CACHE_DIR": str(f)})
    assert (r.returncode, r.stdout, r.stderr) == (0, b"3\n", b"")
    assert f.read_text() == "not a directory"


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "directory", "dangling-link"])
def test_damaged_cache_entry_is_recompiled(tmp_path, damage):
    cache = tmp_path / "cache"
    env = {"WASMC_CACHE_DIR": str(cache)}
    assert wasmc_cmd("run", TRAPS, "--invoke", "add", "1", "2", env=env).returncode == 0
    (entry,) = _cache_entries(cache)
    good = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(good[:1000])
    elif damage == "flip":
        entry.write_bytes(good[:-100] + bytes([good[-100] ^ 1]) + good[-99:])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "directory":
        entry.unlink()
        entry.mkdir()
    else:
        entry.unlink()
        entry.symlink_to(tmp_path / "nowhere")
    for _ in range(2):  # and every later run too
        r = wasmc_cmd("run", TRAPS, "--invoke", "add", "1", "2", env=env)
        assert (r.returncode, r.stdout, r.stderr) == (0, b"3\n", b""), text(r.stderr)
    if damage in ("truncate", "flip", "empty"):
        assert entry.read_bytes() == good  # replaced
    assert not (tmp_path / "nowhere").exists()  # never written through a link


def test_cache_fallback_leaves_no_temporary_files(tmp_path):
    f = tmp_path / "cache"
    f.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"WASMC_CACHE_DIR": str(f), "TMPDIR": str(tmp)}
    assert wasmc_cmd("run", TRAPS, "--invoke", "add", "1", "2", env=env).returncode == 0
    require_tool("qemu-aarch64")
    r = wasmc_cmd("run", TRAPS, "--target", "aarch64", "--invoke", "add", "1", "2", env=env)
    assert (r.returncode, r.stdout) == (0, b"3\n"), text(r.stderr)
    assert list(tmp.iterdir()) == []


# --- 7. inputs: regular files of a bounded size only ------------------------------------------

@pytest.mark.parametrize("cmd", ["build", "validate", "run", "exec", "inspect"])
def test_dev_zero_is_refused_at_once(cmd):
    t0 = time.monotonic()
    line = one_line_error(wasmc_cmd(cmd, "/dev/zero", timeout=60), 9)
    assert "/dev/zero: it is a character device, not a regular file" in line
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("cmd,limit", [("build", "1 GiB"), ("validate", "1 GiB"), ("run", "1 GiB"),
                                       ("exec", "4 GiB"), ("inspect", "4 GiB")])
def test_inputs_beyond_the_limit_are_refused(cmd, limit, tmp_path):
    big = tmp_path / "big.wasm"
    with open(big, "wb") as f:  # sparse: no disk space used
        f.truncate((4 << 30) + 1 if limit == "4 GiB" else (1 << 30) + 1)
    line = one_line_error(wasmc_cmd(cmd, big, timeout=60), 9)
    assert f"more than the limit of {limit}" in line


# --- 8. numbers on the command line; exit statuses ---------------------------------------------

IN_RANGE = [("i32", "4294967295", "-1"), ("i32", "-2147483648", "-2147483648"), ("i32", "0x7fffffff", "2147483647"),
            ("i64", "18446744073709551615", "-1"), ("i64", "-9223372036854775808", "-9223372036854775808"),
            ("v128", str((1 << 128) - 1), str((1 << 128) - 1)), ("f32", "1e39", "inf"), ("f32", "0x1p3", "8.0"),
            ("f64", "-0x1.8p1", "-3.0")]
OUT_OF_RANGE = [("i32", "4294967296"), ("i32", "-2147483649"), ("i32", "99999999999999999999999"),
                ("i64", "18446744073709551616"), ("i64", "-9223372036854775809"), ("v128", str(1 << 128)),
                ("v128", "-1"), ("f64", "1_0.5"), ("i32", "1.5"), ("f32", "")]


@pytest.mark.parametrize("mode", ("exec", "aarch64", "exe"))
def test_numbers_in_range_are_accepted(guests, mode):
    for t, arg, out in IN_RANGE:
        r = run_cmd(guests.cmd(mode, "ids", "--invoke", f"id_{t}", "--", arg), timeout=60)
        assert (r.returncode, text(r.stdout), text(r.stderr)) == (0, out + "\n", ""), (t, arg)


@pytest.mark.parametrize("mode", ("exec", "aarch64", "exe"))
@pytest.mark.parametrize("t,arg", OUT_OF_RANGE)
def test_numbers_out_of_range_are_refused(guests, mode, t, arg):
    r = run_cmd(guests.cmd(mode, "ids", "--invoke", f"id_{t}", "--", arg), timeout=60)
    assert one_line_error(r, 2) == f"wasmc: usage error: argument {arg!r} is not a valid {t}"


@pytest.mark.parametrize("mode", ("exec", "run", "aarch64", "exe"))
def test_proc_exit_status_outside_0_to_125_is_an_error(guests, mode):
    """As wasmtime: 0..125 become the process status; anything else (as a
    u32) is an error, exit 1 (the OS would keep the low 8 bits: 256 was 0)."""
    for status, want in ((0, 0), (1, 1), (125, 125)):
        r = run_cmd(guests.cmd(mode, "trap", "--", "exit", str(status)), timeout=120)
        assert (r.returncode, r.stderr) == (want, b""), text(r.stderr)
    for status, shown in ((126, 126), (134, 134), (255, 255), (256, 256), (-1, 4294967295)):
        r = run_cmd(guests.cmd(mode, "trap", "--", "exit", str(status)), timeout=120)
        assert one_line_error(r, 1) == (f"wasmc: error: the guest exited with status {shown}: "
                                        "a WASI exit status must be in 0..125")


def test_proc_exit_status_in_the_python_api_is_unchanged(tmp_path):
    """The rule is the command line's: wasmc.Exit carries the guest's value."""
    import wasmc

    store = wasmc.Store()
    imports: dict = {}
    cfg = wasmc.WasiConfig(argv=["trap", "exit", "256"], stdout=str(tmp_path / "out"))
    wasmc.link_wasi(cfg, store, imports)
    inst = wasmc.Instance(wasmc.Module((CORPUS / "c" / "trap.wasm").read_bytes()), imports, store=store)
    with pytest.raises(wasmc.Exit) as e:
        inst.exports["_start"]()
    assert e.value.code == 256


def test_stdout_write_errors_are_io_errors(guests):
    for mode in RUNNERS:
        with open("/dev/full", "wb") as full:
            r = run_cmd(guests.cmd(mode, "traps", "--invoke", "add", "1", "2"), stdout=full, timeout=60)
        assert one_line_error(r, 9) == "wasmc: I/O error: cannot write the standard output: No space left on device"
    with open("/dev/full", "wb") as full:
        r = wasmc_cmd("inspect", guests.art("traps"), stdout=full)
    one_line_error(r, 9)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
