"""systolic_gemm: SCALE-Sim's published stall-free closed forms (docs/references.md section 10) and values
recorded from SCALE-Sim itself; the memory pipeline against its literal fold-by-fold recurrence;
identities; 2^40-scale exactness; the same results with the JIT disabled; bad input."""
import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from lowbit.sim import _kernel as K
from lowbit.sim import systolic as S
from lowbit.sim import systolic_gemm

from sim_pipeline_ref import reference_pipeline

# Recorded from SCALE-Sim 3.0.0 (pip install scalesim; GEMM mode, CALC bandwidth, 1 MiB SRAMs), see
# benchmarks/sim_speed.py: (M, N, K, R, C, dataflow, Total Cycles, Mapping Efficiency %, Compute Util %,
# Overall Util %, SRAM IFMAP reads, SRAM Filter reads, SRAM OFMAP writes, DRAM IFMAP reads, DRAM Filter reads)
SCALESIM = [
    (10, 7, 5, 4, 4, "os", 65, 72.916667, 33.143939, 33.653846, 100, 105, 118, 50, 35),
    (10, 7, 5, 4, 4, "ws", 79, 54.6875, 23.777174, 27.689873, 100, 35, 140, 50, 35),
    (10, 7, 5, 4, 4, "is", 101, 52.083333, 18.229167, 21.658416, 50, 105, 140, 50, 35),
    (9, 13, 6, 4, 3, "os", 164, 65.0, 35.454545, 35.670732, 270, 234, 222, 54, 78),
    (9, 13, 6, 4, 3, "ws", 179, 65.0, 29.25, 32.681564, 270, 78, 234, 54, 78),
    (9, 13, 6, 4, 3, "is", 131, 75.0, 40.625, 44.656489, 54, 234, 234, 54, 78),
    (5, 3, 17, 3, 4, "os", 43, 62.5, 48.295455, 49.418605, 85, 102, 29, 85, 51),
    (5, 3, 17, 3, 4, "ws", 77, 70.833333, 22.135417, 27.597403, 85, 51, 90, 85, 51),
    (5, 3, 17, 3, 4, "is", 131, 59.027778, 12.64881, 16.221374, 85, 102, 90, 85, 51),
    (33, 16, 8, 8, 8, "os", 219, 82.5, 30.0, 30.136986, 528, 640, 688, 264, 128),
    (33, 16, 8, 8, 8, "ws", 109, 100.0, 53.225806, 60.550459, 528, 128, 528, 264, 128),
    (33, 16, 8, 8, 8, "is", 189, 82.5, 29.333333, 34.920635, 264, 640, 528, 264, 128),
    (2, 1, 1, 1, 1, "os", 1, 100.0, 100.0, 200.0, 2, 2, 6, 2, 1),
    (2, 1, 1, 1, 1, "ws", 2, 100.0, 66.666667, 100.0, 2, 1, 2, 2, 1),
    (2, 1, 1, 1, 1, "is", 3, 100.0, 50.0, 66.666667, 2, 2, 2, 2, 1),
    (7, 1, 9, 1, 5, "os", 90, 20.0, 13.846154, 14.0, 63, 63, 49, 63, 9),
    (7, 1, 9, 1, 5, "ws", 107, 20.0, 8.75, 11.775701, 63, 9, 63, 63, 9),
    (7, 1, 9, 1, 5, "is", 107, 70.0, 7.0, 11.775701, 63, 18, 63, 63, 9),
    (40, 3, 2, 2, 7, "os", 179, 42.857143, 9.52381, 9.577015, 80, 120, 300, 80, 6),
    (40, 3, 2, 2, 7, "ws", 48, 42.857143, 31.168831, 35.714286, 80, 6, 120, 80, 6),
    (40, 3, 2, 2, 7, "is", 71, 95.238095, 15.873016, 24.144869, 80, 36, 120, 80, 6),
]


@pytest.mark.parametrize("row", SCALESIM, ids=lambda r: "%dx%dx%d_%dx%d_%s" % r[:6])
def test_matches_recorded_scalesim(row):
    m, n, k, R, C, df, cyc, meff, cutil, util, ifr, flr, ofw, difr, dflr = row
    r = systolic_gemm(m, n, k, rows=R, cols=C, dataflow=df)
    assert r.cycles == cyc and r.stall_cycles == 0
    assert round(100 * r.mapping_efficiency, 6) == meff
    assert round(100 * r.compute_utilization, 6) == cutil
    assert round(100 * r.scalesim_utilization, 6) == util
    assert (r.sram_reads["a"], r.sram_reads["b"]) == (ifr, flr)
    assert (r.dram_reads["a"], r.dram_reads["b"]) == (difr, dflr)
    # output writes: SCALE-Sim 3.0's os report adds R + C per fold to the true count
    assert r.sram_writes["c"] + (r.folds * (R + C) if df == "os" else 0) == ofw


