"""`OptimSpec`: the one hyper-parameter record of every lowbit optimizer (a recipe's `optimizer:` entry).

The low-precision SGD / momentum / AdamW shell (lowp.py) takes it as its hyper-parameters as is; the
Madam family translates it into its own step parameters (registry.py). The optimizer named by `name`
must be registered (registry.OPTIMIZERS), and a field that optimizer does not read must keep its default:
a spec is checked in full when it is made, so a misspelled name or an invalid combination (ECO with
AdamW, Kahan on LNS-Madam, ...) is one ValueError line at load time, not a failure inside a worker.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lowbit.checks import check_choice, check_format, check_number, check_rounding

__all__ = ["OptimSpec", "WEIGHT_SCALINGS"]

WEIGHT_SCALINGS = ("none", "tensor", "channel")


@dataclass(frozen=True)
class OptimSpec:
    """Optimizer and the precision of its write-back (src/optim/lowp.py)."""
    name: str = "momentum"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_format: str | None = None    # None: fp32 master weights; else weights live only in this format
    weight_scaling: str = "none"        # scaling of the stored weights (per output channel for 'channel')
    state_format: str = "fp32"          # momentum / moments storage
    arith_format: str | None = None     # every optimizer op rounded to this format (pure 16-bit training)
    rounding: str = "nearest_even"      # rounding of the weight write-back
    kahan: bool = False                 # Kahan-compensated write-back (compensation kept in weight_format)
    eco: bool = False                   # ECO: inject the write-back error into the momentum
    rbits: int = 16
    p_scale: float | None = None        # Madam family: |w| clamp at p_scale * RMS(w0) (None: the published 3)

    def __post_init__(self):
        own = "optimizer"
        from .registry import OPTIMIZERS   # the registry's entries are built from this class
        if not isinstance(self.name, str) or self.name not in OPTIMIZERS:
            raise ValueError(f"{own}: name={self.name!r}; allowed: {', '.join(OPTIMIZERS)}")
        if self.p_scale is not None:
            check_number(own, "p_scale", self.p_scale, 0, lo_open=True)
        check_number(own, "lr", self.lr, 0, lo_open=True)
        check_number(own, "momentum", self.momentum, 0, 1)
        check_number(own, "weight_decay", self.weight_decay, 0)
        check_number(own, "eps", self.eps, 0, lo_open=True)
        betas = tuple(self.betas) if isinstance(self.betas, (list, tuple)) else self.betas
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(f"{own}: betas={self.betas!r} must be two numbers in [0, 1)")
        for b in betas:
            check_number(own, "betas", b, 0, 0.999999)
        object.__setattr__(self, "betas", betas)
        for key in ("weight_format", "arith_format"):
            if getattr(self, key) is not None:
                check_format(own, key, getattr(self, key))
        check_format(own, "state_format", self.state_format)
        check_choice(own, "weight_scaling", self.weight_scaling, WEIGHT_SCALINGS)
        check_rounding(own, "rounding", self.rounding)
        for key in ("kahan", "eco"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{own}: {key}={getattr(self, key)!r} must be true or false")
        check_number(own, "rbits", self.rbits, 1, 23, integer=True)
        if self.kahan and (self.weight_format is None or self.weight_scaling != "none"):
            raise ValueError(f"{own}: kahan=true needs an unscaled weight_format (the format the weight and its "
                             "compensation live in, e.g. bf16)")
        if self.eco and (self.name != "momentum" or self.weight_format is None or self.momentum == 0):
            raise ValueError(f"{own}: eco=true needs name=momentum (got {self.name!r}), a momentum > 0 and a "
                             "weight_format (weights stored without a master copy)")
        info = OPTIMIZERS[self.name]
        unused = [f.name for f in dataclasses.fields(self) if f.name != "name" and f.name not in info.uses
                  and getattr(self, f.name) != f.default]
        if unused:
            k = unused[0]
            raise ValueError(f"{own}: {k}={getattr(self, k)!r} is not a hyper-parameter of {self.name!r} "
                             f"(it takes: {', '.join(info.uses)})")
        info.check(self)

    @property
    def n_states(self) -> int:
        """State tensors kept per weight (momentum, moments, Madam's second moment)."""
        from .registry import OPTIMIZERS
        return OPTIMIZERS[self.name].states
