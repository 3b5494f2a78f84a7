"""Numba fast path for elementwise (float and signed fixed-point) and block-scaled quantization: power-of-two
scales (OCP MX) and amax scales held in fp32 or rounded to a scale format (NVFP4). Each format supplies its
own kernel parameters (`Format.kernel_grid`); nothing here asks what class a format is.

Not a second source of truth: tests/numerics/test_numerics_parity.py proves it bit-identical to
`FloatFormat._quantize_reference` and `ScaledFormat`'s numpy reference (and the random stream to
`rounding.random_bits`) in every mode, on every float32 binade, subnormals and specials.

How it rounds: every input is widened exactly to float64 and split from its bits into an integer
significand m (implicit bit included), the exponent of m's last bit and floor(log2 |x|). The target grid
step 2^q then drops the low `sh` bits of m, and the mode decides from those dropped bits alone (what
the reference sees as the fraction t - floor(t) = dropped / 2^sh; stochastic rounding compares the top
`rbits` dropped bits with the random integer). The loop body is branch-free on data (selects, not
jumps): random signs and random dropped bits made a branchy version mispredict on half the elements.
An MX block shifts the element grid by its scale exponent instead of dividing by the scale.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os

import numpy as np

from .rounding import MODE_ID, Overflow, Rounding, mix64

try:
    import numba
    from numba import literally, njit, prange
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None

_F64_EXP = 0x7FF0000000000000
# Below this many elements a call runs on the calling thread: waking the thread pool costs more than the
# work, and on a loaded machine an OpenMP barrier waiting for a descheduled worker costs milliseconds
# (measured: 5 ms per 4096-element call with 2 threads under load vs 15 us on one thread).
PARALLEL_MIN = 1 << 16


_REFERENCE_ONLY = contextvars.ContextVar("lowbit_reference_only", default=False)


def available() -> bool:
    """Numba is installed and its JIT is on."""
    return numba is not None and not numba.config.DISABLE_JIT


def enabled() -> bool:
    """Use the kernels unless Numba is missing, JIT is disabled (then the reference is faster than
    interpreted loops), LOWBIT_NO_FAST=1 or a `reference_only()` block (backend='reference') is active."""
    return available() and os.environ.get("LOWBIT_NO_FAST") != "1" and not _REFERENCE_ONLY.get()


@contextlib.contextmanager
def reference_only():
    """Run the numpy reference instead of the kernels inside this block (this thread/context only)."""
    token = _REFERENCE_ONLY.set(True)
    try:
        yield
    finally:
        _REFERENCE_ONLY.reset(token)


if numba is not None:
    _mix64 = njit(cache=True)(mix64)

    @njit(cache=True, inline="always")
    def _pow2(k):
        # 2^k as float64 from bits, for normal-range k (|k| <= 1022 here by construction).
        return np.int64((k + 1023) << 52).view(np.float64)

    @njit(cache=True, inline="always")
    def _elog(a):
        # floor(log2 a) for a = the bits of a finite float64 > 0 (subnormals from the exact integer).
        big_e = a >> 52
        if big_e == 0:
            return ((np.float64(a).view(np.int64) >> 52) & 0x7FF) - 1023 - 1074
        return big_e - 1023

    @njit(cache=True, inline="always")
    def _special(a, neg, has_zero, no_negzero, pos_inf, neg_inf):
        # NaN, +-Inf, zeros and negative inputs to unsigned formats (a = |x| as float64 bits).
        if a > _F64_EXP:
            return np.nan
        if a == _F64_EXP:
            return neg_inf if neg else pos_inf
        if a == 0:
            if not has_zero:
                return np.nan
            return -0.0 if (neg and not no_negzero) else 0.0
        return np.nan  # a negative input to an unsigned format

    @njit(cache=True, inline="always")
    def _round_one(xv, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm, pos_ovf, neg_ovf,
                   pos_inf, neg_inf, mode, rbits, r):
        b = np.float64(xv).view(np.int64)
        neg = b < 0
        a = b & 0x7FFFFFFFFFFFFFFF
        big_e = a >> 52
        m = (a & 0xFFFFFFFFFFFFF) | (np.int64(0) if big_e == 0 else np.int64(1) << 52)
        lsb = np.int64(-1074) if big_e == 0 else big_e - 1075
        elog = _elog(max(a, np.int64(1)))
        q = elog - mbits if elog >= emin else q_sub
        sh_raw = max(q - lsb, 0)
        sh = min(sh_raw, 60)  # m < 2^53: from 53 on every bit of m is dropped either way
        kept = m >> sh
        dropped = m & ((np.int64(1) << sh) - 1)
        half = (np.int64(1) << sh) >> 1  # 0 when sh == 0 (nothing dropped)
        nz = np.int64(dropped != 0)
        if mode == 0:
            inc = np.int64(dropped > half) | (np.int64(dropped == half) & kept & nz)
        elif mode == 1:
            inc = np.int64(dropped >= half) & nz
        elif mode == 2:
            inc = np.int64(0)
        elif mode == 3:
            inc = nz & np.int64(not neg)
        elif mode == 4:
            inc = nz & np.int64(neg)
        else:
            # the top rbits bits of the dropped fraction dropped / 2^sh_raw (the uncapped shift)
            top = (dropped >> min(sh_raw - rbits, 62)) if sh_raw >= rbits else (dropped << (rbits - sh_raw))
            inc = np.int64(r < top)
        res = np.float64(kept + inc) * _pow2(q)
        res = res if has_zero else max(res, minnorm)
        val = -res if neg else res
        val = 0.0 if (res == 0.0 and no_negzero) else val
        val = (neg_ovf if neg else pos_ovf) if res > maxv else val
        special = a >= _F64_EXP or a == 0 or (neg and not signed)
        return _special(a, neg, has_zero, no_negzero, pos_inf, neg_inf) if special else val

    @njit(cache=True, inline="always")
    def _rand_at(idx, use_rand, rand, sbase, rshift, mode):
        if mode != 5:
            return np.int64(0)
        if use_rand:
            return rand[idx]
        golden = np.uint64(0x9E3779B97F4A7C15)
        return np.int64(_mix64(sbase + (np.uint64(idx) + np.uint64(1)) * golden) >> rshift)

    @njit(cache=True, inline="always")
    def _quantize_at(x, i, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm, pos_ovf, neg_ovf,
                     pos_inf, neg_inf, mode, rbits, rand, use_rand, sbase, rshift, offset):
        # explicit random bits are indexed per call; the counter stream by offset + i
        idx = np.int64(i) if use_rand else np.int64(offset) + np.int64(i)
        r = _rand_at(idx, use_rand, rand, sbase, rshift, mode)
        return _round_one(x[i], mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                          pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, r)

    @njit(cache=True, parallel=True)
    def _quantize_body(x, out, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                       pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, rand, use_rand, seed, offset):
        sbase = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        rshift = np.uint64(64 - rbits)
        if x.shape[0] < PARALLEL_MIN:  # small tensors stay on this thread (see PARALLEL_MIN)
            for i in range(x.shape[0]):
                out[i] = _quantize_at(x, i, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                                      pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, rand, use_rand, sbase,
                                      rshift, offset)
        else:
            for i in prange(x.shape[0]):
                out[i] = _quantize_at(x, i, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                                      pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, rand, use_rand, sbase,
                                      rshift, offset)

    @njit(cache=True, error_model="numpy")   # numpy's division semantics, as the reference: x / 0 is inf
    def _scale_of(amax_bits, rule, emax, elem_mbits, elem_max, elo, ehi, sp, ts):
        # A block's scale from the bits of its amax: (1, 0, nan) for a NaN or Inf in the block (NaN
        # scale), else (0, e, s): rule AMAX (4): raw = amax / max_elem / ts (ts the tensor scale, 1
        # without one), s = raw held in fp32 (sp empty) or rounded to the scale format (sp = its
        # nearest-even saturating parameters in grid_params order), times ts (0 for an all-zero block);
        # the power-of-two rules (0 floor, 1 ceil, 2 even, 3 rceil): the exponent e (elo for an all-zero
        # block: the smallest scale, whose elements keep their signed zeros).
        if amax_bits >= _F64_EXP:
            return np.int64(1), np.int64(0), np.nan
        amax = np.int64(amax_bits + 0).view(np.float64)  # a fresh temporary: Numba's view needs one
        if rule == 4:
            if amax_bits == 0:
                return np.int64(0), np.int64(0), 0.0
            raw = amax / elem_max / ts   # ts 0 (a tensor scale that underflowed fp32): inf, as in the reference
            if sp.shape[0] == 0:
                s = np.float64(np.float32(raw))
            else:
                s = _round_one(raw, np.int64(sp[0]), np.int64(sp[1]), np.int64(sp[2]), sp[3] != 0.0,
                               sp[4] != 0.0, sp[5] != 0.0, sp[6], sp[7], sp[8], sp[9], sp[10], sp[11],
                               0, 0, np.int64(0))
            return np.int64(0), np.int64(0), s * ts
        if amax_bits == 0:
            return np.int64(0), np.int64(elo), 1.0
        lg = _elog(amax_bits)
        e = lg - emax
        if rule == 1:
            e += np.int64(amax > _pow2(lg))
        elif rule == 2:
            e += np.int64(amax >= (2.0 - _pow2(-(elem_mbits + 1))) * _pow2(lg))
        elif rule == 3:
            e += np.int64(elem_max * _pow2(e) < amax)
            e += np.int64(elem_max * _pow2(e) < amax)
        return np.int64(0), np.int64(min(max(e, elo), ehi)), 1.0

    @njit(cache=True, inline="always")
    def _elem_of(xv, kind, e, s, rule, mbits, emin, q_sub, elem_max, elem_min, no_negzero, mode, rbits, r):
        # one element of a block with scale (kind, e, s) from _scale_of. Elements saturate at [elem_min,
        # elem_max]: -max for minifloats, kmin (-128 for int8) for fixed point; no_negzero as the element's
        # own kernel parameter (fnuz formats, fixed point).
        if kind == 1:
            return np.nan
        if rule == 4:
            # rounded from x / s (one float64 division, as the reference does), the value q * s; a zero
            # scale gives +0, a NaN scale (infinite tensor scale) the canonical NaN, as the reference
            if s > 0.0:
                q = _round_one(np.float64(xv) / s, mbits, emin, q_sub, True, True, no_negzero, elem_max, 0.0,
                               elem_max, elem_min, elem_max, elem_min, mode, rbits, r)
                return q * s
            return np.nan if s != s else 0.0
        # power-of-two scale 2^e: the element grid shifted by e instead of a division
        mx = elem_max * _pow2(e)
        mn = elem_min * _pow2(e)
        return _round_one(xv, mbits, emin + e, q_sub + e, True, True, no_negzero, mx, 0.0, mx, mn, mx, mn, mode,
                          rbits, r)

    @njit(cache=True)
    def _mx_block(x, out, k, idx0, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                  no_negzero, mode, rbits, rand, use_rand, sbase, rshift, sp, ts):
        # one block: the k contiguous elements x[0:k], random integers idx0 + j
        amax_bits = np.int64(0)
        for j in range(k):
            amax_bits = max(amax_bits, np.float64(x[j]).view(np.int64) & 0x7FFFFFFFFFFFFFFF)
        kind, e, s = _scale_of(amax_bits, rule, emax, elem_mbits, elem_max, elo, ehi, sp, ts)
        for j in range(k):
            r = _rand_at(idx0 + j, use_rand, rand, sbase, rshift, mode)
            out[j] = _elem_of(x[j], kind, e, s, rule, mbits, emin, q_sub, elem_max, elem_min, no_negzero, mode,
                              rbits, r)

    @njit(cache=True)
    def _mx_cols(x, out, base, R, k, idx0, cstep, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi,
                 elem_min, no_negzero, mode, rbits, rand, use_rand, sbase, rshift, sp, ts):
        # R blocks side by side: block c is x[base + j * R + c] (j < k), its random integers idx0 + c * cstep + j.
        # Rows are read contiguously (amax per column, then the elements), not column by column.
        amax = np.zeros(R, dtype=np.int64)
        for j in range(k):
            for c in range(R):
                amax[c] = max(amax[c], np.float64(x[base + j * R + c]).view(np.int64) & 0x7FFFFFFFFFFFFFFF)
        kinds = np.empty(R, dtype=np.int64)
        es = np.empty(R, dtype=np.int64)
        ss = np.empty(R, dtype=np.float64)
        for c in range(R):
            kinds[c], es[c], ss[c] = _scale_of(amax[c], rule, emax, elem_mbits, elem_max, elo, ehi, sp, ts)
        for j in range(k):
            for c in range(R):
                r = _rand_at(idx0 + c * cstep + j, use_rand, rand, sbase, rshift, mode)
                out[base + j * R + c] = _elem_of(x[base + j * R + c], kinds[c], es[c], ss[c], rule, mbits, emin,
                                                 q_sub, elem_max, elem_min, no_negzero, mode, rbits, r)

    @njit(cache=True, inline="always")
    def _mx_row(x, out, q, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                no_negzero, mode, rbits, rand, use_rand, sbase, rshift, sp, ts):
        # row q = p * nb + b of blocks of the flat (P, L, R) arrays (lr = (L, R)): for every c, the block
        # x[p, b*blk : b*blk + blk, c] (the last one ragged: its padding zeros are not stored, but keep
        # their random integers), read row by row in place (no moved copy); R = 1 (blocks along the last
        # axis) as contiguous slices.
        L, R = lr[0], lr[1]
        nb = (L + blk - 1) // blk
        p, b = q // nb, q % nb
        l0 = b * blk
        k = min(blk, L - l0)
        if R == 1:
            s0 = p * L + l0
            _mx_block(x[s0:s0 + k], out[s0:s0 + k], k, (np.int64(p) * nb + b) * blk, rule, emax, elem_mbits,
                      elem_max, mbits, emin, q_sub, elo, ehi, elem_min, no_negzero, mode, rbits, rand, use_rand, sbase,
                      rshift, sp, ts)
        else:
            _mx_cols(x, out, (p * L + l0) * R, R, k, (np.int64(p) * R * nb + b) * blk, nb * blk, rule, emax,
                     elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min, no_negzero, mode, rbits, rand,
                     use_rand, sbase, rshift, sp, ts)

    @njit(cache=True, parallel=True)
    def _mx_body(x, out, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                 no_negzero, mode, rbits, rand, use_rand, seed, sp, ts):
        # x, out: flat views of (P, L, R) arrays, blocks of blk along L, each with its own scale 2^e by the
        # rule (0 floor, 1 ceil, 2 even, 3 rceil) or amax (4); the element grid shifted by e: emin + e,
        # subnormal step q_sub + e, saturation at max * 2^e. The random stream runs over the padded
        # axis-last layout (P, R, nb, blk), the reference's block order.
        sbase = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        rshift = np.uint64(64 - rbits)
        rows = (x.shape[0] // (lr[0] * lr[1])) * ((lr[0] + blk - 1) // blk)
        if x.size < PARALLEL_MIN:
            for q in range(rows):
                _mx_row(x, out, q, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                        no_negzero, mode, rbits, rand, use_rand, sbase, rshift, sp, ts)
        else:
            for q in prange(rows):
                _mx_row(x, out, q, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                        no_negzero, mode, rbits, rand, use_rand, sbase, rshift, sp, ts)

    # The mode reaches the loops as a compile-time literal: one specialized loop per mode lets LLVM
    # drop the other modes' code and vectorize (about 1.7x for nearest-even, measured).
    @njit(cache=True)
    def _quantize_kernel(x, out, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                         pos_ovf, neg_ovf, pos_inf, neg_inf, mode, rbits, rand, use_rand, seed, offset):
        _quantize_body(x, out, mbits, emin, q_sub, has_zero, signed, no_negzero, maxv, minnorm,
                       pos_ovf, neg_ovf, pos_inf, neg_inf, literally(mode), rbits, rand, use_rand, seed, offset)

    @njit(cache=True)
    def _mx_kernel(x, out, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min,
                   no_negzero, mode, rbits, rand, use_rand, seed, sp, ts):
        _mx_body(x, out, lr, blk, rule, emax, elem_mbits, elem_max, mbits, emin, q_sub, elo, ehi, elem_min, no_negzero,
                 literally(mode), rbits, rand, use_rand, seed, sp, ts)


_ENTRY: dict = {}


def _call_literal(kernel, args: tuple, mode: int, key: tuple, arrays: tuple):
    """Call `kernel` (whose `mode` argument is forced literal) without Numba's literal re-dispatch on
    every call: that costs milliseconds, as Numba first types `mode` as int64, fails, and retries.
    The compiled entry point of the specialization is found once per (kernel, mode, array dtypes) and
    called directly afterwards; the argument types are the same at every call site below."""
    for a in arrays:
        if not (a.flags.c_contiguous and a.flags.aligned):
            return kernel(*args)  # the cached entry points were compiled for C-contiguous, aligned arrays
    entry = _ENTRY.get((kernel, mode, key))
    if entry is not None:
        return entry(*args)
    before = set(kernel.overloads)
    kernel(*args)  # compiles or loads the specialization (and computes this call's result)
    new = [sig for sig in kernel.overloads if sig not in before]
    if len(new) == 1:
        _ENTRY[(kernel, mode, key)] = kernel.overloads[new[0]].entry_point
    else:  # already compiled by an earlier call with another key: match the literal mode and dtypes
        want = tuple(numba.typeof(a) for a in args)
        for sig, cres in kernel.overloads.items():
            if len(sig) == len(want) and all(
                    (getattr(t, "literal_value", None) == mode) if getattr(t, "literal_value", None) is not None
                    else t == w for t, w in zip(sig, want)):
                _ENTRY[(kernel, mode, key)] = cres.entry_point
                break
    return None


@functools.lru_cache(maxsize=None)
def grid_params(fmt, mode: Rounding, overflow) -> tuple | None:
    """The element kernel's scalar parameters of a (format, mode, overflow), asked of the format once
    (`Format.kernel_grid`); None for formats the kernel does not cover."""
    return fmt.kernel_grid(mode, overflow)


def supports(fmt, overflow=Overflow.SATURATE) -> bool:
    """Whether the kernels round `fmt` (with this overflow policy) and are enabled."""
    return enabled() and grid_params(fmt, Rounding.NEAREST_EVEN, overflow) is not None


_NO_RAND = np.zeros(1, dtype=np.int64)


def quantize_grid(fmt, x, mode: Rounding, overflow, rbits, rand, seed, offset, out_dtype):
    """Round the flat array x onto fmt's grid (a format `supports` accepts)."""
    params = grid_params(fmt, mode, overflow)
    out = np.empty(x.shape, dtype=out_dtype)
    use_rand = rand is not None
    rand_arr = rand if use_rand else _NO_RAND
    args = (x, out) + params + (int(rbits), rand_arr, use_rand, int(seed), int(offset))
    _call_literal(_quantize_kernel, args, params[-1], (x.dtype.char, out.dtype.char, rand_arr.dtype.char),
                  (x, out, rand_arr))
    return out


