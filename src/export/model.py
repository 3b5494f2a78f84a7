"""Model level: the quantized weights of a `lowbit.nn` model out as codes, and the model rebuilt from them.

`export_model(model, to, target)` writes, for every quantized layer (QLinear, QConv2d, the projections of
QAttention), the weight exactly as the layer's eval-mode forward quantizes it: the same format, axis
(the GEMM's reduction axis, in_features), rounding and stochastic-rounding seed (lowbit.nn derives it
from the run seed, layer id and call index), as codes + scales in the chosen target. Every other entry
of the state_dict (biases, norms, call counters) goes into `state.safetensors` unchanged. The manifest's
`extra.model` holds the recipe, the run seed and rank, each layer's weight shape, and how to rebuild
the architecture (`builder`).

With target "onnx" and `graph="forward"`, model.onnx is instead the model's whole eval forward pass
(input -> output; activation quantizers, decoded weights, float32 GEMMs: onnx_forward.py), run by
`run_forward(dir, x)`; its codes read back the same way.

`load_exported(dir)` verifies the directory, rebuilds the architecture (the builder, or `build()`),
quantizes it with the same recipe except that weights are taken as they are (they already are the
quantized values: re-quantizing is not idempotent for amax/absmean scales), loads the decoded weights
and the state, and returns the model in eval mode. Its outputs equal the exported model's eval outputs
bit for bit (same quantizers, seeds and GEMM shapes; tests/export/test_export_model.py).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from ._deps import require
from .api import export_tensors, load_tensors
from .codec import decode_tensor, encode_tensor
from .store import read_manifest

__all__ = ["export_model", "load_exported", "quantized_weights", "run_forward", "BUILDERS", "GRAPHS"]

STATE_FILE = "state.safetensors"
# Architectures a manifest may ask to rebuild: name -> function(**args) -> nn.Module
BUILDERS = {}


def _train_builder(spec: dict, n_features: int, n_classes: int, image_shape, seed: int):
    from lowbit.train import ModelSpec, build_model
    return build_model(ModelSpec(**spec), n_features, n_classes, tuple(image_shape), seed)


BUILDERS["lowbit.train.build_model"] = _train_builder


def _weight_site(layer):
    """(weight as the GEMM's B operand (N, K), the site) of a QLinear/QConv2d; None for other layers."""
    from lowbit.nn import QConv2d, QLinear
    if isinstance(layer, (QLinear, QConv2d)):
        return layer.weight.detach().reshape(layer.weight.shape[0], -1), layer.lowbit_sites[0]
    return None


def quantized_weights(model) -> dict:
    """{parameter name: EncodedTensor} of every weight a quantized layer quantizes, as its eval forward does."""
    from lowbit.nn import QuantizedLayer
    from lowbit.nn.functional import T_B
    out = {}
    for name, layer in model.named_modules():
        ws = _weight_site(layer) if isinstance(layer, QuantizedLayer) else None
        if ws is None:
            continue
        w, site = ws
        q = site.qb
        if q.identity or w.numel() == 0:
            continue
        if q.spec.clamp_quantile is not None:
            raise ValueError(f"layer {name!r}: its weight quantizer clamps outliers (OCC) and keeps a sparse "
                             "residual, which has no code form; export a recipe without clamp_quantile on weights")
        was = layer.training
        layer.train(False)
        call = layer._call_index()   # the eval-mode stream index (no side effect in eval)
        layer.train(was)
        seed = site.seed(T_B, call)
        kw = {"rounding": q.spec.rounding}
        if q.spec.rounding == "stochastic":
            kw.update(generator=seed, rbits=q.spec.rbits)
        enc = encode_tensor(w, q.fmt, axis=-1, **kw)
        want = q(w, -1, seed)
        got = torch.from_numpy(decode_tensor(enc)).to(w.dtype).reshape(w.shape)
        if not torch.equal(got.view(torch.int32) if got.dtype == torch.float32 else got,
                           want.view(torch.int32) if want.dtype == torch.float32 else want):
            raise ValueError(f"layer {name!r}: the codes do not reproduce the layer's quantized weight "
                             f"({q.fmt.name}); lowbit.nn and lowbit.export disagree")
        out[f"{name}.weight"] = enc
    return out


GRAPHS = ("weights", "forward")


def _forward_option(model, example_input, taps: bool):
    """The onnx target's `forward` option: a function {tensor: graph value} -> the forward graph."""
    require("onnx", "the onnx target")
    from .onnx_forward import build_forward

    def forward(weights: dict):
        nodes, inits, inputs, outputs, layers = build_forward(model, example_input, weights, taps=taps)
        return nodes, inits, inputs, outputs, {"input": inputs[0].name, "output": outputs[0].name,
                                                "taps": bool(taps), "layers": layers}
    return forward


def export_model(model, to, target: str = "packed", force: bool = False, builder: dict | None = None,
                 graph: str = "weights", example_input=None, taps: bool = False, **options) -> Path:
    """Export the quantized weights and the rest of the state of `model` (see the module docstring).
    `builder` = {"name": a BUILDERS key, "args": {...}} lets `load_exported` rebuild the architecture.
    `graph="forward"` (target onnx): model.onnx is the model's eval forward pass, input `input` shaped
    like `example_input` (any batch size) -> output `output`, with the weights decoded from their codes
    inside the graph (onnx_forward.py; run it with `run_forward`). `taps=True` adds each quantized
    layer's GEMM operand before/after quantization and its output as extra outputs (for tests)."""
    save = require("safetensors.torch", "a model export").save
    from lowbit.nn import get_context
    from lowbit.recipes import recipe_to_dict
    if graph not in GRAPHS:
        raise ValueError(f"graph={graph!r}; allowed: {', '.join(GRAPHS)}")
    if graph == "forward":
        if target != "onnx":
            raise ValueError(f"graph='forward' needs target 'onnx', not {target!r}")
        if example_input is None:
            raise ValueError("graph='forward' needs example_input (a float32 batch shaped like the model's input)")
        options["forward"] = _forward_option(model, example_input, taps)
    elif example_input is not None or taps:
        raise ValueError("example_input and taps apply to graph='forward' only")
    encs = quantized_weights(model)
    if graph == "forward":
        options["forward"]({name: name for name in encs})   # refuses what it cannot lower before any file work
    if not encs:
        raise ValueError("the model has no quantized layers (lowbit.nn QLinear/QConv2d with a quantized weight "
                         "format); nothing to export as codes: quantize it with lowbit.nn.quantize_model or "
                         "train it with a low-precision recipe")
    ctx = get_context(model)
    if builder is not None and builder.get("name") not in BUILDERS:
        raise ValueError(f"builder {builder.get('name')!r} unknown; allowed: {', '.join(BUILDERS)}")
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if k not in encs}
    layers = {k[: -len(".weight")]: {"weight_shape": list(dict(model.named_parameters())[k].shape),
                                      "format": e.fmt.name} for k, e in encs.items()}
    info = {"recipe": recipe_to_dict(ctx.recipe), "seed": ctx.seed, "rank": ctx.rank, "layers": layers,
            "state_file": STATE_FILE, "builder": builder}
    return export_tensors(encs, to, target=target, force=force, extra={"model": info},
                          files={STATE_FILE: save(state)}, **options)


