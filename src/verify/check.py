"""Check a design (lowbit's reference unit or the user's own module) against an operation's golden model.

    from lowbit.verify import check_unit
    rep = check_unit("fp_mul", "fp8_e4m3fn", sim="verilator")          # lowbit's hw/rtl/fp_mul.v
    rep = check_unit("fp_mul", "fp8_e4m3fn", sim="icarus", sources=["my_mul.v"], top="my_mul")
    print(rep.text()); assert rep.ok

The design must have the operation's ports (names and widths, listed by `lowbit verify --list` and in
docs/hw.md); user modules get no parameters unless `params` is given. Vectors stream through memory
files (stream.py); every output is compared with the golden values from `lowbit.numerics`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .ops import Unit, compare, get_unit
from .stream import build_stream, run_stream

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

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.vectors > 0

    def _value(self, port: str, v) -> str:
        if v is None:
            return "x (unknown bits)"
        txt = f"0x{v:x} ({v})"
        show = self.unit.show.get(port) if self.unit else None
        return f"{txt} = {show(v)}" if show else txt

    def text(self) -> str:
        head = (f"{self.op} [{self.fmt}] on {self.sim}, module {self.top}: {self.vectors} vectors, "
                f"{self.mismatches} mismatches")
        lines = [head + (" - PASS" if self.ok else " - FAIL")]
        for d in self.first:
            lines.append(f"  vector {d['index']}:")
            lines.append("    inputs   " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["inputs"].items()))
            lines.append("    expected " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["expected"].items()))
            lines.append("    got      " + ", ".join(f"{k}={self._value(k, v)}" for k, v in d["got"].items()))
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"op": self.op, "format": self.fmt, "simulator": self.sim, "module": self.top,
                "vectors": self.vectors, "mismatches": self.mismatches, "first": self.first,
                "seconds": self.seconds, "ok": self.ok}


def run_unit(unit: Unit, sim: str, vectors: dict, sources=None, top: str | None = None,
             params: dict | None = None, strict: bool | None = None) -> tuple[dict, dict]:
    """Build `unit` (or the user's `sources`/`top`) in its harness and stream `vectors` through it.
    Returns (outputs, seconds)."""
    t0 = time.perf_counter()
    own = sources is None
    srcs = unit.rtl_paths() if own else list(sources)
    top = unit.top if top is None else top
    prm = (unit.params if own else {}) if params is None else params
    sb = build_stream(sim, srcs, top, unit.inputs, unit.outputs, prm, unit.clock, unit.depth,
                      strict=own if strict is None else strict)
    t1 = time.perf_counter()
    out = run_stream(sb, vectors)
    return out, {"build": t1 - t0, "simulate": time.perf_counter() - t1}


def check_unit(op: str, fmt: str | None = None, sim: str = "icarus", sources=None, top: str | None = None,
               params: dict | None = None, seed: int = 0, quick: bool = False, limit: int = 5,
               check_ports: bool = True) -> Report:
    """Run operation `op` on format `fmt` through the design and compare with lowbit.numerics."""
    unit = get_unit(op, fmt)
    if sources is not None and check_ports:
        from .ports import check_ports as _check
        _check(unit, sources, top, params)
    t0 = time.perf_counter()
    vectors = unit.vectors(seed, quick)
    expected = unit.golden(vectors)
    t_gold = time.perf_counter() - t0
    got, secs = run_unit(unit, sim, vectors, sources, top, params)
    n_bad, first = compare(unit, vectors, got, expected, limit)
    n = len(next(iter(vectors.values())))
    return Report(op, unit.fmt, sim, top or unit.top, n, n_bad, first, {"golden": t_gold, **secs}, unit)
