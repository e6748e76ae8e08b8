"""The ``wasmc`` command line.

Every failure is reported as one line ``wasmc: <label>: <message>`` on
stderr with the exit code of its error class (see wasmc/errors.py and
docs/cli.md); no traceback reaches the user unless WASMC_DEBUG=1 is set.
``exec`` and ``inspect`` never load the compiler (llvmlite).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import FileError, Trap, WasmcError


def _fail(err: WasmcError):
    msg = str(err).replace("\n", " ")
    click.echo(f"wasmc: {err.label}: {msg}", err=True)
    sys.exit(err.exit_code)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FileError(f"cannot read {path}: {e.strerror or e}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmc")
def cli():
    """wasmc: WebAssembly ahead-of-time compiler and runner."""


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file):
    """Decode and validate FILE.wasm (exit 0 valid, 3 malformed, 4 invalid)."""
    from .wasm.decode import decode_module
    from .wasm.validate import validate_module

    validate_module(decode_module(_read(file)))


def _slice_specs(targets_opt: str):
    from . import targets

    specs = []
    names = []
    for part in targets_opt.split(","):
        part = part.strip()
        if part == "host":
            h = targets.host()
            if h is None:
                raise WasmcError("this machine's architecture is not a wasmc target")
            names.append(h.name)
        elif part == "all":
            names.extend(sorted(targets.all_targets()))
        else:
            names.append(part)
    for n in dict.fromkeys(names):
        arch, _, tier = n.partition(":")
        try:
            t = targets.get(arch)
            specs.append((t, t.tier(tier or None)))
        except KeyError as e:
            raise click.UsageError(str(e.args[0])) from None
    return specs


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="output .wasmu (default: FILE with .wasmu)")
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True, help="optimisation level")
@click.option("--targets", "targets_opt", default="host", show_default=True,
              help="comma-separated ARCH[:TIER] list, 'host' or 'all'")
@click.option("-j", "--jobs", type=int, default=0, help="worker processes (default: one per core)")
@click.option("--no-embed-wasm", is_flag=True, help="do not keep the original .wasm in the artifact")
def build(file, output, opt_level, targets_opt, jobs, no_embed_wasm):
    """Compile FILE.wasm into a universal artifact (.wasmu)."""
    from .compile.driver import BuildOptions, build as do_build
    from .container import write_atomic

    data = _read(file)
    specs = _slice_specs(targets_opt)
    out = do_build(data, specs, BuildOptions(opt_level=opt_level, jobs=jobs, keep_wasm=not no_embed_wasm),
                   source_name=file)
    output = output or str(Path(file).with_suffix(".wasmu"))
    write_atomic(output, out)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def inspect(file):
    """Show an artifact's imports, exports, slices, sizes and hashes."""
    from . import container

    art = container.load(file)
    m = art.metadata
    src = m.get("source") or {}
    click.echo(f"artifact:  {file} ({os.path.getsize(file)} bytes)")
    click.echo(f"compiler:  {m.get('compiler')} (LLVM {m.get('llvm')}), options {m.get('options')}")
    click.echo(f"source:    {src.get('name')} {src.get('size')} bytes sha256 {src.get('sha256')}"
               f"{' (embedded)' if src.get('embedded') else ''}")
    if m.get("features"):
        click.echo(f"features:  {', '.join(m['features'])}")
    click.echo(f"slices ({len(art.slices)}):")
    for s in art.slices:
        click.echo(f"  {s.arch:8} tier {s.tier:6} cpu {s.cpu:10} abi {s.abi_version:#010x} "
                   f"offset {s.offset:#x} size {s.size} sha256 {s.sha256}")
    click.echo(f"imports ({len(art.imports)}):")
    for i in art.imports:
        click.echo(f"  {i['module']}::{i['name']}  {i['kind']} {_fmt_type(i['kind'], i['type'])}")
    click.echo(f"exports ({len(art.exports)}):")
    for e in art.exports:
        click.echo(f"  {e['name']}  {e['kind']} {_fmt_type(e['kind'], e['type'])}")


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


