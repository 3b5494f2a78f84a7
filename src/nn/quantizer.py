"""Tensor quantizers built from a `QuantSpec`, and the per-run quantization context (seeds, op counts).

A quantizer applies one lowbit registry format to a torch tensor along a given axis (the reduction
dimension of the GEMM the tensor feeds; REFERENCES section 3). Element formats with `scaling` get an
amax scale through `numerics.ScaledFormat` (rule AMAX, fp32 scale: scale = amax / max_elem, the
per-tensor fp8 "current scaling" of REFERENCES section 3); formats that carry their own scales (MX,
NVFP4, ternary) are used as they are. All rounding goes through `Format.quantize`: no rounding here.

Options of the FP4 paper (Wang et al., REFERENCES section 5):
- OCC: clamp |x| at a quantile, quantize the clamped tensor, add back the sparse residual
  (x - clamped) rounded to a higher-precision `residual_format`.
- DGE: `dge_factor` = f'(x) = min(|2 t - 1|^(1/k - 1) / k, clip), t = the position of x inside its
  quantization interval [lo, hi] (lo, hi from rounding down / up in the same format and scale).

Seeds for stochastic rounding derive from one run seed and (rank, layer, tensor, step) through a
keyed hash, so they differ per tensor and per step and are reproducible (REFERENCES section 2).
"""
from __future__ import annotations

import hashlib
import struct
from functools import lru_cache

import torch

from lowbit.numerics import ScaledFormat, ScaleRule, get_format

__all__ = ["TensorQuantizer", "QuantContext", "NonFiniteError", "derive_seed", "make_quantizer"]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (blake2b: stable across processes and Python versions)."""
    h = hashlib.blake2b(struct.pack(f"<{len(parts)}q", *[int(p) & ((1 << 63) - 1) for p in parts]),
                        digest_size=8)
    return int.from_bytes(h.digest(), "little") >> 1


class NonFiniteError(FloatingPointError):
    """NaN/Inf in training; the message names the step, the layer and the tensor."""

    def __init__(self, step, layer: str, tensor: str):
        self.step, self.layer, self.tensor = step, layer, tensor
        super().__init__(f"non-finite values (NaN/Inf) at step {step}, layer {layer!r}, tensor {tensor!r}")


class TensorQuantizer:
    """Quantize tensors by one spec. `axis_dependent` tells whether the result depends on the axis
    (block/channel scaling), i.e. whether a transposed GEMM must re-quantize from the original."""

    def __init__(self, spec):
        self.spec = spec
        fmt = get_format(spec.format)
        if spec.scaling != "none":
            fmt = ScaledFormat(fmt, spec.scaling, spec.block, None, ScaleRule.AMAX,
                               name=f"{spec.format}_{spec.scaling}")
        self.fmt = fmt
        self.axis_dependent = fmt.axis_dependent
        self.identity = spec.identity
        self.op_format = spec.format    # registry name, for op counting
        self._residual = get_format(spec.residual_format) if spec.clamp_quantile is not None else None

    def apply(self, x, axis: int = -1, seed: int = 0, rounding: str | None = None):
        """Quantize x (no OCC) with the spec's rounding or `rounding`; seed feeds stochastic rounding."""
        kw = {"rounding": rounding or self.spec.rounding}
        if kw["rounding"] == "stochastic":
            kw.update(generator=seed, rbits=self.spec.rbits)
        out = self.fmt.quantize(x, axis=axis, **kw)
        return out if out.dtype == x.dtype else out.to(x.dtype)

    def __call__(self, x: torch.Tensor, axis: int = -1, seed: int = 0, stats: dict | None = None) -> torch.Tensor:
        if self.identity or x.numel() == 0:
            return x
        x = x.detach()
        if self._residual is None:
            return self.apply(x, axis, seed)
        # OCC: clamp the outliers, quantize the rest, add the sparse residual back in higher precision.
        a = x.abs().reshape(-1).float()
        kth = max(1, min(a.numel(), int(round(self.spec.clamp_quantile * a.numel()))))
        c = torch.kthvalue(a, kth).values.to(x.dtype)
        xc = torch.maximum(torch.minimum(x, c), -c)
        res = x - xc
        if stats is not None:
            stats["occ_nnz"] = int((res != 0).sum())
        return self.apply(xc, axis, seed) + self._residual.quantize(res).to(x.dtype)

    def dge_factor(self, w: torch.Tensor, axis: int, k: float, clip: float) -> torch.Tensor:
        """d q_smooth / d w of the FP4 paper's DGE, elementwise (1 where w is on the grid or saturated)."""
        w = w.detach()
        lo, hi = self.apply(w, axis, 0, "down"), self.apply(w, axis, 0, "up")
        d = hi - lo
        t = torch.where(d > 0, (w - lo) / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(d))
        u = (2 * t - 1).abs()
        f = torch.where(u > 0, u.pow(1.0 / k - 1.0) / k, torch.full_like(u, clip)).clamp(max=clip)
        return torch.where(d > 0, f, torch.ones_like(f))


@lru_cache(maxsize=None)
def make_quantizer(spec) -> TensorQuantizer:
    return TensorQuantizer(spec)


class QuantContext:
    """Per-model state shared by its quantized layers: run seed, rank, the recipe, op counting and the
    NaN/Inf guard. `step` is informational (set by the training loop for messages)."""

    def __init__(self, recipe, seed: int = 0, rank: int = 0, check_finite: bool = True):
        self.recipe, self.seed, self.rank = recipe, int(seed), int(rank)
        self.check_finite = check_finite
        self.step = None
        self.counter = None           # an OpCounter while counting, else None

    def seed_for(self, layer_id: int, tag: int, call: int) -> int:
        return derive_seed(self.seed, self.rank, layer_id, tag, call)

    def guard(self, t: torch.Tensor, layer: str, tensor: str):
        if self.check_finite and not bool(torch.isfinite(t).all()):
            raise NonFiniteError(self.step, layer, tensor)
