"""lowbit.numerics: bit-accurate number formats, rounding, accumulation and device models.

Public API: `get_format(name)`, `list_formats()`, `register_format`, the one `Format` interface and
its families (`ElementFormat`: `FloatFormat`, `FixedFormat`/`fixed`, `LNSFormat`; `ScaledFormat` with
`ScaleRule`), `Rounding`, `Overflow`,
`random_bits` (the counter-based SR stream), and Kahan / low-precision summation (`kahan`);
`arith` (exactly rounded mul/add/dot on codes, the RTL golden models) and `Lfsr`/`lfsr_words` (the RTL's
random source).
"""
from .rounding import Overflow, Rounding, random_bits
from .format import ElementFormat, Format, normalize_axis
from .floatfmt import FloatFormat
from .fixed import FixedFormat, fixed
from .scaled import ScaledCodes, ScaledFormat, ScaleRule
from .ternary import TRIT, TritPlanes, fit_trit_planes, ternary_format
from .registry import get_format, list_formats, register_format
from .kahan import KahanAccumulator, kahan_sum, lowp_sum
from .lns import LNSFormat, LNSRounding, lns_scaled  # registers lns8, lns16 (+ _lin, _tensor, _channel)
from . import arith  # exactly rounded ops on codes: the RTL's golden models
from .lfsr import Lfsr, lfsr_words

__all__ = ["Format", "ElementFormat", "normalize_axis", "FloatFormat", "FixedFormat", "fixed", "ScaledFormat", "ScaledCodes", "ScaleRule",
           "Rounding", "Overflow", "random_bits", "get_format", "list_formats", "register_format",
           "KahanAccumulator", "kahan_sum", "lowp_sum",
           "TRIT", "TritPlanes", "fit_trit_planes", "ternary_format",
           "LNSFormat", "LNSRounding", "lns_scaled", "arith", "Lfsr", "lfsr_words"]
