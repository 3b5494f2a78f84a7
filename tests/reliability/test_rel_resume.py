"""Reliability: `--resume` continues a run only under the config it was started with (issue 17 item 3);
a changed epochs/lr/width is refused naming the keys, before any run starts; what may change resumes."""

import pytest
import yaml

from lowbit.train import load_checkpoint, load_config, train_run
from lowbit.train.resume import checkpoint_file

TINY = {"name": "tiny", "model": {"kind": "mlp", "hidden": [8]}, "epochs": 2, "batch_size": 256, "seeds": [0],
        "recipes": ["fp32"], "checkpoint_every": 2, "jobs": 1}


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """A run stopped after 2 steps, checkpointed where `lowbit train --out OUT` keeps it."""
    out = tmp_path_factory.mktemp("resume")
    cfg = load_config(TINY)
    (out / "checkpoints").mkdir()
    train_run(cfg, cfg.recipes[0], 0, ckpt_path=checkpoint_file(out / "checkpoints", "fp32", 0), max_steps=2)
    return out


def _changed(**kw):
    d = {**TINY, **kw}
    return load_config(d)


@pytest.mark.parametrize("change,keys", [
    ({"epochs": 3}, ["epochs"]),
    ({"recipes": [{"base": "fp32", "name": "fp32", "optimizer": {"lr": 0.07}}]}, ["recipes[fp32].optimizer.lr"]),
    ({"model": {"kind": "mlp", "hidden": [9]}}, ["model.hidden[0]"]),
    ({"batch_size": 128, "lr_schedule": "linear"}, ["batch_size", "lr_schedule"])])
def test_resume_refuses_a_changed_config_naming_the_keys(started, change, keys):
    cfg = _changed(**change)
    path = checkpoint_file(started / "checkpoints", "fp32", 0)
    before = load_checkpoint(path)["state"]["step"]
    with pytest.raises(ValueError) as exc:
        train_run(cfg, cfg.recipes[0], 0, ckpt_path=path, resume=True, max_steps=4)
    msg = str(exc.value)
    assert "differs from the checkpoint's in " + ", ".join(keys) + ":" in msg and "\n" not in msg
    assert load_checkpoint(path)["state"]["step"] == before       # nothing was trained or written


def test_resume_accepts_what_may_change(started, tmp_path):
    path = checkpoint_file(started / "checkpoints", "fp32", 0)
    copy = tmp_path / "c.pt"
    copy.write_bytes(open(path, "rb").read())
    cfg = _changed(name="other", jobs=2, checkpoint_every=1, seeds=[0, 5], recipes=["fp32", "bf16_nearest"])
    r = train_run(cfg, cfg.recipes[0], 0, ckpt_path=copy, resume=True, max_steps=3)
    assert r.steps == 3


def test_cli_resume_with_a_changed_config_is_one_line_before_any_run(started, tmp_path, one_line_error):
    conf = tmp_path / "tiny.yaml"
    conf.write_text(yaml.safe_dump({**TINY, "epochs": 5}))
    mtime = (started / "checkpoints" / "fp32_seed0.pt").stat().st_mtime_ns
    line = one_line_error("train", conf, "--out", started, "--resume", "--no-progress")
    assert "fp32_seed0.pt: --resume with a config that differs from the checkpoint's in epochs: " in line
    assert "epochs: 2 in the checkpoint, 5 now" in line
    assert (started / "checkpoints" / "fp32_seed0.pt").stat().st_mtime_ns == mtime
    assert not (started / "metrics.json").exists()


def test_cli_resume_over_a_garbage_checkpoint_is_one_line(tmp_path, one_line_error):
    conf = tmp_path / "tiny.yaml"
    conf.write_text(yaml.safe_dump(TINY))
    (tmp_path / "o" / "checkpoints").mkdir(parents=True)
    for content in (b"", b"\x80garbage" * 20):
        (tmp_path / "o" / "checkpoints" / "fp32_seed0.pt").write_bytes(content)
        line = one_line_error("train", conf, "--out", tmp_path / "o", "--resume", "--no-progress")
        assert "fp32_seed0.pt: not a readable lowbit checkpoint" in line


def test_api_resume_and_load_of_a_garbage_checkpoint_name_the_file(tmp_path):
    """train_run(resume=True) and load_checkpoint on a file that is not a checkpoint: a ValueError naming
    the file, not torch's own unpickling error."""
    import pickle
    from lowbit.recipes import get_recipe
    cfg = load_config(TINY)
    ck = tmp_path / "fp32_seed0.pt"
    for content in (b"", b"\x80garbage" * 20, pickle.dumps([1, 2])):
        ck.write_bytes(content)
        with pytest.raises(ValueError, match="fp32_seed0.pt: not a (readable )?lowbit checkpoint"):
            load_checkpoint(ck)
        with pytest.raises(ValueError, match="fp32_seed0.pt: not a (readable )?lowbit checkpoint"):
            train_run(cfg, get_recipe("fp32"), 0, ckpt_path=ck, resume=True)