_RULE_ID = {"floor": 0, "ceil": 1, "even": 2, "rceil": 3, "amax": 4}


@functools.lru_cache(maxsize=None)
def _block_params(elem, rule: str, elo: int, ehi: int) -> tuple:
    """(rule, emax, element mantissa bits for rule 'even' (0 for fixed point, as the reference), max,
    the element's grid (mbits, emin, q_sub), exponent clamp, its saturating negative end and its
    no-negative-zero flag), all from its saturating kernel parameters."""
    p = grid_params(elem, Rounding.NEAREST_EVEN, Overflow.SATURATE)
    emax = int(np.frexp(elem.max)[1]) - 1
    return (_RULE_ID[rule], emax, int(elem.mantissa_bits), float(elem.max)) + p[:3] + (
        int(elo), int(ehi), p[9], p[5])


_FP32_SCALE = np.zeros(0, dtype=np.float64)


@functools.lru_cache(maxsize=None)
def _scale_params(scale_fmt) -> np.ndarray:
    """The block kernel's `sp`: empty for fp32 scales, else the scale format's nearest-even saturating
    parameters (grid_params order, without the mode id)."""
    if scale_fmt is None:
        return _FP32_SCALE
    return np.array(grid_params(scale_fmt, Rounding.NEAREST_EVEN, Overflow.SATURATE)[:-1], dtype=np.float64)


