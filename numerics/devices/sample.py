"""Device-to-device variation: per-device parameters drawn once, seeded (aihwkit's `populate`).

The draws follow aihwkit `PulsedRPUDevice::populate` and its subclasses (docs/references.md section 9):
    b_max = w_max (1 + w_max_dtod xi),  b_min = w_min (1 + w_min_dtod xi)
    gain = 1 + dw_min_dtod xi,  r = up_down_dtod xi
    scale_up = (min(up_down, 0) + gain + r) dw_min,  scale_down = (-max(up_down, 0) + gain - r) dw_min
    enforce_consistency: |scale|, swap inverted bounds, b_max >= 0 >= b_min
Linear step: slope_up = -|gamma_up + gamma_up_dtod xi| scale_up / w_ref_up with w_ref the mean bound
(mean_bound_reference) or the device's own bound (soft bounds). Power step: gamma^d = pow_gamma (1 + bias
+- r). NeuroSim: A spread multiplicatively by param_a_dtod. corrupt_devices_prob: stuck at a uniform value
in [max(b_min, -range), min(b_max, range)] with zero step (aihwkit); stuck_at_min/max_prob: stuck at a bound.

A device whose sampled range collapses (b_max - b_min below 1% of the nominal range, possible only with
large *_dtod) is clipped back to that minimum range around its centre; the number clipped is reported in
`DeviceArray.n_clipped` and as a warning, never silently.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .params import DeviceParams

__all__ = ["DeviceArray", "sample_devices", "as_rng", "MIN_RANGE_FRACTION"]

MIN_RANGE_FRACTION = 0.01


def as_rng(generator) -> np.random.Generator:
    """A NumPy Generator from an int seed, a NumPy Generator (used as is) or a torch.Generator."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    try:
        import torch
        if isinstance(generator, torch.Generator):
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator).item()))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    raise ValueError(f"generator must be an int seed, a numpy.random.Generator or a torch.Generator, "
                     f"got {type(generator).__name__}; device noise never draws from a hidden global state")


