"""Push and pull through a real OCI registry (issue 15; docs/distribution.md).

The registry is Debian's ``docker-registry`` (the CNCF distribution server),
started per test module on 127.0.0.1 with a free port, htpasswd (bcrypt)
authentication and a temporary storage directory, and stopped at the end.
Without the binary the tests are skipped (failed under ``CI=true``: `make
install` installs it).  Every command runs with its own cache directory
(the local blob store), Docker config and trust configuration, so nothing
of the user's is read or written.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import CORPUS, one_line_error, require_tool, text, wasmc_cmd

from wasmc import container

PROGRAM = CORPUS / "c" / "args_env.wasm"  # a WASI program: prints its arguments
USER, PASSWORD = "alice", "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, root: Path):
        import bcrypt

        self.binary = require_tool("docker-registry")
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir()
        (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{self.host}', secret: wasmc-test}}\n"
            f"auth: {{htpasswd: {{realm: wasmc-test, path: {root / 'htpasswd'}}}}}\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve", str(self.root / "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.root / "log", "wb"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/v2/")
                if c.getresponse().status == 401:  # up, and asking for credentials
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {(self.root / 'log').read_text()[-2000:]}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def blob_file(self, digest: str) -> Path:
        hx = digest.split(":", 1)[1]
        return self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hx[:2] / hx / "data"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """A WASI program with every architecture's default slices (5 slices, 3 architectures)."""
    out = tmp_path_factory.mktemp("app") / "app.wasmu"
    r = wasmc_cmd("build", PROGRAM, "--targets", "all", "-O1", "-o", out, timeout=600)
    assert r.returncode == 0, text(r.stderr)
    return out


