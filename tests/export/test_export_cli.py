"""`lowbit export` / `lowbit import` on `lowbit train`-style checkpoints: the export rebuilds a model whose
outputs equal the checkpoint's quantized model bit for bit; bad input gives one clear error line and
exit code 2 (existing target without --force, no run config, no quantized layers, damaged files)."""
import pytest
import torch
import yaml

pytest.importorskip("lowbit.train")

from lowbit.cli import main  # noqa: E402
from lowbit.export import load_exported  # noqa: E402
from lowbit.nn import quantize_model  # noqa: E402
from lowbit.train import build_model, load_config, load_data  # noqa: E402

CONFIG = {"data": {"name": "blobs"}, "model": {"kind": "mlp", "hidden": [13]}, "recipes": ["mxfp4", "fp32"]}


def _checkpoint(tmp_path, recipe="mxfp4", with_config=True):
    cfg = load_config(CONFIG)
    data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed)
    model = build_model(cfg.model, data.n_features, data.n_classes, data.image_shape, 5)
    quantize_model(model, recipe, seed=5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    ck = {"model": model.state_dict(), "recipe": recipe, "seed": 5}
    if with_config:
        ck["config"] = CONFIG
    path = tmp_path / f"{recipe}.pt"
    torch.save(ck, path)
    model.eval()
    with torch.no_grad():
        return path, model(data.x_test[:32]), data.x_test[:32]


def test_export_then_import_rebuilds_the_model_exactly(tmp_path, capsys):
    ck, want, x = _checkpoint(tmp_path)
    out = tmp_path / "exp"
    assert main(["export", str(ck), "--format", "safetensors", "--to", str(out)]) == 0
    assert "exported 2 quantized weight tensors (safetensors)" in capsys.readouterr().out
    assert main(["import", str(out), "--save", str(tmp_path / "rebuilt.pt")]) == 0
    said = capsys.readouterr().out
    assert "files verified" in said and "model rebuilt: recipe mxfp4" in said
    with torch.no_grad():
        got = load_exported(out)(x)
    assert torch.equal(got.view(torch.int32), want.view(torch.int32))
    assert (tmp_path / "rebuilt.pt").is_file()
    # an existing target is refused unless --force
    assert main(["export", str(ck), "--to", str(out)]) == 2
    assert "already exists; pass force=True (--force)" in capsys.readouterr().err
    assert main(["export", str(ck), "--to", str(out), "--force", "--format", "onnx"]) == 0
    assert main(["import", str(out)]) == 0   # the ONNX file alone gives the codes back
    with torch.no_grad():
        got = load_exported(out)(x)
    assert torch.equal(got.view(torch.int32), want.view(torch.int32))
    capsys.readouterr()
    assert main(["import", str(out), "--runtime", "onnxruntime"]) == 0   # mxfp4: the portable form
    assert "2 outputs equal the decoded codes bit for bit" in capsys.readouterr().out
    assert main(["import", str(out), "--runtime", "tvm"]) == 2
    err = capsys.readouterr().err
    assert "--runtime 'tvm'; allowed: onnxruntime" in err and err.count("\n") == 1


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    ck, _, _ = _checkpoint(tmp_path, with_config=False)
    assert main(["export", str(ck), "--to", str(tmp_path / "a")]) == 2
    assert "carries no run config; pass --config" in capsys.readouterr().err
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert main(["export", str(ck), "--to", str(tmp_path / "a"), "--config", str(cfg)]) == 0
    capsys.readouterr()
    for extra, said in ((["--format", "onnx", "--ops", "fp4"], "--ops 'fp4'; allowed: auto, qdq, qonnx, portable"),
                        (["--ops", "portable"], "--ops applies to --format onnx only, not --format packed")):
        assert main(["export", str(ck), "--to", str(tmp_path / "o"), "--config", str(cfg)] + extra) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    assert main(["export", str(ck), "--to", str(tmp_path / "o"), "--config", str(cfg), "--format", "onnx",
                 "--ops", "portable"]) == 0
    assert "ops portable (onnxruntime not asked): portable x2" in capsys.readouterr().out
    fp32, _, _ = _checkpoint(tmp_path, recipe="fp32")
    assert main(["export", str(fp32), "--to", str(tmp_path / "b")]) == 2
    assert "has no quantized layers" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert main(["export", str(tmp_path / "missing.pt"), "--to", str(tmp_path / "c")]) == 2
    assert main(["export", str(ck), "--to", str(tmp_path / "c"), "--format", "tflite"]) == 2
    assert "--format 'tflite'; allowed: packed, safetensors, memh, onnx" in capsys.readouterr().err
    codes = sorted((tmp_path / "a" / "tensors").glob("*.codes.bin"))[0]
    codes.write_bytes(codes.read_bytes()[:-1])
    assert main(["import", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert codes.name in err and "bytes expected" in err and err.count("\n") == 1


def test_a_real_lowbit_train_checkpoint_exports_exactly(tmp_path, capsys):
    from lowbit.export.checkpoint import model_from_checkpoint
    from lowbit.train import train_run
    cfg_dict = dict(CONFIG, model={"kind": "cnn", "channels": 2}, epochs=1, batch_size=64, checkpoint_every=1)
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_dict))
    cfg = load_config(str(cfg_file))
    ck = tmp_path / "ck.pt"
    train_run(cfg, cfg.recipes[0], 0, ckpt_path=ck, max_steps=2)
    assert main(["export", str(ck), "--config", str(cfg_file), "--to", str(tmp_path / "e")]) == 0
    capsys.readouterr()
    model, _ = model_from_checkpoint(ck, str(cfg_file))
    model.eval()
    x = load_data("blobs").x_test[:40]
    with torch.no_grad():
        want, got = model(x), load_exported(tmp_path / "e")(x)
    assert torch.equal(got.view(torch.int32), want.view(torch.int32))
