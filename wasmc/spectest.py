"""Run WebAssembly spec tests in the JSON form of ``wasm-tools json-from-wast``.

``wasmc spec-test FILE.json...`` (and tests/spec/test_execution.py) run every
command of each script in order: modules are compiled for this machine
(through the compile cache), instantiated in one store per script with the
standard ``spectest`` module and the registered instances as imports, and
every assertion is checked bit-exactly (NaN patterns, ``either``, reference
identity for externrefs).

Each command ends as one of:

``passed``   the assertion held
``failed``   it did not (printed with file:line and the reason)
``skipped``  the module needs a Wasm 3.0 feature this wasmc does not run yet
             (per the command's ``features`` or an UnsupportedError at
             build time), or a later command depends on such a module, or the
             command is about the text format or custom sections

The summary line is ``N passed, M failed, K skipped``.  Skip reasons are a
small fixed vocabulary (``needs gc``, ``unsupported: tail_call``,
``text-format module``, ...: :data:`SKIP_REASONS`), so that the test suite
can pin which reasons may occur and how often (tests/spec/skips.py).

A file that is not a spec-test script (not JSON, no list of ``commands``,
a command without the keys its type needs, a module file that is missing)
fails: the script or that command is reported as failed, never as an
internal error.

A trap assertion passes only if the trap has exactly the kind its text
names: :data:`SPEC_TRAPS` maps each text the spec suite uses to one
wasmc trap (``wasmc.abi.TRAPS``).

Where the code runs: modules are compiled for the target's baseline tier
(this machine's architecture by default).  For this machine, instances live
in an in-process store (:class:`LocalBackend`); for another architecture
they live in that architecture's standalone runner under qemu-user
(:class:`RemoteBackend`, wasmc/runtime/remote.py), and only values cross.
Everything else -- which module a command means, what a result must be --
is decided here, once, for both.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import (MAX_WASM_SIZE, FileError, LinkError, MalformedError, Trap, UnsupportedError, ValidationError,
                     WasmcError, read_input)

M32, M64 = (1 << 32) - 1, (1 << 64) - 1

# Wasm 3.0 features whose modules this wasmc can run.
RUNNABLE_FEATURES = frozenset({"multi_memory", "extended_const", "memory64", "relaxed_simd", "tail_call",
                               "function_references", "exceptions", "legacy_exceptions"})


@dataclass
class Result:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list = field(default_factory=list)
    skips: dict = field(default_factory=dict)  # reason -> count

    def add(self, other: "Result"):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures
        for k, v in other.skips.items():
            self.skips[k] = self.skips.get(k, 0) + v

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


class _Skip(Exception):
    pass


#: Every skip reason the runner gives, as a pattern (the vocabulary
#: tests/spec/skips.py pins).  FEATURE is a Wasm proposal's name as the
#: spec scripts and UnsupportedError spell it (gc, exceptions, tail_call...).
SKIP_REASONS = (
    "needs FEATURE[, FEATURE...]",          # the module declares features wasmc does not run
    "unsupported: FEATURE",                  # UnsupportedError at build time, by the feature it names
    "unsupported: constant expression",      # an instruction not lowered in a constant expression
    "text-format module",                    # no binary (the text format is not wasmc's business)
    "its module was skipped",                # the command needs a module that was skipped
    "imports from a skipped module",
    "unknown module",
    "command TYPE",                          # a command type the runner does not run
    "exceptions",                            # assert_exception
    "TYPE arguments", "argument type TYPE", "TYPE results", "result type TYPE",
)

_FEATURE = re.compile(r"\(feature: ([^)]+)\)")


def _unsupported_reason(e: UnsupportedError) -> str:
    m = _FEATURE.search(str(e))
    if m:
        return f"unsupported: {m.group(1)}"
    if "constant expression" in str(e):
        return "unsupported: constant expression"
    return f"unsupported: {e}"


#: The trap each spec-suite trap text means: exactly one wasmc trap kind
#: (wasmc.abi.TRAPS names).  A text missing here fails its command.
SPEC_TRAPS = {
    "unreachable": "UNREACHABLE",
    "out of bounds memory access": "MEMORY_OOB",
    "out of bounds table access": "TABLE_OOB",
    "indirect call type mismatch": "INDIRECT_TYPE",
    "uninitialized element": "UNINITIALIZED",
    "uninitialized element 2": "UNINITIALIZED",  # one call_indirect.wast case numbers it
    "undefined element": "UNDEFINED",
    "integer divide by zero": "DIV_ZERO",
    "integer overflow": "INT_OVERFLOW",
    "invalid conversion to integer": "BAD_CONVERSION",
    "call stack exhausted": "STACK_EXHAUSTED",
    "null reference": "NULL_REFERENCE",
    "null function reference": "NULL_FUNCTION",
    "cast failure": "CAST_FAILURE",
    "out of bounds array access": "ARRAY_OOB",
    "null structure reference": "NULL_STRUCT",
    "null array reference": "NULL_ARRAY",
    "null i31 reference": "NULL_I31",
}


def expected_trap_kind(text: str) -> str | None:
    """The Trap.kind a spec trap TEXT requires (None for an unknown text)."""
    from . import abi

    name = SPEC_TRAPS.get(text)
    return abi.TRAP_BY_NAME[name].message if name else None


class _BadCommand(Exception):
    """A command (or script) that is not what a spec-test script holds."""


class HostRef:
    """The host value behind ``(ref.extern N)``."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return f"HostRef({self.n})"


