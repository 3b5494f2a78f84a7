"""Time per training step of the default `lowbit run` model (digits MLP, batch 32) under each recipe, as a
ratio to fp32 measured in the same process (issue 4 target: bf16 / fp8 / MX recipes <= 2x fp32 on CPU).

    python benchmarks/train_overhead.py [--recipes ...] [--steps 60] [--profile mxfp4] [--out results/x.json]

Single-threaded (torch and Numba), like each worker of `lowbit run`. `--profile NAME` adds the top
functions by own time for that recipe, to show where the overhead goes (the quantize round trip).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DEFAULT = ["fp32", "bf16_nearest", "bf16_sr", "bf16_kahan", "fp8", "mxfp8", "mxfp6", "mxfp4", "nvfp4", "int8",
           "fp4_dge_occ", "ternary", "eco_fp8", "lns_madam"]


def _setup(name, cfg, data):
    from lowbit.nn import quantize_model
    from lowbit.optim import build_optimizer
    from lowbit.recipes import get_recipe
    from lowbit.train import build_model
    r = get_recipe(name)
    model = build_model(cfg.model, data.n_features, data.n_classes, data.image_shape, 0)
    quantize_model(model, r, seed=0)
    return model, build_optimizer(r.optimizer, model.parameters(), 0)


def _steps(model, opt, data, n, bs):
    times = []
    for i in range(n):
        idx = torch.arange(i * bs, (i + 1) * bs) % len(data.x_train)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipes", nargs="+", default=DEFAULT)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--profile", help="profile this recipe's steps too")
    ap.add_argument("--out", default="results/train_overhead.json")
    args = ap.parse_args(argv)
    from lowbit.train import load_config, load_data
    from lowbit.train.sweep import single_thread
    single_thread()
    cfg = load_config(None)
    data = load_data()
    names = ["fp32"] + [r for r in args.recipes if r != "fp32"]
    rows = []
    for name in names:
        model, opt = _setup(name, cfg, data)
        _steps(model, opt, data, 5, cfg.batch_size)                    # warm-up (JIT, caches)
        t = statistics.median(_steps(model, opt, data, args.steps, cfg.batch_size))
        rows.append({"recipe": name, "ms_per_step": t * 1e3})
    base = rows[0]["ms_per_step"]
    for r in rows:
        r["ratio_to_fp32"] = r["ms_per_step"] / base
    print(f"{'recipe':<14} {'ms/step':>9} {'x fp32':>7}")
    for r in rows:
        print(f"{r['recipe']:<14} {r['ms_per_step']:>9.3f} {r['ratio_to_fp32']:>7.2f}")
    prof = None
    if args.profile:
        model, opt = _setup(args.profile, cfg, data)
        _steps(model, opt, data, 5, cfg.batch_size)
        pr = cProfile.Profile()
        pr.enable()
        _steps(model, opt, data, args.steps, cfg.batch_size)
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(12)
        prof = buf.getvalue()
        print(f"\nprofile of {args.steps} steps of {args.profile} (top functions by own time):")
        print("\n".join(prof.splitlines()[6:]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"rows": rows, "steps": args.steps, "batch_size": cfg.batch_size,
                               "model": str(cfg.model), "profile": prof, "python": sys.version.split()[0],
                               "torch": torch.__version__}, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
