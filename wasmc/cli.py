"""The ``wasmc`` command line: its entry point, and ``exec`` without click.

Every failure is reported as one line ``wasmc: <label>: <message>`` on
stderr with the exit code of its error class (see wasmc/errors.py and
docs/cli.md); no traceback reaches the user unless WASMC_DEBUG=1 is set.
``exec`` and ``inspect`` never load the compiler (llvmlite).

Start-up (docs/architecture.md, "The exec fast path"): the commands are
click commands (wasmc/commands.py), but importing click costs more than
the rest of ``wasmc exec hello.wasmu``.  So this module imports nothing
beyond the standard library's basics and wasmc/errors.py: ``main`` parses
an ``exec`` command line itself when it uses only the options it knows
(:func:`_fast_exec`), the way click would, and runs the same code the
click command runs (:func:`exec_artifact`).  Anything else (another
command, help, a registry reference, ``--target``, ``--preload``,
``--trust``, any option or value it would have to reject) goes to click,
so every message and exit code is click's (tests/unit/test_cli_fastpath.py
runs both on a matrix of command lines).  What both paths print goes
through :func:`_echo`, which writes what ``click.echo`` would.
"""

from __future__ import annotations

import io
import os
import sys

from .errors import (MAX_ARTIFACT_SIZE, MAX_WASM_SIZE, FileError, Trap, UsageError, WasmcError, check_input,
                     read_input)

#: The longest --timeout, in seconds (about 31 years): the standalone runner's too.
MAX_TIMEOUT = 1e9
#: The process status of a guest's proc_exit must be in 0..MAX_EXIT_STATUS
#: (as in wasmtime): a shell gives 126 and above other meanings.
MAX_EXIT_STATUS = 125
#: False: every command line goes through click (the equivalence tests).
_FAST = True


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except Exception:  # as click.utils.isatty: a stream that cannot say is no terminal
        return False


def _echo(text: str, err: bool = False) -> None:
    """TEXT and a newline on stdout (stderr if ERR), exactly as click.echo
    writes it: to the stream as it is when that is an ordinary text stream
    click would not re-wrap (not binary, its encoding not ASCII), with ANSI
    escape sequences removed unless the stream is a terminal.  Any other
    stream goes to click.echo itself (a closed descriptor's sink, a stream
    a caller replaced)."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:
        return
    if not (isinstance(stream, io.TextIOWrapper) and _text_encoding(stream)):
        import click

        click.echo(text, err=err)
        return
    text += "\n"
    if "\033" in text and not _isatty(stream):
        import re

        text = re.sub(r"\033\[[0-?]*[ -/]*[@-~]", "", text)  # click._compat._ansi_re
    stream.write(text)
    stream.flush()


def _text_encoding(stream) -> bool:
    """Does STREAM have an encoding click accepts as it is (any but ASCII)?"""
    import codecs

    enc, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
    if enc is None or errors is None:
        return False
    try:
        return codecs.lookup(enc or "ascii").name != "ascii"
    except LookupError:
        return True


def _say(line: str) -> None:
    """LINE on stderr; a closed or broken stderr loses it, nothing else."""
    try:
        _echo(line.replace("\n", " "), err=True)
    except (OSError, ValueError):
        pass


class _Discard(io.TextIOBase):
    """sys.stdout/stderr when the descriptor was closed: output is dropped."""

    def writable(self):
        return True

    def write(self, s):
        return len(s)


def _hold_stdio() -> None:
    """Keep closed standard descriptors closed, safely.

    A closed 0, 1 or 2 would be the number the next open() gets: the
    artifact, a socket, a file the guest opens, and then whatever writes to
    "standard output" would write into it.  Each closed one gets an O_PATH
    placeholder (which can neither read nor write, and which WASI treats as
    a closed slot, so the guest sees the stream closed); it is inheritable,
    so a runner started for another architecture sees the same.  Python's
    own sys.stdout/stderr are None then: they become sinks.  Output that is
    written is passed through as bytes (file names, guest strings), never
    re-encoded or refused."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            try:
                ph = os.open(os.devnull, os.O_PATH)
            except OSError:
                ph = os.open("/", os.O_PATH)
            if ph != fd:
                os.dup2(ph, fd)
                os.close(ph)
            os.set_inheritable(fd, True)
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, _Discard())
        elif name != "stdin" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def _out(text: str) -> None:
    """TEXT and a newline on the standard output; a failure to write there
    (a full disk, a pipe nobody reads any more) is an I/O error."""
    try:
        _echo(text)
    except OSError as e:
        _drop_stdout()
        raise FileError(f"cannot write the standard output: {e.strerror or e}") from None


