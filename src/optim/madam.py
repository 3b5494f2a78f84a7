"""Madam: the multiplicative weight update of Bernstein et al., "Learning compositional functions via
multiplicative weight updates" (NeurIPS 2020; docs/references.md section 4), as a pure step function in the
`FunctionalOptimizer` shell:

    v  <- beta v + (1 - beta) g^2                     (beta = 0.999)
    g* <- g / sqrt(v / (1 - beta^t)),  NaN -> 0,  clamped to [-g_bound, g_bound]
    w  <- w * exp(-lr * g* * sign(w))
    |w| <- min(|w|, p_scale * RMS(w_0))               (RMS of the parameter at the first step)

`normalized_grad` is shared with LNS-Madam and the integer (log-level) Madam (lns_madam.py).

Non-finite gradients (`nonfinite=`): "skip" (default) leaves the parameter and its state untouched for
that step and counts it in `skipped`; "zero" treats non-finite entries as a zero gradient; "raise" raises
ValueError. The published rule's own 0/0 -> 0 case (g = 0 with v = 0) is kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import FunctionalOptimizer, UpdateEvent, new_update_stats, record_update

__all__ = ["MadamHP", "Madam", "normalized_grad", "madam_step", "madam_target", "NONFINITE", "new_update_stats",
           "record_update"]

NONFINITE = ("skip", "zero", "raise")


def check_common(owner: str, hp) -> None:
    """Validate the hyperparameters Madam, LNS-Madam and integer Madam share."""
    for key in ("lr", "p_scale", "g_bound"):
        v = getattr(hp, key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                              or v <= 0):
            raise ValueError(f"{owner}: {key}={v!r} must be a finite number > 0")
    if isinstance(hp.beta, bool) or not isinstance(hp.beta, (int, float)) or not 0 <= hp.beta < 1:
        raise ValueError(f"{owner}: beta={hp.beta!r} must be a number in [0, 1)")
    if hp.nonfinite not in NONFINITE:
        raise ValueError(f"{owner}: nonfinite={hp.nonfinite!r}; allowed: {', '.join(NONFINITE)}")


def screen_grad(owner: str, grad: torch.Tensor, policy: str, index: int) -> torch.Tensor | None:
    """The gradient to use under the non-finite policy, or None to skip this parameter's step."""
    finite = torch.isfinite(grad)
    if bool(finite.all()):
        return grad
    if policy == "raise":
        raise ValueError(f"{owner}: parameter #{index} has {int((~finite).sum())} non-finite gradient "
                         f"entries (nonfinite='raise'; use 'skip' or 'zero' to continue)")
    if policy == "skip":
        return None
    return torch.where(finite, grad, torch.zeros_like(grad))


def normalized_grad(g: torch.Tensor, v: torch.Tensor, t: int, beta: float, g_bound: float):
    """(g*, v_new): Madam's normalized, bounded gradient and the updated second moment."""
    v = beta * v + (1 - beta) * g * g
    gs = g / torch.sqrt(v / (1 - beta ** t))
    gs = torch.nan_to_num(gs, nan=0.0)       # 0/0 -> 0 (the published rule); +-inf is clamped below
    return gs.clamp(-g_bound, g_bound), v


@dataclass(frozen=True)
class MadamHP:
    lr: float = 0.01
    p_scale: float = 3.0
    g_bound: float = 10.0
    beta: float = 0.999
    nonfinite: str = "skip"

    def __post_init__(self):
        check_common("Madam", self)


def madam_target(w: torch.Tensor, gs: torch.Tensor, lr: float, wmax) -> torch.Tensor:
    """w * exp(-lr g* sign(w)) clamped to +-wmax (a float or a broadcastable tensor), in float64: the
    update every variant aims at."""
    w64 = w.double()
    wmax = torch.as_tensor(wmax, dtype=torch.float64)
    return torch.maximum(torch.minimum(w64 * torch.exp(-lr * gs.double() * torch.sign(w64)), wmax), -wmax)


def madam_step(w: torch.Tensor, g: torch.Tensor, state: dict, hp: MadamHP):
    """Pure: (new weight in w's dtype, new state {step, v, max}, g*) after one Madam step."""
    t = state.get("step", 0) + 1
    wmax = state["max"] if "max" in state else hp.p_scale * float(torch.sqrt((w.double() ** 2).mean()))
    v = state.get("v", torch.zeros_like(w))
    gs, v = normalized_grad(g, v, t, hp.beta, hp.g_bound)
    new = (w * torch.exp(-hp.lr * gs * torch.sign(w))).clamp(-wmax, wmax)
    return new, {"step": t, "v": v, "max": wmax}, gs


class MadamBase(FunctionalOptimizer):
    """Shared shell: non-finite screening and the update event of the Madam family."""
    sim_rule = "madam"

    def _grad(self, grad, state, hp):
        g = screen_grad(type(self).__name__, grad.detach(), hp.nonfinite, state["pid"])
        if g is None:
            self.update_stats["skipped"] += 1
        return g

    def _report(self, p, state, weight_format="fp32", state_format="fp32", sr=False):
        """Report this parameter's update (its work: the normalized gradient and the multiplicative step)."""
        self._observe(lambda: UpdateEvent(state["pid"], p.numel(), self.sim_rule, weight_format, state_format,
                                          "fp32", "", sr=sr))


class Madam(MadamBase):
    """Madam on float weights (the parameter's own dtype); see the module docstring."""
    hp_class = MadamHP

    def _step_param(self, p, grad, state, hp):
        g = self._grad(grad, state, hp)
        if g is None:
            return
        w = p.detach()
        new, st, gs = madam_step(w, g.to(w.dtype), state, hp)
        record_update(self.update_stats, madam_target(w, gs, hp.lr, st["max"]) - w.double(), new - w, new == w)
        state.update(st)
        p.copy_(new)
        self._report(p, state)
