"""Quantized layers: each test states the invariant; references are torch's own layers and the numerics
formats applied by hand along the axis the GEMM reduces over (never the layer code under test)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lowbit.nn import QAttention, QLinear, counting, quantize_model
from lowbit.nn.quantizer import TensorQuantizer
from lowbit.numerics import get_format
from lowbit.recipes import QuantSpec, Recipe, get_recipe


def _pair(recipe, seed=0):
    torch.manual_seed(seed)
    ref = nn.Sequential(nn.Linear(40, 24), nn.ReLU(), nn.Linear(24, 6))
    q = nn.Sequential(nn.Linear(40, 24), nn.ReLU(), nn.Linear(24, 6))
    q.load_state_dict(ref.state_dict())
    quantize_model(q, recipe, seed=3)
    return ref, q


def test_fp32_recipe_is_bit_identical_to_torch():
    ref, q = _pair("fp32")
    x = torch.randn(9, 40)
    yr, yq = ref(x), q(x)
    assert torch.equal(yr, yq)
    yr.square().sum().backward()
    yq.square().sum().backward()
    for pr, pq in zip(ref.parameters(), q.parameters()):
        assert torch.equal(pr.grad, pq.grad)


def test_mx_forward_and_weight_grad_quantize_along_each_reduction_dim():
    """fwd: Q(x | in) @ Q(W | in)^T; weight grad: Q(dY | batch)^T @ Q(x | batch) (MX blocks of 32)."""
    mx = get_format("mxfp8_e4m3")
    mx5 = get_format("mxfp8_e5m2")
    torch.manual_seed(1)
    lin = QLinear(64, 8, bias=False, recipe="mxfp8")
    x = torch.randn(32, 64)
    y = lin(x)
    ref = mx.quantize(x, axis=-1) @ mx.quantize(lin.weight.detach(), axis=-1).T
    assert torch.equal(y, ref)
    gy = torch.randn(32, 8)
    y.backward(gy)
    gw_ref = mx5.quantize(gy, axis=0).T @ mx.quantize(x, axis=0)
    assert torch.equal(lin.weight.grad, gw_ref)


def test_input_grad_requantizes_weight_along_out_features():
    q = get_format("mxfp4_e2m1")
    torch.manual_seed(2)
    r = Recipe("t", weight=QuantSpec("mxfp4_e2m1"), grad_output=QuantSpec("mxfp4_e2m1"))
    lin = QLinear(32, 64, bias=False, recipe=r)
    x = torch.randn(4, 32, requires_grad=True)
    gy = torch.randn(4, 64)
    lin(x).backward(gy)
    ref = q.quantize(gy, axis=-1) @ q.quantize(lin.weight.detach(), axis=0)
    assert torch.equal(x.grad, ref)


def test_stochastic_rounding_reproducible_and_fresh_per_step():
    r = get_recipe("bf16_sr").__class__("sr_all", input=QuantSpec("bf16", rounding="stochastic"))
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        lin = QLinear(16, 4, recipe=r)
        lin.lowbit_ctx.seed = 7
        x = torch.randn(8, 16)
        outs.append((lin(x), lin(x)))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    assert not torch.equal(outs[0][0], outs[0][1])   # step 0 and step 1 draw different bits


def test_quantize_model_refuses_unsupported_layers_with_reason():
    m = nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 3))
    with pytest.raises(ValueError, match=r"'1'.*Conv1d.*not emulated"):
        quantize_model(m, "fp8")
    m2 = nn.Sequential(nn.Linear(4, 4), nn.MultiheadAttention(4, 1))
    with pytest.raises(ValueError, match="QAttention"):
        quantize_model(m2, "fp8")
    _, rep = quantize_model(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 3)), "fp8", skip_unsupported=True)
    assert rep["quantized"] == ["0"] and rep["skipped"][0]["layer"] == "1"
    with pytest.raises(ValueError, match="groups=2"):
        quantize_model(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "fp8")


def test_conv_matches_torch_conv_in_fp32_and_counts_im2col_macs():
    torch.manual_seed(3)
    ref = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    m = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1))
    m[0].load_state_dict(ref.state_dict())
    quantize_model(m, "fp32")
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    with counting(m) as c:
        y = m(x)
        y.sum().backward()
    assert torch.allclose(y, ref(x), atol=1e-5)  # im2col sums in another order
    fwd = [g for g in c.gemms if g[2] == "fwd"][0]
    assert fwd[3:6] == (2 * 5 * 5, 5, 3 * 9)          # m = N * Ho * Wo, n = out, k = C * kh * kw
    phases = sorted(g[2] for g in c.gemms)
    assert phases == ["bwd_input", "bwd_weight", "fwd"]
    wl = c.workload()
    assert wl.macs == 3 * 50 * 5 * 27


def test_attention_fp32_matches_reference_math():
    torch.manual_seed(4)
    att = QAttention(8, 2, causal=True)
    x = torch.randn(3, 5, 8)
    qkv = F.linear(x, att.qkv.weight, att.qkv.bias).reshape(3, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    s = qkv[0] @ qkv[1].transpose(-1, -2) / 2.0
    s = s.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    o = (s.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(3, 5, 8)
    assert torch.allclose(att(x), F.linear(o, att.proj.weight, att.proj.bias), atol=1e-5)


def test_dge_factor_closed_form_on_fp4_grid():
    """fp4 e2m1 grid ... 0.5, 1, 1.5 ...: x = 0.6 sits at t = 0.2 of [0.5, 1]: f' = |2t-1|^(1/5-1)/5."""
    q = TensorQuantizer(QuantSpec("fp4_e2m1fn"))
    x = torch.tensor([0.6, 0.75, 1.0, 7.0, -1.2])
    f = q.dge_factor(x, -1, 5.0, 3.0)
    t_neg = (1.2 - 1.0) / 0.5                     # -1.2 in [-1.5, -1]: position from the lower end -1.5
    expect = [abs(2 * 0.2 - 1) ** (-0.8) / 5, 3.0, 1.0, 1.0, abs(2 * (1 - t_neg) - 1) ** (-0.8) / 5]
    assert torch.allclose(f, torch.tensor(expect), rtol=1e-6)


