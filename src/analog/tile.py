"""A crossbar tile whose weights are device conductances (docs/references.md sections 8-9).

y = scale * W x for the forward pass and x_grad = scale * W^T d for the backward pass, each an analog
matrix-vector product with aihwkit's I/O model: the input is divided by its abs-max (noise management),
clipped to +-inp_bound and converted by a DAC of `inp_bits`; the output gets Gaussian `out_noise`, is
clipped to +-out_bound and converted by an ADC of `out_bits`, then scaled back. None bits = no converter.
The converters round with lowbit.numerics (symmetric int grids, round-to-nearest-even, saturating).

Cells: "single" (one device per weight, W = w: aihwkit's convention, range containing 0) or "pair"
(W = w+ - w-, a differential pair; the one-sided cell of the unidirectional rule, or with pair_mid
both devices programmed around mid-range for the bidirectional pair rule). `scale` maps device
units onto network weights: scale = weight_range / max |W_dev|. A bias is one more column driven by 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lowbit.numerics import get_format
from lowbit.numerics.devices import as_rng, get_device, init_state, step_size, with_weights

__all__ = ["IOConfig", "AnalogTile", "symmetry_point", "CELLS"]

CELLS = ("single", "pair")


@dataclass(frozen=True)
class IOConfig:
    inp_bits: int | None = None
    inp_bound: float = 1.0
    out_bits: int | None = None
    out_bound: float = float("inf")   # aihwkit uses 12 with an ADC; no ADC -> no clipping
    out_noise: float = 0.0

    def __post_init__(self):
        for key in ("inp_bits", "out_bits"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= 24):
                raise ValueError(f"IOConfig: {key}={v!r} must be an integer in 2..24 or None (no converter)")
        for key in ("inp_bound", "out_bound"):
            if not getattr(self, key) > 0:
                raise ValueError(f"IOConfig: {key}={getattr(self, key)!r} must be > 0")
        for bits, bound in (("inp_bits", "inp_bound"), ("out_bits", "out_bound")):
            if getattr(self, bits) is not None and not np.isfinite(getattr(self, bound)):
                raise ValueError(f"IOConfig: {bits} needs a finite {bound}, got {getattr(self, bound)!r}")
        if not self.out_noise >= 0:
            raise ValueError(f"IOConfig: out_noise={self.out_noise!r} must be >= 0")


def _convert(v, bits, bound):
    """Clip to +-bound and round onto the symmetric grid of 2^(bits-1) - 1 steps per side."""
    v = np.clip(v, -bound, bound)
    if bits is None:
        return v
    steps = (1 << (bits - 1)) - 1
    q = get_format(f"int{bits}").quantize(v * (steps / bound), rounding="nearest_even", overflow="saturate")
    return q * (bound / steps)


def symmetry_point(devices, iters: int = 60) -> np.ndarray:
    """Per device, the weight where a noise-free UP and DOWN pulse cancel (bisection on the net step).
    Devices whose net step never changes sign return their bound in the direction of the drift."""
    lo, hi = devices.b_min.copy(), devices.b_max.copy()
    up, dn = np.ones(devices.shape, bool), np.zeros(devices.shape, bool)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        net = step_size(mid, up, devices) + step_size(mid, dn, devices)
        lo, hi = np.where(net > 0, mid, lo), np.where(net > 0, hi, mid)
    return 0.5 * (lo + hi)


class AnalogTile:
    """Devices for an (out, in) weight matrix (+ a bias column) with analog forward/backward MVMs."""

    def __init__(self, out_features: int, in_features: int, device, cell: str = "single", bias: bool = True,
                 io: IOConfig = IOConfig(), weight_range: float = 1.0, seed: int = 0, pair_mid: bool = False):
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r} is unknown; allowed: {', '.join(CELLS)}")
        if not weight_range > 0:
            raise ValueError(f"weight_range={weight_range!r} must be > 0")
        self.params = get_device(device)
        self.cell, self.io, self.bias, self.pair_mid = cell, io, bias, bool(pair_mid)
        self.shape = (int(out_features), int(in_features) + (1 if bias else 0))
        rng = as_rng(seed)
        self.plus = init_state(self.params, self.shape, rng)
        self.minus = None
        if cell == "pair":
            self.plus = with_weights(self.plus, self.plus.devices.b_min)
            self.minus = init_state(self.params, self.shape, rng)
            self.minus = with_weights(self.minus, self.minus.devices.b_min)
            span = self.params.w_max - self.params.w_min
        else:
            span = max(self.params.w_max, -self.params.w_min)
        self.scale = float(weight_range) / span
        self.noise_rng = as_rng(rng.integers(2**62))
        self.fast = self.fast_ref = None   # Tiki-Taka's fast array A (set by rules.TikiTaka.attach)
        self.fast_gamma = 0.0

    # ---- weights ----
    def device_weights(self) -> np.ndarray:
        w = self.plus.w_read - self.minus.w_read if self.cell == "pair" else self.plus.w_read
        if self.fast is not None:
            w = w + self.fast_gamma * (self.fast.w_read - self.fast_ref)
        return w

    def weights(self) -> np.ndarray:
        """Network weights (out, in[+1]) as the array would be read (write noise included)."""
        return self.scale * self.device_weights()

    def set_weights(self, W) -> None:
        """Program network weights W (out, in[+1]) directly (ideal write-verify; used for initialization,
        not counted as training pulses). Values beyond a device's range saturate at its bound."""
        W = np.asarray(W, dtype=np.float64).reshape(self.shape) / self.scale
        if self.cell == "pair" and self.pair_mid:   # bidirectional pairs start mid-range, W split evenly
            mid_p = 0.5 * (self.plus.devices.b_min + self.plus.devices.b_max)
            mid_m = 0.5 * (self.minus.devices.b_min + self.minus.devices.b_max)
            self.plus = with_weights(self.plus, mid_p + 0.5 * W)
            self.minus = with_weights(self.minus, mid_m - 0.5 * W)
        elif self.cell == "pair":   # one-sided pairs: the device of W's sign holds |W|, the other sits at b_min
            self.plus = with_weights(self.plus, self.plus.devices.b_min + np.maximum(W, 0))
            self.minus = with_weights(self.minus, self.minus.devices.b_min + np.maximum(-W, 0))
        else:
            self.plus = with_weights(self.plus, W)

    # ---- analog MVMs ----
    def _mvm(self, M, v):
        io = self.io
        amax = np.max(np.abs(v), axis=1, keepdims=True)
        amax = np.where(amax > 0, amax, 1.0)
        vin = _convert(v / amax, io.inp_bits, io.inp_bound)
        out = vin @ M.T
        if io.out_noise > 0:
            out = out + io.out_noise * self.noise_rng.standard_normal(out.shape)
        return _convert(out, io.out_bits, io.out_bound) * amax

    def _with_bias(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.concatenate([x, np.ones((x.shape[0], 1))], axis=1) if self.bias else x

    def forward(self, x) -> np.ndarray:
        """y = scale * W x for a batch x (batch, in)."""
        return self.scale * self._mvm(self.device_weights(), self._with_bias(x))

    def backward(self, d) -> np.ndarray:
        """x_grad = scale * W^T d for a batch d (batch, out); the bias column is dropped."""
        g = self.scale * self._mvm(self.device_weights().T, np.asarray(d, dtype=np.float64))
        return g[:, :-1] if self.bias else g
