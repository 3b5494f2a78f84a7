"""Reading and writing Verilog memory files (IEEE 1364-2005 section 17.2.9, `$readmemh`/`$writememh`).

One hexadecimal word per line, no address markers. Reading skips `//` comments and `@addr` lines (Icarus
writes `// 0x...` address comments every 16 words) and reports x/z digits as unknown instead of guessing.
Words up to 64 bits go through vectorized numpy (a million 16-bit words in well under a second); wider
words are Python ints in object arrays.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["write_hex", "read_hex", "hex_digits"]

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UNKNOWN = 16
_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _LUT[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _LUT[_c] = 10 + _i
for _c in b"xXzZ":
    _LUT[_c] = _UNKNOWN


def hex_digits(width: int) -> int:
    return max(1, (int(width) + 3) // 4)


def _as_words(values, width: int) -> np.ndarray:
    arr = np.asarray(values)
    if width <= 64 and arr.dtype != object:
        return arr.astype(np.uint64, copy=False).reshape(-1)
    return np.asarray([int(v) for v in arr.reshape(-1)], dtype=object)


def write_hex(path, values, width: int) -> None:
    """Write `values` (non-negative integers < 2**width) one per line, atomically."""
    words = _as_words(values, width)
    nd = hex_digits(width)
    if words.dtype != object:
        shifts = np.arange(nd - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
        digits = ((words[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)
        table = np.empty((words.size, nd + 1), dtype=np.uint8)
        table[:, :nd] = _DIGITS[digits]
        table[:, nd] = ord("\n")
        data = table.tobytes()
    else:
        data = "".join(f"{int(v):0{nd}x}\n" for v in words).encode()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=".hex")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_hex(path, width: int, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(values, unknown) read from a memory file: uint64 values for width <= 64 (else object ints) and a
    bool mask of words that had x/z digits (their value is 0 there)."""
    with open(path, "rb") as f:
        raw = f.read()
    lines = [ln.strip() for ln in raw.split(b"\n")]
    lines = [ln for ln in lines if ln and not ln.startswith((b"//", b"@"))]
    if count is not None and len(lines) < count:
        raise ValueError(f"{path}: {len(lines)} words, expected {count}")
    if count is not None:
        lines = lines[:count]
    nd = hex_digits(width)
    if not lines:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    lens = {len(ln) for ln in lines}
    if width <= 64 and len(lens) == 1:
        d = lens.pop()
        codes = _LUT[np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), d)]
        if (codes == 255).any():
            raise ValueError(f"{path}: not a hexadecimal memory file")
        unknown = (codes == _UNKNOWN).any(axis=1)
        codes = np.where(codes == _UNKNOWN, 0, codes).astype(np.uint64)
        shifts = np.arange(d - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
        vals = np.bitwise_or.reduce(codes << shifts[None, :], axis=1) if d > 1 else codes[:, 0]
        mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        return vals & mask, unknown
    vals, unknown = [], []
    for ln in lines:
        txt = ln.decode()
        bad = any(c in "xXzZ" for c in txt)
        unknown.append(bad)
        vals.append(0 if bad else int(txt, 16))
    out = np.asarray(vals, dtype=object) if width > 64 else np.asarray(vals, dtype=np.uint64)
    if len(lines) and max(len(ln) for ln in lines) > nd + 1:
        raise ValueError(f"{path}: words wider than {width} bits")
    return out, np.asarray(unknown, dtype=bool)
