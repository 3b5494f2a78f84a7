"""LNSFormat against independent references: every lns8 code decodes to the correctly rounded 2^(x/gamma)
(exact Fraction check); every rounding boundary of lns8 (both nearest splits) is placed as 80-digit
decimal arithmetic says; directed and stochastic modes follow their definitions; bad input raises."""
import decimal
import math

import numpy as np
import pytest
import torch

from lowbit.numerics import LNSFormat, get_format
from lns_oracle import exact_pow2_rounds_to, grid, pow2

LNS8 = get_format("lns8")


@pytest.mark.parametrize("fmt", [LNSFormat(8, 8), LNSFormat(6, 2), LNSFormat(5, 1, qbias=3)])
def test_every_code_decodes_to_correctly_rounded_value(fmt):
    vals = fmt.values()
    for code in range(1 << fmt.bits):
        sign, mag = code >> (fmt.bits - 1), code & fmt.max_mag
        v = vals[code]
        if mag == 0:
            assert (math.isnan(v) if sign else v == 0.0 and not math.copysign(1, v) < 0), code
            continue
        assert (v < 0) == bool(sign)
        assert exact_pow2_rounds_to(abs(float(v)), mag - fmt.qbias * fmt.gamma, fmt.gamma), code


def test_lns16_sampled_codes_correctly_rounded():
    f = get_format("lns16")
    assert (f.bits, f.gamma, f.qbits, f.qbias) == (16, 256, 7, 64)
    for mag in [1, 2, 255, 256, 257, 12345, 16384, 16385, 32767]:
        assert exact_pow2_rounds_to(float(f.decode(mag)), mag - 64 * 256, 256), mag


def test_presets_and_limits():
    assert LNS8 == LNSFormat(8, 8) and LNS8.qbits == 4 and LNS8.rem_bits == 3 and LNS8.qbias == 8
    assert LNS8.max == pytest.approx(2 ** 7.875, rel=1e-15) and LNS8.min_normal == pytest.approx(2 ** -7.875)
    assert LNS8.decode(64) == 1.0 and LNS8.decode(0) == 0.0 and math.isnan(LNS8.decode(128))
    assert get_format("lns8_lin").nearest == "linear" and get_format("lns8_lin").gamma == 8
    assert get_format("lns8_tensor").element == LNS8
    assert {LNS8: 1}[LNSFormat(8, 8)] == 1


@pytest.mark.parametrize("split", ["log", "linear"])
def test_every_lns8_boundary_exhaustively(split):
    """For each pair of neighbouring magnitudes, the doubles just below / at / above the true boundary
    round to the side the 80-digit reference says (the reference never ties with a double)."""
    g8 = grid(8, 8, 8)
    xs, want = [], []
    for m in range(1, LNS8.max_mag):
        if split == "log":
            b = pow2(2 * (m - 64) + 1, 16)
        else:
            b = (g8[m] + g8[m + 1]) / 2
        c = float(b)
        for d in (np.nextafter(c, 0), c, np.nextafter(c, np.inf)):
            dd = decimal.Decimal(float(d))
            assert dd != b
            xs.append(d)
            want.append(m + 1 if dd > b else m)
    xs = np.array(xs)
    for rounding in (f"nearest_{split}", "nearest_even" if split == "log" else None):
        if rounding:
            assert np.array_equal(LNS8.encode(xs, rounding=rounding), want)
            assert np.array_equal(LNS8.encode(-xs, rounding=rounding), np.array(want) | 128)
    if split == "linear":
        assert np.array_equal(get_format("lns8_lin").encode(xs), want)


def test_random_values_match_float64_log_reference():
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(-5.4, 5.4, 20000)) * rng.choice([-1, 1], 20000)
    t = 8 * np.log2(np.abs(x)) + 64
    far = np.abs(t - np.floor(t) - 0.5) > 1e-9
    codes = LNS8.encode(x, rounding="nearest_log") & 127
    assert np.array_equal(codes[far], np.round(t[far]).astype(int))
    frac_ok = (t - np.floor(t) > 1e-9) & (np.ceil(t) - t > 1e-9)
    assert np.array_equal(LNS8.encode(x, rounding="toward_zero")[frac_ok] & 127, np.floor(t[frac_ok]))
    up = LNS8.encode(x, rounding="up")[frac_ok]
    assert np.array_equal(up & 127, np.where(x[frac_ok] > 0, np.ceil(t[frac_ok]), np.floor(t[frac_ok])))
    assert np.array_equal((LNS8.encode(x, rounding="down") & 127)[frac_ok],
                          np.where(x[frac_ok] < 0, np.ceil(t[frac_ok]), np.floor(t[frac_ok])))


