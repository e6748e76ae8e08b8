"""The only module that imports llvmlite: parse, optimise and emit per target.

Consumes target-independent IR text from lower.py and produces an ELF
relocatable object (bytes) for one (target, tier, opt level).  The triple
and data layout are stamped from the target machine here, never written in
the IR text (so one lowering serves every target).

llvmlite serialises every call through one process-wide lock, so threads do
not help; driver.py runs several of these in worker processes instead.  An
LLVM fatal error aborts the whole process, which is one more reason the
driver uses workers for anything large.

Also here: wasmc's own *libcall object*.  LLVM lowers some intrinsics to
calls on some targets (llvm.ceil -> ``ceil`` on x86-64 without SSE4.1,
``nearbyint`` on riscv64, ``memcpy`` for some copies); the image has no
libc, so the linker satisfies exactly the symbols in ``abi.LIBCALLS`` from
this small module, written in IR (so it needs no C cross compiler) and
compiled with ``no-builtins`` (so the byte loops are not turned back into
calls to themselves).
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm

from ..errors import CompileError

_initialised = False

# Code-generator options for every target (compile time, never semantics).
#   CodeGenPrepare, deciding whether to fold an address computation into
#   the accesses that use it, walks the users of the address; Wasm code
#   computes every address from one memory base, so in a huge function
#   (shootout-ed25519 has one of 26,620 instructions) each access walks
#   thousands of users: a third of that partition's code generation.  LLVM caps
#   the walk at 100 users; at 50 that partition compiles in 5.5 s instead of
#   8.3 s with the same object (docs/benchmarks.md, "Compile throughput").
LLVM_OPTIONS = ("-cgp-max-address-users-to-scan=50",)


def _init():
    global _initialised
    if not _initialised:
        from .. import targets

        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        # Options are process-wide; each names its own target's passes.
        for opt in LLVM_OPTIONS:
            llvm.set_option("wasmc", opt)
        for t in targets.all_targets().values():
            for opt in t.llvm_options:
                llvm.set_option("wasmc", opt)
        _initialised = True


@functools.cache
def target_machine(triple: str, cpu: str, features: str, abiname: str, opt: int):
    _init()
    try:
        target = llvm.Target.from_triple(triple)
    except RuntimeError as e:
        raise CompileError(f"LLVM has no target for {triple}: {e}") from None
    return target.create_target_machine(cpu=cpu, features=features, opt=min(opt, 3), reloc="pic",
                                        codemodel="small", abiname=abiname)


# The three compiler tiers (issue: Wasmer's Singlepass / Cranelift / LLVM),
# each a mid-level pass list and a code generator level:
#
#   -O0  baseline: SROA only (locals out of memory: what makes the code
#        sane), then the fast instruction selector and register allocator.
#   -O1  balanced: mem2reg, instcombine, simplifycfg -- the input is already
#        optimised by its own compiler, so the full pipeline finds little --
#        then the optimising code generator, whose instruction selection and
#        register allocation are most of the gain.
#   -O2, -O3  LLVM's own pipelines at that level.
#
# docs/benchmarks.md has each tier's compile time and run time.
TIER_PASSES = {0: ("sroa",), 1: ("sroa", "instruction_combine", "simplify_cfg")}
TIER_CODEGEN = {0: 0, 1: 2, 2: 2, 3: 3}


def _mid_machine(target, opt: int):
    """The target machine the mid-level pipeline runs with: the one of TARGET's
    first (baseline) tier, whatever tier the code is emitted for.  So the
    mid-level work is done once per target and shared by all its tiers
    (driver.py), and a slice's bytes never depend on which other slices are
    built with it.  Every tier of a target has the same triple and data
    layout; what the tier changes in the mid-level pipeline is only its cost
    model (vector width), worth about 1% of run time on gcc-loops
    (docs/benchmarks.md, "Compile throughput")."""
    t0 = target.tiers[0]
    return target_machine(target.triple, t0.cpu, t0.features, target.abiname, TIER_CODEGEN[opt])


def optimise(ir: str, target, opt: int, name: str):
    """Parse IR for TARGET, stamp triple and data layout, verify, and run the
    mid-level pipeline of OPT: the module every tier of TARGET emits from."""
    tm = _mid_machine(target, opt)
    try:
        mod = llvm.parse_assembly(ir)
        mod.name = name
        mod.triple = target.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).strip().splitlines()[:2])
        raise CompileError(f"generated IR was rejected by LLVM: {detail}") from None
    pto = llvm.create_pipeline_tuning_options(speed_level=max(opt, 1))
    pb = llvm.create_pass_builder(tm, pto)
    if opt in TIER_PASSES:
        mpm = llvm.create_new_module_pass_manager()
        for p in TIER_PASSES[opt]:
            getattr(mpm, f"add_{p}_pass")()
        mpm.run(mod, pb)
    else:
        pb.getModulePassManager().run(mod, pb)
    return mod


def _codegen_machine(target, tier, opt: int):
    return target_machine(target.triple, tier.cpu, tier.features, target.abiname, TIER_CODEGEN[opt])


def compile_tiers(ir: str, target, tiers, opt: int, name: str = "wasm") -> list:
    """IR text -> one ELF object (bytes) per tier of TIERS, all of TARGET, at
    optimisation level OPT (0-3): parsed and optimised once, then emitted per
    tier.  Every tier, even a single one, emits from its own copy of the
    optimised module: code generation changes the module, and a copy
    (CloneModule) can differ from the original in something code generation
    sees -- probably use-list order, which a copy does not keep (aarch64 gave
    different bytes from a copy than from the original).  So each object is exactly what compile_ir gives for its tier
    alone, whatever other tiers are built."""
    mod = optimise(ir, target, opt, name)
    out = []
    for i, tier in enumerate(tiers):
        m = mod.clone()
        if i == len(tiers) - 1:
            mod.close()
        out.append(_codegen_machine(target, tier, opt).emit_object(m))
        m.close()
    return out


def compile_ir(ir: str, target, tier, opt: int, name: str = "wasm") -> bytes:
    """IR text -> ELF object bytes for TARGET/TIER at optimisation level OPT (0-3)."""
    return compile_tiers(ir, target, [tier], opt, name)[0]


def emit_assembly(ir: str, target, tier, opt: int) -> str:
    """For debugging and golden tests: the target assembly of IR (emitted from
    a copy of the optimised module, as compile_tiers does)."""
    return _codegen_machine(target, tier, opt).emit_assembly(optimise(ir, target, opt, "wasm").clone())


def llvm_version() -> str:
    return ".".join(map(str, llvm.llvm_version_info))


# ---------------------------------------------------------------------------
# The libcall object
# ---------------------------------------------------------------------------

def _rounding(name: str, fty: str, ity: str, mbits: int, bias: int, kind: str) -> str:
    """IR for ceil/floor/trunc/roundeven(f) without calling any intrinsic that
    could become a libcall again.  Exact for every input; NaNs come back quiet."""
    ebits = {"float": 8, "double": 11}[fty]
    emask = (1 << ebits) - 1
    big = {"float": "0x4160000000000000", "double": "0x4330000000000000"}[fty]  # 2^23 / 2^52
    one = "1.0"
    lines = [
        f"define hidden {fty} @{name}({fty} %x) #0 {{",
        "entry:",
        f"  %isnan = fcmp uno {fty} %x, %x",
        "  br i1 %isnan, label %nan, label %num",
        "nan:",
        f"  %q = fadd {fty} %x, %x",
        f"  ret {fty} %q",
        "num:",
        f"  %b = bitcast {fty} %x to {ity}",
        f"  %e0 = lshr {ity} %b, {mbits}",
        f"  %e1 = and {ity} %e0, {emask}",
        f"  %e = sub {ity} %e1, {bias}",
        f"  %int = icmp sge {ity} %e, {mbits}",
        "  br i1 %int, label %same, label %small",
        "same:",
        f"  ret {fty} %x",
        "small:",
    ]
    if kind == "roundeven":
        lines += [
            f"  %ax = call {fty} @wasmc.fabs.{fty}({fty} %x)",
            f"  %t0 = fadd {fty} %ax, {big}",
            f"  %t1 = fsub {fty} %t0, {big}",
            f"  %r = call {fty} @wasmc.copysign.{fty}({fty} %t1, {fty} %x)",
            f"  ret {fty} %r",
            "}",
        ]
        return "\n".join(lines)
    lines += [
        # truncation: clear the fraction bits below the binary point
        f"  %neg = icmp slt {ity} %e, 0",
        "  br i1 %neg, label %zero, label %mask",
        "zero:",
        f"  %z = call {fty} @wasmc.copysign.{fty}({fty} 0.0, {fty} %x)",
        "  br label %fix",
        "mask:",
        f"  %m0 = lshr {ity} {(1 << mbits) - 1}, %e",
        f"  %m1 = xor {ity} %m0, -1",
        f"  %tb = and {ity} %b, %m1",
        f"  %tt = bitcast {ity} %tb to {fty}",
        "  br label %fix",
        "fix:",
        f"  %t = phi {fty} [ %z, %zero ], [ %tt, %mask ]",
    ]
    if kind == "trunc":
        lines += [f"  ret {fty} %t"]
    elif kind == "floor":
        lines += [f"  %gt = fcmp ogt {fty} %t, %x",
                  f"  %tm = fsub {fty} %t, {one}",
                  f"  %f = select i1 %gt, {fty} %tm, {fty} %t",
                  f"  ret {fty} %f"]
    elif kind == "ceil":
        lines += [f"  %lt = fcmp olt {fty} %t, %x",
                  f"  %tp = fadd {fty} %t, {one}",
                  f"  %c = select i1 %lt, {fty} %tp, {fty} %t",
                  f"  ret {fty} %c"]
    lines.append("}")
    return "\n".join(lines)


def _bit_helpers(fty: str, ity: str) -> str:
    """fabs and copysign by bit operations (never a libcall on any target)."""
    bits = 64 if ity == "i64" else 32
    sign = -(1 << (bits - 1))  # the sign bit, as a signed IR literal
    mag = (1 << (bits - 1)) - 1
    return f"""
