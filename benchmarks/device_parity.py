"""Device parity and throughput of the torch backend (docs/backends.md), on whatever device you have.

    python benchmarks/device_parity.py                       # cuda if present, else cpu
    python benchmarks/device_parity.py --device cuda:1 --n 16777216
    python benchmarks/device_parity.py --compile             # + torch.compile vs eager, quantized MLP step
    python benchmarks/device_parity.py --skip-parity --n 1048576

1. Bit-identity: every registered format (floats, fixed point, MX, NVFP4, ternary, LNS and LNS-scaled)
   in every rounding mode (both overflow policies for element formats; stochastic with a seed) on
   random bit patterns (every binade, subnormals, zeros, Inf, NaN) plus values near each format's
   range, quantized with backend='torch' ON THE DEVICE and compared bit for bit with the numpy reference
   on the CPU. Exit status 1 on any mismatch.
2. Throughput of quantize on a float32 tensor of --n elements on the device: the torch backend (and, on
   the CPU, the Numba kernels) against x.clone() and torch's native casts (bfloat16, float8_e4m3fn,
   float8_e5m2, float4_e2m1fn_x2 where torch has them), all timed interleaved in one process (best of
   --rounds); ratios are time / time(clone).
3. --compile: forward + backward of an MLP whose weights and activations are
   quantized (straight-through) to mxfp4 / nvfp4 / bf16-SR with the torch backend, eager against
   torch.compile (inductor), interleaved; also checks that both give the same bits.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import torch

from lowbit.numerics import FloatFormat, ScaledFormat, get_format, list_formats
from lowbit.numerics.lns_format import LNSFormat

MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "stochastic")
LNS_MODES = ("nearest_log", "nearest_linear", "toward_zero", "up", "down", "stochastic", "stochastic_linear")
NATIVE = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn_x2")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "xpu":
        torch.xpu.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x32 = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 20, n))).astype(np.float32)
    x64 = rng.integers(0, 1 << 63, n, dtype=np.uint64).view(np.float64) * np.where(rng.random(n) < .5, 1, -1)
    return [np.concatenate([x32, near]), np.concatenate([x64, near.astype(np.float64)])]


def _bits(a):
    a = np.asarray(a)
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


def parity(device, n: int) -> int:
    """Rows of (format, calls, elements, mismatching calls); returns the number of mismatching calls."""
    xs = _inputs(n)
    rng = np.random.default_rng(1)
    blocks = (rng.standard_normal((24, 77)) * np.exp2(rng.integers(-140, 120, (24, 1)))).astype(np.float32)
    blocks[0, 3], blocks[1, :], blocks[2, 5], blocks[4, :] = np.nan, 0.0, np.inf, 1e-41
    bad_total = 0
    print(f"{'format':16s} {'calls':>6s} {'elements':>10s}  bit-identical on {device}")
    for name in list_formats():
        fmt = get_format(name)
        calls, elems, bad = 0, 0, 0
        if isinstance(fmt, ScaledFormat):
            lns = isinstance(fmt.element, LNSFormat)
            jobs = [(arr, dict(axis=axis, rounding=mode, generator=2, rbits=8))
                    for mode in (LNS_MODES if lns else MODES) for axis in (0, 1)
                    for arr in (blocks, blocks.astype(np.float64))]
        else:
            modes = LNS_MODES if isinstance(fmt, LNSFormat) else MODES
            overflows = ["saturate", "ieee"] + (["wrap"] if not isinstance(fmt, (FloatFormat, LNSFormat)) else [])
            jobs = [(x, dict(rounding=mode, overflow=o, generator=11, rbits=13, offset=3))
                    for mode in modes for o in overflows for x in xs]
        for x, kw in jobs:
            with np.errstate(all="ignore"):
                want = fmt.quantize(x, backend="reference", **kw)
            got = fmt.quantize(torch.from_numpy(x).to(device), backend="torch", **kw).cpu().numpy()
            calls, elems = calls + 1, elems + x.size
            bad += int(got.dtype != want.dtype or not np.array_equal(_bits(got), _bits(want)))
        bad_total += bad
        print(f"{name:16s} {calls:6d} {elems:10d}  {'yes' if bad == 0 else f'NO ({bad} calls differ)'}", flush=True)
    return bad_total


def _time_interleaved(fns: dict, device, rounds: int, reps: int) -> dict:
    best = {k: float("inf") for k in fns}
    for f in fns.values():
        f()
    _sync(device)
    for _ in range(rounds):
        for k, f in fns.items():
            _sync(device)
            t = time.perf_counter()
            for _ in range(reps):
                f()
            _sync(device)
            best[k] = min(best[k], (time.perf_counter() - t) / reps)
    return best


def throughput(device, n: int, rounds: int) -> None:
    x = torch.randn(n, device=device) * 3
    x2 = x.reshape(-1, 32 * 16) if n % 512 == 0 else x.reshape(1, -1)
    fns = {"clone()": lambda: x.clone()}
    for name in NATIVE:
        dt = getattr(torch, name, None)
        if dt is None:
            continue
        try:
            x[:64].to(dt).to(torch.float32)
        except (RuntimeError, TypeError, NotImplementedError) as exc:
            print(f"  (torch cast to {name} unavailable here: {str(exc).splitlines()[0][:80]})")
            continue
        fns[f"torch cast {name}"] = (lambda dt=dt: x.to(dt).to(torch.float32))
    backends = ["torch"] + (["numba"] if device.type == "cpu" else [])
    for fmt_name, kw in (("bf16", {}), ("fp8_e4m3fn", {}), ("fp8_e5m2", {}), ("fp4_e2m1fn", {}),
                         ("bf16", {"rounding": "stochastic", "generator": 1}),
                         ("mxfp8_e4m3", {"axis": -1}), ("mxfp4_e2m1", {"axis": -1}), ("nvfp4", {"axis": -1}),
                         ("int8", {}), ("lns8", {})):
        fmt = get_format(fmt_name)
        tag = fmt_name + ("_sr" if kw.get("rounding") == "stochastic" else "")
        for be in backends:
            fns[f"{be:6s} {tag}"] = (lambda fmt=fmt, kw=kw, be=be: fmt.quantize(x2, backend=be, **kw))
    reps = max(1, int(4e6 // n))
    best = _time_interleaved(fns, device, rounds, reps)
    base = best["clone()"]
    print(f"\nquantize throughput on {device}, float32 x of {n} elements, torch threads {torch.get_num_threads()}, "
          f"best of {rounds} interleaved rounds x {reps}:")
    print(f"{'':32s} {'time':>10s} {'Melem/s':>9s} {'/ clone':>9s}")
    for k, t in best.items():
        print(f"{k:32s} {t * 1e3:8.3f}ms {n / t / 1e6:9.1f} {t / base:9.1f}")


def _mlp_loss(fmt_w, fmt_a, kw_w, kw_a):
    def q(t, fmt, kw):
        return t + (fmt.quantize(t.detach(), backend="torch", **kw) - t).detach()   # straight-through

    def loss_fn(x, y, w1, w2):
        h = torch.relu(q(x, fmt_a, kw_a) @ q(w1, fmt_w, kw_w).t())
        out = q(h, fmt_a, kw_a) @ q(w2, fmt_w, kw_w).t()
        return torch.nn.functional.cross_entropy(out, y)
    return loss_fn


def compile_study(rounds: int, batch: int = 64, width: int = 256) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(batch, width), torch.randint(0, 10, (batch,))
    w1 = (torch.randn(width, width) / width ** 0.5).requires_grad_()
    w2 = (torch.randn(10, width) / width ** 0.5).requires_grad_()
    print(f"\ntorch.compile (inductor, fullgraph) vs eager on the CPU: forward + backward of a {width}-{width}-10 "
          f"MLP, batch {batch}, weights and activations quantized (straight-through), torch backend")
    print(f"{'formats':28s} {'eager':>9s} {'compiled':>9s} {'speedup':>8s} {'compile s':>9s} "
          f"quantizer bits  max rel. gap of loss/grads")
    for label, fw, fa, kw_w, kw_a in (
            ("mxfp4 w+a (axis -1)", "mxfp4_e2m1", "mxfp4_e2m1", {"axis": -1}, {"axis": -1}),
            ("nvfp4 w+a (axis -1)", "nvfp4", "nvfp4", {"axis": -1}, {"axis": -1}),
            ("bf16 w SR + bf16 a", "bf16", "bf16", {"rounding": "stochastic", "generator": 3}, {})):
        loss_fn = _mlp_loss(get_format(fw), get_format(fa), kw_w, kw_a)
        comp = torch.compile(loss_fn, fullgraph=True)

        def step(fn):
            w1.grad = w2.grad = None
            loss = fn(x, y, w1, w2)
            loss.backward()
            return loss.detach(), w1.grad.clone(), w2.grad.clone()
        t0 = time.perf_counter()
        got = step(comp)
        t_compile = time.perf_counter() - t0
        want = step(loss_fn)
        # the quantizers compile to the same bits; the float GEMMs / loss / backward around them may be
        # fused and reordered by inductor, so the gradients are compared by their largest relative gap
        qc = torch.compile(lambda t: get_format(fw).quantize(t, backend="torch", **kw_w), fullgraph=True)
        same = torch.equal(qc(w1.detach()), get_format(fw).quantize(w1.detach(), backend="torch", **kw_w))
        gap = max(float(((a - b).abs().max() / b.abs().max().clamp(min=1e-30))) for a, b in zip(got, want))
        best = _time_interleaved({"eager": lambda: step(loss_fn), "compiled": lambda: step(comp)},
                                 torch.device("cpu"), rounds, 5)
        print(f"{label:28s} {best['eager'] * 1e3:7.2f}ms {best['compiled'] * 1e3:7.2f}ms "
              f"{best['eager'] / best['compiled']:7.2f}x {t_compile:9.1f} {'same' if same else 'DIFFER':>14s}  {gap:.1e}",
              flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    ap.add_argument("--n", type=int, default=1 << 20, help="elements for the throughput table")
    ap.add_argument("--parity-n", type=int, default=1 << 12, help="elements per input class for parity")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-parity", action="store_true")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile vs eager (CPU MLP step)")
    args = ap.parse_args(argv)
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.empty(1, device=device)
    except (RuntimeError, ValueError) as exc:
        print(f"device_parity: --device {args.device!r}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, device {device}")
    bad = 0 if args.skip_parity else parity(device, args.parity_n)
    throughput(device, args.n, args.rounds)
    if args.compile:
        compile_study(args.rounds)
    if bad:
        print(f"\n{bad} calls are NOT bit-identical to the reference", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
