"""A stateful test of the Python API: random sequences of calls never crash.

A hypothesis RuleBasedStateMachine loads and compiles modules (cached),
makes stores, host functions (that return good and bad values, raise, run
the garbage collector, or call back into guest code), instantiates modules
in shared and fresh stores (also with host memories and globals as
imports), calls exports (some trap), takes memory views, reads, writes and
grows memories, gets, sets and grows tables, gets and sets globals,
interrupts stores, and drops any object followed by ``gc.collect()``.
Every step checks its result against what the API promises (a value, or a
documented exception).

The machine runs in a child process (this file run as a script), so a
crash is a failed test instead of a dead test run; each step is logged to a
file first, so a crash names the steps that led to it.

    .venv/bin/python tests/properties/test_api_stateful.py EXAMPLES [SEED]

runs it directly (``make test`` runs EXAMPLES_IN_MAKE_TEST examples).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # apimodules, wasmbuild (when run as a script)

EXAMPLES_IN_MAKE_TEST = 100
STEPS = 40


def test_random_api_sequences_never_crash(tmp_path):
    log = tmp_path / "steps.log"
    env = dict(os.environ, WASMC_STATEFUL_LOG=str(log))
    env.pop("WASMC_DEBUG", None)
    r = subprocess.run([sys.executable, "-X", "faulthandler", __file__, str(EXAMPLES_IN_MAKE_TEST)],
                       capture_output=True, text=True, env=env, timeout=600)
    steps = log.read_text().splitlines()[-40:] if log.exists() else []
    assert r.returncode == 0, (f"status {r.returncode}\n--- last steps:\n" + "\n".join(steps) +
                               f"\n--- stdout:\n{r.stdout[-4000:]}\n--- stderr:\n{r.stderr[-4000:]}")


# ---------------------------------------------------------------------------
# The machine (imported only in the child process)
# ---------------------------------------------------------------------------

def _machine():
    import hypothesis.strategies as st
    from hypothesis import assume
    from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, rule

    import wasmc
    from apimodules import artifact, lib_module, mem_module, user_module

    wasm = {"lib": lib_module(), "user": user_module(), "mem": mem_module()}
    paths = {k: artifact(w) for k, w in wasm.items()}
    log_path = os.environ.get("WASMC_STATEFUL_LOG")
    log_file = open(log_path, "a") if log_path else None

    def log(msg: str):
        if log_file:
            log_file.write(msg + "\n")
            log_file.flush()

    class Boom(Exception):
        pass

    def signed(v: int, bits: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    I32 = st.integers(-2**31, 2**32 - 1)
    I64 = st.integers(-2**63, 2**64 - 1)
    BAD = st.sampled_from([2**64, -2**63 - 1, 1.5, None, True, "1"])

    class Host:
        """A host function () -> i32 and what calling it does."""

        def __init__(self, behaviour: str, value: int):
            self.behaviour, self.value = behaviour, value
            self.reenter = None  # an export to call back into (behaviour "reenter")

            def fn():
                if behaviour == "raise":
                    raise Boom()
                if behaviour == "bad":
                    return 3.9
                if behaviour == "huge":
                    return 2**40
                if behaviour == "gc":
                    gc.collect()
                if behaviour == "reenter" and self.reenter is not None:
                    try:
                        self.reenter(1, 2)
                    except wasmc.Trap:
                        pass
                return value

            self.func = wasmc.Func(wasmc.FuncType([], ["i32"]), fn)

        def expect(self):
            """(result, exception type) of a guest call that reaches it."""
            return {"raise": (None, Boom), "bad": (None, TypeError), "huge": (None, ValueError)}.get(
                self.behaviour, (signed(self.value, 32), None))

    class Machine(RuleBasedStateMachine):
        stores = Bundle("stores")
        lib_modules = Bundle("lib_modules")
        user_modules = Bundle("user_modules")
        mem_modules = Bundle("mem_modules")
        hosts = Bundle("hosts")
        libs = Bundle("libs")  # (Instance, Host) of lib_module
        instances = Bundle("instances")  # any Instance
        memories = Bundle("memories")
        views = Bundle("views")
        tables = Bundle("tables")
        globals_ = Bundle("globals")
        funcs = Bundle("funcs")  # exported functions

        def __init__(self):
            super().__init__()
            # store -> an interrupt waits for its next guest call (weak: a
            # store the machine dropped may live on through its instances)
            self.pending = weakref.WeakKeyDictionary()
            self.step = 0

        def note(self, msg):
            self.step += 1
            log(f"{self.step}: {msg}")

        def guest_call(self, store, fn, *args):
            """Call guest function FN in STORE: (result, None) or (None, exception)."""
            pending = self.pending.pop(store, False)
            try:
                return fn(*args), None
            except wasmc.Trap as e:
                assert e.kind != "interrupted" or pending, "interrupted without an interrupt"
                return None, e
            except (Boom, TypeError, ValueError) as e:
                return None, e

        # --- stores, modules, host functions ----------------------------------------
        @rule(target=stores)
        def new_store(self):
            self.note("new_store")
            return wasmc.Store()

        def load(self, kind, compiled):
            self.note(f"module {kind} compiled={compiled}")
            m = wasmc.Module(wasm[kind]) if compiled else wasmc.Module.load(paths[kind])
            assert {e["name"] for e in m.exports} >= ({"memory"} if kind != "user" else {"peek"})
            return m

        @initialize(target=lib_modules)
        def first_lib_module(self):
            return self.load("lib", False)

        @initialize(target=user_modules)
        def first_user_module(self):
            return self.load("user", False)

        @rule(target=lib_modules, compiled=st.booleans())
        def lib_module(self, compiled):
            return self.load("lib", compiled)

        @rule(target=user_modules, compiled=st.booleans())
        def user_module(self, compiled):
            return self.load("user", compiled)

        @rule(target=mem_modules, compiled=st.booleans())
        def mem_module(self, compiled):
            return self.load("mem", compiled)

        @rule(target=hosts, behaviour=st.sampled_from(["ok", "ok", "raise", "bad", "huge", "gc", "reenter"]),
              value=I32)
        def new_host(self, behaviour, value):
            return self.host(behaviour, value)

        def host(self, behaviour, value):
            self.note(f"host {behaviour} {value}")
            return Host(behaviour, value)

        @rule(h=hosts, f=funcs)
        def host_reenters(self, h, f):
            self.note("host_reenters")
            if f.type is not None and f.type.params == ("i32", "i32"):
                h.reenter = f

        # --- instances ---------------------------------------------------------------
        @initialize(target=hosts)
        def first_host(self):
            return self.host("ok", 5)

        @initialize(target=libs, module=lib_modules, h=hosts)
        def first_lib(self, module, h):
            return self.instantiate_lib(module, h, None)

        @rule(target=libs, module=lib_modules, h=hosts, store=st.one_of(st.none(), stores))
        def instantiate_lib(self, module, h, store):
            self.note(f"instantiate_lib store={'fresh' if store is None else 'shared'}")
            inst = wasmc.Instance(module, {"env": {"h": h.func}}, store=store)
            assert store is None or inst.store is store
            return (inst, h)

        @rule(target=instances, lib=libs)
        def lib_instance(self, lib):
            return lib[0]

        @rule(target=instances, module=user_modules, lib=libs, store=st.one_of(st.none(), stores),
              mem=st.one_of(st.none(), memories), glob=st.one_of(st.none(), globals_))
        def instantiate_user(self, module, lib, store, mem, glob):
            self.note(f"instantiate_user store={'none' if store is None else 'given'} mem={mem is not None} "
                      f"global={glob is not None}")
            ex = dict(lib[0].exports)
            if mem is not None:
                ex["memory"] = mem
            if glob is not None:
                ex["counter"] = glob
            try:
                inst = wasmc.Instance(module, {"lib": ex}, store=store)
            except wasmc.LinkError as e:
                msg = str(e)
                assert (store is not None and store is not lib[0].store) or mem is not None or glob is not None, msg
                return None
            assert inst.store is lib[0].store
            return inst

        @rule(target=instances, module=mem_modules, store=st.one_of(st.none(), stores))
        def instantiate_mem(self, module, store):
            self.note("instantiate_mem")
            inst = wasmc.Instance(module, store=store)
            self.guest_call(inst.store, inst.exports["nop"])
            return inst

        @rule(module=st.one_of(lib_modules, user_modules))
        def instantiate_without_imports(self, module):
            self.note("instantiate without imports")
            try:
                wasmc.Instance(module, {})
            except wasmc.LinkError:
                return
            raise AssertionError("instantiated without its imports")

        # --- exports -----------------------------------------------------------------
        @rule(target=memories, inst=instances)
        def export_memory(self, inst):
            assume(inst is not None and "memory" in inst.exports)
            self.note("export_memory")
            return inst.exports["memory"]

        @rule(target=tables, lib=libs)
        def export_table(self, lib):
            self.note("export_table")
            return lib[0].exports["table"]

        @rule(target=globals_, lib=libs, name=st.sampled_from(["counter", "const64"]))
        def export_global(self, lib, name):
            self.note(f"export_global {name}")
            return lib[0].exports[name]

        @rule(target=funcs, inst=instances, name=st.sampled_from(["add", "add2", "seven", "nop", "call_t"]))
        def export_func(self, inst, name):
            assume(inst is not None and name in inst.exports)
            self.note(f"export_func {name}")
            return inst.exports[name]

        @rule(lib=libs, a=st.one_of(I32, BAD), b=I32)
        def call_add(self, lib, a, b):
            self.note(f"call_add {a!r} {b}")
            good = isinstance(a, int) and not isinstance(a, bool) and -2**31 <= a < 2**32
            pending = self.pending.get(lib[0].store, False)
            r, e = self.guest_call(lib[0].store, lib[0].exports["add"], a, b)
            if not good:  # refused before the call (so a pending interrupt stays pending)
                assert isinstance(e, (TypeError, ValueError)), (a, e)
                self.pending[lib[0].store] = pending
            elif isinstance(e, wasmc.Trap):
                assert e.kind == "interrupted"
            else:
                assert e is None and r == signed(a + b, 32), (r, e)

        @rule(lib=libs, a=I64, b=I64)
        def call_add64(self, lib, a, b):
            self.note(f"call_add64 {a} {b}")
            r, e = self.guest_call(lib[0].store, lib[0].exports["add64"], a, b)
            assert (e is None and r == signed(a + b, 64)) or (isinstance(e, wasmc.Trap) and e.kind == "interrupted")

        @rule(lib=libs, a=I32, b=I32)
        def call_div(self, lib, a, b):
            self.note(f"call_div {a} {b}")
            r, e = self.guest_call(lib[0].store, lib[0].exports["div"], a, b)
            sa, sb = signed(a, 32), signed(b, 32)
            if e is None:
                assert sb != 0 and not (sa == -2**31 and sb == -1)
                q = abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1)
                assert r == signed(q, 32)
            else:
                assert isinstance(e, wasmc.Trap), e

        @rule(lib=libs, addr=st.one_of(st.integers(0, 70000), st.integers(0, 2**32 - 1)),
              value=st.one_of(st.none(), I32))
        def call_load_store(self, lib, addr, value):
            self.note(f"call_load_store {addr} {value}")
            ex = lib[0].exports
            size = ex["memory"].data_len
            if value is None:
                r, e = self.guest_call(lib[0].store, ex["load"], addr)
            else:
                r, e = self.guest_call(lib[0].store, ex["store"], addr, value)
            if e is None:
                assert addr + 4 <= size
            else:
                assert isinstance(e, wasmc.Trap) and (addr + 4 > size or e.kind == "interrupted"), (e, addr, size)

        @rule(lib=libs, delta=st.integers(0, 5))
        def call_grow(self, lib, delta):
            self.note(f"call_grow {delta}")
            mem = lib[0].exports["memory"]
            before = mem.size
            r, e = self.guest_call(lib[0].store, lib[0].exports["grow"], delta)
            if e is None:
                assert r == (before if before + delta <= 4 else -1)
                assert mem.size == (before + delta if r != -1 else before)

        @rule(lib=libs)
        def call_host(self, lib):
            inst, h = lib
            self.note(f"call_host ({h.behaviour})")
            r, e = self.guest_call(inst.store, inst.exports["callh"])
            want, error = h.expect()
            if isinstance(e, wasmc.Trap) and e.kind == "interrupted":
                return
            if error is not None:
                assert isinstance(e, error), (e, h.behaviour)
            elif h.behaviour == "reenter" and isinstance(e, wasmc.Trap):
                pass  # an interrupt can land in the nested call
            else:
                assert e is None and r == want, (r, e, h.behaviour)

        @rule(lib=libs, i=st.integers(0, 12))
        def call_indirect(self, lib, i):
            self.note(f"call_indirect {i}")
            r, e = self.guest_call(lib[0].store, lib[0].exports["call_t"], i)
            assert e is None or isinstance(e, (wasmc.Trap, Boom, TypeError, ValueError)), e

        @rule(f=funcs, a=I32, b=I32)
        def call_func(self, f, a, b):
            self.note(f"call_func {f.type}")
            args = (a, b)[:len(f.type.params)]
            r, e = self.guest_call(f._store, f, *args)
            assert e is None or isinstance(e, (wasmc.Trap, Boom, TypeError, ValueError)), e

        @rule(lib=libs)
        def call_unreachable(self, lib):
            self.note("call_unreachable")
            r, e = self.guest_call(lib[0].store, lib[0].exports["unreachable"])
            assert isinstance(e, wasmc.Trap) and e.kind in ("unreachable", "interrupted"), e

        @rule(store=stores)
        def interrupt(self, store):
            self.note("interrupt")
            store.interrupt()
            self.pending[store] = True

        @rule(lib=libs)
        def interrupt_instance(self, lib):
            self.note("interrupt_instance")
            lib[0].store.interrupt()
            self.pending[lib[0].store] = True

        # --- memories ----------------------------------------------------------------
        @rule(target=memories, lo=st.integers(0, 3), extra=st.one_of(st.none(), st.integers(0, 3)))
        def host_memory(self, lo, extra):
            self.note(f"host_memory {lo} {extra}")
            return wasmc.Memory(lo, None if extra is None else lo + extra)

        @rule(lo=st.integers(1, 10), hi=st.integers(0, 9))
        def bad_memory(self, lo, hi):
            assume(hi < lo)
            self.note("bad_memory")
            try:
                wasmc.Memory(lo, hi)
            except ValueError as e:
                assert "larger than its maximum" in str(e)
            else:
                raise AssertionError("Memory(min > max) accepted")

        @rule(target=views, mem=memories)
        def view(self, mem):
            self.note("view")
            v = mem.data
            assert len(v) == mem.data_len
            return v

        @rule(v=views, i=st.integers(0, 4 * 65536), b=st.integers(0, 255))
        def touch_view(self, v, i, b):
            self.note(f"touch_view {i}")
            if i < len(v):
                v[i] = b
                assert v[i] == b
            else:
                try:
                    v[i] = b
                except IndexError:
                    return
                raise AssertionError("a view wrote past its end")

        @rule(mem=memories, offset=st.integers(-2, 3 * 65536), data=st.binary(max_size=64))
        def read_write(self, mem, offset, data):
            self.note(f"read_write {offset} {len(data)}")
            try:
                mem.write(offset, data)
            except (IndexError, ValueError):
                assert offset < 0 or offset + len(data) > mem.data_len
                return
            assert mem.read(offset, len(data)) == data
            if data:
                assert bytes(mem.data[offset:offset + len(data)]) == data

        @rule(mem=memories, delta=st.one_of(st.integers(0, 3), st.just(-1), st.just(2**64)))
        def grow_memory(self, mem, delta):
            self.note(f"grow_memory {delta}")
            before = mem.size
            try:
                r = mem.grow(delta)
            except (ValueError, wasmc.WasmcError):
                assert mem.size == before
                return
            assert r == before and mem.size == before + delta

        # --- tables and globals ---------------------------------------------------------
        @rule(target=tables, store=st.one_of(st.none(), stores), n=st.integers(0, 4))
        def host_table(self, store, n):
            self.note(f"host_table {n}")
            return wasmc.Table("funcref", n, None, store=store)

        @rule(t=tables, i=st.integers(-1, 12))
        def table_get(self, t, i):
            self.note(f"table_get {i}")
            try:
                f = t.get(i)
            except IndexError:
                assert not 0 <= i < t.size
                return
            if f is not None and f.type is not None and not f.type.params:
                r, e = self.guest_call(t._store, f)
                assert e is None or isinstance(e, (wasmc.Trap, Boom, TypeError, ValueError)), e

        @rule(t=tables, i=st.integers(-1, 12), value=st.one_of(st.none(), funcs, hosts))
        def table_set(self, t, i, value):
            self.note(f"table_set {i} {type(value).__name__}")
            v = value.func if isinstance(value, Host) else value
            try:
                t.set(i, v)
            except IndexError:
                assert not 0 <= i < t.size
            except wasmc.LinkError:
                assert v is not None and v._store is not t._store  # another store's export
            else:
                got = t.get(i)
                assert (got is None) == (v is None)

        @rule(t=tables, delta=st.integers(0, 4), value=st.one_of(st.none(), hosts))
        def table_grow(self, t, delta, value):
            self.note(f"table_grow {delta}")
            before = t.size
            try:
                r = t.grow(delta, value.func if value is not None else None)
            except wasmc.WasmcError:
                assert t.size == before
                return
            assert r == before and t.size == before + delta

        @rule(target=globals_, mutable=st.booleans(), value=I32, store=st.one_of(st.none(), stores))
        def host_global(self, mutable, value, store):
            self.note("host_global")
            return wasmc.Global("i32", mutable, value, store=store)

        @rule(g=globals_, value=st.one_of(I32, BAD))
        def global_set(self, g, value):
            self.note(f"global_set {value!r}")
            bits = 32 if g.type == "i32" else 64
            good = isinstance(value, int) and not isinstance(value, bool) and -2**(bits - 1) <= value < 2**bits
            try:
                g.value = value
            except wasmc.WasmcError:
                assert not g.mutable
                return
            except (TypeError, ValueError):
                assert g.mutable and not good
                return
            assert g.mutable and good and g.value == signed(value, bits)

        # --- dropping things ------------------------------------------------------------------
        # Each drop forgets the machine's reference (the object may live on
        # through others: an export keeps its store) and may collect garbage.
        def drop(self, what, collect):
            self.note(f"drop {what}{' + gc.collect' if collect else ''}")
            if collect:
                gc.collect()

        @rule(x=consumes(stores), collect=st.booleans())
        def drop_store(self, x, collect):
            del x
            self.drop("store", collect)

        @rule(x=st.one_of(consumes(lib_modules), consumes(user_modules), consumes(mem_modules), consumes(libs),
                          consumes(instances), consumes(memories), consumes(views), consumes(tables),
                          consumes(globals_), consumes(funcs), consumes(hosts)),
              collect=st.booleans())
        def drop_any(self, x, collect):
            what = type(x[0] if isinstance(x, tuple) else x).__name__
            del x
            self.drop(what, collect)

        def teardown(self):
            log("teardown")
            gc.collect()

    return Machine


def main(argv):
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    examples = int(argv[1]) if len(argv) > 1 else EXAMPLES_IN_MAKE_TEST
    Machine = _machine()
    if len(argv) > 2:
        from hypothesis import seed

        Machine = seed(int(argv[2]))(Machine)
    run_state_machine_as_test(Machine, settings=settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
    print(f"ok: {examples} examples of up to {STEPS} steps")


if __name__ == "__main__":
    main(sys.argv)
