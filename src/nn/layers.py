"""Quantized layers: `QLinear`, `QConv2d` (im2col onto the same GEMM) and `QAttention` (a self-attention
block whose projections are QLinear and whose two activation x activation matmuls, Q K^T and P V, are
quantized GEMMs too). Each layer quantizes what the hardware would (see functional.py), with the
formats of a `lowbit.recipes.Recipe`.

The layers subclass their torch counterparts (same parameters and state_dict keys), plus one buffer
`lowbit_calls` counting training forwards: it indexes the stochastic-rounding streams, so a resumed
run draws the same random bits as an uninterrupted one (it is saved with the model).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .functional import GemmSite, qgemm
from .quantizer import QuantContext, make_quantizer

__all__ = ["QLinear", "QConv2d", "QAttention", "QuantizedLayer"]


class _DGE:
    """The DGE factor of a weight under its quantizer (a class, not a lambda, so models deep-copy)."""

    def __init__(self, q, k, clip):
        self.q, self.k, self.clip = q, k, clip

    def __call__(self, w):
        return self.q.dge_factor(w.reshape(w.shape[0], -1), -1, self.k, self.clip).reshape(w.shape)


def _site(recipe, ctx, name, layer_id, sub=0, b_is_weight=True):
    mq = make_quantizer
    qb = mq(recipe.weight) if b_is_weight else mq(recipe.input)
    dge = _DGE(qb, recipe.dge_k, recipe.dge_clip) if (b_is_weight and recipe.estimator == "dge") else None
    return GemmSite(name, layer_id, sub, mq(recipe.input), qb, mq(recipe.output), mq(recipe.grad_output),
                    mq(recipe.grad_input), mq(recipe.grad_weight), recipe.accumulator, b_is_weight, dge, ctx)


class QuantizedLayer:
    """Mixin: recipe, shared context and the call counter of a quantized layer."""

    def lowbit_setup(self, recipe, ctx: QuantContext | None = None, name: str = "", layer_id: int = 0):
        from lowbit.recipes import get_recipe
        recipe = get_recipe(recipe)
        self.lowbit_recipe = recipe
        self.lowbit_ctx = ctx if ctx is not None else QuantContext(recipe)
        self.lowbit_name, self.lowbit_id = name or type(self).__name__, layer_id
        if "lowbit_calls" not in self._buffers:
            self.register_buffer("lowbit_calls", torch.zeros((), dtype=torch.int64))
        self._make_sites()

    def _make_sites(self):
        self.lowbit_sites = [_site(self.lowbit_recipe, self.lowbit_ctx, self.lowbit_name, self.lowbit_id)]

    def _call_index(self) -> int:
        if self.training and torch.is_grad_enabled():
            c = int(self.lowbit_calls)
            self.lowbit_calls += 1
            return c
        return -1 - int(self.lowbit_calls)   # eval: its own deterministic streams

    def extra_repr(self):
        return super().extra_repr() + f", recipe={self.lowbit_recipe.name}"


class QLinear(QuantizedLayer, nn.Linear):
    def __init__(self, in_features, out_features, bias=True, recipe="fp32", ctx=None, name="", layer_id=0,
                 device=None, dtype=None):
        nn.Linear.__init__(self, in_features, out_features, bias, device, dtype)
        self.lowbit_setup(recipe, ctx, name, layer_id)

    def forward(self, x):
        shape = x.shape
        y = qgemm(x.reshape(-1, shape[-1]), self.weight, self.bias, self.lowbit_sites[0], self._call_index())
        return y.reshape(*shape[:-1], self.out_features)


class QConv2d(QuantizedLayer, nn.Conv2d):
    """Conv2d as im2col + one quantized GEMM (reduction over in_channels * kernel area); groups == 1,
    zero padding given as integers."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 recipe="fp32", ctx=None, name="", layer_id=0, device=None, dtype=None):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, 1, bias,
                           "zeros", device, dtype)
        check_conv(self, name)
        self.lowbit_setup(recipe, ctx, name, layer_id)

    def forward(self, x):
        n, _, h, w = x.shape
        kh, kw = self.kernel_size
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)   # (N, C*kh*kw, L)
        a = cols.transpose(1, 2).reshape(n * ho * wo, -1)
        y = qgemm(a, self.weight.reshape(self.out_channels, -1), self.bias, self.lowbit_sites[0],
                  self._call_index())
        return y.reshape(n, ho * wo, self.out_channels).transpose(1, 2).reshape(n, self.out_channels, ho, wo)


