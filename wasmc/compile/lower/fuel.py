"""Fuel metering: code built with ``wasmc build --fuel`` counts what it runs.

The counter is ``limits->fuel`` (abi.LIMITS), the fuel the store has left;
the runtime sets it (``wasmc_store_set_fuel``, runtime-shim/src/limits.c).
Every Wasm instruction costs one unit except the ones that do no work of
their own (wasmtime's cost model: ``nop``, ``drop``, ``block``, ``loop``,
``end``, ``else``, ``unreachable`` and ``return`` are free).

Costs are added up while a straight-line stretch of instructions is
lowered and subtracted from the counter in one step where the stretch
ends: before every instruction that branches, calls, returns, throws or
opens or closes a block.  Every instruction of a stretch runs whenever its
end does (only a trap leaves one early, and then the trapping function's
last stretch is not counted), so the count is exact on every path.

Within a function the counter lives in a local (``%fuel.slot``, an alloca
LLVM keeps in a register), so linear-memory stores -- which might alias
the store's counter -- never force it back to memory: it is loaded from
``limits->fuel`` at entry and after every call, and written back before
every call, return, throw and out-of-fuel trap (a function with a
handler, whose locals must survive a longjmp, works on ``limits->fuel``
directly).  After any other trap the function's count since its last
call is not written back: ``fuel_consumed`` may miss it.

The counter is checked at each function entry and each loop header -- the
places every unbounded execution passes through -- and a check that finds
it at or below zero traps ``out of fuel``.  Where that happens depends only
on the Wasm code and its inputs: the same instruction on every run, every
architecture and every optimisation level.  A function whose module is not
built with fuel gets none of this (FunctionLowering.fuel is False).
"""

from __future__ import annotations

from ... import abi

#: Instructions that cost nothing (wasmtime's fuel cost model).
FREE = frozenset({"nop", "drop", "block", "loop", "end", "else", "unreachable", "return"})

#: Instructions that end a straight-line stretch: pending cost is
#: subtracted before they run.  Branches, calls, returns, throws and every
#: instruction that opens, splits or closes a block.
STRETCH_ENDS = frozenset({
    "block", "loop", "if", "else", "end", "br", "br_if", "br_table", "return", "unreachable",
    "call", "call_indirect", "call_ref", "return_call", "return_call_indirect", "return_call_ref",
    "br_on_null", "br_on_non_null", "br_on_cast", "br_on_cast_fail",
    "try_table", "throw", "throw_ref", "try", "catch", "catch_all", "delegate", "rethrow",
})


#: Instructions that leave the function without a return or a call (which
#: write the counter back themselves: control.py, calls.py).
LEAVES = frozenset({"throw", "throw_ref", "rethrow"})


class FuelMixin:
    """FunctionLowering's fuel counting (active when ``self.fuel``)."""

    fuel = False
    fuel_pending = 0

    @property
    def _fuel_cell(self) -> str:
        """Where this function keeps the counter: its local, or (with a
        handler) limits->fuel itself."""
        return "%fuel.p" if self.eh_fn else "%fuel.slot"

    def fuel_entry_lines(self) -> list:
        """Lines for the function's entry block: the counter's address
        (after ``%lim.p``) and its local."""
        return [f"  %fuel.p = getelementptr inbounds i8, ptr %lim.p, i64 {abi.LIMITS.offset('fuel')}",
                "  %fuel.slot = alloca i64, align 8"]

    def fuel_before(self, name: str):
        """Account for instruction NAME before it is lowered."""
        if name not in FREE:
            self.fuel_pending += 1
        if name in STRETCH_ENDS:
            self.fuel_flush()
        if name in LEAVES:
            self.fuel_sync_out()

    def fuel_flush(self):
        n, self.fuel_pending = self.fuel_pending, 0
        if n and not self.dead:
            left = self.op(f"load i64, ptr {self._fuel_cell}")
            self.emit(f"store i64 {self.op(f'sub i64 {left}, {n}')}, ptr {self._fuel_cell}")

    def fuel_sync_out(self):
        """Before a call, a return, a throw or an out-of-fuel trap: the
        counter back to limits->fuel (callees and the host read it there)."""
        if self.fuel and not self.eh_fn and not self.dead:
            self.emit(f"store i64 {self.op('load i64, ptr %fuel.slot')}, ptr %fuel.p")

    def fuel_sync_in(self):
        """After a call returns: what the callee left."""
        if self.fuel and not self.eh_fn and not self.dead:
            self.emit(f"store i64 {self.op('load i64, ptr %fuel.p')}, ptr %fuel.slot")

    def fuel_entry(self):
        """At the function's entry: a call costs one unit (wasmtime's
        model), spent before the check."""
        left = self.op("load i64, ptr %fuel.p")
        left = self.op(f"sub i64 {left}, 1")
        self.emit(f"store i64 {left}, ptr {self._fuel_cell}")
        self.trap_if(self.op(f"icmp slt i64 {left}, 1"), "OUT_OF_FUEL")

    def fuel_check(self):
        """Trap 'out of fuel' here if the counter is at or below zero."""
        left = self.op(f"load i64, ptr {self._fuel_cell}")
        self.trap_if(self.op(f"icmp slt i64 {left}, 1"), "OUT_OF_FUEL")
