"""Analog tiles and pulse learning rules: expected pulse counts, pulse-only updates, the unidirectional
rule's potentiation-only writes and refresh, mixed-precision remainders, Tiki-Taka transfers, converters,
and the pulse counts reported to the simulator."""
import numpy as np
import pytest
import torch

from lowbit.analog import (AnalogLinear, AnalogOptimizer, AnalogTile, IOConfig, MixedPrecision, PulsedSGD,
                           TikiTaka)
from lowbit.numerics.devices import make_device, register_device

IDEAL = register_device(make_device("constant", name="test_ideal_const", dw_min=0.01, dw_min_dtod=0.0,
                                    dw_min_std=0.0, up_down_dtod=0.0, w_max=1.0, w_min=-1.0, w_max_dtod=0.0,
                                    w_min_dtod=0.0), replace=True)


def _tile(cell="single", device=IDEAL, **kw):
    return AnalogTile(3, 4, device, cell=cell, bias=False, seed=0, **kw)


def test_stochastic_pulse_trains_have_the_expected_coincidences():
    # E[n_ij] = lr |x_j| |d_i| / dw_min (Gokmen & Vlasov 2016), with or without update management.
    t = _tile()
    x = np.array([[0.2, -0.5, 1.0, 0.0]])
    d = np.array([[0.3, -0.1, 0.6]])
    lr = 0.05
    for um in (True, False):
        rule = PulsedSGD("stochastic", bl=31, update_management=um, seed=1)
        tot = sum(n for _ in range(3000) for n, _s in rule.counts(t, x, d, lr))
        expect = lr * np.abs(np.outer(d[0], x[0])) / 0.01
        np.testing.assert_allclose(tot / 3000, expect, atol=0.05)


def test_count_rule_moves_each_weight_by_rounded_pulses_only():
    t = _tile()
    W0 = t.weights().copy()
    x = np.array([[0.2, -0.5, 1.0, 0.0]])
    d = np.array([[0.3, -0.1, 0.6]])
    st = PulsedSGD("count", bl=5, seed=0).update(t, x, d, lr=0.1)
    dW = -0.1 * np.outer(d[0], x[0])
    n = np.minimum(np.floor(np.abs(dW) / 0.01 + 0.5), 5)
    np.testing.assert_allclose(t.weights() - W0, np.sign(dW) * n * 0.01, atol=1e-12)
    assert st.pulses == int(n.sum()) and st.writes == int((n > 0).sum())
    assert st.energy_j == pytest.approx(n.sum() * IDEAL.pulse_energy_j(0.0))


def test_unidirectional_rule_only_potentiates_and_refreshes():
    t = _tile("pair")
    p0, m0 = t.plus.w.copy(), t.minus.w.copy()
    x = np.array([[1.0, -1.0, 0.5, 0.0]])
    d = np.array([[0.5, -0.5, 0.0]])
    rule = PulsedSGD("count", bl=31, seed=0)
    rule.update(t, x, d, lr=0.1)
    assert (t.plus.w >= p0).all() and (t.minus.w >= m0).all()
    dW = -np.outer(d[0], x[0])
    assert (t.plus.w > p0)[dW > 0].all() and (t.minus.w > m0)[dW < 0].all()
    assert (t.plus.w == p0)[dW <= 0].all() and (t.minus.w == m0)[dW >= 0].all()
    # Both devices of a pair high -> reset both and rewrite the difference with potentiation pulses.
    t.plus = type(t.plus)(t.plus.devices, np.full(t.shape, 0.9), np.full(t.shape, 0.9))
    t.minus = type(t.minus)(t.minus.devices, np.full(t.shape, 0.6), np.full(t.shape, 0.6))
    st = rule.update(t, x * 0, d, lr=0.1)
    assert st.resets == 2 * 12
    np.testing.assert_allclose(t.plus.w - t.minus.w, 0.3, atol=0.005 + 1e-12)
    assert (np.minimum(t.plus.w, t.minus.w) == -1.0).all()
    assert st.pulses == st.pulses_by_array["refresh"] == 12 * 30


def test_bidirectional_pair_moves_both_devices_oppositely():
    t = _tile("pair", pair_mid=True)
    t.set_weights(np.zeros(t.shape))
    p0, m0 = t.plus.w.copy(), t.minus.w.copy()
    PulsedSGD("count", unidirectional=False).update(t, np.array([[1.0, 0, 0, 0]]), np.array([[-1.0, 0, 0]]), 0.04)
    # dW = 0.04 = scale (0.5) x 0.08 device units, split: 4 pulses of 0.01 on each device
    assert t.plus.w[0, 0] - p0[0, 0] == pytest.approx(0.04) and m0[0, 0] - t.minus.w[0, 0] == pytest.approx(0.04)
    assert t.weights()[0, 0] == pytest.approx(0.04)


def test_mixed_precision_keeps_the_remainder_digitally():
    t = _tile()
    W0 = t.weights().copy()
    rule = MixedPrecision(bl=100)
    rng = np.random.default_rng(0)
    acc = np.zeros(t.shape)
    for _ in range(20):
        x, d = rng.normal(size=(1, 4)), rng.normal(size=(1, 3))
        rule.update(t, x, d, lr=0.003)
        acc += -0.003 * np.outer(d[0], x[0])
    # applied pulses + accumulator = every update exactly (noise-free constant-step device, no clipping)
    np.testing.assert_allclose(t.weights() - W0 + rule.chi, acc, atol=1e-12)
    assert (np.abs(rule.chi) < 0.01).all()


