"""LNS-Madam: Madam whose weights live ONLY as LNS codes (Zhao et al., "LNS-Madam: Low-Precision Training
in Logarithmic Number System using Multiplicative Weight Update"; Madam: Bernstein et al., "Learning
compositional functions via multiplicative weight updates"; docs/references.md section 4).

A weight is `sign * 2^((mag - qbias*gamma) / gamma) * scale`: an `LNSFormat` code and a power-of-two
scale per tensor (or per output channel) fixed at construction: the smallest with max * scale >=
max(amax(w_0), p_scale * RMS(w_0)), so neither the initial weights nor Madam's bound saturate. Madam's base-2 step w <- w * 2^(-lr g* sign(w)) moves log2|w| by
-lr g* sign(w), i.e. the code by gamma * lr * g* * sign(w); that real number is rounded to an integer
(nearest, or stochastic with the counter-based stream of lowbit.numerics) and ADDED to the code's
magnitude, which saturates at 1 (never 0) and at the code of p_scale * RMS(w_0) (Madam's clamp, or
the format's max). With the default lr = 1/gamma the step is round(g*) codes. There is no fp32 master
copy: the optimizer state holds the codes, and after every step the torch parameter's data is
overwritten with decode(codes) * scale (derived, never read back). Zero codes (weights initialised
to exactly 0) stay 0, as sign(0) = 0 in Madam; non-zero weights below the format's min start at min.

`code_steps` (the real -> integer step rounding) is shared with the integer log-level Madam
(integer_madam.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lowbit.numerics import LNSFormat, get_format
from lowbit.numerics.rounding import Rounding, check_rbits
from lowbit.numerics.torch_ops import lns_decode, lns_encode, random_bits, round_magnitude

from .madam import MadamBase, record_update, check_common, madam_target, normalized_grad

__all__ = ["LNSMadamHP", "LNSMadam", "code_steps", "check_code_hp"]

ROUNDINGS = ("nearest", "stochastic")
GRANULARITIES = ("tensor", "channel")


def check_code_hp(owner: str, hp) -> None:
    check_common(owner, hp)
    if hp.rounding not in ROUNDINGS:
        raise ValueError(f"{owner}: rounding={hp.rounding!r}; allowed: {', '.join(ROUNDINGS)}")
    try:
        check_rbits(hp.rbits)
    except ValueError as exc:
        raise ValueError(f"{owner}: {exc}") from None
    try:
        get_format(hp.state_format)
    except ValueError as exc:
        raise ValueError(f"{owner}: state_format={hp.state_format!r}: {exc}") from None


def code_steps(gs: torch.Tensor, sign: torch.Tensor, steps_per_unit: float, rounding: str, rbits: int,
               seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer code steps, their real-valued target): round(-steps_per_unit * g* * sign), by
    numerics' `round_magnitude` (nearest-even, or stochastic with random_bits(seed, n, rbits))."""
    delta = -steps_per_unit * gs.double() * sign.double()
    mode = Rounding.STOCHASTIC if rounding == "stochastic" else Rounding.NEAREST_EVEN
    # on gs's device (lowbit.numerics.torch_ops: the bits of the numpy round_magnitude and random_bits)
    rand = (random_bits(seed, delta.numel(), rbits, 0, delta.device).reshape(delta.shape)
            if mode is Rounding.STOCHASTIC else None)
    k = round_magnitude(delta.abs(), torch.signbit(delta), mode, rbits, rand)
    return torch.where(delta < 0, -k, k).to(torch.int64), delta


def step_seed(seed: int, pid: int, t: int) -> int:
    from lowbit.nn import derive_seed  # lazily: lowbit.nn imports lowbit.optim's siblings
    return derive_seed(seed, 0x1A5, pid, t)


@dataclass(frozen=True)
class LNSMadamHP:
    format: str = "lns8"
    lr: float | None = None        # log2 change per unit normalized gradient; None = 1/gamma (1 code)
    p_scale: float = 3.0
    g_bound: float = 10.0
    beta: float = 0.999
    rounding: str = "nearest"      # of the code step: nearest | stochastic
    rbits: int = 16
    granularity: str = "tensor"    # scale per tensor | per output channel (dim 0)
    state_format: str = "fp32"     # storage of the second moment v
    nonfinite: str = "skip"        # skip | zero | raise (madam.py)
    seed: int = 0

    def __post_init__(self):
        check_code_hp("LNSMadam", self)
        if not isinstance(self.lns, LNSFormat):
            raise ValueError(f"LNSMadam: format={self.format!r} is not an LNS format (e.g. lns8, lns16)")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"LNSMadam: granularity={self.granularity!r}; allowed: {', '.join(GRANULARITIES)}")

    @property
    def lns(self):
        try:
            return get_format(self.format)
        except ValueError as exc:
            raise ValueError(f"LNSMadam: format={self.format!r}: {exc}") from None

    @property
    def code_lr(self) -> float:
        """Code steps per unit normalized gradient (gamma * lr)."""
        return 1.0 if self.lr is None else self.lns.gamma * self.lr


