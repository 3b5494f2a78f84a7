"""Independent oracles for the numerics tests: value grids enumerated from the format specs with exact
`Fraction` arithmetic (written here, not taken from lowbit), and rounding onto a sorted grid by exact
comparison. Nothing here calls the rounding code under test."""
from __future__ import annotations

import bisect
from fractions import Fraction

import ml_dtypes
import numpy as np

ML = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp8_e5m2": ml_dtypes.float8_e5m2,
      "fp8_e4m3fn": ml_dtypes.float8_e4m3fn, "fp8_e4m3": ml_dtypes.float8_e4m3,
      "fp8_e4m3fnuz": ml_dtypes.float8_e4m3fnuz, "fp8_e5m2fnuz": ml_dtypes.float8_e5m2fnuz,
      "fp6_e3m2fn": ml_dtypes.float6_e3m2fn, "fp6_e2m3fn": ml_dtypes.float6_e2m3fn,
      "fp4_e2m1fn": ml_dtypes.float4_e2m1fn, "e8m0fnu": ml_dtypes.float8_e8m0fnu}


def spec_grid(ebits, mbits, bias, policy, signed=True):
    """{code: Fraction value} of every finite code, straight from the spec formula (section 1 of
    docs/references.md): normal (-1)^s 2^(e-bias)(1 + m/2^mbits), subnormal (-1)^s 2^(1-bias)(m/2^mbits)."""
    out = {}
    nb = int(signed) + ebits + mbits
    no_sub = (not signed) and mbits == 0
    for code in range(1 << nb):
        s = (code >> (nb - 1)) & 1 if signed else 0
        e = (code >> mbits) & ((1 << ebits) - 1)
        m = code & ((1 << mbits) - 1)
        all_ones_e = e == (1 << ebits) - 1
        if policy == "ieee" and all_ones_e:
            continue
        if policy == "fn" and all_ones_e and m == (1 << mbits) - 1:
            continue
        if policy == "fnuz" and code == (1 << (nb - 1)):
            continue
        if e == 0 and not no_sub:
            v = Fraction(2) ** (1 - bias) * Fraction(m, 1 << mbits)
        else:
            v = Fraction(2) ** (e - bias) * (1 + Fraction(m, 1 << mbits))
        out[code] = -v if s else v
    return out


class Grid:
    """Sorted finite values of a format with, for each value, its code (the +0 code for zero)."""

    def __init__(self, code_values: dict):
        by_val = {}
        for c, v in code_values.items():
            if v not in by_val or (v == 0 and c < by_val[v]):
                by_val[v] = c
        self.vals = sorted(by_val)
        self.codes = [by_val[v] for v in self.vals]
        self.max = self.vals[-1]

    def neighbours(self, x: Fraction):
        """(lo, hi) grid values with lo <= x <= hi (None beyond the ends)."""
        i = bisect.bisect_left(self.vals, x)
        if i < len(self.vals) and self.vals[i] == x:
            return x, x
        lo = self.vals[i - 1] if i > 0 else None
        hi = self.vals[i] if i < len(self.vals) else None
        return lo, hi

    def code_of(self, v: Fraction) -> int:
        return self.codes[bisect.bisect_left(self.vals, v)]

    def round(self, x: Fraction, mode: str, tie_up_magnitude: bool = False):
        """The grid value that `mode` selects for x within [min, max] (exact comparisons only)."""
        lo, hi = self.neighbours(x)
        if lo == hi:
            return lo
        if lo is None:
            return hi
        if hi is None:
            return lo
        if mode == "up":
            return hi
        if mode == "down":
            return lo
        if mode == "toward_zero":
            return lo if x > 0 else hi
        mid = (lo + hi) / 2
        if x != mid:
            return lo if x < mid else hi
        away = hi if x > 0 else lo
        if mode == "nearest_away" or tie_up_magnitude:
            return away
        return lo if self.code_of(lo) % 2 == 0 else hi


def frac(x) -> Fraction:
    return Fraction(float(x))
