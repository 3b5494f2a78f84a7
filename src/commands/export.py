"""`lowbit export CHECKPOINT --format TARGET --to DIR [--force]`: the quantized weights of a `lowbit train`
checkpoint as packed codes, safetensors, memory images or ONNX, with a checksummed manifest (docs/export.md)."""
from __future__ import annotations


def run(args) -> int:
    from lowbit.export import TARGETS, export_model, read_manifest
    from lowbit.export.checkpoint import model_from_checkpoint
    if args.format not in TARGETS:
        raise ValueError(f"--format {args.format!r}; allowed: {', '.join(TARGETS)}")
    from lowbit.export.api import ONNX_OPS
    from lowbit.export.model import GRAPHS
    if args.ops is not None and args.ops not in ONNX_OPS:
        raise ValueError(f"--ops {args.ops!r}; allowed: {', '.join(ONNX_OPS)}")
    if args.graph not in GRAPHS:
        raise ValueError(f"--graph {args.graph!r}; allowed: {', '.join(GRAPHS)}")
    for flag, value in (("--ops", args.ops), ("--opset", args.opset),
                        ("--graph", None if args.graph == "weights" else args.graph)):
        if value is not None and args.format != "onnx":
            raise ValueError(f"{flag} applies to --format onnx only, not --format {args.format}")
    model, builder = model_from_checkpoint(args.checkpoint, args.config)
    opts = {}
    if args.format == "onnx":
        opts = {"opset": args.opset, "ops": args.ops or "auto"}
    if args.format == "memh":
        opts = {"word_bits": args.word_bits, "radix": args.radix}
    if args.packing:
        opts["packing"] = args.packing
    if args.graph == "forward":   # the graph takes any batch of the data set's flattened features
        import torch
        opts.update(graph="forward", example_input=torch.zeros(1, builder["args"]["n_features"]))
    folder = export_model(model, args.to, target=args.format, force=args.force, builder=builder, **opts)
    m = read_manifest(folder)
    print(f"exported {len(m['tensors'])} quantized weight tensors ({m['target']}) to {folder}")
    if (m.get("onnx") or {}).get("graph") == "forward":
        f = m["onnx"]["forward"]
        print(f"  model.onnx is the eval forward pass: {f['input']} -> {len(f['layers'])} GEMM layers -> "
              f"{f['output']} (run it with lowbit.export.run_forward)")
    if m.get("onnx"):
        o = m["onnx"]
        ort = (o.get("runtime") or {}).get("onnxruntime", "not asked")
        print(f"  onnx opset {o['opset']}, ops {o['ops']} (onnxruntime {ort}): "
              + ", ".join(f"{f} x{list(o['forms'].values()).count(f)}" for f in sorted(set(o['forms'].values()))))
    for name, e in m["tensors"].items():
        print(f"  {name:<28} {e['format_name']:<14} {'x'.join(map(str, e['shape']))}")
    total = sum(f["bytes"] for f in m["files"].values())
    print(f"{len(m['files'])} files, {total} bytes, sha256 of each in {folder}/manifest.json")
    return 0


def register(sub):
    p = sub.add_parser("export", help="export a checkpoint's quantized weights (codes + scales + manifest)")
    p.add_argument("checkpoint", help="a checkpoint written by `lowbit train`")
    p.add_argument("--format", default="packed", help="target: packed (default), safetensors, memh, onnx")
    p.add_argument("--to", required=True, help="the export directory (written atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing export directory")
    p.add_argument("--config", default=None, help="the run config the checkpoint was trained with "
                   "(needed when the checkpoint does not carry it)")
    p.add_argument("--packing", choices=["bits", "trits"], default=None,
                   help="ternary weights at 2 bits (default) or 5 trits per byte")
    p.add_argument("--opset", type=int, default=None, help="onnx: the opset (default: the lowest that fits)")
    p.add_argument("--ops", default=None,
                   help="onnx: auto (default: DequantizeLinear/Cast where the installed onnxruntime runs it, "
                        "the portable Gather lowering otherwise), portable (Gather lowering everywhere), "
                        "qdq (DequantizeLinear where the opset defines it, QONNX otherwise), qonnx")
    p.add_argument("--graph", default="weights",
                   help="onnx: weights (default: one output per decoded weight) or forward (model.onnx is the "
                        "model's eval forward pass, input -> output, activation quantizers included)")
    p.add_argument("--word-bits", type=int, default=None, dest="word_bits",
                   help="memh: bits per memory word (default: one code per word)")
    p.add_argument("--radix", choices=["hex", "bin"], default="hex", help="memh: $readmemh or $readmemb files")
    p.set_defaults(func=run)
