"""Unit tests of the strict binary decoder (wasmc/wasm/decode.py)."""

from __future__ import annotations

import pytest

from wasmc.errors import MalformedError, ValidationError
from wasmc.wasm.decode import _Reader, decode_module
from wasmc.wasm.module import Limits, RefType
from wasmc.wasm.validate import validate_module
from wasmbuild import name, section, sleb, uleb, vec

HEADER = b"\0asm\x01\0\0\0"

TYPE_VOID = section(1, vec([b"\x60\x00\x00"]))            # (type (func))
TYPE_I32 = section(1, vec([b"\x60\x00\x01\x7f"]))         # (type (func (result i32)))


def one_func(body: bytes, types: bytes = TYPE_I32, locals_: bytes = b"\x00") -> bytes:
    """A module with one function of type 0 whose code is ``locals_ + body``."""
    code = locals_ + body
    return (HEADER + types + section(3, vec([b"\x00"])) +
            section(10, vec([uleb(len(code)) + code])))


def malformed(data: bytes) -> MalformedError:
    with pytest.raises(MalformedError) as info:
        decode_module(data)
    return info.value


# --------------------------------------------------------------------------
# LEB128
# --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, bits, value", [
    (b"\x00", 32, 0),
    (b"\x7f", 32, 127),
    (b"\x80\x01", 32, 128),
    (b"\x80\x80\x80\x80\x00", 32, 0),          # padded to the maximum length: legal
    (b"\xff\xff\xff\xff\x0f", 32, 0xFFFFFFFF),
    (b"\x83\x80\x80\x80\x00", 32, 3),
    (b"\xff" * 9 + b"\x01", 64, 2**64 - 1),
    (b"\x80" * 9 + b"\x00", 64, 0),
])
def test_uleb_accepts(raw, bits, value):
    r = _Reader(raw)
    assert r.uleb(bits) == value
    assert r.pos == len(raw)


@pytest.mark.parametrize("raw, bits, message", [
    (b"\x80\x80\x80\x80\x80\x00", 32, "integer representation too long"),
    (b"\xff\xff\xff\xff\x1f", 32, "integer too large"),      # bit 32 set
    (b"\xff\xff\xff\xff\x7f", 32, "integer too large"),
    (b"\x80\x80\x80\x80\x10", 32, "integer too large"),
    (b"\xff" * 9 + b"\x02", 64, "integer too large"),
    (b"\x80" * 10 + b"\x00", 64, "integer representation too long"),
    (b"\x80\x80", 32, "unexpected end"),
])
def test_uleb_rejects(raw, bits, message):
    with pytest.raises(MalformedError) as info:
        _Reader(raw).uleb(bits)
    assert info.value.message.startswith(message)


@pytest.mark.parametrize("raw, bits, value", [
    (b"\x7f", 32, -1),
    (b"\x3f", 32, 63),
    (b"\x40", 32, -64),
    (b"\xff\xff\xff\xff\x07", 32, 2**31 - 1),
    (b"\x80\x80\x80\x80\x78", 32, -2**31),
    (b"\xff\xff\xff\xff\x7f", 32, -1),          # padded -1: sign bits all ones
    (b"\x80\x80\x80\x80\x00", 32, 0),           # padded 0
    (b"\xff" * 9 + b"\x00", 64, 2**63 - 1),
    (b"\x80" * 9 + b"\x7f", 64, -2**63),
    (b"\x80\x80\x80\x80\x70", 33, -2**32),
])
def test_sleb_accepts(raw, bits, value):
    r = _Reader(raw)
    assert r.sleb(bits) == value
    assert r.pos == len(raw)


@pytest.mark.parametrize("raw, bits, message", [
    (b"\xff\xff\xff\xff\x0f", 32, "integer too large"),     # 2**32-1 is not an s32
    (b"\x80\x80\x80\x80\x70", 32, "integer too large"),     # unused bits not sign copies
    (b"\xff\xff\xff\xff\x4f", 32, "integer too large"),
    (b"\xff" * 9 + b"\x01", 64, "integer too large"),
    (b"\x80" * 9 + b"\x7e", 64, "integer too large"),
    (b"\xff\xff\xff\xff\xff\x7f", 32, "integer representation too long"),
])
def test_sleb_rejects(raw, bits, message):
    with pytest.raises(MalformedError) as info:
        _Reader(raw).sleb(bits)
    assert info.value.message.startswith(message)


