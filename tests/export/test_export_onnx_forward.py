"""The forward-graph ONNX export (`export_model(..., target="onnx", graph="forward")`) run by onnxruntime.

For an MLP and a conv net built by lowbit.train.build_model under the fp8, mxfp4, nvfp4, int8 and
ternary recipes:
(a) every quantized activation the graph computes (tapped outputs) equals `Format.quantize` of the
    graph's own unquantized operand bit for bit, and the first layer's operand is exactly lowbit's
    (the input, or F.unfold's im2col matrix);
(b) each layer's float32 GEMM output is within the float32 summation error bound of the exact float64
    product of the graph's own operands, and equals lowbit's eval output bit for bit wherever the sum is
    exact in any order (every term a multiple of 2^m, the sum of magnitudes below 2^(m+24): all
    mxfp4 GEMMs here); the model output is within 2 * gamma_(K+1) * sum|a_k w_k| of lowbit's eval output,
    with every intermediate quantized activation equal to lowbit's.
The activation quantizer subgraphs alone are checked on adversarial inputs (ties, zeros, -0, ragged last
blocks, values at the block amax, saturation, all-zero blocks, NaN, Inf, subnormals, float32 max) against
Format.quantize on both the automatic CPU path and the numpy reference backend. The graph uses only
default-domain operators from a fixed list, all run by onnxruntime's CPU provider (the session loads).
"""
import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto as TP  # noqa: E402
from onnx import helper  # noqa: E402

from lowbit.export import export_model, load_exported, run_forward, same_values  # noqa: E402
from lowbit.export.onnx_forward import _G, gemm_operands, quantize  # noqa: E402
from lowbit.nn import QuantizedLayer, quantize_model  # noqa: E402
from lowbit.nn.quantizer import make_quantizer  # noqa: E402
from lowbit.numerics import get_format  # noqa: E402
from lowbit.recipes import QuantSpec, get_recipe  # noqa: E402
from lowbit.train import ModelSpec, build_model  # noqa: E402

RECIPES = ("fp8", "mxfp4", "nvfp4", "int8", "ternary")
# DequantizeLinear: ops="auto" decodes fp8/int8 weights natively where the installed onnxruntime runs that
# form exactly (asked of it, onnx_runtime.py); everything else is the portable Gather lowering
ALLOWED_OPS = {"Abs", "Add", "And", "BitShift", "BitwiseAnd", "Cast", "Concat", "DequantizeLinear", "Div", "Equal", "Flatten", "Gather",
               "Greater", "Identity", "IsInf", "IsNaN", "Less", "LessOrEqual", "MatMul", "Max", "Min", "Mul",
               "Not", "Or", "Pad", "ReduceMax", "ReduceSum", "Relu", "Reshape", "Round", "Slice", "Sub", "Transpose",
               "Unsqueeze", "Where"}
U = 2.0 ** -24
# end-to-end |onnxruntime - lowbit| / max |lowbit output|: ulp-level (<= 6e-7 measured) unless a last-bit
# difference of one layer moves a next-layer operand across a rounding midpoint (one grid step: measured
# up to 2.3e-3 for the cnn under int8, docs/export.md); the exact claims are per layer (above)
TOL = 2.0 ** -6


def _builder(kind):
    return {"name": "lowbit.train.build_model", "args": {"spec": {"kind": kind, "hidden": [40, 24], "channels": 4},
                                                         "n_features": 64, "n_classes": 10,
                                                         "image_shape": [1, 8, 8], "seed": 3}}


def _model(kind, recipe):
    a = _builder(kind)["args"]
    model = build_model(ModelSpec(**a["spec"]), 64, 10, (1, 8, 8), seed=3)
    quantize_model(model, recipe, seed=3)
    return model.eval()


def _input():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(19, 64, generator=g) * 2.5
    x[0, :5] = torch.tensor([0.0, -0.0, 1e-40, -3e-39, 40.0])   # zeros, subnormals, a large value
    x[1] = 0.0                                                   # an all-zero row (zero scales)
    return x


