"""Locals, globals, and the parametric instructions (drop, select).

Locals live in ``alloca``s (declared in the entry block by function.py) that
mem2reg turns into SSA.  Defined globals live inline in the VMContext;
imported ones are reached through a pointer there.
"""

from __future__ import annotations

from .ir import INV, lltype


def _drop(L, ins):
    L.stack.pop()  # a dropped load still runs: see FunctionLowering._access


def _select(L, ins):
    c = L.to_i1(L.popv())
    b, t = L.pop()
    a, _ = L.pop()
    L.push(L.op(f"select i1 {c}, {lltype(t)} {a}, {lltype(t)} {b}"), t)


def _vol(L) -> str:
    # In a function with a try block a local's latest value must survive a
    # _longjmp to the block's dispatch code: keep it in memory (eh.py).
    return "volatile " if L.eh_fn else ""


def _local_get(L, ins):
    i = ins[1]
    t = L.local_types[i]
    L.push(L.op(f"load {_vol(L)}{lltype(t)}, ptr %local{i}"), t)


def _local_set(L, ins):
    i = ins[1]
    v, t = L.pop()
    L.emit(f"store {_vol(L)}{lltype(t)} {v}, ptr %local{i}")


def _local_tee(L, ins):
    i = ins[1]
    v, t = L.stack[-1]
    L.emit(f"store {_vol(L)}{lltype(t)} {v}, ptr %local{i}")


def _global_ptr(L, g):
    info = L.info
    if g < info.nimported_globals:
        return L.vm_load("ptr", info.vmo.imported_global(g))
    return L.vm_ptr(info.vmo.global_slot(g - info.nimported_globals))


def _global_get(L, ins):
    g = ins[1]
    gt = L.info.globals[g]
    p = _global_ptr(L, g)
    inv = f", {INV}" if not gt.mutable else ""
    L.push(L.op(f"load {lltype(gt.type)}, ptr {p}{inv}"), gt.type)


def _global_set(L, ins):
    g = ins[1]
    v, t = L.pop()
    p = _global_ptr(L, g)
    L.emit(f"store {lltype(t)} {v}, ptr {p}")


HANDLERS = {"par:drop": _drop, "par:select": _select, "var:local.get": _local_get,
            "var:local.set": _local_set, "var:local.tee": _local_tee, "var:global.get": _global_get,
            "var:global.set": _global_set}


def handler(op):
    return HANDLERS.get(op.hint)