@dataclass(frozen=True, eq=False)
class DeviceArray:
    """Per-device parameters of an array of devices (all arrays have `shape`)."""
    params: DeviceParams
    shape: tuple
    b_max: np.ndarray
    b_min: np.ndarray
    scale_up: np.ndarray
    scale_down: np.ndarray
    slope_up: np.ndarray     # linear step / soft bounds
    slope_down: np.ndarray
    pgamma_up: np.ndarray    # power step exponents
    pgamma_down: np.ndarray
    a_ltp: np.ndarray        # NeuroSim A (pulses)
    a_ltd: np.ndarray
    reset_bias: np.ndarray
    stuck: np.ndarray        # bool: device does not move
    n_clipped: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def sample_devices(params: DeviceParams, shape, seed) -> DeviceArray:
    """Draw the device-to-device parameters of `shape` devices from `seed` (same seed -> same devices)."""
    if not isinstance(params, DeviceParams):
        raise ValueError(f"params must be a DeviceParams (see lowbit.numerics.devices.get_device), "
                         f"got {type(params).__name__}")
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"shape={shape!r} must have non-negative sizes")
    rng = as_rng(seed)
    p = params
    g = lambda: rng.standard_normal(shape)  # noqa: E731 - one fresh standard normal per device
    b_max = p.w_max * (1.0 + p.w_max_dtod * g())
    b_min = p.w_min * (1.0 + p.w_min_dtod * g())
    gain = 1.0 + p.dw_min_dtod * g()
    r = p.up_down_dtod * g()
    scale_up = (min(p.up_down, 0.0) + gain + r) * p.dw_min
    scale_down = (-max(p.up_down, 0.0) + gain - r) * p.dw_min
    if p.enforce_consistency:
        scale_up, scale_down = np.abs(scale_up), np.abs(scale_down)
        lo, hi = np.minimum(b_min, b_max), np.maximum(b_min, b_max)
        b_max, b_min = np.abs(hi), -np.abs(lo)
    # Clip collapsed ranges (reported): a device must keep a usable range to be a weight.
    min_range = MIN_RANGE_FRACTION * (p.w_max - p.w_min)
    bad = ~(b_max - b_min >= min_range)
    n_clipped = int(bad.sum())
    if n_clipped:
        centre = np.clip(0.5 * (b_max + b_min), p.w_min + 0.5 * min_range, p.w_max - 0.5 * min_range)
        b_max = np.where(bad, centre + 0.5 * min_range, b_max)
        b_min = np.where(bad, centre - 0.5 * min_range, b_min)
        warnings.warn(f"device {p.name!r}: {n_clipped} of {int(np.prod(shape))} devices had an empty range after "
                      f"device-to-device variation (w_max_dtod={p.w_max_dtod}, w_min_dtod={p.w_min_dtod}); "
                      f"clipped to {MIN_RANGE_FRACTION:.0%} of the nominal range", RuntimeWarning, stacklevel=2)

    slope_up = np.zeros(shape)
    slope_down = np.zeros(shape)
    if p.kind in ("linear", "softbounds"):
        d_up = p.gamma_up + p.gamma_up_dtod * g()
        d_dn = p.gamma_down + p.gamma_down_dtod * g()
        d_up, d_dn = np.abs(d_up), np.abs(d_dn)   # aihwkit: allow_increasing=False forces positive
        ref_up = np.full(shape, p.w_max) if p.mean_bound_reference else b_max
        ref_dn = np.full(shape, p.w_min) if p.mean_bound_reference else b_min
        with np.errstate(divide="ignore", invalid="ignore"):
            slope_up = np.where(ref_up != 0, -d_up * scale_up / ref_up, 0.0)
            slope_down = np.where(ref_dn != 0, -d_dn * scale_down / ref_dn, 0.0)
    pg_up = np.ones(shape)
    pg_dn = np.ones(shape)
    if p.kind == "pow":
        gain_p = 1.0 + p.pow_gamma_dtod * g()
        r_p = p.pow_up_down_dtod * g()
        pg_up = (min(p.pow_up_down, 0.0) + gain_p + r_p) * p.pow_gamma
        pg_dn = (-max(p.pow_up_down, 0.0) + gain_p - r_p) * p.pow_gamma
        if p.enforce_consistency:
            pg_up, pg_dn = np.abs(pg_up), np.abs(pg_dn)
    a_ltp = np.full(shape, float(p.param_a_ltp))
    a_ltd = np.full(shape, float(p.param_a_ltd))
    if p.kind == "neurosim" and p.param_a_dtod > 0:
        # |1 + dtod xi| floored at 0.05: an A near 0 would make NeuroSim's curve a step (and 0/0 in its inverse)
        a_ltp = a_ltp * np.maximum(np.abs(1.0 + p.param_a_dtod * g()), 0.05)
        a_ltd = a_ltd * np.maximum(np.abs(1.0 + p.param_a_dtod * g()), 0.05)
    reset_bias = p.reset + p.reset_dtod * g()

    stuck = np.zeros(shape, dtype=bool)
    if p.corrupt_devices_prob > 0 or p.stuck_at_min_prob > 0 or p.stuck_at_max_prob > 0:
        u = rng.random(shape)
        corrupt = u < p.corrupt_devices_prob
        at_min = (u >= p.corrupt_devices_prob) & (u < p.corrupt_devices_prob + p.stuck_at_min_prob)
        at_max = (u >= p.corrupt_devices_prob + p.stuck_at_min_prob) & (
            u < p.corrupt_devices_prob + p.stuck_at_min_prob + p.stuck_at_max_prob)
        mn = np.maximum(np.minimum(b_max, b_min), -abs(p.corrupt_devices_range))
        mx = np.minimum(np.maximum(b_max, b_min), abs(p.corrupt_devices_range))
        value = np.where(corrupt, mn + (mx - mn) * rng.random(shape), 0.0)
        value = np.where(at_min, b_min, np.where(at_max, b_max, value))
        stuck = corrupt | at_min | at_max
        b_max = np.where(stuck, value, b_max)
        b_min = np.where(stuck, value, b_min)
        scale_up = np.where(stuck, 0.0, scale_up)
        scale_down = np.where(stuck, 0.0, scale_down)
    return DeviceArray(p, shape, b_max, b_min, scale_up, scale_down, slope_up, slope_down, pg_up, pg_dn,
                       a_ltp, a_ltd, reset_bias, stuck, n_clipped)
