"""The universal artifact (.wasmu): reader and writer.

Format (docs/container.md has the full description):

    offset 0   magic  b"\\0wasmcu\\0"                       8 bytes
           8   format version (u32 LE) = FORMAT_VERSION
          12   flags (u32 LE) = 0
          16   metadata offset (u64 LE)
          24   metadata size (u64 LE)
          32   SHA-256 of the metadata bytes                32 bytes
          64   metadata: UTF-8 JSON (sorted keys)
     aligned   slices, each at a SLICE_ALIGN boundary so the loader can mmap
               it straight from the file
     aligned   the original .wasm (optional; kept by default)

The JSON holds everything target independent (compiler version, source
hash, imports/exports with types, build options) and one entry per slice
(arch, tier, cpu, features, ABI version, offset, size, sha256).  Writing is
deterministic (same input and options, same bytes) and atomic (temporary
file + rename).  Reading checks every offset and size against the file and
every hash it relies on; any defect is an ArtifactError naming it.

Standard library (and the abi leaf) only: this is on the run path.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from . import abi
from .errors import ArtifactError, FileError

MAGIC = b"\0wasmcu\0"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQQ32s")
SLICE_ALIGN = 16384  # covers 4 KiB and 16 KiB pages; other page sizes fall back to a copy
MAX_METADATA = 64 << 20


@dataclass
class Slice:
    arch: str
    tier: str
    cpu: str
    features: str
    abi_version: int
    offset: int = 0
    size: int = 0
    sha256: str = ""
    data: bytes | None = None  # only when building / fully read

    def meta(self) -> dict:
        return {"arch": self.arch, "tier": self.tier, "cpu": self.cpu, "features": self.features,
                "abi_version": self.abi_version, "offset": self.offset, "size": self.size,
                "sha256": self.sha256, "memory_model": "guard-pages"}


@dataclass
class Artifact:
    metadata: dict
    slices: list = field(default_factory=list)
    wasm: bytes | None = None
    path: str | None = None

    @property
    def imports(self) -> list:
        return self.metadata["imports"]

    @property
    def exports(self) -> list:
        return self.metadata["exports"]


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def pack(metadata: dict, slices: list, wasm: bytes | None) -> bytes:
    """Serialise an artifact.  METADATA gets the slice table and source entry filled in."""
    meta = dict(metadata)
    # Two passes: offsets depend on the metadata size, which depends on offsets.
    # Offsets are written with fixed width, so the second pass is stable.
    for s in slices:
        s.sha256 = hashlib.sha256(s.data).hexdigest()
        s.size = len(s.data)
    offsets = [0] * len(slices)
    wasm_off = 0
    for _ in range(3):
        meta["slices"] = [dict(s.meta(), offset=offsets[i]) for i, s in enumerate(slices)]
        if wasm is not None:
            meta["source"] = dict(meta.get("source", {}), offset=wasm_off, size=len(wasm),
                                  sha256=hashlib.sha256(wasm).hexdigest(), embedded=True)
        blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        pos = HEADER.size + len(blob)
        new_offsets = []
        for s in slices:
            pos = _align(pos, SLICE_ALIGN)
            new_offsets.append(pos)
            pos += s.size
        new_wasm_off = _align(pos, 16) if wasm is not None else 0
        if new_offsets == offsets and new_wasm_off == wasm_off:
            break
        offsets, wasm_off = new_offsets, new_wasm_off
    else:  # pragma: no cover - converges in two passes
        raise AssertionError("container layout did not converge")
    for s, off in zip(slices, offsets):
        s.offset = off
    out = bytearray(HEADER.pack(MAGIC, FORMAT_VERSION, 0, HEADER.size, len(blob),
                                hashlib.sha256(blob).digest()))
    out += blob
    for s in slices:
        out += b"\0" * (s.offset - len(out))
        out += s.data
    if wasm is not None:
        out += b"\0" * (wasm_off - len(out))
        out += wasm
    return bytes(out)


def write_atomic(path: str | os.PathLike, data, mode: int = 0o666) -> None:
    """Write DATA (bytes, or a function that writes a file at the path it is
    given) to PATH, all or nothing.

    A new or regular file is written to a temporary file in the same
    directory, which is then renamed over it, with MODE less the umask; a
    symbolic link is followed (the file it points to is replaced, the link
    stays).  A FIFO or character device (``/dev/null``, ``/dev/stdout`` on a
    pipe or terminal) is never replaced: the complete bytes are written into
    it.  Anything else (a directory, a block device, a socket, a dangling
    link) is refused with a FileError naming it, as is every failure; no
    temporary file is left behind, whatever goes wrong."""
    import stat
    import tempfile

    from .errors import file_kind

    shown = os.fsdecode(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
        if os.path.islink(path):
            raise FileError(f"cannot write {shown}: it is a dangling symbolic link") from None
    except OSError as e:
        raise FileError(f"cannot write {shown}: {e.strerror or e}") from None
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        _write_stream(path, shown, data)
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FileError(f"cannot write {shown}: it is {file_kind(st.st_mode)}")
    target = Path(os.path.realpath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise FileError(f"cannot write {shown}: {e.strerror or e}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode & ~umask)  # mkstemp makes 0600; a built file should look like any other
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise FileError(f"cannot write {shown}: {e.strerror or e}") from None
        raise


def _write_stream(path, shown: str, data) -> None:
    """write_atomic into a FIFO or character device: DATA complete first
    (a callable writes a private temporary file), then written in one go."""
    import tempfile

    try:
        if callable(data):
            with tempfile.TemporaryDirectory(prefix="wasmc-") as d:
                tmp = os.path.join(d, "out")
                data(tmp)
                with open(tmp, "rb") as f:
                    data = f.read()
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except OSError as e:
        raise FileError(f"cannot write {shown}: {e.strerror or e}") from None


def _need(cond: bool, what: str):
    if not cond:
        raise ArtifactError(what)


def read_metadata(data: bytes, where: str = "artifact") -> dict:
    """Parse and check the header and metadata of an artifact held in DATA."""
    return _read_metadata(lambda off, n: data[off:off + n], len(data), where)


def _read_metadata(read, size: int, where: str) -> dict:
    """Parse and check the header and metadata of an artifact of SIZE bytes
    whose bytes READ(offset, n) gives (fewer at the end of the file)."""
    head = read(0, HEADER.size)
    _need(head[:4] != b"\0asm",
          f"{where}: a WebAssembly module, not a wasmc artifact (use `wasmc run`, or `wasmc build` first)")
    _need(size >= HEADER.size and len(head) >= HEADER.size, f"{where}: truncated (no header: {size} bytes)")
    magic, version, flags, moff, msize, mhash = HEADER.unpack_from(head, 0)
    _need(magic == MAGIC, f"{where}: not a wasmc artifact (bad magic)")
    _need(version == FORMAT_VERSION,
          f"{where}: container format version {version}, this wasmc reads version {FORMAT_VERSION}")
    _need(flags == 0, f"{where}: unknown container flags {flags:#x}")
    _need(moff == HEADER.size and msize <= MAX_METADATA and moff + msize <= size,
          f"{where}: truncated or corrupt (metadata at {moff}+{msize}, file has {size} bytes)")
    blob = bytes(read(moff, msize))
    _need(hashlib.sha256(blob).digest() == mhash, f"{where}: metadata checksum mismatch (corrupt file)")
    try:
        meta = json.loads(blob)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{where}: corrupt metadata ({e})") from None
    _check_schema(meta, size, moff + msize, where)
    _check_padding(read, meta, moff + msize, where)
    return meta


def _check_padding(read, meta: dict, pos: int, where: str):
    """The alignment padding between the parts is zeros (pack writes it so):
    then damage anywhere outside the embedded .wasm is detected on read."""
    for i, s in enumerate(meta["slices"]):
        _need(not any(read(pos, s["offset"] - pos)), f"{where}: non-zero bytes before slice {i} (corrupt file)")
        pos = s["offset"] + s["size"]
    src = meta.get("source")
    if isinstance(src, dict) and src.get("embedded"):
        _need(not any(read(pos, src["offset"] - pos)),
              f"{where}: non-zero bytes before the embedded .wasm (corrupt file)")


def _check_schema(meta, size: int, meta_end: int, where: str):
    _need(isinstance(meta, dict), f"{where}: metadata is not an object")
    for key, typ in (("imports", list), ("exports", list), ("slices", list), ("compiler", str)):
        _need(isinstance(meta.get(key), typ), f"{where}: metadata lacks {key!r}")
    for key in ("imports", "exports"):
        for e in meta[key]:
            entry_shape(e, where)
    # The layout is canonical (pack): each slice at the next SLICE_ALIGN
    # boundary after what precedes it, the .wasm (if embedded) 16-aligned
    # after the last slice, and nothing after that.  Any other offset or size
    # is damage, even when it still points inside the file.
    pos = meta_end
    for i, s in enumerate(meta["slices"]):
        _need(isinstance(s, dict), f"{where}: slice {i} is not an object")
        for key, typ in (("arch", str), ("tier", str), ("cpu", str), ("features", str),
                         ("abi_version", int), ("offset", int), ("size", int), ("sha256", str)):
            _need(isinstance(s.get(key), typ) and not isinstance(s.get(key), bool),
                  f"{where}: slice {i} lacks {key!r}")
        _need(s["offset"] + s["size"] <= size, f"{where}: slice {i} ({s['arch']}) lies outside the file (truncated?)")
        pos = _align(pos, SLICE_ALIGN)
        _need(s["offset"] == pos and s["size"] > 0, f"{where}: slice {i} ({s['arch']}) is not where the "
              f"layout puts it (offset {s['offset']}, size {s['size']}; corrupt file)")
        _need(s.get("memory_model") == "guard-pages",
              f"{where}: slice {i} ({s['arch']}) has memory model {s.get('memory_model')!r}, this runtime "
              "implements 'guard-pages'")
        pos += s["size"]
    src = meta.get("source")
    if isinstance(src, dict) and src.get("embedded"):
        _need(isinstance(src.get("offset"), int) and isinstance(src.get("size"), int)
              and src["offset"] >= meta_end and src["offset"] + src["size"] <= size,
              f"{where}: embedded .wasm lies outside the file (truncated?)")
        pos = _align(pos, 16)
        _need(src["offset"] == pos and src["offset"] + src["size"] == size,
              f"{where}: embedded .wasm is not where the layout puts it (offset {src['offset']}, "
              f"size {src['size']}; corrupt file)")
    else:
        _need(pos == size, f"{where}: {size - pos} bytes after the last slice (corrupt file)")


_TYPE_KEYS = {"func": {"params", "results"}, "tag": {"params", "results"}, "global": {"type", "mutable"},
              "memory": {"min", "max", "index_type"}, "table": {"element", "min", "max", "index_type"}}
_ENTRY_KEYS = ({"module", "name", "kind", "type"}, {"name", "kind", "index", "type"})  # an import, an export


def _typed(v, *types):
    """V if it is one of TYPES (and not a bool standing in for an int)."""
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        raise TypeError(v)
    return v


def _valtype_code(t) -> int:
    """The descriptor's code of a value type as the metadata spells it
    (compile/descriptor.py: valtype_text); a typed reference "(ref ...)"
    has its heap type's code."""
    if _typed(t, str) in abi.VALTYPES:
        return abi.VALTYPES[t]
    words = t.removeprefix("(ref").removesuffix(")").split()
    if not t.startswith("(ref") or not words:
        raise ValueError(t)
    heap = words[-1]
    if heap.startswith("$"):  # a defined type by its key: "(ref $func(i32)->())"
        return abi.heap_type_code(heap[1:].split(":", 1)[0].split("(", 1)[0])
    return abi.heap_type_code(heap)


