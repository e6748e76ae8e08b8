"""Limits for untrusted code: fuel metering and store resource limits.

Fuel: code built with fuel metering (``Module(..., fuel=True)``, ``wasmc
build --fuel``) counts the Wasm instructions it runs with wasmtime's cost
model, and traps "out of fuel" at the same place wasmtime does: the
programs of corpus/wat/fuel.wat (recursion, loops, br_table, call_indirect,
tail calls) are run by both with fuel budgets around and below what they
need, and every outcome, result and count must agree.  The count does not
depend on the optimisation level, and the CLI gives the same verdicts on
every architecture.

Limits: a store's ``StoreLimits`` (``--max-memory``, ``--max-table-
elements``) make memory.grow and table.grow return -1 beyond them and
refuse instantiation that needs more (ResourceLimitError, exit code 6).
"""

from __future__ import annotations

import pytest

import wasmc
from conftest import CORPUS, one_line_error, text, wasmc_cmd

FUEL_WASM = CORPUS / "wat" / "fuel.wasm"
#: (export, argument) pairs of fuel.wat
CASES = [("fib", 10), ("collatz", 27), ("dispatch", 30), ("nested", 50), ("nested", 5), ("even", 1001),
         ("indirect_fib", 8)]
UNMETERED_BUDGET = 10**9


@pytest.fixture(scope="module")
def fuel_module():
    return wasmc.Module(FUEL_WASM.read_bytes(), fuel=True)


def _wasmc_run(module, export, arg, fuel):
    store = wasmc.Store()
    store.set_fuel(fuel)
    inst = wasmc.Instance(module, {}, store=store)
    try:
        return ("ok", inst.exports[export](arg)), store
    except wasmc.Trap as e:
        return ("trap", e.kind), store


