"""The GPT workload (issue 12): config validation, the causal model and what it quantizes, the text data
(built-in corpus checked against hashlib over the same files, the user's file), the warm-up schedule,
training a user's own model and text file through the API and through YAML + `lowbit train`, and a
GPT checkpoint read back by `lowbit export`. Tiny sizes (width 32, context 16, a few steps)."""
import hashlib
import json
import math
import sysconfig
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import yaml

from lowbit.cli import main
from lowbit.nn import QAttention, QLinear, quantize_model
from lowbit.train import build_model, load_config, lr_at, train_run
from lowbit.train.data import STDLIB_MODULES, load_text
from lowbit.train.models import GPT

TINY = {"data": {"kind": "text", "test_fraction": 0.1, "eval_bytes": 256},
        "model": {"kind": "gpt", "layers": 1, "width": 32, "heads": 2, "context": 16},
        "optimizer": {"name": "adamw", "lr": 0.003}, "steps": 6, "warmup_steps": 2, "grad_clip": 1.0,
        "batch_size": 4, "seeds": [0], "jobs": 1,
        "recipes": ["fp32"]}   # (the default set includes eco_fp8, which AdamW cannot train: a load-time error)


def _cfg(**kw):
    return load_config({**TINY, **kw})


@pytest.mark.parametrize("bad, match", [
    ({"model": {"kind": "gpt", "hidden": [3]}}, r"model.hidden does not apply to model kind='gpt'; keys for gpt"),
    ({"model": {"kind": "mlp", "layers": 3}, "data": {"kind": "dataset"}}, r"model.layers does not apply to model kind='mlp'"),
    ({"model": {"kind": "gpt", "attention": "flash"}}, r"attention='flash'; allowed: exact, flash_bf16"),
    ({"model": {"kind": "gpt", "context": 0}}, r"context=0 must be a positive integer"),
    ({"model": {"kind": "gpt", "tied_embeddings": "yes"}}, r"tied_embeddings='yes' must be true or false"),
    ({"model": {"kind": "gpt", "width": 30, "heads": 4}}, r"width=30 must be divisible by heads=4"),
    ({"data": {"kind": "text", "name": "digits"}}, r"data.name does not apply to data kind='text'"),
    ({"data": {"kind": "txt"}}, r"data: kind='txt'; allowed: dataset, text"),
    ({"data": {"kind": "dataset"}}, r"model kind='gpt' does not fit data kind='dataset'"),
    ({"grad_clip": 0}, r"grad_clip=0 must be a number > 0 or null"),
    ({"warmup_steps": -1}, r"warmup_steps=-1 must be an integer >= 0"),
    ({"steps": 0}, r"steps=0 must be an integer >= 1"),
    ({"ptq": ["ternary1"]}, r"ptq .* does not apply to data kind text"),
])
def test_bad_gpt_and_text_keys_are_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match) as ei:
        load_config({**TINY, **bad})
    assert "\n" not in str(ei.value)


