"""The Numba fast path is not a second source of truth: it must give the very bits of the numpy reference
(`FloatFormat._quantize_reference`, `ScaledFormat`'s numpy path) for every format, rounding mode,
overflow policy and input class. Inputs are random bit patterns, so every binade, float32/float64
subnormals, zeros of both signs, Inf and NaN all occur."""
import numpy as np
import pytest

from lowbit.numerics import FixedFormat, FloatFormat, ScaledFormat, get_format, list_formats
from lowbit.numerics import _fast

MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "stochastic"]
FLOATS = [n for n in list_formats() if isinstance(get_format(n), FloatFormat)]
CUSTOM = [FloatFormat(3, 4), FloatFormat(2, 2, policy="none"), FloatFormat(6, 9, bias=40, policy="fn"),
          FloatFormat(5, 0, policy="fn", signed=False), FloatFormat(10, 20)]

pytestmark = pytest.mark.skipif(not _fast.enabled(), reason="the Numba fast path is disabled here")


def reference(fn, monkeypatch):
    monkeypatch.setenv("LOWBIT_NO_FAST", "1")
    try:
        return fn()
    finally:
        monkeypatch.setenv("LOWBIT_NO_FAST", "0")


def bits(a):
    a = np.asarray(a)
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


def inputs(seed, n=1 << 16):
    rng = np.random.default_rng(seed)
    x32 = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    # and values near the small formats' ranges, where most rounding decisions happen
    near = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 20, n))).astype(np.float32)
    x64 = rng.integers(0, 1 << 63, n, dtype=np.uint64).view(np.float64) * np.where(rng.random(n) < .5, 1, -1)
    near64 = rng.standard_normal(n) * np.exp2(rng.integers(-1070, 1000, n).astype(np.float64))
    return np.concatenate([x32, near]), np.concatenate([x64, near64, near.astype(np.float64)])


@pytest.mark.parametrize("fmt", FLOATS + CUSTOM, ids=lambda f: f if isinstance(f, str) else f.name)
def test_float_kernel_is_bit_identical_to_reference(fmt, monkeypatch):
    f = get_format(fmt)
    x32, x64 = inputs(7)
    for mode in MODES:
        for overflow in ("saturate", "ieee"):
            # the full arrays run the multi-threaded loop, the short ones the single-thread loop
            for x in (x32, x64, x32[:3001], x64[:3001]):
                kw = dict(rounding=mode, overflow=overflow, generator=11, rbits=13, offset=3)
                got = f.quantize(x, **kw)
                want = reference(lambda: f.quantize(x, **kw), monkeypatch)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{f.name} {mode} {overflow} {x.dtype}")


FIXED = [FixedFormat(b, f, symmetric=sym) for b, f, sym in
         ((8, 0, False), (8, 0, True), (4, 0, False), (2, 0, True), (16, 0, False), (32, 0, False), (24, 0, False),
          (8, 3, False), (12, -4, True), (32, 40, False), (6, 64, False), (5, -64, False))]


@pytest.mark.parametrize("fmt", FIXED, ids=lambda f: f"{f.name}{'_sym' if f.symmetric else ''}")
def test_fixed_kernel_is_bit_identical_to_reference(fmt, monkeypatch):
    """Signed fixed point (int8 ... int32, Qm.n, symmetric, the trit) through the float kernel."""
    x32, x64 = inputs(8)
    rng = np.random.default_rng(1)
    # values around the format's own steps and both ends of its range (ties, kmin/kmax, just beyond)
    k = rng.integers(fmt.kmin - 3, fmt.kmax + 4, 1 << 14).astype(np.float64) + rng.choice([0, .25, .5, .75], 1 << 14)
    near = np.ldexp(k, -fmt.frac_bits)
    for mode in MODES:
        for overflow in ("saturate", "ieee"):
            for x in (x32, x64, near, near.astype(np.float32), x64[:3001]):
                kw = dict(rounding=mode, overflow=overflow, generator=5, rbits=11, offset=2)
                got = fmt.quantize(x, **kw)
                want = reference(lambda: fmt.quantize(x, **kw), monkeypatch)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{fmt.name} {mode} {overflow} {x.dtype}")