def fuel_metered(meta: dict, where: str = "artifact") -> bool:
    """Was the artifact built with fuel metering (``options.fuel``, present
    only then)?  Each slice's image says so too (IMAGE_FLAG_FUEL): the
    runtime refuses an artifact where the two disagree."""
    opts = meta.get("options", {})
    fuel = opts.get("fuel", False) if isinstance(opts, dict) else None
    _need(fuel is True or fuel is False, f"{where}: metadata options are malformed ({opts!r})")
    return fuel


def entry_shape(e, where: str = "artifact") -> tuple:
    """What one import or export entry of the metadata says, in a form the
    runtime's view of the image descriptor (runtime/api.py) reduces to as
    well, so the two can be compared; ArtifactError if E is malformed."""
    try:
        _typed(e, dict)
        if set(e) not in _ENTRY_KEYS:
            raise KeyError(sorted(e))
        kind, t = _typed(e["kind"], str), _typed(e["type"], dict)
        if set(t) != _TYPE_KEYS[kind]:
            raise KeyError(kind)
        if kind in ("func", "tag"):
            ty = tuple(tuple(_valtype_code(x) for x in _typed(t[k], list)) for k in ("params", "results"))
        elif kind == "global":
            ty = (_valtype_code(t["type"]), _typed(t["mutable"], bool))
        else:
            if t["index_type"] not in ("i32", "i64"):
                raise ValueError(t["index_type"])
            ty = (_typed(t["min"], int), t["max"] if t["max"] is None else _typed(t["max"], int), t["index_type"],
                  _valtype_code(t["element"]) if kind == "table" else None)
        place = _typed(e["module"], str) if "module" in e else _typed(e["index"], int)
        return (place, _typed(e["name"], str), kind, ty)
    except (TypeError, KeyError, ValueError) as x:
        raise ArtifactError(f"{where}: malformed import or export entry in the metadata ({x!r})") from None


