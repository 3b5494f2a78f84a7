"""Integer (log-level) Madam: Madam restricted to a fixed number of log-spaced magnitude levels, the
bridge from LNS-Madam to synaptic devices with a few discrete conductance states (Zhao et al.,
"LNS-Madam: Low-Precision Training in Logarithmic Number System using Multiplicative Weight Update";
Bernstein et al., "Learning compositional functions via multiplicative weight updates").

A weight is `sign * w_max * b^(k - (L - 1))` with an integer level k in [0, L-1], b =
dynamic_range^(1/(L-1)) (so the levels span w_max / dynamic_range .. w_max) and w_max = p_scale * RMS(w_0)
per tensor (Madam's own bound). The update moves the level by round(-lr * g* * sign(w)) (lr in levels
per unit normalized gradient; nearest or stochastic), clamped to [0, L-1]: one integer add per weight,
i.e. a number of device pulses. Unlike LNSMadam the base b is any real > 1, not 2^(1/gamma), so the
levels are not an LNSFormat; with b = 2^(1/gamma) and L = 2^(bits-1) - 1 this is LNSMadam. Weights that
start at exactly 0 stay 0 (sign 0). `pulses` counts |level change| summed over all steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .lns_madam import check_code_hp, code_steps, step_seed
from .madam import MadamBase, record_update, madam_target, normalized_grad

__all__ = ["IntegerMadamHP", "IntegerMadam"]


@dataclass(frozen=True)
class IntegerMadamHP:
    levels: int = 16
    dynamic_range: float = 256.0   # w_max / w_min
    lr: float = 1.0                # levels per unit normalized gradient
    p_scale: float = 3.0
    g_bound: float = 10.0
    beta: float = 0.999
    rounding: str = "stochastic"
    rbits: int = 16
    state_format: str = "fp32"
    nonfinite: str = "skip"
    seed: int = 0

    def __post_init__(self):
        check_code_hp("IntegerMadam", self)
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or not 2 <= self.levels <= 1 << 16:
            raise ValueError(f"IntegerMadam: levels={self.levels!r} must be an integer in 2..65536")
        dr = self.dynamic_range
        if isinstance(dr, bool) or not isinstance(dr, (int, float)) or not math.isfinite(dr) or dr <= 1:
            raise ValueError(f"IntegerMadam: dynamic_range={dr!r} must be a finite number > 1 (w_max / w_min)")

    @property
    def base(self) -> float:
        return self.dynamic_range ** (1.0 / (self.levels - 1))


class IntegerMadam(MadamBase):
    """See the module docstring. State per parameter: level (int64), sign (int64 in {-1, 0, 1}),
    w_max (float), v, step."""
    hp_class = IntegerMadamHP
    sim_rule = "lns_madam"   # the same work: normalized gradient, integer round, one integer add

    def __init__(self, params, hp=None, **overrides):
        super().__init__(params, hp, **overrides)
        self.pulses = 0
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    self._init_state(p, self.state[p], group["hp"])

    def _init_state(self, p, state, hp):
        w0 = p.detach().double()
        wmax = hp.p_scale * math.sqrt(float((w0 ** 2).mean())) if w0.numel() else 1.0
        wmax = wmax if wmax > 0 else 1.0
        # nearest level in log (float64: the levels are not a bit-exact format)
        lv = torch.round(torch.log(w0.abs().clamp(min=1e-300) / wmax) / math.log(hp.base)) + (hp.levels - 1)
        state.update(level=lv.clamp(0, hp.levels - 1).long(), sign=torch.sign(w0).long(), w_max=wmax, step=0,
                     v=torch.zeros_like(p, dtype=torch.float32))
        p.copy_(self.weights(p))

    def weights(self, p) -> torch.Tensor:
        st, hp = self.state[p], self.hp
        mag = st["w_max"] * torch.pow(torch.tensor(hp.base, dtype=torch.float64),
                                      (st["level"] - (hp.levels - 1)).double())
        return (st["sign"].double() * mag).to(p.dtype)

    def state_format_tag(self) -> str:
        h = self.hp
        return f"IntegerMadam[levels={h.levels},range={h.dynamic_range!r};v={h.state_format}]"

    def _step_param(self, p, grad, state, hp):
        g = self._grad(grad, state, hp)
        if g is None:
            return
        t = state["step"] + 1
        gs, v = normalized_grad(g.float(), state["v"], t, hp.beta, hp.g_bound)
        k, _ = code_steps(gs, state["sign"], hp.lr, hp.rounding, hp.rbits, step_seed(hp.seed, state["pid"], t))
        new = torch.where(state["sign"] != 0, (state["level"] + k).clamp(0, hp.levels - 1), state["level"])
        self.pulses += int((new - state["level"]).abs().sum())
        w_old = p.detach().clone()
        state.update(level=new, v=v, step=t)
        p.copy_(self.weights(p))
        target = madam_target(w_old, gs, hp.lr * math.log(hp.base), state["w_max"])
        record_update(self.update_stats, target - w_old.double(), p.double() - w_old.double(), p == w_old)
        self._report(p, state, state_format=hp.state_format, sr=hp.rounding == "stochastic")

    def load_state_dict(self, state_dict):
        if "lowbit_format_tag" not in state_dict:
            raise ValueError(f"IntegerMadam: the state_dict has no lowbit_format_tag; expected "
                             f"{self.state_format_tag()!r}")
        super().load_state_dict(state_dict)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state[p]
                    st["level"], st["sign"] = st["level"].round().long(), st["sign"].round().long()
                    p.copy_(self.weights(p))
