"""Signatures of universal artifacts: Ed25519 over the metadata, per slice.

Consumes a parsed artifact (container.py) and key files; produces a new
artifact whose metadata carries a ``signatures`` block, and verdicts.

What is signed (docs/container.md, "Signatures"): for each slice, the
*statement*

    {"wasmc-signature": 1, "artifact": COMMON, "slice": SLICE}

as canonical JSON (sorted keys, no whitespace), where COMMON is the
metadata without ``slices`` and ``signatures`` and without the embedded
.wasm's place (``source.offset``, ``source.embedded``), and SLICE is that
slice's metadata entry without its ``offset``.  COMMON holds the compiler,
the options, the interface and the source's SHA-256; SLICE holds the
slice's SHA-256, so the statement pins every byte that can run.  Offsets
are layout: adding or removing a slice moves them (container.repack), and
the packer and reader already fix them to one canonical place.

One signature per (key, slice), keyed by ``ARCH:TIER``: removing a slice
leaves the others' signatures valid, and a slice added later is simply
unsigned until ``wasmc sign`` runs again.  Entries of slices that are not in
the file are ignored (they keep ``slices remove`` + ``slices add`` of the same
slice byte-identical).  Ed25519 signatures are deterministic, so signing is
reproducible too.

Rejected: one signature over the whole metadata (any slice change breaks
it, the issue's lipo-style operations would need the private key); a
separate container block (a format change every reader must learn, where
an optional metadata key is ignored by older readers and travels through
the registry inside the metadata layer for free).

Keys are PEM files: ``NAME.key`` PKCS#8 (mode 0600), ``NAME.pub``
SubjectPublicKeyInfo, as ``openssl pkey`` reads them.  A key's id is the
SHA-256 of its 32 raw public bytes (hex); messages show its first 16 digits.

The trust list (who may sign what ``exec`` runs) is ``--trust`` files, the
``WASMC_TRUST`` variable (.pub paths separated by ``:``) and the file
``$XDG_CONFIG_HOME/wasmc/trusted-keys`` (one .pub path a line, relative to
that file's directory; ``#`` comments).  Imported lazily: ``wasmc exec``
without a trust list never loads ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import container
from .errors import MAX_ARTIFACT_SIZE, ArtifactError, FileError, SignatureError, read_input
from .userdirs import trusted_keys_file

STATEMENT_VERSION = 1
#: Keys of the metadata that are layout, not content: never signed.
_UNSIGNED_SOURCE_KEYS = ("offset", "embedded")
_MAX_KEY_FILE = 1 << 16


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    name: str  # the file it came from, for messages
    public: object  # Ed25519PublicKey


# --- keys ----------------------------------------------------------------------

def _raw_public(pub) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub) -> str:
    return hashlib.sha256(_raw_public(pub)).hexdigest()


def keygen(name: str) -> tuple[str, str]:
    """Write NAME.key (private, mode 0600) and NAME.pub; refuse to replace either."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_path, pub_path = f"{name}.key", f"{name}.pub"
    for p in (key_path, pub_path):
        if os.path.lexists(p):
            raise FileError(f"{p} exists already (wasmc keygen never replaces a key)")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    container.write_atomic(key_path, private, mode=0o600)
    try:
        container.write_atomic(pub_path, public)
    except BaseException:
        os.unlink(key_path)  # both or neither
        raise
    return key_path, pub_path


