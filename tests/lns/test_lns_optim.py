"""Madam, LNS-Madam and integer Madam against float64 formulas written here from the papers (Bernstein
et al.; Zhao et al.), LNS-Madam weights on the LNS grid after many steps with the parameter data always
exactly decode(codes) * scale, non-finite gradients never corrupting the stored codes, bit-exact
state_dict round trips, and clear errors for bad hyperparameters and foreign state_dicts."""
import io
import math

import numpy as np
import pytest
import torch

from lowbit.numerics import get_format
from lowbit.optim import IntegerMadam, LNSMadam, Madam

LNS8 = get_format("lns8")


def _grads(shape, n, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) * 10 ** float(torch.rand(1, generator=g) * 2 - 1)
            for _ in range(n)]


def _ref_gstar(gs, beta=0.999, bound=10.0):
    """Madam's normalized gradient, float64, one list entry per step."""
    v, out = torch.zeros_like(gs[0]), []
    for t, g in enumerate(gs, 1):
        v = beta * v + (1 - beta) * g * g
        gn = g / torch.sqrt(v / (1 - beta ** t))
        gn[torch.isnan(gn)] = 0
        out.append(gn.clamp(-bound, bound))
    return out


def _run(opt, p, grads):
    for g in grads:
        p.grad = g.to(p.dtype).clone()
        opt.step()


def test_madam_matches_float64_formula():
    w0 = torch.randn(7, 5, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    grads = _grads((7, 5), 12, 1)
    grads[3][0, 0] = 0.0
    _run(Madam([p], lr=0.05), p, grads)
    w, wmax = w0.clone(), 3.0 * math.sqrt(float((w0 ** 2).mean()))
    for gn in _ref_gstar(grads):
        w = (w * torch.exp(-0.05 * gn * torch.sign(w))).clamp(-wmax, wmax)
    assert torch.allclose(p.detach(), w, rtol=1e-12, atol=0)
    p32 = torch.nn.Parameter(w0.float())
    _run(Madam([p32]), p32, grads)
    w = w0.clone()
    for gn in _ref_gstar(grads):
        w = (w * torch.exp(-0.01 * gn * torch.sign(w))).clamp(-wmax, wmax)
    assert torch.allclose(p32.detach().double(), w, rtol=1e-5)


def _lns_reference(codes, grads, code_lr, max_mag):
    """Code magnitudes after LNS-Madam with nearest rounding, float64, from the paper's rule:
    mag <- clip(mag + round(-gamma lr g* sign(w)), 1, max_mag). Returns (mags, near-tie mask)."""
    mag, sign = (codes & 127).long(), 1 - 2 * ((codes >> 7) & 1).long()
    tie = torch.zeros_like(mag, dtype=torch.bool)
    for gn in _ref_gstar(grads):
        d = -code_lr * gn * sign
        tie |= (d - torch.floor(d) - 0.5).abs() < 1e-4
        mag = torch.where(mag > 0, (mag + torch.round(d).long()).clamp(1, max_mag), mag)
    return mag, tie


@pytest.mark.parametrize("lr", [None, 0.09])
def test_lns_madam_codes_match_float64_rule(lr):
    w0 = torch.randn(9, 6)
    w0[0, 0] = 0.0
    p = torch.nn.Parameter(w0.clone())
    opt = LNSMadam([p], lr=lr)
    st = opt.state[p]
    c0 = st["codes"].clone()
    assert int(c0[0, 0]) == 0
    grads = _grads((9, 6), 15, 2)
    _run(opt, p, grads)
    ref, tie = _lns_reference(c0, grads, 1.0 if lr is None else 8 * lr, int(st["max_mag"][0, 0]))
    got = st["codes"] & 127
    assert tie.float().mean() < 0.05
    assert torch.equal(got[~tie], ref[~tie]) and int(got[0, 0]) == 0
    assert torch.equal(st["codes"] >> 7, c0 >> 7)                     # signs never flip
    assert bool((p == 0).sum() == 1)


def test_lns_madam_stays_on_grid_and_parameter_is_derived():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 8)
    opt = LNSMadam(lin.parameters(), rounding="stochastic", lr=2 ** -5, seed=3)
    x, y = torch.randn(32, 16), torch.randn(32, 8)
    grid = torch.from_numpy(LNS8.values()[:128])
    for _ in range(150):
        opt.zero_grad()
        ((lin(x) - y) ** 2).mean().backward()
        opt.step()
        for p in lin.parameters():
            st = opt.state[p]
            want = (torch.from_numpy(np.asarray(LNS8.decode(st["codes"].reshape(p.shape[0], -1).numpy())))
                    * st["scale"]).reshape(p.shape).float()
            assert torch.equal(p.detach(), want)
    for p in lin.parameters():
        st = opt.state[p]
        mag = (st["codes"] & 127).reshape(st["max_mag"].shape[0], -1)
        assert bool(((mag >= 1) & (mag <= st["max_mag"])).all())
        ratio = (p.detach().double().abs().reshape(mag.shape) / st["scale"]).reshape(-1)
        assert bool(torch.isin(ratio.float(), grid.float()).all())     # every weight is an lns8 value
    assert opt.skipped == 0 and opt.lost_fraction() is not None


