"""Time per training step of the default `lowbit run` model (digits MLP, batch 32) under each recipe, as a
ratio to fp32 measured in the same process (issue 4 target: bf16 / fp8 / MX recipes <= 2x fp32 on CPU).

    python benchmarks/train_overhead.py [--recipes ...] [--steps 60] [--profile mxfp4] [--out results/x.json]
    python benchmarks/train_overhead.py --model gpt [--pairs 7] [--recipes ...] [--profile NAME]

`--model gpt` (issue 12): the byte-level GPT of lowbit.train (4 blocks, width 256, 4 heads, context 128:
3.25 M parameters) on the standard-library corpus, batch 16, each recipe with its own optimizer. Step
time is measured as interleaved (fp32 step, recipe step) pairs in one process, the ratio is the median
of the pair ratios (machine load cancels); peak RSS is measured in a fresh child process per recipe
(imports, model, `--rss-steps` steps; on Linux the peak after the corpus is loaded, VmHWM reset by
/proc/self/clear_refs, since loading the corpus peaks higher than training) as a ratio to the fp32 child's. Targets: <= 1.5x for
bf16_nearest, bf16_sr, fp8, mxfp8, mxfp4, nvfp4, int8; <= 3x for bf16_kahan, fp4_dge_occ, eco_fp8,
lns_madam; RSS <= 1.5x. Written to results/train_overhead_gpt.json.

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


GPT_RECIPES = ["bf16_nearest", "bf16_sr", "fp8", "mxfp8", "mxfp4", "nvfp4", "int8", "bf16_kahan", "fp4_dge_occ",
               "eco_fp8", "lns_madam"]
GPT_TARGETS = {**{r: 1.5 for r in GPT_RECIPES[:7]}, **{r: 3.0 for r in GPT_RECIPES[7:]}}
GPT_MODEL = {"kind": "gpt", "layers": 4, "width": 256, "heads": 4, "context": 128}
GPT_BATCH = 16


def _gpt_setup(name):
    from lowbit.nn import quantize_model
    from lowbit.optim import build_optimizer
    from lowbit.recipes import get_recipe
    from lowbit.train import ModelSpec, build_model
    r = get_recipe(name)
    model = build_model(ModelSpec(**GPT_MODEL), 256, 256, (), 0)
    quantize_model(model, r, seed=0)
    return model, build_optimizer(r.optimizer, model.parameters(), 0)


def _gpt_step(model, opt, data, i):
    x, y = data.batch(GPT_BATCH, GPT_MODEL["context"], 0, i)
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    out = model(x)
    F.cross_entropy(out.reshape(-1, 256), y.reshape(-1)).backward()
    opt.step()
    return time.perf_counter() - t


def _peak_rss_child(name: str, steps: int) -> dict:
    """Peak RSS of a fresh process that imports, builds `name`'s GPT and trains `steps` steps (`_rss_child`)."""
    import subprocess
    out = subprocess.run([sys.executable, __file__, "--model", "gpt", "--rss-child", name, "--rss-steps", str(steps)],
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_child(name: str, steps: int) -> int:
    import resource
    from lowbit.train.data import load_text
    from lowbit.train.sweep import single_thread
    single_thread()
    data = load_text(None, 0.1, GPT_MODEL["context"])
    # Loading the corpus peaks above any training step; on Linux the peak is reset here (clear_refs 5)
    # and read back as VmHWM, so that the figure is the training peak (imports and corpus included).
    hwm = Path("/proc/self/clear_refs").exists()
    if hwm:
        Path("/proc/self/clear_refs").write_text("5")
    base = _vm("VmRSS") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model, opt = _gpt_setup(name)
    for i in range(steps):
        _gpt_step(model, opt, data, i)
    peak = _vm("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_kb": base, "peak_kb": peak, "measure": "VmHWM after the corpus" if hwm else
                      "ru_maxrss (corpus load included: recipes look alike)"}))
    return 0


