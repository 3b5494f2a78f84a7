"""The MX block dot product (hw/rtl/mx_dot.v) vs lowbit.numerics.arith.mx_dot on Icarus and Verilator:
32 fp8 (e4m3, e5m2) or fp4 (e2m1) elements with E8M0 scales, fp32 result rounded once; seeded random
blocks plus corner blocks (zeros, NaN scales and elements, Inf, overflow, underflow, cancellation, ties)."""
import pytest

from lowbit.verify import check_unit

FORMATS = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp4_e2m1"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_mx_dot_matches_numerics(fmt, sim):
    rep = check_unit("mx_dot", fmt, sim=sim, seed=31)
    assert rep.vectors > 0
    assert rep.ok, rep.text()