def test_leb_roundtrip_against_encoder():
    for v in (0, 1, 63, 64, 127, 128, 2**31 - 1, -2**31, -1, -65, 12345678):
        assert _Reader(sleb(v)).sleb(32) == v
    for v in (0, 1, 127, 128, 2**32 - 1, 2**20 + 5):
        assert _Reader(uleb(v)).uleb(32) == v


def test_padded_leb_in_a_module():
    # i32.const with a padded 5-byte immediate, function count padded too.
    body = b"\x41\x80\x80\x80\x80\x00\x0b"
    code = b"\x00" + body
    data = (HEADER + TYPE_I32 + section(3, b"\x81\x80\x80\x80\x00\x00") +
            section(10, vec([uleb(len(code)) + code])))
    m = decode_module(data)
    assert m.funcs == [0]
    assert m.codes[0].body[0][1] == 0


def test_i32_const_immediate_range():
    ok = decode_module(one_func(b"\x41" + sleb(-2**31) + b"\x0b"))
    assert ok.codes[0].body[0][1] == -2**31
    err = malformed(one_func(b"\x41\xff\xff\xff\xff\x0f\x0b"))
    assert err.message == "integer too large"


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------

def test_empty_module():
    m = decode_module(HEADER)
    assert m.types == [] and m.funcs == [] and m.size == 8


@pytest.mark.parametrize("data, message", [
    (b"", "magic header not detected"),
    (b"\0asn\x01\0\0\0", "magic header not detected"),
    (b"\0asm\x02\0\0\0", "unknown binary version"),
    (b"\0asm\x01\0", "unexpected end"),
])
def test_header(data, message):
    assert malformed(data).message.startswith(message)


def test_section_order_and_duplicates():
    func_sec = section(3, vec([b"\x00"]))
    # function section before type section
    err = malformed(HEADER + func_sec + TYPE_VOID)
    assert "out of order" in err.message
    assert err.offset == 8 + len(func_sec)
    # duplicated type section
    assert "duplicated" in malformed(HEADER + TYPE_VOID + TYPE_VOID).message
    # data count (12) must come before code (10)
    code = section(10, vec([b"\x02\x00\x0b"]))
    assert "out of order" in malformed(HEADER + TYPE_VOID + func_sec + code +
                                       section(12, b"\x00")).message
    # tag section (13) sits between memory (5) and global (6)
    tags = section(13, vec([b"\x00\x00"]))
    decode_module(HEADER + TYPE_VOID + section(5, vec([b"\x00\x01"])) + tags +
                  section(6, vec([b"\x7f\x00\x41\x00\x0b"])))
    assert "out of order" in malformed(HEADER + TYPE_VOID + section(6, vec([b"\x7f\x00\x41\x00\x0b"]))
                                       + tags).message


def test_custom_sections_anywhere():
    custom = section(0, name("hello") + b"payload")
    m = decode_module(HEADER + custom + TYPE_VOID + custom + section(3, vec([b"\x00"])) + custom +
                      section(10, vec([b"\x02\x00\x0b"])) + custom)
    assert [c.name for c in m.customs] == ["hello"] * 4
    assert m.customs[0].size == len(b"payload")


@pytest.mark.parametrize("sid", [14, 0x7F, 0xFF])
def test_unknown_section_id(sid):
    err = malformed(HEADER + bytes([sid, 0]))
    assert err.message == "malformed section id"
    assert err.offset == 8


def test_section_size_mismatch():
    # type section claims 5 bytes but its content is 4 (one functype + a spare byte)
    err = malformed(HEADER + b"\x01\x05\x01\x60\x00\x00\x00")
    assert err.message.startswith("section size mismatch")
    assert err.offset == 8 + 2 + 4


