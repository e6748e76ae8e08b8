"""A whole module (or one partition of its functions) as an IR module.

:class:`ModuleLowering` puts together the functions of a partition, the
declarations of functions other partitions define and of the ``llvm.*``
intrinsics the text uses (scanned from the text, so none is missing), and,
in partition 0, the support code: trampolines and adapters (calls.py) and
the small functions that evaluate constant expressions at instantiation
(``wasm_init_globals``, ``wasm_elem_offset_<i>``, ``wasm_elem_items_<i>``,
``wasm_data_offset_<i>``, ``wasm_table_init_<i>``).
"""

from __future__ import annotations

import re

from ...errors import UnsupportedError
from .calls import _adapter, _trampoline
from .control import Frame
from .function import FunctionLowering, ModuleInfo, lower_function
from .ir import ATTR_DEFS, FN_ATTRS, META, lltype


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



class ModuleLowering:
    """Produces the IR text for a module (or one partition of its functions).

    The two target-dependent choices in lowering (the driver lowers once per
    distinct pair): PROBE_STORES, the target's stores may fault part-way
    (Target.partial_store_faults), so every multi-byte store to a guarded
    memory reads its last byte first; CONVENTION, the calling convention of
    every Wasm function (Target.calling_convention, calls.py).  FUEL, a
    build option, instruments every function body (fuel.py)."""

    def __init__(self, module, probe_stores: bool = False, convention: str = "tailcc", fuel: bool = False):
        self.module = module
        self.info = ModuleInfo(module, probe_stores, convention, fuel)
        self.info.check_supported()

    @classmethod
    def for_target(cls, module, target, fuel: bool = False) -> "ModuleLowering":
        """The lowering TARGET (a targets.Target) needs."""
        return cls(module, probe_stores=target.partial_store_faults, convention=target.calling_convention,
                   fuel=fuel)

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
            decls.append(self.info.cc_for(i).declare(f"wasm_func_{i}", ft))
        head = "declare ptr @llvm.stacksave.p0()\n" + "\n".join(decls) + "\n"
        intr = _intrinsic_decls(body)
        intr = "\n".join(x for x in intr.splitlines() if "llvm.stacksave" not in x) + "\n"
        return head + intr + "\n" + body + "\n\n" + ATTR_DEFS + META


def lower_support(info: ModuleInfo) -> list:
    out = []
    for k, ft in enumerate(info.sigs):
        out.append(_trampoline(info.cc, k, ft))
        out.append(_adapter(info.cc, k, ft))
    out.append(_const_functions(info))
    return out


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
    from .dispatch import DISPATCH

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