def test_stochastic_keeps_small_updates_nearest_loses_them():
    torch.manual_seed(1)
    w0 = torch.randn(400).clamp(-2.5, 2.5)          # inside Madam's 3 RMS clamp
    grads = [torch.full((400,), 1.0, dtype=torch.float64)] * 40     # g* = 1 every step
    out = {}
    for rounding in ("nearest", "stochastic"):
        p = torch.nn.Parameter(w0.clone())
        opt = LNSMadam([p], lr=2 ** -6, rounding=rounding, seed=5)   # 0.125 codes per step: below half
        c0 = opt.state[p]["codes"].clone()
        _run(opt, p, grads)
        out[rounding] = ((opt.state[p]["codes"] & 127) - (c0 & 127)).double(), opt
    assert torch.all(out["nearest"][0] == 0) and out["nearest"][1].lost_fraction() == pytest.approx(1.0)
    sign = torch.sign(w0.double())
    moved = -(out["stochastic"][0] * sign)          # expected 40 * 0.125 = 5 codes toward zero-gradient
    assert abs(float(moved.mean()) - 5.0) < 0.25
    assert abs(out["stochastic"][1].lost_fraction()) < 0.1
    p2 = torch.nn.Parameter(w0.clone())
    o2 = LNSMadam([p2], lr=2 ** -6, rounding="stochastic", seed=5)
    _run(o2, p2, grads)
    assert torch.equal(o2.state[p2]["codes"], out["stochastic"][1].state[next(iter(out["stochastic"][1].state))]["codes"])


@pytest.mark.parametrize("cls", [Madam, LNSMadam, IntegerMadam])
def test_nonfinite_gradients(cls):
    p = torch.nn.Parameter(torch.randn(5, 4))
    opt = cls([p])
    _run(opt, p, _grads((5, 4), 2, 3))
    key = "v"
    before = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in opt.state[p].items()}
    w = p.detach().clone()
    bad = _grads((5, 4), 1, 4)[0]
    bad[1, 2], bad[0, 0] = float("nan"), float("inf")
    p.grad = bad.float()
    opt.step()                                        # default: skip
    for k, v in before.items():
        assert (torch.equal(opt.state[p][k], v) if torch.is_tensor(v) else opt.state[p][k] == v), k
    assert torch.equal(p.detach(), w) and opt.skipped == 1
    opt_z = cls([p], nonfinite="zero")
    p.grad = bad.float()
    opt_z.step()
    assert torch.isfinite(p).all() and torch.isfinite(opt_z.state[p][key]).all()
    assert bool(opt_z.state[p][key][1, 2] == 0)
    opt_r = cls([p], nonfinite="raise")
    p.grad = bad.float()
    with pytest.raises(ValueError, match="parameter #0 has 2 non-finite gradient entries"):
        opt_r.step()


@pytest.mark.parametrize("cls,kw", [(LNSMadam, {"rounding": "stochastic"}), (LNSMadam, {"format": "lns16"}),
                                    (IntegerMadam, {}), (Madam, {})])
