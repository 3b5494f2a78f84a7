"""Workloads: conv/linear lowering checked against torch (output shapes and torch's own FLOP counter, an
independent reference), training-step structure, YAML round trip, and bad input naming key and value."""
import itertools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import lowbit.sim as sim
from lowbit.sim import Elementwise, Gemm, Transfer, Workload


def _torch_flops(module, x):
    with FlopCounterMode(display=False) as fc:
        module(x).sum().backward()
    return fc.get_flop_counts()["Global"]


CONVS = [dict(), dict(stride=2), dict(padding=2), dict(dilation=2), dict(stride=(2, 1), padding=(1, 2),
                                                                           dilation=(1, 2))]


@pytest.mark.parametrize("kw", CONVS)
def test_conv2d_lowering_matches_torch_flops_fwd_and_bwd(kw):
    # Invariant: fwd + bwd_input + bwd_weight GEMMs hold exactly the MACs torch counts for conv fwd + backward.
    c = torch.nn.Conv2d(6, 12, (3, 5), bias=False, **kw)
    x = torch.randn(2, 6, 17, 19, requires_grad=True)
    flops = _torch_flops(c, x)
    layer = sim.conv("c", 2, 6, 12, (17, 19), (3, 5), **kw)
    step = sim.training_step([layer])
    fwd = [g for g in step.gemms if g.phase == "fwd"]
    assert 2 * sum(g.macs for g in fwd) == sum(v for k, v in flops.items() if "backward" not in str(k))
    assert 2 * step.macs == sum(flops.values())
    assert tuple(c(x).shape[2:]) == sim.conv_output_size((17, 19), (3, 5), **kw)
    assert step.n_weight_updates == c.weight.numel()


@pytest.mark.parametrize("groups,dims", itertools.product([1, 2, 3, 6], [1, 2, 3]))
def test_conv_groups_and_dims_forward_macs(groups, dims):
    # torch's backward FLOP formula mis-counts groups, so grouped convs are checked on the forward only.
    conv_cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims]
    size = (9, 8, 7)[:dims]
    c = conv_cls(6, 12, 3, stride=2, padding=1, groups=groups, bias=False)
    x = torch.randn(2, 6, *size)
    with FlopCounterMode(display=False) as fc:
        y = c(x)
    layer = sim.conv("c", 2, 6, 12, size, 3, stride=2, padding=1, groups=groups)
    assert 2 * layer.m * layer.n * layer.k * layer.count == fc.get_total_flops()
    assert layer.count == groups and layer.m == 2 * y[0, 0].numel()
    assert layer.n_weights == c.weight.numel()


def test_linear_step_matches_torch_and_backward_shapes():
    lin = torch.nn.Linear(5, 7, bias=False)
    flops = _torch_flops(lin, torch.randn(3, 5, requires_grad=True))
    step = sim.training_step([sim.linear("fc", 3, 5, 7)])
    assert 2 * step.macs == sum(flops.values())
    f, bi, bw = step.gemms
    assert (f.m, f.n, f.k) == (3, 7, 5)          # x[3,5] @ W^T[5,7]
    assert (bi.m, bi.n, bi.k) == (3, 5, 7)       # dY[3,7] @ W[7,5]
    assert (bw.m, bw.n, bw.k) == (5, 7, 3)       # x^T[5,3] @ dY[3,7] (W^T's layout)
    assert [g.phase for g in step.gemms] == ["fwd", "bwd_input", "bwd_weight"]


def test_training_step_formats_update_and_weightless_matmul():
    f = sim.StepFormats(weight="fp8_e4m3fn", activation="fp8_e4m3fn", grad_output="fp8_e5m2", acc="fp32",
                        master="fp32")
    step = sim.training_step([sim.linear("fc", 4, 8, 16), sim.matmul("att", 4, 4, 8, count=3)], f,
                             optimizer="adamw", sr=True, name="t")
    g = {x.name: x for x in step.gemms}
    assert (g["fc.fwd"].a_format, g["fc.fwd"].b_format) == ("fp8_e4m3fn", "fp8_e4m3fn")
    assert (g["fc.bwd_input"].a_format, g["fc.bwd_input"].b_format) == ("fp8_e5m2", "fp8_e4m3fn")
    assert (g["fc.bwd_weight"].a_format, g["fc.bwd_weight"].b_format) == ("fp8_e4m3fn", "fp8_e5m2")
    assert step.n_weight_updates == 8 * 16               # the matmul has no weights
    assert not [e for e in step.elementwise if e.layer == "att"]
    ops = {e.op: e.count for e in step.elementwise}
    assert ops["sqrt"] == 128 and ops["sr_round"] == 128 and ops["round"] == 128
    tr = {t.name: t.bytes for t in step.transfers}
    assert tr["fc.update.read_w"] == 128 * 4           # fp32 master copy
    assert tr["fc.update.state"] == 2 * 2 * 128 * 4    # two fp32 moments, read + write
    assert tr["fc.update.write_wq"] == 128             # fp8 compute copy


def test_format_bits_from_registry_including_mx_scale():
    assert sim.format_bits("fp32") == 32 and sim.format_bits("bf16") == 16
    assert sim.format_bits("mxfp8_e4m3") == 8 + 8 / 32 and sim.format_bits("mxfp4_e2m1") == 4.25


