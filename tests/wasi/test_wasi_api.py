"""WASI through the Python API: WasiConfig, link_wasi, Exit."""

from __future__ import annotations

from pathlib import Path

import pytest

import wasmc

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "c"


@pytest.fixture(scope="module")
def args_env():
    return wasmc.Module((CORPUS / "args_env.wasm").read_bytes())


def _run(module, cfg):
    store = wasmc.Store()
    imports: dict = {}
    wasmc.link_wasi(cfg, store, imports)
    inst = wasmc.Instance(module, imports, store=store)
    try:
        inst.exports["_start"]()
        return 0
    except wasmc.Exit as e:
        return e.code


def test_args_env_stdout_and_exit_code(args_env, tmp_path):
    out = tmp_path / "out.txt"
    cfg = wasmc.WasiConfig(argv=["prog", "a b", "exit=3"], env={"GREETING": "hi"}, stdout=str(out))
    assert _run(args_env, cfg) == 3
    text = out.read_text()
    assert "argv[1]=a b" in text and "GREETING=hi" in text and "envc=1" in text


def test_preopened_directory(tmp_path):
    files = wasmc.Module((CORPUS / "files.wasm").read_bytes())
    (tmp_path / "work").mkdir()
    with open(tmp_path / "out.txt", "w") as f:
        cfg = wasmc.WasiConfig(argv=["files"], preopens=[(str(tmp_path / "work"), "work")], stdout=f)
        assert _run(files, cfg) == 0
    assert "rmdir: ok" in (tmp_path / "out.txt").read_text()


def test_missing_preopen_is_a_clean_error(args_env, tmp_path):
    with pytest.raises(wasmc.FileError, match="not a directory"):
        _run(args_env, wasmc.WasiConfig(preopens=[(str(tmp_path / "nope"), "x")]))


def test_wasi_without_link_is_a_link_error(args_env):
    with pytest.raises(wasmc.LinkError, match="wasi_snapshot_preview1"):
        wasmc.Instance(args_env, {})
