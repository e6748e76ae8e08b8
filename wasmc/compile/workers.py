"""Compile worker processes.

LLVM reports some internal failures by aborting the process, so partitions
are compiled in child processes: an abort there becomes a CompileError in
the caller, never the death of ``wasmc build`` or of the Python program that
called ``wasmc.Module``.

The workers are plain ``python -m wasmc.compile.workers`` processes talking
over their stdin/stdout (length-prefixed pickles), kept for the life of the
calling process.  Unlike a ``multiprocessing`` pool they never import the
caller's ``__main__``: a script that builds a module at top level, without
an ``if __name__ == "__main__"`` guard, works as it does with any other
runtime.  Each worker's stderr goes to a temporary file, so an abort's
report becomes the last part of the CompileError's message instead of pages
on the user's terminal.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_LEN = struct.Struct("<Q")


def _read_msg(f):
    head = f.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (n,) = _LEN.unpack(head)
    body = f.read(n)
    if len(body) < n:
        return None
    return pickle.loads(body)


def _write_msg(f, obj) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_LEN.pack(len(body)) + body)
    f.flush()


class WorkerDied(Exception):
    """The worker process ended in the middle of a job (LLVM aborted)."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


class _Worker:
    def __init__(self):
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        # The child imports this very package, wherever it was imported from.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([sys.executable, "-m", "wasmc.compile.workers"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env, close_fds=True)

    def run(self, fn: str, args):
        try:
            _write_msg(self.proc.stdin, (fn, args))
            reply = _read_msg(self.proc.stdout)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            report = self._report()
            self.close()
            raise WorkerDied(report)
        ok, value = reply
        if not ok:
            from ..errors import CompileError

            raise CompileError(value)
        return value

    def _report(self) -> str:
        """The last line the dead worker wrote to stderr (LLVM's reason)."""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - 4096))
        tail = self.stderr.read().decode("utf-8", "replace").splitlines()
        lines = [ln.strip() for ln in tail if ln.strip()]
        reason = next((ln for ln in reversed(lines) if "LLVM ERROR" in ln or "Assertion" in ln), None)
        if reason is None and lines:
            reason = lines[-1]
        code = self.proc.returncode
        status = f"signal {-code}" if code is not None and code < 0 else f"status {code}"
        return f"{reason} ({status})" if reason else status

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


class WorkerPool:
    """Up to SIZE persistent workers; ``map`` runs calls in them concurrently."""

    def __init__(self, size: int):
        self.size = size
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list = []

    def _checkout(self) -> _Worker:
        while True:
            try:
                w = self._idle.get_nowait()
            except queue.Empty:
                break
            if w.alive():
                return w
            with self._lock:
                self._all.remove(w)
            w.close()
        w = _Worker()
        with self._lock:
            self._all.append(w)
        return w

    def prestart(self, n: int) -> None:
        """Start workers until N are up (at most SIZE): they load LLVM while
        the caller goes on (decoding, lowering) instead of when work arrives."""
        with self._lock:
            missing = min(n, self.size) - len(self._all)
        for _ in range(max(0, missing)):
            w = _Worker()
            with self._lock:
                self._all.append(w)
            self._idle.put(w)

    def call(self, fn: str, *args):
        """FN(*ARGS) in a worker."""
        return self._call(fn, args)

    def _call(self, fn: str, args):
        w = self._checkout()
        try:
            result = w.run(fn, args)
        except WorkerDied:
            with self._lock:
                self._all.remove(w)
            raise
        except BaseException:
            self._idle.put(w)
            raise
        self._idle.put(w)
        return result

    def map(self, fn: str, items: list, on_done=None) -> list:
        """[FN(*args) for args in ITEMS], FN a name in _FUNCTIONS, run in
        workers; ON_DONE(i) is called (from a pool thread) as item i ends."""
        return self.run([(fn, args) for args in items], on_done)

    def run(self, calls: list, on_done=None) -> list:
        """[FN(*ARGS) for FN, ARGS in CALLS] run in workers, started in the
        order given; ON_DONE(i) is called (from a pool thread) as call i ends."""
        def one(i):
            r = self._call(*calls[i])
            if on_done is not None:
                on_done(i)
            return r

        if len(calls) <= 1 or self.size <= 1:
            return [one(i) for i in range(len(calls))]
        with ThreadPoolExecutor(max_workers=min(self.size, len(calls))) as ex:
            return list(ex.map(one, range(len(calls))))

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for w in workers:
            w.close()


_POOL: WorkerPool | None = None


def pool(size: int) -> WorkerPool:
    """The process-wide pool (grown to SIZE workers when asked for more)."""
    global _POOL
    if _POOL is None:
        _POOL = WorkerPool(size)
        atexit.register(lambda: _POOL and _POOL.close())
    elif _POOL.size < size:
        _POOL.size = size
    return _POOL


# --- the worker side --------------------------------------------------------

def _compile_ir(ir, target_name, tier_name, opt, name):
    from .. import targets
    from . import llvm

    t = targets.get(target_name)
    return llvm.compile_ir(ir, t, t.tier(tier_name), opt, name)


def _compile_tiers(ir, target_name, tier_names, opt, name):
    """One partition for every tier of one target: parsed and optimised once."""
    from .. import targets
    from . import llvm

    t = targets.get(target_name)
    return llvm.compile_tiers(ir, t, [t.tier(n) for n in tier_names], opt, name)


_LIBCALLS: dict = {}


def _libcalls(target_name, tier_name):
    """wasmc's libcall object for a slice (compiled once per process)."""
    from .. import targets
    from . import llvm

    key = (target_name, tier_name)
    if key not in _LIBCALLS:
        t = targets.get(target_name)
        _LIBCALLS[key] = llvm.libcall_object(t, t.tier(tier_name))
    return _LIBCALLS[key]


def _llvm_version():
    from . import llvm

    return llvm.llvm_version()


_FUNCTIONS = {"compile_ir": _compile_ir, "compile_tiers": _compile_tiers, "libcalls": _libcalls,
              "llvm_version": _llvm_version}


def _trim() -> None:
    """Give the memory of the last job back to the system (glibc keeps freed
    heap pages otherwise), so a worker between jobs or waiting for the last
    one to end holds little.  A no-op where there is no malloc_trim."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes

        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
            _malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _serve() -> None:
    inp = sys.stdin.buffer
    # Nothing else may write to the protocol stream: it moves to a private
    # descriptor and fd 1 (for Python and C code alike) becomes stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Load and initialise LLVM before the first job arrives: a pool is started
    # while the caller still decodes and lowers (driver.py), so this overlaps.
    from . import llvm

    llvm._init()
    while True:
        msg = _read_msg(inp)
        if msg is None:
            return
        fn, args = msg
        try:
            reply = (True, _FUNCTIONS[fn](*args))
        except Exception as e:  # noqa: BLE001 - raised again in the caller as a CompileError
            from ..errors import WasmcError

            reply = (False, str(e) if isinstance(e, WasmcError) else f"{type(e).__name__}: {e}")
        _write_msg(out, reply)
        del msg, args, reply
        _trim()


if __name__ == "__main__":
    _serve()
