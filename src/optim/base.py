"""The one optimizer base class of lowbit (docs/design.md, "src"): a pure step function
`step(w, g, state, hp) -> (w, state)` over tensors, with hyperparameters as a frozen dataclass,
inside a thin `torch.optim.Optimizer` shell that owns iteration over parameters and state_dict I/O.

The interface the training loop uses, and nothing else:
- `set_lr(lr)`: every group's hyper-parameters with a new lr (schedules);
- `update_stats` and `lost_fraction()` / `unchanged_fraction()` / `relative_update_error()`: how much of the
  intended updates the stored weights received (docs/training.md); saved in `state_dict()`;
- `set_observer(fn)`: while set, every parameter update is reported as an `UpdateEvent` (what was updated,
  in which formats, by which rule). The optimizer knows nothing of the simulator: the training loop's
  observer turns events into simulator work items and prices them.

State tensors may be held in any lowbit format; the shell stores them as given (codes or values), so
`state_dict()` / `load_state_dict()` round-trip bit-exactly. `state_format_tag` lets a subclass refuse
to load the state of a different format with a clear ValueError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch

__all__ = ["FunctionalOptimizer", "UpdateEvent", "new_update_stats", "record_update"]


@dataclass(frozen=True)
class UpdateEvent:
    """One parameter's update in one step, as the optimizer performed it."""
    pid: int                 # parameter index (model.parameters() order)
    numel: int               # weights updated
    rule: str                # sgd | momentum | adamw | madam | lns_madam (the update's work per weight)
    weight_format: str       # storage of the weight it wrote
    state_format: str        # storage of its states
    update_format: str       # format its update arithmetic rounds to
    master: str              # "fp32" when an fp32 master copy is kept, else ""
    sr: bool = False         # stochastic rounding of the write-back
    kahan: bool = False      # Kahan-compensated write-back


def new_update_stats() -> dict:
    """Updates lost to rounding, in the convention of docs/training.md: with u the intended change of
    a weight and a its actual change, lost = 1 - sum(sign(u) a) / sum|u|; `unchanged` = the fraction of
    nonzero u that left the stored weight bit-identical; relative error = sum|a - u| / sum|u|;
    `skipped` = parameter steps skipped for non-finite gradients. A plain dict, saved in state_dict()."""
    return {"abs_u": 0.0, "applied": 0.0, "abs_err": 0.0, "nonzero": 0, "unchanged": 0, "skipped": 0}


def record_update(s: dict, u: torch.Tensor, a: torch.Tensor, same: torch.Tensor) -> None:
    """Add one update (intended u, applied a, `same` = stored state bit-identical) to the stats, in float64."""
    u, a = u.double(), a.double()
    nz = u != 0
    s["abs_u"] += float(u.abs().sum())
    s["applied"] += float((torch.sign(u) * a).sum())
    s["abs_err"] += float((a - u).abs().sum())
    s["nonzero"] += int(nz.sum())
    s["unchanged"] += int((nz & same).sum())


class FunctionalOptimizer(torch.optim.Optimizer):
    """Subclasses set `step_fn(p, grad, state: dict, hp, ctx) -> None` semantics by overriding `_step_param`,
    and provide `hp_class` (a frozen dataclass)."""

    hp_class: type = None

    def __init__(self, params, hp=None, **overrides):
        if hp is None:
            hp = self.hp_class(**overrides)
        elif overrides:
            hp = dataclasses.replace(hp, **overrides)
        if not isinstance(hp, self.hp_class):
            raise ValueError(f"{type(self).__name__}: hp must be a {self.hp_class.__name__}, got {type(hp).__name__}")
        self.hp = hp
        super().__init__(params, {"hp": hp})
        self.update_stats = new_update_stats()
        self._observer: Callable[[UpdateEvent], None] | None = None
        pid = 0
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["pid"] = pid
                pid += 1

    # ---- the training loop's interface ----

    def set_lr(self, lr: float) -> None:
        """Change every group's lr; hyperparameters stay frozen values."""
        for g in self.param_groups:
            g["hp"] = dataclasses.replace(g["hp"], lr=float(lr))
        self.hp = self.param_groups[0]["hp"]

    def set_observer(self, observer: Callable[[UpdateEvent], None] | None) -> None:
        """Report every parameter update to `observer(event)` until set back to None."""
        self._observer = observer

    def lost_fraction(self) -> float | None:
        s = self.update_stats
        return None if s["abs_u"] == 0 else 1.0 - s["applied"] / s["abs_u"]

    def unchanged_fraction(self) -> float | None:
        s = self.update_stats
        return None if s["nonzero"] == 0 else s["unchanged"] / s["nonzero"]

    def relative_update_error(self) -> float | None:
        s = self.update_stats
        return None if s["abs_u"] == 0 else s["abs_err"] / s["abs_u"]

    @property
    def skipped(self) -> int:
        return self.update_stats["skipped"]

    # ---- for subclasses ----

    def _observe(self, event_fn: Callable[[], UpdateEvent]) -> None:
        """Report an update when observed (`event_fn` builds the event only then)."""
        if self._observer is not None:
            self._observer(event_fn())

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
        sd["lowbit_update_stats"] = dict(self.update_stats)
        return sd

    def load_state_dict(self, state_dict):
        tag = state_dict.get("lowbit_format_tag")
        if tag is not None and tag != self.state_format_tag():
            raise ValueError(f"{type(self).__name__}: state_dict was saved with formats {tag!r}, "
                             f"this optimizer uses {self.state_format_tag()!r}")
        stats = state_dict.get("lowbit_update_stats")
        state_dict = {k: v for k, v in state_dict.items() if k not in ("lowbit_format_tag", "lowbit_update_stats")}
        super().load_state_dict(state_dict)
        if stats is not None:
            self.update_stats = {**new_update_stats(), **stats}