def _parse_arg(t: str, s: str):
    try:
        if t in ("i32", "i64"):
            return int(s, 0)
        if t in ("f32", "f64"):
            return float(s)
        if t == "v128":
            return int(s, 0)
    except ValueError:
        raise click.UsageError(f"argument {s!r} is not a valid {t}") from None
    raise click.UsageError(f"cannot pass a {t} argument on the command line")


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
    click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                 help="interrupt the guest after SECONDS (a trap, exit code 134)"),
    click.argument("args", nargs=-1),
]


def _run_options(f):
    for opt in reversed(_RUN_OPTIONS):
        f = opt(f)
    return f


@cli.command(name="exec", context_settings={"ignore_unknown_options": False})
@click.argument("file", type=click.Path(dir_okay=False))
@_run_options
def exec_(file, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args):
    """Run a built artifact FILE.wasmu (never loads the compiler)."""
    from .runtime.api import Module

    _run(Module.load(file), file, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True)
@_run_options
def run(file, opt_level, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args):
    """Compile FILE.wasm (through the cache) and run it (a .wasmu runs as with exec)."""
    _run(_load_any(file, opt_level), file, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args)


def _load_any(path: str, opt_level: int = 2):
    """A module from a .wasmu artifact, or from a .wasm compiled through the cache."""
    from .container import MAGIC
    from .runtime.api import Module

    data = _read(path)
    if data.startswith(MAGIC):
        return Module.load(path)
    from .compile.cache import compile_cached

    return Module.load(compile_cached(data, opt_level=opt_level, source_name=path))


def _run(module, file, invoke, preloads, dirs, envs, inherit_env, listens, timeout, args):
    import signal

    from .runtime.api import Instance, Store
    from .runtime.wasi import WasiConfig, link_wasi

    # Guest code never returns to the Python interpreter loop while it runs, so
    # Python's own Ctrl-C handling would wait for it forever: let SIGINT end
    # the process directly, as it would a native program.
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    store = Store()
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
        cfg = WasiConfig(argv=[os.path.basename(file), *args], env=_env(envs, inherit_env),
                         preopens=[_preopen(d) for d in dirs], sockets=sockets)
        wasi = link_wasi(cfg, store, imports)
        for s in sockets:
            s.close()  # the WASI context holds its own duplicate
    for p in preloads:
        name, sep, path = p.partition("=")
        if not sep or not name or not path:
            raise click.UsageError(f"--preload expects NAME=FILE, got {p!r}")
        pre = Instance(_load_any(path), imports, store=store)
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
                click.echo(_fmt_result(ty, v))
            sys.stdout.flush()
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
            sys.stdout.flush()
            sys.exit(e.code)
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


@cli.command(name="spec-test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--target", default=None, help="target architecture (default: this machine)")
@click.option("-O", "opt_level", type=click.IntRange(0, 3), default=0, show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="also list skipped commands by reason")
def spec_test(files, target, opt_level, verbose):
    """Run spec-test scripts in wast2json/json-from-wast JSON form."""
    from .spectest import run_files

    r = run_files(files, opt_level=opt_level, target=target)
    for f in r.failures:
        click.echo(f)
    if verbose:
        for reason, n in sorted(r.skips.items(), key=lambda x: -x[1]):
            click.echo(f"skipped {n}: {reason}")
    click.echo(r.summary())
    sys.exit(1 if r.failed else 0)


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="wasmc", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("wasmc: aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except WasmcError as e:
        _fail(e)
    except RecursionError:
        click.echo("wasmc: error: input nests too deeply", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug: one line, and the traceback only on request
        if os.environ.get("WASMC_DEBUG"):
            raise
        click.echo(f"wasmc: internal error: {type(e).__name__}: {e} (set WASMC_DEBUG=1 for a traceback)",
                   err=True)
        sys.exit(1)
    sys.exit(0)

