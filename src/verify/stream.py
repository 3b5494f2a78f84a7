"""Stream vectors through a unit: build it inside the generated harness, run `stream_tb`, return outputs.

    from lowbit.verify import Port, build_stream, run_stream
    ins = [Port("a_i", 8), Port("b_i", 8)]
    b = build_stream("verilator", ["hw/rtl/fp_mul.v", ...], "fp_mul", ins, [Port("y_o", 8)],
                     params={"EBITS": 4, "MBITS": 3})
    out = run_stream(b, {"a_i": a_codes, "b_i": b_codes})   # {"y_o": uint64 array, "y_o__unknown": bool}
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build import Build, build, build_root, run_cocotb
from .harness import HARNESS_TOP, harness_source

__all__ = ["StreamBuild", "build_stream", "run_stream"]


@dataclass(frozen=True)
class StreamBuild:
    build: Build
    inputs: tuple
    outputs: tuple
    depth: int
    clock: str | None
    timing: object = None


def build_stream(sim: str, sources, top: str, inputs, outputs, params: dict | None = None,
                 clock: str | None = None, depth: int = 65536, strict: bool = True, timing=None,
                 sv: bool = False, includes=(), defines: dict | None = None) -> StreamBuild:
    """Generate the harness around `top` and build both with `sim` (`timing`: a contract.Timing for
    sequential units; `sv`, `includes`, `defines`: see build.build)."""
    text = harness_source(top, inputs, outputs, params, clock, depth, timing)
    gen = build_root() / "harness"
    gen.mkdir(parents=True, exist_ok=True)
    path = gen / f"lb_harness_{hashlib.sha256(text.encode()).hexdigest()[:16]}.v"
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=gen, suffix=".v")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    b = build(sim, list(sources) + [path], HARNESS_TOP, strict=strict, label=f"{top} in lowbit's streaming harness",
              defines=defines, sv=sv, includes=includes)
    return StreamBuild(b, tuple(inputs), tuple(outputs), int(depth), clock, timing)


def _check_inputs(sb: StreamBuild, vectors: dict) -> int:
    names = [p.name for p in sb.inputs]
    missing = [n for n in names if n not in vectors]
    extra = [n for n in vectors if n not in names]
    if missing or extra:
        raise ValueError(f"vectors for ports {sorted(vectors)}; the unit's inputs are {names}")
    sizes = {len(np.asarray(vectors[n]).reshape(-1)) for n in names}
    if len(sizes) > 1:
        raise ValueError(f"input arrays differ in length: { {n: len(np.asarray(vectors[n]).reshape(-1)) for n in names} }")
    n = sizes.pop() if sizes else 0
    for p in sb.inputs:
        arr = np.asarray(vectors[p.name]).reshape(-1)
        if arr.size and arr.dtype != object and (arr.min() < 0 or (p.width < 64 and int(arr.max()) >> p.width)):
            raise ValueError(f"port {p.name}: values must lie in [0, 2**{p.width})")
    return n


def run_stream(sb: StreamBuild, vectors: dict) -> dict:
    """Run every vector (dict port name -> integer array, all the same length) through the unit.
    Returns {output: uint64 (or object) array, output + "__unknown": bool array of x/z results (and of
    outputs that never came: a valid_out that did not rise), "__count": outputs that came}."""
    n = _check_inputs(sb, vectors)
    work = Path(tempfile.mkdtemp(prefix="stream_", dir=sb.build.build_dir))
    try:
        paths = {}
        for p in sb.inputs:
            arr = np.asarray(vectors[p.name]).reshape(-1)
            arr = arr.astype(object) if p.width > 64 else arr.astype(np.uint64)
            paths[p.name] = str(work / f"{p.name}.npy")
            np.save(paths[p.name], arr, allow_pickle=arr.dtype == object)
        job = {"n": n, "depth": sb.depth, "inputs": paths, "outputs": [p.name for p in sb.outputs],
               "widths": {p.name: p.width for p in list(sb.inputs) + list(sb.outputs)},
               "output": str(work / "out.npz")}
        job_path = work / "job.json"
        job_path.write_text(json.dumps(job))
        run_cocotb(sb.build, "lowbit.verify.stream_tb", extra_env={"LOWBIT_STREAM_JOB": str(job_path)})
        with np.load(job["output"], allow_pickle=True) as z:
            return {k: z[k] for k in z.files}
    finally:
        shutil.rmtree(work, ignore_errors=True)
