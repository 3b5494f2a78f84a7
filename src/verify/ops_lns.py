"""LNS operations: `lns_mul` and the bucketed dot product `lns_dot` (the LNS-Madam PE).

Golden models: `lowbit.numerics.lns.lns_mul`, `lns_dot` (the exact fixed-point sum) and `lns_dot_code`
(its back-conversion), with the table width F = `default_frac_bits(fmt)` and optional Mitchell bits
(`<fmt>_mitchell<b>`). Ports (B = format bits):
  lns_mul  a_i[B], b_i[B] -> y_o[B]
  lns_dot  clk_i, rst_i, en_i, a_i[B], b_i[B] -> acc_o[AW], y_o[B]   (one pair per enabled clock)
"""
from __future__ import annotations

import math
import re

import numpy as np

from .harness import Port
from .ops import OpSpec, Unit

KBITS = 6          # the dot unit's pair counter: up to 63 pairs per dot product
STEPS = 40         # pair slots per dot product in the vectors


def _fmt(name):
    from lowbit.numerics import LNSFormat, get_format
    m = re.fullmatch(r"(lns\d+)(?:_mitchell(\d+))?", name)
    if not m:
        raise ValueError(f"LNS unit format {name!r}: use lns8, lns16 or <fmt>_mitchell<bits>")
    f = get_format(m[1])
    if not isinstance(f, LNSFormat):
        raise ValueError(f"{m[1]} is not an LNS format")
    return f, int(m[2] or 0)


def _corners(f) -> np.ndarray:
    """Zero, NaN, +-1, the smallest and largest magnitudes and codes around the bias."""
    mags = [1, 2, f.qbias * f.gamma - 1, f.qbias * f.gamma, f.qbias * f.gamma + 1, f.max_mag - 1, f.max_mag]
    out = [0, f.nan_code] + mags + [m | f.nan_code for m in mags]
    return np.unique(np.asarray(out, dtype=np.int64))


