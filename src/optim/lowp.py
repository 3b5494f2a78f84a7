"""Low-precision SGD / momentum / AdamW: states in a chosen format, every op optionally rounded, and a
weight write-back by nearest, stochastic rounding, Kahan compensation or ECO error feedback.

- Pure 16-bit training ("Revisiting BFloat16 Training", Zamirai et al.; REFERENCES section 2): weights,
  states and every optimizer op in bf16 (`arith_format`); the write-back w <- Q(w + u) by
  round-to-nearest loses updates below half an ulp; stochastic rounding keeps them in expectation;
  Kahan keeps the lost low part in a compensation buffer (numerics.KahanAccumulator, every op rounded).
- ECO ("ECO: Quantized Training without Full-Precision Master Weights", Nikdan et al. 2026; REFERENCES
  section 6): weights live only in `weight_format`; the write-back error e = (w + u) - Q(w + u) is put
  into the momentum, m <- m + (1 - 1/beta) e / lr, so the heavy-ball recursion re-applies exactly e
  over the following steps (sum_j lr beta^j (1 - beta) / (lr beta) = 1). Momentum SGD only.

Updates lost to rounding (reported by `update_stats`, see docs/training.md): with u the intended
update of an element (computed before the write-back) and a the change of its stored value (w, or
w - c with a Kahan buffer c), over all elements and steps
    lost = 1 - sum(sign(u) * a) / sum(|u|)
(0 when every update lands, 1 when none does; unbiased rounding gives ~0), and `unchanged` = the
fraction of nonzero u whose stored state (w and c) is bit-identical after the write-back.
"""
from __future__ import annotations

import torch

from lowbit.numerics import KahanAccumulator

from .base import FunctionalOptimizer, UpdateEvent
from .spec import OptimSpec

__all__ = ["LowpOptimizer"]


def _momentum(hp) -> float:
    """The heavy-ball coefficient the spec's optimizer uses (plain SGD and AdamW: none)."""
    return hp.momentum if hp.name == "momentum" else 0.0


def _quantizer(fmt, scaling="none", rbits=16):
    from lowbit.nn import make_quantizer
    from lowbit.recipes import QuantSpec
    return make_quantizer(QuantSpec(fmt, scaling=scaling, rbits=rbits)) if fmt else None