def test_missing_empty_and_short_files_are_one_line_errors_at_load(tmp_path, capsys):
    empty, short = tmp_path / "empty.txt", tmp_path / "short.txt"
    empty.write_bytes(b"")
    short.write_bytes(b"x" * 30)
    for path, match in [(tmp_path / "nope.txt", "does not exist"), (empty, "is empty"),
                        (short, "has 30 bytes: too short for context=16")]:
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            load_config({**TINY, "data": {"kind": "text", "path": str(path)}})
        run = tmp_path / "run.yaml"
        run.write_text(yaml.safe_dump({**TINY, "data": {"kind": "text", "path": str(path)}, "recipes": ["fp32"]}))
        assert main(["train", str(run), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert match in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_gpt_is_causal_and_quantizes_exactly_the_projections_and_attention_products():
    cfg = _cfg(model={"kind": "gpt", "layers": 2, "width": 32, "heads": 2, "context": 16})
    m = build_model(cfg.model, 256, 256, (), 0)
    assert isinstance(m, GPT) and m.head is None               # tied: no separate head matrix
    n = sum(p.numel() for p in m.parameters())
    w, L = 32, 2
    # per block: 2 LayerNorms (4w), qkv (3w^2 + 3w), proj (w^2 + w), MLP (4w^2 + 4w, 4w^2 + w); + ln_f
    assert n == 256 * w + 16 * w + L * (4 * w + 3 * w * w + 3 * w + w * w + w + 4 * w * w + 4 * w + 4 * w * w + w) + 2 * w
    # nanoGPT init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), zero biases
    assert abs(float(m.wte.weight.detach().std()) - 0.02) < 0.002
    assert abs(float(m.blocks[0].mlp[2].weight.detach().std()) - 0.02 / math.sqrt(2 * L)) < 0.002
    assert float(m.blocks[0].attn.qkv.bias.detach().abs().max()) == 0.0
    _, rep = quantize_model(m, "fp8", seed=0)
    quantized = set(rep["quantized"])
    for b in ("blocks.0", "blocks.1"):
        assert {f"{b}.attn", f"{b}.attn.qkv", f"{b}.attn.proj", f"{b}.mlp.0", f"{b}.mlp.2"} <= quantized
        assert isinstance(m.get_submodule(f"{b}.mlp.0"), QLinear)
        assert m.get_submodule(f"{b}.attn").causal and isinstance(m.get_submodule(f"{b}.attn"), QAttention)
    assert not any(q.startswith(("wte", "wpe", "ln_f")) or ".ln_" in q for q in quantized)
    # causality in exact arithmetic (a per-tensor-scaled recipe lets the future move the shared scale)
    m = build_model(cfg.model, 256, 256, (), 0)
    quantize_model(m, "fp32", seed=0)
    x = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    m.eval()
    with torch.no_grad():
        y = m(x)
        x2 = x.clone()
        x2[:, 9:] = (x2[:, 9:] + 7) % 256                     # change the future: the past logits stay
        y2 = m(x2)
    assert y.shape == (2, 16, 256)
    assert torch.equal(y[:, :9], y2[:, :9]) and not torch.equal(y[:, 9:], y2[:, 9:])


def test_builtin_corpus_is_the_listed_stdlib_files_and_split_is_deterministic():
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [next(p for p in (root / f"{n}.py", root / n / "__init__.py") if p.is_file())
             for n in STDLIB_MODULES if (root / f"{n}.py").is_file() or (root / n / "__init__.py").is_file()]
    whole = b"".join(f.read_bytes() for f in files)
    d = load_text(None, 0.1, 16)
    assert d.sha256 == hashlib.sha256(whole).hexdigest() and d.size == len(whole) > 500_000
    assert len(d.train) + len(d.val) == len(whole)
    first = files[0].read_bytes()
    assert bytes(d.train[:100].tolist()) == first[:100]      # each file: its first 90% train, the rest validate
    assert bytes(d.val[:50].tolist()) == first[int(len(first) * 0.9):][:50]
    x, y = d.batch(4, 16, seed=3, step=5)
    x2, _ = d.batch(4, 16, seed=3, step=5)
    assert torch.equal(x, x2) and torch.equal(x[:, 1:], y[:, :-1])
    xv, yv = d.eval_windows(16, 100)
    assert xv.shape == (6, 16) and bytes(xv[0].tolist()) == bytes(d.val[:16].tolist())


def test_warmup_then_cosine():
    assert [lr_at(1.0, "cosine", s, 10, warmup=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(1.0, "cosine", 4, 10, warmup=4) == 1.0
    assert lr_at(1.0, "cosine", 9, 10, warmup=4) == pytest.approx(0.01)
    assert lr_at(1.0, "cosine", 3, 10) < 1.0                 # no warm-up: the old schedule


class _UserLM(nn.Module):
    """A user's own byte model: an embedding, one Linear (quantized by the recipe) and a head."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(256, 24)
        self.mix = nn.Linear(24, 24)
        self.out = nn.Linear(24, 256)

    def forward(self, x):
        return self.out(torch.relu(self.mix(self.emb(x))))


def test_users_model_and_text_file_train_through_the_api(tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    cfg = _cfg(data={"kind": "text", "path": str(text), "test_fraction": 0.2, "eval_bytes": 256}, steps=40,
               recipes=["mxfp4"])
    a = train_run(cfg, cfg.recipes[0], 0, model_fn=lambda seed: _UserLM())
    b = train_run(cfg, cfg.recipes[0], 0, model_fn=lambda seed: _UserLM(), max_steps=10)
    assert a.corpus["sha256"] == hashlib.sha256(text.read_bytes()).hexdigest()
    assert a.val_bits_per_byte == pytest.approx(a.val_nats_per_byte / math.log(2))
    assert a.val_bits_per_byte < 7.0                     # learned: uniform bytes are 8 bits (measured 6.45)
    assert a.loss_curve[:2] == b.loss_curve                   # same seed, same bits
    assert a.n_params == sum(p.numel() for p in _UserLM().parameters())


def test_users_text_file_trains_gpt_through_yaml_and_exports(tmp_path, capsys):
    text = tmp_path / "mine.txt"
    text.write_bytes(("déjà vu " * 300).encode("utf-8"))
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({**TINY, "name": "mine", "data": {"kind": "text", "path": str(text)},
                                   "recipes": ["mxfp4"], "eval_every": 3}))
    out = tmp_path / "out"
    assert main(["train", str(run), "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    sha = hashlib.sha256(text.read_bytes()).hexdigest()
    assert f"sha256 {sha}" in said and "val bits/byte" in said
    m = json.loads((out / "metrics.json").read_text())
    assert m["corpus"]["sha256"] == sha and m["corpus"]["bytes"] == len(text.read_bytes())
    assert [e[0] for e in m["runs"][0]["eval"]] == [3, 6]
    assert m["summary"][0]["val_bpb_mean"] > 0
    for f in ("metrics.csv", "loss_curves.png", "table.txt", "checkpoints/mxfp4_seed0.pt"):
        assert (out / f).is_file(), f
    assert main(["export", str(out / "checkpoints" / "mxfp4_seed0.pt"), "--to", str(tmp_path / "e"),
                 "--format", "safetensors"]) == 0
    assert "exported 4 quantized weight tensors" in capsys.readouterr().out
