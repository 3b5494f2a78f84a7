"""The torch backend (numerics/_torch_backend.py) is not a second source of truth: on the CPU it must give
the very bits of the numpy reference (backend='reference', LOWBIT_NO_FAST semantics) for every format,
rounding mode and overflow policy, on random bit patterns (every binade, subnormals, zeros, Inf, NaN) and
on values around each format's own grid, with the same counter-based stochastic-rounding stream. The same
checks run on a CUDA device when one is present. It must also never leave the device (no .cpu(), .numpy(),
.item() on the data path) and trace under torch.compile without graph breaks."""
import dataclasses

import numpy as np
import pytest
import torch

from lowbit.numerics import FixedFormat, FloatFormat, ScaledFormat, get_format, list_formats, lns_exact, \
    ternary_format
from lowbit.numerics import _torch_backend, random_bits
from test_numerics_parity import FIXED, MODES, SCALED, _lns_formats, inputs

FLOATS = [get_format(n) for n in list_formats() if isinstance(get_format(n), FloatFormat)] + [
    FloatFormat(3, 4), FloatFormat(2, 2, policy="none"), FloatFormat(6, 9, bias=40, policy="fn"),
    FloatFormat(5, 0, policy="fn", signed=False), FloatFormat(10, 20)]
# the fixed-point formats of the kernel parity test, plus what only the torch backend's generic fixed path
# rounds there: unsigned formats (and every format with overflow='wrap' below)
FIXED_ALL = FIXED + [FixedFormat(8, 0, signed=False), FixedFormat(8, 2, signed=False),
                     FixedFormat(16, -3, signed=False), FixedFormat(1, 0, signed=False)]
LNS_MODES = ("nearest_log", "nearest_linear", "toward_zero", "up", "down", "stochastic", "stochastic_linear")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
N = 1 << 11   # per input class; the kernel parity test covers the large arrays and the threaded loops


def bits(a):
    a = np.asarray(a)
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


def check(fmt, x, device="cpu", **kw):
    """backend='torch' on a tensor on `device` against backend='reference' on the numpy array."""
    want = fmt.quantize(x, backend="reference", **kw)
    t = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    got = fmt.quantize(t, backend="torch", **kw)
    assert isinstance(got, torch.Tensor) and got.device == t.device and got.shape == t.shape
    got = got.cpu().numpy()
    assert got.dtype == want.dtype, (fmt.name, kw)
    np.testing.assert_array_equal(bits(got), bits(want), err_msg=f"{fmt.name} {kw} {x.dtype}")


@pytest.fixture(scope="module")
def classes():
    x32, x64 = inputs(7, N)
    return x32, x64


def test_random_stream_is_the_numpy_stream():
    for seed, n, rbits, offset in ((0, 1000, 16, 0), (2**63 - 1, 257, 23, 12345), (11, 5000, 1, 2**40), (7, 0, 8, 3)):
        got = _torch_backend.random_bits(seed, n, rbits, offset).numpy()
        np.testing.assert_array_equal(got, random_bits(seed, n, rbits, offset))


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_float_formats(fmt, classes):
    with np.errstate(all="ignore"):
        for mode in MODES:
            for overflow in ("saturate", "ieee"):
                for x in classes:
                    check(fmt, x, rounding=mode, overflow=overflow, generator=11, rbits=13, offset=3)


@pytest.mark.parametrize("fmt", FIXED_ALL, ids=lambda f: f"{f.name}{'_sym' if f.symmetric else ''}")
def test_fixed_formats(fmt, classes):
    rng = np.random.default_rng(1)
    k = rng.integers(fmt.kmin - 3, fmt.kmax + 4, N).astype(np.float64) + rng.choice([0, .25, .5, .75], N)
    near = np.ldexp(k, -fmt.frac_bits)
    with np.errstate(all="ignore"):
        for mode in MODES:
            for overflow in ("saturate", "ieee", "wrap"):
                for x in classes + (near, near.astype(np.float32)):
                    check(fmt, x, rounding=mode, overflow=overflow, generator=5, rbits=11, offset=2)


def test_explicit_random_bits_and_rbits_extremes(classes):
    f = get_format("bf16")
    for rbits in (1, 8, 23):
        r = np.random.default_rng(rbits).integers(0, 1 << rbits, classes[0].size)
        check(f, classes[0], rounding="stochastic", random_bits=r, rbits=rbits)
        check(f, classes[0], rounding="stochastic", random_bits=torch.from_numpy(r), rbits=rbits)
    with pytest.raises(ValueError, match="random_bits must lie in"):
        f.quantize(torch.zeros(3), rounding="stochastic", random_bits=torch.tensor([0, 1, 256]), rbits=8,
                   backend="torch")


