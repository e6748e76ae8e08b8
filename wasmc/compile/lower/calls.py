"""The calling convention, in one place: how Wasm functions, host functions
and the host call each other (wasmc/abi.py describes it; this file emits it).

* A Wasm function is ``R wasm_func_<i>(ptr callee_vmctx, ptr caller_vmctx,
  params...)``; R is void, the single result, or a literal struct of the
  results.  Within a module both contexts are the same.
* ``call`` of a defined function is a direct call; of an import, a call
  through its funcref record (code + vmctx, ``!invariant.load``: imports
  never change).  ``call_indirect`` loads the table slot, traps on null
  ("uninitialized element") and on a type id mismatch, then calls through
  the record.
* Array-call trampolines ``void wasm_tramp_<k>(ptr callee, ptr code, ptr
  caller, ptr values)`` (one per signature) are how the host calls exports:
  parameters from 16-byte value slots in, results back into them.
* Host adapters ``R wasm_adapter_<k>(ptr env, ptr caller, params...)`` are
  what an imported host function's funcref points at: they spill the
  arguments into slots, call ``int32 fn(env, caller, values)``, and raise a
  non-zero status (or a pending interrupt) as a trap after the host frame
  has returned -- never a longjmp across the host.
"""

from __future__ import annotations

from ... import abi
from ...wasm.module import FuncType
from .ir import FN_ATTRS, INV, VAL, lltype, ret_type


def signature(ft: FuncType, with_names: bool = True) -> str:
    """The parameter list of a Wasm function of type FT."""
    if with_names:
        return ", ".join(["ptr %vmctx", "ptr %caller"] + [f"{lltype(t)} %p{i}" for i, t in enumerate(ft.params)])
    return ", ".join(["ptr", "ptr"] + [lltype(t) for t in ft.params])


class CallMixin:
    """The FunctionLowering methods that make calls."""

    def do_call(self, callee: str, callee_vmctx: str, ft: FuncType):
        n = len(ft.params)
        args = self.stack[len(self.stack) - n:] if n else []
        del self.stack[len(self.stack) - n:]
        arglist = "".join(f", {lltype(t)} {v}" for v, t in args)
        rt = ret_type(ft.results)
        call = f"call {rt} {callee}(ptr {callee_vmctx}, ptr %vmctx{arglist})"
        if rt == "void":
            self.emit(call)
        elif len(ft.results) == 1:
            self.push(self.op(call), ft.results[0])
        else:
            r = self.op(call)
            for i, t in enumerate(ft.results):
                self.push(self.op(f"extractvalue {rt} {r}, {i}"), t)

    def funcref_fields(self, fr: str, invariant: bool):
        inv = f", {INV}" if invariant else ""
        code = self.op(f"load ptr, ptr {fr}{inv}")
        vp = self.op(f"getelementptr inbounds i8, ptr {fr}, i64 {abi.FUNCREF.offset('vmctx')}")
        vm = self.op(f"load ptr, ptr {vp}{inv}")
        return code, vm


def _call(L, ins):
    fi = ins[1]
    ft = L.info.func_type(fi)
    if fi >= L.info.nimported_funcs:
        L.do_call(f"@wasm_func_{fi - L.info.nimported_funcs}", "%vmctx", ft)
    else:
        fr = L.vm_load("ptr", L.info.vmo.funcref_ptr(fi))
        code, vm = L.funcref_fields(fr, True)
        L.do_call(code, vm, ft)


def _call_indirect(L, ins):
    typeidx, t = ins[1], ins[2]
    idx = L.popv()
    slot = L.table_slot(t, idx, "UNDEFINED")
    fr = L.op(f"load ptr, ptr {slot}")
    isnull = L.op(f"icmp eq ptr {fr}, null")
    L.trap_if(isnull, "UNINITIALIZED")
    tp = L.op(f"getelementptr inbounds i8, ptr {fr}, i64 {abi.FUNCREF.offset('type_id')}")
    got = L.op(f"load i32, ptr {tp}")
    want = L.vm_load("i32", L.info.vmo.type_id_array + 4 * typeidx)
    bad = L.op(f"icmp ne i32 {got}, {want}")
    L.trap_if(bad, "INDIRECT_TYPE")
    code, vm = L.funcref_fields(fr, False)
    L.do_call(code, vm, L.info.types[typeidx].comp)


HANDLERS = {"call:direct": _call, "call:indirect": _call_indirect}


def handler(op):
    return HANDLERS.get(op.hint)


