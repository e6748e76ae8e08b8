"""The ``wasmc`` command line.

Every failure is reported as one line ``wasmc: <label>: <message>`` on
stderr with the exit code of its error class (see wasmc/errors.py and
docs/cli.md); no traceback reaches the user unless WASMC_DEBUG=1 is set.
``exec`` and ``inspect`` never load the compiler (llvmlite).
"""

from __future__ import annotations

import io
import os
import sys
import typing
from pathlib import Path

import click

from .errors import MAX_ARTIFACT_SIZE, MAX_WASM_SIZE, FileError, Trap, WasmcError, check_input, read_input

#: The longest --timeout, in seconds (about 31 years): the standalone runner's too.
MAX_TIMEOUT = 1e9
#: The process status of a guest's proc_exit must be in 0..MAX_EXIT_STATUS
#: (as in wasmtime): a shell gives 126 and above other meanings.
MAX_EXIT_STATUS = 125


def _say(line: str) -> None:
    """LINE on stderr; a closed or broken stderr loses it, nothing else."""
    try:
        click.echo(line.replace("\n", " "), err=True)
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
        click.echo(text)
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmc")
def cli():
    """wasmc: WebAssembly ahead-of-time compiler and runner."""


@cli.command()
@click.argument("file", type=click.Path())
def validate(file):
    """Decode and validate FILE.wasm (exit 0 valid, 3 malformed, 4 invalid)."""
    from .wasm.decode import decode_module
    from .wasm.validate import validate_module

    validate_module(decode_module(read_input(file, MAX_WASM_SIZE)))


def _slice_specs(targets_opt: str, what: str = "--targets"):
    """(Target, Tier) pairs for a ``--targets`` value: ``host`` (this
    machine's architecture, the best tier its CPU has), ``ARCH`` (that
    architecture's default tiers), ``ARCH:TIER``, ``all`` (every
    architecture's default tiers), comma-separated."""
    from . import targets

    specs = []
    for part in targets_opt.split(","):
        part = part.strip()
        if part == "host":
            h = targets.host()
            if h is None:
                raise WasmcError("this machine's architecture is not a wasmc target")
            best = targets.host_tiers()
            specs.append((h, best[0] if best else h.tier()))
        elif part == "all":
            specs.extend((t, tier) for t in targets.all_targets().values() for tier in t.default_tiers())
        else:
            arch, sep, tier = part.partition(":")
            try:
                t = targets.get(arch)
                specs.extend([(t, t.tier(tier))] if sep else [(t, x) for x in t.default_tiers()])
            except KeyError as e:
                raise click.UsageError(f"{what}: {e.args[0]}") from None
    return specs


