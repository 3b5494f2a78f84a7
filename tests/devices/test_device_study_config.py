"""The device study's config loads and validates once (bad keys, rules and devices fail clearly), and one
short arm runs end to end, reporting pulses and energy per update."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _study():
    spec = importlib.util.spec_from_file_location("devices_study", ROOT / "benchmarks" / "devices_study.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["devices_study"] = mod   # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_shipped_config_loads_and_bad_configs_fail(tmp_path):
    ds = _study()
    st = ds.load_study(ROOT / "configs" / "runs" / "device_study.yaml")
    names = [a.name for a in st.arms]
    assert "software fp32" in names and any("unidirectional" in n for n in names)
    assert any(a.rule == "tikitaka" for a in st.arms) and len(st.seeds) >= 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("arms:\n  - {name: x, device: agsi, rule: backprop}\n")
    with pytest.raises(ValueError, match="rule='backprop'"):
        ds.load_study(bad)
    bad.write_text("arms:\n  - {name: x, device: nosuch}\n")
    with pytest.raises(ValueError, match="unknown device preset 'nosuch'"):
        ds.load_study(bad)
    bad.write_text("epochz: 3\n")
    with pytest.raises(ValueError, match="epochz"):
        ds.load_study(bad)


def test_one_short_arm_runs_and_reports_pulses():
    ds = _study()
    st = ds.Study(hidden=8, epochs=1, lr=0.05, seeds=(0,))
    X, y, Xt, yt = ds.digits_split(0.2)
    arm = ds.Arm(name="mp", device="agsi", rule="mixed")
    r = ds.run_arm(arm, st, 0, (X[:200], y[:200], Xt, yt))
    assert r["steps"] == 200 and 0 <= r["accuracy"] <= 1
    assert r["pulses_per_update"] > 0 and r["pj_per_update"] > 0


def test_deeper_mlp_arm_and_bad_hidden(tmp_path):
    ds = _study()
    cfg = tmp_path / "deep.yaml"
    cfg.write_text("hidden: 8\narms:\n  - {name: deep, device: agsi, cell: pair, hidden: [8, 4]}\n"
                   "  - {name: sw, kind: software}\n")
    st = ds.load_study(cfg)
    assert st.hidden == (8,) and st.arms[0].hidden == (8, 4)
    assert ds.network(st.arms[0], st) == "64-8-4-10" and ds.network(st.arms[1], st) == "64-8-10"
    X, y, Xt, yt = ds.digits_split(0.2)
    r = ds.run_arm(st.arms[0], ds.Study(**{**st.__dict__, "epochs": 1}), 0, (X[:50], y[:50], Xt, yt))
    assert r["network"] == "64-8-4-10" and r["steps"] == 50 and r["pulses_per_update"] > 0
    for bad in ("hidden: [0]\n", "hidden: []\n", "arms:\n  - {name: x, device: agsi, hidden: [4, true]}\n"):
        cfg.write_text(bad)
        with pytest.raises(ValueError, match="hidden="):
            ds.load_study(cfg)
