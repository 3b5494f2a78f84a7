"""Numba kernel of the systolic-array memory pipeline (pure functions over int64 scalars and arrays).

Stall-free timing is SCALE-Sim's (Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator",
arXiv:1811.02883, and v2, ISPASS 2020): folds run back to back in the order `for fc (column folds):
for fr (row folds)`, each taking Lf cycles (fill + stream + drain). On top of it this kernel models
double-buffered SRAMs fed by one DRAM channel:

  load of fold i's new data R_i may start when the channel is free and the buffer half it fills is free
  (fold i-1 has started: the half of fold i-2 is released); fold i starts at
  max(end of fold i-1, its data loaded, the output half it writes was written back two writes ago);
  the write-back of fold i-1's outputs W_{i-1} follows on the channel once fold i-1 ends. When partial
  sums spill to DRAM (ws/is, psum tile larger than half the output buffer), fold i reads back the
  psums fold i-1 wrote, so that write goes first and the load waits for it. An operand tile larger than
  half its buffer cannot be prefetched: it is streamed during its fold (re-fetched at every use), and
  the fold cannot end before its data has arrived. Components of the state that can no longer bind are
  normalized (a write-done time below the last fold's end, a channel-free time below its start), which
  changes no later max() and makes repeated states comparable.

All times are cycles and all sizes units of 1/64 bit, int64 in the Numba kernel. `int64_safe` bounds
every intermediate value from the parameters; where the bound reaches 2^62 the caller runs
`pipeline_exact`: the same functions (same code objects) executed as plain Python over Python ints
(arbitrary precision), so a huge GEMM gets exact counts instead of a wrapped int64. The recurrence is max-plus and
translation invariant, so once the state relative to the current fold start repeats under a repeating
input, the rest of the run is a constant shift per fold: runs of identical folds (and identical outer
iterations) are jumped exactly, which keeps 2^40-fold GEMMs O(1).
"""
from __future__ import annotations

import types

import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher

# parameter vector layout (int64)
P_FR, P_FC, P_R, P_C, P_SR, P_SC, P_T, P_DF, P_WA, P_WB, P_WACC, P_WOUT, P_RES, P_YFIT, P_SPILL, P_M, P_N, P_K, \
    P_LF, P_BW, P_XS = range(21)
NPARAM = 21
OS, WS, IS = 0, 1, 2


@njit(cache=True)
def _ceil_div(a, b):
    return (a + b - 1) // b


@njit(cache=True)
def fold_io(p, fc, fr):
    """(R, S, W, dep) of fold (fc, fr): bits prefetched before it, bits streamed during it (tiles larger
    than half their buffer), bits it writes after it, and whether its load waits for the previous
    fold's write (psum read-back)."""
    FR, FC, R, C = p[P_FR], p[P_FC], p[P_R], p[P_C]
    rows = R if fr < FR - 1 else p[P_SR] - (FR - 1) * R
    cols = C if fc < FC - 1 else p[P_SC] - (FC - 1) * C
    df = p[P_DF]
    if df == OS:
        x = rows * p[P_K] * p[P_WA]
        y = p[P_K] * cols * p[P_WB]
    elif df == WS:
        x = p[P_M] * rows * p[P_WA]
        y = rows * cols * p[P_WB]
    else:
        x = rows * p[P_N] * p[P_WB]
        y = rows * cols * p[P_WA]
    if p[P_RES] != 0 and fc > 0:
        x = 0                                  # resident: fetched during the first outer iteration only
    rd = 0
    st = 0
    if p[P_XS] != 0:
        st += x
    else:
        rd += x
    if df == OS:
        if p[P_YFIT] == 0:
            st += y                            # B tile larger than half its buffer: streamed every fold
        elif fr == 0:
            rd += y                            # B tile reused by every fold of this column
        return rd, st, rows * cols * p[P_WOUT], 0
    rd += y
    psum = p[P_M] * cols if df == WS else cols * p[P_N]
    dep = 0
    if p[P_SPILL] != 0 and fr > 0:
        rd += psum * p[P_WACC]
        dep = 1
    if fr == FR - 1:
        wr = psum * p[P_WOUT]
    elif p[P_SPILL] != 0:
        wr = psum * p[P_WACC]
    else:
        wr = 0
    return rd, st, wr, dep


@njit(cache=True)
def _step(s, rd, st, wprev, dep, lf, bw):
    """Advance state s = [start, end, chan, wq_older, wq_newer] (fold i-1) by fold i."""
    start, end, chan, wold, wnew = s[0], s[1], s[2], s[3], s[4]
    if dep:
        chan = max(chan, end) + _ceil_div(wprev, bw)
        if wprev > 0:
            wold, wnew = wnew, chan
    chan = max(chan, start) + _ceil_div(rd, bw)
    nstart = max(end, chan, wold)
    if not dep:
        chan = max(chan, end) + _ceil_div(wprev, bw)
        if wprev > 0:
            wold, wnew = wnew, chan
    nend = nstart + lf
    if st > 0:   # streamed operands flow during the fold; the fold cannot end before they arrive
        chan = max(chan, nstart) + _ceil_div(st, bw)
        nend = max(nend, chan)
    # normalize components that can no longer bind (exact: see module docstring)
    s[0] = nstart
    s[1] = nend
    s[2] = max(chan, nstart)
    s[3] = max(wold, nend)
    s[4] = max(wnew, nend)


