"""Integer operations: `lfsr` (the SR random source), `ternary_mac`, `trit_plane_dot`.

Golden models: `lowbit.numerics.lfsr.lfsr_words`, `lowbit.numerics.arith.ternary_dot/trit_plane_dot`.
Ports:
  lfsr            clk_i, rst_i, en_i -> bits_o[R]             ("format" w<W>_r<R>: register width, word bits)
  ternary_mac     clk_i, rst_i, en_i, w_i[2], x_i[8] -> acc_o[24]
  trit_plane_dot  t_i[2*P*N], x_i[8*N], s_i[16*P] -> y_o[...]  ("format" p<P>_n<N>)
"""
from __future__ import annotations

import math
import re

import numpy as np

from .harness import Port
from .ops import OpSpec, Unit

TRITS = np.array([0b00, 0b01, 0b11])


def _segments(rst: np.ndarray, en: np.ndarray) -> np.ndarray:
    """For each cycle, how many enabled non-reset cycles have passed since the last reset."""
    out = np.zeros(len(rst), dtype=np.int64)
    count = 0
    for t in range(len(rst)):
        out[t] = count
        count = 0 if rst[t] else count + int(en[t])
    return out


def lfsr_unit(fmt):
    from lowbit.numerics.lfsr import MAXIMAL_TAPS, lfsr_words
    m = re.fullmatch(r"w(\d+)_r(\d+)", fmt)
    if not m or int(m[1]) not in MAXIMAL_TAPS:
        raise ValueError(f"lfsr format {fmt!r}: use w<width>_r<rbits> with width in {sorted(MAXIMAL_TAPS)}")
    width, rbits = int(m[1]), int(m[2])
    seed = 0xACE1 & ((1 << width) - 1) or 1

    def vectors(seed_, quick):
        rng = np.random.default_rng(seed_)
        n = 4000 if quick else 40000
        rst = (rng.random(n) < 0.001).astype(np.int64)
        rst[0] = 1
        en = (rng.random(n) < 0.9).astype(np.int64)
        return {"rst_i": rst, "en_i": en}

    def golden(v):
        rst = np.asarray(v["rst_i"])
        idx = _segments(rst, np.asarray(v["en_i"]))
        words = lfsr_words(int(idx.max()) + 1, rbits, seed=seed, width=width)
        care = ~rst.astype(bool)  # a reset cycle still shows the state from before it
        return {"bits_o": words[idx], "bits_o__care": care}

    params = {"WIDTH": width, "TAPS": MAXIMAL_TAPS[width], "SEED": seed, "OUTBITS": rbits}
    return Unit("lfsr", fmt, (Port("rst_i", 1), Port("en_i", 1)), (Port("bits_o", rbits),), params,
                ("lfsr.v",), "lfsr", vectors, golden, clock="clk_i",
                doc=f"{width}-bit Galois LFSR, {rbits} bits a clock")


def _sx(v, bits):
    v = np.asarray(v, dtype=np.int64)
    return np.where(v >= 1 << (bits - 1), v - (1 << bits), v)


def ternary_mac_unit(fmt="int8", steps: int = 16, accbits: int = 24):
    from lowbit.numerics import arith

    def vectors(seed, quick):
        rng = np.random.default_rng(seed)
        streams = 96 if quick else 480
        # Every (trit, x) pair appears: the first 48 streams hold all 3 x 256 pairs, shuffled.
        pairs = np.array([(t, x) for t in TRITS for x in range(256)])
        pairs = pairs[rng.permutation(len(pairs))]
        w = TRITS[rng.integers(0, 3, (streams, steps))]
        x = rng.integers(0, 256, (streams, steps))
        w.ravel()[: len(pairs)], x.ravel()[: len(pairs)] = pairs[:, 0], pairs[:, 1]
        x[-8:] = 0x80  # most negative activations, long runs of subtracts
        en = (rng.random((streams, steps)) < 0.9).astype(np.int64)
        z = np.zeros((streams, 1), np.int64)
        return {"rst_i": np.c_[z + 1, np.zeros_like(w), z].ravel(), "en_i": np.c_[z, en, z].ravel(),
                "w_i": np.c_[z, w, z].ravel(), "x_i": np.c_[z, x, z].ravel()}

    def golden(v):
        w = np.asarray(v["w_i"]).reshape(-1, steps + 2)[:, 1:-1]
        x = _sx(np.asarray(v["x_i"]).reshape(-1, steps + 2)[:, 1:-1], 8)
        en = np.asarray(v["en_i"]).reshape(-1, steps + 2)[:, 1:-1].astype(bool)
        t = np.where(en, w, 0)  # a disabled cycle adds nothing: the trit 0
        hist = [arith.ternary_dot(t[:, :k], x[:, :k]) for k in range(steps + 1)]
        acc = np.stack(hist, axis=1) & ((1 << accbits) - 1)
        care = np.ones((len(w), steps + 2), bool)
        care[:, 0] = False
        return {"acc_o": np.c_[np.zeros(len(w), np.int64), acc].ravel(), "acc_o__care": care.ravel()}

    ins = (Port("rst_i", 1), Port("en_i", 1), Port("w_i", 2), Port("x_i", 8, "sint"))
    return Unit("ternary_mac", fmt, ins, (Port("acc_o", accbits, "sint"),), {"XBITS": 8, "ACCBITS": accbits},
                ("ternary_mac.v",), "ternary_mac", vectors, golden, clock="clk_i",
                doc="ternary add/subtract/skip MAC (int8 activations)")


