"""`lowbit train CONFIG.yaml`: run a config from configs/runs/ (recipes x seeds), with atomic checkpoints
per run in <out>/checkpoints/ and `--resume` to continue them bit-exactly. NaN/Inf stop a run with a
message naming the step, layer and tensor; its last good checkpoint is kept (exit code 3)."""
from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from lowbit.train import load_config
    from lowbit.train.backend import check_backend
    from .run import check_count, check_out, execute
    check_count("--jobs", args.jobs)
    check_backend(args.backend, args.address)
    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path("runs_out") / (cfg.name or Path(args.config).stem)
    check_out(out)
    if args.resume and not (out / "checkpoints").is_dir() and not (out / "runs").is_dir():
        raise FileNotFoundError(f"--resume: no checkpoints or finished runs in {str(out)!r} (use the same --out)")
    if args.resume:
        from lowbit.train.resume import check_resume_dir
        check_resume_dir(cfg, out / "checkpoints")       # a changed config is refused before any run starts
    return execute(cfg, out, args.jobs, progress=not args.no_progress, ckpt_dir=str(out / "checkpoints"),
                   resume=args.resume, backend=args.backend, address=args.address)


def register(sub):
    p = sub.add_parser("train", help="train a run config (configs/runs/*.yaml) with checkpoints and --resume")
    p.add_argument("config", help="a YAML run config, e.g. configs/runs/bf16_updates.yaml")
    p.add_argument("--out", help="output folder (default runs_out/<config name>)")
    p.add_argument("--resume", action="store_true", help="skip finished runs (--out/runs/) and continue the "
                   "others from their checkpoints")
    p.add_argument("--jobs", type=int, help="parallel processes (default from the config)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .run import add_backend_args
    add_backend_args(p)
    p.set_defaults(func=run)
