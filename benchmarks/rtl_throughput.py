"""RTL verification throughput: vectors per second through a 16-bit-input unit, streamed through
`$readmemh` memory files (lowbit.verify) vs plain per-vector cocotb driving (set inputs, wait 1 ns, read
the output: docs/references.md section 11 puts that at ~25 us a vector), on Icarus and Verilator.

    python benchmarks/rtl_throughput.py                 # 1,000,000 streamed vectors, 20,000 per-vector
    python benchmarks/rtl_throughput.py --vectors 200000 --per-vector 5000 --out results/rtl.json

Units: lns_mul on lns8 (exactly 16 input bits) and fp_mul on fp8_e4m3fn (16 data bits plus rounding-mode
ports). Every streamed output is compared with lowbit.numerics (the time includes it); the per-vector run
is compared too. Times are wall-clock on this machine; builds are reported apart (cached ones are ~0).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

try:  # the per-vector driver runs inside the simulator as a cocotb test of this module
    import cocotb
    from cocotb.triggers import Timer
except ImportError:  # pragma: no cover
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def drive_one_by_one(dut):
        job = json.loads(Path(os.environ["LOWBIT_PV_JOB"]).read_text())
        ins = {p: np.load(path) for p, path in job["inputs"].items()}
        n = len(next(iter(ins.values())))
        out = np.zeros(n, dtype=np.uint64)
        ports = {p: getattr(dut, p) for p in ins}
        y = getattr(dut, job["output_port"])
        t0 = time.perf_counter()
        for i in range(n):
            for p, h in ports.items():
                h.value = int(ins[p][i])
            await Timer(1, unit="ns")
            out[i] = int(y.value)
        Path(job["seconds"]).write_text(str(time.perf_counter() - t0))
        np.save(job["output"], out)


def _vectors(unit, n, seed):
    """n vectors of the unit: every pair of the exhaustive set, repeated (mode ports random)."""
    v = unit.vectors(seed, True)
    reps = -(-n // len(v["a_i"]))
    return {k: np.tile(np.asarray(x), reps)[:n] for k, x in v.items()}


def streamed(op, fmt, sim, n, seed=0):
    from lowbit.verify import get_unit, run_unit
    from lowbit.verify.ops import compare, sweep_contract
    unit = get_unit(op, fmt, sweep_contract(op))
    v = _vectors(unit, n, seed)
    run_unit(unit, sim, {k: x[:16] for k, x in v.items()})       # build (or reuse) outside the timing
    t0 = time.perf_counter()
    expected = unit.golden(v)
    t1 = time.perf_counter()
    out, secs = run_unit(unit, sim, v)
    bad, _ = compare(unit, v, out, expected)
    return {"vectors": n, "mismatches": bad, "golden_s": t1 - t0, "simulate_s": secs["simulate"],
            "total_s": time.perf_counter() - t0, "vectors_per_s": n / (time.perf_counter() - t0)}


def per_vector(op, fmt, sim, n, seed=0):
    import tempfile
    from lowbit.verify import build, get_unit, run_cocotb
    from lowbit.verify.ops import sweep_contract
    unit = get_unit(op, fmt, sweep_contract(op))
    v = _vectors(unit, n, seed)
    expected = unit.golden(v)
    b = build(sim, unit.rtl_paths(), unit.top, unit.params)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = {}
        for p in unit.inputs:
            paths[p.name] = str(tmp / f"{p.name}.npy")
            np.save(paths[p.name], np.asarray(v[p.name], dtype=np.int64))
        job = {"inputs": paths, "output_port": unit.outputs[0].name, "output": str(tmp / "out.npy"),
               "seconds": str(tmp / "sec.txt")}
        (tmp / "job.json").write_text(json.dumps(job))
        t0 = time.perf_counter()
        run_cocotb(b, "rtl_throughput", extra_env={"LOWBIT_PV_JOB": str(tmp / "job.json")},
                   module_dir=Path(__file__).parent)
        wall = time.perf_counter() - t0
        got = np.load(tmp / "out.npy")
        loop = float((tmp / "sec.txt").read_text())
    bad = int(np.sum(got != np.asarray(expected[unit.outputs[0].name], dtype=np.uint64)))
    return {"vectors": n, "mismatches": bad, "loop_s": loop, "total_s": wall, "vectors_per_s": n / loop}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", type=int, default=1_000_000, help="streamed vectors per run")
    ap.add_argument("--per-vector", type=int, default=20_000, help="vectors driven one by one")
    ap.add_argument("--sims", nargs="+", default=["icarus", "verilator"])
    ap.add_argument("--units", nargs="+", default=["lns_mul:lns8", "fp_mul:fp8_e4m3fn"])
    ap.add_argument("--out", default="results/rtl_throughput.json")
    args = ap.parse_args(argv)
    from lowbit.verify import available_simulators
    avail = available_simulators()
    rows = []
    for spec in args.units:
        op, fmt = spec.split(":")
        for sim in args.sims:
            if avail.get(sim):
                print(f"skip {sim}: {avail[sim]}", file=sys.stderr)
                continue
            s = streamed(op, fmt, sim, args.vectors)
            p = per_vector(op, fmt, sim, args.per_vector)
            rows.append({"unit": op, "format": fmt, "simulator": sim, "streamed": s, "per_vector": p,
                         "speedup": s["vectors_per_s"] / p["vectors_per_s"]})
    print(f"{'unit':<9} {'format':<11} {'sim':<9} {'streamed vectors':>16} {'time s':>7} {'vec/s':>10} "
          f"{'mism.':>5} | {'per-vector vec/s':>16} {'us/vec':>7} | {'speedup':>7}")
    for r in rows:
        s, p = r["streamed"], r["per_vector"]
        print(f"{r['unit']:<9} {r['format']:<11} {r['simulator']:<9} {s['vectors']:>16,} {s['total_s']:>7.1f} "
              f"{s['vectors_per_s']:>10,.0f} {s['mismatches'] + p['mismatches']:>5} | {p['vectors_per_s']:>16,.0f} "
              f"{1e6 / p['vectors_per_s']:>7.1f} | {r['speedup']:>6.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"command": "python benchmarks/rtl_throughput.py " + " ".join(argv or sys.argv[1:]),
                               "rows": rows}, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0 if all(r["streamed"]["mismatches"] == 0 and r["per_vector"]["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