@njit(cache=True)
def _same_rel(a, b):
    for j in range(1, 5):
        if a[j] - a[0] != b[j] - b[0]:
            return False
    return True


@njit(cache=True)
def _inner(p, s, fc, fr, wlast):
    """Run folds fr.. of outer iteration fc (state s = fold before); returns the last fold's write."""
    FR, lf, bw = p[P_FR], p[P_LF], p[P_BW]
    prev = np.empty(5, np.int64)
    prev_in = np.full(4, -1, np.int64)
    while fr < FR:
        rd, st, wr, dep = fold_io(p, fc, fr)
        if (prev_in[0] == rd and prev_in[1] == st and prev_in[2] == wlast and prev_in[3] == dep
                and _same_rel(s, prev)):
            # same input and same relative state: folds fr..last (all identical) repeat the last shift
            last = max(FR - 2, fr)
            rd2, st2, wr2, dep2 = fold_io(p, fc, last)
            if rd2 == rd and st2 == st and wr2 == wr and dep2 == dep:
                shift = s[0] - prev[0]
                for j in range(5):
                    s[j] += (last - fr + 1) * shift
                fr = last + 1
                wlast = wr2
                prev_in[0] = -1
                continue
        prev[:] = s
        prev_in[0], prev_in[1], prev_in[2], prev_in[3] = rd, st, wlast, dep
        _step(s, rd, st, wlast, dep, lf, bw)
        wlast = wr
        fr += 1
    return wlast


@njit(cache=True)
def pipeline(p):
    """Returns [prefetch, compute span (first fold start .. last fold end), trailing write-back]."""
    FC, bw = p[P_FC], p[P_BW]
    rd0, st0, w0, _ = fold_io(p, 0, 0)
    pre = _ceil_div(rd0, bw)
    # state after fold 0, whose prefetched data is loaded during the prologue
    s = np.zeros(5, np.int64)
    s[0] = s[2] = pre
    s[1] = s[3] = s[4] = pre + p[P_LF]
    if st0 > 0:
        s[2] = pre + _ceil_div(st0, bw)
        s[1] = s[3] = s[4] = max(s[1], s[2])
    wlast = _inner(p, s, 0, 1, w0)
    oprev = np.empty(5, np.int64)
    have_prev = False
    fc = 1
    while fc < FC:
        if have_prev and 2 <= fc <= FC - 2 and _same_rel(s, oprev):
            n = FC - 2 - fc + 1
            shift = s[0] - oprev[0]
            for j in range(5):
                s[j] += n * shift
            fc = FC - 1
            have_prev = False
            continue
        oprev[:] = s
        have_prev = fc >= 2
        wlast = _inner(p, s, fc, 0, wlast)
        fc += 1
    end = s[1]
    done = max(s[2], end) + _ceil_div(wlast, bw)
    out = np.empty(3, np.int64)
    out[0] = pre
    out[1] = end - pre
    out[2] = done - end
    return out


INT64_LIMIT = 1 << 62      # every intermediate below this: int64 arithmetic is exact (sums of two fit)


def int64_safe(p) -> bool:
    """True when no value the kernel computes for parameters `p` (Python ints) can reach 2^62.

    Per fold, each of the bit counts fold_io returns (and its products) is at most
    D = 3 * max(R, C) * max(M, N, K, R, C) * widest word; every time value grows per fold by at most
    lf + 3 * (ceil(D / bw) + 1) (a write-back, a load and a streamed operand on the channel, then the
    fold), so all times stay below (folds + 2) * that, and the exact jumps compute values of that size."""
    dims = max(p[P_M], p[P_N], p[P_K], p[P_R], p[P_C])
    d = 3 * max(p[P_R], p[P_C]) * dims * max(p[P_WA], p[P_WB], p[P_WACC], p[P_WOUT])
    per_fold = p[P_LF] + 3 * (d // p[P_BW] + 2)
    return max(d + p[P_BW], (p[P_FR] * p[P_FC] + 2) * per_fold) < INT64_LIMIT


class _PyArrays:
    """The numpy constructors the kernel uses, returning lists of Python ints (for pipeline_exact)."""
    int64 = int

    @staticmethod
    def empty(n, dtype):
        return [0] * n

    zeros = empty

    @staticmethod
    def full(n, value, dtype):
        return [value] * n


_KERNEL_FUNCS = ("_ceil_div", "fold_io", "_step", "_same_rel", "_inner", "pipeline")


def _exact_pipeline():
    env = dict(globals(), np=_PyArrays)
    for name in _KERNEL_FUNCS:
        f = globals()[name]
        f = f.py_func if isinstance(f, Dispatcher) else f      # a plain function under NUMBA_DISABLE_JIT
        env[name] = types.FunctionType(f.__code__, env, name, f.__defaults__)
    return env["pipeline"]


_PIPELINE_PY = _exact_pipeline()


def pipeline_exact(p) -> list:
    """pipeline(p) over Python ints: `p` a list of ints of any size; returns [prefetch, span, write-back]."""
    return _PIPELINE_PY([int(v) for v in p])
