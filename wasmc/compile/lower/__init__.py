"""Validated Wasm module -> LLVM IR text (target independent).

Consumes a :class:`~wasmc.wasm.module.Module` that has passed validation and
produces LLVM IR as plain text: one ``hidden`` function per defined Wasm
function (``wasm_func_<i>``), one array-call trampoline per function
signature (``wasm_tramp_<k>``), one host adapter per imported signature
(``wasm_adapter_<k>``), and small functions that evaluate constant
expressions at instantiation (``wasm_init_globals``, ``wasm_elem_offset_<i>``,
``wasm_elem_items_<i>``, ``wasm_data_offset_<i>``, ``wasm_table_init_<i>``).
The IR carries no triple or data layout; compile/llvm.py stamps those per
target, so nothing here depends on the architecture.

Conventions (see wasmc/abi.py for the ABI itself):

* Locals live in ``alloca``s that mem2reg turns into SSA; the operand stack is
  a Python list of ``(llvm_value, wasm_type)`` at compile time.
* Block results and loop parameters become phi nodes.  A ``br_table`` edge to
  a target that takes values goes through a one-instruction edge block, so
  every phi has exactly one entry per predecessor.
* Code after an unconditional branch is dead: it is skipped (only nesting is
  tracked) until the matching ``else``/``end``.
* Every trap is a branch to a per-function block that calls the ``trap``
  builtin; trap branches carry "unlikely" branch weights.
* Memory accesses of 32-bit memories are ``base + zext(addr) + offset`` with
  no check: the runtime reserves 8 GiB per memory, so any such address lies
  in the reservation and a fault in the guard region becomes a trap.
  64-bit memories are checked explicitly against the current size.
* Float constants are emitted from their bit patterns (f32 NaNs through a
  bitcast, since LLVM's textual float form goes through a double and could
  quiet a signalling NaN); no fast-math flags are ever used.

Layout (one file per instruction family, one place that builds dispatch):

    ir.py         type names, attributes, constant spellings
    function.py   FunctionLowering (the builder) and lower_function
    control.py    blocks, branches          calls.py     the calling convention
    variables.py  locals, globals           memory.py    loads, stores, memory.*
    tables.py     tables, references        numeric.py   scalar arithmetic
    simd.py       SIMD128, relaxed SIMD     dispatch.py  the table, from wasm/opcodes.py
    module.py     ModuleLowering: partitions, declarations, support code

Rejected alternatives: an llvmlite.ir object model (measurably slower to
build and it would load llvmlite into the front end), and allocas for block
results (simpler, but the O0 code used by tests is then much slower).
"""

from __future__ import annotations

from .dispatch import DISPATCH
from .function import FunctionLowering, ModuleInfo, lower_function
from .ir import SUPPORTED_FEATURES, lltype, ret_type
from .module import ModuleLowering, _arg_types, lower_support

__all__ = ["DISPATCH", "FunctionLowering", "ModuleInfo", "ModuleLowering", "SUPPORTED_FEATURES", "_arg_types",
           "lltype", "lower_function", "lower_support", "ret_type"]
