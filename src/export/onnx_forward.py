"""The forward pass of a quantized lowbit model as one ONNX graph (`export_model(..., graph="forward")`).

input -> per layer of an nn.Sequential: Flatten / Unflatten / ReLU / Identity / Dropout (eval: identity)
as themselves; QLinear and QConv2d as lowbit's eval forward computes them (lowbit/nn/functional.py):

    A (the GEMM's activation operand: the input, or for a convolution its im2col matrix built from Pad
      and strided Slices in F.unfold's (C, kh, kw) order)
    -> Q_in(A) along the reduction axis (the recipe's `input` quantizer, eval: round to nearest even)
    -> MatMul with the decoded weight (the weight's codes decoded by the tensor's own subgraph,
       onnx_target.py / onnx_portable.py), transposed; float32
    -> Add bias (after the sum, as torch's `mm + bias`)
    -> Q_out (the recipe's `output` quantizer, if any) -> back to the layer's output shape.

The quantizers are exact mirrors of `numerics.ScaledFormat`'s reference (`_split`, `_scales`,
`_elements`), operation by operation in float64 (ONNX DOUBLE), then cast to float32 once, as the
reference does:
- blocks: tensor (one), channel (one per row of A), block (`block` elements along K, the last block
  zero-padded); amax = ReduceMax |x|, NaN where the block holds a NaN; a block with a NaN or Inf gets a
  NaN scale (all its values NaN), an all-zero block a zero scale (all its values 0).
- AMAX rule: raw = amax / max_elem [/ tensor scale]; an fp32 scale is raw cast to float32; a scale
  format (NVFP4's e4m3) rounds raw to nearest even with saturation (the element rounding below).
  NVFP4's tensor scale = float32(max|x| / (max_elem * max_scale)), 1 when that max is not > 0.
- FLOOR rule (OCP MX): scale = 2^clip(floor(log2 amax) - emax_elem, lo, hi), floor(log2) exactly as the
  number of powers of two 2^k (k = -149..127) that are <= amax (LessOrEqual + ReduceSum), 2^e from a
  table (Gather); an all-zero block takes 2^lo.
- elements: v = x / scale (0 where the scale is 0); float elements: E = max(floor(log2|v|), emin) by
  the same counting over the element's binades, t = |v| / 2^(E - mbits) (exact: a power of two),
  Round(t) (ONNX Round: halves to even), times 2^(E - mbits), Min with max_elem (saturation), the sign
  put back (negative zero kept); fixed point: Round(v * 2^frac), Clip to [kmin, kmax], +0.0 (no -0).
  NaN stays NaN. The float64 quotient decides every tie exactly as the reference's float64 quotient.

Anything else is refused in one line naming the layer and what is supported: stochastic or directed
rounding, outlier clamping (OCC), accumulator emulation, absmean/ceil/even/rceil scale rules, formats
other than signed minifloats with subnormals and signed fixed point, unscaled activation formats,
non-Sequential models and layers other than the ones above (attention, norms, pooling).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from lowbit.numerics import FixedFormat, FloatFormat, ScaledFormat, ScaleRule

__all__ = ["build_forward", "gemm_operands", "SUPPORTED_LAYERS", "INPUT", "OUTPUT"]

INPUT, OUTPUT = "input", "output"
SUPPORTED_LAYERS = "QLinear, QConv2d, nn.Linear, nn.Conv2d (fp32), Flatten, Unflatten, ReLU, Identity, Dropout"
D, F32, I64 = TP.DOUBLE, TP.FLOAT, TP.INT64


class _G:
    """Nodes and initializers of the forward graph (unique names under one prefix per part)."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint: str) -> str:
        self.n += 1
        return f"fwd::{hint}{self.n}"

    def const(self, hint: str, arr) -> str:
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def i64(self, dims) -> str:
        return self.const("shape", np.asarray(list(dims), np.int64))

    def d(self, value) -> str:
        return self.const("c", np.float64(value))


class Unsupported(ValueError):
    pass


def _refuse(layer: str, what: str):
    raise Unsupported(f"layer {layer!r}: {what}; the forward graph lowers {SUPPORTED_LAYERS} with "
                      "round-to-nearest-even tensor/channel/block quantizers (amax or OCP floor scales)")


