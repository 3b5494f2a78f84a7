"""MX block formats against the OCP MX v1.0 rule written independently here with exact arithmetic:
X = 2^(floor(log2(amax)) - emax_elem), elements RNE(v / X) saturated to +-max; NaN blocks; padding; axes."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from lowbit.numerics import ScaledFormat, get_format
from numerics_oracle import Grid, spec_grid

EMAX = {"mxfp8_e4m3": 8, "mxfp8_e5m2": 15, "mxfp6_e3m2": 4, "mxfp6_e2m3": 2, "mxfp4_e2m1": 2}


def ocp_block(block, elem_grid: Grid, emax):
    amax = max(abs(Fraction(float(v))) for v in block)
    if amax == 0:
        return [0.0] * len(block)
    e = 0
    while Fraction(2) ** e > amax:
        e -= 1
    while Fraction(2) ** (e + 1) <= amax:
        e += 1
    X = Fraction(2) ** max(e - emax, -127)
    out = []
    for v in block:
        t = Fraction(float(v)) / X
        t = max(min(t, elem_grid.max), -elem_grid.max)  # saturate
        out.append(float(elem_grid.round(t, "nearest_even") * X))
    return out


@pytest.mark.parametrize("name", list(EMAX))
def test_mx_matches_the_ocp_rule(name):
    f = get_format(name)
    el = f.element
    grid = Grid(spec_grid(el.ebits, el.mbits, el.bias, el.policy))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 70)) * np.exp2(rng.integers(-20, 20, (6, 1)))).astype(np.float32)
    x[0, :32] = 0.0           # an all-zero block
    x[1, 5] = 1e-30           # a tiny element next to large ones
    got = f.quantize(x, axis=1)
    for r in range(6):
        row = x[r].tolist() + [0.0] * 26  # 70 -> 3 blocks of 32 (padding with zeros)
        want = sum((ocp_block(row[i:i + 32], grid, EMAX[name]) for i in range(0, 96, 32)), [])[:70]
        np.testing.assert_array_equal(got[r], np.array(want, np.float32))
    # along the other axis: the same as quantizing the transpose
    np.testing.assert_array_equal(f.quantize(x.T.copy(), axis=0), got.T)


def test_mx_nan_block_and_decode_round_trip():
    f = get_format("mxfp8_e4m3")
    x = np.random.default_rng(1).standard_normal((2, 64))
    x[0, 3] = np.nan
    q = f.quantize(x)
    assert np.isnan(q[0, :32]).all() and not np.isnan(q[0, 32:]).any() and not np.isnan(q[1]).any()
    sc = f.encode(x)
    assert sc.scale_codes[0, 0] == 0xFF
    np.testing.assert_array_equal(f.decode(sc), q)


@pytest.mark.parametrize("rule", ["floor", "ceil", "even", "rceil"])
def test_scale_rules(rule):
    e2m1 = get_format("fp4_e2m1fn")
    f = ScaledFormat(e2m1, "block", 4, get_format("e8m0fnu"), rule)
    x = np.array([[6.5, 1, 1, 1], [7.0, 0, 0, 0], [4.0, 0, 0, 0], [12.5, 0, 0, 0]])
    q = f.quantize(x)
    sc = f.encode(x).scale_codes.reshape(-1) - 127
    # exact expectations from the definitions (emax_elem = 2, max_elem = 6); EVEN rounds amax half-up at one
    # mantissa bit first: 7.0 -> 8 (next binade), 12.5 -> 12 (stays)
    want_exp = {"floor": [0, 0, 0, 1], "ceil": [1, 1, 0, 2], "even": [0, 1, 0, 1], "rceil": [1, 1, 0, 2]}[rule]
    assert sc.tolist() == want_exp
    # each element is a nearest e2m1 value of x / 2^scale (saturating at 6), in every rule
    grid = np.array([0, .5, 1, 1.5, 2, 3, 4, 6])
    v = x / np.exp2(sc)[:, None]
    best = np.abs(np.abs(v)[..., None] - grid).min(axis=-1)
    got = np.asarray(q) / np.exp2(sc)[:, None]
    assert np.all(np.isin(np.abs(got), grid)) and np.array_equal(np.abs(got - v), best)
    if rule == "rceil":
        # rceil never saturates:
        assert np.all(np.abs(x).max(axis=1) <= 6 * np.exp2(sc))


def test_nvfp4_two_level_scale():
    f = get_format("nvfp4")
    x = torch.randn(4, 48, generator=torch.Generator().manual_seed(0))
    q = f.quantize(x)
    sc = f.encode(x)
    ts = sc.tensor_scale
    assert ts == np.float32(x.abs().max().item() / (6 * 448))
    blocks = np.asarray(get_format("fp8_e4m3fn").decode(sc.scale_codes), dtype=np.float64)
    assert blocks.shape == (4, 3)
    np.testing.assert_allclose(f.decode(sc), q.numpy(), rtol=0, atol=1e-6)
    assert (q - x).abs().max() <= x.abs().max() / 6 * 1.01  # coarse sanity: within one element step


@pytest.mark.parametrize("gran", ["tensor", "channel"])
def test_tensor_and_channel_scaling(gran):
    f = ScaledFormat(get_format("fp8_e4m3fn"), gran, scale_rule="amax")
    x = torch.randn(5, 7) * torch.arange(1, 6).unsqueeze(1)
    q = f.quantize(x)
    amax = x.abs().amax() if gran == "tensor" else x.abs().amax(dim=1, keepdim=True)
    s = (amax.double() / 448).float().double()
    want = get_format("fp8_e4m3fn").quantize(x.double() / s, overflow="saturate") * s
    assert torch.allclose(q.double(), want, rtol=0, atol=1e-6)
    dims = dict(dim=1) if gran == "channel" else {}
    # the amax of each scaled group maps onto the element max, so it survives (up to the fp32 scale rounding)
    assert float((q.abs().amax(**dims) - x.abs().amax(**dims)).abs().max()) < 1e-5


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "nvfp4", "ternary", "ternary_row", "mxint8"])
@pytest.mark.parametrize("shape,axis", [((3, 0), 0), ((0,), 0), ((0, 5), 1), ((), 0), ((2, 3), 0)])
def test_scaled_empty_and_0d_shapes_round_trip(name, shape, axis):
    # encode/decode keep the caller's shape (0-d included) and agree with quantize, even when an axis is empty
    f = get_format(name)
    x = np.asarray(np.random.default_rng(0).random(shape))
    q = f.quantize(x, axis=axis)
    d = f.decode(f.encode(x, axis=axis))
    assert q.shape == d.shape == x.shape
    np.testing.assert_array_equal(d, q)


def test_nvfp4_nan_block_gets_the_nan_scale_code():
    f = get_format("nvfp4")
    x = np.array([[np.nan] + [1.0] * 15, [2.0] * 16])
    sc = f.encode(x)
    assert sc.scale_codes[0, 0] == get_format("fp8_e4m3fn").nan_code
    np.testing.assert_array_equal(np.isnan(f.decode(sc)), np.isnan(f.quantize(x)))