def _scaled_inputs():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((24, 77)) * np.exp2(rng.integers(-140, 120, (24, 1)))).astype(np.float32)
    x[0, 3], x[1, :], x[2, 5], x[3, 7], x[4, :] = np.nan, 0.0, np.inf, -0.0, 1e-41  # specials, subnormals
    x[5, :] = np.float32(3.4e38) * np.sign(rng.standard_normal(77))                # near float32 max
    return x


SCALED_ALL = SCALED + [get_format(n) for n in ("ternary", "ternary_row", "lns8_tensor", "lns8_channel",
                                               "lns16_channel")] + [
    ternary_format("block", 32), ternary_format("block", 7), ternary_format("tensor"),
    ScaledFormat(FixedFormat(8, 0, signed=False), "block", 16, get_format("e8m0fnu"), "floor"),
    ScaledFormat(get_format("lns8"), "block", 16, scale_rule="amax"),
    ScaledFormat(get_format("fp8_e4m3fn"), "block", 16, get_format("lns16"), "amax")]


@pytest.mark.parametrize("fmt", SCALED_ALL, ids=lambda f: f"{f.name}_{f.scale_rule.value}")
def test_scaled_formats(fmt):
    """Per tensor / channel / block, every scale rule, MX, NVFP4, absmean (ternary), LNS elements; the
    77-long axis leaves a ragged last block for every block size."""
    x = _scaled_inputs()
    modes = MODES if not isinstance(fmt.element, type(get_format("lns8"))) else MODES + ["stochastic_linear"]
    with np.errstate(all="ignore"):
        for mode in modes:
            for axis in (0, 1):
                for arr in (x, x.astype(np.float64)):
                    check(fmt, arr, axis=axis, rounding=mode, generator=2, rbits=8)


def test_absmean_long_rows_follow_numpy_pairwise_sum():
    """The absmean scale is numpy's pairwise float64 sum: rows of 5, 8, 127, 129, 1000 and 5001 terms
    (every branch of numpy's pairwise_sum) give the reference's bits."""
    rng = np.random.default_rng(0)
    for n in (5, 8, 127, 129, 1000, 5001):
        x = (rng.standard_normal((3, n)) * np.exp2(rng.integers(-30, 30, (3, n)))).astype(np.float32)
        for fmt in (get_format("ternary_row"), get_format("ternary")):
            check(fmt, x, axis=-1)
            check(fmt, x.astype(np.float64), axis=-1)


