"""Small models for the built-in studies, written with plain torch layers (quantize_model swaps them):
- `mlp`: Linear/ReLU stack;
- `cnn`: two 3x3 convolutions (padding 1) and a linear classifier, for 8x8 digit images;
- `transformer`: each image row is a token (8 tokens of 8 pixels for digits): a linear embedding,
  one pre-norm block with lowbit.nn.QAttention (quantized Q K^T and P V) and an MLP, mean pooling.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

__all__ = ["ModelSpec", "build_model", "MODELS"]

MODELS = ("mlp", "cnn", "transformer")


@dataclass(frozen=True)
class ModelSpec:
    kind: str = "mlp"
    hidden: tuple = (64,)
    channels: int = 8
    heads: int = 2
    width: int = 32

    def __post_init__(self):
        if self.kind not in MODELS:
            raise ValueError(f"model: kind={self.kind!r}; allowed: {', '.join(MODELS)}")
        hid = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else (self.hidden,)
        for h in hid:
            if isinstance(h, bool) or not isinstance(h, int) or h < 1:
                raise ValueError(f"model: hidden={self.hidden!r} must be positive integers")
        object.__setattr__(self, "hidden", hid)
        for key in ("channels", "heads", "width"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"model: {key}={v!r} must be a positive integer")
        if self.width % self.heads:
            raise ValueError(f"model: width={self.width} must be divisible by heads={self.heads}")


class _Transformer(nn.Module):
    def __init__(self, token_dim, n_tokens, width, heads, n_classes):
        super().__init__()
        from lowbit.nn import QAttention
        self.n_tokens, self.token_dim = n_tokens, token_dim
        self.embed = nn.Linear(token_dim, width)
        self.pos = nn.Parameter(torch.zeros(n_tokens, width))
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = QAttention(width, heads, name="attn")
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        h = self.embed(x.reshape(x.shape[0], self.n_tokens, self.token_dim)) + self.pos
        h = h + self.attn(self.norm1(h))
        h = h + self.mlp(self.norm2(h))
        return self.head(h.mean(1))


def build_model(spec: ModelSpec, n_features: int, n_classes: int, image_shape: tuple, seed: int) -> nn.Module:
    """The model with its initial weights drawn from `seed` (torch's default initializers)."""
    torch.manual_seed(seed)
    if spec.kind == "mlp":
        layers, d = [], n_features
        for h in spec.hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        return nn.Sequential(nn.Flatten(), *layers, nn.Linear(d, n_classes))
    if spec.kind == "cnn":
        c, hh, ww = image_shape
        k = spec.channels
        return nn.Sequential(nn.Unflatten(1, image_shape), nn.Conv2d(c, k, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(k, 2 * k, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(2 * k * ((hh + 1) // 2) * ((ww + 1) // 2), n_classes))
    c, hh, ww = image_shape
    return _Transformer(ww * c, hh, spec.width, spec.heads, n_classes)
