"""Check a design (lowbit's reference unit or the user's own module) against an operation's golden model.

    from lowbit.verify import Contract, Timing, check_unit
    rep = check_unit("fp_mul", "fp8_e4m3fn", sim="verilator")          # lowbit's hw/rtl/fp_mul.v, RNE
    rep = check_unit("fp_mul", "bf16", sim="icarus", sources=["my_mul.sv"], top="my_mul",
                     contract=Contract(subnormals="ftz_daz", tininess="before", nan="any"),
                     timing=Timing(clock="clk", latency=3, reset="rst_n", reset_active=0))
    print(rep.text()); assert rep.ok

The design must have the operation's ports (names and widths, listed by `lowbit verify --list` and in
docs/hw.md) except those its contract does not use; user modules get no parameters unless `params` is
given. Vectors stream through memory files (stream.py); every output is compared with the golden values
from `lowbit.numerics`, and the mismatches are grouped into classes (triage.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .contract import Contract, Timing
from .ops import Unit, compare, get_unit, mismatch_mask
from .stream import build_stream, run_stream
from .triage import triage

__all__ = ["Report", "check_unit", "run_unit"]


@dataclass
class Report:
    op: str
    fmt: str
    sim: str
    top: str
    vectors: int
    mismatches: int
    first: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    unit: Unit | None = None
    classes: list = field(default_factory=list)
    contract: str = ""
    outputs_seen: int | None = None

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.vectors > 0

    def _value(self, port: str, v) -> str:
        if v is None:
            return "x (unknown bits, or no output)"
        txt = f"0x{v:x} ({v})"
        show = self.unit.show.get(port) if self.unit else None
        return f"{txt} = {show(v)}" if show else txt

    def _vector(self, d: dict, indent: str = "    ") -> list[str]:
        lines = [indent + "inputs   " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["inputs"].items()),
                 indent + "expected " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["expected"].items()),
                 indent + "got      " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["got"].items())]
        for k, v in d["expected"].items():
            g = d["got"].get(k)
            show = self.unit.show.get(k) if self.unit else None
            if show and g is not None and g != v and show(v) == "NaN" and show(g) == "NaN":
                lines.append(indent + f"note     {k}: both are NaN, with different codes (expected 0x{v:x}, got "
                             f"0x{g:x}); --nan any accepts any NaN code")
        return lines

    def text(self) -> str:
        head = (f"{self.op} [{self.fmt}] on {self.sim}, module {self.top}: {self.vectors} vectors, "
                f"{self.mismatches} mismatches")
        lines = [head + (" - PASS" if self.ok else " - FAIL")]
        if self.contract:
            lines.append(f"  contract: {self.contract}")
        if self.outputs_seen is not None and self.outputs_seen < self.vectors:
            lines.append(f"  only {self.outputs_seen} of {self.vectors} outputs came out (valid_out)")
        if self.classes:
            lines.append("  mismatches by class:")
            width = max(len(f"{c['count']:,}") for c in self.classes)
            for c in self.classes:
                lines.append(f"    {c['count']:>{width},} x {c['class']}   (e.g. vector {c['example']['index']})")
        for d in self.first:
            lines.append(f"  vector {d['index']}:")
            lines += self._vector(d)
        if len(self.classes) > 1:
            lines.append("  one example of each class:")
            for c in self.classes:
                lines.append(f"  {c['class']} - vector {c['example']['index']}:")
                lines += self._vector(c["example"])
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"op": self.op, "format": self.fmt, "simulator": self.sim, "module": self.top,
                "contract": self.contract, "vectors": self.vectors, "mismatches": self.mismatches,
                "classes": self.classes, "first": self.first, "outputs_seen": self.outputs_seen,
                "seconds": self.seconds, "ok": self.ok}


def run_unit(unit: Unit, sim: str, vectors: dict, sources=None, top: str | None = None,
             params: dict | None = None, strict: bool | None = None, inputs=None, timing: Timing | None = None,
             sv: bool | None = None, includes=(), defines: dict | None = None) -> tuple[dict, dict]:
    """Build `unit` (or the user's `sources`/`top`) in its harness and stream `vectors` through it.
    `inputs`: the input ports to drive (default: all of the unit's). Returns (outputs, seconds)."""
    t0 = time.perf_counter()
    own = sources is None
    srcs = unit.rtl_paths() if own else list(sources)
    top = unit.top if top is None else top
    prm = (unit.params if own else {}) if params is None else params
    ins = unit.inputs if inputs is None else tuple(inputs)
    sb = build_stream(sim, srcs, top, ins, unit.outputs, prm, unit.clock, unit.depth,
                      strict=own if strict is None else strict, timing=timing, sv=sv, includes=includes,
                      defines=defines)
    t1 = time.perf_counter()
    out = run_stream(sb, {p.name: vectors[p.name] for p in ins})
    return out, {"build": t1 - t0, "simulate": time.perf_counter() - t1}


def _subset(unit: Unit, vectors: dict, k: int, seed: int) -> dict:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"max_vectors must be a positive integer, got {k!r}")
    if unit.clock:
        raise ValueError(f"max_vectors: {unit.op} keeps state between vectors (clock {unit.clock}); a subset "
                         "would break its sequences")
    n = len(next(iter(vectors.values())))
    if k >= n:
        return vectors
    pick = np.sort(np.random.default_rng(seed + 17).choice(n, size=k, replace=False))
    return {name: np.asarray(v)[pick] for name, v in vectors.items()}


def check_unit(op: str, fmt: str | None = None, sim: str = "icarus", sources=None, top: str | None = None,
               params: dict | None = None, seed: int = 0, quick: bool = False, limit: int = 5,
               check_ports: bool = True, contract: Contract | None = None, timing: Timing | None = None,
               sv: bool | None = None, includes=(), defines: dict | None = None,
               max_vectors: int | None = None) -> Report:
    """Run operation `op` on format `fmt` through the design and compare with lowbit.numerics.

    contract: what the unit claims (rounding modes, overflow, subnormals, NaN codes; default: round to
    nearest even, the format's default overflow, IEEE subnormals, the exact NaN code). timing: clock,
    latency, reset and valid ports of a sequential unit. sv/includes/defines: how to compile the sources
    (default sv: by file extension). max_vectors: a seeded random subset of that many vectors, in order
    (units without state only). Raises ValueError for bad input (also for a contract or format that
    lowbit's own unit does not implement when no `sources` are given)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed!r}")
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"--show must be a non-negative integer (mismatches to print), got {limit!r}")
    contract = Contract() if contract is None else contract
    unit = get_unit(op, fmt, contract)
    if (top is None) != (sources is None):
        raise ValueError("give both sources and top (your module), or neither (lowbit's reference unit)")
    if sources is None:
        if unit.reference_limit:
            raise ValueError(f"lowbit's reference {op} cannot run {unit.fmt} ({unit.reference_limit}); check "
                             "your own module with --rtl/--top")
        if timing is not None and timing.sequential:
            raise ValueError("--clock/--latency describe your module: give --rtl and --top")
    inputs = unit.inputs
    if sources is not None:
        from .build import is_systemverilog
        from .ports import check_params
        from .ports import check_ports as _check
        sv = is_systemverilog(sources) if sv is None else bool(sv)
        if params:
            check_params(sources, top, params)
        present = set(unit.optional)
        if check_ports:
            present = set(_check(unit, sources, top, params, unit.optional, timing, sv, includes, defines))
        inputs = tuple(p for p in unit.inputs if p.name not in unit.optional or p.name in present)
    t0 = time.perf_counter()
    vectors = unit.vectors(int(seed), quick)
    if max_vectors is not None:
        vectors = _subset(unit, vectors, max_vectors, int(seed))
    expected = unit.golden(vectors)
    t_gold = time.perf_counter() - t0
    got, secs = run_unit(unit, sim, vectors, sources, top, params, inputs=inputs, timing=timing, sv=sv,
                         includes=includes, defines=defines)
    nan_any = contract.nan == "any"
    t1 = time.perf_counter()
    shown = [p.name for p in inputs]
    n_bad, first = compare(unit, vectors, got, expected, int(limit), nan_any, shown)
    classes = triage(unit, vectors, got, expected, mismatch_mask(unit, vectors, got, expected, nan_any),
                     shown) if n_bad else []
    n = len(next(iter(vectors.values())))
    secs["compare"] = time.perf_counter() - t1
    seen = int(got["__count"]) if "__count" in got else None
    return Report(op, unit.fmt, sim, top or unit.top, n, n_bad, first, {"golden": t_gold, **secs}, unit,
                  classes, unit.contract, seen)
