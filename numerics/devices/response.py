"""Pulse responses: the state of an array of devices and `pulse(state, n, direction, generator)`.

One UP pulse (DOWN mirrored with b_min and scale_down), xi a fresh standard normal per pulse and device,
s = dw_min_std (aihwkit, docs/references.md section 9; `rpu_*_device.cpp` update_once):
- constant:   w += scale_up (1 + s xi)
- linear / softbounds: w += (slope_up w + scale_up)(1 + s xi)   (mult_noise; else the noise is on scale only)
- exp:        z = 2 a w / (b_max - b_min) + b; w += max(1 - A_up exp(gamma_up z), 0) scale_up (1 + s xi)
              (DOWN: max(1 - A_down exp(-gamma_down z), 0); with dw_min_std_add/slope the noise is additive:
              s (|dw| + add + slope |w|) xi)
- pow:        w += scale_up ((b_max - w)/(b_max - b_min))^gamma_up (1 + s xi); DOWN ((w - b_min)/range)^gamma_down
- piecewise:  step factor interpolated linearly between nodes equally spaced in [b_min, b_max]
- neurosim:   NeuroSim's G(P) = B (1 - exp(-P/A)) + Gmin on the normalized range, P = G^-1(w) moved by
              one pulse and clipped to [0, Pmax], plus sigma_ctoc xi (Chen, Peng, Yu, NeuroSim, TCAD 2018)
After each pulse w is clipped to the device's own [b_min, b_max]; with `levels` it is then rounded to
the nearest of `levels` equally spaced states of that device (finite conductance levels). Stuck devices
never move. Write noise (aihwkit): the array is read as w + write_noise_std * dw_min * xi, xi drawn anew
when a device is written.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .params import DeviceParams
from .sample import DeviceArray, as_rng, sample_devices

__all__ = ["DeviceState", "init_state", "with_weights", "pulse", "pulse_response", "read_weights", "step_size",
           "neurosim_curve"]


@dataclass(frozen=True, eq=False)
class DeviceState:
    """Devices (their drawn parameters) and their weights; `pulse` returns a new state."""
    devices: DeviceArray
    w: np.ndarray
    w_read: np.ndarray   # what a read sees (w plus write noise)

    @property
    def params(self) -> DeviceParams:
        return self.devices.params

    @property
    def shape(self) -> tuple:
        return self.devices.shape


def init_state(params: DeviceParams, shape, seed, w0=None) -> DeviceState:
    """Sample `shape` devices from `seed` and set them to w0 (default: each device's reset value),
    clipped to each device's bounds (stuck devices sit at their stuck value)."""
    dev = sample_devices(params, shape, seed)
    w = np.broadcast_to(np.asarray(dev.reset_bias if w0 is None else w0, dtype=np.float64), dev.shape).copy()
    w = np.clip(w, dev.b_min, dev.b_max)
    w = np.where(dev.stuck, dev.b_min, w)
    if params.levels is not None:
        w = _quantize_levels(w, dev, params.levels)
    return DeviceState(dev, w, w.copy())


def with_weights(state: DeviceState, w) -> DeviceState:
    """The same devices set to weights w (clipped to their bounds), e.g. after a reset."""
    dev = state.devices
    w = np.clip(np.broadcast_to(np.asarray(w, dtype=np.float64), dev.shape), dev.b_min, dev.b_max)
    w = np.where(dev.stuck, dev.b_min, w)
    if dev.params.levels is not None:
        w = _quantize_levels(w, dev, dev.params.levels)
    return replace(state, w=w, w_read=w.copy())


def read_weights(state: DeviceState) -> np.ndarray:
    return state.w_read


def neurosim_curve(p, pmax, a):
    """NeuroSim's normalized conductance after p pulses: B (1 - exp(-p/A)), B = 1 / (1 - exp(-pmax/A))."""
    return (1.0 - np.exp(-p / a)) / (1.0 - np.exp(-pmax / a))


def _neurosim_inverse(x, pmax, a):
    bn = 1.0 / (1.0 - np.exp(-pmax / a))
    return -a * np.log(np.maximum(1.0 - x / bn, 1e-300))


def step_size(w, up, dev: DeviceArray, xi=None) -> np.ndarray:
    """Signed weight change of one pulse at weights w (up: bool array), before clipping.
    xi: standard normals for cycle-to-cycle noise (None: noise-free, the mean response)."""
    p = dev.params
    s = p.dw_min_std if xi is not None else 0.0
    xi = np.zeros_like(w) if xi is None else xi
    bmax, bmin = dev.b_max, dev.b_min
    rng_ = bmax - bmin
    if p.kind == "constant":
        return np.where(up, dev.scale_up, -dev.scale_down) * (1.0 + s * xi)
    if p.kind in ("linear", "softbounds"):
        if p.mult_noise:
            return np.where(up, dev.slope_up * w + dev.scale_up,
                            -(dev.slope_down * w + dev.scale_down)) * (1.0 + s * xi)
        return np.where(up, dev.slope_up * w + dev.scale_up * (1.0 + s * xi),
                        -(dev.slope_down * w + dev.scale_down * (1.0 + s * xi)))
    if p.kind == "exp":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = np.where(rng_ > 0, 2.0 * p.a * w / rng_, 0.0) + p.b
            y_up = np.maximum(1.0 - p.A_up * np.exp(p.gamma_up * z), 0.0)
            y_dn = np.maximum(1.0 - p.A_down * np.exp(-p.gamma_down * z), 0.0)
        dw = np.where(up, y_up * dev.scale_up, -y_dn * dev.scale_down)
        dw = np.where(rng_ > 0, dw, 0.0)
        if p.dw_min_std_add > 0 or p.dw_min_std_slope > 0:
            return dw + s * (np.abs(dw) + p.dw_min_std_add + p.dw_min_std_slope * np.abs(w)) * xi
        return dw * (1.0 + s * xi)
    if p.kind == "pow":
        with np.errstate(divide="ignore", invalid="ignore"):
            om_up = np.clip((bmax - w) / rng_, 0.0, None)
            om_dn = np.clip((w - bmin) / rng_, 0.0, None)
            dw = np.where(up, dev.scale_up * om_up ** dev.pgamma_up, -dev.scale_down * om_dn ** dev.pgamma_down)
        return np.where(rng_ > 0, dw * (1.0 + s * xi), 0.0)
    if p.kind == "piecewise":
        up_v, dn_v = np.asarray(p.piecewise_up), np.asarray(p.piecewise_down)
        nsec = len(up_v) - 1
        if nsec <= 0:
            f_up, f_dn = np.full(w.shape, up_v[0]), np.full(w.shape, dn_v[0])
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                ws = np.maximum(np.where(rng_ > 0, (w - bmin) / rng_ * nsec, 0.0), 0.0)
            idx = np.minimum(np.floor(ws).astype(np.int64), nsec - 1)
            t = np.minimum(ws - idx, 1.0)
            f_up = (1 - t) * up_v[idx] + t * up_v[idx + 1]
            f_dn = (1 - t) * dn_v[idx] + t * dn_v[idx + 1]
        return np.where(up, f_up * dev.scale_up, -f_dn * dev.scale_down) * (1.0 + s * xi)
    if p.kind == "neurosim":
        x = np.clip((w - bmin) / rng_, 0.0, 1.0)
        pu = np.clip(_neurosim_inverse(x, p.max_num_level_ltp, dev.a_ltp) + 1.0, 0.0, p.max_num_level_ltp)
        pd = np.clip(_neurosim_inverse(x, p.max_num_level_ltd, dev.a_ltd) - 1.0, 0.0, p.max_num_level_ltd)
        x_new = np.where(up, neurosim_curve(pu, p.max_num_level_ltp, dev.a_ltp),
                         neurosim_curve(pd, p.max_num_level_ltd, dev.a_ltd))
        # NeuroSim's cycle-to-cycle noise is additive on the conductance, sigma in units of the range.
        return (x_new - x) * rng_ + p.sigma_ctoc * (p.w_max - p.w_min) * xi
    raise ValueError(f"unknown device kind {p.kind!r}")  # pragma: no cover - validated in DeviceParams


def _quantize_levels(w, dev: DeviceArray, levels: int):
    span = dev.b_max - dev.b_min
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(span > 0, np.rint((w - dev.b_min) / span * (levels - 1)), 0.0)
        return np.where(span > 0, dev.b_min + k * span / (levels - 1), dev.b_min)


def pulse(state: DeviceState, n, direction, generator=None, noise: bool = True) -> DeviceState:
    """Apply n[i] pulses (integers >= 0) in direction[i] (+1 UP, -1 DOWN) to device i, one at a time.

    n and direction broadcast to the state's shape. `generator` (int seed, numpy or torch Generator)
    supplies the cycle-to-cycle noise; it is required when the device has any. noise=False gives the
    mean (noise-free) response. Returns a new DeviceState; the input is not modified.
    """
    dev, p = state.devices, state.params
    n = np.broadcast_to(np.asarray(n), dev.shape)
    if n.dtype.kind not in "iu" and not (n.dtype.kind == "f" and np.all(n == np.rint(n))):
        raise ValueError(f"n must be integer pulse counts, got dtype {n.dtype}")
    n = n.astype(np.int64)
    if n.size and n.min() < 0:
        raise ValueError(f"n must be >= 0 pulse counts (direction gives the sign), got min {int(n.min())}")
    d = np.broadcast_to(np.asarray(direction), dev.shape)
    if d.size and not np.all((d == 1) | (d == -1)):
        raise ValueError("direction must be +1 (UP) or -1 (DOWN) for every device")
    noisy = noise and (p.dw_min_std > 0 or p.sigma_ctoc > 0 or p.write_noise_std > 0)
    rng = as_rng(generator) if noisy else None
    # Work on the pulsed devices only (updates are sparse); their order is the flat (C) order.
    idx = np.flatnonzero((n > 0) & ~dev.stuck)
    if idx.size == 0:
        return state
    sub = _subset(dev, idx)
    nn, up, w = n.reshape(-1)[idx], (d > 0).reshape(-1)[idx], state.w.reshape(-1)[idx]
    c2c = noisy and (p.dw_min_std > 0 or p.sigma_ctoc > 0)
    for k in range(int(nn.max())):
        act = nn > k
        xi = rng.standard_normal(idx.size) if c2c else None
        w = np.where(act, np.clip(w + step_size(w, up, sub, xi), sub.b_min, sub.b_max), w)
        if p.levels is not None:
            w = np.where(act, _quantize_levels(w, sub, p.levels), w)
    w_all = state.w.copy().reshape(-1)
    w_all[idx] = w
    read = state.w_read.copy().reshape(-1)
    if noisy and p.write_noise_std > 0:
        read[idx] = w + p.write_noise_std * p.dw_min * rng.standard_normal(idx.size)
    else:
        read[idx] = read[idx] - state.w.reshape(-1)[idx] + w   # keep each device's write-noise offset
    return DeviceState(dev, w_all.reshape(dev.shape), read.reshape(dev.shape))


def _subset(dev: DeviceArray, idx) -> DeviceArray:
    """The devices at flat indices idx, as a 1-D DeviceArray."""
    f = {k: getattr(dev, k).reshape(-1)[idx] for k in ("b_max", "b_min", "scale_up", "scale_down", "slope_up",
                                                          "slope_down", "pgamma_up", "pgamma_down", "a_ltp",
                                                          "a_ltd", "reset_bias", "stuck")}
    return DeviceArray(dev.params, (idx.size,), n_clipped=0, **f)


def pulse_response(params: DeviceParams, n_pulses: int, n_devices: int = 1, seed=0, w0=None,
                   noise: bool = True) -> np.ndarray:
    """Weights of `n_devices` devices after 0..n_pulses UP pulses then n_pulses DOWN pulses:
    an array of shape (2 n_pulses + 1, n_devices). The device starts at w0 (default: its b_min)."""
    if isinstance(n_pulses, bool) or not isinstance(n_pulses, (int, np.integer)) or n_pulses < 1:
        raise ValueError(f"n_pulses={n_pulses!r} must be an integer >= 1")
    rng = as_rng(seed)
    st = init_state(params, (n_devices,), rng)
    st = with_weights(st, st.devices.b_min if w0 is None else w0)
    out = [st.w.copy()]
    for direction in (1, -1):
        for _ in range(n_pulses):
            st = pulse(st, 1, direction, rng, noise=noise)
            out.append(st.w.copy())
    return np.stack(out)
