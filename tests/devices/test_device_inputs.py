"""Bad input gives clear ValueErrors; variation that empties a range is clipped and reported;
weight ranges map onto conductances (pairs and single devices) or fail clearly; presets load."""
import warnings

import numpy as np
import pytest

from lowbit.numerics.devices import (PRESET_DIR, get_device, init_state, list_devices, load_device, make_device,
                                     pulse, sample_devices, to_conductance, to_devices, weight_map)


@pytest.mark.parametrize("kw, match", [
    (dict(g_min=1e-5, g_max=1e-5), "g_min"),
    (dict(g_min=2e-5, g_max=1e-5), "Gmin must be below Gmax"),
    (dict(dw_min=0.0), "dw_min"),
    (dict(dw_min=-0.01), "dw_min"),
    (dict(levels=1), "levels"),
    (dict(levels=2.5), "levels"),
    (dict(w_min=0.5, w_max=0.5), "w_min"),
    (dict(w_min=0.2, w_max=1.0), "contain 0"),
    (dict(dw_min_std=-0.1), "dw_min_std"),
    (dict(corrupt_devices_prob=1.5), "corrupt_devices_prob"),
    (dict(piecewise_up=(1.0, -1.0), piecewise_down=(1.0, 1.0)), "piecewise_up"),
])
def test_bad_parameters_raise_named_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        make_device("constant", **kw)


def test_bad_kind_unknown_key_unknown_preset():
    with pytest.raises(ValueError, match="kind"):
        make_device("memristor9000")
    with pytest.raises(ValueError, match="dw_minn"):
        make_device("constant", dw_minn=0.1)
    with pytest.raises(ValueError, match="unknown device preset 'nope'.*reram_es"):
        get_device("nope")
    with pytest.raises(ValueError, match="max_num_level_ltp"):
        make_device("neurosim", max_num_level_ltp=0)
    with pytest.raises(ValueError, match="param_a_ltd"):
        make_device("neurosim", param_a_ltd=5.0)


def test_bad_pulse_arguments():
    st = init_state(make_device("constant", dw_min_std=0.0), (3,), seed=0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        pulse(st, [-1, 0, 1], 1)
    with pytest.raises(ValueError, match="direction"):
        pulse(st, 1, 0)
    with pytest.raises(ValueError, match="integer"):
        pulse(st, 0.5, 1)


def test_variation_that_empties_a_range_is_clipped_and_reported():
    p = make_device("constant", w_max=0.6, w_min=-0.6, w_max_dtod=4.0, w_min_dtod=4.0, enforce_consistency=False)
    with pytest.warns(RuntimeWarning, match=r"\d+ of 5000 devices had an empty range"):
        d = sample_devices(p, (5000,), seed=0)
    # With 400% spread, about half the devices draw b_max < b_min; every one is counted and repaired.
    assert 1500 < d.n_clipped < 3500
    assert ((d.b_max - d.b_min) >= 0.01 * 1.2 - 1e-12).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample_devices(get_device("reram_sb"), (100, 100), seed=0).n_clipped == 0


def test_pair_mapping_round_trip_and_unmappable_ranges():
    p = get_device("pcm")
    wm = weight_map(-0.5, 0.5, p, scheme="pair")
    W = np.linspace(-0.5, 0.5, 11)
    wp, wn = to_devices(W, wm)
    np.testing.assert_allclose(wm.weight(wp, wn), W, atol=1e-15)
    assert (np.minimum(wp, wn) == p.w_min).all()   # one device of each pair stays at w_min
    gp, gn = to_conductance(W, wm)
    assert gp.max() == pytest.approx(p.g_max) and gn.min() == pytest.approx(p.g_min)
    with pytest.raises(ValueError, match="negative weights"):
        weight_map(-1.0, 1.0, p, scheme="single")   # PCM spans [0, 2]: one device cannot hold W < 0
    with pytest.raises(ValueError, match="empty"):
        weight_map(1.0, -1.0, p)
    with pytest.raises(ValueError, match="finite"):
        weight_map(-np.inf, 1.0, p)
    with pytest.raises(ValueError, match="outside the mapped range"):
        to_devices([0.7], wm)
    with pytest.raises(ValueError, match="scheme"):
        weight_map(-1, 1, p, scheme="triple")
    s = weight_map(-2.0, 1.0, get_device("reram_sb"), scheme="single")   # device spans [-0.75, 1.25]
    assert s.scale == pytest.approx(2.0 / 0.75)   # the negative end is the binding one
    assert float(to_devices(-2.0, s)) == pytest.approx(-0.75) and float(to_devices(1.0, s)) < 1.25


def test_presets_load_and_carry_their_sources():
    names = list_devices()
    for n in ("reram_es", "reram_sb", "ecram", "capacitor", "idealized", "pcm", "agsi"):
        assert n in names
        p = get_device(n)
        assert p.source and p == load_device(PRESET_DIR / f"{n}.yaml")
    # figures from docs/references.md sec. 9: 3.3 pJ per pulse at G_on (4 V, 50 ns, 240 kOhm); 118 pJ for Ag:a-Si
    assert get_device("reram_es").pulse_energy_on_pj == pytest.approx(16 * 50e-9 / 240e3 * 1e12, rel=1e-6)
    assert get_device("agsi").pulse_energy_on_pj == pytest.approx(118, rel=0.01)
    assert get_device("reram_es").nominal_states == pytest.approx(1481.5, rel=1e-3)


def test_bad_preset_file_names_the_file_and_key(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("kind: linear\ndw_min: -1\n")
    with pytest.raises(ValueError, match="bad.yaml.*dw_min"):
        load_device(f)
    with pytest.raises(FileNotFoundError):
        load_device(tmp_path / "missing.yaml")


def test_neurosim_dtod_never_gives_nan():
    p = get_device("agsi").replace(param_a_dtod=3.0, sigma_ctoc=0.0)
    st = init_state(p, (20000,), seed=0)
    assert (np.abs(st.devices.a_ltd) >= 0.05 * 20.0303 - 1e-9).all()
    for direction in (1, -1, 1):
        st = pulse(st, 3, direction)
        assert np.isfinite(st.w).all()
