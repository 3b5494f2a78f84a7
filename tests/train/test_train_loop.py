"""Training runs: bit-exact resume from an atomic checkpoint, the NaN/Inf guard, config validation and the
report folder. Tiny configs (digits, a 16-unit MLP, a few dozen steps)."""
import json

import pytest
import torch
import yaml

from lowbit.cli import main
from lowbit.nn import NonFiniteError
from lowbit.train import load_checkpoint, load_config, train_run

TINY = {"model": {"kind": "mlp", "hidden": [16]}, "epochs": 2, "batch_size": 128, "seeds": [0]}


def _cfg(**kw):
    return load_config({**TINY, **kw})


def test_resume_continues_bit_exactly(tmp_path):
    """Stop at step 14 (checkpoint), resume to the end: the weights, the optimizer state stream and the
    metrics equal an uninterrupted run's, bit for bit (SR everywhere: layers and write-back)."""
    cfg = _cfg(recipes=[{"base": "bf16_sr", "name": "sr_all", "input": {"format": "bf16", "rounding": "stochastic"},
                         "grad_output": {"format": "bf16", "rounding": "stochastic"}}], checkpoint_every=7)
    r = cfg.recipes[0]
    full = train_run(cfg, r, 0, ckpt_path=tmp_path / "a.pt", max_steps=10 ** 9)
    part = train_run(cfg, r, 0, ckpt_path=tmp_path / "b.pt", max_steps=14)
    assert part.steps == 14 and load_checkpoint(tmp_path / "b.pt")["state"]["step"] == 14
    rest = train_run(cfg, r, 0, ckpt_path=tmp_path / "b.pt", resume=True, max_steps=10 ** 9)
    assert rest.steps == full.steps > 14
    for k, v in full.model_state.items():
        assert torch.equal(v, rest.model_state[k]), k
    assert rest.loss_curve == full.loss_curve and rest.updates_lost == full.updates_lost
    assert not list(tmp_path.glob(".*.tmp"))          # atomic writes leave no temp files


def test_nan_stops_with_step_layer_tensor_and_keeps_last_good_checkpoint(tmp_path):
    cfg = _cfg(recipes=[{"base": "fp32", "name": "blowup", "optimizer": {"lr": 1e30, "momentum": 0.0}}],
               checkpoint_every=1)
    with pytest.raises(NonFiniteError) as ei:
        train_run(cfg, cfg.recipes[0], 0, ckpt_path=tmp_path / "c.pt")
    e = ei.value
    msg = str(e)
    assert f"step {e.step}" in msg and repr(e.layer) in msg and repr(e.tensor) in msg
    assert e.layer in ("1", "3", "loss") or e.layer.isdigit()
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck["state"]["step"] == e.step                # the last step that finished cleanly
    assert all(bool(torch.isfinite(v).all()) for v in ck["model"].values() if v.is_floating_point())


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown key 'epoch'"):
        load_config({"epoch": 3})
    with pytest.raises(ValueError, match="lr_schedule='cos'"):
        load_config({"lr_schedule": "cos"})
    with pytest.raises(ValueError, match=r"model: unknown key .depth."):
        load_config({"model": {"depth": 3}})
    with pytest.raises(ValueError, match="unknown recipe 'fp7'"):
        load_config({"recipes": ["fp7"]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipes: [fp32]\nseeds: [-1]\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_train_command_writes_report_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(json.dumps({**TINY, "name": "tiny", "recipes": ["fp32", "bf16_nearest"], "jobs": 1}))
    out = tmp_path / "out"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert [s["recipe"] for s in m["summary"]] == ["fp32", "bf16_nearest"]
    assert {"final_loss", "accuracy", "bits_per_weight", "updates_lost", "energy"} <= set(m["runs"][0])
    assert (out / "metrics.csv").read_text().count("\n") == 3
    for f in ("config.yaml", "loss_curves.png", "accuracy_vs_bits.png", "checkpoints/fp32_seed0.pt"):
        assert (out / f).is_file(), f
    first = capsys.readouterr().out
    assert main(["train", str(cfg), "--out", str(out), "--resume", "--no-progress"]) == 0
    m2 = json.loads((out / "metrics.json").read_text())
    assert [r["accuracy"] for r in m2["runs"]] == [r["accuracy"] for r in m["runs"]]
    assert "fp32" in first and "bf16_nearest" in first


def test_train_command_reports_divergence_and_exits_3(tmp_path, capsys):
    cfg = tmp_path / "nan.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "epochs": 1, "jobs": 1, "recipes": [
        "fp32", {"base": "fp32", "name": "blowup", "optimizer": {"lr": 1e30, "momentum": 0.0}}]}))
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "diverged" in out and "non-finite values (NaN/Inf) at step" in out
    assert (tmp_path / "o" / "checkpoints" / "fp32_seed0.pt").is_file()
