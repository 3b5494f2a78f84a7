"""Data sets that ship with a package (no downloads) and deterministic batching.

- `digits`: scikit-learn's copy of the UCI optical handwritten digits (1797 8x8 images, 10 classes;
  Alpaydin & Kaynak 1998), pixels scaled to [0, 1], a fixed stratified-free seeded split.
- `blobs`: a synthetic Gaussian-mixture classification task (for tiny tests).
Outlier channels can be injected (`outlier_channels`, `outlier_scale`): those input features are
multiplied by a large factor, the setting of the FP4 paper's outlier clamping study. `scale_spread` s
multiplies each sample by 2^u, u uniform in [-s, s] (a wide dynamic range across tokens: what one
per-tensor scale handles badly and per-block / per-token scales handle well).
Batches are drawn from a permutation derived from (seed, epoch), so a resumed run sees the same order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Dataset", "load_data", "batch_indices", "DATASETS"]

DATASETS = ("digits", "blobs")


@dataclass
class Dataset:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    image_shape: tuple     # (C, H, W) for image models

    @property
    def n_features(self) -> int:
        return int(self.x_train[0].numel())


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.data.astype(np.float32) / 16.0, d.target.astype(np.int64), (1, 8, 8)


def _blobs(n=1200, features=32, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.0, (classes, features))
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(0, 1.0, (n, features))
    return x.astype(np.float32), y.astype(np.int64), (1, 1, features)


def load_data(name: str = "digits", test_fraction: float = 0.2, split_seed: int = 0, outlier_channels: int = 0,
              outlier_scale: float = 1.0, scale_spread: float = 0.0) -> Dataset:
    if name == "digits":
        x, y, shape = _digits()
    elif name == "blobs":
        x, y, shape = _blobs(seed=split_seed)
    else:
        raise ValueError(f"data: name={name!r}; allowed: {', '.join(DATASETS)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"data: test_fraction={test_fraction!r} must be in (0, 1)")
    rng = np.random.default_rng(split_seed)
    if outlier_channels:
        if not 0 < outlier_channels <= x.shape[1]:
            raise ValueError(f"data: outlier_channels={outlier_channels} must be in 1..{x.shape[1]}")
        # the most informative (highest-variance) features become outliers, so clamping them hurts
        cols = np.argsort(-x.var(axis=0), kind="stable")[:outlier_channels]
        x = x.copy()
        x[:, cols] *= outlier_scale
    if scale_spread:
        x = x * np.exp2(rng.uniform(-scale_spread, scale_spread, (len(x), 1))).astype(np.float32)
    perm = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    te, tr = perm[:n_test], perm[n_test:]
    t = torch.from_numpy
    return Dataset(t(x[tr]), t(y[tr]), t(x[te]), t(y[te]), int(y.max()) + 1, shape)


def batch_indices(n: int, batch_size: int, seed: int, epoch: int, index: int) -> torch.Tensor:
    """Indices of batch `index` of `epoch` (the last batch of an epoch may be smaller)."""
    from lowbit.nn import derive_seed
    g = torch.Generator().manual_seed(derive_seed(seed, 0xDA7A, epoch))
    perm = torch.randperm(n, generator=g)
    return perm[index * batch_size:(index + 1) * batch_size]