def test_explicit_random_bits_and_rbits_extremes(monkeypatch):
    f = get_format("bf16")
    x32, _ = inputs(3, 1 << 12)
    for rbits in (1, 8, 16, 23):
        r = np.random.default_rng(rbits).integers(0, 1 << rbits, x32.size)
        got = f.quantize(x32, rounding="stochastic", random_bits=r, rbits=rbits)
        want = reference(lambda: f.quantize(x32, rounding="stochastic", random_bits=r, rbits=rbits), monkeypatch)
        np.testing.assert_array_equal(bits(got), bits(want))


SCALED = ([get_format(n) for n in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1")]
          + [ScaledFormat(get_format("fp4_e2m1fn"), "block", 16, get_format("e8m0fnu"), rule)
             for rule in ("ceil", "even", "rceil")]
          + [ScaledFormat(get_format("fp8_e4m3fn"), "channel", scale_rule="floor"),
             ScaledFormat(get_format("fp8_e5m2"), "tensor", scale_rule="rceil"),
             ScaledFormat(get_format("fp8_e4m3fn"), "tensor", scale_rule="amax"),
             ScaledFormat(get_format("fp4_e2m1fn"), "block", 16, scale_rule="amax"),
             ScaledFormat(get_format("fp8_e5m2"), "channel", scale_rule="amax"),
             get_format("nvfp4"), get_format("mxint8"),
             ScaledFormat(FixedFormat(8, 0), "channel", scale_rule="amax"),
             ScaledFormat(FixedFormat(8, 0, symmetric=True), "tensor", scale_rule="amax"),
             ScaledFormat(FixedFormat(4, 0), "block", 32, get_format("fp8_e4m3fn"), "amax"),
             ScaledFormat(FixedFormat(6, 2), "block", 16, get_format("e8m0fnu"), "even"),
             ScaledFormat(FixedFormat(8, 6), "block", 32, get_format("e8m0fnu"), "rceil"),
             ScaledFormat(get_format("fp8_e4m3fnuz"), "block", 32, get_format("e8m0fnu"), "floor"),  # no -0
             ScaledFormat(get_format("fp8_e5m2fnuz"), "channel", scale_rule="amax"),
             ScaledFormat(get_format("fp4_e2m1fn"), "block", 16, get_format("fp8_e4m3fn"), "amax"),
             ScaledFormat(get_format("fp6_e3m2fn"), "channel", scale_format=get_format("bf16"), scale_rule="amax"),
             ScaledFormat(get_format("fp8_e4m3fn"), "tensor", scale_format=get_format("fp8_e5m2"),
                          scale_rule="amax")])


@pytest.mark.parametrize("fmt", SCALED, ids=lambda f: f"{f.name}_{f.scale_rule.value}")
def test_block_kernel_is_bit_identical_to_reference(fmt, monkeypatch):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((40, 77)) * np.exp2(rng.integers(-140, 120, (40, 1)))).astype(np.float32)
    x[0, 3], x[1, :], x[2, 5], x[3, 7], x[4, :] = np.nan, 0.0, np.inf, -0.0, 1e-41  # specials, subnormals
    x[5, :] = np.float32(3.4e38) * np.sign(rng.standard_normal(77))                # near float32 max
    big = np.tile(x, (60, 30))  # large enough for the multi-threaded loop
    for mode in MODES:
        for axis in (0, 1):
            for arr in (x, x.astype(np.float64), big):
                kw = dict(axis=axis, rounding=mode, generator=2, rbits=8)
                got = fmt.quantize(arr, **kw)
                want = reference(lambda: fmt.quantize(arr, **kw), monkeypatch)
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{mode} axis={axis} {arr.dtype}")


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "mxfp8_e5m2", "nvfp4", "int8_channel_amax", "e4m3_tensor"])
def test_block_kernel_reads_any_axis_in_place(name, monkeypatch):
    """The block kernel reads blocks along any axis of a (P, L, R) view, not a moved copy: the reference's
    bits and random stream (indexed in the zero-padded axis-last layout) on 3-d and 0-d inputs, every axis,
    ragged last blocks, exact ties, zeros, NaN/Inf, non-contiguous numpy and torch inputs, explicit bits."""
    import torch
    fmt = {"int8_channel_amax": ScaledFormat(FixedFormat(8, 0), "channel", scale_rule="amax"),
           "e4m3_tensor": ScaledFormat(get_format("fp8_e4m3fn"), "tensor", scale_rule="amax")}.get(name) \
        or get_format(name)
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((3, 37, 70)) * np.exp2(rng.integers(-30, 30, (3, 1, 70)))).astype(np.float32)
    x[0, :, 4] = np.ldexp(rng.integers(-16, 16, 37), -2)   # exact ties of the small grids
    x[1, 5, :], x[2, :, 9], x[0, 7, 7], x[2, 3, 3] = 0.0, -0.0, np.nan, -np.inf
    cases = [x, x.astype(np.float64), x.transpose(2, 0, 1), torch.from_numpy(x).transpose(0, 2),
             np.float32(0.3), x[:, :, :0]]
    for arr in cases:
        for mode in ("nearest_even", "toward_zero", "stochastic"):
            for axis in range(-1, max(np.ndim(arr), 1)):
                kw = dict(axis=axis, rounding=mode, generator=9, rbits=10)
                got = np.asarray(fmt.quantize(arr, **kw))
                want = np.asarray(reference(lambda: fmt.quantize(arr, **kw), monkeypatch))
                assert got.shape == want.shape == np.shape(arr)
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{mode} axis={axis} {np.shape(arr)}")
    # explicit random bits: one per element of the zero-padded layout (37 -> a multiple of the block along axis 1)
    n = 3 * 70 * (-(-37 // fmt.block) * fmt.block) if fmt.granularity == "block" else x.size
    kw = dict(axis=1, rounding="stochastic", random_bits=rng.integers(0, 1 << 6, n), rbits=6)
    np.testing.assert_array_equal(bits(fmt.quantize(x, **kw)), bits(reference(lambda: fmt.quantize(x, **kw), monkeypatch)))


def test_bf16_torch_cast_lane_is_bit_identical_to_reference(monkeypatch):
    """bf16 nearest-even of float32 CPU tensors goes through torch's cast (FloatFormat.quantize); it must
    give the reference's bits for every input class, NaNs (canonical) and non-contiguous views included."""
    import torch
    from lowbit.numerics.format import ElementFormat
    f = get_format("bf16")
    x32, _ = inputs(9)
    x32 = np.concatenate([x32, np.array([3.3895314e38, 3.3961776e38, -3.4e38, 1e-45, -1e-40, 0.0, -0.0],
                                        dtype=np.float32)])
    want = reference(lambda: f.quantize(x32), monkeypatch)
    t = torch.from_numpy(x32.copy())

    def no_generic(*a, **k):
        raise AssertionError("the bf16 lane was not taken")
    with monkeypatch.context() as m:
        m.setattr(ElementFormat, "_quantize_cpu", no_generic)  # the generic CPU path below the lane
        got = f.quantize(t, overflow="ieee")
        view = f.quantize(t[: 2 * 3000].reshape(2, 3000).t())          # non-contiguous
        zero_d, empty = f.quantize(t[5].clone()), f.quantize(t[:0])
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_array_equal(bits(got.numpy()), bits(want))
    np.testing.assert_array_equal(bits(view.t().reshape(-1).numpy()), bits(want[: 2 * 3000]))
    assert zero_d.shape == () and bits(zero_d.numpy()) == bits(want[5]) and empty.shape == (0,)
    # a finite tensor whose sum is NaN (+Inf meets -Inf) keeps its infinities
    inf = f.quantize(torch.tensor([np.inf, -np.inf, 1.0]))
    assert inf.tolist() == [np.inf, -np.inf, 1.0]
    # saturating overflow is not torch's cast: it stays on the generic path and saturates
    sat = f.quantize(t, overflow="saturate")
    np.testing.assert_array_equal(bits(sat.numpy()),
                                  bits(reference(lambda: f.quantize(x32, overflow="saturate"), monkeypatch)))


def test_two_level_block_kernel_edge_tensors(monkeypatch):
    """NVFP4 through the block kernel: an Inf without NaN (infinite tensor scale: every block NaN, as the
    reference), all zeros, block scales that underflow e4m3, and a saturating tensor scale."""
    f = get_format("nvfp4")
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 48)).astype(np.float32)
    cases = [np.where(np.arange(48) == 7, np.inf, base), np.zeros((6, 48), np.float32),
             base * np.float32(1e-30) + np.where(np.arange(48) == 0, 1e5, 0).astype(np.float32),
             base * np.float32(3e38)]
    for x in cases:
        for mode in MODES:
            kw = dict(rounding=mode, generator=4, rbits=8)
            got = f.quantize(x, **kw)
            want = reference(lambda: f.quantize(x, **kw), monkeypatch)
            np.testing.assert_array_equal(bits(got), bits(want), err_msg=mode)


