"""lowbit.numerics: bit-accurate number formats, rounding, accumulation and device models.

Public API: `get_format(name)`, `list_formats()`, `register_format`, the format families
(`FloatFormat`, `FixedFormat`/`fixed`, `ScaledFormat` with `ScaleRule`), `Rounding`, `Overflow`,
`random_bits` (the counter-based SR stream), and Kahan / low-precision summation (`kahan`).
"""
from .rounding import Overflow, Rounding, random_bits
from .format import Format
from .floatfmt import FloatFormat
from .fixed import FixedFormat, fixed
from .scaled import ScaledCodes, ScaledFormat, ScaleRule
from .ternary import TRIT, TritPlanes, fit_trit_planes, ternary_format
from .registry import get_format, list_formats, register_format
from .kahan import KahanAccumulator, kahan_sum, lowp_sum
from .lns import LNSFormat, LNSRounding, lns_scaled  # registers lns8, lns16 (+ _lin, _tensor, _channel)

__all__ = ["Format", "FloatFormat", "FixedFormat", "fixed", "ScaledFormat", "ScaledCodes", "ScaleRule",
           "Rounding", "Overflow", "random_bits", "get_format", "list_formats", "register_format",
           "KahanAccumulator", "kahan_sum", "lowp_sum",
           "TRIT", "TritPlanes", "fit_trit_planes", "ternary_format",
           "LNSFormat", "LNSRounding", "lns_scaled"]