def _lanes_to_int(lane_type: str, values) -> int:
    bits = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[lane_type]
    v = 0
    for i, x in enumerate(values):
        v |= (int(x) & ((1 << bits) - 1)) << (i * bits)
    return v


class LocalBackend:
    """Instances in this process (the host's own architecture)."""

    def __init__(self, target: str | None, opt_level: int):
        from .runtime import api

        self.api = api
        self.target = target
        self.opt_level = opt_level
        self.store = api.Store()

    def spectest(self) -> dict:
        api, st = self.api, self.store

        def noop(*args):
            return None

        ex = {name: api.Func(api.FuncType(params, []), noop) for name, params in _SPECTEST_FUNCS}
        for t, v in _SPECTEST_GLOBALS:
            ex[f"global_{t}"] = api.Global(t, False, v, store=st)
        ex["table"] = api.Table("funcref", 10, 20, store=st)
        ex["table64"] = api.Table("funcref", 10, 20, store=st, index_type="i64")
        ex["memory"] = api.Memory(1, 2)
        return ex

    def compile(self, data: bytes):
        path = _compile_cached(data, self.target, self.opt_level)
        return self.api.Module.load(path)

    def instantiate(self, module, imports: dict) -> dict:
        return self.api.Instance(module, imports, store=self.store).exports

    def release(self, exports: dict) -> None:
        pass  # the store frees its instances together

    def externref(self, obj) -> int:
        return self.store._externref(obj)

    def from_externref(self, h: int):
        return self.store._from_externref(h)

    def close(self):
        pass


class RemoteBackend:
    """Instances in a runner process for TARGET (under qemu-user)."""

    def __init__(self, target: str, opt_level: int, server=None):
        from .runtime import remote

        self.target = target
        self.opt_level = opt_level
        self.own_server = server is None
        self.server = server or remote.Server(target)
        self.server.reset()
        self._refs: dict = {}  # handle -> host object
        self._ids: dict = {}  # id(object) -> handle
        self._instances: dict = {}  # id(exports dict) -> instance handle

    def spectest(self) -> dict:
        sv = self.server
        ex = {name: sv.func(params, []) for name, params in _SPECTEST_FUNCS}
        for t, v in _SPECTEST_GLOBALS:
            lo = int(v) if t in ("i32", "i64") else _float_bits(t, v)
            ex[f"global_{t}"] = sv.global_(t, False, lo)
        ex["table"] = sv.table(abi_valtype("funcref"), 10, 20)
        ex["table64"] = sv.table(abi_valtype("funcref"), 10, 20, is64=True)
        ex["memory"] = sv.memory(1, 2)
        return ex

    def compile(self, data: bytes):
        from . import container

        path = _compile_cached(data, self.target, self.opt_level)
        art = container.load(path)
        (sl,) = art.slices
        container.slice_bytes(art, sl)  # checks its hash
        return self.server.load(str(path), sl.offset, sl.size)

    def instantiate(self, module, imports: dict) -> dict:
        from .errors import LinkError

        externs = []
        for imp in module.imports:
            x = imports.get(imp["module"], {}).get(imp["name"])
            if x is None:
                raise LinkError(f"unknown import: {imp['module']}::{imp['name']} ({imp['kind']}) was not provided")
            externs.append(x)
        inst, exports = self.server.instantiate(module, externs)
        self._instances[id(exports)] = inst
        return exports

    def release(self, exports: dict) -> None:
        """Nothing refers to the instance behind EXPORTS any more: free it
        (the server keeps it if it could have handed its functions out)."""
        inst = self._instances.pop(id(exports), None)
        if inst is not None:
            self.server.free(inst)

    def externref(self, obj) -> int:
        if obj is None:
            return 0
        h = self._ids.get(id(obj))
        if h is None:
            h = (len(self._ids) + 1) * 16
            self._ids[id(obj)] = h
            self._refs[h] = obj
        return h

    def from_externref(self, h: int):
        return self._refs.get(h) if h else None

    def close(self):
        if self.own_server:
            self.server.close()


