"""Madam-style integer log-level update on log-spaced conductances (the LNS-Madam bridge to devices).

A device holds one of L conductance levels spaced geometrically between g_max / R and g_max
(G_k = g_max b^(k - (L-1)), b = R^(1/(L-1))); its column in the crossbar (G+ or G-) fixes the weight's sign,
which a multiplicative update never changes. Madam's normalized gradient g* (Bernstein et al. 2020) moves the
level by round(-lr g* sign(w)) integer steps (stochastic rounding by default), i.e. that many SET/RESET pulses (Zhao et al., LNS-Madam).
The normalization and the integer step are lowbit.optim's (`normalized_grad`, `code_steps`), the same code
IntegerMadam uses; here the levels live in devices and each level step is a priced pulse.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from lowbit.optim.lns_madam import code_steps
from lowbit.optim.madam import normalized_grad

from .rules import UpdateRule, UpdateStats
from .tile import AnalogTile

__all__ = ["LogTile", "MadamLog"]


class LogTile(AnalogTile):
    """A tile of log-spaced-conductance devices: integer level k and a fixed sign per weight."""

    def __init__(self, out_features, in_features, device, levels: int = 16, dynamic_range: float = 256.0,
                 **kw):
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise ValueError(f"levels={levels!r} must be an integer >= 2")
        if not (isinstance(dynamic_range, (int, float)) and math.isfinite(dynamic_range) and dynamic_range > 1):
            raise ValueError(f"dynamic_range={dynamic_range!r} must be a finite number > 1 (g_max / g_min)")
        super().__init__(out_features, in_features, device, cell="single", **kw)
        self.levels, self.base = levels, dynamic_range ** (1.0 / (levels - 1))
        self.level = np.full(self.shape, levels - 1, dtype=np.int64)
        self.sign = np.ones(self.shape, dtype=np.int64)
        self.scale = float(kw.get("weight_range", 1.0))

    def device_weights(self):
        return self.sign * self.base ** (self.level - (self.levels - 1)).astype(np.float64)

    def conductance(self):
        return self.params.g_max * self.base ** (self.level - (self.levels - 1)).astype(np.float64)

    def set_weights(self, W):
        W = np.asarray(W, dtype=np.float64).reshape(self.shape) / self.scale
        k = np.rint(np.log(np.maximum(np.abs(W), 1e-300)) / math.log(self.base)) + (self.levels - 1)
        self.level = np.clip(k, 0, self.levels - 1).astype(np.int64)
        self.sign = np.where(W < 0, -1, 1).astype(np.int64)


class MadamLog(UpdateRule):
    """Integer log-level Madam on a LogTile: pulses = |level change|, priced V_w^2 G_k t_pw each."""

    unidirectional = True

    def __init__(self, lr_levels: float = 1.0, beta: float = 0.999, g_bound: float = 10.0, seed: int = 0,
                 levels: int = 16, dynamic_range: float = 256.0, rounding: str = "stochastic"):
        if not lr_levels > 0:
            raise ValueError(f"MadamLog: lr_levels={lr_levels!r} must be > 0 (levels per unit normalized gradient)")
        self.lr, self.beta, self.g_bound, self.seed = float(lr_levels), beta, g_bound, seed
        self.v, self.t = None, 0
        if rounding not in ("nearest", "stochastic"):
            raise ValueError(f"MadamLog: rounding={rounding!r}; allowed: nearest, stochastic")
        self.levels, self.dynamic_range, self.rounding = levels, dynamic_range, rounding

    def make_tile(self, out_features, in_features, device, **kw) -> LogTile:
        """The tile this rule trains (AnalogLinear asks the rule for it)."""
        kw.pop("cell", None)
        kw.pop("pair_mid", None)
        return LogTile(out_features, in_features, device, levels=self.levels, dynamic_range=self.dynamic_range, **kw)

    def update(self, tile: LogTile, x, d, lr=None) -> UpdateStats:
        """One step from the batch gradient d^T x; `lr` is ignored (Madam's step is lr_levels levels)."""
        g = torch.from_numpy(d.T @ x).float()
        if self.v is None:
            self.v = torch.zeros_like(g)
        self.t += 1
        gs, self.v = normalized_grad(g, self.v, self.t, self.beta, self.g_bound)
        # stochastic rounding of the level step (seeded per step) lets small lr_levels move on average
        k, _ = code_steps(gs, torch.from_numpy(tile.sign), self.lr, self.rounding, 16,
                          (self.seed * 1_000_003 + self.t) & ((1 << 62) - 1))
        new = np.clip(tile.level + k.numpy(), 0, tile.levels - 1)
        n = np.abs(new - tile.level)
        st = UpdateStats(updates=1, pulses=int(n.sum()), writes=int((n > 0).sum()))
        p = tile.params
        st.energy_j = float(np.sum(n * p.v_write ** 2 * tile.conductance() * p.t_pulse))
        st.pulses_by_array["levels"] = st.pulses
        tile.level = new
        return st
