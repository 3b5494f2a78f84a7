"""Hypothesis properties over random custom minifloats: idempotence, monotonicity, symmetry,
|error| <= half an ulp for nearest modes, and encode/decode round trips; decoded grids equal the spec."""
from fractions import Fraction

import numpy as np
from hypothesis import given, settings, strategies as st

from lowbit.numerics import FloatFormat
from numerics_oracle import Grid, spec_grid

formats = st.builds(
    lambda e, m, p, db: FloatFormat(e, m, bias=(1 << (e - 1)) - 1 + db, policy=p),
    st.integers(2, 6), st.integers(1, 5), st.sampled_from(["ieee", "fn", "none"]), st.integers(-2, 2))
values = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)
MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down"]


@settings(max_examples=60, deadline=None)
@given(formats, st.lists(values, min_size=1, max_size=64), st.sampled_from(MODES))
def test_idempotent_monotone_symmetric(f, xs, mode):
    x = np.sort(np.array(xs))
    q = np.asarray(f.quantize(x, rounding=mode, overflow="saturate"), dtype=np.float64)
    q2 = np.asarray(f.quantize(q, rounding=mode, overflow="saturate"), dtype=np.float64)
    np.testing.assert_array_equal(q, q2)                  # idempotent
    assert np.all(np.diff(q) >= 0)                        # monotone
    if mode in ("nearest_even", "nearest_away", "toward_zero"):
        qn = np.asarray(f.quantize(-x, rounding=mode, overflow="saturate"), dtype=np.float64)
        np.testing.assert_array_equal(qn, -q)             # symmetric
    if mode == "up":
        qd = np.asarray(f.quantize(-x, rounding="down", overflow="saturate"), dtype=np.float64)
        np.testing.assert_array_equal(qd, -q)


@settings(max_examples=60, deadline=None)
@given(formats, st.lists(values, min_size=1, max_size=64))
def test_nearest_error_at_most_half_ulp_and_matches_the_spec_grid(f, xs):
    grid = Grid(spec_grid(f.ebits, f.mbits, f.bias, f.policy))
    x = np.array(xs)
    x = x[np.abs(x) <= f.max]
    q = np.asarray(f.quantize(x), dtype=np.float64)
    for xi, qi in zip(x, q):
        lo, hi = grid.neighbours(Fraction(xi))
        assert Fraction(qi) in (lo, hi)
        assert abs(Fraction(qi) - Fraction(xi)) <= (hi - lo) / 2
        assert Fraction(qi) == grid.round(Fraction(xi), "nearest_even")


@settings(max_examples=40, deadline=None)
@given(formats)
def test_values_are_the_spec_grid_and_round_trip(f):
    spec = spec_grid(f.ebits, f.mbits, f.bias, f.policy)
    vals = np.asarray(f.values(), dtype=np.float64)
    for c, v in enumerate(vals):
        if c in spec:
            assert Fraction(v) == spec[c]
        else:
            assert not np.isfinite(v)
    assert f.max == float(max(spec.values()))
    codes = np.array(sorted(spec))
    back = np.asarray(f.encode(vals[codes]))
    nz = vals[codes] != 0
    np.testing.assert_array_equal(back[nz], codes[nz])
