"""lowbit.numerics.lns: the logarithmic number system of LNS-Madam (Zhao et al., "LNS-Madam: Low-Precision
Training in Logarithmic Number System using Multiplicative Weight Update"; docs/references.md sections 4, 10).

One import for everything LNS: the format (`LNSFormat`, lns_format.py), the bit-accurate datapath
functions (`lns_mul`, `lns_table`, `lns_to_fixed`, `lns_dot`, `lns_from_fixed`, `lns_dot_code`,
lns_arith.py) and the registered presets:

  lns8            sign + 4-bit quotient + 3-bit remainder, gamma = 8, qbias 8: 2^-7.875 .. 2^7.875
  lns16           sign + 7-bit quotient + 8-bit remainder, gamma = 256, qbias 64: 2^-63.996 .. 2^63.996
  lns8_lin, lns16_lin   the same grids with nearest-in-linear as the default "nearest"
  lns8_tensor, lns8_channel, lns16_tensor, lns16_channel
                  ScaledFormat(lnsN, 'tensor' | 'channel', scale_rule 'rceil'): a power-of-two fp32 scale
                  per tensor / per slice, the smallest that keeps amax within max (no saturation)

The scale is a power of two so that products of scales are exponent adds and the datapath's integer
results stay exact; a power-of-two scale leaves up to one octave (gamma codes) of the top unused.
docs/lns.md describes the code layout and the datapath bit by bit.
"""
from __future__ import annotations

import numpy as np

from .lns_arith import LNSDot, default_frac_bits, lns_dot, lns_dot_code, lns_from_fixed, lns_mul, lns_table, \
    lns_to_fixed
from .lns_format import LNSFormat, LNSRounding, parse_lns_rounding
from .registry import get_format, register_format
from .scaled import ScaledFormat, ScaleRule

__all__ = ["LNSFormat", "LNSRounding", "parse_lns_rounding", "LNSDot", "default_frac_bits", "lns_table",
           "lns_mul", "lns_to_fixed", "lns_dot", "lns_from_fixed", "lns_dot_code", "lns_scaled", "check_scale",
           "lns_encode_scaled", "lns_decode_scaled"]


def check_scale(scale) -> np.ndarray:
    """An explicit LNS scale (a number or an array broadcastable to the tensor) as float64; ValueError
    unless every entry is a finite power of two > 0 (so that scaling is exact and shifts q)."""
    try:
        s = np.asarray(scale, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"scale={scale!r} must be a number or an array of numbers") from None
    bad = ~np.isfinite(s) | (s <= 0)
    if bad.any():
        raise ValueError(f"scale {float(s[bad].flat[0])!r} is not allowed: LNS scales are finite powers of two > 0")
    m, _ = np.frexp(s)
    if (m != 0.5).any():
        raise ValueError(f"scale {float(s[m != 0.5].flat[0])!r} is not a power of two; LNS scales are 2^k so that "
                         f"products of scales stay exponent adds")
    return s


def _like(s: np.ndarray, x):
    if s.ndim == 0:
        return float(s)
    import torch
    return torch.from_numpy(s).to(x.device) if isinstance(x, torch.Tensor) else s


def lns_encode_scaled(fmt, x, scale, **quantize_kw):
    """Codes of x / scale in `fmt` (any rounding keyword of LNSFormat.encode); scale: check_scale."""
    fmt = get_format(fmt)
    return fmt.encode(x / _like(check_scale(scale), x), **quantize_kw)


def lns_decode_scaled(fmt, codes, scale):
    """decode(codes) * scale (float64 numpy or torch, as fmt.decode returns)."""
    fmt = get_format(fmt)
    v = fmt.decode(codes)
    return v * _like(check_scale(scale), v)


def lns_scaled(fmt, granularity: str = "tensor", name: str = "") -> ScaledFormat:
    """An LNS format with a power-of-two fp32 scale per tensor or per channel (slice along `axis` of
    ScaledFormat.quantize/encode), chosen by the 'rceil' rule so that amax never saturates."""
    fmt = get_format(fmt)
    if not isinstance(fmt, LNSFormat):
        raise ValueError(f"lns_scaled: {fmt} is not an LNS format")
    if granularity not in ("tensor", "channel"):
        raise ValueError(f"lns_scaled: granularity={granularity!r}; allowed: 'tensor', 'channel'")
    return ScaledFormat(fmt, granularity, scale_rule=ScaleRule.RCEIL, name=name or f"{fmt.name}_{granularity}")


def _presets():
    for bits, gamma in ((8, 8), (16, 256)):
        for nearest, tag in (("log", ""), ("linear", "_lin")):
            register_format(LNSFormat(bits, gamma, nearest=nearest, name=f"lns{bits}{tag}"))
        for gran in ("tensor", "channel"):
            register_format(lns_scaled(f"lns{bits}", gran, name=f"lns{bits}_{gran}"))


_presets()
