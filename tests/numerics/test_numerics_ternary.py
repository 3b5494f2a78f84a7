"""Ternary formats against the BitNet b1.58 rule written here in exact Fraction arithmetic, and trit-plane
fits against brute-force enumeration of every ternary vector."""
import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from lowbit.numerics import TRIT, fit_trit_planes, get_format, ternary_format


def b158_row(row):
    """scale = mean|w| held in fp32; t = clip(round_half_even(w / scale), -1, 1) with exact division."""
    mean = sum(abs(Fraction(float(v))) for v in row) / len(row)
    scale = Fraction(float(np.float32(float(mean))))
    if scale == 0:
        return [0.0] * len(row)
    return [float(max(-1, min(1, round(Fraction(float(v)) / scale))) * scale) for v in row]


def test_trit_codes_exhaustive():
    # Every code of the 2-bit symmetric format: 0b00 = 0, 0b01 = +1, 0b11 = -1; 0b10 is refused.
    assert TRIT.bits == 2 and TRIT.max == 1 and TRIT.min == -1
    np.testing.assert_array_equal(TRIT.decode(np.array([0, 1, 3])), [0.0, 1.0, -1.0])
    np.testing.assert_array_equal(TRIT.encode(np.array([0.0, 1.0, -1.0, -7.0, 7.0, 0.5, 1.5])),
                                  [0, 1, 3, 3, 1, 0, 1])
    with pytest.raises(ValueError, match="not used"):
        TRIT.decode(np.array([2]))


@pytest.mark.parametrize("name,axis", [("ternary", -1), ("ternary_row", -1), ("ternary_row", 0)])
def test_absmean_ternary_matches_b158(name, axis):
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((5, 9)) * np.exp2(rng.integers(-6, 6, (5, 1)))).astype(np.float32)
    w[2] = 0.0  # an all-zero row keeps a zero scale
    w[3, :] = np.float32(0.5) * np.sign(rng.standard_normal(9))  # exact ties at 0.5 / 1.5 of the scale
    got = np.asarray(get_format(name).quantize(w, axis=axis), dtype=np.float64)
    if name == "ternary":
        want = np.array(b158_row(w.reshape(-1).tolist())).reshape(w.shape)
    else:
        moved = np.moveaxis(w, axis, -1)
        want = np.moveaxis(np.array([b158_row(r.tolist()) for r in moved]), -1, axis)
    np.testing.assert_array_equal(got, want)


def test_block_absmean_ignores_padding():
    f = ternary_format("block", block=4)
    w = np.array([[1.0, 2.0, 3.0, 4.0, 0.3, 0.1]])  # the last block has 2 real elements
    got = f.quantize(w)
    want = b158_row([1.0, 2.0, 3.0, 4.0]) + b158_row([0.3, 0.1])
    np.testing.assert_array_equal(got[0], want)
    sc = f.encode(w)
    assert sc.padded == 2
    np.testing.assert_array_equal(f.decode(sc), got)


def _brute_best(r):
    best = np.sum(r ** 2)
    for t in itertools.product((-1.0, 0.0, 1.0), repeat=len(r)):
        t = np.array(t)
        if not t.any():
            continue
        a = r @ t / (t @ t)
        best = min(best, np.sum((r - a * t) ** 2))
    return best


def test_one_trit_plane_is_the_exact_optimum():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((12, 6)) * rng.uniform(0.1, 3.0, (12, 1))
    tp = fit_trit_planes(w, planes=1)
    assert set(np.unique(tp.planes)) <= {-1, 0, 1} and tp.planes.dtype == np.int8
    err = np.sum((w - tp.dequantize()) ** 2, axis=1)
    want = np.array([_brute_best(r) for r in w])
    np.testing.assert_allclose(err, want, rtol=1e-12, atol=1e-12)


def test_more_planes_fit_better_and_axes_agree():
    w = torch.randn(16, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    e = [float(np.sum((w.numpy() - fit_trit_planes(w, p).dequantize()) ** 2)) for p in (1, 2, 3)]
    assert e[0] > e[1] > e[2]
    e2_norefit = float(np.sum((w.numpy() - fit_trit_planes(w, 2, refit=False).dequantize()) ** 2))
    assert e[1] <= e2_norefit + 1e-12  # the joint least-squares refit never hurts
    a, b = fit_trit_planes(w, 2, axis=0), fit_trit_planes(w.T.contiguous(), 2, axis=-1)
    np.testing.assert_allclose(a.dequantize(), b.dequantize().T, rtol=0, atol=1e-12)
    # two planes beat the single absmean plane by a wide margin on Gaussian weights
    q1 = np.asarray(get_format("ternary_row").quantize(w))
    assert e[1] < 0.5 * float(np.sum((w.numpy() - q1) ** 2))


def test_bad_input():
    with pytest.raises(ValueError, match="planes"):
        fit_trit_planes(np.ones((2, 2)), planes=0)
    with pytest.raises(ValueError, match="NaN"):
        fit_trit_planes(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="absmean"):
        from lowbit.numerics import ScaledFormat
        ScaledFormat(TRIT, "tensor", scale_format=get_format("e8m0fnu"), scale_rule="absmean")
