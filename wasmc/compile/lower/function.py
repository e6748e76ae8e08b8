"""Lowering one function: the builder every instruction handler works on.

:class:`FunctionLowering` holds what lowering a body needs -- the operand
stack (a Python list of ``(llvm_value, wasm_type)``), the frames of open
blocks, the output lines, the per-function trap blocks -- plus the helper
methods of each instruction family, mixed in from the family's file
(control, calls, memory, tables).  :func:`lower_function` writes the
prologue (locals as allocas, the stack-limit check) and runs the body
through the dispatch table (dispatch.py).

Every trap is a branch to a per-function block that calls the ``trap``
builtin; trap branches carry "unlikely" branch weights.
"""

from __future__ import annotations

from ... import abi
from ...errors import UnsupportedError
from ...wasm.module import FuncType, RefType
from ...wasm.opcodes import BLOCK_OPENERS
from .calls import CONVENTIONS, CallMixin
from .control import ControlMixin, Frame
from .eh import EHMixin
from .fuel import FuelMixin
from .ir import ALIGN, INV, UNLIKELY, f32_const, f64_const, i32s, i64s, lltype, zero
from .memory import MemoryMixin
from .tables import TableMixin


class ModuleInfo:
    """Module-wide facts the function lowering needs (computed once)."""

    def __init__(self, module, probe_stores: bool = False, convention: str = "tailcc", fuel: bool = False):
        m = module
        self.module = m
        self.probe_stores = probe_stores  # see memory.MemoryMixin.mem_store
        self.fuel = fuel  # instrument for fuel metering (fuel.py)
        # The target's convention for every function that can be reached
        # through a funcref (and so tail-called from any module) or that
        # makes or receives a tail call; the plain C convention for the rest,
        # which only this module calls, directly (calls.py).
        self.cc = CONVENTIONS[convention]
        self.tail_funcs = _tail_convention_funcs(m) if convention != "ccc" else set()
        self.types = m.types
        self.func_types = m.func_type_indices()
        self.nimported_funcs = m.num_imported_funcs
        self.memories = m.all_memories()
        self.tables = m.all_tables()
        self.globals = m.all_globals()
        self.nimported_globals = sum(1 for i in m.imports if i.kind == "global")
        self.tags = m.all_tags()
        self.vmo = abi.VMOffsets(
            nmemories=len(self.memories), ntables=len(self.tables),
            nimported_globals=self.nimported_globals, nglobals=len(m.globals),
            ndefined_funcs=len(m.funcs), nfuncs=len(self.func_types), ntypes=len(m.types),
            ntags=len(self.tags))
        # One trampoline/adapter per distinct signature.
        self.sig_index: dict = {}
        self.sigs: list = []
        for st in m.types:
            if isinstance(st.comp, FuncType):
                self.sig_of(st.comp)

    def sig_of(self, ft: FuncType) -> int:
        key = (tuple(lltype(t) for t in ft.params), tuple(lltype(t) for t in ft.results))
        k = self.sig_index.get(key)
        if k is None:
            k = self.sig_index[key] = len(self.sigs)
            self.sigs.append(ft)
        return k

    def cc_for(self, defined_index: int):
        """The calling convention of defined function DEFINED_INDEX."""
        return self.cc if defined_index in self.tail_funcs else CONVENTIONS["ccc"]

    def tag_params(self, tag: int) -> tuple:
        """The payload types of tag TAG (imported tags first)."""
        return self.types[self.tags[tag].type_index].comp.params

    def func_type(self, funcidx: int) -> FuncType:
        return self.types[self.func_types[funcidx]].comp

    def check_supported(self):
        """Raise UnsupportedError for module-level features not lowered yet."""
        m = self.module
        for st in m.types:
            if not isinstance(st.comp, FuncType):
                raise UnsupportedError("GC types (struct/array) are not supported yet (feature: gc)")
            if st.supers or not st.final:
                raise UnsupportedError("subtyping declarations are not supported yet (feature: gc)")
        for g in self.globals:
            _check_valtype(g.type)
        for t in self.tables:
            _check_valtype(t.elem)
        for st in m.types:
            for t in st.comp.params + st.comp.results:
                _check_valtype(t)


_TAIL_CALLS = ("return_call", "return_call_indirect", "return_call_ref")


