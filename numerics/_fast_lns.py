"""Numba fast path of LNS rounding (Zhao et al., LNS-Madam; the format of numerics/lns_format.py) for the
deterministic modes: nearest (log or linear split), toward zero, up and down.

Not a second source of truth: tests/numerics/test_numerics_parity.py proves it bit-identical (codes and
values) to `LNSFormat._codes_flat`/`_decode_flat` for every LNS preset and custom formats, every input
class and both overflow policies. It follows the reference step by step: frexp gives m2 in [1, 2) and the
binade, a search on the decoded mantissas D[j] gives the floor j, the mode's step comes from exact
comparisons with the same threshold tables, and inputs below the smallest magnitude choose between zero
and it in the linear domain. The stochastic modes stay on the reference: the log-domain one takes
log2, whose last bit numpy and LLVM need not agree on.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _fast, lns_exact

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    njit = None

# LNSRounding value -> kernel mode: 0 nearest (with its threshold table), 2 toward zero, 3 up, 4 down
MODES = {"nearest_log": 0, "nearest_linear": 0, "toward_zero": 2, "up": 3, "down": 4}
PARALLEL_MIN = _fast.PARALLEL_MIN

if njit is not None:
    _MANT = np.int64(0xFFFFFFFFFFFFF)
    _ONE_EXP = np.int64(1023) << 52

    @njit(cache=True, inline="always")
    def _upper(arr, v):
        # np.searchsorted(arr, v, side="right") by bisection (a branch-free count over lns8's 8 entries
        # measured slower on one thread)
        lo, hi = np.int64(0), np.int64(arr.shape[0])
        while lo < hi:
            mid = (lo + hi) >> 1
            if arr[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @njit(cache=True, inline="always")
    def _split(a):
        # a = m2 * 2^big_e with m2 in [1, 2), from the bits (frexp without the libm call); a = 0 -> (1, -1)
        if a == 0.0:
            return 1.0, np.int64(-1)
        b = np.float64(a).view(np.int64)
        shift = np.int64(0)
        if b >> 52 == 0:  # subnormal: scaling by 2^64 is exact
            b = np.float64(a * 18446744073709551616.0).view(np.int64)
            shift = np.int64(64)
        m2 = np.int64((b & _MANT) | _ONE_EXP).view(np.float64)
        return m2, (b >> 52) - 1023 - shift

    @njit(cache=True, inline="always")
    def _code_one(v, g, qbias, max_mag, nan_code, dm, thr, mode, min_normal, min_thr, ieee):
        neg = np.float64(v).view(np.int64) < 0
        if v != v:
            return nan_code
        inf = v == np.inf or v == -np.inf
        a = 0.0 if inf else abs(v)
        m2, big_e = _split(a)
        j = _upper(dm, m2) - 1
        off_grid = m2 != dm[j]
        if mode == 0:
            step = _upper(thr, m2) - j
        elif mode == 2:
            step = np.int64(0)
        elif mode == 3:
            step = np.int64(off_grid and not neg)
        else:
            step = np.int64(off_grid and neg)
        mag = (big_e + qbias) * g + j + step
        if a < min_normal:
            if mode == 0:
                low = 2.0 * a >= min_thr
            elif mode == 2:
                low = False
            elif mode == 3:
                low = a > 0 and not neg
            else:
                low = a > 0 and neg
            mag = np.int64(low)
        over = mag > max_mag or inf
        if over:
            mag = max_mag
        code = (mag | nan_code) if (neg and mag > 0) else mag
        if ieee and over:
            code = nan_code
        return code

    @njit(cache=True, inline="always")
    def _value_of(code, g, rem_bits, qbias, max_mag, nan_code, dm):
        mag = code & max_mag
        if mag == 0:
            return np.nan if code & nan_code else 0.0
        # dm[r] * 2^(q - qbias): |q - qbias| <= 1000 by the format's validation, so the power of two is a
        # normal float64 and the product exact (ldexp without the libm call)
        val = dm[mag & (g - 1)] * np.int64(((mag >> rem_bits) - qbias + 1023) << 52).view(np.float64)
        return -val if code & nan_code else val

    # Two compiled loops: small arrays run a plain loop, large ones the thread pool. The loop bodies are
    # written out (not a helper taking the arrays: that measured 4x slower, 53 vs 13 ns an element).
    @njit(cache=True)
    def _lns_serial(x, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, thr, mode,
                    min_normal, min_thr, ieee):
        for i in range(x.shape[0]):
            c = _code_one(np.float64(x[i]), g, qbias, max_mag, nan_code, dm, thr, mode, min_normal, min_thr, ieee)
            if want_values:
                vals[i] = _value_of(c, g, rem_bits, qbias, max_mag, nan_code, dm)
            else:
                codes[i] = c

    @njit(cache=True, parallel=True)
    def _lns_parallel(x, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, thr, mode,
                      min_normal, min_thr, ieee):
        for i in prange(x.shape[0]):
            c = _code_one(np.float64(x[i]), g, qbias, max_mag, nan_code, dm, thr, mode, min_normal, min_thr, ieee)
            if want_values:
                vals[i] = _value_of(c, g, rem_bits, qbias, max_mag, nan_code, dm)
            else:
                codes[i] = c


def enabled(mode) -> bool:
    return njit is not None and _fast.enabled() and mode.value in MODES


@functools.lru_cache(maxsize=None)
def _params(fmt, mode_value: str) -> tuple:
    g = fmt.gamma
    split = "linear" if mode_value == "nearest_linear" else "log"
    thr = np.ascontiguousarray(lns_exact.nearest_thresholds(g, split), dtype=np.float64)
    return (g, fmt.rem_bits, fmt.qbias, fmt.max_mag, fmt.nan_code,
            np.ascontiguousarray(lns_exact.decode_mantissas(g), dtype=np.float64), thr, MODES[mode_value],
            float(fmt.min_normal), float(fmt._min_threshold()))


_NO_CODES = np.zeros(1, dtype=np.int64)
_NO_VALS = np.zeros(1, dtype=np.float64)


def lns_round(fmt, x: np.ndarray, mode, ieee: bool, out_dtype=None):
    """Codes (int64) of the flat float array x, or, with out_dtype, the values of those codes."""
    x = np.ascontiguousarray(x)
    p = _params(fmt, mode.value)
    kernel = _lns_serial if x.shape[0] < PARALLEL_MIN else _lns_parallel
    if out_dtype is None:
        codes = np.empty(x.shape, dtype=np.int64)
        kernel(x, codes, _NO_VALS, False, *p, bool(ieee))
        return codes
    vals = np.empty(x.shape, dtype=out_dtype)
    kernel(x, _NO_CODES, vals, True, *p, bool(ieee))
    return vals
