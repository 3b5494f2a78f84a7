"""AnalogLinear: a torch layer whose weights live in an AnalogTile, updated only by device pulses.

The forward and backward passes are the tile's analog MVMs (device precision, optional DAC/ADC, output
noise and bound); autograd carries the gradient through, and the layer keeps (x, d) of the last backward
so that `AnalogOptimizer.step()` turns them into pulses with the layer's learning rule. The optimizer
reports pulses, device writes and write energy per step, and as `lowbit.sim.workload.Elementwise`
items with op="device_pulse" and pj_each = the mean energy of one pulse in that step (the sim prices
them from that figure, since the energy of a pulse depends on the device and its state).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lowbit.optim import FunctionalOptimizer

from .rules import PulsedSGD, UpdateRule, UpdateStats
from .tile import IOConfig

__all__ = ["AnalogLinear", "AnalogOptimizer"]


class _AnalogMVM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer = layer
        xs = x.detach().cpu().double().numpy()
        layer._x = layer.tile._with_bias(xs)
        return torch.from_numpy(layer.tile.forward(xs)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        layer = ctx.layer
        d = grad.detach().cpu().double().numpy()
        layer._d = d
        return torch.from_numpy(layer.tile.backward(d)).to(grad.dtype), None


class AnalogLinear(torch.nn.Module):
    """y = W x + b with W, b stored as device conductances (bias = one more device column)."""

    def __init__(self, in_features: int, out_features: int, device, cell: str = "single", rule=None,
                 io: IOConfig = IOConfig(), weight_range: float = 1.0, bias: bool = True, seed: int = 0,
                 init_std: float | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.rule = rule if rule is not None else PulsedSGD(seed=seed)
        if not isinstance(self.rule, UpdateRule):
            raise ValueError(f"rule must be a lowbit.analog UpdateRule (PulsedSGD, MixedPrecision, TikiTaka, "
                             f"MadamLog), got {type(self.rule).__name__}")
        # the rule makes its tile (MadamLog: a LogTile)
        self.tile = self.rule.make_tile(out_features, in_features, device, cell=cell, bias=bias, io=io,
                                        weight_range=weight_range, seed=seed, pair_mid=not self.rule.unidirectional)
        # Initial weights (programmed ideally, not counted as training pulses): uniform +-1/sqrt(fan_in).
        g = np.random.default_rng(seed + 7919)
        bound = 1.0 / np.sqrt(in_features) if init_std is None else init_std
        W = g.uniform(-bound, bound, self.tile.shape)
        self.tile.set_weights(np.clip(W, -weight_range, weight_range))
        self._x = self._d = None
        # torch needs a parameter to hand gradients to; the weights themselves are in the tile.
        self._anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=True)

    def forward(self, x):
        return _AnalogMVM.apply(x + 0.0 * self._anchor, self)

    def weight_bias(self):
        W = self.tile.weights()
        return (W[:, :-1], W[:, -1]) if self.tile.bias else (W, None)

    def apply_update(self, lr: float) -> UpdateStats:
        if self._x is None or self._d is None:
            return UpdateStats()
        st = self.rule.update(self.tile, self._x, self._d, lr)
        self._x = self._d = None
        return st


@dataclass(frozen=True)
class AnalogHP:
    lr: float

    def __post_init__(self):
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} must be > 0")
        object.__setattr__(self, "lr", float(self.lr))


class AnalogOptimizer(FunctionalOptimizer):
    """Applies each AnalogLinear's rule after backward; keeps per-step and total pulse statistics. The
    lowbit optimizer interface (set_lr, ...) over the layers' gradient anchors, so the training loop
    drives it like any other optimizer; `step()` returns the step's UpdateStats per layer."""
    hp_class = AnalogHP

    def __init__(self, model: torch.nn.Module, lr: float):
        layers = {n: m for n, m in model.named_modules() if isinstance(m, AnalogLinear)}
        if not layers:
            raise ValueError("the model has no AnalogLinear layers")
        super().__init__([m._anchor for m in layers.values()], AnalogHP(lr))
        self.layers = layers
        self.total = UpdateStats()
        self.last: dict[str, UpdateStats] = {}

    @property
    def lr(self) -> float:
        return self.hp.lr

    def step(self, closure=None) -> dict:
        self.last = {name: m.apply_update(self.hp.lr) for name, m in self.layers.items()}
        for st in self.last.values():
            self.total.add(st)
        return self.last

    def workload_items(self, stats: dict | None = None):
        """The last step's pulses as sim Elementwise items (op="device_pulse", pj_each = mean pJ/pulse)."""
        from lowbit.sim import Elementwise
        stats = self.last if stats is None else stats
        return [Elementwise(f"{name}.device_pulses", st.pulses, "device_pulse", "", layer=name,
                            pj_each=(st.energy_j / st.pulses * 1e12) if st.pulses else 0.0)
                for name, st in stats.items()]
