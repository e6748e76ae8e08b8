"""The calling convention, in one place: how Wasm functions, host functions
and the host call each other (wasmc/abi.py describes it; this file emits it).

* A Wasm function is ``R wasm_func_<i>(ptr callee_vmctx, ptr caller_vmctx,
  params...)``; R is void, the single result, or a literal struct of the
  results.  Within a module both contexts are the same.  Every Wasm function
  and every host adapter uses one LLVM calling convention, chosen per target
  (targets/*.toml ``calling_convention``), so any funcref can be called and
  tail-called from any module: ``tailcc`` on x86-64 and aarch64, where
  ``musttail`` works between different prototypes (Wasm ``return_call``);
  see :class:`TailCC`.
* ``return_call``, ``return_call_indirect`` and ``return_call_ref`` are
  ``musttail`` calls: guaranteed, so a chain of tail calls of any length
  runs in constant stack.  Ordinary calls are never turned into tail calls
  (``"disable-tail-calls"``): runaway recursion must end in "call stack
  exhausted".
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


class TailCC:
    """LLVM's ``tailcc`` with native parameters (x86-64, aarch64).

    ``tailcc`` guarantees that a ``musttail`` call is a jump even when the
    callee's prototype differs from the caller's (the callee pops the stack
    arguments), which is exactly Wasm's ``return_call``.  Parameters and
    results are passed as LLVM passes them for the prototype
    ``R f(ptr, ptr, params...)``.  (riscv64 has no tailcc: it needs a
    prototype shared by all functions instead.)"""

    name = "tailcc"

    def define(self, name: str, ft: FuncType, first: str = "%vmctx") -> tuple[str, list]:
        """The ``define`` line of a function of type FT named NAME, and the
        entry-block lines that make its parameters available as %p0, %p1..."""
        ps = ", ".join([f"ptr {first}", "ptr %caller"] + [f"{lltype(t)} %p{i}" for i, t in enumerate(ft.params)])
        return f"define hidden tailcc {ret_type(ft.results)} @{name}({ps}) {FN_ATTRS} {{", []

    def declare(self, name: str, ft: FuncType) -> str:
        ps = ", ".join(["ptr", "ptr"] + [lltype(t) for t in ft.params])
        return f"declare hidden tailcc {ret_type(ft.results)} @{name}({ps}) {FN_ATTRS}"

    def call(self, em, callee: str, callee_vmctx: str, caller_vmctx: str, ft: FuncType, args: list,
             tail: bool = False) -> list:
        """Call CALLEE with ARGS ((value, type) pairs); the result values, or
        for a TAIL call nothing (the function has returned)."""
        arglist = "".join(f", {lltype(t)} {v}" for v, t in args)
        rt = ret_type(ft.results)
        call = f"{'musttail ' if tail else ''}call tailcc {rt} {callee}(ptr {callee_vmctx}, ptr {caller_vmctx}{arglist})"
        if rt == "void":
            em.emit(call)
            if tail:
                em.emit("ret void")
            return []
        r = em.op(call)
        if tail:
            em.emit(f"ret {rt} {r}")
            return []
        if len(ft.results) == 1:
            return [r]
        return [em.op(f"extractvalue {rt} {r}, {i}") for i in range(len(ft.results))]

    def ret(self, em, results: list) -> None:
        """Return RESULTS ((value, type) pairs) from the current function."""
        if not results:
            em.emit("ret void")
        elif len(results) == 1:
            em.emit(f"ret {lltype(results[0][1])} {results[0][0]}")
        else:
            rt = ret_type([t for _, t in results])
            acc = "undef"
            for i, (v, t) in enumerate(results):
                acc = em.op(f"insertvalue {rt} {acc}, {lltype(t)} {v}, {i}")
            em.emit(f"ret {rt} {acc}")


class PlainC(TailCC):
    """The C convention with native parameters, without guaranteed tail
    calls: for a target whose LLVM back end has neither ``tailcc`` nor a
    ``musttail`` between different prototypes (riscv64, until it has a
    convention of its own).  Wasm tail calls are refused at build time."""

    name = "ccc"

    def define(self, name, ft, first="%vmctx"):
        head, entry = super().define(name, ft, first)
        return head.replace(" tailcc ", " ", 1), entry

    def declare(self, name, ft):
        return super().declare(name, ft).replace(" tailcc ", " ", 1)

    def call(self, em, callee, callee_vmctx, caller_vmctx, ft, args, tail=False):
        if tail:
            from ...errors import UnsupportedError

            raise UnsupportedError("tail calls are not supported on this target yet (feature: tail_call)")
        arglist = "".join(f", {lltype(t)} {v}" for v, t in args)
        rt = ret_type(ft.results)
        call = f"call {rt} {callee}(ptr {callee_vmctx}, ptr {caller_vmctx}{arglist})"
        if rt == "void":
            em.emit(call)
            return []
        r = em.op(call)
        if len(ft.results) == 1:
            return [r]
        return [em.op(f"extractvalue {rt} {r}, {i}") for i in range(len(ft.results))]


class Uniform:
    """One prototype for every function (riscv64), so that any function can
    ``musttail`` any other: LLVM's RISC-V back end has no ``tailcc``, and its
    ``musttail`` needs caller and callee prototypes to be identical and every
    argument in a register (PLATFORM-NOTES section 2).

    ``R f(ptr vmctx, ptr caller, i64 x0..x5, double d0..d7)``: 8 integer and 8
    floating-point registers, exactly the argument registers of the LP64D
    ABI.  Parameters take the next free slot of their class -- i32 (sign-
    extended, as the ABI keeps them), i64 and references (``ptrtoint``) an
    integer slot, v128 two of them, f64 a double slot and f32 one too, by its
    bits -- and the rest go to the store's argument buffer
    (``limits->args``, 16 bytes a value), written by the caller just before
    the call and read by the callee before anything else.  R is the result
    when there is exactly one scalar result (the two sides of a tail call
    always have the same results); otherwise R is void and the results travel
    through the same buffer.  Calls that are not tail calls pay a few moves
    for the f32 and narrow-integer conversions (docs/benchmarks.md)."""

    name = "uniform"
    NX, ND = 6, 8

    def _layout(self, types) -> list:
        """Where each value of TYPES goes: ("x", i), ("x2", i) for v128,
        ("d", i), or ("buf", k)."""
        nx = nd = nb = 0
        out = []
        for t in types:
            if t in ("f32", "f64") and nd < self.ND:
                out.append(("d", nd))
                nd += 1
            elif t == "v128" and nx + 2 <= self.NX:
                out.append(("x2", nx))
                nx += 2
            elif t not in ("f32", "f64", "v128") and nx < self.NX:
                out.append(("x", nx))
                nx += 1
            else:
                out.append(("buf", nb))
                nb += 1
        return out

    @staticmethod
    def _scalar_return(results) -> bool:
        return len(results) == 1 and results[0] != "v128"

    def _ret_type(self, results) -> str:
        return lltype(results[0]) if self._scalar_return(results) else "void"

    def _proto(self, first: str | None) -> str:
        names = first is not None
        ps = [f"ptr {first}" if names else "ptr", "ptr %caller" if names else "ptr"]
        ps += [f"i64 %x{i}" if names else "i64" for i in range(self.NX)]
        ps += [f"double %d{i}" if names else "double" for i in range(self.ND)]
        return ", ".join(ps)

    @staticmethod
    def _buffer(em, vmctx: str) -> str:
        lp = em.op(f"getelementptr inbounds i8, ptr {vmctx}, i64 {abi.VMCTX.offset('limits')}")
        lim = em.op(f"load ptr, ptr {lp}, {INV}")
        bp = em.op(f"getelementptr inbounds i8, ptr {lim}, i64 {abi.LIMITS.offset('args')}")
        return em.op(f"load ptr, ptr {bp}, {INV}")

    def define(self, name: str, ft: FuncType, first: str = "%vmctx") -> tuple[str, list]:
        head = f"define hidden {self._ret_type(ft.results)} @{name}({self._proto(first)}) {FN_ATTRS} {{"
        lines = []
        em = Lines(lines, "entry.")
        buf = None
        for i, (t, (cls, k)) in enumerate(zip(ft.params, self._layout(ft.params))):
            lt = lltype(t)
            if cls == "buf":
                buf = buf or self._buffer(em, "%caller")
                p = em.op(f"getelementptr inbounds i8, ptr {buf}, i64 {k * VAL}")
                em.emit(f"%p{i} = load {lt}, ptr {p}, align 8")
            elif cls == "d":
                if t == "f64":
                    em.emit(f"%p{i} = bitcast double %d{k} to double")
                else:
                    b = em.op(f"bitcast double %d{k} to i64")
                    w = em.op(f"trunc i64 {b} to i32")
                    em.emit(f"%p{i} = bitcast i32 {w} to float")
            elif cls == "x2":
                v = em.op(f"insertelement <2 x i64> undef, i64 %x{k}, i32 0")
                v = em.op(f"insertelement <2 x i64> {v}, i64 %x{k + 1}, i32 1")
                em.emit(f"%p{i} = bitcast <2 x i64> {v} to <16 x i8>")
            elif t == "i32":
                em.emit(f"%p{i} = trunc i64 %x{k} to i32")
            elif t == "i64":
                em.emit(f"%p{i} = add i64 %x{k}, 0")
            else:  # a reference
                em.emit(f"%p{i} = inttoptr i64 %x{k} to ptr")
        return head, lines

    def declare(self, name: str, ft: FuncType) -> str:
        return f"declare hidden {self._ret_type(ft.results)} @{name}({self._proto(None)}) {FN_ATTRS}"

    def call(self, em, callee: str, callee_vmctx: str, caller_vmctx: str, ft: FuncType, args: list,
             tail: bool = False) -> list:
        xs, ds = ["undef"] * self.NX, ["undef"] * self.ND
        buf = None
        for (v, t), (cls, k) in zip(args, self._layout([t for _, t in args])):
            lt = lltype(t)
            if cls == "buf":
                buf = buf or self._buffer(em, caller_vmctx)
                p = em.op(f"getelementptr inbounds i8, ptr {buf}, i64 {k * VAL}")
                em.emit(f"store {lt} {v}, ptr {p}, align 8")
            elif cls == "d":
                if t == "f64":
                    ds[k] = v
                else:
                    b = em.op(f"bitcast float {v} to i32")
                    w = em.op(f"zext i32 {b} to i64")
                    ds[k] = em.op(f"bitcast i64 {w} to double")
            elif cls == "x2":
                w = em.op(f"bitcast <16 x i8> {v} to <2 x i64>")
                xs[k] = em.op(f"extractelement <2 x i64> {w}, i32 0")
                xs[k + 1] = em.op(f"extractelement <2 x i64> {w}, i32 1")
            elif t == "i32":
                xs[k] = em.op(f"sext i32 {v} to i64")
            elif t == "i64":
                xs[k] = v
            else:
                xs[k] = em.op(f"ptrtoint ptr {v} to i64")
        rt = self._ret_type(ft.results)
        arglist = "".join(f", i64 {x}" for x in xs) + "".join(f", double {d}" for d in ds)
        call = f"{'musttail ' if tail else ''}call {rt} {callee}(ptr {callee_vmctx}, ptr {caller_vmctx}{arglist})"
        if rt == "void":
            em.emit(call)
        else:
            r = em.op(call)
        if tail:
            em.emit("ret void" if rt == "void" else f"ret {rt} {r}")
            return []
        if rt != "void":
            return [r]
        if not ft.results:
            return []
        buf = self._buffer(em, caller_vmctx)
        out = []
        for i, t in enumerate(ft.results):
            p = em.op(f"getelementptr inbounds i8, ptr {buf}, i64 {i * VAL}")
            out.append(em.op(f"load {lltype(t)}, ptr {p}, align 8"))
        return out

    def ret(self, em, results: list, caller: str = "%caller") -> None:
        types = [t for _, t in results]
        if self._scalar_return(types):
            em.emit(f"ret {lltype(types[0])} {results[0][0]}")
            return
        if results:
            buf = self._buffer(em, caller)
            for i, (v, t) in enumerate(results):
                p = em.op(f"getelementptr inbounds i8, ptr {buf}, i64 {i * VAL}")
                em.emit(f"store {lltype(t)} {v}, ptr {p}, align 8")
        em.emit("ret void")


CONVENTIONS = {c.name: c for c in (TailCC(), PlainC(), Uniform())}


class Lines:
    """A minimal emitter (the op/emit part of FunctionLowering) for the
    trampolines and adapters, which are written line by line."""

    def __init__(self, lines: list, prefix: str = "t"):
        self.lines = lines
        self.n = 0
        self.prefix = prefix  # of its value names (a function's entry lines use their own)

    def emit(self, text: str):
        self.lines.append("  " + text)

    def op(self, text: str) -> str:
        self.n += 1
        v = f"%{self.prefix}{self.n}"
        self.emit(f"{v} = {text}")
        return v


class CallMixin:
    """The FunctionLowering methods that make calls."""

    def do_call(self, callee: str, callee_vmctx: str, ft: FuncType, tail: bool = False, cc=None):
        """Call CALLEE (in convention CC: the target's, for anything reached
        through a funcref) with the top of the stack as arguments."""
        n = len(ft.params)
        args = self.stack[len(self.stack) - n:] if n else []
        del self.stack[len(self.stack) - n:]
        if tail:
            self.eh_restore_for_return()  # the callee replaces this frame: leave its try blocks
        self.fuel_sync_out()  # fuel.py: the callee counts on from where this function is
        vals = (cc or self.info.cc).call(self, callee, callee_vmctx, "%vmctx", ft, args, tail)
        if tail:
            self.dead = True
            return
        self.fuel_sync_in()
        for v, t in zip(vals, ft.results):
            self.push(v, t)

    def funcref_fields(self, fr: str, invariant: bool):
        inv = f", {INV}" if invariant else ""
        code = self.op(f"load ptr, ptr {fr}{inv}")
        vp = self.op(f"getelementptr inbounds i8, ptr {fr}, i64 {abi.FUNCREF.offset('vmctx')}")
        vm = self.op(f"load ptr, ptr {vp}{inv}")
        return code, vm


def _call(L, ins, tail=False):
    fi = ins[1]
    ft = L.info.func_type(fi)
    if fi >= L.info.nimported_funcs:
        d = fi - L.info.nimported_funcs
        L.do_call(f"@wasm_func_{d}", "%vmctx", ft, tail, L.info.cc_for(d))
    else:
        fr = L.vm_load("ptr", L.info.vmo.funcref_ptr(fi))
        code, vm = L.funcref_fields(fr, True)
        L.do_call(code, vm, ft, tail)


def _call_indirect(L, ins, tail=False):
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
    L.do_call(code, vm, L.info.types[typeidx].comp, tail)


def _call_ref(L, ins, tail=False):
    """call_ref $t: the reference's static type is $t (validation), so no
    type check is needed, only the null check."""
    fr = L.popv()
    isnull = L.op(f"icmp eq ptr {fr}, null")
    L.trap_if(isnull, "NULL_FUNCTION")
    code, vm = L.funcref_fields(fr, False)
    L.do_call(code, vm, L.info.types[ins[1]].comp, tail)


def _return_call(L, ins):
    _call(L, ins, tail=True)


def _return_call_indirect(L, ins):
    _call_indirect(L, ins, tail=True)


def _return_call_ref(L, ins):
    _call_ref(L, ins, tail=True)


HANDLERS = {"call:direct": _call, "call:indirect": _call_indirect, "call:ref": _call_ref,
            "call:return_direct": _return_call, "call:return_indirect": _return_call_indirect,
            "call:return_ref": _return_call_ref}


def handler(op):
    return HANDLERS.get(op.hint)


# ---------------------------------------------------------------------------
# Trampolines and adapters (one per signature, in partition 0)
# ---------------------------------------------------------------------------

def _slot_load(ptr: str, i: int, t, name: str) -> list:
    return [f"  %{name}.p = getelementptr inbounds i8, ptr {ptr}, i64 {i * VAL}",
            f"  %{name} = load {lltype(t)}, ptr %{name}.p, align 8"]


def _trampoline(cc, k: int, ft: FuncType) -> str:
    """``void wasm_tramp_<k>(callee_vmctx, code, caller_vmctx, values)``: the
    host's way into a function of signature K (a C function, called through
    the shim)."""
    lines = [f"define hidden void @wasm_tramp_{k}(ptr %callee, ptr %code, ptr %caller, ptr %vals) {FN_ATTRS} {{"]
    args = []
    for i, t in enumerate(ft.params):
        lines += _slot_load("%vals", i, t, f"a{i}")
        args.append((f"%a{i}", t))
    em = Lines(lines)
    results = cc.call(em, "%code", "%callee", "%caller", ft, args)
    for i, (v, t) in enumerate(zip(results, ft.results)):
        lines.append(f"  %s{i}.p = getelementptr inbounds i8, ptr %vals, i64 {i * VAL}")
        lines.append(f"  store {lltype(t)} {v}, ptr %s{i}.p, align 8")
    lines.append("  ret void")
    lines.append("}")
    return "\n".join(lines)


def _adapter(cc, k: int, ft: FuncType) -> str:
    """``R wasm_adapter_<k>(env, caller_vmctx, params...)`` in the Wasm
    convention: what an imported host function's funcref calls."""
    head, entry = cc.define(f"wasm_adapter_{k}", ft, first="%env")
    n = max(len(ft.params), len(ft.results), 1)
    lines = [head] + entry + [f"  %vals = alloca [{n * VAL} x i8], align 16"]
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
    for i, t in enumerate(ft.results):
        lines += _slot_load("%vals", i, t, f"r{i}")
    cc.ret(Lines(lines), [(f"%r{i}", t) for i, t in enumerate(ft.results)])
    lines.append("}")
    return "\n".join(lines)
