"""Python model of the Galois LFSR random source of lowbit's RTL (hw/rtl/lfsr.v), bit for bit.

A Galois linear-feedback shift register of `width` bits with tap mask `taps` steps as
    out = s & 1;  s = (s >> 1) ^ (taps if out else 0)
(Xilinx XAPP052 and the Wikipedia table "Example polynomials for maximal LFSRs" list maximal-length
masks; the default is x^32 + x^22 + x^2 + x + 1 = 0x80200003, period 2^32 - 1). Words of `rbits` bits
are taken from the output bit stream without overlap, the first bit in the MSB: word t holds output bits
t*rbits .. t*rbits + rbits - 1. The RTL consumes one word per clock after reset (which loads the seed).

`lfsr_words(n, rbits, seed)` returns those words as int64, usable directly as `random_bits=` for
`Format.quantize`/`encode` and for the golden models in `lowbit.numerics.arith`, so Python and Verilog
stochastic rounding agree bit for bit. An LFSR is a weak generator (successive words are linearly
related); it is here because hardware uses it, not as a default: `random_bits` (rounding.py) is that.
"""
from __future__ import annotations

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency
    def njit(*args, **kwargs):
        return (lambda f: f) if not args or not callable(args[0]) else args[0]

__all__ = ["MAXIMAL_TAPS", "Lfsr", "lfsr_words"]

# Galois right-shift masks of maximal period 2^w - 1 (tests/hw_tools prove each one primitive).
MAXIMAL_TAPS = {8: 0xB8, 16: 0xB400, 24: 0xE10000, 32: 0x80200003}


@njit(cache=True)
def _run(state, taps, n, rbits, out):
    for t in range(n):
        w = 0
        for _ in range(rbits):
            bit = state & 1
            state = (state >> 1) ^ (taps if bit else 0)
            w = (w << 1) | bit
        out[t] = w
    return state


def _check(width, taps, seed, rbits=None):
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 2 <= width <= 62:
        raise ValueError(f"LFSR width must be an integer in 2..62, got {width!r}")
    if taps is None:
        if width not in MAXIMAL_TAPS:
            raise ValueError(f"no default taps for width {width}; give taps= (known: {sorted(MAXIMAL_TAPS)})")
        taps = MAXIMAL_TAPS[width]
    if not isinstance(taps, (int, np.integer)) or not 0 < taps < (1 << width) or not (taps >> (width - 1)) & 1:
        raise ValueError(f"taps={taps!r} must be a {width}-bit mask with bit {width - 1} set")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 < seed < (1 << width):
        raise ValueError(f"LFSR seed must be an integer in [1, 2**{width}) (zero locks the register), got {seed!r}")
    if rbits is not None and (isinstance(rbits, bool) or not isinstance(rbits, (int, np.integer))
                              or not 1 <= rbits <= 62):
        raise ValueError(f"rbits must be an integer in 1..62, got {rbits!r}")
    return int(width), int(taps), int(seed)


class Lfsr:
    """A stateful LFSR: `next_words(n, rbits)` continues the stream where the last call stopped."""

    def __init__(self, seed: int = 1, width: int = 32, taps: int | None = None):
        self.width, self.taps, self.seed = _check(width, taps, seed)
        self.state = self.seed

    def next_words(self, n: int, rbits: int) -> np.ndarray:
        _check(self.width, self.taps, self.seed, rbits)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        out = np.empty(int(n), dtype=np.int64)
        self.state = int(_run(np.int64(self.state), np.int64(self.taps), int(n), int(rbits), out))
        return out

    def step(self, steps: int = 1) -> int:
        """Advance by `steps` single-bit steps; returns the new state."""
        self.next_words(int(steps), 1)
        return self.state


def lfsr_words(n: int, rbits: int, seed: int = 1, width: int = 32, taps: int | None = None,
               offset: int = 0) -> np.ndarray:
    """Words offset .. offset + n - 1 (each `rbits` bits, int64) of the LFSR stream started at `seed`."""
    g = Lfsr(seed, width, taps)
    if offset:
        g.next_words(int(offset), rbits)
    return g.next_words(n, rbits)
