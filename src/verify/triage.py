"""Mismatch triage: group the mismatching vectors of a check into classes a hardware engineer reads at a
glance ("subnormal/tiny result: got Inf  x 14,466"), with a count and the first example of each.

A class is "<where>: <what>" for units whose outputs are float codes:
- where (from the operands and the exact result, first that applies): "NaN encoding" (both NaN, other
  code), "NaN/Inf operand", "subnormal operand", "overflow" (|exact| above the format's max), "subnormal/
  tiny result" (0 < |exact| < min normal), "zero result", "rounding carry into the exponent" (the expected
  result is a power of two that the exact value was rounded up to: a lost carry shows here), "normal result";
  units without operand information use the expected value alone ("NaN result", "Inf result", ...).
- what (the output against the expected one): "x/z bits or no output", "got NaN", "got Inf", "got zero",
  "wrong sign of zero", "wrong sign", "off by one ulp", "got a subnormal", "larger error".
Other outputs (integers, LNS codes) get "<port>: x/z bits or no output" or "<port>: wrong value".
"""
from __future__ import annotations

import numpy as np

from .ops import Unit, detail, port_format

__all__ = ["triage"]


def _decode(f, codes) -> np.ndarray:
    return np.asarray(f.decode(np.asarray(codes, dtype=np.int64)), dtype=np.float64)


class _FirstMatch:
    """Labels assigned in priority order: each vector keeps the first label whose mask holds for it."""

    def __init__(self, n: int, default: str):
        self.labels = np.full(n, default, dtype=object)
        self.done = np.zeros(n, bool)

    def put(self, mask, label: str) -> None:
        m = np.asarray(mask, bool) & ~self.done
        self.labels[m] = label
        self.done |= m


def _where(unit: Unit, f, vectors: dict, idx: np.ndarray, e: np.ndarray, g: np.ndarray) -> np.ndarray:
    first = _FirstMatch(idx.size, "normal result")
    put = first.put
    put(np.isnan(e) & np.isnan(g), "NaN encoding (both NaN, another code)")
    if unit.operands and unit.exact is not None:
        ops = [_decode(f, np.asarray(vectors[p])[idx]) for p in unit.operands]
        put(np.any([~np.isfinite(x) for x in ops], axis=0), "NaN/Inf operand")
        put(np.any([(x != 0) & (np.abs(x) < f.min_normal) for x in ops], axis=0), "subnormal operand")
        x = np.asarray(unit.exact({p: np.asarray(vectors[p])[idx] for p in unit.operands}), dtype=np.float64)
        ax = np.abs(x)
        put(~np.isfinite(x) | (ax > f.max), "overflow")
        put((ax > 0) & (ax < f.min_normal), "subnormal/tiny result")
        put(ax == 0, "zero result")
        with np.errstate(all="ignore"):
            m, _ = np.frexp(np.abs(e))
        put(np.isfinite(e) & (m == 0.5) & (np.abs(e) >= f.min_normal) & (ax < np.abs(e)),
            "rounding carry into the exponent")
    else:
        put(np.isnan(e), "NaN result")
        put(np.isinf(e), "Inf result")
        put((e != 0) & (np.abs(e) < f.min_normal), "subnormal result")
        put(e == 0, "zero result")
    return first.labels


def _what(f, exp_codes, got_codes, e, g) -> np.ndarray:
    first = _FirstMatch(e.size, "larger error")
    put = first.put
    sign = 1 << (f.bits - 1)
    mag_e, mag_g = exp_codes & (sign - 1), got_codes & (sign - 1)
    put(np.isnan(e) & np.isnan(g), "")
    put(np.isnan(g), "got NaN")
    put(np.isinf(g), "got Inf")
    put((g == 0) & (e == 0), "wrong sign of zero")
    put((g == 0) & (e != 0), "got zero")
    put(np.signbit(g) != np.signbit(e), "wrong sign")
    put(np.isfinite(e) & (np.abs(mag_e.astype(np.int64) - mag_g.astype(np.int64)) == 1), "off by one ulp")
    put((np.abs(g) < f.min_normal) & (np.abs(e) >= f.min_normal), "got a subnormal")
    return first.labels


def _classes_of_port(unit, p, vectors, got, expected, idx) -> np.ndarray:
    n_all = len(next(iter(vectors.values())))
    unknown = np.asarray(got.get(p.name + "__unknown", np.zeros(n_all, bool)))[idx]
    exp = np.asarray(expected[p.name])[idx]
    g = np.asarray(got[p.name])[idx]
    f = port_format(p)
    prefix = "" if len(unit.outputs) == 1 else f"{p.name}: "
    if f is None:
        diff = np.array([int(a) != int(b) for a, b in zip(exp, g)], dtype=bool)
        out = np.where(unknown, "x/z bits or no output", np.where(diff, "wrong value", ""))
        return np.array([prefix + c if c else "" for c in out], dtype=object)
    ec, gc = exp.astype(np.int64), np.where(unknown, 0, g).astype(np.int64)
    e, gv = _decode(f, ec), _decode(f, gc)
    where = _where(unit, f, vectors, idx, e, gv)
    what = _what(f, ec, gc, e, gv)
    out = np.empty(idx.size, dtype=object)
    for i in range(idx.size):
        if unknown[i]:
            out[i] = prefix + "x/z bits or no output"
        elif ec[i] == gc[i]:
            out[i] = ""
        else:
            out[i] = prefix + where[i] + (f": {what[i]}" if what[i] else "")
    return out


def triage(unit: Unit, vectors: dict, got: dict, expected: dict, bad: np.ndarray, shown=None) -> list[dict]:
    """[{"class", "count", "example": detail of its first vector}] for the mismatching vectors (bool mask
    `bad`), the largest class first. A vector counts once: in the class of its first differing output."""
    idx = np.flatnonzero(bad)
    if idx.size == 0:
        return []
    label = np.full(idx.size, "", dtype=object)
    n_all = len(next(iter(vectors.values())))
    for p in unit.outputs:
        care = np.asarray(expected.get(p.name + "__care", np.ones(n_all, bool)), dtype=bool)[idx]
        lab = _classes_of_port(unit, p, vectors, got, expected, idx)
        take = (label == "") & care & (lab != "")
        label[take] = lab[take]
    label[label == ""] = "unclassified"
    names, first, counts = np.unique(label.astype(str), return_index=True, return_counts=True)
    order = sorted(range(len(names)), key=lambda k: (-counts[k], first[k]))
    return [{"class": str(names[k]), "count": int(counts[k]),
             "example": detail(unit, vectors, got, expected, int(idx[first[k]]), shown)} for k in order]
