"""Exception handling: try_table, throw, throw_ref, and the legacy try /
catch / catch_all / delegate / rethrow.

How it works (docs/architecture.md section 3, "Exceptions"):

* A *handler record* ``{jmp_buf, prev}`` lives in the frame of the function
  that has a try block (an alloca of ``abi.EH_RECORD_SIZE`` bytes).  Entering
  the block pushes it on the store's list (``limits.eh_top``) and calls the
  C library's ``_setjmp`` on it (through the builtins table, as a
  ``returns_twice`` call); leaving the block by any path -- falling off its
  end, a branch or return out of it, a tail call -- pops it by storing the
  value the list had outside the block.
* ``throw`` allocates an exception (``exn_new``: tag and payload slots) and
  calls the ``throw`` builtin, which ``_longjmp``s to the innermost record of
  the current entry -- or, when the entry has none, ends the entry with an
  "uncaught exception" that the host sees with its tag and payload.
* When ``_setjmp`` returns again (non-zero), the block's *dispatch* code
  pops the record, compares the exception's tag with each catch clause's
  and branches to the first that matches, with the payload values (and, for
  the ``_ref`` forms and legacy catches, the exception itself); none
  matching, it throws the exception on to the next record.
* A function with a try block keeps its locals in memory (volatile
  accesses): their latest values must survive the ``_longjmp``, which a
  register copy would not.  Functions without one are lowered exactly as
  before: a module that uses no exceptions pays nothing.
"""

from __future__ import annotations

from ... import abi
from ...errors import UnsupportedError
from ...wasm.module import RefType
from .ir import VAL, lltype

EXNREF = RefType(False, "exn")  # what catch_ref and legacy catches hand over


class EHMixin:
    """The FunctionLowering methods that keep ``limits.eh_top`` right."""

    def eh_level(self, upto: int) -> str | None:
        """The value ``limits.eh_top`` has while code runs directly inside
        frames[0..UPTO]: the record of the innermost protecting try block, or
        the value the function was entered with.  None outside EH functions."""
        if not self.eh_fn:
            return None
        for f in reversed(self.frames[:upto + 1]):
            if f.kind in ("try_table", "try"):
                return f.eh_record
        return "%eh.entry"

    def eh_target_context(self, f) -> int:
        """Where code continues after a branch to frame F: inside F for a
        loop (its header), in F's parent otherwise (F's end)."""
        j = self.frames.index(f)
        return j if f.kind == "loop" else j - 1

    def eh_needs_restore(self, upto: int) -> bool:
        return self.eh_fn and self.eh_level(upto) != self.eh_level(len(self.frames) - 1)

    def eh_restore(self, upto: int) -> None:
        """Before leaving the current context for frames[0..UPTO]: pop the
        handler records of the try blocks left."""
        if self.eh_needs_restore(upto):
            self.emit(f"store ptr {self.eh_level(upto)}, ptr %eh.top.p")

    def eh_restore_for_return(self) -> None:
        if self.eh_fn and self.eh_level(len(self.frames) - 1) != "%eh.entry":
            self.emit("store ptr %eh.entry, ptr %eh.top.p")

    # --- the pieces a try block is made of ----------------------------------
    def eh_push(self, f) -> str:
        """Push F's handler record and call _setjmp; returns the i1 that is
        true when _setjmp returns from a throw."""
        n = self.tmp()[2:]
        rec = f"%ehrec{n}"
        self.entry_lines.append(f"  {rec} = alloca [{abi.EH_RECORD_SIZE} x i8], align 16")
        prev = self.op("load ptr, ptr %eh.top.p")
        pp = self.op(f"getelementptr inbounds i8, ptr {rec}, i64 {abi.EH_RECORD_PREV}")
        self.emit(f"store ptr {prev}, ptr {pp}")
        self.emit(f"store ptr {rec}, ptr %eh.top.p")
        sj = self.builtin("setjmp")
        r = self.op(f"call i32 {sj}(ptr {rec}) #3")
        f.eh_record, f.eh_prev = rec, prev
        return self.op(f"icmp ne i32 {r}, 0")

    def eh_caught(self, f) -> str:
        """At a dispatch block: pop F's record, and the exception in flight."""
        self.emit(f"store ptr {f.eh_prev}, ptr %eh.top.p")
        xp = self.op(f"getelementptr inbounds i8, ptr %lim.p, i64 {abi.LIMITS.offset('exn')}")
        return self.op(f"load ptr, ptr {xp}")

    def eh_tag(self, i: int) -> str:
        return self.vm_load("ptr", self.info.vmo.tag(i))

    def eh_payload(self, exn: str, tag: int) -> list:
        """Load the payload values of EXN, an exception of tag TAG."""
        out = []
        for k, t in enumerate(self.info.tag_params(tag)):
            p = self.op(f"getelementptr inbounds i8, ptr {exn}, i64 {abi.EXN.size + k * VAL}")
            out.append((self.op(f"load {lltype(t)}, ptr {p}, align 8"), t))
        return out

    def eh_throw(self, exn: str) -> None:
        fn = self.builtin("throw")
        self.emit(f"call void {fn}(ptr %vmctx, ptr {exn}) #1")
        self.emit("unreachable")
        self.dead = True

    def eh_match(self, exn: str, clauses: list, no_match) -> None:
        """Branch on EXN's tag: CLAUSES are (tag index or None for
        catch-all, emit function); NO_MATCH() emits the rest."""
        tag = None
        for tidx, emit in clauses:
            if tidx is None:
                emit()
                return
            if tag is None:
                tp = self.op(f"getelementptr inbounds i8, ptr {exn}, i64 {abi.EXN.offset('tag')}")
                tag = self.op(f"load ptr, ptr {tp}")
            want = self.eh_tag(tidx)
            hit = self.op(f"icmp eq ptr {tag}, {want}")
            yes, no = self.new_label("catch"), self.new_label("nocatch")
            self.emit(f"br i1 {hit}, label %{yes}, label %{no}")
            self.label(yes)
            emit()
            self.label(no)
            self.dead = False
        no_match()


