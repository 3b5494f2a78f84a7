"""Markdown tables of the GPT studies from their `lowbit train` report folders (docs/training.md "GPT studies").

    for s in gpt_bf16 gpt_fp8_mx gpt_eco gpt_lns gpt_flash_rne gpt_flash_sr gpt_flash_exact; do
        lowbit train configs/runs/$s.yaml --out runs_out/$s; done
    python benchmarks/gpt_studies.py runs_out [flash.png]

Per recipe: validation bits per byte (mean ± sample std over the seeds), next-byte accuracy, fraction of
update mass lost, wall time per run. For the flash-attention study (gpt_flash_*), the per-step rounding
error statistics averaged over all steps, with the standard error over the 3 seeds' means, and the
validation loss trajectory against exact fp32 attention.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path


def _ms(xs, fmt=".4f"):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):{fmt}} ± {sd:{fmt}}"


def _runs(folder: Path) -> tuple[list, bool]:
    """The runs of a report folder (metrics.json), or of an unfinished one (runs/*.json; partial=True)."""
    if (folder / "metrics.json").is_file():
        return json.loads((folder / "metrics.json").read_text())["runs"], False
    return [json.loads(f.read_text()) for f in sorted((folder / "runs").glob("*.json"))], True


def table(folder: Path) -> str:
    runs, partial = _runs(folder)
    lines = ["| recipe | val bits/byte | next-byte acc | upd lost | wall s/run |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["recipe"] for r in runs):
        rs = [r for r in runs if r["recipe"] == name]
        err = [r["error"] for r in rs if r.get("error")]
        lines.append(f"| {name} | {_ms([r.get('val_bits_per_byte') for r in rs])}"
                     f"{' (' + str(len(err)) + ' diverged)' if err else ''} | {_ms([r['accuracy'] for r in rs])} | "
                     f"{_ms([r.get('updates_lost') for r in rs])} | {_ms([r.get('wall_s') for r in rs], '.0f')} |")
    return "\n".join(lines + (["(unfinished study: only the runs done so far)"] if partial else []))


def flash(root: Path) -> str:
    lines = ["| attention | l_bias (normaliser) | pv_bias (P V, toward the exact sign) | pv_mean_err | pv_rel_rms |"
             " val bits/byte @100 / @200 / @300 steps | wall s/run |", "|---|---|---|---|---|---|---|"]
    for name in ("gpt_flash_rne", "gpt_flash_sr", "gpt_flash_exact"):
        f = root / name / "metrics.json"
        if not f.is_file():
            continue
        runs = json.loads(f.read_text())["runs"]
        cells = []
        for k in ("l_bias", "pv_bias", "pv_mean_err", "pv_rel_rms"):
            per_seed = [statistics.mean(s[k] for s in r["attn_stats"]) for r in runs if r.get("attn_stats")]
            if not per_seed:
                cells.append("-")
                continue
            mean = statistics.mean(per_seed)
            se = statistics.stdev(per_seed) / math.sqrt(len(per_seed)) if len(per_seed) > 1 else 0.0
            cells.append(f"{mean:+.2e} (se {se:.1e}, {mean / se:+.1f} se)" if se else f"{mean:+.2e}")
        steps = sorted({e[0] for r in runs for e in r["eval"]})
        traj = " / ".join(_ms([e[1] / math.log(2) for r in runs for e in r["eval"] if e[0] == s], ".3f") for s in steps)
        lines.append(f"| {name.replace('gpt_flash_', '')} | {' | '.join(cells)} | {traj} | "
                     f"{_ms([r.get('wall_s') for r in runs], '.0f')} |")
    return "\n".join(lines)


def flash_plot(root: Path, out: Path):
    """Per-step l_bias and pv_bias (mean over seeds, 10-step moving average) for RNE and SR, and the
    training loss curves against exact attention."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lowbit.numerics._io import atomic_write
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name in ("gpt_flash_rne", "gpt_flash_sr", "gpt_flash_exact"):
        f = root / name / "metrics.json"
        if not f.is_file():
            continue
        runs = json.loads(f.read_text())["runs"]
        label = name.replace("gpt_flash_", "")
        for ax, key in zip(axes[:2], ("l_bias", "pv_bias")):
            series = [[s[key] for s in r["attn_stats"]] for r in runs if r.get("attn_stats")]
            if series:
                mean = [statistics.mean(col) for col in zip(*series)]
                sm = [statistics.mean(mean[max(0, i - 9):i + 1]) for i in range(len(mean))]
                ax.plot(range(len(sm)), sm, label=label)
                ax.set(title=f"{key} (mean of seeds, 10-step average)", xlabel="step")
        curves = [r["loss_curve"] for r in runs]
        steps = [c[0] for c in curves[0]]
        axes[2].plot(steps, [statistics.mean(c[i][1] for c in curves) for i in range(len(steps))], label=label)
    axes[2].set(title="training loss (nats/byte, mean of seeds)", xlabel="step", yscale="log")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5) if ax is not axes[2] else None
        ax.legend()
    fig.tight_layout()
    atomic_write(out, lambda fh: fig.savefig(fh, dpi=100, format="png"))
    print(f"wrote {out}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "runs_out")
    if len(argv) > 1:
        flash_plot(root, Path(argv[1]))
    for name in ("gpt_small", "gpt_bf16", "gpt_fp8_mx", "gpt_eco", "gpt_lns"):
        if (root / name / "metrics.json").is_file() or (root / name / "runs").is_dir():
            print(f"### {name}\n\n{table(root / name)}\n")
    print(f"### flash attention\n\n{flash(root)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