# ---------------------------------------------------------------------------
# Trampolines and adapters (one per signature, in partition 0)
# ---------------------------------------------------------------------------

def _slot_load(ptr: str, i: int, t, name: str) -> list:
    return [f"  %{name}.p = getelementptr inbounds i8, ptr {ptr}, i64 {i * VAL}",
            f"  %{name} = load {lltype(t)}, ptr %{name}.p, align 8"]


def _trampoline(k: int, ft: FuncType) -> str:
    lines = [f"define hidden void @wasm_tramp_{k}(ptr %callee, ptr %code, ptr %caller, ptr %vals) {FN_ATTRS} {{"]
    args = []
    for i, t in enumerate(ft.params):
        lines += _slot_load("%vals", i, t, f"a{i}")
        args.append(f"{lltype(t)} %a{i}")
    rt = ret_type(ft.results)
    call = f"call {rt} %code(ptr %callee, ptr %caller{''.join(', ' + a for a in args)})"
    if rt == "void":
        lines.append("  " + call)
    else:
        lines.append(f"  %r = {call}")
        for i, t in enumerate(ft.results):
            v = "%r"
            if len(ft.results) > 1:
                lines.append(f"  %r{i} = extractvalue {rt} %r, {i}")
                v = f"%r{i}"
            lines.append(f"  %s{i}.p = getelementptr inbounds i8, ptr %vals, i64 {i * VAL}")
            lines.append(f"  store {lltype(t)} {v}, ptr %s{i}.p, align 8")
    lines.append("  ret void")
    lines.append("}")
    return "\n".join(lines)


def _adapter(k: int, ft: FuncType) -> str:
    sig = ", ".join(["ptr %env", "ptr %caller"] + [f"{lltype(t)} %p{i}" for i, t in enumerate(ft.params)])
    rt = ret_type(ft.results)
    n = max(len(ft.params), len(ft.results), 1)
    lines = [f"define hidden {rt} @wasm_adapter_{k}({sig}) {FN_ATTRS} {{",
             f"  %vals = alloca [{n * VAL} x i8], align 16"]
    for i, t in enumerate(ft.params):
        lines.append(f"  %a{i}.p = getelementptr inbounds i8, ptr %vals, i64 {i * VAL}")
        lines.append(f"  store {lltype(t)} %p{i}, ptr %a{i}.p, align 8")
    lines += [
        "  %fn = load ptr, ptr %env",
        "  %st0 = call i32 %fn(ptr %env, ptr %caller, ptr %vals)",
        # An interrupt that arrived while the host function ran (outside
        # guest code, where the signal cannot end it) takes effect now, before
        # the host's own status: a nested call it made may have failed
        # because of that same interrupt.
        f"  %lim.pp = getelementptr inbounds i8, ptr %caller, i64 {abi.VMCTX.offset('limits')}",
        "  %lim.p = load ptr, ptr %lim.pp",
        f"  %int.p = getelementptr inbounds i8, ptr %lim.p, i64 {abi.LIMITS.offset('interrupt')}",
        "  %int = load volatile i64, ptr %int.p",
        "  %intr = icmp ne i64 %int, 0",
        f"  %st = select i1 %intr, i32 {abi.trap_code('INTERRUPT')}, i32 %st0",
        "  %bad = icmp ne i32 %st, 0",
        "  br i1 %bad, label %trap, label %ok, !prof !1",
        "trap:",
        f"  %bt.p = getelementptr inbounds i8, ptr %caller, i64 {abi.VMCTX.offset('builtins')}",
        "  %bt = load ptr, ptr %bt.p",
        f"  %ht.p = getelementptr inbounds i8, ptr %bt, i64 {abi.builtin_offset('host_trap')}",
        "  %ht = load ptr, ptr %ht.p",
        "  call void %ht(ptr %caller, i32 %st) #1",
        "  unreachable",
        "ok:",
    ]
    if rt == "void":
        lines.append("  ret void")
    else:
        for i, t in enumerate(ft.results):
            lines += _slot_load("%vals", i, t, f"r{i}")
        if len(ft.results) == 1:
            lines.append(f"  ret {lltype(ft.results[0])} %r0")
        else:
            acc = "undef"
            for i, t in enumerate(ft.results):
                lines.append(f"  %agg{i} = insertvalue {rt} {acc}, {lltype(t)} %r{i}, {i}")
                acc = f"%agg{i}"
            lines.append(f"  ret {rt} {acc}")
    lines.append("}")
    return "\n".join(lines)
