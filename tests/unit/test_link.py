"""The image linker (wasmc/link): layout, symbol resolution, relocation recipes
and the errors it must name."""

from __future__ import annotations

import struct

import pytest

from wasmc import targets
from wasmc.compile import llvm
from wasmc.errors import CompileError
from wasmc.link import x86_64
from wasmc.link.image import link
from wasmc.link.reloc import signed

HOST = targets.get("x86_64")
TIER = HOST.tier()
ATTRS = 'attributes #0 = { nounwind "frame-pointer"="all" }\n'


def obj(ir: str, name="t") -> tuple[str, bytes]:
    return name, llvm.compile_ir(ir + ATTRS, HOST, TIER, 1, name)


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
