"""Model level: for every registered recipe, a lowbit.nn model (Linear, Conv2d and QAttention layers,
with call counters moved on so the stochastic streams are not at their start) exported and
rebuilt by `load_exported` gives the same eval outputs bit for bit, with weights that are the quantized
values (not the fp32 masters). Recipes without quantized weights are refused, saying so."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from lowbit.export import load_tensors
from lowbit.export.model import export_model, load_exported
from lowbit.nn import QAttention, quantize_model
from lowbit.recipes import get_recipe, list_recipes


class Tiny(nn.Module):
    """A conv layer, an attention block (quantized Q K^T and P V) and linear layers with odd sizes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.attn = QAttention(12, 2, name="attn")
        self.norm = nn.LayerNorm(12)
        self.fc = nn.Linear(12 * 4, 5)

    def forward(self, x):                       # x: (B, 1, 4, 4)
        h = torch.relu(self.conv(x))            # (B, 3, 4, 4)
        t = h.reshape(x.shape[0], 4, 12)        # 4 tokens of 12
        t = t + self.attn(self.norm(t))
        return self.fc(t.reshape(x.shape[0], -1))


def build():
    torch.manual_seed(0)
    return Tiny()


def _advance_calls(model):
    """As after some training steps: every layer's call counter (its stochastic streams) moves on."""
    for i, (name, buf) in enumerate(model.named_buffers()):
        if name.endswith("lowbit_calls"):
            buf.fill_(3 + i)


def _bits(t):
    return t.detach().contiguous().view(torch.int32)


RECIPES = list_recipes()


@pytest.mark.parametrize("recipe", RECIPES)
def test_rebuilt_model_outputs_equal_bit_for_bit(tmp_path, recipe):
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    model = build()
    quantize_model(model, recipe, seed=11)
    if get_recipe(recipe).weight.identity:
        with pytest.raises(ValueError, match="has no quantized layers"):
            export_model(model, tmp_path / "m")
        assert not (tmp_path / "m").exists()
        return
    _advance_calls(model)
    model.eval()
    with torch.no_grad():
        want = model(x)
    target = "safetensors" if RECIPES.index(recipe) % 2 else "packed"
    folder = export_model(model, tmp_path / "m", target=target)
    back = load_exported(folder, build=build)
    with torch.no_grad():
        got = back(x)
    assert torch.equal(_bits(got), _bits(want))
    names = set(load_tensors(folder))
    assert {"conv.weight", "attn.qkv.weight", "attn.proj.weight", "fc.weight"} <= names
    for name in names:  # the rebuilt weights are the quantized values
        fmt_q = dict(back.named_parameters())[name]
        master = dict(model.named_parameters())[name]
        assert fmt_q.shape == master.shape
        assert torch.unique(fmt_q).numel() <= torch.unique(master).numel()


def test_exported_weights_are_codes_of_the_layer_format(tmp_path):
    model = build()
    quantize_model(model, "mxfp4", seed=0)
    folder = export_model(model, tmp_path / "m")
    enc = load_tensors(folder)["fc.weight"]
    assert enc.fmt.name == "mxfp4_e2m1" and enc.codes.shape == (5, 64) and enc.scales.shape == (5, 2)
    assert (folder / "tensors").is_dir() and (folder / "state.safetensors").is_file()
    w = dict(load_exported(folder, build=build).named_parameters())["fc.weight"].detach().numpy()
    fp4 = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0}
    scales = np.ldexp(1.0, enc.scales.astype(np.int64) - 127)
    ratios = np.abs(w.reshape(5, 48)[:, :32] / scales[:, :1])
    assert set(np.unique(ratios).tolist()) <= fp4


def test_loading_needs_a_builder_and_a_model_export(tmp_path):
    model = build()
    quantize_model(model, "int8", seed=0)
    folder = export_model(model, tmp_path / "m")
    with pytest.raises(ValueError, match="names no known builder"):
        load_exported(folder)
    from lowbit.export import export_tensors
    t = export_tensors({"a": (np.ones(3, np.float32), "int8")}, tmp_path / "t")
    with pytest.raises(ValueError, match="is a tensor export, not a model export"):
        load_exported(t, build=build)
    with pytest.raises(ValueError, match="rebuilt model"):
        load_exported(folder, build=lambda: nn.Sequential(nn.Linear(2, 2)))
