"""Operations a unit can be checked for: the port contract, the vectors and the golden model.

A `Unit` is one operation bound to one format (e.g. `fp_mul` for `fp8_e4m3fn`): the ports a design must
have (names and widths derived from the format), the parameters of lowbit's reference RTL for it, how to
make vectors (exhaustive where the data inputs total 16 bits or fewer, else seeded random vectors plus
the corner cases) and the golden outputs, which always come from `lowbit.numerics` functions.
Operations register themselves with `register_op(name, formats, factory)`; `get_unit(op, fmt)` builds one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .harness import Port

__all__ = ["Unit", "register_op", "get_unit", "list_ops", "op_formats", "RTL_DIR", "compare", "fp_params"]

RTL_DIR = Path(__file__).resolve().parents[2] / "hw" / "rtl"
_OPS: dict[str, tuple[tuple[str, ...], Callable, str]] = {}


@dataclass(frozen=True)
class Unit:
    op: str
    fmt: str
    inputs: tuple
    outputs: tuple
    params: dict
    rtl: tuple                      # lowbit's reference sources (file names in hw/rtl)
    top: str                        # lowbit's reference module
    vectors: Callable               # (seed: int, quick: bool) -> {input port: int array}
    golden: Callable                # (vectors) -> {output: int array[, output + "__care": bool array]}
    clock: str | None = None
    depth: int = 65536
    doc: str = ""
    show: dict = field(default_factory=dict)   # port -> callable(code) -> str, for reports

    def rtl_paths(self) -> list[Path]:
        return [RTL_DIR / f for f in self.rtl]

    def port(self, name: str) -> Port:
        for p in self.inputs + self.outputs:
            if p.name == name:
                return p
        raise KeyError(name)


def register_op(name: str, formats, factory: Callable, doc: str = "") -> None:
    _OPS[name] = (tuple(formats), factory, doc)


def list_ops() -> dict[str, str]:
    _load()
    return {k: v[2] for k, v in _OPS.items()}


def op_formats(name: str) -> tuple[str, ...]:
    _load()
    if name not in _OPS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(_OPS)}")
    return _OPS[name][0]


def get_unit(op: str, fmt: str | None = None) -> Unit:
    """The Unit for operation `op` on format `fmt` (default: the operation's first format)."""
    formats = op_formats(op)
    fmt = formats[0] if fmt is None else fmt
    if fmt not in formats:
        raise ValueError(f"operation {op!r} is defined for formats {', '.join(formats)}; got {fmt!r}")
    return _OPS[op][1](fmt)


def _load():
    # The operation modules register themselves on import.
    import importlib
    for name in ("ops_float", "ops_int", "ops_mx", "ops_lns"):
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:  # an operation module (or what it needs) is not there yet
            if exc.name not in (f"{__package__}.{name}", "lowbit.numerics.lns"):
                raise


_POLICY_ID = {"ieee": 0, "fn": 1, "none": 2}


def fp_params(fmt) -> dict:
    """Verilog parameters (EBITS, MBITS, BIAS, POLICY) of a lowbit FloatFormat: the one place the RTL's
    format parameters come from."""
    from lowbit.numerics import FloatFormat, get_format
    f = get_format(fmt)
    if not isinstance(f, FloatFormat) or not f.signed or f.policy not in _POLICY_ID:
        got = f"{'unsigned ' if not f.signed else ''}policy {f.policy}" if isinstance(f, FloatFormat) else f"a {f.kind} format"
        raise ValueError(f"{f.name}: the float RTL takes signed formats with policy ieee, fn or none; got {got}")
    return {"EBITS": f.ebits, "MBITS": f.mbits, "BIAS": f.bias, "POLICY": _POLICY_ID[f.policy]}


def compare(unit: Unit, vectors: dict, got: dict, expected: dict, limit: int = 5):
    """(number of mismatching vectors, details of the first `limit`): a vector mismatches when any output
    it cares about differs from the golden value or has x/z bits."""
    n = len(next(iter(vectors.values()))) if vectors else 0
    bad = np.zeros(n, dtype=bool)
    for p in unit.outputs:
        exp = np.asarray(expected[p.name])
        g = got[p.name]
        care = np.asarray(expected.get(p.name + "__care", np.ones(n, bool)), dtype=bool)
        if exp.dtype == object or g.dtype == object:
            diff = np.array([int(x) != int(y) for x, y in zip(exp, g)], dtype=bool)
        else:
            diff = exp.astype(np.uint64) != g.astype(np.uint64)
        bad |= care & (diff | got.get(p.name + "__unknown", np.zeros(n, bool)))
    idx = np.flatnonzero(bad)
    details = []
    for i in idx[:limit]:
        details.append({"index": int(i),
                        "inputs": {p.name: int(vectors[p.name][i]) for p in unit.inputs},
                        "expected": {p.name: int(expected[p.name][i]) for p in unit.outputs},
                        "got": {p.name: (None if got.get(p.name + "__unknown", np.zeros(n, bool))[i]
                                         else int(got[p.name][i])) for p in unit.outputs}})
    return int(idx.size), details
