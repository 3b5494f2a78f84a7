"""The optimizer registry: `build_optimizer(spec, params, seed)` turns a recipe's `OptimSpec` into a
torch optimizer. Built in: `sgd`, `momentum`, `adamw` (LowpOptimizer: low-precision states and write-back).
Other areas register theirs (e.g. Madam / LNS-Madam from the LNS helper) with
`register_optimizer(name, factory)`, factory(params, spec: OptimSpec, seed: int) -> torch.optim.Optimizer.
A name not registered but exported by `lowbit.optim` as a class of the same name (case and underscores
ignored, e.g. `lns_madam` -> `LNSMadam`) is built as `cls(params, lr=spec.lr)`.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["register_optimizer", "list_optimizers", "build_optimizer"]

_OPTIMIZERS: dict[str, Callable] = {}


def register_optimizer(name: str, factory: Callable, replace: bool = False):
    if name in _OPTIMIZERS and not replace and _OPTIMIZERS[name] is not factory:
        raise ValueError(f"optimizer name {name!r} is already registered")
    _OPTIMIZERS[name] = factory
    return factory


def _lowp(params, spec, seed, momentum, adam):
    from .lowp import LowpOptimizer
    return LowpOptimizer(params, lr=spec.lr, momentum=momentum, weight_decay=spec.weight_decay, adam=adam,
                         betas=tuple(spec.betas), eps=spec.eps, weight_format=spec.weight_format,
                         weight_scaling=spec.weight_scaling, state_format=spec.state_format,
                         arith_format=spec.arith_format, rounding=spec.rounding, kahan=spec.kahan, eco=spec.eco,
                         rbits=spec.rbits, seed=seed)


register_optimizer("sgd", lambda params, spec, seed: _lowp(params, spec, seed, 0.0, False))
register_optimizer("momentum", lambda params, spec, seed: _lowp(params, spec, seed, spec.momentum, False))
register_optimizer("adamw", lambda params, spec, seed: _lowp(params, spec, seed, 0.0, True))


def _exported_class(name: str):
    import lowbit.optim as lo
    key = name.replace("_", "").lower()
    for attr in getattr(lo, "__all__", dir(lo)):
        obj = getattr(lo, attr, None)
        if isinstance(obj, type) and attr.replace("_", "").lower() == key:
            return obj
    return None


def list_optimizers() -> list[str]:
    import lowbit.optim  # noqa: F401  (plugins register on import)
    return list(_OPTIMIZERS)


def build_optimizer(spec, params, seed: int = 0):
    """The optimizer named by `spec.name` over `params`; `seed` drives its stochastic rounding."""
    import lowbit.optim  # noqa: F401
    factory = _OPTIMIZERS.get(spec.name)
    if factory is None:
        cls = _exported_class(spec.name)
        if cls is None:
            raise ValueError(f"unknown optimizer {spec.name!r}; known: {', '.join(_OPTIMIZERS)}")
        return cls(params, lr=spec.lr)
    return factory(params, spec, seed)