def test_tiki_taka_transfers_columns_from_fast_into_slow_array():
    soft = make_device("softbounds", dw_min=0.01, dw_min_std=0.0, dw_min_dtod=0.2, up_down=0.1, up_down_dtod=0.0)
    t = _tile(device=soft)
    rule = TikiTaka(gamma=0.5, transfer_every=2, transfer_lr=1.0, scheme="count", seed=0)
    rule.attach(t)
    np.testing.assert_allclose(t.fast.w, t.fast_ref)            # A starts at its symmetry point
    up = np.ones(t.shape, bool)
    from lowbit.numerics.devices import step_size
    net = step_size(t.fast_ref, up, t.fast.devices) + step_size(t.fast_ref, ~up, t.fast.devices)
    assert np.abs(net).max() < 1e-9                               # where UP and DOWN cancel
    C0 = t.plus.w.copy()
    x, d = np.array([[1.0, 0, 0, 0]]), np.array([[-1.0, 1.0, 0]])
    st1 = rule.update(t, x, d, lr=0.05)
    assert "C" not in st1.pulses_by_array and np.array_equal(t.plus.w, C0)
    st2 = rule.update(t, x, d, lr=0.05)                           # 2nd update: column 0 of A -> C
    assert st2.pulses_by_array.get("C", 0) > 0
    assert (t.plus.w[:, 1:] == C0[:, 1:]).all() and t.plus.w[0, 0] > C0[0, 0] and t.plus.w[1, 0] < C0[1, 0]
    np.testing.assert_allclose(t.device_weights(), t.plus.w_read + 0.5 * (t.fast.w_read - t.fast_ref))


def test_dac_adc_grids_and_bounds():
    t = _tile(io=IOConfig(inp_bits=3, out_bits=4, out_bound=2.0))
    t.set_weights(np.full(t.shape, 0.5))
    x = np.array([[0.1, 0.4, -0.9, 2.0]])
    xs = x / 2.0                                    # abs-max scaling
    xq = np.clip(np.floor(xs * 3 + 0.5), -3, 3) / 3  # 3-bit DAC: 3 steps per side (no ties here)
    y = np.clip(0.5 * xq.sum(), -2, 2)
    yq = np.floor(y * 7 / 2 + 0.5) * 2 / 7           # 4-bit ADC: 7 steps per side of +-2
    np.testing.assert_allclose(t.forward(x), np.full((1, 3), yq * 2.0), atol=1e-12)
    with pytest.raises(ValueError, match="inp_bits"):
        IOConfig(inp_bits=1)
    with pytest.raises(ValueError, match="finite"):
        IOConfig(out_bits=8)


def test_bad_rule_and_tile_arguments():
    with pytest.raises(ValueError, match="scheme"):
        PulsedSGD("sometimes")
    with pytest.raises(ValueError, match="bl"):
        PulsedSGD(bl=0)
    with pytest.raises(ValueError, match="lr"):
        PulsedSGD().update(_tile(), np.ones((1, 4)), np.ones((1, 3)), lr=-1.0)
    with pytest.raises(ValueError, match="cell"):
        AnalogTile(2, 2, IDEAL, cell="triple")
    with pytest.raises(ValueError, match="unknown device preset"):
        AnalogTile(2, 2, "unobtainium")
    with pytest.raises(ValueError, match="refresh"):
        PulsedSGD(refresh_lower=0.9, refresh_upper=0.5)


def test_layer_trains_by_pulses_and_reports_sim_items():
    torch.manual_seed(0)
    layer = AnalogLinear(4, 2, IDEAL, rule=PulsedSGD("count", seed=0), seed=0)
    opt = AnalogOptimizer(torch.nn.Sequential(layer), lr=0.05)
    x = torch.tensor([[1.0, 0.0, 0.5, -0.5], [0.0, 1.0, -0.5, 0.5]])
    yt = torch.tensor([0, 1])
    losses = []
    for i in range(60):
        loss = torch.nn.functional.cross_entropy(layer(x[i % 2:i % 2 + 1]), yt[i % 2:i % 2 + 1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    (item,) = opt.workload_items()
    st = opt.last["0"]
    assert item.op == "device_pulse" and item.count == st.pulses
    assert item.pj_each == pytest.approx(st.energy_j / st.pulses * 1e12)
    assert opt.total.updates == 60


def test_madam_log_moves_levels_by_pulses():
    from lowbit.analog import LogTile, MadamLog
    t = LogTile(2, 2, IDEAL, levels=8, dynamic_range=128.0, bias=False)
    t.set_weights(np.array([[0.5, -0.5], [1.0, -1.0 / 128]]))
    b = 128.0 ** (1 / 7)
    assert t.base == pytest.approx(b)
    np.testing.assert_allclose(np.abs(t.weights()), b ** (t.level - 7.0), rtol=1e-12)
    np.testing.assert_array_equal(t.sign, [[1, -1], [1, -1]])
    k0 = t.level.copy()
    # first step: v = (1 - beta) g^2, bias-corrected -> |g*| = 1 everywhere: one level per weight,
    # toward smaller |w| where g and w agree in sign (Madam: w <- w b^(-g* sign(w)))
    x, d = np.array([[1.0, 1.0]]), np.array([[1.0, -1.0]])
    st = MadamLog(lr_levels=1.0, rounding="nearest").update(t, x, d)
    g_sign_w = np.sign(np.outer(d[0], x[0])) * t.sign
    np.testing.assert_array_equal(t.level, np.clip(k0 - g_sign_w, 0, 7))
    assert st.pulses == int(np.abs(t.level - k0).sum())
    with pytest.raises(ValueError, match="levels"):
        LogTile(2, 2, IDEAL, levels=1)