def load(path: str | os.PathLike) -> Artifact:
    """Read an artifact whole: its metadata, slices and embedded .wasm (for
    the commands that copy or rewrite them; running one needs only
    :func:`read_fd`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FileError(f"cannot read {path}: {e.strerror or e}") from None
    return parse(data, str(path))


def parse(data: bytes, where: str = "artifact") -> Artifact:
    meta = read_metadata(data, where)
    wasm = None
    src = meta.get("source")
    if isinstance(src, dict) and src.get("embedded"):
        wasm = bytes(data[src["offset"]:src["offset"] + src["size"]])
    art = _artifact(meta, wasm, where, lambda off, n: bytes(data[off:off + n]))
    art._data = data  # type: ignore[attr-defined]  # the whole file (signing, registry)
    return art


def read_fd(fd: int, where: str) -> Artifact:
    """The artifact open on FD (a regular file), reading only what running a
    slice needs: the header, the metadata and the zero padding between the
    parts, with every check :func:`parse` makes.  A slice is read (and its
    SHA-256 checked) when :func:`slice_bytes` asks for it; the embedded .wasm
    is never read (``wasm`` is None)."""

    def read(off: int, n: int) -> bytes:
        out = b""
        try:
            while n > 0:
                chunk = os.pread(fd, n, off)
                if not chunk:  # the end of the file
                    break
                out, off, n = out + chunk, off + len(chunk), n - len(chunk)
        except OSError as e:
            raise FileError(f"cannot read {where}: {e.strerror or e}") from None
        return out

    try:
        size = os.fstat(fd).st_size
    except OSError as e:
        raise FileError(f"cannot read {where}: {e.strerror or e}") from None
    return _artifact(_read_metadata(read, size, where), None, where, read)


def _artifact(meta: dict, wasm: bytes | None, where: str, read) -> Artifact:
    slices = [Slice(s["arch"], s["tier"], s["cpu"], s["features"], s["abi_version"], s["offset"],
                    s["size"], s["sha256"]) for s in meta["slices"]]
    art = Artifact(meta, slices, wasm, where)
    art._read = read  # type: ignore[attr-defined]
    return art


def slice_bytes(art: Artifact, s: Slice) -> bytes:
    """The bytes of slice S, checked against its SHA-256."""
    b = art._read(s.offset, s.size)  # type: ignore[attr-defined]
    if hashlib.sha256(b).hexdigest() != s.sha256:
        raise ArtifactError(f"{art.path}: slice {s.arch}/{s.tier} checksum mismatch (corrupt file)")
    return b


def slice_order(s: Slice) -> tuple:
    """The canonical position of a slice: architectures by name, then tiers
    in their declared order (targets/*.toml); unknown tiers after, by name."""
    from . import targets

    try:
        names = [t.name for t in targets.get(s.arch).tiers]
        pos = names.index(s.tier)
    except (KeyError, ValueError):
        pos = 1 << 16
    return (s.arch, pos, s.tier)


def repack(art: Artifact, slices: list) -> bytes:
    """ART's metadata and embedded .wasm with SLICES (each with .data) in
    canonical order: the lipo-style operations (`wasmc slices`) end here, so
    removing a slice and adding it back gives the original bytes."""
    verify_source(art)  # the .wasm is copied into the new file: it must be the one the slices came from
    meta = {k: v for k, v in art.metadata.items() if k != "slices"}
    src = meta.get("source")
    if isinstance(src, dict):
        meta["source"] = {k: v for k, v in src.items() if k not in ("offset", "embedded")}
    fresh = [Slice(x.arch, x.tier, x.cpu, x.features, x.abi_version, data=x.data)
             for x in sorted(slices, key=slice_order)]
    return pack(meta, fresh, art.wasm)


def with_data(art: Artifact, s: Slice) -> Slice:
    """A copy of slice S of ART holding its (checked) bytes."""
    return Slice(s.arch, s.tier, s.cpu, s.features, s.abi_version, s.offset, s.size, s.sha256,
                 data=slice_bytes(art, s))


def verify_source(art: Artifact):
    """Check the embedded .wasm against its SHA-256 (call it where the .wasm
    is used: compiling slices from it, copying it into a new artifact;
    running a slice never reads it)."""
    src = art.metadata.get("source") or {}
    if art.wasm is not None and hashlib.sha256(art.wasm).hexdigest() != src.get("sha256"):
        raise ArtifactError(f"{art.path}: embedded .wasm checksum mismatch (corrupt file)")