def _weights(folder: Path, manifest: dict, runtime: str | None) -> dict:
    """{name: decoded weight values}: decoded in numpy from the stored codes, or (runtime="onnxruntime",
    onnx exports) the outputs of model.onnx executed by onnxruntime."""
    if runtime is None:
        return {name: decode_tensor(enc) for name, enc in load_tensors(folder).items()}
    if runtime != "onnxruntime":
        raise ValueError(f"runtime={runtime!r}; allowed: None (decode in numpy), 'onnxruntime'")
    if manifest.get("target") != "onnx":
        raise ValueError(f"{folder}: runtime='onnxruntime' needs an onnx export, this one is {manifest.get('target')!r}")
    from .onnx_runtime import run_weights_graph
    load_tensors(folder)   # verifies every file and the codes before the graph is run
    outs = run_weights_graph(folder, manifest)
    if set(outs) != set(manifest["tensors"]):
        raise ValueError(f"{folder}: model.onnx outputs {sorted(outs)} are not the manifest's tensors")
    return outs


def _check_model_info(folder: Path, manifest: dict, info: dict) -> None:
    """extra.model against the tensors: one ValueError line naming the field (a manifest edited with its
    hash recomputed passes the checksum, not this)."""
    from lowbit.nn.quantizer import make_quantizer
    from lowbit.recipes import recipe_from_dict
    from .spec import format_from_spec, format_spec
    where = f"{folder}/manifest.json: extra.model"
    b = info.get("builder")
    if b is not None and not (isinstance(b, dict) and isinstance(b.get("name"), str)
                              and isinstance(b.get("args", {}), dict)):
        raise ValueError(f"{where}.builder: null or {{'name': ..., 'args': {{...}}}} expected, got {b!r}")
    if not isinstance(info.get("state_file"), str) or info["state_file"] not in manifest.get("files", {}):
        raise ValueError(f"{where}.state_file={info.get('state_file')!r} is not among the checksummed files")
    for key in ("seed", "rank"):
        if isinstance(info.get(key), bool) or not isinstance(info.get(key), int):
            raise ValueError(f"{where}.{key}={info.get(key)!r} must be an integer")
    if not isinstance(info.get("recipe"), dict):
        raise ValueError(f"{where}.recipe must be a recipe object, got {info.get('recipe')!r}")
    recipe = recipe_from_dict(info["recipe"])
    weight_spec = format_spec(make_quantizer(recipe.weight).fmt)
    layers = info.get("layers")
    tensors = manifest.get("tensors")
    if not isinstance(layers, dict) or not isinstance(tensors, dict):
        raise ValueError(f"{where}.layers and tensors must map names to entries")
    expect = {f"{name}.weight" for name in layers}
    if expect != set(tensors):
        raise ValueError(f"{where}.layers lists {sorted(expect)}, the manifest's tensors are {sorted(tensors)}")
    for name, layer in layers.items():
        entry = tensors[f"{name}.weight"]
        if not isinstance(entry, dict):
            raise ValueError(f"tensor {name + '.weight'!r}: a manifest entry is an object, got {entry!r}")
        spec = entry.get("format")
        fmt = format_from_spec(spec, f"tensor {name + '.weight'!r} format")
        if not isinstance(layer, dict) or layer.get("format") != fmt.name:
            raise ValueError(f"{where}.layers[{name!r}].format: {fmt.name!r} (its tensor's format spec) expected, "
                             f"got {layer.get('format') if isinstance(layer, dict) else layer!r}")
        if spec != weight_spec:
            raise ValueError(f"{where}.recipe: recipe {recipe.name!r} quantizes weights to "
                             f"{weight_spec.get('name')!r}, but tensor {name + '.weight'!r} is {fmt.name!r}")


