"""Bit-accurate LNS arithmetic: the golden model of the LNS-Madam datapath (Zhao et al., "LNS-Madam:
Low-Precision Training in Logarithmic Number System using Multiplicative Weight Update", and its patent
US 11,886,980; docs/references.md section 10). Every function is exact integer arithmetic on codes of an
`LNSFormat` (code layout in lns_format.py; docs/lns.md has the bit-level description for RTL):

* `lns_mul`: sign xor, magnitude add minus the bias, saturation to [1, max_mag] (a product of non-zero
  values never becomes 0), zero if either operand is zero, NaN code if either is NaN.
* `lns_table` / `lns_to_fixed`: linear value = T[r] << q with T[r] = round(2^(r/gamma) * 2^F) (Q1.F,
  gamma entries). With `mitchell_bits = b > 0` the low b remainder bits use Mitchell's approximation
  2^(f) ~ 1 + f: 2^(r/gamma) ~ T[rh << b] * (gamma + rl) / gamma, r = rh * 2^b + rl.
* `lns_dot`: the bucketed dot product. Products e = mag_a + mag_b (no bias subtracted) are split into
  q = e >> log2(gamma), r = e & (gamma - 1); bucket (sign, r >> b) accumulates the integer 1 << q
  (or (gamma + rl) << q with Mitchell bits); after the reduction each bucket is multiplied once by its
  table constant, positives minus negatives. The result is an exact integer `acc` with a binary point
  `frac_bits`: value = acc * 2^-frac_bits.
* `lns_from_fixed`: back-conversion of such an integer: leading one -> q, the (F+1)-bit mantissa
  truncated below the leading one is compared with the midpoints ceil((T[j] + T[j+1]) / 2) of the same
  table (ties to the larger code) -> r; clamped to [min, max]; exact 0 -> the zero code.

Integers are Python ints (object arrays) so no width limit hides an overflow; the hardware widths
follow from the format (docs/lns.md).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import lns_exact
from ._arrays import Box, rebox, unbox_codes
from .lns_format import LNSFormat

__all__ = ["lns_table", "lns_mul", "lns_to_fixed", "lns_dot", "lns_from_fixed", "lns_dot_code", "LNSDot",
           "default_frac_bits"]


def default_frac_bits(fmt: LNSFormat) -> int:
    """log2(gamma) + 5: the table's rounding error (<= 2^-(F+1) relative) stays below ~2 % of one code
    step (2^(1/gamma) - 1 ~ 0.69 / gamma). lns8 -> Q1.8, as in docs/references.md section 10."""
    return fmt.rem_bits + 5


def _check_fmt(fmt, what="fmt") -> LNSFormat:
    if not isinstance(fmt, LNSFormat):
        raise ValueError(f"{what} must be an LNSFormat, got {type(fmt).__name__}")
    return fmt


def _check_frac(frac_bits, fmt):
    f = default_frac_bits(fmt) if frac_bits is None else frac_bits
    if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not 0 <= f <= 64:
        raise ValueError(f"frac_bits={frac_bits!r}: the table width must be an integer in 0..64")
    return int(f)


def _check_mitchell(mitchell_bits, fmt):
    if isinstance(mitchell_bits, bool) or not isinstance(mitchell_bits, (int, np.integer)) \
            or not 0 <= mitchell_bits <= fmt.rem_bits:
        raise ValueError(f"mitchell_bits={mitchell_bits!r}: allowed 0..{fmt.rem_bits} (the remainder bits "
                         f"of {fmt.name})")
    return int(mitchell_bits)


def lns_table(gamma: int, frac_bits: int) -> np.ndarray:
    """T[r] = round(2^(r/gamma) * 2^frac_bits), r = 0..gamma-1 (exact; object array of Python ints)."""
    return np.array(lns_exact.table(int(gamma), int(frac_bits)), dtype=object)


def _codes(fmt, c, what):
    arr, box = unbox_codes(c, what)
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << fmt.bits):
        raise ValueError(f"{what}: codes of {fmt.name} lie in [0, {1 << fmt.bits})")
    return arr, box


def _split(fmt, c):
    return (c >> (fmt.bits - 1)) & 1, c & fmt.max_mag


def lns_mul(fmt: LNSFormat, a, b, b_fmt: LNSFormat | None = None, out_fmt: LNSFormat | None = None):
    """Codes of a * b: sign xor, magnitude add, saturation at both ends (in out_fmt, default fmt)."""
    b_fmt, out_fmt = _check_fmt(b_fmt or fmt, "b_fmt"), _check_fmt(out_fmt or fmt, "out_fmt")
    _check_fmt(fmt)
    if not fmt.gamma == b_fmt.gamma == out_fmt.gamma:
        raise ValueError("lns_mul: the formats must share gamma (the base of the logarithm)")
    ca, box = _codes(fmt, a, "a")
    cb, _ = _codes(b_fmt, b, "b")
    ca, cb = np.broadcast_arrays(ca, cb)
    (sa, ma), (sb, mb) = _split(fmt, ca), _split(b_fmt, cb)
    mag = ma + mb - (fmt.qbias + b_fmt.qbias - out_fmt.qbias) * fmt.gamma
    mag = np.clip(mag, 1, out_fmt.max_mag)
    code = np.where((ma == 0) | (mb == 0), 0, ((sa ^ sb) << (out_fmt.bits - 1)) | mag)
    nan = (ca == fmt.nan_code) | (cb == b_fmt.nan_code)
    code = np.where(nan, out_fmt.nan_code, code).astype(np.int64)
    if tuple(box.shape) != code.shape:  # b broadcast a up: answer in a's container kind, b's shape
        box = Box("numpy" if box.kind == "scalar" else box.kind, code.shape, box.device)
    return rebox(code, box)


def lns_to_fixed(fmt: LNSFormat, codes, frac_bits: int | None = None, mitchell_bits: int = 0):
    """(ints, frac): the linear values of `codes` as exact integers, value = int * 2^-frac, computed
    as the hardware does: table constant (frac_bits wide, Mitchell for the low bits) shifted left by q.
    frac = frac_bits + qbias (+ log2(gamma) when mitchell_bits > 0). NaN codes raise ValueError."""
    _check_fmt(fmt)
    F, mb = _check_frac(frac_bits, fmt), _check_mitchell(mitchell_bits, fmt)
    c, _ = _codes(fmt, codes, "codes")
    if (c == fmt.nan_code).any():
        raise ValueError(f"lns_to_fixed: NaN code {fmt.nan_code} in codes; the datapath has no NaN")
    s, mag = _split(fmt, c)
    q, r = mag >> fmt.rem_bits, mag & (fmt.gamma - 1)
    T = lns_exact.table(fmt.gamma, F)
    if mb:
        vals = [(T[(rr >> mb) << mb] * (fmt.gamma + (rr & ((1 << mb) - 1)))) << qq
                for qq, rr in zip(q.ravel().tolist(), r.ravel().tolist())]
    else:
        vals = [T[rr] << qq for qq, rr in zip(q.ravel().tolist(), r.ravel().tolist())]
    out = np.array([0 if m == 0 else (-v if ss else v) for v, m, ss in
                    zip(vals, mag.ravel().tolist(), s.ravel().tolist())], dtype=object).reshape(c.shape)
    return out, F + fmt.qbias + (fmt.rem_bits if mb else 0)


@dataclass(frozen=True)
class LNSDot:
    """Result of `lns_dot` for operands of shape (..., K): `acc` (...) exact integers, value =
    acc * 2^-frac_bits; `buckets` (..., 2, nb): per sign (0 = +, 1 = -) and remainder group the integer
    sum of 1 << q (or (gamma + rl) << q); `constants` (nb,): the table constant of each group."""
    acc: np.ndarray
    frac_bits: int
    buckets: np.ndarray
    constants: tuple

    def fractions(self) -> np.ndarray:
        """The values as exact `fractions.Fraction`s."""
        d = 1 << self.frac_bits
        return np.array([Fraction(int(a), d) for a in self.acc.ravel()], dtype=object).reshape(self.acc.shape)


def lns_dot(fmt: LNSFormat, a, b, frac_bits: int | None = None, mitchell_bits: int = 0,
            b_fmt: LNSFormat | None = None) -> LNSDot:
    """The bucketed dot product of the LNS-Madam PE along the last axis of a and b (broadcast)."""
    b_fmt = _check_fmt(b_fmt or fmt, "b_fmt")
    _check_fmt(fmt)
    if fmt.gamma != b_fmt.gamma:
        raise ValueError("lns_dot: a and b must share gamma")
    F, mb = _check_frac(frac_bits, fmt), _check_mitchell(mitchell_bits, fmt)
    ca, box_a = _codes(fmt, a, "a")
    cb, box_b = _codes(b_fmt, b, "b")
    if "scalar" in (box_a.kind, box_b.kind) or ca.ndim == 0 or cb.ndim == 0:
        raise ValueError("lns_dot: a and b need at least one axis (the reduction axis is the last)")
    ca, cb = np.broadcast_arrays(ca, cb)
    if (ca == fmt.nan_code).any() or (cb == b_fmt.nan_code).any():
        raise ValueError("lns_dot: NaN code in the operands; the LNS datapath has no NaN")
    lead, K = ca.shape[:-1], ca.shape[-1]
    ca, cb = ca.reshape(-1, K), cb.reshape(-1, K)
    (sa, ma), (sb, mbag) = _split(fmt, ca), _split(b_fmt, cb)
    g, nb = fmt.gamma, fmt.gamma >> mb
    e = ma + mbag                                   # product exponent code, bias not subtracted
    q, r = e >> fmt.rem_bits, e & (g - 1)
    weight = (g + (r & ((1 << mb) - 1))) if mb else np.ones_like(e)
    live = (ma > 0) & (mbag > 0)
    nq = int((fmt.max_mag + b_fmt.max_mag) >> fmt.rem_bits) + 1
    counts = np.zeros((ca.shape[0], 2, nb, nq), dtype=np.int64)
    rows = np.broadcast_to(np.arange(ca.shape[0])[:, None], e.shape)
    np.add.at(counts, (rows[live], (sa ^ sb)[live], (r >> mb)[live], q[live]), weight[live])
    pow2 = np.array([1 << k for k in range(nq)], dtype=object)
    buckets = counts.astype(object) @ pow2            # exact: Python ints
    T = lns_exact.table(g, F)
    consts = tuple(T[h << mb] for h in range(nb))
    acc = (buckets[:, 0, :] - buckets[:, 1, :]) @ np.array(consts, dtype=object)
    frac = F + fmt.qbias + b_fmt.qbias + (fmt.rem_bits if mb else 0)
    return LNSDot(np.asarray(acc, dtype=object).reshape(lead), frac, buckets.reshape(lead + (2, nb)), consts)


def lns_from_fixed(fmt: LNSFormat, ints, frac_bits: int, table_frac_bits: int | None = None) -> np.ndarray:
    """LNS codes (int64 array) of the exact values ints * 2^-frac_bits, by the hardware's conversion:
    leading one, truncated (F+1)-bit mantissa, nearest table entry (table width F = table_frac_bits)."""
    _check_fmt(fmt)
    F = _check_frac(table_frac_bits, fmt)
    g = fmt.gamma
    T = list(lns_exact.table(g, F)) + [1 << (F + 1)]
    H = [(T[j] + T[j + 1] + 1) // 2 for j in range(g)]
    arr = np.asarray(ints, dtype=object)
    out = np.zeros(arr.shape, dtype=np.int64)
    for idx, n in np.ndenumerate(arr):
        n = int(n)
        if n == 0:
            continue
        a = abs(n)
        p = a.bit_length() - 1
        m = a >> (p - F) if p >= F else a << (F - p)
        mag = (p - int(frac_bits) + fmt.qbias) * g + bisect.bisect_right(H, m)
        mag = min(max(mag, 1), fmt.max_mag)
        out[idx] = mag | (fmt.nan_code if n < 0 else 0)
    return out


def lns_dot_code(fmt: LNSFormat, a, b, out_fmt: LNSFormat | None = None, frac_bits: int | None = None,
                 mitchell_bits: int = 0, b_fmt: LNSFormat | None = None, scale_exp: int = 0) -> np.ndarray:
    """`lns_dot` then `lns_from_fixed` into out_fmt (default fmt) of the value * 2^scale_exp (the
    product of power-of-two tensor scales divided by the output scale)."""
    out_fmt = _check_fmt(out_fmt or fmt, "out_fmt")
    if isinstance(scale_exp, bool) or not isinstance(scale_exp, (int, np.integer)):
        raise ValueError(f"scale_exp={scale_exp!r} must be an integer (scales are powers of two)")
    d = lns_dot(fmt, a, b, frac_bits, mitchell_bits, b_fmt)
    return lns_from_fixed(out_fmt, d.acc, d.frac_bits - int(scale_exp), _check_frac(frac_bits, fmt))
