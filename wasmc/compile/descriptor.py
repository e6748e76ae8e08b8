"""Build the image descriptor and assemble the final flat image.

Consumes the module, the lowering's ModuleInfo and the linked code, and
produces the image bytes of one slice:

    [IMAGE_HEADER][pad][code + rodata (linked at CODE_BASE)][descriptor
    tables][strings][data segment bytes]

Every reference inside is an image-relative offset (see wasmc/abi.py); the
shim checks each one against the image size before use.  The same function
also produces the target-independent description of imports and exports
that goes into the container's JSON metadata.
"""

from __future__ import annotations

import hashlib
import struct

from .. import abi
from ..wasm.module import FuncType, RefType

CODE_BASE = 256  # image offset of the first code byte (after IMAGE_HEADER)
assert abi.IMAGE_HEADER.size <= CODE_BASE


def valtype_code(t) -> int:
    if isinstance(t, RefType):
        h = t.heap
        if h in ("func", "nofunc") or isinstance(h, int):
            return abi.VALTYPE_FUNCREF
        if h in ("extern", "noextern"):
            return abi.VALTYPE_EXTERNREF
        if h in ("exn", "noexn"):
            return abi.VALTYPE_EXNREF
        return abi.VALTYPE_ANYREF
    return abi.VALTYPES[t]


def valtype_text(t, module=None) -> str:
    """A value type as the metadata and the descriptor's type keys spell it:
    a name (``i32``, ``funcref``) or ``(ref null? HEAP)``.  A defined type's
    HEAP is ``$`` and its canonical key (``$func(i32)->()``, or
    ``$func:gc:DIGEST`` / ``$struct:...`` / ``$array:...`` for types that
    need GC canonicalisation), so keys compare across modules and the shim
    can check subtyping (instance.c: valtype_sub) without the type section."""
    if isinstance(t, RefType):
        if t.nullable and t.heap == "func":
            return "funcref"
        if t.nullable and t.heap == "extern":
            return "externref"
        if isinstance(t.heap, int) and module is not None:
            return f"(ref {'null ' if t.nullable else ''}${heap_key(module, t.heap)})"
        return str(t)
    return t


def heap_key(module, index: int) -> str:
    """The text of defined type INDEX as a heap type (see valtype_text)."""
    key = type_key(module, index)
    if not key.startswith(b"gc:"):
        return key.decode()
    kind = type(module.types[index].comp).__name__.removesuffix("Type").lower()  # func, struct, array
    return f"{kind}:gc:{hashlib.sha256(key).hexdigest()[:32]}"


def _plain(module, index: int) -> bool:
    st = module.types[index]
    if not isinstance(st.comp, FuncType) or st.supers or not st.final:
        return False
    if module.rec_groups[st.group][1] != 1:
        return False
    return all(not isinstance(t, RefType) or (t.nullable and t.heap in ("func", "extern"))
               for t in st.comp.params + st.comp.results)


def type_key(module, index: int) -> bytes:
    """Canonical key of type INDEX: equal keys <=> equivalent types, across modules."""
    if _plain(module, index):
        ft = module.types[index].comp
        return abi.func_type_key([valtype_text(t) for t in ft.params], [valtype_text(t) for t in ft.results])
    from ..wasm.validate import canonical_key_bytes

    return b"gc:" + canonical_key_bytes(module.canonical[index])


class _Strings:
    def __init__(self):
        self.buf = bytearray()
        self.index = {}

    def add(self, s) -> tuple[int, int]:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        off = self.index.get(b)
        if off is None:
            off = self.index[b] = len(self.buf)
            self.buf += b + b"\0"
        return off, len(b)


def function_names(module) -> dict:
    """Best available name per function index: name section, then export name."""
    names = {}
    for e in module.exports:
        if e.kind == "func":
            names.setdefault(e.index, e.name)
    names.update(module.names.functions)
    return names


