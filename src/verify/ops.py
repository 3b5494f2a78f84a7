"""Operations a unit can be checked for: the port contract, the vectors and the golden model.

A `Unit` is one operation bound to one format (e.g. `fp_mul` for `fp8_e4m3fn`): the ports a design must
have (names and widths derived from the format), the parameters of lowbit's reference RTL for it, how to
make vectors (exhaustive where the data inputs total 16 bits or fewer, else seeded random vectors plus
the corner cases) and the golden outputs, which always come from `lowbit.numerics` functions.
The operations are listed explicitly in `_table()` (each ops_* module exports its `OPS`);
`get_unit(op, fmt, contract)` builds one. Float operations take a declared `Contract` (contract.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .harness import Port
from lowbit.numerics._resources import rtl_dir

__all__ = ["Unit", "OpSpec", "get_unit", "list_ops", "op_formats", "RTL_DIR", "compare", "fp_params"]

RTL_DIR = rtl_dir()


@dataclass(frozen=True)
class OpSpec:
    formats: tuple
    factory: Callable               # (fmt) -> Unit, or (fmt, contract) -> Unit when takes_contract
    doc: str = ""
    takes_contract: bool = False


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
    optional: tuple = ()            # inputs a user's module may leave out (the contract does not use them)
    operands: tuple = ()            # inputs that are float operands (for the mismatch triage)
    exact: Callable | None = None   # (vectors) -> float64 exact result of the operation (for the triage)
    contract: str = ""              # the declared contract in words, for reports
    reference_limit: str = ""       # why lowbit's own RTL cannot run this unit ("" if it can)

    def rtl_paths(self) -> list[Path]:
        return [RTL_DIR / f for f in self.rtl]

    def port(self, name: str) -> Port:
        for p in self.inputs + self.outputs:
            if p.name == name:
                return p
        raise KeyError(name)


def _table() -> dict[str, OpSpec]:
    """Every operation, from the modules that define them (imported here, not for side effects)."""
    from . import ops_float, ops_int, ops_lns, ops_mx
    return {**ops_float.OPS, **ops_int.OPS, **ops_mx.OPS, **ops_lns.OPS}


def list_ops() -> dict[str, str]:
    return {k: v.doc for k, v in _table().items()}


def op_formats(name: str) -> tuple[str, ...]:
    table = _table()
    if name not in table:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(table)}")
    return table[name].formats


def takes_contract(name: str) -> bool:
    op_formats(name)
    return _table()[name].takes_contract


def sweep_contract(op: str):
    """The full sweep (every mode and overflow policy) for operations with a contract, else None: what
    lowbit's reference float units implement and their tests, synthesis checks and benchmarks run."""
    from .contract import Contract
    return Contract.full_sweep() if takes_contract(op) else None


def get_unit(op: str, fmt: str | None = None, contract=None) -> Unit:
    """The Unit for operation `op` on format `fmt` (default: the operation's first format) under the
    declared `contract` (contract.Contract; None: the operation's default)."""
    from .contract import Contract
    formats = op_formats(op)
    fmt = formats[0] if fmt is None else fmt
    if fmt not in formats:
        raise ValueError(f"operation {op!r} is defined for formats {', '.join(formats)}; got {fmt!r}")
    spec = _table()[op]
    contract = Contract() if contract is None else contract
    if spec.takes_contract:
        return spec.factory(fmt, contract)
    if not contract.is_default():
        with_contract = ", ".join(k for k, v in _table().items() if v.takes_contract)
        raise ValueError(f"--rounding/--overflow/--subnormals/--tininess declare the contract of {with_contract}; "
                         f"{op} has a fixed one (see `lowbit verify --list`)")
    return spec.factory(fmt)


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


def port_format(port):
    """The FloatFormat of a port whose values are float codes ("code:<format>"), else None."""
    if not port.kind.startswith("code:"):
        return None
    from lowbit.numerics import FloatFormat, get_format
    f = get_format(port.kind[5:])
    return f if isinstance(f, FloatFormat) else None


def nan_mask(f, codes) -> np.ndarray:
    return np.isnan(np.asarray(f.decode(np.asarray(codes, dtype=np.int64)), dtype=np.float64))


def mismatch_mask(unit: Unit, vectors: dict, got: dict, expected: dict, nan_any: bool = False) -> np.ndarray:
    """Bool array: the vectors where an output the golden model cares about differs or has x/z bits.
    `nan_any`: a NaN code where a NaN is expected matches, whichever NaN code it is."""
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
        unknown = got.get(p.name + "__unknown", np.zeros(n, bool))
        f = port_format(p)
        if nan_any and f is not None and f.nan_code is not None and diff.any():
            both = np.zeros(n, bool)
            both[diff] = nan_mask(f, exp[diff].astype(np.int64)) & nan_mask(f, g[diff].astype(np.int64))
            diff &= ~both
        bad |= care & (diff | unknown)
    return bad


def compare(unit: Unit, vectors: dict, got: dict, expected: dict, limit: int = 5, nan_any: bool = False,
            shown=None):
    """(number of mismatching vectors, details of the first `limit`): a vector mismatches when any output
    it cares about differs from the golden value or has x/z bits. `shown`: the input ports to list in the
    details (default: all; a module without an optional port does not see its value)."""
    idx = np.flatnonzero(mismatch_mask(unit, vectors, got, expected, nan_any))
    return int(idx.size), [detail(unit, vectors, got, expected, int(i), shown) for i in idx[:limit]]


def detail(unit: Unit, vectors: dict, got: dict, expected: dict, i: int, shown=None) -> dict:
    """One vector's inputs, expected and got outputs (None: x/z bits or no output)."""
    n = len(next(iter(vectors.values())))
    return {"index": int(i),
            "inputs": {p.name: int(vectors[p.name][i]) for p in unit.inputs if shown is None or p.name in shown},
            "expected": {p.name: int(expected[p.name][i]) for p in unit.outputs},
            "got": {p.name: (None if got.get(p.name + "__unknown", np.zeros(n, bool))[i]
                             else int(got[p.name][i])) for p in unit.outputs}}
