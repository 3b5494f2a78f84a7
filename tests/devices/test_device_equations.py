"""Device pulse responses against the published equations, written out independently here
(aihwkit's update rules as in docs/references.md section 9, NeuroSim's G(P) curve), plus variation statistics."""
import math

import numpy as np
import pytest

from lowbit.numerics.devices import (get_device, init_state, make_device, pulse, pulse_response, sample_devices,
                                     step_size, with_weights)


def _quiet(kind, **kw):
    """A noise-free device of `kind` (c2c off) with the given parameters."""
    base = dict(dw_min_std=0.0, write_noise_std=0.0)
    base.update(kw)
    return make_device(kind, **base)


def test_softbounds_closed_form_up_and_down_with_dtod():
    # Invariant: noise-free soft bounds follow w_n = b_max - (b_max - w0)(1 - scale_up/b_max)^n per device,
    # and downwards w_n = b_min + (w0 - b_min)(1 + scale_down/b_min)^n, whatever each device's drawn bounds.
    p = _quiet("softbounds", dw_min=0.01, w_max=1.25, w_min=-0.75, dw_min_dtod=0.3, w_max_dtod=0.2,
               w_min_dtod=0.2, up_down_dtod=0.05)
    st = init_state(p, (200,), seed=3, w0=0.1)
    dev = st.devices
    n = np.arange(200) % 37
    up = pulse(st, n, +1)
    w0 = st.w
    expect = dev.b_max - (dev.b_max - w0) * (1 - dev.scale_up / dev.b_max) ** n
    np.testing.assert_allclose(up.w, expect, rtol=0, atol=1e-12)
    dn = pulse(st, n, -1)
    expect = dev.b_min + (w0 - dev.b_min) * (1 + dev.scale_down / dev.b_min) ** n
    np.testing.assert_allclose(dn.w, expect, rtol=0, atol=1e-12)


def test_constant_step_is_linear_until_the_bound():
    p = _quiet("constant", dw_min=0.05, w_max=1.0, w_min=-1.0, dw_min_dtod=0.1, up_down=0.2, up_down_dtod=0.0)
    st = init_state(p, (100,), seed=1, w0=0.0)
    n = np.arange(100) % 40
    out = pulse(st, n, +1)
    # aihwkit: scale_down = (gain - up_down) dw_min when up_down > 0, scale_up = gain dw_min
    np.testing.assert_allclose(st.devices.scale_up - st.devices.scale_down, 0.2 * 0.05, atol=1e-15)
    np.testing.assert_allclose(out.w, np.minimum(n * st.devices.scale_up, st.devices.b_max), atol=1e-12)


def test_up_down_sign_convention():
    # aihwkit: up_down > 0 makes the DOWN step smaller, up_down < 0 the UP step smaller.
    for ud, smaller in ((0.3, "down"), (-0.3, "up")):
        d = sample_devices(make_device("constant", dw_min=1e-3, up_down=ud, dw_min_dtod=0, up_down_dtod=0), (4,), 0)
        small, big = (d.scale_down, d.scale_up) if smaller == "down" else (d.scale_up, d.scale_down)
        np.testing.assert_allclose(small, 0.7e-3, rtol=1e-12)
        np.testing.assert_allclose(big, 1e-3, rtol=1e-12)


def test_linear_step_slope_and_closed_form():
    # slope_up = -gamma_up scale_up / w_max (mean bound reference): the UP step at w_max is (1 - gamma_up) scale_up;
    # the recurrence w' = (1 + slope) w + scale has the closed form w_n = w* + (w0 - w*)(1 + slope)^n, w* = -scale/slope.
    g_up, g_dn, wmax, wmin = 0.1153, 0.5085, 1.1724, -0.8276
    p = _quiet("linear", dw_min=0.002, w_max=wmax, w_min=wmin, gamma_up=g_up, gamma_down=g_dn, gamma_up_dtod=0,
               gamma_down_dtod=0, dw_min_dtod=0.1, w_max_dtod=0, w_min_dtod=0)
    st = init_state(p, (50,), seed=7, w0=-0.3)
    su, sd = st.devices.scale_up, st.devices.scale_down
    # the unclipped step a pulse would make at w = w_max
    step = step_size(np.full(50, wmax), np.ones(50, bool), st.devices)
    np.testing.assert_allclose(step, (1 - g_up) * su, rtol=1e-12)
    slope = -g_up * su / wmax
    n = 300
    wstar = -su / slope
    expect = np.minimum(wstar + (-0.3 - wstar) * (1 + slope) ** n, wmax)
    np.testing.assert_allclose(pulse(st, n, +1).w, expect, atol=1e-11)
    slope_d = -g_dn * sd / wmin   # DOWN: w' = w - (slope_d w + scale_down)
    wstar_d = -sd / slope_d
    expect_d = np.maximum(wstar_d + (-0.3 - wstar_d) * (1 - slope_d) ** n, wmin)
    np.testing.assert_allclose(pulse(st, n, -1).w, expect_d, atol=1e-11)


