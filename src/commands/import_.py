"""`lowbit import DIR`: verify an export directory (manifest version, sha256 of every file), read every
code back (any target), list the tensors and, for a model export, rebuild the model (optionally saving its
state_dict); a devices export lists its arrays. `--runtime onnxruntime` (onnx exports) also runs model.onnx
in onnxruntime, checks every output equals the decoded codes bit for bit, and rebuilds the model from
those outputs."""
from __future__ import annotations


def _check_runtime(folder, m, tensors) -> None:
    """Run model.onnx in onnxruntime; every output must equal the decoded codes bit for bit."""
    from lowbit.export import decode_tensor, same_values
    from lowbit.export.onnx_runtime import run_weights_graph, runtime_version
    outs = run_weights_graph(folder, m)
    for name, enc in tensors.items():
        if name not in outs or not same_values(outs[name], decode_tensor(enc)):
            raise ValueError(f"{folder}: model.onnx output {name!r} run by onnxruntime {runtime_version()} "
                             "differs from the decoded codes")
    print(f"model.onnx run by onnxruntime {runtime_version()}: {len(tensors)} outputs equal the decoded codes "
          "bit for bit")


def run(args) -> int:
    from pathlib import Path

    from lowbit.export import load_exported, load_tensors, read_manifest
    if args.runtime is not None and args.runtime != "onnxruntime":
        raise ValueError(f"--runtime {args.runtime!r}; allowed: onnxruntime")
    m = read_manifest(args.dir)
    if args.runtime is not None and m.get("target") != "onnx":
        raise ValueError(f"--runtime {args.runtime} needs an onnx export; {args.dir} is target {m.get('target')!r}")
    if m.get("target") == "devices":
        from lowbit.export import load_devices
        tiles = load_devices(args.dir)
        print(f"{args.dir}: lowbit devices export v{m['version']}, {len(m['files'])} files verified")
        for t, arrays in tiles.items():
            for a, fields in arrays.items():
                pulses = fields["pulses"]
                print(f"  {t}.{a}: {pulses.size} devices, {int(pulses.sum())} pulses from reset in total")
        return 0
    tensors = load_tensors(args.dir)
    print(f"{args.dir}: lowbit export v{m['version']}, target {m['target']}, {len(m['files'])} files verified")
    for name, e in m["tensors"].items():
        print(f"  {name:<28} {e['format_name']:<14} {'x'.join(map(str, e['shape']))}")
    if args.runtime is not None:
        _check_runtime(Path(args.dir), m, tensors)
    model_info = (m.get("extra") or {}).get("model")
    if model_info is None:
        print(f"tensor export: {len(tensors)} tensors decode with lowbit.export.load_values")
        return 0
    model = load_exported(args.dir, runtime=args.runtime)
    n = sum(p.numel() for p in model.parameters())
    print(f"model rebuilt: recipe {model_info['recipe']['name']}, {n} parameters, eval mode")
    if args.save:
        import torch
        from lowbit.numerics._io import atomic_write
        out = atomic_write(args.save, lambda fh: torch.save({"model": model.state_dict(), "export": model_info}, fh))
        print(f"state_dict of the rebuilt model saved to {out}")
    return 0


def register(sub):
    p = sub.add_parser("import", help="verify an export directory and rebuild its model")
    p.add_argument("dir", help="a directory written by `lowbit export` or lowbit.export")
    p.add_argument("--save", default=None, help="also save the rebuilt model's state_dict (torch) here")
    p.add_argument("--runtime", default=None, help="onnx exports: onnxruntime = run model.onnx in onnxruntime, "
                   "check its outputs against the codes and rebuild the model from them")
    p.set_defaults(func=run)