def test_section_size_beyond_file():
    err = malformed(HEADER + b"\x01\x10\x01\x60\x00\x00")
    assert err.message.startswith("length out of bounds")


def test_section_content_beyond_section():
    # the vector claims two functypes but the section holds one
    err = malformed(HEADER + b"\x01\x04\x02\x60\x00\x00" + TYPE_VOID[:0] + b"\x00\x00")
    assert "unexpected end" in err.message or "length out of bounds" in err.message


def test_function_and_code_counts_must_agree():
    assert "inconsistent lengths" in malformed(HEADER + TYPE_VOID + section(3, vec([b"\x00"]))).message
    code = section(10, vec([b"\x02\x00\x0b", b"\x02\x00\x0b"]))
    assert "inconsistent lengths" in malformed(HEADER + TYPE_VOID + section(3, vec([b"\x00"])) +
                                               code).message


def test_data_count_must_match():
    mem = section(5, vec([b"\x00\x01"]))
    data = section(11, vec([b"\x01" + name(b"ab")]))
    decode_module(HEADER + mem + section(12, b"\x01") + data)
    err = malformed(HEADER + mem + section(12, b"\x02") + data)
    assert "data count and data section have inconsistent lengths" in err.message


@pytest.mark.parametrize("instr", [
    b"\xfc\x09\x00",                    # data.drop 0
    b"\xfb\x09\x00\x00",                # array.new_data 0 0 (decode only; typing is validation's)
    b"\xfb\x12\x00\x00",                # array.init_data 0 0
])
def test_data_index_in_code_needs_data_count(instr):
    code = b"\x00" + instr + b"\x0b"
    data = (HEADER + TYPE_VOID + section(3, vec([b"\x00"])) +
            section(10, vec([uleb(len(code)) + code])) + section(11, vec([b"\x01\x00"])))
    assert malformed(data).message == "data count section required"
    fixed = (HEADER + TYPE_VOID + section(3, vec([b"\x00"])) + section(12, b"\x01") +
             section(10, vec([uleb(len(code)) + code])) + section(11, vec([b"\x01\x00"])))
    decode_module(fixed)


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "\u00e9t\u00e9".encode(), "\U0001f600".encode(), b"", "\u4e2d".encode(), b"\x00"])
def test_utf8_names_accepted(raw):
    m = decode_module(HEADER + section(0, name(raw)))
    assert m.customs[0].name == raw.decode()


@pytest.mark.parametrize("raw", [
    b"\x80",                 # lone continuation byte
    b"\xc0\x80",             # overlong NUL
    b"\xe0\x80\x80",         # overlong
    b"\xed\xa0\x80",         # UTF-16 surrogate
    b"\xf4\x90\x80\x80",     # above U+10FFFF
    b"\xc3",                 # truncated sequence
    b"\xff",
])
def test_utf8_names_rejected(raw):
    err = malformed(HEADER + section(0, name(raw)))
    assert err.message == "malformed UTF-8 encoding"
    assert err.offset == 8 + 2 + 1  # the first byte of the name


def test_import_names_are_utf8_checked():
    imp = name("m") + name(b"\xc0\x80") + b"\x00\x00"
    err = malformed(HEADER + TYPE_VOID + section(2, vec([imp])))
    assert err.message == "malformed UTF-8 encoding"


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, limits", [
    (b"\x00\x01", Limits(1, None, False)),
    (b"\x01\x01\x02", Limits(1, 2, False)),
    (b"\x04\x01", Limits(1, None, True)),
    (b"\x05\x00\x80\x80\x04", Limits(0, 65536, True)),
    (b"\x00\x80\x80\x80\x80\x10", Limits(2**32, None, False)),  # out of range: validation's call
])
def test_memory_limits(raw, limits):
    m = decode_module(HEADER + section(5, vec([raw])))
    assert m.memories[0].limits == limits


@pytest.mark.parametrize("flags", [0x02, 0x03, 0x06, 0x07, 0x08, 0x10, 0x80])
def test_limits_flags_rejected(flags):
    err = malformed(HEADER + section(5, vec([bytes([flags]) + b"\x01\x01"])))
    assert err.message == "malformed limits flags"
    assert err.offset == 8 + 2 + 1


