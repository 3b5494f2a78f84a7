"""The report of a sweep: a comparison table on stdout and a folder with metrics.json, metrics.csv,
config.yaml (the resolved config) and plots (loss curves per recipe, accuracy vs bits per weight,
accuracy vs energy per weight update). All files are written atomically (temp file + os.replace).
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import yaml

from lowbit.numerics._io import atomic_write, atomic_write_text

__all__ = ["summarize", "format_table", "write_report"]


def _mean_std(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return m, sd


def summarize(results: list[dict]) -> list[dict]:
    order = list(dict.fromkeys(r["recipe"] for r in results))
    out = []
    for name in order:
        rs = [r for r in results if r["recipe"] == name]
        acc, acc_sd = _mean_std([r["accuracy"] for r in rs])
        loss, loss_sd = _mean_std([r["final_loss"] for r in rs])
        lost, _ = _mean_std([r.get("updates_lost") for r in rs])
        e = [r["energy"]["pj_per_weight_update"] for r in rs if r.get("energy")]
        es = [r["energy"]["pj_per_step"] for r in rs if r.get("energy")]
        errors = [r["error"] for r in rs if r.get("error")]
        bpb, bpb_sd = _mean_std([r.get("val_bits_per_byte") for r in rs])
        wall, wall_sd = _mean_std([r.get("wall_s") for r in rs])
        notes = sorted({n for r in rs for n in ((r.get("op_counts") or {}).get("notes") or [])})
        out.append({"recipe": name, "runs": len(rs), "accuracy_mean": acc, "accuracy_std": acc_sd,
                    "final_loss_mean": loss, "final_loss_std": loss_sd,
                    "bits_per_weight": rs[0]["bits_per_weight"], "train_bits_per_weight": rs[0]["train_bits_per_weight"],
                    "updates_lost_mean": lost, "pj_per_weight_update": sum(e) / len(e) if e else None,
                    "pj_per_step": sum(es) / len(es) if es else None, "datapath": rs[0].get("datapath"),
                    "errors": errors, "notes": notes, "ptq": _ptq_summary(rs),
                    "val_bpb_mean": bpb, "val_bpb_std": bpb_sd, "wall_s_mean": wall, "wall_s_std": wall_sd})
    return out


def _ptq_summary(rs):
    kinds = list(dict.fromkeys(k for r in rs for k in (r.get("ptq") or {})))
    return {k: _mean_std([r["ptq"][k]["accuracy"] for r in rs if k in (r.get("ptq") or {})]) for k in kinds}


def _f(v, fmt):
    return "-" if v is None else format(v, fmt)


def _row_lm(s):
    bpb = "diverged" if s["val_bpb_mean"] is None else f"{s['val_bpb_mean']:.4f} ± {s['val_bpb_std']:.4f}"
    return (f"{s['recipe']:<18} {bpb:>27} {_f(s['final_loss_mean'], '.4f'):>9} {_f(s['accuracy_mean'], '.4f'):>13} "
            f"{s['bits_per_weight']:>7.2f} {_f(s['updates_lost_mean'], '.4f'):>9} {_f(s['wall_s_mean'], '.0f'):>7}")


def _row(s):
    acc = "diverged" if s["accuracy_mean"] is None else f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}"
    return (f"{s['recipe']:<18} {_f(s['final_loss_mean'], '.4f'):>10} {acc:>22} "
            f"{s['bits_per_weight']:>7.2f} {_f(s['updates_lost_mean'], '.4f'):>9} "
            f"{_f(s['pj_per_weight_update'], '.2f'):>12}")


def format_table(summary: list[dict]) -> str:
    if any(s.get("val_bpb_mean") is not None for s in summary):   # a language model (data kind text)
        head = f"{'recipe':<18} {'val bits/byte (mean ± std)':>27} {'nats/byte':>9} {'next-byte acc':>13} " \
               f"{'bits/w':>7} {'upd lost':>9} {'wall s':>7}"
        row = _row_lm
    else:
        head = f"{'recipe':<18} {'final loss':>10} {'accuracy (mean ± std)':>22} {'bits/w':>7} {'upd lost':>9} " \
               f"{'pJ/w-update':>12}"
        row = _row
    lines = [head, "-" * len(head)]
    for s in summary:
        lines.append(row(s))
        for e in s["errors"][:1]:
            lines.append(f"  ! {e}")
    # notes (e.g. padded blocks) follow the table, so its rows stay one per recipe
    notes = [(s["recipe"], n) for s in summary for n in s.get("notes", [])[:3]]
    if notes:
        lines += ["", "notes:"] + [f"  {r}: {n}" for r, n in notes]
    ptq = [(s["recipe"], k, v) for s in summary for k, v in s["ptq"].items()]
    if ptq:
        lines += ["", "post-training quantization of the trained weights (test accuracy mean ± std):"]
        lines += [f"  {r:<18} -> {k:<10} {m:.4f} ± {sd:.4f}" for r, k, (m, sd) in ptq]
    return "\n".join(lines)


def _plots(out: Path, results, summary):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in summary:
        curves = [r["loss_curve"] for r in results if r["recipe"] == s["recipe"] and r["loss_curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        steps = [c[0] for c in curves[0][:n]]
        mean = [sum(c[i][1] for c in curves) / len(curves) for i in range(n)]
        ax.plot(steps, mean, label=s["recipe"])
    ax.set(xlabel="step", ylabel="training loss (mean over seeds)", yscale="log", title="loss curves")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    for name, key, xlabel in [("accuracy_vs_bits.png", "bits_per_weight", "bits per weight"),
                              ("accuracy_vs_energy.png", "pj_per_weight_update", "energy per weight update (pJ)")]:
        pts = [s for s in summary if s[key] is not None and s["accuracy_mean"] is not None]
        if not pts:
            continue
        # recipes often share an x (8 bits) and nearly the same accuracy: a legend, not text labels that overlap
        f2, a2 = plt.subplots(figsize=(8, 4.5))
        markers = "osD^v<>pPXh*"
        for i, s in enumerate(pts):
            a2.errorbar(s[key], s["accuracy_mean"], yerr=s["accuracy_std"], fmt=markers[i % len(markers)],
                        capsize=3, label=s["recipe"], alpha=0.85)
        a2.set(xlabel=xlabel, ylabel="test accuracy")
        a2.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        f2.tight_layout()
        _save(f2, out / name)
        written.append(name)
        plt.close(f2)
    _save(fig, out / "loss_curves.png")
    plt.close(fig)
    return ["loss_curves.png"] + written


def _save(fig, path: Path):
    atomic_write(path, lambda fh: fig.savefig(fh, dpi=110, format="png"))


def write_report(out: Path, cfg_dict: dict, results: list[dict], summary: list[dict], extra: dict | None = None):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps({"summary": summary, "runs": results, **(extra or {})}, indent=1,
                                            default=str))
    buf = io.StringIO()
    cols = ["recipe", "seed", "final_loss", "accuracy", "bits_per_weight", "train_bits_per_weight", "updates_lost",
            "updates_unchanged", "pj_per_weight_update", "pj_per_step", "steps", "wall_s", "error", "val_bits_per_byte",
            "n_params"]
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    for r in results:
        row = {k: r.get(k) for k in cols}
        row["pj_per_weight_update"] = (r.get("energy") or {}).get("pj_per_weight_update")
        row["pj_per_step"] = (r.get("energy") or {}).get("pj_per_step")
        w.writerow(row)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))
    plots = _plots(out, results, summary)
    atomic_write_text(out / "table.txt", format_table(summary) + "\n")
    return plots
