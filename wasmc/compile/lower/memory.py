"""Linear memory: loads, stores, memory.size/grow/fill/copy/init, data.drop.

How an access is lowered, and why:

* A 32-bit memory has no bounds check: the runtime reserves 8 GiB + 64 KiB
  per memory, so ``base + zext(addr) + offset`` always lies in the
  reservation and an out-of-bounds access faults in the guard region, which
  the shim turns into a trap.  Every such access is ``volatile``: LLVM counts
  a fault as undefined behaviour, so it would otherwise delete an access
  whose value is unused, narrow one, sink it into a branch or reorder it
  with stores -- each losing or moving a trap Wasm requires
  (docs/architecture.md section 3).
* A 64-bit memory is checked explicitly against its current size
  (overflow-safe), so it needs none of that.
* On targets whose stores can fault part-way (targets/*.toml:
  ``partial_store_faults``), every multi-byte store to a guarded memory
  first reads its last byte, so a store that straddles the end traps before
  writing anything.
* The base of each memory is loaded once per function (memories never move);
  the size is reloaded on every use (memory.grow changes it).
"""

from __future__ import annotations

from ... import abi
from .ir import INV, lltype

# Bytes written by a store of each IR type mem_store is given.
_STORE_SIZES = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "float": 4, "double": 8, "<16 x i8>": 16}


class MemoryMixin:
    """The FunctionLowering methods that address linear memory."""

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


HANDLERS = {"mem:size": _memory_size, "mem:grow": _memory_grow, "mem:fill": _memory_fill,
            "mem:copy": _memory_copy, "mem:init": _memory_init, "mem:data_drop": _data_drop}


def handler(op):
    h = HANDLERS.get(op.hint)
    if h is not None:
        return h
    fam, _, rest = op.hint.partition(":")
    if fam == "load":
        t, n, s = rest.split(":")
        return _make_load(t, int(n), s)
    if fam == "store":
        t, n = rest.split(":")
        return _make_store(t, int(n))
    return None