def test_table_limits_and_types():
    m = decode_module(HEADER + section(4, vec([b"\x70\x00\x02", b"\x6f\x05\x01\x03"])))
    assert m.tables[0].type.elem == RefType(True, "func")
    assert m.tables[0].type.limits == Limits(2, None, False)
    assert m.tables[1].type.elem == RefType(True, "extern")
    assert m.tables[1].type.limits == Limits(1, 3, True)
    assert "malformed limits flags" in malformed(HEADER + section(4, vec([b"\x70\x02\x00"]))).message


# --------------------------------------------------------------------------
# code and error offsets
# --------------------------------------------------------------------------

def test_instruction_offsets_recorded():
    body = b"\x41\x05\x41\x06\x6a\x0b"  # i32.const 5; i32.const 6; i32.add; end
    data = one_func(body)
    m = decode_module(data)
    code = m.codes[0]
    start = data.index(b"\x00" + body) + 1
    assert code.offsets == [start, start + 2, start + 4, start + 5]
    assert [i[0].name for i in code.body] == ["i32.const", "i32.const", "i32.add", "end"]
    assert code.end == len(data)


def test_illegal_opcode_offset():
    data = one_func(b"\x41\x00\xff\x0b")
    err = malformed(data)
    assert err.message.startswith("illegal opcode ff")
    assert err.offset == data.index(b"\xff")


def test_illegal_prefixed_opcode():
    data = one_func(b"\xfd\x80\x04\x0b")  # SIMD sub-opcode 512 does not exist
    err = malformed(data)
    assert err.message.startswith("illegal opcode fd")
    assert err.offset == data.index(b"\xfd")


def test_missing_end_and_trailing_bytes():
    # a body that stops without `end`: inside the file / at the end of the file
    trailer = section(0, name("x"))
    assert "END opcode expected" in malformed(one_func(b"\x41\x00") + trailer).message
    assert "unexpected end" in malformed(one_func(b"\x41\x00")).message
    err = malformed(one_func(b"\x41\x00\x0b\x01"))
    assert "operators remaining after end of function" in err.message


def test_else_outside_if():
    err = malformed(one_func(b"\x05\x0b"))
    assert "else" in err.message


def test_memarg_flags():
    mem = section(5, vec([b"\x00\x01"]))
    body = b"\x41\x00\x28\x80\x01\x00\x1a\x0b"  # i32.load with flags 128
    code = b"\x00" + body
    data = HEADER + TYPE_VOID + section(3, vec([b"\x00"])) + mem + section(10, vec([uleb(len(code)) + code]))
    err = malformed(data)
    assert err.message == "malformed memop flags"
    assert err.offset == data.index(b"\x28\x80\x01") + 1


def test_multi_memory_memarg():
    mems = section(5, vec([b"\x00\x01", b"\x00\x01"]))
    body = b"\x41\x00\x28\x42\x01\x08\x1a\x0b"  # i32.load align=2 mem=1 offset=8
    code = b"\x00" + body
    m = decode_module(HEADER + TYPE_VOID + section(3, vec([b"\x00"])) + mems +
                      section(10, vec([uleb(len(code)) + code])))
    assert m.codes[0].body[1][1:] == (1, 8, 2)


def test_too_many_locals():
    locals_ = b"\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e"
    err = malformed(one_func(b"\x0b", TYPE_VOID, locals_))
    assert err.message == "too many locals"


def test_data_index_outside_code_does_not_need_data_count():
    # data.drop in a global initializer is invalid (not constant), not malformed
    glob = b"\x7f\x00" + b"\xfc\x09\x00" + b"\x41\x00\x0b"
    data = (HEADER + TYPE_VOID + section(3, vec([b"\x00"])) + section(5, vec([b"\x00\x01"])) +
            section(6, vec([glob])) + section(10, vec([b"\x02\x00\x0b"])) +
            section(11, vec([b"\x01\x00"])))
    m = decode_module(data)
    assert m.data_count is None
    with pytest.raises(ValidationError, match="constant expression required"):
        validate_module(m)
