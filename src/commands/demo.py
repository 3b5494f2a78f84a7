"""`lowbit demo`: the bf16 cancellation case of "Revisiting BFloat16 Training" (Zamirai et al.):
1.0 + 1e-3, a thousand times, in bf16 with round-to-nearest, stochastic rounding and Kahan summation."""
from __future__ import annotations

import torch


def cancellation(n_steps: int = 1000, increment: float = 1e-3, copies: int = 1000, seed: int = 0) -> dict:
    from lowbit.numerics import KahanAccumulator, get_format
    bf16 = get_format("bf16")
    g = torch.Generator().manual_seed(seed)
    w_near = torch.ones(copies, dtype=torch.float64)
    w_sr = torch.ones(copies, dtype=torch.float64)
    kahan = KahanAccumulator(bf16, torch.ones(copies))
    for _ in range(n_steps):
        w_near = bf16.quantize(w_near + increment)
        w_sr = bf16.quantize(w_sr + increment, rounding="stochastic", generator=g)
        kahan.add(increment)
    exact = 1.0 + n_steps * float(bf16.quantize(torch.tensor([increment], dtype=torch.float64))[0])
    return {"exact": exact, "nearest": w_near.mean().item(), "stochastic_mean": w_sr.mean().item(),
            "stochastic_std": w_sr.std().item(), "kahan_mean": kahan.sum.mean().item(),
            "kahan_max_err_ulps": ((kahan.sum - 2.0).abs().max() / 2 ** -6).item(), "copies": copies}


def run(args) -> int:
    r = cancellation(args.steps, args.increment, args.copies, args.seed)
    print(f"bf16 weight 1.0 plus {args.increment:g}, {args.steps} times ({r['copies']} independent copies)")
    print(f"  exact sum of the bf16 increments : {r['exact']:.6f}")
    print(f"  round to nearest even            : {r['nearest']:.6f}   (every update is lost)")
    print(f"  stochastic rounding (mean +- std) : {r['stochastic_mean']:.6f} +- {r['stochastic_std']:.4f}")
    print(f"  Kahan-compensated, all ops bf16   : {r['kahan_mean']:.6f}   (max error {r['kahan_max_err_ulps']:.2f} ulp of 2.0)")
    return 0


def register(sub):
    p = sub.add_parser("demo", help="the bf16 cancellation demo: nearest vs stochastic rounding vs Kahan")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--increment", type=float, default=1e-3)
    p.add_argument("--copies", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
