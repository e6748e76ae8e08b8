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


def _imports(path: Path, where: Path | None = None) -> set[str]:
    """Every module PATH imports, anywhere in it (relative imports resolved
    as if it were the file WHERE, default PATH)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                rel = (where or path).relative_to(PKG).parent.parts
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


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_package_dependencies(sub):
    """Not even inside a function: wasmc.Module(data) compiles through the
    compiler the package layer installs (runtime/api.py, Module.compiler)."""
    for f in (PKG / sub).rglob("*.py"):
        rel = str(f.relative_to(PKG))
        for imp in _imports(f):
            top = _first_party(imp) or imp.split(".")[0]
            assert top not in FORBIDDEN[sub], f"{rel} imports {imp}"


def test_the_rule_sees_a_lazy_import(tmp_path):
    """An import inside a function counts (runtime/api.py had one)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..compile.cache import compile_cached\n")
    found = _imports(probe, where=PKG / "runtime" / "api.py")
    assert "wasmc.compile.cache" in found and _first_party("wasmc.compile.cache") in FORBIDDEN["runtime"]


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


def test_the_package_installs_the_compiler_lazily():
    """runtime/api.py has no compiler of its own; the package hands out its
    Module with one installed, and installing it loads nothing."""
    code = (
        "import sys\n"
        "import wasmc.runtime.api as api\n"
        "from wasmc.errors import WasmcError\n"
        "assert api.Module.compiler is None\n"
        "try:\n"
        "    api.Module(b'\\0asm\\1\\0\\0\\0')\n"
        "except WasmcError as e:\n"
        "    assert 'wasmc.Module' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('Module(data) compiled without an installed compiler')\n"
        "import wasmc\n"
        "assert wasmc.Module is api.Module and api.Module.compiler is not None\n"
        "assert not [k for k in sys.modules if k.startswith(('llvmlite', 'wasmc.compile'))]\n"
        "m = wasmc.Module(b'\\0asm\\1\\0\\0\\0')\n"
        "assert m.exports == [] and 'wasmc.compile.cache' in sys.modules\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