def _check_element(layer: str, role: str, elem):
    if isinstance(elem, FloatFormat):
        if not (elem.signed and elem.subnormals and elem.policy in ("ieee", "fn", "none")):
            _refuse(layer, f"{role} element format {elem.name} (only signed minifloats with subnormals and a "
                           "negative zero are lowered)")
        return
    if isinstance(elem, FixedFormat):
        if not elem.signed:
            _refuse(layer, f"{role} element format {elem.name} is unsigned (only signed fixed point is lowered)")
        return
    _refuse(layer, f"{role} element format {elem.name} ({type(elem).__name__}) has no forward lowering")


def check_quantizer(layer: str, role: str, q) -> None:
    """Raise Unsupported unless the quantizer `q` (lowbit.nn TensorQuantizer) has a forward lowering."""
    if q.identity:
        return
    spec, fmt = q.spec, q.fmt
    if spec.clamp_quantile is not None:
        _refuse(layer, f"the {role} quantizer clamps outliers (OCC, clamp_quantile={spec.clamp_quantile})")
    if spec.rounding != "nearest_even":
        _refuse(layer, f"the {role} quantizer rounds {spec.rounding!r} (only nearest_even is lowered)")
    if not isinstance(fmt, ScaledFormat):
        _refuse(layer, f"the {role} format {fmt.name} is not scaled (only tensor/channel/block-scaled "
                       "activation formats are lowered)")
    if fmt.scale_rule not in (ScaleRule.AMAX, ScaleRule.FLOOR):
        _refuse(layer, f"the {role} format {fmt.name} uses scale rule {fmt.scale_rule.value!r} (lowered: amax, floor)")
    _check_element(layer, role, fmt.element)
    if fmt.scale_format is not None and fmt.scale_rule is ScaleRule.AMAX:
        _check_element(layer, f"{role} scale", fmt.scale_format)


def _pow2_table(lo: int, hi: int) -> np.ndarray:
    return np.ldexp(1.0, np.arange(lo, hi + 1)).astype(np.float64)


def _floor_log2(g: _G, a: str, lo: int, hi: int) -> str:
    """int64 max(floor(log2 a), lo) for a >= 0 (double; a < 2^(hi+1)): lo + #{k in lo+1..hi: 2^k <= a}."""
    if hi <= lo:
        return g.const("e", np.int64(lo))
    table = g.const("pow2", _pow2_table(lo + 1, hi))           # (n,)
    le = g.op("LessOrEqual", [table, g.op("Unsqueeze", [a, g.i64([-1])])])
    count = g.op("ReduceSum", [g.op("Cast", [le], to=I64), g.i64([-1])], keepdims=0)
    return g.op("Add", [count, g.const("lo", np.int64(lo))])


def _gather_pow2(g: _G, e: str, lo: int, hi: int) -> str:
    """2^e (double) for int64 e in [lo, hi], from a table: exact."""
    return g.op("Gather", [g.const("pow2", _pow2_table(lo, hi)), g.op("Sub", [e, g.const("lo", np.int64(lo))])],
                axis=0)


def _negative(g: _G, v: str) -> str:
    """signbit(v) for non-NaN v: v < 0, or v a negative zero (1 / v = -Inf)."""
    zero = g.d(0.0)
    return g.op("Or", [g.op("Less", [v, zero]), g.op("Less", [g.op("Div", [g.d(1.0), v]), zero])])


def round_element(g: _G, v: str, elem, neg: str | None) -> str:
    """elem.quantize(v, rounding='nearest_even', overflow='saturate') of a double tensor, in double.
    `neg` (bool, or None for v >= 0) is the sign of v: the sign goes on by a final Mul with +-1, since
    onnxruntime's Where turns a selected -0.0 into +0.0 (so no Where sees a signed result)."""
    isnan = g.op("IsNaN", [v])
    nan = g.d(np.nan)
    a = g.op("Abs", [v])
    inf = g.op("IsInf", [a])
    a0 = g.op("Where", [g.op("Or", [inf, isnan]), g.d(0.0), a])
    if isinstance(elem, FixedFormat):   # Round(|v| 2^frac) clipped to kmax (kmin for negatives); no -0
        m = g.op("Round", [g.op("Mul", [a0, g.d(np.ldexp(1.0, elem.frac_bits))])])
        limit = g.d(elem.kmax) if neg is None else g.op("Where", [neg, g.d(-elem.kmin), g.d(elem.kmax)])
        m = g.op("Where", [inf, limit, g.op("Min", [m, limit])])
        m = g.op("Mul", [m, g.d(np.ldexp(1.0, -elem.frac_bits))])
        if neg is not None:
            neg = g.op("And", [neg, g.op("Greater", [m, g.d(0.0)])])
    else:
        emax = elem.max_exponent_unbiased()
        e = _floor_log2(g, a0, elem.emin, emax)                   # max(floor(log2|v|), emin), capped at emax
        q = _gather_pow2(g, g.op("Sub", [e, g.const("mb", np.int64(elem.mbits))]), elem.emin - elem.mbits,
                         emax - elem.mbits)
        m = g.op("Mul", [g.op("Round", [g.op("Div", [a0, q])]), q])
        m = g.op("Where", [inf, g.d(elem.max), g.op("Min", [m, g.d(elem.max)])])   # saturation, Inf too
    m = g.op("Where", [isnan, nan, m])
    if neg is None:
        return m
    return g.op("Mul", [m, g.op("Where", [neg, g.d(-1.0), g.d(1.0)])])


