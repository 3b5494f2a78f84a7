"""Every reference unit vs lowbit.numerics, bit for bit, on Icarus and Verilator (lowbit.verify.check_unit:
vectors through $readmemh memory files, every output compared with the golden model):
- fp_mul, fp_add: every fp8/fp4 pair in every rounding mode (and with saturation wherever a result may
  overflow); bf16 seeded random vectors plus corner pairs (zeros, subnormals, max, Inf/NaN, ties);
- fp_add_lfsr: stochastic rounding fed by the LFSR, bit-exact with numerics.lfsr; fp_kahan: bf16 Kahan;
- lfsr (with enables and resets), ternary_mac (every trit x int8 pair), trit_plane_dot;
- mx_dot: 32 fp8/fp4 elements with E8M0 scales, fp32 result, random and corner blocks;
- lns_mul (every lns8 pair; lns16) and lns_dot (exact sum and back-converted code; Mitchell variants).
Plain lns16 lns_dot (512 buckets of 262 bits) works too but takes Verilator ~90 s to build: CI runs lns16
with 6 Mitchell bits instead."""
import pytest

from lowbit.verify import check_unit
from lowbit.verify.ops import sweep_contract

CASES = ([("fp_mul", f) for f in ("fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "bf16")]
         + [("fp_add", f) for f in ("bf16", "fp8_e5m2", "fp8_e4m3fn", "fp4_e2m1fn")]
         + [("fp_add_lfsr", "bf16"), ("fp_kahan", "bf16")]
         + [("lfsr", "w32_r8"), ("lfsr", "w16_r3"), ("lfsr", "w32_r23"), ("ternary_mac", "int8"),
            ("trit_plane_dot", "p2_n16"), ("trit_plane_dot", "p3_n8")]
         + [("mx_dot", f) for f in ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp4_e2m1")]
         + [("lns_mul", "lns8"), ("lns_mul", "lns16"), ("lns_dot", "lns8"), ("lns_dot", "lns8_mitchell2"),
            ("lns_dot", "lns8_mitchell3"), ("lns_dot", "lns16_mitchell6")])


@pytest.mark.parametrize("op,fmt", CASES, ids=[f"{o}-{f}" for o, f in CASES])
def test_unit_matches_numerics(op, fmt, sim):
    rep = check_unit(op, fmt, sim=sim, seed=2024, contract=sweep_contract(op))
    assert rep.vectors > 0
    assert rep.ok, rep.text()