def build_image(module, info, linked) -> bytes:
    m = module
    fn = linked.functions
    strings = _Strings()
    tables_blob = bytearray()
    pos0 = len(linked.code) + linked.base

    def sym(name: str) -> int:
        return fn[name][0]

    def place(blob: bytes, align: int = 8) -> int:
        nonlocal tables_blob
        while (pos0 + len(tables_blob)) % align:
            tables_blob.append(0)
        off = pos0 + len(tables_blob)
        tables_blob += blob
        return off

    def pack_records(s: abi.Struct, rows: list) -> int:
        fmt = s.struct_format()
        names = s.field_names()
        blob = b"".join(struct.pack(fmt, *[r.get(n, 0) for n in names]) for r in rows)
        return place(blob) if rows else 0

    # types
    type_rows = []
    for i, st in enumerate(m.types):
        comp = st.comp
        key_off, key_len = strings.add(type_key(m, i))
        if isinstance(comp, FuncType):
            vt = bytes(valtype_code(t) for t in comp.params + comp.results)
            type_rows.append(dict(kind=abi.TYPE_KIND_FUNC, nparams=len(comp.params),
                                  nresults=len(comp.results), valtypes=place(vt, 1) if vt else 0,
                                  key=key_off, key_len=key_len))
        else:
            type_rows.append(dict(kind=abi.TYPE_KIND_STRUCT if hasattr(comp, "fields") else abi.TYPE_KIND_ARRAY,
                                  key=key_off, key_len=key_len))
    # imports
    kind_code = {"func": abi.EXTERN_FUNC, "table": abi.EXTERN_TABLE, "memory": abi.EXTERN_MEMORY,
                 "global": abi.EXTERN_GLOBAL, "tag": abi.EXTERN_TAG}
    counters = {k: 0 for k in kind_code}
    import_rows = []
    for imp in m.imports:
        mo, ml = strings.add(imp.module)
        no, nl = strings.add(imp.name)
        row = dict(kind=kind_code[imp.kind], module=mo, module_len=ml, name=no, name_len=nl,
                   index=counters[imp.kind])
        counters[imp.kind] += 1
        if imp.kind == "func":
            row["type"] = imp.desc
            row["adapter"] = sym(f"wasm_adapter_{info.sig_of(m.types[imp.desc].comp)}")
        elif imp.kind == "tag":
            row["type"] = imp.desc.type_index
        import_rows.append(row)
    # functions
    names = function_names(m)
    func_rows = []
    for di, ti in enumerate(m.funcs):
        fi = info.nimported_funcs + di
        code, size = fn[f"wasm_func_{di}"]
        row = dict(code=code, code_size=size, type=ti,
                   array_call=sym(f"wasm_tramp_{info.sig_of(m.types[ti].comp)}"),
                   name=abi.NO_INDEX)
        if fi in names:
            row["name"], row["name_len"] = strings.add(names[fi])
        func_rows.append(row)
    # tables
    table_rows = []
    for i, tt in enumerate(info.tables):
        lim = tt.limits
        ko, kl = strings.add(valtype_text(tt.elem, m))
        row = dict(min=lim.min, max=abi.NO_MAX if lim.max is None else lim.max,
                   elem_type=valtype_code(tt.elem), flags=abi.TABLE_FLAG_64 if lim.is64 else 0,
                   elem_key=ko, elem_key_len=kl)
        di = i - counters["table"]
        if di >= 0 and m.tables[di].init is not None:
            row["init"] = sym(f"wasm_table_init_{di}")
        table_rows.append(row)
    # memories
    mem_rows = []
    for mt in info.memories:
        lim = mt.limits
        mem_rows.append(dict(min=lim.min, max=abi.NO_MAX if lim.max is None else lim.max,
                             flags=(abi.MEMORY_FLAG_64 | abi.MEMORY_FLAG_BOUNDS_CHECKED) if lim.is64 else 0))
    # globals
    glob_rows = []
    for gt in info.globals:
        ko, kl = strings.add(valtype_text(gt.type, m))
        glob_rows.append(dict(valtype=valtype_code(gt.type), mutable=int(gt.mutable), key=ko, key_len=kl))
    # tags (imported first): the type of each
    tag_rows = [dict(type=t.type_index) for t in m.all_tags()]
    # exports
    exp_rows = []
    for e in m.exports:
        no, nl = strings.add(e.name)
        exp_rows.append(dict(kind=kind_code[e.kind], index=e.index, name=no, name_len=nl))
    # element segments
    elem_rows = []
    seg_mode = {"passive": abi.SEG_PASSIVE, "active": abi.SEG_ACTIVE, "declarative": abi.SEG_DECLARATIVE}
    for i, e in enumerate(m.elems):
        row = dict(mode=seg_mode[e.mode], table=e.table, elem_type=valtype_code(e.type),
                   count=len(e.items))
        if e.mode == "active":
            row["offset_fn"] = sym(f"wasm_elem_offset_{i}")
        if e.func_indices is not None:
            if e.func_indices:
                row["funcs"] = place(struct.pack(f"<{len(e.func_indices)}I", *e.func_indices), 4)
        else:
            row["items_fn"] = sym(f"wasm_elem_items_{i}")
        elem_rows.append(row)
    # data segments (bytes placed last, after the records)
    data_rows = []
    for i, d in enumerate(m.datas):
        row = dict(mode=seg_mode[d.mode], memory=d.memory, size=len(d.data))
        if d.mode == "active":
            row["offset_fn"] = sym(f"wasm_data_offset_{i}")
        data_rows.append(row)

    hdr = dict(
        magic=abi.IMAGE_MAGIC, abi_version=abi.ABI_VERSION,
        flags=abi.IMAGE_FLAG_GUARD_PAGES | (abi.IMAGE_FLAG_FUEL if info.fuel else 0),
        text_start=linked.text_start, text_end=linked.text_end,
        vmctx_size=info.vmo.size, vm_memories=info.vmo.memories, vm_tables=info.vmo.tables,
        vm_imported_globals=info.vmo.imported_globals, vm_globals=info.vmo.globals,
        vm_defined_funcrefs=info.vmo.defined_funcrefs, vm_funcref_ptrs=info.vmo.funcref_ptrs,
        vm_type_ids=info.vmo.type_id_array,
        ntypes=len(m.types), nimports=len(m.imports),
        nfuncs=len(info.func_types), nimported_funcs=info.nimported_funcs,
        ntables=len(info.tables), nimported_tables=counters["table"],
        nmemories=len(info.memories), nimported_memories=counters["memory"],
        nglobals=len(info.globals), nimported_globals=counters["global"],
        nexports=len(m.exports), nelems=len(m.elems), ndatas=len(m.datas),
        start_func=abi.NO_INDEX if m.start is None else m.start,
        init_globals=sym("wasm_init_globals"),
        module_name=abi.NO_INDEX, ntags=len(tag_rows), nimported_tags=counters["tag"],
        vm_tags=info.vmo.tags,
    )
    if m.names.module:
        hdr["module_name"] = strings.add(m.names.module)[0]
    hdr["types"] = pack_records(abi.TYPE_DESC, type_rows)
    hdr["imports"] = pack_records(abi.IMPORT_DESC, import_rows)
    hdr["funcs"] = pack_records(abi.FUNC_DESC, func_rows)
    hdr["tables"] = pack_records(abi.TABLE_DESC, table_rows)
    hdr["memories"] = pack_records(abi.MEMORY_DESC, mem_rows)
    hdr["globals"] = pack_records(abi.GLOBAL_DESC, glob_rows)
    hdr["tags"] = pack_records(abi.TAG_DESC, tag_rows)
    hdr["exports"] = pack_records(abi.EXPORT_DESC, exp_rows)
    hdr["elems"] = pack_records(abi.ELEM_DESC, elem_rows)
    # data records need the offsets of their bytes: place the bytes first.
    for row, d in zip(data_rows, m.datas):
        row["data"] = place(d.data, 1) if d.data else 0
    hdr["datas"] = pack_records(abi.DATA_DESC, data_rows)
    hdr["strings"] = place(bytes(strings.buf), 1)
    hdr["strings_size"] = len(strings.buf)
    end = pos0 + len(tables_blob)
    hdr["image_size"] = end
    header = struct.pack(abi.IMAGE_HEADER.struct_format(),
                         *[hdr.get(n, 0) for n in abi.IMAGE_HEADER.field_names()])
    image = bytearray(end)
    image[:len(header)] = header
    image[linked.base:linked.base + len(linked.code)] = linked.code
    image[pos0:end] = tables_blob
    return bytes(image)


