"""The torch backend: every format's rounding made of torch tensor operations on the tensor's own device.

Not a second source of truth: tests/numerics/test_torch_backend.py proves it bit-identical to the numpy
reference (and so to the Numba kernels) for every format, rounding mode and overflow policy. It follows the
kernels of numerics/_fast.py step by step, on integer bit patterns: a float64 view as int64 gives the sign,
the integer significand m (implicit bit included), the exponent of m's last bit and floor(log2 |x|); the
target grid step 2^q drops the low `sh` bits of m and the mode decides from those dropped bits alone.
Stochastic rounding draws from the same counter-based stream as `rounding.random_bits` (SplitMix64 of
seed and element index), computed here with int64 tensor ops (wrapping multiplies, logical shifts as
arithmetic shifts and masks), so a seed gives the same bits on every device and backend.

No `.cpu()`, `.numpy()` or `.item()` on the data path and no Python loop over elements or blocks: the
only Python loops run over a static structure (the levels of numpy's pairwise summation for the absmean
scale, the terms of a sequential low-precision sum). Scalars that depend on the data (NVFP4's tensor
scale, a block's scale) stay 0-d or per-block tensors on the device, so `torch.compile(fullgraph=True)`
traces the float, fixed-point and scaled paths without graph breaks.

Working precision is float64 (as the kernels): inputs widen exactly, results narrow exactly to float32
where the format fits it. Devices without float64 (Apple MPS) are not supported.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from . import lns_exact
from .rounding import Overflow, Rounding

__all__ = ["random_bits", "quantize", "quantize_scaled", "round_magnitude", "lns_codes", "lns_decode"]

_I64 = torch.int64
_F64 = torch.float64
_EXP = 0x7FF0000000000000
_ABS = 0x7FFFFFFFFFFFFFFF
_MANT = 0xFFFFFFFFFFFFF


def _s64(v: int) -> int:
    """A Python int modulo 2^64 as the signed int64 with the same bits."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


_GOLDEN = 0x9E3779B97F4A7C15
_GOLDEN_S, _M1_S, _M2_S = _s64(_GOLDEN), _s64(0xBF58476D1CE4E5B9), _s64(0x94D049BB133111EB)