class _RichProgress:
    """Progress of a build on a terminal: one line per slice (rich)."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[phase]}"), TimeElapsedColumn(), transient=False)
        self.tasks = {}

    def __enter__(self):
        self.bar.__enter__()
        self.lowering = self.bar.add_task("lower", total=1, phase="decode, validate, lower")
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def lowered(self, seconds):
        self.bar.update(self.lowering, completed=1, phase=f"{seconds:.1f} s")

    def slice_started(self, name, parts):
        self.tasks[name] = self.bar.add_task(name, total=parts + 1, phase="compiling")

    def part_done(self, name):
        self.bar.advance(self.tasks[name])

    def slice_phase(self, name, phase):
        if phase == "done":
            self.bar.update(self.tasks[name], advance=1, phase="done")
        else:
            self.bar.update(self.tasks[name], phase=phase)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError, AttributeError):
        return False


def _progress():
    """A progress display when stderr is a terminal; otherwise none (quiet)."""
    import contextlib

    if _isatty(sys.stderr) and not os.environ.get("WASMC_NO_PROGRESS"):
        return _RichProgress()
    return contextlib.nullcontext(None)


def _output_path(file: str, output: str | None, suffix: str) -> str:
    return output or str(Path(file).with_suffix(suffix))


@cli.command()
@click.argument("file", type=click.Path())
@click.option("-o", "--output", type=click.Path(),
              help="output file (default: FILE with .wasmu, or without suffix for --exe)")
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True, help="optimisation level")
@click.option("--targets", "targets_opt", default="host", show_default=True,
              help="comma-separated ARCH[:TIER] list (an ARCH alone: its default tiers), 'host' or 'all'")
@click.option("--exe", is_flag=True, help="write a standalone executable for one --target instead of a .wasmu")
@click.option("--target", "exe_target", default="host", show_default=True, metavar="ARCH[:TIER]",
              help="with --exe: the architecture (an ARCH alone: its baseline tier)")
@click.option("-j", "--jobs", type=int, default=0, help="worker processes (default: one per core)")
@click.option("--no-embed-wasm", is_flag=True, help="do not keep the original .wasm in the artifact")
@click.option("--fuel", is_flag=True, help="meter fuel: the code counts the instructions it runs "
              "(exec --fuel N stops it after N)")
def build(file, output, opt_level, targets_opt, exe, exe_target, jobs, no_embed_wasm, fuel):
    """Compile FILE.wasm into a universal artifact (.wasmu), or a standalone executable (--exe)."""
    from .compile.driver import BuildOptions, build as do_build
    from .container import write_atomic

    data = read_input(file, MAX_WASM_SIZE)
    if exe:
        from . import targets

        if targets_opt != "host":
            raise click.UsageError("--exe builds one architecture: use --target ARCH[:TIER], not --targets")
        if exe_target == "host":
            specs = _slice_specs("host", "--target")
        else:
            arch, sep, tier = exe_target.partition(":")
            try:
                t = targets.get(arch)
                specs = [(t, t.tier(tier or None))]
            except KeyError as e:
                raise click.UsageError(f"--target: {e.args[0]}") from None
    else:
        specs = _slice_specs(targets_opt)
    with _progress() as progress:
        out = do_build(data, specs, BuildOptions(opt_level=opt_level, jobs=jobs, keep_wasm=not no_embed_wasm,
                                                    fuel=fuel),
                       source_name=file, progress=progress)
    if exe:
        from .exe import write_executable

        write_executable(out, _output_path(file, output, ""))
        return
    write_atomic(_output_path(file, output, ".wasmu"), out)


@cli.command()
@click.argument("file", type=click.Path())
def inspect(file):
    """Show an artifact's imports, exports, slices, sizes and hashes."""
    from . import container

    check_input(file, MAX_ARTIFACT_SIZE)
    art = container.load(file)
    m = art.metadata
    src = m.get("source") or {}
    _out(f"artifact:  {file} ({os.path.getsize(file)} bytes)")
    _out(f"compiler:  {m.get('compiler')} (LLVM {m.get('llvm')}), options {m.get('options')}")
    _out(f"source:    {src.get('name')} {src.get('size')} bytes sha256 {src.get('sha256')}"
         f"{' (embedded)' if src.get('embedded') else ''}")
    if m.get("features"):
        _out(f"features:  {', '.join(m['features'])}")
    _out(f"slices ({len(art.slices)}):")
    for s in art.slices:
        _out(f"  {s.arch + ':' + s.tier:16} cpu {s.cpu:12} features {s.features or '-':24} "
             f"abi {s.abi_version:#010x} offset {s.offset:#x} size {s.size} sha256 {s.sha256}")
    _out(f"imports ({len(art.imports)}):")
    for i in art.imports:
        _out(f"  {i['module']}::{i['name']}  {i['kind']} {_fmt_type(i['kind'], i['type'])}")
    _out(f"exports ({len(art.exports)}):")
    for e in art.exports:
        _out(f"  {e['name']}  {e['kind']} {_fmt_type(e['kind'], e['type'])}")


def _fmt_type(kind, t) -> str:
    if kind in ("func", "tag"):
        return f"({', '.join(t['params'])}) -> ({', '.join(t['results'])})"
    if kind in ("memory", "table"):
        mx = "" if t.get("max") is None else f" max {t['max']}"
        el = f" {t['element']}" if kind == "table" else ""
        return f"{t['index_type']}{el} min {t['min']}{mx}"
    if kind == "global":
        return f"{'mut ' if t['mutable'] else ''}{t['type']}"
    return ""


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
            raise click.UsageError(f"cannot pass a {t} argument on the command line")
    except ValueError:
        pass
    raise click.UsageError(f"argument {s!r} is not a valid {t}")


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


