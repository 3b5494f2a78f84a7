"""One training step as a `Workload`: forward layers lowered to GEMMs, the two backward GEMMs per layer,
and the weight-update elementwise work and traffic.

Lowering (the im2col convention of SCALE-Sim, Samajdar et al. ISPASS 2020): a forward layer is
C[m, n] = A[m, k] @ B[k, n] with A the input activations and B the weights. Its backward GEMMs are
- bwd_input:  dA[m, k] = dC[m, n] @ B^T  -> Gemm(m, n=k, k=n), operands grad_output x weight;
- bwd_weight: dB[k, n] = A^T @ dC[m, n]  -> Gemm(m=k, n, k=m), operands activation x grad_output.
A convolution (any number of spatial dims) lowers per group to m = batch * prod(out_size),
n = out_channels / groups, k = in_channels / groups * prod(kernel), `count` = groups; its bwd_input is
the column-space GEMM followed by col2im, so all three GEMMs have the same MACs.

Update work per weight follows the optimizer's arithmetic (Madam: Bernstein et al. 2020; LNS-Madam:
Zhao et al. 2022, "LNS-Madam: Low-Precision Training in Logarithmic Number System using Multiplicative
Weight Update": the update is one integer add on the LNS exponent code, with no master copy). These are
defaults for hand-written workloads; the training path records its own counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .workload import Elementwise, Gemm, Transfer, Workload, _check_keys, _fmt, _int, _name, _set, format_bits

__all__ = ["Layer", "linear", "conv", "matmul", "conv_output_size", "StepFormats", "OPTIMIZER_OPS",
           "training_step", "update_work", "training_step_from_dict"]


@dataclass(frozen=True)
class Layer:
    """A forward GEMM shape; `weights=False` for activation x activation products (attention)."""
    name: str
    m: int
    n: int
    k: int
    count: int = 1
    weights: bool = True

    def __post_init__(self):
        own = f"Layer {_name('Layer', self.name)!r}"
        for key in ("m", "n", "k", "count"):
            _set(self, key, _int(own, key, getattr(self, key), 1))
        if not isinstance(self.weights, bool):
            raise ValueError(f"{own}: weights={self.weights!r} must be true or false")

    @property
    def n_weights(self) -> int:
        return self.k * self.n * self.count if self.weights else 0


def linear(name, batch, in_features, out_features, tokens=1) -> Layer:
    """y = x W^T for `batch * tokens` rows."""
    own = f"linear {name!r}"
    return Layer(name, _int(own, "batch", batch, 1) * _int(own, "tokens", tokens, 1),
                 _int(own, "out_features", out_features, 1), _int(own, "in_features", in_features, 1))


def matmul(name, m, n, k, count=1) -> Layer:
    """An activation x activation GEMM (e.g. attention scores, count = batch * heads): no weights."""
    return Layer(name, m, n, k, count, weights=False)


def _tuple(own, key, v, nd, minimum):
    vals = (v,) * nd if not isinstance(v, (list, tuple)) else tuple(v)
    if len(vals) != nd:
        raise ValueError(f"{own}: {key}={v!r} must be one integer or {nd} integers (one per spatial dim)")
    return tuple(_int(own, key, x, minimum) for x in vals)


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1) -> tuple:
    """PyTorch's rule: out = floor((in + 2 p - d (k - 1) - 1) / s) + 1 per spatial dim."""
    own = "conv"
    ins = _tuple(own, "input_size", input_size, len(input_size) if isinstance(input_size, (list, tuple)) else 1, 1)
    nd = len(ins)
    ks = _tuple(own, "kernel_size", kernel_size, nd, 1)
    ss, ps, ds = (_tuple(own, "stride", stride, nd, 1), _tuple(own, "padding", padding, nd, 0),
                  _tuple(own, "dilation", dilation, nd, 1))
    out = []
    for i, k, s, p, d in zip(ins, ks, ss, ps, ds):
        span = d * (k - 1) + 1
        if i + 2 * p < span:
            raise ValueError(f"conv: input size {i} + 2*padding {p} is smaller than the dilated kernel {span}")
        out.append((i + 2 * p - span) // s + 1)
    return tuple(out)


def conv(name, batch, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0, dilation=1,
         groups=1) -> Layer:
    own = f"conv {name!r}"
    cin, cout = _int(own, "in_channels", in_channels, 1), _int(own, "out_channels", out_channels, 1)
    g = _int(own, "groups", groups, 1)
    if cin % g or cout % g:
        raise ValueError(f"{own}: groups={g} must divide in_channels={cin} and out_channels={cout}")
    out = conv_output_size(input_size, kernel_size, stride, padding, dilation)
    ks = _tuple(own, "kernel_size", kernel_size, len(out), 1)
    return Layer(name, _int(own, "batch", batch, 1) * math.prod(out), cout // g, cin // g * math.prod(ks), g)


@dataclass(frozen=True)
class StepFormats:
    """Formats of the tensor classes of a training step (registry names)."""
    weight: str = "fp32"
    activation: str = "fp32"
    grad_output: str = "fp32"
    acc: str = "fp32"
    grad_input: str = ""    # "" = grad_output (the next layer's output gradient)
    grad_weight: str = ""   # "" = acc
    update: str = "fp32"    # optimizer arithmetic
    state: str = "fp32"     # optimizer state storage
    master: str = ""        # master weight copy ("" = none: the update writes `weight` directly)

    def __post_init__(self):
        for f in fields(self):
            _fmt("formats", f.name, getattr(self, f.name), allow_empty=f.name in ("grad_input", "grad_weight",
                                                                                   "master"))

    @classmethod
    def uniform(cls, fmt: str, acc: str = "fp32", **kw) -> "StepFormats":
        return cls(weight=fmt, activation=fmt, grad_output=fmt, acc=acc, **kw)

    @classmethod
    def for_datapath(cls, dp) -> "StepFormats":
        """The usual training formats of a datapath: gradients in e5m2 on an e4m3 array (OCP practice),
        an fp32 master copy under narrower weights; LNS: every tensor in the LNS format, no master copy
        (LNS-Madam updates the codes), weight gradients in LNS too."""
        grad = {"fp8_e4m3fn": "fp8_e5m2", "mxfp8_e4m3": "mxfp8_e5m2"}.get(dp.a_format, dp.a_format)
        if dp.kind == "lns":
            return cls(weight=dp.b_format, activation=dp.a_format, grad_output=dp.a_format, acc=dp.acc_format,
                       grad_weight=dp.a_format)
        master = "fp32" if format_bits(dp.b_format) < 32 else ""
        return cls(weight=dp.b_format, activation=dp.a_format, grad_output=grad, acc=dp.acc_format, master=master)


# Per-weight elementwise ops of each optimizer (op, count, format key) and its state tensors per weight.
OPTIMIZER_OPS = {
    "sgd": ((("fma", 1, "update"),), 0),
    "momentum": ((("fma", 2, "update"),), 1),
    # m, v moments (mul+fma, mul+mul+fma), sqrt(v)+eps, divide, decoupled decay + step (2 fma)
    "adamw": ((("mul", 3, "update"), ("fma", 3, "update"), ("sqrt", 1, "update"), ("add", 1, "update"),
               ("div", 1, "update")), 2),
    # v update, normalization g/sqrt(v), clamp, w * exp(-lr g* sign w), clamp |w|
    "madam": ((("mul", 3, "update"), ("fma", 1, "update"), ("sqrt", 1, "update"), ("div", 1, "update"),
               ("compare", 3, "update"), ("exp", 1, "update"), ("mul", 1, "update")), 1),
    # the same normalized gradient, rounded to an integer, then one integer add on the LNS exponent code
    "lns_madam": ((("mul", 2, "update"), ("fma", 1, "update"), ("sqrt", 1, "update"), ("div", 1, "update"),
                   ("compare", 3, "update"), ("round", 1, "update"), ("lns_code_add", 1, "weight")), 1),
}


def update_work(layer: str, n_weights: int, formats: StepFormats, optimizer: str = "sgd", sr: bool = False,
                kahan: bool = False, level: str = "dram") -> tuple:
    """Elementwise ops and traffic of updating `n_weights` weights once."""
    if optimizer not in OPTIMIZER_OPS:
        raise ValueError(f"optimizer={optimizer!r}; allowed: {', '.join(OPTIMIZER_OPS)}")
    ops, n_state = OPTIMIZER_OPS[optimizer]
    stored = formats.master or formats.weight
    items = []
    kahan_left = kahan
    for op, per, key in ops:
        fmt = getattr(formats, key)
        if kahan_left and op == "fma" and key == "update":
            # the final w += lr * d becomes a multiply and a compensated (Kahan) add
            items += [Elementwise(f"{layer}.update.mul_step", n_weights, "mul", fmt, layer),
                      Elementwise(f"{layer}.update.kahan_add", n_weights, "kahan_add", fmt, layer)]
            per, kahan_left = per - 1, False
        if per:
            items.append(Elementwise(f"{layer}.update.{op}", per * n_weights, op, fmt, layer))
    if sr:   # one stochastic rounding (and its random bits) per stored weight
        items += [Elementwise(f"{layer}.update.rng", n_weights, "rng", stored, layer),
                  Elementwise(f"{layer}.update.sr_round", n_weights, "sr_round", stored, layer)]
    if formats.master:   # re-quantize the master copy into the compute weight format
        items.append(Elementwise(f"{layer}.update.round", n_weights, "round", formats.weight, layer))
    gw = formats.grad_weight or formats.acc

    def nbytes(fmt, n):
        return math.ceil(format_bits(fmt) * n / 8)

    items += [Transfer(f"{layer}.update.read_w", nbytes(stored, n_weights), "weight", level, layer),
              Transfer(f"{layer}.update.read_g", nbytes(gw, n_weights), "grad_weight", level, layer),
              Transfer(f"{layer}.update.write_w", nbytes(stored, n_weights), "weight", level, layer)]
    if kahan:
        items += [Transfer(f"{layer}.update.kahan_c", 2 * nbytes(stored, n_weights), "optimizer_state", level, layer)]
    if n_state:
        items.append(Transfer(f"{layer}.update.state", 2 * nbytes(formats.state, n_state * n_weights),
                              "optimizer_state", level, layer))
    if formats.master:
        items.append(Transfer(f"{layer}.update.write_wq", nbytes(formats.weight, n_weights), "weight", level, layer))
    return tuple(items)


def training_step(layers, formats: StepFormats | None = None, optimizer: str = "sgd", name: str = "step",
                  sr: bool = False, kahan: bool = False, update_level: str = "dram") -> Workload:
    """fwd + bwd_input + bwd_weight GEMMs for every layer, then the update of every weight."""
    f = formats or StepFormats()
    gi, gw = f.grad_input or f.grad_output, f.grad_weight or f.acc
    items, n_upd = [], 0
    for L in layers:
        if not isinstance(L, Layer):
            raise ValueError(f"training_step: layers must be Layer values (linear/conv/matmul), got {L!r}")
        b = f.weight if L.weights else f.activation
        items += [Gemm(f"{L.name}.fwd", L.m, L.n, L.k, f.activation, b, f.acc, "fwd", L.count, L.name, f.activation),
                  Gemm(f"{L.name}.bwd_input", L.m, L.k, L.n, f.grad_output, b, f.acc, "bwd_input", L.count, L.name, gi),
                  Gemm(f"{L.name}.bwd_weight", L.k, L.n, L.m, f.activation, f.grad_output, f.acc, "bwd_weight",
                       L.count, L.name, gw if L.weights else gi)]
        if L.weights:
            items += update_work(L.name, L.n_weights, f, optimizer, sr, kahan, update_level)
            n_upd += L.n_weights
    if not items:
        raise ValueError("training_step: no layers given")
    return Workload(tuple(items), name=name, weight_updates=n_upd)


_LAYER_KINDS = {"linear": linear, "conv": conv, "matmul": matmul}


def training_step_from_dict(data: dict, where: str = "workload", datapath=None) -> Workload:
    """YAML form: {name, layers: [{kind: linear|conv|matmul, name, ...}], formats: {...}, optimizer, sr, kahan,
    update_level}. Without `formats`, formats (and the default optimizer) follow `datapath` if given."""
    _check_keys(f"{where} (a training step)", data,
                ("name", "layers", "formats", "optimizer", "sr", "kahan", "update_level"))
    layers = []
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise ValueError(f"{where}: 'layers' must be a non-empty list")
    for i, d in enumerate(data["layers"]):
        if not isinstance(d, dict) or d.get("kind") not in _LAYER_KINDS:
            got = d.get("kind") if isinstance(d, dict) else d
            raise ValueError(f"{where}: layers[{i}].kind={got!r}; allowed: {', '.join(_LAYER_KINDS)}")
        try:
            layers.append(_LAYER_KINDS[d["kind"]](**{k: v for k, v in d.items() if k != "kind"}))
        except TypeError as exc:
            raise ValueError(f"{where}: layers[{i}] ({d['kind']}): {exc}") from None
    fm = data.get("formats")
    optimizer = data.get("optimizer")
    if fm is None and datapath is not None:
        formats = StepFormats.for_datapath(datapath)
        optimizer = optimizer or ("lns_madam" if datapath.kind == "lns" else "momentum")
    else:
        _check_keys(f"{where}: formats", fm or {}, StepFormats)
        formats = StepFormats(**(fm or {}))
    flags = {k: data.get(k, False) for k in ("sr", "kahan")}
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise ValueError(f"{where}: {k}={v!r} must be true or false")
    return training_step(layers, formats, optimizer or "sgd", data.get("name", "step"),
                         update_level=data.get("update_level", "dram"), **flags)
