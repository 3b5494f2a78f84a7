"""`lowbit sim [ARCH] [WORKLOAD]`: cycles, traffic and energy of a workload on an accelerator (lowbit.sim).

ARCH is a preset name (configs/arch/) or a YAML path; WORKLOAD a name in configs/workloads/ or a YAML path
(a training step without `formats:` takes its formats from the arch's datapath). `--compare A,B,...` runs
the same workload on several archs. With no arguments: the LNS-Madam comparison (resnet18_cifar_step on
sa32_fp32, sa32_bf16, sa32_fp8, lns_madam_pe). Writes JSON, CSV and an energy-breakdown bar plot
(atomically) into --out.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from lowbit.numerics._resources import config_dir

WORKLOAD_DIR = config_dir("workloads")
DEFAULT_COMPARE = "sa32_fp32,sa32_bf16,sa32_fp8,lns_madam_pe"


def register(subparsers):
    p = subparsers.add_parser("sim", help="cycles, traffic and energy of a workload on a PE array",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("arch", nargs="?", help="arch preset or YAML (default: compare the LNS-Madam set)")
    p.add_argument("workload", nargs="?", default="resnet18_cifar_step",
                   help="workload name in configs/workloads/ or YAML path (default: resnet18_cifar_step)")
    p.add_argument("--compare", help=f"comma-separated archs to compare (default with no ARCH: {DEFAULT_COMPARE})")
    p.add_argument("--energy", help="energy table name or YAML (default: the arch's)")
    p.add_argument("--out", default="results/sim", help="output folder for JSON/CSV/PNG (default: results/sim)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--details", action="store_true",
                   help="print every GEMM (cycles, utilization, stalls, traffic) and the full energy breakdown")
    p.set_defaults(func=run)


def _workload_path(spec: str) -> Path:
    p = Path(spec)
    if p.suffix or p.exists():
        return p
    if not (WORKLOAD_DIR / f"{spec}.yaml").is_file():
        known = ", ".join(sorted(x.stem for x in WORKLOAD_DIR.glob("*.yaml")))
        raise ValueError(f"unknown workload {spec!r}; known: {known} (or give a path to a YAML file)")
    return WORKLOAD_DIR / f"{spec}.yaml"


def _fmt_bits(b):
    for unit, div in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if b >= div:
            return f"{b / div:.2f} {unit}"
    return f"{b:.0f} bit"


def _per_update(r) -> str:
    if math.isnan(r.pj_per_weight_update):
        return "n/a (the workload updates no weights)"
    return f"{r.pj_per_weight_update:.1f} pJ ({r.weight_updates:,} weights)"


def _print_summary(r, pes: int):
    """A few lines per report: the totals and where the energy goes."""
    util = r.macs / (r.cycles * pes) if r.cycles else 0.0
    print(f"\n== {r.workload} on {r.arch} (energy table {r.energy_table}) ==")
    print(f"step: {r.cycles:,} cycles ({r.seconds * 1e3:.3f} ms), {r.macs:,} MACs in {len(r.gemms)} GEMMs"
          + f", utilization {util:.1%} of {pes:,} PEs")
    shares = sorted(r.breakdown["component"].items(), key=lambda kv: -kv[1])
    print(f"energy per step: {r.pj_per_step / 1e6:.3f} uJ = "
          + ", ".join(f"{c} {pj / r.pj_per_step:.0%}" for c, pj in shares if pj / r.pj_per_step >= 0.005))
    print(f"energy per weight update: {_per_update(r)}")
    for n in r.notes:
        print(f"note: {n}")


def _print_details(r, pes: int):
    print(f"\n== {r.workload} on {r.arch} (energy table {r.energy_table}) ==")
    print(f"{'GEMM':<26} {'m':>7} {'n':>6} {'k':>7} {'cycles':>11} {'util':>6} {'stall':>10} "
          f"{'SRAM rd+wr':>12} {'DRAM rd+wr':>12}")
    for g, res in r.gemms:
        sram = sum(res.sram_read_bits.values()) + sum(res.sram_write_bits.values())
        dram = sum(res.dram_read_bits.values()) + sum(res.dram_write_bits.values())
        print(f"{g.name[:26]:<26} {g.m:>7} {g.n:>6} {g.k:>7} {res.cycles * g.count:>11} {res.utilization:>6.1%} "
              f"{res.stall_cycles * g.count:>10} {_fmt_bits(sram * g.count):>12} {_fmt_bits(dram * g.count):>12}")
    print(f"\n{'component':<16} {'energy (uJ)':>12} {'share':>7}")
    for comp, pj in r.breakdown["component"].items():
        print(f"{comp:<16} {pj / 1e6:>12.3f} {pj / r.pj_per_step:>7.1%}")
    print(f"{'total':<16} {r.pj_per_step / 1e6:>12.3f}   per weight update: {_per_update(r)}")
    print(f"step: {r.cycles} cycles ({r.seconds * 1e3:.3f} ms), {r.macs} MACs")
    weak = sorted({a['status'] for a in r.actions.values()} - {"published"})
    if weak:
        print(f"statuses used besides 'published': {', '.join(weak)} (see the JSON's actions)")
    for n in r.notes:
        print(f"note: {n}")


def _csv_text(reports) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arch", "workload", "row", "name", "value", "unit"])
    for r in reports:
        for comp, pj in r.breakdown["component"].items():
            w.writerow([r.arch, r.workload, "energy_component", comp, repr(pj), "pJ"])
        for layer, comps in r.breakdown["layer"].items():
            w.writerow([r.arch, r.workload, "energy_layer", layer, repr(sum(comps.values())), "pJ"])
        for key in ("pj_per_step", "pj_per_weight_update", "cycles", "macs"):
            w.writerow([r.arch, r.workload, "total", key, repr(getattr(r, key)), "pJ" if "pj" in key else ""])
        for g, res in r.gemms:
            w.writerow([r.arch, r.workload, "gemm_cycles", g.name, res.cycles * g.count, "cycles"])
    return buf.getvalue()


def _plot_png(reports) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    comps = [c for c in __import__("lowbit.sim", fromlist=["COMPONENTS"]).COMPONENTS
             if any(c in r.breakdown["component"] for r in reports)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(reports), 4.2))
    bottom = [0.0] * len(reports)
    for c in comps:
        vals = [r.breakdown["component"].get(c, 0.0) / 1e6 for r in reports]
        ax.bar([r.arch for r in reports], vals, bottom=bottom, label=c)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("energy per training step (uJ)")
    ax.set_title(f"{reports[0].workload}: energy by component")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()


def run(args) -> int:
    from lowbit.sim import Workload, load_arch, simulate
    from lowbit.numerics._io import atomic_write_bytes, atomic_write_text
    archs = (args.compare or (DEFAULT_COMPARE if args.arch is None else "")).split(",")
    archs = [a.strip() for a in archs if a.strip()] or [args.arch]
    if args.arch and args.compare:
        archs = [args.arch] + [a for a in archs if a != args.arch]
    wpath = _workload_path(args.workload)
    reports, pes = [], []
    for a in archs:
        A = load_arch(a)
        reports.append(simulate(Workload.load(wpath, datapath=A.datapath), A, args.energy))
        pes.append(A.rows * A.cols)
    for r, n in zip(reports, pes):
        (_print_details if args.details else _print_summary)(r, n)
    if len(reports) > 1:
        base = reports[0]
        print(f"\n{'arch':<16} {'uJ/step':>12} {'pJ/weight update':>17} {'vs ' + base.arch:>18} "
              f"{'on-chip vs':>11} {'datapath vs':>12}")
        onchip = lambda r: r.pj_per_step - sum(r.breakdown["component"].get(c, 0) for c in  # noqa: E731
                                               ("dram", "transfer_dram"))
        dpath = lambda r: sum(r.breakdown["component"].get(c, 0) for c in  # noqa: E731
                              ("mac", "lns_conversion", "pe_registers"))
        for r in reports:
            print(f"{r.arch:<16} {r.pj_per_step / 1e6:>12.1f} {r.pj_per_weight_update:>17.1f} "
                  f"{r.pj_per_step / base.pj_per_step - 1:>+18.1%} {onchip(r) / onchip(base) - 1:>+11.1%} "
                  f"{dpath(r) / dpath(base) - 1:>+12.1%}")
        last = reports[-1]
        for r in reports[:-1]:
            print(f"{last.arch} vs {r.arch}: step {last.pj_per_step / r.pj_per_step - 1:+.1%}, on-chip "
                  f"{onchip(last) / onchip(r) - 1:+.1%}, datapath {dpath(last) / dpath(r) - 1:+.1%}")
    out = Path(args.out)
    stem = f"{reports[0].workload}_{'_vs_'.join(r.arch for r in reports)}" if len(reports) > 1 else \
        f"{reports[0].workload}_{reports[0].arch}"
    atomic_write_text(out / f"{stem}.json", json.dumps([r.as_dict() for r in reports], indent=1, default=str))
    atomic_write_text(out / f"{stem}.csv", _csv_text(reports))
    written = [f"{stem}.json", f"{stem}.csv"]
    if not args.no_plot:
        atomic_write_bytes(out / f"{stem}.png", _plot_png(reports))
        written.append(f"{stem}.png")
    print(f"\nwrote {', '.join(str(out / w) for w in written)}")
    return 0
