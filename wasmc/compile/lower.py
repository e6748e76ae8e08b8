"""Validated Wasm module -> LLVM IR text (target independent).

Consumes a :class:`~wasmc.wasm.module.Module` that has passed validation and
produces LLVM IR as plain text: one ``hidden`` function per defined Wasm
function (``wasm_func_<i>``), one array-call trampoline per function
signature (``wasm_tramp_<k>``), one host adapter per imported signature
(``wasm_adapter_<k>``), and small functions that evaluate constant
expressions at instantiation (``wasm_init_globals``, ``wasm_elem_offset_<i>``,
``wasm_elem_items_<i>``, ``wasm_data_offset_<i>``, ``wasm_table_init_<i>``).
The IR carries no triple or data layout; compile/llvm.py stamps those per
target, so nothing here depends on the architecture.

Conventions (see wasmc/abi.py for the ABI itself):

* Locals live in ``alloca``s that mem2reg turns into SSA; the operand stack is
  a Python list of ``(llvm_value, wasm_type)`` at compile time.
* Block results and loop parameters become phi nodes.  A ``br_table`` edge to
  a target that takes values goes through a one-instruction edge block, so
  every phi has exactly one entry per predecessor.
* Code after an unconditional branch is dead: it is skipped (only nesting is
  tracked) until the matching ``else``/``end``.
* Every trap is a branch to a per-function block that calls the ``trap``
  builtin; trap branches carry "unlikely" branch weights.
* Memory accesses of 32-bit memories are ``base + zext(addr) + offset`` with
  no check: the runtime reserves 8 GiB per memory, so any such address lies
  in the reservation and a fault in the guard region becomes a trap.
  64-bit memories are checked explicitly against the current size.
* Float constants are emitted from their bit patterns (f32 NaNs through a
  bitcast, since LLVM's textual float form goes through a double and could
  quiet a signalling NaN); no fast-math flags are ever used.

Rejected alternatives: an llvmlite.ir object model (measurably slower to
build and it would load llvmlite into the front end), and allocas for block
results (simpler, but the O0 code used by tests is then much slower).
"""

from __future__ import annotations

import re
import struct

from .. import abi
from ..errors import UnsupportedError
from ..wasm.module import FuncType, RefType
from ..wasm.opcodes import OPS

LLT = {"i32": "i32", "i64": "i64", "f32": "float", "f64": "double", "v128": "<16 x i8>"}
ZERO = {"i32": "0", "i64": "0", "f32": "0.0", "f64": "0.0", "v128": "zeroinitializer"}
ALIGN = {"i32": 4, "i64": 8, "f32": 4, "f64": 8, "v128": 16}
VAL = abi.VAL_SIZE

# Function attributes of every generated function: no unwinding (so no
# .eh_frame), frame pointers (for trap backtraces), inline stack probes (a
# frame larger than a guard page cannot skip it), no libcall idioms, and no
# tail-call elimination: LLVM would turn (infinite) recursion into a loop,
# and a runaway recursion must end in "call stack exhausted", not a hang.
FN_ATTRS = '#0'
ATTR_DEFS = ('attributes #0 = { nounwind "frame-pointer"="all" "probe-stack"="inline-asm" '
             '"no-builtins" "disable-tail-calls"="true" }\n'
             'attributes #1 = { noreturn nounwind }\n'
             'attributes #2 = { nounwind }\n')
UNLIKELY = "!prof !1"
META = '!0 = !{}\n!1 = !{!"branch_weights", i32 1, i32 2000}\n'
INV = "!invariant.load !0"

# Wasm 2.0 plus the Wasm 3.0 features this lowering implements.
SUPPORTED_FEATURES = frozenset({"mvp", "sign_ext", "sat_conv", "multi_value", "bulk_memory",
                                "reference_types", "simd", "multi_memory", "extended_const",
                                "memory64"})


def lltype(t) -> str:
    if isinstance(t, RefType):
        return "ptr"
    return LLT[t]


def zero(t) -> str:
    if isinstance(t, RefType):
        return "null"
    return ZERO[t]


def ret_type(results) -> str:
    if not results:
        return "void"
    if len(results) == 1:
        return lltype(results[0])
    return "{" + ", ".join(lltype(t) for t in results) + "}"


def f32_const(bits: int) -> str:
    """An f32 constant that LLVM can represent exactly as a literal, or None."""
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return None  # NaN: needs a bitcast
    f = struct.unpack("<f", struct.pack("<I", bits))[0]
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", f))[0]


def f64_const(bits: int) -> str:
    return "0x%016X" % bits


