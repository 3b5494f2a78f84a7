"""Small models for the built-in studies, written with plain torch layers (quantize_model swaps them):
- `mlp`: Linear/ReLU stack;
- `cnn`: two 3x3 convolutions (padding 1) and a linear classifier, for 8x8 digit images;
- `transformer`: each image row is a token (8 tokens of 8 pixels for digits): a linear embedding,
  one pre-norm block with lowbit.nn.QAttention (quantized Q K^T and P V) and an MLP, mean pooling.
- `gpt`: a byte-level causal language model (vocabulary 256) for text data (`data: {kind: text}`),
  see `GPT` below and docs/training.md "GPT language model".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

__all__ = ["ModelSpec", "build_model", "MODELS", "MODEL_KEYS", "GPT", "VOCAB", "count_parameters"]

MODELS = ("mlp", "cnn", "transformer", "gpt")
ATTENTIONS = ("exact", "flash_bf16")
VOCAB = 256      # byte-level tokens
# which ModelSpec keys each kind reads (a key given for another kind is an error, not silently unused)
MODEL_KEYS = {"mlp": ("hidden",), "cnn": ("channels",), "transformer": ("width", "heads"),
              "gpt": ("layers", "width", "heads", "context", "mlp_ratio", "tied_embeddings", "attention",
                      "attn_block", "attn_rounding")}


@dataclass(frozen=True)
class ModelSpec:
    kind: str = "mlp"
    hidden: tuple = (64,)
    channels: int = 8
    heads: int = 2
    width: int = 32
    layers: int = 2               # gpt: transformer blocks
    context: int = 128            # gpt: tokens per sequence
    mlp_ratio: int = 4            # gpt: MLP hidden = mlp_ratio * width
    tied_embeddings: bool = True  # gpt: the output head reuses the token embedding matrix
    attention: str = "exact"      # gpt: exact | flash_bf16 (tiled online softmax in bf16; nn.flash)
    attn_block: int = 32          # gpt, flash_bf16: key block (tile) length
    attn_rounding: str = "nearest_even"   # gpt, flash_bf16: nearest_even | stochastic

    def __post_init__(self):
        if self.kind not in MODELS:
            raise ValueError(f"model: kind={self.kind!r}; allowed: {', '.join(MODELS)}")
        hid = tuple(self.hidden) if isinstance(self.hidden, (list, tuple)) else (self.hidden,)
        for h in hid:
            if isinstance(h, bool) or not isinstance(h, int) or h < 1:
                raise ValueError(f"model: hidden={self.hidden!r} must be positive integers")
        object.__setattr__(self, "hidden", hid)
        for key in ("channels", "heads", "width", "layers", "context", "mlp_ratio", "attn_block"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"model: {key}={v!r} must be a positive integer")
        if not isinstance(self.tied_embeddings, bool):
            raise ValueError(f"model: tied_embeddings={self.tied_embeddings!r} must be true or false")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"model: attention={self.attention!r}; allowed: {', '.join(ATTENTIONS)}")
        if self.attn_rounding not in ("nearest_even", "stochastic"):
            raise ValueError(f"model: attn_rounding={self.attn_rounding!r}; allowed: nearest_even, stochastic")
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


class _Block(nn.Module):
    """Pre-norm GPT block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); attention causal."""

    def __init__(self, spec: ModelSpec, index: int):
        super().__init__()
        from lowbit.nn import QAttention
        from lowbit.nn.flash import FlashAttention
        w = spec.width
        self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
        if spec.attention == "flash_bf16":
            self.attn = FlashAttention(w, spec.heads, block=spec.attn_block, rounding=spec.attn_rounding,
                                       name=f"blocks.{index}.attn")
        else:
            self.attn = QAttention(w, spec.heads, causal=True, name=f"blocks.{index}.attn")
        self.mlp = nn.Sequential(nn.Linear(w, spec.mlp_ratio * w), nn.GELU(), nn.Linear(spec.mlp_ratio * w, w))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Byte-level causal GPT (nanoGPT layout): token + learned position embeddings, `layers` pre-norm
    blocks, a final LayerNorm and the output head. The GEMMs quantize_model swaps are the attention's
    Q/K/V (`attn.qkv`) and output (`attn.proj`) projections, the MLP's two projections, and the attention's
    Q K^T and P V products (QAttention, causal). Embeddings, LayerNorms and the output head (a matmul with
    the embedding matrix when tied, else with its own matrix) stay fp32: they are parameters used outside
    nn.Linear. Init as nanoGPT: N(0, 0.02) for every weight matrix and embedding, zero biases, and
    N(0, 0.02 / sqrt(2 * layers)) for the projections that write into the residual stream
    (`attn.proj`, the MLP's second Linear). forward(tokens (B, T) int64) -> logits (B, T, 256)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.context = spec.context
        self.wte = nn.Embedding(VOCAB, spec.width)
        self.wpe = nn.Embedding(spec.context, spec.width)
        self.blocks = nn.ModuleList([_Block(spec, i) for i in range(spec.layers)])
        self.ln_f = nn.LayerNorm(spec.width)
        self.head = None if spec.tied_embeddings else nn.Parameter(torch.empty(VOCAB, spec.width))
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                resid = name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight")
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * spec.layers) if resid else std)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.context:
            raise ValueError(f"GPT: sequence length {t} exceeds context={self.context}")
        h = self.wte(idx) + self.wpe.weight[:t]
        for blk in self.blocks:
            h = blk(h)
        h = self.ln_f(h)
        return torch.matmul(h, (self.wte.weight if self.head is None else self.head).t())

    def attention_stats(self) -> list[dict]:
        """The flash-attention error statistics of the last training forward, one dict per block
        (empty for exact attention)."""
        from lowbit.nn.flash import FlashAttention
        return [b.attn.last_stats for b in self.blocks if isinstance(b.attn, FlashAttention) and b.attn.last_stats]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(spec: ModelSpec, n_features: int, n_classes: int, image_shape: tuple, seed: int) -> nn.Module:
    """The model with its initial weights drawn from `seed` (torch's default initializers; nanoGPT's
    for `gpt`, which ignores n_features / n_classes / image_shape: its vocabulary is the 256 bytes)."""
    torch.manual_seed(seed)
    if spec.kind == "gpt":
        return GPT(spec)
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
