"""Low-precision optimizer write-back: the bf16 cancellation case of "Revisiting BFloat16 Training" with
the expected results in closed form (bf16 ulp at 1.0 is 2^-7), and the ECO error-feedback identity."""
import numpy as np
import pytest
import torch

from lowbit.numerics import get_format
from lowbit.optim import LowpOptimizer


def _run(n_steps, **hp):
    p = torch.nn.Parameter(torch.ones(4000))
    opt = LowpOptimizer([p], name="sgd", lr=1.0, weight_format="bf16", arith_format="bf16", state_format="bf16", seed=3, **hp)
    u = float(get_format("bf16").quantize(torch.tensor([1e-3]))[0])
    for _ in range(n_steps):
        p.grad = torch.full_like(p, -u)         # update +u each step, far below half an ulp of 1.0
        opt.step()
    return p.detach(), opt, u


def test_nearest_loses_every_small_update():
    w, opt, _ = _run(20)
    assert torch.all(w == 1.0)
    assert opt.lost_fraction() == 1.0 and opt.unchanged_fraction() == 1.0


def test_stochastic_rounding_keeps_updates_in_expectation():
    w, opt, u = _run(60, rounding="stochastic")
    exact = 1.0 + 60 * u
    # mean of 4000 independent copies; each step's SR variance <= ulp^2/4 with ulp <= 2^-6
    assert abs(float(w.double().mean()) - exact) < 4 * (2 ** -6) * (60 ** 0.5) / 2 / 4000 ** 0.5 + 2 ** -8
    assert abs(opt.lost_fraction()) < 0.05


def test_kahan_keeps_the_lost_low_part():
    w, opt, u = _run(60, kahan=True)
    exact = 1.0 + 60 * u
    assert float((w.double() - exact).abs().max()) <= 2 ** -7   # within one ulp of the exact sum
    assert abs(opt.lost_fraction()) < 0.01


def test_eco_puts_the_write_back_error_into_momentum():
    """One step from m = 0: m1 = g; target = w - lr m1; e = target - Q(target); m <- m1 + (1 - 1/b) e / lr."""
    torch.manual_seed(0)
    w0 = get_format("fp8_e4m3fn").quantize(torch.randn(50))
    p = torch.nn.Parameter(w0.clone())
    opt = LowpOptimizer([p], lr=0.01, momentum=0.9, weight_format="fp8_e4m3fn", eco=True)
    g = torch.randn(50)
    p.grad = g.clone()
    opt.step()
    target = w0.double() - 0.01 * g.double()
    q = get_format("fp8_e4m3fn").quantize(target)
    assert torch.equal(p.detach(), q.float())
    e = (target - q).float()
    m = opt.state[p]["m"]
    assert torch.allclose(m, g + (1 - 1 / 0.9) * e / 0.01, rtol=1e-6, atol=1e-7)


def _compare_with_torch(ours_kw, torch_cls, torch_kw, steps=5):
    torch.manual_seed(1)
    w0 = torch.randn(30)
    grads = [torch.randn(30) for _ in range(steps)]
    a, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    ours, ref = LowpOptimizer([a], **ours_kw), torch_cls([b], **torch_kw)
    for g in grads:
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fp32_momentum_and_adamw_match_torch_optimizers():
    """With fp32 everywhere the low-precision shell is plain SGD-momentum / AdamW (torch as reference)."""
    _compare_with_torch(dict(lr=0.1, momentum=0.9, weight_decay=0.01), torch.optim.SGD,
                        dict(lr=0.1, momentum=0.9, weight_decay=0.01))
    _compare_with_torch(dict(name="adamw", lr=0.01, weight_decay=0.1), torch.optim.AdamW,
                        dict(lr=0.01, weight_decay=0.1))


def test_states_live_in_their_format():
    p = torch.nn.Parameter(torch.randn(64))
    opt = LowpOptimizer([p], name="adamw", lr=0.01, state_format="bf16", weight_format="bf16", rounding="stochastic")
    for _ in range(3):
        p.grad = torch.randn(64)
        opt.step()
    st = opt.state[p]
    ml_dtypes = pytest.importorskip("ml_dtypes")   # the grid from an independent bf16 implementation
    for t in (st["m"], st["v"], p.detach()):
        a = t.numpy()
        assert np.array_equal(a.astype(ml_dtypes.bfloat16).astype(np.float32), a)
