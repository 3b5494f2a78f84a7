"""The public contract: containers (torch/numpy, shapes, dtypes, empty, non-contiguous), bad input raising
clear ValueErrors, and the accumulation helpers against independent IEEE arithmetic (numpy float16,
ml_dtypes bfloat16)."""
import math

import ml_dtypes
import numpy as np
import pytest
import torch

from lowbit.numerics import FixedFormat, FloatFormat, KahanAccumulator, ScaledFormat, fixed, get_format, lowp_sum


def test_containers_shapes_and_dtypes():
    f = get_format("fp8_e4m3fn")
    x = torch.randn(4, 6)
    assert f.quantize(x).shape == (4, 6) and f.quantize(x).dtype == torch.float32
    assert f.quantize(x.double()).dtype == torch.float64
    assert torch.equal(f.quantize(x.bfloat16()), f.quantize(x.bfloat16().float()))
    assert torch.equal(f.quantize(x.half()), f.quantize(x.half().float()))
    nc = x.t()
    assert not nc.is_contiguous()
    assert torch.equal(f.quantize(nc), f.quantize(nc.contiguous()))
    assert f.quantize(torch.empty(0, 3)).shape == (0, 3)
    assert f.encode(torch.empty(0)).dtype == torch.int64
    assert isinstance(f.quantize(np.ones((2, 2), np.float32)), np.ndarray)
    assert f.quantize(1.3) == 1.25
    assert f.encode(x).dtype == torch.int64 and f.decode(f.encode(x)).shape == x.shape
    np.testing.assert_array_equal(f.quantize(np.ones(3, ml_dtypes.bfloat16)), np.ones(3, np.float32))


def test_formats_are_frozen_hashable_values():
    a, b = FloatFormat(4, 3, policy="fn"), get_format("fp8_e4m3fn")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(Exception):
        b.mbits = 2
    assert {get_format("bf16"): 1}[FloatFormat(8, 7)] == 1
    assert get_format("fixed16_8") == fixed(16, 8) and fixed(16, 8).max == 32767 / 256
    assert get_format("e3m4").max == FloatFormat(3, 4).max == 15.5


