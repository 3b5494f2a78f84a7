"""Integer and fixed-point formats: value = k * 2^-frac_bits with k an integer of `bits` bits
(two's complement when signed). int8 = FixedFormat(8, 0); `fixed(bits, frac_bits)` builds Qm.n formats.

`symmetric=True` drops the most negative code (-2^(bits-1)), the restricted range of symmetric integer
quantization; FixedFormat(2, 0, symmetric=True) is the trit {-1, 0, +1} of ternary formats.

Rounding uses the shared primitive (`rounding.round_magnitude`); overflow saturates by default (the
hardware convention; the formats have no Inf/NaN) or wraps modulo 2^bits with overflow='wrap'.
Codes are the two's-complement bit patterns in [0, 2^bits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _fast
from .format import ElementFormat
from .rounding import MODE_ID, Overflow, Rounding, round_magnitude

__all__ = ["FixedFormat", "fixed"]


@dataclass(frozen=True)
class FixedFormat(ElementFormat):
    int_bits: int  # total bits (named int_bits so that `bits` stays the derived property of every Format)
    frac_bits: int = 0
    signed: bool = True
    name: str = field(default="", compare=False)
    symmetric: bool = False

    kind = "fixed"
    default_overflow = Overflow.SATURATE
    # 'ieee' has no meaning without Inf/NaN; it is accepted as the format's own behaviour: saturation.
    allowed_overflow = (Overflow.SATURATE, Overflow.IEEE, Overflow.WRAP)

    def __post_init__(self):
        for key in ("int_bits", "frac_bits"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"FixedFormat: {key} must be an integer, got {v!r}")
        if not 1 + int(self.signed) <= self.int_bits <= 32:
            raise ValueError(f"FixedFormat: bits={self.int_bits} out of range; allowed {1 + int(self.signed)}..32")
        if not -64 <= self.frac_bits <= 64:
            raise ValueError(f"FixedFormat: frac_bits={self.frac_bits} out of range; allowed -64..64")
        if self.symmetric and not self.signed:
            raise ValueError("FixedFormat: symmetric=True needs a signed format")
        if not self.name:
            base = f"{'int' if self.signed else 'uint'}{self.int_bits}"
            object.__setattr__(self, "name", base if self.frac_bits == 0 else f"fixed{self.int_bits}_{self.frac_bits}"
                               + ("" if self.signed else "u"))

    @property
    def bits(self) -> int:
        return self.int_bits

    @property
    def kmin(self) -> int:
        if not self.signed:
            return 0
        return -(1 << (self.int_bits - 1)) + int(self.symmetric)

    @property
    def kmax(self) -> int:
        return (1 << (self.int_bits - 1)) - 1 if self.signed else (1 << self.int_bits) - 1

    @property
    def max(self) -> float:
        return math.ldexp(self.kmax, -self.frac_bits)

    @property
    def min(self) -> float:
        return math.ldexp(self.kmin, -self.frac_bits)

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, -self.frac_bits)

    min_subnormal = min_normal
    eps = min_normal  # the step is uniform

    def kernel_grid(self, mode: Rounding, overflow: Overflow) -> tuple | None:
        """The float kernel's parameters for a signed format with saturating overflow ('ieee' means
        saturate here); None (the reference rounds) for unsigned or wrapping formats.

        The grid step is 2^-frac_bits at every magnitude (emin above every input, so q = q_sub), a
        magnitude above kmax saturates to kmax or, for negative inputs, to kmin (-128 for int8, -127 for
        a symmetric int8), +-Inf saturate the same way, NaN stays NaN and zero has no sign. Inputs whose
        float64 ulp exceeds the step (|x| >= 2^(53 - frac_bits)) are beyond kmax <= 2^31 and saturate."""
        if not self.signed or overflow is Overflow.WRAP:
            return None
        step = float(np.ldexp(1.0, -self.frac_bits))
        hi, lo = float(np.ldexp(float(self.kmax), -self.frac_bits)), float(np.ldexp(float(self.kmin), -self.frac_bits))
        return (60, 1 << 30, -int(self.frac_bits), True, True, True, hi, step, hi, lo, hi, lo, MODE_ID[mode])

    def _quantize_flat(self, x, mode, overflow, rbits, rand, seed, offset):
        out_dtype = np.float32 if (x.dtype == np.float32 and self.int_bits <= 24) else np.float64
        if _fast.supports(self, overflow):
            return _fast.quantize_grid(self, x, mode, overflow, rbits, rand, seed, offset, out_dtype)
        return self._quantize_reference(x, mode, overflow, rbits, rand, seed, offset).astype(out_dtype)

    def _quantize_reference(self, x, mode, overflow, rbits, rand, seed, offset):
        x64 = x.astype(np.float64)
        rand = self._stream(seed, x.size, rbits, offset, rand) if mode is Rounding.STOCHASTIC else None
        neg = np.signbit(x64)
        finite = np.isfinite(x64)
        a = np.abs(np.where(finite, x64, 0.0))
        t = np.ldexp(a, self.frac_bits)
        # With frac_bits < 0 the scaling can underflow a tiny float64 (subnormal) to 0, and "up" would
        # then keep 0; any positive t below one step decides the same in every mode, so keep the least.
        t = np.where((t == 0) & (a > 0), np.nextafter(0.0, 1.0), t)
        k = round_magnitude(t, neg, mode, rbits, rand)
        k = np.where(neg, -k, k)
        if overflow is Overflow.WRAP:
            span = float(self.kmax - self.kmin + 1)
            k = np.mod(k - self.kmin, span) + self.kmin
        else:
            k = np.clip(k, self.kmin, self.kmax)
        k = np.where(np.isinf(x64), np.where(neg, self.kmin, self.kmax), k)
        return np.where(np.isnan(x64), np.nan, np.ldexp(k, -self.frac_bits) + 0.0)  # +0.0: no -0

    def _encode_values(self, v):
        if np.isnan(v).any():
            raise ValueError(f"{self.name} has no NaN code; {int(np.isnan(v).sum())} input(s) are NaN")
        k = np.ldexp(v, self.frac_bits).astype(np.int64)
        return np.where(k < 0, k + (1 << self.int_bits), k)

    def _unused_codes(self, c):
        return (c == (1 << (self.int_bits - 1))) if self.symmetric else np.zeros(c.shape, bool)

    def _decode_flat(self, c):
        k = np.where(self.signed & (c >= (1 << (self.int_bits - 1))), c - (1 << self.int_bits), c)
        v = np.ldexp(k.astype(np.float64), -self.frac_bits)
        v = np.where(self._unused_codes(c), np.nan, v)  # values() shows the unused code as NaN
        return v.astype(np.float32 if self.int_bits <= 24 else np.float64)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bits": self.bits, "frac_bits": self.frac_bits, "signed": self.signed,
                "symmetric": self.symmetric,
                "max": self.max, "min": self.min, "step": self.eps}


def fixed(bits: int, frac_bits: int, signed: bool = True, symmetric: bool = False) -> FixedFormat:
    """A signed (two's complement) or unsigned fixed-point format with `frac_bits` fraction bits."""
    return FixedFormat(bits, frac_bits, signed, symmetric=symmetric)
