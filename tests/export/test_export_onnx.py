"""The onnx target, checked numerically: onnx.checker accepts the model, and onnx.reference's
ReferenceEvaluator (ONNX's own DequantizeLinear/Cast, and the QONNX Quant/FloatQuant ops implemented
below from the QONNX operator docs) reproduces `fmt.quantize(x)` bit for bit, for every format of the
registry that ONNX can express; the others are refused with the alternatives named. QuantizeLinear with
the exported scales gives back the exported codes (the mapping holds in both directions)."""
import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from lowbit.export import export_tensors, same_values
from lowbit.numerics import get_format, list_formats

QONNX = "qonnx.custom_op.general"


class Quant(OpRun):
    """QONNX Quant (docs/qonnx-custom-ops/quant_op.md): y = (clip(round(x/scale + zeropt), lo, hi) -
    zeropt) * scale, lo/hi from bitwidth, signed and narrow; ROUND is round-half-even."""
    op_domain = QONNX

    def _run(self, x, scale, zeropt, bitwidth, signed=1, narrow=0, rounding_mode="ROUND"):
        assert rounding_mode == "ROUND"
        b = float(bitwidth)
        lo = (-(2 ** (b - 1)) + narrow) if signed else 0.0
        hi = (2 ** (b - 1) - 1) if signed else (2 ** b - 1 - narrow)
        q = np.clip(np.round(x / scale + zeropt), lo, hi)
        return ((q - zeropt) * scale).astype(np.float32),


class FloatQuant(OpRun):
    """QONNX FloatQuant (docs/qonnx-custom-ops/floatquant_v1.md, its sample implementation): minifloat
    rounding of x/scale with subnormals from 2^(1-bias-mbits), clipped to min(max_val, the format max)."""
    op_domain = QONNX

    def _run(self, x, scale, ebits, mbits, bias, max_val, has_inf=0, has_nan=0, has_subnormal=1,
             rounding_mode="ROUND", saturation=1):
        assert rounding_mode == "ROUND"
        xs = x / scale
        internal = np.floor(np.log2(np.abs(xs) + np.finfo(xs.dtype).tiny)) - mbits
        internal = np.exp2(np.maximum(internal, 1.0 - bias - mbits))
        xq = internal * np.round(xs / internal)
        fmax = np.sum(2.0 ** np.arange(0, -mbits - 1.0, -1.0)) * 2 ** ((2.0 ** ebits) - 1.0 - bias)
        m = np.minimum(fmax, max_val)
        return (np.clip(xq, -m, m) * scale).astype(np.float32),


def run(folder):
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model)
    outs = ReferenceEvaluator(model, new_ops=[Quant, FloatQuant]).run(None, {})
    return model, {o.name: v for o, v in zip(model.graph.output, outs)}


def _reference(fmt, x, axis=-1):
    return np.asarray(fmt.quantize(x, axis=axis), np.float32)


REFUSED = {"int32"}  # float32 outputs cannot hold it; LNS formats are refused too (no ONNX/QONNX op)


def _refused(name):
    return name in REFUSED or name.startswith("lns")


@pytest.mark.parametrize("ops", ["qdq", "qonnx"])
def test_every_expressible_registry_format_evaluates_exactly(tmp_path, ops):
    rng = np.random.default_rng(7)
    shapes = [(5, 40), (3, 2, 17), (1,), (0, 3), ()]
    refused = []
    for name in list_formats():
        fmt = get_format(name)
        tensors, expect = {}, {}
        for i, shape in enumerate(shapes):
            x = np.asarray(rng.standard_normal(shape) * 3, np.float32)
            if x.size > 2:
                x.reshape(-1)[:2] = [0.0, -0.0]
            tensors[f"t{i}"] = (x, fmt)
            expect[f"t{i}"] = _reference(fmt, x) if x.size else np.zeros(x.shape, np.float32)
        try:
            folder = export_tensors(tensors, tmp_path / name, target="onnx", ops=ops)
        except ValueError as exc:
            assert repr(name) in str(exc) and "'packed', 'safetensors' or 'memh'" in str(exc)
            refused.append(name)
            continue
        forms = set(json.loads((folder / "manifest.json").read_text())["onnx"]["forms"].values())
        assert forms <= ({"dq", "cast", "qonnx", "empty"} if ops == "qdq" else {"cast", "qonnx", "empty"}), name
        _, outs = run(folder)
        for key, want in expect.items():
            assert same_values(outs[key], want), (name, key)
    assert refused == [n for n in list_formats() if _refused(n)]


