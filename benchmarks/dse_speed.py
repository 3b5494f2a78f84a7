"""Design points per minute of `lowbit.sim.explore` (lowbit dse), and SCALE-Sim on a 20-point slice of the same
space with the cycle counts compared point by point.

Spaces (one process, after the Numba kernels are compiled; compile time is reported apart):
- single GEMM: a 128x128x128 GEMM in each datapath's formats x 13 datapaths x 2 energy tables x rows, cols
  (8..128) x 3 dataflows x buffer sizes x DRAM bandwidths x clocks (561,600 points);
- ResNet-18 CIFAR training step (63 GEMMs + the update work per point): configs/dse/resnet18_step.yaml
  with both energy tables (31,104 points).
SCALE-Sim (3.0.0, GEMM mode, CALC bandwidth, 1 MiB SRAMs: its stall-free question, driven as in
benchmarks/sim_speed.py) runs 20 points of the GEMM space (distinct rows x cols x dataflow); its Total
Cycles are compared with lowbit's stall-free cycles for the same GEMM and array, and its seconds per point
with lowbit's seconds per design point (which include the memory model and energy). The machine is shared
and noisy: throughputs are medians of --repeat runs.

    python benchmarks/dse_speed.py [--out results/dse_speed.json] [--quick]

Targets (issue 14): >= 100,000 points/minute (single GEMM), >= 10,000 points/minute (ResNet-18 step).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATAPATHS = ["fp32", "bf16", {"family": "bf16", "acc_format": "bf16"}, "fp16", "fp8", "mxfp8", "mxfp4", "int8",
             "ternary", {"family": "ternary", "acc_format": "int24"}, {"family": "lns", "gamma": [4, 8, 16]}]
GEMM_SPACE = {
    "name": "bench_gemm", "workloads": [{"gemm": {"m": 128, "n": 128, "k": 128}, "name": "gemm_128"}],
    "datapath": DATAPATHS, "energy": ["horowitz45", "tpuv4i7"],
    "rows": {"from": 8, "to": 128, "times": 2}, "cols": {"from": 8, "to": 128, "times": 2},
    "dataflow": ["os", "ws", "is"], "buffers": {"a": [2, 8, 32, 128], "b": [2, 8, 32, 128], "c": [4, 16, 64]},
    "dram_gbps": [16, 64, 256], "clock_mhz": [500, 1000], "chunk": 16384}


def resnet_space():
    import yaml
    d = yaml.safe_load((HERE.parent / "configs" / "dse" / "resnet18_step.yaml").read_text())
    d["energy"] = ["horowitz45", "tpuv4i7"]
    return d


def _throughput(space, repeat):
    from lowbit.sim.dse import explore, load_space
    s = load_space(space, base=HERE.parent / "configs" / "dse")
    times = []
    for _ in range(repeat):
        s._cache.clear()            # workloads and costs are rebuilt: part of the time
        t0 = time.perf_counter()
        r = explore(s)
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    return {"points": s.size, "feasible": int(r.columns["feasible"].sum()), "seconds": t, "runs_s": times,
            "points_per_minute": s.size / t * 60}, r


def scalesim_slice(result, n=20):
    """SCALE-Sim on n points with distinct (rows, cols, dataflow), cycle counts compared with lowbit's."""
    sys.path.insert(0, str(HERE))
    from sim_speed import scalesim_run
    from lowbit.sim import systolic_gemm
    c = result.columns
    seen, pts = set(), []
    for i in range(0, len(result), 997):          # a deterministic spread over the space
        key = (int(c["rows"][i]), int(c["cols"][i]), c["dataflow"][i])
        if key not in seen and c["rows"][i] <= 32 and c["cols"][i] <= 32:
            seen.add(key)
            pts.append(i)
        if len(pts) == n:
            break
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in pts:
            R, C, df = int(c["rows"][i]), int(c["cols"][i]), c["dataflow"][i]
            peer = scalesim_run(128, 128, 128, R, C, df, Path(tmp))
            if peer is None:
                return None
            free = systolic_gemm(128, 128, 128, rows=R, cols=C, dataflow=df)
            rows.append({"index": int(c["index"][i]), "rows": R, "cols": C, "dataflow": df,
                         "datapath": c["datapath"][i], "scalesim_cycles": peer[0], "lowbit_cycles": free.cycles,
                         "same": peer[0] == free.cycles,
                         "dse_cycles_with_memory": int(c["cycles"][i]) if c["feasible"][i] else None,
                         "dse_reason": c["reason"][i],
                         "scalesim_s": peer[1]})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/dse_speed.json")
    ap.add_argument("--quick", action="store_true", help="one repeat, 5 SCALE-Sim points")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    from lowbit.sim.dse import explore
    t0 = time.perf_counter()
    explore({**GEMM_SPACE, "rows": [8], "cols": [8]}, stop=50)    # Numba compile / cache load
    compile_s = time.perf_counter() - t0
    gemm, gres = _throughput(GEMM_SPACE, repeat)
    print(f"single GEMM (128^3): {gemm['points']:,} points in {gemm['seconds']:.2f} s = "
          f"{gemm['points_per_minute']:,.0f} points/minute ({gemm['feasible']:,} feasible)", flush=True)
    res, _ = _throughput(resnet_space(), repeat)
    print(f"ResNet-18 training step: {res['points']:,} points in {res['seconds']:.2f} s = "
          f"{res['points_per_minute']:,.0f} points/minute ({res['feasible']:,} feasible)", flush=True)
    peer = scalesim_slice(gres, 5 if args.quick else 20)
    per_point = gemm["seconds"] / gemm["points"]
    out = {"compile_or_cache_load_s": compile_s, "gemm": gemm, "resnet18_step": res}
    if peer is None:
        print("SCALE-Sim is not installed (pip install -c constraints.txt scalesim): no comparison")
    else:
        print(f"\nSCALE-Sim on {len(peer)} points of the GEMM space (stall-free cycles compared with lowbit's):")
        print(f"{'index':>7} {'array':>6} {'df':>3} {'SCALE-Sim':>10} {'lowbit':>10} {'same':>5} "
              f"{'lowbit+mem':>11} {'SCALE-Sim s':>11}")
        for r in peer:
            print(f"{r['index']:>7} {r['rows']:>3}x{r['cols']:<3}{r['dataflow']:>3} {r['scalesim_cycles']:>10} "
                  f"{r['lowbit_cycles']:>10} {str(r['same']):>5} "
                  f"{'infeasible' if r['dse_cycles_with_memory'] is None else r['dse_cycles_with_memory']:>11} "
                  f"{r['scalesim_s']:>11.2f}")
        ss = statistics.mean(r["scalesim_s"] for r in peer)
        out["scalesim"] = {"points": peer, "all_cycles_identical": all(r["same"] for r in peer),
                           "scalesim_s_per_point": ss, "lowbit_s_per_point": per_point, "ratio": ss / per_point}
        print(f"SCALE-Sim {ss:.2f} s/point vs lowbit dse {per_point * 1e6:.1f} us/point (memory model and energy "
              f"included): {ss / per_point:,.0f}x; cycles identical: {out['scalesim']['all_cycles_identical']}")
    out["verdict"] = {"gemm_ge_100k_per_min": gemm["points_per_minute"] >= 1e5,
                      "resnet_ge_10k_per_min": res["points_per_minute"] >= 1e4}
    print(f"\nverdict: {out['verdict']}")
    p = Path(args.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, default=str))
    tmp.replace(p)
    print(f"wrote {p}")


if __name__ == "__main__":
    main()
