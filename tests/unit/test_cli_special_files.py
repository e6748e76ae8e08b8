"""Special files as the inputs and outputs of every command.

Inputs: wasmc reads regular files only (docs/cli.md, "Files"): a device,
a FIFO, a directory, a socket, a dangling symlink, a missing or unreadable
file, a path through a file are each one ``wasmc: I/O error:`` line, exit
9, at once (a FIFO nobody writes to must not block, /dev/zero must not be
read until memory runs out).  The standalone runner refuses them too.

Outputs: a FIFO or a character device is written into (never replaced); a
directory, a block device, a socket, a dangling symlink, a missing
directory are refused with one line, exit 9, and nothing is left behind:
no partial file, no temporary file.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from conftest import CORPUS, one_line_error, run_cmd, text, wasmc_cmd

TRAPS = CORPUS / "wat" / "traps.wasm"


def _special(kind: str, tmp: Path) -> tuple[str, str]:
    """A path of KIND and the words its error line must contain."""
    p = tmp / f"in-{kind}"
    if kind == "dev-null":
        return "/dev/null", "it is a character device, not a regular file"
    if kind == "dev-zero":
        return "/dev/zero", "it is a character device, not a regular file"
    if kind == "fifo":
        os.mkfifo(p)
        return str(p), "it is a FIFO, not a regular file"
    if kind == "directory":
        p.mkdir()
        return str(p), "it is a directory, not a regular file"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(p))
        s.close()
        return str(p), "No such device or address"
    if kind == "dangling-symlink":
        p.symlink_to(tmp / "nowhere")
        return str(p), "No such file or directory"
    if kind == "missing":
        return str(p), "No such file or directory"
    if kind == "through-a-file":
        p.write_bytes(b"x")
        return str(p / "x.wasm"), "Not a directory"
    if kind == "closed-descriptor":  # a file that has disappeared: /proc/self/fd of nothing
        return "/proc/self/fd/987", "No such file or directory"
    if kind == "unreadable":
        if os.geteuid() == 0:  # root reads anything chmod forbids; this file fails every read
            return "/proc/self/mem", "Input/output error"
        p.write_bytes(TRAPS.read_bytes())
        p.chmod(0)
        return str(p), "Permission denied"
    raise KeyError(kind)


KINDS = ["dev-null", "dev-zero", "fifo", "directory", "socket", "dangling-symlink", "missing", "through-a-file",
         "closed-descriptor", "unreadable"]
COMMANDS = {
    "build": lambda f, t: ["build", f, "-o", t / "out.wasmu"],
    "build-exe": lambda f, t: ["build", "--exe", f, "-o", t / "out"],
    "validate": lambda f, t: ["validate", f],
    "run": lambda f, t: ["run", f],
    "exec": lambda f, t: ["exec", f],
    "inspect": lambda f, t: ["inspect", f],
    "slices-list": lambda f, t: ["slices", "list", f],
    "slices-extract": lambda f, t: ["slices", "extract", f, "x86_64", "-o", t / "out.wasmu"],
    "preload": lambda f, t: ["run", TRAPS, "--preload", f"x={f}", "--invoke", "add", "1", "2"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", KINDS)
def test_special_input(kind, command, tmp_path):
    path, words = _special(kind, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = wasmc_cmd(*COMMANDS[command](path, tmp_path), timeout=60)
    line = one_line_error(r, 9)
    assert words in line and "cannot read" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, not even a partial one


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "missing", "unreadable"])
def test_special_input_spec_test(kind, tmp_path):
    path, words = _special(kind, tmp_path)
    r = wasmc_cmd("spec-test", path, timeout=60)
    assert r.returncode == 1 and r.stderr == b"", text(r.stderr)
    assert words in text(r.stdout) and text(r.stdout).endswith("0 passed, 1 failed, 0 skipped\n")


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "missing"])
def test_runner_refuses_special_images(guests, kind, tmp_path):
    """The runner's --image (what wasmc hands it) must be a regular file too."""
    from wasmc.runtime import runners

    path, _ = _special(kind, tmp_path)
    r = run_cmd([runners.ensure_runner("x86_64"), "--image", f"{path}:0:16384"], timeout=60)
    line = one_line_error(r, 9)
    assert "not a regular file" in line or "No such file" in line


# --- outputs ------------------------------------------------------------------------------

OUTPUTS = ["build", "build-exe", "slices-extract"]


