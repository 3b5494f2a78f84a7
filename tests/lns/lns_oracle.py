"""Independent references for the LNS tests: high-precision `decimal` arithmetic (80 digits) and exact
integer/Fraction checks. Nothing here imports lowbit's LNS code."""
from __future__ import annotations

import decimal
from fractions import Fraction

D = decimal.Context(prec=80)


def pow2(num: int, den: int) -> decimal.Decimal:
    """2^(num/den) to 80 digits."""
    return D.power(decimal.Decimal(2), D.divide(decimal.Decimal(num), decimal.Decimal(den)))


def grid(bits: int, gamma: int, qbias: int) -> list:
    """Decimal magnitudes of mag = 0..2^(bits-1)-1 (mag 0 -> 0)."""
    return [decimal.Decimal(0)] + [pow2(m - qbias * gamma, gamma) for m in range(1, 1 << (bits - 1))]


def exact_pow2_rounds_to(d: float, x: int, gamma: int) -> bool:
    """Is the float64 d the correctly rounded value of 2^(x/gamma)?  |d - V| <= ulp/2 with V^gamma = 2^x,
    checked exactly: (d - h)^gamma <= 2^x <= (d + h)^gamma."""
    import math
    fd, h = Fraction(d), Fraction(math.ulp(d)) / 2
    target = Fraction(2) ** x
    return (fd - h) ** gamma <= target <= (fd + h) ** gamma


def table_entry_ok(t: int, r: int, gamma: int, frac_bits: int) -> bool:
    """t == round(2^(r/gamma) * 2^F), i.e. (t - 1/2)^gamma <= 2^(r + gamma F) < (t + 1/2)^gamma."""
    target = Fraction(2) ** (r + gamma * frac_bits)
    return (Fraction(2 * t - 1, 2)) ** gamma <= target < (Fraction(2 * t + 1, 2)) ** gamma


def nearest_mag(value, bits: int, gamma: int, qbias: int, g=None) -> int:
    """The magnitude code whose value is nearest (linear distance) to abs(value), by brute force over
    the 80-digit grid (min/max clamped as the datapath does; 0 only for 0)."""
    a = abs(decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator)) \
        if isinstance(value, Fraction) else abs(decimal.Decimal(value))
    if a == 0:
        return 0
    g = g or grid(bits, gamma, qbias)
    return min(range(1, len(g)), key=lambda m: abs(g[m] - a))