def quantize_blocks(elem, rule: str, x, blk: int, mode: Rounding, rbits, rand, seed, elo, ehi, out_dtype,
                    scale_fmt=None, tensor_scale: float = 1.0):
    """Quantize a C-contiguous (P, L, R) array in blocks of `blk` along L (the last one ragged), one
    scale per block (a power of two by the rule, or rule 'amax': amax / max_elem / tensor_scale held in
    fp32 or rounded to `scale_fmt`, times tensor_scale); returns the dequantized values, shaped as x.
    Element (p, l, c) draws random integer ((p R + c) nb + l // blk) blk + l % blk: its index in the
    zero-padded, axis-last block layout of `ScaledFormat`'s reference."""
    out = np.empty(x.shape, dtype=out_dtype)
    use_rand = rand is not None
    rand_arr = rand if use_rand else _NO_RAND
    sp = _scale_params(scale_fmt)
    x1, out1 = x.reshape(-1), out.reshape(-1)   # views (C-contiguous)
    lr = np.array(x.shape[1:], dtype=np.int64)
    args = (x1, out1, lr, int(blk)) + _block_params(elem, rule, elo, ehi) + (MODE_ID[mode], int(rbits), rand_arr,
                                                                        use_rand, int(seed), sp, float(tensor_scale))
    _call_literal(_mx_kernel, args, MODE_ID[mode], (x.dtype.char, out.dtype.char, rand_arr.dtype.char),
                  (x1, out1, rand_arr, sp, lr))
    return out
