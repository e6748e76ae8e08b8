"""A store in another process: the client of ``runner --serve``.

The spec-test runner runs a foreign architecture's slices in that
architecture's standalone runner under qemu-user; this module speaks the
runner's line protocol (runtime-shim/exe/serve.c documents it) and offers
the few operations a test script needs: create host externs, load an image,
instantiate it with externs, call functions, read globals, free instances.

Externs are small integer handles in the server; this side keeps their
kind (and, for functions, the server knows their types).  Errors come back
as the same exception classes the in-process runtime raises (LinkError,
ArtifactError, Trap, ...), so the spec runner treats both alike.

One server serves many scripts in a row (``reset`` between them): qemu's
start-up and its translation cache are paid once, and the shim's pool of
memory reservations keeps qemu's memory bounded.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from .. import abi
from ..errors import ArtifactError, InstantiationError, LinkError, Trap, WasmcError
from . import runners


class ServerDied(WasmcError):
    """The runner process ended (a crash of the runtime, never a guest trap)."""


@dataclass
class RemoteExtern:
    server: "Server"
    handle: int
    kind: str

    # The spec runner's view of an extern: globals have .bits, functions .call_bits.
    @property
    def bits(self):
        return self.server.get(self.handle)

    def call_bits(self, words: list) -> list:
        return self.server.call(self.handle, words)


@dataclass
class RemoteModule:
    handle: int
    imports: list  # [{"module", "name", "kind"}], from the image descriptor
    exports: list  # [{"name", "kind"}]


def _hex(b: bytes) -> str:
    return b.hex() if b else "-"


def _unhex(s: str) -> bytes:
    return b"" if s == "-" else bytes.fromhex(s)


class Server:
    """One ``runner --serve`` process for ARCH (under qemu-user if foreign)."""

    def __init__(self, arch: str):
        self.arch = arch
        qemu = runners.qemu_for(arch)
        cmd = [*qemu, str(runners.ensure_runner(arch)), "--serve"]
        env = dict(os.environ)
        if qemu:
            # qemu-user keeps host memory for every range ever reserved: keep
            # 64-bit memories' reservations at 8 GiB (runtime-shim/src/memory.c)
            env.setdefault("WASMC_MEMORY64_RESERVE", "8G")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)

    # --- protocol -------------------------------------------------------------
    def _request(self, line: str) -> list:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        if not reply:
            self._died()
        parts = reply.split()
        if parts[0] == "ok":
            return parts[1:]
        if parts[0] == "trap":
            code = int(parts[1])
            info = abi.TRAP_BY_CODE.get(code)
            msg = info.message if info else _unhex(parts[2]).decode("utf-8", "replace")
            raise Trap(msg, msg)
        if parts[0] == "err":
            label, msg = parts[1], _unhex(parts[2]).decode("utf-8", "replace")
            raise {"link": LinkError, "artifact": ArtifactError}.get(label, InstantiationError)(msg)
        raise ServerDied(f"{self.arch} runner: unexpected reply {reply!r}")

    def _died(self):
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read().strip().splitlines()
        raise ServerDied(f"the {self.arch} runner ended (status {self.proc.returncode})"
                         + (f": {err[-1]}" if err else ""))

    # --- operations ---------------------------------------------------------------
    def reset(self):
        self._request("reset")

    def memory(self, min_pages: int, max_pages: int | None, flags: int = 0) -> RemoteExtern:
        mx = "-" if max_pages is None else str(max_pages)
        (h,) = self._request(f"memory {min_pages} {mx} {flags}")
        return RemoteExtern(self, int(h), "memory")

    def table(self, elem_type: int, min_size: int, max_size: int | None, is64: bool = False) -> RemoteExtern:
        mx = "-" if max_size is None else str(max_size)
        (h,) = self._request(f"table {elem_type} {min_size} {mx} {abi.TABLE_FLAG_64 if is64 else 0}")
        return RemoteExtern(self, int(h), "table")

    def global_(self, valtype: str, mutable: bool, lo: int, hi: int = 0) -> RemoteExtern:
        (h,) = self._request(f"global {abi.VALTYPES[valtype]} {int(mutable)} {_hex(valtype.encode())} "
                             f"{lo:x} {hi:x}")
        return RemoteExtern(self, int(h), "global")

    def func(self, params, results) -> RemoteExtern:
        """A host function of this type that does nothing (the spectest printers)."""
        key = abi.func_type_key(params, results)
        (h,) = self._request(f"func {_hex(key)} {len(params)} {len(results)}")
        return RemoteExtern(self, int(h), "func")

    def load(self, path: str, offset: int, size: int) -> RemoteModule:
        m, ni, ne = map(int, self._request(f"load {_hex(str(path).encode())} {offset} {size}"))
        imports, exports = [], []
        for _ in range(ni):
            mod, name, kind = self.proc.stdout.readline().split()
            imports.append({"module": _unhex(mod).decode("utf-8", "replace"),
                            "name": _unhex(name).decode("utf-8", "replace"), "kind": kind})
        for _ in range(ne):
            name, kind = self.proc.stdout.readline().split()
            exports.append({"name": _unhex(name).decode("utf-8", "replace"), "kind": kind})
        return RemoteModule(m, imports, exports)

    def instantiate(self, module: RemoteModule, externs: list) -> tuple[int, dict]:
        for imp, x in zip(module.imports, externs):
            if not isinstance(x, RemoteExtern) or x.server is not self:
                raise LinkError(f"incompatible import type for {imp['module']}::{imp['name']}")
            if x.kind != imp["kind"]:
                raise LinkError(f"incompatible import type for {imp['module']}::{imp['name']}: "
                                "wrong kind of extern")
        reply = self._request("instantiate " + " ".join([str(module.handle), *(str(x.handle) for x in externs)]))
        inst = int(reply[0])
        exports = {}
        for e, h in zip(module.exports, reply[1:]):
            if e["kind"] in ("func", "global", "table", "memory", "tag"):
                exports[e["name"]] = RemoteExtern(self, int(h), e["kind"])
        return inst, exports

    def call(self, handle: int, words: list) -> list:
        reply = self._request(" ".join(["call", str(handle), str(len(words)), *(f"{w:x}" for w in words)]))
        return [int(w, 16) for w in reply[1:]]

    def get(self, handle: int) -> tuple[int, int]:
        lo, hi = self._request(f"get {handle}")
        return int(lo, 16), int(hi, 16)

    def free(self, instance: int) -> bool:
        return self._request(f"free {instance}") == ["freed"]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
