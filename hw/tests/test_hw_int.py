"""Integer units vs lowbit.numerics on Icarus and Verilator: the LFSR random source (the Python model's
word stream, with enables and resets), the ternary add/subtract/skip MAC (every trit x int8 pair) and
the trit-plane dot product (seeded random vectors and extreme corners)."""
import pytest

from lowbit.verify import check_unit

CASES = [("lfsr", "w32_r8"), ("lfsr", "w16_r3"), ("lfsr", "w32_r23"), ("ternary_mac", "int8"),
         ("trit_plane_dot", "p2_n16"), ("trit_plane_dot", "p3_n8")]


@pytest.mark.parametrize("op,fmt", CASES, ids=[f"{o}-{f}" for o, f in CASES])
def test_int_unit_matches_numerics(op, fmt, sim):
    rep = check_unit(op, fmt, sim=sim, seed=7)
    assert rep.vectors > 0
    assert rep.ok, rep.text()
