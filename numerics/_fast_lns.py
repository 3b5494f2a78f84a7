"""Numba fast path of LNS rounding (Zhao et al., LNS-Madam; the format of numerics/lns_format.py) in every
mode: nearest (log or linear split), toward zero, up, down, and both stochastic modes.

Not a second source of truth: tests/numerics/test_numerics_parity.py proves it bit-identical (codes and
values) to `LNSFormat._codes_flat`/`_decode_flat` for every LNS preset and custom formats, every input
class and both overflow policies. It follows the reference step by step: frexp gives m2 in [1, 2) and the
binade, a search on the decoded mantissas D[j] gives the floor j, the mode's step comes from exact
comparisons with the same threshold tables, and inputs below the smallest magnitude choose between zero
and it in the linear domain. The searches count table entries <= m2 from a per-bucket start (the top
mantissa bits of m2 index a table of counts, `_lut`) plus a short exact scan: the count np.searchsorted
gives, without bisection's unpredictable branches.

Stochastic rounding draws the counter-based stream of `rounding.random_bits` in the kernel (the same
SplitMix64 bits, or the caller's explicit random bits). The log-domain mode's probability is
frac(gamma * log2 m2), and log2's last bit is not portable between numpy and LLVM's libm, so the kernel
never computes a logarithm: a first pass writes m2 for every element, numpy's own `np.log2` maps that
array (the very call the reference makes on the very same values), and the second pass reads the
result. Every other step is exact IEEE arithmetic (products by powers of two, a Sterbenz subtraction,
one division for the linear mode and below the smallest magnitude), so the codes are the reference's.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _fast, lns_exact

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    njit = None

# LNSRounding value -> kernel mode: 0 nearest (with its threshold table), 2 toward zero, 3 up, 4 down,
# 5 stochastic in the log domain, 6 stochastic in the linear domain
MODES = {"nearest_log": 0, "nearest_linear": 0, "toward_zero": 2, "up": 3, "down": 4, "stochastic": 5,
         "stochastic_linear": 6}
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
PARALLEL_MIN = _fast.PARALLEL_MIN

if njit is not None:
    from ._fast import _rand_at

    _MANT = np.int64(0xFFFFFFFFFFFFF)
    _ONE_EXP = np.int64(1023) << 52

    @njit(cache=True, inline="always")
    def _upper(arr, lut, shift, v):
        # np.searchsorted(arr, v, side="right") for v in [1, 2): lut[k] counts the entries <= 1 + k/2^T,
        # k = the top T mantissa bits of v (shift = 52 - T), so v >= 1 + k/2^T and the scan adds the
        # entries in (1 + k/2^T, v]: exact for any sorted arr, one step or none when buckets are narrower
        # than the gaps between entries (_lut)
        cnt = lut[(np.float64(v).view(np.int64) & _MANT) >> shift]
        while cnt < arr.shape[0] and arr[cnt] <= v:
            cnt += 1
        return cnt

    @njit(cache=True, inline="always")
    def _sr_inc(frac, r, rbits):
        # rounding.round_magnitude's stochastic increment of frac in [0, 1): r < floor(frac * 2^rbits)
        # (the product by a power of two is exact, the comparison as numpy's int64-float64 one)
        return np.float64(r) < np.floor(frac * np.float64(np.int64(1) << rbits))

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
    def _code_one(v, g, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift, mode, min_normal, min_thr, ieee,
                  lg, r, rbits):
        # lg: numpy's log2 of this element's m2 (mode 5 only); r: its random integer (modes 5 and 6)
        neg = np.float64(v).view(np.int64) < 0
        if v != v:
            return nan_code
        inf = v == np.inf or v == -np.inf
        a = 0.0 if inf else abs(v)
        m2, big_e = _split(a)
        j = _upper(dm, dlut, shift, m2) - 1
        off_grid = m2 != dm[j]
        if mode == 0:
            step = _upper(thr, tlut, shift, m2) - j
        elif mode == 2:
            step = np.int64(0)
        elif mode == 3:
            step = np.int64(off_grid and not neg)
        elif mode == 4:
            step = np.int64(off_grid and neg)
        else:
            if mode == 5:
                frac = g * lg - j
            else:
                hi = dm[j + 1] if j + 1 < g else 2.0
                frac = (m2 - dm[j]) / (hi - dm[j])
            step = np.int64(_sr_inc(min(max(frac, 0.0), _BELOW_ONE), r, rbits))
        mag = (big_e + qbias) * g + j + step
        if a < min_normal:
            if mode == 0:
                low = 2.0 * a >= min_thr
            elif mode == 2:
                low = False
            elif mode == 3:
                low = a > 0 and not neg
            elif mode == 4:
                low = a > 0 and neg
            else:
                t = a / min_normal
                fl = np.floor(t)
                low = fl + np.float64(_sr_inc(t - fl, r, rbits)) > 0
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

    @njit(cache=True, inline="always")
    def _one(x, i, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift,
             mode, min_normal, min_thr, ieee, lg, rbits, rand, use_rand, sbase, rshift, offset):
        r = np.int64(0)
        lgi = 0.0
        if mode >= 5:
            r = _rand_at(np.int64(i) if use_rand else np.int64(offset) + np.int64(i), use_rand, rand, sbase,
                         rshift, 5)
            if mode == 5:
                lgi = lg[i]
        c = _code_one(np.float64(x[i]), g, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift, mode,
                      min_normal, min_thr, ieee, lgi, r, rbits)
        if want_values:
            vals[i] = _value_of(c, g, rem_bits, qbias, max_mag, nan_code, dm)
        else:
            codes[i] = c

    # Two compiled loops: small arrays run a plain loop, large ones the thread pool.
    @njit(cache=True)
    def _lns_serial(x, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift,
                    mode, min_normal, min_thr, ieee, lg, rbits, rand, use_rand, seed, offset):
        sbase = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        rshift = np.uint64(64 - rbits)
        for i in range(x.shape[0]):
            _one(x, i, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift,
                 mode, min_normal, min_thr, ieee, lg, rbits, rand, use_rand, sbase, rshift, offset)

    @njit(cache=True, parallel=True)
    def _lns_parallel(x, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, dlut, thr, tlut,
                      shift, mode, min_normal, min_thr, ieee, lg, rbits, rand, use_rand, seed, offset):
        sbase = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        rshift = np.uint64(64 - rbits)
        for i in prange(x.shape[0]):
            _one(x, i, codes, vals, want_values, g, rem_bits, qbias, max_mag, nan_code, dm, dlut, thr, tlut, shift,
                 mode, min_normal, min_thr, ieee, lg, rbits, rand, use_rand, sbase, rshift, offset)

    @njit(cache=True, parallel=True)
    def _mantissas(x, out):
        # m2 of |x| for every element, as the reference's (1.0 for zeros, NaN and Inf)
        for i in prange(x.shape[0]):
            v = np.float64(x[i])
            a = abs(v) if (v == v and v != np.inf and v != -np.inf) else 0.0
            out[i] = _split(a)[0]


def enabled(mode) -> bool:
    return njit is not None and _fast.enabled() and mode.value in MODES


def _lut(arr: np.ndarray, shift: int) -> np.ndarray:
    """Counts of arr's entries <= each bucket's low end 1 + k * 2^(shift-52) (`_upper`)."""
    k = np.arange(1 << (52 - shift), dtype=np.int64)
    lows = (k << shift | (1023 << 52)).view(np.float64)
    return np.searchsorted(arr, lows, side="right").astype(np.int64)


@functools.lru_cache(maxsize=None)
def _params(fmt, mode_value: str) -> tuple:
    g = fmt.gamma
    split = "linear" if mode_value == "nearest_linear" else "log"
    thr = np.ascontiguousarray(lns_exact.nearest_thresholds(g, split), dtype=np.float64)
    dm = np.ascontiguousarray(lns_exact.decode_mantissas(g), dtype=np.float64)
    # 8 gamma buckets (capped at 2^16): narrower than the smallest gap 2^(1/gamma) - 1 > 1/(2 gamma)
    shift = 52 - min(fmt.rem_bits + 3, 16)
    return (g, fmt.rem_bits, fmt.qbias, fmt.max_mag, fmt.nan_code, dm, _lut(dm, shift), thr, _lut(thr, shift),
            shift, MODES[mode_value], float(fmt.min_normal), float(fmt._min_threshold()))


_NO_CODES = np.zeros(1, dtype=np.int64)
_NO_VALS = np.zeros(1, dtype=np.float64)
_NO_RAND = np.zeros(1, dtype=np.int64)


def lns_round(fmt, x: np.ndarray, mode, ieee: bool, out_dtype=None, rbits: int = 1, rand=None, seed: int = 0,
              offset: int = 0):
    """Codes (int64) of the flat float array x, or, with out_dtype, the values of those codes. The
    stochastic modes draw random_bits(seed, n, rbits, offset), or the explicit int64 `rand` (one per element)."""
    x = np.ascontiguousarray(x)
    p = _params(fmt, mode.value)
    kernel = _lns_serial if x.shape[0] < PARALLEL_MIN else _lns_parallel
    lg = _NO_VALS
    if p[10] == 5:   # the log-domain stochastic mode: numpy's log2 of every m2 (module docstring)
        m2 = np.empty(x.shape, dtype=np.float64)
        _mantissas(x, m2)
        lg = np.log2(m2)
    use_rand = rand is not None
    rnd = (int(rbits), np.ascontiguousarray(rand, dtype=np.int64) if use_rand else _NO_RAND, use_rand, int(seed),
           int(offset))
    if out_dtype is None:
        codes = np.empty(x.shape, dtype=np.int64)
        kernel(x, codes, _NO_VALS, False, *p, bool(ieee), lg, *rnd)
        return codes
    vals = np.empty(x.shape, dtype=out_dtype)
    kernel(x, _NO_CODES, vals, True, *p, bool(ieee), lg, *rnd)
    return vals