def _exact_in_any_order(a: np.ndarray, w: np.ndarray):
    """Per output element of a @ w.T: are all terms multiples of one 2^m with sum |terms| < 2^(m+24)
    (then every partial sum, in any order and with or without FMA, is exact in float32)?"""
    t = a.astype(np.float64)[:, None, :] * w.astype(np.float64)[None, :, :]      # exact products
    f, e = np.frexp(np.where(t == 0, 1.0, t))
    mant = np.abs(np.ldexp(f, 53)).astype(np.int64)
    low = (mant & -mant).astype(np.float64)                                        # lowest set bit
    lsb = np.where(t == 0, np.inf, np.ldexp(low, e - 53))
    q = lsb.min(axis=-1)
    return np.abs(t).sum(-1) < np.where(np.isinf(q), np.inf, q * 2.0 ** 24)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for kind in ("mlp", "cnn"):
        for recipe in RECIPES:
            model, x = _model(kind, recipe), _input()
            folder = export_model(model, tmp_path_factory.mktemp(f"{kind}_{recipe}"), target="onnx", force=True,
                                  graph="forward", example_input=x[:1], taps=True, builder=_builder(kind))
            out[kind, recipe] = (model, x, folder, run_forward(folder, x, taps=True))
    return out


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("recipe", RECIPES)
def test_quantized_activations_are_format_quantize_bit_for_bit(runs, kind, recipe):
    model, x, folder, outs = runs[kind, recipe]
    want_y, lowbit = gemm_operands(model, x)
    layers = [n for n, m in model.named_children() if isinstance(m, QuantizedLayer)]
    assert len(layers) == 3
    for i, name in enumerate(layers):
        a, aq = outs[f"{name}::a"], outs[f"{name}::a_q"]
        fmt = model.get_submodule(name).lowbit_sites[0].qa.fmt
        assert same_values(aq, fmt.quantize(a, axis=-1)), (kind, recipe, name)
        assert same_values(aq, fmt.quantize(a, axis=-1, backend="reference")), (kind, recipe, name)
        la, laq = lowbit[name]
        if i == 0 or recipe == "mxfp4":
            # the same input: the operand (im2col for the conv) and its quantization are lowbit's exactly;
            # mxfp4: every GEMM before is exact in float32 (see below), so every operand is lowbit's
            assert same_values(a, la.numpy()) and same_values(aq, laq.numpy()), (kind, recipe, name)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("recipe", RECIPES)
def test_outputs_equal_lowbit_eval_within_the_float32_summation_bound(runs, kind, recipe):
    model, x, folder, outs = runs[kind, recipe]
    want, _ = gemm_operands(model, x)
    names = [n for n, m in model.named_children() if isinstance(m, QuantizedLayer)]
    weights = {n: w.detach().reshape(w.shape[0], -1).numpy() for n, w in
               ((n[: -len(".weight")], p) for n, p in load_exported(folder).named_parameters() if n.endswith("weight"))}
    for name in names:
        layer = model.get_submodule(name)
        aq, y = outs[f"{name}::a_q"], outs[f"{name}::y"]
        w, b = weights[name], layer.bias.detach().numpy()
        exact = aq.astype(np.float64) @ w.T.astype(np.float64) + b
        mag = np.abs(aq.astype(np.float64)) @ np.abs(w.T.astype(np.float64)) + np.abs(b)
        k = w.shape[1] + 1
        gamma = k * U / (1 - k * U)
        assert np.all(np.abs(y - exact) <= gamma * mag), (kind, recipe, name)
        # lowbit's float32 GEMM on the same operands: bit for bit wherever the sum is exact in any order
        with torch.no_grad():
            ly = (torch.from_numpy(aq) @ torch.from_numpy(w).T + layer.bias).numpy()
        sure = _exact_in_any_order(aq, w)
        assert same_values(y[sure], ly[sure]), (kind, recipe, name)
        assert np.all(np.abs(y - ly) <= 2 * gamma * mag)
        if recipe == "mxfp4":
            assert sure.all()   # power-of-two scales, 2-bit significands: every mxfp4 GEMM here is exact
    got, want = outs["output"], want.numpy()
    assert got.shape == want.shape
    if recipe == "mxfp4":
        assert same_values(got, want)
    # end to end: after the first layer the operands differ by the float32 rounding of the previous GEMM
    # (amax scales move with it, an operand near a midpoint may round to the neighbouring grid point)
    mag = np.abs(want).max()
    assert np.abs(got - want).max() <= TOL * mag, (kind, recipe, np.abs(got - want).max() / mag)


