"""Kahan-compensated accumulation and low-precision accumulators, with every operation rounded to a
given format ("Revisiting BFloat16 Training", Zamirai et al., 2020: the 16-bit-FPU setting).

Each add/subtract of two values of a format of at most 25 significand bits is computed exactly in float64
and rounded once. For round-to-nearest this equals rounding the exact result (double rounding through a
format of p >= 2q + 2 bits is innocuous: Figueroa, "When is double rounding innocuous?", 1995); for
directed and stochastic modes it is exact unless the operands' exponents differ by more than ~28, where
the float64 sum itself is inexact.
"""
from __future__ import annotations

import numpy as np

from ._arrays import _is_torch
from .format import DEFAULT_RBITS

__all__ = ["KahanAccumulator", "kahan_sum", "lowp_sum"]


def _generator(generator):
    import torch
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator()
    g.manual_seed(int(generator))
    return g


class KahanAccumulator:
    """Keeps (sum, compensation) in `fmt`: y = u - c; t = w + y; c = (t - w) - y; w = t, each op rounded.

    Works on torch tensors (any shape). Stochastic rounding draws a fresh stream per operation from
    one seeded torch.Generator, so a run is reproducible from its seed.
    """

    def __init__(self, fmt, init, rounding="nearest_even", generator=None, rbits: int = DEFAULT_RBITS,
                 comp=None, on_grid: bool = False):
        """`comp` starts the compensation (default zeros). `on_grid=True` promises that `init` (and
        `comp`) already hold values of `fmt`: quantizing them again would return them unchanged in every
        rounding mode, so that call is skipped (the optimizer's per-step accumulator)."""
        import torch
        from .registry import get_format
        self.fmt = get_format(fmt)
        self.rounding, self.rbits = rounding, rbits
        # a generator only matters for stochastic rounding (and costs a torch.Generator per accumulator)
        self.generator = _generator(generator) if str(getattr(rounding, "value", rounding)) == "stochastic" else None
        init = torch.as_tensor(init, dtype=torch.float64)
        self.sum = init if on_grid else self._q(init)
        self.comp = (torch.zeros_like(self.sum) if comp is None else
                     self._fit(torch.as_tensor(comp, dtype=torch.float64), on_grid))

    def _q(self, x):
        return self.fmt.quantize(x, rounding=self.rounding, generator=self.generator, rbits=self.rbits)

    def _fit(self, x, on_grid):
        return x if on_grid else self._q(x)

    def add(self, u, on_grid: bool = False):
        """Add u (rounded to the format first unless `on_grid` promises it is already a value of it)."""
        import torch
        u = self._fit(torch.as_tensor(u, dtype=torch.float64), on_grid)
        y = self._q(u - self.comp)
        t = self._q(self.sum + y)
        self.comp = self._q(self._q(t - self.sum) - y)
        self.sum = t
        return self.sum

    @property
    def value(self):
        return self.sum


def kahan_sum(values, fmt, init=0.0, rounding="nearest_even", generator=None, rbits: int = DEFAULT_RBITS):
    """Sum a sequence (iterable of tensors/scalars) into a Kahan accumulator in `fmt`."""
    acc = KahanAccumulator(fmt, init, rounding, generator, rbits)
    for u in values:
        acc.add(u)
    return acc.sum


def lowp_sum(x, fmt, axis: int = -1, block: int | None = None, promote_fmt="fp32",
             rounding="nearest_even", generator=None, rbits: int = DEFAULT_RBITS):
    """Emulate summing `x` along `axis` in an accumulator of format `fmt`, adding one term at a time
    (each partial sum rounded to `fmt`). With `block`=K, every K terms the partial sum is added into a
    `promote_fmt` accumulator and the low-precision one restarts (the promotion interval of fp8 GEMMs).
    Returns float64 values (numpy, or a torch tensor on x's device if x is a tensor)."""
    from .registry import get_format
    f = get_format(fmt)
    pf = get_format(promote_fmt) if block else None
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 1):
        raise ValueError(f"block must be a positive integer or None, got {block!r}")
    g = _generator(generator)
    if _is_torch(x):
        # on the tensor's device: each partial sum rounds where the tensor lives (no host round trip)
        import torch
        arr = torch.movedim(x.detach().double(), axis, -1)
        q = lambda v, ff: ff.quantize(v, rounding=rounding, generator=g, rbits=rbits).double()
        zeros = lambda: torch.zeros(arr.shape[:-1], dtype=torch.float64, device=arr.device)
    else:
        arr = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
        q = lambda v, ff: np.asarray(ff.quantize(v, rounding=rounding, generator=g, rbits=rbits), dtype=np.float64)
        zeros = lambda: np.zeros(arr.shape[:-1])
    acc, total = zeros(), zeros()
    for i in range(arr.shape[-1]):   # the terms in order: the accumulation is sequential by definition
        acc = q(acc + arr[..., i], f)
        if block and (i + 1) % block == 0:
            total = q(total + acc, pf)
            acc = zeros()
    return q(total + acc, pf) if block else acc
