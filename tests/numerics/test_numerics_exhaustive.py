"""Every format of 8 bits or fewer, checked code by code against the spec formula (exact Fractions,
tests/numerics/numerics_oracle.py) and ml_dtypes; and every midpoint between neighbours, with its next-float
neighbours, rounded as each mode says."""
from fractions import Fraction

import math

import numpy as np
import pytest

from lowbit.numerics import get_format
from numerics_oracle import ML, Grid, spec_grid

SMALL_FLOATS = ["fp8_e5m2", "fp8_e4m3fn", "fp8_e4m3", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e3m2fn",
                "fp6_e2m3fn", "fp4_e2m1fn", "e8m0fnu"]
MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down"]


def _grid(f):
    return spec_grid(f.ebits, f.mbits, f.bias, f.policy, f.signed)


@pytest.mark.parametrize("name", SMALL_FLOATS)
def test_every_code_decodes_to_the_spec_value_and_matches_ml_dtypes(name):
    f = get_format(name)
    codes = np.arange(1 << f.bits)
    got = np.asarray(f.decode(codes), dtype=np.float64)
    spec = _grid(f)
    for c in codes:
        if int(c) in spec:
            assert Fraction(got[c]) == spec[int(c)], (name, c)
        else:
            assert np.isnan(got[c]) or np.isinf(got[c]), (name, c, got[c])
    ml = codes.astype(np.uint8).view(ML[name]).astype(np.float64)
    np.testing.assert_array_equal(got, ml)  # NaN-aware equality, bit for bit on finite values


@pytest.mark.parametrize("name", SMALL_FLOATS + ["int8", "int4", "int2", "uint8"])
def test_encode_decode_round_trip_every_code(name):
    f = get_format(name)
    codes = np.arange(1 << f.bits)
    vals = np.asarray(f.decode(codes), dtype=np.float64)
    back = np.asarray(f.encode(vals))
    for c, v, b in zip(codes, vals, back):
        if np.isnan(v):
            assert np.isnan(f.decode(np.array([b]))[0])  # NaN aliases map onto the canonical NaN code
        elif v == 0:
            assert f.decode(np.array([b]))[0] == 0 and np.signbit(f.decode(np.array([b]))[0]) == np.signbit(v)
        else:
            assert b == c, (name, c, v, b)


@pytest.mark.parametrize("name", SMALL_FLOATS)
@pytest.mark.parametrize("mode", MODES)
def test_midpoints_and_their_neighbours_round_as_the_mode_says(name, mode):
    f = get_format(name)
    grid = Grid(_grid(f))
    tie_up = f.mbits == 0  # e8m0: the significand is the implicit 1, so ties round up (as ml_dtypes)
    xs = []
    for lo, hi in zip(grid.vals[:-1], grid.vals[1:]):
        mid = (lo + hi) / 2
        m = float(mid)
        assert Fraction(m) == mid
        xs += [m, math.nextafter(m, -math.inf), math.nextafter(m, math.inf),
               math.nextafter(float(lo), math.inf), math.nextafter(float(hi), -math.inf), float(lo)]
    x = np.array(xs, dtype=np.float64)
    got = np.asarray(f.quantize(x, rounding=mode, overflow="saturate"), dtype=np.float64)
    for xi, gi in zip(x, got):
        want = grid.round(Fraction(xi), mode, tie_up_magnitude=tie_up)
        assert Fraction(gi) == want, (name, mode, xi, gi, float(want))
    # The same inputs through float32 (the fast path's other input type) give the same values.
    x32 = x.astype(np.float32)
    exact32 = x32.astype(np.float64) == x
    got32 = np.asarray(f.quantize(x32, rounding=mode, overflow="saturate"), dtype=np.float64)
    np.testing.assert_array_equal(got32[exact32], got[exact32])


@pytest.mark.parametrize("name,lo,hi", [("int8", -128, 127), ("int4", -8, 7), ("int2", -2, 1), ("uint8", 0, 255)])
@pytest.mark.parametrize("mode", MODES)
def test_integer_formats_every_midpoint(name, lo, hi, mode):
    f = get_format(name)
    grid = Grid({k & ((1 << f.bits) - 1): Fraction(k) for k in range(lo, hi + 1)})
    xs = []
    for k in range(lo, hi):
        m = k + 0.5
        xs += [m, math.nextafter(m, -math.inf), math.nextafter(m, math.inf), float(k)]
    got = np.asarray(f.quantize(np.array(xs), rounding=mode), dtype=np.float64)
    for xi, gi in zip(xs, got):
        assert Fraction(gi) == grid.round(Fraction(xi), mode), (name, mode, xi, gi)
    assert f.quantize(np.array([1e9, -1e9])).tolist() == [hi, lo]  # saturation
