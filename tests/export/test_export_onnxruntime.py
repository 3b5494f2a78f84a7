"""Every ONNX export runs in onnxruntime (the runtime most ONNX users deploy with) and gives exactly
lowbit's values: every registry format in the default lowering (`auto`: native DequantizeLinear/Cast
where the installed onnxruntime runs it, the portable Gather lowering otherwise) and in `portable`,
compared bit for bit with `Format.quantize` (NaN codes, ragged blocks, 0-d tensors included); models
exported with `export_model` run with the weights onnxruntime computes and give the lowbit model's eval
outputs bit for bit. docs/export.md's table is this module's output (benchmarks/onnx_runtime_table.py)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn as nn

from lowbit.export import export_model, export_tensors, load_exported, load_tensors
from lowbit.export.codec import quantize_dtype
from lowbit.numerics import get_format
from lowbit.nn import quantize_model

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("onnx_runtime_table", ROOT / "benchmarks" / "onnx_runtime_table.py")
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)


@pytest.fixture(scope="module")
def rows():
    return table.table_rows()


def test_every_registry_format_runs_in_onnxruntime_bit_for_bit(rows):
    for row in rows:
        name = row["format"]
        for mode in ("auto", "portable"):
            assert row[mode]["runs"] and row[mode]["exact"], (name, mode, row[mode])
        if np.dtype(quantize_dtype(get_format(name))) != np.float32:   # int32: values beyond float32
            assert row["qdq"]["runs"] is None and "float64" in row["qdq"]["note"], name
            assert row["auto"]["lowering"] == row["portable"]["lowering"] == "wide_int (opset 19)", name
            continue
        assert row["portable"]["lowering"].split(" ")[0] in ("portable", "cast"), name
        # auto takes the native form exactly where onnxruntime runs it, else the portable one
        qdq = row["qdq"]
        if qdq["runs"] and qdq["exact"] and not qdq["lowering"].startswith("qonnx"):
            assert row["auto"]["lowering"] == qdq["lowering"], name
        else:
            assert row["auto"]["lowering"].startswith("portable"), name
    by_name = {row["format"]: row for row in rows}
    for name in ("fp4_e2m1fn", "mxfp4_e2m1", "nvfp4"):   # the FP4 family, whatever the lowering
        assert by_name[name]["auto"]["runs"] and by_name[name]["auto"]["exact"]


def test_docs_table_is_the_generated_one(rows):
    text = (ROOT / "docs" / "export.md").read_text()
    block = text.split(table.BEGIN)[1].split(table.END)[0].strip()
    if f"onnxruntime {onnxruntime.__version__} " not in block.splitlines()[0]:
        pytest.skip(f"the docs' table was made with another onnxruntime than {onnxruntime.__version__}")
    assert block == table.markdown(rows)


def test_auto_records_its_choice_and_bad_ops_are_refused(tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 40)).astype(np.float32)
    folder = export_tensors({"w": (x, "mxfp4_e2m1"), "v": (x, "fp8_e4m3fn")}, tmp_path / "a", target="onnx")
    man = json.loads((folder / "manifest.json").read_text())["onnx"]
    assert man["ops"] == "auto" and man["runtime"]["onnxruntime"] == onnxruntime.__version__
    native = man["runtime"]["native"]
    fp4 = [q for q in native if q.startswith("DequantizeLinear FLOAT4E2M1")]
    assert fp4 and man["forms"]["w"] == ("dq" if native[fp4[0]] else "portable")
    assert native[f"DequantizeLinear FLOAT8E4M3FN (tensor scale), opset {man['opset']}"] is (man["forms"]["v"] == "dq")
    with pytest.raises(ValueError, match="ops='fp4'; allowed: auto, qdq, qonnx, portable"):
        export_tensors({"w": (x, "int8")}, tmp_path / "b", target="onnx", ops="fp4")
    with pytest.raises(ValueError, match="packing 'trits' is not available in the onnx target"):
        export_tensors({"w": (x, "ternary")}, tmp_path / "b", target="onnx", packing="trits")
    assert not (tmp_path / "b").exists()


def test_without_onnxruntime_auto_writes_the_portable_form(tmp_path, monkeypatch):
    import lowbit.export.onnx_target as target
    monkeypatch.setattr(target, "runtime_version", lambda: None)
    x = np.random.default_rng(0).standard_normal((3, 40)).astype(np.float32)
    folder = export_tensors({"w": (x, "int8"), "v": (x, "bf16")}, tmp_path / "a", target="onnx")
    man = json.loads((folder / "manifest.json").read_text())["onnx"]
    assert man["forms"] == {"w": "portable", "v": "portable"} and man["runtime"]["onnxruntime"] is None
    assert man["runtime"]["native"] and not any(man["runtime"]["native"].values())


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 37), nn.ReLU(), nn.Linear(37, 5))   # K = 20, 37: ragged MX blocks


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 6))


NETS = {"mlp": (_mlp, (7, 20)), "cnn": (_cnn, (7, 2, 5, 5))}


@pytest.mark.parametrize("net,ops", [("mlp", "auto"), ("cnn", "auto"), ("cnn", "portable")])
@pytest.mark.parametrize("recipe", ["fp8", "mxfp4", "nvfp4", "int8", "ternary"])
def test_exported_model_runs_in_onnxruntime_with_the_eval_outputs(tmp_path, net, recipe, ops):
    build, shape = NETS[net]
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    model = build()
    quantize_model(model, recipe, seed=3)
    model.eval()
    with torch.no_grad():
        want = model(x)
    folder = export_model(model, tmp_path / "m", target="onnx", ops=ops)
    back = load_exported(folder, build=build, runtime="onnxruntime")   # weights = onnxruntime's outputs
    with torch.no_grad():
        got = back(x)
    assert torch.equal(got.view(torch.int32), want.view(torch.int32))
    ort_w = dict(back.named_parameters())
    for name, enc in load_tensors(folder).items():   # onnxruntime's weights are the layer's quantized weight
        layer = dict(model.named_modules())[name[: -len(".weight")]]
        w = layer.weight.detach().reshape(layer.weight.shape[0], -1)
        q = layer.lowbit_sites[0].qb(w, -1, 0)
        assert torch.equal(ort_w[name].detach().reshape(q.shape).view(torch.int32), q.view(torch.int32)), name
    record = json.loads((folder / "manifest.json").read_text())["onnx"]
    forms = set(record["forms"].values())
    if ops == "portable":
        assert forms == {"portable"}
    else:   # native where onnxruntime said it runs the type, portable where it said it does not
        answers = set(record["runtime"]["native"].values())
        assert forms <= {"dq", "portable"} and ("dq" in forms) == (True in answers)
        assert ("portable" in forms) == (False in answers)


def test_runtime_onnxruntime_needs_an_onnx_export(tmp_path):
    model = _mlp()
    quantize_model(model, "int8", seed=0)
    folder = export_model(model, tmp_path / "m", target="packed")
    with pytest.raises(ValueError, match="needs an onnx export, this one is 'packed'"):
        load_exported(folder, build=_mlp, runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime='tvm'; allowed"):
        load_exported(folder, build=_mlp, runtime="tvm")
