"""Float units vs lowbit.numerics, bit for bit, on Icarus and Verilator: the minifloat multiplier and
adder (every fp8/fp4 pair in every rounding mode; bf16 seeded random vectors and corner cases), the
stochastic-rounding adder fed by the LFSR (bit-exact with numerics.lfsr) and the bf16 Kahan accumulator."""
import pytest

from lowbit.verify import check_unit

CASES = ([("fp_mul", f) for f in ("fp8_e4m3fn", "fp8_e5m2", "fp4_e2m1fn", "bf16")]
         + [("fp_add", f) for f in ("bf16", "fp8_e5m2", "fp8_e4m3fn", "fp4_e2m1fn")]
         + [("fp_add_lfsr", "bf16"), ("fp_kahan", "bf16")])


@pytest.mark.parametrize("op,fmt", CASES, ids=[f"{o}-{f}" for o, f in CASES])
def test_float_unit_matches_numerics(op, fmt, sim):
    rep = check_unit(op, fmt, sim=sim, seed=2024)
    assert rep.vectors > 0
    assert rep.ok, rep.text()