def _run_quantizer(fmt, x: np.ndarray) -> np.ndarray:
    g = _G()
    g.op("Identity", [quantize(g, "x", fmt, x.shape[1])], out="y")
    graph = helper.make_graph(g.nodes, "q", [helper.make_tensor_value_info("x", TP.FLOAT, [None, x.shape[1]])],
                              [helper.make_tensor_value_info("y", TP.FLOAT, [None, x.shape[1]])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    assert {n.op_type for n in model.graph.node} <= ALLOWED_OPS
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _adversarial(fmt, k: int, seed: int) -> np.ndarray:
    """Rows of k float32 values that sit on the format's rounding decisions."""
    rng = np.random.default_rng(seed)
    elem = fmt.element
    grid = np.unique(np.abs(np.asarray(elem.values(), np.float64)[np.isfinite(elem.values())]))
    mids = (grid[1:] + grid[:-1]) / 2
    rows = []
    for scale in (1.0, 2.0 ** -3, 0.75, 2.0 ** 40 / 3):
        r = np.resize(np.concatenate([mids, -mids, grid, -grid]), k) * scale   # ties and grid points
        r[0] = elem.max * scale            # the block amax sits on the grid's top
        rows.append(r)
        rows.append(np.nextafter(r.astype(np.float32), np.float32(np.inf)).astype(np.float64))   # just above ties
    rows.append(np.zeros(k))                                                 # an all-zero row
    rows.append(np.where(np.arange(k) % 2 == 0, -0.0, 0.0))                  # signed zeros
    tiny = rng.standard_normal(k) * 1e-42                                    # float32 subnormals
    rows.append(tiny)
    big = rng.standard_normal(k)
    big[3] = 3.4e38                                                          # float32 max range
    rows.append(big)
    mixed = rng.standard_normal(k) * 3
    mixed[k - 1] = 1e-3                                                      # ragged last block
    rows.append(mixed)
    wide = rng.standard_normal(k) * np.exp2(rng.integers(-30, 30, k))       # block scales far apart
    rows.append(wide)
    nan = rng.standard_normal(k)
    nan[2] = np.nan
    rows.append(nan)
    inf = rng.standard_normal(k)
    inf[k - 2] = -np.inf
    rows.append(inf)
    return np.asarray(rows, np.float64).astype(np.float32)


@pytest.mark.parametrize("spec", [QuantSpec("fp8_e4m3fn", scaling="tensor"), QuantSpec("mxfp4_e2m1"),
                                  QuantSpec("nvfp4"), QuantSpec("int8", scaling="channel"), QuantSpec("mxfp8_e4m3"),
                                  QuantSpec("fp8_e5m2", scaling="block", block=16), QuantSpec("int4", scaling="tensor")])
def test_activation_quantizer_is_exact_on_adversarial_inputs(spec):
    fmt = make_quantizer(spec).fmt
    for k in (37, 64):   # a ragged last block, whole blocks
        x = _adversarial(fmt, k, k)
        # per-tensor formats see one row at a time (NaN/Inf would poison the whole tensor), then all rows
        parts = [x[i:i + 1] for i in range(len(x))] + [x[:-2]]
        for part in parts:
            got = _run_quantizer(fmt, part)
            assert same_values(got, fmt.quantize(part, axis=-1)), (spec, k, part)
            assert same_values(got, fmt.quantize(torch.from_numpy(part), axis=-1, backend="torch").numpy()), (spec, k)
            assert same_values(got, fmt.quantize(part, axis=-1, backend="reference")), (spec, k)


def test_nvfp4_tensor_and_block_scale_extremes():
    fmt = get_format("nvfp4")
    rng = np.random.default_rng(4)
    for tmax in (1e-38, 3e-30, 1.0, 3e38):   # tensor scale subnormal in float32 .. near float32 max
        x = (rng.standard_normal((3, 48)) * tmax / 4).astype(np.float32)
        x[0, 0] = np.float32(tmax)
        x[1, :16] = np.float32(tmax) * np.float32(1e-6)   # a block far below the tensor max (e4m3 scale underflow)
        got = _run_quantizer(fmt, x)
        assert same_values(got, fmt.quantize(x, axis=-1)), tmax


def test_graph_uses_only_listed_default_domain_operators(runs):
    import onnx
    for (kind, recipe), (_, _, folder, _) in runs.items():
        model = onnx.load(str(folder / "model.onnx"))
        assert {n.domain for n in model.graph.node} <= {""}
        ops = {n.op_type for n in model.graph.node}
        assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
        assert ("Relu" in ops) and ("MatMul" in ops) and (kind != "cnn" or "Pad" in ops)


def test_any_batch_size_and_the_codes_read_back(runs, tmp_path):
    model, x, folder, _ = runs["cnn", "nvfp4"]
    for n in (1, 5):
        got = run_forward(folder, x[:n])
        with torch.no_grad():
            want = model(x[:n]).numpy()
        assert got.shape == want.shape and np.allclose(got, want, rtol=0, atol=1e-5)
    rebuilt = load_exported(folder)   # the ONNX file's initializers give the codes back (runtime=None)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    with pytest.raises(ValueError, match="forward graph"):
        load_exported(folder, runtime="onnxruntime")


def test_an_output_quantizer_is_format_quantize_bit_for_bit(tmp_path):
    import dataclasses
    recipe = dataclasses.replace(get_recipe("mxfp4"), name="mxfp4_out", output=QuantSpec("fp8_e4m3fn", scaling="tensor"))
    for kind in ("mlp", "cnn"):
        model, x = _model(kind, recipe), _input()
        folder = export_model(model, tmp_path / kind, target="onnx", graph="forward", example_input=x[:1], taps=True)
        outs = run_forward(folder, x, taps=True)
        for name, layer in model.named_children():
            if isinstance(layer, QuantizedLayer):
                fmt = layer.lowbit_sites[0].qout.fmt
                assert same_values(outs[f"{name}::y_q"], fmt.quantize(outs[f"{name}::y"], axis=-1)), (kind, name)
        with torch.no_grad():   # mxfp4 GEMMs are exact, so everything is lowbit's, bit for bit
            assert same_values(outs["output"], model(x).numpy())


def test_portable_weights_give_the_same_outputs(runs, tmp_path):
    import onnx
    model, x, folder, outs = runs["mlp", "fp8"]
    portable = export_model(model, tmp_path / "p", target="onnx", graph="forward", example_input=x[:1], ops="portable")
    ops = {n.op_type for n in onnx.load(str(portable / "model.onnx")).graph.node}
    assert "DequantizeLinear" not in ops and "Gather" in ops
    assert same_values(run_forward(portable, x), outs["output"])
    session = ort.InferenceSession(str(portable / "model.onnx"), providers=["CPUExecutionProvider"])
    assert same_values(session.run(["output"], {"input": x.numpy()})[0], outs["output"])   # the file alone


def test_refusals_name_the_layer_and_what_is_supported(tmp_path):
    import dataclasses
    x = _input()[:2]
    cases = [("fp4_dge_occ", "mlp", "OCC"), ("bf16_nearest", "mlp", "not scaled")]
    sr = dataclasses.replace(get_recipe("fp8"), name="fp8_sr",
                             input=QuantSpec("fp8_e4m3fn", scaling="tensor", rounding="stochastic"))
    cases.append((sr, "mlp", "stochastic"))
    for recipe, kind, why in cases:
        with pytest.raises(ValueError, match=f"layer '1'.*{why}"):
            export_model(_model(kind, recipe), tmp_path / "x", target="onnx", graph="forward", example_input=x)
    gpt_like = build_model(ModelSpec(kind="transformer", width=16, heads=2), 64, 10, (1, 8, 8), seed=0)
    quantize_model(gpt_like, "fp8")
    with pytest.raises(ValueError, match="nn.Sequential"):
        export_model(gpt_like, tmp_path / "t", target="onnx", graph="forward", example_input=x)
    with pytest.raises(ValueError, match="needs target 'onnx'"):
        export_model(_model("mlp", "fp8"), tmp_path / "p", target="packed", graph="forward", example_input=x)
    with pytest.raises(ValueError, match="needs example_input"):
        export_model(_model("mlp", "fp8"), tmp_path / "p", target="onnx", graph="forward")
    with pytest.raises(ValueError, match="ops='qdq' is not available for a forward graph"):
        export_model(_model("mlp", "fp8"), tmp_path / "q", target="onnx", graph="forward", example_input=x, ops="qdq")
    with pytest.raises(ValueError, match="graph='sideways'"):
        export_model(_model("mlp", "fp8"), tmp_path / "p", target="onnx", graph="sideways")


def test_cli_exports_a_checkpoint_as_a_forward_graph(tmp_path, capsys):
    from lowbit.cli import main
    from lowbit.train import load_config, load_data
    config = {"data": {"name": "blobs"}, "model": {"kind": "mlp", "hidden": [13]}, "recipes": ["mxfp4"]}
    cfg = load_config(config)
    data = load_data(cfg.data.name, cfg.data.test_fraction, cfg.data.split_seed)
    model = build_model(cfg.model, data.n_features, data.n_classes, data.image_shape, 5)
    quantize_model(model, "mxfp4", seed=5)
    ck = tmp_path / "mxfp4.pt"
    torch.save({"model": model.state_dict(), "recipe": "mxfp4", "seed": 5, "config": config}, ck)
    out = tmp_path / "fwd"
    assert main(["export", str(ck), "--format", "onnx", "--graph", "forward", "--to", str(out)]) == 0
    assert "model.onnx is the eval forward pass: input -> 2 GEMM layers -> output" in capsys.readouterr().out
    x = data.x_test[:32]
    with torch.no_grad():
        want = model.eval()(x).numpy()
    assert same_values(run_forward(out, x), want)   # mxfp4: exact float32 GEMMs, so bit for bit
    assert main(["import", str(out)]) == 0           # the codes read back from the graph's initializers
    assert main(["import", str(out), "--runtime", "onnxruntime"]) == 2
    assert "is a forward graph" in capsys.readouterr().err
    assert main(["export", str(ck), "--format", "packed", "--graph", "forward", "--to", str(tmp_path / "p")]) == 2
    assert "--graph applies to --format onnx only" in capsys.readouterr().err
    assert main(["export", str(ck), "--format", "onnx", "--graph", "sideways", "--to", str(tmp_path / "p")]) == 2
    assert "--graph 'sideways'; allowed: weights, forward" in capsys.readouterr().err
