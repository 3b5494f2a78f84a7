"""Bit and trit packing of integer codes (the byte layout of every lowbit export; docs/export.md).

Bit packing (any width 1..32): codes form one little-endian bit stream. Bit j of element i is stream
bit p = i * bits + j, stored in byte p // 8 at bit p % 8 (bit 0 = least significant). So two fp4/int4
codes share a byte with element 2k in the low nibble (the ONNX INT4/FLOAT4E2M1 and PyTorch
float4_e2m1fn_x2 convention), 16- and 32-bit codes are plain little-endian words, and widths that do not
divide 8 (fp6, 3-bit, ...) run across byte boundaries with no gaps. Unused high bits of the last byte
are zero, and the loader refuses a stream whose padding bits are not.

Trit packing (ternary, BitNet b1.58 "5 trits per byte", 1.6 bits per weight): a trit t in {-1, 0, +1}
is the base-3 digit d = t + 1; byte k holds elements 5k..5k+4 as sum_j d_(5k+j) * 3^j (element 5k is
the least significant digit), so every byte is < 243. Missing digits of the last byte are 0.
"""
from __future__ import annotations

import numpy as np

__all__ = ["packed_nbytes", "pack_bits", "unpack_bits", "trit_nbytes", "pack_trits", "unpack_trits"]

_CHUNK = 1 << 18  # elements per chunk (a multiple of 8, so every chunk starts on a byte boundary)
_POW3 = 3 ** np.arange(5, dtype=np.int64)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ValueError(f"bits={bits!r}: codes are packed at 1..32 bits")
    return int(bits)


def packed_nbytes(count: int, bits: int) -> int:
    return (int(count) * _check_bits(bits) + 7) // 8


def pack_bits(codes, bits: int) -> bytes:
    """Pack integer codes in [0, 2**bits) (any shape, C order) into the LSB-first stream above."""
    bits = _check_bits(bits)
    c = np.ascontiguousarray(codes, dtype=np.int64).reshape(-1)
    if c.size and (c.min() < 0 or c.max() >= (1 << bits)):
        bad = c[(c < 0) | (c >= (1 << bits))][0]
        raise ValueError(f"code {int(bad)} does not fit {bits} bits; codes must lie in [0, {1 << bits})")
    if bits in (8, 16, 32):  # whole little-endian words: no bit shuffling needed
        return c.astype(f"<u{bits // 8}").tobytes()
    shifts = np.arange(bits, dtype=np.uint64)
    out = []
    for s in range(0, c.size, _CHUNK):
        part = c[s:s + _CHUNK].astype(np.uint64)
        bitmat = ((part[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
        out.append(np.packbits(bitmat.reshape(-1), bitorder="little").tobytes())
    return b"".join(out)


def unpack_bits(data, bits: int, count: int, what: str = "codes") -> np.ndarray:
    """Inverse of `pack_bits`: `count` int64 codes. The length and the padding bits are checked."""
    bits = _check_bits(bits)
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    need = packed_nbytes(count, bits)
    if buf.size != need:
        raise ValueError(f"{what}: {buf.size} bytes found, {need} expected for {count} codes of {bits} bits")
    if bits in (8, 16, 32):
        return buf.view(f"<u{bits // 8}").astype(np.int64)
    tail = count * bits % 8
    if tail and buf[-1] >> tail:
        raise ValueError(f"{what}: the {8 - tail} padding bits of the last byte are not zero "
                         f"(byte 0x{int(buf[-1]):02x}); not a lowbit bit stream")
    weights = (np.uint64(1) << np.arange(bits, dtype=np.uint64))
    out = np.empty(count, dtype=np.int64)
    step = _CHUNK * bits // 8
    for i, s in enumerate(range(0, count, _CHUNK)):
        n = min(_CHUNK, count - s)
        stream = np.unpackbits(buf[i * step:i * step + (n * bits + 7) // 8], bitorder="little")
        bitmat = stream[:n * bits].reshape(n, bits).astype(np.uint64)
        out[s:s + n] = (bitmat * weights).sum(axis=1).astype(np.int64)
    return out


def trit_nbytes(count: int) -> int:
    return (int(count) + 4) // 5


def pack_trits(trits) -> bytes:
    """Pack values in {-1, 0, +1} five to a byte (base 3, first element least significant)."""
    t = np.ascontiguousarray(trits, dtype=np.int64).reshape(-1)
    if t.size and (t.min() < -1 or t.max() > 1):
        raise ValueError(f"trit {int(t[(t < -1) | (t > 1)][0])} is not in {{-1, 0, +1}}")
    d = t + 1
    pad = (-d.size) % 5
    d = np.concatenate([d, np.zeros(pad, np.int64)]).reshape(-1, 5)
    return (d @ _POW3).astype(np.uint8).tobytes()


def unpack_trits(data, count: int, what: str = "trits") -> np.ndarray:
    """Inverse of `pack_trits`: `count` values in {-1, 0, +1} (int64). Length and digits are checked."""
    buf = np.frombuffer(bytes(data), dtype=np.uint8).astype(np.int64)
    need = trit_nbytes(count)
    if buf.size != need:
        raise ValueError(f"{what}: {buf.size} bytes found, {need} expected for {count} trits at 5 per byte")
    if buf.size and buf.max() >= 243:
        i = int(np.argmax(buf >= 243))
        raise ValueError(f"{what}: byte {i} is 0x{int(buf[i]):02x}; 5 base-3 digits never exceed 242")
    digits = (buf[:, None] // _POW3) % 3
    flat = digits.reshape(-1)
    if flat[count:].any():
        raise ValueError(f"{what}: the unused digits of the last byte are not zero; not a lowbit trit stream")
    return flat[:count] - 1
