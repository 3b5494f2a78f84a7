"""Exact constants of the logarithmic number system (LNS-Madam, Zhao et al., "LNS-Madam: Low-Precision
Training in Logarithmic Number System using Multiplicative Weight Update").

LNS grid points 2^(j/gamma) and the rounding boundaries between them (geometric midpoints
2^((2j+1)/(2 gamma)) for nearest-in-log, arithmetic midpoints (2^(j/gamma) + 2^((j+1)/gamma)) / 2 for
nearest-in-linear) are irrational for gamma >= 2, so no float computation of log2(x) can place an input
on the right side of a boundary every time. Instead every constant here is derived from exact integer
k-th roots of powers of two (`floor(2^(a/k))` by integer Newton iteration): the boundary itself becomes
"the smallest float64 >= the irrational boundary", and comparing a float64 input with that double is an
exact decision. Nothing here calls log2/exp from libm.
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["root_pow2", "table", "decode_mantissas", "grid_thresholds", "nearest_thresholds"]

_MB = 52  # fraction bits of a float64 mantissa in [1, 2)


def root_pow2(m: int, k: int) -> tuple[int, bool]:
    """(floor(2^(m/k)), exact) for integers m >= 0, k >= 1: the integer k-th root of 2^m."""
    n = 1 << m
    ip, fr = divmod(m, k)
    # A float guess good to ~50 bits, lifted above the root, then integer Newton (monotone from above).
    x = (int(math.ldexp(2.0 ** (fr / k), min(ip, 60))) << max(ip - 60, 0)) + (1 << max(ip - 48, 0)) + 2
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            break
        x = y
    while x ** k > n:
        x -= 1
    while (x + 1) ** k <= n:
        x += 1
    return x, x ** k == n


def _ceil_pow2(m: int, k: int) -> int:
    """ceil(2^(m/k))."""
    x, exact = root_pow2(m, k)
    return x if exact else x + 1


@functools.lru_cache(maxsize=None)
def table(gamma: int, frac_bits: int) -> tuple[int, ...]:
    """The remainder table of the LNS datapath: T[r] = round(2^(r/gamma) * 2^frac_bits), r = 0..gamma-1
    (Q1.frac_bits). 2^(r/gamma) * 2^F is irrational for 0 < r < gamma, so no entry is a tie;
    round(y) = floor((floor(2y) + 1) / 2) is exact from the integer root of 2^(r + gamma (F + 1))."""
    return tuple((root_pow2(r + gamma * (frac_bits + 1), gamma)[0] + 1) // 2 for r in range(gamma))


@functools.lru_cache(maxsize=None)
def decode_mantissas(gamma: int) -> np.ndarray:
    """float64 nearest to 2^(r/gamma), r = 0..gamma-1 (correctly rounded; all in [1, 2))."""
    return np.array([math.ldexp(t, -_MB) for t in table(gamma, _MB)], dtype=np.float64)


@functools.lru_cache(maxsize=None)
def grid_thresholds(gamma: int) -> np.ndarray:
    """G[j] = the smallest float64 >= 2^(j/gamma), j = 0..gamma-1. A mantissa m in [1, 2) lies on or above
    grid point j iff m >= G[j] (exact: m is a float64)."""
    return np.array([math.ldexp(_ceil_pow2(j + gamma * _MB, gamma), -_MB) for j in range(gamma)])


def _ceil_mean_pow2(j: int, gamma: int) -> int:
    """ceil(2^51 * (2^(j/gamma) + 2^((j+1)/gamma))), exact: the floors of both terms at 51 + e bits put
    the sum, times 2^e, in the open interval (lo, lo + 2) (or on lo if both are exact); e grows until no
    multiple of 2^e (a jump of ceil) lies inside."""
    e = 64
    while True:
        f1, x1 = root_pow2(j + gamma * (_MB - 1 + e), gamma)
        f2, x2 = root_pow2(j + 1 + gamma * (_MB - 1 + e), gamma)
        lo, d = f1 + f2, 1 << e
        if x1 and x2:
            return -(-lo // d)
        if (lo + 1) % d:  # the open interval (lo, lo + 2) holds no jump of ceil(. / d)
            return lo // d + 1
        e *= 2


@functools.lru_cache(maxsize=None)
def nearest_thresholds(gamma: int, split: str) -> np.ndarray:
    """H[j] = the smallest float64 >= the boundary between grid points j and j+1 of one octave
    (j = 0..gamma-1; point gamma is 2.0, the next octave's first). A mantissa m in [1, 2) rounds to
    grid point #{j : m >= H[j]}. split 'log': geometric midpoint 2^((2j+1)/(2 gamma)); 'linear':
    arithmetic midpoint. Boundaries are irrational except the linear one of gamma = 1 (1.5): a value
    exactly there rounds up in magnitude (ties away)."""
    if split == "log":
        cs = [_ceil_pow2(2 * j + 1 + 2 * gamma * _MB, 2 * gamma) for j in range(gamma)]
    elif split == "linear":
        cs = [_ceil_mean_pow2(j, gamma) for j in range(gamma)]
    else:
        raise ValueError(f"nearest split {split!r}; allowed: 'log', 'linear'")
    return np.array([math.ldexp(c, -_MB) for c in cs], dtype=np.float64)