def _drop_stdout() -> None:
    """After a write error on fd 1: send what is still buffered to /dev/null,
    so the interpreter's flush at exit does not fail (and report) again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _flush_stdout(code: int) -> int:
    """Flush the standard output at exit; a failure there is an I/O error
    (unless the command failed already)."""
    try:
        sys.stdout.flush()
        return code
    except ValueError:  # closed by someone: nothing to flush
        return code
    except OSError as e:
        _drop_stdout()
        _say(f"wasmc: {FileError.label}: cannot write the standard output: {e.strerror or e}")
        return code or FileError.exit_code


#: The integers each type accepts on the command line, as wasmtime: signed
#: or unsigned (so i32 takes [-2^31, 2^32)); v128 as one unsigned number.
_INT_RANGES = {"i32": (-(1 << 31), 1 << 32), "i64": (-(1 << 63), 1 << 64), "v128": (0, 1 << 128)}


def _parse_arg(t: str, s: str):
    try:
        if t in _INT_RANGES:
            v = int(s, 0)
            lo, hi = _INT_RANGES[t]
            if lo <= v < hi:
                return v
        elif t in ("f32", "f64"):
            return _parse_float(t, s)
        else:
            raise UsageError(f"cannot pass a {t} argument on the command line")
    except ValueError:
        pass
    raise UsageError(f"argument {s!r} is not a valid {t}")


def _parse_float(t: str, s: str) -> float:
    """S as the standalone runner reads it (C strtod): decimal or hexadecimal
    (``0x1p3``), ``inf``, ``nan``; no digit separators.  An f32 beyond its
    range rounds to infinity, as a C (float) conversion does."""
    import struct

    if "_" in s:
        raise ValueError(s)
    body = s.strip().lstrip("+-")
    v = float.fromhex(s) if body[:2].lower() == "0x" else float(s)
    if t == "f32":
        try:
            struct.pack("<f", v)
        except OverflowError:
            v = float("inf") if v > 0 else float("-inf")
    return v


def seconds(value: str) -> float:
    """A --timeout: seconds, greater than 0 and at most MAX_TIMEOUT (not
    NaN, not infinite: a timer must be able to run)."""
    try:
        t = float(value)
    except ValueError:
        t = float("nan")
    if not 0 < t <= MAX_TIMEOUT:  # false for NaN
        raise UsageError(f"--timeout expects a number of seconds greater than 0 and at most 1e9, got {value!r}")
    return t


#: The options that take an amount: what they expect, their maximum, and
#: whether a K, M, G or T suffix (powers of 1024) is allowed.  The
#: standalone runner parses them the same way.
AMOUNTS = {
    "--fuel": ("a whole number from 0 to 2**63 - 1", (1 << 63) - 1, False),
    "--max-memory": ("a size in bytes (a whole number, optionally with K, M, G or T)", (1 << 64) - 1, True),
    "--max-table-elements": ("a whole number", (1 << 64) - 1, False),
    "--max-instances": ("a whole number", (1 << 64) - 1, False),
}


def amount(flag: str, value: str) -> int:
    """VALUE of the amount option FLAG (a key of AMOUNTS)."""
    what, maximum, size = AMOUNTS[flag]
    text, scale = value, 1
    if size and text[-1:] in ("K", "M", "G", "T"):
        scale = 1024 ** ("KMGT".index(text[-1]) + 1)
        text = text[:-1]
    if text.isascii() and text.isdigit() and int(text) * scale <= maximum:
        return int(text) * scale
    raise UsageError(f"{flag} expects {what}, got {value!r}")


class _Limits:
    """--fuel, --max-memory, --max-table-elements and --max-instances (None:
    not given)."""

    __slots__ = ("fuel", "max_memory", "max_table_elements", "max_instances")

    def __init__(self, fuel: int | None = None, max_memory: int | None = None,
                 max_table_elements: int | None = None, max_instances: int | None = None):
        self.fuel, self.max_memory = fuel, max_memory
        self.max_table_elements, self.max_instances = max_table_elements, max_instances

    def runner_options(self) -> list:
        opts = []
        for flag, v in (("--fuel", self.fuel), ("--max-memory", self.max_memory),
                        ("--max-table-elements", self.max_table_elements),
                        ("--max-instances", self.max_instances)):
            if v is not None:
                opts += [flag, str(v)]
        return opts


def exec_artifact(file, invoke=None, preloads=(), dirs=(), envs=(), inherit_env=False, listens=(), timeout=None,
                  limits=None, arch=None, tier=None, trust=(), plain_http=False, username=None,
                  password_stdin=False, args=()):
    """``wasmc exec``: run artifact FILE (or oci://REF), never loading the compiler."""
    from .runtime.api import Module

    inputs = _Inputs(trust, plain_http, username, password_stdin)
    foreign = _foreign(arch)
    path = inputs.local(file, arch if foreign else None, tier)
    check_input(path, MAX_ARTIFACT_SIZE)
    limits = limits or _Limits()
    if foreign:
        return _exec_foreign(path, arch, tier, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args,
                             argv0=_argv0(file), inputs=inputs, limits=limits)
    _run(Module.load(path, tier=tier, verify=inputs.verifier(path)), _argv0(file), invoke, preloads, dirs, envs,
         inherit_env, listens, timeout, args, inputs, limits)


def _fmt_result(t: str, v) -> str:
    if t in ("f32", "f64"):
        return repr(v)
    if v is None:
        return "null"
    return str(v)


def _argv0(file: str) -> str:
    """The guest's argv[0]: the file's name, or the repository's for oci://REF."""
    if _is_reference(file):
        return file.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return os.path.basename(file)


def _is_reference(arg) -> bool:
    """registry.is_reference, without importing the registry code (exec FILE)."""
    return isinstance(arg, str) and arg.startswith("oci://")


class _Inputs:
    """Where exec and run get artifacts (files, or oci:// references pulled
    through the local store) and whose signatures they must carry."""

    def __init__(self, trust=(), plain_http=False, username=None, password_stdin=False):
        self.trust = trust
        self.registry = (plain_http, username, password_stdin)
        self._trusted = None
        self._password = None
        self._shown = {}  # local path -> the oci:// reference it came from

    def trusted(self) -> list:
        """The trust list (--trust, WASMC_TRUST, the config file); empty: no policy."""
        if self._trusted is None:
            from .userdirs import trusted_keys_file

            if not self.trust and not os.environ.get("WASMC_TRUST") and not trusted_keys_file().is_file():
                return []  # nothing names a key (signing.trust_list's sources), so no need to load it
            from . import signing

            self._trusted = signing.trust_list(self.trust)
        return self._trusted

    def local(self, arg: str, arch: str | None = None, tier: str | None = None) -> str:
        """ARG if it is a path; for oci://REF, the artifact pulled (ARCH's
        slices, or this machine's best) into the local store."""
        if not _is_reference(arg):
            return arg
        from . import registry

        client = self.client(arg)
        path = registry.cached_artifact(client, registry.pull(client, arch=arch, tier=tier if arch is None else None))
        self._shown[path] = arg
        return path

    def client(self, ref_text: str):
        return _client(ref_text, *self.registry, password=self._read_password())

    def _read_password(self):
        if self.registry[2] and self._password is None:
            self._password = _stdin_password()
        return self._password

    def verifier(self, path: str):
        """For Module.load: a check of the slice about to run against the
        trust list, on the bytes read from the descriptor that loads it (no
        window between checking and running); None without a trust list."""
        trusted = self.trusted()
        if not trusted:
            return None
        from . import signing

        shown = self._shown.get(path)

        def verify(art, s):
            if shown:
                art.path = shown
            return signing.verified_slice(art, s, trusted)[1]

        return verify

    def check(self, path: str, arch: str | None = None, tier: str | None = None) -> None:
        """Refuse PATH (before anything is mapped) unless the slice that will
        run is signed by a trusted key; nothing to do without a trust list."""
        if not self.trusted():
            return
        from . import signing

        hwcap = None
        if arch is not None:
            from .runtime.foreign import emulated_hwcap

            hwcap = emulated_hwcap(arch)
        signing.require(path, self.trusted(), arch, tier, hwcap, shown=self._shown.get(path))


def _stdin_password() -> str:
    """The first line of standard input, read from descriptor 0 a byte at a
    time so that nothing after it is taken: with ``exec oci://REF`` the rest
    is the guest's standard input (sys.stdin.readline buffered it away)."""
    line, ended = bytearray(), False
    try:
        while len(line) < 65536:
            b = os.read(0, 1)
            if not b:
                break
            if b == b"\n":
                ended = True
                break
            line += b
    except OSError:  # descriptor 0 closed
        pass
    if not line and not ended:
        raise UsageError("--password-stdin: nothing to read on the standard input")
    try:
        return line.decode().rstrip("\r")
    except UnicodeDecodeError:
        raise UsageError("--password-stdin: the password is not UTF-8") from None


def _client(ref_text: str, plain_http: bool, username, password_stdin: bool, password=None):
    """A registry client for REF_TEXT with the command's credentials."""
    from . import registry

    try:
        ref = registry.parse_reference(ref_text)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if password_stdin and username is None:
        raise UsageError("--password-stdin needs --username")
    if username is not None and password is None:
        if not password_stdin:
            raise UsageError("--username needs --password-stdin (a password is never an argument)")
        password = _stdin_password()
    return registry.Client(ref, plain_http=plain_http, username=username, password=password)


def _foreign(arch: str | None) -> bool:
    """Is ARCH given and another architecture than this machine's?"""
    if arch is None:
        return False
    from . import targets

    try:
        targets.get(arch)
    except KeyError as e:
        raise UsageError(f"--target: {e.args[0]}") from None
    host = targets.host()
    return host is None or host.name != arch


def _artifact_for(path: str, opt_level: int, arch: str | None = None, inputs: _Inputs | None = None,
                  tier: str | None = None, fuel: bool = False) -> str:
    """PATH if it is an artifact (oci://REF: pulled), checked against the
    trust list; a .wasm is compiled through the cache (for ARCH's baseline
    tier, or this machine's best): code this machine's compiler made."""
    inputs = inputs or _Inputs()
    local, given = _resolve(path, opt_level, arch, inputs, tier, fuel)
    if given:
        inputs.check(local, arch, tier)
    return local


def _resolve(path: str, opt_level: int, arch: str | None, inputs: _Inputs, tier: str | None,
             fuel: bool) -> tuple:
    """(the artifact to run for PATH, whether it is the one given -- a file
    or a pull -- rather than one this machine compiled from a .wasm)."""
    from .container import MAGIC

    path = inputs.local(path, arch, tier)
    if read_input(path, MAX_ARTIFACT_SIZE, count=len(MAGIC)) == MAGIC:
        return path, True
    data = read_input(path, MAX_WASM_SIZE)
    from .compile.cache import compile_cached

    if arch is None:
        return str(compile_cached(data, opt_level=opt_level, source_name=path, fuel=fuel)), False
    from . import targets
    from .compile.cache import pin

    t = targets.get(arch)
    # For a runner that replaces this process (exec --target ARCH): a module
    # the cache could not keep must outlive wasmc's exit without leaking.
    return pin(compile_cached(data, opt_level=opt_level, source_name=path, slice_specs=[(t, t.tier())],
                              fuel=fuel)), False


def _exec_foreign(file, arch, tier, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args, argv0=None,
                  inputs=None, limits=None):
    from .runtime import foreign

    inputs = inputs or _Inputs()
    inputs.check(file, arch, tier)
    opts = []
    if invoke is not None:
        opts += ["--invoke", invoke]
    for d in dirs:
        opts += ["--dir", d]
    for e in envs:
        opts += ["--env", e]
    if inherit_env:
        opts.append("--inherit-env")
    for a in listens:
        opts += ["--tcplisten", a]
    if timeout is not None:
        opts += ["--timeout", repr(timeout)]
    limits = limits or _Limits()
    opts += limits.runner_options()
    pre = []
    for p in preloads:
        name, sep, path = p.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--preload expects NAME=FILE, got {p!r}")
        pre.append((name, _artifact_for(path, 2, arch, inputs, fuel=limits.fuel is not None)))
    foreign.exec_slice(file, arch, tier, argv0 or os.path.basename(file), opts, list(args), pre)


def _load_any(path: str, opt_level: int = 2, tier: str | None = None, inputs: _Inputs | None = None,
              fuel: bool = False):
    """A module from a .wasmu artifact (a file or oci://REF), or from a .wasm
    compiled through the cache (with fuel metering if FUEL)."""
    from .runtime.api import Module

    inputs = inputs or _Inputs()
    local, given = _resolve(path, opt_level, None, inputs, tier, fuel)
    # A given artifact is checked against the trust list on the bytes that load it.
    return Module.load(local, tier=tier, verify=inputs.verifier(local) if given else None)


def _run(module, name, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args, inputs=None,
         limits=None):
    import signal

    from .runtime.api import Instance, Store
    from .runtime.wasi import WasiConfig, link_wasi

    # Guest code never returns to the Python interpreter loop while it runs, so
    # Python's own Ctrl-C handling would wait for it forever: let SIGINT end
    # the process directly, as it would a native program.
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    limits = limits or _Limits()
    store = Store()
    if (limits.max_memory, limits.max_table_elements, limits.max_instances) != (None, None, None):
        store.set_limits(memory_size=limits.max_memory, table_elements=limits.max_table_elements,
                         instances=limits.max_instances)
    if limits.fuel is not None:
        if not module.fuel:
            raise UsageError("--fuel needs an artifact built with fuel metering: rebuild it with "
                                   "wasmc build --fuel")
        store.set_fuel(limits.fuel)
    timer = None
    if timeout is not None:
        import threading

        # Started before instantiation: a start function is guest code too.
        timer = threading.Timer(timeout, store.interrupt)
        timer.daemon = True
        timer.start()
    imports: dict = {}
    wasi = None
    needs_wasi = any(i["module"].startswith("wasi_") for i in module.imports)
    sockets = [_listen(a) for a in listens]
    if needs_wasi or dirs or envs or inherit_env or sockets:
        cfg = WasiConfig(argv=[name, *args], env=_env(envs, inherit_env),
                         preopens=[_preopen(d) for d in dirs], sockets=sockets)
        wasi = link_wasi(cfg, store, imports)
        for s in sockets:
            s.close()  # the WASI context holds its own duplicate
    for p in preloads:
        name, sep, path = p.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--preload expects NAME=FILE, got {p!r}")
        pre = Instance(_load_any(path, inputs=inputs, fuel=limits.fuel is not None), imports, store=store)
        imports[name] = dict(pre.exports)
    try:
        inst = Instance(module, imports, store=store)
        init = inst.exports.get("_initialize")
        if invoke is not None and init is not None and hasattr(init, "call"):
            init()  # a WASI "reactor" initialises itself before any export is called
        if invoke is not None:
            f = inst.exports.get(invoke)
            if f is None or not hasattr(f, "call"):
                raise WasmcError(f"no exported function named {invoke!r}")
            t = f.type
            if len(args) != len(t.params):
                raise UsageError(f"{invoke} takes {len(t.params)} arguments, got {len(args)}")
            res = f(*[_parse_arg(ty, a) for ty, a in zip(t.params, args)])
            vals = () if res is None else (res if isinstance(res, tuple) else (res,))
            for ty, v in zip(t.results, vals):
                _out(_fmt_result(ty, v))
            return
        start = inst.exports.get("_start")
        if start is None:
            if wasi is None:
                raise WasmcError("the module exports no _start; use --invoke NAME")
            return
        start()
    except Trap as e:
        from .runtime.api import Exit

        if isinstance(e, Exit):
            status = e.code & 0xFFFFFFFF  # proc_exit takes a u32
            if status > MAX_EXIT_STATUS:
                raise WasmcError(f"the guest exited with status {status}: a WASI exit status must be in "
                                 f"0..{MAX_EXIT_STATUS}") from None
            sys.exit(status)
        if e.kind == "interrupted" and timeout is not None:
            raise Trap(e.kind, f"interrupted after the --timeout of {timeout:g} s", e.backtrace) from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if wasi is not None:
            wasi.close()


def _env(envs, inherit) -> dict:
    env = dict(os.environ) if inherit else {}
    for kv in envs:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise UsageError(f"--env expects K=V, got {kv!r}")
        env[k] = v
    return env


def _listen(addr: str):
    """A listening TCP socket for ``HOST:PORT`` (``[V6ADDR]:PORT`` for IPv6)."""
    import socket

    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--tcplisten expects HOST:PORT, got {addr!r}")
    family = socket.AF_INET
    if host.startswith("[") and host.endswith("]"):
        host, family = host[1:-1], socket.AF_INET6
    try:
        return socket.create_server((host, int(port)), family=family)
    except (OSError, ValueError) as e:
        raise FileError(f"--tcplisten {addr}: {getattr(e, 'strerror', None) or e}") from None


def _preopen(spec: str):
    host, sep, guest = spec.partition("::")
    if not sep:
        guest = host
    if not os.path.isdir(host):
        raise FileError(f"--dir {host}: not a directory")
    return host, guest


# --- the entry point --------------------------------------------------------------

#: The exec options the fast path parses (everything else goes to click):
#: those that keep every value (exec_artifact's keyword for them), the
#: flags, and those that keep their last value.
_FAST_MANY = {"--dir": "dirs", "--env": "envs", "--tcplisten": "listens"}
_FAST_FLAGS = ("--inherit-env",)
_FAST_ONE = ("--invoke", "--tier", "--timeout", *AMOUNTS)


def _fast_exec(argv: list) -> dict | None:
    """The keyword arguments of exec_artifact for the command line ARGV
    when it is an ``exec`` that click would accept and the fast path
    handles; None otherwise (click takes it, for its messages too).

    Parsed as click parses a command: options may come before, between or
    after the arguments, ``--`` ends them, a value is the next argument
    whatever it looks like (or follows ``=``), and a repeated single-value
    option keeps its last value."""
    if not argv or argv[0] != "exec" or os.environ.get("_WASMC_COMPLETE"):  # click's shell completion
        return None
    rest, positional, raw = list(argv[1:]), [], {}
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            positional += rest
            break
        if arg[:1] != "-" or len(arg) == 1:
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _FAST_FLAGS:
            if eq:
                return None  # click: "does not take a value"
            raw[name] = True
            continue
        if name not in _FAST_MANY and name not in _FAST_ONE:
            return None  # -h, --help, --target, --preload, --trust, registry options, unknown ones
        if not eq:
            if not rest:
                return None  # click: "requires an argument"
            value = rest.pop(0)
        if name in _FAST_MANY:
            raw.setdefault(name, []).append(value)
        else:
            raw[name] = value
    if not positional or _is_reference(positional[0]):
        return None  # no FILE (click's message), or a registry reference
    kw = {"file": positional[0], "args": tuple(positional[1:]), "inherit_env": "--inherit-env" in raw,
          "invoke": raw.get("--invoke"), "tier": raw.get("--tier")}
    for flag, key in _FAST_MANY.items():
        kw[key] = tuple(raw.get(flag, ()))
    try:
        kw["timeout"] = seconds(raw["--timeout"]) if "--timeout" in raw else None
        kw["limits"] = _Limits(*(amount(flag, raw[flag]) if flag in raw else None for flag in AMOUNTS))
    except UsageError:
        return None  # click reports it (and any other mistake on the line first, as it would)
    return kw


def main(argv=None):
    _hold_stdio()
    try:
        code = _dispatch(argv)
    except SystemExit as e:  # a command's own status (spec-test, the guest's proc_exit)
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    sys.exit(_flush_stdout(code))


def _dispatch(argv) -> int:
    """Run the command; its exit status.  Every failure is one line on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        fast = _fast_exec(argv) if _FAST else None
        if fast is not None:
            return _invoke_fast(fast)
        from .commands import cli

        cli.main(args=argv, prog_name="wasmc", standalone_mode=False)
    except WasmcError as e:
        _say(f"wasmc: {e.label}: {e}")
        return e.exit_code
    except RecursionError:
        _say("wasmc: error: input nests too deeply")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # e.g. the standard output is a closed pipe
        name = os.fsdecode(e.filename) if isinstance(e.filename, bytes) else e.filename
        where = f"{name}: " if name is not None else ""
        _say(f"wasmc: {FileError.label}: {where}{e.strerror or e}")
        return FileError.exit_code
    except Exception as e:
        code = _click_exception(e)
        if code is not None:
            return code
        if os.environ.get("WASMC_DEBUG"):  # a bug: one line, and the traceback only on request
            raise
        _say(f"wasmc: internal error: {type(e).__name__}: {e} (set WASMC_DEBUG=1 for a traceback)")
        return 1
    return 0


def _invoke_fast(kw: dict) -> int:
    """exec_artifact(**KW), with what click's Command.main does around a
    command (standalone_mode=False): Ctrl-C or end of input aborts after a
    blank line, a broken pipe ends with status 1 and quiet streams."""
    try:
        exec_artifact(**kw)
    except (EOFError, KeyboardInterrupt):
        _echo("", err=True)
        _say("wasmc: aborted")
        return 130
    except OSError as e:
        import errno

        if e.errno != errno.EPIPE:
            raise
        from click.utils import _PacifyFlushWrapper

        sys.stdout, sys.stderr = _PacifyFlushWrapper(sys.stdout), _PacifyFlushWrapper(sys.stderr)
        return 1
    return 0


def _click_exception(e: Exception) -> int | None:
    """The exit status for one of click's own exceptions (after its one
    line on stderr), None for any other exception."""
    click = sys.modules.get("click")
    if click is None:
        return None
    if isinstance(e, click.exceptions.Abort):
        _say("wasmc: aborted")
        return 130
    if isinstance(e, click.exceptions.ClickException):
        # One line, like every other error (click's own format is four).
        _say(f"wasmc: usage error: {e.format_message()}")
        return e.exit_code if e.exit_code != 1 else 2
    if isinstance(e, click.exceptions.Exit):
        return e.exit_code
    return None
