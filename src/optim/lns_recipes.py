"""LNS recipes and the Madam-family optimizer factories, registered into lowbit.recipes / the optimizer
registry when `lowbit.optim` is imported (LNS-Madam, Zhao et al., "LNS-Madam: Low-Precision Training in
Logarithmic Number System using Multiplicative Weight Update"; Madam, Bernstein et al., "Learning
compositional functions via multiplicative weight updates").

Recipes (all GEMM operands in 8-bit LNS with a power-of-two per-tensor scale, `lns8_tensor`; forward
operands round to nearest in log, output gradients stochastically in log; the LNS-Madam PE datapath):
  lns_madam      weights stored only as lns8 codes by LNSMadam (lr 2^-5 in log2 units per unit g*,
                 i.e. 0.25 code, stochastic code rounding), no master copy
  lns_madam_p10  the same with Madam's clamp at 10 x RMS(w0) (published: 3) and lr 2^-4
  lns_madam_nearest  the same with nearest code rounding (the small updates are lost)
  lns8_sgd       momentum SGD whose weights are re-quantized to lns8_tensor at every write-back
  lns8_adam      AdamW, the same re-quantized write-back
  fp32_madam     Madam on fp32 weights, nothing quantized (the float reference of the update rule)
Optimizer names: madam, lns_madam, integer_madam (OptimSpec fields: lr; weight_format = the LNS format
(element or *_tensor / *_channel preset); weight_scaling channel -> per-row scales; rounding nearest or
stochastic; rbits; state_format for v).
"""
from __future__ import annotations

from lowbit.numerics import get_format

from .integer_madam import IntegerMadam
from .lns_madam import LNSMadam
from .madam import Madam
from .registry import register_optimizer

__all__ = ["lns_recipes", "register_lns", "FACTORIES"]


def _code_rounding(spec) -> str:
    return "stochastic" if spec.rounding == "stochastic" else "nearest"


def _hp(spec, hp: dict) -> dict:
    """Hyperparameters the spec carries beyond lr (p_scale), under any given explicitly."""
    return ({"p_scale": spec.p_scale} if getattr(spec, "p_scale", None) is not None else {}) | hp


def _madam(params, spec, seed, **hp):
    return Madam(params, lr=spec.lr, **_hp(spec, hp))


def _lns_madam(params, spec, seed, **hp):
    """LNSMadam from an OptimSpec; `hp` adds LNSMadamHP fields the spec has no key for (p_scale, ...)."""
    fmt = get_format(spec.weight_format or "lns8")
    gran = "channel" if spec.weight_scaling == "channel" else "tensor"
    if fmt.is_scaled:                    # lns8_tensor / lns8_channel: the element format and its granularity
        gran = fmt.granularity if fmt.granularity in ("tensor", "channel") else gran
        fmt = fmt.element
    return LNSMadam(params, format=fmt.name, lr=spec.lr, rounding=_code_rounding(spec), rbits=spec.rbits,
                    granularity=gran, state_format=spec.state_format, seed=seed, **_hp(spec, hp))


def _integer_madam(params, spec, seed, **hp):
    return IntegerMadam(params, lr=spec.lr, rounding=_code_rounding(spec), rbits=spec.rbits,
                        state_format=spec.state_format, seed=seed, **_hp(spec, hp))


FACTORIES = {"madam": _madam, "lns_madam": _lns_madam, "integer_madam": _integer_madam}


def lns_recipes():
    from lowbit.recipes import OptimSpec, QuantSpec, Recipe
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


def register_lns():
    for name, factory in FACTORIES.items():
        register_optimizer(name, factory, replace=True)
    from lowbit.recipes import register_recipe
    for r in lns_recipes():
        register_recipe(r, replace=True)


register_lns()