def _lsr(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits by a constant 0 < k < 64 (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix64(z: torch.Tensor) -> torch.Tensor:
    # SplitMix64's finalizer; int64 multiplies wrap modulo 2^64 like numpy's uint64
    z = (z ^ _lsr(z, 30)) * _M1_S
    z = (z ^ _lsr(z, 27)) * _M2_S
    return z ^ _lsr(z, 31)


def random_bits(seed: int, n: int, rbits: int, offset: int = 0, device=None) -> torch.Tensor:
    """`rounding.random_bits(seed, n, rbits, offset)` as an int64 tensor computed on `device`."""
    base = _s64((int(seed) * _GOLDEN) + (int(offset) + 1) * _GOLDEN)
    z = torch.arange(n, dtype=_I64, device=device) * _GOLDEN_S + base
    return _lsr(_mix64(z), 64 - int(rbits))


# ---------------------------------------------------------------------------------------------------------
# exact float64 helpers
def _pow2_bits(k):
    """2^k exactly for integer tensors k in [-1074, 1023] (subnormal powers from their bit)."""
    normal = ((k + 1023) << 52)
    sub = torch.ones_like(k) << (k + 1074).clamp(0, 51)
    return torch.where(k >= -1022, normal, sub).view(_F64)


def _mul_pow2(v: torch.Tensor, k) -> torch.Tensor:
    """v * 2^k for integer tensors k, correctly rounded as np.ldexp: one multiply by the exact power
    2^k when it is a float64 (k in [-1074, 1023], always so on the grids here), a second one beyond."""
    k1 = k.clamp(-1074, 1023)
    return v * _pow2_bits(k1) * _pow2_bits((k - k1).clamp(-1074, 1023))


def _elog(a: torch.Tensor) -> torch.Tensor:
    """floor(log2 a) from the bits a (int64) of a finite float64 > 0 (subnormals from the exact integer)."""
    big_e = a >> 52
    sub = ((a.to(_F64).view(_I64) >> 52) & 0x7FF) - 1023 - 1074
    return torch.where(big_e == 0, sub, big_e - 1023)


def _sel(cond, a, b, like):
    """torch.where(cond, a, b) in like's dtype when a and b may both be Python numbers (a where of two
    scalars would be float32)."""
    a = a if isinstance(a, torch.Tensor) else torch.full_like(like, a)
    return torch.where(cond, a, b)


def _one_shl(sh: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(sh) << sh


# ---------------------------------------------------------------------------------------------------------
# the element grid: FloatFormat and signed saturating FixedFormat (the kernels' `_round_one`)
def _round_grid(x, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm, pos_ovf, neg_ovf,
                pos_inf, neg_inf, mode: int, rbits: int, r):
    """Round float64 x onto a grid given by the kernels' scalar parameters (`_fast.grid_params` order);
    emin, q_sub, maxv, pos_ovf and neg_ovf may be tensors broadcasting with x (a block's shifted grid)."""
    b = x.view(_I64)
    neg = b < 0
    a = b & _ABS
    big_e = a >> 52
    m = torch.where(big_e == 0, a & _MANT, (a & _MANT) | (1 << 52))
    lsb = torch.where(big_e == 0, torch.full_like(a, -1074), big_e - 1075)
    elog = _elog(a.clamp(min=1))
    q = torch.where(elog >= emin, elog - mbits, q_sub)
    sh_raw = (q - lsb).clamp(min=0)
    sh = sh_raw.clamp(max=60)  # m < 2^53: from 53 on every bit of m is dropped either way
    kept = m >> sh
    dropped = m & (_one_shl(sh) - 1)
    if mode == 0 or mode == 1:
        half = _one_shl(sh) >> 1
        nz = dropped != 0
        if mode == 0:
            inc = (dropped > half) | ((dropped == half) & ((kept & 1) == 1) & nz)
        else:
            inc = (dropped >= half) & nz
    elif mode == 2:
        inc = torch.zeros_like(neg)
    elif mode == 3:
        inc = (dropped != 0) & ~neg
    elif mode == 4:
        inc = (dropped != 0) & neg
    else:
        # the top rbits bits of the dropped fraction dropped / 2^sh_raw (the uncapped shift)
        top = torch.where(sh_raw >= rbits, dropped >> (sh_raw - rbits).clamp(0, 62),
                          dropped << (rbits - sh_raw).clamp(0, 63))
        inc = r < top
    res = _mul_pow2((kept + inc.to(_I64)).to(_F64), q)
    if not has_zero:
        res = torch.clamp(res, min=minnorm)
    val = torch.where(neg, -res, res)
    if no_negzero:
        val = torch.where(res == 0, torch.zeros_like(val), val)
    val = torch.where(res > maxv, _sel(neg, neg_ovf, pos_ovf, val), val)
    # specials: NaN, +-Inf, zeros and negative inputs to unsigned formats
    nan = torch.full_like(val, math.nan)
    if has_zero:
        zero = torch.zeros_like(val)
        signed_zero = zero if no_negzero else torch.where(neg, -zero, zero)
        sp = torch.where(a == 0, signed_zero, nan)
    else:
        sp = nan
    sp = torch.where(a == _EXP, _sel(neg, neg_inf, pos_inf, val), sp)
    special = (a >= _EXP) | (a == 0)
    if not signed:
        special = special | neg
    return torch.where(special, sp, val)


def _stream(n: int, mode: Rounding, rbits: int, rand, seed: int, offset: int, device):
    if mode is not Rounding.STOCHASTIC:
        return None
    if rand is not None:
        return torch.as_tensor(rand, dtype=_I64, device=device).reshape(-1)
    return random_bits(seed, n, rbits, offset, device)


def _widen(x: torch.Tensor) -> torch.Tensor:
    return x.to(_F64) if x.dtype != _F64 else x


def round_magnitude(t, negative, mode: Rounding, rbits: int = 0, rand=None):
    """`rounding.round_magnitude` on float64 tensors (every step is exact, so the bits agree)."""
    fl = torch.floor(t)
    frac = t - fl
    if mode is Rounding.TOWARD_ZERO:
        inc = torch.zeros_like(negative)
    elif mode is Rounding.UP:
        inc = (frac > 0) & ~negative
    elif mode is Rounding.DOWN:
        inc = (frac > 0) & negative
    elif mode is Rounding.NEAREST_EVEN:
        inc = (frac > 0.5) | ((frac == 0.5) & (torch.fmod(fl, 2.0) == 1.0))
    elif mode is Rounding.NEAREST_AWAY:
        inc = frac >= 0.5
    else:
        inc = rand.to(_F64) < torch.floor(frac * float(1 << rbits))
    return fl + inc.to(_F64)


def _quantize_fixed_generic(fmt, x64, mode: Rounding, overflow: Overflow, rbits: int, r):
    """FixedFormat outside the grid kernel (unsigned, or overflow='wrap'): the numpy reference's steps."""
    neg = torch.signbit(x64)
    finite = torch.isfinite(x64)
    a = torch.where(finite, x64, 0.0).abs()
    t = a * math.ldexp(1.0, fmt.frac_bits) if abs(fmt.frac_bits) < 1000 else None
    t = torch.where((t == 0) & (a > 0), 5e-324, t)
    k = round_magnitude(t, neg, mode, rbits, r)
    k = torch.where(neg, -k, k)
    if overflow is Overflow.WRAP:
        span = float(fmt.kmax - fmt.kmin + 1)
        v = k - fmt.kmin
        # numpy's mod: fmod, then the divisor's sign, +0 for zero. An infinite v (a finite input beyond
        # float64 after scaling) gives the NaN of the invalid operation inf - inf on this device, as
        # numpy's fmod does (a vectorized fmod may return another NaN payload).
        m = torch.where(torch.isinf(v), v - v, torch.fmod(v, span))
        m = torch.where(m < 0, m + span, m)
        k = torch.where(m == 0, 0.0, m) + fmt.kmin
    else:
        k = k.clamp(fmt.kmin, fmt.kmax)
    k = torch.where(torch.isinf(x64), _sel(neg, float(fmt.kmin), float(fmt.kmax), k), k)
    return torch.where(torch.isnan(x64), math.nan, k * math.ldexp(1.0, -fmt.frac_bits) + 0.0)


# ---------------------------------------------------------------------------------------------------------
# LNS (numerics/lns_format.py)
@functools.lru_cache(maxsize=None)
def _lns_tables(gamma: int, device) -> dict:
    return {"dm": torch.as_tensor(lns_exact.decode_mantissas(gamma), dtype=_F64, device=device),
            "log": torch.as_tensor(lns_exact.nearest_thresholds(gamma, "log"), dtype=_F64, device=device),
            "linear": torch.as_tensor(lns_exact.nearest_thresholds(gamma, "linear"), dtype=_F64, device=device)}


def _split(a: torch.Tensor):
    """a = m2 * 2^big_e with m2 in [1, 2) for float64 a >= 0 (frexp from the bits); a = 0 -> (1, -1)."""
    sub = a < 2.2250738585072014e-308
    s = torch.where(sub, a * 18446744073709551616.0, a)  # a subnormal scales exactly by 2^64
    b = s.view(_I64)
    m2 = ((b & _MANT) | (1023 << 52)).view(_F64)
    big_e = (b >> 52) - 1023 - torch.where(sub, 64, 0)
    zero = a == 0
    return torch.where(zero, 1.0, m2), torch.where(zero, -1, big_e)


def lns_codes(fmt, x64: torch.Tensor, mode, ieee: bool, rbits: int = 0, r=None) -> torch.Tensor:
    """`LNSFormat._codes_reference` on a float64 tensor (mode an LNSRounding)."""
    from .lns_format import LNSRounding
    g = fmt.gamma
    tab = _lns_tables(g, x64.device)
    dm = tab["dm"]
    neg, nan, inf = torch.signbit(x64), torch.isnan(x64), torch.isinf(x64)
    a = torch.where(nan | inf, 0.0, x64.abs())
    m2, big_e = _split(a)
    j = torch.searchsorted(dm, m2, right=True) - 1
    off_grid = m2 != dm[j]
    if mode in (LNSRounding.NEAREST_LOG, LNSRounding.NEAREST_LINEAR):
        thr = tab["log" if mode is LNSRounding.NEAREST_LOG else "linear"]
        step = torch.searchsorted(thr, m2, right=True) - j
    elif mode is LNSRounding.TOWARD_ZERO:
        step = torch.zeros_like(j)
    elif mode is LNSRounding.UP:
        step = (off_grid & ~neg).to(_I64)
    elif mode is LNSRounding.DOWN:
        step = (off_grid & neg).to(_I64)
    else:
        below_one = math.nextafter(1.0, 0.0)
        if mode is LNSRounding.STOCHASTIC:
            frac = (g * torch.log2(m2) - j).clamp(0.0, below_one)
        else:
            lo = dm[j]
            hi = torch.where(j + 1 < g, dm[(j + 1).clamp(max=g - 1)], 2.0)
            frac = ((m2 - lo) / (hi - lo)).clamp(0.0, below_one)
        step = round_magnitude(frac, neg, Rounding.STOCHASTIC, rbits, r).to(_I64)
    mag = (big_e + fmt.qbias) * g + j + step
    tiny = a < fmt.min_normal
    if mode in (LNSRounding.NEAREST_LOG, LNSRounding.NEAREST_LINEAR):
        low = 2.0 * a >= fmt._min_threshold()
    elif mode is LNSRounding.TOWARD_ZERO:
        low = torch.zeros_like(neg)
    elif mode in (LNSRounding.UP, LNSRounding.DOWN):
        low = (a > 0) & (neg if mode is LNSRounding.DOWN else ~neg)
    else:
        frac = torch.where(tiny, a / fmt.min_normal, 0.0)
        low = round_magnitude(frac, neg, Rounding.STOCHASTIC, rbits, r) > 0
    mag = torch.where(tiny, low.to(_I64), mag)
    over = (mag > fmt.max_mag) | inf
    mag = torch.where(over, fmt.max_mag, mag)
    code = torch.where(neg & (mag > 0), mag | fmt.nan_code, mag)
    if ieee:
        code = torch.where(over, fmt.nan_code, code)
    return torch.where(nan, fmt.nan_code, code)


def lns_decode(fmt, c: torch.Tensor) -> torch.Tensor:
    """`LNSFormat._decode_flat` on an int64 tensor (float64 values)."""
    dm = _lns_tables(fmt.gamma, c.device)["dm"]
    sign = ((c >> (fmt.bits - 1)) & 1) == 1
    mag = c & fmt.max_mag
    val = dm[mag & (fmt.gamma - 1)] * _pow2_bits((mag >> fmt.rem_bits) - fmt.qbias)
    return torch.where(mag == 0, torch.where(sign, math.nan, 0.0), torch.where(sign, -val, val))


# ---------------------------------------------------------------------------------------------------------
# the dispatch of element formats
def _out_dtype(fmt, x: torch.Tensor):
    """numpy's rule: float32 for float32 input when the format's values fit it, else float64."""
    from .fixed import FixedFormat
    from .floatfmt import FloatFormat
    from .lns_format import LNSFormat
    if x.dtype != torch.float32:
        return _F64
    if isinstance(fmt, FloatFormat):
        fits = fmt.fits_float32
    elif isinstance(fmt, FixedFormat):
        fits = fmt.int_bits <= 24
    elif isinstance(fmt, LNSFormat):
        fits = fmt.fits_float32
    else:  # pragma: no cover - guarded by the caller
        raise ValueError(f"the torch backend has no rounding for {type(fmt).__name__}")
    return torch.float32 if fits else _F64


def quantize(fmt, x: torch.Tensor, mode, overflow: Overflow, rbits: int, rand, seed: int, offset: int):
    """Round the tensor x (float32 or float64, any shape) onto fmt's grid on x's device; `mode` as the
    format's `_prepare` returns it (a Rounding, or an LNSRounding for LNS formats)."""
    from . import _fast
    from .fixed import FixedFormat
    from .lns_format import LNSFormat
    out_dtype = _out_dtype(fmt, x)
    x64 = _widen(x)
    if isinstance(fmt, LNSFormat):
        r = _stream(x.numel(), Rounding.STOCHASTIC if mode.stochastic else Rounding.NEAREST_EVEN, rbits, rand,
                    seed, offset, x.device)  # the LNS modes draw one stream as the generic stochastic mode
        r = None if r is None else r.reshape(x.shape)
        codes = lns_codes(fmt, x64, mode, overflow is Overflow.IEEE, rbits, r)
        return lns_decode(fmt, codes).to(out_dtype)
    r = _stream(x.numel(), mode, rbits, rand, seed, offset, x.device)
    r = None if r is None else r.reshape(x.shape)
    params = _fast.grid_params(fmt, mode, overflow)
    if params is None:
        if not isinstance(fmt, FixedFormat):
            raise ValueError(f"{fmt.name}: the torch backend has no rounding for {type(fmt).__name__}")
        return _quantize_fixed_generic(fmt, x64, mode, overflow, rbits, r).to(out_dtype)
    return _round_grid(x64, *params[:-1], mode=params[-1], rbits=rbits, r=r).to(out_dtype)


# ---------------------------------------------------------------------------------------------------------
# scaled formats (numerics/scaled.py)
def _pairwise_sum_last(a: torch.Tensor) -> torch.Tensor:
    """Sum float64 `a` along its last axis in numpy's pairwise order (`pairwise_sum` of
    numpy/_core/src/umath/loops_utils.h: below 8 terms one by one, up to 128 terms eight running sums
    combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and the tail added one by one, above that the two
    halves split at a multiple of 8), so that absmean scales carry numpy's very bits. The Python
    recursion runs over the static shape, each step vectorized over every row."""
    n = a.shape[-1]
    if n < 8:
        res = torch.zeros(a.shape[:-1], dtype=a.dtype, device=a.device)
        for i in range(n):
            res = res + a[..., i]
        return res
    if n <= 128:
        n8 = n - n % 8
        r = a[..., 0:8]
        for i in range(8, n8, 8):
            r = r + a[..., i:i + 8]
        res = ((r[..., 0] + r[..., 1]) + (r[..., 2] + r[..., 3])) + ((r[..., 4] + r[..., 5]) + (r[..., 6] + r[..., 7]))
        for i in range(n8, n):
            res = res + a[..., i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum_last(a[..., :n2]) + _pairwise_sum_last(a[..., n2:])


def _blocks(sf, x: torch.Tensor, axis: int):
    """(moved, blocks, axis, pad) as ScaledFormat._blocks, for a tensor."""
    if x.dim() == 0:
        x = x.reshape(1)
    ax = axis % x.dim()
    moved = x if ax == x.dim() - 1 else torch.movedim(x, ax, -1)
    n = moved.shape[-1]
    if sf.granularity == "tensor":
        blk = max(moved.numel(), 1)
        moved = moved.reshape(1, -1)
    else:
        blk = sf.block if sf.granularity == "block" else max(n, 1)
    pad = (-moved.shape[-1]) % blk
    if pad:
        moved = torch.nn.functional.pad(moved, (0, pad))
    return moved, moved.reshape(moved.shape[:-1] + (moved.shape[-1] // blk, blk)), ax, pad


def _unmove(sf, vals: torch.Tensor, shape, ax: int, pad: int):
    if sf.granularity == "tensor":
        return vals.reshape(-1)[: math.prod(shape)].reshape(shape)
    if pad:
        vals = vals[..., : vals.shape[-1] - pad]
    if len(shape) == 0:
        return vals.reshape(())
    return vals if ax == len(shape) - 1 else torch.movedim(vals, -1, ax)


def _tensor_scale(sf, x64: torch.Tensor) -> torch.Tensor:
    """NVFP4's second level as a 0-d float64 tensor: fp32(max |x| / (max_elem * max_scale)), 1 if not > 0."""
    tmax = x64.abs().amax() if x64.numel() else torch.zeros((), dtype=_F64, device=x64.device)
    ts = (tmax / (sf.element.max * sf.scale_format.max)).to(torch.float32).to(_F64)
    return torch.where(tmax > 0, ts, 1.0)


def _ilog2(a: torch.Tensor) -> torch.Tensor:
    """floor(log2 a) for float64 a > 0."""
    return _elog(a.view(_I64) & _ABS)


def _pow2_scale(sf, amax_bits_or_a, lo: int, hi: int):
    """The exponent e of a power-of-two scale rule from a block's amax a (> 0, finite), clamped."""
    from .scaled import ScaleRule
    a = amax_bits_or_a
    lg = _ilog2(a)
    emax = math.frexp(float(sf.element.max))[1] - 1  # ScaledFormat.emax_elem (a cached_property: no tracing)
    e = lg - emax
    rule = sf.scale_rule
    if rule is ScaleRule.CEIL:
        e = e + (a > _mul_pow2(torch.ones_like(a), lg)).to(_I64)
    elif rule is ScaleRule.EVEN:
        mb = getattr(sf.element, "mbits", 0)
        e = e + (a >= _mul_pow2(torch.full_like(a, 2.0 - math.ldexp(1.0, -(mb + 1))), lg)).to(_I64)
    elif rule is ScaleRule.RCEIL:
        em = torch.full_like(a, float(sf.element.max))
        e = e + (_mul_pow2(em, e) < a).to(_I64)
        e = e + (_mul_pow2(em, e) < a).to(_I64)
    return e.clamp(lo, hi)


def _scale_lo_hi(sf):
    return (-127, 127) if sf.scale_format is not None else (-149, 127)


def _kernel_path(sf) -> bool:
    """The formats the block kernel rounds (ScaledFormat._fast_path without the Numba switch)."""
    from . import _fast
    from .scaled import _POW2_RULES, ScaleRule
    elem_ok = _fast.grid_params(sf.element, Rounding.NEAREST_EVEN, Overflow.SATURATE) is not None
    amax = sf.scale_rule is ScaleRule.AMAX and (
        sf.scale_format is None or _fast.grid_params(sf.scale_format, Rounding.NEAREST_EVEN, Overflow.SATURATE)
        is not None)
    return elem_ok and sf.element.signed and (sf.scale_rule in _POW2_RULES or amax)


def _quantize_blocks_kernel(sf, blocks64, mode: Rounding, rbits: int, r, ts):
    """The block kernel (_fast._mx_block) on (..., nblocks, k) float64 blocks."""
    from . import _fast
    from .scaled import ScaleRule
    p = _fast.grid_params(sf.element, mode, Overflow.SATURATE)
    mbits, emin, q_sub, no_negzero = p[0], p[1], p[2], p[5]
    elem_max, elem_min = float(sf.element.max), p[9]
    amax_bits = (blocks64.view(_I64) & _ABS).amax(dim=-1, keepdim=True)
    bad = amax_bits >= _EXP
    zero = amax_bits == 0
    amax = torch.where(bad | zero, 1 << 52 | (1023 << 52), amax_bits).view(_F64)  # 1.5 for blocks we drop
    nan = torch.full_like(blocks64, math.nan)
    if sf.scale_rule is ScaleRule.AMAX:
        raw = amax / elem_max / ts
        if sf.scale_format is None:
            s = raw.to(torch.float32).to(_F64)
        else:
            sp = _fast.grid_params(sf.scale_format, Rounding.NEAREST_EVEN, Overflow.SATURATE)
            s = _round_grid(raw, *sp[:-1], mode=0, rbits=0, r=None)
        s = s * ts
        ok = s > 0.0
        q = _round_grid(blocks64 / torch.where(ok, s, 1.0), mbits, emin, q_sub, True, True, no_negzero, elem_max,
                        0.0, elem_max, elem_min, elem_max, elem_min, mode=_MODE_ID[mode], rbits=rbits, r=r)
        out = torch.where(ok, q * s, torch.where(torch.isnan(s), nan, torch.zeros_like(blocks64)))
        out = torch.where(zero, torch.zeros_like(out), out)
    else:
        lo, hi = _scale_lo_hi(sf)
        e = _pow2_scale(sf, amax, lo, hi)
        one = torch.ones_like(amax)
        mx, mn = _mul_pow2(one * elem_max, e), _mul_pow2(one * elem_min, e)
        out = _round_grid(blocks64, mbits, emin + e, q_sub + e, True, True, no_negzero, mx, 0.0, mx, mn, mx, mn,
                          mode=_MODE_ID[mode], rbits=rbits, r=r)   # zeros keep their signs (as the reference)
    return torch.where(bad, nan, out)


def _scales_reference(sf, amax, ts):
    """ScaledFormat._scales (scale values only) on a float64 tensor of block amax (or mean |x|)."""
    from .scaled import _POW2_RULES, ScaleRule
    bad = ~torch.isfinite(amax)
    a = torch.where(bad | (amax == 0), 1.0, amax)
    rule = sf.scale_rule
    if rule in _POW2_RULES:
        lo, hi = _scale_lo_hi(sf)
        e = torch.where(amax == 0, lo, _pow2_scale(sf, a, lo, hi))
        scale = _pow2_bits(e)
    elif rule is ScaleRule.ABSMEAN:
        scale = torch.where(amax == 0, 0.0, a.to(torch.float32).to(_F64))
    else:
        t = 1.0 if ts is None else ts
        raw = a / float(sf.element.max) / t
        if sf.scale_format is None:
            s = raw.to(torch.float32).to(_F64)
        else:
            s = _widen(_quantize_element(sf.scale_format, raw, Rounding.NEAREST_EVEN, 0, None, 0))
        scale = torch.where(amax == 0, 0.0, s * t)
    return torch.where(bad, math.nan, scale)


def _quantize_element(fmt, v64, mode, rbits, r, seed):
    """fmt.quantize(v, overflow='saturate') of float64 values (the scaled reference's element step)."""
    from .lns_format import LNSFormat, parse_lns_rounding
    if isinstance(fmt, LNSFormat):
        m = parse_lns_rounding(mode, fmt.nearest)
        return lns_decode(fmt, lns_codes(fmt, v64, m, False, rbits, r))
    return quantize(fmt, v64, mode, Overflow.SATURATE, rbits, None if r is None else r, seed, 0)


_MODE_ID = {Rounding.NEAREST_EVEN: 0, Rounding.NEAREST_AWAY: 1, Rounding.TOWARD_ZERO: 2,
            Rounding.UP: 3, Rounding.DOWN: 4, Rounding.STOCHASTIC: 5}


def quantize_scaled(sf, x: torch.Tensor, axis: int, rounding, rbits: int, rand, seed: int):
    """ScaledFormat.quantize on a float32/float64 tensor, on its device. `rounding` is the element
    format's parsed mode (a Rounding, or an LNSRounding for LNS elements)."""
    from .lns_format import LNSFormat
    from .scaled import ScaleRule
    out_dtype = torch.float32 if x.dtype == torch.float32 else _F64
    x64 = _widen(x)
    moved, blocks, ax, pad = _blocks(sf, x64, axis)
    stochastic = (rounding.stochastic if isinstance(sf.element, LNSFormat) else rounding is Rounding.STOCHASTIC)
    r = None
    if stochastic:
        r = (torch.as_tensor(rand, dtype=_I64, device=x.device) if rand is not None
             else random_bits(seed, blocks.numel(), rbits, 0, x.device)).reshape(blocks.shape)
    ts = _tensor_scale(sf, x64) if sf.tensor_scale else None
    if _kernel_path(sf):
        q = _quantize_blocks_kernel(sf, blocks, rounding, rbits, r, ts if ts is not None else 1.0)
        return _unmove(sf, q.reshape(moved.shape), tuple(x.shape), ax, pad).to(out_dtype)
    if sf.scale_rule is ScaleRule.ABSMEAN:
        absb = blocks.abs()
        n_real = torch.full(blocks.shape[:-1], float(blocks.shape[-1]), dtype=_F64, device=x.device)
        if pad and n_real.numel():
            n_real[..., -1] -= pad
        amax = _pairwise_sum_last(absb) / n_real.clamp(min=1)
    else:
        amax = blocks.abs().amax(dim=-1) if blocks.numel() else torch.zeros(blocks.shape[:-1], dtype=_F64,
                                                                             device=x.device)
    if blocks.numel():
        amax = torch.where(torch.isnan(blocks).any(dim=-1), math.nan, amax)
    scale = _scales_reference(sf, amax, ts)[..., None]
    v = torch.where(scale > 0, blocks / torch.where(scale > 0, scale, 1.0), 0.0)
    v = torch.where(torch.isnan(scale), math.nan, v)
    q = _widen(_quantize_element(sf.element, v, rounding, rbits, r, seed))
    vals = (q * scale).reshape(moved.shape)
    return _unmove(sf, vals, tuple(x.shape), ax, pad).to(out_dtype)


# ---------------------------------------------------------------------------------------------------------
# entry points of Format.quantize / ScaledFormat.quantize with backend='torch'
def _as_tensor(x):
    """(float32/float64 tensor, function putting a result back in x's container)."""
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
        t = x.detach()
        if t.dtype not in (torch.float32, _F64):
            t = t.to(torch.float32)  # bf16/fp16/fp8 widen exactly to float32
        return t, None
    from ._arrays import rebox, unbox_float
    arr, box = unbox_float(x)
    return torch.from_numpy(arr).reshape(arr.shape), lambda y: rebox(y.numpy(), box)


def _random_bits_arg(random_bits, n: int, rbits: int, device) -> torch.Tensor:
    """Explicit random bits as an int64 tensor on `device`, checked as Format._prepare checks them."""
    r = random_bits if isinstance(random_bits, torch.Tensor) else torch.as_tensor(np.asarray(random_bits))
    if r.is_floating_point() or r.is_complex() or r.dtype == torch.bool:
        raise ValueError(f"random_bits must be integers, got dtype {r.dtype}")
    r = r.to(device=device, dtype=_I64).reshape(-1)
    if r.numel() != n:
        raise ValueError(f"random_bits has {r.numel()} values for {n} inputs; give one per input")
    if n and bool(((r < 0) | (r >= (1 << rbits))).any()):  # validation of user input: one sync, not data path
        raise ValueError(f"random_bits must lie in [0, 2**rbits) = [0, {1 << rbits})")
    return r


def format_quantize(fmt, x, rounding, overflow, generator, rbits, random_bits, offset):
    """Format.quantize on the torch backend (x: a tensor on any device, a numpy array or a scalar)."""
    t, back = _as_tensor(x)
    given = random_bits is not None
    # with explicit random bits no generator is needed: 0 stands in for it (the seed is then unused)
    mode, ovf, rbits, _, seed = fmt._prepare(t.numel(), rounding, overflow, 0 if given else generator, rbits,
                                             None, offset)
    from .lns_format import LNSRounding
    stochastic = mode.stochastic if isinstance(mode, LNSRounding) else mode is Rounding.STOCHASTIC
    rand = _random_bits_arg(random_bits, t.numel(), rbits, t.device) if (given and stochastic) else None
    out = quantize(fmt, t, mode, ovf, rbits, rand, seed, offset)
    return out if back is None else back(out)


def scaled_quantize(sf, x, axis, rounding, generator, rbits, random_bits):
    """ScaledFormat.quantize on the torch backend."""
    from .lns_format import LNSFormat, parse_lns_rounding
    from .rounding import check_rbits, parse_rounding, seed_from
    t, back = _as_tensor(x)
    elem_lns = isinstance(sf.element, LNSFormat)
    mode = parse_lns_rounding(rounding, sf.element.nearest) if elem_lns else parse_rounding(rounding)
    stochastic = mode.stochastic if elem_lns else mode is Rounding.STOCHASTIC
    rand, seed = None, 0
    if stochastic:
        rbits = check_rbits(rbits)
        if random_bits is not None:
            padded = _blocks(sf, t, axis)[1]
            rand = _random_bits_arg(random_bits, padded.numel(), rbits, t.device)
        else:
            seed = seed_from(generator)
    out = quantize_scaled(sf, t, axis, mode, rbits, rand, seed)
    return out if back is None else back(out)
