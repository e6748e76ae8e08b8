"""Universal artifacts in OCI registries: push, pull and a local blob store.

Consumes a .wasmu (container.py) and a registry reference; produces an OCI
image index in the registry, and back, a .wasmu reassembled from blobs.
The layout in the registry (docs/distribution.md has the full description):

    index  application/vnd.oci.image.index.v1+json, artifactType ARTIFACT_TYPE
      one manifest per slice   platform {os: linux, architecture: <targets/*.toml
                               oci_architecture>}, annotations vnd.wasmc.slice =
                               ARCH:TIER, vnd.wasmc.tier = TIER
          layers: the metadata, the slice image
      one manifest "all"       no platform, vnd.wasmc.slice = all
          layers: the metadata, every slice image, the embedded .wasm (if any)

Blobs are the parts of the file as they are: the metadata bytes (the JSON
the header's SHA-256 covers, signatures included), each slice's bytes (so a
slice blob's digest is ``sha256:`` + the slice's ``sha256`` in the
metadata) and the .wasm.  The 64-byte header and the padding are not
stored: both follow from the metadata, so ``pull --all`` rebuilds the file
byte for byte, and a one-slice pull goes through container.repack exactly
as ``wasmc slices extract`` does.  Manifests are canonical JSON, so pushing
the same file twice gives the same digests and sends no blob twice.

Every blob and manifest fetched is checked against its digest before it is
used or stored; the metadata then goes through the container checks like
any file.  The store (``$WASMC_CACHE_DIR/oci/blobs/sha256/<hex>``) is content
addressed: a blob is written under its digest only once complete and
checked (temporary file + rename), so a pull cut short leaves nothing
half-written, and the next pull of the same content transfers no blob.

The OCI protocol (auth challenges, Docker config credentials, reference
and URL forms) comes from the ``oras`` SDK; requests go through its
Registry with our own request method: one authentication round per
challenge, fail-fast errors (oras retries five times with backoff, minutes
for a wrong password or a dead registry) and one-line messages.

Rejected: one blob per .wasmu (every machine would download every
architecture); a config blob of our own (the OCI 1.1 empty config plus
artifactType says what this is, and the metadata layer holds the rest).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import container, targets
from .userdirs import cache_dir
from .errors import (MAX_ARTIFACT_SIZE, ArtifactError, FileError, NoSliceError, NotFoundError, RegistryAuthError,
                     RegistryError)

SCHEME = "oci://"
ARTIFACT_TYPE = "application/vnd.wasmc.artifact.v1"
MEDIA_METADATA = "application/vnd.wasmc.metadata.v1+json"
MEDIA_SLICE = "application/vnd.wasmc.slice.v1"
MEDIA_WASM = "application/vnd.wasmc.wasm.v1"
MEDIA_EMPTY = "application/vnd.oci.empty.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
ANN_SLICE = "vnd.wasmc.slice"
ANN_TIER = "vnd.wasmc.tier"
ANN_SIGNED_BY = "vnd.wasmc.signed-by"
ALL = "all"
EMPTY = b"{}"
MAX_MANIFEST = 4 << 20  # the limit registries apply to manifests
#: connect and read timeouts of every request, seconds
TIMEOUT = (15, 60)


# --- references ---------------------------------------------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REF = re.compile(rf"(?P<registry>[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?|\[[0-9A-Fa-f:]+\](?::[0-9]{{1,5}})?)"
                  rf"/(?P<repository>{_COMPONENT}(?:/{_COMPONENT})*)"
                  r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
                  r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?")


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self):
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")

    @property
    def api_host(self) -> str:
        # Docker Hub's name and its API host differ (as in every Docker client).
        return "registry-1.docker.io" if self.registry == "docker.io" else self.registry


def _config_names(ref: Reference) -> list:
    """The keys a Docker config.json may file REF's registry under: as
    written, with https:// (older logins), localhost and 127.0.0.1 alike,
    and Docker Hub under the name `docker login` gives it."""
    host = ref.registry
    names = [host]
    if host == "docker.io":
        names += ["https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"]
    for a, b in (("localhost", "127.0.0.1"), ("127.0.0.1", "localhost")):
        if host == a or host.startswith(a + ":"):
            names.append(b + host[len(a):])
    return list(dict.fromkeys(names + [f"https://{n}" for n in names if "://" not in n]))


def is_reference(arg) -> bool:
    """Is the command-line argument ARG a registry reference?  Exactly when it
    starts with ``oci://``: everything else is a path (`./oci:/x` names a
    file), so no file name is ever taken for a reference or the reverse."""
    return isinstance(arg, str) and arg.startswith(SCHEME)


def parse_reference(text: str) -> Reference:
    """``[oci://]HOST[:PORT]/REPO[:TAG][@sha256:DIGEST]``; ValueError saying
    what is wrong.  The registry host is never implied (no docker.io default):
    the first component must contain a dot or a port, or be ``localhost``."""
    body = text[len(SCHEME):] if text.startswith(SCHEME) else text
    m = _REF.fullmatch(body)
    if m is None:
        raise ValueError(f"{text!r} is not a registry reference: expected HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST] "
                         "(lower-case repository, e.g. ghcr.io/you/app:1.0 or localhost:5000/app:latest)")
    host = m["registry"]
    if not ("." in host or ":" in host or host.split(":")[0] == "localhost"):
        raise ValueError(f"{text!r} does not name a registry: its first component must be a host "
                         "(with a dot or a port, or localhost), e.g. ghcr.io/you/app:1.0")
    tag = m["tag"] or (None if m["digest"] else "latest")
    return Reference(host, m["repository"], tag, m["digest"])


# --- the local store ------------------------------------------------------------------

def _hex(digest: str) -> str:
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
        raise RegistryError(f"unsupported or malformed digest {digest!r} (wasmc uses sha256)")
    return digest[7:]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Store:
    """Content-addressed blobs (manifests too) under ``ROOT/oci/blobs/sha256``.
    A store that cannot be written is no store: pulls then transfer
    everything and keep nothing, silently, like the compile cache."""

    def __init__(self, root: Path | None = None):
        self.dir = (root or cache_dir()) / "oci" / "blobs" / "sha256"

    def path(self, digest: str) -> Path:
        return self.dir / _hex(digest)

    def get(self, digest: str) -> bytes | None:
        """The blob if the store has it intact (a damaged entry is dropped)."""
        p = self.path(digest)
        try:
            data = p.read_bytes()
        except OSError:
            return None
        if digest_of(data) != digest:
            try:
                p.unlink()
            except OSError:
                pass
            return None
        return data

    def put(self, digest: str, data: bytes) -> None:
        if digest_of(data) != digest:  # callers check first; never store a lie
            raise AssertionError(digest)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            container.write_atomic(self.path(digest), data)
        except (OSError, FileError):
            pass

    def artifact_path(self, data: bytes) -> Path:
        """Where an assembled artifact is kept (by its own hash) for exec REF."""
        return self.dir.parent.parent / "artifacts" / (hashlib.sha256(data).hexdigest() + ".wasmu")


# --- talking to a registry ------------------------------------------------------------

@dataclass
class Stats:
    blobs_sent: int = 0
    bytes_sent: int = 0
    blobs_present: int = 0
    blobs_fetched: int = 0
    bytes_fetched: int = 0
    blobs_cached: int = 0
    manifest_bytes: int = 0
    slices: list = field(default_factory=list)


def _quiet_oras():
    """oras logs through logging (its warnings would reach stderr): off."""
    import logging

    log = logging.getLogger("oras")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def docker_config() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")) / "config.json"


class Client:
    """One registry, one repository: blobs and manifests, checked."""

    def __init__(self, ref: Reference, *, plain_http: bool = False, username: str | None = None,
                 password: str | None = None, store: Store | None = None):
        import oras.container
        import oras.provider
        import requests

        _quiet_oras()
        self.ref = ref
        self.requests = requests
        self.store = store or Store()
        self.stats = Stats()
        self.scheme = "http" if plain_http else "https"
        client = self

        class _Registry(oras.provider.Registry):
            def do_request(self, url, method="GET", data=None, headers=None, json=None, stream=False):
                return client._request(method, url, data=data, headers=headers, stream=stream)

        self.oras = _Registry(hostname=ref.api_host, insecure=plain_http)
        self.container = oras.container.Container(f"{ref.api_host}/{ref.repository}")
        self.authorization: str | None = None
        if username is not None:
            self.oras.auth.set_basic_auth(username, password or "")
        else:
            cfg = docker_config()
            try:
                self._load_credentials(cfg)
            except Exception as e:  # noqa: BLE001 - a malformed config.json: say which file
                raise FileError(f"cannot read the registry credentials in {cfg}: {e}") from None

    def _load_credentials(self, cfg: Path) -> None:
        """The credentials CFG (one Docker config.json) holds for our registry:
        an inline ``auths`` entry under any name `docker login` files it under,
        else the registry's ``credHelpers`` helper, else ``credsStore``.  Only
        CFG, as docker reads it: oras' load_configs also merged
        ~/.docker/config.json in, in an order that changed from run to run,
        and looked Docker Hub up under a name `docker login` never writes."""
        conf = json.loads(cfg.read_bytes()) if cfg.is_file() else {}
        if not isinstance(conf, dict):
            raise ValueError("not a JSON object")
        auths = conf.get("auths") or {}
        names = _config_names(self.ref)
        for name in names:
            entry = auths.get(name)
            if isinstance(entry, dict) and entry.get("auth"):
                self.oras.auth._basic_auth = entry["auth"]
                return
        self.oras.auth._auth_config = {"auths": {}, "credsStore": conf.get("credsStore"),
                                       "credHelpers": dict(conf.get("credHelpers") or {})}
        for name in names:
            if self.oras.auth._load_auth(name):  # runs docker-credential-HELPER get
                return

    # -- requests --

    def _send(self, method, url, data, headers, stream):
        r = self.requests
        try:
            return self.oras.session.request(method, url, data=data, headers=headers, stream=stream,
                                             timeout=TIMEOUT, allow_redirects=True)
        except r.exceptions.SSLError as e:
            hint = " (a registry without HTTPS needs --plain-http)" if "WRONG_VERSION_NUMBER" in str(e) or \
                "wrong version number" in str(e) else ""
            raise RegistryError(f"{self.ref.registry}: TLS failed{hint}: {_reason(e)}") from None
        except r.exceptions.RequestException as e:
            raise RegistryError(f"cannot reach {self.ref.registry}: {_reason(e)}") from None

    def _request(self, method, url, data=None, headers=None, stream=False):
        headers = dict(headers or {})
        if self.authorization:
            headers["Authorization"] = self.authorization
        resp = self._send(method, url, data, headers, stream)
        if resp.status_code == 401:
            self._authenticate(resp)
            headers["Authorization"] = self.authorization
            resp = self._send(method, url, data, headers, stream)
        if resp.status_code in (401, 403):
            who = "the credentials given" if getattr(self.oras.auth, "_basic_auth", None) else "anonymous access"
            raise RegistryAuthError(f"{self.ref.registry} refused {who} (repository {self.ref.repository}, "
                                    f"HTTP {resp.status_code}{_oci_error(resp)})")
        return resp

    def _authenticate(self, resp) -> None:
        """Answer a 401 challenge: Basic with the configured credentials, or
        a Bearer token from the realm it names (oras' token flow)."""
        challenge = resp.headers.get("Www-Authenticate", "")
        basic = getattr(self.oras.auth, "_basic_auth", None)
        if challenge.lower().startswith("basic"):
            if not basic:
                raise RegistryAuthError(f"{self.ref.registry} asks for credentials: give --username and "
                                        "--password-stdin, or log in (an auth entry in ~/.docker/config.json)")
            self.authorization = f"Basic {basic}"
            return
        try:
            headers, changed = self.oras.auth.authenticate_request(resp, {}, refresh=True)
        except self.requests.exceptions.RequestException as e:
            raise RegistryError(f"cannot reach the token service of {self.ref.registry}: {_reason(e)}") from None
        if not changed or "Authorization" not in headers:
            raise RegistryAuthError(f"{self.ref.registry} refused to issue a token for {self.ref.repository}"
                                    + ("" if basic else " (no credentials given)"))
        self.authorization = headers["Authorization"]

    def _url(self, kind: str, name: str) -> str:
        return f"{self.scheme}://{self.ref.api_host}/v2/{self.ref.repository}/{kind}/{name}"

    def _fail(self, resp, what: str):
        if resp.status_code == 404:
            raise NotFoundError(f"{self.ref.registry}/{self.ref.repository}: no {what}{_oci_error(resp)}")
        raise RegistryError(f"{self.ref.registry}: {what}: HTTP {resp.status_code}{_oci_error(resp)}")

    # -- blobs --

    def has_blob(self, digest: str) -> bool:
        resp = self._request("HEAD", self._url("blobs", digest))
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        self._fail(resp, f"blob {digest}")

    def push_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        if self.has_blob(digest):
            self.stats.blobs_present += 1
            return digest
        import oras.utils

        resp = self._request("POST", f"{self.scheme}://{self.container.upload_blob_url()}",
                             headers={"Content-Length": "0"})
        location = self.oras._get_location(resp, self.container)
        if resp.status_code != 202 or not location:
            self._fail(resp, "upload session")
        resp = self._request("PUT", oras.utils.append_url_params(location, {"digest": digest}), data=data,
                             headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if resp.status_code != 201:
            self._fail(resp, f"upload of blob {digest}")
        self.stats.blobs_sent += 1
        self.stats.bytes_sent += len(data)
        return digest

    def blob(self, digest: str, size: int) -> bytes:
        """The blob DIGEST of SIZE bytes: from the store, or fetched and
        checked (never more than SIZE bytes are read) and then stored."""
        _hex(digest)
        data = self.store.get(digest)
        if data is not None and len(data) == size:
            self.stats.blobs_cached += 1
            return data
        if not isinstance(size, int) or not 0 <= size <= MAX_ARTIFACT_SIZE:
            raise RegistryError(f"{self.ref}: blob {digest} has an impossible size {size!r}")
        with self._request("GET", self._url("blobs", digest), stream=True) as resp:
            if resp.status_code != 200:
                self._fail(resp, f"blob {digest}")
            data = self._read(resp, size + 1, f"blob {digest}")
        if len(data) != size or digest_of(data) != digest:
            raise RegistryError(f"{self.ref.registry}: blob {digest} does not match its digest "
                                f"(got {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}...): "
                                "damaged in the registry or in transit")
        self.stats.blobs_fetched += 1
        self.stats.bytes_fetched += size
        self.store.put(digest, data)
        return data

    def _read(self, resp, limit: int, what: str) -> bytes:
        chunks, total = [], 0
        try:
            for chunk in resp.iter_content(chunk_size=1 << 16):
                chunks.append(chunk)
                total += len(chunk)
                if total >= limit:
                    break
        except self.requests.exceptions.RequestException as e:
            why = _reason(e)
            when = "" if why.startswith("connection broken after") else f" after {total} bytes"
            raise RegistryError(f"{self.ref.registry}: {what} cut short{when}: {why}") from None
        return b"".join(chunks)

    # -- manifests --

    def manifest_exists(self, digest: str) -> bool:
        resp = self._request("HEAD", self._url("manifests", digest),
                             headers={"Accept": f"{MEDIA_MANIFEST}, {MEDIA_INDEX}"})
        return resp.status_code == 200

    def put_manifest(self, body: bytes, media_type: str, name: str) -> None:
        resp = self._request("PUT", self._url("manifests", name), data=body, headers={"Content-Type": media_type})
        if resp.status_code != 201:
            self._fail(resp, f"manifest {name} accepted")

    def resolve(self) -> str:
        """The digest the reference's tag (or digest) names now."""
        if self.ref.digest:
            return self.ref.digest
        resp = self._request("HEAD", self._url("manifests", self.ref.tag),
                             headers={"Accept": f"{MEDIA_INDEX}, {MEDIA_MANIFEST}"})
        if resp.status_code == 404:
            raise NotFoundError(f"{self.ref}: no such tag in {self.ref.registry}/{self.ref.repository}")
        if resp.status_code != 200:
            self._fail(resp, f"tag {self.ref.tag}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return digest
        return digest_of(self._get_manifest(self.ref.tag)[0])  # a registry that does not say

    def _get_manifest(self, name: str) -> tuple[bytes, str]:
        resp = self._request("GET", self._url("manifests", name), stream=True,
                             headers={"Accept": f"{MEDIA_INDEX}, {MEDIA_MANIFEST}"})
        with resp:
            if resp.status_code == 404:
                raise NotFoundError(f"{self.ref.registry}/{self.ref.repository}: no manifest {name}")
            if resp.status_code != 200:
                self._fail(resp, f"manifest {name}")
            body = self._read(resp, MAX_MANIFEST + 1, f"manifest {name}")
        if len(body) > MAX_MANIFEST:
            raise RegistryError(f"{self.ref}: manifest {name} is larger than {MAX_MANIFEST >> 20} MiB")
        self.stats.manifest_bytes += len(body)
        return body, resp.headers.get("Content-Type", "")

    def manifest(self, digest: str) -> dict:
        """The manifest or index DIGEST, parsed (store first; checked)."""
        body = self.store.get(digest)
        if body is None:
            body = self._get_manifest(digest)[0]
            if digest_of(body) != digest:
                raise RegistryError(f"{self.ref.registry}: manifest {digest} does not match its digest")
            self.store.put(digest, body)
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RegistryError(f"{self.ref}: manifest {digest} is not JSON ({e})") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"{self.ref}: manifest {digest} is not an object")
        return doc


def _reason(e: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception."""
    while e.args and isinstance(e.args[0], BaseException):  # requests wraps urllib3's exception
        e = e.args[0]
    if len(e.args) == 2 and isinstance(e.args[0], str) and isinstance(e.args[1], BaseException):
        # urllib3's ProtocolError(words, cause): ('Connection aborted.', RemoteDisconnected(...))
        words, cause = e.args[0].rstrip("."), e.args[1]
        if isinstance(cause, http.client.IncompleteRead):  # urllib3's counts bytes, http.client's holds them
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            return f"connection broken after {got} bytes, {cause.expected} more expected"
        return f"{words}: {_reason(cause)}"
    text = re.sub(r"^\w*ConnectionPool\([^)]*\): ", "", str(e))  # "HTTPConnectionPool(host=.., port=..): "
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    for marker in ("Caused by ", "] "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip("()'\" ") or type(e).__name__


def _oci_error(resp) -> str:
    """': MESSAGE' from an OCI error body, if there is one."""
    try:
        errors = resp.json().get("errors") or []
        msg = "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
        return f": {msg}" if msg else ""
    except Exception:  # noqa: BLE001 - no body, not JSON: nothing to add
        return ""


# --- push ---------------------------------------------------------------------------

def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, data: bytes, annotations: dict | None = None) -> dict:
    d = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    if annotations:
        d["annotations"] = annotations
    return d


def _manifest(layers: list, annotations: dict) -> bytes:
    return _canonical({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "artifactType": ARTIFACT_TYPE,
                       "config": _descriptor(MEDIA_EMPTY, EMPTY), "layers": layers, "annotations": annotations})


def oci_architecture(arch: str) -> str:
    return targets.get(arch).oci_architecture


def metadata_blob(art: container.Artifact) -> bytes:
    """The metadata bytes exactly as in the file (the header says where)."""
    data = art._data  # type: ignore[attr-defined]
    _, _, _, moff, msize, _ = container.HEADER.unpack_from(data, 0)
    return bytes(data[moff:moff + msize])


def push(client: Client, path: str) -> str:
    """Push the artifact at PATH to CLIENT's reference; the index digest."""
    art = container.load(path)
    parts = [container.with_data(art, s) for s in art.slices]  # every slice checked against its hash
    container.verify_source(art)
    meta = metadata_blob(art)
    signers = sorted({e.get("key", "")[:16] for e in art.metadata.get("signatures", []) if isinstance(e, dict)})
    meta_ann = {ANN_SIGNED_BY: ",".join(signers)} if signers else None
    meta_desc = _descriptor(MEDIA_METADATA, meta, meta_ann)
    slice_descs = [_descriptor(MEDIA_SLICE, s.data, {ANN_SLICE: f"{s.arch}:{s.tier}"}) for s in parts]
    blobs = [EMPTY, meta, *(s.data for s in parts)]
    all_layers = [meta_desc, *slice_descs]
    if art.wasm is not None:
        all_layers.append(_descriptor(MEDIA_WASM, art.wasm))
        blobs.append(art.wasm)
    manifests = []  # (body, index entry)
    for s, desc in zip(parts, slice_descs):
        name = f"{s.arch}:{s.tier}"
        body = _manifest([meta_desc, desc], {ANN_SLICE: name})
        entry = _descriptor(MEDIA_MANIFEST, body, {ANN_SLICE: name, ANN_TIER: s.tier})
        entry["platform"] = {"architecture": oci_architecture(s.arch), "os": "linux"}
        manifests.append((body, entry))
    body = _manifest(all_layers, {ANN_SLICE: ALL})
    manifests.append((body, _descriptor(MEDIA_MANIFEST, body, {ANN_SLICE: ALL})))
    index = _canonical({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "artifactType": ARTIFACT_TYPE,
                        "manifests": [dict(e, artifactType=ARTIFACT_TYPE) for _, e in manifests]})
    # Blobs first, then the manifests that name them, then the index: a
    # registry only accepts a manifest whose blobs it has.
    seen = set()
    for b in blobs:
        d = digest_of(b)
        if d not in seen:
            seen.add(d)
            client.push_blob(b)
    for body, entry in manifests:
        if not client.manifest_exists(entry["digest"]):
            client.put_manifest(body, MEDIA_MANIFEST, entry["digest"])
    client.put_manifest(index, MEDIA_INDEX, client.ref.digest or client.ref.tag)
    digest = digest_of(index)
    if client.ref.digest and client.ref.digest != digest:
        raise RegistryError(f"{client.ref}: the index pushed has digest {digest}, not the one named")
    client.stats.slices = [f"{s.arch}:{s.tier}" for s in parts]
    return digest


# --- pull ---------------------------------------------------------------------------

def _entries(index: dict, ref) -> list:
    ms = index.get("manifests")
    if index.get("mediaType", MEDIA_INDEX) != MEDIA_INDEX or not isinstance(ms, list) or \
            index.get("artifactType") != ARTIFACT_TYPE:
        raise ArtifactError(f"{ref}: not a wasmc artifact (no image index of artifactType {ARTIFACT_TYPE})")
    out = []
    for m in ms:
        ann = m.get("annotations") if isinstance(m, dict) else None
        if not isinstance(ann, dict) or not isinstance(ann.get(ANN_SLICE), str):
            continue  # another tool's manifest (a referrer, an attestation): not ours
        if not (isinstance(m.get("digest"), str) and isinstance(m.get("size"), int)):
            raise RegistryError(f"{ref}: malformed manifest entry in the index")
        out.append(m)
    return out


def _layers(client: Client, entry: dict) -> list:
    man = client.manifest(entry["digest"])
    layers = man.get("layers")
    if man.get("mediaType", MEDIA_MANIFEST) != MEDIA_MANIFEST or not isinstance(layers, list) or not layers or \
            not all(isinstance(x, dict) and isinstance(x.get("digest"), str) and isinstance(x.get("size"), int)
                    and isinstance(x.get("mediaType"), str) for x in layers):
        raise RegistryError(f"{client.ref}: manifest {entry['digest']} is not a wasmc manifest")
    if layers[0]["mediaType"] != MEDIA_METADATA:
        raise RegistryError(f"{client.ref}: manifest {entry['digest']} does not start with the wasmc metadata")
    return layers


def _metadata(client: Client, layer: dict) -> tuple[bytes, dict]:
    blob = client.blob(layer["digest"], layer["size"])
    try:
        meta = json.loads(blob)
        if not isinstance(meta, dict) or not isinstance(meta.get("slices"), list):
            raise ValueError("no slice table")
        for s in meta["slices"]:
            for k, t in (("arch", str), ("tier", str), ("cpu", str), ("features", str), ("abi_version", int),
                         ("offset", int), ("size", int), ("sha256", str)):
                if not isinstance(s.get(k), t):
                    raise ValueError(f"slice entry without {k}")
    except (UnicodeDecodeError, ValueError, AttributeError) as e:
        raise ArtifactError(f"{client.ref}: corrupt metadata ({e})") from None
    return blob, meta


def _slice_records(meta: dict) -> list:
    return [container.Slice(s["arch"], s["tier"], s["cpu"], s["features"], s["abi_version"], s["offset"],
                            s["size"], s["sha256"]) for s in meta["slices"]]


def _assemble(meta_blob: bytes, meta: dict, slices: list, wasm: bytes | None) -> bytes:
    """The whole file from its parts: the header follows from the metadata,
    the parts go where its offsets say, zeros between (the layout the
    reader insists on, so the result is the pushed file byte for byte)."""
    out = bytearray(container.HEADER.pack(container.MAGIC, container.FORMAT_VERSION, 0, container.HEADER.size,
                                          len(meta_blob), hashlib.sha256(meta_blob).digest()))
    out += meta_blob
    for s, data in zip(meta["slices"], slices):
        if s["offset"] < len(out):
            raise ArtifactError("corrupt metadata: slices overlap")
        out += bytes(s["offset"] - len(out)) + data
    src = meta.get("source")
    if wasm is not None:
        if src["offset"] < len(out):
            raise ArtifactError("corrupt metadata: the .wasm overlaps a slice")
        out += bytes(src["offset"] - len(out)) + wasm
    return bytes(out)


def _by_name(entries: list) -> dict:
    return {m["annotations"][ANN_SLICE]: m for m in entries}


def pull(client: Client, *, arch: str | None = None, tier: str | None = None, every: bool = False,
         hwcap: int | None = None) -> bytes:
    """The artifact at CLIENT's reference, as .wasmu bytes: every slice
    (EVERY, byte for byte the pushed file), ARCH's slices (ARCH:TIER's, if
    TIER), or the slice this machine runs best (runtime/select.py)."""
    index_digest = client.resolve()
    entries = _entries(client.manifest(index_digest), client.ref)
    by_name = _by_name(entries)
    where = str(client.ref)
    if every:
        if ALL not in by_name:
            raise RegistryError(f"{where}: the index has no manifest of the whole artifact")
        layers = _layers(client, by_name[ALL])
        meta_blob, meta = _metadata(client, layers[0])
        have = {x["digest"]: x for x in layers[1:]}
        parts = [client.blob(_layer_for(have, "sha256:" + s["sha256"], where), s["size"]) for s in meta["slices"]]
        wasm = None
        src = meta.get("source")
        if isinstance(src, dict) and src.get("embedded"):
            wasm = client.blob(_layer_for(have, "sha256:" + str(src.get("sha256")), where), src.get("size"))
        data = _assemble(meta_blob, meta, parts, wasm)
        art = container.parse(data, where)
        client.stats.slices = [f"{s.arch}:{s.tier}" for s in art.slices]
        return data
    host = targets.host()
    want = arch or (host.name if host else None)
    if want is None:
        import platform

        raise NoSliceError(f"{where}: this machine's architecture ({platform.machine()}) is not supported by wasmc")
    oci_arch = oci_architecture(want)
    mine = [m for m in entries if m["annotations"][ANN_SLICE] != ALL
            and isinstance(m.get("platform"), dict) and m["platform"].get("architecture") == oci_arch]
    if not mine:
        names = ", ".join(n for n in by_name if n != ALL) or "none"
        raise NoSliceError(f"{where}: no slice for {want} (artifact has: {names})")
    meta_layer = _layers(client, mine[0])[0]
    meta_blob, meta = _metadata(client, meta_layer)
    art = container.Artifact(meta, _slice_records(meta), None, where)
    if arch is not None and tier is None:
        chosen = [s for s in art.slices if s.arch == arch]  # another machine chooses among them at run time
    else:
        from .runtime.select import choose_slice

        chosen = [choose_slice(art, arch, tier, hwcap=hwcap)]
    for s in chosen:
        name = f"{s.arch}:{s.tier}"
        entry = by_name.get(name)
        if entry is None:
            raise RegistryError(f"{where}: the metadata lists slice {name} but the index has no manifest for it")
        layers = _layers(client, entry)
        if layers[0]["digest"] != meta_layer["digest"]:
            raise RegistryError(f"{where}: the manifest of {name} names other metadata than its siblings")
        s.data = client.blob(_layer_for({x["digest"]: x for x in layers[1:]}, "sha256:" + s.sha256, where), s.size)
    data = container.repack(art, chosen)
    out = container.parse(data, where)
    for s in out.slices:
        container.slice_bytes(out, s)
    client.stats.slices = [f"{s.arch}:{s.tier}" for s in out.slices]
    return data


def _layer_for(layers: dict, digest: str, where: str) -> str:
    if digest not in layers:
        raise RegistryError(f"{where}: the manifest does not list blob {digest} that the metadata names")
    return digest


def cached_artifact(client: Client, data: bytes) -> str:
    """DATA kept in the store's artifacts directory (by its hash), for exec:
    the path.  Falls back to a private temporary file if the store is not
    writable (removed at exit)."""
    p = client.store.artifact_path(data)
    try:
        if p.is_file() and p.read_bytes() == data:
            return str(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        container.write_atomic(p, data)
        return str(p)
    except (OSError, FileError):
        import atexit

        fd, tmp = tempfile.mkstemp(prefix="wasmc-pulled-", suffix=".wasmu")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        atexit.register(lambda: os.path.exists(tmp) and os.unlink(tmp))
        return tmp