def _tail_convention_funcs(m) -> set:
    """Defined functions (by defined index) that need the target's tail-call
    convention: those whose funcref can exist (exported, in an element
    segment, named by ref.func, the start function: any module may call them
    through it, and tail-call them) and those that make or receive a tail
    call.  The others are called only directly, from this module."""
    nimp = m.num_imported_funcs
    out = set()

    def add(fi):
        if fi is not None and fi >= nimp:
            out.add(fi - nimp)

    for e in m.exports:
        if e.kind == "func":
            add(e.index)
    if m.start is not None:
        add(m.start)
    exprs = [g.init for g in m.globals] + [t.init for t in m.tables if t.init]
    for el in m.elems:
        for fi in el.func_indices or ():
            add(fi)
        exprs += list(el.items or ())
    for i, code in enumerate(m.codes):
        for ins in code.body:
            name = ins[0].name
            if name == "ref.func":
                add(ins[1])
            elif name in _TAIL_CALLS:
                out.add(i)
                if name == "return_call":
                    add(ins[1])
    for expr in exprs:
        for ins in expr:
            if ins[0].name == "ref.func":
                add(ins[1])
    return out


# Reference types lowered so far: funcref, externref and exnref, their bottom
# types, and typed function references ((ref null? $t) of a function type),
# all nullable or not.  Every reference is one pointer (null = 0).
_REF_HEAPS = ("func", "extern", "nofunc", "noextern", "exn", "noexn")


def _check_valtype(t):
    if isinstance(t, RefType) and t.heap not in _REF_HEAPS and not isinstance(t.heap, int):
        raise UnsupportedError(f"reference type {t} is not supported yet (feature: gc)")