def check_conv(m: nn.Conv2d, name: str):
    """Raise ValueError for Conv2d settings QConv2d does not emulate, saying why."""
    if m.groups != 1:
        raise ValueError(f"layer {name!r}: Conv2d with groups={m.groups} is not supported (QConv2d lowers a "
                         "convolution to ONE im2col GEMM; grouped/depthwise convs need one GEMM per group)")
    if isinstance(m.padding, str):
        raise ValueError(f"layer {name!r}: Conv2d padding={m.padding!r} is not supported; give integer padding")
    if m.padding_mode != "zeros":
        raise ValueError(f"layer {name!r}: Conv2d padding_mode={m.padding_mode!r} is not supported; allowed: zeros")


class QAttention(QuantizedLayer, nn.Module):
    """Multi-head self-attention, (B, T, E) -> (B, T, E): qkv = QLinear(E, 3E), out = QLinear(E, E), and
    the two matmuls Q K^T (reduction over the head dim) and P V (reduction over the keys) quantized with
    the recipe's input/output/gradient specs (both operands are activations)."""

    def __init__(self, embed_dim, num_heads, causal=False, bias=True, recipe="fp32", ctx=None, name="",
                 layer_id=0):
        nn.Module.__init__(self)
        if embed_dim % num_heads:
            raise ValueError(f"QAttention: embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.causal = embed_dim, num_heads, causal
        self.qkv = QLinear(embed_dim, 3 * embed_dim, bias, recipe, ctx, f"{name}.qkv", layer_id + 1)
        self.proj = QLinear(embed_dim, embed_dim, bias, recipe, self.qkv.lowbit_ctx, f"{name}.proj", layer_id + 2)
        self.lowbit_setup(recipe, self.qkv.lowbit_ctx, name, layer_id)

    def _make_sites(self):
        r, c, n, i = self.lowbit_recipe, self.lowbit_ctx, self.lowbit_name, self.lowbit_id
        self.lowbit_sites = [_site(r, c, n, i, 1, b_is_weight=False), _site(r, c, n, i, 2, b_is_weight=False)]

    def _heads(self, x):
        """q (scaled by 1/sqrt(d)), k, v as (B*H, T, d) from the quantized qkv projection of x (B, T, E)."""
        b, t, e = x.shape
        h, d = self.num_heads, e // self.num_heads
        qkv = self.qkv(x).reshape(b, t, 3, h, d).permute(2, 0, 3, 1, 4).reshape(3, b * h, t, d)
        return qkv[0] / math.sqrt(d), qkv[1], qkv[2]

    def _merge(self, o, x):
        """The output projection of the heads' outputs o (B*H, T, d), back to (B, T, E)."""
        b, t, e = x.shape
        return self.proj(o.reshape(b, self.num_heads, t, e // self.num_heads).transpose(1, 2).reshape(b, t, e))

    def forward(self, x):
        t = x.shape[1]
        q, k, v = self._heads(x)
        call = self._call_index()
        s = qgemm(q, k, None, self.lowbit_sites[0], call)                   # (BH, T, T), reduction over d
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            s = s.masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=-1)
        o = qgemm(p, v.transpose(-1, -2).contiguous(), None, self.lowbit_sites[1], call)  # reduction over keys
        return self._merge(o, x)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, causal={self.causal}, " \
               f"recipe={self.lowbit_recipe.name}"
