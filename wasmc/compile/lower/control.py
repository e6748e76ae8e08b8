"""Structured control flow: block, loop, if/else, end, br, br_if, br_table,
return, unreachable, nop.

Block results and loop parameters become phi nodes.  A ``br_table`` edge to
a target that takes values goes through a one-instruction edge block, so
every phi has exactly one entry per predecessor.  Code after an
unconditional branch is dead: the driver (function.py) skips it, tracking
only nesting, until the matching ``else``/``end``.  A loop's parameters are
placeholder phis completed at the loop's ``end``, when every back edge is
known.
"""

from __future__ import annotations

from .ir import lltype


class Frame:
    __slots__ = ("kind", "params", "results", "label", "end_label", "height", "incoming",
                 "phi_at", "phi_names", "else_label", "if_params", "has_else",
                 # try blocks (eh.py): the handler record, the list head outside
                 # it, and for legacy try: dispatch label, catches, the stack
                 # below it, the caught exception of its handlers
                 "eh_record", "eh_prev", "dispatch", "catches", "base", "caught_exn")

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
        self.eh_record = self.eh_prev = self.dispatch = self.catches = self.base = self.caught_exn = None

    def branch_types(self):
        return self.params if self.kind == "loop" else self.results




class ControlMixin:
    """The FunctionLowering methods the control handlers share."""

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

    def branch_out(self, f: Frame):
        """An unconditional branch to frame F's target (a return for the
        function's frame), leaving the try blocks in between."""
        if f.kind == "func":
            _emit_return(self, f.results)
            return
        self.eh_restore(self.eh_target_context(f))
        self.emit(f"br label %{self.branch_to(f)}")
        self.dead = True

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
    f = L.frames[-1]
    if f.kind in ("try", "catch"):  # legacy try: its dispatch block closes it
        from . import eh

        eh._end_section(L, f)
        L.frames.pop()
        eh.finish_try(L, f)
        _close(L, f)
        return
    if f.kind == "try_table" and not L.dead:
        L.eh_restore(len(L.frames) - 2)
    L.frames.pop()
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
    _close(L, f)


def _close(L, f):
    """The end label of frame F (already popped), with its result phis."""
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
    L.eh_restore_for_return()
    L.fuel_sync_out()
    L.cc.ret(L, [(v, t) for (v, _), t in zip(vals, results)])
    L.dead = True


def _br(L, ins):
    L.branch_out(L.frames[-1 - ins[1]])


def _branch_if(L, cond: str, f, cont: str):
    """Branch to frame F's target when COND (an i1) holds, else to CONT
    (a new label, which becomes current).  A branch out of the function is
    a return, through a block of its own."""
    if f.kind == "func" or L.eh_needs_restore(L.eh_target_context(f)):
        # through a block of its own: the return, or the handler-record
        # pops of the try blocks left, happen only on this edge
        edge = L.new_label("ret" if f.kind == "func" else "out")
        L.emit(f"br i1 {cond}, label %{edge}, label %{cont}")
        saved = list(L.stack)
        L.label(edge)
        L.branch_out(f)
        L.dead = False
        L.stack = saved
    else:
        L.emit(f"br i1 {cond}, label %{L.branch_to(f)}, label %{cont}")
    L.label(cont)


def _br_if(L, ins):
    c = L.to_i1(L.popv())
    _branch_if(L, c, L.frames[-1 - ins[1]], L.new_label("brif"))


def _br_on(L, ins, on_null: bool):
    """br_on_null / br_on_non_null: a conditional branch on a reference.
    The branch of br_on_non_null carries the reference (the label's last
    type); the fall-through of br_on_null keeps it, now known non-null."""
    v, t = L.pop()
    test = L.op(f"icmp {'eq' if on_null else 'ne'} ptr {v}, null")
    if not on_null:
        L.push(v, t)
    _branch_if(L, test, L.frames[-1 - ins[1]], L.new_label("broff"))
    if on_null:
        L.push(v, t.__class__(False, t.heap) if hasattr(t, "heap") else t)
    else:
        L.pop()


def _br_on_null(L, ins):
    _br_on(L, ins, True)


def _br_on_non_null(L, ins):
    _br_on(L, ins, False)


def _br_table(L, ins):
    labels, default = ins[1]
    idx = L.popv()
    # One edge block per distinct target that needs values or is the function.
    edge = {}

    def target(depth):
        t = edge.get(depth)
        if t is None:
            f = L.frames[-1 - depth]
            if direct(f):
                t = L.branch_to(f)  # no values: branch straight to the target
            else:
                t = L.new_label("edge")
            edge[depth] = t
        return t

    def direct(f):
        return f.kind != "func" and not f.branch_types() and not L.eh_needs_restore(L.eh_target_context(f))

    cases = " ".join(f"i32 {i}, label %{target(d)}" for i, d in enumerate(labels))
    L.emit(f"switch i32 {idx}, label %{target(default)} [ {cases} ]")
    saved = list(L.stack)
    for depth, lbl in edge.items():
        f = L.frames[-1 - depth]
        if direct(f):
            continue
        L.label(lbl)
        L.stack = list(saved)
        L.branch_out(f)
    L.stack = saved
    L.dead = True


def _return(L, ins):
    _emit_return(L, L.frames[0].results)



HANDLERS = {
    "ctl:unreachable": _unreachable, "ctl:nop": _nop, "ctl:block": _block, "ctl:loop": _loop,
    "ctl:if": _if, "ctl:else": _else, "ctl:end": _end, "ctl:br": _br, "ctl:br_if": _br_if,
    "ctl:br_table": _br_table, "ctl:return": _return, "ctl:br_on_null": _br_on_null,
    "ctl:br_on_non_null": _br_on_non_null,
}


def handler(op):
    return HANDLERS.get(op.hint)
