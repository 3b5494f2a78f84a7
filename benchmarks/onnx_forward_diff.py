"""Measure the forward-graph ONNX export against lowbit's eval forward (docs/export.md, "The forward pass
as one ONNX graph"): for build_model's mlp and cnn under fp8, mxfp4, nvfp4, int8 and ternary, N seeded
batches of 64 inputs; prints a markdown table (max |diff|, max |diff| / max |y|, max per-element relative
difference, share of outputs equal bit for bit, share of batches whose quantized operands equal lowbit's
at every layer).

    OMP_NUM_THREADS=1 python benchmarks/onnx_forward_diff.py [--batches 20]
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from lowbit.export import export_model, run_forward, same_values
from lowbit.export.onnx_forward import gemm_operands
from lowbit.nn import quantize_model
from lowbit.train import ModelSpec, build_model

RECIPES = ("fp8", "mxfp4", "nvfp4", "int8", "ternary")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args(argv)
    print("| model | recipe | max abs diff | max diff / max abs output | max relative diff | outputs bit-equal "
          "| batches with every quantized operand = lowbit's |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("mlp", "cnn"):
        for recipe in RECIPES:
            model = build_model(ModelSpec(kind=kind, hidden=(40, 24), channels=4), 64, 10, (1, 8, 8), seed=3)
            quantize_model(model, recipe, seed=3)
            model.eval()
            with tempfile.TemporaryDirectory() as tmp:
                folder = export_model(model, f"{tmp}/e", target="onnx", graph="forward",
                                      example_input=torch.zeros(1, 64), taps=True)
                dmax = drel = dnorm = 0.0
                equal, total, same_ops = 0, 0, 0
                for b in range(args.batches):
                    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(1000 + b)) * 2.5
                    outs = run_forward(folder, x, taps=True)
                    want, ops = gemm_operands(model, x)
                    want = want.numpy()
                    got = outs["output"]
                    d = np.abs(got.astype(np.float64) - want)
                    dmax = max(dmax, d.max())
                    dnorm = max(dnorm, d.max() / np.abs(want).max())
                    nz = want != 0
                    drel = max(drel, (d[nz] / np.abs(want[nz])).max())
                    equal += int((got.view(np.uint32) == want.view(np.uint32)).sum())
                    total += got.size
                    same_ops += all(same_values(outs[f"{n}::a_q"], q.numpy()) for n, (_, q) in ops.items())
            print(f"| {kind} | {recipe} | {dmax:.3g} | {dnorm:.3g} | {drel:.3g} | {100 * equal / total:.1f}% "
                  f"| {same_ops}/{args.batches} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
