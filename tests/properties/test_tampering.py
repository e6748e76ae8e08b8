"""Tampered artifacts end in a clean error, never a crash (issue 12).

Random bit flips (test_artifact_props.py) mostly hit checksums.  Here every
change is made *with the checksums recomputed*, so it reaches the checks
behind them:

* the metadata JSON: imports and exports removed, duplicated, renamed,
  retyped; slice entries and the embedded .wasm's entry moved, resized,
  renamed; fields of the wrong JSON type;
* the image descriptor: every header field, every field of the first and
  last record of every descriptor table, and bytes of the string table.

Each case is loaded, instantiated and exercised (every export called,
read or written) in a worker process, so a SIGSEGV is a failed case, not
a dead test run.  A case ends in one of

* ``ArtifactError``/``NoSliceError`` at load: the damage was detected;
* ``LinkError``/``InstantiationError``/``Trap`` at instantiation or in a
  call (none of the cases here gets that far today);
* ``ok``: the change was harmless (a display-only field, a name-section
  name, padding...).

Every change must be detected except those ``JSON_HARMLESS`` and
``IMAGE_HARMLESS`` list (with the reason each is harmless), which must still
end cleanly.  Code offsets are changed only in the ways the loader can tell
(``CODE_FIELDS``).  A handful of cases also run through ``wasmc exec``:
exit 7 or 8 and one line on stderr.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from apimodules import artifact, lib_module, mem_module, rewrite_image, rewrite_metadata, run_python, user_module
from wasmc import abi, container

CLEAN = {"ok", "ArtifactError", "NoSliceError", "LinkError", "InstantiationError", "Trap"}
DETECTED = {"ArtifactError", "NoSliceError"}

WORKER = r'''
import json, sys, traceback
import wasmc

cases, lib_path = json.load(open(sys.argv[1])), sys.argv[2]

def host():
    return wasmc.Func(wasmc.FuncType([], ["i32"]), lambda: 5)

def exercise(inst):
    for name, x in sorted(inst.exports.items()):
        if isinstance(x, wasmc.Func):
            args = [0.0 if t in ("f32", "f64") else 0 for t in x.type.params] if x.type else None
            if args is not None:
                try:
                    x(*args)
                except wasmc.Trap:
                    pass
        elif isinstance(x, wasmc.Memory):
            x.read(0, 64)
            x.data[16:21] = b"HELLO"
        elif isinstance(x, wasmc.Table):
            for i in range(min(x.size, 4)):
                f = x.get(i)
                if f is not None and f.type is not None and not f.type.params:
                    try:
                        f()
                    except wasmc.Trap:
                        pass
        elif isinstance(x, wasmc.Global):
            x.value

for case_id, path, kind in cases:
    try:
        m = wasmc.Module.load(path)
        if kind == "lib":
            imports = {"env": {"h": host()}}
        elif kind == "user":
            imports = {"lib": wasmc.Instance(wasmc.Module.load(lib_path), {"env": {"h": host()}}).exports}
        else:
            imports = {}
        exercise(wasmc.Instance(m, imports))
        outcome = "ok"
    except (wasmc.ArtifactError, wasmc.NoSliceError, wasmc.LinkError, wasmc.InstantiationError,
            wasmc.Trap) as e:
        outcome = type(e).__name__
    except Exception as e:
        outcome = "BUG " + "".join(traceback.format_exception_only(e)).strip().replace("\n", " ")
    print(json.dumps([case_id, outcome]), flush=True)
'''


def run_cases(cases: list, tmp: Path, lib_path) -> dict:
    """{case id: outcome} for CASES [(id, artifact bytes, kind)], run in
    worker processes; a case that kills its worker is "CRASH (signal)", and
    the worker goes on with the cases after it."""
    files = []
    for i, (cid, data, kind) in enumerate(cases):
        p = tmp / f"case{i}.wasmu"
        p.write_bytes(data)
        files.append([cid, str(p), kind])
    results: dict = {}
    todo = files
    while todo:
        listing = tmp / "cases.json"
        listing.write_text(json.dumps(todo))
        r = subprocess.run([sys.executable, "-c", WORKER, str(listing), str(lib_path)], capture_output=True,
                           text=True, timeout=600)
        for line in r.stdout.splitlines():
            cid, outcome = json.loads(line)
            results[cid] = outcome
        done = len([c for c in todo if c[0] in results])
        if done == len(todo):
            break
        crashed = todo[done]
        results[crashed[0]] = f"CRASH (status {r.returncode}) {r.stderr.strip()[-300:]}"
        todo = todo[done + 1:]
    return results


# --- the changes ----------------------------------------------------------------

def _json_cases(data: bytes) -> list:
    """(id, change) pairs for the metadata JSON of DATA."""
    meta = json.loads(data[64:64 + struct.unpack_from("<Q", data, 24)[0]])
    out = []

    def add(cid, fn):
        out.append((cid, fn))

    for where in ("imports", "exports"):
        for i, e in enumerate(meta[where]):
            tag = f"{where}[{i}]"
            add(f"{tag} removed", lambda m, w=where, i=i: m[w].pop(i))
            add(f"{tag} duplicated", lambda m, w=where, i=i: m[w].insert(i, m[w][i]))
            add(f"{tag} not an object", lambda m, w=where, i=i: m[w].__setitem__(i, 1))
            for key in e:
                add(f"{tag}.{key} removed", lambda m, w=where, i=i, k=key: m[w][i].pop(k))
            add(f"{tag}.name changed", lambda m, w=where, i=i: m[w][i].__setitem__("name", m[w][i]["name"] + "x"))
            for kind in ("func", "table", "memory", "global", "tag"):
                if kind != e["kind"]:
                    add(f"{tag}.kind {kind}", lambda m, w=where, i=i, k=kind: m[w][i].__setitem__("kind", k))
            if "index" in e:
                add(f"{tag}.index+1", lambda m, i=i: m["exports"][i].__setitem__("index", m["exports"][i]["index"] + 1))
                add(f"{tag}.index as str", lambda m, i=i: m["exports"][i].__setitem__("index", "0"))
            else:
                add(f"{tag}.module changed", lambda m, i=i: m["imports"][i].__setitem__("module", "lib2"))
            t = e["type"]
            for key, value in t.items():
                if isinstance(value, list):
                    add(f"{tag}.type.{key} +i32", lambda m, w=where, i=i, k=key: m[w][i]["type"][k].append("i32"))
                    if value:
                        add(f"{tag}.type.{key} -1", lambda m, w=where, i=i, k=key: m[w][i]["type"][k].pop())
                        add(f"{tag}.type.{key}[0] f64", lambda m, w=where, i=i, k=key: m[w][i]["type"][k].__setitem__(
                            0, "f64" if m[w][i]["type"][k][0] != "f64" else "i32"))
                elif isinstance(value, bool):
                    add(f"{tag}.type.{key} flipped", lambda m, w=where, i=i, k=key: m[w][i]["type"].__setitem__(
                        k, not m[w][i]["type"][k]))
                elif isinstance(value, int):
                    add(f"{tag}.type.{key}+1", lambda m, w=where, i=i, k=key: m[w][i]["type"].__setitem__(
                        k, m[w][i]["type"][k] + 1))
                elif value is None:
                    add(f"{tag}.type.{key} 1", lambda m, w=where, i=i, k=key: m[w][i]["type"].__setitem__(k, 1))
                elif isinstance(value, str):
                    alt = {"i32": "i64", "i64": "i32", "funcref": "externref", "externref": "funcref"}.get(value, "i32")
                    add(f"{tag}.type.{key} {alt}", lambda m, w=where, i=i, k=key, a=alt: m[w][i]["type"].__setitem__(k, a))
                add(f"{tag}.type.{key} removed", lambda m, w=where, i=i, k=key: m[w][i]["type"].pop(k))
            add(f"{tag}.type.extra", lambda m, w=where, i=i: m[w][i]["type"].__setitem__("extra", 1))
    for key in ("imports", "exports"):
        add(f"{key} not a list", lambda m, k=key: m.__setitem__(k, {}))
        add(f"{key} = [1]", lambda m, k=key: m.__setitem__(k, [1]))
    sl = meta["slices"][0]
    for key, value in sl.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            for d in (1, -1, 16384):
                add(f"slice.{key}{d:+}", lambda m, k=key, d=d: m["slices"][0].__setitem__(k, m["slices"][0][k] + d))
            add(f"slice.{key} as str", lambda m, k=key: m["slices"][0].__setitem__(k, str(m["slices"][0][k])))
        else:
            add(f"slice.{key} changed", lambda m, k=key: m["slices"][0].__setitem__(k, "x" + m["slices"][0][k]))
        add(f"slice.{key} removed", lambda m, k=key: m["slices"][0].pop(k))
    add("slice duplicated", lambda m: m["slices"].append(dict(m["slices"][0])))
    add("slices empty", lambda m: m["slices"].clear())
    add("slice.abi_version true", lambda m: m["slices"][0].__setitem__("abi_version", True))
    for key in ("offset", "size"):
        for d in (1, -1, 16):
            add(f"source.{key}{d:+}", lambda m, k=key, d=d: m["source"].__setitem__(k, m["source"][k] + d))
    add("source.embedded false", lambda m: m["source"].__setitem__("embedded", False))
    add("source.sha256 changed", lambda m: m["source"].__setitem__("sha256", "0" * 64))
    add("top-level key removed", lambda m: m.pop("compiler"))
    add("metadata a list", lambda m: (m.clear(), m.__setitem__("x", [])))
    return out


#: JSON changes that are harmless to running a slice: display-only fields
#: (the slice's CPU and feature strings describe its tier, which targets/
#: defines), and the embedded .wasm's hash (checked where the .wasm is used:
#: `wasmc slices`, test_api_hardening.py; running never reads it).
JSON_HARMLESS = {"slice.cpu changed", "slice.features changed", "source.sha256 changed"}


def _u32_fields(s: abi.Struct):
    return [(f.name, off, 4 if f.type in ("u32", "i32") else 8) for f, off in s.layout() if f.type in ("u32", "u64")]


def _header(img) -> dict:
    H = abi.IMAGE_HEADER
    return dict(zip(H.field_names(), struct.unpack_from(H.struct_format(), img, 0)))


#: Descriptor fields holding code offsets.  The loader checks where they
#: point (inside the code; functions do not overlap; trampolines, adapters
#: and initialisers are not inside a function), not what they point at: a
#: slice is native code (docs/container.md, "Trust"), and an offset moved to
#: the start of another trampoline runs that code.  So they are changed only
#: to values these rules refuse: outside the code, or into a function.
CODE_FIELDS = {"init_globals", "code", "array_call", "adapter", "offset_fn", "items_fn", "init"}

#: Fields (or table.field) whose change may go unnoticed because the new
#: value is as valid as the old one and does no harm: the module name and
#: function names (name section, for backtraces), padding, the image flag
#: this runtime does not depend on, the sizes only backtraces use, the end
#: of the code (moving it within the read-only data that follows), a start
#: function moved to another [] -> [] function, and a data segment grown
#: into the zero padding after it.
IMAGE_HARMLESS = {"pad", "module_name", "name", "name_len", "flags", "code_size", "text_end", "start_func",
                  "datas.size"}


def _image_cases(img: bytes) -> list:
    """(id, change, must_detect) for the image descriptor IMG."""
    h = _header(img)
    out = []
    F = abi.FUNC_DESC
    starts = [struct.unpack_from("<I", img, h["funcs"] + i * F.size + F.offset("code"))[0]
              for i in range(h["nfuncs"] - h["nimported_funcs"])]

    def setter(pos, size, value):
        def change(b):
            b[pos:pos + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        return change

    def fields(prefix, base, s: abi.Struct, rec: bytes):
        for name, off, size in _u32_fields(s):
            old = int.from_bytes(rec[off:off + size], "little")
            mask = (1 << (8 * size)) - 1
            if name in CODE_FIELDS:  # outside the code, or at or into another function
                other = next((c for c in starts if c != old), None)
                values = {0xFFFFFFF0, h["image_size"]} | ({other, other + 1} if other is not None else set())
            else:
                values = {0, 0xFFFFFFFF, old + 1, old + 8}
            table = prefix.partition("[")[0]
            for v in sorted({v & mask for v in values} - {old}):
                harmless = name in IMAGE_HARMLESS or f"{table}.{name}" in IMAGE_HARMLESS
                out.append((f"{prefix}.{name}={v:#x}", setter(base + off, size, v), not harmless))

    fields("header", 0, abi.IMAGE_HEADER, img)
    tables = (("types", "ntypes", abi.TYPE_DESC), ("imports", "nimports", abi.IMPORT_DESC),
              ("funcs", None, abi.FUNC_DESC), ("tables", "ntables", abi.TABLE_DESC),
              ("memories", "nmemories", abi.MEMORY_DESC), ("globals", "nglobals", abi.GLOBAL_DESC),
              ("exports", "nexports", abi.EXPORT_DESC), ("elems", "nelems", abi.ELEM_DESC),
              ("datas", "ndatas", abi.DATA_DESC))
    for table, count, s in tables:
        n = h["nfuncs"] - h["nimported_funcs"] if count is None else h[count]
        for i in sorted({0, n - 1} if n else set()):
            base = h[table] + i * s.size
            fields(f"{table}[{i}]", base, s, img[base:base + s.size])
    # bytes of the string table: names, keys
    for k in range(0, h["strings_size"], max(1, h["strings_size"] // 12)):
        pos = h["strings"] + k
        out.append((f"strings[{k}]^=1", setter(pos, 1, img[pos] ^ 1), None))
    return out


def _all_cases(kind: str, wasm: bytes) -> list:
    """[(id, bytes, kind, must_detect)] for one module (must_detect None: a
    string byte, which must be detected unless it is part of a name the
    image alone uses)."""
    data = Path(artifact(wasm)).read_bytes()
    cases = []
    for cid, fn in _json_cases(data):
        cases.append((f"{kind} json {cid}", rewrite_metadata(data, fn), kind, cid not in JSON_HARMLESS))
    art = container.parse(data)
    img = container.slice_bytes(art, art.slices[0])
    for cid, fn, detect in _image_cases(img):
        cases.append((f"{kind} image {cid}", rewrite_image(data, fn), kind, detect))
    return cases


@pytest.fixture(scope="module")
def lib_path():
    return artifact(lib_module())


def _check(cases: list, tmp_path: Path, lib_path) -> list:
    results = run_cases([(c[0], c[1], c[2]) for c in cases], tmp_path, lib_path)
    bad = []
    for cid, _, _, detect in cases:
        outcome = results[cid]
        if outcome not in CLEAN or (detect and outcome not in DETECTED):
            bad.append(f"{cid}: {outcome}")
    return bad


@pytest.mark.parametrize("kind", ["lib", "user", "mem"])
def test_tampered_artifacts_end_in_a_clean_error(kind, tmp_path, lib_path):
    wasm = {"lib": lib_module, "user": user_module, "mem": mem_module}[kind]()
    cases = _all_cases(kind, wasm)
    bad = _check(cases, tmp_path, lib_path)
    assert not bad, f"{len(bad)} of {len(cases)} cases:\n" + "\n".join(bad)


EXEC_CASES = ("json exports[0] removed", "json exports = [1]", "json imports not a list",
              "json exports[1].kind memory", "json slice.offset+16384", "json slice.size-1",
              "json slice.abi_version+1", "json slice.arch changed", "image header.nexports=0x0",
              "image header.vm_tables=0x41", "image exports[0].index=0x1", "image header.ndatas=0x1",
              "image strings[0]^=1")


def test_wasmc_exec_of_tampered_artifacts(tmp_path):
    """Through the command line: exit 7 (bad artifact) or 8 (no matching
    slice), one line on stderr, no traceback."""
    cases = {c[0].removeprefix("mem "): c[1] for c in _all_cases("mem", mem_module())}
    for cid in EXEC_CASES:
        p = tmp_path / "t.wasmu"
        p.write_bytes(cases[cid])
        r = run_python(f"import sys; from wasmc.cli import main; sys.argv = ['wasmc', 'exec', {str(p)!r}, "
                       "'--invoke', 'nop']; main()")
        lines = r.stderr.strip().splitlines()
        assert r.returncode in (7, 8) and len(lines) == 1 and "Traceback" not in r.stderr, (cid, r.returncode,
                                                                                            r.stderr)
        assert lines[0].startswith(("wasmc: bad artifact:", "wasmc: no matching slice:")), (cid, lines[0])
