"""Bit and trit packing (docs/export.md "Bit and byte order") against independent references: a
bit-by-bit packer written from the documented rule, ONNX's own 2/4/6-bit packing (numpy_helper.from_array
of ml_dtypes arrays) and a digit-by-digit base-3 packer."""
import ml_dtypes
import numpy as np
import pytest
from onnx import numpy_helper

from lowbit.export import pack_bits, pack_trits, unpack_bits, unpack_trits


def naive_pack(codes, bits):
    """The documented rule, one bit at a time: bit j of element i is stream bit i*bits+j, stored in
    byte p // 8 at bit p % 8."""
    out = bytearray((len(codes) * bits + 7) // 8)
    for i, c in enumerate(codes):
        for j in range(bits):
            p = i * bits + j
            out[p // 8] |= ((int(c) >> j) & 1) << (p % 8)
    return bytes(out)


@pytest.mark.parametrize("bits", list(range(1, 33)))
def test_pack_bits_matches_the_documented_rule_at_every_width(bits):
    rng = np.random.default_rng(bits)
    for count in (0, 1, 2, 3, 7, 9, 17, 64):
        codes = rng.integers(0, 1 << bits, size=count, dtype=np.int64)
        if count >= 2:
            codes[0], codes[1] = 0, (1 << bits) - 1  # both extremes
        packed = pack_bits(codes, bits)
        assert packed == naive_pack(codes.tolist(), bits)
        assert np.array_equal(unpack_bits(packed, bits, count), codes)


def test_pack_bits_chunk_boundaries_roundtrip():
    # More elements than one internal chunk, at a width that crosses bytes.
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 1 << 6, size=(1 << 18) + 13, dtype=np.int64)
    packed = pack_bits(codes, 6)
    assert packed[:300] == naive_pack(codes[:400].tolist(), 6)[:300]
    assert np.array_equal(unpack_bits(packed, 6, codes.size), codes)


@pytest.mark.parametrize("dtype,bits", [(ml_dtypes.int4, 4), (ml_dtypes.uint4, 4), (ml_dtypes.float4_e2m1fn, 4),
                                        (ml_dtypes.int2, 2), (ml_dtypes.float6_e2m3fn, 6),
                                        (ml_dtypes.float6_e3m2fn, 6)])
def test_pack_bits_equals_onnx_packing(dtype, bits):
    rng = np.random.default_rng(bits)
    for count in (1, 2, 3, 5, 8, 11):
        codes = rng.integers(0, 1 << bits, size=count).astype(np.uint8)
        arr = codes.view(dtype) if dtype not in (ml_dtypes.int4, ml_dtypes.int2) else \
            (codes.astype(np.int8) - ((codes >= (1 << (bits - 1))) << bits).astype(np.int8)).astype(dtype)
        assert pack_bits(codes, bits) == numpy_helper.from_array(arr).raw_data


def test_unpack_bits_refuses_wrong_lengths_and_dirty_padding():
    packed = pack_bits(np.arange(5), 3)  # 15 bits -> 2 bytes, 1 padding bit
    with pytest.raises(ValueError, match="1 bytes found, 2 expected"):
        unpack_bits(packed[:1], 3, 5)
    with pytest.raises(ValueError, match="3 bytes found, 2 expected"):
        unpack_bits(packed + b"\0", 3, 5)
    dirty = packed[:1] + bytes([packed[1] | 0x80])
    with pytest.raises(ValueError, match="padding bits"):
        unpack_bits(dirty, 3, 5)


def test_pack_bits_refuses_codes_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit 4 bits"):
        pack_bits([3, 16], 4)
    with pytest.raises(ValueError, match="does not fit"):
        pack_bits([-1], 8)
    with pytest.raises(ValueError, match="1..32"):
        pack_bits([0], 33)


def naive_trits(vals):
    out = bytearray((len(vals) + 4) // 5)
    for i, t in enumerate(vals):
        out[i // 5] += (t + 1) * 3 ** (i % 5)
    return bytes(out)


def test_pack_trits_base3_five_per_byte():
    rng = np.random.default_rng(3)
    for count in (0, 1, 4, 5, 6, 10, 23):
        t = rng.integers(-1, 2, size=count)
        packed = pack_trits(t)
        assert packed == naive_trits(t.tolist())
        assert len(packed) == (count + 4) // 5
        assert np.array_equal(unpack_trits(packed, count), t)
    assert pack_trits([1, 1, 1, 1, 1]) == bytes([242])  # all digits 2: 2 * (1+3+9+27+81)


def test_unpack_trits_refuses_foreign_bytes():
    with pytest.raises(ValueError, match="never exceed 242"):
        unpack_trits(bytes([243]), 5)
    with pytest.raises(ValueError, match="unused digits"):
        unpack_trits(bytes([2 * 81]), 3)  # a digit in position 4 of a 3-trit stream
    with pytest.raises(ValueError, match="2 bytes found, 1 expected"):
        unpack_trits(bytes(2), 4)
    with pytest.raises(ValueError, match="not in"):
        pack_trits([2])
