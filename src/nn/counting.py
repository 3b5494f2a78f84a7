"""Op counting: what one training step executed, as a `lowbit.sim.Workload` (the simulator's input).

Quantized layers report every GEMM (shape in the SCALE-Sim convention of sim/workload.py, operand,
accumulator and result formats, phase), the bytes of every tensor class they read or write, and the
optimizers report their elementwise update work and the number of weights written. The counter is
switched on for one step (`with counting(model) as c:`) because shapes repeat from step to step.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

__all__ = ["OpCounter", "counting"]


def _bits(fmt: str) -> float:
    from lowbit.numerics import get_format
    return float(get_format(fmt).bits)


class OpCounter:
    def __init__(self, name: str = "step"):
        self.name = name
        self.gemms: list[tuple] = []          # (layer, name, phase, m, n, k, a_fmt, b_fmt, acc_fmt, out_fmt, count)
        self.elementwise_ops: list[tuple] = []  # (layer, name, count, op, fmt)
        self.bytes: dict[tuple, int] = {}     # (layer, tensor_class) -> bytes
        self.weight_writes = 0
        self.notes: set = set()               # e.g. block formats that had to zero-pad a reduction dim
        self.extra: list = []                 # lowbit.sim items recorded directly (optimizer update work)

    # ---- recording ----
    def gemm(self, layer, name, phase, m, n, k, a_fmt, b_fmt, acc_fmt, out_fmt, count=1):
        self.gemms.append((layer, name, phase, int(m), int(n), int(k), a_fmt, b_fmt, acc_fmt, out_fmt, int(count)))

    def tensor(self, layer, tensor_class, numel, fmt):
        key = (layer, tensor_class)
        self.bytes[key] = self.bytes.get(key, 0) + math.ceil(numel * _bits(fmt) / 8)

    def elementwise(self, layer, name, count, op, fmt):
        if count:
            self.elementwise_ops.append((layer, name, int(count), op, fmt))

    def writes(self, n: int):
        self.weight_writes += int(n)

    # ---- summaries ----
    @property
    def macs_by_format(self) -> dict:
        out: dict[str, int] = {}
        for (_, _, _, m, n, k, a, b, _, _, c) in self.gemms:
            key = f"{a}x{b}"
            out[key] = out.get(key, 0) + m * n * k * c
        return out

    @property
    def bytes_by_class(self) -> dict:
        out: dict[str, int] = {}
        for (_, cls), v in self.bytes.items():
            out[cls] = out.get(cls, 0) + v
        return out

    def summary(self) -> dict:
        return {"macs_by_format": self.macs_by_format, "bytes_by_class": self.bytes_by_class,
                "weight_writes": self.weight_writes, "gemms": len(self.gemms),
                "notes": sorted(self.notes)}

    def workload(self):
        """The step as a `lowbit.sim.Workload` (GEMMs, elementwise update work, transfers)."""
        from lowbit.sim import Elementwise, Gemm, Transfer, Workload
        items = [Gemm(name, m, n, k, a, b, acc, phase, count, layer, out)
                 for (layer, name, phase, m, n, k, a, b, acc, out, count) in self.gemms]
        items += [Elementwise(name, count, op, fmt, layer) for (layer, name, count, op, fmt) in self.elementwise_ops]
        cls_map = {"input": "activation", "output": "activation"}
        items += [Transfer(f"{layer}.{cls}", nbytes, cls_map.get(cls, cls), "sram", layer)
                  for (layer, cls), nbytes in self.bytes.items() if nbytes]
        items += list(self.extra)
        return Workload(tuple(items), name=self.name, weight_updates=self.weight_writes)


@contextmanager
def counting(model, name: str = "step"):
    """Count the ops of the quantized layers of `model` (and of optimizers given the counter) inside."""
    from .convert import get_context
    ctx = get_context(model)
    c = OpCounter(name)
    ctx.counter = c
    try:
        yield c
    finally:
        ctx.counter = None
