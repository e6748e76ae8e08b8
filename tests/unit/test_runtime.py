"""The Python runtime API end to end: compile, instantiate, call, trap, link."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import wasmc
from wasmbuild import FUNCREF, I32, I64, Mod, i32c, lget, limits, name, uleb, vec

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "wat"


@pytest.fixture(scope="module")
def traps_module():
    return wasmc.Module((CORPUS / "traps.wasm").read_bytes())


@pytest.fixture
def traps(traps_module):
    return wasmc.Instance(traps_module).exports


def test_call_and_results(traps):
    assert traps["add"](2, 3) == 5
    assert traps["add"](0x7FFFFFFF, 1) == -0x80000000  # i32 results are signed


@pytest.mark.parametrize("fn,args", [("runaway", (0,)), ("mutual", (0,))])
def test_runaway_recursion_traps_and_the_process_survives(traps, fn, args):
    with pytest.raises(wasmc.Trap) as info:
        traps[fn](*args)
    assert info.value.kind == "call stack exhausted"
    assert "runaway" in str(info.value) or "mutual" in str(info.value)
    assert traps["add"](1, 1) == 2  # the instance is still usable
    with pytest.raises(wasmc.Trap):  # and traps again, on the same thread
        traps[fn](*args)


@pytest.mark.parametrize("fn,args,kind", [
    ("load", (65536,), "out of bounds memory access"),
    ("load", (0xFFFFFFFF,), "out of bounds memory access"),
    ("store", (65533, 7), "out of bounds memory access"),
    ("div", (1, 0), "integer divide by zero"),
    ("div", (-2**31, -1), "integer overflow"),
    ("unreachable", (), "unreachable"),
])
def test_traps(traps, fn, args, kind):
    with pytest.raises(wasmc.Trap) as info:
        traps[fn](*args)
    assert info.value.kind == kind
    assert info.value.backtrace and info.value.backtrace[0] == fn


def test_memory_grow_and_view(traps):
    mem = traps["memory"]
    assert mem.size == 1
    mem.data[100:104] = (1234).to_bytes(4, "little")
    assert traps["load"](100) == 1234
    traps["store"](200, -1)
    assert bytes(mem.data[200:204]) == b"\xff" * 4
    assert traps["grow"](1) == 1
    assert traps["load"](65536) == 0  # the new page reads as zero
    assert traps["grow"](1) == -1  # max is 2 pages
    assert mem.size == 2


def test_stack_overflow_on_another_thread(traps):
    out = {}

    def run():
        try:
            traps["runaway"](0)
        except wasmc.Trap as e:
            out["kind"] = e.kind

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert out == {"kind": "call stack exhausted"}


def _host_module():
    """Imports env.f (i32)->i32 and env.g ()->(); exports call_f, call_g."""
    m = Mod()
    t_ii = m.functype([I32], [I32])
    t_v = m.functype([], [])
    m.imports.append(name("env") + name("f") + b"\x00" + uleb(t_ii))
    m.imports.append(name("env") + name("g") + b"\x00" + uleb(t_v))
    m.funcs += [uleb(t_ii), uleb(t_v)]
    m.exports.append(name("call_f") + b"\x00" + uleb(2))
    m.exports.append(name("call_g") + b"\x00" + uleb(3))
    body_f = vec([]) + lget(0) + b"\x10" + uleb(0) + i32c(1) + b"\x6a" + b"\x0b"
    body_g = vec([]) + b"\x10" + uleb(1) + b"\x0b"
    m.codes += [uleb(len(body_f)) + body_f, uleb(len(body_g)) + body_g]
    return wasmc.Module(m.build())


def test_host_functions_and_exceptions():
    calls = []

    def f(x):
        calls.append(x)
        return x * 10

    class Boom(Exception):
        pass

    def g():
        raise Boom("from the host")

    inst = wasmc.Instance(_host_module(), {"env": {
        "f": wasmc.Func(wasmc.FuncType(["i32"], ["i32"]), f),
        "g": wasmc.Func(wasmc.FuncType([], []), g)}})
    assert inst.exports["call_f"](4) == 41
    assert calls == [4]
    with pytest.raises(Boom):
        inst.exports["call_g"]()
    assert inst.exports["call_f"](1) == 11  # still fine afterwards


def test_nested_guest_host_guest_trap(traps_module):
    traps = wasmc.Instance(traps_module).exports
    seen = {}

    def f(x):
        try:
            traps["div"](x, 0)  # re-enters wasm (another instance) and traps there
        except wasmc.Trap as e:
            seen["inner"] = e.kind
        return traps["add"](x, 1)

    inst = wasmc.Instance(_host_module(), {"env": {
        "f": wasmc.Func(wasmc.FuncType(["i32"], ["i32"]), f),
        "g": wasmc.Func(wasmc.FuncType([], []), lambda: None)}})
    assert inst.exports["call_f"](5) == 7
    assert seen == {"inner": "integer divide by zero"}


def test_link_errors(traps_module):
    with pytest.raises(wasmc.LinkError, match="env::f"):
        wasmc.Instance(_host_module(), {})
    bad = wasmc.Func(wasmc.FuncType(["i64"], ["i32"]), lambda x: 0)
    with pytest.raises(wasmc.LinkError, match="incompatible import type"):
        wasmc.Instance(_host_module(), {"env": {"f": bad, "g": bad}})


def _table_user():
    """Imports a funcref table "t" and a memory; exports call(i) = call_indirect t[i] () -> i32."""
    m = Mod()
    t = m.functype([], [I32])
    tc = m.functype([I32], [I32])
    m.imports.append(name("lib") + name("t") + b"\x01" + FUNCREF + limits(2))
    m.funcs.append(uleb(tc))
    m.exports.append(name("call") + b"\x00" + uleb(0))
    body = vec([]) + lget(0) + b"\x11" + uleb(t) + uleb(0) + b"\x0b"
    m.codes.append(uleb(len(body)) + body)
    return wasmc.Module(m.build())


def _table_provider():
    """Exports a table t with two functions returning 7 and 8, and a global."""
    m = Mod()
    t = m.functype([], [I32])
    m.funcs += [uleb(t), uleb(t)]
    m.tables.append(FUNCREF + limits(2))
    m.globals.append(I64 + b"\x01" + b"\x42" + uleb(5) + b"\x0b")
    m.exports.append(name("t") + b"\x01" + uleb(0))
    m.exports.append(name("g") + b"\x03" + uleb(0))
    m.elems.append(uleb(0) + i32c(0) + b"\x0b" + vec([uleb(0), uleb(1)]))
    for v in (7, 8):
        body = vec([]) + i32c(v) + b"\x0b"
        m.codes.append(uleb(len(body)) + body)
    return wasmc.Module(m.build())


def test_multi_module_linking_through_a_table():
    prov = wasmc.Instance(_table_provider())
    user = wasmc.Instance(_table_user(), {"lib": {"t": prov.exports["t"]}})
    assert user.store is prov.store
    assert user.exports["call"](0) == 7
    assert user.exports["call"](1) == 8
    with pytest.raises(wasmc.Trap, match="undefined element"):
        user.exports["call"](2)
    tab = prov.exports["t"]
    assert tab.size == 2
    assert tab.get(0)() == 7  # a funcref read from the table is callable
    g = prov.exports["g"]
    assert g.type == "i64" and g.mutable and g.value == 5
    g.value = -3
    assert g.value == -3


def test_host_memory_table_global_imports():
    m = Mod()
    m.imports.append(name("h") + name("mem") + b"\x02" + limits(1))
    m.imports.append(name("h") + name("g") + b"\x03" + I32 + b"\x00")
    t = m.functype([], [I32])
    m.funcs.append(uleb(t))
    m.exports.append(name("f") + b"\x00" + uleb(0))
    # i32.load (global.get 0)
    body = vec([]) + b"\x23" + uleb(0) + b"\x28" + uleb(2) + uleb(0) + b"\x0b"
    m.codes.append(uleb(len(body)) + body)
    mem = wasmc.Memory(1, 3)
    mem.write(8, (99).to_bytes(4, "little"))
    g = wasmc.Global("i32", False, 8)
    inst = wasmc.Instance(wasmc.Module(m.build()), {"h": {"mem": mem, "g": g}})
    assert inst.exports["f"]() == 99
    with pytest.raises(wasmc.LinkError):  # the memory is too small for (memory 2)
        m2 = Mod()
        m2.imports.append(name("h") + name("mem") + b"\x02" + limits(2))
        wasmc.Instance(wasmc.Module(m2.build()), {"h": {"mem": mem}})


def test_func_type_helpers():
    ft = wasmc.FuncType(["i32", "f64"], ["i64"])
    assert ft == wasmc.FuncType(("i32", "f64"), ("i64",))
    with pytest.raises(ValueError):
        wasmc.FuncType(["int"], [])


def test_modules_instances_and_stores_are_freed(tmp_path):
    """A host that loads and instantiates over and over must not accumulate
    mapped images (the loader's table has 4096 slots) or 8 GiB memory
    reservations: everything is freed when the Python objects go away."""
    from wasmc.compile.cache import compile_cached

    path = compile_cached((CORPUS / "traps.wasm").read_bytes())

    def vm_kb() -> int:
        return int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])

    before = vm_kb()
    for i in range(4200):
        m = wasmc.Module.load(path)
        assert wasmc.Instance(m).exports["add"](i, 1) == i + 1
    assert vm_kb() - before < 64 * 1024 * 1024  # far less than a few reservations' worth


def test_faults_outside_guest_code_keep_their_default_action(tmp_path):
    """The trap handler only claims faults in guest code: a host crash while
    the runtime is loaded still kills the process with SIGSEGV."""
    import subprocess
    import sys

    code = (
        "import ctypes, wasmc\n"
        f"m = wasmc.Module(open({str(CORPUS / 'traps.wasm')!r}, 'rb').read())\n"
        "i = wasmc.Instance(m)\n"
        "assert i.exports['add'](1, 2) == 3\n"
        "ctypes.string_at(0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -11, (r.returncode, r.stderr)


def test_a_store_runs_guest_code_on_one_thread_at_a_time(traps_module):
    """While a host function runs on one thread inside a store's guest code,
    another thread entering the same store gets a clear error (its stack
    limit would otherwise corrupt the running thread's)."""
    traps = wasmc.Instance(traps_module).exports
    seen = {}

    def f(x):
        def other():
            try:
                traps["add"](1, 2)
            except wasmc.WasmcError as e:
                seen["error"] = str(e)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        return x

    inst = wasmc.Instance(_host_module(), {"env": {
        "f": wasmc.Func(wasmc.FuncType(["i32"], ["i32"]), f),
        "g": wasmc.Func(wasmc.FuncType([], []), lambda: None)}}, store=traps["add"]._store)
    assert inst.exports["call_f"](1) == 2
    assert "another thread" in seen.get("error", "")
    assert traps["add"](1, 2) == 3  # usable again from this thread


def test_tables_do_not_cross_stores():
    """A table holds references into its store's instances: linking it into
    another store's instance is refused (its elements could dangle)."""
    prov = wasmc.Instance(_table_provider())
    with pytest.raises(wasmc.LinkError, match="store it belongs to"):
        wasmc.Instance(_table_user(), {"lib": {"t": prov.exports["t"]}}, store=wasmc.Store())
    t = wasmc.Table("funcref", 2)
    user = wasmc.Instance(_table_user(), {"lib": {"t": t}})
    assert user.store is t._store
    with pytest.raises(wasmc.Trap, match="uninitialized element"):
        user.exports["call"](0)


def test_a_top_level_script_can_compile(tmp_path):
    """Compiling from a script with no ``if __name__ == "__main__"`` guard
    works: the compile workers never re-import the caller's main module."""
    import subprocess
    import sys

    script = tmp_path / "plugin_host.py"
    script.write_text(
        "import wasmc\n"
        f"m = wasmc.Module(open({str(CORPUS / 'traps.wasm')!r}, 'rb').read(), cache=False)\n"
        "print('result', wasmc.Instance(m).exports['add'](20, 22))\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "result 42\n"
    assert r.stderr == ""


def test_host_reentry_cannot_exhaust_the_host_stack():
    """guest -> Python -> guest -> ... as deep as Python lets it: the guest's
    stack limit, set at the outermost entry, still holds with Python frames
    in between, so the recursion ends in a trap and the process lives on."""
    import sys

    m = Mod()
    t = m.functype([I32], [I32])
    h = m.import_func(t, "env", "h")
    # f(n) = n == 0 ? 0 : h(n - 1) + 1
    f = m.func(t, lget(0) + b"\x45\x04\x7f" + i32c(0) + b"\x05" + lget(0) + i32c(1) + b"\x6b"
               + b"\x10" + uleb(h) + i32c(1) + b"\x6a\x0b")
    m.exports.append(name("f") + b"\x00" + uleb(f))
    exports = {}
    host = wasmc.Func(wasmc.FuncType(["i32"], ["i32"]), lambda n: exports["f"](n))
    exports.update(wasmc.Instance(wasmc.Module(m.build()), {"env": {"h": host}}).exports)
    assert exports["f"](50) == 50
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        with pytest.raises(wasmc.Trap) as info:
            exports["f"](1_000_000)
    finally:
        sys.setrecursionlimit(old)
    assert info.value.kind == "call stack exhausted"
    assert exports["f"](3) == 3


def _interrupt_after(store, seconds=0.2):
    t = threading.Timer(seconds, store.interrupt)
    t.start()
    return t


def test_interrupt_stops_guest_code(traps_module):
    """Store.interrupt from another thread ends a guest loop that never
    returns (in compiled code, by signal) and one that spins inside a builtin
    (checked when the builtin returns); the store keeps working."""
    store = wasmc.Store()
    e = wasmc.Instance(traps_module, store=store).exports
    for fn in ("spin", "fill_forever"):
        _interrupt_after(store)
        with pytest.raises(wasmc.Trap) as info:
            e[fn]()
        assert info.value.kind == "interrupted", fn
    assert e["add"](2, 3) == 5


def test_interrupt_before_a_call_stops_the_next_call(traps_module):
    store = wasmc.Store()
    e = wasmc.Instance(traps_module, store=store).exports
    store.interrupt()  # nothing is running: the next call traps before it starts
    with pytest.raises(wasmc.Trap, match="interrupted"):
        e["add"](1, 1)
    assert e["add"](1, 1) == 2  # and only that one


def test_interrupt_reaches_guest_code_through_host_calls():
    """guest -> Python host function (sleeping) -> ...: the signal lands
    outside guest code, so the host-call adapter traps when the host function
    returns; a guest -> host -> guest nest unwinds to the outermost call."""
    import time

    m = Mod()
    t0 = m.functype([], [])
    tick = m.import_func(t0, "env", "tick")
    inner = m.import_func(t0, "env", "inner")
    m.funcs += [uleb(t0), uleb(t0)]
    calls = 2  # func index: after the two imports
    spin = 3
    m.exports += [name("calls") + b"\x00" + uleb(calls), name("spin") + b"\x00" + uleb(spin),
                  name("nest") + b"\x00" + uleb(calls + 2)]
    m.funcs.append(uleb(t0))
    for body in (b"\x03\x40\x10" + uleb(tick) + b"\x0c\x00\x0b",  # loop { tick() }
                 b"\x03\x40\x0c\x00\x0b",                           # loop {}
                 b"\x10" + uleb(inner)):                            # inner() -> guest spin
        code = vec([]) + body + b"\x0b"
        m.codes.append(uleb(len(code)) + code)
    store = wasmc.Store()
    exports = {}
    imports = {"env": {"tick": wasmc.Func(wasmc.FuncType([], []), lambda: time.sleep(0.002)),
                       "inner": wasmc.Func(wasmc.FuncType([], []), lambda: exports["spin"]())}}
    exports.update(wasmc.Instance(wasmc.Module(m.build()), imports, store=store).exports)
    for fn in ("calls", "nest"):
        _interrupt_after(store)
        with pytest.raises(wasmc.Trap) as info:
            exports[fn]()
        assert info.value.kind == "interrupted", fn


def test_a_reused_memory_reservation_reads_as_zero():
    """Released reservations are pooled and reused (runtime-shim/src/memory.c):
    a new memory must never see what an earlier one held."""
    import gc

    bases = set()
    for _ in range(40):
        m = wasmc.Memory(2)
        bases.add(wasmc.runtime.shim.Memory.from_address(m._ptr).base)
        assert bytes(m.read(0, 2 * 65536)) == bytes(2 * 65536)
        m.write(0, b"\xaa" * 65536)
        m.write(65536, b"\x55" * 65536)
        del m
        gc.collect()
    assert len(bases) < 40  # ranges were reused
