"""Tables and references: table.get/set/size/grow/fill/copy/init,
elem.drop, ref.null, ref.is_null, ref.func.

A table is a ``wasmc_table`` record the VMContext points at; its element
array may move when it grows, so every access reloads it.  Bounds are
checked explicitly ("out of bounds table access"); the bulk operations are
builtins of the shim, which check their own bounds.  A 64-bit table
(memory64 proposal) takes i64 indices and sizes; the shim's interface is
64-bit for both kinds, so 32-bit operands are zero-extended.
"""

from __future__ import annotations

from ... import abi
from ...wasm.module import RefType


class TableMixin:
    """The FunctionLowering methods that address tables."""

    def table_ptr(self, t: int) -> str:
        return self.vm_load("ptr", self.info.vmo.table(t))

    def table_field(self, tab: str, name: str, ty: str) -> str:
        p = self.op(f"getelementptr inbounds i8, ptr {tab}, i64 {abi.TABLE.offset(name)}")
        return self.op(f"load {ty}, ptr {p}")

    def table_is64(self, t: int) -> bool:
        return self.info.tables[t].limits.is64

    def table_index(self, t: int, v: str) -> str:
        """An index or size operand of table T's address type, as an i64."""
        return v if self.table_is64(t) else self.op(f"zext i32 {v} to i64")

    def table_result(self, t: int, v64: str) -> str:
        """An i64 size or index as table T's address type, pushed."""
        ty = "i64" if self.table_is64(t) else "i32"
        self.push(v64 if ty == "i64" else self.op(f"trunc i64 {v64} to i32"), ty)

    def table_slot(self, t: int, idx: str, trap: str) -> str:
        """Pointer to element IDX (of T's address type) of table T, trapping with TRAP if out of bounds."""
        tab = self.table_ptr(t)
        size = self.table_field(tab, "size", "i64")
        i64 = self.table_index(t, idx)
        oob = self.op(f"icmp uge i64 {i64}, {size}")
        self.trap_if(oob, trap)
        elems = self.table_field(tab, "elems", "ptr")
        return self.op(f"getelementptr inbounds ptr, ptr {elems}, i64 {i64}")


def _table_get(L, ins):
    t = ins[1]
    idx = L.popv()
    slot = L.table_slot(t, idx, "TABLE_OOB")
    L.push(L.op(f"load ptr, ptr {slot}"), L.info.tables[t].elem)


def _table_set(L, ins):
    t = ins[1]
    v = L.popv()
    idx = L.popv()
    slot = L.table_slot(t, idx, "TABLE_OOB")
    L.emit(f"store ptr {v}, ptr {slot}")


def _table_size(L, ins):
    tab = L.table_ptr(ins[1])
    L.table_result(ins[1], L.table_field(tab, "size", "i64"))


def _table_grow(L, ins):
    t = ins[1]
    n = L.table_index(t, L.popv())
    init = L.popv()
    r = L.call_builtin("table_grow", f"i32 {t}, ptr {init}, i64 {n}", "i64")
    L.table_result(t, r)


def _table_fill(L, ins):
    t = ins[1]
    n = L.table_index(t, L.popv())
    v = L.popv()
    d = L.table_index(t, L.popv())
    L.call_builtin("table_fill", f"i32 {t}, i64 {d}, ptr {v}, i64 {n}")


def _table_copy(L, ins):
    dt, st = ins[1], ins[2]
    # the length has the smaller of the two address types
    n = L.popv()
    n = n if L.table_is64(dt) and L.table_is64(st) else L.op(f"zext i32 {n} to i64")
    s = L.table_index(st, L.popv())
    d = L.table_index(dt, L.popv())
    L.call_builtin("table_copy", f"i32 {dt}, i32 {st}, i64 {d}, i64 {s}, i64 {n}")


def _table_init(L, ins):
    seg, t = ins[1], ins[2]
    n = L.popv()
    s = L.popv()
    d = L.table_index(t, L.popv())
    L.call_builtin("table_init", f"i32 {t}, i32 {seg}, i64 {d}, i32 {s}, i32 {n}")


def _elem_drop(L, ins):
    L.call_builtin("elem_drop", f"i32 {ins[1]}")


def _ref_null(L, ins):
    L.push("null", RefType(True, ins[1]))


def _ref_is_null(L, ins):
    v = L.popv()
    L.push(L.from_i1(L.op(f"icmp eq ptr {v}, null")), "i32")


def _ref_func(L, ins):
    fr = L.vm_load("ptr", L.info.vmo.funcref_ptr(ins[1]))
    L.push(fr, RefType(True, "func"))


def _ref_as_non_null(L, ins):
    v, t = L.pop()
    L.trap_if(L.op(f"icmp eq ptr {v}, null"), "NULL_REFERENCE")
    L.push(v, RefType(False, t.heap) if isinstance(t, RefType) else t)


HANDLERS = {"ref:as_non_null": _ref_as_non_null, "tab:get": _table_get, "tab:set": _table_set, "tab:size": _table_size, "tab:grow": _table_grow,
            "tab:fill": _table_fill, "tab:copy": _table_copy, "tab:init": _table_init,
            "tab:elem_drop": _elem_drop, "ref:null": _ref_null, "ref:is_null": _ref_is_null,
            "ref:func": _ref_func}


def handler(op):
    return HANDLERS.get(op.hint)
