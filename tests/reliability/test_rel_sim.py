"""Reliability: the simulator's counts stay exact at any size (issue 17 item 1). The Numba kernel runs in
int64 only where no intermediate can reach 2^62 (K.int64_safe); beyond, the same code runs over Python
ints. Checked against the literal fold-by-fold recurrence (tests/sim/sim_pipeline_ref.py) over Python
ints, against SCALE-Sim's stall-free closed form, and by bounds no correct count can break."""
import importlib.util
import math
import random
from pathlib import Path

import numpy as np
import pytest

from lowbit.sim import _kernel as K
from lowbit.sim import load_arch, systolic_gemm

_spec = importlib.util.spec_from_file_location("sim_pipeline_ref",
                                               Path(__file__).resolve().parents[1] / "sim" / "sim_pipeline_ref.py")
_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ref)


def _capture(monkeypatch, name):
    cap = {}
    orig = getattr(K, name)

    def spy(p):
        cap["p"] = list(p)
        return orig(p)
    monkeypatch.setattr(K, name, spy)
    return cap


@pytest.mark.parametrize("e", [40, 52, 63])
@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_huge_gemm_equals_literal_recurrence_over_python_ints(monkeypatch, e, df):
    cap = _capture(monkeypatch, "pipeline_exact")
    size = 2 ** e - (e == 63)                       # 2^63 - 1: the largest int64
    R = C = 2 ** (e - 2)                             # a few folds, each huge: the literal recurrence stays short
    r = systolic_gemm(size, size + 3, size // 3 + 1, rows=R, cols=C, dataflow=df, a_format="bf16",
                      b_format="fp8_e4m3fn", acc_format="fp32",
                      buffer_bits={"a": 2 ** (2 * e + 3), "b": 2 ** (2 * e + 2), "c": 2 ** (2 * e + 3)},
                      dram_bits_per_cycle=3)
    p = cap["p"]
    assert not K.int64_safe(p)
    pre, span, wb = _ref.reference_pipeline(p, fold_io=K.fold_io.py_func)
    assert (r.prefetch_cycles, r.cycle_count, r.writeback_cycles) == (pre, span, wb)
    assert r.stall_cycles == span - r.compute_cycles >= 0
    assert 0 < r.utilization <= 1 and r.cycle_count > 2 ** 63


@pytest.mark.parametrize("m,n,k", [(2 ** 40, 2 ** 40, 2 ** 40), (3_037_000_500, 3_037_000_500, 1024),
                                   (2 ** 32, 2 ** 32, 1024), (2 ** 63 - 1, 2 ** 63 - 1, 2 ** 63 - 1)])
def test_issue_shapes_on_a_preset_array_give_sane_counts(m, n, k):
    # the three shapes of the report (negative cycles, -106.7 %, 1600 % utilization) and the int64 limit
    r = systolic_gemm(m, n, k, arch="sa32_fp8")
    assert r.macs == m * n * k and r.compute_cycles == r.folds * r.fold_cycles
    assert r.stall_cycles >= 0 and r.prefetch_cycles >= 0 and r.writeback_cycles >= 0
    assert r.cycle_count == r.compute_cycles + r.stall_cycles
    assert 0 < r.utilization <= 1 and 0 < r.scalesim_utilization <= 1
    # one DRAM channel: the step cannot be shorter than its traffic over the bandwidth
    traffic = sum(r.dram_read_bits.values()) + sum(r.dram_write_bits.values())
    bw = load_arch("sa32_fp8").dram_bits_per_cycle
    assert r.prefetch_cycles + r.cycle_count + r.writeback_cycles >= traffic // bw


def test_huge_gemm_with_ample_bandwidth_is_the_closed_form():
    # SCALE-Sim's stall-free count, written independently (os: ceil(M/R) ceil(N/C) (K + R + C - 2) - 1)
    m = n = k = 2 ** 40
    r = systolic_gemm(m, n, k, rows=32, cols=32, a_format="fp8_e4m3fn", b_format="fp8_e4m3fn", acc_format="fp32",
                      buffer_bits={"a": 2 ** 60, "b": 2 ** 60, "c": 2 ** 60}, dram_bits_per_cycle=2 ** 62)
    assert r.cycles == math.ceil(m / 32) * math.ceil(n / 32) * (k + 62) - 1
    assert r.stall_cycles == 0


def test_int64_kernel_and_python_int_kernel_agree_where_both_apply(monkeypatch):
    cap = _capture(monkeypatch, "pipeline")
    rng = random.Random(17)
    checked = large = 0
    while checked < 60:
        m, n, k = (rng.randint(1, 2 ** rng.choice([4, 12, 24, 36])) for _ in range(3))
        R, C = rng.randint(1, 64), rng.randint(1, 64)
        cap.clear()
        try:
            r = systolic_gemm(m, n, k, rows=R, cols=C, dataflow=rng.choice(["os", "ws", "is"]),
                              a_format=rng.choice(["fp32", "bf16", "mxfp8_e4m3"]), b_format="bf16",
                              acc_format="fp32",
                              buffer_bits={x: rng.choice([10 ** 4, 10 ** 6, 10 ** 9]) for x in "abc"},
                              dram_bits_per_cycle=rng.choice([1, 64, 4096]))
        except ValueError as exc:
            assert "too small for one" in str(exc)
            continue
        assert r.stall_cycles >= 0
        if "p" in cap:                 # the int64 kernel ran: the Python-int run of the same code agrees
            p = [int(v) for v in cap["p"]]
            assert list(K.pipeline(np.array(p, np.int64))) == K.pipeline_exact(p)
            checked += 1
            large += r.cycle_count > 2 ** 40
    assert large >= 5
