"""The devices target: per device the conductance (checked against G = g_min + (w - w_min)/(w_max - w_min)
(g_max - g_min)), the level index of finite-level devices, and the pulse count from the reset state:
equal to round(|w - reset| / dw_min) for a constant-step device (closed form), and to the true count for
targets made by pulsing nonlinear devices (ECRAM linear step, Ag:a-Si NeuroSim) from reset."""
import numpy as np
import pytest
import torch

from lowbit.analog import AnalogLinear, AnalogTile, MadamLog
from lowbit.export.devices import export_devices, load_devices
from lowbit.numerics.devices import make_device, pulse, with_weights

QUIET = dict(dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, reset_std=0.0,
             w_max=1.0, w_min=-1.0)


def _conductance(p, w):
    return p.g_min + (w - p.w_min) / (p.w_max - p.w_min) * (p.g_max - p.g_min)


def test_constant_step_pulse_counts_match_the_closed_form(tmp_path):
    p = make_device("constant", dw_min=0.05, name="const05", **QUIET)
    tile = AnalogTile(3, 4, p, cell="single", bias=False, seed=0)
    n_true = np.array([[0, 1, 2, 3], [7, 12, 19, 20], [5, 9, 0, 4]])
    sign = np.array([[1, -1, 1, -1], [1, 1, -1, -1], [-1, 1, 1, 1]])
    tile.set_weights(tile.scale * sign * n_true * 0.05)
    folder = export_devices({"t": tile}, tmp_path / "d")
    got = load_devices(folder)["t"]["plus"]
    w = tile.plus.w
    assert np.array_equal(got["pulses"], np.rint(np.abs(w) / 0.05).astype(np.int32))
    assert np.array_equal(got["pulses"], n_true)
    assert np.array_equal(got["direction"], np.where(n_true > 0, sign, 0))
    assert np.allclose(got["conductance"], _conductance(p, w), rtol=0, atol=1e-18)
    assert np.array_equal(got["level"], np.full((3, 4), -1))


@pytest.mark.parametrize("device", ["ecram", "agsi"])
def test_nonlinear_devices_pulse_counts_recover_the_pulses_that_made_the_target(tmp_path, device):
    tile = AnalogTile(4, 5, device, cell="pair", bias=True, seed=3)
    rng = np.random.default_rng(0)
    made = {}
    for name in ("plus", "minus"):
        st = getattr(tile, name)
        start = with_weights(st, st.devices.reset_bias)
        n = rng.integers(0, 25, st.shape)
        d = rng.choice([-1, 1], st.shape)
        setattr(tile, name, pulse(start, n, d, noise=False))
        made[name] = (n, d)
    folder = export_devices({"layer": tile}, tmp_path / "d")
    maps = load_devices(folder)["layer"]
    for name in ("plus", "minus"):
        st, got = getattr(tile, name), maps[name]
        moved = got["reached"] != got["reset"]
        assert np.array_equal(got["reached"], st.w)
        # the count is the one that made the target (a device pinned at a bound may need fewer)
        again = pulse(with_weights(st, st.devices.reset_bias), got["pulses"], np.where(got["direction"] == 0, 1,
                                                                                       got["direction"]), noise=False)
        assert np.array_equal(again.w, st.w) and moved.any()
        n, d = made[name]
        inside = (st.w > st.devices.b_min) & (st.w < st.devices.b_max)
        assert inside.sum() > st.w.size // 2
        assert np.array_equal(got["pulses"][inside], n[inside])
        assert np.array_equal(got["direction"][inside & (n > 0)], d[inside & (n > 0)])


def test_finite_levels_and_log_tiles(tmp_path):
    p = make_device("constant", dw_min=0.25, levels=9, name="lvl9", **QUIET)
    tile = AnalogTile(2, 3, p, cell="single", bias=False, seed=0)
    tile.set_weights(tile.scale * np.array([[-1.0, -0.5, 0.0], [0.25, 0.75, 1.0]]))
    got = load_devices(export_devices({"t": tile}, tmp_path / "a"))["t"]["plus"]
    assert np.array_equal(got["level"], [[0, 2, 4], [5, 7, 8]])
    assert np.array_equal(got["pulses"], [[4, 2, 0], [1, 3, 4]])
    model = torch.nn.Sequential(AnalogLinear(3, 2, "idealized", rule=MadamLog(levels=8), seed=1))
    lt = model[0].tile
    lt.set_weights(np.array([[1.0, -0.5, 0.25, 0.125], [1e-9, -1.0, 0.5, 0.0625]]))
    got = load_devices(export_devices(model, tmp_path / "b"))["0"]["levels"]
    assert np.array_equal(got["level"], lt.level) and np.array_equal(got["pulses"], 7 - lt.level)
    assert np.allclose(got["conductance"], lt.params.g_max * lt.base ** (lt.level - 7.0), rtol=1e-15)


def test_lowbit_import_lists_a_devices_export(tmp_path, capsys):
    from lowbit.cli import main
    folder = export_devices(torch.nn.Sequential(AnalogLinear(4, 3, "ecram", cell="pair", seed=0)), tmp_path / "d")
    assert main(["import", str(folder)]) == 0
    maps = load_devices(folder)["0"]
    said = capsys.readouterr().out
    assert f"0.plus: 15 devices, {int(maps['plus']['pulses'].sum())} pulses" in said


def test_devices_bad_input(tmp_path):
    with pytest.raises(ValueError, match="has no analog tiles .* use target 'packed'"):
        export_devices(torch.nn.Linear(2, 2), tmp_path / "x")
    folder = export_devices({"t": AnalogTile(2, 2, "ecram", seed=0)}, tmp_path / "d")
    f = folder / "devices.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="devices.safetensors: sha256 .* expected"):
        load_devices(folder)
