"""Exactly rounded arithmetic on format codes: the golden models of lowbit's RTL units (hw/rtl).

Each operation computes the exact real result and rounds it ONCE with the format's own rounding
(`Format.encode`, so every mode incl. stochastic rounding with caller-given `random_bits`, e.g. an LFSR
stream from `lowbit.numerics.lfsr`), as IEEE 754-2019 section 4.3 requires of a correctly rounded op.

- `mul`: the float64 product of two values of <= 26 significand bits is exact (and in range), so
  rounding it once is exact.
- `add`: float64 `a + b` is NOT exact when the exponents are far apart, and stochastic or directed
  rounding looks at the exact dropped bits (a tiny negative addend turns "round up never" into "round
  up almost always"). The exact sum is carried as its round-to-odd value at 53 bits, found with
  TwoSum (Knuth, TAOCP vol. 2, 4.2.2): s = RN(a + b) and err = a + b - s exactly; of s and its float64
  neighbour towards err, the odd one. Round-to-odd at p + 2 or more bits followed by a rounding to p
  bits equals a direct rounding (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums:
  proved algorithms using rounding to odd", IEEE TC 2008); it keeps the exact value's floor and its
  inexactness at every coarser position, so ties, directed modes and the top `rbits` bits of the
  dropped fraction (stochastic rounding, rbits <= 53 - p - 2) come out as for the exact sum.
- `round_exact`: an exact integer n times 2^e (Python ints) rounded once, through the same round-to-odd
  value (used for the MX dot product, whose exact sum can need ~70 bits).
- Subnormals (`subnormals=`, the contract of most hardware units): "ieee" keeps them; "daz" (denormals
  are zero) reads a subnormal operand as a zero of its sign; "ftz" (flush to zero) replaces a tiny result
  by a zero of the exact result's sign; "ftz_daz" does both. A nonzero result is tiny (IEEE 754-2019
  section 7.5) "before" rounding when its exact magnitude is below the smallest normal, "after" rounding
  when it is still below it after rounding to the format's precision with an unbounded exponent range
  (`tininess=`). Formats without subnormals (e8m0fnu) take only "ieee". The flushed zero is +0 where the
  format has no -0 (fnuz).
- Zero signs follow IEEE 754-2019 section 6.3 (x + (-x) = +0, or -0 when rounding toward -inf); NaN
  results are the format's canonical positive NaN code (the RTL's convention).
- `mx_dot`: OCP MX v1.0 section 6 dot product of two blocks with E8M0 scales, rounded once to fp32.
- `ternary_dot`, `trit_plane_dot`: exact integer dot products of trit codes (ternary.py) with int8 x.
- `int_matmul`: the exact integer product of two matrices, wrapped into an accumulator of `acc_bits`
  (the systolic PE's two's-complement register), as unsigned codes.
"""
from __future__ import annotations

import math

import numpy as np

from .floatfmt import FloatFormat
from .format import DEFAULT_RBITS
from .registry import get_format
from .rounding import Rounding, parse_rounding, round_magnitude

__all__ = ["mul", "add", "round_exact", "exact_sum_odd", "mx_dot", "ternary_dot", "trit_plane_dot", "int_matmul",
           "SUBNORMALS", "TININESS", "check_subnormals", "denormals_are_zero", "flush_tiny"]

SUBNORMALS = ("ieee", "ftz", "daz", "ftz_daz")
TININESS = ("before", "after")


def _float_format(fmt) -> FloatFormat:
    f = get_format(fmt)
    if not isinstance(f, FloatFormat):
        raise ValueError(f"format {getattr(f, 'name', f)!r} is not a float format; arith.mul/add take "
                         "FloatFormat values (bf16, fp8_e4m3fn, fp8_e5m2, fp4_e2m1fn, ...)")
    if f.mbits > 25:
        raise ValueError(f"{f.name}: mbits={f.mbits}; exact float64 products need mbits <= 25")
    return f


def _canonical_nan(codes: np.ndarray, values: np.ndarray, f: FloatFormat) -> np.ndarray:
    if f.nan_code is None:
        return codes
    return np.where(np.isnan(values), f.nan_code, codes)


