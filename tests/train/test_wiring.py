"""Explicit wiring (issue 16): recipes come from lowbit.recipes by name, optimizers from one registry with
one interface, and every bad recipe/optimizer/datapath entry is one ValueError line at load time."""
import subprocess
import sys

import pytest
import torch
import yaml

from lowbit.cli import main
from lowbit.optim import OPTIMIZERS, FunctionalOptimizer, OptimSpec, UpdateEvent, build_optimizer
from lowbit.recipes import get_recipe, list_recipes, resolve_recipe
from lowbit.train import load_config, train_run

TINY = {"model": {"kind": "mlp", "hidden": [8]}, "epochs": 1, "batch_size": 256, "seeds": [0]}


def test_lns_recipes_load_from_a_fresh_interpreter_without_optim_or_analog_side_effects():
    code = ("import sys, lowbit.recipes as r; x = r.get_recipe('lns_madam'); "
            "print(x.optimizer.name, x.datapath, 'lowbit.analog' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["lns_madam", "lns_madam_pe", "False"]


def test_every_recipe_names_a_registered_optimizer_and_a_simulator_arch():
    from lowbit.sim import load_arch
    for name in list_recipes():
        r = get_recipe(name)
        assert r.optimizer.name in OPTIMIZERS
        load_arch(r.datapath)


@pytest.mark.parametrize("name", ["lns_madm", "lnsmadam", "LNSMadam", "adam", "Madam"])
def test_unknown_or_partial_optimizer_name_is_refused_with_the_allowed_names(name):
    with pytest.raises(ValueError, match=rf"name='{name}'; allowed: sgd, momentum, adamw, madam, lns_madam"):
        resolve_recipe({"base": "lns_madam", "name": "x", "optimizer": {"name": name}})


@pytest.mark.parametrize("over, words", [
    ({"name": "adamw"}, "eco=true needs name=momentum"),                     # ECO with AdamW
    ({"name": "sgd"}, "eco=true needs name=momentum"),
])
def test_eco_with_another_optimizer_is_refused_at_load(over, words):
    with pytest.raises(ValueError, match=words):
        load_config({"recipes": [{"base": "eco_fp8", "name": "x", "optimizer": over}]})
    with pytest.raises(ValueError, match=rf"recipe 'eco_fp8'.*{words}"):    # the same through the global overrides
        load_config({"recipes": ["eco_fp8"], "optimizer": over})


@pytest.mark.parametrize("over, key", [({"kahan": True, "weight_format": "bf16"}, "kahan"),
                                       ({"momentum": 0.5}, "momentum"), ({"arith_format": "bf16"}, "arith_format")])
def test_a_field_the_named_optimizer_does_not_read_is_refused(over, key):
    with pytest.raises(ValueError, match=rf"{key}=.* is not a hyper-parameter of 'lns_madam' \(it takes: lr, "):
        resolve_recipe({"base": "lns_madam", "name": "x", "optimizer": over})


def test_madam_family_hyper_parameters_are_checked_at_load():
    with pytest.raises(ValueError, match="weight_format='bf16' for 'lns_madam' must be an LNS format"):
        OptimSpec("lns_madam", weight_format="bf16")
    with pytest.raises(ValueError, match="rounding='toward_zero' for 'lns_madam'.*allowed: nearest_even, stochastic"):
        OptimSpec("lns_madam", rounding="toward_zero")


def test_datapath_naming_no_arch_fails_at_load_with_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"recipe 'x': datapath='sa32_fp9': unknown arch preset"):
        load_config({"recipes": [{"base": "fp32", "name": "x", "datapath": "sa32_fp9"}]})
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "recipes": [{"base": "fp32", "name": "x", "datapath": "sa32_fp9"}]}))
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "datapath='sa32_fp9'" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    # train_run refuses it before the first step too (it prices the energy with it at the end)
    good = load_config({**TINY, "recipes": ["fp32"]})
    bad = resolve_recipe({"base": "fp32", "name": "x", "datapath": "sa32_fp9"})
    with pytest.raises(ValueError, match="datapath='sa32_fp9'"):
        train_run(good, bad, 0)


def test_misspelled_optional_recipe_is_an_error():
    with pytest.raises(ValueError, match=r"optional_recipes entry 'lns_madan' is not a recipe; known: fp32, "):
        load_config({"recipes": ["fp32"], "optional_recipes": ["lns_madan"]})
    assert [r.name for r in load_config({"recipes": ["fp32"], "optional_recipes": ["lns_madam"]}).recipes] == \
        ["fp32", "lns_madam"]


@pytest.mark.parametrize("recipe", ["fp32", "fp32_madam", "lns_madam",
                                    {"base": "lns_madam", "name": "im", "optimizer": {"name": "integer_madam",
                                                                                      "weight_format": None}}])