def test_grid_values_are_fixed_points_and_encode_inverts_decode():
    codes = np.array([c for c in range(256) if c != 128])
    v = LNS8.decode(codes)
    for r in ("nearest_log", "nearest_linear", "toward_zero", "up", "down"):
        assert np.array_equal(LNS8.encode(v, rounding=r), codes), r
        assert np.array_equal(LNS8.quantize(v, rounding=r), v)
    assert np.array_equal(LNS8.encode(v, rounding="stochastic", generator=5), codes)


def test_range_ends_zero_nan_inf():
    mn, mx = LNS8.min_normal, LNS8.max
    x = np.array([0.0, -0.0, mn * 0.4999, mn * 0.5001, -mn * 0.7, mx * 1.05, np.inf, -np.inf, np.nan, 1e300])
    assert LNS8.encode(x).tolist() == [0, 0, 0, 1, 129, 127, 127, 255, 128, 127]
    assert LNS8.encode(x, overflow="ieee").tolist() == [0, 0, 0, 1, 129, 128, 128, 128, 128, 128]
    assert LNS8.encode(np.array([mx * 1.04, mx * 1.045]), overflow="ieee").tolist() == [127, 128]  # 2^(1/16)
    assert LNS8.encode(np.array([mn * 0.9, -mn * 0.9]), rounding="toward_zero").tolist() == [0, 0]
    assert LNS8.encode(np.array([mn * 0.1, -mn * 0.1]), rounding="up").tolist() == [1, 0]
    assert LNS8.encode(np.array([mn * 0.1, -mn * 0.1]), rounding="down").tolist() == [0, 129]
    q = LNS8.quantize(np.array([np.nan, -0.0]))
    assert np.isnan(q[0]) and q[1] == 0 and not np.signbit(q[1])


def test_stochastic_reproducible_split_and_explicit_bits():
    x = torch.randn(1000, dtype=torch.float64) * 3
    a = LNS8.encode(x, rounding="stochastic", generator=7)
    assert torch.equal(a, LNS8.encode(x, rounding="stochastic", generator=7))
    parts = torch.cat([LNS8.encode(x[:300], rounding="stochastic", generator=7),
                       LNS8.encode(x[300:], rounding="stochastic", generator=7, offset=300)])
    assert torch.equal(a, parts)
    assert not torch.equal(a, LNS8.encode(x, rounding="stochastic", generator=8))
    # explicit random bits: up iff r < floor(frac * 2^rbits), frac = frac(8 log2|x|) from float64
    xn = x.numpy()
    t = 8 * np.log2(np.abs(xn)) + 64
    kept = np.floor((t - np.floor(t)) * 2 ** 8)
    r = np.random.default_rng(1).integers(0, 256, xn.size)
    safe = (np.abs((t - np.floor(t)) * 256 - np.round((t - np.floor(t)) * 256)) > 1e-6) & (t >= 1)
    got = LNS8.encode(xn, rounding="stochastic", rbits=8, random_bits=r) & 127
    assert np.array_equal(got[safe], (np.floor(t) + (r < kept))[safe])


@pytest.mark.parametrize("mode", ["stochastic", "stochastic_linear"])
def test_stochastic_is_unbiased_in_its_domain(mode):
    x = np.full(40000, 1.3)  # between 2^(3/8) = 1.2968 and 2^(4/8) = 1.4142
    q = LNS8.quantize(x, rounding=mode, generator=11)
    lo, hi = 2 ** (3 / 8), 2 ** 0.5
    p = np.mean(q == LNS8.decode(np.array([68]))[0])  # fraction rounded up
    want = (8 * np.log2(1.3) - 3) if mode == "stochastic" else (1.3 - lo) / (hi - lo)
    assert set(np.unique(q)) <= set(LNS8.decode(np.array([67, 68])))
    assert abs(p - want) < 5 * math.sqrt(want * (1 - want) / x.size)


