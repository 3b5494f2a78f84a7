"""Every registry format exported with `target="onnx"` in each lowering and executed by onnxruntime.

For each format of `lowbit.numerics.list_formats()` and each `ops` mode (auto = the default, portable,
qdq), three tensors (a (3, 2, 37) tensor blocked along its last axis, a (37, 3) one along axis 0 --
both leave a ragged last MX/NVFP4 block -- and a 0-d one; random values with 0, -0, NaN, +-Inf, huge
and tiny values wherever the format's codes carry them) are exported, the model.onnx is run by
onnxruntime's CPU provider, and every output is compared bit for bit (NaN == NaN) with
`Format.quantize` of the same input, the independent reference.

    python benchmarks/onnx_runtime_table.py                       # print the markdown table
    python benchmarks/onnx_runtime_table.py --write docs/export.md  # replace the table in the docs

tests/export/test_export_onnxruntime.py runs the same function and checks the docs' table is its
output (when the installed onnxruntime is the version the table was made with).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

MODES = ("auto", "portable", "qdq")
BEGIN, END = "<!-- onnxruntime-table:begin -->", "<!-- onnxruntime-table:end -->"
SPECIALS = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-30, 448.0, 0.75], np.float32)


def _reference(fmt, x, axis):
    return np.asarray(fmt.quantize(x, axis=axis))


def _inputs(fmt, seed: int) -> dict:
    """{name: (x, axis)}; specials only where the format's codes carry them (decode(encode) == quantize)."""
    from lowbit.export import same_values
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape, axis in (("a", (3, 2, 37), -1), ("b", (37, 3), 0), ("c", (), -1)):
        x = np.asarray(rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 30.0], size=shape), np.float32)
        flat = x.reshape(-1)
        flat[: min(flat.size, SPECIALS.size)] = SPECIALS[: flat.size]
        out[key] = (x, axis)
    from lowbit.export import decode_tensor, encode_tensor
    try:
        carried = all(same_values(decode_tensor(encode_tensor(x, fmt, axis=axis)), _reference(fmt, x, axis))
                      for x, axis in out.values())
    except ValueError:   # the format's encode refuses non-finite values
        carried = False
    if not carried:
        out = {k: (np.where(np.isfinite(x), x, np.float32(0.5)).astype(np.float32), axis) for k, (x, axis) in out.items()}
    return out


def run_format(name: str, ops: str, folder: Path) -> dict:
    """{"lowering": forms used, "runs": bool | None (refused), "exact": bool, "note": str} of one export."""
    from lowbit.export import export_tensors, same_values
    from lowbit.export.onnx_runtime import run_model, runtime_errors
    from lowbit.numerics import get_format
    fmt = get_format(name)
    inputs = _inputs(fmt, seed=sum(map(ord, name)))
    try:
        out = export_tensors({k: (x, fmt, axis) for k, (x, axis) in inputs.items()}, folder, target="onnx", ops=ops)
    except ValueError as exc:
        return {"lowering": "refused", "runs": None, "exact": False, "note": str(exc).split(": ", 1)[-1].split(";")[0]}
    man = json.loads((out / "manifest.json").read_text())["onnx"]
    forms = sorted(set(man["forms"].values()) - {"empty"})
    lowering = "+".join(forms) + f" (opset {man['opset']})"
    try:
        got = run_model(out / "model.onnx")
    except runtime_errors() as exc:
        return {"lowering": lowering, "runs": False, "exact": False, "note": str(exc).split("\n")[0][:90]}
    exact = all(same_values(got[k], _reference(fmt, x, axis)) for k, (x, axis) in inputs.items())
    return {"lowering": lowering, "runs": True, "exact": exact, "note": ""}


def table_rows(modes=MODES) -> list:
    from lowbit.numerics import list_formats
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in list_formats():
            rows.append({"format": name, **{m: run_format(name, m, Path(tmp) / f"{m}_{name}") for m in modes}})
    return rows


def _cell(r: dict) -> str:
    if r["runs"] is None:
        return f"refused ({r['note']}) | - | -"
    return f"{r['lowering']} | {'yes' if r['runs'] else 'no'} | {'yes' if r['exact'] else 'no'}"


def markdown(rows: list, modes=MODES) -> str:
    import onnxruntime
    head = "| format | " + " | ".join(f"`{m}`: lowering | runs in onnxruntime | bit-exact" for m in modes) + " |"
    sep = "|---" * (1 + 3 * len(modes)) + "|"
    lines = [f"Generated with onnxruntime {onnxruntime.__version__} by `python benchmarks/onnx_runtime_table.py "
             "--write docs/export.md`:", "", head, sep]
    lines += [f"| {row['format']} | " + " | ".join(_cell(row[m]) for m in modes) + " |" for row in rows]
    return "\n".join(lines)


def replace_block(text: str, table: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {BEGIN} ... {END} block to replace")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", default=None, help="a markdown file whose table block is replaced")
    args = parser.parse_args(argv)
    table = markdown(table_rows())
    if args.write is None:
        print(table)
        return 0
    from lowbit.numerics._io import atomic_write_text
    path = Path(args.write)
    atomic_write_text(path, replace_block(path.read_text(), table))
    print(f"wrote the table ({table.count(chr(10)) - 3} formats) into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