def _pow2_at_least(r: torch.Tensor) -> torch.Tensor:
    """The smallest power of two >= r (elementwise, float64; 1 where r <= 0), exponent from frexp."""
    m, e = torch.frexp(r.double())
    e = e - (m == 0.5).long()                     # r is itself a power of two
    return torch.where(r > 0, torch.ldexp(torch.ones_like(r, dtype=torch.float64), e), torch.ones_like(r).double())


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(1, -1)


class LNSMadam(MadamBase):
    """See the module docstring. State per parameter: codes (int64), scale (float64, per tensor or per
    row), max_mag (int64 clamp per row), v, step."""
    hp_class = LNSMadamHP
    sim_rule = "lns_madam"

    def __init__(self, params, hp=None, **overrides):
        super().__init__(params, hp, **overrides)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    self._init_state(p, self.state[p], group["hp"])

    def _init_state(self, p, state, hp):
        fmt = hp.lns
        w0 = _rows(p.detach().double())
        bound = hp.p_scale * math.sqrt(float((w0 ** 2).mean())) if w0.numel() else 0.0
        amax = w0.abs().amax() if hp.granularity == "tensor" or w0.shape[0] == 1 else w0.abs().amax(1, keepdim=True)
        scale = _pow2_at_least(torch.clamp(torch.as_tensor(amax), min=bound).reshape(-1, 1) / fmt.max)
        codes = lns_encode(fmt, w0 / scale)                            # / 2^e: exact
        lift = ((codes & fmt.max_mag) == 0) & (w0 != 0)               # tiny non-zero weights start at min
        codes = torch.where(lift, 1 | (torch.signbit(w0).long() << (fmt.bits - 1)), codes)
        # Madam's clamp as a code: the largest magnitude whose value <= bound (per row: scales differ).
        lim = lns_encode(fmt, bound / scale, rounding="toward_zero") & fmt.max_mag
        state.update(codes=codes.reshape(p.shape).to(p.device), scale=scale, bound=bound,
                     max_mag=torch.clamp(lim, min=1).reshape(-1, 1), step=0,
                     v=torch.zeros_like(p, dtype=torch.float32))
        p.copy_(self.weights(p))

    def weights(self, p) -> torch.Tensor:
        """decode(codes) * scale in p's dtype: the only way the parameter's values are made."""
        st, fmt = self.state[p], self.param_groups[0]["hp"].lns
        vals = lns_decode(fmt, _rows(st["codes"])) * st["scale"]
        return vals.reshape(p.shape).to(dtype=p.dtype, device=p.device)

    def state_format_tag(self) -> str:
        h, f = self.hp, self.hp.lns
        return f"LNSMadam[{f.name}:bits={f.bits},gamma={f.gamma},qbias={f.qbias};{h.granularity};v={h.state_format}]"

    def _step_param(self, p, grad, state, hp):
        g = self._grad(grad, state, hp)
        if g is None:
            return
        fmt = hp.lns
        t = state["step"] + 1
        gs, v = normalized_grad(g.float(), state["v"], t, hp.beta, hp.g_bound)
        if hp.state_format != "fp32":
            v = get_format(hp.state_format).quantize(v)
        codes = _rows(state["codes"])
        mag, neg = codes & fmt.max_mag, (codes >> (fmt.bits - 1)) & 1
        sign = torch.where(mag > 0, 1 - 2 * neg, torch.zeros_like(neg))
        k, _ = code_steps(_rows(gs), sign, hp.code_lr, hp.rounding, hp.rbits,
                          step_seed(hp.seed, state["pid"], t))
        new_mag = torch.where(mag > 0, torch.minimum(torch.clamp(mag + k, min=1), state["max_mag"]), mag)
        w_old = p.detach().clone()
        state.update(codes=(new_mag | (neg << (fmt.bits - 1))).reshape(p.shape).to(p.device), v=v, step=t)
        p.copy_(self.weights(p))
        # The rule's clamp in LNS is the largest code <= p_scale * RMS(w_0): the intended update uses it too.
        wmax = lns_decode(fmt, state["max_mag"]) * state["scale"]
        target = madam_target(_rows(w_old), _rows(gs), hp.code_lr / fmt.gamma * math.log(2), wmax)
        target = target.reshape(p.shape).to(p.device)
        record_update(self.update_stats, target - w_old.double(), p.double() - w_old.double(), p == w_old)
        self._report(p, state, weight_format=fmt.name, state_format=hp.state_format, sr=hp.rounding == "stochastic")

    def load_state_dict(self, state_dict):
        if "lowbit_format_tag" not in state_dict:
            raise ValueError(f"LNSMadam: the state_dict has no lowbit_format_tag; expected "
                             f"{self.state_format_tag()!r} (a state saved by LNSMadam)")
        super().load_state_dict(state_dict)
        fmt = self.hp.lns
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state[p]
                    # torch casts every state tensor of a float parameter to its dtype; codes are integers
                    for key in ("codes", "max_mag"):
                        c = st[key].double()
                        if not bool(((c == c.round()) & (c >= 0) & (c < 1 << fmt.bits)).all()):
                            raise ValueError(f"LNSMadam: state {key!r} holds values that are not {fmt.name} codes")
                        st[key] = c.long()
                    st["scale"] = st["scale"].double().to(p.device)
                    st["max_mag"] = st["max_mag"].to(p.device)
                    p.copy_(self.weights(p))
