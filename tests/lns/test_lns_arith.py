"""The LNS datapath golden model against exact arithmetic: table entries vs Fraction inequalities,
multiplication exhaustively over all lns8 code pairs vs float64 products of decoded values, the bucketed
dot product vs an exact Fraction sum of table-approximated products (computed per product, here), and
the back-conversion within one code of the brute-force nearest code (80-digit decimal grid)."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from lowbit.numerics import LNSFormat, get_format
from lowbit.numerics.lns import (default_frac_bits, lns_dot, lns_dot_code, lns_from_fixed, lns_mul, lns_table,
                                 lns_to_fixed)
from lns_oracle import grid, nearest_mag, table_entry_ok

LNS8 = get_format("lns8")


@pytest.mark.parametrize("gamma,F", [(1, 4), (2, 6), (8, 8), (8, 16), (256, 13)])
def test_table_entries_are_nearest(gamma, F):
    T = lns_table(gamma, F)
    assert len(T) == gamma and T[0] == 1 << F
    rs = range(gamma) if gamma <= 8 else [0, 1, 2, 100, 128, 200, 254, 255]
    assert all(table_entry_ok(int(T[r]), r, gamma, F) for r in rs)
    assert list(lns_table(8, 8)) == [256, 279, 304, 332, 362, 395, 431, 470]
    assert default_frac_bits(LNS8) == 8


def test_mul_exhaustive_lns8():
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    c = lns_mul(LNS8, a, b)
    va, vb, vc = LNS8.decode(a), LNS8.decode(b), LNS8.decode(c)
    with np.errstate(invalid="ignore", over="ignore"):
        p = va * vb
    nan = np.isnan(p)
    assert np.array_equal(np.isnan(vc), nan)
    zero = ~nan & (p == 0)
    assert np.all(c[zero] == 0)
    live = ~nan & ~zero
    mx, mn = LNS8.max, LNS8.min_normal
    inside = live & (np.abs(p) <= mx * (1 + 1e-12)) & (np.abs(p) >= mn * (1 - 1e-12))
    assert np.allclose(vc[inside], p[inside], rtol=1e-13, atol=0)           # exact in the log domain
    assert np.all(np.abs(vc[live & (np.abs(p) > mx * 1.01)]) == mx)          # saturate high
    assert np.all(np.abs(vc[live & (np.abs(p) < mn * 0.99)]) == mn)          # saturate low, never 0
    assert np.all(np.sign(vc[live]) == np.sign(p[live]))


def test_mul_mixed_formats_and_containers():
    l16 = get_format("lns16")
    w = LNSFormat(8, 8, qbias=12)
    a, b = LNS8.encode(np.array([1.5, -0.25])), w.encode(np.array([0.125, 3.0]))
    c = lns_mul(LNS8, a, b, b_fmt=w, out_fmt=LNSFormat(8, 8, qbias=10))
    assert np.allclose(LNSFormat(8, 8, qbias=10).decode(c), LNS8.decode(a) * w.decode(b), rtol=1e-13)
    t = lns_mul(LNS8, torch.tensor([64, 65]), torch.tensor(65))
    assert isinstance(t, torch.Tensor) and t.tolist() == [65, 66]
    with pytest.raises(ValueError, match="share gamma"):
        lns_mul(LNS8, a, l16.encode(np.ones(2)), b_fmt=l16)


@pytest.mark.parametrize("mb", [0, 1, 3])
def test_to_fixed_exhaustive_lns8(mb):
    ints, frac = lns_to_fixed(LNS8, np.arange(256)[np.arange(256) != 128], 8, mitchell_bits=mb)
    codes = [c for c in range(256) if c != 128]
    T = [256, 279, 304, 332, 362, 395, 431, 470]  # checked against Fraction above
    for c, n in zip(codes, ints):
        mag, s = c & 127, -1 if c >> 7 else 1
        got = Fraction(int(n), 1 << frac)
        if mag == 0:
            assert got == 0
            continue
        q, r = mag >> 3, mag & 7
        rh, rl = (r >> mb) << mb, r & ((1 << mb) - 1)
        want = s * Fraction(T[rh], 256) * (1 + Fraction(rl, 8)) * Fraction(2) ** (q - 8)
        assert got == want, c
    if mb == 3:  # pure Mitchell: 1 + r/gamma
        assert Fraction(int(ints[64 + 5]), 1 << frac) == Fraction(13, 8)


def _table_product(a, b, F=8, mb=0):
    """Exact value of one table-approximated product, from the definition (not the code under test)."""
    T = [int(t) for t in lns_table(8, F)]
    ma, mb_ = a & 127, b & 127
    if ma == 0 or mb_ == 0:
        return Fraction(0)
    e = ma + mb_
    q, r = e >> 3, e & 7
    rh, rl = (r >> mb) << mb, r & ((1 << mb) - 1)
    s = -1 if (a >> 7) ^ (b >> 7) else 1
    return s * Fraction(T[rh], 1 << F) * (1 + Fraction(rl, 8)) * Fraction(2) ** (q - 16)


@pytest.mark.parametrize("mb", [0, 2, 3])
def test_bucketed_dot_equals_exact_sum_of_table_products(mb):
    rng = np.random.default_rng(mb)
    for K in (1, 2, 7, 64, 300):
        a = rng.integers(0, 256, (3, K))
        b = rng.integers(0, 256, (3, K))
        a[a == 128], b[b == 128] = 0, 1          # no NaN codes; keep some zeros
        d = lns_dot(LNS8, a, b, frac_bits=8, mitchell_bits=mb)
        assert d.acc.shape == (3,) and d.buckets.shape == (3, 2, 8 >> mb)
        for i in range(3):
            want = sum((_table_product(int(x), int(y), 8, mb) for x, y in zip(a[i], b[i])), Fraction(0))
            assert d.fractions()[i] == want
            # buckets: integer sums of 1 << q (Mitchell: (gamma + rl) << q) per (sign, r >> mb)
            ref = np.zeros((2, 8 >> mb), dtype=object)
            for x, y in zip(a[i], b[i]):
                if x & 127 and y & 127:
                    e = int((x & 127) + (y & 127))
                    w = (8 + (e & 7 & ((1 << mb) - 1))) if mb else 1
                    ref[int((x >> 7) ^ (y >> 7)), (e & 7) >> mb] += w << (e >> 3)
            assert (d.buckets[i] == ref).all()


def test_back_conversion_within_one_code_of_exact_nearest():
    g8 = grid(8, 8, 8)
    rng = np.random.default_rng(3)
    exact_hits, n = 0, 0
    for trial in range(120):
        K = int(rng.integers(1, 30))
        a = rng.integers(40, 90, K) | (rng.integers(0, 2, K) << 7)
        b = rng.integers(40, 90, K) | (rng.integers(0, 2, K) << 7)
        want = sum((_table_product(int(x), int(y)) for x, y in zip(a, b)), Fraction(0))
        code = int(lns_dot_code(LNS8, a, b, scale_exp=-4))   # value / 16 keeps results in range
        target = want / 16
        if target == 0:
            assert code == 0
            continue
        ref = nearest_mag(target, 8, 8, 8, g8)
        if ref in (1, 127):
            continue  # clamped ends are checked elsewhere
        n += 1
        assert (code >> 7) == (target < 0) and abs((code & 127) - ref) <= 1, (a, b)
        exact_hits += (code & 127) == ref
    assert n > 80 and exact_hits >= 0.9 * n


def test_single_product_dot_reproduces_mul_exhaustively():
    """A dot product of length 1 is one table entry shifted: back-conversion must return the product's
    code itself whenever the product is in range (every lns8 code pair)."""
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    ok = (a != 128) & (b != 128)
    a, b = a[ok], b[ok]
    m = lns_mul(LNS8, a, b)
    raw = (a & 127) + (b & 127) - 64
    inrange = ((a & 127) > 0) & ((b & 127) > 0) & (raw >= 1) & (raw <= 127)
    got = lns_dot_code(LNS8, a[:, None], b[:, None])
    assert np.array_equal(got[inrange], m[inrange])
    assert np.all(got[((a & 127) == 0) | ((b & 127) == 0)] == 0)


def test_from_fixed_clamps_and_zero():
    assert lns_from_fixed(LNS8, np.array([0, 1, -1, 1 << 200], dtype=object), 40).tolist() == [0, 1, 129, 127]
    assert lns_from_fixed(LNS8, np.array([256], dtype=object), 8).tolist() == [64]   # 1.0
    assert lns_from_fixed(LNS8, np.array([-3 << 20], dtype=object), 20).tolist() == [128 | 64 + 13]  # -3 ~ 2^(13/8)


def test_lns16_dot_exact():
    f = get_format("lns16")
    rng = np.random.default_rng(9)
    a = rng.integers(16000, 17000, 50) | (rng.integers(0, 2, 50) << 15)
    b = rng.integers(16000, 17000, 50)
    d = lns_dot(f, a, b)
    F = default_frac_bits(f)
    T = [int(t) for t in lns_table(256, F)]
    want = Fraction(0)
    for x, y in zip(a, b):
        e = int((x & 32767) + y)
        want += (-1 if x >> 15 else 1) * Fraction(T[e & 255], 1 << F) * Fraction(2) ** ((e >> 8) - 128)
    assert d.fractions() == want


@pytest.mark.parametrize("call,match", [
    (lambda: lns_dot(LNS8, np.array([128]), np.array([64])), "NaN code"),
    (lambda: lns_dot(LNS8, np.array([64]), np.array([64]), mitchell_bits=4), "mitchell_bits=4"),
    (lambda: lns_dot(LNS8, np.array([64]), np.array([64]), frac_bits=-1), "frac_bits=-1"),
    (lambda: lns_dot(LNS8, 64, 64), "at least one axis"),
    (lambda: lns_mul(LNS8, np.array([256]), np.array([1])), r"codes of lns8 lie in \[0, 256\)"),
    (lambda: lns_mul(get_format("bf16"), 1, 1), "must be an LNSFormat"),
    (lambda: lns_to_fixed(LNS8, np.array([128])), "NaN code"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_scale_exp_must_be_an_integer():
    with pytest.raises(ValueError, match="scale_exp=0.5 must be an integer"):
        lns_dot_code(LNS8, np.array([64]), np.array([64]), scale_exp=0.5)