# ---------------------------------------------------------------------------
# try_table
# ---------------------------------------------------------------------------

def _try_table(L, ins):
    from .control import Frame

    params, results = L.block_sig(ins[1])
    clauses = ins[2]
    # Catch labels are resolved in the context outside the try_table.
    outer = [L.frames[-1 - c.label] for c in clauses]
    end = L.new_label("tryend")
    height = len(L.stack) - len(params)
    f = Frame("try_table", params, results, end, end, height)
    caught = L.eh_push(f)
    dispatch, body = L.new_label("dispatch"), L.new_label("try")
    L.emit(f"br i1 {caught}, label %{dispatch}, label %{body}")
    saved = list(L.stack)

    # The dispatch block, in the enclosing context (the record is popped).
    L.label(dispatch)
    L.stack = saved[:height]
    exn = L.eh_caught(f)

    def clause(c, target):
        def emit():
            base = list(L.stack)
            if c.kind in (0, 1):
                for v, t in L.eh_payload(exn, c.tag):
                    L.push(v, t)
            if c.kind in (1, 3):
                L.push(exn, EXNREF)
            L.branch_out(target)
            L.stack = base
        return emit

    L.eh_match(exn, [(c.tag if c.kind < 2 else None, clause(c, t)) for c, t in zip(clauses, outer)],
               lambda: L.eh_throw(exn))
    L.dead = False
    L.stack = saved
    L.label(body)
    L.frames.append(f)


# ---------------------------------------------------------------------------
# throw, throw_ref
# ---------------------------------------------------------------------------

def _throw(L, ins):
    tidx = ins[1]
    params = L.info.tag_params(tidx)
    vals = L.stack[len(L.stack) - len(params):] if params else []
    del L.stack[len(L.stack) - len(params):]
    tag = L.eh_tag(tidx)
    new = L.builtin("exn_new")
    exn = L.op(f"call ptr {new}(ptr %vmctx, ptr {tag})")
    for k, (v, t) in enumerate(vals):
        p = L.op(f"getelementptr inbounds i8, ptr {exn}, i64 {abi.EXN.size + k * VAL}")
        L.emit(f"store {lltype(t)} {v}, ptr {p}, align 8")
    L.eh_throw(exn)