def interface(module) -> dict:
    """Target-independent imports/exports with their types (container metadata)."""
    m = module
    ftypes = m.func_type_indices()

    def functype(ti):
        ft = m.types[ti].comp
        return {"params": [valtype_text(t, m) for t in ft.params],
                "results": [valtype_text(t, m) for t in ft.results]}

    def desc(kind, d):
        if kind == "func":
            return functype(d)
        if kind == "memory":
            lim = d.limits
            return {"min": lim.min, "max": lim.max, "index_type": "i64" if lim.is64 else "i32"}
        if kind == "table":
            lim = d.limits
            return {"element": valtype_text(d.elem, m), "min": lim.min, "max": lim.max,
                    "index_type": "i64" if lim.is64 else "i32"}
        if kind == "global":
            return {"type": valtype_text(d.type, m), "mutable": d.mutable}
        if kind == "tag":
            return functype(d.type_index)
        raise AssertionError(kind)

    imports = [{"module": i.module, "name": i.name, "kind": i.kind, "type": desc(i.kind, i.desc)}
               for i in m.imports]
    spaces = {"func": None, "memory": m.all_memories(), "table": m.all_tables(),
              "global": m.all_globals(), "tag": m.all_tags()}
    exports = []
    for e in m.exports:
        if e.kind == "func":
            d = functype(ftypes[e.index])
        else:
            d = desc(e.kind, spaces[e.kind][e.index])
        exports.append({"name": e.name, "kind": e.kind, "index": e.index, "type": d})
    return {"imports": imports, "exports": exports}
