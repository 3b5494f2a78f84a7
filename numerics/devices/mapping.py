"""Weights onto conductances: differential pairs (W = G+ - G-) and single devices around zero.

A network weight W maps onto device weights by one scale factor (docs/references.md section 8):
- scheme "pair":   W = scale * (w+ - w-), each device in [w_min, w_max]; the representable range is
                   +-scale * (w_max - w_min); positive W programs w+, negative W programs w- (the other
                   device stays at w_min), as in a one-sided pair (aihwkit OneSidedUnitCell).
- scheme "single": W = scale * w, w in [w_min, w_max] (aihwkit's convention; needs w_min < 0 for negative W).
Conductance follows DeviceParams.conductance: G = g_min + (w - w_min)/(w_max - w_min) (g_max - g_min).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .params import DeviceParams

__all__ = ["WeightMap", "weight_map", "to_devices", "to_conductance"]

SCHEMES = ("pair", "single")


@dataclass(frozen=True)
class WeightMap:
    params: DeviceParams
    scheme: str
    w_lo: float
    w_hi: float
    scale: float   # network weight units per device weight unit

    def weight(self, w_plus, w_minus=None):
        """Network weight from device weights (pair: both devices; single: one)."""
        if self.scheme == "pair":
            return self.scale * (np.asarray(w_plus) - np.asarray(w_minus))
        return self.scale * np.asarray(w_plus)


def weight_map(w_lo: float, w_hi: float, params: DeviceParams, scheme: str = "pair") -> WeightMap:
    """The map of network weights [w_lo, w_hi] onto `params`'s devices; ValueError if it cannot be mapped."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r} is unknown; allowed: {', '.join(SCHEMES)}")
    for key, v in (("w_lo", w_lo), ("w_hi", w_hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"weight range {key}={v!r} must be a finite number")
    if not w_lo < w_hi:
        raise ValueError(f"weight range [{w_lo}, {w_hi}] is empty; need w_lo < w_hi")
    if scheme == "pair":
        scale = max(abs(w_lo), abs(w_hi)) / (params.w_max - params.w_min)
    else:
        if w_lo < 0 and params.w_min >= 0:
            raise ValueError(f"weight range [{w_lo}, {w_hi}] has negative weights but device {params.name!r} "
                             f"only spans [{params.w_min}, {params.w_max}]; use scheme='pair'")
        if w_hi > 0 and params.w_max <= 0:
            raise ValueError(f"weight range [{w_lo}, {w_hi}] has positive weights but device {params.name!r} "
                             f"only spans [{params.w_min}, {params.w_max}]")
        scale = max(w_hi / params.w_max if w_hi > 0 else 0.0, w_lo / params.w_min if w_lo < 0 else 0.0)
    if not scale > 0:
        raise ValueError(f"weight range [{w_lo}, {w_hi}] cannot be mapped onto device {params.name!r}")
    return WeightMap(params, scheme, float(w_lo), float(w_hi), float(scale))


def to_devices(W, wm: WeightMap):
    """Device weights that represent W: (w_plus, w_minus) for a pair, w for a single device."""
    W = np.asarray(W, dtype=np.float64)
    tol = 1e-12 * max(abs(wm.w_lo), abs(wm.w_hi))
    if W.size and (W.min() < wm.w_lo - tol or W.max() > wm.w_hi + tol or not np.isfinite(W).all()):
        raise ValueError(f"weights span [{W.min():g}, {W.max():g}], outside the mapped range [{wm.w_lo}, {wm.w_hi}]")
    p = wm.params
    if wm.scheme == "pair":
        return p.w_min + np.maximum(W, 0) / wm.scale, p.w_min + np.maximum(-W, 0) / wm.scale
    return W / wm.scale


def to_conductance(W, wm: WeightMap):
    """Conductances [S] that represent W: (G_plus, G_minus) for a pair, G for a single device."""
    dev = to_devices(W, wm)
    if wm.scheme == "pair":
        return wm.params.conductance(dev[0]), wm.params.conductance(dev[1])
    return wm.params.conductance(dev)