def test_state_dict_round_trip_is_bit_exact(cls, kw):
    torch.manual_seed(2)
    w0 = torch.randn(6, 3)
    grads = _grads((6, 3), 8, 5)
    p = torch.nn.Parameter(w0.clone())
    opt = cls([p], **kw)
    _run(opt, p, grads[:4])
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    q = torch.nn.Parameter(torch.randn(6, 3))          # different data: the codes must win
    opt2 = cls([q], **kw)
    if cls is Madam:                                   # fp32 weights live in the model's own state_dict
        q.data.copy_(p.data)
    opt2.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=False))
    assert torch.equal(q.detach(), p.detach())
    _run(opt, p, grads[4:])
    _run(opt2, q, grads[4:])
    assert torch.equal(q.detach(), p.detach())
    for k, v in opt.state[p].items():
        assert (torch.equal(opt2.state[q][k], v) and opt2.state[q][k].dtype == v.dtype) if torch.is_tensor(v) \
            else opt2.state[q][k] == v, k


def test_loading_another_format_raises():
    p = torch.nn.Parameter(torch.randn(4))
    lns8, lns16, madam = LNSMadam([p]), LNSMadam([p], format="lns16"), Madam([p])
    p.grad = torch.ones(4)
    madam.step()
    with pytest.raises(ValueError, match=r"saved with formats 'LNSMadam\[lns16"):
        lns8.load_state_dict(lns16.state_dict())
    with pytest.raises(ValueError, match="saved with formats 'Madam'"):
        lns8.load_state_dict(madam.state_dict())
    sd = lns8.state_dict()
    del sd["lowbit_format_tag"]
    with pytest.raises(ValueError, match="no lowbit_format_tag"):
        lns8.load_state_dict(sd)
    with pytest.raises(ValueError, match="IntegerMadam"):
        IntegerMadam([p], levels=8).load_state_dict(IntegerMadam([p], levels=16).state_dict())


def test_integer_madam_levels_match_float64_rule():
    w0 = torch.randn(8, 8, dtype=torch.float64)
    p = torch.nn.Parameter(w0.clone())
    opt = IntegerMadam([p], levels=16, dynamic_range=100.0, lr=0.75, rounding="nearest")
    st = opt.state[p]
    wmax, b = 3 * math.sqrt(float((w0 ** 2).mean())), 100.0 ** (1 / 15)
    lv = torch.round(torch.log(w0.abs() / wmax) / math.log(b)).clamp(-15, 0) + 15
    assert torch.equal(st["level"], lv.long())
    grads = _grads((8, 8), 10, 6)
    _run(opt, p, grads)
    sign, tie = torch.sign(w0), torch.zeros(8, 8, dtype=torch.bool)
    for gn in _ref_gstar(grads):
        d = -0.75 * gn * sign
        tie |= (d - torch.floor(d) - 0.5).abs() < 1e-4
        lv = (lv + torch.round(d)).clamp(0, 15)
    assert torch.equal(st["level"][~tie], lv.long()[~tie])
    levels = wmax * b ** (torch.arange(16, dtype=torch.float64) - 15)
    assert torch.allclose(p.detach().abs(), levels[st["level"]], rtol=1e-12)
    assert opt.pulses > 0


@pytest.mark.parametrize("call,match", [
    (lambda p: LNSMadam([p], format="bf16"), "format='bf16' is not an LNS format"),
    (lambda p: LNSMadam([p], format="lns9"), "unknown format 'lns9'"),
    (lambda p: LNSMadam([p], lr=0.0), "lr=0.0 must be a finite number > 0"),
    (lambda p: LNSMadam([p], rounding="up"), "rounding='up'"),
    (lambda p: LNSMadam([p], granularity="block"), "granularity='block'"),
    (lambda p: LNSMadam([p], rbits=0), "rbits"),
    (lambda p: LNSMadam([p], state_format="fp9"), "state_format='fp9'"),
    (lambda p: Madam([p], beta=1.0), "beta=1.0"),
    (lambda p: Madam([p], nonfinite="ignore"), "nonfinite='ignore'"),
    (lambda p: Madam([p], p_scale=-1), "p_scale=-1"),
    (lambda p: IntegerMadam([p], levels=1), "levels=1"),
    (lambda p: IntegerMadam([p], dynamic_range=1.0), "dynamic_range=1.0"),
])
def test_bad_hyperparameters(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.nn.Parameter(torch.randn(3)))
