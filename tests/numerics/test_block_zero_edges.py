"""Edge blocks of every scaled format, on the three backends: an all-zero block keeps the signs of its
zeros (-0 in, -0 out, as the numpy reference's x / 2^e does, and as every element format keeps -0), and
an NVFP4-style tensor whose second-level scale underflows fp32 gives the reference's result instead of
an error. The numpy reference path is the independent reference for the Numba and torch kernels."""
import numpy as np
import pytest
import torch

from lowbit.numerics import get_format, list_formats

SCALED = [n for n in list_formats() if get_format(n).is_scaled]


def _all(fmt, x):
    ref = np.asarray(fmt.quantize(x, axis=-1, backend="reference"))
    nb = np.asarray(fmt.quantize(x, axis=-1, backend="numba"))
    th = fmt.quantize(torch.from_numpy(x), axis=-1, backend="torch").numpy()
    return ref, nb, th


def _same_bits(a, b):
    return a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("name", SCALED)
def test_zero_blocks_keep_signed_zeros_on_every_backend(name):
    fmt = get_format(name)
    rng = np.random.default_rng(0)
    x = np.zeros((3, 64), dtype=np.float32)
    x[0, ::3] = -0.0                      # a row of zeros, some negative
    x[1] = rng.standard_normal(64).astype(np.float32)
    x[1, :32] = 0.0
    x[1, 1:32:2] = -0.0                   # an all-zero first block next to a normal one
    x[2] = -0.0
    ref, nb, th = _all(fmt, x)
    assert _same_bits(nb, ref) and _same_bits(th, ref)


def test_an_mx_zero_block_returns_negative_zero_for_negative_zero():
    x = np.array([-0.0, 0.0] * 16, dtype=np.float32)
    for be in ("reference", "numba"):
        y = np.asarray(get_format("mxfp4_e2m1").quantize(x, backend=be))
        assert list(np.signbit(y[:2])) == [True, False]


@pytest.mark.parametrize("name", [n for n in SCALED if get_format(n).tensor_scale])
def test_underflowing_tensor_scale_gives_the_reference_result(name):
    fmt = get_format(name)
    x = np.full((2, 32), 1e-44, dtype=np.float32)
    x[1, 3] = -1e-45
    ref, nb, th = _all(fmt, x)
    assert _same_bits(nb, ref) and _same_bits(th, ref)