def load_private(path: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = read_input(path, _MAX_KEY_FILE)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"{path}: not an unencrypted PEM private key ({_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - e.g. UnsupportedAlgorithm
        raise SignatureError(f"{path}: cannot use this key ({_first_line(e)})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 key (wasmc signs with Ed25519: `wasmc keygen`)")
    return key


def load_public(path: str) -> TrustedKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = read_input(path, _MAX_KEY_FILE)
    try:
        pub = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"{path}: not a PEM public key ({_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001
        raise SignatureError(f"{path}: cannot use this key ({_first_line(e)})") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 public key (`wasmc keygen` writes one)")
    return TrustedKey(key_id(pub), str(path), pub)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def config_file() -> Path:
    return trusted_keys_file()


def trust_list(files=()) -> list[TrustedKey]:
    """The trusted keys: FILES (``--trust``), then ``WASMC_TRUST``, then the
    config file.  Empty when none of them names a key: no policy.  A named
    key that cannot be read is an error, never a silently smaller list."""
    paths = list(files)
    env = os.environ.get("WASMC_TRUST")
    if env:
        paths += [p for p in env.split(os.pathsep) if p]
    cfg = config_file()
    if cfg.is_file():
        text = read_input(cfg, _MAX_KEY_FILE).decode("utf-8", "replace")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                paths.append(str(cfg.parent / os.path.expanduser(line)))
    keys = {}
    for p in paths:
        k = load_public(p)
        keys.setdefault(k.key_id, k)
    return list(keys.values())


# --- what is signed ----------------------------------------------------------------

def statement(meta: dict, entry: dict) -> bytes:
    """The bytes signed for the slice whose metadata entry is ENTRY."""
    common = {k: v for k, v in meta.items() if k not in ("slices", "signatures")}
    src = common.get("source")
    if isinstance(src, dict):
        common["source"] = {k: v for k, v in src.items() if k not in _UNSIGNED_SOURCE_KEYS}
    sl = {k: v for k, v in entry.items() if k != "offset"}
    doc = {"wasmc-signature": STATEMENT_VERSION, "artifact": common, "slice": sl}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _name(entry: dict) -> str:
    return f"{entry['arch']}:{entry['tier']}"


def _entries(art: container.Artifact) -> list:
    """The signature block, shape-checked (it is input like the rest)."""
    sigs = art.metadata.get("signatures", [])
    ok = isinstance(sigs, list) and all(
        isinstance(e, dict) and set(e) == {"key", "slice", "signature"} and all(isinstance(v, str) for v in e.values())
        for e in sigs)
    if not ok:
        raise SignatureError(f"{art.path}: malformed signature block in the metadata")
    return sigs


def sign(art: container.Artifact, key) -> bytes:
    """ART with every slice signed by KEY (an Ed25519PrivateKey): the new
    artifact's bytes.  This key's older entries are replaced, other keys'
    kept; the slices' bytes are checked against their hashes first."""
    kid = key_id(key.public_key())
    names = {_name(s) for s in art.metadata["slices"]}
    keep = [e for e in _entries(art) if e["key"] != kid and e["slice"] in names]
    new = [{"key": kid, "slice": _name(s),
            "signature": base64.b64encode(key.sign(statement(art.metadata, s))).decode()}
           for s in art.metadata["slices"]]
    meta = dict(art.metadata, signatures=sorted(keep + new, key=lambda e: (e["key"], e["slice"])))
    signed = container.Artifact(meta, art.slices, art.wasm, art.path)
    return container.repack(signed, [container.with_data(art, s) for s in art.slices])


def check_slice(art: container.Artifact, s: container.Slice, trusted: list) -> TrustedKey:
    """The trusted key that signed slice S of ART, with S's bytes checked
    against what was signed; SignatureError (one line saying why) if none did."""
    return verified_slice(art, s, trusted)[0]


def verified_slice(art: container.Artifact, s: container.Slice, trusted: list) -> tuple:
    """(the trusted key that signed slice S of ART, S's bytes as read and
    checked against what it signed): run these bytes, not the file again."""
    from cryptography.exceptions import InvalidSignature

    entry = next(e for e in art.metadata["slices"] if e["arch"] == s.arch and e["tier"] == s.tier)
    name = _name(entry)
    by_id = {k.key_id: k for k in trusted}
    mine = [e for e in _entries(art) if e["slice"] == name]
    trusted_names = ", ".join(k.name for k in trusted)
    if not mine:
        raise SignatureError(f"{art.path}: slice {name} is not signed (trusted: {trusted_names})")
    text = statement(art.metadata, entry)
    for e in mine:
        k = by_id.get(e["key"])
        if k is None:
            continue
        try:
            k.public.verify(base64.b64decode(e["signature"], validate=True), text)
        except (InvalidSignature, ValueError):
            raise SignatureError(f"{art.path}: the signature of slice {name} by {k.name} does not match "
                                 "the metadata (altered after signing?)") from None
        data = art._read(s.offset, s.size)  # type: ignore[attr-defined]
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SignatureError(f"{art.path}: slice {name} is not the code {k.name} signed "
                                 "(its bytes were altered after signing)")
        return k, data
    signers = ", ".join(sorted(e["key"][:16] for e in mine))
    raise SignatureError(f"{art.path}: slice {name} is not signed by a trusted key "
                         f"(signed by key {signers}; trusted: {trusted_names})")


def verify(art: container.Artifact, trusted: list) -> list[tuple[str, TrustedKey]]:
    """Every slice of ART signed by a trusted key, and the embedded .wasm
    (if any) the one the signed metadata names: [(ARCH:TIER, key)]."""
    out = [(f"{s.arch}:{s.tier}", check_slice(art, s, trusted)) for s in art.slices]
    try:
        container.verify_source(art)
    except ArtifactError as e:  # say it in trust terms
        raise SignatureError(f"{art.path}: the embedded .wasm is not the one that was signed ({e})") from None
    return out


def require(path: str, trusted: list, arch: str | None = None, tier: str | None = None,
            hwcap=None, shown: str | None = None) -> None:
    """Refuse to run artifact PATH (named SHOWN in messages) unless the slice
    that would run (for ARCH, TIER, a CPU with HWCAP: runtime/select.py) is
    signed by a key in TRUSTED.  Called before anything is mapped."""
    from .runtime.select import choose_slice

    art = container.parse(read_input(path, MAX_ARTIFACT_SIZE), shown or str(path))
    check_slice(art, choose_slice(art, arch, tier, hwcap=hwcap), trusted)
