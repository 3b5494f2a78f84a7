"""lowbit.numerics.arith (the RTL golden models) against exact Fraction arithmetic and one independent
rounding (fraction_oracle.py): products and sums rounded once in every mode, stochastic rounding of the
EXACT sum's dropped bits, exact rounding of big integers, the MX dot product and the ternary dots."""
from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fraction_oracle as fo  # noqa: E402

from lowbit.numerics import arith, get_format  # noqa: E402

MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "stochastic"]


def _pairs(f, n, seed):
    if f.bits <= 4:
        idx = np.arange(1 << (2 * f.bits))
        return idx & ((1 << f.bits) - 1), idx >> f.bits
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << f.bits, n)
    b = rng.integers(0, 1 << f.bits, n)
    # Operands with nearby exponents (ties, cancellation) and far apart ones.
    b[: n // 3] = a[: n // 3] ^ rng.integers(0, 1 << (f.mbits + 2), n // 3)
    b[n // 3: n // 3 + 20] ^= 1 << (f.bits - 1)
    return a, b


def _oracle(f, a, b, op, mode, overflow, rbits, r, table, subnormals="ieee", tininess="after"):
    x, y = fo.value(f, int(a)), fo.value(f, int(b))
    sx, sy = (int(a) >> (f.bits - 1)) & 1, (int(b) >> (f.bits - 1)) & 1
    if subnormals in ("daz", "ftz_daz"):   # a subnormal operand reads as a zero of its sign
        x, y = (Fraction(0) if fo.is_subnormal(f, x) else x), (Fraction(0) if fo.is_subnormal(f, y) else y)
    if x is fo.NAN or y is fo.NAN:
        return f.nan_code
    if op == "mul":
        if (isinstance(x, float) and y == 0) or (isinstance(y, float) and x == 0):
            return f.nan_code
        exact = (math.copysign(math.inf, 1 if sx == sy else -1) if isinstance(x, float) or isinstance(y, float)
                 else x * y)
        zero_neg = sx != sy
    else:
        if isinstance(x, float) and isinstance(y, float) and x != y:
            return f.nan_code
        exact = x if isinstance(x, float) else (y if isinstance(y, float) else x + y)
        # IEEE 754-2019 6.3 signed zeros of sums.
        zero_neg = (sx and sy) if sx == sy else mode == "down"
    v = fo.round_fraction(f, exact, mode, overflow, rbits, r)
    if subnormals in ("ftz", "ftz_daz") and fo.is_tiny(f, exact, tininess, mode, rbits, r):
        v = Fraction(0)                     # flushed: a zero of the exact result's sign
    if v is fo.NAN:
        return f.nan_code
    if isinstance(v, float):
        return fo.code_of(f, v)
    if v == 0:
        neg = zero_neg if exact == 0 else exact < 0
        return (1 << (f.bits - 1)) if neg and f.policy != "fnuz" else 0
    mag = table[abs(v)]
    return mag | ((1 << (f.bits - 1)) if v < 0 else 0)


@pytest.mark.parametrize("op", ["mul", "add"])
@pytest.mark.parametrize("fmt,n", [("fp4_e2m1fn", 0), ("fp8_e4m3fn", 800), ("fp8_e5m2", 800), ("bf16", 800)])
def test_rounded_once_matches_fraction(op, fmt, n):
    """arith.mul/add give the code of the exact result rounded once, in every mode and overflow policy."""
    f = get_format(fmt)
    table = fo.code_table(f)
    a, b = _pairs(f, n, seed=hash((op, fmt)) % 1000)
    rng = np.random.default_rng(7)
    fn = arith.mul if op == "mul" else arith.add
    for mode in MODES:
        for overflow in ("ieee", "saturate"):
            rbits = 5
            r = rng.integers(0, 1 << rbits, len(a))
            kw = {"rbits": rbits, "random_bits": r} if mode == "stochastic" else {}
            got = fn(a, b, f, rounding=mode, overflow=overflow, **kw)
            for i in range(len(a)):
                exp = _oracle(f, a[i], b[i], op, mode, overflow, rbits, int(r[i]), table)
                assert got[i] == exp, (fmt, op, mode, overflow, hex(a[i]), hex(b[i]), int(r[i]), got[i], exp)


def _tiny_pairs(f, op, n, seed):
    """Pairs whose result lies near the subnormal range or which have a subnormal operand, plus a few
    random ones (every pair for 4-bit formats)."""
    if f.bits <= 4:
        return _pairs(f, 0, seed)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << f.bits, 40 * n)
    b = rng.integers(0, 1 << f.bits, 40 * n)
    x, y = (np.asarray(f.decode(c), np.float64) for c in (a, b))
    with np.errstate(all="ignore"):
        r = np.abs(x * y if op == "mul" else x + y)
    near = (r < 4 * f.min_normal) | (np.abs(x) < f.min_normal) | (np.abs(y) < f.min_normal)
    # Products just below the smallest normal, where tininess before and after rounding differ (sums
    # that small are exact, so they are never in that window).
    window = (r < f.min_normal) & (r >= f.min_normal * (1 - 2.0 ** -f.mbits))
    pick = np.r_[np.flatnonzero(window)[: n // 4], np.flatnonzero(near)[: n - n // 5 - n // 4], np.arange(n // 5)]
    return a[pick], b[pick]


SUB_CASES = [("daz", "after"), ("ftz", "before"), ("ftz", "after"), ("ftz_daz", "before"), ("ftz_daz", "after")]


@pytest.mark.parametrize("op", ["mul", "add"])
@pytest.mark.parametrize("fmt", ["fp4_e2m1fn", "fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "bf16"])
def test_flush_to_zero_and_daz_match_fraction(op, fmt):
    """subnormals=daz/ftz/ftz_daz with tininess before/after, in every mode: the exact result (subnormal
    operands read as zeros under DAZ) rounded once, and a zero of its sign where it is tiny (FTZ)."""
    f = get_format(fmt)
    table = fo.code_table(f)
    a, b = _tiny_pairs(f, op, 160, seed=len(fmt))
    rng = np.random.default_rng(8)
    fn = arith.mul if op == "mul" else arith.add
    rbits = 5
    r = rng.integers(0, 1 << rbits, len(a))
    for subnormals, tininess in SUB_CASES:
        for mode in MODES:
            kw = {"rbits": rbits, "random_bits": r} if mode == "stochastic" else {}
            got = fn(a, b, f, rounding=mode, subnormals=subnormals, tininess=tininess, **kw)
            for i in range(len(a)):
                exp = _oracle(f, a[i], b[i], op, mode, "ieee", rbits, int(r[i]), table, subnormals, tininess)
                assert got[i] == exp, (fmt, op, subnormals, tininess, mode, hex(a[i]), hex(b[i]), got[i], exp)


def test_tininess_before_and_after_differ_where_ieee_says():
    """bf16 max subnormal + a quarter ulp rounds (RNE, unbounded exponent) to the smallest normal: tiny
    before rounding (flushed to 0), not tiny after (the smallest normal)."""
    f = get_format("bf16")
    sub_max, q = (1 << f.mbits) - 1, 1          # 0x007f + 0x0001 = 0x0080 exactly, never tiny
    assert arith.add([sub_max], [q], f, subnormals="ftz", tininess="before")[0] == 0x80
    # 0x7f * 1.0078125 = (2^7 - 1)(1 + 2^-7) 2^-133 = (2^7 - 2^-7) 2^-133: just below 2^-126 by 2^-140.
    a, b = f.encode(np.array([127 * 2.0 ** -133, 1 + 2.0 ** -7]))
    assert arith.mul([a], [b], f, subnormals="ftz", tininess="before")[0] == 0
    assert arith.mul([a], [b], f, subnormals="ftz", tininess="after")[0] == 0x80
    assert arith.mul([a], [b], f, subnormals="ftz", tininess="after", rounding="toward_zero")[0] == 0
    assert arith.mul([a], [b], f)[0] == 0x80       # ieee: rounds to the smallest normal
    with pytest.raises(ValueError, match="allowed: ieee, ftz, daz, ftz_daz"):
        arith.mul([a], [b], f, subnormals="flush")
    with pytest.raises(ValueError, match="has no subnormals"):
        arith.mul([1], [1], "e8m0fnu", subnormals="ftz")


def test_sr_sees_the_exact_sum_of_far_apart_operands():
    """1 + (-2^-100) in bf16 with stochastic rounding: on the grid below 1 (ulp 2^-8) the exact sum has
    floor 255 and a dropped fraction of 1 - 2^-92, whose top 4 bits are 15, so it rounds up to 1 for
    r < 15 and stays at 1 - 2^-8 for r = 15. float64 a + b loses the addend (it is 1.0 exactly) and
    would round to 1 for every r."""
    f = get_format("bf16")
    one, tiny = f.encode(np.array([1.0, -(2.0 ** -100)]))
    rbits = 4
    r = np.arange(1 << rbits)
    got = arith.add(np.full(r.size, one), np.full(r.size, tiny), f, rounding="stochastic", rbits=rbits, random_bits=r)
    below = int(f.encode(np.array([1.0 - 2.0 ** -8]))[0])
    # Exact: t = (1 - 2^-100) / 2^-8 has floor 255 and frac 1 - 2^-92, floor(frac * 16) = 15.
    assert list(got) == [one] * 15 + [below]
    naive = f.encode(np.full(r.size, 1.0 - 2.0 ** -100), rounding="stochastic", rbits=rbits, random_bits=r)
    assert (naive == one).all()  # float64 rounded 1 - 2^-100 to 1.0 first: a different answer


def test_exact_sum_odd_brackets_the_exact_sum():
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000) * np.exp2(rng.integers(-60, 60, 4000))
    y = rng.normal(size=4000) * np.exp2(rng.integers(-60, 60, 4000))
    s = arith.exact_sum_odd(x, y)
    for xi, yi, si in zip(x, y, s):
        exact = Fraction(float(xi)) + Fraction(float(yi))
        if Fraction(float(si)) == exact:
            continue
        # Inexact: si is odd and the exact sum lies strictly between si and one of its neighbours.
        assert int(np.float64(si).view(np.int64)) & 1 == 1
        nb = [float(np.nextafter(si, np.inf)), float(np.nextafter(si, -np.inf))]
        assert any(min(Fraction(si), Fraction(v)) < exact < max(Fraction(si), Fraction(v)) for v in nb)


@pytest.mark.parametrize("fmt", ["fp32", "bf16"])
@pytest.mark.parametrize("mode", ["nearest_even", "toward_zero", "up", "down"])
def test_round_exact_big_integers(fmt, mode):
    f = get_format(fmt)
    rng = np.random.default_rng(11)
    ns = [int(rng.integers(1, 1 << 62)) * int(rng.integers(1, 1 << 40)) * (-1) ** int(rng.integers(0, 2))
          for _ in range(300)] + [(1 << 80) + (1 << 56), (1 << 80) + (1 << 56) + 1, -(1 << 70) - (1 << 46)]
    es = [int(e) for e in rng.integers(-200, 40, len(ns))]
    got = arith.round_exact(np.array(ns, dtype=object), np.array(es, dtype=object), f, rounding=mode)
    for n_, e_, g in zip(ns, es, got):
        v = fo.round_fraction(f, Fraction(n_) * Fraction(2) ** e_, mode)
        want = float(v) if isinstance(v, Fraction) else v
        assert float(f.decode(np.array([g]))[0]) == want, (n_, e_, mode)


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp4_e2m1"])
def test_mx_dot_is_the_exact_sum_rounded_once(fmt):
    sf = get_format(fmt)
    el, f32 = sf.element, get_format("fp32")
    rng = np.random.default_rng(5)
    nb = 300
    a = rng.integers(0, 1 << el.bits, (nb, 32))
    b = rng.integers(0, 1 << el.bits, (nb, 32))
    if el.nan_code is not None:  # keep most blocks finite; specials are checked below
        a = np.where(a & ((1 << (el.bits - 1)) - 1) >= el.nan_code - (1 << el.mbits), 0, a)
        b = np.where(b & ((1 << (el.bits - 1)) - 1) >= el.nan_code - (1 << el.mbits), 0, b)
    sa, sb = rng.integers(100, 160, nb), rng.integers(100, 160, nb)
    sa[:5], sb[:5] = 0, 0            # 2^-127 * 2^-127: fp32 subnormal or zero results
    sa[5:10], sb[5:10] = 254, 254    # overflow to Inf
    got = arith.mx_dot(a, sa, b, sb, fmt)
    for i in range(nb):
        exact = sum(fo.value(el, int(p)) * fo.value(el, int(q)) for p, q in zip(a[i], b[i]))
        exact *= Fraction(2) ** (int(sa[i]) - 127) * Fraction(2) ** (int(sb[i]) - 127)
        v = fo.round_fraction(f32, exact, "nearest_even")
        want = float(v) if isinstance(v, Fraction) else v
        assert float(f32.decode(np.array([got[i]]))[0]) == want, i
    # NaN scale, NaN element, Inf * 0 and Inf - Inf give the canonical NaN; one Inf product gives Inf.
    z = np.zeros((1, 32), np.int64)
    assert arith.mx_dot(z, [255], z, [127], fmt)[0] == f32.nan_code
    if el.has_inf:
        inf, one = (int(c) for c in el.encode(np.array([np.inf, 1.0])))
        x = z.copy(); x[0, 0] = inf
        y = z.copy(); y[0, 0] = one
        assert arith.mx_dot(x, [127], z, [127], fmt)[0] == f32.nan_code
        assert arith.mx_dot(x, [127], y, [127], fmt)[0] == int(f32.encode(np.array([np.inf]))[0])


def test_ternary_dots_are_exact_integer_sums():
    rng = np.random.default_rng(2)
    codes = np.array([0b00, 0b01, 0b11])
    t = codes[rng.integers(0, 3, (50, 3, 16))]
    x = rng.integers(-128, 128, (50, 16))
    s = rng.integers(-(1 << 15), 1 << 15, (50, 3))
    val = {0b00: 0, 0b01: 1, 0b11: -1}
    got = arith.trit_plane_dot(t, s, x)
    for i in range(50):
        want = sum(int(s[i, p]) * sum(val[int(t[i, p, k])] * int(x[i, k]) for k in range(16)) for p in range(3))
        assert got[i] == want
    with pytest.raises(ValueError):
        arith.ternary_dot(np.array([0b10]), np.array([1]))


def test_int_matmul_wraps_exact_products():
    rng = np.random.default_rng(4)
    a = rng.integers(-128, 128, (5, 7))
    b = rng.integers(-128, 128, (7, 3))
    got = arith.int_matmul(a, b, acc_bits=12)
    for i in range(5):
        for j in range(3):
            exact = sum(int(a[i, t]) * int(b[t, j]) for t in range(7))
            assert got[i, j] == exact % (1 << 12)
    with pytest.raises(ValueError):
        arith.int_matmul(a, b.astype(float))