def test_every_optimizer_has_the_loop_interface(recipe):
    """set_lr, update statistics (saved in state_dict) and the observer: the same methods on every class."""
    spec = resolve_recipe(recipe).optimizer
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(6, 4)), torch.nn.Parameter(torch.randn(6))]
    opt = build_optimizer(spec, params, seed=1)
    assert isinstance(opt, FunctionalOptimizer) and isinstance(opt, OPTIMIZERS[spec.name].cls)
    opt.set_lr(spec.lr / 2)
    assert all(g["hp"].lr == spec.lr / 2 for g in opt.param_groups)
    events = []
    opt.set_observer(events.append)
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    opt.set_observer(None)
    assert [(e.pid, e.numel) for e in events] == [(0, 24), (1, 6)]
    assert all(isinstance(e, UpdateEvent) for e in events)
    assert opt.lost_fraction() is not None and opt.unchanged_fraction() is not None
    assert opt.relative_update_error() is not None
    sd = opt.state_dict()
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()                                    # not observed: no events
    assert len(events) == 2
    fresh = build_optimizer(spec, [torch.nn.Parameter(p.detach().clone()) for p in params], seed=1)
    fresh.load_state_dict(sd)
    assert fresh.update_stats == sd["lowbit_update_stats"] != opt.update_stats


def test_train_run_returns_a_typed_result_whose_record_round_trips():
    from lowbit.train import TrainResult
    cfg = load_config({**TINY, "recipes": ["fp32"], "ptq": ["binary"]})
    res = train_run(cfg, cfg.recipes[0], 0)
    assert isinstance(res, TrainResult) and res.steps == 6 and res.error is None and res.model_state is None
    d = res.to_dict()
    assert list(d) == ["recipe", "seed", "steps", "final_loss", "train_loss", "accuracy", "bits_per_weight",
                       "train_bits_per_weight", "updates_lost", "updates_unchanged", "loss_curve", "eval",
                       "datapath", "op_counts", "wall_s", "n_params", "energy", "energy_note", "ptq"]
    assert d["energy"]["pj_per_weight_update"] > 0 and set(d["ptq"]) == {"binary"}
    assert TrainResult.from_dict(d) == res
    with pytest.raises(ValueError, match=r"run record: unknown key\(s\) \['acc'\]"):
        TrainResult.from_dict({**d, "acc": 1.0})


def _load_benchmark(name):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_benchmarks_train_through_the_one_loop(monkeypatch):
    """The device study and the LNS-Madam benchmark have no loop of their own: both go through fit()."""
    import lowbit.train.loop as loop
    calls = []
    real = loop.fit

    def spy(model, opt, *a, **kw):
        calls.append(type(opt).__name__)
        return real(model, opt, *a, **kw)
    monkeypatch.setattr(loop, "fit", spy)
    ds = _load_benchmark("devices_study")
    X, y, Xt, yt = ds.digits_split(0.2)
    st = ds.Study(hidden=8, epochs=1, lr=0.05, seeds=(0,))
    for arm in (ds.Arm(name="sw", kind="software"), ds.Arm(name="mp", device="agsi", rule="mixed")):
        r = ds.run_arm(arm, st, 0, (X[:40], y[:40], Xt[:40], yt[:40]))
        assert r["steps"] == 40
    lm = _load_benchmark("lns_madam")
    r = lm.run_one({"model": "mlp", "arm": "lns_madam", "lr": 2 ** -5, "seed": 0, "epochs": 1, "validate": True})
    assert r["on_grid"] is True and r["steps"] == 36 and 0 <= r["rel_error"]
    assert calls == ["LowpOptimizer", "AnalogOptimizer", "LNSMadam"]


def test_analog_layer_takes_an_update_rule_and_its_optimizer_has_the_loop_interface():
    from lowbit.analog import AnalogLinear, AnalogOptimizer, MadamLog
    with pytest.raises(ValueError, match=r"rule must be a lowbit.analog UpdateRule .* got str"):
        AnalogLinear(4, 2, "idealized", rule="sgd")
    layer = AnalogLinear(4, 2, "idealized", rule=MadamLog(levels=8), seed=0)
    opt = AnalogOptimizer(torch.nn.Sequential(layer), lr=0.1)
    assert isinstance(opt, FunctionalOptimizer) and type(layer.tile).__name__ == "LogTile"
    opt.set_lr(0.2)
    assert opt.lr == 0.2 and opt.lost_fraction() is None


def test_an_energy_pricing_error_is_not_swallowed(monkeypatch):
    import lowbit.sim

    def broken(workload, arch, energy=None):
        raise KeyError("no energy for op 'fma' in fp8_e4m3fn")
    monkeypatch.setattr(lowbit.sim, "energy_per_update", broken)
    cfg = load_config({**TINY, "recipes": ["fp32"]})
    with pytest.raises(KeyError, match="no energy for op"):
        train_run(cfg, cfg.recipes[0], 0, max_steps=1)