def load_exported(folder, build=None, runtime: str | None = None):
    """The model of a model export, rebuilt and in eval mode (see the module docstring). `build()` returns
    the architecture (plain torch layers) when the export names no builder. `runtime="onnxruntime"`
    (onnx exports) takes the weights from running model.onnx in onnxruntime instead of decoding them
    here: the deployed graph's values, which the tests require to give the same outputs bit for bit."""
    load = require("safetensors.torch", "a model export").load
    from safetensors import SafetensorError
    from lowbit.nn import quantize_model
    from lowbit.recipes import QuantSpec, recipe_from_dict
    folder = Path(folder)
    manifest = read_manifest(folder)
    info = (manifest.get("extra") or {}).get("model")
    if not isinstance(info, dict):
        raise ValueError(f"{folder} is a tensor export, not a model export (no extra.model in its manifest); "
                         "read it with lowbit.export.load_tensors")
    _check_model_info(folder, manifest, info)
    if build is None:
        b = info.get("builder") or {}
        if b.get("name") not in BUILDERS:
            raise ValueError(f"{folder}: the export names no known builder ({b.get('name')!r}; known: "
                             f"{', '.join(BUILDERS)}); pass build=<function returning the architecture>")
        module = BUILDERS[b["name"]](**b.get("args", {}))
    else:
        module = build()
    recipe = recipe_from_dict(info["recipe"])
    # Weights arrive quantized; every other quantizer (activations, outputs, gradients) stays.
    recipe = dataclasses.replace(recipe, weight=QuantSpec("fp32"), name=f"{recipe.name}+exported_weights")
    quantize_model(module, recipe, seed=info["seed"], rank=info["rank"])
    params = dict(module.named_parameters())
    try:
        state = load((folder / info["state_file"]).read_bytes())
    except SafetensorError as exc:
        raise ValueError(f"{folder / info['state_file']}: not a valid safetensors file ({exc})") from None
    for name, values in _weights(folder, manifest, runtime).items():
        if name not in params:
            raise ValueError(f"{folder}: tensor {name!r} has no parameter in the rebuilt model")
        shape = tuple(info["layers"][name[: -len(".weight")]]["weight_shape"])
        state[name] = torch.from_numpy(np.ascontiguousarray(values)).to(params[name].dtype).reshape(shape)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{folder}: the export does not fit the rebuilt model: {' '.join(str(exc).split())}") \
            from None
    module.lowbit_export = json.loads(json.dumps(info))
    return module.eval()


def run_forward(folder, x, taps: bool = False):
    """The output (numpy float32) of a forward-graph export (`graph="forward"`) run by onnxruntime's CPU
    provider on the batch `x`; with taps=True, {output name: array} of every graph output."""
    from .onnx_runtime import run_model
    folder = Path(folder)
    manifest = read_manifest(folder)
    rec = manifest.get("onnx") or {}
    if manifest.get("target") != "onnx" or rec.get("graph") != "forward":
        raise ValueError(f"{folder}: not a forward-graph onnx export (export it with graph='forward', "
                         "CLI --graph forward)")
    load_tensors(folder)   # verifies every file and the codes before the graph is run
    arr = np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x),
                               dtype=np.float32)
    named = run_model(folder / manifest["file"], {rec["forward"]["input"]: arr})
    return named if taps else named[rec["forward"]["output"]]
