"""One error hierarchy for everything a user can see go wrong.

Every failure that reaches the command line is one of these classes; the CLI
prints ``wasmc: <label>: <message>`` on one line and exits with the class's
``exit_code``.  The codes are documented in README.md and docs/cli.md and are
part of the interface: scripts depend on them, so never renumber.

    0    success (or the guest's own proc_exit code, 0..125, under ``wasmc exec``)
    1    internal error (a bug in wasmc; the message says so), or a guest's
         proc_exit status outside 0..125
    2    usage error (bad command-line arguments)
    3    malformed module (the binary cannot be decoded)
    4    invalid module (decodes but does not validate)
    5    unsupported feature (valid Wasm that this wasmc cannot compile yet)
    6    link error (imports cannot be satisfied), instantiation failed, or
         it needs more than the store's resource limits allow
    7    bad artifact (.wasmu corrupt, truncated, or built for another ABI)
    8    no slice in the artifact fits this machine
    9    I/O error (missing, unreadable, non-regular or too large input;
         cannot write the output or the standard output)
    10   compile error (LLVM or the linker failed on valid input)
    11   untrusted artifact (unsigned, not signed by a trusted key, a
         signature that does not verify, or a key file that is no key)
    12   registry error (unreachable, TLS, protocol, a blob or manifest
         that does not match its digest)
    13   the registry refused the credentials (or asked for some)
    14   no such repository, tag or digest in the registry
    134  the guest trapped (same value as wasmtime: 128 + SIGABRT)

It also holds read_input/check_input: every way reading an input file can
go wrong (a device, a FIFO, a directory, too large, unreadable) as one
FileError.
"""

from __future__ import annotations

import os
import stat


class WasmcError(Exception):
    """Base of every error wasmc reports to a user."""

    exit_code = 1
    label = "error"


class WasmError(WasmcError):
    """The input module is not acceptable WebAssembly."""


class UsageError(WasmcError):
    """A command line wasmc cannot use, found by wasmc's own code (click
    reports the mistakes its parser finds the same way)."""

    exit_code = 2
    label = "usage error"


class MalformedError(WasmError):
    """The binary cannot be decoded (the spec's *malformed*)."""

    exit_code = 3
    label = "malformed module"

    def __init__(self, message: str, offset: int | None = None):
        self.message = message
        self.offset = offset
        text = message if offset is None else f"{message} (at byte offset {offset:#x})"
        super().__init__(text)


class ValidationError(WasmError):
    """The module decodes but breaks a validation rule (the spec's *invalid*)."""

    exit_code = 4
    label = "invalid module"

    def __init__(self, message: str, offset: int | None = None, func: int | None = None):
        self.message = message
        self.offset = offset
        self.func = func
        where = []
        if func is not None:
            where.append(f"in function {func}")
        if offset is not None:
            where.append(f"at byte offset {offset:#x}")
        text = message + (f" ({', '.join(where)})" if where else "")
        super().__init__(text)


class UnsupportedError(WasmcError):
    """Valid Wasm that uses a feature this compiler does not lower yet."""

    exit_code = 5
    label = "unsupported feature"


class LinkError(WasmcError):
    """Imports could not be resolved (missing, or of the wrong type)."""

    exit_code = 6
    label = "link error"


class InstantiationError(WasmcError):
    """Instantiation failed after linking (e.g. a segment does not fit)."""

    exit_code = 6
    label = "instantiation error"


class ResourceLimitError(InstantiationError):
    """Instantiation needs more than the store's limits allow (``Store.set_limits``,
    ``--max-memory``, ``--max-table-elements``, ``--max-instances``)."""

    label = "resource limit exceeded"


class ArtifactError(WasmcError):
    """A .wasmu file is corrupt, truncated, or incompatible with this runtime."""

    exit_code = 7
    label = "bad artifact"


class NoSliceError(ArtifactError):
    """The artifact has no slice this machine can run."""

    exit_code = 8
    label = "no matching slice"