def test_ragged_mx_and_nvfp4_blocks():
    rng = np.random.default_rng(4)
    for n in (1, 15, 16, 17, 31, 33, 100):
        x = rng.standard_normal((3, n)).astype(np.float32) * np.float32(10.0)
        for name in ("mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "mxint8"):
            for mode in ("nearest_even", "stochastic"):
                check(get_format(name), x, axis=-1, rounding=mode, generator=n, rbits=8)
    # NVFP4 edge tensors: an Inf (infinite tensor scale), all zeros, block scales underflowing e4m3
    base = rng.standard_normal((6, 48)).astype(np.float32)
    for x in (np.where(np.arange(48) == 7, np.inf, base).astype(np.float32), np.zeros((6, 48), np.float32),
              base * np.float32(1e-30) + np.where(np.arange(48) == 0, 1e5, 0).astype(np.float32),
              base * np.float32(3e38)):
        with np.errstate(all="ignore"):
            for mode in MODES:
                check(get_format("nvfp4"), x, rounding=mode, generator=4, rbits=8)


@pytest.mark.parametrize("fmt", [f for f in _lns_formats() if f.gamma <= 256], ids=lambda f: f.name)
def test_lns_formats(fmt, classes):
    """Every LNS mode (incl. both stochastic ones) and both overflow policies, at the exact rounding
    boundaries (nearest thresholds of both splits and their float64 neighbours), the grid itself and
    half the smallest magnitude."""
    rng = np.random.default_rng(2)
    grid = np.abs(np.asarray(fmt.values(), dtype=np.float64)) if fmt.bits <= 16 else np.geomspace(1e-6, 1e6, 4096)
    grid = grid[np.isfinite(grid)]
    near = rng.choice(grid, N) * (1 + rng.standard_normal(N) * 0.02) * rng.choice([-1, 1], N)
    ties = np.concatenate([np.ldexp(lns_exact.nearest_thresholds(fmt.gamma, split), k)
                           for split in ("log", "linear") for k in (-3, 0, 5)] + [np.array([fmt._min_threshold() / 2])])
    ties = np.concatenate([ties, np.nextafter(ties, 0), np.nextafter(ties, np.inf)])
    pts = grid if grid.size <= 4096 else rng.choice(grid, 4096, replace=False)   # the grid points themselves
    near = np.concatenate([near, ties, -ties, pts, -pts])
    with np.errstate(all="ignore"):
        for mode in LNS_MODES:
            for overflow in ("saturate", "ieee"):
                for x in classes + (near, near.astype(np.float32)):
                    check(fmt, x, rounding=mode, overflow=overflow, generator=3, rbits=16, offset=5)


def test_no_host_transfer(monkeypatch):
    """A guard makes Tensor.numpy / .cpu / .item / .tolist raise: the torch backend must not trip it for
    any family (float, fixed incl. wrap, MX, NVFP4, absmean, LNS, LNS-scaled, stochastic with a seed)."""
    x = torch.randn(8, 48, dtype=torch.float32) * 3
    calls = [(get_format("bf16"), {}), (get_format("fp8_e4m3fn"), {"rounding": "stochastic", "generator": 1}),
             (get_format("int8"), {"overflow": "wrap"}), (get_format("uint8"), {}),
             (get_format("mxfp4_e2m1"), {"axis": 0}), (get_format("nvfp4"), {"rounding": "stochastic", "generator": 2}),
             (get_format("ternary_row"), {}), (get_format("lns8"), {"rounding": "stochastic", "generator": 3}),
             (get_format("lns8_tensor"), {"rounding": "stochastic_linear", "generator": 4})]
    want = [f.quantize(x, backend="torch", **kw) for f, kw in calls]

    def trip(*a, **k):
        raise AssertionError("host transfer on the torch backend's data path")
    with monkeypatch.context() as m:
        for name in ("numpy", "cpu", "item", "tolist"):
            m.setattr(torch.Tensor, name, trip)
        got = [f.quantize(x, backend="torch", **kw) for f, kw in calls]
    for g, w in zip(got, want):
        assert torch.equal(g.view(torch.int32), w.view(torch.int32))


def test_selection_and_bad_values(monkeypatch):
    x = torch.randn(100)
    f = get_format("fp8_e4m3fn")
    for be in ("torch", "numba", "reference", None):
        assert torch.equal(f.quantize(x, backend=be), f.quantize(x, backend="reference"))
    with pytest.raises(ValueError, match=r"^backend='cuda' is not a backend; allowed: torch, numba, reference$"):
        f.quantize(x, backend="cuda")
    monkeypatch.setenv("LOWBIT_BACKEND", "gpu")
    with pytest.raises(ValueError, match=r"^LOWBIT_BACKEND='gpu' is not a backend"):
        f.quantize(x)
    with pytest.raises(ValueError, match=r"^LOWBIT_BACKEND='gpu' is not a backend"):
        get_format("mxfp4_e2m1").quantize(x)
    # the environment variable selects the torch backend: prove it by the guard of the test above
    monkeypatch.setenv("LOWBIT_BACKEND", "torch")
    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "numpy", lambda *a: (_ for _ in ()).throw(AssertionError("host path taken")))
        f.quantize(x)
    from lowbit.numerics.backend import resolve
    monkeypatch.delenv("LOWBIT_BACKEND")
    assert resolve(None, x) == "cpu" and resolve(None, np.zeros(3)) == "cpu"
    assert resolve(None, torch.zeros(3, device="meta")) == "torch"


def test_torch_compile_traces_without_graph_breaks():
    """fullgraph=True fails on any graph break; the eager backend keeps the compile time small (the
    benchmark measures inductor). bf16 with stochastic rounding, MX and NVFP4 in one graph."""
    bf16, mx, nv = get_format("bf16"), get_format("mxfp4_e2m1"), get_format("nvfp4")

    def step(x):
        return (bf16.quantize(x, backend="torch", rounding="stochastic", generator=5),
                mx.quantize(x, axis=-1, backend="torch"), nv.quantize(x, axis=0, backend="torch"))
    x = torch.randn(16, 40) * 4
    got = torch.compile(step, fullgraph=True, backend="eager")(x)
    for g, w in zip(got, step(x)):
        assert torch.equal(g.view(torch.int32), w.view(torch.int32))


@CUDA
@pytest.mark.parametrize("name", ["bf16", "fp8_e4m3fn", "fp8_e5m2fnuz", "e8m0fnu", "int8", "lns8"])
def test_cuda_elements(name, classes):
    fmt = get_format(name)
    modes = LNS_MODES if name == "lns8" else MODES
    with np.errstate(all="ignore"):
        for mode in modes:
            for x in classes:
                check(fmt, x, device="cuda", rounding=mode, generator=9, rbits=12, offset=1)


