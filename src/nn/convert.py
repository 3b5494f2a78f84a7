"""`quantize_model(model, recipe)`: swap the GEMM layers of a user's nn.Module for quantized ones, in place.

nn.Linear -> QLinear, nn.Conv2d -> QConv2d (parameters shared, not copied), nn.MultiheadAttention ->
refused with the reason; layers already quantized get the new recipe. Layers whose names match one of
the recipe's `skip_layers` patterns (fnmatch) are left in fp32. Any other layer type that performs a
GEMM with weights (Conv1d/3d, transposed convs, Bilinear, RNNs) raises a ValueError naming the layer
and why, unless `skip_unsupported=True`, which leaves it in fp32 and lists it in `report["skipped"]`.
Elementwise layers (norms, activations, pooling, embeddings as lookups) stay in fp32.
"""
from __future__ import annotations

import fnmatch

import torch.nn as nn

from .layers import QConv2d, QLinear, QuantizedLayer, check_conv
from .quantizer import QuantContext

__all__ = ["quantize_model", "get_context"]

_UNSUPPORTED = {
    nn.Conv1d: "Conv1d is not emulated (only 2-D convolutions lower to QConv2d's im2col GEMM)",
    nn.Conv3d: "Conv3d is not emulated (only 2-D convolutions lower to QConv2d's im2col GEMM)",
    nn.ConvTranspose1d: "transposed convolutions are not emulated",
    nn.ConvTranspose2d: "transposed convolutions are not emulated",
    nn.ConvTranspose3d: "transposed convolutions are not emulated",
    nn.Bilinear: "Bilinear is a 3-operand product, not a GEMM the recipes describe",
    nn.RNNBase: "recurrent layers call fused kernels whose GEMMs cannot be intercepted; build the cell "
                "from nn.Linear layers instead",
    nn.MultiheadAttention: "nn.MultiheadAttention calls a fused kernel whose matmuls cannot be intercepted; "
                           "use lowbit.nn.QAttention (same math, quantized Q K^T and P V)",
}


def get_context(model: nn.Module) -> QuantContext:
    """The QuantContext shared by the quantized layers of `model` (DDP wrappers are looked through)."""
    m = getattr(model, "module", model)
    ctx = getattr(m, "lowbit_ctx", None)
    if ctx is None:
        for sub in m.modules():
            if isinstance(sub, QuantizedLayer):
                return sub.lowbit_ctx
        raise ValueError("model has no quantized layers; call lowbit.nn.quantize_model(model, recipe) first")
    return ctx


def _swap(parent: nn.Module, attr: str, new: nn.Module):
    setattr(parent, attr, new)


def _make_linear(m: nn.Linear, recipe, ctx, name, lid):
    q = QLinear.__new__(QLinear)
    nn.Module.__init__(q)
    q.in_features, q.out_features = m.in_features, m.out_features
    q.weight, q.bias = m.weight, m.bias
    q.lowbit_setup(recipe, ctx, name, lid)
    return q


def _make_conv(m: nn.Conv2d, recipe, ctx, name, lid):
    check_conv(m, name)
    q = QConv2d.__new__(QConv2d)
    q.__dict__.update({k: v for k, v in m.__dict__.items() if k not in ("_parameters", "_buffers", "_modules")})
    q._parameters, q._buffers, q._modules = dict(m._parameters), dict(m._buffers), dict(m._modules)
    q.lowbit_setup(recipe, ctx, name, lid)
    return q


def quantize_model(model: nn.Module, recipe, seed: int = 0, rank: int = 0, skip_unsupported: bool = False,
                   check_finite: bool = True):
    """Quantize `model` in place with `recipe` (a name or a Recipe); returns (model, report).

    `seed` is the run seed every stochastic-rounding stream derives from; `rank` separates the streams of
    data-parallel ranks (the optimizer's streams do not depend on it, so replicas stay identical)."""
    from lowbit.recipes import get_recipe
    recipe = get_recipe(recipe)
    ctx = QuantContext(recipe, seed, rank, check_finite)
    object.__setattr__(model, "lowbit_ctx", ctx)
    report = {"quantized": [], "skipped": [], "kept_fp32": []}
    named = list(model.named_modules())
    parents = {name: mod for name, mod in named}
    for lid, (name, m) in enumerate(named):
        if not name:
            if isinstance(m, QuantizedLayer):
                m.lowbit_setup(recipe, ctx, type(m).__name__, 0)
                report["quantized"].append(type(m).__name__)
            continue
        if any(fnmatch.fnmatch(name, p) for p in recipe.skip_layers):
            report["kept_fp32"].append(name)
            continue
        pname, _, attr = name.rpartition(".")
        parent = parents[pname]
        if isinstance(m, QuantizedLayer):
            m.lowbit_setup(recipe, ctx, name, lid * 4)
            report["quantized"].append(name)
        elif type(m) is nn.Linear:
            _swap(parent, attr, _make_linear(m, recipe, ctx, name, lid * 4))
            report["quantized"].append(name)
        elif type(m) is nn.Conv2d:
            _swap(parent, attr, _make_conv(m, recipe, ctx, name, lid * 4))
            report["quantized"].append(name)
        else:
            reason = next((why for cls, why in _UNSUPPORTED.items() if isinstance(m, cls)), None)
            if reason is None and isinstance(m, (nn.Linear, nn.Conv2d)):
                reason = f"{type(m).__name__} subclasses {type(m).__mro__[1].__name__} with its own forward"
            if reason is not None:
                if not skip_unsupported:
                    raise ValueError(f"recipe {recipe.name!r} cannot handle layer {name!r} "
                                     f"({type(m).__name__}): {reason}; pass skip_unsupported=True to keep it "
                                     "in fp32, or list it in the recipe's skip_layers")
                report["skipped"].append({"layer": name, "type": type(m).__name__, "reason": reason})
    return model, report