class FileError(WasmcError):
    """A file could not be read or written."""

    exit_code = 9
    label = "I/O error"


class CompileError(WasmcError):
    """Code generation or linking failed on valid input (a compiler limitation or bug)."""

    exit_code = 10
    label = "compile error"


class SignatureError(WasmcError):
    """An artifact is not signed by a trusted key, or a key cannot be used (wasmc/signing.py)."""

    exit_code = 11
    label = "untrusted artifact"


class RegistryError(WasmcError):
    """An OCI registry could not be used (wasmc/registry.py)."""

    exit_code = 12
    label = "registry error"


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or asked for some and none were given."""

    exit_code = 13
    label = "registry authentication failed"


class NotFoundError(RegistryError):
    """The registry has no such repository, tag or digest."""

    exit_code = 14
    label = "not found"


class Trap(WasmcError):
    """Guest code trapped.

    ``kind`` is the short trap name from :mod:`wasmc.abi` (``"unreachable"``,
    ``"out of bounds memory access"``, ...); ``backtrace`` is a list of
    function names (innermost first) where the module has names.
    """

    exit_code = 134
    label = "trap"

    def __init__(self, kind: str, message: str | None = None, backtrace: list[str] | None = None):
        self.kind = kind
        self.backtrace = list(backtrace or [])
        self.message = message or kind
        text = self.message
        if self.backtrace:
            text += " (backtrace: " + format_backtrace(self.backtrace) + ")"
        super().__init__(text)


def format_backtrace(frames: list, limit: int = 8) -> str:
    """Innermost first, runs of one name collapsed: ``f x31 <- g <- main``."""
    runs: list = []
    for name in frames:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    parts = [n if c == 1 else f"{n} x{c}" for n, c in runs[:limit]]
    if len(runs) > limit:
        parts.append("...")
    return " <- ".join(parts)


# ---------------------------------------------------------------------------
# Reading input files
# ---------------------------------------------------------------------------

#: The largest .wasm (or spec-test script) wasmc reads: 1 GiB, the module
#: size limit WebAssembly engines agree on (wasmparser's
#: MAX_WASM_MODULE_SIZE, V8's kV8MaxWasmModuleSize).
MAX_WASM_SIZE = 1 << 30
#: The largest artifact: room for a .wasm of that size embedded and its
#: slices of native code.
MAX_ARTIFACT_SIZE = 4 << 30


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for messages ("a FIFO", ...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _open_input(path, limit: int) -> tuple[int, int]:
    """(descriptor, size) of the regular file PATH, at most LIMIT bytes long.
    Opened without blocking (a FIFO with no writer), and never as a terminal."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise FileError(f"cannot read {os.fsdecode(path)}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"cannot read {os.fsdecode(path)}: it is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileError(f"cannot read {os.fsdecode(path)}: {st.st_size} bytes, more than the limit of "
                            f"{limit >> 30} GiB")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def check_input(path, limit: int) -> None:
    """Raise FileError unless PATH is a readable regular file of at most LIMIT bytes."""
    os.close(_open_input(path, limit)[0])


def read_input(path, limit: int, count: int | None = None) -> bytes:
    """The contents of the regular file PATH (its first COUNT bytes if
    given); FileError if it is anything else (a device, a FIFO, a
    directory), larger than LIMIT bytes (also if it grows while being
    read), or unreadable."""
    fd, size = _open_input(path, limit)
    try:
        chunks = []
        total = 0
        while count is None or total < count:
            want = min(max(size, 1 << 16), limit + 1 - total)
            b = os.read(fd, want if count is None else min(want, count - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > limit:
                raise FileError(f"cannot read {os.fsdecode(path)}: more than the limit of {limit >> 30} GiB")
        return b"".join(chunks)
    except OSError as e:
        raise FileError(f"cannot read {os.fsdecode(path)}: {e.strerror or e}") from None
    finally:
        os.close(fd)