# The spectest module (the spec interpreter's, wasmtime's and wasmc's alike).
_SPECTEST_FUNCS = (("print", []), ("print_i32", ["i32"]), ("print_i64", ["i64"]), ("print_f32", ["f32"]),
                   ("print_f64", ["f64"]), ("print_i32_f32", ["i32", "f32"]), ("print_f64_f64", ["f64", "f64"]))
_SPECTEST_GLOBALS = (("i32", 666), ("i64", 666), ("f32", 666.6), ("f64", 666.6))


def _float_bits(t: str, v: float) -> int:
    return struct.unpack("<I", struct.pack("<f", v))[0] if t == "f32" else struct.unpack("<Q", struct.pack("<d", v))[0]


def abi_valtype(name: str) -> int:
    from . import abi

    return abi.VALTYPES[name]


def _compile_cached(data: bytes, target: str | None, opt_level: int):
    """Compile DATA for TARGET's baseline tier (this machine's best tier if
    None) through the compile cache.  In-process: thousands of tiny, trusted
    modules."""
    from .compile.cache import compile_cached, host_slice_specs

    if target:
        from . import targets

        t = targets.get(target)
        specs = [(t, t.tier())]
    else:
        specs = host_slice_specs()
    return compile_cached(data, opt_level=opt_level, slice_specs=specs, isolate=False)


def make_backend(target: str | None, opt_level: int, server=None):
    """In-process for this machine's architecture, a runner otherwise."""
    from . import targets

    host = targets.host()
    if target is None or (host is not None and target == host.name and server is None):
        return LocalBackend(target, opt_level)
    return RemoteBackend(target, opt_level, server)