def quantize(g: _G, x: str, fmt: ScaledFormat, k: int) -> str:
    """fmt.quantize(x, axis=-1) of a float32 (M, k) tensor x: float32 (M, k), as the reference."""
    xd = g.op("Cast", [x], to=D)
    if fmt.granularity == "tensor":
        blocks, kp = g.op("Reshape", [xd, g.i64([1, 1, -1])]), k
    elif fmt.granularity == "channel":
        blocks, kp = g.op("Reshape", [xd, g.i64([-1, 1, k])]), k
    else:
        kp = -(-k // fmt.block) * fmt.block
        padded = xd if kp == k else g.op("Pad", [xd, g.i64([0, 0, 0, kp - k]), g.d(0.0)])
        blocks = g.op("Reshape", [padded, g.i64([-1, kp // fmt.block, fmt.block])])
    last = g.i64([-1])
    hasnan = g.op("Cast", [g.op("ReduceMax", [g.op("Cast", [g.op("IsNaN", [blocks])], to=TP.INT32), last],
                                keepdims=1)], to=TP.BOOL)
    nan = g.d(np.nan)
    amax = g.op("Where", [hasnan, nan, g.op("ReduceMax", [g.op("Abs", [blocks]), last], keepdims=1)])
    bad = g.op("Or", [g.op("IsNaN", [amax]), g.op("IsInf", [amax])])
    zero = g.op("Equal", [amax, g.d(0.0)])
    a = g.op("Where", [g.op("Or", [bad, zero]), g.d(1.0), amax])
    elem = fmt.element
    if fmt.scale_rule is ScaleRule.FLOOR:
        lo, hi = (-127, 127) if fmt.scale_format is not None else (-149, 127)
        lg = _floor_log2(g, a, -149, 127)      # a is a float32 value in double: 2^-149 <= a < 2^128
        e = g.op("Sub", [lg, g.const("emax", np.int64(fmt.emax_elem))])
        e = g.op("Max", [g.op("Min", [e, g.const("hi", np.int64(hi))]), g.const("lo", np.int64(lo))])
        e = g.op("Where", [zero, g.const("lo", np.int64(lo)), e])
        scale = _gather_pow2(g, e, lo, hi)
    else:   # AMAX
        raw = g.op("Div", [a, g.d(elem.max)])
        ts = None
        if fmt.tensor_scale:
            tnan = g.op("Cast", [g.op("ReduceMax", [g.op("Cast", [g.op("IsNaN", [xd])], to=TP.INT32)], keepdims=0)],
                        to=TP.BOOL)
            tmax = g.op("Where", [tnan, nan, g.op("ReduceMax", [g.op("Abs", [xd])], keepdims=0)])
            t32 = g.op("Cast", [g.op("Cast", [g.op("Div", [tmax, g.d(elem.max * fmt.scale_format.max)])], to=F32)],
                       to=D)
            ts = g.op("Where", [g.op("Greater", [tmax, g.d(0.0)]), t32, g.d(1.0)])
            raw = g.op("Div", [raw, ts])
        if fmt.scale_format is None:
            s = g.op("Cast", [g.op("Cast", [raw], to=F32)], to=D)
        else:
            s = round_element(g, raw, fmt.scale_format, None)   # raw > 0
        if ts is not None:
            s = g.op("Mul", [s, ts])
        scale = g.op("Where", [zero, g.d(0.0), s])
    scale = g.op("Where", [bad, nan, scale])
    pos = g.op("Greater", [scale, g.d(0.0)])
    v = g.op("Where", [pos, g.op("Div", [blocks, g.op("Where", [pos, scale, g.d(1.0)])]), g.d(0.0)])
    v = g.op("Where", [g.op("IsNaN", [scale]), nan, v])
    # v's sign: kept wherever the scale is positive (an all-zero block under a power-of-two rule has
    # 2^lo, so its -0.0 stay -0.0, as on every lowbit backend); +0 where the scale is 0 (amax rules)
    neg = g.op("And", [_negative(g, blocks), pos])
    vals = g.op("Mul", [round_element(g, v, elem, neg), scale])
    if fmt.granularity == "tensor":
        out = g.op("Reshape", [vals, g.i64([-1, k])])
    else:
        out = g.op("Reshape", [vals, g.i64([-1, kp])])
        if kp != k:
            out = g.op("Slice", [out, g.i64([0]), g.i64([k]), g.i64([1])])
    return g.op("Cast", [out], to=F32)


def _im2col(g: _G, x: str, conv, c: int, h: int, w: int):
    """F.unfold(x).transpose(1, 2).reshape(N * L, C * kh * kw) of x (N, C, H, W): (cols, ho, wo)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = x if not (ph or pw) else g.op("Pad", [x, g.i64([0, 0, ph, pw, 0, 0, ph, pw]),
                                               g.const("zero", np.float32(0.0))])
    patches = []
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dh, j * dw
            sl = g.op("Slice", [xp, g.i64([r0, c0]), g.i64([r0 + sh * (ho - 1) + 1, c0 + sw * (wo - 1) + 1]),
                                g.i64([2, 3]), g.i64([sh, sw])])                      # (N, C, ho, wo)
            patches.append(g.op("Unsqueeze", [sl, g.i64([2])]))                      # (N, C, 1, ho, wo)
    stack = patches[0] if len(patches) == 1 else g.op("Concat", patches, axis=2)   # (N, C, kh*kw, ho, wo)
    cols = g.op("Reshape", [stack, g.i64([0, c * kh * kw, ho * wo])])               # (N, K, L)
    a = g.op("Reshape", [g.op("Transpose", [cols], perm=[0, 2, 1]), g.i64([-1, c * kh * kw])])
    return a, ho, wo


def build_forward(model, example_input, weights: dict, taps: bool = False):
    """(nodes, initializers, graph inputs, graph outputs, layer records) of the forward graph of `model`
    (an nn.Sequential in eval semantics) for inputs shaped like `example_input` (any batch size).
    `weights` maps parameter names of quantized weights to the float32 graph values holding them (the
    decoded tensors). `taps=True` adds, per quantized layer, outputs `LAYER::a` (the GEMM's activation
    operand before quantization), `LAYER::a_q` (after), `LAYER::y` (the GEMM output plus bias) and, with
    an output quantizer, `LAYER::y_q` (y quantized), all as 2-D (rows, features) matrices."""
    import torch
    import torch.nn as nn
    if not isinstance(model, nn.Sequential):
        raise Unsupported(f"the forward graph lowers nn.Sequential models (lowbit.train.build_model's mlp and "
                          f"cnn), not {type(model).__name__}")
    x = torch.as_tensor(example_input)
    if x.dtype != torch.float32 or x.dim() < 2:
        raise ValueError(f"example_input: a float32 tensor with a batch dimension expected, got {x.dtype} "
                         f"{list(x.shape)}")
    g = _G()
    inputs = [helper.make_tensor_value_info(INPUT, F32, ["batch", *x.shape[1:]])]
    outputs, records = [], []
    was = model.training
    model.eval()   # the eval forward (a training-mode call would advance the layers' call counters)
    try:
        with torch.no_grad():
            return _walk(g, model, x, weights, taps, inputs, outputs, records)
    finally:
        model.train(was)


def _walk(g, model, x, weights, taps, inputs, outputs, records):
    import torch.nn as nn
    from lowbit.nn import QConv2d, QLinear
    cur = INPUT
    for name, layer in model.named_children():
        known = isinstance(layer, (nn.Flatten, nn.Unflatten, nn.ReLU, nn.Identity, nn.Dropout))
        y = layer(x) if known else None
        if isinstance(layer, nn.Flatten):
            if layer.start_dim != 1 or layer.end_dim != -1:
                _refuse(name, f"Flatten(start_dim={layer.start_dim}, end_dim={layer.end_dim}) (lowered: 1, -1)")
            cur = g.op("Flatten", [cur], axis=1)
        elif isinstance(layer, nn.Unflatten):
            cur = g.op("Reshape", [cur, g.i64([-1, *y.shape[1:]])])
        elif isinstance(layer, nn.ReLU):
            cur = g.op("Relu", [cur])
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            pass
        elif type(layer) in (QLinear, QConv2d, nn.Linear, nn.Conv2d):
            cur, y = _gemm_layer(g, name, layer, cur, x, weights, taps, outputs, records)
        else:
            _refuse(name, f"{type(layer).__name__} has no forward lowering")
        x = y
    g.op("Identity", [cur], out=OUTPUT)
    outputs.insert(0, helper.make_tensor_value_info(OUTPUT, F32, ["batch", *x.shape[1:]]))
    return g.nodes, g.inits, inputs, outputs, records


def _gemm_layer(g, name, layer, cur, x, weights, taps, outputs, records):
    import torch.nn as nn
    from lowbit.nn import QConv2d, QuantizedLayer
    conv = isinstance(layer, nn.Conv2d)
    quant = isinstance(layer, QuantizedLayer)
    site = layer.lowbit_sites[0] if quant else None
    if quant:
        if site.acc is not None:
            _refuse(name, "the recipe emulates a low-precision accumulator (lowp_sum)")
        for role, q in (("input", site.qa), ("output", site.qout)):
            check_quantizer(name, role, q)
        if type(layer) is QConv2d and layer.groups != 1:
            _refuse(name, "grouped convolution")
    wname = f"{name}.weight"
    w = layer.weight.detach()
    if wname in weights:
        wval = weights[wname]                                        # (N, K) decoded codes
    elif quant and not site.qb.identity:
        raise ValueError(f"layer {name!r}: its quantized weight is not among the exported tensors")
    else:
        wval = g.const("w", w.reshape(w.shape[0], -1).numpy().astype(np.float32))
    k = int(np.prod(w.shape[1:]))
    if conv:
        if layer.groups != 1 or isinstance(layer.padding, str) or layer.padding_mode != "zeros":
            _refuse(name, "Conv2d with groups != 1, string padding or non-zero padding mode")
        n, c, h, wd = x.shape
        a, ho, wo = _im2col(g, cur, layer, c, h, wd)
    else:
        if x.dim() != 2:
            _refuse(name, f"Linear on a {x.dim()}-D input (lowered: (batch, features))")
        a = cur
    aq = a if not quant or site.qa.identity else quantize(g, a, site.qa.fmt, k)
    y = g.op("MatMul", [aq, g.op("Transpose", [wval], perm=[1, 0])])
    if layer.bias is not None:
        y = g.op("Add", [y, g.const("bias", layer.bias.detach().numpy().astype(np.float32))])
    yq = y if not quant or site.qout.identity else quantize(g, y, site.qout.fmt, int(w.shape[0]))
    if taps and quant:
        n_out = int(w.shape[0])
        kept = [("a", a, k), ("a_q", aq, k), ("y", y, n_out)] + ([] if yq == y else [("y_q", yq, n_out)])
        for key, val, width in kept:
            tap = g.op("Identity", [val], out=f"{name}::{key}")
            outputs.append(helper.make_tensor_value_info(tap, F32, ["rows", width]))
    records.append({"layer": name, "kind": "conv2d" if conv else "linear", "quantized": quant,
                    "input_format": None if not quant or site.qa.identity else site.qa.fmt.name,
                    "weight": wname if wname in weights else "fp32 initializer",
                    "output_format": None if not quant or site.qout.identity else site.qout.fmt.name})
    out = layer(x)
    if conv:
        o = int(w.shape[0])
        y3 = g.op("Transpose", [g.op("Reshape", [yq, g.i64([-1, ho * wo, o])])], perm=[0, 2, 1])
        yq = g.op("Reshape", [y3, g.i64([-1, o, ho, wo])])
    return yq, out


def gemm_operands(model, x):
    """(output, {layer: (A, Q_in(A))}) of lowbit's own eval forward of `model` on `x`: each quantized
    layer's GEMM activation operand (a conv's im2col matrix) and its quantization, as the graph's taps
    `LAYER::a` / `LAYER::a_q` hold them (for comparing the two; the model's layers are called as usual)."""
    import torch
    import torch.nn.functional as F
    from lowbit.nn import QuantizedLayer
    got, hooks = {}, []

    def hook(mod, inp):
        a = inp[0]
        if isinstance(mod, torch.nn.Conv2d):
            a = F.unfold(a, mod.kernel_size, mod.dilation, mod.padding, mod.stride)
            a = a.transpose(1, 2).reshape(-1, a.shape[1])
        got[mod.lowbit_name] = (a, mod.lowbit_sites[0].qa(a, -1, 0))
    for layer in model.modules():
        if isinstance(layer, QuantizedLayer):
            hooks.append(layer.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        for h in hooks:
            h.remove()
    return y, got
