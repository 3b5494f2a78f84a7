"""AnalogLinear: a torch layer whose weights live in an AnalogTile, updated only by device pulses.

The forward and backward passes are the tile's analog MVMs (device precision, optional DAC/ADC, output
noise and bound); autograd carries the gradient through, and the layer keeps (x, d) of the last backward
so that `AnalogOptimizer.step()` turns them into pulses with the layer's learning rule. The optimizer
reports pulses, device writes and write energy per step, and as `lowbit.sim.workload.Elementwise`
items with op="device_pulse" and pj_each = the mean energy of one pulse in that step (the sim prices
them from that figure, since the energy of a pulse depends on the device and its state).
"""
from __future__ import annotations

import numpy as np
import torch

from .rules import PulsedSGD, UpdateStats
from .tile import AnalogTile, IOConfig

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
        make = getattr(self.rule, "make_tile", None) or AnalogTile   # MadamLog brings its LogTile
        self.tile = make(out_features, in_features, device, cell=cell, bias=bias, io=io,
                         weight_range=weight_range, seed=seed,
                         pair_mid=not getattr(self.rule, "unidirectional", True))
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


class AnalogOptimizer:
    """Applies each AnalogLinear's rule after backward; keeps per-step and total pulse statistics."""

    def __init__(self, model: torch.nn.Module, lr: float):
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        self.layers = {n: m for n, m in model.named_modules() if isinstance(m, AnalogLinear)}
        if not self.layers:
            raise ValueError("the model has no AnalogLinear layers")
        self.lr = float(lr)
        self.total = UpdateStats()
        self.last: dict[str, UpdateStats] = {}

    def zero_grad(self):
        for m in self.layers.values():
            m._anchor.grad = None

    def step(self) -> dict:
        self.last = {name: m.apply_update(self.lr) for name, m in self.layers.items()}
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