def test_exp_step_single_pulse_matches_formula():
    p = get_device("reram_es").replace(dw_min_std=0.0, write_noise_std=0.0)
    st = init_state(p, (400,), seed=5)
    d = st.devices
    w = np.linspace(-1.5, 1.5, 400)
    st = with_weights(st, w)
    w = st.w
    z = 2 * p.a * w / (d.b_max - d.b_min) + p.b
    up = w + np.maximum(1 - p.A_up * np.exp(p.gamma_up * z), 0) * d.scale_up
    dn = w - np.maximum(1 - p.A_down * np.exp(-p.gamma_down * z), 0) * d.scale_down
    np.testing.assert_allclose(pulse(st, 1, 1).w, np.clip(up, d.b_min, d.b_max), atol=1e-13)
    np.testing.assert_allclose(pulse(st, 1, -1).w, np.clip(dn, d.b_min, d.b_max), atol=1e-13)


def test_pow_step_single_pulse_matches_formula():
    p = _quiet("pow", dw_min=0.01, w_max=1, w_min=-1, pow_gamma=2.0, pow_gamma_dtod=0.0, pow_up_down=0.25,
               pow_up_down_dtod=0.0)
    st = init_state(p, (101,), seed=2)
    d = st.devices
    st = with_weights(st, np.linspace(-0.9, 0.9, 101) * d.b_max)
    w = st.w
    rng_ = d.b_max - d.b_min
    # aihwkit populate(): pow_up_down > 0 lowers the DOWN exponent, gamma_down = pow_gamma (1 - pow_up_down)
    up = w + d.scale_up * ((d.b_max - w) / rng_) ** 2.0
    dn = w - d.scale_down * ((w - d.b_min) / rng_) ** (2.0 * (1 - 0.25))
    np.testing.assert_allclose(pulse(st, 1, 1).w, up, atol=1e-13)
    np.testing.assert_allclose(pulse(st, 1, -1).w, dn, atol=1e-13)


def test_piecewise_step_interpolates_between_nodes():
    p = _quiet("piecewise", dw_min=0.01, w_max=1, w_min=-1, dw_min_dtod=0, w_max_dtod=0, w_min_dtod=0,
               up_down_dtod=0, piecewise_up=(2.0, 1.0, 0.0), piecewise_down=(0.0, 1.0, 3.0))
    st = init_state(p, (5,), seed=0)
    st = with_weights(st, [-1.0, -0.5, 0.0, 0.5, 0.999])
    f_up = np.array([2.0, 1.5, 1.0, 0.5, 0.001])
    f_dn = np.array([0.0, 0.5, 1.0, 2.0, 2.998])
    np.testing.assert_allclose(pulse(st, 1, 1).w - st.w, 0.01 * f_up, atol=1e-12)
    np.testing.assert_allclose(st.w - pulse(st, 1, -1).w, 0.01 * f_dn, atol=1e-12)


def _neurosim_g(P, pmax, A):
    """NeuroSim NonlinearWeight on the normalized range: B (1 - exp(-P/A)), B = 1/(1 - exp(-pmax/A))."""
    return (1 - math.exp(-P / A)) / (1 - math.exp(-pmax / A))


def test_agsi_reaches_one_after_97_pulses_from_minus_one():
    p = get_device("agsi")
    traj = pulse_response(p, 100, n_devices=1, seed=0, noise=False)[:, 0]
    assert traj[0] == -1.0
    assert abs(traj[97] - 1.0) < 1e-9 and traj[96] < 1.0 - 1e-3
    # Every LTP point is NeuroSim's curve G(P) at the integer pulse count P (A = 0.499181 x 97, NL 2.40).
    expect = [-1 + 2 * _neurosim_g(P, 97, 0.499181 * 97) for P in range(98)]
    np.testing.assert_allclose(traj[:98], expect, atol=1e-9)
    # Depression walks NeuroSim's LTD curve (A = -0.200303 x 100, NL -4.88) down from Gmax: 100 levels.
    expect_d = [-1 + 2 * _neurosim_g(P, 100, -0.200303 * 100) for P in range(99, -1, -1)]
    np.testing.assert_allclose(traj[101:], expect_d, atol=1e-9)