def check_subnormals(fmt, subnormals: str = "ieee", tininess: str = "after") -> tuple[bool, bool]:
    """(daz, ftz) of a subnormal contract; ValueError naming the value and what is allowed."""
    if subnormals not in SUBNORMALS:
        raise ValueError(f"subnormals={subnormals!r} unknown; allowed: {', '.join(SUBNORMALS)}")
    if tininess not in TININESS:
        raise ValueError(f"tininess={tininess!r} unknown; allowed: {', '.join(TININESS)}")
    f = get_format(fmt)
    if subnormals != "ieee" and not (isinstance(f, FloatFormat) and f.subnormals and f.mbits > 0):
        raise ValueError(f"subnormals={subnormals!r}: {getattr(f, 'name', fmt)} has no subnormals; it takes "
                         "only 'ieee'")
    return subnormals in ("daz", "ftz_daz"), subnormals in ("ftz", "ftz_daz")


def denormals_are_zero(f: FloatFormat, x: np.ndarray) -> np.ndarray:
    """Decoded values with every subnormal replaced by a zero of its sign (+0 where there is no -0)."""
    x = np.asarray(x, dtype=np.float64)
    sub = (x != 0) & (np.abs(x) < f.min_normal)
    zero = 0.0 if (f.policy == "fnuz" or not f.signed) else np.copysign(0.0, x)
    return np.where(sub, zero, x)


def flush_tiny(f: FloatFormat, codes: np.ndarray, v: np.ndarray, rounding, tininess: str = "after",
               rbits: int = DEFAULT_RBITS, random_bits=None) -> np.ndarray:
    """Codes with every tiny result replaced by a zero of the sign of the exact value `v` (float64, exact
    or rounded to odd at 53 bits: either keeps the comparisons with the smallest normal and the rounding
    at the format's precision exact). Tininess "before": 0 < |v| < min normal; "after": |v| rounded to
    the format's precision with an unbounded exponent (same mode, same random bits) is below it."""
    v = np.asarray(v, dtype=np.float64)
    a = np.abs(v)
    tiny = np.isfinite(v) & (a > 0) & (a < f.min_normal)
    if tininess == "after" and tiny.any():
        mode = parse_rounding(rounding)
        # In the binade below min normal the precision's grid step is 2^(emin - 1 - mbits): scaled by
        # it, magnitudes below min normal lie under 2^(mbits + 1), and reaching it means "not tiny".
        t = np.ldexp(np.where(tiny, a, 0.0), f.mbits + 1 - f.emin)
        rand = None
        if mode is Rounding.STOCHASTIC:
            rand = np.broadcast_to(np.asarray(random_bits, dtype=np.int64), v.shape)
        r = round_magnitude(t, np.signbit(v), mode, rbits, rand)
        tiny &= r < 2.0 ** (f.mbits + 1)
    sign = 1 << (f.bits - 1)
    zero = np.where(np.signbit(v) & f.signed & (f.policy != "fnuz"), sign, 0)
    return np.where(tiny, zero, codes).astype(np.int64)


def _encode(f, v, rounding, overflow, rbits, random_bits, generator, offset, ftz=False, tininess="after"):
    codes = f.encode(v, rounding=rounding, overflow=overflow, generator=generator, rbits=rbits,
                     random_bits=random_bits, offset=offset)
    codes = _canonical_nan(np.asarray(codes, dtype=np.int64), np.asarray(v), f)
    if ftz:
        if parse_rounding(rounding) is Rounding.STOCHASTIC and random_bits is None and tininess == "after":
            raise ValueError("tininess='after' with stochastic rounding needs the caller's random_bits")
        codes = flush_tiny(f, codes, v, rounding, tininess, rbits, random_bits)
    return codes


def _decode(f, codes) -> np.ndarray:
    return np.asarray(f.decode(np.asarray(codes, dtype=np.int64)), dtype=np.float64)


def _operands(f, a, b, daz):
    x, y = _decode(f, a), _decode(f, b)
    return (denormals_are_zero(f, x), denormals_are_zero(f, y)) if daz else (x, y)


def mul(a, b, fmt, rounding="nearest_even", overflow=None, rbits: int = DEFAULT_RBITS, random_bits=None,
        generator=None, offset: int = 0, subnormals: str = "ieee", tininess: str = "after") -> np.ndarray:
    """Codes of round(a * b) for codes a, b of float format `fmt` (int64 array of a's shape);
    `subnormals`/`tininess`: see the module docstring."""
    f = _float_format(fmt)
    daz, ftz = check_subnormals(f, subnormals, tininess)
    x, y = _operands(f, a, b, daz)
    with np.errstate(invalid="ignore"):
        p = x * y  # exact: <= 52 significand bits, exponents far inside float64's range
    return _encode(f, p, rounding, overflow, rbits, random_bits, generator, offset, ftz, tininess)


