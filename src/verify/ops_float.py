"""Float operations: `fp_mul`, `fp_add`, `fp_add_lfsr` (stochastic rounding fed by the LFSR), `fp_kahan`.

Golden models: `lowbit.numerics.arith.mul/add` (exact result rounded once), `lowbit.numerics.lfsr`
(the random words), `lowbit.numerics.KahanAccumulator`. Ports (widths from the format, N = its bits):
  fp_mul, fp_add   a_i[N], b_i[N], mode_i[3] (numerics MODE_ID), sat_i, rand_i[RBITS] -> y_o[N]
                   under a declared Contract (contract.py): mode_i only needed for more than one rounding
                   mode, sat_i for both overflow policies, rand_i for stochastic rounding.
  fp_add_lfsr      clk_i, rst_i, a_i[N], b_i[N], mode_i[3], sat_i -> y_o[N]   (LFSR inside, seed SEED)
  fp_kahan         clk_i, rst_i, en_i, u_i[N] -> sum_o[N], comp_o[N]
"""
from __future__ import annotations

import numpy as np

from .harness import Port
from .ops import OpSpec, Unit, fp_params

RBITS = 8
LFSR_SEED = 0x1234567
# Every float format arith.mul/add take (the first is the default); e8m0 scales multiply, they do not add.
_FLOATS = ("fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "bf16", "fp16", "fp32", "fp8_e4m3", "fp8_e4m3fnuz",
           "fp8_e5m2fnuz", "fp6_e3m2fn", "fp6_e2m3fn")
MUL_FORMATS = _FLOATS + ("e8m0fnu",)
ADD_FORMATS = ("bf16",) + tuple(f for f in _FLOATS if f != "bf16")


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
    out = list(mags) + ([m | (1 << (f.bits - 1)) for m in mags] if f.signed else [])
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


def _with_modes(a, b, seed, exhaustive_modes: bool, big=None, ids=None, sats=(0, 1)):
    """Attach rounding mode (ids: the declared MODE_IDs, default all), overflow policy (sats: 0 ieee,
    1 saturate, the declared ones) and random bits to pairs. Exhaustive: every pair in every mode with the
    first policy, and with the second (if declared) wherever `big(a, b)` says the result may overflow (or
    is Inf/NaN), plus a 1/16 sample of the other pairs; else one random (mode, sat) per pair."""
    rng = np.random.default_rng(seed + 1)
    ids = sorted(_modes().values()) if ids is None else sorted(ids)
    sats = sorted(sats)
    if exhaustive_modes:
        sel = (big(a, b) | (rng.random(len(a)) < 1 / 16)) if len(sats) > 1 else np.zeros(len(a), bool)
        mode = np.concatenate([np.repeat(ids, len(a)), np.repeat(ids, int(sel.sum()))])
        sat = np.r_[np.full(len(ids) * len(a), sats[0], np.int64), np.full(len(ids) * int(sel.sum()), sats[-1], np.int64)]
        a, b = np.r_[np.tile(a, len(ids)), np.tile(a[sel], len(ids))], np.r_[np.tile(b, len(ids)), np.tile(b[sel], len(ids))]
    else:
        sets = [(m, s) for m in ids for s in sats]
        pick = rng.integers(0, len(sets), size=len(a))
        mode = np.array([sets[i][0] for i in pick], dtype=np.int64)
        sat = np.array([sets[i][1] for i in pick], dtype=np.int64)
    return {"a_i": a, "b_i": b, "mode_i": mode, "sat_i": sat, "rand_i": rng.integers(0, 1 << RBITS, size=len(a))}


def _by_mode(fn, v, fmt, rand=None, **kw_sub):
    """Apply arith.mul/add group by group of (rounding mode, overflow policy); kw_sub: subnormals, tininess."""
    out = np.zeros(len(v["a_i"]), dtype=np.int64)
    rand = v["rand_i"] if rand is None else rand
    for mode, mid in _modes().items():
        for sat in (0, 1):
            m = (v["mode_i"] == mid) & (v["sat_i"] == sat)
            if not m.any():
                continue
            kw = {"rounding": mode, "overflow": "saturate" if sat else "ieee", **kw_sub}
            if mode.value == "stochastic":
                kw.update(rbits=RBITS, random_bits=np.asarray(rand)[m])
            out[m] = fn(v["a_i"][m], v["b_i"][m], fmt, **kw)
    return out