class ScriptRunner:
    def __init__(self, path: Path, opt_level: int = 0, verbose: bool = False, target: str | None = None,
                 server=None):
        self.path = Path(path)
        self.dir = self.path.parent
        self.opt_level = opt_level
        self.verbose = verbose
        self.target = target
        self.result = Result()
        self.backend = make_backend(target, opt_level, server)
        self.registry: dict = {}  # name -> exports dict
        self.instances: dict = {}  # $name -> exports dict (None = skipped module)
        self.definitions: dict = {}  # module_definition name -> (Module | None)
        self.current = None  # exports dict of the current module, or None
        self.current_skipped = False
        self.hostrefs: dict = {}
        self.skipped_registrations: set = set()  # register names whose module was skipped
        self.spectest = self.backend.spectest()

    # --- reporting ---------------------------------------------------------
    def _pass(self):
        self.result.passed += 1

    def _fail(self, cmd, why: str):
        if not isinstance(cmd, dict):
            cmd = {}
        self.result.failed += 1
        self.result.failures.append(f"{self.path}:{cmd.get('line', '?')}: {cmd.get('type', 'command')}: {why}")

    def _skip(self, reason: str):
        self.result.skipped += 1
        self.result.skips[reason] = self.result.skips.get(reason, 0) + 1

    def _imports(self) -> dict:
        imp = {"spectest": self.spectest}
        imp.update(self.registry)
        return imp

    # --- modules -------------------------------------------------------------
    def _module_file(self, cmd) -> Path | None:
        if cmd.get("module_type") == "text":
            fn = cmd.get("binary_filename")
            return self.dir / _str(fn, "binary_filename") if fn else None
        return self.dir / _str(cmd.get("filename"), "filename")

    def _features_ok(self, cmd) -> bool:
        return set(cmd.get("features") or ()) <= RUNNABLE_FEATURES

    def _compile(self, data: bytes):
        return self.backend.compile(data)

    def _instantiate(self, module):
        for imp in module.imports:
            if imp["module"] in self.skipped_registrations:
                raise _Skip("imports from a skipped module")
        return self.backend.instantiate(module, self._imports())

    def _retire_current(self):
        """The current module is being replaced: if no name or registration
        can reach its instance any more, the backend may free it."""
        cur = self.current
        if cur is None or any(cur is x for x in self.instances.values()) or \
                any(cur is x for x in self.registry.values()):
            return
        self.backend.release(cur)

    # --- values ----------------------------------------------------------------
    def _arg_words(self, v) -> tuple[int, int]:
        t = v["type"]
        val = v.get("value")
        if t == "i32":
            return int(val) & M32, 0
        if t == "i64":
            return int(val) & M64, 0
        if t in ("f32", "f64"):
            return int(val), 0
        if t == "v128":
            x = _lanes_to_int(v["lane_type"], val)
            return x & M64, x >> 64
        if t in ("funcref", "externref", "anyref", "exnref", "nullref", "nullfuncref", "nullexternref",
                 "nullexnref"):
            if val is None or val == "null" or t.startswith("null"):
                return 0, 0
            if t == "externref":
                obj = self.hostrefs.setdefault(val, HostRef(val))
                return self.backend.externref(obj), 0
            raise _Skip(f"{t} arguments")
        raise _Skip(f"argument type {t}")

    def _check_value(self, exp, lo: int, hi: int) -> str | None:
        """None if (lo, hi) matches expected value EXP, else a description."""
        t = exp["type"]
        if t == "either":
            whys = [self._check_value(alt, lo, hi) for alt in exp["values"]]
            return None if any(w is None for w in whys) else "none of: " + "; ".join(whys)
        val = exp.get("value")
        if t == "i32":
            return None if lo & M32 == int(val) & M32 else f"expected i32 {int(val) & M32:#x}, got {lo & M32:#x}"
        if t == "i64":
            return None if lo == int(val) & M64 else f"expected i64 {int(val) & M64:#x}, got {lo:#x}"
        if t in ("f32", "f64"):
            return _check_float(t, val, lo & (M32 if t == "f32" else M64))
        if t == "v128":
            got = lo | hi << 64
            lt = exp["lane_type"]
            bits = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[lt]
            mask = (1 << bits) - 1
            for i, lv in enumerate(val):
                g = (got >> (i * bits)) & mask
                if lt in ("f32", "f64"):
                    why = _check_float(lt, lv, g)
                else:
                    why = None if g == int(lv) & mask else f"expected {int(lv) & mask:#x}, got {g:#x}"
                if why:
                    return f"v128 lane {i}: {why}"
            return None
        if t in ("refnull", "nullref", "nullfuncref", "nullexternref", "nullexnref"):
            return None if lo == 0 else f"expected a null reference, got {lo:#x}"
        if t in ("funcref", "externref", "anyref", "exnref", "eqref", "structref", "arrayref", "i31ref"):
            if val == "null":
                return None if lo == 0 else f"expected null {t}, got {lo:#x}"
            if val is None:
                return None if lo != 0 else f"expected a non-null {t}, got null"
            if t == "externref":
                obj = self.backend.from_externref(lo)
                return None if isinstance(obj, HostRef) and obj.n == val else f"expected externref {val}, got {obj!r}"
            raise _Skip(f"{t} results")
        raise _Skip(f"result type {t}")

    # --- actions ----------------------------------------------------------------
    def _target(self, action):
        name = action.get("module")
        if name is not None:
            if name not in self.instances:
                raise _Skip("unknown module")
            ex = self.instances[name]
        else:
            ex = self.current
        if ex is None:
            raise _Skip("its module was skipped")
        return ex

    def _do(self, action) -> list:
        ex = self._target(action)
        field_ = action["field"]
        if field_ not in ex:
            raise WasmcError(f"no export named {field_!r}")
        x = ex[field_]
        if action["type"] == "get":
            return list(x.bits)
        words = []
        for a in action.get("args", []):
            words.extend(self._arg_words(a))
        return x.call_bits(words)

    # --- commands ------------------------------------------------------------------
    def run(self) -> Result:
        try:
            commands = self._read_script()
            for cmd in commands or ():
                try:
                    self._command(cmd)
                except _Skip as s:
                    self._skip(str(s))
                except Trap as e:
                    self._fail(cmd, f"unexpected trap: {e}")
                except WasmcError as e:
                    self._fail(cmd, f"{type(e).__name__}: {e}")
                except _BadCommand as e:
                    self._fail(cmd, f"malformed command: {e}")
                except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
                    # A value of the wrong type or a missing key deep inside (an
                    # argument "value" that is a list, say): still this command's fault.
                    what = f"no {e.args[0]!r}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
                    self._fail(cmd, f"malformed command: {what}")
        finally:
            self.backend.close()
        return self.result

    def _read_script(self) -> list | None:
        """The script's commands, or None (reported as a failure)."""
        where = {"type": "script", "line": 0}
        try:
            script = json.loads(read_input(self.path, MAX_WASM_SIZE))
        except FileError as e:
            self._fail(where, str(e))
            return None
        except (ValueError, RecursionError) as e:
            self._fail(where, f"not a spec-test script: not JSON ({type(e).__name__}: {e})")
            return None
        commands = script.get("commands") if isinstance(script, dict) else None
        if not isinstance(commands, list):
            self._fail(where, "not a spec-test script: no list of \"commands\"")
            return None
        return commands

    def _command(self, cmd):
        if not isinstance(cmd, dict) or not isinstance(cmd.get("type"), str):
            raise _BadCommand("a command must be an object with a \"type\"")
        t = cmd["type"]
        h = getattr(self, "_cmd_" + t, None)
        if h is None:
            raise _Skip(f"command {t}")
        h(cmd)

    def _load_module(self, cmd):
        """Compile a module command's module, or raise _Skip."""
        if not self._features_ok(cmd):
            raise _Skip("needs " + ", ".join(sorted(set(cmd.get("features") or ()) - RUNNABLE_FEATURES)))
        f = self._module_file(cmd)
        if f is None:
            raise _Skip("text-format module")
        data = read_input(f, MAX_WASM_SIZE)
        try:
            return self._compile(data)
        except UnsupportedError as e:
            raise _Skip(_unsupported_reason(e)) from None

    def _cmd_module(self, cmd):
        name = cmd.get("name")
        self._retire_current()
        self.current = None
        if name:
            self.instances[name] = None
        module = self._load_module(cmd)
        ex = self._instantiate(module)
        self.current = ex
        if name:
            self.instances[name] = ex
        self._pass()

    def _cmd_module_definition(self, cmd):
        name = cmd.get("name")
        self.definitions[name] = None
        self.definitions[name] = self._load_module(cmd)
        self._pass()

    def _cmd_module_instance(self, cmd):
        self._retire_current()
        self.current = None
        inst = cmd.get("instance")
        if inst:
            self.instances[inst] = None
        mod = self.definitions.get(cmd.get("module"))
        if mod is None:
            raise _Skip("its module was skipped")
        ex = self._instantiate(mod)
        self.current = ex
        if inst:
            self.instances[inst] = ex
        self._pass()

    def _cmd_register(self, cmd):
        name = cmd.get("name")
        ex = self.instances.get(name) if name else self.current
        if ex is None:
            self.registry.pop(cmd["as"], None)
            self.skipped_registrations.add(cmd["as"])
            raise _Skip("its module was skipped")
        self.skipped_registrations.discard(cmd["as"])
        self.registry[cmd["as"]] = ex
        self._pass()

    def _cmd_action(self, cmd):
        self._do(cmd["action"])
        self._pass()

    def _cmd_assert_return(self, cmd):
        words = self._do(cmd["action"])
        exp = cmd.get("expected", [])
        if len(words) != 2 * len(exp):
            self._fail(cmd, f"expected {len(exp)} results, got {len(words) // 2}")
            return
        for i, e in enumerate(exp):
            why = self._check_value(e, words[2 * i], words[2 * i + 1])
            if why:
                self._fail(cmd, f"{cmd['action'].get('field')}: result {i}: {why}")
                return
        self._pass()

    def _expect_trap(self, cmd, fn, text: str):
        want = expected_trap_kind(text)
        if want is None:
            raise _BadCommand(f"unknown trap text {text!r} (wasmc.spectest.SPEC_TRAPS maps each to a trap kind)")
        try:
            fn()
        except Trap as e:
            if e.kind != want:
                self._fail(cmd, f"trapped with {e.kind!r}, expected {text!r} ({want!r})")
                return
            self._pass()
            return
        self._fail(cmd, f"expected a trap ({text}), none happened")

    def _cmd_assert_trap(self, cmd):
        self._expect_trap(cmd, lambda: self._do(cmd["action"]), cmd.get("text", ""))

    def _cmd_assert_exhaustion(self, cmd):
        self._expect_trap(cmd, lambda: self._do(cmd["action"]), "call stack exhausted")

    def _cmd_assert_uninstantiable(self, cmd):
        module = self._load_module(cmd)
        self._expect_trap(cmd, lambda: self._instantiate(module), cmd.get("text", ""))

    def _cmd_assert_unlinkable(self, cmd):
        module = self._load_module(cmd)
        try:
            self._instantiate(module)
        except LinkError:
            self._pass()
            return
        self._fail(cmd, "expected a link error, instantiation succeeded")

    def _front_end(self, cmd):
        from .wasm.decode import decode_module
        from .wasm.validate import validate_module

        f = self._module_file(cmd)
        if f is None or cmd.get("module_type") == "text" and cmd["type"] == "assert_malformed":
            raise _Skip("text-format module")
        validate_module(decode_module(read_input(f, MAX_WASM_SIZE)))

    def _cmd_assert_invalid(self, cmd):
        try:
            self._front_end(cmd)
        except ValidationError:
            self._pass()
            return
        except MalformedError as e:
            self._fail(cmd, f"malformed instead of invalid: {e}")
            return
        self._fail(cmd, "module validated")

    def _cmd_assert_malformed(self, cmd):
        try:
            self._front_end(cmd)
        except MalformedError:
            self._pass()
            return
        except ValidationError as e:
            self._fail(cmd, f"invalid instead of malformed: {e}")
            return
        self._fail(cmd, "module decoded")

    def _cmd_assert_exception(self, cmd):
        """The action ends with an exception that no handler catches: the
        embedder sees it as the trap "uncaught exception" (with the
        exception attached: wasmc.WasmException in the Python API)."""
        try:
            self._do(cmd["action"])
        except Trap as e:
            if e.kind == "uncaught exception":
                self._pass()
            else:
                self._fail(cmd, f"trapped with {e.kind!r}, expected an uncaught exception")
            return
        self._fail(cmd, "expected an uncaught exception, none happened")