def _budgets(need: int) -> list:
    """Fuel budgets to try for a call that needs NEED: none, a little, a
    spread below, every value near the end, and enough."""
    near = range(max(0, need - 12), need + 3)
    return sorted({0, 1, 2, *range(3, need, max(1, need // 40)), *near})


@pytest.mark.parametrize("export,arg", CASES)
def test_fuel_agrees_with_wasmtime(fuel_module, export, arg):
    wasmtime = pytest.importorskip("wasmtime")
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.wasm_tail_call = True
    engine = wasmtime.Engine(cfg)
    wt_module = wasmtime.Module(engine, FUEL_WASM.read_bytes())

    def wasmtime_run(fuel):
        store = wasmtime.Store(engine)
        store.set_fuel(fuel)
        inst = wasmtime.Instance(store, wt_module, [])
        try:
            return ("ok", inst.exports(store)[export](store, arg)), fuel - store.get_fuel()
        except wasmtime.Trap as e:
            assert "fuel" in str(e), e
            return ("trap", "out of fuel"), None

    expected, need = wasmtime_run(UNMETERED_BUDGET)
    got, store = _wasmc_run(fuel_module, export, arg, UNMETERED_BUDGET)
    assert got == expected
    assert store.fuel_consumed() == need
    assert store.get_fuel() == UNMETERED_BUDGET - need
    disagree = []
    for fuel in _budgets(need):
        want, _ = wasmtime_run(fuel)
        have, store = _wasmc_run(fuel_module, export, arg, fuel)
        if have != want:
            disagree.append((fuel, want, have))
        if have[0] == "ok" and fuel >= need:
            assert store.fuel_consumed() == need
    assert not disagree, f"{export}({arg}) needs {need}: (fuel, wasmtime, wasmc) {disagree[:5]}"


def test_fuel_does_not_depend_on_the_optimisation_level():
    data = FUEL_WASM.read_bytes()
    counts = {}
    for level in (0, 1, 3):
        m = wasmc.Module(data, fuel=True, opt_level=level)
        counts[level] = [_wasmc_run(m, e, a, UNMETERED_BUDGET)[1].fuel_consumed() for e, a in CASES]
    assert counts[0] == counts[1] == counts[3]


def test_fuel_is_spent_across_calls_and_refilled(fuel_module):
    store = wasmc.Store()
    store.set_fuel(100_000)
    inst = wasmc.Instance(fuel_module, {}, store=store)
    assert inst.exports["fib"](5) == 5
    one = store.fuel_consumed()
    assert inst.exports["fib"](5) == 5
    assert store.fuel_consumed() == 2 * one
    assert store.get_fuel() == 100_000 - 2 * one
    store.set_fuel(one // 2)  # not enough for a third call
    with pytest.raises(wasmc.Trap, match="out of fuel"):
        inst.exports["fib"](5)
    assert store.get_fuel() == 0
    store.set_fuel(one)  # a trap leaves the store usable
    assert inst.exports["fib"](5) == 5
    assert store.get_fuel() == 0


def test_fuel_needs_metered_code_on_both_sides(fuel_module):
    plain = wasmc.Module(FUEL_WASM.read_bytes())
    assert fuel_module.fuel and not plain.fuel
    metered = wasmc.Store()
    metered.set_fuel(1000)
    with pytest.raises(wasmc.WasmcError, match="without fuel metering"):
        wasmc.Instance(plain, {}, store=metered)
    store = wasmc.Store()
    wasmc.Instance(plain, {}, store=store)
    with pytest.raises(wasmc.WasmcError, match="without fuel metering"):
        store.set_fuel(1000)
    # an unmetered store runs metered code with (practically) unlimited fuel
    free = wasmc.Store()
    assert wasmc.Instance(fuel_module, {}, store=free).exports["fib"](10) == 55


@pytest.mark.parametrize("bad", [-1, 1 << 63, 2.5, "10", True])
def test_set_fuel_refuses_what_is_not_a_fuel_amount(bad):
    store = wasmc.Store()
    with pytest.raises((ValueError, TypeError, OverflowError)):
        store.set_fuel(bad)


# --- resource limits ----------------------------------------------------------

GROW_WAT = """
(module
  (memory (export "memory") 1)
  (table (export "table") 1 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "tgrow") (param i32) (result i32) (table.grow 0 (ref.null func) (local.get 0))))
"""


@pytest.fixture(scope="module")
def grow_module(wat):
    return wasmc.Module(wat(GROW_WAT))


@pytest.fixture(scope="module")
def wat(tmp_path_factory):
    import subprocess

    from conftest import require_tool

    tool = require_tool("wat2wasm")
    d = tmp_path_factory.mktemp("wat")

    def compile_(src: str) -> bytes:
        (d / "m.wat").write_text(src)
        subprocess.run([tool, "--enable-all", str(d / "m.wat"), "-o", str(d / "m.wasm")], check=True)
        return (d / "m.wasm").read_bytes()

    return compile_


def test_memory_and_table_growth_stop_at_the_limits(grow_module):
    store = wasmc.Store(limits=wasmc.StoreLimits(memory_size=3 * 65536, table_elements=4))
    inst = wasmc.Instance(grow_module, {}, store=store)
    grow, tgrow = inst.exports["grow"], inst.exports["tgrow"]
    assert grow(2) == 1
    assert grow(1) == -1  # 4 pages > 3
    assert inst.exports["memory"].size == 3
    assert tgrow(3) == 1
    assert tgrow(1) == -1
    # the host growing the store's own extern is held to the same limits
    with pytest.raises(wasmc.WasmcError):
        inst.exports["memory"].grow(1)
    store.set_limits()  # no limits any more
    assert grow(1) == 3


def test_instantiation_beyond_the_limits_is_refused(grow_module):
    store = wasmc.Store(limits=wasmc.StoreLimits(instances=1))
    wasmc.Instance(grow_module, {}, store=store)
    with pytest.raises(wasmc.ResourceLimitError, match="instances"):
        wasmc.Instance(grow_module, {}, store=store)
    for limits, what in ((wasmc.StoreLimits(memory_size=0), "pages"), (wasmc.StoreLimits(memories=0), "memories"),
                         (wasmc.StoreLimits(tables=0), "tables"), (wasmc.StoreLimits(table_elements=0), "elements")):
        with pytest.raises(wasmc.ResourceLimitError, match=what):
            wasmc.Instance(grow_module, {}, store=wasmc.Store(limits=limits))


# --- the command line, on every architecture ------------------------------------

@pytest.fixture(scope="module")
def fuel_artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuel") / "fuel.wasmu"
    r = wasmc_cmd("build", str(FUEL_WASM), "--fuel", "--targets", "all", "-O1", "-o", str(out))
    assert r.returncode == 0, text(r.stderr)
    return out


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "riscv64"])
def test_exec_fuel_gives_the_same_verdict_on_every_architecture(fuel_module, fuel_artifact, arch):
    _, store = _wasmc_run(fuel_module, "collatz", 27, UNMETERED_BUDGET)
    need = store.fuel_consumed()
    # the least fuel that lets collatz(27) finish, found in-process
    least = next(f for f in range(need, 0, -1) if _wasmc_run(fuel_module, "collatz", 27, f - 1)[0][0] == "trap")
    ok = wasmc_cmd("exec", "--target", arch, str(fuel_artifact), "--fuel", str(least), "--invoke", "collatz", "27")
    assert ok.returncode == 0, text(ok.stderr)
    assert text(ok.stdout).strip() == "111"
    short = wasmc_cmd("exec", "--target", arch, str(fuel_artifact), "--fuel", str(least - 1), "--invoke",
                      "collatz", "27")
    assert "out of fuel" in one_line_error(short, 134)


def test_exec_limits_and_fuel_on_the_command_line(tmp_path, wat):
    src = tmp_path / "grow.wasm"
    src.write_bytes(wat(GROW_WAT))
    r = wasmc_cmd("run", str(src), "--max-memory", "128K", "--invoke", "grow", "1")
    assert r.returncode == 0 and text(r.stdout).strip() == "1", text(r.stderr)
    r = wasmc_cmd("run", str(src), "--max-memory", "128K", "--invoke", "grow", "2")
    assert text(r.stdout).strip() == "-1"
    r = wasmc_cmd("run", str(src), "--max-table-elements", "1", "--invoke", "tgrow", "1")
    assert text(r.stdout).strip() == "-1"
    r = wasmc_cmd("run", str(src), "--max-memory", "0", "--invoke", "grow", "0")
    assert "resource limit exceeded" in one_line_error(r, 6)
    r = wasmc_cmd("run", str(src), "--max-instances", "1", "--preload", f"m={src}", "--invoke", "grow", "0")
    assert "instances" in one_line_error(r, 6)
    # run compiles with fuel metering when --fuel is given
    r = wasmc_cmd("run", str(src), "--fuel", "1", "--invoke", "grow", "0")
    assert "out of fuel" in one_line_error(r, 134)
    # exec needs an artifact built with it
    plain = tmp_path / "grow.wasmu"
    assert wasmc_cmd("build", str(src), "-o", str(plain)).returncode == 0
    assert "wasmc build --fuel" in one_line_error(wasmc_cmd("exec", str(plain), "--fuel", "10"), 2)
    for opt, bad in (("--fuel", "-1"), ("--fuel", str(1 << 63)), ("--max-memory", "1X"),
                     ("--max-table-elements", "ten"), ("--max-instances", "1.5")):
        assert opt in one_line_error(wasmc_cmd("exec", str(plain), opt, bad), 2)
