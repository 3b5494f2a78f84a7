"""lowbit.nn: quantized layers for training under any lowbit format (issue 4).

Public API: `QLinear`, `QConv2d`, `QAttention` (quantized layers), `quantize_model(model, recipe, seed=0,
rank=0, skip_unsupported=False)` -> (model, report), `get_context(model)`, `counting(model)` (op counts of
one step as a `lowbit.sim.Workload`), `OpCounter`, `TensorQuantizer` / `make_quantizer(spec)`,
`qgemm` / `GemmSite` (the quantized GEMM with its backward), `derive_seed`, `NonFiniteError`.
"""
from .quantizer import NonFiniteError, QuantContext, TensorQuantizer, derive_seed, make_quantizer
from .functional import GemmSite, qgemm
from .layers import QAttention, QConv2d, QLinear, QuantizedLayer
from .convert import get_context, quantize_model
from .counting import OpCounter, counting

__all__ = ["QLinear", "QConv2d", "QAttention", "QuantizedLayer", "quantize_model", "get_context", "counting",
           "OpCounter", "TensorQuantizer", "make_quantizer", "QuantContext", "qgemm", "GemmSite", "derive_seed",
           "NonFiniteError"]
