"""The MX block dot product (`mx_dot`): OCP MX v1.0 blocks of 32 fp8/fp6/fp4 elements with E8M0 scales,
fp32 result rounded once. Golden: `lowbit.numerics.arith.mx_dot`. Ports (N = element bits):
  a_i[32*N], b_i[32*N] (element k at bits N*k), sa_i[8], sb_i[8] -> y_o[32] (fp32 code).
Vectors: seeded random blocks (random element codes, scales around 2^0) and corner blocks: zeros,
NaN scales, NaN/Inf elements, overflow to Inf (max elements, max scales), fp32 subnormals and underflow
(min scales), exact cancellation, single products, fp32 ties (a large and a half-ulp product).
"""
from __future__ import annotations

import numpy as np

from .harness import Port
from .ops import OpSpec, Unit, fp_params
from .ops_int import _pack, _unpack

MX_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp4_e2m1", "mxfp6_e3m2", "mxfp6_e2m3")


def _corner_blocks(el, k, rng):
    """(a, b, sa, sb) rows of corner cases for element format `el` and block size k."""
    enc = lambda v: np.asarray(el.encode(np.asarray(v, dtype=np.float64)), dtype=np.int64)  # noqa: E731
    one, mx, mn = (int(c) for c in enc([1.0, el.max, el.min_subnormal]))
    neg = 1 << (el.bits - 1)
    rows = []
    z = np.zeros(k, np.int64)

    def add(a, b, sa=127, sb=127):
        rows.append((np.asarray(a, np.int64), np.asarray(b, np.int64), sa, sb))

    add(z, z)                                           # zero block
    add(np.full(k, one), np.full(k, one), 255, 127)     # NaN scale
    add(np.full(k, mx), np.full(k, mx), 254, 254)       # overflow to +Inf
    add(np.full(k, mx), np.full(k, mx | neg), 254, 254)  # overflow to -Inf
    add(np.full(k, mn), np.full(k, mn), 0, 0)           # underflow to 0
    add(np.full(k, mx), np.full(k, mn), 0, 20)          # fp32 subnormal territory
    half = rng.integers(0, 1 << el.bits, k)
    add(np.r_[half[: k // 2], half[: k // 2] ^ neg], np.r_[half[: k // 2], half[: k // 2]])  # cancels exactly
    single = z.copy()
    single[3] = mx
    add(single, np.full(k, mx))                         # one product
    # Ties at fp32: max*max plus a product of exactly half an fp32 ulp of it (and minus it), if one exists.
    vals = np.asarray(el.decode(np.arange(1 << (el.bits - 1))), dtype=np.float64)
    half_ulp = 2.0 ** (int(np.frexp(float(el.max) ** 2)[1]) - 1 - 24)
    with np.errstate(invalid="ignore", over="ignore"):
        hits = np.argwhere(np.outer(vals, vals) == half_ulp)
    if len(hits):
        i, j = (int(v) for v in hits[0])
        for sign in (0, neg):
            a, b = z.copy(), z.copy()
            a[0], b[0], a[1], b[1] = mx, mx, i | sign, j
            add(a, b)
    if el.has_inf:
        inf = int(enc([np.inf])[0])
        add(np.r_[inf, z[1:]], np.r_[one, z[1:]])         # +Inf
        add(np.r_[inf, z[1:]], z)                         # Inf * 0 = NaN
        add(np.r_[inf, inf, z[2:]], np.r_[one, one | neg, z[2:]])  # Inf - Inf = NaN
    if el.nan_code is not None:
        add(np.r_[el.nan_code, z[1:]], np.full(k, one))   # NaN element
    return rows


def mx_dot_unit(fmt):
    from lowbit.numerics import arith, get_format
    sf = get_format(fmt)
    el, k = sf.element, sf.block
    n = el.bits

    def vectors(seed, quick):
        rng = np.random.default_rng(seed)
        nb = 500 if quick else 2000
        a = rng.integers(0, 1 << n, (nb, k))
        b = rng.integers(0, 1 << n, (nb, k))
        if el.nan_code is not None:  # mostly finite blocks: specials are the corner rows' job
            fin = lambda c: np.where(np.isfinite(np.asarray(el.decode(c), dtype=np.float64)), c, 0)  # noqa: E731
            a[: nb * 7 // 8], b[: nb * 7 // 8] = fin(a[: nb * 7 // 8]), fin(b[: nb * 7 // 8])
        sa = np.clip(rng.normal(127, 12, nb).round(), 0, 254).astype(np.int64)
        sb = np.clip(rng.normal(127, 12, nb).round(), 0, 254).astype(np.int64)
        rows = _corner_blocks(el, k, rng)
        a = np.r_[np.stack([r[0] for r in rows]), a]
        b = np.r_[np.stack([r[1] for r in rows]), b]
        sa, sb = np.r_[[r[2] for r in rows], sa], np.r_[[r[3] for r in rows], sb]
        return {"a_i": _pack(a, n), "b_i": _pack(b, n), "sa_i": sa, "sb_i": sb}

    def golden(v):
        a, b = _unpack(v["a_i"], k, n), _unpack(v["b_i"], k, n)
        return {"y_o": arith.mx_dot(a, np.asarray(v["sa_i"]), b, np.asarray(v["sb_i"]), sf)}

    f32 = get_format("fp32")
    show = {"y_o": lambda c: f"{float(f32.decode(np.array([int(c)]))[0]):.9g}",
            "sa_i": lambda c: f"2^{int(c) - 127}" if int(c) != 255 else "NaN",
            "sb_i": lambda c: f"2^{int(c) - 127}" if int(c) != 255 else "NaN"}
    ins = (Port("a_i", k * n), Port("b_i", k * n), Port("sa_i", 8), Port("sb_i", 8))
    return Unit("mx_dot", fmt, ins, (Port("y_o", 32, "code:fp32"),), {**fp_params(el), "K": k},
                ("mx_dot.v", "lb_fp_round.v", "lb_fp_unpack.v"), "mx_dot", vectors, golden, depth=8192,
                doc=f"MX block dot product ({fmt}, fp32 result)", show=show)


OPS = {
    "mx_dot": OpSpec(MX_FORMATS, mx_dot_unit, "MX block dot product (32 elements, E8M0 scales, fp32 result)"),
}
