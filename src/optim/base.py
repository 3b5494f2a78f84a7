"""The optimizer pattern of lowbit (docs/design.md, "src"): a pure step function
`step(w, g, state, hp) -> (w, state)` over tensors, with hyperparameters as a frozen dataclass,
inside a thin `torch.optim.Optimizer` shell that owns iteration over parameters and state_dict I/O.

State tensors may be held in any lowbit format; the shell stores them as given (codes or values), so
`state_dict()` / `load_state_dict()` round-trip bit-exactly. `state_format_tag` lets a subclass refuse
to load the state of a different format with a clear ValueError.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

__all__ = ["FunctionalOptimizer"]


class FunctionalOptimizer(torch.optim.Optimizer):
    """Subclasses set `step_fn(p, grad, state: dict, hp, ctx) -> None` semantics by overriding `_step_param`,
    and provide `hp_class` (a frozen dataclass). `ctx` carries per-step values (step count, generator)."""

    hp_class: type = None

    def __init__(self, params, hp=None, **overrides):
        if hp is None:
            hp = self.hp_class(**overrides)
        elif overrides:
            hp = dataclasses.replace(hp, **overrides)
        if not dataclasses.is_dataclass(hp):
            raise ValueError(f"{type(self).__name__}: hp must be a {self.hp_class.__name__} dataclass")
        self.hp = hp
        super().__init__(params, {"hp": hp})

    def state_format_tag(self) -> str:
        """A string naming the formats the state is held in; load_state_dict refuses a mismatch."""
        return type(self).__name__

    def _step_param(self, p: torch.Tensor, grad: torch.Tensor, state: dict, hp: Any) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hp = group["hp"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._step_param(p, p.grad, self.state[p], hp)
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["lowbit_format_tag"] = self.state_format_tag()
        return sd

    def load_state_dict(self, state_dict):
        tag = state_dict.get("lowbit_format_tag")
        if tag is not None and tag != self.state_format_tag():
            raise ValueError(f"{type(self).__name__}: state_dict was saved with formats {tag!r}, "
                             f"this optimizer uses {self.state_format_tag()!r}")
        state_dict = {k: v for k, v in state_dict.items() if k != "lowbit_format_tag"}
        super().load_state_dict(state_dict)