def exact_sum_odd(x, y) -> np.ndarray:
    """float64 arrays -> the exact x + y rounded to odd at 53 bits (x + y itself where it is exact)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        s = x + y
        bp = s - x
        err = (x - (s - bp)) + (y - bp)
    inexact = np.isfinite(s) & (err != 0)
    toward = np.nextafter(s, np.where(err > 0, np.inf, -np.inf))
    s_odd = (s.view(np.int64) & 1) == 1
    return np.where(inexact, np.where(s_odd, s, toward), s)


def add(a, b, fmt, rounding="nearest_even", overflow=None, rbits: int = DEFAULT_RBITS, random_bits=None,
        generator=None, offset: int = 0, subnormals: str = "ieee", tininess: str = "after") -> np.ndarray:
    """Codes of round(a + b) for codes a, b of float format `fmt`, rounded once from the exact sum;
    `subnormals`/`tininess`: see the module docstring."""
    f = _float_format(fmt)
    daz, ftz = check_subnormals(f, subnormals, tininess)
    x, y = _operands(f, a, b, daz)
    v = exact_sum_odd(x, y)
    # IEEE 754-2019 6.3: an exact zero sum of operands of opposite signs is +0, -0 toward -inf.
    if parse_rounding(rounding) is Rounding.DOWN:
        v = np.where((v == 0) & (np.signbit(x) != np.signbit(y)), -0.0, v)
    return _encode(f, v, rounding, overflow, rbits, random_bits, generator, offset, ftz, tininess)


def _odd_float(n: int, e: int) -> float:
    """n * 2^e (Python ints) rounded to odd at 53 bits, as a float64."""
    q = abs(n)
    bl = q.bit_length()
    if bl > 53:
        sh = bl - 53
        t = q >> sh
        if q & ((1 << sh) - 1):
            t |= 1
        q, e = t, e + sh
    v = math.ldexp(float(q), e)
    if math.isinf(v) or (q and v == 0):
        raise ValueError(f"exact value n * 2^{e} is outside float64's range; round_exact covers formats "
                         "inside it")
    return -v if n < 0 else v


def round_exact(n, e, fmt, rounding="nearest_even", overflow=None, rbits: int = DEFAULT_RBITS,
                random_bits=None, generator=None) -> np.ndarray:
    """Codes of round(n * 2^e) in float format `fmt`, for exact integers n (any size) and exponents e."""
    f = _float_format(fmt)
    n_arr = np.asarray(n, dtype=object).reshape(-1)
    e_arr = np.broadcast_to(np.asarray(e, dtype=object), np.asarray(n, dtype=object).shape).reshape(-1)
    v = np.array([_odd_float(int(ni), int(ei)) for ni, ei in zip(n_arr, e_arr)], dtype=np.float64)
    codes = _encode(f, v, rounding, overflow, rbits, random_bits, generator, 0)
    return codes.reshape(np.asarray(n, dtype=object).shape)


def mx_dot(a_codes, a_scale, b_codes, b_scale, fmt="mxfp8_e4m3", out="fp32") -> np.ndarray:
    """OCP MX v1.0 dot product of blocks: sum_i (Xa * a_i) * (Xb * b_i), the exact value rounded once to
    `out` (round to nearest even, IEEE overflow). a_codes, b_codes: (..., block) element codes;
    a_scale, b_scale: (...) E8M0 scale codes. NaN element or scale, Inf * 0 or Inf - Inf -> NaN; an Inf
    product otherwise -> that Inf. An exactly zero sum is +0. Returns `out` codes of shape (...)."""
    sf = get_format(fmt)
    elem, sfmt = getattr(sf, "element", None), getattr(sf, "scale_format", None)
    if not isinstance(elem, FloatFormat) or sfmt is None or getattr(sfmt, "mbits", None) != 0:
        raise ValueError(f"mx_dot needs an MX format (float elements, e8m0 scales), got {fmt!r}")
    of = _float_format(out)
    a, b = np.asarray(a_codes, dtype=np.int64), np.asarray(b_codes, dtype=np.int64)
    if a.shape != b.shape or a.shape[-1] != sf.block:
        raise ValueError(f"a_codes and b_codes must both have shape (..., {sf.block}); got {a.shape}, {b.shape}")
    sa, sb = np.asarray(a_scale, dtype=np.int64), np.asarray(b_scale, dtype=np.int64)
    if sa.shape != a.shape[:-1] or sb.shape != a.shape[:-1]:
        raise ValueError(f"scales must have shape {a.shape[:-1]}; got {sa.shape}, {sb.shape}")
    va, vb = _decode(elem, a), _decode(elem, b)
    with np.errstate(invalid="ignore"):
        p = va * vb  # exact in float64 (<= 8 significand bits, |exponent| < 70)
    unit = 2 * (elem.emin - elem.mbits)  # every finite product is an integer multiple of 2^unit
    flat_p = p.reshape(-1, sf.block)
    scale_nan = (np.isnan(_decode(sfmt, sa)) | np.isnan(_decode(sfmt, sb))).reshape(-1)
    e = ((sa - sfmt.bias) + (sb - sfmt.bias)).reshape(-1) + unit
    n_list, nan, inf = [], np.zeros(len(flat_p), bool), np.zeros(len(flat_p))
    for i, row in enumerate(flat_p):
        pos_inf, neg_inf = bool(np.any(row == np.inf)), bool(np.any(row == -np.inf))
        nan[i] = bool(np.any(np.isnan(row))) or scale_nan[i] or (pos_inf and neg_inf)
        inf[i] = 1.0 if pos_inf else (-1.0 if neg_inf else 0.0)
        n_list.append(0 if (nan[i] or inf[i]) else sum(int(math.ldexp(v, -unit)) for v in row))
    codes = round_exact(np.array(n_list, dtype=object), np.array(e, dtype=object), of, overflow="ieee")
    inf_code = of.encode(np.array([np.inf, -np.inf]))
    codes = np.where(inf > 0, inf_code[0], np.where(inf < 0, inf_code[1], codes))
    codes = np.where(nan, of.nan_code, codes)
    return codes.reshape(a.shape[:-1]).astype(np.int64)


def _trits(codes) -> np.ndarray:
    from .ternary import TRIT
    return np.asarray(TRIT.decode(np.asarray(codes, dtype=np.int64)), dtype=np.float64).astype(np.int64)


def ternary_dot(trit_codes, x) -> np.ndarray:
    """sum_i t_i * x_i along the last axis (exact int64) for 2-bit trit codes (0b00 0, 0b01 +1, 0b11 -1)
    and signed integers x: the add/subtract/skip MAC with no multiplier."""
    t, xv = _trits(trit_codes), np.asarray(x, dtype=np.int64)
    return np.sum(t * xv, axis=-1)


def trit_plane_dot(plane_codes, scales, x) -> np.ndarray:
    """PTQTP inference (ternary.py `fit_trit_planes`): sum_p scales[..., p] * (T_p . x) with integer
    (fixed-point code) scales. plane_codes: (..., P, N) trit codes; scales: (..., P) ints; x: (..., N)."""
    planes = ternary_dot(plane_codes, np.asarray(x, dtype=np.int64)[..., None, :])
    return np.sum(np.asarray(scales, dtype=np.int64) * planes, axis=-1)


def int_matmul(a, b, acc_bits: int = 32) -> np.ndarray:
    """A @ B for integer matrices, computed exactly (Python ints) and wrapped modulo 2^acc_bits: the codes
    (in [0, 2^acc_bits)) of an acc_bits two's-complement accumulator."""
    if isinstance(acc_bits, bool) or not isinstance(acc_bits, int) or not 1 <= acc_bits <= 62:
        raise ValueError(f"acc_bits must be an integer in 1..62, got {acc_bits!r}")
    A, B = np.asarray(a), np.asarray(b)
    if A.dtype.kind not in "iu" or B.dtype.kind not in "iu" or A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"int_matmul needs integer matrices (m, k) and (k, n); got {A.dtype} {A.shape}, "
                         f"{B.dtype} {B.shape}")
    exact = A.astype(object) @ B.astype(object)
    return np.vectorize(lambda v: int(v) & ((1 << acc_bits) - 1), otypes=[np.int64])(exact)