define internal {fty} @wasmc.fabs.{fty}({fty} %x) #0 {{
  %b = bitcast {fty} %x to {ity}
  %c = and {ity} %b, {mag}
  %r = bitcast {ity} %c to {fty}
  ret {fty} %r
}}
define internal {fty} @wasmc.copysign.{fty}({fty} %m, {fty} %s) #0 {{
  %mb = bitcast {fty} %m to {ity}
  %sb = bitcast {fty} %s to {ity}
  %ma = and {ity} %mb, {mag}
  %sa = and {ity} %sb, {sign}
  %o = or {ity} %ma, %sa
  %r = bitcast {ity} %o to {fty}
  ret {fty} %r
}}
"""


_MEM_FUNCS = """
define hidden ptr @memcpy(ptr %d, ptr %s, i64 %n) #0 {
  %r = call ptr @memmove(ptr %d, ptr %s, i64 %n)
  ret ptr %r
}

define hidden ptr @memmove(ptr %d, ptr %s, i64 %n) #0 {
entry:
  %z = icmp eq i64 %n, 0
  br i1 %z, label %done, label %dir
dir:
  %di = ptrtoint ptr %d to i64
  %si = ptrtoint ptr %s to i64
  %fwd = icmp ule i64 %di, %si
  br i1 %fwd, label %floop, label %bloop