def test_tiny_values_stochastic_between_zero_and_min():
    mn = LNS8.min_normal
    q = LNS8.quantize(np.full(40000, 0.25 * mn), rounding="stochastic_linear", generator=2)
    assert set(np.unique(q)) <= {0.0, mn} and abs(np.mean(q == mn) - 0.25) < 0.011


def test_containers_and_dtypes():
    x = torch.randn(3, 4)
    q = LNS8.quantize(x)
    assert q.dtype == torch.float32 and q.shape == (3, 4)
    assert LNS8.encode(x).dtype == torch.int64
    assert get_format("lns16").quantize(x).dtype == torch.float32  # 2^+-64 fits float32
    assert get_format("lns16").quantize(x.double()).dtype == torch.float64
    assert LNS8.quantize(1.0) == 1.0
    s = get_format("lns8_tensor")
    w = torch.randn(6, 5, dtype=torch.float64) * 1000
    sc = s.encode(w)
    scale = sc.scale_codes.astype(np.uint32).view(np.float32)[0, 0]
    assert math.frexp(float(scale))[0] == 0.5                     # a power of two
    assert float(scale) * LNS8.max >= w.abs().max() > float(scale) / 2 * LNS8.max
    assert np.allclose(s.decode(sc), s.quantize(w).numpy())
    ch = get_format("lns8_channel").quantize(w.numpy(), axis=-1)
    assert np.all(np.abs(ch / w.numpy() - 1) < 0.05)


@pytest.mark.parametrize("call,match", [
    (lambda: LNSFormat(8, 3), "gamma=3 must be a power of two"),
    (lambda: LNSFormat(8, 0), "gamma=0"),
    (lambda: LNSFormat(4, 8), "bits=4 is too small for gamma=8"),
    (lambda: LNSFormat(8.0, 8), "bits must be an integer"),
    (lambda: LNSFormat(33, 8), "bits <= 32"),
    (lambda: LNSFormat(16, 1, qbias=0), "outside float64"),
    (lambda: LNSFormat(8, 8, nearest="mid"), "nearest='mid'"),
    (lambda: LNS8.quantize(np.ones(2), rounding="banker"), "unknown LNS rounding mode 'banker'"),
    (lambda: LNS8.quantize(np.ones(2), rounding="stochastic"), "generator"),
    (lambda: LNS8.quantize(np.ones(2), overflow="wrap"), "overflow='wrap' is not available"),
    (lambda: LNS8.decode(np.array([256])), "code 256 out of range"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_explicit_power_of_two_scales():
    from lowbit.numerics.lns import lns_decode_scaled, lns_encode_scaled
    x = np.array([[3.0, -0.5], [100.0, 1e-3]])
    c = lns_encode_scaled("lns8", x, 2.0 ** -3)
    assert np.array_equal(c, LNS8.encode(x * 8))
    assert np.array_equal(lns_decode_scaled("lns8", c, 0.125), LNS8.decode(c) / 8)
    per_row = np.array([[1.0], [64.0]])
    assert np.array_equal(lns_encode_scaled("lns8", torch.from_numpy(x), per_row).numpy(),
                          LNS8.encode(x / per_row))


@pytest.mark.parametrize("scale,match", [(0.0, "scale 0.0 is not allowed"), (-2.0, "scale -2.0 is not allowed"),
                                         (np.inf, "scale inf"), (3.0, "scale 3.0 is not a power of two"),
                                         (np.array([1.0, -1.0]), "scale -1.0"), ("x", "must be a number")])
def test_bad_scales(scale, match):
    from lowbit.numerics.lns import lns_decode_scaled, lns_encode_scaled
    with pytest.raises(ValueError, match=match):
        lns_encode_scaled("lns8", np.ones(2), scale)
    with pytest.raises(ValueError, match=match):
        lns_decode_scaled("lns8", np.ones(2, dtype=np.int64), scale)
