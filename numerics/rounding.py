"""Rounding modes, overflow policies and the counter-based random source for stochastic rounding.

One rounding primitive serves every format (docs/design.md): a non-negative magnitude `t`, already scaled so
that the target grid is the integers, is rounded to an integer by `round_magnitude`. The rules are
IEEE 754-2019 section 4.3 (ties-to-even, ties-away, toward zero/+inf/-inf) plus stochastic rounding as
in "Revisiting BFloat16 Training" (Zamirai et al.): round the magnitude up iff r < the top `rbits` bits of
the dropped fraction, with r uniform in [0, 2^rbits). Truncating the dropped fraction to `rbits` bits is
what hardware with a k-bit random source does, so Python, Numba and Verilog can agree bit for bit.

Random bits come from a counter-based generator (SplitMix64 finalizer of seed and element index), so the
bits for element i depend only on (seed, offset + i): results are the same for any thread count and
any batch split (pass `offset` for a split), and the Numba kernels compute the very same bits.
"""
from __future__ import annotations

import enum

import numpy as np

__all__ = ["Rounding", "Overflow", "parse_rounding", "parse_overflow", "random_bits", "seed_from",
           "round_magnitude", "MAX_RBITS"]

MAX_RBITS = 23


class Rounding(enum.Enum):
    NEAREST_EVEN = "nearest_even"
    NEAREST_AWAY = "nearest_away"
    TOWARD_ZERO = "toward_zero"
    UP = "up"            # toward +inf
    DOWN = "down"        # toward -inf
    STOCHASTIC = "stochastic"


class Overflow(enum.Enum):
    SATURATE = "saturate"  # clamp to +-max finite; NaN stays NaN
    IEEE = "ieee"          # the format's own Inf/NaN behaviour (OCP non-saturating mode)
    WRAP = "wrap"          # two's-complement wrap-around (integer/fixed formats only)


_BY_VALUE = {(cls, m.value): m for cls in (Rounding, Overflow) for m in cls}  # the hot path's lookup

# Small integer ids shared with the Numba kernels.
MODE_ID = {Rounding.NEAREST_EVEN: 0, Rounding.NEAREST_AWAY: 1, Rounding.TOWARD_ZERO: 2,
           Rounding.UP: 3, Rounding.DOWN: 4, Rounding.STOCHASTIC: 5}


def _parse_enum(cls, value, what: str):
    if isinstance(value, cls):
        return value
    hit = _BY_VALUE.get((cls, value)) if isinstance(value, str) else None
    if hit is not None:
        return hit
    try:
        return cls(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {what} {value!r}; allowed: {allowed}") from None


def parse_rounding(value) -> Rounding:
    return _parse_enum(Rounding, value, "rounding mode")


def parse_overflow(value) -> Overflow:
    return _parse_enum(Overflow, value, "overflow policy")


def check_rbits(rbits) -> int:
    if isinstance(rbits, bool) or not isinstance(rbits, (int, np.integer)) or not 1 <= rbits <= MAX_RBITS:
        raise ValueError(f"rbits must be an integer in 1..{MAX_RBITS}, got {rbits!r}")
    return int(rbits)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(z):
    """SplitMix64 finalizer on uint64 (numpy arrays or Numba scalars; wraps modulo 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def seed_from(generator) -> int:
    """A 63-bit stream seed from an int seed or a torch.Generator (which it advances, so that
    successive calls with the same generator draw different bits)."""
    if generator is None:
        raise ValueError("stochastic rounding needs generator= (an int seed or a torch.Generator) "
                         "or random_bits=; it never draws from a hidden global state")
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return int(generator) & ((1 << 63) - 1)
    try:
        import torch
        if isinstance(generator, torch.Generator):
            return int(torch.randint(0, 2**62, (1,), generator=generator).item())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    raise ValueError(f"generator must be an int seed or a torch.Generator, got {type(generator).__name__}")


def random_bits(seed: int, n: int, rbits: int, offset: int = 0) -> np.ndarray:
    """The `rbits`-bit random integers (int64) used for elements offset..offset+n-1 of a stream."""
    rbits = check_rbits(rbits)
    with np.errstate(over="ignore"):
        idx = np.arange(offset, offset + n, dtype=np.uint64)
        z = mix64(np.uint64(seed) * _GOLDEN + (idx + np.uint64(1)) * _GOLDEN)
    return (z >> np.uint64(64 - rbits)).astype(np.int64)


def round_magnitude(t: np.ndarray, negative: np.ndarray, mode: Rounding, rbits: int = 0,
                    rand: np.ndarray | None = None) -> np.ndarray:
    """Round non-negative float64 magnitudes `t` to integers (float64) by `mode`.

    `negative` gives the sign of the original values (directed modes depend on it). The comparisons
    use the exact fraction t - floor(t), never t + 0.5, so no step here can round twice. Ties-to-even
    looks at the parity of floor(t), which is the parity of the integer significand the caller scaled
    to: the code's last mantissa bit for formats with mantissa bits, the implicit 1 for mbits = 0
    (so e8m0 ties round up in magnitude, as ml_dtypes does).
    """
    fl = np.floor(t)
    frac = t - fl
    if mode is Rounding.TOWARD_ZERO:
        inc = np.zeros(t.shape, dtype=bool)
    elif mode is Rounding.UP:
        inc = (frac > 0) & ~negative
    elif mode is Rounding.DOWN:
        inc = (frac > 0) & negative
    elif mode is Rounding.NEAREST_EVEN:
        odd = np.fmod(fl, 2.0) == 1.0
        inc = (frac > 0.5) | ((frac == 0.5) & odd)
    elif mode is Rounding.NEAREST_AWAY:
        inc = frac >= 0.5
    elif mode is Rounding.STOCHASTIC:
        # floor(frac * 2^rbits) is exact: frac has at most 53 significant bits and the scaling is a power of 2.
        kept = np.floor(np.ldexp(frac, rbits))
        inc = rand < kept
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown rounding mode {mode!r}")
    return fl + inc
