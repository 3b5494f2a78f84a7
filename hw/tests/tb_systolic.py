"""cocotb test for hw/rtl/sa_os.v (run by test_hw_systolic.py): for each GEMM of the job, load A and B
through the write port, start, wait for done, and record the result matrix and cycles_o."""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


@cocotb.test()
async def gemms(dut):
    with open(os.environ["LOWBIT_SA_JOB"]) as f:
        job = json.load(f)
    cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
    for sig in (dut.a_we_i, dut.b_we_i, dut.addr_i, dut.data_i, dut.start_i, dut.c_addr_i):
        sig.value = 0
    dut.rst_i.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk_i)
    await FallingEdge(dut.clk_i)
    dut.rst_i.value = 0
    out = []
    for case in job["cases"]:
        m, n, k = case["m"], case["n"], case["k"]
        for we, words in ((dut.a_we_i, case["a"]), (dut.b_we_i, case["b"])):
            we.value = 1
            for addr, word in enumerate(words):
                dut.addr_i.value = addr
                dut.data_i.value = word
                await FallingEdge(dut.clk_i)
            we.value = 0
        dut.m_i.value, dut.n_i.value, dut.k_i.value = m, n, k
        dut.start_i.value = 1
        await FallingEdge(dut.clk_i)
        dut.start_i.value = 0
        for _ in range(job["timeout_cycles"]):
            await FallingEdge(dut.clk_i)
            if int(dut.done_o.value):
                break
        else:
            raise AssertionError(f"GEMM {m}x{n}x{k}: done_o never rose")
        cmat = []
        for addr in range(m * n):
            dut.c_addr_i.value = addr
            await FallingEdge(dut.clk_i)
            cmat.append(int(dut.c_data_o.value))
        out.append({"c": cmat, "cycles": int(dut.cycles_o.value)})
    with open(job["output"], "w") as f:
        json.dump(out, f)
