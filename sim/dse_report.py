"""The report folder of a design-space exploration (`lowbit dse`): every point (points.csv), the Pareto set
(pareto.csv), a summary (dse.json), plots (energy vs latency coloured by area with one front per datapath)
and, given a `lowbit run` results folder, the co-design view (codesign.csv/.png: each recipe's accuracy
joined with the designs whose datapath is the one the recipe runs on). All files are written atomically.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from lowbit.numerics._io import atomic_write_bytes, atomic_write_text
from .arch import load_arch
from .dse import COLUMNS, DSEResult, pareto_mask

__all__ = ["write_dse", "codesign", "csv_text"]


def _cell(v):
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def csv_text(result: DSEResult, mask=None, columns=COLUMNS) -> str:
    c = result.columns
    idx = np.arange(len(result)) if mask is None else np.nonzero(mask)[0]
    cols = []
    for k in columns:
        v = c[k][idx]
        if v.dtype == bool:
            cols.append(np.where(v, "1", "0").tolist())
        elif v.dtype.kind == "f":
            cols.append([repr(x) for x in v.tolist()])
        else:
            cols.append([str(x) for x in v.tolist()])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(zip(*cols))
    return buf.getvalue()


def _load_runs(runs_dir) -> list:
    p = Path(runs_dir) / "metrics.json"
    if not p.is_file():
        raise FileNotFoundError(f"--runs: no metrics.json in {str(runs_dir)!r} (give a `lowbit run` report folder)")
    try:
        summary = json.loads(p.read_text())["summary"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"--runs: {p} is not a lowbit run metrics.json (no 'summary' list)") from None
    return summary


def codesign(result: DSEResult, runs_dir) -> list:
    """Per recipe of the run folder: its accuracy and the designs whose datapath is the recipe's
    (`datapath:` arch preset), with the non-dominated ones (energy objective, latency, area) listed."""
    c = result.columns
    dps = {name: dp for name, dp in result.space.datapaths}
    rows = []
    for s in _load_runs(runs_dir):
        preset = s.get("datapath")
        dp = load_arch(preset).datapath if preset else None
        names = [n for n, d in dps.items() if d == dp]
        for w in dict.fromkeys(c["workload"]):
            sel = np.nonzero(np.isin(c["datapath"], names) & (c["workload"] == w) & c["feasible"])[0]
            known = sel[np.isfinite(c["area_mm2"][sel])]
            best = known[pareto_mask(c["energy_objective"][known], c["seconds"][known], c["area_mm2"][known])] \
                if len(known) else sel[pareto_mask(c["energy_objective"][sel], c["seconds"][sel])]
            base = {"recipe": s["recipe"], "accuracy_mean": s.get("accuracy_mean"),
                    "accuracy_std": s.get("accuracy_std"), "recipe_datapath": preset, "workload": w,
                    "designs": int(len(sel))}
            if not len(sel):
                rows.append({**base, "index": None, "why": f"no feasible design in the space has the datapath of "
                                                            f"{preset!r}"})
                continue
            for i in best[np.argsort(c["energy_objective"][best], kind="stable")]:
                rows.append({**base, "index": int(c["index"][i]), "datapath": c["datapath"][i],
                             "energy": c["energy"][i], "rows": int(c["rows"][i]), "cols": int(c["cols"][i]),
                             "dataflow": c["dataflow"][i], "energy_objective": float(c["energy_objective"][i]),
                             "pj_per_weight_update": float(c["pj_per_weight_update"][i]),
                             "seconds": float(c["seconds"][i]), "area_mm2": float(c["area_mm2"][i]),
                             "area_note": c["area_note"][i]})
    return rows


def _plot_fronts(result: DSEResult) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = result.columns
    wls = list(dict.fromkeys(c["workload"]))
    fig, axes = plt.subplots(1, len(wls), figsize=(7.5 * len(wls), 5.5), squeeze=False)
    for ax, w in zip(axes[0], wls):
        sel = (c["workload"] == w) & c["feasible"]
        x, y, a = c["seconds"][sel] * 1e3, c["energy_objective"][sel], c["area_mm2"][sel]
        unk = ~np.isfinite(a)
        ax.scatter(x[unk], y[unk], s=2, c="lightgrey", label="area unknown", rasterized=True)
        sc = ax.scatter(x[~unk], y[~unk], s=2, c=a[~unk], cmap="viridis", norm=matplotlib.colors.LogNorm()
                        if (~unk).any() and a[~unk].min() > 0 else None, rasterized=True)
        if (~unk).any():
            fig.colorbar(sc, ax=ax, label="area (mm², 45 nm)")
        colours = plt.get_cmap("tab20").colors
        for j, name in enumerate(dict.fromkeys(c["datapath"][sel])):
            s2 = np.nonzero(sel & (c["datapath"] == name))[0]
            f = s2[pareto_mask(c["energy_objective"][s2], c["seconds"][s2])]
            f = f[np.argsort(c["seconds"][f], kind="stable")]
            ax.plot(c["seconds"][f] * 1e3, c["energy_objective"][f], "-o", ms=3, lw=1, label=name,
                    color=colours[j % len(colours)])
        ax.set_xscale("log")
        ax.set_yscale("log")
        per_update = np.isfinite(c["pj_per_weight_update"][sel]).any()
        ax.set_xlabel("latency per step (ms)")
        ax.set_ylabel("energy per weight update (pJ)" if per_update else "energy per step (pJ)")
        ax.set_title(f"{w}: {int(sel.sum())} feasible designs; fronts per datapath")
        ax.legend(fontsize=6, loc="upper right", ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plot_codesign(rows) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pts = [r for r in rows if r.get("index") is not None and r.get("accuracy_mean") is not None]
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    if pts:
        x = np.array([r["energy_objective"] for r in pts])
        y = np.array([r["accuracy_mean"] for r in pts])
        a = np.array([r["area_mm2"] for r in pts])
        unk = ~np.isfinite(a)
        ax.scatter(x[unk], y[unk], s=14, c="lightgrey", marker="s", label="area unknown")
        if (~unk).any():
            sc = ax.scatter(x[~unk], y[~unk], s=14, c=a[~unk], cmap="viridis")
            fig.colorbar(sc, ax=ax, label="area (mm², 45 nm)")
        for r in {r["recipe"]: r for r in reversed(pts)}.values():   # the lowest-energy design of each
            ax.annotate(r["recipe"], (r["energy_objective"], r["accuracy_mean"]), fontsize=7)
        ax.set_xscale("log")
    ax.set_xlabel("energy per weight update (pJ), Pareto designs per recipe")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title("co-design: accuracy vs energy vs area")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_dse(result: DSEResult, out, runs_dir=None, plot: bool = True, extra: dict | None = None) -> list:
    """Write the report folder; returns the file names written."""
    out = Path(out)
    c = result.columns
    sp = result.space
    written = []
    atomic_write_text(out / "points.csv", csv_text(result))
    atomic_write_text(out / "pareto.csv", csv_text(result, result.pareto))
    written += ["points.csv", "pareto.csv"]
    reasons = Counter(c["reason"][~c["feasible"]].tolist())
    area = {}
    for name, dp in sp.datapaths:
        pe = sp.area_table.pe(dp)
        area[name] = {"pe_transistors": pe.pe_transistors, "column_transistors": pe.column_transistors,
                      "units": [list(u) for u in pe.units], "unknown_because": pe.why or None, "note": pe.note}
    summary = {
        "space": sp.name, "points": len(result), "feasible": int(c["feasible"].sum()),
        "infeasible": int((~c["feasible"]).sum()),
        "infeasible_reasons": [{"reason": r, "points": n} for r, n in reasons.most_common(20)],
        "distinct_infeasible_reasons": len(reasons),
        "axes": {"workload": [w[2] for w in sp.workloads], "datapath": [d[0] for d in sp.datapaths],
                 "energy": list(sp.energy), "rows": list(sp.rows), "cols": list(sp.cols),
                 "dataflow": list(sp.dataflow), "a_kib": list(sp.a_kib), "b_kib": list(sp.b_kib),
                 "c_kib": list(sp.c_kib), "dram_gbps": list(sp.dram_gbps), "clock_mhz": list(sp.clock_mhz)},
        "objectives": "minimise energy per weight update (energy per step for a workload without weight updates), "
                      "latency per step (seconds) and area (mm^2); per workload, over feasible points with a known area",
        "area_table": sp.area_table.name, "area": area,
        "area_entries": sp.area_table.entries,
        "pareto": [{k: _jsonable(v) for k, v in r.items()} for r in result.rows(result.pareto)],
        "pareto_energy_latency_points": int(result.pareto_energy_latency.sum()),
        **(extra or {})}
    if runs_dir is not None:
        rows = codesign(result, runs_dir)
        summary["codesign"] = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
        keys = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, keys, lineterminator="\n")
        w.writeheader()
        w.writerows([{k: _cell(v) if v is not None else "" for k, v in r.items()} for r in rows])
        atomic_write_text(out / "codesign.csv", buf.getvalue())
        written.append("codesign.csv")
        if plot:
            atomic_write_bytes(out / "codesign.png", _plot_codesign(rows))
            written.append("codesign.png")
    atomic_write_text(out / "dse.json", json.dumps(summary, indent=1, default=str))
    written.append("dse.json")
    if plot and c["feasible"].any():
        atomic_write_bytes(out / "energy_latency.png", _plot_fronts(result))
        written.append("energy_latency.png")
    return written
