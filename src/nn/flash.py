"""`FlashAttention`: causal self-attention computed as a tiled online softmax (the FlashAttention
algorithm) whose running state is held in bf16, for the study of "Why Low-Precision Transformer Training
Fails: An Analysis on Flash Attention" (docs/training.md, "flash attention in bf16").

For each query row and each key block j of `block` keys (the tile), with every marked value rounded to
bf16 by `rounding` (nearest_even, or stochastic with a seeded stream per layer, call, tile and tensor):

    s_j   = R(q k_j^T)                                   scores of the tile (fp32 products, then bf16)
    m'    = max(m, rowmax(s_j))                           running max (exact: a max of bf16 values)
    a     = R(exp(m - m'))                                rescale factor of the old state
    p_j   = R(exp(s_j - m'))                              unnormalised probabilities
    l     = R(R(a * l) + R(rowsum(p_j)))                  running normaliser
    acc   = R(R(a * acc) + R(p_j v_j))                    running P V accumulation (tile product in fp32)
    out   = R(acc / l)  after the last tile

Gradients flow through this computation with every R taken as the identity (straight-through), so the
backward pass sees the rounded forward values. The Q/K/V and output projections are the recipe's
quantized GEMMs (QLinear, as in QAttention); the tile products themselves are fp32 before R, so the
study isolates the bf16 running state.

After every training forward, `last_stats` holds the rounding error of the final normaliser `l` and of the
final accumulation `acc` against an fp64 recomputation of the same tiles (the same bf16 scores s_j,
everything after them exact in fp64: l64 = sum exp(s - m), acc64 = sum exp(s - m) v):
  l_bias      = mean over rows of (l - l64) / l64                       (signed, relative)
  pv_bias     = mean((acc - acc64) * sign(acc64)) / mean(|acc64|)        (signed toward the exact value:
                negative = the accumulation shrinks the output, positive = it inflates it)
  pv_mean_err = mean(acc - acc64) / mean(|acc64|)                        (plain signed mean)
  pv_rel_rms  = sqrt(mean((acc - acc64)^2)) / mean(|acc64|)              (magnitude, for scale)
"""
from __future__ import annotations

import torch

from .layers import QAttention

__all__ = ["FlashAttention", "flash_attention_bf16"]

ROUNDINGS = ("nearest_even", "stochastic")


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rounding, seed):
        from lowbit.numerics import get_format
        kw = {"rounding": rounding}
        if rounding == "stochastic":
            kw.update(generator=int(seed), rbits=16)
        return get_format("bf16").quantize(x.detach(), **kw).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def flash_attention_bf16(q, k, v, block: int, rounding: str = "nearest_even", seed_of=None, stats: dict | None = None):
    """Causal attention softmax(q k^T) v of q, k, v (N, T, d) (q already scaled by 1/sqrt(d)) by the tiled
    online softmax with a bf16 running state (module docstring). `seed_of(tile, tensor) -> int` gives the
    stochastic-rounding seeds; `stats`, when given, receives the error statistics against fp64."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"flash attention: rounding={rounding!r}; allowed: {', '.join(ROUNDINGS)}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"flash attention: block={block!r} must be a positive integer")
    n, t, d = q.shape

    def R(x, tile, tensor):
        return _RoundSTE.apply(x, rounding, seed_of(tile, tensor) if seed_of is not None else 0)

    rows = torch.arange(t, device=q.device).unsqueeze(1)
    m = torch.full((n, t, 1), float("-inf"), dtype=q.dtype, device=q.device)
    l = torch.zeros((n, t, 1), dtype=q.dtype, device=q.device)
    acc = torch.zeros((n, t, d), dtype=q.dtype, device=q.device)
    scores = []
    for j, j0 in enumerate(range(0, t, block)):
        kj, vj = k[:, j0:j0 + block], v[:, j0:j0 + block]
        masked = (torch.arange(j0, j0 + kj.shape[1], device=q.device).unsqueeze(0) > rows)   # (T, Bk)
        s = R(torch.matmul(q, kj.transpose(-1, -2)), j, 0).masked_fill(masked, float("-inf"))
        scores.append(s.detach())
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        a = R(torch.exp(m - m_new), j, 1)
        p = R(torch.exp(s - m_new), j, 2)
        l = R(R(a * l, j, 3) + R(p.sum(-1, keepdim=True), j, 4), j, 5)
        acc = R(R(a * acc, j, 6) + R(torch.matmul(p, vj), j, 7), j, 8)
        m = m_new
    out = R(acc / l, t, 9)
    if stats is not None:
        with torch.no_grad():
            s64 = torch.cat(scores, -1).double()
            p64 = torch.exp(s64 - s64.amax(-1, keepdim=True))
            l64 = p64.sum(-1, keepdim=True)
            # the bf16 state is relative to the bf16 running max, which equals the max of the same scores
            acc64 = torch.matmul(p64, v.detach().double())
            e_l = (l.detach().double() - l64) / l64
            e = acc.detach().double() - acc64
            scale = acc64.abs().mean()
            stats.update(l_bias=float(e_l.mean()), pv_bias=float((e * torch.sign(acc64)).mean() / scale),
                         pv_mean_err=float(e.mean() / scale), pv_rel_rms=float(e.pow(2).mean().sqrt() / scale))
    return out


class FlashAttention(QAttention):
    """Causal multi-head self-attention like QAttention (same parameters: qkv, proj), with the attention
    core computed by `flash_attention_bf16` (tiles of `block` keys, bf16 running state, `rounding`)."""

    def __init__(self, embed_dim, num_heads, block=32, rounding="nearest_even", bias=True, recipe="fp32", ctx=None,
                 name="", layer_id=0):
        if rounding not in ROUNDINGS:
            raise ValueError(f"FlashAttention: rounding={rounding!r}; allowed: {', '.join(ROUNDINGS)}")
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise ValueError(f"FlashAttention: block={block!r} must be a positive integer")
        super().__init__(embed_dim, num_heads, causal=True, bias=bias, recipe=recipe, ctx=ctx, name=name,
                         layer_id=layer_id)
        self.block, self.rounding = block, rounding
        self.last_stats: dict = {}

    def forward(self, x):
        q, k, v = self._heads(x)
        call = self._call_index()
        ctx, lid = self.lowbit_ctx, self.lowbit_id
        training = call >= 0
        stats = {} if training else None
        o = flash_attention_bf16(q, k, v, self.block, self.rounding,
                                 lambda tile, tensor: ctx.seed_for(lid, 64 + 16 * tile + tensor, call), stats)
        if training:
            self.last_stats = stats
        return self._merge(o, x)

    def extra_repr(self):
        return super().extra_repr() + f", block={self.block}, rounding={self.rounding}"
