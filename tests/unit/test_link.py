"""The image linker (wasmc/link): layout, symbol resolution, relocation recipes
and the errors it must name.

Also the helpers the per-arch tests (test_link_<arch>.py) share: compile or
assemble a tiny object, and :func:`link_both`, which links objects with
wasmc and with ld.lld at exactly the addresses wasmc chose and compares the
bytes of every section.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from elftools.elf.elffile import ELFFile

from wasmc import targets
from wasmc.compile import llvm
from wasmc.errors import CompileError
from wasmc.link import image, reloc, x86_64
from wasmc.link.elf import SHT_NOBITS, read_object
from wasmc.link.image import Linker, link
from wasmc.link.reloc import signed

HOST = targets.get("x86_64")
TIER = HOST.tier()
ATTRS = 'attributes #0 = { nounwind "frame-pointer"="all" }\n'
CODE_BASE = 256  # descriptor.CODE_BASE: where the driver links code
REPO = Path(__file__).resolve().parents[2]


def obj(ir: str, name="t") -> tuple[str, bytes]:
    return name, llvm.compile_ir(ir + ATTRS, HOST, TIER, 1, name)


# --- shared helpers ---------------------------------------------------------

def compile_for(target, ir: str, name="t", opt=2) -> tuple[str, bytes]:
    """IR (plus nounwind attributes #0) -> (NAME, ELF object) for TARGET."""
    return name, llvm.compile_ir(ir + ATTRS, target, target.tier(), opt, name)


def assemble(target, src: str, tmp_path: Path, name="t", flags=()) -> tuple[str, bytes]:
    """Assemble SRC for TARGET with clang (for relocations IR cannot force)."""
    clang = require_tool("clang")
    s, o = tmp_path / f"{name}.s", tmp_path / f"{name}.o"
    s.write_text(src)
    subprocess.run([clang, f"--target={target.triple}", *flags, "-c", str(s), "-o", str(o)],
                   check=True, capture_output=True, text=True)
    return name, o.read_bytes()


def reloc_types(objects) -> set:
    """Every relocation type in OBJECTS (a list of (name, bytes))."""
    return {r[1] for _, data in objects for rels in read_object(data).relocs.values() for r in rels}


def link_both(objects, target, tmp_path: Path, base=CODE_BASE, libcalls=None):
    """Link OBJECTS with wasmc at image offset BASE, then with ld.lld, each
    input section at the address wasmc gave it, and assert that every
    section's bytes agree.  Returns (Linker, LinkedCode)."""
    lld = require_tool("ld.lld")
    lk = Linker(objects, target.elf_machine, base, libcalls)
    linked = lk.link()
    inputs = list(objects) + ([("wasmc-libcalls", libcalls)] if len(lk.objs) > len(objects) else [])
    paths = []
    for k, (name, data) in enumerate(inputs):
        paths.append(tmp_path / f"in{k}_{name}.o")
        paths[-1].write_bytes(data)
    # one output section per input section, at wasmc's address; -O0 keeps
    # lld from merging equal constants of SHF_MERGE sections (wasmc does not)
    script = ["SECTIONS {"]
    for (k, idx), addr in sorted(lk.section_addr.items(), key=lambda kv: kv[1]):
        script.append(f'  .w{k}_{idx} {addr:#x} : {{ "{paths[k]}"({lk.objs[k].sections[idx].name}) }}')
    script.append("}")
    (tmp_path / "image.ld").write_text("\n".join(script) + "\n")
    out = tmp_path / "image.elf"
    r = subprocess.run([lld, "-O0", "--no-relax", "-e", "0", "-T", str(tmp_path / "image.ld"), "-o", str(out),
                        *map(str, paths)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        elf = ELFFile(f)
        for (k, idx), addr in lk.section_addr.items():
            sec = lk.objs[k].sections[idx]
            if sec.type == SHT_NOBITS:
                continue
            theirs = elf.get_section_by_name(f".w{k}_{idx}")
            assert theirs is not None and theirs["sh_addr"] == addr, (sec.name, addr)
            mine = linked.code[addr - base:addr - base + sec.size]
            if mine != theirs.data():
                diff = next(i for i in range(sec.size) if mine[i] != theirs.data()[i])
                pytest.fail(f"{lk.objs[k].name} {sec.name} at {addr:#x} differs from ld.lld at "
                            f"+{diff:#x}: {mine[diff:diff + 8].hex()} != {theirs.data()[diff:diff + 8].hex()}")
    return lk, linked


def apply_at(machine: int, rtype: int, template: bytes, S: int, A: int, P: int) -> bytes:
    """TEMPLATE (instruction or data bytes placed at image offset P) after
    applying one relocation of type RTYPE through the linker's API."""
    buf = bytearray(template)
    Linker([], machine, P).apply(buf, rtype, S, A, P)
    return bytes(buf)


def asm_library(skip_text: int, skip_data: int) -> str:
    """Assembly (any arch) of the object the per-type snippets refer to:
    function g and 64 bytes of data, after SKIP_TEXT / SKIP_DATA bytes."""
    return f"""
.text
.skip {skip_text}
.globl g
.type g,@function
g:
  ret
.section .rodata,"a"
.p2align 4
.skip {skip_data}
.globl datum
datum:
  .fill 64, 1, 0x5a
"""


def switch_ir(cases: int = 12) -> tuple[str, str]:
    """IR of a switch whose cases call different functions (so it becomes a
    jump table, not a lookup table), and of the callees."""
    decls = "".join(f"declare hidden i32 @g{k}(i32) #0\n" for k in range(cases))
    labels = " ".join(f"i32 {k}, label %c{k}" for k in range(cases))
    bodies = "".join(f"c{k}:\n  %r{k} = call i32 @g{k}(i32 %x)\n  ret i32 %r{k}\n" for k in range(cases))
    caller = (f"{decls}define hidden i32 @f(i32 %x) #0 {{\n  switch i32 %x, label %d [ {labels} ]\n"
              f"{bodies}d:\n  ret i32 0\n}}\n")
    callees = "".join(f"define hidden i32 @g{k}(i32 %x) #0 {{\n  %r = mul i32 %x, {k + 3}\n  ret i32 %r\n}}\n"
                      for k in range(cases))
    return caller, callees


def module_objects(path: Path, target, opt=2, size=3000) -> list:
    """A real module's partitions (small, so calls cross objects) compiled for TARGET."""
    from wasmc.compile.driver import lower_partitions
    from wasmc.compile.lower import ModuleLowering
    from wasmc.wasm.decode import decode_module
    from wasmc.wasm.validate import validate_module

    m = decode_module(path.read_bytes())
    validate_module(m)
    irs = lower_partitions(m, ModuleLowering.for_target(m, target), size)
    return [(f"part{k}", llvm.compile_ir(ir, target, target.tier(), opt, f"part{k}"))
            for k, ir in enumerate(irs)]


def test_calls_across_objects_and_rodata():
    a = obj("""
declare hidden i32 @g(i32) #0
define hidden i32 @f(i32 %x) #0 {
  %r = call i32 @g(i32 %x)
  %s = add i32 %r, 1
  ret i32 %s
}""", "a")
    b = obj("""
@table = private unnamed_addr constant [4 x i32] [i32 10, i32 20, i32 30, i32 40]
define hidden i32 @g(i32 %i) #0 {
  %p = getelementptr [4 x i32], ptr @table, i32 0, i32 %i
  %v = load i32, ptr %p
  ret i32 %v
}""", "b")
    lk = link([a, b], x86_64.ELF_MACHINE, 256)
    f_off, _ = lk.functions["f"]
    g_off, _ = lk.functions["g"]
    assert lk.base == 256 and lk.text_start == 256 and f_off >= 256
    # the call in f is an E8 rel32 whose target is g
    code = lk.code
    i = code.index(b"\xe8", f_off - 256)
    rel = struct.unpack_from("<i", code, i + 1)[0]
    assert 256 + i + 5 + rel == g_off
    # the table lives after the code, inside the image
    assert struct.pack("<4i", 10, 20, 30, 40) in code[lk.text_end - 256:]


def test_undefined_symbol_is_named():
    a = obj("""
declare hidden void @nowhere() #0
define hidden void @f() #0 {
  call void @nowhere()
  ret void
}""")
    with pytest.raises(CompileError, match="undefined symbol nowhere"):
        link([a], x86_64.ELF_MACHINE, 256)


def test_libcalls_come_from_the_libcall_object():
    a = obj("""
declare hidden double @ceil(double) #0
define hidden double @f(double %x) #0 {
  %r = call double @ceil(double %x)
  ret double %r
}""")
    with pytest.raises(CompileError, match="undefined symbol ceil"):
        link([a], x86_64.ELF_MACHINE, 256)
    lk = link([a], x86_64.ELF_MACHINE, 256, llvm.libcall_object(HOST, TIER))
    assert "ceil" in lk.functions


def test_writable_section_is_refused():
    a = obj("""
@counter = hidden global i32 0
define hidden i32 @f() #0 {
  %v = load i32, ptr @counter
  %w = add i32 %v, 1
  store i32 %w, ptr @counter
  ret i32 %w
}""")
    with pytest.raises(CompileError, match="writable section"):
        link([a], x86_64.ELF_MACHINE, 256)


def test_unknown_relocation_is_named():
    # A preemptible (not dso_local) global is reached through the GOT.
    a = obj("""
@answer = constant i32 42
define hidden ptr @f() #0 {
  ret ptr @answer
}""")
    with pytest.raises(CompileError, match="unsupported relocation R_X86_64_(REX_)?GOTPCRELX"):
        link([a], x86_64.ELF_MACHINE, 256)


def test_duplicate_symbol():
    src = "define hidden void @f() #0 {\n  ret void\n}"
    with pytest.raises(CompileError, match="duplicate symbol f"):
        link([obj(src, "a"), obj(src, "b")], x86_64.ELF_MACHINE, 256)


def test_wrong_machine():
    aarch64 = targets.get("aarch64")
    o = llvm.compile_ir("define hidden void @f() #0 {\n  ret void\n}\n" + ATTRS, aarch64, aarch64.tier(), 1)
    with pytest.raises(CompileError, match="ELF machine 183, expected 62"):
        link([("a", o)], x86_64.ELF_MACHINE, 256)


def test_recipes_check_their_range():
    pc32 = x86_64.RELOCS[x86_64.R_X86_64_PC32]
    assert pc32.value(0x1000, -4, 0x10, None) == 0x1000 - 4 - 0x10
    fits = signed(32)
    assert fits(2**31 - 1) and fits(-2**31) and not fits(2**31) and not fits(-2**31 - 1)
    assert pc32.check is not None and not pc32.check(2**31)


def test_an_llvm_abort_is_a_compile_error_not_a_crash():
    """LLVM aborts the process on some internal errors (here: an inline-asm
    constraint no x86 register can satisfy).  The driver compiles in worker
    processes, so the caller gets a CompileError and carries on."""
    from wasmc.compile.driver import compile_isolated

    bad = ('define hidden void @f(<16 x i8> %v) #0 {\n'
           '  call void asm sideeffect "", "r"(<16 x i8> %v)\n  ret void\n}\n' + ATTRS)
    with pytest.raises(CompileError, match="LLVM aborted"):
        compile_isolated([(bad, "x86_64", TIER.name, 2, "bad")], 1)
    good = "define hidden void @g() #0 {\n  ret void\n}\n" + ATTRS
    assert compile_isolated([(good, "x86_64", TIER.name, 2, "good")], 1)[0][:4] == b"\x7fELF"


def test_libcall_object_is_self_contained_on_every_target():
    """Every libcall the linker may pull in is defined, and the object needs
    nothing else (memcpy calls memmove inside it)."""
    from wasmc import abi
    from wasmc.link.elf import SHN_UNDEF, read_object

    for name in ("x86_64", "aarch64", "riscv64"):
        t = targets.get(name)
        o = read_object(llvm.libcall_object(t, t.tier()), name)
        defined = {s.name for s in o.symbols if s.shndx != SHN_UNDEF and s.bind != "STB_LOCAL"}
        undefined = {s.name for s in o.symbols if s.shndx == SHN_UNDEF and s.name}
        assert set(abi.LIBCALLS) <= defined, name
        assert undefined <= defined, (name, undefined - defined)


# --- the registry -------------------------------------------------------------

def test_arch_registry_matches_targets():
    """One arch module per targets/*.toml, keyed by its elf_machine and
    named after it."""
    declared = {t.elf_machine: t.name for t in targets.all_targets().values()}
    registered = {m: mod.__name__.rsplit(".", 1)[1] for m, mod in image.ARCHES.items()}
    assert registered == declared
    for machine in declared:
        assert image._arch_module(machine).ELF_MACHINE == machine


@pytest.mark.parametrize("mod", sorted(image.ARCHES.values(), key=lambda m: m.ELF_MACHINE),
                         ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_arch_modules_share_one_shape(mod):
    """RELOCS, NAMES and REFUSED agree; every recipe is documented JITLink
    style with its fixup expression and errors."""
    assert mod.__doc__ and "psABI: https://" in mod.__doc__
    for rtype, recipe in mod.RELOCS.items():
        assert mod.NAMES[rtype] == recipe.name
        assert recipe.doc.startswith("Fixup <- ") and "Errors: " in recipe.doc, recipe.name
    refused = getattr(mod, "REFUSED", {})
    assert set(refused) <= set(mod.NAMES) and not set(refused) & set(mod.RELOCS)


def test_unknown_machine_is_named():
    with pytest.raises(CompileError, match="no relocation support for ELF machine 999"):
        link([], 999, CODE_BASE)


def test_a_broken_arch_module_is_an_import_error():
    """The registry imports every arch module: one that fails to import
    fails loudly instead of reading as "no relocation support"."""
    code = ("import sys; sys.modules['wasmc.link.riscv64'] = None\n"
            "try:\n    import wasmc.link.image\nexcept ImportError as e:\n    print('ImportError', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.stdout.startswith("ImportError"), r.stdout + r.stderr


# --- range checks and their messages -------------------------------------------

def test_range_says_why():
    r = signed(28, align=4)
    assert r(-(1 << 27)) and r((1 << 27) - 4) and not r(1 << 27) and not r(2)
    assert "out of range" in r.why(1 << 27) and "[-0x8000000, 0x8000000)" in r.why(1 << 27)
    assert r.why(6) == "misaligned: value 0x6 is not a multiple of 4"
    assert reloc.aligned(8)(-16) and not reloc.aligned(8)(12)
    assert reloc.either(8)(-128) and reloc.either(8)(255) and not reloc.either(8)(256)


@pytest.mark.parametrize("rtype", [x86_64.R_X86_64_PC32, x86_64.R_X86_64_PLT32])
def test_x86_64_pc32_out_of_range(rtype):
    """Through the linker's API: a target 2 GiB past the field."""
    P, m = CODE_BASE, x86_64.ELF_MACHINE
    farthest = apply_at(m, rtype, bytes(4), P + 4 + (2**31 - 1), -4, P)
    assert struct.unpack("<i", farthest)[0] == 2**31 - 1
    name = x86_64.NAMES[rtype]
    with pytest.raises(CompileError, match=f"relocation {name} is out of range: value 0x80000000"):
        apply_at(m, rtype, bytes(4), P + 4 + 2**31, -4, P)
    with pytest.raises(CompileError, match=f"relocation {name} is out of range"):
        apply_at(m, rtype, bytes(4), P - 2**31 - 1, 0, P)


def test_refused_relocations_say_why():
    with pytest.raises(CompileError, match=r"unsupported relocation R_X86_64_64 \(an absolute address"):
        apply_at(x86_64.ELF_MACHINE, 1, bytes(8), 0, 0, CODE_BASE)
    with pytest.raises(CompileError, match="unsupported relocation type 200$"):
        apply_at(x86_64.ELF_MACHINE, 200, bytes(8), 0, 0, CODE_BASE)


def test_alignment_beyond_the_image_alignment_is_refused():
    a = obj("""
@t = private unnamed_addr constant [4 x i32] [i32 1, i32 2, i32 3, i32 4], align 8192
define hidden ptr @f() #0 {
  ret ptr @t
}""")
    with pytest.raises(CompileError, match="8192-byte alignment"):
        link([a], x86_64.ELF_MACHINE, CODE_BASE)


def test_layout_keeps_alignment_relative_to_image_offset_zero():
    """Sections are aligned as image offsets (offset 0 is mapped page
    aligned), not relative to BASE: what makes ADRP's Page() exact."""
    a = obj("""
@t = private unnamed_addr constant [4 x i32] [i32 1, i32 2, i32 3, i32 4], align 4096
define hidden ptr @f() #0 {
  ret ptr @t
}""")
    lk = Linker([a], x86_64.ELF_MACHINE, CODE_BASE)
    lk.link()
    rodata = [addr for (k, idx), addr in lk.section_addr.items() if lk.objs[k].sections[idx].align == 4096]
    assert rodata and all(addr % 4096 == 0 for addr in rodata)


# --- against ld.lld -------------------------------------------------------------

def test_x86_64_objects_match_lld(tmp_path):
    """PC32 (a constant, a jump table in .rodata) and PLT32 across objects."""
    caller, callees = switch_ir()
    a = obj(caller + """
define hidden double @k(double %x) #0 {
  %r = fmul double %x, 0x400921FB54442D18
  ret double %r
}""", "a")
    b = obj(callees, "b")
    assert {x86_64.R_X86_64_PC32, x86_64.R_X86_64_PLT32} <= reloc_types([a, b])
    assert any(read_object(a[1]).sections[idx].name == ".rodata"
               for idx in read_object(a[1]).relocs), "no jump table"
    link_both([a, b], HOST, tmp_path)


@pytest.mark.parametrize("name", sorted(targets.all_targets()))
def test_a_real_module_matches_lld(name, tmp_path):
    """A C program (corpus/c/clocks.wasm: jump tables, constants, calls
    across partitions and into the libcall object) linked both ways."""
    t = targets.get(name)
    objects = module_objects(REPO / "corpus" / "c" / "clocks.wasm", t)
    assert len(objects) > 1
    lk, linked = link_both(objects, t, tmp_path, libcalls=llvm.libcall_object(t, t.tier()))
    assert len(linked.functions) > 20