def _lns_formats():
    from lowbit.numerics.lns_format import LNSFormat
    named = [get_format(n) for n in list_formats() if isinstance(get_format(n), LNSFormat)]
    return named + [LNSFormat(6, 2), LNSFormat(12, 16, qbias=40), LNSFormat(10, 1, nearest="linear"),
                    LNSFormat(20, 1024)]


@pytest.mark.parametrize("fmt", _lns_formats(), ids=lambda f: f.name)
def test_lns_kernel_is_bit_identical_to_reference(fmt, monkeypatch):
    """LNS nearest/directed rounding (numerics/_fast_lns.py): the same codes and value bits as
    LNSFormat's numpy reference, on random bit patterns (every binade, subnormals, specials) and on
    values around the format's own grid and range ends, in the single-thread and the threaded loop."""
    x32, x64 = inputs(12, 1 << 17)
    rng = np.random.default_rng(2)
    grid = np.abs(np.asarray(fmt.values(), dtype=np.float64)) if fmt.bits <= 16 else np.geomspace(1e-6, 1e6, 4096)
    grid = grid[np.isfinite(grid)]
    near = rng.choice(grid, 1 << 14) * (1 + rng.standard_normal(1 << 14) * 0.02) * rng.choice([-1, 1], 1 << 14)
    # exact ties: the nearest thresholds of both splits in a few binades, and half the smallest magnitude's
    # threshold (where nearest chooses between zero and it), each with its float64 neighbours
    from lowbit.numerics import lns_exact
    ties = [np.ldexp(lns_exact.nearest_thresholds(fmt.gamma, split), k)
            for split in ("log", "linear") for k in (-3, 0, 5)] + [np.array([fmt._min_threshold() / 2])]
    ties = np.concatenate(ties)
    ties = np.concatenate([ties, np.nextafter(ties, 0), np.nextafter(ties, np.inf)])
    near = np.concatenate([near, ties, -ties])
    for mode in ("nearest_log", "nearest_linear", "toward_zero", "up", "down", "stochastic", "stochastic_linear"):
        for overflow in ("saturate", "ieee"):
            for x in (x32, x64, near, near.astype(np.float32), x64[:3001]):
                kw = dict(rounding=mode, overflow=overflow)
                if mode.startswith("stochastic"):   # the counter stream from an offset, on every 4th element
                    kw.update(generator=7, offset=5, rbits=13 if mode == "stochastic" else 23)
                    x = x[::4] if x.size > 3001 else x
                got, codes = fmt.quantize(x, **kw), fmt.encode(x, **kw)
                want = reference(lambda: fmt.quantize(x, **kw), monkeypatch)
                want_codes = reference(lambda: fmt.encode(x, **kw), monkeypatch)
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(codes, want_codes, err_msg=f"{fmt.name} {mode} {overflow} {x.dtype}")
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{fmt.name} {mode} {overflow} {x.dtype}")


