"""The LNS recipes plug into lowbit.recipes / lowbit.nn as data: registered names, optimizers built from
their OptimSpec, and a few training steps of `lns_madam` on a small MLP in which every weight stays an
lns8 value times its power-of-two scale, and the GEMM operands are lns8 values."""
import numpy as np
import torch

from lowbit.nn import quantize_model
from lowbit.numerics import get_format
from lowbit.optim import LNSMadam, Madam, build_optimizer
from lowbit.recipes import get_recipe, list_recipes


def test_recipes_registered_with_lns_datapath():
    names = list_recipes()
    for n in ("lns_madam", "lns_madam_nearest", "lns8_sgd", "lns8_adam", "fp32_madam"):
        assert n in names
    r = get_recipe("lns_madam")
    assert r.datapath == "lns_madam_pe" and r.weight.format == "lns8_tensor"
    assert r.grad_output.rounding == "stochastic" and r.bits_per_weight == 8.0


def test_optimizers_built_from_specs():
    p = [torch.nn.Parameter(torch.randn(4, 3))]
    o = build_optimizer(get_recipe("lns_madam").optimizer, p, seed=7)
    assert isinstance(o, LNSMadam) and o.hp.format == "lns8" and o.hp.rounding == "stochastic"
    assert o.hp.seed == 7 and o.hp.lr == 2 ** -5
    assert isinstance(build_optimizer(get_recipe("fp32_madam").optimizer, p), Madam)


def test_lns_madam_trains_on_grid_through_lowbit_nn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    recipe = get_recipe("lns_madam")
    quantize_model(model, recipe, seed=0)
    opt = build_optimizer(recipe.optimizer, model.parameters(), seed=0)
    x, y = torch.randn(64, 12), torch.randint(0, 3, (64,))
    lns8 = get_format("lns8")
    grid = torch.from_numpy(lns8.values()[:128]).float()
    seen = []
    h = model[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    h.remove()
    assert losses[-1] < losses[0]
    for p in model.parameters():
        st = opt.state[p]
        r = (p.detach().double().reshape(st["scale"].shape[0], -1).abs() / st["scale"]).float().reshape(-1)
        assert bool(torch.isin(r, grid).all())
    # the layer's input quantizer is lns8 with a power-of-two scale: x / scale lands on the lns8 grid
    q = get_format("lns8_tensor").quantize(seen[0])
    s = 2.0 ** torch.ceil(torch.log2(seen[0].abs().max() / lns8.max))
    assert bool(torch.isin((q.abs() / s).float(), torch.cat([grid, torch.zeros(1)])).all())
    assert opt.lost_fraction() is not None and np.isfinite(opt.lost_fraction())


def test_study_config_loads():
    from pathlib import Path

    from lowbit.train.config import load_config
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "runs" / "lns_madam.yaml")
    by = {r.name: r for r in cfg.recipes}
    assert by["c_lns_madam"].optimizer.name == "lns_madam" and by["c_lns_madam"].datapath == "lns_madam_pe"
    assert by["e_lns8_adam_master"].optimizer.weight_format is None
    assert by["d_lns8_adam"].optimizer.weight_format == "lns8_tensor"
