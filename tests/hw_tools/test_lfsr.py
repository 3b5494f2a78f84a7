"""lowbit.numerics.lfsr: the Python model of hw/rtl/lfsr.v. Its tap masks are maximal (period 2^w - 1,
by brute force for w <= 24 and by the order of the step matrix over GF(2) for w = 32), words are the
output bit stream taken rbits at a time MSB first, and bad parameters raise ValueError."""
from __future__ import annotations

import numpy as np
import pytest

from lowbit.numerics import get_format
from lowbit.numerics.lfsr import MAXIMAL_TAPS, Lfsr, lfsr_words


def _step(s, taps):  # the documented step, written out independently
    return (s >> 1) ^ (taps if s & 1 else 0)


@pytest.mark.parametrize("width", [8, 16, 24])
def test_period_is_maximal_by_brute_force(width):
    g = Lfsr(seed=1, width=width)
    period = (1 << width) - 1
    assert g.step(period) == 1
    # No shorter period: the state returns to the seed only after a divisor of 2^w - 1 steps.
    for p in (3, 5, 7, 17, 31, 73, 127, 151, 241, 257, 331, 65537):
        if period % p == 0:
            assert Lfsr(seed=1, width=width).step(period // p) != 1, (width, p)


def test_32_bit_taps_are_primitive():
    """The step is linear over GF(2); its matrix A has order exactly 2^32 - 1 (= 3 5 17 257 65537)."""
    taps, w = MAXIMAL_TAPS[32], 32
    cols = [_step(1 << j, taps) for j in range(w)]

    def apply(m, v):
        out = 0
        for j in range(w):
            if (v >> j) & 1:
                out ^= m[j]
        return out

    def mul(m1, m2):
        return [apply(m1, c) for c in m2]

    def power(m, k):
        res = [1 << j for j in range(w)]
        while k:
            if k & 1:
                res = mul(m, res)
            m, k = mul(m, m), k >> 1
        return res

    ident = [1 << j for j in range(w)]
    n = (1 << w) - 1
    assert power(cols, n) == ident
    for p in (3, 5, 17, 257, 65537):
        assert power(cols, n // p) != ident


def test_words_are_the_bit_stream_msb_first():
    bits = lfsr_words(12 * 5, 1, seed=0xACE1)
    words = lfsr_words(12, 5, seed=0xACE1)
    packed = [int("".join(str(b) for b in bits[5 * t: 5 * t + 5]), 2) for t in range(12)]
    assert list(words) == packed
    s, ref = 0xACE1, []
    for _ in range(12 * 5):  # against the step written out here
        ref.append(s & 1)
        s = _step(s, MAXIMAL_TAPS[32])
    assert list(bits) == ref


def test_offset_and_streaming_agree():
    whole = lfsr_words(100, 7, seed=99)
    assert list(lfsr_words(60, 7, seed=99, offset=40)) == list(whole[40:])
    g = Lfsr(seed=99)
    assert list(np.r_[g.next_words(30, 7), g.next_words(70, 7)]) == list(whole)


def test_words_drive_stochastic_rounding():
    f = get_format("bf16")
    x = np.full(1000, 1.0 + 2.0 ** -8)  # exactly half an ulp (2^-7) above 1
    r = lfsr_words(1000, 8, seed=5)
    q = f.quantize(x, rounding="stochastic", rbits=8, random_bits=r)
    assert np.array_equal(q > 1.0, r < 128)


@pytest.mark.parametrize("kw", [{"seed": 0}, {"seed": 1 << 32}, {"width": 1}, {"width": 20},
                                {"width": 8, "taps": 0x7F}, {"seed": 1.5}])
def test_bad_parameters(kw):
    with pytest.raises(ValueError):
        Lfsr(**kw)
