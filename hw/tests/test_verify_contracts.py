"""`lowbit.verify` on units that do not implement lowbit's full sweep (issue 15), on Icarus and Verilator:
- a flush-to-zero/DAZ multiplier with no mode/sat/rand ports passes once its contract is declared, and
  fails under the IEEE contract with only subnormal classes;
- injected bugs (underflow gives Inf, a lost rounding carry) each show up as their own mismatch class;
- the pipelined multiplier hw/rtl/fp_mul_pipe.v passes at latencies 1-4, streamed one vector per clock
  with its active-low reset and valid handshake (matched by latency, and by valid_out at one latency),
  and fails when the declared latency is off by one.
Vector counts are seeded subsets (max_vectors) to keep the Verilator builds the main cost."""
from __future__ import annotations

from pathlib import Path

import pytest

from lowbit.verify import Contract, Timing, available_simulators, check_unit
from lowbit.verify.ops import RTL_DIR

HERE = Path(__file__).parent / "rtl"
FP = [RTL_DIR / "fp_mul.v", RTL_DIR / "lb_fp_round.v", RTL_DIR / "lb_fp_unpack.v"]
PIPE = [RTL_DIR / "fp_mul_pipe.v", RTL_DIR / "lb_fp_round.v", RTL_DIR / "lb_fp_unpack.v"]
FIRST_SIM = next((s for s, why in available_simulators().items() if why is None), None)


def test_ftz_daz_unit_passes_with_its_contract(sim):
    kw = dict(sim=sim, sources=[HERE / "ftz_mul.v", *FP], top="ftz_mul", max_vectors=3000, seed=3)
    rep = check_unit("fp_mul", "fp8_e4m3fn", contract=Contract(subnormals="ftz_daz", tininess="before"), **kw)
    assert rep.ok, rep.text()
    # Under the IEEE contract the same unit fails, and only where subnormals are involved.
    rep = check_unit("fp_mul", "fp8_e4m3fn", **kw)
    assert not rep.ok
    classes = {c["class"] for c in rep.classes}
    assert classes <= {"subnormal operand: got zero", "subnormal/tiny result: got zero",
                       "subnormal operand: wrong sign of zero"}, classes
    assert "subnormal/tiny result: got zero" in classes and sum(c["count"] for c in rep.classes) == rep.mismatches


@pytest.mark.skipif(FIRST_SIM is None, reason="no RTL simulator installed")
@pytest.mark.parametrize("bug,cls", [(1, "subnormal/tiny result: got Inf"),
                                     (2, "rounding carry into the exponent: larger error")])
def test_injected_bugs_are_their_own_class(bug, cls):
    rep = check_unit("fp_mul", "fp8_e5m2", sim=FIRST_SIM, sources=[HERE / "buggy_mul.v", *FP], top="buggy_mul",
                     params={"EBITS": 5, "MBITS": 2, "BIAS": 15, "POLICY": 0, "BUG": bug}, max_vectors=2000)
    assert not rep.ok
    names = [c["class"] for c in rep.classes]
    assert cls in names, rep.text()
    other = "rounding carry" if bug == 1 else "got Inf"
    assert not any(other in n for n in names), names
    ex = next(c for c in rep.classes if c["class"] == cls)["example"]
    assert ex["got"]["y_o"] != ex["expected"]["y_o"]
    assert cls in rep.text() and rep.to_dict()["classes"][0]["count"] > 0


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_pipelined_multiplier_at_its_latency(sim, stages):
    # Stage 3 is matched by valid_out (latency = the longest wait), the others by latency.
    timing = Timing(clock="clk_i", latency=stages, reset="rst_ni", reset_active=0, valid_in="valid_i",
                    valid_out="valid_o" if stages == 3 else None)
    rep = check_unit("fp_mul", "bf16", sim=sim, sources=PIPE, top="fp_mul_pipe", params={"STAGES": stages},
                     timing=timing, max_vectors=1500, seed=stages)
    assert rep.ok, rep.text()
    assert rep.vectors == 1500 and rep.outputs_seen == 1500


@pytest.mark.skipif(FIRST_SIM is None, reason="no RTL simulator installed")
def test_pipelined_multiplier_wrong_latency_fails():
    rep = check_unit("fp_mul", "bf16", sim=FIRST_SIM, sources=PIPE, top="fp_mul_pipe", params={"STAGES": 2},
                     timing=Timing(clock="clk_i", latency=1, reset="rst_ni", reset_active=0, valid_in="valid_i"),
                     max_vectors=500)
    assert rep.mismatches > 400
