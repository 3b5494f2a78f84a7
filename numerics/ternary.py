"""Ternary weights: BitNet b1.58 quantization and trit-plane decompositions.

- The trit: `FixedFormat(2, 0, symmetric=True)`, codes in 2-bit two's complement (0b00 = 0, 0b01 = +1,
  0b11 = -1; 0b10 unused).
- `ternary` / `ternary_row`: BitNet b1.58 (Ma et al., "The Era of 1-bit LLMs", 2024): scale = mean |W|
  (per tensor, or per row = per output channel with axis=-1 on an (out, in) weight),
  W_t = clip(round(W / scale), -1, 1), value W_t * scale. Round-to-nearest-even on the exact quotient
  (BitNet's reference multiplies by 1/scale first, which can round twice).
- `fit_trit_planes`: PTQTP-style ("Post-Training Quantization to Trit-Planes"): W ~ sum_i a_i T_i with
  T_i in {-1, 0, +1} and one a_i per row, each plane fitted on the residual of the previous ones.
  For one plane the best ternary approximation a T of a row r is found exactly: with |r| sorted in
  decreasing order, taking the k largest entries (T = sign r there, 0 elsewhere) and a = their mean
  leaves ||r||^2 - (sum of the k largest)^2 / k, so the optimal k maximizes S_k^2 / k (no search over a).
  After all planes are chosen, the row scales are refitted jointly by least squares.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._arrays import unbox_float
from .fixed import FixedFormat
from .scaled import ScaledFormat, ScaleRule

__all__ = ["TRIT", "ternary_format", "TritPlanes", "fit_trit_planes"]

TRIT = FixedFormat(2, 0, symmetric=True, name="trit")


def ternary_format(granularity: str = "tensor", block: int = 32, name: str = "") -> ScaledFormat:
    """A ternary format with an absmean fp32 scale per tensor, per channel (row) or per block."""
    return ScaledFormat(TRIT, granularity, block, None, ScaleRule.ABSMEAN, name=name)


@dataclass(frozen=True)
class TritPlanes:
    """W ~ sum_i scales[i][..., None] * planes[i], planes along the last axis of the moved weight."""
    planes: np.ndarray   # int8, shape (P, *shape) with values in {-1, 0, 1}
    scales: np.ndarray   # float64, shape (P, *rows): one scale per plane and row
    axis: int

    def dequantize(self) -> np.ndarray:
        moved = np.moveaxis(self.planes, self.axis + 1, -1)  # axis is stored non-negative
        w = np.sum(moved.astype(np.float64) * self.scales[..., None], axis=0)
        return np.moveaxis(w, -1, self.axis)


def _best_plane(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact best a * T (T ternary) per row of r (rows along the first axes, elements along the last)."""
    n = r.shape[-1]
    mag = np.abs(r)
    order = np.argsort(-mag, axis=-1, kind="stable")
    srt = np.take_along_axis(mag, order, axis=-1)
    csum = np.cumsum(srt, axis=-1)
    k = np.arange(1, n + 1)
    gain = csum ** 2 / k
    kbest = np.argmax(gain, axis=-1) + 1  # ties -> the sparser plane
    a = np.take_along_axis(csum, (kbest - 1)[..., None], axis=-1)[..., 0] / kbest
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(k - 1, order.shape), axis=-1)
    t = np.where(rank < kbest[..., None], np.sign(r), 0.0)
    a = np.where(csum[..., -1] == 0, 0.0, a)
    return t, a


def fit_trit_planes(w, planes: int = 2, axis: int = -1, refit: bool = True):
    """Fit W ~ sum_i a_i T_i (one a_i per row; rows are all indices but `axis`), progressively on the
    residual. Returns a `TritPlanes` (numpy), and `dequantize()` gives the approximation."""
    if isinstance(planes, bool) or not isinstance(planes, (int, np.integer)) or planes < 1:
        raise ValueError(f"planes must be a positive integer, got {planes!r}")
    arr, _ = unbox_float(w, "w")
    if arr.ndim == 0:
        raise ValueError("fit_trit_planes needs an array with at least one axis")
    if not np.isfinite(arr).all():
        raise ValueError("fit_trit_planes: w contains NaN or Inf")
    ax = axis % arr.ndim
    r = np.moveaxis(arr.astype(np.float64), ax, -1)
    ts, scales = [], []
    resid = r.copy()
    for _ in range(planes):
        t, a = _best_plane(resid)
        ts.append(t)
        scales.append(a)
        resid = resid - a[..., None] * t
    if refit and planes > 1 and r.size:
        # Joint least squares of the row scales given the planes: solve G a = b per row.
        T = np.stack(ts, axis=-2)                       # (..., P, n)
        G = T @ np.swapaxes(T, -1, -2)                  # (..., P, P)
        b = (T @ r[..., None])[..., 0]                  # (..., P)
        G = G + 1e-12 * np.eye(planes)                  # empty planes stay at zero scale
        scales = list(np.moveaxis(np.linalg.solve(G, b[..., None])[..., 0], -1, 0))
    P = np.stack([np.moveaxis(t, -1, ax) for t in ts]).astype(np.int8)
    return TritPlanes(P, np.stack(scales), ax)

