"""Cycle and traffic model of one GEMM on a rows x cols systolic array (`systolic_gemm`).

Stall-free, it reproduces SCALE-Sim v2 exactly (Samajdar et al., "A Systematic Methodology for
Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020; docs/references.md section 10),
for an R x C array and C[M, N] = A[M, K] @ B[K, N]:

  dataflow  array rows/cols map   folds                    cycles per fold (Lf)
  os        M / N, stream K       ceil(M/R) * ceil(N/C)    K + R + C - 2
  ws        K / N, stream M       ceil(K/R) * ceil(N/C)    M + 2R + C - 2
  is        K / M, stream N       ceil(K/R) * ceil(M/C)    N + 2R + C - 2

Cycle convention: `cycles` is SCALE-Sim's "Total Cycles", the index of the last busy cycle counted from
0 at the first cycle of the first fold (folds * Lf - 1 + stall_cycles); `cycle_count` = cycles + 1 is
the number of cycles. Prefetch of the first fold's operands and the final write-back are reported
apart (`prefetch_cycles`, `writeback_cycles`), as SCALE-Sim reports its prefetch apart.
`utilization` = MACs / (cycle_count * R * C) (always <= 1); `scalesim_utilization` = MACs /
(cycles * R * C) is SCALE-Sim's "Overall Util". SRAM reads per operand are SCALE-Sim's counts
(os: A M*K*ceil(N/C), B K*N*ceil(M/R)); output writes are the true counts (SCALE-Sim 3.0's os report
adds R + C per fold). Unlike SCALE-Sim (one byte per word), every operand moves with its format's width.
DRAM traffic and stalls come from the double-buffered pipeline in _kernel.py (bounded buffers,
finite bandwidth); with `dram_bits_per_cycle=None` the memory is ideal and stalls are zero.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import _kernel as K
from .workload import _int, format_bits

__all__ = ["systolic_gemm", "GemmResult", "OPERANDS"]

OPERANDS = ("a", "b", "c")   # ifmap (A, M x K), filter (B, K x N), ofmap (C, M x N)
Q = 64                        # sizes inside the kernel are in 1/64 bit (MX widths like 8.25 are exact)


@dataclass(frozen=True)
class GemmResult:
    m: int
    n: int
    k: int
    rows: int
    cols: int
    dataflow: str
    macs: int
    folds: int
    fold_cycles: int
    cycles: int               # SCALE-Sim's Total Cycles: index of the last busy cycle
    cycle_count: int          # cycles + 1
    compute_cycles: int       # folds * fold_cycles (stall-free count)
    stall_cycles: int
    prefetch_cycles: int
    writeback_cycles: int
    utilization: float
    scalesim_utilization: float
    mapping_efficiency: float
    compute_utilization: float   # SCALE-Sim's per-fold average "Compute Util"
    sram_reads: dict          # words per operand a, b, c
    sram_writes: dict
    dram_reads: dict
    dram_writes: dict
    sram_read_bits: dict
    sram_write_bits: dict
    dram_read_bits: dict
    dram_write_bits: dict

    def as_dict(self) -> dict:
        return asdict(self)

    def __getitem__(self, key):
        return getattr(self, key)


def _wq(owner, key, bits) -> int:
    q = bits * Q
    if isinstance(bits, bool) or not isinstance(bits, (int, float)) or not q > 0 or not math.isfinite(q):
        raise ValueError(f"{owner}: {key}={bits!r} must be a positive width in bits")
    return int(math.ceil(q))


def _bits_of(words, wq) -> int:
    return -(-words * wq // Q)


def _width(fmt, default):
    return default if fmt is None else format_bits(fmt)


def systolic_gemm(m, n, k, rows=None, cols=None, dataflow=None, a_format=None, b_format=None, acc_format=None,
                  out_format=None, buffer_bits=None, dram_bits_per_cycle=None, arch=None) -> GemmResult:
    """Simulate C[m,n] = A[m,k] @ B[k,n] on a rows x cols array (default 32 x 32, "os"). Formats (registry names) set the word
    widths (default 8 bits, SCALE-Sim's one byte); `buffer_bits` = {"a","b","c": SRAM size in bits}
    (None = unbounded); `dram_bits_per_cycle` (None = ideal memory, no stalls). `arch` (an Arch or
    preset name) supplies everything not given explicitly."""
    if arch is not None:
        from .arch import load_arch
        A = load_arch(arch)
        dp = A.datapath
        rows, cols = A.rows if rows is None else rows, A.cols if cols is None else cols
        dataflow = A.dataflow if dataflow is None else dataflow
        a_format, b_format = a_format or dp.a_format, b_format or dp.b_format
        acc_format = acc_format or dp.acc_format
        if buffer_bits is None:
            buffer_bits = {key: b.bits for key, b in A.buffers.items()}
        if dram_bits_per_cycle is None:
            dram_bits_per_cycle = A.dram_bits_per_cycle
    own = "systolic_gemm"
    rows, cols, dataflow = 32 if rows is None else rows, 32 if cols is None else cols, dataflow or "os"
    m, n, k = (_int(own, key, v, 1) for key, v in (("m", m), ("n", n), ("k", k)))
    R, C = _int(own, "rows", rows, 1), _int(own, "cols", cols, 1)
    if dataflow not in ("os", "ws", "is"):
        raise ValueError(f"{own}: dataflow={dataflow!r}; allowed: os, ws, is")
    wa, wb = _wq(own, "a width", _width(a_format, 8)), _wq(own, "b width", _width(b_format, 8))
    wacc = _wq(own, "acc width", _width(acc_format, 8))
    wout = _wq(own, "out width", _width(out_format, _width(acc_format, 8)))
    df = {"os": K.OS, "ws": K.WS, "is": K.IS}[dataflow]
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    fr, fc = -(-sr // R), -(-sc // C)
    folds = fr * fc
    lf = t + R + C - 2 if dataflow == "os" else t + 2 * R + C - 2
    macs = m * n * k

    # Buffers: whole-operand residency, tile fits, psum spill (see _kernel.fold_io).
    cap = None
    if buffer_bits is not None:
        if not isinstance(buffer_bits, dict) or set(buffer_bits) != set(OPERANDS):
            raise ValueError(f"{own}: buffer_bits must map a, b, c to sizes in bits, got {buffer_bits!r}")
        cap = {key: _int(own, f"buffer_bits[{key!r}]", v, 1) * Q for key, v in buffer_bits.items()}
    res = yfit = 1          # unbounded buffers: every operand resident, fetched once
    spill = xs = 0
    if cap is not None:
        x_key, x_words = ("b", k * n) if dataflow == "is" else ("a", m * k)
        xw = wb if x_key == "b" else wa
        res = int(x_words * xw <= cap[x_key])
        # the streamed operand's per-fold tile: prefetched into half the buffer if it fits, else streamed
        x_tile = {"os": min(R, m) * k, "ws": m * min(R, k), "is": min(R, k) * n}[dataflow] * xw
        xs = int(x_tile > cap[x_key] // 2)
        if dataflow == "os":
            yfit = int(k * min(C, n) * wb <= cap["b"] // 2)
            tile = min(R, m) * min(C, n) * wout
            if tile > cap["c"] // 2:
                raise ValueError(f"{own}: buffer c (outputs) is too small for one {min(R, m)}x{min(C, n)} output "
                                 f"tile: needs {2 * _bits_of(tile // wout, wout)} bits double-buffered, has "
                                 f"{cap['c'] // Q}")
        else:
            skey, sw = ("b", wb) if dataflow == "ws" else ("a", wa)
            tile = min(R, sr) * min(C, sc) * sw
            if tile > cap[skey] // 2:
                raise ValueError(f"{own}: buffer {skey} is too small for one stationary {min(R, sr)}x{min(C, sc)} "
                                 f"tile: needs {2 * (-(-tile // Q))} bits double-buffered, has {cap[skey] // Q}")
            spill = int((m if dataflow == "ws" else n) * min(C, sc) * wacc > cap["c"] // 2)

    p = [0] * K.NPARAM
    for i, v in ((K.P_FR, fr), (K.P_FC, fc), (K.P_R, R), (K.P_C, C), (K.P_SR, sr), (K.P_SC, sc), (K.P_T, t),
                 (K.P_DF, df), (K.P_WA, wa), (K.P_WB, wb), (K.P_WACC, wacc), (K.P_WOUT, wout), (K.P_RES, res),
                 (K.P_YFIT, yfit), (K.P_SPILL, spill), (K.P_M, m), (K.P_N, n), (K.P_K, k), (K.P_LF, lf),
                 (K.P_XS, xs)):
        p[i] = v
    if dram_bits_per_cycle is None:
        pre = span_extra = wb_cycles = 0
    else:
        p[K.P_BW] = _int(own, "dram_bits_per_cycle", dram_bits_per_cycle, 1) * Q
        # Every count is exact: the Numba kernel in int64 where no intermediate can reach 2^62, else the
        # same code over Python ints (a 2^40-cubed GEMM has ~2^110 cycles).
        out = K.pipeline(np.array(p, np.int64)) if K.int64_safe(p) else K.pipeline_exact(p)
        pre, span, wb_cycles = (int(v) for v in out)
        span_extra = span - folds * lf

    # Word counts (closed forms; SCALE-Sim's SRAM reads).
    mn, mk, kn = m * n, m * k, k * n
    kf = fr if dataflow != "os" else 1            # K folds: partial sums per output
    sram_reads = {"a": mk * fc if dataflow != "is" else mk, "b": kn * fr if dataflow == "os" else
                  (kn if dataflow == "ws" else kn * fc), "c": mn * (kf - 1)}
    if dataflow == "os":
        dram_reads = {"a": mk if res else mk * fc, "b": kn if yfit else kn * fr}
    elif dataflow == "ws":
        dram_reads = {"a": mk if res else mk * fc, "b": kn}
    else:
        dram_reads = {"a": mk, "b": kn if res else kn * fc}
    dram_reads["c"] = mn * (kf - 1) if spill else 0      # spilled partial sums read back
    psum_spill_writes = mn * (kf - 1) if spill else 0
    dram_writes = {"a": 0, "b": 0, "c": mn + psum_spill_writes}
    sram_writes = {"a": dram_reads["a"], "b": dram_reads["b"], "c": mn * kf + dram_reads["c"]}
    sram_reads["c"] += mn + psum_spill_writes     # outputs (and spilled psums) read out for write-back
    w = {"a": wa, "b": wb}
    rbits = {key: _bits_of(v, w[key]) for key, v in sram_reads.items() if key != "c"}
    rbits["c"] = _bits_of(mn * (kf - 1) + psum_spill_writes, wacc) + _bits_of(mn, wout)
    sw_bits = {"a": _bits_of(sram_writes["a"], wa), "b": _bits_of(sram_writes["b"], wb),
               "c": _bits_of(mn * (kf - 1) + dram_reads["c"], wacc) + _bits_of(mn, wout)}
    dr_bits = {"a": _bits_of(dram_reads["a"], wa), "b": _bits_of(dram_reads["b"], wb),
               "c": _bits_of(dram_reads["c"], wacc)}
    dw_bits = {"a": 0, "b": 0, "c": _bits_of(mn, wout) + _bits_of(psum_spill_writes, wacc)}

    count = folds * lf + span_extra
    pes = R * C
    return GemmResult(
        m=m, n=n, k=k, rows=R, cols=C, dataflow=dataflow, macs=macs, folds=folds, fold_cycles=lf,
        cycles=count - 1, cycle_count=count, compute_cycles=folds * lf, stall_cycles=span_extra,
        prefetch_cycles=pre, writeback_cycles=wb_cycles, utilization=macs / (count * pes),
        scalesim_utilization=macs / ((count - 1) * pes) if count > 1 else float("nan"),
        mapping_efficiency=sr * sc / (folds * pes),
        compute_utilization=sr * sc * t / (folds * pes * (lf if dataflow == "os" else lf + C - 1)),
        sram_reads=sram_reads, sram_writes=sram_writes, dram_reads=dram_reads, dram_writes=dram_writes,
        sram_read_bits=rbits, sram_write_bits=sw_bits, dram_read_bits=dr_bits, dram_write_bits=dw_bits)