def _vm(key: str) -> int:
    """A /proc/self/status field in kB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def gpt_main(args) -> int:
    from lowbit.train.models import count_parameters
    from lowbit.train.data import load_text
    from lowbit.train.sweep import single_thread
    single_thread()
    data = load_text(None, 0.1, GPT_MODEL["context"])
    names = [r for r in (args.recipes or GPT_RECIPES) if r != "fp32"]
    base_model, base_opt = _gpt_setup("fp32")
    n_params = count_parameters(base_model)
    for i in range(2):
        _gpt_step(base_model, base_opt, data, i)
    rows = []
    for name in names:
        model, opt = _gpt_setup(name)
        _gpt_step(model, opt, data, 0)                           # warm-up (JIT, caches)
        pairs = []
        for i in range(args.pairs):
            t_base = _gpt_step(base_model, base_opt, data, 100 + i)
            t_rec = _gpt_step(model, opt, data, 100 + i)
            pairs.append((t_base, t_rec))
        ratio = statistics.median(b / a for a, b in [(p[0], p[1]) for p in pairs])
        rows.append({"recipe": name, "ratio_to_fp32": ratio, "fp32_ms_median": statistics.median(p[0] for p in pairs) * 1e3,
                     "ms_median": statistics.median(p[1] for p in pairs) * 1e3, "pairs": args.pairs,
                     "target": GPT_TARGETS.get(name)})
        print(f"{name:<14} step {rows[-1]['ms_median']:8.0f} ms  x fp32 {ratio:5.2f}  (target {GPT_TARGETS.get(name)})",
              flush=True)
        del model, opt
        _write_partial(args, rows)
    if args.rss_steps:
        base = _peak_rss_child("fp32", args.rss_steps)
        for r in rows:
            c = _peak_rss_child(r["recipe"], args.rss_steps)
            r.update(peak_rss_mb=c["peak_kb"] / 1024, rss_ratio=c["peak_kb"] / base["peak_kb"],
                     rss_over_import_ratio=(c["peak_kb"] - c["base_kb"]) / max(1, base["peak_kb"] - base["base_kb"]))
        fp32_rss = base["peak_kb"] / 1024
    else:
        fp32_rss = None
    print(f"\nGPT {n_params / 1e6:.2f} M parameters, context {GPT_MODEL['context']}, batch {GPT_BATCH}; "
          f"fp32 step median {statistics.median(r['fp32_ms_median'] for r in rows):.0f} ms"
          + (f", fp32 peak RSS {fp32_rss:.0f} MB ({base['measure']})" if fp32_rss else ""))
    print(f"{'recipe':<14} {'x fp32 (median of pairs)':>24} {'target':>7} {'met':>4} {'peak RSS x fp32':>16}")
    for r in rows:
        met = "yes" if r["target"] is None or r["ratio_to_fp32"] <= r["target"] else "NO"
        rss = f"{r['rss_ratio']:.2f}" if "rss_ratio" in r else "-"
        print(f"{r['recipe']:<14} {r['ratio_to_fp32']:>24.2f} {_fmt(r['target']):>7} {met:>4} {rss:>16}")
    prof = None
    if args.profile:
        model, opt = _gpt_setup(args.profile)
        _gpt_step(model, opt, data, 0)
        prof = _profile(lambda: [_gpt_step(model, opt, data, 1 + i) for i in range(3)], 15,
                        f"3 GPT steps of {args.profile}")
    out = Path(args.out if args.out != "results/train_overhead.json" else "results/train_overhead_gpt.json")
    from lowbit.numerics._io import atomic_write_text
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"rows": rows, "model": GPT_MODEL, "n_params": n_params, "batch_size": GPT_BATCH,
                                       "fp32_peak_rss_mb": fp32_rss, "profile": prof, "python": sys.version.split()[0],
                                       "torch": torch.__version__}, indent=1))
    print(f"wrote {out}")
    return 0


def _profile(fn, top: int, what: str) -> str:
    """Run fn under cProfile; print and return the `top` functions by own time."""
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
    prof = buf.getvalue()
    print(f"\nprofile of {what} (top functions by own time):")
    print("\n".join(prof.splitlines()[6:]))
    return prof


def _write_partial(args, rows):
    from lowbit.numerics._io import atomic_write_text
    out = Path(args.out if args.out != "results/train_overhead.json" else "results/train_overhead_gpt.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".partial.json"), json.dumps({"rows": rows}, indent=1))


def _fmt(v):
    return "-" if v is None else f"{v:g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp", "gpt"], default="mlp")
    ap.add_argument("--pairs", type=int, default=7, help="gpt: interleaved fp32/recipe step pairs per recipe")
    ap.add_argument("--rss-steps", type=int, default=3, help="gpt: steps per peak-RSS child process (0: skip)")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--recipes", nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--profile", help="profile this recipe's steps too")
    ap.add_argument("--out", default="results/train_overhead.json")
    args = ap.parse_args(argv)
    if args.model == "gpt":
        return _rss_child(args.rss_child, args.rss_steps) if args.rss_child else gpt_main(args)
    args.recipes = args.recipes or DEFAULT
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
        prof = _profile(lambda: _steps(model, opt, data, args.steps, cfg.batch_size), 12,
                        f"{args.steps} steps of {args.profile}")
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