class Env:
    """A user: a cache (blob store), Docker credentials for the registry, an
    empty trust configuration; ``wasmc(...)`` runs a command as that user."""

    def __init__(self, root: Path, registry: Registry):
        self.root = root
        self.cache = root / "cache"
        docker = root / "docker"
        docker.mkdir()
        self.auth = auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        (docker / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
        self.vars = {"WASMC_CACHE_DIR": str(self.cache), "DOCKER_CONFIG": str(docker),
                     "XDG_CONFIG_HOME": str(root / "config"), "WASMC_TRUST": ""}
        self.registry = registry

    def ref(self, name: str) -> str:
        return f"{self.registry.host}/{name}"

    def wasmc(self, *args, env=None, **kw):
        return wasmc_cmd(*args, env={**self.vars, **(env or {})}, **kw)

    def ok(self, *args, **kw) -> str:
        r = self.wasmc(*args, **kw)
        assert r.returncode == 0, (r.returncode, text(r.stdout), text(r.stderr))
        return text(r.stdout)

    def store_files(self) -> list:
        d = self.cache / "oci" / "blobs" / "sha256"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.fixture
def env(tmp_path, registry) -> Env:
    return Env(tmp_path, registry)


def _counts(out: str) -> dict:
    m = re.search(r"(\d+) blobs fetched \((\d+) bytes\), (\d+) from the local store", out)
    assert m, out
    return {"fetched": int(m[1]), "bytes": int(m[2]), "cached": int(m[3])}


def _slices(path: Path) -> dict:
    art = container.load(path)
    return {f"{s.arch}:{s.tier}": (container.slice_bytes(art, s), s.sha256) for s in art.slices}


def _distinct_blobs(app: Path) -> int:
    """What a push of APP uploads: the empty config, the metadata, each
    distinct slice (tiers that compiled to the same bytes share a blob), the .wasm."""
    return 3 + len({s.sha256 for s in container.load(app).slices})


def _host_best(app: Path) -> str:
    from wasmc.runtime.select import choose_slice

    s = choose_slice(container.load(app))
    return f"{s.arch}:{s.tier}"


# --- push and pull ---------------------------------------------------------------------

def test_push_is_idempotent_and_pull_fetches_only_this_machines_slice(env, app, tmp_path):
    ref = env.ref("dist/app:1")
    blobs = _distinct_blobs(app)
    out = env.ok("push", app, ref, "--plain-http")
    assert f"{blobs} blobs sent" in out and "0 already there" in out, out
    out = env.ok("push", app, ref, "--plain-http")
    assert f"0 blobs sent (0 bytes), {blobs} already there" in out, out

    pulled = tmp_path / "one.wasmu"
    out = env.ok("pull", ref, "--plain-http", "-o", pulled)
    best = _host_best(app)
    got, want = _slices(pulled), _slices(app)
    assert list(got) == [best]
    assert got[best] == want[best]  # the slice's bytes and SHA-256, as pushed
    n = _counts(out)
    meta_size = container.HEADER.unpack_from(app.read_bytes(), 0)[4]
    assert n["fetched"] == 2 and n["bytes"] == meta_size + len(want[best][0]), out
    assert n["bytes"] < app.stat().st_size / 3
    # a valid artifact that runs, the same as `slices extract` bar the .wasm (a pull leaves it behind)
    r = env.wasmc("exec", pulled, "--", "x", "y")
    assert r.returncode == 0 and b"argv[2]=y" in r.stdout, text(r.stderr)
    art = container.load(pulled)
    assert art.wasm is None and art.metadata["source"]["sha256"] == container.load(app).metadata["source"]["sha256"]

    out = env.ok("pull", ref, "--plain-http", "-o", pulled)
    assert _counts(out) == {"fetched": 0, "bytes": 0, "cached": 2}, out


def test_pull_all_is_the_pushed_file_and_each_architecture_alone(env, app, tmp_path):
    ref = env.ref("dist/all:1")
    env.ok("push", app, ref, "--plain-http")
    every = tmp_path / "every.wasmu"
    n = _counts(env.ok("pull", ref, "--plain-http", "--all", "-o", every))
    assert every.read_bytes() == app.read_bytes()
    # the metadata, each distinct slice once (two tiers' identical bytes are one blob, read back from the
    # store for the second), the .wasm
    art = container.load(app)
    distinct = {s.sha256: s.size for s in art.slices}
    parts = container.HEADER.unpack_from(app.read_bytes(), 0)[4] + sum(distinct.values())
    shared = len(art.slices) - len(distinct)
    assert n == {"fetched": 2 + len(distinct), "bytes": parts + len(art.wasm), "cached": shared}
    n = _counts(env.ok("pull", ref, "--plain-http", "--all", "-o", every))
    assert n == {"fetched": 0, "bytes": 0, "cached": 2 + len(art.slices)} and every.read_bytes() == app.read_bytes()

    want = _slices(app)
    for target, names in (("aarch64", ["aarch64:base", "aarch64:lse"]), ("riscv64", ["riscv64:rv64gc"]),
                          ("x86_64:v1", ["x86_64:v1"]), ("x86_64", ["x86_64:v1", "x86_64:v3"])):
        out = tmp_path / f"{target}.wasmu"
        env.ok("pull", ref, "--plain-http", "--target", target, "-o", out)
        got = _slices(out)
        assert list(got) == names and all(got[k] == want[k] for k in names), target


def test_exec_and_run_take_a_reference(env, app):
    ref = env.ref("dist/run:1")
    env.ok("push", app, ref, "--plain-http")
    for cmd in ("exec", "run"):
        r = env.wasmc(cmd, f"oci://{ref}", "--plain-http", "--", "hello")
        assert r.returncode == 0 and b"argv[1]=hello" in r.stdout, text(r.stderr)
    # a path is never a reference, whatever it looks like
    r = env.wasmc("exec", ref, "--plain-http")
    assert "cannot read" in one_line_error(r, 9)


def test_credentials_from_stdin_and_their_refusal(env, app, tmp_path):
    ref = env.ref("dist/creds:1")
    nobody = {"DOCKER_CONFIG": str(tmp_path / "nowhere")}
    r = env.wasmc("push", app, ref, "--plain-http", "--username", USER, "--password-stdin",
                  input=PASSWORD.encode() + b"\n", env=nobody)
    assert r.returncode == 0, text(r.stderr)
    out = tmp_path / "o.wasmu"
    r = env.wasmc("pull", ref, "--plain-http", "-o", out, env=nobody)
    assert "asks for credentials" in one_line_error(r, 13)
    r = env.wasmc("pull", ref, "--plain-http", "-o", out, "--username", USER, "--password-stdin",
                  input=b"wrong\n", env=nobody)
    assert "refused the credentials" in one_line_error(r, 13)
    assert not out.exists()
    r = env.wasmc("pull", ref, "--plain-http", "-o", out, "--username", USER, env=nobody)
    assert "--password-stdin" in one_line_error(r, 2)


CAT_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $copy  ;; standard input to standard output, 1 KiB at a time, until end of file
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 1024))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
      (if (i32.eqz (i32.load (i32.const 16))) (then (return)))
      (i32.store (i32.const 4) (i32.load (i32.const 16)))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
      (br $copy))))"""


def test_password_stdin_takes_one_line_and_the_guest_gets_the_rest(env, tmp_path):
    """exec oci://REF --password-stdin: the password is the first line, and
    every byte after it reaches the guest's fd 0 (a buffered readline once
    swallowed them)."""
    (tmp_path / "cat.wat").write_text(CAT_WAT)
    subprocess.run([require_tool("wat2wasm"), tmp_path / "cat.wat", "-o", tmp_path / "cat.wasm"], check=True)
    env.ok("build", tmp_path / "cat.wasm", "-O0", "-o", tmp_path / "cat.wasmu", timeout=300)
    ref = env.ref("dist/cat:1")
    env.ok("push", tmp_path / "cat.wasmu", ref, "--plain-http")
    nobody = {"DOCKER_CONFIG": str(tmp_path / "nowhere")}
    rest = b"line 1\nline 2 \xff\n" + bytes(range(256)) * 40
    r = env.wasmc("exec", f"oci://{ref}", "--plain-http", "--username", USER, "--password-stdin",
                  input=PASSWORD.encode() + b"\n" + rest, env=nobody)
    assert r.returncode == 0 and r.stdout == rest, (r.returncode, text(r.stderr))
    r = env.wasmc("pull", ref, "--plain-http", "--username", USER, "--password-stdin", "-o", tmp_path / "c.wasmu",
                  input=PASSWORD.encode(), env=nobody)  # a last line without a newline is a line
    assert r.returncode == 0, text(r.stderr)


def test_credentials_come_from_docker_config_alone(env, app, tmp_path):
    """$DOCKER_CONFIG/config.json replaces ~/.docker/config.json, as in docker
    (oras merged both, in an order that changed with the hash seed, so a
    stale ~/.docker entry for the same registry could win)."""
    ref = env.ref("dist/config:1")
    env.ok("push", app, ref, "--plain-http")
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    stale = base64.b64encode(f"{USER}:stale-pw".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {env.registry.host: {"auth": stale}}}))
    out = tmp_path / "c.wasmu"
    for seed in range(8):
        env.ok("pull", ref, "--plain-http", "-o", out, env={"HOME": str(home), "PYTHONHASHSEED": str(seed)})
    empty = tmp_path / "empty"
    empty.mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {env.registry.host: {"auth": env.auth}}}))
    r = env.wasmc("pull", ref, "--plain-http", "-o", out, env={"HOME": str(home), "DOCKER_CONFIG": str(empty)})
    assert "asks for credentials" in one_line_error(r, 13)


def test_credential_helpers_and_docker_hubs_login_name(env, app, tmp_path, monkeypatch):
    ref = env.ref("dist/helper:1")
    env.ok("push", app, ref, "--plain-http")
    bin_dir, docker = tmp_path / "bin", tmp_path / "helper-docker"
    bin_dir.mkdir()
    docker.mkdir()
    helper = bin_dir / "docker-credential-wasmctest"
    helper.write_text(f"#!/bin/sh\nread host\n[ \"$host\" = {env.registry.host} ] || exit 1\n"
                      f"echo '{{\"Username\": \"{USER}\", \"Secret\": \"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    (docker / "config.json").write_text(json.dumps({"credHelpers": {env.registry.host: "wasmctest"}}))
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env.ok("pull", ref, "--plain-http", "-o", tmp_path / "h.wasmu", env={"DOCKER_CONFIG": str(docker), "PATH": path})
    # `docker login` (no server) files Docker Hub under its v1 index URL
    from wasmc import registry

    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": env.auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(hub))
    client = registry.Client(registry.parse_reference("docker.io/you/app:1"), store=registry.Store(tmp_path))
    assert client.oras.auth._basic_auth == env.auth


@pytest.mark.parametrize("case", ["missing tag", "missing repository", "https", "refused", "bad reference",
                                  "no host", "all and target", "not ours"])
def test_failures_are_one_line_with_their_code_and_no_file(env, app, tmp_path, case):
    out = tmp_path / "out.wasmu"
    ref = env.ref("dist/fail:1")
    args, code, words = {
        "missing tag": (["pull", env.ref("dist/fail:nope"), "--plain-http"], 14, "no such tag"),
        "missing repository": (["pull", env.ref("dist/never:1"), "--plain-http"], 14, "no such tag"),
        "https": (["pull", ref], 12, "--plain-http"),
        "refused": (["pull", f"127.0.0.1:{_free_port()}/dist/fail:1", "--plain-http"], 12, "cannot reach"),
        "bad reference": (["pull", f"{env.registry.host}/Dist/Fail:1", "--plain-http"], 2, "not a registry reference"),
        "no host": (["pull", "dist/fail:1", "--plain-http"], 2, "does not name a registry"),
        "all and target": (["pull", ref, "--all", "--target", "aarch64", "--plain-http"], 2, "exclude"),
        "not ours": (["pull", env.ref("dist/foreign:1"), "--plain-http"], 7, "not a wasmc artifact"),
    }[case]
    if case == "not ours":
        _push_plain_image(env, "dist/foreign", "1")
    else:
        env.ok("push", app, ref, "--plain-http")
    r = env.wasmc(*args, "-o", out)
    assert words in one_line_error(r, code)
    assert not out.exists() and not list(tmp_path.glob(".out.wasmu.*"))


def _push_plain_image(env: Env, repo: str, tag: str):
    """An ordinary OCI image manifest (not a wasmc index) under REPO:TAG."""
    host, auth = env.registry.host, "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    c = http.client.HTTPConnection(host, timeout=10)
    blob = b"{}"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    c.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Authorization": auth, "Content-Length": "0"})
    r = c.getresponse()
    r.read()
    loc = r.getheader("Location")
    c.request("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={digest}", body=blob, headers={"Authorization": auth})
    assert c.getresponse().read() is not None
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
                      "layers": []}).encode()
    c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=man,
              headers={"Authorization": auth, "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert c.getresponse().status == 201


def test_a_tampered_blob_is_rejected_by_digest(env, app, tmp_path):
    ref = env.ref("dist/tamper:1")
    env.ok("push", app, ref, "--plain-http")
    art = container.load(app)
    best = next(s for s in art.slices if f"{s.arch}:{s.tier}" == _host_best(app))
    f = env.registry.blob_file("sha256:" + best.sha256)
    original = f.read_bytes()
    try:
        f.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])  # same size, one bit
        out = tmp_path / "t.wasmu"
        r = env.wasmc("pull", ref, "--plain-http", "-o", out)
        assert "does not match its digest" in one_line_error(r, 12)
        assert not out.exists() and best.sha256 not in env.store_files()
        r = env.wasmc("exec", f"oci://{ref}", "--plain-http")
        assert "does not match its digest" in one_line_error(r, 12)
    finally:
        f.write_bytes(original)


class _CuttingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the registry, but dies in the middle of the first blob it
    sends back: status and full Content-Length, half the body, then the
    connection closes (as a registry that crashes mid-pull)."""

    daemon_threads = True

    def __init__(self, upstream: str):
        self.upstream = upstream
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                c = http.client.HTTPConnection(outer.upstream, timeout=10)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                c.request(self.command, self.path, body=body or None, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET" and "/blobs/" in self.path and r.status == 200:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = _forward

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_registry_that_dies_mid_pull_leaves_nothing_half_written(env, app, tmp_path):
    ref = "dist/dies:1"
    env.ok("push", app, env.ref(ref), "--plain-http")
    proxy = _CuttingProxy(env.registry.host)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{proxy.server_address[1]}"
        out = tmp_path / "d.wasmu"
        r = env.wasmc("pull", f"{host}/{ref}", "--plain-http", "-o", out, "--username", USER, "--password-stdin",
                      input=PASSWORD.encode() + b"\n")
        line = one_line_error(r, 12)
        assert "cut short" in line or "does not match its digest" in line, line
        assert "', " not in line and line.count("(") == line.count(")"), line  # urllib3's tuple, unwrapped
        assert not out.exists() and not list(tmp_path.glob(".d.wasmu.*"))
        # the store holds complete, checked blobs only (manifests here), no temporary file
        d = env.cache / "oci" / "blobs" / "sha256"
        for p in d.iterdir():
            assert not p.name.startswith(".") and hashlib.sha256(p.read_bytes()).hexdigest() == p.name
    finally:
        proxy.shutdown()
        proxy.server_close()
    # the same pull from the real registry then completes from where it stopped
    n = _counts(env.ok("pull", env.ref(ref), "--plain-http", "-o", out))
    assert n["fetched"] == 2


def test_connection_failures_are_said_in_words_not_exception_tuples():
    """requests wraps urllib3's ProtocolError(words, cause): its str() is a
    tuple's repr, which once reached the user cut in half by the quote stripping."""
    import requests
    import urllib3

    from wasmc.registry import _reason

    aborted = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection without response")))
    assert _reason(aborted) == "Connection aborted: Remote end closed connection without response"
    reset = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")))
    assert _reason(reset) == "Connection aborted: Connection reset by peer"
    broken = requests.exceptions.ChunkedEncodingError(urllib3.exceptions.ProtocolError(
        "Connection broken: IncompleteRead(292481 bytes read, 458779 more expected)",
        urllib3.exceptions.IncompleteRead(292481, 458779)))
    assert _reason(broken) == "connection broken after 292481 bytes, 458779 more expected"
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 5000)
    timeout = requests.exceptions.ConnectionError(urllib3.exceptions.ReadTimeoutError(pool, "/v2/", "Read timed out."))
    assert _reason(timeout) == "Read timed out."


