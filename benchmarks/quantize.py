"""Quantization throughput of lowbit against its peers, in one run on the same tensor.

Peers (each a round trip float32 -> format -> float32, as `Format.quantize` is): `x.clone()` (the
memory-bound ceiling), torch's own bf16 / fp8 casts, ml_dtypes casts, and QPyTorch's `float_quantize`
(nearest and stochastic) when `qtorch` is installed (`pip install qtorch ninja`; it JIT-builds its C++
extension on first import). The machine is shared and noisy, so the candidates are timed in interleaved
rounds and each gets its median; the table reports rates and ratios, never bare times.

    python benchmarks/quantize.py [--log2n 24] [--rounds 7] [--out results/quantize.json]

Targets (issue 2): lowbit nearest >= 3x QPyTorch nearest and >= 0.5x the clone rate; lowbit stochastic
>= 5x QPyTorch stochastic; MX quantize >= 0.25x the clone rate.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import numpy as np
import torch


def candidates(x: torch.Tensor):
    from lowbit.numerics import get_format
    xn = x.numpy()
    c = {"clone": lambda: x.clone(),
         "torch bf16 cast": lambda: x.to(torch.bfloat16).to(torch.float32),
         "torch fp8_e4m3fn cast": lambda: x.to(torch.float8_e4m3fn).to(torch.float32)}
    try:
        import ml_dtypes
        c["ml_dtypes bf16"] = lambda: xn.astype(ml_dtypes.bfloat16).astype(np.float32)
        c["ml_dtypes fp8_e4m3fn"] = lambda: xn.astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
        c["ml_dtypes fp4_e2m1fn"] = lambda: xn.astype(ml_dtypes.float4_e2m1fn).astype(np.float32)
    except ImportError:
        pass
    try:
        from qtorch.quant import float_quantize
        for name, (e, m) in {"bf16": (8, 7), "fp8_e4m3": (4, 3), "fp4_e2m1": (2, 1)}.items():
            c[f"qtorch {name} nearest"] = (lambda e=e, m=m: float_quantize(x, e, m, rounding="nearest"))
            c[f"qtorch {name} stochastic"] = (lambda e=e, m=m: float_quantize(x, e, m, rounding="stochastic"))
    except Exception as exc:  # not installed, or its JIT build failed
        print(f"(QPyTorch not available: {type(exc).__name__}: {exc})")
    for name in ("bf16", "fp8_e4m3fn", "fp4_e2m1fn"):
        f = get_format(name)
        c[f"lowbit {name} nearest"] = (lambda f=f: f.quantize(x))
        c[f"lowbit {name} stochastic"] = (lambda f=f: f.quantize(x, rounding="stochastic", generator=1, rbits=16))
    for name in ("mxfp8_e4m3", "mxfp4_e2m1"):
        f = get_format(name)
        c[f"lowbit {name} nearest"] = (lambda f=f: f.quantize(x, axis=-1))
    return c


def measure(cands, rounds: int, seed: int = 0):
    """Median time of each candidate over `rounds` rounds, each round in a new (seeded) random order:
    in a fixed order one candidate always follows the same neighbour and pays for its leftovers (a
    64 MB numpy output after the peers' allocations sometimes waits 100-200 ms for the kernel to compact
    memory into transparent huge pages)."""
    times = {k: [] for k in cands}
    for fn in cands.values():  # warm-up: JIT compiles, page faults, thread pools
        fn()
    rng = random.Random(seed)
    names = list(cands)
    for _ in range(rounds):
        rng.shuffle(names)
        for k in names:
            t0 = time.perf_counter()
            cands[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default="results/quantize.json")
    args = ap.parse_args(argv)
    n = 1 << args.log2n
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    med = measure(candidates(x), args.rounds)
    rate = {k: n / t / 1e6 for k, t in med.items()}
    clone = rate["clone"]
    print(f"{n} float32 elements, {torch.get_num_threads()} torch threads, median of {args.rounds} rounds in shuffled order")
    print(f"{'candidate':<32} {'Melem/s':>9} {'x clone':>8}")
    for k, r in rate.items():
        print(f"{k:<32} {r:9.0f} {r / clone:8.2f}")
    checks = []

    def ratio(a, b):
        return rate[a] / rate[b] if a in rate and b in rate else None

    for fmt, q in (("bf16", "bf16"), ("fp8_e4m3fn", "fp8_e4m3"), ("fp4_e2m1fn", "fp4_e2m1")):
        checks.append((f"{fmt} nearest vs QPyTorch nearest", ratio(f"lowbit {fmt} nearest", f"qtorch {q} nearest"), 3.0))
        checks.append((f"{fmt} stochastic vs QPyTorch stochastic",
                       ratio(f"lowbit {fmt} stochastic", f"qtorch {q} stochastic"), 5.0))
        checks.append((f"{fmt} nearest vs clone", ratio(f"lowbit {fmt} nearest", "clone"), 0.5))
    for fmt in ("mxfp8_e4m3", "mxfp4_e2m1"):
        checks.append((f"{fmt} vs clone", ratio(f"lowbit {fmt} nearest", "clone"), 0.25))
    print(f"\n{'target':<44} {'ratio':>7} {'target':>7}  met")
    for name, r, target in checks:
        print(f"{name:<44} {'-' if r is None else f'{r:7.2f}':>7} {target:7.2f}  "
              f"{'-' if r is None else ('yes' if r >= target else 'NO')}")
    out = {"n": n, "threads": torch.get_num_threads(), "rounds": args.rounds, "median_seconds": med,
           "melem_per_s": rate, "targets": [{"name": k, "ratio": r, "target": t} for k, r, t in checks]}
    from lowbit.numerics._io import atomic_write_text
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
