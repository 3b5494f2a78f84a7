"""`lowbit run`: the main job. With no arguments it trains a small MLP on scikit-learn's digits under the
default recipes over three seeds in parallel processes, prints the comparison table and writes a report
folder (runs_out/<timestamp>/: metrics.json, metrics.csv, config.yaml, table.txt, plots, and checkpoints/ with
each run's final state for `lowbit export`)."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path


def execute(cfg, out: Path, jobs, progress=True, ckpt_dir=None, resume=False, backend="local", address=None) -> int:
    from lowbit.train.backend import check_backend, make_backend
    from lowbit.train.config import config_to_dict
    from lowbit.train.report import format_table, summarize, write_report
    from lowbit.train.sweep import run_sweep
    check_backend(backend, address)
    check_out(out)
    t0 = time.perf_counter()
    data = cfg.data.name if cfg.data.kind == "dataset" else f"text {cfg.data.path or 'stdlib corpus'}"
    length = f"{cfg.steps} steps" if cfg.steps is not None else f"{cfg.epochs} epochs"
    where = f"{jobs or cfg.jobs} processes" if backend == "local" else f"Ray ({address or 'local instance'})"
    print(f"lowbit: {len(cfg.recipes)} recipes x {len(cfg.seeds)} seeds on {data} ({cfg.model.kind}), "
          f"{length}, {where} -> {out}", flush=True)
    if backend == "local":
        results = run_sweep(cfg, jobs, ckpt_dir=ckpt_dir, progress=progress, resume=resume, runs_dir=out / "runs")
    else:
        with make_backend(backend, address, jobs or cfg.jobs) as be:
            results = run_sweep(cfg, jobs, ckpt_dir=ckpt_dir, progress=progress, resume=resume, backend=be,
                                runs_dir=out / "runs")
    runs = [r.to_dict() for r in results]
    summary = summarize(runs)
    wall = time.perf_counter() - t0
    extra = {"wall_s": wall}
    corpus = next((r.corpus for r in results if r.corpus), None)
    if corpus is not None:
        extra["corpus"] = corpus
        print(f"corpus: {corpus['source']}, {corpus['bytes']} bytes, sha256 {corpus['sha256']} "
              f"(train {corpus['train_bytes']}, validation {corpus['val_bytes']} bytes)")
    plots = write_report(out, config_to_dict(cfg), runs, summary, extra)
    print(format_table(summary))
    notes = {r.energy_note for r in results if not r.energy and r.energy_note}
    if notes:
        print(f"energy per update: - ({'; '.join(sorted(notes))})")
    print("upd lost = 1 - sum(sign(u) * applied change) / sum(|u|) over all weight updates (docs/training.md)")
    print(f"wrote {out}/metrics.json, metrics.csv, config.yaml, table.txt, {', '.join(plots)}  ({wall:.1f} s)")
    return 3 if any(r.error for r in results) else 0


def _names(values) -> list:
    """`--recipes a b`, `--recipes a,b` and mixtures name the same recipes (an empty name is an error later)."""
    return [name.strip() for v in values for name in v.split(",")]


def _out_dir(arg) -> Path:
    return Path(arg) if arg else Path("runs_out") / datetime.now().strftime("%Y%m%d-%H%M%S")


def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder; give a folder for the report")


def check_count(flag: str, value) -> None:
    """A count given on the command line (--epochs, --jobs) is an integer >= 1 when given."""
    if value is not None and value < 1:
        raise ValueError(f"{flag} {value}: must be an integer >= 1 (or leave it out for the config's value)")


def run(args) -> int:
    from lowbit.train import load_config
    check_count("--epochs", args.epochs)
    check_count("--jobs", args.jobs)
    if args.config:
        cfg = load_config(args.config)
        if args.recipes:
            raise ValueError("give either --config or --recipes, not both")
    else:
        cfg = load_config({"recipes": _names(args.recipes)} if args.recipes else None)
    import dataclasses
    over = {k: v for k, v in (("seeds", args.seeds), ("epochs", args.epochs)) if v is not None}
    if over:
        cfg = dataclasses.replace(cfg, **over)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out (the report folder of the run to continue)")
    out = _out_dir(args.out)
    # each run's final state is a checkpoint `lowbit export` reads (<out>/checkpoints/<recipe>_seed<seed>.pt)
    return execute(cfg, out, args.jobs, progress=not args.no_progress, ckpt_dir=str(out / "checkpoints"),
                   resume=args.resume, backend=args.backend, address=args.address)


def add_backend_args(p):
    p.add_argument("--backend", default="local", help="where runs execute: local (default: processes on this "
                   "machine) or ray (a Ray cluster; the optional extra lowbit[ray])")
    p.add_argument("--address", help="Ray cluster address HOST:PORT (with --backend ray; none = start a local "
                   "Ray instance)")


def register(sub):
    p = sub.add_parser("run", help="the main job: train the default model under the default recipes and compare")
    p.add_argument("--out", help="report folder (default runs_out/<timestamp>)")
    p.add_argument("--config", help="a run config (configs/runs/*.yaml) instead of the built-in default")
    p.add_argument("--recipes", nargs="+", help="recipe names instead of the default set (space- or comma-separated)")
    p.add_argument("--seeds", nargs="+", type=int, help="seeds (default 0 1 2)")
    p.add_argument("--epochs", type=int, help="epochs per run")
    p.add_argument("--jobs", type=int, help="parallel processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="skip the runs already finished in --out/runs/")
    add_backend_args(p)
    p.set_defaults(func=run)
