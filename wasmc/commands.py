"""The click commands of ``wasmc`` (docs/cli.md).

wasmc/cli.py is the entry point: it runs ``exec`` itself when click is not
needed and hands every other command line to :data:`cli` here.  The code
that runs a module (``exec``, ``run``) lives in wasmc/cli.py and is shared
by both paths; these commands parse and convert their options and call it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli import (AMOUNTS, _argv0, _artifact_for, _client, _exec_foreign, _foreign, _Inputs, _isatty, _Limits,
                  _load_any, _out, _run, amount, exec_artifact, seconds)
from .errors import MAX_ARTIFACT_SIZE, MAX_WASM_SIZE, UsageError, WasmcError, check_input, read_input


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


class _Seconds(click.ParamType):
    """A --timeout (cli.seconds)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            return seconds(value)
        except UsageError as e:
            raise click.UsageError(str(e)) from None


class _Amount(click.ParamType):
    """A whole number for --fuel, --max-table-elements and --max-instances,
    or a size in bytes for --max-memory (cli.amount, cli.AMOUNTS)."""

    def __init__(self, flag: str):
        self.flag, self.name = flag, AMOUNTS[flag][0]

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return amount(self.flag, value)
        except UsageError as e:
            raise click.UsageError(str(e)) from None


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
    click.option("--fuel", type=_Amount("--fuel"), metavar="N",
                 help="stop the guest with a trap (exit code 134) once it has run N instructions (an artifact "
                 "built with --fuel; run compiles with it)"),
    click.option("--max-memory", type=_Amount("--max-memory"), metavar="BYTES",
                 help="let no linear memory grow beyond BYTES (memory.grow returns -1)"),
    click.option("--max-table-elements", type=_Amount("--max-table-elements"), metavar="N",
                 help="let no table grow beyond N elements (table.grow returns -1)"),
    click.option("--max-instances", type=_Amount("--max-instances"), metavar="N",
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
    exec_artifact(file, invoke, preloads, dirs, envs, inherit_env, listens, timeout,
                  _Limits(fuel, max_memory, max_table_elements, max_instances), arch, tier, trust,
                  plain_http, username, password_stdin, args)


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