class _Seconds(click.ParamType):
    """A --timeout: seconds, greater than 0 and at most MAX_TIMEOUT (not
    NaN, not infinite: a timer must be able to run)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            t = float(value)
        except ValueError:
            t = float("nan")
        if not 0 < t <= MAX_TIMEOUT:  # false for NaN
            raise click.UsageError(f"--timeout expects a number of seconds greater than 0 and at most 1e9, "
                                   f"got {value!r}")
        return t


class _Amount(click.ParamType):
    """A whole number for --fuel and --max-table-elements, or a size in
    bytes for --max-memory (optionally with K, M, G or T: powers of 1024),
    at most MAXIMUM.  The standalone runner parses them the same way."""

    def __init__(self, what: str, maximum: int, size: bool = False):
        self.name, self.maximum, self.size = what, maximum, size

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text, scale = value, 1
        if self.size and text[-1:] in ("K", "M", "G", "T"):
            scale = 1024 ** ("KMGT".index(text[-1]) + 1)
            text = text[:-1]
        if text.isascii() and text.isdigit() and int(text) * scale <= self.maximum:
            return int(text) * scale
        raise click.UsageError(f"{param.opts[0]} expects {self.name}, got {value!r}")


class _Limits(typing.NamedTuple):
    """--fuel, --max-memory, --max-table-elements and --max-instances (None:
    not given)."""

    fuel: int | None = None
    max_memory: int | None = None
    max_table_elements: int | None = None
    max_instances: int | None = None

    def runner_options(self) -> list:
        opts = []
        for flag, v in (("--fuel", self.fuel), ("--max-memory", self.max_memory),
                        ("--max-table-elements", self.max_table_elements),
                        ("--max-instances", self.max_instances)):
            if v is not None:
                opts += [flag, str(v)]
        return opts


def _fmt_result(t: str, v) -> str:
    if t in ("f32", "f64"):
        return repr(v)
    if v is None:
        return "null"
    return str(v)


_RUN_OPTIONS = [
    click.option("--invoke", "invoke", metavar="NAME", help="call export NAME with ARGS instead of _start"),
    click.option("--preload", "preloads", multiple=True, metavar="NAME=FILE",
                 help="instantiate FILE (.wasmu or .wasm) and make its exports importable as NAME"),
    click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST]", help="preopen a directory (WASI)"),
    click.option("--env", "envs", multiple=True, metavar="K=V", help="set a guest environment variable (WASI)"),
    click.option("--inherit-env", is_flag=True, help="pass the host environment to the guest (WASI)"),
    click.option("--tcplisten", "listens", multiple=True, metavar="HOST:PORT",
                 help="listen on a TCP address and hand the socket to the guest (WASI fd 3, 4, ...)"),
    click.option("--timeout", type=_Seconds(), metavar="SECONDS",
                 help="interrupt the guest after SECONDS (a trap, exit code 134)"),
    click.option("--fuel", type=_Amount("a whole number from 0 to 2**63 - 1", (1 << 63) - 1), metavar="N",
                 help="stop the guest with a trap (exit code 134) once it has run N instructions (an artifact "
                 "built with --fuel; run compiles with it)"),
    click.option("--max-memory", type=_Amount("a size in bytes (a whole number, optionally with K, M, G or T)",
                                              (1 << 64) - 1, size=True), metavar="BYTES",
                 help="let no linear memory grow beyond BYTES (memory.grow returns -1)"),
    click.option("--max-table-elements", type=_Amount("a whole number", (1 << 64) - 1), metavar="N",
                 help="let no table grow beyond N elements (table.grow returns -1)"),
    click.option("--max-instances", type=_Amount("a whole number", (1 << 64) - 1), metavar="N",
                 help="instantiate at most N modules (the program and its --preload modules)"),
    click.option("--target", "arch", metavar="ARCH",
                 help="run the slice for ARCH (another architecture runs under qemu-user)"),
    click.option("--tier", metavar="NAME", help="run this tier's slice (default: the best this CPU has; "
                 "also WASMC_TIER)"),
    click.option("--trust", "trust", multiple=True, type=click.Path(), metavar="KEY.pub",
                 help="run only artifacts signed by this key (also WASMC_TRUST and ~/.config/wasmc/trusted-keys)"),
    click.argument("args", nargs=-1),
]


def _registry_options(f):
    """--plain-http, --username, --password-stdin (push, pull, exec, run)."""
    for opt in reversed([
        click.option("--plain-http", is_flag=True, help="talk HTTP, not HTTPS, to the registry"),
        click.option("--username", metavar="USER", help="registry user (default: ~/.docker/config.json)"),
        click.option("--password-stdin", is_flag=True, help="read the registry password from standard input"),
    ]):
        f = opt(f)
    return f


def _run_options(f):
    for opt in reversed(_RUN_OPTIONS):
        f = opt(f)
    return f


@cli.command(name="exec", context_settings={"ignore_unknown_options": False})
@click.argument("file", metavar="FILE|oci://REF")
@_run_options
@_registry_options
def exec_(file, invoke, preloads, dirs, envs, inherit_env, listens, timeout, fuel, max_memory, max_table_elements,
          max_instances, arch, tier, trust, plain_http, username, password_stdin, args):
    """Run a built artifact FILE.wasmu, or one pulled from a registry (never loads the compiler)."""
    from .runtime.api import Module

    inputs = _Inputs(trust, plain_http, username, password_stdin)
    foreign = _foreign(arch)
    path = inputs.local(file, arch if foreign else None, tier)
    check_input(path, MAX_ARTIFACT_SIZE)
    limits = _Limits(fuel, max_memory, max_table_elements, max_instances)
    if foreign:
        return _exec_foreign(path, arch, tier, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args,
                             argv0=_argv0(file), inputs=inputs, limits=limits)
    inputs.check(path, tier=tier)
    _run(Module.load(path, tier=tier), _argv0(file), invoke, preloads, dirs, envs, inherit_env, listens, timeout,
         args, inputs, limits)


@cli.command()
@click.argument("file", metavar="FILE|oci://REF")
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True)
@_run_options
@_registry_options
def run(file, opt_level, invoke, preloads, dirs, envs, inherit_env, listens, timeout, fuel, max_memory,
        max_table_elements, max_instances, arch, tier, trust, plain_http, username, password_stdin, args):
    """Compile FILE.wasm (through the cache) and run it (a .wasmu or oci://REF runs as with exec)."""
    inputs = _Inputs(trust, plain_http, username, password_stdin)
    limits = _Limits(fuel, max_memory, max_table_elements, max_instances)
    metered = fuel is not None  # a .wasm is compiled with fuel metering when --fuel is given
    if _foreign(arch):
        path = _artifact_for(file, opt_level, arch, inputs, tier, fuel=metered)
        return _exec_foreign(path, arch, tier, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args,
                             argv0=_argv0(file), inputs=inputs, limits=limits)
    _run(_load_any(file, opt_level, tier, inputs, fuel=metered), _argv0(file), invoke, preloads, dirs, envs,
         inherit_env, listens, timeout, args, inputs, limits)


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
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise click.UsageError("--password-stdin: nothing to read on the standard input")
    return line.rstrip("\r\n")


def _client(ref_text: str, plain_http: bool, username, password_stdin: bool, password=None):
    """A registry client for REF_TEXT with the command's credentials."""
    from . import registry

    try:
        ref = registry.parse_reference(ref_text)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if password_stdin and username is None:
        raise click.UsageError("--password-stdin needs --username")
    if username is not None and password is None:
        if not password_stdin:
            raise click.UsageError("--username needs --password-stdin (a password is never an argument)")
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
        raise click.UsageError(f"--target: {e.args[0]}") from None
    host = targets.host()
    return host is None or host.name != arch


def _artifact_for(path: str, opt_level: int, arch: str | None = None, inputs: _Inputs | None = None,
                  tier: str | None = None, fuel: bool = False) -> str:
    """PATH if it is an artifact (oci://REF: pulled), checked against the
    trust list; a .wasm is compiled through the cache (for ARCH's baseline
    tier, or this machine's best): code this machine's compiler made."""
    from .container import MAGIC

    inputs = inputs or _Inputs()
    path = inputs.local(path, arch, tier)
    if read_input(path, MAX_ARTIFACT_SIZE, count=len(MAGIC)) == MAGIC:
        inputs.check(path, arch, tier)
        return path
    data = read_input(path, MAX_WASM_SIZE)
    from .compile.cache import compile_cached

    if arch is None:
        return str(compile_cached(data, opt_level=opt_level, source_name=path, fuel=fuel))
    from . import targets
    from .compile.cache import pin

    t = targets.get(arch)
    # For a runner that replaces this process (exec --target ARCH): a module
    # the cache could not keep must outlive wasmc's exit without leaking.
    return pin(compile_cached(data, opt_level=opt_level, source_name=path, slice_specs=[(t, t.tier())], fuel=fuel))


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
            raise click.UsageError(f"--preload expects NAME=FILE, got {p!r}")
        pre.append((name, _artifact_for(path, 2, arch, inputs, fuel=limits.fuel is not None)))
    foreign.exec_slice(file, arch, tier, argv0 or os.path.basename(file), opts, list(args), pre)


def _load_any(path: str, opt_level: int = 2, tier: str | None = None, inputs: _Inputs | None = None,
              fuel: bool = False):
    """A module from a .wasmu artifact (a file or oci://REF), or from a .wasm
    compiled through the cache (with fuel metering if FUEL)."""
    from .runtime.api import Module

    return Module.load(_artifact_for(path, opt_level, None, inputs, tier, fuel=fuel), tier=tier)


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
            raise click.UsageError("--fuel needs an artifact built with fuel metering: rebuild it with "
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
            raise click.UsageError(f"--preload expects NAME=FILE, got {p!r}")
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
                raise click.UsageError(f"{invoke} takes {len(t.params)} arguments, got {len(args)}")
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
            raise click.UsageError(f"--env expects K=V, got {kv!r}")
        env[k] = v
    return env


def _listen(addr: str):
    """A listening TCP socket for ``HOST:PORT`` (``[V6ADDR]:PORT`` for IPv6)."""
    import socket

    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.UsageError(f"--tcplisten expects HOST:PORT, got {addr!r}")
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


# --- slices: lipo for .wasmu ---------------------------------------------------

@cli.group()
def slices():
    """List, add, remove or extract the slices of an artifact (like lipo)."""


def _match(art, spec: str, what: str) -> list:
    """The slices of ART that SPEC names (ARCH: all its tiers; ARCH:TIER: one)."""
    from . import targets

    out = []
    for part in spec.split(","):
        arch, sep, tier = part.strip().partition(":")
        try:
            targets.get(arch)
        except KeyError as e:
            raise click.UsageError(f"{what}: {e.args[0]}") from None
        found = [x for x in art.slices if x.arch == arch and (not sep or x.tier == tier)]
        if not found:
            from .errors import NoSliceError
            from .runtime.select import slice_names

            raise NoSliceError(f"{art.path}: no slice {part.strip()} (artifact has: {slice_names(art)})")
        out += [x for x in found if x not in out]
    return out


@slices.command(name="list")
@click.argument("app", type=click.Path())
def slices_list(app):
    """List APP's slices: ARCH:TIER, CPU, features, size, SHA-256."""
    from . import container

    check_input(app, MAX_ARTIFACT_SIZE)
    for x in container.load(app).slices:
        _out(f"{x.arch}:{x.tier}\tcpu={x.cpu}\tfeatures={x.features or '-'}\tsize={x.size}\tsha256={x.sha256}")


@slices.command(name="remove")
@click.argument("app", type=click.Path())
@click.argument("spec", metavar="ARCH[:TIER]")
@click.option("-o", "--output", type=click.Path(), help="write here instead of replacing APP")
def slices_remove(app, spec, output):
    """Remove slices (an ARCH alone: all its tiers); nothing is recompiled."""
    from . import container

    check_input(app, MAX_ARTIFACT_SIZE)
    art = container.load(app)
    gone = _match(art, spec, "slices remove")
    keep = [container.with_data(art, x) for x in art.slices if x not in gone]
    if not keep:
        raise WasmcError(f"removing {spec} would leave {app} without any slice")
    container.write_atomic(output or app, container.repack(art, keep))


@slices.command(name="extract")
@click.argument("app", type=click.Path())
@click.argument("spec", metavar="ARCH[:TIER]")
@click.option("-o", "--output", type=click.Path(), required=True)
def slices_extract(app, spec, output):
    """Write a .wasmu holding only the named slices of APP."""
    from . import container

    check_input(app, MAX_ARTIFACT_SIZE)
    art = container.load(app)
    container.write_atomic(output, container.repack(art, [container.with_data(art, x)
                                                          for x in _match(art, spec, "slices extract")]))


@slices.command(name="add")
@click.argument("app", type=click.Path())
@click.argument("spec", metavar="ARCH[:TIER]")
@click.option("--from", "other", type=click.Path(),
              help="copy the slices from this artifact (built from the same .wasm) instead of compiling")
@click.option("-o", "--output", type=click.Path(), help="write here instead of replacing APP")
@click.option("-j", "--jobs", type=int, default=0, help="worker processes (default: one per core)")
def slices_add(app, spec, other, output, jobs):
    """Add slices (an ARCH alone: its default tiers), compiled from the
    embedded .wasm with the artifact's recorded options, or copied --from
    another artifact of the same source.  No other slice is recompiled."""
    from . import container
    from .errors import ArtifactError

    check_input(app, MAX_ARTIFACT_SIZE)
    art = container.load(app)
    have = {(x.arch, x.tier) for x in art.slices}
    if other is not None:
        check_input(other, MAX_ARTIFACT_SIZE)
        src = container.load(other)
        want = (art.metadata.get("source") or {}).get("sha256")
        if (src.metadata.get("source") or {}).get("sha256") != want:
            raise ArtifactError(f"{other} was built from another .wasm than {app} (source SHA-256 differs)")
        if src.metadata.get("options") != art.metadata.get("options"):
            raise ArtifactError(f"{other} was built with other options ({src.metadata.get('options')}) "
                                f"than {app} ({art.metadata.get('options')})")
        new = [container.with_data(src, x) for x in _match(src, spec, "slices add")]
    else:
        new = _compile_added(art, app, spec, jobs)
    dup = sorted(f"{x.arch}:{x.tier}" for x in new if (x.arch, x.tier) in have)
    if dup:
        raise WasmcError(f"{app} already has {', '.join(dup)} (remove it first to replace it)")
    old = [container.with_data(art, x) for x in art.slices]
    container.write_atomic(output or app, container.repack(art, old + new))


def _compile_added(art, app: str, spec: str, jobs: int) -> list:
    from . import container
    from .compile.driver import BuildOptions, compile_slices
    from .errors import ArtifactError
    from .wasm.decode import decode_module
    from .wasm.validate import validate_module

    if art.wasm is None:
        raise ArtifactError(f"{app} holds no .wasm to compile (built with --no-embed-wasm): "
                            "use --from OTHER.wasmu")
    container.verify_source(art)
    opts = art.metadata.get("options") or {}
    level = opts.get("opt_level", 2)
    if not isinstance(level, int) or not 0 <= level <= 3:
        raise ArtifactError(f"{app}: unknown recorded options {opts}")
    module = decode_module(art.wasm)
    validate_module(module)
    with _progress() as progress:
        return compile_slices(module, _slice_specs(spec, "slices add"), BuildOptions(opt_level=level, jobs=jobs),
                              progress)


# --- distribution: registries and signatures (docs/distribution.md) ---------------------

@cli.command()
@click.argument("app", type=click.Path())
@click.argument("ref", metavar="REGISTRY/REPO[:TAG]")
@_registry_options
def push(app, ref, plain_http, username, password_stdin):
    """Push APP.wasmu to a registry: an OCI index with one manifest per slice."""
    from . import registry

    check_input(app, MAX_ARTIFACT_SIZE)
    client = _client(ref, plain_http, username, password_stdin)
    digest = registry.push(client, app)
    st = client.stats
    _out(f"pushed {client.ref} ({', '.join(st.slices)}): {digest}; {st.blobs_sent} blobs sent "
         f"({st.bytes_sent} bytes), {st.blobs_present} already there")


@cli.command()
@click.argument("ref", metavar="REGISTRY/REPO[:TAG|@DIGEST]")
@click.option("-o", "--output", type=click.Path(), help="output file (default: REPO.wasmu here)")
@click.option("--target", "target", metavar="ARCH[:TIER]",
              help="that architecture's slices (or one slice) instead of this machine's best")
@click.option("--all", "every", is_flag=True, help="every slice: the pushed file, byte for byte")
@_registry_options
def pull(ref, output, target, every, plain_http, username, password_stdin):
    """Pull an artifact: by default only the slice this machine runs best."""
    from . import registry
    from .container import write_atomic

    if every and target:
        raise click.UsageError("--all and --target exclude each other")
    arch = tier = None
    if target:
        from . import targets

        arch, sep, tier = target.partition(":")
        try:
            t = targets.get(arch)
            if sep:
                t.tier(tier)
        except KeyError as e:
            raise click.UsageError(f"--target: {e.args[0]}") from None
        tier = tier or None
    client = _client(ref, plain_http, username, password_stdin)
    data = registry.pull(client, arch=arch, tier=tier, every=every)
    out = output or client.ref.repository.rsplit("/", 1)[-1] + ".wasmu"
    write_atomic(out, data)
    st = client.stats
    _out(f"pulled {client.ref} ({', '.join(st.slices)}) to {out} ({len(data)} bytes): {st.blobs_fetched} blobs "
         f"fetched ({st.bytes_fetched} bytes), {st.blobs_cached} from the local store, "
         f"{st.manifest_bytes} bytes of manifests")


@cli.command()
@click.argument("name")
def keygen(name):
    """Write an Ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub."""
    from . import signing

    key, pub = signing.keygen(name)
    _out(f"wrote {key} (private: keep it secret) and {pub}")


@cli.command()
@click.argument("app", type=click.Path())
@click.option("--key", "key_file", required=True, type=click.Path(), metavar="NAME.key", help="the private key")
@click.option("-o", "--output", type=click.Path(), help="write here instead of replacing APP")
def sign(app, key_file, output):
    """Sign every slice of APP (Ed25519 over the metadata; docs/container.md)."""
    from . import container, signing

    key = signing.load_private(key_file)
    check_input(app, MAX_ARTIFACT_SIZE)
    container.write_atomic(output or app, signing.sign(container.load(app), key))


@cli.command()
@click.argument("app", type=click.Path())
@click.option("--trust", "trust", multiple=True, type=click.Path(), metavar="NAME.pub",
              help="a trusted public key (also WASMC_TRUST and ~/.config/wasmc/trusted-keys)")
def verify(app, trust):
    """Check that every slice of APP is signed by a trusted key (exit 11 if not)."""
    from . import container, signing

    keys = signing.trust_list(trust)
    if not keys:
        raise click.UsageError("no trusted key: give --trust NAME.pub (or set WASMC_TRUST)")
    check_input(app, MAX_ARTIFACT_SIZE)
    for name, key in signing.verify(container.load(app), keys):
        _out(f"{name}\tsigned by {key.name} (key {key.key_id[:16]})")


@cli.command(name="spec-test")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--target", default=None, help="target architecture (default: this machine)")
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=0, show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="also list skipped commands by reason")
def spec_test(files, target, opt_level, verbose):
    """Run spec-test scripts in wast2json/json-from-wast JSON form."""
    from .spectest import run_files

    r = run_files(files, opt_level=opt_level, target=target)
    for f in r.failures:
        _out(f)
    if verbose:
        for reason, n in sorted(r.skips.items(), key=lambda x: -x[1]):
            _out(f"skipped {n}: {reason}")
    _out(r.summary())
    sys.exit(1 if r.failed else 0)


def main(argv=None):
    _hold_stdio()
    try:
        code = _dispatch(argv)
    except SystemExit as e:  # a command's own status (spec-test, the guest's proc_exit)
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    sys.exit(_flush_stdout(code))


def _dispatch(argv) -> int:
    """Run the command; its exit status.  Every failure is one line on stderr."""
    try:
        cli.main(args=argv, prog_name="wasmc", standalone_mode=False)
    except click.exceptions.Abort:
        _say("wasmc: aborted")
        return 130
    except click.exceptions.ClickException as e:
        # One line, like every other error (click's own format is four).
        _say(f"wasmc: usage error: {e.format_message()}")
        return e.exit_code if e.exit_code != 1 else 2
    except click.exceptions.Exit as e:
        return e.exit_code
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
    except Exception as e:  # a bug: one line, and the traceback only on request
        if os.environ.get("WASMC_DEBUG"):
            raise
        _say(f"wasmc: internal error: {type(e).__name__}: {e} (set WASMC_DEBUG=1 for a traceback)")
        return 1
    return 0
