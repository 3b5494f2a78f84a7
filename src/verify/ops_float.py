"""Float operations: `fp_mul`, `fp_add`, `fp_add_lfsr` (stochastic rounding fed by the LFSR), `fp_kahan`.

Golden models: `lowbit.numerics.arith.mul/add` (exact result rounded once), `lowbit.numerics.lfsr`
(the random words), `lowbit.numerics.KahanAccumulator`. Ports (widths from the format, N = its bits):
  fp_mul, fp_add   a_i[N], b_i[N], mode_i[3] (numerics MODE_ID), sat_i, rand_i[RBITS] -> y_o[N]
  fp_add_lfsr      clk_i, rst_i, a_i[N], b_i[N], mode_i[3], sat_i -> y_o[N]   (LFSR inside, seed SEED)
  fp_kahan         clk_i, rst_i, en_i, u_i[N] -> sum_o[N], comp_o[N]
"""
from __future__ import annotations

import numpy as np

from .harness import Port
from .ops import Unit, fp_params, register_op

RBITS = 8
LFSR_SEED = 0x1234567
MUL_FORMATS = ("fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "bf16")
ADD_FORMATS = ("bf16", "fp8_e5m2", "fp8_e4m3fn", "fp4_e2m1fn")


def _fmt(name):
    from lowbit.numerics import get_format
    return get_format(name)


def _modes():
    from lowbit.numerics.rounding import MODE_ID
    return MODE_ID


def _corners(f) -> np.ndarray:
    """Codes of the corner values: zeros, smallest/largest subnormal, smallest normal, 1, values next to
    max, max, Inf and NaN where the format has them, with both signs."""
    vals = [0.0, f.min_subnormal, f.min_normal - f.min_subnormal, f.min_normal, 1.0, 1.0 + f.eps,
            f.max / 2, f.max - f.max * f.eps / 2, f.max]
    mags = np.unique(np.asarray(f.encode(np.asarray(vals, dtype=np.float64)), dtype=np.int64))
    out = list(mags) + [m | (1 << (f.bits - 1)) for m in mags]
    if f.has_inf:
        out += [int(c) for c in f.encode(np.array([np.inf, -np.inf]))]
    if f.nan_code is not None:
        out += [f.nan_code, f.nan_code | (1 << (f.bits - 1))]
    return np.unique(np.asarray(out, dtype=np.int64))


def float_pairs(f, seed: int, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """All code pairs for formats of <= 8 bits; else corners x corners, corners x random, uniform random
    codes and pairs of nearby exponents (cancellation, ties)."""
    if f.bits <= 8:
        idx = np.arange(1 << (2 * f.bits), dtype=np.int64)
        return idx & ((1 << f.bits) - 1), idx >> f.bits
    rng = np.random.default_rng(seed)
    c = _corners(f)
    n = 20000 if quick else 80000
    full = (1 << f.bits) - 1
    ca, cb = np.meshgrid(c, c)
    rnd = rng.integers(0, full + 1, size=len(c) * 64)
    a = rng.integers(0, full + 1, size=n)
    # Nearby operands: same sign or not, exponent within +-3, low mantissa bits scrambled.
    near = a ^ (rng.integers(0, 1 << f.mbits, size=n) | (rng.integers(0, 2, size=n) << (f.bits - 1)))
    near = np.clip(near + (rng.integers(-3, 4, size=n) << f.mbits), 0, full)
    aa = np.concatenate([ca.ravel(), np.repeat(c, 64), rnd, a[: n // 2], a[n // 2:]])
    bb = np.concatenate([cb.ravel(), rnd, np.repeat(c, 64), rng.integers(0, full + 1, size=n // 2), near[n // 2:]])
    return aa.astype(np.int64), bb.astype(np.int64)


def _mode_sets():
    """(mode id, sat) combinations: every rounding mode with both overflow policies."""
    return [(m, s) for m in sorted(_modes().values()) for s in (0, 1)]


def _with_modes(a, b, seed, exhaustive_modes: bool, big=None):
    """Attach rounding mode, overflow policy and random bits to pairs. Exhaustive: every pair in every
    mode without saturation, and with saturation wherever `big(a, b)` says the result may overflow (or is
    Inf/NaN), plus a 1/16 sample of the other pairs; else one random (mode, sat) per pair."""
    rng = np.random.default_rng(seed + 1)
    if exhaustive_modes:
        ids = sorted(_modes().values())
        sel = big(a, b) | (rng.random(len(a)) < 1 / 16)
        mode = np.concatenate([np.repeat(ids, len(a)), np.repeat(ids, int(sel.sum()))])
        sat = np.r_[np.zeros(len(ids) * len(a), np.int64), np.ones(len(ids) * int(sel.sum()), np.int64)]
        a, b = np.r_[np.tile(a, len(ids)), np.tile(a[sel], len(ids))], np.r_[np.tile(b, len(ids)), np.tile(b[sel], len(ids))]
    else:
        sets = _mode_sets()
        pick = rng.integers(0, len(sets), size=len(a))
        mode = np.array([sets[i][0] for i in pick], dtype=np.int64)
        sat = np.array([sets[i][1] for i in pick], dtype=np.int64)
    return {"a_i": a, "b_i": b, "mode_i": mode, "sat_i": sat, "rand_i": rng.integers(0, 1 << RBITS, size=len(a))}


def _by_mode(fn, v, fmt, rand=None):
    """Apply arith.mul/add group by group of (rounding mode, overflow policy)."""
    out = np.zeros(len(v["a_i"]), dtype=np.int64)
    rand = v["rand_i"] if rand is None else rand
    for mode, mid in _modes().items():
        for sat in (0, 1):
            m = (v["mode_i"] == mid) & (v["sat_i"] == sat)
            if not m.any():
                continue
            kw = {"rounding": mode, "overflow": "saturate" if sat else "ieee"}
            if mode.value == "stochastic":
                kw.update(rbits=RBITS, random_bits=np.asarray(rand)[m])
            out[m] = fn(v["a_i"][m], v["b_i"][m], fmt, **kw)
    return out


def _show(fmt):
    f = _fmt(fmt)
    return lambda code: f"{float(f.decode(np.array([int(code)]))[0]):.9g}"


def _binary_unit(op, fmt, arith_fn, top, rtl, combine):
    f = _fmt(fmt)
    n = f.bits
    ins = (Port("a_i", n, f"code:{fmt}"), Port("b_i", n, f"code:{fmt}"), Port("mode_i", 3), Port("sat_i", 1),
           Port("rand_i", RBITS))

    def big(a, b):
        # Results at or above max/2 in magnitude (in float64, no rounding involved) or not finite.
        with np.errstate(all="ignore"):
            r = combine(np.asarray(f.decode(a), np.float64), np.asarray(f.decode(b), np.float64))
        return ~np.isfinite(r) | (np.abs(r) >= f.max / 2)

    def vectors(seed, quick):
        a, b = float_pairs(f, seed, quick)
        return _with_modes(a, b, seed, exhaustive_modes=f.bits <= 8 and not quick, big=big)

    def golden(v):
        return {"y_o": _by_mode(arith_fn, v, fmt)}

    show = {"a_i": _show(fmt), "b_i": _show(fmt), "y_o": _show(fmt)}
    return Unit(op, fmt, ins, (Port("y_o", n, f"code:{fmt}"),), {**fp_params(fmt), "RBITS": RBITS}, rtl, top,
                vectors, golden, doc=f"{op} on {fmt}", show=show)


def fp_mul_unit(fmt):
    from lowbit.numerics import arith
    return _binary_unit("fp_mul", fmt, arith.mul, "fp_mul", ("fp_mul.v", "lb_fp_round.v", "lb_fp_unpack.v"),
                        np.multiply)


def fp_add_unit(fmt):
    from lowbit.numerics import arith
    return _binary_unit("fp_add", fmt, arith.add, "fp_add", ("fp_add.v", "lb_fp_round.v", "lb_fp_unpack.v"),
                        np.add)


def fp_add_lfsr_unit(fmt):
    from lowbit.numerics import arith
    from lowbit.numerics.lfsr import MAXIMAL_TAPS, lfsr_words
    f = _fmt(fmt)
    n = f.bits
    ins = (Port("rst_i", 1), Port("a_i", n, f"code:{fmt}"), Port("b_i", n, f"code:{fmt}"), Port("mode_i", 3),
           Port("sat_i", 1))
    sr = _modes()[next(m for m in _modes() if m.value == "stochastic")]

    def vectors(seed, quick):
        a, b = float_pairs(f, seed, quick)
        rng = np.random.default_rng(seed + 2)
        # Cycle 0 resets the LFSR; then one addition per cycle, mostly stochastic rounding.
        mode = np.where(rng.random(len(a)) < 0.9, sr, 0)
        return {"rst_i": np.r_[1, np.zeros(len(a), np.int64)], "a_i": np.r_[0, a], "b_i": np.r_[0, b],
                "mode_i": np.r_[0, mode], "sat_i": np.r_[0, rng.integers(0, 2, len(a))]}

    def golden(v):
        words = lfsr_words(len(v["a_i"]) - 1, RBITS, seed=LFSR_SEED)
        body = {k: np.asarray(x)[1:] for k, x in v.items()}
        y = np.r_[0, _by_mode(arith.add, body, fmt, rand=words)]
        return {"y_o": y, "y_o__care": np.r_[False, np.ones(len(words), bool)]}

    params = {**fp_params(fmt), "RBITS": RBITS, "LFSR_WIDTH": 32, "TAPS": MAXIMAL_TAPS[32], "SEED": LFSR_SEED}
    show = {"a_i": _show(fmt), "b_i": _show(fmt), "y_o": _show(fmt)}
    return Unit("fp_add_lfsr", fmt, ins, (Port("y_o", n, f"code:{fmt}"),), params,
                ("fp_add_lfsr.v", "fp_add.v", "lfsr.v", "lb_fp_round.v", "lb_fp_unpack.v"), "fp_add_lfsr",
                vectors, golden, clock="clk_i", doc=f"stochastic-rounding add on {fmt} fed by the LFSR",
                show=show)


def fp_kahan_unit(fmt, steps: int = 64):
    import torch
    from lowbit.numerics import KahanAccumulator
    f = _fmt(fmt)
    n = f.bits
    ins = (Port("rst_i", 1), Port("en_i", 1), Port("u_i", n, f"code:{fmt}"))
    outs = (Port("sum_o", n, f"code:{fmt}"), Port("comp_o", n, f"code:{fmt}"))

    def vectors(seed, quick):
        rng = np.random.default_rng(seed)
        streams = 64 if quick else 192
        # Updates of very different sizes around weights ~1 (the setting Kahan summation is for),
        # with a few streams of corner values (overflow to Inf, NaN, zeros, subnormals).
        mag = np.exp2(rng.integers(-20, 4, size=(streams, 1)) + rng.normal(0, 2, size=(streams, steps)))
        vals = mag * rng.choice([-1.0, 1.0], size=(streams, steps))
        vals[:, 0] = rng.choice([1.0, -3.0, 100.0, 1e-3], size=streams)
        u = np.asarray(f.encode(vals), dtype=np.int64)
        corners = _corners(f)
        for s in range(min(8, streams)):
            u[s] = rng.choice(corners, size=steps)
        rows = np.c_[np.zeros(streams, np.int64), u, np.zeros(streams, np.int64)]   # reset, updates, hold
        rst = np.zeros_like(rows)
        rst[:, 0] = 1
        en = np.ones_like(rows)
        en[:, -1] = 0
        return {"rst_i": rst.ravel(), "en_i": en.ravel(), "u_i": rows.ravel()}

    def golden(v):
        rows = np.asarray(v["u_i"]).reshape(-1, steps + 2)
        acc = KahanAccumulator(f, torch.zeros(rows.shape[0], dtype=torch.float64))
        sums, comps = [acc.sum.numpy().copy()], [acc.comp.numpy().copy()]
        vals = np.asarray(f.decode(rows[:, 1:-1]), dtype=np.float64)
        for t in range(steps):
            acc.add(torch.from_numpy(vals[:, t]))
            sums.append(acc.sum.numpy().copy())
            comps.append(acc.comp.numpy().copy())
        out = {}
        for name, hist in (("sum_o", sums), ("comp_o", comps)):
            h = np.stack(hist, axis=1)  # (streams, steps + 1): state before each update, then the final one
            codes = np.asarray(f.encode(h), dtype=np.int64)
            codes = np.where(np.isnan(h), f.nan_code if f.nan_code is not None else 0, codes)
            out[name] = np.c_[np.zeros(len(h), np.int64), codes].ravel()
        care = np.ones(rows.shape, bool)
        care[:, 0] = False
        out["sum_o__care"] = out["comp_o__care"] = care.ravel()
        return out

    show = {p.name: _show(fmt) for p in ins[2:] + outs}
    return Unit("fp_kahan", fmt, ins, outs, fp_params(fmt), ("fp_kahan.v", "fp_add.v", "lb_fp_round.v",
                "lb_fp_unpack.v"), "fp_kahan", vectors, golden, clock="clk_i",
                doc=f"Kahan-compensated accumulator on {fmt} (round to nearest even)", show=show)


register_op("fp_mul", MUL_FORMATS, fp_mul_unit, "minifloat multiply, rounded once (all modes, saturating or IEEE overflow)")
register_op("fp_add", ADD_FORMATS, fp_add_unit, "minifloat add, the exact sum rounded once (all modes incl. stochastic)")
register_op("fp_add_lfsr", ("bf16",), fp_add_lfsr_unit, "stochastic-rounding add fed by the LFSR, bit-exact with numerics.lfsr")
register_op("fp_kahan", ("bf16",), fp_kahan_unit, "Kahan-compensated accumulator (round to nearest even)")
