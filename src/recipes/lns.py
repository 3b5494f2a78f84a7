"""The LNS recipes (LNS-Madam, Zhao et al., "LNS-Madam: Low-Precision Training in Logarithmic Number
System using Multiplicative Weight Update"; Madam, Bernstein et al., "Learning compositional functions via
multiplicative weight updates"; docs/lns.md).

All GEMM operands in 8-bit LNS with a power-of-two per-tensor scale (`lns8_tensor`); forward operands
round to nearest in log, output gradients stochastically in log; the LNS-Madam PE datapath:
  lns_madam      weights stored only as lns8 codes by LNSMadam (lr 2^-5 in log2 units per unit g*,
                 i.e. 0.25 code, stochastic code rounding), no master copy
  lns_madam_p10  the same with Madam's clamp at 10 x RMS(w0) (published: 3) and lr 2^-4
  lns_madam_nearest  the same with nearest code rounding (the small updates are lost)
  lns8_sgd       momentum SGD whose weights are re-quantized to lns8_tensor at every write-back
  lns8_adam      AdamW, the same re-quantized write-back
  fp32_madam     Madam on fp32 weights, nothing quantized (the float reference of the update rule)
The optimizers (madam, lns_madam, integer_madam) and the OptimSpec fields they read are in
lowbit.optim.registry.
"""
from __future__ import annotations

from .spec import OptimSpec, QuantSpec, Recipe

__all__ = ["lns_recipes"]


def lns_recipes() -> list[Recipe]:
    w, a = QuantSpec("lns8_tensor"), QuantSpec("lns8_tensor")
    go = QuantSpec("lns8_tensor", rounding="stochastic")
    gw = QuantSpec("lns8_tensor")
    common = dict(weight=w, input=a, grad_output=go, grad_weight=gw, datapath="lns_madam_pe", tags=("lns",))
    return [
        Recipe("lns_madam", "LNS-Madam: lns8 weights/activations/gradients (pow2 per-tensor scale), weights kept "
               "only as lns8 codes, integer code update with stochastic rounding, no master copy",
               optimizer=OptimSpec("lns_madam", lr=2 ** -5, weight_format="lns8", rounding="stochastic"), **common),
        Recipe("lns_madam_p10", "LNS-Madam with Madam's weight clamp at 10 x RMS(w0) instead of the published 3 "
               "and lr 2^-4 (the clamp binds on a third of the weights at 3; see docs/lns.md)",
               optimizer=OptimSpec("lns_madam", lr=2 ** -4, weight_format="lns8", rounding="stochastic",
                                   p_scale=10.0), **common),
        Recipe("lns_madam_nearest", "LNS-Madam with nearest rounding of the code update (small updates lost)",
               optimizer=OptimSpec("lns_madam", lr=2 ** -5, weight_format="lns8"), **common),
        Recipe("lns8_sgd", "lns8 GEMMs; momentum SGD whose weights are re-quantized to lns8 (pow2 per-tensor "
               "scale) at every step, no master copy",
               optimizer=OptimSpec("momentum", lr=0.1, weight_format="lns8_tensor"), **common),
        Recipe("lns8_adam", "lns8 GEMMs; AdamW with weights re-quantized to lns8 at every step, no master copy",
               optimizer=OptimSpec("adamw", lr=0.003, weight_format="lns8_tensor"), **common),
        Recipe("fp32_madam", "fp32 baseline trained with Madam (nothing quantized)",
               optimizer=OptimSpec("madam", lr=0.01), datapath="sa32_fp32", tags=("baseline", "lns")),
    ]
