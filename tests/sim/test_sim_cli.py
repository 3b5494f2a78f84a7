"""`lowbit sim`: table, JSON/CSV/PNG written atomically, preset names and paths, comparisons, and bad input
reported as one line with exit code 2."""
import json
import math

from lowbit.cli import main
import lowbit.sim as sim


def test_sim_preset_and_workload_names_write_json_csv_png(tmp_path, capsys):
    assert main(["sim", "sa32_bf16", "mlp_step", "--out", str(tmp_path), "--details"]) == 0
    out = capsys.readouterr().out
    assert "fc1.bwd_weight" in out and "per weight update" in out and "dram" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mlp_step_sa32_bf16.csv", "mlp_step_sa32_bf16.json", "mlp_step_sa32_bf16.png"]
    data = json.loads((tmp_path / "mlp_step_sa32_bf16.json").read_text())[0]
    A = sim.load_arch("sa32_bf16")
    ref = sim.simulate(sim.Workload.load(sim.arch.ARCH_DIR.parent / "workloads" / "mlp_step.yaml",
                                         datapath=A.datapath), A)
    assert math.isclose(data["pj_per_step"], ref.pj_per_step) and data["cycles"] == ref.cycles
    assert (tmp_path / "mlp_step_sa32_bf16.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "energy_component,mac" in (tmp_path / "mlp_step_sa32_bf16.csv").read_text()


def test_sim_default_prints_a_short_summary(tmp_path, capsys):
    """Without --details: a few lines per arch (no per-GEMM rows), totals equal to the simulator's."""
    assert main(["sim", "sa32_bf16", "mlp_step", "--out", str(tmp_path), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "fc1.bwd_weight" not in out and len(out.strip().splitlines()) <= 8
    A = sim.load_arch("sa32_bf16")
    ref = sim.simulate(sim.Workload.load(sim.arch.ARCH_DIR.parent / "workloads" / "mlp_step.yaml",
                                         datapath=A.datapath), A)
    assert f"{ref.cycles:,} cycles" in out and f"{ref.pj_per_weight_update:.1f} pJ" in out
    assert main(["sim", "sa32_bf16", "gemm_1024", "--out", str(tmp_path), "--no-plot"]) == 0
    assert "n/a (the workload updates no weights)" in capsys.readouterr().out


def test_sim_yaml_paths_and_compare(tmp_path, capsys):
    w = sim.Workload((sim.Gemm("g", 64, 64, 64, "fp8_e4m3fn", "fp8_e4m3fn", "fp32"),), name="one")
    w.save(tmp_path / "w.yaml")
    arch = sim.arch.ARCH_DIR / "sa32_fp8.yaml"
    assert main(["sim", str(arch), str(tmp_path / "w.yaml"), "--compare", "sa32_fp32", "--out", str(tmp_path),
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "sa32_fp8 vs" not in out and "sa32_fp32 vs sa32_fp8" in out
    assert (tmp_path / "one_sa32_fp8_vs_sa32_fp32.json").exists()


def test_sim_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["sim", "sa32_fp9", "mlp_step", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown arch preset 'sa32_fp9'" in err and err.count("\n") == 1
    assert main(["sim", "sa32_fp32", "no_such_workload", "--out", str(tmp_path)]) == 2
    assert "unknown workload 'no_such_workload'" in capsys.readouterr().err
    assert main(["sim", "sa32_fp32", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 2