# --- signatures through the registry -------------------------------------------------------

def test_exec_trust_runs_signed_and_refuses_unsigned_and_altered(env, app, tmp_path):
    here = {"cwd": tmp_path}
    env.ok("keygen", "release", **here)
    assert (tmp_path / "release.key").stat().st_mode & 0o777 == 0o600
    signed = tmp_path / "signed.wasmu"
    env.ok("sign", app, "--key", "release.key", "-o", signed, **here)
    env.ok("push", signed, env.ref("dist/signed:1"), "--plain-http")
    env.ok("push", app, env.ref("dist/unsigned:1"), "--plain-http")
    # the slice this machine runs, altered after signing, its hashes recomputed
    art = container.load(signed)
    best = _host_best(app)
    parts = [container.with_data(art, s) for s in art.slices]
    victim = next(p for p in parts if f"{p.arch}:{p.tier}" == best)
    victim.data = victim.data[:64] + bytes([victim.data[64] ^ 0x40]) + victim.data[65:]
    altered = tmp_path / "altered.wasmu"
    container.write_atomic(altered, container.repack(art, parts))
    env.ok("push", altered, env.ref("dist/altered:1"), "--plain-http")

    r = env.wasmc("exec", f"oci://{env.ref('dist/signed:1')}", "--plain-http", "--trust", "release.pub", "--", "ok",
                  **here)
    assert r.returncode == 0 and b"argv[1]=ok" in r.stdout, text(r.stderr)
    r = env.wasmc("exec", f"oci://{env.ref('dist/unsigned:1')}", "--plain-http", "--trust", "release.pub", **here)
    assert f"slice {best} is not signed" in one_line_error(r, 11) and r.stdout == b""
    r = env.wasmc("exec", f"oci://{env.ref('dist/altered:1')}", "--plain-http", "--trust", "release.pub", **here)
    line = one_line_error(r, 11)
    assert "does not match" in line and "dist/altered:1" in line and r.stdout == b""
    # the trust list from the environment and from the configuration file
    r = env.wasmc("exec", f"oci://{env.ref('dist/unsigned:1')}", "--plain-http",
                  env={"WASMC_TRUST": str(tmp_path / "release.pub")})
    one_line_error(r, 11)
    cfg = tmp_path / "config" / "wasmc"
    cfg.mkdir(parents=True)
    (cfg / "trusted-keys").write_text(f"# release key\n{tmp_path / 'release.pub'}\n")
    r = env.wasmc("run", f"oci://{env.ref('dist/unsigned:1')}", "--plain-http")
    one_line_error(r, 11)
    r = env.wasmc("run", f"oci://{env.ref('dist/signed:1')}", "--plain-http")
    assert r.returncode == 0, text(r.stderr)