def test_agsi_ltp_is_the_published_linear_step_equivalent():
    # docs/references.md sec. 9: noise-free, Ag:a-Si is a linear-step device with dw_min_up 0.026815, gamma_up 0.7623.
    traj = pulse_response(get_device("agsi"), 97, seed=0, noise=False)[:98, 0]
    w, ref = -1.0, [-1.0]
    for _ in range(97):
        w = min(w + (-0.7623 * 0.026815 / 1.0) * w + 0.026815, 1.0)
        ref.append(w)
    np.testing.assert_allclose(traj, ref, atol=2e-3)


def test_dtod_statistics_follow_the_aihwkit_draws():
    p = make_device("constant", dw_min=0.001, dw_min_dtod=0.3, up_down=0.0, up_down_dtod=0.01, w_max=0.6,
                    w_min=-0.6, w_max_dtod=0.3, w_min_dtod=0.3)
    d = sample_devices(p, (200, 100), seed=11)
    gain = (d.scale_up + d.scale_down) / 2 / p.dw_min
    assert abs(gain.mean() - 1) < 0.01 and abs(gain.std() - 0.3) < 0.01
    r = (d.scale_up - d.scale_down) / 2 / p.dw_min
    assert abs(r.mean()) < 0.001 and abs(r.std() - 0.01) < 0.001
    assert abs(d.b_max.mean() - 0.6) < 0.005 and abs(d.b_max.std() - 0.18) < 0.005
    assert abs(d.b_min.mean() + 0.6) < 0.005 and abs(d.b_min.std() - 0.18) < 0.005
    assert (d.b_max >= 0).all() and (d.b_min <= 0).all()


def test_c2c_noise_is_multiplicative_per_pulse():
    p = make_device("constant", dw_min=0.01, dw_min_dtod=0, up_down_dtod=0, dw_min_std=0.3, w_max=1, w_min=-1,
                    w_max_dtod=0, w_min_dtod=0)
    st = init_state(p, (40000,), seed=0, w0=0.0)
    step = pulse(st, 1, 1, generator=9).w
    assert abs(step.mean() - 0.01) < 0.01 * 0.3 * 5 / 200 and abs(step.std() - 0.003) < 0.0001


def test_same_seed_same_bits_and_generators():
    p = get_device("reram_es")
    a = pulse(init_state(p, (8, 8), seed=4), 3, 1, generator=21)
    b = pulse(init_state(p, (8, 8), seed=4), 3, 1, generator=21)
    c = pulse(init_state(p, (8, 8), seed=5), 3, 1, generator=21)
    assert np.array_equal(a.w, b.w) and np.array_equal(a.w_read, b.w_read)
    assert not np.array_equal(a.w, c.w)
    import torch
    t1 = pulse(init_state(p, (4,), 0), 2, 1, torch.Generator().manual_seed(3)).w
    t2 = pulse(init_state(p, (4,), 0), 2, 1, torch.Generator().manual_seed(3)).w
    assert np.array_equal(t1, t2)
    with pytest.raises(ValueError, match="generator"):
        pulse(init_state(p, (4,), 0), 1, 1, generator=None)


def test_finite_levels_and_stuck_devices():
    p = _quiet("constant", dw_min=0.3, w_max=1, w_min=-1, dw_min_dtod=0, w_max_dtod=0, w_min_dtod=0,
               up_down_dtod=0, levels=5)
    st = pulse(init_state(p, (10,), seed=0, w0=0.0), np.arange(10), 1)
    assert set(np.round(st.w, 12)) <= {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert st.w[1] == 0.5 and st.w[9] == 1.0   # 0.3 rounds to 0.5; 0.8 -> 1.0 ...
    q = make_device("constant", corrupt_devices_prob=0.2, stuck_at_min_prob=0.1, stuck_at_max_prob=0.1)
    st = init_state(q, (5000,), seed=1)
    frac = st.devices.stuck.mean()
    assert abs(frac - 0.4) < 0.03
    after = pulse(st, 5, 1, generator=0)
    assert np.array_equal(after.w[st.devices.stuck], st.w[st.devices.stuck])
    assert (after.w[~st.devices.stuck] != st.w[~st.devices.stuck]).mean() > 0.95


def test_write_noise_is_seen_on_read_only():
    p = make_device("constant", dw_min=0.01, write_noise_std=2.0, dw_min_dtod=0, dw_min_std=0, up_down_dtod=0,
                    w_max=1, w_min=-1, w_max_dtod=0, w_min_dtod=0)
    st = init_state(p, (20000,), seed=0, w0=0.0)
    out = pulse(st, 1, 1, generator=1)
    np.testing.assert_allclose(out.w, 0.01)
    assert abs((out.w_read - out.w).std() - 0.02) < 0.001

