"""The ``wasmc`` command line.

Every failure is reported as one line ``wasmc: <label>: <message>`` on
stderr with the exit code of its error class (see wasmc/errors.py); no
traceback reaches the user unless WASMC_DEBUG=1 is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .errors import FileError, WasmcError


def _fail(err: WasmcError):
    click.echo(f"wasmc: {err.label}: {err}", err=True)
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


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="wasmc", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("wasmc: aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(2)
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