def lns_mul_unit(fmt):
    from lowbit.numerics.lns import lns_mul
    f, mb = _fmt(fmt)
    if mb:
        raise ValueError("lns_mul has no Mitchell variant; use lns8 or lns16")
    b = f.bits

    def vectors(seed, quick):
        if b <= 8:  # every pair
            idx = np.arange(1 << (2 * b), dtype=np.int64)
            return {"a_i": idx & ((1 << b) - 1), "b_i": idx >> b}
        rng = np.random.default_rng(seed)
        c = _corners(f)
        ca, cb = np.meshgrid(c, c)
        n = 20000 if quick else 80000
        a, bb = rng.integers(0, 1 << b, n), rng.integers(0, 1 << b, n)
        # Sums near both saturation ends.
        near = rng.integers(0, 1 << b, n // 4)
        return {"a_i": np.r_[ca.ravel(), a, near], "b_i": np.r_[cb.ravel(), bb, (near ^ (1 << (b - 2))) & ((1 << b) - 1)]}

    def golden(v):
        return {"y_o": np.asarray(lns_mul(f, np.asarray(v["a_i"]), np.asarray(v["b_i"])), dtype=np.int64)}

    show = {p: (lambda c: f"{float(f.decode(np.array([int(c)]))[0]):.6g}") for p in ("a_i", "b_i", "y_o")}
    return Unit("lns_mul", fmt, (Port("a_i", b, f"code:{fmt}"), Port("b_i", b, f"code:{fmt}")),
                (Port("y_o", b, f"code:{fmt}"),), {"BITS": b, "GAMMA": f.gamma, "QBIAS": f.qbias},
                ("lns_mul.v",), "lns_mul", vectors, golden, doc=f"LNS multiply on {fmt}", show=show)


def lns_dot_params(f, mb: int) -> dict:
    """Verilog parameters of hw/rtl/lns_dot.v for format f with mb Mitchell bits (table from numerics)."""
    from lowbit.numerics.lns import default_frac_bits, lns_table
    F = default_frac_bits(f)
    table = sum(int(t) << ((F + 2) * i) for i, t in enumerate(lns_table(f.gamma, F)))
    rb = int(math.log2(f.gamma))
    qmax = (2 * f.max_mag) >> rb
    bw = qmax + 1 + KBITS + (rb + 1 if mb else 0)
    return {"BITS": f.bits, "GAMMA": f.gamma, "QBIAS": f.qbias, "F": F, "MB": mb, "KBITS": KBITS,
            "TABLE": table, "AW": bw + F + 2}


def lns_dot_unit(fmt):
    from lowbit.numerics.lns import default_frac_bits, lns_dot, lns_dot_code
    f, mb = _fmt(fmt)
    b = f.bits
    params = lns_dot_params(f, mb)
    aw, F = params["AW"], default_frac_bits(f)
    finite = np.setdiff1d(np.arange(1 << b) if b <= 8 else _corners(f), [f.nan_code])

    def vectors(seed, quick):
        rng = np.random.default_rng(seed)
        streams = (48 if quick else 160) if b <= 8 else 24
        draw = (lambda size: rng.integers(0, 1 << b, size)) if b > 8 else (lambda size: rng.choice(finite, size))
        a, bb = draw((streams, STEPS)), draw((streams, STEPS))
        a, bb = np.where(a == f.nan_code, 0, a), np.where(bb == f.nan_code, 0, bb)
        en = (rng.random((streams, STEPS)) < 0.85).astype(np.int64)
        length = rng.integers(1, STEPS + 1, streams)
        en[np.arange(STEPS)[None, :] >= length[:, None]] = 0
        # Corners: largest products everywhere (widest buckets), smallest, exact cancellation, one pair.
        a[0], bb[0], en[0] = f.max_mag, f.max_mag, 1
        a[1], bb[1], en[1] = 1, 1, 1
        a[2], bb[2], en[2] = f.max_mag, np.r_[np.full(STEPS // 2, 7), np.full(STEPS - STEPS // 2, 7 | f.nan_code)], 1
        en[3], a[3, 5], bb[3, 5] = 0, f.qbias * f.gamma, f.qbias * f.gamma
        en[3, 5] = 1
        z = np.zeros((streams, 1), np.int64)
        return {"rst_i": np.c_[z + 1, np.zeros_like(a), z].ravel(), "en_i": np.c_[z, en, z].ravel(),
                "a_i": np.c_[z, a, z].ravel(), "b_i": np.c_[z, bb, z].ravel()}

    def golden(v):
        rows = lambda k: np.asarray(v[k]).reshape(-1, STEPS + 2)[:, 1:-1]  # noqa: E731
        en = rows("en_i").astype(bool)
        a, bb = np.where(en, rows("a_i"), 0), np.where(en, rows("b_i"), 0)   # code 0 = zero: skipped
        acc = lns_dot(f, a, bb, frac_bits=F, mitchell_bits=mb).acc
        y = lns_dot_code(f, a, bb, frac_bits=F, mitchell_bits=mb)
        s = len(a)
        out_acc = np.zeros((s, STEPS + 2), dtype=object)
        out_y = np.zeros((s, STEPS + 2), dtype=np.int64)
        out_acc[:, -1] = [int(x) & ((1 << aw) - 1) for x in acc]
        out_y[:, -1] = y
        care = np.zeros((s, STEPS + 2), bool)
        care[:, -1] = True          # the finished dot product, in the hold cycle
        return {"acc_o": out_acc.ravel(), "y_o": out_y.ravel(), "acc_o__care": care.ravel(),
                "y_o__care": care.ravel()}

    ins = (Port("rst_i", 1), Port("en_i", 1), Port("a_i", b, f"code:{f.name}"), Port("b_i", b, f"code:{f.name}"))
    outs = (Port("acc_o", aw, "sint"), Port("y_o", b, f"code:{f.name}"))
    return Unit("lns_dot", fmt, ins, outs, params, ("lns_dot.v",), "lns_dot", vectors, golden, clock="clk_i",
                depth=16384, doc=f"bucketed LNS dot product on {fmt}")


OPS = {
    "lns_mul": OpSpec(("lns8", "lns16"), lns_mul_unit, "LNS multiply: code add, sign xor, saturation"),
    "lns_dot": OpSpec(("lns8", "lns8_mitchell2", "lns8_mitchell3", "lns16_mitchell6", "lns16"), lns_dot_unit,
                               "bucketed LNS dot product (2*gamma buckets of 1 << q, one constant multiply per bucket, back-conversion)"),
}