def _throw_ref(L, ins):
    exn = L.popv()
    L.trap_if(L.op(f"icmp eq ptr {exn}, null"), "NULL_EXCEPTION")
    L.eh_throw(exn)


# ---------------------------------------------------------------------------
# Legacy exception handling: try / catch / catch_all / delegate / rethrow
# ---------------------------------------------------------------------------

def _try(L, ins):
    from .control import Frame

    params, results = L.block_sig(ins[1])
    end = L.new_label("tryend")
    f = Frame("try", params, results, end, end, len(L.stack) - len(params))
    caught = L.eh_push(f)
    f.dispatch, body = L.new_label("dispatch"), L.new_label("try")
    f.catches = []  # (tag index or None, handler label)
    f.base = list(L.stack[:f.height])
    L.emit(f"br i1 {caught}, label %{f.dispatch}, label %{body}")
    L.label(body)
    L.frames.append(f)


def _end_section(L, f):
    """End the try body or the catch handler being lowered: continue after
    the try (popping its record if it is the body)."""
    if not L.dead:
        L.eh_restore(len(L.frames) - 2)
        L.emit(f"br label %{L.branch_to(f)}")
    del L.stack[f.height:]


def _catch(L, ins, tag=None):
    f = L.frames[-1]
    _end_section(L, f)
    h = L.new_label("handler")
    f.catches.append((tag, h))
    f.kind = "catch"  # the handler runs outside the try's protection
    L.label(h)
    L.dead = False
    L.stack = list(f.base)
    f.caught_exn = f"%ehexn.{f.dispatch}"
    if tag is not None:
        for v, t in L.eh_payload(f.caught_exn, tag):
            L.push(v, t)


def _catch_legacy(L, ins):
    _catch(L, ins, ins[1])


def _catch_all(L, ins):
    _catch(L, ins, None)


def finish_try(L, f, delegate_to=None):
    """Called by control.py's ``end`` (and by ``delegate``) for a legacy try
    frame F, already popped: emit its dispatch block."""
    L.label(f.dispatch)
    L.dead = False
    L.stack = list(f.base)
    L.frames.append(f)  # so eh_level sees the try as the current context
    f.kind = "try"
    exn = L.eh_caught(f)
    L.emit(f"%ehexn.{f.dispatch} = getelementptr i8, ptr {exn}, i64 0")
    exn = f"%ehexn.{f.dispatch}"
    L.frames.pop()
    if delegate_to is not None:
        # the exception goes to the handler of the try at that label
        level = L.eh_level(delegate_to)
        L.emit(f"store ptr {level}, ptr %eh.top.p")
        L.eh_throw(exn)
        return

    def jump(h):
        return lambda: (L.emit(f"br label %{h}"), setattr(L, "dead", True))

    L.eh_match(exn, [(tag, jump(h)) for tag, h in f.catches], lambda: L.eh_throw(exn))


def _delegate(L, ins):
    f = L.frames[-1]
    _end_section(L, f)
    L.frames.pop()
    # The label is resolved outside the try: the handler of that frame (the
    # innermost protecting try at or around it) gets the exception.
    target = len(L.frames) - 1 - ins[1]
    finish_try(L, f, delegate_to=target)
    from .control import _close

    _close(L, f)


def _rethrow(L, ins):
    f = L.frames[-1 - ins[1]]
    if getattr(f, "caught_exn", None) is None:  # pragma: no cover - the validator ensures it
        raise UnsupportedError("rethrow outside a catch")
    L.eh_throw(f.caught_exn)


HANDLERS = {"ctl:try_table": _try_table, "ctl:throw": _throw, "ctl:throw_ref": _throw_ref, "ctl:try": _try,
            "ctl:catch": _catch_legacy, "ctl:catch_all": _catch_all, "ctl:delegate": _delegate,
            "ctl:rethrow": _rethrow}


def handler(op):
    return HANDLERS.get(op.hint)
