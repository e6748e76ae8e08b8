"""Module dependencies point one way (docs/architecture.md section 1), and the
run path never loads the compiler."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "wasmc"
CORPUS = PKG.parent / "corpus" / "wat"

STDLIB_ONLY = {"abi.py", "container.py", "targets.py", "errors.py"}
# package -> subpackages/modules it must not import
FORBIDDEN = {
    "wasm": {"compile", "link", "runtime", "container", "llvmlite", "cli"},
    "link": {"wasm", "compile", "runtime", "llvmlite"},
    "runtime": {"compile", "link", "wasm", "llvmlite"},
}


def _imports(path: Path, toplevel_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    nodes = [n for n in tree.body] if toplevel_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                rel = path.relative_to(PKG).parent.parts
                base = list(rel[: len(rel) - (node.level - 1)]) if node.level > 1 else list(rel)
                out.add(".".join(["wasmc", *base, *([mod] if mod else [])]).rstrip("."))
                for a in node.names:
                    out.add(".".join(["wasmc", *base, *([mod] if mod else []), a.name]))
            else:
                out.add(mod)
    return out


def _first_party(name: str) -> str | None:
    if name.startswith("wasmc."):
        return name.split(".")[1]
    return None


# Deliberate lazy imports (inside a function, never on the run path):
# wasmc.Module(bytes) compiles on demand.
LAZY_ALLOWED = {("runtime/api.py", "wasmc.compile.cache"), ("runtime/api.py", "wasmc.compile.cache.compile_cached")}


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_package_dependencies(sub):
    for f in (PKG / sub).glob("*.py"):
        rel = str(f.relative_to(PKG))
        for imp in _imports(f):
            top = _first_party(imp) or imp.split(".")[0]
            if (rel, imp) in LAZY_ALLOWED:
                assert imp not in _imports(f, toplevel_only=True)
                continue
            assert top not in FORBIDDEN[sub], f"{rel} imports {imp}"


@pytest.mark.parametrize("name", sorted(STDLIB_ONLY))
def test_leaf_modules_use_the_standard_library_only(name):
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for imp in _imports(PKG / name):
        top = imp.split(".")[0]
        first = _first_party(imp)
        # other leaves are fine: the closure stays standard-library only
        assert top in allowed or f"{first}.py" in STDLIB_ONLY or imp == "wasmc", f"{name} imports {imp}"


def test_llvmlite_only_in_compile_llvm():
    for f in PKG.rglob("*.py"):
        if f.name == "llvm.py" and f.parent.name == "compile":
            continue
        assert not any(i.split(".")[0] == "llvmlite" for i in _imports(f)), f


def test_run_path_does_not_load_the_compiler(tmp_path):
    """import wasmc, load a built artifact, instantiate and call: llvmlite never loads."""
    import wasmc  # noqa: F401  (build the artifact in this process)
    from wasmc.compile.cache import compile_cached
    from wasmc.container import write_atomic

    path = compile_cached((CORPUS / "traps.wasm").read_bytes())
    art = tmp_path / "t.wasmu"
    write_atomic(art, Path(path).read_bytes())
    code = (
        "import sys, wasmc\n"
        f"m = wasmc.Module.load({str(art)!r})\n"
        "i = wasmc.Instance(m)\n"
        "assert i.exports['add'](2, 3) == 5\n"
        "import wasmc.cli\n"
        "bad = [k for k in sys.modules if k.startswith(('llvmlite', 'wasmc.compile', 'wasmc.link', 'elftools'))]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
