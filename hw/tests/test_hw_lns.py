"""LNS units vs lowbit.numerics.lns on Icarus and Verilator: the multiplier (every lns8 pair; lns16 seeded
random vectors and corners: zero, NaN, saturation at both ends) and the bucketed dot-product unit of the
LNS-Madam PE (exact fixed-point sum and back-converted code; lns8 with 0, 2 and 3 Mitchell bits, lns16 with 6;
plain lns16 (512 buckets of 262 bits) works too but takes Verilator ~90 s to build, so CI leaves it out)."""
import pytest

from lowbit.verify import check_unit

CASES = [("lns_mul", "lns8"), ("lns_mul", "lns16"), ("lns_dot", "lns8"), ("lns_dot", "lns8_mitchell2"),
         ("lns_dot", "lns8_mitchell3"), ("lns_dot", "lns16_mitchell6")]


@pytest.mark.parametrize("op,fmt", CASES, ids=[f"{o}-{f}" for o, f in CASES])
def test_lns_unit_matches_numerics(op, fmt, sim):
    rep = check_unit(op, fmt, sim=sim, seed=5)
    assert rep.vectors > 0
    assert rep.ok, rep.text()
