"""The optimizer registry: every optimizer lowbit trains with, by name, in ONE table (`OPTIMIZERS`).

An entry says which class implements the name, which `OptimSpec` fields it reads (every other field must
keep its default: OptimSpec checks that when it is made), how many state tensors it keeps per weight, and
how a spec becomes the class's hyper-parameters (`hp(spec, seed)`; the low-precision shell takes the spec
itself). `build_optimizer(spec, params, seed)` builds it; an unknown name is a ValueError listing the names.

  sgd, momentum, adamw   LowpOptimizer (lowp.py): low-precision states and write-back, Kahan, ECO
  madam                  Madam on float weights (madam.py; Bernstein et al. 2020)
  lns_madam              LNS-Madam, weights only as LNS codes (lns_madam.py; Zhao et al.): weight_format is
                         the LNS format (element, or a *_tensor / *_channel preset whose granularity wins),
                         weight_scaling channel -> per-row scales, rounding nearest_even or stochastic (of
                         the integer code step), rbits, state_format (of v), p_scale
  integer_madam          Madam on integer log levels (integer_madam.py): rounding, rbits, state_format, p_scale
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lowbit.numerics import LNSFormat, ScaledFormat, get_format

from .base import FunctionalOptimizer
from .integer_madam import IntegerMadam, IntegerMadamHP
from .lns_madam import LNSMadam, LNSMadamHP
from .lowp import LowpOptimizer
from .madam import Madam, MadamHP

__all__ = ["OptimizerInfo", "OPTIMIZERS", "list_optimizers", "build_optimizer"]


@dataclass(frozen=True)
class OptimizerInfo:
    cls: type                           # a FunctionalOptimizer subclass
    uses: tuple                         # the OptimSpec fields (besides name) this optimizer reads
    states: int                         # state tensors per weight (train_bits_per_weight)
    hp: Callable | None = None          # (spec, seed) -> cls's hyper-parameters; None: the spec itself

    def check(self, spec) -> None:
        """Build the hyper-parameters once (seed 0) so that their own checks run at load time."""
        if self.hp is not None:
            self.hp(spec, 0)


_LOWP = ("lr", "weight_decay", "weight_format", "weight_scaling", "state_format", "arith_format", "rounding",
         "kahan", "rbits")


def _code_rounding(spec) -> str:
    if spec.rounding not in ("nearest_even", "stochastic"):
        raise ValueError(f"optimizer: rounding={spec.rounding!r} for {spec.name!r} (rounding of the integer "
                         "code step); allowed: nearest_even, stochastic")
    return "stochastic" if spec.rounding == "stochastic" else "nearest"


def _p_scale(spec) -> dict:
    return {} if spec.p_scale is None else {"p_scale": spec.p_scale}


def _madam_hp(spec, seed):
    return MadamHP(lr=spec.lr, **_p_scale(spec))


def _lns_madam_hp(spec, seed):
    fmt = get_format(spec.weight_format or "lns8")
    gran = "channel" if spec.weight_scaling == "channel" else "tensor"
    if isinstance(fmt, ScaledFormat):    # lns8_tensor / lns8_channel: the element format and its granularity
        gran = fmt.granularity if fmt.granularity in ("tensor", "channel") else gran
        fmt = fmt.element
    if not isinstance(fmt, LNSFormat):
        raise ValueError(f"optimizer: weight_format={spec.weight_format!r} for 'lns_madam' must be an LNS format "
                         "(e.g. lns8, lns8_tensor)")
    return LNSMadamHP(format=fmt.name, lr=spec.lr, rounding=_code_rounding(spec), rbits=spec.rbits,
                      granularity=gran, state_format=spec.state_format, seed=seed, **_p_scale(spec))


def _integer_madam_hp(spec, seed):
    return IntegerMadamHP(lr=spec.lr, rounding=_code_rounding(spec), rbits=spec.rbits,
                          state_format=spec.state_format, seed=seed, **_p_scale(spec))


OPTIMIZERS: dict[str, OptimizerInfo] = {
    "sgd": OptimizerInfo(LowpOptimizer, _LOWP, 0),
    "momentum": OptimizerInfo(LowpOptimizer, _LOWP + ("momentum", "eco"), 1),
    "adamw": OptimizerInfo(LowpOptimizer, _LOWP + ("betas", "eps"), 2),
    "madam": OptimizerInfo(Madam, ("lr", "p_scale"), 1, _madam_hp),
    "lns_madam": OptimizerInfo(LNSMadam, ("lr", "weight_format", "weight_scaling", "rounding", "rbits",
                                          "state_format", "p_scale"), 1, _lns_madam_hp),
    "integer_madam": OptimizerInfo(IntegerMadam, ("lr", "rounding", "rbits", "state_format", "p_scale"), 1,
                                   _integer_madam_hp),
}


def list_optimizers() -> list[str]:
    return list(OPTIMIZERS)


def build_optimizer(spec, params, seed: int = 0) -> FunctionalOptimizer:
    """The optimizer named by `spec.name` over `params`; `seed` drives its stochastic rounding."""
    info = OPTIMIZERS.get(spec.name)
    if info is None:
        raise ValueError(f"optimizer: name={spec.name!r}; allowed: {', '.join(OPTIMIZERS)}")
    if info.hp is None:
        return info.cls(params, spec, seed=seed)
    return info.cls(params, info.hp(spec, seed))