@CUDA
@pytest.mark.parametrize("name", ["mxfp4_e2m1", "mxfp8_e4m3", "nvfp4", "ternary_row", "lns8_tensor"])
def test_cuda_scaled(name):
    x = _scaled_inputs()
    with np.errstate(all="ignore"):
        for mode in ("nearest_even", "stochastic"):
            check(get_format(name), x, device="cuda", axis=-1, rounding=mode, generator=3, rbits=8)


@CUDA
def test_cuda_default_stays_on_device(monkeypatch):
    x = torch.randn(64, 64, device="cuda")
    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "cpu", lambda *a: (_ for _ in ()).throw(AssertionError("host round trip")))
        y = get_format("mxfp4_e2m1").quantize(x)
    assert y.device == x.device


def test_training_run_with_torch_backend_forced_on_cpu_is_bit_identical(monkeypatch):
    """The default `lowbit run` path (train_run, as run_sweep calls it, 1 seed) under LOWBIT_BACKEND=torch
    gives the metrics and final weights of the default backend bit for bit (loss curve, accuracy, update
    statistics, energy: everything but the wall time). 8 steps of the first epoch keep the CI time small;
    benchmarks/device_parity.py --train compares whole epochs."""
    from lowbit.train import load_config, train_run
    cfg = load_config({"recipes": ["fp32", "bf16_sr", "mxfp4", "nvfp4", "lns_madam"], "seeds": [0], "epochs": 1})

    def metrics(recipe):
        torch.set_num_threads(1)  # as run_sweep's workers: a thread count changes float reduction orders
        m = train_run(cfg, recipe, 0, max_steps=8)
        return dataclasses.replace(m, wall_s=0.0), m.model_state   # model_state is not compared by ==
    threads = torch.get_num_threads()
    try:
        default = [metrics(r) for r in cfg.recipes]
        monkeypatch.setenv("LOWBIT_BACKEND", "torch")
        forced = [metrics(r) for r in cfg.recipes]
    finally:
        torch.set_num_threads(threads)
    for r, (a, wa), (b, wb) in zip(cfg.recipes, default, forced):
        assert a == b, r.name
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), r.name


def _guard(m):
    def trip(*a, **k):
        raise AssertionError("host transfer on the torch backend's data path")
    for name in ("numpy", "cpu", "item", "tolist"):
        m.setattr(torch.Tensor, name, trip)


def test_accumulators_stay_on_device_and_match(monkeypatch):
    """lowp_sum and KahanAccumulator on tensors round where the tensor lives; with the torch backend they
    give the numpy path's bits (and, deterministic modes, trip no host-transfer guard)."""
    from lowbit.numerics import KahanAccumulator, lowp_sum
    x = torch.randn(6, 50, dtype=torch.float64) * 10
    for kw in ({"block": 16}, {"rounding": "stochastic", "generator": 3}):
        want = lowp_sum(x.numpy(), "bf16", **kw)
        monkeypatch.setenv("LOWBIT_BACKEND", "torch")
        got = lowp_sum(x, "bf16", **kw)
        monkeypatch.delenv("LOWBIT_BACKEND")
        assert isinstance(got, torch.Tensor) and np.array_equal(got.numpy().view(np.int64), want.view(np.int64))
    want = KahanAccumulator("bf16", torch.zeros(50, dtype=torch.float64))
    for row in x:
        want.add(row)
    monkeypatch.setenv("LOWBIT_BACKEND", "torch")
    with monkeypatch.context() as m:
        acc = KahanAccumulator("bf16", torch.zeros(50, dtype=torch.float64))
        _guard(m)
        for row in x:
            acc.add(row)
        total = lowp_sum(x, "fp8_e4m3fn", axis=0, block=4)
    assert torch.equal(acc.sum, want.sum) and torch.equal(acc.comp, want.comp) and total.shape == (50,)


def test_cli_rejects_a_bad_backend_variable(monkeypatch, capsys):
    from lowbit.cli import main
    monkeypatch.setenv("LOWBIT_BACKEND", "cuda")
    assert main(["recipes"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lowbit recipes: error: LOWBIT_BACKEND='cuda' is not a backend; allowed: torch, numba, reference"


def test_non_cpu_tensors_take_the_torch_backend_without_reading_data():
    """The meta device (shapes, no data) stands in for an accelerator: the automatic choice runs every
    family through the torch backend there, and nothing on the path reads a value back to the host."""
    x = torch.empty(4, 64, device="meta")
    for name, kw in (("bf16", {"rounding": "stochastic", "generator": 1}), ("int8", {"overflow": "wrap"}),
                     ("mxfp4_e2m1", {}), ("nvfp4", {}), ("ternary_row", {}), ("lns8", {}), ("lns8_tensor", {})):
        y = get_format(name).quantize(x, **kw)
        assert y.device.type == "meta" and y.shape == x.shape and y.dtype == torch.float32