def _pack(fields: np.ndarray, bits: int) -> np.ndarray:
    """Rows of unsigned fields -> one Python int per row, field 0 in the low bits."""
    return np.array([sum(int(v) << (bits * k) for k, v in enumerate(row)) for row in fields], dtype=object)


def _unpack(words, count: int, bits: int) -> np.ndarray:
    mask = (1 << bits) - 1
    return np.array([[(int(w) >> (bits * k)) & mask for k in range(count)] for w in words], dtype=np.int64)


def trit_plane_unit(fmt="p2_n16"):
    from lowbit.numerics import arith
    m = re.fullmatch(r"p(\d+)_n(\d+)", fmt)
    if not m:
        raise ValueError(f"trit_plane_dot format {fmt!r}: use p<planes>_n<length>, e.g. p2_n16")
    planes, n = int(m[1]), int(m[2])
    xb, sb = 8, 16
    yw = xb + sb + math.ceil(math.log2(n)) + math.ceil(math.log2(planes)) + 2

    def vectors(seed, quick):
        rng = np.random.default_rng(seed)
        k = 2000 if quick else 20000
        t = TRITS[rng.integers(0, 3, (k, planes, n))]
        x = rng.integers(0, 256, (k, n))
        s = rng.integers(0, 1 << sb, (k, planes))
        # Corners: all +1 or all -1 planes with extreme activations and scales, zero planes.
        t[:4] = [[[0b01]], [[0b11]], [[0b00]], [[0b01]]]
        x[:4] = [[0x7F], [0x80], [0x55], [0x80]]
        s[:4] = [[0x7FFF], [0x8000], [0x7FFF], [0x8000]]
        return {"t_i": _pack(t.reshape(k, -1), 2), "x_i": _pack(x, xb), "s_i": _pack(s, sb)}

    def golden(v):
        t = _unpack(v["t_i"], planes * n, 2).reshape(-1, planes, n)
        x = _sx(_unpack(v["x_i"], n, xb), xb)
        s = _sx(_unpack(v["s_i"], planes, sb), sb)
        return {"y_o": arith.trit_plane_dot(t, s, x) & ((1 << yw) - 1)}

    ins = (Port("t_i", 2 * planes * n), Port("x_i", xb * n), Port("s_i", sb * planes))
    return Unit("trit_plane_dot", fmt, ins, (Port("y_o", yw, "sint"),),
                {"N": n, "P": planes, "XBITS": xb, "SBITS": sb}, ("trit_plane_dot.v",), "trit_plane_dot",
                vectors, golden, depth=16384, doc=f"trit-plane dot product, {planes} planes of {n}")


OPS = {
    "lfsr": OpSpec(("w32_r8", "w16_r3", "w32_r23"), lfsr_unit, "Galois LFSR random source (numerics.lfsr)"),
    "ternary_mac": OpSpec(("int8",), ternary_mac_unit, "ternary add/subtract/skip MAC"),
    "trit_plane_dot": OpSpec(("p2_n16", "p3_n8"), trit_plane_unit, "PTQTP trit-plane dot product"),
}