class LowpOptimizer(FunctionalOptimizer):
    """SGD (`name: sgd`), momentum SGD (`momentum`) and AdamW (`adamw`); the hyper-parameters are the
    recipe's `OptimSpec` itself (checked when it is made), `seed` drives the stochastic write-back."""
    hp_class = OptimSpec

    def __init__(self, params, hp=None, seed: int = 0, **overrides):
        super().__init__(params, hp, **overrides)
        hp = self.hp
        from .registry import OPTIMIZERS
        if OPTIMIZERS[hp.name].cls is not LowpOptimizer:
            raise ValueError(f"LowpOptimizer: name={hp.name!r} is not one of its optimizers; allowed: "
                             f"{', '.join(n for n, i in OPTIMIZERS.items() if i.cls is LowpOptimizer)}")
        self.seed = seed
        self._qw = _quantizer(hp.weight_format, hp.weight_scaling, hp.rbits)
        self._qs = _quantizer(hp.state_format if hp.state_format != "fp32" else None)
        self._qa = _quantizer(hp.arith_format)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if self._qw is not None:   # weights start on the storage grid
                        p.copy_(self._wq(p, "nearest_even", 0))

    def state_format_tag(self) -> str:
        h = self.hp
        return f"LowpOptimizer(w={h.weight_format},{h.weight_scaling};state={h.state_format};" \
               f"arith={h.arith_format};kahan={h.kahan};eco={h.eco};adam={h.name == 'adamw'})"

    def _wq(self, t, rounding, seed):
        flat = t.reshape(t.shape[0], -1) if t.dim() > 1 else t
        return self._qw.apply(flat, -1, seed, rounding).reshape(t.shape)

    def _r(self, t):
        return self._qa.apply(t) if self._qa is not None else t

    def _s(self, t, rounded: bool = False):
        # a state just rounded by r() to the same format is already on its grid: quantizing it again is
        # the identity in every rounding mode, so the call is skipped
        if self._qs is None or (rounded and self._qa is not None and self.hp.state_format == self.hp.arith_format):
            return t
        return self._qs.apply(t)

    @torch.no_grad()
    def step(self, closure=None):
        """Unscaled weight formats (and fp32 masters) update all parameters of a group as ONE flat tensor:
        elementwise math, so the same values, with a few quantize calls per step instead of per parameter.
        Per-tensor/channel scaled weights need their own scales: one parameter at a time."""
        if self.hp.weight_scaling != "none":
            return super().step(closure)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            ps = [p for p in group["params"] if p.grad is not None]
            if not ps:
                continue
            sts = [self.state[p] for p in ps]
            flat = {"step": sts[0].get("step", 0), "pid": -1 - gi}
            for key in ("m", "v", "c"):
                if key in sts[0]:
                    flat[key] = torch.cat([st[key].reshape(-1) for st in sts])
            w = torch.cat([p.detach().reshape(-1) for p in ps])
            g = torch.cat([p.grad.detach().reshape(-1).float() for p in ps])
            new = self._update(w, g, flat, group["hp"])
            sizes = [p.numel() for p in ps]
            for p, st, part in zip(ps, sts, new.split(sizes)):
                p.copy_(part.view_as(p))
                st["step"] = flat["step"]
            for key in ("m", "v", "c"):
                if key in flat:
                    for p, st, part in zip(ps, sts, flat[key].split(sizes)):
                        st[key] = part.view_as(p).clone()
            for p, st in zip(ps, sts):
                self._report(p, st)
        return loss

    def _step_param(self, p, grad, state, hp):
        p.copy_(self._update(p.detach(), grad.detach().float(), state, hp))
        self._report(p, state)

    def _update(self, w, grad, state, hp):
        """One update of the tensor w (a parameter or all of them flattened): returns the new stored
        weights; updates `state` (step, m, v, c) and the update statistics."""
        from lowbit.nn import derive_seed
        r = self._r
        adam, momentum = hp.name == "adamw", _momentum(hp)
        t = state.get("step", 0) + 1
        state["step"] = t
        g = r(grad)
        if hp.weight_decay and not adam:
            g = r(g + r(hp.weight_decay * w))
        if adam:
            b1, b2 = hp.betas
            m = state.get("m", torch.zeros_like(w))
            v = state.get("v", torch.zeros_like(w))
            m = self._s(r(r(b1 * m) + r((1 - b1) * g)), rounded=True)
            v = self._s(r(r(b2 * v) + r((1 - b2) * r(g * g))), rounded=True)
            state["m"], state["v"] = m, v
            mhat, vhat = r(m / (1 - b1 ** t)), r(v / (1 - b2 ** t))
            u = r(-hp.lr * r(mhat / r(r(vhat.sqrt()) + hp.eps)))
            if hp.weight_decay:
                u = r(u - r(hp.lr * hp.weight_decay * w))
        elif momentum:
            m = state.get("m", torch.zeros_like(w))
            m = self._s(r(r(momentum * m) + g), rounded=True)
            state["m"] = m
            u = r(-hp.lr * m)
        else:
            u = r(-hp.lr * g)
        seed = derive_seed(self.seed, 0x5EED, state["pid"], t)
        if self._qw is None:              # fp32 master weights
            new = w + u
            eff_old, eff_new, same = w, new, new == w
        elif hp.kahan:
            c_old = state.get("c", torch.zeros_like(w))
            # w and c are stored bf16 values; u is on the grid when the update math runs in the weight
            # format (pure bf16), and is rounded once more otherwise
            acc = KahanAccumulator(hp.weight_format, w.double(), rounding=hp.rounding, generator=seed,
                                   rbits=hp.rbits, comp=c_old.double(), on_grid=True)
            acc.add(u.double(), on_grid=hp.arith_format == hp.weight_format)
            new, c_new = acc.sum.to(w.dtype), acc.comp.to(w.dtype)
            state["c"] = c_new
            eff_old, eff_new = w - c_old, new - c_new
            same = (new == w) & (c_new == c_old)
        else:
            target = w.double() + u.double()   # exact for bf16/fp8 operands: one rounding in _wq
            new = self._wq(target, hp.rounding, seed).to(w.dtype)
            eff_old, eff_new, same = w, new, new == w
            if hp.eco:
                e = (target - new.double()).float()
                state["m"] = self._s(state["m"] + (1 - 1 / momentum) * e / hp.lr)
        nz = u != 0
        s = self.update_stats
        s["abs_u"] += float(u.abs().sum())
        s["applied"] += float((torch.sign(u) * (eff_new - eff_old)).sum())
        s["abs_err"] += float((eff_new.double() - eff_old.double() - u.double()).abs().sum())
        s["nonzero"] += int(nz.sum())
        s["unchanged"] += int((nz & same).sum())
        return new

    def _report(self, p, state):
        """Report this parameter's update (elementwise update work and traffic) to the observer."""
        def event():
            h = self.hp
            rule = "adamw" if h.name == "adamw" else ("momentum" if _momentum(h) else "sgd")
            return UpdateEvent(state["pid"], p.numel(), rule, h.weight_format or "fp32", h.state_format,
                               h.arith_format or "fp32", "" if h.weight_format else "fp32",
                               sr=h.rounding == "stochastic", kahan=h.kahan)
        self._observe(event)