floop:
  %i = phi i64 [ 0, %dir ], [ %i1, %floop ]
  %sp = getelementptr i8, ptr %s, i64 %i
  %dp = getelementptr i8, ptr %d, i64 %i
  %v = load i8, ptr %sp
  store i8 %v, ptr %dp
  %i1 = add i64 %i, 1
  %c = icmp ult i64 %i1, %n
  br i1 %c, label %floop, label %done
bloop:
  %j = phi i64 [ %n, %dir ], [ %j1, %bloop ]
  %j1 = sub i64 %j, 1
  %sq = getelementptr i8, ptr %s, i64 %j1
  %dq = getelementptr i8, ptr %d, i64 %j1
  %w = load i8, ptr %sq
  store i8 %w, ptr %dq
  %more = icmp ne i64 %j1, 0
  br i1 %more, label %bloop, label %done
done:
  ret ptr %d
}

define hidden ptr @memset(ptr %d, i32 %c, i64 %n) #0 {
entry:
  %b = trunc i32 %c to i8
  %z = icmp eq i64 %n, 0
  br i1 %z, label %done, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %dp = getelementptr i8, ptr %d, i64 %i
  store i8 %b, ptr %dp
  %i1 = add i64 %i, 1
  %cc = icmp ult i64 %i1, %n
  br i1 %cc, label %loop, label %done
done:
  ret ptr %d
}
"""


def libcall_ir() -> str:
    parts = [_MEM_FUNCS, _bit_helpers("float", "i32"), _bit_helpers("double", "i64")]
    for fty, ity, mbits, bias, suffix in (("double", "i64", 52, 1023, ""), ("float", "i32", 23, 127, "f")):
        for kind in ("ceil", "floor", "trunc", "roundeven"):
            parts.append(_rounding(kind + suffix, fty, ity, mbits, bias, kind))
        # In the default rounding mode (the only one Wasm has) these equal roundeven.
        for alias in ("nearbyint", "rint"):
            parts.append(_rounding(alias + suffix, fty, ity, mbits, bias, "roundeven"))
    parts.append('attributes #0 = { nounwind "no-builtins" "frame-pointer"="all" }')
    return "\n".join(parts)


def libcall_object(target, tier) -> bytes:
    """wasmc's libcall object for TARGET/TIER (compiled at O2)."""
    return compile_ir(libcall_ir(), target, tier, 2, name="wasmc_libcalls")
