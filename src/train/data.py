"""Data sets that ship with a package (no downloads) and deterministic batching.

- `digits`: scikit-learn's copy of the UCI optical handwritten digits (1797 8x8 images, 10 classes;
  Alpaydin & Kaynak 1998), pixels scaled to [0, 1], a fixed stratified-free seeded split.
- `blobs`: a synthetic Gaussian-mixture classification task (for tiny tests).
Outlier channels can be injected (`outlier_channels`, `outlier_scale`): those input features are
multiplied by a large factor, the setting of the FP4 paper's outlier clamping study. `scale_spread` s
multiplies each sample by 2^u, u uniform in [-s, s] (a wide dynamic range across tokens: what one
per-tensor scale handles badly and per-block / per-token scales handle well).
Batches are drawn from a permutation derived from (seed, epoch), so a resumed run sees the same order.

Text (`data: {kind: text}`, for the `gpt` model): byte-level tokens (vocabulary 256).
- Built-in corpus (no `path`): the source text of a fixed list of standard-library modules of the
  running interpreter (`STDLIB_MODULES`, read from `sysconfig.get_paths()["stdlib"]` in that order; a
  module missing from this Python version is skipped and listed). Each file is split on its own: its
  first (1 - test_fraction) of bytes go to training, the rest to validation; the parts are concatenated
  in list order. Size and sha256 of the corpus (all files, in order) are reported with every run,
  because the text differs between Python versions.
- A user's file (`path: FILE`, any bytes, e.g. UTF-8 text): the first (1 - test_fraction) of its bytes
  train, the rest validate.
Training batches are `batch_size` windows of context+1 bytes at offsets drawn from a generator seeded by
(seed, step); validation is a fixed slice: the first `eval_bytes` bytes of the validation part cut into
non-overlapping windows (every byte after the first of a window is predicted once).
"""
from __future__ import annotations

import hashlib
import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["Dataset", "TextData", "load_data", "load_text", "batch_indices", "DATASETS", "STDLIB_MODULES",
           "check_text_file"]

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


# The built-in text corpus: these standard-library modules, in this order (each `NAME.py`, or
# `NAME/__init__.py` for a package). About 1.9 MB of Python source on CPython 3.11.
STDLIB_MODULES = ("argparse", "ast", "bisect", "calendar", "collections", "configparser", "contextlib", "csv",
                  "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools", "heapq",
                  "inspect", "ipaddress", "json/decoder", "json/encoder", "logging", "os", "pathlib", "pickle",
                  "pprint", "random", "re/_parser", "shutil", "statistics", "string", "subprocess", "tarfile",
                  "textwrap", "threading", "tokenize", "typing", "unittest/case", "zipfile")


@dataclass
class TextData:
    """A byte corpus split into train / validation (uint8 tensors) and what it is."""
    train: torch.Tensor
    val: torch.Tensor
    source: str                    # "stdlib" or the user's path
    size: int                      # bytes in the whole corpus
    sha256: str                    # of the whole corpus (files concatenated in order)
    files: list = field(default_factory=list)
    missing: list = field(default_factory=list)

    def info(self) -> dict:
        return {"source": self.source, "bytes": self.size, "sha256": self.sha256, "train_bytes": len(self.train),
                "val_bytes": len(self.val), "files": list(self.files), "missing": list(self.missing)}

    def batch(self, batch_size: int, context: int, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) int64 (batch_size, context): windows at offsets drawn from (seed, step); y = x shifted by 1."""
        from lowbit.nn import derive_seed
        g = torch.Generator().manual_seed(derive_seed(seed, 0x7E47, step))
        off = torch.randint(0, len(self.train) - context, (batch_size,), generator=g)
        w = torch.stack([self.train[o:o + context + 1] for o in off.tolist()]).long()
        return w[:, :-1], w[:, 1:]

    def eval_windows(self, context: int, eval_bytes: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed validation slice as (x, y) windows (at least one window)."""
        n = max(1, min(eval_bytes, len(self.val) - 1) // context)
        n = min(n, (len(self.val) - 1) // context)
        w = torch.stack([self.val[i * context:i * context + context + 1] for i in range(n)]).long()
        return w[:, :-1], w[:, 1:]


def _stdlib_bytes():
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, files, missing = [], [], []
    for name in STDLIB_MODULES:
        for cand in (root / f"{name}.py", root / name / "__init__.py"):
            if cand.is_file():
                parts.append(cand.read_bytes())
                files.append(str(cand.relative_to(root)))
                break
        else:
            missing.append(name)
    return parts, files, missing


def check_text_file(path, context: int, test_fraction: float):
    """Raise a one-line error for a text file that is missing, empty or too short for `context`."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"data: path={str(path)!r} does not exist")
    if not p.is_file():
        raise ValueError(f"data: path={str(path)!r} is not a file")
    n = os.path.getsize(p)
    if n == 0:
        raise ValueError(f"data: path={str(path)!r} is empty")
    n_val = n - int(n * (1 - test_fraction))
    need = context + 2
    if n - n_val < need or n_val < need:
        raise ValueError(f"data: path={str(path)!r} has {n} bytes: too short for context={context} with "
                         f"test_fraction={test_fraction} (training and validation parts need > {context + 1} "
                         f"bytes each, i.e. about {int(need / min(test_fraction, 1 - test_fraction)) + 1} bytes)")


def load_text(path: str | None = None, test_fraction: float = 0.1, context: int = 128) -> TextData:
    """The built-in standard-library corpus (path None) or the bytes of `path`, split as the module says."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"data: test_fraction={test_fraction!r} must be in (0, 1)")
    if path is None:
        parts, files, missing = _stdlib_bytes()
        if not parts:
            raise FileNotFoundError(f"data: none of the standard-library modules of the built-in corpus were found "
                                    f"under {sysconfig.get_paths()['stdlib']!r}")
        source = "stdlib"
    else:
        check_text_file(path, context, test_fraction)
        parts, files, missing = [Path(path).read_bytes()], [str(path)], []
        source = str(path)
    tr, va = [], []
    for b in parts:
        cut = int(len(b) * (1 - test_fraction))
        tr.append(b[:cut])
        va.append(b[cut:])
    whole = b"".join(parts)
    train, val = b"".join(tr), b"".join(va)
    if len(train) < context + 2 or len(val) < context + 2:
        raise ValueError(f"data: the corpus ({len(whole)} bytes) is too short for context={context}")
    u8 = lambda b: torch.frombuffer(bytearray(b), dtype=torch.uint8)   # noqa: E731
    return TextData(u8(train), u8(val), source, len(whole), hashlib.sha256(whole).hexdigest(), files, missing)
