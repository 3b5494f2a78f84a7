"""The 4x4 output-stationary systolic array (hw/rtl/sa_os.v + sa_pe.v) on Icarus and Verilator: every
result equals lowbit.numerics.arith.int_matmul (int8 x int8 -> int32), and its cycle count equals
lowbit.sim.systolic_gemm(m, n, k, rows=4, cols=4, dataflow="os").cycles, SCALE-Sim's stall-free
folds * (K + R + C - 2) - 1, for full, partial and single folds."""
import json
from pathlib import Path

import numpy as np

from lowbit.numerics import arith
from lowbit.verify import build, run_cocotb
from lowbit.verify.ops import RTL_DIR

R = C = 4
SHAPES = [(4, 4, 4), (1, 1, 1), (4, 4, 1), (5, 7, 9), (8, 8, 16), (13, 6, 3), (16, 16, 32), (3, 9, 2)]


def _cases(seed=11):
    rng = np.random.default_rng(seed)
    cases = []
    for m, n, k in SHAPES:
        a = rng.integers(-128, 128, (m, k))
        b = rng.integers(-128, 128, (k, n))
        if (m, n, k) == (16, 16, 32):  # extremes: wrap-free worst case of the int32 accumulator
            a[:] = -128
            b[:] = -128
        cases.append((m, n, k, a, b))
    return cases


def test_systolic_array_results_and_cycles(sim, tmp_path):
    b = build(sim, [RTL_DIR / "sa_os.v", RTL_DIR / "sa_pe.v"], "sa_os",
              {"R": R, "C": C, "ABITS": 8, "BBITS": 8, "ACCBITS": 32, "MAXM": 16, "MAXN": 16, "MAXK": 32})
    cases = _cases()
    job = {"cases": [{"m": m, "n": n, "k": k, "a": [int(v) & 0xFF for v in a.ravel()],
                      "b": [int(v) & 0xFF for v in bb.ravel()]} for m, n, k, a, bb in cases],
           "timeout_cycles": 20000, "output": str(tmp_path / "out.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    run_cocotb(b, "tb_systolic", extra_env={"LOWBIT_SA_JOB": str(tmp_path / "job.json")},
               module_dir=Path(__file__).parent)
    got = json.loads((tmp_path / "out.json").read_text())
    from lowbit.sim import systolic_gemm
    for (m, n, k, a, bb), g in zip(cases, got):
        expect = arith.int_matmul(a, bb, acc_bits=32).ravel()
        assert g["c"] == [int(v) for v in expect], f"GEMM {m}x{n}x{k}: results differ"
        folds = -(-m // R) * -(-n // C)
        assert g["cycles"] == folds * (k + R + C - 2) - 1, (m, n, k, g["cycles"])   # SCALE-Sim closed form
        assert g["cycles"] == systolic_gemm(m, n, k, rows=R, cols=C, dataflow="os").cycles, (m, n, k)
