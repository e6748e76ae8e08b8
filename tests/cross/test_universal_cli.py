"""Universal artifacts as a user drives them: build --targets all, exec on
every architecture (foreign ones under qemu-user), tier choice, lipo-style
slice operations, standalone executables, reproducibility and progress.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
ARGS_ENV = REPO / "corpus" / "c" / "args_env.wasm"
TRAPS = REPO / "corpus" / "wat" / "traps.wasm"
ARCHES = ("x86_64", "aarch64", "riscv64")


def wasmc(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("WASMC_DEBUG", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "wasmc", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=600)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wasmc: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    for q in ("qemu-aarch64", "qemu-riscv64"):
        require_tool(q)
    d = tmp_path_factory.mktemp("universal")
    ok(wasmc("build", ARGS_ENV, "--targets", "all", "-O1", "-o", d / "args.wasmu"))
    ok(wasmc("build", TRAPS, "--targets", "all", "-O1", "-o", d / "traps.wasmu"))
    return d


def test_build_all_has_every_default_tier(built):
    r = ok(wasmc("inspect", built / "args.wasmu"))
    assert "slices (5):" in r.stdout
    for name in ("aarch64:base", "aarch64:lse", "riscv64:rv64gc", "x86_64:v1", "x86_64:v3"):
        assert name in r.stdout
    listed = ok(wasmc("slices", "list", built / "args.wasmu")).stdout.split("\n")
    assert [ln.split("\t")[0] for ln in listed if ln] == ["aarch64:base", "aarch64:lse", "riscv64:rv64gc",
                                                         "x86_64:v1", "x86_64:v3"]


def test_every_architecture_gives_the_same_output(built):
    outs = {}
    for arch in ARCHES:
        r = wasmc("exec", built / "args.wasmu", "--target", arch, "--env", "GREETING=hi", "--", "a b", "é")
        assert r.returncode == 0, (arch, r.stderr)
        outs[arch] = r.stdout
    assert outs["x86_64"] == outs["aarch64"] == outs["riscv64"]
    assert "argv[1]=a b" in outs["x86_64"] and "GREETING=hi" in outs["x86_64"]


@pytest.mark.parametrize("arch", ARCHES)
def test_invoke_and_traps_on_every_architecture(built, arch):
    art = built / "traps.wasmu"
    assert ok(wasmc("exec", art, "--target", arch, "--invoke", "add", "40", "2")).stdout == "42\n"
    line = one_line_error(wasmc("exec", art, "--target", arch, "--invoke", "runaway", "1"), 134)
    assert line == "wasmc: trap: call stack exhausted (backtrace: runaway x32)"
    line = one_line_error(wasmc("exec", art, "--target", arch, "--invoke", "load", "70000"), 134)
    assert line == "wasmc: trap: out of bounds memory access (backtrace: load)"
    line = one_line_error(wasmc("exec", art, "--target", arch, "--invoke", "div", "1", "0"), 134)
    assert "integer divide by zero" in line
    line = one_line_error(wasmc("exec", art, "--target", arch, "--timeout", "0.5", "--invoke", "spin"), 134)
    assert "interrupted after the --timeout of 0.5 s" in line
    line = one_line_error(wasmc("exec", art, "--target", arch, "--invoke", "add", "1"), 2)
    assert "add takes 2 arguments, got 1" in line


def test_tier_choice_and_no_usable_slice(built, tmp_path):
    art = built / "args.wasmu"
    # A CPU without AVX2 gets the v1 slice; --tier forces one.
    v3only = tmp_path / "v3.wasmu"
    ok(wasmc("slices", "extract", art, "x86_64:v3", "-o", v3only))
    ok(wasmc("exec", v3only))  # this machine has v3
    line = one_line_error(wasmc("exec", v3only, env={"WASMC_CPU_FEATURES": "sse2"}), 8)
    assert "no slice runs on this x86_64 CPU: x86_64:v3 needs" in line and "avx2" in line
    assert "(artifact has: x86_64:v3)" in line
    ok(wasmc("exec", art, env={"WASMC_CPU_FEATURES": "sse2"}))  # falls back to v1
    line = one_line_error(wasmc("exec", art, "--tier", "v2"), 8)
    assert "no slice x86_64:v2" in line and "x86_64:v1, x86_64:v3" in line
    line = one_line_error(wasmc("exec", v3only, env={"WASMC_TIER": "v1"}), 8)
    assert "no slice x86_64:v1" in line
    rv = tmp_path / "rv.wasmu"
    ok(wasmc("slices", "extract", art, "riscv64", "-o", rv))
    line = one_line_error(wasmc("exec", rv), 8)
    assert line.endswith("no slice for x86_64 (artifact has: riscv64:rv64gc)")


def test_missing_qemu_is_one_clear_line(built, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = wasmc("exec", built / "args.wasmu", "--target", "riscv64", env={"PATH": str(bindir)})
    line = one_line_error(r, 8)
    assert "qemu-riscv64" in line and "qemu-user" in line


def test_builds_are_reproducible_whatever_jobs(built, tmp_path):
    a, b = tmp_path / "a.wasmu", tmp_path / "b.wasmu"
    ok(wasmc("build", ARGS_ENV, "--targets", "all", "-O1", "-j", "1", "-o", a))
    ok(wasmc("build", ARGS_ENV, "--targets", "all", "-O1", "-j", "2", "-o", b))
    assert a.read_bytes() == b.read_bytes() == (built / "args.wasmu").read_bytes()


def test_slices_remove_add_round_trip(built, tmp_path):
    orig = (built / "args.wasmu").read_bytes()
    art = tmp_path / "app.wasmu"
    art.write_bytes(orig)
    ok(wasmc("slices", "remove", art, "riscv64"))
    names = ok(wasmc("slices", "list", art)).stdout
    assert "riscv64" not in names and "aarch64:lse" in names
    ok(wasmc("slices", "add", art, "riscv64"))  # compiled from the embedded .wasm, recorded options
    assert art.read_bytes() == orig
    ok(wasmc("slices", "remove", art, "aarch64", "-o", tmp_path / "no-arm.wasmu"))
    assert art.read_bytes() == orig  # -o leaves the input alone
    ok(wasmc("slices", "add", tmp_path / "no-arm.wasmu", "aarch64:base,aarch64:lse", "--from", built / "args.wasmu"))
    assert (tmp_path / "no-arm.wasmu").read_bytes() == orig


def test_slices_errors(built, tmp_path):
    art = built / "args.wasmu"
    one = tmp_path / "one.wasmu"
    ok(wasmc("slices", "extract", art, "aarch64:lse", "-o", one))
    assert "aarch64:lse" in ok(wasmc("slices", "list", one)).stdout
    assert ok(wasmc("exec", one, "--target", "aarch64", "--", "x")).stdout.startswith("argc=2")
    line = one_line_error(wasmc("slices", "remove", one, "aarch64"), 1)
    assert "without any slice" in line
    line = one_line_error(wasmc("slices", "add", art, "x86_64:v1", "-o", tmp_path / "x.wasmu"), 1)
    assert "already has x86_64:v1" in line
    assert not (tmp_path / "x.wasmu").exists()
    other = tmp_path / "traps.wasmu"
    line = one_line_error(wasmc("slices", "add", one, "riscv64", "--from", built / "traps.wasmu"), 7)
    assert "another .wasm" in line
    assert not other.exists()
    line = one_line_error(wasmc("slices", "remove", art, "mips"), 2)
    assert "unknown target 'mips'" in line
    line = one_line_error(wasmc("slices", "extract", one, "riscv64", "-o", tmp_path / "y.wasmu"), 8)
    assert "no slice riscv64" in line


@pytest.mark.parametrize("arch", ARCHES)
def test_standalone_executable(built, tmp_path, arch):
    from wasmc.runtime import runners

    exe = tmp_path / f"args-{arch}"
    ok(wasmc("build", ARGS_ENV, "--exe", "--target", arch, "-O1", "-o", exe))
    assert os.access(exe, os.X_OK)
    prefix = runners.qemu_for(arch)
    r = subprocess.run([*prefix, str(exe), "--env", "GREETING=hi", "--", "a b", "é"], capture_output=True,
                       text=True, env={"PATH": os.environ.get("PATH", "")}, timeout=120)
    want = ok(wasmc("exec", built / "args.wasmu", "--env", "GREETING=hi", "--", "a b", "é")).stdout
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(f"args-{arch}", "args.wasmu") == want
    # same trap messages and exit codes as wasmc exec
    texe = tmp_path / f"traps-{arch}"
    ok(wasmc("build", TRAPS, "--exe", "--target", arch, "-O1", "-o", texe))
    r = subprocess.run([*prefix, str(texe), "--invoke", "runaway", "0"], capture_output=True, text=True)
    assert r.returncode == 134 and r.stderr == "wasmc: trap: call stack exhausted (backtrace: runaway x32)\n"
    r = subprocess.run([*prefix, str(texe), "--invoke", "add", "2", "3"], capture_output=True, text=True)
    assert r.stdout == "5\n" and r.returncode == 0
    r = subprocess.run([*prefix, str(texe), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == "wasmc: usage error: No such option '--bogus'.\n"
    assert wasmc("exec", built / "traps.wasmu", "--bogus").stderr == r.stderr


def test_exe_needs_no_python_and_no_shared_library(built, tmp_path):
    exe = tmp_path / "args"
    ok(wasmc("build", ARGS_ENV, "--exe", "-O1", "-o", exe))
    out = subprocess.run(["file", str(exe)], capture_output=True, text=True).stdout
    assert "statically linked" in out
    r = subprocess.run([str(exe), "x"], capture_output=True, text=True, env={})
    assert r.returncode == 0 and "argc=2" in r.stdout


def test_progress_only_on_a_terminal(tmp_path):
    # Not a terminal: nothing on stderr.
    r = ok(wasmc("build", TRAPS, "--targets", "x86_64:v1,riscv64", "-O0", "-o", tmp_path / "q.wasmu"))
    assert r.stderr == ""
    # A terminal: one progress line per slice.
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-m", "wasmc", "build", str(TRAPS), "--targets",
                                  "x86_64:v1,riscv64", "-O0", "-o", str(tmp_path / "t.wasmu")])
    chunks = []
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "x86_64:v1" in text and "riscv64:rv64gc" in text and "lower" in text
    assert (tmp_path / "t.wasmu").read_bytes() == (tmp_path / "q.wasmu").read_bytes()


def _throwing_module() -> bytes:
    """(tag $own (export "own") (param i64 f64))
    (func (export "throw_own") (param i64) (throw $own (local.get 0) (f64.const 2.5)))"""
    import struct

    from wasmbuild import F64, I64, Mod, lget, name, uleb

    m = Mod()
    t = m.functype([I64, F64], [])
    m.tags.append(b"\x00" + uleb(t))
    f = m.func(m.functype([I64], []), lget(0) + b"\x44" + struct.pack("<d", 2.5) + b"\x08" + uleb(0))
    m.exports.append(name("own") + b"\x04" + uleb(0))
    m.exports.append(name("throw_own") + b"\x00" + uleb(f))
    return m.build()


def test_an_uncaught_exception_names_its_tag_everywhere(tmp_path):
    """The same line and exit code 134 in-process, in each architecture's
    runner and in a standalone executable."""
    src = tmp_path / "throw.wasm"
    src.write_bytes(_throwing_module())
    ok(wasmc("build", src, "--targets", "all", "-O0", "-o", tmp_path / "throw.wasmu"))
    want = "wasmc: trap: uncaught exception: tag own (-7, 2.5) (backtrace: throw_own)"
    for arch in (None,) + ARCHES:
        target = ("--target", arch) if arch else ()
        r = wasmc("exec", *target, tmp_path / "throw.wasmu", "--invoke", "throw_own", "--", "-7")
        assert one_line_error(r, 134) == want, arch
    ok(wasmc("build", src, "--exe", "-O0", "-o", tmp_path / "throw.exe"))
    r = subprocess.run([tmp_path / "throw.exe", "--invoke", "throw_own", "--", "-7"], capture_output=True, text=True)
    assert one_line_error(r, 134) == want