def test_lns_stochastic_kernel_explicit_bits_and_grid(monkeypatch):
    """LNS stochastic rounding (log and linear) in the kernel with explicit random bits at the rbits
    extremes, on values exactly on the grid (frac 0: never rounded up), just off it, below the smallest
    magnitude (the linear choice between 0 and min) and zeros: the reference's codes and values."""
    for fmt in (get_format("lns8"), get_format("lns16")):
        vals = np.abs(np.asarray(fmt.values(), dtype=np.float64))
        vals = vals[np.isfinite(vals)]
        x = np.concatenate([vals, -vals, np.nextafter(vals, 0), np.nextafter(vals, np.inf),
                            vals[vals > 0].min() * np.linspace(0, 1, 257), [0.0, -0.0, np.nan, np.inf, -np.inf]])
        for mode in ("stochastic", "stochastic_linear"):
            for rbits in (1, 23):
                r = np.random.default_rng(rbits).integers(0, 1 << rbits, x.size)
                kw = dict(rounding=mode, random_bits=r, rbits=rbits)
                got, codes = fmt.quantize(x, **kw), fmt.encode(x, **kw)
                want = reference(lambda: fmt.quantize(x, **kw), monkeypatch)
                np.testing.assert_array_equal(codes, reference(lambda: fmt.encode(x, **kw), monkeypatch))
                np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{fmt.name} {mode} {rbits}")