def _show(fmt):
    f = _fmt(fmt)

    def show(code):
        v = float(f.decode(np.array([int(code)]))[0])
        return "NaN" if np.isnan(v) else f"{v:.9g}"
    return show


def _reference_limit(f, contract_needs: str = "") -> str:
    try:
        fp_params(f)
    except ValueError as exc:
        return str(exc)
    if f.mbits == 0:
        return f"{f.name}: lowbit's float RTL needs mantissa bits"
    return contract_needs


def _binary_unit(op, fmt, arith_fn, top, rtl, combine, contract):
    from lowbit.numerics import arith
    f = _fmt(fmt)
    n = f.bits
    rounding = contract.rounding or ("nearest_even",)
    overflow = contract.overflow or (f.default_overflow.value,)
    tininess = contract.tininess_or_default
    daz, ftz = arith.check_subnormals(f, contract.subnormals, tininess)
    ids = [_modes()[m] for m in _modes() if m.value in rounding]
    sats = [1 if o == "saturate" else 0 for o in overflow]
    ins = (Port("a_i", n, f"code:{fmt}"), Port("b_i", n, f"code:{fmt}"), Port("mode_i", 3), Port("sat_i", 1),
           Port("rand_i", RBITS))
    optional = tuple(name for name, unused in (("mode_i", len(ids) == 1), ("sat_i", len(sats) == 1),
                                                ("rand_i", "stochastic" not in rounding)) if unused)

    def big(a, b):
        # Results at or above max/2 in magnitude (in float64, no rounding involved) or not finite.
        with np.errstate(all="ignore"):
            r = combine(np.asarray(f.decode(a), np.float64), np.asarray(f.decode(b), np.float64))
        return ~np.isfinite(r) | (np.abs(r) >= f.max / 2)

    def vectors(seed, quick):
        a, b = float_pairs(f, seed, quick)
        return _with_modes(a, b, seed, exhaustive_modes=f.bits <= 8 and not quick, big=big, ids=ids, sats=sats)

    def golden(v):
        return {"y_o": _by_mode(arith_fn, v, fmt, subnormals=contract.subnormals, tininess=tininess)}

    def exact(v):
        with np.errstate(all="ignore"):
            return combine(np.asarray(f.decode(v["a_i"]), np.float64), np.asarray(f.decode(v["b_i"]), np.float64))

    limit = _reference_limit(f)
    params = {} if limit else {**fp_params(fmt), "RBITS": RBITS, "DAZ": int(daz), "FTZ": int(ftz),
                               "TAFTER": int(tininess == "after")}
    show = {"a_i": _show(fmt), "b_i": _show(fmt), "y_o": _show(fmt)}
    return Unit(op, fmt, ins, (Port("y_o", n, f"code:{fmt}"),), params, rtl, top,
                vectors, golden, doc=f"{op} on {fmt}", show=show, optional=optional, operands=("a_i", "b_i"),
                exact=exact, contract=contract.describe(rounding, overflow), reference_limit=limit)


def fp_mul_unit(fmt, contract):
    from lowbit.numerics import arith
    return _binary_unit("fp_mul", fmt, arith.mul, "fp_mul", ("fp_mul.v", "lb_fp_round.v", "lb_fp_unpack.v"),
                        np.multiply, contract)


def _exact_add(x, y):
    from lowbit.numerics import arith
    return arith.exact_sum_odd(x, y)   # keeps comparisons with powers of two exact (triage classes)


def fp_add_unit(fmt, contract):
    from lowbit.numerics import arith
    return _binary_unit("fp_add", fmt, arith.add, "fp_add", ("fp_add.v", "lb_fp_round.v", "lb_fp_unpack.v"),
                        _exact_add, contract)


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


OPS = {
    "fp_mul": OpSpec(MUL_FORMATS, fp_mul_unit, "minifloat multiply, rounded once (declared contract: rounding "
                     "modes, overflow, subnormals)", takes_contract=True),
    "fp_add": OpSpec(ADD_FORMATS, fp_add_unit, "minifloat add, the exact sum rounded once (declared contract: "
                     "rounding modes incl. stochastic, overflow, subnormals)", takes_contract=True),
    "fp_add_lfsr": OpSpec(("bf16",), fp_add_lfsr_unit, "stochastic-rounding add fed by the LFSR, bit-exact with "
                          "numerics.lfsr"),
    "fp_kahan": OpSpec(("bf16",), fp_kahan_unit, "Kahan-compensated accumulator (round to nearest even)"),
}
