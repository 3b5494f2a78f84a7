"""An independent oracle for the RTL golden models: exact `Fraction` values straight from the format
spec (docs/references.md section 1) and one rounding of an exact rational per IEEE 754-2019 sections 4.3
and 7.4 (and stochastic rounding as in "Revisiting BFloat16 Training"), written here without lowbit's
rounding code. Only format parameters (ebits, mbits, bias, policy) are read from lowbit."""
from __future__ import annotations

import math
from fractions import Fraction

NAN = "nan"


def value(f, code: int):
    """Fraction value of a code, or +-inf (float) or NAN."""
    s = (code >> (f.bits - 1)) & 1
    e = (code >> f.mbits) & ((1 << f.ebits) - 1)
    m = code & ((1 << f.mbits) - 1)
    ones = (1 << f.ebits) - 1
    if f.policy == "ieee" and e == ones:
        return NAN if m else (-math.inf if s else math.inf)
    if f.policy == "fn" and e == ones and m == (1 << f.mbits) - 1:
        return NAN
    if f.policy == "fnuz" and code == 1 << (f.bits - 1):
        return NAN
    if e == 0:
        v = Fraction(m, 1 << f.mbits) * Fraction(2) ** (1 - f.bias)
    else:
        v = (1 + Fraction(m, 1 << f.mbits)) * Fraction(2) ** (e - f.bias)
    return -v if s else v


def max_value(f) -> Fraction:
    ones = (1 << f.ebits) - 1
    if f.policy == "ieee":
        e, m = ones - 1, (1 << f.mbits) - 1
    elif f.policy == "fn":
        e, m = ones, (1 << f.mbits) - 2
    else:
        e, m = ones, (1 << f.mbits) - 1
    return (1 + Fraction(m, 1 << f.mbits)) * Fraction(2) ** (e - f.bias)


def _floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** e > x:
        e -= 1
    while Fraction(2) ** (e + 1) <= x:
        e += 1
    return e


def _round_up(fl, frac, neg, mode, rbits, r) -> bool:
    """Whether a magnitude with integer part fl and fraction frac in [0, 1) rounds up (IEEE 754-2019 4.3)."""
    if mode == "nearest_even":
        return frac > Fraction(1, 2) or (frac == Fraction(1, 2) and fl % 2 == 1)
    if mode == "nearest_away":
        return frac >= Fraction(1, 2)
    if mode == "toward_zero":
        return False
    if mode == "up":
        return frac > 0 and not neg
    if mode == "down":
        return frac > 0 and neg
    if mode == "stochastic":
        return r < math.floor(frac * (1 << rbits))
    raise ValueError(mode)


def is_tiny(f, x, tininess: str, mode: str, rbits: int = 0, r: int = 0) -> bool:
    """IEEE 754-2019 7.5: a nonzero finite exact x is tiny before rounding when |x| < 2^emin, after
    rounding when |x| rounded to the format's precision with an unbounded exponent range is."""
    if not isinstance(x, Fraction) or x == 0:
        return False
    a, mn = abs(x), Fraction(2) ** (1 - f.bias)
    if tininess == "before":
        return a < mn
    q = _floor_log2(a) - f.mbits          # no lower clamp: the exponent range is unbounded
    t = a / Fraction(2) ** q
    fl = t.numerator // t.denominator
    return (fl + _round_up(fl, t - fl, x < 0, mode, rbits, r)) * Fraction(2) ** q < mn


def is_subnormal(f, x) -> bool:
    return isinstance(x, Fraction) and x != 0 and abs(x) < Fraction(2) ** (1 - f.bias)


def round_fraction(f, x, mode: str, overflow: str = "ieee", rbits: int = 0, r: int = 0):
    """Round exact x (Fraction, +-inf or NAN) once into format f; returns a Fraction, +-inf or NAN.
    An exact zero keeps the sign given as x = Fraction(0) (+0) -- callers handle signed zeros."""
    if x is NAN:
        return NAN
    mx = max_value(f)
    neg = x < 0
    if isinstance(x, float):  # infinite
        if overflow == "saturate" or f.policy == "none":
            return -mx if neg else mx
        return x if f.policy == "ieee" else NAN
    if x == 0:
        return Fraction(0)
    a = -x if neg else x
    emin = 1 - f.bias
    q = max(_floor_log2(a), emin) - f.mbits
    t = a / Fraction(2) ** q
    fl = t.numerator // t.denominator
    inc = _round_up(fl, t - fl, neg, mode, rbits, r)
    res = (fl + inc) * Fraction(2) ** q
    if res > mx:
        to_max = (overflow == "saturate" or f.policy == "none" or mode == "toward_zero"
                  or (mode == "up" and neg) or (mode == "down" and not neg))
        if to_max:
            res = mx
        else:
            return NAN if f.policy != "ieee" else (-math.inf if neg else math.inf)
    return -res if neg else res


def code_of(f, v, negative_zero: bool = False) -> int:
    """The code of a rounded value (canonical positive NaN)."""
    if v is NAN:
        return f.nan_code
    sign = 1 << (f.bits - 1)
    if isinstance(v, float):
        return (((1 << f.ebits) - 1) << f.mbits) | (sign if v < 0 else 0)
    if v == 0:
        return sign if negative_zero else 0
    a = abs(v)
    for code in range(1 << (f.bits - 1)):
        if value(f, code) == a:
            return code | (sign if v < 0 else 0)
    raise AssertionError(f"{v} is not on the grid of {f.name}")


def code_table(f) -> dict:
    """{Fraction magnitude: code} for fast code_of on formats up to 16 bits."""
    out = {}
    for code in range(1 << (f.bits - 1)):
        v = value(f, code)
        if isinstance(v, Fraction):
            out.setdefault(v, code)
    return out