def test_qdq_forms_types_and_opsets(tmp_path):
    x = np.random.default_rng(1).standard_normal((4, 40)).astype(np.float32)
    cases = {"int8": ("int8", "dq", onnx.TensorProto.INT8, 19), "int4": ("int4", "dq", onnx.TensorProto.INT4, 21),
             "int2": ("int2", "dq", onnx.TensorProto.INT2, 25),
             "fp8": ("fp8_e4m3fn", "dq", onnx.TensorProto.FLOAT8E4M3FN, 19),
             "mxfp4": ("mxfp4_e2m1", "dq", onnx.TensorProto.FLOAT4E2M1, 23),
             "e4m3ieee": ("fp8_e4m3", "qonnx", onnx.TensorProto.FLOAT, 19),
             "bf16": ("bf16", "cast", onnx.TensorProto.BFLOAT16, 19)}
    for key, (fmt, form, tp, opset) in cases.items():
        folder = export_tensors({"w": (x, fmt)}, tmp_path / key, target="onnx", ops="qdq")
        man = json.loads((folder / "manifest.json").read_text())
        assert man["onnx"]["forms"]["w"] == form and man["onnx"]["opset"] == opset, key
        model = onnx.load(str(folder / "model.onnx"))
        first = [t for t in model.graph.initializer if t.name in ("w::codes", "w::value", "w::x")][0]
        assert first.data_type == tp, key


def test_pinned_opset_widens_or_falls_back_to_qonnx(tmp_path):
    x = np.random.default_rng(2).standard_normal((3, 40)).astype(np.float32)
    folder = export_tensors({"a": (x, "int2"), "b": (x, "mxfp4_e2m1"), "c": (x, "ternary_row")},
                            tmp_path / "p", target="onnx", opset=21, ops="qdq")
    man = json.loads((folder / "manifest.json").read_text())
    assert man["onnx"] == {"opset": 21, "ops": "qdq", "forms": {"a": "dq", "b": "qonnx", "c": "dq"}}
    model, outs = run(folder)
    assert {t.name: t.data_type for t in model.graph.initializer}["a::codes"] == onnx.TensorProto.INT4
    for key, fmt in (("a", "int2"), ("b", "mxfp4_e2m1"), ("c", "ternary_row")):
        assert same_values(outs[key], _reference(get_format(fmt), x)), key
    with pytest.raises(ValueError, match="opset=12; allowed: 19..28"):
        export_tensors({"a": (x, "int8")}, tmp_path / "q", target="onnx", opset=12)
    with pytest.raises(ValueError, match="ops='brevitas'; allowed: auto, qdq, qonnx, portable"):
        export_tensors({"a": (x, "int8")}, tmp_path / "r", target="onnx", ops="brevitas")
    assert not (tmp_path / "q").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("fmt,shape,axis", [("int8", (4, 40), -1), ("mxfp8_e4m3", (3, 70), -1),
                                            ("mxfp8_e5m2", (70, 3), 0), ("fp8_e5m2", (9,), -1),
                                            ("ternary_row", (2, 3, 5), -1), ("mxfp4_e2m1", (2, 33), -1)])
def test_quantizelinear_with_the_exported_scales_gives_back_the_codes(tmp_path, fmt, shape, axis):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    folder = export_tensors({"w": (x, fmt, axis)}, tmp_path / "q", target="onnx", ops="qdq")
    model, outs = run(folder)
    inits = {t.name: t for t in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][0]
    attrs = {a.name: helper.get_attribute_value(a) for a in dq.attribute}
    zero = numpy_helper.to_array(inits["w::codes"]).reshape(-1)[:0].reshape((0,))
    q = helper.make_node("QuantizeLinear", ["v", "w::scale", "zp"], ["codes"], **attrs)
    zp_shape = list(numpy_helper.to_array(inits["w::scale"]).shape)
    zp = numpy_helper.from_array(np.zeros(zp_shape, zero.dtype), "zp")
    graph = helper.make_graph([q], "q", [], [helper.make_tensor_value_info("codes", inits["w::codes"].data_type, list(shape))],
                              initializer=[numpy_helper.from_array(outs["w"], "v"), inits["w::scale"], zp])
    qm = helper.make_model(graph, opset_imports=model.opset_import)
    onnx.checker.check_model(qm)
    back = ReferenceEvaluator(qm).run(None, {})[0]
    want = numpy_helper.to_array(inits["w::codes"])
    assert back.dtype == want.dtype and np.array_equal(back.astype(np.float64), want.astype(np.float64))
