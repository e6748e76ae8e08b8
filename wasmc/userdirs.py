"""Where wasmc keeps things for the user: the cache and the configuration.

Standard library only (the run path and the compiler both use it).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$WASMC_CACHE_DIR``, else ``$XDG_CACHE_HOME/wasmc`` (``~/.cache/wasmc``):
    the compile cache and the registry blob store live here."""
    d = os.environ.get("WASMC_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmc"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/wasmc`` (``~/.config/wasmc``): the trusted-keys file."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "wasmc"


def trusted_keys_file() -> Path:
    """The config file that lists trusted public keys (wasmc/signing.py)."""
    return config_dir() / "trusted-keys"