def _str(v, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise _BadCommand(f"{key!r} must be a file name")
    return v


def _check_float(t: str, val: str, got: int) -> str | None:
    bits = 32 if t == "f32" else 64
    expo = 0x7F800000 if bits == 32 else 0x7FF0000000000000
    frac = (1 << (23 if bits == 32 else 52)) - 1
    quiet = 1 << (22 if bits == 32 else 51)
    sign_mask = (1 << (bits - 1)) - 1
    is_nan = (got & expo) == expo and got & frac
    if val == "nan:canonical":
        return None if (got & sign_mask) == (expo | quiet) else f"expected canonical NaN, got {got:#x}"
    if val == "nan:arithmetic":
        return None if is_nan and got & quiet else f"expected arithmetic NaN, got {got:#x}"
    want = int(val)
    return None if got == want else f"expected {t} {want:#x} ({_fmt(t, want)}), got {got:#x} ({_fmt(t, got)})"


def _fmt(t, b) -> str:
    try:
        return repr(struct.unpack("<f" if t == "f32" else "<d",
                                  struct.pack("<I" if t == "f32" else "<Q", b))[0])
    except struct.error:
        return "?"


def run_files(paths, opt_level=0, verbose=False, target=None) -> Result:
    """Run every script of PATHS; for a foreign TARGET, all in one runner process."""
    total = Result()
    server = None
    backend = make_backend(target, opt_level)
    if isinstance(backend, RemoteBackend):
        server = backend.server
    try:
        for p in paths:
            total.add(ScriptRunner(Path(p), opt_level, verbose, target, server=server).run())
    finally:
        if server is not None:
            server.close()
    return total

