"""Logarithmic number system formats (LNS-Madam, Zhao et al., "LNS-Madam: Low-Precision Training in
Logarithmic Number System using Multiplicative Weight Update"; docs/references.md sections 4 and 10).

`LNSFormat(bits, gamma, qbias, nearest)`: a code is `sign | mag` with the sign in the top bit and an
unsigned (bits-1)-bit magnitude `mag = q * gamma + r` (quotient q in the high bits, remainder r in the
low log2(gamma) bits). mag = 0 is an explicit zero; the code with sign 1 and mag 0 is the only NaN
(as in fnuz floats: no -0, no Inf). Other codes have the value

    (-1)^sign * 2^(q - qbias) * 2^(r / gamma)  =  (-1)^sign * 2^((mag - qbias * gamma) / gamma)

so multiplication is an integer add of the magnitudes. gamma is a power of two; qbias defaults to
2^(qbits-1), which puts 1.0 in the middle of the code range. lns8 = LNSFormat(8, 8): sign + 4-bit
quotient + 3-bit remainder, values 2^-7.875 .. 2^7.875 in steps of 2^(1/8) (9.05 %).

Rounding happens in the log domain. Boundaries between grid points are irrational, so the decision is
made against exact constants (lns_exact.py). Modes (`rounding=`):
  nearest_log     nearest in log2 (geometric midpoints); what the "nearest" names pick by default
  nearest_linear  nearest in value (arithmetic midpoints); pick it as the default with nearest='linear'
  nearest_even / nearest_away  -> the format's `nearest` split (ties cannot occur except gamma=1 linear)
  toward_zero, up, down        directed, on the log grid
  stochastic      (= stochastic_log) round the log2 code up with probability frac(gamma*log2|x|), using
                  `rounding.round_magnitude` with the counter-based `random_bits` stream (rbits bits)
  stochastic_linear  round up with probability (|x| - lo) / (hi - lo): unbiased in value
Below the smallest magnitude `min`, every mode chooses between 0 and min in the linear domain (the log
distance to zero is infinite): nearest -> min iff |x| >= min/2, stochastic -> min with probability
|x|/min. Above `max`: overflow='saturate' (default) clamps to +-max (Inf too); overflow='ieee' gives NaN.
Decoded values are the float64 nearest to the exact value (correctly rounded).
"""
from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _fast_lns, lns_exact
from ._arrays import rebox, unbox_float
from .format import DEFAULT_RBITS, ElementFormat, normalize_axis
from .rounding import Overflow, Rounding, round_magnitude

__all__ = ["LNSFormat", "LNSRounding", "parse_lns_rounding"]

_F32_MAX = float(np.finfo(np.float32).max)


class LNSRounding(enum.Enum):
    NEAREST_LOG = "nearest_log"
    NEAREST_LINEAR = "nearest_linear"
    TOWARD_ZERO = "toward_zero"
    UP = "up"
    DOWN = "down"
    STOCHASTIC = "stochastic"           # in the log domain
    STOCHASTIC_LINEAR = "stochastic_linear"

    @property
    def stochastic(self) -> bool:
        return self in (LNSRounding.STOCHASTIC, LNSRounding.STOCHASTIC_LINEAR)


_ALIASES = {"stochastic_log": LNSRounding.STOCHASTIC, Rounding.TOWARD_ZERO: LNSRounding.TOWARD_ZERO,
            Rounding.UP: LNSRounding.UP, Rounding.DOWN: LNSRounding.DOWN, Rounding.STOCHASTIC: LNSRounding.STOCHASTIC}


def parse_lns_rounding(value, nearest: str = "log") -> LNSRounding:
    """An LNSRounding from its name, an LNSRounding, or a generic `Rounding` (nearest_* -> `nearest`)."""
    if isinstance(value, LNSRounding):
        return value
    if isinstance(value, Rounding) or value in ("nearest_even", "nearest_away"):
        r = value if isinstance(value, Rounding) else Rounding(value)
        if r in (Rounding.NEAREST_EVEN, Rounding.NEAREST_AWAY):
            return LNSRounding.NEAREST_LOG if nearest == "log" else LNSRounding.NEAREST_LINEAR
        return _ALIASES[r]
    if value in _ALIASES:
        return _ALIASES[value]
    try:
        return LNSRounding(str(value))
    except ValueError:
        allowed = ", ".join([m.value for m in LNSRounding] + ["stochastic_log", "nearest_even", "nearest_away"])
        raise ValueError(f"unknown LNS rounding mode {value!r}; allowed: {allowed}") from None


