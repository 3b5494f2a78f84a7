"""Design-space exploration (lowbit.sim.explore, `lowbit dse`): every point equals `simulate` on the same
arch (lowbit sim), infeasible points are kept with their reason, the space is validated at load, the area
table's copies of the synthesized units match hw/synth/results.json, the Pareto mask equals a brute-force
dominance check, and the CLI writes the report folder (with the co-design view)."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

import lowbit.sim as sim
from lowbit.cli import main
from lowbit.sim.area import load_area_table
from lowbit.sim.dse import explore, load_space, pareto_mask, traced_layers

ROOT = Path(__file__).resolve().parents[2]

SPACE = {
    "name": "t",
    "workloads": ["mlp_step", {"gemm": {"m": 96, "n": 80, "k": 200}, "name": "g"}],
    "datapath": ["fp32", "bf16", "fp8", "mxfp8", "mxfp4", "int8", {"family": "ternary", "acc_format": "int24"},
                 {"family": "lns", "gamma": [8, 16]}],
    "energy": ["horowitz45", "tpuv4i7"],
    "rows": [0, 4, 16], "cols": [8, 32], "dataflow": ["os", "ws", "is"],
    "buffers": {"a": [0.5, 64], "b": [0.25, 64], "c": [1, 32]},
    "dram_gbps": [16, 128], "clock_mhz": [700, 1000], "chunk": 1000,
}


@pytest.fixture(scope="module")
def result():
    return explore(SPACE)


def test_every_point_equals_simulate_on_the_same_arch(result):
    """Random points of every workload, datapath, energy table and dataflow: cycles, energy (total, per update,
    every component), seconds and DRAM traffic exactly equal simulate(); infeasible points carry the message
    simulate raises."""
    space, c = result.space, result.columns
    assert len(result) == space.size == 2 * 9 * 2 * 3 * 2 * 3 * 2 * 2 * 2 * 2 * 2
    rng = np.random.default_rng(1)
    picked = list(rng.choice(space.size, 60, replace=False))
    for df in ("os", "ws", "is"):   # at least one computed point per dataflow and workload kind
        for w in ("mlp_step", "g"):
            picked.append(int(np.nonzero((c["dataflow"] == df) & (c["workload"] == w) & (c["rows"] > 0) &
                                         np.isfinite(c["pj_per_step"]))[0][0]))
    checked = 0
    for i in picked:
        i = int(i)
        if c["rows"][i] == 0:
            assert not c["feasible"][i] and c["reason"][i] == "rows=0: zero-sized array"
            continue
        co = [int(v) for v in space.coords(i)]
        wl = space.workload(co[0], co[1])
        try:
            rep = sim.simulate(wl, space.arch(i))
        except ValueError as exc:
            assert not c["feasible"][i] and c["reason"][i].endswith(str(exc)), (c["reason"][i], str(exc))
            continue
        checked += 1
        assert c["cycles"][i] == rep.cycles
        assert c["pj_per_step"][i] == rep.pj_per_step
        assert c["seconds"][i] == rep.seconds
        if math.isnan(rep.pj_per_weight_update):
            assert math.isnan(c["pj_per_weight_update"][i]) and c["energy_objective"][i] == rep.pj_per_step
        else:
            assert c["pj_per_weight_update"][i] == rep.pj_per_weight_update == c["energy_objective"][i]
        for comp in sim.COMPONENTS:
            assert c[f"pj_{comp}"][i] == rep.breakdown["component"].get(comp, 0.0), comp
        for kind in ("dram_read", "dram_write", "sram_read", "sram_write"):
            assert c[f"{kind}_bits"][i] == sum(rep.traffic_bits[kind].values())
        assert c["utilization"][i] == rep.macs / (rep.cycles * c["rows"][i] * c["cols"][i])
        assert c["feasible"][i] == (not rep.notes), (rep.notes, c["reason"][i])
    assert checked >= 30


def test_infeasible_points_are_kept_with_their_reason(result):
    c = result.columns
    zero = c["rows"] == 0
    assert zero.any() and not c["feasible"][zero].any()
    assert set(c["reason"][zero]) == {"rows=0: zero-sized array"}
    small_c = (c["rows"] == 16) & (c["cols"] == 32) & (c["c_kib"] == 1) & (c["dataflow"] == "os") & (c["datapath"] == "fp32")
    assert small_c.any() and not c["feasible"][small_c].any()
    assert all("buffer c (outputs) is too small" in r for r in c["reason"][small_c])
    tiny_b = (c["b_kib"] == 0.25) & (c["dataflow"] == "ws") & (c["rows"] == 16) & (c["cols"] == 32) & \
        (c["datapath"] == "fp32") & (c["c_kib"] == 32)
    assert all("stationary" in r for r in c["reason"][tiny_b]) and tiny_b.any()
    assert np.isnan(c["pj_per_step"][zero | small_c]).all()
    assert (c["feasible"] == (c["reason"] == "")).all()
    z = explore({**SPACE, "workloads": ["mlp_step"], "buffers": {"a": [0], "b": [64], "c": [32]}}).columns
    assert set(z["reason"][z["rows"] > 0]) == {"buffers.a: kib=0: zero-sized buffer"}


def test_chunking_and_ranges_give_the_same_points(result):
    sub = explore({**SPACE, "chunk": 333}, start=100, stop=1400)
    for k in ("cycles", "pj_per_step", "reason", "area_mm2", "feasible"):
        a, b = sub.columns[k], result.columns[k][100:1400]
        assert np.array_equal(a, b, equal_nan=True) if a.dtype.kind == "f" else (a == b).all()


def test_pareto_mask_equals_brute_force():
    rng = np.random.default_rng(3)
    for n in (1, 7, 200):
        objs = [rng.integers(0, 6, n).astype(float) for _ in range(3)]   # many ties
        got = pareto_mask(*objs)
        X = np.stack(objs, 1)
        dominated = [any((X[j] <= X[i]).all() and (X[j] < X[i]).any() for j in range(n)) for i in range(n)]
        assert got.tolist() == [not d for d in dominated]
    e, lat = rng.random(50), rng.random(50)
    X = np.stack([e, lat], 1)
    assert pareto_mask(e, lat).tolist() == [not any((X[j] <= X[i]).all() and (X[j] < X[i]).any()
                                                    for j in range(50)) for i in range(50)]


def test_pareto_set_is_feasible_with_known_area(result):
    c, p = result.columns, result.pareto
    assert p.any() and c["feasible"][p].all() and np.isfinite(c["area_mm2"][p]).all()
    for w in ("mlp_step", "g"):
        sel = c["feasible"] & np.isfinite(c["area_mm2"]) & (c["workload"] == w)
        X = np.stack([c["energy_objective"][sel], c["seconds"][sel], c["area_mm2"][sel]], 1)
        for x in X[p[sel]][:20]:
            assert not ((X <= x).all(1) & (X < x).any(1)).any()


def test_area_units_match_synthesis_and_unknown_datapaths_say_so():
    T = load_area_table("nangate45")
    synth = json.loads((ROOT / "hw" / "synth" / "results.json").read_text())["units"]
    for name, u in T.synth.items():
        assert u["transistors"] == synth[name]["transistors"]
        assert u["transistors_per_mac"] == synth[name]["transistors_per_mac"]
    int8 = sim.load_arch("sa32_int8")
    pe = T.pe(int8.datapath)
    assert pe.pe_transistors == synth["sa_pe_int8"]["transistors"] and not pe.why
    fp8 = T.pe(sim.load_arch("sa32_fp8").datapath)
    assert fp8.pe_transistors is None and "fp8_e4m3fn x fp8_e4m3fn -> fp32" in fp8.why and \
        "fp_mul_fp8_e4m3fn_rne" in fp8.why
    # the area of one int8 point by hand: PEs x transistors x um2/transistor + SRAM bits x um2/bit / efficiency
    r = explore({**SPACE, "workloads": ["mlp_step"], "datapath": ["int8", "fp8"], "rows": [16], "cols": [8],
                 "dataflow": ["os"], "buffers": {"a": [64], "b": [64], "c": [32]}, "energy": ["horowitz45"],
                 "dram_gbps": [16], "clock_mhz": [1000]})
    um2 = 16 * 8 * 5870 * 0.798 / 4 + (64 + 64 + 32) * 8192 * 0.346 / 0.7
    assert math.isclose(r.columns["area_mm2"][0], um2 / 1e6, rel_tol=1e-12)
    assert math.isnan(r.columns["area_mm2"][1]) and "no synthesized PE" in r.columns["area_note"][1]


@pytest.mark.parametrize("bad, msg", [
    ({"rows": [-1]}, "rows[0]=-1 must be an integer >= 0"),
    ({"dataflow": ["os", "xs"]}, "dataflow[1]='xs'; allowed: os, ws, is"),
    ({"datapath": ["fp9"]}, "family='fp9'; allowed: fp32"),
    ({"datapath": [{"family": "lns", "gamma": 3}]}, "gamma=3 must be a power of two"),
    ({"buffers": {"a": [1], "b": [1]}}, "buffers="),
    ({"dram_gbps": [0]}, "dram_gbps[0]=0 must be a finite number > 0"),
    ({"energy": ["nope"]}, "unknown energy table 'nope'"),
    ({"rows": {"from": 4, "to": 64}}, "exactly one of step (arithmetic) or times (geometric)"),
    ({"speed": 1}, "unknown key 'speed'"),
    ({"workloads": ["nope"]}, "workloads[0]='nope': unknown workload"),
    ({"cols": [8, 8]}, "cols lists 8 twice"),
])
def test_space_is_validated_at_load_in_one_line(bad, msg):
    with pytest.raises(ValueError) as e:
        load_space({**SPACE, **bad})
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_ranges():
    s = load_space({**SPACE, "rows": {"from": 8, "to": 128, "times": 2}, "cols": {"from": 4, "to": 12, "step": 4}})
    assert s.rows == (8, 16, 32, 64, 128) and s.cols == (4, 8, 12)


def test_traced_config_includes_attention_matmuls():
    layers = traced_layers(str(ROOT / "configs" / "runs" / "transformer.yaml"))
    mm = [L for L in layers if not L.weights]
    # digits as 8 tokens of 8 pixels, width 32, 2 heads, batch 32: Q K^T (8x8, k=16) and P V (8x16, k=8)
    assert [(L.m, L.n, L.k, L.count) for L in mm] == [(8, 8, 16, 64), (8, 16, 8, 64)]
    assert [L.name for L in layers if L.weights] == ["embed", "attn.qkv", "attn.proj", "mlp.0", "mlp.2", "head"]


def test_cli_writes_report_with_codesign_view(tmp_path, capsys):
    space = tmp_path / "s.yaml"
    import yaml
    space.write_text(yaml.safe_dump({**SPACE, "workloads": ["mlp_step"], "rows": [8, 16], "energy": ["horowitz45"]}))
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "metrics.json").write_text(json.dumps({"summary": [
        {"recipe": "int8_pc", "accuracy_mean": 0.9, "accuracy_std": 0.01, "datapath": "sa32_int8"},
        {"recipe": "fp16x", "accuracy_mean": 0.95, "accuracy_std": 0.0, "datapath": "sa32_fp16"}]}))
    out = tmp_path / "out"
    assert main(["dse", str(space), "--out", str(out), "--runs", str(runs), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Pareto set" in text and "points/minute" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["codesign.csv", "codesign.png", "dse.json", "energy_latency.png", "pareto.csv", "points.csv"]
    rows = list(csv.DictReader((out / "points.csv").open()))
    assert len(rows) == load_space(space).size
    cd = list(csv.DictReader((out / "codesign.csv").open()))
    assert {r["datapath"] for r in cd if r["recipe"] == "int8_pc"} == {"int8"}
    assert all(r["accuracy_mean"] == "0.9" for r in cd if r["recipe"] == "int8_pc")
    assert [r["why"] for r in cd if r["recipe"] == "fp16x"] == [
        "no feasible design in the space has the datapath of 'sa32_fp16'"]
    summary = json.loads((out / "dse.json").read_text())
    assert summary["points"] == len(rows) and summary["infeasible"] > 0 and summary["area"]["fp8"]["unknown_because"]


def test_cli_bad_space_is_one_line_exit_2(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("workloads: [mlp_step]\ndatapath: [fp32]\nrows: [8]\ncols: [8]\nbuffers: {a: 1, b: 1, c: 1}\n"
                 "dataflow: [ws, qs]\n")
    assert main(["dse", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "dataflow[1]='qs'; allowed: os, ws, is" in err and err.count("\n") == 1
    assert main(["dse", str(p), "--backend", "spark"]) == 2
    err = capsys.readouterr().err
    assert "--backend='spark'; allowed: local, ray" in err and err.count("\n") == 1
    assert main(["dse", "no_such_space"]) == 2
    assert "unknown space 'no_such_space'; known: gemm_small" in capsys.readouterr().err


def test_example_spaces_load():
    for p in sorted((ROOT / "configs" / "dse").glob("*.yaml")):
        s = load_space(p)
        assert s.size > 0


def test_sizes_beyond_int64_are_refused_in_one_line_and_large_ones_are_exact():
    base = {"datapath": ["fp32"], "rows": [8], "cols": [8], "buffers": {"a": 1024, "b": 1024, "c": 1024}}
    with pytest.raises(ValueError, match=r"too large for the batched int64 evaluation .* `lowbit sim`$"):
        explore({**base, "workloads": [{"gemm": {"m": 2 ** 20, "n": 2 ** 20, "k": 2 ** 20}}]})
    r = explore({**base, "workloads": [{"gemm": {"m": 2 ** 14, "n": 2 ** 14, "k": 2 ** 14}}]})
    g = sim.systolic_gemm(2 ** 14, 2 ** 14, 2 ** 14, rows=8, cols=8, a_format="fp32", b_format="fp32",
                          acc_format="fp32", buffer_bits={k: 1024 * 8192 for k in "abc"}, dram_bits_per_cycle=512)
    assert r.columns["cycles"][0] == g.prefetch_cycles + g.cycle_count + g.writeback_cycles