def _closed_form(m, n, k, R, C, df):
    # docs/references.md section 10, written independently of sim/systolic.py
    if df == "os":
        return math.ceil(m / R) * math.ceil(n / C) * (k + R + C - 2) - 1
    if df == "ws":
        return math.ceil(k / R) * math.ceil(n / C) * (m + 2 * R + C - 2) - 1
    return math.ceil(k / R) * math.ceil(m / C) * (n + 2 * R + C - 2) - 1


def test_stall_free_closed_forms_random_shapes_and_identities():
    rng = random.Random(5)
    for _ in range(300):
        m, n, k = (rng.randint(1, 3000) for _ in range(3))
        R, C = rng.randint(1, 256), rng.randint(1, 256)
        df = rng.choice(["os", "ws", "is"])
        r = systolic_gemm(m, n, k, rows=R, cols=C, dataflow=df)
        assert r.cycles == _closed_form(m, n, k, R, C, df)
        assert r.cycle_count == r.cycles + 1 and r.macs == m * n * k
        assert r.cycle_count >= -(-r.macs // (R * C))
        if R + C > 2:
            assert r.cycles >= -(-r.macs // (R * C))
        assert r.utilization == r.macs / (r.cycle_count * R * C) <= 1
        if df == "os":   # SCALE-Sim's os SRAM reads (docs/references.md section 10)
            assert r.sram_reads["a"] == m * k * math.ceil(n / C)
            assert r.sram_reads["b"] == k * n * math.ceil(m / R)


def _params(monkeypatch):
    cap = {}
    orig = K.pipeline

    def spy(p):
        cap["p"] = p.copy()
        return orig(p)
    monkeypatch.setattr(S.K, "pipeline", spy)
    return cap


def test_pipeline_equals_literal_recurrence(monkeypatch):
    # Invariant: state normalization and jumping over repeated folds change no result.
    cap = _params(monkeypatch)
    rng = random.Random(11)
    checked = streamed = spilled = 0
    while checked < 250:
        m, n, k = (rng.randint(1, rng.choice([12, 300])) for _ in range(3))
        R, C = rng.randint(1, 6), rng.randint(1, 6)
        df = rng.choice(["os", "ws", "is"])
        bufs = {x: rng.choice([10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 8]) for x in "abc"}
        try:
            r = systolic_gemm(m, n, k, rows=R, cols=C, dataflow=df,
                              a_format=rng.choice(["fp32", "bf16", "fp8_e4m3fn", "mxfp8_e4m3"]), b_format="bf16",
                              acc_format="fp32", buffer_bits=bufs, dram_bits_per_cycle=rng.choice([1, 7, 64, 4096]))
        except ValueError as exc:
            assert "too small for one" in str(exc)
            continue
        p = cap["p"]
        assert (r.prefetch_cycles, r.cycle_count, r.writeback_cycles) == reference_pipeline(p)
        assert r.stall_cycles >= 0
        # DRAM totals (closed forms) equal the sum of the per-fold transfers
        io = np.array([K.fold_io(p, fc, fr) for fc in range(p[K.P_FC]) for fr in range(p[K.P_FR])])
        total = sum(r.dram_read_bits.values()) + sum(r.dram_write_bits.values())
        assert abs(int(io[:, :3].sum()) / S.Q - total) < 3
        checked += 1
        streamed += int(p[K.P_XS] or not p[K.P_YFIT])
        spilled += int(p[K.P_SPILL])
    assert streamed > 10 and spilled > 10     # both regimes were exercised


def test_ideal_memory_has_no_stalls_and_slow_dram_is_memory_bound():
    bufs = {"a": 2 ** 24, "b": 2 ** 24, "c": 2 ** 24}
    fast = systolic_gemm(512, 512, 512, rows=32, cols=32, a_format="fp32", b_format="fp32", acc_format="fp32",
                         buffer_bits=bufs, dram_bits_per_cycle=10 ** 9)
    assert fast.stall_cycles == 0 and fast.cycles == _closed_form(512, 512, 512, 32, 32, "os")
    slow = systolic_gemm(512, 512, 512, rows=32, cols=32, a_format="fp32", b_format="fp32", acc_format="fp32",
                         buffer_bits=bufs, dram_bits_per_cycle=8)
    traffic = sum(slow.dram_read_bits.values()) + sum(slow.dram_write_bits.values())
    total = slow.prefetch_cycles + slow.cycle_count + slow.writeback_cycles
    assert total >= traffic // 8 and slow.stall_cycles > 0


def test_narrow_formats_move_fewer_bits():
    kw = dict(rows=16, cols=16, buffer_bits={"a": 2 ** 22, "b": 2 ** 22, "c": 2 ** 22}, dram_bits_per_cycle=64)
    f32 = systolic_gemm(256, 256, 256, a_format="fp32", b_format="fp32", acc_format="fp32", **kw)
    f8 = systolic_gemm(256, 256, 256, a_format="fp8_e4m3fn", b_format="fp8_e4m3fn", acc_format="fp32", **kw)
    mx = systolic_gemm(256, 256, 256, a_format="mxfp8_e4m3", b_format="mxfp8_e4m3", acc_format="fp32", **kw)
    assert f8.dram_read_bits["a"] * 4 == f32.dram_read_bits["a"] == 256 * 256 * 32
    assert mx.dram_read_bits["a"] == 256 * 256 * 33 // 4          # 8 + 8/32 bits per element
    assert f8.stall_cycles <= f32.stall_cycles


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_two_pow_40_scale_exact(df):
    # int64 throughout; counts are checked against Python integers; 2^40 folds run in O(1) by jumping
    m, n, k = 2 ** 20, 2 ** 20, 2 ** 14
    r = systolic_gemm(m, n, k, rows=128, cols=128, dataflow=df)
    assert r.macs == 2 ** 54 and r.cycles == _closed_form(m, n, k, 128, 128, df)
    big = systolic_gemm(2 ** 20, 2 ** 20, 1, rows=1, cols=1, dataflow="os", a_format="fp32", b_format="fp32",
                        acc_format="fp32", buffer_bits={"a": 2 ** 20, "b": 2 ** 20, "c": 2 ** 20},
                        dram_bits_per_cycle=64)
    assert big.folds == 2 ** 40 and big.compute_cycles == 2 ** 40
    # every 1x1 fold reads one 32-bit word of A (B's column is reused) and writes one: 1 cycle at 64 b/cycle
    assert big.dram_write_bits["c"] == 32 * 2 ** 40 and big.stall_cycles >= 0
    assert big.cycle_count == big.compute_cycles + big.stall_cycles


def test_same_results_with_jit_disabled():
    code = ("from lowbit.sim import systolic_gemm as g\n"
            "for df in ('os','ws','is'):\n"
            "  r=g(300,77,130,rows=8,cols=5,dataflow=df,a_format='bf16',b_format='fp8_e4m3fn',acc_format='fp32',"
            "buffer_bits={'a':40000,'b':9000,'c':30000},dram_bits_per_cycle=48)\n"
            "  print(r.cycles,r.stall_cycles,r.prefetch_cycles,r.writeback_cycles,sum(r.dram_read_bits.values()))\n")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    exp = []
    for df in ("os", "ws", "is"):
        r = systolic_gemm(300, 77, 130, rows=8, cols=5, dataflow=df, a_format="bf16", b_format="fp8_e4m3fn",
                          acc_format="fp32", buffer_bits={"a": 40000, "b": 9000, "c": 30000}, dram_bits_per_cycle=48)
        exp.append(f"{r.cycles} {r.stall_cycles} {r.prefetch_cycles} {r.writeback_cycles} "
                   f"{sum(r.dram_read_bits.values())}")
    assert out.split("\n")[:3] == exp


@pytest.mark.parametrize("kw,words", [
    (dict(m=0, n=1, k=1), ["m=0"]),
    (dict(m=4, n=4, k=4, rows=0), ["rows=0"]),
    (dict(m=4, n=4, k=4, cols=2.0), ["cols=2.0"]),
    (dict(m=4, n=4, k=4, dataflow="rs"), ["dataflow='rs'", "os, ws, is"]),
    (dict(m=4, n=4, k=4, a_format="fp5"), ["fp5"]),
    (dict(m=4, n=4, k=4, buffer_bits={"a": 1}), ["buffer_bits"]),
    (dict(m=4, n=4, k=4, buffer_bits={"a": 0, "b": 10, "c": 10}), ["buffer_bits['a']=0"]),
    (dict(m=64, n=64, k=4, rows=32, cols=32, acc_format="fp32", buffer_bits={"a": 10 ** 6, "b": 10 ** 6, "c": 1000}),
     ["buffer c", "too small for one 32x32 output tile"]),
    (dict(m=64, n=64, k=64, rows=32, cols=32, dataflow="ws", buffer_bits={"a": 10 ** 6, "b": 100, "c": 10 ** 6}),
     ["buffer b", "too small for one stationary 32x32 tile"]),
    (dict(m=4, n=4, k=4, dram_bits_per_cycle=0, buffer_bits={"a": 10 ** 6, "b": 10 ** 6, "c": 10 ** 6}),
     ["dram_bits_per_cycle=0"]),
])
def test_bad_input(kw, words):
    with pytest.raises(ValueError) as ei:
        systolic_gemm(**kw)
    for w in words:
        assert w in str(ei.value)


def test_arch_preset_supplies_array_formats_buffers_and_bandwidth():
    a = __import__("lowbit.sim", fromlist=["load_arch"]).load_arch("sa32_bf16")
    r = systolic_gemm(300, 200, 700, arch="sa32_bf16")
    e = systolic_gemm(300, 200, 700, rows=32, cols=32, dataflow="os", a_format="bf16", b_format="bf16",
                      acc_format="fp32", buffer_bits={key: b.bits for key, b in a.buffers.items()},
                      dram_bits_per_cycle=a.dram_bits_per_cycle)
    assert r == e
    assert systolic_gemm(300, 200, 700, arch="sa32_bf16", dataflow="ws").dataflow == "ws"