@pytest.mark.parametrize("call,match", [
    (lambda: get_format("fp9"), "unknown format 'fp9'.*fp8_e4m3fn"),
    (lambda: FloatFormat(0, 3), "ebits=0"),
    (lambda: FloatFormat(4, -1), "mbits=-1"),
    (lambda: FloatFormat(9, 23), "exceeds 32"),
    (lambda: FloatFormat(4, 3, policy="weird"), "policy='weird'"),
    (lambda: FixedFormat(40, 0), "bits=40"),
    (lambda: get_format("bf16").quantize(np.ones(3), rounding="stochastic", generator=1, rbits=0), "rbits"),
    (lambda: get_format("bf16").quantize(np.ones(3), rounding="stochastic", generator=1, rbits=24), "rbits"),
    (lambda: get_format("bf16").quantize(np.ones(3), rounding="stochastic"), "generator"),
    (lambda: get_format("bf16").quantize(np.ones(3), rounding="banker"), "unknown rounding mode 'banker'"),
    (lambda: get_format("bf16").quantize(np.ones(3), overflow="clip"), "unknown overflow policy 'clip'"),
    (lambda: get_format("bf16").quantize(np.ones(3), overflow="wrap"), "overflow='wrap' is not available"),
    (lambda: get_format("bf16").quantize(torch.ones(3, dtype=torch.int32)), "floating-point"),
    (lambda: get_format("bf16").quantize(np.ones(3, np.int64)), "floating point"),
    (lambda: get_format("fp8_e4m3fn").decode(np.array([256])), "code 256 out of range"),
    (lambda: get_format("fp8_e4m3fn").decode(np.array([1.0])), "integers"),
    (lambda: ScaledFormat(get_format("fp4_e2m1fn"), scale_format=get_format("e8m0fnu"), scale_rule="amax"),
     "amax"),
    (lambda: ScaledFormat(get_format("fp4_e2m1fn"), scale_format=get_format("fp8_e4m3fn"), scale_rule="floor"),
     "power-of-two"),
    (lambda: ScaledFormat(get_format("fp4_e2m1fn"), block=0), "block=0"),
    (lambda: ScaledFormat(get_format("fp4_e2m1fn"), scale_rule="nope"), "scale_rule='nope'"),
    (lambda: get_format("bf16").quantize(np.ones(3), rounding="stochastic", rbits=4, random_bits=np.array([1, 2])),
     "random_bits has 2 values"),
    (lambda: get_format("bf16").quantize(np.ones(2), rounding="stochastic", rbits=4, random_bits=np.array([1, 16])),
     r"random_bits must lie in \[0, 2\*\*rbits\)"),
])
def test_bad_input_raises_clear_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_lowp_sum_fp16_accumulator_matches_numpy_float16_arithmetic():
    """A sum of 4096 fp8 products in an fp16 vs fp32 accumulator (each partial sum rounded)."""
    rng = np.random.default_rng(0)
    e4 = get_format("fp8_e4m3fn")
    a = np.asarray(e4.quantize(rng.standard_normal((3, 4096)).astype(np.float32)), dtype=np.float64)
    b = np.asarray(e4.quantize(rng.standard_normal((3, 4096)).astype(np.float32)), dtype=np.float64)
    prod = a * b  # exact in float64
    got16 = lowp_sum(prod, "fp16")
    ref = np.zeros(3, np.float16)
    for i in range(4096):  # numpy float16 addition is IEEE RNE (computed in float32, innocuous double rounding)
        ref = (ref + prod[:, i].astype(np.float16)).astype(np.float16)
    np.testing.assert_array_equal(got16, ref.astype(np.float64))
    got32 = lowp_sum(prod, "fp32")
    ref32 = np.zeros(3, np.float32)
    for i in range(4096):
        ref32 = (ref32 + prod[:, i].astype(np.float32)).astype(np.float32)
    np.testing.assert_array_equal(got32, ref32.astype(np.float64))
    exact = prod.sum(axis=1)
    assert np.abs(got32 - exact).max() < np.abs(got16 - exact).max()  # the wider accumulator is closer
    # block promotion: fp16 partial sums of 128 terms promoted into fp32
    blk = lowp_sum(prod, "fp16", block=128)
    assert np.abs(blk - exact).max() < np.abs(got16 - exact).max()


def test_bf16_cancellation_nearest_sr_kahan():
    """docs/references.md section 2: 1.0 + 1e-3 a thousand times in bf16."""
    bf = get_format("bf16")
    n = torch.ones(500, dtype=torch.float64)
    s = n.clone()
    g = torch.Generator().manual_seed(0)
    k = KahanAccumulator("bf16", torch.ones(500))
    inc = float(bf.quantize(1e-3))
    for _ in range(1000):
        n = bf.quantize(n + 1e-3)
        s = bf.quantize(s + 1e-3, rounding="stochastic", generator=g)
        k.add(1e-3)
    assert torch.all(n == 1.0)
    exact = 1 + 1000 * inc
    assert abs(s.mean().item() - exact) < 5 * s.std().item() / math.sqrt(500) + 1e-9
    assert torch.all((k.sum - 2.0).abs() <= 2.0**-6)  # within one bf16 ulp of 2.0
    # the Kahan updates are exactly the bf16 arithmetic of ml_dtypes (each op in float32, rounded to bf16)
    w = np.ones(1, ml_dtypes.bfloat16)
    c = np.zeros(1, ml_dtypes.bfloat16)
    u = np.array([1e-3], ml_dtypes.bfloat16)
    for _ in range(1000):
        y = (u - c).astype(ml_dtypes.bfloat16)
        t = (w + y).astype(ml_dtypes.bfloat16)
        c = ((t - w).astype(ml_dtypes.bfloat16) - y).astype(ml_dtypes.bfloat16)
        w = t
    assert float(w[0]) == k.sum[0].item()