def _write(command: str, out, guests) -> list:
    if command == "build":
        return ["build", TRAPS, "-O0", "-o", out]
    if command == "build-exe":
        return ["build", "--exe", TRAPS, "-O0", "-o", out]
    return ["slices", "extract", guests.art("traps"), "x86_64", "-o", out]


def _dev_null(tmp: Path) -> Path:
    """A /dev/null to write to: our own node of it as root (a wasmc that
    wrongly replaced its output would otherwise replace the machine's
    /dev/null), the real one otherwise (which a user cannot replace)."""
    if os.geteuid() != 0:
        return Path("/dev/null")
    p = tmp / "null"
    os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return p


@pytest.mark.parametrize("command", OUTPUTS)
def test_output_to_dev_null(guests, command, tmp_path):
    null = _dev_null(tmp_path)
    r = wasmc_cmd(*_write(command, null, guests), timeout=300)
    assert (r.returncode, r.stderr) == (0, b""), text(r.stderr)
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["null"] if null.parent == tmp_path else [])


@pytest.mark.parametrize("command", OUTPUTS)
def test_output_into_a_fifo(guests, command, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = bytearray()
    import threading

    def read():
        with open(fifo, "rb") as f:
            got.extend(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    r = wasmc_cmd(*_write(command, fifo, guests), timeout=300)
    t.join(60)
    if t.is_alive():  # wasmc never opened it: let the reader go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert (r.returncode, r.stderr) == (0, b""), text(r.stderr)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and len(got) > 1000
    assert got[:4] == (b"\x7fELF" if command == "build-exe" else b"\0was")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


REFUSED = {
    "directory": (lambda t: (t / "d").mkdir() or t / "d", "it is a directory"),
    "socket": (lambda t: _bound(t / "s"), "it is a socket"),
    "dangling-symlink": (lambda t: (t / "l").symlink_to(t / "nowhere") or t / "l", "it is a dangling symbolic link"),
    "missing-directory": (lambda t: t / "no" / "out", "No such file or directory"),
    "through-a-file": (lambda t: _file(t / "f") / "out", "Not a directory"),
    "proc": (lambda t: Path("/proc/version"), ""),
}


def _file(p: Path) -> Path:
    p.write_bytes(b"")
    return p


def _bound(p: Path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()
    return p


@pytest.mark.parametrize("command", OUTPUTS)
@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_outputs_leave_nothing(guests, command, kind, tmp_path):
    make, words = REFUSED[kind]
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_line_error(wasmc_cmd(*_write(command, out, guests), timeout=300), 9)
    assert line.startswith(f"wasmc: I/O error: cannot write {out}") and words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "nowhere").exists()


def test_output_through_a_symlink_replaces_its_target(guests, tmp_path):
    target = tmp_path / "target.wasmu"
    target.write_bytes(b"old")
    (tmp_path / "link").symlink_to("target.wasmu")
    r = wasmc_cmd("build", TRAPS, "-O0", "-o", tmp_path / "link")
    assert r.returncode == 0, text(r.stderr)
    assert (tmp_path / "link").is_symlink() and target.read_bytes().startswith(b"\0wasmcu\0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target.wasmu"]


def test_output_directory_that_disappears(tmp_path):
    """The directory of -o is removed while the output is being written."""
    import shutil

    from wasmc.container import write_atomic
    from wasmc.errors import FileError

    d = tmp_path / "d"
    d.mkdir()

    def writer(tmp):
        Path(tmp).write_bytes(b"data")
        shutil.rmtree(d)

    with pytest.raises(FileError, match="No such file or directory"):
        write_atomic(d / "out", writer)
    assert list(tmp_path.iterdir()) == []


def test_input_that_disappears_after_the_check(tmp_path, monkeypatch):
    """A file removed between the regular-file check and the read is an I/O error."""
    from wasmc import errors

    p = tmp_path / "m.wasm"
    p.write_bytes(TRAPS.read_bytes())
    real = errors._open_input

    def vanish(path, limit):
        fd, size = real(path, limit)
        os.unlink(path)
        os.close(fd)
        return os.open("/proc/self/mem", os.O_RDONLY), size  # reads now fail

    monkeypatch.setattr(errors, "_open_input", vanish)
    with pytest.raises(errors.FileError, match="cannot read"):
        errors.read_input(p, errors.MAX_WASM_SIZE)
