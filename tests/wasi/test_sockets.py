"""Preopened sockets: ``--tcplisten`` on the CLI and ``WasiConfig.sockets``.

corpus/c/sock_echo.c serves line-echo clients on fd 3 with poll_oneoff,
sock_accept, sock_recv, sock_send and sock_shutdown; these tests are its
clients.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import wasmc

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "c"
ECHO = CORPUS / "sock_echo.wasm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(port: int, text: str, deadline: float = 120.0) -> str:
    """Connect (retrying while the server compiles and starts), send a line,
    return everything the server answers before closing."""
    end = time.monotonic() + deadline
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
    with conn:
        conn.sendall(text.encode() + b"\n")
        chunks = []
        while data := conn.recv(4096):
            chunks.append(data)
    return b"".join(chunks).decode()


def test_tcplisten_serves_clients(tmp_path):
    port = _free_port()
    (tmp_path / "data").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmc", "run", str(ECHO), "--tcplisten", f"127.0.0.1:{port}",
         "--dir", str(tmp_path / "data") + "::data", "--", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        answers = [_client(port, "hello"), _client(port, "second line")]
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert answers == ["echo: hello\n", "echo: second line\n"]
    assert proc.returncode == 0, err
    assert err == ""
    assert out.splitlines() == [
        "fd 3: stream socket, accept allowed",
        "fd 3 prestat: badf",
        "fd 4: preopened directory (name length 4)",  # directories follow the sockets
        "sock_accept(stdout): notsock",
        "client 1 said: hello",
        "client 2 said: second line",
        "served 2",
    ]


def test_wasiconfig_sockets(tmp_path):
    module = wasmc.Module(ECHO.read_bytes())
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    out = tmp_path / "out.txt"
    store = wasmc.Store()
    imports: dict = {}
    wasmc.link_wasi(wasmc.WasiConfig(argv=["echo", "1"], sockets=[server], stdout=str(out)), store, imports)
    server.close()  # the WASI context holds its own duplicate
    inst = wasmc.Instance(module, imports, store=store)
    answer = []
    t = threading.Thread(target=lambda: answer.append(_client(port, "from a thread")))
    t.start()
    try:
        inst.exports["_start"]()  # the guest blocks in C without the GIL; the client runs
    except wasmc.Exit as e:
        assert e.code == 0
    t.join(60)
    assert answer == ["echo: from a thread\n"]
    assert "client 1 said: from a thread" in out.read_text()


def test_tcplisten_errors(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "wasmc", "run", str(ECHO), *args],
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)

    r = run("--tcplisten", "no-port")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    with socket.create_server(("127.0.0.1", 0)) as busy:
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        r = run("--tcplisten", addr)
    assert r.returncode == 9, r.stderr
    assert r.stderr.count("\n") == 1 and f"--tcplisten {addr}" in r.stderr
    assert "Traceback" not in r.stderr


def test_non_socket_is_refused():
    with open(CORPUS / "sock_echo.c") as f, pytest.raises(wasmc.WasmcError, match="not a socket"):
        wasmc.link_wasi(wasmc.WasiConfig(sockets=[f.fileno()]), wasmc.Store(), {})
