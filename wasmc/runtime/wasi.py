"""WASI preview1 for instances: configuration and linking.

The functions themselves are C (runtime-shim/src/wasi/); this module builds
a ``wasmc_wasi`` context from a :class:`WasiConfig` and offers every
preview1 function as a native :class:`~wasmc.runtime.api.Func` under the
import module name ``wasi_snapshot_preview1``:

    cfg = wasmc.WasiConfig(argv=["app", "x"], env={"K": "V"}, preopens=[("data", "data")])
    imports = {}
    wasi = wasmc.link_wasi(cfg, store, imports)     # fills imports["wasi_snapshot_preview1"]
    inst = wasmc.Instance(module, imports, store=store)
    try:
        inst.exports["_start"]()
    except wasmc.Exit as e:
        status = e.code

Standard streams default to the host process's own (inherited); pass file
objects (with a real file descriptor) or paths to redirect them.  A host
stream that is closed (or was closed when Python started: ``sys.__stdout__``
is None, so its number may hold some other file by now) is closed for the
guest too: its reads and writes fail with ``badf``.

Arguments, environment strings and paths are bytes to WASI: ``bytes`` pass
unchanged, and ``str`` are encoded with :func:`os.fsencode`, so the
surrogate-escaped strings Python makes of non-UTF-8 command-line arguments
and file names give the original bytes back.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_int, c_void_p
from dataclasses import dataclass, field

from ..errors import FileError, WasmcError
from . import shim
from .api import Func, FuncType, Store

MODULE_NAME = "wasi_snapshot_preview1"

#: every preview1 function (the names wasmc_wasi_lookup knows)
FUNCTIONS = (
    "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get", "clock_time_get",
    "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags",
    "fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread",
    "fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
    "fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get",
    "path_filestat_set_times", "path_link", "path_open", "path_readlink", "path_remove_directory",
    "path_rename", "path_symlink", "path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise",
    "sched_yield", "random_get", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
)


class _Preopen(Structure):
    _fields_ = [("host_path", c_char_p), ("guest_path", c_char_p)]


class _Config(Structure):
    _fields_ = [("argc", c_int), ("argv", POINTER(c_char_p)), ("envc", c_int), ("envp", POINTER(c_char_p)),
                ("npreopens", c_int), ("preopens", POINTER(_Preopen)), ("stdin_fd", c_int),
                ("stdout_fd", c_int), ("stderr_fd", c_int), ("nsockets", c_int),
                ("sockets", POINTER(c_int))]


@dataclass
class WasiConfig:
    """What the guest sees: argv (argv[0] is the program name), its whole
    environment, preopened directories as (host path, guest path), its
    standard streams (None = inherit the host's, or a file object / fd / path),
    and preopened sockets (socket objects or fds, e.g. listening TCP sockets):
    the sockets become fds 3, 4, ... and the directories follow them, as with
    wasmtime's ``--tcplisten``."""

    argv: list = field(default_factory=lambda: ["wasm"])
    env: dict = field(default_factory=dict)
    preopens: list = field(default_factory=list)
    stdin: object = None
    stdout: object = None
    stderr: object = None
    sockets: list = field(default_factory=list)


def _b(s, what: str) -> bytes:
    b = os.fsencode(s)
    if b"\0" in b:
        raise WasmcError(f"{what} {b!r} contains a NUL byte")
    return b


_STD_STREAMS = ("__stdin__", "__stdout__", "__stderr__")


class Wasi:
    """A live WASI context (owned by a store; closed with the store)."""

    def __init__(self, cfg: WasiConfig):
        lib = shim.lib()
        if not hasattr(lib, "wasmc_wasi_new"):
            raise WasmcError("this wasmc runtime was built without WASI")
        self._lib = lib
        self._opened = []
        argv = [_b(a, "argument") for a in cfg.argv]
        envp = []
        for k, v in cfg.env.items():
            kb = _b(k, "environment variable name")
            if b"=" in kb or not kb:
                raise WasmcError(f"invalid environment variable name {k!r}")
            envp.append(kb + b"=" + _b(v, "environment variable value"))
        for host, guest in cfg.preopens:
            if not os.path.isdir(host):
                raise FileError(f"preopen {host}: not a directory")
        pre = (_Preopen * max(len(cfg.preopens), 1))()
        for i, (host, guest) in enumerate(cfg.preopens):
            pre[i].host_path = _b(host, "preopen")
            pre[i].guest_path = _b(guest, "preopen name")
        c = _Config()
        c.argc = len(argv)
        c.argv = (c_char_p * max(len(argv), 1))(*argv)
        c.envc = len(envp)
        c.envp = (c_char_p * max(len(envp), 1))(*envp)
        c.npreopens = len(cfg.preopens)
        c.preopens = pre
        c.stdin_fd = self._fd(cfg.stdin, 0, os.O_RDONLY)
        c.stdout_fd = self._fd(cfg.stdout, 1, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        c.stderr_fd = self._fd(cfg.stderr, 2, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        socks = [s if isinstance(s, int) else s.fileno() for s in cfg.sockets]
        c.nsockets = len(socks)
        c.sockets = (c_int * max(len(socks), 1))(*socks)
        err = ctypes.create_string_buffer(512)
        self._keep = (argv, envp, pre, c)
        self._ptr = lib.wasmc_wasi_new(ctypes.byref(c), err, len(err))
        for fd in self._opened:
            os.close(fd)
        self._opened = []
        if not self._ptr:
            raise WasmcError(f"cannot set up WASI: {err.value.decode('utf-8', 'replace')}")

    def _fd(self, spec, default: int, flags: int) -> int:
        if spec is None:
            # The host's own stream, unless it is closed: then the guest's is too.
            import sys

            if getattr(sys, _STD_STREAMS[default], None) is None:
                return -1
            try:
                os.fstat(default)
            except OSError:
                return -1
            return default
        if isinstance(spec, int):
            return spec
        if hasattr(spec, "fileno"):
            return spec.fileno()
        try:
            fd = os.open(spec, flags, 0o644)
        except OSError as e:
            raise FileError(f"cannot open {spec}: {e.strerror}") from None
        self._opened.append(fd)
        return fd

    def exit_code(self) -> int:
        return int(self._lib.wasmc_wasi_exit_code(self._ptr))

    def functions(self) -> dict:
        """name -> native Func for every preview1 function."""
        out = {}
        for name in FUNCTIONS:
            fn = c_void_p()
            sig = c_char_p()
            if not self._lib.wasmc_wasi_lookup(name.encode(), ctypes.byref(fn), ctypes.byref(sig)):
                continue
            params, _, results = sig.value.decode().partition(":")
            codes = {"i": "i32", "I": "i64", "f": "f32", "F": "f64"}
            ft = FuncType([codes[c] for c in params], [codes[c] for c in results])
            out[name] = Func._native(ft, fn.value, self._ptr, owner=self)
        return out

    def close(self):
        if getattr(self, "_ptr", None):
            self._lib.wasmc_wasi_free(self._ptr)
            self._ptr = None

    def __del__(self):
        self.close()


def link_wasi(cfg: WasiConfig, store: Store, imports: dict) -> Wasi:
    """Create a WASI context for STORE and add its functions to IMPORTS."""
    w = Wasi(cfg)
    store._wasi = w
    store._keep.append(w)
    imports[MODULE_NAME] = w.functions()
    return w