def i32s(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def i64s(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v


class Frame:
    __slots__ = ("kind", "params", "results", "label", "end_label", "height", "incoming",
                 "phi_at", "phi_names", "else_label", "if_params", "has_else")

    def __init__(self, kind, params, results, label, end_label, height):
        self.kind = kind
        self.params = params
        self.results = results
        self.label = label  # branch target
        self.end_label = end_label
        self.height = height  # stack height below the params
        self.incoming = []  # [(values, pred_label)] into label (loop) / end_label
        self.phi_at = None
        self.phi_names = None
        self.else_label = None
        self.if_params = None
        self.has_else = False

    def branch_types(self):
        return self.params if self.kind == "loop" else self.results


# Bytes written by a store of each IR type mem_store is given.
_STORE_SIZES = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "float": 4, "double": 8, "<16 x i8>": 16}


class ModuleInfo:
    """Module-wide facts the function lowering needs (computed once)."""

    def __init__(self, module, probe_stores: bool = False):
        m = module
        self.module = m
        self.probe_stores = probe_stores  # see FunctionLowering.mem_store
        self.types = m.types
        self.func_types = m.func_type_indices()
        self.nimported_funcs = m.num_imported_funcs
        self.memories = m.all_memories()
        self.tables = m.all_tables()
        self.globals = m.all_globals()
        self.nimported_globals = sum(1 for i in m.imports if i.kind == "global")
        self.vmo = abi.VMOffsets(
            nmemories=len(self.memories), ntables=len(self.tables),
            nimported_globals=self.nimported_globals, nglobals=len(m.globals),
            ndefined_funcs=len(m.funcs), nfuncs=len(self.func_types), ntypes=len(m.types))
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
            if t.limits.is64:
                raise UnsupportedError("64-bit tables are not supported yet (feature: memory64)")
            _check_valtype(t.elem)
        if m.tags or any(i.kind == "tag" for i in m.imports):
            raise UnsupportedError("exception tags are not supported yet (feature: exceptions)")
        for st in m.types:
            for t in st.comp.params + st.comp.results:
                _check_valtype(t)


def _check_valtype(t):
    if isinstance(t, RefType):
        if t.heap not in ("func", "extern") or not t.nullable:
            raise UnsupportedError(
                f"reference type {t} is not supported yet (feature: function_references/gc)")


class FunctionLowering:
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

    # --- memory addressing --------------------------------------------
    def mem_base(self, mem: int) -> str:
        base = self.mem_bases.get(mem)
        if base is None:
            # Loaded once in the entry block: the base never moves.
            base = f"%membase{mem}"
            off = self.info.vmo.memory_base(mem)
            self.entry_lines.append(f"  %membase{mem}.p = getelementptr inbounds i8, ptr %vmctx, i64 {off}")
            self.entry_lines.append(f"  {base} = load ptr, ptr %membase{mem}.p, {INV}")
            self.mem_bases[mem] = base
        return base

    def mem_size_bytes(self, mem: int) -> str:
        d = self.vm_load("ptr", self.info.vmo.memory_def(mem))
        p = self.op(f"getelementptr inbounds i8, ptr {d}, i64 {abi.MEMORY.offset('size')}")
        return self.op(f"load i64, ptr {p}")

    def effective_address(self, mem: int, addr: str, offset: int, size: int) -> str:
        """Pointer to SIZE bytes at ADDR+OFFSET in memory MEM (trapping if out of bounds)."""
        base = self.mem_base(mem)
        if not self.info.memories[mem].limits.is64:
            ea = self.op(f"zext i32 {addr} to i64")
            if offset:
                ea = self.op(f"add nuw i64 {ea}, {offset}")
            return self.op(f"getelementptr i8, ptr {base}, i64 {ea}")
        # memory64: explicit check that addr + offset + size <= current size
        # without wrapping.
        ovf = self.op(f"call {{i64, i1}} @llvm.uadd.with.overflow.i64(i64 {addr}, i64 {offset + size})")
        end = self.op(f"extractvalue {{i64, i1}} {ovf}, 0")
        wrapped = self.op(f"extractvalue {{i64, i1}} {ovf}, 1")
        sz = self.mem_size_bytes(mem)
        past = self.op(f"icmp ugt i64 {end}, {sz}")
        bad = self.op(f"or i1 {wrapped}, {past}")
        self.trap_if(bad, "MEMORY_OOB")
        ea = self.op(f"add i64 {addr}, {offset}") if offset else addr
        return self.op(f"getelementptr i8, ptr {base}, i64 {ea}")

    def mem_load(self, mem: int, ty: str, p: str) -> str:
        """Load TY from P (from effective_address) in memory MEM."""
        return self.op(f"load {self._access(mem)}{ty}, ptr {p}, align 1")

    def mem_store(self, mem: int, ty: str, v: str, p: str) -> None:
        size = _STORE_SIZES[ty]
        if size > 1 and self.info.probe_stores and not self.info.memories[mem].limits.is64:
            # A store that straddles the end of memory must trap before
            # writing anything, but on targets whose stores can fault
            # part-way (targets/*.toml: partial_store_faults) its first bytes
            # may already be written by then.  Reading the last byte first
            # faults exactly when the store would: memory is contiguous, so
            # if the last byte is in bounds every byte is.  Both accesses
            # are volatile, so they stay in this order.
            last = self.op(f"getelementptr i8, ptr {p}, i64 {size - 1}")
            self.op(f"load volatile i8, ptr {last}, align 1")
        self.emit(f"store {self._access(mem)}{ty} {v}, ptr {p}, align 1")

    def _access(self, mem: int) -> str:
        # A 32-bit memory has no bounds check: its out-of-bounds accesses
        # fault in the guard region.  LLVM treats such a fault as undefined
        # behaviour, so it would delete an access whose value is unused,
        # narrow one whose high bytes are unused, sink one into the branch
        # that uses it, or move it across a store: each would lose or move
        # a trap Wasm requires.  `volatile` forbids all of these (measured:
        # no slowdown on the kernels, where explicit checks cost 21%; see
        # docs/architecture.md).  memory64 accesses are checked explicitly,
        # so they need nothing.
        return "" if self.info.memories[mem].limits.is64 else "volatile "

    def addr_type(self, mem: int) -> str:
        return "i64" if self.info.memories[mem].limits.is64 else "i32"

    def addr_to_i64(self, v: str, is64: bool) -> str:
        return v if is64 else self.op(f"zext i32 {v} to i64")

    # --- tables ------------------------------------------------------------
    def table_ptr(self, t: int) -> str:
        return self.vm_load("ptr", self.info.vmo.table(t))

    def table_field(self, tab: str, name: str, ty: str) -> str:
        p = self.op(f"getelementptr inbounds i8, ptr {tab}, i64 {abi.TABLE.offset(name)}")
        return self.op(f"load {ty}, ptr {p}")

    def table_slot(self, t: int, idx: str, trap: str) -> str:
        """Pointer to element IDX (i32) of table T, trapping with TRAP if out of bounds."""
        tab = self.table_ptr(t)
        size = self.table_field(tab, "size", "i64")
        i64 = self.op(f"zext i32 {idx} to i64")
        oob = self.op(f"icmp uge i64 {i64}, {size}")
        self.trap_if(oob, trap)
        elems = self.table_field(tab, "elems", "ptr")
        return self.op(f"getelementptr inbounds ptr, ptr {elems}, i64 {i64}")

    # --- calls ---------------------------------------------------------
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

    # --- control -------------------------------------------------------
    def block_sig(self, bt):
        if bt is None:
            return (), ()
        if isinstance(bt, int):
            ft = self.info.types[bt].comp
            return ft.params, ft.results
        return (), (bt,)

    def branch_to(self, f: Frame):
        """Record an edge from the current block to frame F's target."""
        n = len(f.branch_types())
        vals = [v for v, _ in self.stack[len(self.stack) - n:]] if n else []
        f.incoming.append((vals, self.cur))
        return f.label if f.kind == "loop" else f.end_label

    def emit_phis(self, types, incoming) -> list:
        vals = []
        for i, t in enumerate(types):
            entries = [(inc[0][i], inc[1]) for inc in incoming]
            first = entries[0][0]
            if all(e[0] == first for e in entries):
                vals.append(first)
                continue
            v = self.tmp()
            self.emit(f"{v} = phi {lltype(t)} " + ", ".join(f"[ {a}, %{b} ]" for a, b in entries))
            vals.append(v)
        return vals

    # --- the driver ----------------------------------------------------
    def lower_body(self, instrs, dispatch):
        """Lower instructions up to the end of the outermost frame."""
        skip_depth = 0
        for ins in instrs:
            op = ins[0]
            if self.dead:
                name = op.name
                if name in ("block", "loop", "if", "try", "try_table"):
                    skip_depth += 1
                    continue
                if name == "end":
                    if skip_depth:
                        skip_depth -= 1
                        continue
                elif name == "else":
                    if skip_depth:
                        continue
                else:
                    continue
            h = dispatch[op.id]
            if h is None:
                raise UnsupportedError(f"instruction {op.name} is not supported yet "
                                       f"(feature: {op.feature})")
            h(self, ins)


# ---------------------------------------------------------------------------
# Instruction handlers.  Each takes (lowering, instruction tuple).
# ---------------------------------------------------------------------------

def _nop(L, ins):
    pass


def _unreachable(L, ins):
    L.trap_now("UNREACHABLE")


def _block(L, ins):
    params, results = L.block_sig(ins[1])
    end = L.new_label("end")
    L.frames.append(Frame("block", params, results, end, end, len(L.stack) - len(params)))


def _loop(L, ins):
    params, results = L.block_sig(ins[1])
    head = L.new_label("loop")
    f = Frame("loop", params, results, head, None, len(L.stack) - len(params))
    n = len(params)
    entry_vals = [v for v, _ in L.stack[len(L.stack) - n:]] if n else []
    L.emit(f"br label %{head}")
    f.incoming.append((entry_vals, L.cur))
    L.label(head)
    if n:
        # Placeholder phis, completed at the loop's end when all back edges are known.
        del L.stack[len(L.stack) - n:]
        f.phi_at = len(L.out)
        f.phi_names = []
        for t in params:
            v = L.tmp()
            L.out.append(None)
            f.phi_names.append(v)
            L.push(v, t)
    L.frames.append(f)


def _if(L, ins):
    params, results = L.block_sig(ins[1])
    c = L.to_i1(L.popv())
    then = L.new_label("then")
    els = L.new_label("else")
    end = L.new_label("endif")
    f = Frame("if", params, results, end, end, len(L.stack) - len(params))
    f.else_label = els
    f.if_params = list(L.stack[len(L.stack) - len(params):]) if params else []
    L.emit(f"br i1 {c}, label %{then}, label %{els}")
    L.label(then)
    L.frames.append(f)


def _else(L, ins):
    f = L.frames[-1]
    if not L.dead:
        L.emit(f"br label %{L.branch_to(f)}")
    del L.stack[f.height:]
    f.has_else = True
    L.label(f.else_label)
    L.dead = False
    L.stack.extend(f.if_params)


def _end(L, ins):
    f = L.frames.pop()
    if f.kind == "loop":
        if f.phi_at is not None:
            for i, t in enumerate(f.params):
                entries = ", ".join(f"[ {vals[i]}, %{pred} ]" for vals, pred in f.incoming)
                L.out[f.phi_at + i] = f"  {f.phi_names[i]} = phi {lltype(t)} {entries}"
        # The loop's end is a plain fallthrough: results stay on the stack
        # (and if the end is unreachable, so is the code after the loop).
        if L.dead:
            del L.stack[f.height:]
        return
    if not L.dead:
        tgt = L.branch_to(f)
        L.emit(f"br label %{tgt}")
    if f.kind == "if" and not f.has_else:
        L.label(f.else_label)
        L.dead = False
        del L.stack[f.height:]
        L.stack.extend(f.if_params)
        L.emit(f"br label %{L.branch_to(f)}")
    del L.stack[f.height:]
    if not f.incoming:
        L.dead = True
        return
    L.dead = False
    L.label(f.end_label)
    vals = L.emit_phis(f.results, f.incoming)
    for v, t in zip(vals, f.results):
        L.push(v, t)
    if f.kind == "func":
        _emit_return(L, f.results)


def _emit_return(L, results):
    n = len(results)
    vals = L.stack[len(L.stack) - n:] if n else []
    if n == 0:
        L.emit("ret void")
    elif n == 1:
        L.emit(f"ret {lltype(results[0])} {vals[0][0]}")
    else:
        rt = ret_type(results)
        acc = "undef"
        for i, (v, t) in enumerate(vals):
            acc2 = L.tmp()
            L.emit(f"{acc2} = insertvalue {rt} {acc}, {lltype(t)} {v}, {i}")
            acc = acc2
        L.emit(f"ret {rt} {acc}")
    L.dead = True


def _br(L, ins):
    f = L.frames[-1 - ins[1]]
    if f.kind == "func":
        _emit_return(L, f.results)
        return
    L.emit(f"br label %{L.branch_to(f)}")
    L.dead = True


def _br_if(L, ins):
    c = L.to_i1(L.popv())
    f = L.frames[-1 - ins[1]]
    cont = L.new_label("brif")
    if f.kind == "func":
        ret = L.new_label("ret")
        L.emit(f"br i1 {c}, label %{ret}, label %{cont}")
        saved = list(L.stack)
        L.label(ret)
        _emit_return(L, f.results)
        L.dead = False
        L.stack = saved
    else:
        L.emit(f"br i1 {c}, label %{L.branch_to(f)}, label %{cont}")
    L.label(cont)


def _br_table(L, ins):
    labels, default = ins[1]
    idx = L.popv()
    # One edge block per distinct target that needs values or is the function.
    edge = {}

    def target(depth):
        t = edge.get(depth)
        if t is None:
            f = L.frames[-1 - depth]
            if f.kind != "func" and not f.branch_types():
                t = L.branch_to(f)  # no values: branch straight to the target
            else:
                t = L.new_label("edge")
            edge[depth] = t
        return t

    cases = " ".join(f"i32 {i}, label %{target(d)}" for i, d in enumerate(labels))
    L.emit(f"switch i32 {idx}, label %{target(default)} [ {cases} ]")
    saved = list(L.stack)
    for depth, lbl in edge.items():
        f = L.frames[-1 - depth]
        if f.kind != "func" and not f.branch_types():
            continue
        L.label(lbl)
        L.stack = list(saved)
        if f.kind == "func":
            _emit_return(L, f.results)
        else:
            L.emit(f"br label %{L.branch_to(f)}")
    L.stack = saved
    L.dead = True


def _return(L, ins):
    _emit_return(L, L.frames[0].results)


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


def _drop(L, ins):
    L.stack.pop()  # a dropped load still runs: see FunctionLowering._access


def _select(L, ins):
    c = L.to_i1(L.popv())
    b, t = L.pop()
    a, _ = L.pop()
    L.push(L.op(f"select i1 {c}, {lltype(t)} {a}, {lltype(t)} {b}"), t)


def _local_get(L, ins):
    i = ins[1]
    t = L.local_types[i]
    L.push(L.op(f"load {lltype(t)}, ptr %local{i}"), t)


def _local_set(L, ins):
    i = ins[1]
    v, t = L.pop()
    L.emit(f"store {lltype(t)} {v}, ptr %local{i}")


def _local_tee(L, ins):
    i = ins[1]
    v, t = L.stack[-1]
    L.emit(f"store {lltype(t)} {v}, ptr %local{i}")


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
    size = L.table_field(tab, "size", "i64")
    L.push(L.op(f"trunc i64 {size} to i32"), "i32")


def _table_grow(L, ins):
    t = ins[1]
    n = L.popv()
    init = L.popv()
    n64 = L.op(f"zext i32 {n} to i64")
    r = L.call_builtin("table_grow", f"i32 {t}, ptr {init}, i64 {n64}", "i64")
    L.push(L.op(f"trunc i64 {r} to i32"), "i32")


def _table_fill(L, ins):
    t = ins[1]
    n = L.popv()
    v = L.popv()
    d = L.popv()
    d64 = L.op(f"zext i32 {d} to i64")
    n64 = L.op(f"zext i32 {n} to i64")
    L.call_builtin("table_fill", f"i32 {t}, i64 {d64}, ptr {v}, i64 {n64}")


def _table_copy(L, ins):
    dt, st = ins[1], ins[2]
    n = L.op(f"zext i32 {L.popv()} to i64")
    s = L.op(f"zext i32 {L.popv()} to i64")
    d = L.op(f"zext i32 {L.popv()} to i64")
    L.call_builtin("table_copy", f"i32 {dt}, i32 {st}, i64 {d}, i64 {s}, i64 {n}")


def _table_init(L, ins):
    seg, t = ins[1], ins[2]
    n = L.popv()
    s = L.popv()
    d = L.op(f"zext i32 {L.popv()} to i64")
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


# --- memory ---------------------------------------------------------------

def _make_load(t, nbytes, sign):
    lt = lltype(t)
    mem_t = f"i{nbytes * 8}" if t in ("i32", "i64") else lt

    def h(L, ins):
        mem, offset = ins[1], ins[2]
        addr = L.popv()
        p = L.effective_address(mem, addr, offset, nbytes)
        v = L.mem_load(mem, mem_t, p)
        if mem_t != lt:
            v = L.op(f"{'sext' if sign == 's' else 'zext'} {mem_t} {v} to {lt}")
        L.push(v, t)
    return h


def _make_store(t, nbytes):
    lt = lltype(t)
    mem_t = f"i{nbytes * 8}" if t in ("i32", "i64") else lt

    def h(L, ins):
        mem, offset = ins[1], ins[2]
        v = L.popv()
        addr = L.popv()
        p = L.effective_address(mem, addr, offset, nbytes)
        if mem_t != lt:
            v = L.op(f"trunc {lt} {v} to {mem_t}")
        L.mem_store(mem, mem_t, v, p)
    return h


def _memory_size(L, ins):
    mem = ins[1]
    sz = L.mem_size_bytes(mem)
    pages = L.op(f"lshr i64 {sz}, 16")
    if L.addr_type(mem) == "i32":
        pages = L.op(f"trunc i64 {pages} to i32")
    L.push(pages, L.addr_type(mem))


def _memory_grow(L, ins):
    mem = ins[1]
    is64 = L.addr_type(mem) == "i64"
    delta = L.addr_to_i64(L.popv(), is64)
    r = L.call_builtin("memory_grow", f"i32 {mem}, i64 {delta}", "i64")
    if not is64:
        r = L.op(f"trunc i64 {r} to i32")
    L.push(r, L.addr_type(mem))


def _memory_fill(L, ins):
    mem = ins[1]
    is64 = L.addr_type(mem) == "i64"
    n = L.addr_to_i64(L.popv(), is64)
    v = L.popv()
    d = L.addr_to_i64(L.popv(), is64)
    L.call_builtin("memory_fill", f"i32 {mem}, i64 {d}, i32 {v}, i64 {n}")


def _memory_copy(L, ins):
    dm, sm = ins[1], ins[2]
    d64, s64 = L.addr_type(dm) == "i64", L.addr_type(sm) == "i64"
    n = L.addr_to_i64(L.popv(), d64 and s64)
    s = L.addr_to_i64(L.popv(), s64)
    d = L.addr_to_i64(L.popv(), d64)
    L.call_builtin("memory_copy", f"i32 {dm}, i32 {sm}, i64 {d}, i64 {s}, i64 {n}")


def _memory_init(L, ins):
    seg, mem = ins[1], ins[2]
    n = L.popv()
    s = L.popv()
    d = L.addr_to_i64(L.popv(), L.addr_type(mem) == "i64")
    L.call_builtin("memory_init", f"i32 {mem}, i32 {seg}, i64 {d}, i32 {s}, i32 {n}")


def _data_drop(L, ins):
    L.call_builtin("data_drop", f"i32 {ins[1]}")


# --- numeric --------------------------------------------------------------

def _const(t):
    def h(L, ins):
        L.push(L.const(t, ins[1]), t)
    return h


def _ieqz(L, ins):
    v, t = L.pop()
    L.push(L.from_i1(L.op(f"icmp eq {t} {v}, 0")), "i32")


def _cmp(instr, pred):
    """icmp/fcmp PRED of the two operands, as an i32 0 or 1."""
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        L.push(L.from_i1(L.op(f"{instr} {pred} {LLT[t]} {a}, {b}")), "i32")
    return h


def _icmp(pred):
    return _cmp("icmp", pred)


def _fcmp(pred):
    return _cmp("fcmp", pred)


def _iun(kind):
    intr = {"clz": "ctlz", "ctz": "cttz", "popcnt": "ctpop"}[kind]

    def h(L, ins):
        v, t = L.pop()
        extra = ", i1 false" if kind != "popcnt" else ""
        L.push(L.op(f"call {t} @llvm.{intr}.{t}({t} {v}{extra})"), t)
    return h


_IBIN_LL = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor"}


def _ibin(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        bits = 32 if t == "i32" else 64
        if kind in _IBIN_LL:
            r = L.op(f"{_IBIN_LL[kind]} {t} {a}, {b}")
        elif kind in ("shl", "shr_s", "shr_u"):
            m = L.op(f"and {t} {b}, {bits - 1}")
            instr = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}[kind]
            r = L.op(f"{instr} {t} {a}, {m}")
        else:  # rotl / rotr
            f = "fshl" if kind == "rotl" else "fshr"
            r = L.op(f"call {t} @llvm.{f}.{t}({t} {a}, {t} {a}, {t} {b})")
        L.push(r, t)
    return h


def _idiv(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        z = L.op(f"icmp eq {t} {b}, 0")
        L.trap_if(z, "DIV_ZERO")
        minv = "-2147483648" if t == "i32" else "-9223372036854775808"
        if kind == "div_s":
            o1 = L.op(f"icmp eq {t} {a}, {minv}")
            o2 = L.op(f"icmp eq {t} {b}, -1")
            o = L.op(f"and i1 {o1}, {o2}")
            L.trap_if(o, "INT_OVERFLOW")
            r = L.op(f"sdiv {t} {a}, {b}")
        elif kind == "rem_s":
            # x rem -1 is 0 for every x; avoid LLVM's UB on MIN rem -1.
            m1 = L.op(f"icmp eq {t} {b}, -1")
            b2 = L.op(f"select i1 {m1}, {t} 1, {t} {b}")
            r = L.op(f"srem {t} {a}, {b2}")
        elif kind == "div_u":
            r = L.op(f"udiv {t} {a}, {b}")
        else:
            r = L.op(f"urem {t} {a}, {b}")
        L.push(r, t)
    return h


def _fun(kind):
    intr = {"abs": "fabs", "ceil": "ceil", "floor": "floor", "trunc": "trunc",
            "nearest": "roundeven", "sqrt": "sqrt"}

    def h(L, ins):
        v, t = L.pop()
        lt = LLT[t]
        if kind == "neg":
            r = L.op(f"fneg {lt} {v}")
        elif kind in ("abs", "sqrt"):
            r = L.op(f"call {lt} @llvm.{intr[kind]}.{_fsuffix(t)}({lt} {v})")
        else:
            # ceil/floor/trunc/nearest: LLVM's riscv64 expansion passes a
            # signalling NaN through unchanged; quiet the operand first.
            q = _quiet(L, v, t)
            r = L.op(f"call {lt} @llvm.{intr[kind]}.{_fsuffix(t)}({lt} {q})")
        L.push(r, t)
    return h


def _fsuffix(t):
    return "f32" if t == "f32" else "f64"


# Literal operands that make an arithmetic op an identity (or a negation).
# LLVM folds x-0, x*1, x/1, -0-x, x*-1, x/-1 to x or -x, which keeps a
# signalling NaN signalling; Wasm wants an arithmetic (quiet) NaN, so these
# become llvm.canonicalize (a real instruction that quiets NaNs).
_ZERO, _NZERO = "0x0000000000000000", "0x8000000000000000"
_ONE, _NONE = "0x3FF0000000000000", "0xBFF0000000000000"
_IDENTITY = {  # (op, which operand is literal, literal) -> (other operand, negate)
    ("sub", 1, _ZERO): (0, False), ("add", 1, _NZERO): (0, False), ("add", 0, _NZERO): (1, False),
    ("mul", 1, _ONE): (0, False), ("mul", 0, _ONE): (1, False), ("div", 1, _ONE): (0, False),
    ("mul", 1, _NONE): (0, True), ("mul", 0, _NONE): (1, True), ("div", 1, _NONE): (0, True),
    ("sub", 0, _NZERO): (1, True),
}


def _quiet(L, v, t, negate=False) -> str:
    lt = LLT[t]
    r = L.op(f"call {lt} @llvm.canonicalize.{_fsuffix(t)}({lt} {v})")
    return L.op(f"fneg {lt} {r}") if negate else r


def _fbin(kind):
    def h(L, ins):
        b, t = L.pop()
        a = L.popv()
        lt = LLT[t]
        ident = _IDENTITY.get((kind, 1, b)) or _IDENTITY.get((kind, 0, a))
        if ident is not None:
            other, neg = ident
            r = _quiet(L, (a, b)[other], t, neg)
        elif kind in ("add", "sub", "mul", "div"):
            r = L.op(f"f{kind} {lt} {a}, {b}")
        elif kind in ("min", "max"):
            # llvm.minimum/maximum return a NaN operand unchanged (even a
            # signalling one); Wasm wants an arithmetic (quiet) NaN, so the
            # result goes through llvm.canonicalize (quiets NaNs, keeps
            # everything else; an `a + b` fix-up would be folded away for a
            # -0.0 constant operand).
            m = L.op(f"call {lt} @llvm.{'minimum' if kind == 'min' else 'maximum'}.{_fsuffix(t)}"
                     f"({lt} {a}, {lt} {b})")
            r = _quiet(L, m, t)
        else:
            r = L.op(f"call {lt} @llvm.copysign.{_fsuffix(t)}({lt} {a}, {lt} {b})")
        L.push(r, t)
    return h


# Bounds for trapping float->int truncation: valid iff lo < x < hi (exclusive),
# written as exact f64/f32 bit patterns.  (from, to, signed) -> (lo, hi)
def _trunc_bounds(src, dst, signed):
    bits = 32 if dst == "i32" else 64
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2.0 ** (bits - 1)
        # Every x > lo - 1 truncates to at least lo.  If lo - 1 is a value of
        # the source type it is the exclusive bound; otherwise the next value
        # below lo is.
        lo_excl = float(lo - 1)
        if not _exact(lo - 1, src):
            lo_excl = _next_below(float(lo), src)
    else:
        lo_excl, hi = -1.0, 2.0 ** bits
    return lo_excl, hi


def _exact(n: int, t: str) -> bool:
    fmt = "<d" if t == "f64" else "<f"
    try:
        return int(struct.unpack(fmt, struct.pack(fmt, float(n)))[0]) == n
    except OverflowError:
        return False


def _next_below(x, t):
    if t == "f64":
        b = struct.unpack("<q", struct.pack("<d", x))[0]
        return struct.unpack("<d", struct.pack("<q", b + 1))[0]  # negative: +1 moves away from 0
    b = struct.unpack("<i", struct.pack("<f", x))[0]
    return struct.unpack("<f", struct.pack("<i", b + 1))[0]


def _fconst_literal(x: float, t: str) -> str:
    if t == "f64":
        return f64_const(struct.unpack("<Q", struct.pack("<d", x))[0])
    return f32_const(struct.unpack("<I", struct.pack("<f", x))[0])


def _cvt(kind, src, dst):
    ls, ld = LLT[src], LLT[dst]

    def h(L, ins):
        v = L.popv()
        if kind == "wrap":
            r = L.op(f"trunc i64 {v} to i32")
        elif kind in ("sext", "zext"):
            r = L.op(f"{kind} i32 {v} to i64")
        elif kind in ("sitofp", "uitofp"):
            r = L.op(f"{kind} {ls} {v} to {ld}")
        elif kind == "demote":
            if v in L.promoted:  # LLVM folds demote(promote(x)) to x: keep NaNs quiet
                r = _quiet(L, L.promoted[v], "f32")
            else:
                r = L.op(f"fptrunc double {v} to float")
        elif kind == "promote":
            r = L.op(f"fpext float {v} to double")
            L.promoted[r] = v
        elif kind == "bitcast":
            r = L.op(f"bitcast {ls} {v} to {ld}")
        elif kind in ("trunc_s", "trunc_u"):
            signed = kind == "trunc_s"
            nan = L.op(f"fcmp uno {ls} {v}, {v}")
            L.trap_if(nan, "BAD_CONVERSION")
            lo, hi = _trunc_bounds(src, dst, signed)
            ok_lo = L.op(f"fcmp ogt {ls} {v}, {_fconst_literal(lo, src)}")
            ok_hi = L.op(f"fcmp olt {ls} {v}, {_fconst_literal(hi, src)}")
            ok = L.op(f"and i1 {ok_lo}, {ok_hi}")
            bad = L.op(f"xor i1 {ok}, true")
            L.trap_if(bad, "INT_OVERFLOW")
            r = L.op(f"{'fptosi' if signed else 'fptoui'} {ls} {v} to {ld}")
        elif kind in ("trunc_sat_s", "trunc_sat_u"):
            f = "fptosi" if kind == "trunc_sat_s" else "fptoui"
            r = L.op(f"call {ld} @llvm.{f}.sat.{ld}.{_fsuffix(src)}({ls} {v})")
        else:  # pragma: no cover
            raise AssertionError(kind)
        L.push(r, dst)
    return h


def _sextin(bits):
    def h(L, ins):
        v, t = L.pop()
        n = L.op(f"trunc {t} {v} to i{bits}")
        L.push(L.op(f"sext i{bits} {n} to {t}"), t)
    return h


# ---------------------------------------------------------------------------
# Dispatch table, derived from the opcode table's hint column
# ---------------------------------------------------------------------------

_CONTROL = {
    "ctl:unreachable": _unreachable, "ctl:nop": _nop, "ctl:block": _block, "ctl:loop": _loop,
    "ctl:if": _if, "ctl:else": _else, "ctl:end": _end, "ctl:br": _br, "ctl:br_if": _br_if,
    "ctl:br_table": _br_table, "ctl:return": _return, "call:direct": _call,
    "call:indirect": _call_indirect, "par:drop": _drop, "par:select": _select,
    "var:local.get": _local_get, "var:local.set": _local_set, "var:local.tee": _local_tee,
    "var:global.get": _global_get, "var:global.set": _global_set,
    "tab:get": _table_get, "tab:set": _table_set, "tab:size": _table_size, "tab:grow": _table_grow,
    "tab:fill": _table_fill, "tab:copy": _table_copy, "tab:init": _table_init,
    "tab:elem_drop": _elem_drop, "ref:null": _ref_null, "ref:is_null": _ref_is_null,
    "ref:func": _ref_func, "mem:size": _memory_size, "mem:grow": _memory_grow,
    "mem:fill": _memory_fill, "mem:copy": _memory_copy, "mem:init": _memory_init,
    "mem:data_drop": _data_drop, "ieqz": _ieqz,
}


def _build_dispatch():
    table = [None] * len(OPS)
    for o in OPS:
        h = o.hint
        fam, _, rest = h.partition(":")
        if h in _CONTROL:
            table[o.id] = _CONTROL[h]
        elif fam == "const" and rest in ("i32", "i64", "f32", "f64"):
            table[o.id] = _const(rest)
        elif fam == "load":
            t, n, s = rest.split(":")
            table[o.id] = _make_load(t, int(n), s)
        elif fam == "store":
            t, n = rest.split(":")
            table[o.id] = _make_store(t, int(n))
        elif fam == "icmp":
            table[o.id] = _icmp(rest)
        elif fam == "fcmp":
            table[o.id] = _fcmp(rest)
        elif fam == "iun":
            table[o.id] = _iun(rest)
        elif fam == "ibin":
            table[o.id] = _ibin(rest)
        elif fam == "idiv":
            table[o.id] = _idiv(rest)
        elif fam == "fun":
            table[o.id] = _fun(rest)
        elif fam == "fbin":
            table[o.id] = _fbin(rest)
        elif fam == "cvt":
            table[o.id] = _cvt(rest, o.params[0], o.results[0])
        elif fam == "sextin":
            table[o.id] = _sextin(int(rest))
    return table


DISPATCH = _build_dispatch()


def register_handlers(handlers: dict):
    """Install handlers for more rows (used by lower_simd), keyed by op name."""
    from ..wasm.opcodes import BY_NAME

    for name, h in handlers.items():
        DISPATCH[BY_NAME[name].id] = h


# ---------------------------------------------------------------------------
# Whole functions and the module
# ---------------------------------------------------------------------------

_CALLED_FUNC = re.compile(r"@wasm_func_(\d+)\(")
_INTRINSIC_CALL = re.compile(r"call (<[^>]*>|\{[^}]*\}|\S+) @(llvm\.[\w.]+)\(([^)]*)\)")


def _intrinsic_decls(text: str) -> str:
    """Declarations for the llvm.* intrinsics TEXT uses (scanned, so none is missing)."""
    decls = []
    seen = set()
    for m in _INTRINSIC_CALL.finditer(text):
        name = m.group(2)
        if name in seen:
            continue
        seen.add(name)
        args = _arg_types(m.group(3))
        decls.append(f"declare {m.group(1)} @{name}({', '.join(args)})")
    return "\n".join(decls) + "\n"


def _arg_types(arglist: str) -> list:
    """Types of a call's arguments: 'i32 %a, <4 x i32> %b, i1 false' -> ['i32', '<4 x i32>', 'i1']."""
    out = []
    depth = 0
    cur = ""
    for ch in arglist:
        if ch in "<{[":
            depth += 1
        elif ch in ">}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    types = []
    for a in out:
        # the type is the first token, or the first bracketed group
        # ("<4 x i32> <i32 1, ...>": the value may contain spaces too)
        if a[0] in "<{[":
            depth = 0
            for i, ch in enumerate(a):
                if ch in "<{[":
                    depth += 1
                elif ch in ">}]":
                    depth -= 1
                    if depth == 0:
                        break
            types.append(a[:i + 1])
        else:
            types.append(a.split(" ", 1)[0])
    return types


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
    sig = ", ".join(["ptr %vmctx", "ptr %caller"] + [f"{lltype(t)} %p{i}" for i, t in enumerate(params)])
    header = f"define hidden {ret_type(ft.results)} @wasm_func_{defined_index}({sig}) {FN_ATTRS} {{"
    entry = ["entry:"]
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
    L.trap_labels["STACK_EXHAUSTED"] = "trap_stack_exhausted"
    f = Frame("func", (), ft.results, "fnend", "fnend", 0)
    L.frames.append(f)
    L.cur = "body"
    out.append("body:")
    L.lower_body(code.body, DISPATCH)
    L.emit_trap_blocks()
    entry.extend(L.entry_lines)
    entry.append("  br i1 %sp.low, label %trap_stack_exhausted, label %body, !prof !1")
    return [header] + entry + [x for x in out if x is not None] + ["}"]


class ModuleLowering:
    """Produces the IR text for a module (or one partition of its functions).

    PROBE_STORES: the target's stores may fault part-way
    (Target.partial_store_faults); every multi-byte store to a guarded
    memory then reads its last byte first.  The only target-dependent choice
    in lowering: the driver lowers once per distinct value."""

    def __init__(self, module, probe_stores: bool = False):
        self.module = module
        self.info = ModuleInfo(module, probe_stores)
        self.info.check_supported()

    def function_ir(self, defined_indices) -> str:
        parts = []
        for i in defined_indices:
            parts.append("\n".join(lower_function(self.info, i)))
        return "\n\n".join(parts)

    def support_ir(self) -> str:
        """Trampolines, adapters and constant-expression functions."""
        return "\n\n".join(lower_support(self.info))

    def module_ir(self, defined_indices, with_support: bool) -> str:
        """A complete IR module holding DEFINED_INDICES (and the support code)."""
        body = self.function_ir(defined_indices)
        if with_support:
            body += "\n\n" + self.support_ir()
        # Functions defined in other partitions are declared.
        mine = set(defined_indices)
        called = set(int(x) for x in _CALLED_FUNC.findall(body))
        decls = []
        for i in sorted(called - mine):
            ft = self.info.types[self.module.funcs[i]].comp
            ps = ", ".join(["ptr", "ptr"] + [lltype(t) for t in ft.params])
            decls.append(f"declare hidden {ret_type(ft.results)} @wasm_func_{i}({ps}) {FN_ATTRS}")
        head = "declare ptr @llvm.stacksave.p0()\n" + "\n".join(decls) + "\n"
        intr = _intrinsic_decls(body)
        intr = "\n".join(x for x in intr.splitlines() if "llvm.stacksave" not in x) + "\n"
        return head + intr + "\n" + body + "\n\n" + ATTR_DEFS + META


def lower_support(info: ModuleInfo) -> list:
    out = []
    for k, ft in enumerate(info.sigs):
        out.append(_trampoline(k, ft))
        out.append(_adapter(k, ft))
    out.append(_const_functions(info))
    return out


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


def _expr_fn(info: ModuleInfo, name: str, expr: list, t, widen: bool = False) -> str:
    """``T name(ptr vmctx)`` evaluating constant expression EXPR.

    With WIDEN the (i32 or i64) result is returned zero-extended to i64, the
    form the runtime takes segment offsets in.
    """
    out = []
    L = FunctionLowering(info, out)
    L.frames.append(Frame("block", (), (t,), "x", "x", 0))
    out.append("body:")
    L.cur = "body"
    for ins in expr[:-1]:  # drop the final `end`
        h = DISPATCH[ins[0].id]
        if h is None:
            raise UnsupportedError(f"instruction {ins[0].name} in a constant expression is not supported yet")
        h(L, ins)
    v, vt = L.stack[-1]
    rt = lltype(t)
    if widen:
        if vt == "i32":
            v = L.op(f"zext i32 {v} to i64")
        rt = "i64"
    L.emit(f"ret {rt} {v}")
    L.emit_trap_blocks()
    lines = [f"define hidden {rt} @{name}(ptr %vmctx) {FN_ATTRS} {{", "entry:"]
    lines += L.entry_lines
    lines.append("  br label %body")
    lines += [x for x in out if x is not None]
    lines.append("}")
    return "\n".join(lines)


def _const_functions(info: ModuleInfo) -> str:
    m = info.module
    fns = []
    # Globals: one function that initialises every defined global in order.
    lines = [f"define hidden void @wasm_init_globals(ptr %vmctx) {FN_ATTRS} {{", "entry:"]
    body = []
    for gi, g in enumerate(m.globals):
        name = f"wasm_global_init_{gi}"
        t = g.type.type
        fns.append(_expr_fn(info, name, g.init, t))
        slot = info.vmo.global_slot(gi)
        body.append(f"  %g{gi} = call {lltype(t)} @{name}(ptr %vmctx)")
        body.append(f"  %g{gi}.p = getelementptr inbounds i8, ptr %vmctx, i64 {slot}")
        body.append(f"  store {lltype(t)} %g{gi}, ptr %g{gi}.p")
    lines += body + ["  ret void", "}"]
    fns.append("\n".join(lines))
    for i, e in enumerate(m.elems):
        if e.mode == "active":
            fns.append(_expr_fn(info, f"wasm_elem_offset_{i}", e.offset, "i32", widen=True))
        if e.func_indices is None:
            fns.append(_elem_items_fn(info, i, e))
    for i, d in enumerate(m.datas):
        if d.mode == "active":
            t = info.memories[d.memory].limits.is64 and "i64" or "i32"
            fns.append(_expr_fn(info, f"wasm_data_offset_{i}", d.offset, t, widen=True))
    for i, t in enumerate(m.tables):
        if t.init is not None:
            fns.append(_expr_fn(info, f"wasm_table_init_{i}", t.init, t.type.elem))
    return "\n\n".join(fns)


def _elem_items_fn(info, i, e) -> str:
    fns = []
    lines = [f"define hidden void @wasm_elem_items_{i}(ptr %vmctx, ptr %out) {FN_ATTRS} {{", "entry:"]
    for k, expr in enumerate(e.items):
        name = f"wasm_elem_item_{i}_{k}"
        fns.append(_expr_fn(info, name, expr, e.type))
        lines.append(f"  %i{k} = call ptr @{name}(ptr %vmctx)")
        lines.append(f"  %i{k}.p = getelementptr inbounds ptr, ptr %out, i64 {k}")
        lines.append(f"  store ptr %i{k}, ptr %i{k}.p")
    lines += ["  ret void", "}"]
    fns.append("\n".join(lines))
    return "\n\n".join(fns)


from . import lower_simd  # noqa: E402,F401  (registers the 0xFD handlers)
