"""Public tensor operations of the torch backend for code that keeps its own integer state on a device
(LNS-Madam's codes): the same bits as the numpy functions they mirror (tests/numerics/test_torch_backend.py).

  random_bits(seed, n, rbits, offset, device)   rounding.random_bits as an int64 tensor on `device`
  round_magnitude(t, negative, mode, rbits, r)  rounding.round_magnitude on float64 tensors
  lns_encode(fmt, x, rounding, overflow)        LNSFormat.encode of a tensor (deterministic modes)
  lns_decode(fmt, codes)                         LNSFormat.decode of int64 codes (float64), unchecked
"""
from __future__ import annotations

from ._torch_backend import lns_codes, lns_decode, random_bits, round_magnitude
from .rounding import Overflow, parse_overflow

__all__ = ["random_bits", "round_magnitude", "lns_encode", "lns_decode"]


def lns_encode(fmt, x, rounding="nearest_even", overflow=None):
    """Codes (int64, x's shape and device) of the float tensor x in the LNS format `fmt`, as
    fmt.encode(x, rounding=rounding, overflow=overflow) gives them for the deterministic modes."""
    from .lns_format import LNSRounding, parse_lns_rounding
    mode = parse_lns_rounding(rounding, fmt.nearest)
    if mode in (LNSRounding.STOCHASTIC, LNSRounding.STOCHASTIC_LINEAR):
        raise ValueError("lns_encode: stochastic modes need a stream; use fmt.quantize(..., backend='torch')")
    ovf = fmt.default_overflow if overflow is None else parse_overflow(overflow)
    return lns_codes(fmt, x.double(), mode, ovf is Overflow.IEEE)
