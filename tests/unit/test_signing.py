"""Signatures in the .wasmu (issue 15; docs/container.md, "Signatures"):
keygen, sign, verify, exec --trust, and what slice operations do to them."""

from __future__ import annotations

import pytest

from conftest import CORPUS, one_line_error, run_cmd, text, wasmc_cmd

from wasmc import container

TRAPS = CORPUS / "wat" / "traps.wasm"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for name in ("release", "other"):
        r = wasmc_cmd("keygen", d / name)
        assert r.returncode == 0, text(r.stderr)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory, keys):
    """(unsigned, signed by release): this machine's slice, aarch64's and riscv64's."""
    d = tmp_path_factory.mktemp("signing")
    plain = d / "plain.wasmu"
    r = wasmc_cmd("build", TRAPS, "-O0", "--targets", "host,aarch64:base,riscv64", "-o", plain, timeout=300)
    assert r.returncode == 0, text(r.stderr)
    signed = d / "signed.wasmu"
    r = wasmc_cmd("sign", plain, "--key", keys / "release.key", "-o", signed)
    assert r.returncode == 0, text(r.stderr)
    return plain, signed


def w(*args, **kw):
    kw["env"] = {"WASMC_TRUST": "", "XDG_CONFIG_HOME": "/nonexistent", **kw.get("env", {})}
    return wasmc_cmd(*args, **kw)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_replaces_one(keys, tmp_path):
    assert (keys / "release.key").stat().st_mode & 0o777 == 0o600
    assert (keys / "release.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    r = w("keygen", keys / "release")
    assert "exists already" in one_line_error(r, 9)


def test_sign_keeps_every_slice_and_verify_names_the_key(built, keys):
    plain, signed = built
    a, b = container.load(plain), container.load(signed)
    assert [(s.arch, s.tier, s.sha256) for s in a.slices] == [(s.arch, s.tier, s.sha256) for s in b.slices]
    assert len(b.metadata["signatures"]) == len(b.slices)
    r = w("verify", signed, "--trust", keys / "release.pub")
    assert r.returncode == 0 and text(r.stdout).count("signed by") == len(b.slices), text(r.stderr)
    # signing is deterministic (Ed25519): signing again changes nothing
    r = w("sign", signed, "--key", keys / "release.key", "-o", signed.with_name("again.wasmu"))
    assert r.returncode == 0 and signed.with_name("again.wasmu").read_bytes() == signed.read_bytes()


def test_verify_refuses_unsigned_other_keys_and_non_keys(built, keys):
    plain, signed = built
    assert "is not signed" in one_line_error(w("verify", plain, "--trust", keys / "release.pub"), 11)
    line = one_line_error(w("verify", signed, "--trust", keys / "other.pub"), 11)
    assert "not signed by a trusted key" in line
    assert "not a PEM public key" in one_line_error(w("verify", signed, "--trust", keys / "release.key"), 11)
    assert "cannot read" in one_line_error(w("verify", signed, "--trust", keys / "missing.pub"), 9)
    assert "no trusted key" in one_line_error(w("verify", signed), 2)
    assert "not an unencrypted PEM private key" in one_line_error(
        w("sign", plain, "--key", keys / "release.pub", "-o", keys / "x.wasmu"), 11)
    assert not (keys / "x.wasmu").exists()


def test_removing_and_adding_slices_keeps_the_other_signatures(built, keys, tmp_path):
    _, signed = built
    fewer = tmp_path / "fewer.wasmu"
    r = w("slices", "remove", signed, "riscv64", "-o", fewer)
    assert r.returncode == 0, text(r.stderr)
    r = w("verify", fewer, "--trust", keys / "release.pub")
    assert r.returncode == 0 and "riscv64" not in text(r.stdout), text(r.stderr)
    back = tmp_path / "back.wasmu"
    r = w("slices", "add", fewer, "riscv64", "--from", signed, "-o", back)
    assert r.returncode == 0 and back.read_bytes() == signed.read_bytes(), text(r.stderr)
    # a slice added from an unsigned build is unsigned; the others stay valid
    other = tmp_path / "other.wasmu"
    r = w("build", TRAPS, "-O0", "--targets", "x86_64:v1", "-o", other)
    assert r.returncode == 0, text(r.stderr)
    mixed = tmp_path / "mixed.wasmu"
    if "x86_64:v1" not in [f"{s.arch}:{s.tier}" for s in container.load(signed).slices]:
        assert w("slices", "add", signed, "x86_64:v1", "--from", other, "-o", mixed).returncode == 0
        assert "slice x86_64:v1 is not signed" in one_line_error(w("verify", mixed, "--trust",
                                                                   keys / "release.pub"), 11)


def _altered(signed, out, rehash: bool):
    """SIGNED with a byte of its first slice changed: with the hashes and
    checksums recomputed (REHASH), or in place."""
    art = container.load(signed)
    if rehash:
        parts = [container.with_data(art, s) for s in art.slices]
        parts[0].data = bytes([parts[0].data[0] ^ 1]) + parts[0].data[1:]
        container.write_atomic(out, container.repack(art, parts))
    else:
        raw = bytearray(signed.read_bytes())
        raw[art.slices[0].offset + 7] ^= 1
        out.write_bytes(raw)
    return out


def _host_slice(path) -> str:
    from wasmc.runtime.select import choose_slice

    s = choose_slice(container.load(path))
    return f"{s.arch}:{s.tier}"


@pytest.mark.parametrize("rehash", [True, False], ids=["hashes-recomputed", "in-place"])
def test_a_slice_altered_after_signing_is_refused(built, keys, tmp_path, rehash):
    _, signed = built
    bad = _altered(signed, tmp_path / "bad.wasmu", rehash)
    line = one_line_error(w("verify", bad, "--trust", keys / "release.pub"), 11)
    assert ("does not match" if rehash else "altered after signing") in line


def test_exec_trust_runs_signed_code_and_refuses_the_rest_before_mapping_it(built, keys, tmp_path):
    plain, signed = built
    pub = keys / "release.pub"
    r = w("exec", signed, "--trust", pub, "--invoke", "add", "2", "3")
    assert r.returncode == 0 and r.stdout == b"5\n", text(r.stderr)
    r = w("exec", signed, "--invoke", "add", "2", "3", env={"WASMC_TRUST": str(pub)})
    assert r.returncode == 0 and r.stdout == b"5\n", text(r.stderr)
    assert "is not signed" in one_line_error(w("exec", plain, "--trust", pub, "--invoke", "add", "2", "3"), 11)
    # the metadata of the slice that runs is altered (hashes recomputed): refused
    art = container.load(signed)
    host = _host_slice(signed)
    parts = [container.with_data(art, s) for s in art.slices]
    for p in parts:
        if f"{p.arch}:{p.tier}" == host:
            p.data = p.data[:-1] + bytes([p.data[-1] ^ 1])
    bad = tmp_path / "bad.wasmu"
    container.write_atomic(bad, container.repack(art, parts))
    r = w("exec", bad, "--trust", pub, "--invoke", "add", "2", "3")
    assert "does not match" in one_line_error(r, 11) and r.stdout == b""
    # --preload artifacts are held to the same list
    r = w("exec", signed, "--trust", pub, "--preload", f"m={plain}", "--invoke", "add", "2", "3")
    assert "is not signed" in one_line_error(r, 11)


def test_a_malformed_signature_block_is_an_error_not_a_crash(built, keys, tmp_path):
    _, signed = built
    art = container.load(signed)
    meta = dict(art.metadata, signatures=[{"key": 1}])
    bad = container.Artifact(meta, art.slices, art.wasm, str(signed))
    out = tmp_path / "m.wasmu"
    container.write_atomic(out, container.repack(bad, [container.with_data(art, s) for s in art.slices]))
    assert container.load(out).metadata["signatures"] == [{"key": 1}]
    assert "malformed signature block" in one_line_error(w("verify", out, "--trust", keys / "release.pub"), 11)


def test_exec_of_a_file_loads_no_registry_or_crypto_code(built):
    """`wasmc exec FILE` without a trust list pays for neither distribution
    library (the run path's startup: cli.py imports them lazily)."""
    import sys

    plain, _ = built
    code = ("import atexit, sys\n"
            "heavy = ('oras', 'requests', 'cryptography', 'wasmc.registry', 'llvmlite')\n"
            "atexit.register(lambda: print('loaded:', [m for m in heavy if m in sys.modules]))\n"
            "from wasmc.cli import main\n"
            f"main(['exec', {str(plain)!r}, '--invoke', 'add', '2', '3'])\n")
    r = run_cmd([sys.executable, "-c", code], env={"WASMC_TRUST": "", "XDG_CONFIG_HOME": "/nonexistent"})
    assert r.stdout == b"5\nloaded: []\n", (text(r.stdout), text(r.stderr))


def test_what_runs_is_what_was_verified_even_if_the_file_changes_meanwhile(built, keys, tmp_path):
    """exec --trust checks the slice on the bytes it loads, read through the
    descriptor that loads them: overwriting the file in place between the
    check and the mapping (a writer racing the runner) changes nothing."""
    import shutil

    import wasmc
    from wasmc import signing
    from wasmc.errors import SignatureError

    _, signed = built
    victim = tmp_path / "victim.wasmu"
    shutil.copy(signed, victim)
    trusted = signing.trust_list([str(keys / "release.pub")])

    def verify_then_overwrite(art, s):
        data = signing.verified_slice(art, s, trusted)[1]
        with open(victim, "r+b") as f:  # the same inode: an open descriptor sees it
            f.seek(s.offset)
            f.write(b"\xcc" * s.size)
        return data

    m = wasmc.Module.load(victim, verify=verify_then_overwrite)
    assert wasmc.Instance(m, {}).exports["add"](40, 2) == 42
    # and an artifact altered before the check is refused
    with pytest.raises(SignatureError, match="altered after signing"):
        wasmc.Module.load(victim, verify=lambda art, s: signing.verified_slice(art, s, trusted)[1])
