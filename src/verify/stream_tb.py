"""The cocotb test that streams vectors through the harness (harness.py) in chunks of memory files.

Runs inside the simulator. The job (a JSON file named by $LOWBIT_STREAM_JOB) lists the input arrays
(.npy), the port widths, the harness depth and where to put the outputs (.npz). Per chunk it writes
`in_<port>.hex`, raises `go_i`, waits for `done_o` to toggle and reads `out_<port>.hex` (the first `cnt_o`
words are outputs that came; the rest are flagged unknown).
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

from lowbit.verify.memfile import read_hex, write_hex


@cocotb.test()
async def stream(dut):
    with open(os.environ["LOWBIT_STREAM_JOB"]) as f:
        job = json.load(f)
    n, depth = int(job["n"]), int(job["depth"])
    ins = {p: np.load(path, allow_pickle=True) for p, path in job["inputs"].items()}
    widths = job["widths"]
    outs = {p: [] for p in job["outputs"]}
    unknown = {p: [] for p in job["outputs"]}
    dut.go_i.value = 0
    count = 0
    await Timer(1, unit="ns")
    for start in range(0, n, depth):
        m = min(depth, n - start)
        for p, arr in ins.items():
            write_hex(f"in_{p}.hex", arr[start:start + m], widths[p])
        dut.n_i.value = m
        dut.go_i.value = 1
        await dut.done_o.value_change
        got = int(dut.cnt_o.value)
        count += got
        for p in outs:
            vals, unk = read_hex(f"out_{p}.hex", widths[p], m)
            unk[got:] = True          # outputs that never came (valid_out did not rise often enough)
            outs[p].append(vals)
            unknown[p].append(unk)
        dut.go_i.value = 0
        await Timer(1, unit="ns")
    result = {"__count": np.array(count)}
    for p in outs:
        result[p] = np.concatenate(outs[p]) if outs[p] else np.zeros(0, np.uint64)
        result[f"{p}__unknown"] = np.concatenate(unknown[p]) if unknown[p] else np.zeros(0, bool)
    tmp = job["output"] + ".tmp.npz"
    np.savez(tmp, **result)
    os.replace(tmp, job["output"])
