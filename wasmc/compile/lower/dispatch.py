"""The dispatch table: one handler per row of the opcode table.

Built once from ``wasm/opcodes.py``: every family file answers, for a row,
whether it lowers it (``handler(op)``, mostly by the row's ``hint``
column).  A row no family claims has no handler, and lowering a function
that uses it raises UnsupportedError naming the instruction and its
feature -- never wrong code.  Adding an instruction family is adding a file
here and its name to FAMILIES.
"""

from __future__ import annotations

from ...wasm.opcodes import OPS
from . import calls, control, eh, memory, numeric, simd, tables, variables

FAMILIES = (control, eh, calls, variables, tables, memory, numeric, simd)


def _build() -> list:
    table = [None] * len(OPS)
    for op in OPS:
        for fam in FAMILIES:
            h = fam.handler(op)
            if h is not None:
                table[op.id] = h
                break
    return table


DISPATCH = _build()
