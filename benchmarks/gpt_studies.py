"""Markdown tables of the GPT studies from their `lowbit train` report folders (docs/training.md "GPT studies").

    for s in gpt_bf16 gpt_fp8_mx gpt_eco gpt_lns gpt_flash_rne gpt_flash_sr gpt_flash_exact; do
        lowbit train configs/runs/$s.yaml --out runs_out/$s; done
    python benchmarks/gpt_studies.py runs_out

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


def table(folder: Path) -> str:
    m = json.loads((folder / "metrics.json").read_text())
    runs = m["runs"]
    lines = ["| recipe | val bits/byte | next-byte acc | upd lost | wall s/run |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["recipe"] for r in runs):
        rs = [r for r in runs if r["recipe"] == name]
        err = [r["error"] for r in rs if r.get("error")]
        lines.append(f"| {name} | {_ms([r.get('val_bits_per_byte') for r in rs])}"
                     f"{' (' + str(len(err)) + ' diverged)' if err else ''} | {_ms([r['accuracy'] for r in rs])} | "
                     f"{_ms([r.get('updates_lost') for r in rs])} | {_ms([r.get('wall_s') for r in rs], '.0f')} |")
    return "\n".join(lines)


def flash(root: Path) -> str:
    lines = ["| attention | l_bias (normaliser) | pv_bias (P V, toward the exact sign) | pv_mean_err | pv_rel_rms |"
             " val bits/byte @100 / @200 / @300 steps |", "|---|---|---|---|---|---|"]
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
        lines.append(f"| {name.replace('gpt_flash_', '')} | {' | '.join(cells)} | {traj} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0] if argv else "runs_out")
    for name in ("gpt_small", "gpt_bf16", "gpt_fp8_mx", "gpt_eco", "gpt_lns"):
        if (root / name / "metrics.json").is_file():
            print(f"### {name}\n\n{table(root / name)}\n")
    print(f"### flash attention\n\n{flash(root)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
