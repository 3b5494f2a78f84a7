"""Numba fast path for float-format quantization (parallel over elements).

Not a second source of truth: tests/numerics/test_parity.py proves it bit-identical to
`FloatFormat._quantize_reference` (and the random stream to `rounding.random_bits`). Exponents are read
from the float's bits; 2^k factors are built from bits too, so no libm call sits in the loop.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .rounding import MODE_ID, Rounding, mix64

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None


def enabled() -> bool:
    """Use the kernels unless Numba is missing, JIT is disabled (then the reference is faster than
    interpreted loops) or LOWBIT_NO_FAST=1."""
    return numba is not None and not numba.config.DISABLE_JIT and os.environ.get("LOWBIT_NO_FAST") != "1"


if numba is not None:
    _mix64 = njit(cache=True)(mix64)

    @njit(cache=True, inline="always")
    def _pow2(k):
        # 2^k as float64 from bits, for normal-range k (|k| <= 1022 here by construction).
        return np.int64((k + 1023) << 52).view(np.float64)

    @njit(cache=True, inline="always")
    def _ilog2(a):
        # floor(log2 a) for finite a > 0, from the float64 bits (subnormals through a rescale).
        b = np.float64(a).view(np.int64)
        e = (b >> 52) & 0x7FF
        if e == 0:
            a2 = np.float64(a * 18014398509481984.0)  # * 2^54
            b = a2.view(np.int64)
            return ((b >> 52) & 0x7FF) - 1023 - 54
        return e - 1023

    @njit(cache=True, parallel=True)
    def _quantize_kernel(x, out, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                         pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, rand, use_rand, seed, offset):
        n = x.shape[0]
        golden = np.uint64(0x9E3779B97F4A7C15)
        sbase = np.uint64(seed) * golden
        shift = np.uint64(64 - rbits)
        for i in prange(n):
            xv = np.float64(x[i])
            if xv != xv:
                out[i] = np.nan
                continue
            neg = xv < 0.0 or (xv == 0.0 and math.copysign(1.0, xv) < 0.0)
            a = abs(xv)
            if a == math.inf:
                out[i] = neg_inf if neg else pos_inf
                continue
            if not signed and neg and a > 0.0:
                out[i] = np.nan
                continue
            if a == 0.0:
                if not has_zero:
                    out[i] = np.nan
                elif neg and not no_negzero:
                    out[i] = -0.0
                else:
                    out[i] = 0.0
                continue
            elog = _ilog2(a)
            q = elog - mbits if elog >= emin else q_sub
            t = a * _pow2(-q)
            fl = math.floor(t)
            frac = t - fl
            inc = 0.0
            if mode == 0:
                if frac > 0.5 or (frac == 0.5 and (np.int64(fl) & 1) == 1):
                    inc = 1.0
            elif mode == 1:
                if frac >= 0.5:
                    inc = 1.0
            elif mode == 3:
                if frac > 0.0 and not neg:
                    inc = 1.0
            elif mode == 4:
                if frac > 0.0 and neg:
                    inc = 1.0
            elif mode == 5:
                if use_rand:
                    r = rand[i]
                else:
                    z = _mix64(sbase + (np.uint64(offset + i) + np.uint64(1)) * golden)
                    r = np.int64(z >> shift)
                if r < math.floor(frac * _pow2(rbits)):
                    inc = 1.0
            res = (fl + inc) * _pow2(q)
            if not has_zero and res < minnorm:
                res = minnorm
            if res > maxv:
                out[i] = neg_ovf if neg else pos_ovf
            elif res == 0.0 and (no_negzero or not neg):
                out[i] = 0.0
            else:
                out[i] = -res if neg else res


def quantize_float(fmt, x, mode: Rounding, overflow, rbits, rand, seed, offset, out_dtype):
    out = np.empty(x.shape, dtype=out_dtype)
    pos_ovf, neg_ovf, pos_inf, neg_inf = fmt._specials(mode, overflow)
    use_rand = rand is not None
    rand_arr = rand if use_rand else np.zeros(1, dtype=np.int64)
    q_sub = fmt.emin - (fmt.mbits if fmt.subnormals else 0)
    _quantize_kernel(x, out, fmt.mbits, fmt.emin, q_sub, fmt.has_zero, fmt.signed,
                     fmt.policy == "fnuz" or not fmt.signed, fmt.max, fmt.min_normal,
                     pos_ovf, neg_ovf, pos_inf, neg_inf, MODE_ID[mode], int(rbits), rand_arr, use_rand,
                     int(seed), int(offset))
    return out
