"""The hw proof of the memh export: a lowbit.nn QLinear under the mxfp4 recipe is exported with
`export_model(..., target="memh")`, its input with `export_tensors(..., target="memh")`, and the RTL unit
hw/rtl/export_mx_dot.v (built on the hw unit lb_fp_unpack) reads those very $readmemh files and
computes every output exactly; each equals the torch model's output bit for bit (the fp32 value times
2^FRAC is the RTL's fixed-point integer). Runs on Icarus and Verilator through lowbit.verify (the `sim`
fixture of conftest.py skips, saying so, a simulator that is not installed).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RTL = ROOT / "hw" / "rtl"
FRAC, ACC_W, K, N = 48, 112, 70, 5   # K = 70: the last MX block of 32 is ragged (padded in the image)


def _expected_and_images(folder: Path):
    import torch
    import torch.nn as nn
    from lowbit.export import encode_tensor, export_model, export_tensors, load_tensors, read_manifest
    from lowbit.nn import quantize_model
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(K, N, bias=False))
    quantize_model(model, "mxfp4", seed=0)
    x = torch.randn(1, K, generator=torch.Generator().manual_seed(4)) * 2
    model.eval()
    with torch.no_grad():
        y = model(x)[0].numpy().astype(np.float64)
    wdir = export_model(model, folder / "weights", target="memh")
    layer = model[0]
    fmt = layer.lowbit_sites[0].qa.fmt          # the layer's input quantizer: mxfp4 along in_features
    enc = encode_tensor(x, fmt, axis=-1)
    xdir = export_tensors({"x": enc}, folder / "input", target="memh")
    wm, xm = read_manifest(wdir)["tensors"]["0.weight"], read_manifest(xdir)["tensors"]["x"]
    assert wm["codes"]["word_bits"] == 4 and wm["layout"]["shape"] == [N, 96]
    # the exact dot products the RTL must produce, as fixed-point integers (exact only if y*2^FRAC is)
    fixed = [int(v) for v in np.ldexp(y, FRAC)]
    assert all(float(f) == np.ldexp(v, FRAC) for f, v in zip(fixed, y))
    assert load_tensors(wdir)["0.weight"].fmt.name == "mxfp4_e2m1"
    files = {"W_CODES": wdir / wm["codes"]["file"], "W_SCALES": wdir / wm["scales"]["file"],
             "A_CODES": xdir / xm["codes"]["file"], "A_SCALES": xdir / xm["scales"]["file"]}
    return fixed, files


def test_export_memh_image_drives_rtl_to_torch_outputs(tmp_path, sim):
    from lowbit.verify import build, run_cocotb
    fixed, files = _expected_and_images(tmp_path)
    expect = tmp_path / "expect.json"
    expect.write_text(json.dumps({"fixed": fixed, "acc_w": ACC_W}))
    params = {"EBITS": 2, "MBITS": 1, "BIAS": 1, "POLICY": 2, "K": K, "N": N, "BLOCK": 32, "FRAC": FRAC,
              "ACC_W": ACC_W, **{k: f'"{v}"' for k, v in files.items()}}
    b = build(sim, [RTL / "lb_fp_unpack.v", RTL / "export_mx_dot.v"], top="export_mx_dot", parameters=params)
    run_cocotb(b, "test_export_mx_dot", extra_env={"EXPORT_EXPECT": str(expect)}, module_dir=Path(__file__).parent)


try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a test dependency
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def rows_match_torch(dut):
        exp = json.loads(Path(os.environ["EXPORT_EXPECT"]).read_text())
        cocotb.start_soon(Clock(dut.clk_i, 2, unit="ns").start())
        dut.rst_i.value, dut.start_i.value, dut.row_i.value = 1, 0, 0
        await RisingEdge(dut.clk_i)
        dut.rst_i.value = 0
        got = []
        for row in range(len(exp["fixed"])):
            await RisingEdge(dut.clk_i)
            dut.row_i.value, dut.start_i.value = row, 1
            await RisingEdge(dut.clk_i)
            dut.start_i.value = 0
            while True:
                await RisingEdge(dut.clk_i)
                await ReadOnly()
                if int(dut.done_o.value):
                    break
            assert int(dut.lost_o.value) == 0, f"row {row}: a product fell outside the accumulator"
            got.append(dut.acc_o.value.to_signed())
        assert got == exp["fixed"], f"RTL {got} != torch {exp['fixed']}"