def test_occ_adds_back_the_clamped_residual():
    q = TensorQuantizer(QuantSpec("fp4_e2m1fn", scaling="tensor", clamp_quantile=0.9))
    plain = TensorQuantizer(QuantSpec("fp4_e2m1fn", scaling="tensor"))
    torch.manual_seed(5)
    x = torch.randn(20, 10)
    x[3, 4] = 60.0                                  # one outlier dominates a per-tensor scale
    err_occ = (q(x) - x).pow(2).mean()
    err_plain = (plain(x) - x).pow(2).mean()
    assert err_occ < 0.5 * err_plain
    c = torch.kthvalue(x.abs().reshape(-1), 180).values
    xc = x.clamp(-c, c)
    assert torch.equal(q(x), plain(xc) + get_format("bf16").quantize(x - xc))


def test_recipe_yaml_overrides_are_validated():
    from lowbit.recipes import resolve_recipe
    r = resolve_recipe({"base": "fp8", "name": "fp8_slow", "optimizer": {"lr": 0.01}})
    assert r.optimizer.lr == 0.01 and r.weight == get_recipe("fp8").weight
    with pytest.raises(ValueError, match="unknown key 'lrr'"):
        resolve_recipe({"base": "fp8", "optimizer": {"lrr": 0.01}})
    with pytest.raises(ValueError, match="unknown format 'fp9'"):
        resolve_recipe({"base": "fp8", "weight": {"format": "fp9"}})
    with pytest.raises(ValueError, match="carries its own"):
        resolve_recipe({"base": "fp8", "weight": {"format": "mxfp4_e2m1", "scaling": "tensor"}})
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        get_recipe("nope")
    assert math.isclose(get_recipe("mxfp4").bits_per_weight, 4.25)


def test_block_padding_is_reported():
    """A reduction dim that a block size cannot tile is zero-padded by numerics and named in the counts."""
    m = nn.Sequential(nn.Linear(40, 10))
    quantize_model(m, "mxfp4")
    x = torch.randn(7, 40, requires_grad=True)
    with counting(m) as c:
        m(x).sum().backward()
    notes = c.summary()["notes"]
    assert any("0.fwd: reduction dim 40" in n and "zero-padded to 64" in n for n in notes)
    assert any("0.bwd_weight: reduction dim 7" in n for n in notes)


def test_accumulator_emulation_matches_sequential_bf16_sum():
    """An AccSpec(bf16, block_k) GEMM adds its products one by one into a bf16 accumulator, which is
    added into fp32 every block_k terms. Reference: ml_dtypes casts of exact float32 partial sums
    (inputs are bf16 values with 3 significant bits: every product and fp32 partial sum is exact)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    import numpy as np
    from lowbit.recipes import AccSpec
    rng = np.random.default_rng(0)
    vals = np.array([-13, -7, -3.5, -1.75, 1.75, 3.5, 7, 13], dtype=np.float32)
    x = rng.choice(vals, (3, 40)).astype(np.float32)
    w = rng.choice(vals, (2, 40)).astype(np.float32)
    bf = lambda v: np.float32(ml_dtypes.bfloat16(np.float32(v)))
    for block in (None, 8):
        lin = QLinear(40, 2, bias=False, recipe=Recipe("acc", accumulator=AccSpec("bf16", block_k=block)))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
        y = lin(torch.from_numpy(x)).detach().numpy()
        ref = np.zeros((3, 2), dtype=np.float32)
        for i in range(3):
            for j in range(2):
                acc, total = np.float32(0), np.float32(0)
                for k in range(40):
                    acc = bf(acc + x[i, k] * w[j, k])
                    if block and (k + 1) % block == 0:
                        total, acc = np.float32(total + acc), np.float32(0)
                ref[i, j] = np.float32(total + acc) if block else acc
        assert np.array_equal(y, ref), block
        assert not np.array_equal(ref, x @ w.T)   # bf16 accumulation does lose bits here
