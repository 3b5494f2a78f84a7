"""`lowbit dse SPACE.yaml`: design-space exploration (lowbit.sim.explore). Every point of the space (array
shape, dataflow, buffer sizes, DRAM bandwidth, clock, datapath, energy table, crossed with workloads) gets
cycles, utilization, energy per step and per weight update by component, DRAM traffic and area; the report
folder holds points.csv (every point, infeasible ones with their reason), pareto.csv (minimise energy per
update, latency and area), dse.json and energy_latency.png; with --runs RUN_FOLDER (a `lowbit run` report)
also the co-design view codesign.csv/.png (each recipe's accuracy joined with the designs of its datapath).
Example spaces: configs/dse/.
"""
from __future__ import annotations

import time
from pathlib import Path


def register(sub):
    p = sub.add_parser("dse", help="design-space exploration: Pareto fronts of energy, latency and area",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("space", help="a design-space YAML (e.g. configs/dse/gemm_small.yaml) or a name in configs/dse/")
    p.add_argument("--out", help="report folder (default results/dse/<space name>)")
    p.add_argument("--runs", help="a `lowbit run` report folder (metrics.json): the co-design view")
    p.add_argument("--no-plot", action="store_true", help="skip the PNGs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--jobs", type=int, default=1, help="processes for the local backend (default 1) or CPUs of "
                   "a local Ray instance")
    from .run import add_backend_args
    add_backend_args(p)
    p.set_defaults(func=run)


def _space_path(spec: str) -> Path:
    from lowbit.numerics._resources import config_dir
    p = Path(spec)
    if p.suffix or p.exists():
        return p
    d = config_dir("dse")
    if not (d / f"{spec}.yaml").is_file():
        raise ValueError(f"unknown space {spec!r}; known: {', '.join(sorted(x.stem for x in d.glob('*.yaml')))} "
                         "(or give a path to a YAML file)")
    return d / f"{spec}.yaml"


def run(args) -> int:
    import numpy as np
    from lowbit.sim.dse_report import write_dse
    from lowbit.sim.dse import explore, load_space
    from lowbit.train.backend import check_backend, make_backend
    check_backend(args.backend, args.address)
    if args.jobs is None or args.jobs < 1:
        raise ValueError(f"--jobs={args.jobs!r} must be an integer >= 1")
    if args.runs is not None and not (Path(args.runs) / "metrics.json").is_file():
        raise FileNotFoundError(f"--runs: no metrics.json in {args.runs!r} (give a `lowbit run` report folder)")
    space = load_space(_space_path(args.space))
    out = Path(args.out) if args.out else Path("results") / "dse" / space.name
    print(f"lowbit dse: {space.name}: {space.size} points ({' x '.join(str(n) for n in space.shape)}: workloads, "
          f"datapaths, energy tables, rows, cols, dataflows, buffers a/b/c, DRAM, clock) -> {out}", flush=True)
    t0 = time.perf_counter()
    if args.backend == "local" and args.jobs == 1:
        res = explore(space, progress=not args.no_progress)
    else:
        with make_backend(args.backend, args.address, args.jobs) as be:
            res = explore(space, progress=not args.no_progress, backend=be)
    wall = time.perf_counter() - t0
    c = res.columns
    feas = c["feasible"]
    print(f"{len(res)} points in {wall:.2f} s ({len(res) / wall * 60:,.0f} points/minute); {int(feas.sum())} feasible, "
          f"{int((~feas).sum())} infeasible (reasons in points.csv and dse.json)")
    for name, dp in space.datapaths:
        pe = space.area_table.pe(dp)
        if pe.why:
            print(f"area: {name}: unknown: {pe.why}")
    print(f"\nPareto set (minimise energy per update, latency, area): {int(res.pareto.sum())} points")
    print(f"{'workload':<20} {'datapath':<26} {'energy':<10} {'array':>9} {'df':>3} {'buf a/b/c KiB':>15} "
          f"{'GB/s':>5} {'pJ/update':>11} {'ms/step':>9} {'mm2':>8} {'util':>6}")
    idx = np.nonzero(res.pareto)[0]
    idx = idx[np.lexsort((c["energy_objective"][idx], c["workload"][idx].astype(str)))]
    for i in idx[:40]:
        print(f"{c['workload'][i][:20]:<20} {c['datapath'][i][:26]:<26} {c['energy'][i][:10]:<10} "
              f"{c['rows'][i]:>4}x{c['cols'][i]:<4} {c['dataflow'][i]:>3} "
              f"{c['a_kib'][i]:>4g}/{c['b_kib'][i]:g}/{c['c_kib'][i]:<5g} {c['dram_gbps'][i]:>5g} "
              f"{c['energy_objective'][i]:>11.4g} {c['seconds'][i] * 1e3:>9.4g} {c['area_mm2'][i]:>8.3f} "
              f"{c['utilization'][i]:>6.1%}")
    if len(idx) > 40:
        print(f"... {len(idx) - 40} more in pareto.csv")
    written = write_dse(res, out, runs_dir=args.runs, plot=not args.no_plot,
                        extra={"wall_s": wall, "backend": args.backend})
    if args.runs is not None:
        _print_codesign(out / "codesign.csv")
    print(f"\nwrote {', '.join(str(out / w) for w in written)}")
    return 0


def _print_codesign(path: Path):
    """Per recipe and workload: accuracy, the designs of its datapath and the lowest-energy one."""
    import csv
    rows = list(csv.DictReader(path.open()))
    print(f"\nco-design: recipes x designs of their datapath (all non-dominated designs in {path.name})")
    print(f"{'recipe':<18} {'accuracy':>9} {'workload':<20} {'designs':>8} {'datapath':<16} {'array':>9} {'df':>3} "
          f"{'pJ/update':>11} {'ms/step':>9} {'mm2':>8}")
    seen = set()
    for r in rows:
        key = (r["recipe"], r["workload"])
        if key in seen:
            continue
        seen.add(key)
        acc = f"{float(r['accuracy_mean']):.4f}" if r["accuracy_mean"] else "-"
        if not r.get("index"):
            print(f"{r['recipe'][:18]:<18} {acc:>9} {r['workload'][:20]:<20} {0:>8}  {r['why']}")
            continue
        area = float(r["area_mm2"])
        print(f"{r['recipe'][:18]:<18} {acc:>9} {r['workload'][:20]:<20} {int(r['designs']):>8} "
              f"{r['datapath'][:16]:<16} {r['rows']:>4}x{r['cols']:<4} {r['dataflow']:>3} "
              f"{float(r['energy_objective']):>11.4g} {float(r['seconds']) * 1e3:>9.4g} "
              f"{'n/a' if area != area else f'{area:.3f}':>8}")