def _int_param(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"LNSFormat: {name} must be an integer, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class LNSFormat(ElementFormat):
    """Sign + (bits-1)-bit log magnitude with base 2^(1/gamma); see the module docstring."""
    bits: int
    gamma: int = 8
    qbias: int | None = None
    nearest: str = "log"
    name: str = field(default="", compare=False)

    kind = "lns"
    default_overflow = Overflow.SATURATE
    allowed_overflow = (Overflow.SATURATE, Overflow.IEEE)

    def __post_init__(self):
        bits, gamma = _int_param("bits", self.bits), _int_param("gamma", self.gamma)
        if gamma < 1 or gamma & (gamma - 1):
            raise ValueError(f"LNSFormat: gamma={gamma} must be a power of two (1, 2, 4, 8, ...): the "
                             f"remainder r of mag = q*gamma + r is a bit field")
        rem = gamma.bit_length() - 1
        if bits < rem + 2:
            raise ValueError(f"LNSFormat: bits={bits} is too small for gamma={gamma}: need 1 sign bit, "
                             f"{rem} remainder bits and at least 1 quotient bit, i.e. bits >= {rem + 2}")
        if bits > 32 or gamma > 1 << 16:
            raise ValueError(f"LNSFormat: bits={bits}, gamma={gamma}; allowed bits <= 32, gamma <= 65536")
        qbias = (1 << (bits - 2 - rem)) if self.qbias is None else _int_param("qbias", self.qbias)
        qmax = (1 << (bits - 1 - rem)) - 1
        if qmax - qbias > 1000 or qbias > 1000:
            raise ValueError(f"LNSFormat: qbias={qbias} with {bits - 1 - rem} quotient bits puts the range "
                             f"2^{-qbias}..2^{qmax - qbias + 1} outside float64; keep both exponents <= 1000")
        if self.nearest not in ("log", "linear"):
            raise ValueError(f"LNSFormat: nearest={self.nearest!r}; allowed: 'log', 'linear'")
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "qbias", qbias)
        if not self.name:
            default_q = qbias == 1 << (bits - 2 - rem)
            object.__setattr__(self, "name", f"lns{bits}_g{gamma}" + ("" if default_q else f"_q{qbias}")
                               + ("" if self.nearest == "log" else "_lin"))

    # ---- derived parameters ----
    @property
    def rem_bits(self) -> int:
        return self.gamma.bit_length() - 1

    @property
    def qbits(self) -> int:
        return self.bits - 1 - self.rem_bits

    @property
    def max_mag(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def nan_code(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def zero_bias(self) -> int:
        """mag of 1.0 (= qbias * gamma): value = 2^((mag - zero_bias) / gamma)."""
        return self.qbias * self.gamma

    def _mag_value(self, mag: int) -> float:
        return float(self._decode_flat(np.array([mag], dtype=np.int64))[0])

    # cached: decoding a code per access cost ~20 us, and the training path asks on every quantize call
    @functools.cached_property
    def max(self) -> float:
        return self._mag_value(self.max_mag)

    @functools.cached_property
    def min_normal(self) -> float:
        return self._mag_value(1)

    @property
    def min_subnormal(self) -> float:
        return self.min_normal

    @property
    def eps(self) -> float:
        """Relative spacing of neighbouring magnitudes, 2^(1/gamma) - 1."""
        return float(lns_exact.decode_mantissas(self.gamma)[1] - 1.0) if self.gamma > 1 else 1.0

    @functools.cached_property
    def fits_float32(self) -> bool:
        return self.max <= _F32_MAX and self.min_normal >= 2.0 ** -126

    def _min_threshold(self) -> float:
        """The smallest float64 >= min (exactly min for gamma = 1)."""
        if self.gamma == 1:
            return math.ldexp(1.0, 1 - self.qbias)
        return math.ldexp(float(lns_exact.grid_thresholds(self.gamma)[1]), -self.qbias)

    # ---- rounding names: the LNS modes are translated here, the base class does the rest ----
    def _prepare(self, n, rounding, overflow, generator, rbits, random_bits_arr, offset):
        mode = parse_lns_rounding(rounding, self.nearest)
        base = Rounding.STOCHASTIC if mode.stochastic else Rounding.NEAREST_EVEN
        _, ovf, rbits, rand, seed = super()._prepare(n, base, overflow, generator, rbits, random_bits_arr, offset)
        return mode, ovf, rbits, rand, seed

    # ---- the reference rounding: float64 in, codes out ----
    def _codes_flat(self, x: np.ndarray, mode: LNSRounding, overflow: Overflow, rbits: int,
                    rand: np.ndarray | None, seed: int = 0, offset: int = 0) -> np.ndarray:
        """Codes of the flat x; the stochastic modes draw `rand` if given, else random_bits(seed, n, rbits, offset)."""
        if _fast_lns.enabled(mode):
            return _fast_lns.lns_round(self, x, mode, overflow is Overflow.IEEE, None, rbits, rand, seed, offset)
        rand = self._stream(seed, x.size, rbits, offset, rand) if mode.stochastic else None
        return self._codes_reference(x, mode, overflow, rbits, rand)

    def _codes_reference(self, x: np.ndarray, mode: LNSRounding, overflow: Overflow, rbits: int,
                         rand: np.ndarray | None) -> np.ndarray:
        g = self.gamma
        x = x.astype(np.float64)
        neg, nan, inf = np.signbit(x), np.isnan(x), np.isinf(x)
        a = np.where(nan | inf, 0.0, np.abs(x))
        m, e = np.frexp(a)
        m2, big_e = np.where(a > 0, 2.0 * m, 1.0), e.astype(np.int64) - 1  # a = m2 * 2^big_e, m2 in [1, 2)
        # Floor on the grid whose points are the decoded doubles D[j] (so that every value the format
        # decodes to is a fixed point of every mode); D[j] is within half an ulp of 2^(j/gamma).
        dm = lns_exact.decode_mantissas(g)
        j = np.searchsorted(dm, m2, side="right") - 1
        off_grid = m2 != dm[j]
        if mode in (LNSRounding.NEAREST_LOG, LNSRounding.NEAREST_LINEAR):
            split = "log" if mode is LNSRounding.NEAREST_LOG else "linear"
            step = np.searchsorted(lns_exact.nearest_thresholds(g, split), m2, side="right") - j
        elif mode is LNSRounding.TOWARD_ZERO:
            step = np.zeros_like(j)
        elif mode is LNSRounding.UP:
            step = (off_grid & ~neg).astype(np.int64)
        elif mode is LNSRounding.DOWN:
            step = (off_grid & neg).astype(np.int64)
        else:
            lo = dm[j]
            if mode is LNSRounding.STOCHASTIC:
                frac = np.clip(g * np.log2(m2) - j, 0.0, np.nextafter(1.0, 0.0))
            else:
                hi = np.where(j + 1 < g, dm[np.minimum(j + 1, g - 1)], 2.0)
                frac = np.clip((m2 - lo) / (hi - lo), 0.0, np.nextafter(1.0, 0.0))
            step = round_magnitude(frac, neg, Rounding.STOCHASTIC, rbits, rand).astype(np.int64)
        mag = (big_e + self.qbias) * g + j + step
        # Below min: choose between 0 and min in the linear domain (see the module docstring).
        tiny = a < self.min_normal
        if mode in (LNSRounding.NEAREST_LOG, LNSRounding.NEAREST_LINEAR):
            low = 2.0 * a >= self._min_threshold()
        elif mode is LNSRounding.TOWARD_ZERO:
            low = np.zeros(a.shape, bool)
        elif mode in (LNSRounding.UP, LNSRounding.DOWN):
            low = (a > 0) & (neg if mode is LNSRounding.DOWN else ~neg)
        else:
            frac = np.where(tiny, a / self.min_normal, 0.0)
            low = round_magnitude(frac, neg, Rounding.STOCHASTIC, rbits, rand) > 0
        mag = np.where(tiny, low.astype(np.int64), mag)
        over = (mag > self.max_mag) | inf
        mag = np.where(over, self.max_mag, mag)
        code = np.where(neg & (mag > 0), mag | self.nan_code, mag)
        if overflow is Overflow.IEEE:
            code = np.where(over, self.nan_code, code)
        return np.where(nan, self.nan_code, code).astype(np.int64)

    def _quantize_flat(self, x, mode, overflow, rbits, rand, seed, offset):
        out_dtype = np.float32 if (x.dtype == np.float32 and self.fits_float32) else np.float64
        if _fast_lns.enabled(mode):
            return _fast_lns.lns_round(self, x, mode, overflow is Overflow.IEEE, out_dtype, rbits, rand, seed, offset)
        rand = self._stream(seed, x.size, rbits, offset, rand) if mode.stochastic else None
        return self._decode_flat(self._codes_reference(x, mode, overflow, rbits, rand)).astype(out_dtype)

    def encode(self, x, axis: int = -1, rounding="nearest_even", overflow=None, generator=None,
               rbits: int = DEFAULT_RBITS, random_bits=None, offset: int = 0):
        """Codes (int64 in [0, 2**bits)) of x rounded as `quantize` does; NaN -> nan_code."""
        arr, box = unbox_float(x)
        normalize_axis(axis, arr.ndim)
        mode, ovf, rbits, rand, seed = self._prepare(arr.size, rounding, overflow, generator, rbits,
                                                     random_bits, offset)
        return rebox(self._codes_flat(arr.reshape(-1), mode, ovf, rbits, rand, seed, offset), box)

    def _encode_values(self, v: np.ndarray) -> np.ndarray:
        return self._codes_flat(v, LNSRounding.NEAREST_LOG, Overflow.SATURATE, 0, None)

    def _decode_flat(self, c: np.ndarray) -> np.ndarray:
        sign = (c >> (self.bits - 1)) & 1
        mag = c & self.max_mag
        q, r = mag >> self.rem_bits, mag & (self.gamma - 1)
        val = np.ldexp(lns_exact.decode_mantissas(self.gamma)[r], q - self.qbias)
        val = np.where(mag == 0, np.where(sign == 1, np.nan, 0.0), np.where(sign == 1, -val, val))
        return val.astype(np.float64)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bits": self.bits, "gamma": self.gamma, "qbits": self.qbits,
                "rem_bits": self.rem_bits, "qbias": self.qbias, "nearest": self.nearest, "max": self.max,
                "min": self.min_normal, "eps": self.eps, "zero_code": 0, "nan_code": self.nan_code}
