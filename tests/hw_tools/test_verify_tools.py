"""The simulator-independent parts of lowbit.verify: memory files round trip (narrow and wide words,
Icarus' address comments, x/z digits flagged), the harness generator's checks, the port reader, and
the operation registry's bad-input messages."""
from __future__ import annotations

import numpy as np
import pytest

from lowbit.verify import Port, get_unit, list_ops, op_formats, read_hex, write_hex
from lowbit.verify.harness import harness_source
from lowbit.verify.ports import PortMismatch, _text_ports, check_ports


@pytest.mark.parametrize("width", [1, 3, 8, 17, 64])
def test_hex_round_trip_narrow(tmp_path, width):
    rng = np.random.default_rng(width)
    v = rng.integers(0, 2 ** min(width, 63), 1000, dtype=np.uint64)
    if width == 64:
        v[0] = np.uint64(0xFFFFFFFFFFFFFFFF)
    write_hex(tmp_path / "m.hex", v, width)
    got, unknown = read_hex(tmp_path / "m.hex", width, 1000)
    assert np.array_equal(got, v) and not unknown.any()


def test_hex_round_trip_wide_and_comments(tmp_path):
    v = np.array([(1 << 200) + 5, 0, (1 << 255) - 1], dtype=object)
    write_hex(tmp_path / "w.hex", v, 256)
    got, unknown = read_hex(tmp_path / "w.hex", 256)
    assert list(got) == list(v) and not unknown.any()
    (tmp_path / "i.hex").write_text("// 0x00000000\n0a\nxx\n// 0x00000002\n1z\nff\n")
    got, unknown = read_hex(tmp_path / "i.hex", 8)
    assert list(unknown) == [False, True, True, False] and got[0] == 10 and got[3] == 255
    with pytest.raises(ValueError):
        read_hex(tmp_path / "i.hex", 8, count=10)


def test_harness_rejects_bad_names_and_lists_ports():
    text = harness_source("dut", [Port("a_i", 8)], [Port("y_o", 4)], {"W": 8, "BIG": 1 << 40}, "clk_i", 16)
    assert "dut #(.W(8), .BIG(41'd1099511627776)) dut (.a_i(v_a_i), .y_o(v_y_o), .clk_i(clk));" in text
    assert text.startswith("`timescale")
    for bad in ("1x", "a-b", "", "a b"):
        with pytest.raises(ValueError):
            harness_source(bad, [Port("a_i", 8)], [Port("y_o", 4)])
    with pytest.raises(ValueError):
        Port("ok", 0)
    with pytest.raises(ValueError):
        harness_source("dut", [Port("a", 1)], [Port("a", 1)])


def test_text_port_reader(tmp_path):
    f = tmp_path / "m.v"
    f.write_text("// module fake(input q);\nmodule m #(parameter W = (1 + 2)) (a, b, y);\n"
                 "  input [W-1:0] a; input b; /* output z; */\n  output reg [3:0] y;\nendmodule\n"
                 "module n (input wire [(2*4)-1:0] p, q, output signed [1:0] r);\nendmodule\n")
    assert _text_ports([f], "m") == {"a": ("input", None), "b": ("input", None), "y": ("output", None)}
    assert _text_ports([f], "n") == {"p": ("input", None), "q": ("input", None), "r": ("output", None)}
    assert _text_ports([f], "fake") is None


def test_check_ports_names_what_is_wrong(tmp_path):
    f = tmp_path / "m.v"
    unit = get_unit("lns_mul", "lns8")
    f.write_text("module m (input [7:0] a_i, input [7:0] b_i, output [7:0] y_o, output dbg_o);\nendmodule\n")
    check_ports(unit, [f], "m")  # extra outputs are fine
    f.write_text("module m (input [7:0] a_i, input [7:0] b_i, input extra_i, output [7:0] y_o);\nendmodule\n")
    with pytest.raises(PortMismatch, match="unexpected input extra_i") as exc:
        check_ports(unit, [f], "m")
    assert "expected: input a_i[8], input b_i[8], output y_o[8]" in str(exc.value)
    f.write_text("module m (input [7:0] a_i, output [7:0] b_i, output [7:0] y_o);\nendmodule\n")
    with pytest.raises(PortMismatch, match="b_i: expected input"):
        check_ports(unit, [f], "m")


def test_registry_bad_input():
    assert "fp_mul" in list_ops() and "bf16" in op_formats("fp_mul")
    with pytest.raises(ValueError, match="known"):
        op_formats("nope")
    with pytest.raises(ValueError, match="defined for formats"):
        get_unit("fp_mul", "int8")


def test_triage_classes_of_synthetic_bugs():
    """The triage on outputs corrupted in known ways (no simulator): every fp8_e5m2 pair, golden RNE
    results, then underflowing results replaced by Inf, a lost rounding carry, another NaN code and x bits."""
    from lowbit.numerics import arith, get_format
    from lowbit.verify.ops import mismatch_mask
    from lowbit.verify.triage import triage
    f = get_format("fp8_e5m2")
    unit = get_unit("fp_mul", "fp8_e5m2")
    idx = np.arange(1 << 16)
    v = {"a_i": idx & 0xFF, "b_i": idx >> 8, "mode_i": np.zeros(idx.size, np.int64),
         "sat_i": np.zeros(idx.size, np.int64), "rand_i": np.zeros(idx.size, np.int64)}
    exp = unit.golden(v)
    y = exp["y_o"].copy()
    x, z = (np.asarray(f.decode(v[k]), np.float64) for k in ("a_i", "b_i"))
    with np.errstate(invalid="ignore"):
        p = x * z
    tiny = (p != 0) & (np.abs(p) < f.min_normal) & (np.abs(x) >= f.min_normal) & (np.abs(z) >= f.min_normal)
    y[tiny] = np.where(p[tiny] < 0, 0xFC, 0x7C)                                   # underflow gives Inf
    rtz = arith.mul(v["a_i"], v["b_i"], f, rounding="toward_zero")
    carry = ((y & 3) == 0) & (((y >> 2) & 31) == ((rtz >> 2) & 31) + 1) & np.isfinite(p) & ~tiny
    carry &= (np.abs(p) >= f.min_normal) & (np.abs(p) <= f.max) & (np.abs(x) >= f.min_normal) & (np.abs(z) >= f.min_normal)
    y[carry] = (y[carry] & 0x80) | (rtz[carry] & 0x7C)                            # carry lost
    nan = np.isnan(p) & ~tiny
    y[nan] = 0xFF                                                                  # another NaN code
    got = {"y_o": y.astype(np.uint64), "y_o__unknown": np.zeros(idx.size, bool)}
    got["y_o__unknown"][7] = True
    bad = mismatch_mask(unit, v, got, exp)
    classes = {c["class"]: c["count"] for c in triage(unit, v, got, exp, bad)}
    assert classes["subnormal/tiny result: got Inf"] == int(tiny.sum())
    assert classes["rounding carry into the exponent: larger error"] == int(carry.sum())
    assert classes["NaN encoding (both NaN, another code)"] + classes.get("NaN/Inf operand: got NaN", 0) \
        == int((nan & (exp["y_o"] != 0xFF)).sum())
    assert classes["x/z bits or no output"] == 1
    assert sum(classes.values()) == int(bad.sum())
    # --nan any: the other NaN code is accepted, the rest stays.
    bad_any = mismatch_mask(unit, v, got, exp, nan_any=True)
    assert int(bad.sum()) - int(bad_any.sum()) == int((nan & (exp["y_o"] != 0xFF)).sum()) - (1 if nan[7] else 0)