def test_yaml_round_trip_and_training_step_yaml(tmp_path):
    w = sim.training_step([sim.conv("c1", 2, 3, 8, 16, 3, padding=1), sim.linear("fc", 2, 8 * 16 * 16, 10)],
                          sim.StepFormats.uniform("bf16"), optimizer="momentum", kahan=True)
    w = w + Workload((Elementwise("dev", 10, "device_pulse", "", pj_each=0.5), Transfer("x", 12, "activation")),
                     name="extra")
    w.save(tmp_path / "w.yaml")
    assert Workload.load(tmp_path / "w.yaml") == w
    (tmp_path / "s.yaml").write_text(
        "name: s\noptimizer: sgd\nformats: {weight: bf16, activation: bf16, grad_output: bf16}\n"
        "layers:\n  - {kind: conv, name: c1, batch: 2, in_channels: 3, out_channels: 8, input_size: 16,"
        " kernel_size: 3, padding: 1}\n  - {kind: linear, name: fc, batch: 2, in_features: 2048, out_features: 10}\n")
    s = Workload.load(tmp_path / "s.yaml")
    assert s == sim.training_step([sim.conv("c1", 2, 3, 8, 16, 3, padding=1), sim.linear("fc", 2, 2048, 10)],
                                  sim.StepFormats.uniform("bf16"), name="s")


@pytest.mark.parametrize("make,words", [
    (lambda: Gemm("g", 0, 1, 1), ["m=0"]),
    (lambda: Gemm("g", 1, 1, 2.5), ["k=2.5"]),
    (lambda: Gemm("g", 1, 1, True), ["k=True"]),
    (lambda: Gemm("g", 1, 1, 1, a_format="fp7"), ["a_format='fp7'", "unknown format"]),
    (lambda: Gemm("g", 1, 1, 1, phase="bwd"), ["phase='bwd'", "fwd, bwd_input, bwd_weight"]),
    (lambda: Elementwise("e", 1, "teleport"), ["op='teleport'", "kahan_add"]),
    (lambda: Elementwise("e", -1, "add"), ["count=-1"]),
    (lambda: Elementwise("e", 1, "device_pulse", "", pj_each=-1.0), ["pj_each=-1.0"]),
    (lambda: Transfer("t", 5, "weights"), ["tensor_class='weights'", "optimizer_state"]),
    (lambda: Workload((1,)), ["items[0]"]),
    (lambda: sim.conv("c", 1, 6, 4, 8, 3, groups=4), ["groups=4"]),
    (lambda: sim.conv("c", 1, 3, 4, 2, 5), ["smaller than the dilated kernel"]),
    (lambda: sim.conv("c", 1, 3, 4, (8, 8), (3, 3, 3)), ["kernel_size"]),
    (lambda: sim.training_step([sim.linear("f", 1, 2, 3)], optimizer="lion"), ["optimizer='lion'", "adamw"]),
    (lambda: sim.StepFormats(weight="fp9"), ["weight='fp9'"]),
])
def test_bad_input_names_key_and_value(make, words):
    with pytest.raises(ValueError) as ei:
        make()
    for w in words:
        assert w in str(ei.value)


@pytest.mark.parametrize("text,words", [
    ("items: [{kind: gemm, name: g, m: 1, n: 1}]", ["needs key 'k'"]),
    ("items: [{kind: gemm, name: g, m: 1, n: 1, k: 1, colour: red}]", ["unknown key 'colour'", "a_format"]),
    ("items: [{kind: conv2d}]", ["kind='conv2d'"]),
    ("name: x\nitems: []", ["non-empty"]),
    ("layers: [{kind: pool}]", ["layers[0].kind='pool'", "linear, conv, matmul"]),
    ("layers: [{kind: linear, name: f, batch: 1, in_features: 2, out_features: 3}]\nformats: {wieght: bf16}",
     ["'wieght'"]),
    ("- 1\n- 2", ["top level must be a mapping"]),
])
def test_bad_yaml_names_the_problem(tmp_path, text, words):
    p = tmp_path / "w.yaml"
    p.write_text(text)
    with pytest.raises(ValueError) as ei:
        Workload.load(p)
    for w in words:
        assert w in str(ei.value)
    with pytest.raises(FileNotFoundError):
        Workload.load(tmp_path / "missing.yaml")


def test_kahan_replaces_exactly_one_fma_per_weight():
    plain = sim.training_step([sim.linear("f", 2, 3, 4)], optimizer="momentum")
    comp = sim.training_step([sim.linear("f", 2, 3, 4)], optimizer="momentum", kahan=True)
    ops = lambda w: {e.op: e.count for e in w.elementwise}   # noqa: E731
    assert ops(plain) == {"fma": 24}
    assert ops(comp) == {"fma": 12, "mul": 12, "kahan_add": 12}


def test_trace_layers_of_a_torch_model_matches_torch_flops():
    # Invariant: the traced step holds exactly the MACs torch counts for forward + backward (groups=1 convs,
    # 'same' padding, a linear on 3-d input) and the traced convs equal the hand-lowered ones.
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 4, stride=2, padding="valid"),
        torch.nn.Conv2d(16, 16, 3, padding="same"), torch.nn.Flatten(2), torch.nn.Linear(49, 5))
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    flops = _torch_flops(model, x)
    layers = sim.trace_layers(model, x.detach())
    assert [L.name for L in layers] == ["0", "2", "3", "5"]
    assert layers[0] == sim.conv("0", 2, 3, 8, (16, 16), 3, padding=1)
    assert layers[3] == sim.linear("5", 2 * 16, 49, 5)
    assert 2 * sim.training_step(layers).macs == sum(flops.values())
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv"):
        sim.trace_layers(torch.nn.ReLU(), x)
