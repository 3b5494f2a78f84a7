"""Post-training quantization of a trained model's GEMM weights, for the ternary study (REFERENCES
section 7): PTQTP trit-planes (W ~ a1 T1 [+ a2 T2], one scale per output row, fitted progressively on the
residual by `numerics.fit_trit_planes`), binary weights (XNOR-Net, Rastegari et al. 2016: W ~ a sign(W),
a = mean |W| per row, the least-squares scale of a sign pattern), or any registry format applied per
row along the reduction dimension. The model is copied; its forward quantization is left as is.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

__all__ = ["ptq_weight", "evaluate_ptq"]


def ptq_weight(w: torch.Tensor, kind: str) -> torch.Tensor:
    """The post-training quantized copy of a weight (rows = output channels)."""
    from lowbit.numerics import fit_trit_planes, get_format
    w2 = w.detach().reshape(w.shape[0], -1).double()
    if kind in ("ternary1", "ternary2"):
        out = torch.from_numpy(fit_trit_planes(w2.numpy(), planes=int(kind[-1]), axis=-1).dequantize())
    elif kind == "binary":
        a = w2.abs().mean(dim=1, keepdim=True)
        out = a * torch.where(w2 >= 0, 1.0, -1.0).double()
    else:
        out = get_format(kind).quantize(w2, axis=-1)
    return out.to(w.dtype).reshape(w.shape)


def evaluate_ptq(model, kinds, data) -> dict:
    """Test accuracy of `model` with every GEMM weight post-training quantized by each of `kinds`."""
    from lowbit.nn import QuantizedLayer
    out = {}
    for kind in kinds:
        m = copy.deepcopy(model)
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, QuantizedLayer) and isinstance(getattr(mod, "weight", None), torch.Tensor):
                    mod.weight.copy_(ptq_weight(mod.weight, kind))
            m.eval()
            logits = m(data.x_test)
        out[kind] = {"accuracy": float((logits.argmax(1) == data.y_test).float().mean()),
                     "loss": float(F.cross_entropy(logits, data.y_test))}
    return out
