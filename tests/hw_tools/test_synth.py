"""hw/synth/synth.py: Yosys synthesis of lowbit's units gives cell and transistor counts (CMOS estimate)
and the JSON the simulator's energy tables cite. Checks the counts add up and an ordering any gate
count must show: an 8-bit LNS multiplier (an adder) is far smaller than a bf16 multiplier."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("yosys") is None,
                                reason="Yosys not installed (sudo apt-get install yosys, or scripts/install_sims.sh)")
SCRIPT = Path(__file__).resolve().parents[2] / "hw" / "synth" / "synth.py"


def _synth():
    spec = importlib.util.spec_from_file_location("lowbit_hw_synth", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_synthesis_counts_and_json(tmp_path):
    synth = _synth()
    out = tmp_path / "s.json"
    assert synth.main(["--only", "lns_mul_lns8", "fp_mul_bf16_rne", "fp_add_bf16_rne", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["source"].startswith("synthesized from hw/") and "stat -tech cmos" in doc["source"]
    units = doc["units"]
    for r in units.values():
        assert r["cells"] == sum(r["cell_types"].values()) > 0
        assert r["transistors"] > r["cells"]
    assert units["lns_mul_lns8"]["transistors"] * 5 < units["fp_mul_bf16_rne"]["transistors"]
    assert doc["bf16_mac_transistors"] == units["fp_mul_bf16_rne"]["transistors"] + units["fp_add_bf16_rne"]["transistors"]
    assert units["fp_mul_bf16_rne"]["relative_to_bf16_mul"] == 1.0


def test_unknown_target_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown targets"):
        _synth().main(["--only", "nope", "--out", str(tmp_path / "x.json")])


def test_gate_level_netlist_matches_numerics(tmp_path):
    """The synthesized netlist itself (not only the RTL) computes what lowbit.numerics says: the full fp4
    vector set (every pair in every rounding mode, with saturation where a result can overflow) through
    the gate-level fp_mul."""
    from lowbit.verify import available_simulators, get_unit
    from lowbit.verify.ops import sweep_contract
    if available_simulators()["icarus"]:   # None when usable, else the reason it is not
        pytest.skip("Icarus not installed")
    out = tmp_path / "s.json"
    assert _synth().main(["--only", "fp_mul_fp4_e2m1fn_all", "--verify", "--out", str(out)]) == 0
    chk = json.loads(out.read_text())["units"]["fp_mul_fp4_e2m1fn_all"]["netlist_check"]
    full = len(get_unit("fp_mul", "fp4_e2m1fn", sweep_contract("fp_mul")).vectors(0, False)["a_i"])
    assert chk["vectors"] == full > 2000 and chk["mismatches"] == 0