class FunctionLowering(ControlMixin, CallMixin, MemoryMixin, TableMixin, EHMixin, FuelMixin):
    """Lowers one defined function (or one constant expression) to IR lines."""

    def __init__(self, info: ModuleInfo, out: list):
        self.info = info
        self.out = out
        self.n = 0  # SSA / label counter
        self.stack = []
        self.frames = []
        self.cur = "entry"
        self.dead = False
        self.trap_labels = {}
        self.mem_bases = {}
        self.local_types = []
        self.entry_lines = []
        self.promoted = {}  # f64 SSA value -> the f32 it was promoted from
        self.eh_fn = False  # has a try block (eh.py): locals stay in memory
        self.cc = info.cc  # this function's calling convention (lower_function sets it)

    # --- small helpers -------------------------------------------------
    def tmp(self) -> str:
        self.n += 1
        return f"%v{self.n}"

    def new_label(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"

    def emit(self, line: str):
        self.out.append("  " + line)

    def label(self, name: str):
        self.out.append(f"{name}:")
        self.cur = name

    def push(self, v, t):
        self.stack.append((v, t))

    def pop(self):
        return self.stack.pop()

    def popv(self):
        return self.stack.pop()[0]

    def op(self, text: str) -> str:
        v = self.tmp()
        self.emit(f"{v} = {text}")
        return v

    def vm_ptr(self, offset: int) -> str:
        if offset == 0:
            return "%vmctx"
        return self.op(f"getelementptr inbounds i8, ptr %vmctx, i64 {offset}")

    def vm_load(self, ty: str, offset: int, invariant=True) -> str:
        p = self.vm_ptr(offset)
        return self.op(f"load {ty}, ptr {p}" + (f", {INV}" if invariant else ""))

    def builtin(self, name: str) -> str:
        table = self.vm_load("ptr", abi.VMCTX.offset("builtins"))
        p = self.op(f"getelementptr inbounds i8, ptr {table}, i64 {abi.builtin_offset(name)}")
        return self.op(f"load ptr, ptr {p}, {INV}")

    def call_builtin(self, name: str, args: str, ret: str = "void") -> str | None:
        fn = self.builtin(name)
        if ret == "void":
            self.emit(f"call void {fn}(ptr %vmctx{', ' + args if args else ''})")
            return None
        return self.op(f"call {ret} {fn}(ptr %vmctx{', ' + args if args else ''})")

    def trap_if(self, cond: str, trap: str):
        """Branch to the trap block for TRAP if COND (an i1) holds."""
        lbl = self.trap_labels.get(trap)
        if lbl is None:
            lbl = self.trap_labels[trap] = f"trap_{trap.lower()}"
        cont = self.new_label("ok")
        self.emit(f"br i1 {cond}, label %{lbl}, label %{cont}, {UNLIKELY}")
        self.label(cont)

    def trap_now(self, trap: str):
        lbl = self.trap_labels.get(trap)
        if lbl is None:
            lbl = self.trap_labels[trap] = f"trap_{trap.lower()}"
        self.emit(f"br label %{lbl}")
        self.dead = True

    def emit_trap_blocks(self):
        for trap, lbl in self.trap_labels.items():
            self.label(lbl)
            if trap == "OUT_OF_FUEL":
                self.dead = False
                self.fuel_sync_out()  # the store sees its fuel spent (fuel.py)
            fn = self.builtin("trap")
            self.emit(f"call void {fn}(ptr %vmctx, i32 {abi.trap_code(trap)}) #1")
            self.emit("unreachable")

    def const(self, t, imm) -> str:
        if t == "i32":
            return str(i32s(imm))
        if t == "i64":
            return str(i64s(imm))
        if t == "f64":
            return f64_const(imm)
        if t == "f32":
            c = f32_const(imm)
            if c is None:
                return self.op(f"bitcast i32 {i32s(imm)} to float")
            return c
        raise AssertionError(t)

    def to_i1(self, v: str) -> str:
        return self.op(f"icmp ne i32 {v}, 0")

    def from_i1(self, v: str) -> str:
        return self.op(f"zext i1 {v} to i32")

    # --- the driver ----------------------------------------------------
    def lower_body(self, instrs, dispatch):
        """Lower instructions up to the end of the outermost frame."""
        skip_depth = 0
        for ins in instrs:
            op = ins[0]
            if self.dead:
                name = op.name
                if name in BLOCK_OPENERS:
                    skip_depth += 1
                    continue
                if name in ("end", "delegate"):  # delegate closes a legacy try
                    if skip_depth:
                        skip_depth -= 1
                        continue
                elif name in ("else", "catch", "catch_all"):  # live code starts again
                    if skip_depth:
                        continue
                else:
                    continue
            h = dispatch[op.id]
            if h is None:
                raise UnsupportedError(f"instruction {op.name} is not supported yet "
                                       f"(feature: {op.feature})")
            if self.fuel:
                self.fuel_before(op.name)
                h(self, ins)
                if op.name == "loop":
                    self.fuel_check()
            else:
                h(self, ins)


def lower_function(info: ModuleInfo, defined_index: int) -> list:
    m = info.module
    code = m.codes[defined_index]
    ft = info.types[m.funcs[defined_index]].comp
    out = []
    L = FunctionLowering(info, out)
    params = ft.params
    local_types = list(params)
    for count, t in code.locals:
        _check_valtype(t)
        local_types.extend([t] * count)
    L.local_types = local_types
    L.eh_fn = any(ins[0].name in ("try_table", "try") for ins in code.body)
    from .dispatch import DISPATCH

    L.cc = info.cc_for(defined_index)
    header, unpack = L.cc.define(f"wasm_func_{defined_index}", ft)
    entry = ["entry:"] + unpack
    for i, t in enumerate(local_types):
        entry.append(f"  %local{i} = alloca {lltype(t)}, align {ALIGN.get(t, 8)}")
    for i, t in enumerate(params):
        entry.append(f"  store {lltype(t)} %p{i}, ptr %local{i}")
    for i in range(len(params), len(local_types)):
        t = local_types[i]
        entry.append(f"  store {lltype(t)} {zero(t)}, ptr %local{i}")
    # Stack-limit check: compare the stack pointer with limits->stack_limit.
    entry += [
        f"  %lim.pp = getelementptr inbounds i8, ptr %vmctx, i64 {abi.VMCTX.offset('limits')}",
        f"  %lim.p = load ptr, ptr %lim.pp, {INV}",
        "  %lim = load i64, ptr %lim.p",
        "  %sp.p = call ptr @llvm.stacksave.p0()",
        "  %sp = ptrtoint ptr %sp.p to i64",
        "  %sp.low = icmp ult i64 %sp, %lim",
    ]
    if L.eh_fn:  # the handler-record list, and its head when this function was entered
        entry += [f"  %eh.top.p = getelementptr inbounds i8, ptr %lim.p, i64 {abi.LIMITS.offset('eh_top')}",
                  "  %eh.entry = load ptr, ptr %eh.top.p"]
    if info.fuel:  # fuel.py: count what runs, check here and at loop headers
        L.fuel = True
        entry += L.fuel_entry_lines()
    L.trap_labels["STACK_EXHAUSTED"] = "trap_stack_exhausted"
    f = Frame("func", (), ft.results, "fnend", "fnend", 0)
    L.frames.append(f)
    L.cur = "body"
    out.append("body:")
    if L.fuel:
        L.fuel_entry()
    L.lower_body(code.body, DISPATCH)
    L.emit_trap_blocks()
    entry.extend(L.entry_lines)
    entry.append("  br i1 %sp.low, label %trap_stack_exhausted, label %body, !prof !1")
    return [header] + entry + [x for x in out if x is not None] + ["}"]
